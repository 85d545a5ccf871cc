"""Figures for semantic change: PNG files drawn with matplotlib's Agg backend (no display needed).

* :func:`plot_trajectory` -- one word's path through the slices among its neighbours (labels laid out
  without overlap by adjustText, :func:`place_labels`).
* :func:`plot_top_changed` -- the most changed words of a change table.
* :func:`plot_slice_stats` -- tokens and types per slice.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..errors import InputError
from ..figures import pyplot as _pyplot
from ..figures import save_figure as _save

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from gensim.models import KeyedVectors

__all__ = ["plot_trajectory", "plot_top_changed", "plot_slice_stats", "place_labels", "label_overlaps"]


def _pca_2d(points: np.ndarray) -> np.ndarray:
    """Project rows onto their first two principal components (SVD of the centred matrix)."""
    import numpy as np

    centred = points - points.mean(axis=0, keepdims=True)
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ Vt[:2].T
    if coords.shape[1] < 2:  # a single point or rank-1 data: pad the missing axis
        coords = np.hstack([coords, np.zeros((coords.shape[0], 2 - coords.shape[1]))])
    return coords


def plot_trajectory(
    slices: Mapping[str, "KeyedVectors"], word: str, path: str | Path, k: int = 5
) -> Path:
    """Draw ``word``'s position in every slice that has it, with its ``k`` nearest neighbours there.

    The slices must share one space (CADE, or aligned). Points are unit vectors
    projected to 2-D by PCA over the word's vectors and its neighbours'
    vectors; each neighbour is drawn once, at its vector in the first slice
    where it is a neighbour, coloured as that slice (the legend names the
    colours). Arrows follow the word through the slices in the given order.
    Labels are moved apart until none overlaps another (:func:`place_labels`).
    """
    import numpy as np

    plt = _pyplot()
    present = [name for name, kv in slices.items() if word in kv.key_to_index]
    if not present:
        raise InputError(None, f"word '{word}' in at least one slice", f"not in any of {list(slices)}")

    def unit(v):
        v = np.asarray(v, dtype=np.float64)
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    word_vectors = [unit(slices[name][word]) for name in present]
    neighbours: dict[str, tuple[str, np.ndarray]] = {}
    for name in present:
        for neighbour, _ in slices[name].most_similar(word, topn=k):
            neighbours.setdefault(neighbour, (name, unit(slices[name][neighbour])))
    points = np.vstack(word_vectors + [vec for _, vec in neighbours.values()])
    coords = _pca_2d(points)
    word_xy, nb_xy = coords[: len(present)], coords[len(present):]

    if len(present) <= 10:  # distinct, dark enough for text on white
        colours = {name: plt.get_cmap("tab10")(i) for i, name in enumerate(present)}
    else:  # many slices: an ordered scale reads as time
        cmap = plt.get_cmap("viridis")
        colours = {name: cmap(i / (len(present) - 1) * 0.8) for i, name in enumerate(present)}
    fig, ax = plt.subplots(figsize=(9, 7.5))
    texts = []
    for (neighbour, (name, _)), (x, y) in zip(neighbours.items(), nb_xy):
        ax.scatter(x, y, s=18, color=colours[name], alpha=0.6)
        # the colour names the slice (see the legend): a bare word keeps labels short enough to place apart
        texts.append(ax.text(x, y, neighbour, fontsize=8, color=colours[name], alpha=0.95))
    for i in range(1, len(present)):
        ax.annotate("", xy=word_xy[i], xytext=word_xy[i - 1],
                    arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.6, shrinkA=6, shrinkB=6))
    for name, (x, y) in zip(present, word_xy):
        ax.scatter(x, y, s=70, color=colours[name], edgecolor="black", zorder=3, label=name)
        texts.append(ax.text(x, y, f"{word} ({name})", fontsize=10, fontweight="bold", zorder=4))
    ax.set_title(f"'{word}' across {len(present)} slices with its {k} nearest neighbours in each")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(title="slice (neighbour colour)", fontsize=8, title_fontsize=9, loc="best")
    ax.margins(0.12)
    ax.grid(alpha=0.2)
    place_labels(ax, texts, coords[:, 0], coords[:, 1])
    return _save(fig, path)


def place_labels(ax, texts, x, y) -> None:
    """Move ``texts`` apart so that no two labels overlap and none covers a point (``x``, ``y``), with a thin
    line from a moved label to its point: adjustText's iterative repulsion (at most 200 rounds)."""
    from adjustText import adjust_text

    adjust_text(texts, x=list(map(float, x)), y=list(map(float, y)), ax=ax, iter_lim=200, ensure_inside_axes=True,
                expand=(1.15, 1.3), arrowprops=dict(arrowstyle="-", color="0.55", lw=0.5))


def label_overlaps(fig, texts) -> int:
    """How many pairs of ``texts`` overlap on the drawn figure (display coordinates)."""
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    return sum(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def plot_top_changed(
    table: "pl.DataFrame",
    path: str | Path,
    n: int = 20,
    pair: tuple[str, str] | None = None,
    measure: str = "cosine_distance",
) -> Path:
    """Horizontal bars of the ``n`` most changed words of one slice pair (most changed on top).

    ``pair`` defaults to the table's last pair, which for
    :func:`.change.default_pairs` is first-vs-last slice.
    """
    import numpy as np
    from .change import table_pairs, top_changed

    pairs = table_pairs(table)
    if not pairs:
        raise InputError(None, "a change table with at least one row", "an empty table")
    pair = tuple(pair) if pair is not None else pairs[-1]
    top = top_changed(table, pair=pair, n=n, measure=measure)
    words, values = top["word"].to_list(), top[measure].to_list()

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * max(len(words), 1)))
    y = np.arange(len(words))
    ax.barh(y, values, color="#3b75af")
    ax.set_yticks(y, labels=words, fontsize=9)
    ax.invert_yaxis()
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel(measure.replace("_", " "))
    ax.set_title(f"Most changed words, {pair[0]} → {pair[1]} (top {len(words)})")
    high = max(values) if values and max(values) > 0 else 1.0
    ax.set_xlim(min([0.0, *values]), high * 1.15)  # room for the value labels
    ax.grid(axis="x", alpha=0.25)
    return _save(fig, path)


_STAT_ALIASES = {"tokens": ("tokens", "n_tokens", "num_tokens"), "types": ("types", "n_types", "num_types")}


def plot_slice_stats(stats_df: "pl.DataFrame", path: str | Path) -> Path:
    """Bar charts of tokens and types per slice.

    ``stats_df`` has a ``slice`` column and ``tokens`` / ``types`` columns
    (``n_tokens`` / ``n_types`` are accepted too); rows are drawn in order.
    """
    import numpy as np

    columns = {}
    for name, aliases in _STAT_ALIASES.items():
        found = [c for c in aliases if c in stats_df.columns]
        if not found:
            raise InputError(None, f"slice statistics with a '{name}' column", f"columns {list(stats_df.columns)}")
        columns[name] = found[0]
    if "slice" not in stats_df.columns:
        raise InputError(None, "slice statistics with a 'slice' column", f"columns {list(stats_df.columns)}")
    labels = [str(s) for s in stats_df["slice"].to_list()]

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1 + 0.9 * len(labels)), 4.2))
    for ax, (name, column), colour in zip(axes, columns.items(), ("#3b75af", "#e1812c")):
        values = [int(v) for v in stats_df[column].to_list()]
        x = np.arange(len(labels))
        ax.bar(x, values, color=colour)
        ax.set_xticks(x, labels=labels, rotation=45 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
        ax.set_title(f"{name} per slice")
        ax.set_xlabel("slice")
        ax.set_ylabel(f"number of {name}")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(axis="y", alpha=0.25)
    fig.suptitle("Corpus size per slice")
    fig.tight_layout()
    return _save(fig, path)

