"""WECHSEL transfer and continued pretraining.

``luigi --module pipeline TransferModel --lang sw`` reads
``tasks/transfer/sw.yaml``; ``PretrainedModel --lang sw`` continues
pretraining the transferred model (``pretraining.steps`` in the spec).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Iterator

import luigi

from ..errors import InputError
from ..spec import to_mapping
from ..transfer.spec import TransferSpec, load_transfer_spec
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, stage_threads, tasks_root,
                   work_dir, write_json)
from .multilingual import AlignedVectors, multilingual_spec
from .registry import register_kind

logger = logging.getLogger("luigi-interface")


def transfer_spec(name: str, profile: str) -> TransferSpec:
    return cached_spec("transfer", name, profile, load_transfer_spec)


def _spec_path(name: str) -> Path:
    return tasks_root() / "transfer" / f"{name}.yaml"


def _model_name(location: str) -> str:
    """A short name for a model location: the repository or package, not ``model`` or ``resolve/<rev>``."""
    parts = [p for p in location.removeprefix("pkg:").split("/") if p]
    if "resolve" in parts[1:]:
        parts = parts[:parts.index("resolve", 1)]
    elif len(parts) > 1 and parts[-1] == "model":
        parts = parts[:-1]
    return parts[-1].replace("_", "-").lower()


def target_lines(spec: TransferSpec, download_dir: Path) -> Iterator[str]:
    """The spec's target text (see :func:`pipeline.transfer.corpus.target_lines`)."""
    from ..transfer.corpus import target_lines as lines

    return lines(spec.target, corpora_root(), download_dir)


def _model_card(spec: TransferSpec, info: dict, metrics: dict, pretraining: dict | None = None) -> str:
    t = spec.target
    data = ", ".join(t.corpora) if t.corpora else t.url
    licences = []
    if t.corpora:
        from ..corpora import load_declaration

        licences = [f"{n}: {load_declaration(corpora_root() / n).licence}" for n in t.corpora]
    lines = [
        "---", f"language: {t.lang}", "tags: [wechsel, chronolingua]", "---", "",
        f"# {_model_name(spec.source_model.model)} transferred to `{t.lang}` with WECHSEL", "",
        f"- Source model: `{spec.source_model.model}` (revision `{spec.source_model.revision}`, kind "
        f"{info.get('kind')}, objective {info.get('objective')}); its licence applies to these weights.",
        f"- Target data: {data}" + (f" (held out: {', '.join(t.holdout)})" if t.holdout else "") + ".",
        *(f"  - licence {x}" for x in licences),
        f"- Static vectors: aligned spec `{spec.static_vectors}` (fastText, Procrustes + CSLS refinement).",
        f"- Method: WECHSEL (Minixhofer et al., NAACL 2022), {spec.wechsel.mode} mode, k = {spec.wechsel.neighbors}, "
        f"temperature {spec.wechsel.temperature}; new tokenizer of the source's kind, vocabulary "
        f"{info.get('target_vocab')}.",
        f"- Target subwords with source neighbours: {info.get('target_subwords_matched')} of "
        f"{info.get('target_subwords')}; random fallback: {info.get('target_subwords_fallback')}; special tokens "
        f"copied: {info.get('special_tokens_copied')}.",
    ]
    if pretraining:
        lines.append(f"- Continued pretraining: {pretraining.get('steps')} steps ({pretraining.get('objective')}), "
                     f"final loss {pretraining.get('final_loss')}.")
    if metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())
                  if k.startswith("retrieval")]
    lines += ["", "Load with `AutoModel.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)`.", ""]
    return "\n".join(lines)


def _retrieval(spec: TransferSpec, english: tuple, candidates: dict) -> dict:
    """English-to-target verse retrieval on the held-out books: the English side encoded by ``english``
    (model, tokenizer), the target side by each candidate."""
    from ..transfer.evaluate import encode_mean, parallel_verses, retrieval_metrics

    ev = spec.evaluation
    refs, src_txt, tgt_txt = parallel_verses(corpora_root() / ev.source_verses / "verses.tsv",
                                             corpora_root() / ev.target_verses / "verses.tsv", ev.books)
    q = encode_mean(*english, src_txt, batch_size=ev.batch_size, max_length=ev.max_length)
    out = {"retrieval_pairs": len(refs), "retrieval_books": ",".join(ev.books)}
    for name, (model, tok) in candidates.items():
        d = encode_mean(model, tok, tgt_txt, batch_size=ev.batch_size, max_length=ev.max_length)
        for k, v in retrieval_metrics(q, d).items():
            if k != "n":
                out[f"retrieval_{k}-{name}"] = v
    return out


def aligned_space(aligned: Path, lang: str, pivot: str):
    """``lang``'s space from an AlignedVectors folder: its native ``.bin`` (subwords), else its ``.npy``.

    Never the ``.kv`` beside them: it is a pickle, and the folder may come from a
    shared output root that another machine wrote.
    """
    from ..multilingual import load_aligned_space

    vec = aligned / (f"{lang}.bin" if (aligned / f"{lang}.bin").is_file() else f"{lang}.npy")
    return load_aligned_space(vec, aligned / f"mapping.{lang}-{pivot}.npy")


class _TransferParams:
    lang = luigi.Parameter(description="name of a spec under tasks/transfer/ (usually the target ISO code)")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    @property
    def spec_obj(self) -> TransferSpec:
        return transfer_spec(self.lang, self.profile)


class TransferModel(_TransferParams, StageTask):
    """A source model given a new tokenizer and WECHSEL-initialised embeddings for the target language."""

    stage = "transfer"
    version = 1

    def requires(self):
        return AlignedVectors(lang=self.spec_obj.static_vectors, profile=self.profile)

    def artifact_name(self) -> str:
        s = self.spec_obj
        return f"{_model_name(s.source_model.model)}-to-{s.target.lang}"

    def identity_settings(self):
        s = self.spec_obj
        return {"source_model": to_mapping(s.source_model), "target": to_mapping(s.target),
                "tokenizer": to_mapping(s.tokenizer), "wechsel": to_mapping(s.wechsel),
                "evaluation": to_mapping(s.evaluation)}

    def identity_inputs(self):
        from ..transfer.hub import model_source_identity

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

    def run(self):
        import copy

        import numpy as np
        import torch

        from ..transfer import initialise_target_model, load_source_model, neighbour_sample, train_target_tokenizer
        from ..transfer.hub import resolve_model

        s = self.spec_obj
        where = _spec_path(self.lang)
        torch.set_num_threads(stage_threads())
        ml = multilingual_spec(s.static_vectors, self.profile)
        if ml.source.lang != s.target.lang:
            raise InputError(where, f"static_vectors naming a multilingual spec whose source language is "
                             f"'{s.target.lang}'", f"tasks/multilingual/{s.static_vectors}.yaml maps "
                             f"'{ml.source.lang}' into '{ml.pivot.lang}'")
        downloads = outputs_root() / ".work" / "downloads"
        self.progress(0.0, f"source model {s.source_model.model}")
        folder = resolve_model(s.source_model.model, s.source_model.revision, downloads / "models")
        source = load_source_model(folder, s.source_model.kind, s.source_model.objective)
        english = None
        if s.evaluation.enabled:  # the untouched English model, before surgery changes it in place
            from transformers import AutoModel

            english = (AutoModel.from_pretrained(str(folder)), source.tokenizer)
        self.progress(0.05, "training the target tokenizer")
        t0 = time.time()
        target_tok = train_target_tokenizer(source.tokenizer, target_lines(s, downloads),
                                            s.tokenizer.vocab_size, s.tokenizer.min_frequency)
        tok_seconds = time.time() - t0
        aligned = self.input().path
        piv, tgt = ml.pivot.lang, ml.source.lang
        for name in (f"{piv}.bin", f"{tgt}.bin"):
            if s.wechsel.mode == "subword" and not (aligned / name).is_file():
                raise InputError(aligned / name, "a fastText .bin (subword information) for WECHSEL's subword mode",
                                 "missing; give the multilingual spec .bin vectors or use `wechsel: {mode: word}`")
        def space(lang):
            return aligned_space(aligned, lang, piv)
        lowercase = ml.tokenizer.lowercase if s.wechsel.lowercase is None else s.wechsel.lowercase
        self.progress(0.2, "WECHSEL: subword vectors and neighbours")
        t0 = time.time()
        model, result, info = initialise_target_model(
            source, target_tok, space(piv), space(tgt), mode=s.wechsel.mode, neighbors=s.wechsel.neighbors,
            temperature=s.wechsel.temperature, seed=s.wechsel.seed, trained_ngrams_only=s.wechsel.trained_ngrams_only,
            lowercase=lowercase, max_word_vectors=s.wechsel.max_word_vectors, device=s.wechsel.device,
            progress=lambda f: self.progress(0.2 + 0.5 * f, "WECHSEL: neighbours"))
        info.update({"kind": source.kind, "objective": source.objective,
                     "source_head_newly_initialised": list(source.newly_initialised)})
        metrics = {**{k: v for k, v in info.items() if isinstance(v, (int, float, str, bool)) or v is None},
                   "tokenizer_seconds": round(tok_seconds, 2), "wechsel_seconds": round(time.time() - t0, 2)}
        if s.evaluation.enabled:
            self.progress(0.75, "evaluating: verse retrieval")
            rnd = copy.deepcopy(model)
            E = english[0].get_input_embeddings().weight.detach().numpy()
            with torch.no_grad():
                rand = np.random.default_rng(s.wechsel.seed).normal(E.mean(0), E.std(0), (len(target_tok), E.shape[1]))
                rnd.get_input_embeddings().weight.copy_(torch.from_numpy(rand.astype(np.float32)))
            metrics.update(_retrieval(s, english, {"wechsel": (model, target_tok), "random_init": (rnd, target_tok),
                                                   "english_model": english}))
        with self.writing({"spec_file": str(where)}) as tmp:
            out = tmp / "model"
            model.save_pretrained(out)
            target_tok.save_pretrained(out)
            (out / "README.md").write_text(_model_card(s, info, metrics), encoding="utf-8")
            report = {"summary": info, "sample": neighbour_sample(result, source.tokenizer, target_tok, n=50),
                      "fallback_tokens": [target_tok.convert_ids_to_tokens(int(i))
                                          for i in np.flatnonzero(result.fallback)][:500]}
            write_json(tmp / "report.json", report)
            np.savez_compressed(tmp / "neighbours.npz", neighbours=result.neighbours, weights=result.weights,
                                similarities=result.similarities, fallback=result.fallback, copied=result.copied)
            write_json(tmp / "metrics.json", metrics)


class PretrainedModel(_TransferParams, StageTask):
    """The transferred model after continued pretraining on the target text (MLM or CLM)."""

    stage = "pretrain"
    version = 1

    @property
    def resources(self):
        return {} if self.spec_obj.pretraining.device == "cpu" else {"gpu": 1}

    def requires(self):
        return TransferModel(lang=self.lang, profile=self.profile)

    def artifact_name(self) -> str:
        s = self.spec_obj
        return f"{_model_name(s.source_model.model)}-to-{s.target.lang}"

    def identity_settings(self):
        p = to_mapping(self.spec_obj.pretraining)
        p.pop("log_every", None)
        return {"pretraining": p, "target": to_mapping(self.spec_obj.target)}

    def run(self):
        import numpy as np
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

        from ..plots import plot_loss_curve
        from ..transfer.pretrain import continued_pretraining, token_blocks

        s = self.spec_obj
        p = s.pretraining
        torch.set_num_threads(stage_threads())
        src = self.input().path / "model"
        objective = json.loads((self.input().path / "metrics.json").read_text())["objective"]
        if objective not in ("mlm", "clm"):
            raise InputError(_spec_path(self.lang), "source_model.objective mlm or clm for continued pretraining",
                             f"the transferred model has objective {objective!r}")
        cls = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
        model = cls.from_pretrained(str(src), use_safetensors=True)  # a stage folder: never a pickled .bin
        tok = AutoTokenizer.from_pretrained(str(src))
        self.progress(0.0, "tokenising the target text")
        blocks = token_blocks(tok, target_lines(s, outputs_root() / ".work" / "downloads"), p.seq_len, objective)
        settings = p
        digest, _, _ = self._identity()
        result = continued_pretraining(model, tok, blocks, settings, work_dir(self.stage, self.artifact_name(), digest),
                                       objective, progress=lambda f, m: self.progress(0.05 + 0.9 * f, m))
        losses = result.pop("losses")
        metrics = {**{k: v for k, v in result.items()}, "objective": objective, "steps": p.steps,
                   "blocks": int(len(blocks)), "final_loss": losses[-1] if losses else None,
                   "first_loss": losses[0] if losses else None,
                   "mean_loss_last_10": float(np.mean(losses[-10:])) if losses else None}
        if s.evaluation.enabled:  # the same retrieval check as the transfer stage, after pretraining
            from transformers import AutoModel

            from ..transfer.hub import resolve_model

            self.progress(0.96, "evaluating: verse retrieval")
            folder = resolve_model(s.source_model.model, s.source_model.revision,
                                   outputs_root() / ".work" / "downloads" / "models")
            english = (AutoModel.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder)))
            metrics.update(_retrieval(s, english, {"pretrained": (model, tok)}))
        with self.writing() as tmp:
            out = tmp / "model"
            model.save_pretrained(out)
            tok.save_pretrained(out)
            info = json.loads((self.input().path / "report.json").read_text())["summary"]
            (out / "README.md").write_text(_model_card(s, info, {}, {**metrics}), encoding="utf-8")
            write_json(tmp / "losses.json", losses)
            if losses:
                plot_loss_curve(losses, tmp / "loss.png", title=f"{self.artifact_name()}: continued pretraining")
            write_json(tmp / "metrics.json", metrics)


def _task_for(name: str, profile: str) -> luigi.Task:
    spec = transfer_spec(name, profile)
    if spec.pretraining.steps > 0:
        return PretrainedModel(lang=name, profile=profile)
    return TransferModel(lang=name, profile=profile)


register_kind("transfer", _task_for, load_transfer_spec)
