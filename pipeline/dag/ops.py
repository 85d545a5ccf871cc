"""Operations: rebuild every spec on a schedule, and publish finished artifacts to a store.

``luigi --module pipeline RebuildAll`` builds the final task of every spec
under ``tasks/<kind>/`` (the kinds stage modules register); specs that declare
``needs_network: true`` are skipped unless ``--online``. Because every stage's
identity includes its corpus fingerprints, a new file in ``corpora/`` rebuilds
exactly the stages that read that corpus.

``luigi --module pipeline PublishArtifacts --store s3://bucket/vectors``
builds the same set and puts its artifacts (every ``.vec`` of a final stage
and of its per-slice models; every other final stage folder, such as a report
or a model, as one ``.tar.gz``) into the store with a manifest entry each.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import luigi

from ..errors import PipelineError
from .base import StageTarget, StageTask, pipeline, tasks_root
from .registry import needs_network, spec_kinds

logger = logging.getLogger("luigi-interface")


class InvalidSpec(luigi.Task):
    """Stands for a spec under ``tasks/`` that does not validate: it fails with the spec's error when run.

    ``RebuildAll`` requires one per bad spec, so the other specs still build and the run ends non-zero.
    """

    kind = luigi.Parameter()
    name = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    error = luigi.Parameter(significant=False, default="")

    def complete(self) -> bool:
        return False

    def run(self):
        raise PipelineError(f"tasks/{self.kind}/{self.name}.yaml is not a valid spec: {self.error}")


def spec_entries(profile: str = "full", online: bool = False, only=(), *,
                 invalid: list | None = None) -> tuple[list[tuple], list[str]]:
    """``(kind, spec name, final task)`` for every spec under ``tasks/``, and the specs skipped (with why).

    ``only`` limits the set to ``kind/name`` entries (or bare kinds); an entry that names no spec is a
    :class:`PipelineError`. A spec that fails validation raises, unless ``invalid`` is a list: it then
    gets ``(kind, name, error)`` and the other specs are still returned.
    """
    check_selection(only)
    entries, skipped = [], []
    for kind_name, kind in sorted(spec_kinds().items()):
        for path in sorted((tasks_root() / kind_name).glob("*.yaml")):
            key = f"{kind_name}/{path.stem}"
            if only and key not in only and kind_name not in only:
                continue
            try:
                spec = kind.load(path, profile)
            except PipelineError as exc:
                if invalid is None:
                    raise
                logger.error("%s: invalid spec, not built: %s", key, exc)
                invalid.append((kind_name, path.stem, str(exc)))
                continue
            if needs_network(spec) and not online:
                skipped.append(f"{key}: needs the network (run with --online to include it)")
                continue
            entries.append((kind_name, path.stem, kind.task(path.stem, profile)))
    for msg in skipped:
        if (str(tasks_root()), msg) not in _LOGGED_SKIPS:  # luigi asks a wrapper for its requirements often
            _LOGGED_SKIPS.add((str(tasks_root()), msg))
            logger.info("skipping %s", msg)
    return entries, skipped


_LOGGED_SKIPS: set[tuple[str, str]] = set()


def check_selection(only) -> None:
    """Every ``kind/name`` (or bare kind) in ``only`` names at least one spec under ``tasks/``."""
    known = {f"{k}/{p.stem}" for k in spec_kinds() for p in (tasks_root() / k).glob("*.yaml")}
    kinds = set(spec_kinds())
    for item in only or ():
        if item not in known and item not in kinds:
            raise PipelineError(f"--specs {item}: no such spec under {tasks_root()} (expected kind/name, one of "
                                f"{', '.join(sorted(known)) or 'none'}; or a kind: {', '.join(sorted(kinds))})")


def spec_tasks(profile: str = "full", online: bool = False, only=(), *,
               invalid: list | None = None) -> tuple[list[luigi.Task], list[str]]:
    """The final task of every spec under ``tasks/`` (see :func:`spec_entries`) and the skipped specs."""
    entries, skipped = spec_entries(profile, online, only, invalid=invalid)
    return [e[2] for e in entries], skipped


def dependency_closure(tasks, *, dynamic: bool = True) -> list[luigi.Task]:
    """Every task the given ones depend on (themselves included), deduplicated, upstream first.

    With ``dynamic``, per-slice models a report yields at run time are included
    once the report's static inputs exist (they are named after the data).
    """
    seen: dict[str, luigi.Task] = {}

    def visit(t):
        if t.task_id in seen:
            return
        for dep in luigi.task.flatten(t.requires()):
            visit(dep)
        if dynamic:
            for dep in _dynamic_deps(t):
                visit(dep)
        seen[t.task_id] = t

    for t in luigi.task.flatten(tasks):
        visit(t)
    return list(seen.values())


def _dynamic_deps(task) -> list[luigi.Task]:
    """The stages ``task`` yields at run time (its declared hook), once its static inputs are complete."""
    if not getattr(task, "yields_stages", False) or not all(d.complete() for d in luigi.task.flatten(task.requires())):
        return []
    return luigi.task.flatten(task.dynamic_requires())


class RebuildAll(luigi.WrapperTask):
    """The final task of every spec under tasks/ (what a schedule runs; see ``chronolingua rebuild``)."""

    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")
    online = luigi.BoolParameter(default=False, description="also specs that declare needs_network: true")

    def requires(self):
        invalid: list = []
        tasks, _ = spec_tasks(self.profile, self.online, invalid=invalid)
        from .report import Report  # the run report, written after every spec (it requires them)

        return tasks + [InvalidSpec(kind=k, name=n, profile=self.profile, error=e) for k, n, e in invalid] + \
            [Report(profile=self.profile, online=self.online)]


# --------------------------------------------------------------------------------------------- publishing


def _version(task: StageTask) -> str:
    return task.output().name.rsplit("-", 1)[1]


def planned_artifacts(task: StageTask) -> list[dict]:
    """What publishing ``task`` (a spec's final stage) puts into a store: name, version, local path, kind.

    Vectors: every ``*.vec`` of the stage and of its per-slice models, named
    ``<stage>.<artifact>`` (plus ``.<file stem>`` when a folder holds several).
    A final stage without vectors (a report, a model) is published whole as
    ``<stage>.<artifact>.tar.gz``.
    """
    out = []
    for t in [task, *_dynamic_deps(task)]:
        if not t.complete():  # never publish a stage without its marker, or whose files changed
            raise PipelineError(f"{t.output().local}: not a complete stage (no success marker, or its files "
                                "changed since it was built); nothing of it is published")
        folder = t.output().path
        vecs = sorted(folder.glob("*.vec"))
        base = f"{t.stage}.{t.artifact_name()}"
        for v in vecs:
            out.append({"task": t, "name": base if len(vecs) == 1 else f"{base}.{v.stem}", "version": _version(t),
                        "path": v, "kind": "vectors"})
        if t is task and not vecs:
            out.append({"task": t, "name": base, "version": _version(t), "path": folder, "kind": "folder"})
    return out


def input_record(task: StageTask) -> tuple[dict, list[dict]]:
    """Identity inputs of every stage under ``task`` (by stage id), and every outside input record, whole.

    The records (:class:`pipeline.inputs.InputRecord` as dicts: kind, name, fingerprint, licence, source)
    are what each stage declares in ``input_records()``; one per (kind, name, fingerprint).
    """
    from ..inputs import merge_records

    hashes: dict[str, object] = {}
    records = []
    for t in dependency_closure([task]):
        if not isinstance(t, StageTask):
            continue
        hashes[t.stage_id()] = t.identity_inputs()
        records += t.input_records()
    return hashes, [r.as_dict() for r in merge_records(records)]


class PublishedTarget(luigi.Target):
    """Complete when the store's manifest lists every planned (name, version) of the tasks."""

    def __init__(self, store: str, tasks: list[StageTask]):
        self.store, self.tasks = store, tasks

    def exists(self) -> bool:
        from ..artifacts import ArtifactError, list_artifacts

        if not all(t.complete() for t in self.tasks):
            return False
        try:
            wanted = {(a["name"], a["version"]) for t in self.tasks for a in planned_artifacts(t)}
        except PipelineError:  # an incomplete per-slice stage: run() reports it
            return False
        try:
            held = {(e["name"], e["version"]) for e in list_artifacts(self.store)}
        except ArtifactError:
            return False
        return wanted <= held


class PublishArtifacts(luigi.Task):
    """Builds every offline spec (or ``--specs kind/name ...``) and publishes its artifacts with a manifest."""

    store = luigi.Parameter(default="", description="artifact store URL (folder, s3://..., ...); "
                                                    "default [pipeline] store or $CHRONOLINGUA_STORE")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")
    specs = luigi.ListParameter(default=[], description="kind/name entries (default: every spec)")
    online = luigi.BoolParameter(default=False, description="also specs that declare needs_network: true")

    def store_url(self) -> str:
        from ..artifacts import default_store

        return self.store or pipeline().store or default_store()

    def requires(self):
        return spec_tasks(self.profile, self.online, tuple(self.specs))[0]

    def output(self):
        return PublishedTarget(self.store_url(), luigi.task.flatten(self.requires()))

    def run(self):
        from ..artifacts import open_store, publish_file, publish_folder
        from ..identity import file_sha256
        from ..integrity import check_stage

        store = open_store(self.store_url())
        entries, _ = spec_entries(self.profile, self.online, tuple(self.specs))
        for i, (kind, spec_name, task) in enumerate(entries):
            hashes, licences = input_record(task)
            spec_path = tasks_root() / kind / f"{spec_name}.yaml"
            for art in planned_artifacts(task):
                t = art["task"]
                problem = check_stage(t.output().path, full=True)  # hash every file right before it leaves
                if problem:
                    raise PipelineError(f"{t.output().path}: {problem}; not published (rebuild it first)")
                provenance = json.loads((t.output().path / "provenance.json").read_text(encoding="utf-8"))
                provenance.update({
                    "spec": {"kind": kind, "name": spec_name, "profile": self.profile,
                             "sha256": file_sha256(spec_path) if spec_path.is_file() else None},
                    "input_hashes": hashes,
                })
                publish = publish_folder if art["kind"] == "folder" else publish_file
                publish(store, Path(art["path"]), name=art["name"], version=art["version"], provenance=provenance,
                        licences=licences)
            self.set_progress_percentage(round(100 * (i + 1) / max(1, len(entries)), 1))


def current_folders(profiles) -> list[Path]:
    """Every stage folder the current specs produce under any of ``profiles`` (what prune keeps).

    A spec contributes under the profiles it defines (and ``full``, which every spec has). Specs that
    need the network count too: their stages are current whether or not this run may go online, and
    naming them needs no network.
    """
    from ..spec import spec_profiles

    out = []
    for kind_name in sorted(spec_kinds()):
        for path in sorted((tasks_root() / kind_name).glob("*.yaml")):
            defined = {"full", *spec_profiles(path)}
            for profile in [p for p in profiles if p in defined]:
                tasks, _ = spec_tasks(profile, True, (f"{kind_name}/{path.stem}",))
                out += [t.output().local for t in dependency_closure(tasks) if isinstance(t.output(), StageTarget)]
    return out
