"""The diachronic stages as plain functions: settings + inputs + an output folder -> metrics.

Each ``build_*`` writes its files, ``metrics.json`` last among them, into
``out_dir`` (an existing, empty folder) and returns the metrics. Inputs are the
folders of earlier stages (or corpus folders). No luigi here: the tasks of
:mod:`pipeline.dag.diachronic` only choose the folders, the threads and the
seeds, and make the writing atomic. From Python::

    from pipeline.diachronic import CadeSettings, stages
    stages.build_prepared_corpus(spec, {"sotu": "corpora/sotu"}, "out/corpus")
    stages.build_compass(CadeSettings(seed=1), "out/corpus", "out/compass")
    stages.build_cade_slice(CadeSettings(seed=1), {"corpus": "out/corpus", "compass": "out/compass"},
                            "out/slice-1790", slice_name="1790-1839")

=====================  ==============================================================
stage                  files
=====================  ==============================================================
prepared corpus        ``slices/<slice>.txt``, ``slices.json``, ``slice_stats.parquet``,
                       ``vocabulary_overlap.parquet``, ``slice_stats.png``
compass (CADE)         ``compass.model`` (gensim, for users only: a pickle), the
                       :func:`.cade.save_compass` files
CADE slice             ``vectors.{vec,npy,vocab,kv}``, ``syn1neg.npy``
word2vec slice         ``vectors.{vec,npy,vocab,kv}`` (its own space)
Procrustes slice       ``vectors.{vec,npy,vocab,kv}`` (mapped onto the reference slice)
report                 ``change.parquet``, ``top_changed.{parquet,csv}``,
                       ``stability.{parquet,csv}``, ``neighbours.parquet``, ``plots/``
=====================  ==============================================================
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from ..errors import InputError, SpecError, read_utf8
from ..identity import write_json
from .spec import report_pairs_problem

if TYPE_CHECKING:
    from .settings import ChangeEvaluationSettings, GoldSettings
    from .cade import CadeSettings
    from .procrustes import ProcrustesSettings
    from .spec import DiachronicSpec, ReportSpec

logger = logging.getLogger(__name__)

__all__ = ["build_prepared_corpus", "build_compass", "build_cade_slice", "build_word2vec_slice",
           "build_procrustes_slice", "build_report", "slice_files", "report_words", "report_stopwords",
           "GoldInputs", "build_gold", "build_change_evaluation"]

Progress = Optional[Callable[[float, str], None]]



def slice_files(corpus: str | Path) -> dict[str, Path]:
    """``{slice name: token file}`` of a prepared corpus folder, in slice order (from its ``slices.json``)."""
    corpus = Path(corpus)
    listing = json.loads((corpus / "slices.json").read_text(encoding="utf-8"))
    return {name: corpus / "slices" / listing["files"][name] for name in listing["slices"]}


def _slice_corpus(corpus: Path, slice_name: str):
    from ..corpora import LineCorpus

    files = slice_files(corpus)
    if slice_name not in files:
        raise InputError(Path(corpus) / "slices.json", f"a slice named '{slice_name}'", f"slices: {', '.join(files)}")
    return LineCorpus(files[slice_name])


# --------------------------------------------------------------------------------------------- corpus


def build_prepared_corpus(spec: "DiachronicSpec", corpus_dirs: Mapping[str, str | Path], out_dir: str | Path,
                          progress: Progress = None) -> dict:
    """Tokenise the corpora (``{name: corpus folder}``, in the spec's order) into slices, with statistics.

    Statistics count words at or above the spec's method's ``min_count``. Raises
    :class:`InputError` for corpora of several languages or fewer than two slices.
    """
    from ..corpora import Tokenizer, load_declaration, prepare_slices
    from ..corpora.stats import overlap_warnings, slice_statistics, vocabulary_overlap
    from .plots import plot_slice_stats

    out_dir = Path(out_dir)
    decls = [load_declaration(Path(d)) for d in corpus_dirs.values()]
    languages = {d.language for d in decls}
    if len(languages) != 1:
        raise InputError(", ".join(str(d.path) for d in decls), "corpora of one language for a diachronic run",
                         f"found {', '.join(f'{d.name}: {d.language}' for d in decls)}")
    tokenizer = Tokenizer(languages.pop(), spec.tokenizer.settings())
    slices_dir = out_dir / "slices"
    slices_dir.mkdir()
    files = prepare_slices(decls, spec.slicing.settings(), tokenizer, slices_dir, progress=progress)
    if len(files) < 2:
        raise InputError(next(iter(corpus_dirs.values())), "documents in at least two slices",
                         f"found slices {sorted(files)}")
    # refused here, not after every slice is trained: slicing by period names the slices after the periods the
    # documents fall in (by corpus the spec refused it, unless a corpus gave no token)
    problem = report_pairs_problem(spec.report.pairs, files, "the slices the prepared corpus has")
    if problem:
        raise SpecError(spec.spec_file or None, *problem)
    stats = slice_statistics(files, min_count=spec.min_count)
    overlap = vocabulary_overlap(files, min_count=spec.min_count)
    warnings = overlap_warnings(overlap)
    for w in warnings:
        logger.warning("%s: %s", spec.name or "diachronic", w)
    stats.write_parquet(out_dir / "slice_stats.parquet")
    overlap.write_parquet(out_dir / "vocabulary_overlap.parquet")
    write_json(out_dir / "slices.json", {"slices": list(files), "files": {k: v.name for k, v in files.items()}})
    metrics = {"n_slices": len(files), "tokens_total": int(stats["tokens"].sum()), "overlap_warnings": len(warnings)}
    for row in stats.iter_rows(named=True):
        metrics[f"tokens_{row['slice']}"] = int(row["tokens"])
        metrics[f"types_min_count_{row['slice']}"] = int(row["types_min_count"])
    write_json(out_dir / "metrics.json", metrics)
    plot_slice_stats(stats, out_dir / "slice_stats.png")
    return metrics


# --------------------------------------------------------------------------------------------- CADE


def build_compass(settings: "CadeSettings", corpus: str | Path, out_dir: str | Path, progress: Progress = None) -> dict:
    """CADE's compass: CBOW on every slice of the prepared ``corpus`` folder, in slice order."""
    from ..corpora import ConcatCorpus, LineCorpus
    from ..evaluation import evaluate_vectors
    from .cade import save_compass, train_compass

    out_dir = Path(out_dir)
    text = ConcatCorpus([LineCorpus(p) for p in slice_files(corpus).values()])
    t0 = time.time()
    scratch = out_dir / "_scratch"  # the kernel's encoded corpus; same disk as the outputs
    scratch.mkdir()
    model = train_compass(text, settings, progress=progress, tmp_dir=scratch)
    shutil.rmtree(scratch)
    seconds = time.time() - t0
    model.save(str(out_dir / "compass.model"))  # for users only (a pickle): slices read save_compass's files
    save_compass(model, out_dir)
    metrics = {"vocab_size": len(model.wv), "train_seconds": round(seconds, 2), "threads": settings.threads}
    metrics.update(evaluate_vectors(model.wv))
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def build_cade_slice(settings: "CadeSettings", inputs: Mapping[str, str | Path], out_dir: str | Path, *,
                     slice_name: str, progress: Progress = None) -> dict:
    """One CADE slice against the frozen context matrix of the compass.

    ``inputs``: ``{"corpus": prepared corpus folder, "compass": compass folder}``. The
    compass is read with :func:`.cade.load_compass` (never ``compass.model``: a pickle runs code).
    """
    import numpy as np

    from ..evaluation import evaluate_vectors
    from ..vectors import save_vectors
    from .cade import load_compass, train_slice

    out_dir = Path(out_dir)
    text = _slice_corpus(Path(inputs["corpus"]), slice_name)
    compass = load_compass(inputs["compass"])
    scratch = out_dir / "_scratch"  # the kernel's encoded corpus; same disk as the outputs
    scratch.mkdir()
    result = train_slice(compass, text, settings, tmp_dir=scratch, progress=progress, name=slice_name)
    shutil.rmtree(scratch)
    save_vectors(result.wv, out_dir / "vectors")
    np.save(out_dir / "syn1neg.npy", result.syn1neg)
    metrics = {"slice": slice_name, "vocab_size": len(result.wv), "threads": settings.threads}
    metrics.update({f"train_{k}": v for k, v in result.stats.items()})
    metrics.update(evaluate_vectors(result.wv))
    write_json(out_dir / "metrics.json", metrics)
    return metrics


# --------------------------------------------------------------------------------------------- Procrustes baseline


def build_word2vec_slice(settings: "ProcrustesSettings", corpus: str | Path, out_dir: str | Path, *,
                         slice_name: str, progress: Progress = None) -> dict:
    """One slice's own word2vec (the Procrustes baseline before alignment), from the prepared ``corpus`` folder."""
    from ..evaluation import evaluate_vectors
    from ..vectors import save_vectors
    from .procrustes import train_independent_slice

    out_dir = Path(out_dir)
    text = _slice_corpus(Path(corpus), slice_name)
    t0 = time.time()
    kv = train_independent_slice(text, settings, progress=progress, name=slice_name)
    seconds = time.time() - t0
    save_vectors(kv, out_dir / "vectors")
    metrics = {"slice": slice_name, "vocab_size": len(kv), "threads": settings.threads,
               "train_seconds": round(seconds, 2)}
    metrics.update(evaluate_vectors(kv))
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def build_procrustes_slice(inputs: Mapping[str, str | Path], out_dir: str | Path, *, slice_name: str,
                           reference: str) -> dict:
    """One slice's word2vec vectors mapped onto the reference slice's with orthogonal Procrustes.

    ``inputs``: ``{"slice": its word2vec slice folder, "reference": the reference slice's}``
    (the same folder for the reference slice itself, whose vectors are kept as they are).
    """
    from ..vectors import load_vectors, save_vectors
    from .procrustes import align_to_reference

    out_dir = Path(out_dir)
    kv = load_vectors(Path(inputs["slice"]) / "vectors.npy")
    if slice_name == reference:
        aligned = kv
        shared = len(kv)
    else:
        ref = load_vectors(Path(inputs["reference"]) / "vectors.npy")
        shared = sum(1 for w in kv.index_to_key if w in ref.key_to_index)
        if not shared:  # the map is fitted on the shared words (else an error naming neither file)
            raise InputError(f"{Path(inputs['slice']) / 'vectors.npy'}, {Path(inputs['reference']) / 'vectors.npy'}",
                             f"words slice '{slice_name}' shares with the reference slice '{reference}' (the "
                             "Procrustes map is fitted on them)", f"none of its {len(kv)} words is in the "
                             f"reference's {len(ref)}")
        aligned = align_to_reference({reference: ref, slice_name: kv}, reference)[slice_name]
    save_vectors(aligned, out_dir / "vectors")
    metrics = {"slice": slice_name, "reference": reference, "vocab_size": len(aligned), "anchor_words": shared}
    write_json(out_dir / "metrics.json", metrics)
    return metrics


# --------------------------------------------------------------------------------------------- report


def _safe(word: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in word)[:60]


def report_words(settings: "ReportSpec", top) -> list[str]:
    """The words the report lists neighbours of and plots: ``settings.words``, then up to
    ``settings.plot_words`` of the top changed words (``top``, ranked) of its first slice pair."""
    import polars as pl

    words = list(settings.words)
    if settings.plot_words:
        first_pair = top.select(["slice_a", "slice_b"]).row(0) if top.height else None
        if first_pair:
            auto = top.filter((pl.col("slice_a") == first_pair[0]) & (pl.col("slice_b") == first_pair[1]))
            words += [w for w in auto["word"].to_list() if w not in words][: settings.plot_words]
    return words


def report_stopwords(settings: "ReportSpec", language: str | None = None, root: str | Path | None = None
                     ) -> frozenset[str]:
    """The words ``settings.stopwords`` leaves out of the report's top list (lower-cased; empty: none).

    ``auto``: the list of ``language`` (the corpora's), none when the language is not given or has no
    list; a language code: stopwordsiso's list for it; a path: a UTF-8 word list, one word a line, blank
    lines and lines starting with ``#`` skipped, relative to ``root`` (else the current folder). Raises
    :class:`InputError` for a language without a list or a word list that cannot be read.
    """
    from .settings import stopwords_kind

    value = settings.stopwords
    kind = stopwords_kind(value)
    if kind == "none":
        return frozenset()
    if kind == "file":
        path = Path(value)
        if root is not None and not path.is_absolute():
            path = Path(root) / path
        expected = "a stopword list for report.stopwords (UTF-8, one word a line)"
        if not path.is_file():
            raise InputError(path, expected, "no such file")
        lines = read_utf8(path, expected).splitlines()
        words = frozenset(w.strip().lower() for w in lines if w.strip() and not w.lstrip().startswith("#"))
        if not words:
            raise InputError(path, expected, "no words in it")
        return words
    import stopwordsiso

    if kind == "auto":
        if language is None or not stopwordsiso.has_lang(language):
            logger.warning("report.stopwords is auto, but %s: the top list keeps every word",
                           "the corpora's language is not known here" if language is None
                           else f"there is no stopword list for '{language}'")
            return frozenset()
        value = language
    if not stopwordsiso.has_lang(value):
        raise InputError(None, f"a language with a stopword list for report.stopwords "
                               f"({', '.join(sorted(stopwordsiso.langs()))}), 'none' or a word-list path",
                         f"found '{value}'")
    return frozenset(w.lower() for w in stopwordsiso.stopwords(value))


def build_report(settings: "ReportSpec", slices: Mapping[int, Mapping[str, str | Path]], out_dir: str | Path,
                 progress: Progress = None, *, language: str | None = None, root: str | Path | None = None) -> dict:
    """The semantic change report over slices that share one space.

    ``slices``: ``{seed: {slice name: slice folder holding vectors.npy}}``, slices in
    order. Every seed gets a change table (``change.parquet`` holds them all, every word,
    with ``stopword`` marking the words :func:`report_stopwords` leaves out, and tokens
    without a letter); the first seed's gives the top changed words among the others
    (ranked by ``settings.rank_by``), the ``settings.neighbours`` nearest neighbours of the
    report's words (:func:`report_words`) in every slice, and the plots; the top lists of
    all seeds give their stability. ``language`` (the corpora's) and ``root`` (of
    relative word-list paths) serve :func:`report_stopwords`.
    """
    import polars as pl

    from ..vectors import load_vectors
    from .change import change_table, left_out_words, nearest_neighbours, stability_across_seeds, top_changed
    from .plots import plot_top_changed, plot_trajectory

    out_dir = Path(out_dir)
    if not slices:
        raise ValueError("build_report needs the slices of at least one seed")
    stopwords = report_stopwords(settings, language, root)
    min_letters = 1 if stopwords else 0  # with a stopword list, numbers and punctuation are left out too
    pairs = [tuple(p) for p in settings.pairs] if settings.pairs else None
    for folders in slices.values():  # a prepared corpus built before report.pairs was edited skips its check
        problem = report_pairs_problem(pairs, folders)
        if problem:
            raise SpecError(None, *problem)
    tables = []
    slices_first = None
    for i, (seed, folders) in enumerate(slices.items()):
        sources = {name: Path(folder) / "vectors.npy" for name, folder in folders.items()}
        vectors = {name: load_vectors(path) for name, path in sources.items()}
        table = change_table(vectors, pairs=pairs, min_freq=settings.min_freq, k=settings.k_neighbours,
                             sources=sources)
        table = table.with_columns(left_out_words(table["word"], stopwords, min_letters))
        tables.append(table.with_columns(pl.lit(seed).alias("seed")))
        if slices_first is None:
            slices_first = vectors
        if progress is not None:
            progress((i + 1) / (len(slices) + 1), f"change table seed {seed}")
    pl.concat(tables).write_parquet(out_dir / "change.parquet")
    main = tables[0].drop("seed")
    top = top_changed(main.drop("stopword"), n=settings.top_n, measure=settings.rank_by, stopwords=stopwords,
                      min_letters=min_letters)
    top.write_parquet(out_dir / "top_changed.parquet")
    top.write_csv(out_dir / "top_changed.csv")
    kept = [t.filter(~pl.col("stopword")).drop("seed") for t in tables]
    stability, mean_jaccard = stability_across_seeds(kept, n=settings.top_n, measure=settings.rank_by)
    stability.write_parquet(out_dir / "stability.parquet")
    stability.write_csv(out_dir / "stability.csv")
    plots = out_dir / "plots"
    plots.mkdir()
    plot_top_changed(kept[0], plots / "top_changed.png", n=settings.top_n, measure=settings.rank_by)
    neighbour_frames = []
    for w in report_words(settings, top):
        if not any(w in kv.key_to_index for kv in slices_first.values()):
            logger.warning("word '%s' is in no slice; skipped", w)
            continue
        neighbour_frames.append(nearest_neighbours(slices_first, w, k=settings.neighbours)
                                .with_columns(pl.lit(w).alias("word")))
        plot_trajectory(slices_first, w, plots / f"trajectory_{_safe(w)}.png")
    if neighbour_frames:
        pl.concat(neighbour_frames).write_parquet(out_dir / "neighbours.parquet")
    metrics = {"n_words": int(main["word"].n_unique()),
               "n_pairs": int(main.select(["slice_a", "slice_b"]).unique().height),
               "n_seeds": len(slices), "top_n_mean_jaccard_across_seeds": mean_jaccard}
    write_json(out_dir / "metrics.json", metrics)
    return metrics


# --------------------------------------------------------------------------------------------- gold


@dataclass(frozen=True)
class GoldInputs:
    """Where a gold stage finds things: the project (relative paths), the corpus root (generated
    benchmarks), the download cache (gold by URL), and the spec file (for messages)."""

    project: Path
    corpora: Path
    downloads: Path
    spec_file: Path


def _gold_source(settings: "GoldSettings", inputs: GoldInputs, scratch: Path, progress: Progress
                 ) -> tuple[Path, Path | None]:
    """The folder holding the gold data (the given folder, an unpacked archive, or a generated benchmark), and the
    downloaded archive when the gold came by URL."""
    from ..archives import ARCHIVES, unpack_archive

    if settings.generate is not None:
        from .benchmark import BenchmarkTooSmall, make_change_benchmark

        g = settings.generate
        folders = [inputs.corpora / c for c in g.corpora]
        for f in folders:
            if not (f / "corpus.yaml").is_file():
                raise InputError(f, "a corpus folder for gold.generate.corpora (run `python -m pipeline "
                                 "import-corpora`)", "no corpus.yaml there")
        if progress is not None:
            progress(0.05, "generating the benchmark")
        try:
            return make_change_benchmark(folders[0], scratch / "benchmark",
                                         corpus2=folders[1] if len(folders) == 2 else None, design=g.design,
                                         n_targets=g.n_targets, max_rate=g.max_rate,
                                         bands=[tuple(b) for b in g.bands], donor_band=tuple(g.donor_band),
                                         n_stable=g.n_stable, binary_threshold=g.binary_threshold, seed=g.seed,
                                         slices=settings.slices, source=f"corpora {', '.join(g.corpora)}"), None
        except BenchmarkTooSmall as exc:
            raise SpecError(inputs.spec_file, f"gold.generate.{exc.key}: settings the text of "
                            f"{', '.join(str(f) for f in folders)} can meet", str(exc)) from None
    if settings.url is not None:
        from ..download import cached_download

        if progress is not None:
            progress(0.02, f"downloading {settings.url}")
        archive = cached_download(settings.url, inputs.downloads, sha256=settings.sha256)
        return unpack_archive(archive, scratch / "unpacked"), archive
    path = Path(settings.path).expanduser()
    path = path if path.is_absolute() else inputs.project / path
    if path.is_file() and path.name.endswith(ARCHIVES):
        if settings.sha256:
            from ..identity import file_sha256

            found = file_sha256(path)
            if found != settings.sha256:
                raise InputError(path, f"an archive with sha256 {settings.sha256} (gold.sha256)", f"sha256 {found}")
        return unpack_archive(path, scratch / "unpacked"), None
    if not path.is_dir():
        raise InputError(path, f"gold change data (gold.path in {inputs.spec_file}): a folder in the SemEval-2020 "
                         f"Task 1 layout or an archive ({', '.join(ARCHIVES)})", "no such folder or archive")
    return path, None


def _copy_corpus(files, dest: Path, kind: str, name: str, language: str, licence: str, source: str) -> None:
    """The gold's files of one corpus as a corpus folder: ``<dest>/<kind>/*`` (the SemEval layout) + corpus.yaml."""
    import yaml

    (dest / kind).mkdir(parents=True)
    for i, f in enumerate(files):
        shutil.copyfile(f, dest / kind / f"{i:03d}-{Path(f).name}")
    decl = {"name": name, "language": language, "licence": licence or "not declared (see the gold data's source)",
            "source": source, "files": [f"{kind}/*.txt", f"{kind}/*.gz"]}
    (dest / "corpus.yaml").write_text(yaml.safe_dump(decl, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _check_gold_slices(settings: "GoldSettings", gold, folder: Path, corpora_from: Path | None,
                       spec_file: Path) -> None:
    """Refuse gold whose corpora or judged pairs are not the ``settings.slices`` time periods the spec declares.

    A DWUG table's groupings are checked against its corpora by :meth:`.gold.GoldSet.with_corpora`, and against
    ``gold.slices`` here, naming the table (its corpora are those of ``corpora_from``, named when they are what
    differs); a SemEval folder's ``truth/<i>_<j>/`` are pairs of its own corpora (:func:`.gold.read_semeval`),
    so its number of corpora says it all.
    """
    def index(corpus: str) -> int:
        return int(corpus[len("corpus"):])

    if corpora_from is not None:
        beyond = sorted({c for pair in gold.pairs for c in pair if index(c) > settings.slices}, key=index)
        if beyond:
            groupings = [f"{index(a)}_{index(b)}" for a, b in gold.pairs if a in beyond or b in beyond]
            last = max(index(c) for c in beyond)
            raise InputError(gold.files.get("graded", gold.root or folder),
                             f"groupings of the {settings.slices} time periods gold.slices declares in {spec_file} "
                             f"(corpus1 ... corpus{settings.slices})",
                             f"grouping{'s' if len(groupings) > 1 else ''} {', '.join(groupings)} judge"
                             f"{'' if len(groupings) > 1 else 's'} {', '.join(beyond)}: set gold.slices: {last} to "
                             "score every pair the table judges, or keep only the rows of grouping 1_2 in the table")
    if settings.slices != len(gold.slices):
        raise InputError(corpora_from or gold.root or folder, f"gold with {settings.slices} corpora (gold.slices)",
                         f"{len(gold.slices)}: {', '.join(gold.slices)}")


def build_gold(settings: "GoldSettings", inputs: GoldInputs, out_dir: str | Path, progress: Progress = None) -> dict:
    """Gold change data, read and checked, in one layout: ``corpus1/`` and ``corpus2/`` (corpus folders with a
    ``corpus.yaml``, the ``settings.kind`` files), ``targets.txt``, ``truth/graded.txt``, ``truth/binary.txt``
    and ``targets.parquet`` (each target's corpus form and counts in every corpus); with ``settings.slices``
    > 2 also ``corpus3/``, ... and ``truth/<i>_<j>/`` for every further pair the gold judges.

    Bad gold (see :mod:`.gold`), targets absent from both corpora, or an archive whose sha256 does not match
    raise :class:`InputError` naming the file, before anything is kept.
    """
    import polars as pl

    from .gold import corpus_form, read_dwug, read_gold, read_semeval, target_counts
    from .spec import GOLD_CORPORA

    out_dir = Path(out_dir)
    scratch = out_dir / "_scratch"  # an unpacked archive or a generated benchmark; inside the stage's own
    scratch.mkdir()                 # temporary folder, so a killed run leaves nothing beside the stages
    try:
        folder, archive = _gold_source(settings, inputs, scratch, progress)
        packed = settings.url or (settings.path if scratch in folder.parents else None)
        try:
            if settings.layout == "dwug":
                corpora_from = Path(settings.corpora_from).expanduser()
                corpora_from = corpora_from if corpora_from.is_absolute() else inputs.project / corpora_from
                gold = read_dwug(folder).with_corpora(read_semeval(corpora_from))
            else:
                corpora_from = None
                gold = read_gold(folder)
                if gold.layout == "dwug":  # a change table alone: the stage would have no corpora to copy
                    raise InputError(gold.files.get("graded", folder),
                                     "gold.layout: dwug with gold.corpora_from, the SemEval-2020 Task 1 folder of "
                                     "the same language (a DWUG release holds only the change table, no corpora)",
                                     "a DWUG release read with gold.layout: semeval")
            _check_gold_slices(settings, gold, folder, corpora_from, inputs.spec_file)
        except InputError as exc:
            if packed is None or exc.path is None or not exc.path.startswith(str(folder)):
                raise
            member = Path(exc.path).relative_to(folder)  # name the archive, not the scratch folder it was unpacked to
            raise InputError(f"{packed} (member {member})", exc.expected, exc.found) from None
        if archive is not None:
            from ..identity import file_sha256

            found = settings.sha256 or file_sha256(archive)  # a pinned download was checked against its sha256
            if not settings.sha256:
                logger.warning("%s: an unpinned download (sha256 %s); pin it with gold.sha256: '%s' in %s",
                               settings.url, found, found, inputs.spec_file)
            write_json(out_dir / "source.json", {"url": settings.url, "sha256": found,
                                                 "pinned": bool(settings.sha256)})
        if settings.kind not in gold.kinds:
            raise InputError(gold.root or folder, f"{settings.kind} files in both corpus1/ and corpus2/ "
                             "(gold.kind)", f"this gold set has {', '.join(gold.kinds) or 'none'}")
        if progress is not None:
            progress(0.3, "counting the targets in both corpora")
        counts = target_counts(gold, settings.kind)  # refuses targets absent from both corpora
        source = settings.url or (f"generated from corpora {', '.join(settings.generate.corpora)}"
                                  if settings.generate is not None else str(settings.path))
        for corpus in gold.slices:
            _copy_corpus(gold.corpus_files(corpus, settings.kind), out_dir / corpus, settings.kind, corpus,
                         settings.language,
                         settings.licence, f"{source} ({corpus}/{settings.kind})")
        for extra in ("README.md", "design.json"):
            if (folder / extra).is_file():
                shutil.copyfile(folder / extra, out_dir / extra)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (out_dir / "truth").mkdir()
    (out_dir / "targets.txt").write_text("".join(f"{t}\n" for t in gold.targets), encoding="utf-8")
    (out_dir / "truth" / "graded.txt").write_text("".join(f"{t}\t{gold.graded[t]!r}\n" for t in gold.targets),
                                                  encoding="utf-8")
    (out_dir / "truth" / "binary.txt").write_text("".join(f"{t}\t{int(gold.binary[t])}\n" for t in gold.targets),
                                                  encoding="utf-8")
    for (a, b), (graded, binary) in gold.pair_truth.items():  # more time periods: truth/<i>_<j>/
        if (a, b) == GOLD_CORPORA:
            continue
        sub = out_dir / "truth" / f"{a[len('corpus'):]}_{b[len('corpus'):]}"
        sub.mkdir()
        (sub / "graded.txt").write_text("".join(f"{t}\t{graded[t]!r}\n" for t in gold.targets), encoding="utf-8")
        (sub / "binary.txt").write_text("".join(f"{t}\t{int(binary[t])}\n" for t in gold.targets), encoding="utf-8")
    columns = {"target": list(gold.targets), "form": [corpus_form(t, settings.kind) for t in gold.targets]}
    for i, corpus in enumerate(gold.slices):
        columns[f"count_{corpus}"] = [counts[t][i] for t in gold.targets]
    columns.update({"graded": [float(gold.graded[t]) for t in gold.targets],
                    "binary": [int(gold.binary[t]) for t in gold.targets]})
    pl.DataFrame(columns).write_parquet(out_dir / "targets.parquet")
    metrics = {"gold_targets": len(gold.targets), "gold_changed": int(sum(gold.binary.values()))}
    for i, corpus in enumerate(gold.slices):
        metrics[f"gold_absent-{corpus}"] = sum(1 for c in counts.values() if c[i] == 0)
    if len(gold.pairs) > 1:
        metrics["gold_pairs"] = len(gold.pairs)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def build_change_evaluation(settings: "ChangeEvaluationSettings", gold_dir: str | Path,
                            reports: Mapping[str, str | Path], out_dir: str | Path, *, kind: str,
                            progress: Progress = None) -> dict:
    """Every method's change report scored against the gold stage's data (:mod:`.evaluate`).

    ``reports``: ``{method: report folder holding change.parquet}``. Writes ``evaluation.json`` (``{"recommended":
    NAME, "methods": {NAME: ...}}``), ``scores.parquet`` (per seed), ``trajectories.parquet``, ``summary.md``,
    ``plots/graded_spearman.png`` and ``metrics.json``.
    """
    from .evaluate import score_reports, write_evaluation
    from .gold import read_semeval

    gold = read_semeval(gold_dir)
    evaluation, per_seed, trajectories = score_reports(
        settings, gold, {m: Path(f) / "change.parquet" for m, f in reports.items()}, kind=kind, progress=progress)
    return write_evaluation(evaluation, per_seed, trajectories, Path(out_dir), gold.name)
