"""The transports that are no HTTP: a local path (or ``file://`` URL), and a file of an fsspec file system
(resumed with a seek past the partial file)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError
from .common import _bar
from .files import _bound, _copy_bounded, _open_part, _size_of, _too_long


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
