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

from ..errors import SpecError
from ..languages import iso_language
from ..spec import load_spec_of_kind, require_corpus_names, runtime_field, settings_section
from .settings import (INITS, VOCABULARIES, FocusSettings, PretrainSettings, RetrievalSettings,
                       TokenizerTrainSettings, WechselSettings)

# the kinds of pipeline.transfer.model.KINDS (that module imports transformers' helpers lazily, but is not
# read here so that a spec loads with the standard library only)
_KINDS = ("auto", "roberta", "gpt2", "bert", "xlmr", "llama", "mistral", "qwen2", "gemma")

__all__ = ["SourceModelSpec", "FocusSpec", "TargetSpec", "TokenizerTrainSpec", "WechselSpec", "RetrievalSpec",
           "PretrainingSpec", "TransferSpec", "load_transfer_spec"]


@dataclass(frozen=True)
class SourceModelSpec:
    """The English source model: a local folder, ``pkg:<python package>/<folder>``, a hub id
    (``org/name``, fetched from ``$HF_ENDPOINT`` or huggingface.co) or an http(s) URL of a hub-style folder."""

    model: str
    revision: str = "main"
    kind: str = "auto"        # auto | roberta | gpt2 | bert | xlmr | llama | mistral | qwen2 | gemma
    objective: str = "auto"   # auto (by kind) | mlm | clm | none

    def __post_init__(self):
        if not self.model.strip():
            raise ValueError("source_model.model: a local folder, pkg:<package>/<folder>, a hub id or an http(s) URL, "
                             f"not {self.model!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"kind {', '.join(_KINDS)}, not {self.kind!r}")
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
        require_corpus_names("target.corpora", self.corpora)
        if bool(self.corpora) == bool(self.url):
            raise ValueError("either target.corpora or target.url (not both)")
        if self.max_lines is not None and self.max_lines < 1:
            raise ValueError(f"target.max_lines >= 1 (or absent: every line), not {self.max_lines!r}")


TokenizerTrainSpec = settings_section(TokenizerTrainSettings, "TokenizerTrainSpec", module=__name__)
WechselSpec = settings_section(WechselSettings, "WechselSpec", module=__name__)
RetrievalSpec = settings_section(RetrievalSettings, "RetrievalSpec", module=__name__,
                                 enabled=RetrievalSettings.enabled)
EvaluationSpec = RetrievalSpec  # the old name (the specialization spec's evaluation is WordEvaluationSpec)
PretrainingSpec = settings_section(PretrainSettings, "PretrainingSpec", module=__name__)
FocusSpec = settings_section(FocusSettings, "FocusSpec", module=__name__)


@dataclass(frozen=True)
class TransferSpec:
    """A transfer run. ``init``: how the new rows are made (WECHSEL from ``static_vectors``, FOCUS from an
    auxiliary fastText space on the target text, or random N(mean, std)); ``vocabulary``: ``replace`` the source
    vocabulary by the target tokenizer's, or ``extend`` it with the target tokens it lacks (source ids kept).
    The transfer stage hashes ``init`` and ``vocabulary`` only where they differ from WECHSEL / replace (what
    every spec meant before the keys existed), and ``focus`` only with ``init: focus``."""

    source_model: SourceModelSpec
    target: TargetSpec
    static_vectors: Optional[str] = None  # tasks/multilingual/<name>.yaml: target language aligned to the source's
    tokenizer: TokenizerTrainSpec = field(default_factory=TokenizerTrainSpec)
    wechsel: WechselSpec = field(default_factory=WechselSpec)
    evaluation: RetrievalSpec = field(default_factory=RetrievalSpec)
    pretraining: PretrainingSpec = field(default_factory=PretrainingSpec)
    init: str = "wechsel"
    vocabulary: str = "replace"
    focus: FocusSpec = field(default_factory=FocusSpec)
    description: str = ""
    needs_network: bool = False
    name: str = ""

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"init {', '.join(INITS)}, not {self.init!r}")
        if self.vocabulary not in VOCABULARIES:
            raise ValueError(f"vocabulary {', '.join(VOCABULARIES)}, not {self.vocabulary!r}")
        for key in ("source_verses", "target_verses"):
            if getattr(self.evaluation, key) is not None:
                require_corpus_names(f"evaluation.{key}", getattr(self.evaluation, key))
        if self.init == "wechsel" and not self.static_vectors:
            raise ValueError("static_vectors (a tasks/multilingual spec) is required with init: wechsel")
        if self.init != "focus" and self.focus != FocusSpec():  # the same: settings nothing would read
            raise ValueError(f"focus settings only with init: focus (init: {self.init} trains no auxiliary fastText "
                             "space; remove the focus section, or set init: focus)")
        if self.init != "wechsel" and self.static_vectors:  # read by nothing else: it would be ignored unsaid
            raise ValueError(f"static_vectors only with init: wechsel (init: {self.init} reads no static vectors; "
                             f"remove static_vectors: {self.static_vectors}, or set it to null in a profile)")

    def identity_settings(self, version: int) -> dict:
        """The transfer stage's settings identity (see the class docstring for what is left out when)."""
        from ..spec import identity_of

        out = {key: identity_of(getattr(self, key), version)
               for key in ("source_model", "target", "tokenizer", "wechsel", "evaluation")}
        if self.init != "wechsel":
            out["init"] = self.init
        if self.vocabulary != "replace":
            out["vocabulary"] = self.vocabulary
        if self.init == "focus":
            out["focus"] = identity_of(self.focus, version)
        return out


def load_transfer_spec(path: Path | str, profile: str | None = None) -> TransferSpec:
    spec = load_spec_of_kind(TransferSpec, "transfer", path, profile)
    ev = spec.evaluation
    # books without both verse tables would turn the evaluation off without a word; checked here, on what a spec
    # file says, not in RetrievalSettings, whose fields code may set one at a time
    if ev.books and not ev.enabled:
        missing = " and ".join(f"evaluation.{k}" for k in ("source_verses", "target_verses") if not getattr(ev, k))
        raise SpecError(path, "evaluation.source_verses and evaluation.target_verses (corpora with a verses.tsv) "
                        "with evaluation.books", f"{missing} not given (an empty evaluation.books turns the "
                        "evaluation off)")
    return spec
