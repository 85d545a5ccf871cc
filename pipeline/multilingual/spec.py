"""The multilingual run spec (``tasks/multilingual/*.yaml``), validated into typed objects.

``fasttext`` and ``mapping`` take their keys, types, defaults and identity
marks from :class:`.settings.FastTextSettings` and
:class:`.settings.MappingSettings` (:func:`pipeline.spec.settings_section`).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "es.yaml").write_text("kind: multilingual\\nsource: {lang: es, corpora: [rv1909]}\\n")
>>> spec = load_multilingual_spec(d / "es.yaml")
>>> spec.source.lang, spec.pivot.lang, spec.pivot.corpora, spec.name
('es', 'en', ('kjv', 'web', 'sotu'), 'es')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..languages import iso_language
from ..spec import TokenizerSpec, load_spec_of_kind, require_corpus_names, runtime_field, settings_section
from .settings import FastTextSettings, MappingSettings

__all__ = ["LanguageSpec", "DictionarySpec", "FastTextSpec", "MappingSpec", "MultilingualSpec",
           "load_multilingual_spec"]


@dataclass(frozen=True)
class LanguageSpec:
    """One language of a multilingual run: corpora to train fastText on, or pretrained vectors."""

    lang: str
    corpora: tuple[str, ...] = ()
    vectors: Optional[str] = None  # pretrained .bin / .vec / .kv: a path or an http(s) URL
    vectors_sha256: Optional[str] = None
    vectors_licence: str = runtime_field("")  # the pretrained vectors' licence, as their publisher states it

    def __post_init__(self):
        iso_language(self.lang, "lang")
        if bool(self.corpora) == bool(self.vectors):
            raise ValueError(f"either corpora or vectors (not both) for language '{self.lang}'")


@dataclass(frozen=True)
class DictionarySpec:
    """A bilingual dictionary (FreeDict database or a two-column pair file); none = identical-strings seed."""

    path: Optional[str] = None
    direction: str = "pivot-source"
    lowercase: bool = True
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.direction not in ("pivot-source", "source-pivot"):
            raise ValueError("'pivot-source' (first column in the pivot language) or 'source-pivot' for direction")
        if not 0 <= self.test_size < 1 and not (self.test_size >= 1 and float(self.test_size).is_integer()):
            raise ValueError("a fraction in [0, 1) or a whole number of test source words for test_size")


FastTextSpec = settings_section(FastTextSettings, "FastTextSpec", module=__name__)
MappingSpec = settings_section(MappingSettings, "MappingSpec", module=__name__)


@dataclass(frozen=True)
class MultilingualSpec:
    source: LanguageSpec
    pivot: LanguageSpec = field(default_factory=lambda: LanguageSpec("en", ("kjv", "web", "sotu")))
    dictionary: DictionarySpec = field(default_factory=DictionarySpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    fasttext: FastTextSpec = field(default_factory=FastTextSpec)
    mapping: MappingSpec = field(default_factory=MappingSpec)
    description: str = ""
    needs_network: bool = False
    name: str = ""

    def __post_init__(self):
        require_corpus_names("source.corpora", self.source.corpora)
        require_corpus_names("pivot.corpora", self.pivot.corpora)
        if self.source.lang == self.pivot.lang:
            raise ValueError(f"a source language other than the pivot '{self.pivot.lang}'")


def load_multilingual_spec(path: Path | str, profile: str | None = None) -> MultilingualSpec:
    return load_spec_of_kind(MultilingualSpec, "multilingual", path, profile)
