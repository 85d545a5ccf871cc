"""One evaluator contract and one metric name scheme (the README's "Metric names") in every stage."""
from __future__ import annotations

import json
import re

import luigi
import numpy as np
import pytest

from dagutil import assert_metric_names, build, metric_name_problems
from opsutil import make_multilingual_project


def _kv(words, rows):
    from pipeline.vectors import make_keyed_vectors

    return make_keyed_vectors(words, np.asarray(rows, dtype=np.float32))


def test_every_evaluator_keeps_the_contract():
    from pipeline.evaluators import (AnalogyEvaluator, BliEvaluator, Evaluator, RetrievalEvaluator,
                                     SequentialEvaluator, WordSimilarityEvaluator, intrinsic_evaluator)

    en = _kv(["king", "queen", "man", "woman", "apple"],
             [[1, 1, 0], [0.9, 1, 0.1], [1, 0, 0], [0.9, 0.1, 0], [-1, -1, -1]])
    es = _kv(["rey", "reina", "manzana"], [[1, 1, 0], [0.9, 1, 0.2], [-1, -0.9, -1]])
    queries = np.eye(3, dtype=np.float32)
    cases = [
        (WordSimilarityEvaluator("simlex999", [("king", "queen", 9.0), ("man", "apple", 0.5), ("man", "woman", 6)]),
         en),
        (AnalogyEvaluator("google", [("man", "king", "woman", "queen")]), en),
        (BliEvaluator([("rey", "king"), ("reina", "queen"), ("manzana", "apple")], "es-en", csls_k=2), (es, en)),
        (RetrievalEvaluator(queries, ["a", "b", "c"], "wechsel", lambda candidate, texts: candidate), queries[::-1]),
        (intrinsic_evaluator(), en),
        (SequentialEvaluator([AnalogyEvaluator("google", [("man", "king", "woman", "queen")]),
                              WordSimilarityEvaluator("wordsim353", [("king", "queen", 9.0), ("man", "apple", 1)])],
                             primary_metric="wordsim353_spearman"), en),
    ]
    for evaluator, subject in cases:
        assert isinstance(evaluator, Evaluator)
        metrics = evaluator(subject)
        assert metrics and not metric_name_problems(metrics), metrics
        assert evaluator.primary_metric in metrics, (evaluator.primary_metric, metrics)
        assert json.loads(json.dumps(metrics)) == metrics  # flat: JSON scalars only
    bli = cases[2][0](cases[2][1])
    assert bli["bli_es-en_precision_at_1-nn"] == 1.0 and bli["bli_es-en_queries"] == 3
    assert bli["bli_es-en_targets"] == 5 and cases[2][0].primary_metric == "bli_es-en_mrr-csls_knn_2"
    retrieval = cases[3][0](cases[3][1])  # documents in reverse order: the middle one first, the others second
    assert retrieval == {"retrieval_top1-wechsel": pytest.approx(1 / 3),
                         "retrieval_mrr-wechsel": pytest.approx((1 / 2 + 1 + 1 / 2) / 3), "retrieval_pairs": 3}
    with pytest.raises(ValueError, match="both write analogy_google_accuracy"):
        SequentialEvaluator([AnalogyEvaluator("google", []), AnalogyEvaluator("google", [])])(en)


@pytest.mark.parametrize("key", [
    "similarity_simlex999_spearman", "simlex999_rho", "mrr-nn", "precision_at_1-csls_knn_10", "bli_queries",
    "bli_en-es_bli_queries", "after_bli_en-es_bli_targets", "bli_en-es_mrr", "bli_es_en_p1_csls",
    "retrieval_mrr_wechsel", "Simlex999_spearman", "analogy_google_accuracy-nn"])
def test_other_dialects_are_outside_the_scheme(key):
    assert metric_name_problems({key: 0.5}), key


@pytest.mark.parametrize("key", [
    "simlex999_spearman", "wordsim353_coverage", "analogy_google_n", "bli_es-en_precision_at_10-csls_knn_10",
    "before_bli_en-es_mrr-nn", "delta_simlex999_spearman", "bli_en-es_pairs_unknown", "retrieval_top1-random_init",
    "retrieval_books", "vocab_size", "tokens_1790-1839", "constraint_pairs_en-es", "train_seconds"])
def test_the_scheme_and_other_stage_keys(key):
    assert not metric_name_problems({key: 0.5}), key


def _compass_metrics(tmp_path) -> dict:
    from gensim.test.utils import datapath

    from pipeline.diachronic import CadeSettings, stages

    corpus = tmp_path / "corpus"
    (corpus / "slices").mkdir(parents=True)
    lines = [line.lower() for line in open(datapath("lee_background.cor"), encoding="utf-8").read().splitlines()]
    for name, part in (("a", lines[:150]), ("b", lines[150:300])):
        (corpus / "slices" / f"{name}.txt").write_text("\n".join(part) + "\n")
    (corpus / "slices.json").write_text(json.dumps({"slices": ["a", "b"], "files": {"a": "a.txt", "b": "b.txt"}}))
    (tmp_path / "compass").mkdir()
    return stages.build_compass(CadeSettings(vector_size=8, min_count=3, compass_epochs=1), corpus,
                                tmp_path / "compass")


def _specialized_metrics(tmp_path) -> dict:
    import dataclasses

    from pipeline.specialization.spec import EvaluationSpec
    from pipeline.specialization.stages import (ConstraintInputs, SpecializedInputs, build_constraints,
                                                build_specialized)
    from test_specialization import WORDNET_ADJ, WORDNET_DATA, _stage_settings

    (tmp_path / "wordnet").mkdir(parents=True)
    (tmp_path / "wordnet" / "data.noun").write_text(WORDNET_DATA)
    (tmp_path / "wordnet" / "data.adj").write_text(WORDNET_ADJ)
    spec = dataclasses.replace(_stage_settings(tmp_path / "wordnet", tmp_path), evaluation=EvaluationSpec(csls_k=2))
    for name in ("constraints", "specialized"):
        (tmp_path / name).mkdir()
    build_constraints(spec.constraints, ConstraintInputs(), tmp_path / "constraints")
    inputs = SpecializedInputs(constraints=tmp_path / "constraints", model=spec.model, model_cache=tmp_path / "cache",
                               corpora=tmp_path / "corpora", work_dir=tmp_path / "work")
    return build_specialized(spec, inputs, tmp_path / "specialized", threads=1)


def test_one_measure_has_one_name_in_every_stage(tmp_path, monkeypatch):
    """SimLex-999 of the CADE compass, of English fastText vectors and of a specialized encoder (before and
    after); BLI of aligned static vectors and of a specialized encoder: the same names."""
    from pipeline import AlignedVectors

    compass = _compass_metrics(tmp_path / "diachronic")
    specialized = _specialized_metrics(tmp_path / "specialization")
    project, _ = make_multilingual_project(tmp_path / "multilingual")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    luigi.task_register.Register.clear_instance_cache()
    res = build(AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    written = assert_metric_names(project / "outputs", "aligned", "fasttext")
    fasttext_en = next(m for where, m in written.items() if where.startswith("fasttext/en-"))
    aligned = next(m for where, m in written.items() if where.startswith("aligned/"))
    for metrics in (compass, specialized):
        assert not metric_name_problems(metrics), metric_name_problems(metrics)

    def simlex(metrics, prefix=""):
        return {k[len(prefix):] for k in metrics if k.startswith(prefix + "simlex999_")}

    assert simlex(compass) == simlex(fasttext_en) == simlex(specialized, "before_") == simlex(specialized, "after_")
    assert simlex(compass) == {"simlex999_spearman", "simlex999_coverage", "simlex999_n"}
    assert compass["simlex999_n"] > 0 and specialized["after_simlex999_n"] == 999

    def bli(metrics, prefix=""):  # the measures of every BLI set, its pair and CSLS's k aside
        return {re.sub(r"csls_knn_\d+", "csls_knn_K", k.split("_", 2 + prefix.count("_"))[-1])
                for k in metrics if k.startswith(prefix + "bli_")}

    assert bli(aligned) == bli(specialized, "after_") == bli(specialized, "before_")
    assert {"mrr-nn", "mrr-csls_knn_K", "precision_at_1-csls_knn_K", "queries", "pairs", "targets"} <= bli(aligned)
    assert "bli_de-en_mrr-csls_knn_10" in aligned and "after_bli_en-es_mrr-csls_knn_2" in specialized
