"""Transfer run specs (``tasks/transfer/<name>.yaml``), validated into typed objects.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "xx.yaml").write_text(
...     "source_model: {model: FacebookAI/roberta-base}\\n"
...     "target: {lang: sw, url: https://example.org/sw.txt.gz}\\n"
...     "static_vectors: sw\\nneeds_network: true\\n")
>>> spec = load_transfer_spec(d / "xx.yaml")
>>> spec.wechsel.neighbors, spec.wechsel.temperature, spec.tokenizer.vocab_size
(10, 0.1, None)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..spec import load_spec_of_kind
from ..torchutil import DEVICES
from .pretrain import PretrainSettings as PretrainingSpec

__all__ = ["SourceModelSpec", "TargetSpec", "TokenizerTrainSpec", "WechselSpec", "EvaluationSpec",
           "PretrainingSpec", "TransferSpec", "load_transfer_spec"]


@dataclass(frozen=True)
class SourceModelSpec:
    """The English source model: a local folder, ``pkg:<python package>/<folder>``, a hub id
    (``org/name``, fetched from ``$HF_ENDPOINT`` or huggingface.co) or an http(s) URL of a hub-style folder."""

    model: str
    revision: str = "main"
    kind: str = "auto"        # auto | roberta | gpt2 | bert | xlmr
    objective: str = "auto"   # auto (by kind) | mlm | clm | none

    def __post_init__(self):
        if self.kind not in ("auto", "roberta", "gpt2", "bert", "xlmr"):
            raise ValueError(f"kind auto, roberta, gpt2, bert or xlmr, not {self.kind!r}")
        if self.objective not in ("auto", "mlm", "clm", "none"):
            raise ValueError(f"objective auto, mlm, clm or none, not {self.objective!r}")


@dataclass(frozen=True)
class TargetSpec:
    """Target-language text: corpora under corpora/, or a text file by URL (one document per line)."""

    lang: str
    corpora: tuple[str, ...] = ()
    url: Optional[str] = None          # .txt, .txt.gz or .txt.xz
    url_sha256: Optional[str] = None
    holdout: tuple[str, ...] = ()      # file globs inside the corpora kept out of every training step
    max_lines: Optional[int] = None    # use at most this many lines (None: all)

    def __post_init__(self):
        if not (2 <= len(self.lang) <= 3 and self.lang.isalpha() and self.lang.islower()):
            raise ValueError(f"an ISO 639 code such as 'sw' for target.lang, not {self.lang!r}")
        if bool(self.corpora) == bool(self.url):
            raise ValueError("either target.corpora or target.url (not both)")


@dataclass(frozen=True)
class TokenizerTrainSpec:
    vocab_size: Optional[int] = None   # None: the source tokenizer's size
    min_frequency: int = 2


@dataclass(frozen=True)
class WechselSpec:
    mode: str = "subword"              # subword (fastText n-grams) | word (vectors without subwords)
    neighbors: int = 10
    temperature: float = 0.1
    seed: int = 1234                   # the random fallback rows
    trained_ngrams_only: bool = True   # ignore fastText n-gram buckets no vocabulary word touched
    lowercase: Optional[bool] = None   # look subwords up lowercased; None: as the static vectors were trained
    max_word_vectors: Optional[int] = None   # word mode: the most frequent words only
    device: str = "cpu"                # cpu | cuda | auto (the similarity search)

    def __post_init__(self):
        if self.mode not in ("subword", "word"):
            raise ValueError(f"wechsel.mode subword or word, not {self.mode!r}")
        if self.neighbors < 1 or self.temperature <= 0:
            raise ValueError("wechsel.neighbors >= 1 and wechsel.temperature > 0")
        if self.device not in DEVICES:
            raise ValueError(f"wechsel.device auto, cpu or cuda, not {self.device!r}")


@dataclass(frozen=True)
class EvaluationSpec:
    """English-to-target verse retrieval on held-out books (corpora with a verses.tsv)."""

    source_verses: Optional[str] = None   # corpus name, e.g. web
    target_verses: Optional[str] = None   # corpus name, e.g. rv1909
    books: tuple[str, ...] = ()
    max_length: int = 128
    batch_size: int = 64

    @property
    def enabled(self) -> bool:
        return bool(self.source_verses and self.target_verses and self.books)


@dataclass(frozen=True)
class TransferSpec:
    source_model: SourceModelSpec
    target: TargetSpec
    static_vectors: str                 # tasks/multilingual/<name>.yaml: target language aligned to the source's
    tokenizer: TokenizerTrainSpec = field(default_factory=TokenizerTrainSpec)
    wechsel: WechselSpec = field(default_factory=WechselSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    pretraining: PretrainingSpec = field(default_factory=PretrainingSpec)
    description: str = ""
    needs_network: bool = False
    name: str = ""


def load_transfer_spec(path: Path | str, profile: str | None = None) -> TransferSpec:
    return load_spec_of_kind(TransferSpec, "transfer", path, profile)
