"""Semantic change measures (pipeline.diachronic.change), Procrustes (pipeline.alignment) and plots
(pipeline.diachronic.plots)."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from pipeline.alignment import align_keyed_vectors, procrustes
from pipeline.diachronic.change import (
    average_precision,
    change_table,
    default_pairs,
    mean_reciprocal_rank,
    nearest_neighbours,
    stability_across_seeds,
    top_changed,
)
from pipeline.errors import InputError
from pipeline.vectors import make_keyed_vectors

N_WORDS, DIM = 300, 24


def _slices(n_slices=2, changed="w17", noise=0.05, seed=0, counts=None):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(N_WORDS)]
    base = rng.normal(size=(N_WORDS, DIM))
    slices = {}
    for s in range(n_slices):
        vectors = base + noise * rng.normal(size=base.shape)
        if s > 0 and changed:
            vectors[words.index(changed)] = rng.normal(size=DIM)
        slices[str(1900 + 50 * s)] = make_keyed_vectors(words, vectors, counts or [10] * N_WORDS)
    return slices


def _angle_kv(angles: dict[str, float], counts=None):
    return make_keyed_vectors(
        list(angles),
        np.array([[math.cos(math.radians(t)), math.sin(math.radians(t))] for t in angles.values()]),
        counts or [10] * len(angles),
    )


# --------------------------------------------------------------------------- alignment


def test_procrustes_recovers_rotation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 20))
    Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    W = procrustes(X, X @ Q)
    np.testing.assert_allclose(W, Q, atol=1e-6)
    np.testing.assert_allclose(W @ W.T, np.eye(20), atol=1e-9)


def test_align_keyed_vectors_maps_into_target_space():
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(100)]
    tgt = rng.normal(size=(100, 8))
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    kv_src = make_keyed_vectors(words + ["only_src"], np.vstack([tgt @ Q.T, rng.normal(size=(1, 8))]), [5] * 101)
    kv_tgt = make_keyed_vectors(words[::-1], tgt[::-1])  # a different order on purpose
    aligned = align_keyed_vectors(kv_src, kv_tgt)
    assert aligned.index_to_key == kv_src.index_to_key
    assert int(aligned.get_vecattr("w3", "count")) == 5
    for w in ("w0", "w42"):
        cos = aligned[w] @ kv_tgt[w] / np.linalg.norm(aligned[w]) / np.linalg.norm(kv_tgt[w])
        assert cos == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError, match="anchor"):
        align_keyed_vectors(kv_src, kv_tgt, anchors=[("nope", "nada")])


# --------------------------------------------------------------------------- change table


def test_default_pairs():
    assert default_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    assert default_pairs(["a", "b"]) == [("a", "b")]
    table = change_table(_slices(3), k=5)
    pairs = table.select("slice_a", "slice_b").unique(maintain_order=True).rows()
    assert pairs == [("1900", "1950"), ("1950", "2000"), ("1900", "2000")]


def test_replaced_word_ranks_first_by_both_measures():
    table = change_table(_slices(2), k=10)
    assert table.columns[:9] == [
        "word", "slice_a", "slice_b", "freq_a", "freq_b", "cosine_distance",
        "local_neighbourhood_distance", "rank_cosine", "rank_local_neighbourhood",
    ]
    assert table.height == N_WORDS
    assert table.filter(pl.col("rank_cosine") == 1)["word"].item() == "w17"
    assert table.filter(pl.col("rank_local_neighbourhood") == 1)["word"].item() == "w17"
    assert top_changed(table, n=1, measure="local_neighbourhood_distance")["word"].to_list() == ["w17"]
    assert sorted(table["rank_cosine"].to_list()) == list(range(1, N_WORDS + 1))


def test_min_freq_filters_on_both_slices():
    slices = _slices(2)
    counts = np.full(N_WORDS, 10)
    counts[[3, 4]] = 2
    slices["1950"].expandos["count"] = counts
    words = set(change_table(slices, min_freq=5, k=5)["word"])
    assert "w3" not in words and "w4" not in words and len(words) == N_WORDS - 2
    assert len(change_table(slices, min_freq=2, k=5)) == N_WORDS
    table = change_table(slices, min_freq=5, k=5)
    assert table["freq_a"].min() >= 5 and table["freq_b"].min() >= 5


def test_missing_counts_need_min_freq_zero():
    words = ["a", "b", "c"]
    slices = {"x": make_keyed_vectors(words, np.eye(3)), "y": make_keyed_vectors(words, np.eye(3))}
    with pytest.raises(InputError, match="count"):
        change_table(slices)
    table = change_table(slices, min_freq=0, k=1)
    assert table["freq_a"].null_count() == 3


@pytest.mark.parametrize("rename, found", [
    (False, "300 shared word(s), none frequent enough in both: lower min_freq"),
    (True, "the two slices share no word"),
])
def test_a_pair_with_no_word_to_compare_is_refused_naming_the_files(tmp_path, rename, found):
    """Slices too small for report.min_freq (or sharing no word) used to give numpy nan warnings, an empty
    change.parquet and top list, then a plot's "an empty table" naming no file."""
    from pipeline.diachronic import stages
    from pipeline.diachronic.settings import ReportSettings
    from pipeline.vectors import save_vectors

    folders = {}
    for name, kv in _slices(2, counts=[3] * N_WORDS).items():
        if rename and name == "1950":
            kv = make_keyed_vectors([f"{w}x" for w in kv.index_to_key], kv.vectors, [3] * N_WORDS)
        folders[name] = tmp_path / name
        folders[name].mkdir()
        save_vectors(kv, folders[name] / "vectors")
    out = tmp_path / "report"
    out.mkdir()
    with pytest.raises(InputError) as exc:
        stages.build_report(ReportSettings(min_freq=5, stopwords="none"), {1: folders}, out)
    msg = str(exc.value)
    assert msg.startswith(f"{folders['1900'] / 'vectors.npy'}, {folders['1950'] / 'vectors.npy'}: expected words that "
                          "slices '1900' and '1950' share with a count of at least min_freq=5 in each"), msg
    assert found in msg, msg
    assert not list(out.iterdir())  # refused before any file of the report is written
    if not rename:
        assert len(change_table(_slices(2, counts=[3] * N_WORDS), min_freq=3, k=5)) == N_WORDS  # the floor met


def test_local_neighbourhood_distance_by_hand():
    # k=1. In a: w's nearest neighbour is x (30 deg); in b: y (10 deg). N = {x, y}.
    a = _angle_kv({"w": 0, "x": 30, "y": 90, "z": 180})
    b = _angle_kv({"w": 80, "x": 30, "y": 90, "z": 180})
    table = change_table({"a": a, "b": b}, k=1)
    c = lambda deg: math.cos(math.radians(deg))  # noqa: E731
    s_a = np.array([c(30), c(90)])
    s_b = np.array([c(50), c(10)])
    expected = 1 - s_a @ s_b / (np.linalg.norm(s_a) * np.linalg.norm(s_b))
    row = table.filter(pl.col("word") == "w")
    assert row["local_neighbourhood_distance"].item() == pytest.approx(expected, abs=1e-6)
    assert row["cosine_distance"].item() == pytest.approx(1 - c(80), abs=1e-6)


def _naive_local(Xa, Xb, k):
    def unit(m):
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    Xa, Xb = unit(Xa), unit(Xb)
    out = []
    for i in range(len(Xa)):
        sa, sb = Xa @ Xa[i], Xb @ Xb[i]
        sa_, sb_ = sa.copy(), sb.copy()
        sa_[i] = sb_[i] = -np.inf
        union = sorted(set(np.argsort(-sa_)[:k]) | set(np.argsort(-sb_)[:k]))
        va, vb = sa[union], sb[union]
        out.append(1 - va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
    return np.array(out)


def test_local_neighbourhood_matches_naive_loop_across_blocks():
    rng = np.random.default_rng(5)
    n, k = 700, 6  # 700 // (4 * 6) > 8: the sampled-threshold path of the top-k search
    Xa = rng.normal(size=(n, 10))
    Xb = Xa + 0.7 * rng.normal(size=(n, 10))
    words = [f"w{i}" for i in range(n)]
    slices = {"a": make_keyed_vectors(words, Xa, [9] * n), "b": make_keyed_vectors(words, Xb, [9] * n)}
    table = change_table(slices, k=k, block_elements=50 * n)  # 14 blocks
    got = dict(zip(table["word"], table["local_neighbourhood_distance"]))
    expected = _naive_local(Xa.astype(np.float32), Xb.astype(np.float32), k)
    np.testing.assert_allclose([got[w] for w in words], expected, atol=1e-5)


def test_top_changed_pair_selection():
    table = change_table(_slices(3), k=5)
    top = top_changed(table, pair=("1950", "2000"), n=3)
    assert top.height == 3 and top["rank"].to_list() == [1, 2, 3]
    assert set(top["slice_a"]) == {"1950"}
    assert top_changed(table, n=2).height == 6
    with pytest.raises(InputError, match="pair"):
        top_changed(table, pair=("2000", "1900"))


# --------------------------------------------------------------------------- stability


def _table(words, values, pair=("a", "b")):
    return pl.DataFrame(
        {"word": words, "slice_a": pair[0], "slice_b": pair[1], "cosine_distance": values}
    )


def test_stability_identical_tables_is_one():
    table = change_table(_slices(3), k=5)
    frame, jaccard = stability_across_seeds([table, table, table], n=10)
    assert jaccard == pytest.approx(1.0)
    assert frame.height == 30
    assert frame["fraction_top"].to_list() == [1.0] * 30
    assert frame["std_rank"].max() == 0.0


def test_stability_disjoint_tables_is_zero():
    t1 = _table(["a", "b", "c", "d"], [0.9, 0.8, 0.1, 0.0])
    t2 = _table(["a", "b", "c", "d"], [0.0, 0.1, 0.8, 0.9])
    frame, jaccard = stability_across_seeds([t1, t2], n=2)
    assert jaccard == 0.0
    assert set(frame["word"]) == {"a", "b", "c", "d"}
    assert frame["fraction_top"].to_list() == [0.5] * 4
    row = frame.filter(pl.col("word") == "a")
    assert row["mean_rank"].item() == pytest.approx(2.5)  # ranks 1 and 4
    assert row["mean_cosine_distance"].item() == pytest.approx(0.45)
    assert stability_across_seeds([t1], n=2)[1] is None


# --------------------------------------------------------------------------- neighbours and benchmarks


def test_nearest_neighbours():
    slices = {"a": _angle_kv({"w": 0, "x": 30, "y": 90}), "b": _angle_kv({"x": 30, "y": 90})}
    nn = nearest_neighbours(slices, "w", k=2)
    assert nn.columns == ["slice", "rank", "neighbour", "similarity"]
    assert nn["neighbour"].to_list() == ["x", "y"] and set(nn["slice"]) == {"a"}
    assert nn["similarity"][0] == pytest.approx(math.cos(math.radians(30)), abs=1e-6)
    with pytest.raises(InputError, match="at least one slice"):
        nearest_neighbours(slices, "nowhere")


def test_average_precision_and_mrr():
    ranking = ["a", "x", "b", "y", "c"]
    assert average_precision(ranking, {"a", "b", "c", "d"}) == pytest.approx((1 + 2 / 3 + 3 / 5) / 4)
    assert average_precision(["x", "y"], {"a"}) == 0.0
    assert average_precision(["a", "a", "b"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="at least one relevant word"):
        average_precision(ranking, set())
    assert mean_reciprocal_rank([["a"], ["x", "b"], ["x"]], [{"a"}, {"b"}, {"z"}]) == pytest.approx(0.5)


# --------------------------------------------------------------------------- plots


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_plots_write_png(tmp_path):
    from pipeline.diachronic.plots import plot_slice_stats, plot_top_changed, plot_trajectory

    slices = _slices(3)
    table = change_table(slices, k=5)
    assert _is_png(plot_trajectory(slices, "w17", tmp_path / "traj.png", k=4))
    assert _is_png(plot_top_changed(table, tmp_path / "top.png", n=10))
    assert _is_png(plot_top_changed(table, tmp_path / "top_local.png", pair=("1900", "1950"),
                                    measure="local_neighbourhood_distance"))
    stats = pl.DataFrame({"slice": ["1900", "1950", "2000"], "tokens": [12000, 30500, 8000], "types": [900, 1500, 700]})
    assert _is_png(plot_slice_stats(stats, tmp_path / "plots" / "stats.png"))
    with pytest.raises(InputError, match="at least one slice"):
        plot_trajectory(slices, "nowhere", tmp_path / "x.png")
