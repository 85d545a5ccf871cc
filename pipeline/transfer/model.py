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
=========  =====================================  ================  ==========

The target tokenizer is the source's own fast tokenizer retrained on target
text (``train_new_from_iterator``): same normaliser, pre-tokeniser, special
tokens and post-processor, new vocabulary (size = the source's by default).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["KINDS", "SourceModel", "detect_kind", "load_source_model", "load_source_tokenizer",
           "tokenizer_model_type", "train_target_tokenizer", "token_surfaces", "special_token_pairs",
           "transfer_model"]

# kind -> (model types, tokenizer model type, objective)
KINDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "roberta": (("roberta", "camembert"), "BPE", "mlm"),
    "gpt2": (("gpt2",), "BPE", "clm"),
    "bert": (("bert", "distilbert", "electra"), "WordPiece", "mlm"),
    "xlmr": (("xlm-roberta",), "Unigram", "mlm"),
}


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
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, "a Hugging Face tokenizer (tokenizer.json, or vocab/merges files)",
                         str(exc).splitlines()[0]) from None


@dataclass
class SourceModel:
    model: object
    tokenizer: object
    kind: str
    objective: str          # mlm | clm | none
    newly_initialised: tuple[str, ...]   # head weights the checkpoint did not have


def load_source_model(path: str | Path, kind: str = "auto", objective: str = "auto") -> SourceModel:
    """Load a source model with its language-modelling head (``objective`` mlm / clm / none)."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    path = Path(path)
    cfg_path = path / "config.json"
    try:
        model_type = json.loads(cfg_path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(cfg_path, "a Hugging Face model config (JSON with model_type)", str(exc)) from None
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
    try:
        model, info = cls.from_pretrained(str(path), output_loading_info=True)
    except Exception as exc:  # transformers raises many types for unreadable configs and weights
        raise InputError(path, f"weights for a {kind} model ({cls.__name__})",
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    try:
        emb = model.get_input_embeddings()
    except NotImplementedError:  # transformers' base class raises it for models without input embeddings
        emb = None
    if emb is None or getattr(emb, "weight", None) is None or emb.weight.ndim != 2:
        raise InputError(path, "a model with an input embedding matrix", f"{type(model).__name__} has none")
    return SourceModel(model, tokenizer, kind, objective, tuple(sorted(info.get("missing_keys", ()))))


def train_target_tokenizer(source_tokenizer, texts: Iterable[str], vocab_size: int | None = None,
                           min_frequency: int = 2, length: int | None = None):
    """Retrain the source's fast tokenizer on target text (same kind and special tokens, new vocabulary)."""
    kind = tokenizer_model_type(source_tokenizer)
    size = vocab_size or len(source_tokenizer)
    kwargs = {} if kind == "Unigram" else {"min_frequency": min_frequency}
    seen = 0

    def counted() -> Iterator[str]:
        nonlocal seen
        for text in texts:
            if text and text.strip():
                seen += 1
                yield text

    tok = source_tokenizer.train_new_from_iterator(counted(), vocab_size=size, length=length, **kwargs)
    if seen == 0:
        raise InputError(None, "a target corpus with text to train the tokenizer on", "no non-empty documents")
    return tok


def token_surfaces(tokenizer) -> list[str]:
    """Each token's text as a word-piece to look up in static vectors ('' when it has none).

    WordPiece continuation marks (``##``) and SentencePiece word marks (``▁``)
    are dropped, byte-level BPE tokens are decoded (``Ġthe`` -> ``the``), and
    bytes that do not decode alone (``\\ufffd``) are removed.
    """
    kind = tokenizer_model_type(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
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
    """(target id, source id) of every source special token that the target vocabulary has."""
    s_vocab, t_vocab = source_tokenizer.get_vocab(), target_tokenizer.get_vocab()
    pairs = []
    for tok in source_tokenizer.all_special_tokens:
        if tok in s_vocab and tok in t_vocab:
            pairs.append((t_vocab[tok], s_vocab[tok]))
    return sorted(set(pairs))


def transfer_model(model, target_tokenizer, result) -> dict:
    """Give ``model`` the target vocabulary: input embeddings from ``result`` (a
    :class:`~.embeddings.TargetEmbeddings`), untied output embeddings and
    vocabulary-sized output biases through the same neighbours and weights,
    and a config whose vocabulary size and special token ids match the
    target tokenizer. Returns what was transferred.
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
    ids = {}
    for name in ("pad", "bos", "eos", "sep", "cls", "unk", "mask"):
        tid = getattr(target_tokenizer, f"{name}_token_id", None)
        if hasattr(cfg, f"{name}_token_id") or (tid is not None and name in ("pad", "bos", "eos")):
            setattr(cfg, f"{name}_token_id", tid)
            ids[f"{name}_token_id"] = tid
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        for name in ("pad", "bos", "eos"):
            if hasattr(gen, f"{name}_token_id"):
                setattr(gen, f"{name}_token_id", getattr(target_tokenizer, f"{name}_token_id", None))
    return {"source_vocab": n_source, "target_vocab": n_target, "tied_output": tied,
            "output_embeddings_transferred": out_w is not None, "output_bias_transferred": bias_np is not None,
            **ids}
