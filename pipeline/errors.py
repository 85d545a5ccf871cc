"""Errors that users see: each names the file (or spec key) and what was expected."""
from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for every error the project raises on purpose."""


class InputError(PipelineError):
    """Bad input: a corpus, dictionary, vector file or spec that is not as expected.

    >>> str(InputError("corpora/x/a.txt", "UTF-8 text", "invalid byte at offset 12"))
    'corpora/x/a.txt: expected UTF-8 text; invalid byte at offset 12'
    """

    def __init__(self, path: str | Path | None, expected: str, found: str | None = None):
        self.path = str(path) if path is not None else None
        self.expected = expected
        self.found = found
        msg = f"expected {expected}"
        if found:
            msg += f"; {found}"
        if self.path:
            msg = f"{self.path}: {msg}"
        super().__init__(msg)


class SpecError(InputError):
    """A run spec (YAML under tasks/) with an unknown, missing or mistyped key."""
