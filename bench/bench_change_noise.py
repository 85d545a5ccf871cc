"""Change-measure noise with no change at all: where do CADE and the Procrustes
baseline put words that did not change?

A corpus's sentences (default: WEB) are shuffled (seeded) and split in two
halves: the same text, no word changed, so every cross-slice distance is noise.
Words at or above the frequency floor in both halves are grouped into
frequency bins (by the smaller of their two counts); per bin and method:

* ``distance``: mean cosine distance of a word's two slice vectors (the raw
  change measure on unchanged words: lower is better);
* ``to_bin_mean``: mean cosine of a word's vector to the mean vector of its
  bin (how much of the vector is a component shared by all words of that
  frequency rather than the word's own);
* ``specific``: mean cross-slice cosine after each slice's bin mean is
  removed (stability of the word-specific part: higher is better);
* ``norm``: mean vector norm.

This explains the cosine rows of ``bench_synthetic_change.py``: a large shared
component among rare words compresses their raw distances (noise and change
alike), so rare unchanged words crowd the top of a ranking less.

    .venv/bin/python bench/bench_change_noise.py [--seeds 1 2 3] [--cade-slice-alpha 0.01]

Writes bench/results/change_noise_<corpus>.json and a PNG of the three measures per bin.
"""
from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np

from common import (add_training_args, method_names, save_result, shuffled_halves,
                    trained_methods, unit, write_lines)

BINS = ((20, 40), (40, 80), (80, 200), (200, 1000), (1000, None))


def bin_stats(A: np.ndarray, B: np.ndarray) -> dict:
    """The four measures for one bin's rows of slice a (A) and slice b (B)."""
    Au, Bu = unit(A), unit(B)
    mean_a, mean_b = A.mean(0), B.mean(0)
    Ar, Br = unit(A - mean_a), unit(B - mean_b)
    return {"n": int(len(A)), "distance": float(np.mean(1 - (Au * Bu).sum(1))),
            "to_bin_mean": float(np.mean(Au @ (mean_a / np.linalg.norm(mean_a)))),
            "specific": float(np.mean((Ar * Br).sum(1))),
            "norm": float(np.mean(np.linalg.norm(A, axis=1)))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="web")
    ap.add_argument("--floor", type=int, default=20)
    add_training_args(ap, slice_alphas=[0.01])
    args = ap.parse_args()

    a_sents, b_sents, ca, cb = shuffled_halves(args.corpus, random.Random(0))
    work = Path(tempfile.mkdtemp(prefix="bench-noise-"))
    files = {"a": write_lines(a_sents, work / "a.txt"), "b": write_lines(b_sents, work / "b.txt")}
    rows: dict[str, list] = {m: [] for m in method_names(args)}
    for seed, method, vecs, _ in trained_methods(files, work, args):
        va, vb = vecs["a"], vecs["b"]
        words = [w for w in va.index_to_key if w in vb.key_to_index and min(ca[w], cb[w]) >= args.floor]
        freq = np.array([min(ca[w], cb[w]) for w in words])
        A, B = va[words], vb[words]
        for lo, hi in BINS:
            m = (freq >= lo) & (freq < (hi or np.inf))
            if m.sum() > 1:
                rows[method].append({"seed": seed, "bin": f"{lo}-{hi or ''}", **bin_stats(A[m], B[m])})
    summary = {}
    print(f"\nno change (two halves of {args.corpus}), mean over {len(args.seeds)} seeds:")
    print("| method | bin | words | distance | to_bin_mean | specific | norm |\n|---|---|---|---|---|---|---|")
    for method, rs in rows.items():
        for lo, hi in BINS:
            b = f"{lo}-{hi or ''}"
            sel = [r for r in rs if r["bin"] == b]
            if not sel:
                continue
            means = {k: float(np.mean([r[k] for r in sel])) for k in ("distance", "to_bin_mean", "specific", "norm")}
            summary[f"{method}-{b}"] = means
            print(f"| {method} | {b} | {sel[0]['n']} | {means['distance']:.3f} | {means['to_bin_mean']:.3f} | "
                  f"{means['specific']:.3f} | {means['norm']:.2f} |")
    path = save_result(f"change_noise_{args.corpus}", {"args": vars(args), "summary": summary, "runs": rows})
    print("wrote", path, plot(summary, path.with_suffix(".png"), args.corpus))


def plot(summary: dict, path: Path, corpus: str) -> Path:
    """Distance, shared component and specific stability per frequency bin, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(k.rsplit("-", 2)[0] for k in summary))
    bins = [f"{lo}-{hi or ''}" for lo, hi in BINS]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(axes, ("distance", "to_bin_mean", "specific"),
                              ("cosine distance, no change (lower: less noise)",
                               "cosine to the bin's mean vector (shared part)",
                               "cross-slice cosine, bin mean removed")):
        for m in methods:
            xs = [i for i, b in enumerate(bins) if f"{m}-{b}" in summary]
            ax.plot(xs, [summary[f"{m}-{bins[i]}"][key] for i in xs], marker="o", label=m)
        ax.set_xticks(range(len(bins)), bins, rotation=30)
        ax.set_xlabel(f"occurrences per half ({corpus})")
        ax.set_title(title, fontsize=9)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
