"""fastText vectors per language: training from token files, and reading pretrained ones.

fastText (Bojanowski et al. 2017, "Enriching word vectors with subword
information") represents a word as the sum of its character n-gram vectors
(``minn`` to ``maxn`` characters, with ``<`` and ``>`` marking the word's
edges), so the native ``.bin`` model gives a vector for any word, seen or not.
The package used is ``fasttext-numpy2`` (the original ``fasttext`` wheels
break on NumPy 2); it imports as ``fasttext``.

:func:`train_fasttext` writes the ``.bin`` model and the word vectors in the
project's vector formats (``.vec`` word2vec text, ``.kv`` gensim, ``.vocab``
counts; most frequent word first; fastText's end-of-sentence token ``</s>``
left out)::

    paths = train_fasttext(["slices/en.txt"], "out/en", FastTextSettings(dim=100, threads=2))
    kv = load_pretrained_vectors(paths.vec)          # or paths.bin
    model = load_fasttext_model(paths.bin)
    model.get_word_vector("unseenword")              # subword vector of an OOV word

Training is reproducible for a given ``seed`` with ``threads=1`` only
(fastText's threads race on shared parameters, as word2vec's do).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from pipeline.errors import InputError
from .settings import MODELS, FastTextSettings  # a light module: specs read it without fastText

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = [
    "FastTextSettings",
    "FastTextPaths",
    "train_fasttext",
    "load_fasttext_model",
    "fasttext_keyed_vectors",
    "load_pretrained_vectors",
]

EOS = "</s>"


@dataclass(frozen=True)
class FastTextPaths:
    """What :func:`train_fasttext` wrote: the native model and the word vectors."""

    bin: Path
    vec: Path
    kv: Path
    vocab: Path

    def as_dict(self) -> dict[str, Path]:
        return dataclasses.asdict(self)


def _check_token_files(token_files: Sequence[str | Path], sources: str | None = None) -> list[Path]:
    files = [Path(p) for p in ([token_files] if isinstance(token_files, (str, Path)) else token_files)]
    if not files and sources:
        raise InputError(sources, "text with at least one token after tokenisation", "none")
    if not files:
        raise ValueError("train_fasttext needs at least one token file")
    for p in files:
        if not p.is_file():
            raise InputError(p, "a token file (one sentence per line, tokens separated by spaces)", "no such file")
    return files


def train_fasttext(token_files: Sequence[str | Path] | str | Path, out_base: str | Path,
                   settings: FastTextSettings = FastTextSettings(), *,
                   sources: Sequence[str | Path] | None = None) -> FastTextPaths:
    """Train fastText on token files and write ``<out_base>.bin`` and ``.vec`` / ``.kv`` / ``.vocab``.

    ``token_files``: one or more files of one sentence per line, tokens
    separated by spaces (as :func:`pipeline.corpora.prepare_slices` writes);
    several are read as one text, in order. Raises :class:`InputError` naming
    the files when no word reaches ``min_count`` -- or naming ``sources``,
    what the token files were made from (e.g. the corpus folders a stage
    tokenised into its temporary folder), so that the user reads which
    corpus is too small rather than a temporary path; with ``sources`` an
    empty ``token_files`` (nothing left after tokenisation) is such an error too.
    """
    import numpy as np

    from pipeline.vectors import save_vectors

    source_names = ", ".join(str(p) for p in sources) if sources else None
    files = _check_token_files(token_files, source_names)
    base = Path(out_base)
    base.parent.mkdir(parents=True, exist_ok=True)
    tmp_input = None
    try:
        if len(files) == 1:
            train_path = files[0]
        else:  # fastText reads one file (several times): concatenate beside the output
            fd, name = tempfile.mkstemp(prefix=f".{base.name}.", suffix=".input.txt", dir=base.parent)
            tmp_input = Path(name)
            with os.fdopen(fd, "wb") as out:
                for p in files:
                    with open(p, "rb") as f:
                        shutil.copyfileobj(f, out)
                    if p.stat().st_size and not _ends_with_newline(p):
                        out.write(b"\n")
            train_path = tmp_input
        log.info("fastText %s: training on %s", settings.model, ", ".join(str(p) for p in files))
        bin_path = base.with_name(base.name + ".bin")
        try:
            _train_unsupervised(train_path, bin_path, settings)
        except RuntimeError as exc:
            where = source_names or ", ".join(str(p) for p in files)
            if "empty vocabulary" in str(exc).lower():
                raise InputError(where, f"{'tokenised ' if source_names else ''}text with words seen at least "
                                 f"min_count={settings.min_count} times", "no such word") from None
            raise RuntimeError(f"fastText training on {where} failed: {exc}"
                               + (" (training diverged: a lower lr helps)" if "NaN" in str(exc) else "")) from exc
    finally:
        if tmp_input is not None:
            tmp_input.unlink(missing_ok=True)

    try:  # a refused model is removed: no .bin is left without its vectors
        kv = fasttext_keyed_vectors(load_fasttext_model(bin_path))
        if len(kv) == 0:  # only fastText's end-of-line token reached min_count: lines, but no word
            where = source_names or ", ".join(str(p) for p in files)
            raise InputError(where, f"{'tokenised ' if source_names else ''}text with words seen at least "
                             f"min_count={settings.min_count} times", "no word, only empty lines")
        if not np.isfinite(kv.vectors).all() or np.abs(kv.vectors).max() > 1e3:
            raise RuntimeError(f"fastText wrote implausible vectors to {bin_path} (non-finite or huge values)")
    except BaseException:
        bin_path.unlink(missing_ok=True)
        raise
    if len(kv) < settings.dim:  # valid vectors, but fewer words than dimensions: the space is mostly unconstrained
        log.warning("fastText on %s: a vocabulary of %d words (min_count=%d) for %d dimensions; the vectors are "
                    "weak, a larger corpus or a smaller dim helps", source_names or ", ".join(str(p) for p in files),
                    len(kv), settings.min_count, settings.dim)
    paths = save_vectors(kv, base)
    return FastTextPaths(bin=bin_path, vec=paths["vec"], kv=paths["kv"], vocab=paths["vocab"])


# fastText is run in a child interpreter. fasttext-numpy2 0.10.4 leaves the input matrix uninitialised
# where upstream fastText zero-fills it (upstream draws random values for only `thread`/10 of the rows'
# values and keeps zeros elsewhere): reused heap memory then gives NaN errors or garbage vectors, seen
# on the second training in one process, and in a fresh process too where the matrix reuses memory freed
# while the dictionary was read (an 8-word corpus at dim 6: a third of the runs had rows holding the old
# dictionary entries). The child zero-fills every allocation (fresh mmap pages above 4 KiB, M_PERTURB for
# reused heap memory), and training matches upstream: the rows it does not draw or train are exactly zero.
# The child also passes the seed on, which the package's `train_unsupervised` refuses although the trainer
# has one. The child dies with its parent
# (PR_SET_PDEATHSIG, else a watchdog thread): a worker killed with SIGKILL leaves no trainer behind.
_CHILD = r"""
import ctypes, json, os, signal, sys, threading, time
spec = json.loads(sys.argv[1])

def watch_parent(parent):  # where prctl is missing: poll for the parent's death
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)

# die with the parent: a killed luigi worker must not leave a trainer holding cores and memory
try:
    if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0:  # 1 = PR_SET_PDEATHSIG (Linux)
        raise OSError(ctypes.get_errno(), "prctl")
except (OSError, AttributeError):
    threading.Thread(target=watch_parent, args=(spec["parent"],), daemon=True).start()
if os.getppid() != spec["parent"]:  # the parent died before the death signal was armed
    sys.exit(1)
try:  # every allocation zero-filled, whether it comes from fresh mmap pages or reused heap memory
    libc = ctypes.CDLL(None)
    libc.mallopt(-3, 4096)  # M_MMAP_THRESHOLD: allocations >= 4 KiB that need new memory get fresh (zero) pages
    libc.mallopt(-6, 0xFF)  # M_PERTURB: every other allocation is filled with ~0xFF = 0 (mallopt(3))
except (OSError, AttributeError):
    pass
import fasttext_pybind
from fasttext import FastText as ft
given = spec["args"]
a = ft._build_args({**ft.unsupervised_default, **given}, set(given))
model = ft._FastText(args=a)
try:
    fasttext_pybind.train(model.f, a)
except Exception as exc:
    sys.stderr.write("FASTTEXT-ERROR: %s\n" % exc)
    sys.exit(3)
model.save_model(spec["output"])
"""


def _train_unsupervised(path: Path, bin_path: Path, settings: FastTextSettings) -> None:
    """Train in a child interpreter (see ``_CHILD``) and save the native model to ``bin_path``."""
    import subprocess
    import sys

    spec = {"args": {"input": str(path), **settings.fasttext_args()}, "output": str(bin_path), "parent": os.getpid()}
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}  # it would fill the pages again
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()
        error = next((m.split(":", 1)[1].strip() for m in message if m.startswith("FASTTEXT-ERROR:")),
                     "\n".join(message[-5:]) or f"exit status {proc.returncode}")
        raise RuntimeError(error)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def load_fasttext_model(path: str | Path):
    """Load a native fastText ``.bin`` model (trained here or a public ``cc.xx.300.bin``)."""
    import fasttext

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a fastText .bin model", "no such file")
    try:
        return fasttext.load_model(str(path))
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise InputError(path, "a fastText .bin model", str(exc)) from exc


def fasttext_keyed_vectors(model, max_vocab: int | None = None) -> "KeyedVectors":
    """The in-vocabulary word vectors of a fastText model, most frequent first, with counts (no ``</s>``)."""
    import numpy as np

    from pipeline.vectors import make_keyed_vectors

    words, freqs = model.get_words(include_freq=True)
    keep = [i for i, w in enumerate(words) if w != EOS]
    if max_vocab is not None:
        keep = keep[:max_vocab]
    words = [words[i] for i in keep]
    counts = np.asarray(freqs, dtype=np.int64)[keep]
    vectors = np.empty((len(words), model.get_dimension()), dtype=np.float32)
    for row, w in enumerate(words):
        vectors[row] = model.get_word_vector(w)
    return make_keyed_vectors(words, vectors, counts)


def load_pretrained_vectors(path: str | Path, max_vocab: int | None = None, *,
                            allow_pickle: bool = False) -> "KeyedVectors":
    """Word vectors from a fastText ``.bin`` or a ``.vec`` / ``.vec.gz`` / ``.npy`` (or ``.kv``) file.

    ``max_vocab`` keeps the first (most frequent) words only, as MUSE's
    ``max_vocab`` (200,000) does, without reading the rest of a text file.
    Malformed files raise :class:`InputError` naming the file and line. A
    gensim ``.kv`` is a pickle (it runs code when loaded) and is refused unless
    ``allow_pickle=True``, for a local file you trust (see
    :func:`pipeline.vectors.load_vectors`).
    """
    from pipeline.vectors import load_vectors, make_keyed_vectors

    path = Path(path)
    if path.name.endswith(".bin"):
        return fasttext_keyed_vectors(load_fasttext_model(path), max_vocab)
    if max_vocab is None or path.name.endswith((".kv", ".npy")):
        kv = load_vectors(path, allow_pickle=allow_pickle)
        if max_vocab is not None and max_vocab < len(kv.index_to_key):
            counts = kv.expandos["count"][:max_vocab] if "count" in kv.expandos else None
            kv = make_keyed_vectors(kv.index_to_key[:max_vocab], kv.vectors[:max_vocab], counts)
        return kv
    return _read_vec_head(path, max_vocab)


def _read_vec_head(path: Path, max_vocab: int) -> "KeyedVectors":
    import gzip

    import numpy as np

    from pipeline.vectors import make_keyed_vectors

    if not path.is_file():
        raise InputError(path, "an existing vector file", "no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    keys: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    try:
        with opener(path, "rt", encoding="utf-8", newline="\n") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header) or int(header[1]) == 0:
                raise InputError(path, "a word2vec header '<word count> <dimension>' on line 1",
                                 f"found {' '.join(header)[:80]!r}")
            dim = int(header[1])
            for line_no, line in enumerate(f, start=2):
                if len(keys) >= max_vocab:
                    break
                fields = line.rstrip().split(" ")
                if fields == [""]:
                    continue
                if len(fields) != dim + 1:
                    raise InputError(path, f"a word and {dim} values on line {line_no} (dimension from the header)",
                                     f"found {len(fields) - 1} values")
                if fields[0] in seen:
                    continue  # fastText's .vec may repeat a word after normalisation; keep the first
                try:
                    rows.append(np.asarray(fields[1:], dtype=np.float32))
                except ValueError as exc:
                    raise InputError(path, f"numbers after the word on line {line_no}", str(exc)) from exc
                seen.add(fields[0])
                keys.append(fields[0])
    except UnicodeDecodeError as exc:
        raise InputError(path, "UTF-8 text", str(exc)) from exc
    except (OSError, EOFError) as exc:
        raise InputError(path, "a readable vector file", str(exc)) from exc
    if not keys:
        raise InputError(path, "at least one vector", "none")
    return make_keyed_vectors(keys, np.stack(rows))
