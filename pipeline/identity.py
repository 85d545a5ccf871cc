"""Stage identity, input fingerprints and provenance records (no luigi here).

A stage's identity is its own settings, the fingerprints of its inputs and a
per-stage algorithm version bumped whenever the code changes results. Equal
identities mean equal artifacts, so a stage whose identity already has a
success marker on disk is complete.

>>> a = stage_hash("compass", 1, {"dim": 100}, {"corpus": "abc"})
>>> a == stage_hash("compass", 1, {"dim": 100}, {"corpus": "abc"})
True
>>> a == stage_hash("compass", 2, {"dim": 100}, {"corpus": "abc"})
False
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

__all__ = ["canonical_json", "write_json", "stage_hash", "file_sha256", "fingerprint_paths", "package_versions", "provenance_record"]

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def write_json(path: Path | str, value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON to ``path`` atomically (a temporary file, then a rename)."""
    import uuid

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def stage_hash(stage: str, version: int, settings: Any, inputs: Any, length: int = 12) -> str:
    """Short, stable hash of what defines a stage's artifact."""
    payload = canonical_json({"stage": stage, "version": version, "settings": settings, "inputs": inputs})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 of a file's content, cached on (path, size, mtime) within the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    _HASH_CACHE[key] = digest
    return digest


def fingerprint_paths(paths: Iterable[Path | str], root: Path | str | None = None) -> str:
    """One sha256 over the relative names and contents of several files."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        name = str(p.relative_to(root)) if root else p.name
        h.update(name.encode("utf-8") + b"\0" + file_sha256(p).encode("ascii") + b"\n")
    return h.hexdigest()


def package_versions(names: Iterable[str] = ("numpy", "gensim", "numba", "polars", "luigi", "scipy")) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance_record(stage: str, stage_id: str, version: int, settings: Any, inputs: Any,
                      extra: dict | None = None) -> dict:
    """What a stage folder's ``provenance.json`` holds."""
    rec = {
        "stage": stage,
        "stage_id": stage_id,
        "algorithm_version": version,
        "settings": settings,
        "inputs": inputs,
        "packages": package_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "pid": os.getpid(),
        "argv": sys.argv[:1],
    }
    if extra:
        rec.update(extra)
    return rec
