"""The specialization training loop: resumable, seeded, checkpointed atomically.

Batches come from :func:`~pipeline.specialization.constraints.plan_batches`
(a pure function of the pairs and the seed); both words of every pair are
encoded in isolation and mean-pooled (:func:`~.encoding.encode_batch`), and
the :class:`~.objective.MultiPositiveInfoNCE` loss pulls words of one synset
together against the rest of the batch. Dropout is re-seeded at every step
from ``(seed, step)``, so a run resumed from a checkpoint produces the same
loss curve as one that never stopped.

A checkpoint (``<work_dir>/checkpoint.pt``: weights, optimizer state, step,
losses and a fingerprint of the data and settings) is written atomically
every ``checkpoint_every`` steps and at the end; a checkpoint whose
fingerprint differs (other data or settings) is ignored. Device, optimiser
groups, schedule and checkpoints are :mod:`pipeline.torchutil`'s, shared with
continued pretraining.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..torchutil import fingerprint, linear_schedule
from .settings import TrainSettings  # a light module: specs read it without numpy or torch

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

log = logging.getLogger(__name__)

__all__ = ["TrainSettings", "TrainResult", "train_specialization", "lr_factor", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    pairs_seen: int = 0
    seconds: float = 0.0
    resumed_from_step: int = 0
    device: str = "cpu"

    @property
    def pairs_per_second(self) -> float | None:
        return self.pairs_seen / self.seconds if self.seconds > 0 else None


def lr_factor(step: int, total: int, warmup: int, decay: str = "constant") -> float:
    """The learning-rate multiplier of 0-based ``step`` in a plan of ``total`` steps.

    Linear warm-up over the first ``warmup`` steps, then 1 (``constant``) or a
    linear decay that reaches 0 at the plan's last step (``linear``); see
    :func:`pipeline.torchutil.linear_schedule`.

    >>> [round(lr_factor(s, 10, 2, "linear"), 3) for s in range(10)]
    [0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    >>> [lr_factor(s, 4, 0) for s in range(4)]
    [1.0, 1.0, 1.0, 1.0]
    """
    return linear_schedule(step, warmup, max(warmup - 1, 0), total - 1 if decay == "linear" else None)


def _fingerprint(pairs: pl.DataFrame, settings: TrainSettings) -> str:
    return fingerprint(settings.fingerprint_fields(),
                       *("\x1f".join(pairs[col].to_list()).encode("utf-8")
                         for col in ("lang_a", "word_a", "lang_b", "word_b", "synset")))


def _codes(values: list[str]) -> np.ndarray:
    import numpy as np

    _, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def train_specialization(model, tokenizer, pairs: pl.DataFrame, settings: TrainSettings, work_dir: str | Path, *,
                         progress: Callable[[float, str], None] | None = None) -> TrainResult:
    """Fine-tune ``model`` in place on constraint ``pairs`` (see :func:`.constraints.synonym_pairs`).

    Resumes from ``<work_dir>/checkpoint.pt`` when its fingerprint matches.
    Returns the per-step losses (all of them, resumed ones included), the
    number of steps and pairs, and the wall time of this call.
    """
    import numpy as np
    import torch

    from ..torchutil import adamw, autocast, load_checkpoint, pick_device, save_checkpoint, set_lr
    from .constraints import plan_batches
    from .encoding import encode_batch
    from .objective import MultiPositiveInfoNCE

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(settings.device, "train.device")
    model.to(device)
    plan = plan_batches(pairs["lang_pair"].to_list(), settings.batch_pairs, settings.epochs,
                        settings.lang_pair_alpha, settings.seed)
    total = len(plan) if not settings.max_steps else min(settings.max_steps, len(plan))
    words_a = np.asarray(pairs["word_a"].to_list(), dtype=object)
    words_b = np.asarray(pairs["word_b"].to_list(), dtype=object)
    synsets = _codes(pairs["synset"].to_list())
    # a word met in two pairs of one batch is the same string: never its own negative
    word_keys = _codes([f"{l}\x1f{w}" for l, w in zip(pairs["lang_a"].to_list() + pairs["lang_b"].to_list(),
                                                      list(words_a) + list(words_b))])
    n = pairs.height
    key_a, key_b = word_keys[:n], word_keys[n:]

    optimizer = adamw(model, settings.lr, settings.weight_decay)
    loss_fn = MultiPositiveInfoNCE(settings.temperature)
    fp = _fingerprint(pairs, settings)
    ckpt_path = work_dir / CHECKPOINT
    result = TrainResult(device=device)
    step = 0
    state = load_checkpoint(ckpt_path, fp, what="specialization training", map_location=device)
    if state is not None and int(state["step"]) > total:
        log.warning("%s went past max_steps (step %s of %d); starting afresh", ckpt_path, state["step"], total)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        result.losses = list(state["losses"])
        result.resumed_from_step = step
        log.info("resuming specialization from step %d of %d (%s)", step, total, ckpt_path)

    def save(at: int) -> None:
        save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": at,
                                    "losses": result.losses, "total_steps": total}, fp)

    warmup = int(settings.warmup_ratio * len(plan))  # of the whole schedule: max_steps only stops early
    model.train()
    t0 = time.time()
    start = step
    while step < total:
        rows = plan[step]
        set_lr(optimizer, settings.lr * lr_factor(step, len(plan), warmup, settings.lr_decay))
        torch.manual_seed(settings.seed * 1_000_003 + step)  # dropout masks depend on the step only
        words = list(words_a[rows]) + list(words_b[rows])
        labels = torch.as_tensor(np.concatenate([synsets[rows], synsets[rows]]), device=device)
        keys = torch.as_tensor(np.concatenate([key_a[rows], key_b[rows]]), device=device)
        ignore = keys[:, None] == keys[None, :]
        with autocast(device, settings.bf16):
            emb = encode_batch(model, tokenizer, words, (settings.layer,), settings.max_length, device)
            loss = loss_fn(emb[settings.layer], labels, ignore)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        step += 1
        result.losses.append(float(loss.detach()))
        result.pairs_seen += len(rows)
        if step % settings.checkpoint_every == 0 or step == total:
            save(step)
        if progress:
            progress(step / total, f"specialization step {step}/{total}, loss {result.losses[-1]:.4f}")
    model.eval()
    result.steps = step
    result.seconds = time.time() - t0 if step > start else 0.0
    return result
