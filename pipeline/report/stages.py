"""One page per complete stage folder, by stage kind; every renderer reads only its own (complete) folder.

A value a stage's files lack is shown as "missing", never guessed; a file a
kind usually holds but this folder lacks is said so on the page.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

from ..evaluators import shown_value as _clean
from .html import MISSING, cards, esc, fmt, fmt_date, flatten_metrics, href, metric_table, page, table

log = logging.getLogger(__name__)

#: rows per change-table data file, words per word-data file
CHUNK_ROWS = 5000
SHARD_WORDS = 500
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEASURES = (("cosine_distance", "cosine"), ("local_neighbourhood_distance", "local neighbourhood"),
            ("euclidean_distance", "euclidean"))


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: not readable as JSON (%s); shown as missing", path, exc)
        return None


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _js(value: Any) -> str:
    """JSON for a data script: ASCII only, and ``<`` as ``\\u003c`` (no markup, whatever a corpus word holds)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _frame_js(df) -> str:
    """A polars frame as one JSON object of columns (polars' own writer: fast), ``<`` escaped as in :func:`_js`."""
    import polars as pl

    text = df.select(pl.all().implode()).write_json()
    return text.strip()[1:-1].replace("<", "\\u003c")  # the writer gives a list of one object


def _header(stage: str, folder: Path, page_dir: Path, prov: dict | None) -> str:
    created = (prov or {}).get("created")
    links = [f'<a href="{href(_rel(folder, page_dir))}/">stage folder</a>']
    for name in ("provenance.json", "metrics.json"):
        if (folder / name).is_file():
            links.append(f'<a href="{href(_rel(folder / name, page_dir))}">{name}</a>')
        else:
            links.append(f'{name}: {MISSING}')
    settings = json.dumps((prov or {}).get("settings"), indent=1, sort_keys=True, default=str)
    return (f"<h1>{esc(stage)}/{esc(folder.name)}</h1>"
            f'<p class="note">identity <code>{esc(folder.name.rsplit("-", 1)[-1])}</code>; built {fmt_date(created)}; '
            f'{" &middot; ".join(links)}</p>'
            f"<details><summary>settings</summary><pre class=\"mono\">{esc(settings)}</pre></details>")


def _is_png(p: Path) -> bool:
    """A regular file (not a link) that starts as a PNG does."""
    if p.is_symlink() or not p.is_file():
        return False
    with open(p, "rb") as f:
        return f.read(8) == PNG_SIGNATURE


def _images(folder: Path, page_dir: Path, names: list[str], cls: str = "plot") -> str:
    out = []
    for name in names:
        p = folder / name
        if p.is_symlink() or not p.is_file():  # a link may point anywhere: never shown
            continue
        if _is_png(p):
            out.append(f'<p><img class="{cls}" src="{href(_rel(p, page_dir))}" alt="{esc(name)}"></p>')
        else:  # an empty or cut-off plot: said so, not a broken image
            out.append(f'<p>{esc(name)}: {MISSING} (not a PNG image)</p>')
    return "".join(out)


def render_stage(stage: str, folder: Path, out: Path, *, root: str, page_dir: Path) -> None:
    """Write ``out/index.html`` (and the data files of the kind) for one complete stage folder.

    ``page_dir`` is where ``out`` will be placed (relative links are made from there).
    """
    folder = Path(folder)
    prov = _json(folder / "provenance.json") if (folder / "provenance.json").is_file() else None
    prov = prov if isinstance(prov, dict) else None  # a list or a number holds no settings and no time
    metrics = _json(folder / "metrics.json") if (folder / "metrics.json").is_file() else None
    metrics = metrics if isinstance(metrics, dict) else {}
    renderer = RENDERERS.get(stage, _generic)
    body = renderer(folder, out, page_dir, metrics, prov)
    head = _header(stage, folder, page_dir, prov)
    scripts, inline = [], ""
    if isinstance(body, tuple):
        body, scripts, inline = body
    (out / "index.html").write_text(page(f"{stage}/{folder.name}", head + body, root=root, scripts=scripts,
                                         inline=inline), encoding="utf-8")


def _all_metrics(metrics: dict, open_: bool = False) -> str:
    if not metrics:
        return f"<h2>Metrics</h2><p>metrics.json: {MISSING}</p>"
    flat = flatten_metrics(metrics)
    return (f"<h2>All metrics</h2><details{' open' if open_ else ''}><summary>{len(flat)} "
            f"value{'s' if len(flat) != 1 else ''} of metrics.json</summary>{metric_table(flat)}</details>")


def _generic(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    from ..integrity import stage_files

    # the files the success marker covers (no hidden file, no link), not whatever else lies in the folder
    pngs = [rel for rel in stage_files(folder) if rel.endswith(".png")][:12]
    return _all_metrics(metrics, open_=True) + ("<h2>Figures</h2>" + _images(folder, page_dir, pngs) if pngs else "")


# --------------------------------------------------------------------------------------------- diachronic


def _diachronic(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None):
    import polars as pl

    from ..diachronic.stages import _safe

    settings = (prov or {}).get("settings")
    report = settings.get("report") if isinstance(settings, dict) else None
    rank_by = report.get("rank_by") if isinstance(report, dict) else None
    rank_by = rank_by if isinstance(rank_by, str) and rank_by else "cosine_distance"
    body = [cards([("words", metrics.get("n_words")), ("slice pairs", metrics.get("n_pairs")),
                   ("seeds", metrics.get("n_seeds")),
                   ("top-n Jaccard across seeds", metrics.get("top_n_mean_jaccard_across_seeds"))])]
    change_path = folder / "change.parquet"
    if not change_path.is_file():
        return "".join(body) + f"<p>change.parquet: {MISSING}</p>" + _all_metrics(metrics)
    try:
        change = pl.read_parquet(change_path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        change, problem = None, f"not readable as Parquet ({exc})"
    else:
        change, problem = _usable_change(change)
    if change is None:
        return ("".join(body) + f'<p>change.parquet: {MISSING} ({esc(problem)})</p>'
                + _top_changed(folder, page_dir, rank_by) + _all_metrics(metrics))
    measures = [(c, label) for c, label in MEASURES if c in change.columns]
    missing_measures = [label for c, label in MEASURES if c not in change.columns]
    seeds = change["seed"].unique(maintain_order=True).to_list() if "seed" in change.columns else [None]
    first = change.filter(pl.col("seed") == seeds[0]) if seeds[0] is not None else change
    pairs = [tuple(r) for r in first.select(["slice_a", "slice_b"]).unique(maintain_order=True).iter_rows()]
    slices: list[str] = []
    for a, b in pairs:
        for s in (a, b):
            if s not in slices:
                slices.append(s)
    many = len(seeds) > 1
    means = None
    if many and measures:
        means = change.group_by(["word", "slice_a", "slice_b"]).agg(
            [pl.col(c).mean().alias(f"mean_{c}") for c, _ in measures])
        first = first.join(means, on=["word", "slice_a", "slice_b"], how="left")
    if "stopword" not in first.columns:
        first = first.with_columns(pl.lit(None, dtype=pl.Boolean).alias("stopword"))

    # the change table, paged in the browser: one data script per CHUNK_ROWS rows
    columns = [{"label": "word", "num": False}, {"label": "pair", "num": False},
               {"label": "freq a", "num": True, "title": "frequency in the pair's first slice"},
               {"label": "freq b", "num": True, "title": "frequency in the pair's second slice"}]
    columns += [{"label": label, "num": True, "title": c} for c, label in measures]
    if means is not None:
        columns += [{"label": f"{label} (mean of {len(seeds)} seeds)", "num": True, "title": f"mean_{c}"}
                    for c, label in measures]
    columns.append({"label": "stopword", "num": False})
    values = [c for c, _ in measures] + ([f"mean_{c}" for c, _ in measures] if means is not None else [])
    for c in ("freq_a", "freq_b"):
        if c not in first.columns:
            first = first.with_columns(pl.lit(None, dtype=pl.Int64).alias(c))
    pair_df = pl.DataFrame({"slice_a": [a for a, _ in pairs], "slice_b": [b for _, b in pairs],
                            "pair": list(range(len(pairs)))},
                           schema={"slice_a": first.schema["slice_a"], "slice_b": first.schema["slice_b"],
                                   "pair": pl.Int64})
    # in polars, not per value in Python: NaN and infinities become null ("missing"), 5 decimals are kept
    t = first.join(pair_df, on=["slice_a", "slice_b"], how="left").select(
        "word", "slice_a", "slice_b", "pair", "freq_a", "freq_b",
        *[pl.when(pl.col(c).cast(pl.Float64).is_finite()).then(pl.col(c).cast(pl.Float64).round(5)).alias(c)
          for c in values], pl.col("stopword"))
    table_df = t.drop("slice_a", "slice_b")
    data = out / "data"
    data.mkdir()
    n_rows = table_df.height
    n_chunks = math.ceil(n_rows / CHUNK_ROWS)
    for i in range(n_chunks):
        (data / f"change-{i:04d}.js").write_text(
            f"CL.rows({i},{_frame_js(table_df.slice(i * CHUNK_ROWS, CHUNK_ROWS))});\n", encoding="utf-8")
    sort_col = next((4 + i for i, (c, _) in enumerate(measures) if c == rank_by), None)

    # per word (columnar shards in vocabulary order): frequency per slice, change per pair
    freq = pl.concat([t.select("word", pl.col("slice_a").alias("slice"), pl.col("freq_a").alias("freq")),
                      t.select("word", pl.col("slice_b").alias("slice"), pl.col("freq_b").alias("freq"))]) \
        .unique(["word", "slice"], keep="first").pivot(on="slice", index="word", values="freq")
    fcols = [f"f:{x}" for x in slices]
    freq = freq.rename({x: f"f:{x}" for x in slices if x in freq.columns})
    freq = freq.with_columns([pl.lit(None, dtype=pl.Int64).alias(c) for c in fcols if c not in freq.columns])
    per_word = t.group_by("word", maintain_order=True).agg("pair", *values, pl.col("stopword").any().alias("stop")) \
        .join(freq, on="word", how="left") \
        .with_columns(pl.sum_horizontal(*[pl.col(c).fill_null(0) for c in fcols]).alias("total")) \
        .sort(["total", "word"], descending=[True, False])
    vocab = per_word["word"].to_list()
    shards = per_word.select("word", pl.concat_list(fcols).alias("freq"), "pair", *values, "stop")
    for i in range(0, len(vocab), SHARD_WORDS):
        (data / f"words-{i // SHARD_WORDS:04d}.js").write_text(
            f"CL.words({i // SHARD_WORDS},{_frame_js(shards.slice(i, SHARD_WORDS))});\n", encoding="utf-8")

    # the words the report lists neighbours of (and plots): a small extra file
    extra: dict[str, dict] = {}
    nb_path = folder / "neighbours.parquet"
    if nb_path.is_file():
        nb = pl.read_parquet(nb_path)
        if {"word", "slice", "neighbour", "similarity"} <= set(nb.columns):
            nb = nb.sort(["word", "slice", "rank"] if "rank" in nb.columns else ["word", "slice"])
            for w, sl, n, sim in nb.select(["word", "slice", "neighbour", "similarity"]).iter_rows():
                extra.setdefault(w, {"nb": {}})["nb"].setdefault(sl, []).append([n, _clean(sim)])
    for w, d in extra.items():
        plot = folder / "plots" / f"trajectory_{_safe(w)}.png"
        if _is_png(plot):
            d["plot"] = _rel(plot, page_dir)
    (data / "extra.js").write_text(f"CL.extra({_js(extra)});\n", encoding="utf-8")
    (data / "vocab.js").write_text(f"CL.vocab({_js(vocab)});\n", encoding="utf-8")
    title = f"{folder.parent.name}/{folder.name}"
    measure_labels = [label for _, label in measures] + (
        [f"{label} (mean of {len(seeds)} seeds)" for _, label in measures] if means is not None else [])
    meta = {"title": title, "columns": columns, "keys": table_df.columns, "values": values, "pairs": pairs,
            "slices": slices, "chunks": n_chunks, "rows": n_rows, "word_col": 0, "pair_col": 1,
            "stop_col": len(columns) - 1, "sort": sort_col,
            "shard_size": SHARD_WORDS, "measure_labels": measure_labels}
    (data / "meta.js").write_text(f"CL.meta({_js(meta)});\n", encoding="utf-8")
    scripts = ["../../../assets/report.js", "data/meta.js", "data/vocab.js"]
    (out / "word.html").write_text(page(title, '<p><a href="index.html">&larr; back to the change report</a></p>'
                                        '<h1 id="word-title"></h1><div id="word-body"></div>',
                                        root="../../../", scripts=[*scripts, "data/extra.js"],
                                        inline="CL.startWord();"),
                                   encoding="utf-8")

    body.append('<h2>Find a word</h2><div class="search"><input type="search" id="search" '
                'placeholder="any word of the vocabulary" autocomplete="off" aria-label="search the vocabulary">'
                '<ul id="search-results" hidden></ul></div>'
                f'<p class="note">{len(vocab):,} words; slices {esc(", ".join(slices))}.</p>')
    if missing_measures:
        body.append(f'<p class="missing">change.parquet has no numeric {esc(", ".join(missing_measures))} column: '
                    "missing</p>")
    body.append(_top_changed(folder, page_dir, rank_by))
    body.append("<h2>Change table</h2><p class=\"note\">Every word above the frequency floor, every slice pair, "
                f"seed {esc(seeds[0])}; click a heading to sort.</p>"
                '<div class="controls"><input type="text" id="filter" placeholder="filter words" '
                'aria-label="filter words"><select id="pair" aria-label="slice pair"><option value="">every pair'
                '</option></select><label><input type="checkbox" id="hide-stop"> hide stopwords</label>'
                '<button id="prev">&larr; previous</button><button id="next">next &rarr;</button>'
                '<span id="count" class="muted"></span></div><div class="scroll"><table id="change">'
                '<thead id="change-head"></thead><tbody id="change-body"></tbody></table></div>')
    body.append(_all_metrics(metrics))
    return "".join(body), scripts, "CL.startSearch(); CL.startTable();"


def _usable_change(change):
    """``(change, None)`` with the columns the page can show, or ``(None, why)`` when it cannot show the table.

    Words and slices must be text; a measure or frequency column that is not numeric, or a stopword column
    that is not boolean, is dropped (and then shown as missing), never converted.
    """
    import polars as pl

    bad = [c for c in ("word", "slice_a", "slice_b") if change.schema.get(c) != pl.String]
    if bad:
        return None, f"no text column {', '.join(bad)}"
    if change.height == 0:
        return None, "no rows"
    drop = [c for c in (*(m for m, _ in MEASURES), "freq_a", "freq_b")
            if c in change.columns and not change.schema[c].is_numeric()]
    if "stopword" in change.columns and change.schema["stopword"] != pl.Boolean:
        drop.append("stopword")
    return change.drop(drop), None


def _top_changed(folder: Path, page_dir: Path, rank_by: str) -> str:
    import polars as pl

    out = ["<h2>Top changed words</h2>", f'<p class="note">ranked by <code>{esc(rank_by)}</code>; stability: '
           "the share of seeds whose top list holds the word, and its rank across seeds.</p>"]
    out.append(_images(folder, page_dir, ["plots/top_changed.png"], cls="plot narrow"))
    path = folder / "top_changed.parquet"
    if not path.is_file():
        return "".join(out) + f"<p>top_changed.parquet: {MISSING}</p>"
    keys = ("word", "slice_a", "slice_b")
    try:
        top = pl.read_parquet(path)
        stab = pl.read_parquet(folder / "stability.parquet") if (folder / "stability.parquet").is_file() else None
    except (pl.exceptions.PolarsError, OSError) as exc:
        return "".join(out) + f"<p>top_changed.parquet: {MISSING} (not readable as Parquet: {esc(exc)})</p>"
    if any(top.schema.get(c) != pl.String for c in keys):
        return "".join(out) + f"<p>top_changed.parquet: {MISSING} (no text column word, slice_a or slice_b)</p>"
    stab_cols = ["fraction_top", "mean_rank", "std_rank"]
    if stab is not None and all(stab.schema.get(c) == pl.String for c in keys):
        keep = [c for c in stab_cols if c in stab.columns]
        top = top.join(stab.select(["word", "slice_a", "slice_b", *keep]), on=["word", "slice_a", "slice_b"],
                       how="left")
    cols = ["rank", "word", "freq_a", "freq_b", *[c for c, _ in MEASURES], *stab_cols]
    labels = ["rank", "word", "freq a", "freq b", *[label for _, label in MEASURES], "share of seeds", "mean rank",
              "rank sd"]
    by_pair: dict[tuple, list] = {}
    for rec in top.to_dicts():
        by_pair.setdefault((rec.get("slice_a"), rec.get("slice_b")), []).append(rec)
    for n, (pair, recs) in enumerate(by_pair.items()):
        rows = []
        for rec in recs:
            w = rec.get("word")
            rows.append([(f'<a href="word.html#{esc(_quote(w))}">{esc(w)}</a>' if w is not None else MISSING)
                         if c == "word"
                         else (fmt(_clean(rec.get(c))) if c in rec else MISSING) for c in cols])
        # the plot shows the last pair (first vs last slice): its list is open, the others folded
        opened = " open" if n == len(by_pair) - 1 else ""
        out.append(f"<details{opened}><summary>{esc(pair[0])} &rarr; {esc(pair[1])} ({len(recs)} words)</summary>"
                   + table(labels, rows, numeric=[c != "word" for c in cols]) + "</details>")
    return "".join(out)


def _quote(word: str) -> str:
    from urllib.parse import quote

    return quote(word, safe="")


# --------------------------------------------------------------------------------------------- gold


def _change_eval(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    ev = _json(folder / "evaluation.json") if (folder / "evaluation.json").is_file() else None
    body = ["<h2>Scores against the gold</h2>"]
    if not isinstance(ev, dict) or not isinstance(ev.get("methods"), dict):
        body.append(f"<p>evaluation.json: {MISSING}</p>")
    else:
        body.append(f'<p>recommended: <code>{esc(ev.get("recommended", "missing"))}</code></p>')
        cols = ["graded_spearman", "graded_spearman_ci", "graded_spearman_sd", "binary_accuracy", "binary_rule",
                "covered", "missing"]
        rows = []
        for name, m in ev["methods"].items():
            m = m if isinstance(m, dict) else {}
            cells = [esc(name)]
            for c in cols:
                v = m.get(c)
                if c == "missing" and isinstance(v, list):
                    v = f"{len(v)}: " + ", ".join(map(str, v[:10])) + (" ..." if len(v) > 10 else "") if v else "none"
                cells.append(fmt(v))
            rows.append(cells)
        body.append(table(["method/measure", *cols], rows, numeric=[False, True, False, True, True]))
    body.append(_images(folder, page_dir, ["plots/graded_spearman.png", "plots/graded_spearman_pairs.png",
                                           "plots/score_vs_gold.png", "plots/target_trajectories.png"]))
    return "".join(body) + _all_metrics(metrics)


# --------------------------------------------------------------------------------------------- aligned


def _aligned(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    src, piv = metrics.get("source_lang"), metrics.get("pivot_lang")
    body = ["<h2>Dictionary coverage</h2>",
            cards([("pairs", metrics.get("dictionary_pairs")), ("pairs kept", metrics.get("dictionary_pairs_kept")),
                   ("coverage", metrics.get("dictionary_coverage")),
                   ("train pairs", metrics.get("dictionary_train_pairs")),
                   ("test pairs", metrics.get("dictionary_test_pairs"))]),
            metric_table(metrics, ["dictionary_pairs_unknown_source", "dictionary_pairs_unknown_target",
                                   "dictionary_pairs_unknown_either", "dictionary_source_words",
                                   "dictionary_source_words_kept", "source_vocab", "pivot_vocab"])]
    body.append("<h2>Bilingual lexicon induction</h2>")
    prefix = f"bli_{src}-{piv}_"
    methods = sorted({k.split("-", 2)[-1] for k in metrics if k.startswith(prefix) and "-" in k[len(prefix):]})
    if not methods:
        body.append(f"<p>BLI metrics: {MISSING} (no test dictionary)</p>")
    else:
        measures = ["precision_at_1", "precision_at_5", "precision_at_10", "mrr"]
        body.append(table(["method", *measures],
                          [[esc(m), *[fmt(metrics.get(f"{prefix}{x}-{m}")) for x in measures]] for m in methods],
                          numeric=[False, True, True, True, True]))
    body.append(_translation_sample(folder, src, piv))
    return "".join(body) + _all_metrics(metrics)


def _translation_sample(folder: Path, src: Any, piv: Any, n: int = 25, max_rank: int = 10000, k: int = 10) -> str:
    """Induced translations of test words by CSLS, over the ``max_rank`` most frequent words of each side."""
    import numpy as np

    from ..multilingual.bli import knn_mean_similarity, search, unit_rows
    from ..multilingual.dictionaries import read_pair_file
    from ..vectors import load_vectors

    from ..languages import iso_language

    head = f"<h2>Induced translations (CSLS, k={k})</h2>"
    try:  # the names of files come from metrics.json: language codes only, never a path out of the folder
        src, piv = iso_language(src, "source_lang"), iso_language(piv, "pivot_lang")
    except ValueError:
        return head + f"<p>source_lang / pivot_lang of metrics.json: {MISSING} (not language codes)</p>"
    test = folder / f"dictionary.{src}-{piv}.test.txt"
    vs, vp = folder / f"{src}.npy", folder / f"{piv}.npy"
    if not (test.is_file() and vs.is_file() and vp.is_file()):
        return head + f"<p>test dictionary or vectors: {MISSING}</p>"
    from ..errors import InputError

    try:
        pairs = read_pair_file(test, lowercase=False).pairs
        kv_s, kv_p = load_vectors(vs), load_vectors(vp)
    except (InputError, ValueError) as exc:  # vectors without their keys, or not an array
        return head + f'<p class="missing">{esc(exc)}</p>'
    gold: dict[str, set[str]] = {}
    for a, b in pairs:
        gold.setdefault(a, set()).add(b)
    cap_s, cap_p = min(len(kv_s), max_rank), min(len(kv_p), max_rank)
    # MUSE's practice: candidates and CSLS neighbourhoods among the most frequent words only (rows are by frequency)
    head += (f'<p class="note">A sample of held-out test words and their three best {esc(piv)} words by CSLS, among '
             f"the {cap_p:,} most frequent {esc(piv)} words (the {cap_s:,} most frequent {esc(src)} words for the "
             "penalty); <b>bold</b>: a translation the test dictionary gives.</p>")
    S = unit_rows(np.asarray(kv_s.vectors[:cap_s], dtype=np.float32))
    P = unit_rows(np.asarray(kv_p.vectors[:cap_p], dtype=np.float32))
    queries = [w for w in sorted(gold) if w in kv_s.key_to_index and kv_s.key_to_index[w] < cap_s]
    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(queries), size=min(n, len(queries)), replace=False).tolist()) if queries else []
    queries = [queries[i] for i in pick]
    if not queries:
        return head + f"<p>test words in the vectors: {MISSING}</p>"
    rows_q = np.array([kv_s.key_to_index[w] for w in queries])
    # CSLS: r_T of each query over the pivot words, r_S of every pivot word over the source words
    q_pen = knn_mean_similarity(S[rows_q], P, k=min(k, cap_p))
    key_pen = knn_mean_similarity(P, S, k=min(k, cap_s))
    scores, idx = search(S[rows_q], P, k=3, query_penalty=q_pen, key_penalty=key_pen)
    rows = []
    for w, sc, ix in zip(queries, scores, idx):
        cands = []
        for s, i in zip(sc, ix):
            t = kv_p.index_to_key[int(i)]
            cell = f"{esc(t)} ({float(s):.3f})"
            cands.append(f"<b>{cell}</b>" if t in gold[w] else cell)
        rows.append([esc(w), "; ".join(cands), esc(", ".join(sorted(gold[w])[:5]))])
    return head + table([f"{src} word", "induced (CSLS score)", "test dictionary"], rows)


# --------------------------------------------------------------------------------------------- transfer


def _retrieval(metrics: dict) -> str:
    models = sorted({k.split("-", 1)[1] for k in metrics if k.startswith("retrieval_mrr-")})
    if not models:
        return f"<h2>Verse retrieval</h2><p>retrieval metrics: {MISSING}</p>"
    return ("<h2>Verse retrieval</h2>" + table(
        ["model", "top-1", "MRR"], [[esc(m), fmt(metrics.get(f"retrieval_top1-{m}")),
                                     fmt(metrics.get(f"retrieval_mrr-{m}"))] for m in models],
        numeric=[False, True, True])
        + f'<p class="note">{fmt(metrics.get("retrieval_pairs"))} verse pairs, books '
          f'{fmt(metrics.get("retrieval_books"))}</p>')


def _transfer(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    body = ["<h2>Target subwords</h2>",
            cards([("target subwords", metrics.get("target_subwords")),
                   ("matched", metrics.get("target_subwords_matched")),
                   ("fallback", metrics.get("target_subwords_fallback")),
                   ("special tokens copied", metrics.get("special_tokens_copied"))])]
    body.append(_retrieval(metrics))
    rep = _json(folder / "report.json") if (folder / "report.json").is_file() else None
    sample = rep.get("sample") if isinstance(rep, dict) else None
    body.append("<h2>A sample of target subwords and their source neighbours</h2>")
    if not isinstance(sample, list):
        body.append(f"<p>report.json sample: {MISSING}</p>")
    else:
        rows = []
        show = 5
        for item in sample[:30]:
            if not isinstance(item, dict):
                continue
            nbs = [n for n in (item.get("neighbours") if isinstance(item.get("neighbours"), list) else [])
                   if isinstance(n, dict)]
            cells = [f"<code>{esc(n.get('source'))}</code><br><span class=\"muted\">sim {fmt(n.get('similarity'))}"
                     f" &middot; w {fmt(n.get('weight'))}</span>" for n in nbs[:show]]
            rows.append([f"<code>{esc(item.get('target'))}</code>", *(cells + [MISSING] * (show - len(cells)))])
        body.append(f'<p class="note">The {show} nearest source subwords of each (of {fmt(len(sample))} sampled), '
                    "with the cosine similarity in the aligned static space and the softmax weight.</p>"
                    + table(["target subword", *[f"neighbour {i + 1}" for i in range(show)]], rows))
    fb = rep.get("fallback_tokens") if isinstance(rep, dict) else None
    if isinstance(fb, list):
        body.append(f"<h3>Fallback subwords (first {min(len(fb), 100)})</h3><p class=\"mono\">"
                    f"{esc(' '.join(map(str, fb[:100])))}</p>")
    return "".join(body) + _all_metrics(metrics)


def _pretrain(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    body = [cards([("steps", metrics.get("steps_run")), ("first loss", metrics.get("first_loss")),
                   ("final loss", metrics.get("final_loss")), ("tokens/s", metrics.get("tokens_per_second")),
                   ("device", metrics.get("device"))]),
            "<h2>Loss curve</h2>",
            _images(folder, page_dir, ["loss.png"]) or f"<p>loss.png: {MISSING}</p>",
            _retrieval(metrics)]
    return "".join(body) + _all_metrics(metrics)


# --------------------------------------------------------------------------------------------- specialization


def _specialized(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    measures = sorted({k[len(p):] for k in metrics for p in ("before_", "after_", "delta_") if k.startswith(p)})
    body = ["<h2>Before and after specialization</h2>"]
    if not measures:
        body.append(f"<p>before / after metrics: {MISSING}</p>")
    else:
        body.append(table(["measure", "before", "after", "delta"],
                          [[f"<code>{esc(m)}</code>", fmt(metrics.get(f"before_{m}")), fmt(metrics.get(f"after_{m}")),
                            fmt(metrics.get(f"delta_{m}"))] for m in measures],
                          numeric=[False, True, True, True]))
    body.append("<h2>Training</h2>" + metric_table(metrics, [k for k in ("model", "device", "constraint_pairs",
                                                                          "train_steps", "train_pairs_seen",
                                                                          "train_seconds", "train_loss_first",
                                                                          "train_loss_last")]))
    body.append(_images(folder, page_dir, ["loss.png"]))  # stages built before it was drawn have only losses.tsv
    return "".join(body) + _all_metrics(metrics)


# --------------------------------------------------------------------------------------------- static


def _headline_table(t) -> str:
    """The headline scores of a comparison (``compare.headline_cells``), one row per set: the best
    value of each column in bold, ``± sd`` where the set was trained over several seeds."""
    from pipeline.static.compare import headline_cells, headline_label

    cols, cells = headline_cells(t)
    if not cells:
        return ""
    rows = []
    for name, seeds, values in cells:
        row = [esc(name), fmt(seeds)]
        for v, sd, best in values:
            cell = (f"{v:.3f}" if isinstance(v, float) else fmt(v)) + (
                f' <span class="muted">&plusmn; {sd:.3f}</span>' if isinstance(sd, float) else "")
            row.append(f"<strong>{cell}</strong>" if best else cell)
        rows.append(row)
    return ('<p class="muted">The headline scores on the shared words; the best of each column in bold, '
            "&plusmn; the sample sd over training seeds.</p>"
            + '<div class="scroll">' + table(["set", "seeds", *(headline_label(c) for c in cols)], rows,
                                             numeric=[False, True, *([True] * len(cols))], cls="wrap") + "</div>")


def _static_compare(folder: Path, out: Path, page_dir: Path, metrics: dict, prov: dict | None) -> str:
    import polars as pl

    body = ["<h2>Comparison on the same words</h2>"]
    path = folder / "comparison.parquet"
    if not path.is_file():
        body.append(f"<p>comparison.parquet: {MISSING}</p>")
    else:
        from pipeline.static.compare import integer_counts

        t = integer_counts(pl.read_parquet(path))  # counts stored as floats (by an older stage) read as counts
        body.append(_headline_table(t))
        rows = [[fmt(_clean(v)) for v in r] for r in t.iter_rows()]
        body.append(f"<details><summary>every column ({len(t.columns)})</summary>"
                    '<div class="scroll">' + table(t.columns, rows, numeric=[
                        t[c].dtype.is_numeric() for c in t.columns]) + "</div></details>")
    body.append(_images(folder, page_dir, ["comparison.png"]))
    flat = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    return "".join(body) + _all_metrics(flat)


RENDERERS: dict[str, Callable] = {
    "cade-report": _diachronic, "procrustes-report": _diachronic, "change-eval": _change_eval,
    "aligned": _aligned, "transfer": _transfer, "pretrain": _pretrain, "specialized": _specialized,
    "static-compare": _static_compare,
}

__all__ = ["render_stage", "RENDERERS", "CHUNK_ROWS", "SHARD_WORDS"]
