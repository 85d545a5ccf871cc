"""Lazy package exports: a name is imported from its submodule on first use.

The method packages export their public names this way so that ``import pipeline`` (and reading a spec)
does not load numpy, polars, torch or transformers.

>>> get, names = lazy_exports("json", {"decoder": ("JSONDecodeError",)})
>>> get("JSONDecodeError").__module__
'json.decoder'
>>> "JSONDecodeError" in names()
True
>>> get("nope")
Traceback (most recent call last):
AttributeError: module 'json' has no attribute 'nope'
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]],
                 extra: Sequence[str] = ()) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``exports[submodule]`` comes from
    ``package.submodule`` on first use and is then cached in the package's namespace."""
    module_of = {name: module for module, names in exports.items() for name in names}
    public = set(module_of) | set(extra)

    def __getattr__(name: str):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | public)

    return __getattr__, __dir__
