"""Helpers of the operations tests: a tiny project on disk, and a Range-capable HTTP server over a folder."""
from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python"

SPEC = """\
corpora: [lee_a, lee_b]
slicing: {by: corpus}
cade: {vector_size: 8, window: 3, negative: 3, min_count: 3, compass_epochs: 1, slice_epochs: 1}
report: {min_freq: 3, top_n: 5, seeds: [1], words: [government], plot_words: 0, k_neighbours: 5}
"""


def write_corpus(root: Path, name: str, lines: list[str], licence: str = "test") -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: en\nlicence: {licence}\n"
                                   f"source: gensim lee_background.cor\nfiles: '*.txt'\n")
    half = len(lines) // 2
    (d / "part1.txt").write_text("\n".join(lines[:half]) + "\n")
    (d / "part2.txt").write_text("\n".join(lines[half:]) + "\n")


def make_project(root: Path, n_lines: int = 150) -> Path:
    """A project folder with two tiny corpora (real text: gensim's Lee corpus) and one diachronic spec."""
    from gensim.test.utils import datapath

    (root / "tasks" / "diachronic").mkdir(parents=True)
    (root / "tasks" / "diachronic" / "toy.yaml").write_text(SPEC)
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[:n_lines]
    write_corpus(root / "corpora", "lee_a", lines[: len(lines) // 2], licence="CC-BY-4.0")
    write_corpus(root / "corpora", "lee_b", lines[len(lines) // 2:], licence="Public domain")
    return root


def env_for(project: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOLINGUA_")}
    env.update({"CHRONOLINGUA_HOME": str(project), "PYTHONPATH": str(REPO), **extra})
    return env


class FolderServer:
    """Serves a folder over HTTP with Range support.

    ``cut[path] = (n_bytes, times)`` drops the connection after ``n_bytes`` of
    the body for the next ``times`` responses; ``corrupt`` is a set of paths
    whose bytes are served with one byte flipped; ``ignore_range`` makes it
    answer 200 with the whole file; ``requests`` logs ``(path, Range header)``.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.cut: dict[str, tuple[int, int]] = {}
        self.corrupt: set[str] = set()
        self.ignore_range = False  # a server that answers every request with the whole file
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                f = outer.root / self.path.lstrip("/")
                if ".." in self.path or not f.is_file():
                    self.send_error(404)
                    return
                data = f.read_bytes()
                if self.path in outer.corrupt:
                    mid = len(data) // 2
                    data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
                start = 0
                rng = self.headers.get("Range")
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n, times = outer.cut.get(self.path, (0, 0))
                if times > 0:
                    outer.cut[self.path] = (n, times - 1)
                    self.wfile.write(body[:n])
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
