"""The diachronic run spec (``tasks/diachronic/*.yaml``), validated into typed objects.

Sections take their keys, types, defaults and identity marks from the
algorithms' settings (:func:`pipeline.spec.settings_section`): ``slicing``
from :class:`pipeline.corpora.Slicing`, ``cade``, ``procrustes`` and
``report`` from :mod:`.settings` (``CadeSettings``, ``ProcrustesSettings``,
``ReportSettings``). ``method`` chooses how the slices are put into one
space: ``cade`` (the default) or ``procrustes`` (the classic baseline).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy.yaml").write_text("corpora: [kjv, web]\\nslicing: {by: corpus}\\n")
>>> spec = load_diachronic_spec(d / "toy.yaml")
>>> spec.corpora, spec.slicing.by, spec.method, spec.cade.vector_size
(('kjv', 'web'), 'corpus', 'cade', 100)
>>> _ = (d / "base.yaml").write_text("corpora: [kjv, web]\\nslicing: {by: corpus}\\nmethod: procrustes\\n"
...                                  "procrustes: {architecture: sgns, min_count: 3}\\n")
>>> spec = load_diachronic_spec(d / "base.yaml")
>>> spec.procrustes.settings(seed=2, threads=1).architecture, spec.min_count
('sgns', 3)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..corpora import Slicing
from ..spec import TokenizerSpec, load_spec_of_kind, require_corpus_names, runtime_field, settings_section
from .settings import (METHODS, CadeSettings, ChangeEvaluationSettings, GoldSettings, ProcrustesSettings,
                       ReportSettings)

__all__ = ["METHODS", "GOLD_CORPORA", "gold_corpora", "SlicingSpec", "CadeSpec", "ProcrustesSpec", "ReportSpec", "GoldSpec",
           "EvaluationSpec", "DiachronicSpec",
           "load_diachronic_spec", "report_pairs_problem"]


SlicingSpec = settings_section(Slicing, "SlicingSpec", module=__name__,
                               doc="How documents group into slices: by date period, or one slice per corpus.")
# seed: each of the report's runs has its own (report.seeds)
CadeSpec = settings_section(
    CadeSettings, "CadeSpec", given=("seed",), module=__name__,
    doc="CADE settings; defaults are the reference implementation's (DESIGN.md).",
    COMPASS_KEYS=("vector_size", "window", "negative", "min_count", "sample", "compass_epochs", "compass_alpha",
                  "min_alpha"))
ProcrustesSpec = settings_section(
    ProcrustesSettings, "ProcrustesSpec", given=("seed",), module=__name__,
    doc="The Procrustes baseline: an independent word2vec per slice, aligned to one reference slice.",
    TRAIN_KEYS=("vector_size", "architecture", "window", "negative", "min_count", "sample", "epochs", "alpha",
                "min_alpha"))
ReportSpec = settings_section(ReportSettings, "ReportSpec", module=__name__,
                              doc="The semantic change report: words, measures, seeds and neighbours shown.")
GoldSpec = settings_section(GoldSettings, "GoldSpec", module=__name__,
                            doc="Gold change data: a SemEval-layout folder or archive, a DWUG table, or generated.")
EvaluationSpec = settings_section(ChangeEvaluationSettings, "EvaluationSpec", module=__name__,
                                  doc="Scoring the change reports against the gold: methods, measures, rule.")

#: the corpora (and slices) of a spec with a ``gold`` section (``gold.slices`` 2)
GOLD_CORPORA = ("corpus1", "corpus2")


def gold_corpora(slices: int = 2) -> tuple[str, ...]:
    """The corpora of a gold section with ``slices`` time periods: ``corpus1`` ... ``corpus<slices>``."""
    return tuple(f"corpus{i + 1}" for i in range(slices))


def report_pairs_problem(pairs, slices, where: str = "the slices there are") -> tuple[str, str] | None:
    """``(expected, found)`` when ``report.pairs`` names a slice that is not one of ``slices``, else None.

    >>> report_pairs_problem([("kjv", "web")], ["kjv", "web"]) is None
    True
    >>> report_pairs_problem([("kjv", "nope")], ["kjv", "web"])
    ('report.pairs: pairs of the slices there are (kjv, web)', "pair kjv, nope names 'nope', no slice")
    """
    slices = list(slices)
    for pair in pairs or ():
        missing = [n for n in pair if n not in slices]
        if missing:
            return (f"report.pairs: pairs of {where} ({', '.join(slices)})",
                    f"pair {', '.join(pair)} names {', '.join(repr(n) for n in missing)}, no slice")
    return None


@dataclass(frozen=True)
class DiachronicSpec:
    corpora: tuple[str, ...] = ()
    slicing: SlicingSpec = field(default_factory=SlicingSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    method: str = "cade"
    cade: CadeSpec = field(default_factory=CadeSpec)
    procrustes: ProcrustesSpec = field(default_factory=ProcrustesSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    gold: Optional[GoldSpec] = None              # gold change data; its corpora are the spec's
    evaluation: Optional[EvaluationSpec] = None  # score the reports against the gold (needs gold)
    description: str = ""
    needs_network: bool = False
    name: str = ""
    spec_file: str = runtime_field("", in_spec=False)  # the file it was read from (for messages)

    def __post_init__(self):
        if self.gold is not None:
            names = gold_corpora(self.gold.slices)
            if self.corpora and tuple(self.corpora) != names:
                raise ValueError(f"no corpora with a gold section (its {', '.join(names)} are the slices)")
            object.__setattr__(self, "corpora", names)
            if self.slicing.by != "corpus":
                object.__setattr__(self, "slicing", SlicingSpec(by="corpus"))
        if self.gold is not None and self.gold.url and not self.gold.sha256 and not self.needs_network:
            raise ValueError("gold.sha256 with gold.url (the archive is checked before it is read); only a spec "
                             "that declares needs_network: true may leave it out (an unpinned download: its "
                             "sha256 is recorded in the gold stage's source.json, with a warning)")
        if self.evaluation is not None and self.gold is None:
            raise ValueError("an evaluation section needs a gold section")
        if not self.corpora:
            raise ValueError("at least one corpus under 'corpora' (or a gold section)")
        require_corpus_names("corpora", self.corpora)
        if self.slicing.by == "corpus" and len(self.corpora) < 2:
            raise ValueError("at least two corpora when slicing by corpus")
        if self.slicing.by == "corpus":  # the slices are the corpora (a declaration's name is its folder's)
            problem = report_pairs_problem(self.report.pairs, self.corpora,
                                           "the slices, which slicing by corpus names after the corpora")
            if problem:
                raise ValueError("; ".join(problem))
        if len(set(self.report.seeds)) != len(self.report.seeds) or not self.report.seeds:
            raise ValueError("a non-empty list of distinct seeds under report.seeds")
        if self.method not in METHODS:
            raise ValueError(f"one of {', '.join(METHODS)} for method, not {self.method!r}")

    @property
    def min_count(self) -> int:
        """The chosen method's vocabulary floor (the prepared corpus's statistics count words above it)."""
        return self.cade.min_count if self.method == "cade" else self.procrustes.min_count


def load_diachronic_spec(path: Path | str, profile: str | None = None) -> DiachronicSpec:
    spec = load_spec_of_kind(DiachronicSpec, "diachronic", path, profile)
    return dataclasses.replace(spec, spec_file=str(path))
