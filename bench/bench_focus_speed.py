"""FOCUS initialisation speed on the declared 50k x 50k synthetic set of WECHSEL, beside WECHSEL and the bare product.

The set is :func:`bench_wechsel_speed.synthetic_set` (issue 4): 50,000 target and 50,000 source
vectors, 300-d Gaussian, 1% of the target rows all-zero, a source model matrix of 50,000 x 768. For
FOCUS the 50,000 source rows are the shared tokens: the auxiliary matrix is the 50,000 new target
tokens' vectors followed by the shared tokens' vectors (target ids 50,000 + i, source id i), so its
similarity search is the same 50k x 50k x 300 product as WECHSEL's. Measured, interleaved, ``--runs``
times (default 3):

- ``product``: the bare float32 product ``T @ S.T`` in 4096-row blocks (numpy sgemm), nothing else
  (as ``bench_wechsel_speed``);
- ``wechsel``: :func:`pipeline.transfer.embeddings.create_target_embeddings` (k 10, temperature 0.1);
- ``focus``: :func:`pipeline.transfer.focus.create_focus_embeddings` (copies, the product, exact
  sparsemax over all 50,000 shared tokens, the weighted sums, the fallback draws).

Each run's seconds, the median and the minimum, and the ratios of the medians are printed and saved to
``bench/results/focus_speed.json``. ``--device cuda`` runs WECHSEL and FOCUS on a GPU.

    .venv/bin/python bench/bench_focus_speed.py [--n 50000] [--runs 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from common import save_result  # sets sys.path to the repository


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--model-dim", type=int, default=768)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch

    try:
        from bench_wechsel_speed import synthetic_set
    except ImportError:
        sys.exit("bench_wechsel_speed.py has no synthetic_set(n, dim, model_dim) to import the declared set from")
    from pipeline.transfer.embeddings import create_target_embeddings
    from pipeline.transfer.focus import create_focus_embeddings

    n = args.n
    src, tgt, E = synthetic_set(n, args.dim, args.model_dim)
    src_u = src / np.linalg.norm(src, axis=1, keepdims=True)
    tgt_u = tgt / (np.linalg.norm(tgt, axis=1, keepdims=True) + 1e-30)
    aux = np.concatenate([tgt, src])
    shared = [(n + i, i) for i in range(n)]

    def product():
        for s in range(0, n, 4096):
            _ = tgt_u[s:s + 4096] @ src_u.T

    runs: dict[str, list[float]] = {"product": [], "wechsel": [], "focus": []}
    focus = None
    for r in range(args.runs):
        runs["product"].append(_timed(product)[0])
        runs["wechsel"].append(_timed(lambda: create_target_embeddings(src, tgt, E, neighbors=10, temperature=0.1,
                                                                       device=args.device))[0])
        seconds, focus = _timed(lambda: create_focus_embeddings(E, aux, shared, device=args.device))
        runs["focus"].append(seconds)
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()), flush=True)

    med = {k: statistics.median(v) for k, v in runs.items()}
    combined = ~focus.copied & ~focus.fallback
    support = (focus.weights[combined] > 0).sum(1)
    result = {"n_new": n, "n_shared": n, "dim": args.dim, "model_dim": args.model_dim, "runs": args.runs,
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "device": args.device,
              "load_average_1min": round(os.getloadavg()[0], 2),
              **{f"{k}_seconds": [round(x, 2) for x in v] for k, v in runs.items()},
              **{f"{k}_seconds_median": round(v, 2) for k, v in med.items()},
              **{f"{k}_seconds_min": round(min(v), 2) for k, v in runs.items()},
              "focus_over_product": round(med["focus"] / med["product"], 3),
              "wechsel_over_product": round(med["wechsel"] / med["product"], 3),
              "focus_over_wechsel": round(med["focus"] / med["wechsel"], 3),
              "focus_rows_combined": int(combined.sum()), "focus_rows_fallback": int(focus.fallback.sum()),
              "focus_rows_copied": int(focus.copied.sum()),
              "focus_support_mean": round(float(support.mean()), 2), "focus_support_max": int(support.max())}
    for key, value in result.items():
        print(f"{key:26s} {value}")
    save_result("focus_speed", result)


if __name__ == "__main__":
    sys.exit(main())
