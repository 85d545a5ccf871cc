"""The diachronic DAG on tiny real text (gensim's Lee corpus split into two corpora)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import luigi
import numpy as np
import pytest
from gensim.test.utils import datapath

from pipeline import DiachronicReport, PreparedCorpus
from pipeline.dag.base import SUCCESS

from dagutil import assert_failed, assert_metric_names, assert_nothing_ran, assert_scheduling_failed, build

REPO = Path(__file__).resolve().parents[1]

SPEC = """\
corpora: [lee_a, lee_b]
slicing: {by: corpus}
cade: {vector_size: 16, window: 3, negative: 5, min_count: 3, compass_epochs: 2, slice_epochs: 2}
report: {min_freq: 3, top_n: 10, seeds: [1], words: [government], plot_words: 1, k_neighbours: 10}
"""


def _write_corpus(root: Path, name: str, lines: list[str]) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: en\nlicence: test\nsource: gensim lee_background.cor\n"
                                   f"files: '*.txt'\n")
    half = len(lines) // 2
    (d / "part1.txt").write_text("\n".join(lines[:half]) + "\n")
    (d / "part2.txt").write_text("\n".join(lines[half:]) + "\n")


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "tasks" / "diachronic").mkdir(parents=True)
    (root / "tasks" / "diachronic" / "toy.yaml").write_text(SPEC)
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()
    _write_corpus(root / "corpora", "lee_a", lines[: len(lines) // 2])
    _write_corpus(root / "corpora", "lee_b", lines[len(lines) // 2:])
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def stage_folders(root: Path) -> set[str]:
    out = root / "outputs"
    return {f"{p.parent.name}/{p.name}" for p in out.glob("*/*") if (p / SUCCESS).exists()}


def test_report_builds_and_slices_share_frozen_compass(project):
    res = build(DiachronicReport(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    folders = stage_folders(project)
    stages = sorted(f.split("/")[0] for f in folders)
    assert stages == ["cade-compass", "cade-report", "cade-slice", "cade-slice", "corpus"]
    written = assert_metric_names(project / "outputs", "cade-compass", "cade-slice", "cade-report", "corpus")
    assert all("simlex999_spearman" in m for where, m in written.items()
               if where.startswith(("cade-compass/", "cade-slice/")))
    from gensim.models import Word2Vec
    from gensim.models import KeyedVectors

    compass_dir = next((project / "outputs" / "cade-compass").iterdir())
    compass = Word2Vec.load(str(compass_dir / "compass.model"))
    for slice_dir in (project / "outputs" / "cade-slice").iterdir():
        kv = KeyedVectors.load(str(slice_dir / "vectors.kv"))
        syn1neg = np.load(slice_dir / "syn1neg.npy")
        rows = [compass.wv.key_to_index[w] for w in kv.index_to_key]
        assert np.array_equal(syn1neg, compass.syn1neg[rows])  # bit-identical context matrix
        assert (slice_dir / "vectors.vec").stat().st_size > 0
    report = next((project / "outputs" / "cade-report").iterdir())
    for name in ("change.parquet", "top_changed.csv", "stability.parquet", "metrics.json", "provenance.json",
                 "plots/top_changed.png"):
        assert (report / name).stat().st_size > 0, name
    import polars as pl

    table = pl.read_parquet(report / "change.parquet")
    assert {"word", "slice_a", "slice_b", "cosine_distance", "local_neighbourhood_distance"} <= set(table.columns)
    assert table.height > 100
    # the top changed words are ranked by the spec's report.rank_by (default: local neighbourhood)
    top = pl.read_csv(report / "top_changed.csv")
    seed1 = table.filter(pl.col("seed") == table["seed"].min())
    # report.stopwords: auto -> the corpora's language (en): stopwords and numbers are marked, not listed
    assert seed1.filter(pl.col("word") == "the")["stopword"].to_list() == [True]
    kept = seed1.filter(~pl.col("stopword"))
    expect = kept.sort("local_neighbourhood_distance", descending=True)["word"].head(top.height).to_list()
    assert top.sort("rank")["word"].to_list() == expect
    assert kept.sort("cosine_distance", descending=True)["word"].head(top.height).to_list() != expect


def test_rerun_does_nothing_and_edits_rerun_only_dependents(project):
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    before = stage_folders(project)
    t0 = time.time()
    report = DiachronicReport(spec="toy")  # built before build() empties luigi's instance cache: not kept there
    assert_nothing_ran(build(report), report)
    assert time.time() - t0 < 10
    assert stage_folders(project) == before

    # a report-only setting reruns only the report
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    spec.write_text(SPEC.replace("top_n: 10", "top_n: 7"))
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert [f.split("/")[0] for f in new] == ["cade-report"]

    # a slice setting reruns slices and report, not the compass or the corpus
    before = stage_folders(project)
    spec.write_text(SPEC.replace("slice_epochs: 2", "slice_epochs: 1"))
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert sorted(f.split("/")[0] for f in new) == ["cade-report", "cade-slice", "cade-slice"]

    # a new corpus file reruns everything that depends on that corpus
    before = stage_folders(project)
    (project / "corpora" / "lee_b" / "part3.txt").write_text("the government said new words today\n" * 5)
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert sorted(f.split("/")[0] for f in new) == ["cade-compass", "cade-report", "cade-slice", "cade-slice", "corpus"]


def test_new_slice_code_version_reruns_slices_and_report(project, monkeypatch):
    """The report reaches its slices dynamically; a new version of the slice (or compass) code must still
    give it a new id, or it would keep a change table computed from the old slices."""
    from pipeline.dag.diachronic import CompassModel, SliceModel

    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    before = stage_folders(project)
    monkeypatch.setattr(SliceModel, "version", SliceModel.version + 1)
    luigi.task_register.Register.clear_instance_cache()
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert sorted(f.split("/")[0] for f in new) == ["cade-report", "cade-slice", "cade-slice"]
    before = stage_folders(project)
    monkeypatch.setattr(CompassModel, "version", CompassModel.version + 1)
    luigi.task_register.Register.clear_instance_cache()
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert sorted(f.split("/")[0] for f in new) == ["cade-compass", "cade-report", "cade-slice", "cade-slice"]


@pytest.mark.parametrize("breakage,reason", [
    (lambda root: (root / "corpora" / "lee_b" / "part2.txt").write_bytes(b""), ("part2.txt", "the file is empty")),
    (lambda root: (root / "corpora" / "lee_b" / "part2.txt").write_bytes(b"abc\xff\xfe def\n"),
     ("part2.txt", "expected UTF-8 text; invalid UTF-8 at byte 3 (line 1, column 4)")),
    (lambda root: (root / "corpora" / "lee_b" / "part2.txt").write_bytes(b"\x00\x01\x02" * 100),
     ("part2.txt", "found a NUL byte at byte 0")),
])
def test_bad_corpus_fails_clearly_without_partial_output(project, caplog, breakage, reason):
    breakage(project)
    assert_failed(build(DiachronicReport(spec="toy")), caplog, "PreparedCorpus", *reason)
    assert stage_folders(project) == set(), "no partial stage folder"


def test_an_error_of_a_library_check_names_the_spec_and_the_stage(project, caplog, monkeypatch):
    """A check deep in a library function has no file to name (InputError(None, ...)); raised in a stage, the
    error names the task's spec file and the stage, and the stage leaves nothing behind."""
    from pipeline.diachronic import stages
    from pipeline.errors import InputError

    def no_anchor(*args, **kwargs):
        raise InputError(None, "at least one anchor word present in both vector sets", "none shared")

    monkeypatch.setattr(stages, "build_compass", no_anchor)
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    assert_failed(build(DiachronicReport(spec="toy")), caplog, "CompassModel",
                  f"{spec}: expected at least one anchor word present in both vector sets; none shared; in stage "
                  "cade-compass (lee_a-lee_b-seed1)")
    assert not any((project / "outputs").glob("cade-compass/*"))


def test_slice_too_small_for_min_count(project, caplog):
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    (project / "corpora" / "lee_b" / "part1.txt").write_text("tiny slice here\n")
    (project / "corpora" / "lee_b" / "part2.txt").write_text("with nothing frequent\n")
    spec.write_text(SPEC)
    res = build(DiachronicReport(spec="toy"))
    assert_failed(res, caplog, "SliceModel", "lee_b", "3+ times")
    assert not any((project / "outputs").glob("cade-slice/*-lee_b-seed1-*"))
    assert not any((project / "outputs").glob("cade-report/*"))


def test_unknown_spec_key_and_missing_corpus(project, caplog):
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    spec.write_text(SPEC.replace("min_freq", "min_frq"))
    assert_scheduling_failed(build(DiachronicReport(spec="toy")), caplog, "DiachronicReport", "toy.yaml",
                             "unknown key 'report.min_frq' (did you mean 'min_freq'?)")
    spec.write_text(SPEC.replace("lee_b", "lee_c"))
    caplog.clear()
    assert_scheduling_failed(build(DiachronicReport(spec="toy")), caplog, "DiachronicReport",
                             "corpora/lee_c: expected a corpus folder for 'lee_c'", "it does not exist")
    assert stage_folders(project) == set()


def test_a_spec_edited_while_a_stage_runs_does_not_change_what_it_builds(project, monkeypatch):
    """The compass's folder name is hashed from the spec at scheduling; an edit made while the compass trains
    takes effect in the next run, and the folder holds what its name says (vector_size 16, not 8)."""
    import pipeline.dag.diachronic as dd

    spec = project / "tasks" / "diachronic" / "toy.yaml"
    run = dd.CompassModel.run

    def edit_then_run(self):
        spec.write_text(SPEC.replace("vector_size: 16", "vector_size: 8"))
        return run(self)

    monkeypatch.setattr(dd.CompassModel, "run", edit_then_run)
    assert build(dd.CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    (folder,) = (project / "outputs" / "cade-compass").glob("*")
    assert json.loads((folder / "provenance.json").read_text())["settings"]["cade"]["vector_size"] == 16
    assert np.load(folder / "compass.npy").shape[1] == 16
    # the next run sees the edit: a new compass, of the new size, beside the old one
    monkeypatch.setattr(dd.CompassModel, "run", run)
    assert build(dd.CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    sizes = sorted(np.load(f / "compass.npy").shape[1] for f in (project / "outputs" / "cade-compass").glob("*"))
    assert sizes == [8, 16]


def _luigi(args, env, cwd):
    exe = Path(sys.executable).with_name("luigi")
    return subprocess.run([str(exe), "--module", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_command_line_exit_codes_from_any_directory(project, tmp_path):
    env = {**os.environ, "CHRONOLINGUA_HOME": str(project)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ok = _luigi(["PreparedCorpus", "--spec", "toy"], env, elsewhere)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "DeprecationWarning" not in ok.stderr
    bad = _luigi(["PreparedCorpus", "--spec", "no_such_spec"], env, elsewhere)
    assert bad.returncode != 0
    assert "no_such_spec.yaml" in bad.stderr + bad.stdout


def _procrustes(**extra) -> str:
    keys = {"vector_size": 16, "window": 3, "negative": 5, "min_count": 3, "epochs": 2, **extra}
    return SPEC + "method: procrustes\nprocrustes: {" + ", ".join(f"{k}: {v}" for k, v in keys.items()) + "}\n"


def test_procrustes_method_builds_its_own_stages_and_reruns_only_what_changed(project):
    """``method: procrustes``: a word2vec per slice, each mapped onto the reference slice, then the same report;
    the reference is an alignment setting (the word2vec slices stay), the training settings are not."""
    import polars as pl

    spec = project / "tasks" / "diachronic" / "toy.yaml"
    spec.write_text(_procrustes())
    res = build(DiachronicReport(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    folders = stage_folders(project)
    assert sorted(f.split("/")[0] for f in folders) == ["corpus", "procrustes-report", "procrustes-slice",
                                                        "procrustes-slice", "w2v-slice", "w2v-slice"]
    aligned = sorted(f.split("/")[1] for f in folders if f.startswith("procrustes-slice/"))
    assert [a.rsplit("-", 1)[0] for a in aligned] == ["lee_a-lee_b-lee_a-to-lee_a-seed1",
                                                      "lee_a-lee_b-lee_b-to-lee_a-seed1"]
    assert_metric_names(project / "outputs", "w2v-slice", "procrustes-slice", "procrustes-report")
    report = next((project / "outputs" / "procrustes-report").iterdir())
    assert pl.read_parquet(report / "change.parquet").height > 100
    w2v_a = next((project / "outputs" / "w2v-slice").glob("*-lee_a-seed1-*"))
    ref = next((project / "outputs" / "procrustes-slice").glob("*-lee_a-to-lee_a-*"))
    assert np.array_equal(np.load(ref / "vectors.npy"), np.load(w2v_a / "vectors.npy"))

    before = stage_folders(project)
    spec.write_text(_procrustes(reference="last"))
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = stage_folders(project) - before
    assert sorted(f.split("/")[0] for f in new) == ["procrustes-report", "procrustes-slice", "procrustes-slice"]

    spec.write_text(_procrustes(reference="lee_c"))
    from pipeline.errors import InputError

    luigi.task_register.Register.clear_instance_cache()
    with pytest.raises(InputError, match=r"slices\.json.*reference slice named 'lee_c'.*slices: lee_a, lee_b"):
        DiachronicReport(spec="toy").slice_tasks()


def test_report_keys_added_later_keep_old_identities(project):
    """``report.neighbours`` (the neighbours listed per word) was 10 in the code before it became a key: at 10 the
    report keeps the identity it had, any other value is a new report; the slices are untouched either way."""
    spec = project / "tasks" / "diachronic" / "toy.yaml"

    def report_id(text):
        spec.write_text(text)
        luigi.task_register.Register.clear_instance_cache()
        return DiachronicReport(spec="toy").output().name

    def slice_id():
        luigi.task_register.Register.clear_instance_cache()
        return SliceModel(spec="toy", slice_name="lee_a").output().name

    from pipeline import SliceModel

    base, base_slice = report_id(SPEC), slice_id()
    # what the identity hashed before the key existed, so report folders built then are still complete
    assert "neighbours" not in DiachronicReport(spec="toy").identity_settings()["report"]
    assert report_id(SPEC.replace("k_neighbours: 10}", "k_neighbours: 10, neighbours: 10}")) == base
    assert report_id(SPEC.replace("k_neighbours: 10}", "k_neighbours: 10, neighbours: 5}")) != base
    assert slice_id() == base_slice
