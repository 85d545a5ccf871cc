"""The settings of the multilingual algorithms: fastText training and the cross-lingual mapping.

Plain frozen dataclasses with their own checks and nothing heavier than the
standard library, so a spec is read without loading numpy or fastText (the
algorithms in :mod:`.fasttext_train` and :mod:`.mapping` import them from
here). A field that does not change results is marked with
:func:`pipeline.spec.runtime_field`; see :func:`pipeline.spec.identity_of`.

>>> MappingSettings(normalize="renorm, center").normalize
'renorm,center'
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from ..spec import runtime_field

__all__ = ["MODELS", "PREPROCESSING_STEPS", "DICTIONARY_BUILDS", "NEIGHBOURHOODS", "DEFAULT_BLOCK_ROWS",
           "FastTextSettings", "MappingSettings", "parse_steps"]

#: fastText's unsupervised models
MODELS = ("skipgram", "cbow")

#: query rows per block in nearest-neighbour searches (the same value as :data:`.bli.DEFAULT_BLOCK_ROWS`,
#: whose module is not imported here)
DEFAULT_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class FastTextSettings:
    """fastText training settings (fastText's defaults, but ``dim`` 300 as the public ``cc.*`` vectors).

    ``dim``: vector size. ``epochs``: passes over the text. ``minn`` /
    ``maxn``: character n-gram lengths (``maxn=0`` turns subwords off).
    ``model``: ``skipgram`` or ``cbow``. ``min_count``: words seen fewer
    times are dropped. ``lr``: start learning rate. ``threads``: worker
    threads. ``seed``: random seed. ``window``, ``neg``, ``bucket``
    (hash buckets for n-grams), ``t`` (subsampling threshold): as in fastText.
    """

    dim: int = 300
    epochs: int = 5
    minn: int = 3
    maxn: int = 6
    model: str = "skipgram"
    min_count: int = 5
    lr: float = 0.05
    threads: int = runtime_field(1, in_spec=False)
    seed: int = 0
    window: int = 5
    neg: int = 5
    bucket: int = 2_000_000
    t: float = 1e-4

    def __post_init__(self):
        for name in ("dim", "epochs", "min_count", "threads", "window", "neg", "bucket"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FastTextSettings.{name} must be a positive integer; found {v!r}")
        for name in ("minn", "maxn", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"FastTextSettings.{name} must be an integer >= 0; found {v!r}")
        if self.maxn and self.minn > self.maxn:
            raise ValueError(f"FastTextSettings.minn ({self.minn}) must not exceed maxn ({self.maxn})")
        if self.model not in MODELS:
            raise ValueError(f"FastTextSettings.model must be one of {', '.join(MODELS)}; found {self.model!r}")
        for name in ("lr", "t"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"FastTextSettings.{name} must be a positive number; found {v!r}")

    def to_mapping(self) -> dict:
        return dataclasses.asdict(self)

    def fasttext_args(self) -> dict:
        """Keyword arguments of ``fasttext.train_unsupervised``."""
        return {
            "model": self.model, "dim": self.dim, "epoch": self.epochs, "minn": self.minn, "maxn": self.maxn,
            "minCount": self.min_count, "lr": self.lr, "thread": self.threads, "seed": self.seed,
            "ws": self.window, "neg": self.neg, "bucket": self.bucket, "t": self.t, "verbose": 0,
        }


PREPROCESSING_STEPS = ("renorm", "center")
DICTIONARY_BUILDS = ("S2T", "T2S", "S2T|T2S", "S2T&T2S")
NEIGHBOURHOODS = ("full", "max_rank")


def parse_steps(steps: str | Sequence[str] | None) -> tuple[str, ...]:
    """Preprocessing steps from ``"renorm,center"`` or a list; an unknown step is a :class:`ValueError`."""
    if steps is None:
        return ()
    parts = steps.split(",") if isinstance(steps, str) else list(steps)
    parts = tuple(p.strip() for p in parts if p and p.strip())
    for p in parts:
        if p not in PREPROCESSING_STEPS:
            raise ValueError(f"normalisation steps must be among {', '.join(PREPROCESSING_STEPS)} "
                             f"(comma-separated, e.g. 'renorm,center,renorm'); found {p!r}")
    return parts


@dataclass(frozen=True)
class MappingSettings:
    """How :func:`.mapping.fit_mapping` learns the map (MUSE ``supervised.py`` defaults unless noted).

    ``n_refinement``: CSLS refinement steps after the seed Procrustes (0: the
    seed Procrustes only). ``csls_k``: neighbours in CSLS. ``max_rank``: only
    the ``max_rank`` most frequent words of each side enter an induced
    dictionary (0: all; MUSE's unsupervised default 15000, supervised 10000).
    ``build``: ``S2T``, ``T2S``, ``S2T|T2S`` (union) or ``S2T&T2S`` (mutual
    nearest neighbours). ``neighbourhood``: ``full`` (as MUSE) or
    ``max_rank`` (see the module docstring). ``normalize``: preprocessing
    steps applied to both spaces, e.g. ``"renorm,center,renorm"`` (MUSE's
    default is none). ``keep_seed``: add the seed pairs to every induced
    dictionary (not MUSE). ``block_rows``: query rows per block in searches.
    """

    n_refinement: int = 5
    csls_k: int = 10
    max_rank: int = 15000
    build: str = "S2T&T2S"
    neighbourhood: str = "full"
    normalize: str = ""
    keep_seed: bool = False
    block_rows: int = runtime_field(DEFAULT_BLOCK_ROWS, in_spec=False)

    def __post_init__(self):
        for name in ("n_refinement", "max_rank"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"MappingSettings.{name} must be an integer >= 0; found {v!r}")
        for name in ("csls_k", "block_rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"MappingSettings.{name} must be a positive integer; found {v!r}")
        if self.build not in DICTIONARY_BUILDS:
            raise ValueError(f"MappingSettings.build must be one of {', '.join(DICTIONARY_BUILDS)}; "
                             f"found {self.build!r}")
        if self.neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"MappingSettings.neighbourhood must be one of {', '.join(NEIGHBOURHOODS)}; "
                             f"found {self.neighbourhood!r}")
        object.__setattr__(self, "normalize", ",".join(parse_steps(self.normalize)))

    def to_mapping(self) -> dict:
        return dataclasses.asdict(self)
