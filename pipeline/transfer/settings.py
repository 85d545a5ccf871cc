"""The settings of WECHSEL transfer: the target tokenizer, WECHSEL itself, continued pretraining, retrieval.

Plain frozen dataclasses with their own checks and nothing heavier than the
standard library, so a spec is read without loading numpy, torch or
transformers (the algorithms import them from here). A field that does not
change results is marked with :func:`pipeline.spec.runtime_field`; see
:func:`pipeline.spec.identity_of`.

>>> from pipeline.spec import identity_of
>>> identity_of(WechselSettings(), version=2)
{'mode': 'subword', 'neighbors': 10, 'temperature': 0.1, 'seed': 1234, 'trained_ngrams_only': True, \
'lowercase': None, 'max_word_vectors': None}
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..spec import added_field, runtime_field
from ..torchutil import DEVICES

__all__ = ["TokenizerTrainSettings", "WechselSettings", "FocusSettings", "PretrainSettings", "RetrievalSettings",
           "INITS", "VOCABULARIES", "MIN_SEQUENCE"]

#: how the new embedding rows are made (``init`` in a transfer spec) and what the vocabulary becomes (``vocabulary``)
INITS = ("wechsel", "focus", "random")
VOCABULARIES = ("replace", "extend")
#: the shortest token sequence pretraining trains on and retrieval encodes (room for the special tokens and text)
MIN_SEQUENCE = 8
#: the learning rate of a new head trained alone first (``pretraining.head_lr``)
HEAD_LR = 1e-3


def _finite_positive(x) -> bool:
    return 0 < x < math.inf  # False for nan too


@dataclass(frozen=True)
class TokenizerTrainSettings:
    """The target tokenizer: the source tokenizer's algorithm trained again on the target text."""

    vocab_size: Optional[int] = None   # None: the source tokenizer's size
    min_frequency: int = 2

    def __post_init__(self):
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ValueError(f"tokenizer.vocab_size >= 1 (or absent: the source's size), not {self.vocab_size!r}")
        if self.min_frequency < 1:
            raise ValueError(f"tokenizer.min_frequency >= 1, not {self.min_frequency!r}")


@dataclass(frozen=True)
class WechselSettings:
    """WECHSEL (Minixhofer et al. 2022): target embeddings as the weighted mean of the nearest source subwords."""

    mode: str = "subword"              # subword (fastText n-grams) | word (vectors without subwords)
    neighbors: int = 10
    temperature: float = 0.1
    seed: int = 1234                   # the random fallback rows
    trained_ngrams_only: bool = True   # ignore fastText n-gram buckets no vocabulary word touched
    lowercase: Optional[bool] = None   # look subwords up lowercased; None: as the static vectors were trained
    max_word_vectors: Optional[int] = None   # word mode: the most frequent words only
    # cpu | cuda | auto (the similarity search); the transfer stage's ids before version 2 hashed it
    device: str = runtime_field("cpu", hashed_below_version=2)

    def __post_init__(self):
        if self.mode not in ("subword", "word"):
            raise ValueError(f"wechsel.mode subword or word, not {self.mode!r}")
        if self.neighbors < 1:
            raise ValueError(f"wechsel.neighbors >= 1, not {self.neighbors!r}")
        if not _finite_positive(self.temperature):  # nan would make every WECHSEL row nan
            raise ValueError(f"wechsel.temperature a finite number > 0, not {self.temperature!r}")
        if self.max_word_vectors is not None and self.max_word_vectors < 1:  # -1 would drop the last word
            raise ValueError(f"wechsel.max_word_vectors >= 1 (or absent: every word), not {self.max_word_vectors!r}")
        if self.device not in DEVICES:
            raise ValueError(f"wechsel.device auto, cpu or cuda, not {self.device!r}")


@dataclass(frozen=True)
class FocusSettings:
    """FOCUS (Dobler & de Melo 2023): the auxiliary fastText space trained on target text tokenised by the new
    tokenizer. Read only when ``init: focus``."""

    dim: int = 100                     # deepfocus's defaults (see pipeline.transfer.focus)
    epochs: int = 3
    min_count: int = 10
    seed: int = 1234
    device: str = runtime_field("cpu")   # cpu | cuda | auto (the similarity search)

    def __post_init__(self):
        if self.dim < 1 or self.epochs < 1 or self.min_count < 1:
            raise ValueError("focus.dim, focus.epochs and focus.min_count >= 1")
        if self.device not in DEVICES:
            raise ValueError(f"focus.device auto, cpu or cuda, not {self.device!r}")


@dataclass(frozen=True)
class PretrainSettings:
    """Continued pretraining settings (also the ``pretraining`` section of a transfer spec).

    ``steps`` 0 means no continued pretraining. ``device``: auto / cpu / cuda;
    ``bf16``: autocast to bfloat16 on a GPU. The learning rate warms up
    linearly for ``warmup_steps`` and then decays linearly to 0. Where it
    runs, how often it is saved and logged do not change results (the
    pretrain stage's ids before version 2 hashed ``checkpoint_every``,
    ``device`` and ``keep_checkpoints``).

    ``head_warmup_steps``: the first of the ``steps`` train only the head the
    transfer initialised anew (a source folder without an MLM head, such as a
    sentence-embedding BERT), at the constant ``head_lr``, with the transferred
    body and embeddings frozen; the warm-up and decay of ``lr`` then run over
    the steps after them. A random head trained together with the body
    otherwise pulls the transferred embeddings towards its own noise first.
    """

    steps: int = 0
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 5e-5
    warmup_steps: int = 0
    weight_decay: float = 0.01
    mlm_probability: float = 0.15
    checkpoint_every: int = runtime_field(100, hashed_below_version=2)
    seed: int = 0
    device: str = runtime_field("auto", hashed_below_version=2)
    bf16: bool = True
    log_every: int = runtime_field(10)
    keep_checkpoints: int = runtime_field(2, hashed_below_version=2)
    head_warmup_steps: int = added_field(0, before=0)
    head_lr: float = added_field(HEAD_LR, before=HEAD_LR)

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.seq_len < MIN_SEQUENCE or self.checkpoint_every < 1:
            raise ValueError(f"pretraining.steps >= 0, batch_size >= 1, seq_len >= {MIN_SEQUENCE}, "
                             "checkpoint_every >= 1")
        if self.keep_checkpoints < 1:
            raise ValueError("pretraining.keep_checkpoints >= 1")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"pretraining.mlm_probability between 0 and 1 (exclusive), not {self.mlm_probability!r}")
        # inf or nan would turn the weights to nan at the first optimiser step
        if not _finite_positive(self.lr) or not 0 <= self.weight_decay < math.inf or self.warmup_steps < 0:
            raise ValueError(f"pretraining.lr > 0, weight_decay >= 0 (both finite) and warmup_steps >= 0, not "
                             f"{self.lr!r}, {self.weight_decay!r} and {self.warmup_steps!r}")
        if self.log_every < 0:
            raise ValueError(f"pretraining.log_every >= 0 (0: no log), not {self.log_every!r}")
        if 0 < self.steps < self.warmup_steps:  # the learning rate would never reach pretraining.lr
            raise ValueError(f"pretraining.warmup_steps at most pretraining.steps (else the learning rate never "
                             f"reaches lr), not {self.warmup_steps!r} warm-up steps of {self.steps!r}")
        if self.device not in DEVICES:
            raise ValueError(f"pretraining.device auto, cpu or cuda, not {self.device!r}")
        if isinstance(self.head_warmup_steps, bool) or not isinstance(self.head_warmup_steps, int) \
                or self.head_warmup_steps < 0:
            raise ValueError(f"pretraining.head_warmup_steps a whole number >= 0, not {self.head_warmup_steps!r}")
        if not _finite_positive(self.head_lr):
            raise ValueError(f"pretraining.head_lr > 0 and finite, not {self.head_lr!r}")
        if self.head_lr != HEAD_LR and not self.head_warmup_steps:  # unread: it would change only the identity
            raise ValueError("pretraining.head_lr is read only with pretraining.head_warmup_steps > 0")
        if self.head_warmup_steps and 0 < self.steps < self.head_warmup_steps + self.warmup_steps:
            raise ValueError(f"pretraining.head_warmup_steps + warmup_steps at most pretraining.steps (the head's "
                             f"steps come first, then the warm-up of lr), not {self.head_warmup_steps!r} + "
                             f"{self.warmup_steps!r} of {self.steps!r}")


@dataclass(frozen=True)
class RetrievalSettings:
    """English-to-target verse retrieval on held-out books (corpora with a verses.tsv)."""

    source_verses: Optional[str] = None   # corpus name, e.g. web
    target_verses: Optional[str] = None   # corpus name, e.g. rv1909
    books: tuple[str, ...] = ()
    max_length: int = 128
    batch_size: int = 64

    def __post_init__(self):
        if self.max_length < MIN_SEQUENCE or self.batch_size < 1:
            raise ValueError(f"evaluation.max_length >= {MIN_SEQUENCE} and evaluation.batch_size >= 1, not "
                             f"{self.max_length!r} and {self.batch_size!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.source_verses and self.target_verses and self.books)
