"""Semantic change between time slices whose vectors live in one space.

The slices come from CADE (one shared output matrix, so no alignment is needed)
or from independent models aligned with orthogonal Procrustes (:mod:`.procrustes`).
Two measures of change for a word ``w`` between slices ``a`` and ``b``:

* ``cosine_distance``: ``1 - cos(w_a, w_b)`` -- the global measure.
* ``euclidean_distance``: ``||c(w_a) - c(w_b)||``, where the rows are length-normalised and then
  mean-centred over the words the two slices share (``c``), the preprocessing of Schlechtweg et al.
  (2019, "A Wind of Change"); with SGNS + orthogonal Procrustes it was the best type-based measure of
  SemEval-2020 Task 1. (Without the centring it would order words exactly as cosine distance.)
* ``local_neighbourhood_distance`` (Hamilton, Leskovec, Jurafsky 2016,
  "Cultural shift or linguistic drift?"): ``N`` = union of the ``k`` nearest
  neighbours of ``w`` in ``a`` and in ``b``; ``s_a`` = cosine similarities of
  ``w_a`` to each ``n_a`` (n in N), ``s_b`` likewise in ``b``; the measure is
  ``1 - cos(s_a, s_b)``. It compares second-order similarities only, so it
  needs no shared space and is less sensitive to global drift.

>>> import numpy as np
>>> from pipeline.vectors import make_keyed_vectors
>>> rng = np.random.default_rng(0)
>>> words = [f"w{i}" for i in range(50)]
>>> X = rng.normal(size=(50, 10)).astype(np.float32)
>>> Y = X.copy(); Y[7] = rng.normal(size=10)
>>> slices = {"1900": make_keyed_vectors(words, X, [10] * 50), "2000": make_keyed_vectors(words, Y, [10] * 50)}
>>> table = change_table(slices, k=5)
>>> top_changed(table, n=1)["word"].to_list()
['w7']
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Iterable, Mapping, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from gensim.models import KeyedVectors

__all__ = [
    "default_pairs",
    "table_pairs",
    "change_table",
    "top_changed",
    "left_out_words",
    "stability_across_seeds",
    "nearest_neighbours",
    "average_precision",
    "mean_reciprocal_rank",
    "MEASURES",
]

from .settings import MEASURES  # noqa: E402 (with the report settings, which specs read without numpy)

_PAIR = ["slice_a", "slice_b"]


def default_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Consecutive slices in the given order, plus first-vs-last when that is not already one of them.

    >>> default_pairs(["1900", "1950", "2000"])
    [('1900', '1950'), ('1950', '2000'), ('1900', '2000')]
    >>> default_pairs(["a", "b"])
    [('a', 'b')]
    """
    names = list(names)
    pairs = list(zip(names, names[1:]))
    if len(names) > 2:
        pairs.append((names[0], names[-1]))
    return pairs


def _unit(m: np.ndarray) -> np.ndarray:
    import numpy as np

    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest entries of each row (in no particular order).

    ``np.argpartition`` over a whole row is the slow part of a neighbour search,
    so first take the k-th largest of every ``step``-th column: a lower bound on
    the row's k-th largest that leaves about ``k * step`` candidates per row,
    which are then sorted exactly.
    """
    import numpy as np

    b, n = scores.shape
    step = max(1, min(8, n // (4 * k)))
    threshold = np.partition(scores[:, ::step], -k, axis=1)[:, -k]
    # flatnonzero is several times faster than a 2-D nonzero; rows come out in order
    rows, cols = np.divmod(np.flatnonzero(scores >= threshold[:, None]), n)
    counts = np.bincount(rows, minlength=b)  # >= k: the sampled columns alone hold k
    starts = np.cumsum(counts) - counts
    dense = np.full((b, int(counts.max())), -np.inf, dtype=scores.dtype)
    slot = np.arange(len(rows)) - starts[rows]
    dense[rows, slot] = scores[rows, cols]
    dense_cols = np.zeros(dense.shape, dtype=np.int64)
    dense_cols[rows, slot] = cols
    best = np.argpartition(-dense, k - 1, axis=1)[:, :k] if dense.shape[1] > k else np.arange(k)[None, :]
    return np.take_along_axis(dense_cols, np.broadcast_to(best, (b, k)), axis=1)


def _local_neighbourhood_distance(Xa: np.ndarray, Xb: np.ndarray, k: int, block_elements: int) -> np.ndarray:
    """Hamilton et al.'s measure for every row, given unit rows of the same words in two slices."""
    import numpy as np

    n = Xa.shape[0]
    out = np.empty(n, dtype=np.float64)
    block = max(1, min(n, block_elements // max(n, 1)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        r = np.arange(stop - start)
        Sa = Xa[start:stop] @ Xa.T
        Sb = Xb[start:stop] @ Xb.T
        # a word is not its own neighbour; its own column never enters the gathered values below
        Sa[r, r + start] = -np.inf
        Sb[r, r + start] = -np.inf
        union = np.sort(np.concatenate([_top_k(Sa, k), _top_k(Sb, k)], axis=1), axis=1)
        first = np.ones(union.shape, dtype=bool)
        first[:, 1:] = union[:, 1:] != union[:, :-1]  # a neighbour in both lists counts once
        sa = np.take_along_axis(Sa, union, axis=1).astype(np.float64) * first
        sb = np.take_along_axis(Sb, union, axis=1).astype(np.float64) * first
        denom = np.linalg.norm(sa, axis=1) * np.linalg.norm(sb, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = 1.0 - np.einsum("ij,ij->i", sa, sb) / denom
    return out


def _ordinal_rank_desc(values: np.ndarray) -> np.ndarray:
    """1 for the largest value; NaN last; ties in input order."""
    import numpy as np

    key = np.where(np.isnan(values), -np.inf, values)
    order = np.argsort(-key, kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(1, len(values) + 1)
    return rank


def _counts(kv: "KeyedVectors", name: str, rows: np.ndarray, min_freq: int | None, where=None) -> np.ndarray | None:
    import numpy as np
    from ..vectors import has_counts

    if has_counts(kv):
        return np.asarray(kv.expandos["count"], dtype=np.int64)[rows]
    if min_freq:
        raise InputError(
            where,
            f"word counts (gensim vecattr 'count') in slice '{name}' to apply min_freq={min_freq}",
            "the vectors carry none; pass min_freq=0 to use every shared word",
        )
    return None


def _pair_table(
    kva: "KeyedVectors", kvb: "KeyedVectors", a: str, b: str, min_freq: int | None, k: int, block_elements: int,
    sources: Mapping[str, object],
) -> "pl.DataFrame":
    import numpy as np
    import polars as pl

    words = [w for w in kva.index_to_key if w in kvb.key_to_index]
    ia = np.fromiter((kva.key_to_index[w] for w in words), dtype=np.int64, count=len(words))
    ib = np.fromiter((kvb.key_to_index[w] for w in words), dtype=np.int64, count=len(words))
    fa, fb = _counts(kva, a, ia, min_freq, sources.get(a)), _counts(kvb, b, ib, min_freq, sources.get(b))
    shared = len(words)
    if min_freq and fa is not None:
        keep = (fa >= min_freq) & (fb >= min_freq)
        words = [w for w, kept in zip(words, keep) if kept]
        ia, ib, fa, fb = ia[keep], ib[keep], fa[keep], fb[keep]
    if not words:  # nothing to compare: refused here rather than as an empty report (and numpy's nan warnings)
        where = ", ".join(str(sources[s]) for s in (a, b) if s in sources) or None
        floor = f" with a count of at least min_freq={min_freq} in each" if min_freq else ""
        raise InputError(where, f"words that slices '{a}' and '{b}' share{floor}",
                         f"{shared} shared word(s), none frequent enough in both: lower min_freq (report.min_freq "
                         "of a spec) or give the slices more text" if shared else "the two slices share no word")
    Xa, Xb = _unit(kva.vectors[ia]), _unit(kvb.vectors[ib])
    cosine = 1.0 - np.einsum("ij,ij->i", Xa.astype(np.float64), Xb.astype(np.float64))
    # length-normalised, then mean-centred over the pair's words (Schlechtweg et al. 2019's preprocessing)
    Ca, Cb = Xa.astype(np.float64), Xb.astype(np.float64)
    Ca, Cb = Ca - Ca.mean(axis=0), Cb - Cb.mean(axis=0)
    euclidean = np.linalg.norm(Ca - Cb, axis=1)
    kk = min(k, len(words) - 1)
    if kk >= 1:
        local = _local_neighbourhood_distance(Xa, Xb, kk, block_elements)
    else:
        local = np.full(len(words), np.nan)
    frame = pl.DataFrame(
        {
            "word": pl.Series(words, dtype=pl.String),
            "slice_a": pl.Series([a] * len(words), dtype=pl.String),
            "slice_b": pl.Series([b] * len(words), dtype=pl.String),
            "freq_a": pl.Series(fa if fa is not None else [None] * len(words), dtype=pl.Int64),
            "freq_b": pl.Series(fb if fb is not None else [None] * len(words), dtype=pl.Int64),
            "cosine_distance": pl.Series(cosine, dtype=pl.Float64),
            "local_neighbourhood_distance": pl.Series(local, dtype=pl.Float64).fill_nan(None),
            "rank_cosine": pl.Series(_ordinal_rank_desc(cosine), dtype=pl.Int64),
            "rank_local_neighbourhood": pl.Series(_ordinal_rank_desc(local), dtype=pl.Int64),
            "euclidean_distance": pl.Series(euclidean, dtype=pl.Float64),
        }
    )
    return frame.sort("rank_cosine")


def change_table(
    slices: Mapping[str, "KeyedVectors"],
    pairs: Iterable[tuple[str, str]] | None = None,
    min_freq: int | None = 5,
    k: int = 25,
    block_elements: int = 2**23,
    sources: Mapping[str, object] | None = None,
) -> "pl.DataFrame":
    """One row per (slice pair, word): how much the word moved between the two slices.

    ``slices`` maps slice names to vectors in one space, in time order.
    ``pairs`` defaults to :func:`default_pairs`. A word is listed for a pair
    when both slices have it with a count (vecattr ``"count"``) of at least
    ``min_freq`` in each (``min_freq=0``/``None``: every shared word, counts
    not needed). Nearest neighbours for the local measure are searched among
    the same words. ``block_elements`` bounds one block of the similarity
    matrix (memory: a few times that many floats). ``sources`` (slice name -> the file its vectors came from)
    names the files in errors. A pair with no word to compare (none shared, or none frequent enough) raises
    :class:`~pipeline.errors.InputError`.

    Columns: ``word, slice_a, slice_b, freq_a, freq_b, cosine_distance,
    local_neighbourhood_distance, rank_cosine, rank_local_neighbourhood, euclidean_distance``
    (``euclidean_distance``: ``||c(w_a) - c(w_b)||`` with rows length-normalised and then
    mean-centred over the pair's words, the measure of SemEval-2020's best type-based system)
    (ranks: 1 = most changed within the pair); rows grouped by pair, most
    changed by cosine first.
    """
    import polars as pl

    names = list(slices)
    if len(names) < 2 and pairs is None:
        raise InputError(None, "at least two slices to compare", f"{len(names)}: {names}")
    pairs = default_pairs(names) if pairs is None else [tuple(p) for p in pairs]
    for pair in pairs:
        missing = [s for s in pair if s not in slices]
        if len(pair) != 2 or missing:
            raise InputError(None, f"pairs of slice names from {names}", f"pair {pair!r}")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    frames = [_pair_table(slices[a], slices[b], a, b, min_freq, k, block_elements, sources or {}) for a, b in pairs]
    return pl.concat(frames, how="vertical")


def _check_measure(table: "pl.DataFrame", measure: str) -> None:
    if measure not in table.columns:
        raise InputError(None, f"a change table with a '{measure}' column", f"columns {table.columns}")


def table_pairs(table: "pl.DataFrame") -> list[tuple[str, str]]:
    """The (slice_a, slice_b) pairs of a change table, in order of appearance."""
    return [tuple(row) for row in table.select(_PAIR).unique(maintain_order=True).iter_rows()]


def _ranked(table: "pl.DataFrame", measure: str) -> "pl.DataFrame":
    """Rows with a value for ``measure``, with ``rank`` (1 = largest) within each pair."""
    import polars as pl

    return table.filter(pl.col(measure).is_not_null() & pl.col(measure).is_not_nan()).with_columns(
        pl.col(measure).rank("ordinal", descending=True).over(_PAIR).cast(pl.Int64).alias("rank")
    )


def left_out_words(words: "pl.Series", stopwords: Collection[str] | None = None, min_letters: int = 0) -> "pl.Series":
    """For each word, whether a top list leaves it out: it is one of ``stopwords`` (compared lower-cased), or it has
    fewer than ``min_letters`` letters (``1``: numbers and punctuation are no words to list).

    >>> import polars as pl
    >>> left_out_words(pl.Series(["The", "union", "1790", "o'er"]), {"the"}, min_letters=1).to_list()
    [True, False, True, False]
    """
    import polars as pl

    if stopwords:
        out = words.str.to_lowercase().is_in(sorted({w.lower() for w in stopwords}))
    else:
        out = pl.Series([False] * len(words), dtype=pl.Boolean)
    if min_letters > 0:
        out = out | (words.str.count_matches(r"\p{L}") < min_letters)
    return out.alias("stopword")


def top_changed(
    table: "pl.DataFrame", pair: tuple[str, str] | None = None, n: int = 20, measure: str = "cosine_distance", *,
    stopwords: Collection[str] | None = None, min_letters: int = 0,
) -> "pl.DataFrame":
    """The ``n`` most changed words by ``measure``, for ``pair`` or for each pair of the table.

    ``stopwords`` and ``min_letters`` leave words out first (see :func:`left_out_words`), so the list holds
    the ``n`` most changed of the words kept, in the order of the full ranking.

    Returns the table's rows plus ``rank`` (1 = most changed; among the words kept), sorted by pair then rank.

    >>> import polars as pl
    >>> t = pl.DataFrame({"word": ["of", "war", "been", "peace"], "slice_a": "a", "slice_b": "b",
    ...                   "cosine_distance": [0.9, 0.8, 0.7, 0.6]})
    >>> top_changed(t, n=2, stopwords={"of", "been"})["word"].to_list()
    ['war', 'peace']
    """
    import polars as pl

    _check_measure(table, measure)
    if pair is not None:
        pair = tuple(pair)
        if pair not in table_pairs(table):
            raise InputError(None, f"a slice pair of the table, one of {table_pairs(table)}", f"{pair!r}")
        table = table.filter((pl.col("slice_a") == pair[0]) & (pl.col("slice_b") == pair[1]))
    if stopwords or min_letters > 0:
        table = table.filter(~left_out_words(table["word"], stopwords, min_letters))
    order = {p: i for i, p in enumerate(table_pairs(table))}
    ranked = _ranked(table, measure).filter(pl.col("rank") <= n)
    pair_order = [order[(a, b)] for a, b in ranked.select(_PAIR).iter_rows()]
    return (
        ranked.with_columns(pl.Series("_pair", pair_order, dtype=pl.Int64))
        .sort(["_pair", "rank"])
        .drop("_pair")
    )


def stability_across_seeds(
    tables: Sequence["pl.DataFrame"], n: int = 20, measure: str = "cosine_distance"
) -> tuple["pl.DataFrame", float | None]:
    """How stable the top-``n`` most changed words are across runs with different seeds.

    For every pair and every word in the union of the per-seed top-``n`` lists:
    ``fraction_top`` (share of seeds that rank it in the top ``n``),
    ``n_seeds_present`` (seeds whose table has the word), ``mean_rank``,
    ``std_rank``, ``mean_<measure>``, ``std_<measure>`` (over the seeds that
    have it; std with ddof=1, null for one value) and ``pair_jaccard`` (mean
    Jaccard index of the top-``n`` sets over all pairs of seeds, for that slice
    pair).

    Returns ``(frame, jaccard)``: ``jaccard`` is ``pair_jaccard`` averaged over
    slice pairs, ``None`` with fewer than two tables. Identical runs give 1.0,
    runs with disjoint top lists 0.0.
    """
    import numpy as np
    import polars as pl

    if not tables:
        raise ValueError("need at least one change table")
    for t in tables:
        _check_measure(t, measure)
    ranked = pl.concat(
        [_ranked(t, measure).select([*_PAIR, "word", measure, "rank"]).with_columns(pl.lit(i).alias("seed"))
         for i, t in enumerate(tables)],
        how="vertical",
    ).with_columns((pl.col("rank") <= n).alias("top"))
    pair_order: dict[tuple[str, str], int] = {}
    for t in tables:
        for p in table_pairs(t):
            pair_order.setdefault(p, len(pair_order))

    jaccards: dict[tuple[str, str], float | None] = {}
    for pair in pair_order:
        sets = [
            set(ranked.filter((pl.col("seed") == i) & pl.col("top") & (pl.col("slice_a") == pair[0])
                              & (pl.col("slice_b") == pair[1]))["word"].to_list())
            for i in range(len(tables))
        ]
        scores = [
            len(sets[i] & sets[j]) / len(sets[i] | sets[j]) if sets[i] | sets[j] else 1.0
            for i in range(len(sets)) for j in range(i + 1, len(sets))
        ]
        jaccards[pair] = float(np.mean(scores)) if scores else None

    union = ranked.filter(pl.col("top")).select([*_PAIR, "word"]).unique()
    frame = (
        ranked.join(union, on=[*_PAIR, "word"], how="semi")
        .group_by([*_PAIR, "word"])
        .agg(
            (pl.col("top").sum() / len(tables)).alias("fraction_top"),
            pl.len().cast(pl.Int64).alias("n_seeds_present"),
            pl.col("rank").mean().alias("mean_rank"),
            pl.col("rank").std().alias("std_rank"),
            pl.col(measure).mean().alias(f"mean_{measure}"),
            pl.col(measure).std().alias(f"std_{measure}"),
        )
    )
    frame = frame.with_columns(
        pl.Series("pair_jaccard", [jaccards[p] for p in frame.select(_PAIR).iter_rows()], dtype=pl.Float64),
        pl.Series("_pair", [pair_order[p] for p in frame.select(_PAIR).iter_rows()], dtype=pl.Int64),
    ).sort(["_pair", "fraction_top", "mean_rank", "word"], descending=[False, True, False, False]).drop("_pair")
    values = [j for j in jaccards.values() if j is not None]
    return frame, (float(np.mean(values)) if values else None)


def nearest_neighbours(slices: Mapping[str, "KeyedVectors"], word: str, k: int = 10) -> "pl.DataFrame":
    """The ``k`` nearest neighbours (cosine) of ``word`` in every slice that has it.

    Columns: ``slice, rank, neighbour, similarity``. Raises
    :class:`~pipeline.errors.InputError` when no slice has the word.
    """
    import polars as pl

    rows = []
    for name, kv in slices.items():
        if word not in kv.key_to_index:
            continue
        for rank, (neighbour, sim) in enumerate(kv.most_similar(word, topn=k), start=1):
            rows.append((name, rank, neighbour, float(sim)))
    if not rows and not any(word in kv.key_to_index for kv in slices.values()):
        raise InputError(None, f"word '{word}' in at least one slice", f"not in any of {list(slices)}")
    return pl.DataFrame(
        rows,
        schema={"slice": pl.String, "rank": pl.Int64, "neighbour": pl.String, "similarity": pl.Float64},
        orient="row",
    )


def average_precision(ranked_words: Sequence[str], relevant: set[str]) -> float:
    """Average precision of a ranking against a set of relevant words.

    ``AP = (1/|R|) * sum over ranks i holding a relevant word of precision@i``;
    relevant words never ranked add 0, and a repeated word counts once.

    >>> average_precision(["a", "x", "b", "y"], {"a", "b"})  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    relevant = set(relevant)
    if not relevant:
        raise ValueError("average precision needs at least one relevant word")
    hits, total, seen = 0, 0.0, set()
    for i, word in enumerate(ranked_words, start=1):
        if word in relevant and word not in seen:
            hits += 1
            total += hits / i
        seen.add(word)
    return total / len(relevant)


def mean_reciprocal_rank(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> float:
    """Mean over queries of ``1 / rank`` of the first relevant item (0 when none is ranked).

    ``rankings[i]`` is the ranked candidate list for query ``i`` and ``relevant[i]``
    its gold set (e.g. BLI: candidate translations and the dictionary's translations).

    >>> mean_reciprocal_rank([["a", "b"], ["x", "y", "c"], ["z"]], [{"a"}, {"c"}, {"q"}])  # (1 + 1/3 + 0) / 3
    0.4444444444444444
    """
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} relevant sets")
    if not rankings:
        raise ValueError("mean reciprocal rank needs at least one query")
    total = 0.0
    for ranking, gold in zip(rankings, relevant):
        for i, word in enumerate(ranking, start=1):
            if word in gold:
                total += 1.0 / i
                break
    return total / len(rankings)
