"""Semantic change against gold through the DAG and `chronolingua evaluate-change`: scores, shape, bad input."""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import luigi
import polars as pl
import pytest
from gensim.test.utils import datapath
from scipy.stats import spearmanr

from dagutil import assert_failed, build
from opsutil import PYTHON, env_for
from pipeline.archives import unpack_archive
from pipeline.diachronic.benchmark import make_change_benchmark
from pipeline.errors import InputError

LEE = Path(datapath("lee_background.cor"))
BENCH = dict(n_targets=16, bands=[(10, 30)], donor_band=(35, 5000), n_stable=6, seed=4)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory) -> Path:
    lee = [line.split() for line in LEE.read_text(encoding="utf-8").splitlines() if line.split()]
    return make_change_benchmark(lee, tmp_path_factory.mktemp("gold") / "lee_swap", design="swap", **BENCH)


def _project(root: Path) -> Path:
    (root / "tasks" / "diachronic").mkdir(parents=True)
    (root / "corpora").mkdir()
    return root


def _spec(gold: str, extra: str = "") -> str:
    return ("tokenizer: {pretokenized: true}\n"
            "cade: {vector_size: 30, min_count: 3, compass_epochs: 10, slice_epochs: 10}\n"
            "procrustes: {architecture: sgns, vector_size: 30, min_count: 3, epochs: 10}\n"
            "report: {min_freq: 3, seeds: [1, 2], stopwords: none, plot_words: 0, k_neighbours: 10}\n"
            f"gold: {gold}\nevaluation: {{methods: [cade, procrustes], bootstrap: 200}}\n{extra}")


def _truth(folder: Path) -> dict[str, float]:
    rows = [line.split("\t") for line in (folder / "truth" / "graded.txt").read_text().splitlines()]
    return {w: float(v) for w, v in rows}


def test_evaluation_scores_every_method_and_measure_as_recomputed_from_the_reports(tmp_path, benchmark,
                                                                                   monkeypatch):
    project = _project(tmp_path / "proj")
    (project / "tasks" / "diachronic" / "lee.yaml").write_text(_spec(f"{{path: {benchmark}, kind: token}}"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import ChangeEvaluation, DiachronicReport

    task = ChangeEvaluation(spec="lee")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    out = task.output().path
    ev = json.loads((out / "evaluation.json").read_text())
    base = {f"{m}/{x}" for m in ("cade", "procrustes") for x in ("cosine", "lnd", "euclidean")}
    assert set(ev["methods"]) == base | {f"{n}+ens" for n in base}  # two seeds: each also as a seed ensemble
    assert ev["recommended"] in ev["methods"]
    truth = _truth(benchmark)
    # the graded Spearman of each seed is Spearman's rho of the report's own change scores against the truth
    report = DiachronicReport(spec="lee", method="cade").output().path
    table = pl.read_parquet(report / "change.parquet").filter(
        (pl.col("seed") == 2) & (pl.col("slice_a") == "corpus1") & (pl.col("slice_b") == "corpus2"))
    scores = dict(zip(table["word"], table["cosine_distance"]))
    words = [w for w in truth if w in scores]
    expect = spearmanr([scores[w] for w in words], [truth[w] for w in words]).statistic
    seed2 = next(s for s in ev["methods"]["cade/cosine"]["seeds"] if s["seed"] == 2)
    assert seed2["graded_spearman"] == pytest.approx(expect, abs=1e-12)
    # the ensemble ranks the targets by their score averaged over the seeds
    both = pl.read_parquet(report / "change.parquet").filter(
        (pl.col("slice_a") == "corpus1") & (pl.col("slice_b") == "corpus2")).group_by("word").agg(
        pl.col("cosine_distance").mean())
    mean = dict(zip(both["word"], both["cosine_distance"]))
    expect_ens = spearmanr([mean[w] for w in words], [truth[w] for w in words]).statistic
    assert ev["methods"]["cade/cosine+ens"]["graded_spearman"] == pytest.approx(expect_ens, abs=1e-12)
    assert seed2["covered"] == len(words) and seed2["n_targets"] == len(truth)
    cade = ev["methods"]["cade/cosine"]
    lo, hi = cade["graded_spearman_ci"]
    assert cade["n_seeds"] == 2 and lo < cade["graded_spearman"] < hi and cade["graded_spearman_sd"] is not None
    # the injected change is found (on this small corpus, best by SGNS + OP: rho ~0.58 vs CADE's ~0.21)
    assert max(m["graded_spearman"] for m in ev["methods"].values()) > 0.4
    assert "top_k" in cade["binary_rule"]
    # the flat metrics follow the project's metric-name scheme
    from pipeline.evaluators import METRIC_NAME

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["graded_spearman-cade_cosine"] == cade["graded_spearman"]
    assert all(METRIC_NAME.fullmatch(k) for k in metrics), [k for k in metrics if not METRIC_NAME.fullmatch(k)]
    assert (out / "plots" / "graded_spearman.png").stat().st_size > 1000
    # the corpora came from the gold stage, with their provenance
    prov = json.loads((task.requires()["gold"].output().path / "provenance.json").read_text())
    assert prov["input_records"][0]["kind"] == "data" and prov["input_records"][0]["name"] == "gold lee"


def test_evaluate_change_command_writes_a_spec_and_the_issue_json(tmp_path, benchmark):
    project = _project(tmp_path / "proj")
    env = env_for(project)
    out = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(benchmark), "--kind", "token",
                          "--seeds", "1", "--min-freq", "3", "--json", str(tmp_path / "scores.json")],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    spec = project / "tasks" / "diachronic" / "lee_swap.yaml"
    assert spec.is_file() and "pretokenized: true" in spec.read_text()
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["recommended"] in scores["methods"] and "graded_spearman_ci" in scores["methods"]["cade/cosine"]
    assert "| `cade/cosine`" in out.stdout and "binary accuracy" in out.stdout
    # a second run of the same command builds nothing new (same spec, same stages)
    again = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(benchmark), "--kind", "token",
                            "--seeds", "1", "--min-freq", "3"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0 and "| `cade/cosine`" in again.stdout


@pytest.mark.parametrize("damage, expected", [
    (lambda d: shutil.rmtree(d / "truth"), "graded.txt"),
    (lambda d: shutil.rmtree(d / "corpus2"), "corpus2"),
    (lambda d: (d / "truth" / "graded.txt").write_text((d / "truth" / "graded.txt").read_text()
                                                       + "notatarget\t0.5\n"), "notatarget"),
    (lambda d: (d / "truth" / "graded.txt").write_text(
        "\n".join(f"{line.split(chr(9))[0]}\tmuch" for line in (d / "truth" / "graded.txt").read_text().splitlines())),
     "much"),
])
def test_bad_gold_is_one_line_naming_the_file_and_writes_nothing(tmp_path, benchmark, damage, expected):
    gold = tmp_path / "gold"
    shutil.copytree(benchmark, gold)
    damage(gold)
    project = _project(tmp_path / "proj")
    out = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(gold), "--kind", "token"],
                         env=env_for(project), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0] and str(gold) in lines[0]
    assert not list((project / "tasks" / "diachronic").iterdir()) and not (project / "outputs").exists()


def test_targets_absent_from_both_corpora_fail_the_gold_stage_with_nothing_kept(tmp_path, benchmark, monkeypatch,
                                                                                caplog):
    gold = tmp_path / "gold"
    shutil.copytree(benchmark, gold)
    targets = (gold / "targets.txt").read_text().split()
    (gold / "targets.txt").write_text("".join(f"{t}\n" for t in targets) + "zzzunseen\n")
    for name in ("graded", "binary"):
        f = gold / "truth" / f"{name}.txt"
        f.write_text(f.read_text() + "zzzunseen\t0\n")
    project = _project(tmp_path / "proj")
    (project / "tasks" / "diachronic" / "bad.yaml").write_text(_spec(f"{{path: {gold}, kind: token}}"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import GoldData

    assert_failed(build(GoldData(spec="bad")), caplog, "GoldData", "targets.txt", "zzzunseen", "occur in neither")
    assert not any((project / "outputs" / "gold").iterdir())  # no stage folder, no temporary one


def test_an_archive_whose_sha256_does_not_match_is_refused(tmp_path, benchmark, monkeypatch, caplog):
    archive = tmp_path / "lee_swap.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(benchmark.rglob("*")):
            if f.is_file():
                zf.write(f, f"lee_swap/{f.relative_to(benchmark)}")
    project = _project(tmp_path / "proj")
    (project / "tasks" / "diachronic" / "z.yaml").write_text(_spec(f"{{path: {archive}, sha256: '{'0' * 64}', "
                                                                   "kind: token}"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import GoldData

    assert_failed(build(GoldData(spec="z")), caplog, "GoldData", str(archive), "0" * 64)
    assert not any((project / "outputs" / "gold").iterdir())


def test_archives_unpack_only_plain_members_inside_the_folder(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("top/a.txt", "a\n")
    assert (unpack_archive(good, tmp_path / "out") / "top" / "a.txt").read_text() == "a\n"
    for name, member in (("up.zip", "../escaped.txt"), ("abs.zip", "/abs.txt")):
        bad = tmp_path / name
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr(member, "x")
        with pytest.raises(InputError, match="member"):
            unpack_archive(bad, tmp_path / f"out-{name}")
        assert not (tmp_path / f"out-{name}").exists() and not (tmp_path.parent / "escaped.txt").exists()
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("top/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="link"):
        unpack_archive(link, tmp_path / "out-link")
    clash = tmp_path / "clash.zip"
    with zipfile.ZipFile(clash, "w") as zf:
        zf.writestr("g/targets.txt", "a\n")
        zf.writestr("g/targets.txt/x", "b")
    with pytest.raises(InputError, match=r"clash\.zip: .*member 'g/targets\.txt/x' is both a file and a folder"):
        unpack_archive(clash, tmp_path / "out-clash")
    assert not (tmp_path / "out-clash").exists()
    assert not list(tmp_path.glob(".out-*"))  # no temporary folder left


def test_a_dwug_table_is_scored_on_the_corpora_of_its_semeval_folder(tmp_path, benchmark, monkeypatch):
    """layout: dwug reads stats/opt/stats_groupings.csv (tab-separated) and takes its corpora from corpora_from."""
    truth = _truth(benchmark)
    binary = dict(line.split("\t") for line in (benchmark / "truth" / "binary.txt").read_text().splitlines())
    release = tmp_path / "dwug_en"
    (release / "stats" / "opt").mkdir(parents=True)
    header = "lemma\tgrouping\tchange_binary\tchange_graded\n"
    rows = "".join(f"{w}\t1_2\t{binary[w]}\t{1 - v:.4f}\n" for w, v in truth.items())  # graded reversed
    (release / "stats" / "opt" / "stats_groupings.csv").write_text(header + rows)
    project = _project(tmp_path / "proj")
    (project / "tasks" / "diachronic" / "dwug.yaml").write_text(
        _spec(f"{{path: {release}, layout: dwug, corpora_from: {benchmark}, kind: token}}"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import ChangeEvaluation

    task = ChangeEvaluation(spec="dwug")
    assert build(task).status == luigi.LuigiStatusCode.SUCCESS
    gold = task.requires()["gold"].output().path
    assert (gold / "truth" / "graded.txt").read_text().splitlines()[0].split("\t")[1] != \
        (benchmark / "truth" / "graded.txt").read_text().splitlines()[0].split("\t")[1]  # the DWUG values
    ev = json.loads((task.output().path / "evaluation.json").read_text())
    # the same predictions against reversed graded truth: every seed's Spearman changes sign
    report = task.requires()["reports"]["cade"].output().path
    table = pl.read_parquet(report / "change.parquet").filter(
        (pl.col("seed") == 1) & (pl.col("slice_a") == "corpus1") & (pl.col("slice_b") == "corpus2"))
    scores = dict(zip(table["word"], table["cosine_distance"]))
    words = [w for w in truth if w in scores]
    expect = spearmanr([scores[w] for w in words], [1 - truth[w] for w in words]).statistic
    seed1 = next(s for s in ev["methods"]["cade/cosine"]["seeds"] if s["seed"] == 1)
    assert seed1["graded_spearman"] == pytest.approx(expect, abs=1e-3)


def test_the_command_names_a_stage_s_input_error_and_removes_the_spec_it_wrote(tmp_path, benchmark):
    """Gold that only a stage can check (targets absent from both corpora): the command's last lines are the
    stage's error and what was removed; the spec it wrote is gone, so a rerun after the fix starts clean."""
    gold = tmp_path / "gold"
    shutil.copytree(benchmark, gold)
    (gold / "targets.txt").write_text((gold / "targets.txt").read_text() + "zzzunseen\n")
    for name in ("graded", "binary"):
        f = gold / "truth" / f"{name}.txt"
        f.write_text(f.read_text() + "zzzunseen\t0\n")
    project = _project(tmp_path / "proj")
    out = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(gold), "--kind", "token", "--seeds", "1"],
                         env=env_for(project), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and str(gold / "targets.txt") in errors[0] and "zzzunseen" in errors[0], errors
    assert "the spec" in errors[1] and "was removed" in errors[1]
    assert not list((project / "tasks" / "diachronic").iterdir())
    bad = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(gold), "--seeds", "0"],
                         env=env_for(project), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "argument --seeds: expected at least 1, not 0" in bad.stderr


def _dwug_release(root: Path, benchmark: Path) -> tuple[Path, dict[str, float]]:
    """A DWUG-style change table over the benchmark's targets, graded values reversed (told apart from its truth)."""
    truth = _truth(benchmark)
    binary = dict(line.split("\t") for line in (benchmark / "truth" / "binary.txt").read_text().splitlines())
    (root / "stats" / "opt").mkdir(parents=True)
    rows = "".join(f"{w}\t1_2\t{binary[w]}\t{1 - v:.4f}\n" for w, v in truth.items())
    (root / "stats" / "opt" / "stats_groupings.csv").write_text("lemma\tgrouping\tchange_binary\tchange_graded\n"
                                                                 + rows)
    return root, {w: 1 - v for w, v in truth.items()}


def test_the_command_scores_a_dwug_release_on_the_corpora_it_is_given(tmp_path, benchmark):
    """A DWUG release has only its change table: without --corpora-from the command says so in one line and
    writes nothing; with it, the spec says layout dwug and the scores are against the DWUG values."""
    release, reversed_truth = _dwug_release(tmp_path / "dwug_en", benchmark)
    project = _project(tmp_path / "proj")
    bare = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(release), "--kind", "token"],
                          env=env_for(project), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2, bare.stderr[-2000:]
    lines = bare.stderr.strip().splitlines()
    assert len(lines) == 1 and str(release) in lines[0] and "--corpora-from" in lines[0], lines
    assert not list((project / "tasks" / "diachronic").iterdir()) and not (project / "outputs").exists()

    out = subprocess.run([PYTHON, "-m", "pipeline", "evaluate-change", str(release), "--corpora-from", str(benchmark),
                          "--kind", "token", "--seeds", "1", "--min-freq", "3", "--methods", "cade",
                          "--json", str(tmp_path / "scores.json")],
                         env=env_for(project), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    import yaml

    gold = yaml.safe_load((project / "tasks" / "diachronic" / "dwug_en.yaml").read_text())["gold"]
    assert gold["layout"] == "dwug" and gold["corpora_from"] == str(benchmark.resolve())
    copied = project / "outputs" / "gold"
    (graded,) = copied.glob("*/truth/graded.txt")
    assert {w: float(v) for w, v in (x.split("\t") for x in graded.read_text().splitlines())} == \
        pytest.approx(reversed_truth, abs=1e-4)
    assert "cade/cosine" in json.loads((tmp_path / "scores.json").read_text())["methods"]


def test_a_dwug_release_read_with_the_semeval_layout_is_refused_by_the_gold_stage(tmp_path, benchmark, monkeypatch):
    release, _ = _dwug_release(tmp_path / "dwug_en", benchmark)
    project = _project(tmp_path / "proj")
    (project / "tasks" / "diachronic" / "dwug.yaml").write_text(_spec(f"{{path: {release}, kind: token}}"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import ChangeEvaluation

    task = ChangeEvaluation(spec="dwug")
    gold = task.requires()["gold"]
    with pytest.raises(InputError, match="gold.corpora_from") as err:
        gold.run()
    assert "stats_groupings.csv" in str(err.value) and "layout: dwug" in str(err.value)
    assert not gold.complete() and not list((project / "outputs" / "gold").iterdir())
