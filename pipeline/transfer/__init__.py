"""WECHSEL: transfer an English RoBERTa / GPT-2 / BERT model to a new language.

No luigi here. The steps (Minixhofer et al., NAACL 2022)::

    from pipeline.multilingual import load_aligned_space
    from pipeline.transfer import load_source_model, train_target_tokenizer, initialise_target_model

    src = load_source_model("path/to/roberta-base")                     # model + tokenizer + kind
    tgt_tok = train_target_tokenizer(src.tokenizer, swahili_lines)       # same kind, new vocabulary
    en = load_aligned_space("aligned/en.bin", "aligned/mapping.en-en.npy")
    sw = load_aligned_space("aligned/sw.bin", "aligned/mapping.sw-en.npy")
    model, result, info = initialise_target_model(src, tgt_tok, en, sw)   # k=10, temperature 0.1
    model.save_pretrained("out/model"); tgt_tok.save_pretrained("out/model")

then :func:`~.pretrain.continued_pretraining` on target text. Modules:
:mod:`.embeddings` (the neighbour-weighted initialisation), :mod:`.subwords`
(subword vectors in the aligned space), :mod:`.model` (kinds, tokenizer
training, model surgery), :mod:`.pretrain`, :mod:`.evaluate` (cross-lingual
retrieval), :mod:`.reference` (the ``wechsel`` package side by side),
:mod:`.stages` (the two stages as functions: settings + inputs + output
folder -> metrics) and :mod:`.card` (the model card). Where the source model
comes from is :mod:`pipeline.models`; devices, optimiser and checkpoints are
:mod:`pipeline.torchutil`'s.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# name -> submodule; a name is imported on first use, so that reading a spec does not load numpy, torch or
# transformers
_EXPORTS = {
    "embeddings": ("TargetEmbeddings", "create_target_embeddings", "fallback_rows"),
    "model": ("KINDS", "SourceModel", "detect_kind", "load_source_model", "load_source_tokenizer",
              "special_token_pairs", "token_surfaces", "tokenizer_model_type", "train_target_tokenizer",
              "transfer_model"),
    "spec": ("WechselSpec",),
    "subwords": ("subword_vectors", "subword_vectors_from_words"),
}

__all__ = ["TargetEmbeddings", "create_target_embeddings", "fallback_rows", "KINDS", "SourceModel", "detect_kind",
           "load_source_model", "load_source_tokenizer", "special_token_pairs", "token_surfaces",
           "tokenizer_model_type", "train_target_tokenizer", "transfer_model", "subword_vectors",
           "subword_vectors_from_words", "initialise_target_model", "neighbour_sample", "space_words"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)


if TYPE_CHECKING:
    import numpy as np

    from .embeddings import TargetEmbeddings, create_target_embeddings, fallback_rows
    from .model import (KINDS, SourceModel, detect_kind, load_source_model, load_source_tokenizer,
                        special_token_pairs, token_surfaces, tokenizer_model_type, train_target_tokenizer,
                        transfer_model)
    from .spec import WechselSpec
    from .subwords import subword_vectors, subword_vectors_from_words


def space_words(space, max_words: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """An aligned space's vocabulary (most frequent first), counts and mapped vectors."""
    import numpy as np

    words, vectors = space.vocabulary_matrix(max_words)
    if space.model is not None:
        freq = dict(zip(*space.model.get_words(include_freq=True)))
        counts = np.array([freq.get(w, 1) for w in words], dtype=np.float64)
    else:
        c = space.kv.expandos.get("count") if hasattr(space.kv, "expandos") else None
        counts = np.asarray(c[:len(words)], dtype=np.float64) if c is not None else np.ones(len(words))
    return list(words), counts, vectors


def initialise_target_model(source: SourceModel, target_tokenizer, source_space, target_space,
                            settings: WechselSpec | None = None, *, progress=None):
    """WECHSEL end to end on a loaded source model: returns (model, TargetEmbeddings, info).

    ``source_space`` holds the source model's language, ``target_space`` the
    target's, both mapped into one space. ``settings``: mode, neighbours,
    temperature, seed, ... (:class:`~.spec.WechselSpec`; ``lowercase`` None
    means False). The source model is changed in place. No ``settings``: WECHSEL's defaults.
    """
    import numpy as np

    from .embeddings import create_target_embeddings
    from .model import special_token_pairs, token_surfaces, transfer_model
    from .spec import WechselSpec
    from .subwords import subword_vectors, subword_vectors_from_words

    s = settings if settings is not None else WechselSpec()
    lowercase = bool(s.lowercase)
    if s.mode == "subword":
        S = subword_vectors(token_surfaces(source.tokenizer), source_space, lowercase, s.trained_ngrams_only)
        T = subword_vectors(token_surfaces(target_tokenizer), target_space, lowercase, s.trained_ngrams_only)
    elif s.mode == "word":
        sw, sc, sv = space_words(source_space, s.max_word_vectors)
        tw, tc, tv = space_words(target_space, s.max_word_vectors)
        S = subword_vectors_from_words(source.tokenizer, sw, sc, sv)
        T = subword_vectors_from_words(target_tokenizer, tw, tc, tv)
    else:
        raise ValueError(f"mode subword or word, not {s.mode!r}")
    E = source.model.get_input_embeddings().weight.detach().cpu().numpy()
    with_vector = int(np.any(S != 0, axis=1).sum())
    if with_vector == 0:
        raise ValueError("no source subword has a vector in the static space")
    pairs = special_token_pairs(source.tokenizer, target_tokenizer)
    result = create_target_embeddings(S, T, E, neighbors=min(s.neighbors, with_vector), temperature=s.temperature,
                                      seed=s.seed, special_pairs=pairs, device=s.device, progress=progress)
    info = transfer_model(source.model, target_tokenizer, result)
    info.update({"mode": s.mode, "neighbors": s.neighbors, "temperature": s.temperature,
                 "target_subwords": int(len(T)), "target_subwords_matched": result.n_matched,
                 "target_subwords_fallback": int(result.fallback.sum()),
                 "special_tokens_copied": len(pairs),
                 "source_subwords": int(len(S)), "source_subwords_with_vector": with_vector})
    return source.model, result, info


def neighbour_sample(result: TargetEmbeddings, source_tokenizer, target_tokenizer, n: int = 50,
                     seed: int = 0) -> list[dict]:
    """For a seeded sample of matched target subwords: their nearest source subwords, similarities, weights."""
    import numpy as np

    matched = np.flatnonzero(~result.fallback & ~result.copied)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(matched, size=min(n, len(matched)), replace=False)) if len(matched) else []
    out = []
    for t in pick:
        ids = result.neighbours[t]
        out.append({"target": target_tokenizer.convert_ids_to_tokens(int(t)), "target_id": int(t),
                    "neighbours": [{"source": source_tokenizer.convert_ids_to_tokens(int(s)),
                                    "similarity": round(float(c), 4), "weight": round(float(w), 4)}
                                   for s, c, w in zip(ids, result.similarities[t], result.weights[t])]})
    return out
