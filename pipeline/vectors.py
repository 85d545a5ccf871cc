"""Reading and writing static word vectors (the output contract for every vector set).

Every vector set is written in these forms:

* ``X.vec`` -- word2vec text format: a header line ``<count> <dim>``, then one
  line per word, ``word v1 v2 ...``. gensim ``KeyedVectors.load_word2vec_format``
  and fastText read it. Keys cannot contain whitespace in this format, so
  multiword keys ("new york") are written with ``_`` ("new_york").
* ``X.npy`` -- the exact float32 matrix (NumPy ``.npy``, no pickle), with its keys
  in ``X.vocab`` (``word count`` per line, gensim's ``fvocab`` format) when the
  vectors carry counts (gensim vecattr ``"count"``), else in ``X.keys`` (one key
  per line). This is the fast binary form the pipeline itself reads.
* ``X.kv`` -- gensim's own ``KeyedVectors.save``, kept for users who load it with
  ``KeyedVectors.load``. It is a pickle, which runs code when loaded, so the
  pipeline never reads one: :func:`load_vectors` refuses it unless told
  ``allow_pickle=True`` for a file you wrote yourself.

:func:`load_vectors` also picks ``X.vocab`` up beside ``X.vec``.

>>> import tempfile, numpy as np
>>> kv = make_keyed_vectors(["new york", "city"], np.eye(2, dtype=np.float32), counts=[7, 3])
>>> d = tempfile.mkdtemp()
>>> paths = save_vectors(kv, f"{d}/demo")
>>> sorted(paths)
['kv', 'npy', 'vec', 'vocab']
>>> back = load_vectors(paths["vec"])
>>> back.index_to_key, int(back.get_vecattr("new_york", "count"))
(['new_york', 'city'], 7)
>>> exact = load_vectors(paths["npy"])
>>> exact.index_to_key, int(exact.get_vecattr("city", "count")), exact.vectors.dtype.name
(['new_york', 'city'], 3, 'float32')
>>> try:
...     load_vectors(paths["kv"])
... except InputError as exc:
...     print("refused:", "pickle" in str(exc))
refused: True
>>> load_vectors(paths["kv"], allow_pickle=True).index_to_key
['new_york', 'city']
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from pipeline.errors import InputError, bad_utf8

if TYPE_CHECKING:  # gensim is heavy; import it where it is used
    from gensim.models import KeyedVectors

_WHITESPACE = re.compile(r"\s+")

__all__ = ["save_vectors", "load_vectors", "read_matrix", "make_keyed_vectors", "file_key", "has_counts"]


def file_key(key: str) -> str:
    """The key as written to a ``.vec`` file: every run of whitespace becomes ``_``.

    >>> file_key("New York City")
    'New_York_City'
    """
    return _WHITESPACE.sub("_", str(key).strip())


def has_counts(kv: "KeyedVectors") -> bool:
    """Whether the vectors carry per-word counts (gensim vecattr ``"count"``)."""
    return "count" in getattr(kv, "expandos", {})


def make_keyed_vectors(
    keys: Sequence[str], vectors: np.ndarray, counts: Iterable[int] | None = None
) -> "KeyedVectors":
    """Build a gensim ``KeyedVectors`` from keys, a ``(len(keys), dim)`` matrix and optional counts."""
    from gensim.models import KeyedVectors

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    keys = [str(k) for k in keys]
    if vectors.ndim != 2 or vectors.shape[0] != len(keys):
        raise ValueError(f"need a ({len(keys)}, dim) matrix, got shape {vectors.shape}")
    kv = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)
    kv.index_to_key = list(keys)
    kv.key_to_index = {k: i for i, k in enumerate(keys)}
    if len(kv.key_to_index) != len(keys):
        raise ValueError("duplicate keys")
    kv.vectors = vectors
    if counts is not None:
        counts = np.asarray(list(counts), dtype=np.int64)
        if counts.shape != (len(keys),):
            raise ValueError(f"need {len(keys)} counts, got {counts.shape}")
        kv.expandos["count"] = counts
    return kv


def _with_file_keys(kv: "KeyedVectors", where: Path) -> "KeyedVectors":
    """The same vectors with whitespace in keys replaced by ``_`` (a copy only if needed)."""
    keys = [file_key(k) for k in kv.index_to_key]
    if keys == list(kv.index_to_key):
        return kv
    seen: dict[str, str] = {}
    for original, key in zip(kv.index_to_key, keys):
        if key in seen:
            raise InputError(
                where,
                "keys that stay distinct when spaces become '_'",
                f"{seen[key]!r} and {original!r} both become {key!r}",
            )
        seen[key] = original
    counts = kv.expandos["count"] if has_counts(kv) else None
    return make_keyed_vectors(keys, kv.vectors, counts)


MAX_DIM = 100_000  # a larger dimension in a header is a corrupt or hostile file, not vectors
_GZIP_MAX_RATIO = 1100  # deflate expands at most ~1032x: a bound on a .gz file's text size


def save_vectors(kv: "KeyedVectors", path_without_suffix: str | Path, precision: int = 7) -> dict[str, Path]:
    """Write ``X.vec`` (word2vec text), ``X.npy`` with ``X.vocab`` or ``X.keys``, and ``X.kv`` (gensim).

    Word order is kept as in ``kv`` (frequency order for gensim-trained vectors).
    Every form holds the same keys (whitespace replaced by ``_``). ``precision`` is
    the number of significant digits in the text form (7 is below float32
    round-off for typical embedding values; the ``.npy`` and ``.kv`` forms are exact).
    ``X.vocab`` (``word count``) is written when the vectors carry counts, else
    ``X.keys`` (one key per line) names the rows of ``X.npy``.

    Returns the written paths: ``{"vec", "npy", "vocab" or "keys", "kv", "kv_npy"?}``.
    """
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    vec_path = base.with_name(base.name + ".vec")
    npy_path = base.with_name(base.name + ".npy")
    kv_path = base.with_name(base.name + ".kv")
    vocab_path = base.with_name(base.name + ".vocab")
    keys_path = base.with_name(base.name + ".keys")
    out_kv = _with_file_keys(kv, vec_path)

    vectors = np.ascontiguousarray(out_kv.vectors, dtype=np.float32)
    fmt = f"{{:.{precision}g}}"
    with open(vec_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"{vectors.shape[0]} {vectors.shape[1]}\n")
        for key, row in zip(out_kv.index_to_key, vectors):
            f.write(key + " " + " ".join(map(fmt.format, row.tolist())) + "\n")
    np.save(npy_path, vectors, allow_pickle=False)
    paths = {"vec": vec_path, "npy": npy_path, "kv": kv_path}

    # one key file names the rows of X.npy; a stale one of the other kind would be read instead
    if has_counts(out_kv):
        keys_path.unlink(missing_ok=True)
        counts = out_kv.expandos["count"]
        with open(vocab_path, "w", encoding="utf-8", newline="\n") as f:
            for key, count in zip(out_kv.index_to_key, counts.tolist()):
                f.write(f"{key} {int(count)}\n")
        paths["vocab"] = vocab_path
    else:
        vocab_path.unlink(missing_ok=True)
        with open(keys_path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(key + "\n" for key in out_kv.index_to_key)
        paths["keys"] = keys_path

    for stale in kv_path.parent.glob(kv_path.name + ".*.npy"):
        stale.unlink()
    out_kv.lifecycle_events = None  # gensim would pickle the save's date and host: the same vectors, another file
    out_kv.save(str(kv_path))
    sidecars = sorted(kv_path.parent.glob(kv_path.name + ".*.npy"))
    for i, sidecar in enumerate(sidecars):
        paths["kv_npy" if i == 0 else f"kv_npy{i}"] = sidecar
    return paths


def load_vectors(path: str | Path, *, allow_pickle: bool = False) -> "KeyedVectors":
    """Load ``.npy`` (with its ``.vocab`` / ``.keys``), ``.vec`` / ``.vec.gz`` / ``.txt`` (word2vec text) vectors.

    None of these formats can run code, so they are safe to read from a shared
    output root or a download. A ``.vec`` file is checked line by line, and its
    header against the file's size before any memory is set aside; a malformed
    file raises :class:`~pipeline.errors.InputError` naming the file and line.
    Counts come from ``X.vocab`` beside ``X.vec`` / ``X.npy`` when there is one.

    A gensim ``.kv`` is a pickle: loading one runs whatever code it names. It is
    refused unless ``allow_pickle=True``, which is for a local file you made
    yourself, never for anything another machine or person could have written.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "an existing vector file", "no such file")
    name = path.name
    if name.endswith(".kv"):
        if not allow_pickle:
            raise InputError(path, "vectors in a format that cannot run code (.npy with its .vocab or .keys, "
                             ".vec, .vec.gz, .txt)", "a gensim .kv file is a pickle, which runs code when loaded; "
                             "read the .npy or .vec beside it (or pass allow_pickle=True for a file you made)")
        return _load_kv(path)
    if name.endswith(".npy"):
        return _check_not_empty(path, _read_npy_vectors(path))
    if name.endswith(".vec") or name.endswith(".vec.gz") or name.endswith(".txt"):
        kv = _check_not_empty(path, _read_text_vectors(path))
        stem = name[: -len(".gz")] if name.endswith(".gz") else name
        vocab_path = path.with_name(stem.rsplit(".", 1)[0] + ".vocab")
        if vocab_path.exists():
            kv.expandos["count"] = _read_counts(vocab_path, kv)
        return kv
    raise InputError(path, "a vector file ending in .npy, .vec, .vec.gz, .txt (or .kv)", f"suffix of {name!r}")


def _check_not_empty(path: Path, kv: "KeyedVectors") -> "KeyedVectors":
    """A vector set of no words (or of dimension 0) is a failed export, not vectors: refuse it by name."""
    if len(kv.index_to_key) == 0 or kv.vector_size == 0:
        raise InputError(path, "at least one vector of dimension at least 1",
                         f"{len(kv.index_to_key)} vectors of dimension {kv.vector_size}")
    return kv


def _load_kv(path: Path) -> "KeyedVectors":
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load(str(path))
    except Exception as exc:  # unpickling errors come in many types
        raise InputError(path, "a gensim KeyedVectors file", f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(kv, KeyedVectors):
        raise InputError(path, "a gensim KeyedVectors file", f"a {type(kv).__name__} object")
    return kv


def read_matrix(path: str | Path, what: str = "a float32 matrix") -> np.ndarray:
    """A 2-d float32 ``.npy`` array, read without pickle; its size is checked against the file's first.

    Raises :class:`~pipeline.errors.InputError` naming the file for anything else
    (an object array, another dtype or shape, a truncated file, nan or inf).
    """
    path = Path(path)
    try:
        # a memory map checks the header's shape against the file's size before anything is read
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, what, "no such file") from None
    except (ValueError, OSError, EOFError) as exc:  # object arrays, bad headers, short files
        raise InputError(path, f"{what} (.npy without pickled objects)", f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(mapped, np.ndarray) or mapped.dtype != np.float32 or mapped.ndim != 2:
        raise InputError(path, what, f"an array of dtype {getattr(mapped, 'dtype', '?')} and shape "
                         f"{getattr(mapped, 'shape', '?')}")
    matrix = np.array(mapped, dtype=np.float32, order="C")
    del mapped
    if not np.isfinite(matrix).all():
        bad = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise InputError(path, f"finite numbers in row {bad}", "found nan or inf")
    return matrix


def _read_npy_vectors(path: Path) -> "KeyedVectors":
    base = path.with_name(path.name[: -len(".npy")])
    vocab_path = base.with_name(base.name + ".vocab")
    keys_path = base.with_name(base.name + ".keys")
    if vocab_path.is_file():
        keys, counts = _read_vocab_file(vocab_path)
    elif keys_path.is_file():
        keys, counts = _read_keys_file(keys_path), None
    else:
        raise InputError(path, f"its keys beside it in {vocab_path.name} or {keys_path.name}", "neither exists")
    matrix = read_matrix(path, "a (words, dimension) float32 matrix")
    if matrix.shape[0] != len(keys):
        raise InputError(path, f"one row per key of {(vocab_path if counts is not None else keys_path).name} "
                         f"({len(keys)})", f"found {matrix.shape[0]} rows")
    return make_keyed_vectors(keys, matrix, counts)


def _read_key_lines(path: Path):
    try:
        with open(path, encoding="utf-8", newline="\n") as f:
            yield from enumerate(f, start=1)
    except UnicodeDecodeError:
        raise InputError(path, "UTF-8 text", bad_utf8(path)) from None
    except OSError as exc:
        raise InputError(path, "a readable key file", str(exc)) from exc


def _read_keys_file(path: Path) -> list[str]:
    keys: list[str] = []
    seen: dict[str, int] = {}
    for line_no, line in _read_key_lines(path):
        key = line.rstrip("\n")
        if not key or _WHITESPACE.search(key):
            raise InputError(path, f"one key without whitespace on line {line_no}", f"found {key[:80]!r}")
        if key in seen:
            raise InputError(path, f"each key once; line {line_no}", f"{key!r} already on line {seen[key]}")
        seen[key] = line_no
        keys.append(key)
    return keys


def _read_vocab_file(path: Path) -> tuple[list[str], np.ndarray]:
    keys: list[str] = []
    counts: list[int] = []
    seen: dict[str, int] = {}
    for line_no, line in _read_key_lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise InputError(path, f"'word count' on line {line_no}", f"found {line.strip()[:80]!r}")
        if fields[0] in seen:
            raise InputError(path, f"each word once; line {line_no}", f"{fields[0]!r} already on line "
                             f"{seen[fields[0]]}")
        seen[fields[0]] = line_no
        keys.append(fields[0])
        counts.append(int(fields[1]))
    return keys, np.asarray(counts, dtype=np.int64)


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _check_header_size(path: Path, n_words: int, dim: int, header_bytes: int) -> None:
    """Refuse a header announcing more than the file can hold, before its matrix is allocated."""
    if dim > MAX_DIM:
        raise InputError(path, f"a dimension of at most {MAX_DIM} in the header on line 1", f"found {dim}")
    size = path.stat().st_size
    # a row is a key, then ``dim`` values each of at least one digit after a space
    room = max(size - header_bytes, 0) * (_GZIP_MAX_RATIO if path.name.endswith(".gz") else 1)
    if n_words * 2 * dim > room:
        raise InputError(path, f"{n_words} vectors of dimension {dim}, as the header on line 1 says, to fit in "
                         f"the file ({size} bytes)", f"it can hold at most {room // (2 * dim)} such rows")


def _read_text_vectors(path: Path) -> "KeyedVectors":
    line_no = 0
    try:
        with _open_text(path) as f:
            header = f.readline()
            line_no = 1
            parts = header.split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[1]) == 0:
                raise InputError(
                    path, "a word2vec header '<word count> <dimension>' on line 1", f"found {header.strip()[:80]!r}"
                )
            n_words, dim = int(parts[0]), int(parts[1])
            _check_header_size(path, n_words, dim, len(header.encode("utf-8")))
            vectors = np.empty((n_words, dim), dtype=np.float32)
            keys: list[str] = []
            key_to_index: dict[str, int] = {}
            for line_no, line in enumerate(f, start=2):
                line = line.rstrip()
                if not line:
                    continue
                fields = line.split(" ")
                if len(fields) != dim + 1:
                    raise InputError(
                        path,
                        f"a word and {dim} values on line {line_no} (dimension from the header)",
                        f"found {len(fields) - 1} values",
                    )
                if len(keys) == n_words:
                    raise InputError(path, f"{n_words} vectors as the header says", f"more, from line {line_no}")
                key = fields[0]
                if key in key_to_index:
                    raise InputError(
                        path, f"each word once; line {line_no}", f"{key!r} already on line {key_to_index[key] + 2}"
                    )
                try:
                    vectors[len(keys)] = np.array(fields[1:], dtype=np.float32)
                except ValueError as exc:
                    raise InputError(path, f"numbers after the word on line {line_no}", str(exc)) from exc
                key_to_index[key] = len(keys)
                keys.append(key)
    except UnicodeDecodeError:
        raise InputError(path, "UTF-8 text", bad_utf8(path, gz=path.name.endswith(".gz"))) from None
    except (OSError, EOFError) as exc:
        raise InputError(path, "a readable vector file", str(exc)) from exc
    if len(keys) != n_words:
        raise InputError(path, f"{n_words} vectors as the header says", f"found {len(keys)}")
    if not np.isfinite(vectors).all():
        bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise InputError(path, f"finite numbers on line {bad + 2}", "found nan or inf")
    return make_keyed_vectors(keys, vectors)


def _read_counts(vocab_path: Path, kv: "KeyedVectors") -> np.ndarray:
    counts = np.zeros(len(kv.index_to_key), dtype=np.int64)
    seen = np.zeros(len(kv.index_to_key), dtype=bool)
    with open(vocab_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise InputError(vocab_path, f"'word count' on line {line_no}", f"found {line.strip()[:80]!r}")
            index = kv.key_to_index.get(fields[0])
            if index is None:
                raise InputError(vocab_path, f"only words of the .vec file; line {line_no}", f"{fields[0]!r}")
            counts[index] = int(fields[1])
            seen[index] = True
    if not seen.all():
        missing = kv.index_to_key[int(np.flatnonzero(~seen)[0])]
        raise InputError(vocab_path, "a count for every word of the .vec file", f"none for {missing!r}")
    return counts


def check_finite(array, what: str, where=None) -> None:
    """Refuse NaN or infinity in the rows of ``array`` (a mean, a product or a cosine over them spreads NaN
    silently): :class:`InputError` at ``where`` naming how many rows and the first."""
    a = np.asarray(array)
    if a.size == 0 or np.isfinite(a.sum(dtype=np.float64)):  # NaN and infinity survive a sum: no mask unless needed
        return
    bad = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
    if bad.size:  # (a sum of finite values can overflow to infinity)
        raise InputError(where, f"finite {what}", f"{bad.size} rows hold nan or inf, the first row {int(bad[0])}")
