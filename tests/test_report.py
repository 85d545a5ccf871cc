"""The run report (pipeline.report, the Report task): a small real DAG, its site, and headless Chromium over it."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import luigi
import pytest

from dagutil import assert_nothing_ran, build
from opsutil import make_multilingual_project, write_corpus
from reportutil import make_stage

SPEC = """\
description: "<img src=x onerror=alert(1)> Lee corpus halves"
corpora: [lee_a, lee_b]
slicing: {by: corpus}
tokenizer: {pretokenized: true}
cade: {vector_size: 8, window: 3, negative: 3, min_count: 3, compass_epochs: 1, slice_epochs: 1}
report: {min_freq: 3, top_n: 5, seeds: [1, 2], words: [government, "<script>"], plot_words: 1, k_neighbours: 5,
         stopwords: none}
"""

# a corpus word that is HTML: the report must show it as text everywhere
HOSTILE = "<script>"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project, built: a diachronic spec (two Lee corpus halves, two seeds) and an aligned pair."""
    from gensim.test.utils import datapath

    root = tmp_path_factory.mktemp("report")
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[:150]
    extra = [f"the {HOSTILE} tag said the government would act" for _ in range(6)]
    (root / "tasks" / "diachronic").mkdir(parents=True)
    (root / "tasks" / "diachronic" / "toy.yaml").write_text(SPEC)
    write_corpus(root / "corpora", "lee_a", lines[:75] + extra, licence="CC-BY-4.0")
    write_corpus(root / "corpora", "lee_b", lines[75:] + extra, licence="Public domain")
    make_multilingual_project(root)
    old = {k: os.environ.get(k) for k in ("CHRONOLINGUA_HOME", "CHRONOLINGUA_OUTPUTS", "CHRONOLINGUA_STORE")}
    os.environ["CHRONOLINGUA_HOME"] = str(root)
    os.environ.pop("CHRONOLINGUA_OUTPUTS", None)
    os.environ.pop("CHRONOLINGUA_STORE", None)
    from pipeline.dag import AlignedVectors, DiachronicReport

    res = build(DiachronicReport(spec="toy"), AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def site(project):
    """The report of the project, written by the Report task (and a second run that finds it complete)."""
    from pipeline.dag import Report

    res = build(Report())
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert_nothing_ran(build(Report()), Report())
    return project / "outputs" / "report"


def _stage_page(site: Path, stage: str) -> Path:
    pages = sorted((site / "stages" / stage).glob("*/index.html"))
    assert len(pages) == 1, pages
    return pages[0]


def test_front_page_lists_every_spec_and_stage_with_links(site, project):
    html = (site / "index.html").read_text()
    for folder in sorted((project / "outputs").glob("*/*")):
        if folder.parent.name in ("report", ".work"):
            continue
        assert f"{folder.parent.name}/{folder.name}" in html  # every stage folder, with its identity
        assert f'href="../{folder.parent.name}/{folder.name}/provenance.json"' in html
    assert "diachronic/toy" in html and "multilingual/de" in html
    # the spec description is escaped, not markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html


def test_change_data_every_word_and_pair_and_both_seeds(site, project):
    import polars as pl

    change = pl.read_parquet(next((project / "outputs" / "cade-report").glob("*/change.parquet")))
    page = _stage_page(site, "cade-report").parent
    meta = json.loads(re.fullmatch(r"CL\.meta\((.*)\);\n", (page / "data" / "meta.js").read_text()).group(1))
    rows = []
    for f in sorted((page / "data").glob("change-*.js")):  # columnar: {key: [values]}, keys as meta says
        cols = json.loads(re.fullmatch(r"CL\.rows\(\d+,(.*)\);\n", f.read_text(), re.S).group(1))
        rows += [list(r) for r in zip(*[cols[k] for k in meta["keys"]])]
    first = change.filter(pl.col("seed") == 1)
    assert len(rows) == first.height == meta["rows"]
    labels = [c["label"] for c in meta["columns"]]
    assert "cosine (mean of 2 seeds)" in labels
    want = {r["word"]: r for r in first.to_dicts()}
    got = {r[0]: r for r in rows}
    assert set(got) == set(want)
    w = "government"
    i, j = labels.index("cosine"), labels.index("cosine (mean of 2 seeds)")
    assert got[w][i] == pytest.approx(want[w]["cosine_distance"], abs=1e-5)
    mean = change.filter(pl.col("word") == w)["cosine_distance"].mean()
    assert got[w][j] == pytest.approx(mean, abs=1e-5)
    vocab = json.loads(re.fullmatch(r"CL\.vocab\((.*)\);\n", (page / "data" / "vocab.js").read_text()).group(1))
    assert HOSTILE in vocab and set(vocab) == set(want)
    for f in (page / "data").glob("*.js"):  # the word is inside JSON strings only, never as markup
        assert HOSTILE not in f.read_text()


def test_aligned_page_translations_by_csls(site):
    """The vectors are en @ Q + noise with P@1 = 1 (as the BLI metrics say): every sampled test word's best CSLS
    candidate is its dictionary translation, and the page shows 25 of them."""
    page = _stage_page(site, "aligned").read_text()
    body = page.split("Induced translations", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(w\d+)</td><td>(.*?)</td><td>(.*?)</td></tr>", body)
    assert len(rows) == 25
    for word, induced, gold in rows:
        assert induced.startswith(f"<b>{word} (") and gold == word, (word, induced)
    assert "among the 400 most frequent en words" in body


def test_incomplete_stage_listed_and_never_read_and_missing_fields(tmp_path):
    from pipeline.identity import write_json
    from pipeline.integrity import write_marker
    from pipeline.report import SpecEntry, StageRef, build_site

    half = tmp_path / "outputs" / "aligned" / "xx-to-en-000000000000"
    half.mkdir(parents=True)
    (half / "metrics.json").write_text('{"dictionary_pairs": "NEVER-READ-SENTINEL"}')  # no success marker
    bare = tmp_path / "outputs" / "aligned" / "yy-to-en-111111111111"
    bare.mkdir(parents=True)
    write_json(bare / "metrics.json", {"source_lang": "yy", "pivot_lang": "en", "dictionary_pairs": 7})
    write_json(bare / "provenance.json", {"created": "2026-01-01T00:00:00+00:00", "settings": {}})
    write_marker(bare, {"stage_id": "aligned/yy-to-en-111111111111"})
    changed = tmp_path / "outputs" / "aligned" / "zz-to-en-222222222222"
    shutil.copytree(bare, changed)
    write_json(changed / "metrics.json", {"dictionary_pairs": "CHANGED-SENTINEL"})  # no longer matches its marker
    specs = [SpecEntry("multilingual", "xx", stages=(StageRef("aligned", half, final=True),)),
             SpecEntry("multilingual", "yy", stages=(StageRef("aligned", bare, final=True),)),
             SpecEntry("multilingual", "zz", stages=(StageRef("aligned", changed, final=True),))]
    res = build_site(specs, tmp_path / "site")
    assert res.stages == {str(half): "incomplete: no success marker", str(bare): "complete",
                          str(changed): res.stages[str(changed)]}
    assert res.stages[str(changed)].startswith("incomplete: metrics.json:")
    front = (tmp_path / "site" / "index.html").read_text()
    assert "incomplete: no success marker" in front and res.pages_written == 1
    for f in (tmp_path / "site").rglob("*"):
        if f.is_file():
            text = f.read_text()
            assert "NEVER-READ-SENTINEL" not in text and "CHANGED-SENTINEL" not in text
    page = (tmp_path / "site" / "stages" / "aligned" / bare.name / "index.html").read_text()
    # what the metrics lack is "missing": coverage, the BLI table, the sample
    assert re.search(r'<div class="v"><span class="missing">missing</span></div><div class="k">coverage', page)
    assert "BLI metrics: <span class=\"missing\">missing</span>" in page
    assert re.search(r'<div class="v">7</div><div class="k">pairs<', page)


def test_kind_pages_transfer_specialization_static_and_gold(tmp_path):
    """Each kind's page shows its figures from the stage's files, "missing" for what they lack, text escaped."""
    import polars as pl

    from pipeline.report import SpecEntry, StageRef, build_site

    out = tmp_path / "outputs"
    transfer = make_stage(out, "transfer", "m-to-es-aaaaaaaaaaaa", {
        "metrics.json": {"target_subwords": 120, "target_subwords_matched": 100, "retrieval_mrr-wechsel": 0.25,
                         "retrieval_top1-wechsel": 0.125, "retrieval_mrr-random_init": 0.01},
        "report.json": {"summary": {}, "sample": [{"target": HOSTILE, "target_id": 5, "neighbours": [
            {"source": "##ing", "similarity": 0.5, "weight": 0.75}]}], "fallback_tokens": ["zz"]}})
    special = make_stage(out, "specialized", "s-bbbbbbbbbbbb", {"metrics.json": {
        "before_simlex999_spearman": 0.5, "after_simlex999_spearman": 0.53, "delta_simlex999_spearman": 0.03,
        "before_bli_en-es_mrr-nn": 0.154, "after_bli_en-es_mrr-nn": 0.205}})
    static = out / "static-compare" / "en-cccccccccccc"
    static.mkdir(parents=True)
    pl.DataFrame({"set": ["fasttext", HOSTILE], "simlex999_spearman": [0.4, None]}).write_parquet(
        static / "comparison.parquet")
    static = make_stage(out, "static-compare", "en-cccccccccccc", {"metrics.json": {"sets": {"a": 1}, "n_words": 9}})
    gold = make_stage(out, "change-eval", "g-dddddddddddd", {"evaluation.json": {
        "recommended": "procrustes/euclidean", "methods": {"cade/cosine": {"graded_spearman": 0.8,
                                                                           "graded_spearman_ci": [0.6, 0.9]}}}})
    pretrain = make_stage(out, "pretrain", "m-to-es-eeeeeeeeeeee", {"metrics.json": {"final_loss": 2.5}})
    specs = [SpecEntry("transfer", "es", stages=(StageRef("transfer", transfer), StageRef("pretrain", pretrain))),
             SpecEntry("specialization", "s", stages=(StageRef("specialized", special),)),
             SpecEntry("static", "en", stages=(StageRef("static-compare", static),)),
             SpecEntry("diachronic", "g", stages=(StageRef("change-eval", gold),))]
    site = tmp_path / "site"
    build_site(specs, site)

    def page(stage, folder):
        return (site / "stages" / stage / folder.name / "index.html").read_text()

    t = page("transfer", transfer)
    assert re.search(r'<div class="v">100</div><div class="k">matched', t)
    assert re.search(r'<span class="missing">missing</span></div><div class="k">fallback', t)
    assert "<code>&lt;script&gt;</code>" in t and HOSTILE not in t
    assert "<code>##ing</code><br><span class=\"muted\">sim 0.5000 &middot; w 0.7500</span>" in t
    assert "<td>wechsel</td><td class=\"num\">0.1250</td><td class=\"num\">0.2500</td>" in t
    assert "<td>random_init</td><td class=\"num\"><span class=\"missing\">missing</span></td>" in t
    s = page("specialized", special)
    assert ("<td><code>simlex999_spearman</code></td><td class=\"num\">0.5000</td><td class=\"num\">0.5300</td>"
            "<td class=\"num\">0.0300</td>") in s
    assert "<td class=\"num\">0.2050</td><td class=\"num\"><span class=\"missing\">missing</span></td>" in s
    c = page("static-compare", static)
    assert "<td>&lt;script&gt;</td><td class=\"num\"><span class=\"missing\">missing</span></td>" in c
    g = page("change-eval", gold)
    assert "<td>cade/cosine</td><td class=\"num\">0.8000</td><td>[0.6000, 0.9000]</td>" in g
    p = page("pretrain", pretrain)
    assert "loss.png: <span class=\"missing\">missing</span>" in p


def test_static_comparison_page_leads_with_the_headline_scores_best_in_bold(tmp_path):
    """The comparison page's first table holds the headline scores only (short labels, three decimals), the
    best of each column in bold, the sd over seeds beside a seeded set's mean; every column stays below."""
    import polars as pl

    from pipeline.report import SpecEntry, StageRef, build_site

    out = tmp_path / "outputs"
    folder = out / "static-compare" / "en-ffffffffffff"
    folder.mkdir(parents=True)
    pl.DataFrame({"set": ["isolation.L6", "fasttext", HOSTILE], "vocabulary": [9, 9, 9], "seeds": [1.0, 3.0, 1.0],
                  "analogy_google_accuracy": [0.61, 0.52, None], "analogy_google_n": [40.0, 40.0, 40.0],
                  "simlex999_spearman": [0.2, 0.45, 0.3], "simlex999_spearman_sd": [None, 0.0123, None],
                  "bli_en-es_precision_at_1-nn": [0.9, 0.1, 0.1]}).write_parquet(folder / "comparison.parquet")
    folder = make_stage(out, "static-compare", "en-ffffffffffff", {"metrics.json": {"vocabulary_n": 9}})
    build_site([SpecEntry("static", "en", stages=(StageRef("static-compare", folder),))], tmp_path / "site")
    page = (tmp_path / "site" / "stages" / "static-compare" / folder.name / "index.html").read_text()
    first = page[page.index("<table"):page.index("</table>")]
    heads = re.findall(r"<th>(.*?)</th>", first)
    assert heads == ["set", "seeds", "analogies accuracy", "SimLex-999 Spearman"]  # no counts, no nn BLI
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", first)[1:]]
    assert rows == [
        ["isolation.L6", "1", "<strong>0.610</strong>", "0.200"],
        ["fasttext", "3", "0.520", '<strong>0.450 <span class="muted">&plusmn; 0.012</span></strong>'],
        ["&lt;script&gt;", "1", '<span class="missing">missing</span>', "0.300"]]
    assert "every column (8)" in page and "analogy_google_n" in page[page.index("every column"):]
    assert "1 value of metrics.json" in page


def test_a_stage_page_shows_nested_metrics_one_value_a_row(tmp_path):
    """A nested metrics.json (X2Static's teacher and per-layer records) is shown as dotted keys, one value a
    row: numbers right-aligned, text in wrapping cells, a long list cut to its first values and its length."""
    from pipeline.report import SpecEntry, StageRef, build_site
    from pipeline.report.html import LIST_SHOWN

    loss = [round(5.0 - 0.1 * i, 3) for i in range(LIST_SHOWN + 8)]
    folder = make_stage(tmp_path / "outputs", "static", "en-x2static-aaaaaaaaaaaa", {"metrics.json": {
        "method": "x2static", "x2static": {"teacher": {"teacher_seconds": 455.8, "targets": 1796144},
                                           "layers": {"L6": {"loss": loss, "steps": 3860}}},
        "files": ["x2static.L6.vec", HOSTILE]}})
    build_site([SpecEntry("static", "en", stages=(StageRef("static", folder),))], tmp_path / "site")
    page = (tmp_path / "site" / "stages" / "static" / folder.name / "index.html").read_text()
    rows = dict(re.findall(r"<tr><td><code>(.*?)</code></td>(<td.*?</td>)</tr>", page))
    assert list(rows) == ["files", "method", "x2static.layers.L6.loss", "x2static.layers.L6.steps",
                          "x2static.teacher.targets", "x2static.teacher.teacher_seconds"]  # as the file (sorted)
    assert rows["x2static.teacher.targets"] == '<td class="num">1,796,144</td>'
    assert rows["x2static.teacher.teacher_seconds"] == '<td class="num">455.8000</td>'
    assert rows["method"] == '<td class="text">x2static</td>'
    assert rows["files"] == '<td class="text">x2static.L6.vec, &lt;script&gt;</td>'
    shown = rows["x2static.layers.L6.loss"]
    assert shown.startswith('<td class="text">[5.0000, 4.9000,') and f"({len(loss)} values)" in shown
    assert "3.9000" in shown and "3.8000" not in shown  # the first LIST_SHOWN values only
    assert f"{len(rows)} values of metrics.json" in page


def test_a_page_whose_renderer_fails_says_so_and_the_rest_of_the_site_is_still_built(tmp_path, monkeypatch,
                                                                                     caplog):
    """An error no renderer foresaw (a bug, a file shape not handled) stopped the whole build: now that page
    alone names it (escaped, credentials scrubbed), its row on the front page too, the build logs it and
    counts it, records no state (the Report task stays incomplete), and the next build tries the page again."""
    import logging

    from pipeline.report import SpecEntry, StageRef, build_site, read_state, stages
    from pipeline.report import site as site_mod

    out = tmp_path / "outputs"
    good = make_stage(out, "static", "en-aaaaaaaaaaaa", {"metrics.json": {"n_words": 9}})
    bad = make_stage(out, "pretrain", "m-bbbbbbbbbbbb", {"metrics.json": {"final_loss": 2.5}})
    specs = [SpecEntry("static", "en", stages=(StageRef("static", good, final=True),)),
             SpecEntry("transfer", "m", stages=(StageRef("pretrain", bad, final=True),))]
    site = tmp_path / "site"
    bad_page = site / "stages" / "pretrain" / bad.name
    with monkeypatch.context() as m:  # good pages of both folders, by an older report: both are rendered again
        m.setattr(site_mod, "_code_version", lambda: "0-older")
        assert build_site(specs, site).clean and read_state(site)

    def broken(folder, out_, *rest):
        (out_ / "data").mkdir()
        (out_ / "data" / "half.js").write_text("CL.rows(")  # half a page: none of it may be shown
        raise ValueError("<b>odd</b> shape of https://bob:hunter2@store.example/m?token=s3cr3t-t0ken")

    monkeypatch.setitem(stages.RENDERERS, "pretrain", broken)
    monkeypatch.setitem(stages.RENDERERS, "static", lambda *a: "<p>GOOD-PAGE-BODY</p>")  # rendered again too
    with caplog.at_level(logging.ERROR, logger="pipeline.report"):
        res = build_site(specs, site)
    assert (res.pages_written, res.pages_failed, res.clean) == (1, 1, False)
    error = "ValueError: <b>odd</b> shape of https://***@store.example/m?token=***"
    assert res.failed == {str(bad): error} and res.as_dict()["pages_failed"] == 1
    assert res.stages == {str(good): "complete", str(bad): "complete"}  # the stage is fine; its page is not
    assert "GOOD-PAGE-BODY" in (site / "stages" / "static" / good.name / "index.html").read_text()
    page = (bad_page / "index.html").read_text()
    escaped = "ValueError: &lt;b&gt;odd&lt;/b&gt; shape of https://***@store.example/m?token=***"
    assert f"This page could not be rendered: <code>{escaped}</code>" in page and "<b>odd" not in page
    assert sorted(p.name for p in bad_page.iterdir()) == ["index.html"]  # no stamp, no half-written data
    front = (site / "index.html").read_text()
    assert front.count("page not rendered") == 1 and "1 stage page(s) could not be rendered" in front
    row = next(r for r in front.split("<tr>") if f"pretrain/{bad.name}" in r)
    assert f"page not rendered: <code>{escaped}</code>" in row and "<b>odd" not in front
    assert f'href="stages/pretrain/{bad.name}/index.html"' in row
    assert read_state(site) is None  # not up to date: the Report task runs again
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"pretrain/{bad.name}" in r.getMessage() and "Traceback" in r.getMessage() for r in logged)
    assert any("1 stage page(s) could not be rendered" in r.getMessage() for r in logged)
    for text in [caplog.text] + [f.read_text() for f in site.rglob("*") if f.is_file()]:
        assert "hunter2" not in text and "s3cr3t" not in text
    assert not [p for p in site.rglob("*") if ".tmp" in p.name]

    monkeypatch.setitem(stages.RENDERERS, "pretrain", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # an interrupt is not one page's failure: it stops the build
        build_site(specs, site)
    assert "could not be rendered" in (bad_page / "index.html").read_text()  # the page as it was, whole
    assert not [p for p in site.rglob("*") if ".tmp" in p.name]

    monkeypatch.undo()  # the renderer fixed: the failed page (no stamp) is rendered again, the site is clean
    again = build_site(specs, site)
    assert (again.pages_written, again.pages_kept, again.pages_failed, again.clean) == (1, 1, 0, True)
    assert "could not be rendered" not in (bad_page / "index.html").read_text() and read_state(site)
    assert "not rendered" not in (site / "index.html").read_text()

    def no_front(*a, **k):
        raise RuntimeError("the front page itself")

    monkeypatch.setattr(site_mod, "front_page", no_front)
    with pytest.raises(RuntimeError, match="the front page itself"):  # the index's failure is the build's
        build_site(specs, site)


def test_incremental_pages_of_unchanged_stages_are_kept(site, project, tmp_path):
    from pipeline.dag.report import report_plan
    from pipeline.report import build_site

    specs = report_plan()
    dest = tmp_path / "copy"
    first = build_site(specs, dest)
    assert first.pages_written == len({r.folder for s in specs for r in s.stages}) and first.pages_kept == 0
    pages = {p: p.stat().st_mtime_ns for p in (dest / "stages").rglob("*") if p.is_file()}
    again = build_site(specs, dest)
    assert again.pages_written == 0 and again.pages_kept == first.pages_written
    assert {p: p.stat().st_mtime_ns for p in (dest / "stages").rglob("*") if p.is_file()} == pages
    # one spec dropped from the plan: its pages go, the others stay untouched
    kept = [s for s in specs if s.kind == "diachronic"]
    third = build_site(kept, dest)
    assert third.pages_written == 0
    assert third.pages_removed == len({r.folder for s in specs for r in s.stages}) - \
        len({r.folder for s in kept for r in s.stages}) > 0
    assert not (dest / "stages" / "aligned").exists() and (dest / "stages" / "cade-report").is_dir()


# --------------------------------------------------------------------------------------------- the browser


def test_front_page_leads_each_spec_with_its_key_results(tmp_path):
    """Each spec opens with the key results of its complete stages, read from their files (the recommended
    method's graded Spearman and CI, the retrieval MRR of every arm, the best set per headline score), text
    escaped; a stage whose files cannot be read says so there, the page is still written; the stages' table
    folds away only when every stage is complete."""
    import polars as pl

    from pipeline.report import SpecEntry, StageRef, build_site

    out = tmp_path / "outputs"
    gold = make_stage(out, "change-eval", "g-aaaaaaaaaaaa", {"evaluation.json": {
        "recommended": "procrustes/euclidean", "methods": {
            "procrustes/euclidean": {"graded_spearman": 0.61, "graded_spearman_ci": [0.31, 0.82],
                                     "binary_accuracy": 0.75},
            "cade/cosine": {"graded_spearman": 0.66}}}})
    transfer = make_stage(out, "transfer", "m-to-es-bbbbbbbbbbbb", {"metrics.json": {
        "retrieval_mrr-wechsel": 0.25, "retrieval_mrr-random_init": 0.01, "retrieval_mrr-english_model": 0.2,
        "retrieval_pairs": 1234}})
    broken = make_stage(out, "pretrain", "m-to-es-cccccccccccc", {"metrics.json": ["no", "object"]})
    static = out / "static-compare" / "en-dddddddddddd"
    static.mkdir(parents=True)
    pl.DataFrame({"set": ["fasttext", HOSTILE], "vocabulary": [9, 9],
                  "simlex999_spearman": [0.4, 0.45]}).write_parquet(static / "comparison.parquet")
    static = make_stage(out, "static-compare", "en-dddddddddddd", {"metrics.json": {"vocabulary_n": 9}})
    specs = [SpecEntry("diachronic", "g", stages=(StageRef("change-eval", gold, final=True),)),
             SpecEntry("transfer", "es", stages=(StageRef("transfer", transfer), StageRef("pretrain", broken),
                                                 StageRef("pretrain", out / "pretrain" / "not-built", final=True))),
             SpecEntry("static", "en", stages=(StageRef("static-compare", static, final=True),))]
    build_site(specs, tmp_path / "site")
    front = (tmp_path / "site" / "index.html").read_text()

    def results(spec):
        part = front[front.index(f'id="spec-{spec}"'):]
        part = part[part.index('<table class="results">'):part.index("</table>")]
        return [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", part)[1:]]

    g = results("diachronic-g")
    assert [r[1:] for r in g] == [
        ["graded Spearman, procrustes/euclidean (recommended), 95% CI", "0.610 [0.310, 0.820]"],
        ["binary accuracy, procrustes/euclidean", "0.750"], ["best graded Spearman", "cade/cosine 0.660"]]
    assert f'href="stages/change-eval/{gold.name}/index.html"' in g[0][0]
    t = results("transfer-es")
    assert [r[1:] for r in t] == [
        ["verse retrieval MRR, 1,234 pairs", "wechsel 0.250 · English model 0.200 · random init 0.010"],
        ["results", "could not be read (ValueError)"]]
    assert results("static-en")[0][1:] == ["best SimLex-999 Spearman", "&lt;script&gt; 0.450"]
    # every stage complete: the table folds away; a stage not built keeps it open
    assert "<details><summary>1 stage(s), 1 complete</summary>" in front
    assert "<details open><summary>3 stage(s), 2 complete</summary>" in front


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    for exe in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(exe).exists():
            pytest.skip(f"{exe} not installed (Debian packages chromium and chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1000", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def _wait(driver, script: str, timeout: float = 10.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _resolves(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return False  # nothing may be fetched from the web
    return Path(unquote(parsed.path)).exists()


def test_browser_pages_links_search_and_screenshots(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = Path(os.environ.get("CHRONOLINGUA_REPORT_SHOTS") or site.parent / "report-shots")
    shots.mkdir(parents=True, exist_ok=True)
    driver = _browser()
    try:
        report_page = _stage_page(site, "cade-report")
        pages = [p.as_uri() for p in sorted(site.rglob("*.html"))]
        pages += [f"{(report_page.parent / 'word.html').as_uri()}#{w}" for w in ("government", "%3Cscript%3E")]
        for url in pages:
            driver.get(url)
            if url.endswith("cade-report/" + report_page.parent.name + "/index.html"):
                _wait(driver, "return /rows; page/.test(document.getElementById('count').textContent)")
            if "word.html#" in url:
                _wait(driver, "return document.querySelector('#word-body h2') !== null")
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, (url, errors)
            links = driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href], img[src], script[src], link[href]'))"
                ".map(e => e.href || e.src)")
            assert links, url
            broken = [u for u in links if not _resolves(u.split("#", 1)[0].split("?", 1)[0])]
            assert not broken, (url, broken)
            if url.endswith("/report/index.html"):
                driver.save_screenshot(str(shots / "front.png"))

        # the search box of the change report finds a word and leads to its page
        driver.get(report_page.as_uri())
        box = driver.find_element(By.ID, "search")
        box.send_keys("governmen")
        _wait(driver, "return document.querySelectorAll('#search-results a').length > 0")
        hits = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#search-results a")]
        assert "government" in hits, hits
        driver.find_element(By.LINK_TEXT, "government").click()
        _wait(driver, "return document.querySelector('#word-body h2') !== null")
        assert driver.current_url.endswith("word.html#government")
        assert driver.find_element(By.ID, "word-title").text == "government"
        slices = [th.text for th in driver.find_elements(By.CSS_SELECTOR, ".slices th")]
        assert slices == ["lee_a", "lee_b"]  # neighbours in every slice, side by side
        assert driver.find_elements(By.CSS_SELECTOR, "img.plot")  # its trajectory plot
        driver.save_screenshot(str(shots / "word.png"))

        # the HTML word: found by the search, shown as text, and no script of its own ran
        driver.get(report_page.as_uri())
        n_scripts = driver.execute_script("return document.scripts.length")
        box = driver.find_element(By.ID, "search")
        box.send_keys(HOSTILE)
        _wait(driver, "return document.querySelectorAll('#search-results a').length > 0")
        assert driver.execute_script("return document.scripts.length") == n_scripts
        box.send_keys(Keys.ENTER)
        _wait(driver, "return document.querySelector('#word-body h2') !== null")
        assert driver.find_element(By.ID, "word-title").text == HOSTILE
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    for name in ("front.png", "word.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trajectory_labels_do_not_overlap():
    """The trajectory plot's labels, laid out by adjustText, (almost) never overlap."""
    import numpy as np

    from pipeline.diachronic import plots
    from pipeline.figures import pyplot

    plt = pyplot()
    rng = np.random.default_rng(0)
    pts = rng.normal(scale=0.08, size=(12, 2))  # a crowded cloud, as the neighbours of nearby slices are
    fig, ax = plt.subplots(figsize=(9, 7.5))
    ax.scatter(pts[:, 0], pts[:, 1])
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    texts = [ax.text(x, y, f"neighbour{i} (1790-1839)", fontsize=8) for i, (x, y) in enumerate(pts)]
    fig.canvas.draw()
    before = plots.label_overlaps(fig, texts)
    assert before > 15  # as drawn before: unreadable
    plots.place_labels(ax, texts, pts[:, 0], pts[:, 1])
    fig.canvas.draw()
    assert plots.label_overlaps(fig, texts) * 10 <= before  # adjustText is best-effort: at most a stray pair
    plt.close(fig)


def test_cli_report_writes_the_site_elsewhere_and_says_so(site, tmp_path, capsys):
    from pipeline.cli import main

    assert main(["report", "--to", str(tmp_path / "elsewhere")]) == 0
    out = capsys.readouterr().out
    index = tmp_path / "elsewhere" / "index.html"
    assert out.startswith(f"{index}: ") and "stage page(s) written" in out
    assert index.is_file() and (tmp_path / "elsewhere" / "stages" / "cade-report").is_dir()


def test_artifacts_page_lists_the_store_manifest(tmp_path, monkeypatch):
    from pipeline.artifacts import publish_file
    from pipeline.dag.report import store_info
    from pipeline.identity import file_sha256
    from pipeline.report import build_site

    vec = tmp_path / "toy.vec"
    vec.write_text("1 2\nword 0.5 1.0\n")
    store = tmp_path / "store"
    publish_file(store, vec, name="aligned.toy", version="abc123",
                 licences=[{"kind": "corpus", "name": "<i>kjv</i>", "licence": "Public domain"}])
    site = tmp_path / "site"
    monkeypatch.setenv("CHRONOLINGUA_STORE", str(store))
    build_site([], site, store=store_info(site))
    page = (site / "artifacts.html").read_text()
    assert ("<td>aligned.toy</td><td><code>abc123</code></td><td class=\"num\">17</td>"
            f"<td><code>{file_sha256(vec)}</code></td>") in page
    assert "&lt;i&gt;kjv&lt;/i&gt;: Public domain" in page  # a licence record is outside text: escaped
    assert '<a href="../store/manifest.json">manifest.json</a>' in page and (store / "manifest.json").is_file()
    monkeypatch.setenv("CHRONOLINGUA_STORE", str(tmp_path / "no-store"))
    build_site([], site, store=store_info(site))
    assert "the store&#x27;s manifest could not be read" in (site / "artifacts.html").read_text()
    # a store behind credentials: the page names it without them, also in the error of a store that fails
    hidden = {"url": "https://bob:hunter2@store.example/v?token=s3cr3t", "entries": None, "manifest": None,
              "error": "https://bob:hunter2@store.example/v/manifest.json?token=s3cr3t: HTTP 500"}
    build_site([], site, store=hidden)
    page = (site / "artifacts.html").read_text()
    assert "Store <code>https://***@store.example/v?token=***</code>" in page
    assert "https://***@store.example/v/manifest.json?token=***: HTTP 500" in page
    assert "hunter2" not in page and "s3cr3t" not in page


def test_clean_and_prune_leave_the_report_alone(site, project):
    import time

    from pipeline.maintenance import stale_temporaries, superseded_folders

    found = stale_temporaries(project / "outputs", now=time.time() + 10 * 24 * 3600)
    assert not [p for p, _ in found if "report" in p.relative_to(project / "outputs").parts[:1]], found
    assert not [p for p, _ in superseded_folders(project / "outputs", []) if p.parent.name == "report"]


def test_the_report_command_exits_1_naming_a_page_that_could_not_be_rendered(project, tmp_path, capsys,
                                                                            monkeypatch):
    """The site is written, but a build with a page that names an error is not a clean one: a script or a CI
    running `chronolingua report` must be able to tell."""
    from pipeline.cli import main
    from pipeline.report import stages

    def broken(*args):
        raise KeyError("n_pairs")

    monkeypatch.setitem(stages.RENDERERS, "aligned", broken)
    to = tmp_path / "site"
    assert main(["report", "--to", str(to)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf"error: {re.escape(str(to / 'index.html'))}: 1 stage page\(s\) could not be rendered "
                        rf"\(\S+/aligned/de-[\w-]+: KeyError: 'n_pairs'\); the rest of the site is written and those "
                        r"pages name the error", err), err
    assert len(list((to / "stages" / "cade-report").glob("*/index.html"))) == 1
    monkeypatch.undo()
    assert main(["report", "--to", str(to)]) == 0
