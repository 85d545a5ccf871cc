"""Intrinsic evaluation (pipeline.evaluation) and the vector file contract (pipeline.vectors)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.evaluation import (
    analogy_accuracy,
    analogy_predictions,
    evaluate_vectors,
    similarity_spearman,
)
from pipeline.vectors import load_vectors, make_keyed_vectors, save_vectors


@pytest.fixture(scope="module")
def lee_vectors():
    """Word2Vec on gensim's Lee corpus, case kept so that case variants exist ("The", "the")."""
    from gensim.models import Word2Vec
    from gensim.test.utils import datapath

    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        sentences = [line.split() for line in f]
    model = Word2Vec(sentences, vector_size=32, min_count=1, epochs=2, seed=1, workers=1)
    return model.wv


def _gensim_correct(kv, path, restrict_vocab):
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab)
    total = sections[-1]
    return score, {tuple(q) for q in total["correct"]}, len(total["correct"]) + len(total["incorrect"])


@pytest.mark.parametrize("restrict_vocab", [300_000, 3000])
def test_analogy_matches_gensim_on_trained_vectors(lee_vectors, restrict_vocab):
    from gensim.test.utils import datapath

    path = datapath("questions-words.txt")
    score, correct, n = _gensim_correct(lee_vectors, path, restrict_vocab)
    results, n_questions = analogy_predictions(lee_vectors, path, restrict_vocab=restrict_vocab)
    ours = analogy_accuracy(lee_vectors, path, restrict_vocab=restrict_vocab)
    assert ours["n"] == n == len(results) > 0
    assert ours["accuracy"] == pytest.approx(score)
    assert {tuple(w.upper() for w in r[:4]) for r in results if r.correct} == correct
    assert ours["coverage"] == pytest.approx(n / n_questions)


def test_analogy_matches_gensim_with_nonzero_accuracy(tmp_path):
    """Synthetic country -> capital offsets: most questions solvable, plus a capitalised duplicate."""
    rng = np.random.default_rng(3)
    countries = [f"country{i}" for i in range(12)]
    capitals = [f"capital{i}" for i in range(12)]
    offset = rng.normal(size=16)
    base = rng.normal(size=(12, 16))
    noise = 0.6
    keys, rows = [], []
    for c, k, v in zip(countries, capitals, base):
        keys += [c, k]
        rows += [v, v + offset + noise * rng.normal(size=16)]
    keys += [f"filler{i}" for i in range(30)] + ["Capital3", "COUNTRY5"]
    rows += list(rng.normal(size=(30, 16))) + [rows[keys.index("capital3")] + 0.01, rng.normal(size=16)]
    kv = make_keyed_vectors(keys, np.array(rows))
    path = tmp_path / "questions.txt"
    lines = [": capital-world"]
    for i in range(12):
        for j in range(12):
            if i != j:
                lines.append(f"{countries[i]} {capitals[i]} {countries[j].upper()} {capitals[j].title()}")
    lines += [": oov", "country0 capital0 atlantis nowhere"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    score, correct, n = _gensim_correct(kv, path, 300_000)
    ours = analogy_accuracy(kv, path)
    results, _ = analogy_predictions(kv, path)
    assert 0.3 < score < 1.0  # the test means something only when some answers are right and some wrong
    assert ours["accuracy"] == pytest.approx(score)
    assert ours["n"] == n == 132
    assert ours["n_questions"] == 133
    assert {tuple(w.upper() for w in r[:4]) for r in results if r.correct} == correct


def test_similarity_spearman_by_hand():
    # unit vectors at known angles: cos = cos(angle difference)
    angles = {"a": 0, "b": 10, "c": 40, "d": 70, "e": 120}
    kv = make_keyed_vectors(
        list(angles), np.array([[math.cos(math.radians(t)), math.sin(math.radians(t))] for t in angles.values()])
    )
    # model similarities fall a-b > a-c > a-d > a-e; human scores swap the middle two
    pairs = [("a", "b", 9.0), ("a", "c", 5.0), ("A", "D", 6.0), ("a", "e", 1.0), ("a", "unknown", 3.0)]
    res = similarity_spearman(kv, pairs)
    # ranks model (1,2,3,4), human (1,3,2,4): rho = 1 - 6 * 2 / (4 * (16 - 1))
    assert res["spearman"] == pytest.approx(0.8)
    assert res["n"] == 4 and res["n_pairs"] == 5
    assert res["coverage"] == pytest.approx(0.8)
    assert similarity_spearman(kv, pairs, lowercase=False)["n"] == 3


def test_no_coverage_gives_none_not_zero():
    kv = make_keyed_vectors(["zzxq", "qqzx", "xxqz"], np.eye(3))
    metrics = evaluate_vectors(kv)
    for key in ("analogy_google_accuracy", "wordsim353_spearman", "simlex999_spearman"):
        assert metrics[key] is None
    assert metrics["analogy_google_coverage"] == 0.0
    assert metrics["analogy_google_n"] == 0
    assert '"analogy_google_accuracy": null' in json.dumps(metrics)
    assert similarity_spearman(kv, [])["coverage"] is None


@pytest.mark.parametrize(
    "content, expected",
    [
        # a NaN score parses as a float and would void the Spearman correlation of every other pair
        ("# comment\nold\tnew\t1.58\nsmart\tclever\tnan\n", r"pairs\.txt: expected .*finite score on line 3"),
        ("old\tnew\t1.58\nsmart\tclever\tinf\n", r"pairs\.txt: expected .*finite score on line 2"),
        ("old\tnew\t1.58\nsmart\tclever\n",
         r"pairs\.txt: expected 'word1<TAB>word2<TAB>score'.* on line 2; found 'smart\\tclever'"),
        (b"old\tnew\t1.58\ncaf\xe9\tbar\t2.0\n", r"pairs\.txt: expected UTF-8 text; invalid UTF-8 at byte 16 \(line 2, column 4\): bytes e9"),
        ("# only a comment\n\n", r"pairs\.txt: expected word pairs with scores .*; none"),
        # without tabs a fourth field is ambiguous: this line was read as score 1.5 and the 7 dropped
        ("old\tnew\t1.58\nsmart clever 1.5 7\n", r"pairs\.txt: expected 'word1<TAB>word2<TAB>score' \(or exactly 3 "
                                                 r"whitespace-separated fields\) on line 2; found 4 fields in "
                                                 r"'smart clever 1\.5 7'$"),
    ],
)
def test_a_malformed_word_pairs_file_names_the_file_and_line(tmp_path, content, expected):
    path = tmp_path / "pairs.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    kv = make_keyed_vectors(["old", "new", "smart", "clever"], np.eye(4))
    with pytest.raises(InputError, match=expected):
        similarity_spearman(kv, path)


def test_word_pairs_read_tabs_with_extra_columns_and_three_whitespace_fields(tmp_path):
    """The shapes real files have: gensim's simlex999.txt / wordsim353.tsv (3 tab columns), a SimLex-999-like file
    with columns after the score (tabs mark them), MEN-like space-separated triples."""
    from gensim.test.utils import datapath

    from pipeline.evaluation import read_word_pairs

    simlex = read_word_pairs(datapath("simlex999.txt"))
    assert len(simlex) == 999 and simlex[0] == ("old", "new", 1.58)
    assert len(read_word_pairs(datapath("wordsim353.tsv"))) == 353
    path = tmp_path / "pairs.txt"
    path.write_text("old\tnew\t1.58\t2.72\t2.07\nsun-n sunlight-n 50.0\n", encoding="utf-8")
    assert read_word_pairs(path) == [("old", "new", 1.58), ("sun-n", "sunlight-n", 50.0)]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", r"questions\.txt: expected analogy questions .*; none$"),
        # three words a line: every line skipped, which once gave accuracy and coverage None in silence
        (": family\nboy girl brother\nman woman king\n", r"questions\.txt: expected analogy questions "
                                                        r".*; none; 2 lines skipped for not being four words"),
        (b": family\nboy girl brother sister\nman woman k\xf6nig queen\n",
         r"questions\.txt: expected UTF-8 text; invalid UTF-8 at byte \d+ \(line 3, column 12\): bytes f6"),
    ],
)
def test_a_malformed_analogy_file_names_the_file(tmp_path, content, expected):
    path = tmp_path / "questions.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    kv = make_keyed_vectors(["boy", "girl", "brother", "sister"], np.eye(4))
    with pytest.raises(InputError, match=expected):
        analogy_accuracy(kv, path)


def test_evaluate_vectors_keys_and_coverage(lee_vectors):
    metrics = evaluate_vectors(lee_vectors)
    assert {
        "analogy_google_accuracy",
        "analogy_google_coverage",
        "analogy_google_n",
        "wordsim353_spearman",
        "wordsim353_coverage",
        "simlex999_spearman",
        "simlex999_coverage",
    } <= set(metrics)
    assert 0 < metrics["analogy_google_coverage"] < 1
    assert 0 < metrics["wordsim353_coverage"] < 1
    # the similarity scores are gensim's own evaluate_word_pairs on the same files (case-insensitive lookup,
    # 300k most frequent words), and its out-of-vocabulary ratio is the uncovered share
    from gensim.test.utils import datapath

    for name, file_name in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        _, spearman, oov_percent = lee_vectors.evaluate_word_pairs(datapath(file_name))
        assert metrics[f"{name}_spearman"] == pytest.approx(spearman.statistic, abs=1e-12), name
        assert metrics[f"{name}_coverage"] == pytest.approx(1 - oov_percent / 100), name
    json.dumps(metrics)  # plain Python types only


def test_vec_round_trip_with_multiword_key(tmp_path):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 5)).astype(np.float32)
    kv = make_keyed_vectors(["new york", "city", "état", "los  angeles"], vectors, counts=[40, 30, 20, 10])
    paths = save_vectors(kv, tmp_path / "sub" / "vectors")
    assert paths["vec"].name == "vectors.vec" and paths["kv"].name == "vectors.kv"
    assert paths["vec"].read_text(encoding="utf-8").splitlines()[0] == "4 5"

    expected_keys = ["new_york", "city", "état", "los_angeles"]
    for form in ("vec", "npy", "kv"):
        back = load_vectors(paths[form], allow_pickle=form == "kv")  # .kv is gensim's pickle: only when asked
        assert back.index_to_key == expected_keys
        np.testing.assert_allclose(back.vectors, vectors, rtol=1e-6, atol=1e-6)
        assert [int(back.get_vecattr(k, "count")) for k in expected_keys] == [40, 30, 20, 10]
    theirs = KeyedVectors.load_word2vec_format(str(paths["vec"]), binary=False)
    assert theirs.index_to_key == expected_keys
    np.testing.assert_allclose(theirs["new_york"], vectors[0], rtol=1e-6, atol=1e-6)


def test_vec_without_counts(tmp_path):
    kv = make_keyed_vectors(["a", "b"], np.eye(2))
    paths = save_vectors(kv, tmp_path / "v")
    assert "vocab" not in paths
    back = load_vectors(paths["vec"])
    assert "count" not in back.expandos


@pytest.mark.parametrize(
    "text, line",
    [
        ("3 2\na 0.1 0.2\nb 0.3\nc 0.5 0.6\n", "line 3"),
        ("3 two\na 0.1 0.2\n", "line 1"),
        ("2 2\na 0.1 0.2\nb 0.1 zero\n", "line 3"),
        ("2 2\na 0.1 0.2\na 0.1 0.3\n", "line 3"),
    ],
)
def test_malformed_vec_names_the_line(tmp_path, text, line):
    path = tmp_path / "bad.vec"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_vectors(path)
    assert line in str(err.value) and "bad.vec" in str(err.value)


def test_vec_with_fewer_rows_than_header(tmp_path):
    path = tmp_path / "short.vec"
    path.write_text("3 2\na 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="3 vectors"):
        load_vectors(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_vectors(tmp_path / "nothing.vec")
    other = tmp_path / "x.bin"
    other.write_bytes(b"\0")
    with pytest.raises(InputError, match=".vec"):
        load_vectors(other)
