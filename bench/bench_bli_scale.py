"""Scale: Procrustes + CSLS refinement and BLI on a 200k x 300 vocabulary per side, in bounded memory.

Synthetic spaces: source rows with a decaying spectrum (frequency order is
row order), target = source @ Q + noise for a random rotation Q. A seed
dictionary of ``--seed-pairs`` pairs (10% of them wrong) starts
:func:`pipeline.multilingual.fit_mapping`; 5 CSLS refinements follow; then
BLI (NN and CSLS, k=10) of ``--test`` held-out source words against all
200k targets. CSLS over the full vocabulary means an all-sources x
all-targets pass (never held in memory: blocks of at most 64 Mi scores).

Refinement runs with ``neighbourhood="max_rank"`` (CSLS terms and candidates
among the 15,000 most frequent words: O(15k^2) per step). One refinement
step with ``neighbourhood="full"`` (as MUSE: two all x all passes per step)
is timed on the first ``--full-n`` words per side, to show that cost
without spending tens of minutes on the shared machine (``--full-n 200000``
times it at full size).

    .venv/bin/python bench/bench_bli_scale.py [--n 200000] [--dim 300] [--full-n 50000]

Reports wall time per phase and the peak resident set size (``ru_maxrss``)
after each phase to ``bench/results/bli_scale.json``.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from common import save_result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def synthetic(n: int, dim: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim), dtype=np.float32)
    X *= np.linspace(1.5, 0.5, dim, dtype=np.float32)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    Q = Q.astype(np.float32)
    Y = X @ Q
    Y += (noise * rng.standard_normal((n, dim), dtype=np.float32)) * np.float32(np.sqrt(np.mean(X * X)))
    return X, Y, Q


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--noise", type=float, default=3.0, help="noise std relative to the vectors' rms value")
    ap.add_argument("--seed-pairs", type=int, default=5000)
    ap.add_argument("--test", type=int, default=1500)
    ap.add_argument("--max-rank", type=int, default=15000)
    ap.add_argument("--full-n", type=int, default=50_000)
    args = ap.parse_args(argv)

    from pipeline.multilingual import MappingSettings, evaluate_bli, fit_mapping

    phases = {}
    t0 = time.perf_counter()
    X, Y, Q = synthetic(args.n, args.dim, args.noise)
    phases["generate"] = {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(peak_rss_mib())}
    print("generated", phases["generate"], flush=True)

    rng = np.random.default_rng(1)
    seed = np.stack([np.arange(args.seed_pairs)] * 2, axis=1)
    wrong = rng.choice(args.seed_pairs, args.seed_pairs // 10, replace=False)
    seed[wrong, 1] = rng.integers(0, args.n, wrong.size)
    test_rows = np.arange(args.n - args.test, args.n)  # rare words, none in the seed
    test = np.stack([test_rows, test_rows], axis=1)

    settings = MappingSettings(n_refinement=5, max_rank=args.max_rank, neighbourhood="max_rank")
    steps = []
    t0 = time.perf_counter()
    alignment = fit_mapping(X, Y, seed, settings, callback=lambda it, al: steps.append(
        {"iteration": it, "pairs": al.history[-1]["pairs"], "seconds": al.history[-1]["seconds"],
         "rotation_error": float(np.linalg.norm(al.W - Q))}))
    phases["refinement_max_rank"] = {"seconds": round(time.perf_counter() - t0, 1),
                                     "peak_rss_mib": round(peak_rss_mib()), "steps": steps}
    print("refinement", phases["refinement_max_rank"], flush=True)

    t0 = time.perf_counter()
    mapped = alignment.map(X)
    metrics = evaluate_bli(mapped, alignment.map_target(Y), test)
    phases["bli"] = {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(peak_rss_mib()),
                     "metrics": metrics}
    print("bli", phases["bli"], flush=True)
    del mapped

    if args.full_n:
        m = min(args.full_n, args.n)
        full = MappingSettings(n_refinement=1, max_rank=args.max_rank, neighbourhood="full")
        sub_seed = seed[(seed[:, 0] < m) & (seed[:, 1] < m)]
        t0 = time.perf_counter()
        al = fit_mapping(X[:m], Y[:m], sub_seed, full)
        phases["one_full_refinement_step"] = {
            "n": m, "seconds": round(time.perf_counter() - t0, 1),
            "seconds_refinement_step": al.history[-1]["seconds"], "peak_rss_mib": round(peak_rss_mib()),
            "pairs": al.history[-1]["pairs"], "rotation_error": float(np.linalg.norm(al.W - Q))}
        print("full step", phases["one_full_refinement_step"], flush=True)

    result = {"n": args.n, "dim": args.dim, "noise": args.noise, "seed_pairs": args.seed_pairs,
              "seed_pairs_wrong": int(wrong.size), "test_queries": args.test,
              "settings": settings.to_mapping(), "phases": phases,
              "total_seconds_refinement_and_bli": round(phases["refinement_max_rank"]["seconds"]
                                                        + phases["bli"]["seconds"], 1),
              "peak_rss_mib": round(peak_rss_mib()),
              "input_mib": round((X.nbytes + Y.nbytes) / 2**20)}
    path = save_result("bli_scale", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
