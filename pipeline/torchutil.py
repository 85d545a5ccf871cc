"""What every trainer shares: where it runs, its GPU slot, the optimiser, the schedule and its checkpoints.

No luigi here; torch is imported where it is used, so that importing this
module (and deciding a task's GPU slot while scheduling) stays cheap.

Device policy: ``cpu`` runs on the CPU; ``cuda`` needs a visible GPU (an
error otherwise); ``auto`` takes the GPU when one is visible. The slot rule
follows from the same question (:func:`cuda_available`): a stage that will
run on a GPU holds one luigi ``[resources] gpu`` slot (``luigi.cfg`` caps how
many run at once), ``auto`` included when a GPU is visible, and a CPU stage
holds none.

>>> gpu_resources("cpu"), gpu_resources("cuda")
({}, {'gpu': 1})
>>> [linear_schedule(s, warmup=0, decay_start=0, decay_end=4) for s in range(4)]
[1.0, 0.75, 0.5, 0.25]

A checkpoint is one torch file holding plain containers and tensors and a
fingerprint of what it was trained on (settings and data, see
:func:`fingerprint`). It is written to a temporary name and renamed into
place, so a kill mid-write leaves the previous one intact; it is read with
``torch.load(..., weights_only=True)``, so a planted pickle is refused, never
run; one with another fingerprint is ignored with a warning::

    fp = fingerprint({"lr": 1e-3}, data_bytes)
    save_checkpoint(work / "checkpoint.pt", {"model": model.state_dict(), "step": 10}, fp)
    state = load_checkpoint(work / "checkpoint.pt", fp, what="my trainer")  # None: start afresh
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import uuid
from pathlib import Path

from .errors import InputError

log = logging.getLogger(__name__)

__all__ = ["DEVICES", "cuda_available", "uses_gpu", "gpu_resources", "pick_device", "parameter_groups", "adamw",
           "set_lr", "linear_schedule", "autocast", "fingerprint", "save_checkpoint", "load_checkpoint"]

DEVICES = ("auto", "cpu", "cuda")

# device files of a GPU driver (NVIDIA, WSL2, ROCm): without any of them torch cannot see a GPU either
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU; without a GPU driver on the machine, answered without importing torch."""
    if "torch" not in sys.modules:
        if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
            return False
        if not any(os.path.exists(p) for p in _GPU_DEVICE_FILES):
            return False
    import torch

    return bool(torch.cuda.is_available())


def uses_gpu(device: str) -> bool:
    """Whether a stage with this device setting will run on a GPU (``auto``: when one is visible)."""
    if device not in DEVICES:
        raise ValueError(f"device auto, cpu or cuda, not {device!r}")
    return device == "cuda" or (device == "auto" and cuda_available())


def gpu_resources(device: str) -> dict[str, int]:
    """A luigi task's ``resources`` for this device setting: one ``gpu`` slot when it will run on a GPU."""
    return {"gpu": 1} if uses_gpu(device) else {}


def pick_device(device: str, key: str = "device") -> str:
    """``cuda`` or ``cpu`` for a device setting; ``cuda`` without a visible GPU is an error naming ``key``."""
    if device == "cuda" and not cuda_available():
        raise InputError(None, f"a CUDA GPU for {key}: cuda", "torch sees none")
    return "cuda" if uses_gpu(device) else "cpu"


_NO_DECAY_NAMES = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on the weight matrices, none on biases and normalisation weights.

    A parameter is exempt when it is not a matrix (biases, LayerNorm weights and biases, GPT-2's
    ``ln_1.weight``) or its name says bias / LayerNorm; order follows ``named_parameters``.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or name.endswith(_NO_DECAY_NAMES) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw(model, lr: float, weight_decay: float):
    """``torch.optim.AdamW`` over :func:`parameter_groups` (torch's defaults otherwise)."""
    import torch

    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr)


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def linear_schedule(step: int, warmup: int, decay_start: int, decay_end: int | None) -> float:
    """The learning-rate multiplier of 0-based ``step``: linear warm-up, then constant or linear decay.

    ``(step + 1) / warmup`` over the first ``warmup`` steps; after them 1 when
    ``decay_end`` is None, else a straight line from 1 at step ``decay_start``
    to 0 at step ``decay_end`` (never below 0). The trainers place the line
    differently, and keep doing so (a finished stage must reproduce):
    specialization reaches 0 *at* its last step (``decay_start = warmup - 1``,
    ``decay_end = total - 1``), continued pretraining one step after it
    (``decay_start = warmup``, ``decay_end = total``).

    >>> [round(linear_schedule(s, 2, 1, 9), 3) for s in range(10)]
    [0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    >>> [round(linear_schedule(s, 2, 2, 6), 2) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    >>> [linear_schedule(s, 2, 1, None) for s in range(4)]
    [0.5, 1.0, 1.0, 1.0]
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if decay_end is None:
        return 1.0
    return max(0.0, (decay_end - step) / max(1, decay_end - decay_start))


def autocast(device: str, bf16: bool):
    """bf16 autocast on a GPU when ``bf16``; a no-op context on the CPU."""
    import torch

    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=bf16 and kind == "cuda")


def fingerprint(settings: dict, *data) -> str:
    """sha256 of JSON ``settings`` and byte strings (or buffers) of the data: what a checkpoint belongs to."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for part in data:
        h.update(part)
        h.update(b"\x1e")
    return h.hexdigest()


def save_checkpoint(path: str | Path, state: dict, fingerprint: str) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) and ``fingerprint`` to ``path`` atomically."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save({**state, "fingerprint": fingerprint}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def refusal(exc: BaseException) -> str:
    """What a failed ``torch.load(weights_only=True)`` found, in one line, without torch's own advice (to load
    the file again with ``weights_only=False``, which would run whatever code the pickle names).

    >>> import pickle
    >>> refusal(pickle.UnpicklingError("Weights only load failed. Re-running `torch.load` with `weights_only` set "
    ...     "to `False` will likely succeed.\\n\\nTrying to load unsupported GLOBAL posix.system whose module posix is "
    ...     "blocked.\\n\\nCheck the documentation of torch.load to learn more"))
    'a pickle naming more than tensors (Trying to load unsupported GLOBAL posix.system whose module posix is blocked.): refused, never run'
    """
    import pickle

    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and text.startswith("Weights only load failed"):
        detail = [line.strip() for line in text.splitlines()[1:] if line.strip()
                  and not line.startswith(("Check the documentation", "Please file an issue"))]
        return f"a pickle naming more than tensors ({' '.join(detail) or 'unsupported content'}): refused, never run"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def load_checkpoint(path: str | Path, fingerprint: str, *, what: str, map_location=None) -> dict | None:
    """The state saved at ``path``, or None when there is none or it belongs to other settings or data.

    A file ``torch.load(weights_only=True)`` refuses (a pickle naming code, or not a checkpoint at all)
    is an :class:`~pipeline.errors.InputError` naming it: it was not written by ``what``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        return None
    try:  # weights_only: tensors and plain containers only; a pickle naming code is refused, never run
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise InputError(path, f"a checkpoint written by {what} (tensors, numbers, lists and dicts only); "
                         "remove it to start afresh", refusal(exc)) from exc
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        log.warning("%s belongs to other data or settings; starting afresh", path)
        return None
    return state
