"""Mapping one language's vectors into another's: supervised Procrustes refined with CSLS (MUSE).

The method (Conneau et al. 2018, "Word translation without parallel data",
§2.2-2.3; MUSE ``supervised.py``):

1. Optional preprocessing of both spaces, MUSE's ``normalize_embeddings``:
   a comma-separated sequence of ``renorm`` (unit-length rows) and
   ``center`` (remove the mean vector), e.g. ``"renorm,center,renorm"``.
2. Orthogonal Procrustes on the seed pairs: ``W = U V^T`` from
   ``svd(X^T Y)`` (:func:`pipeline.alignment.procrustes`; row vectors,
   ``X @ W ≈ Y``).
3. ``n_refinement`` times: induce a new dictionary from the mapped spaces and
   solve Procrustes on it alone (MUSE discards the seed after the first step;
   ``keep_seed`` keeps it). The induced dictionary is MUSE's default
   ``S2T&T2S`` with ``csls_knn_10``: the mutual CSLS nearest neighbours among
   the ``max_rank`` most frequent words of each side. Like MUSE, the CSLS
   terms and the candidate targets range over the whole vocabularies
   (``neighbourhood="full"``: two passes over an ``n_src x n_tgt`` score
   matrix per step, blockwise); ``neighbourhood="max_rank"`` restricts them to
   the ``max_rank`` most frequent words, which costs ``O(max_rank^2)`` per
   step whatever the vocabulary size.

When no dictionary is given, the seed is every word spelled the same in both
vocabularies (:func:`identical_seed`; MUSE's ``identical_char``).

Vectors are expected in frequency order (the most frequent word first), as
fastText and gensim write them.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 20)).astype(np.float32)
>>> Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
>>> Y = (X @ Q).astype(np.float32)
>>> seed = np.array([[i, i] for i in range(30)])
>>> alignment = fit_mapping(X, Y, seed, MappingSettings(n_refinement=2))
>>> bool(np.allclose(alignment.W, Q, atol=1e-4))
True
>>> [h["pairs"] for h in alignment.history]
[30, 300, 300]
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from pipeline.errors import InputError

from .bli import DEFAULT_BLOCK_ROWS, evaluate_bli, knn_mean_similarity, search, unit_rows
from .settings import DICTIONARY_BUILDS, PREPROCESSING_STEPS, MappingSettings  # light: specs read it
from .settings import parse_steps as _parse_steps

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = [
    "PREPROCESSING_STEPS",
    "DICTIONARY_BUILDS",
    "MappingSettings",
    "Preprocessing",
    "Alignment",
    "MIN_SEED_PAIRS",
    "min_seed_pairs",
    "identical_seed",
    "pair_rows",
    "induce_dictionary",
    "fit_mapping",
    "align_vectors",
    "evaluate_alignment",
    "save_mapping",
    "load_mapping",
]


@dataclass(frozen=True)
class Preprocessing:
    """A fitted sequence of ``renorm`` / ``center`` steps (one mean vector per ``center``).

    >>> import numpy as np
    >>> prep, out = Preprocessing.fit(np.array([[3, 4], [0, 2]], dtype=np.float32), "renorm,center")
    >>> out.astype(float).round(3).tolist()
    [[0.3, -0.1], [-0.3, 0.1]]
    >>> prep.apply(np.array([0, 5], dtype=np.float32)).astype(float).round(3).tolist()
    [-0.3, 0.1]
    """

    steps: tuple[str, ...] = ()
    means: tuple[np.ndarray, ...] = ()

    @classmethod
    def fit(cls, vectors: np.ndarray, steps: str | Sequence[str] | None) -> tuple["Preprocessing", np.ndarray]:
        import numpy as np

        steps = _parse_steps(steps)
        out = np.array(vectors, dtype=np.float32, copy=True)
        means = []
        for step in steps:
            if step == "renorm":
                _renorm(out)
            else:
                mean = out.mean(axis=0, dtype=np.float64).astype(np.float32)
                out -= mean
                means.append(mean)
        return cls(steps, tuple(means)), out

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """The same steps with the fitted means, on a (n, dim) matrix or one vector."""
        import numpy as np

        out = np.array(vectors, dtype=np.float32, copy=True)
        one = out.ndim == 1
        if one:
            out = out[None, :]
        means = iter(self.means)
        for step in self.steps:
            if step == "renorm":
                _renorm(out)
            else:
                out -= next(means)
        return out[0] if one else out

    def to_json(self) -> dict:
        import numpy as np

        return {"steps": list(self.steps), "means": [m.astype(np.float64).tolist() for m in self.means]}

    @classmethod
    def from_json(cls, data: dict) -> "Preprocessing":
        import numpy as np

        steps = _parse_steps(data.get("steps", []))
        means = tuple(np.asarray(m, dtype=np.float32) for m in data.get("means", []))
        if len(means) != steps.count("center"):
            raise ValueError(f"{steps.count('center')} mean vectors expected, found {len(means)}")
        return cls(steps, means)


def _renorm(m: np.ndarray) -> None:
    import numpy as np

    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    m /= norms


@dataclass
class Alignment:
    """A learnt map: ``target-space vector = source.apply(x) @ W``.

    ``source`` / ``target``: the preprocessing of each side (the shared space
    is the *preprocessed* target space). ``history``: one record per
    Procrustes step (``iteration``, ``pairs``, ``seconds``). ``dictionary``:
    the (source row, target row) pairs of the last step (not saved).
    """

    W: np.ndarray
    source: Preprocessing = field(default_factory=Preprocessing)
    target: Preprocessing = field(default_factory=Preprocessing)
    history: list = field(default_factory=list)
    dictionary: np.ndarray | None = None
    settings: MappingSettings | None = None

    @property
    def dim(self) -> int:
        return int(self.W.shape[0])

    def map(self, vectors: np.ndarray) -> np.ndarray:
        """Source vectors (a (n, dim) matrix or one vector) into the shared space."""
        import numpy as np

        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[-1] != self.dim:
            raise InputError(None, f"vectors of dimension {self.dim} (the mapping's)", f"found {vectors.shape[-1]}")
        return (self.source.apply(vectors) @ self.W).astype(np.float32, copy=False)

    def map_target(self, vectors: np.ndarray) -> np.ndarray:
        """Target vectors into the shared space (their preprocessing only)."""
        return self.target.apply(vectors)

    @classmethod
    def identity(cls, dim: int, preprocessing: Preprocessing | None = None) -> "Alignment":
        """The map of the pivot language onto itself (its own preprocessing on both sides)."""
        import numpy as np

        prep = preprocessing or Preprocessing()
        return cls(np.eye(dim, dtype=np.float32), prep, prep)


def identical_seed(src_words: Iterable[str], tgt_words: Iterable[str],
                   max_pairs: int | None = None) -> list[tuple[str, str]]:
    """``(w, w)`` for every word in both vocabularies, in source order (MUSE's ``identical_char``).

    >>> identical_seed(["the", "de", "2", "dios"], ["de", "dios", "la", "2"])
    [('de', 'de'), ('2', '2'), ('dios', 'dios')]
    """
    tgt = set(tgt_words)
    pairs = [(w, w) for w in src_words if w in tgt]
    return pairs[:max_pairs] if max_pairs is not None else pairs


def pair_rows(pairs: Iterable[tuple[str, str]], src_index: dict, tgt_index: dict) -> tuple[np.ndarray, int]:
    """``(rows, n_unknown)``: ``(n, 2)`` row indices of the pairs known on both sides, duplicates removed."""
    import numpy as np

    rows = []
    unknown = 0
    seen = set()
    for s, t in pairs:
        i, j = src_index.get(s), tgt_index.get(t)
        if i is None or j is None:
            unknown += 1
            continue
        if (i, j) not in seen:
            seen.add((i, j))
            rows.append((i, j))
    return np.array(rows, dtype=np.int64).reshape(-1, 2), unknown


def _check_dims(src: np.ndarray, tgt: np.ndarray, where: str | None) -> None:
    if src.ndim != 2 or tgt.ndim != 2:
        raise ValueError(f"need (n, dim) matrices, got shapes {src.shape} and {tgt.shape}")
    if src.shape[1] != tgt.shape[1]:
        raise InputError(where, "source and target vectors of one dimension",
                         f"source has {src.shape[1]}, target {tgt.shape[1]}")


def _candidates(queries: np.ndarray, keys: np.ndarray, q_pen: np.ndarray, k_pen: np.ndarray,
                n_queries: int, block_rows: int) -> np.ndarray:
    """MUSE ``get_candidates``: the CSLS best key of each of the first ``n_queries`` queries, as (n, 2)
    pairs sorted by the margin between the best and second-best score."""
    import numpy as np

    scores, idx = search(queries[:n_queries], keys, 2, q_pen[:n_queries], k_pen, block_rows)
    if scores.shape[1] == 1:
        margin = np.zeros(len(scores), dtype=np.float32)
    else:
        margin = scores[:, 0] - scores[:, 1]
    order = np.argsort(-margin, kind="stable")
    return np.stack([np.arange(n_queries)[order], idx[order, 0]], axis=1)


def induce_dictionary(src: np.ndarray, tgt: np.ndarray, settings: MappingSettings = MappingSettings()) -> np.ndarray:
    """An ``(n, 2)`` array of (source row, target row) pairs induced with CSLS (MUSE ``build_dictionary``).

    ``src`` is the mapped source and ``tgt`` the target, unit-length rows,
    both in frequency order. Pairs are ordered by confidence (the margin of
    the best over the second-best candidate), S2T pairs first.
    """
    import numpy as np

    k, rank, rows = settings.csls_k, settings.max_rank, settings.block_rows
    n_s, n_t = len(src), len(tgt)
    if n_s == 0 or n_t == 0:
        raise InputError(None, "source and target vectors with at least one row each", f"{n_s} and {n_t} rows")
    r_s = min(rank, n_s) if rank else n_s
    r_t = min(rank, n_t) if rank else n_t
    if settings.neighbourhood == "max_rank":
        src, tgt = src[:r_s], tgt[:r_t]
    # r_T(x) for every source row and r_S(y) for every target row of the neighbourhood
    pen_src = knn_mean_similarity(src, tgt, k, rows)
    pen_tgt = knn_mean_similarity(tgt, src, k, rows)
    parts = {}
    if "S2T" in settings.build:
        s2t = _candidates(src, tgt, pen_src, pen_tgt, r_s, rows)
        parts["S2T"] = s2t[s2t[:, 1] < r_t]
    if "T2S" in settings.build:
        t2s = _candidates(tgt, src, pen_tgt, pen_src, r_t, rows)[:, ::-1]
        parts["T2S"] = t2s[t2s[:, 0] < r_s]
    if len(parts) == 1:
        return np.ascontiguousarray(next(iter(parts.values())))
    key_s2t = parts["S2T"][:, 0] * n_t + parts["S2T"][:, 1]
    key_t2s = parts["T2S"][:, 0] * n_t + parts["T2S"][:, 1]
    if settings.build == "S2T&T2S":
        keep = np.isin(key_s2t, key_t2s)
        return np.ascontiguousarray(parts["S2T"][keep])
    extra = ~np.isin(key_t2s, key_s2t)
    return np.ascontiguousarray(np.concatenate([parts["S2T"], parts["T2S"][extra]]))


#: a seed of fewer distinct pairs (or fewer than the dimension, when that is smaller) is refused: Procrustes on
#: one pair fixes one direction and leaves the rest of the map arbitrary, and refinement cannot repair it
MIN_SEED_PAIRS = 10


def min_seed_pairs(dim: int) -> int:
    """The fewest distinct seed pairs :func:`fit_mapping` accepts for vectors of ``dim`` dimensions."""
    return max(2, min(MIN_SEED_PAIRS, dim))


def _seed_rows(seed: np.ndarray, n_s: int, n_t: int, dim: int, where: str | None) -> np.ndarray:
    import numpy as np

    seed = np.asarray(seed, dtype=np.int64)
    if seed.size == 0:
        raise InputError(where, "at least one seed pair (a dictionary pair or an identical word) known on both "
                         "sides", "none")
    if seed.ndim != 2 or seed.shape[1] != 2:
        raise ValueError(f"seed must be an (n, 2) array of (source row, target row); got shape {seed.shape}")
    if seed.min() < 0 or seed[:, 0].max() >= n_s or seed[:, 1].max() >= n_t:
        raise ValueError("seed pairs refer to rows outside the vector matrices")
    _, first = np.unique(seed, axis=0, return_index=True)
    seed = seed[np.sort(first)]  # distinct pairs, in their order: a repeated pair would weigh more
    need = min_seed_pairs(dim)
    if len(seed) < need:
        raise InputError(where, f"at least {need} distinct seed pairs known on both sides for a map of {dim} "
                         "dimensions (dictionary pairs, or words spelled the same)", f"{len(seed)}")
    return seed


def fit_mapping(
    src: np.ndarray,
    tgt: np.ndarray,
    seed: np.ndarray,
    settings: MappingSettings = MappingSettings(),
    callback: Callable[[int, Alignment], None] | None = None,
    where: str | None = None,
) -> Alignment:
    """Learn the orthogonal map of ``src`` rows onto ``tgt`` rows from ``seed`` pairs, refined with CSLS.

    ``src`` (n_s, d) and ``tgt`` (n_t, d) are the raw vectors in frequency
    order; ``seed`` an (n, 2) array of (source row, target row).
    ``callback(iteration, alignment)`` is called after every Procrustes step
    (iteration 0 is the seed step), e.g. to evaluate each step as MUSE logs
    it. ``where`` names the inputs in errors. Returns the :class:`Alignment`
    of the last step.

    Raises :class:`InputError` for vectors holding nan or inf and for a seed
    of fewer than :func:`min_seed_pairs` distinct pairs; a refinement step
    that induces fewer keeps the previous map.
    """
    import numpy as np

    from pipeline.alignment import procrustes

    src = np.asarray(src, dtype=np.float32)
    tgt = np.asarray(tgt, dtype=np.float32)
    _check_dims(src, tgt, where)
    from ..vectors import check_finite

    check_finite(src, "source vectors", where)
    check_finite(tgt, "target vectors", where)
    seed = _seed_rows(seed, len(src), len(tgt), src.shape[1], where)
    usable = np.any(src[seed[:, 0]] != 0, axis=1) & np.any(tgt[seed[:, 1]] != 0, axis=1)
    if usable.sum() < min_seed_pairs(src.shape[1]):  # an all-zero vector carries no direction to map
        raise InputError(where, f"at least {min_seed_pairs(src.shape[1])} seed pairs whose vectors are not all "
                         "zeros", f"{int(usable.sum())} of {len(seed)}")
    if len(seed) < src.shape[1]:
        log.warning("only %d seed pairs for %d dimensions: the first map is underdetermined", len(seed), src.shape[1])
    src_prep, X = Preprocessing.fit(src, settings.normalize)
    tgt_prep, Y = Preprocessing.fit(tgt, settings.normalize)
    Y_unit = unit_rows(Y) if settings.n_refinement else None
    pairs = seed
    alignment = None
    history: list[dict] = []
    for iteration in range(settings.n_refinement + 1):
        t0 = time.perf_counter()
        if iteration > 0:
            induced = induce_dictionary(unit_rows(X @ alignment.W), Y_unit, settings)
            if len(induced) < min_seed_pairs(src.shape[1]):
                log.warning("refinement step %d induced %d pairs; keeping the previous map", iteration, len(induced))
                break
            if settings.keep_seed:
                keys = induced[:, 0] * len(tgt) + induced[:, 1]
                extra = seed[~np.isin(seed[:, 0] * len(tgt) + seed[:, 1], keys)]
                induced = np.concatenate([induced, extra])
            pairs = induced
        W = procrustes(X[pairs[:, 0]], Y[pairs[:, 1]]).astype(np.float32)
        history.append({"iteration": iteration, "pairs": int(len(pairs)),
                        "seconds": round(time.perf_counter() - t0, 3)})
        log.info("Procrustes step %d: %d pairs, %.1f s", iteration, len(pairs), history[-1]["seconds"])
        alignment = Alignment(W, src_prep, tgt_prep, list(history), pairs, settings)
        if callback is not None:
            callback(iteration, alignment)
    return alignment


def _index(kv) -> dict:
    return kv.key_to_index


def align_vectors(
    kv_src: "KeyedVectors",
    kv_tgt: "KeyedVectors",
    pairs: Iterable[tuple[str, str]] | None = None,
    settings: MappingSettings = MappingSettings(),
    callback: Callable[[int, Alignment], None] | None = None,
    where: str | None = None,
) -> Alignment:
    """:func:`fit_mapping` on gensim ``KeyedVectors`` with word pairs as the seed.

    ``pairs``: a training dictionary of ``(source word, target word)``
    (pairs with an unknown word are skipped and counted in the log), or
    ``None`` for the identical-strings seed. The result's ``history`` starts
    with the number of seed pairs used.
    """
    _check_dims(kv_src.vectors, kv_tgt.vectors, where)
    if pairs is None:
        pairs = identical_seed(kv_src.index_to_key, kv_tgt.index_to_key)
        if not pairs:
            raise InputError(where, "a dictionary, or words spelled the same in both vocabularies for a seed",
                             "no word is in both")
        log.info("seed: %d identical strings", len(pairs))
    rows, unknown = pair_rows(pairs, _index(kv_src), _index(kv_tgt))
    if unknown:
        log.info("seed: %d pairs with a word unknown on either side skipped", unknown)
    if len(rows) == 0:
        raise InputError(where, "seed pairs with both words in the vectors", f"none of {unknown} pairs")
    return fit_mapping(kv_src.vectors, kv_tgt.vectors, rows, settings, callback, where)


def evaluate_alignment(
    kv_src: "KeyedVectors",
    kv_tgt: "KeyedVectors",
    alignment: Alignment,
    test_pairs: Iterable[tuple[str, str]],
    *,
    csls_k: int = 10,
    ks: Sequence[int] = (1, 5, 10),
    methods: Sequence[str] = ("nn", "csls"),
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> dict:
    """BLI of the mapped source vocabulary against the whole target vocabulary on ``test_pairs``.

    The measures of :func:`pipeline.multilingual.bli.evaluate_bli` plus
    ``pairs_unknown``: test pairs skipped because a word is not in the vectors
    (0 when the pairs were restricted to the vocabularies first).
    :class:`pipeline.evaluators.BliEvaluator` gives them the names of
    ``metrics.json`` (``bli_<src>-<tgt>_...``).
    """
    rows, unknown = pair_rows(test_pairs, _index(kv_src), _index(kv_tgt))
    if len(rows) == 0:
        raise InputError(None, "test pairs with both words in the vectors", f"none of {unknown} pairs")
    src = alignment.map(kv_src.vectors)
    tgt = alignment.map_target(kv_tgt.vectors)
    metrics = evaluate_bli(src, tgt, rows, methods=methods, csls_k=csls_k, ks=ks, block_rows=block_rows)
    metrics["pairs_unknown"] = int(unknown)
    return metrics


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name[: -len(".npy")] + ".json")


def save_mapping(alignment: Alignment, path: str | Path) -> dict[str, Path]:
    """Write ``W`` as ``X.npy`` and its preprocessing, settings and history as ``X.json``.

    Returns ``{"npy": ..., "json": ...}``. ``W`` alone is enough without
    preprocessing (``source_vector @ W``).
    """
    import numpy as np

    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"the mapping path must end in .npy; found {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "convention": "mapped = preprocess_source(x) @ W (row vectors)",
        "dim": alignment.dim,
        "source": alignment.source.to_json(),
        "target": alignment.target.to_json(),
        "settings": alignment.settings.to_mapping() if alignment.settings else None,
        "history": alignment.history,
    }
    side = _sidecar(path)
    # both written beside and renamed, the sidecar first: a .npy alone would read as "no preprocessing"
    tmp_npy, tmp_side = path.with_name(f".{path.name}.tmp.npy"), side.with_name(f".{side.name}.tmp")
    try:
        np.save(tmp_npy, np.asarray(alignment.W, dtype=np.float32))
        tmp_side.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        tmp_side.replace(side)
        tmp_npy.replace(path)
    finally:
        tmp_npy.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)
    return {"npy": path, "json": side}


def load_mapping(path: str | Path) -> Alignment:
    """Read what :func:`save_mapping` wrote (a bare ``.npy`` without its ``.json`` means no preprocessing)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a mapping matrix file (.npy)", "no such file")
    try:
        W = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(path, "a NumPy .npy matrix", str(exc)) from exc
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InputError(path, "a square (dim, dim) matrix", f"shape {W.shape}")
    if not (np.issubdtype(W.dtype, np.floating) or np.issubdtype(W.dtype, np.integer)):
        raise InputError(path, "a matrix of real numbers", f"dtype {W.dtype}")
    finite = np.isfinite(W).all(axis=1)
    if not finite.all():
        raise InputError(path, "finite numbers in the matrix", f"nan or inf in row {int(np.flatnonzero(~finite)[0])}")
    side = _sidecar(path)
    if not side.exists():
        return Alignment(W.astype(np.float32))
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        src, tgt = Preprocessing.from_json(meta["source"]), Preprocessing.from_json(meta["target"])
        settings = MappingSettings(**meta["settings"]) if meta.get("settings") else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(side, "the mapping's JSON sidecar (source, target preprocessing)", str(exc)) from exc
    for p in (src, tgt):
        if any(m.shape != (W.shape[0],) for m in p.means):
            raise InputError(side, f"mean vectors of dimension {W.shape[0]}", "other sizes")
        if any(not np.isfinite(m).all() for m in p.means):
            raise InputError(side, "finite mean vectors", "nan or inf")
    return Alignment(W.astype(np.float32), src, tgt, meta.get("history", []), None, settings)
