"""Intrinsic evaluation of static word vectors, shared by every stage that makes vectors.

The measuring functions here return the measures of one benchmark
(``accuracy``, ``spearman``, ``coverage``, ``n``); the evaluators of
:mod:`pipeline.evaluators` name them (``analogy_google_accuracy``,
``simlex999_spearman``) and :func:`evaluate_vectors` runs all of them: vectors
in, a flat dict of metrics out (ready for ``metrics.json``). A metric that
cannot be computed because no test item is covered is ``None`` (JSON
``null``), never 0.

* Word analogy: the Google analogy set (Mikolov et al. 2013), solved with
  3CosAdd -- ``argmax_d cos(d, b - a + c)`` over the ``restrict_vocab`` most
  frequent words, the question words excluded -- with exactly the rules of
  gensim's ``KeyedVectors.evaluate_word_analogies`` (case-insensitive lookup
  takes the most frequent case variant; a question counts only when all four
  words are in the restricted vocabulary), but batched into matrix products.
* Word similarity: Spearman correlation between human scores and cosine
  similarity on the covered pairs of WordSim-353 and SimLex-999.

>>> import numpy as np
>>> from pipeline.vectors import make_keyed_vectors
>>> kv = make_keyed_vectors(["king", "man", "woman", "queen", "apple"],
...     np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 1], [-1, -1, -1]], dtype=np.float32))
>>> analogy_accuracy(kv, [("man", "king", "woman", "queen"), ("man", "king", "woman", "pear")])
{'accuracy': 1.0, 'coverage': 0.5, 'n': 1, 'n_questions': 2}
>>> similarity_spearman(kv, [("king", "queen", 8.0), ("king", "apple", 1.0), ("man", "woman", 5.0)])["spearman"]
1.0
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from pipeline.errors import InputError, utf8_lines
from pipeline.evaluators import ANALOGY_SETS, RESTRICT_VOCAB, SIMILARITY_SETS, dataset_path, intrinsic_evaluator

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = [
    "evaluate_vectors",
    "analogy_accuracy",
    "analogy_predictions",
    "similarity_spearman",
    "read_analogies",
    "read_word_pairs",
    "AnalogyResult",
]


class AnalogyResult(NamedTuple):
    """One covered analogy question ``a : b :: c : expected`` and the model's answer."""

    a: str
    b: str
    c: str
    expected: str
    predicted: str | None  # the vocabulary key answered (None: no candidate at all)
    correct: bool


def _gensim_data(name: str) -> Path:
    return dataset_path(name)


def _vocab_index(kv: "KeyedVectors", restrict_vocab: int | None, lowercase: bool) -> tuple[dict[str, int], int]:
    """Map (case-folded) key -> row among the first ``restrict_vocab`` rows; the most frequent variant wins."""
    n = len(kv.index_to_key) if restrict_vocab is None else min(restrict_vocab, len(kv.index_to_key))
    keys = kv.index_to_key[:n]
    index: dict[str, int] = {}
    for i in range(n - 1, -1, -1):  # reversed, so the earliest (most frequent) row is written last
        index[keys[i].lower() if lowercase else keys[i]] = i
    return index, n


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


# --------------------------------------------------------------------------- analogies


def read_analogies(path: str | Path) -> list[tuple[str, str, str, str]]:
    """Read a questions-words style file: ``: section`` lines, then ``a b c d`` lines.

    Lines that are not four words are skipped (as gensim does); a question
    before any section header, or a file with no question at all, is an error.
    """
    path = Path(path)
    questions = []
    in_section = False
    skipped = 0
    for line_no, line in utf8_lines(path):
        if line.startswith(": "):
            in_section = True
            continue
        words = line.split()
        if not words:
            continue
        if not in_section:
            raise InputError(path, f"a ': section' line before the first question (line {line_no})")
        if len(words) != 4:
            log.info("%s:%d: skipping a line that is not four words", path, line_no)
            skipped += 1
            continue
        questions.append(tuple(words))
    if not questions:
        raise InputError(path, "analogy questions ('a b c d' lines under ': section' headers)",
                         f"none; {skipped} lines skipped for not being four words" if skipped else "none")
    return questions


def _as_questions(questions) -> list[tuple[str, str, str, str]]:
    if isinstance(questions, (str, Path)):
        return read_analogies(questions)
    out = []
    for q in questions:
        q = tuple(q)
        if len(q) != 4:
            raise InputError(None, "analogy questions of four words (a, b, c, expected)", f"found {q!r}")
        out.append(q)
    return out


def analogy_predictions(
    kv: "KeyedVectors",
    questions,
    restrict_vocab: int | None = RESTRICT_VOCAB,
    lowercase: bool = True,
    batch_elements: int = 2**25,
) -> tuple[list[AnalogyResult], int]:
    """Solve the covered analogy questions with 3CosAdd; return ``(results, n_questions)``.

    ``questions`` is a path to a questions-words file or an iterable of
    ``(a, b, c, expected)``. A question is covered when all four words are
    among the first ``restrict_vocab`` keys of ``kv`` (case-insensitively when
    ``lowercase``). The answer is the best-scoring key other than ``a``, ``b``,
    ``c`` (and, as in gensim, their case variants among the 5 best); it is
    correct when it is (a case variant of) ``expected``. Work is batched so that one score block holds about
    ``batch_elements`` floats.
    """
    questions = _as_questions(questions)
    index, n_vocab = _vocab_index(kv, restrict_vocab, lowercase)
    norm = (lambda w: w.lower()) if lowercase else (lambda w: w)
    covered = [q for q in questions if all(norm(w) in index for w in q)]
    if not covered:
        return [], len(questions)

    unit = _unit_rows(kv.vectors[:n_vocab])
    # canonical row of every candidate: its case variants collapse onto the most frequent one
    canon = np.fromiter((index[norm(k)] for k in kv.index_to_key[:n_vocab]), dtype=np.int64, count=n_vocab)
    rows = np.array([[index[norm(w)] for w in q] for q in covered], dtype=np.int64)
    ia, ib, ic, ie = rows.T
    topn = min(5, n_vocab)
    batch = max(1, min(len(covered), batch_elements // max(n_vocab, 1)))
    predicted = np.empty(len(covered), dtype=np.int64)
    for start in range(0, len(covered), batch):
        sl = slice(start, start + batch)
        query = unit[ib[sl]] + unit[ic[sl]] - unit[ia[sl]]
        scores = query @ unit.T
        r = np.arange(scores.shape[0])
        scores[r, ia[sl]] = -np.inf
        scores[r, ib[sl]] = -np.inf
        scores[r, ic[sl]] = -np.inf
        # gensim takes the best of its 5 top-scoring keys that is not a case variant of a
        # question word; the first pass settles nearly every row, so take argmaxes, not a sort
        pred = np.full(scores.shape[0], -1, dtype=np.int64)
        pending = r
        for _ in range(topn):
            best = scores[pending].argmax(axis=1) if len(pending) < len(r) else scores.argmax(axis=1)
            best_score = scores[pending, best]
            cand = canon[best]
            qa, qb, qc = ia[sl][pending], ib[sl][pending], ic[sl][pending]
            ok = (cand != qa) & (cand != qb) & (cand != qc) & np.isfinite(best_score)
            pred[pending[ok]] = cand[ok]
            scores[pending[~ok], best[~ok]] = -np.inf
            pending = pending[~ok]
            if not len(pending):
                break
        # a row left pending gets gensim's "last key looked at", a question word: not correct
        predicted[sl] = pred
    results = [
        AnalogyResult(*q, predicted=kv.index_to_key[p] if p >= 0 else None, correct=p == e)
        for q, p, e in zip(covered, predicted.tolist(), ie.tolist())
    ]
    return results, len(questions)


def analogy_accuracy(
    kv: "KeyedVectors", questions, restrict_vocab: int | None = RESTRICT_VOCAB, lowercase: bool = True
) -> dict:
    """3CosAdd analogy accuracy on the covered questions.

    Returns ``{"accuracy", "coverage", "n", "n_questions"}``: ``n`` questions had
    all four words in the vocabulary, out of ``n_questions``; ``accuracy`` is
    ``None`` when ``n`` is 0, ``coverage`` when there are no questions.
    """
    results, n_questions = analogy_predictions(kv, questions, restrict_vocab, lowercase)
    n = len(results)
    return {
        "accuracy": (sum(r.correct for r in results) / n) if n else None,
        "coverage": (n / n_questions) if n_questions else None,
        "n": n,
        "n_questions": n_questions,
    }


# --------------------------------------------------------------------------- similarity


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """Read ``word1 <tab> word2 <tab> score`` lines; ``#`` starts a comment line.

    Columns after the score are ignored on tab-separated lines only; a line without tabs is split on
    whitespace and must have exactly three fields (``old new 1.5 7`` is refused, not read as 1.5).

    A score must be a finite number (one NaN would void the Spearman
    correlation); a file without a pair is an error.
    """
    import math

    path = Path(path)
    pairs = []
    for line_no, line in utf8_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            fields = line.split()
            # not split by tabs, a fourth field is ambiguous: a multiword entry, or the score is not the third field
            if len(fields) > 3:
                raise InputError(path, f"'word1<TAB>word2<TAB>score' (or exactly 3 whitespace-separated fields) on "
                                 f"line {line_no}", f"found {len(fields)} fields in {line.strip()!r}")
        try:
            pair = (fields[0], fields[1], float(fields[2]))
        except (IndexError, ValueError):
            pair = None
        if pair is None or not math.isfinite(pair[2]):
            raise InputError(path, f"'word1<TAB>word2<TAB>score' with a finite score on line {line_no}",
                             f"found {line.strip()!r}")
        pairs.append(pair)
    if not pairs:
        raise InputError(path, "word pairs with scores ('word1<TAB>word2<TAB>score' lines)", "none")
    return pairs


def similarity_spearman(
    kv: "KeyedVectors",
    pairs_with_scores,
    restrict_vocab: int | None = RESTRICT_VOCAB,
    lowercase: bool = True,
) -> dict:
    """Spearman correlation between human scores and cosine similarity on the covered pairs.

    ``pairs_with_scores`` is an iterable of ``(word1, word2, score)`` or a path
    to such a file (see :func:`read_word_pairs`). Returns ``{"spearman",
    "coverage", "n", "n_pairs"}``; ``spearman`` is ``None`` with fewer than two
    covered pairs or when either side is constant.
    """
    from scipy.stats import spearmanr

    if isinstance(pairs_with_scores, (str, Path)):
        pairs = read_word_pairs(pairs_with_scores)
    else:
        pairs = [(str(a), str(b), float(s)) for a, b, s in pairs_with_scores]
    index, n_vocab = _vocab_index(kv, restrict_vocab, lowercase)
    norm = (lambda w: w.lower()) if lowercase else (lambda w: w)
    covered = [(index[norm(a)], index[norm(b)], s) for a, b, s in pairs if norm(a) in index and norm(b) in index]
    result = {
        "spearman": None,
        "coverage": (len(covered) / len(pairs)) if pairs else None,
        "n": len(covered),
        "n_pairs": len(pairs),
    }
    if len(covered) >= 2:
        ia, ib, human = (np.array(col) for col in zip(*covered))
        unit = _unit_rows(kv.vectors[:n_vocab])
        model = np.einsum("ij,ij->i", unit[ia], unit[ib])
        rho = spearmanr(human, model).statistic
        if np.isfinite(rho):
            result["spearman"] = float(rho)
    return result


# --------------------------------------------------------------------------- the contract


def evaluate_vectors(kv: "KeyedVectors", lowercase: bool = True, restrict_vocab: int | None = RESTRICT_VOCAB) -> dict:
    """Every intrinsic benchmark on ``kv`` (:func:`pipeline.evaluators.intrinsic_evaluator`), one flat dict.

    Keys: ``analogy_google_{accuracy,coverage,n}`` and
    ``{wordsim353,simlex999}_{spearman,coverage,n}``. Lookups are
    case-insensitive when ``lowercase`` (the most frequent case variant of a
    word stands for it) and limited to the first ``restrict_vocab`` keys, which
    for gensim-trained vectors are the most frequent words.
    """
    return intrinsic_evaluator(restrict_vocab, lowercase)(kv)
