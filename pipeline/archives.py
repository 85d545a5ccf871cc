"""Unpacking a downloaded ``.zip`` or ``.tar.gz`` (gold data, corpora) without trusting its members.

Every member is checked before anything is written: only regular files and
folders, relative paths without ``..``; links, devices and fifos are refused
(for tar archives, with the same check as published artifacts,
:func:`pipeline.artifacts._check_member`). The sum of the members' declared
sizes is bounded (and must fit the free disk space, less
:data:`pipeline.download.MIN_FREE`), and every member is written through a size-bounded copy, so
a compressed bomb stops at the bound. A compressed tar is read to its end, where
gzip, bzip2 and xz check their CRC; an encrypted or unreadable zip member is
refused by name, and so is a path that two members share. The archive is unpacked into a new folder that is renamed
into place only when complete.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import uuid
import zipfile
from pathlib import Path

from .errors import InputError

__all__ = ["unpack_archive", "ARCHIVES", "MAX_UNPACKED_BYTES"]

ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")

#: the most an archive may unpack to (the SemEval-2020 releases unpack to about 1 GB each)
MAX_UNPACKED_BYTES = 64 << 30


def _check_name(name: str, where: str) -> None:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/") \
            or (len(name) > 1 and name[1] == ":"):
        raise InputError(where, "an archive of files inside one folder (relative member paths, no ..)",
                         f"member {name!r:.120}; nothing was unpacked")


def _copy_bounded(src, dst, limit: int, where: str, name: str) -> int:
    n = 0
    while block := src.read(1 << 20):
        n += len(block)
        if n > limit:
            raise InputError(where, f"member {name!r:.80} of at most its declared size", "it unpacks to more; "
                             "nothing was unpacked")
        dst.write(block)
    return n


def _check_total(total: int, limit: int, tmp: Path, where: str) -> None:
    """The members' declared sizes, ``total`` bytes, within ``limit`` and within the free space of ``tmp``'s file
    system less :data:`pipeline.download.MIN_FREE` (an archive must not fill the disk other stages write to)."""
    from .download import MIN_FREE

    if total > limit:
        raise InputError(where, f"an archive that unpacks to at most {limit} bytes", f"it declares {total}")
    total_space, _, free = shutil.disk_usage(tmp)
    if total_space and total > free - MIN_FREE:  # (a file system of no blocks does not say: not bounded)
        raise InputError(where, f"an archive that fits the free space of {tmp.parent} ({free} bytes free, of which "
                         f"{MIN_FREE >> 20} MiB stay free: pipeline.download.MIN_FREE)",
                         f"it declares {total} bytes; nothing was unpacked")


def _both_file_and_folder(where: str, name: str) -> InputError:
    return InputError(where, "an archive whose members each have their own path",
                      f"member {name!r:.120} is both a file and a folder; nothing was unpacked")


def duplicate_member(names: list[str]) -> str | None:
    """The first file member whose path an earlier one already has, or None.

    zipfile and tarfile keep the last of two same-named members, another unpacker may keep the first: what
    such an archive holds depends on the tool that reads it, so it is refused rather than guessed.
    """
    seen: set[str] = set()
    for name in names:
        key = posixpath.normpath(name)
        if key in seen:
            return name
        seen.add(key)
    return None


def _refuse_duplicates(files: list[str], where: str) -> None:
    if (name := duplicate_member(files)) is not None:
        raise InputError(where, "an archive whose members each have their own path",
                         f"member {name!r:.120} appears more than once; nothing was unpacked")


def _unpack_zip(path: Path, tmp: Path, where: str, limit: int) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            _check_name(info.filename, where)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix mode recorded (a plain file)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise InputError(where, "an archive of regular files and folders",
                                 f"member {info.filename!r:.120} is a link or special file; nothing was unpacked")
            total += info.file_size
        _refuse_duplicates([i.filename for i in infos if not i.is_dir()], where)
        _check_total(total, limit, tmp, where)
        for info in infos:
            dest = tmp / info.filename
            try:
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as dst:
                    _copy_bounded(src, dst, info.file_size, where, info.filename)
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                raise _both_file_and_folder(where, info.filename) from None
            except (RuntimeError, NotImplementedError) as exc:  # zipfile's words for encrypted, unknown method
                why = ("is encrypted" if info.flag_bits & 0x1 else
                       f"uses compression method {info.compress_type}" if isinstance(exc, NotImplementedError)
                       else f"cannot be read ({exc})")
                raise InputError(where, "an archive of unencrypted members, stored or compressed with deflate, "
                                 "bzip2 or lzma",
                                 f"member {info.filename!r:.120} {why}; nothing was unpacked") from None


def _unpack_tar(path: Path, tmp: Path, where: str, limit: int) -> None:
    from .artifacts import ArtifactError, _check_member

    with tarfile.open(path) as tar:
        members = tar.getmembers()
        try:
            for m in members:
                _check_member(m, where)
        except ArtifactError as exc:
            raise InputError(where, "an archive of regular files and folders", str(exc).split(": ", 1)[-1]) from None
        _refuse_duplicates([m.name for m in members if not m.isdir()], where)
        _check_total(sum(m.size for m in members if m.isfile()), limit, tmp, where)
        try:
            tar.extractall(tmp, members=members, filter="data")
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            name = os.path.relpath(exc.filename, tmp) if exc.filename else "?"
            raise _both_file_and_folder(where, name) from None
        # the members end before the compressed stream does: read it to its end, where gzip, bzip2 and xz
        # check their CRC, so that a damaged archive is refused rather than unpacked with damaged files
        while tar.fileobj.read(1 << 20):
            pass


def unpack_archive(path: str | Path, dest: str | Path, *, limit: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack the ``.zip`` / ``.tar[.gz]`` at ``path`` into the new folder ``dest`` (which must not exist).

    A bad archive raises :class:`InputError` naming it, and nothing is left at ``dest``.
    """
    import gzip
    import lzma
    import zlib

    path, dest = Path(path), Path(dest)
    where = str(path)
    if dest.exists():
        raise FileExistsError(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        try:
            if zipfile.is_zipfile(path):
                _unpack_zip(path, tmp, where, limit)
            elif tarfile.is_tarfile(path):
                _unpack_tar(path, tmp, where, limit)
            else:
                raise InputError(where, f"an archive ({', '.join(ARCHIVES)})", "neither a zip nor a tar file")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
                gzip.BadGzipFile) as exc:
            raise InputError(where, f"an archive ({', '.join(ARCHIVES)})", " ".join(str(exc).split())) from None
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
