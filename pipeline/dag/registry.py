"""The kinds of run spec under ``tasks/<kind>/`` and the task that builds each.

Every stage module registers its kind here (``register_kind``), so the
``Demo`` wrapper, spec validation (``python -m pipeline specs``) and scheduled
rebuilds share one list instead of each keeping its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import luigi


@dataclass(frozen=True)
class SpecKind:
    name: str                                             # folder under tasks/
    task: Callable[[str, str], luigi.Task]                # (spec name, profile) -> the task that builds it
    load: Callable[[Path, str | None], Any]               # (path, profile) -> validated spec object


_KINDS: dict[str, SpecKind] = {}


def register_kind(name: str, task: Callable[[str, str], luigi.Task], load: Callable[[Path, str | None], Any]) -> None:
    _KINDS[name] = SpecKind(name, task, load)


def spec_kinds() -> dict[str, SpecKind]:
    return dict(_KINDS)


def needs_network(spec: Any) -> bool:
    """Whether a validated spec declares that it needs the network (``needs_network: true``)."""
    return bool(getattr(spec, "needs_network", False))
