"""The run report as a task: ``luigi --module pipeline Report`` (also the last task of ``Demo`` and ``RebuildAll``).

The plan is every spec under ``tasks/`` with the stage folders its final task
depends on (per-slice stages included once their inputs exist); the site
itself is written by :func:`pipeline.report.build_site`, which reads complete
stages only. ``Report`` requires the final tasks of the specs it follows
(``specs``: ``kind/name`` entries; default every spec), so it runs after them;
it is complete while the plan's state (stage folders, their markers, the
store's manifest) is what the last build saw.
"""
from __future__ import annotations

import logging
from pathlib import Path

import luigi

from ..errors import PipelineError
from .base import StageTask, outputs_root, pipeline, tasks_root
from .registry import spec_kinds

logger = logging.getLogger("luigi-interface")

REPORT_DIR = "report"


def report_dir() -> Path:
    return outputs_root() / REPORT_DIR


def report_plan(profile: str = "full", online: bool = False) -> list:
    """A :class:`pipeline.report.SpecEntry` for every spec under ``tasks/``, with its stage folders."""
    from ..report import SpecEntry, StageRef
    from .ops import dependency_closure, spec_entries

    invalid: list = []
    entries, skipped = spec_entries(profile, online, invalid=invalid)
    out = []
    for kind, name, task in entries:
        description = _description(kind, name, profile)
        try:
            closure = dependency_closure([task])
        except PipelineError as exc:
            out.append(SpecEntry(kind, name, f"invalid: {exc}", description))
            continue
        stages = tuple(StageRef(t.stage, Path(t.output().local), final=t is task)
                       for t in closure if isinstance(t, StageTask))
        out.append(SpecEntry(kind, name, "ok", description, stages))
    for msg in skipped:
        key, _, why = msg.partition(": ")
        kind, _, name = key.partition("/")
        out.append(SpecEntry(kind, name, f"skipped: {why}", _description(kind, name, profile)))
    for kind, name, error in invalid:
        out.append(SpecEntry(kind, name, f"invalid: {error}"))
    order = {k: i for i, k in enumerate(sorted(spec_kinds()))}
    return sorted(out, key=lambda s: (order.get(s.kind, 99), s.name))


def _description(kind: str, name: str, profile: str) -> str:
    try:
        spec = spec_kinds()[kind].load(tasks_root() / kind / f"{name}.yaml", profile)
    except (PipelineError, KeyError):
        return ""
    return str(getattr(spec, "description", "") or "")


def store_info(report: Path) -> dict | None:
    """The artifact store's manifest for the report: ``None`` without a configured store."""
    import os

    from ..artifacts import MANIFEST, ArtifactError, default_store, list_artifacts

    url = pipeline().store or default_store()
    if not url:
        return None
    info: dict = {"url": url, "entries": None, "error": None, "manifest": None, "manifest_href": None}
    local = Path(url[len("file://"):] if url.startswith("file://") else url)
    if "://" not in url or url.startswith("file://"):
        info["manifest"] = local / MANIFEST
        if info["manifest"].is_file():
            info["manifest_href"] = Path(os.path.relpath(info["manifest"], report)).as_posix()
    try:
        info["entries"] = list_artifacts(url)
    except ArtifactError as exc:
        info["error"] = f"the store's manifest could not be read: {exc}"
    return info


def build_report(profile: str = "full", online: bool = False, to: Path | None = None):
    """Plan and write the site; returns :class:`pipeline.report.BuildResult`."""
    from ..report import build_site

    dest = Path(to) if to else report_dir()
    specs = report_plan(profile, online)
    return build_site(specs, dest, profile=profile, store=store_info(dest))


class ReportTarget(luigi.Target):
    """Complete while the report's recorded state equals the state of its plan now."""

    def __init__(self, path: Path, profile: str, online: bool):
        self.path, self.profile, self.online = Path(path), profile, online

    def exists(self) -> bool:
        from ..report import plan_state, read_state

        recorded = read_state(self.path)
        if recorded is None or not (self.path / "index.html").is_file():
            return False
        info = store_info(self.path)
        return recorded == plan_state(report_plan(self.profile, self.online), (info or {}).get("manifest"))


class Report(luigi.Task):
    """The run report: a static site under ``outputs/report/`` over every spec's complete stages."""

    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")
    online = luigi.BoolParameter(default=False, description="also specs that declare needs_network: true")
    specs = luigi.ListParameter(default=[], description="kind/name entries built first (default: every spec)")

    def requires(self):
        from .ops import spec_tasks

        return spec_tasks(self.profile, self.online, tuple(self.specs), invalid=[])[0]

    def output(self):
        return ReportTarget(report_dir(), self.profile, self.online)

    def run(self):
        res = build_report(self.profile, self.online)
        d = res.as_dict()
        logger.info("report: %s (%d page(s) written, %d kept, %.2f s, %.1f MiB)", d["report_dir"],
                    d["pages_written"], d["pages_kept"], d["seconds"], d["bytes"] / 2**20)
        if not res.clean:
            raise pages_not_rendered(res)


def pages_not_rendered(res) -> PipelineError:
    """The error of a report build whose site was written but some stage pages could not be rendered."""
    return PipelineError(f"{res.report_dir / 'index.html'}: {res.pages_failed} stage page(s) could not be rendered "
                         f"({'; '.join(f'{k}: {v}' for k, v in sorted(res.failed.items()))}); the rest of the "
                         "site is written and those pages name the error")
