"""Compiled CBOW negative-sampling kernels: the compass's (output matrix trained) and the slices' (FROZEN).

Both mirror gensim 4's ``word2vec_inner.pyx`` (``train_batch_cbow`` +
``w2v_fast_sentence_cbow_neg``) for ``sg=0, hs=0, cbow_mean=1, compute_loss=0``,
and are compiled from one body (:func:`_cbow_kernel`) that differs in one place:

* :func:`train_chunk_cbow` (CADE's compass): plain word2vec CBOW. For every
  output target, ``work += g * syn1neg[t]`` and then ``syn1neg[t] += g * neu1``,
  as gensim's two ``saxpy`` calls (fused here into one pass over the row);
* :func:`train_chunk_cbow_frozen` (CADE's slices): ``syn1neg`` is only read,
  never written, so only the word (input) vectors learn.

Details kept from gensim:

* the 48-bit linear congruential generator
  ``next_random = (next_random * 25214903917 + 11) mod 2**48`` and its 32-bit
  draw ``next_random >> 16``;
* downsampling: a word is dropped when ``sample_int[word] < random_int32()``;
* out-of-vocabulary tokens are removed before windowing (callers encode the
  corpus without them), which widens the window as in gensim;
* at most ``MAX_SENTENCE_LEN`` (10000) kept words per sentence, the rest of
  that sentence is ignored;
* reduced window ``b`` in ``[0, window)``; context ``[i - window + b, i + window + 1 - b)``;
* ``neu1`` = mean of the context vectors; for the positive target and each of
  ``negative`` draws from ``cum_table`` (``bisect_left(cum_table, (next_random >> 16)
  % cum_table[-1])``; a draw equal to the positive word is skipped):
  ``f_dot = neu1 . syn1neg[t]``, skipped outside ``(-6, 6)``,
  ``g = (label - sigmoid(f_dot)) * alpha`` with gensim's 1000-entry sigmoid
  table, ``work += g * syn1neg[t]`` (and, for the compass, ``syn1neg[t] += g * neu1``);
  then ``work`` is added to every context word vector.

Differences that do not change the model being trained: the negative draw
searches ``cum_table`` only between two entries of a bucket index
(:func:`negative_index`: for each of up to 2**16 equal ranges of draws, the
first word whose cumulative count reaches it), which finds the same word as the
search over the whole table, in one or two steps instead of ~log2(V)
unpredictable branches (it halves the kernel's time); the reduced window
``b`` is drawn from the same LCG (``(next_random >> 16) % window``) instead of
numpy's ``RandomState``, and a position without any context word (a
one-word sentence) is skipped instead of pushing a zero ``neu1`` through the
output layer (gensim's updates there are multiplied by zero: no context vector
to add ``work`` to, and ``g * neu1 = 0`` for ``syn1neg``), so it draws no
negatives.

A tiny example: one epoch of the compass kernel over three sentences moves the
word vectors and the output matrix; the frozen kernel moves the word vectors only.

>>> V, D = 4, 8
>>> syn0 = np.full((V, D), 0.01, dtype=np.float32)
>>> syn1neg = np.zeros((V, D), dtype=np.float32)
>>> tokens = np.array([0, 1, 2, 1, 3, 0, 2, 3], dtype=np.int32)
>>> sent_lens = np.array([3, 2, 3], dtype=np.int32)
>>> cum_table = np.array([100, 200, 300, 400], dtype=np.uint32)
>>> sample_ints = np.full(V, 2**32 - 1, dtype=np.uint32)
>>> args = (cum_table, negative_index(cum_table), sample_ints, False, 2, 3, np.float32(0.025), np.uint64(1),
...         EXP_TABLE)
>>> eff, _ = train_chunk_cbow(tokens, sent_lens, syn0, syn1neg, *args, *new_scratch(D))
>>> int(eff), bool(np.abs(syn1neg).max() > 0), bool((syn0 != np.float32(0.01)).any())
(8, True, True)
>>> frozen = syn1neg.copy()
>>> frozen.flags.writeable = False
>>> _ = train_chunk_cbow_frozen(tokens, sent_lens, syn0, frozen, *args, *new_scratch(D))
>>> bool(np.array_equal(frozen, syn1neg))
True
"""
from __future__ import annotations

import numpy as np
from numba import njit

MAX_SENTENCE_LEN = 10000
EXP_TABLE_SIZE = 1000
MAX_EXP = 6

_LCG_MUL = np.uint64(25214903917)
_LCG_ADD = np.uint64(11)
_MASK48 = np.uint64((1 << 48) - 1)
_SHIFT16 = np.uint64(16)
_EXP_SCALE = EXP_TABLE_SIZE / MAX_EXP / 2  # 83.33..., as gensim's DEF expression
_M64 = (1 << 64) - 1


def make_exp_table() -> np.ndarray:
    """gensim's ``EXP_TABLE``: sigmoid on ``EXP_TABLE_SIZE`` points of ``[-MAX_EXP, MAX_EXP)``, float32."""
    i = np.arange(EXP_TABLE_SIZE, dtype=np.float32)
    x = (i / np.float32(EXP_TABLE_SIZE) * np.float32(2) - np.float32(1)) * np.float32(MAX_EXP)
    e = np.exp(x.astype(np.float64)).astype(np.float32)
    return (e / (e + np.float32(1))).astype(np.float32)


EXP_TABLE = make_exp_table()
EXP_TABLE.flags.writeable = False


def chunk_seed(seed: int, epoch: int, chunk: int) -> int:
    """48-bit LCG start state for one chunk of one epoch (splitmix64 of the triple).

    Depends only on ``(seed, epoch, chunk)``, so a run with one thread is
    bit-reproducible and the chunks of a multi-threaded run draw the same
    random numbers whichever thread takes them.
    """
    x = 0
    for part in (seed, epoch, chunk):
        x = (x ^ (part & _M64)) & _M64
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        x = z ^ (z >> 31)
    return x & ((1 << 48) - 1)


@njit(nogil=True, fastmath=True, cache=True, inline="always")
def _bisect_left(a, x, lo, hi):
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] >= x:
            hi = mid
        else:
            lo = mid + 1
    return lo


NEGATIVE_INDEX_BITS = 16  # at most 2**16 buckets: 256 KiB of int32


@njit(nogil=True, cache=True)
def _bucket_shift(total, n_buckets):
    """The smallest ``shift`` that sends every draw ``x < total`` to a bucket ``x >> shift < n_buckets``."""
    shift = 0
    while ((total - 1) >> shift) >= n_buckets:
        shift += 1
    return shift


def negative_index(cum_table: np.ndarray) -> np.ndarray:
    """Bucket index of gensim's ``cum_table`` for the kernels' negative draws (int32, ``n_buckets + 1`` entries).

    Entry ``b`` is ``bisect_left(cum_table, b << shift)``, ``shift`` as :func:`_bucket_shift`
    gives for ``n_buckets = min(2**16, cum_table[-1])``. A draw ``x`` with ``x >> shift == b`` has
    ``bisect_left(cum_table, x)`` between entries ``b`` and ``b + 1``, which is all the kernel searches.

    >>> negative_index(np.array([2, 3, 7], dtype=np.uint32)).tolist()  # 7 buckets of width 1
    [0, 0, 0, 1, 2, 2, 2, 2]
    """
    cum_table = np.asarray(cum_table)
    if cum_table.ndim != 1 or cum_table.size == 0 or int(cum_table[-1]) < 1:
        raise ValueError("cum_table must be a non-empty 1-d table ending in a positive total")
    total = int(cum_table[-1])
    n_buckets = min(1 << NEGATIVE_INDEX_BITS, total)
    shift = _bucket_shift(total, n_buckets)
    edges = np.arange(n_buckets + 1, dtype=np.uint64) << np.uint64(shift)
    return np.searchsorted(cum_table, edges, side="left").astype(np.int32)


@njit(nogil=True, fastmath=True, cache=True, inline="always")
def _negative_draw(cum_table, cum_index, shift, x):
    """gensim's ``bisect_left(cum_table, x)``, searched between the :func:`negative_index` entries of ``x``'s bucket."""
    bucket = x >> shift
    return _bisect_left(cum_table, x, cum_index[bucket], cum_index[bucket + 1])


_KERNEL_DOC = """Train one chunk of whole sentences, in place: {what}

    tokens      int32[n_tokens]: vocabulary indexes of the chunk, OOV already removed
    sent_lens   int32[n_sentences]: number of entries of ``tokens`` per sentence
    syn0        float32[V, D]: word vectors, updated (shared between threads: Hogwild)
    syn1neg     float32[V, D]: context vectors, {syn1neg}
    cum_table   uint32[V]: gensim's negative-sampling cumulative table
    cum_index   int32[n_buckets + 1]: :func:`negative_index` of ``cum_table``
    sample_ints uint32[V]: gensim's ``sample_int`` downsampling thresholds
    do_sample   bool: whether downsampling is on (gensim: ``sample != 0``)
    alpha       float32 learning rate for the whole chunk
    next_random uint64 48-bit LCG state
    neu1, work  float32[D] scratch; buf int32[MAX_SENTENCE_LEN] scratch

    Returns ``(effective_words, next_random)``; effective words are those kept
    after downsampling (gensim's ``effective_words``).
    """


def _cbow_kernel(update_output: bool):
    """The chunk kernel, compiled with (``True``: the compass) or without (the slices) the ``syn1neg`` update.

    ``update_output`` is a constant of the compiled function (numba prunes the
    branch not taken), so the frozen variant never writes ``syn1neg`` and
    accepts a read-only array; the cache keys on it (numba hashes closure values).
    """

    def train_chunk(tokens, sent_lens, syn0, syn1neg, cum_table, cum_index, sample_ints, do_sample,
                    window, negative, alpha, next_random, exp_table, neu1, work, buf):
        size = syn0.shape[1]
        win = np.uint64(window)
        n_cum = cum_table.shape[0]
        n_buckets = cum_index.shape[0] - 1
        if n_buckets < 1 or cum_index[0] != 0 or cum_index[n_buckets] > n_cum:
            raise ValueError("cum_index is not the negative_index of cum_table")
        total = np.uint64(cum_table[n_cum - 1])
        shift = np.uint64(_bucket_shift(np.int64(total), np.int64(n_buckets)))
        one = np.float32(1.0)
        zero = np.float32(0.0)
        effective = 0
        pos = 0
        for s in range(sent_lens.shape[0]):
            n = sent_lens[s]
            # downsample the sentence into buf (gensim consumes one draw per in-vocab token)
            m = 0
            for t in range(pos, pos + n):
                w = tokens[t]
                if do_sample:
                    r = next_random >> _SHIFT16
                    next_random = (next_random * _LCG_MUL + _LCG_ADD) & _MASK48
                    if np.uint64(sample_ints[w]) < r:
                        continue
                buf[m] = w
                m += 1
                if m == MAX_SENTENCE_LEN:
                    break
            pos += n
            effective += m

            for i in range(m):
                b = np.int64((next_random >> _SHIFT16) % win)
                next_random = (next_random * _LCG_MUL + _LCG_ADD) & _MASK48
                j = i - window + b
                if j < 0:
                    j = 0
                k = i + window + 1 - b
                if k > m:
                    k = m
                if k - j <= 1:
                    continue  # no context word
                # neu1 = mean of the context word vectors
                for d in range(size):
                    neu1[d] = zero
                count = 0
                for c in range(j, k):
                    if c == i:
                        continue
                    count += 1
                    row = syn0[buf[c]]
                    for d in range(size):
                        neu1[d] += row[d]
                inv = one / np.float32(count)
                for d in range(size):
                    neu1[d] *= inv
                    work[d] = zero

                word = buf[i]
                for dn in range(negative + 1):
                    if dn == 0:
                        target = np.int64(word)
                        label = one
                    else:
                        target = _negative_draw(cum_table, cum_index, shift, (next_random >> _SHIFT16) % total)
                        next_random = (next_random * _LCG_MUL + _LCG_ADD) & _MASK48
                        if target == word:
                            continue
                        label = zero
                    out = syn1neg[target]
                    f_dot = zero
                    for d in range(size):
                        f_dot += neu1[d] * out[d]
                    if f_dot <= -MAX_EXP or f_dot >= MAX_EXP:
                        continue
                    f = exp_table[int((f_dot + MAX_EXP) * _EXP_SCALE)]
                    g = (label - f) * alpha
                    if update_output:
                        for d in range(size):  # work reads the row before its own update, as gensim's saxpy order
                            work[d] += g * out[d]
                            out[d] += g * neu1[d]
                    else:
                        for d in range(size):
                            work[d] += g * out[d]

                for c in range(j, k):
                    if c == i:
                        continue
                    row = syn0[buf[c]]
                    for d in range(size):
                        row[d] += work[d]
        return effective, next_random

    if update_output:
        train_chunk.__name__ = train_chunk.__qualname__ = "train_chunk_cbow"
        train_chunk.__doc__ = _KERNEL_DOC.format(
            what="word vectors ``syn0`` and context vectors ``syn1neg`` (CADE's compass).",
            syn1neg="updated (shared between threads: Hogwild)")
    else:
        train_chunk.__name__ = train_chunk.__qualname__ = "train_chunk_cbow_frozen"
        train_chunk.__doc__ = _KERNEL_DOC.format(
            what="the word vectors ``syn0`` only (a CADE slice).",
            syn1neg="only read (pass a read-only array)")
    return njit(nogil=True, fastmath=True, cache=True)(train_chunk)


train_chunk_cbow = _cbow_kernel(update_output=True)
train_chunk_cbow_frozen = _cbow_kernel(update_output=False)


@njit(nogil=True, cache=True)
def remap_tokens(prov, raw_lens, table, out_tokens, out_lens):
    """Map provisional token ids through ``table`` (-1 = drop) and count kept tokens per sentence.

    Writes the kept ids to ``out_tokens`` and per-sentence kept counts to
    ``out_lens``; returns the number of kept tokens.
    """
    pos = 0
    n_out = 0
    for s in range(raw_lens.shape[0]):
        kept = 0
        for t in range(pos, pos + raw_lens[s]):
            v = table[prov[t]]
            if v >= 0:
                out_tokens[n_out] = v
                n_out += 1
                kept += 1
        out_lens[s] = kept
        pos += raw_lens[s]
    return n_out


def new_scratch(vector_size: int):
    """Per-thread scratch buffers (neu1, work, sentence buffer) for the kernel."""
    return (np.zeros(vector_size, dtype=np.float32), np.zeros(vector_size, dtype=np.float32),
            np.zeros(MAX_SENTENCE_LEN, dtype=np.int32))
