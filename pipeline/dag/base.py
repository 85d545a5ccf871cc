"""What every stage shares: where things live, the output-target factory,
stage identity and atomic writing.

A stage folder is ``<outputs>/<stage>/<name>-<hash>/``. The hash is the
stage identity (its own settings, the identities of its inputs and an
algorithm version). The folder is built under a temporary name next to its
final place, renamed into place, and only then gets its success marker
``_SUCCESS``; a folder without the marker is never complete and is replaced on
the next run. Resumable state lives under ``<outputs>/.work/<stage>-<hash>/``.
"""
from __future__ import annotations

import abc
import contextlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import luigi

from ..identity import canonical_json, provenance_record, stage_hash

logger = logging.getLogger("luigi-interface")

SUCCESS = "_SUCCESS"
TMP_PREFIX = ".tmp-"


class pipeline(luigi.Config):  # noqa: N801 - luigi names a config section after its class
    """The ``[pipeline]`` section of luigi.cfg: the run environment."""

    root = luigi.Parameter(default="", description="project folder holding tasks/ and corpora/")
    outputs = luigi.Parameter(default="", description="output root (default <root>/outputs)")
    corpora = luigi.Parameter(default="", description="corpus root (default <root>/corpora)")
    threads = luigi.IntParameter(default=0, description="threads per stage; 0 = cores / workers")


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


def outputs_root() -> Path:
    return Path(pipeline().outputs or os.environ.get("CHRONOLINGUA_OUTPUTS") or project_root() / "outputs")


def corpora_root() -> Path:
    return Path(pipeline().corpora or os.environ.get("CHRONOLINGUA_CORPORA") or project_root() / "corpora")


def tasks_root() -> Path:
    return project_root() / "tasks"


_SPEC_CACHE: dict[tuple, Any] = {}


def cached_spec(kind: str, name: str, profile: str, loader):
    """The validated spec ``tasks/<kind>/<name>.yaml`` (re-read when the file changes)."""
    from ..errors import InputError

    path = tasks_root() / kind / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (tasks_root() / kind).glob("*.yaml"))
        raise InputError(path, f"a {kind} run spec", f"no such file; specs here: {', '.join(known) or 'none'}")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, profile)
    if key not in _SPEC_CACHE:
        _SPEC_CACHE[key] = loader(path, profile)
    return _SPEC_CACHE[key]


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


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link a large file from an upstream stage (same disk), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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
    """A stage folder; it exists only once its success marker has been written."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / SUCCESS).is_file()

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"StageTarget({str(self.path)!r})"


def stage_target(stage: str, name: str, digest: str) -> StageTarget:
    """The one factory for stage outputs."""
    return StageTarget(outputs_root() / stage / f"{name}-{digest}")


def work_dir(stage: str, name: str, digest: str) -> Path:
    """Resumable state of a stage (kept across failed runs, never auto-cleaned)."""
    path = outputs_root() / ".work" / f"{stage}-{name}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def write_stage(target: StageTarget, provenance: dict) -> Iterator[Path]:
    """Yield a temporary folder; on success move it into place and mark it done.

    On any error (or interrupt) the temporary folder is removed and nothing is
    left at the final path.
    """
    final = target.path
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        write_json(tmp / "provenance.json", provenance)
        if final.exists():  # an earlier attempt without a success marker
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json(final / SUCCESS, {"stage_id": provenance.get("stage_id"), "created": provenance.get("created")})


class StageTask(luigi.Task):
    """A task that produces one stage folder.

    Subclasses set ``stage`` and ``version`` and implement ``identity_settings``
    (the settings that change the artifact), ``artifact_name`` and ``run``.
    Input identities are the names of the upstream stage folders, which carry
    their own hashes, so a change anywhere upstream changes this stage's id.
    """

    stage: str = ""
    version: int = 1

    @abc.abstractmethod
    def identity_settings(self) -> Any:
        """The settings (JSON-able) that change this stage's artifact."""

    def identity_inputs(self) -> Any:
        deps = luigi.task.flatten(self.requires())
        return sorted(t.output().path.name for t in deps if isinstance(t.output(), StageTarget))

    @abc.abstractmethod
    def artifact_name(self) -> str:
        """A readable name for the artifact (corpus, language, model)."""

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
        return f"{self.stage}/{self.output().path.name}"

    def provenance(self, extra: dict | None = None) -> dict:
        digest, settings, inputs = self._identity()
        return provenance_record(self.stage, self.stage_id(), self.version, settings, inputs, extra)

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
