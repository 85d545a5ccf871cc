"""A pickle that runs code when loaded: the stand-in for what an attacker's file would do."""
from __future__ import annotations


class Planted:
    """Unpickling this creates ``path``: the stand-in for whatever code a hostile pickle would run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
