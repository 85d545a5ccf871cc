"""X2Static: a static word table distilled from a frozen contextual teacher (Gupta & Jaggi, ACL 2021).

Reference: P. Gupta, M. Jaggi, "Obtaining Better Static Word Embeddings Using
Contextual Embedding Models", ACL 2021, and its code, epfml/X2Static
(``src/learn_from_bert_ver2.py`` and ``..._paragraph.py``; read, not copied).

What is followed (from the released code)
-----------------------------------------
* **One table**, ``V x d`` with ``d`` the teacher's hidden size, initialised
  uniform in ``[-1/d, 1/d]``. It is the only trained parameter: the teacher's
  context vector takes the place of CBOW's averaged context table.
* **Context vector** (``context: sentence_mean``, the default): the sentence goes
  through the teacher once, *unmasked* (the code says "No masking at all in this
  version"), and the context is the mean of the layer's states over every
  non-padding token, the special tokens included. Every vocabulary word of the
  sentence is a target with that same context, so one teacher pass serves the
  whole sentence.
* **Paragraph variant**: one teacher pass per paragraph; a target's context is
  the mean of the states over *its own sentence's* tokens inside the paragraph.
* **Objective**, per batch of ``batch_sentences`` sentences (the code's 128)::

      loss = mean_i log(1 + exp(-c_i . v_{w_i}))  +  sum_k mean_i log(1 + exp(c_i . v_{n_ik}))

  with the scores clamped to ``[-20, 20]`` and ``negatives`` (10) words drawn
  per target, with replacement, with probability proportional to
  ``count ** 0.5`` (a negative may equal the target, as in the code).
* **Subsampling**: an occurrence is dropped with probability
  ``1 - min(1, sqrt(t / f) + t / f)``, ``f`` the word's relative frequency,
  ``t = 5e-6``, drawn afresh each epoch.
* **Sparse updates**: ``torch.nn.Embedding(sparse=True)`` and
  ``torch.optim.SparseAdam`` (lr 0.001, the code's default ``algo``); only the
  rows that appear in a batch (targets and negatives) move, and a row that
  appears several times gets the sum of its gradients.

Where this deviates
-------------------
* **Teacher cache.** The context vectors are computed once, batched, into a
  memory-mapped float32 file per layer (:func:`build_context_cache`), and the
  epochs train over the cache. The code runs the teacher again in every epoch;
  since the teacher is frozen and unmasked the vectors are the same each time
  (up to the code's fp16), so the cache changes nothing but the cost.
* **Input**: sentences are token lists (the corpus's words); the vocabulary is
  given, and a word cut off by ``max_length`` is not a target (the code keeps
  it). A paragraph is ``paragraph_sentences`` consecutive corpus sentences
  of one document: it ends where a document does (the corpus's
  ``documents.npy``), as the code's paragraphs are lines of a document (the
  code splits its paragraphs at ``. ? !`` tokens; a ``max_sentences``
  sample keeps such runs whole, see ``stages._Spread``); its context spans the
  sentence's word tokens (no ``[CLS]``/``[SEP]``).
* **Batches** are shuffled sentences (paragraphs) of the cache; the code
  shuffles within buffers of 2**18 lines. Randomness is numpy's, seeded by
  ``(seed, epoch)``, so a resumed run draws what an uninterrupted one draws.
* **``context: others_mean``** (not in the paper's code; the issue's reference
  run): a target's context is the mean of the *other* words' subword states in
  its sentence (its own subwords and the special tokens left out); a target
  alone in its sentence has none and is skipped.
* The paper also describes a variant with the target masked (one teacher pass
  per target); it is not implemented (it multiplies the teacher's cost by the
  sentence length).

Checkpoints: after each ``checkpoint_every`` epochs the table, the SparseAdam
state, the epoch and the loss curve go to one fingerprinted file
(:func:`pipeline.torchutil.save_checkpoint`); a killed run resumes from the
last one and ends with the same table as an uninterrupted run.

>>> import numpy as np, torch
>>> table = new_table(4, 3, seed=0)
>>> _ = torch.nn.init.zeros_(table.weight.data)
>>> opt = torch.optim.SparseAdam(table.parameters(), lr=0.01)
>>> ctx = torch.ones(2, 3); loss = x2static_step(table, opt, ctx, torch.tensor([0, 1]), torch.tensor([[2, 3]]))
>>> round(loss, 4)  # 2 log 2 at an almost zero table
1.3863
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .readout import SORT_CHUNK, length_sorted_batches, subword_lengths

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["ContextCache", "build_context_cache", "load_context_cache", "paragraph_starts", "new_table",
           "x2static_step", "rejection_probabilities", "negative_distribution", "train_x2static", "CLAMP"]

CLAMP = 20.0  # the code's clamp of the scores before the logistic loss


@dataclass
class ContextCache:
    """The teacher's context vectors on disk: ``contexts.L<i>.f32`` (n_contexts x hidden) per layer index,
    and per target occurrence its word id (``occ_word``) and context row (``occ_ctx``), grouped by
    sentence / paragraph (``group_offsets``: the occurrences of group g are ``[off[g], off[g + 1])``)."""

    folder: Path
    hidden: int
    layers: tuple
    n_contexts: int
    occ_word: "np.ndarray"
    occ_ctx: "np.ndarray"
    group_offsets: "np.ndarray"
    stats: dict = field(default_factory=dict)

    def contexts(self, index: int) -> "np.ndarray":
        import numpy as np

        return np.memmap(self.folder / f"contexts.L{index}.f32", dtype=np.float32, mode="r",
                         shape=(self.n_contexts, self.hidden))

    def counts(self, n_words: int) -> "np.ndarray":
        import numpy as np

        return np.bincount(self.occ_word, minlength=n_words).astype(np.int64)


def load_context_cache(folder: str | Path, fingerprint: str) -> ContextCache | None:
    """The complete cache in ``folder`` when it was built for ``fingerprint``, else None."""
    import numpy as np

    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("fingerprint") != fingerprint:
        return None
    return ContextCache(folder, meta["hidden"], tuple(meta["layers"]), meta["n_contexts"],
                        np.load(folder / "occ_word.npy"), np.load(folder / "occ_ctx.npy"),
                        np.load(folder / "group_offsets.npy"), meta["stats"])


def paragraph_starts(n_sentences: int, paragraph_sentences: int, document_starts=None) -> list[int]:
    """Where each paragraph of a corpus of ``n_sentences`` begins: every ``paragraph_sentences`` sentences
    counted from the start of each document (``document_starts``: the sentence each begins at; default one
    document), so no paragraph runs from one document into the next.

    >>> paragraph_starts(12, 5, [0, 7])
    [0, 5, 7]
    >>> paragraph_starts(12, 5)
    [0, 5, 10]
    """
    if n_sentences <= 0:
        return []
    docs = () if document_starts is None else document_starts
    bounds = sorted({0} | {int(d) for d in docs if 0 < int(d) < n_sentences})
    out: list[int] = []
    for a, b in zip(bounds, bounds[1:] + [n_sentences]):
        out.extend(range(a, b, max(1, int(paragraph_sentences))))
    return out


def _groups(sentences: Iterable[Sequence[str]], variant: str, paragraph_sentences: int, max_sentences: int | None,
            starts=None):
    """Token lists of one teacher input each, with the sentence number of every word. A paragraph is cut
    after ``paragraph_sentences`` sentences and before every sentence whose position in ``sentences`` is in
    ``starts`` (the first sentence of a document, or of a paragraph a sample kept whole)."""
    starts = frozenset(int(i) for i in starts) if starts is not None else frozenset()
    para: list[str] = []
    sent_of: list[int] = []
    j = 0
    for i, sentence in enumerate(sentences):
        if max_sentences and i >= max_sentences:
            break
        if variant != "sentence" and i in starts and para:
            yield para, sent_of
            para, sent_of, j = [], [], 0
        if not sentence:
            continue
        if variant == "sentence":
            yield list(sentence), [0] * len(sentence)
            continue
        para.extend(sentence)
        sent_of.extend([j] * len(sentence))
        j += 1
        if j == paragraph_sentences:
            yield para, sent_of
            para, sent_of, j = [], [], 0
    if para:
        yield para, sent_of


class _TeacherProgress:
    """Progress of the teacher pass where no terminal shows tqdm's bar (a luigi worker's log): a log line
    and ``progress(fraction, message)`` at most every ``every`` seconds, and once at the end."""

    clock = staticmethod(time.perf_counter)

    def __init__(self, total: int | None, progress: Callable[[float, str], None] | None, every: float = 30.0):
        self.total, self.progress, self.every = total, progress, every
        self.started = self.last = self.clock()
        self.sentences, self.reported = 0, -1

    def update(self, sentences: int, tokens: int, final: bool = False) -> None:
        self.sentences += sentences
        now = self.clock()
        if (now - self.last < self.every and not final) or self.reported == self.sentences:
            return
        self.last, self.reported = now, self.sentences
        seconds = max(1e-9, now - self.started)
        rate = tokens / seconds
        if self.total:
            frac = min(1.0, self.sentences / self.total)
            left = seconds * (1 - frac) / frac if 0 < frac < 1 else 0.0
            msg = (f"x2static teacher pass: {self.sentences:,} of {self.total:,} sentences ({100 * frac:.0f}%), "
                   f"{rate:,.0f} tokens/s, about {left / 60:.1f} min left")
        else:
            frac = None
            msg = f"x2static teacher pass: {self.sentences:,} sentences, {rate:,.0f} tokens/s"
        log.info("%s", msg)
        if self.progress is not None and frac is not None:
            self.progress(frac, msg)


def _sentences_in(group: tuple[list[str], list[int]]) -> int:
    """How many corpus sentences one teacher input holds (a paragraph holds several)."""
    sent_of = group[1]
    return sent_of[-1] + 1 if sent_of else 0


def build_context_cache(model, tokenizer, sentences: Iterable[Sequence[str]], words: Sequence[str],
                        layers: Sequence[int], folder: str | Path, fingerprint: str, *, variant: str = "sentence",
                        context: str = "sentence_mean", paragraph_sentences: int = 5, max_length: int = 128,
                        batch_size: int = 32, max_sentences: int | None = None, device: str | None = None,
                        bf16: bool = False, show_progress: bool | None = None,
                        progress: Callable[[float, str], None] | None = None,
                        total_sentences: int | None = None, sort_chunk: int = SORT_CHUNK,
                        paragraph_starts=None) -> ContextCache:
    """Run the frozen teacher once over ``sentences`` and store every target's context vector.

    ``layers`` are non-negative ``hidden_states`` indices. With ``total_sentences`` (how many ``sentences``
    holds), the pass reports its share done and the time left to ``progress`` and to the log every 30 s.
    Each forward pass takes teacher inputs of similar length (:func:`.readout.length_sorted_batches`, chunks
    of ``sort_chunk`` batches; 0: corpus order), so the cache lists the groups in that order. For the paragraph
    variant, ``paragraph_starts`` (positions in ``sentences``) begin a new paragraph besides every
    ``paragraph_sentences``-th sentence: the first sentence of each document (no paragraph runs across two),
    or of each paragraph a ``max_sentences`` sample kept (:class:`.stages._Spread`'s ``starts``). Reuses a complete
    cache built for the same ``fingerprint``; otherwise writes a fresh one
    into ``folder.tmp`` and renames it into place when done, so a killed
    teacher pass leaves no cache that looks complete.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from ..torchutil import autocast

    folder = Path(folder)
    cached = load_context_cache(folder, fingerprint)
    if cached is not None:
        log.info("reusing the teacher cache in %s", folder)
        return cached
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("X2Static needs a fast (Rust) tokenizer for word alignment")
    tmp = folder.with_name(folder.name + ".tmp")
    for stale in (tmp, folder):
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir(parents=True)
    layers = tuple(int(i) for i in layers)
    index = {w: i for i, w in enumerate(words)}
    hidden = model.config.hidden_size
    dev = device or model.device
    files = {i: open(tmp / f"contexts.L{i}.f32", "wb") for i in layers}
    occ_word: list[np.ndarray] = []
    occ_ctx: list[np.ndarray] = []
    offsets = [0]
    n_ctx = 0
    n_occ = 0
    n_tokens = 0
    n_groups = 0
    skipped_alone = 0
    started = time.perf_counter()
    model.eval()

    def flush(batch: list[tuple[list[str], list[int]]]) -> None:
        nonlocal n_ctx, n_occ, n_tokens, n_groups, skipped_alone
        enc = tokenizer([b[0] for b in batch], is_split_into_words=True, padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        T = enc["input_ids"].shape[1]
        attention = enc["attention_mask"]
        n_tokens += int(attention.sum())
        scope_pos, scope_id = [], []      # token positions pooled into each scope (a sentence's context)
        occ_pos, occ_id = [], []          # token positions of each target occurrence
        occ_scope, occ_w, occ_group = [], [], []
        n_scope = 0
        for s, (toks, sent_of) in enumerate(batch):
            wids = enc.word_ids(s)
            scopes: dict[int, int] = {}
            if variant == "sentence" and context == "sentence_mean":
                scopes[0] = n_scope
                n_scope += 1
                for t in range(T):
                    if attention[s, t]:
                        scope_pos.append(s * T + t)
                        scope_id.append(scopes[0])
            seen: dict[int, int] = {}
            for t, w in enumerate(wids):
                if w is None:
                    continue
                j = sent_of[w]
                if j not in scopes:
                    scopes[j] = n_scope
                    n_scope += 1
                if not (variant == "sentence" and context == "sentence_mean"):
                    scope_pos.append(s * T + t)
                    scope_id.append(scopes[j])
                if toks[w] in index:
                    if w not in seen:
                        seen[w] = len(occ_w)
                        occ_w.append(index[toks[w]])
                        occ_scope.append(scopes[j])
                        occ_group.append(s)
                    occ_pos.append(s * T + t)
                    occ_id.append(seen[w])
        with torch.no_grad(), autocast(str(dev), bf16):
            out = model(**{k: v.to(dev) for k, v in enc.items()}, output_hidden_states=True)
        sp = torch.as_tensor(scope_pos, device=dev)
        si = torch.as_tensor(scope_id, device=dev)
        scope_n = torch.zeros(n_scope, device=dev).index_add_(0, si, torch.ones(len(scope_pos), device=dev))
        op = torch.as_tensor(occ_pos, dtype=torch.long, device=dev)
        oi = torch.as_tensor(occ_id, dtype=torch.long, device=dev)
        occ_n = torch.zeros(len(occ_w), device=dev).index_add_(0, oi, torch.ones(len(occ_pos), device=dev))
        osc = torch.as_tensor(occ_scope, dtype=torch.long, device=dev)
        keep = None
        if context == "others_mean":
            keep = (scope_n[osc] - occ_n) > 0
        for i in layers:
            h = out.hidden_states[i].float().reshape(-1, hidden)
            scope_sum = torch.zeros((n_scope, hidden), device=dev).index_add_(0, si, h[sp])
            if context == "sentence_mean":
                rows = scope_sum / scope_n.clamp(min=1)[:, None]
            else:
                occ_sum = torch.zeros((len(occ_w), hidden), device=dev).index_add_(0, oi, h[op])
                rows = (scope_sum[osc] - occ_sum)[keep] / (scope_n[osc] - occ_n)[keep][:, None]
            files[i].write(np.ascontiguousarray(rows.cpu().numpy(), dtype=np.float32).tobytes())
        w = np.asarray(occ_w, dtype=np.int32)
        g = np.asarray(occ_group, dtype=np.int64)
        if context == "sentence_mean":
            c = n_ctx + np.asarray(occ_scope, dtype=np.int64)
            n_ctx += n_scope
        else:
            k = keep.cpu().numpy()
            skipped_alone += int((~k).sum())
            w, g = w[k], g[k]
            c = n_ctx + np.arange(len(w), dtype=np.int64)
            n_ctx += len(w)
        occ_word.append(w)
        occ_ctx.append(c)
        n_occ += len(w)
        per_group = np.bincount(g, minlength=len(batch))
        for m in per_group:
            if m:  # a sentence without targets trains nothing: not a group
                offsets.append(offsets[-1] + int(m))
                n_groups += 1

    if max_sentences and total_sentences:
        total_sentences = min(total_sentences, max_sentences)
    report = _TeacherProgress(total_sentences, progress)
    with tqdm(desc="x2static teacher pass", unit="sent", total=total_sentences,
              disable=None if show_progress is None else not show_progress, leave=False) as bar:
        groups = _groups(sentences, variant, paragraph_sentences, max_sentences, paragraph_starts)
        lengths = subword_lengths(tokenizer, max_length, words=lambda g: g[0])
        for batch in length_sorted_batches(groups, batch_size, lengths, sort_chunk):
            flush(batch)
            done = sum(_sentences_in(b) for b in batch)
            bar.update(done)
            report.update(done, n_tokens)
    report.update(0, n_tokens, final=True)
    for f in files.values():
        f.close()
    seconds = time.perf_counter() - started
    np.save(tmp / "occ_word.npy", np.concatenate(occ_word) if occ_word else np.zeros(0, np.int32))
    np.save(tmp / "occ_ctx.npy", np.concatenate(occ_ctx) if occ_ctx else np.zeros(0, np.int64))
    np.save(tmp / "group_offsets.npy", np.asarray(offsets, dtype=np.int64))
    stats = {"teacher_seconds": seconds, "teacher_tokens": n_tokens, "targets": n_occ, "groups": n_groups,
             "contexts": n_ctx, "skipped_alone": skipped_alone,
             "teacher_tokens_per_second": n_tokens / seconds if seconds > 0 else None}
    meta = {"fingerprint": fingerprint, "hidden": hidden, "layers": list(layers), "n_contexts": n_ctx,
            "stats": stats}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder)
    return load_context_cache(folder, fingerprint)


def new_table(n_words: int, dim: int, seed: int):
    """The static table, uniform in ``[-1/dim, 1/dim]`` as in the code, with sparse gradients."""
    import torch

    table = torch.nn.Embedding(n_words, dim, sparse=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        table.weight.copy_(torch.rand((n_words, dim), generator=g) * (2.0 / dim) - 1.0 / dim)
    return table


def x2static_step(table, optimizer, ctx, targets, negatives) -> float:
    """One update: ``ctx`` (B, d) teacher contexts, ``targets`` (B,), ``negatives`` (K, B); returns the loss.

    ``loss = mean_i softplus(-clamp(c_i . v_t_i)) + sum_k mean_i softplus(clamp(c_i . v_n_ki))``.
    """
    import torch
    import torch.nn.functional as F

    optimizer.zero_grad()
    pos = (ctx * table(targets)).sum(-1)
    neg = (ctx.unsqueeze(0) * table(negatives)).sum(-1)  # (K, B)
    loss = F.softplus(-pos.clamp(-CLAMP, CLAMP)).mean() + F.softplus(neg.clamp(-CLAMP, CLAMP)).mean(dim=1).sum()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def rejection_probabilities(counts, t: float):
    """Per word, the chance that an occurrence is dropped: ``1 - min(1, sqrt(t/f) + t/f)`` (0 for unseen words).

    >>> [round(p, 3) for p in rejection_probabilities([90, 10, 0], t=0.01).tolist()]
    [0.883, 0.584, 0.0]
    """
    import numpy as np

    counts = np.asarray(counts, dtype=np.float64)
    f = counts / max(1.0, counts.sum())
    with np.errstate(divide="ignore"):
        r = np.where(f > 0, t / np.where(f > 0, f, 1.0), np.inf)
    return 1.0 - np.minimum(1.0, np.sqrt(r) + r)


def negative_distribution(counts):
    """The negatives' distribution: ``count ** 0.5``, normalised.

    >>> negative_distribution([4, 1, 0]).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0]
    """
    import numpy as np

    w = np.sqrt(np.asarray(counts, dtype=np.float64))
    return w / w.sum()


def train_x2static(cache: ContextCache, index: int, n_words: int, checkpoint: str | Path, fingerprint: str, *,
                   epochs: int = 5, lr: float = 0.001, negatives: int = 10, t: float = 5e-6,
                   batch_sentences: int = 128, seed: int = 0, checkpoint_every: int = 1, device: str = "cpu",
                   show_progress: bool | None = None,
                   progress: Callable[[float, str], None] | None = None) -> tuple["np.ndarray", dict]:
    """Train the table for layer ``index`` over the cache; ``(table (n_words, d) float32, record)``.

    ``record`` has ``loss`` (mean loss per epoch, weighted by targets), ``steps``,
    ``targets_trained``, ``train_seconds`` and ``resumed_from_epoch``. A checkpoint
    at ``checkpoint`` with this ``fingerprint`` is resumed from; ``progress`` is
    called after every epoch (after its checkpoint), so raising from it is a kill.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from ..torchutil import load_checkpoint, save_checkpoint

    counts = cache.counts(n_words)
    rej = rejection_probabilities(counts, t)
    neg_p = negative_distribution(counts)
    contexts = cache.contexts(index)
    offsets = cache.group_offsets
    n_groups = len(offsets) - 1
    table = new_table(n_words, cache.hidden, seed).to(device)
    optimizer = torch.optim.SparseAdam(table.parameters(), lr=lr)
    record = {"loss": [], "steps": 0, "targets_trained": 0, "train_seconds": 0.0, "resumed_from_epoch": 0}
    state = load_checkpoint(checkpoint, fingerprint, what="X2Static training", map_location=device)
    if state is not None:
        with torch.no_grad():
            table.weight.copy_(state["table"])
        optimizer.load_state_dict(state["optimizer"])
        record = dict(state["record"])
        record["resumed_from_epoch"] = int(state["epoch"])
        log.info("resuming X2Static (layer %d) after epoch %d", index, state["epoch"])
    start_epoch = int(state["epoch"]) if state is not None else 0
    neg_cdf = np.cumsum(neg_p)
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        keep = rng.random(len(cache.occ_word)) >= rej[cache.occ_word]
        order = rng.permutation(n_groups)
        total, n_seen = 0.0, 0
        bar = tqdm(total=n_groups, desc=f"x2static L{index} epoch {epoch + 1}/{epochs}", unit="sent",
                   disable=None if show_progress is None else not show_progress, leave=False)
        for b in range(0, n_groups, batch_sentences):
            gs = order[b: b + batch_sentences]
            idx = np.concatenate([np.arange(offsets[g], offsets[g + 1]) for g in gs])
            idx = idx[keep[idx]]
            bar.update(len(gs))
            if len(idx) == 0:
                continue
            ctx = torch.from_numpy(np.asarray(contexts[np.sort(cache.occ_ctx[idx])], dtype=np.float32))
            # the rows were read sorted (memmap-friendly); targets follow the same order
            order_in = np.argsort(cache.occ_ctx[idx], kind="stable")
            targets = torch.from_numpy(cache.occ_word[idx][order_in].astype(np.int64))
            neg = np.searchsorted(neg_cdf, rng.random((negatives, len(idx))) * neg_cdf[-1], side="right")
            neg = torch.from_numpy(np.minimum(neg, n_words - 1).astype(np.int64))
            loss = x2static_step(table, optimizer, ctx.to(device), targets.to(device), neg.to(device))
            total += loss * len(idx)
            n_seen += len(idx)
            record["steps"] += 1
        bar.close()
        record["loss"].append(total / max(1, n_seen))
        record["targets_trained"] += n_seen
        record["train_seconds"] += time.perf_counter() - started
        log.info("x2static L%d epoch %d: loss %.4f over %d targets", index, epoch + 1, record["loss"][-1], n_seen)
        if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs:
            save_checkpoint(checkpoint, {"table": table.weight.detach().cpu(), "optimizer": optimizer.state_dict(),
                                         "epoch": epoch + 1, "record": record}, fingerprint)
        if progress:
            progress((epoch + 1) / epochs, f"x2static L{index} epoch {epoch + 1}")
    return table.weight.detach().cpu().numpy().astype(np.float32), record
