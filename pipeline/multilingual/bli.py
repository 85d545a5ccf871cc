"""Neighbour search, CSLS and bilingual lexicon induction (BLI), blockwise in float32.

CSLS, cross-domain similarity local scaling (Conneau, Lample, Ranzato, Denoyer,
Jégou 2018, "Word translation without parallel data", §2.3), for a mapped
source vector ``x`` and a target vector ``y`` (all rows unit length)::

    CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y)

``r_T(x)`` is the mean cosine of ``x`` to its ``k`` nearest target vectors and
``r_S(y)`` the mean cosine of ``y`` to its ``k`` nearest (mapped) source
vectors, over the whole vocabularies (``k = 10``). It lowers the score of
"hubs", words that are close to everything.

Every search here takes query rows a block at a time, so memory holds a
``block x n_keys`` score matrix, never ``n x n``: a 200k x 300 vocabulary
needs a few hundred MB on top of the vectors. The block height is
``block_rows`` (4096) or less, so that a block holds at most
:data:`MAX_BLOCK_ELEMENTS` scores.

>>> import numpy as np
>>> tgt = unit_rows(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
>>> src = unit_rows(np.array([[1, 0.1], [0.1, 1]], dtype=np.float32))
>>> scores, idx = search(src, tgt, k=1)
>>> idx[:, 0].tolist()
[0, 1]
>>> metrics = evaluate_bli(src, tgt, np.array([[0, 0], [1, 1]]), csls_k=1, ks=(1,))
>>> metrics["precision_at_1-nn"], metrics["precision_at_1-csls_knn_1"], metrics["mrr-nn"]
(1.0, 1.0, 1.0)
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterator, Sequence

from pipeline.errors import InputError
from pipeline.evaluators import bli_method_name

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "MAX_BLOCK_ELEMENTS",
    "unit_rows",
    "topk_rows",
    "knn_mean_similarity",
    "csls_penalties",
    "search",
    "evaluate_bli",
    "bli_method_name",
]

DEFAULT_BLOCK_ROWS = 4096
#: at most this many scores in one block (64 Mi float32 = 256 MiB)
MAX_BLOCK_ELEMENTS = 1 << 26


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy of ``vectors`` with unit-length rows (zero rows stay zero)."""
    import numpy as np

    out = np.array(vectors, dtype=np.float32, copy=True)
    if out.ndim != 2:
        raise ValueError(f"need a (n, dim) matrix, got shape {out.shape}")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out /= norms
    return out


def _check_dims(a: np.ndarray, b: np.ndarray, what: str = "query and key vectors") -> None:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{what}: need (n, dim) matrices, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[1]:
        raise InputError(None, f"{what} of one dimension", f"found {a.shape[1]} and {b.shape[1]}")


def _block_height(n_keys: int, block_rows: int) -> int:
    return max(1, min(int(block_rows), MAX_BLOCK_ELEMENTS // max(1, n_keys)))


def _blocks(n: int, height: int) -> Iterator[slice]:
    for start in range(0, n, height):
        yield slice(start, min(n, start + height))


def _group_size(n: int) -> int:
    return 16 if n < 10_000 else 32 if n < 50_000 else 64


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest values of each row and their columns, best first.

    Exact, and several times faster than ``argpartition`` of long rows: the
    columns are dealt into ``m`` groups (group ``j`` = columns ``j, j+m,
    j+2m, ...``, so group maxima are one vectorised reduction); the ``k``
    largest values of a row lie in the ``k`` groups with the largest maxima
    (a value outside them is beaten by ``k`` group maxima), so only those
    groups are partitioned. Ties are broken arbitrarily.
    """
    import numpy as np

    b, n = scores.shape
    k = min(k, n)
    if k <= 0:
        return np.empty((b, 0), scores.dtype), np.empty((b, 0), np.int64)
    c = _group_size(n)
    m = n // c
    if m <= 2 * k:
        cand, cand_idx = scores, None
    else:
        body = scores[:, : m * c].reshape(b, c, m)
        best_groups = np.argpartition(body.max(axis=1), m - k, axis=1)[:, m - k:]
        cand = np.take_along_axis(body, best_groups[:, None, :], axis=2).reshape(b, c * k)
        cand_idx = (np.arange(c)[None, :, None] * m + best_groups[:, None, :]).reshape(b, c * k)
        if m * c < n:  # the ragged tail is always a candidate
            tail = np.arange(m * c, n)
            cand = np.concatenate([cand, scores[:, tail]], axis=1)
            cand_idx = np.concatenate([cand_idx, np.broadcast_to(tail, (b, tail.size))], axis=1)
    width = cand.shape[1]
    if k < width:
        part = np.argpartition(cand, width - k, axis=1)[:, width - k:]
    else:
        part = np.broadcast_to(np.arange(width), (b, width))
    values = np.take_along_axis(cand, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    values = np.take_along_axis(values, order, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    columns = part if cand_idx is None else np.take_along_axis(cand_idx, part, axis=1)
    return values, columns.astype(np.int64, copy=False)


def knn_mean_similarity(
    queries: np.ndarray, keys: np.ndarray, k: int = 10, block_rows: int = DEFAULT_BLOCK_ROWS
) -> np.ndarray:
    """Mean cosine of each query row to its ``k`` nearest key rows (both unit length): ``r`` of CSLS.

    >>> import numpy as np
    >>> keys = np.eye(3, dtype=np.float32)
    >>> knn_mean_similarity(np.array([[1, 0, 0]], dtype=np.float32), keys, k=2).tolist()
    [0.5]
    """
    import numpy as np

    queries = np.asarray(queries, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.float32)
    _check_dims(queries, keys)
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"the neighbourhood size k must be a positive integer; found {k!r}")
    if len(keys) == 0:  # the mean of no neighbour would be NaN in every row
        raise InputError(None, "at least one key vector to take the nearest neighbours among", "none")
    out = np.empty(len(queries), dtype=np.float32)
    keys_t = np.ascontiguousarray(keys.T)
    for rows in _blocks(len(queries), _block_height(len(keys), block_rows)):
        values, _ = topk_rows(queries[rows] @ keys_t, k)
        out[rows] = values.mean(axis=1)
    return out


def csls_penalties(
    src: np.ndarray,
    tgt: np.ndarray,
    k: int = 10,
    src_rows: np.ndarray | None = None,
    tgt_rows: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """``(r_T(src[src_rows]), r_S(tgt[tgt_rows]))``: the two CSLS penalty terms.

    ``src`` (mapped source) and ``tgt`` are unit-length rows; neighbourhoods
    range over all of ``tgt`` and all of ``src`` respectively. ``None`` rows
    means every row.
    """
    q_src = src if src_rows is None else src[src_rows]
    q_tgt = tgt if tgt_rows is None else tgt[tgt_rows]
    return knn_mean_similarity(q_src, tgt, k, block_rows), knn_mean_similarity(q_tgt, src, k, block_rows)


def _scores(q: np.ndarray, keys_t: np.ndarray, q_pen: np.ndarray | None, key_pen: np.ndarray | None) -> np.ndarray:
    import numpy as np

    if q_pen is None:
        return q @ keys_t
    s = (q * np.float32(2.0)) @ keys_t  # 2 cos(q, key), the doubling on the small side
    s -= q_pen[:, None]
    s -= key_pen[None, :]
    return s


def search(
    queries: np.ndarray,
    keys: np.ndarray,
    k: int = 1,
    query_penalty: np.ndarray | None = None,
    key_penalty: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` keys of each query: ``(scores, indices)``, each ``(n_queries, k)``, best first.

    Plain cosine (rows assumed unit length), or CSLS when both penalties are
    given: ``2 q.key - query_penalty - key_penalty`` (see :func:`csls_penalties`).
    """
    import numpy as np

    queries = np.asarray(queries, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.float32)
    _check_dims(queries, keys)
    if (query_penalty is None) != (key_penalty is None):
        raise ValueError("CSLS needs both penalties (or neither for plain cosine)")
    k = min(k, len(keys))
    out_s = np.empty((len(queries), k), dtype=np.float32)
    out_i = np.empty((len(queries), k), dtype=np.int64)
    keys_t = np.ascontiguousarray(keys.T)
    key_pen = None if key_penalty is None else np.asarray(key_penalty, dtype=np.float32)
    for rows in _blocks(len(queries), _block_height(len(keys), block_rows)):
        q_pen = None if query_penalty is None else np.asarray(query_penalty[rows], dtype=np.float32)
        out_s[rows], out_i[rows] = topk_rows(_scores(queries[rows], keys_t, q_pen, key_pen), k)
    return out_s, out_i


def _gold_by_source(pairs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    import numpy as np

    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.size == 0:
        raise InputError(None, "at least one BLI test pair (a precision over no pair is no measure)", "none")
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be an (n, 2) array of (source row, target row); got shape {pairs.shape}")
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs = pairs[order]
    sources, starts = np.unique(pairs[:, 0], return_index=True)
    golds = np.split(pairs[:, 1], starts[1:])
    return sources, [np.unique(g) for g in golds]


def evaluate_bli(
    src: np.ndarray,
    tgt: np.ndarray,
    pairs: np.ndarray,
    *,
    methods: Sequence[str] = ("nn", "csls"),
    csls_k: int = 10,
    ks: Sequence[int] = (1, 5, 10),
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> dict:
    """BLI of mapped source vectors ``src`` against ``tgt`` on gold ``pairs`` (rows into each).

    Each distinct source word of ``pairs`` is one query, retrieved against the
    whole target vocabulary; it is correct at ``k`` when any of its gold
    translations is among the top ``k`` (as MUSE counts it). The rank of a
    query is 1 + the number of other (non-gold) targets that score at least as
    high as its best-scoring gold translation (a tie counts against the query,
    so that an all-zero vector, equally close to everything, is never
    correct); MRR is the mean of 1 / rank. Rows are length-normalised here.
    Vectors holding nan or inf, an empty ``pairs``, ``csls_k`` or a ``k`` below
    1 are refused.

    Returns the measures, flat: ``precision_at_<k>-<method>`` and
    ``mrr-<method>`` (fractions in [0, 1]; MUSE prints percentages),
    ``queries`` (distinct source words) and ``pairs``. Methods: ``"nn"``
    (cosine) and ``"csls"`` (named ``csls_knn_<csls_k>``).
    :class:`pipeline.evaluators.BliEvaluator` names them for a language pair
    (``bli_es-en_mrr-nn``).
    """
    import numpy as np

    src = np.asarray(src, dtype=np.float32)
    tgt = np.asarray(tgt, dtype=np.float32)
    _check_dims(src, tgt, "source and target vectors")
    for k in (csls_k, *ks):
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"BLI's k (csls_k and each of ks) must be a positive integer; found {k!r}")
    for method in methods:
        bli_method_name(method, csls_k)  # refuses an unknown method before any work
    sources, golds = _gold_by_source(pairs)
    if (sources.max() >= len(src) or sources.min() < 0 or max(int(g.max()) for g in golds) >= len(tgt)
            or min(int(g.min()) for g in golds) < 0):
        raise ValueError("pairs refer to rows outside the vector matrices")
    # a nan anywhere compares false with every score and would silently skew every rank
    from ..vectors import check_finite

    check_finite(src, "source vectors")
    check_finite(tgt, "target vectors")
    src_u = unit_rows(src)
    tgt_u = unit_rows(tgt)
    tgt_t = np.ascontiguousarray(tgt_u.T)
    queries = src_u[sources]
    gold_rows = np.concatenate([np.full(len(g), i) for i, g in enumerate(golds)])
    gold_cols = np.concatenate(golds)
    gold_starts = np.concatenate([[0], np.cumsum([len(g) for g in golds])[:-1]])

    metrics: dict = {}
    for method in methods:
        name = bli_method_name(method, csls_k)
        if method == "csls":
            q_pen = knn_mean_similarity(queries, tgt_u, csls_k, block_rows)
            t_pen = knn_mean_similarity(tgt_u, src_u, csls_k, block_rows)
        else:
            q_pen = t_pen = None
        ranks = np.empty(len(sources), dtype=np.int64)
        height = _block_height(len(tgt_u), block_rows)
        for rows in _blocks(len(sources), height):
            s = _scores(queries[rows], tgt_t, None if q_pen is None else q_pen[rows], t_pen)
            lo = np.searchsorted(gold_rows, rows.start)
            hi = np.searchsorted(gold_rows, rows.stop)
            gold_scores = s[gold_rows[lo:hi] - rows.start, gold_cols[lo:hi]]
            starts = gold_starts[rows] - lo
            best = np.maximum.reduceat(gold_scores, starts)
            # golds tied with the best are not counted; any other target tied with it is
            golds_at_best = np.add.reduceat(gold_scores >= best[gold_rows[lo:hi] - rows.start], starts)
            ranks[rows] = (s >= best[:, None]).sum(axis=1) - golds_at_best + 1
        for k in ks:
            metrics[f"precision_at_{k}-{name}"] = float(np.mean(ranks <= k))
        metrics[f"mrr-{name}"] = float(np.mean(1.0 / ranks))
    metrics["queries"] = int(len(sources))
    metrics["pairs"] = int(len(gold_cols))
    return metrics
