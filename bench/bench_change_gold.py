"""Graded semantic change as SemEval-2020 Task 1 scores it, on generated benchmarks: CADE vs SGNS + OP.

For each design (``swap``: uses of a target replaced by a donor's at its rate, frequencies kept; ``insert``:
the target written into a donor's contexts, so its frequency grows) and each benchmark seed, a SemEval-layout
benchmark is generated from a real corpus (:func:`pipeline.diachronic.benchmark.make_change_benchmark`:
targets drawn from two frequency bands, graded rates spread over (0, 0.8], stable controls at rate 0,
binary truth = rate >= 0.3), then the pipeline's own DAG (``GoldData`` -> slices -> ``DiachronicReport`` per
method -> ``ChangeEvaluation``) scores every method and measure over the training seeds: graded Spearman
over the targets with a percentile bootstrap CI, binary accuracy (top-k rule), the seed spread.

Methods, at equal settings (the reference CADE settings; DESIGN.md): CADE (compass + slices against its
frozen context matrix) and the SemEval-winning type-based recipe, skip-gram with negative sampling per corpus
+ orthogonal Procrustes (``method: procrustes``, ``architecture: sgns``); each with cosine, local
neighbourhood and (length-normalised, mean-centred) Euclidean distance.

    .venv/bin/python bench/bench_change_gold.py                       # KJV, swap + insert, 3 gold seeds
    .venv/bin/python bench/bench_change_gold.py --corpus sotu --gold-seeds 0 1 --seeds 1 2 3

Writes ``bench/results/change_gold_<corpus>.json`` and prints a markdown table per design.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

SPEC = """tokenizer: {{pretokenized: true}}
cade: {{vector_size: {dim}, window: 5, negative: 10, min_count: 5, compass_epochs: 5, slice_epochs: 5, slice_alpha: {slice_alpha}}}
procrustes: {{architecture: sgns, vector_size: {dim}, window: 5, negative: 10, min_count: 5, epochs: 5}}
report: {{min_freq: 5, seeds: {seeds}, stopwords: none, plot_words: 0}}
gold:
  kind: token
  language: en
  generate: {{corpora: [{corpus}], design: {design}, n_targets: {targets}, n_stable: {stable}, seed: {gold_seed}}}
evaluation: {{methods: [cade, procrustes]}}
"""


def run_one(corpus: str, design: str, gold_seed: int, seeds: list[int], dim: int, targets: int, stable: int,
            workdir: Path, slice_alpha: float = 0.025) -> dict:
    import luigi

    project = workdir / f"{design}-{gold_seed}"
    (project / "tasks" / "diachronic").mkdir(parents=True, exist_ok=True)
    if not (project / "corpora").exists():
        (project / "corpora").symlink_to(ROOT / "corpora")
    (project / "tasks" / "diachronic" / "bench.yaml").write_text(SPEC.format(
        dim=dim, seeds=seeds, corpus=corpus, design=design, targets=targets, stable=stable, gold_seed=gold_seed,
        slice_alpha=slice_alpha))
    os.environ["CHRONOLINGUA_HOME"] = str(project)
    luigi.task_register.Register.clear_instance_cache()
    from pipeline.dag.base import _SPEC_CACHE
    from pipeline.dag.diachronic import ChangeEvaluation

    _SPEC_CACHE.clear()
    task = ChangeEvaluation(spec="bench")
    t0 = time.perf_counter()
    ok = luigi.build([task], local_scheduler=True, workers=1, log_level="WARNING")
    if not ok:
        raise SystemExit(f"{design} seed {gold_seed}: the evaluation failed (see the log)")
    ev = json.loads((task.output().path / "evaluation.json").read_text())
    ev["seconds"] = time.perf_counter() - t0
    return ev


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="kjv")
    ap.add_argument("--designs", nargs="+", default=["swap", "insert"])
    ap.add_argument("--gold-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds per method")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--targets", type=int, default=24)
    ap.add_argument("--stable", type=int, default=8)
    ap.add_argument("--slice-alpha", type=float, default=0.025, help="CADE's slice learning rate (reference 0.025)")
    ap.add_argument("--workdir", help="keep the projects here (default: a temporary folder)")
    a = ap.parse_args()
    workdir = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-change-gold-"))
    results: dict = {"corpus": a.corpus, "seeds": a.seeds, "dim": a.dim, "targets": a.targets,
                     "slice_alpha": a.slice_alpha,
                     "stable": a.stable, "runs": {}}
    for design in a.designs:
        for g in a.gold_seeds:
            ev = run_one(a.corpus, design, g, a.seeds, a.dim, a.targets, a.stable, workdir, a.slice_alpha)
            results["runs"][f"{design}/{g}"] = ev
            print(f"{design} gold seed {g}: {ev['seconds']:.0f} s", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"change_gold_{a.corpus}_alpha{a.slice_alpha:g}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    for design in a.designs:
        runs = [results["runs"][f"{design}/{g}"] for g in a.gold_seeds]
        names = list(runs[0]["methods"])
        print(f"\n### {design} ({a.corpus}, {a.targets} changed + {a.stable} stable targets, "
              f"{len(a.gold_seeds)} benchmarks x {len(a.seeds)} training seeds)\n")
        print("| method/measure | graded Spearman per benchmark (mean over seeds) [95% CI] | mean | "
              "seed sd (mean) | binary acc. (mean) |")
        print("|---|---|---|---|---|")
        rows = []
        for n in names:
            per = [r["methods"][n] for r in runs]
            rho = [p["graded_spearman"] for p in per]
            cells = ", ".join(f"{p['graded_spearman']:.3f} [{p['graded_spearman_ci'][0]:.2f}, "
                              f"{p['graded_spearman_ci'][1]:.2f}]" for p in per)
            sd = np.mean([p["graded_spearman_sd"] or 0.0 for p in per])
            acc = np.mean([p["binary_accuracy"] for p in per])
            rows.append((float(np.mean(rho)), f"| `{n}` | {cells} | {np.mean(rho):.3f} | {sd:.3f} | {acc:.3f} |"))
        for _, line in sorted(rows, reverse=True):
            print(line)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
