"""Diachronic word vectors: slices of a corpus in one space (CADE, or the Procrustes baseline), and their change.

No luigi here. The steps a task strings together::

    from pipeline.corpora import ConcatCorpus, LineCorpus
    from pipeline.diachronic import (CadeSettings, change_table, top_changed, train_compass, train_slice,
        ProcrustesSettings, train_procrustes)

    slices = {"1790-1839": LineCorpus("slices/1790-1839.txt"), "1990-2039": LineCorpus("slices/1990-2039.txt")}
    settings = CadeSettings(seed=1, threads=2)
    compass = train_compass(ConcatCorpus(slices.values()), settings)
    vectors = {name: train_slice(compass, text, settings, name=name).wv for name, text in slices.items()}
    table = change_table(vectors, min_freq=20, k=25)
    top_changed(table, n=20, measure="local_neighbourhood_distance")
    # the classic baseline at the same settings: word2vec per slice + orthogonal Procrustes
    baseline = train_procrustes(slices, ProcrustesSettings.matching(settings))

Modules: :mod:`.cade` (compass, slices against its frozen context matrix,
the compass on disk without pickle) with its compiled kernel :mod:`.kernel`,
:mod:`.procrustes` (the baseline), :mod:`.change` (change measures, rankings,
stability across seeds, AP / MRR), :mod:`.synthetic` (known changes injected
into real text), :mod:`.plots` (figures), :mod:`.settings` (the methods'
settings, standard library only), :mod:`.spec` (the run spec,
``tasks/diachronic/*.yaml``, where ``method: cade | procrustes`` chooses) and
:mod:`.stages` (each stage as ``build_x(settings, inputs, out_dir) -> metrics``), :mod:`.gold` (gold change
data: SemEval-2020 Task 1 and DWUG, and scoring as the field does), :mod:`.benchmark` (SemEval-layout
benchmarks generated from real text) and :mod:`.evaluate` (every method and measure scored against gold).
Names are imported from their module on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# name -> submodule; a name is imported on first use, so that reading a spec (which needs the settings
# classes only) does not load numpy, gensim or numba
_EXPORTS = {
    "cade": ("Compass", "TrainedSlice", "load_compass", "reference_initial_vectors", "save_compass", "train_compass",
             "train_slice"),
    "change": ("average_precision", "change_table", "default_pairs", "mean_reciprocal_rank", "nearest_neighbours",
               "stability_across_seeds", "table_pairs", "top_changed"),
    "procrustes": ("align_to_reference", "reference_slice", "train_independent_slice", "train_procrustes"),
    "settings": ("CadeSettings", "MEASURES", "ProcrustesSettings"),
    "spec": ("DiachronicSpec", "load_diachronic_spec"),
    "synthetic": ("band_words", "choose_pairs", "inject_change", "insert_pseudowords", "swap_preserving_frequency"),
    "gold": ("GoldSet", "aggregate_seeds", "binary_accuracy", "bootstrap_spearman_ci", "change_metrics", "corpus_form",
             "graded_spearman", "read_dwug", "read_gold", "read_semeval", "score_change", "scores_for_targets",
             "target_counts"),
    "benchmark": ("make_change_benchmark", "read_sentences"),
    "evaluate": ("RECOMMENDED", "evaluation_name", "score_reports", "write_evaluation"),
}

__all__ = [
    "Compass", "CadeSettings", "TrainedSlice", "load_compass", "reference_initial_vectors", "save_compass",
    "train_compass", "train_slice",
    "MEASURES", "average_precision", "change_table", "default_pairs", "mean_reciprocal_rank", "nearest_neighbours",
    "stability_across_seeds", "table_pairs", "top_changed",
    "ProcrustesSettings", "align_to_reference", "reference_slice", "train_independent_slice", "train_procrustes",
    "DiachronicSpec", "load_diachronic_spec",
    "band_words", "choose_pairs", "inject_change", "insert_pseudowords", "swap_preserving_frequency",
    "GoldSet", "aggregate_seeds", "binary_accuracy", "bootstrap_spearman_ci", "change_metrics", "corpus_form",
    "graded_spearman", "read_dwug", "read_gold", "read_semeval", "score_change", "scores_for_targets",
    "target_counts", "make_change_benchmark", "read_sentences",
    "RECOMMENDED", "evaluation_name", "score_reports", "write_evaluation",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)


if TYPE_CHECKING:
    from .cade import (Compass, TrainedSlice, load_compass, reference_initial_vectors, save_compass, train_compass,
                       train_slice)
    from .change import (average_precision, change_table, default_pairs, mean_reciprocal_rank, nearest_neighbours,
                         stability_across_seeds, table_pairs, top_changed)
    from .procrustes import align_to_reference, reference_slice, train_independent_slice, train_procrustes
    from .settings import MEASURES, CadeSettings, ProcrustesSettings
    from .spec import DiachronicSpec, load_diachronic_spec
    from .benchmark import make_change_benchmark, read_sentences
    from .evaluate import RECOMMENDED, evaluation_name, score_reports, write_evaluation
    from .gold import (GoldSet, aggregate_seeds, binary_accuracy, bootstrap_spearman_ci, change_metrics, corpus_form,
                       graded_spearman, read_dwug, read_gold, read_semeval, score_change, scores_for_targets,
                       target_counts)
    from .synthetic import band_words, choose_pairs, inject_change, insert_pseudowords, swap_preserving_frequency
