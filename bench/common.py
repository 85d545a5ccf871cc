"""Shared pieces of the CADE benchmarks: corpora as token files, CADE and the
classic baseline (independent Word2Vec per slice + orthogonal Procrustes)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


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
    from pipeline.cade import load_token_corpus, train_compass, train_slice
    from pipeline.corpora import ConcatCorpus

    corpora = {k: load_token_corpus(v) for k, v in slice_files.items()}
    compass = train_compass(ConcatCorpus(list(corpora.values())), settings)
    out = {}
    for name, corpus in corpora.items():
        out[name] = train_slice(compass, corpus, settings, tmp_dir=workdir, name=name).wv
    return out


def train_baseline(slice_files: dict[str, Path], settings) -> dict:
    """Independent CBOW per slice (same settings and seed), each aligned to the
    first slice with orthogonal Procrustes on their shared vocabulary."""
    from gensim.models import Word2Vec

    from pipeline.alignment import align_keyed_vectors
    from pipeline.cade import load_token_corpus

    out = {}
    for name, path in slice_files.items():
        m = Word2Vec(load_token_corpus(path), vector_size=settings.vector_size, window=settings.window,
                     negative=settings.negative, min_count=settings.min_count, sample=settings.sample, sg=0, hs=0,
                     epochs=settings.slice_epochs, alpha=settings.slice_alpha, seed=settings.seed,
                     workers=settings.threads)
        out[name] = m.wv
    names = list(out)
    ref = out[names[0]]
    for name in names[1:]:
        out[name] = align_keyed_vectors(out[name], ref)
    return out


def method_name(slice_alpha: float | None) -> str:
    """``cade`` at the reference slice learning rate, ``cade@<alpha>`` otherwise."""
    return "cade" if slice_alpha is None else f"cade@{slice_alpha:g}"


def trained_methods(files: dict[str, Path], seeds, threads: int, epochs: int, workdir: Path,
                    cade_slice_alphas=(None,)):
    """For each seed: ``(seed, method, vectors per slice, seconds)`` for CADE (once per slice learning rate
    in ``cade_slice_alphas``; None = the reference default) and the Procrustes baseline (reference settings)."""
    import dataclasses

    from pipeline.cade import CadeSettings

    for seed in seeds:
        settings = CadeSettings(seed=seed, threads=threads, compass_epochs=epochs, slice_epochs=epochs)
        runs = [(method_name(a), lambda a=a: train_cade(
                    files, settings if a is None else dataclasses.replace(settings, slice_alpha=a), workdir))
                for a in cade_slice_alphas]
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
