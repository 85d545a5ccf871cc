"""Generated graded change benchmarks (pipeline.diachronic.benchmark): the SemEval layout read back by
read_semeval, a change that simple detectors find at the injected levels, binary truth by the threshold,
stable targets untouched, and atomic writing (nothing left on any error)."""
from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gensim.test.utils import datapath

from pipeline.corpora import LineCorpus
from pipeline.diachronic import benchmark
from pipeline.diachronic.benchmark import default_rates, make_change_benchmark, read_sentences
from pipeline.diachronic.gold import graded_spearman, read_semeval, target_counts

# real text: the Lee news corpus (gensim's test data), one article per line
LEE = Path(datapath("lee_background.cor"))
# 40 changed and 13 stable targets seen 10-30 times in each half: enough targets for a clear Spearman
SETTINGS = dict(n_targets=40, bands=[(10, 30)], donor_band=(35, 5000), n_stable=13)


@pytest.fixture(scope="module")
def lee() -> list[list[str]]:
    return [line.lower().split() for line in LEE.read_text(encoding="utf-8").splitlines()]


def _design(folder: Path) -> dict:
    return json.loads((folder / "design.json").read_text())


def _contexts(files, targets, window=3):
    """PPMI-weighted context vectors (``window`` words each side) of ``targets`` in a corpus."""
    unigrams, ctx = Counter(), {t: Counter() for t in targets}
    for f in files:
        for s in LineCorpus(f):
            unigrams.update(s)
            for i, w in enumerate(s):
                if w in ctx:
                    ctx[w].update(s[max(0, i - window):i] + s[i + 1:i + 1 + window])
    total = sum(unigrams.values())
    return {t: {c: max(0.0, math.log(n * total / (sum(ctx[t].values()) * unigrams[c]))) for c, n in ctx[t].items()}
            for t in targets}


def _cosine_distance(a: dict, b: dict) -> float:
    keys = sorted(set(a) | set(b))
    x, y = np.array([a.get(k, 0.0) for k in keys]), np.array([b.get(k, 0.0) for k in keys])
    return float(1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def cosine_detector(gold) -> dict[str, float]:
    """Change = cosine distance between a target's PPMI context vectors in corpus1 and corpus2."""
    v1 = _contexts(gold.corpus_files("corpus1"), gold.targets)
    v2 = _contexts(gold.corpus_files("corpus2"), gold.targets)
    return {t: _cosine_distance(v1[t], v2[t]) for t in gold.targets}


def count_detector(gold) -> dict[str, float]:
    """Change = log frequency ratio corpus2 / corpus1."""
    return {t: math.log((c2 + 1) / (c1 + 1)) for t, (c1, c2) in target_counts(gold).items()}


def _nothing_left(parent: Path, name: str) -> None:
    assert not (parent / name).exists()
    assert [p.name for p in parent.iterdir() if p.name.startswith(f".{name}")] == []


# --------------------------------------------------------------------------------------------- layout


def test_round_trip_through_read_semeval(tmp_path, lee):
    out = make_change_benchmark(lee, tmp_path / "lee-swap", design="swap", seed=4, **SETTINGS)
    gold = read_semeval(out)
    design = _design(out)
    t = design["targets"]
    assert out == tmp_path / "lee-swap" and gold.kinds == ("token",) and gold.layout == "semeval"
    assert [p.relative_to(out).as_posix() for p in gold.corpus_files("corpus1") + gold.corpus_files("corpus2")] == [
        "corpus1/token/corpus1.txt.gz", "corpus2/token/corpus2.txt.gz"]
    assert list(gold.targets) == sorted(t) and len(t) == 53
    assert gold.graded == {w: x["graded"] for w, x in t.items()}
    assert gold.binary == {w: x["binary"] for w, x in t.items()}
    assert sorted(x["rate"] for x in t.values() if x["role"] == "changed") == default_rates(40)
    assert sum(x["role"] == "stable" for x in t.values()) == 13
    # every target seen in its band in both corpora before the change; donors are not targets
    assert all(10 <= x["count1"] <= 30 and 10 <= x["count2_before"] <= 30 for x in t.values())
    assert not {x["donor"] for x in t.values()} & set(t)
    # the two corpora are the shuffled text, split in half, and nothing else
    c1, c2 = list(LineCorpus(gold.corpus_files("corpus1")[0])), list(LineCorpus(gold.corpus_files("corpus2")[0]))
    assert len(c1) == len(c2) == 150 and design["corpora"]["corpus1"]["tokens"] == sum(map(len, c1))
    assert Counter(w for s in c1 + c2 for w in s) == Counter(w for s in lee for w in s)  # swap keeps frequencies
    assert "swap design" in (out / "README.md").read_text()


def test_same_seed_same_bytes_other_seed_other_targets(tmp_path, lee):
    a = make_change_benchmark(lee, tmp_path / "a", seed=2, **SETTINGS)
    b = make_change_benchmark(lee, tmp_path / "b", seed=2, **SETTINGS)
    c = make_change_benchmark(lee, tmp_path / "c", seed=3, **SETTINGS)
    files = ["corpus1/token/corpus1.txt.gz", "corpus2/token/corpus2.txt.gz", "targets.txt", "truth/graded.txt",
             "truth/binary.txt", "design.json"]
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "targets.txt").read_text() != (c / "targets.txt").read_text()


def test_token_files_and_corpus_folders_as_input(tmp_path, lee):
    text = tmp_path / "lee.txt.gz"
    with gzip.open(text, "wt", encoding="utf-8") as f:
        f.write("".join(" ".join(s) + "\n" for s in lee))
    assert read_sentences(text) == lee and read_sentences([text, str(text)]) == lee + lee
    corpus = tmp_path / "toy"
    corpus.mkdir()
    (corpus / "corpus.yaml").write_text("name: toy\nlanguage: en\nlicence: CC0\nsource: test\nfiles: '*.txt'\n")
    (corpus / "a.txt").write_text("The Cat sat. A dog ran!\n")
    assert read_sentences(corpus) == [["the", "cat", "sat"], ["a", "dog", "ran"]]
    with pytest.raises(ValueError, match="tokens without whitespace; found \\['a b'"):
        read_sentences([["a b", "c"]])
    out = make_change_benchmark(text, tmp_path / "from-file", seed=4, **SETTINGS)
    assert read_semeval(out).targets == read_semeval(make_change_benchmark(lee, tmp_path / "from-list", seed=4,
                                                                           **SETTINGS)).targets


# --------------------------------------------------------------------------------------------- the change is real


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swap_change_is_found_by_a_cosine_detector(tmp_path, lee, seed):
    gold = read_semeval(make_change_benchmark(lee, tmp_path / "swap", design="swap", seed=seed, **SETTINGS))
    rho = graded_spearman(cosine_detector(gold), gold)
    assert rho > 0.25, rho  # about 0.35-0.6 on these seeds; near 0 without the injection
    # frequencies do not move under swap, so counting sees nothing
    design = _design(gold.root)["targets"]
    assert {w: c2 for w, (_, c2) in target_counts(gold).items()} == {w: x["count2_before"] for w, x in design.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_insert_change_is_found_by_a_count_detector(tmp_path, lee, seed):
    out = make_change_benchmark(lee, tmp_path / "insert", design="insert", max_rate=0.6, seed=seed, **SETTINGS)
    gold = read_semeval(out)
    rho = graded_spearman(count_detector(gold), gold)
    assert rho > 0.5, rho  # about 0.6-0.8 on these seeds
    for w, x in _design(out)["targets"].items():  # the share reached is the new occurrences' share
        assert x["count2_after"] == x["count2_before"] + x["moved"], w
        assert x["graded"] == pytest.approx(x["moved"] / x["count2_after"], abs=1e-6), w


def test_graded_truth_follows_the_rates(tmp_path, lee):
    for design in ("swap", "insert"):
        t = _design(make_change_benchmark(lee, tmp_path / design, design=design, max_rate=0.6, seed=5,
                                          **SETTINGS))["targets"]
        changed = [x for x in t.values() if x["role"] == "changed"]
        rates, shares = np.array([x["rate"] for x in changed]), np.array([x["graded"] for x in changed])
        if design == "swap":  # k = round(rate x count) of count: the rate up to rounding
            assert np.all(np.abs(shares - rates) <= 0.5 / np.array([x["count2_before"] for x in changed]) + 1e-9)
        else:  # sampled: near the rate on average
            assert abs(np.mean(shares - rates)) < 0.05 and np.corrcoef(rates, shares)[0, 1] > 0.9


# --------------------------------------------------------------------------------------------- binary and stable


def test_binary_truth_follows_the_threshold(tmp_path, lee):
    out = make_change_benchmark(lee, tmp_path / "b", rates=[0.1, 0.2, 0.39, 0.4, 0.41, 0.7, 0.8, 0.9], n_stable=3,
                                bands=[(10, 30)], donor_band=(35, 5000), binary_threshold=0.4, seed=1)
    gold = read_semeval(out)
    t = _design(out)["targets"]
    assert {w: gold.binary[w] for w in t} == {w: int(x["rate"] >= 0.4) for w, x in t.items()}
    assert sum(gold.binary.values()) == 5 and all(gold.binary[w] == 0 for w, x in t.items() if x["role"] == "stable")
    assert "1 when the target's rate is >= 0.4 (5 of 11)" in (out / "README.md").read_text()


@pytest.mark.parametrize("design", ["swap", "insert"])
def test_stable_targets_are_untouched(tmp_path, lee, design):
    first, second = lee[:150], lee[150:]
    out = make_change_benchmark(first, tmp_path / design, corpus2=second, design=design, max_rate=0.6, seed=6,
                                **SETTINGS)
    t = _design(out)["targets"]
    stable = {w for w, x in t.items() if x["role"] == "stable"}
    moved = {w for w, x in t.items() if x["role"] == "changed"} | {x["donor"] for x in t.values() if x["donor"]}
    assert len(stable) == 13
    c1 = list(LineCorpus(out / "corpus1" / "token" / "corpus1.txt.gz"))
    c2 = list(LineCorpus(out / "corpus2" / "token" / "corpus2.txt.gz"))
    assert c1 == first  # two corpora given: taken as they are
    assert [len(s) for s in c2] == [len(s) for s in second]
    changes = Counter()
    for s0, s1 in zip(second, c2):
        for a, b in zip(s0, s1):
            if a in stable or b in stable:
                assert a == b  # a stable target is never replaced, and nothing becomes one
            if a != b:
                assert a in moved and b in moved
                changes[b] += 1
    assert all(t[w]["graded"] == 0 and t[w]["count2_after"] == t[w]["count2_before"] for w in stable)
    assert sum(changes.values()) > 100  # the changed targets did change


# --------------------------------------------------------------------------------------------- atomic and refused


def test_bad_settings_write_nothing(tmp_path, lee):
    cases = [
        (dict(design="shuffle"), "design must be one of insert, swap; found 'shuffle'"),
        (dict(design="insert", rates=[0.5, 1.0]), r"rates must be numbers in \[0, 0.99\] for design 'insert'"),
        (dict(rates=[0.5, -0.1]), r"rates must be numbers in \[0, 1\]"),
        (dict(binary_threshold=0), r"binary_threshold must be in \(0, 1\]"),
        (dict(bands=[(30, 10)]), r"a frequency band is \(lo, hi\) with 1 <= lo <= hi; found \(30, 10\)"),
        (dict(n_targets=3, rates=[0.1, 0.2]), r"n_targets \(3\) and the number of rates \(2\) differ"),
        (dict(n_targets=0, n_stable=0), "a benchmark needs targets"),
        (dict(bands=[(10, 30), (30, 80)], donor_band=(100, 5000), n_targets=20),
         "band 30-80: 10 donor words seen 100 to 5000 times in each slice; found"),
        (dict(bands=[(10, 30)], donor_band=(35, 5000), n_targets=4, n_stable=500),
         "500 stable words seen 10 to 30 times in each corpus; found"),
        (dict(design="insert", rates=[0.95], bands=[(25, 30)], donor_band=(35, 60), n_stable=0),
         "needs a donor seen at least"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            make_change_benchmark(lee, tmp_path / "bench", **kwargs)
        _nothing_left(tmp_path, "bench")


def test_an_error_while_writing_leaves_nothing(tmp_path, lee, monkeypatch):
    def half_written(tmp, c1, c2, design):
        benchmark._write_corpus(tmp / "corpus1" / "token" / "corpus1.txt.gz", c1)
        raise OSError("disk full")

    monkeypatch.setattr(benchmark, "_write_folder", half_written)
    with pytest.raises(OSError, match="disk full"):
        make_change_benchmark(lee, tmp_path / "bench", seed=1, **SETTINGS)
    _nothing_left(tmp_path, "bench")


def test_an_existing_folder_is_kept_unless_overwrite(tmp_path, lee):
    out = make_change_benchmark(lee, tmp_path / "bench", seed=1, **SETTINGS)
    before = (out / "targets.txt").read_text()
    with pytest.raises(FileExistsError, match="bench: the benchmark folder exists"):
        make_change_benchmark(lee, out, seed=2, **SETTINGS)
    assert (out / "targets.txt").read_text() == before
    make_change_benchmark(lee, out, seed=2, overwrite=True, **SETTINGS)
    assert (out / "targets.txt").read_text() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]


def test_per_pair_rates_in_the_synthetic_designs(lee):
    from pipeline.diachronic.synthetic import inject_change

    counts = Counter(w for s in lee for w in s)
    pairs = {"police": "fire", "government": "world"}
    out = inject_change(lee, pairs, {"police": 0.5, "government": 0.0}, "swap", random.Random(0))
    moved = Counter(b for s0, s1 in zip(lee, out) for a, b in zip(s0, s1) if a != b)
    assert moved == {"fire": round(0.5 * counts["fire"]), "police": round(0.5 * counts["fire"])}
    with pytest.raises(ValueError, match="no rate for donor\\(s\\) government"):
        inject_change(lee, pairs, {"police": 0.5}, "swap")
    with pytest.raises(ValueError, match="rate must be in \\[0, 1\\], not 1.5"):
        inject_change(lee, pairs, {"police": 0.5, "government": 1.5}, "insert")


# --------------------------------------------------------------------------------------------- gold.generate in a spec


def _generate_spec(root: Path, generate: str) -> Path:
    """A spec whose gold is generated from ``corpora/lee`` (100 articles of the Lee corpus), with ``generate``'s
    keys; the corpus folder is made once per ``root``."""
    corpus = root / "corpora" / "lee"
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        (corpus / "corpus.yaml").write_text("name: lee\nlanguage: en\nlicence: test\nsource: gensim lee\n"
                                            "files: '*.txt'\n")
        (corpus / "part1.txt").write_text("\n".join(LEE.read_text(encoding="utf-8").splitlines()[:100]) + "\n")
    spec = root / "bench.yaml"
    spec.write_text(f"gold:\n  generate: {{corpora: [lee], {generate}}}\n  kind: token\n")
    return spec


def _build_generated_gold(spec: Path, out: Path) -> dict:
    from pipeline.diachronic.spec import load_diachronic_spec
    from pipeline.diachronic.stages import GoldInputs, build_gold

    root = spec.parent
    inputs = GoldInputs(project=root, corpora=root / "corpora", downloads=root / "downloads", spec_file=spec)
    return build_gold(load_diachronic_spec(spec).gold, inputs, out)


@pytest.mark.parametrize("generate, key, fits, retry", [
    # a target band holding 2 words for 8 targets
    ("bands: [[60, 100]], donor_band: [120, 5000], n_targets: 8, n_stable: 0", "n_targets",
     r"found \d+ \(after 0 words taken by earlier bands\); n_targets (\d+) or fewer fits it", "n_targets"),
    ("bands: [[10, 30]], donor_band: [35, 5000], n_targets: 4, n_stable: 500", "n_stable",
     r"found \d+ not already drawn; n_stable (\d+) or fewer fits it", "n_stable"),
    # the donor band runs short before the target band does
    ("bands: [[10, 30]], donor_band: [35, 5000], n_targets: 30, n_stable: 0", "donor_band",
     r"30 donor words seen 35 to 5000 times in each slice; found \d+ .*lower n_targets \((\d+) or fewer", "n_targets"),
], ids=["n_targets", "n_stable", "donor_band"])
def test_a_generated_gold_the_corpus_cannot_hold_is_refused_naming_the_spec_and_the_key(tmp_path, generate, key,
                                                                                       fits, retry):
    """A band without enough words for n_targets / n_stable was a bare ValueError naming neither the spec, the
    corpus nor the key; now a SpecError names all three, and the number it says would fit does."""
    import re

    from pipeline.errors import SpecError

    spec = _generate_spec(tmp_path, generate)
    out = tmp_path / "gold"
    out.mkdir()
    with pytest.raises(SpecError, match=re.escape(f"{spec}: expected gold.generate.{key}: settings the text of "
                                                  f"{tmp_path / 'corpora' / 'lee'} can meet; ")) as exc:
        _build_generated_gold(spec, out)
    assert list(out.iterdir()) == []
    number = int(re.search(fits, str(exc.value)).group(1))
    assert number > 0
    spec = _generate_spec(tmp_path, re.sub(rf"{retry}: \d+", f"{retry}: {number}", generate))
    metrics = _build_generated_gold(spec, tmp_path / "gold")
    assert metrics["gold_targets"] >= number


def test_generate_settings_the_generator_refuses_are_refused_when_the_spec_loads(tmp_path):
    """bands [30, 10] (or insert up to max_rate 1) passed the spec and failed with a bare ValueError once the
    benchmark was being generated."""
    import re

    from pipeline.diachronic.spec import load_diachronic_spec
    from pipeline.errors import SpecError

    for generate, fragment in (("bands: [[30, 10]]", "bands: frequency bands [lo, hi] with 1 <= lo <= hi, not [30, 10]"),
                               ("donor_band: [5000, 500]", "donor_band: frequency bands [lo, hi] with 1 <= lo <= hi"),
                               ("design: insert, max_rate: 1.0", "max_rate: at most 0.99 with design insert")):
        spec = _generate_spec(tmp_path, generate)
        with pytest.raises(SpecError, match=re.escape(f"{spec}: expected gold.generate.{fragment}")):
            load_diachronic_spec(spec)
    assert load_diachronic_spec(_generate_spec(tmp_path, "design: insert, max_rate: 0.99")).gold.generate.max_rate \
        == 0.99
