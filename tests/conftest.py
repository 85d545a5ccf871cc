"""Shared fixtures: a scriptable HTTP server on loopback (``loopback_server``).

The server plays any web server a store or a model hub may be: it serves
bytes set per path (with or without ``Content-Length``, honouring or ignoring
``Range`` and ``If-Range``), bodies that never end, connections cut after some bytes, slow
bodies, any status code, and a folder on disk as a fallback (``root``: a path
without a route answers with the file under it). It logs every request as
``(path, Range header)``; ``paths`` lists the paths alone.

    def test_x(loopback_server, tmp_path):
        loopback_server.serve("/manifest.json", b"{...}")
        loopback_server.serve("/big.bin", endless=True)
        loopback_server.root = tmp_path / "store"  # any other path: a file of this folder
        requests.get(loopback_server.url + "/manifest.json")
        assert loopback_server.paths == ["/manifest.json"]
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest


@dataclass
class Route:
    """What one path answers. ``sent`` counts the body bytes written to clients so far."""

    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    length: bool | int = True  # True: the true Content-Length; False: none (the close ends the body); int: a lie
    ranges: bool = True  # answer ``Range: bytes=N-`` with 206 (False: 200 with the whole body)
    if_range: bool = True  # honour ``If-Range``: a Range whose If-Range is not this ETag gets the whole body
    endless: bool = False  # repeat ``body`` (or zeros) until the client goes away, up to ``cap`` bytes
    cap: int = 64 << 20
    cut_after: int = 0  # for the next ``cuts`` responses: send this many body bytes, then drop the connection
    cuts: int = 0
    delay: float = 0.0  # seconds between chunks of ``chunk`` bytes (a slow server)
    chunk: int = 1 << 16
    sent: int = 0


class LoopbackServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread; see the module docstring."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else None
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                with outer.lock:
                    outer.requests.append((path, self.headers.get("Range")))
                route = outer.routes.get(path) or outer._from_root(path)
                if route is None:
                    self.send_error(404)
                    return
                outer._answer(self, route)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes = b"", **options) -> Route:
        """Answer GET ``path`` with ``body`` (options: the fields of :class:`Route`); return the route."""
        route = Route(body=body, **options)
        self.routes[path] = route
        return route

    @property
    def paths(self) -> list[str]:
        """Every path requested so far, in order."""
        with self.lock:
            return [p for p, _ in self.requests]

    def _from_root(self, path: str) -> Route | None:
        if self.root is None or ".." in path.split("/"):
            return None
        f = self.root / path.lstrip("/")
        return Route(body=f.read_bytes()) if f.is_file() else None

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, route: Route) -> None:
        data = route.body
        start = 0
        rng = handler.headers.get("Range")
        since = handler.headers.get("If-Range")
        if rng and since is not None and route.if_range and since != route.headers.get("ETag"):
            rng = None  # the file changed since the client's copy began: the whole file
        if route.endless:
            handler.send_response(route.status)
        elif rng and route.ranges and route.status == 200:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(route.status)
        body = data[start:]
        for key, value in route.headers.items():
            handler.send_header(key, value)
        if route.length is not False and not route.endless:
            handler.send_header("Content-Length", str(len(body) if route.length is True else route.length))
        handler.end_headers()
        limit = route.cap if route.endless else len(body)
        if route.cuts > 0:
            route.cuts -= 1
            limit = min(limit, route.cut_after)
        block = (data or b"\0") * max(1, route.chunk // max(1, len(data))) if route.endless else b""
        sent = 0
        try:
            while sent < limit:
                piece = block[: limit - sent] if route.endless else body[sent: min(limit, sent + route.chunk)]
                handler.wfile.write(piece)
                sent += len(piece)
                if route.delay:
                    handler.wfile.flush()
                    time.sleep(route.delay)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a bounded client does with an endless body
        finally:
            route.sent += sent
        if limit < len(body) or route.endless:
            try:
                handler.connection.shutdown(2)  # a cut mid-file, or the end of an endless body
            except OSError:
                pass

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback_server():
    """A :class:`LoopbackServer` with no routes; closed after the test."""
    server = LoopbackServer()
    yield server
    server.close()
