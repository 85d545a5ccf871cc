"""Gold data for semantic change (pipeline.diachronic.gold): reading the SemEval-2020 Task 1 layout and DWUG
change tables, refusing bad gold with the file and what was expected, and scoring as the field does (Spearman
over targets, binary accuracy under a stated rule, a bootstrap CI, coverage, seeds)."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pipeline.diachronic.gold import (GoldSet, aggregate_seeds, binary_accuracy, bootstrap_spearman_ci,
                                      change_metrics, corpus_form, graded_spearman, read_dwug, read_gold,
                                      read_semeval, score_change, scores_for_targets, target_counts)
from pipeline.errors import InputError

TARGETS = ["plane_nn", "tip_vb", "graft_nn", "word_nn"]
GRADED = {"plane_nn": 0.88, "tip_vb": 0.68, "graft_nn": 0.55, "word_nn": 0.1}
BINARY = {"plane_nn": 1, "tip_vb": 1, "graft_nn": 1, "word_nn": 0}


def _gz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def make_semeval(root: Path, *, targets=TARGETS, graded=GRADED, binary=BINARY, kinds=("lemma", "token")) -> Path:
    """A tiny folder in the official layout (English: POS-suffixed targets in the lemma corpus only)."""
    root.mkdir(parents=True)
    for i, corpus in enumerate(("corpus1", "corpus2")):
        if "lemma" in kinds:
            _gz(root / corpus / "lemma" / f"ccoha{i + 1}.txt.gz",
                ["the plane_nn fly over the graft_nn", "he tip_vb his hat", "a word_nn of advice"])
        if "token" in kinds:
            _gz(root / corpus / "token" / f"ccoha{i + 1}.txt.gz",
                ["the plane flew over the graft", "he tipped his hat", "a word of advice"])
    (root / "targets.txt").write_text("".join(f"{t}\n" for t in targets), encoding="utf-8")
    (root / "truth").mkdir()
    (root / "truth" / "graded.txt").write_text("".join(f"{w}\t{v}\n" for w, v in graded.items()), encoding="utf-8")
    (root / "truth" / "binary.txt").write_text("".join(f"{w}\t{v}\n" for w, v in binary.items()), encoding="utf-8")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(folder: Path, reader=read_semeval, **kwargs) -> InputError:
    """The reader refuses ``folder`` with an InputError, and writes nothing there."""
    before = _tree(folder)
    with pytest.raises(InputError) as info:
        reader(folder, **kwargs)
    assert _tree(folder) == before
    return info.value


# --------------------------------------------------------------------------------------------- SemEval layout


def test_read_semeval_reads_the_official_layout(tmp_path):
    gold = read_semeval(make_semeval(tmp_path / "semeval2020_ulscd_eng"))
    assert gold.targets == tuple(TARGETS)
    assert gold.graded == GRADED and gold.binary == BINARY
    assert isinstance(gold.binary["plane_nn"], int) and isinstance(gold.graded["word_nn"], float)
    assert gold.kinds == ("lemma", "token") and gold.layout == "semeval" and gold.name == "semeval2020_ulscd_eng"
    assert [p.name for p in gold.corpus_files("corpus2", "token")] == ["ccoha2.txt.gz"]
    assert gold.corpus_files("corpus1")[0].parent.name == "lemma"  # the first common kind by default
    # English targets appear with their suffix in the lemma corpus, bare in the token corpus
    assert target_counts(gold, "lemma") == {t: (1, 1) for t in TARGETS}
    assert target_counts(gold, "token", require=False) == {"plane_nn": (1, 1), "tip_vb": (0, 0),
                                                           "graft_nn": (1, 1), "word_nn": (1, 1)}
    # an archive unpacked with its top folder is read through it; read_gold tells the layouts apart
    assert read_semeval(tmp_path).targets == gold.targets
    assert read_gold(tmp_path / "semeval2020_ulscd_eng").layout == "semeval"


def test_plain_txt_files_and_one_kind(tmp_path):
    root = make_semeval(tmp_path / "de", targets=["Abgesang", "Donnerwetter"], graded={"Abgesang": 0.2,
                        "Donnerwetter": 0.3}, binary={"Abgesang": 0, "Donnerwetter": 1}, kinds=("lemma",))
    for i in (1, 2):
        (root / f"corpus{i}" / "lemma" / f"ccoha{i}.txt.gz").unlink()
        (root / f"corpus{i}" / "lemma" / "dta.txt").write_text("der Abgesang\nein Donnerwetter\n", encoding="utf-8")
    gold = read_semeval(root)
    assert gold.kinds == ("lemma",) and gold.corpus_files("corpus1")[0].name == "dta.txt"
    assert target_counts(gold) == {"Abgesang": (1, 1), "Donnerwetter": (1, 1)}
    with pytest.raises(InputError, match=r"de/corpus1/token: expected token files of corpus1 .*gold set has lemma"):
        gold.corpus_files("corpus1", "token")


def test_missing_truth_or_corpus_is_refused(tmp_path):
    root = make_semeval(tmp_path / "a")
    for f in (root / "truth").iterdir():
        f.unlink()
    (root / "truth").rmdir()
    e = refused(root)
    assert e.path == str(root / "truth") and "a truth/ folder with graded.txt and binary.txt" in str(e)

    root = make_semeval(tmp_path / "b")
    for f in sorted((root / "corpus2").rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    (root / "corpus2").rmdir()
    e = refused(root)
    assert e.path == str(root / "corpus2") and "a folder corpus2/ with lemma/ and/or token/" in str(e)
    assert "it does not exist" in str(e)


def test_corpus_without_files_or_kinds_is_refused(tmp_path):
    root = make_semeval(tmp_path / "a", kinds=("lemma",))
    (root / "corpus1" / "lemma" / "ccoha1.txt.gz").rename(root / "corpus1" / "lemma" / "ccoha1.csv")
    e = refused(root)
    assert e.path == str(root / "corpus1" / "lemma") and "one or more .txt or .txt.gz files" in str(e)

    root = make_semeval(tmp_path / "b", kinds=("lemma",))
    (root / "corpus2" / "lemma").rename(root / "corpus2" / "lemmas")
    e = refused(root)
    assert e.path == str(root / "corpus2") and "a lemma/ or token/ folder" in str(e)

    root = make_semeval(tmp_path / "c")
    for f in (root / "corpus2" / "lemma").iterdir():
        f.unlink()
    (root / "corpus2" / "lemma").rmdir()
    for f in (root / "corpus1" / "token").iterdir():
        f.unlink()
    (root / "corpus1" / "token").rmdir()
    e = refused(root)
    assert e.path == str(root) and "the same kind of files" in str(e)
    assert "corpus1 has lemma, corpus2 has token" in str(e)


@pytest.mark.parametrize("name", ["graded", "binary"])
def test_truth_words_must_be_targets(tmp_path, name):
    root = make_semeval(tmp_path / "g")
    truth = root / "truth" / f"{name}.txt"
    truth.write_text(truth.read_text() + "zebra_nn\t1\n", encoding="utf-8")
    e = refused(root)
    assert e.path == str(truth)
    assert f"expected only words of {root / 'targets.txt'}" in str(e)
    assert "'zebra_nn' on line 5 is not a target" in str(e)


@pytest.mark.parametrize("name, value, expected", [
    ("graded", "high", "a number (graded change) after each word"),
    ("graded", "nan", "a number (graded change) after each word"),
    ("binary", "yes", "a binary value 0 or 1 after each word"),
    ("binary", "2", "a binary value 0 or 1 after each word"),
    ("binary", "0.5", "a binary value 0 or 1 after each word"),
])
def test_bad_truth_values_are_refused(tmp_path, name, value, expected):
    values = dict(GRADED if name == "graded" else BINARY, tip_vb=value)
    root = make_semeval(tmp_path / "v", **{name: values})
    e = refused(root)
    assert e.path == str(root / "truth" / f"{name}.txt")
    assert f"expected {expected}" in str(e) and f"found {value!r} for 'tip_vb' on line 2" in str(e)


def test_duplicates_gaps_and_empty_targets_are_refused(tmp_path):
    root = make_semeval(tmp_path / "dup")
    graded = root / "truth" / "graded.txt"
    graded.write_text(graded.read_text() + "plane_nn\t0.5\n", encoding="utf-8")
    e = refused(root)
    assert e.path == str(graded) and "each target once" in str(e) and "'plane_nn' on lines 1 and 5" in str(e)

    root = make_semeval(tmp_path / "duptargets", targets=TARGETS + ["tip_vb"])
    e = refused(root)
    assert e.path == str(root / "targets.txt") and "'tip_vb' on lines 2 and 5" in str(e)

    root = make_semeval(tmp_path / "gap", binary={k: v for k, v in BINARY.items() if k != "graft_nn"})
    e = refused(root)
    assert e.path == str(root / "truth" / "binary.txt") and "a value for every target" in str(e)
    assert "graft_nn" in str(e)

    root = make_semeval(tmp_path / "empty", targets=[], graded={}, binary={})
    (root / "targets.txt").write_text("\n  \n", encoding="utf-8")
    e = refused(root)
    assert e.path == str(root / "targets.txt") and "the file has no targets" in str(e)

    root = make_semeval(tmp_path / "two", targets=["plane_nn x"] + TARGETS[1:])
    e = refused(root)
    assert e.path == str(root / "targets.txt") and "one target word per line" in str(e)
    assert "line 1 has 2 fields" in str(e)

    root = make_semeval(tmp_path / "utf")
    (root / "targets.txt").write_bytes(b"plane_nn\ntip\xff_vb\n")
    e = refused(root)
    assert e.path == str(root / "targets.txt") and "expected UTF-8 text" in str(e)


def test_targets_absent_from_both_corpora_are_refused(tmp_path):
    root = make_semeval(tmp_path / "x", targets=TARGETS + ["zebra_nn"], graded=dict(GRADED, zebra_nn=0.3),
                        binary=dict(BINARY, zebra_nn=0))
    gold = read_semeval(root)
    before = _tree(root)
    with pytest.raises(InputError) as info:
        target_counts(gold, "lemma")
    assert _tree(root) == before
    e = info.value
    assert e.path == str(root / "targets.txt") and "targets that occur in corpus1 or corpus2 (lemma files" in str(e)
    assert "1 of 5 targets occur in neither: zebra_nn" in str(e)
    # in the token corpus the suffixed forms are looked for bare: tip_vb ("tipped" there) is absent too
    with pytest.raises(InputError, match="2 of 5 targets occur in neither: tip_vb, zebra_nn"):
        target_counts(gold, "token")


def test_corpus_form_and_scores_for_targets():
    assert corpus_form("plane_nn", "lemma") == "plane_nn"
    assert corpus_form("plane_nn", "token") == "plane" and corpus_form("tip_vb", "token") == "tip"
    assert corpus_form("Abgesang", "token") == "Abgesang" and corpus_form("over_nnp", "token") == "over_nnp"
    with pytest.raises(ValueError, match="kind must be one of lemma, token"):
        corpus_form("plane_nn", "raw")
    assert scores_for_targets({"plane": 0.5, "graft": 0.1, "plane_nn": 9.0}, TARGETS, "token") == {
        "plane_nn": 0.5, "graft_nn": 0.1}
    assert scores_for_targets({"plane": 0.5, "plane_nn": 9.0}, TARGETS, "lemma") == {"plane_nn": 9.0}


# --------------------------------------------------------------------------------------------- DWUG

DWUG_HEADER = ("lemma\tgrouping\tnodes\tnodes1\tnodes2\tcluster_freq_dist\tcluster_freq_dist1\tcluster_freq_dist2\t"
               "cluster_prob_dist\tcluster_prob_dist1\tcluster_prob_dist2\tchange_binary\tchange_binary_gain\t"
               "change_binary_loss\tchange_graded\tk1\tn1\tk2\tn2\tEARLIER\tLATER\tCOMPARE")


def _dwug_row(lemma, graded, binary, grouping="1_2"):
    return (f"{lemma}\t{grouping}\t60\t30\t30\t[20, 40]\t[15, 15]\t[5, 25]\t[0.333, 0.667]\t[0.5, 0.5]\t[0.167, 0.833]"
            f"\t{binary}\t0\t{binary}\t{graded}\t1\t3\t1\t3\t3.5\t3.2\t2.9")


def make_dwug(root: Path, rows: list[str], where: str = "opt") -> Path:
    table = root / "stats" / where / "stats_groupings.csv" if where else root / "stats" / "stats_groupings.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(DWUG_HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    (root / "stats" / "stats.csv").write_text("lemma\tloss\nplane_nn\t0.1\n", encoding="utf-8")
    return root


def test_read_dwug_reads_the_change_table(tmp_path):
    root = make_dwug(tmp_path / "dwug_en", [_dwug_row("plane_nn", 0.882, 1), _dwug_row("word_nn", 0.1, 0),
                                            _dwug_row("tip_vb", "0.68", "1.0")])
    gold = read_dwug(root)
    assert gold.targets == ("plane_nn", "word_nn", "tip_vb") and gold.layout == "dwug" and gold.kinds == ()
    assert gold.graded == {"plane_nn": 0.882, "word_nn": 0.1, "tip_vb": 0.68}
    assert gold.binary == {"plane_nn": 1, "word_nn": 0, "tip_vb": 1}
    assert gold.files["graded"] == root / "stats" / "opt" / "stats_groupings.csv"
    assert read_gold(root).graded == gold.graded
    # stats/semeval/ comes first, stats/ itself last; stats= names one
    make_dwug(root, [_dwug_row("plane_nn", 0.5, 1)], where="semeval")
    make_dwug(root, [_dwug_row("word_nn", 0.5, 1)], where="")
    assert read_dwug(root).targets == ("plane_nn",)
    assert read_dwug(root, stats="opt").targets == ("plane_nn", "word_nn", "tip_vb")
    assert read_dwug(root, stats="").targets == ("word_nn",)
    # a DWUG table on the SemEval corpora of the same language
    semeval = read_semeval(make_semeval(tmp_path / "semeval2020_ulscd_eng"))
    both = read_dwug(root, stats="opt").with_corpora(semeval)
    assert both.kinds == ("lemma", "token") and both.graded == gold.graded


def test_read_dwug_chooses_a_grouping(tmp_path):
    rows = [_dwug_row("plane_nn", 0.8, 1, "1_2"), _dwug_row("plane_nn", 0.3, 0, "1_3"),
            _dwug_row("word_nn", 0.2, 0, "1_3")]
    root = make_dwug(tmp_path / "three", rows)
    assert read_dwug(root).graded == {"plane_nn": 0.8}
    assert read_dwug(root, grouping="1_3").graded == {"plane_nn": 0.3, "word_nn": 0.2}
    e = refused(root, read_dwug, grouping="2_3")
    assert "expected rows of grouping '2_3'" in str(e) and "the table has 1_2, 1_3" in str(e)
    root = make_dwug(tmp_path / "nodefault", rows[1:] + [_dwug_row("word_nn", 0.2, 0, "2_3")])
    e = refused(root, read_dwug)
    assert e.path == str(root / "stats" / "opt" / "stats_groupings.csv")
    assert "one pair of groupings, or grouping= naming one" in str(e) and "1_3, 2_3" in str(e)


def test_bad_dwug_tables_are_refused(tmp_path):
    e = refused(make_dwug(tmp_path / "none", [_dwug_row("plane_nn", 0.5, 1)], where="maj_3"), read_dwug)
    assert "a DWUG change table stats_groupings.csv" in str(e)
    assert ("stats/semeval/stats_groupings.csv, stats/semeval/stats_groupings.tsv, stats/opt/stats_groupings.csv, "
            "stats/opt/stats_groupings.tsv, stats/stats_groupings.csv, stats/stats_groupings.tsv") in str(e)
    tsv = make_dwug(tmp_path / "nordiachange", [_dwug_row("plane_nn", 0.5, 1)], where="")
    (tsv / "stats" / "stats_groupings.csv").rename(tsv / "stats" / "stats_groupings.tsv")
    assert read_dwug(tsv).graded == {"plane_nn": 0.5}

    cases = {
        "undefined": ([_dwug_row("plane_nn", "None", 1)], "a number in column change_graded",
                      "found 'None' for 'plane_nn' on line 2"),
        "binary": ([_dwug_row("plane_nn", 0.4, 0), _dwug_row("word_nn", 0.4, "0.5")], "a binary value 0 or 1",
                   "found '0.5' for 'word_nn' on line 3"),
        "twice": ([_dwug_row("plane_nn", 0.4, 0), _dwug_row("plane_nn", 0.5, 1)], "each lemma once in grouping 1_2",
                  "'plane_nn' on lines 2 and 3"),
        "short": ([_dwug_row("plane_nn", 0.4, 0).rsplit("\t", 2)[0]], "22 tab-separated fields per line",
                  "line 2 has 20"),
        "empty": ([], "one row per lemma", "the table has no rows"),
        # an empty lemma field became a target '' that no corpus word matches
        "nolemma": ([_dwug_row("plane_nn", 0.4, 0), _dwug_row("", 0.5, 1)], "a lemma in column lemma",
                    "line 3 has none"),
    }
    for name, (rows, expected, found) in cases.items():
        root = make_dwug(tmp_path / name, rows)
        e = refused(root, read_dwug)
        assert e.path == str(root / "stats" / "opt" / "stats_groupings.csv"), name
        assert f"expected {expected}" in str(e) and found in str(e), (name, str(e))

    root = make_dwug(tmp_path / "columns", [_dwug_row("plane_nn", 0.4, 0)])
    table = root / "stats" / "opt" / "stats_groupings.csv"
    table.write_text(table.read_text().replace("change_graded", "graded_jsd"), encoding="utf-8")
    e = refused(root, read_dwug)
    assert "expected tab-separated columns lemma, grouping, change_graded, change_binary" in str(e)
    assert "no column change_graded" in str(e)


# --------------------------------------------------------------------------------------------- scoring


def _gold(graded, binary=None) -> GoldSet:
    targets = tuple(graded)
    binary = binary or {t: int(v > np.median(list(graded.values()))) for t, v in graded.items()}
    return GoldSet(targets=targets, graded=dict(graded), binary=dict(binary))


@pytest.mark.parametrize("seed", range(6))
def test_graded_spearman_is_scipys_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    gold = {f"t{i}": float(v) for i, v in enumerate(rng.integers(0, 6, n) / 5)}  # many ties
    noisy = np.round(rng.normal(size=n) + 0.5 * np.array(list(gold.values())), 1)  # ties here too
    pred = {f"t{i}": float(v) for i, v in enumerate(noisy)}
    expected = spearmanr(list(pred.values()), list(gold.values())).statistic
    assert graded_spearman(pred, gold) == pytest.approx(expected, abs=1e-12)
    assert graded_spearman(pred, _gold(gold)) == pytest.approx(expected, abs=1e-12)
    # over the targets present in both: a missing prediction, a nan and a non-target are left out
    keep = list(gold)[2:]
    partial = {t: pred[t] for t in keep} | {list(gold)[0]: math.nan, "not_a_target": 5.0}
    assert graded_spearman(partial, gold) == pytest.approx(
        spearmanr([pred[t] for t in keep], [gold[t] for t in keep]).statistic, abs=1e-12)


def test_graded_spearman_undefined_cases():
    gold = {"a": 0.1, "b": 0.2, "c": 0.3}
    assert graded_spearman({"a": 1.0}, gold) is None
    assert graded_spearman({"a": 1.0, "b": 1.0, "c": 1.0}, gold) is None  # constant predictions
    assert graded_spearman({"a": 3.0, "b": 2.0, "c": 1.0}, gold) == pytest.approx(-1.0)


def test_bootstrap_matches_resampled_spearman_and_is_seeded():
    rng = np.random.default_rng(3)
    n = 30
    gold = {f"t{i}": float(v) for i, v in enumerate(rng.integers(0, 4, n))}
    pred = {t: v + float(rng.normal()) for t, v in gold.items()}
    ci = bootstrap_spearman_ci(pred, gold, n_boot=400, seed=7)
    # the vectorised resamples are what spearmanr gives on each resample
    idx = np.random.default_rng(7).integers(0, n, size=(400, n))
    x, y = np.array(list(pred.values())), np.array(list(gold.values()))
    rhos = np.array([spearmanr(x[i], y[i]).statistic for i in idx])
    rhos = rhos[~np.isnan(rhos)]
    assert ci == pytest.approx(list(np.percentile(rhos, [2.5, 97.5])), abs=1e-12)
    assert bootstrap_spearman_ci(pred, gold, n_boot=400, seed=7) == ci
    assert bootstrap_spearman_ci(pred, gold, n_boot=400, seed=8) != ci
    assert bootstrap_spearman_ci({"t0": 1.0, "t1": 2.0}, gold) is None


def test_ci_contains_the_estimate_and_shrinks_with_more_targets():
    widths = []
    for n in (15, 60, 240):
        rng = np.random.default_rng(n)
        g = rng.uniform(size=n)
        gold = {f"t{i}": float(v) for i, v in enumerate(g)}
        pred = {f"t{i}": float(v) for i, v in enumerate(g + rng.normal(scale=0.3, size=n))}
        rho = graded_spearman(pred, gold)
        lo, hi = bootstrap_spearman_ci(pred, gold)
        assert lo < rho < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.5 * widths[0]


def test_binary_accuracy_by_hand():
    gold = {"a": 1, "b": 1, "c": 0, "d": 0, "e": 0}
    pred = {"a": 0.9, "b": 0.2, "c": 0.5, "d": 0.1, "e": 0.3}
    # top_k, k = 2 gold-changed: a and c predicted changed -> a right, c wrong, b wrong, d and e right
    top = binary_accuracy(pred, gold)
    assert top == {"accuracy": 3 / 5, "rule": "top_k: the 2 highest-scored targets changed (k = gold-changed targets)",
                   "threshold": 0.5, "n": 5}
    # mean + std of [0.9, 0.2, 0.5, 0.1, 0.3] = 0.4 + 0.2828: only a changed -> a, c, d, e right
    ms = binary_accuracy(pred, gold, "mean_std")
    assert ms["accuracy"] == pytest.approx(4 / 5) and ms["threshold"] == pytest.approx(0.4 + math.sqrt(0.08))
    assert ms["rule"] == "mean_std: score >= mean + std of the scores changed"
    # mean 0.4: a, c changed -> 3/5
    assert binary_accuracy(pred, gold, "mean")["accuracy"] == pytest.approx(3 / 5)
    fixed = binary_accuracy(pred, gold, 0.15)  # a b c e changed: a b d right
    assert fixed["accuracy"] == pytest.approx(3 / 5) and fixed["rule"] == "fixed: score >= 0.15 changed"
    # ties at the top_k cut go to the target listed first in the gold
    tied = binary_accuracy({"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.1, "e": 0.1}, gold)
    assert tied["accuracy"] == pytest.approx(1.0)
    assert binary_accuracy({"zz": 1.0}, gold)["accuracy"] is None
    with pytest.raises(ValueError, match="binary rule must be one of top_k, mean_std, mean or a number"):
        binary_accuracy(pred, gold, "median")


def test_score_change_reports_every_score_and_coverage():
    rng = np.random.default_rng(0)
    targets = [f"w{i}" for i in range(40)]
    graded = {t: float(v) for t, v in zip(targets, rng.uniform(size=40))}
    gold = _gold(graded, {t: int(v > 0.5) for t, v in graded.items()})
    pred = {t: v + float(rng.normal(scale=0.2)) for t, v in graded.items() if t not in ("w3", "w17")}
    pred["w5"] = math.nan
    s = score_change(pred, gold, n_boot=300, seed=1)
    assert set(s) == {"graded_spearman", "graded_spearman_ci", "binary_accuracy", "binary_rule", "binary_threshold",
                      "n_targets", "covered", "missing"}
    assert s["n_targets"] == 40 and s["covered"] == 37 and s["missing"] == ["w3", "w5", "w17"]
    assert s["graded_spearman"] == pytest.approx(graded_spearman(pred, gold))
    assert s["graded_spearman_ci"] == bootstrap_spearman_ci(pred, gold, n_boot=300, seed=1)
    assert s["binary_accuracy"] == binary_accuracy(pred, gold)["accuracy"]
    assert s["binary_rule"].startswith("top_k: the ")
    assert score_change(pred, gold, n_boot=300, seed=1, rule="mean")["binary_rule"].startswith("mean:")
    nothing = score_change({}, gold, n_boot=50)
    assert nothing["graded_spearman"] is None and nothing["graded_spearman_ci"] is None
    assert nothing["binary_accuracy"] is None and nothing["covered"] == 0 and len(nothing["missing"]) == 40


def test_aggregate_seeds_means_and_spread():
    base = {"binary_rule": "top_k: the 2 highest-scored targets changed (k = gold-changed targets)", "n_targets": 5}
    runs = [dict(base, graded_spearman=0.5, graded_spearman_ci=[0.2, 0.7], binary_accuracy=0.6, binary_threshold=0.3,
                 covered=5, missing=[]),
            dict(base, graded_spearman=0.7, graded_spearman_ci=[0.4, 0.9], binary_accuracy=0.8, binary_threshold=0.5,
                 covered=4, missing=["b"]),
            dict(base, graded_spearman=0.6, graded_spearman_ci=[0.3, 0.8], binary_accuracy=1.0, binary_threshold=0.4,
                 covered=4, missing=["c", "b"])]
    agg = aggregate_seeds(runs)
    assert agg["n_seeds"] == 3 and agg["graded_spearman"] == pytest.approx(0.6)
    assert agg["graded_spearman_sd"] == pytest.approx(0.1)
    assert agg["binary_accuracy"] == pytest.approx(0.8) and agg["binary_accuracy_sd"] == pytest.approx(0.2)
    assert agg["graded_spearman_ci"] == pytest.approx([0.3, 0.8])
    assert agg["covered"] == 4 and agg["missing"] == ["b", "c"] and agg["binary_rule"] == base["binary_rule"]
    one = aggregate_seeds(runs[:1])
    assert one["graded_spearman"] == 0.5 and one["graded_spearman_sd"] is None
    none = aggregate_seeds([dict(runs[0], graded_spearman=None), runs[1]])
    assert none["graded_spearman"] == pytest.approx(0.7) and none["graded_spearman_sd"] is None
    mixed = aggregate_seeds([runs[0], dict(runs[1], binary_rule="top_k: the 1 highest-scored"), runs[2]])
    assert mixed["binary_rule"] == base["binary_rule"] + " | top_k: the 1 highest-scored"
    with pytest.raises(ValueError, match="the seeds disagree on n_targets"):
        aggregate_seeds([runs[0], dict(runs[1], n_targets=6)])
    with pytest.raises(ValueError, match="at least one seed"):
        aggregate_seeds([])


def test_change_metrics_are_flat_and_named_by_benchmark():
    s = {"graded_spearman": 0.5, "graded_spearman_ci": [0.1, 0.8], "binary_accuracy": 0.7, "binary_rule": "x",
         "n_targets": 10, "covered": 9, "missing": ["w"]}
    assert change_metrics(s) == {"graded_spearman": 0.5, "graded_spearman_ci_lo": 0.1, "graded_spearman_ci_hi": 0.8,
                                 "binary_accuracy": 0.7, "graded_targets": 10, "graded_covered": 9}
    agg = aggregate_seeds([dict(s, binary_threshold=0.2), dict(s, binary_threshold=0.2, graded_spearman=0.7)])
    m = change_metrics(agg, "cade_cosine")
    assert m["graded_spearman-cade_cosine"] == pytest.approx(0.6)
    assert m["graded_spearman_sd-cade_cosine"] == pytest.approx(math.sqrt(0.02))
    assert m["graded_seeds-cade_cosine"] == 2 and m["binary_accuracy_sd-cade_cosine"] == 0.0
    assert all(isinstance(v, (int, float)) or v is None for v in m.values())


# --------------------------------------------------------------------------------------------- the gold stage
# What a later stage would trip over (a period the corpora lack, a pair without some targets, a corpus file
# without text) is refused by the gold stage, naming the user's file, with no stage kept.

#: three time periods: every pair of groupings, each lemma of TARGETS in each
THREE_PERIODS = [_dwug_row(t, round(GRADED[t] / k, 3), BINARY[t], g)
                 for k, g in ((1, "1_2"), (2, "2_3"), (3, "1_3")) for t in TARGETS]


def add_corpus3(semeval: Path) -> Path:
    """A third time period for a :func:`make_semeval` folder (its corpora again, so every target occurs)."""
    for kind in ("lemma", "token"):
        (semeval / "corpus3" / kind).mkdir(parents=True)
        for f in (semeval / "corpus1" / kind).iterdir():
            (semeval / "corpus3" / kind / f.name.replace("1", "3")).write_bytes(f.read_bytes())
    return semeval


def gold_stage(project: Path, monkeypatch, name: str, gold: str):
    """The GoldData task of a spec ``name`` with ``gold`` (a YAML mapping), in ``project``."""
    (project / "tasks" / "diachronic").mkdir(parents=True, exist_ok=True)
    (project / "corpora").mkdir(exist_ok=True)
    spec = project / "tasks" / "diachronic" / f"{name}.yaml"
    spec.write_text(f"tokenizer: {{pretokenized: true}}\ngold: {gold}\n")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    monkeypatch.delenv("CHRONOLINGUA_OUTPUTS", raising=False)
    from pipeline.dag.diachronic import GoldData

    return GoldData(spec=name)


def assert_stage_refused(task, caplog, *fragments: str) -> None:
    """The gold stage failed for the reason given, and no stage (nor a temporary folder) is left."""
    from dagutil import assert_failed, build

    caplog.clear()  # only this run's failure counts
    assert_failed(build(task), caplog, "GoldData", *fragments)
    stages = task.output().path.parent
    assert not task.output().path.exists() and not list(stages.glob(".tmp-*"))
    assert not list(stages.parent.rglob("_SUCCESS"))


def test_a_dwug_table_judging_a_period_its_corpora_lack_is_refused(tmp_path, monkeypatch, caplog):
    """Groupings 1_2, 2_3, 1_3 on corpora_from with corpus1/ and corpus2/ only: refused, naming the table."""
    semeval = make_semeval(tmp_path / "semeval")
    release = make_dwug(tmp_path / "dwug", THREE_PERIODS)
    table = release / "stats" / "opt" / "stats_groupings.csv"
    project = tmp_path / "proj"
    for name, slices in (("two", ""), ("three", ", slices: 3")):  # gold.slices alone gives no corpus3
        task = gold_stage(project, monkeypatch, name,
                          f"{{path: {release}, layout: dwug, corpora_from: {semeval}{slices}}}")
        assert_stage_refused(task, caplog,
                             f"{table}: expected groupings of the time periods whose corpora {semeval} has (corpus1, "
                             f"corpus2;", f"groupings 1_3, 2_3 judge corpus3, which {semeval} does not have",
                             "a SemEval folder with corpus3/ (gold.corpora_from, with gold.slices: 3)")
    # library use: the same refusal where the table meets the corpora
    with pytest.raises(InputError, match="judge corpus3"):
        read_dwug(release).with_corpora(read_semeval(semeval))

    # corpora_from with corpus3/: gold.slices must say 3 (the table is named, not the corpora) ...
    add_corpus3(semeval)
    task = gold_stage(project, monkeypatch, "two", f"{{path: {release}, layout: dwug, corpora_from: {semeval}}}")
    assert_stage_refused(task, caplog, f"{table}: expected groupings of the 2 time periods gold.slices declares",
                         "groupings 1_3, 2_3 judge corpus3: set gold.slices: 3")
    # ... and then every pair is kept with the table's values
    from dagutil import build

    task = gold_stage(project, monkeypatch, "three",
                      f"{{path: {release}, layout: dwug, corpora_from: {semeval}, slices: 3}}")
    assert build(task).scheduling_succeeded and task.complete()
    rows = [line.split("\t") for line in (task.output().path / "truth" / "2_3" / "graded.txt").read_text().splitlines()]
    assert {w: float(v) for w, v in rows} == {t: round(GRADED[t] / 2, 3) for t in TARGETS}


def test_a_dwug_grouping_without_every_target_of_the_main_pair_is_refused(tmp_path, monkeypatch, caplog):
    """Grouping 1_2 (the targets) has four lemmas, 2_3 and 1_3 two of them: refused, naming the table, the grouping
    and the lemmas it lacks, before the gold stage writes a pair's truth."""
    rows = [r for r in THREE_PERIODS if r.split("\t")[1] == "1_2" or r.split("\t")[0] in ("plane_nn", "tip_vb")]
    release = make_dwug(tmp_path / "dwug", rows)
    table = release / "stats" / "opt" / "stats_groupings.csv"
    e = refused(release, read_dwug)
    assert e.path == str(table)
    assert "expected a row in every grouping for each lemma of grouping 1_2 (the targets; a further pair" in str(e)
    assert ("grouping 1_3 has no row for 2 of the 4 lemma(s): graft_nn, word_nn; "
            "grouping 2_3 has no row for 2 of the 4 lemma(s): graft_nn, word_nn") in str(e)

    semeval = add_corpus3(make_semeval(tmp_path / "semeval"))
    task = gold_stage(tmp_path / "proj", monkeypatch, "uneven",
                      f"{{path: {release}, layout: dwug, corpora_from: {semeval}, slices: 3}}")
    assert_stage_refused(task, caplog, str(table), "grouping 1_3 has no row for 2 of the 4 lemma(s): graft_nn, word_nn")

    # a lemma that only a further grouping has is no target: left out of that pair, as of grouping 1_2
    extra = read_dwug(make_dwug(tmp_path / "extra", THREE_PERIODS + [_dwug_row("zebra_nn", 0.5, 1, "2_3")]))
    assert extra.targets == tuple(TARGETS) and set(extra.for_pair("corpus2", "corpus3").graded) == set(TARGETS)


@pytest.mark.parametrize("name, content, found", [
    ("empty.txt", b"", "the file is empty"),
    ("blank.txt", b"\n  \n\t\n", "the file holds only whitespace"),
    ("empty.txt.gz", gzip.compress(b"\n"), "the file holds no text once decompressed"),
])
def test_a_corpus_file_without_text_is_refused_naming_the_user_s_file(tmp_path, monkeypatch, caplog, name, content,
                                                                       found):
    """The corpus reader refuses a file without text (empty or only whitespace); the gold reader (the command's
    up-front check) and the gold stage refuse it first, naming the gold's file, not the stage's copy."""
    from pipeline.corpora import iter_documents, load_declaration
    from pipeline.diachronic.stages import _copy_corpus

    root = make_semeval(tmp_path / "semeval", kinds=("lemma",))
    bad = root / "corpus1" / "lemma" / name
    bad.write_bytes(content)
    # the rule is the corpus reader's, which the corpus stage reads the gold stage's copies with
    _copy_corpus([bad], tmp_path / "corpus1", "lemma", "corpus1", "en", "", "test")
    with pytest.raises(InputError, match="expected a text file with some text"):
        list(iter_documents(load_declaration(tmp_path / "corpus1")))

    e = refused(root)
    assert e.path == str(bad) and "expected a text file with some text" in str(e) and found in str(e)
    task = gold_stage(tmp_path / "proj", monkeypatch, "nocorpus", f"{{path: {root}}}")
    assert_stage_refused(task, caplog, f"{bad}: expected a text file with some text", found)
