"""The files a download writes into: the partial file (never through a link or into a device) and the version
recorded beside it, the lock beside the destination (:func:`dest_lock`), and the bounded copy that refuses a
body longer than its bound and stops while :data:`MIN_FREE` bytes are still free."""
from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InputError
from .common import DownloadError

log = logging.getLogger("pipeline.download")  # the package's one logger (pipeline.models filters it)


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


def _version_file(part: Path) -> Path:
    """Beside ``<dest>.part``: the version (ETag or Last-Modified) of the content it holds the start of."""
    return part.with_name(part.name + ".version")


def _discard(part: Path) -> None:
    """Remove a partial file (and the version recorded beside it), never through a link."""
    for path in (part, _version_file(part)):
        with contextlib.suppress(OSError, InputError):
            if _regular_or_absent(path):
                path.unlink()
