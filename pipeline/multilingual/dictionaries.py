"""Bilingual dictionaries: FreeDict (as Debian installs it) and two-column pair files.

Two formats are read:

* FreeDict in the dictd format that Debian's ``dict-freedict-*`` packages
  install: ``/usr/share/dictd/freedict-eng-spa.index`` (one line per
  headword: ``headword<TAB>offset<TAB>length``, offset and length in dictd's
  base64 digits) and ``freedict-eng-spa.dict.dz`` (dictzip, which is gzip
  readable). An entry looks like one of::

      abatement /əbeitmənt/            vinegar /vˈɪnɪɡə/
      1. baja                          Essig <masc> [chem.]  [cook.]
      2. descuento, rebaja, reducción        "water with vinegar"  - Essigwasser
                                        see: {spirit vinegar}, {white vinegar}

  The first line holds the headword (then its pronunciation, a part-of-speech
  tag ``<n>``, an abbreviation in parentheses); the others hold the
  translations, comma-separated, sometimes with a sense number ``1.``,
  grammatical tags ``<masc>``, domain labels ``[chem.]``, notes in
  parentheses, examples in quotes, and ``see:``, ``Synonym:`` and ``Note:``
  lines. Only the translations are kept.
* Pair files (the MUSE / WECHSEL format): one pair per line, the two words
  separated by a tab (then each side may hold spaces) or by whitespace.

Words are normalised as the project's tokenizer normalises text (NFKC, ASCII
apostrophes and hyphens, lower case by default) and multiword entries are
joined with ``_``, the multiword convention of the ``.vec`` files.

>>> d = BilingualDictionary.from_pairs([("house", "casa"), ("house", "hogar"), ("New York", "Nueva York")])
>>> d.pairs
(('house', 'casa'), ('house', 'hogar'), ('new_york', 'nueva_york'))
>>> kept, coverage = d.restrict({"house", "dog"}, {"casa"})
>>> kept.pairs, coverage.as_metrics()["dictionary_pairs_unknown_target"]
((('house', 'casa'),), 2)
"""
from __future__ import annotations

import gzip
import logging
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Container, Iterable, Iterator, Sequence

from pipeline.errors import InputError, bad_utf8

log = logging.getLogger(__name__)

__all__ = [
    "BilingualDictionary",
    "Coverage",
    "normalize_term",
    "read_freedict",
    "read_pair_file",
    "load_dictionary",
    "freedict_paths",
    "split_pairs",
    "write_pair_file",
]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}

# the same character clean-up as pipeline.corpora.tokenize (typographic apostrophes / hyphens)
_TRANSLATE = str.maketrans({
    "\u2019": "'", "\u02bc": "'", "\u2032": "'", "\u2010": "-", "\u2011": "-",
    "\u00ad": None, "\u200b": None, "\ufeff": None,
})
_SPACES = re.compile(r"\s+")


def normalize_term(term: str, lowercase: bool = True) -> str:
    """A dictionary word as the tokenizer would write it; spaces become ``_``.

    >>> normalize_term("  Compte\u2010rendu  de  Séance ")
    'compte-rendu_de_séance'
    """
    term = unicodedata.normalize("NFKC", term).translate(_TRANSLATE)
    if lowercase:
        term = unicodedata.normalize("NFC", term.lower())
    return _SPACES.sub("_", term.strip().strip("_"))


@dataclass(frozen=True)
class Coverage:
    """How many dictionary pairs survive against two vocabularies.

    A pair with both words unknown counts in both ``unknown_*`` numbers (as
    MUSE counts them), so ``kept + unknown_either == total``.
    """

    total: int
    kept: int
    unknown_source: int
    unknown_target: int
    unknown_either: int
    source_words: int
    source_words_kept: int

    def as_metrics(self, prefix: str = "dictionary") -> dict:
        """Flat, self-describing keys for ``metrics.json``."""
        return {
            f"{prefix}_pairs": self.total,
            f"{prefix}_pairs_kept": self.kept,
            f"{prefix}_pairs_unknown_source": self.unknown_source,
            f"{prefix}_pairs_unknown_target": self.unknown_target,
            f"{prefix}_pairs_unknown_either": self.unknown_either,
            f"{prefix}_source_words": self.source_words,
            f"{prefix}_source_words_kept": self.source_words_kept,
            f"{prefix}_coverage": (self.kept / self.total) if self.total else None,
        }


@dataclass(frozen=True)
class BilingualDictionary:
    """Distinct ``(source word, target word)`` pairs in file order, and the file they came from."""

    pairs: tuple[tuple[str, str], ...]
    path: str | None = None
    skipped: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], path: str | Path | None = None,
                   lowercase: bool = True) -> "BilingualDictionary":
        seen: dict[tuple[str, str], None] = {}
        for s, t in pairs:
            s, t = normalize_term(s, lowercase), normalize_term(t, lowercase)
            if s and t:
                seen.setdefault((s, t), None)
        return cls(tuple(seen), None if path is None else str(path))

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def swapped(self) -> "BilingualDictionary":
        """The same pairs as ``(target, source)``: eng-spa read as a Spanish-to-English dictionary."""
        return BilingualDictionary(tuple((t, s) for s, t in self.pairs), self.path, dict(self.skipped))

    @property
    def source_words(self) -> list[str]:
        """Distinct source words, in first-appearance order."""
        return list(dict.fromkeys(s for s, _ in self.pairs))

    def restrict(self, src_vocab: Container[str], tgt_vocab: Container[str]) -> tuple["BilingualDictionary", Coverage]:
        """The pairs with both words in the vocabularies (e.g. ``kv.key_to_index``), and the coverage.

        Raises :class:`InputError` naming the file when no pair is left.
        """
        kept = []
        unknown_s = unknown_t = unknown = 0
        for s, t in self.pairs:
            ks, kt = s in src_vocab, t in tgt_vocab
            if ks and kt:
                kept.append((s, t))
            else:
                unknown += 1
                unknown_s += not ks
                unknown_t += not kt
        cov = Coverage(len(self.pairs), len(kept), unknown_s, unknown_t, unknown, len(self.source_words),
                       len({s for s, _ in kept}))
        log.info("dictionary %s: %d of %d pairs kept; %d with an unknown source word, %d with an unknown "
                 "target word", self.path or "", cov.kept, cov.total, unknown_s, unknown_t)
        if not kept:
            raise InputError(self.path, "dictionary pairs with both words in the vectors",
                             f"none of {len(self.pairs)} pairs ({unknown_s} with an unknown source word, "
                             f"{unknown_t} with an unknown target word)")
        return BilingualDictionary(tuple(kept), self.path), cov

    def split(self, test_size: float | int = 0.2, seed: int = 0
              ) -> tuple["BilingualDictionary", "BilingualDictionary"]:
        """``(train, test)``; see :func:`split_pairs`.

        Raises :class:`InputError` naming the file when the dictionary is too
        small for ``test_size``: it asks for more source words than there are,
        or leaves no source word on one side (a map fitted on nothing, a BLI
        score over no word).
        """
        n_sources = len(self.source_words)
        n_test = _test_count(test_size, n_sources)
        if not 0 <= n_test <= n_sources or n_test == n_sources or (n_test == 0 and test_size != 0):
            raise InputError(self.path, f"enough distinct source words to hold out test_size {test_size!r} and "
                             "train on the rest (at least one on each side)",
                             f"{n_sources} source words, {n_test} of them to hold out")
        train, test = split_pairs(self.pairs, test_size, seed)
        return BilingualDictionary(tuple(train), self.path), BilingualDictionary(tuple(test), self.path)

    def write(self, path: str | Path) -> Path:
        """Write as a pair file (see :func:`write_pair_file`)."""
        return write_pair_file(self.pairs, path)


def _test_count(test_size: float | int, n_sources: int) -> int:
    """How many of ``n_sources`` source words ``test_size`` (a fraction or a count) holds out."""
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        raise ValueError(f"test_size must be a fraction or a count; found {test_size!r}")
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"a fractional test_size must be between 0 and 1; found {test_size}")
        return int(round(test_size * n_sources))
    return int(test_size)


def split_pairs(pairs: Sequence[tuple[str, str]], test_size: float | int = 0.2, seed: int = 0
                ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split pairs into train and test sets disjoint by source word, reproducibly.

    All translations of a source word go to the same side. ``test_size`` is a
    fraction of the distinct source words (0 < x < 1) or their number (an
    int). The choice depends only on the set of source words and ``seed``
    (words are sorted before a seeded shuffle); pairs keep their order.

    >>> pairs = [("a", "x"), ("a", "y"), ("b", "z"), ("c", "w"), ("d", "v")]
    >>> train, test = split_pairs(pairs, test_size=2, seed=1)
    >>> sorted({s for s, _ in test}), len(train) + len(test)
    (['a', 'b'], 5)
    """
    import numpy as np

    sources = sorted({s for s, _ in pairs})
    n_test = _test_count(test_size, len(sources))
    if not 0 <= n_test <= len(sources):
        raise ValueError(f"test_size {test_size} asks for {n_test} of {len(sources)} source words")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))
    test_words = {sources[i] for i in order[:n_test]}
    train = [p for p in pairs if p[0] not in test_words]
    test = [p for p in pairs if p[0] in test_words]
    return train, test


def write_pair_file(pairs: Iterable[tuple[str, str]], path: str | Path, sep: str = " ") -> Path:
    """Write one ``source<sep>target`` pair per line (MUSE's format with the default single space).

    Words hold no whitespace (multiword entries are already joined with ``_``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:  # written beside and renamed: a refused pair leaves no partial file
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for s, t in pairs:
                if _SPACES.search(s) or _SPACES.search(t):
                    raise ValueError(f"words in a pair file hold no whitespace; found {(s, t)!r}")
                f.write(f"{s}{sep}{t}\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------
# pair files


#: a longer line is no word pair (a binary file, or a file without line breaks): refused, not read into memory
MAX_LINE_CHARS = 10_000

_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_pair_file(path: str | Path, lowercase: bool = True) -> BilingualDictionary:
    """Read a two-column dictionary: ``source<TAB>target`` or ``source target`` per line.

    A line with a tab splits at the tab (each side may then hold spaces); any
    other line must hold exactly two whitespace-separated words. Blank lines
    and lines starting with ``#`` are ignored; malformed lines are skipped and
    counted (``skipped["malformed"]``, first line number logged). A gzip file
    (``.gz``) is read through gzip. Raises :class:`InputError` naming the
    file (and the line) when no pair is found, when most lines are malformed
    (the file is not a two-column dictionary), for text that is not UTF-8, a
    NUL byte, a line longer than :data:`MAX_LINE_CHARS` or a damaged gzip file.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "a dictionary file", "a directory")
    if not path.is_file():
        raise InputError(path, "a dictionary file", "no such file")
    raw = []
    malformed = []
    first_malformed = ""
    gz = False
    try:
        gz = _is_gzip(path)
        with (gzip.open(path, "rt", encoding="utf-8-sig") if gz else open(path, encoding="utf-8-sig")) as f:
            head = f.read(512).lstrip()
            if head.startswith(("<?xml", "<TEI", "<!DOCTYPE")):  # FreeDict's TEI source is no pair file
                raise InputError(path, "lines of two columns: source word, target word (tab or space separated)",
                                 "an XML document (FreeDict's TEI?): give FreeDict's dictd files instead (the .index "
                                 "beside its .dict.dz, as Debian's dict-freedict-* packages install them)")
            f.seek(0)
            line_no = 0
            while True:
                line = f.readline(MAX_LINE_CHARS + 1)
                if not line:
                    break
                line_no += 1
                if len(line) > MAX_LINE_CHARS:
                    raise InputError(path, f"lines of at most {MAX_LINE_CHARS} characters (one word pair each)",
                                     f"line {line_no} is longer")
                if "\x00" in line:
                    raise InputError(path, f"a text dictionary; line {line_no}", "holds a NUL byte (a binary file?)")
                line = line.rstrip("\r\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                parts = line.split("\t") if "\t" in line else line.split()
                parts = [p.strip() for p in parts]
                if len(parts) != 2 or not parts[0] or not parts[1]:
                    if not malformed:
                        first_malformed = line.strip()[:80]
                    malformed.append(line_no)
                    continue
                raw.append((parts[0], parts[1]))
    except UnicodeDecodeError:
        raise InputError(path, "a UTF-8 text dictionary", bad_utf8(path, gz=gz)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(path, "a complete gzip-compressed dictionary", f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise InputError(path, "a readable dictionary file", str(exc)) from exc
    expected = "lines of two columns: source word, target word (tab or space separated)"
    if malformed:
        log.warning("%s: %d malformed line(s) skipped (expected two columns), first on line %d",
                    path, len(malformed), malformed[0])
        first = f"the first on line {malformed[0]}: {first_malformed!r}"
        if raw and len(malformed) > len(raw):  # mostly malformed: another format, not a few odd lines
            raise InputError(path, expected, f"{len(malformed)} of {len(malformed) + len(raw)} lines are not, {first}")
    d = BilingualDictionary.from_pairs(raw, path, lowercase)
    if not d.pairs:
        raise InputError(path, expected, f"no usable pair ({len(malformed)} malformed lines, {first})" if malformed
                         else "no pair")
    return BilingualDictionary(d.pairs, d.path, {"malformed": len(malformed)})


# ---------------------------------------------------------------------------
# FreeDict (dictd)


def _b64_number(s: str) -> int:
    if not s:
        raise KeyError(s)  # an empty field is no number (it would read as 0)
    v = 0
    for c in s:
        v = v * 64 + _B64_VALUE[c]
    return v


def freedict_paths(path: str | Path) -> tuple[Path, Path]:
    """``(index, data)`` paths from the ``.index``, the ``.dict.dz`` / ``.dict``, or their common stem."""
    path = Path(path)
    name = path.name
    for suffix in (".index", ".dict.dz", ".dict"):
        if name.endswith(suffix):
            stem = path.with_name(name[: -len(suffix)])
            break
    else:
        stem = path
    index = stem.with_name(stem.name + ".index")
    data = stem.with_name(stem.name + ".dict.dz")
    if not data.exists() and stem.with_name(stem.name + ".dict").exists():
        data = stem.with_name(stem.name + ".dict")
    return index, data


# One pass of patterns removed from a line: pronunciations /.../, tags <...>, labels [...],
# parenthesised notes and braces.
# a pronunciation: /.../ opened after a space (or at the start) and closed before a space or the end;
# slashes inside words ("and/or", "1/3") are no pronunciation
_PRON_RE = r"(?:(?<=\s)|^)/(?=\S)([^/\n]*?)(?<=\S)/(?=[\s,;<(]|$)"
_MARKUP = re.compile(_PRON_RE + r"|<[^>\n]*>|\[[^\]\n]*\]|\([^)\n]*\)|\{[^}\n]*\}")
_SENSE = re.compile(r"^\s*\d+\.\s*")
_META_LINE = re.compile(r"^\s*(?:see|synonyms?|antonyms?|notes?|usage|example|examples|also|cf)\s*:", re.I)
_PRON = re.compile(_PRON_RE)
_IPA_MARKS = str.maketrans("", "", "ːˑˈˌ'. ")


_IPA_DIGRAPHS = re.compile(r"tʃ|dʒ|eɪ|aɪ|ɔɪ|əʊ|aʊ|oʊ|ou|ei|ai|au|ɪə|eə|ʊə|iə|ɛə")


def _truncated_phrase(first_line: str) -> bool:
    """Whether an entry's one-word headword is the first word of a phrase whose other words were lost.

    Some FreeDict databases (eng-spa from the Ergane import) list phrases
    such as "a day" -> "al día" under the headword "a" and keep only the
    phrase's pronunciation ("a /ədei/"); the pair ("a", "aldía") is wrong.
    A pronunciation (digraphs such as ``tʃ`` or ``ei`` counted as one sound)
    at least 2 sounds and 1.5 times longer than the spelt word betrays them.
    Acronyms (all capitals) are spelt out letter by letter and never count.
    """
    m = _PRON.search(first_line)
    spelt = first_line[: m.start()].strip() if m else ""  # with any "(note)" the pronunciation may cover
    if not m or " " in spelt or (spelt.isupper() and len(spelt) > 1):
        return False
    pron = _IPA_DIGRAPHS.sub("X", m.group(1).translate(_IPA_MARKS))
    word = "".join(c for c in spelt if c.isalpha())
    return len(pron) - len(word) >= 2 and len(pron) >= 1.5 * max(1, len(word))


def _translations(line: str) -> list[str]:
    line = _SENSE.sub("", line)
    line = _MARKUP.sub(" ", line)
    out = []
    for part in re.split(r"[,;]", line):
        part = part.strip().rstrip("…").strip()
        if part.endswith("..."):
            part = part[:-3].strip()
        part = part.strip(" .!?¡¿\"'")
        if part:
            out.append(part)
    return out


def parse_freedict_entry(text: str) -> tuple[str, list[str], bool]:
    """``(headword, translations, truncated_phrase)`` of one dictd entry (see the module docstring)."""
    lines = text.split("\n")
    first = lines[0] if lines else ""
    head = _MARKUP.sub(" ", first)
    head = _SPACES.sub(" ", head).strip().strip(".!?¡¿")
    translations: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped or _META_LINE.match(stripped) or stripped.startswith(('"', "{")):
            continue
        translations.extend(_translations(stripped))
    return head, translations, _truncated_phrase(first)


def read_freedict(path: str | Path, lowercase: bool = True, skip_truncated_phrases: bool = True
                  ) -> BilingualDictionary:
    """Read a FreeDict dictd database (``.index`` + ``.dict.dz``) into cleaned word pairs.

    ``path``: the ``.index``, the ``.dict.dz`` or their common stem (e.g.
    ``/usr/share/dictd/freedict-eng-spa``). The headword is taken from the
    entry itself (the index holds a folded form). ``skip_truncated_phrases``
    drops entries whose headword lost the rest of its phrase (see
    :func:`_truncated_phrase`); their count is in ``skipped``.
    """
    index_path, data_path = freedict_paths(path)
    for p in (index_path, data_path):
        if not p.is_file():
            raise InputError(p, "a FreeDict dictd file (.index beside .dict.dz)", "no such file")
    try:
        if data_path.name.endswith(".dz"):
            with gzip.open(data_path, "rb") as f:
                data = f.read()
        else:
            data = data_path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(data_path, "a dictzip (gzip) compressed dictd data file", str(exc)) from exc

    entries: dict[tuple[int, int], int] = {}  # (offset, length) -> its first line in the index
    try:
        with open(index_path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 3:
                    raise InputError(index_path, f"'headword<TAB>offset<TAB>length' on line {line_no}",
                                     f"found {line.strip()[:80]!r}")
                head, off, length = fields
                if head.startswith("00database") or head.startswith("00-database"):
                    continue
                try:
                    span = (_b64_number(off), _b64_number(length))
                except KeyError:
                    raise InputError(index_path, f"base64 offset and length on line {line_no}",
                                     f"found {off!r} {length!r}") from None
                if span[0] + span[1] > len(data):
                    raise InputError(index_path, f"an entry inside {data_path.name} on line {line_no}",
                                     f"bytes {span[0]}..{span[0] + span[1]} of {len(data)}")
                entries.setdefault(span, line_no)
    except UnicodeDecodeError:
        raise InputError(index_path, "a UTF-8 dictd index", bad_utf8(index_path)) from None

    raw: list[tuple[str, str]] = []
    truncated = empty = 0
    for (off, length), line_no in entries.items():
        try:
            text = data[off: off + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(data_path, f"UTF-8 text in the entry at byte {off} ({index_path.name} line {line_no})",
                             str(exc)) from exc
        head, translations, is_truncated = parse_freedict_entry(text)
        if skip_truncated_phrases and is_truncated:
            truncated += 1
            continue
        if not head or not translations:
            empty += 1
            continue
        raw.extend((head, t) for t in translations)
    d = BilingualDictionary.from_pairs(raw, index_path, lowercase)
    log.info("%s: %d entries, %d pairs; %d truncated phrase entries and %d without translations skipped",
             index_path, len(entries), len(d.pairs), truncated, empty)
    if not d.pairs:
        raise InputError(index_path, "FreeDict entries with a headword and translations",
                         f"no usable pair ({len(entries)} entries; {truncated} truncated phrases and {empty} without "
                         "translations skipped)")
    return BilingualDictionary(d.pairs, d.path, {"entries": len(entries), "truncated_phrases": truncated,
                                                  "without_translations": empty})


def load_dictionary(path: str | Path, lowercase: bool = True) -> BilingualDictionary:
    """A FreeDict database (``.index`` / ``.dict.dz`` / their stem) or a pair file, chosen by name."""
    path = Path(path)
    index, data = freedict_paths(path)
    if path.name.endswith((".index", ".dict.dz", ".dict")) or (not path.exists() and index.exists()):
        return read_freedict(path, lowercase)
    return read_pair_file(path, lowercase)
