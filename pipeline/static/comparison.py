"""The comparison study's two stage functions, beside the read-outs: its corpus, and the table of every set.

``build_comparison_corpus(spec, corpus_dirs, out_dir)`` tokenises the corpora into one ``tokens.txt`` (one
sentence per line, the spec's tokenizer) with ``documents.npy`` (where each document begins) and writes the
shared evaluation vocabulary ``vocabulary.txt``
(``word count``, most frequent first: the words seen ``vocabulary.min_count`` times, at most
``vocabulary.max_words``). ``build_comparison(spec, folders, corpus_dir, out_dir)`` loads every set (each
read-out's ``<method>.L<i>.npy``, each trained set's ``<kind>.npy``), evaluates them on the same words
(:func:`.compare.compare_vector_sets`: analogies with accuracy and MRR, SimLex-999 and WordSim-353 with
coverage, the extrinsic task) and writes ``comparison.parquet``, ``comparison.md``, ``comparison.png`` and
``metrics.json`` with one entry per set. No luigi here.
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

import numpy as np

from ..errors import InputError
from ..identity import write_json

if TYPE_CHECKING:
    from .spec import StaticSpec

__all__ = ["build_comparison_corpus", "build_comparison", "load_sets", "seed_means", "DOCUMENTS_FILE"]

#: beside ``tokens.txt``: the line (from 0) where each document (a corpus file, a ``.jsonl`` record) begins,
#: int64; X2Static's paragraphs do not run across one
DOCUMENTS_FILE = "documents.npy"

Progress = Optional[Callable[[float, str], None]]

_READOUT_FILE = re.compile(r"^(isolation|aggregate|x2static)\.L[0-9]+$")
_SEED_FILE = re.compile(r"^[a-z0-9_]+\.s[0-9]+$")
_SEED_SET = re.compile(r"^(.+)\.s([0-9]+)$")


def build_comparison_corpus(spec: "StaticSpec", corpus_dirs: Mapping[str, str | Path], out_dir: str | Path, *,
                            spec_file: str | Path | None = None, progress: Progress = None) -> dict:
    """``tokens.txt`` and ``vocabulary.txt`` from the spec's corpora (one language); returns the metrics."""
    from ..corpora import Slicing, Tokenizer, load_declaration, prepare_slices

    out_dir = Path(out_dir)
    decls = [load_declaration(Path(d)) for d in corpus_dirs.values()]
    langs = sorted({d.language for d in decls})
    if len(langs) != 1:
        raise InputError(spec_file, "corpora of one language for a static-vector comparison",
                         f"they declare {', '.join(langs)}")
    scratch = out_dir / "_tokens"
    scratch.mkdir()
    per_slice: dict[str, list[int]] = {}
    files = prepare_slices(decls, Slicing(by="corpus"), Tokenizer(langs[0], spec.tokenizer.settings()), scratch,
                           progress=progress, document_starts=per_slice)
    counts: Counter = Counter()
    sentences = 0
    starts: list[int] = []  # tokens.txt's line of each document's first sentence
    with open(out_dir / "tokens.txt", "w", encoding="utf-8") as out:
        for name, f in files.items():
            firsts, pending = set(per_slice.get(name, ())), False
            with open(f, encoding="utf-8") as fh:
                for k, line in enumerate(fh):
                    pending = pending or k in firsts
                    tokens = line.split()
                    if tokens:
                        if pending:
                            starts.append(sentences)
                            pending = False
                        counts.update(tokens)
                        sentences += 1
                        out.write(" ".join(tokens) + "\n")
    shutil.rmtree(scratch)
    np.save(out_dir / DOCUMENTS_FILE, np.asarray(starts, dtype=np.int64))
    v = spec.vocabulary
    words = [(w, c) for w, c in counts.most_common() if c >= v.min_count][: v.max_words]
    if not words:
        raise InputError(spec_file, f"corpora with words seen vocabulary.min_count={v.min_count} times",
                         f"none in {', '.join(str(d.root) for d in decls)}")
    (out_dir / "vocabulary.txt").write_text("".join(f"{w} {c}\n" for w, c in words), encoding="utf-8")
    metrics = {"language": langs[0], "sentences": sentences, "tokens": sum(counts.values()),
               "types": len(counts), "vocabulary_n": len(words)}
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def load_sets(folders: Mapping[str, str | Path]) -> dict:
    """``{set name: KeyedVectors}``: ``readout:<method>`` folders give every ``<method>.L<i>`` set they hold
    (``specialized:<method>`` folders the same, named ``specialized.<method>.L<i>``), ``trained:<kind>``
    folders their ``<kind>`` set (read from ``.npy``, never a pickle)."""
    from ..vectors import load_vectors

    sets = {}
    for key, folder in folders.items():
        folder = Path(folder)
        role, _, name = key.partition(":")
        if role in ("readout", "specialized"):
            found = sorted(p for p in folder.glob("*.npy") if _READOUT_FILE.match(p.stem))
            if not found:
                raise InputError(folder, f"{name}.L<i>.npy read-outs (a static stage folder)", "none there")
            for p in found:
                sets[p.stem if role == "readout" else f"specialized.{p.stem}"] = load_vectors(p)
        else:
            per_seed = sorted((p for p in folder.glob(f"{name}.s*.npy") if _SEED_FILE.match(p.stem)),
                              key=lambda p: int(_SEED_SET.match(p.stem).group(2)))
            if per_seed:  # one set per seed: <kind>.s<seed>, folded into mean and spread by build_comparison
                for p in per_seed:
                    sets[p.stem] = load_vectors(p)
            else:
                sets[name] = load_vectors(folder / f"{name}.npy")
    return sets


def seed_means(table: "pl.DataFrame") -> "pl.DataFrame":
    """Rows named ``<set>.s<seed>`` folded into one row ``<set>`` per set: each metric's mean over the seeds,
    ``seeds`` (how many) and :func:`.compare.sd_name` (``<metric>_sd``: sample standard deviation) for the
    headline metrics; a whole number every seed shares (a count) stays one; other rows are kept as they are
    (``seeds`` 1), in the order of their first row."""
    import polars as pl

    from .compare import SCORE_COLUMNS, sd_name

    names = table["set"].to_list()
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        m = _SEED_SET.match(name)
        groups.setdefault(m.group(1) if m else name, []).append(i)
    metric_cols = [c for c in table.columns if c not in ("set", "vocabulary")]
    spread = [c for c in metric_cols if c in SCORE_COLUMNS or (c.startswith("bli_") and "_precision_at_1-" in c)
              or (c.startswith("extrinsic_") and c.endswith(("_accuracy", "_span_f1")))]
    rows = []
    for name, idx in groups.items():
        part = table[idx]
        row = {"set": name, "vocabulary": part["vocabulary"][0], "seeds": len(idx)}
        for c in metric_cols:
            values = [v for v in part[c].to_list() if v is not None]
            if len(values) < len(idx) or not all(isinstance(v, (int, float)) for v in values):
                row[c] = part[c][0] if len(idx) == 1 else None
            elif all(isinstance(v, int) for v in values) and len(set(values)) == 1:
                row[c] = values[0]  # a count every seed shares (questions answered, pairs scored) stays a count
            else:
                row[c] = sum(values) / len(values) if len(idx) > 1 else values[0]
        for c in spread:
            values = [v for v in part[c].to_list() if v is not None]
            if len(idx) > 1 and len(values) == len(idx):
                mean = sum(values) / len(values)
                row[sd_name(c)] = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            else:
                row[sd_name(c)] = None
        rows.append(row)
    columns = ["set", "vocabulary", "seeds", *metric_cols, *(sd_name(c) for c in spread)]
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], infer_schema_length=None)


def _corpus_language(corpus_dir: Path) -> str:
    import json

    path = corpus_dir / "metrics.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["language"])
    except (OSError, ValueError, KeyError) as e:
        raise InputError(path, "a static-corpus stage's metrics with its 'language'", str(e)) from e


def _file_task(e, out_dir: Path, downloads: str | Path | None):
    """The evaluator of a UPOS (CoNLL-U) or NER (CoNLL-2003) task read from files or URLs, one tagger per seed."""
    import logging

    from ..download import cached_download, is_url
    from ..identity import file_sha256
    from .tagger import ExtrinsicEvaluator, TaggerSettings, TaggingData, read_conll_ner, read_conllu

    read = read_conllu if e.task == "upos" else read_conll_ner
    splits, sources = {}, {}
    for split, (location, sha) in e.files().items():
        if is_url(location):
            if downloads is None:
                raise InputError(location, "a download folder for the extrinsic task's files by URL")
            path = cached_download(location, downloads, sha256=sha, progress=False)
            found = sha or file_sha256(path)
            if not sha:
                logging.getLogger("luigi-interface").warning(
                    "%s: an unpinned download (sha256 %s); pin it with extrinsic.%s_sha256: '%s'",
                    location, found, split, found)
            sources[split] = {"url": location, "sha256": found, "pinned": bool(sha)}
        else:
            path = Path(location)
        examples = read(path)
        if not examples:
            raise InputError(path, f"labelled sentences for the extrinsic {e.task} task's {split} split", "none")
        splits[split] = tuple(examples)
    if sources:
        write_json(out_dir / "extrinsic_sources.json", sources)
    data = TaggingData(e.task, splits["train"][: e.train_size], splits["dev"], splits["test"], spans=e.task == "ner")
    return _mean_over_seeds([ExtrinsicEvaluator(data, TaggerSettings(epochs=e.epochs, seed=seed)) for seed in e.seeds])


def _mean_over_seeds(evaluators):
    """One evaluator: each metric of ``evaluators`` averaged over them (one per seed)."""
    def evaluate(kv) -> dict:
        runs = [ev(kv) for ev in evaluators]
        return {k: (sum(r[k] for r in runs) / len(runs) if all(r[k] is not None for r in runs) else None)
                for k in runs[0]}
    return evaluate


def build_comparison(spec: "StaticSpec", folders: Mapping[str, str | Path], corpus_dir: str | Path,
                     out_dir: str | Path, *, verses: str | Path | None = None, counterpart: str | Path | None = None,
                     downloads: str | Path | None = None, progress: Progress = None) -> dict:
    """Every set on the shared vocabulary: the table, the plot and ``metrics.json`` (one entry per set).

    ``counterpart``: an ``aligned`` stage folder whose pivot is the comparison's language (the spec's
    ``bli:``): every set also gets BLI against its other language (:class:`.bli.CounterpartBli`).
    ``downloads``: where an extrinsic task's files by URL are cached (their URLs and sha256 are written to
    ``extrinsic_sources.json``).
    """
    from .compare import compare_vector_sets, write_comparison
    from .stages import read_vocabulary

    out_dir = Path(out_dir)
    sets = load_sets(folders)
    vocabulary = read_vocabulary(Path(corpus_dir) / "vocabulary.txt")
    tagging = None
    if spec.extrinsic is not None and spec.extrinsic.task != "verse_books":
        tagging = _file_task(spec.extrinsic, out_dir, downloads)
    elif spec.extrinsic is not None and verses is not None:
        from .tagger import ExtrinsicEvaluator, TaggerSettings, TaggingData, read_verse_books, split_examples

        e = spec.extrinsic
        examples = read_verse_books(verses)
        evaluators = []
        for seed in e.seeds:  # each seed: its own split of the verses and its own tagger initialisation
            train, dev, test = split_examples(examples, seed=seed)
            evaluators.append(ExtrinsicEvaluator(
                TaggingData("versebook", tuple(train[: e.train_size]), tuple(dev), tuple(test)),
                TaggerSettings(epochs=e.epochs, seed=seed, pool="max")))
        tagging = _mean_over_seeds(evaluators)
    bli = None
    if spec.bli is not None and counterpart is not None:
        from .bli import CounterpartBli, read_counterpart

        lang = _corpus_language(Path(corpus_dir))
        kv, train, test, other = read_counterpart(counterpart, lang, max_words=spec.bli.max_words)
        bli = CounterpartBli(kv, train, test, f"{lang}-{other}", ridge=spec.bli.ridge, csls_k=spec.bli.csls_k)
    if progress is not None:
        progress(0.1, f"evaluating {len(sets)} sets")
    by_seed = compare_vector_sets(sets, vocabulary=vocabulary, tagging=tagging, bli=bli)
    table = seed_means(by_seed)
    if len(by_seed) > len(table):  # the per-seed rows the means were made of
        by_seed.write_parquet(out_dir / "comparison_seeds.parquet")
    write_comparison(table, out_dir)
    per_set = {row["set"]: {k: v for k, v in row.items() if k not in ("set", "vocabulary")}
               for row in table.iter_rows(named=True)}
    metrics = {"vocabulary_n": int(table["vocabulary"][0]), "sets": per_set}
    write_json(out_dir / "metrics.json", metrics)
    return metrics
