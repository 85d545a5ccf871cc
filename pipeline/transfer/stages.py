"""The two transfer stages as plain functions: settings + inputs + an output folder -> metrics.

No luigi here (:mod:`pipeline.dag.transfer` only wires these to tasks).

* :func:`build_transfer` writes ``model/`` (the source model with a new
  tokenizer and WECHSEL embeddings, a Hugging Face folder with a model card),
  ``report.json`` (summary, a sample of neighbours, fallback tokens),
  ``neighbours.npz`` and ``metrics.json`` (verse retrieval of WECHSEL, the
  random initialisation and the English model when the spec evaluates);
* :func:`build_pretrained` continues pretraining such a model and writes
  ``model/``, ``losses.json``, ``loss.png`` and ``metrics.json``.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from ..errors import InputError
from ..identity import write_json
from .spec import TransferSpec

__all__ = ["AlignedInput", "TransferInputs", "PretrainInputs", "aligned_space", "build_transfer", "build_pretrained"]

log = logging.getLogger(__name__)

Progress = Optional[Callable[[float, str], None]]


def _report(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)



def aligned_space(aligned: Path, lang: str, pivot: str):
    """``lang``'s space from an AlignedVectors folder: its native ``.bin`` (subwords), else its ``.npy``.

    Never the ``.kv`` beside them: it is a pickle, and the folder may come from a
    shared output root that another machine wrote.
    """
    from ..multilingual import load_aligned_space

    vec = aligned / (f"{lang}.bin" if (aligned / f"{lang}.bin").is_file() else f"{lang}.npy")
    return load_aligned_space(vec, aligned / f"mapping.{lang}-{pivot}.npy")


@dataclass(frozen=True)
class AlignedInput:
    """An aligned-vectors stage folder and what its spec says: ``source`` mapped into ``pivot``'s space."""

    folder: Path
    source: str            # the language mapped (the transfer's target language)
    pivot: str             # the space's language (the source model's)
    lowercase: bool        # whether the static vectors were trained on lowercased text
    spec_name: str = ""    # the multilingual spec, named in error messages


@dataclass(frozen=True)
class TransferInputs:
    """What the transfer stage reads: the aligned static vectors, the corpus root and the download cache."""

    aligned: Optional[AlignedInput]   # None where the spec's init is not WECHSEL
    corpora: Path          # the corpus root: target corpora, evaluation verses, licences
    downloads: Path        # fetched models (``models/``) and target texts
    spec_file: Optional[Path] = None  # the spec, named in error messages
    work_dir: Optional[Path] = None   # resumable state (FOCUS's auxiliary fastText space)


def _retrieval(settings: TransferSpec, corpora: Path, english: tuple, candidates: dict) -> dict:
    from .evaluate import verse_retrieval

    ev = settings.evaluation
    return verse_retrieval(corpora / ev.source_verses / "verses.tsv", corpora / ev.target_verses / "verses.tsv",
                           ev.books, english, candidates, batch_size=ev.batch_size, max_length=ev.max_length)


def _check_evaluation_verses(settings: TransferSpec, corpora: Path, spec_file: Optional[Path]) -> None:
    """The spec's verse tables and books, read before any training: the stages evaluate only at their end, after
    the tokenizer and embeddings (transfer) or every pretraining step, so a wrong name would fail there."""
    from .evaluate import parallel_verses

    ev = settings.evaluation
    if not ev.enabled:
        return
    tables = {}
    for key in ("source_verses", "target_verses"):
        tables[key] = corpora / getattr(ev, key) / "verses.tsv"
        if not tables[key].is_file():
            raise InputError(spec_file, f"evaluation.{key} naming a corpus with a verses.tsv",
                             f"{tables[key]} does not exist")
    try:
        parallel_verses(tables["source_verses"], tables["target_verses"], ev.books)
    except InputError as e:
        if e.found != "none in common":  # a malformed table names its own line
            raise
        raise InputError(spec_file, f"evaluation.books naming books with verses in both {tables['source_verses']} "
                         f"and {tables['target_verses']}", f"none of {', '.join(ev.books)}") from None


def _fixed_tokens(tokenizer) -> int:
    """How many tokens every retrained tokenizer holds whatever its text: the source's special and added tokens,
    and for a byte-level BPE (or one with byte fallback) the 256 byte tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)  # a slow tokenizer is refused by the training itself
    tj = json.loads(backend.to_str()) if backend is not None else {}
    fixed = set(tokenizer.all_special_tokens) | {a["content"] for a in tj.get("added_tokens") or []}
    byte_level = "ByteLevel" in json.dumps([tj.get("pre_tokenizer"), tj.get("decoder")]) \
        or bool(tj.get("model", {}).get("byte_fallback"))
    return len(fixed) + (256 if byte_level else 0)


class _Lines:
    """The spec's target text as a restartable iterable (FOCUS's fastText reads it more than once)."""

    def __init__(self, settings: TransferSpec, inputs):
        self.settings, self.inputs = settings, inputs

    def __iter__(self):
        from .corpus import target_lines

        return iter(target_lines(self.settings.target, self.inputs.corpora, self.inputs.downloads))


def _naming_the_spec(build):
    """``build``'s InputErrors that name no file (the tokenizer, FOCUS and pretraining helpers know none) name
    the spec."""
    @functools.wraps(build)
    def wrapped(settings, inputs, *args, **kwargs):
        try:
            return build(settings, inputs, *args, **kwargs)
        except InputError as e:
            if e.path is not None or inputs.spec_file is None:
                raise
            raise InputError(inputs.spec_file, e.expected, e.found) from e
    return wrapped


@_naming_the_spec
def build_transfer(settings: TransferSpec, inputs: TransferInputs, out_dir: Path, *, threads: int = 0,
                   progress: Progress = None) -> dict:
    """A tokenizer trained on the target text and embeddings initialised by the spec's ``init`` (WECHSEL from the
    aligned space, FOCUS, random), replacing or extending the source vocabulary (``vocabulary``).

    Writes the stage folder ``out_dir``; returns its metrics.
    """
    import numpy as np
    import torch

    from ..inputs import declared_licence
    from ..models import resolve_model
    from . import initialise_target, load_source_model, neighbour_sample, train_target_tokenizer
    from .model import check_target_tokenizer, check_vocabulary_size
    from .card import model_card
    from .corpus import target_lines
    from .evaluate import random_init_baseline

    s = settings
    out_dir = Path(out_dir)
    a = inputs.aligned
    if threads:
        torch.set_num_threads(threads)
    if s.init == "wechsel" and a is None:
        raise InputError(inputs.spec_file, "static_vectors (aligned vectors) for init: wechsel", "none given")
    if a is not None and a.source != s.target.lang:
        raise InputError(inputs.spec_file, f"static_vectors naming a multilingual spec whose source language is "
                         f"'{s.target.lang}'", f"tasks/multilingual/{a.spec_name or s.static_vectors}.yaml maps "
                         f"'{a.source}' into '{a.pivot}'")
    _check_evaluation_verses(s, inputs.corpora, inputs.spec_file)
    _report(progress, 0.0, f"source model {s.source_model.model}")
    folder = resolve_model(s.source_model.model, s.source_model.revision, inputs.downloads / "models")
    source = load_source_model(folder, s.source_model.kind, s.source_model.objective)
    fixed = _fixed_tokens(source.tokenizer)
    if s.tokenizer.vocab_size is not None and s.tokenizer.vocab_size <= fixed:
        # refused before training: the trainer keeps these anyway and the size check after it advises lowering
        raise InputError(inputs.spec_file, f"tokenizer.vocab_size above the {fixed} tokens every {source.kind} "
                         "tokenizer holds (its special and added tokens, and byte tokens where it has them)",
                         f"vocab_size is {s.tokenizer.vocab_size}")
    english = None
    if s.evaluation.enabled:  # the untouched English model, before surgery changes it in place
        from transformers import AutoModel

        english = (AutoModel.from_pretrained(str(folder)), source.tokenizer)
    _report(progress, 0.05, "training the target tokenizer")
    t0 = time.time()
    target_tok = train_target_tokenizer(source.tokenizer, target_lines(s.target, inputs.corpora, inputs.downloads),
                                        s.tokenizer.vocab_size, s.tokenizer.min_frequency, kind=source.kind)
    tok_seconds = time.time() - t0
    check_vocabulary_size(target_tok, s.tokenizer.vocab_size or len(source.tokenizer), inputs.spec_file)
    check_target_tokenizer(target_tok, target_lines(s.target, inputs.corpora, inputs.downloads),
                           where=inputs.spec_file)
    spaces, wechsel = None, s.wechsel
    if s.init == "wechsel":
        for name in (f"{a.pivot}.bin", f"{a.source}.bin"):
            if s.wechsel.mode == "subword" and not (a.folder / name).is_file():
                raise InputError(a.folder / name, "a fastText .bin (subword information) for WECHSEL's subword mode",
                                 "missing; give the multilingual spec .bin vectors or use `wechsel: {mode: word}`")
        wechsel = replace(s.wechsel, lowercase=a.lowercase if s.wechsel.lowercase is None else s.wechsel.lowercase)
        spaces = (aligned_space(a.folder, a.pivot, a.pivot), aligned_space(a.folder, a.source, a.pivot))
    label = {"wechsel": "WECHSEL", "focus": "FOCUS", "random": "random initialisation"}[s.init]
    _report(progress, 0.2, f"{label}: the new embeddings")
    t0 = time.time()
    with contextlib.ExitStack() as stack:
        # FOCUS's token file and fastText model: never inside the stage folder, which a failed run leaves empty
        work = (Path(inputs.work_dir) if inputs.work_dir is not None
                else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="focus-"))))
        model, target_tok, result, info = initialise_target(
            source, target_tok, s.init, vocabulary=s.vocabulary, wechsel=wechsel, spaces=spaces, focus=s.focus,
            texts=_Lines(s, inputs) if s.init == "focus" else None, work_dir=work / "focus", threads=threads or 1,
            progress=lambda f: _report(progress, 0.2 + 0.5 * f, f"{label}: the new embeddings"))
    info.update({"kind": source.kind, "objective": source.objective,
                 "source_head_newly_initialised": list(source.newly_initialised)})
    metrics = {**{k: v for k, v in info.items() if isinstance(v, (int, float, str, bool)) or v is None},
               "tokenizer_seconds": round(tok_seconds, 2), f"{s.init}_seconds": round(time.time() - t0, 2)}
    # for the model cards (this stage's and the pretraining stage's, which reads report.json): not a metric
    info["source_licence"] = declared_licence(s.source_model.model, s.source_model.revision, folder)
    if s.evaluation.enabled:
        _report(progress, 0.75, "evaluating: verse retrieval")
        E = english[0].get_input_embeddings().weight.detach().numpy()
        rnd = random_init_baseline(model, E, len(result.matrix), s.wechsel.seed,
                                   keep=range(info["source_vocab"]) if s.vocabulary == "extend" else ())
        arms = {"random_init": (rnd, target_tok), "english_model": english}
        if s.init != "random":
            arms[s.init] = (model, target_tok)
        metrics.update(_retrieval(s, inputs.corpora, english, arms))
    out = out_dir / "model"
    model.save_pretrained(out)
    target_tok.save_pretrained(out)
    (out / "README.md").write_text(model_card(s, info, metrics, corpora=inputs.corpora), encoding="utf-8")
    report = {"summary": info, "sample": neighbour_sample(result, source.tokenizer, target_tok, n=50),
              "fallback_tokens": [target_tok.convert_ids_to_tokens(int(i))
                                  for i in np.flatnonzero(result.fallback)][:500]}
    write_json(out_dir / "report.json", report)
    np.savez_compressed(out_dir / "neighbours.npz", neighbours=result.neighbours, weights=result.weights,
                        similarities=result.similarities, fallback=result.fallback, copied=result.copied)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


@dataclass(frozen=True)
class PretrainInputs:
    """What continued pretraining reads: a transfer stage folder, the target text and its resumable state."""

    transferred: Path      # a transfer stage folder (see build_transfer)
    corpora: Path          # the corpus root: target corpora, evaluation verses, licences
    downloads: Path        # fetched models (``models/``) and target texts
    work_dir: Path         # resumable state (checkpoints)
    spec_file: Optional[Path] = None  # the spec, named in error messages


@_naming_the_spec
def build_pretrained(settings: TransferSpec, inputs: PretrainInputs, out_dir: Path, *, threads: int = 0,
                     progress: Progress = None) -> dict:
    """Continue pretraining the transferred model on the target text (its own objective, MLM or CLM).

    Resumes from the newest checkpoint in ``inputs.work_dir``. Writes the stage
    folder ``out_dir``; returns its metrics.
    """
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from ..figures import plot_loss_curve
    from ..models import model_name, resolve_model
    from .card import model_card
    from .corpus import target_lines
    from .pretrain import continued_pretraining, token_blocks

    s = settings
    p = s.pretraining
    out_dir = Path(out_dir)
    _check_evaluation_verses(s, inputs.corpora, inputs.spec_file)
    if threads:
        torch.set_num_threads(threads)
    src = Path(inputs.transferred) / "model"
    objective = json.loads((Path(inputs.transferred) / "metrics.json").read_text())["objective"]
    if objective not in ("mlm", "clm"):
        raise InputError(inputs.spec_file, "source_model.objective mlm or clm for continued pretraining",
                         f"the transferred model has objective {objective!r}")
    cls = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    model = cls.from_pretrained(str(src), use_safetensors=True)  # a stage folder: never a pickled .bin
    tok = AutoTokenizer.from_pretrained(str(src))
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and model.config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= (model.config.pad_token_id or 0) + 1  # their positions start after the padding index
    if positions and p.seq_len > positions:
        raise InputError(inputs.spec_file, f"pretraining.seq_len at most the model's {positions} positions",
                         f"seq_len is {p.seq_len}")
    info = json.loads((Path(inputs.transferred) / "report.json").read_text())["summary"]
    new_head = list(info.get("source_head_newly_initialised") or ())
    if p.head_warmup_steps and not new_head:
        raise InputError(inputs.spec_file, "pretraining.head_warmup_steps 0 for a source model whose folder had "
                         "its head (the warm-up trains only a head the transfer initialised anew)",
                         f"head_warmup_steps is {p.head_warmup_steps}; {s.source_model.model} had every weight")
    if new_head and not p.head_warmup_steps:
        log.warning("%s: the transfer initialised the %s head anew (%d weights its source folder lacked) and it "
                    "trains with the body from the first step, which pulls the transferred embeddings towards its "
                    "noise at first; pretraining.head_warmup_steps trains it alone first", s.source_model.model,
                    objective, len(new_head))
    _report(progress, 0.0, "tokenising the target text")
    blocks = token_blocks(tok, target_lines(s.target, inputs.corpora, inputs.downloads), p.seq_len, objective)
    result = continued_pretraining(model, tok, blocks, p, inputs.work_dir, objective,
                                   progress=lambda f, m: _report(progress, 0.05 + 0.9 * f, m), new_head=new_head)
    losses = result.pop("losses")
    metrics = {**result, "objective": objective, "steps": p.steps, "blocks": int(len(blocks)),
               "final_loss": losses[-1] if losses else None, "first_loss": losses[0] if losses else None,
               "mean_loss_last_10": float(np.mean(losses[-10:])) if losses else None}
    if s.evaluation.enabled:  # the same retrieval check as the transfer stage, after pretraining
        from transformers import AutoModel

        _report(progress, 0.96, "evaluating: verse retrieval")
        folder = resolve_model(s.source_model.model, s.source_model.revision, inputs.downloads / "models")
        english = (AutoModel.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder)))
        metrics.update(_retrieval(s, inputs.corpora, english, {"pretrained": (model, tok)}))
    out = out_dir / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "README.md").write_text(model_card(s, info, {}, {**metrics}, corpora=inputs.corpora), encoding="utf-8")
    write_json(out_dir / "losses.json", losses)
    if losses:
        name = f"{model_name(s.source_model.model)}-to-{s.target.lang}"
        plot_loss_curve(losses, out_dir / "loss.png", title=f"{name}: continued pretraining")
    write_json(out_dir / "metrics.json", metrics)
    return metrics
