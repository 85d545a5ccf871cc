"""Synthetic semantic change: inject known changes into one slice of a real
corpus and measure how well each method ranks the injected words first.

The corpus's sentences (default: the World English Bible) are shuffled
(seeded) and split into two halves, so the two slices share one meaning of
every word. In the second half, N (target, donor) pairs get a known change by
one of two designs (``--designs``, both by default):

The designs are the library's (:mod:`pipeline.diachronic.synthetic`):

* ``insert`` (the pseudo-word method): a fraction ``--rate`` of the donor's
  occurrences is replaced by the target, so the target starts appearing in
  the donor's contexts. The target's frequency grows too (donors are 300-3000
  per half, targets 40-200): a frequency change rides along with the meaning
  change, and the donors' frequency halves with no change of meaning;
* ``swap`` (frequency preserved): for each pair, k = rate x (the target's
  count in the half) target occurrences become the donor and k donor
  occurrences become the target. Target and donor keep their frequencies;
  the target's contexts are now a fraction ``rate`` donor contexts. Donors
  change too (by k / their count) and are left out of the ranking.

Every word at or above a frequency floor in both slices is ranked by each
change measure (cosine distance; Hamilton et al.'s local neighbourhood
distance); the average precision (AP) of the injected targets is reported for
CADE and for the classic baseline (independent CBOW per slice + orthogonal
Procrustes), with the same data, settings and seeds. ``--cade-slice-alpha``
adds CADE runs with other slice learning rates (the reference's 0.025 always
runs); ``--corpus sotu`` gives a second corpus to choose such settings on
before looking at WEB.

    .venv/bin/python bench/bench_synthetic_change.py [--seeds 1 2 3] [--pairs 20] [--rate 0.5] \
        [--designs insert swap] [--cade-slice-alpha 0.01]
"""
from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from common import add_training_args, method_names, save_result, shuffled_halves, trained_methods, write_lines

from pipeline.diachronic.synthetic import DESIGNS, choose_pairs


MEASURES = ("cosine_distance", "local_neighbourhood_distance")


def rankings(a, b, floor: int) -> dict[str, list[str]]:
    """Every word with at least ``floor`` occurrences in both slices, most changed first, per measure."""
    from pipeline.diachronic.change import change_table

    table = change_table({"a": a, "b": b}, pairs=[("a", "b")], min_freq=floor, k=25)
    return {m: table.sort(m, descending=True)["word"].to_list() for m in MEASURES}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="web")
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--floors", type=int, nargs="+", default=[20, 50])
    add_training_args(ap)
    ap.add_argument("--designs", nargs="+", choices=sorted(DESIGNS), default=["insert", "swap"])
    ap.add_argument("--target-band", type=int, nargs=2, default=[40, 200], metavar=("LO", "HI"),
                    help="targets are drawn among words seen LO..HI times in each half")
    args = ap.parse_args()
    from pipeline.diachronic.change import average_precision

    rng = random.Random(0)
    a_sents, b_clean, ca, cb = shuffled_halves(args.corpus, rng)
    pairs = choose_pairs(ca, cb, args.pairs, rng, target_band=tuple(args.target_band))  # donor -> target
    targets, donors = list(pairs.values()), list(pairs)
    relevant = set(targets)
    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    rows, summary, tables = {}, {}, []
    for design in args.designs:
        b_sents = DESIGNS[design](b_clean, pairs, args.rate, random.Random(1))
        cb2 = Counter(w for s in b_sents for w in s)
        excluded = set(donors) if design == "swap" else set()
        print(f"{design}: {len(a_sents)} + {len(b_sents)} sentences; {args.pairs} injected targets (rate {args.rate}), "
              f"(target, donor, target count before -> after in b): "
              f"{[(t, d, cb[t], cb2[t]) for d, t in sorted(pairs.items(), key=lambda p: p[1])][:6]} ...", flush=True)
        files = {"a": write_lines(a_sents, work / "a.txt"), "b": write_lines(b_sents, work / f"b-{design}.txt")}
        runs: dict[str, list] = {m: [] for m in method_names(args)}
        for seed, method, vecs, secs in trained_methods(files, work, args):
            for floor in args.floors:
                for measure, ranked in rankings(vecs["a"], vecs["b"], floor).items():
                    ranked = [w for w in ranked if w not in excluded]
                    ap_ = average_precision(ranked, relevant)
                    hits = len(relevant & set(ranked[:args.pairs]))
                    runs[method].append({"seed": seed, "floor": floor, "measure": measure, "ap": ap_,
                                         "n_ranked": len(ranked), "hits_in_top_n": hits, "seconds": round(secs, 1)})
                    print(f"{design} seed {seed} {method:11s} floor {floor:3d} {measure:29s} AP={ap_:.3f} "
                          f"({len(ranked)} ranked, {hits} targets in top {args.pairs})", flush=True)
        rows[design] = runs
        heads = " | ".join(f"{m} AP" for m in runs)
        lines = [f"| design | floor | measure | {heads} |  (mean ± std over {len(args.seeds)} seeds)",
                 "|---|---|---|" + "---|" * len(runs)]
        for floor in args.floors:
            for measure in MEASURES:
                cells = []
                for m, rs in runs.items():
                    vals = [r["ap"] for r in rs if r["floor"] == floor and r["measure"] == measure]
                    summary[f"{design}-{m}_ap_mean-floor{floor}-{measure}"] = float(np.mean(vals))
                    summary[f"{design}-{m}_ap_std-floor{floor}-{measure}"] = float(np.std(vals))
                    cells.append(f"{np.mean(vals):.3f} ± {np.std(vals):.3f}")
                lines.append(f"| {design} | {floor} | {measure} | {' | '.join(cells)} |")
        tables.append("\n".join(lines))
    print("\n" + "\n\n".join(tables))
    name = "synthetic_change" if args.corpus == "web" else f"synthetic_change_{args.corpus}"
    if args.target_band != [40, 200]:
        name += f"_targets{args.target_band[0]}-{args.target_band[1]}"
    path = save_result(name, {"args": vars(args), "pairs": pairs, "summary": summary, "runs": rows})
    print("wrote", path)


if __name__ == "__main__":
    main()
