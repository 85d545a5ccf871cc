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

then :func:`~.pretrain.continued_pretraining` on target text.
:func:`initialise_target` is the general form: ``init`` ``wechsel``,
``focus`` (Dobler & de Melo 2023, :mod:`.focus`: no dictionary, no source
vectors, an auxiliary fastText space on the target text) or ``random``, and
``vocabulary`` ``replace`` or ``extend`` (the source vocabulary and ids kept,
the target tokens it lacks appended and initialised by ``init``). Modules:
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
    "embeddings": ("TargetEmbeddings", "create_target_embeddings", "fallback_rows", "random_target_embeddings"),
    "model": ("KINDS", "SourceModel", "detect_kind", "load_source_model", "load_source_tokenizer",
              "special_token_pairs", "token_surfaces", "tokenizer_model_type", "train_target_tokenizer",
              "transfer_model", "extend_tokenizer", "check_target_tokenizer", "retrain_bpe"),
    "spec": ("WechselSpec",),
    "subwords": ("subword_vectors", "subword_vectors_from_words"),
}

__all__ = ["TargetEmbeddings", "create_target_embeddings", "fallback_rows", "KINDS", "SourceModel", "detect_kind",
           "load_source_model", "load_source_tokenizer", "special_token_pairs", "token_surfaces",
           "tokenizer_model_type", "train_target_tokenizer", "transfer_model", "subword_vectors",
           "subword_vectors_from_words", "initialise_target_model", "initialise_target", "neighbour_sample",
           "space_words", "random_target_embeddings", "extend_tokenizer", "check_target_tokenizer", "retrain_bpe"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=__all__)


if TYPE_CHECKING:
    import numpy as np

    from .embeddings import TargetEmbeddings, create_target_embeddings, fallback_rows, random_target_embeddings
    from .model import (KINDS, SourceModel, check_target_tokenizer, detect_kind, extend_tokenizer,
                        load_source_model, load_source_tokenizer, retrain_bpe, special_token_pairs,
                        token_surfaces, tokenizer_model_type, train_target_tokenizer, transfer_model)
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
    :func:`initialise_target` with ``init="wechsel"`` and ``vocabulary="replace"``.
    """
    model, _, result, info = initialise_target(source, target_tokenizer, "wechsel", wechsel=settings,
                                               spaces=(source_space, target_space), progress=progress)
    return model, result, info


def _padded(rows, n: int):
    """``rows`` (one vector per token) with zero rows up to ``n`` (ids past the tokenizer: a model's padding rows)."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.float32)
    if len(rows) >= n:
        return rows[:n]
    return np.vstack([rows, np.zeros((n - len(rows), rows.shape[1]), dtype=rows.dtype)])


def initialise_target(source: SourceModel, target_tokenizer, init: str = "wechsel", *, vocabulary: str = "replace",
                      wechsel: WechselSpec | None = None, spaces: tuple | None = None, focus=None,
                      texts=None, work_dir=None, threads: int = 1, progress=None):
    """Give a loaded source model a target vocabulary: returns (model, tokenizer, TargetEmbeddings, info).

    ``init``: ``wechsel`` (``spaces`` = (source space, target space), settings
    ``wechsel``), ``focus`` (``texts``, a restartable iterable of target text
    for the auxiliary fastText space, trained under ``work_dir``; settings
    ``focus``, a :class:`~.spec.FocusSpec`) or ``random``. ``vocabulary``:
    ``replace`` (the returned tokenizer is ``target_tokenizer``; the special
    and added tokens they share are copied) or ``extend`` (the returned
    tokenizer is :func:`~.model.extend_tokenizer`'s: every source row is kept
    as it is, only the appended tokens are initialised). The source model is
    changed in place; untied output embeddings and biases go through the same
    weights (:func:`~.model.transfer_model`).
    """
    import numpy as np

    from ..errors import InputError
    from .embeddings import create_target_embeddings, random_target_embeddings
    from .model import extend_tokenizer, special_token_pairs, transfer_model, vocabulary_rows
    from .spec import FocusSpec, WechselSpec

    if init not in ("wechsel", "focus", "random"):
        raise ValueError(f"init wechsel, focus or random, not {init!r}")
    if vocabulary not in ("replace", "extend"):
        raise ValueError(f"vocabulary replace or extend, not {vocabulary!r}")
    E = source.model.get_input_embeddings().weight.detach().cpu().float().numpy()
    n_rows = len(E)
    if vocabulary == "extend":
        tok = extend_tokenizer(source.tokenizer, target_tokenizer)
        n_target = max(vocabulary_rows(tok), n_rows)
        n_tok = len(source.tokenizer)
        # every source token's row stays; so do the padding rows past both vocabularies
        pairs = [(i, i) for i in range(n_rows) if i < n_tok or i >= vocabulary_rows(tok)]
    else:
        tok = target_tokenizer
        n_target = vocabulary_rows(tok)
        pairs = special_token_pairs(source.tokenizer, tok)
    info: dict = {"init": init, "vocabulary": vocabulary}
    w = wechsel if wechsel is not None else WechselSpec()
    if init == "wechsel":
        if spaces is None:
            raise ValueError("init wechsel needs the aligned static spaces (source, target)")
        sub = _subword_matrices(source, tok, spaces, w)
        S, T = _padded(sub[0], n_rows), _padded(sub[1], n_target)
        with_vector = int(np.any(S != 0, axis=1).sum())
        # without vectors on one side every new row would be a random draw: WECHSEL in name only
        for side, vectors, space in (("source", sub[0], spaces[0]), ("target", sub[1], spaces[1])):
            if not np.any(np.asarray(vectors) != 0):
                raise InputError(getattr(space, "name", None) or None, f"{side} subwords with a vector in the "
                                 f"aligned static space (static_vectors, wechsel.mode {w.mode})",
                                 f"none of the {len(vectors)} {side} subwords has one")
        result = create_target_embeddings(S, T, E, neighbors=min(w.neighbors, with_vector), temperature=w.temperature,
                                          seed=w.seed, special_pairs=pairs, device=w.device, progress=progress)
        info.update({"mode": w.mode, "neighbors": w.neighbors, "temperature": w.temperature,
                     "target_subwords": int(len(T)), "source_subwords": int(len(S)),
                     "source_subwords_with_vector": with_vector})
    elif init == "focus":
        from .focus import (create_focus_embeddings, reindex_auxiliary_vectors, shared_token_pairs,
                            train_auxiliary_vectors)

        f = focus if focus is not None else FocusSpec()
        if texts is None or work_dir is None:
            raise ValueError("init focus needs the target texts and a work folder for the auxiliary fastText space")
        report = progress
        step = (lambda lo, hi: (lambda x: report(lo + (hi - lo) * x))) if report else (lambda lo, hi: None)
        # the auxiliary space is the target-language tokenizer's; extended, its rows move to the extended ids
        # by spelling and the source-only tokens have none, so only tokens the target text uses are anchors
        aux = train_auxiliary_vectors(target_tokenizer, texts, work_dir, dim=f.dim, epochs=f.epochs,
                                      min_count=f.min_count, seed=f.seed, threads=threads, progress=step(0, 0.7))
        if tok is not target_tokenizer:
            aux = reindex_auxiliary_vectors(aux, target_tokenizer, tok)
        shared = [(t, s) for t, s in shared_token_pairs(source.tokenizer, tok) if t < n_target and s < n_rows]
        progress = step(0.7, 1.0)
        result = create_focus_embeddings(E, _padded(aux, n_target), shared, special_pairs=pairs, seed=f.seed,
                                         progress=progress, device=f.device)
        has_aux = np.any(aux != 0, axis=1)
        info.update({"focus_dim": f.dim, "focus_epochs": f.epochs, "focus_min_count": f.min_count,
                     "focus_shared_tokens": len(shared), "focus_aux_vectors": int(has_aux.sum()),
                     "focus_anchors": int(sum(has_aux[t] for t, _ in shared if t < len(has_aux))),
                     "focus_combined": int((~result.copied & ~result.fallback).sum())})
    else:
        result = random_target_embeddings(E, n_target, seed=w.seed, special_pairs=pairs)
    info.update(transfer_model(source.model, tok, result, source.tokenizer))
    info.update({"target_subwords_matched": result.n_matched, "target_subwords_fallback": int(result.fallback.sum()),
                 "special_tokens_copied": len(pairs) if vocabulary == "replace" else 0,
                 "source_rows_kept": len(pairs) if vocabulary == "extend" else 0,
                 "new_tokens": n_target - n_rows if vocabulary == "extend" else n_target})
    return source.model, tok, result, info


def _subword_matrices(source, target_tokenizer, spaces, s):
    """WECHSEL's subword vectors of the source and target vocabularies in the aligned space."""
    from .model import token_surfaces
    from .subwords import subword_vectors, subword_vectors_from_words

    source_space, target_space = spaces
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
    return S, T


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
                                   for s, c, w in zip(ids, result.similarities[t], result.weights[t])
                                   if s >= 0 and w > 0]})  # FOCUS pads short sparsemax supports with -1 / 0
    return out
