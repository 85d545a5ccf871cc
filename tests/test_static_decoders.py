"""Static read-outs (isolation, aggregate, X2Static) of tiny decoders: Llama, Qwen2, Gemma.

The families differ where a read-out can go wrong: Llama's SentencePiece BPE with byte fallback and no
padding token (it pads with ``</s>``, on the left), Llama 3's and Qwen2's byte-level BPE behind a regex
split (no ``add_prefix_space`` option), Gemma's SentencePiece without a prepended space and its
embeddings scaled by sqrt(hidden). Each is built by :func:`tests.tinymodels.tiny_decoder` (2 layers,
``HIDDEN`` wide, tokenizers trained here) and checked against hand computations.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import InputError
from pipeline.static import StaticSettings, build_static_vectors
from pipeline.static.readout import aggregated_vectors, check_layers, isolated_vectors, load_teacher
from pipeline.static.x2static import build_context_cache, train_x2static
from tests.tinymodels import english_lines, tiny_decoder

FAMILIES = ("llama2", "llama3", "qwen2", "gemma")
HIDDEN = 48  # not the tiny models' usual 32: the vectors must follow the model


@pytest.fixture(scope="module", params=FAMILIES)
def decoder(request, tmp_path_factory):
    folder = tiny_decoder(request.param, tmp_path_factory.mktemp(request.param) / "model", hidden=HIDDEN,
                          real=False)
    model, tok = load_teacher(folder)
    return request.param, folder, model, tok


@pytest.fixture(scope="module")
def sentences() -> list[list[str]]:
    words = " ".join(english_lines(30)).lower().split()
    return [words[i: i + 14] for i in range(0, 14 * 40, 14)]


def _states(model, tok, words, index):
    """Hidden states (index) of one unpadded input: a word list, or one word alone (isolation's input)."""
    if isinstance(words, list):
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=128, return_tensors="pt")
    else:
        enc = tok(words, return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask", None)
    with torch.no_grad():
        h = model(**enc, output_hidden_states=True).hidden_states[index][0]
    return enc, h, special


def test_pre_split_words_reach_the_model_as_separate_words(decoder):
    family, _, model, tok = decoder
    assert tok.pad_token is not None
    words = ["the", "cat", "sat"]
    enc = tok(words, is_split_into_words=True, add_special_tokens=False)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    wids = enc.word_ids()
    firsts = [pieces[wids.index(k)] for k in range(len(words))]
    # every word starts with the space marker, as a word of running text does ("Ġcat" / "▁cat")
    assert all(p[0] in "Ġ▁" for p in firsts), (family, pieces)
    assert tok.decode(enc["input_ids"]).split() == words


def test_isolation_has_one_vector_per_word_at_the_model_s_width(decoder):
    family, _, model, tok = decoder
    words = ["the", "government", "zyxwvut", "said"]
    assert len(tok.tokenize("zyxwvut")) > 1
    got = isolated_vectors(model, tok, words, layers=(0, 1, -1), batch_size=3, show_progress=False)
    assert model.config.hidden_size == HIDDEN
    for layer, index in ((0, 0), (1, 1), (-1, 2)):
        assert got[layer].shape == (len(words), HIDDEN) and np.isfinite(got[layer]).all()
        assert (np.abs(got[layer]).sum(1) > 0).all()
        for i, w in enumerate(words):
            enc, h, special = _states(model, tok, w, index)
            keep = ~special[0].bool()
            np.testing.assert_allclose(got[layer][i], h[keep].mean(0).numpy(), atol=2e-5)
    # layer 0 by hand from the embedding matrix: Gemma scales its embeddings by sqrt(hidden)
    scale = HIDDEN ** 0.5 if family == "gemma" else 1.0
    emb = model.get_input_embeddings().weight.detach()
    enc = tok("zyxwvut", return_special_tokens_mask=True)
    ids = [t for t, s in zip(enc["input_ids"], enc["special_tokens_mask"]) if not s]
    np.testing.assert_allclose(got[0][2], (emb[ids] * scale).mean(0).numpy(), rtol=1e-5, atol=1e-5)


def test_aggregate_is_the_mean_of_the_occurrences_hidden_states(decoder, sentences):
    family, _, model, tok = decoder
    freq = Counter(w for s in sentences for w in s)
    vocab = sorted(freq)  # every word of the corpus
    got, counts = aggregated_vectors(model, tok, vocab + ["notaword"], sentences, layers=(-1, 1), batch_size=7,
                                     max_length=128, show_progress=False)
    assert (counts[:-1] == [freq[w] for w in vocab]).all() and counts[-1] == 0  # no sentence was cut
    for layer in (-1, 1):
        assert got[layer].shape == (len(vocab) + 1, HIDDEN)
        assert (np.abs(got[layer][:-1]).sum(1) > 0).all() and not got[layer][-1].any()
    split = next(w for w, c in freq.most_common() if c >= 2 and len(tok([w], is_split_into_words=True, add_special_tokens=False)["input_ids"]) > 1)
    for layer, index in ((-1, 2), (1, 1)):
        for w in ("the", split):
            occ = []
            for s in sentences:
                if w not in s:
                    continue
                enc, h, _ = _states(model, tok, s, index)  # alone: no padding, where the batch pads (left, Llama)
                wids = enc.word_ids(0)
                for k in {j for j in wids if j is not None and s[j] == w}:
                    occ.append(h[[t for t, j in enumerate(wids) if j == k]].mean(0).numpy())
            assert len(occ) == counts[vocab.index(w)] > 1
            np.testing.assert_allclose(got[layer][vocab.index(w)], np.mean(occ, axis=0), atol=5e-5)


def test_x2static_context_is_the_sentence_mean_and_every_word_gets_a_row(decoder, sentences, tmp_path):
    family, _, model, tok = decoder
    vocab = sorted({w for s in sentences for w in s})
    cache = build_context_cache(model, tok, sentences, vocab, [1, 2], tmp_path / "cache", "fp", batch_size=6,
                                show_progress=False, sort_chunk=0)
    assert cache.hidden == HIDDEN and (cache.counts(len(vocab)) > 0).all()
    for index in (1, 2):
        _, h, _ = _states(model, tok, sentences[0], index)  # every token state, special tokens included
        np.testing.assert_allclose(cache.contexts(index)[cache.occ_ctx[0]], h.mean(0).numpy(), atol=5e-5)
    table, record = train_x2static(cache, 2, len(vocab), tmp_path / "ck.pt", "fp-t", epochs=2, lr=0.01,
                                   negatives=3, t=1e-3, batch_sentences=8, show_progress=False)
    assert table.shape == (len(vocab), HIDDEN) and np.isfinite(table).all() and len(record["loss"]) == 2


def test_the_stage_writes_a_vector_for_every_vocabulary_word(decoder, sentences, tmp_path):
    family, folder, _, _ = decoder
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    vocab = sorted(w for w, c in Counter(w for s in sentences for w in s).items() if c >= 2)
    from pipeline.vectors import load_vectors

    for method in ("isolation", "aggregate", "x2static"):
        x2 = dict(epochs=1, lr=0.01, negatives=3, t=1e-3, batch_sentences=8) if method == "x2static" else {}
        s = StaticSettings(method=method, layers=(-1,), min_count=2, device="cpu", **x2)
        m = build_static_vectors(s, {"model": str(folder), "corpus": str(corpus)}, tmp_path / method)
        kv = load_vectors(tmp_path / method / f"{method}.L2.npy")
        assert sorted(kv.index_to_key) == vocab and kv.vectors.shape == (len(vocab), HIDDEN), (family, method)
        assert m["words"] == len(vocab)


def test_a_layer_the_decoder_does_not_have_is_refused(decoder, sentences, tmp_path):
    family, folder, model, _ = decoder
    assert check_layers(model, (0, 2, -3)) == {0: 0, 2: 2, -3: 0}
    for bad in (3, -4):
        with pytest.raises(InputError, match=rf"layers between -3 and 2 \(the model has 2 layers.*found {bad}"):
            check_layers(model, (-1, bad))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in sentences[:5]) + "\n")
    with pytest.raises(InputError, match="layers: expected layers between -3 and 2 .*found 3"):
        build_static_vectors(StaticSettings(method="aggregate", layers=(-1, 3), min_count=1, device="cpu"),
                             {"model": str(folder), "corpus": str(corpus)}, tmp_path / "out")
    assert not (tmp_path / "out").exists()
