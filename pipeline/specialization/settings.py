"""The settings of lexical specialization: training, the static vectors read out, and their evaluation.

Plain frozen dataclasses with their own checks and nothing heavier than the
standard library, so a spec is read without loading numpy, polars or torch
(:mod:`.train` and the stage functions import them from here). A field that
does not change results is marked with :func:`pipeline.spec.runtime_field`;
see :func:`pipeline.spec.identity_of`.

>>> from pipeline.spec import identity_of
>>> sorted(set(TrainSettings().__dataclass_fields__) - set(identity_of(TrainSettings(), version=3)))
['checkpoint_every', 'device']
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from ..languages import iso_language
from ..spec import identity_of, runtime_field
from ..torchutil import DEVICES

__all__ = ["TrainSettings", "WordList", "ExtractSettings", "WordEvaluationSettings"]


def under(root: Path | str, path: str | None) -> str | None:
    """``path`` as is when absolute (``~`` expanded), else below ``root``."""
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(root) / p)


@dataclass(frozen=True)
class TrainSettings:
    """Training settings; defaults follow BabelBERT (batch 256 pairs, lr 5e-6, 2 epochs, t = 0.07)."""

    batch_pairs: int = 256
    lr: float = 5e-6
    epochs: int = 2
    temperature: float = 0.07
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0      # linear warm-up over this share of the steps, then constant
    lr_decay: str = "constant"     # after the warm-up: "constant", or "linear" down to 0 at the plan's last step
    max_length: int = 16           # subword tokens per word, special tokens included
    layer: int = -1                # hidden state pooled for the loss
    lang_pair_alpha: float = 0.5   # language pairs drawn with probability ~ size ** alpha
    seed: int = 0
    max_steps: int = 0             # 0: every batch of every epoch; else stop early (a later call may go on)
    grad_clip: float = 1.0
    device: str = runtime_field("auto", hashed_below_version=3)  # auto, cpu, cuda (hashed by stage ids before 3)
    bf16: bool = True              # bf16 autocast on a GPU (ignored on the CPU)
    checkpoint_every: int = runtime_field(200)

    def __post_init__(self):
        for name in ("batch_pairs", "epochs", "max_length", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"a positive integer for {name}")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError("positive lr and temperature")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("a warmup_ratio in [0, 1)")
        if self.lr_decay not in ("constant", "linear"):
            raise ValueError("constant or linear for lr_decay")
        if self.device not in DEVICES:
            raise ValueError("auto, cpu or cuda for device")

    def fingerprint_fields(self) -> dict:
        """The settings that change the loss curve (not where it runs, how often it is saved or where it stops)."""
        d = identity_of(self)
        d.pop("max_steps")  # a later call may go on from the same checkpoint
        return d


@dataclass(frozen=True)
class WordList:
    """Words to extract static vectors for: a ``.vec`` file or a word list, else the constraint words."""

    lang: str
    path: Optional[str] = None
    max_words: Optional[int] = None

    def __post_init__(self):
        iso_language(self.lang, "extract.words[].lang")


@dataclass(frozen=True)
class ExtractSettings:
    """How static vectors are read out of an encoder (before and after specialization)."""

    layers: tuple[int, ...] = (-1,)
    modes: tuple[str, ...] = ("isolation",)
    words: tuple[WordList, ...] = ()
    corpora: tuple[str, ...] = ()           # corpus names (under corpora/) for aggregate mode
    max_sentences: Optional[int] = 20000
    fallback: str = "isolation"             # aggregate: words never seen get their isolated vector ("none": zero)
    batch_size: int = 256
    max_length: int = 16
    context_max_length: int = 128
    before: bool = True                     # also write the unspecialized encoder's vectors, for comparison

    def __post_init__(self):
        bad = [m for m in self.modes if m not in ("isolation", "aggregate")]
        if bad or not self.modes:
            raise ValueError(f"modes among isolation, aggregate, not {list(self.modes)}")
        if "aggregate" in self.modes and not self.corpora:
            raise ValueError("corpora (names under corpora/) for the aggregate mode")
        if self.fallback not in ("isolation", "none"):
            raise ValueError("'isolation' or 'none' for fallback")
        if not self.layers:
            raise ValueError("at least one layer")

    def resolved(self, root: Path | str):
        """The same settings with every relative word-list path taken relative to ``root``."""
        return replace(self, words=tuple(replace(w, path=under(root, w.path)) for w in self.words))


@dataclass(frozen=True)
class WordEvaluationSettings:
    """Word-level evaluation of the static vectors, before and after: SimLex-999 and BLI."""

    simlex999: bool = True   # English SimLex-999 Spearman
    bli: bool = True         # BLI (MRR, P@k) on the held-out dictionary pairs
    csls_k: int = 10
