"""The two multilingual stages as plain functions: settings + inputs + an output folder -> metrics.

No luigi here (:mod:`pipeline.dag.multilingual` only wires these to tasks).
Each ``build_*`` writes its files, ``metrics.json`` last, into ``out_dir`` (an
existing, empty folder) and returns the metrics.

* :func:`build_fasttext` writes one language's vectors: ``vectors.{vec,npy,vocab,kv}``
  and, when fastText trained them or a ``.bin`` was given, ``vectors.bin``
  (subword information); ``metrics.json`` (vocabulary, dimension, training
  time and tokens, and the intrinsic benchmarks for English);
* :func:`build_aligned` maps the source language's vectors into the pivot's
  space (Procrustes + CSLS refinement) and writes ``<src>.*`` and ``<pivot>.*``
  vector sets (and their ``.bin`` where the fastText stage has one),
  ``mapping.<src>-<pivot>.npy``, ``mapping.<pivot>-<pivot>.npy`` (the pivot's own
  preprocessing), the train and test dictionaries and ``metrics.json`` (coverage
  and BLI on the test dictionary).

::

    spec = load_multilingual_spec("tasks/multilingual/es.yaml")
    inputs = FastTextInputs(corpora=Path("corpora"), downloads=Path("downloads"))
    build_fasttext(spec, inputs, Path("out/fasttext-en"), role="pivot")
    build_fasttext(spec, inputs, Path("out/fasttext-es"), role="source")
    build_aligned(spec, AlignmentInputs(pivot=Path("out/fasttext-en"), source=Path("out/fasttext-es")),
                  Path("out/aligned"))
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import InputError
from ..identity import write_json
from .spec import MultilingualSpec

__all__ = ["FastTextInputs", "AlignmentInputs", "build_fasttext", "build_aligned"]

Progress = Optional[Callable[[float, str], None]]

ROLES = ("pivot", "source")


def _report(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def _copy(src: Path, dst: Path) -> None:
    # a copy, never a hard link: a file changed under one stage must not silently change another
    shutil.copyfile(src, dst)


# --------------------------------------------------------------------------------------------- fastText


@dataclass(frozen=True)
class FastTextInputs:
    """What the fastText stage reads besides the files its settings name."""

    corpora: Path                     # the corpus root: the language's corpora are folders under it
    downloads: Path                   # pretrained vectors given by URL are fetched here (a cut download resumes)
    spec_file: Optional[Path] = None  # the spec, named in error messages


def _is_kv_url(location: str) -> bool:
    return location.split("?")[0].endswith((".kv", ".kv.gz"))


def build_fasttext(settings: MultilingualSpec, inputs: FastTextInputs, out_dir: Path, *, role: str,
                   threads: int = 0, progress: Progress = None) -> dict:
    """The vectors of the spec's ``role`` language (``pivot`` or ``source``): trained, or pretrained ones read.

    Pretrained vectors by URL are downloaded into ``inputs.downloads`` and never
    unpickled (a ``.kv`` URL is refused); a ``.kv`` is read from the user's own
    local path only. ``threads``: fastText's worker threads (0: the settings'
    own). Writes the stage folder ``out_dir``; returns its metrics.
    """
    from ..download import is_url
    from ..vectors import load_vectors, save_vectors
    from .fasttext_train import load_pretrained_vectors, train_fasttext

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; found {role!r}")
    s = settings
    ls = s.pivot if role == "pivot" else s.source
    out_dir = Path(out_dir)
    if ls.vectors and is_url(ls.vectors) and _is_kv_url(ls.vectors):
        raise InputError(inputs.spec_file, f"pretrained vectors for '{ls.lang}' by URL as .bin, .vec or .vec.gz",
                         f"{ls.vectors} is a gensim .kv, a pickle, which runs code when loaded")
    metrics: dict = {"lang": ls.lang}
    if ls.vectors:
        src = Path(ls.vectors)
        if is_url(ls.vectors):
            from ..download import cached_download, gunzip_cached

            _report(progress, 0.0, f"downloading {ls.vectors}")
            src = gunzip_cached(cached_download(ls.vectors, inputs.downloads, sha256=ls.vectors_sha256),
                                sha256=ls.vectors_sha256)
        # a .kv (a pickle) only from the user's own local path; a download is never unpickled
        kv = load_pretrained_vectors(src, allow_pickle=not is_url(ls.vectors))
        if src.name.endswith(".bin"):
            _copy(src, out_dir / "vectors.bin")
        save_vectors(kv, out_dir / "vectors")
    else:
        from ..corpora import Slicing, Tokenizer, load_declaration, prepare_slices

        decls = [load_declaration(Path(inputs.corpora) / name) for name in ls.corpora]
        wrong = [d.name for d in decls if d.language != ls.lang]
        if wrong:
            raise InputError(inputs.spec_file, f"corpora in language '{ls.lang}'",
                             f"{', '.join(wrong)} declare another language")
        tokens = out_dir / "_tokens"
        tokens.mkdir()
        tokenizer = Tokenizer(ls.lang, s.tokenizer.settings())
        files = prepare_slices(decls, Slicing(by="corpus"), tokenizer, tokens,
                               progress=lambda f, m: _report(progress, 0.2 * f, m))
        fasttext = s.fasttext.settings(threads=threads) if threads else s.fasttext.settings()
        _report(progress, 0.2, f"fastText {ls.lang}: training")
        t0 = time.time()
        train_fasttext(list(files.values()), out_dir / "vectors", fasttext, sources=[d.root for d in decls])
        metrics["train_seconds"] = round(time.time() - t0, 2)
        metrics["train_tokens"] = sum(len(line.split()) for f in files.values() for line in open(f, encoding="utf-8"))
        shutil.rmtree(tokens)
        kv = load_vectors(out_dir / "vectors.npy")
    metrics["vocab_size"] = len(kv)
    metrics["dim"] = kv.vector_size
    if ls.lang == "en":
        from ..evaluation import evaluate_vectors

        metrics.update(evaluate_vectors(kv))
    write_json(out_dir / "metrics.json", metrics)
    return metrics


# --------------------------------------------------------------------------------------------- alignment


@dataclass(frozen=True)
class AlignmentInputs:
    """The two fastText stage folders (see :func:`build_fasttext`) that the alignment maps into one space."""

    pivot: Path                       # the pivot language's fastText stage folder
    source: Path                      # the source language's fastText stage folder
    spec_file: Optional[Path] = None  # the spec, named in error messages


def build_aligned(settings: MultilingualSpec, inputs: AlignmentInputs, out_dir: Path, *,
                  progress: Progress = None) -> dict:
    """The source language's vectors mapped into the pivot's space, with BLI on a held-out dictionary.

    Without ``settings.dictionary.path`` the map starts from identical strings
    and no BLI is measured. Raises :class:`InputError` for vectors of two
    dimensions or a dictionary none of whose pairs both vocabularies know.
    Writes the stage folder ``out_dir``; returns its metrics.
    """
    from ..evaluators import BliEvaluator
    from ..vectors import load_vectors, make_keyed_vectors, save_vectors
    from .dictionaries import load_dictionary
    from .mapping import Alignment, align_vectors, save_mapping

    s = settings
    out_dir = Path(out_dir)
    src, piv = s.source.lang, s.pivot.lang
    where = str(inputs.spec_file) if inputs.spec_file is not None else None
    # never vectors.kv: a pickle from the (possibly shared) output root would run code here
    kv_p = load_vectors(Path(inputs.pivot) / "vectors.npy")
    kv_s = load_vectors(Path(inputs.source) / "vectors.npy")
    if kv_p.vector_size != kv_s.vector_size:
        raise InputError(where, f"vectors of one dimension for '{src}' and '{piv}'",
                         f"found {kv_s.vector_size} and {kv_p.vector_size}")
    metrics: dict = {"source_lang": src, "pivot_lang": piv, "source_vocab": len(kv_s), "pivot_vocab": len(kv_p)}
    train = test = None
    if s.dictionary.path:
        d = load_dictionary(s.dictionary.path, lowercase=s.dictionary.lowercase)
        if s.dictionary.direction == "pivot-source":
            d = d.swapped()
        kept, coverage = d.restrict(kv_s.key_to_index, kv_p.key_to_index)
        metrics.update(coverage.as_metrics())
        if len(kept) == 0:
            raise InputError(s.dictionary.path, f"dictionary pairs with both words in the {src} and {piv} "
                             "vocabularies", f"none of {len(d)} pairs are usable")
        size = s.dictionary.test_size  # the spec reads every number as a float: 0.0 and 75.0 are counts
        train, test = kept.split(test_size=int(size) if float(size).is_integer() else size, seed=s.dictionary.seed)
        metrics.update({"dictionary_train_pairs": len(train), "dictionary_test_pairs": len(test)})
    _report(progress, 0.1, f"aligning {src} -> {piv}")
    t0 = time.time()
    alignment = align_vectors(kv_s, kv_p, train.pairs if train is not None else None, s.mapping.settings(),
                              where=where)
    metrics["mapping_seconds"] = round(time.time() - t0, 2)
    metrics["mapping_steps"] = len(alignment.history)
    mapped_s = make_keyed_vectors(kv_s.index_to_key, alignment.map(kv_s.vectors), kv_s.expandos.get("count"))
    mapped_p = make_keyed_vectors(kv_p.index_to_key, alignment.map_target(kv_p.vectors), kv_p.expandos.get("count"))
    if test is not None and len(test):  # BLI of the vectors published, on the test dictionary published
        metrics.update(BliEvaluator(test.pairs, f"{src}-{piv}", csls_k=s.mapping.csls_k)((mapped_s, mapped_p)))
    save_mapping(alignment, out_dir / f"mapping.{src}-{piv}.npy")
    save_vectors(mapped_s, out_dir / src)
    save_vectors(mapped_p, out_dir / piv)
    save_mapping(Alignment.identity(kv_p.vector_size, alignment.target), out_dir / f"mapping.{piv}-{piv}.npy")
    for lang, folder in ((src, inputs.source), (piv, inputs.pivot)):
        native = Path(folder) / "vectors.bin"
        if native.exists():
            _copy(native, out_dir / f"{lang}.bin")
    if train is not None:
        train.write(out_dir / f"dictionary.{src}-{piv}.train.txt")
        test.write(out_dir / f"dictionary.{src}-{piv}.test.txt")
    write_json(out_dir / "metrics.json", metrics)
    return metrics
