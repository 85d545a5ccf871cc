"""Tiny source models of every kind WECHSEL handles, built from configs with random weights.

Each has a real tokenizer of its kind trained on a little English text
(gensim's Lee corpus), saved as a Hugging Face folder that ``AutoModel`` /
``AutoTokenizer`` load from the path alone.
"""
from __future__ import annotations

from pathlib import Path

from gensim.test.utils import datapath


def english_lines(n: int | None = None) -> list[str]:
    lines = [ln.strip() for ln in Path(datapath("lee_background.cor")).read_text().splitlines() if ln.strip()]
    return lines[:n] if n else lines


def _bpe_tokenizer(lines, vocab_size, kind):
    from tokenizers import ByteLevelBPETokenizer

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if kind == "roberta" else ["<|endoftext|>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines, vocab_size=vocab_size, min_frequency=2, special_tokens=special,
                            show_progress=False)
    if kind == "roberta":
        from transformers import RobertaTokenizerFast

        return RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                    sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                    mask_token="<mask>")
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>",
                             eos_token="<|endoftext|>", unk_token="<|endoftext|>")


def _wordpiece_tokenizer(lines, vocab_size):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(lines, vocab_size=vocab_size, min_frequency=2, show_progress=False,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return BertTokenizerFast(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]",
                             pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True)


def _unigram_tokenizer(lines, vocab_size):
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaTokenizerFast

    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(lines, vocab_size=vocab_size, show_progress=False, unk_token="<unk>",
                           special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return XLMRobertaTokenizerFast(tokenizer_object=sp._tokenizer, bos_token="<s>", eos_token="</s>",
                                   sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                   mask_token="<mask>")


def tiny_model(kind: str, dest: Path, vocab_size: int = 600, tie: bool = True, seed: int = 0) -> Path:
    """Save a tiny ``kind`` model (roberta, gpt2, bert, xlmr) with its LM head to ``dest``."""
    import torch
    from transformers import (BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, RobertaConfig,
                              RobertaForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM)

    lines = english_lines(200)
    if kind in ("roberta", "gpt2"):
        tok = _bpe_tokenizer(lines, vocab_size, kind)
    elif kind == "bert":
        tok = _wordpiece_tokenizer(lines, vocab_size)
    elif kind == "xlmr":
        tok = _unigram_tokenizer(lines, vocab_size)
    else:
        raise ValueError(kind)
    n = len(tok)
    torch.manual_seed(seed)
    common = dict(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=160, tie_word_embeddings=tie)
    if kind == "gpt2":
        cfg = GPT2Config(vocab_size=n, n_embd=32, n_layer=2, n_head=2, n_positions=160, tie_word_embeddings=tie,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = GPT2LMHeadModel(cfg)
    elif kind == "roberta":
        model = RobertaForMaskedLM(RobertaConfig(**common, pad_token_id=tok.pad_token_id, type_vocab_size=1))
    elif kind == "xlmr":
        model = XLMRobertaForMaskedLM(XLMRobertaConfig(**common, pad_token_id=tok.pad_token_id, type_vocab_size=1))
    else:
        model = BertForMaskedLM(BertConfig(**common, pad_token_id=tok.pad_token_id))
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest
