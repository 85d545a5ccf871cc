"""CADE's compass three ways, side by side in one run: gensim ``corpus_file`` mode, gensim iterable mode
and the project's compiled kernel (``train_compass``'s default).

All three train the same model: CBOW with negative sampling, the CADE reference settings (size 100, window
5, 10 negatives, min_count 5, sample 1e-3, alpha 0.025, 5 epochs), the same vocabulary and seeded initial
vectors (the reference's range), ``--threads`` threads. For every seed the backends run one after the other
(their order rotated from seed to seed, so machine noise falls on each in turn) on:

* KJV + WEB (``corpora/kjv``, ``corpora/web``, the pipeline's tokenizer): the timed compass. Then its two
  slices (the kernel, as always) give the temporal analogies of ``bench_temporal_analogies.py`` (archaic
  KJV word -> its modern WEB form: MRR, P@1, P@5), and the compass's own vectors give word similarity
  (WordSim353, SimLex-999; low coverage on the Bible) and neighbours: the top-10 neighbours of 500
  frequent words, compared between runs (overlap between two seeds of one backend is the seed spread;
  between backends at different seeds it should be the same number);
* a graded synthetic change benchmark: the WEB's sentences shuffled and halved, and in the second half
  ``--pairs`` targets given swapped contexts of a donor word at rates spread evenly over [0, 0.8]
  (:func:`pipeline.diachronic.swap_preserving_frequency`, frequencies preserved); CADE's cosine distance
  between the halves is scored by its Spearman correlation with the rates.

Speed is raw words x epochs / seconds, for the whole compass (vocabulary + training: what a caller waits
for) and for training alone; the table gives the median over seeds and the best run, and the ratio of
the kernel to ``corpus_file``. Seconds for a SemEval-2020-sized language (two corpora of 10M and of 20M
tokens in all) are extrapolated linearly from the median whole-compass speed, and for CADE as a whole
(compass + both slices, slices by the kernel) from the measured slices too. A larger vocabulary makes every
backend somewhat slower per word (bigger matrices, more cache misses), so read them as estimates.

    .venv/bin/python bench/bench_compass_kernel.py [--seeds 1 2 3] [--threads 2] [--pairs 24]

Writes ``bench/results/compass_kernel.json``.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from common import corpus_sentences, save_result, shuffled_halves, unit, write_lines

BACKENDS = ("gensim-corpus_file", "gensim-iterable", "kernel")
SEMEVAL_TOKENS = (10_000_000, 20_000_000)
NEIGHBOUR_WORDS = slice(50, 550)  # frequent words past the top function words


def load_average() -> float:
    return os.getloadavg()[0]


def train(backend: str, files: dict[str, Path], joined: Path, settings) -> tuple[object, dict]:
    """One compass on the slices ``files`` (``joined``: their concatenation, for ``corpus_file`` mode);
    returns the model and its timings."""
    from gensim.models import Word2Vec

    from pipeline.corpora import ConcatCorpus, LineCorpus
    from pipeline.diachronic import reference_initial_vectors, train_compass

    load = load_average()
    t0 = time.perf_counter()
    if backend == "gensim-corpus_file":
        model = Word2Vec(vector_size=settings.vector_size, window=settings.window, negative=settings.negative,
                         hs=0, sg=0, cbow_mean=1, min_count=settings.min_count, sample=settings.sample,
                         alpha=settings.compass_alpha, min_alpha=settings.min_alpha,
                         epochs=settings.compass_epochs, seed=settings.seed, workers=settings.threads)
        model.build_vocab(corpus_file=str(joined))
        reference_initial_vectors(model)
        t1 = time.perf_counter()
        model.train(corpus_file=str(joined), total_words=model.corpus_total_words, epochs=model.epochs)
        train_s = time.perf_counter() - t1
    else:
        corpus = ConcatCorpus([LineCorpus(p) for p in files.values()])
        model = train_compass(corpus, settings, backend="kernel" if backend == "kernel" else "gensim")
        train_s = model.total_train_time
    seconds = time.perf_counter() - t0
    words = model.corpus_total_words * settings.compass_epochs
    return model, {"seconds": seconds, "train_seconds": train_s, "words": int(words),
                   "words_per_second": words / seconds, "train_words_per_second": words / train_s,
                   "vocab_size": len(model.wv), "load_average": load}


def train_slices(compass, files: dict[str, Path], settings, workdir: Path) -> tuple[dict, float, int]:
    """The CADE slices against ``compass``: ``(vectors per slice, seconds, raw words x epochs)``."""
    from pipeline.corpora import LineCorpus
    from pipeline.diachronic import train_slice

    out, seconds, words = {}, 0.0, 0
    for name, path in files.items():
        sl = train_slice(compass, LineCorpus(path), settings, tmp_dir=workdir, name=name)
        out[name] = sl.wv
        seconds += sl.stats["seconds"]
        words += sl.stats["words_trained"]
    return out, seconds, words


def graded_benchmark(workdir: Path, n_pairs: int, seed: int = 0) -> tuple[dict[str, Path], dict[str, float]]:
    """WEB halves with graded swapped-context change in the second: ``(slice files, target -> rate)``."""
    from pipeline.diachronic import choose_pairs, swap_preserving_frequency

    rng = random.Random(seed)
    a, b, ca, cb = shuffled_halves("web", rng)
    pairs = choose_pairs(ca, cb, n_pairs, rng)  # donor -> target
    rates = dict(zip(pairs.values(), np.linspace(0.0, 0.8, n_pairs).round(4).tolist()))
    for donor, target in pairs.items():
        b = swap_preserving_frequency(b, {donor: target}, rates[target], rng)
    files = {"a": write_lines(a, workdir / "graded_a.txt"), "b": write_lines(b, workdir / "graded_b.txt")}
    return files, rates


def graded_spearman(vecs: dict, rates: dict[str, float]) -> float:
    from scipy.stats import spearmanr

    words = [w for w in rates if w in vecs["a"].key_to_index and w in vecs["b"].key_to_index]
    a = unit(np.stack([vecs["a"][w] for w in words]))
    b = unit(np.stack([vecs["b"][w] for w in words]))
    distance = 1.0 - (a * b).sum(axis=1)
    return float(spearmanr(distance, [rates[w] for w in words]).statistic)


def neighbours(kv, words) -> list[set]:
    m = unit(kv.vectors)
    rows = np.array([kv.key_to_index[w] for w in words])
    sims = m[rows] @ m.T
    sims[np.arange(len(rows)), rows] = -np.inf
    top = np.argpartition(-sims, 10, axis=1)[:, :10]
    return [set(t.tolist()) for t in top]


def overlap(x: list[set], y: list[set]) -> float:
    return float(np.mean([len(a & b) / 10 for a, b in zip(x, y)]))


def mean_std(values) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=24, help="graded benchmark: targets given a change")
    args = ap.parse_args()

    from bench_temporal_analogies import evaluate as temporal_analogies
    from pipeline.diachronic import CadeSettings, train_compass
    from pipeline.evaluation import evaluate_vectors

    work = Path(tempfile.mkdtemp(prefix="bench-compass-"))
    files = {name: write_lines(corpus_sentences(name), work / f"{name}.txt") for name in ("kjv", "web")}
    joined = work / "kjv_web.txt"
    joined.write_text("".join(p.read_text(encoding="utf-8") for p in files.values()), encoding="utf-8")
    graded_files, rates = graded_benchmark(work, args.pairs)
    graded_joined = work / "graded_ab.txt"
    graded_joined.write_text("".join(p.read_text(encoding="utf-8") for p in graded_files.values()),
                             encoding="utf-8")
    train_compass([["warm", "up"] * 5] * 5, CadeSettings(min_count=1, compass_epochs=1))  # numba: load the kernel

    runs: dict[str, list[dict]] = {b: [] for b in BACKENDS}
    nn: dict[tuple[str, int], list[set]] = {}
    vocab = None
    for i, seed in enumerate(args.seeds):
        settings = CadeSettings(seed=seed, threads=args.threads, compass_epochs=args.epochs,
                                slice_epochs=args.epochs)
        order = BACKENDS[i % 3:] + BACKENDS[:i % 3]
        for backend in order:
            compass, r = train(backend, files, joined, settings)
            if vocab is None:
                vocab = compass.wv.index_to_key
                words = vocab[NEIGHBOUR_WORDS]
            assert compass.wv.index_to_key == vocab, f"{backend}: another vocabulary"
            nn[(backend, seed)] = neighbours(compass.wv, words)
            r.update({k: v for k, v in evaluate_vectors(compass.wv).items() if k.endswith(("_spearman", "_n"))})
            slices, slice_s, slice_words = train_slices(compass, files, settings, work)
            r.update(slice_seconds=slice_s, slice_words=slice_words)
            r.update({f"analogy_{k}": v for k, v in temporal_analogies(slices["kjv"], slices["web"]).items()
                      if k in ("n", "mrr", "p_at_1", "p_at_5")})
            del compass, slices
            g_compass, g = train(backend, graded_files, graded_joined, settings)
            g_slices, _, _ = train_slices(g_compass, graded_files, settings, work)
            r.update(graded_spearman=graded_spearman(g_slices, rates), graded_seconds=g["seconds"],
                     graded_words_per_second=g["words_per_second"], seed=seed)
            runs[backend].append(r)
            print(f"seed {seed} {backend:18s} {r['seconds']:6.2f}s {r['words_per_second'] / 1e3:6.0f}k w/s "
                  f"(train {r['train_seconds']:5.2f}s {r['train_words_per_second'] / 1e3:6.0f}k w/s) "
                  f"load {r['load_average']:.1f} | analogies MRR {r['analogy_mrr']:.3f} P@1 {r['analogy_p_at_1']:.3f} "
                  f"| graded rho {r['graded_spearman']:.3f} ({g['words_per_second'] / 1e3:.0f}k w/s) "
                  f"| ws353 {r.get('wordsim353_spearman', float('nan')):.3f}", flush=True)

    # ---- summary
    summary: dict[str, dict] = {}
    for b, rs in runs.items():
        s = summary[b] = {}
        for key in ("words_per_second", "train_words_per_second", "graded_words_per_second"):
            s[f"{key}_median"] = float(np.median([r[key] for r in rs]))
            s[f"{key}_best"] = float(np.max([r[key] for r in rs]))
        s["seconds_median"] = float(np.median([r["seconds"] for r in rs]))
        for key in ("analogy_mrr", "analogy_p_at_1", "analogy_p_at_5", "graded_spearman", "wordsim353_spearman",
                    "simlex999_spearman"):
            if all(key in r for r in rs):
                s[f"{key}_mean"], s[f"{key}_std"] = mean_std([r[key] for r in rs])
        if len(args.seeds) > 1:
            s["neighbours_across_seeds"] = mean_std([overlap(nn[(b, x)], nn[(b, y)])
                                                     for x, y in combinations(args.seeds, 2)])
        corpus_words = rs[0]["words"] / args.epochs
        compass_rate = s["words_per_second_median"] / args.epochs  # corpus words per second, whole compass
        slice_rate = float(np.median([r["slice_words"] / r["slice_seconds"] for r in rs])) / args.epochs
        s["semeval_extrapolated_seconds"] = {
            str(n): {"compass": n / compass_rate, "cade": n / compass_rate + n / slice_rate}
            for n in SEMEVAL_TOKENS}
        s["corpus_words"] = int(corpus_words)
    cross = {}
    for b in BACKENDS[:2]:
        cross[f"kernel_vs_{b}"] = mean_std([overlap(nn[("kernel", x)], nn[(b, y)])
                                            for x in args.seeds for y in args.seeds if x != y])
        cross[f"kernel_vs_{b}_same_seed"] = mean_std([overlap(nn[("kernel", x)], nn[(b, x)]) for x in args.seeds])

    kernel, cf, it = summary["kernel"], summary["gensim-corpus_file"], summary["gensim-iterable"]
    ratios = {"kernel_vs_corpus_file_median": kernel["words_per_second_median"] / cf["words_per_second_median"],
              "kernel_vs_corpus_file_best": kernel["words_per_second_best"] / cf["words_per_second_best"],
              "kernel_vs_corpus_file_train_median": (kernel["train_words_per_second_median"]
                                                     / cf["train_words_per_second_median"]),
              "kernel_vs_corpus_file_graded_median": (kernel["graded_words_per_second_median"]
                                                      / cf["graded_words_per_second_median"]),
              "kernel_vs_iterable_median": kernel["words_per_second_median"] / it["words_per_second_median"]}

    print(f"\nKJV + WEB compass: {kernel['corpus_words']} words x {args.epochs} epochs, {len(vocab)} words, "
          f"{args.threads} threads, seeds {args.seeds}")
    print("| backend | words/s (median) | best | train only | s (median) | analogies MRR | P@1 | graded Spearman "
          "| WS353 | neighbours across seeds |\n|---|---|---|---|---|---|---|---|---|---|")
    for b in BACKENDS:
        s = summary[b]
        nb = s.get("neighbours_across_seeds", (float("nan"), 0.0))
        print(f"| {b} | {s['words_per_second_median'] / 1e3:.0f}k | {s['words_per_second_best'] / 1e3:.0f}k "
              f"| {s['train_words_per_second_median'] / 1e3:.0f}k | {s['seconds_median']:.1f} "
              f"| {s['analogy_mrr_mean']:.3f} ± {s['analogy_mrr_std']:.3f} "
              f"| {s['analogy_p_at_1_mean']:.3f} ± {s['analogy_p_at_1_std']:.3f} "
              f"| {s['graded_spearman_mean']:.3f} ± {s['graded_spearman_std']:.3f} "
              f"| {s.get('wordsim353_spearman_mean', float('nan')):.3f} ± {s.get('wordsim353_spearman_std', 0):.3f} "
              f"| {nb[0]:.3f} ± {nb[1]:.3f} |")
    print("neighbour overlap, kernel vs gensim:", {k: f"{m:.3f} ± {sd:.3f}" for k, (m, sd) in cross.items()})
    print("speed ratios:", {k: round(v, 2) for k, v in ratios.items()})
    print("SemEval-sized language (tokens in both corpora), extrapolated seconds:")
    for b in BACKENDS:
        ex = summary[b]["semeval_extrapolated_seconds"]
        print(f"  {b:18s} " + "; ".join(f"{int(n) / 1e6:.0f}M: compass {v['compass']:.0f}s, CADE {v['cade']:.0f}s"
                                        for n, v in ex.items()))
    path = save_result("compass_kernel", {"args": vars(args), "vocab_size": len(vocab), "summary": summary,
                                          "neighbour_overlap": cross, "ratios": ratios, "runs": runs,
                                          "graded_rates": rates})
    print("wrote", path)


if __name__ == "__main__":
    main()
