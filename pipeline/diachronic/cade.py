"""CADE training: a CBOW compass, then slices trained against its frozen context matrix.

CADE (Bianchi, Di Carlo et al. 2020; TWEC, AAAI 2019): the compass is an
ordinary word2vec CBOW model trained on all slices together. Each slice is
then trained with its output (context, ``syn1neg``) matrix set to the
compass's rows for the slice's words and kept FROZEN, so only the slice's word
vectors move and every slice lands in the compass's space.

Both are trained by a compiled kernel (:mod:`pipeline.diachronic.kernel`) that
mirrors gensim's CBOW negative-sampling update: with the ``syn1neg`` update for
the compass (plain word2vec CBOW), without it for the slices (gensim 4 cannot
freeze ``syn1neg``). The compass kernel runs about twice gensim's
``corpus_file`` speed (``bench/bench_compass_kernel.py``); gensim's own
training stays available as ``train_compass(..., backend="gensim")``.

The vocabulary, counts, downsampling thresholds, negative-sampling table and
random initial word vectors are gensim's own: a ``Word2Vec`` is built with
``build_vocab_from_freq`` (the same code path as ``build_vocab`` after its
corpus scan; the counts come from our single pass over the corpus, which also
encodes it). The compass keeps the words reaching ``min_count``. A slice keeps
compass words only, as the reference does: by default (``slice_vocab="compass"``)
with the reference's rule (``RULE_KEEP``: every compass word seen in the slice,
whatever its count in the slice); ``slice_vocab="min_count"`` also asks slice
words to reach ``min_count`` in the slice (``RULE_DEFAULT``). Either way a
slice in which no compass word reaches ``min_count`` is rejected as too small.

The corpus is read once, encoded to int32 ids in chunks of whole sentences
(at most 10000 raw words each, like gensim's jobs) in a temporary binary file,
and read back chunk by chunk every epoch, so memory does not grow with the
corpus beyond the vocabulary. Learning rate decays linearly from
``compass_alpha`` (``slice_alpha``) to ``min_alpha`` over epochs x raw words,
one value per chunk, exactly as gensim assigns one per job. Threads share the
vectors (Hogwild) and run the kernel without the GIL; each chunk's random
state depends only on (seed, epoch, chunk), so ``threads=1`` is
bit-reproducible.

A slice needs only three things of its compass: the vocabulary in the
compass's order, the compass's word vectors (for ``init_mode="both"``) and its
context matrix. The slice's own counts, downsampling thresholds
(``sample_int``) and negative-sampling table (``cum_table``) come from the
slice corpus and the settings, never from the compass. :func:`save_compass`
writes those three things in files that cannot run code (``.npy`` without
pickle, a ``word count`` vocabulary, JSON), and :func:`load_compass` reads them
back as a :class:`Compass`, which :func:`train_slice` takes in place of the
gensim model: a compass built by another machine is never unpickled.

Corpora are restartable iterables of token lists; a prepared slice file is read
with :class:`pipeline.corpora.LineCorpus` (gensim's ``LineSentence`` rules).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from ..errors import InputError
from .settings import CadeSettings  # a light module: specs read it without numpy

if TYPE_CHECKING:
    import numpy as np

Progress = Optional[Callable[[float, str], None]]

__all__ = ["CadeSettings", "Compass", "TrainedSlice", "load_compass", "reference_initial_vectors", "save_compass",
           "train_compass", "train_slice"]

_CHUNK_WORDS = 10000  # gensim's batch_words: a chunk holds whole sentences up to this many raw words
_FLUSH_TOKENS = 1 << 18  # encoder buffer (tokens) before writing to disk


@dataclass
class TrainedSlice:
    """A trained slice: word vectors in the compass's space and the (frozen) context matrix used."""

    wv: "object"  # gensim.models.KeyedVectors, with "count" and "sample_int" vecattrs
    syn1neg: np.ndarray  # float32 [len(wv), vector_size], read-only: the compass rows for wv's words
    stats: dict = field(default_factory=dict)
    name: str = "slice"


def _kernel():
    """The compiled kernel module, imported on first use (numba is slow to import; specs and tasks import this
    module only for :class:`CadeSettings`)."""
    from . import kernel

    return kernel


def _corpus_label(corpus, default: str) -> str:
    p = getattr(corpus, "path", None)
    return str(p) if p is not None else default


# ---------------------------------------------------------------------------------------------
# progress


class _Reporter:
    """Rate-limited progress to a callable(fraction, message) and a tqdm bar on a tty stderr."""

    def __init__(self, progress: Progress, total: int, label: str, unit: str = "word"):
        self.progress = progress
        self.total = max(int(total), 1)
        self.label = label
        self.last = 0.0
        self.bar = None
        self.done = 0
        try:
            if sys.stderr is not None and sys.stderr.isatty():
                from tqdm import tqdm

                self.bar = tqdm(total=self.total, desc=label, unit=unit, unit_scale=True, file=sys.stderr,
                                leave=False)
        except Exception:  # a missing/odd stderr must never break training
            self.bar = None

    def update(self, done: int, message: str, force: bool = False):
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last >= 0.5):
            self.last = now
            self.progress(min(done / self.total, 1.0), f"{self.label}: {message}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---------------------------------------------------------------------------------------------
# compass


def _word2vec(settings: CadeSettings, alpha: float, epochs: int):
    from gensim.models import Word2Vec

    return Word2Vec(
        vector_size=settings.vector_size, window=settings.window, negative=settings.negative, hs=0, sg=0,
        cbow_mean=1, min_count=settings.min_count, sample=settings.sample, alpha=alpha,
        min_alpha=settings.min_alpha, epochs=epochs, seed=settings.seed, workers=settings.threads,
    )


def reference_initial_vectors(model) -> None:
    """Bring a gensim 4 model's fresh word vectors to the reference's initial range.

    gensim 4 draws initial word vectors uniformly in [-1/size, 1/size); word2vec.c
    and gensim 3 (on which the reference CADE runs) draw them in [-0.5/size, 0.5/size).
    Halving them gives the reference's distribution. It matters for CADE: with gensim
    4's range the compass leaves every slice's words about 5% noisier across slices
    (no-change cross-slice cosine distance of words seen 20-40 times per half of the
    WEB: 0.158 against the original CADE's 0.149; with this, 0.149 —
    ``bench/bench_change_noise.py --reference-python``).
    """
    import numpy as np

    model.wv.vectors *= np.float32(0.5)


COMPASS_BACKENDS = ("kernel", "gensim")


def train_compass(corpus: Iterable[list[str]], settings: CadeSettings, progress: Progress = None, *,
                  backend: str = "kernel", tmp_dir=None):
    """Train the compass: CBOW (negative sampling) on the concatenation of all slices.

    Returns a gensim ``Word2Vec`` (vocabulary, ``wv``, ``syn1neg``), trained by
    ``backend``: ``"kernel"`` (default) the project's compiled kernel, reading
    ``corpus`` once (``tmp_dir`` holds its encoding while training, default the
    system temporary directory); ``"gensim"`` gensim's own ``train``, which
    reads a restartable ``corpus`` once per epoch more. Both build gensim's
    vocabulary and initial vectors, then decay the learning rate linearly over
    epochs x words as the reference does; a model from either can be trained on
    by gensim. Raises :class:`InputError` when no word reaches ``min_count``.
    """
    if backend not in COMPASS_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(COMPASS_BACKENDS)}, not {backend!r}")
    label = _corpus_label(corpus, "compass corpus")
    if progress is not None:
        progress(0.0, "compass: building vocabulary")
    if backend == "gensim":
        return _train_compass_gensim(corpus, settings, progress, label)
    import numpy as np

    t_start = time.perf_counter()
    epochs = settings.compass_epochs
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cade-compass-", dir=tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        enc = _encode(corpus, tmp, label)
        model = _vocab_model(settings, enc, "compass")
        _check_compass_vocab(model, settings, label)
        k2i = model.wv.key_to_index
        table = np.fromiter((k2i.get(w, -1) for w in enc.index), dtype=np.int32, count=len(enc.index))
        chunks = _finalise(enc, table, tmp)
        del enc, table
        syn0, syn1neg = model.wv.vectors, model.syn1neg
        assert syn0.dtype == syn1neg.dtype == np.float32 and syn0.flags.c_contiguous and syn1neg.flags.c_contiguous
        sample_ints = np.ascontiguousarray(model.wv.expandos["sample_int"], dtype=np.uint32)
        cum_table = np.ascontiguousarray(model.cum_table, dtype=np.uint32)
        t_train = time.perf_counter()
        effective = _run(chunks, syn0, syn1neg, cum_table, sample_ints, settings, progress, "compass", "compass")
        t_end = time.perf_counter()

    # what gensim's train() leaves on the model, so that gensim can train it further
    model.train_count += 1
    model.total_train_time += t_end - t_train
    if len(chunks):
        model.min_alpha_yet_reached = _chunk_alpha(settings, epochs - 1, int(chunks.raw_before[-1]),
                                                   chunks.total_words, "compass")
    model._clear_post_train()
    raw = chunks.total_words * epochs
    model.add_lifecycle_event(
        "train", msg=f"kernel: trained on {raw} raw words ({effective} effective words) in "
                     f"{t_end - t_train:.1f}s, {effective / max(t_end - t_train, 1e-9):.0f} effective words/s",
        backend="kernel", threads=settings.threads, words_trained=int(raw), effective_words=int(effective),
        prepare_seconds=round(t_train - t_start, 4), train_seconds=round(t_end - t_train, 4))
    return model


def _check_compass_vocab(model, settings: CadeSettings, label: str) -> None:
    if len(model.wv) == 0:
        raise InputError(label, f"a corpus with at least one word occurring {settings.min_count}+ times",
                         f"no word reaches min_count={settings.min_count} "
                         f"({model.corpus_total_words} words, {model.corpus_count} sentences)")


def _train_compass_gensim(corpus, settings: CadeSettings, progress: Progress, label: str):
    """gensim's ``Word2Vec.train`` in iterable mode (the reference TWEC's path)."""
    from gensim.models.callbacks import CallbackAny2Vec

    model = _word2vec(settings, settings.compass_alpha, settings.compass_epochs)
    model.build_vocab(corpus)
    reference_initial_vectors(model)
    _check_compass_vocab(model, settings, label)
    epochs = settings.compass_epochs
    rep = _Reporter(progress, epochs * model.corpus_total_words, "compass")

    class _EpochEnd(CallbackAny2Vec):
        def __init__(self):
            self.epoch = 0

        def on_epoch_end(self, m):
            self.epoch += 1
            rep.update(self.epoch * model.corpus_total_words, f"epoch {self.epoch}/{epochs}", force=True)

    try:
        # total_words only, as the reference TWEC does: gensim then decays alpha by words, not sentences
        model.train(corpus, total_words=model.corpus_total_words, epochs=epochs, callbacks=[_EpochEnd()])
    finally:
        rep.close()
    return model


# ---------------------------------------------------------------------------------------------
# the compass on disk, without pickle

COMPASS_FORMAT = 1


@dataclass
class Compass:
    """What slice training reads of a compass, as :func:`load_compass` reads it back.

    ``wv``: the compass's ``KeyedVectors`` (its vocabulary in the compass's order, with
    counts, and its word vectors); ``syn1neg``: its context matrix (float32, one row per
    word of ``wv``); ``negative``: its number of negative samples; ``info``: the rest of
    ``compass.json`` (the training settings, for the record).
    """

    wv: "object"
    syn1neg: np.ndarray
    negative: int
    info: dict = field(default_factory=dict)


def save_compass(model, folder, name: str = "compass") -> dict[str, Path]:
    """Write what a slice needs of a trained compass into ``folder``, in files that cannot run code.

    ``<name>.vec`` / ``<name>.npy`` / ``<name>.vocab`` (the word vectors and the vocabulary
    in order with counts, see :func:`pipeline.vectors.save_vectors`; also ``<name>.kv``),
    ``<name>.syn1neg.npy`` (the context matrix) and ``<name>.json`` (the model's settings).
    Returns the written paths.
    """
    import numpy as np
    from ..vectors import save_vectors

    if getattr(model, "syn1neg", None) is None or not getattr(model, "negative", 0):
        raise ValueError("the compass must be a Word2Vec trained with negative sampling (syn1neg)")
    folder = Path(folder)
    paths = save_vectors(model.wv, folder / name)
    syn1neg = np.ascontiguousarray(model.syn1neg, dtype=np.float32)
    paths["syn1neg"] = folder / f"{name}.syn1neg.npy"
    np.save(paths["syn1neg"], syn1neg, allow_pickle=False)
    info = {"format": COMPASS_FORMAT, "vocab_size": len(model.wv), "vector_size": int(model.wv.vector_size),
            "negative": int(model.negative), "window": int(model.window), "sg": int(model.sg),
            "hs": int(model.hs), "cbow_mean": int(model.cbow_mean), "min_count": int(model.min_count),
            "sample": float(model.sample), "ns_exponent": float(model.ns_exponent), "epochs": int(model.epochs),
            "alpha": float(model.alpha), "min_alpha": float(model.min_alpha), "seed": int(model.seed),
            "corpus_count": int(model.corpus_count), "corpus_total_words": int(model.corpus_total_words or 0)}
    paths["json"] = folder / f"{name}.json"
    paths["json"].write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return paths


def load_compass(folder, name: str = "compass") -> Compass:
    """Read a compass written by :func:`save_compass` (no pickle: safe on a folder another machine wrote).

    Raises :class:`InputError` naming the file when a part is missing or does not fit the others.
    """
    from ..vectors import load_vectors, read_matrix

    folder = Path(folder)
    info_path = folder / f"{name}.json"
    try:
        if info_path.stat().st_size > 1 << 20:  # a few hundred bytes when save_compass writes it
            raise InputError(info_path, "a compass description of at most 1 MiB",
                             f"{info_path.stat().st_size} bytes")
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(info_path, "a compass description (written by save_compass)", "no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(info_path, "a JSON compass description", str(exc)) from exc
    if not isinstance(info, dict) or info.get("format") != COMPASS_FORMAT:
        raise InputError(info_path, f"a compass description of format {COMPASS_FORMAT}",
                         f"found format {info.get('format') if isinstance(info, dict) else info!r}")
    negative = info.get("negative")
    if isinstance(negative, bool) or not isinstance(negative, int) or negative < 1 or info.get("hs") != 0:
        raise InputError(info_path, "a compass trained with negative sampling ('negative' >= 1, 'hs' 0)",
                         f"negative={negative!r}, hs={info.get('hs')!r}")
    wv = load_vectors(folder / f"{name}.npy")
    if "count" not in wv.expandos:
        raise InputError(folder / f"{name}.vocab", "the compass vocabulary with counts", "no such file")
    syn1neg_path = folder / f"{name}.syn1neg.npy"
    syn1neg = read_matrix(syn1neg_path, "the compass context matrix (float32, words x dimension)")
    if syn1neg.shape != wv.vectors.shape:
        raise InputError(syn1neg_path, f"one row of {wv.vector_size} values per compass word, "
                         f"shape {wv.vectors.shape}", f"found shape {syn1neg.shape}")
    if info.get("vocab_size") != len(wv) or info.get("vector_size") != wv.vector_size:
        raise InputError(info_path, f"vocab_size {len(wv)} and vector_size {wv.vector_size} (those of "
                         f"{name}.npy)", f"found {info.get('vocab_size')!r} and {info.get('vector_size')!r}")
    return Compass(wv=wv, syn1neg=syn1neg, negative=negative, info=info)


# ---------------------------------------------------------------------------------------------
# slice: one pass that counts and encodes


class _Encoded:
    """The slice corpus as provisional int32 ids on disk, with counts and the chunk plan."""

    def __init__(self, tmp: Path):
        import numpy as np

        self.prov_path = tmp / "provisional.i32"
        self.lens_path = tmp / "raw_lens.i32"
        self.index: dict[str, int] = {}  # word -> provisional id, in order of first occurrence (gensim's raw_vocab order)
        self.counts = np.zeros(0, dtype=np.int64)
        self.blocks: list[tuple[int, int]] = []  # (tokens, sentences) per flushed block
        self.chunk_sents: list[int] = []  # sentences per chunk
        self.chunk_raw: list[int] = []  # raw words per chunk
        self.block_chunks: list[int] = []  # chunks per flushed block
        self.total_words = 0
        self.n_sentences = 0  # gensim's corpus_count (empty sentences included)


def _encode(corpus, tmp: Path, label: str) -> _Encoded:
    import numpy as np

    enc = _Encoded(tmp)
    index = enc.index
    getitem = index.__getitem__
    buf: list[int] = []
    lens: list[int] = []
    chunk_sents = enc.chunk_sents
    chunk_raw = enc.chunk_raw
    cur_sents = cur_raw = 0
    chunks_in_block = 0
    n_sent = 0
    total = 0
    checked = False
    with open(enc.prov_path, "wb") as fp, open(enc.lens_path, "wb") as fl:

        def flush():
            nonlocal buf, lens, chunks_in_block
            if not lens:
                return
            arr = np.array(buf, dtype=np.int32)
            arr.tofile(fp)
            np.array(lens, dtype=np.int32).tofile(fl)
            bc = np.bincount(arr, minlength=len(index))
            if len(enc.counts) < len(bc):
                enc.counts = np.concatenate([enc.counts, np.zeros(len(bc) - len(enc.counts), dtype=np.int64)])
            enc.counts += bc
            enc.blocks.append((len(buf), len(lens)))
            enc.block_chunks.append(chunks_in_block)
            chunks_in_block = 0
            buf = []
            lens = []

        for sent in corpus:
            n_sent += 1
            if not checked:
                if isinstance(sent, (str, bytes)):
                    raise InputError(label, "sentences as lists of tokens", f"a {type(sent).__name__} item")
                checked = True
            n = len(sent)
            if n == 0:
                continue
            start = len(buf)
            try:
                buf.extend(map(getitem, sent))
            except KeyError:
                del buf[start:]
                for w in sent:
                    if w not in index:
                        index[w] = len(index)
                buf.extend(map(getitem, sent))
            lens.append(n)
            total += n
            # gensim's job packing: whole sentences while the job stays within batch_words raw words
            if cur_raw + n <= _CHUNK_WORDS or cur_sents == 0:
                cur_sents += 1
                cur_raw += n
            else:
                chunk_sents.append(cur_sents)
                chunk_raw.append(cur_raw)
                chunks_in_block += 1
                cur_sents, cur_raw = 1, n
                if len(buf) - n >= _FLUSH_TOKENS:  # flush what precedes this sentence (a chunk boundary)
                    last_tok, last_len = buf[start:], lens[-1:]
                    del buf[start:]
                    del lens[-1:]
                    flush()
                    buf, lens = last_tok, last_len
        if cur_sents:
            chunk_sents.append(cur_sents)
            chunk_raw.append(cur_raw)
            chunks_in_block += 1
        flush()
    if len(enc.counts) < len(index):
        enc.counts = np.concatenate([enc.counts, np.zeros(len(index) - len(enc.counts), dtype=np.int64)])
    enc.total_words = total
    enc.n_sentences = n_sent
    return enc


class _Chunks:
    """The final encoded corpus: per chunk ``[sentence lengths][token ids]`` (int32) in one file."""

    def __init__(self, path: Path, offsets, n_sents, n_toks, raw, raw_before, total_words):
        self.path = path
        self.offsets = offsets
        self.n_sents = n_sents
        self.n_toks = n_toks
        self.raw = raw
        self.raw_before = raw_before
        self.total_words = total_words

    def __len__(self):
        return len(self.offsets)

    def max_len(self) -> int:
        return int((self.n_sents + self.n_toks).max()) if len(self) else 0

    def read(self, fh, c: int, out: Optional[np.ndarray] = None):
        """Chunk ``c`` as ``(tokens, sentence_lengths)``; reads into ``out`` (int32) when given (no allocation)."""
        import numpy as np

        ns = int(self.n_sents[c])
        n = ns + int(self.n_toks[c])
        fh.seek(int(self.offsets[c]))
        if out is None:
            arr = np.fromfile(fh, dtype=np.int32, count=n)
        else:
            arr = out[:n]
            got = fh.readinto(memoryview(arr).cast("B"))
            if got != 4 * n:
                raise OSError(f"{self.path}: short read in chunk {c}")
        if arr.size != n:
            raise OSError(f"{self.path}: short read in chunk {c}")
        return arr[ns:], arr[:ns]


def _finalise(enc: _Encoded, table: np.ndarray, tmp: Path) -> _Chunks:
    """Remap provisional ids to the slice vocabulary (dropping the rest) and write the chunk file."""
    import numpy as np

    _k = _kernel()
    path = tmp / "chunks.i32"
    n_chunks = len(enc.chunk_sents)
    chunk_sents = np.asarray(enc.chunk_sents, dtype=np.int64)
    chunk_raw = np.asarray(enc.chunk_raw, dtype=np.int64)
    offsets = np.zeros(n_chunks, dtype=np.int64)
    n_toks = np.zeros(n_chunks, dtype=np.int64)
    c = 0
    off = 0
    with open(enc.prov_path, "rb") as fp, open(enc.lens_path, "rb") as fl, open(path, "wb") as out:
        for (ntok, nsent), nch in zip(enc.blocks, enc.block_chunks):
            prov = np.fromfile(fp, dtype=np.int32, count=ntok)
            raw_lens = np.fromfile(fl, dtype=np.int32, count=nsent)
            toks = np.empty(ntok, dtype=np.int32)
            eff_lens = np.empty(nsent, dtype=np.int32)
            n_out = _k.remap_tokens(prov, raw_lens, table, toks, eff_lens)
            toks = toks[:n_out]
            sent_ends = np.cumsum(chunk_sents[c:c + nch])
            tok_cum = np.concatenate([[0], np.cumsum(eff_lens, dtype=np.int64)])
            s0 = 0
            for i in range(nch):
                s1 = int(sent_ends[i])
                t0, t1 = int(tok_cum[s0]), int(tok_cum[s1])
                offsets[c] = off
                n_toks[c] = t1 - t0
                eff_lens[s0:s1].tofile(out)
                toks[t0:t1].tofile(out)
                off += 4 * ((s1 - s0) + (t1 - t0))
                s0 = s1
                c += 1
            assert s0 == nsent
    assert c == n_chunks
    raw_before = np.concatenate([[0], np.cumsum(chunk_raw)[:-1]]) if n_chunks else np.zeros(0, dtype=np.int64)
    os.unlink(enc.prov_path)
    os.unlink(enc.lens_path)
    return _Chunks(path, offsets, chunk_sents, n_toks, chunk_raw, raw_before, enc.total_words)


def _schedule(settings: CadeSettings, stage: str) -> tuple[float, int]:
    """``(start alpha, epochs)`` of ``stage``: ``"compass"`` or ``"slice"``."""
    if stage == "compass":
        return settings.compass_alpha, settings.compass_epochs
    return settings.slice_alpha, settings.slice_epochs


def _chunk_alpha(settings: CadeSettings, epoch: int, raw_before: int, total_words: int,
                 stage: str = "slice") -> float:
    """gensim's ``_get_next_alpha``: linear decay over (epoch + progress within epoch) / epochs."""
    start, epochs = _schedule(settings, stage)
    progress = (epoch + raw_before / max(total_words, 1)) / epochs
    a = start - (start - settings.min_alpha) * progress
    return max(settings.min_alpha, a)


def _vocab_model(settings: CadeSettings, enc: _Encoded, stage: str, trim_rule=None):
    """gensim's ``Word2Vec`` for ``stage`` with the vocabulary of the encoded corpus, untrained.

    ``build_vocab_from_freq`` on the counts of our pass is the code path of
    ``build_vocab(corpus, trim_rule)`` after its scan (raw vocabulary in order of
    first occurrence): the same vocabulary order, ``sample_int``, ``cum_table`` and
    seeded initial vectors (brought to the reference's range).
    """
    model = _word2vec(settings, *_schedule(settings, stage))
    word_freq = dict(zip(enc.index.keys(), enc.counts.tolist()))
    model.build_vocab_from_freq(word_freq, corpus_count=enc.n_sentences, trim_rule=trim_rule)
    reference_initial_vectors(model)
    model.corpus_total_words = enc.total_words
    return model


# ---------------------------------------------------------------------------------------------
# slice training


def _prepare_slice(compass, corpus, settings: CadeSettings, tmp: Path, name: str):
    """Read and encode the slice corpus once; build its gensim vocabulary restricted to the compass.

    Returns ``(model, chunks, rows)``: the slice's gensim ``Word2Vec`` (vocabulary,
    counts, ``sample_int``, ``cum_table``, seeded random vectors, no training),
    the encoded chunk file, and the compass row of every slice word.
    """
    import numpy as np
    from gensim.utils import RULE_DEFAULT, RULE_DISCARD, RULE_KEEP

    label = _corpus_label(corpus, name)
    compass_index = compass.wv.key_to_index
    enc = _encode(corpus, tmp, label)

    keep = RULE_KEEP if settings.slice_vocab == "compass" else RULE_DEFAULT

    def trim_rule(word, count, min_count):  # compass words only (and, with RULE_DEFAULT, frequent enough)
        return keep if word in compass_index else RULE_DISCARD

    frequent = any(c >= settings.min_count and w in compass_index for w, c in zip(enc.index, enc.counts.tolist()))
    model = _vocab_model(settings, enc, "slice", trim_rule)
    wv = model.wv
    if len(wv) == 0 or not frequent:
        raise InputError(label, f"slice '{name}' with at least one compass word occurring "
                         f"{settings.min_count}+ times",
                         f"slice too small for min_count={settings.min_count}: {enc.total_words} words, "
                         f"{len(enc.index)} distinct, none both in the compass and frequent enough")
    k2i = wv.key_to_index
    table = np.fromiter((k2i.get(w, -1) for w in enc.index), dtype=np.int32, count=len(enc.index))
    chunks = _finalise(enc, table, tmp)
    rows = np.fromiter((compass_index[w] for w in wv.index_to_key), dtype=np.int64, count=len(wv))
    return model, chunks, rows


def train_slice(compass, corpus: Iterable[list[str]], settings: CadeSettings, tmp_dir=None,
                progress: Progress = None, name: str = "slice") -> TrainedSlice:
    """Train one slice against the compass's frozen context matrix.

    ``compass`` is the gensim ``Word2Vec`` from :func:`train_compass` or the
    :class:`Compass` that :func:`load_compass` reads back (the same slice, bit for
    bit, with one thread). The slice vocabulary is the slice's words with at least ``min_count``
    occurrences in the slice that are also in the compass vocabulary. The
    corpus is read once. ``tmp_dir`` holds the encoded corpus while training
    (default: the system temporary directory). Raises :class:`InputError`
    naming the slice when no word qualifies.
    """
    import numpy as np

    t_start = time.perf_counter()
    if getattr(compass, "syn1neg", None) is None or not getattr(compass, "negative", 0):
        raise ValueError("the compass must be a Word2Vec trained with negative sampling (syn1neg)")
    if compass.wv.vector_size != settings.vector_size:
        raise ValueError(f"compass vector_size {compass.wv.vector_size} != settings.vector_size "
                         f"{settings.vector_size}")
    epochs = settings.slice_epochs
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=f"cade-{_safe(name)}-", dir=tmp_dir) as tmp_name:
        if progress is not None:
            progress(0.0, f"slice {name}: reading corpus")
        model, chunks, rows = _prepare_slice(compass, corpus, settings, Path(tmp_name), name)
        wv = model.wv
        syn1neg = np.ascontiguousarray(compass.syn1neg[rows], dtype=np.float32)
        syn1neg.flags.writeable = False  # frozen: the kernel only reads it (numba refuses writes)
        if settings.init_mode == "both":
            wv.vectors[:] = compass.wv.vectors[rows]
        syn0 = wv.vectors
        assert syn0.dtype == np.float32 and syn0.flags.c_contiguous
        sample_ints = np.ascontiguousarray(wv.expandos["sample_int"], dtype=np.uint32)
        cum_table = np.ascontiguousarray(model.cum_table, dtype=np.uint32)
        corpus_count = model.corpus_count
        del model  # only wv is kept

        t_train = time.perf_counter()
        effective = _run(chunks, syn0, syn1neg, cum_table, sample_ints, settings, progress, f"slice {name}",
                         "slice")
        t_end = time.perf_counter()

    raw_trained = chunks.total_words * epochs
    seconds = t_end - t_start
    stats = {
        "words_trained": int(raw_trained),
        "effective_words": int(effective),
        "corpus_words": int(chunks.total_words),
        "corpus_sentences": int(corpus_count),
        "vocab_size": len(wv),
        "epochs": epochs,
        "threads": settings.threads,
        "seconds": round(seconds, 4),
        "prepare_seconds": round(t_train - t_start, 4),
        "train_seconds": round(t_end - t_train, 4),
        "words_per_second": round(raw_trained / seconds, 1) if seconds > 0 else 0.0,
    }
    return TrainedSlice(wv=wv, syn1neg=syn1neg, stats=stats, name=name)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))[:40]


def _run(chunks: _Chunks, syn0, syn1neg, cum_table, sample_ints, settings: CadeSettings, progress, label: str,
         stage: str) -> int:
    """Train all epochs of ``stage`` over the chunk file, in place; returns the effective words trained.

    ``stage``: ``"compass"`` (:func:`.kernel.train_chunk_cbow`, ``syn1neg`` learns too) or ``"slice"``
    (:func:`.kernel.train_chunk_cbow_frozen`). ``settings.threads`` threads take chunks in order from a shared
    counter and run the kernel without the GIL, on shared ``syn0`` / ``syn1neg`` (Hogwild, as gensim's workers).
    """
    import numpy as np

    _k = _kernel()
    train_chunk = _k.train_chunk_cbow if stage == "compass" else _k.train_chunk_cbow_frozen
    epochs = _schedule(settings, stage)[1]
    n_chunks = len(chunks)
    n_jobs = n_chunks * epochs
    do_sample = bool(settings.sample)
    window, negative = settings.window, settings.negative
    exp_table = _k.EXP_TABLE
    total_words = chunks.total_words
    rep = _Reporter(progress, total_words * epochs, label)
    lock = threading.Lock()
    state = {"next": 0, "done_raw": 0, "effective": 0, "error": None}

    max_len = chunks.max_len()
    cum_index = _k.negative_index(cum_table)

    def work_on(job: int, fh, scratch):
        epoch, c = divmod(job, n_chunks)
        toks, lens = chunks.read(fh, c, scratch[3])
        alpha = np.float32(_chunk_alpha(settings, epoch, int(chunks.raw_before[c]), total_words, stage))
        seed = np.uint64(_k.chunk_seed(settings.seed, epoch, c))
        eff, _ = train_chunk(toks, lens, syn0, syn1neg, cum_table, cum_index, sample_ints, do_sample,
                             window, negative, alpha, seed, exp_table, *scratch[:3])
        return eff, int(chunks.raw[c]), epoch

    def worker():
        scratch = _k.new_scratch(syn0.shape[1]) + (np.empty(max_len, dtype=np.int32),)
        try:
            with open(chunks.path, "rb") as fh:
                while True:
                    with lock:
                        job = state["next"]
                        if job >= n_jobs or state["error"] is not None:
                            return
                        state["next"] = job + 1
                    eff, raw, _ = work_on(job, fh, scratch)
                    with lock:
                        state["done_raw"] += raw
                        state["effective"] += eff
        except BaseException as e:  # surfaced by the main thread
            with lock:
                state["error"] = e

    try:
        if settings.threads == 1:
            scratch = _k.new_scratch(syn0.shape[1]) + (np.empty(max_len, dtype=np.int32),)
            with open(chunks.path, "rb") as fh:
                for job in range(n_jobs):
                    eff, raw, epoch = work_on(job, fh, scratch)
                    state["done_raw"] += raw
                    state["effective"] += eff
                    rep.update(state["done_raw"], f"epoch {epoch + 1}/{epochs}")
        else:
            threads = [threading.Thread(target=worker, name=f"cade-{_safe(label)}-{i}", daemon=True)
                       for i in range(settings.threads)]
            for t in threads:
                t.start()
            try:
                while True:
                    alive = [t for t in threads if t.is_alive()]
                    if not alive:
                        break
                    alive[0].join(timeout=0.25)
                    with lock:
                        done = state["done_raw"]
                        job = state["next"]
                    rep.update(done, f"epoch {min(job // max(n_chunks, 1) + 1, epochs)}/{epochs}")
            except BaseException as e:  # e.g. KeyboardInterrupt, or the progress callback failing: stop the workers
                with lock:
                    state["error"] = state["error"] or e
                for t in threads:
                    t.join()
                raise
            if state["error"] is not None:
                raise state["error"]
        rep.update(state["done_raw"], "done", force=True)
    finally:
        rep.close()
    return state["effective"]
