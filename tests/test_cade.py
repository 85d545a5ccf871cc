"""CADE: slices trained by our kernel against the frozen context matrix of a compass (trained by our kernel too,
see test_compass_kernel.py)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.test.utils import datapath
from gensim.utils import RULE_DEFAULT, RULE_DISCARD, RULE_KEEP

from pipeline.corpora import LineCorpus
from pipeline.diachronic import CadeSettings, TrainedSlice, train_compass, train_slice
from pipeline.diachronic import cade as T
from pipeline.diachronic import kernel as K
from pipeline.errors import InputError

LEE = datapath("lee_background.cor")


# ---------------------------------------------------------------------------------------------
# fixtures: the Lee corpus (60k words) split in two halves = two slices


@pytest.fixture(scope="module")
def lee():
    sents = list(LineCorpus(LEE))
    half = len(sents) // 2
    return {"all": sents, "a": sents[:half], "b": sents[half:]}


@pytest.fixture(scope="module")
def compass(lee):
    return train_compass(lee["all"], CadeSettings(threads=1))


def _rows(compass, sl: TrainedSlice):
    return np.array([compass.wv.key_to_index[w] for w in sl.wv.index_to_key])


# ---------------------------------------------------------------------------------------------
# kernel against a plain-Python reference of gensim's CBOW negative-sampling step (frozen syn1neg)

_M48 = (1 << 48) - 1


def _lcg(r):
    return (r * 25214903917 + 11) & _M48


def _reference_chunk(tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints, do_sample, window, negative,
                     alpha, next_random):
    """gensim's train_batch_cbow / fast_sentence_cbow_neg (cbow_mean=1), written out, without the syn1neg update."""
    exp_table = K.make_exp_table()
    syn0 = syn0.copy()
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
            if len(kept) == K.MAX_SENTENCE_LEN:
                break
        pos += n
        eff += len(kept)
        for i in range(len(kept)):
            b = (next_random >> 16) % window
            next_random = _lcg(next_random)
            j, k = max(0, i - window + b), min(len(kept), i + window + 1 - b)
            ctx = [kept[c] for c in range(j, k) if c != i]
            if not ctx:
                continue
            neu1 = np.zeros(syn0.shape[1], dtype=np.float32)
            for c in ctx:
                neu1 += syn0[c]
            neu1 *= np.float32(1.0) / np.float32(len(ctx))
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
                f_dot = float(np.dot(neu1.astype(np.float64), syn1neg[t].astype(np.float64)))
                if f_dot <= -6 or f_dot >= 6:
                    continue
                f = exp_table[int((f_dot + 6) * (1000 / 6 / 2))]
                g = (label - f) * alpha
                work += g * syn1neg[t]
            for c in ctx:
                syn0[c] += work
    return syn0, eff, next_random


@pytest.mark.parametrize("do_sample", [False, True])
def test_kernel_matches_reference(do_sample):
    rng = np.random.default_rng(7)
    V, D = 7, 8
    syn0 = ((rng.random((V, D), dtype=np.float32) - 0.5) / D).astype(np.float32)
    syn1neg = (rng.normal(0, 0.6, (V, D))).astype(np.float32)
    syn1neg.flags.writeable = False
    counts = np.array([50, 30, 20, 10, 5, 5, 3], dtype=np.float64) ** 0.75
    cum_table = np.round(np.cumsum(counts) / counts.sum() * (2**31 - 1)).astype(np.uint32)
    sample_ints = rng.integers(0, 2**32, V, dtype=np.uint64).astype(np.uint32)
    sample_ints[[4, 5, 6]] = 2**32 - 1  # never dropped
    sent_lens = np.array([12, 1, 9, 0, 15], dtype=np.int32)
    tokens = rng.integers(0, V, sent_lens.sum()).astype(np.int32)
    seed = K.chunk_seed(3, 1, 4)
    expect, expect_eff, expect_rand = _reference_chunk(tokens, sent_lens, syn0, syn1neg, cum_table, sample_ints,
                                                       do_sample, 3, 4, 0.05, seed)
    got = syn0.copy()
    before1 = syn1neg.copy()
    eff, rand = K.train_chunk_cbow_frozen(tokens, sent_lens, got, syn1neg, cum_table, K.negative_index(cum_table),
                                          sample_ints, do_sample, 3, 4, np.float32(0.05), np.uint64(seed),
                                          K.EXP_TABLE, *K.new_scratch(D))
    assert (eff, int(rand)) == (expect_eff, expect_rand)
    assert not np.array_equal(got, syn0)  # it learned something
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-7)
    assert np.array_equal(syn1neg, before1)
    if do_sample:
        assert eff < sent_lens.sum()


def test_kernel_one_update_by_hand():
    """One centre word, one context word, no negatives: syn0[ctx] += (1 - sigmoid(v.u)) * alpha * u."""
    syn0 = np.array([[0.1, -0.2, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    syn1neg = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.4, -0.3, 0.2]], dtype=np.float32)
    cum_table = np.array([1, 2], dtype=np.uint32)
    sample_ints = np.full(2, 2**32 - 1, dtype=np.uint32)
    tokens, lens = np.array([0, 1], dtype=np.int32), np.array([2], dtype=np.int32)
    # window=1 keeps b = 0. Position 0: word 0 from context word 1, whose vector is zero: work = g * 0 = 0.
    # Position 1: word 1 from context word 0: syn0[0] += (1 - sigmoid(syn0[0] . syn1neg[1])) * alpha * syn1neg[1].
    got = syn0.copy()
    K.train_chunk_cbow_frozen(tokens, lens, got, syn1neg, cum_table, K.negative_index(cum_table), sample_ints,
                              False, 1, 0, np.float32(0.1), np.uint64(1), K.EXP_TABLE, *K.new_scratch(4))
    v, u = syn0[0].astype(np.float64), syn1neg[1].astype(np.float64)
    sig = K.EXP_TABLE[int((v @ u + 6) * (1000 / 12))]
    exp0 = syn0[0] + (1 - sig) * 0.1 * syn1neg[1]
    np.testing.assert_allclose(got[0], exp0, rtol=1e-6)
    np.testing.assert_array_equal(got[1], syn0[1])
    assert abs(sig - 1 / (1 + np.exp(-(v @ u)))) < 0.01  # the table is a sigmoid


def test_kernel_caps_sentence_length():
    V, D = 3, 4
    syn0 = np.zeros((V, D), dtype=np.float32)
    syn1neg = np.zeros((V, D), dtype=np.float32)
    tokens = np.zeros(K.MAX_SENTENCE_LEN + 5, dtype=np.int32)
    eff, _ = K.train_chunk_cbow_frozen(tokens, np.array([len(tokens)], dtype=np.int32), syn0, syn1neg,
                                       np.array([1, 2, 3], dtype=np.uint32), K.negative_index(np.array([1, 2, 3])),
                                       np.zeros(V, dtype=np.uint32), False, 1, 1, np.float32(0.025), np.uint64(5),
                                       K.EXP_TABLE, *K.new_scratch(D))
    assert eff == K.MAX_SENTENCE_LEN


def test_chunk_alpha_is_gensims():
    s = CadeSettings(slice_epochs=3, slice_alpha=0.05, min_alpha=0.001)
    m = Word2Vec(vector_size=5, alpha=0.05, min_alpha=0.001, epochs=3)
    for epoch, done in [(0, 0), (0, 500), (1, 999), (2, 1000)]:
        assert T._chunk_alpha(s, epoch, done, 1000) == pytest.approx(m._get_next_alpha(done / 1000, epoch), abs=0)


# ---------------------------------------------------------------------------------------------
# vocabulary, encoding


@pytest.mark.parametrize("mode", ["compass", "min_count"])
def test_slice_vocab_is_gensims_build_vocab(lee, compass, tmp_path, mode):
    """Counts, order, downsampling thresholds, negative table and random init equal gensim's build_vocab."""
    s = CadeSettings(seed=5, slice_vocab=mode)
    rule = RULE_KEEP if mode == "compass" else RULE_DEFAULT
    sents = lee["a"] + [["zzz-not-in-compass"] * 6]
    model, chunks, rows = T._prepare_slice(compass, sents, s, tmp_path, "a")
    ref = Word2Vec(vector_size=100, window=5, negative=10, min_count=5, sample=1e-3, seed=5, workers=1)
    ref.build_vocab(sents, trim_rule=lambda w, c, m: rule if w in compass.wv.key_to_index
                    else RULE_DISCARD)
    assert model.wv.index_to_key == ref.wv.index_to_key
    for attr in ("count", "sample_int"):
        assert np.array_equal(model.wv.expandos[attr], ref.wv.expandos[attr])
    assert np.array_equal(model.cum_table, ref.cum_table)
    assert np.array_equal(model.wv.vectors, ref.wv.vectors * np.float32(0.5))  # the reference's init range
    assert np.abs(model.wv.vectors).max() < 0.5 / 100
    assert chunks.total_words == ref.corpus_total_words and model.corpus_count == ref.corpus_count
    # the vocabulary: compass words seen in the slice (reference), or only those reaching min_count there
    counts = Counter(w for sent in sents for w in sent)
    floor = 5 if mode == "min_count" else 1
    expect = {w for w, c in counts.items() if c >= floor and w in compass.wv.key_to_index}
    assert set(model.wv.index_to_key) == expect
    assert "zzz-not-in-compass" not in expect and any(c < 5 for w, c in counts.items() if w in compass.wv)
    assert all(model.wv.get_vecattr(w, "count") == counts[w] for w in expect)
    assert [compass.wv.index_to_key[r] for r in rows] == model.wv.index_to_key


def test_encoding_roundtrip_with_small_chunks(lee, compass, tmp_path, monkeypatch):
    """Chunks hold whole sentences of at most _CHUNK_WORDS raw words; flushing keeps everything in order."""
    monkeypatch.setattr(T, "_CHUNK_WORDS", 300)
    monkeypatch.setattr(T, "_FLUSH_TOKENS", 1000)
    sents = lee["b"] + [[], ["zzz-unknown"] * 3] + [lee["b"][0] * 20]  # empty, all-OOV, one over-long sentence
    model, chunks, _ = T._prepare_slice(compass, sents, CadeSettings(), tmp_path, "b")
    k2i = model.wv.key_to_index
    expect = [[k2i[w] for w in s if w in k2i] for s in sents if s]
    got = []
    with open(chunks.path, "rb") as fh:
        for c in range(len(chunks)):
            toks, lens = chunks.read(fh, c)
            assert chunks.raw[c] <= 300 or lens.size == 1
            ends = np.cumsum(lens)
            got += [toks[e - n:e].tolist() for e, n in zip(ends, lens)]
    assert got == expect
    assert int(chunks.raw.sum()) == chunks.total_words == sum(len(s) for s in sents)
    assert len(chunks) > 20
    # and training on such chunks works, frozen context included
    sl = train_slice(compass, sents, CadeSettings(slice_epochs=2), tmp_dir=tmp_path)
    assert np.array_equal(sl.syn1neg, compass.syn1neg[_rows(compass, sl)])


def test_too_small_slice_raises(compass):
    with pytest.raises(InputError, match="tiny.*slice too small for min_count"):
        train_slice(compass, [["government", "police"]] * 4 + [["qqq-unseen"] * 9], CadeSettings(), name="tiny")


def test_compass_empty_vocab_raises():
    with pytest.raises(InputError, match="min_count"):
        train_compass([["a", "b"], ["c"]], CadeSettings())


def test_settings_validation():
    with pytest.raises(ValueError, match="init_mode must be 'hidden' or 'both', not 'output'"):
        CadeSettings(init_mode="output")
    with pytest.raises(ValueError, match="threads must be a positive integer, not 0"):
        CadeSettings(threads=0)


# ---------------------------------------------------------------------------------------------
# CADE properties on real text


@pytest.mark.parametrize("threads", [1, 2])
def test_context_matrix_frozen_and_word_vectors_learn(lee, compass, threads, tmp_path):
    compass_syn1neg = compass.syn1neg.copy()
    compass_vectors = compass.wv.vectors.copy()
    for part in ("a", "b"):
        for mode in ("hidden", "both"):
            sl = train_slice(compass, lee[part], CadeSettings(threads=threads, init_mode=mode), tmp_dir=tmp_path,
                             name=part)
            rows = _rows(compass, sl)
            assert np.array_equal(sl.syn1neg, compass.syn1neg[rows])
            assert sl.stats["words_trained"] == 5 * sum(map(len, lee[part]))
            assert sl.stats["threads"] == threads and sl.stats["words_per_second"] > 0
            assert np.isfinite(sl.wv.vectors).all()
            start = compass.wv.vectors[rows] if mode == "both" else _reference_init(len(sl.wv), 1)
            moved = np.abs(sl.wv.vectors - start).max(axis=1)
            assert (moved > 0).mean() > 0.99  # nearly every word was trained
    assert list(tmp_path.iterdir()) == []  # the encoded corpus is removed
    # the compass itself is untouched
    assert np.array_equal(compass.syn1neg, compass_syn1neg)
    assert np.array_equal(compass.wv.vectors, compass_vectors)


def _reference_init(n, seed, d=100):
    """gensim 4's seeded stream, in the reference's (word2vec.c, gensim 3) range [-0.5/d, 0.5/d)."""
    v = np.random.default_rng(seed).random((n, d), dtype=np.float32)
    v *= 2.0
    v -= 1.0
    v /= d  # gensim 4: [-1/d, 1/d)
    v *= np.float32(0.5)
    return v


@pytest.mark.parametrize("mode", ["hidden", "both"])
def test_initial_vectors(lee, compass, mode):
    """With a negligible learning rate the result is the initial state: gensim's seeded init, or the compass rows."""
    sl = train_slice(compass, lee["a"], CadeSettings(init_mode=mode, slice_alpha=1e-30, min_alpha=0.0, seed=3))
    start = compass.wv.vectors[_rows(compass, sl)] if mode == "both" else _reference_init(len(sl.wv), 3)
    np.testing.assert_allclose(sl.wv.vectors, start, rtol=0, atol=1e-20)


def test_compass_starts_in_the_reference_range(lee):
    """gensim 3 / word2vec.c start word vectors in [-0.5/size, 0.5/size), gensim 4 in twice that: the compass
    uses the reference's range (with gensim 4's, CADE's slices come out measurably noisier)."""
    c = train_compass(lee["all"], CadeSettings(threads=1, seed=4, compass_alpha=1e-30, min_alpha=0.0))
    np.testing.assert_allclose(c.wv.vectors, _reference_init(len(c.wv), 4), rtol=0, atol=1e-20)
    assert np.abs(c.wv.vectors).max() < 0.5 / 100 and np.abs(c.wv.vectors).max() > 0.45 / 100


def test_reproducible_with_one_thread(lee, compass):
    s = CadeSettings(seed=11)
    a = train_slice(compass, lee["b"], s)
    b = train_slice(compass, lee["b"], s)
    c = train_slice(compass, lee["b"], CadeSettings(seed=12))
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert a.stats["effective_words"] == b.stats["effective_words"]
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)
    assert a.wv.index_to_key == c.wv.index_to_key


@pytest.mark.parametrize("mode", ["hidden", "both"])
def test_slice_on_compass_corpus_recovers_compass_neighbours(lee, compass, mode):
    """Trained on the compass's own corpus, a slice lands next to the compass: the kernel learns the right thing."""
    sl = train_slice(compass, lee["all"], CadeSettings(init_mode=mode))
    assert sl.wv.index_to_key == compass.wv.index_to_key
    words = sl.wv.index_to_key[20:120]  # frequent words past the top function words
    overlap = np.mean([len({w for w, _ in sl.wv.most_similar(x, topn=10)}
                           & {w for w, _ in compass.wv.most_similar(x, topn=10)}) / 10 for x in words])
    chance = 10 / len(sl.wv)
    assert overlap > 0.2 > 30 * chance, (overlap, chance)
    # same space: a word's slice vector is closer to its own compass vector than to other words' compass vectors
    a = sl.wv.vectors[20:120]
    b = compass.wv.vectors[20:120]
    sim = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    assert (sim.argmax(axis=1) == np.arange(len(a))).mean() > 0.5


def test_progress_callback(lee, compass):
    seen = []
    train_slice(compass, lee["a"], CadeSettings(threads=2), progress=lambda f, m: seen.append((f, m)), name="a")
    assert seen and seen[-1][0] == pytest.approx(1.0)
    assert all(0.0 <= f <= 1.0 for f, _ in seen) and any("slice a" in m for _, m in seen)
    seen.clear()
    train_compass(lee["a"], CadeSettings(compass_epochs=2), progress=lambda f, m: seen.append((f, m)))
    assert seen[-1][0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# the compass on disk without pickle (another machine's compass is never unpickled)


@pytest.mark.parametrize("mode", ["hidden", "both"])
def test_slice_from_saved_compass_is_bit_identical(lee, compass, tmp_path, mode):
    """A slice trained from the compass read back by load_compass equals one from the in-memory model, bit for bit."""
    T.save_compass(compass, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".kv") == [
        "compass.json", "compass.npy", "compass.syn1neg.npy", "compass.vec", "compass.vocab"]
    loaded = T.load_compass(tmp_path)
    assert loaded.wv.index_to_key == compass.wv.index_to_key
    assert np.array_equal(loaded.wv.expandos["count"], compass.wv.expandos["count"])
    settings = CadeSettings(threads=1, seed=5, init_mode=mode)
    a = train_slice(compass, lee["a"], settings, name="a")
    b = train_slice(loaded, lee["a"], settings, name="a")
    assert a.wv.index_to_key == b.wv.index_to_key
    assert a.wv.vectors.tobytes() == b.wv.vectors.tobytes()
    assert a.syn1neg.tobytes() == b.syn1neg.tobytes()
    assert np.array_equal(a.wv.expandos["count"], b.wv.expandos["count"])
    assert a.stats["effective_words"] == b.stats["effective_words"]


def test_load_compass_refuses_parts_that_do_not_fit(compass, tmp_path):
    T.save_compass(compass, tmp_path)
    np.save(tmp_path / "compass.syn1neg.npy", compass.syn1neg[:-1])
    with pytest.raises(InputError, match=r"compass\.syn1neg\.npy.*found shape"):
        T.load_compass(tmp_path)
    np.save(tmp_path / "compass.syn1neg.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"compass\.syn1neg\.npy.*without pickled objects"):
        T.load_compass(tmp_path)
    (tmp_path / "compass.json").unlink()
    with pytest.raises(InputError, match=r"compass\.json.*no such file"):
        T.load_compass(tmp_path)
