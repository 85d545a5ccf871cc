"""Streaming corpus reading, slice preparation and corpus fingerprints.

Everything here streams: files are read line by line, documents are yielded
one at a time and slice files are written as they come, so memory stays
bounded by the largest line (and, in :mod:`.stats`, by the vocabulary), not
by the corpus.

* :func:`list_files` - the files a declaration selects, sorted.
* :func:`iter_documents` / :class:`Documents` - the documents of a corpus
  (one per ``.jsonl`` record; a text file yields its text in chunks of whole
  lines, at most about 1 MB each - line ends are sentence ends anyway).
* :func:`prepare_slices` - tokenised slice files, one sentence per line.
* :class:`LineCorpus` - a restartable iterable of token lists over such a file (gensim's
  ``LineSentence`` rules; the one reader of token files).
* :func:`fingerprint_corpus` - a content hash of a corpus folder.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from ..errors import InputError, read_utf8
from ..identity import file_sha256
from .declaration import DECLARATION_FILE, CorpusDeclaration, load_declaration
from .tokenize import Tokenizer

__all__ = [
    "Document",
    "Documents",
    "LineCorpus",
    "ConcatCorpus",
    "Slicing",
    "fingerprint_corpus",
    "iter_documents",
    "list_files",
    "prepare_slices",
    "period_name",
    "MAX_SENTENCE_TOKENS",
]

logger = logging.getLogger(__name__)

#: Text files are yielded in chunks of whole lines of about this many characters.
CHUNK_CHARS = 1 << 20
#: Sentences longer than this are wrapped onto several lines (gensim's word2vec
#: silently truncates longer ones).
MAX_SENTENCE_TOKENS = 10000

_YEAR_RE = re.compile(r"^\s*(-?\d{1,4})(?!\d)")


@dataclass(frozen=True)
class Document:
    """A piece of text with its source file, year (or None) and first line number in the file."""

    path: Path
    date: Optional[int]
    text: str
    line: int = 1


# ---------------------------------------------------------------------------
# file selection


def _is_jsonl(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".jsonl") or name.endswith(".jsonl.gz")


def list_files(decl: CorpusDeclaration) -> list[Path]:
    """The files the declaration's ``files`` globs select, sorted by relative path.

    Hidden files and folders, the declaration itself and the date table are
    never selected. Raises :class:`InputError` when nothing matches.
    """
    root = decl.root
    excluded = {DECLARATION_FILE}
    if decl.date is not None and decl.date.source == "table":
        excluded.add(Path(decl.date.table).as_posix())
    seen: dict[str, Path] = {}
    for pattern in decl.files:
        for p in root.glob(pattern):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or rel.as_posix() in excluded or not p.is_file():
                continue
            seen.setdefault(rel.as_posix(), p)
    if not seen:
        raise InputError(decl.path, f"files matching 'files: {', '.join(decl.files)}' in {root}",
                         "no file matches")
    return [seen[k] for k in sorted(seen)]


# ---------------------------------------------------------------------------
# low-level line reading with precise errors


def _open_binary(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, decoded strictly as UTF-8.

    Raises InputError for NUL bytes (binary data), invalid UTF-8 (with byte
    offset and line), and broken gzip data.
    """
    gz = path.name.lower().endswith(".gz")
    where = "decompressed byte" if gz else "byte"
    offset = 0
    lineno = 0
    try:
        with _open_binary(path) as f:
            for lineno, raw in enumerate(f, 1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                    offset = 3
                nul = raw.find(b"\0")
                if nul >= 0:
                    raise InputError(path, "a text file",
                                     f"found a NUL byte at {where} {offset + nul} (line {lineno}): a binary file?")
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad = raw[exc.start:exc.start + 4]
                    raise InputError(path, "UTF-8 text",
                                     f"invalid UTF-8 at {where} {offset + exc.start} (line {lineno}, "
                                     f"column {len(raw[:exc.start].decode('utf-8', 'replace')) + 1}): "
                                     f"bytes {bad.hex(' ')}") from None
                offset += len(raw)
                yield lineno, text
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        # every line read so far was whole: the data breaks off after them
        raise InputError(path, "gzip-compressed text", f"the gzip data is broken ({exc}) after line {lineno} "
                         f"({offset} decompressed bytes read); the file is cut short or damaged") from None


# ---------------------------------------------------------------------------
# dates


def _parse_year(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _YEAR_RE.match(value)
        if m:
            return int(m.group(1))
    if hasattr(value, "year"):  # datetime.date
        return int(value.year)
    return None


def _load_date_table(decl: CorpusDeclaration) -> dict[str, int]:
    path = decl.root / decl.date.table
    if not path.is_file():
        raise InputError(path, "a CSV date table with columns file,date (declared as date.table in corpus.yaml)",
                         "the file does not exist")
    text = read_utf8(path, "a UTF-8 CSV date table (columns file,date)")
    table: dict[str, int] = {}
    lines: dict[str, int] = {}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "file" not in reader.fieldnames or "date" not in reader.fieldnames:
        raise InputError(path, "a CSV header with columns file,date", f"found {reader.fieldnames}")
    for row in reader:
        year = _parse_year((row.get("date") or "").strip())
        if year is None:
            raise InputError(path, "a year or an ISO date (YYYY[-MM-DD]) in column 'date'",
                             f"found {row.get('date')!r} on line {reader.line_num}")
        name = (row.get("file") or "").strip()
        if not name:  # Path("") is "." and would date no file, without a word
            raise InputError(path, "a file name in column 'file'", f"line {reader.line_num} has none")
        key = Path(name).as_posix()
        if key in lines:  # else the last row would win without a word: which date is meant?
            raise InputError(path, "one row per file in the date table",
                             f"'{key}' on lines {lines[key]} and {reader.line_num}")
        lines[key] = reader.line_num
        table[key] = year
    return table


def _file_date(decl: CorpusDeclaration, path: Path, table: Optional[dict[str, int]]) -> Optional[int]:
    rule = decl.date
    if rule is None or rule.source == "field":
        return None
    if rule.source == "filename":
        m = re.search(rule.pattern, path.name)
        if not m or m.group(1) is None:
            raise InputError(path, f"a file name matching the date pattern {rule.pattern!r} of {decl.path}",
                             f"'{path.name}' does not match")
        year = _parse_year(m.group(1))
        if year is None:
            raise InputError(path, f"a year in group 1 of the date pattern {rule.pattern!r} of {decl.path}",
                             f"found {m.group(1)!r}")
        return year
    rel = path.relative_to(decl.root).as_posix()
    for key in (rel, path.name):
        if key in table:
            return table[key]
    raise InputError(path, f"a row for this file in the date table {decl.root / rule.table}",
                     f"no row with file '{rel}' or '{path.name}'")


# ---------------------------------------------------------------------------
# documents


def _iter_text_file(decl: CorpusDeclaration, path: Path, date: Optional[int]) -> Iterator[Document]:
    buf: list[str] = []
    size = 0
    start = 1
    any_text = False
    for lineno, line in _iter_lines(path):
        if not any_text and line.strip():
            any_text = True
        if not buf:
            start = lineno
        buf.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            yield Document(path, date, "".join(buf), start)
            buf, size = [], 0
    if not any_text:
        raise InputError(path, "a text file with some text", "the file is empty" if not buf and size == 0
                         else "the file holds only whitespace")
    if buf:
        yield Document(path, date, "".join(buf), start)


def _iter_jsonl_file(decl: CorpusDeclaration, path: Path, file_date: Optional[int]) -> Iterator[Document]:
    field = decl.text_field
    date_field = decl.date.field if decl.date is not None and decl.date.source == "field" else None
    records = 0
    for lineno, line in _iter_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, "one JSON object per line",
                             f"malformed JSON on line {lineno}, column {exc.colno}: {exc.msg}") from None
        if not isinstance(rec, dict):
            raise InputError(path, "one JSON object per line", f"found {type(rec).__name__} on line {lineno}")
        if field not in rec:
            raise InputError(path, f"a text field '{field}' in every record (text_field in {decl.path})",
                             f"line {lineno} has keys {', '.join(sorted(rec)) or 'none'}")
        text = rec[field]
        if not isinstance(text, str):
            raise InputError(path, f"a string in field '{field}'", f"found {type(text).__name__} on line {lineno}")
        date = file_date
        if date_field is not None:
            if date_field not in rec or rec[date_field] in (None, ""):
                raise InputError(path, f"a date field '{date_field}' in every record (date.field in {decl.path})",
                                 f"line {lineno} has no '{date_field}'")
            date = _parse_year(rec[date_field])
            if date is None:
                raise InputError(path, f"a year or an ISO date (YYYY[-MM-DD]) in field '{date_field}'",
                                 f"found {rec[date_field]!r} on line {lineno}")
        records += 1
        if text:
            yield Document(path, date, text, lineno)
    if records == 0:
        raise InputError(path, "a .jsonl file with at least one record", "the file is empty")


def iter_documents(decl: CorpusDeclaration) -> Iterator[Document]:
    """Stream the documents of a corpus, file by file in sorted order.

    ``.jsonl`` (optionally ``.jsonl.gz``) yields one Document per record;
    ``.txt``, ``.gz`` and any other selected file is UTF-8 text yielded in
    chunks of whole lines. Every problem raises :class:`InputError` naming
    the file: empty file, binary data (NUL bytes), invalid UTF-8 (byte offset
    and line), malformed JSON (line), missing text or date field, a file name
    the date pattern does not match, or no files at all.
    """
    files = list_files(decl)
    table = _load_date_table(decl) if decl.date is not None and decl.date.source == "table" else None
    for path in files:
        if _is_jsonl(path):
            yield from _iter_jsonl_file(decl, path, _file_date(decl, path, table))
        else:
            if decl.date is not None and decl.date.source == "field":
                raise InputError(path, f"a .jsonl file: {decl.path} takes dates from a record field",
                                 "found a plain text file")
            yield from _iter_text_file(decl, path, _file_date(decl, path, table))


class Documents:
    """Restartable iterable over the documents of one or more corpora."""

    def __init__(self, *decls: CorpusDeclaration):
        self.decls = decls

    def __iter__(self) -> Iterator[Document]:
        for decl in self.decls:
            yield from iter_documents(decl)


# ---------------------------------------------------------------------------
# slices


@dataclass(frozen=True)
class Slicing:
    """How documents group into slices.

    ``by="period"``: half-open periods ``[start + k*width, start + (k+1)*width)``
    named ``"1790-1839"``; ``width``/``start``/``end`` default to the
    declarations' ``slices:`` section (start defaults to 0, i.e. periods
    aligned on multiples of the width); documents before ``start`` or at/after
    ``end`` are left out. ``by="corpus"``: each corpus is one slice named
    after the corpus.
    """

    by: str = "period"
    width: Optional[int] = None
    start: Optional[int] = None
    end: Optional[int] = None

    def __post_init__(self):
        if self.by not in ("period", "corpus"):
            raise ValueError(f"Slicing.by must be 'period' or 'corpus'; found {self.by!r}")
        if self.width is not None and (isinstance(self.width, bool) or not isinstance(self.width, int)
                                       or self.width <= 0):
            raise ValueError(f"Slicing.width must be a positive integer; found {self.width!r}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"Slicing.end after Slicing.start (else every document falls outside the periods); "
                             f"found start {self.start}, end {self.end}")


def period_name(start: int, width: int) -> str:
    """``period_name(1790, 50) == "1790-1839"``."""
    return f"{start}-{start + width - 1}"


def _resolve_periods(decls: Sequence[CorpusDeclaration], slicing: Slicing) -> tuple[int, int, Optional[int]]:
    for d in decls:
        if d.date is None:
            raise InputError(d.path, "a 'date:' section (slicing by period needs dated documents)",
                             "the declaration has none")
    width, start, end = slicing.width, slicing.start, slicing.end
    for name in ("width", "start", "end"):
        if getattr(slicing, name) is not None:
            continue
        values = {(getattr(d.slices, name) if d.slices else None) for d in decls} - {None}
        if len(values) > 1:
            raise InputError(decls[0].path, f"the same slices.{name} in every declaration (or slicing.{name} "
                             "in the run spec)", f"found {sorted(values)} across {', '.join(d.name for d in decls)}")
        value = values.pop() if values else None
        if name == "width":
            width = value
        elif name == "start":
            start = value
        else:
            end = value
    if width is None:
        raise InputError(decls[0].path, "slices.width in the declaration or slicing.width in the run spec "
                         "(years per period)", "neither is set")
    return width, (start if start is not None else 0), end


class _SliceWriter:
    def __init__(self, out_dir: Path, name: str):
        self.path = out_dir / f"{name}.txt"
        self.tmp = out_dir / f".{name}.txt.partial"
        self.f = open(self.tmp, "w", encoding="utf-8", newline="\n")
        self.tokens = 0
        self.sentences = 0
        self.documents = 0
        self.starts: list[int] = []   # first line of each document (prepare_slices' document_starts)
        self.last_path: Optional[Path] = None

    def write(self, tokens: list[str]) -> None:
        for i in range(0, len(tokens), MAX_SENTENCE_TOKENS):
            self.f.write(" ".join(tokens[i:i + MAX_SENTENCE_TOKENS]))
            self.f.write("\n")
            self.sentences += 1
        self.tokens += len(tokens)


def prepare_slices(
    declarations: Sequence[CorpusDeclaration] | CorpusDeclaration,
    slicing: Slicing,
    tokenizer: Tokenizer,
    out_dir: str | Path,
    progress: Optional[Callable[[float, str], None]] = None,
    document_starts: Optional[dict[str, list[int]]] = None,
) -> dict[str, Path]:
    """Tokenise the corpora into slice files ``out_dir/<slice>.txt``.

    Each line of a slice file is one sentence, tokens separated by single
    spaces (what word2vec trainers stream; sentences over
    :data:`MAX_SENTENCE_TOKENS` tokens wrap onto further lines). Files are
    written as documents stream by (every slice file stays open; nothing is
    held in memory) under a temporary name and renamed when complete.
    Slices that get no tokens are skipped with a logged warning. Returns
    ``{slice name: path}`` ordered by period start (or by corpus order).

    ``progress(fraction, message)`` is called after each file, with the
    fraction of input bytes done.

    ``document_starts``, when given, is filled with ``{slice name: [line
    number (from 0) of each document's first line in the slice file]}``: a
    document is a text file (read in chunks, one document still) or a
    ``.jsonl`` record; one that gave no line is not listed.
    """
    decls = [declarations] if isinstance(declarations, CorpusDeclaration) else list(declarations)
    if not decls:
        raise ValueError("prepare_slices needs at least one corpus declaration")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if slicing.by == "corpus":
        names = [d.name for d in decls]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(decls[0].path, "each corpus once when slicing by corpus", f"found {sorted(dup)} twice")
        width = start = end = None
    else:
        width, start, end = _resolve_periods(decls, slicing)

    files_by_decl = [(d, list_files(d)) for d in decls]
    total_bytes = sum(p.stat().st_size for _, fs in files_by_decl for p in fs) or 1
    done_bytes = 0
    writers: dict[str, _SliceWriter] = {}
    seen_periods: set[int] = set()
    outside = 0
    ok = False
    try:
        for decl, files in files_by_decl:
            current: Optional[Path] = None
            for doc in iter_documents(decl):
                if doc.path != current:
                    if current is not None:
                        done_bytes += current.stat().st_size
                        if progress:
                            progress(done_bytes / total_bytes, f"{decl.name}: {current.name}")
                    current = doc.path
                if slicing.by == "corpus":
                    name = decl.name
                else:
                    if doc.date is None or doc.date < start or (end is not None and doc.date >= end):
                        outside += 1
                        continue
                    k = (doc.date - start) // width
                    seen_periods.add(k)
                    name = period_name(start + k * width, width)
                w = writers.get(name)
                if w is None:
                    w = writers[name] = _SliceWriter(out_dir, name)
                w.documents += 1
                if document_starts is not None and (doc.path != w.last_path or _is_jsonl(doc.path)):
                    w.last_path = doc.path
                    if not w.starts or w.starts[-1] != w.sentences:
                        w.starts.append(w.sentences)
                for sent in tokenizer.sentences(doc.text):
                    w.write(sent)
            if current is not None:
                done_bytes += current.stat().st_size
                if progress:
                    progress(done_bytes / total_bytes, f"{decl.name}: {current.name}")
        ok = True
    finally:
        for w in writers.values():
            w.f.close()
            if not ok:
                w.tmp.unlink(missing_ok=True)

    if outside:
        logger.warning("%d document(s) fall outside the periods (start %s, end %s) and were left out",
                       outside, start, end)
    # expected slices, in order
    if slicing.by == "corpus":
        expected = [d.name for d in decls]
    else:
        ks = sorted(seen_periods)
        lo = ks[0] if ks else 0
        hi = ks[-1] if ks else -1
        expected = [period_name(start + k * width, width) for k in range(lo, hi + 1)]
    result: dict[str, Path] = {}
    for name in expected:
        w = writers.get(name)
        if w is None or w.tokens == 0:
            logger.warning("slice %s has no text after tokenisation; skipped", name)
            if w is not None:
                w.tmp.unlink(missing_ok=True)
            continue
        os.replace(w.tmp, w.path)
        result[name] = w.path
        if document_starts is not None:
            document_starts[name] = [k for k in w.starts if k < w.sentences]
        logger.info("slice %s: %d documents, %d sentences, %d tokens", name, w.documents, w.sentences, w.tokens)
    return result


class LineCorpus:
    """Restartable iterable of token lists over a token file: one sentence per line (what
    :func:`prepare_slices` writes, and what every trainer here reads).

    The rules are gensim's ``LineSentence``'s, which the reference CADE reads its
    slices with: lines end at ``\\n``, tokens are separated by any whitespace, and a
    line without tokens (empty, or only whitespace) is skipped rather than given as
    an empty sentence (skipping one changes no vector: an empty sentence trains
    nothing and consumes no random draw, in gensim or in the CADE kernel). Long
    lines are not cut here (:func:`prepare_slices` wraps them). ``.gz`` files are
    read through gzip. Undecodable bytes, NUL bytes and broken gzip data raise
    :class:`InputError` naming the file and the line.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.txt"
    >>> _ = p.write_text("a b c\\n\\n  \\nd\\te  f\\r\\n")
    >>> list(LineCorpus(p))
    [['a', 'b', 'c'], ['d', 'e', 'f']]
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "a token file (one sentence per line)", "the file does not exist")

    def __iter__(self) -> Iterator[list[str]]:
        for _, line in _iter_lines(self.path):
            tokens = line.split()
            if tokens:
                yield tokens

    def __repr__(self) -> str:
        return f"LineCorpus({str(self.path)!r})"


class ConcatCorpus:
    """Restartable concatenation of restartable corpora (e.g. all slices, for a compass)."""

    def __init__(self, parts):
        self.parts = list(parts)

    def __iter__(self) -> Iterator[list[str]]:
        for part in self.parts:
            yield from part


# ---------------------------------------------------------------------------
# fingerprints


def fingerprint_corpus(corpus_dir: str | Path) -> str:
    """SHA-256 over the declaration's content and every selected file.

    Hashes the validated declaration (as canonical JSON, so comments and key
    order do not matter), the date table if one is declared, and the sorted
    ``(relative path, size, sha256 of content)`` of every file the
    declaration selects. It changes when a file is added, removed, renamed or
    edited, and does not depend on where the folder lives.
    """
    decl = load_declaration(corpus_dir)
    h = hashlib.sha256()
    h.update(b"corpus-fingerprint/1\n")
    h.update(json.dumps(decl.to_mapping(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    h.update(b"\n")
    extra: list[Path] = []
    if decl.date is not None and decl.date.source == "table":
        table = decl.root / decl.date.table
        if table.is_file():
            extra.append(table)
    for path in list_files(decl) + extra:
        rel = path.relative_to(decl.root).as_posix()
        h.update(f"{rel}\t{path.stat().st_size}\t{file_sha256(path)}\n".encode("utf-8"))
    return h.hexdigest()
