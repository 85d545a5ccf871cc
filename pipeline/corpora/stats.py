"""Slice statistics and vocabulary overlap (polars), computed by streaming the slice files.

CADE aligns slices through the words they share with the compass; slices
that share little vocabulary at the training ``min_count`` give vectors whose
alignment rests on few anchors. :func:`overlap_warnings` flags such pairs.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.txt").write_text("x x y\\nx z\\n")
>>> _ = (d / "b.txt").write_text("x y y\\n")
>>> slice_statistics({"a": d / "a.txt", "b": d / "b.txt"}, min_count=2).rows()
[('a', 5, 3, 1), ('b', 3, 2, 1)]
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping, Optional

import polars as pl

__all__ = ["count_tokens", "slice_statistics", "vocabulary_overlap", "overlap_warnings"]


def count_tokens(path: str | Path) -> Counter:
    """Token counts of a slice file (one sentence per line, space-separated), read line by line."""
    counts: Counter = Counter()
    update = counts.update
    with open(path, encoding="utf-8") as f:
        for line in f:
            update(line.split())
    return counts


def _counts(slice_files: Mapping[str, Path], counts: Optional[Mapping[str, Counter]]) -> dict[str, Counter]:
    if counts is not None:
        missing = [k for k in slice_files if k not in counts]
        if not missing:
            return {k: counts[k] for k in slice_files}
    return {name: count_tokens(path) for name, path in slice_files.items()}


def slice_statistics(slice_files: Mapping[str, Path], min_count: int = 5, *,
                     counts: Optional[Mapping[str, Counter]] = None) -> pl.DataFrame:
    """One row per slice: ``slice``, ``tokens`` (running words), ``types`` (distinct words),
    ``types_min_count`` (distinct words occurring at least ``min_count`` times).

    ``counts`` may pass precomputed :func:`count_tokens` results to avoid a second read.
    """
    c = _counts(slice_files, counts)
    rows = [
        {
            "slice": name,
            "tokens": sum(cnt.values()),
            "types": len(cnt),
            "types_min_count": sum(1 for v in cnt.values() if v >= min_count),
        }
        for name, cnt in c.items()
    ]
    return pl.DataFrame(rows, schema={"slice": pl.String, "tokens": pl.Int64, "types": pl.Int64,
                                      "types_min_count": pl.Int64})


_OVERLAP_SCHEMA = {
    "slice_a": pl.String, "slice_b": pl.String,
    "types_a": pl.Int64, "types_b": pl.Int64,
    "shared": pl.Int64, "union": pl.Int64, "jaccard": pl.Float64,
    "coverage_a_by_b": pl.Float64, "coverage_b_by_a": pl.Float64,
    "token_coverage_a_by_b": pl.Float64, "token_coverage_b_by_a": pl.Float64,
}


def vocabulary_overlap(slice_files: Mapping[str, Path], min_count: int = 5, *,
                       counts: Optional[Mapping[str, Counter]] = None) -> pl.DataFrame:
    """Vocabulary overlap of every pair of slices (in the given order, ``a`` before ``b``).

    Vocabularies are the types with at least ``min_count`` occurrences in
    their slice. Columns: ``slice_a``, ``slice_b``, ``types_a``, ``types_b``,
    ``shared`` (types in both), ``union``, ``jaccard`` (shared / union),
    ``coverage_a_by_b`` (shared / types_a: share of a's vocabulary found in
    b's), ``coverage_b_by_a``, ``token_coverage_a_by_b`` (share of a's running
    tokens whose word is in both vocabularies), ``token_coverage_b_by_a``.
    Ratios with an empty denominator are 0.
    """
    c = _counts(slice_files, counts)
    names = list(c)
    vocab = {n: {w for w, v in c[n].items() if v >= min_count} for n in names}
    totals = {n: sum(c[n].values()) for n in names}
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            va, vb = vocab[a], vocab[b]
            shared = va & vb
            union = len(va) + len(vb) - len(shared)
            ta = sum(c[a][w] for w in shared)
            tb = sum(c[b][w] for w in shared)
            rows.append({
                "slice_a": a, "slice_b": b,
                "types_a": len(va), "types_b": len(vb),
                "shared": len(shared), "union": union,
                "jaccard": len(shared) / union if union else 0.0,
                "coverage_a_by_b": len(shared) / len(va) if va else 0.0,
                "coverage_b_by_a": len(shared) / len(vb) if vb else 0.0,
                "token_coverage_a_by_b": ta / totals[a] if totals[a] else 0.0,
                "token_coverage_b_by_a": tb / totals[b] if totals[b] else 0.0,
            })
    return pl.DataFrame(rows, schema=_OVERLAP_SCHEMA)


def overlap_warnings(df: pl.DataFrame, threshold: float = 0.3) -> list[str]:
    """Human-readable warnings for slice pairs whose Jaccard vocabulary overlap is below ``threshold``.

    CADE is unreliable for such pairs: few shared words anchor the alignment,
    and words missing from one slice get no comparable vector there.
    """
    out = []
    if df.height == 0:
        return out
    for row in df.filter(pl.col("jaccard") < threshold).iter_rows(named=True):
        out.append(
            f"slices {row['slice_a']} and {row['slice_b']} share only {row['shared']} of {row['union']} types "
            f"at min_count (jaccard {row['jaccard']:.2f} < {threshold:.2f}; "
            f"{row['coverage_a_by_b']:.0%} of {row['slice_a']}'s and {row['coverage_b_by_a']:.0%} of "
            f"{row['slice_b']}'s vocabulary is shared): CADE alignment between them is unreliable"
        )
    return out
