"""An HTML page answered for a file (a login wall, a cookie-consent or quota page): told by its Content-Type
and its first bytes (decoded first when sent gzip- or deflate-encoded), before anything is written."""
from __future__ import annotations

import re
import zlib
from typing import Callable
from urllib.parse import urlparse

from ..errors import InputError


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
