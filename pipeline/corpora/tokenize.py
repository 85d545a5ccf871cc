"""Normalisation, sentence splitting and word tokenisation, with per-language touches.

>>> tok = Tokenizer("en")
>>> list(tok.sentences("Don't panic! The well-known U.S. Senate met in 1790: twice."))
[["don't", 'panic'], ['the', 'well-known', 'u.s', 'senate', 'met', 'in', '1790'], ['twice']]
>>> list(Tokenizer("es").sentences("¿Qué pasó? ¡Nada!"))
[['qué', 'pasó'], ['nada']]

The steps, in order: Unicode normalisation (``unicode_form``), typographic
apostrophes and hyphens to ASCII, optional lower-casing (``casefold`` for
full Unicode case folding, e.g. German ß -> ss), sentence split on
``. ! ? ; :`` (and their CJK / Arabic / Devanagari forms) and on line ends,
then word tokens. A word is a run of letters, digits and combining marks,
with ``'``, ``-`` and ``.`` allowed *inside* it (``don't``, ``well-known``,
``u.s``, ``3.5``) and ``,`` inside numbers (``1,000``). A break character
between two word characters (``3.5``, ``10:30``) does not end a sentence.

Language touches: English (and every language by default) keeps clitics in
the word (``don't``, ``president's``); French, Italian and Catalan split
elided articles and pronouns (``l'homme`` -> ``l'`` ``homme``); Spanish drops
the inverted marks ``¿ ¡`` even when punctuation is kept; Turkish and
Azerbaijani lower-case dotted and dotless I correctly; Chinese and Japanese
split CJK ideographs and kana into one token per character (no segmenter is
available offline).

Corpora that come tokenised (lemmatised, POS-suffixed, as in SemEval-2020
Task 1) are taken as they are with ``pretokenized``: each line is a sentence
and its whitespace-separated chunks are its tokens, nothing else changed.

>>> list(Tokenizer("en", TokenizerSettings(pretokenized=True)).sentences("the plane_nn fly_vb\\n\\nU.S. ,_x Café"))
[['the', 'plane_nn', 'fly_vb'], ['U.S.', ',_x', 'Café']]
"""
from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Iterator, Optional

from ..spec import added_field

__all__ = ["TokenizerSettings", "Tokenizer", "UNICODE_FORMS"]

UNICODE_FORMS = ("NFC", "NFKC", "NFD", "NFKD")


@dataclass(frozen=True)
class TokenizerSettings:
    """How text becomes tokens.

    ``unicode_form``: NFC, NFKC, NFD, NFKD, or ``"none"``/``None`` to skip.
    ``lowercase``: lower-case everything; ``casefold`` uses full Unicode case
    folding instead (implies lower-casing).
    ``split_punctuation``: separate punctuation from words with the word
    regex; when False, tokens are whitespace-separated chunks (edge
    punctuation is stripped unless ``keep_punctuation``).
    ``keep_punctuation``: emit punctuation marks as tokens of their own.
    ``min_token_length``: drop words shorter than this many characters.
    ``strip_numbers``: drop tokens made of digits (and separators) only.
    ``pretokenized``: the text is already tokens, taken exactly as they are:
    one sentence per line (``str.splitlines``), tokens split on whitespace
    (``str.split``: runs of any Unicode whitespace), empty lines skipped.
    Nothing else is done: no Unicode normalisation, no case change, no
    punctuation split or stripping, underscores kept (``plane_nn``); every
    other setting is ignored.
    """

    unicode_form: Optional[str] = "NFKC"
    lowercase: bool = True
    split_punctuation: bool = True
    keep_punctuation: bool = False
    min_token_length: int = 1
    strip_numbers: bool = False
    casefold: bool = False
    # added after corpora were first prepared, which all went through the normalising tokenizer
    pretokenized: bool = added_field(False, before=False)

    def __post_init__(self):
        if self.unicode_form is not None and self.unicode_form != "none" and self.unicode_form not in UNICODE_FORMS:
            raise ValueError(f"unicode_form must be one of {', '.join(UNICODE_FORMS)} or 'none'; "
                             f"found {self.unicode_form!r}")
        if isinstance(self.min_token_length, bool) or not isinstance(self.min_token_length, int) \
                or self.min_token_length < 1:
            raise ValueError(f"min_token_length must be a positive integer; found {self.min_token_length!r}")


@functools.lru_cache(maxsize=1)
def _mark_class() -> str:
    """Character-class body for every combining mark (Unicode category M*) plus ZWNJ/ZWJ.

    Python's ``\\w`` leaves out combining marks (e.g. Devanagari vowel signs),
    which would split words of many scripts.
    """
    ranges = []
    start = prev = None
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp))[0] == "M":
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    if start is not None:
        ranges.append((start, prev))

    def esc(cp: int) -> str:
        return f"\\U{cp:08x}"

    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return body + "\\u200c\\u200d"


_BREAK_CHARS = ".!?;:\u2026\u3002\uff01\uff1f\uff1b\uff1a\u061f\u061b\u0964\u0965"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

# Translation applied after normalisation: typographic apostrophes/hyphens to ASCII,
# soft hyphens and zero-width spaces removed, underscores to spaces (the multiword
# separator of the .vec files must not occur inside corpus tokens), tabs/CR to space.
_TRANSLATE = str.maketrans({
    "\u2019": "'", "\u02bc": "'", "\u2032": "'",
    "\u2010": "-", "\u2011": "-",
    "\u00ad": None, "\u200b": None, "\ufeff": None,
    "_": " ", "\t": " ", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x0b": "\n", "\x0c": "\n",
})

# Words that, followed by a period, do not end a sentence (besides dotted initials like U.S.).
_ABBREVIATIONS = {
    "en": frozenset("mr mrs ms messrs dr st jr sr gen gov col capt lt sgt sen rep hon prof rev vs cf "
                    "jan feb mar apr aug sept sep oct nov dec".split()),
    "es": frozenset("sr sra srta sres dr dra ud uds vd vds lic gral pág núm art".split()),
    "fr": frozenset("m mm mme mlle dr st ste cf".split()),
    "de": frozenset("hr hrn fr dr prof bzw usw vgl ca nr str".split()),
    "it": frozenset("sig sigg dott prof ing avv".split()),
    "pt": frozenset("sr sra dr dra prof".split()),
}

_ELISION = {
    "fr": re.compile(r"^((?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu)')(?=\w)"),
    "it": re.compile(r"^((?:[cdlmnstv]|un|gl|dell|all|dall|nell|sull|coll|quest|quell|anch|tutt|bell|sant|com)')(?=\w)"),
    "ca": re.compile(r"^((?:[dlmnst])')(?=\w)"),
}
_ELISION_KEEP = {"fr": {"aujourd'hui", "prud'homme", "presqu'île"}, "it": set(), "ca": set()}


class Tokenizer:
    """Sentence splitter and word tokenizer for one language (ISO 639-1 code)."""

    def __init__(self, language: str = "en", settings: TokenizerSettings | None = None):
        self.language = language
        self.settings = settings or TokenizerSettings()
        s = self.settings
        w = f"[\\w{_mark_class()}]"
        word = rf"{w}+(?:(?:['\-.]|(?<=\d),(?=\d)){w}+)*"
        self._word_re = re.compile(word)
        self._token_re = re.compile(rf"{word}|[^\s]") if s.keep_punctuation else self._word_re
        brk = re.escape(_BREAK_CHARS)
        # a break mark ends a sentence unless it sits between two word characters
        self._split_re = re.compile(rf"(\n+|[{brk}]*[{brk}](?!{w})|(?<!{w})[{brk}]+)")
        self._number_re = re.compile(r"^[\d.,:'\-]+$")
        self._edge_re = re.compile(rf"^[^\w{_mark_class()}]+|[^\w{_mark_class()}]+$")
        self._elision = _ELISION.get(language)
        self._elision_keep = _ELISION_KEEP.get(language, set())
        self._drop_marks = "¿¡" if language in ("es", "gl", "ast") else ""
        self._cjk_re = re.compile(f"([{_CJK}])") if language in ("zh", "ja") else None
        self._form = s.unicode_form if s.unicode_form not in (None, "none") else None
        self._abbrev = _ABBREVIATIONS.get(language, frozenset())
        self._initials_re = re.compile(rf"^(?:{w}\.)+{w}$")

    def _is_abbreviation(self, token: str, abbrev: frozenset) -> bool:
        if self._initials_re.match(token):  # u.s, e.g, a.m, j.r.r
            return True
        return token.lower() in abbrev

    def __repr__(self) -> str:
        return f"Tokenizer({self.language!r}, {self.settings!r})"

    # -- normalisation -----------------------------------------------------
    def normalize(self, text: str) -> str:
        """Unicode normalisation, ASCII apostrophes/hyphens, and case (per settings); ``pretokenized``: none."""
        s = self.settings
        if s.pretokenized:
            return text
        if self._form:
            text = unicodedata.normalize(self._form, text)
        text = text.translate(_TRANSLATE)
        if s.lowercase or s.casefold:
            if self.language in ("tr", "az"):
                text = text.replace("I", "\u0131").replace("\u0130", "i")
            text = text.casefold() if s.casefold else text.lower()
            if self._form and self._form.startswith("NFK"):
                # lower()/casefold() can produce decomposed sequences (e.g. 'İ' -> 'i̇')
                text = unicodedata.normalize("NFC", text)
        if self._cjk_re is not None:
            text = self._cjk_re.sub(r" \1 ", text)
        return text

    # -- tokens --------------------------------------------------------------
    def _filter(self, tokens: list[str]) -> list[str]:
        s = self.settings
        if self._elision is not None:
            out = []
            for t in tokens:
                m = self._elision.match(t) if "'" in t and t not in self._elision_keep else None
                if m:
                    out.append(m.group(1))
                    out.append(t[m.end(1):])
                else:
                    out.append(t)
            tokens = out
        if self._drop_marks:
            tokens = [t.strip(self._drop_marks) for t in tokens]
            tokens = [t for t in tokens if t]
        if s.strip_numbers:
            tokens = [t for t in tokens if not (self._number_re.match(t) and any(c.isdigit() for c in t))]
        if s.min_token_length > 1:
            n = s.min_token_length
            word = self._word_re
            tokens = [t for t in tokens if len(t) >= n or not word.match(t)]
        return tokens

    def tokens(self, text: str) -> list[str]:
        """All tokens of ``text`` ignoring sentence boundaries."""
        return [t for sent in self.sentences(text) for t in sent]

    def sentences(self, text: str) -> Iterator[list[str]]:
        """Yield each sentence of ``text`` as a list of tokens (empty sentences are skipped)."""
        s = self.settings
        if s.pretokenized:
            for line in text.splitlines():
                toks = line.split()
                if toks:
                    yield toks
            return
        text = self.normalize(text)
        parts = self._split_re.split(text)
        # parts alternate: sentence, break, sentence, break, ...
        keep = s.keep_punctuation
        plain = not keep and self._elision is None and not self._drop_marks and not s.strip_numbers \
            and s.min_token_length == 1
        if s.split_punctuation:
            find = self._token_re.findall
            abbrev = self._abbrev
            pending: list[str] = []
            for i in range(0, len(parts), 2):
                toks = find(parts[i])
                brk = parts[i + 1] if i + 1 < len(parts) else ""
                if brk == "." and toks and parts[i][-1:].isalpha() and i + 2 < len(parts) \
                        and self._is_abbreviation(toks[-1], abbrev):
                    # "Mr. Smith", "U.S. Senate": the period belongs to the word, not the sentence
                    pending.extend(toks)
                    if keep:
                        pending.append(".")
                    continue
                if pending:
                    toks = pending + toks
                    pending = []
                if keep and brk:
                    toks.extend(c for c in brk if not c.isspace())
                if not plain:
                    toks = self._filter(toks)
                if toks:
                    yield toks
        else:
            edge = self._edge_re
            for i in range(0, len(parts), 2):
                chunks = parts[i].split()
                if keep and i + 1 < len(parts) and parts[i + 1].strip():
                    if chunks:
                        chunks[-1] += parts[i + 1].strip()
                    else:
                        chunks = [parts[i + 1].strip()]
                if not keep:
                    chunks = [edge.sub("", c) for c in chunks]
                    chunks = [c for c in chunks if c]
                toks = self._filter(chunks)
                if toks:
                    yield toks
