"""Build time and size on disk of the run report over an output tree (the smoke or full demo's).

    .venv/bin/python bench/bench_report.py --profile smoke [--outputs /path/to/outputs] [--repeat 3]
    .venv/bin/python bench/bench_report.py --synthetic-words 20000 [--slices 5 --seeds 3]

``--synthetic-words N`` measures the diachronic pages at full-demo scale without a full demo: a change-report
stage folder in the real layout (``change.parquet`` with every column the report stage writes, ``top_changed``,
``stability``, ``neighbours``, a success marker) over N made-up words, every consecutive slice pair plus
first-vs-last, and every seed; the values are random draws, labelled as such in the stage's provenance.

Writes the site into a temporary folder (never into the tree measured), first from scratch, then again with
nothing changed (every stage page kept), then with one final stage's pages forced to be rewritten; prints the
seconds of each, the pages written, and the site's bytes on disk (allocated blocks, as ``du``). The tree itself
is only read. Results also go to bench/results/report.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="full")
    ap.add_argument("--outputs", help="the output tree (default: the project's outputs/)")
    ap.add_argument("--repeat", type=int, default=3, help="cold builds to time (median reported)")
    ap.add_argument("--synthetic-words", type=int, default=0, help="a synthetic change report of N words instead")
    ap.add_argument("--slices", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ns = ap.parse_args()
    if ns.outputs:
        os.environ["CHRONOLINGUA_OUTPUTS"] = str(Path(ns.outputs).resolve())

    from pipeline.dag.report import report_plan, store_info
    from pipeline.report import SpecEntry, StageRef, build_site, tree_bytes

    t0 = time.perf_counter()
    keep = None
    if ns.synthetic_words:
        keep = tempfile.TemporaryDirectory(prefix="bench-report-tree-")
        folder = synthetic_report(Path(keep.name), ns.synthetic_words, ns.slices, ns.seeds)
        specs = [SpecEntry("diachronic", "synthetic", stages=(StageRef("cade-report", folder, final=True),))]
        os.environ["CHRONOLINGUA_OUTPUTS"] = f"synthetic: {ns.synthetic_words} words, {ns.slices} slices, " \
                                             f"{ns.seeds} seeds"
    else:
        specs = report_plan(ns.profile)
    plan_s = time.perf_counter() - t0
    n_stages = len({r.folder for s in specs for r in s.stages})
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as d:
        site = Path(d) / "report"
        for _ in range(ns.repeat):
            shutil.rmtree(site, ignore_errors=True)
            res = build_site(specs, site, profile=ns.profile, store=store_info(site))
            cold.append(res.seconds)
        written = res.pages_written
        size = tree_bytes(site)
        n_files = sum(1 for p in site.rglob("*") if p.is_file())
        for _ in range(ns.repeat):
            res = build_site(specs, site, profile=ns.profile, store=store_info(site))
            warm.append(res.seconds)
            assert res.pages_written == 0, "an unchanged plan rewrote a page"
        finals = [r for s in specs for r in s.stages if r.final and (site / "stages" / r.stage / r.folder.name).is_dir()]
        one = {}
        for ref in finals:  # one final stage's page forced out of date: only it is rewritten
            (site / "stages" / ref.stage / ref.folder.name / ".stamp.json").unlink()
            res = build_site(specs, site, profile=ns.profile, store=store_info(site))
            one[f"{ref.stage}/{ref.folder.name}"] = round(res.seconds, 3)
    out = {"profile": ns.profile, "outputs": os.environ.get("CHRONOLINGUA_OUTPUTS", "outputs/"), "specs": len(specs),
           "stage_folders": n_stages, "stage_pages": written, "files": n_files, "bytes_on_disk": size,
           "plan_seconds": round(plan_s, 3), "cold_seconds_median": round(statistics.median(cold), 3),
           "cold_seconds": [round(x, 3) for x in cold], "unchanged_seconds_median": round(statistics.median(warm), 3),
           "one_final_stage_rewritten_seconds": one}
    print(json.dumps(out, indent=1))
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    name = f"report-synthetic-{ns.synthetic_words}.json" if ns.synthetic_words else f"report-{ns.profile}.json"
    (results / name).write_text(json.dumps(out, indent=1) + "\n")
    if keep is not None:
        keep.cleanup()
    return 0


def synthetic_report(root: Path, n_words: int, n_slices: int, n_seeds: int) -> Path:
    """A change-report stage folder in the report stage's layout over random data (see the module docstring)."""
    import numpy as np
    import polars as pl

    from pipeline.identity import write_json
    from pipeline.integrity import write_marker

    rng = np.random.default_rng(0)
    folder = root / "cade-report" / "synthetic-000000000000"
    (folder / "plots").mkdir(parents=True)
    words = [f"w{i:06d}" for i in range(n_words)]
    slices = [f"{1790 + 50 * i}-{1839 + 50 * i}" for i in range(n_slices)]
    pairs = [(slices[i], slices[i + 1]) for i in range(n_slices - 1)] + [(slices[0], slices[-1])]
    freq = {s: rng.zipf(1.3, n_words).clip(20, 10**6) for s in slices}
    frames = []
    for seed in range(1, n_seeds + 1):
        for a, b in pairs:
            cos = rng.random(n_words)
            lnd = rng.random(n_words) * 1.5
            frames.append(pl.DataFrame({
                "word": words, "slice_a": a, "slice_b": b, "freq_a": freq[a], "freq_b": freq[b],
                "cosine_distance": cos, "local_neighbourhood_distance": lnd,
                "rank_cosine": (-cos).argsort().argsort() + 1, "rank_local_neighbourhood": (-lnd).argsort().argsort() + 1,
                "euclidean_distance": rng.random(n_words) * 2, "stopword": rng.random(n_words) < 0.05,
                "seed": np.int32(seed)}))
    change = pl.concat(frames)
    change.write_parquet(folder / "change.parquet")
    first = change.filter((pl.col("seed") == 1) & (pl.col("slice_a") == pairs[-1][0]) & (pl.col("slice_b") == pairs[-1][1]))
    top = first.sort("local_neighbourhood_distance", descending=True).head(20).drop("stopword", "seed") \
        .with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
    top.write_parquet(folder / "top_changed.parquet")
    top.select(["slice_a", "slice_b", "word"]).with_columns(
        pl.lit(1.0).alias("fraction_top"), pl.col("word").len().alias("mean_rank").cast(pl.Float64),
        pl.lit(0.0).alias("std_rank")).write_parquet(folder / "stability.parquet")
    nb = [{"slice": s, "rank": r + 1, "neighbour": words[int(rng.integers(n_words))], "similarity": float(rng.random()),
           "word": w} for w in top["word"].to_list() for s in slices for r in range(10)]
    pl.DataFrame(nb).write_parquet(folder / "neighbours.parquet")
    write_json(folder / "metrics.json", {"n_words": n_words, "n_pairs": len(pairs), "n_seeds": n_seeds,
                                         "top_n_mean_jaccard_across_seeds": None})
    write_json(folder / "provenance.json", {"created": "2026-01-01T00:00:00+00:00", "stage": "cade-report",
                                            "settings": {"synthetic": "random values, for timing the report only",
                                                         "report": {"rank_by": "local_neighbourhood_distance"}}})
    write_marker(folder, {"stage_id": "cade-report/synthetic-000000000000", "created": "2026-01-01T00:00:00+00:00"})
    return folder


if __name__ == "__main__":
    sys.exit(main())
