"""The one downloader: streaming, resumable (HTTP Range), checksummed, atomic.

Every stage that fetches a model, corpus, vector file or artifact goes
through :func:`download`. A download is streamed to ``<dest>.part`` (never to
the final name), resumed from the partial file's size with an HTTP ``Range``
request after a cut connection or a killed run, checked against an expected
sha256 when one is given, and only then renamed into place. Local paths and
``file://`` URLs are copied the same way.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.txt").write_text("hello")
>>> download(str(d / "a.txt"), d / "b.txt", progress=False).read_text()
'hello'
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from .errors import InputError, PipelineError
from .identity import file_sha256

log = logging.getLogger(__name__)

__all__ = ["DownloadError", "download", "is_url", "cached_download", "gunzip_cached"]


class DownloadError(PipelineError):
    """The network failed for good (after retries); the partial file is kept for a later resume."""


def is_url(location: str) -> bool:
    return urlparse(str(location)).scheme in ("http", "https", "file")


def _bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not enabled or not sys.stderr.isatty(), leave=False)


def _fetch_http(url: str, part: Path, *, retries: int, timeout: float, chunk: int, progress: bool,
                session=None) -> None:
    import requests

    http = session or requests.Session()
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        # identity encoding: Range offsets must count the bytes that land on disk
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
        try:
            with http.get(url, headers=headers, stream=True, timeout=timeout) as r:
                if r.status_code == 416 and offset:  # nothing left to fetch: the partial file is whole
                    return
                if r.status_code in (401, 403, 404, 410):
                    raise InputError(url, "a URL that serves the file", f"HTTP {r.status_code} {r.reason}")
                r.raise_for_status()
                if r.status_code == 206:
                    mode = "ab"
                    rng = r.headers.get("Content-Range", "")
                    total = int(rng.rsplit("/", 1)[-1]) if "/" in rng and not rng.endswith("*") else None
                else:  # 200: the server ignored the Range header; start again
                    mode, offset = "wb", 0
                    total = int(r.headers["Content-Length"]) if "Content-Length" in r.headers else None
                # read the raw stream without urllib3's length check, so the bytes that did arrive
                # before a cut are written (and resumed from) instead of being dropped
                r.raw.enforce_content_length = False
                with open(part, mode) as fh, _bar(total, offset, part.name[:-5], progress) as bar:
                    while block := r.raw.read(chunk):
                        fh.write(block)
                        bar.update(len(block))
                size = part.stat().st_size
                if total is not None and size < total:
                    raise requests.ConnectionError(f"connection closed at {size} of {total} bytes")
                return
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{url}: download failed after {retries} retries ({exc}); "
                                    f"{part} is kept and the next run resumes from it") from None
            wait = min(30.0, 0.5 * 2 ** (attempt - 1))
            log.warning("%s: %s; resuming in %.1fs (attempt %d of %d)", url, exc, wait, attempt, retries)
            time.sleep(wait)


def download(url: str, dest: str | Path, *, sha256: str | None = None, retries: int = 5, timeout: float = 60.0,
             chunk: int = 1 << 20, progress: bool = True, session=None) -> Path:
    """Fetch ``url`` (http(s), file:// or a local path) to ``dest`` atomically and return ``dest``.

    An existing ``dest`` is kept when it matches ``sha256`` (or when no
    checksum is given). A checksum mismatch removes the downloaded file and
    raises :class:`InputError` naming the URL, the expected and the found hash.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if sha256 is None or file_sha256(dest) == sha256.lower():
            return dest
        log.warning("%s: checksum differs from the expected one; fetching again", dest)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    scheme = urlparse(str(url)).scheme
    if scheme in ("http", "https"):
        _fetch_http(str(url), part, retries=retries, timeout=timeout, chunk=chunk, progress=progress,
                    session=session)
    else:
        src = Path(urlparse(str(url)).path if scheme == "file" else str(url))
        if not src.is_file():
            raise InputError(src, "a file to fetch", "no such file")
        shutil.copyfile(src, part)
    if sha256 is not None:
        found = file_sha256(part)
        if found != sha256.lower():
            part.unlink()
            raise InputError(url, f"content with sha256 {sha256.lower()}", f"found {found}; nothing was kept")
    os.replace(part, dest)
    return dest


def cached_download(url: str, cache_dir: str | Path, *, sha256: str | None = None, **kwargs) -> Path:
    """:func:`download` into a cache folder, under a name derived from the URL (same URL, same file)."""
    name = Path(urlparse(str(url)).path).name or "download"
    key = hashlib.sha256(str(url).encode("utf-8")).hexdigest()[:12]
    return download(url, Path(cache_dir) / f"{key}-{name}", sha256=sha256, **kwargs)


def gunzip_cached(path: str | Path) -> Path:
    """``x.bin.gz`` -> ``x.bin`` beside it (atomically, once); other paths come back unchanged.

    fastText publishes ``cc.xx.300.bin.gz``; fastText itself reads only the
    plain ``.bin``. A corrupt archive raises :class:`InputError` naming it.
    """
    import gzip

    path = Path(path)
    if not path.name.endswith(".gz") or path.name.endswith((".vec.gz", ".txt.gz")):
        return path
    out = path.with_name(path.name[:-3])
    if out.exists():
        return out
    tmp = out.with_name(out.name + ".part")
    try:
        with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    except (OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(path, "a gzip archive", str(exc)) from None
    os.replace(tmp, out)
    return out
