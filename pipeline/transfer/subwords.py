"""Subword vectors in an aligned static space (the inputs of WECHSEL's neighbour search).

Two modes, as in the paper:

- ``subword`` (fastText vectors): a subword's vector is fastText's vector of
  its surface string (the mean of its word and character n-gram rows);
  needs the language's native ``.bin``. With ``trained_only`` (the default)
  only rows that training touched count: the word's own row and the n-grams
  that occur in some vocabulary word (compared as strings, so a hash
  collision with a trained bucket does not count). Untouched buckets hold just
  their random initialisation; with vectors trained on a small corpus most
  of a large model's subwords (``susquehanna``) would otherwise get vectors
  of pure noise and crowd the neighbour lists. A subword with no trained row
  gets no vector. (For in-vocabulary words the result equals
  ``get_word_vector``; for public ``cc.xx.300.bin`` models nearly every
  bucket is trained.)
- ``word`` (vectors without subword information): a subword's vector is the
  frequency-weighted mean of the vectors of the words whose tokenization
  contains it; subwords in no word get none (and fall back).

Both return vectors already mapped into the shared space (the
:class:`~pipeline.multilingual.space.AlignedSpace` applies the mapping).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["subword_vectors", "subword_vectors_from_words"]


def trained_ngrams(model) -> set[str]:
    """The vocabulary words and every character n-gram of them: the strings training gave a vector.

    Compared by string, not by bucket: an unseen n-gram that hashes into a
    trained bucket (a collision) still counts as unseen.
    """
    seen: set[str] = set()
    for w in model.get_words():
        seen.update(model.get_subwords(w)[0])
    return seen


def subword_vectors(surfaces: Sequence[str], space, lowercase: bool = False, trained_only: bool = True) -> np.ndarray:
    """fastText (n-gram) vectors of subword surfaces, mapped; rows without a vector are zero."""
    import numpy as np

    model = getattr(space, "model", None)
    if model is None:
        raise InputError(getattr(space, "name", None) or None,
                         "a fastText .bin model (subword information) for WECHSEL's subword mode",
                         "only word vectors; use `wechsel: {mode: word}` for vectors without subwords")
    words = [s.lower() if lowercase else s for s in surfaces]
    out = np.zeros((len(words), space.dim), dtype=np.float32)
    rows = [i for i, w in enumerate(words) if w]
    if rows:
        if trained_only:
            matrix = model.get_input_matrix()
            seen = trained_ngrams(model)
            native = np.zeros((len(rows), space.dim), dtype=np.float32)
            for r, i in enumerate(rows):
                grams, ids = model.get_subwords(words[i])
                ids = [j for g, j in zip(grams, ids) if g in seen]
                if ids:
                    native[r] = matrix[ids].mean(0)
        else:
            native = np.stack([np.asarray(model.get_word_vector(words[i]), dtype=np.float32) for i in rows])
        has = np.any(native != 0, axis=1)
        mapped = space.alignment.map(native)
        mapped[~has] = 0
        out[rows] = mapped
    return out


def subword_vectors_from_words(tokenizer, words: Sequence[str], counts: Sequence[float],
                               word_vectors: np.ndarray) -> np.ndarray:
    """Word-based subword vectors: each token's frequency-weighted mean of the (mapped) vectors of the
    words whose tokenization (with and without a leading space) contains it."""
    import numpy as np
    from scipy import sparse

    words = list(words)
    counts = np.asarray(counts, dtype=np.float64)
    if len(words) != len(counts) or len(words) != len(word_vectors):
        raise ValueError("words, counts and word_vectors must have one row per word")
    rows: list[int] = []
    cols: list[int] = []
    for variant in (words, [" " + w for w in words]):
        enc = tokenizer(variant, add_special_tokens=False)["input_ids"]
        for j, ids in enumerate(enc):
            for t in set(ids):
                rows.append(t)
                cols.append(j)
    n_tok = len(tokenizer)
    m = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_tok, len(words))).tocsr()
    m.data[:] = 1.0  # a word counts once per token, whether one or both variants contain it
    m = m @ sparse.diags(counts)
    totals = np.asarray(m.sum(axis=1)).ravel()
    nz = totals > 0
    m = sparse.diags(np.where(nz, 1.0 / np.where(nz, totals, 1.0), 0.0)) @ m
    out = np.asarray(m @ np.asarray(word_vectors, dtype=np.float64), dtype=np.float32)
    out[~nz] = 0
    return out
