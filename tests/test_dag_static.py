"""The static-vector comparison through the DAG: every set on the same words, one entry per set, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import luigi
import polars as pl
import pytest
from gensim.test.utils import datapath

from dagutil import assert_failed, assert_nothing_ran, build, metric_name_problems
from opsutil import write_corpus
from tinymodels import tiny_model

BOOKS = ("Genesis", "Psalms", "Proverbs", "Isaiah", "Matthew", "Romans")

SPEC = """corpora: [lee]
model: {model}
vocabulary: {{min_count: 3, max_words: 400}}
readouts:
  - {{method: isolation, layers: [{layer}]}}
  - {{method: aggregate, layers: [{layer}]}}
  - {{method: x2static, layers: [{layer}], epochs: 2}}
trained: {{vector_size: 16, epochs: 2, min_count: 3}}
trained_kinds: [word2vec_cbow, word2vec_sgns]
extrinsic: {{task: verse_books, corpus: lee, train_size: 60, epochs: 2}}
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def _project(root: Path, model: Path, layer: int = -1) -> Path:
    (root / "tasks" / "static").mkdir(parents=True)
    (root / "tasks" / "static" / "toy.yaml").write_text(SPEC.format(model=model, layer=layer))
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[:200]
    write_corpus(root / "corpora", "lee", lines)
    # a verses.tsv in the Bible layout, so the offline extrinsic task (verse -> book) has its six books
    (root / "corpora" / "lee" / "verses.tsv").write_text(
        "ref\ttext\n" + "".join(f"{BOOKS[i % 6]} 1:{i + 1}\t{line}\n" for i, line in enumerate(lines)))
    return root


def test_every_set_is_evaluated_on_the_same_words_with_one_entry_each(tmp_path, model, monkeypatch):
    project = _project(tmp_path / "proj", model)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticComparison, StaticCorpus

    task = StaticComparison(spec="toy")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    out = task.output().path
    table = pl.read_parquet(out / "comparison.parquet")
    layer = 2  # the tiny BERT's last hidden state (-1)
    assert table["set"].to_list() == [f"isolation.L{layer}", f"aggregate.L{layer}", f"x2static.L{layer}",
                                      "word2vec_cbow", "word2vec_sgns"]
    vocab = (StaticCorpus(spec="toy").output().path / "vocabulary.txt").read_text().split("\n")
    assert table["vocabulary"].n_unique() == 1 and 0 < table["vocabulary"][0] <= len([v for v in vocab if v])
    # the same questions and pairs for every set: coverage and n agree across the rows
    for col in ("analogy_google_n", "simlex999_n", "wordsim353_n", "extrinsic_versebook_n"):
        assert table[col].n_unique() == 1, col
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sets"]) == set(table["set"])
    rows = {r["set"]: r for r in table.iter_rows(named=True)}
    for name, m in metrics["sets"].items():
        assert not metric_name_problems(m), (name, metric_name_problems(m))
        assert m == {k: v for k, v in rows[name].items() if k not in ("set", "vocabulary")}  # the table's row, whole
        assert m["extrinsic_versebook_n"] == 20  # the test split: 10% of the 200 verses
        # a correct answer is rank 1, so the MRR can only exceed the accuracy
        assert m["analogy_google_mrr"] >= m["analogy_google_accuracy"] - 1e-12
    assert "| x2static.L2 |" in (out / "comparison.md").read_text() and (out / "comparison.png").is_file()
    assert_nothing_ran(build(StaticComparison(spec="toy")), StaticComparison(spec="toy"))


def test_a_layer_the_model_lacks_fails_its_read_out_and_writes_nothing(tmp_path, model, monkeypatch, caplog):
    project = _project(tmp_path / "proj", model, layer=9)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticVectors

    assert_failed(build(StaticVectors(spec="toy", method="isolation")), caplog, "StaticVectors", "9")
    static = project / "outputs" / "static"
    assert not static.exists() or not any(p for p in static.iterdir() if not p.name.startswith("."))


def test_extrinsic_scores_are_averaged_over_the_seeds():
    from pipeline.static.comparison import _mean_over_seeds

    runs = [lambda kv: {"extrinsic_x_accuracy": 0.5, "extrinsic_x_n": 10},
            lambda kv: {"extrinsic_x_accuracy": 0.7, "extrinsic_x_n": 10}]
    assert _mean_over_seeds(runs)(None) == pytest.approx({"extrinsic_x_accuracy": 0.6, "extrinsic_x_n": 10})
    assert _mean_over_seeds(runs[:1] + [lambda kv: {"extrinsic_x_accuracy": None, "extrinsic_x_n": 0}])(None) == \
        {"extrinsic_x_accuracy": None, "extrinsic_x_n": 5.0}
