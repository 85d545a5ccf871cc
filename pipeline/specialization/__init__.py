"""Lexical specialization of a multilingual encoder (BabelBERT-style) and static vectors read out of it.

No luigi here. Green, Ponzetto and Glavaš (2022) fine-tune mBERT / XLM-R so
that words of one BabelNet synset, in any language, get close vectors: both
words of each synonym pair are encoded in isolation and mean-pooled, and a
multi-positive InfoNCE (temperature 0.07, in-batch negatives, labels = synset
ids) is minimised with AdamW (batch 256 pairs, lr 5e-6, 2 epochs). Static
type-level vectors are then read out the same way. The steps::

    from transformers import AutoModel, AutoTokenizer
    from pipeline.multilingual.dictionaries import read_freedict
    from pipeline.specialization import (DictionarySource, TrainSettings, prepare_constraints,
        read_wordnet_senses, train_specialization, isolated_vectors, write_vectors, simlex_words, simlex_spearman)

    model = AutoModel.from_pretrained("bert-base-multilingual-cased")
    tok = AutoTokenizer.from_pretrained("bert-base-multilingual-cased")
    eng_spa = DictionarySource(read_freedict("/usr/share/dictd/freedict-eng-spa"), "en", "es", test_size=0.2)
    cs = prepare_constraints([read_wordnet_senses("/usr/share/wordnet")], [eng_spa],
                             heldout={("en", w) for w in simlex_words()})
    before = simlex_spearman(model, tok)
    train_specialization(model, tok, cs.pairs, TrainSettings(), "work/")
    after = simlex_spearman(model, tok)
    vecs = isolated_vectors(model, tok, ["house", "home"], layers=(-1,))
    write_vectors(["house", "home"], vecs[-1], "out/en")

Modules: :mod:`.constraints` (WordNet, FreeDict and BabelNet senses ->
pairs, hold-out, batch plan; polars), :mod:`.objective` (the loss),
:mod:`.encoding` (how a word is embedded), :mod:`.train` (the resumable
loop), :mod:`.extract` (static vectors: isolation / aggregate),
:mod:`.evaluate` (SimLex-999, BLI), :mod:`.spec` (the run spec),
:mod:`.stages` (the two stages as functions: settings + inputs + output
folder -> metrics) and :mod:`.card` (the model card). The BabelNet client is
:mod:`pipeline.babelnet`; devices, optimiser and checkpoints are
:mod:`pipeline.torchutil`'s.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# name -> submodule; a name is imported on first use, so that reading a spec (which needs the settings
# classes only) does not load numpy, polars or torch
_EXPORTS = {
    "constraints": ("ConstraintSet", "DictionarySource", "apertium_pairs", "babelnet_senses", "drop_heldout",
                    "freedict_senses", "language_pair_weights", "pivot_dictionary", "plan_batches",
                    "prepare_constraints", "read_heldout_file", "read_wordnet_senses", "senses_frame",
                    "subsample_pairs", "synonym_pairs"),
    "evaluate": ("bli_metrics", "simlex_pairs", "simlex_spearman", "simlex_words"),
    "extract": ("aggregated_vectors", "isolated_vectors", "static_vectors", "write_vectors"),
    "settings": ("TrainSettings",),
    "spec": ("SpecializationSpec", "load_specialization_spec"),
    "train": ("TrainResult", "train_specialization"),
}

__all__ = [
    "ConstraintSet", "DictionarySource", "apertium_pairs", "babelnet_senses", "drop_heldout", "freedict_senses",
    "language_pair_weights", "pivot_dictionary", "plan_batches",
    "prepare_constraints", "read_heldout_file", "read_wordnet_senses", "senses_frame", "subsample_pairs",
    "synonym_pairs", "bli_metrics", "simlex_pairs", "simlex_spearman", "simlex_words", "aggregated_vectors",
    "isolated_vectors", "static_vectors", "write_vectors", "SpecializationSpec", "load_specialization_spec",
    "TrainResult", "TrainSettings", "train_specialization",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)


if TYPE_CHECKING:
    from .constraints import (ConstraintSet, DictionarySource, apertium_pairs, babelnet_senses, drop_heldout,
                              freedict_senses, language_pair_weights, pivot_dictionary, plan_batches,
                              prepare_constraints, read_heldout_file, read_wordnet_senses, senses_frame,
                              subsample_pairs, synonym_pairs)
    from .evaluate import bli_metrics, simlex_pairs, simlex_spearman, simlex_words
    from .extract import aggregated_vectors, isolated_vectors, static_vectors, write_vectors
    from .settings import TrainSettings
    from .spec import SpecializationSpec, load_specialization_spec
    from .train import TrainResult, train_specialization
