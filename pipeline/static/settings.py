"""The settings of static read-outs from a contextual model: isolation, aggregate and X2Static.

A plain frozen dataclass with its own checks and nothing heavier than the
standard library, so a spec is read without loading numpy or torch. A field
that does not change results is marked with :func:`pipeline.spec.runtime_field`;
see :func:`pipeline.spec.identity_of`.

>>> from pipeline.spec import identity_of
>>> sorted(set(StaticSettings().__dataclass_fields__) - set(identity_of(StaticSettings())))
['batch_size', 'checkpoint_every', 'device', 'keep_work', 'teacher_batch_size', 'threads']
>>> StaticSettings(method="x2static", layers=(-1, 3)).layers
(-1, 3)
>>> StaticSettings(method="glove")
Traceback (most recent call last):
ValueError: method must be one of ('isolation', 'aggregate', 'x2static'), not 'glove'
>>> StaticSettings(method="aggregate", epochs=3)
Traceback (most recent call last):
ValueError: method aggregate does not read epochs: 3 (read by x2static); remove it: it would change nothing but the stage's identity
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..spec import require_positive_ints, runtime_field
from ..torchutil import DEVICES

__all__ = ["METHODS", "VARIANTS", "CONTEXTS", "VOCABULARIES", "FALLBACKS", "X2STATIC_FIELDS", "UNREAD",
           "StaticSettings"]

#: read-out methods: the word alone, the mean over its occurrences, a table distilled with X2Static
METHODS = ("isolation", "aggregate", "x2static")
#: X2Static's teacher input: one sentence, or a paragraph of consecutive sentences (context = the target's sentence)
VARIANTS = ("sentence", "paragraph")
#: X2Static's context vector: the mean of every token state of the sentence, special tokens included
#: (the released code, no masking), or the mean of the states of the other words' subwords
CONTEXTS = ("sentence_mean", "others_mean")
#: where the words come from: the corpus's words above ``min_count``, or a file (a word list or a ``.vec``)
VOCABULARIES = ("corpus", "file")
#: a word of the vocabulary never seen in the corpus: its isolation vector (aggregate only), or left out
FALLBACKS = ("isolation", "none")
#: X2Static's own settings (the teacher input, the context vector and the training)
X2STATIC_FIELDS = ("variant", "context", "paragraph_sentences", "epochs", "lr", "negatives", "t", "batch_sentences",
                   "seed")
#: the settings that change results but that a method never reads: set to another value than the default, they
#: would only change the stage's identity (a rebuild, and a user who believes a setting took effect), so refused
UNREAD = {
    "isolation": ("max_length", "fallback") + X2STATIC_FIELDS,
    "aggregate": X2STATIC_FIELDS,
    "x2static": ("word_max_length", "fallback"),
}
_READ_BY = {**dict.fromkeys(X2STATIC_FIELDS, "x2static"), "max_length": "aggregate and x2static",
            "fallback": "aggregate", "word_max_length": "isolation and aggregate's fallback"}


@dataclass(frozen=True)
class StaticSettings:
    """One read-out; X2Static's defaults are those of epfml/X2Static's ``learn_from_bert_ver2.py``."""

    method: str = "isolation"
    layers: tuple[int, ...] = (-1,)    # hidden-state indices: 0 the embedding layer, -1 the last layer
    vocabulary: str = "corpus"
    vocabulary_path: Optional[str] = None
    min_count: int = 5                 # vocabulary "corpus": words seen at least this often
    max_words: int = 0                 # 0: every word; else the most frequent ones
    max_sentences: int = 0             # 0: the whole corpus; else that many, spread over it
    max_length: int = 128              # subword tokens per sentence (or paragraph), special tokens included
    word_max_length: int = 16          # subword tokens per word in isolation
    fallback: str = "isolation"        # aggregate: unseen words get their isolation vector; "none" leaves them out
    bf16: bool = True                  # teacher in bf16 autocast on a GPU (ignored on the CPU)
    # X2Static
    variant: str = "sentence"
    context: str = "sentence_mean"
    paragraph_sentences: int = 5       # variant "paragraph": consecutive sentences per teacher pass
    epochs: int = 5
    lr: float = 0.001                  # SparseAdam
    negatives: int = 10
    t: float = 5e-6                    # subsampling threshold: an occurrence is dropped w.p. 1 - min(1, sqrt(t/f) + t/f)
    batch_sentences: int = 128         # sentences (or paragraphs) per update
    seed: int = 0
    # where and how fast it runs
    device: str = runtime_field("auto")
    batch_size: int = runtime_field(256)           # words per forward pass in isolation
    teacher_batch_size: int = runtime_field(32)    # sentences per forward pass (aggregate, X2Static cache)
    threads: int = runtime_field(0, in_spec=False)  # torch threads; 0 leaves torch's default
    checkpoint_every: int = runtime_field(1)       # X2Static: epochs between checkpoints
    keep_work: bool = runtime_field(False)         # keep the teacher cache and checkpoints after success

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        for name, allowed in (("variant", VARIANTS), ("context", CONTEXTS), ("vocabulary", VOCABULARIES),
                              ("fallback", FALLBACKS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {tuple(allowed)}, not {getattr(self, name)!r}")
        layers = self.layers
        if isinstance(layers, int):
            layers = (layers,)
        layers = tuple(layers)
        if not layers or not all(isinstance(v, int) and not isinstance(v, bool) for v in layers):
            raise ValueError(f"layers must be a non-empty list of integers, not {self.layers!r}")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers must not repeat, not {layers!r}")
        object.__setattr__(self, "layers", layers)
        if self.vocabulary == "file" and not self.vocabulary_path:
            raise ValueError("vocabulary 'file' needs a vocabulary_path")
        require_positive_ints(self, ("min_count", "max_length", "word_max_length", "paragraph_sentences", "epochs",
                                     "negatives", "batch_sentences", "batch_size", "teacher_batch_size",
                                     "checkpoint_every"))
        for name in ("max_words", "max_sentences", "threads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, not {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, not {self.lr!r}")
        if not self.t > 0:
            raise ValueError(f"t must be positive, not {self.t!r}")
        unread = [f"{n}: {getattr(self, n)!r} (read by {_READ_BY[n]})" for n in UNREAD[self.method]
                  if getattr(self, n) != self.__dataclass_fields__[n].default]
        if unread:
            raise ValueError(f"method {self.method} does not read {', '.join(unread)}; remove "
                             f"{'them' if len(unread) > 1 else 'it'}: it would change nothing but the stage's identity")

    def file_stem(self, index: int) -> str:
        """The output name of one layer's set, by its non-negative hidden-state index (MiniLM's -1 is 6).

        >>> StaticSettings(method="aggregate").file_stem(6)
        'aggregate.L6'
        """
        return f"{self.method}.L{index}"
