"""Several vector sets evaluated on the same words, in one table.

Every set is first cut down to the *shared vocabulary*: the (lower-cased)
words every set has, intersected with an evaluation ``vocabulary`` when one is
given, in one order for all sets (the first set's). On these restricted sets:

* Google analogies with 3CosAdd (the existing solver of
  :mod:`pipeline.evaluation`: accuracy) and the mean reciprocal rank of the
  expected word (:func:`analogy_ranks`): a question counts when its four words
  are shared, and the candidates are the shared words other than its three
  question words -- so every set answers the same questions from the same
  candidates, as the Hungarian study restricts them (Gedeon 2025);
* SimLex-999 and WordSim-353: Spearman with coverage on the shared words;
* optionally BLI (a :class:`~pipeline.evaluators.BliEvaluator` and the target
  space, per set that has an aligned counterpart; the source side restricted);
* optionally an extrinsic score (:class:`pipeline.static.tagger.ExtrinsicEvaluator`):
  the tagger reads the restricted set, so the unknown words are the same for all.

>>> import numpy as np
>>> from pipeline.vectors import make_keyed_vectors
>>> a = make_keyed_vectors(["king", "Man", "woman", "queen", "apple"], np.eye(5, dtype=np.float32))
>>> b = make_keyed_vectors(["queen", "woman", "king", "man"], np.eye(4, dtype=np.float32))
>>> shared_vocabulary({"a": a, "b": b})
['king', 'man', 'woman', 'queen']
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pipeline.evaluators import shown_value

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from gensim.models import KeyedVectors

    from pipeline.evaluators import Evaluator

log = logging.getLogger(__name__)

__all__ = ["shared_vocabulary", "restrict_vectors", "analogy_ranks", "compare_vector_sets", "write_comparison",
           "comparison_metrics", "set_slug", "sd_name", "SCORE_COLUMNS", "headline_columns", "headline_label",
           "headline_cells", "integer_counts"]

#: the headline columns drawn in the plot, when present
SCORE_COLUMNS = ("analogy_google_accuracy", "analogy_google_mrr", "simlex999_spearman", "wordsim353_spearman")


def sd_name(metric: str) -> str:
    """The name of a metric's spread over seeds: ``_sd`` after the measure, before any ``-<method>``.

    >>> sd_name("simlex999_spearman"), sd_name("bli_en-es_precision_at_1-csls_knn_10")
    ('simlex999_spearman_sd', 'bli_en-es_precision_at_1_sd-csls_knn_10')
    """
    if metric.startswith("bli_"):
        head, _, method = metric.rpartition("-")
        if head.count("-") == 1:  # the language pair's dash is left: the last one was the method's
            return f"{head}_sd-{method}"
    return f"{metric}_sd"


def set_slug(name: str) -> str:
    """A set's name as a metric-name method qualifier: lower case, runs of other characters -> ``_``.

    >>> set_slug("x2static.L6"), set_slug("Word2Vec CBOW")
    ('x2static_l6', 'word2vec_cbow')
    """
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "set_" + slug
    return slug


def _folded_rows(kv: "KeyedVectors", lowercase: bool) -> dict[str, int]:
    """Word -> row; with ``lowercase`` the earliest (most frequent) case variant stands for a word."""
    rows: dict[str, int] = {}
    for i, key in enumerate(kv.index_to_key):
        rows.setdefault(key.lower() if lowercase else key, i)
    return rows


def shared_vocabulary(sets: Mapping[str, "KeyedVectors"], vocabulary: Iterable[str] | None = None, *,
                      lowercase: bool = True) -> list[str]:
    """The words every set has (and ``vocabulary``, when given), in the first set's order."""
    from pipeline.errors import InputError

    if not sets:
        raise ValueError("compare at least one vector set")
    folded = [_folded_rows(kv, lowercase) for kv in sets.values()]
    first = folded[0]
    allowed = None if vocabulary is None else {w.lower() if lowercase else w for w in vocabulary}
    words = [w for w in first if all(w in f for f in folded[1:]) and (allowed is None or w in allowed)]
    if not words:
        raise InputError(None, f"words shared by every vector set ({', '.join(sets)})"
                         + (" and the evaluation vocabulary" if allowed is not None else ""), "none")
    return words


def restrict_vectors(kv: "KeyedVectors", words: list[str], *, lowercase: bool = True) -> "KeyedVectors":
    """``kv`` with exactly ``words`` as keys, in that order (a key's row: its earliest case variant)."""
    import numpy as np

    from pipeline.vectors import make_keyed_vectors

    rows = _folded_rows(kv, lowercase)
    idx = np.fromiter((rows[w] for w in words), dtype=np.int64, count=len(words))
    return make_keyed_vectors(words, np.asarray(kv.vectors, dtype=np.float32)[idx])


def analogy_ranks(kv: "KeyedVectors", questions, *, batch_rows: int = 512) -> tuple[list[int], int]:
    """3CosAdd rank of the expected word for every covered question; ``(ranks, n_questions)``.

    ``questions``: a questions-words file or ``(a, b, c, expected)`` tuples;
    lookup is case-insensitive on ``kv``'s keys (use it on a
    :func:`restrict_vectors` set, whose keys are distinct lower-case words).
    Scores are ``cos(d, b - a + c)`` on unit rows over every key but ``a``,
    ``b``, ``c``; the rank is 1 + the number of candidates scoring strictly
    higher than the expected word (a tie counts in its favour). Rank 1 is what
    :func:`pipeline.evaluation.analogy_accuracy` counts as correct, barring
    exact ties. The MRR is the mean of ``1 / rank`` (no cut-off).
    """
    import numpy as np

    from pipeline.evaluation import _as_questions, _unit_rows

    questions = _as_questions(questions)
    index = {k.lower(): i for i, k in enumerate(kv.index_to_key)}
    covered = [[index[w.lower()] for w in q] for q in questions if all(w.lower() in index for w in q)]
    if not covered:
        return [], len(questions)
    unit = _unit_rows(kv.vectors)
    rows = np.array(covered, dtype=np.int64)
    ranks: list[int] = []
    for start in range(0, len(rows), batch_rows):
        ia, ib, ic, ie = rows[start:start + batch_rows].T
        scores = (unit[ib] - unit[ia] + unit[ic]) @ unit.T
        r = np.arange(len(ia))
        target = scores[r, ie].copy()
        for col in (ia, ib, ic):
            scores[r, col] = -np.inf
        ranks.extend((1 + (scores > target[:, None]).sum(axis=1)).tolist())
    return ranks, len(questions)


def _intrinsic(kv: "KeyedVectors", analogies, similarity: Mapping[str, Any] | None) -> dict:
    from pipeline.evaluators import ANALOGY_SETS, SIMILARITY_SETS, AnalogyEvaluator, WordSimilarityEvaluator, \
        dataset_path

    questions = analogies if analogies is not None else dataset_path(ANALOGY_SETS["google"])
    # restrict_vocab=None: the restricted set is the vocabulary; lower-case keys already
    out = AnalogyEvaluator("google", questions, restrict_vocab=None)(kv)
    ranks, _ = analogy_ranks(kv, questions)
    out["analogy_google_mrr"] = (sum(1.0 / r for r in ranks) / len(ranks)) if ranks else None
    sims = similarity if similarity is not None else {name: None for name in SIMILARITY_SETS}
    for name, pairs in sims.items():
        out.update(WordSimilarityEvaluator(name, pairs, restrict_vocab=None)(kv))
    return out


def compare_vector_sets(
    sets: Mapping[str, "KeyedVectors"],
    *,
    vocabulary: Iterable[str] | None = None,
    tagging: "Evaluator | None" = None,
    bli: "Evaluator | None" = None,
    analogies=None,
    similarity: Mapping[str, Any] | None = None,
) -> "pl.DataFrame":
    """One row per set (in the order given) of intrinsic, BLI and extrinsic metrics on the shared words.

    ``vocabulary``: the evaluation vocabulary (words; default: every shared
    word); ``tagging``: an evaluator called with each restricted set (an
    :class:`~pipeline.static.tagger.ExtrinsicEvaluator`); ``bli``: an evaluator called
    with each restricted set (a :class:`~pipeline.static.bli.CounterpartBli`); ``analogies``: the questions (default:
    Google's, from gensim's test data); ``similarity``: word similarity set
    name -> its pairs or file (``None``: gensim's copy; default: SimLex-999
    and WordSim-353). Columns: ``set``, ``vocabulary`` (shared words), then
    metric names (``analogy_google_accuracy``, ``analogy_google_mrr``, ...); a
    metric a set has no data for is null.
    """
    import polars as pl

    words = shared_vocabulary(sets, vocabulary)
    log.info("comparing %d vector sets on %d shared words", len(sets), len(words))
    rows = []
    for name, kv in sets.items():
        small = restrict_vectors(kv, words)
        row: dict[str, Any] = {"set": name, "vocabulary": len(words)}
        row.update(_intrinsic(small, analogies, similarity))
        if bli is not None:
            row.update(bli(small))
        if tagging is not None:
            row.update(tagging(small))
        rows.append(row)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], infer_schema_length=None)


def comparison_metrics(table: "pl.DataFrame") -> dict[str, Any]:
    """Flat metrics for ``metrics.json``: ``vocabulary_n`` (the shared words, once), then
    ``<metric>-<set slug>`` for every metric column of every row (``simlex999_spearman-x2static_l6``)."""
    slugs = [set_slug(s) for s in table["set"]]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"two vector sets share a metric name qualifier: {slugs}")
    out: dict[str, Any] = {"vocabulary_n": int(table["vocabulary"][0]) if len(table) else 0}
    for slug, row in zip(slugs, table.iter_rows(named=True)):
        for col, value in row.items():
            if col not in ("set", "vocabulary"):
                out[f"{col}-{slug}"] = value
    return out


def integer_counts(table: "pl.DataFrame") -> "pl.DataFrame":
    """``table`` with its float columns that hold counts (every value a whole number, some at least 2, as a
    mean over seeds of one count is) cast to integers; a score column (values in [0, 1], or not whole) stays.

    >>> import polars as pl
    >>> integer_counts(pl.DataFrame({"n": [3151.0, 3151.0], "acc": [1.0, 0.0], "x": [2.5, None]})).dtypes
    [Int64, Float64, Float64]
    """
    import polars as pl

    def counts(c: str) -> bool:
        v = table[c].drop_nulls()
        return (table[c].dtype.is_float() and v.len() > 0 and bool(v.is_finite().all())
                and bool((v.round(0) == v).all()) and v.abs().max() >= 2)

    return table.with_columns([pl.col(c).cast(pl.Int64) for c in table.columns if counts(c)])


def headline_cells(table: "pl.DataFrame") -> tuple[list[str], list[tuple[str, Any, list[tuple[Any, Any, bool]]]]]:
    """The headline scores of a comparison as cells: the columns (:func:`headline_columns`) and, per set,
    ``(set, seeds, [(value, sd, best), ...])``: a value and its sd over seeds (None where there is none; NaN
    and infinities are None), and whether it is the best of its column (every headline score is
    higher-is-better). What ``comparison.md`` and the run report's table show.

    >>> import polars as pl
    >>> t = pl.DataFrame({"set": ["a", "b"], "seeds": [1, 3], "simlex999_spearman": [0.2, 0.31],
    ...                   "simlex999_spearman_sd": [None, 0.02]})
    >>> headline_cells(t)
    (['simlex999_spearman'], [('a', 1, [(0.2, None, False)]), ('b', 3, [(0.31, 0.02, True)])])
    """
    cols = headline_columns(table.columns)
    if not cols or "set" not in table.columns:
        return cols, []
    best = {}
    for c in cols:
        values = [v for v in map(shown_value, table[c]) if isinstance(v, (int, float))]
        best[c] = max(values) if values else None
    rows = []
    for r in table.iter_rows(named=True):
        cells = []
        for c in cols:
            v, sd = shown_value(r[c]), shown_value(r.get(sd_name(c)))
            cells.append((v, sd, v is not None and v == best[c]))
        rows.append((r["set"], r.get("seeds"), cells))
    return cols, rows


def _markdown(table: "pl.DataFrame") -> str:
    """``comparison.md``: the headline scores first (best in bold, ``± sd`` over seeds), then every column,
    counts as whole numbers."""
    def cell(v):
        if v is None or (isinstance(v, float) and shown_value(v) is None):
            return "–"
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v).replace("|", "\\|")

    table = integer_counts(table)
    words = table["vocabulary"][0] if len(table) else 0
    lines = [f"# {len(table)} vector sets on {words} shared words", ""]
    cols, rows = headline_cells(table)
    if rows:
        seeded = "seeds" in table.columns
        lines += ["The headline scores: the best of each column in bold"
                  + (", ± the sample sd over training seeds." if seeded else "."), "",
                  "| set | " + ("seeds | " if seeded else "") + " | ".join(headline_label(c) for c in cols) + " |",
                  "|---|" + ("---:|" if seeded else "") + "---:|" * len(cols)]
        for name, seeds, cells in rows:
            shown = [cell(v) + (f" ± {sd:.3f}" if isinstance(sd, float) else "") for v, sd, _ in cells]
            shown = [f"**{s}**" if best else s for s, (_, _, best) in zip(shown, cells)]
            lines.append(f"| {cell(name)} | " + (f"{cell(seeds)} | " if seeded else "") + " | ".join(shown) + " |")
        lines += ["", "## Every column", ""]
    lines += ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.iter_rows()]
    return "\n".join(lines) + "\n"


def headline_columns(columns: Iterable[str]) -> list[str]:
    """The scores a reader compares first, in this order, where ``columns`` has them: the four intrinsic
    ones (:data:`SCORE_COLUMNS`), BLI precision at 1 with CSLS, and the extrinsic accuracy or span F1
    (what :func:`_plot` draws and the report's first table shows).

    >>> headline_columns(["set", "simlex999_spearman", "bli_en-es_precision_at_1-csls_knn_10",
    ...                   "bli_en-es_precision_at_1-nn", "extrinsic_ner_span_f1", "analogy_google_accuracy"])
    ['analogy_google_accuracy', 'simlex999_spearman', 'bli_en-es_precision_at_1-csls_knn_10', 'extrinsic_ner_span_f1']
    """
    columns = list(columns)
    return [c for c in (*SCORE_COLUMNS,
                        *(c for c in columns if c.startswith("bli_") and "_precision_at_1-csls" in c),
                        *(c for c in columns if c.startswith("extrinsic_")
                          and c.endswith(("_accuracy", "_span_f1")))) if c in columns]


def headline_label(column: str) -> str:
    """A short label for a headline score column, for a plot title or a table header.

    >>> [headline_label(c) for c in ("analogy_google_mrr", "simlex999_spearman",
    ...                              "bli_en-es_precision_at_1-csls_knn_10", "extrinsic_upos_accuracy")]
    ['analogies MRR', 'SimLex-999 Spearman', 'BLI en-es P@1 (CSLS)', 'upos accuracy']
    """
    fixed = {"analogy_google_accuracy": "analogies accuracy", "analogy_google_mrr": "analogies MRR",
             "simlex999_spearman": "SimLex-999 Spearman", "wordsim353_spearman": "WordSim-353 Spearman"}
    if column in fixed:
        return fixed[column]
    m = re.fullmatch(r"bli_(.+)_precision_at_1-csls.*", column)
    if m:
        return f"BLI {m.group(1)} P@1 (CSLS)"
    m = re.fullmatch(r"extrinsic_(.+)_(accuracy|span_f1)", column)
    if m:
        return f"{m.group(1)} {m.group(2).replace('_', ' ').replace('f1', 'F1')}"
    return column.replace("_", " ")


def _plot(table: "pl.DataFrame", path: Path) -> Path:
    """One panel per headline score, the sets as horizontal bars in the table's order (one colour per set
    in every panel), each bar labelled with its value and, over seeds, its sd as an error bar."""
    import math

    import numpy as np

    from pipeline.figures import pyplot, save_figure

    cols = headline_columns(table.columns)
    plt = pyplot()
    n_sets = len(table)  # at least one: compare_vector_sets refuses an empty comparison
    ncols = max(1, min(3, len(cols)))
    nrows = max(1, math.ceil(len(cols) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, (0.32 * n_sets + 1.1) * nrows), squeeze=False,
                             sharey=True)
    colours = [plt.cm.tab10.colors[i % 10] for i in range(n_sets)]
    y = np.arange(n_sets)
    names = list(table["set"])
    for k, ax in enumerate(axes.flat):
        if k >= len(cols):
            ax.set_visible(False)
            continue
        c = cols[k]
        values = np.array([np.nan if v is None else v for v in table[c]], dtype=float)
        sd = (np.array([np.nan if v is None else v for v in table[sd_name(c)]], dtype=float)
              if sd_name(c) in table.columns else np.full(n_sets, np.nan))
        ax.barh(y, np.nan_to_num(values), color=colours, height=0.7)
        spread = np.isfinite(sd) & (sd > 0) & np.isfinite(values)  # error bars only where seeds spread
        if spread.any():
            ax.errorbar(values[spread], y[spread], xerr=sd[spread], fmt="none", ecolor="black", capsize=2, lw=0.8)
        top = np.nanmax(values + np.where(spread, sd, 0)) if np.isfinite(values).any() else 1.0
        for yi, v, e in zip(y, values, np.where(spread, sd, 0.0)):  # the value beyond the bar and its error bar
            at = 0.0 if np.isnan(v) else max(0.0, v + e)
            ax.text(at + 0.015 * max(top, 1e-9), yi, "–" if np.isnan(v) else f"{v:.3f}", va="center", fontsize=7)
        ax.set_xlim(min(0.0, np.nanmin(values) if np.isfinite(values).any() else 0.0), max(top, 1e-9) * 1.18)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_title(headline_label(c), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_yticks(y, names, fontsize=8)
    axes[0, 0].invert_yaxis()  # the y axis is shared: the first set on top in every panel
    fig.suptitle(f"vector sets on {table['vocabulary'][0]} shared words", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def write_comparison(table: "pl.DataFrame", out_dir: str | Path) -> dict[str, Any]:
    """Write ``comparison.parquet``, ``comparison.md`` and ``comparison.png`` under ``out_dir``.

    Returns the flat metrics (:func:`comparison_metrics`) for the stage's
    ``metrics.json``; the stage writes that file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out_dir / "comparison.parquet")
    (out_dir / "comparison.md").write_text(_markdown(table), encoding="utf-8")
    _plot(table, out_dir / "comparison.png")
    return comparison_metrics(table)
