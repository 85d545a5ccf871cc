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

    monkeypatch.setattr("pipeline.download._resolve", lambda host: RESOLVER.get(host, []))  # no DNS here

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
    from pipeline.download import _internal_host

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

    import pipeline.download as dl

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
