"""WECHSEL transfer and continued pretraining.

``luigi --module pipeline TransferModel --lang sw`` reads
``tasks/transfer/sw.yaml``; ``PretrainedModel --lang sw`` continues
pretraining the transferred model (``pretraining.steps`` in the spec).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import luigi

from ..models import model_name
from ..spec import identity_of
from ..transfer.spec import TransferSpec, load_transfer_spec
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, referenced_spec,
                   stage_threads, tasks_root, work_dir)
from .multilingual import AlignedVectors
from .registry import register_kind

logger = logging.getLogger("luigi-interface")


def transfer_spec(name: str, profile: str) -> TransferSpec:
    return cached_spec("transfer", name, profile, load_transfer_spec)


def _spec_path(name: str) -> Path:
    return tasks_root() / "transfer" / f"{name}.yaml"


def target_lines(spec: TransferSpec, download_dir: Path) -> Iterator[str]:
    """The spec's target text (see :func:`pipeline.transfer.corpus.target_lines`)."""
    from ..transfer.corpus import target_lines as lines

    return lines(spec.target, corpora_root(), download_dir)


def aligned_space(aligned: Path, lang: str, pivot: str):
    """See :func:`pipeline.transfer.stages.aligned_space` (never the ``.kv`` pickle)."""
    from ..transfer.stages import aligned_space as space

    return space(aligned, lang, pivot)


def _downloads() -> Path:
    return outputs_root() / ".work" / "downloads"


class _TransferParams:
    lang = luigi.Parameter(description="name of a spec under tasks/transfer/ (usually the target ISO code)")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    @property
    def spec_obj(self) -> TransferSpec:
        return self.pinned_spec(lambda: transfer_spec(self.lang, self.profile))


class TransferModel(_TransferParams, StageTask):
    """A source model given a new tokenizer (or its own, extended) and embeddings initialised for the target
    language by WECHSEL, FOCUS or at random (the spec's ``init`` and ``vocabulary``)."""

    stage = "transfer"
    version = 1

    def gpu_device(self):  # the similarity search runs on a GPU with wechsel.device / focus.device cuda (or auto)
        s = self.spec_obj
        return s.focus.device if s.init == "focus" else s.wechsel.device

    def requires(self):  # only WECHSEL reads aligned static vectors; FOCUS and random need none
        if self.spec_obj.static_vectors and self.spec_obj.init == "wechsel":
            name = referenced_spec("multilingual", self.spec_obj.static_vectors, _spec_path(self.lang),
                                   "static_vectors")
            return AlignedVectors(lang=name, profile=self.profile)
        return []

    def artifact_name(self) -> str:
        s = self.spec_obj
        return f"{model_name(s.source_model.model)}-to-{s.target.lang}"

    def identity_settings(self):
        return self.spec_obj.identity_settings(self.version)

    def identity_inputs(self):
        from ..models import model_source_identity

        s = self.spec_obj
        inputs = {"aligned": super().identity_inputs(),
                  "source_model": model_source_identity(s.source_model.model, s.source_model.revision)}
        if s.target.corpora:
            inputs["target_corpora"] = corpus_fingerprints(s.target.corpora)
        else:
            inputs["target_url"] = {"url": s.target.url, "sha256": s.target.url_sha256}
        if s.evaluation.enabled:
            inputs["evaluation"] = corpus_fingerprints(sorted({s.evaluation.source_verses,
                                                               s.evaluation.target_verses}))
        return inputs

    def input_records(self):
        return _source_and_target_records(self.spec_obj, self._identity()[2])

    def run(self):
        from ..transfer.stages import AlignedInput, TransferInputs, build_transfer

        s = self.spec_obj
        aligned = None
        if self.requires():
            ml = self.requires().spec_obj
            aligned = AlignedInput(self.input().path, source=ml.source.lang, pivot=ml.pivot.lang,
                                   lowercase=ml.tokenizer.lowercase, spec_name=s.static_vectors)
        digest, _, _ = self._identity()
        inputs = TransferInputs(aligned, corpora=corpora_root(), downloads=_downloads(),
                                spec_file=_spec_path(self.lang),
                                work_dir=work_dir(self.stage, self.artifact_name(), digest))
        with self.writing({"spec_file": str(_spec_path(self.lang))}) as tmp:
            build_transfer(s, inputs, tmp, threads=stage_threads(), progress=self.progress)


def _source_and_target_records(s: TransferSpec, fp: dict | None) -> list:
    """The source model and the target text (corpora or URL) of a transfer spec, as input records."""
    from ..inputs import corpus_records, model_record, url_record
    from ..models import known_model_folder, model_source_identity

    sm = s.source_model
    ident = (fp or {}).get("source_model") or model_source_identity(sm.model, sm.revision)
    out = [model_record(sm.model, sm.revision, ident, known_model_folder(sm.model, sm.revision, _downloads() / "models"))]
    if s.target.corpora:
        out += corpus_records((fp or {}).get("target_corpora") or corpus_fingerprints(s.target.corpora),
                              corpora_root())
    else:
        out.append(url_record("url", f"{s.target.lang} target text", s.target.url,
                              {"url": s.target.url, "sha256": s.target.url_sha256}, s.target.licence))
    if fp and "evaluation" in fp:
        out += corpus_records(fp["evaluation"], corpora_root())
    return out


class PretrainedModel(_TransferParams, StageTask):
    """The transferred model after continued pretraining on the target text (MLM or CLM)."""

    stage = "pretrain"
    version = 1

    def gpu_device(self):  # continued pretraining runs on a GPU with pretraining.device cuda (or auto)
        return self.spec_obj.pretraining.device

    def requires(self):
        return TransferModel(lang=self.lang, profile=self.profile)

    def artifact_name(self) -> str:
        s = self.spec_obj
        return f"{model_name(s.source_model.model)}-to-{s.target.lang}"

    def identity_settings(self):
        s = self.spec_obj
        return {"pretraining": identity_of(s.pretraining, self.version), "target": identity_of(s.target, self.version)}

    def input_records(self):  # the target text it trains on (the source model is the transfer stage's input)
        return [r for r in _source_and_target_records(self.spec_obj, None) if r.kind != "model"]

    def run(self):
        from ..transfer.stages import PretrainInputs, build_pretrained

        digest, _, _ = self._identity()
        inputs = PretrainInputs(self.input().path, corpora=corpora_root(), downloads=_downloads(),
                                work_dir=work_dir(self.stage, self.artifact_name(), digest),
                                spec_file=_spec_path(self.lang))
        with self.writing() as tmp:
            build_pretrained(self.spec_obj, inputs, tmp, threads=stage_threads(), progress=self.progress)


def _task_for(name: str, profile: str) -> luigi.Task:
    spec = transfer_spec(name, profile)
    if spec.pretraining.steps > 0:
        return PretrainedModel(lang=name, profile=profile)
    return TransferModel(lang=name, profile=profile)


register_kind("transfer", _task_for, load_transfer_spec)
