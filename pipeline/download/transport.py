"""The HTTP transport: one attempt (:func:`_http_attempt`) under its watchdog, resumed with ``Range`` and
``If-Range`` against the version recorded beside the partial file, and the loop of attempts
(:func:`_fetch_http`) with its retry budget, backoff and ``Retry-After``."""
from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path

from ..errors import InputError
from .common import DownloadError, _bar, _Retry, scrubber
from .files import _bound, _copy_bounded, _discard, _open_part, _regular_or_absent, _size_of, _too_long, _version_file
from .guard import MAX_REDIRECTS, _socket_of, http_session, redirect_guard
from .sniff import _SNIFF_DECODED, _html_suspect, _sniff_html
from .watchdog import _rate_floor, _Watchdog

log = logging.getLogger("pipeline.download")  # the package's one logger (pipeline.models filters it)


#: the function that waits between attempts (tests replace it, to see the waits without waiting)
_sleep = time.sleep


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait: delay-seconds (``120``) or an HTTP-date
    (``Wed, 21 Oct 2015 07:28:00 GMT``, counted from ``now``; a date past is 0); ``None`` when absent or
    neither form.

    >>> _retry_after("120"), _retry_after("Thu, 01 Jan 1970 00:02:00 GMT", now=60.0), _retry_after("soon")
    (120.0, 60.0, None)
    """
    from email.utils import parsedate_to_datetime

    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # no zone: not an HTTP-date (those are GMT)
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _content_range(value: str | None, url: str) -> tuple[int, int | None]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if not m:
        raise InputError(url, "a 206 response with a Content-Range header 'bytes a-b/n'", f"got {value!r:.80}")
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _read_version(part: Path) -> str | None:
    path = _version_file(part)
    try:
        if not _regular_or_absent(path):
            return None
        with open(path, "rb") as fh:
            return fh.read(1024).decode("ascii").strip() or None
    except (OSError, UnicodeDecodeError, InputError):
        return None


def _version_of(r) -> str | None:
    """A response's strong validator, as ``If-Range`` takes it: a strong ETag, else Last-Modified."""
    etag = (r.headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (r.headers.get("Last-Modified") or "").strip() or None


def _write_version(part: Path, version: str | None) -> None:
    if version is None or not version.isascii() or len(version) > 1024:
        _discard(_version_file(part))
        return
    with _open_part(_version_file(part), False) as fh:
        fh.write(version.encode("ascii"))


def _network_reason(exc: BaseException, timeout: float) -> str:
    """What a network failure was, in words: a timeout names its seconds (requests says only "Read timed
    out."), a failed connection its OS error, without urllib3's "Max retries exceeded" (it retried nothing)."""
    import http.client

    import requests
    import urllib3

    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s, the timeout"
    if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return f"the server sent nothing for {timeout:g} s, the timeout"
    if isinstance(exc, urllib3.exceptions.ProtocolError) and any(
            isinstance(a, http.client.IncompleteRead) for a in exc.args):
        # only a chunked body raises it here (the length of any other is checked by the caller)
        return "the connection closed before the end of the chunked body (no terminating chunk)"
    text = str(exc)
    if (isinstance(exc, requests.ConnectionError) and "Failed to establish a new connection" in text) \
            or "Failed to resolve" in text:
        m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
        return f"cannot connect: {m.group(1).strip() if m else 'no connection'}"
    return text


def _http_attempt(http, url: str, where: str, part: Path, size: int | None, timeout: float, chunk: int,
                  progress: bool, resume: bool, min_rate: float = 0, rate_window: float | None = None,
                  max_size: int | None = None, html_ok: bool = False, header_timeout: float | None = None) -> None:
    """One request: append to ``part`` (``resume``: a Range request from its size) or fetch it whole;
    raise :class:`_Retry` when the transfer was cut, or went slower than ``min_rate`` bytes a second over
    ``rate_window`` seconds (default: ``timeout``). ``where`` names the URL in messages (credentials
    redacted). A partial file whose version is known is resumed with ``If-Range``: a server whose file
    changed meanwhile answers with the whole new file. A body longer than ``size`` or ``max_size`` is
    refused (announced: before it is read); a 200 that is an HTML page for a URL that names none is refused
    unless ``html_ok`` (:func:`_sniff_html`; a 206 continues what was already taken for the file).

    A :class:`_Watchdog` cuts the connection when the answer's headers take longer than ``header_timeout``
    (default: ``timeout``) seconds from the request (a session of :func:`http_session`), or a read of the body
    waits past the rate floor, even while a read is blocked; the attempt is then a stall, retried, whatever
    the cut left of the answer."""
    dog = _Watchdog(timeout if header_timeout is None else header_timeout)
    try:
        try:
            _http_exchange(http, url, where, part, size, timeout, chunk, progress, resume, min_rate, rate_window,
                           max_size, html_ok, dog)
        finally:
            dog.close()
    except Exception as exc:  # noqa: BLE001 - what a cut connection raises, or makes of a cut answer
        # a refusal stands whether or not the watchdog fired meanwhile (a redirect guard's, whose name lookup
        # outlasted the header deadline; an HTML page told from the bytes that came): a cut cannot cause one
        if dog.fired is None or isinstance(exc, InputError):
            raise
    if dog.fired is not None:
        raise _Retry(scrubber(url)(dog.fired), stalled=True)


def _http_exchange(http, url: str, where: str, part: Path, size: int | None, timeout: float, chunk: int,
                   progress: bool, resume: bool, min_rate: float, rate_window: float | None, max_size: int | None,
                   html_ok: bool, dog: _Watchdog) -> None:
    """:func:`_http_attempt` under its watchdog ``dog``."""
    import requests
    import urllib3

    scrub = scrubber(url)
    offset = _size_of(part) if resume else 0
    version = _read_version(part) if offset else None
    # identity encoding: Range offsets must count the bytes that land on disk
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if version:
            headers["If-Range"] = version
    try:
        with http.get(url, headers=headers, stream=True, timeout=timeout,
                      hooks={"response": redirect_guard(url)}) as r:
            dog.disarm()
            if dog.fired is not None:  # the headers were cut short: whatever was parsed of them is no answer
                return
            if r.status_code == 416 and offset:
                # nothing left to fetch, but only when the server's length is the partial file's: a longer
                # partial file (a fetch of other content, a server ignoring If-Range) must not be taken as whole
                m = re.fullmatch(r"bytes \*/(\d+)", (r.headers.get("Content-Range") or "").strip())
                now = _version_of(r)
                if m and int(m.group(1)) == offset and not (version and now and now != version):
                    return
                _discard(part)
                raise _Retry(f"HTTP 416 to a resume from byte {offset}, with Content-Range "
                             f"{r.headers.get('Content-Range')!r:.80} (a file of another length or version); "
                             "dropped the partial file, starting again")
            if r.status_code in (401, 403, 404, 410):
                raise InputError(where, "a URL that serves the file", f"HTTP {r.status_code} {scrub(r.reason)}")
            if r.status_code == 429 or r.status_code >= 500:
                asked = r.headers.get("Retry-After") if r.status_code in (429, 503) else None
                wait = _retry_after(asked)
                shown = f" (Retry-After: {scrub(asked)!r:.80})" if asked is not None else ""
                raise _Retry(f"HTTP {r.status_code} {scrub(r.reason)}{shown}",
                             retry_after=None if wait is None else (wait, scrub(asked)))
            if r.status_code not in (200, 206):
                raise InputError(where, "HTTP 200 or 206", f"HTTP {r.status_code} {scrub(r.reason)}")
            if r.status_code == 206:
                start, total = _content_range(r.headers.get("Content-Range"), where)
                if start != offset:
                    raise InputError(where, f"a response from byte {offset} (the Range asked for)",
                                     f"Content-Range {r.headers.get('Content-Range')!r:.80}")
                now = _version_of(r)
                if version and now and now != version:  # a server that ignores If-Range: start again
                    _discard(part)
                    raise _Retry(f"the file changed on the server ({version} -> {now}) since the partial "
                                 "file was begun; starting again")
                append = True
            else:  # 200: a fresh start (no Range asked, the server ignored it, or the file changed)
                append, offset = False, 0
                length = r.headers.get("Content-Length", "")
                # a chunked body's end is its terminating chunk; a Content-Length beside it counts for nothing
                # (RFC 9112 6.3; http.client ignores it too), and a wrong one must not read as a cut
                total = int(length) if length.isdigit() and not getattr(r.raw, "chunked", False) else None
                _write_version(part, _version_of(r))
            # read the raw stream (as sent: not decoded, so its length is what Content-Length and Range count)
            # without urllib3's length check, so the bytes that did arrive before a cut are written (and
            # resumed from) instead of being dropped; read1 returns what one read of the socket brought:
            # read(n) waits for all n bytes (the rate floor could never act on a trickle), and on a chunked
            # body that is cut it drops every byte it had gathered
            r.raw.enforce_content_length = False
            dog.watch(_socket_of(r))  # the connection the body comes through (a session of any adapter)
            read = _rate_floor(r.raw.read1, min_rate, timeout if rate_window is None else rate_window, dog, timeout)
            media = None if html_ok or r.status_code != 200 else _html_suspect(url, r)
            encoding = (r.headers.get("Content-Encoding") or "").strip().lower()
            head = _sniff_html(read, where, media, scrub, encoding if encoding in _SNIFF_DECODED else None) \
                if media else b""
            if size is not None and total is not None and total != size:
                if total > size:
                    raise _too_long(where, size)
                raise InputError(where, f"{size} bytes (the expected size)", f"the server announces {total}")
            if max_size is not None and total is not None and total > max_size:
                raise _too_long(where, max_size, "max_size", f"the server announces {total}")
            limit, _ = _bound(size, max_size)
            with _open_part(part, append) as fh, _bar(total or size, offset, part.name[:-5], progress) as bar:
                got = _copy_bounded(read, fh, offset, limit, chunk, bar, head)
    except (requests.exceptions.InvalidURL, urllib3.exceptions.LocationValueError, UnicodeError) as exc:
        raise InputError(where, "redirects to valid URLs", f"a redirect names no valid URL "
                                                           f"({scrub(exc)}); nothing was followed") from None
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError, TimeoutError, ConnectionError) as exc:
        stall = isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
        raise _Retry(scrub(_network_reason(exc, timeout)), stalled=stall) from None
    except requests.TooManyRedirects:
        raise InputError(where, f"at most {MAX_REDIRECTS} redirects", "the server kept redirecting") from None
    except requests.RequestException as exc:
        raise DownloadError(f"{where}: {scrub(exc)}") from None
    expected = total if total is not None else size
    if expected is not None and got < expected:
        raise _Retry(f"connection closed at {got} of {expected} bytes")


def _fetch_http(url: str, part: Path, *, where: str, pinned: bool, size: int | None, retries: int,
                max_attempts: int, timeout: float, chunk: int, progress: bool, backoff: float,
                session=None, min_rate: float = 0, rate_window: float | None = None,
                max_retry_after: float = 300.0, max_size: int | None = None, html_ok: bool = False,
                header_timeout: float | None = None) -> None:
    """Fetch with resume. ``retries`` bounds attempts in a row that brought no new bytes; ``max_attempts`` all.

    A partial file left by an earlier run is resumed only when what it holds can be checked: its
    version was recorded (``If-Range``) or the content is ``pinned`` by a sha256; otherwise the file
    is fetched from the start. Within one call a cut transfer is always resumed. An attempt makes
    progress when the partial file grows past the most it held before (a server that ignores Range
    and cuts at the same byte every time makes none). An attempt that ends in a stall (the read timeout,
    or going slower than ``min_rate``) counts as progress only when it brought a whole ``chunk``: a server
    that hands each connection a few bytes and then stalls uses up the retry budget instead of holding
    the download for ``max_attempts`` timeouts (what did arrive is kept and resumed from all the same).
    Between attempts it waits with exponential ``backoff``, or as long as a 429 or 503 asks
    (``Retry-After``), but never longer than ``max_retry_after`` seconds: a server asking for more fails
    the download at once, saying what it asked for."""
    # a session of one's own is closed after, with any connection a redirect left in its pool
    with contextlib.nullcontext(session) if session is not None else http_session() as http:
        resume = pinned or _read_version(part) is not None
        best = _size_of(part) if resume else 0
        idle = attempts = 0
        while True:
            attempts += 1
            if (limit := _bound(size, max_size)[0]) is not None and _size_of(part) > limit:  # left by a fetch of
                # other content (or longer than max_size allows): start again
                _discard(part)
                best = 0
            if resume and size is not None and _size_of(part) == size and size > 0:
                return  # whole already: verification decides
            before = _size_of(part) if resume else 0
            try:
                return _http_attempt(http, url, where, part, size, timeout, chunk, progress, resume, min_rate,
                                     rate_window, max_size, html_ok, header_timeout)
            except _Retry as exc:
                reason, asked, stalled = str(exc), exc.retry_after, exc.stalled
            resume = True  # what the partial file holds now came from this call
            after = _size_of(part)
            brought = after - before if after >= before else after  # (a 200 to a resume starts again from 0)
            idle = 0 if after > best and (not stalled or brought >= chunk) else idle + 1
            best = max(best, after)
            if idle > retries or attempts >= max_attempts:
                why = (f"{retries} retries without progress" if idle > retries else f"{attempts} attempts")
                raise DownloadError(f"{where}: download failed after {why} ({reason}); {_kept(part, after, pinned)}")
            wait = min(30.0, backoff * 2 ** max(0, idle - 1))
            if asked is not None:
                seconds, header = asked
                if seconds > max_retry_after:
                    raise DownloadError(f"{where}: the server answered {reason.split(' (Retry-After', 1)[0]} and asks "
                                        f"to be retried in {seconds:.0f} s (Retry-After: {header!r:.80}), longer than "
                                        f"the {max_retry_after:g} s a download waits at most (max_retry_after); gave "
                                        f"up instead of waiting; {_kept(part, after, pinned)}")
                wait = max(wait, seconds)
            log.warning("%s: %s; resuming at byte %d in %.1fs (attempt %d, %d of %d retries without progress)",
                        where, reason, after, wait, attempts, idle, retries)
            _sleep(wait)


def _kept(part: Path, after: int, pinned: bool) -> str:
    """What a failed download leaves, in words: the partial file when it can be resumed, else nothing."""
    if after and (pinned or _read_version(part)):
        return f"{part} ({after} bytes) is kept and the next run resumes from it"
    _discard(part)
    return ("nothing was kept" if not after else "nothing was kept (the server names no version of the file, "
            "ETag or Last-Modified, to resume against)") + "; the next run starts from byte 0"
