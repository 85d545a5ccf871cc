"""Compiled CBOW negative-sampling kernel with a FROZEN output (context) matrix.

This mirrors gensim 4's ``word2vec_inner.pyx`` (``train_batch_cbow`` +
``w2v_fast_sentence_cbow_neg``) for ``sg=0, hs=0, cbow_mean=1``, with one
deliberate difference: ``syn1neg`` is only read, never written, so only the
word (input) vectors learn. That is CADE's slice training step.

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
  ``negative`` draws from ``cum_table`` (a draw equal to the positive word is
  skipped): ``f_dot = neu1 . syn1neg[t]``, skipped outside ``(-6, 6)``,
  ``g = (label - sigmoid(f_dot)) * alpha`` with gensim's 1000-entry sigmoid
  table, ``work += g * syn1neg[t]``; then ``work`` is added to every context
  word vector.

Differences that do not change the model being trained: the reduced window
``b`` is drawn from the same LCG (``(next_random >> 16) % window``) instead of
numpy's ``RandomState``, and a position without any context word (a
one-word sentence) is skipped instead of pushing a zero ``neu1`` through the
output layer (gensim's update there is multiplied by zero context vectors).
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


@njit(nogil=True, fastmath=True, cache=True)
def train_chunk_cbow_frozen(
    tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints, do_sample,
    window, negative, alpha, next_random, exp_table, neu1, work, buf,
):
    """Train the word vectors ``syn0`` on one chunk of whole sentences, in place.

    tokens      int32[n_tokens]: vocabulary indexes of the chunk, OOV already removed
    sent_lens   int32[n_sentences]: number of entries of ``tokens`` per sentence
    syn0        float32[V, D]: word vectors, updated (shared between threads: Hogwild)
    syn1neg     float32[V, D]: context vectors, only read (pass a read-only array)
    cum_table   uint32[V]: gensim's negative-sampling cumulative table
    sample_ints uint32[V]: gensim's ``sample_int`` downsampling thresholds
    do_sample   bool: whether downsampling is on (gensim: ``sample != 0``)
    alpha       float32 learning rate for the whole chunk
    next_random uint64 48-bit LCG state
    neu1, work  float32[D] scratch; buf int32[MAX_SENTENCE_LEN] scratch

    Returns ``(effective_words, next_random)``; effective words are those kept
    after downsampling (gensim's ``effective_words``).
    """
    size = syn0.shape[1]
    win = np.uint64(window)
    total = np.uint64(cum_table[cum_table.shape[0] - 1])
    n_cum = cum_table.shape[0]
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
                    target = _bisect_left(cum_table, (next_random >> _SHIFT16) % total, 0, n_cum)
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
                for d in range(size):
                    work[d] += g * out[d]
                # no update of syn1neg: the context matrix is frozen

            for c in range(j, k):
                if c == i:
                    continue
                row = syn0[buf[c]]
                for d in range(size):
                    row[d] += work[d]
    return effective, next_random


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
