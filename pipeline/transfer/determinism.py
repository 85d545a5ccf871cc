"""Target tokenizers that come out the same on every run: WordPiece retrained deterministically, Unigram made canonical.

Hugging Face ``tokenizers`` (0.23) does not train WordPiece or Unigram
reproducibly; the same text gives another tokenizer in another process:

* **WordPiece** (BERT, MiniLM, ELECTRA) is trained by the BPE trainer with the
  ``##`` prefix. The ``##c`` tokens are created while it walks its word-count
  hash map, whose order is seeded per process, so their ids change from run to
  run; the merge queue breaks count ties by those ids, so the *learnt
  vocabulary* and the tokenisation change too (measured here: three runs of
  one spec, two different token sets; upstream: huggingface/tokenizers#1794,
  with the open fix #2066). :func:`retrain_wordpiece` counts the pre-tokenised
  words itself, registers every ``##c`` token the trainer would create in
  sorted order before training (so no id depends on hash order), feeds the
  trainer the counted words, and lays the vocabulary out as the stock trainer
  does: special tokens, the alphabet, the ``##c`` tokens, then the learnt
  tokens in merge order. Same normaliser, pre-tokeniser, special tokens,
  post-processor and size as ``train_new_from_iterator``.
* **Unigram** (XLM-R) gives the same pieces and the same tokenisation, but its
  EM sums log-probabilities in hash order (scores move in the 15th digit), and
  the required characters the model pruned get the scores ``min + k * 1e-4``
  in hash order (measured: the same pieces, every id moved).
  :func:`canonical_unigram` gives the single characters on that ladder its
  scores in code-point order, stores every score as the float32 SentencePiece
  keeps, and orders the pieces by score, ties by piece, special tokens first
  where they were.

Byte-level and byte-fallback BPE (RoBERTa, GPT-2 and every decoder kind) train
reproducibly already: their alphabet is sorted and no token is created in
hash order (checked over three processes for each kind).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

import numpy as np

from ..errors import InputError

__all__ = ["retrain_wordpiece", "canonical_unigram"]

#: copies of one word per string fed to the trainer (a frequent word is fed in several strings)
_CHUNK = 4096


def _word_counts(backend, texts: Iterable[str]) -> Counter:
    """What the trainer counts: the pre-tokenised pieces of the normalised texts."""
    norm, pre = backend.normalizer, backend.pre_tokenizer
    counts: Counter = Counter()
    for text in texts:
        if norm is not None:
            text = norm.normalize_str(text)
        if pre is None:
            counts[text] += 1 if text else 0
        else:
            counts.update(piece for piece, _ in pre.pre_tokenize_str(text) if piece)
    return +counts


def _separator(alphabet: set[str]) -> str:
    for sep in ("\n", "\x00", "\x1e", "\ufffe"):
        if sep not in alphabet:
            return sep
    raise InputError(None, "target text with a character free to separate words", "every candidate occurs")


def retrain_wordpiece(source_tokenizer, texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                      length: int | None = None):
    """The source's WordPiece trained again on ``texts``, the same on every run (see the module's text).

    ``length`` is accepted for symmetry with :func:`~pipeline.transfer.model.retrain_bpe`; the words are
    counted here, so the trainer sees no sequence count to report against."""
    from tokenizers import Regex, Tokenizer, pre_tokenizers, trainers

    from .model import _remap_post_processor, _wrap_like

    backend = source_tokenizer.backend_tokenizer
    tj = json.loads(backend.to_str())
    added = sorted(tj.pop("added_tokens") or [], key=lambda a: a["id"])
    post = tj.pop("post_processor", None)
    model = tj["model"]
    if model["type"] != "WordPiece":
        raise InputError(None, "a WordPiece source tokenizer", f"a {model['type']} tokenizer")
    prefix = model.get("continuing_subword_prefix") or "##"
    specials = [a["content"] for a in added if a.get("special")]
    counts = _word_counts(backend, texts)
    alphabet = {c for w in counts for c in w}
    continuing = sorted({prefix + c for w in counts for c in w[1:]} - set(specials))
    sep = _separator(alphabet)

    def fed():
        for word, n in sorted(counts.items()):
            piece = word + sep
            while n > 0:
                k = min(n, _CHUNK)
                yield piece * k
                n -= k

    bare = Tokenizer.from_str(json.dumps({**tj, "model": {**model, "vocab": {}}, "added_tokens": [],
                                          "normalizer": None, "post_processor": None,
                                          "pre_tokenizer": None}))
    bare.pre_tokenizer = pre_tokenizers.Split(Regex(f"[{sep}]"), behavior="removed")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=specials + continuing, continuing_subword_prefix=prefix,
                                        show_progress=False)
    bare.train_from_iterator(fed(), trainer=trainer, length=None)
    trained = json.loads(bare.to_str())
    by_id = [t for t, _ in sorted(trained["model"]["vocab"].items(), key=lambda kv: kv[1])]
    special_set, continuing_set = set(specials), set(continuing)
    head = special_set | continuing_set
    order = ([t for t in by_id if t in special_set] + sorted(t for t in by_id if len(t) == 1 and t not in head)
             + [t for t in by_id if t in continuing_set])
    placed = set(order)
    order += [t for t in by_id if t not in placed]
    vocab = {t: i for i, t in enumerate(order)}
    out = {**tj, "model": {**model, "vocab": vocab}}
    out["added_tokens"] = [{**a, "id": vocab[a["content"]]} for a in added if a["content"] in special_set]
    out["post_processor"] = _remap_post_processor(post, vocab.get) if post is not None else None
    return _wrap_like(source_tokenizer, out)


def _penalty_band(pieces: list, rest: list[int]) -> list[int]:
    """The single characters on the Unigram trainer's ladder of scores for pruned required characters.

    It gives them ``min``, ``min + 1e-4``, ``min + 2e-4``, ... in hash order, and model pieces can sit on
    the same rungs (several rare characters share the minimal score): every single character within
    ``1e-7`` of a rung, up to the first empty rung, is on the ladder."""
    chars = [i for i in rest if len(pieces[i][0]) == 1]
    if not chars:
        return []
    low = min(pieces[i][1] for i in rest)
    on: list[int] = []
    left = set(chars)
    penalty = 0.0
    while left:
        here = {i for i in left if abs(pieces[i][1] - (low + penalty)) <= 1e-7}
        if not here:
            break
        on += sorted(here)
        left -= here
        penalty += 0.0001
    return on


def canonical_unigram(tokenizer):
    """``tokenizer`` (a trained Unigram) with its pieces in a canonical order and float32 scores, in place."""
    from tokenizers import Tokenizer

    tj = json.loads(tokenizer.backend_tokenizer.to_str())
    model = tj["model"]
    if model["type"] != "Unigram":
        raise InputError(None, "a Unigram tokenizer", f"a {model['type']} tokenizer")
    pieces = [list(p) for p in model["vocab"]]
    special = {a["content"] for a in tj.get("added_tokens") or [] if a.get("special")}
    unk = pieces[model["unk_id"]][0] if model.get("unk_id") is not None else None
    fixed = {i for i, (p, _) in enumerate(pieces) if p in special or p == unk}
    rest = [i for i in range(len(pieces)) if i not in fixed]
    ladder = _penalty_band(pieces, rest)
    scores = sorted((pieces[i][1] for i in ladder), reverse=True)
    for i, score in zip(sorted(ladder, key=lambda i: pieces[i][0]), scores):
        pieces[i][1] = score
    for i in rest:
        pieces[i][1] = float(np.float32(pieces[i][1]))
    ranked = iter(sorted((pieces[i] for i in rest), key=lambda p: (-p[1], p[0])))
    new = [pieces[i] if i in fixed else next(ranked) for i in range(len(pieces))]
    model["vocab"] = new
    ids = {p: i for i, (p, _) in enumerate(new)}
    for a in tj.get("added_tokens") or []:
        if a["content"] in ids:
            a["id"] = ids[a["content"]]
    if tj.get("post_processor") is not None:
        from .model import _remap_post_processor

        tj["post_processor"] = _remap_post_processor(tj["post_processor"], ids.get)
    tokenizer._tokenizer = Tokenizer.from_str(json.dumps(tj))
    return tokenizer
