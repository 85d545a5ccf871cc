"""Before / after measures of a (specialized) encoder's static vectors.

* SimLex-999 (gensim's copy): Spearman between human scores and the cosine
  of the words' isolated vectors;
* BLI on held-out dictionary pairs: each source word is retrieved against
  every candidate target word (nearest neighbour and CSLS), MRR and P@k as
  :func:`pipeline.multilingual.bli.evaluate_bli` computes them.

Both run the evaluators of :mod:`pipeline.evaluators` on the vectors read out
of the encoder, so the names are those of every other stage
(``simlex999_spearman``, ``bli_en-es_mrr-nn``): flat dicts ready for
``metrics.json``.
"""
from __future__ import annotations

from typing import Sequence

from .extract import isolated_vectors

__all__ = ["simlex_pairs", "simlex_words", "simlex_spearman", "bli_metrics"]


def simlex_pairs() -> list[tuple[str, str, float]]:
    from ..evaluation import SIMILARITY_SETS, _gensim_data, read_word_pairs

    return read_word_pairs(_gensim_data(SIMILARITY_SETS["simlex999"]))


def simlex_words() -> list[str]:
    """The distinct (lower-case) words of SimLex-999."""
    return sorted({w.lower() for a, b, _ in simlex_pairs() for w in (a, b)})


def simlex_spearman(model, tokenizer, layer: int = -1, *, batch_size: int = 256, max_length: int = 16,
                    device: str | None = None) -> dict:
    """``simlex999_spearman``, ``simlex999_coverage`` and ``simlex999_n`` from the words' isolated vectors at
    ``layer`` (:class:`~pipeline.evaluators.WordSimilarityEvaluator`)."""
    from ..evaluators import WordSimilarityEvaluator
    from ..vectors import make_keyed_vectors

    words = simlex_words()
    vecs = isolated_vectors(model, tokenizer, words, (layer,), batch_size, max_length, device)[layer]
    return WordSimilarityEvaluator("simlex999", simlex_pairs(), restrict_vocab=None)(make_keyed_vectors(words, vecs))


def bli_metrics(model, tokenizer, test_pairs: Sequence[tuple[str, str]], targets: Sequence[str], layer: int = -1, *,
                name: str, csls_k: int = 10, batch_size: int = 256, max_length: int = 16,
                device: str | None = None) -> dict:
    """BLI of ``test_pairs`` (source, target) retrieving among ``targets`` (gold targets added if missing).

    ``name``: the BLI set, ``<src>-<tgt>``; the keys are ``bli_<name>_...``
    (:class:`~pipeline.evaluators.BliEvaluator`). CSLS uses at most as many
    neighbours as there are targets (and its name says how many).
    """
    from ..evaluators import BliEvaluator
    from ..vectors import make_keyed_vectors

    sources = list(dict.fromkeys(s for s, _ in test_pairs))
    targets = list(dict.fromkeys([*targets, *(t for _, t in test_pairs)]))
    src = isolated_vectors(model, tokenizer, sources, (layer,), batch_size, max_length, device)[layer]
    tgt = isolated_vectors(model, tokenizer, targets, (layer,), batch_size, max_length, device)[layer]
    evaluator = BliEvaluator(test_pairs, name, csls_k=min(csls_k, len(targets)), ks=(1, 5, 10))
    return evaluator((make_keyed_vectors(sources, src), make_keyed_vectors(targets, tgt)))
