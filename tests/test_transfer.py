"""WECHSEL pieces without luigi: the target embeddings against the reference package, subword vectors,
tokenizers of every kind, model surgery, continued pretraining (kill and resume), retrieval, hub downloads."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.models import resolve_model
from pipeline.transfer import (create_target_embeddings, load_source_model, special_token_pairs,
                               subword_vectors_from_words, token_surfaces, tokenizer_model_type,
                               train_target_tokenizer, transfer_model)
from pipeline.transfer.reference import VocabTokenizer, reference_create_target_embeddings

from conftest import LoopbackServer
from tinymodels import english_lines, tiny_model

SPECIAL = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}


def _synthetic(ns=3000, nt=2000, d=40, dm=32, seed=0):
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((ns, d)).astype(np.float32)
    tgt = rng.standard_normal((nt, d)).astype(np.float32)
    tgt[[5, 17, nt // 5, nt - 1]] = 0
    E = rng.standard_normal((ns, dm)).astype(np.float32)
    st = VocabTokenizer(["[PAD]", "[CLS]", "[SEP]", "[MASK]"] + [f"s{i}" for i in range(ns - 4)], SPECIAL)
    tt = VocabTokenizer(["[CLS]", "t0", "[SEP]", "[PAD]"] + [f"t{i}" for i in range(1, nt - 3)], SPECIAL)
    pairs = [(tt.vocab[v], st.vocab[v]) for v in SPECIAL.values() if v in tt.vocab]
    return src, tgt, E, st, tt, pairs


def test_matches_reference_wechsel_row_for_row():
    pytest.importorskip("wechsel")
    src, tgt, E, st, tt, pairs = _synthetic()
    ref, not_found, sources = reference_create_target_embeddings(src, tgt, st, tt, E, neighbors=10, temperature=0.1)
    ours = create_target_embeddings(src, tgt, E, neighbors=10, temperature=0.1, special_pairs=pairs,
                                    reference_fallback=True)
    # the same rows fall back, the same neighbour sets everywhere else
    assert sorted(tt.vocab[t] for t in not_found) == np.flatnonzero(ours.fallback).tolist() == [5, 17, 400, 1999]
    tied = []
    for tid in np.flatnonzero(~ours.fallback):
        name = tt.tokens[tid]
        ref_set = {st.vocab[x] for x in sources[name][0]}
        if ref_set != set(ours.neighbours[tid].tolist()):
            tied.append(tid)
        else:  # weights as the reference's softmax(sim / T), sorted best first
            assert np.allclose(np.sort(sources[name][1])[::-1], ours.weights[tid], atol=1e-5)
    for tid in tied:  # a differing set only where the k-th and (k+1)-th similarities tie in float precision
        u = tgt[tid] / np.linalg.norm(tgt[tid])
        top = np.sort((src / np.linalg.norm(src, axis=1, keepdims=True)) @ u)[-11:]
        assert top[1] - top[0] < 1e-5
    ok = np.setdiff1d(np.arange(len(tgt)), tied)
    assert np.abs(ref[ok] - ours.matrix[ok]).max() < 1e-5
    assert len(tied) <= 2
    # special tokens were copied from the source
    for t, s in pairs:
        assert np.array_equal(ours.matrix[t], E[s]) and ours.copied[t]


def test_weights_neighbours_and_transfer_of_other_tables():
    src, tgt, E, st, tt, pairs = _synthetic(ns=500, nt=300)
    res = create_target_embeddings(src, tgt, E, neighbors=5, temperature=0.1, special_pairs=pairs, seed=7)
    row = 42
    sims = (tgt[row] / np.linalg.norm(tgt[row])) @ (src / np.linalg.norm(src, axis=1, keepdims=True)).T
    best = np.argsort(-sims)[:5]
    assert res.neighbours[row].tolist() == best.tolist()
    w = np.exp(sims[best] / 0.1) / np.exp(sims[best] / 0.1).sum()
    assert np.allclose(res.weights[row], w, atol=1e-6)
    assert np.allclose(res.matrix[row], w @ E[best], atol=1e-5)
    # any other per-token table (untied output embeddings, an output bias) goes through the same weights
    bias = np.arange(len(src), dtype=np.float32)
    out_bias = res.transfer(bias)
    assert out_bias.shape == (len(tgt),) and np.isclose(out_bias[row], w @ bias[best], atol=1e-3)
    for t, s in pairs:
        assert out_bias[t] == bias[s]
    # fallback rows: seeded draws from N(mean, std) of the source matrix, reproducible
    again = create_target_embeddings(src, tgt, E, neighbors=5, temperature=0.1, special_pairs=pairs, seed=7)
    assert np.array_equal(res.matrix[res.fallback], again.matrix[again.fallback])
    other = create_target_embeddings(src, tgt, E, neighbors=5, temperature=0.1, special_pairs=pairs, seed=8)
    assert not np.array_equal(res.matrix[res.fallback], other.matrix[other.fallback])
    with pytest.raises(ValueError, match="neighbors"):
        create_target_embeddings(src, tgt, E, neighbors=0)
    with pytest.raises(ValueError, match="source matrix"):
        create_target_embeddings(src, tgt, E[:10])


def test_blocks_do_not_change_the_result():
    src, tgt, E, *_ = _synthetic(ns=700, nt=650)
    a = create_target_embeddings(src, tgt, E, block_size=4096)
    b = create_target_embeddings(src, tgt, E, block_size=100)
    assert np.array_equal(a.neighbours, b.neighbours) and np.allclose(a.matrix, b.matrix, atol=1e-6)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {(k, tie): tiny_model(k, root / f"{k}-{tie}", tie=tie)
            for k in ("roberta", "gpt2", "bert", "xlmr") for tie in (True, False)}


SPANISH = [ln.strip() for ln in """\
En el principio creó Dios los cielos y la tierra.
Y la tierra estaba desordenada y vacía, y las tinieblas estaban sobre la haz del abismo.
Y dijo Dios: Sea la luz: y fué la luz.
Y vió Dios que la luz era buena: y apartó Dios la luz de las tinieblas.
Y llamó Dios á la luz Día, y á las tinieblas llamó Noche: y fué la tarde y la mañana un día.
""".splitlines()] * 20


@pytest.mark.parametrize("kind,model_type", [("roberta", "BPE"), ("gpt2", "BPE"), ("bert", "WordPiece"),
                                             ("xlmr", "Unigram")])
def test_target_tokenizer_keeps_the_kind_and_special_tokens(models, kind, model_type):
    src = load_source_model(models[(kind, True)])
    assert src.kind == kind and tokenizer_model_type(src.tokenizer) == model_type
    tgt = train_target_tokenizer(src.tokenizer, iter(SPANISH), vocab_size=400)
    assert tokenizer_model_type(tgt) == model_type
    assert 20 < len(tgt) <= 400
    assert set(src.tokenizer.all_special_tokens) == set(tgt.all_special_tokens)
    surfaces = token_surfaces(tgt)
    assert len(surfaces) == len(tgt)
    assert not any(s.startswith(("##", "\u0120", "\u2581")) for s in surfaces)
    assert "luz" in surfaces or "tierra" in surfaces
    with pytest.raises(InputError, match="no non-empty documents"):
        train_target_tokenizer(src.tokenizer, iter(["", "  "]), vocab_size=100)


@pytest.mark.parametrize("kind", ["roberta", "gpt2", "bert", "xlmr"])
@pytest.mark.parametrize("tie", [True, False])
def test_model_surgery_every_kind(models, tmp_path, kind, tie):
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = load_source_model(models[(kind, tie)])
    tgt = train_target_tokenizer(src.tokenizer, iter(SPANISH), vocab_size=400)
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    out_before = src.model.get_output_embeddings().weight.detach().numpy().copy()
    rng = np.random.default_rng(0)
    S = rng.standard_normal((len(src.tokenizer), 16)).astype(np.float32)
    T = rng.standard_normal((len(tgt), 16)).astype(np.float32)
    T[3] = 0
    pairs = special_token_pairs(src.tokenizer, tgt)
    assert pairs
    res = create_target_embeddings(S, T, E, special_pairs=pairs)
    info = transfer_model(src.model, tgt, res)
    m = src.model
    assert m.config.vocab_size == len(tgt) == info["target_vocab"]
    assert np.array_equal(m.get_input_embeddings().weight.detach().numpy(), res.matrix)
    out_after = m.get_output_embeddings().weight.detach().numpy()
    if tie:
        assert info["tied_output"] and np.array_equal(out_after, res.matrix)
    else:  # untied output embeddings go through the same neighbours and weights
        assert info["output_embeddings_transferred"]
        assert np.allclose(out_after, res.transfer(out_before), atol=1e-6)
        assert not np.allclose(out_after, res.matrix)
    if tgt.pad_token_id is not None:
        assert m.config.pad_token_id == tgt.pad_token_id
    if kind == "gpt2":
        assert m.config.eos_token_id == tgt.eos_token_id
    m.save_pretrained(tmp_path / "out")
    tgt.save_pretrained(tmp_path / "out")
    back = AutoModel.from_pretrained(tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert len(tok) == len(tgt)
    with torch.no_grad():
        h = back(**tok(["Y dijo Dios"], return_tensors="pt")).last_hidden_state
    assert torch.isfinite(h).all()


def test_bad_source_models(tmp_path, models):
    import shutil

    with pytest.raises(InputError, match="config"):
        load_source_model(tmp_path)
    # a model type WECHSEL here does not know
    odd = tmp_path / "odd"
    shutil.copytree(models[("bert", True)], odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["model_type"] = "t5"
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="supported type"):
        load_source_model(odd)
    # a tokenizer of a kind the code does not know (WordLevel)
    from tokenizers import Tokenizer, models as tmodels
    from transformers import PreTrainedTokenizerFast

    wl = tmp_path / "wordlevel"
    shutil.copytree(models[("bert", True)], wl)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (wl / f).unlink(missing_ok=True)
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(tmodels.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]")),
                                  unk_token="[UNK]")
    tok.save_pretrained(wl)
    with pytest.raises(InputError, match="known kind"):
        load_source_model(wl)
    # a kind that contradicts the tokenizer
    with pytest.raises(InputError, match="WordPiece tokenizer for a bert"):
        load_source_model(models[("roberta", True)], kind="bert")


def test_a_broken_model_folder_is_refused_naming_the_file(tmp_path, models):
    """A config that is not a JSON object, truncated weights, and no tokenizer files (transformers then builds a
    BERT tokenizer of its five special tokens, without a word)."""
    import shutil

    def broken(name, change):
        folder = tmp_path / name
        shutil.copytree(models[("bert", True)], folder)
        change(folder)
        return folder

    folder = broken("text", lambda f: (f / "config.json").write_text("{model_type: bert"))
    with pytest.raises(InputError, match=r"text/config\.json: expected a Hugging Face model config .*Expecting"):
        load_source_model(folder)
    folder = broken("list", lambda f: (f / "config.json").write_text("[1, 2]"))
    with pytest.raises(InputError, match=r"list/config\.json: expected .*a JSON object with model_type\); a JSON list"):
        load_source_model(folder)
    weights = models[("bert", True)] / "model.safetensors"
    # cut inside the header, and cut in the tensors after a whole header: both named as the weights file
    for name, keep in (("cut", 5000), ("short", weights.stat().st_size - 64)):
        folder = broken(name, lambda f: (f / "model.safetensors").write_bytes(weights.read_bytes()[:keep]))
        with pytest.raises(InputError, match=rf"{name}/model\.safetensors: expected a complete safetensors file "
                                             r".*SafetensorError.*a download cut short"):
            load_source_model(folder)
        with pytest.raises(InputError, match=rf"{name}/model\.safetensors: expected a complete safetensors"):
            resolve_model(str(folder))
    folder = broken("bare", lambda f: [(f / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")])
    with pytest.raises(InputError, match=r"bare: expected a Hugging Face tokenizer .*a tokenizer of 5 special tokens "
                                         r"only; the folder holds config\.json, model\.safetensors$"):
        load_source_model(folder)


def test_wechsel_without_vectors_on_one_side_is_refused(models, monkeypatch):
    """All-zero subword vectors on the target side would make every row a random draw: WECHSEL in name only."""
    import pipeline.transfer as transfer

    class Space:
        def __init__(self, name):
            self.name = name

    src = load_source_model(models[("bert", True)])
    tgt = train_target_tokenizer(src.tokenizer, iter(SPANISH), vocab_size=400)
    rng = np.random.default_rng(0)
    S = rng.standard_normal((len(src.tokenizer), 8)).astype(np.float32)
    for side, vectors in (("target", (S, np.zeros((len(tgt), 8), np.float32))),
                          ("source", (np.zeros_like(S), rng.standard_normal((len(tgt), 8)).astype(np.float32)))):
        monkeypatch.setattr(transfer, "_subword_matrices", lambda *a, v=vectors: v)
        with pytest.raises(InputError, match=rf"aligned/{'es' if side == 'target' else 'en'}\.bin: expected {side} "
                                             rf"subwords with a vector .*none of the \d+ {side} subwords has one"):
            transfer.initialise_target(src, tgt, "wechsel", spaces=(Space("aligned/en.bin"), Space("aligned/es.bin")))


def test_degenerate_vectors_give_finite_rows_or_a_reason():
    """Tiny and huge static vectors keep their direction (norms in float64); NaN, a negative special id and a
    table shorter than the source are refused instead of spreading NaN or wrapping round."""
    from pipeline.transfer import random_target_embeddings

    src, tgt, E, *_ = _synthetic(ns=300, nt=200)
    want = create_target_embeddings(src, tgt, E, neighbors=5)
    for scale in (1e-30, 1e30):
        got = create_target_embeddings(src * scale, tgt * scale, E, neighbors=5)
        assert np.isfinite(got.matrix).all() and np.array_equal(got.neighbours, want.neighbours)
    nan = tgt.copy()
    nan[3, 1] = np.nan
    with pytest.raises(InputError, match=r"expected finite target subword vectors; 1 rows hold nan or inf, the first row 3"):
        create_target_embeddings(src, nan, E, neighbors=5)
    with pytest.raises(InputError, match="finite source model embeddings"):
        random_target_embeddings(np.full_like(E, np.nan), 10)
    with pytest.raises(InputError, match=r"special token pairs with target ids below 200 .*found \(-1, 0\)"):
        create_target_embeddings(src, tgt, E, neighbors=5, special_pairs=[(-1, 0)])
    with pytest.raises(ValueError, match="a row for each source id"):
        want.transfer(E[:10])


def test_word_mode_subword_vectors(models):
    src = load_source_model(models[("bert", True)])
    words = ["government", "said", "zzzq"]
    counts = [10, 30, 5]
    vecs = np.array([[1, 0], [0, 1], [5, 5]], dtype=np.float32)
    M = subword_vectors_from_words(src.tokenizer, words, counts, vecs)
    tid = src.tokenizer.convert_tokens_to_ids("said")
    assert np.allclose(M[tid], [0, 1])
    # a subword in several words: their count-weighted mean
    pieces = {w: src.tokenizer(w, add_special_tokens=False)["input_ids"] for w in words}
    shared = set(pieces["government"]) & set(pieces["zzzq"])
    for t in shared:
        assert np.allclose(M[t], (10 * vecs[0] + 5 * vecs[2]) / 15)
    unused = set(range(len(src.tokenizer))) - {t for ids in pieces.values() for t in ids}
    assert all(not M[t].any() for t in unused)


def test_retrieval_metrics_and_parallel_verses(tmp_path):
    from pipeline.transfer.evaluate import parallel_verses, retrieval_metrics

    q = np.eye(4, dtype=np.float32)
    assert retrieval_metrics(q, q) == {"top1": 1.0, "mrr": 1.0, "n": 4}
    d = q[[1, 0, 2, 3]]  # the first two swapped: their match ranks second
    m = retrieval_metrics(q, d)
    assert m["top1"] == 0.5 and m["mrr"] == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    (tmp_path / "a.tsv").write_text("ref\ttext\nMark 1:1\tThe beginning\nMark 1:2\tAs it is\nJohn 1:1\tIn the\n")
    (tmp_path / "b.tsv").write_text("ref\ttext\nMark 1:1\tPrincipio\nJohn 1:1\tEn el\n")
    refs, a, b = parallel_verses(tmp_path / "a.tsv", tmp_path / "b.tsv", ["Mark"])
    assert refs == ["Mark 1:1"] and a == ["The beginning"] and b == ["Principio"]
    with pytest.raises(InputError, match="none in common"):
        parallel_verses(tmp_path / "a.tsv", tmp_path / "b.tsv", ["Luke"])


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {tests!r})
    from transformers import AutoModelForMaskedLM, AutoModelForCausalLM, AutoTokenizer
    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks
    torch.set_num_threads(1)
    path, work, objective, kill_at, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    cls = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    model, tok = cls.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    from tinymodels import english_lines
    blocks = token_blocks(tok, english_lines(150), 32, objective)
    def on_step(step, loss):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    settings = PretrainSettings(steps=steps, batch_size=4, seq_len=32, lr=1e-3, warmup_steps=2, checkpoint_every=2,
                                seed=3, device="cpu", log_every=0)
    r = continued_pretraining(model, tok, blocks, settings, work, objective, on_step=on_step)
    print("LOSSES", r["losses"], r["resumed_from_step"])
""")


@pytest.mark.parametrize("kind,objective", [("bert", "mlm"), ("gpt2", "clm")])
def test_pretraining_resumes_after_kill_with_the_same_loss_curve(models, tmp_path, kind, objective):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    path = str(models[(kind, True)])

    def run(work, kill_at):
        return subprocess.run([sys.executable, str(script), path, str(work), objective, str(kill_at), "6"],
                              capture_output=True, text=True, env=env, timeout=240)

    whole = run(tmp_path / "a", -1)
    assert whole.returncode == 0, whole.stderr[-2000:]
    line = [ln for ln in whole.stdout.splitlines() if ln.startswith("LOSSES")][0]
    expected = json.loads(line.split(" ", 1)[1].rsplit(" ", 1)[0])
    assert len(expected) == 6 and all(np.isfinite(expected))
    killed = run(tmp_path / "b", 3)  # SIGKILL after step 3: the checkpoint of step 2 survives
    assert killed.returncode == -9
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint-00000002"]
    resumed = run(tmp_path / "b", -1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    line = [ln for ln in resumed.stdout.splitlines() if ln.startswith("LOSSES")][0]
    losses, start = line.split(" ", 1)[1].rsplit(" ", 1)
    assert int(start) == 2
    assert json.loads(losses) == expected
    # only the newest checkpoints are kept, no temporary folder is left
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint-00000004", "checkpoint-00000006"]


HEAD = ["cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias"]


def test_head_warmup_trains_only_the_new_head_then_everything_and_resumes_inside_it(models, tmp_path):
    """``head_warmup_steps``: the first steps move the new head's weights and nothing else (the tied decoder is the
    embedding matrix: frozen), at ``head_lr``; the steps after them move the body and embeddings too. A run stopped
    inside the warm-up resumes to the same loss curve, and every weight is trainable again at the end."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks

    path = models[("bert", True)]
    tok = AutoTokenizer.from_pretrained(path)
    blocks = token_blocks(tok, english_lines(150), 32, "mlm")
    settings = PretrainSettings(steps=5, batch_size=4, seq_len=32, lr=1e-3, warmup_steps=1, checkpoint_every=1,
                                seed=3, device="cpu", log_every=0, head_warmup_steps=2, head_lr=5e-2)

    def run(work, stop_at=None):
        torch.manual_seed(0)
        model = AutoModelForMaskedLM.from_pretrained(path)
        seen = {0: {n: p.detach().clone() for n, p in model.named_parameters()}}

        def on_step(step, loss):
            seen[step] = {n: p.detach().clone() for n, p in model.named_parameters()}
            if step == stop_at:
                raise KeyboardInterrupt  # stopped here; its checkpoint is written
        try:
            return model, seen, continued_pretraining(model, tok, blocks, settings, work, "mlm", on_step=on_step,
                                                      new_head=HEAD + ["cls.predictions.decoder.weight"])
        except KeyboardInterrupt:
            return model, seen, None

    model, seen, whole = run(tmp_path / "a")
    moved = lambda a, b: {n for n in seen[a] if not torch.equal(seen[a][n], seen[b][n])}  # noqa: E731
    assert moved(0, 1) == moved(1, 2) == set(HEAD)  # the decoder is the embedding matrix: not trained alone
    assert {"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight"} <= moved(2, 3)
    assert all(p.requires_grad for p in model.parameters())
    # the warm-up's step size is head_lr's: Adam's first step moves every weight by about lr
    first = max(float((seen[1][n] - seen[0][n]).abs().max()) for n in HEAD)
    assert 0.5 * 5e-2 < first <= 5e-2 * 1.01
    stopped, _, result = run(tmp_path / "b", stop_at=1)  # stopped inside the warm-up
    assert result is None and all(p.requires_grad for p in stopped.parameters())
    resumed = run(tmp_path / "b")[2]
    assert resumed["resumed_from_step"] == 1 and resumed["losses"] == whole["losses"]


@pytest.mark.parametrize("changes, message", [
    ({"head_lr": 1e-2}, "head_lr is read only with pretraining.head_warmup_steps > 0"),
    ({"head_warmup_steps": 4, "warmup_steps": 2}, "head_warmup_steps \\+ warmup_steps at most pretraining.steps"),
    ({"head_warmup_steps": -1}, "head_warmup_steps a whole number >= 0"),
    ({"head_warmup_steps": 1, "head_lr": float("nan")}, "head_lr > 0 and finite"),
])
def test_head_warmup_settings_that_cannot_work_are_refused(changes, message):
    from pipeline.transfer.pretrain import PretrainSettings

    with pytest.raises(ValueError, match=message):
        PretrainSettings(steps=5, **changes)


def test_head_warmup_without_a_new_head_is_refused(models, tmp_path):
    """A source folder that had its head: the warm-up would train nothing (every weight frozen) for its steps."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks

    path = models[("bert", True)]
    tok = AutoTokenizer.from_pretrained(path)
    settings = PretrainSettings(steps=3, batch_size=2, seq_len=32, device="cpu", log_every=0, head_warmup_steps=1)
    with pytest.raises(InputError, match="a newly initialised head for pretraining.head_warmup_steps 1"):
        continued_pretraining(AutoModelForMaskedLM.from_pretrained(path), tok,
                              token_blocks(tok, english_lines(20), 32, "mlm"), settings, tmp_path / "w", "mlm")
    assert not (tmp_path / "w").exists()


def test_masking_is_bert_style_and_seeded(models):
    import torch

    from pipeline.transfer.pretrain import mask_tokens, token_blocks

    src = load_source_model(models[("bert", True)])
    blocks = token_blocks(src.tokenizer, english_lines(100), 32, "mlm")
    assert blocks.shape[1] == 32
    assert (blocks[:, 0] == src.tokenizer.cls_token_id).all() and (blocks[:, -1] == src.tokenizer.sep_token_id).all()
    inputs, labels = mask_tokens(blocks, src.tokenizer, 0.15, torch.Generator().manual_seed(1))
    again, _ = mask_tokens(blocks, src.tokenizer, 0.15, torch.Generator().manual_seed(1))
    assert torch.equal(inputs, again)
    chosen = labels != -100
    assert 0.10 < chosen.float().mean() < 0.20
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # special tokens are never predicted
    masked = inputs[chosen] == src.tokenizer.mask_token_id
    assert 0.7 < masked.float().mean() < 0.9
    assert torch.equal(labels[chosen], blocks[chosen])


# a folder served on loopback (a stand-in for the model hub and corpus hosts); ``.paths``: the paths asked for
StaticServer = LoopbackServer


def test_source_model_from_a_hub_style_server(models, tmp_path, monkeypatch):
    import shutil

    from pipeline.models import model_source_identity, resolve_model

    served = tmp_path / "hub"
    repo = served / "tiny-org" / "tiny-roberta" / "resolve" / "main"
    shutil.copytree(models[("roberta", True)], repo)
    server = StaticServer(served)
    try:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        cache = tmp_path / "cache"
        folder = resolve_model("tiny-org/tiny-roberta", "main", cache, progress=False)
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        src = load_source_model(folder)
        assert src.kind == "roberta" and len(src.tokenizer) == 600
        assert "/tiny-org/tiny-roberta/resolve/main/spiece.model" in server.paths  # optional file: its 404 is fine
        assert "/tiny-org/tiny-roberta/resolve/main/pytorch_model.bin" not in server.paths  # safetensors sufficed
        n = len(server.paths)
        assert resolve_model("tiny-org/tiny-roberta", "main", cache, progress=False) == folder
        assert len(server.paths) == n  # fetched once: a complete folder is not asked for again
        # any hub-style base URL works the same
        url_folder = resolve_model(f"{server.url}/tiny-org/tiny-roberta/resolve/main", "main", tmp_path / "c2",
                                   progress=False)
        assert (url_folder / "tokenizer.json").read_bytes() == (repo / "tokenizer.json").read_bytes()
        assert model_source_identity("tiny-org/tiny-roberta", "v1") == {"model": "tiny-org/tiny-roberta",
                                                                        "revision": "v1"}
        # weights cut short on the server: named, removed, not marked complete; served whole, the next run heals
        cut = served / "tiny-org" / "cut" / "resolve" / "main"
        shutil.copytree(repo, cut)
        whole = (cut / "model.safetensors").read_bytes()
        (cut / "model.safetensors").write_bytes(whole[:-64])
        with pytest.raises(InputError, match=r"model\.safetensors: expected a complete safetensors file .*the file "
                                             r"was removed: the next run fetches it again"):
            resolve_model("tiny-org/cut", "main", cache, progress=False)
        (cut / "model.safetensors").write_bytes(whole)
        healed = resolve_model("tiny-org/cut", "main", cache, progress=False)
        assert (healed / "model.safetensors").read_bytes() == whole
        # a repository without weights: a clear error naming the URL
        (served / "tiny-org" / "empty" / "resolve" / "main").mkdir(parents=True)
        shutil.copy(repo / "config.json", served / "tiny-org" / "empty" / "resolve" / "main" / "config.json")
        with pytest.raises(InputError, match="model weights"):
            resolve_model("tiny-org/empty", "main", cache, progress=False)
        with pytest.raises(InputError, match="HTTP 404"):
            resolve_model("tiny-org/missing", "main", cache, progress=False)
    finally:
        server.close()
    with pytest.raises(InputError, match="not installed"):
        resolve_model("pkg:no_such_package_here/model")
    with pytest.raises(InputError, match="no such folder"):
        resolve_model(str(tmp_path / "nowhere"))


def test_target_corpus_by_url(tmp_path):
    import lzma

    from pipeline.dag.transfer import target_lines
    from pipeline.transfer.spec import load_transfer_spec

    served = tmp_path / "www"
    served.mkdir()
    with gzip.open(served / "sw.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("Habari ya asubuhi\n\nNinapenda kusoma vitabu\n")
    with lzma.open(served / "sw.txt.xz", "wt", encoding="utf-8") as fh:
        fh.write("Mstari wa kwanza\nMstari wa pili\n")
    (served / "bad.txt.gz").write_bytes(b"not gzip at all")
    server = StaticServer(served)
    try:
        for name, expected in (("sw.txt.gz", ["Habari ya asubuhi", "Ninapenda kusoma vitabu"]),
                               ("sw.txt.xz", ["Mstari wa kwanza", "Mstari wa pili"])):
            (tmp_path / "s.yaml").write_text(
                f"source_model: {{model: org/x}}\ntarget: {{lang: sw, url: {server.url}/{name}}}\n"
                "static_vectors: sw\n")
            spec = load_transfer_spec(tmp_path / "s.yaml")
            assert list(target_lines(spec, tmp_path / "dl")) == expected
        (tmp_path / "s.yaml").write_text(
            f"source_model: {{model: org/x}}\ntarget: {{lang: sw, url: {server.url}/bad.txt.gz}}\nstatic_vectors: sw\n")
        with pytest.raises(InputError, match="one document per line"):
            list(target_lines(load_transfer_spec(tmp_path / "s.yaml"), tmp_path / "dl"))
    finally:
        server.close()


def test_subword_vectors_use_only_trained_ngrams(tmp_path):
    from pipeline.multilingual import FastTextSettings, load_aligned_space, train_fasttext
    from pipeline.transfer.subwords import subword_vectors, trained_ngrams

    text = tmp_path / "t.txt"
    text.write_text("\n".join(" ".join(ln.lower().split()) for ln in english_lines(300)) + "\n")
    paths = train_fasttext([text], tmp_path / "ft", FastTextSettings(dim=16, epochs=2, min_count=3, bucket=5000,
                                                                     minn=3, maxn=4, threads=1))
    space = load_aligned_space(paths.bin)
    model = space.model
    word = "government"
    seen = trained_ngrams(model)
    assert word in seen and "<go" in seen and "qqx" not in seen
    v = subword_vectors([word, "", "qqxqqx", "governmentqqx"], space)
    assert np.allclose(v[0], model.get_word_vector(word), atol=1e-6)  # in vocabulary: fastText's own vector
    assert not v[1].any() and not v[2].any()                         # nothing trained: no vector
    assert v[3].any()                                                # the known n-grams of a new word count
    noisy = subword_vectors(["qqxqqx"], space, trained_only=False)
    assert noisy.any()  # fastText's own lookup returns untrained bucket noise
    with pytest.raises(InputError, match="subword"):
        kv_space = load_aligned_space(paths.vec)
        subword_vectors(["a"], kv_space)


def test_source_model_without_an_embedding_matrix(models, monkeypatch):
    import torch
    import transformers

    class NoEmbeddings(torch.nn.Module):
        def get_input_embeddings(self):
            raise NotImplementedError

    def fake(*args, **kwargs):
        return NoEmbeddings(), {"missing_keys": []}

    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", fake)
    with pytest.raises(InputError, match="input embedding matrix"):
        load_source_model(models[("bert", True)])


def test_source_subwords_without_a_vector_are_never_neighbours():
    src, tgt, E, *_ = _synthetic(ns=400, nt=200)
    src[:50] = 0
    res = create_target_embeddings(src, tgt, E, neighbors=10)
    used = res.neighbours[~res.fallback]
    assert used.min() >= 50
    # the same as searching the rows with vectors only, ids mapped back
    sub = create_target_embeddings(src[50:], tgt, E[50:], neighbors=10)
    assert np.array_equal(used, sub.neighbours[~sub.fallback] + 50)
    assert np.allclose(res.matrix[~res.fallback], sub.matrix[~sub.fallback])
    with pytest.raises(ValueError, match="with a vector"):
        create_target_embeddings(np.zeros_like(src), tgt, E, neighbors=1)


def test_nearest_anchors_are_the_exact_top_k_cosines():
    """The CPU search (a FAISS flat index) gives what a full cosine matrix and torch.topk give, best first."""
    import torch

    from pipeline.transfer.embeddings import NearestAnchors

    rng = np.random.default_rng(5)
    anchors = rng.standard_normal((3000, 24)).astype(np.float32) * rng.uniform(0.1, 9, (3000, 1)).astype(np.float32)
    rows = rng.standard_normal((257, 24)).astype(np.float32) * 4
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    want_val, want_idx = torch.topk(torch.from_numpy(unit(rows) @ unit(anchors).T), 7, dim=1)
    val, idx = NearestAnchors(anchors, "cpu").top(rows, 7)
    assert np.array_equal(idx.numpy(), want_idx.numpy())
    assert np.allclose(val.numpy(), want_val.numpy(), atol=1e-5)
    assert NearestAnchors(anchors[:5], "cpu").top(rows, 7)[1].shape == (257, 5)  # k capped at the anchors
