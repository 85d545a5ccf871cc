"""The target-language text a transfer trains its tokenizer and continued pretraining on."""
from __future__ import annotations

import fnmatch
from itertools import islice
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from .spec import TargetSpec

__all__ = ["target_lines"]


def target_lines(target: TargetSpec, corpora_root: Path, download_dir: Path) -> Iterator[str]:
    """Non-empty lines of the target text, held-out files excluded (lazy: call again to re-read).

    ``target.url``: downloaded once into ``download_dir`` (resumable) and read as
    UTF-8 text, ``.gz`` / ``.xz`` decompressed on the fly. ``target.corpora``:
    the corpus folders under ``corpora_root``, minus files matching ``target.holdout``.
    """
    lines = _url_lines(target, download_dir) if target.url else _corpus_lines(target, corpora_root)
    stripped = (line.strip() for line in lines)
    nonempty = (line for line in stripped if line)
    return islice(nonempty, target.max_lines) if target.max_lines else nonempty


def _url_lines(target: TargetSpec, download_dir: Path) -> Iterator[str]:
    import gzip
    import lzma

    from ..download import cached_download

    path = cached_download(target.url, download_dir, sha256=target.url_sha256)
    opener = gzip.open if path.name.endswith(".gz") else lzma.open if path.name.endswith(".xz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            yield from fh
    except (UnicodeDecodeError, OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(path, "UTF-8 text (optionally .gz / .xz), one document per line", str(exc)) from None


def _corpus_lines(target: TargetSpec, corpora_root: Path) -> Iterator[str]:
    from ..corpora import iter_documents, load_declaration

    for name in target.corpora:
        decl = load_declaration(corpora_root / name)
        for doc in iter_documents(decl):
            rel = doc.path.relative_to(decl.root).as_posix()
            if not any(fnmatch.fnmatch(rel, pat) for pat in target.holdout):
                yield from doc.text.splitlines()
