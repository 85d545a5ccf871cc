"""The downloader against a real HTTP server on loopback that supports Range requests."""
from __future__ import annotations

import hashlib
import re

import pytest

from pipeline.download import MAX_REDIRECTS, DownloadError, cached_download, download, redirect_guard
from pipeline.errors import InputError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def server(loopback_server):
    """conftest's loopback server with PAYLOAD at /file.bin; ``server.file`` is that route (``cut_after`` bytes
    for the next ``cuts`` responses, ``ranges=False`` for a server that ignores Range)."""
    loopback_server.file = loopback_server.serve("/file.bin", PAYLOAD)
    return loopback_server


def ranges(server) -> list:
    return [rng for _, rng in server.requests]


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_plain_download_with_checksum(server, tmp_path):
    out = download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "f.bin.part").exists()
    # present and verified: no second request
    n = len(server.requests)
    download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert len(server.requests) == n


def test_connection_cut_mid_file_resumes_with_range(server, tmp_path):
    server.file.cut_after, server.file.cuts = 300_000, 2
    out = download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False, retries=3)
    assert out.read_bytes() == PAYLOAD
    assert ranges(server) == [None, "bytes=300000-", "bytes=600000-"]


def test_partial_file_from_a_killed_run_is_resumed(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:12345])
    download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert ranges(server) == ["bytes=12345-"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.file.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"garbage")
    download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert ranges(server) == ["bytes=7-"]  # asked to resume, answered with the whole file


def test_corrupted_file_is_rejected_and_nothing_kept(server, tmp_path):
    with pytest.raises(InputError, match="sha256"):
        download(server.url + "/file.bin", tmp_path / "f.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_missing_file_and_network_failure(server, tmp_path):
    with pytest.raises(InputError, match="HTTP 404"):
        download(server.url + "/nope.bin", tmp_path / "n.bin", progress=False)
    server.file.cut_after, server.file.cuts = 1000, 10
    server.file.headers["ETag"] = '"v1"'
    with pytest.raises(DownloadError, match="after 2 attempts.*kept"):
        download(server.url + "/file.bin", tmp_path / "f.bin", progress=False, max_attempts=2, backoff=0)
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 2000  # the next run resumes from here
    assert (tmp_path / "f.bin.part.version").read_text() == '"v1"'


def test_retry_budget_counts_only_attempts_without_progress(server, tmp_path):
    # ten cuts that each bring bytes do not use up a budget of one retry ...
    server.file.cut_after, server.file.cuts = 1000, 10
    out = download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False, retries=1, backoff=0)
    assert out.read_bytes() == PAYLOAD and len(server.requests) == 11
    # ... while cuts that bring nothing do, and the partial file stays for the next run
    server.file.cut_after, server.file.cuts = 0, 10
    with pytest.raises(DownloadError, match="after 2 retries without progress"):
        download(server.url + "/file.bin", tmp_path / "g.bin", progress=False, retries=2, backoff=0)
    assert len(server.requests) == 11 + 3 and not (tmp_path / "g.bin").exists()



def test_a_server_that_ignores_range_and_cuts_at_one_byte_uses_up_the_budget(server, tmp_path):
    """Each attempt starts again from byte 0 and stops where the last did: no progress, however many bytes
    came (the budget once counted them, and fetched the same half 60 times on a budget of 2 retries)."""
    server.file.ranges, server.file.cut_after, server.file.cuts = False, 500_000, 100
    with pytest.raises(DownloadError, match="after 2 retries without progress"):
        download(server.url + "/file.bin", tmp_path / "f.bin", progress=False, retries=2, backoff=0)
    assert len(server.requests) == 4  # the first attempt brought bytes; three in a row brought none


def test_a_partial_file_is_resumed_only_against_the_version_it_began(server, tmp_path):
    """Unpinned (no sha256), a partial file of content that has since changed must not be completed with the
    new content's tail: the recorded ETag goes out as If-Range, and a server that ignores it is caught by the
    ETag of its 206."""
    new_payload = bytes(reversed(PAYLOAD))
    for honours in (True, False):
        dest = tmp_path / f"honours-{honours}" / "f.bin"
        server.file.body, server.file.headers = PAYLOAD, {"ETag": '"old"'}
        server.file.cut_after, server.file.cuts, server.file.if_range = 400_000, 1, honours
        with pytest.raises(DownloadError, match="kept and the next run resumes"):
            download(server.url + "/file.bin", dest, progress=False, max_attempts=1, backoff=0)
        assert dest.with_name("f.bin.part").stat().st_size == 400_000
        server.file.body, server.file.headers = new_payload, {"ETag": '"new"'}
        n = len(server.requests)
        assert download(server.url + "/file.bin", dest, progress=False, backoff=0).read_bytes() == new_payload
        assert ranges(server)[n] == "bytes=400000-"
        assert len(server.requests) == n + (1 if honours else 2)  # honoured: the whole new file at once
        assert not dest.with_name("f.bin.part").exists() and not dest.with_name("f.bin.part.version").exists()
    # a partial file without a recorded version, unpinned, is fetched from the start, not resumed
    (tmp_path / "g.bin.part").write_bytes(new_payload[:1000])
    n = len(server.requests)
    server.file.body, server.file.headers = PAYLOAD, {}
    assert download(server.url + "/file.bin", tmp_path / "g.bin", progress=False).read_bytes() == PAYLOAD
    assert ranges(server)[n:] == [None]
    # ... and a failure then keeps nothing, and says so
    server.file.cut_after, server.file.cuts = 1000, 5
    with pytest.raises(DownloadError, match="nothing was kept .*no version"):
        download(server.url + "/file.bin", tmp_path / "h.bin", progress=False, max_attempts=1, backoff=0)
    assert not list(tmp_path.glob("h.bin*"))


def test_credentials_in_a_url_never_reach_a_message(server, tmp_path, caplog):
    server.file.cut_after, server.file.cuts = 1000, 5
    secret = "S3cretPw"
    host = server.url.split("//", 1)[1]
    urls = [f"http://alice:{secret}@{host}/nope.bin", f"{server.url}/file.bin?token={secret}&x=1",
            f"http://127.0.0.1:1/f.bin?X-Amz-Signature={secret}"]
    for url in urls:
        with caplog.at_level("WARNING"), pytest.raises((InputError, DownloadError)) as err:
            download(url, tmp_path / "f.bin", progress=False, max_attempts=2, backoff=0)
        assert secret not in str(err.value) and "***" in str(err.value), err.value
    assert caplog.records and not any(secret in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("location", [b"http://[::1/x", "http://\u00e9x/x".encode("latin-1"),
                                      b"http://127.0.0.1:99999/x", b"http://" + b"a" * 70 + b".com/x"])
def test_a_redirect_to_no_valid_url_is_refused_by_name(server, tmp_path, location):
    server.serve("/moved.bin", status=302, headers={"Location": location.decode("latin-1")})
    with pytest.raises(InputError, match=r"moved\.bin: expected redirects to valid URLs"):
        download(server.url + "/moved.bin", tmp_path / "f.bin", progress=False, retries=0)
    assert not list(tmp_path.iterdir())

def test_size_bounds_the_transfer(server, tmp_path):
    with pytest.raises(InputError, match="at most 1000 bytes.*nothing was kept"):
        download(server.url + "/file.bin", tmp_path / "f.bin", size=1000, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()
    with pytest.raises(InputError, match=f"{len(PAYLOAD) + 1} bytes.*announces {len(PAYLOAD)}"):
        download(server.url + "/file.bin", tmp_path / "f.bin", size=len(PAYLOAD) + 1, progress=False)
    out = download(server.url + "/file.bin", tmp_path / "f.bin", size=len(PAYLOAD), sha256=SHA, progress=False)
    assert out.read_bytes() == PAYLOAD
    local = tmp_path / "local.bin"
    local.write_bytes(b"x" * 100)
    with pytest.raises(InputError, match="at most 99 bytes"):
        download(str(local), tmp_path / "l.bin", size=99, progress=False)
    with pytest.raises(InputError, match="101 bytes.*found 100"):
        download(str(local), tmp_path / "l.bin", size=101, progress=False)
    assert not list(tmp_path.glob("l.bin*"))
    with pytest.raises(InputError, match="sha256 of 64 hex digits"):
        download(str(local), tmp_path / "l.bin", sha256="abc", progress=False)


def test_partial_file_that_is_a_symlink_is_never_written_through(server, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "f.bin.part").symlink_to(outside)
    with pytest.raises(InputError, match="symbolic link; refusing to write through it"):
        download(server.url + "/file.bin", tmp_path / "dl" / "f.bin", progress=False)
    assert outside.read_bytes() == b"keep me" and not (tmp_path / "dl" / "f.bin").exists()


def test_cached_download_and_local_paths(server, tmp_path):
    a = cached_download(server.url + "/file.bin", tmp_path / "cache", progress=False)
    b = cached_download(server.url + "/file.bin", tmp_path / "cache", progress=False)
    assert a == b and a.read_bytes() == PAYLOAD and len(server.requests) == 1
    local = tmp_path / "local.txt"
    local.write_text("x")
    assert download(f"file://{local}", tmp_path / "copy.txt", progress=False).read_text() == "x"
    with pytest.raises(InputError, match="no such file"):
        download(str(tmp_path / "absent"), tmp_path / "y", progress=False)



def test_a_local_source_that_is_no_regular_file_is_named_for_what_it_is(tmp_path):
    """A fifo would block the reader forever and a folder cannot be copied: both are refused, said as they are."""
    import os

    fifo = tmp_path / "pipe.bin"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"expected a regular file to fetch; a named pipe \(fifo\)"):
        download(str(fifo), tmp_path / "y", progress=False)
    with pytest.raises(InputError, match="expected a regular file to fetch; a folder"):
        download(str(tmp_path), tmp_path / "z", progress=False)
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
    assert not list(tmp_path.glob("*.part"))

def test_gunzip_cached(tmp_path):
    import gzip

    from pipeline.download import gunzip_cached

    data = bytes(range(256)) * 100
    gz = tmp_path / "cc.xx.300.bin.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(data)
    out = gunzip_cached(gz)
    assert out == tmp_path / "cc.xx.300.bin" and out.read_bytes() == data
    mtime = out.stat().st_mtime_ns
    assert gunzip_cached(gz) == out and out.stat().st_mtime_ns == mtime  # once
    with gzip.open(gz, "wb") as fh:  # the publisher replaced the archive under the same name
        fh.write(b"new vectors")
    assert gunzip_cached(gz).read_bytes() == b"new vectors"
    assert (tmp_path / "cc.xx.300.bin.from-sha256").read_text().strip() == hashlib.sha256(gz.read_bytes()).hexdigest()
    plain = tmp_path / "v.vec.gz"
    plain.write_bytes(b"")
    assert gunzip_cached(plain) == plain  # gensim reads .vec.gz itself
    bad = tmp_path / "bad.bin.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="gzip"):
        gunzip_cached(bad)
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()


def test_redirects_on_loopback_are_followed_and_bad_ones_leave_nothing(server, tmp_path):
    server.serve("/hop", status=302, headers={"Location": "/file.bin"})
    assert download(server.url + "/hop", tmp_path / "a.bin", sha256=SHA, progress=False).read_bytes() == PAYLOAD
    server.serve("/to-disk", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(InputError, match=r"/to-disk: expected redirects to http\(s\) URLs only.*a file URL"):
        download(server.url + "/to-disk", tmp_path / "b.bin", progress=False)
    server.serve("/loop", status=301, headers={"Location": "/loop"})
    before = len(server.requests)
    with pytest.raises(InputError, match=rf"/loop: expected at most {MAX_REDIRECTS} redirects"):
        download(server.url + "/loop", tmp_path / "c.bin", progress=False)
    assert len(server.requests) - before == MAX_REDIRECTS + 1  # refused at once, not retried
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


# what the (fake) resolver answers; a name not listed does not resolve
RESOLVER = {"metadata.example.net": ["169.254.169.254"], "cdn.example.net": ["151.101.1.1", "10.0.0.9"],
            "store.lan": ["10.0.0.5"]}


@pytest.mark.parametrize("here, location, refused", [
    ("https://huggingface.co/m/resolve/main/w.bin", "https://cdn-lfs.hf.co/abc?X-Amz-Signature=1", None),
    ("https://huggingface.co/m/resolve/main/w.bin", "/api/resolve-cache/w.bin", None),
    ("http://mirror.example.org/a", "https://mirror.example.org/a", None),
    ("http://127.0.0.1:8080/a", "http://localhost:8080/b", None),  # a local store may redirect locally
    ("https://store.example.org/a", "http://store.example.org/a", "refusing the downgrade"),
    ("https://store.example.org/a", "//cdn.example.org/a", None),  # scheme-relative: stays https
    ("http://store.example.org/a", "http://169.254.169.254/latest/meta-data/", "internal address 169.254.169.254"),
    ("http://store.example.org/a", "http://10.1.2.3/a", "internal address 10.1.2.3"),
    ("http://store.example.org/a", "http://[::1]:9000/a", "internal address ::1"),
    ("http://store.example.org/a", "http://localhost/a", "internal address localhost"),
    ("http://store.example.org/a", "gopher://store.example.org/a", "a gopher URL"),
    # names are resolved: one that points inside is refused, whatever it is called
    ("http://store.example.org/a", "http://metadata.example.net/latest/",
     "internal address metadata.example.net (resolves to 169.254.169.254)"),
    ("https://store.example.org/a", "https://cdn.example.net/a", "cdn.example.net (resolves to 10.0.0.9)"),
    ("http://store.lan/a", "http://10.0.0.6/b", None),  # an origin whose name is inside may redirect inside
])
def test_redirect_guard_vets_each_hop_before_it_is_followed(here, location, refused, monkeypatch):
    import requests

    monkeypatch.setattr("pipeline.download.guard._resolve", lambda host: RESOLVER.get(host, []))  # no DNS here

    r = requests.Response()
    r.status_code, r.url = 302, here
    r.headers["Location"] = location
    hook = redirect_guard(here)
    if refused is None:
        assert hook(r) is r
    else:
        with pytest.raises(InputError, match=re.escape(refused)):
            hook(r)
    r.status_code = 200  # not a redirect: never vetted
    assert hook(r) is r


def test_internal_hosts_in_every_spelling():
    from pipeline.download.guard import _internal_host

    # the real resolver reads numeric forms without DNS: these all mean 127.0.0.1
    assert _internal_host("2130706433") == "2130706433 (resolves to 127.0.0.1)"
    assert _internal_host("0x7f.1") == "0x7f.1 (resolves to 127.0.0.1)"
    assert _internal_host("[::ffff:127.0.0.1]") == "::ffff:127.0.0.1"  # IPv4-mapped
    assert _internal_host("fe80::1%eth0") == "fe80::1%eth0"
    assert _internal_host("Sub.LocalHost") == "sub.localhost"
    assert _internal_host("93.184.216.34") is None and _internal_host("2606:4700::1111") is None


def test_a_hop_whose_name_rebinds_inside_is_refused_before_its_body_is_read(server, tmp_path, monkeypatch):
    """DNS rebinding: the redirect target resolved to a public address when it was checked, but the
    connection lands on an internal one. The peer address of the answer is what counts."""
    import socket

    import pipeline.download.guard as dl

    real_getaddrinfo, real_peer = socket.getaddrinfo, dl._peer_address
    port = server.url.rsplit(":", 1)[1]

    def getaddrinfo(host, *args, **kwargs):  # what the connection gets: both names land on loopback
        return real_getaddrinfo("127.0.0.1" if host in ("hub.example", "evil.example") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # what the check saw: both names public
    seen = {"hub.example": ["93.184.216.34"], "evil.example": ["151.101.1.1"]}
    monkeypatch.setattr(dl, "_resolve", lambda host: seen.get(host, []))
    # the origin's own answer is taken as coming from its public address; every other peer is the real one
    monkeypatch.setattr(dl, "_peer_address",
                        lambda r: "93.184.216.34" if "//hub.example:" in r.url else real_peer(r))
    server.serve("/hub-hop", status=302, headers={"Location": f"http://evil.example:{port}/file.bin"})
    with pytest.raises(InputError, match=r"hub.example:\d+/hub-hop: expected answers from public addresses "
                                         r"only.*evil.example:\d+ answered from the internal address 127.0.0.1"):
        download(f"http://hub.example:{port}/hub-hop", tmp_path / "f.bin", progress=False)
    assert list(tmp_path.iterdir()) == []
    # the same hop from a loopback origin is a local store's redirect, and is followed
    server.serve("/local-hop", status=302, headers={"Location": f"http://evil.example:{port}/file.bin"})
    assert download(server.url + "/local-hop", tmp_path / "g.bin", sha256=SHA, progress=False).read_bytes() == PAYLOAD


# ------------------------------------------------------------------------------ a trickling server


def test_a_trickling_server_is_given_up_under_the_rate_floor_and_retried(server, tmp_path):
    """One byte every 0.05 s never leaves the connection idle for the 2 s timeout (requests' timeout is per
    read), so the timeout alone would wait for ever; the rate floor gives each attempt up after a window, the
    retry budget applies (a few bytes a window are no progress), and the error names the URL, scrubbed."""
    import time

    server.serve("/trickle.bin", bytes(40), chunk=1, delay=0.05)  # 20 bytes/s: the whole of it takes 2 s
    url = server.url + "/trickle.bin?token=S3cretTok"
    began = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "t.bin", timeout=2, min_rate=200, rate_window=0.3, retries=1, backoff=0,
                 progress=False)
    msg = str(err.value)
    assert time.monotonic() - began < 1.5, msg
    assert re.fullmatch(re.escape(server.url) + r"/trickle\.bin\?token=\*\*\*: download failed after 1 retries "
                        r"without progress \(the server sent only \d+ bytes in 0\.\d s, under the floor of 200 "
                        r"bytes/s \(min_rate\)\); nothing was kept \(the server names no version .*", msg), msg
    assert server.paths.count("/trickle.bin") == 2 and list(tmp_path.iterdir()) == []
    # the window defaults to the timeout; a server slow but above the floor is not cut
    server.serve("/trickle.bin", bytes(40), chunk=1, delay=0.05)
    with pytest.raises(DownloadError, match=r"sent only \d+ bytes in 0\.\d s"):
        download(url, tmp_path / "t.bin", timeout=0.3, min_rate=200, retries=0, progress=False)
    server.serve("/slow.bin", PAYLOAD[:64 << 10], chunk=4096, delay=0.01)  # ~400 KB/s for 0.16 s
    assert download(server.url + "/slow.bin", tmp_path / "s.bin", min_rate=1000, rate_window=0.1,
                    progress=False).read_bytes() == PAYLOAD[:64 << 10]


# ------------------------------------------------------------------------------ Retry-After


@pytest.fixture
def waits(monkeypatch) -> list:
    """The waits between attempts, recorded instead of slept."""
    seen: list = []
    monkeypatch.setattr("pipeline.download.transport._sleep", seen.append)
    return seen


def busy_until_waited(route, waits: list, monkeypatch) -> None:
    """``route`` answers as it is set up until the downloader waits once; then it serves its body (HTTP 200)."""
    def sleep(seconds):
        waits.append(seconds)
        route.status, route.headers = 200, {}

    monkeypatch.setattr("pipeline.download.transport._sleep", sleep)


@pytest.mark.parametrize("status, retry_after, expected", [
    (503, "7", (7.0, 7.0)),
    (429, "120", (120.0, 120.0)),
    (429, "in a while", (0.5, 0.5)),  # neither form: the backoff
    (429, None, (0.5, 0.5)),  # a 429 is retried like a 5xx
    (500, "7", (0.5, 0.5)),  # Retry-After counts with 429 and 503 only
    (503, "date+90", (88.0, 90.0)),  # an HTTP-date, counted from now (to the second)
])
def test_retry_after_on_429_and_503_is_waited_out(server, tmp_path, waits, monkeypatch, status, retry_after,
                                                  expected):
    import time
    from email.utils import formatdate

    if retry_after == "date+90":
        retry_after = formatdate(time.time() + 90, usegmt=True)
    route = server.serve("/busy.bin", PAYLOAD, status=status,
                         headers={} if retry_after is None else {"Retry-After": retry_after})
    busy_until_waited(route, waits, monkeypatch)
    out = download(server.url + "/busy.bin", tmp_path / "b.bin", sha256=SHA, backoff=0.5, progress=False)
    assert out.read_bytes() == PAYLOAD and server.paths.count("/busy.bin") == 2
    assert len(waits) == 1 and expected[0] <= waits[0] <= expected[1], waits


def test_a_retry_after_past_the_cap_fails_at_once_saying_what_the_server_asked(server, tmp_path, waits, caplog):
    from email.utils import formatdate

    server.serve("/busy.bin", PAYLOAD, status=503, headers={"Retry-After": "3600"})
    url = server.url + "/busy.bin?api_key=S3cretKey"
    with caplog.at_level("WARNING"), pytest.raises(DownloadError) as err:
        download(url, tmp_path / "b.bin", progress=False)
    assert str(err.value) == (
        f"{server.url}/busy.bin?api_key=***: the server answered HTTP 503 Service Unavailable and asks to be "
        "retried in 3600 s (Retry-After: '3600'), longer than the 300 s a download waits at most "
        "(max_retry_after); gave up instead of waiting; nothing was kept; the next run starts from byte 0")
    assert waits == [] and server.paths == ["/busy.bin"] and list(tmp_path.iterdir()) == []
    assert "S3cretKey" not in caplog.text
    # an HTTP-date, against a cap of one's own
    server.serve("/busy.bin", PAYLOAD, status=429, headers={"Retry-After": formatdate(2e9, usegmt=True)})
    with pytest.raises(DownloadError, match=r"answered HTTP 429 Too Many Requests and asks to be retried in \d+ s "
                                            r"\(Retry-After: '.* GMT'\), longer than the 60 s"):
        download(url, tmp_path / "b.bin", max_retry_after=60, progress=False)
    assert waits == []


# ------------------------------------------------------------------------------ bodies cut short, on the wire


class RawServer:
    """A loopback TCP server whose every connection gets ``respond(headers, n)`` (the request's headers, lower
    case, and its number from 0), sent as is, and then a clean close: the answers http.server cannot give (a
    chunked body cut short, a Content-Length beside chunked encoding, a gzip-encoded body). ``respond`` may
    return an iterable of pieces, each sent as it comes (see :func:`trickle`)."""

    def __init__(self, respond):
        import socket
        import threading

        self.respond, self.requests, self.stop = respond, [], False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import socket

        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timed out: look at ``stop`` again
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head and (data := conn.recv(65536)):
                    head += data
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
                self.requests.append(headers)
                try:
                    wire = self.respond(headers, len(self.requests) - 1)
                    for piece in [wire] if isinstance(wire, bytes) else wire:
                        conn.sendall(piece)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    @property
    def ranges(self) -> list:
        return [h.get("range") for h in self.requests]

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw_server():
    """``raw_server(respond)``: a started :class:`RawServer`, closed after the test."""
    made: list = []

    def make(respond) -> RawServer:
        made.append(RawServer(respond))
        return made[-1]

    yield make
    for s in made:
        s.close()


BODY = bytes(range(256)) * 8  # 2 KiB


def answer(status: str, headers: dict, wire: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() \
        + wire


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def trickle(before: bytes, slow: bytes, after: bytes = b"", every: float = 0.1):
    """Pieces for :class:`RawServer`: ``before`` at once, then ``slow`` one byte every ``every`` seconds (never
    long enough for a read timeout), then ``after``."""
    import time

    yield before
    for i in range(len(slow)):
        time.sleep(every)
        yield slow[i:i + 1]
    yield after


def then_whole(first: bytes, body: bytes = BODY, **headers):
    """A responder: ``first`` to the first request, then honest answers (206 to a Range) with ``headers``."""
    def respond(req: dict, n: int) -> bytes:
        if n == 0:
            return first
        start = int(req["range"].split("=", 1)[1].rstrip("-")) if "range" in req else 0
        h = {**headers, "Content-Length": len(body) - start}
        if start:
            h["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        return answer("206 Partial Content" if start else "200 OK", h, body[start:])

    return respond


def test_a_body_closed_short_of_its_content_length_is_a_cut_and_resumed(raw_server, tmp_path, caplog):
    srv = raw_server(then_whole(answer("200 OK", {"Content-Length": 2048, "ETag": '"v1"'}, BODY[:500]), ETag='"v1"'))
    with caplog.at_level("WARNING"):
        assert download(srv.url + "/f.bin", tmp_path / "f.bin", backoff=0, progress=False).read_bytes() == BODY
    assert srv.ranges == [None, "bytes=500-"]
    assert "connection closed at 500 of 2048 bytes; resuming at byte 500" in caplog.text


@pytest.mark.parametrize("where, cut", [("mid-chunk", 1300), ("between chunks", 1000), ("before its CRLF", 1000)])
def test_a_chunked_body_cut_before_its_last_chunk_is_resumed_from_what_arrived(raw_server, tmp_path, caplog,
                                                                               where, cut):
    """Without a terminating chunk the body is known to be cut (http.client raises IncompleteRead). Every byte
    that arrived is kept: reading 1 MiB at a time once dropped all the bytes of that read, so each attempt
    began again where the last full read had ended (here: from 0, and no attempt ever made progress)."""
    wire = chunk(BODY[:500]) + chunk(BODY[500:1000])
    wire += {"mid-chunk": b"1f4\r\n" + BODY[1000:1300], "between chunks": b"",
             "before its CRLF": b""}[where]
    if where == "before its CRLF":
        wire = wire[:-2]
    first = answer("200 OK", {"Transfer-Encoding": "chunked", "ETag": '"v1"'}, wire)
    srv = raw_server(then_whole(first, ETag='"v1"'))
    with caplog.at_level("WARNING"):
        assert download(srv.url + "/f.bin", tmp_path / "f.bin", backoff=0, progress=False).read_bytes() == BODY
    assert srv.ranges == [None, f"bytes={cut}-"]
    assert ("the connection closed before the end of the chunked body (no terminating chunk); "
            f"resuming at byte {cut}") in caplog.text


def test_a_content_length_beside_chunked_encoding_is_not_taken_for_a_cut(raw_server, tmp_path):
    """The terminating chunk ends a chunked body (RFC 9112 6.3); a wrong Content-Length beside it once read as
    "connection closed at 2048 of 9999 bytes" and had a whole file fetched again."""
    wire = chunk(BODY[:1000]) + chunk(BODY[1000:]) + b"0\r\n\r\n"
    srv = raw_server(then_whole(answer("200 OK", {"Transfer-Encoding": "chunked", "Content-Length": 9999}, wire)))
    assert download(srv.url + "/f.bin", tmp_path / "f.bin", backoff=0, progress=False).read_bytes() == BODY
    assert srv.ranges == [None]


def test_a_gzip_encoded_body_is_kept_as_sent_and_its_length_counts_the_sent_bytes(raw_server, tmp_path):
    """A server that gzips although the client asked for identity: Content-Length and Range count the bytes on
    the wire, and so does the downloader (it saves them undecoded, as curl does without --compressed); a cut
    is caught at the encoded byte, and resumed there."""
    import gzip

    gz = gzip.compress(BODY * 8)
    enc = {"Content-Encoding": "gzip", "ETag": '"v1"'}
    srv = raw_server(then_whole(answer("200 OK", {**enc, "Content-Length": len(gz)}, gz[:100]), gz, **enc))
    out = download(srv.url + "/f.bin.gz", tmp_path / "f.bin.gz", sha256=hashlib.sha256(gz).hexdigest(), backoff=0,
                   progress=False)
    assert out.read_bytes() == gz and srv.ranges == [None, "bytes=100-"]
    srv = raw_server(then_whole(answer("200 OK", {**enc, "Transfer-Encoding": "chunked"}, chunk(gz[:100])), gz,
                                **enc))
    assert download(srv.url + "/g.bin.gz", tmp_path / "g.bin.gz", backoff=0, progress=False).read_bytes() == gz
    assert srv.ranges == [None, "bytes=100-"]


@pytest.mark.parametrize("how", ["chunked, terminated", "no length, closed"])
def test_a_body_the_server_ends_early_on_its_own_is_caught_only_by_a_pin(raw_server, tmp_path, how):
    """Undetectable on the wire: a terminating chunk, or a close that ends a body with neither Content-Length nor
    chunked encoding, says the body is whole. Unpinned, the short file is what the server sent; with ``size``
    it is a cut (retried), with ``sha256`` a mismatch."""
    if how == "chunked, terminated":
        first = answer("200 OK", {"Transfer-Encoding": "chunked"}, chunk(BODY[:1000]) + b"0\r\n\r\n")
    else:
        first = answer("200 OK", {"Connection": "close"}, BODY[:1000])
    srv = raw_server(lambda req, n: first)
    assert download(srv.url + "/f.bin", tmp_path / "f.bin", progress=False).read_bytes() == BODY[:1000]
    with pytest.raises(DownloadError, match=r"f\.bin: download failed after 0 retries without progress "
                                            r"\(connection closed at 1000 of 2048 bytes\); nothing was kept"):
        download(srv.url + "/f.bin", tmp_path / "g.bin", size=2048, retries=0, progress=False)
    with pytest.raises(InputError, match=rf"expected content with sha256 {hashlib.sha256(BODY).hexdigest()}"):
        download(srv.url + "/f.bin", tmp_path / "h.bin", sha256=hashlib.sha256(BODY).hexdigest(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


# ------------------------------------------------------------------------ a server that trickles what a read waits on


def watchdogs() -> list:
    """The downloader's watchdog threads still alive: none once a download has returned."""
    import threading

    return [t for t in threading.enumerate() if t.name == "download-watchdog"]


def session_of(kind: str | None, url: str):
    """None (the downloader's own), "hub" (as pipeline.models makes one: http_session() with a bearer token for
    the origin) or "plain" (a requests.Session of the caller's)."""
    import requests

    from pipeline.download import http_session
    from pipeline.models import _BearerFor, _origin

    if kind == "plain":
        return requests.Session()
    if kind == "hub":
        session = http_session()
        session.auth = _BearerFor("hf_t0ken", _origin(url))
        return session
    return None


@pytest.mark.parametrize("kind", [None, "hub"])
def test_response_headers_trickled_in_are_cut_at_the_header_timeout_and_retried(raw_server, tmp_path, caplog, kind):
    """A header byte every 0.1 s never lets the 2 s read timeout pass: without a wall-clock bound a worker waits
    as long as the server likes (here 4 s, then a whole answer; a hostile server: for ever). The watchdog cuts
    the wait after header_timeout; the attempt is a stall, retried, and what the cut left of the headers is no
    answer (a 200 with no length whose body ends at once would read as an empty file)."""
    import time

    def respond(req: dict, n: int):
        if n == 0:
            return trickle(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 33 + b"\r\n", b"\r\n" + BODY)
        return answer("200 OK", {"Content-Length": len(BODY)}, BODY)

    srv = raw_server(respond)
    began = time.monotonic()
    with caplog.at_level("WARNING"):
        out = download(srv.url + "/f.bin", tmp_path / "f.bin", timeout=2, header_timeout=0.5, backoff=0,
                       session=session_of(kind, srv.url), progress=False)
    assert out.read_bytes() == BODY and len(srv.requests) == 2
    assert time.monotonic() - began < 2
    host = srv.url.split("//", 1)[1]
    assert f"f.bin: no response headers from {host} within 0.5 s; resuming at byte 0" in caplog.text
    if kind == "hub":  # the session's auth still goes out with every request
        assert [h.get("authorization") for h in srv.requests] == ["Bearer hf_t0ken"] * 2
    assert not watchdogs()


def test_the_header_deadline_of_a_redirect_does_not_run_on_while_the_next_hop_connects(raw_server, tmp_path,
                                                                                       monkeypatch):
    """Each hop's answer has header_timeout seconds from its request. Connecting to where a redirect leads (a far
    CDN, a TLS handshake, an address that times out before the next is tried) is bounded by the connect timeout;
    it once ran on the redirect's deadline, so that the next hop was cut as soon as its request went out ("no
    response headers from" the first host, which had answered at once), attempt after attempt."""
    import time

    import urllib3.util.connection

    target = raw_server(lambda req, n: answer("200 OK", {"Content-Length": len(BODY)}, BODY))
    origin = raw_server(lambda req, n: answer("302 Found", {"Location": target.url + "/f.bin", "Content-Length": 0},
                                              b""))
    port, connect = int(target.url.rsplit(":", 1)[1]), urllib3.util.connection.create_connection

    def slow(address, *args, **kwargs):
        if address[1] == port:
            time.sleep(0.8)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow)
    out = download(origin.url + "/f.bin", tmp_path / "f.bin", timeout=3, header_timeout=0.5, retries=0,
                   progress=False)
    assert out.read_bytes() == BODY and len(origin.requests) == 1 and len(target.requests) == 1
    assert not watchdogs()


def test_a_redirect_refused_while_the_header_deadline_passed_is_still_a_refusal(raw_server, tmp_path, monkeypatch):
    """The redirect guard looks the next host up under the hop's header deadline; when that lookup outlasted it,
    the guard's refusal (never to be retried) was swallowed and the download failed as a stall, retried, naming
    the origin's headers instead."""
    import time

    import pipeline.download.guard as dl

    origin = raw_server(lambda req, n: answer("302 Found", {"Location": "http://metadata.internal.example/x",
                                                            "Content-Length": 0}, b""))

    def slow_lookup(host):
        time.sleep(0.8)
        return ["169.254.169.254"]

    monkeypatch.setattr(dl, "_resolve", slow_lookup)
    judge = dl._internal_address  # (a name still raises ValueError there, and is looked up)
    monkeypatch.setattr(dl, "_internal_address", lambda a: judge(a) and a.startswith("169.254."))  # loopback: public
    with pytest.raises(InputError, match=r"redirects to the internal address metadata\.internal\.example "
                                         r"\(resolves to 169\.254\.169\.254\)"):
        download(origin.url + "/f.bin", tmp_path / "f.bin", timeout=3, header_timeout=0.5, retries=2, backoff=0,
                 progress=False)
    assert len(origin.requests) == 1 and not list(tmp_path.iterdir()) and not watchdogs()


def test_a_server_that_always_trickles_its_headers_uses_up_the_retry_budget(raw_server, tmp_path):
    """header_timeout defaults to the timeout; the URL is named with its credentials as ***."""
    import time

    srv = raw_server(lambda req, n: trickle(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 33 + b"\r\n", b"\r\n"))
    url = srv.url + "/f.bin?token=S3cretTok"
    began = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "f.bin", timeout=0.5, retries=1, backoff=0, progress=False)
    assert time.monotonic() - began < 3
    host = srv.url.split("//", 1)[1]
    assert str(err.value) == (f"{srv.url}/f.bin?token=***: download failed after 1 retries without progress (no "
                              f"response headers from {host} within 0.5 s); nothing was kept; the next run starts "
                              "from byte 0")
    assert len(srv.requests) == 2 and not list(tmp_path.iterdir()) and not watchdogs()


@pytest.mark.parametrize("kind", [None, "hub", "plain"])
def test_a_chunk_size_line_trickled_in_is_cut_at_the_rate_floor_and_resumed(raw_server, tmp_path, caplog, kind):
    """read1 returns only once a chunk's size line is whole: a server that sends it one '0' every 0.1 s keeps the
    read blocked, never long enough for the 2 s timeout, and the rate floor, checked between reads, sees nothing
    until the line ends (here after 4 s; a hostile server: never). The watchdog cuts the read when the floor is
    broken, with any session (a caller's own too: the body's socket is the response's); the attempt is retried
    from the bytes that came (a size line of zeros cut short would otherwise read as the last chunk)."""
    import time

    first = trickle(answer("200 OK", {"Transfer-Encoding": "chunked", "ETag": '"v1"'}, chunk(BODY[:100])),
                    b"0" * 40, b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY) - 100, BODY[100:]))
    srv = raw_server(then_whole(first, ETag='"v1"'))
    began = time.monotonic()
    with caplog.at_level("WARNING"):
        out = download(srv.url + "/f.bin", tmp_path / "f.bin", timeout=2, min_rate=1000, rate_window=0.3,
                       backoff=0, session=session_of(kind, srv.url), progress=False)
    assert out.read_bytes() == BODY and srv.ranges == [None, "bytes=100-"]
    assert time.monotonic() - began < 2
    assert ("f.bin: the server sent only 100 bytes in 0.3 s, under the floor of 1000 bytes/s (min_rate); "
            "resuming at byte 100") in caplog.text
    assert not watchdogs()


def test_without_a_rate_floor_a_read_that_brings_nothing_for_the_timeout_is_cut(raw_server, tmp_path):
    import time

    first = trickle(answer("200 OK", {"Transfer-Encoding": "chunked"}, chunk(BODY[:100])), b"0" * 40, b"\r\n")
    srv = raw_server(lambda req, n: first if n == 0 else answer("200 OK", {"Content-Length": len(BODY)}, BODY))
    began = time.monotonic()
    with pytest.raises(DownloadError, match=r"f\.bin: download failed after 0 retries without progress \(the "
                                            r"server sent no bytes of the body for 0\.5 s, the timeout\)"):
        download(srv.url + "/f.bin", tmp_path / "f.bin", timeout=0.5, min_rate=0, retries=0, progress=False)
    assert time.monotonic() - began < 2 and not list(tmp_path.iterdir()) and not watchdogs()


def test_the_watchdog_spares_healthy_transfers_and_leaves_no_thread_behind(server, tmp_path):
    """1 MiB at once, and 256 KiB paced over a dozen windows of 0.02 s (~2 MB/s against a floor of 100 KB/s),
    each read under the watchdog, with a 0.3 s header bound: nothing is cut, nothing retried."""
    server.serve("/paced.bin", PAYLOAD[:256 << 10], chunk=16 << 10, delay=0.008)
    for i in range(3):
        for name, body in (("file.bin", PAYLOAD), ("paced.bin", PAYLOAD[:256 << 10])):
            out = download(f"{server.url}/{name}", tmp_path / f"{i}-{name}", timeout=0.3, header_timeout=0.3,
                           min_rate=100_000, rate_window=0.02, retries=0, chunk=4096, progress=False)
            assert out.read_bytes() == body
    assert len(server.requests) == 6 and not watchdogs()


# ------------------------------------------------------------------------------ an HTML page served for a file

PAGE = b"<!DOCTYPE html>\n<html><head><title>Download quota exceeded</title></head><body>Try later</body></html>\n"
HTML_REFUSED = (r"corpus\.txt: expected the file the URL names; got an HTML page \(Content-Type text/html, titled "
                r"'Download quota exceeded'\), not the file: a login, cookie-consent, download-quota or error page\? "
                r"nothing was kept")


def test_an_html_page_served_for_a_data_file_is_refused_by_name_and_nothing_is_kept(server, tmp_path):
    """A login wall, a consent or quota page answered with 200 text/html for corpus.txt is no corpus: refused at
    once (not retried, it is not transient), before anything is written, with or without a pin (a sha256 would
    catch it as a bare mismatch, a size pin as a length that differs: the page is named first)."""
    route = server.serve("/corpus.txt", PAGE, headers={"Content-Type": "text/html; charset=utf-8", "ETag": '"p"'})
    for pins in ({}, {"sha256": "0" * 64}, {"size": 10}, {"size": 10 << 20}, {"max_size": 10}):
        n = len(server.requests)
        with pytest.raises(InputError, match=rf"^{re.escape(server.url)}/{HTML_REFUSED} \(download\(html_ok=True\) "
                                             r"accepts an HTML file\)$"):
            download(server.url + "/corpus.txt", tmp_path / "corpus.txt", progress=False, backoff=0, **pins)
        assert len(server.requests) == n + 1, pins  # asked once
        assert not list(tmp_path.iterdir()), pins  # no file, no .part, no .part.version, no lock
    # a partial corpus left by an earlier run is dropped too (a 200 to its Range is a fresh start: the page)
    (tmp_path / "corpus.txt.part").write_bytes(b"the first line\n")
    (tmp_path / "corpus.txt.part.version").write_text('"old"')
    with pytest.raises(InputError, match=HTML_REFUSED):
        download(server.url + "/corpus.txt", tmp_path / "corpus.txt", progress=False)
    assert not list(tmp_path.iterdir())
    # credentials in the URL are named as *** here too, and the page's words that echo them
    route.body = PAGE.replace(b"Download quota exceeded", b"Bad key s3cretKey99")
    with pytest.raises(InputError, match=r"titled 'Bad key \*\*\*'") as err:
        download(server.url + "/corpus.txt?key=s3cretKey99", tmp_path / "corpus.txt", progress=False)
    assert "s3cretKey99" not in str(err.value) and "?key=***" in str(err.value)


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf \r\n\t<HTML lang='en'><p>Sign in</p>", b"<head><title>x</title>",
                                  b"\n\n<body onload='x()'>Accept cookies", b"<!doctype   html><p>moved</p>",
                                  b"<html>"],
                         ids=["bom-space-upper", "head", "body", "doctype-spaces", "only-a-tag"])
@pytest.mark.parametrize("media", ["text/html", "application/xhtml+xml", "TEXT/HTML; charset=iso-8859-1"])
def test_every_start_of_a_page_is_told_in_either_media_type_and_any_spelling(server, tmp_path, body, media):
    server.serve("/words.txt", body, headers={"Content-Type": media})
    with pytest.raises(InputError, match=r"words\.txt: expected the file the URL names; got an HTML page"):
        download(server.url + "/words.txt", tmp_path / "words.txt", progress=False)
    assert not list(tmp_path.iterdir())


def test_a_page_that_trickles_in_byte_by_byte_is_told_across_the_reads(server, tmp_path):
    server.serve("/dict.tsv", b"   <!DOCTYPE html><html>" + b"x" * 5000, chunk=1,
                 headers={"Content-Type": "text/html"})
    with pytest.raises(InputError, match=r"dict\.tsv: expected the file the URL names; got an HTML page .*starting "
                                         r"'<!DOCTYPE html>"):  # told as soon as the doctype is whole
        download(server.url + "/dict.tsv", tmp_path / "dict.tsv", progress=False)
    assert not list(tmp_path.iterdir())
    # a tag that only begins like one: '<head' goes on as '<header>', one byte at a time
    server.serve("/notes.txt", b"<header>" + b"y" * 3000, chunk=1, headers={"Content-Type": "text/html"})
    assert download(server.url + "/notes.txt", tmp_path / "notes.txt", progress=False).read_bytes() == \
        b"<header>" + b"y" * 3000


def test_what_is_no_html_page_for_a_file_is_taken_as_it_is(server, tmp_path):
    """The guard needs all three: an HTML Content-Type, a URL not naming a page, a body that starts like one."""
    # a text file that happens to start with <html>, served as text/plain (or with no type): the file
    for name, headers in (("plain.txt", {"Content-Type": "text/plain"}), ("none.txt", {})):
        server.serve(f"/{name}", PAGE, headers=headers)
        assert download(server.url + f"/{name}", tmp_path / name, progress=False).read_bytes() == PAGE
    # a page asked for as one
    for name in ("page.html", "INDEX.HTM"):
        server.serve(f"/docs/{name}", PAGE, headers={"Content-Type": "text/html"})
        assert download(server.url + f"/docs/{name}?v=2", tmp_path / name, progress=False).read_bytes() == PAGE
    # a mislabelled file: text/html for what is no page, kept whole (the sniffed start written first), any size
    for name, body in (("conllu.txt", b"# sent_id = 1\n1\tThe\tthe\tDET\n" * 2), ("big.bin", PAYLOAD),
                       ("empty.txt", b""), ("spaces.txt", b" " * 5000 + b"<html>")):
        server.serve(f"/{name}", body, headers={"Content-Type": "text/html"})
        out = download(server.url + f"/{name}", tmp_path / name, progress=False,
                       sha256=hashlib.sha256(body).hexdigest())
        assert out.read_bytes() == body, name
    # and html_ok=True for a caller that wants the page
    server.serve("/wall.txt", PAGE, headers={"Content-Type": "text/html"})
    assert download(server.url + "/wall.txt", tmp_path / "wall.txt", progress=False, html_ok=True).read_bytes() == PAGE
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", lambda b: __import__("gzip").compress(b)), ("x-gzip", lambda b: __import__("gzip").compress(b)),
    ("deflate", lambda b: __import__("zlib").compress(b)), ("Deflate", lambda b: __import__("zlib").compress(b)[2:-4]),
], ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"])
def test_an_html_page_sent_encoded_is_refused_as_the_plain_one_is(raw_server, tmp_path, encoding, encode):
    """A server may gzip its login page though the client asks for identity: the page is told by what its first
    bytes decode to, and refused in the same words, before anything is written."""
    wire = encode(PAGE)
    srv = raw_server(lambda req, n: answer("200 OK", {"Content-Type": "text/html; charset=utf-8", "Content-Length":
                                                      len(wire), "Content-Encoding": encoding}, wire))
    with pytest.raises(InputError, match=rf"^{re.escape(srv.url)}/{HTML_REFUSED} \(download\(html_ok=True\) "
                                         r"accepts an HTML file\)$"):
        download(srv.url + "/corpus.txt", tmp_path / "corpus.txt", progress=False, backoff=0)
    assert len(srv.requests) == 1 and not list(tmp_path.iterdir())


def test_an_encoded_file_labelled_text_html_that_is_no_page_is_kept_as_sent(raw_server, tmp_path):
    """The decoded start decides; the bytes sent are what is saved: gzipped data, a gzip whose first 1 KiB decoded
    is spaces (10 MiB of them: no more than that is decoded), a broken stream, and a page sent in pieces."""
    import gzip

    bodies = {"data.gz": gzip.compress(BODY * 64), "spaces.gz": gzip.compress(b" " * (10 << 20) + PAGE),
              "broken.gz": b"\x1f\x8b" + bytes(100), "slow-page.gz": gzip.compress(PAGE)}
    for name, wire in bodies.items():
        headers = {"Content-Type": "text/html", "Content-Encoding": "gzip", "Content-Length": len(wire)}
        if name.startswith("slow"):
            srv = raw_server(lambda req, n, w=wire, h=headers: [answer("200 OK", h, w[:15]), w[15:]])
            with pytest.raises(InputError, match=HTML_REFUSED):
                download(srv.url + "/corpus.txt", tmp_path / name, progress=False)
            continue
        srv = raw_server(lambda req, n, w=wire, h=headers: answer("200 OK", h, w))
        assert download(srv.url + f"/{name}", tmp_path / name, progress=False).read_bytes() == wire, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gz", "data.gz", "spaces.gz"]


def test_a_resumed_transfer_local_paths_and_fsspec_files_are_not_looked_at(server, tmp_path):
    """A 206 continues a file whose start was already taken (it does not start the body), and a local or fsspec
    source has no Content-Type: the guard is for HTTP answers of 200 alone."""
    import fsspec

    notes = b"an example page:\n" + PAGE  # the tail a resume asks for starts like a page; the file does not
    server.serve("/c.txt", notes, headers={"Content-Type": "text/html", "ETag": '"v1"'})
    (tmp_path / "c.txt.part").write_bytes(notes[:17])
    (tmp_path / "c.txt.part.version").write_text('"v1"')
    assert download(server.url + "/c.txt", tmp_path / "c.txt", progress=False).read_bytes() == notes
    assert ranges(server)[-1] == "bytes=17-"
    # a cut after the sniffed start is resumed with 206 the same way, within one call
    server.serve("/d.txt", b"# not a page\n" + PAYLOAD, headers={"Content-Type": "text/html", "ETag": '"v1"'},
                 cut_after=300_000, cuts=1)
    assert download(server.url + "/d.txt", tmp_path / "d.txt", progress=False, backoff=0).read_bytes() == \
        b"# not a page\n" + PAYLOAD
    assert ranges(server)[-2:] == [None, "bytes=300000-"]
    local = tmp_path / "local.txt"
    local.write_bytes(PAGE)
    assert download(str(local), tmp_path / "l.txt", progress=False).read_bytes() == PAGE
    assert download(local.as_uri(), tmp_path / "u.txt", progress=False).read_bytes() == PAGE
    fs = fsspec.filesystem("memory")
    fs.pipe("/html-guard/page.txt", PAGE)
    assert download("/html-guard/page.txt", tmp_path / "m.txt", fs=fs, progress=False).read_bytes() == PAGE
    fs.rm("/html-guard/page.txt")


@pytest.mark.parametrize("head, ended, verdict", [
    (b"", False, None), (b"   \n", False, None), (b"<", False, None), (b"<!DOC", False, None),
    (b"<!doctype ", False, None), (b"<!doctype h", False, None), (b"<!doctype html", False, None),
    (b"<!doctype html>", False, True), (b"<htm", False, None), (b"<head", False, None), (b"<head>", False, True),
    (b"<header>", False, False), (b"<!doctypex", False, False), (b"<!doctype xml", False, False),
    (b"<?xml version='1.0'?>", False, False), (b"{\"a\": 1}", False, False), (b"<head", True, True),
    (b"<!doctype", True, False), (b"   ", True, False), (b"\xef\xbb\xbf<body>", False, True),
    (b"<html:svg>", False, False), (b"<html-like>", False, False),
])
def test_the_start_of_a_page_is_told_from_a_few_bytes(head, ended, verdict):
    from pipeline.download.sniff import _html_start

    assert _html_start(head, ended) is verdict


# ------------------------------------------------------------------------------ max_size: a bound, not a pin


def test_max_size_bounds_a_file_whose_size_is_not_pinned(server, tmp_path):
    # announced longer: refused before the body is read
    with pytest.raises(InputError, match=rf"file\.bin: expected at most 1000 bytes \(max_size\); the server "
                                         rf"announces {len(PAYLOAD)}; nothing was kept$"):
        download(server.url + "/file.bin", tmp_path / "f.bin", max_size=1000, progress=False)
    assert not list(tmp_path.iterdir())
    # no length announced (the close ends the body), endless, chunked: cut at the bound and refused
    server.serve("/endless.json", b"[" * 4096, endless=True)
    server.serve("/nolength.json", PAYLOAD, length=False)
    for name in ("endless.json", "nolength.json"):
        with pytest.raises(InputError, match=rf"{name}: expected at most 100000 bytes \(max_size\); the source "
                                             r"holds more; nothing was kept$"):
            download(server.url + f"/{name}", tmp_path / name, max_size=100_000, progress=False, backoff=0)
        assert not list(tmp_path.iterdir()), name
    # within the bound (up to it exactly): kept, whatever its length
    for bound in (len(PAYLOAD), len(PAYLOAD) + 1, 10 << 30):
        out = download(server.url + "/file.bin", tmp_path / f"{bound}.bin", max_size=bound, progress=False)
        assert out.read_bytes() == PAYLOAD
    # an existing file over the bound is no file to keep: fetched again, and refused
    (tmp_path / "old.bin").write_bytes(PAYLOAD)
    with pytest.raises(InputError, match=r"at most 100 bytes \(max_size\)"):
        download(server.url + "/file.bin", tmp_path / "old.bin", max_size=100, progress=False)
    assert not (tmp_path / "old.bin").exists()
    # a resumed partial file longer than the bound starts again (and the whole file is then refused)
    server.file.headers["ETag"] = '"v1"'
    (tmp_path / "p.bin.part").write_bytes(PAYLOAD[:5000])
    (tmp_path / "p.bin.part.version").write_text('"v1"')
    with pytest.raises(InputError, match=r"at most 4000 bytes \(max_size\); the server announces"):
        download(server.url + "/file.bin", tmp_path / "p.bin", max_size=4000, progress=False)
    assert ranges(server)[-1] is None and not list(tmp_path.glob("p.bin*"))


def test_max_size_with_a_206_and_with_a_size_pin(server, tmp_path):
    # a resume whose Content-Range names a whole file longer than the bound: refused before the body is read
    server.file.headers["ETag"] = '"v1"'
    (tmp_path / "r.bin.part").write_bytes(PAYLOAD[:1000])
    (tmp_path / "r.bin.part.version").write_text('"v1"')
    with pytest.raises(InputError, match=rf"at most 2000 bytes \(max_size\); the server announces {len(PAYLOAD)}"):
        download(server.url + "/file.bin", tmp_path / "r.bin", max_size=2000, progress=False)
    assert ranges(server)[-1] == "bytes=1000-" and not list(tmp_path.glob("r.bin*"))
    # beside a size pin within it the pin decides; a pin over it can never be met: refused before any request
    out = download(server.url + "/file.bin", tmp_path / "s.bin", size=len(PAYLOAD), max_size=len(PAYLOAD),
                   progress=False)
    assert out.read_bytes() == PAYLOAD
    n = len(server.requests)
    with pytest.raises(InputError, match=r"expected at most 10 bytes \(max_size\); the expected size is 11; "
                                         r"nothing was fetched"):
        download(server.url + "/file.bin", tmp_path / "t.bin", size=11, max_size=10, progress=False)
    assert len(server.requests) == n
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(InputError, match="a max_size of a non-negative integer number of bytes"):
            download(server.url + "/file.bin", tmp_path / "t.bin", max_size=bad, progress=False)
    assert len(server.requests) == n and not list(tmp_path.glob("t.bin*"))


def test_max_size_bounds_local_and_fsspec_sources_too(tmp_path):
    import fsspec

    local = tmp_path / "local.json"
    local.write_bytes(b"x" * 100)
    with pytest.raises(InputError, match=r"local\.json: expected at most 99 bytes \(max_size\); the source holds "
                                         r"more; nothing was kept"):
        download(str(local), tmp_path / "l.json", max_size=99, progress=False)
    assert download(str(local), tmp_path / "l.json", max_size=100, progress=False).read_bytes() == b"x" * 100
    fs = fsspec.filesystem("memory")
    fs.pipe("/max-size/f.json", b"y" * 100)
    try:
        with pytest.raises(InputError, match=r"expected at most 50 bytes \(max_size\); the store holds 100; "
                                             r"nothing was kept"):
            download("/max-size/f.json", tmp_path / "m.json", fs=fs, max_size=50, progress=False)
        assert not list(tmp_path.glob("m.json*"))
        assert download("/max-size/f.json", tmp_path / "m.json", fs=fs, max_size=100, progress=False).read_bytes() \
            == b"y" * 100
    finally:
        fs.rm("/max-size/f.json")


# ------------------------------------------------------------------------------ the disk is not filled


def test_an_endless_body_stops_before_the_disk_is_full_and_nothing_is_kept(server, tmp_path, monkeypatch):
    """With no size and no max_size, an endless answer wrote until the disk was full (ENOSPC, the other stages and
    workers on that disk failing too) and left its partial file there. Now it stops while MIN_FREE is left."""
    import pipeline.download.files as dl

    room = 3 * dl._FREE_EVERY  # what the disk can take above MIN_FREE, simulated: free space falls as bytes land
    server.serve("/endless.bin", b"x" * (room + 2 * dl._FREE_EVERY), length=False)  # (finite: a broken check fails)
    monkeypatch.setattr(dl, "_free_bytes", lambda fh: dl.MIN_FREE + room - fh.tell())
    with pytest.raises(DownloadError, match=rf"endless\.bin: the download stopped at (\d+) bytes: the file system of "
                                            rf"{re.escape(str(tmp_path))} has \d+ MiB free, and a download leaves at "
                                            r"least 128 MiB free \(pipeline\.download\.MIN_FREE\); nothing was kept$"
                       ) as err:
        download(server.url + "/endless.bin", tmp_path / "e.bin", progress=False, backoff=0)
    stopped = int(re.search(r"stopped at (\d+)", str(err.value)).group(1))
    assert room - 2 * dl._FREE_EVERY <= stopped <= room  # stopped in time, not at the first look
    assert not list(tmp_path.iterdir())
    # a file that fits is fetched as before, the free space looked at as it goes
    assert download(server.url + "/file.bin", tmp_path / "f.bin", progress=False).read_bytes() == PAYLOAD


def test_no_space_left_on_the_device_is_said_plainly_and_leaves_no_partial_file(server, tmp_path, monkeypatch):
    import errno

    import pipeline.download.transport as dl

    real_open = dl._open_part

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(dl, "_open_part", lambda part, append: Full(real_open(part, append)))
    with pytest.raises(DownloadError, match=r"file\.bin: the download stopped: the file system of .* has no space "
                                            r"left, .*; nothing was kept$"):
        download(server.url + "/file.bin", tmp_path / "f.bin", progress=False, backoff=0)
    assert not list(tmp_path.iterdir())


def test_a_file_system_that_reports_no_blocks_is_not_bounded(server, tmp_path, monkeypatch):
    """Some FUSE and network file systems report 0 blocks and 0 free: no download could have been made there."""
    import os

    import pipeline.download.files as dl

    real = os.fstatvfs

    class NoBlocks:
        def __init__(self, st):
            self.f_bavail, self.f_frsize, self.f_blocks = 0, st.f_frsize, 0

    monkeypatch.setattr(dl.os, "fstatvfs", lambda fd: NoBlocks(real(fd)))
    assert download(server.url + "/file.bin", tmp_path / "f.bin", progress=False).read_bytes() == PAYLOAD
