"""The downloader against a real HTTP server on loopback that supports Range requests."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.download import DownloadError, cached_download, download
from pipeline.errors import InputError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Server:
    """Serves PAYLOAD at /file.bin; can cut the first N responses short and count requests."""

    def __init__(self):
        self.cut_after = None  # bytes sent before dropping the connection
        self.cuts_left = 0
        self.requests = []
        self.ignore_range = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.headers.get("Range"))
                if self.path != "/file.bin":
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cuts_left > 0:
                    outer.cuts_left -= 1
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # connection cut mid-file
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


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
    server.cut_after, server.cuts_left = 300_000, 2
    out = download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False, retries=3)
    assert out.read_bytes() == PAYLOAD
    assert server.requests[0] is None
    assert server.requests[1] == "bytes=300000-" and server.requests[2] == "bytes=600000-"


def test_partial_file_from_a_killed_run_is_resumed(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:12345])
    download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert server.requests == ["bytes=12345-"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"garbage")
    download(server.url + "/file.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_corrupted_file_is_rejected_and_nothing_kept(server, tmp_path):
    with pytest.raises(InputError, match="sha256"):
        download(server.url + "/file.bin", tmp_path / "f.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_missing_file_and_network_failure(server, tmp_path):
    with pytest.raises(InputError, match="HTTP 404"):
        download(server.url + "/nope.bin", tmp_path / "n.bin", progress=False)
    server.cut_after, server.cuts_left = 1000, 10
    with pytest.raises(DownloadError, match="kept"):
        download(server.url + "/file.bin", tmp_path / "f.bin", progress=False, retries=1)
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 2000  # the next run resumes from here


def test_cached_download_and_local_paths(server, tmp_path):
    a = cached_download(server.url + "/file.bin", tmp_path / "cache", progress=False)
    b = cached_download(server.url + "/file.bin", tmp_path / "cache", progress=False)
    assert a == b and a.read_bytes() == PAYLOAD and len(server.requests) == 1
    local = tmp_path / "local.txt"
    local.write_text("x")
    assert download(f"file://{local}", tmp_path / "copy.txt", progress=False).read_text() == "x"
    with pytest.raises(InputError, match="no such file"):
        download(str(tmp_path / "absent"), tmp_path / "y", progress=False)


def test_gunzip_cached(tmp_path):
    import gzip

    from pipeline.download import gunzip_cached

    data = bytes(range(256)) * 100
    gz = tmp_path / "cc.xx.300.bin.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(data)
    out = gunzip_cached(gz)
    assert out == tmp_path / "cc.xx.300.bin" and out.read_bytes() == data
    assert gunzip_cached(gz) == out  # once
    plain = tmp_path / "v.vec.gz"
    plain.write_bytes(b"")
    assert gunzip_cached(plain) == plain  # gensim reads .vec.gz itself
    bad = tmp_path / "bad.bin.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="gzip"):
        gunzip_cached(bad)
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()
