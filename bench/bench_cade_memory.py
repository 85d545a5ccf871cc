"""Peak memory of CADE slice training on a corpus of N words vs the same corpus repeated 10x.

Run: .venv/bin/python bench/bench_cade_memory.py [--threads 2] [--corpus auto|bible|lee]

The slice corpus (the benchmark slice of bench_cade_speed: the WEB Bible, or
lee_background.cor halves) is written to disk once as is (N words) and once
repeated 10 times (10N words, same vocabulary), and streamed from disk with
pipeline.corpora.LineCorpus. The compass (trained once on the N slice, saved) is loaded
in a fresh subprocess per run, which then reports ru_maxrss:
  * base: peak RSS after imports, compass load and kernel compile, before train_slice
    (it holds everything that does not depend on the slice corpus);
  * peak: peak RSS after train_slice.
The vocabulary (and so the word vectors, context rows, gensim vocab) is the
same for N and 10N; what grows with the corpus is what the target bounds:
growth = (peak_10N - peak_N) / peak_N (target < 30%). Also reported: the
training increment (peak - base) for both and its growth.
Writes bench/results/cade_memory.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child(compass_path: str, corpus_path: str, threads: int, scratch: str) -> None:
    from gensim.models import Word2Vec

    from pipeline.corpora import LineCorpus
    from pipeline.diachronic import CadeSettings, train_slice

    compass = Word2Vec.load(compass_path)
    train_slice(compass, [compass.wv.index_to_key[:20]] * 6, CadeSettings(slice_epochs=1))  # JIT load
    base = _maxrss_mb()
    t0 = time.perf_counter()
    sl = train_slice(compass, LineCorpus(corpus_path), CadeSettings(threads=threads), tmp_dir=scratch)
    seconds = time.perf_counter() - t0
    peak = _maxrss_mb()
    print(json.dumps({"base_mb": base, "peak_mb": peak, "seconds": seconds, "vocab": len(sl.wv),
                      "corpus_words": sl.stats["corpus_words"], "words_per_second": sl.stats["words_per_second"]}))


def run_child(compass_path, corpus_path, threads, scratch) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(compass_path), str(corpus_path), str(threads),
                          str(scratch)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--corpus", choices=["auto", "bible", "lee"], default="auto")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_cade_speed import prepare_corpora

    from pipeline.corpora import LineCorpus
    from pipeline.diachronic import CadeSettings, train_compass

    corp = prepare_corpora(args.corpus)
    name = list(corp["slices"])[-1]
    src = corp["slices"][name]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cade-mem-") as tmp:
        tmp = Path(tmp)
        text = src.read_text(encoding="utf-8")
        small, big = tmp / "n.tok", tmp / f"{args.factor}n.tok"
        small.write_text(text, encoding="utf-8")
        with open(big, "w", encoding="utf-8") as fh:
            for _ in range(args.factor):
                fh.write(text)
        del text
        compass = train_compass(LineCorpus(small), CadeSettings(threads=2))
        compass_path = tmp / "compass.model"
        compass.save(str(compass_path))
        del compass
        scratch = tmp / "scratch"
        scratch.mkdir()
        for label, path in (("N", small), (f"{args.factor}N", big)):
            r = run_child(compass_path, path, args.threads, scratch)
            r["corpus"] = label
            r["file_mb"] = round(path.stat().st_size / 2**20, 1)
            rows.append(r)
            print(f"  {label}: {r['corpus_words']:,} words, peak {r['peak_mb']:.1f} MB "
                  f"(base {r['base_mb']:.1f} MB), {r['seconds']:.1f}s", flush=True)

    n, ten = rows
    growth = (ten["peak_mb"] - n["peak_mb"]) / n["peak_mb"]
    inc_n, inc_10 = n["peak_mb"] - n["base_mb"], ten["peak_mb"] - ten["base_mb"]
    inc_growth = (inc_10 - inc_n) / inc_n if inc_n > 0 else float("nan")
    print()
    print(f"peak RSS of train_slice, slice '{name}' ({corp['kind']}), threads={args.threads}, fresh process each")
    hdr = f"{'corpus':>6} {'words':>12} {'file MB':>8} {'vocab':>6} {'base MB':>8} {'peak MB':>8} {'train MB':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['corpus']:>6} {r['corpus_words']:>12,} {r['file_mb']:>8.1f} {r['vocab']:>6} {r['base_mb']:>8.1f} "
              f"{r['peak_mb']:>8.1f} {r['peak_mb'] - r['base_mb']:>9.1f}")
    print(f"peak growth {args.factor}N vs N: {100 * growth:+.1f}% (target < 30%); "
          f"training increment (peak - base): {inc_n:.1f} -> {inc_10:.1f} MB ({100 * inc_growth:+.1f}%)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cade_memory.json"
    out.write_text(json.dumps({
        "benchmark": "peak RSS of cade train_slice, corpus N vs factor*N words (same vocabulary), fresh process",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "corpus": corp["kind"], "slice": name, "factor": args.factor, "threads": args.threads,
        "rows": rows,
        "peak_growth": round(growth, 4),
        "train_increment_mb": [round(inc_n, 1), round(inc_10, 1)],
        "train_increment_growth": round(inc_growth, 4),
        "target_growth": 0.30,
        "meets_target": growth < 0.30,
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
