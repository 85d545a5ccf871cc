"""The key results of a spec's final stages, for the front page: a few figures per stage kind, read from
the stage's own files (``metrics.json``, ``evaluation.json``, ``top_changed.parquet``, ``comparison.parquet``).

:func:`stage_summary` gives ``(label, value)`` pairs, the value already text; a figure a stage's files lack is
left out, never guessed, and a kind without a summary gives none. A folder whose files cannot be read gives
one pair saying so: the front page is still written.

>>> import json, tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "metrics.json").write_text(json.dumps({"retrieval_mrr-wechsel": 0.1633, "retrieval_mrr-random_init":
...     0.0093, "retrieval_mrr-english_model": 0.1279, "retrieval_pairs": 678, "init": "wechsel"}))
>>> stage_summary("transfer", d)
[('verse retrieval MRR, 678 pairs', 'wechsel 0.163 · English model 0.128 · random init 0.009')]
"""
from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

__all__ = ["stage_summary", "SUMMARIES"]

#: the most changed words shown for one pair of slices
TOP_WORDS = 8


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _f(value: Any) -> str | None:
    v = _num(value)
    return None if v is None else f"{v:.3f}"


def _metrics(folder: Path) -> dict:
    data = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("metrics.json is no JSON object")
    return data


def _change_eval(folder: Path) -> list[tuple[str, str]]:
    ev = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    methods = ev.get("methods") if isinstance(ev, dict) else None
    if not isinstance(methods, dict):
        return []
    methods = {k: v for k, v in methods.items() if isinstance(v, dict)}
    out = []
    rec = ev.get("recommended")
    if rec in methods:
        r = methods[rec]
        rho, ci = _f(r.get("graded_spearman")), r.get("graded_spearman_ci")
        if rho is not None:
            shown = (f" [{_f(ci[0])}, {_f(ci[1])}]" if isinstance(ci, list) and len(ci) == 2
                     and None not in (_f(ci[0]), _f(ci[1])) else "")
            out.append((f"graded Spearman, {rec} (recommended), 95% CI", rho + shown))
        accuracy = _f(r.get("binary_accuracy"))
        if accuracy is not None:
            out.append((f"binary accuracy, {rec}", accuracy))
    graded = {k: _num(v.get("graded_spearman")) for k, v in methods.items()}
    graded = {k: v for k, v in graded.items() if v is not None}
    if graded:
        best = max(graded, key=graded.get)
        out.append(("best graded Spearman", f"{best} {graded[best]:.3f}"))
    return out


def _diachronic(folder: Path) -> list[tuple[str, str]]:
    import polars as pl

    m = _metrics(folder)
    out = []
    path = folder / "top_changed.parquet"
    if path.is_file():
        t = pl.read_parquet(path)
        if {"word", "slice_a", "slice_b", "rank"} <= set(t.columns) and t.height:
            first = t.row(0, named=True)
            pair = t.filter((pl.col("slice_a") == first["slice_a"]) & (pl.col("slice_b") == first["slice_b"]))
            words = pair.sort("rank")["word"].head(TOP_WORDS).to_list()
            out.append((f"most changed, {first['slice_a']} → {first['slice_b']}", ", ".join(map(str, words))))
    stability = _f(m.get("top_n_mean_jaccard_across_seeds"))
    if stability is not None:
        out.append((f"top list overlap across {m.get('n_seeds', '?')} seeds (Jaccard)", stability))
    if _num(m.get("n_words")) is not None:
        out.append(("words compared", f"{int(m['n_words']):,}"))
    return out


def _aligned(folder: Path) -> list[tuple[str, str]]:
    m = _metrics(folder)
    out = []
    for key, value in m.items():
        hit = re.fullmatch(r"bli_(.+)_precision_at_1-(csls_knn_\d+)", key)
        if hit and _f(value) is not None:
            pair, method = hit.groups()
            mrr = _f(m.get(f"bli_{pair}_mrr-{method}"))
            queries = m.get(f"bli_{pair}_queries")
            label = f"BLI {pair} (CSLS)" + (f", {queries:,} queries" if isinstance(queries, int) else "")
            out.append((label, f"P@1 {_f(value)}" + (f" · MRR {mrr}" if mrr else "")))
    return out


def _retrieval(m: dict) -> list[tuple[str, str]]:
    arms = {k.split("-", 1)[1]: _f(v) for k, v in m.items() if k.startswith("retrieval_mrr-")}
    arms = {k: v for k, v in arms.items() if v is not None}
    if not arms:
        return []
    order = sorted(arms, key=lambda a: (a in ("english_model", "random_init"), a == "random_init"))
    pairs = m.get("retrieval_pairs")
    label = "verse retrieval MRR" + (f", {pairs:,} pairs" if isinstance(pairs, int) else "")
    return [(label, " · ".join(f"{a.replace('_', ' ').replace('english', 'English')} {arms[a]}"
                               for a in order))]


def _transfer(folder: Path) -> list[tuple[str, str]]:
    return _retrieval(_metrics(folder))


def _pretrain(folder: Path) -> list[tuple[str, str]]:
    m = _metrics(folder)
    out = _retrieval(m)
    first, final = _f(m.get("first_loss")), _f(m.get("final_loss"))
    if first and final:
        out.append((f"{m.get('objective', '')} loss over {m.get('steps_run', '?')} steps".strip(),
                     f"{first} → {final}"))
    return out


def _specialized(folder: Path) -> list[tuple[str, str]]:
    m = _metrics(folder)
    out = []
    for key in ("simlex999_spearman", *(k[len("after_"):] for k in m if re.fullmatch(r"after_bli_.+_mrr-csls.*", k))):
        before, after = _f(m.get(f"before_{key}")), _f(m.get(f"after_{key}"))
        if after is not None:
            label = ("SimLex-999 Spearman" if key == "simlex999_spearman"
                     else f"BLI {key.split('_')[1]} MRR (CSLS)")
            out.append((label + ", before → after", f"{before or '?'} → {after}"))
    return out


def _static_compare(folder: Path) -> list[tuple[str, str]]:
    import polars as pl

    from pipeline.static.compare import headline_cells, headline_label

    cols, rows = headline_cells(pl.read_parquet(folder / "comparison.parquet"))
    out = []
    for i, c in enumerate(cols):
        best = [(name, cells[i][0]) for name, _, cells in rows if cells[i][2]]
        if best:
            out.append((f"best {headline_label(c)}", " · ".join(f"{n} {_f(v)}" for n, v in best)))
    return out


#: stage kind -> its summary (``(label, value)`` pairs)
SUMMARIES: dict[str, Callable[[Path], list[tuple[str, str]]]] = {
    "change-eval": _change_eval, "cade-report": _diachronic, "procrustes-report": _diachronic,
    "aligned": _aligned, "transfer": _transfer, "pretrain": _pretrain, "specialized": _specialized,
    "static-compare": _static_compare,
}


def stage_summary(stage: str, folder: Path) -> list[tuple[str, str]]:
    """The key results of the complete stage ``folder`` of kind ``stage``; [] for a kind without a summary.
    Files that cannot be read give one pair naming the error (logged), not an exception."""
    summary = SUMMARIES.get(stage)
    if summary is None:
        return []
    try:
        return summary(Path(folder))
    except Exception as exc:  # noqa: BLE001 - any unreadable file: the front page is still written
        log.warning("%s/%s: its results could not be read for the front page (%s: %s)", stage, Path(folder).name,
                    type(exc).__name__, exc)
        return [("results", f"could not be read ({type(exc).__name__})")]
