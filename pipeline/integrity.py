"""Integrity of finished stage folders: what the success marker records, and checking it (no luigi here).

A stage folder is complete when its success marker ``_SUCCESS`` exists **and**
every file it lists still has the recorded size and sha256. The marker is
written last, after every file, so it holds on a local disk and on object
storage alike::

    {"format": 2, "stage_id": "...", "created": "...",
     "files": {"vectors.vec": {"size": 1234, "sha256": "..."}, ...}}

Hashing a large folder on every ``complete()`` would be slow, so the check is
two-level:

* **quick** (the hot path): every listed file exists with the recorded size,
  no unlisted file appeared, and each file's ``(size, mtime)`` equals what a
  full check last saw on this machine (kept in the hidden ``.verified`` file
  beside the marker). Nothing is read.
* **full**: every file is hashed and compared with the marker. A quick check
  whose stat cache does not match falls back to a full check, and a full check
  that passes refreshes the cache, so a copied or mirrored folder is hashed
  once and then checked by ``stat`` alone.

A marker from before this format (no ``files``) never counts as complete: its
folder is rebuilt once.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.txt").write_text("hello")
>>> _ = write_marker(d, {"stage_id": "toy/a-123"})
>>> check_stage(d) is None
True
>>> _ = (d / "a.txt").write_text("hell")
>>> check_stage(d)
'a.txt: 4 bytes, the success marker recorded 5'
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .identity import file_sha256, write_json

log = logging.getLogger(__name__)

__all__ = ["SUCCESS", "VERIFIED", "MARKER_FORMAT", "stage_files", "hash_files", "write_marker", "read_marker",
           "check_stage", "check_listing", "safe_relative", "verify_tree"]

SUCCESS = "_SUCCESS"
VERIFIED = ".verified"  # this machine's stat cache of the last full check (never uploaded, never published)
MARKER_FORMAT = 2
MAX_MARKER_BYTES = 16 << 20


def stage_files(folder: Path) -> list[str]:
    """The files that make up a stage: every regular file but the marker and hidden files, as POSIX paths."""
    folder = Path(folder)
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == SUCCESS:
            continue
        if p.is_symlink() or p.is_file():  # links are listed so that hash_files refuses them
            out.append(rel.as_posix())
    return sorted(out)


def hash_files(folder: Path) -> dict[str, dict]:
    """``{relative path: {"size", "sha256"}}`` for every file of a stage folder."""
    folder = Path(folder)
    files = {}
    for rel in stage_files(folder):
        p = folder / rel
        if p.is_symlink():
            raise OSError(f"{p}: a stage folder must not hold symbolic links")
        files[rel] = {"size": p.stat().st_size, "sha256": file_sha256(p)}
    return files



def write_marker(folder: Path, record: dict, files: dict[str, dict] | None = None) -> dict:
    """Write the success marker of a finished folder (hashing its files unless ``files`` is given)."""
    folder = Path(folder)
    files = hash_files(folder) if files is None else files
    marker = {**record, "format": MARKER_FORMAT, "files": files}
    write_json(folder / SUCCESS, marker)
    _write_stat_cache(folder, files)
    return marker


def read_marker(folder: Path) -> dict | None:
    """The parsed marker, or None when there is none or it is not a marker of this format."""
    path = Path(folder) / SUCCESS
    try:
        if path.stat().st_size > MAX_MARKER_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if valid_marker(data) else None


def marker_problem(folder: Path) -> str:
    """Why ``folder``'s success marker is not one (for a stage :func:`read_marker` gave None): cut off, not
    JSON, of another format, or listing its files wrongly; one line.
    """
    path = Path(folder) / SUCCESS
    try:
        size = path.stat().st_size
        if size > MAX_MARKER_BYTES:
            return f"{size} bytes, more than a marker's {MAX_MARKER_BYTES}"
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:  # a marker is one JSON object: one that does not close was cut off
        cut = " (cut off: a write that did not finish?)" if not text.rstrip().endswith("}") else ""
        return f"not JSON at character {exc.pos} of {len(text)}: {exc.msg}{cut}"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        found = data.get("format") if isinstance(data, dict) else f"a JSON {type(data).__name__}"
        return f"format {found!r}, not {MARKER_FORMAT}"
    return "its list of files is malformed (paths, sizes or sha256)"


def valid_marker(data: Any) -> bool:
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT or not isinstance(data.get("files"), dict):
        return False
    folders: set[str] = set()
    for rel, rec in data["files"].items():
        if safe_relative(rel) != rel or not isinstance(rec, dict):
            return False
        if not isinstance(rec.get("size"), int) or rec["size"] < 0 or not _is_sha256(rec.get("sha256")):
            return False
        parts = rel.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    # a path that is both a file and the folder of another (an object store holds keys "a" and "a/b")
    # cannot be a folder on disk
    return not folders & set(data["files"])


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def safe_relative(rel: Any) -> str | None:
    """``rel`` as a normalised relative POSIX path of plain names, or None (absolute, ``..``, empty, odd)."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return None
    p = PurePosixPath(rel)
    if p.is_absolute() or any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    return p.as_posix()


def _stat_key(p: Path) -> list[int]:
    st = p.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


_READ_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("chronolingua_read_only", default=False)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Checks made inside write nothing, not even the stat cache (a dry run looks and never touches)."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def _write_stat_cache(folder: Path, files: dict[str, dict]) -> None:
    if _READ_ONLY.get():
        return
    try:
        cache = {rel: _stat_key(folder / rel) for rel in files}
        write_json(folder / VERIFIED, cache)
    except OSError:  # a read-only mirror: the next check hashes again
        pass


def _read_stat_cache(folder: Path) -> dict:
    try:
        data = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}


def check_stage(folder: Path, *, full: bool = False) -> str | None:
    """Why ``folder`` is not a complete, intact stage (one line naming the file), or None when it is.

    ``full`` hashes every file even when the stat cache says nothing changed.
    """
    folder = Path(folder)
    if not (folder / SUCCESS).is_file():
        if (folder / SUCCESS).is_dir() and not (folder / SUCCESS).is_symlink():
            return f"{SUCCESS}: a folder, not a success marker"
        return "no success marker"
    marker = read_marker(folder)
    if marker is None:
        return (f"{SUCCESS}: not a success marker of format {MARKER_FORMAT} listing the stage's files; "
                f"{marker_problem(folder)}")
    files = marker["files"]
    present = stage_files(folder)
    extra = sorted(set(present) - set(files))
    if extra:
        return f"{extra[0]}: a file the success marker does not list"
    for rel, rec in files.items():
        p = folder / rel
        if p.is_symlink() or not p.is_file():
            return f"{rel}: missing (the success marker lists it)"
        size = p.stat().st_size
        if size != rec["size"]:
            return f"{rel}: {size} bytes, the success marker recorded {rec['size']}"
    cache = {} if full else _read_stat_cache(folder)
    stale = [rel for rel in files if cache.get(rel) != _stat_key(folder / rel)]
    for rel in stale:
        found = file_sha256(folder / rel)
        if found != files[rel]["sha256"]:
            return f"{rel}: sha256 {found[:12]}..., the success marker recorded {files[rel]['sha256'][:12]}..."
    if stale:
        _write_stat_cache(folder, files)
    return None


def check_listing(marker: Any, sizes: dict[str, int]) -> str | None:
    """Quick check of a remote folder: its marker against a ``{relative path: size}`` listing of the folder."""
    if not valid_marker(marker):
        return f"{SUCCESS}: not a success marker of format {MARKER_FORMAT} listing the stage's files"
    for rel, rec in marker["files"].items():
        if rel not in sizes:
            return f"{rel}: missing (the success marker lists it)"
        if sizes[rel] != rec["size"]:
            return f"{rel}: {sizes[rel]} bytes, the success marker recorded {rec['size']}"
    return None


def verify_tree(outputs: Path, *, full: bool = True) -> Iterator[tuple[Path, str | None]]:
    """``(stage folder, problem or None)`` for every folder with a success marker under ``outputs/<stage>/``."""
    outputs = Path(outputs)
    if not outputs.is_dir():
        return
    for stage_dir in sorted(p for p in outputs.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder in sorted(p for p in stage_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (folder / SUCCESS).exists():
                yield folder, check_stage(folder, full=full)
