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
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import parse_qsl, unquote, urljoin, urlparse

from .errors import InputError, PipelineError
from .identity import file_sha256

log = logging.getLogger(__name__)

__all__ = ["DownloadError", "download", "is_url", "cached_download", "gunzip_cached", "dest_lock", "check_sha256",
           "http_session", "redirect_guard", "redact_url", "scrubber", "MAX_REDIRECTS", "MIN_FREE"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(PipelineError):
    """The network failed for good (after retries); the partial file is kept for a later resume."""


#: query parameters whose values are credentials (compared in lower case)
SECRET_PARAMETERS = frozenset({
    "key", "apikey", "api_key", "api-key", "token", "access_token", "auth", "authorization", "password", "passwd",
    "pwd", "secret", "client_secret", "signature", "sig", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token", "x-goog-signature", "x-goog-credential"})


def _secrets_of(url: str) -> list[str]:
    """The credentials a URL carries: its user information and the values of :data:`SECRET_PARAMETERS`."""
    try:
        parts = urlparse(str(url))
        found = [parts.netloc.rsplit("@", 1)[0]] if "@" in parts.netloc else []
        found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in SECRET_PARAMETERS]
    except ValueError:
        return []
    out = set()
    for value in found:
        for form in (value, unquote(value)):
            if len(form) >= 3:
                out.add(form)
                out.update(x for x in form.split(":") if len(x) >= 3)  # user and password alone
    return sorted(out, key=len, reverse=True)


def scrubber(url: str) -> Callable[[str], str]:
    """A function that writes ``***`` for every credential of ``url`` in a text (an error, a log line)."""
    secrets = _secrets_of(url)

    def scrub(text) -> str:
        text = str(text)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return scrub


def redact_url(url: str) -> str:
    """``url`` as it may be shown: user information and credential parameters replaced by ``***``."""
    return scrubber(url)(url)


def is_url(location: str) -> bool:
    return urlparse(str(location)).scheme in ("http", "https", "file")


def check_sha256(value, where: str) -> str:
    """``value`` as a lowercase hex sha256, or an :class:`InputError` naming ``where``."""
    if isinstance(value, str) and _SHA256.fullmatch(value.lower()):
        return value.lower()
    raise InputError(where, "a sha256 of 64 hex digits", f"got {value!r:.80}")


def _bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not enabled or not sys.stderr.isatty(), leave=False)


# ------------------------------------------------------------------------------ files we write into


def _regular_or_absent(path: Path) -> bool:
    """True when ``path`` is a regular file, False when absent; anything else (a link, a folder, a device) is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(st.st_mode):
        return True
    kind = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode)
            else "a device, fifo or socket")
    raise InputError(path, "a regular file or nothing at this path", f"found {kind}; refusing to write through it")


def _size_of(path: Path) -> int:
    return os.lstat(path).st_size if _regular_or_absent(path) else 0


def _open_part(part: Path, append: bool):
    """Open the partial file for writing without following a link (O_NOFOLLOW) or blocking on a fifo."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if append else os.O_TRUNC
    _regular_or_absent(part)
    try:
        fd = os.open(part, flags, 0o644)
    except OSError as exc:
        raise InputError(part, "a regular file to write into", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(part, "a regular file to write into", "found something else; nothing was written")
    return os.fdopen(fd, "ab" if append else "wb")


@contextlib.contextmanager
def dest_lock(dest: str | Path) -> Iterator[None]:
    """Hold an exclusive flock for fetching ``dest`` (``.<name>.lock`` beside it); a second fetch waits.

    The lock file is removed on release; a waiter that then holds a removed
    file's lock notices (the path names another inode or none) and locks again.
    """
    import fcntl

    dest = Path(dest)
    path = dest.with_name(f".{dest.name}.lock")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise DownloadError(f"{path}: cannot open the download lock ({exc.strerror or exc})") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DownloadError(f"{path}: expected a regular lock file; found something else")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s: another process is fetching this file; waiting for it", dest)
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            mine = os.fstat(fd)
            if now is not None and (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file we waited on: lock the current one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it, so no one can lock a file that is going away unnoticed
        os.close(fd)


class _TooLong(Exception):
    pass


#: the free space (bytes) a download leaves, at least, on the file system it writes to: a body that would take
#: more is cut there and refused, nothing kept (an endless or oversized answer must not fill the disk that other
#: stages and workers write to)
MIN_FREE = 128 << 20
_FREE_EVERY = 8 << 20  # the free space is looked at once every so many bytes written


class _DiskFull(Exception):
    """Writing on would leave less than :data:`MIN_FREE` free (``free``: the bytes free, 0 for ENOSPC)."""

    def __init__(self, written: int, free: int):
        super().__init__(written, free)
        self.written, self.free = written, free


def _free_bytes(fh) -> int | None:
    """The bytes free to an unprivileged writer on the file system of the open file ``fh``; None where it does
    not say (a file system of no blocks, as some FUSE and network ones report: no bound is kept there)."""
    st = os.fstatvfs(fh.fileno())
    return st.f_bavail * st.f_frsize if st.f_blocks else None


def _copy_bounded(read: Callable[[int], bytes], fh, written: int, limit: int | None, chunk: int, bar,
                  head: bytes = b"") -> int:
    """Copy from ``read`` into ``fh`` until the source ends; never write past ``limit`` bytes in all.

    Reads one byte more than ``limit`` allows, so that a longer (or endless)
    source is detected and refused instead of filling the disk. ``head``: the
    first bytes of the source, already read (:func:`_sniff_html`), written first.
    Without a limit too, it stops (:class:`_DiskFull`) before the file system
    would have less than :data:`MIN_FREE` free.
    """
    look = written
    while True:
        want = chunk if limit is None else min(chunk, limit - written + 1)
        block, head = (head, b"") if head else (read(want), b"")
        if not block:
            return written
        if limit is not None and written + len(block) > limit:
            raise _TooLong()
        if written >= look:
            if (free := _free_bytes(fh)) is not None and free - len(block) - _FREE_EVERY < MIN_FREE:
                raise _DiskFull(written, free)
            look = written + _FREE_EVERY
        fh.write(block)
        written += len(block)
        bar.update(len(block))


def _too_long(where: str, size: int, bound: str = "the expected size",
              found: str = "the source holds more") -> InputError:
    """A body longer than ``size`` bytes refused: ``bound`` names what set it (the expected size, or max_size)."""
    return InputError(where, f"at most {size} bytes ({bound})", f"{found}; nothing was kept")


def _bound(size: int | None, max_size: int | None) -> tuple[int | None, str]:
    """The most bytes a download may bring, and what sets it: the exact ``size`` pin, else ``max_size``."""
    return (size, "the expected size") if size is not None else (max_size, "max_size")


# ------------------------------------------------------------------------------ an HTML page for a file

#: Content-Types of a web page; an answer so labelled for a URL not ending .html/.htm has its first bytes looked at
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body)(?![\w:-])", re.I)
_HTML_TAGS = (b"<!doctype", b"<html", b"<head", b"<body")
_SNIFF = 1024  # the most bytes read to tell an HTML page (the start of the body, kept and written after)
_SNIFF_ENCODED = 16 << 10  # the most bytes read of a gzip or deflate body to decode its first _SNIFF bytes
#: the Content-Encodings whose start is decoded to tell an HTML page (what is saved stays as sent)
_SNIFF_DECODED = {"gzip": (31,), "x-gzip": (31,), "deflate": (15, -15)}  # wbits: gzip; zlib, else raw deflate
_UTF8_BOM = b"\xef\xbb\xbf"


def _html_start(head: bytes, ended: bool) -> bool | None:
    """Whether ``head``, the start of a body, starts like an HTML page (``<!doctype html``, ``<html``,
    ``<head`` or ``<body``, after optional whitespace and a UTF-8 byte-order mark, in any case); None while
    more bytes are needed to tell (``ended``: no more will come).

    >>> _html_start(b"\\xef\\xbb\\xbf  <!DOCTYPE HTML>", False), _html_start(b"<header>", True)
    (True, False)
    >>> _html_start(b"<!doc", False), _html_start(b"<!doctype", False), _html_start(b"<head", False)
    (None, None, None)
    """
    text = (head[len(_UTF8_BOM):] if head.startswith(_UTF8_BOM) else head).lstrip()
    m = _HTML_START.match(text)
    if m:
        return True if ended or m.end() < len(text) else None  # "<head" may go on as "<header"
    if ended:
        return False
    low = text.lower()
    if low.startswith(b"<!doctype"):
        rest = low[len(b"<!doctype"):]
        return None if not rest or (rest != rest.lstrip() and b"html".startswith(rest.lstrip())) else False
    return None if any(tag.startswith(low) for tag in _HTML_TAGS) else False


def _html_suspect(url: str, r) -> str | None:
    """The media type of an answer labelled as a web page (:data:`HTML_TYPES`) for a URL whose path does not end
    ``.html`` or ``.htm`` (the URL asked for, not where a redirect led: a login page is often ``login.html``);
    None for any other answer."""
    media = (r.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media not in HTML_TYPES or urlparse(url).path.lower().endswith((".html", ".htm")):
        return None
    return media


def _inflated_start(raw: bytes, encoding: str) -> tuple[bytes, bool]:
    """The first (at most :data:`_SNIFF`) bytes that ``raw``, the start of a body sent with Content-Encoding
    ``encoding`` (a key of :data:`_SNIFF_DECODED`), decodes to, and whether no more will come (the stream ended,
    or is no stream of that encoding: then nothing is told from it).

    >>> _inflated_start(zlib.compress(b"<html>" * 1000)[:-4], "deflate")[0][:12], _inflated_start(b"junk", "gzip")
    (b'<html><html>', (b'', True))
    """
    for wbits in _SNIFF_DECODED[encoding]:
        inflate = zlib.decompressobj(wbits)
        try:
            out = inflate.decompress(raw, _SNIFF)
        except zlib.error:
            continue
        return out, inflate.eof
    return b"", True


def _sniff_html(read: Callable[[int], bytes], where: str, media: str, scrub: Callable[[str], str],
                encoding: str | None = None) -> bytes:
    """The first bytes of a body labelled ``media`` (text/html), read until they tell whether it is an HTML page
    (at most :data:`_SNIFF`): returned to be written first when it is not (a server that labels any file
    text/html), an :class:`InputError` naming ``where`` when it is (a login, consent, quota or error page served
    with 200 in place of the file). Looked at before anything is written, and before the announced length is
    weighed against ``size`` or ``max_size``, so that such a page is named for what it is. A body sent with
    Content-Encoding ``encoding`` gzip or deflate (though the client asks for identity) is told by what its
    first bytes (at most :data:`_SNIFF_ENCODED`) decode to; the bytes returned are the ones sent, undecoded."""
    raw = b""
    most = _SNIFF if encoding is None else _SNIFF_ENCODED
    while True:
        block = read(most - len(raw)) if len(raw) < most else b""
        raw += block
        head, ended = (raw, False) if encoding is None else _inflated_start(raw, encoding)
        verdict = _html_start(head, ended or not block or len(raw) >= most or len(head) >= _SNIFF)
        if verdict is None:
            continue
        if not verdict:
            return raw
        title = re.search(rb"<title[^>]*>\s*([^<]{1,200})", head, re.I)
        shown = (f"titled {scrub(' '.join(title.group(1).decode('utf-8', 'replace').split()))[:80]!r}" if title
                 else f"starting {scrub(head.lstrip(_UTF8_BOM).lstrip()[:40].decode('utf-8', 'replace'))!r}")
        raise InputError(where, "the file the URL names", f"got an HTML page (Content-Type {media}, {shown}), not "
                         "the file: a login, cookie-consent, download-quota or error page? nothing was kept "
                         "(download(html_ok=True) accepts an HTML file)")


# ------------------------------------------------------------------------------ transports


class _Retry(Exception):
    """A transient failure (cut connection, timeout, HTTP 429 or 5xx): try again.

    ``retry_after``: the seconds the server asked to wait (``Retry-After``), with the header as sent;
    ``stalled``: the attempt ended in a stall (the read timeout, or under the rate floor), so the few
    bytes it brought do not count as progress (a trickling server must use up the retry budget, not
    reset it with every byte).
    """

    def __init__(self, reason: str, *, retry_after: tuple[float, str] | None = None, stalled: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.stalled = stalled


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


class _Watchdog:
    """Cuts the connection of one attempt when a deadline passes: shuts its socket down, so that a read blocked
    on it (for the status line and headers, a chunk-size line, the next bytes) returns at once.

    The read timeout bounds one wait for a byte only; a server that sends one byte just within it, again and
    again, would hold a read, and the download, for ever. :meth:`watch` names the socket, :meth:`arm` sets the
    deadline, :meth:`disarm` lifts it; ``fired`` is the reason given with the deadline that passed, else None.
    Its thread ends with :meth:`close`. While it is open it is this thread's watchdog (``_watching.dog``), told
    of each request sent by a session of :func:`http_session` so that the wait for the answer is bounded too.
    """

    def __init__(self, header_timeout: float):
        self.header_timeout, self.fired = header_timeout, None
        self._sock = self._deadline = self._reason = None
        self._armed = self._closed = False
        self._sleeping_until: float | None = None  # when the thread looks again (None: when woken)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="download-watchdog", daemon=True)
        self._thread.start()
        _watching.dog = self

    def arm(self, deadline: float, reason: str | Callable[[], str]) -> None:
        """Cut at ``deadline`` (``time.monotonic()``), giving ``reason`` (a callable: worked out only then)."""
        with self._cond:
            if self.fired is not None:  # cut once: every later wait of this attempt is cut at once
                deadline, reason = time.monotonic(), self.fired
            self._deadline, self._reason, self._armed = deadline, reason, True
            if self._sleeping_until is None or deadline < self._sleeping_until:
                self._cond.notify()  # a later deadline is seen when the thread wakes: no wake-up for each read

    def disarm(self) -> None:
        with self._cond:
            self._armed = False

    def watch(self, sock) -> None:
        """Cut ``sock`` (when known) when a deadline passes."""
        with self._cond:
            self._sock = sock if sock is not None else self._sock

    def expect_headers(self, sock, host: str) -> None:
        """A request was sent on ``sock`` to ``host``: its answer's status line and headers (and a redirect's
        body) must come within ``header_timeout`` seconds."""
        self.watch(sock)
        self.arm(time.monotonic() + self.header_timeout, f"no response headers from {host} within "
                                                         f"{self.header_timeout:g} s")

    def close(self) -> None:
        if getattr(_watching, "dog", None) is self:
            _watching.dog = None
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._armed and now >= self._deadline:
                    self.fired = self._reason() if callable(self._reason) else self._reason
                    self._armed = False
                    _cut(self._sock)
                    continue
                # disarmed between reads, it still sleeps until the last deadline, so that arming again with
                # the same or a later one need not wake it
                self._sleeping_until = self._deadline if self._armed or (self._deadline or 0) > now else None
                self._cond.wait(None if self._sleeping_until is None else self._sleeping_until - now)


#: the watchdog of the attempt this thread is making (``_watching.dog``), for the connections it opens
_watching = threading.local()


def _cut(sock) -> None:
    """Shut ``sock`` down for reading and writing (a blocked read returns); closing it is left to its owner.
    A TLS socket is shut down below TLS (``SSLSocket.shutdown`` would drop its TLS state under a reader)."""
    import socket

    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)  # urllib3's SSLTransport (TLS through a TLS proxy) wraps one
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _rate_floor(read: Callable[[int], bytes], min_rate: float, window: float, watchdog: _Watchdog | None = None,
                timeout: float | None = None) -> Callable[[int], bytes]:
    """``read``, giving up (:class:`_Retry`) when fewer than ``min_rate`` bytes a second arrived over a window
    of ``window`` seconds. The read timeout bounds one wait for a byte; a server that sends one byte just
    within it, again and again, would otherwise hold the download for ever. The check runs before each read,
    so every block that arrived is written first (and is resumed from). No floor without a positive
    ``min_rate`` and ``window``.

    With a ``watchdog``, a read still waiting when the floor is broken (no bytes came back in time: a server
    that feeds a chunk-size line one byte at a time) is cut then; without a floor, one that brings no bytes
    for ``timeout`` seconds."""
    floor = bool(min_rate and min_rate > 0 and window and window > 0)
    if not floor and (watchdog is None or not timeout):
        return read
    start, got = time.monotonic(), 0

    def under_floor(span: float) -> str:
        return (f"the server sent only {got} bytes in {span:.1f} s, under the floor of {min_rate:g} bytes/s "
                "(min_rate)")

    def paced(n: int) -> bytes:
        nonlocal start, got
        now = time.monotonic()
        if floor and now - start >= window:
            if got < min_rate * (now - start):
                raise _Retry(under_floor(now - start), stalled=True)
            start, got = now, 0
        if watchdog is not None:
            if floor:  # the moment the floor is broken unless this read brings more
                span = max(window, got / min_rate)
                watchdog.arm(start + span, functools.partial(under_floor, span))  # the text only if it fires
            else:
                watchdog.arm(now + timeout, f"the server sent no bytes of the body for {timeout:g} s, the timeout")
        try:
            block = read(n)
        finally:
            if watchdog is not None:
                watchdog.disarm()
        got += len(block)
        return block

    return paced


#: redirects one download may follow (requests' own default is 30)
MAX_REDIRECTS = 10


def _internal_address(address: str) -> bool:
    """True for an IP literal that is loopback, private, link-local or otherwise not public
    (an IPv4-mapped IPv6 address is judged by its IPv4 part; a zone index ``%eth0`` is ignored)."""
    import ipaddress

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


def _resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to now, sorted; ``[]`` when it does not resolve."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


def _internal_host(host: str | None, *, resolve: bool = True) -> str | None:
    """Why ``host`` is internal, or ``None`` for a public one.

    ``localhost`` (and ``*.localhost``) and IP literals are judged as written; a name
    is resolved (``resolve``) and is internal when any address it resolves to is:
    ``"store.lan (resolves to 10.0.0.7)"``. A name that does not resolve counts as
    public here (the connection fails on its own; where it does connect, the peer
    address of the answer is checked by :func:`redirect_guard`). Numeric forms the
    resolver reads as IPv4 (``2130706433``, ``0x7f.1``) resolve to what they mean.
    """
    if not host:
        return None
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        return host if _internal_address(host) else None
    except ValueError:
        pass  # a name
    if not resolve:
        return None
    inside = [a for a in _resolve(host) if _internal_address(a)]
    return f"{host} (resolves to {', '.join(inside)})" if inside else None


def _socket_of(r):
    """The socket the body of the response ``r`` comes through, or None when it is gone."""
    raw = getattr(r, "raw", None)
    conn = getattr(raw, "connection", None)
    # an open keep-alive connection has its socket; one that closes after this answer (HTTP/1.0,
    # ``Connection: close``) has handed it to the response's reader (http.client's makefile)
    return getattr(conn, "sock", None) or getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None),
                                                          "raw", None), "_sock", None)


def _peer_address(r) -> str | None:
    """The IP address the response ``r`` came from, when its connection is a direct one.

    ``None`` behind a proxy (the peer is the proxy), or when the connection is gone.
    """
    conn = getattr(getattr(r, "raw", None), "connection", None)
    if conn is None or getattr(conn, "proxy", None) is not None or getattr(conn, "_tunnel_host", None):
        return None
    sock = _socket_of(r)
    if sock is None:
        return None
    try:
        peer = sock.getpeername()
    except (OSError, AttributeError):
        return None
    return peer[0] if isinstance(peer, tuple) and peer else None


@functools.lru_cache(maxsize=None)
def _watched_adapter() -> type:
    """A requests ``HTTPAdapter`` whose connections tell this thread's :class:`_Watchdog` (if any) the socket
    of each request they send, so that the wait for its answer can be cut (:meth:`_Watchdog.expect_headers`)."""
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched:
        def connect(self):
            # the deadline of the answer before (a redirect's) does not run on while this connection is made: the
            # connect timeout bounds that, and this request's own deadline begins once it is sent
            dog = getattr(_watching, "dog", None)
            if dog is not None:
                dog.disarm()
            return super().connect()

        def getresponse(self, *args, **kwargs):
            dog = getattr(_watching, "dog", None)
            if dog is not None:
                dog.expect_headers(self.sock, f"{self.host}:{self.port}")
            return super().getresponse(*args, **kwargs)

    # named as urllib3 names them: its messages name the pool ("HTTPSConnectionPool(host=...): ...")
    pools = {scheme: type(pool.__name__, (pool,), {"ConnectionCls": type(conn.__name__, (Watched, conn), {})})
             for scheme, pool, conn in (("http", HTTPConnectionPool, HTTPConnection),
                                        ("https", HTTPSConnectionPool, HTTPSConnection))}

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if isinstance(manager, urllib3.ProxyManager):  # not SOCKS: its pools are its own
                manager.pool_classes_by_scheme = pools
            return manager

    return WatchedAdapter


def http_session():
    """A ``requests.Session`` that follows at most :data:`MAX_REDIRECTS` redirects; pass
    ``hooks={"response": redirect_guard(url)}`` with each request to vet them. Its connections let
    :func:`download` bound the wait for each answer's headers (``header_timeout``)."""
    import requests

    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    for prefix in ("https://", "http://"):
        session.mount(prefix, _watched_adapter()())
    return session


def redirect_guard(origin: str):
    """A requests ``response`` hook that vets every answer, and every redirect before requests follows it.

    Refused, as an :class:`InputError` naming ``origin`` and the hop: a target
    that is not http(s); an https response redirecting to plain http (the rest
    of the transfer would travel unencrypted and unauthenticated); a redirect
    from a public origin to an internal host: ``localhost``, a loopback,
    private or link-local address, or a name that resolves to one (a hostile
    mirror must not make the pipeline read a machine's internal services, such
    as a cloud metadata endpoint, into an artifact); and, from a public origin,
    any answer whose connection's peer is an internal address, whatever its
    name resolved to when it was checked (DNS rebinding), before its body is
    read. Redirects between public hosts (a hub to its CDN) and among local
    ones (a loopback test server, a store on the LAN) are followed.

    The origin is internal when its name is, or when its own answer came from
    an internal peer (the spec's author chose that host). Behind a proxy the
    peer is the proxy, so only names are checked.
    """
    origin_host = urlparse(origin).hostname
    state: dict = {}

    def origin_internal(r) -> bool:
        if "internal" not in state:  # the first answer is the origin's
            peer = _peer_address(r)
            state["internal"] = bool((peer and _internal_address(peer)) or _internal_host(origin_host))
        return state["internal"]

    shown = redact_url(origin)

    def hook(r, **kwargs):
        here = urlparse(r.url)
        host = f"{here.scheme}://{here.netloc.rsplit('@', 1)[-1]}"  # never the user information
        if not origin_internal(r):
            peer = _peer_address(r)
            if peer and _internal_address(peer):
                raise InputError(shown, "answers from public addresses only",
                                 f"{host} answered from the internal address {peer}; refusing to read it")
        if not r.is_redirect:
            return r
        hop = f"{host} redirects to"
        location = r.headers["location"]
        try:
            target = urlparse(urljoin(r.url, location))
            target_host, _ = target.hostname, target.port  # .port raises on a port out of range
        except ValueError as exc:
            raise InputError(shown, "redirects to valid URLs", f"{hop} {redact_url(location)!r:.120}, which is "
                                                               f"no valid URL ({exc}); refusing to follow it") from None
        if target.scheme not in ("http", "https"):
            raise InputError(shown, "redirects to http(s) URLs only", f"{hop} a {target.scheme or 'schemeless'} "
                                                                       "URL; refusing to follow it")
        if here.scheme == "https" and target.scheme == "http":
            raise InputError(shown, "an https download that stays on https",
                             f"{hop} plain http://{target.netloc.rsplit('@', 1)[-1]}; refusing the downgrade")
        if not origin_internal(r):
            inside = _internal_host(target_host)
            if inside:
                raise InputError(shown, "redirects to public hosts only",
                                 f"{hop} the internal address {inside}; refusing to follow it")
        return r

    return hook


def _content_range(value: str | None, url: str) -> tuple[int, int | None]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if not m:
        raise InputError(url, "a 206 response with a Content-Range header 'bytes a-b/n'", f"got {value!r:.80}")
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _version_file(part: Path) -> Path:
    """Beside ``<dest>.part``: the version (ETag or Last-Modified) of the content it holds the start of."""
    return part.with_name(part.name + ".version")


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


def _kind_of(mode: int) -> str:
    """What a path that is no regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe (fifo)"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _fetch_local(src: Path, where: str, part: Path, size: int | None, chunk: int, progress: bool,
                 max_size: int | None = None) -> None:
    try:
        mode = os.stat(src).st_mode
    except OSError:
        raise InputError(where, "a file to fetch", "no such file") from None
    if not stat.S_ISREG(mode):
        raise InputError(where, "a regular file to fetch", f"a {_kind_of(mode)}")
    with open(src, "rb") as fh, _open_part(part, False) as out, _bar(size, 0, part.name[:-5], progress) as bar:
        _copy_bounded(fh.read, out, 0, _bound(size, max_size)[0], chunk, bar)


def _fetch_fsspec(fs, path: str, where: str, part: Path, size: int | None, chunk: int, progress: bool,
                  max_size: int | None = None) -> None:
    """Stream an fsspec file with resume (a seek past the partial file)."""
    offset = _size_of(part)
    bound, what = _bound(size, max_size)
    try:
        total = fs.size(path)
        if bound is not None and total is not None and total > bound:
            raise _too_long(where, bound, what, "the source holds more" if size is not None else
                            f"the store holds {total}")
        limits = [n for n in (bound, total) if n is not None]
        if limits and offset > min(limits):  # left by a fetch of other content: start again
            offset = 0
        with fs.open(path, "rb") as src, _open_part(part, bool(offset)) as out, \
                _bar(total, offset, part.name[:-5], progress) as bar:
            src.seek(offset)
            _copy_bounded(src.read, out, offset, bound, chunk, bar)
    except FileNotFoundError:
        raise InputError(where, "a file the store holds", "no such file") from None


# ------------------------------------------------------------------------------ the downloader


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


def _discard(part: Path) -> None:
    """Remove a partial file (and the version recorded beside it), never through a link."""
    for path in (part, _version_file(part)):
        with contextlib.suppress(OSError, InputError):
            if _regular_or_absent(path):
                path.unlink()


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
