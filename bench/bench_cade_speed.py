"""CADE slice training speed vs plain gensim Word2Vec CBOW on the same slice.

Run: .venv/bin/python bench/bench_cade_speed.py [--repeats 3] [--threads 1 2] [--corpus auto|bible|lee]

Corpus: the KJV and WEB Bibles from diatheke (lowercased, simple regex
tokens, one verse per line) when /usr/bin/diatheke and the SWORD modules are
there; otherwise gensim's lee_background.cor repeated. The compass is trained
on both slices; the benchmarked slice is the WEB (or second) slice.

For each thread count, best of --repeats (runs alternate to share machine noise):
  * gensim: Word2Vec(sentences=<token file iterable>, sg=0, hs=0, same
    vector_size/window/negative/min_count/sample/epochs/alpha, workers=threads),
    i.e. build_vocab + train in iterable mode (the reference CADE path);
  * cade:  train_slice(compass, <same iterable>, settings) including the
    corpus read, vocabulary, one-time encoding and training (JIT compiled
    beforehand);
  * for information, gensim's corpus_file mode (its fastest, Python-free path);
  * with --reference-python, the original CADE (vinid/cade on its gensim 3.6 fork, built by
    scripts/setup_reference_cade.sh) training the same slice against its own compass: its
    train_slice time (vocabulary from the file + training), as printed by bench/reference_cade.py.
ratio = gensim seconds / cade seconds (= words/s ratio: both train epochs x raw words).
Writes bench/results/cade_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
CACHE = Path(tempfile.gettempdir()) / "cade-bench-corpus"
_VERSE = re.compile(r"^\s*(\S.*?) (\d+):(\d+):\s?(.*)$")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
BIBLES = (("kjv", "engKJV2006eb"), ("web", "engWEB2015eb"))


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _diatheke(module: str) -> list[str]:
    out = subprocess.run(["diatheke", "-b", module, "-f", "plain", "-k", "Genesis 1:1-Revelation 22:21"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    verses: list[str] = []
    for line in out.splitlines():
        if line.strip() == f"({module})":
            continue
        m = _VERSE.match(line)
        if m:
            verses.append(m.group(4))
        elif verses:  # poetry: a verse continues on the next line
            verses[-1] += " " + line
    return verses


def prepare_corpora(kind: str = "auto") -> dict:
    """Token files (one sentence per line) for two slices; cached under the temp dir."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if kind in ("auto", "bible") and shutil.which("diatheke"):
        paths = {name: CACHE / f"{name}.tok" for name, _ in BIBLES}
        try:
            for name, module in BIBLES:
                if not paths[name].exists():
                    verses = _diatheke(module)
                    if len(verses) < 20000:
                        raise RuntimeError(f"diatheke {module}: only {len(verses)} verses")
                    tmp = paths[name].with_suffix(".part")
                    with open(tmp, "w", encoding="utf-8") as fh:
                        for v in verses:
                            fh.write(" ".join(tokenize(v)) + "\n")
                    tmp.replace(paths[name])
            return {"kind": "bible (KJV + WEB, diatheke)", "slices": paths}
        except (subprocess.SubprocessError, OSError, RuntimeError) as e:
            if kind == "bible":
                raise
            print(f"diatheke unusable ({e}); falling back to lee_background.cor", file=sys.stderr)
    from gensim.test.utils import datapath

    lines = Path(datapath("lee_background.cor")).read_text(encoding="utf-8").splitlines()
    half = len(lines) // 2
    paths = {}
    for name, part in (("lee_a", lines[:half]), ("lee_b", lines[half:])):
        paths[name] = CACHE / f"{name}x20.tok"
        if not paths[name].exists():
            with open(paths[name], "w", encoding="utf-8") as fh:
                for _ in range(20):
                    for line in part:
                        fh.write(" ".join(tokenize(line)) + "\n")
    return {"kind": "lee_background.cor halves x20", "slices": paths}


def gensim_slice(path, s, threads: int, corpus_file: bool = False) -> dict:
    from gensim.models import Word2Vec

    from pipeline.corpora import LineCorpus

    kw = dict(vector_size=s.vector_size, window=s.window, negative=s.negative, hs=0, sg=0, cbow_mean=1,
              min_count=s.min_count, sample=s.sample, alpha=s.slice_alpha, min_alpha=s.min_alpha,
              epochs=s.slice_epochs, seed=s.seed, workers=threads)
    t0 = time.perf_counter()
    m = Word2Vec(**kw)
    if corpus_file:
        m.build_vocab(corpus_file=str(path))
        t1 = time.perf_counter()
        m.train(corpus_file=str(path), total_examples=m.corpus_count, total_words=m.corpus_total_words,
                epochs=m.epochs)
    else:
        corpus = LineCorpus(path)
        m.build_vocab(corpus)
        t1 = time.perf_counter()
        m.train(corpus, total_examples=m.corpus_count, total_words=m.corpus_total_words, epochs=m.epochs)
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "train_seconds": t2 - t1, "words": m.corpus_total_words * m.epochs,
            "vocab": len(m.wv)}


def reference_slice_seconds(python: str, slice_files: dict, slice_name: str, threads: int, scratch: str) -> float:
    """The original CADE's ``train_slice`` seconds for one slice (its compass trained first, not timed)."""
    from common import run_reference_cade

    out = run_reference_cade(python, {slice_name: slice_files[slice_name]}, Path(scratch) / "reference",
                             "--workers", str(threads), compass_files=slice_files)
    m = re.search(rf"^slice {re.escape(slice_name)} trained in ([0-9.]+) s", out, re.M)
    if not m:
        raise RuntimeError(f"no slice timing in the reference CADE's output:\n{out[-2000:]}")
    return float(m.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--corpus", choices=["auto", "bible", "lee"], default="auto")
    ap.add_argument("--no-corpus-file", action="store_true", help="skip gensim's corpus_file reference runs")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="also time the original CADE's slice training with this Python (.reference-cade/venv/bin/python)")
    args = ap.parse_args(argv)

    import gensim
    import numba
    import numpy as np

    from pipeline.corpora import ConcatCorpus, LineCorpus
    from pipeline.diachronic import CadeSettings, train_compass, train_slice

    corp = prepare_corpora(args.corpus)
    names = list(corp["slices"])
    slice_name = names[-1]
    slice_path = corp["slices"][slice_name]
    base = CadeSettings()
    print(f"corpus: {corp['kind']}; slices {names}; benchmarked slice: {slice_name} ({slice_path})", flush=True)

    t0 = time.perf_counter()
    compass = train_compass(ConcatCorpus([LineCorpus(p) for p in corp["slices"].values()]),
                            CadeSettings(threads=max(args.threads)))
    compass_s = time.perf_counter() - t0
    print(f"compass: {len(compass.wv)} words, {compass.corpus_total_words} corpus words, {compass_s:.1f}s "
          f"(gensim, {max(args.threads)} threads)", flush=True)
    # compile (or load) the kernel outside the timings
    train_slice(compass, [compass.wv.index_to_key[:20]] * 6, CadeSettings(slice_epochs=1))

    rows = []
    with tempfile.TemporaryDirectory(prefix="cade-bench-") as scratch:
        for threads in args.threads:
            s = CadeSettings(threads=threads)
            g_runs, c_runs, f_runs, r_runs = [], [], [], []
            for r in range(args.repeats):
                g_runs.append(gensim_slice(slice_path, s, threads))
                sl = train_slice(compass, LineCorpus(slice_path), s, tmp_dir=scratch, name=slice_name)
                c_runs.append(dict(sl.stats))
                if not args.no_corpus_file and r == 0:
                    f_runs.append(gensim_slice(slice_path, s, threads, corpus_file=True))
                if args.reference_python:
                    r_runs.append(reference_slice_seconds(args.reference_python, corp["slices"], slice_name, threads,
                                                          scratch))
                print(f"  threads={threads} run {r + 1}: gensim {g_runs[-1]['seconds']:.2f}s, "
                      f"cade {c_runs[-1]['seconds']:.2f}s"
                      + (f", original CADE {r_runs[-1]:.2f}s" if r_runs else ""), flush=True)
            g = min(g_runs, key=lambda x: x["seconds"])
            c = min(c_runs, key=lambda x: x["seconds"])
            words = c["words_trained"]
            assert words == g["words"], (words, g["words"])
            row = {
                "threads": threads,
                "words": words,
                "slice_vocab_cade": c["vocab_size"],
                "slice_vocab_gensim": g["vocab"],
                "gensim_seconds": round(g["seconds"], 3),
                "gensim_train_seconds": round(g["train_seconds"], 3),
                "gensim_words_per_s": round(words / g["seconds"]),
                "cade_seconds": round(c["seconds"], 3),
                "cade_prepare_seconds": c["prepare_seconds"],
                "cade_train_seconds": c["train_seconds"],
                "cade_words_per_s": round(words / c["seconds"]),
                "ratio": round(g["seconds"] / c["seconds"], 3),
                "ratio_train_only": round(g["train_seconds"] / c["train_seconds"], 3),
                "all_gensim_seconds": [round(x["seconds"], 3) for x in g_runs],
                "all_cade_seconds": [round(x["seconds"], 3) for x in c_runs],
            }
            if f_runs:
                row["gensim_corpus_file_seconds"] = round(f_runs[0]["seconds"], 3)
                row["ratio_vs_corpus_file"] = round(f_runs[0]["seconds"] / c["seconds"], 3)
            if r_runs:
                row["reference_cade_seconds"] = round(min(r_runs), 3)
                row["ratio_vs_reference_cade"] = round(min(r_runs) / c["seconds"], 3)
            rows.append(row)

    hdr = (f"{'threads':>7} {'words':>10} {'gensim s':>9} {'gensim w/s':>11} {'cade s':>8} {'cade w/s':>11} "
           f"{'ratio':>6} {'train-only':>10} {'cf s':>6} {'vs cf':>6}")
    print()
    print(f"CADE slice training vs gensim Word2Vec CBOW (iterable mode), slice '{slice_name}', "
          f"{base.slice_epochs} epochs, best of {args.repeats}; ratio = gensim s / cade s (target >= 0.9)")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['threads']:>7} {r['words']:>10} {r['gensim_seconds']:>9.2f} {r['gensim_words_per_s']:>11,} "
              f"{r['cade_seconds']:>8.2f} {r['cade_words_per_s']:>11,} {r['ratio']:>6.2f} "
              f"{r['ratio_train_only']:>10.2f} {r.get('gensim_corpus_file_seconds', float('nan')):>6.2f} "
              f"{r.get('ratio_vs_corpus_file', float('nan')):>6.2f}")
    print("(train-only: gensim train() vs the cade kernel epochs; cf: gensim corpus_file mode, for information)")
    for r in rows:
        if "reference_cade_seconds" in r:
            print(f"threads={r['threads']}: original CADE slice {r['reference_cade_seconds']:.2f}s, this CADE "
                  f"{r['cade_seconds']:.2f}s: {r['ratio_vs_reference_cade']:.2f}x faster")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cade_speed.json"
    payload = {
        "benchmark": "cade slice training speed vs gensim Word2Vec CBOW iterable mode",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version(), "gensim": gensim.__version__, "numba": numba.__version__,
                    "numpy": np.__version__},
        "corpus": corp["kind"],
        "slice": slice_name,
        "slice_words": compass_words(slice_path),
        "compass": {"vocab": len(compass.wv), "words": compass.corpus_total_words, "seconds": round(compass_s, 2)},
        "settings": {k: getattr(base, k) for k in base.__dataclass_fields__},
        "repeats": args.repeats,
        "rows": rows,
        "target_ratio": 0.9,
        "meets_target": all(r["ratio"] >= 0.9 for r in rows),
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return payload


def compass_words(path) -> int:
    n = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            n += len(line.split())
    return n


if __name__ == "__main__":
    main()
