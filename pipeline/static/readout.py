"""Static vectors read out of a contextual model without training: isolation and aggregate.

* ``isolation`` (decontextualised): the word alone ("[CLS] word [SEP]"), the
  mean of the chosen layer's states over its subword tokens (special tokens
  excluded; :func:`pipeline.specialization.encoding.encode_batch`);
* ``aggregate``: the mean over the word's occurrences in a corpus of its
  contextual vector, itself the mean of its subword states in the sentence.
  Corpus sentences are token lists (words); a sentence longer than
  ``max_length`` subwords is truncated and the words cut off are not counted.

Both run batched forward passes under ``torch.no_grad()`` with a tqdm bar.
Results are ``{layer: (n_words, hidden) float32 array}``, keyed by the layers
as given. :mod:`pipeline.specialization.extract` (the specialization stage's
read-outs) uses these two.

:func:`load_teacher` loads a Hugging Face folder (encoder or decoder) and
refuses, with an :class:`~pipeline.errors.InputError`, a folder without a
tokenizer; :func:`check_layers` refuses a layer the model does not have.

>>> from transformers import BertConfig, BertModel, BertTokenizerFast
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "vocab.txt").write_text("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "##s"]))
>>> tok = BertTokenizerFast(vocab=str(d / "vocab.txt"))
>>> model = BertModel(BertConfig(vocab_size=8, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
...                              intermediate_size=16)).eval()
>>> iso = isolated_vectors(model, tok, ["cat", "dogs"], layers=(0, -1), show_progress=False)
>>> sorted(iso), iso[-1].shape
([-1, 0], (2, 8))
>>> agg, counts = aggregated_vectors(model, tok, ["cat", "dog", "bird"], [["cat", "dog"], ["dog"]], layers=(-1,),
...                                  show_progress=False)
>>> counts.tolist()
[1, 2, 0]
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence, TypeVar

from ..errors import InputError
from ..models import check_weights
from ..specialization.encoding import encode_batch, layer_name

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["load_teacher", "check_layers", "isolated_vectors", "aggregated_vectors", "hidden_index",
           "length_sorted_batches", "subword_lengths", "SORT_CHUNK"]

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "sentencepiece.bpe.model",
                    "spiece.model")


def load_teacher(folder: str | Path, device: str = "cpu"):
    """``(model, tokenizer)`` of a Hugging Face folder, the model in eval mode on ``device``.

    A byte-level BPE tokenizer is loaded with ``add_prefix_space=True`` (needed for pre-split words); one
    that has no such option and still joins pre-split words without a space (Qwen2, Llama 3, Gemma) gets
    a space put before every word by its normalizer. A decoder without a padding token (GPT-2, Llama) pads
    with its end-of-text token
    (padding is masked out everywhere here). A folder without a tokenizer, or a
    tokenizer that is not a fast one (word alignment needs ``word_ids``), is an
    :class:`InputError` naming the folder.
    """
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise InputError(folder, "a model folder with config.json", "no config.json there")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise InputError(folder, f"a model folder with its tokenizer (one of {', '.join(_TOKENIZER_FILES)})",
                         "none there")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=True)
    except (OSError, ValueError) as exc:
        raise InputError(folder, "a loadable tokenizer", f"{type(exc).__name__}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(folder, "a fast (Rust) tokenizer, for word alignment", "a slow tokenizer")
    if getattr(tokenizer, "add_prefix_space", None) is False:
        # byte-level BPE (GPT-2, RoBERTa) takes pre-split words only with a space before each, and a
        # word of running text is "Ġword" anyway
        tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=True, add_prefix_space=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if not _words_kept_apart(tokenizer):
        # Qwen2 / Llama 3 (byte-level BPE behind a regex split) and Gemma (SentencePiece without its
        # prepended space) encode each pre-split word with no space before it: the model would read
        # "thecatsat". A space put before every word by the normalizer makes them "Ġcat" / "▁cat", as
        # in running text (and as add_prefix_space does for GPT-2).
        from tokenizers import normalizers

        backend = tokenizer.backend_tokenizer
        backend.normalizer = normalizers.Sequence([normalizers.Prepend(" ")]
                                                  + ([backend.normalizer] if backend.normalizer else []))
        if not _words_kept_apart(tokenizer):
            log.warning("%s: the tokenizer joins pre-split words without a space between them", folder)
    model = AutoModel.from_pretrained(check_weights(folder)).to(device).eval()
    return model, tokenizer


def _words_kept_apart(tokenizer) -> bool:
    """Whether two pre-split words come back from the tokenizer as two words (not glued together)."""
    ids = tokenizer(["the", "cat"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    return len(tokenizer.decode(ids).split()) == 2


def hidden_index(model, layer: int) -> int:
    """The non-negative ``hidden_states`` index of ``layer`` for this model (0: embeddings)."""
    return layer_name(layer, model.config.num_hidden_layers)


def check_layers(model, layers: Sequence[int], where: str = "layers") -> dict[int, int]:
    """``{layer: hidden-state index}``; a layer the model does not have is an :class:`InputError` naming ``where``."""
    n = model.config.num_hidden_layers
    out = {}
    for layer in layers:
        try:
            out[layer] = layer_name(layer, n)
        except ValueError:
            raise InputError(where, f"layers between -{n + 1} and {n} (the model has {n} layers and its "
                             "embedding layer, 0)", f"found {layer}") from None
    return out


#: batches of a teacher pass are sorted by length within chunks of this many batches (0: corpus order)
SORT_CHUNK = 64


def length_sorted_batches(items: Iterable[T], batch_size: int, lengths: Callable[[list[T]], Sequence[int]],
                          chunk_batches: int = SORT_CHUNK) -> Iterator[list[T]]:
    """``items`` in batches of ``batch_size``, each chunk of ``chunk_batches`` batches sorted by length.

    ``lengths(chunk)`` gives the length of every item of a chunk (:func:`subword_lengths`: what the
    teacher will read). A padded batch costs its longest input times its size: on 4,000 sentences of the
    offline English corpora, batches of 32 in corpus order hold 2.42x the real subword tokens; sorted by
    word count in chunks of 64 batches, 1.30x; by subword count, 1.04x (``bench/bench_teacher_batches.py``).
    Every item comes out exactly once; the order within a chunk is by length (stable), so it is
    deterministic. A chunk of 0 keeps the corpus order.
    """
    span = batch_size * max(1, chunk_batches)
    chunk: list = []

    def emit(chunk):
        if chunk_batches > 0:
            n = lengths(chunk)
            chunk = [chunk[i] for i in sorted(range(len(chunk)), key=n.__getitem__)]
        for i in range(0, len(chunk), batch_size):
            yield chunk[i: i + batch_size]

    for item in items:
        chunk.append(item)
        if len(chunk) == span:
            yield from emit(chunk)
            chunk = []
    if chunk:
        yield from emit(chunk)


def subword_lengths(tokenizer, max_length: int, words: Callable[[T], Sequence[str]] = list
                    ) -> Callable[[list[T]], list[int]]:
    """``lengths`` for :func:`length_sorted_batches`: how many tokens the teacher reads for each item (its
    ``words(item)`` pre-split words, special tokens included, cut at ``max_length``), one tokenizer call
    per chunk."""
    def lengths(chunk: list[T]) -> list[int]:
        enc = tokenizer([list(words(x)) for x in chunk], is_split_into_words=True, truncation=True,
                        max_length=max_length)
        return [len(ids) for ids in enc["input_ids"]]

    return lengths


def _bar(total: int, desc: str, show: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="it", disable=(None if show is None else not show), leave=False)


def isolated_vectors(model, tokenizer, words: Sequence[str], layers: Sequence[int] = (-1,), batch_size: int = 256,
                     max_length: int = 16, device: str | None = None,
                     progress: Callable[[float, str], None] | None = None,
                     show_progress: bool | None = None, bf16: bool = False) -> dict[int, np.ndarray]:
    """Each word encoded alone and mean-pooled over its subwords, for every layer in ``layers``."""
    import numpy as np
    import torch

    from ..torchutil import autocast

    layers = tuple(layers)
    hidden = model.config.hidden_size
    out = {layer: np.zeros((len(words), hidden), dtype=np.float32) for layer in layers}
    order = sorted(range(len(words)), key=lambda i: len(words[i]))  # similar lengths pad less
    was_training = model.training
    model.eval()
    dev = device or model.device
    with torch.no_grad(), _bar(len(order), "isolation", show_progress) as bar, autocast(str(dev), bf16):
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            vecs = encode_batch(model, tokenizer, [words[i] for i in idx], layers, max_length, dev)
            for layer in layers:
                out[layer][idx] = vecs[layer].float().cpu().numpy()
            bar.update(len(idx))
            if progress:
                progress(min(1.0, (start + batch_size) / max(1, len(order))), "static vectors (isolation)")
    model.train(was_training)
    return out


def aggregated_vectors(model, tokenizer, words: Sequence[str], sentences: Iterable[Sequence[str]],
                       layers: Sequence[int] = (-1,), batch_size: int = 32, max_length: int = 128,
                       device: str | None = None, max_sentences: int | None = None,
                       progress: Callable[[float, str], None] | None = None,
                       show_progress: bool | None = None, bf16: bool = False, sort_chunk: int = SORT_CHUNK
                       ) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Mean contextual vectors of ``words`` over their occurrences in tokenised ``sentences``.

    Returns ``({layer: matrix}, counts)``; a word with count 0 has a zero row.
    Needs a fast tokenizer (for ``word_ids``). Sentences longer than
    ``max_length`` subwords are truncated (the cut words are not counted).
    Each batch is one forward pass, of sentences of similar length (:func:`length_sorted_batches`,
    ``sort_chunk`` batches at a time); the sums are kept in float64.
    """
    import torch

    from ..torchutil import autocast

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("aggregate vectors need a fast (Rust) tokenizer for word alignment")
    layers = tuple(layers)
    index = {w: i for i, w in enumerate(words)}
    hidden = model.config.hidden_size
    sums = {layer: torch.zeros((len(words), hidden), dtype=torch.float64) for layer in layers}
    counts = torch.zeros(len(words), dtype=torch.int64)
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
        with autocast(str(dev), bf16):
            out = model(**{k: v.to(dev) for k, v in enc.items()}, output_hidden_states=True)
        pos = torch.as_tensor(flat_pos, device=dev)
        occ = torch.as_tensor(occ_of_pos, device=dev)
        target = torch.as_tensor(occ_target)
        n_occ = len(occ_target)
        per_occ_n = torch.zeros(n_occ, device=dev).index_add_(0, occ, torch.ones(len(flat_pos), device=dev))
        for layer in layers:
            h = out.hidden_states[hidden_index(model, layer)]
            h = h.reshape(-1, h.shape[-1]).float()[pos]
            occ_mean = torch.zeros((n_occ, hidden), device=dev).index_add_(0, occ, h) / per_occ_n[:, None]
            sums[layer].index_add_(0, target, occ_mean.cpu().double())
        counts.index_add_(0, target, torch.ones(n_occ, dtype=torch.int64))

    kept = (list(s) for s in itertools.islice(sentences, max_sentences) if s)
    with torch.no_grad(), _bar(max_sentences or 0, "aggregate", show_progress) as bar:
        done = 0
        for batch in length_sorted_batches(kept, batch_size, subword_lengths(tokenizer, max_length), sort_chunk):
            flush(batch)
            done += len(batch)
            bar.update(len(batch))
            if progress and max_sentences:
                progress(min(1.0, done / max_sentences), "static vectors (aggregate)")
    model.train(was_training)
    denom = counts.clamp(min=1).double()[:, None]
    return {layer: (sums[layer] / denom).float().numpy() for layer in layers}, counts.numpy()
