"""Source models and tokenizers for WECHSEL: what kind they are, the target tokenizer, and model surgery.

Kinds (``kind`` in a transfer spec; ``auto`` reads the model's config):

=========  =====================================  ================  ==========
kind       model types                            tokenizer model   objective
=========  =====================================  ================  ==========
roberta    roberta, camembert                     byte-level BPE    masked LM
gpt2       gpt2                                   byte-level BPE    causal LM
bert       bert, distilbert, electra              WordPiece         masked LM
xlmr       xlm-roberta                            SentencePiece     masked LM
                                                  (Unigram)
llama      llama (Llama-2, Llama-3)               BPE: byte         causal LM
                                                  fallback or
                                                  byte-level
mistral    mistral                                BPE, byte         causal LM
                                                  fallback
qwen2      qwen2 (Qwen2, Qwen2.5)                 byte-level BPE    causal LM
gemma      gemma                                  BPE, byte         causal LM
                                                  fallback
=========  =====================================  ================  ==========

The target tokenizer is the source's own fast tokenizer retrained on target
text (``train_new_from_iterator``): same normaliser, pre-tokeniser, special
tokens and post-processor, new vocabulary (size = the source's by default).
WordPiece is retrained by :func:`pipeline.transfer.determinism.retrain_wordpiece`
and a Unigram made canonical, so that the same text gives the same tokenizer
on every run (``tokenizers`` orders both by a per-process hash seed).
For the decoder kinds (llama, mistral, qwen2, gemma) the BPE is retrained
here instead (:func:`retrain_bpe`), because ``train_new_from_iterator``
drops the ``<0x00>``..``<0xFF>`` tokens a byte-fallback model needs and the
added tokens that are not special (chat-template markers); the source's
normaliser, pre-tokeniser (Llama-3's and Qwen2's regex), decoder, every
added token and the chat template are kept. :func:`extend_tokenizer` keeps
the source vocabulary and ids and appends the target tokens it lacks.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from ..errors import InputError
from ..models import check_weights

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["KINDS", "DECODER_KINDS", "SourceModel", "retrain_bpe", "extend_tokenizer", "check_target_tokenizer",
           "kind_of_tokenizer", "detect_kind", "load_source_model", "load_source_tokenizer",
           "tokenizer_model_type", "train_target_tokenizer", "token_surfaces", "special_token_pairs",
           "transfer_model"]

# kind -> (model types, tokenizer model type, objective)
KINDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "roberta": (("roberta", "camembert"), "BPE", "mlm"),
    "gpt2": (("gpt2",), "BPE", "clm"),
    "bert": (("bert", "distilbert", "electra"), "WordPiece", "mlm"),
    "xlmr": (("xlm-roberta",), "Unigram", "mlm"),
    "llama": (("llama",), "BPE", "clm"),
    "mistral": (("mistral",), "BPE", "clm"),
    "qwen2": (("qwen2",), "BPE", "clm"),
    "gemma": (("gemma",), "BPE", "clm"),
}

#: the kinds whose target tokenizer is retrained by :func:`retrain_bpe` (byte fallback, added tokens, chat template)
DECODER_KINDS = ("llama", "mistral", "qwen2", "gemma")


def detect_kind(model_type: str, where: str | Path | None = None) -> str:
    for kind, (types, _, _) in KINDS.items():
        if model_type in types:
            return kind
    known = ", ".join(t for types, _, _ in KINDS.values() for t in types)
    raise InputError(where, f"a source model of a supported type ({known})", f"model_type '{model_type}'")


def tokenizer_model_type(tokenizer, where: str | Path | None = None) -> str:
    """``BPE``, ``WordPiece`` or ``Unigram``: the model inside a fast tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise InputError(where, "a fast (Rust) tokenizer with a tokenizer.json or convertible files",
                         f"{type(tokenizer).__name__} has no backend tokenizer")
    kind = json.loads(backend.to_str())["model"]["type"]
    if kind not in ("BPE", "WordPiece", "Unigram"):
        raise InputError(where, "a tokenizer of a known kind (byte-level BPE, WordPiece, SentencePiece Unigram)",
                         f"a {kind} tokenizer")
    return kind


def load_source_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, "a Hugging Face tokenizer (tokenizer.json, or vocab/merges files)",
                         str(exc).splitlines()[0]) from None
    # without its vocabulary files transformers builds a BERT-style tokenizer of the special tokens alone
    special = set(tok.all_special_tokens) | {str(t) for t in tok.added_tokens_decoder.values()}
    if all(t in special for t in tok.get_vocab()):
        folder = Path(path)
        files = sorted(f.name for f in folder.iterdir()) if folder.is_dir() else []
        raise InputError(path, "a Hugging Face tokenizer (tokenizer.json, or vocab/merges files)",
                         f"a tokenizer of {len(tok)} special tokens only; the folder holds "
                         f"{', '.join(files) or 'no files'}")
    return tok


@dataclass
class SourceModel:
    model: object
    tokenizer: object
    kind: str
    objective: str          # mlm | clm | none
    newly_initialised: tuple[str, ...]   # head weights the checkpoint did not have


def load_source_model(path: str | Path, kind: str = "auto", objective: str = "auto", seed: int = 0) -> SourceModel:
    """Load a source model with its language-modelling head (``objective`` mlm / clm / none).

    Weights the folder lacks (MiniLM ships no MLM head) are initialised from ``seed``, on a forked torch
    RNG: the same folder gives the same model on every run, and the caller's RNG is left as it was.
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    path = Path(path)
    cfg_path = path / "config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(cfg_path, "a Hugging Face model config (JSON with model_type)", str(exc)) from None
    if not isinstance(config, dict):
        raise InputError(cfg_path, "a Hugging Face model config (a JSON object with model_type)",
                         f"a JSON {type(config).__name__}")
    model_type = config.get("model_type")
    detected = detect_kind(str(model_type), cfg_path)
    if kind == "auto":
        kind = detected
    elif kind not in KINDS:
        raise InputError(path, f"a kind among {', '.join(KINDS)}", f"'{kind}'")
    if objective == "auto":
        objective = KINDS[kind][2]
    tokenizer = load_source_tokenizer(path)
    found = tokenizer_model_type(tokenizer, path)
    if found != KINDS[kind][1]:
        raise InputError(path, f"a {KINDS[kind][1]} tokenizer for a {kind} model", f"a {found} tokenizer")
    cls = {"mlm": AutoModelForMaskedLM, "clm": AutoModelForCausalLM, "none": AutoModel}.get(objective)
    if cls is None:
        raise InputError(path, "objective mlm, clm or none", f"'{objective}'")
    check_weights(path)  # a truncated safetensors file is named as such, not as the folder's weights
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, info = cls.from_pretrained(str(path), output_loading_info=True)
    except Exception as exc:  # transformers raises many types for unreadable configs and weights
        from ..torchutil import refusal

        raise InputError(path, f"weights for a {kind} model ({cls.__name__})", refusal(exc)) from None
    try:
        emb = model.get_input_embeddings()
    except NotImplementedError:  # transformers' base class raises it for models without input embeddings
        emb = None
    if emb is None or getattr(emb, "weight", None) is None or emb.weight.ndim != 2:
        raise InputError(path, "a model with an input embedding matrix", f"{type(model).__name__} has none")
    if emb.weight.shape[0] < len(tokenizer):
        raise InputError(path, f"an input embedding matrix with a row for each of the tokenizer's {len(tokenizer)} "
                         "tokens", f"{emb.weight.shape[0]} rows")
    return SourceModel(model, tokenizer, kind, objective, tuple(sorted(info.get("missing_keys", ()))))


def kind_of_tokenizer(tokenizer) -> str:
    """``byte-fallback`` (SentencePiece-style BPE), ``byte-level`` (GPT-2 style), ``wordpiece`` or ``unigram``."""
    t = json.loads(tokenizer.backend_tokenizer.to_str())
    model = t["model"]
    if model["type"] == "WordPiece":
        return "wordpiece"
    if model["type"] == "Unigram":
        return "byte-fallback" if model.get("byte_fallback") else "unigram"
    if model.get("byte_fallback"):
        return "byte-fallback"
    return "byte-level" if "ByteLevel" in json.dumps([t.get("pre_tokenizer"), t.get("decoder")]) else "bpe"


def train_target_tokenizer(source_tokenizer, texts: Iterable[str], vocab_size: int | None = None,
                           min_frequency: int = 2, length: int | None = None, kind: str | None = None):
    """Retrain the source's fast tokenizer on target text (same kind and special tokens, new vocabulary).

    ``kind`` (the source model's, :data:`KINDS`): a decoder kind retrains with :func:`retrain_bpe`.
    """
    model_type = tokenizer_model_type(source_tokenizer)
    size = vocab_size or len(source_tokenizer)
    kwargs = {} if model_type == "Unigram" else {"min_frequency": min_frequency}
    seen = 0

    def counted() -> Iterator[str]:
        nonlocal seen
        for text in texts:
            if text and text.strip():
                seen += 1
                yield text

    if kind in DECODER_KINDS:
        if model_type != "BPE":
            raise InputError(None, f"a BPE tokenizer for a {kind} model", f"a {model_type} tokenizer")
        tok = retrain_bpe(source_tokenizer, counted(), size, min_frequency, length)
    elif model_type == "WordPiece":
        from .determinism import retrain_wordpiece

        tok = retrain_wordpiece(source_tokenizer, counted(), size, min_frequency, length)
    else:
        tok = source_tokenizer.train_new_from_iterator(counted(), vocab_size=size, length=length, **kwargs)
        if model_type == "Unigram":
            from .determinism import canonical_unigram

            tok = canonical_unigram(tok)
    if seen == 0:
        raise InputError(None, "a target corpus with text to train the tokenizer on (target.corpora, less "
                         "target.holdout)", "no non-empty documents")
    return tok


#: the share of the requested vocabulary size below which the target text counts as too small for it
MIN_VOCABULARY_SHARE = 0.1


def learnt_tokens(tokenizer) -> int:
    """How many tokens training learnt beyond single characters: BPE merges, WordPiece / Unigram pieces of more
    than one character (special and added tokens left out)."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model["type"] == "BPE":
        return len(model.get("merges") or [])
    special = set(tokenizer.all_special_tokens) | {str(t) for t in tokenizer.added_tokens_decoder.values()}
    if model["type"] == "WordPiece":
        prefix = model.get("continuing_subword_prefix") or "##"
        pieces = [t[len(prefix):] if t.startswith(prefix) else t for t in model["vocab"] if t not in special]
    else:
        pieces = [p.replace("\u2581", "") for p, _ in model["vocab"] if p not in special]
    return sum(len(p) > 1 and not (p.startswith("<0x") and p.endswith(">") and len(p) == 6) for p in pieces)


def check_vocabulary_size(tokenizer, requested: int, where: str | Path | None = None) -> None:
    """Refuse a target tokenizer trained on text too small for ``requested`` tokens: one that learnt nothing
    beyond single characters, or reached less than :data:`MIN_VOCABULARY_SHARE` of the size."""
    learnt = learnt_tokens(tokenizer)
    if learnt == 0 or len(tokenizer) < MIN_VOCABULARY_SHARE * requested:
        raise InputError(where, f"target text enough for a tokenizer of {requested} tokens (tokenizer.vocab_size; "
                         f"absent: the source's size): at least {MIN_VOCABULARY_SHARE:.0%} of them, some beyond "
                         f"single characters", f"the text gave {len(tokenizer)} tokens, {learnt} learnt beyond "
                         "single characters; add target text or lower tokenizer.vocab_size")


def _byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


def _remap_post_processor(node, token_id):
    """The post-processor with the ids of its special tokens looked up again by content (any nesting)."""
    if isinstance(node, list):
        return [_remap_post_processor(x, token_id) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "special_tokens" and isinstance(value, dict):
            out[key] = {name: {**spec, "ids": [token_id(t) for t in spec["tokens"]]} for name, spec in value.items()}
        elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            out[key] = [value[0], token_id(value[0])]
        else:
            out[key] = _remap_post_processor(value, token_id)
    return out


def _wrap_like(source_tokenizer, backend_json: dict):
    """A transformers tokenizer of the source's class around a new backend (as ``train_new_from_iterator`` makes
    one), with the source's special-token roles and chat template."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(json.dumps(backend_json))
    kwargs = dict(source_tokenizer.init_kwargs)
    for attr in ("vocab", "merges", "vocab_file", "merges_file", "tokenizer_file", "added_tokens_decoder",
                 "name_or_path"):
        kwargs.pop(attr, None)
    for name in source_tokenizer.SPECIAL_TOKENS_ATTRIBUTES:
        value = getattr(source_tokenizer, name, None)
        if value is not None:
            kwargs[name] = str(value)
    extra = getattr(source_tokenizer, "extra_special_tokens", None)
    if extra:
        kwargs["extra_special_tokens"] = [str(x) for x in extra]
    kwargs["tokenizer_object"] = backend
    try:
        tok = type(source_tokenizer)(**kwargs)
    except TypeError as exc:  # a class that builds its own backend: give it ours afterwards
        if "tokenizer_object" not in str(exc):
            raise
        kwargs.pop("tokenizer_object")
        tok = type(source_tokenizer)(**kwargs)
        tok._tokenizer = backend
    template = getattr(source_tokenizer, "chat_template", None)
    if template:
        tok.chat_template = template
    return tok


def retrain_bpe(source_tokenizer, texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                length: int | None = None):
    """The source's BPE trained again on ``texts``, keeping everything around the vocabulary.

    The normaliser, pre-tokeniser, decoder and BPE flags are the source's. The
    tokens at the head of the source's model vocabulary that are not learnt
    (Llama-2's ``<unk> <s> </s>``, Gemma's ``<pad> <eos> <bos> ...``) and, with
    byte fallback, all 256 ``<0xNN>`` tokens come first, so no target text ever
    maps to ``<unk>``; a byte-level BPE starts from the 256 byte symbols. Every
    added token of the source (special or not) is added again, inside the new
    vocabulary where it is one of its tokens, after it otherwise; ``vocab_size``
    counts them. The post-processor's ids and the chat template follow.
    """
    from tokenizers import Tokenizer, pre_tokenizers, trainers

    tj = json.loads(source_tokenizer.backend_tokenizer.to_str())
    added = sorted(tj.pop("added_tokens") or [], key=lambda a: a["id"])
    post = tj.pop("post_processor", None)
    model = tj["model"]
    if model["type"] != "BPE":
        raise InputError(None, "a BPE source tokenizer", f"a {model['type']} tokenizer")
    old_vocab = model["vocab"]
    byte_fallback = bool(model.get("byte_fallback"))
    byte_tokens = {_byte_token(b) for b in range(256)} if byte_fallback else set()
    added_contents = {a["content"] for a in added}
    head = [t for t, i in sorted(old_vocab.items(), key=lambda kv: kv[1])
            if t in byte_tokens or (t in added_contents and old_vocab.get(t) is not None)]
    head += sorted(byte_tokens - set(head))
    outside = [a for a in added if a["content"] not in old_vocab]
    model["vocab"], model["merges"] = {}, []
    bare = Tokenizer.from_str(json.dumps({**tj, "added_tokens": [], "post_processor": None}))
    kwargs = {}
    for opt in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(opt):
            kwargs[opt] = model[opt]
    if "ByteLevel" in json.dumps([tj.get("pre_tokenizer"), tj.get("decoder")]):
        kwargs["initial_alphabet"] = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=max(len(head) + 1, vocab_size - len(outside)),
                                  min_frequency=min_frequency, special_tokens=head, show_progress=False, **kwargs)
    bare.train_from_iterator(texts, trainer=trainer, length=length)
    trained = json.loads(bare.to_str())
    vocab = trained["model"]["vocab"]
    next_id = len(vocab)
    new_added = []
    for a in added:
        if a["content"] in vocab:
            tid = vocab[a["content"]]
        else:
            tid, next_id = next_id, next_id + 1
        new_added.append({**a, "id": tid})
    # the trainer registered the head as special added tokens; only the source's own added tokens stay added
    trained["added_tokens"] = sorted(new_added, key=lambda a: a["id"])
    ids = {a["content"]: a["id"] for a in new_added}

    def token_id(t):
        return ids.get(t, vocab.get(t))

    trained["post_processor"] = _remap_post_processor(post, token_id) if post is not None else None
    return _wrap_like(source_tokenizer, trained)


def extend_tokenizer(source_tokenizer, target_tokenizer, where: str | Path | None = None):
    """The source tokenizer with the target tokens it lacks appended: every source token keeps its id.

    New tokens get ids from ``len(source)`` on, in the target's order (a
    model whose matrix has padding rows past its tokenizer, as Qwen2's, gives
    those rows to new tokens first); BPE merges are the source's followed by
    the target's that it lacks, so source text tokenises as before. The
    source's added tokens that sit past its model vocabulary (Qwen2's
    ``<|im_start|>``) move into it at their own ids, because the tokenizers
    library renumbers added tokens after the model's vocabulary. Raises
    :class:`~pipeline.errors.InputError` when the two are not of one kind, or
    when the result would give a source id to another token.
    """
    s_json = json.loads(source_tokenizer.backend_tokenizer.to_str())
    t_json = json.loads(target_tokenizer.backend_tokenizer.to_str())
    sm, tm = s_json["model"], t_json["model"]
    if sm["type"] != tm["type"]:
        raise InputError(where, f"a target tokenizer of the source's kind ({sm['type']}) to extend it with",
                         f"a {tm['type']} tokenizer")
    start = len(source_tokenizer)
    source_vocab = source_tokenizer.get_vocab()
    if sm["type"] == "Unigram":
        known = {p for p, _ in sm["vocab"]}
        if len(sm["vocab"]) < start:  # Unigram ids are positions: appending would start below the free ids
            raise InputError(where, "a Unigram source tokenizer whose added tokens sit inside its vocabulary "
                             "(extend appends by position)", f"{len(sm['vocab'])} pieces and {start} ids in use, "
                             "so the new pieces would reuse a source id")
        new = [[p, score] for p, score in tm["vocab"] if p not in known and p not in source_vocab]
        sm["vocab"] = sm["vocab"] + new
        new_tokens = [p for p, _ in new]
    else:
        vocab = dict(sm["vocab"])
        for a in s_json.get("added_tokens") or []:
            vocab.setdefault(a["content"], a["id"])
        new_tokens = [t for t, _ in sorted(tm["vocab"].items(), key=lambda kv: kv[1])
                      if t not in vocab and t not in source_vocab]
        for i, t in enumerate(new_tokens):
            vocab[t] = start + i
        sm["vocab"] = vocab
        if sm["type"] == "BPE":
            def pair(m):
                return tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)

            merges = [pair(m) for m in sm["merges"]]
            have = set(merges)
            merges += [p for p in (pair(m) for m in tm["merges"]) if p not in have]
            sm["merges"] = [list(p) for p in merges]
    tok = _wrap_like(source_tokenizer, s_json)
    got = tok.get_vocab()
    moved = [t for t, i in source_vocab.items() if got.get(t) != i]
    if moved:
        raise InputError(where, "an extended tokenizer that keeps every source id",
                         f"{len(moved)} source tokens changed id (e.g. {moved[0]!r})")
    clash = [t for t in new_tokens if got.get(t, start) < start]
    if clash:
        raise InputError(where, f"new tokens with ids from {start} on",
                         f"{clash[0]!r} would reuse source id {got[clash[0]]}")
    return tok


def check_target_tokenizer(tokenizer, texts: Iterable[str], where: str | Path | None = None,
                           max_texts: int = 2000) -> int:
    """Refuse a byte-fallback or byte-level tokenizer that maps any of ``texts`` to ``<unk>``.

    Such a tokenizer exists to cover every string; an ``<unk>`` (or a character
    that no token covers, where the model has no unk token and drops it) means
    its byte tokens are missing. Returns the number of texts checked.
    """
    kind = kind_of_tokenizer(tokenizer)
    if kind not in ("byte-fallback", "byte-level"):
        return 0
    backend = tokenizer.backend_tokenizer
    unk = tokenizer.unk_token_id
    unk_name = tokenizer.unk_token or "<unk>"
    n = 0
    for text in texts:
        if n >= max_texts:
            break
        n += 1
        enc = backend.encode(text, add_special_tokens=False)
        if unk is not None and unk in enc.ids:
            raise InputError(where, f"a {kind} tokenizer that never gives {unk_name}", f"{unk_name} in {text[:60]!r}")
        # a BPE without an unk token silently drops what it cannot cover: the decoded text lacks characters
        norm = backend.normalizer.normalize_str(text) if backend.normalizer is not None else text
        want = "".join(c for c in norm if not c.isspace() and c != "\u2581")
        got = "".join(c for c in backend.decode(enc.ids, skip_special_tokens=False)
                      if not c.isspace() and c != "\u2581")
        if got != want:
            lost = next((a for a, b in zip(want, got + "\0" * len(want)) if a != b), want[-1])
            raise InputError(where, f"a {kind} tokenizer that never gives {unk_name}",
                             f"{unk_name} (a dropped character) for {lost!r} in {text[:60]!r}")
    return n


def vocabulary_rows(tokenizer) -> int:
    """The embedding rows a tokenizer needs: its largest id + 1 (``len`` where its ids have no gaps)."""
    return max(len(tokenizer), max(tokenizer.get_vocab().values(), default=-1) + 1)


def token_surfaces(tokenizer) -> list[str]:
    """Each token's text as a word-piece to look up in static vectors ('' when it has none).

    WordPiece continuation marks (``##``) and SentencePiece word marks (``▁``)
    are dropped, byte-level BPE tokens are decoded (``Ġthe`` -> ``the``), and
    bytes that do not decode alone (``\\ufffd``) are removed.
    """
    kind = tokenizer_model_type(tokenizer)
    # ids may have gaps (an extended tokenizer past a model's padding rows): one surface per id up to the last
    tokens = tokenizer.convert_ids_to_tokens(list(range(vocabulary_rows(tokenizer))))
    out = []
    for i, tok in enumerate(tokens):
        if tok is None:
            out.append("")
            continue
        if kind == "WordPiece":
            s = tok[2:] if tok.startswith("##") and len(tok) > 2 else tok
        elif kind == "Unigram":
            s = tok.replace("\u2581", " ")
        else:
            s = tokenizer.decode([i])
        out.append(s.replace("\ufffd", "").strip())
    return out


def special_token_pairs(source_tokenizer, target_tokenizer) -> list[tuple[int, int]]:
    """(target id, source id) of every source special token that the target vocabulary has.

    Special tokens are the tokenizer's named and extra special tokens and, for
    a BPE tokenizer, every added token (chat-template markers such as Qwen2's
    ``<|im_start|>`` or Llama-3's ``<|eot_id|>``, special or not) and every
    byte-fallback token ``<0xNN>``: each means the same in both vocabularies.
    """
    s_vocab, t_vocab = source_tokenizer.get_vocab(), target_tokenizer.get_vocab()
    names = set(source_tokenizer.all_special_tokens)
    if tokenizer_model_type(source_tokenizer) == "BPE":
        names |= {str(t) for t in source_tokenizer.added_tokens_decoder.values()}
        if json.loads(source_tokenizer.backend_tokenizer.to_str())["model"].get("byte_fallback"):
            names |= {_byte_token(b) for b in range(256)}
    pairs = []
    for tok in names:
        if tok in s_vocab and tok in t_vocab:
            pairs.append((t_vocab[tok], s_vocab[tok]))
    return sorted(set(pairs))


def _remapped_id(value, source_tokenizer, target_tokenizer, own):
    """A source config's token id (or list of ids, as generation configs give several eos) as the target's id
    of the same token; ``own`` (the target tokenizer's id for that role) where the token is gone."""
    if source_tokenizer is None:
        return own
    if isinstance(value, (list, tuple)):
        ids = [_remapped_id(v, source_tokenizer, target_tokenizer, None) for v in value]
        ids = [i for i in ids if i is not None]
        return ids or own
    if value is None:
        return own
    tok = source_tokenizer.convert_ids_to_tokens(int(value))
    tid = target_tokenizer.get_vocab().get(tok) if tok is not None else None
    return tid if tid is not None else own


def transfer_model(model, target_tokenizer, result, source_tokenizer=None) -> dict:
    """Give ``model`` the target vocabulary: input embeddings from ``result`` (a
    :class:`~.embeddings.TargetEmbeddings`), untied output embeddings and
    vocabulary-sized output biases through the same neighbours and weights,
    and a config whose vocabulary size and special token ids match the
    target tokenizer. Returns what was transferred.

    With ``source_tokenizer``, the config's and generation config's token ids
    (bos, eos, pad; Qwen2 has no bos token but a bos id, Llama-3 chat models
    stop on several eos ids) are each mapped to the target id of the same token.
    """
    import numpy as np
    import torch

    inp = model.get_input_embeddings()
    out = model.get_output_embeddings()
    n_source = inp.weight.shape[0]
    tied = out is not None and out.weight.data_ptr() == inp.weight.data_ptr()
    out_w = None if out is None or tied else out.weight.detach().cpu().numpy().copy()
    bias = getattr(out, "bias", None) if out is not None else None
    bias_np = bias.detach().cpu().numpy().copy() if bias is not None and bias.shape[0] == n_source else None
    n_target = len(result.matrix)
    model.resize_token_embeddings(n_target, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(torch.from_numpy(np.ascontiguousarray(result.matrix)))
        new_out = model.get_output_embeddings()
        if out_w is not None:
            new_out.weight.copy_(torch.from_numpy(result.transfer(out_w)))
        if bias_np is not None and getattr(new_out, "bias", None) is not None:
            new_out.bias.copy_(torch.from_numpy(result.transfer(bias_np)))
    if tied:
        model.tie_weights()
    cfg = model.config
    cfg.vocab_size = n_target
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    if text_cfg is not cfg:
        text_cfg.vocab_size = n_target
    ids = {}
    for name in ("pad", "bos", "eos", "sep", "cls", "unk", "mask"):
        tid = getattr(target_tokenizer, f"{name}_token_id", None)
        if hasattr(cfg, f"{name}_token_id") or (tid is not None and name in ("pad", "bos", "eos")):
            tid = _remapped_id(getattr(cfg, f"{name}_token_id", None), source_tokenizer, target_tokenizer, tid)
            setattr(cfg, f"{name}_token_id", tid)
            ids[f"{name}_token_id"] = tid
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        for name in ("pad", "bos", "eos"):
            if hasattr(gen, f"{name}_token_id"):
                own = getattr(target_tokenizer, f"{name}_token_id", None)
                setattr(gen, f"{name}_token_id",
                        _remapped_id(getattr(gen, f"{name}_token_id"), source_tokenizer, target_tokenizer, own))
    return {"source_vocab": n_source, "target_vocab": n_target, "tied_output": tied,
            "output_embeddings_transferred": out_w is not None, "output_bias_transferred": bias_np is not None,
            **ids}
