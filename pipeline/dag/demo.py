"""The offline demo: one wrapper over the demo specs listed in ``tasks/demo.yaml``."""
from __future__ import annotations

import luigi

from ..errors import SpecError
from ..spec import load_yaml
from .base import tasks_root
from .registry import spec_kinds


def demo_tasks(profile: str) -> list[luigi.Task]:
    path = tasks_root() / "demo.yaml"
    data = load_yaml(path)
    kinds = spec_kinds()
    out = []
    for kind, names in data.items():
        if kind not in kinds:
            raise SpecError(path, f"one of the keys {', '.join(kinds)}", f"unknown key '{kind}'")
        if not isinstance(names, list):
            raise SpecError(path, f"a list of spec names under '{kind}'")
        out += [kinds[kind].task(str(n), profile) for n in names]
    return out


class Demo(luigi.WrapperTask):
    """Everything the offline demo builds (``--profile smoke`` for the CI-sized run)."""

    profile = luigi.Parameter(default="full", description="full (about 12 minutes on 2 cores) or smoke (about 2)")

    def requires(self):
        return demo_tasks(self.profile)
