"""The diachronic package without luigi: the token-file reader's rules, the Procrustes baseline, the synthetic
change generator and the stage functions (settings + inputs + folder -> metrics) on tiny real text."""
from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gensim.test.utils import datapath

from pipeline.corpora import ConcatCorpus, LineCorpus
from pipeline.diachronic import (CadeSettings, ProcrustesSettings, align_to_reference, choose_pairs,
                                 inject_change, insert_pseudowords, reference_slice, swap_preserving_frequency,
                                 train_compass, train_independent_slice, train_procrustes, train_slice)
from pipeline.diachronic import stages
from pipeline.diachronic.spec import DiachronicSpec, ReportSpec, load_diachronic_spec
from pipeline.errors import InputError, SpecError

LEE = Path(datapath("lee_background.cor"))
SMALL = CadeSettings(vector_size=16, window=3, negative=5, min_count=3, compass_epochs=2, slice_epochs=2, threads=1,
                     seed=3)


@pytest.fixture(scope="module")
def lee_lines():
    return LEE.read_text(encoding="utf-8").splitlines()


# --------------------------------------------------------------------------------------------- the one reader


class _EmptySentencesKept:
    """The rule of the token reader CADE had before (``cade/train.py`` TokenCorpus): lines split on single
    spaces, and an empty (or only-space) line given as an empty sentence instead of skipped."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        with open(self.path, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                yield [t for t in line.rstrip("\r\n").split(" ") if t]


def test_skipping_empty_lines_leaves_cade_bit_identical(tmp_path, lee_lines):
    """LineCorpus skips lines without tokens (gensim's LineSentence rule, the reference CADE's reader); the reader
    CADE used gave them as empty sentences. With one thread, compass and slices come out bit for bit the same:
    an empty sentence trains nothing and takes no random draw (gensim's job packing, the kernel's chunks)."""
    text = []
    for i, line in enumerate(lee_lines):
        text.append(line + ("  " if i % 13 == 0 else ""))
        if i % 7 == 0:
            text.append("")
        if i % 11 == 0:
            text.append("   ")
    half = len(text) // 2
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(text[:half]) + "\n\n", encoding="utf-8")
    b.write_text("\n".join(text[half:]) + "\n", encoding="utf-8")
    assert any(s == [] for s in _EmptySentencesKept(a)) and all(LineCorpus(a))

    old = train_compass(ConcatCorpus([_EmptySentencesKept(a), _EmptySentencesKept(b)]), SMALL)
    new = train_compass(ConcatCorpus([LineCorpus(a), LineCorpus(b)]), SMALL)
    assert old.corpus_count > new.corpus_count  # the empty sentences were seen, and now are not
    assert old.wv.index_to_key == new.wv.index_to_key
    assert old.wv.vectors.tobytes() == new.wv.vectors.tobytes()
    assert old.syn1neg.tobytes() == new.syn1neg.tobytes()
    for path in (a, b):
        for mode in ("hidden", "both"):
            s = dataclasses.replace(SMALL, init_mode=mode)
            x = train_slice(old, _EmptySentencesKept(path), s, tmp_dir=tmp_path)
            y = train_slice(new, LineCorpus(path), s, tmp_dir=tmp_path)
            assert x.wv.index_to_key == y.wv.index_to_key
            assert x.wv.vectors.tobytes() == y.wv.vectors.tobytes()
            assert x.stats["effective_words"] == y.stats["effective_words"]


# --------------------------------------------------------------------------------------------- Procrustes baseline


def test_procrustes_maps_a_rotated_space_back(lee_lines):
    """A slice's word2vec, rotated and slightly perturbed, is another space of the same text: mapped onto the
    reference, every word finds itself as its nearest cross-slice neighbour (before, almost none does)."""
    from pipeline.vectors import make_keyed_vectors

    sents = [line.split() for line in lee_lines]
    kv_a = train_independent_slice(sents, ProcrustesSettings(vector_size=24, min_count=5, epochs=2), name="a")
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    noisy = kv_a.vectors @ Q + rng.normal(scale=0.01 * np.abs(kv_a.vectors).mean(), size=kv_a.vectors.shape)
    kv_b = make_keyed_vectors(kv_a.index_to_key, noisy.astype(np.float32), kv_a.expandos["count"])

    def self_match(x, y):
        xu = x.vectors / np.linalg.norm(x.vectors, axis=1, keepdims=True)
        yu = y.vectors / np.linalg.norm(y.vectors, axis=1, keepdims=True)
        return float(((xu @ yu.T).argmax(axis=1) == np.arange(len(x))).mean())

    aligned = align_to_reference({"a": kv_a, "b": kv_b}, "first")
    assert aligned["a"] is kv_a  # the reference keeps its vectors
    assert self_match(kv_b, kv_a) < 0.05 and self_match(aligned["b"], kv_a) > 0.95
    assert np.array_equal(aligned["b"].expandos["count"], kv_b.expandos["count"])


def test_procrustes_settings_reference_and_architecture(lee_lines):
    s = ProcrustesSettings.matching(CadeSettings(slice_epochs=3, slice_alpha=0.01, compass_epochs=9, seed=4),
                                    architecture="sgns")
    assert (s.epochs, s.alpha, s.seed, s.architecture) == (3, 0.01, 4, "sgns")
    with pytest.raises(ValueError, match="architecture"):
        ProcrustesSettings(architecture="skipgram")
    assert reference_slice(["x", "y", "z"], "first") == "x" and reference_slice(["x", "y", "z"], "y") == "y"
    with pytest.raises(InputError, match="reference slice named 'w'.*slices: x, y"):
        reference_slice(["x", "y"], "w")
    sents = [line.split() for line in lee_lines]
    small = ProcrustesSettings(vector_size=8, min_count=5, epochs=1, reference="last")
    cbow = train_procrustes({"a": sents[:150], "b": sents[150:]}, small)
    sgns = train_procrustes({"a": sents[:150], "b": sents[150:]}, dataclasses.replace(small, architecture="sgns"))
    assert not np.allclose(cbow["b"].vectors, sgns["b"].vectors)
    # the last slice is the reference: kept as trained; the first is mapped (unit rows) onto it
    assert np.allclose(np.linalg.norm(cbow["a"].vectors, axis=1), 1, atol=1e-5)
    assert not np.allclose(np.linalg.norm(cbow["b"].vectors, axis=1), 1, atol=1e-2)
    with pytest.raises(InputError, match="slice 'tiny'.*slice too small for min_count=5"):
        train_independent_slice([["a", "b"]] * 3, small, name="tiny")


def test_a_slice_sharing_no_word_with_the_reference_is_refused_naming_both_files(tmp_path):
    """Was alignment's "at least one anchor word present in both vector sets; none shared", naming no file."""
    from pipeline.vectors import make_keyed_vectors, save_vectors

    rng = np.random.default_rng(0)
    for name, words in (("ref", ["war", "peace", "union"]), ("other", ["krieg", "frieden"])):
        (tmp_path / name).mkdir()
        save_vectors(make_keyed_vectors(words, rng.normal(size=(len(words), 4)), [5] * len(words)),
                     tmp_path / name / "vectors")
    out = _folder(tmp_path, "out")
    inputs = {"slice": tmp_path / "other", "reference": tmp_path / "ref"}
    with pytest.raises(InputError, match=re.escape(
            f"{tmp_path / 'other' / 'vectors.npy'}, {tmp_path / 'ref' / 'vectors.npy'}: expected words slice 'other' "
            "shares with the reference slice 'ref'") + ".*none of its 2 words is in the reference's 3"):
        stages.build_procrustes_slice(inputs, out, slice_name="other", reference="ref")
    assert not list(out.iterdir())


# --------------------------------------------------------------------------------------------- synthetic change


def test_insert_replaces_donor_tokens_at_the_rate(lee_lines):
    sents = [line.split() for line in lee_lines]
    counts = Counter(w for s in sents for w in s)
    pairs = {"government": "zzz-target"}
    assert insert_pseudowords(sents, pairs, 1.0, random.Random(0)) == [
        ["zzz-target" if w == "government" else w for w in s] for s in sents]
    assert insert_pseudowords(sents, pairs, 0.0, random.Random(0)) == sents
    half = Counter(w for s in insert_pseudowords(sents, pairs, 0.5, random.Random(0)) for w in s)
    assert half["zzz-target"] + half["government"] == counts["government"]
    assert 0.3 < half["zzz-target"] / counts["government"] < 0.7


def test_swap_keeps_every_frequency_and_moves_contexts(lee_lines):
    sents = [line.split() for line in lee_lines]
    counts = Counter(w for s in sents for w in s)
    donor, target = "police", "fire"
    out = swap_preserving_frequency(sents, {donor: target}, 0.5, random.Random(3))
    assert Counter(w for s in out for w in s) == counts
    k = round(0.5 * counts[target])
    moved = [(i, j) for i, (s0, s1) in enumerate(zip(sents, out)) for j, (x, y) in enumerate(zip(s0, s1)) if x != y]
    assert len(moved) == 2 * k  # k target tokens became the donor, k donor tokens the target
    assert {(sents[i][j], out[i][j]) for i, j in moved} == {(donor, target), (target, donor)}
    with pytest.raises(ValueError, match="fewer than"):
        swap_preserving_frequency(sents, {"zzz-absent": target}, 0.5, random.Random(3))
    assert inject_change(sents, {donor: target}, 0.5, "swap", 3) == out
    with pytest.raises(ValueError, match="design must be one of insert, swap"):
        inject_change(sents, {donor: target}, 0.5, "shuffle")


def test_choose_pairs_draws_from_the_bands():
    ca = Counter({"alpha": 50, "betas": 60, "gamma": 500, "delta": 800, "ep": 70, "zeta1": 60, "omega": 45})
    cb = Counter({"alpha": 55, "betas": 41, "gamma": 700, "delta": 300, "ep": 70, "zeta1": 60, "omega": 10})
    pairs = choose_pairs(ca, cb, 2, random.Random(0))
    assert set(pairs.values()) == {"alpha", "betas"}  # ep is too short, zeta1 not alphabetic, omega too rare in b
    assert set(pairs) == {"gamma", "delta"}
    assert pairs == choose_pairs(ca, cb, 2, random.Random(0))
    with pytest.raises(ValueError, match="3 target words seen 40 to 200 times in each slice; found 2"):
        choose_pairs(ca, cb, 3, random.Random(0))


# --------------------------------------------------------------------------------------------- stage functions


def _corpus(root: Path, name: str, lines: list[str], language: str = "en") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: {language}\nlicence: test\nsource: gensim lee\n"
                                   "files: '*.txt'\n")
    (d / "part1.txt").write_text("\n".join(lines) + "\n")
    return d


SPEC = """\
corpora: [lee_a, lee_b]
slicing: {by: corpus}
cade: {vector_size: 16, window: 3, negative: 5, min_count: 3, compass_epochs: 1, slice_epochs: 1}
procrustes: {vector_size: 16, window: 3, negative: 5, min_count: 3, epochs: 1}
report: {min_freq: 3, top_n: 8, seeds: [1, 2], words: [government, zzz-nowhere], plot_words: 2, k_neighbours: 6,
         neighbours: 4}
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, lee_lines):
    root = tmp_path_factory.mktemp("stages")
    spec_path = root / "toy.yaml"
    spec_path.write_text(SPEC)
    spec = load_diachronic_spec(spec_path)
    dirs = {"lee_a": _corpus(root / "corpora", "lee_a", lee_lines[:150]),
            "lee_b": _corpus(root / "corpora", "lee_b", lee_lines[150:])}
    out = root / "corpus"
    out.mkdir()
    metrics = stages.build_prepared_corpus(spec, dirs, out)
    return root, spec, out, metrics


def _folder(root: Path, name: str) -> Path:
    p = root / name
    p.mkdir()
    return p


def test_prepared_corpus_stage(prepared):
    root, spec, out, metrics = prepared
    assert list(stages.slice_files(out)) == ["lee_a", "lee_b"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["n_slices"] == 2 and metrics["tokens_lee_a"] + metrics["tokens_lee_b"] == metrics["tokens_total"]
    for name in ("slice_stats.parquet", "vocabulary_overlap.parquet", "slice_stats.png", "slices/lee_a.txt"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.parametrize("section, fragment", [
    # k_neighbours 0 used to pass the spec and fail in change_table (a bare ValueError) after every slice trained
    ("report: {k_neighbours: 0}", "k_neighbours must be a positive integer, not 0"),
    # top_n 0 or less gave an empty top list and stability table without a word
    ("report: {top_n: -3}", "top_n must be a positive integer, not -3"),
    ("report: {min_freq: -1}", "min_freq must be an integer >= 0, not -1"),
    ("report: {plot_words: -2}", "plot_words must be an integer >= 0, not -2"),
    # an end before the start left every document outside the periods ("found slices []")
    ("slicing: {by: period, width: 10, start: 1900, end: 1800}", "Slicing.end after Slicing.start"),
])
def test_the_spec_refuses_sizes_that_would_fail_or_empty_the_report(tmp_path, section, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(f"corpora: [lee_a, lee_b]\n{section}\n")
    with pytest.raises(SpecError, match=re.escape(f"{path}: expected {fragment}")):
        load_diachronic_spec(path)
    ok = tmp_path / "ok.yaml"  # the bounds themselves are fine: 0 is every shared word / no plotted word
    ok.write_text("corpora: [lee_a, lee_b]\nslicing: {by: corpus}\n"
                  "report: {min_freq: 0, plot_words: 0, top_n: 1, k_neighbours: 1}\n")
    assert load_diachronic_spec(ok).report.min_freq == 0


def test_prepared_corpus_refuses_two_languages(tmp_path, lee_lines):
    dirs = {"en1": _corpus(tmp_path, "en1", lee_lines[:20]), "de1": _corpus(tmp_path, "de1", lee_lines[20:40], "de")}
    spec = DiachronicSpec(corpora=("en1", "de1"))
    with pytest.raises(InputError, match=r"en1/corpus\.yaml.*corpora of one language.*en1: en, de1: de"):
        stages.build_prepared_corpus(spec, dirs, _folder(tmp_path, "out"))


def test_report_pairs_naming_no_corpus_are_refused_when_the_spec_loads(tmp_path):
    """report.pairs naming no slice was refused by change_table after every slice was trained, naming neither
    the spec nor the key; slicing by corpus, the slices are the corpora, known when the spec loads."""
    path = tmp_path / "pairs.yaml"
    path.write_text("corpora: [lee_a, lee_b]\nslicing: {by: corpus}\nreport: {pairs: [[lee_a, lee_c]]}\n")
    with pytest.raises(SpecError, match=re.escape(f"{path}: expected report.pairs: pairs of the slices, which "
                                                  "slicing by corpus names after the corpora (lee_a, lee_b); pair "
                                                  "lee_a, lee_c names 'lee_c', no slice")):
        load_diachronic_spec(path)
    path.write_text("corpora: [lee_a, lee_b]\nslicing: {by: corpus}\nreport: {pairs: [[lee_b, lee_a]]}\n")
    assert load_diachronic_spec(path).report.pairs == (("lee_b", "lee_a"),)


def _dated_corpus(root: Path, name: str, lines: list[str], years: list[int]) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: en\nlicence: test\nsource: gensim lee\n"
                                   "files: '*.txt'\ndate:\n  from: filename\n  pattern: '^(\\d{4})'\n")
    for i, year in enumerate(years):
        (d / f"{year}-{i}.txt").write_text("\n".join(lines[i::len(years)]) + "\n")
    return d


def test_report_pairs_naming_no_period_are_refused_before_the_prepared_corpus_is_kept(tmp_path, lee_lines):
    """Slicing by period, the slices are the periods the documents fall in: known once the corpus is prepared,
    before any slice is trained."""
    corpus = _dated_corpus(tmp_path / "corpora", "dated", lee_lines[:60], [1800, 1810, 1850])
    path = tmp_path / "periods.yaml"
    path.write_text("corpora: [dated]\nslicing: {by: period, width: 50}\n"
                    "report: {pairs: [[1800-1849, 1900-1949]]}\n")
    out = _folder(tmp_path, "out")
    with pytest.raises(SpecError, match=re.escape(f"{path}: expected report.pairs: pairs of the slices the prepared "
                                                  "corpus has (1800-1849, 1850-1899); pair 1800-1849, 1900-1949 "
                                                  "names '1900-1949', no slice")):
        stages.build_prepared_corpus(load_diachronic_spec(path), {"dated": corpus}, out)
    assert not (out / "slices.json").exists() and not (out / "metrics.json").exists()
    path.write_text("corpora: [dated]\nslicing: {by: period, width: 50}\n"
                    "report: {pairs: [[1850-1899, 1800-1849]]}\n")
    out = _folder(tmp_path, "out-ok")
    assert stages.build_prepared_corpus(load_diachronic_spec(path), {"dated": corpus}, out)["n_slices"] == 2


def test_report_pairs_naming_no_slice_are_refused_before_a_vector_is_read(tmp_path):
    """A prepared corpus built before report.pairs was edited is not built again: the report refuses the pairs
    naming the key, before it reads the slices' vectors (here there are none to read)."""
    settings = ReportSpec(pairs=(("lee_a", "lee_c"),), stopwords="none")
    out = _folder(tmp_path, "report")
    with pytest.raises(SpecError, match=re.escape("expected report.pairs: pairs of the slices there are "
                                                  "(lee_a, lee_b); pair lee_a, lee_c names 'lee_c', no slice")):
        stages.build_report(settings, {1: {"lee_a": tmp_path / "a", "lee_b": tmp_path / "b"}}, out)
    assert not any(out.iterdir())


def test_cade_stages_then_report(prepared):
    root, spec, corpus, _ = prepared
    folders = {}
    for seed in spec.report.seeds:
        settings = spec.cade.settings(seed=seed, threads=1)
        compass = _folder(root, f"compass{seed}")
        m = stages.build_compass(settings, corpus, compass)
        assert m["vocab_size"] > 100 and (compass / "compass.syn1neg.npy").is_file()
        for name in ("lee_a", "lee_b"):
            out = _folder(root, f"cade-{name}-{seed}")
            m = stages.build_cade_slice(settings, {"corpus": corpus, "compass": compass}, out, slice_name=name)
            assert m["slice"] == name and m["train_epochs"] == 1 and not (out / "_scratch").exists()
            assert json.loads((out / "metrics.json").read_text()) == m
            folders.setdefault(seed, {})[name] = out
    with pytest.raises(InputError, match=r"slices\.json.*a slice named 'lee_c'.*slices: lee_a, lee_b"):
        stages.build_cade_slice(settings, {"corpus": corpus, "compass": compass}, _folder(root, "x"),
                                slice_name="lee_c")
    _check_report(spec.report, folders, _folder(root, "cade-report"))


def test_procrustes_stages_then_report(prepared):
    root, spec, corpus, _ = prepared
    folders = {}
    for seed in spec.report.seeds:
        settings = spec.procrustes.settings(seed=seed, threads=1)
        own = {}
        for name in ("lee_a", "lee_b"):
            own[name] = _folder(root, f"w2v-{name}-{seed}")
            m = stages.build_word2vec_slice(settings, corpus, own[name], slice_name=name)
            assert m["slice"] == name and m["vocab_size"] > 100
        for name in ("lee_a", "lee_b"):
            out = _folder(root, f"procrustes-{name}-{seed}")
            m = stages.build_procrustes_slice({"slice": own[name], "reference": own["lee_a"]}, out,
                                              slice_name=name, reference="lee_a")
            assert m["reference"] == "lee_a" and m["anchor_words"] > 100
            folders.setdefault(seed, {})[name] = out
    ref = np.load(own["lee_a"] / "vectors.npy")
    assert np.array_equal(np.load(folders[2]["lee_a"] / "vectors.npy"), ref)  # the reference is kept
    moved = np.load(folders[2]["lee_b"] / "vectors.npy")
    assert np.allclose(np.linalg.norm(moved, axis=1), 1, atol=1e-5)  # mapped as unit rows
    _check_report(spec.report, folders, _folder(root, "procrustes-report"))


def _check_report(settings: ReportSpec, folders, out: Path):
    import polars as pl

    metrics = stages.build_report(settings, folders, out)
    assert metrics["n_seeds"] == 2 and metrics["n_pairs"] == 1
    change = pl.read_parquet(out / "change.parquet")
    assert sorted(change["seed"].unique().to_list()) == [1, 2]
    top = pl.read_csv(out / "top_changed.csv")
    assert top.height == settings.top_n
    seed1 = change.filter(pl.col("seed") == 1)
    assert top["word"].to_list() == seed1.sort(settings.rank_by, descending=True)["word"].head(8).to_list()
    # the report's words: the spec's (one in no slice, skipped), then the first plot_words top changed words
    words = stages.report_words(settings, pl.read_parquet(out / "top_changed.parquet"))
    assert words == ["government", "zzz-nowhere", *top["word"].to_list()[:2]]
    nb = pl.read_parquet(out / "neighbours.parquet")
    assert set(nb["word"].unique().to_list()) == {"government", *top["word"].to_list()[:2]}
    assert nb.group_by(["word", "slice"]).len()["len"].to_list() == [settings.neighbours] * nb.select(
        ["word", "slice"]).unique().height
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert "top_changed.png" in plots and "trajectory_government.png" in plots and len(plots) == 4


@pytest.mark.parametrize("rule", ["nan", "inf", "-inf"])
def test_a_binary_cut_that_is_no_finite_number_is_refused(rule):
    """'nan' parses as a float: as a fixed cut it called no target changed, and binary accuracy was the share
    of stable targets, without a word."""
    from pipeline.diachronic.settings import ChangeEvaluationSettings

    with pytest.raises(ValueError, match=f"a finite number, not '{rule}'"):
        ChangeEvaluationSettings(binary_rule=rule)
    assert ChangeEvaluationSettings(binary_rule="0.35").binary_rule == "0.35"
