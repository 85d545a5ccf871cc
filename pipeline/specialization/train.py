"""The specialization training loop: resumable, seeded, checkpointed atomically.

Batches come from :func:`~pipeline.specialization.constraints.plan_batches`
(a pure function of the pairs and the seed); both words of every pair are
encoded in isolation and mean-pooled (:func:`~.encoding.encode_batch`), and
the :class:`~.objective.MultiPositiveInfoNCE` loss pulls words of one synset
together against the rest of the batch. Dropout is re-seeded at every step
from ``(seed, step)``, so a run resumed from a checkpoint produces the same
loss curve as one that never stopped.

A checkpoint (``<work_dir>/checkpoint.pt``: weights, optimizer state, step,
losses and a fingerprint of the data and settings) is written through a
temporary file and ``os.replace`` every ``checkpoint_every`` steps and at the
end; a checkpoint whose fingerprint differs (other data or settings) is
ignored.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from .constraints import plan_batches

log = logging.getLogger(__name__)

__all__ = ["TrainSettings", "TrainResult", "train_specialization", "lr_factor", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainSettings:
    """Training settings; defaults follow BabelBERT (batch 256 pairs, lr 5e-6, 2 epochs, t = 0.07)."""

    batch_pairs: int = 256
    lr: float = 5e-6
    epochs: int = 2
    temperature: float = 0.07
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0      # linear warm-up over this share of the steps, then constant
    lr_decay: str = "constant"     # after the warm-up: "constant", or "linear" down to 0 at the plan's last step
    max_length: int = 16           # subword tokens per word, special tokens included
    layer: int = -1                # hidden state pooled for the loss
    lang_pair_alpha: float = 0.5   # language pairs drawn with probability ~ size ** alpha
    seed: int = 0
    max_steps: int = 0             # 0: every batch of every epoch; else stop early (a later call may go on)
    grad_clip: float = 1.0
    device: str = "auto"           # auto, cpu, cuda
    bf16: bool = True              # bf16 autocast on a GPU (ignored on the CPU)
    checkpoint_every: int = 200

    def __post_init__(self):
        for name in ("batch_pairs", "epochs", "max_length", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"a positive integer for {name}")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError("positive lr and temperature")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("a warmup_ratio in [0, 1)")
        if self.lr_decay not in ("constant", "linear"):
            raise ValueError("constant or linear for lr_decay")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError("auto, cpu or cuda for device")

    def fingerprint_fields(self) -> dict:
        """The settings that change the loss curve (not where it runs, how often it is saved or where it stops)."""
        d = asdict(self)
        for name in ("device", "checkpoint_every", "max_steps"):
            d.pop(name)
        return d


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
    linear decay that reaches 0 after the plan's last step (``linear``).

    >>> [round(lr_factor(s, 10, 2, "linear"), 3) for s in range(10)]
    [0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    >>> [lr_factor(s, 4, 0) for s in range(4)]
    [1.0, 1.0, 1.0, 1.0]
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if decay == "linear":
        return max(0.0, (total - 1 - step) / max(1, total - 1 - max(warmup - 1, 0)))
    return 1.0


def _fingerprint(pairs: pl.DataFrame, settings: TrainSettings) -> str:
    h = hashlib.sha256(json.dumps(settings.fingerprint_fields(), sort_keys=True).encode())
    for col in ("lang_a", "word_a", "lang_b", "word_b", "synset"):
        h.update("\x1f".join(pairs[col].to_list()).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def _atomic_save(obj, path: Path) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _codes(values: list[str]) -> np.ndarray:
    _, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def train_specialization(model, tokenizer, pairs: pl.DataFrame, settings: TrainSettings, work_dir: str | Path, *,
                         progress: Callable[[float, str], None] | None = None) -> TrainResult:
    """Fine-tune ``model`` in place on constraint ``pairs`` (see :func:`.constraints.synonym_pairs`).

    Resumes from ``<work_dir>/checkpoint.pt`` when its fingerprint matches.
    Returns the per-step losses (all of them, resumed ones included), the
    number of steps and pairs, and the wall time of this call.
    """
    import torch

    from .encoding import encode_batch, pick_device
    from .objective import MultiPositiveInfoNCE

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(settings.device)
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

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for name, p in model.named_parameters() if not name.endswith(no_decay)],
         "weight_decay": settings.weight_decay},
        {"params": [p for name, p in model.named_parameters() if name.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    loss_fn = MultiPositiveInfoNCE(settings.temperature)
    fingerprint = _fingerprint(pairs, settings)
    ckpt_path = work_dir / CHECKPOINT
    result = TrainResult(device=device)
    step = 0
    if ckpt_path.is_file():
        try:  # weights_only: tensors and plain containers only; a pickle naming code is refused, never run
            state = torch.load(ckpt_path, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
            log.warning("%s is not a checkpoint of this pipeline (%s: %s); starting afresh", ckpt_path,
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            state = {}
        if not isinstance(state, dict):
            state = {}
        if state.get("fingerprint") == fingerprint and int(state["step"]) <= total:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
            result.losses = list(state["losses"])
            result.resumed_from_step = step
            log.info("resuming specialization from step %d of %d (%s)", step, total, ckpt_path)
        else:
            log.warning("%s belongs to other data or settings (or went past max_steps); starting afresh", ckpt_path)

    def save(at: int) -> None:
        _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": at,
                      "losses": result.losses, "fingerprint": fingerprint, "total_steps": total}, ckpt_path)

    warmup = int(settings.warmup_ratio * len(plan))  # of the whole schedule: max_steps only stops early
    autocast = device.startswith("cuda") and settings.bf16
    model.train()
    t0 = time.time()
    start = step
    while step < total:
        rows = plan[step]
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * lr_factor(step, len(plan), warmup, settings.lr_decay)
        torch.manual_seed(settings.seed * 1_000_003 + step)  # dropout masks depend on the step only
        words = list(words_a[rows]) + list(words_b[rows])
        labels = torch.as_tensor(np.concatenate([synsets[rows], synsets[rows]]), device=device)
        keys = torch.as_tensor(np.concatenate([key_a[rows], key_b[rows]]), device=device)
        ignore = keys[:, None] == keys[None, :]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
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
