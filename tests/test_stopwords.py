"""The change report's stopword filter: a top list of content words, in the order of the full ranking, while
change.parquet keeps every word; a word list that cannot be read is refused by name, before anything is written."""
from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from pipeline.diachronic import stages
from pipeline.diachronic.change import change_table, top_changed
from pipeline.diachronic.settings import ReportSettings
from pipeline.errors import InputError, SpecError

STOP = ["about", "just", "having", "like", "been", "which", "same", "your"]  # the eight
CONTENT_MOVED = ["war", "union", "energy", "welfare"]
STABLE = [f"word{i}" for i in range(60)]
WORDS = STOP + CONTENT_MOVED + ["1790"] + STABLE


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    """Two slices in one space: the stopwords, four content words and a number move, everything else stays."""
    from pipeline.vectors import make_keyed_vectors, save_vectors

    rng = np.random.default_rng(7)
    a = rng.normal(size=(len(WORDS), 16)).astype(np.float32)
    b = a + 0.01 * rng.normal(size=a.shape).astype(np.float32)
    moved = len(STOP) + len(CONTENT_MOVED) + 1
    b[:moved] = rng.normal(size=(moved, 16))
    root = tmp_path_factory.mktemp("stopword-slices")
    folders = {}
    for name, m in (("1790-1839", a), ("1990-2039", b)):
        folders[name] = root / name
        folders[name].mkdir()
        save_vectors(make_keyed_vectors(WORDS, m, [100] * len(WORDS)), folders[name] / "vectors")
    return {1: folders, 2: folders}


# ranked by cosine distance: in one space, a moved word is far from itself and a kept one is not
RANKED = dict(min_freq=5, top_n=6, k_neighbours=5, rank_by="cosine_distance")


@pytest.fixture(scope="module")
def reports(slices, tmp_path_factory):
    """Report folders of the same slices: unfiltered, English stopwords, and auto with and without a language."""
    root = tmp_path_factory.mktemp("stopword-reports")
    runs = {"raw": ({"stopwords": "none"}, None), "en": ({"stopwords": "en"}, None), "auto-en": ({}, "en"),
            "auto-unknown": ({}, None)}
    for name, (changes, language) in runs.items():
        (root / name).mkdir()
        stages.build_report(ReportSettings(**RANKED, seeds=(1, 2), plot_words=2, **changes), slices, root / name,
                            language=language)
    return {name: root / name for name in runs}


def test_the_filtered_top_list_holds_content_words_in_ranking_order(reports):
    out = reports["en"]
    raw = pl.read_csv(reports["raw"] / "top_changed.csv")["word"].to_list()
    assert set(raw) <= set(STOP + CONTENT_MOVED + ["1790"]) and set(raw) & set(STOP)  # unfiltered: stopwords on top
    top = pl.read_csv(out / "top_changed.csv")
    assert top["rank"].to_list() == list(range(1, 7))
    words = top["word"].to_list()
    assert not set(words) & set(STOP) and "1790" not in words
    # the order is the full ranking's, stopwords and numbers taken out
    ranking = (pl.read_parquet(out / "change.parquet").filter(pl.col("seed") == 1)
               .sort("cosine_distance", descending=True)["word"].to_list())
    assert words == [w for w in ranking if w not in STOP and w != "1790"][:6]
    assert set(words[:4]) == set(CONTENT_MOVED)
    # the words plotted and listed with neighbours, and the stability list, are content words too
    assert not set(pl.read_parquet(out / "neighbours.parquet")["word"].to_list()) & set(STOP)
    assert not set(pl.read_parquet(out / "stability.parquet")["word"].to_list()) & set(STOP)


def test_the_raw_table_is_unchanged(slices, reports):
    raw = pl.read_parquet(reports["raw"] / "change.parquet")
    filtered = pl.read_parquet(reports["en"] / "change.parquet")
    assert filtered.drop("stopword").equals(raw.drop("stopword"))
    assert filtered.height == 2 * len(WORDS)  # every word, both seeds
    marked = set(filtered.filter(pl.col("stopword"))["word"].to_list())
    assert marked == set(STOP) | {"1790"}
    assert not raw["stopword"].any()
    # and the library's table is the parquet's, less the marks
    from pipeline.vectors import load_vectors

    vectors = {n: load_vectors(f / "vectors.npy") for n, f in slices[1].items()}
    assert change_table(vectors, min_freq=5, k=5).equals(
        filtered.filter(pl.col("seed") == 1).drop(["stopword", "seed"]))


def test_auto_takes_the_corpora_language(reports):
    auto = pl.read_csv(reports["auto-en"] / "top_changed.csv")
    assert auto.equals(pl.read_csv(reports["en"] / "top_changed.csv"))
    unknown = pl.read_csv(reports["auto-unknown"] / "top_changed.csv")
    assert set(unknown["word"].to_list()) & set(STOP)  # no language given: nothing is left out


def test_a_word_list_file(slices, tmp_path):
    words = tmp_path / "lists" / "sotu_stop.txt"
    words.parent.mkdir()
    words.write_text("# the issue's eight, and two content words\n" + "\n".join(STOP) + "\n\nWar\n  union \n",
                     encoding="utf-8")
    settings = ReportSettings(stopwords="lists/sotu_stop.txt")
    assert stages.report_stopwords(settings, root=tmp_path) == frozenset(STOP + ["war", "union"])
    out = tmp_path / "out"
    out.mkdir()
    stages.build_report(ReportSettings(**RANKED, stopwords=str(words)), slices, out)
    top = pl.read_csv(out / "top_changed.csv")["word"].to_list()
    assert not set(top) & set(STOP + ["war", "union", "1790"]) and {"energy", "welfare"} <= set(top)


def test_a_bad_word_list_is_refused_by_name_before_anything_is_written(slices, tmp_path):
    missing = tmp_path / "no-such-list.txt"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=re.escape(str(missing)) + r": expected a stopword list for "
                                         r"report\.stopwords .*; no such file"):
        stages.build_report(ReportSettings(stopwords=str(missing)), slices, out)
    assert list(out.iterdir()) == []
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing but a comment\n\n")
    with pytest.raises(InputError, match=re.escape(str(empty)) + r": .*no words in it"):
        stages.report_stopwords(ReportSettings(stopwords=str(empty)))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("über\n".encode("latin-1"))
    with pytest.raises(InputError, match=re.escape(str(latin1)) + r": .*invalid UTF-8 at byte 0 \(line 1, column 1\): bytes fc"):
        stages.report_stopwords(ReportSettings(stopwords=str(latin1)))
    # relative to the root given, named as found there
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "lists" / "x.txt")) + ".*no such file"):
        stages.report_stopwords(ReportSettings(stopwords="lists/x.txt"), root=tmp_path)


def test_a_language_without_a_list_and_a_bad_code(tmp_path):
    with pytest.raises(InputError, match=r"a language with a stopword list for report\.stopwords \(af, .*en, .*\)"
                                         r".*found 'ab'"):
        stages.report_stopwords(ReportSettings(stopwords="ab"))  # Abkhazian: a language, no list
    from pipeline.diachronic.spec import load_diachronic_spec

    spec = tmp_path / "s.yaml"
    spec.write_text("corpora: [a, b]\nslicing: {by: corpus}\nreport: {stopwords: eng}\n")
    with pytest.raises(SpecError, match=r"s\.yaml: .*report\.stopwords .*not 'eng' \(did you mean 'en'\?\)"):
        load_diachronic_spec(spec)


def test_top_changed_filter_on_its_own():
    table = pl.DataFrame({"word": ["The", "war", "1790", "been", "peace", "§", "x", "o'er"], "slice_a": "a",
                          "slice_b": "b", "cosine_distance": [0.9, 0.8, 0.75, 0.7, 0.6, 0.55, 0.5, 0.4]})
    assert top_changed(table, n=3)["word"].to_list() == ["The", "war", "1790"]
    assert top_changed(table, n=3, stopwords={"the", "been"})["word"].to_list() == ["war", "1790", "peace"]
    # one letter is enough to be a word (x, o'er); none (a number, a sign) is not
    top = top_changed(table, n=4, stopwords={"the", "been"}, min_letters=1)
    assert top["word"].to_list() == ["war", "peace", "x", "o'er"] and top["rank"].to_list() == [1, 2, 3, 4]


def test_the_demo_specs_defaults():
    from pathlib import Path

    from pipeline.diachronic.spec import load_diachronic_spec

    tasks = Path(__file__).parents[1] / "tasks" / "diachronic"
    sotu = load_diachronic_spec(tasks / "sotu.yaml")
    assert sotu.report.stopwords == "en" and set(STOP) <= stages.report_stopwords(sotu.report)
    assert load_diachronic_spec(tasks / "kjv_web.yaml").report.stopwords == "none"
    assert ReportSettings().stopwords == "auto"
