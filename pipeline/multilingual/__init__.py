"""Multilingual static vectors: fastText per language, aligned into one space (MUSE-style), and BLI.

No luigi here. The steps a task strings together::

    from pipeline.multilingual import (FastTextSettings, MappingSettings, train_fasttext,
        load_pretrained_vectors, load_dictionary, align_vectors, evaluate_alignment, save_mapping)

    en = train_fasttext(["slices/kjv.txt", "slices/web.txt"], "out/en", FastTextSettings(dim=100))
    es = train_fasttext(["slices/rv1909.txt"], "out/es", FastTextSettings(dim=100))
    kv_en, kv_es = load_pretrained_vectors(en.vec), load_pretrained_vectors(es.vec)
    # source = es, target = the pivot en (the dictionary is eng-spa: swap its columns)
    full = load_dictionary("/usr/share/dictd/freedict-eng-spa").swapped()
    kept, coverage = full.restrict(kv_es.key_to_index, kv_en.key_to_index)
    train, test = kept.split(test_size=0.2, seed=0)
    alignment = align_vectors(kv_es, kv_en, train.pairs, MappingSettings())
    metrics = {**coverage.as_metrics(), **evaluate_alignment(kv_es, kv_en, alignment, test.pairs)}
    save_mapping(alignment, "out/es.mapping.npy")

and to use the result, :func:`load_aligned_space` (any word, out-of-vocabulary
included, mapped into the pivot's space).

Modules: :mod:`.fasttext_train` (training, reading ``.bin`` / ``.vec``),
:mod:`.dictionaries` (FreeDict and pair files, coverage, splits),
:mod:`.mapping` (Procrustes + CSLS refinement, identical-string seed,
preprocessing, saving ``W``), :mod:`.bli` (blockwise neighbour search, CSLS,
BLI metrics), :mod:`.space` (the aligned space of one language), :mod:`.spec`
(the run spec, ``tasks/multilingual/*.yaml``), :mod:`.stages` (the fastText
and alignment stages as functions: settings + inputs + an output folder -> metrics).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# name -> submodule; a name is imported on first use, so that reading a spec (which needs the settings
# classes only) does not load the numerical modules
_EXPORTS = {
    "bli": ("csls_penalties", "evaluate_bli", "knn_mean_similarity", "search", "topk_rows", "unit_rows"),
    "dictionaries": ("BilingualDictionary", "Coverage", "load_dictionary", "read_freedict", "read_pair_file",
                     "split_pairs", "write_pair_file"),
    "fasttext_train": ("FastTextPaths", "FastTextSettings", "fasttext_keyed_vectors", "load_fasttext_model",
                       "load_pretrained_vectors", "train_fasttext"),
    "mapping": ("Alignment", "MappingSettings", "Preprocessing", "align_vectors", "evaluate_alignment",
                "fit_mapping", "identical_seed", "induce_dictionary", "load_mapping", "save_mapping"),
    "space": ("AlignedSpace", "load_aligned_space"),
    "spec": ("MultilingualSpec", "load_multilingual_spec"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)


if TYPE_CHECKING:
    from .bli import csls_penalties, evaluate_bli, knn_mean_similarity, search, topk_rows, unit_rows
    from .dictionaries import (BilingualDictionary, Coverage, load_dictionary, read_freedict, read_pair_file,
                               split_pairs, write_pair_file)
    from .fasttext_train import (FastTextPaths, FastTextSettings, fasttext_keyed_vectors, load_fasttext_model,
                                 load_pretrained_vectors, train_fasttext)
    from .mapping import (Alignment, MappingSettings, Preprocessing, align_vectors, evaluate_alignment, fit_mapping,
                          identical_seed, induce_dictionary, load_mapping, save_mapping)
    from .space import AlignedSpace, load_aligned_space
    from .spec import MultilingualSpec, load_multilingual_spec
