"""WECHSEL embedding initialisation (Minixhofer, Paischer & Rekabsaz, NAACL 2022, section 3).

Every source and target subword gets a vector in one aligned static space
(:mod:`.subwords`). A target subword's embedding is then the
``softmax(cos / temperature)``-weighted mean of the source model's embeddings
of its ``k`` most similar source subwords; a target subword without a static
vector (an all-zero row) falls back to a draw from N(mean, std) of the source
matrix, and special tokens are copied from the source::

    import numpy as np
    from pipeline.transfer.embeddings import create_target_embeddings

    rng = np.random.default_rng(0)
    src_sub = rng.standard_normal((1000, 50)).astype("float32")    # source subwords, aligned space
    tgt_sub = rng.standard_normal((800, 50)).astype("float32")     # target subwords, same space
    tgt_sub[7] = 0                                                 # no static vector: falls back
    E_src = rng.standard_normal((1000, 64)).astype("float32")      # the source model's embeddings
    result = create_target_embeddings(src_sub, tgt_sub, E_src, neighbors=10, temperature=0.1)
    result.matrix.shape, int(result.fallback.sum())                # ((800, 64), 1)
    out_bias = result.transfer(np.zeros(1000, "float32"))          # any per-token table, same weights

The similarity search runs block by block as one float32 matrix product per
block followed by ``torch.topk`` (on the CPU or, with ``device="cuda"``, on
the GPU), so its cost is that of the bare product plus a small top-k pass.
Fallback rows are seeded draws from N(mean, std) of the source matrix, made
only for the rows that need them; with ``reference_fallback=True`` they are
the draws ``numpy.random.RandomState(seed).normal(mean, std, (n_target, d))``
gives, as in the reference ``wechsel`` 0.0.4 package (seed 1234), so the two
agree on every row (that mode draws a full matrix up to the last fallback
row, about a second for 50k x 768).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TargetEmbeddings", "create_target_embeddings", "fallback_rows", "random_target_embeddings"]


@dataclass
class TargetEmbeddings:
    """The initialised target matrix and how each row was made.

    ``neighbours`` / ``similarities`` / ``weights`` are ``(n_target, k)``,
    best first; rows that fell back hold ``-1`` / ``nan`` / ``0``.
    """

    matrix: np.ndarray
    neighbours: np.ndarray
    similarities: np.ndarray
    weights: np.ndarray
    fallback: np.ndarray
    copied: np.ndarray
    seed: int = 1234
    special_pairs: tuple[tuple[int, int], ...] = field(default=())
    reference_fallback: bool = False

    @property
    def n_matched(self) -> int:
        return int((~self.fallback).sum())

    def transfer(self, source_table: np.ndarray, *, seed: int | None = None) -> np.ndarray:
        """Apply the same neighbours and weights to another per-token table of the source.

        Used for untied output embeddings (``(n_source, d)``) and output
        biases (``(n_source,)``): matched rows are the weighted means of the
        same source rows, fallback rows are drawn from the table's own
        N(mean, std), special tokens are copied.
        """
        import numpy as np

        table = np.asarray(source_table)
        flat = table.reshape(len(table), -1)
        used = [int(self.neighbours.max(initial=-1))] + [s for _, s in self.special_pairs]
        if len(flat) <= max(used):
            raise ValueError(f"a source table with a row for each source id (at least {max(used) + 1}); "
                             f"got {len(flat)} rows")
        out = np.empty((len(self.neighbours), flat.shape[1]), dtype=flat.dtype)
        ok = np.flatnonzero(~self.fallback)
        for start in range(0, len(ok), 4096):  # blocks: n x k x d at once would not fit for a real vocabulary
            rows = ok[start:start + 4096]
            out[rows] = np.einsum("nk,nkd->nd", self.weights[rows].astype(np.float64),
                                  flat[self.neighbours[rows]].astype(np.float64))
        if self.fallback.any():
            out[self.fallback] = fallback_rows(flat, np.flatnonzero(self.fallback),
                                               self.seed if seed is None else seed, self.reference_fallback)
        for t, s in self.special_pairs:
            out[t] = flat[s]
        return out.reshape((len(out),) + table.shape[1:])


def fallback_rows(source_matrix: np.ndarray, rows: np.ndarray, seed: int, reference: bool = False) -> np.ndarray:
    """Seeded N(mean, std) draws (per column of the source matrix) for the target rows ``rows``.

    ``reference=True``: rows ``rows`` of ``RandomState(seed).normal(mean,
    std, (n, d))``, as the reference draws them (only the draws up to the
    last requested row are made: the legacy generator fills row by row, so
    the prefix is the same). Otherwise one draw per requested row from
    ``numpy.random.default_rng(seed)``.
    """
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.empty((0, source_matrix.shape[1]), dtype=source_matrix.dtype)
    if len(source_matrix) == 0:  # mean and std of no rows are NaN
        raise InputError(None, "a source embedding matrix with at least one row to draw new rows from", "0 rows")
    mean, std = source_matrix.mean(0), source_matrix.std(0)
    if reference:
        draws = np.random.RandomState(seed).normal(mean, std, (int(rows.max()) + 1, source_matrix.shape[1]))
        return draws[rows].astype(source_matrix.dtype)
    return np.random.default_rng(seed).normal(mean, std, (len(rows), source_matrix.shape[1])).astype(
        source_matrix.dtype)


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """``rows`` scaled to unit length, as contiguous float32; the norms are taken in float64, where a float32
    row of tiny (1e-30) or huge (1e30) values does not underflow to a norm of 0 or overflow to infinity."""
    import numpy as np

    r = np.asarray(rows, dtype=np.float64)
    return np.ascontiguousarray(r / np.linalg.norm(r, axis=1, keepdims=True), dtype=np.float32)


def check_pairs(pairs, n_target: int, n_source: int, what: str) -> list[tuple[int, int]]:
    """``pairs`` as a list of (target id, source id), each id in range (a negative one would wrap round)."""
    import numpy as np

    try:
        arr = np.asarray(pairs if len(pairs) else np.zeros((0, 2)), dtype=np.int64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(None, f"{what} as (target id, source id) pairs", f"found {list(pairs)[:3]!r}...")
    bad = (arr[:, 0] < 0) | (arr[:, 0] >= n_target) | (arr[:, 1] < 0) | (arr[:, 1] >= n_source)
    if bad.any():
        t, s = arr[np.argmax(bad)]
        raise InputError(None, f"{what} with target ids below {n_target} and source ids below {n_source}",
                         f"found ({t}, {s})")
    return [tuple(p) for p in arr.tolist()]


class NearestAnchors:
    """Exact top-``k`` cosine neighbours of row blocks among one fixed matrix, ``anchors`` (n, d).

    On a CPU it is a FAISS flat inner-product index over the unit-length anchors
    (``faiss.IndexFlatIP``: blocked sgemm with the top-k selection done per
    cache-sized tile, so the (rows x n) similarity matrix is never written out).
    On the 2-core machine the 50k x 50k x 300 search alone took 1.03-1.06x the
    bare numpy product, and WECHSEL as a whole 1.19x it, where a torch product
    and ``torch.topk`` per 4096-row block made WECHSEL 1.88x it
    (``bench/bench_focus_speed.py``, medians of 3). On a GPU it is one torch
    matmul and ``torch.topk`` per block. Rows are made unit length too; callers
    leave out all-zero rows. Results are sorted by falling similarity.
    """

    def __init__(self, anchors: np.ndarray, device):
        import numpy as np
        import torch

        self.device = torch.device(device)
        a = unit_rows(anchors)
        self.n = len(a)
        if self.device.type == "cpu":
            import faiss

            faiss.omp_set_num_threads(torch.get_num_threads())  # the stage's thread budget, as torch has it
            self._index = faiss.IndexFlatIP(a.shape[1])
            self._index.add(a)
        else:
            self._anchors = torch.from_numpy(a).to(self.device)

    def top(self, rows: np.ndarray, k: int):
        """``(similarities, anchor positions)``, each ``(len(rows), k)``, as torch tensors on the device."""
        import numpy as np
        import torch

        r = unit_rows(rows)
        k = min(int(k), self.n)
        if self.device.type == "cpu":
            sims, idx = self._index.search(r, k)
            return torch.from_numpy(sims), torch.from_numpy(idx)
        return torch.topk(torch.from_numpy(r).to(self.device) @ self._anchors.T, k, dim=1, largest=True, sorted=True)


def create_target_embeddings(
    source_subwords: np.ndarray,
    target_subwords: np.ndarray,
    source_matrix: np.ndarray,
    *,
    neighbors: int = 10,
    temperature: float = 0.1,
    seed: int = 1234,
    special_pairs: Sequence[tuple[int, int]] = (),
    device: str = "cpu",
    block_size: int = 4096,
    reference_fallback: bool = False,
    progress: Callable[[float], None] | None = None,
) -> TargetEmbeddings:
    """WECHSEL's target embedding matrix.

    ``source_subwords`` (n_s, d_static) and ``target_subwords`` (n_t,
    d_static) are the subwords' vectors in one aligned space (rows need not be
    unit length). An all-zero row has no vector: a target row falls back, a
    source row is never a neighbour (the reference would score it 0).
    ``source_matrix`` (n_s, d_model) is the source model's embedding matrix.
    ``special_pairs`` lists (target id, source id) of special tokens to copy.
    ``device`` is ``cpu``, ``cuda`` or ``auto``.
    """
    import numpy as np
    import torch

    from ..torchutil import pick_device

    src = np.asarray(source_subwords, dtype=np.float32)
    tgt = np.asarray(target_subwords, dtype=np.float32)
    E = np.asarray(source_matrix)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"subword matrices must be 2-d with one width; got {src.shape} and {tgt.shape}")
    if len(src) != len(E):
        raise ValueError(f"{len(src)} source subword vectors for a source matrix of {len(E)} rows")
    from ..vectors import check_finite

    check_finite(src, "source subword vectors")
    check_finite(tgt, "target subword vectors")
    check_finite(E, "source model embeddings")
    special_pairs = check_pairs(special_pairs, len(tgt), len(E), "special token pairs")
    candidates = np.flatnonzero(np.any(src != 0, axis=1))  # source subwords with a vector
    if len(candidates) == 0:
        raise ValueError(f"source subwords with a vector to be neighbours; all {len(src)} rows are zero")
    if isinstance(neighbors, bool) or not isinstance(neighbors, (int, np.integer)) \
            or not 1 <= neighbors <= len(candidates):
        raise ValueError(f"neighbors must be between 1 and {len(candidates)} (the source subwords with a vector), "
                         f"got {neighbors}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n_t, k = len(tgt), neighbors
    fallback = ~np.any(tgt != 0, axis=1)

    dev = torch.device(pick_device(device, "wechsel.device"))
    whole = len(candidates) == len(src)
    search = NearestAnchors(src if whole else src[candidates], dev)
    Emat = torch.from_numpy(np.ascontiguousarray(E if whole else E[candidates], dtype=np.float32)).to(dev)
    neighbours = np.full((n_t, k), -1, dtype=np.int64)
    sims = np.full((n_t, k), np.nan, dtype=np.float32)
    weights = np.zeros((n_t, k), dtype=np.float32)
    matrix = np.empty((n_t, E.shape[1]), dtype=E.dtype)
    rows = np.flatnonzero(~fallback)
    with torch.inference_mode():
        for start in range(0, len(rows), block_size):
            block = rows[start:start + block_size]
            val, idx = search.top(tgt[block], k)
            w = torch.softmax(val / temperature, dim=1)
            # neighbour by neighbour: never materialises the (block, k, d_model) gather
            emb = w[:, :1] * Emat[idx[:, 0]]
            for j in range(1, k):
                emb.addcmul_(w[:, j:j + 1], Emat[idx[:, j]])
            neighbours[block] = idx.cpu().numpy() if whole else candidates[idx.cpu().numpy()]
            sims[block] = val.cpu().numpy()
            weights[block] = w.cpu().numpy()
            matrix[block] = emb.cpu().numpy().astype(E.dtype, copy=False)
            if progress is not None:
                progress(min(1.0, (start + len(block)) / max(1, len(rows))))
    if fallback.any():
        matrix[fallback] = fallback_rows(E, np.flatnonzero(fallback), seed, reference_fallback)
    copied = np.zeros(n_t, dtype=bool)
    for t, s in special_pairs:
        matrix[t] = E[s]
        copied[t] = True
    return TargetEmbeddings(matrix, neighbours, sims, weights, fallback, copied, seed, tuple(special_pairs),
                            reference_fallback)


def random_target_embeddings(source_matrix: np.ndarray, n_target: int, *, seed: int = 1234,
                             special_pairs: Sequence[tuple[int, int]] = ()) -> TargetEmbeddings:
    """The baseline initialisation: every target row a seeded N(mean, std) draw of the source matrix's columns,
    except the ``special_pairs`` (target id, source id) rows, which are copied.

    Its ``transfer`` treats another per-token table (an untied head) the same way.

    >>> import numpy as np
    >>> E = np.arange(12, dtype="float32").reshape(4, 3)
    >>> r = random_target_embeddings(E, 6, special_pairs=[(5, 0)])
    >>> r.matrix.shape, r.matrix[5].tolist(), int(r.fallback.sum())
    ((6, 3), [0.0, 1.0, 2.0], 5)
    """
    import numpy as np

    E = np.asarray(source_matrix)
    from ..vectors import check_finite

    check_finite(E, "source model embeddings")
    special_pairs = check_pairs(special_pairs, n_target, len(E), "special token pairs")
    matrix = fallback_rows(E, np.arange(n_target), seed)
    copied = np.zeros(n_target, dtype=bool)
    for t, s in special_pairs:
        matrix[t] = E[s]
        copied[t] = True
    return TargetEmbeddings(matrix, np.full((n_target, 1), -1, dtype=np.int64),
                            np.full((n_target, 1), np.nan, dtype=np.float32), np.zeros((n_target, 1), np.float32),
                            ~copied, copied, seed, tuple(special_pairs))
