"""Keeping an output tree tidy: stale temporary folders, superseded stage folders, why a stage rebuilds.

No luigi here: tasks are passed in and used through ``complete()``,
``output().path``, ``artifact_name()`` and ``provenance()`` only.

* :func:`stale_temporaries` finds what killed runs left behind: ``.tmp-*``
  stage folders whose writer is gone (same host, dead pid) or that are older
  than ``max_age``, half-written ``.*.tmp`` files, and stage folders that never
  got their success marker. Nothing under ``outputs/.work/`` (resumable
  training state, download caches) is ever listed.
* :func:`superseded_folders` lists older versions of artifacts that a current
  spec still builds under a newer identity.
* :func:`explain` says why a stage would rebuild (never built, an unfinished
  attempt, which settings, inputs or algorithm version changed).
* :func:`run_lock` keeps two scheduled runs on one machine from overlapping.

>>> _tmp_owner(".tmp-sotu-abc123@my-host.lan.1234-0a1b2c3d")
('my-host.lan', 1234)
>>> _tmp_owner(".tmp-sotu-abc123-1234-0a1b2c3d")
(None, 1234)
>>> _diff({"cade": {"window": 5, "dim": 100}}, {"cade": {"window": 3, "dim": 100}})
['cade.window: 5 -> 3']
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import PipelineError
from .integrity import SUCCESS, check_stage

__all__ = ["TMP_PREFIX", "SUCCESS", "WORK", "AlreadyRunning", "stale_temporaries", "remove_paths",
           "superseded_folders", "remove_stage_folder", "explain", "run_lock", "split_stage_folder"]

TMP_PREFIX = ".tmp-"  # as pipeline.dag.base writes them
WORK = ".work"

_TMP_RE = re.compile(r"(?:@(?P<host>[^@/]+)\.|-)(?P<pid>\d+)-[0-9a-f]{8}$")  # <name>@<host>.<pid>-<hex8>
_FOLDER_RE = re.compile(r"^(?P<name>.+)-(?P<digest>[0-9a-f]{12})$")


class AlreadyRunning(PipelineError):
    """Another scheduled run holds the lock."""


def split_stage_folder(path: Path) -> tuple[str, str] | None:
    """``(artifact name, identity hash)`` of a stage folder name ``<name>-<12 hex>``, else None."""
    m = _FOLDER_RE.match(Path(path).name)
    return (m["name"], m["digest"]) if m else None


def _tmp_owner(name: str) -> tuple[str | None, int | None]:
    m = _TMP_RE.search(name)
    if not m:
        return None, None
    return m["host"], int(m["pid"])


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs. A zombie (killed, not yet reaped by its parent: a
    worker just SIGKILLed under a scheduler that has not waited for it yet) answers a signal but runs no
    more, so it counts as gone: ``/proc/<pid>/stat`` says so where there is a /proc."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive unless /proc says it is a zombie
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it ended since (where there is a /proc), or no /proc at all (macOS): the signal's answer
        return not Path("/proc/self").exists()
    # "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, the state follows the last ')'
    return stat[stat.rfind(")") + 1:].split()[:1] not in (["Z"], ["X"])


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def _stage_dirs(outputs: Path) -> Iterator[Path]:
    if not outputs.is_dir():
        return
    for d in sorted(outputs.iterdir()):
        # .work and other hidden state are never touched, nor the run report (outputs/report/, not a stage)
        # nor a link: maintenance never follows one out of the output root
        if d.is_dir() and not d.is_symlink() and not d.name.startswith(".") and d.name != "report":
            yield d


def stale_temporaries(outputs: Path, *, max_age: float = 24 * 3600, grace: float = 600,
                      now: float | None = None) -> list[tuple[Path, str]]:
    """What killed runs left under ``outputs/<stage>/``, with the reason each is stale.

    A ``.tmp-*`` folder is stale when its writer (host and pid are in its name)
    ran on this host and is gone, or when it is older than ``max_age`` seconds
    (writers on other hosts sharing the tree). Anything else (half-written
    ``.*.tmp`` files, folders without a success marker) must be older than
    ``grace`` seconds, so a live run between its rename and its marker is
    never disturbed.
    """
    now = time.time() if now is None else now
    here = socket.gethostname()
    out: list[tuple[Path, str]] = []
    for stage_dir in _stage_dirs(Path(outputs)):
        for p in sorted(stage_dir.iterdir()):
            age = _age(p, now)
            if p.is_symlink():  # a link is not what a killed run leaves, and is never followed
                continue
            if p.name.startswith(TMP_PREFIX):
                host, pid = _tmp_owner(p.name)
                if pid is not None and host in (None, here) and not _pid_alive(pid):
                    out.append((p, f"its writer (pid {pid}) is gone"))
                elif age > max_age:
                    out.append((p, f"older than {max_age / 3600:g} h"))
            elif p.name.startswith(".") and p.name.endswith(".tmp") and age > grace:
                out.append((p, "a half-written file"))
            elif p.is_dir() and not (p / SUCCESS).is_file() and age > grace:  # a _SUCCESS folder is none
                out.append((p, "a stage folder without its success marker"))
            elif p.is_dir():
                for f in p.glob(".*.tmp"):
                    if _age(f, now) > grace:
                        out.append((f, "a half-written file"))
    return out


def remove_stage_folder(path: Path) -> None:
    """Remove a stage folder so that no reader ever sees it half-deleted but complete."""
    path = Path(path)
    if path.is_symlink():  # never entered: what a link points at is not this tree's to delete
        path.unlink()
        return
    (path / SUCCESS).unlink(missing_ok=True)
    doomed = path.with_name(f"{TMP_PREFIX}deleting-{path.name}@{socket.gethostname()}.{os.getpid()}-"
                            f"{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed)


def remove_paths(paths: Iterable[Path]) -> int:
    """Delete files and folders; returns the bytes freed."""
    freed = 0
    for p in paths:
        p = Path(p)
        if WORK in p.parts:  # belt and braces: resumable state is never removed here
            raise PipelineError(f"{p}: refusing to remove resumable state under {WORK}/")
        freed += _size(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return freed


def _size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def superseded_folders(outputs: Path, current: Iterable[Path]) -> list[tuple[Path, str]]:
    """Stage folders of an artifact that the current specs build under another identity.

    ``current`` are the folders the current specs (all profiles asked for)
    produce. An artifact none of them produces (for example one whose spec was
    removed) is left alone: pruning never guesses.
    """
    keep = {Path(p).resolve() for p in current}
    by_group: dict[tuple[Path, str], list[Path]] = {}
    for stage_dir in _stage_dirs(Path(outputs)):
        for p in stage_dir.iterdir():
            real = p.is_dir() and not p.is_symlink()  # a linked stage folder is left alone, never entered
            parts = split_stage_folder(p) if real and not p.name.startswith(".") else None
            if parts:
                by_group.setdefault((stage_dir, parts[0]), []).append(p)
    out = []
    for (_, _name), folders in sorted(by_group.items()):
        kept = [p for p in folders if p.resolve() in keep]
        if not kept:
            continue
        for p in sorted(folders):
            if p.resolve() not in keep:
                out.append((p, f"superseded by {', '.join(k.name for k in sorted(kept))}"))
    return out


# --------------------------------------------------------------------------------------------- why rebuild


def _diff(old: Any, new: Any, prefix: str = "", limit: int = 6) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in old:
                out.append(f"{key}: added")
            elif k not in new:
                out.append(f"{key}: removed")
            else:
                out += _diff(old[k], new[k], key, limit)
        return out[:limit]
    if old != new:
        short = lambda v: (s if len(s := json.dumps(v, default=str)) <= 60 else s[:57] + "...")  # noqa: E731
        return [f"{prefix or 'value'}: {short(old)} -> {short(new)}"]
    return []


def _previous_builds(folder: Path, name: str) -> list[Path]:
    stage_dir = folder.parent
    if not stage_dir.is_dir():
        return []
    found = [p for p in stage_dir.iterdir()
             if (parts := split_stage_folder(p)) and parts[0] == name and (p / SUCCESS).is_file()]
    return sorted(found, key=lambda p: (p / SUCCESS).stat().st_mtime)


def explain(task) -> str | None:
    """Why ``task`` would run now, in words; None when it is complete."""
    if task.complete():
        return None
    out = task.output()
    folder = Path(getattr(out, "local", None) or out.path)  # never fetch a remote folder just to explain
    if folder.is_dir():
        problem = check_stage(folder)
        if problem and problem != "no success marker":
            return f"its files no longer match its success marker ({problem})"
        return "an earlier attempt did not finish (no success marker)"
    previous = _previous_builds(folder, task.artifact_name())
    if not previous:
        return "never built"
    last = previous[-1]
    try:
        old = json.loads((last / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return f"identity changed since {last.name} (its provenance.json is unreadable)"
    new = task.provenance()
    reasons = []
    if old.get("algorithm_version") != new.get("algorithm_version"):
        reasons.append(f"algorithm version {old.get('algorithm_version')} -> {new.get('algorithm_version')}")
    reasons += [f"setting {d}" for d in _diff(old.get("settings"), new.get("settings"))]
    reasons += [f"input {d}" for d in _inputs_diff(old.get("inputs"), new.get("inputs"))]
    return f"changed since {last.name}: " + ("; ".join(reasons) if reasons else "identity differs")


def _inputs_diff(old: Any, new: Any) -> list[str]:
    # upstream stage folders: name the stage that was rebuilt rather than two hash lists
    if isinstance(old, list) and isinstance(new, list):
        gone, came = sorted(set(old) - set(new)), sorted(set(new) - set(old))
        return [f"upstream {a} -> {b}" for a, b in zip(gone, came)] + \
            [f"upstream {b} added" for b in came[len(gone):]] + [f"upstream {a} removed" for a in gone[len(came):]]
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            if old.get(k) == new.get(k):
                continue
            if isinstance(old.get(k), list) or isinstance(new.get(k), list):
                out += [f"{k}: {d}" for d in _inputs_diff(old.get(k) or [], new.get(k) or [])]
            elif k not in old:
                out.append(f"{k}: added")
            elif k not in new:
                out.append(f"{k}: removed")
            else:
                out.append(f"{k}: content changed")  # corpus fingerprints, file hashes
        return out
    return _diff(old, new, "inputs")


# --------------------------------------------------------------------------------------------- locking


@contextlib.contextmanager
def run_lock(path: Path, what: str = "a scheduled run") -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``path`` for the duration; :class:`AlreadyRunning` if held.

    The lock is an ``flock`` on a local file: released by the kernel when the
    holder dies (kill -9 included), so a crashed run never blocks the next.
    Across machines, use the central scheduler (luigid) instead.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise AlreadyRunning(f"{path}: {what} is already running ({holder or 'holder unknown'}); "
                                 "not starting a second one") from None
        raise
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        fh.flush()
        yield path
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
