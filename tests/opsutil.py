"""Helpers of the operations tests: tiny projects on disk (the HTTP server is conftest's ``loopback_server``)."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python"

SPEC = """\
corpora: [lee_a, lee_b]
slicing: {by: corpus}
cade: {vector_size: 8, window: 3, negative: 3, min_count: 3, compass_epochs: 1, slice_epochs: 1}
report: {min_freq: 3, top_n: 5, seeds: [1], words: [government], plot_words: 0, k_neighbours: 5}
"""


def write_corpus(root: Path, name: str, lines: list[str], licence: str = "test") -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: en\nlicence: {licence}\n"
                                   f"source: gensim lee_background.cor\nfiles: '*.txt'\n")
    half = len(lines) // 2
    (d / "part1.txt").write_text("\n".join(lines[:half]) + "\n")
    (d / "part2.txt").write_text("\n".join(lines[half:]) + "\n")


def make_project(root: Path, n_lines: int = 150) -> Path:
    """A project folder with two tiny corpora (real text: gensim's Lee corpus) and one diachronic spec."""
    from gensim.test.utils import datapath

    (root / "tasks" / "diachronic").mkdir(parents=True)
    (root / "tasks" / "diachronic" / "toy.yaml").write_text(SPEC)
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[:n_lines]
    write_corpus(root / "corpora", "lee_a", lines[: len(lines) // 2], licence="CC-BY-4.0")
    write_corpus(root / "corpora", "lee_b", lines[len(lines) // 2:], licence="Public domain")
    return root


ML_SPEC = """\
pivot: {lang: en, vectors: EN}
source: {lang: de, vectors: DE}
dictionary: {path: DICT, direction: source-pivot, test_size: 0.25, seed: 0}
mapping: {n_refinement: 1, max_rank: 2000}
"""


def make_multilingual_project(root: Path, n_words: int = 400, dim: int = 16):
    """A project whose spec ``tasks/multilingual/de.yaml`` aligns pretrained vector files (no fastText):
    random "en" vectors and "de" = en @ Q + noise, with a dictionary mapping the first 300 words to themselves.
    Returns ``(root, Q)``: the mapping the alignment should find is ``Q.T``."""
    import numpy as np

    from pipeline.vectors import make_keyed_vectors, save_vectors

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(n_words)]
    en = rng.standard_normal((n_words, dim)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    de = (en @ q + 0.01 * rng.standard_normal(en.shape)).astype(np.float32)
    vectors = root / "pretrained"
    save_vectors(make_keyed_vectors(words, en), vectors / "en")
    save_vectors(make_keyed_vectors(words, de), vectors / "de")
    (root / "dict.tsv").write_text("".join(f"{w}\t{w}\n" for w in words[:300]))
    (root / "tasks" / "multilingual").mkdir(parents=True)
    (root / "tasks" / "multilingual" / "de.yaml").write_text(
        ML_SPEC.replace("EN", str(vectors / "en.vec")).replace("DE", str(vectors / "de.vec"))
        .replace("DICT", str(root / "dict.tsv")))
    return root, q


def env_for(project: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOLINGUA_")}
    env.update({"CHRONOLINGUA_HOME": str(project), "PYTHONPATH": str(REPO), **extra})
    return env
