"""Figures any stage may draw: PNG files with matplotlib's Agg backend (no display needed).

:func:`pyplot` and :func:`save_figure` are what every method's plots share
(the semantic change figures are in :mod:`pipeline.diachronic.plots`);
:func:`plot_loss_curve` draws a training loss.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["pyplot", "save_figure", "plot_loss_curve"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: matplotlib is slow to import)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=150, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_loss_curve(losses, path: str | Path, title: str = "continued pretraining", window: int = 10,
                    xlabel: str = "step") -> Path:
    """Training loss per step (or per epoch: ``xlabel="epoch"``), with a running mean of ``window`` points
    once there are at least ``3 * window`` of them (a running mean over a handful of points only lags).
    Few points are drawn as markers on whole-number ticks."""
    import numpy as np

    plt = pyplot()
    losses = np.asarray(losses, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(losses) + 1)
    smooth = window > 1 and len(losses) >= 3 * window
    few = len(losses) <= 30
    ax.plot(steps, losses, lw=0.8 if smooth else 1.5, alpha=0.5 if smooth else 1.0, marker="o" if few else None,
            ms=4, label="loss")
    if smooth:
        mean = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], mean, lw=1.8, label=f"mean of {window}")
        ax.legend()
    if few:
        ax.set_xticks(steps if len(steps) <= 12 else steps[:: max(1, len(steps) // 10)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(title)
    return save_figure(fig, path)
