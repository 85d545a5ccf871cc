"""One contract for every evaluation, and the one place metric names are made.

An evaluator is called with what it evaluates (word vectors, a pair of spaces,
a model) and returns a flat dict of metrics ready for ``metrics.json``; its
``primary_metric`` names the headline among them (as sentence-transformers'
evaluators do)::

    evaluator = WordSimilarityEvaluator("simlex999")
    metrics = evaluator(kv)             # {"simlex999_spearman": ..., "simlex999_coverage": ..., "simlex999_n": ...}
    metrics[evaluator.primary_metric]   # the Spearman correlation

Metric names follow one scheme, ``<benchmark>_<measure>[-<method>]`` (see the
README's "Metric names"): lower case, ``_`` between parts, ``-`` only inside a
language pair and before a method qualifier. The benchmark is a word
similarity set (``simlex999``, ``wordsim353``), ``analogy_<set>``,
``bli_<src>-<tgt>`` or ``retrieval``; a stage that measures twice prefixes
``before_``, ``after_`` and ``delta_``. :data:`METRIC_NAME` matches exactly the
names the evaluators here make.

>>> metric_name("bli_en-es", "precision_at_1", bli_method_name("csls", 10))
'bli_en-es_precision_at_1-csls_knn_10'
>>> bool(METRIC_NAME.fullmatch("after_simlex999_spearman")), bool(METRIC_NAME.fullmatch("mrr-nn"))
(True, False)
>>> import numpy as np
>>> from pipeline.vectors import make_keyed_vectors
>>> kv = make_keyed_vectors(["king", "queen", "apple", "man", "woman"], np.array(
...     [[1, 1, 0], [0.9, 1, 0.1], [-1, -1, -1], [1, 0, 0], [0.9, 0.1, 0]], dtype=np.float32))
>>> ev = WordSimilarityEvaluator("simlex999", [("king", "queen", 8.0), ("king", "apple", 1.0), ("man", "woman", 5.0),
...                                            ("man", "pear", 5.0)])
>>> m = ev(kv)
>>> sorted(m), ev.primary_metric, round(m[ev.primary_metric], 6), m["simlex999_coverage"]
(['simlex999_coverage', 'simlex999_n', 'simlex999_spearman'], 'simlex999_spearman', 1.0, 0.75)
>>> es = make_keyed_vectors(["rey", "manzana", "nada"], np.array([[1, 1, 0], [-1, -0.9, -1], [0, 0, 1]], np.float32))
>>> bli = BliEvaluator([("rey", "king"), ("manzana", "apple"), ("nada", "nothing")], "es-en", ks=(1,), csls_k=2)
>>> m = bli((es, kv))
>>> m["bli_es-en_precision_at_1-nn"], m["bli_es-en_queries"], m["bli_es-en_pairs_unknown"], bli.primary_metric
(1.0, 2, 1, 'bli_es-en_mrr-csls_knn_2')
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

__all__ = [
    "Evaluator",
    "Metrics",
    "METRIC_NAME",
    "SIMILARITY_SETS",
    "ANALOGY_SETS",
    "RESTRICT_VOCAB",
    "metric_name",
    "metric_names",
    "shown_value",
    "bli_method_name",
    "dataset_path",
    "WordSimilarityEvaluator",
    "AnalogyEvaluator",
    "BliEvaluator",
    "RetrievalEvaluator",
    "SequentialEvaluator",
    "intrinsic_evaluator",
]

#: a flat dict of JSON scalars: scores (float, ``None`` when nothing was covered), counts (int)
Metrics = dict[str, Any]

#: word similarity benchmark -> file name in gensim's test data
SIMILARITY_SETS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
#: analogy benchmark (``analogy_<name>``) -> file name in gensim's test data
ANALOGY_SETS = {"google": "questions-words.txt"}
#: intrinsic benchmarks look words up among this many most frequent keys (gensim's default)
RESTRICT_VOCAB = 300_000

_LANG_PAIR = r"[a-z]{2,3}-[a-z]{2,3}(?:\.[0-9]+)?"  # ".2": a second BLI set of one pair (the constraints stage)
_METHOD = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
_BENCHMARK = (rf"(?:{'|'.join(SIMILARITY_SETS)}|analogy_(?:{'|'.join(ANALOGY_SETS)})|bli_{_LANG_PAIR}"
              r"|retrieval|extrinsic_[a-z][a-z0-9]*)")  # extrinsic_<task>: a tagger on frozen vectors
# a score's spread over seeds is <measure>_sd (the static comparison's sets trained once per seed)
_MEASURE = (rf"(?:(?:precision_at_[0-9]+|mrr|top1)(?:_sd)?-{_METHOD}"  # scores of one method (BLI) or one model
            r"|(?:spearman|accuracy|span_f1)(?:_sd)?|coverage|n|queries|pairs|pairs_unknown|train_pairs|targets|books"
            r"|oov_rate)")
# the analogies' mean reciprocal rank of the expected word (the static-vector comparison)
_ANALOGY_MRR = rf"analogy_(?:{'|'.join(ANALOGY_SETS)})_mrr(?:_sd)?"
# semantic change against gold (SemEval-2020 subtask 2 graded, subtask 1 binary), per method and measure
_PAIR = r"_corpus[0-9]+_corpus[0-9]+"  # one pair of time periods of a gold with more than two
_CHANGE = (rf"(?:graded_(?:spearman(?:_ci_lo|_ci_hi|_sd|{_PAIR})?|targets|covered|seeds)"
           rf"|binary_accuracy(?:_sd|{_PAIR})?)(?:-{_METHOD})?")
#: every metric name an evaluator makes, with the optional before/after prefix of a stage that measures twice
METRIC_NAME = re.compile(rf"(?:(?:before|after|delta)_)?{_BENCHMARK}_{_MEASURE}|{_CHANGE}|{_ANALOGY_MRR}")


def shown_value(value: Any) -> Any:
    """A metric value as a table shows and compares it: None for NaN and the infinities, a float rounded to 5
    decimals (so that a tie in what is shown is a tie for the best), anything else as it is.

    >>> shown_value(float("nan")), shown_value(0.1234567), shown_value(7)
    (None, 0.12346, 7)
    """
    if isinstance(value, float):
        return None if value != value or value in (float("inf"), float("-inf")) else round(value, 5)
    return value


def metric_name(benchmark: str, measure: str, method: str | None = None) -> str:
    """``<benchmark>_<measure>[-<method>]``."""
    return f"{benchmark}_{measure}" + (f"-{method}" if method else "")


def metric_names(benchmark: str, measures: Mapping[str, Any]) -> Metrics:
    """``{<measure>[-<method>]: value}`` (what the measuring functions return) named for ``benchmark``."""
    return {metric_name(benchmark, measure): value for measure, value in measures.items()}


def bli_method_name(method: str, csls_k: int = 10) -> str:
    """``"nn"`` or ``"csls_knn_<k>"``, as MUSE names them."""
    if method == "nn":
        return "nn"
    if method == "csls":
        return f"csls_knn_{csls_k}"
    raise ValueError(f"BLI method must be 'nn' or 'csls'; found {method!r}")


def dataset_path(file_name: str) -> Path:
    """A benchmark file of gensim's test data (:data:`SIMILARITY_SETS`, :data:`ANALOGY_SETS`)."""
    from gensim.test.utils import datapath

    return Path(datapath(file_name))


@runtime_checkable
class Evaluator(Protocol):
    """Called with what it evaluates, returns a flat dict of :data:`METRIC_NAME` metrics.

    ``primary_metric`` is the key of the headline score among them.
    """

    primary_metric: str

    def __call__(self, subject: Any, /) -> Metrics: ...


class WordSimilarityEvaluator:
    """Spearman between human scores and cosine on a word similarity set; called with ``KeyedVectors``.

    ``dataset``: a name of :data:`SIMILARITY_SETS`; ``pairs``: its ``(word1,
    word2, score)`` items or file (default: gensim's copy). Keys:
    ``<dataset>_spearman`` (primary), ``_coverage``, ``_n`` (see
    :func:`pipeline.evaluation.similarity_spearman`).
    """

    def __init__(self, dataset: str, pairs: Iterable[tuple[str, str, float]] | str | Path | None = None, *,
                 restrict_vocab: int | None = RESTRICT_VOCAB, lowercase: bool = True):
        if pairs is None and dataset not in SIMILARITY_SETS:
            raise ValueError(f"word similarity set must be one of {', '.join(SIMILARITY_SETS)}; found {dataset!r}")
        self.dataset = dataset
        self.pairs = pairs if pairs is None or isinstance(pairs, (str, Path)) else list(pairs)
        self.restrict_vocab = restrict_vocab
        self.lowercase = lowercase
        self.primary_metric = metric_name(dataset, "spearman")

    def __call__(self, kv: "KeyedVectors") -> Metrics:
        from .evaluation import similarity_spearman

        pairs = dataset_path(SIMILARITY_SETS[self.dataset]) if self.pairs is None else self.pairs
        res = similarity_spearman(kv, pairs, self.restrict_vocab, self.lowercase)
        return metric_names(self.dataset, {m: res[m] for m in ("spearman", "coverage", "n")})


class AnalogyEvaluator:
    """3CosAdd accuracy on an analogy set; called with ``KeyedVectors``.

    ``dataset``: a name of :data:`ANALOGY_SETS`; ``questions``: its questions or
    file (default: gensim's copy). Keys: ``analogy_<dataset>_accuracy``
    (primary), ``_coverage``, ``_n`` (see :func:`pipeline.evaluation.analogy_accuracy`).
    """

    def __init__(self, dataset: str = "google", questions=None, *, restrict_vocab: int | None = RESTRICT_VOCAB,
                 lowercase: bool = True):
        if questions is None and dataset not in ANALOGY_SETS:
            raise ValueError(f"analogy set must be one of {', '.join(ANALOGY_SETS)}; found {dataset!r}")
        self.dataset = dataset
        self.questions = questions
        self.restrict_vocab = restrict_vocab
        self.lowercase = lowercase
        self.benchmark = f"analogy_{dataset}"
        self.primary_metric = metric_name(self.benchmark, "accuracy")

    def __call__(self, kv: "KeyedVectors") -> Metrics:
        from .evaluation import analogy_accuracy

        questions = dataset_path(ANALOGY_SETS[self.dataset]) if self.questions is None else self.questions
        res = analogy_accuracy(kv, questions, self.restrict_vocab, self.lowercase)
        return metric_names(self.benchmark, {m: res[m] for m in ("accuracy", "coverage", "n")})


class BliEvaluator:
    """Bilingual lexicon induction on held-out ``(source word, target word)`` pairs.

    Called with ``(source, target)``: two ``KeyedVectors`` in one space (the
    source mapped into the target's, or both read out of one encoder); each
    distinct source word is retrieved against every target key (see
    :func:`pipeline.multilingual.bli.evaluate_bli`). ``dataset`` is the pair,
    ``<src>-<tgt>``. Keys, ``bli_<src>-<tgt>_`` then: ``precision_at_<k>-<method>``
    and ``mrr-<method>`` (``nn``, ``csls_knn_<csls_k>``; primary: MRR with
    CSLS when it is among ``methods``), ``queries`` (distinct source words),
    ``pairs``, ``pairs_unknown`` (skipped: a word not in the vectors) and
    ``targets`` (target keys ranked).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]], dataset: str, *, methods: Sequence[str] = ("nn", "csls"),
                 csls_k: int = 10, ks: Sequence[int] = (1, 5, 10), block_rows: int | None = None):
        self.pairs = [(str(s), str(t)) for s, t in pairs]
        self.benchmark = f"bli_{dataset}"
        self.methods = tuple(methods)
        self.csls_k = int(csls_k)
        self.ks = tuple(ks)
        self.block_rows = block_rows
        headline = "csls" if "csls" in self.methods else self.methods[0]
        self.primary_metric = metric_name(self.benchmark, "mrr", bli_method_name(headline, self.csls_k))

    def __call__(self, spaces: "tuple[KeyedVectors, KeyedVectors]") -> Metrics:
        from .errors import InputError
        from .multilingual.bli import DEFAULT_BLOCK_ROWS, evaluate_bli
        from .multilingual.mapping import pair_rows

        src, tgt = spaces
        rows, unknown = pair_rows(self.pairs, src.key_to_index, tgt.key_to_index)
        if len(rows) == 0:
            raise InputError(None, f"{self.benchmark} test pairs with both words in the vectors",
                             f"none of {unknown} pairs")
        measures = evaluate_bli(src.vectors, tgt.vectors, rows, methods=self.methods, csls_k=self.csls_k, ks=self.ks,
                                block_rows=self.block_rows or DEFAULT_BLOCK_ROWS)
        measures.update(pairs_unknown=int(unknown), targets=len(tgt.index_to_key))
        return metric_names(self.benchmark, measures)


class RetrievalEvaluator:
    """Cross-lingual retrieval: query ``i``'s match is document ``i``, every document ranked by cosine.

    ``queries``: the query side, encoded once (unit rows); ``documents``: the
    texts to encode with each candidate; ``encode(subject, texts)`` gives
    their unit rows; ``method``: the candidate's name (``wechsel``,
    ``random_init``, ...). Called with the candidate (e.g. a ``(model,
    tokenizer)`` pair). Keys: ``retrieval_mrr-<method>`` (primary),
    ``retrieval_top1-<method>``, ``retrieval_pairs``.
    """

    def __init__(self, queries: "np.ndarray", documents: Sequence[str], method: str,
                 encode: Callable[[Any, Sequence[str]], "np.ndarray"]):
        self.queries = queries
        self.documents = list(documents)
        self.method = method
        self.encode = encode
        self.primary_metric = metric_name("retrieval", "mrr", method)

    def __call__(self, candidate: Any) -> Metrics:
        from .transfer.evaluate import retrieval_metrics

        res = retrieval_metrics(self.queries, self.encode(candidate, self.documents))
        return {metric_name("retrieval", "top1", self.method): res["top1"],
                metric_name("retrieval", "mrr", self.method): res["mrr"],
                metric_name("retrieval", "pairs"): res["n"]}


class SequentialEvaluator:
    """Several evaluators on one subject, their metrics merged (no name may repeat).

    ``primary_metric``: the given one, else the first evaluator's.
    """

    def __init__(self, evaluators: Sequence[Evaluator], primary_metric: str | None = None):
        if not evaluators:
            raise ValueError("SequentialEvaluator needs at least one evaluator")
        self.evaluators = list(evaluators)
        self.primary_metric = primary_metric or self.evaluators[0].primary_metric

    def __call__(self, subject: Any) -> Metrics:
        out: Metrics = {}
        for ev in self.evaluators:
            metrics = ev(subject)
            repeated = set(metrics) & set(out)
            if repeated:
                raise ValueError(f"two evaluators both write {', '.join(sorted(repeated))}")
            out.update(metrics)
        return out


def intrinsic_evaluator(restrict_vocab: int | None = RESTRICT_VOCAB, lowercase: bool = True) -> SequentialEvaluator:
    """Every intrinsic benchmark of static word vectors: the analogy sets, then the word similarity sets."""
    return SequentialEvaluator(
        [AnalogyEvaluator(name, restrict_vocab=restrict_vocab, lowercase=lowercase) for name in ANALOGY_SETS]
        + [WordSimilarityEvaluator(name, restrict_vocab=restrict_vocab, lowercase=lowercase)
           for name in SIMILARITY_SETS])
