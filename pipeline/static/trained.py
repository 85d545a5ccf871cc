"""Static vectors trained from scratch on the comparison's corpus: Word2Vec (CBOW, skip-gram) and fastText.

What the Turkish and Hungarian static-embedding studies compare the encoders' read-outs with. The corpus is a
token file (one sentence per line); Word2Vec is gensim's (``corpus_file`` mode), fastText the project's
:func:`pipeline.multilingual.train_fasttext` (the C++ trainer in a child process).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..spec import require_positive_ints

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

__all__ = ["TRAINED_KINDS", "TrainedSettings", "train_from_scratch", "train_seeds"]

#: the vector sets trained from scratch: name -> (trainer, gensim ``sg``)
TRAINED_KINDS = {"word2vec_cbow": ("word2vec", 0), "word2vec_sgns": ("word2vec", 1), "fasttext": ("fasttext", 1)}


@dataclass(frozen=True)
class TrainedSettings:
    """The shared settings of the sets trained from scratch (fastText: skip-gram, character n-grams 3-6)."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 5
    epochs: int = 5
    seed: int = 1

    def __post_init__(self):
        require_positive_ints(self, ("vector_size", "window", "negative", "min_count", "epochs"))


def train_from_scratch(kind: str, token_file: str | Path, out_dir: str | Path, settings: TrainedSettings,
                       threads: int = 1) -> "KeyedVectors":
    """Train ``kind`` (:data:`TRAINED_KINDS`) on ``token_file``; write ``<out_dir>/<kind>.vec`` (+ ``.npy``)."""
    from ..vectors import save_vectors

    if kind not in TRAINED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(TRAINED_KINDS)}, not {kind!r}")
    token_file, out_dir = Path(token_file), Path(out_dir)
    if not token_file.is_file() or token_file.stat().st_size == 0:
        raise InputError(token_file, "a token file (one sentence per line) to train on", "it is missing or empty")
    trainer, sg = TRAINED_KINDS[kind]
    s = settings
    if trainer == "word2vec":
        from gensim.models import Word2Vec

        try:  # gensim trains inside the constructor, and refuses there a corpus with no word kept
            model = Word2Vec(corpus_file=str(token_file), vector_size=s.vector_size, window=s.window, sg=sg, hs=0,
                             negative=s.negative, min_count=s.min_count, epochs=s.epochs, seed=s.seed,
                             workers=max(1, threads))
        except RuntimeError as e:
            if "build vocabulary" not in str(e):
                raise
            model = None
        if model is None or len(model.wv) == 0:
            raise InputError(token_file, f"words seen at least trained.min_count={s.min_count} times", "none is")
        kv = model.wv
    else:
        from ..multilingual.fasttext_train import train_fasttext
        from ..multilingual.settings import FastTextSettings
        from ..vectors import load_vectors

        ft = FastTextSettings(dim=s.vector_size, epochs=s.epochs, min_count=s.min_count, window=s.window,
                              neg=s.negative, seed=s.seed, threads=max(1, threads))
        scratch = out_dir / "_fasttext"
        try:
            train_fasttext([token_file], scratch / "vectors", ft)
            kv = load_vectors(scratch / "vectors.npy")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    save_vectors(kv, out_dir / kind)
    return kv


def train_seeds(kind: str, token_file: str | Path, out_dir: str | Path, settings: TrainedSettings,
                seeds: "tuple[int, ...] | list[int]" = (), threads: int = 1) -> dict:
    """``kind`` trained once per seed (none given: once, with ``settings.seed``), and ``metrics.json``.

    The first seed's vectors are ``<kind>.vec`` / ``.npy``; with several seeds, each one's are also
    ``<kind>.s<seed>.vec`` / ``.npy`` (the first's included), so the comparison can report their spread.
    """
    from dataclasses import replace

    from ..identity import write_json
    from ..vectors import save_vectors

    out_dir = Path(out_dir)
    seeds = list(seeds) or [settings.seed]
    sizes = []
    for i, seed in enumerate(seeds):
        kv = train_from_scratch(kind, token_file, out_dir, replace(settings, seed=seed), threads=threads)
        sizes.append(len(kv))
        if len(seeds) > 1:
            save_vectors(kv, out_dir / f"{kind}.s{seed}")
        if i == 0:
            first = kv
    if len(seeds) > 1:  # each run wrote <kind>.*: it stays the first seed's
        save_vectors(first, out_dir / kind)
    metrics = {"vocab_size": sizes[0], "dim": first.vector_size, "seeds": seeds}
    write_json(out_dir / "metrics.json", metrics)
    return metrics
