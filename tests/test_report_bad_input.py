"""The run report over stage folders whose files are well-formed but hostile or odd in content.

The output root may be shared by several machines, so a complete stage's files are outside input to the
report: a value of the wrong kind is shown as missing and the site is still built, a file name never turns
into a link outside the stage folder.
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from reportutil import make_stage

MISSING = '<span class="missing">missing</span>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def _build(tmp_path: Path, stage: str, folder: Path) -> tuple[str, str]:
    """Build the site of one stage; its page and the front page."""
    from pipeline.report import SpecEntry, StageRef, build_site

    site = tmp_path / "site"
    res = build_site([SpecEntry("k", "s", stages=(StageRef(stage, folder, final=True),))], site)
    assert res.stages == {str(folder): "complete"} and res.pages_written == 1
    return ((site / "stages" / stage / folder.name / "index.html").read_text(),
            (site / "index.html").read_text())


def _change(**columns):
    import polars as pl

    d = {"word": ["alpha", "beta"], "slice_a": ["x", "x"], "slice_b": ["y", "y"], "seed": [1, 1],
         "freq_a": [3, 4], "freq_b": [5, 6], "cosine_distance": [0.25, 0.5]}
    d.update(columns)
    return pl.DataFrame({k: v for k, v in d.items() if v is not None})


def _diachronic(tmp_path: Path, change=None, raw: bytes | None = None, top=None, prov=None) -> Path:
    folder = tmp_path / "outputs" / "cade-report" / "toy-aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    if raw is not None:
        (folder / "change.parquet").write_bytes(raw)
    elif change is not None:
        change.write_parquet(folder / "change.parquet")
    if top is not None:
        top.write_parquet(folder / "top_changed.parquet")
    return make_stage(tmp_path / "outputs", "cade-report", folder.name, {
        "metrics.json": {"n_words": 2}, "provenance.json": prov or {"created": "2026-01-01T00:00:00+00:00"}})


def test_provenance_not_an_object_or_created_not_a_date_is_missing(tmp_path):
    """provenance.json as a list (or its settings as a list) gave an AttributeError; a 'created' that is no
    date was printed as whatever it held."""
    from pipeline.identity import write_json
    from pipeline.integrity import write_marker

    aligned = make_stage(tmp_path / "outputs", "aligned", "xx-to-en-aaaaaaaaaaaa", {
        "metrics.json": {"dictionary_pairs": 7}, "provenance.json": ["<b>not</b>", "an object"]})
    page, _ = _build(tmp_path, "aligned", aligned)
    assert f"built {MISSING};" in page and re.search(r'<div class="v">7</div><div class="k">pairs<', page)

    folder = _diachronic(tmp_path, _change(), prov={"created": {"<b>": 1}, "settings": ["report"]})
    page, _ = _build(tmp_path, "cade-report", folder)
    assert f"built {MISSING};" in page and "&lt;b&gt;" not in page.split("<details>", 1)[0]
    assert "ranked by <code>cosine_distance</code>" in page  # the default ranking, as the stage's own
    write_json(folder / "provenance.json", {"settings": {"report": "top"}})
    write_marker(folder, {"stage_id": "cade-report/x", "created": "yesterday <i>at noon</i>"})
    page, front = _build(tmp_path, "cade-report", folder)
    assert "ranked by <code>cosine_distance</code>" in page
    stages = front[front.index("<details"):]  # the stages' table, below the results
    row = stages[stages.index("toy-aaaaaaaaaaaa"):].split("</tr>", 1)[0]
    assert MISSING in row and "yesterday" not in front


@pytest.mark.parametrize("case, why", [
    ("no word column", "no text column word"),
    ("slices as numbers", "no text column slice_a, slice_b"),
    ("no rows", "no rows"),
    ("not parquet", "not readable as Parquet"),
])
def test_change_table_that_cannot_be_shown_is_missing_and_the_site_is_built(tmp_path, case, why):
    """A change.parquet without words or slices as text, without rows, or not Parquet at all stopped the whole
    report with a polars error or an IndexError; now the page says the table is missing and why."""
    change = {"no word column": _change(word=None), "slices as numbers": _change(slice_a=[1, 1], slice_b=[2, 2]),
              "no rows": _change().head(0), "not parquet": None}[case]
    folder = _diachronic(tmp_path, change, raw=b"PAR1 cut off" if change is None else None)
    page, _ = _build(tmp_path, "cade-report", folder)
    assert f"<p>change.parquet: {MISSING} ({why}" in page
    assert not (tmp_path / "site" / "stages" / "cade-report" / folder.name / "data").exists()


def test_change_columns_of_the_wrong_kind_are_missing_not_converted(tmp_path):
    """A measure stored as text and stopword flags as text crashed the cast; a top_changed.parquet whose words
    are numbers crashed the link. The table is kept, the column is missing, the top list says it is missing."""
    import json

    folder = _diachronic(tmp_path, _change(cosine_distance=["0.25", "<b>high</b>"], stopword=["no", "yes"],
                                           local_neighbourhood_distance=[0.125, 0.75], euclidean_distance=[0.5, 1.5]),
                         top=_change(word=[1, 2]))
    page, _ = _build(tmp_path, "cade-report", folder)
    assert "change.parquet has no numeric cosine column: missing" in page
    assert f"top_changed.parquet: {MISSING} (no text column word, slice_a or slice_b)" in page
    meta = (tmp_path / "site" / "stages" / "cade-report" / folder.name / "data" / "meta.js").read_text()
    meta = json.loads(re.fullmatch(r"CL\.meta\((.*)\);\n", meta).group(1))
    assert meta["values"] == ["local_neighbourhood_distance", "euclidean_distance"] and meta["rows"] == 2


def test_static_comparison_with_infinite_values_is_built(tmp_path):
    """A float column holding an infinity (or 1e308) was cast to integers, and polars refused: a traceback."""
    import polars as pl

    folder = tmp_path / "outputs" / "static-compare" / "en-aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    pl.DataFrame({"set": ["fasttext", "<b>x</b>"], "simlex999_spearman": [0.5, 0.25],
                  "vocabulary": [float("inf"), 12.0], "simlex999_spearman_sd": [float("nan"), 1e308]}
                 ).write_parquet(folder / "comparison.parquet")
    folder = make_stage(tmp_path / "outputs", "static-compare", folder.name, {"metrics.json": {"n_words": 9}})
    page, _ = _build(tmp_path, "static-compare", folder)
    every = page[page.index("every column"):]
    assert f"<td>fasttext</td><td class=\"num\">0.5000</td><td class=\"num\">{MISSING}</td>" in every
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td><td class=\"num\">0.2500</td><td class=\"num\">12.0000</td>" in every


def test_metric_values_huge_infinite_or_a_list_where_a_number_belongs(tmp_path):
    """1e308 was written out as 309 digits (most of them noise), an infinity as "inf", and a list or a mapping
    in a figure card as if it were the figure."""
    folder = tmp_path / "outputs" / "aligned" / "xx-to-en-aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text('{"dictionary_coverage": 1e308, "source_vocab": Infinity, '
                                         '"dictionary_pairs": [1, 2], "dictionary_pairs_kept": {"a": 3}, '
                                         '"dictionary_train_pairs": 12345}')
    folder = make_stage(tmp_path / "outputs", "aligned", folder.name, {"provenance.json": {}})
    page, _ = _build(tmp_path, "aligned", folder)
    card = dict((k, v) for v, k in re.findall(r'<div class="v">(.*?)</div><div class="k">(.*?)</div>', page))
    assert card == {"pairs": MISSING, "pairs kept": MISSING, "coverage": "1.0000e+308", "train pairs": "12,345",
                    "test pairs": MISSING}
    assert f'<td><code>source_vocab</code></td><td class="num">{MISSING}</td>' in page
    assert "000,000" not in page and ">inf<" not in page


def test_figure_links_stay_in_the_stage_folder_and_a_broken_plot_is_missing(tmp_path):
    """A figure's file name went into ``src`` unencoded: ``a#b.png`` linked to ``a``, and a name holding
    ``..%2F`` decoded to a path outside the stage folder. Hidden files (a link to /etc/passwd, a PNG the marker
    does not cover) were shown, and an empty PNG made a broken image."""
    from pipeline.report import SpecEntry, StageRef, build_site

    odd = ["x%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd.png", "a#b?c.png", "plots/sch\u00f6n \"'<x>.png"]
    folder = make_stage(tmp_path / "outputs", "corpus", "lee-aaaaaaaaaaaa",
                    {**{name: PNG for name in odd}, "plots/empty.png": b"", "metrics.json": {}})
    os.symlink("/etc/passwd", folder / ".passwd.png")
    (folder / ".unlisted.png").write_bytes(PNG)  # hidden: no file of the stage, never checked against the marker
    pretrain = make_stage(tmp_path / "outputs", "pretrain", "m-aaaaaaaaaaaa", {"loss.png": b"", "metrics.json": {}})
    site = tmp_path / "site"
    res = build_site([SpecEntry("k", "s", stages=(StageRef("corpus", folder), StageRef("pretrain", pretrain)))],
                     site)
    assert set(res.stages.values()) == {"complete"}
    page_dir = site / "stages" / "corpus" / folder.name
    page = (page_dir / "index.html").read_text()
    srcs = [unquote(html.unescape(s)) for s in re.findall(r'<img class="plot" src="([^"]*)"', page)]
    shown = sorted(Path(os.path.normpath(page_dir / s)) for s in srcs)
    assert shown == sorted(folder / name for name in odd)  # each names its own file, inside the folder
    assert ".passwd.png" not in page and ".unlisted.png" not in page
    assert f"plots/empty.png: {MISSING} (not a PNG image)" in page
    assert f"loss.png: {MISSING} (not a PNG image)" in (site / "stages" / "pretrain" / pretrain.name /
                                                         "index.html").read_text()


def test_language_codes_of_an_aligned_stage_never_name_files_outside_it(tmp_path):
    """source_lang / pivot_lang of metrics.json make the file names of the translation sample: a path there read
    (and showed) a dictionary and vectors from outside the stage folder."""
    import numpy as np

    from pipeline.vectors import make_keyed_vectors, save_vectors

    folder = tmp_path / "outputs" / "aligned" / "xx-to-en-aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    src = "../../../secret/x"  # x.npy: <tmp>/secret/x.npy
    (folder / "dictionary...").mkdir()  # an empty folder (no file for the marker to list) the dictionary path enters
    dictionary = folder / f"dictionary.{src}-y.test.txt"  # <tmp>/outputs/secret/x-y.test.txt
    dictionary.parent.mkdir(parents=True)
    dictionary.write_text("secretword geheim\n")
    (tmp_path / "secret").mkdir()
    save_vectors(make_keyed_vectors(["secretword"], np.ones((1, 2), dtype=np.float32)), folder / src)
    save_vectors(make_keyed_vectors(["geheim"], np.ones((1, 2), dtype=np.float32)), folder / "y")
    assert (folder / f"{src}.npy").resolve().parent == (tmp_path / "secret").resolve()  # the premise: outside
    folder = make_stage(tmp_path / "outputs", "aligned", folder.name, {
        "metrics.json": {"source_lang": src, "pivot_lang": "y", "dictionary_pairs": 1}, "provenance.json": {}})
    page, _ = _build(tmp_path, "aligned", folder)
    assert "secretword" not in page
    assert f"source_lang / pivot_lang of metrics.json: {MISSING} (not language codes)" in page
