"""Errors that users see: each names the file (or spec key) and what was expected."""
from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for every error the project raises on purpose."""


class InputError(PipelineError):
    """Bad input: a corpus, dictionary, vector file or spec that is not as expected.

    >>> str(InputError("corpora/x/a.txt", "UTF-8 text", "invalid byte at offset 12"))
    'corpora/x/a.txt: expected UTF-8 text; invalid byte at offset 12'
    """

    def __init__(self, path: str | Path | None, expected: str, found: str | None = None):
        self.path = str(path) if path is not None else None
        self.expected = expected
        self.found = found
        msg = f"expected {expected}"
        if found:
            msg += f"; {found}"
        if self.path:
            msg = f"{self.path}: {msg}"
        super().__init__(msg)


class SpecError(InputError):
    """A run spec (YAML under tasks/) with an unknown, missing or mistyped key."""


_BOM = b"\xef\xbb\xbf"


def _utf8_problem(raw: bytes, at: int, offset: int = 0, line: int = 1, line_start: int = 0) -> str:
    """The one wording of a UTF-8 error: where (byte offset in the file, line, column) and the bytes there."""
    line += raw.count(b"\n", line_start, at)
    begin = raw.rfind(b"\n", 0, at) + 1 if b"\n" in raw[line_start:at] else line_start
    column = len(raw[begin:at].decode("utf-8", "replace")) + 1
    shown = raw[at:at + 4].split(b"\n")[0]  # the bytes at the error, up to the end of its line
    return f"invalid UTF-8 at byte {offset + at} (line {line}, column {column}): bytes {shown.hex(' ')}"


def bad_utf8(path: str | Path, *, gz: bool = False) -> str:
    """Where the first bytes of ``path`` that are not UTF-8 are (``invalid UTF-8 at byte B (line L, column C):
    bytes ..``), read again from the start: what a text decoder reports counts from its own chunk. A leading
    byte-order mark is no error; ``gz`` reads the file through gzip (then the byte counts the unpacked text).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = p.write_bytes("one\\ncafé\\n".encode("utf-8") + "naïve\\n".encode("latin-1"))
    >>> bad_utf8(p)
    'invalid UTF-8 at byte 12 (line 3, column 3): bytes ef 76 65'
    """
    import gzip

    offset = 0
    with (gzip.open if gz else open)(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            start = len(_BOM) if line_no == 1 and raw.startswith(_BOM) else 0
            try:
                raw[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                return _utf8_problem(raw, start + exc.start, offset, line_no, start)
            offset += len(raw)
    return "invalid UTF-8"


def read_utf8(path: str | Path, expected: str = "UTF-8 text", error: type[InputError] = InputError) -> str:
    """The text of ``path`` (a leading byte-order mark dropped); bytes that are not UTF-8 are an ``error``
    (:class:`InputError`, or :class:`SpecError` for a spec) naming the file, the byte, line and column."""
    raw = Path(path).read_bytes()
    start = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, expected, _utf8_problem(raw, start + exc.start, line_start=start)) from None


def utf8_lines(path: str | Path):
    """``(line number, line)`` of a UTF-8 file, numbered from 1, without line endings and a leading byte-order
    mark; read line by line (a large file is never held whole). Bytes that are not UTF-8 are an
    :class:`InputError` naming the file and where (:func:`bad_utf8`)."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield line_no, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputError(path, "UTF-8 text", bad_utf8(path)) from None
