"""The comparison study's two stage functions, beside the read-outs: its corpus, and the table of every set.

``build_comparison_corpus(spec, corpus_dirs, out_dir)`` tokenises the corpora into one ``tokens.txt`` (one
sentence per line, the spec's tokenizer) and writes the shared evaluation vocabulary ``vocabulary.txt``
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

from ..errors import InputError
from ..identity import write_json

if TYPE_CHECKING:
    from .spec import StaticSpec

__all__ = ["build_comparison_corpus", "build_comparison", "load_sets"]

Progress = Optional[Callable[[float, str], None]]

_READOUT_FILE = re.compile(r"^(isolation|aggregate|x2static)\.L[0-9]+$")


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
    files = prepare_slices(decls, Slicing(by="corpus"), Tokenizer(langs[0], spec.tokenizer.settings()), scratch,
                           progress=progress)
    counts: Counter = Counter()
    sentences = 0
    with open(out_dir / "tokens.txt", "w", encoding="utf-8") as out:
        for f in files.values():
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    tokens = line.split()
                    if tokens:
                        counts.update(tokens)
                        sentences += 1
                        out.write(" ".join(tokens) + "\n")
    shutil.rmtree(scratch)
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
    """``{set name: KeyedVectors}``: ``readout:<method>`` folders give every ``<method>.L<i>`` set they hold,
    ``trained:<kind>`` folders their ``<kind>`` set (read from ``.npy``, never a pickle)."""
    from ..vectors import load_vectors

    sets = {}
    for key, folder in folders.items():
        folder = Path(folder)
        role, _, name = key.partition(":")
        if role == "readout":
            found = sorted(p for p in folder.glob("*.npy") if _READOUT_FILE.match(p.stem))
            if not found:
                raise InputError(folder, f"{name}.L<i>.npy read-outs (a static stage folder)", "none there")
            for p in found:
                sets[p.stem] = load_vectors(p)
        else:
            sets[name] = load_vectors(folder / f"{name}.npy")
    return sets


def _mean_over_seeds(evaluators):
    """One evaluator: each metric of ``evaluators`` averaged over them (one per seed)."""
    def evaluate(kv) -> dict:
        runs = [ev(kv) for ev in evaluators]
        return {k: (sum(r[k] for r in runs) / len(runs) if all(r[k] is not None for r in runs) else None)
                for k in runs[0]}
    return evaluate


def build_comparison(spec: "StaticSpec", folders: Mapping[str, str | Path], corpus_dir: str | Path,
                     out_dir: str | Path, *, verses: str | Path | None = None, progress: Progress = None) -> dict:
    """Every set on the shared vocabulary: the table, the plot and ``metrics.json`` (one entry per set)."""
    from .compare import compare_vector_sets, write_comparison
    from .stages import read_vocabulary

    out_dir = Path(out_dir)
    sets = load_sets(folders)
    vocabulary = read_vocabulary(Path(corpus_dir) / "vocabulary.txt")
    tagging = None
    if spec.extrinsic is not None and verses is not None:
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
    if progress is not None:
        progress(0.1, f"evaluating {len(sets)} sets")
    table = compare_vector_sets(sets, vocabulary=vocabulary, tagging=tagging)
    write_comparison(table, out_dir)
    per_set = {row["set"]: {k: v for k, v in row.items() if k not in ("set", "vocabulary")}
               for row in table.iter_rows(named=True)}
    metrics = {"vocabulary_n": int(table["vocabulary"][0]), "sets": per_set}
    write_json(out_dir / "metrics.json", metrics)
    return metrics
