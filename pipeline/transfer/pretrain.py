"""Continued pretraining of a transferred model: masked LM (RoBERTa / BERT / XLM-R) or causal LM (GPT-2).

A plain torch loop rather than a trainer framework, so that a run killed at
any point resumes to the *same* loss curve: the batch order is a function of
(seed, epoch), the masking of step ``i`` draws from a generator seeded with
(seed, i), and a checkpoint (``<work_dir>/checkpoint-<step>/state.pt``, the
newest ``keep_checkpoints`` kept) holds the model, optimiser, the torch RNG
state (dropout), the losses so far and a fingerprint of the settings and
blocks. Checkpoints are written under a temporary name and renamed into
place, so a kill mid-write leaves the previous one intact; one with another
fingerprint is ignored. Device, optimiser groups, schedule and checkpoints
are :mod:`pipeline.torchutil`'s, shared with specialization::

    blocks = token_blocks(tokenizer, texts, seq_len=128, objective="mlm")
    result = continued_pretraining(model, tokenizer, blocks, PretrainSettings(steps=1000),
                                   work_dir="outputs/.work/pretrain-...", objective="mlm")
    result["losses"], result["tokens_per_second"]

On a GPU the forward pass runs under ``torch.autocast(bfloat16)`` (``bf16``).
"""
from __future__ import annotations

import logging
import math
import resource
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import InputError
from ..torchutil import fingerprint, linear_schedule
from .settings import PretrainSettings  # a light module: specs read it without torch

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["PretrainSettings", "token_blocks", "mask_tokens", "continued_pretraining", "latest_checkpoint"]

CKPT_PREFIX = "checkpoint-"


def token_blocks(tokenizer, texts: Iterable[str], seq_len: int, objective: str, batch: int = 1000):
    """The text as one token stream cut into fixed-length training blocks (a LongTensor ``(n, seq_len)``).

    Masked LM blocks are wrapped in the tokenizer's special tokens (``[CLS] ... [SEP]``,
    ``<s> ... </s>``); causal LM blocks are plain ``seq_len`` windows with the
    end-of-text token between documents.
    """
    import torch

    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    stream: list[int] = []
    pending: list[str] = []

    def flush():
        for ids in tokenizer(pending, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            if sep is not None:
                stream.append(sep)
        pending.clear()

    for text in texts:
        if text and text.strip():
            pending.append(text)
            if len(pending) >= batch:
                flush()
    flush()
    if objective == "mlm":
        prefix, suffix = _special_wrapping(tokenizer)
        inner = seq_len - len(prefix) - len(suffix)
        n = len(stream) // inner
        blocks = [prefix + stream[i * inner:(i + 1) * inner] + suffix for i in range(n)]
    else:
        n = len(stream) // seq_len
        blocks = [stream[i * seq_len:(i + 1) * seq_len] for i in range(n)]
    if not blocks:
        raise InputError(None, f"target text of at least one block of {seq_len} tokens for pretraining "
                         "(pretraining.seq_len)",
                         f"{len(stream)} tokens")
    return torch.tensor(blocks, dtype=torch.long)


def _special_wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a single sequence ([CLS] / [SEP], <s> / </s>)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return full[:i], full[i + len(plain):]
    return [], []


def mask_tokens(inputs, tokenizer, probability: float, generator):
    """BERT masking: ``probability`` of the non-special tokens are predicted; of those 80% become
    [MASK], 10% a random token, 10% stay. Returns (masked inputs, labels with -100 elsewhere)."""
    import torch

    labels = inputs.clone()
    special = torch.zeros_like(inputs, dtype=torch.bool)
    for tid in tokenizer.all_special_ids:
        special |= inputs == tid
    probs = torch.full(inputs.shape, probability)
    probs[special] = 0.0
    chosen = torch.bernoulli(probs, generator=generator).bool()
    labels[~chosen] = -100
    masked = inputs.clone()
    to_mask = torch.bernoulli(torch.full(inputs.shape, 0.8), generator=generator).bool() & chosen
    masked[to_mask] = tokenizer.mask_token_id
    to_random = torch.bernoulli(torch.full(inputs.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    masked[to_random] = torch.randint(len(tokenizer), inputs.shape, generator=generator)[to_random]
    return masked, labels


def latest_checkpoint(work_dir: Path) -> Path | None:
    done = sorted(p for p in Path(work_dir).glob(f"{CKPT_PREFIX}*") if (p / "state.pt").is_file())
    return done[-1] if done else None


def _save_checkpoint(work_dir: Path, step: int, state: dict, fp: str, keep: int) -> Path:
    """``checkpoint-<step>/state.pt`` (atomic), then only the newest ``keep`` complete checkpoints are left."""
    from ..torchutil import save_checkpoint

    final = work_dir / f"{CKPT_PREFIX}{step:08d}"
    save_checkpoint(final / "state.pt", state, fp)
    old = sorted(p for p in work_dir.glob(f"{CKPT_PREFIX}*") if p != final)
    complete = [p for p in old if (p / "state.pt").is_file()]
    for p in [p for p in old if p not in complete] + complete[:max(0, len(complete) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _fingerprint(settings: PretrainSettings, blocks, objective: str) -> str:
    """What a checkpoint belongs to: the settings that shape the loss curve, the objective and the blocks
    (the head warm-up only where there is one: checkpoints from before it existed still resume)."""
    fields = asdict(settings)
    for name in ("device", "checkpoint_every", "log_every", "keep_checkpoints"):
        fields.pop(name)
    if not settings.head_warmup_steps:
        fields.pop("head_warmup_steps")
        fields.pop("head_lr")
    return fingerprint({**fields, "objective": objective}, memoryview(blocks.contiguous().numpy()).cast("B"))


def _head_parameters(model, names: Iterable[str]) -> set[str]:
    """The parameters among ``names`` (the head's weights the source lacked) that the head warm-up trains:
    those the model holds, less any that is the input embedding matrix (a decoder tied to it)."""
    embeddings = model.get_input_embeddings().weight
    wanted = set(names)
    return {n for n, p in model.named_parameters() if n in wanted and p is not embeddings}


def continued_pretraining(model, tokenizer, blocks, settings: PretrainSettings, work_dir: str | Path,
                          objective: str, on_step: Callable[[int, float], None] | None = None,
                          progress: Callable[[float, str], None] | None = None,
                          new_head: Iterable[str] = ()) -> dict:
    """Train ``model`` in place for ``settings.steps`` steps, resuming from the newest checkpoint in ``work_dir``.

    ``new_head``: the names of the weights the transfer initialised anew (its source folder lacked them); the
    first ``settings.head_warmup_steps`` steps train only those, at ``settings.head_lr``, everything else
    frozen. Returns ``losses`` (one per step, resumed steps included), ``tokens_per_second``
    (steps run in this call), ``peak_memory_bytes`` (GPU when on one, else the process's
    peak RSS), ``device``, ``resumed_from_step``.
    """
    import numpy as np
    import torch

    from ..torchutil import adamw, autocast, load_checkpoint, pick_device, set_lr

    if objective not in ("mlm", "clm"):
        raise ValueError(f"objective mlm or clm, not {objective!r}")
    if objective == "mlm" and tokenizer.mask_token_id is None:
        raise InputError(None, "a tokenizer with a mask token for masked-LM pretraining", "none")
    head_only = settings.head_warmup_steps
    head = _head_parameters(model, new_head) if head_only else set()
    if head_only and not head:
        raise InputError(None, f"a newly initialised head for pretraining.head_warmup_steps {head_only} (the "
                         "weights the source folder lacked)", "the model has none: set head_warmup_steps 0")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(pick_device(settings.device, "pretraining.device"))
    model.to(device)
    opt = adamw(model, settings.lr, settings.weight_decay)
    # the head's steps first, then lr's warm-up and decay over the rest (without a head warm-up: all the steps)
    total, warm = max(1, settings.steps - head_only), settings.warmup_steps
    trainable = {n: p.requires_grad for n, p in model.named_parameters()}

    def phase(step: int) -> None:
        """Freeze everything but the new head during its warm-up; after it, what was trainable before."""
        for n, p in model.named_parameters():
            p.requires_grad_(n in head if step < head_only else trainable[n])
    fp = _fingerprint(settings, blocks, objective)
    losses: list[float] = []
    start = 0
    ckpt = latest_checkpoint(work_dir)
    state = None if ckpt is None else load_checkpoint(ckpt / "state.pt", fp, what="continued pretraining",
                                                      map_location=device)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"])
        losses, start = list(state["losses"]), int(state["step"])
        log.info("resuming continued pretraining at step %d from %s", start, ckpt)
    else:
        torch.manual_seed(settings.seed)
    n = len(blocks)
    perms: dict[int, np.ndarray] = {}

    def batch_rows(step: int) -> np.ndarray:
        out = []
        for j in range(step * settings.batch_size, (step + 1) * settings.batch_size):
            epoch, pos = divmod(j, n)
            if epoch not in perms:
                perms[epoch] = np.random.default_rng([settings.seed, epoch]).permutation(n)
            out.append(perms[epoch][pos])
        return np.asarray(out)

    use_bf16 = settings.bf16 and device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    tokens = 0
    t0 = time.perf_counter()
    try:
        for step in range(start, settings.steps):
            if step == start or step == head_only:
                phase(step)
            if step < head_only:
                set_lr(opt, settings.head_lr)
            else:  # warm-up, then linear decay to 0 one step after the last
                set_lr(opt, settings.lr * linear_schedule(step - head_only, warm, warm, total))
            batch = blocks[torch.from_numpy(batch_rows(step))]
            if objective == "mlm":
                gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
                inputs, labels = mask_tokens(batch, tokenizer, settings.mlm_probability, gen)
            else:
                inputs, labels = batch, batch.clone()
            inputs, labels = inputs.to(device), labels.to(device)
            with autocast(device.type, settings.bf16):
                loss = model(input_ids=inputs, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"pretraining loss became {value} at step {step + 1}")
            losses.append(value)
            tokens += int(inputs.numel())
            done = step + 1
            if done % settings.checkpoint_every == 0 or done == settings.steps:
                _save_checkpoint(work_dir, done, {
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                    "step": done, "losses": losses, "settings": asdict(settings)}, fp, settings.keep_checkpoints)
            if settings.log_every and done % settings.log_every == 0:
                log.info("step %d/%d loss %.4f", done, settings.steps, value)
            if progress is not None:
                progress(done / settings.steps, f"step {done}/{settings.steps} loss {value:.3f}")
            if on_step is not None:
                on_step(done, value)
    finally:  # every weight trainable again, as it came (a stopped run's model too)
        phase(settings.steps)
    seconds = time.perf_counter() - t0
    if device.type == "cuda":
        peak = int(torch.cuda.max_memory_allocated(device))
    else:
        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    model.eval()
    return {"losses": losses, "steps_run": settings.steps - start, "resumed_from_step": start,
            "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None,
            "seconds": round(seconds, 2), "peak_memory_bytes": peak, "device": str(device), "bf16": use_bf16}
