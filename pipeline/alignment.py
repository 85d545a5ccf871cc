"""Orthogonal Procrustes alignment of two vector spaces.

Used for the classic semantic-change baseline -- a Word2Vec model per time
slice, each mapped into the next one's space with an orthogonal map learnt on
the shared vocabulary (Hamilton, Leskovec, Jurafsky 2016, "Diachronic word
embeddings reveal statistical laws of semantic change") -- and for
multilingual static vectors, where the anchors are a bilingual dictionary
(Conneau et al. 2018, MUSE; Smith et al. 2017).

Convention: row vectors. :func:`procrustes` returns the orthogonal ``W`` that
minimises ``||X W - Y||_F``, i.e. ``X @ W ≈ Y``. With ``U S V^T = svd(X^T Y)``,
``W = U V^T``. (MUSE writes column vectors, ``W_muse = U V^T`` from
``svd(Y^T X)``, and maps ``x -> W_muse x``; ours is its transpose.)

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(50, 4))
>>> Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
>>> bool(np.allclose(X @ procrustes(X, X @ Q), X @ Q))
True
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable

from pipeline.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = ["procrustes", "normalize_vectors", "align_keyed_vectors", "anchor_pairs"]


def procrustes(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Orthogonal ``W`` (d x d) minimising ``||X W - Y||_F`` for paired rows of ``X`` and ``Y`` (n x d).

    Schönemann (1966): ``U S V^T = svd(X^T Y)``, ``W = U V^T``.
    """
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or X.shape != Y.shape:
        raise ValueError(f"X and Y must be paired (n, d) matrices, got {X.shape} and {Y.shape}")
    U, _, Vt = np.linalg.svd(X.T @ Y)
    return U @ Vt


def _preprocess(vectors: np.ndarray, normalize: bool, center: bool) -> np.ndarray:
    import numpy as np

    out = np.asarray(vectors, dtype=np.float32).copy()

    def unit(m):
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return m / norms

    if normalize:
        out = unit(out)
    if center:
        out -= out.mean(axis=0, keepdims=True)
        if normalize:  # unit length again after centring (Artetxe et al. 2018)
            out = unit(out)
    return out


def normalize_vectors(kv: "KeyedVectors", normalize: bool = True, center: bool = False) -> "KeyedVectors":
    """A copy of ``kv`` with unit-length rows and/or the mean vector removed (counts kept).

    Apply the same settings to the target before comparing it with the output of
    :func:`align_keyed_vectors` when ``center=True``.
    """
    from pipeline.vectors import has_counts, make_keyed_vectors

    counts = kv.expandos["count"] if has_counts(kv) else None
    return make_keyed_vectors(kv.index_to_key, _preprocess(kv.vectors, normalize, center), counts)


def anchor_pairs(kv_src: "KeyedVectors", kv_tgt: "KeyedVectors", anchors=None) -> list[tuple[str, str]]:
    """The anchor pairs ``(src word, tgt word)`` present on both sides.

    ``anchors``: ``None`` (every word in both vocabularies, in source order), an
    iterable of words (the same word on both sides) or of ``(src, tgt)`` pairs
    (a bilingual dictionary). Pairs with a word missing on either side are
    dropped, and how many is logged.
    """
    if anchors is None:
        return [(w, w) for w in kv_src.index_to_key if w in kv_tgt.key_to_index]
    pairs = [(a, a) if isinstance(a, str) else tuple(a) for a in anchors]
    found = [(s, t) for s, t in pairs if s in kv_src.key_to_index and t in kv_tgt.key_to_index]
    if len(found) < len(pairs):
        log.info("anchors: %d of %d pairs found, %d dropped (a word unknown on either side)",
                 len(found), len(pairs), len(pairs) - len(found))
    return found


def align_keyed_vectors(
    kv_src: "KeyedVectors",
    kv_tgt: "KeyedVectors",
    anchors: Iterable | None = None,
    normalize: bool = True,
    center: bool = False,
) -> "KeyedVectors":
    """Map every source vector into the target space with orthogonal Procrustes.

    ``W`` is fitted on the anchor pairs (see :func:`anchor_pairs`; by default
    all shared words) and applied to the whole source vocabulary. With
    ``normalize`` both sides are scaled to unit length first (Hamilton et al.
    2016); with ``center`` the mean vector is also removed (and rows
    re-normalised), and the result then lives in the *centred* target space:
    compare it with ``normalize_vectors(kv_tgt, normalize, center)``. Without
    centring, cosine similarities to the raw ``kv_tgt`` are meaningful as is.

    Returns new vectors with the source keys, order and counts.
    """
    import numpy as np
    from pipeline.vectors import has_counts, make_keyed_vectors

    if kv_src.vector_size != kv_tgt.vector_size:
        raise InputError(
            None,
            "source and target vectors of one dimension for Procrustes",
            f"{kv_src.vector_size} and {kv_tgt.vector_size}",
        )
    pairs = anchor_pairs(kv_src, kv_tgt, anchors)
    if not pairs:
        raise InputError(None, "at least one anchor word present in both vector sets", "none shared")
    if len(pairs) < kv_src.vector_size:
        log.warning("only %d anchors for %d dimensions: the rotation is underdetermined",
                    len(pairs), kv_src.vector_size)
    src = _preprocess(kv_src.vectors, normalize, center)
    tgt = _preprocess(kv_tgt.vectors, normalize, center)
    src_rows = np.fromiter((kv_src.key_to_index[s] for s, _ in pairs), dtype=np.int64, count=len(pairs))
    tgt_rows = np.fromiter((kv_tgt.key_to_index[t] for _, t in pairs), dtype=np.int64, count=len(pairs))
    W = procrustes(src[src_rows], tgt[tgt_rows])
    mapped = (src.astype(np.float64) @ W).astype(np.float32)
    counts = kv_src.expandos["count"] if has_counts(kv_src) else None
    return make_keyed_vectors(kv_src.index_to_key, mapped, counts)
