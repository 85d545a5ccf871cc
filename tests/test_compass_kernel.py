"""The compass kernel: plain CBOW negative sampling with output (syn1neg) updates, against gensim.

The kernel step against a numpy transcription of gensim's ``w2v_fast_sentence_cbow_neg``; the compass it
trains against gensim's on real text (vocabulary, initial state, neighbours); its files and model against
``load_compass``, ``train_slice`` and gensim's own ``load`` / ``train``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.test.utils import datapath

from pipeline.corpora import LineCorpus
from pipeline.diachronic import CadeSettings, load_compass, save_compass, train_compass, train_slice
from pipeline.diachronic import kernel as K

LEE = datapath("lee_background.cor")
_M48 = (1 << 48) - 1


@pytest.fixture(scope="module")
def lee():
    return list(LineCorpus(LEE))


@pytest.fixture(scope="module")
def compasses(lee):
    """``{(backend, seed): compass}`` on the Lee corpus (60k words), one thread."""
    return {(b, seed): train_compass(lee, CadeSettings(threads=1, seed=seed), backend=b)
            for b in ("kernel", "gensim") for seed in (1, 2)}


# ---------------------------------------------------------------------------------------------
# one chunk against gensim's update, written out


def _lcg(r):
    return (r * 25214903917 + 11) & _M48


def _gensim_cbow_neg(tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints, do_sample, window, negative,
                     alpha, next_random):
    """gensim's train_batch_cbow + w2v_fast_sentence_cbow_neg (cbow_mean=1, compute_loss=0) in numpy.

    Per position: neu1 = mean of the context rows; for the word (label 1) and each negative draw (label 0,
    skipped when it is the word): f = sigmoid(neu1 . syn1neg[t]) from the table, skipped outside (-6, 6),
    g = (label - f) * alpha, work += g * syn1neg[t], then syn1neg[t] += g * neu1; finally every context
    row += work. Returns copies.
    """
    exp_table = K.make_exp_table()
    syn0, syn1neg = syn0.copy(), syn1neg.copy()
    alpha = np.float32(alpha)
    pos = eff = 0
    for n in sent_lens:
        kept = []
        for w in tokens[pos:pos + n]:
            if do_sample:
                r = next_random >> 16
                next_random = _lcg(next_random)
                if int(sample_ints[w]) < r:
                    continue
            kept.append(int(w))
        pos += n
        eff += len(kept)
        for i in range(len(kept)):
            b = (next_random >> 16) % window
            next_random = _lcg(next_random)
            ctx = [kept[c] for c in range(max(0, i - window + b), min(len(kept), i + window + 1 - b)) if c != i]
            if not ctx:
                continue
            neu1 = syn0[ctx].sum(axis=0, dtype=np.float32) * (np.float32(1) / np.float32(len(ctx)))
            work = np.zeros_like(neu1)
            for d in range(negative + 1):
                if d == 0:
                    t, label = kept[i], np.float32(1)
                else:
                    t = int(np.searchsorted(cum_table, (next_random >> 16) % int(cum_table[-1]), side="left"))
                    next_random = _lcg(next_random)
                    if t == kept[i]:
                        continue
                    label = np.float32(0)
                f_dot = float(neu1.astype(np.float64) @ syn1neg[t].astype(np.float64))
                if f_dot <= -6 or f_dot >= 6:
                    continue
                g = (label - exp_table[int((f_dot + 6) * (1000 / 6 / 2))]) * alpha
                work += g * syn1neg[t]
                syn1neg[t] += g * neu1
            for c in ctx:  # a word twice in the context gets work twice (not syn0[ctx] += work)
                syn0[c] += work
    return syn0, syn1neg, eff, next_random


def _tiny_case(seed=7):
    rng = np.random.default_rng(seed)
    V, D = 7, 8
    syn0 = rng.normal(0, 0.5, (V, D)).astype(np.float32)
    syn1neg = rng.normal(0, 0.5, (V, D)).astype(np.float32)
    counts = np.array([50, 30, 20, 10, 5, 5, 3], dtype=np.float64) ** 0.75
    cum_table = np.round(np.cumsum(counts) / counts.sum() * (2**31 - 1)).astype(np.uint32)
    sample_ints = rng.integers(0, 2**32, V, dtype=np.uint64).astype(np.uint32)
    sample_ints[[4, 5, 6]] = 2**32 - 1  # never dropped
    sent_lens = np.array([12, 1, 9, 0, 15], dtype=np.int32)
    tokens = rng.integers(0, V, sent_lens.sum()).astype(np.int32)
    return tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints


@pytest.mark.parametrize("do_sample", [False, True])
def test_compass_kernel_equals_gensims_update(do_sample):
    tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints = _tiny_case()
    seed = K.chunk_seed(3, 1, 4)
    expect0, expect1, expect_eff, expect_rand = _gensim_cbow_neg(tokens, sent_lens, syn0, syn1neg, cum_table,
                                                                 sample_ints, do_sample, 3, 4, 0.05, seed)
    got0, got1 = syn0.copy(), syn1neg.copy()
    eff, rand = K.train_chunk_cbow(tokens, sent_lens, got0, got1, cum_table, K.negative_index(cum_table),
                                   sample_ints, do_sample, 3, 4, np.float32(0.05), np.uint64(seed), K.EXP_TABLE,
                                   *K.new_scratch(syn0.shape[1]))
    assert (eff, int(rand)) == (expect_eff, expect_rand)
    assert np.abs(got1 - syn1neg).max() > 1e-3 and np.abs(got0 - syn0).max() > 1e-3  # both matrices learned
    np.testing.assert_allclose(got1, expect1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got0, expect0, rtol=1e-5, atol=1e-6)
    if do_sample:
        assert eff < sent_lens.sum()


def test_compass_kernel_one_update_by_hand():
    """One context word v, one centre word u, no negatives: g = (1 - sigmoid(v.u)) alpha; v += g u; u += g v."""
    syn0 = np.array([[0.1, -0.2, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    syn1neg = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.4, -0.3, 0.2]], dtype=np.float32)
    cum_table = np.array([1, 2], dtype=np.uint32)
    tokens, lens = np.array([0, 1], dtype=np.int32), np.array([2], dtype=np.int32)
    # window=1 keeps b = 0. Position 0: centre 0 from context 1, whose vector is zero: nothing moves
    # (g * syn1neg[0] = 0 and g * neu1 = 0). Position 1: centre 1 from context 0.
    got0, got1 = syn0.copy(), syn1neg.copy()
    K.train_chunk_cbow(tokens, lens, got0, got1, cum_table, K.negative_index(cum_table),
                       np.full(2, 2**32 - 1, dtype=np.uint32), False, 1, 0, np.float32(0.1), np.uint64(1),
                       K.EXP_TABLE, *K.new_scratch(4))
    v, u = syn0[0], syn1neg[1]
    g = (1 - K.EXP_TABLE[int((float(v @ u) + 6) * (1000 / 12))]) * np.float32(0.1)
    np.testing.assert_allclose(got0[0], v + g * u, rtol=1e-6)
    np.testing.assert_allclose(got1[1], u + g * v, rtol=1e-6)
    np.testing.assert_array_equal(got0[1], syn0[1])
    np.testing.assert_array_equal(got1[0], syn1neg[0])


def _draws(cum_table, xs):
    """The kernel's negative draw for each of ``xs``."""
    index = K.negative_index(cum_table)
    shift = np.uint64(K._bucket_shift(int(cum_table[-1]), len(index) - 1))
    return np.array([K._negative_draw(cum_table, index, shift, np.uint64(x)) for x in xs])


def test_negative_draw_is_gensims_bisection(compasses):
    """Searching cum_table only within a draw's bucket finds the word gensim's bisection over the table finds:
    every draw of tables whose entries fall on bucket edges, with several words per bucket; and the Lee
    compass's table, where a bucket holds one or two words."""
    rng = np.random.default_rng(0)
    for cum_table in (np.array([2, 3, 7], dtype=np.uint32),  # width-1 buckets
                      np.cumsum(rng.integers(1, 9, 30_000)).astype(np.uint32),  # width 2: entries on edges
                      np.array([4, 8, 9, 10, 11, 12, 16, 2**18], dtype=np.uint32)):  # several words per bucket
        edges = cum_table.astype(np.int64)
        xs = np.unique(np.concatenate([edges - 1, edges, edges + 1, rng.integers(0, edges[-1], 5000)]))
        xs = xs[(xs >= 0) & (xs < edges[-1])]
        assert np.array_equal(_draws(cum_table, xs), np.searchsorted(cum_table, xs, side="left"))
    cum_table = compasses[("kernel", 1)].cum_table
    index = K.negative_index(cum_table)
    assert len(index) == 2**16 + 1 and np.diff(index).max() <= 2  # at most two bisection steps, not log2(V)
    xs = np.concatenate([rng.integers(0, int(cum_table[-1]), 20_000), cum_table[:-1], cum_table[:-1] - 1])
    assert np.array_equal(_draws(cum_table, xs), np.searchsorted(cum_table, xs, side="left"))


# ---------------------------------------------------------------------------------------------
# a compass on real text: gensim's vocabulary and start, gensim's neighbours


def test_kernel_compass_has_gensims_vocabulary_and_start(lee):
    """Same words in the same order, counts, downsampling, negative table and (seeded) initial vectors."""
    frozen = dict(threads=1, seed=4, compass_alpha=1e-30, min_alpha=0.0)
    k = train_compass(lee, CadeSettings(**frozen))
    g = train_compass(lee, CadeSettings(**frozen), backend="gensim")
    assert k.wv.index_to_key == g.wv.index_to_key
    for attr in ("count", "sample_int"):
        assert np.array_equal(k.wv.expandos[attr], g.wv.expandos[attr])
    assert np.array_equal(k.cum_table, g.cum_table)
    assert (k.corpus_count, k.corpus_total_words) == (g.corpus_count, g.corpus_total_words)
    np.testing.assert_allclose(k.wv.vectors, g.wv.vectors, rtol=0, atol=1e-20)


def _neighbours(model, words, k=10):
    return [{w for w, _ in model.wv.most_similar(x, topn=k)} for x in words]


def test_kernel_compass_neighbours_are_gensims(compasses):
    """Top-10 neighbours of frequent words: kernel vs gensim across seeds agree as much as gensim with itself
    across seeds (seed spread on 60k words: about 0.2); from the same seed (same start) they agree far more."""
    words = compasses[("gensim", 1)].wv.index_to_key[20:120]  # frequent words past the top function words
    nn = {key: _neighbours(m, words) for key, m in compasses.items()}

    def overlap(a, b):
        return float(np.mean([len(x & y) / 10 for x, y in zip(nn[a], nn[b])]))

    gensim_seeds = overlap(("gensim", 1), ("gensim", 2))
    kernel_seeds = overlap(("kernel", 1), ("kernel", 2))
    across = np.mean([overlap(("kernel", 1), ("gensim", 2)), overlap(("kernel", 2), ("gensim", 1))])
    same_start = np.mean([overlap(("kernel", s), ("gensim", s)) for s in (1, 2)])
    chance = 10 / len(compasses[("gensim", 1)].wv)
    assert gensim_seeds > 0.12 > 20 * chance, gensim_seeds
    assert across > 0.85 * gensim_seeds and kernel_seeds > 0.85 * gensim_seeds, (across, kernel_seeds, gensim_seeds)
    assert same_start > 0.5, same_start


def test_two_threads_train_as_well(lee, compasses):
    """Hogwild threads share syn0 and syn1neg: the neighbours stay those of the one-thread run's seed.

    Two threads interleave their updates differently from run to run (more so on a loaded machine), so the
    bound is relative: the two-thread run must agree with the same seed's one-thread run far more than two
    one-thread seeds agree with each other (the spread of training itself), on 200 frequent words."""
    two = train_compass(lee, CadeSettings(threads=2, seed=1))
    words = two.wv.index_to_key[20:220]
    one = _neighbours(compasses[("kernel", 1)], words)
    assert np.isfinite(two.wv.vectors).all() and np.isfinite(two.syn1neg).all()

    def overlap(a, b):
        return float(np.mean([len(x & y) / 10 for x, y in zip(a, b)]))

    same_seed = overlap(_neighbours(two, words), one)
    other_seed = overlap(_neighbours(compasses[("kernel", 2)], words), one)
    # (0.84 and 0.21 here with a benchmark beside it; the old bound, 0.6, once failed at 0.575)
    assert same_seed > max(0.45, 1.8 * other_seed), (same_seed, other_seed)
    assert two.lifecycle_events[-1]["event"] == "train" and two.lifecycle_events[-1]["threads"] == 2


def test_one_thread_is_reproducible(lee, compasses):
    again = train_compass(lee, CadeSettings(threads=1, seed=1))
    first = compasses[("kernel", 1)]
    assert again.wv.vectors.tobytes() == first.wv.vectors.tobytes()
    assert again.syn1neg.tobytes() == first.syn1neg.tobytes()
    assert not np.array_equal(first.wv.vectors, compasses[("kernel", 2)].wv.vectors)


class _CountingCorpus:
    def __init__(self, sentences):
        self.sentences, self.passes = sentences, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.sentences)


def test_kernel_reads_the_corpus_once(lee):
    kernel, gensim = _CountingCorpus(lee[:300]), _CountingCorpus(lee[:300])
    train_compass(kernel, CadeSettings(compass_epochs=3))
    train_compass(gensim, CadeSettings(compass_epochs=3), backend="gensim")
    assert (kernel.passes, gensim.passes) == (1, 4)
    with pytest.raises(ValueError, match="backend must be one of kernel, gensim, not 'numpy'"):
        train_compass(lee, CadeSettings(), backend="numpy")


# ---------------------------------------------------------------------------------------------
# the compass on disk and in gensim


def test_saved_compass_has_the_gensim_compass_format(compasses, lee, tmp_path):
    """save_compass writes the same files with the same description for both backends; load_compass reads
    the kernel's back and a slice trained from it equals one trained from the model in memory."""
    kernel, gensim = compasses[("kernel", 1)], compasses[("gensim", 1)]
    save_compass(kernel, tmp_path / "k")
    save_compass(gensim, tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == sorted(p.name for p in (tmp_path / "g").iterdir())
    info_k, info_g = (json.loads((tmp_path / x / "compass.json").read_text()) for x in "kg")
    assert info_k == info_g
    loaded = load_compass(tmp_path / "k")
    assert loaded.wv.index_to_key == kernel.wv.index_to_key
    assert loaded.syn1neg.tobytes() == kernel.syn1neg.tobytes()
    settings = CadeSettings(threads=1, seed=5, init_mode="both")
    a = train_slice(kernel, lee[:2000], settings, name="a")
    b = train_slice(loaded, lee[:2000], settings, name="a")
    assert a.wv.vectors.tobytes() == b.wv.vectors.tobytes() and a.syn1neg.tobytes() == b.syn1neg.tobytes()


def test_gensim_loads_and_trains_on_a_kernel_compass(compasses, lee, tmp_path):
    """The pickle build_compass leaves for users is an ordinary Word2Vec: gensim loads it and trains it further."""
    kernel = compasses[("kernel", 1)]
    kernel.save(str(tmp_path / "compass.model"))
    model = Word2Vec.load(str(tmp_path / "compass.model"))
    assert model.train_count == 1 and model.total_train_time > 0
    assert [e for e in model.lifecycle_events if e["event"] == "train"][-1]["backend"] == "kernel"
    before_in, before_out = model.wv.vectors.copy(), model.syn1neg.copy()
    model.train(lee[:500], total_examples=500, epochs=1)
    assert model.train_count == 2
    assert not np.array_equal(model.wv.vectors, before_in) and not np.array_equal(model.syn1neg, before_out)
    assert model.wv.most_similar(kernel.wv.index_to_key[50], topn=1)
