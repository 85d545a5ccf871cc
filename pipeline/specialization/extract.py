"""Static type-level vectors read out of any encoder (specialized or not), per layer.

Two modes:

* ``isolation`` (decontextualized): the word alone, "[CLS] word [SEP]", its
  subword states mean-pooled -- the same encoding the specialization trains;
* ``aggregate``: the mean, over the word's occurrences in a corpus, of its
  contextual vector (the mean of its subword states in the sentence).
  Only single-token words of the corpus can match; a word never seen gets no
  vector unless ``fallback="isolation"`` fills it in.

Results are ``{layer: (n_words, hidden) float32 array}``; :func:`write_vectors`
stores one set in the word2vec text format (``.vec``, ``_`` for spaces) plus
the exact ``.npy`` form (and gensim's ``.kv`` for users; see :mod:`pipeline.vectors`).

>>> from transformers import BertConfig, BertModel, BertTokenizerFast
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "vocab.txt").write_text("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "##s"]))
>>> tok = BertTokenizerFast(vocab=str(d / "vocab.txt"))
>>> model = BertModel(BertConfig(vocab_size=8, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
...                              intermediate_size=16)).eval()
>>> iso = isolated_vectors(model, tok, ["cat", "dogs"], layers=(0, -1))
>>> sorted(iso), iso[-1].shape
([-1, 0], (2, 8))
>>> agg, counts = aggregated_vectors(model, tok, ["cat", "dog", "bird"], [["cat", "dog"], ["dog"]], layers=(-1,))
>>> counts.tolist()
[1, 2, 0]
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..static.readout import aggregated_vectors, isolated_vectors  # the one implementation of both read-outs

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["isolated_vectors", "aggregated_vectors", "static_vectors", "write_vectors", "MODES"]

MODES = ("isolation", "aggregate")


def static_vectors(model, tokenizer, words: Sequence[str], mode: str = "isolation", *, layers: Sequence[int] = (-1,),
                   sentences: Iterable[Sequence[str]] | None = None, fallback: str | None = "isolation",
                   batch_size: int = 256, max_length: int = 16, context_max_length: int = 128,
                   max_sentences: int | None = None, device: str | None = None
                   ) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """Vectors of ``words`` in one mode; ``(vectors per layer, corpus counts or None)``.

    In ``aggregate`` mode a word with no occurrence gets its isolated vector
    when ``fallback == "isolation"`` (its count stays 0), else a zero row.
    """
    import numpy as np

    if mode == "isolation":
        return isolated_vectors(model, tokenizer, words, layers, batch_size, max_length, device), None
    if mode != "aggregate":
        raise ValueError(f"mode must be one of {MODES}; found {mode!r}")
    if sentences is None:
        raise ValueError("aggregate vectors need sentences")
    vecs, counts = aggregated_vectors(model, tokenizer, words, sentences, layers, max(1, batch_size // 8),
                                      context_max_length, device, max_sentences)
    missing = np.flatnonzero(counts == 0)
    if fallback == "isolation" and len(missing):
        iso = isolated_vectors(model, tokenizer, [words[i] for i in missing], layers, batch_size, max_length, device)
        for layer in vecs:
            vecs[layer][missing] = iso[layer]
    log.info("aggregate vectors: %d of %d words seen in the corpus", int((counts > 0).sum()), len(words))
    return vecs, counts


def write_vectors(words: Sequence[str], matrix: np.ndarray, path_without_suffix: str | Path,
                  counts: np.ndarray | None = None) -> dict[str, Path]:
    """Write ``X.vec`` (word2vec text, ``_`` for spaces), ``X.npy`` and ``X.kv``; see :func:`pipeline.vectors.save_vectors`."""
    from ..vectors import make_keyed_vectors, save_vectors

    kv = make_keyed_vectors(list(words), matrix, counts)
    return save_vectors(kv, path_without_suffix)
