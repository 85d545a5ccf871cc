"""A BabelNet HTTP API (v9) client: cached, budgeted, retrying, resumable.

BabelNet (https://babelnet.org/guide) is reached only through its HTTP API,
which allows a small number of requests per key and day. The client:

* reads the API key from an environment variable (``BABELNET_KEY``) or a
  config file (``$BABELNET_KEY_FILE``, else
  ``~/.config/chronolingua/babelnet.key``); the key is sent as the ``key``
  query parameter and never appears in cache names, logs, errors or outputs;
* keeps every answer in an on-disk cache (one gzip JSON file per request,
  named by a hash of the API version, the endpoint and its parameters without
  the key), so no request is ever made twice and an interrupted harvest
  resumes for free; the cache is keyed by request only, so every harvest that
  points at one cache folder (the pipeline uses ``outputs/.work/babelnet/``)
  shares it, whatever spec or stage asks;
* counts the requests it sends per UTC day against a local budget kept in
  the same folder (one file, updated under an exclusive ``flock`` so
  concurrent harvests count together) and raises :class:`BudgetExhausted`
  before sending one more, leaving the cache whole;
* asks for gzip, sets timeouts, and retries connection errors, cut-off
  answers (a body shorter than its ``Content-Length``, JSON that breaks off),
  429 and 5xx answers with exponential backoff (honouring ``Retry-After``);
* checks every answer against the documented JSON shapes and turns BabelNet's
  refusal (``{"message": "Your key is not valid or the daily requests limit
  has been reached..."}``) into :class:`KeyOrQuotaError`.

The shapes it reads::

    getVersion    {"version": "V9_0"}
    getSynsetIds  [{"id": "bn:00005054n", "pos": "NOUN", "source": "BABELNET"}, ...]
    getSynset     {"senses": [{"type": "BabelSense", "properties": {"fullLemma": "apple",
                   "language": "EN", "synsetID": {"id": "bn:00005054n", ...}, ...}}, ...], ...}
    getSenses     [{"type": "WordNetSense", "properties": {... as above ...}}, ...]

:func:`harvest_synsets` walks lemmas -> synset ids -> synsets and returns
``(synset, lang, word)`` records; when the budget or the quota is spent it
stops cleanly and says how far it got, and the next run continues from the
cache.

>>> import tempfile
>>> client = BabelNetClient("secret", tempfile.mkdtemp(), base_url="http://127.0.0.1:9/v9", daily_budget=0)
>>> try:
...     client.version()
... except BudgetExhausted as exc:
...     print("secret" in str(exc), "budget" in str(exc))
False True
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlparse

from .download import MAX_REDIRECTS, http_session, redirect_guard
from .errors import InputError, PipelineError

log = logging.getLogger(__name__)

__all__ = [
    "BabelNetError",
    "BudgetExhausted",
    "KeyOrQuotaError",
    "BabelNetClient",
    "HarvestResult",
    "harvest_synsets",
    "resolve_key",
    "KEY_ENV",
    "KEY_FILE_ENV",
]

KEY_ENV = "BABELNET_KEY"
KEY_FILE_ENV = "BABELNET_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/chronolingua/babelnet.key")
DEFAULT_BASE_URL = "https://babelnet.io/v9"


class BabelNetError(PipelineError):
    """The BabelNet API could not be used (network, malformed answer); the cache is kept."""


class BudgetExhausted(BabelNetError):
    """The local daily request budget is spent; the next day's run continues from the cache."""


class KeyOrQuotaError(BabelNetError):
    """BabelNet refused the key: it is invalid, or its daily request limit has been reached."""


def resolve_key(env: str = KEY_ENV, key_file: str | Path | None = None) -> str:
    """The API key from ``$<env>``, else from a key file (first non-blank, non-comment line).

    The file is ``key_file``, else ``$BABELNET_KEY_FILE``, else
    ``~/.config/chronolingua/babelnet.key``. A ``key = ...`` line is accepted too.
    """
    value = os.environ.get(env, "").strip()
    if value:
        return value
    path = Path(key_file or os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" in line:
                name, _, line = line.partition("=")
                if name.strip().lower() not in ("key", "babelnet_key", "api_key"):
                    continue
                line = line.strip().strip("'\"")
            if line:
                return line
    raise BabelNetError(f"no BabelNet API key: expected it in the environment variable {env} or in the file "
                        f"{path} (one line; see https://babelnet.org/register); the key is never stored in "
                        "specs or outputs")


class _RedactKey(logging.Filter):
    """Hides ``key=...`` in urllib3's debug lines (they print the request URL, query string included)."""

    _pattern = re.compile(r"([?&]key=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "key=" in message:
            record.msg, record.args = self._pattern.sub(r"\1<key>", message), ()
        return True


_REDACT = _RedactKey()


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


# --------------------------------------------------------------------------- cache and budget


class RequestCache:
    """One gzip JSON file per (endpoint, parameters) under ``root``; writes are atomic."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(endpoint: str, params: Sequence[tuple[str, str]], api: str = "") -> str:
        """The hash naming one request: ``api`` (the base URL's path, e.g. ``/v9``), endpoint, parameters.

        The parameters never include the key, so neither does the hash; the
        host is left out so that a mirror of one API version shares answers.
        """
        canon = json.dumps([api, endpoint, sorted((str(k), str(v)) for k, v in params)], ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json.gz"

    def get(self, key: str) -> Any | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return json.load(f)["response"]
        except (OSError, EOFError, ValueError, KeyError) as exc:  # a damaged entry is refetched
            log.warning("%s: unreadable cache entry (%s); it will be fetched again", path, exc)
            return None

    def put(self, key: str, endpoint: str, params: Sequence[tuple[str, str]], response: Any) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        record = {"endpoint": endpoint, "params": [list(p) for p in params], "response": response}
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json.gz"))


class RequestBudget:
    """Requests sent per UTC day, persisted in ``<path>`` so separate runs and stages share one budget.

    The file holds ``{"date": "YYYY-MM-DD", "used": n}`` for the current
    day; :meth:`spend` checks and counts under an exclusive ``flock`` on
    ``<path>.lock``, so concurrent harvests (luigi workers, several stages)
    never lose a count or overspend. The file itself is replaced atomically,
    so :meth:`used` reads it without the lock.
    """

    def __init__(self, path: str | Path, daily_limit: int, today: Callable[[], str] | None = None):
        self.path = Path(path)
        self.daily_limit = int(daily_limit)
        self._today = today or (lambda: _dt.datetime.now(_dt.timezone.utc).date().isoformat())

    def used(self) -> int:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        if not isinstance(data, dict) or data.get("date") != self._today():
            return 0
        try:
            return max(0, int(data.get("used", 0)))
        except (TypeError, ValueError):
            return 0

    def remaining(self) -> int:
        return max(0, self.daily_limit - self.used())

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            try:
                import fcntl
            except ImportError:  # not POSIX: no cross-process lock
                yield
                return
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def spend(self) -> None:
        """Count one request, or raise :class:`BudgetExhausted` when none is left today."""
        with self._locked():
            used = self.used()
            if used >= self.daily_limit:
                raise BudgetExhausted(f"the daily BabelNet request budget ({self.daily_limit}, counted in "
                                      f"{self.path}) is spent for {self._today()} (UTC); answers so far are "
                                      "cached and the next run continues from them")
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_text(json.dumps({"date": self._today(), "used": used + 1}), encoding="utf-8")
            os.replace(tmp, self.path)


# --------------------------------------------------------------------------- client


def _refusal(data: Any) -> str | None:
    """BabelNet's error answer (a JSON object with only a ``message``), if ``data`` is one."""
    if isinstance(data, dict) and "message" in data and not ({"senses", "version"} & set(data)):
        return str(data["message"])
    return None


# endpoint -> (does an answer have the documented shape?, what was expected): an answer is cached only once
# it passes, so a proxy's or a glitching API's stray JSON is retried instead of being served forever
_SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "getVersion": (lambda d: isinstance(d, dict) and isinstance(d.get("version"), str),
                   'expected {"version": ...}'),
    "getSynsetIds": (lambda d: isinstance(d, list) and all(isinstance(x, dict) and isinstance(x.get("id"), str)
                                                           for x in d),
                     'expected a list of {"id": "bn:..."}'),
    "getSynset": (lambda d: isinstance(d, dict) and isinstance(d.get("senses"), list),
                  "expected an object with a list under 'senses'"),
    "getSenses": (lambda d: isinstance(d, list) and all(isinstance(x, dict) and isinstance(x.get("properties"), dict)
                                                        for x in d),
                  "expected a list of senses with 'properties'"),
}


def _shape_problem(endpoint: str, data: Any) -> str | None:
    """What ``endpoint``'s documented shape expects, when ``data`` lacks it; None when it fits (or is unknown)."""
    if endpoint not in _SHAPES:
        return None if data is not None else "expected a JSON answer; found null"
    fits, expected = _SHAPES[endpoint]
    return None if fits(data) else expected


class BabelNetClient:
    """Cached, budgeted access to the BabelNet HTTP API (see the module docstring).

    ``cache_dir`` holds the answers (``responses/``) and the budget file
    (``budget.json``); it may be shared by any number of clients and
    processes, since both are keyed by request and day, not by who asks.
    ``sleep`` is injectable so tests need not wait for backoff.
    """

    def __init__(self, key: str, cache_dir: str | Path, *, base_url: str = DEFAULT_BASE_URL,
                 daily_budget: int = 1000, timeout: float = 30.0, retries: int = 5, backoff: float = 1.0,
                 max_backoff: float = 60.0, session=None, sleep: Callable[[float], None] = time.sleep,
                 today: Callable[[], str] | None = None):
        if not key:
            raise BabelNetError("an empty BabelNet API key")
        self._key = key
        self.base_url = base_url.rstrip("/")
        self._api = urlparse(self.base_url).path  # e.g. /v9: answers of another API version are not shared
        self.cache = RequestCache(Path(cache_dir) / "responses")
        self.budget = RequestBudget(Path(cache_dir) / "budget.json", daily_budget, today)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._session = session
        self._sleep = sleep
        self.requests_sent = 0
        self.cache_hits = 0
        _install_redaction()

    def __repr__(self) -> str:  # never show the key
        return f"BabelNetClient(base_url={self.base_url!r}, cache={str(self.cache.root)!r})"

    @property
    def session(self):
        if self._session is None:
            self._session = http_session()
        return self._session

    def _scrub(self, text: Any, limit: int | None = None) -> str:
        """``text`` with the key shown as ``<key>``, then cut to ``limit`` characters.

        Scrubbing comes first: a cut made first could end inside the key and leave most of it showing.
        """
        text = str(text).replace(self._key, "<key>")
        return text if limit is None else text[:limit]

    def _scrub_data(self, data: Any) -> Any:
        """A JSON answer with the key replaced in every string (a server may echo the query back)."""
        if isinstance(data, str):
            return self._scrub(data)
        if isinstance(data, list):
            return [self._scrub_data(x) for x in data]
        if isinstance(data, dict):
            return {self._scrub(k): self._scrub_data(v) for k, v in data.items()}
        return data

    def _describe(self, endpoint: str, params: Sequence[tuple[str, str]]) -> str:
        return f"{self.base_url}/{endpoint}?" + "&".join(f"{k}={v}" for k, v in params)

    def get(self, endpoint: str, params: Sequence[tuple[str, str]]) -> Any:
        """The JSON answer of ``endpoint`` for ``params`` (without the key), from the cache or the API.

        Connection failures, timeouts, cut-off bodies, malformed JSON, JSON
        that lacks the endpoint's documented shape, 429 and 5xx answers are
        retried ``retries`` times with exponential backoff; then
        :class:`BabelNetError` (:class:`KeyOrQuotaError` for 429) says what
        went wrong. Only an answer of the documented shape is cached (a cached
        one that lacks it is asked again). Every attempt counts against the
        daily budget.
        """
        import requests

        params = [(str(k), str(v)) for k, v in params]
        cache_key = RequestCache.key(endpoint, params, self._api)
        cached = self.cache.get(cache_key)
        if cached is not None:
            if _shape_problem(endpoint, cached) is None:
                self.cache_hits += 1
                return cached
            log.warning("%s: cached answer for %s/%s lacks its documented shape; it will be fetched again",
                        self.cache.path(cache_key), self.base_url, endpoint)
        where = self._describe(endpoint, params)
        attempt = 0
        while True:
            self.budget.spend()
            self.requests_sent += 1
            retry_after = None
            redirects: list[str] = []

            def note_redirect(r, **kwargs):  # runs before the guard, which may itself fail on the Location
                if r.is_redirect:
                    redirects.append(r.headers.get("location", ""))

            try:
                # the key travels in the query: redirects are vetted (no https -> http downgrade that would
                # send it in clear text, no internal hosts) and at most MAX_REDIRECTS are followed
                r = self.session.get(f"{self.base_url}/{endpoint}", params=[*params, ("key", self._key)],
                                     headers={"Accept-Encoding": "gzip", "Accept": "application/json"},
                                     timeout=self.timeout,
                                     hooks={"response": [note_redirect, redirect_guard(self.base_url)]})
            except InputError as exc:  # a redirect the guard refused (it names hosts, never the query)
                raise BabelNetError(f"{where}: {self._scrub(str(exc))}") from None
            except requests.TooManyRedirects:
                raise BabelNetError(f"{where}: more than {MAX_REDIRECTS} redirects") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"network failure ({self._scrub(type(exc).__name__)})"
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                # the body broke off (shorter than its Content-Length) or its gzip data is damaged
                problem = f"a cut-off or damaged answer ({self._scrub(type(exc).__name__)})"
            except ValueError as exc:
                # a URL that cannot be parsed (requests' InvalidURL, urllib3's LocationParseError, a Location
                # that is not UTF-8, an invalid IPv6 literal): asking again gets the same answer, so no retry
                detail = f"{type(exc).__name__}: {self._scrub(exc, 200)}"
                if redirects:
                    raise BabelNetError(f"{where}: the server redirected to {repr(self._scrub(redirects[-1]))[:200]}, "
                                        f"which is not a URL that can be followed ({detail})") from None
                raise BabelNetError(f"{where}: not a URL that can be requested ({detail}); check base_url") from None
            else:
                if r.status_code == 429 or r.status_code >= 500:
                    problem = f"HTTP {r.status_code} {self._scrub(r.reason, 200)}"
                    retry_after = r.headers.get("Retry-After")
                else:
                    try:
                        data, problem = r.json(), None  # requests undoes Content-Encoding: gzip
                    except ValueError as exc:
                        data, problem = None, (f"expected a JSON answer; found malformed or cut-off JSON "
                                               f"({self._scrub(exc, 200)}) starting {self._scrub(r.text, 60)!r}; "
                                               "nothing was cached")
                    refusal = _refusal(data)
                    if refusal is not None or r.status_code in (401, 403):
                        raise KeyOrQuotaError(
                            f"{where}: BabelNet refused the request (HTTP {r.status_code}: "
                            f"{self._scrub(refusal or r.reason)}); the key is invalid or its daily limit is "
                            f"reached -- check ${KEY_ENV}, or rerun tomorrow: cached answers are kept")
                    if r.status_code >= 400:
                        raise BabelNetError(f"{where}: HTTP {r.status_code} {self._scrub(r.reason, 200)}")
                    if problem is None:
                        expected = _shape_problem(endpoint, data)
                        if expected is None:
                            data = self._scrub_data(data)
                            self.cache.put(cache_key, endpoint, params, data)
                            return data
                        problem = f"{expected}; found {str(self._scrub_data(data))[:80]}; nothing was cached"
            attempt += 1
            if attempt > self.retries:
                exc_type = KeyOrQuotaError if problem.startswith("HTTP 429") else BabelNetError
                raise exc_type(f"{where}: {problem} after {self.retries} retries; cached answers are kept and "
                               "the next run continues from them")
            wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            if retry_after is not None:
                try:
                    wait = min(self.max_backoff, max(wait, float(retry_after)))
                except ValueError:
                    pass
            log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", where, problem, wait, attempt,
                        self.retries)
            self._sleep(wait)

    # -- the documented endpoints (``get`` returns only answers of the shape each one documents)

    def version(self) -> str:
        return self.get("getVersion", [])["version"]

    def synset_ids(self, lemma: str, search_lang: str, pos: str | None = None) -> list[str]:
        """Ids (``bn:...``) of the synsets of ``lemma`` in ``search_lang`` (e.g. ``EN``)."""
        params = [("lemma", lemma), ("searchLang", search_lang.upper())] + ([("pos", pos)] if pos else [])
        return [d["id"] for d in self.get("getSynsetIds", params)]

    def synset(self, synset_id: str, target_langs: Sequence[str] = ()) -> dict:
        """The synset ``synset_id`` with its senses in ``target_langs``."""
        params = [("id", synset_id)] + [("targetLang", lang.upper()) for lang in target_langs]
        return self.get("getSynset", params)

    def senses(self, lemma: str, search_lang: str, target_langs: Sequence[str] = ()) -> list[dict]:
        """The senses of ``lemma`` (each with ``properties.synsetID.id``)."""
        params = ([("lemma", lemma), ("searchLang", search_lang.upper())]
                  + [("targetLang", lang.upper()) for lang in target_langs])
        return self.get("getSenses", params)


def sense_record(sense: dict) -> tuple[str, str, str] | None:
    """``(synset id, ISO language, lemma)`` of one sense object, or None when a field is missing."""
    props = sense.get("properties") if isinstance(sense, dict) else None
    if not isinstance(props, dict):
        return None
    lemma = props.get("fullLemma")
    if not isinstance(lemma, str):
        inner = props.get("lemma")
        lemma = inner.get("lemma") if isinstance(inner, dict) else inner
    synset = props.get("synsetID")
    synset_id = synset.get("id") if isinstance(synset, dict) else synset
    lang = props.get("language")
    if not (isinstance(lemma, str) and isinstance(synset_id, str) and isinstance(lang, str)):
        return None
    return synset_id, lang.lower(), lemma.replace("_", " ")


@dataclass
class HarvestResult:
    """Senses harvested so far, and whether every lemma was done."""

    records: list[tuple[str, str, str]] = field(default_factory=list)  # (synset id, lang, lemma)
    lemmas_done: int = 0
    lemmas_total: int = 0
    complete: bool = False
    stopped_because: str | None = None
    requests_sent: int = 0
    cache_hits: int = 0
    senses_dropped: int = 0  # senses without a lemma, a language or a synset id (see :func:`sense_record`)


#: what :func:`sense_record` needs of a sense, for messages
SENSE_FIELDS = "properties.fullLemma (or lemma.lemma), properties.language and properties.synsetID.id"


def harvest_synsets(client: BabelNetClient, lemmas: Iterable[str], search_lang: str, target_langs: Sequence[str],
                    *, pos: str | None = None, max_synsets_per_lemma: int | None = None,
                    progress: Callable[[float, str], None] | None = None) -> HarvestResult:
    """Senses of the synsets of each lemma, in ``target_langs`` (BabelNet language codes, e.g. EN, ES).

    Stops cleanly (``complete=False``, ``stopped_because`` set) when the local
    budget or BabelNet's quota is spent; every answer received is cached, so
    the next run continues where this one stopped. Network failures and
    malformed answers raise :class:`BabelNetError` (the cache is kept too),
    and so does a finished harvest that found senses but none with the
    fields :func:`sense_record` reads (BabelNet gave no usable sense); senses
    lacking them are otherwise counted in ``senses_dropped`` and logged.
    """
    lemmas = list(dict.fromkeys(lemmas))
    result = HarvestResult(lemmas_total=len(lemmas))
    seen_synsets: set[str] = set()
    sent0, hits0 = client.requests_sent, client.cache_hits
    first_dropped = None  # (synset id, the sense), for the message
    try:
        for i, lemma in enumerate(lemmas):
            ids = client.synset_ids(lemma, search_lang, pos)
            if max_synsets_per_lemma:
                ids = ids[:max_synsets_per_lemma]
            for sid in ids:
                if sid in seen_synsets:
                    continue
                for sense in client.synset(sid, target_langs)["senses"]:
                    rec = sense_record(sense)
                    if rec is not None:
                        result.records.append((sid, rec[1], rec[2]))
                    else:
                        result.senses_dropped += 1
                        first_dropped = first_dropped or (sid, sense)
                seen_synsets.add(sid)
            result.lemmas_done = i + 1
            if progress:
                progress((i + 1) / max(1, len(lemmas)), f"BabelNet: {i + 1} of {len(lemmas)} lemmas")
        result.complete = True
    except (BudgetExhausted, KeyOrQuotaError) as exc:
        result.stopped_because = str(exc)
        log.warning("BabelNet harvest stopped after %d of %d lemmas: %s", result.lemmas_done, len(lemmas), exc)
    result.requests_sent = client.requests_sent - sent0
    result.cache_hits = client.cache_hits - hits0
    if result.complete and lemmas and not seen_synsets:  # other sources may still give pairs: said, not refused
        log.warning("BabelNet has no synset for any of the %d lemmas (searchLang %s%s; the first: %r): check the "
                    "lemmas and search_lang", len(lemmas), search_lang.upper(), f", pos {pos}" if pos else "",
                    lemmas[0])
    if result.senses_dropped:
        sid, sense = first_dropped
        where = client._describe("getSynset", [("id", sid)] + [("targetLang", lang.upper()) for lang in target_langs])
        counts = (f"{result.senses_dropped} of {result.senses_dropped + len(result.records)} senses in "
                  f"{len(seen_synsets)} synsets lack {SENSE_FIELDS}; the first, from {where}: "
                  f"{client._scrub(json.dumps(client._scrub_data(sense), ensure_ascii=False), 200)}")
        if result.complete and not result.records:
            raise BabelNetError(f"BabelNet gave no usable sense for {len(lemmas)} lemmas: {counts} (the answers are "
                                f"cached in {client.cache.root})")
        log.warning("BabelNet: %s", counts)
    return result
