"""FOCUS embedding initialisation (Dobler & de Melo, EMNLP 2023, "FOCUS: Effective Embedding
Initialization for Monolingual Specialization of Multilingual Models", section 3).

No bilingual dictionary and no source-language vectors. Three steps:

1. :func:`shared_token_pairs`: the tokens both vocabularies hold ("overlapping tokens"), matched on a
   canonical form that makes the word-start markers of the tokenizer kinds comparable;
2. :func:`train_auxiliary_vectors`: fastText on the target text tokenised with the new target
   tokenizer, one vector per target token (the "auxiliary" space);
3. :func:`create_focus_embeddings`: shared tokens are copied from the source matrix; every other target
   token ``x`` with an auxiliary vector gets ``e_x = sum_o w_o e_o`` over the shared tokens ``o``, with
   ``w = sparsemax(c)`` and ``c_o = cos(aux_x, aux_o)``; a token without an auxiliary vector is drawn
   from N(mean, std) of the source matrix, as WECHSEL's fallback (:func:`.embeddings.fallback_rows`).

On arrays (the tokenizers only matter for steps 1 and 2)::

    >>> import numpy as np
    >>> from pipeline.transfer.focus import create_focus_embeddings
    >>> rng = np.random.default_rng(0)
    >>> E = rng.standard_normal((50, 8)).astype("float32")       # source model embeddings
    >>> aux = rng.standard_normal((40, 16)).astype("float32")    # target tokens in the auxiliary space
    >>> aux[39] = 0                                              # no auxiliary vector: falls back
    >>> shared = [(t, t + 10) for t in range(20)]                # (target id, source id)
    >>> res = create_focus_embeddings(E, aux, shared)
    >>> bool(np.array_equal(res.matrix[3], E[13])), int(res.fallback.sum()), res.matrix.shape
    (True, 1, (40, 8))
    >>> w = res.weights[25]                                      # a new token: a convex combination
    >>> bool(abs(w.sum() - 1) < 1e-6), bool(np.allclose(res.matrix[25], w @ E[np.maximum(res.neighbours[25], 0)],
    ...                                                          atol=1e-5))
    (True, True)

``res.transfer(table)`` applies the same copies, weights and fallback draws to any other per-token table
of the source (an untied ``lm_head``, an output bias); a copied row is the source row exactly.

The new tokens go block by block (4096 rows): one float32 product with the shared tokens' auxiliary
vectors (torch, on the CPU or with ``device="cuda"`` the GPU), a top-k, the sparsemax threshold in
float64 on those few values, and the weighted sums as one ``embedding_bag`` per block, so the cost is
the bare product's plus a top-k pass (``bench/bench_focus_speed.py``).

What follows the paper and the reference code (``deepfocus`` 1.0.1, read for understanding, not copied):

- similarity: cosine in the auxiliary space, no temperature, sparsemax (Martins & Astudillo 2016) over
  *all* shared tokens that have an auxiliary vector (deepfocus calls ``entmax.sparsemax`` on the full
  row; no top-k cap). Implemented here (:func:`sparsemax`): sort, cumulative sum, threshold. The block
  search takes the top ``candidates`` similarities first and widens, for the rows whose support reaches
  it, until the support is inside the candidates -- the support is a prefix of the sorted row, so this
  is exact, not an approximation;
- shared tokens without an auxiliary vector are still copied but are not combined into new tokens
  (deepfocus's ``use_for_focus = False``); an auxiliary vector counts only for a token in fastText's
  vocabulary (seen ``min_count`` times), and an all-zero vector counts as none (``is_very_rare_token``);
- the fallback for new tokens without an auxiliary vector is N(mean, std) of the source matrix, per
  column, seeded;
- fastText (``train_auxiliary_vectors``): CBOW, 10 negatives, dimension 100, 3 epochs, min_count 10,
  fastText's defaults otherwise (lr 0.05, window 5, character n-grams 3-6, 2M buckets) -- deepfocus's
  ``fasttext_model_dim`` / ``_epochs`` / ``_min_count`` defaults and its ``train_fasttext``; the text is
  tokenised with the target tokenizer (the tokens of ``tokenize``: no special tokens), one document
  per line;
- matching (``shared_token_pairs``): deepfocus's default (``exact_match_all``), canonical forms as its
  ``vocab_helper``: a tokenizer is SentencePiece-style when many tokens start with ``▁``, WordPiece when
  many start with ``##``, byte-level otherwise; the canonical form is ``▁`` + the decoded text for a
  word-initial token (``▁`` / ``Ġ`` prefix; WordPiece: no ``##``) and the decoded text (``##`` removed)
  for a continuation; SentencePiece byte-fallback tokens (``<0x0A>``) keep their own form.
  ``fuzzy=True`` also matches ignoring ``▁`` and case (deepfocus's ``fuzzy_match_all``).

Where this deviates, and why:

- "many tokens" is more than ``min(100, 5% of the vocabulary)`` (deepfocus: more than 100), so that
  small vocabularies are recognised too;
- several source tokens with one canonical form: the one with the target's own spelling, else the
  lowest id (deepfocus takes one that depends on how it builds its lookup: the highest id);
- a token whose decoded text holds U+FFFD (a byte-level piece of a multi-byte character) or is empty
  once stripped (newline, tab) is matched only on an identical spelling in a tokenizer of the same
  scheme: its decoded text says nothing about which bytes it holds (deepfocus matches all such pieces
  to one source token: on two byte-level BPE vocabularies of about 1,200 tokens, 127 byte pieces and
  8 whitespace tokens);
- a target token that fastText would split (it holds whitespace) or confuse with its end-of-line token
  ``</s>`` is written to fastText under an escaped name, so it gets its own vector or none;
- new tokens none of which has an auxiliary vector (``min_count`` above all their counts) are refused, and
  more than half without one is a logged warning: those rows are random draws, and deepfocus goes on silently;
- the fallback draws use :func:`.embeddings.fallback_rows` (``default_rng(seed)``, population std), as
  WECHSEL here does, not torch's generator and sample std; arithmetic is float32 (deepfocus: float64
  cosines), so weights agree to about 1e-6;
- ``TargetEmbeddings.neighbours`` / ``weights`` are ``(n_target, k)`` with ``k`` the largest sparsemax
  support over all rows; a row with a smaller support is padded with ``-1`` / ``0`` (and ``nan``
  similarities). A copied row holds its source id with weight 1, and its (target, source) pair is in
  ``special_pairs``, which ``transfer`` copies exactly.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from .embeddings import TargetEmbeddings

__all__ = ["AUX_DEFAULTS", "canonical_forms", "shared_token_pairs", "train_auxiliary_vectors",
           "reindex_auxiliary_vectors", "sparsemax", "create_focus_embeddings", "focus_target_embeddings"]

log = logging.getLogger(__name__)

#: deepfocus's fastText settings for the auxiliary space (``FOCUS(...)`` defaults and ``train_fasttext``)
AUX_DEFAULTS = {"model": "cbow", "dim": 100, "epochs": 3, "min_count": 10, "neg": 10}

SPIECE, BYTE_LEVEL_SPACE = "\u2581", "\u0120"
_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
_FASTTEXT_SPACE = re.compile(r"[ \n\t\v\f\r\0]")  # what fastText's reader splits words on
_ESCAPE = "\ue000"  # a private-use prefix: an escaped token name cannot collide with a real token


# --- 1. shared tokens -------------------------------------------------------------------------------------------

def _scheme(vocab: dict[str, int]) -> str:
    many = min(100, max(1, len(vocab) // 20))
    if sum(t.startswith(SPIECE) for t in vocab) > many:
        return "sentencepiece"
    if sum(t.startswith("##") for t in vocab) > many:
        return "wordpiece"
    return "byte_level"


def canonical_forms(tokenizer) -> tuple[str, dict[int, tuple[str, str]]]:
    """The tokenizer's scheme and, per token id, (native spelling, canonical form) as FOCUS compares them.

    A word-initial token's canonical form starts with ``▁``, whatever marker its tokenizer uses.
    """
    vocab = tokenizer.get_vocab()
    scheme = _scheme(vocab)
    ids = sorted(vocab.values())
    natives = tokenizer.convert_ids_to_tokens(ids)
    decoded = tokenizer.batch_decode([[i] for i in ids])
    forms: dict[int, tuple[str, str]] = {}
    for i, tok, text in zip(ids, natives, decoded):
        if tok is None:
            continue
        if scheme == "wordpiece":
            form = text[2:] if text.startswith("##") else SPIECE + text
        elif scheme == "sentencepiece" and _BYTE_PIECE.match(tok):
            form = tok
        else:
            marker = SPIECE if scheme == "sentencepiece" else BYTE_LEVEL_SPACE
            form = (SPIECE if tok.startswith(marker) else "") + text.lstrip()
        forms[i] = (tok, form)
    return scheme, forms


def shared_token_pairs(source_tokenizer, target_tokenizer, *, fuzzy: bool = False) -> list[tuple[int, int]]:
    """(target id, source id) of tokens both vocabularies hold, sorted by target id.

    Tokens match on their canonical form (:func:`canonical_forms`; see the module docstring for the
    rules and where they deviate from deepfocus); ``fuzzy`` also matches forms that differ only in
    ``▁`` and case, where the exact form has no match.
    """
    s_scheme, s_forms = canonical_forms(source_tokenizer)
    t_scheme, t_forms = canonical_forms(target_tokenizer)
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    native: dict[str, int] = {}
    for sid in sorted(s_forms):
        tok, form = s_forms[sid]
        native[tok] = sid
        if form and "\ufffd" not in form:  # the others match on their spelling only
            exact.setdefault(form, []).append(sid)
            loose.setdefault(form.replace(SPIECE, "").lower(), []).append(sid)
    pairs = []
    for tid in sorted(t_forms):
        tok, form = t_forms[tid]
        if not form or "\ufffd" in form:
            if s_scheme == t_scheme and tok in native:
                pairs.append((tid, native[tok]))
            continue
        found = exact.get(form) or (loose.get(form.replace(SPIECE, "").lower()) if fuzzy else None)
        if found:
            same = [sid for sid in found if s_forms[sid][0] == tok]
            pairs.append((tid, same[0] if same else found[0]))
    return pairs


# --- 2. auxiliary vectors ---------------------------------------------------------------------------------------

def _fasttext_names(target_tokenizer) -> tuple[int, dict[int, str]]:
    """The number of target rows and, per id, the word fastText sees for that token."""
    vocab = target_tokenizer.get_vocab()
    n = max(len(target_tokenizer), max(vocab.values()) + 1 if vocab else 0)
    names = {}
    for tok, i in vocab.items():
        names[i] = f"{_ESCAPE}{i:x}" if (_FASTTEXT_SPACE.search(tok) or tok == "</s>" or not tok) else tok
    return n, names


def train_auxiliary_vectors(target_tokenizer, texts: Iterable[str], work_dir: Path, *,
                            dim: int = AUX_DEFAULTS["dim"], epochs: int = AUX_DEFAULTS["epochs"],
                            min_count: int = AUX_DEFAULTS["min_count"], seed: int = 1234, threads: int = 0,
                            progress: Callable[[float], None] | None = None, batch_size: int = 1000) -> np.ndarray:
    """FOCUS's auxiliary space: fastText on ``texts`` tokenised with ``target_tokenizer``.

    Returns ``(n_target, dim)`` float32, one row per target token id; a token fastText kept no vector
    for (seen fewer than ``min_count`` times, or never) has an all-zero row. CBOW with 10 negatives as
    deepfocus, which the defaults follow (dimension 100, 3 epochs, min_count 10). ``work_dir`` receives
    the token file and the fastText model (``aux.bin``). ``threads`` 0: every usable core; training is
    reproducible for a ``seed`` with ``threads=1`` only. ``progress`` gets the fraction done.
    """
    import numpy as np

    from ..multilingual.fasttext_train import load_fasttext_model, train_fasttext
    from ..multilingual.settings import FastTextSettings

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    n, names = _fasttext_names(target_tokenizer)
    total = len(texts) if hasattr(texts, "__len__") else None
    token_file = work / "tokens.txt"
    lines = 0

    def write(batch: list[str], out) -> int:
        ids = target_tokenizer(batch, add_special_tokens=False)["input_ids"]
        written = 0
        for row in ids:
            if row:
                out.write(" ".join(names[i] for i in row) + "\n")
                written += 1
        return written

    with open(token_file, "w", encoding="utf-8") as out:
        batch, seen = [], 0
        for text in texts:
            if text and text.strip():
                batch.append(text)
            seen += 1
            if len(batch) == batch_size:
                lines += write(batch, out)
                batch = []
                if progress is not None and total:
                    progress(0.3 * seen / total)
        if batch:
            lines += write(batch, out)
    if lines == 0:
        raise InputError(None, "target text with at least one token for FOCUS's auxiliary fastText",
                         "no non-empty documents")
    if progress is not None:
        progress(0.3)
    settings = FastTextSettings(model=AUX_DEFAULTS["model"], neg=AUX_DEFAULTS["neg"], dim=dim, epochs=epochs,
                                min_count=min_count, seed=seed,
                                threads=threads or len(os.sched_getaffinity(0)))
    try:
        paths = train_fasttext([token_file], work / "aux", settings)
    except InputError as exc:  # named as the setting to change, not the temporary token file
        raise InputError(None, f"target tokens seen at least focus.min_count={min_count} times for FOCUS's "
                         "auxiliary fastText: lower focus.min_count or add target text",
                         f"{exc.found} ({lines} lines of the new tokenizer's tokens)") from None
    if progress is not None:
        progress(0.9)
    model = load_fasttext_model(paths.bin)
    known = set(model.get_words())
    aux = np.zeros((n, dim), dtype=np.float32)
    for i, name in names.items():
        if name in known:
            aux[i] = model.get_word_vector(name)
    if progress is not None:
        progress(1.0)
    return aux


def reindex_auxiliary_vectors(aux: np.ndarray, from_tokenizer, to_tokenizer) -> np.ndarray:
    """Rows of ``aux`` (indexed by ``from_tokenizer``'s ids) moved to ``to_tokenizer``'s ids by spelling.

    For vocabulary extension: train the auxiliary space with the target-language tokenizer and move it
    to the extended tokenizer; the source-only tokens get zero rows and so are not combined into new
    tokens (as deepfocus's ``extend_tokenizer``).
    """
    import numpy as np

    src = from_tokenizer.get_vocab()
    to = to_tokenizer.get_vocab()
    n = max(len(to_tokenizer), max(to.values()) + 1 if to else 0)
    out = np.zeros((n, aux.shape[1]), dtype=np.float32)
    for tok, j in to.items():
        i = src.get(tok)
        if i is not None and i < len(aux):
            out[j] = aux[i]
    return out


# --- 3. the combination -----------------------------------------------------------------------------------------

def sparsemax(scores, dim: int = -1):
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of ``scores`` onto the simplex.

    Sort descending, take cumulative sums ``s_k``; the support is the largest ``k`` with
    ``1 + k z_(k) > s_k``, the threshold ``tau = (s_k - 1) / k``, the output ``max(z - tau, 0)``.
    Accepts a numpy array or a torch tensor and returns the same kind.

    >>> sparsemax([0.1, 0.9, 0.2]).round(4).tolist()
    [0.0333, 0.8333, 0.1333]
    >>> sparsemax([[0.0, 2.0, 0.5]]).tolist()
    [[0.0, 1.0, 0.0]]
    """
    import numpy as np
    import torch

    is_numpy = not isinstance(scores, torch.Tensor)
    z = torch.as_tensor(np.asarray(scores, dtype=np.float64) if is_numpy else scores)
    z = z.movedim(dim, -1)
    if z.shape[-1] == 0 or not torch.isfinite(z).all():  # no support to find: the threshold would index -1
        raise ValueError(f"sparsemax needs finite scores, at least one per row; got shape {tuple(z.shape)}"
                         + ("" if z.shape[-1] == 0 else " with NaN or infinity"))
    tau, _ = _threshold(torch.sort(z, dim=-1, descending=True).values)
    out = torch.clamp(z - tau.unsqueeze(-1), min=0).movedim(-1, dim)
    return out.numpy() if is_numpy else out


def _threshold(ordered):
    """Sparsemax threshold and support size of rows sorted descending (the last axis)."""
    import torch

    k = torch.arange(1, ordered.shape[-1] + 1, device=ordered.device, dtype=ordered.dtype)
    cum = ordered.cumsum(-1)
    support = (1 + k * ordered > cum).sum(-1)  # the condition holds on a prefix of the sorted row
    tau = (cum.gather(-1, (support - 1).unsqueeze(-1)).squeeze(-1) - 1) / support.to(ordered.dtype)
    return tau, support


def create_focus_embeddings(source_matrix: np.ndarray, target_aux: np.ndarray, shared: Sequence[tuple[int, int]],
                            *, special_pairs: Sequence[tuple[int, int]] = (), seed: int = 1234,
                            progress: Callable[[float], None] | None = None, device: str = "cpu",
                            block_size: int = 4096, candidates: int = 64) -> TargetEmbeddings:
    """FOCUS's target embedding matrix as a :class:`~.embeddings.TargetEmbeddings`.

    ``source_matrix``: (n_source, d) the source model's embeddings. ``target_aux``: (n_target, a) the
    target tokens in the auxiliary space (:func:`train_auxiliary_vectors`; an all-zero row has no
    vector). ``shared``: (target id, source id) of the tokens both vocabularies hold
    (:func:`shared_token_pairs`), copied and, where they have an auxiliary vector, combined into the
    others. ``special_pairs``: further pairs to copy (special tokens); a target id in both takes the
    special pair. ``candidates``: similarities taken per row before sparsemax in the first block (later
    blocks start from 1.25 x the widest support seen), widened where a support needs more (a speed
    setting: results do not depend on it). ``device``: ``cpu``, ``cuda`` or ``auto``.
    """
    import numpy as np
    import torch

    from ..torchutil import pick_device
    from ..vectors import check_finite
    from .embeddings import NearestAnchors, TargetEmbeddings, check_pairs, fallback_rows

    E = np.asarray(source_matrix)
    aux = np.asarray(target_aux, dtype=np.float32)
    if E.ndim != 2 or aux.ndim != 2:
        raise InputError(None, "a 2-d source matrix (n_source, d) and 2-d auxiliary vectors (n_target, a)",
                         f"found shapes {E.shape} and {aux.shape}")
    check_finite(aux, "auxiliary vectors")
    check_finite(E, "source model embeddings")
    if block_size < 1 or candidates < 1:
        raise ValueError(f"block_size and candidates must be positive; got {block_size} and {candidates}")
    n_t, n_s = len(aux), len(E)
    shared = check_pairs(shared, n_t, n_s, "shared tokens")
    special = check_pairs(special_pairs, n_t, n_s, "special token pairs")
    if not shared:
        raise InputError(None, "tokens shared by the source and target vocabularies (FOCUS combines them)",
                         "none are shared")
    pairs = np.array(sorted(shared), dtype=np.int64).reshape(-1, 2)
    if len(np.unique(pairs[:, 0])) != len(pairs):
        raise InputError(None, "one source id per shared target id", "a target id appears twice in the shared pairs")
    copy = dict(shared)
    copy.update(special)
    has_aux = np.any(aux != 0, axis=1)
    copy_t = np.fromiter(copy.keys(), dtype=np.int64, count=len(copy))
    copy_s = np.fromiter(copy.values(), dtype=np.int64, count=len(copy))
    copied = np.zeros(n_t, dtype=bool)
    copied[copy_t] = True
    fallback = ~copied & ~has_aux
    rows = np.flatnonzero(~copied & has_aux)
    n_new, n_fallback = int((~copied).sum()), int(fallback.sum())
    # a new token without an auxiliary vector is a random draw: with none (or few) FOCUS is random initialisation
    if n_new and n_fallback == n_new:
        raise InputError(None, "new target tokens with an auxiliary vector (seen focus.min_count times in the "
                         "target text): lower focus.min_count or add target text",
                         f"none of the {n_new} new tokens has one; every new row would be a random draw")
    if n_fallback > n_new / 2:
        log.warning("FOCUS: %d of %d new target tokens have no auxiliary vector and are random draws (%d combined); "
                    "lower focus.min_count or add target text", n_fallback, n_new, n_new - n_fallback)

    anchors, anchor_src = pairs[has_aux[pairs[:, 0]]].T  # sorted by target id, as deepfocus orders them
    if len(anchors) == 0:
        raise InputError(None, "shared tokens with an auxiliary vector (FOCUS combines them into new tokens)",
                         f"none of the {len(shared)} shared tokens has one")

    dev = torch.device(pick_device(device, "focus.device"))
    search = NearestAnchors(aux[anchors], dev)
    Es = torch.from_numpy(np.ascontiguousarray(E[anchor_src], dtype=np.float32)).to(dev)
    n_a = len(anchors)
    matrix = np.empty((n_t, E.shape[1]), dtype=E.dtype)
    k_first = candidates
    parts = []  # per block: rows, anchor positions, weights, similarities (width = the block's max support)
    with torch.inference_mode():
        for start in range(0, len(rows), block_size):
            block = rows[start:start + block_size]
            val, idx, tau, support = _sparse_support(search, aux[block], min(k_first, n_a))
            width = int(support.max())
            # the next block starts wide enough for supports like this block's: fewer rows need a second top-k
            k_first = max(candidates, width + width // 4 + 1)
            val, idx = val[:, :width], idx[:, :width]
            w = torch.clamp(val - tau.unsqueeze(1), min=0)
            keep = torch.arange(width, device=dev).unsqueeze(0) < support.unsqueeze(1)
            w = torch.where(keep, w, 0).to(torch.float32)
            # one weighted bag of anchor rows per target row: each row costs its own support, not the block's
            # widest (half the time of a sparse CSR product here, a tenth of a padded gather)
            offsets = torch.cumsum(support, 0) - support
            emb = torch.nn.functional.embedding_bag(idx[keep], Es, offsets, mode="sum", per_sample_weights=w[keep])
            matrix[block] = emb.cpu().numpy().astype(E.dtype, copy=False)
            parts.append((block, torch.where(keep, idx, -1).cpu().numpy(), w.cpu().numpy(),
                          torch.where(keep, val, float("nan")).cpu().numpy()))
            if progress is not None:
                progress(min(1.0, (start + len(block)) / max(1, len(rows))))

    k = max([p[1].shape[1] for p in parts] + [1])
    neighbours = np.full((n_t, k), -1, dtype=np.int64)
    weights = np.zeros((n_t, k), dtype=np.float32)
    similarities = np.full((n_t, k), np.nan, dtype=np.float32)
    for block, pos, w, val in parts:
        width = pos.shape[1]
        neighbours[block, :width] = np.where(pos >= 0, anchor_src[np.maximum(pos, 0)], -1)
        weights[block, :width] = w
        similarities[block, :width] = val
    matrix[copy_t] = E[copy_s]
    neighbours[copy_t, 0], weights[copy_t, 0] = copy_s, 1.0
    if fallback.any():
        matrix[fallback] = fallback_rows(E, np.flatnonzero(fallback), seed)
    return TargetEmbeddings(matrix, neighbours, similarities, weights, fallback, copied, seed,
                            tuple(sorted(copy.items())))


def _sparse_support(search, rows, k: int):
    """Top similarities, anchor positions, sparsemax threshold and support of each of ``rows`` (vectors)
    among the anchors of ``search`` (a :class:`~.embeddings.NearestAnchors`).

    Starts from the top ``k`` and widens (x4, at last every anchor) for the rows whose support fills
    the candidates: only then can it reach beyond them.
    """
    import torch

    n = search.n
    val, idx = search.top(rows, k)
    val = val.to(torch.float64)
    tau, support = _threshold(val)
    while k < n:
        full = torch.nonzero(support >= k).flatten()
        if len(full) == 0:
            break
        k = min(n, 4 * k)
        v2, i2 = search.top(rows[full.cpu().numpy()], k)
        v2, i2 = v2.to(val.device), i2.to(idx.device)
        v2 = v2.to(torch.float64)
        t2, s2 = _threshold(v2)
        pad = k - val.shape[1]
        val = torch.nn.functional.pad(val, (0, pad), value=float("-inf"))
        idx = torch.nn.functional.pad(idx, (0, pad), value=0)
        val[full], idx[full], tau[full], support[full] = v2, i2, t2, s2
    return val, idx, tau, support


def focus_target_embeddings(source_tokenizer, target_tokenizer, source_matrix: np.ndarray, texts: Iterable[str],
                            work_dir: Path, *, special_pairs: Sequence[tuple[int, int]] = (), seed: int = 1234,
                            threads: int = 0, device: str = "cpu", fuzzy: bool = False,
                            progress: Callable[[float], None] | None = None,
                            **aux_settings) -> tuple[TargetEmbeddings, dict]:
    """FOCUS end to end on tokenizers and target text: returns (TargetEmbeddings, info).

    ``aux_settings``: ``dim``, ``epochs``, ``min_count`` of the auxiliary fastText
    (:func:`train_auxiliary_vectors`). ``info`` counts what was copied, combined and drawn.
    """
    import numpy as np

    shared = shared_token_pairs(source_tokenizer, target_tokenizer, fuzzy=fuzzy)
    step = (lambda lo, hi: (lambda f: progress(lo + (hi - lo) * f))) if progress is not None else (lambda lo, hi: None)
    aux = train_auxiliary_vectors(target_tokenizer, texts, work_dir, seed=seed, threads=threads,
                                  progress=step(0.0, 0.7), **aux_settings)
    result = create_focus_embeddings(source_matrix, aux, shared, special_pairs=special_pairs, seed=seed,
                                     device=device, progress=step(0.7, 1.0))
    has_aux = np.any(aux != 0, axis=1)
    combined = ~result.copied & ~result.fallback
    support = (result.weights[combined] > 0).sum(1) if combined.any() else np.zeros(0)
    info = {"focus_shared_tokens": len(shared), "focus_copied": int(result.copied.sum()),
            "focus_anchors": int(sum(has_aux[t] for t, _ in shared)),
            "focus_combined": int(combined.sum()), "focus_fallback": int(result.fallback.sum()),
            "focus_aux_vectors": int(has_aux.sum()),
            "focus_support_mean": round(float(support.mean()), 2) if len(support) else 0.0,
            "focus_support_max": int(support.max()) if len(support) else 0}
    return result, info
