"""The one downloader: streaming, resumable (HTTP Range), bounded, checksummed, atomic.

Every stage that fetches a model, corpus, vector file or artifact goes
through :func:`download`. A download is streamed to ``<dest>.part`` (never to
the final name), resumed from the partial file's size with an HTTP ``Range``
request after a cut connection or a killed run, checked against an expected
sha256 when one is given, and only then renamed into place. A partial file
left by an earlier run is resumed only when its content can be checked: the
version it began (ETag or Last-Modified, kept in ``<dest>.part.version``) is
sent as ``If-Range``, or a sha256 pins the content. Local paths,
``file://`` URLs and fsspec files are copied the same way. Messages name a
URL with its credentials (user information, :data:`SECRET_PARAMETERS`) as ``***``.

What comes from elsewhere is not trusted: when the expected ``size`` is known
the client reads at most that many bytes and refuses a longer body, and
``max_size`` bounds a file whose exact size is not known the same way (an
endless ``config.json`` cannot fill the disk); an HTML page answered with 200
for a file that is no web page (a login wall, a cookie-consent or quota page)
is refused as such (:func:`_sniff_html`), never saved as the data; the retry
budget counts only attempts that brought no new bytes, and a hard cap bounds
all attempts; the partial file, the final file and the lock are never
written through a symbolic link or into a device. Redirects are vetted
before they are followed (:func:`redirect_guard`): at most
:data:`MAX_REDIRECTS`, to http(s) only, never from https down to plain http,
and never from a public host to a loopback, private or link-local address (an IP literal, or a name
that resolves to one); from a public origin, an answer whose connection's peer is internal is refused
before its body is read. Two processes fetching the same file wait for each other (an flock beside the
file). A server that trickles bytes cannot hold a download: a watchdog cuts the connection, even while a
read is blocked, when an answer's headers take longer than ``header_timeout`` (default: ``timeout``;
with the downloader's own session or one of :func:`http_session`) or the body falls under the rate floor,
and the attempt is retried as a stall. An HTML page sent gzip- or deflate-encoded is told by its decoded
start (what is saved stays as sent).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.txt").write_text("hello")
>>> download(str(d / "a.txt"), d / "b.txt", progress=False).read_text()
'hello'
>>> download(str(d / "a.txt"), d / "c.txt", size=3, progress=False)
Traceback (most recent call last):
...
pipeline.errors.InputError: ...a.txt: expected at most 3 bytes (the expected size); the source holds more; nothing was kept
>>> download(str(d / "a.txt"), d / "d.txt", max_size=4, progress=False)
Traceback (most recent call last):
...
pipeline.errors.InputError: ...a.txt: expected at most 4 bytes (max_size); the source holds more; nothing was kept
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from ..errors import InputError
from ..identity import file_sha256
from .common import SECRET_PARAMETERS, DownloadError, check_sha256, is_url, redact_url, scrubber  # noqa: F401
from .files import (MIN_FREE, _bound, _discard, _DiskFull, _open_part, _regular_or_absent, _size_of, _too_long,
                    _TooLong, _version_file, dest_lock)
from .guard import MAX_REDIRECTS, http_session, redirect_guard
from .sniff import HTML_TYPES  # noqa: F401
from .transport import _fetch_http
from .local import _fetch_fsspec, _fetch_local

log = logging.getLogger(__name__)

__all__ = ["DownloadError", "download", "is_url", "cached_download", "gunzip_cached", "dest_lock", "check_sha256",
           "http_session", "redirect_guard", "redact_url", "scrubber", "MAX_REDIRECTS", "MIN_FREE"]
# public too, though not in __all__: SECRET_PARAMETERS, HTML_TYPES


def download(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
             retries: int = 5, max_attempts: int | None = None, timeout: float = 60.0, chunk: int = 1 << 20,
             progress: bool = True, session=None, fs=None, label: str | None = None, lock: bool = True,
             backoff: float = 0.5, min_rate: float = 1024.0, rate_window: float | None = None,
             max_retry_after: float = 300.0, max_size: int | None = None, html_ok: bool = False,
             header_timeout: float | None = None) -> Path:
    """Fetch ``url`` (http(s), file://, a local path, or a path on the fsspec file system ``fs``) to ``dest``.

    Returns ``dest``. An existing ``dest`` is kept when it matches ``sha256``
    and ``size`` (or when neither is given). With ``size`` the transfer stops
    there and a longer source is refused; a shorter one is an error. A
    checksum mismatch removes the downloaded file and raises
    :class:`InputError` naming the URL, the expected and the found hash (a
    resumed partial file that does not verify is dropped and fetched once
    more from the start). A cut HTTP transfer is resumed with ``Range``;
    ``retries`` bounds the attempts in a row that added no bytes and
    ``max_attempts`` (default ``20 * (retries + 1)``) all attempts. A network
    failure raises :class:`DownloadError` and keeps ``<dest>.part`` for the
    next run. ``lock=False`` when the caller already holds :func:`dest_lock`.

    ``timeout`` bounds each wait for the server (connecting, or the next
    bytes); an HTTP attempt that brings fewer than ``min_rate`` bytes a
    second over ``rate_window`` seconds (default: ``timeout``) is given up and
    retried too (``min_rate=0``: no floor); an attempt that stalls so counts
    as progress only when it brought a whole ``chunk``. These are wall-clock
    bounds, kept by a watchdog that cuts the connection even while a read is
    blocked on a server that trickles bytes: an answer's status line and
    headers must come within ``header_timeout`` seconds (default: ``timeout``)
    of its request (with ``session=None`` or a session of
    :func:`http_session`; another session's adapter is not watched there), and
    a read of the body still waiting when the floor is broken (with no floor:
    after ``timeout`` seconds) is cut then; either is a stall, retried the
    same way. Between attempts the
    wait doubles from ``backoff`` (at most 30 s); a 429 or 503 with
    ``Retry-After`` (seconds or an HTTP-date) is waited out, unless it asks
    for more than ``max_retry_after`` seconds: then the download fails at
    once, naming what the server asked for.

    ``max_size`` (bytes; None: no bound) bounds a file whose exact size is not
    pinned: a body announcing more is refused before it is read, one that
    streams more is cut there and refused, and nothing is kept (an existing
    ``dest`` longer than it is fetched again). It does not pin the size: a
    shorter file is fine.

    Over http(s), an answer of 200 whose Content-Type is ``text/html`` or
    ``application/xhtml+xml`` for a URL whose path does not end ``.html`` or
    ``.htm`` and whose body starts like an HTML page (``<!doctype html``,
    ``<html``, ``<head``, ``<body``) is refused with an :class:`InputError`
    saying so, before anything is written (a login wall, a cookie-consent, a
    "quota exceeded" or a moved-file page stands where the file should be; with
    a ``sha256`` pin it would fail the check, less clearly); not retried,
    nothing kept. A file of text that starts with ``<html``, served as
    ``text/plain``, and a file labelled ``text/html`` that is no HTML page are
    taken as they are; ``html_ok=True`` accepts an HTML page too. A body sent
    with Content-Encoding gzip or deflate is told by its decoded start (and
    saved as sent). Resumed (206) transfers, local paths and fsspec files are
    not looked at.
    """
    where = label or redact_url(str(url))
    if sha256 is not None:
        sha256 = check_sha256(sha256, where)
    for name, value in (("size", size), ("max_size", max_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InputError(where, f"a {name} of a non-negative integer number of bytes", f"got {value!r:.80}")
    if size is not None and max_size is not None and size > max_size:
        raise InputError(where, f"at most {max_size} bytes (max_size)", f"the expected size is {size}; nothing "
                         "was fetched")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest_lock(dest) if lock else contextlib.nullcontext():
        return _download_locked(str(url), dest, where, sha256=sha256, size=size, retries=retries,
                                max_attempts=max_attempts or 20 * (retries + 1), timeout=timeout, chunk=chunk,
                                progress=progress, session=session, fs=fs, backoff=backoff, min_rate=min_rate,
                                rate_window=rate_window, max_retry_after=max_retry_after, max_size=max_size,
                                html_ok=html_ok, header_timeout=header_timeout)


def _download_locked(url: str, dest: Path, where: str, *, sha256, size, fs, max_size, **kw) -> Path:
    if _regular_or_absent(dest):
        have = os.lstat(dest).st_size
        if (size is None or have == size) and (max_size is None or have <= max_size) \
                and (sha256 is None or file_sha256(dest) == sha256):
            return dest
        log.warning("%s: content differs from the expected one; fetching again", dest)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    resumed = _size_of(part) > 0
    while True:
        try:
            _fetch(url, part, where, size=size, fs=fs, pinned=sha256 is not None, max_size=max_size, **kw)
        except _TooLong:
            _discard(part)
            raise _too_long(where, *_bound(size, max_size)) from None
        except InputError:
            _discard(part)
            raise
        except (_DiskFull, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            _discard(part)
            free = (f"{exc.free / 2**20:.0f} MiB free" if isinstance(exc, _DiskFull) and exc.free
                    else "no space left")
            at = f" at {exc.written} bytes" if isinstance(exc, _DiskFull) else ""
            raise DownloadError(f"{where}: the download stopped{at}: the file system of {part.parent} has {free}, "
                                f"and a download leaves at least {MIN_FREE >> 20} MiB free "
                                "(pipeline.download.MIN_FREE); nothing was kept") from None
        if not os.path.lexists(part):  # a 416 on an empty partial file: nothing was ever written
            _open_part(part, False).close()
        got = _size_of(part)
        if size is not None and got != size:
            _discard(part)
            raise InputError(where, f"{size} bytes (the expected size)", f"found {got}; nothing was kept")
        if sha256 is not None and (found := file_sha256(part)) != sha256:
            _discard(part)
            if resumed:  # a partial file left by a fetch of other content: start once from scratch
                log.warning("%s: resumed content did not verify; fetching %s again from the start", dest, where)
                resumed = False
                continue
            raise InputError(where, f"content with sha256 {sha256}", f"found {found}; nothing was kept")
        os.replace(part, dest)
        _discard(_version_file(part))
        return dest


def _fetch(url: str, part: Path, where: str, *, size, fs, pinned, retries, max_attempts, timeout, chunk,
           progress, session, backoff, min_rate, rate_window, max_retry_after, max_size, html_ok,
           header_timeout) -> None:
    if fs is not None:
        return _fetch_fsspec(fs, url, where, part, size, chunk, progress, max_size)
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        return _fetch_http(url, part, where=where, pinned=pinned, size=size, retries=retries,
                           max_attempts=max_attempts, timeout=timeout, chunk=chunk, progress=progress,
                           backoff=backoff, session=session, min_rate=min_rate, rate_window=rate_window,
                           max_retry_after=max_retry_after, max_size=max_size, html_ok=html_ok,
                           header_timeout=header_timeout)
    return _fetch_local(Path(urlparse(url).path if scheme == "file" else url), where, part, size, chunk, progress,
                        max_size)


def cached_download(url: str, cache_dir: str | Path, *, sha256: str | None = None, **kwargs) -> Path:
    """:func:`download` into a cache folder, under a name derived from the URL (same URL, same file)."""
    name = Path(urlparse(str(url)).path).name or "download"
    key = hashlib.sha256(str(url).encode("utf-8")).hexdigest()[:12]
    return download(url, Path(cache_dir) / f"{key}-{name}", sha256=sha256, **kwargs)


def gunzip_cached(path: str | Path, sha256: str | None = None) -> Path:
    """``x.bin.gz`` -> ``x.bin`` beside it (atomically, once per archive content); other paths come back unchanged.

    fastText publishes ``cc.xx.300.bin.gz``; fastText itself reads only the
    plain ``.bin``. The unpacked file is reused only while ``x.bin.from-sha256``
    names the archive's sha256 (``sha256``, already verified by the caller, or
    computed here), so a new archive under the same URL is unpacked again. A
    corrupt archive raises :class:`InputError` naming it.
    """
    import gzip

    path = Path(path)
    if not path.name.endswith(".gz") or path.name.endswith((".vec.gz", ".txt.gz")):
        return path
    out = path.with_name(path.name[:-3])
    stamp = out.with_name(out.name + ".from-sha256")
    digest = (sha256 or file_sha256(path)).lower()
    if out.is_file() and not out.is_symlink() and stamp.is_file() and \
            stamp.read_text(errors="replace").strip() == digest:
        return out
    tmp = out.with_name(out.name + ".part")
    try:
        with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    except (OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(path, "a gzip archive", str(exc)) from None
    stamp.unlink(missing_ok=True)  # no stamp names the old content while the new file moves in
    os.replace(tmp, out)
    stamp_tmp = stamp.with_name(stamp.name + ".part")
    stamp_tmp.write_text(digest + "\n")
    os.replace(stamp_tmp, stamp)
    return out
