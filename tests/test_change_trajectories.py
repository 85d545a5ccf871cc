"""More than two time periods against gold: the generated trajectories, the gold of every pair, and scores per pair."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import luigi
import polars as pl
import pytest
from gensim.test.utils import datapath
from scipy.stats import spearmanr

from dagutil import assert_failed, build, metric_name_problems
from pipeline.diachronic.benchmark import make_change_benchmark
from pipeline.diachronic.gold import read_semeval, target_counts
from pipeline.errors import InputError

LEE = Path(datapath("lee_background.cor"))
BENCH = dict(n_targets=12, bands=[(8, 25)], donor_band=(30, 5000), n_stable=4, seed=4)


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> Path:
    lee = [line.split() for line in LEE.read_text(encoding="utf-8").splitlines() if line.split()]
    return make_change_benchmark(lee, tmp_path_factory.mktemp("gold") / "lee3", design="swap", slices=3, **BENCH)


def test_every_pair_has_the_difference_of_the_shares_reached_as_its_gold(three):
    design = json.loads((three / "design.json").read_text())
    gold = read_semeval(three)
    assert gold.slices == ("corpus1", "corpus2", "corpus3")
    assert set(gold.pairs) == {("corpus1", "corpus2"), ("corpus1", "corpus3"), ("corpus2", "corpus3")}
    shapes = {v["trajectory"] for v in design["targets"].values()}
    assert shapes == {"sudden", "gradual", "transient", "stable"}
    for t, v in design["targets"].items():
        s = v["shares"]
        assert s[0] == 0.0
        for (a, b), key in (((0, 1), ("corpus1", "corpus2")), ((0, 2), ("corpus1", "corpus3")),
                            ((1, 2), ("corpus2", "corpus3"))):
            assert gold.for_pair(*key).graded[t] == pytest.approx(abs(s[b] - s[a]), abs=1e-6)
        if v["trajectory"] == "transient":  # came and went: nothing from the first period to the last
            assert gold.for_pair("corpus1", "corpus3").graded[t] == 0.0 and s[1] > 0
        if v["trajectory"] == "stable":
            assert all(x == 0.0 for x in s)
    # the shares are measured on the written corpora: a swapped target's uses are where its donor stood
    counts = target_counts(gold, "token")
    for t, v in design["targets"].items():
        assert counts[t] == tuple(v["counts"])


def test_a_pair_folder_must_name_two_corpora_in_order(three, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(three, bad)
    (bad / "truth" / "3_2").mkdir()
    with pytest.raises(InputError, match=r"a pair folder truth/<i>_<j>/ with i < j \(truth/2_3/\); folder 3_2"):
        read_semeval(bad)
    shutil.rmtree(bad / "truth" / "3_2")
    shutil.copytree(bad / "truth" / "2_3", bad / "truth" / "2_4")
    with pytest.raises(InputError, match=r"gold for a pair of the corpora \(corpus1, corpus2, corpus3\); "
                                         r"corpus2 -> corpus4"):
        read_semeval(bad)


def _table(gold, reverse_pair=None) -> pl.DataFrame:
    """A change table that predicts every pair's gold exactly, except ``reverse_pair`` (predicted backwards)."""
    rows = []
    for a, b in gold.pairs:
        truth = gold.for_pair(a, b).graded
        for t, v in truth.items():
            rows.append({"seed": 1, "slice_a": a, "slice_b": b, "word": t,
                         "cosine_distance": -v if (a, b) == reverse_pair else v})
    return pl.DataFrame(rows)


def test_each_pair_is_scored_against_its_own_gold(three, tmp_path):
    from pipeline.diachronic.evaluate import score_reports
    from pipeline.diachronic.settings import ChangeEvaluationSettings

    gold = read_semeval(three)
    path = tmp_path / "change.parquet"
    _table(gold, reverse_pair=("corpus2", "corpus3")).write_parquet(path)
    settings = ChangeEvaluationSettings(methods=("cade",), measures=("cosine_distance",), bootstrap=50)
    evaluation, _, trajectories = score_reports(settings, gold, {"cade": path}, kind="token")
    pairs = evaluation["methods"]["cade/cosine"]["pairs"]
    assert pairs["corpus1-corpus2"]["graded_spearman"] == pytest.approx(1.0)
    assert pairs["corpus1-corpus3"]["graded_spearman"] == pytest.approx(1.0)
    assert pairs["corpus2-corpus3"]["graded_spearman"] == pytest.approx(-1.0)
    assert evaluation["methods"]["cade/cosine"]["graded_spearman"] == pytest.approx(1.0)  # the main pair
    # each target's trajectory carries the gold of every pair beside the score
    row = trajectories.filter((pl.col("slice_a") == "corpus2") & (pl.col("slice_b") == "corpus3")).row(0, named=True)
    assert row["gold"] == gold.for_pair("corpus2", "corpus3").graded[row["target"]]


def test_three_period_gold_through_the_dag(three, tmp_path, monkeypatch):
    project = tmp_path / "proj"
    (project / "tasks" / "diachronic").mkdir(parents=True)
    (project / "corpora").mkdir()
    (project / "tasks" / "diachronic" / "lee3.yaml").write_text(
        "tokenizer: {pretokenized: true}\n"
        "procrustes: {architecture: sgns, vector_size: 30, min_count: 3, epochs: 10}\n"
        "method: procrustes\n"
        "report: {min_freq: 3, seeds: [1], stopwords: none, plot_words: 0, k_neighbours: 10}\n"
        f"gold: {{path: {three}, kind: token, slices: 3}}\n"
        "evaluation: {methods: [procrustes], bootstrap: 100}\n")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import ChangeEvaluation, GoldData

    res = build(ChangeEvaluation(spec="lee3"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    gold_dir = GoldData(spec="lee3").output().path
    assert (gold_dir / "corpus3" / "corpus.yaml").is_file() and (gold_dir / "truth" / "2_3" / "graded.txt").is_file()
    out = ChangeEvaluation(spec="lee3").output().path
    ev = json.loads((out / "evaluation.json").read_text())
    pairs = ev["methods"]["procrustes/euclidean"]["pairs"]
    assert set(pairs) == {"corpus1-corpus2", "corpus1-corpus3", "corpus2-corpus3"}
    # recomputed from the report: Spearman of its corpus2 -> corpus3 scores against that pair's gold
    from pipeline.dag.diachronic import DiachronicReport

    table = pl.read_parquet(DiachronicReport(spec="lee3", method="procrustes").output().path / "change.parquet")
    sub = table.filter((pl.col("slice_a") == "corpus2") & (pl.col("slice_b") == "corpus3"))
    scores = dict(zip(sub["word"], sub["euclidean_distance"]))
    truth = read_semeval(three).for_pair("corpus2", "corpus3").graded
    words = [w for w in truth if w in scores]
    assert pairs["corpus2-corpus3"]["graded_spearman"] == pytest.approx(
        spearmanr([scores[w] for w in words], [truth[w] for w in words]).statistic, abs=1e-12)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["graded_spearman_corpus2_corpus3-procrustes_euclidean"] == pairs["corpus2-corpus3"]["graded_spearman"]
    assert not metric_name_problems(metrics), metric_name_problems(metrics)
    assert "corpus2-corpus3" in (out / "summary.md").read_text()
    assert (out / "plots" / "graded_spearman_pairs.png").stat().st_size > 1000
    # each target's score against its gold: a scatter per pair, and a panel per target across the pairs
    assert (out / "plots" / "score_vs_gold.png").stat().st_size > 1000
    assert (out / "plots" / "target_trajectories.png").stat().st_size > 1000


def test_a_gold_with_other_than_the_declared_number_of_corpora_is_refused(three, tmp_path, monkeypatch, caplog):
    project = tmp_path / "proj"
    (project / "tasks" / "diachronic").mkdir(parents=True)
    (project / "corpora").mkdir()
    (project / "tasks" / "diachronic" / "lee3.yaml").write_text(
        "tokenizer: {pretokenized: true}\nmethod: procrustes\n"
        f"gold: {{path: {three}, kind: token}}\n")  # slices left at 2
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import GoldData

    task = GoldData(spec="lee3")
    assert_failed(build(task), caplog, "GoldData", f"{three}: expected gold with 2 corpora (gold.slices); "
                  "3: corpus1, corpus2, corpus3")
    assert not task.output().path.exists() and not list(task.output().path.parent.glob(".tmp-*"))


def test_scores_are_drawn_on_the_gold_scale_by_the_least_squares_line(three, tmp_path):
    from pipeline.diachronic.evaluate import _fit_to_gold, plot_targets_against_gold, score_reports
    from pipeline.diachronic.settings import ChangeEvaluationSettings

    gold = [0.0, 0.1, 0.4, 0.8]
    slope, intercept = _fit_to_gold([2 * g + 1 for g in gold], gold)  # score = 2 gold + 1
    assert (slope, intercept) == (pytest.approx(0.5), pytest.approx(-0.5))
    assert _fit_to_gold([3.0, 3.0], [0.0, 1.0]) == (1.0, 0.0)  # a constant score has no line
    g = read_semeval(three)
    path = tmp_path / "change.parquet"
    _table(g).write_parquet(path)
    settings = ChangeEvaluationSettings(methods=("cade",), measures=("cosine_distance",), bootstrap=20)
    evaluation, _, trajectories = score_reports(settings, g, {"cade": path}, kind="token")
    written = plot_targets_against_gold(evaluation, trajectories, tmp_path / "s.png", tmp_path / "t.png")
    assert written == ["s.png", "t.png"] and (tmp_path / "t.png").stat().st_size > 1000
    two = trajectories.filter((pl.col("slice_a") == "corpus1") & (pl.col("slice_b") == "corpus2"))
    assert plot_targets_against_gold(evaluation, two, tmp_path / "s2.png", tmp_path / "t2.png") == ["s2.png"]
