"""One language's words in the shared (aligned) space, out-of-vocabulary words included.

A word's vector comes from the language's native fastText ``.bin`` model
(the sum of its character n-gram vectors, so unseen words get one too), then
goes through the mapping learnt for that language (its preprocessing, then
``@ W``; see :mod:`pipeline.multilingual.mapping`). For the pivot language the
mapping is its own preprocessing (or nothing)::

    es = load_aligned_space("out/es.bin", "out/es.mapping.npy")
    en = load_aligned_space("out/en.bin", "out/en.mapping.npy")
    v = es["perrito"]                       # OOV or not, a vector in the English space
    en.nearest(v, k=5)                      # [(word, cosine), ...] among English words

Without a ``.bin`` (only a ``.vec`` or ``.npy``), in-vocabulary words still
work and an unknown word raises ``KeyError``. A gensim ``.kv`` is refused: it
is a pickle, which runs code when loaded (see :func:`pipeline.vectors.load_vectors`). Give the language's *native*
vectors: the mapping is applied here.

When the mappings were learnt with preprocessing (``normalize`` in
:class:`~pipeline.multilingual.mapping.MappingSettings`), the shared space is
the pivot's *preprocessed* space: save the pivot's own mapping as
``save_mapping(Alignment.identity(dim, alignment.target), "en.mapping.npy")``
so that its words go through the same steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from pipeline.errors import InputError

from .mapping import Alignment, load_mapping

__all__ = ["AlignedSpace", "load_aligned_space"]


class AlignedSpace:
    """Mapped word vectors of one language; ``space[word]`` works for any word when a fastText model is given."""

    def __init__(self, model=None, alignment: Alignment | None = None, keyed_vectors=None, name: str = ""):
        if model is None and keyed_vectors is None:
            raise ValueError("AlignedSpace needs a fastText model or keyed vectors")
        self.model = model
        self.kv = keyed_vectors
        self.name = name
        dim = model.get_dimension() if model is not None else keyed_vectors.vector_size
        self.alignment = alignment if alignment is not None else Alignment.identity(dim)
        if self.alignment.dim != dim:
            raise InputError(name or None, f"a mapping of dimension {dim} (the vectors')",
                             f"found {self.alignment.dim}")
        self._vocab = set(model.get_words()) if model is not None else set(keyed_vectors.key_to_index)
        self._matrix = None
        self._keys = None

    @property
    def dim(self) -> int:
        return self.alignment.dim

    def __contains__(self, word: str) -> bool:
        """Whether ``word`` is in the vocabulary (any word has a vector when a ``.bin`` is loaded)."""
        return word in self._vocab

    def native_vector(self, word: str) -> np.ndarray:
        """The unmapped vector: fastText subwords for any word, or the keyed vector."""
        if self.model is not None:
            return np.asarray(self.model.get_word_vector(word), dtype=np.float32)
        if word not in self.kv.key_to_index:
            raise KeyError(f"{word!r} is not in the vocabulary of {self.name or 'these vectors'} and no fastText "
                           ".bin model is loaded for out-of-vocabulary words")
        return np.asarray(self.kv[word], dtype=np.float32)

    def vector(self, word: str) -> np.ndarray:
        """``word``'s vector in the shared space."""
        return self.alignment.map(self.native_vector(word))

    __getitem__ = vector

    def vectors(self, words: Iterable[str]) -> np.ndarray:
        """A (n, dim) matrix of mapped vectors."""
        words = list(words)
        if not words:
            return np.empty((0, self.dim), dtype=np.float32)
        return self.alignment.map(np.stack([self.native_vector(w) for w in words]))

    def vocabulary_matrix(self, max_words: int | None = None) -> tuple[list[str], np.ndarray]:
        """The in-vocabulary words (most frequent first) and their mapped vectors, cached."""
        if self._matrix is None:
            if self.kv is not None:
                keys, native = list(self.kv.index_to_key), np.asarray(self.kv.vectors, dtype=np.float32)
            else:
                from .fasttext_train import fasttext_keyed_vectors

                kv = fasttext_keyed_vectors(self.model)
                keys, native = list(kv.index_to_key), kv.vectors
            self._keys, self._matrix = keys, self.alignment.map(native)
        n = len(self._keys) if max_words is None else max_words
        return self._keys[:n], self._matrix[:n]

    def nearest(self, vector: np.ndarray, k: int = 10, max_words: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` vocabulary words closest (cosine) to a vector of the shared space.

        Raises :class:`InputError` naming the space for a vector of another
        dimension or one holding nan or inf.
        """
        from .bli import search, unit_rows

        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dim,):
            raise InputError(self.name or None, f"one vector of dimension {self.dim} (the space's)",
                             f"shape {query.shape}")
        if not np.isfinite(query).all():  # every cosine would be nan, the "nearest" words arbitrary
            raise InputError(self.name or None, "a vector of finite numbers", "nan or inf")
        keys, matrix = self.vocabulary_matrix(max_words)
        scores, idx = search(unit_rows(query.reshape(1, -1)), unit_rows(matrix), k)
        return [(keys[i], float(s)) for s, i in zip(scores[0], idx[0])]


def load_aligned_space(vectors_path: str | Path, mapping_path: str | Path | None = None) -> AlignedSpace:
    """Load a language's space: a fastText ``.bin`` (or ``.vec`` / ``.npy`` vectors) and its mapping ``.npy``.

    ``mapping_path`` ``None`` means the pivot without preprocessing (identity).
    """
    from .fasttext_train import load_fasttext_model

    path = Path(vectors_path)
    alignment = load_mapping(mapping_path) if mapping_path is not None else None
    if path.name.endswith(".bin"):
        return AlignedSpace(model=load_fasttext_model(path), alignment=alignment, name=str(path))
    from pipeline.vectors import load_vectors

    return AlignedSpace(keyed_vectors=load_vectors(path), alignment=alignment, name=str(path))
