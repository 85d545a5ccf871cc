"""The offline demo: one wrapper over the demo specs listed in ``tasks/demo.yaml``, then the run report."""
from __future__ import annotations

import luigi

from ..errors import SpecError
from ..spec import load_yaml
from .base import tasks_root
from .registry import spec_kinds


def demo_specs() -> list[tuple[str, str]]:
    """``(kind, spec name)`` of every spec ``tasks/demo.yaml`` lists."""
    path = tasks_root() / "demo.yaml"
    data = load_yaml(path)
    kinds = spec_kinds()
    out = []
    for kind, names in data.items():
        if kind not in kinds:
            raise SpecError(path, f"one of the keys {', '.join(kinds)}", f"unknown key '{kind}'")
        if not isinstance(names, list):
            raise SpecError(path, f"a list of spec names under '{kind}'")
        out += [(kind, str(n)) for n in names]
    return out


def demo_tasks(profile: str) -> list[luigi.Task]:
    kinds = spec_kinds()
    return [kinds[kind].task(name, profile) for kind, name in demo_specs()]


class Demo(luigi.WrapperTask):
    """Everything the offline demo builds (``--profile smoke`` for the CI-sized run), and its report."""

    profile = luigi.Parameter(default="full", description="full (about 12 minutes on 2 cores) or smoke (about 2)")

    def requires(self):
        from .report import Report

        # the report requires the demo's specs, so it is written after them, from what they built
        return [*demo_tasks(self.profile),
                Report(profile=self.profile, specs=[f"{k}/{n}" for k, n in demo_specs()])]
