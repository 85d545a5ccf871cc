"""Transfer run specs (``tasks/transfer/<name>.yaml``), validated into typed objects.

``tokenizer``, ``wechsel``, ``evaluation`` and ``pretraining`` take their
keys, types, defaults and identity marks from :mod:`.settings`
(:func:`pipeline.spec.settings_section`); ``source_model`` and ``target``
say where the inputs come from.

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

from ..languages import iso_language
from ..spec import load_spec_of_kind, runtime_field, settings_section
from .settings import PretrainSettings, RetrievalSettings, TokenizerTrainSettings, WechselSettings

__all__ = ["SourceModelSpec", "TargetSpec", "TokenizerTrainSpec", "WechselSpec", "RetrievalSpec",
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
    licence: str = runtime_field("")   # the licence of the text by URL, as its publisher states it (provenance)

    def __post_init__(self):
        iso_language(self.lang, "target.lang")
        if bool(self.corpora) == bool(self.url):
            raise ValueError("either target.corpora or target.url (not both)")


TokenizerTrainSpec = settings_section(TokenizerTrainSettings, "TokenizerTrainSpec", module=__name__)
WechselSpec = settings_section(WechselSettings, "WechselSpec", module=__name__)
RetrievalSpec = settings_section(RetrievalSettings, "RetrievalSpec", module=__name__,
                                 enabled=RetrievalSettings.enabled)
EvaluationSpec = RetrievalSpec  # the old name (the specialization spec's evaluation is WordEvaluationSpec)
PretrainingSpec = settings_section(PretrainSettings, "PretrainingSpec", module=__name__)


@dataclass(frozen=True)
class TransferSpec:
    source_model: SourceModelSpec
    target: TargetSpec
    static_vectors: str                 # tasks/multilingual/<name>.yaml: target language aligned to the source's
    tokenizer: TokenizerTrainSpec = field(default_factory=TokenizerTrainSpec)
    wechsel: WechselSpec = field(default_factory=WechselSpec)
    evaluation: RetrievalSpec = field(default_factory=RetrievalSpec)
    pretraining: PretrainingSpec = field(default_factory=PretrainingSpec)
    description: str = ""
    needs_network: bool = False
    name: str = ""


def load_transfer_spec(path: Path | str, profile: str | None = None) -> TransferSpec:
    return load_spec_of_kind(TransferSpec, "transfer", path, profile)
