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
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .encoding import encode_batch

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["isolated_vectors", "aggregated_vectors", "static_vectors", "write_vectors", "MODES"]

MODES = ("isolation", "aggregate")


def isolated_vectors(model, tokenizer, words: Sequence[str], layers: Sequence[int] = (-1,), batch_size: int = 256,
                     max_length: int = 16, device: str | None = None,
                     progress: Callable[[float, str], None] | None = None) -> dict[int, np.ndarray]:
    """Each word encoded alone and mean-pooled over its subwords, for every layer in ``layers``."""
    import numpy as np
    import torch

    layers = tuple(layers)
    hidden = model.config.hidden_size
    out = {layer: np.zeros((len(words), hidden), dtype=np.float32) for layer in layers}
    order = sorted(range(len(words)), key=lambda i: len(words[i]))  # similar lengths pad less
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            vecs = encode_batch(model, tokenizer, [words[i] for i in idx], layers, max_length, device)
            for layer in layers:
                out[layer][idx] = vecs[layer].cpu().numpy()
            if progress:
                progress(min(1.0, (start + batch_size) / max(1, len(order))), "static vectors (isolation)")
    model.train(was_training)
    return out


def aggregated_vectors(model, tokenizer, words: Sequence[str], sentences: Iterable[Sequence[str]],
                       layers: Sequence[int] = (-1,), batch_size: int = 32, max_length: int = 128,
                       device: str | None = None, max_sentences: int | None = None
                       ) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Mean contextual vectors of ``words`` over their occurrences in tokenised ``sentences``.

    Returns ``({layer: matrix}, counts)``; a word with count 0 has a zero row.
    Needs a fast tokenizer (for ``word_ids``). Sentences longer than
    ``max_length`` subwords are truncated (the cut words are not counted).
    """
    import torch

    from .encoding import layer_name

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("aggregate vectors need a fast (Rust) tokenizer for word alignment")
    layers = tuple(layers)
    index = {w: i for i, w in enumerate(words)}
    hidden = model.config.hidden_size
    sums = {layer: torch.zeros((len(words), hidden), dtype=torch.float64) for layer in layers}
    counts = torch.zeros(len(words), dtype=torch.int64)
    n_layers = model.config.num_hidden_layers
    dev = device or model.device
    was_training = model.training
    model.eval()

    def flush(batch: list[list[str]]) -> None:
        enc = tokenizer(batch, is_split_into_words=True, padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
        flat_pos, occ_of_pos, occ_target = [], [], []
        seq_len = enc["input_ids"].shape[1]
        for s in range(len(batch)):
            occ_here: dict[int, int] = {}
            for t, w in enumerate(enc.word_ids(s)):
                if w is None or batch[s][w] not in index:
                    continue
                if w not in occ_here:
                    occ_here[w] = len(occ_target)
                    occ_target.append(index[batch[s][w]])
                flat_pos.append(s * seq_len + t)
                occ_of_pos.append(occ_here[w])
        if not occ_target:
            return
        out = model(**{k: v.to(dev) for k, v in enc.items()}, output_hidden_states=True)
        pos = torch.as_tensor(flat_pos, device=dev)
        occ = torch.as_tensor(occ_of_pos, device=dev)
        target = torch.as_tensor(occ_target)
        n_occ = len(occ_target)
        per_occ_n = torch.zeros(n_occ, device=dev).index_add_(0, occ, torch.ones(len(flat_pos), device=dev))
        for layer in layers:
            h = out.hidden_states[layer_name(layer, n_layers)]
            h = h.reshape(-1, h.shape[-1]).float()[pos]
            occ_mean = torch.zeros((n_occ, hidden), device=dev).index_add_(0, occ, h) / per_occ_n[:, None]
            sums[layer].index_add_(0, target, occ_mean.cpu().double())
        counts.index_add_(0, target, torch.ones(n_occ, dtype=torch.int64))

    with torch.no_grad():
        batch: list[list[str]] = []
        for i, sentence in enumerate(sentences):
            if max_sentences is not None and i >= max_sentences:
                break
            if sentence:
                batch.append(list(sentence))
            if len(batch) == batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    model.train(was_training)
    denom = counts.clamp(min=1).double()[:, None]
    return {layer: (sums[layer] / denom).float().numpy() for layer in layers}, counts.numpy()


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
