"""The settings of the diachronic algorithms: CADE, the Procrustes baseline and the change report.

Plain frozen dataclasses with their own checks and nothing heavier than the
standard library, so a spec is read without loading numpy, gensim or numba
(the algorithms in :mod:`.cade`, :mod:`.procrustes` and :mod:`.change`
import them from here). A field that does not change results is marked with
:func:`pipeline.spec.runtime_field`; see :func:`pipeline.spec.identity_of`.

>>> from pipeline.spec import identity_of
>>> sorted(set(CadeSettings().__dataclass_fields__) - set(identity_of(CadeSettings())))
['threads']
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..languages import iso_language
from ..spec import added_field, require_positive_ints, runtime_field

__all__ = ["ARCHITECTURES", "MEASURES", "MEASURE_NAMES", "METHODS", "GOLD_LAYOUTS", "BenchmarkSettings",
           "GoldSettings", "ChangeEvaluationSettings", "CadeSettings", "ProcrustesSettings", "ReportSettings",
           "stopwords_kind"]

#: word2vec architectures of the Procrustes baseline -> gensim's ``sg`` flag
ARCHITECTURES = {"cbow": 0, "sgns": 1}

#: the change measures a report ranks words by (see :func:`.change.change_table`)
MEASURES = ("cosine_distance", "local_neighbourhood_distance", "euclidean_distance")


@dataclass(frozen=True)
class CadeSettings:
    """CADE settings; defaults are the reference implementation's."""

    vector_size: int = 100
    window: int = 5
    negative: int = 10
    min_count: int = 5
    sample: float = 1e-3
    compass_epochs: int = 5
    slice_epochs: int = 5
    compass_alpha: float = 0.025
    slice_alpha: float = 0.025
    min_alpha: float = 0.0001
    init_mode: str = "hidden"  # "hidden": random word vectors (gensim's init); "both": copied from the compass
    slice_vocab: str = "compass"  # "compass": every compass word seen in the slice (reference); "min_count": also frequent enough in it
    seed: int = 1
    threads: int = runtime_field(1, in_spec=False)  # threads=1 is bit-reproducible (see .cade)

    def __post_init__(self):
        if self.init_mode not in ("hidden", "both"):
            raise ValueError(f"init_mode must be 'hidden' or 'both', not {self.init_mode!r}")
        if self.slice_vocab not in ("compass", "min_count"):
            raise ValueError(f"slice_vocab must be 'compass' or 'min_count', not {self.slice_vocab!r}")
        require_positive_ints(self, ("vector_size", "window", "negative", "min_count", "compass_epochs",
                                     "slice_epochs", "threads"))
        for name in ("compass_alpha", "slice_alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.min_alpha < 0 or self.sample < 0:
            raise ValueError("min_alpha and sample must be >= 0")


@dataclass(frozen=True)
class ProcrustesSettings:
    """Settings of the Procrustes baseline; training defaults are CADE's (the reference's)."""

    vector_size: int = 100
    architecture: str = "cbow"  # "cbow" or "sgns" (skip-gram with negative sampling)
    window: int = 5
    negative: int = 10
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    reference: str = "first"  # the slice every other one is mapped onto: "first", "last" or a slice name
    seed: int = 1
    threads: int = runtime_field(1, in_spec=False)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {self.architecture!r}")
        require_positive_ints(self, ("vector_size", "window", "negative", "min_count", "epochs", "threads"))
        if not self.alpha > 0:
            raise ValueError("alpha must be positive")
        if self.min_alpha < 0 or self.sample < 0:
            raise ValueError("min_alpha and sample must be >= 0")
        if not isinstance(self.reference, str) or not self.reference:
            raise ValueError("reference must be 'first', 'last' or a slice name")

    @classmethod
    def matching(cls, cade: CadeSettings, **changes) -> "ProcrustesSettings":
        """The baseline at a CADE run's settings: its slice epochs and slice learning rate, same seed and threads."""
        values = dict(vector_size=cade.vector_size, window=cade.window, negative=cade.negative,
                      min_count=cade.min_count, sample=cade.sample, epochs=cade.slice_epochs,
                      alpha=cade.slice_alpha, min_alpha=cade.min_alpha, seed=cade.seed, threads=cade.threads)
        values.update(changes)
        return cls(**values)


def stopwords_kind(value: str) -> str:
    """What a ``report.stopwords`` value names: ``"none"``, ``"auto"``, ``"language"`` or ``"file"``.

    A language is its ISO 639 code (two or three letters, checked as every
    language is); anything else is the path of a word list.

    >>> [stopwords_kind(v) for v in ("none", "auto", "en", "la", "lists/sotu_stop.txt", "stop")]
    ['none', 'auto', 'language', 'language', 'file', 'file']
    """
    if value in ("none", "auto"):
        return value
    if value.isascii() and value.isalpha() and len(value) in (2, 3):
        return "language"
    return "file"


@dataclass(frozen=True)
class ReportSettings:
    """The semantic change report: which words, measures, seeds and neighbours it shows."""

    min_freq: int = 5
    pairs: Optional[tuple[tuple[str, str], ...]] = None
    top_n: int = 20
    k_neighbours: int = 25
    seeds: tuple[int, ...] = (1,)
    words: tuple[str, ...] = ()
    plot_words: int = 3
    # the measure that ranks the top changed words (and their stability, plot):
    # CADE's cosine distance is noisy for rare words (bench/bench_change_noise.py)
    rank_by: str = "local_neighbourhood_distance"
    # nearest neighbours listed per word and slice in neighbours.parquet (added after the first reports,
    # which listed 10)
    neighbours: int = added_field(10, before=10)
    # words left out of the top list, its stability across seeds and its plots (change.parquet keeps every word
    # and marks these in its `stopword` column): "auto" (the list of the corpora's language), a language code
    # (stopwordsiso's list), "none", or the path of a word list (one word a line, '#' comment lines)
    stopwords: str = "auto"

    def __post_init__(self):
        if self.rank_by not in MEASURES:
            raise ValueError(f"one of {', '.join(MEASURES)} for rank_by")
        if self.neighbours < 1:
            raise ValueError("a positive integer for neighbours")
        # checked here, not after every slice is trained: k_neighbours 0 failed in change_table, and top_n 0
        # gave an empty top list without a word
        require_positive_ints(self, ("top_n", "k_neighbours"))
        for name in ("min_freq", "plot_words"):  # 0: every shared word / no plot of the top words
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, not {v!r}")
        if not isinstance(self.stopwords, str) or not self.stopwords.strip():
            raise ValueError("'auto', 'none', a language code or the path of a word list for stopwords")
        if stopwords_kind(self.stopwords) == "language":
            iso_language(self.stopwords, "report.stopwords")


#: change measures by their short names, as evaluation results name them (``cade/cosine``)
MEASURE_NAMES = {"cosine_distance": "cosine", "local_neighbourhood_distance": "lnd",
                 "euclidean_distance": "euclidean"}

#: how the slices get into one space (the spec's ``method``)
METHODS = ("cade", "procrustes")

#: the layouts of gold change data (:mod:`.gold`)
GOLD_LAYOUTS = ("semeval", "dwug")


@dataclass(frozen=True)
class BenchmarkSettings:
    """A gold set generated from real text with change injected at known rates (:mod:`.benchmark`).

    ``corpora``: one corpus under ``corpora/`` (shuffled and split into corpus1 and corpus2) or two (the
    earlier, the later). The other fields are :func:`.benchmark.make_change_benchmark`'s.
    """

    corpora: tuple[str, ...]
    design: str = "swap"
    n_targets: int = 16
    max_rate: float = 0.8
    bands: tuple[tuple[int, int], ...] = ((40, 120), (120, 400))
    donor_band: tuple[int, int] = (500, 5000)
    n_stable: int = 8
    binary_threshold: float = 0.3
    seed: int = 0

    def __post_init__(self):
        if len(self.corpora) not in (1, 2):
            raise ValueError("one corpus (split in two) or two corpora for gold.generate.corpora")
        if self.design not in ("swap", "insert"):
            raise ValueError(f"design must be 'swap' or 'insert', not {self.design!r}")
        if self.n_targets < 1 or self.n_stable < 0:
            raise ValueError("a positive n_targets and a non-negative n_stable")
        if not 0 < self.max_rate <= 1 or not 0 < self.binary_threshold <= 1:
            raise ValueError("max_rate and binary_threshold in (0, 1]")
        if self.design == "insert" and self.max_rate > 0.99:  # the generator's bound: 1 leaves no original use
            raise ValueError(f"gold.generate.max_rate: at most 0.99 with design insert (a share of 1 leaves the target "
                             f"no use of its own), not {self.max_rate!r}")
        # checked here, not once the corpora are read and the benchmark is being generated
        if not self.bands:
            raise ValueError("at least one frequency band [lo, hi] under gold.generate.bands")
        for key, band in [*(("bands", b) for b in self.bands), ("donor_band", self.donor_band)]:
            if not 1 <= band[0] <= band[1]:
                raise ValueError(f"gold.generate.{key}: frequency bands [lo, hi] with 1 <= lo <= hi, not "
                                 f"{list(band)}")


@dataclass(frozen=True)
class GoldSettings:
    """Where a spec's gold change data comes from: exactly one of ``path`` (a folder), ``url`` (a ``.zip``
    or ``.tar.gz`` of one, with ``sha256``) or ``generate`` (a benchmark made from corpora).

    ``layout``: ``semeval`` (SemEval-2020 Task 1: corpus1/, corpus2/, targets.txt, truth/) or ``dwug``
    (a DWUG release's ``stats/`` change table, whose corpora come from ``corpora_from``, a SemEval folder).
    ``kind``: which corpus files are read, ``lemma`` (the official SemEval corpora) or ``token``.
    """

    path: Optional[str] = None
    url: Optional[str] = None
    sha256: Optional[str] = None
    layout: str = "semeval"
    corpora_from: Optional[str] = None
    kind: str = "lemma"
    language: str = "en"
    licence: str = runtime_field("")  # the data's licence, as its publisher states it (provenance)
    generate: Optional[BenchmarkSettings] = None
    # how many corpora (time periods) the gold has: corpus1 ... corpus<slices>; a generated benchmark makes them
    slices: int = added_field(2, before=2)

    def __post_init__(self):
        if sum(x is not None for x in (self.path, self.url, self.generate)) != 1:
            raise ValueError("exactly one of gold.path, gold.url or gold.generate")
        if self.sha256 is not None and not (len(self.sha256) == 64
                                            and all(c in "0123456789abcdef" for c in self.sha256.lower())):
            raise ValueError(f"64 hex digits (quoted) for gold.sha256, not {self.sha256!r}")
        if self.layout not in GOLD_LAYOUTS:
            raise ValueError(f"gold.layout must be one of {', '.join(GOLD_LAYOUTS)}, not {self.layout!r}")
        if self.layout == "dwug" and not self.corpora_from:
            raise ValueError("gold.corpora_from (a SemEval folder with the corpora) with layout dwug")
        if self.kind not in ("lemma", "token"):
            raise ValueError(f"gold.kind must be 'lemma' or 'token', not {self.kind!r}")
        iso_language(self.language, "gold.language")
        if isinstance(self.slices, bool) or not isinstance(self.slices, int) or self.slices < 2:
            raise ValueError(f"gold.slices: an integer >= 2 (the corpora corpus1 ... corpus<slices>), not {self.slices!r}")
        if self.generate is not None and self.slices > 2 and len(self.generate.corpora) != 1:
            raise ValueError("gold.generate.corpora: one corpus (split into the slices) with gold.slices > 2")


@dataclass(frozen=True)
class ChangeEvaluationSettings:
    """Scoring a spec's change reports against its gold: which methods and measures, the binary rule, the CI."""

    methods: tuple[str, ...] = ("cade", "procrustes")
    measures: tuple[str, ...] = MEASURES
    binary_rule: str = "top_k"  # top_k (k = gold-changed targets), mean_std, mean, or a number (fixed cut)
    bootstrap: int = 1000
    bootstrap_seed: int = 0

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if not self.methods or bad:
            raise ValueError(f"evaluation.methods from {', '.join(METHODS)}, not {list(self.methods)}")
        bad = [m for m in self.measures if m not in MEASURES]
        if not self.measures or bad:
            raise ValueError(f"evaluation.measures from {', '.join(MEASURES)}, not {list(self.measures)}")
        try:
            cut = float(self.binary_rule)
        except ValueError:
            if self.binary_rule not in ("top_k", "mean_std", "mean"):
                raise ValueError("evaluation.binary_rule: top_k, mean_std, mean or a number") from None
        else:  # 'nan' or 'inf' parse as numbers, but a cut there calls nothing (or everything) changed
            if not math.isfinite(cut):
                raise ValueError(f"evaluation.binary_rule: top_k, mean_std, mean or a finite number, not "
                                 f"{self.binary_rule!r}")
        if self.bootstrap < 0:
            raise ValueError("evaluation.bootstrap >= 0 (0: no CI)")

    def rule(self):
        """The binary rule as :func:`.gold.binary_accuracy` takes it (a fixed cut is a number)."""
        try:
            return float(self.binary_rule)
        except ValueError:
            return self.binary_rule
