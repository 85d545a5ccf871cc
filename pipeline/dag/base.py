"""What every stage shares: where things live, the output-target factory,
stage identity and atomic writing.

A stage folder is ``<outputs>/<stage>/<name>-<hash>/``. The hash is the
stage identity (its own settings, the identities of its inputs and an
algorithm version). The folder is built under a temporary name next to its
final place, renamed into place, and only then gets its success marker
``_SUCCESS``; a folder without the marker is never complete and is replaced on
the next run. Resumable state lives under ``<outputs>/.work/<stage>-<hash>/``.

The output root may also be an fsspec URL (``s3://bucket/outputs``, shared by
several machines): a stage is then built in the local mirror as above,
uploaded file by file, and marked complete by its remote ``_SUCCESS``, written
last; its inputs are fetched into the local mirror when a task reads them.
"""
from __future__ import annotations

import abc
import contextlib
import errno
import json
import logging
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import luigi

from ..errors import PipelineError
from ..identity import canonical_json, provenance_record, stage_hash, write_json
from ..integrity import SUCCESS, check_listing, check_stage, hash_files, safe_relative, write_marker
from ..maintenance import remove_stage_folder

logger = logging.getLogger("luigi-interface")

TMP_PREFIX = ".tmp-"


class pipeline(luigi.Config):  # noqa: N801 - luigi names a config section after its class
    """The ``[pipeline]`` section of luigi.cfg: the run environment."""

    root = luigi.Parameter(default="", description="project folder holding tasks/ and corpora/")
    outputs = luigi.Parameter(default="", description="output root (default <root>/outputs)")
    corpora = luigi.Parameter(default="", description="corpus root (default <root>/corpora)")
    threads = luigi.IntParameter(default=0, description="threads per stage; 0 = cores / workers")
    store = luigi.Parameter(default="", description="artifact store URL for publish / download / list")
    local_outputs = luigi.Parameter(default="", description="local mirror of a URL output root "
                                                            "(default <root>/outputs)")


def project_root() -> Path:
    env = os.environ.get("CHRONOLINGUA_HOME")
    if env:
        return Path(env).resolve()
    cfg = pipeline().root
    if cfg:
        return Path(cfg).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "tasks").is_dir():
        return here
    return Path.cwd()


def _outputs_setting() -> str:
    return str(pipeline().outputs or os.environ.get("CHRONOLINGUA_OUTPUTS") or "")


def outputs_url() -> str | None:
    """The output root when it is a remote fsspec URL (``s3://...``, ``gs://...``), else None."""
    scheme = urlparse(_outputs_setting()).scheme
    return _outputs_setting().rstrip("/") if len(scheme) > 1 and scheme != "file" else None


def outputs_root() -> Path:
    """The local output root: the output folder itself, or the local mirror of a remote (URL) output root.

    Resumable state (``.work/``) always lives here, on the machine that runs the stage.
    """
    if outputs_url():
        return Path(pipeline().local_outputs or os.environ.get("CHRONOLINGUA_LOCAL_OUTPUTS")
                    or project_root() / "outputs")
    value = _outputs_setting()
    if value.startswith("file://"):  # file:///a%20b (Path.as_uri()) is the folder "a b"
        from urllib.request import url2pathname

        value = url2pathname(urlparse(value).path)
    return Path(value or project_root() / "outputs")


def corpora_root() -> Path:
    return Path(pipeline().corpora or os.environ.get("CHRONOLINGUA_CORPORA") or project_root() / "corpora")


def tasks_root() -> Path:
    return project_root() / "tasks"


_SPEC_CACHE: dict[tuple, Any] = {}
_SPEC_FILES: dict[int, Path] = {}  # id of a cached spec -> the file it was read from (cached specs live on)


def cached_spec(kind: str, name: str, profile: str, loader):
    """The validated spec ``tasks/<kind>/<name>.yaml`` (re-read when the file changes)."""
    from ..errors import InputError

    if not name or name.startswith(".") or "/" in name or "\\" in name:  # never a file outside tasks/<kind>/
        known = sorted(p.stem for p in (tasks_root() / kind).glob("*.yaml"))
        raise InputError(tasks_root() / kind, f"the name of a {kind} run spec (tasks/{kind}/<name>.yaml)",
                         f"{name!r}; specs here: {', '.join(known) or 'none'}")
    path = tasks_root() / kind / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (tasks_root() / kind).glob("*.yaml"))
        raise InputError(path, f"a {kind} run spec", f"no such file; specs here: {', '.join(known) or 'none'}")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, profile)
    if key not in _SPEC_CACHE:
        _SPEC_CACHE[key] = loader(path, profile)
        _SPEC_FILES[id(_SPEC_CACHE[key])] = path
    return _SPEC_CACHE[key]


@contextlib.contextmanager
def _errors_name_the_spec(task) -> Iterator[None]:
    """An :class:`~pipeline.errors.InputError` raised inside a stage without a file to name (a library
    function's check: no anchor word shared, no token for FOCUS, no CUDA device) names the task's spec file,
    and the stage, instead: the spec is what chose the inputs and settings that failed."""
    from ..errors import InputError

    try:
        yield
    except InputError as exc:
        spec_file = task.spec_file()
        if exc.path is not None or spec_file is None:
            raise
        found = f"{exc.found}; " if exc.found else ""
        named = InputError(spec_file, exc.expected, f"{found}in stage {task.stage} ({task.artifact_name()})")
        raise named.with_traceback(exc.__traceback__) from exc


def referenced_spec(kind: str, name: str, spec_file: Path, key: str) -> str:
    """``name``, once it names a spec ``tasks/<kind>/<name>.yaml``: a spec that refers to another (a transfer's
    ``static_vectors``, a static comparison's ``bli.aligned``) gets the error, naming its file and ``key``."""
    from ..errors import SpecError

    folder = tasks_root() / kind
    if not name or name.startswith(".") or "/" in name or "\\" in name or not (folder / f"{name}.yaml").is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise SpecError(spec_file, f"{key}: the name of a {kind} spec (tasks/{kind}/<name>.yaml)",
                        f"found {name!r}; the {kind} specs are: {', '.join(known) or 'none'}")
    return name


def corpus_fingerprints(names) -> dict[str, str]:
    """Content fingerprints of corpora under the corpus root: part of every dependent stage's identity."""
    from ..corpora import fingerprint_corpus
    from ..errors import InputError

    out = {}
    for name in names:
        folder = corpora_root() / name
        if not folder.is_dir():
            raise InputError(folder, f"a corpus folder for '{name}' (run `python -m pipeline import-corpora`)",
                             "it does not exist")
        out[name] = fingerprint_corpus(folder)
    return out


def copy_from_stage(src: Path, dst: Path) -> None:
    """Copy a file from an upstream stage (never a hard link: a file changed under one stage must not
    silently change another; each stage's marker covers its own copy)."""
    shutil.copyfile(src, dst)


def stage_threads() -> int:
    """Threads per stage so that luigi workers x threads never exceed the cores."""
    configured = pipeline().threads
    if configured > 0:
        return configured
    try:
        workers = max(1, int(luigi.configuration.get_config().get("core", "workers", "1")))
    except ValueError:
        workers = 1
    return max(1, (os.cpu_count() or 1) // workers)


class StageTarget(luigi.Target):
    """A stage folder; it exists only once its success marker has been written.

    With a URL output root (``url`` set) the marker that counts is the remote
    one, and ``path`` is the local mirror: reading it fetches a complete
    remote folder once (so tasks read their inputs as local files wherever
    the stage was built).
    """

    def __init__(self, path: Path | str, url: str | None = None):
        self.local = Path(path)
        self.url = url

    @property
    def path(self) -> Path:
        if self.url is not None:
            _mirror(self.url, self.local)
        return self.local

    @property
    def name(self) -> str:
        return self.local.name

    def exists(self) -> bool:
        """The marker exists and the files it lists are intact (a changed file: a warning naming it, and False)."""
        if self.url is None:
            return _intact(self.local, check_stage(self.local))
        fs, root = _remote(self.url)
        return _intact(self.url, _remote_problem(fs, root))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"StageTarget({str(self.local)!r}{f', url={self.url!r}' if self.url else ''})"


def stage_target(stage: str, name: str, digest: str) -> StageTarget:
    """The one factory for stage outputs (a local folder, or a URL with a local mirror)."""
    url = outputs_url()
    folder = f"{name}-{digest}"
    return StageTarget(outputs_root() / stage / folder, url=f"{url}/{stage}/{folder}" if url else None)


def _remote(url: str):
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


_MIRRORED: set[str] = set()  # remote folders this process has mirrored (a finished stage never changes)


_WARNED: set[tuple[str, str]] = set()


def _intact(where, problem: str | None) -> bool:
    if problem is None:
        return True
    if problem != "no success marker" and (str(where), problem) not in _WARNED:
        _WARNED.add((str(where), problem))
        logger.warning("%s: %s; the stage is not complete and will be rebuilt", where, problem)
    return False


def _remote_marker(fs, root: str) -> dict | None:
    from ..integrity import MAX_MARKER_BYTES, valid_marker

    try:
        raw = fs.cat_file(f"{root}/{SUCCESS}")
    except FileNotFoundError:
        return None
    if len(raw) > MAX_MARKER_BYTES:
        return None
    try:
        marker = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not valid_marker(marker) or ("attempt" in marker and not _is_attempt(marker["attempt"])):
        return None
    return marker


#: the folder, inside a remote stage folder, that one upload attempt writes its files to (host, pid, random)
ATTEMPT_PREFIX = ".attempt-"


def _is_attempt(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(ATTEMPT_PREFIX) and safe_relative(name) == name \
        and "/" not in name


def _files_root(root: str, marker: dict) -> str:
    """Where a remote stage's files are: the attempt folder its marker names (what :func:`_upload` writes), or
    the stage folder itself (a marker written before uploads had attempt folders)."""
    return f"{root}/{marker['attempt']}" if "attempt" in marker else root


def _remote_problem(fs, root: str) -> str | None:
    """Quick check of a remote stage folder: a valid marker whose files are all there with their sizes."""
    if not fs.exists(f"{root}/{SUCCESS}"):
        return "no success marker"
    marker = _remote_marker(fs, root)
    if marker is None:
        return check_listing(None, {})  # says what a marker must be
    base = _files_root(root, marker)
    try:
        listing = fs.find(base, detail=True)
    except FileNotFoundError:
        listing = {}
    sizes = {p[len(base):].lstrip("/"): int(info.get("size") or 0) for p, info in listing.items()}
    return check_listing(marker, sizes)


def verify_remote(url: str, *, full: bool = True) -> Iterator[tuple[str, str | None]]:
    """``(stage/folder, problem or None)`` for every remote stage folder with a marker under ``url``.

    ``full`` streams every file and compares its sha256 with the marker (nothing is written locally).
    """
    import hashlib

    fs, root = _remote(url)
    for marker_path in sorted(fs.glob(f"{root}/*/*/{SUCCESS}")):
        folder = marker_path.rsplit("/", 1)[0]
        rel = folder[len(root):].lstrip("/")
        problem = _remote_problem(fs, folder)
        if problem is None and full:
            marker = _remote_marker(fs, folder)
            files = _files_root(folder, marker)
            for name, rec in sorted(marker["files"].items()):
                h = hashlib.sha256()
                with fs.open(f"{files}/{name}", "rb") as fh:
                    while block := fh.read(1 << 20):
                        h.update(block)
                if h.hexdigest() != rec["sha256"]:
                    problem = f"{name}: sha256 {h.hexdigest()[:12]}..., the success marker recorded " \
                              f"{rec['sha256'][:12]}..."
                    break
        yield rel, problem


class CorruptStage(PipelineError):
    """A finished stage whose files do not match its success marker."""


def _mirror(url: str, local: Path) -> None:
    """Fetch a complete remote stage folder into ``local`` unless the local copy has the same marker.

    Only the files the remote marker lists are fetched, each bounded by its recorded size and checked
    against its recorded sha256 before the folder is placed; a mismatch is :class:`CorruptStage`.
    """
    if url in _MIRRORED and check_stage(local) is None:
        return
    from ..download import download
    from ..errors import InputError

    fs, root = _remote(url)
    marker = _remote_marker(fs, root)
    if marker is None:
        return  # not built yet (or no valid marker): the local path is where a writer builds it
    if (local / SUCCESS).is_file() and _same_marker(local, marker) and check_stage(local) is None:
        _MIRRORED.add(url)
        return
    tmp = local.parent / f"{TMP_PREFIX}{local.name}@{socket.gethostname()}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        files = _files_root(root, marker)
        for rel, rec in sorted(marker["files"].items()):
            dest = tmp / safe_relative(rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:  # the one downloader: bounded by the recorded size, checked against the recorded sha256
                download(f"{files}/{rel}", dest, sha256=rec["sha256"], size=rec["size"], fs=fs, lock=False,
                         label=f"{url}/{rel}")
            except InputError as exc:
                raise CorruptStage(f"{exc}: it does not match the stage's success marker; not used. Rebuild it "
                                   f"(remove {url}/{SUCCESS}) or run `chronolingua verify`") from None
        write_marker(tmp, {k: v for k, v in marker.items() if k not in ("files", "format", "attempt")},
                     marker["files"])
        if local.exists():
            remove_stage_folder(local)
        os.replace(tmp, local)
        _MIRRORED.add(url)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _same_marker(local: Path, marker: dict) -> bool:
    try:
        mine = json.loads((local / SUCCESS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return mine.get("files") == marker.get("files") and mine.get("stage_id") == marker.get("stage_id")


#: an attempt folder another uploader left this long ago (by its newest file) is taken for an abandoned one
STALE_ATTEMPT_SECONDS = 6 * 3600


def _upload(local: Path, url: str, files: dict[str, dict]) -> None:
    """Put a finished local stage folder at ``url``: its ``files`` (the marker's), then the success marker last.

    Object stores have no atomic folder rename; the marker written last is what makes the remote folder
    complete, so a reader never takes a half-uploaded folder for a finished one. The files go to a folder of
    their own, ``<url>/.attempt-<host>.<pid>-<random>/``, which the marker names: two workers that finish the
    same stage (a task handed out again after its first worker seemed lost) never write over or remove each
    other's files, and whichever marker lands last names a folder that is whole. A remote folder that is
    already complete (another worker finished first) is left as it is: its marker wins, and this attempt's
    files are removed. Files of earlier attempts are removed once this one's marker is in place: those of the
    old flat layout, and attempt folders untouched for :data:`STALE_ATTEMPT_SECONDS`.
    """
    fs, root = _remote(url)
    if _remote_problem(fs, root) is None:
        logger.info("%s: already complete (written by another worker); keeping it", url)
        return
    replaced = (_remote_marker(fs, root) or {}).get("attempt")  # a finished attempt whose files were damaged
    attempt = f"{ATTEMPT_PREFIX}{socket.gethostname()}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    base = f"{root}/{attempt}"
    # exactly the files the marker lists: a hidden file in the folder (this machine's stat cache, an editor's
    # swap file) is no part of the stage, and a reader would find it unlisted
    for rel in sorted(files):
        dest = f"{base}/{rel}"
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(local / rel), dest)
    if _remote_problem(fs, root) is None:  # another worker's marker landed while these files went up
        logger.info("%s: completed by another worker during this upload; keeping theirs", url)
        fs.rm(base, recursive=True)
        return
    marker = {**json.loads((local / SUCCESS).read_text(encoding="utf-8")), "attempt": attempt}
    fs.pipe_file(f"{root}/{SUCCESS}", json.dumps(marker, indent=1, sort_keys=True).encode("utf-8"))
    if (_remote_marker(fs, root) or {}).get("attempt") != attempt:  # a marker written just after this one
        fs.rm(base, recursive=True)
        return
    _remove_other_attempts(fs, root, attempt, replaced)


def _remove_other_attempts(fs, root: str, keep: str, replaced: str | None) -> None:
    """Remove what earlier uploads of ``root`` left beside the marker and ``keep``: files of the flat layout,
    the ``replaced`` attempt (the one a damaged marker named: finished, so nobody writes there), and attempt
    folders untouched for :data:`STALE_ATTEMPT_SECONDS` (a younger one may be a live upload; it removes itself
    when it finds this marker). A store that gives no times keeps them."""
    for entry in fs.ls(root, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if name in (SUCCESS, keep):
            continue
        if not name.startswith(ATTEMPT_PREFIX) or name == replaced:
            fs.rm(entry["name"], recursive=entry.get("type") == "directory")
        elif (_idle_seconds(fs, entry["name"]) or 0) > STALE_ATTEMPT_SECONDS:
            fs.rm(entry["name"], recursive=True)


def _idle_seconds(fs, folder: str) -> float | None:
    """Seconds since the newest file under a remote ``folder`` was written; None when the store gives no time
    for one of them (or the folder holds none)."""
    import time

    times = [_modified(info) for info in fs.find(folder, detail=True).values()]
    return None if not times or None in times else time.time() - max(times)


def stale_remote_attempts(url: str, *, max_age: float) -> list[tuple[str, str]]:
    """``(url, why)`` for every upload attempt folder under the remote output root ``url`` that no valid marker
    names and whose newest file is older than ``max_age`` seconds: what a worker killed during an upload left
    (what ``chronolingua clean`` removes on a shared root). A younger one may be an upload under way."""
    fs, root = _remote(url)
    found = []
    for folder in sorted(fs.glob(f"{root}/*/*/{ATTEMPT_PREFIX}*")):
        stage = folder.rsplit("/", 1)[0]
        name = folder.rsplit("/", 1)[-1]
        if (_remote_marker(fs, stage) or {}).get("attempt") == name:
            continue
        idle = _idle_seconds(fs, folder)
        if idle is not None and idle > max_age:
            found.append((f"{url.rstrip('/')}{folder[len(root):]}",
                          f"an upload attempt no success marker names, untouched for {idle / 3600:.1f} h"))
    return found


def remove_remote(urls: list[str]) -> None:
    """Remove the remote folders at ``urls`` (found by :func:`stale_remote_attempts`)."""
    for url in urls:
        fs, path = _remote(url)
        fs.rm(path, recursive=True)


def _modified(info: dict) -> float | None:
    """A listing entry's modification time in seconds since the epoch, from whichever field the store gives
    (local and memory: ``mtime`` / ``created``; S3: ``LastModified``; GCS: ``updated``), or None."""
    import datetime

    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def work_dir(stage: str, name: str, digest: str) -> Path:
    """Resumable state of a stage (kept across failed runs, never auto-cleaned)."""
    path = outputs_root() / ".work" / f"{stage}-{name}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path




@contextlib.contextmanager
def write_stage(target: StageTarget, provenance: dict) -> Iterator[Path]:
    """Yield a temporary folder; on success move it into place and mark it done.

    On any error (or interrupt) the temporary folder is removed and nothing is
    left at the final path.
    """
    final = target.local
    # host and pid in the name let `chronolingua clean` tell a killed writer's folder from a live one
    tmp = final.parent / f"{TMP_PREFIX}{final.name}@{socket.gethostname()}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise _output_error(final, exc) from exc
    try:
        yield tmp
        write_json(tmp / "provenance.json", provenance)
        files = hash_files(tmp)  # hashed before the move: the marker records what this writer wrote
        if final.exists():  # an earlier attempt without a success marker, or a corrupt one (under the stage lock)
            remove_stage_folder(final)
        os.replace(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise _output_error(final, exc) from exc
        raise
    try:
        write_marker(final, {"stage_id": provenance.get("stage_id"), "created": provenance.get("created")}, files)
        if target.url is not None:
            _upload(final, target.url, files)
    except OSError as exc:  # complete files but no marker: the folder counts as unfinished and is rebuilt
        raise _output_error(target.url or final, exc) from exc


class OutputError(PipelineError):
    """The output root cannot take a stage (full disk, read-only or missing folder); nothing was kept."""


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EFBIG}


def _output_error(final: Path | str, exc: OSError) -> OutputError:
    return OutputError(f"{final}: cannot write this stage under the output root {outputs_url() or outputs_root()} "
                       f"({exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}); "
                       "no partial artifact was kept")


def stage_lock_path(target: StageTarget) -> Path:
    """The lock file of one stage folder (local; across machines luigid hands a task to one worker)."""
    return outputs_root() / ".work" / "locks" / target.local.parent.name / f"{target.local.name}.lock"


@contextlib.contextmanager
def stage_lock(target: StageTarget) -> Iterator[None]:
    """Hold the stage's exclusive lock (blocking): a second run of the same stage waits for the first.

    An ``flock``: released by the kernel when the holder dies, so a killed run never blocks the next.
    """
    import fcntl

    path = stage_lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _output_error(target.local, exc) from exc
        raise
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            logger.info("%s: another run is building this stage; waiting for it", target.local.name)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _locked_run(run):
    """Wrap a stage's ``run``: take the stage lock, and reuse the result if another run finished it meanwhile."""
    import functools
    import inspect

    if inspect.isgeneratorfunction(run):  # dynamic dependencies: luigi drops the generator when it yields
        @functools.wraps(run)
        def gen_run(self):
            with _errors_name_the_spec(self), stage_lock(self.output()):
                if self.output().exists():
                    logger.info("%s: built by another run meanwhile; reusing it", self.stage_id())
                    return
                yield from run(self)
        return gen_run

    @functools.wraps(run)
    def locked(self):
        with _errors_name_the_spec(self), stage_lock(self.output()):
            if self.output().exists():
                logger.info("%s: built by another run meanwhile; reusing it", self.stage_id())
                return None
            return run(self)
    return locked


class StageTask(luigi.Task):
    """A task that produces one stage folder.

    Subclasses set ``stage`` and ``version`` and implement ``identity_settings``
    (the settings that change the artifact), ``artifact_name`` and ``run``.
    Input identities are the names of the upstream stage folders, which carry
    their own hashes, so a change anywhere upstream changes this stage's id.
    """

    stage: str = ""
    version: int = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:  # every stage's run() builds under its stage lock (see _locked_run)
            cls.run = _locked_run(cls.__dict__["run"])

    @abc.abstractmethod
    def identity_settings(self) -> Any:
        """The settings (JSON-able) that change this stage's artifact."""

    def identity_inputs(self) -> Any:
        deps = luigi.task.flatten(self.requires())
        return sorted(t.output().name for t in deps if isinstance(t.output(), StageTarget))

    def input_records(self) -> list:
        """The outside inputs this stage reads (:class:`pipeline.inputs.InputRecord`: corpora, dictionaries,
        models, data by URL), with their fingerprints and licences. Upstream stages are not listed: they
        declare their own. Provenance and a published artifact's manifest carry these records whole.
        """
        return []

    #: True for a stage whose ``run`` first yields more stages, named after its inputs' data (see
    #: :meth:`dynamic_requires`): a dry run cannot list them before those inputs exist.
    yields_stages: bool = False

    def dynamic_requires(self) -> list:
        """The stages ``run`` yields once the static inputs are complete (the declared dynamic-dependency hook).

        Called only when every task of ``requires()`` is complete; the default is none.
        """
        return []

    @abc.abstractmethod
    def artifact_name(self) -> str:
        """A readable name for the artifact (corpus, language, model)."""

    def gpu_device(self) -> str | None:
        """The device setting (``cpu``, ``cuda``, ``auto``) of a stage that can run on a GPU; None for one that
        never does. :attr:`resources` turns it into luigi's ``[resources] gpu`` slot."""
        return None

    @property
    def resources(self) -> dict[str, int]:
        """One ``[resources] gpu`` slot for a stage that will run on a GPU (luigi.cfg caps how many run at once).

        luigi asks every scheduled task for its resources, also one whose ``complete()`` has just failed on a
        spec that does not load; an exception here would abort the whole worker ("unexpected framework
        error") instead of reporting that task's scheduling error. Such a task never runs, so it needs no slot.
        """
        try:
            device = self.gpu_device()
        except PipelineError:
            return {}
        if device is None:
            return {}
        from ..torchutil import gpu_resources

        return gpu_resources(device)

    def pinned_spec(self, load: Callable[[], Any]) -> Any:
        """``load()`` once per task instance: the spec a task was scheduled with is the one it runs with.

        The stage's identity (its folder name) is hashed from the spec when luigi schedules the task; a spec
        file edited while the run is under way must not give ``run()`` other settings, or the artifact would
        be filed under a name that does not describe it. The edit takes effect in the next run. (Kept per
        project root: luigi's instance cache may hand the same instance to a run under another
        ``CHRONOLINGUA_HOME``.)
        """
        pins = self.__dict__.setdefault("_pinned_specs", {})
        root = str(tasks_root())
        if root not in pins:
            pins[root] = load()
        return pins[root]

    def spec_file(self) -> Path | None:
        """The spec file this task's pinned spec was read from (None for a task without one)."""
        spec = self.__dict__.get("_pinned_specs", {}).get(str(tasks_root()))
        return _SPEC_FILES.get(id(spec)) if spec is not None else None

    def _identity(self) -> tuple[str, Any, Any]:
        cached = getattr(self, "_identity_cache", None)
        if cached is None:
            settings = self.identity_settings()
            inputs = self.identity_inputs()
            # round-trip through JSON so the record equals what the hash saw
            settings = json.loads(canonical_json(settings))
            cached = (stage_hash(self.stage, self.version, settings, inputs), settings, inputs)
            self._identity_cache = cached
        return cached

    def output(self) -> StageTarget:
        digest, _, _ = self._identity()
        return stage_target(self.stage, self.artifact_name(), digest)

    def stage_id(self) -> str:
        return f"{self.stage}/{self.output().name}"

    def provenance(self, extra: dict | None = None) -> dict:
        digest, settings, inputs = self._identity()
        records = {"input_records": [r.as_dict() for r in self.input_records()]}
        return provenance_record(self.stage, self.stage_id(), self.version, settings, inputs,
                                 {**records, **(extra or {})})

    def writing(self, extra: dict | None = None):
        """``with self.writing() as tmp:`` — the atomic stage writer for this task."""
        return write_stage(self.output(), self.provenance(extra))

    def progress(self, fraction: float, message: str = "") -> None:
        try:
            self.set_progress_percentage(round(100 * max(0.0, min(1.0, fraction)), 1))
            if message:
                self.set_status_message(message)
        except Exception:  # no scheduler attached (plain run() in tests)
            pass
