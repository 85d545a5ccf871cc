"""pipeline.figures: what a loss curve draws."""
from __future__ import annotations

import numpy as np


def _capture(monkeypatch) -> dict:
    """What the next saved figure holds: its one axes' lines, x ticks, x label and legend."""
    import pipeline.figures as figures

    seen = {}
    real_save = figures.save_figure

    def capture(fig, path):
        (ax,) = fig.axes
        seen["lines"] = [(line.get_label(), len(line.get_xdata()), line.get_marker()) for line in ax.get_lines()]
        seen["xticks"] = [float(t) for t in ax.get_xticks()]
        seen["xlabel"], seen["legend"] = ax.get_xlabel(), ax.get_legend() is not None
        return real_save(fig, path)

    monkeypatch.setattr(figures, "save_figure", capture)
    return seen


def test_a_short_loss_curve_is_drawn_per_epoch_without_a_lagging_running_mean(monkeypatch, tmp_path):
    """Five epochs: the five points with markers on the ticks 1..5, no running mean (over 3 of 5 points it
    would start at epoch 3 and trail the curve); 200 steps: the curve and its running mean of 10."""
    from pipeline.figures import plot_loss_curve

    seen = _capture(monkeypatch)
    plot_loss_curve([4.6, 3.0, 2.5, 2.2, 2.1], tmp_path / "a.png", title="X2Static L6", window=3, xlabel="epoch")
    assert seen["lines"] == [("loss", 5, "o")]
    assert seen["xticks"] == [1.0, 2.0, 3.0, 4.0, 5.0] and seen["xlabel"] == "epoch" and not seen["legend"]
    assert (tmp_path / "a.png").stat().st_size > 1000

    steps = 3 + np.random.default_rng(0).normal(size=200).cumsum() * 0.01
    plot_loss_curve(list(steps), tmp_path / "b.png")
    assert seen["lines"] == [("loss", 200, "None"), ("mean of 10", 191, "None")]
    assert seen["xlabel"] == "step" and seen["legend"]
