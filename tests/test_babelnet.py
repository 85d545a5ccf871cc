"""The BabelNet client against a loopback server answering in BabelNet's documented JSON shapes."""
from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from pipeline.babelnet import (BabelNetClient, BabelNetError, BudgetExhausted, KeyOrQuotaError, harvest_synsets,
                               resolve_key)

KEY = "k3y-s3cr3t-0123"
REFUSAL = {"message": "Your key is not valid or the daily requests limit has been reached. "
                      "Please visit http://babelnet.org."}

# lemma -> synset ids; synset id -> senses (language, fullLemma)
SYNSET_IDS = {"car": ["bn:00007309n", "bn:00007310n"], "house": ["bn:00044994n"], "auto": ["bn:00007309n"]}
SYNSETS = {
    "bn:00007309n": [("EN", "car"), ("EN", "auto"), ("EN", "motor_car"), ("ES", "coche"), ("ES", "automóvil")],
    "bn:00007310n": [("EN", "car"), ("EN", "railcar"), ("ES", "vagón")],
    "bn:00044994n": [("EN", "house"), ("ES", "casa")],
}


def sense(lang, lemma, sid):
    return {"type": "BabelSense", "properties": {
        "fullLemma": lemma, "simpleLemma": lemma, "source": "WIKI", "senseKey": "", "language": lang,
        "pos": "NOUN", "synsetID": {"id": sid, "pos": "NOUN", "source": "BABELNET"},
        "lemma": {"lemma": lemma, "type": "HIGH_QUALITY"}, "frequency": 1, "idSense": 1}}


class FakeBabelNet:
    """Answers /v9/getVersion, getSynsetIds, getSynset and getSenses; scripted failures on demand."""

    def __init__(self):
        self.log: list[tuple[str, dict, dict]] = []  # (endpoint, params, headers)
        # per upcoming request: "503", "429", "malformed", "refuse", "slow", "short" (the body stops before its
        # Content-Length, the connection closes), "cut" (a whole answer whose JSON breaks off halfway),
        # "redirect:<Location>" (a 302 to that Location), "status:<code>:<reason phrase>" (that status line, a
        # plain-text body), "body:<text>" (a 200 with that body as JSON); "{key}" in an action stands for the key
        # the request carried (a server that echoes its query back)
        self.script: list[str] = []
        self.quota_after: int | None = None  # refuse every request after this many
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                params = parse_qs(url.query)
                endpoint = url.path.rsplit("/", 1)[-1]
                outer.log.append((endpoint, params, dict(self.headers)))
                action = outer.script.pop(0) if outer.script else "ok"
                action = action.replace("{key}", (params.get("key") or [""])[0])
                if outer.quota_after is not None and len(outer.log) > outer.quota_after:
                    action = "refuse"
                if action == "503":
                    return self._send(503, b"busy", "text/plain")
                if action == "429":
                    return self._send(429, b'{"message": "too many requests"}', headers={"Retry-After": "0"})
                if action.startswith("redirect:"):  # "redirect:<Location>"
                    return self._send(302, b"", "text/plain", headers={"Location": action.split(":", 1)[1]})
                if action.startswith("status:"):  # "status:<code>:<reason>"
                    _, code, reason = action.split(":", 2)
                    return self._send(int(code), b"error", "text/plain", reason=reason)
                if action.startswith("body:"):
                    return self._send(200, action.split(":", 1)[1].encode("utf-8"))
                if action == "malformed":
                    return self._send(200, b'{"senses": [{"type": "BabelSense", "prop')
                if action == "slow":
                    time.sleep(1.0)
                self.action = action
                if params.get("key") != [KEY] or action == "refuse":
                    return self._json(REFUSAL)
                if endpoint == "getVersion":
                    return self._json({"version": "V9_0"})
                if endpoint == "getSynsetIds":
                    ids = SYNSET_IDS.get(params["lemma"][0], [])
                    return self._json([{"id": i, "pos": "NOUN", "source": "BABELNET"} for i in ids])
                if endpoint == "getSynset":
                    sid = params["id"][0]
                    langs = set(params.get("targetLang", ["EN"]))
                    return self._json({"senses": [sense(lang, lemma, sid) for lang, lemma in SYNSETS[sid]
                                                  if lang in langs],
                                       "glosses": [], "examples": [], "images": [], "synsetType": "CONCEPT",
                                       "wnOffsets": [], "domains": {}, "tags": []})
                if endpoint == "getSenses":
                    lemma = params["lemma"][0]
                    return self._json([sense(lang, lem, sid) for sid in SYNSET_IDS.get(lemma, [])
                                       for lang, lem in SYNSETS[sid] if lem == lemma])
                return self._send(404, b"no such endpoint", "text/plain")

            def _json(self, value):
                body = json.dumps(value).encode("utf-8")
                self._send(200, body[: len(body) // 2] if getattr(self, "action", None) == "cut" else body)

            def _send(self, code, body, ctype="application/json", headers=None, reason=None):
                gz = "gzip" in self.headers.get("Accept-Encoding", "")
                if gz:
                    body = gzip.compress(body)
                self.send_response(code, reason)
                self.send_header("Content-Type", ctype)
                if gz:
                    self.send_header("Content-Encoding", "gzip")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                short = getattr(self, "action", None) == "short"
                self.send_header("Content-Length", str(len(body) + (100 if short else 0)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v9"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def requests_for(self, endpoint):
        return [p for e, p, _ in self.log if e == endpoint]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeBabelNet()
    yield s
    s.close()


def client_for(server, tmp_path, **kwargs):
    sleeps = []
    kwargs.setdefault("daily_budget", 100)
    c = BabelNetClient(kwargs.pop("key", KEY), tmp_path / "cache", base_url=server.base_url, sleep=sleeps.append,
                       timeout=kwargs.pop("timeout", 5.0), **kwargs)
    return c, sleeps


def test_harvest_reads_documented_shapes_and_never_asks_twice(server, tmp_path):
    c, _ = client_for(server, tmp_path)
    assert c.version() == "V9_0"
    res = harvest_synsets(c, ["car", "house", "auto"], "EN", ["EN", "ES"])
    assert res.complete and res.lemmas_done == 3
    assert ("bn:00007309n", "es", "automóvil") in res.records and ("bn:00007310n", "en", "railcar") in res.records
    assert ("bn:00044994n", "es", "casa") in res.records
    assert {r[2] for r in res.records} >= {"motor car"}  # BabelNet's "_" is a space in a lemma
    # auto's only synset was met under car: fetched once
    assert len(server.requests_for("getSynset")) == 3
    first = server.requests_for("getSynset")[0]
    assert first["targetLang"] == ["EN", "ES"] and first["key"] == [KEY]
    # gzip was asked for (and decoded)
    assert all("gzip" in h.get("Accept-Encoding", "") for _, _, h in server.log)
    n = len(server.log)
    again = BabelNetClient(KEY, tmp_path / "cache", base_url=server.base_url, sleep=lambda s: None)
    res2 = harvest_synsets(again, ["car", "house", "auto"], "EN", ["EN", "ES"])
    assert len(server.log) == n and res2.requests_sent == 0 and res2.cache_hits > 0
    assert sorted(res2.records) == sorted(res.records)
    senses = c.senses("house", "EN")
    assert senses[0]["properties"]["synsetID"]["id"] == "bn:00044994n"


def test_retries_with_backoff_on_5xx_and_429(server, tmp_path):
    c, sleeps = client_for(server, tmp_path, retries=4, backoff=0.5)
    server.script = ["503", "503", "429"]
    assert c.synset_ids("car", "EN") == SYNSET_IDS["car"]
    assert len(server.log) == 4 and sleeps == [0.5, 1.0, 2.0]
    server.script = ["503"] * 10
    with pytest.raises(BabelNetError, match="HTTP 503.*after 4 retries") as err:
        c.synset_ids("house", "EN")
    assert KEY not in str(err.value)
    server.script = ["429"] * 10
    with pytest.raises(KeyOrQuotaError, match="429"):
        c.synset_ids("house", "EN")


def test_invalid_key_is_a_clear_error_and_never_leaks(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    bad = "wrong-key-987654"
    c, _ = client_for(server, tmp_path, key=bad)
    server.script = ["503"]
    with pytest.raises(KeyOrQuotaError, match=r"key is invalid or its daily limit") as err:
        c.synset_ids("car", "EN")
    assert bad not in str(err.value) and "BABELNET_KEY" in str(err.value)
    assert bad not in repr(c) and bad not in caplog.text
    assert not list((tmp_path / "cache" / "responses").glob("*/*.json.gz"))  # a refusal is never cached
    # nothing the client writes holds the key
    c2, _ = client_for(server, tmp_path)
    harvest_synsets(c2, ["car"], "EN", ["EN"])
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            raw = f.read_bytes()
            text = gzip.decompress(raw) if f.name.endswith(".gz") else raw
            assert KEY.encode() not in text, f


def test_a_redirect_the_guard_refuses_is_a_clear_error_without_the_key(server, tmp_path, caplog):
    """The key travels in the query: a redirect off http(s), or one that never ends, stops the client with an
    error that names the endpoint and not the key; a redirect on the same server is followed."""
    caplog.set_level(logging.DEBUG)
    c, _ = client_for(server, tmp_path)
    server.script = ["redirect:ftp://files.example.org/synsets"]
    with pytest.raises(BabelNetError, match=r"getSynsetIds.*redirects to http\(s\) URLs only.*ftp URL") as err:
        c.synset_ids("car", "EN")
    server.script = ["redirect:/v9/getSynsetIds?loop=1"] * 20
    with pytest.raises(BabelNetError, match=r"more than 10 redirects") as loop:
        c.synset_ids("car", "EN")
    assert len(server.log) == 1 + 11  # the first request, then the 10 redirects followed and refused after
    for text in (str(err.value), str(loop.value), caplog.text):
        assert KEY not in text
    server.script = [f"redirect:{server.base_url}/getSynsetIds?lemma=car&searchLang=EN&key={KEY}"]
    assert c.synset_ids("car", "EN")  # a redirect to the same server is followed


def test_budget_stops_cleanly_and_next_run_continues(server, tmp_path):
    day = ["2026-11-26"]

    def run():
        c, _ = client_for(server, tmp_path, daily_budget=2, today=lambda: day[0])
        return c, harvest_synsets(c, ["car", "house", "auto"], "EN", ["EN", "ES"])

    c, res = run()  # car's ids and first synset, then the budget is spent
    assert not res.complete and "budget" in res.stopped_because and res.lemmas_done == 0
    assert len(server.log) == 2 and c.budget.remaining() == 0
    with pytest.raises(BudgetExhausted, match=r"daily BabelNet request budget \(2, counted in .*\) is spent"):
        c.synset_ids("house", "EN")
    _, res = run()  # the same day, a new process: no request goes out
    assert not res.complete and len(server.log) == 2
    day[0] = "2026-11-27"
    _, res = run()
    assert not res.complete and res.lemmas_done == 1 and res.cache_hits == 2 and len(server.log) == 4
    day[0] = "2026-11-28"
    _, res = run()
    assert res.complete and res.cache_hits == 4 and len(res.records) == 10
    # every distinct request went out exactly once over the four runs
    seen = [(e, tuple(sorted((k, tuple(v)) for k, v in p.items()))) for e, p, _ in server.log]
    assert len(seen) == len(set(seen)) == 6


def test_quota_refusal_mid_harvest_then_resume(server, tmp_path):
    server.quota_after = 2
    c, _ = client_for(server, tmp_path)
    res = harvest_synsets(c, ["car", "house"], "EN", ["EN", "ES"])
    assert not res.complete and "daily limit" in res.stopped_because and KEY not in res.stopped_because
    server.quota_after = None
    before = len(server.log)
    res2 = harvest_synsets(BabelNetClient(KEY, tmp_path / "cache", base_url=server.base_url), ["car", "house"],
                           "EN", ["EN", "ES"])
    assert res2.complete and res2.cache_hits == 2 and len(server.log) - before == res2.requests_sent == 3


def test_malformed_json_is_retried_reported_and_not_cached(server, tmp_path):
    c, sleeps = client_for(server, tmp_path, retries=2)
    server.script = ["malformed"] * 3
    with pytest.raises(BabelNetError, match="malformed or cut-off JSON.*nothing was cached.*after 2 retries"):
        c.synset("bn:00044994n", ["EN"])
    assert len(server.log) == 3 and not list((tmp_path / "cache" / "responses").glob("*/*.json.gz"))
    assert c.synset("bn:00044994n", ["EN"])["senses"][0]["properties"]["fullLemma"] == "house"
    assert len(server.log) == 4


def test_cut_off_answers_are_retried_like_5xx(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    c, sleeps = client_for(server, tmp_path, retries=3, backoff=0.5)
    # a body shorter than its Content-Length, then JSON that breaks off: both retried, then the whole answer
    server.script = ["short", "cut"]
    assert c.synset_ids("car", "EN") == SYNSET_IDS["car"]
    assert len(server.log) == 3 and sleeps == [0.5, 1.0] and c.budget.used() == 3
    assert len(list((tmp_path / "cache" / "responses").glob("*/*.json.gz"))) == 1  # only the whole answer
    assert c.synset_ids("car", "EN") == SYNSET_IDS["car"] and len(server.log) == 3  # and it is reused
    server.script = ["short"] * 10
    with pytest.raises(BabelNetError, match=r"getSynsetIds\?lemma=house.*cut-off.*after 3 retries") as err:
        c.synset_ids("house", "EN")
    assert len(server.log) == 3 + 4 and KEY not in str(err.value) and KEY not in caplog.text
    assert len(list((tmp_path / "cache" / "responses").glob("*/*.json.gz"))) == 1


def _spend(path, n, limit):
    from pipeline.babelnet import RequestBudget

    budget = RequestBudget(path, limit, today=lambda: "2026-11-26")
    for _ in range(n):
        try:
            budget.spend()
        except BudgetExhausted:
            pass


def test_concurrent_processes_share_one_daily_count(tmp_path):
    import multiprocessing

    from pipeline.babelnet import RequestBudget

    path = tmp_path / "babelnet" / "budget.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_spend, args=(path, 60, 1000)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    assert RequestBudget(path, 1000, today=lambda: "2026-11-26").used() == 240  # no count lost
    procs = [ctx.Process(target=_spend, args=(path, 50, 250)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert RequestBudget(path, 250, today=lambda: "2026-11-26").used() == 250  # and none overspent


def test_a_shared_cache_keeps_api_versions_apart(server, tmp_path):
    c, _ = client_for(server, tmp_path)
    harvest_synsets(c, ["car"], "EN", ["EN", "ES"])
    assert len(server.log) == 3
    # another harvest on the same folder (another stage) asks only for what is not cached...
    other, _ = client_for(server, tmp_path)
    res = harvest_synsets(other, ["car", "house"], "EN", ["EN", "ES"])
    assert res.complete and res.requests_sent == 2 and len(server.log) == 5 and other.budget.used() == 5
    # ...but answers of another API version are not taken for this one's
    v10 = BabelNetClient(KEY, tmp_path / "cache", base_url=server.base_url.replace("/v9", "/v10"),
                         sleep=lambda s: None)
    assert v10.synset_ids("car", "EN") == SYNSET_IDS["car"] and len(server.log) == 6
    assert server.log[-1][0] == "getSynsetIds"
    names = [f.name for f in (tmp_path / "cache").rglob("*") if f.is_file()]
    assert not any(KEY in n for n in names)


def test_network_failure_mid_harvest_keeps_the_cache(server, tmp_path):
    c, sleeps = client_for(server, tmp_path, retries=1, timeout=0.3)
    assert c.synset_ids("car", "EN")
    server.script = ["slow", "slow"]  # read timeouts
    with pytest.raises(BabelNetError, match="network failure.*after 1 retries.*next run continues"):
        c.synset_ids("house", "EN")
    time.sleep(1.2)  # let the slow handlers finish
    port = server.httpd.server_address[1]
    server.close()
    with pytest.raises(BabelNetError, match="network failure"):
        c.synset_ids("house", "EN")
    # a new server (another address): the cached answer is reused, only the missing one is asked
    other = FakeBabelNet()
    try:
        assert other.httpd.server_address[1] != port
        c2 = BabelNetClient(KEY, tmp_path / "cache", base_url=other.base_url, sleep=lambda s: None)
        res = harvest_synsets(c2, ["car", "house"], "EN", ["EN"])
        assert res.complete and [e for e, _, _ in other.log].count("getSynsetIds") == 1
    finally:
        other.close()


def test_resolve_key(tmp_path, monkeypatch):
    monkeypatch.delenv("BABELNET_KEY", raising=False)
    monkeypatch.setenv("BABELNET_KEY_FILE", str(tmp_path / "none"))
    with pytest.raises(BabelNetError, match="BABELNET_KEY"):
        resolve_key()
    (tmp_path / "key").write_text("# my key\nkey = 'abc123'\n")
    monkeypatch.setenv("BABELNET_KEY_FILE", str(tmp_path / "key"))
    assert resolve_key() == "abc123"
    monkeypatch.setenv("BABELNET_KEY", "from-env")
    assert resolve_key() == "from-env"


def assert_key_nowhere(key, cache, records, *texts):
    """``key`` is in none of ``texts``, no log record, and no file (nor file name) under ``cache``."""
    for text in texts:
        assert key not in text
    for record in records:
        assert key not in record.getMessage(), record.getMessage()
    for f in cache.rglob("*"):
        assert key not in f.name
        if f.is_file():
            raw = f.read_bytes()
            assert key.encode() not in (gzip.decompress(raw) if f.name.endswith(".gz") else raw), f


def test_reason_phrases_are_scrubbed_in_retries_errors_and_the_stop_line(server, tmp_path, caplog):
    """A server may echo the query, key included, in its status line: 429 (a stop), 5xx and other 4xx."""
    caplog.set_level(logging.DEBUG)
    c, sleeps = client_for(server, tmp_path, retries=1, backoff=0.01)
    server.script = ["status:429:Too many for {key}"] * 2
    res = harvest_synsets(c, ["car"], "EN", ["EN"])
    assert not res.complete and "HTTP 429 Too many for <key> after 1 retries" in res.stopped_because
    server.script = ["status:503:Busy key={key}"] * 2
    with pytest.raises(BabelNetError, match=r"HTTP 503 Busy key=<key> after 1 retries") as busy:
        c.synset_ids("car", "EN")
    server.script = ["status:404:No such thing for {key}"]
    with pytest.raises(BabelNetError, match=r"getSynsetIds\?lemma=car.*HTTP 404 No such thing for <key>$") as gone:
        c.synset_ids("car", "EN")
    assert len(server.log) == 2 + 2 + 1 and sleeps == [0.01, 0.01]  # 429 and 503 retried, 404 not
    warnings = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(warnings) == 2 and all("<key>" in w for w in warnings)
    assert any("harvest stopped" in r.getMessage() and "<key>" in r.getMessage() for r in caplog.records)
    assert_key_nowhere(KEY, tmp_path / "cache", caplog.records, res.stopped_because, str(busy.value),
                       str(gone.value))


WRONG_SHAPES = {  # endpoint method and arguments -> a well-formed answer of another shape, echoing the key
    ("version", ()): '{"unexpected": "{key}"}',
    ("synset_ids", ("car", "EN")): '[{"id": 5, "echo": "{key}"}]',
    ("synset", ("bn:00044994n", ("EN",))): '{"senses": "{key}"}',
    ("senses", ("house", "EN")): '[{"type": "BabelSense", "echo": "{key}"}]',
}


@pytest.mark.parametrize("call", list(WRONG_SHAPES), ids=[m for m, _ in WRONG_SHAPES])
def test_a_wrong_shape_answer_is_retried_reported_and_never_cached(server, tmp_path, caplog, call):
    caplog.set_level(logging.DEBUG)
    method, args = call
    c, sleeps = client_for(server, tmp_path, retries=2, backoff=0.01)
    server.script = ["body:" + WRONG_SHAPES[call]] * 3
    with pytest.raises(BabelNetError, match=r"expected .*; found .*<key>.*nothing was cached after 2 retries") as err:
        getattr(c, method)(*args)
    assert len(server.log) == 3 and sleeps == [0.01, 0.02]
    assert not list((tmp_path / "cache" / "responses").glob("*/*.json.gz"))
    assert_key_nowhere(KEY, tmp_path / "cache", caplog.records, str(err.value))
    # the next run, against a healthy server, asks again and succeeds (and then answers from its cache)
    again, _ = client_for(server, tmp_path)
    assert getattr(again, method)(*args) and len(server.log) == 4 and again.cache_hits == 0
    assert getattr(again, method)(*args) and len(server.log) == 4 and again.cache_hits == 1
    # a wrong-shape answer followed by a good one within the retries is just a retry
    fresh, _ = client_for(server, tmp_path / "fresh")
    server.script = ["body:" + WRONG_SHAPES[call]]
    assert getattr(fresh, method)(*args) and len(server.log) == 6 and fresh.requests_sent == 2


def test_a_wrong_shape_answer_cached_by_an_older_version_is_asked_again(server, tmp_path, caplog):
    from pipeline.babelnet import RequestCache

    c, _ = client_for(server, tmp_path)
    params = [("lemma", "car"), ("searchLang", "EN")]
    key = RequestCache.key("getSynsetIds", params, "/v9")
    c.cache.put(key, "getSynsetIds", params, {"unexpected": "a proxy's page"})
    with caplog.at_level(logging.WARNING):
        assert c.synset_ids("car", "EN") == SYNSET_IDS["car"]
    assert len(server.log) == 1 and c.cache_hits == 0 and "lacks its documented shape" in caplog.text
    assert c.cache.get(key) == [{"id": i, "pos": "NOUN", "source": "BABELNET"} for i in SYNSET_IDS["car"]]


UUID_KEY = "0f3c9a52-7b1e-4d2a-9c6f-5e8b1a2d3c4f"  # BabelNet's keys look like this


@pytest.mark.parametrize("action", [
    "body:<html>Invalid request, key {key} ...</html>",  # malformed JSON, shown cut to 60 characters
    'body:{"note": "' + "x" * 60 + ' {key}"}',  # a wrong shape, shown cut to 80
    "status:404:" + "x" * 180 + " {key}",  # a reason phrase, shown cut to 200
], ids=["malformed", "wrong-shape", "reason"])
def test_a_key_straddling_the_cut_is_scrubbed_before_cutting(server, tmp_path, caplog, action):
    caplog.set_level(logging.DEBUG)
    c, _ = client_for(server, tmp_path, key=UUID_KEY, retries=0)
    server.script = [action]
    with pytest.raises(BabelNetError, match="getVersion") as err:
        c.version()
    assert not any(UUID_KEY[:n] in str(err.value) for n in range(6, len(UUID_KEY) + 1)), str(err.value)
    assert_key_nowhere(UUID_KEY[:6], tmp_path / "cache", caplog.records, str(err.value))


@pytest.mark.parametrize("location", [
    "http://[::1/v9/getSynsetIds?key={key}",  # an invalid IPv6 literal
    "http://\u00e9x/v9/getSynsetIds",  # a Latin-1 byte, not UTF-8
    "http://" + "a" * 70 + ".com/v9/getSynsetIds?key={key}",  # a DNS label longer than 63
    "http://127.0.0.1:99999/v9/getSynsetIds?key={key}",  # a port out of range
    "http://:80/v9/getSynsetIds?key={key}",  # no host
], ids=["ipv6", "latin1", "label", "port", "nohost"])
def test_a_redirect_to_an_unparsable_location_is_a_permanent_clear_error(server, tmp_path, caplog, location):
    caplog.set_level(logging.DEBUG)
    c, sleeps = client_for(server, tmp_path, retries=3, backoff=0.01)
    server.script = ["redirect:" + location]
    with pytest.raises(BabelNetError, match=r"getSynsetIds\?lemma=car&searchLang=EN: .*redirect") as err:
        c.synset_ids("car", "EN")
    assert type(err.value) is BabelNetError  # a bare ValueError / InvalidURL / LocationParseError is not
    assert len(server.log) == 1 and sleeps == []  # permanent: asking again gets the same Location
    assert_key_nowhere(KEY, tmp_path / "cache", caplog.records, str(err.value))


def test_senses_without_the_expected_fields_are_no_usable_sense_not_a_silent_empty_harvest(server, tmp_path, caplog):
    """Valid JSON of the documented top-level shape whose senses lack lemma, language or synset id: every sense is
    dropped, and the harvest says BabelNet gave no usable sense (naming the request, never the key)."""
    caplog.set_level(logging.DEBUG)
    c, _ = client_for(server, tmp_path)
    bare = json.dumps({"senses": [{"type": "BabelSense", "properties": {"simpleLemma": "house", "echo": "{key}"}},
                                  {"type": "BabelSense", "properties": {"fullLemma": "casa", "language": "ES"}}]})
    server.script = ["ok", "body:" + bare]  # getSynsetIds answers, then getSynset's senses lack the fields
    with pytest.raises(BabelNetError, match=r"BabelNet gave no usable sense for 1 lemmas: 2 of 2 senses in 1 synsets "
                                            r"lack properties\.fullLemma .*getSynset\?id=bn:00044994n&targetLang=EN"
                                            r"&targetLang=ES: .*<key>") as err:
        harvest_synsets(c, ["house"], "EN", ["EN", "ES"])
    assert_key_nowhere(KEY, tmp_path / "cache", caplog.records, str(err.value))
    # some usable senses: the harvest goes on, and the dropped ones are counted and logged
    c2, _ = client_for(server, tmp_path / "other")
    server.script = ["ok", "ok", "body:" + bare]  # car's two synsets: the first whole, the second bare
    res = harvest_synsets(c2, ["car"], "EN", ["EN", "ES"])
    assert res.complete and res.senses_dropped == 2 and len(res.records) == len(SYNSETS["bn:00007309n"])
    assert any("2 of 7 senses in 2 synsets lack" in r.getMessage() for r in caplog.records)
    assert_key_nowhere(KEY, tmp_path / "other", caplog.records)


def test_lemmas_babelnet_does_not_know_are_a_warning_naming_them(server, tmp_path, caplog):
    """No synset for any lemma (a wrong search_lang, say): the constraints stage said only 'found none in 0
    senses'; the harvest now says which lemmas and which language, without the key."""
    caplog.set_level(logging.DEBUG)
    c, _ = client_for(server, tmp_path)
    server.script = ["body:[]", "body:[]"]
    res = harvest_synsets(c, ["huis", "boom"], "EN", ["EN", "ES"])
    assert res.complete and res.records == []
    [warning] = [r for r in caplog.records if r.levelname == "WARNING" and r.name == "pipeline.babelnet"]
    assert warning.getMessage() == ("BabelNet has no synset for any of the 2 lemmas (searchLang EN; the first: "
                                    "'huis'): check the lemmas and search_lang")
    assert_key_nowhere(KEY, tmp_path / "cache", caplog.records)
