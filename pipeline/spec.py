"""Run specs: YAML files under ``tasks/`` validated up front into typed objects.

A spec holds research choices and seeds; the run environment (workers,
threads, retries) lives in ``luigi.cfg``. Every key is checked: an unknown or
mistyped key, or a value of the wrong type, raises :class:`SpecError` naming
the file, the key path and what was expected (with the closest valid key for a
typo).

A spec may carry ``profiles``: named overlays (for example ``smoke``, a small
and fast variant run by CI) that are deep-merged into the spec before
validation, so a profile is just another set of values with its own identity.

Settings and stage identity
---------------------------
Each algorithm has one frozen settings class (in a light ``settings`` module
of its package: no numpy, polars, numba or torch). A field that does not
change results (threads, device, checkpointing, logging) is marked there, once,
with :func:`runtime_field`; a key added after stages were first built, with
:func:`added_field` (left out of the identity while it has the value the code
used before it existed). A spec section is generated from the settings class
(:func:`settings_section`) and keeps the marks, and every stage's identity is
:func:`identity_of` its sections: what is left once the marked fields are
dropped.

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
...     threads: int = runtime_field(1)
...     name: str = ""
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy.yaml").write_text("corpora: [kjv, web]\\nprofiles: {smoke: {window: 2, threads: 4}}\\n")
>>> toy = load_spec_of_kind(Toy, "toy", d / "toy.yaml", "smoke")
>>> toy
Toy(corpora=('kjv', 'web'), window=2, threads=4, name='toy')
>>> identity_of(toy)
{'corpora': ['kjv', 'web'], 'window': 2, 'name': 'toy'}
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

from .errors import SpecError, read_utf8

__all__ = [
    "TokenizerSpec",
    "runtime_field",
    "added_field",
    "require_positive_ints",
    "require_corpus_names",
    "identity_of",
    "runtime_names",
    "in_identity",
    "settings_section",
    "load_yaml",
    "load_spec_of_kind",
    "from_mapping",
    "to_mapping",
    "deep_merge",
]

# field metadata read by identity_of, settings_section and from_mapping
_IDENTITY = "identity"                  # False: the field does not change results
_HASHED_BELOW = "hashed_below_version"  # ... but stage versions below this still hash it
_IDENTITY_DEFAULT = "identity_default"  # left out of the identity while equal to this value
_IN_SPEC = "in_spec"                    # False: not a spec key (the run environment supplies it)
_KEY = "key"                            # the YAML key, where it is not the field's name
_EXPECTED = "expected"                  # what an error says is expected, instead of the type's name
_SINGLE = "single"                      # a lone value stands for a one-item list

_MISSING = dataclasses.MISSING


def _field(default, default_factory, metadata: dict):
    if default_factory is not _MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def runtime_field(default=_MISSING, *, default_factory=_MISSING, in_spec: bool = True,
                  hashed_below_version: int | None = None):
    """A settings field that does not change results (threads, device, checkpointing, logging, progress).

    It is left out of every stage identity (:func:`identity_of`), so changing
    it reruns nothing. ``in_spec=False``: not a spec key either (the run
    environment gives it, e.g. threads from ``luigi.cfg``).
    ``hashed_below_version``: the stages that read it hashed it before it was
    marked; stage versions below this one still do, so the folders already
    built keep their ids (it leaves their identity at their next version).

    >>> @dataclasses.dataclass(frozen=True)
    ... class Training:
    ...     lr: float = 0.1
    ...     device: str = runtime_field("cpu", hashed_below_version=2)
    ...     log_every: int = runtime_field(10)
    >>> identity_of(Training(), version=1), identity_of(Training(), version=2)
    ({'lr': 0.1, 'device': 'cpu'}, {'lr': 0.1})
    """
    metadata: dict = {_IDENTITY: False}
    if not in_spec:
        metadata[_IN_SPEC] = False
    if hashed_below_version is not None:
        metadata[_HASHED_BELOW] = hashed_below_version
    return _field(default, default_factory, metadata)


def added_field(default, *, before):
    """A settings field added after stages were first built: left out of the identity while it equals ``before``.

    ``before`` is the value the code used before the key existed, so a spec
    that does not set the key (or sets it to that value) keeps the ids of the
    folders built before; any other value is a new identity.

    >>> @dataclasses.dataclass(frozen=True)
    ... class Report:
    ...     top_n: int = 20
    ...     neighbours: int = added_field(10, before=10)
    >>> identity_of(Report()), identity_of(Report(neighbours=5))
    ({'top_n': 20}, {'top_n': 20, 'neighbours': 5})
    """
    return field(default=default, metadata={_IDENTITY_DEFAULT: before})


def require_positive_ints(obj, names) -> None:
    """The one check of a settings class's count fields: each of ``names`` is an ``int`` (not a bool) >= 1.

    >>> @dataclasses.dataclass(frozen=True)
    ... class Train:
    ...     epochs: int = 0
    >>> require_positive_ints(Train(), ("epochs",))
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer, not 0
    """
    for name in names:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, not {v!r}")


def require_corpus_names(key: str, names) -> None:
    """The one check of a spec's corpus names: each is a plain folder name under ``corpora/`` (not empty, no
    ``/`` or ``\\``, not ``.``, ``..`` or any name starting with ``.``), so that it can neither name the corpus root
    itself nor a folder outside it. ``names`` is a list (its items named ``key[i]``) or one name.

    >>> require_corpus_names("target.corpora", ["rv1909", "../kjv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: target.corpora[1]: a corpus folder name under corpora/ (...), not '../kjv'
    """
    items = [(key, names)] if isinstance(names, str) else [(f"{key}[{i}]", n) for i, n in enumerate(names)]
    for where, name in items:
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise ValueError(f"{where}: a corpus folder name under corpora/ (not empty, no '/' or '\\', "
                             f"not starting with '.'), not {name!r}")


def runtime_names(cls) -> tuple[str, ...]:
    """The fields of a settings or spec class marked with :func:`runtime_field`."""
    return tuple(f.name for f in fields(cls) if f.metadata.get(_IDENTITY, True) is False)


def in_identity(f: dataclasses.Field, value, version: int | None = None) -> bool:
    """Whether field ``f`` with ``value`` is part of the identity of a stage at ``version`` (see its marks)."""
    md = f.metadata
    if md.get(_IDENTITY, True) is False:
        below = md.get(_HASHED_BELOW)
        return below is not None and version is not None and version < below
    return not (_IDENTITY_DEFAULT in md and value == md[_IDENTITY_DEFAULT])


def identity_of(obj, version: int | None = None):
    """The part of a settings or spec object that changes results: :func:`to_mapping` without the marked fields.

    ``version`` is the stage's algorithm version (see ``hashed_below_version``
    of :func:`runtime_field`); nested sections follow their own marks.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: identity_of(getattr(obj, f.name), version) for f in fields(obj)
                if in_identity(f, getattr(obj, f.name), version)}
    if isinstance(obj, (tuple, list)):
        return [identity_of(v, version) for v in obj]
    return obj


def settings_section(settings_cls, name: str, given: tuple[str, ...] = (), doc: str = "",
                     module: str = __name__, **attrs):
    """A frozen spec section with the fields, types, defaults and marks of an algorithm's settings class.

    Fields marked ``runtime_field(in_spec=False)`` (threads, block sizes: the
    run environment's business) and those named in ``given`` (values the task
    supplies, such as each run's seed) are left out. Validation is the
    settings class's own (``__post_init__`` builds one);
    ``section.settings(**values)`` gives the settings object the algorithm
    takes. ``module`` is the defining module's name (for repr and pickling);
    ``attrs`` become class attributes.
    """
    hints = typing.get_type_hints(settings_cls)
    specs = []
    for f in fields(settings_cls):
        if f.name in given or not f.init or f.metadata.get(_IN_SPEC, True) is False:
            continue
        specs.append((f.name, hints[f.name], _field(f.default, f.default_factory, dict(f.metadata))))
    names = tuple(n for n, _, _ in specs)

    def __post_init__(self):
        self.settings()

    def settings(self, **values):
        return settings_cls(**{n: getattr(self, n) for n in names}, **values)

    cls = dataclasses.make_dataclass(name, specs, frozen=True, namespace={
        "__post_init__": __post_init__, "settings": settings,
        "__doc__": doc or f"The ``{settings_cls.__name__}`` settings a spec may set.", **attrs})
    cls.__module__ = module
    return cls


def __getattr__(name: str):
    # TokenizerSpec, the tokenizer section shared by the specs that prepare corpora (diachronic, multilingual),
    # is built on first use: the tokenizer's settings are marked with this module's added_field, so this
    # module cannot import them while it loads
    if name == "TokenizerSpec":
        from .corpora.tokenize import TokenizerSettings

        spec = globals()["TokenizerSpec"] = settings_section(TokenizerSettings, "TokenizerSpec")
        return spec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _convert(value: Any, tp, where: str, path: Path, error=SpecError, expected: str | None = None):
    def fail(found: str):
        return error(path, f"{expected or _type_name(tp)} at '{where}'", found)

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where, path, error, expected)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"found {type(value).__name__}")
        return from_mapping(tp, value, path, where, error=error)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise fail(f"found {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]", path, error) for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(f"found {len(value)} items")
        return tuple(_convert(v, a, f"{where}[{i}]", path, error) for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(f"found {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"found {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"found {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise fail(f"found {value!r}")
        return str(value)
    raise TypeError(f"unsupported spec type {tp}")


def from_mapping(cls, data: dict, path: Path | str, where: str = "", *, given: dict | None = None,
                 error=SpecError):
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and bad types.

    Keys are the field names (or a field's ``key`` metadata); fields marked
    ``in_spec=False`` are no keys, and take their values from ``given``.
    Every problem raises ``error`` (an :class:`~pipeline.errors.InputError`)
    naming ``path`` and the key path; a ``ValueError`` from the class's own
    checks becomes one too.
    """
    hints = typing.get_type_hints(cls)
    keyed = {f.metadata.get(_KEY, f.name): f for f in fields(cls)
             if f.init and f.metadata.get(_IN_SPEC, True) is not False}
    names = list(keyed)
    prefix = f"{where}." if where else ""
    kwargs = dict(given or {})
    for key, value in data.items():
        key_path = f"{prefix}{key}"
        if key not in keyed:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise error(path, f"one of the keys {', '.join(prefix + n for n in names)}",
                        f"unknown key '{key_path}'{hint}")
        f = keyed[key]
        if f.metadata.get(_SINGLE) and isinstance(value, str):
            value = [value]
        kwargs[f.name] = _convert(value, hints[f.name], key_path, Path(path), error, f.metadata.get(_EXPECTED))
    missing = [k for k, f in keyed.items() if f.default is _MISSING and f.default_factory is _MISSING
               and f.name not in kwargs]
    if missing:
        raise error(path, f"the key '{prefix}{missing[0]}'", "it is missing")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        # where the message names its key already ("target.corpora[0]: ..."), the section is not said again
        said = where and str(exc).startswith((f"{where}.", f"{where}:", f"{where}["))
        raise error(path, f"{exc} (at '{where}')" if where and not said else str(exc)) from None


def to_mapping(obj) -> dict:
    """A JSON-ready dict of a spec object (tuples become lists); see :func:`identity_of` for a stage's part."""

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


def _read_spec_file(path: Path) -> tuple[dict, dict]:
    """A spec file's top-level mapping without ``profiles``, and its ``profiles`` mapping."""
    import yaml

    if not path.is_file():
        raise SpecError(path, "a YAML run spec", "the file does not exist")
    try:
        data = yaml.safe_load(read_utf8(path, "UTF-8 YAML", SpecError))
    except yaml.YAMLError as exc:
        raise SpecError(path, "valid YAML", " ".join(str(exc).split())) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(path, "a mapping at the top level", f"found {type(data).__name__}")
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise SpecError(path, "a mapping of profile name to overrides under 'profiles'")
    return data, profiles


def spec_profiles(path: Path | str) -> list[str]:
    """The profile names a spec file defines (``full`` is implied and not listed); a file that is not a
    readable YAML mapping is a :class:`SpecError` naming it."""
    return list(_read_spec_file(Path(path))[1])


def load_yaml(path: Path | str, profile: str | None = None) -> dict:
    """Read a spec file, apply a profile overlay, and return the raw mapping."""
    path = Path(path)
    data, profiles = _read_spec_file(path)
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
