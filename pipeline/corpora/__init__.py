"""The corpus layer: declarations, streaming readers, tokenisation, slices, statistics, importers.

No luigi here. Typical use::

    from pipeline.corpora import (Slicing, Tokenizer, TokenizerSettings, load_declaration,
                                  prepare_slices, LineCorpus)
    decl = load_declaration("corpora/sotu")
    files = prepare_slices([decl], Slicing(by="period", width=50, start=1790),
                           Tokenizer(decl.language, TokenizerSettings()), "out/slices")
    for sentence in LineCorpus(files["1790-1839"]):
        ...

Statistics (polars) live in :mod:`pipeline.corpora.stats` and importers of the
offline corpora in :mod:`pipeline.corpora.importers` (imported on demand).
"""
from __future__ import annotations

from .declaration import (
    DECLARATION_FILE,
    DEFAULT_FILES,
    CorpusDeclaration,
    DateRule,
    SliceDefaults,
    load_declaration,
)
from .reader import (
    Document,
    Documents,
    ConcatCorpus,
    LineCorpus,
    Slicing,
    fingerprint_corpus,
    iter_documents,
    list_files,
    period_name,
    prepare_slices,
)
from .tokenize import Tokenizer, TokenizerSettings

__all__ = [
    "DECLARATION_FILE",
    "DEFAULT_FILES",
    "CorpusDeclaration",
    "DateRule",
    "SliceDefaults",
    "load_declaration",
    "Document",
    "Documents",
    "LineCorpus",
    "ConcatCorpus",
    "Slicing",
    "fingerprint_corpus",
    "iter_documents",
    "list_files",
    "period_name",
    "prepare_slices",
    "Tokenizer",
    "TokenizerSettings",
]
