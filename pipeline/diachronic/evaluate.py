"""Scoring change reports against gold change data: every method and measure, over seeds, with CIs.

No luigi here. The inputs are change tables as :func:`.stages.build_report`
writes them (``change.parquet``: one row per seed, slice pair and word, with
every measure of :data:`.settings.MEASURES`) and a gold set in the SemEval-2020
Task 1 layout (:func:`.gold.read_semeval`). Each (method, measure) is named
``<method>/<measure>`` with the short measure names of
:data:`.settings.MEASURE_NAMES` (``cade/cosine``, ``procrustes/euclidean``).

``<name>+ens`` (with two seeds or more) scores the seed ensemble: each target's change score averaged
over the seeds, ranked once.

Per (method, measure) and seed, the change scores of the gold's pair of slices
(``corpus1`` vs ``corpus2``) are scored with :func:`.gold.score_change`
(graded Spearman over the targets, its percentile bootstrap CI, binary accuracy
under the stated rule, coverage); :func:`.gold.aggregate_seeds` gives the mean
over seeds and the seed spread. With more than two slices, every pair of the
table is kept in the trajectories (a target's change score per pair and
measure, averaged over seeds).

:data:`RECOMMENDED` is the method and measure the project recommends, chosen
on the generated benchmarks (``bench/bench_change_gold.py``; the README gives
the figures).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping, Optional

from ..errors import InputError
from .settings import MEASURE_NAMES, ChangeEvaluationSettings

logger = logging.getLogger("luigi-interface")

__all__ = ["RECOMMENDED", "evaluation_name", "score_reports", "write_evaluation"]

#: the method and measure the project recommends (and its report ranks by): see the module docstring
RECOMMENDED = "procrustes/euclidean"

Progress = Optional[Callable[[float, str], None]]


def evaluation_name(method: str, measure: str) -> str:
    """``cade/cosine`` for (``cade``, ``cosine_distance``)."""
    return f"{method}/{MEASURE_NAMES[measure]}"


def metric_method(name: str) -> str:
    """The ``-<method>`` part of a metric name for an evaluation name: ``cade/cosine+ens`` -> ``cade_cosine_ens``."""
    import re

    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _gold_pair(table, where: Path) -> tuple[str, str]:
    pairs = table.select(["slice_a", "slice_b"]).unique().rows()
    if ("corpus1", "corpus2") in pairs:
        return ("corpus1", "corpus2")
    raise InputError(where, "a change table with the slice pair corpus1 -> corpus2 (the gold's corpora)",
                     f"pairs {sorted(pairs)}")


def score_reports(settings: ChangeEvaluationSettings, gold, tables: Mapping[str, Path], *, kind: str,
                  progress: Progress = None) -> tuple[dict, "object", "object"]:
    """Score every method's change table against ``gold``.

    ``tables``: ``{method: change.parquet path}``. Returns ``(evaluation, per_seed, trajectories)``:
    ``evaluation`` is ``{"recommended": NAME, "methods": {NAME: aggregated scores + "seeds": [...]}}``,
    ``per_seed`` a polars frame (name, method, measure, seed, scores) and ``trajectories`` one (target,
    method, measure, slice_a, slice_b, mean score over seeds, gold graded change of that pair where the gold
    judges it).
    """
    import polars as pl

    from .gold import aggregate_seeds, corpus_form, score_change

    forms = {t: corpus_form(t, kind) for t in gold.targets}
    methods: dict[str, dict] = {}
    rows, traj = [], []
    steps = max(1, len(tables) * len(settings.measures))
    done = 0
    for method, path in tables.items():
        table = pl.read_parquet(path)
        for measure in settings.measures:
            if measure not in table.columns:
                raise InputError(path, f"a change table with a '{measure}' column", f"columns {table.columns}")
        pair = _gold_pair(table, Path(path))
        targets_table = table.filter(pl.col("word").is_in(sorted(set(forms.values()))))
        pairs_present = set(table.select(["slice_a", "slice_b"]).unique().rows())
        for measure in settings.measures:
            name = evaluation_name(method, measure)
            per_seed = []
            by_pair: dict[str, dict] = {}
            for gold_pair in gold.pairs:  # the main pair first; more with more than two time periods
                if gold_pair not in pairs_present:
                    continue
                pair_gold = gold.for_pair(*gold_pair)
                pair_seeds = []
                for seed in sorted(table["seed"].unique().to_list()):
                    sub = targets_table.filter((pl.col("seed") == seed) & (pl.col("slice_a") == gold_pair[0])
                                               & (pl.col("slice_b") == gold_pair[1]))
                    word_scores = dict(zip(sub["word"].to_list(), sub[measure].to_list()))
                    predicted = {t: word_scores[f] for t, f in forms.items()
                                 if f in word_scores and word_scores[f] is not None}
                    s = score_change(predicted, pair_gold, n_boot=settings.bootstrap, seed=settings.bootstrap_seed,
                                     rule=settings.rule())
                    pair_seeds.append({**s, "seed": int(seed)})
                    if gold_pair == pair:
                        rows.append({"name": name, "method": method, "measure": measure, "seed": int(seed),
                                     "graded_spearman": s["graded_spearman"], "binary_accuracy": s["binary_accuracy"],
                                     "covered": s["covered"], "n_targets": s["n_targets"]})
                if gold_pair == pair:
                    per_seed = pair_seeds
                if len(gold.pairs) > 1:
                    agg_pair = aggregate_seeds([{k: v for k, v in x.items() if k != "seed"} for x in pair_seeds])
                    by_pair[f"{gold_pair[0]}-{gold_pair[1]}"] = {
                        k: agg_pair[k] for k in ("graded_spearman", "graded_spearman_sd", "graded_spearman_ci",
                                                 "binary_accuracy", "covered", "n_targets") if k in agg_pair}
            agg = aggregate_seeds([{k: v for k, v in s.items() if k != "seed"} for s in per_seed])
            methods[name] = {**agg, "method": method, "measure": measure, "seeds": per_seed}
            if by_pair:
                methods[name]["pairs"] = by_pair
            mean = (targets_table.group_by(["word", "slice_a", "slice_b"]).agg(pl.col(measure).mean().alias("score")))
            if len(per_seed) > 1:  # the seed ensemble: each target's score averaged over the seeds, scored once
                pair_mean = mean.filter((pl.col("slice_a") == pair[0]) & (pl.col("slice_b") == pair[1]))
                word_scores = dict(zip(pair_mean["word"].to_list(), pair_mean["score"].to_list()))
                predicted = {t: word_scores[f] for t, f in forms.items()
                             if f in word_scores and word_scores[f] is not None}
                s = score_change(predicted, gold, n_boot=settings.bootstrap, seed=settings.bootstrap_seed,
                                 rule=settings.rule())
                methods[f"{name}+ens"] = {**s, "n_seeds": len(per_seed), "graded_spearman_sd": None,
                                          "method": method, "measure": measure, "ensemble": True, "seeds": []}
            by_form = {}
            for w, a, b, v in mean.iter_rows():
                by_form.setdefault(w, []).append((a, b, v))
            for t, f in forms.items():
                for a, b, v in by_form.get(f, ()):
                    truth = gold.pair_truth.get((a, b)) or ((gold.graded, gold.binary) if (a, b) == pair else None)
                    traj.append({"target": t, "method": method, "measure": measure, "slice_a": a, "slice_b": b,
                                 "score": v, "gold": None if truth is None else float(truth[0][t])})
            done += 1
            if progress is not None:
                progress(done / steps, f"scored {name}")
    recommended = RECOMMENDED if RECOMMENDED in methods else next(iter(methods))
    schema_traj = {"target": pl.String, "method": pl.String, "measure": pl.String, "slice_a": pl.String,
                   "slice_b": pl.String, "score": pl.Float64, "gold": pl.Float64}
    return ({"recommended": recommended, "methods": methods}, pl.DataFrame(rows),
            pl.DataFrame(traj, schema=schema_traj))


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_markdown(evaluation: Mapping, gold_name: str) -> str:
    """The evaluation as a markdown table, best graded Spearman first, the recommended one marked."""
    lines = [f"# Semantic change against gold: {gold_name}", "",
             f"Recommended (the project's default): `{evaluation['recommended']}`.", "",
             "| method/measure | graded Spearman (mean over seeds) | 95% CI | seed sd | binary accuracy | "
             "covered | seeds |", "|---|---|---|---|---|---|---|"]
    items = sorted(evaluation["methods"].items(), key=lambda kv: -(kv[1]["graded_spearman"] or -9))
    for name, m in items:
        ci = m.get("graded_spearman_ci") or [None, None]
        mark = " (recommended)" if name == evaluation["recommended"] else ""
        lines.append(f"| `{name}`{mark} | {_fmt(m['graded_spearman'])} | [{_fmt(ci[0])}, {_fmt(ci[1])}] | "
                     f"{_fmt(m.get('graded_spearman_sd'))} | {_fmt(m['binary_accuracy'])} | "
                     f"{m['covered']}/{m['n_targets']} | {m['n_seeds']} |")
    rules = {m["binary_rule"] for m in evaluation["methods"].values()}
    lines += ["", f"Binary rule: {'; '.join(sorted(rules))}. CI: percentile bootstrap over targets, averaged "
              "over seeds."]
    missing = sorted({t for m in evaluation["methods"].values() for t in m["missing"]})
    if missing:
        lines.append(f"Targets missing from some slice (not scored): {', '.join(missing)}.")
    pairs = list(dict.fromkeys(p for _, m in items for p in m.get("pairs", {})))
    if pairs:  # more than two time periods: every pair the gold judges
        lines += ["", "## Every pair of time periods (graded Spearman, mean over seeds; binary accuracy)", "",
                  "| method/measure | " + " | ".join(pairs) + " |", "|---|" + "---|" * len(pairs)]
        for name, m in items:
            if "pairs" in m:
                cells = [f"{_fmt(m['pairs'][p]['graded_spearman'])} / {_fmt(m['pairs'][p]['binary_accuracy'])}"
                         if p in m["pairs"] else "-" for p in pairs]
                lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_pairs(evaluation: Mapping, path: Path) -> bool:
    """Graded Spearman per pair of time periods, one group of bars per method/measure (False: one pair only)."""
    import numpy as np

    from ..figures import pyplot

    items = [(n, m) for n, m in evaluation["methods"].items() if m.get("pairs")]
    if not items:
        return False
    pairs = list(dict.fromkeys(p for _, m in items for p in m["pairs"]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.1 * len(items) + 3, 3.8))
    width = 0.8 / len(pairs)
    for j, p in enumerate(pairs):
        values = [np.nan if m["pairs"].get(p, {}).get("graded_spearman") is None else m["pairs"][p]["graded_spearman"]
                  for _, m in items]
        ax.bar(np.arange(len(items)) + j * width, values, width, label=p)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(np.arange(len(items)) + width * (len(pairs) - 1) / 2, [n for n, _ in items], rotation=30,
                  ha="right")
    ax.set_ylabel("graded Spearman (targets)")
    ax.set_title("Change against gold for every pair of time periods")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _fit_to_gold(scores, gold):
    """The least-squares line taking scores onto the gold's scale (slope, intercept); (1, 0) when it is undefined."""
    import numpy as np

    x, y = np.asarray(scores, float), np.asarray(gold, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return 1.0, 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def plot_targets_against_gold(evaluation: Mapping, trajectories, path_scatter: Path, path_targets: Path,
                              *, max_targets: int = 48) -> list[str]:
    """Each target's score against its gold, for the recommended method and measure.

    ``path_scatter``: one panel per pair of time periods the gold judges, a dot per target (score against gold),
    the pair's Spearman in the title. ``path_targets`` (only with more than two time periods): one small panel
    per target, its gold for each pair of time periods beside its score, the score put on the gold's scale by
    one least-squares line over every target and pair (a Spearman evaluation ignores that scale; the line only
    lets both be drawn on one axis). Targets are ordered by their largest gold change. Returns the names of
    the files written.
    """
    import numpy as np
    import polars as pl
    from scipy.stats import spearmanr

    from ..figures import pyplot

    best = evaluation["recommended"]
    m = evaluation["methods"].get(best) or {}
    method, measure = m.get("method"), m.get("measure")
    sub = trajectories.filter((pl.col("method") == method) & (pl.col("measure") == measure)
                              & pl.col("gold").is_not_null() & pl.col("score").is_not_null())
    if sub.height == 0:
        return []
    pairs = list(dict.fromkeys(zip(sub["slice_a"].to_list(), sub["slice_b"].to_list())))
    plt = pyplot()
    written = []
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.4 * len(pairs) + 0.6, 3.4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs):
        part = sub.filter((pl.col("slice_a") == a) & (pl.col("slice_b") == b))
        x, y = part["score"].to_numpy(), part["gold"].to_numpy()
        rho = spearmanr(x, y).statistic if len(x) > 2 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
        ax.scatter(y, x, s=14, color="tab:blue", alpha=0.8)
        ax.set_xlabel(f"gold graded change, {a} -> {b}")
        ax.set_title(f"{a} -> {b}: Spearman {rho:.3f}", fontsize=9)
    axes[0][0].set_ylabel(f"{measure} ({method}, mean over seeds)")
    fig.suptitle(f"Every target's score against its gold ({best})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path_scatter, dpi=120)
    plt.close(fig)
    written.append(Path(path_scatter).name)
    if len(pairs) < 2:
        return written
    slope, intercept = _fit_to_gold(sub["score"].to_list(), sub["gold"].to_list())
    by_target: dict[str, dict] = {}
    for t, a, b, score, g in sub.select(["target", "slice_a", "slice_b", "score", "gold"]).iter_rows():
        by_target.setdefault(t, {})[(a, b)] = (score * slope + intercept, g)
    order = sorted(by_target, key=lambda t: (-max(v[1] for v in by_target[t].values()), t))[:max_targets]
    cols = min(8, len(order))
    rows = -(-len(order) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 0.4, 1.7 * rows + 0.9), squeeze=False, sharey=True)
    xs = np.arange(len(pairs))
    labels = [f"{a[-1]}-{b[-1]}" if a[-1].isdigit() and b[-1].isdigit() else f"{a}-{b}" for a, b in pairs]
    for ax in axes.flat[len(order):]:
        ax.axis("off")
    for ax, t in zip(axes.flat, order):
        v = by_target[t]
        ax.plot(xs, [v.get(p, (np.nan, np.nan))[1] for p in pairs], "o-", color="black", lw=1.2, ms=3,
                label="gold")
        ax.plot(xs, [v.get(p, (np.nan, np.nan))[0] for p in pairs], "s--", color="tab:red", lw=1, ms=3,
                label="score (fitted)")
        ax.set_title(t, fontsize=8)
        ax.set_xticks(xs, labels, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    axes.flat[0].legend(fontsize=6, loc="upper left")
    fig.suptitle(f"Change per pair of time periods, target by target: gold (black) and {best} (red, on the "
                 f"gold's scale by one least-squares line: gold = {slope:.3g} x score "
                 f"{'-' if intercept < 0 else '+'} {abs(intercept):.3g})",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path_targets, dpi=110)
    plt.close(fig)
    written.append(Path(path_targets).name)
    return written


def plot_evaluation(evaluation: Mapping, path: Path) -> None:
    """Graded Spearman per method/measure: the mean over seeds with its bootstrap CI, each seed a dot."""
    from ..figures import pyplot

    plt = pyplot()
    items = sorted(evaluation["methods"].items(), key=lambda kv: -(kv[1]["graded_spearman"] or -9))
    fig, ax = plt.subplots(figsize=(1.2 * len(items) + 2.5, 3.6))
    for i, (name, m) in enumerate(items):
        rho = m["graded_spearman"]
        if rho is None:
            continue
        ci = m.get("graded_spearman_ci")
        colour = "tab:red" if name == evaluation["recommended"] else "tab:blue"
        ax.bar(i, rho, color=colour, alpha=0.6)
        if ci:
            ax.errorbar(i, rho, yerr=[[rho - ci[0]], [ci[1] - rho]], color="black", capsize=4, lw=1)
        seeds = [s["graded_spearman"] for s in m["seeds"] if s["graded_spearman"] is not None]
        ax.scatter([i] * len(seeds), seeds, color="black", s=10, zorder=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(items)), [n for n, _ in items], rotation=30, ha="right")
    ax.set_ylabel("graded Spearman (targets)")
    ax.set_title("Change scores against gold (bars: mean over seeds; lines: 95% bootstrap CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_evaluation(evaluation: Mapping, per_seed, trajectories, out_dir: Path, gold_name: str) -> dict:
    """Write ``evaluation.json``, ``scores.parquet``, ``trajectories.parquet``, ``summary.md``,
    ``plots/graded_spearman.png``, ``plots/score_vs_gold.png`` (and, with more than two time periods,
    ``plots/graded_spearman_pairs.png`` and ``plots/target_trajectories.png``);
    return the flat metrics (``metrics.json``)."""
    from ..identity import write_json
    from .gold import change_metrics

    out_dir = Path(out_dir)
    write_json(out_dir / "evaluation.json", evaluation)
    per_seed.write_parquet(out_dir / "scores.parquet")
    trajectories.write_parquet(out_dir / "trajectories.parquet")
    (out_dir / "summary.md").write_text(summary_markdown(evaluation, gold_name), encoding="utf-8")
    (out_dir / "plots").mkdir(exist_ok=True)
    plot_evaluation(evaluation, out_dir / "plots" / "graded_spearman.png")
    plot_pairs(evaluation, out_dir / "plots" / "graded_spearman_pairs.png")
    plot_targets_against_gold(evaluation, trajectories, out_dir / "plots" / "score_vs_gold.png",
                              out_dir / "plots" / "target_trajectories.png")
    metrics: dict = {}  # evaluation.json names the recommended one
    for name, m in evaluation["methods"].items():
        metrics.update(change_metrics(m, metric_method(name)))
        for pair, p in m.get("pairs", {}).items():  # graded_spearman_corpus2_corpus3-cade_cosine
            tag = pair.replace("-", "_")
            metrics[f"graded_spearman_{tag}-{metric_method(name)}"] = p["graded_spearman"]
            metrics[f"binary_accuracy_{tag}-{metric_method(name)}"] = p["binary_accuracy"]
    write_json(out_dir / "metrics.json", metrics)
    return metrics
