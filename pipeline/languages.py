"""Language codes: the one check every spec and corpus declaration uses for a language.

A language is written as its shortest ISO 639 code, as BCP 47 asks: the
two-letter ISO 639-1 code where the language has one (``en``, ``es``,
``sw``), else a three-letter ISO 639-3 code (``swh``, ``yue``). A three-letter
code of a language that has a two-letter one is refused with the two-letter
code as the hint, so one language never goes by two names (a corpus declared
``eng`` would never meet a spec's ``en``). The codes are those of Debian's
iso-codes as the ``pycountry`` package ships them (its ISO 639-3 table, with
each language's two-letter and bibliographic codes).

>>> iso_language("es", "target.lang")
'es'
>>> iso_language("swh", "source.lang")
'swh'
>>> iso_language("ger", "language")  # an ISO 639-2 bibliographic code
Traceback (most recent call last):
...
ValueError: an ISO 639 code for language (two letters, ISO 639-1, where the language has one, e.g. en, es, sw; \
else three, ISO 639-3), not 'ger' (did you mean 'de'?)
>>> iso_language("eng", "language")
Traceback (most recent call last):
...
ValueError: an ISO 639 code for language (two letters, ISO 639-1, where the language has one, e.g. en, es, sw; \
else three, ISO 639-3), not 'eng' (did you mean 'en'?)
"""
from __future__ import annotations

from collections.abc import Set
from functools import lru_cache
from typing import Iterator

__all__ = ["ISO_639_1", "iso_language"]


@lru_cache(maxsize=None)
def _codes() -> tuple[frozenset[str], dict[str, str]]:
    """``(ISO 639-1 codes, {ISO 639-2 code: ISO 639-1 code})``, read once from pycountry's iso-codes data.

    The three-letter side holds both the terminological (``deu``) and the
    bibliographic (``ger``) code of every language that has a two-letter one.
    """
    import pycountry  # Debian's iso-codes tables, read on the first check so that `import pipeline` stays cheap

    two: set[str] = set()
    three_to_two: dict[str, str] = {}
    for language in pycountry.languages:
        code = getattr(language, "alpha_2", None)
        if code:
            two.add(code)
            for three in (language.alpha_3, getattr(language, "bibliographic", None)):
                if three:
                    three_to_two[three] = code
    return frozenset(two), three_to_two


class _Iso6391(Set):
    """The ISO 639-1 two-letter codes, as a read-only set loaded on first use."""

    def __contains__(self, code) -> bool:
        return isinstance(code, str) and code in _codes()[0]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_codes()[0]))

    def __len__(self) -> int:
        return len(_codes()[0])

    def __repr__(self) -> str:
        return "ISO_639_1"


#: ISO 639-1 two-letter language codes (from pycountry, loaded on first use).
ISO_639_1: Set = _Iso6391()


def iso_language(code, key: str) -> str:
    """``code`` when it is a language's shortest ISO 639 code, else :class:`ValueError` naming ``key``.

    The message says what was expected and, where one exists, the code meant
    (``EN`` -> ``en``, ``spa`` -> ``es``).
    """
    two, three_to_two = _codes()
    if isinstance(code, str) and code.isascii() and code.isalpha() and code.islower() and (
            code in two or (len(code) == 3 and code not in three_to_two)):
        return code
    guess = code.lower() if isinstance(code, str) else None
    guess = three_to_two.get(guess, guess)
    hint = f" (did you mean '{guess}'?)" if guess in two or (
        guess and len(guess) == 3 and guess.isascii() and guess.isalpha() and guess != code) else ""
    raise ValueError(f"an ISO 639 code for {key} (two letters, ISO 639-1, where the language has one, e.g. en, es, "
                     f"sw; else three, ISO 639-3), not {code!r}{hint}")
