"""What a stage reads from outside the pipeline, as typed records: kind, name, fingerprint, licence, source.

Every stage declares the outside inputs it reads (:meth:`StageTask.input_records
<pipeline.dag.base.StageTask.input_records>`): corpora, dictionaries, WordNet,
Apertium, models, pretrained vectors, word lists, data by URL. The stage's
``provenance.json`` carries them whole under ``inputs``, and a published
artifact's manifest entry carries every record of the stages it was built from
under ``licences`` (see :func:`pipeline.dag.ops.input_record`).

A licence is read from where the input's publisher wrote it, never typed in
here:

- a corpus: its declaration (``corpora/<name>/corpus.yaml``: ``licence``, ``source``);
- a file installed by a Debian package (WordNet, FreeDict, Apertium): the
  package's machine-readable ``/usr/share/doc/<package>/copyright`` (DEP-5);
  the ``License:`` of the paragraph whose ``Files:`` names the file's
  dictionary (``eng-spa/*`` for ``freedict-eng-spa``), else of ``Files: *``;
- a model: the ``license:`` of its model card (``README.md`` front matter);
  for ``pkg:<package>/...`` the package's own metadata (``License-Expression``,
  ``License`` or its ``License ::`` classifiers) when the folder has no card;
- data by URL or a file outside any package: the licence the spec declares for
  it, else ``not declared`` with the source to read it from.

>>> r = InputRecord(kind="dictionary", name="freedict-eng-spa", fingerprint="ab12", licence="GPL-2+",
...                 source="Debian package dict-freedict-eng-spa")
>>> r.as_dict()["licence"]
'GPL-2+'
>>> InputRecord.from_dict(r.as_dict()) == r
True
"""
from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = ["InputRecord", "KINDS", "NOT_DECLARED", "corpus_records", "debian_licence", "file_record",
           "model_record", "declared_licence", "package_licence", "card_licence", "card_front_matter", "url_record",
           "merge_records"]

#: The kinds of outside input a stage can read.
KINDS = ("corpus", "dictionary", "wordnet", "apertium", "model", "vectors", "words", "url", "data")

NOT_DECLARED = "not declared"


@dataclass(frozen=True)
class InputRecord:
    """One outside input of a stage.

    ``fingerprint`` is what the stage identity holds for it (a content hash, or
    a URL's sha256 / a hub id's revision); ``source`` says where it came from
    (a path, a package, a URL) and where its licence was read.
    """

    kind: str
    name: str
    fingerprint: Any
    licence: str
    source: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"input kind {self.kind!r}: expected one of {', '.join(KINDS)}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InputRecord":
        return cls(**{k: d[k] for k in ("kind", "name", "fingerprint", "licence", "source")})

    @property
    def key(self) -> tuple:
        return (self.kind, self.name, repr(self.fingerprint))


def merge_records(records: Iterable[InputRecord]) -> list[InputRecord]:
    """One record per (kind, name, fingerprint), sorted by kind then name."""
    seen: dict[tuple, InputRecord] = {}
    for r in records:
        seen.setdefault(r.key, r)
    return sorted(seen.values(), key=lambda r: (r.kind, r.name, repr(r.fingerprint)))


# --------------------------------------------------------------------------------------------- corpora


def corpus_records(fingerprints: dict[str, str], corpora_root: Path) -> list[InputRecord]:
    """Records of corpora under ``corpora_root``, given their fingerprints (as the stage identity holds them)."""
    from .corpora import load_declaration

    out = []
    for name, fp in sorted(fingerprints.items()):
        decl = load_declaration(Path(corpora_root) / name)
        out.append(InputRecord("corpus", name, fp, decl.licence, decl.source))
    return out


# --------------------------------------------------------------------------------------------- Debian


@functools.lru_cache(maxsize=256)
def _owning_package(path: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    for candidate in dict.fromkeys([path, str(Path(path).resolve())]):
        try:
            out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout:
            # "pkg[:arch]: /path" (one line per package; diversions start with "diversion by")
            for line in out.stdout.splitlines():
                if not line.startswith("diversion"):
                    return line.split(":", 1)[0].split(",")[0].strip()
    return None


def _dep5_paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs, current, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def _dep5_licence(text: str, hints: list[str]) -> str | None:
    """The short ``License:`` name for the file the hints describe, from a DEP-5 copyright file."""
    paragraphs = [p for p in _dep5_paragraphs(text) if "files" in p and "license" in p]
    if not paragraphs:
        return None
    fallback = None
    for p in paragraphs:
        globs = p["files"].split()
        short = p["license"].split("\n", 1)[0].strip()
        if all(g.startswith("debian/") for g in globs):
            continue  # the packaging's own licence, not the data's
        if "*" in globs and fallback is None:
            fallback = short
        heads = {g.split("/", 1)[0] for g in globs if "/" in g}
        if any(h and h != "*" and any(h == hint for hint in hints) for h in heads):
            return short
    return fallback


def debian_licence(path: str | Path) -> tuple[str, str] | None:
    """``(licence, source)`` of a file installed by a Debian package, read from the package's copyright file.

    None when no package owns the file or the package has no machine-readable copyright file.
    """
    path = str(path)
    pkg = _owning_package(path)
    if pkg is None:
        return None
    copyright_file = Path("/usr/share/doc") / pkg / "copyright"
    try:
        text = copyright_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    stem = Path(path).name.split(".", 1)[0]  # freedict-eng-spa.dict.dz -> freedict-eng-spa
    hints = [stem, stem.removeprefix("freedict-"), Path(path).parent.name.removeprefix("apertium-")]
    licence = _dep5_licence(text, hints)
    if licence is None:
        return None
    return licence, f"Debian package {pkg} ({copyright_file})"


def file_record(kind: str, name: str, path: str | Path, fingerprint: Any, declared: str = "") -> InputRecord:
    """A record for a file or folder of files (a dictionary, WordNet, a word list): licence from its package.

    ``declared`` (a licence the spec states) wins; else the owning Debian package's copyright file;
    else :data:`NOT_DECLARED`.
    """
    if declared:
        return InputRecord(kind, name, fingerprint, declared, f"{path} (licence as the spec declares it)")
    found = debian_licence(path)
    if found is None:
        return InputRecord(kind, name, fingerprint, NOT_DECLARED, f"{path} (not from a Debian package; see its "
                                                                  "publisher's terms)")
    return InputRecord(kind, name, fingerprint, found[0], found[1])


def url_record(kind: str, name: str, url: str, fingerprint: Any, declared: str = "") -> InputRecord:
    """A record for data fetched by URL: the licence the spec declares, else not declared."""
    if declared:
        return InputRecord(kind, name, fingerprint, declared, f"{url} (licence as the spec declares it)")
    return InputRecord(kind, name, fingerprint, NOT_DECLARED, f"{url} (see the publisher's terms)")


# --------------------------------------------------------------------------------------------- models

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)


def card_licence(folder: str | Path) -> str | None:
    """The ``license:`` (or ``license_name:``) of a model card's YAML front matter, if the folder has a card."""
    import yaml

    card = Path(folder) / "README.md"
    try:
        text = card.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return None
    m = _FRONT_MATTER.match(text)
    if not m:
        return None
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    value = meta.get("license_name") if meta.get("license") == "other" else meta.get("license")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value) if value else None


def declared_licence(location: str, revision: str, folder: str | Path | None) -> str | None:
    """The licence a source model declares (its card, else its package's metadata: :func:`model_record`), or
    None where it declares none; what a derived model's card names."""
    licence = model_record(location, revision, None, folder).licence
    return None if licence == NOT_DECLARED else licence


#: a licence the Hub takes as ``license:`` (an identifier such as apache-2.0, mit, cc-by-4.0, llama3.1)
_LICENCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


def card_front_matter(location: str, licence: str | None) -> list[str]:
    """Front-matter lines of a model card for a model derived from the one at ``location``, as the Hub reads
    them: ``license`` (lower case; a name that is no identifier as ``license: other`` with ``license_name``),
    when ``licence`` is known, and ``base_model`` when ``location`` is a hub id (not a folder or ``pkg:``).

    >>> card_front_matter("org/enc", "Apache-2.0"), card_front_matter("pkg:x/model", 'CC BY: "share"')
    (['license: apache-2.0', 'base_model: org/enc'], ['license: other', 'license_name: "CC BY: \\\\"share\\\\""'])
    """
    from .models import model_kind

    lines = []
    if licence and licence != NOT_DECLARED:  # JSON strings are YAML strings: a colon or a quote stays in the value
        lines += ([f"license: {licence.lower()}"] if _LICENCE_ID.fullmatch(licence)
                  else ["license: other", f"license_name: {json.dumps(licence)}"])
    if model_kind(location) == "hub":
        lines.append(f"base_model: {location}")
    return lines


def package_licence(package: str) -> str | None:
    """The licence an installed Python distribution declares in its metadata (importable name or dist name)."""
    names = [package]
    try:
        names += importlib.metadata.packages_distributions().get(package, [])
    except Exception:  # noqa: BLE001 - broken metadata of some other distribution
        pass
    for name in names:
        try:
            meta = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        value = meta.get("License-Expression") or meta.get("License")
        if value and value.strip() and value.strip().upper() != "UNKNOWN" and len(value) < 200:
            return value.strip()
        classifiers = [c.rsplit("::", 1)[1].strip() for c in meta.get_all("Classifier") or []
                       if c.startswith("License ::")]
        if classifiers:
            return ", ".join(classifiers)
    return None


def model_record(location: str, revision: str, fingerprint: Any, folder: str | Path | None) -> InputRecord:
    """A record for a source model: the licence from its card, else from its package's metadata.

    ``folder`` is the local folder when known without the network (a folder, a ``pkg:`` location, or a
    hub model already in the download cache); a hub model not fetched yet says where its card is.
    """
    if folder is not None:
        lic = card_licence(folder)
        if lic:
            return InputRecord("model", location, fingerprint, lic, f"{Path(folder) / 'README.md'} (model card)")
    if location.startswith("pkg:"):
        pkg = location[4:].split("/", 1)[0]
        lic = package_licence(pkg)
        if lic:
            return InputRecord("model", location, fingerprint, lic, f"Python package {pkg} (its metadata)")
    where = f"{folder}" if folder is not None else f"{location}@{revision}"
    return InputRecord("model", location, fingerprint, NOT_DECLARED, f"{where} (no licence in a model card here; "
                                                                     "see the model's own card)")
