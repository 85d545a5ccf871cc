"""Words in, vectors out: how an encoder embeds a word type, shared by training and extraction.

A word is encoded *in isolation* ("[CLS] new york [SEP]") and its vector is
the mean of the chosen layer's hidden states over the word's subword tokens
(special tokens and padding excluded). Multiword keys use ``_`` for spaces in
files and are encoded with spaces. Layer ``-1`` is the last layer, ``0`` the
embedding layer (``hidden_states`` indexing).
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["surface", "encode_batch", "layer_name"]


def surface(word: str) -> str:
    """The text an encoder sees for a key.

    >>> surface("new_york")
    'new york'
    """
    return word.replace("_", " ")


def layer_name(layer: int, n_layers: int) -> int:
    """The non-negative hidden-state index of ``layer``.

    >>> layer_name(-1, 6), layer_name(0, 6), layer_name(-7, 6)
    (6, 0, 0)
    """
    index = layer if layer >= 0 else n_layers + 1 + layer
    if not 0 <= index <= n_layers:
        raise ValueError(f"layer {layer} is outside 0..{n_layers} (or -1..-{n_layers + 1})")
    return index


def encode_batch(model, tokenizer, words: Sequence[str], layers: Sequence[int] = (-1,), max_length: int = 16,
                 device: str | None = None):
    """``{layer: (len(words), hidden) tensor}``: each word encoded alone, mean-pooled over its subwords.

    Gradients flow (call under ``torch.no_grad()`` for inference).
    """
    import torch

    enc = tokenizer([surface(w) for w in words], padding=True, truncation=True, max_length=max_length,
                    return_special_tokens_mask=True, return_tensors="pt")
    special = enc.pop("special_tokens_mask").bool()
    enc = {k: v.to(device or model.device) for k, v in enc.items()}
    attention = enc["attention_mask"].bool()
    mask = attention & ~special.to(attention.device)
    # a word the tokenizer turns into no subword at all falls back to its special tokens
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        mask[empty] = attention[empty]
    want_hidden = any(layer != -1 for layer in layers)
    out = model(**enc, output_hidden_states=want_hidden)
    n_layers = model.config.num_hidden_layers
    weights = mask.unsqueeze(-1).to(torch.float32)
    counts = weights.sum(dim=1)
    result = {}
    for layer in layers:
        hidden = out.last_hidden_state if layer == -1 else out.hidden_states[layer_name(layer, n_layers)]
        result[layer] = (hidden.float() * weights).sum(dim=1) / counts
    return result
