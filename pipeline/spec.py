"""Run specs: YAML files under ``tasks/`` validated up front into typed objects.

A spec holds research choices and seeds; the run environment (workers,
threads, retries) lives in ``luigi.cfg``. Every key is checked: an unknown or
mistyped key, or a value of the wrong type, raises :class:`SpecError` naming
the file, the key path and what was expected (with the closest valid key for a
typo).

A spec may carry ``profiles``: named overlays (for example ``smoke``, a small
and fast variant run by CI) that are deep-merged into the spec before
validation, so a profile is just another set of values with its own identity.

This module is the generic part; each method's spec lives with the method
(:mod:`pipeline.diachronic.spec`, :mod:`pipeline.multilingual.spec`,
:mod:`pipeline.transfer.spec`, :mod:`pipeline.specialization.spec`) and is
read with :func:`load_spec_of_kind`.

>>> import tempfile, pathlib
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Toy:
...     corpora: tuple[str, ...]
...     window: int = 5
...     name: str = ""
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy.yaml").write_text("corpora: [kjv, web]\\nprofiles: {smoke: {window: 2}}\\n")
>>> load_spec_of_kind(Toy, "toy", d / "toy.yaml", "smoke")
Toy(corpora=('kjv', 'web'), window=2, name='toy')
>>> load_spec_of_kind(Toy, "toy", d / "toy.yaml").window
5
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import field, fields
from pathlib import Path
from typing import Any

import yaml

from .corpora import TokenizerSettings
from .errors import SpecError

__all__ = [
    "TokenizerSpec",
    "settings_section",
    "load_yaml",
    "load_spec_of_kind",
    "from_mapping",
    "to_mapping",
    "deep_merge",
]


def settings_section(settings_cls, name: str, runtime: tuple[str, ...] = (), doc: str = "",
                     module: str = __name__, **attrs):
    """A frozen spec section with the fields, types and defaults of an algorithm's settings class.

    Fields named in ``runtime`` (threads, seeds, block sizes: the run
    environment's business) are left out. Validation is the settings class's
    own (``__post_init__`` builds one); ``section.settings(**runtime)`` gives
    the settings object the algorithm takes. ``module`` is the defining
    module's name (for repr and pickling).
    """
    hints = typing.get_type_hints(settings_cls)
    specs = []
    for f in fields(settings_cls):
        if f.name in runtime or not f.init:
            continue
        default = (field(default=f.default) if f.default is not dataclasses.MISSING
                   else field(default_factory=f.default_factory))
        specs.append((f.name, hints[f.name], default))
    names = tuple(n for n, _, _ in specs)

    def __post_init__(self):
        self.settings()

    def settings(self, **runtime_values):
        return settings_cls(**{n: getattr(self, n) for n in names}, **runtime_values)

    cls = dataclasses.make_dataclass(name, specs, frozen=True, namespace={
        "__post_init__": __post_init__, "settings": settings,
        "__doc__": doc or f"The ``{settings_cls.__name__}`` settings a spec may set.", **attrs})
    cls.__module__ = module
    return cls


#: The tokenizer section shared by the specs that prepare corpora (diachronic, multilingual).
TokenizerSpec = settings_section(TokenizerSettings, "TokenizerSpec")


# --------------------------------------------------------------------------
# generic validation


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " (or null)"
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return "a list of " + str(len(args)) + " items"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp, where: str, path: Path):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where, path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SpecError(path, f"{_type_name(tp)} at '{where}'", f"found {type(value).__name__}")
        return from_mapping(tp, value, path, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise SpecError(path, f"{_type_name(tp)} at '{where}'", f"found {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]", path) for i, v in enumerate(value))
        if len(value) != len(args):
            raise SpecError(path, f"{_type_name(tp)} at '{where}'", f"found {len(value)} items")
        return tuple(_convert(v, a, f"{where}[{i}]", path) for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"true or false at '{where}'", f"found {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"an integer at '{where}'", f"found {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(path, f"a number at '{where}'", f"found {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise SpecError(path, f"a string at '{where}'", f"found {value!r}")
        return str(value)
    raise TypeError(f"unsupported spec type {tp}")


def from_mapping(cls, data: dict, path: Path | str, where: str = ""):
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and bad types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        key_path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SpecError(path, f"one of the keys {', '.join(names)} under '{where or '<top>'}'",
                            f"unknown key '{key_path}'{hint}")
        kwargs[key] = _convert(value, hints[key], key_path, Path(path))
    missing = [f.name for f in fields(cls) if f.init and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in kwargs]
    if missing:
        raise SpecError(path, f"the key '{(where + '.') if where else ''}{missing[0]}'", "it is missing")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise SpecError(path, f"{exc} (at '{where or '<top>'}')") from None


def to_mapping(obj) -> dict:
    """A JSON-ready dict of a spec object (tuples become lists)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v

    return conv(obj)


def deep_merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: Path | str, profile: str | None = None) -> dict:
    """Read a spec file, apply a profile overlay, and return the raw mapping."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "a YAML run spec", "the file does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(path, "UTF-8 YAML", str(exc)) from None
    except yaml.YAMLError as exc:
        raise SpecError(path, "valid YAML", str(exc).replace("\n", " ")) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(path, "a mapping at the top level", f"found {type(data).__name__}")
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise SpecError(path, "a mapping of profile name to overrides under 'profiles'")
    if profile and profile not in ("full", "default"):
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise SpecError(path, f"a profile named '{profile}' under 'profiles'", f"profiles defined: {known}")
        if not isinstance(profiles[profile], dict):
            raise SpecError(path, f"a mapping under 'profiles.{profile}'")
        data = deep_merge(data, profiles[profile])
    return data


def load_spec_of_kind(cls, kind: str, path: Path | str, profile: str | None = None):
    """Read a spec file of one ``kind`` (its ``kind:`` key, when present, must say so) into ``cls``; the spec's
    name defaults to the file's stem."""
    path = Path(path)
    data = load_yaml(path, profile)
    data.setdefault("name", path.stem)
    found = data.pop("kind", kind)
    if found != kind:
        raise SpecError(path, f"kind: {kind}", f"found kind: {found!r}")
    return from_mapping(cls, data, path)
