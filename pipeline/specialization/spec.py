"""The run spec of a specialization (``tasks/specialization/<name>.yaml``), validated into typed objects.

Every key is checked by :func:`pipeline.spec.from_mapping`: an unknown key,
a wrong type or a bad value raises :class:`~pipeline.errors.SpecError` naming
the file and the key. The BabelNet API key is never part of a spec (it comes
from the environment or a key file; see :mod:`pipeline.babelnet`).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy.yaml").write_text("model: bert-base-multilingual-cased\\nconstraints: {wordnet: {}}\\n")
>>> spec = load_specialization_spec(d / "toy.yaml")
>>> spec.name, spec.train.batch_pairs, spec.train.lr, spec.constraints.wordnet.path
('toy', 256, 5e-06, '/usr/share/wordnet')
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ..languages import iso_language
from ..spec import load_spec_of_kind, require_corpus_names, runtime_field, settings_section
from .settings import ExtractSettings, TrainSettings, WordEvaluationSettings, WordList
from .settings import under as _under

__all__ = [
    "WordNetSpec", "FreeDictSpec", "PivotDictionarySpec", "PivotSpec", "ApertiumSpec", "BabelNetSpec",
    "ConstraintsSpec",
    "TrainSpec", "WordListSpec", "ExtractSpec",
    "WordEvaluationSpec", "SpecializationSpec", "load_specialization_spec",
]


@dataclass(frozen=True)
class WordNetSpec:
    """English WordNet synonyms (Debian wordnet-base: the WNDB data.* files)."""

    path: str = "/usr/share/wordnet"
    pos: tuple[str, ...] = ("n", "v", "a", "r")
    lang: str = "en"

    def __post_init__(self):
        bad = [p for p in self.pos if p not in ("n", "v", "a", "r")]
        if bad or not self.pos:
            raise ValueError(f"parts of speech among n, v, a, r for wordnet.pos, not {list(self.pos)}")
        iso_language(self.lang, "wordnet.lang")


@dataclass(frozen=True)
class FreeDictSpec:
    """A bilingual dictionary (FreeDict stem or pair file); ``test_size`` of its source words held out for BLI."""

    path: str
    source_lang: str = "en"
    target_lang: str = "es"
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self):
        iso_language(self.source_lang, "source_lang")
        iso_language(self.target_lang, "target_lang")
        if not (0 <= self.test_size < 1 or (self.test_size >= 1 and float(self.test_size).is_integer())):
            raise ValueError("a fraction in [0, 1) or a whole number of source words for test_size")


@dataclass(frozen=True)
class PivotDictionarySpec:
    """One dictionary of a pivot (FreeDict stem or pair file), read in its own direction."""

    path: str
    source_lang: str
    target_lang: str

    def __post_init__(self):
        iso_language(self.source_lang, "pivots[].dictionaries[].source_lang")
        iso_language(self.target_lang, "pivots[].dictionaries[].target_lang")


@dataclass(frozen=True)
class PivotSpec:
    """Training pairs source_lang-target_lang induced through ``via`` (:func:`~.constraints.pivot_dictionary`).

    Every dictionary links ``via`` with ``source_lang`` or ``target_lang``
    (either direction); pivot words with more than ``max_fanout``
    translations on a side are skipped. Only training pairs: evaluation words
    are held out of them like every other source.
    """

    via: str
    dictionaries: tuple[PivotDictionarySpec, ...]
    source_lang: str = "en"
    target_lang: str = "es"
    max_fanout: int = 3
    multiword: bool = False

    def __post_init__(self):
        for key in ("via", "source_lang", "target_lang"):
            iso_language(getattr(self, key), f"pivots[].{key}")
        if len({self.via, self.source_lang, self.target_lang}) != 3:
            raise ValueError("three different languages for source_lang, target_lang and via")
        if self.max_fanout < 1:
            raise ValueError("a positive max_fanout")
        sides = {self.source_lang: 0, self.target_lang: 0}
        for d in self.dictionaries:
            langs = {d.source_lang, d.target_lang}
            other = langs - {self.via}
            if self.via not in langs or len(other) != 1 or not other <= sides.keys():
                raise ValueError(f"pivot dictionaries between {self.via} and {self.source_lang} or "
                                 f"{self.target_lang}, not {d.source_lang}-{d.target_lang}")
            sides[other.pop()] += 1
        if not all(sides.values()):
            raise ValueError(f"dictionaries for both sides of the pivot ({self.source_lang}-{self.via} and "
                             f"{self.target_lang}-{self.via})")


@dataclass(frozen=True)
class ApertiumSpec:
    """Training pairs from a compiled Apertium bilingual dictionary, looked up with WordNet's lemmas.

    See :func:`~.constraints.apertium_pairs` (``lt-proc -b``; Debian
    ``apertium-eng-spa``). No test split: evaluation words are held out of it
    like every other source.
    """

    path: str = "/usr/share/apertium/apertium-eng-spa/eng-spa.autobil.bin"
    source_lang: str = "en"
    target_lang: str = "es"
    lemmas_from: str = "/usr/share/wordnet"     # a WordNet (WNDB) folder: the source-language lemmas looked up
    pos: tuple[str, ...] = ("n", "v", "a", "r")
    multiword: bool = False

    def __post_init__(self):
        iso_language(self.source_lang, "apertium[].source_lang")
        iso_language(self.target_lang, "apertium[].target_lang")
        bad = [p for p in self.pos if p not in ("n", "v", "a", "r")]
        if bad or not self.pos:
            raise ValueError(f"parts of speech among n, v, a, r for apertium[].pos, not {list(self.pos)}")


@dataclass(frozen=True)
class BabelNetSpec:
    """Synonyms harvested from the BabelNet HTTP API (needs the network and a key)."""

    lemmas: tuple[str, ...] = ()
    lemmas_file: Optional[str] = None        # one lemma per line
    search_lang: str = "EN"
    target_langs: tuple[str, ...] = ("EN",)  # BabelNet codes; at most 3 besides the search language
    pos: Optional[str] = None                # NOUN, VERB, ADJ, ADV
    max_synsets_per_lemma: int = 5
    daily_budget: int = runtime_field(1000)  # requests per UTC day; the harvest stops cleanly when spent
    base_url: str = "https://babelnet.io/v9"
    # how the harvest runs, not what it finds (answers are cached by request; the day's count is shared)
    key_env: str = runtime_field("BABELNET_KEY")
    timeout: float = runtime_field(30.0)
    retries: int = runtime_field(5)

    def __post_init__(self):
        if not self.lemmas and not self.lemmas_file:
            raise ValueError("lemmas or lemmas_file under babelnet")
        if self.daily_budget < 1:
            raise ValueError("a positive daily_budget")
        if self.pos is not None and self.pos not in ("NOUN", "VERB", "ADJ", "ADV"):
            raise ValueError("NOUN, VERB, ADJ or ADV for babelnet.pos")


@dataclass(frozen=True)
class ConstraintsSpec:
    wordnet: Optional[WordNetSpec] = None
    freedict: tuple[FreeDictSpec, ...] = ()
    pivots: tuple[PivotSpec, ...] = ()      # more training pairs through a pivot language (no test split)
    apertium: tuple[ApertiumSpec, ...] = ()  # more training pairs from Apertium bilingual dictionaries
    babelnet: Optional[BabelNetSpec] = None
    max_synset_size: int = 10               # first words of a larger synset (pairs grow with its square)
    max_pairs: Optional[int] = None         # a seeded subset, each language pair keeping its share
    holdout_simlex999: bool = True          # SimLex-999 words never appear in training pairs
    holdout_files: tuple[str, ...] = ()     # more held-out words: "<lang> <word>" or "<word>" (English) per line
    seed: int = 0

    def __post_init__(self):
        if self.wordnet is None and not (self.freedict or self.pivots or self.apertium) and self.babelnet is None:
            raise ValueError("at least one source under constraints: wordnet, freedict, pivots, apertium or babelnet")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ValueError("a positive max_pairs (or null)")

    def resolved(self, root: Path | str) -> "ConstraintsSpec":
        """The same constraints with every relative path taken relative to ``root`` (the project folder)."""
        def r(path):
            return _under(root, path)

        return replace(
            self, wordnet=self.wordnet and replace(self.wordnet, path=r(self.wordnet.path)),
            freedict=tuple(replace(d, path=r(d.path)) for d in self.freedict),
            pivots=tuple(replace(pv, dictionaries=tuple(replace(d, path=r(d.path)) for d in pv.dictionaries))
                         for pv in self.pivots),
            apertium=tuple(replace(a, path=r(a.path), lemmas_from=r(a.lemmas_from)) for a in self.apertium),
            babelnet=self.babelnet and replace(self.babelnet, lemmas_file=r(self.babelnet.lemmas_file)),
            holdout_files=tuple(r(p) for p in self.holdout_files))


TrainSpec = settings_section(TrainSettings, "TrainSpec", module=__name__)
#: one word list of ``extract.words``
WordListSpec = WordList
ExtractSpec = settings_section(ExtractSettings, "ExtractSpec", module=__name__, resolved=ExtractSettings.resolved,
                               doc="How static vectors are read out of the encoder, before and after.")
WordEvaluationSpec = settings_section(WordEvaluationSettings, "WordEvaluationSpec", module=__name__,
                                      doc="SimLex-999 and BLI of the static vectors, before and after.")
EvaluationSpec = WordEvaluationSpec  # the old name (the transfer spec's evaluation is RetrievalSpec)


@dataclass(frozen=True)
class SpecializationSpec:
    model: str                               # hub id, path, or pkg:<package>/<folder>
    constraints: ConstraintsSpec
    model_revision: Optional[str] = None
    train: TrainSpec = field(default_factory=TrainSpec)
    extract: ExtractSpec = field(default_factory=ExtractSpec)
    evaluation: WordEvaluationSpec = field(default_factory=WordEvaluationSpec)
    threads: int = runtime_field(0)          # torch threads; 0 = the stage's share of the cores
    description: str = ""
    licence: str = ""                        # the model card's licence line (source model and data)
    needs_network: bool = False
    name: str = ""

    def __post_init__(self):
        if not self.model.strip():
            raise ValueError(f"model: a hub id, a local folder or pkg:<package>/<folder>, not {self.model!r}")
        require_corpus_names("extract.corpora", self.extract.corpora)
        if self.constraints.babelnet is not None and not self.needs_network:
            raise ValueError("needs_network: true for a spec with babelnet constraints")

    def resolved(self, root: Path | str) -> "SpecializationSpec":
        """The same spec with the paths of its constraints and word lists taken relative to ``root``.

        ``model`` stays as written (see :func:`pipeline.models.resolve_model`).
        """
        return replace(self, constraints=self.constraints.resolved(root), extract=self.extract.resolved(root))


def load_specialization_spec(path: Path | str, profile: str | None = None) -> SpecializationSpec:
    return load_spec_of_kind(SpecializationSpec, "specialization", path, profile)
