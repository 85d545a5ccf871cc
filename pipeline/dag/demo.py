"""The offline demo: one wrapper over the demo specs listed in ``tasks/demo.yaml``."""
from __future__ import annotations

import luigi

from ..errors import SpecError
from ..spec import load_yaml
from .base import tasks_root
from .diachronic import DiachronicReport
from .multilingual import AlignedVectors

_KINDS = {"diachronic": lambda name, profile: DiachronicReport(spec=name, profile=profile),
          "multilingual": lambda name, profile: AlignedVectors(lang=name, profile=profile)}


def demo_tasks(profile: str) -> list[luigi.Task]:
    path = tasks_root() / "demo.yaml"
    data = load_yaml(path)
    out = []
    for kind, names in data.items():
        if kind not in _KINDS:
            raise SpecError(path, f"one of the keys {', '.join(_KINDS)}", f"unknown key '{kind}'")
        if not isinstance(names, list):
            raise SpecError(path, f"a list of spec names under '{kind}'")
        out += [_KINDS[kind](str(n), profile) for n in names]
    return out


class Demo(luigi.WrapperTask):
    """Everything the offline demo builds (``--profile smoke`` for the CI-sized run)."""

    profile = luigi.Parameter(default="full", description="full (about 20 minutes on 2 cores) or smoke")

    def requires(self):
        return demo_tasks(self.profile)
