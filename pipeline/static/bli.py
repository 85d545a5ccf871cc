"""BLI for every set of a static-vector comparison, against an aligned counterpart language.

The comparison's sets live in spaces of their own (an encoder's 384 dimensions, Word2Vec's 100, ...), so no
one mapping serves them all. For each set, the counterpart's vectors (the ``<src>.npy`` of an ``aligned``
stage, e.g. Spanish fastText) are mapped into the set's space by the supervised linear map of Mikolov, Le &
Sutskever (2013, "Exploiting similarities among languages for machine translation"): least squares on the
training dictionary, ``W = argmin ||X W - Y||^2 + ridge ||W||^2`` with ``X`` the counterpart's vectors of the
training pairs and ``Y`` the set's. Rows are length-normalised and centred first (Artetxe et al. 2018's
normalisation), and the ridge term keeps ``W`` defined when there are fewer pairs than dimensions. A linear
rather than an orthogonal map because the two dimensions differ for most sets; the same map for every set,
so their figures compare. The held-out pairs (the aligned stage's test dictionary, turned round: the
comparison's words are the queries) are then scored with :class:`pipeline.evaluators.BliEvaluator`: each
query word of the set is retrieved among the counterpart's mapped words, nearest neighbour and CSLS.

Training pairs whose query word is also a test query are dropped, so no test word is seen while fitting.

>>> import numpy as np
>>> from pipeline.vectors import make_keyed_vectors
>>> rng = np.random.default_rng(0)
>>> words = [f"w{i}" for i in range(300)]
>>> es = make_keyed_vectors([f"x{i}" for i in range(300)], rng.standard_normal((300, 20)).astype("float32"))
>>> rot = rng.standard_normal((20, 32)).astype("float32")
>>> en = make_keyed_vectors(words, es.vectors @ rot)      # the same geometry, another space
>>> train = [(f"w{i}", f"x{i}") for i in range(200)]
>>> test = [(f"w{i}", f"x{i}") for i in range(200, 300)]
>>> bli = CounterpartBli(es, train, test, "en-es")
>>> round(bli(en)["bli_en-es_precision_at_1-nn"], 2)
1.0
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

__all__ = ["fit_linear_map", "CounterpartBli", "read_counterpart"]


def _normalised(m):
    import numpy as np

    m = np.asarray(m, dtype=np.float64)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    m = m - m.mean(axis=0, keepdims=True)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def fit_linear_map(x, y, ridge: float = 1e-2):
    """``W`` (``x.shape[1] x y.shape[1]``) minimising ``||x W - y||^2 + ridge ||W||^2`` (closed form).

    >>> import numpy as np
    >>> x = np.eye(3); y = np.arange(6.0).reshape(3, 2)
    >>> np.round(fit_linear_map(x, y, ridge=0.0), 6).tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    """
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    gram = x.T @ x + ridge * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


class CounterpartBli:
    """BLI of a set against ``counterpart``: called with a set (``KeyedVectors``), returns its BLI metrics.

    ``train`` / ``test``: ``(query word, counterpart word)`` pairs; ``dataset``: ``<query lang>-<counterpart
    lang>`` (the metric names: ``bli_<dataset>_precision_at_1-csls_knn_10``, ...). Raises
    :class:`InputError` when fewer than ``min_train`` training pairs have both words in the vectors, naming
    the training dictionary's file (``train``'s ``path``, as :func:`read_counterpart` gives it).
    """

    def __init__(self, counterpart: "KeyedVectors", train: Sequence[tuple[str, str]],
                 test: Sequence[tuple[str, str]], dataset: str, *, ridge: float = 1e-2, csls_k: int = 10,
                 min_train: int = 10):
        from ..evaluators import BliEvaluator

        self.train_file = getattr(train, "path", None)  # a BilingualDictionary knows its file
        self.counterpart, self.train, self.test = counterpart, list(train), list(test)
        self.dataset, self.ridge, self.min_train = dataset, ridge, min_train
        self.evaluator = BliEvaluator(self.test, dataset, csls_k=csls_k)
        self.benchmark, self.primary_metric = self.evaluator.benchmark, self.evaluator.primary_metric
        self._source = _normalised(counterpart.vectors)

    def __call__(self, query_set: "KeyedVectors") -> dict:
        import numpy as np

        from ..vectors import make_keyed_vectors

        q_index, c_index = query_set.key_to_index, self.counterpart.key_to_index
        test_queries = {q for q, c in self.test if q in q_index and c in c_index}
        rows = [(q_index[q], c_index[c]) for q, c in self.train
                if q in q_index and c in c_index and q not in test_queries]
        if len(rows) < self.min_train:
            raise InputError(self.train_file, f"at least {self.min_train} training pairs for BLI {self.dataset} "
                             "with both words in the vectors", f"{len(rows)} of {len(self.train)}")
        q_rows, c_rows = np.array(rows).T
        target = _normalised(query_set.vectors)
        w = fit_linear_map(self._source[c_rows], target[q_rows], self.ridge)
        mapped = make_keyed_vectors(list(self.counterpart.index_to_key), (self._source @ w).astype(np.float32))
        queries = make_keyed_vectors(list(query_set.index_to_key), target.astype(np.float32))
        out = self.evaluator((queries, mapped))
        out[f"{self.benchmark}_train_pairs"] = len(rows)
        return out


def read_counterpart(aligned_dir: str | Path, language: str, *, max_words: int | None = 20000):
    """The aligned stage's other language and its dictionaries, turned round to ``(language word, its word)``.

    Returns ``(counterpart vectors (the most frequent max_words), train pairs, test pairs, counterpart lang)``,
    the pairs as :class:`~pipeline.multilingual.dictionaries.BilingualDictionary` objects that keep their file
    (for :class:`CounterpartBli`'s messages). The folder must be an ``aligned`` stage whose pivot is ``language``.
    """
    from ..multilingual.dictionaries import read_pair_file
    from ..vectors import load_vectors, make_keyed_vectors

    folder = Path(aligned_dir)
    found = sorted(folder.glob(f"dictionary.*-{language}.train.txt"))
    if not found:
        raise InputError(folder, f"an aligned stage into '{language}' with its train / test dictionaries "
                         f"(dictionary.<src>-{language}.train.txt)", "none there")
    src = found[0].name.split(".")[1].split("-")[0]
    train = read_pair_file(found[0])
    test_file = folder / f"dictionary.{src}-{language}.test.txt"
    if test_file.is_file() and not test_file.read_bytes().strip():  # test_size 0: the stage held out no pair
        raise InputError(test_file, f"held-out test pairs to score BLI {language}-{src} on (the multilingual spec's "
                         "dictionary.test_size above 0)", "the aligned stage held out none: the file is empty")
    test = read_pair_file(test_file)
    kv = load_vectors(folder / f"{src}.npy")
    if max_words is not None and len(kv) > max_words:
        kv = make_keyed_vectors(list(kv.index_to_key[:max_words]), kv.vectors[:max_words])
    return kv, train.swapped(), test.swapped(), src  # the pivot's words become the queries
