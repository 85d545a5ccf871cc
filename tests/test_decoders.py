"""Decoder source models (Llama-2 / Llama-3 / Mistral / Qwen2 / Gemma): target tokenizers of the source's kind,
vocabulary extension, the random / FOCUS initialisations through untied heads, saving and reloading, CLM
continued pretraining. Tiny models built from each family's config (tests/tinymodels.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.transfer import (check_target_tokenizer, extend_tokenizer, initialise_target, load_source_model,
                               train_target_tokenizer)
from pipeline.transfer.model import kind_of_tokenizer

from tinymodels import DECODER_FAMILIES, english_lines, package_file, real_tokenizer_file, tiny_decoder

SWAHILI = [ln.strip() for ln in """\
Habari za asubuhi, rafiki yangu. Leo tunakwenda sokoni kununua matunda na mboga.
Watoto wanacheza mpira uwanjani baada ya shule, na walimu wanawaangalia.
Mvua kubwa ilinyesha jana usiku, na mto ukajaa maji mengi sana.
Serikali imetangaza mpango mpya wa elimu kwa shule za msingi nchini.
Mama anapika chakula kitamu jikoni: wali, maharagwe na samaki wa kukaanga.
Tulisafiri kwa basi kutoka Dar es Salaam hadi Arusha kwa saa kumi.
Wakulima wanapanda mahindi mwezi huu kwa sababu mvua za masika zimeanza.
Hospitali mpya itafunguliwa mwakani ili kuwahudumia wananchi wa vijijini.
""".splitlines() if ln.strip()] * 12

# characters the target tokenizer never saw in training: byte fallback / byte-level must still cover them
UNSEEN = "Jambo! Ωμέγα ☃ 𝔘 ñandú — 12345 \t mwisho  "


def _family_of(kind_family: str) -> str:
    return {"llama2": "llama", "llama3": "llama"}.get(kind_family, kind_family)


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """Each family once with its usual tying, and Llama-2 / Qwen2 the other way round."""
    root = tmp_path_factory.mktemp("decoders")
    out = {(f, None): tiny_decoder(f, root / f, real=False) for f in DECODER_FAMILIES}
    out[("llama2", True)] = tiny_decoder("llama2", root / "llama2-tied", tie=True, real=False)
    out[("qwen2", False)] = tiny_decoder("qwen2", root / "qwen2-untied", tie=False, real=False)
    return out


def _backend(tok) -> dict:
    return json.loads(tok.backend_tokenizer.to_str())


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_target_tokenizer_of_the_source_kind_round_trips_unseen_text(decoders, family):
    src = load_source_model(decoders[(family, None)])
    assert src.kind == _family_of(family) and src.objective == "clm"
    tgt = train_target_tokenizer(src.tokenizer, iter(SWAHILI), vocab_size=500, kind=src.kind)
    s, t = _backend(src.tokenizer), _backend(tgt)
    assert kind_of_tokenizer(tgt) == kind_of_tokenizer(src.tokenizer)
    # the source's normaliser, pre-tokeniser (Llama-3's / Qwen2's regex) and decoder are kept
    assert (t["normalizer"], t["pre_tokenizer"], t["decoder"]) == (s["normalizer"], s["pre_tokenizer"], s["decoder"])
    assert {a["content"] for a in t["added_tokens"]} == {a["content"] for a in s["added_tokens"]}
    assert tgt.chat_template == src.tokenizer.chat_template
    ids = tgt(UNSEEN, add_special_tokens=False)["input_ids"]
    assert tgt.unk_token_id not in ids
    assert tgt.decode(ids) == UNSEEN
    assert check_target_tokenizer(tgt, [UNSEEN] + SWAHILI) == len(SWAHILI) + 1
    assert len(tgt) == 500
    # the new vocabulary learnt Swahili
    assert len(tgt(SWAHILI[0])["input_ids"]) < len(src.tokenizer(SWAHILI[0])["input_ids"])


def test_byte_fallback_tokenizer_missing_bytes_fails_the_check(decoders):
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer

    src = load_source_model(decoders[("llama2", None)])
    tgt = train_target_tokenizer(src.tokenizer, iter(SWAHILI), vocab_size=500, kind=src.kind)
    j = _backend(tgt)
    vocab = j["model"]["vocab"]
    vocab["<0xE2>x"] = vocab.pop("<0xE2>")  # the first byte of the snowman is gone
    broken = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(j)), unk_token="<unk>")
    assert check_target_tokenizer(broken, SWAHILI) == len(SWAHILI)
    with pytest.raises(InputError, match=r"never gives <unk>.*<unk> \(a dropped character\) for '☃' in 'Jambo"):
        check_target_tokenizer(broken, [UNSEEN], where="tasks/transfer/sw_qwen.yaml")


@pytest.mark.parametrize("family,tie", [("llama2", None), ("llama2", True), ("llama3", None), ("mistral", None),
                                        ("qwen2", None), ("qwen2", False), ("gemma", None)])
def test_transfer_save_reload_generate(decoders, tmp_path, family, tie):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = decoders[(family, tie)]
    src = load_source_model(folder)
    src_tok = src.tokenizer
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    H = src.model.get_output_embeddings().weight.detach().numpy().copy()
    tied_before = bool(src.model.config.tie_word_embeddings)
    cfg_tokens = {name: src_tok.convert_ids_to_tokens(getattr(src.model.config, f"{name}_token_id"))
                  for name in ("bos", "eos") if getattr(src.model.config, f"{name}_token_id") is not None}
    tgt = train_target_tokenizer(src_tok, iter(SWAHILI), vocab_size=500, kind=src.kind)
    model, tok, res, info = initialise_target(src, tgt, "random")
    assert info["tied_output"] == tied_before and info["target_vocab"] == len(tok) == 500
    # every added / control / chat-template token is copied from its source row, input and head alike
    markers = [str(a) for a in src_tok.added_tokens_decoder.values()]
    assert markers
    for m in markers:
        t_id, s_id = tok.convert_tokens_to_ids(m), src_tok.convert_tokens_to_ids(m)
        assert np.array_equal(model.get_input_embeddings().weight[t_id].detach().numpy(), E[s_id])
        assert np.array_equal(model.get_output_embeddings().weight[t_id].detach().numpy(), H[s_id])
    out = tmp_path / "out"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    back = AutoModelForCausalLM.from_pretrained(out)
    back_tok = AutoTokenizer.from_pretrained(out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["vocab_size"] == len(back_tok) == back.get_input_embeddings().weight.shape[0]
    assert bool(cfg.get("tie_word_embeddings")) == tied_before
    same = back.get_output_embeddings().weight.data_ptr() == back.get_input_embeddings().weight.data_ptr()
    assert same == tied_before
    if not tied_before:  # an untied head stays untied and keeps its own (transferred) rows
        assert not torch.equal(back.get_output_embeddings().weight, back.get_input_embeddings().weight)
    # special ids follow their tokens
    assert cfg_tokens["eos"] == src_tok.eos_token
    for name, token in cfg_tokens.items():
        assert getattr(back.config, f"{name}_token_id") == back_tok.convert_tokens_to_ids(token)
        assert getattr(back.generation_config, f"{name}_token_id") == back_tok.convert_tokens_to_ids(token)
    assert back_tok.eos_token_id == tok.eos_token_id == back.config.eos_token_id
    assert back_tok.chat_template == src_tok.chat_template
    chat = back_tok.apply_chat_template([{"role": "user", "content": "Habari"}], tokenize=True,
                                        add_generation_prompt=True, return_dict=True)["input_ids"]
    template_ids = {back_tok.convert_tokens_to_ids(m) for m in markers}
    assert template_ids & set(chat)
    assert back_tok.decode(back_tok(UNSEEN, add_special_tokens=False)["input_ids"]) == UNSEEN
    with torch.no_grad():
        ids = back_tok(["Habari za"], return_tensors="pt")
        gen = back.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=back.config.eos_token_id)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 4 and int(gen.max()) < len(back_tok)


@pytest.mark.parametrize("family", ["llama2", "qwen2"])
def test_extend_keeps_every_source_id_and_row(decoders, tmp_path, family):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = decoders[(family, False)] if family == "qwen2" else decoders[(family, None)]
    src = load_source_model(folder)
    src_tok = src.tokenizer
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    H = src.model.get_output_embeddings().weight.detach().numpy().copy()
    tgt = train_target_tokenizer(src_tok, iter(SWAHILI), vocab_size=500, kind=src.kind)
    model, tok, res, info = initialise_target(src, tgt, "random", vocabulary="extend")
    sv, ev = src_tok.get_vocab(), tok.get_vocab()
    assert all(ev[t] == i for t, i in sv.items())
    new = sorted(i for t, i in ev.items() if t not in sv)
    assert new and new[0] == len(src_tok) and new == list(range(len(src_tok), len(tok)))
    assert info["new_tokens"] == len(new) and info["source_rows_kept"] == len(E)
    # source rows untouched, in the input embeddings and the untied head
    assert np.array_equal(model.get_input_embeddings().weight[:len(E)].detach().numpy(), E)
    assert np.array_equal(model.get_output_embeddings().weight[:len(E)].detach().numpy(), H)
    # English still decodes exactly (a target merge may join two source tokens); Swahili takes fewer tokens
    for line in english_lines(20):
        assert tok.decode(tok(line, add_special_tokens=False)["input_ids"]) == line
    assert len(tok(SWAHILI[1])["input_ids"]) < len(src_tok(SWAHILI[1])["input_ids"])
    assert tok.decode(tok(UNSEEN, add_special_tokens=False)["input_ids"]) == UNSEEN
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    back_tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert back_tok.get_vocab() == ev
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m").config.vocab_size == len(tok)


def test_extend_refuses_a_tokenizer_that_would_reuse_a_source_id(decoders, tmp_path):
    from tinymodels import tiny_model

    src = load_source_model(tiny_model("xlmr", tmp_path / "xlmr"))
    tgt = train_target_tokenizer(src.tokenizer, iter(SWAHILI), vocab_size=300)
    assert len(extend_tokenizer(src.tokenizer, tgt)) > len(src.tokenizer)
    # an added token past the Unigram pieces takes the id the first appended piece would get
    src.tokenizer.add_tokens(["<extra_marker>"])
    with pytest.raises(InputError, match="would reuse a source id"):
        extend_tokenizer(src.tokenizer, tgt, where="tasks/transfer/xx.yaml")
    with pytest.raises(InputError, match="of the source's kind"):
        extend_tokenizer(src.tokenizer, load_source_model(decoders[("qwen2", None)]).tokenizer)


def test_unknown_tokenizer_kind_and_missing_embeddings_are_refused(decoders, tmp_path, monkeypatch):
    import shutil

    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    import pipeline.transfer.model as model_mod

    folder = decoders[("qwen2", None)]
    wordlevel = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, "<unk>")),
                                        unk_token="<unk>")
    monkeypatch.setattr(model_mod, "load_source_tokenizer", lambda path: wordlevel)
    with pytest.raises(InputError, match=r"qwen2.*a tokenizer of a known kind .*a WordLevel tokenizer"):
        load_source_model(folder)
    monkeypatch.undo()
    with pytest.raises(InputError, match=r"a tokenizer of a known kind .*a WordLevel tokenizer"):
        train_target_tokenizer(wordlevel, iter(SWAHILI), 100, kind="qwen2")
    # a config whose vocabulary is smaller than the tokenizer: no embedding row for some tokens
    small = tmp_path / "small"
    shutil.copytree(decoders[("llama2", None)], small)
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(small)
    m.resize_token_embeddings(100)
    m.save_pretrained(small)
    with pytest.raises(InputError, match=r"small.*a row for each of the tokenizer's 600 tokens.*100 rows"):
        load_source_model(small)


def test_pretraining_a_decoder_resumes_to_the_same_losses(decoders, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks

    folder = decoders[("qwen2", None)]
    tok = AutoTokenizer.from_pretrained(folder)
    blocks = token_blocks(tok, SWAHILI, 32, "clm")

    class Crash(Exception):
        pass

    def crash_after_3(step, loss):
        if step == 3:
            raise Crash

    def run(work, on_step=None):
        model = AutoModelForCausalLM.from_pretrained(folder)
        p = PretrainSettings(steps=4, batch_size=4, seq_len=32, lr=1e-3, checkpoint_every=2, seed=1,
                             device="cpu", log_every=0)
        return continued_pretraining(model, tok, blocks, p, work, "clm", on_step=on_step)

    whole = run(tmp_path / "a")["losses"]
    assert len(whole) == 4 and whole[-1] < whole[0]
    with pytest.raises(Crash):
        run(tmp_path / "b", crash_after_3)  # dies after step 3: the checkpoint of step 2 survives
    resumed = run(tmp_path / "b")
    assert resumed["resumed_from_step"] == 2
    assert resumed["losses"] == pytest.approx(whole, abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(package_file("llama_models", "llama3/tokenizer.model") is None,
                    reason="llama-models (the real Llama 3 tokenizer) is not installed")
def test_real_llama3_tokenizer_transfers(tmp_path):
    from transformers import AutoTokenizer

    src = load_source_model(tiny_decoder("llama3", tmp_path / "llama3", real=True))
    assert len(src.tokenizer) == 128011 and src.tokenizer.bos_token_id == 128000
    tgt = train_target_tokenizer(src.tokenizer, iter(SWAHILI), vocab_size=1000, kind=src.kind)
    assert _backend(tgt)["pre_tokenizer"] == _backend(src.tokenizer)["pre_tokenizer"]
    model, tok, res, info = initialise_target(src, tgt, "random")
    assert model.config.bos_token_id == tok.convert_tokens_to_ids("<|begin_of_text|>") == tok.bos_token_id
    assert tok(UNSEEN, add_special_tokens=False)["input_ids"] and tok.decode(tok(UNSEEN)["input_ids"][1:]) == UNSEEN
    model.save_pretrained(tmp_path / "out")
    tok.save_pretrained(tmp_path / "out")
    assert len(AutoTokenizer.from_pretrained(tmp_path / "out")) == model.config.vocab_size == len(tok)


# the real tokenizers that scripts/install.sh fetches into .tinymodels/ (tests/tinymodels.py): their length and
# ids every real one of the family has (Llama-2: specials, then the 256 bytes; Qwen2.5: 151,643 byte-level
# tokens, then <|endoftext|> and its other added tokens; Gemma: 256,000 pieces, bytes from 217, chat markers inside)
REAL_TOKENIZERS = {
    "llama2": (32000, {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3, "<0xFF>": 258, "▁the": 278}),
    "qwen2": (151665, {"!": 0, "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                       "<|file_sep|>": 151664}),
    "gemma": (256000, {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4, "<start_of_turn>": 106,
                       "<end_of_turn>": 107, "<0x00>": 217, "<0xFF>": 472}),
}


@pytest.mark.slow
@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.skipif(real_tokenizer_file(f) is None,
                                             reason=f"the real {f} tokenizer is not fetched (scripts/install.sh)"))
    for f in REAL_TOKENIZERS])
def test_real_tokenizer_transfers(tmp_path, family):
    from transformers import AutoTokenizer

    size, known = REAL_TOKENIZERS[family]
    src = load_source_model(tiny_decoder(family, tmp_path / family, real=True))
    stok = src.tokenizer
    assert len(stok) == size == src.model.config.vocab_size == src.model.get_input_embeddings().weight.shape[0]
    assert {t: stok.convert_tokens_to_ids(t) for t in known} == known
    cfg_tokens = {n: stok.convert_ids_to_tokens(getattr(src.model.config, f"{n}_token_id")) for n in ("bos", "eos")
                  if getattr(src.model.config, f"{n}_token_id") is not None}
    assert cfg_tokens["eos"] == {"llama2": "</s>", "qwen2": "<|im_end|>", "gemma": "<eos>"}[family]
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    tgt = train_target_tokenizer(stok, iter(SWAHILI), vocab_size=1000, kind=src.kind)
    s, t = _backend(stok), _backend(tgt)
    assert (t["normalizer"], t["pre_tokenizer"], t["decoder"]) == (s["normalizer"], s["pre_tokenizer"], s["decoder"])
    model, tok, res, info = initialise_target(src, tgt, "random")
    assert info["target_vocab"] == len(tok) == model.config.vocab_size
    # special ids follow their tokens; every added / chat marker keeps its source row
    for name, token in cfg_tokens.items():
        assert getattr(model.config, f"{name}_token_id") == tok.convert_tokens_to_ids(token)
    W = model.get_input_embeddings().weight.detach().numpy()
    markers = [str(a) for a in stok.added_tokens_decoder.values()]
    assert len(markers) >= 3
    for m in markers:
        assert np.array_equal(W[tok.convert_tokens_to_ids(m)], E[stok.convert_tokens_to_ids(m)])
    ids = tok(UNSEEN, add_special_tokens=False)["input_ids"]
    assert ids and (tok.unk_token_id is None or tok.unk_token_id not in ids) and tok.decode(ids) == UNSEEN
    assert len(tok(SWAHILI[0])["input_ids"]) < len(stok(SWAHILI[0])["input_ids"])
    model.save_pretrained(tmp_path / "out")
    tok.save_pretrained(tmp_path / "out")
    back = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert len(back) == model.config.vocab_size == len(tok)
    assert back.decode(back(UNSEEN, add_special_tokens=False)["input_ids"]) == UNSEEN


@pytest.mark.parametrize("vocabulary", ["replace", "extend"])
def test_focus_copies_shared_rows_of_an_untied_head(decoders, tmp_path, vocabulary):
    from pipeline.transfer.focus import shared_token_pairs
    from pipeline.transfer.spec import FocusSpec

    src = load_source_model(decoders[("llama2", None)])
    assert not src.model.config.tie_word_embeddings
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    H = src.model.get_output_embeddings().weight.detach().numpy().copy()
    tgt = train_target_tokenizer(src.tokenizer, iter(SWAHILI), vocab_size=500, kind=src.kind)
    shared = shared_token_pairs(src.tokenizer, tgt)
    model, tok, res, info = initialise_target(src, tgt, "focus", vocabulary=vocabulary, texts=SWAHILI,
                                              work_dir=tmp_path / "aux", threads=1,
                                              focus=FocusSpec(dim=16, epochs=2, min_count=1))
    W = model.get_input_embeddings().weight.detach().numpy()
    Wh = model.get_output_embeddings().weight.detach().numpy()
    if vocabulary == "extend":
        shared = [(i, i) for i in range(len(E))]
    # beyond the 3 specials and 256 bytes, learnt tokens are shared too
    learnt = [(t, s) for t, s in shared if s >= 259]
    assert learnt and info["focus_combined"] > 20
    for t, s in shared:  # a shared token's head row is the source's own, exactly
        assert np.array_equal(Wh[t], H[s]) and np.array_equal(W[t], E[s])
    # a new token: one sparsemax combination of shared tokens, the same weights in the input and the head
    new = np.flatnonzero(~res.copied & ~res.fallback)
    t = int(new[0])
    ids, w = res.neighbours[t], res.weights[t]
    ids, w = ids[w > 0], w[w > 0]
    assert abs(w.sum() - 1) < 1e-5 and set(ids.tolist()) <= {s for _, s in shared}
    assert np.allclose(W[t], w @ E[ids], atol=1e-5) and np.allclose(Wh[t], w @ H[ids], atol=1e-5)


def test_init_and_vocabulary_enter_the_stage_identity_only_when_set(tmp_path):
    from pipeline.identity import stage_hash
    from pipeline.transfer.spec import load_transfer_spec

    base = ("source_model: {model: org/dec}\ntarget: {lang: sw, url: https://example.org/sw.txt.xz}\n"
            "needs_network: true\n")
    specs = {}
    for name, extra in (("plain", "static_vectors: sw\n"), ("explicit", "static_vectors: sw\ninit: wechsel\n"
                                                                       "vocabulary: replace\n"),
                        ("extend", "static_vectors: sw\nvocabulary: extend\n"), ("focus", "init: focus\n"),
                        ("focus50", "init: focus\nfocus: {dim: 50}\n"), ("random", "init: random\n")):
        (tmp_path / f"{name}.yaml").write_text(base + extra)
        specs[name] = load_transfer_spec(tmp_path / f"{name}.yaml").identity_settings(1)
    # a spec written before the keys existed and one that spells out the old meaning hash alike
    assert sorted(specs["plain"]) == ["evaluation", "source_model", "target", "tokenizer", "wechsel"]
    assert specs["explicit"] == specs["plain"]
    ids = {n: stage_hash("transfer", 1, v, {}) for n, v in specs.items()}
    assert len({ids[n] for n in ("plain", "extend", "focus", "focus50", "random")}) == 5
    assert specs["focus50"]["focus"]["dim"] == 50 and "device" not in specs["focus"]["focus"]
    from pipeline.errors import SpecError

    (tmp_path / "bad.yaml").write_text(base)
    with pytest.raises(SpecError, match=r"bad.yaml: expected static_vectors .* is required with init: wechsel"):
        load_transfer_spec(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text(base + "init: focus\nvocabulary: append\n")
    with pytest.raises(SpecError, match="bad2.yaml.*vocabulary replace, extend, not 'append'"):
        load_transfer_spec(tmp_path / "bad2.yaml")
