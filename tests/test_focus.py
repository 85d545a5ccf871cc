"""FOCUS (pipeline.transfer.focus): against deepfocus 1.0.1 on the same inputs where it is installed, against a
per-row transcription of the paper's equations always; shared tokens, the auxiliary fastText, transfer of other
tables, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.transfer.focus import (canonical_forms, create_focus_embeddings, shared_token_pairs, sparsemax,
                                     train_auxiliary_vectors)

from tinymodels import _bpe_tokenizer, _wordpiece_tokenizer, english_lines


def _synthetic(n_s=300, n_t=200, a=6, d=24, n_shared=80, seed=0):
    """Low-dimensional auxiliary vectors, so that cosines crowd together and sparsemax supports are wide."""
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((n_s, d)).astype(np.float32)
    aux = rng.standard_normal((n_t, a)).astype(np.float32)
    aux[[7, 150, n_t - 1]] = 0  # 7 is shared: copied, but no anchor; 150 and n_t - 1 fall back
    shared = sorted(zip(rng.choice(n_t // 2, n_shared, replace=False).tolist(),
                        rng.choice(n_s, n_shared, replace=False).tolist()))
    if 7 not in dict(shared):
        shared[0] = (7, shared[0][1])
        shared.sort()
    return E, aux, shared


def _paper_rows(E, aux, shared):
    """FOCUS section 3, one new token at a time: c = cos(aux_x, aux_o) over the shared o with a vector,
    w = sparsemax(c) by sorting (Martins & Astudillo 2016, algorithm 1), e_x = sum_o w_o e_o."""
    anchors = [(t, s) for t, s in shared if np.any(aux[t])]
    copied = dict(shared)
    out = {}
    for x in range(len(aux)):
        if x in copied or not np.any(aux[x]):
            continue
        c = np.array([aux[x] @ aux[t] for t, _ in anchors]) / np.linalg.norm(aux[x]) / np.linalg.norm(
            [aux[t] for t, _ in anchors], axis=1)
        z = np.sort(c)[::-1]
        k = max(j for j in range(1, len(z) + 1) if 1 + j * z[j - 1] > z[:j].sum())
        tau = (z[:k].sum() - 1) / k
        w = np.maximum(c - tau, 0)
        out[x] = (w, w @ E[[s for _, s in anchors]], k)
    return out


def test_combination_follows_the_papers_equations_row_by_row():
    E, aux, shared = _synthetic()
    res = create_focus_embeddings(E, aux, shared, candidates=4)  # supports beyond 4: the widening runs
    ref = _paper_rows(E, aux, shared)
    anchors_src = [s for t, s in shared if np.any(aux[t])]
    supports = []
    for x, (w, e, k) in ref.items():
        assert np.allclose(res.matrix[x], e, atol=1e-5)
        got = dict(zip(res.neighbours[x].tolist(), res.weights[x].tolist()))
        want = {s: wi for s, wi in zip(anchors_src, w) if wi > 0}
        assert {s for s in got if s >= 0} == set(want)
        assert np.allclose([got[s] for s in want], list(want.values()), atol=1e-6)
        supports.append(k)
    assert max(supports) > 4 and res.neighbours.shape[1] == max(supports)
    # copied rows are the source rows; the unshared rows without a vector fall back, nothing else does
    for t, s in shared:
        assert np.array_equal(res.matrix[t], E[s]) and res.copied[t]
    assert np.flatnonzero(res.fallback).tolist() == [150, 199]
    # the number of candidates is a speed setting only
    wide = create_focus_embeddings(E, aux, shared, candidates=500, block_size=7)
    assert np.allclose(wide.matrix, res.matrix, atol=1e-6)


def test_transfer_applies_the_same_copies_and_weights_to_an_untied_head():
    E, aux, shared = _synthetic(seed=1)
    special = [(0, 3)]
    res = create_focus_embeddings(E, aux, shared, special_pairs=special, seed=5)
    head = np.random.default_rng(9).standard_normal(E.shape).astype(np.float32)
    out = res.transfer(head)
    copies = {**dict(shared), **dict(special)}  # a special pair overrides a shared one for the same target id
    assert 0 in dict(shared) and copies[0] == 3
    for t, s in copies.items():
        assert np.array_equal(out[t], head[s]) and np.array_equal(res.matrix[t], E[s])
    for x in np.flatnonzero(~res.copied & ~res.fallback)[:50]:
        nb = res.neighbours[x][res.neighbours[x] >= 0]
        assert np.allclose(out[x], res.weights[x][:len(nb)] @ head[nb], atol=1e-5)
    # the input matrix itself, through transfer, is the matrix FOCUS built (fallback draws included)
    assert np.allclose(res.transfer(E), res.matrix, atol=1e-5)
    bias = np.arange(len(E), dtype=np.float32)
    assert res.transfer(bias)[shared[3][0]] == shared[3][1]


def test_sparsemax_is_the_projection_onto_the_simplex():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((200, 30)) * rng.uniform(0.05, 3, (200, 1))
    p = sparsemax(z)
    assert np.allclose(p.sum(1), 1) and (p >= 0).all()
    # KKT of min ||p - z||^2 on the simplex: z_i - p_i is one constant tau on the support, z_i <= tau off it
    for zi, pi in zip(z, p):
        on = pi > 0
        tau = (zi - pi)[on]
        assert np.allclose(tau, tau[0]) and (zi[~on] <= tau[0] + 1e-12).all()
    assert np.allclose(sparsemax(z.T, dim=0), p.T)


@pytest.fixture(scope="module")
def wordpiece_pair():
    lines = english_lines()
    return _wordpiece_tokenizer(lines[:150], 1500), _wordpiece_tokenizer(lines[150:], 1200), lines[150:]


@pytest.fixture(scope="module")
def aux_model(wordpiece_pair, tmp_path_factory):
    _, target, text = wordpiece_pair
    work = tmp_path_factory.mktemp("focus-aux")
    aux = train_auxiliary_vectors(target, text, work, dim=24, epochs=3, min_count=3, threads=1)
    return aux, work


def test_auxiliary_vectors_are_fasttext_rows_by_target_id(wordpiece_pair, aux_model):
    import fasttext

    _, target, text = wordpiece_pair
    aux, work = aux_model
    assert aux.shape == (len(target), 24) and aux.dtype == np.float32
    model = fasttext.load_model(str(work / "aux.bin"))
    counts = dict(zip(*model.get_words(include_freq=True)))
    vocab = target.get_vocab()
    for tok in ("the", "##s", "government", "[CLS]"):
        i = vocab[tok]
        if counts.get(tok, 0) >= 3:
            assert np.allclose(aux[i], model.get_word_vector(tok))
        else:  # special tokens never occur in the tokenised text; rare tokens get no vector
            assert not aux[i].any()
    assert counts["the"] >= 3 and not aux[vocab["[CLS]"]].any()
    assert set(np.flatnonzero(aux.any(1))) == {vocab[w] for w, c in counts.items() if w in vocab and c >= 3}


def test_shared_tokens_are_matched_on_canonical_forms(wordpiece_pair):
    source, target, _ = wordpiece_pair
    pairs = shared_token_pairs(source, target)
    sv, tv = source.get_vocab(), target.get_vocab()
    by_target = dict(pairs)
    assert by_target[tv["the"]] == sv["the"] and by_target[tv["[SEP]"]] == sv["[SEP]"]
    assert all(source.convert_ids_to_tokens(s) == target.convert_ids_to_tokens(t) for t, s in pairs)
    assert len(pairs) == len(set(sv) & set(tv))
    # across schemes: a WordPiece word start matches a byte-level "Ġ" token, a continuation a bare one
    gpt2 = _bpe_tokenizer(english_lines()[:150], 1500, "gpt2")
    assert canonical_forms(gpt2)[0] == "byte_level" and canonical_forms(target)[0] == "wordpiece"
    cross = dict(shared_token_pairs(gpt2, target))
    assert gpt2.convert_ids_to_tokens(cross[tv["the"]]) == "Ġthe"
    if "##ing" in tv and "ing" in gpt2.get_vocab():
        assert cross[tv["##ing"]] == gpt2.get_vocab()["ing"]
    # two byte-level vocabularies: every identically spelt token pairs with itself, byte pieces of multi-byte
    # characters (decoded: U+FFFD) and whitespace tokens (decoded: nothing once stripped) included
    other = _bpe_tokenizer(english_lines()[150:], 1200, "gpt2")
    gv, ov = gpt2.get_vocab(), other.get_vocab()
    pairs = dict(shared_token_pairs(gpt2, other))
    assert all(pairs.get(ov[x]) == gv[x] for x in set(gv) & set(ov))
    assert {"Ċ", "Ã", "Ġ"} <= set(gv) & set(ov)


def test_shared_tokens_agree_with_deepfocus(wordpiece_pair):
    pytest.importorskip("deepfocus")
    from deepfocus.focus import get_overlapping_tokens

    source, target, _ = wordpiece_pair
    lines = english_lines()
    for src, tgt in ((source, target), (_bpe_tokenizer(lines[:150], 1500, "gpt2"),
                                        _bpe_tokenizer(lines[150:], 1200, "gpt2"))):
        overlap, _ = get_overlapping_tokens(tgt, src, match_symbols=False, exact_match_all=True,
                                            fuzzy_match_all=False)
        theirs = {o.target.id: o.source[0].id for o in overlap.values()}
        ours = dict(shared_token_pairs(src, tgt))
        _, s_forms = canonical_forms(src)
        count = {}
        for _, form in s_forms.values():
            count[form] = count.get(form, 0) + 1
        differ = {t for t in set(theirs) | set(ours) if theirs.get(t) != ours.get(t)}
        # only the documented deviations: a byte piece of a multi-byte character or a whitespace token (matched
        # on its own spelling), or a source form held by several tokens (the one spelt as the target's first)
        t_forms = canonical_forms(tgt)[1]
        for t in differ:
            tok, form = t_forms[t]
            assert "\ufffd" in form or not form or count.get(form, 0) > 1, (t, form, theirs.get(t), ours.get(t))
            assert t not in ours or src.convert_ids_to_tokens(ours[t]) == tok
        assert len(ours) > 500 and len(differ) <= (0 if src is source else 150)


def test_end_to_end_matches_deepfocus(wordpiece_pair, aux_model, monkeypatch):
    pytest.importorskip("deepfocus")
    import deepfocus.focus
    import torch
    from deepfocus import FOCUS

    # fastdist's own cosine, uncompiled: numba's JIT would take longer than the rest of this test
    monkeypatch.setattr(deepfocus.focus.fastdist, "cosine_matrix_to_matrix",
                        deepfocus.focus.fastdist.cosine_matrix_to_matrix.py_func)

    source, target, _ = wordpiece_pair
    aux, work = aux_model
    E = np.random.default_rng(4).standard_normal((len(source), 16)).astype(np.float32)
    theirs = FOCUS(target_tokenizer=target, source_tokenizer=source, source_embeddings=torch.from_numpy(E),
                   fasttext_model_path=str(work / "aux.bin"), verbosity="silent").numpy()
    ours = create_focus_embeddings(E, aux, shared_token_pairs(source, target))
    combined = ~ours.copied & ~ours.fallback
    assert combined.sum() > 100 and ours.copied.sum() > 500
    assert np.array_equal(ours.matrix[ours.copied], theirs[ours.copied])
    assert np.allclose(ours.matrix[combined], theirs[combined], atol=1e-5)
    # the rows that differ are exactly the random draws (two generators), so the same rows fell back
    differ = ~np.isclose(ours.matrix, theirs, atol=1e-5).all(1)
    assert ours.fallback.sum() > 0 and np.array_equal(differ, ours.fallback)


def test_bad_input_is_refused_with_a_reason():
    E, aux, shared = _synthetic()
    with pytest.raises(InputError, match="none are shared"):
        create_focus_embeddings(E, aux, [])
    with pytest.raises(InputError, match="2-d source matrix"):
        create_focus_embeddings(E[0], aux, shared)
    with pytest.raises(InputError, match="source ids below 300.*found \\(1, 300\\)"):
        create_focus_embeddings(E, aux, [(1, 300)])
    with pytest.raises(InputError, match="a target id appears twice"):
        create_focus_embeddings(E, aux, [(1, 2), (1, 3)])
    no_vectors = aux.copy()
    no_vectors[[t for t, _ in shared]] = 0
    with pytest.raises(InputError, match="none of the 80 shared tokens has one"):
        create_focus_embeddings(E, no_vectors, shared)


def test_degenerate_vectors_give_finite_rows_or_a_reason():
    """Auxiliary vectors of 1e-30 (a float32 norm of 0 made every cosine NaN and sparsemax index -1), a NaN in
    the source matrix (it spread into every row combined from it) and scores sparsemax has no support for."""
    E, aux, shared = _synthetic()
    want = create_focus_embeddings(E, aux, shared)
    for scale in (1e-30, 1e30):
        got = create_focus_embeddings(E, aux * scale, shared)
        assert np.isfinite(got.matrix).all() and np.array_equal(got.neighbours, want.neighbours)
    one = create_focus_embeddings(E, aux, shared[1:2])  # one anchor: every new row is its row
    combined = ~one.copied & ~one.fallback
    assert combined.any() and np.array_equal(one.matrix[combined], np.repeat(E[[shared[1][1]]], combined.sum(), 0))
    bad = E.copy()
    bad[shared[5][1], 2] = np.nan
    with pytest.raises(InputError, match=rf"finite source model embeddings; 1 rows hold nan or inf, the first row {shared[5][1]}"):
        create_focus_embeddings(bad, aux, shared)
    for scores in ([np.nan, 1.0], [np.inf, 0.0], np.zeros((2, 0))):
        with pytest.raises(ValueError, match="sparsemax needs finite scores, at least one per row"):
            sparsemax(scores)


def test_focus_target_embeddings_runs_the_three_steps(wordpiece_pair, aux_model, monkeypatch, tmp_path):
    import pipeline.transfer.focus as focus

    source, target, text = wordpiece_pair
    aux, _ = aux_model
    calls = []
    monkeypatch.setattr(focus, "train_auxiliary_vectors", lambda tok, texts, work, **kw: calls.append(kw) or aux)
    E = np.random.default_rng(2).standard_normal((len(source), 8)).astype(np.float32)
    seen = []
    res, info = focus.focus_target_embeddings(source, target, E, text, tmp_path, dim=24, min_count=3,
                                              progress=seen.append)
    shared = shared_token_pairs(source, target)
    assert np.array_equal(res.matrix, create_focus_embeddings(E, aux, shared).matrix)
    assert calls[0]["dim"] == 24 and calls[0]["min_count"] == 3
    assert info["focus_shared_tokens"] == len(shared) == info["focus_copied"]
    assert info["focus_anchors"] == sum(bool(aux[t].any()) for t, _ in shared)
    assert info["focus_combined"] + info["focus_fallback"] + info["focus_copied"] == len(target)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_tokens_fasttext_would_split_or_alias_get_their_own_vectors(tmp_path):
    import fasttext

    tok = _wordpiece_tokenizer(english_lines(40), 300)
    tok.add_tokens(["new york", "</s>"])
    text = [f"{line} new york </s> new york" for line in english_lines(40)]
    aux = train_auxiliary_vectors(tok, text, tmp_path, dim=8, epochs=2, min_count=2, threads=1)
    spaced, eos = tok.convert_tokens_to_ids(["new york", "</s>"])
    model = fasttext.load_model(str(tmp_path / "aux.bin"))
    assert aux[spaced].any() and aux[eos].any()
    # neither the vector of "new" or "york" (what a split would give) nor fastText's end-of-line token's
    for other in ("new", "york", "</s>"):
        assert not np.allclose(aux[spaced], model.get_word_vector(other))
    assert not np.allclose(aux[eos], model.get_word_vector("</s>"))


def test_min_count_above_every_new_token_is_refused_not_random(wordpiece_pair, tmp_path):
    """A focus.min_count no new token reaches: every new row would be a random draw (FOCUS in name only)."""
    from collections import Counter

    from pipeline.transfer.focus import focus_target_embeddings

    source, target, text = wordpiece_pair
    shared = dict(shared_token_pairs(source, target))
    counts = Counter(i for row in target(text, add_special_tokens=False)["input_ids"] for i in row)
    min_count = max(c for i, c in counts.items() if i not in shared) + 1
    assert max(counts.values()) >= min_count  # shared tokens still get vectors: only the new ones lack them
    E = np.random.default_rng(3).standard_normal((len(source), 8)).astype(np.float32)
    n_new = len(target) - len(shared)
    with pytest.raises(InputError, match=rf"lower focus\.min_count or add target text; none of the {n_new} new "
                                         r"tokens has one"):
        focus_target_embeddings(source, target, E, text, tmp_path, dim=8, epochs=1, min_count=min_count, threads=1)


def test_most_new_tokens_falling_back_is_a_warning_with_the_counts(caplog):
    E, aux, shared = _synthetic()
    new = np.setdiff1d(np.arange(len(aux)), [t for t, _ in shared])
    sparse = aux.copy()
    sparse[new[: len(new) * 3 // 4]] = 0
    with caplog.at_level("WARNING", logger="pipeline.transfer.focus"):
        res = create_focus_embeddings(E, sparse, shared)
    n_fallback = int(res.fallback.sum())
    assert n_fallback > len(new) / 2
    [record] = [r for r in caplog.records if r.name == "pipeline.transfer.focus"]
    assert record.levelname == "WARNING" and record.getMessage().startswith(
        f"FOCUS: {n_fallback} of {len(new)} new target tokens have no auxiliary vector")
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.transfer.focus"):
        create_focus_embeddings(E, aux, shared)  # two of 120 fall back: no warning
    assert not [r for r in caplog.records if r.name == "pipeline.transfer.focus"]


def test_min_count_above_every_token_names_the_setting_not_a_temporary_file(wordpiece_pair, tmp_path):
    """No token at all reaches focus.min_count: fastText's own refusal named the temporary token file and
    'min_count'; it names focus.min_count and what to change."""
    from collections import Counter

    from pipeline.transfer.focus import focus_target_embeddings

    source, target, text = wordpiece_pair
    counts = Counter(i for row in target(text, add_special_tokens=False)["input_ids"] for i in row)
    too_many = max(counts.values()) + 1
    E = np.random.default_rng(3).standard_normal((len(source), 8)).astype(np.float32)
    with pytest.raises(InputError) as exc:
        focus_target_embeddings(source, target, E, text, tmp_path, dim=8, epochs=1, min_count=too_many, threads=1)
    msg = str(exc.value)
    assert msg.startswith(f"expected target tokens seen at least focus.min_count={too_many} times for FOCUS's "
                          "auxiliary fastText: lower focus.min_count or add target text; "), msg
    assert str(tmp_path) not in msg, msg
