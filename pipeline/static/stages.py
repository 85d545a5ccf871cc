"""The static-vectors stage as a plain function: ``build_static_vectors(settings, inputs, out_dir) -> metrics``.

``inputs``: ``model`` (a location :func:`pipeline.models.resolve_model` takes:
a folder, ``pkg:<package>/<folder>``), ``corpus`` (a token file, one sentence
per line, read with :class:`pipeline.corpora.reader.LineCorpus`; not needed
for ``isolation`` with a vocabulary file), optionally ``vocabulary`` (a
file that overrides ``settings.vocabulary_path``), ``documents`` (the corpus's
``documents.npy``: where each document begins, so that X2Static's paragraphs
stay within one), ``where`` (what a bad ``layers`` is named as: the spec's
read-out) and ``work_dir`` (where
X2Static keeps its teacher cache and checkpoints; default ``out_dir/.work``:
give a folder outside a temporary output folder for a killed run to resume).

It writes, per layer ``i`` (the non-negative hidden-state index: MiniLM's
``-1`` is ``L6``), ``<method>.L<i>.vec`` with ``.npy`` and ``.vocab`` (word and
corpus count) beside it (:func:`pipeline.vectors.save_vectors`), and
``metrics.json``; X2Static adds ``x2static.L<i>.loss.json`` and ``.loss.png``.
Every input is checked before anything is written, and the sets are written
to a temporary folder and moved in at the end. X2Static's teacher cache and
checkpoints live in ``work_dir`` (kept on failure, so a rerun resumes;
removed on success unless ``keep_work``).
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from ..errors import InputError, bad_utf8
from .settings import StaticSettings

log = logging.getLogger(__name__)

__all__ = ["build_static_vectors", "read_vocabulary", "corpus_vocabulary"]


def _first_fields(lines: Iterable[str]) -> Iterator[str]:
    """The first field of every line with one, but a ``.vec`` header: a first line of two numbers is one only
    when the next line has that many values after its word (else it is a word list whose first word is a
    number)."""
    header = None
    for n, line in enumerate(lines):
        fields = line.split()
        if not fields:
            continue
        if n == 0 and len(fields) == 2 and all(x.isdigit() for x in fields):
            header = fields
            continue
        if header is not None and len(fields) != int(header[1]) + 1:
            yield header[0]
        header = None
        yield fields[0]
    if header is not None:  # the file's only line
        yield header[0]


def read_vocabulary(path: str | Path, max_words: int = 0) -> list[str]:
    """The words of a word list (first field per line) or a ``.vec`` file (its header skipped), in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a vocabulary file (a word list or a .vec file)", "the file does not exist")
    words: list[str] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            for word in _first_fields(f):
                if word not in seen:
                    seen.add(word)
                    words.append(word)
                    if max_words and len(words) >= max_words:
                        break
        except UnicodeDecodeError:
            raise InputError(path, "UTF-8 text", bad_utf8(path)) from None
    if not words:
        raise InputError(path, "a vocabulary file with at least one word", "it is empty")
    return words


def corpus_vocabulary(counts: Counter, min_count: int, max_words: int = 0) -> list[str]:
    """The corpus's words seen at least ``min_count`` times, most frequent first (ties alphabetical).

    >>> corpus_vocabulary(Counter("a a a b b c".split()), min_count=2)
    ['a', 'b']
    """
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return words[:max_words] if max_words else words


class _Spread:
    """At most ``limit`` sentences of a corpus, spread over the whole text (the first ``limit`` would be one
    part of it, e.g. the first books of a Bible), in runs of ``block`` consecutive sentences: every
    ``stride``-th run. ``block`` is 1 for a sentence sample (every ``stride``-th sentence) and X2Static's
    ``paragraph_sentences`` for its paragraph variant, whose paragraphs must be consecutive text, not every
    other sentence stitched together. With ``document_starts`` (the sentence each document begins at) a run
    also ends where a document does (:func:`.x2static.paragraph_starts`), so a document's last run may be
    shorter; ``starts`` holds where each kept run begins in the sample. Restartable."""

    def __init__(self, corpus, limit: int, block: int = 1, document_starts=None):
        import numpy as np

        from .x2static import paragraph_starts

        self.corpus, self.path, self.limit, self.block = corpus, corpus.path, limit, max(1, int(block))
        total = sum(1 for _ in corpus)
        runs = (np.arange(total, dtype=np.int64) if self.block == 1 else
                np.asarray(paragraph_starts(total, self.block, document_starts), dtype=np.int64))
        ends = np.append(runs[1:], total)
        # runs wanted: limit over the mean run (a document's last run may be short, so with documents it is
        # under block)
        mean_run = self.block if document_starts is None or not len(runs) else total / len(runs)
        wanted = max(1, math.ceil(limit / mean_run))
        self.stride = max(1, -(-len(runs) // wanted))
        first, last = runs[::self.stride], ends[::self.stride]
        at = np.cumsum(last - first) - (last - first)  # where each kept run begins in the sample
        self.starts = at[at < limit]
        self._keep = np.zeros(total, dtype=bool)
        for a, b in zip(first[:len(self.starts)], last[:len(self.starts)]):
            self._keep[a:b] = True

    def __iter__(self):
        kept = 0
        for i, sentence in enumerate(self.corpus):
            if self._keep[i]:
                yield sentence
                kept += 1
                if kept >= self.limit:
                    return


def read_document_starts(path) -> "np.ndarray | None":
    """The ``documents.npy`` beside a static corpus's ``tokens.txt`` (the line each document begins at:
    ascending, from 0), or None without a path; anything else is an InputError naming the file."""
    import numpy as np

    if not path:
        return None
    path = Path(path)
    try:
        starts = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(path, "a .npy array of document start lines (int64)", f"it does not load ({e})") from None
    ascending = starts.ndim == 1 and starts.dtype.kind in "iu" and \
        (len(starts) == 0 or (starts[0] == 0 and (np.diff(starts) > 0).all()))
    if not ascending:
        raise InputError(path, "ascending document start lines from 0, one integer array",
                         f"a {starts.dtype} array of shape {starts.shape}")
    return starts.astype(np.int64)


def spread_block(s) -> int:
    """The run of consecutive sentences a ``max_sentences`` sample keeps together (see :class:`_Spread`)."""
    return s.paragraph_sentences if s.method == "x2static" and s.variant == "paragraph" else 1


def sample_identity(s) -> dict:
    """What the sentence sample adds to an identity (the stage's and its teacher cache's): ``spread_block``
    for a paragraph sample, nothing otherwise (so no other identity changed when the key came in; before
    it, a paragraph sample took every stride-th sentence, stitched together)."""
    return {"spread_block": spread_block(s)} if s.max_sentences and spread_block(s) > 1 else {}


def build_static_vectors(settings: StaticSettings, inputs: Mapping[str, str | Path], out_dir: str | Path,
                         progress: Callable[[float, str], None] | None = None) -> dict:
    """Static vectors of one method for every layer of ``settings.layers``; returns the metrics (also in
    ``out_dir/metrics.json``)."""
    import numpy as np
    import torch

    from ..corpora.reader import LineCorpus
    from ..identity import fingerprint_paths, file_sha256
    from ..models import resolve_model
    from ..torchutil import fingerprint, pick_device
    from ..vectors import make_keyed_vectors, save_vectors
    from .readout import aggregated_vectors, check_layers, isolated_vectors, load_teacher

    started = time.perf_counter()
    out_dir = Path(out_dir)
    s = settings
    if s.threads:
        torch.set_num_threads(s.threads)
    device = pick_device(s.device)

    # --- every check before anything is written
    if "model" not in inputs:
        raise InputError("inputs", "a 'model' input")
    model_dir = resolve_model(str(inputs["model"]))
    model, tokenizer = load_teacher(model_dir, device)
    indices = check_layers(model, s.layers, where=inputs.get("where") or "layers")
    vocab_path = inputs.get("vocabulary") or s.vocabulary_path
    needs_corpus = s.method != "isolation" or not vocab_path
    corpus = documents = None
    counts_in_corpus: Counter = Counter()
    n_sentences = 0
    if needs_corpus:
        if not inputs.get("corpus"):
            raise InputError("inputs", f"a 'corpus' input (method {s.method}, vocabulary {s.vocabulary})")
        corpus = LineCorpus(inputs["corpus"])
        documents = read_document_starts(inputs.get("documents"))
        if s.max_sentences:
            corpus = _Spread(corpus, s.max_sentences, spread_block(s), documents)
        for sent in corpus:
            counts_in_corpus.update(sent)
            n_sentences += 1
        if n_sentences == 0:
            raise InputError(corpus.path, "a corpus with at least one sentence", "it has none")
    if vocab_path and (s.vocabulary == "file" or inputs.get("vocabulary")):
        words = read_vocabulary(vocab_path, s.max_words)
        vocab_where = Path(vocab_path)
    else:
        words = corpus_vocabulary(counts_in_corpus, s.min_count, s.max_words)
        vocab_where = corpus.path
        if not words:
            raise InputError(corpus.path, f"a corpus with words seen at least min_count={s.min_count} times",
                             "none is")
    if needs_corpus:
        seen = [w for w in words if counts_in_corpus[w] > 0]
        if not seen:
            raise InputError(vocab_where, f"a vocabulary with words found in the corpus {corpus.path}",
                             f"none of its {len(words)} words occurs there")
        if s.method == "x2static":
            vocab = set(words)
            with_targets = sum(1 for sent in corpus if any(w in vocab for w in sent))
            if with_targets < 2 or len(seen) < 2:
                raise InputError(corpus.path, "a corpus large enough for x2static: at least 2 sentences with "
                                 "vocabulary words and 2 distinct vocabulary words",
                                 f"found {with_targets} sentences and {len(seen)} words")

    # --- the read-outs
    results: dict[str, tuple[list[str], np.ndarray, np.ndarray | None]] = {}
    metrics: dict = {"method": s.method, "model": str(inputs["model"]), "layers": {}, "words": len(words),
                     "sentences": n_sentences, "device": device}
    teacher_seconds = 0.0
    work = Path(inputs["work_dir"]) if inputs.get("work_dir") else out_dir / ".work"
    if s.method == "isolation":
        t0 = time.perf_counter()
        vecs = isolated_vectors(model, tokenizer, words, s.layers, s.batch_size, s.word_max_length, device,
                                progress=progress, bf16=s.bf16)
        teacher_seconds = time.perf_counter() - t0
        counts = np.asarray([counts_in_corpus[w] for w in words], dtype=np.int64) if needs_corpus else None
        for layer, i in indices.items():
            results[s.file_stem(i)] = (words, vecs[layer], counts)
    elif s.method == "aggregate":
        t0 = time.perf_counter()
        vecs, counts = aggregated_vectors(model, tokenizer, words, corpus, s.layers, s.teacher_batch_size,
                                          s.max_length, device, n_sentences, progress=progress,
                                          bf16=s.bf16)
        teacher_seconds = time.perf_counter() - t0
        missing = np.flatnonzero(counts == 0)
        keep = np.arange(len(words))
        if len(missing) and s.fallback == "isolation":
            t0 = time.perf_counter()
            iso = isolated_vectors(model, tokenizer, [words[i] for i in missing], s.layers, s.batch_size,
                                   s.word_max_length, device, bf16=s.bf16)
            teacher_seconds += time.perf_counter() - t0
            for layer in vecs:
                vecs[layer][missing] = iso[layer]
        elif len(missing):
            keep = np.flatnonzero(counts > 0)
        metrics["words_seen"] = int((counts > 0).sum())
        metrics["words_isolation_fallback"] = int(len(missing)) if s.fallback == "isolation" else 0
        kept_words = [words[i] for i in keep]
        for layer, i in indices.items():
            results[s.file_stem(i)] = (kept_words, vecs[layer][keep], counts[keep])
    else:
        from .readout import SORT_CHUNK
        from .x2static import build_context_cache, train_x2static

        ident = {k: getattr(s, k) for k in ("layers", "max_sentences", "max_length", "variant", "context",
                                             "paragraph_sentences", "bf16")}
        data_fp = [fingerprint_paths([p for p in Path(model_dir).iterdir() if p.is_file()]).encode(),
                   file_sha256(corpus.path).encode(), "\n".join(words).encode()]
        starts = None
        if s.variant == "paragraph":  # where paragraphs may begin: documents (and a sample's kept runs)
            starts = corpus.starts if isinstance(corpus, _Spread) else documents
            if starts is not None:
                data_fp.append(np.asarray(starts, dtype=np.int64).tobytes())
        # the cache lists the groups in the order the teacher read them (length-sorted chunks)
        cache_fp = fingerprint({"teacher": ident, "device_bf16": device == "cuda" and s.bf16,
                                "sort_chunk": SORT_CHUNK, **sample_identity(s)}, *data_fp)
        cache = build_context_cache(model, tokenizer, corpus, words, sorted(set(indices.values())),
                                    work / "cache", cache_fp, variant=s.variant, context=s.context,
                                    paragraph_sentences=s.paragraph_sentences, max_length=s.max_length,
                                    batch_size=s.teacher_batch_size, max_sentences=None,
                                    device=device, bf16=s.bf16, progress=progress, total_sentences=n_sentences,
                                    paragraph_starts=starts)
        if len(cache.group_offsets) < 3:
            raise InputError(corpus.path, "a corpus large enough for x2static: at least 2 sentences with targets "
                             f"within max_length={s.max_length}", f"found {len(cache.group_offsets) - 1}")
        teacher_seconds = float(cache.stats["teacher_seconds"])
        counts = cache.counts(len(words))
        keep = np.flatnonzero(counts > 0)
        train = {k: getattr(s, k) for k in ("epochs", "lr", "negatives", "t", "batch_sentences", "seed")}
        x2 = {"teacher": cache.stats, "layers": {}}
        train_seconds = 0.0
        del model  # the teacher is not needed while training
        for layer, i in indices.items():
            fp = fingerprint({"cache": cache_fp, "train": train, "layer": i})
            table, record = train_x2static(cache, i, len(words), work / f"checkpoint.L{i}.pt", fp,
                                           checkpoint_every=s.checkpoint_every, device=device, progress=progress,
                                           **train)
            train_seconds += record["train_seconds"]
            x2["layers"][f"L{i}"] = {**record, "targets_per_second":
                                     record["targets_trained"] / record["train_seconds"]
                                     if record["train_seconds"] > 0 else None}
            results[s.file_stem(i)] = ([words[j] for j in keep], table[keep], counts[keep])
        x2["train_seconds"] = train_seconds
        metrics["x2static"] = x2
        metrics["words_seen"] = int(len(keep))
        metrics["teacher_share"] = teacher_seconds / max(1e-9, teacher_seconds + train_seconds)

    # --- write: every set into a temporary folder, then moved in
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".static.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    files = []
    for stem, (ws, matrix, counts) in results.items():
        paths = save_vectors(make_keyed_vectors(ws, matrix, counts), tmp / stem)
        files += [p.name for p in paths.values()]
        metrics["layers"][stem] = {"words": len(ws)}
    if s.method == "x2static":
        from ..figures import plot_loss_curve

        for name, rec in metrics["x2static"]["layers"].items():
            (tmp / f"x2static.{name}.loss.json").write_text(json.dumps({"epoch_loss": rec["loss"]}, indent=1))
            plot_loss_curve(rec["loss"], tmp / f"x2static.{name}.loss.png",
                            title=f"X2Static {name}: mean loss per target", window=3, xlabel="epoch")
            files += [f"x2static.{name}.loss.json", f"x2static.{name}.loss.png"]
    for p in tmp.iterdir():
        p.replace(out_dir / p.name)
    tmp.rmdir()
    metrics["teacher_seconds"] = teacher_seconds
    metrics["seconds"] = time.perf_counter() - started
    metrics.setdefault("teacher_share", teacher_seconds / max(1e-9, metrics["seconds"]))
    metrics["files"] = sorted(files)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    if work.exists() and not s.keep_work:
        shutil.rmtree(work)
    return metrics
