"""WECHSEL target-embedding speed: ours vs the reference ``wechsel`` 0.0.4, and vs the bare product.

Declared synthetic set (issue 4): 50,000 target and 50,000 source subwords,
300-d static vectors (Gaussian, 1% of target rows all-zero so the fallback
path runs), a source model matrix of 50,000 x 768 (RoBERTa-base width),
k = 10, temperature 0.1. Measured in one run:

- ``reference``: ``wechsel.create_target_embeddings`` on float32 rows (its
  fastest setting; ``WECHSEL.apply`` would hand it float64);
- ``ours``: :func:`pipeline.transfer.embeddings.create_target_embeddings`,
  neighbour selection, softmax weights, weighted sums and fallback included;
- ``product``: the bare float32 similarity product ``T @ S.T`` in the same
  4096-row blocks (numpy sgemm), nothing else.

Also checks that the two implementations agree (neighbour sets, fallback
rows, max abs difference). ``--device cuda`` runs ours on a GPU.

    .venv/bin/python bench/bench_wechsel_speed.py [--n 50000] [--skip-reference]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from common import save_result  # sets sys.path to the repository


def synthetic_set(n: int = 50_000, dim: int = 300, model_dim: int = 768, seed: int = 0):
    """The declared set: source and target static vectors (n x dim, Gaussian, 1% of target rows all-zero)
    and a source model matrix (n x model_dim)."""
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n, dim), dtype=np.float32)
    tgt = rng.standard_normal((n, dim), dtype=np.float32)
    tgt[rng.choice(n, n // 100, replace=False)] = 0
    E = rng.standard_normal((n, model_dim), dtype=np.float32)
    return src, tgt, E


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--model-dim", type=int, default=768)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()

    import torch

    from pipeline.transfer.embeddings import create_target_embeddings
    from pipeline.transfer.reference import VocabTokenizer, reference_create_target_embeddings

    n, d = args.n, args.dim
    src, tgt, E = synthetic_set(n, d, args.model_dim)
    src_u = src / np.linalg.norm(src, axis=1, keepdims=True)
    tgt_u = tgt / (np.linalg.norm(tgt, axis=1, keepdims=True) + 1e-30)
    result = {"n_source": n, "n_target": n, "dim": d, "model_dim": args.model_dim, "k": 10,
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "device": args.device}

    t0 = time.perf_counter()
    for s in range(0, n, 4096):
        _ = tgt_u[s:s + 4096] @ src_u.T
    result["product_seconds"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    ours = create_target_embeddings(src, tgt, E, neighbors=10, temperature=0.1, device=args.device)
    result["ours_seconds"] = round(time.perf_counter() - t0, 2)
    result["ours_over_product"] = round(result["ours_seconds"] / result["product_seconds"], 3)

    if not args.skip_reference:
        st = VocabTokenizer([f"s{i}" for i in range(n)])
        tt = VocabTokenizer([f"t{i}" for i in range(n)])
        t0 = time.perf_counter()
        ref, not_found, sources = reference_create_target_embeddings(src, tgt, st, tt, E, dtype=np.float32)
        result["reference_seconds"] = round(time.perf_counter() - t0, 2)
        result["speedup_vs_reference"] = round(result["reference_seconds"] / result["ours_seconds"], 2)
        matched = np.flatnonzero(~ours.fallback)
        same = np.array([set(int(x[1:]) for x in sources[f"t{i}"][0]) == set(ours.neighbours[i].tolist())
                         for i in matched])
        result["matched_rows"] = int(len(matched))
        result["same_neighbour_sets"] = int(same.sum())
        # a differing set is acceptable only where the k-th and (k+1)-th similarities tie in float precision
        gaps = []
        for i in matched[~same]:
            row = tgt_u[i] @ src_u.T
            top = np.sort(row)[-11:]
            gaps.append(float(top[1] - top[0]))
        result["differing_rows_kth_gap_max"] = max(gaps) if gaps else None
        result["same_fallback_rows"] = sorted(int(t[1:]) for t in not_found) == np.flatnonzero(ours.fallback).tolist()
        ok = matched[same]
        result["max_abs_diff_same_sets"] = float(np.abs(ref[ok] - ours.matrix[ok]).max())

    for key, value in result.items():
        print(f"{key:24s} {value}")
    save_result("wechsel_speed", result)


if __name__ == "__main__":
    sys.exit(main())
