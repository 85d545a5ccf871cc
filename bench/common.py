"""Shared pieces of the CADE benchmarks: corpora as token files, CADE and the
classic baseline (independent Word2Vec per slice + orthogonal Procrustes), both
from the library (:mod:`pipeline.diachronic`)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# a device run points this at $OUT, so that what it writes comes back
RESULTS = Path(os.environ.get("CHRONOLINGUA_BENCH_RESULTS") or ROOT / "bench" / "results")


def corpus_sentences(name: str) -> list[list[str]]:
    """Tokenised sentences of a corpus under corpora/ (the pipeline's own tokenizer)."""
    from pipeline.corpora import Tokenizer, TokenizerSettings, iter_documents, load_declaration

    decl = load_declaration(ROOT / "corpora" / name)
    tok = Tokenizer(decl.language, TokenizerSettings())
    return [s for doc in iter_documents(decl) for s in tok.sentences(doc.text) if s]


def shuffled_halves(name: str, rng):
    """A corpus's sentences shuffled with ``rng`` and cut in two halves (the same text, no change), with the
    word counts of each half: ``(a, b, counts_a, counts_b)``."""
    from collections import Counter

    sents = corpus_sentences(name)
    rng.shuffle(sents)
    half = len(sents) // 2
    a, b = sents[:half], sents[half:]
    return a, b, Counter(w for s in a for w in s), Counter(w for s in b for w in s)


def write_lines(sentences, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for s in sentences:
            fh.write(" ".join(s) + "\n")
    return path


def train_cade(slice_files: dict[str, Path], settings, workdir: Path) -> dict:
    """CADE: compass on all slices, then each slice against the frozen compass."""
    from pipeline.corpora import ConcatCorpus, LineCorpus
    from pipeline.diachronic import train_compass, train_slice

    corpora = {k: LineCorpus(v) for k, v in slice_files.items()}
    compass = train_compass(ConcatCorpus(list(corpora.values())), settings)
    out = {}
    for name, corpus in corpora.items():
        out[name] = train_slice(compass, corpus, settings, tmp_dir=workdir, name=name).wv
    return out


def train_baseline(slice_files: dict[str, Path], settings) -> dict:
    """The Procrustes baseline (:func:`pipeline.diachronic.train_procrustes`) at the CADE ``settings``: an
    independent CBOW per slice (same settings, seed and initial vector range as CADE: the reference's), each
    aligned to the first slice with orthogonal Procrustes on their shared vocabulary."""
    from pipeline.corpora import LineCorpus
    from pipeline.diachronic import ProcrustesSettings, train_procrustes

    return train_procrustes({k: LineCorpus(v) for k, v in slice_files.items()},
                            ProcrustesSettings.matching(settings, reference="first"))


def run_reference_cade(python: str, slice_files: dict[str, Path], workdir: Path, *options: str,
                       compass_files=None) -> str:
    """Run ``bench/reference_cade.py`` (the original CADE) with the reference environment's ``python`` on
    ``slice_files``, its compass on the concatenation of ``compass_files`` (default: the slices); returns its
    standard output (timings, file names). Its vectors land in ``workdir/<slice>.vec``."""
    import subprocess

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    compass = workdir / "compass.txt"
    with open(compass, "w", encoding="utf-8") as out:
        for path in (compass_files or slice_files).values():
            out.write(Path(path).read_text(encoding="utf-8"))
    cmd = [python, str(ROOT / "bench" / "reference_cade.py"), "--compass", str(compass), "--out", str(workdir),
           *options]
    for name, path in slice_files.items():
        cmd += ["--slice", f"{name}={path}"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:  # (its stderr also holds gensim 3.6's optional corpus_file extensions failing to build)
        raise RuntimeError(f"reference CADE failed ({run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    return run.stdout


def train_cade_reference(slice_files: dict[str, Path], settings, workdir: Path, python: str) -> dict:
    """The original CADE (vinid/cade on its gensim 3.6 fork) at ``settings``, run by the reference
    environment's ``python`` (``scripts/setup_reference_cade.sh``). Returns gensim 4 KeyedVectors with each
    word's slice count as the ``"count"`` vecattr (as the project's slices have)."""
    from collections import Counter

    from gensim.models import KeyedVectors

    if settings.compass_alpha != settings.slice_alpha:
        raise ValueError("the reference CADE has one learning rate for compass and slices")
    workdir = Path(workdir) / f"reference-{settings.seed}"
    run_reference_cade(python, slice_files, workdir, "--seed", str(settings.seed), "--workers", str(settings.threads),
                       "--size", str(settings.vector_size), "--window", str(settings.window),
                       "--ns", str(settings.negative), "--min-count", str(settings.min_count),
                       "--siter", str(settings.compass_epochs), "--diter", str(settings.slice_epochs),
                       "--alpha", str(settings.slice_alpha))
    out = {}
    for name, path in slice_files.items():
        kv = KeyedVectors.load_word2vec_format(str(workdir / f"{name}.vec"))
        with open(path, encoding="utf-8") as fh:
            counts = Counter(w for line in fh for w in line.split())
        for w in kv.index_to_key:
            kv.set_vecattr(w, "count", counts[w])
        out[name] = kv
    return out


def method_name(slice_alpha: float | None) -> str:
    """``cade`` at the reference slice learning rate, ``cade@<alpha>`` otherwise."""
    return "cade" if slice_alpha is None else f"cade@{slice_alpha:g}"


def add_training_args(ap, slice_alphas=()) -> None:
    """The options of the CADE benchmarks that choose the seeds, threads, epochs and the methods trained
    next to the reference-settings CADE and the Procrustes baseline (read by ``trained_methods``)."""
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--cade-slice-alpha", type=float, nargs="*", default=list(slice_alphas),
                    help="also run CADE with these slice learning rates (the reference's 0.025 always runs)")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="also run the original CADE (vinid/cade on its gensim fork) with this Python "
                         "(built by scripts/setup_reference_cade.sh: .reference-cade/venv/bin/python)")


def method_names(args) -> list[str]:
    """The methods ``trained_methods`` yields for these options, in its order."""
    return ([method_name(a) for a in (None, *args.cade_slice_alpha)]
            + (["cade-reference"] if args.reference_python else []) + ["procrustes"])


def trained_methods(files: dict[str, Path], workdir: Path, args):
    """For each of ``args.seeds``: ``(seed, method, vectors per slice, seconds)`` for CADE (at the reference
    slice learning rate, then at each of ``args.cade_slice_alpha``), the original CADE as ``cade-reference``
    when ``args.reference_python`` names the reference environment's Python, and the Procrustes baseline
    (reference settings)."""
    import dataclasses

    from pipeline.diachronic import CadeSettings

    for seed in args.seeds:
        settings = CadeSettings(seed=seed, threads=args.threads, compass_epochs=args.epochs,
                                slice_epochs=args.epochs)
        runs = [(method_name(a), lambda a=a: train_cade(
                    files, settings if a is None else dataclasses.replace(settings, slice_alpha=a), workdir))
                for a in (None, *args.cade_slice_alpha)]
        if args.reference_python:
            runs.append(("cade-reference",
                         lambda: train_cade_reference(files, settings, workdir, args.reference_python)))
        runs.append(("procrustes", lambda: train_baseline(files, settings)))
        for method, train in runs:
            t0 = time.time()
            vecs = train()
            yield seed, method, vecs, time.time() - t0


def unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def save_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
