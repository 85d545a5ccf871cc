"""Synonym constraints for lexical specialization, as polars tables.

Every source becomes one *senses* table with the columns ``synset`` (an id),
``lang`` (ISO code), ``word`` (normalised as the dictionaries normalise
words: NFKC, lower case, ``_`` for spaces) and ``source``:

* English WordNet 3.0 as Debian installs it (``/usr/share/wordnet/data.*``,
  read directly): each synset's lemmas, synset id ``wn:<offset><pos>``;
* a FreeDict dictionary (``freedict-eng-spa``): a headword and its
  translations form one "synset" ``freedict:<src>-<tgt>:<headword>``;
* a dictionary induced through a pivot language (:func:`pivot_dictionary`:
  English-German and Spanish-German entries joined on the German word give
  English-Spanish pairs), read like a FreeDict dictionary;
* an Apertium bilingual dictionary (Debian ``apertium-eng-spa``:
  ``eng-spa.autobil.bin``) queried with lemmas, e.g. WordNet's, through
  ``lt-proc -b`` (:func:`apertium_pairs`), read like a FreeDict dictionary;
* BabelNet senses harvested with :func:`pipeline.babelnet.harvest_synsets`.

:func:`synonym_pairs` turns senses into deduplicated pairs of words that share
a synset, within and across languages; :func:`drop_heldout` removes every pair
that touches an evaluation word; :func:`plan_batches` lays out the training
batches, one language pair per batch, language pairs drawn with probability
proportional to ``size ** alpha`` (alpha = 0.5).

>>> senses = senses_frame([("s1", "en", "car"), ("s1", "en", "auto"), ("s1", "es", "coche"),
...                        ("s2", "en", "car"), ("s2", "en", "railcar")], source="toy")
>>> pairs = synonym_pairs(senses)
>>> sorted(zip(pairs["word_a"], pairs["word_b"], pairs["lang_pair"]))
[('auto', 'car', 'en-en'), ('auto', 'coche', 'en-es'), ('car', 'coche', 'en-es'), ('car', 'railcar', 'en-en')]
>>> kept, dropped = drop_heldout(pairs, {("en", "auto")})
>>> kept.height, dropped
(2, 2)
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import InputError, read_utf8
from ..multilingual.dictionaries import BilingualDictionary, normalize_term

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

log = logging.getLogger(__name__)

__all__ = [
    "SENSE_COLUMNS",
    "SENSE_SCHEMA",
    "senses_frame",
    "read_wordnet_senses",
    "freedict_senses",
    "DictionarySource",
    "pivot_dictionary",
    "apertium_pairs",
    "parse_apertium_bilingual",
    "babelnet_senses",
    "synonym_pairs",
    "drop_heldout",
    "subsample_pairs",
    "plan_batches",
    "language_pair_weights",
    "read_heldout_file",
    "ConstraintSet",
    "prepare_constraints",
]

SENSE_COLUMNS = ("synset", "lang", "word", "source")  # every one a string
WORDNET_POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def __getattr__(name: str):
    if name == "SENSE_SCHEMA":  # polars dtypes, built on use: importing this module does not load polars
        import polars as pl

        return dict.fromkeys(SENSE_COLUMNS, pl.Utf8)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def senses_frame(records: Iterable[tuple[str, str, str]], source: str, lowercase: bool = True) -> pl.DataFrame:
    """A senses table from ``(synset, lang, word)`` records (words normalised, empty ones dropped)."""
    import polars as pl

    rows = {"synset": [], "lang": [], "word": []}
    for synset, lang, word in records:
        w = normalize_term(word, lowercase)
        if w:
            rows["synset"].append(str(synset))
            rows["lang"].append(str(lang).lower())
            rows["word"].append(w)
    df = pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.Utf8))
    return df.with_columns(pl.lit(source, dtype=pl.Utf8).alias("source")).unique(maintain_order=True)


def _strip_marker(word: str) -> str:
    # adjectives may carry a syntactic marker: "galore(ip)", "elect(p)", "former(a)"
    if word.endswith(")") and "(" in word:
        return word[: word.rindex("(")]
    return word


def read_wordnet_senses(root: str | Path = "/usr/share/wordnet", pos: Sequence[str] = ("n", "v", "a", "r"),
                        lang: str = "en") -> pl.DataFrame:
    """Every (synset, word) of WordNet's ``data.<pos>`` files (the WNDB format, wndb(5WN)).

    A data line is ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt ... | gloss``
    with ``w_cnt`` in hexadecimal; lines starting with spaces are the licence header.
    """
    root = Path(root)
    records: list[tuple[str, str, str]] = []
    for p in pos:
        if p not in WORDNET_POS:
            raise InputError(root, f"WordNet parts of speech among {', '.join(WORDNET_POS)}", f"found {p!r}")
        path = root / f"data.{WORDNET_POS[p]}"
        if not path.is_file():
            raise InputError(path, "a WordNet data file (Debian package wordnet-base)", "no such file")
        with open(path, encoding="utf-8", errors="strict") as f:
            for line_no, line in enumerate(f, start=1):
                if line.startswith("  ") or not line.strip():
                    continue
                fields = line.split(" ", 4 + 2 * 255)
                try:
                    offset, ss_type, n_words = fields[0], fields[2], int(fields[3], 16)
                    words = fields[4: 4 + 2 * n_words: 2]
                except (IndexError, ValueError):
                    raise InputError(path, f"'offset lex_filenum ss_type w_cnt word lex_id ...' on line {line_no}",
                                     f"found {line[:60]!r}") from None
                lex_ids = fields[5: 5 + 2 * n_words: 2]
                p_cnt = fields[4 + 2 * n_words] if len(fields) > 4 + 2 * n_words else ""
                if (len(words) != n_words or not offset.isdigit() or not p_cnt.isdigit()
                        or not all(len(x) == 1 and x in "0123456789abcdef" for x in lex_ids)):
                    raise InputError(path, f"{n_words} words after the synset header on line {line_no}",
                                     f"found {line[:60]!r}")
                synset = f"wn:{offset}{'a' if ss_type == 's' else ss_type}"
                records.extend((synset, lang, _strip_marker(w)) for w in words)
    df = senses_frame(records, source="wordnet")
    log.info("%s: %d WordNet senses in %d synsets", root, df.height, df["synset"].n_unique())
    return df


def freedict_senses(pairs: Iterable[tuple[str, str]], source_lang: str, target_lang: str,
                    name: str | None = None) -> pl.DataFrame:
    """Senses from dictionary pairs: a headword and its translations share one synset.

    The synset id is ``freedict:<name>:<headword>``, ``name`` defaulting to
    ``<source_lang>-<target_lang>`` (two dictionaries of one language pair
    need two names to keep their entries apart).
    """
    records = []
    name = name or f"{source_lang}-{target_lang}"
    for s, t in pairs:
        synset = f"freedict:{name}:{s}"
        records.append((synset, source_lang, s))
        records.append((synset, target_lang, t))
    return senses_frame(records, source=f"freedict-{source_lang}-{target_lang}")


@dataclass(frozen=True)
class DictionarySource:
    """A bilingual dictionary read as ``source_lang`` -> ``target_lang`` pairs, as a constraint source.

    For :func:`prepare_constraints`, ``test_size`` of its source words (a
    fraction, or a whole number of words; split with ``seed``) become the BLI
    test set ``name`` (default ``"<source_lang>-<target_lang>"``); 0 makes it
    a source of training pairs only. ``dictionary`` may be a
    :class:`~pipeline.multilingual.dictionaries.BilingualDictionary` or any
    iterable of ``(source word, target word)`` pairs.
    """

    dictionary: BilingualDictionary
    source_lang: str
    target_lang: str
    test_size: float = 0
    seed: int = 0
    name: str | None = None

    def __post_init__(self):
        if not isinstance(self.dictionary, BilingualDictionary):
            object.__setattr__(self, "dictionary", BilingualDictionary(tuple(map(tuple, self.dictionary))))


def pivot_dictionary(dictionaries: Iterable[DictionarySource], source_lang: str, target_lang: str, via: str,
                     max_fanout: int = 3, multiword: bool = False) -> list[tuple[str, str]]:
    """``(source word, target word)`` pairs induced through a pivot language, sorted and distinct.

    ``dictionaries``: each between ``via`` and
    ``source_lang`` or ``target_lang`` (either direction; several may serve
    one side, e.g. deu-eng and eng-deu). Two words are paired when they
    translate one pivot word, and only through pivot words with at most
    ``max_fanout`` distinct translations on each side: a polysemous pivot
    word ("Bank") would otherwise pair every sense with every other. Pairs
    with a multiword entry (``_``) are left out unless ``multiword``.

    >>> en_de = DictionarySource([("bank", "bank"), ("bench", "bank"), ("bank", "ufer"), ("dog", "hund")], "en", "de")
    >>> es_de = DictionarySource([("perro", "hund"), ("banco", "bank"), ("orilla", "ufer")], "es", "de")
    >>> pivot_dictionary([en_de, es_de], "en", "es", via="de", max_fanout=1)
    [('bank', 'orilla'), ('dog', 'perro')]
    >>> pivot_dictionary([en_de, es_de], "en", "es", via="de", max_fanout=2)
    [('bank', 'banco'), ('bank', 'orilla'), ('bench', 'banco'), ('dog', 'perro')]
    """
    import polars as pl

    if max_fanout < 1:
        raise ValueError("a positive max_fanout")
    if len({source_lang, target_lang, via}) != 3:
        raise ValueError(f"three different languages for a pivot: {source_lang}, {target_lang} via {via}")
    sides: dict[str, list[tuple[str, str]]] = {source_lang: [], target_lang: []}
    for d in dictionaries:  # rows (pivot word, word)
        pairs, lang_1, lang_2 = d.dictionary.pairs, d.source_lang, d.target_lang
        if lang_1 == via and lang_2 in sides:
            sides[lang_2].extend((p, w) for p, w in pairs)
        elif lang_2 == via and lang_1 in sides:
            sides[lang_1].extend((p, w) for w, p in pairs)
        else:
            raise ValueError(f"a pivot dictionary between {via} and {source_lang} or {target_lang}; "
                             f"found {lang_1}-{lang_2}")
    frames = {}
    for lang, rows in sides.items():
        if not rows:
            raise ValueError(f"no {via}-{lang} dictionary for the pivot {source_lang}-{target_lang} via {via}")
        df = pl.DataFrame(rows, schema={"pivot": pl.Utf8, lang: pl.Utf8}, orient="row").unique()
        if not multiword:
            df = df.filter(~pl.col(lang).str.contains("_", literal=True))
        frames[lang] = df.filter(pl.len().over("pivot") <= max_fanout)
    joined = frames[source_lang].join(frames[target_lang], on="pivot").select(source_lang, target_lang)
    return [tuple(r) for r in joined.unique().sort(source_lang, target_lang).iter_rows()]


# WordNet part of speech -> the Apertium tags a lemma is looked up with (singular noun, infinitive, adjective
# with and without synthetic comparison -- "big<adj><sint>", "red<adj>" --, adverb)
APERTIUM_TAGS = {"n": ("<n><sg>",), "v": ("<vblex><inf>",), "a": ("<adj>", "<adj><sint>"), "r": ("<adv>",)}
_APERTIUM_UNIT = re.compile(r"\^((?:\\.|[^$\\])*)\$")
_APERTIUM_SPECIAL = set("^$/<>@\\{}[]*#+~")


def parse_apertium_bilingual(text: str, multiword: bool = False) -> list[tuple[str, str]]:
    """``(source lemma, target lemma)`` pairs from ``lt-proc -b`` output, distinct, in order.

    Each lexical unit reads ``^lemma<tags>/translation<tags>/...$``; an
    unknown word is ``@lemma<tags>``; ``#`` marks the invariable part of a
    multiword lemma (``take<vblex># part``), kept (as ``take_part``) only with
    ``multiword``. Words are normalised like dictionary words.

    >>> parse_apertium_bilingual("^house<n><sg>/casa<n><f><sg>/cámara<n><f><sg>$ ^zzz<n><sg>/@zzz<n><sg>$ "
    ...                          "^take<vblex><inf>/tomar<vblex><inf># parte$")
    [('house', 'casa'), ('house', 'cámara')]
    """
    out: dict[tuple[str, str], None] = {}

    def lemma(part: str) -> str:
        return normalize_term(re.sub(r"<[^>]*>", "", part).replace("#", "").replace("\\", ""))

    for unit in _APERTIUM_UNIT.findall(text):
        parts = re.split(r"(?<!\\)/", unit)
        source = lemma(parts[0])
        for part in parts[1:]:
            target = lemma(part)
            if part.startswith("@") or not source or not target:
                continue
            if not multiword and ("_" in source or "_" in target):
                continue
            out.setdefault((source, target), None)
    return list(out)


def apertium_pairs(bidix: str | Path, lemmas: Iterable[tuple[str, str]], *, multiword: bool = False,
                   lt_proc: str = "lt-proc") -> list[tuple[str, str]]:
    """Translate ``(lemma, WordNet pos)`` with a compiled Apertium bilingual dictionary (``lt-proc -b``).

    ``pos`` is ``n``, ``v``, ``a`` or ``r`` (:data:`APERTIUM_TAGS`);
    lemmas with ``_`` (unless ``multiword``) or Apertium's reserved characters
    are skipped. Needs lttoolbox's ``lt-proc`` (Debian ``lttoolbox``, pulled in
    by ``apertium-eng-spa``).
    """
    bidix = Path(bidix)
    if not bidix.is_file():
        raise InputError(bidix, "a compiled Apertium bilingual dictionary (e.g. Debian apertium-eng-spa's "
                                "eng-spa.autobil.bin)", "no such file")
    exe = shutil.which(lt_proc)
    if exe is None:
        raise InputError(bidix, "lttoolbox's lt-proc on PATH to read it (Debian package lttoolbox)",
                         f"no {lt_proc!r} found")
    units = []
    for word, pos in dict.fromkeys(lemmas):
        if pos not in APERTIUM_TAGS:
            raise ValueError(f"a WordNet part of speech among {', '.join(APERTIUM_TAGS)}; found {pos!r}")
        if not word or (not multiword and "_" in word) or _APERTIUM_SPECIAL & set(word):
            continue
        units.extend(f"^{word.replace('_', ' ')}{tags}$" for tags in APERTIUM_TAGS[pos])
    if not units:
        return []
    run = subprocess.run([exe, "-b", str(bidix)], input="\n".join(units) + "\n", capture_output=True, text=True,
                         encoding="utf-8")
    if run.returncode != 0:
        raise InputError(bidix, "a dictionary lt-proc -b can read", f"lt-proc failed: {run.stderr.strip()[:200]}")
    pairs = parse_apertium_bilingual(run.stdout, multiword)
    log.info("%s: %d pairs for %d lemmas", bidix, len(pairs), len(units))
    return pairs


def babelnet_senses(records: Iterable[tuple[str, str, str]]) -> pl.DataFrame:
    """Senses from :func:`pipeline.babelnet.harvest_synsets` records ``(synset id, lang, lemma)``."""
    return senses_frame(records, source="babelnet")


def synonym_pairs(senses: pl.DataFrame, max_synset_size: int | None = None) -> pl.DataFrame:
    """Distinct unordered pairs of words that share a synset, within and across languages.

    Columns: ``lang_a, word_a, lang_b, word_b, synset, lang_pair`` with
    ``(lang_a, word_a) < (lang_b, word_b)`` and ``lang_pair = "<lang_a>-<lang_b>"``;
    a pair found in several synsets is kept once (first synset id in sort
    order). ``max_synset_size`` keeps the first words of a large synset (pairs
    grow with its square).
    """
    import polars as pl

    s = senses.select("synset", "lang", "word").unique(maintain_order=True)
    if max_synset_size:
        s = s.filter(pl.int_range(pl.len()).over("synset") < max_synset_size)
    a = s.rename({"lang": "lang_a", "word": "word_a"})
    b = s.rename({"lang": "lang_b", "word": "word_b"})
    pairs = a.join(b, on="synset").filter(
        (pl.col("lang_a") < pl.col("lang_b"))
        | ((pl.col("lang_a") == pl.col("lang_b")) & (pl.col("word_a") < pl.col("word_b"))))
    return (pairs.sort("synset", "lang_a", "word_a", "lang_b", "word_b")
            .unique(["lang_a", "word_a", "lang_b", "word_b"], keep="first", maintain_order=True)
            .with_columns((pl.col("lang_a") + "-" + pl.col("lang_b")).alias("lang_pair"))
            .select("lang_a", "word_a", "lang_b", "word_b", "synset", "lang_pair"))


def drop_heldout(pairs: pl.DataFrame, heldout: Iterable[tuple[str, str]]) -> tuple[pl.DataFrame, int]:
    """The pairs with neither word among the held-out ``(lang, word)``; and how many were dropped."""
    import polars as pl

    held = pl.DataFrame(list(set(heldout)), schema={"lang": pl.Utf8, "word": pl.Utf8}, orient="row")
    kept = (pairs.join(held, left_on=["lang_a", "word_a"], right_on=["lang", "word"], how="anti")
            .join(held, left_on=["lang_b", "word_b"], right_on=["lang", "word"], how="anti"))
    return kept, pairs.height - kept.height


def subsample_pairs(pairs: pl.DataFrame, max_pairs: int | None, seed: int = 0) -> pl.DataFrame:
    """At most ``max_pairs`` pairs, each language pair keeping its share (seeded, order kept)."""
    import polars as pl

    if not max_pairs or pairs.height <= max_pairs:
        return pairs
    parts = []
    for (lp,), group in pairs.group_by("lang_pair", maintain_order=True):
        n = max(1, round(max_pairs * group.height / pairs.height))
        parts.append(group.with_row_index("_i").sample(n=min(n, group.height), seed=seed).sort("_i").drop("_i"))
    return pl.concat(parts)


def language_pair_weights(sizes: dict[str, int], alpha: float = 0.5) -> dict[str, float]:
    """Sampling probabilities proportional to ``size ** alpha``.

    >>> {k: round(v, 3) for k, v in language_pair_weights({"en-en": 900, "en-es": 100}).items()}
    {'en-en': 0.75, 'en-es': 0.25}
    """
    raw = {k: float(v) ** alpha for k, v in sizes.items() if v > 0}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def plan_batches(lang_pairs: Sequence[str], batch_pairs: int, epochs: int, alpha: float = 0.5,
                 seed: int = 0) -> list[np.ndarray]:
    """Row indices of every training batch, in order: a pure function of its arguments.

    An epoch has ``ceil(n / batch_pairs)`` batches. Each batch draws its
    language pair with probability ``size ** alpha`` (normalised), then takes
    the next ``batch_pairs`` rows of that language pair from a stream that is
    reshuffled whenever it runs out. A resumed run recomputes the same plan.
    """
    import numpy as np

    lang_pairs = np.asarray(lang_pairs, dtype=object)
    n = len(lang_pairs)
    if n == 0:
        raise ValueError("no constraint pairs to train on")
    names, codes = np.unique(lang_pairs.astype(str), return_inverse=True)
    rows = {i: np.flatnonzero(codes == i) for i in range(len(names))}
    weights = language_pair_weights({i: len(r) for i, r in rows.items()}, alpha)
    keys = sorted(weights)
    probs = np.array([weights[k] for k in keys])
    rng = np.random.default_rng(seed)
    streams = {k: rng.permutation(rows[k]) for k in keys}
    cursor = {k: 0 for k in keys}
    plan = []
    for _ in range(epochs):
        for _ in range(-(-n // batch_pairs)):
            k = keys[int(rng.choice(len(keys), p=probs))]
            take = min(batch_pairs, len(rows[k]))
            if cursor[k] + take > len(streams[k]):
                streams[k] = rng.permutation(rows[k])
                cursor[k] = 0
            plan.append(streams[k][cursor[k]: cursor[k] + take])
            cursor[k] += take
    return plan


# --------------------------------------------------------------------------- one call for a stage


def read_heldout_file(path: str | Path, default_lang: str = "en",
                      languages: Iterable[str] = ()) -> set[tuple[str, str]]:
    """Held-out words, one per line: ``<lang> <word>`` or ``<word>`` (then ``default_lang``); ``#`` comments.

    The first word of a line is its language only when it is a two-letter
    ISO 639-1 code (``es casa``) or one of ``languages`` (e.g. ``swh``): a
    line such as ``new york`` or ``red wine`` is the multiword ``new_york``
    in ``default_lang`` (almost every three-letter word is some ISO 639-3
    code, so a three-letter code must be named to count). Raises
    :class:`InputError` naming the file (and line) for text that is not
    UTF-8 and for a file with no word.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "heldout.txt"
    >>> _ = p.write_text("es casa\\nnew york\\nswh nyumba\\ncar\\n", encoding="utf-8")
    >>> sorted(read_heldout_file(p, languages={"swh"}))
    [('en', 'car'), ('en', 'new_york'), ('es', 'casa'), ('swh', 'nyumba')]
    """
    from ..languages import ISO_639_1

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a file of held-out words ('<lang> <word>' or '<word>' per line)", "no such file")
    named = {code.lower() for code in languages}
    text = read_utf8(path, "a UTF-8 file of held-out words")
    out = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        code = parts[0].lower()
        is_lang = len(parts) == 2 and (code in named or (len(code) == 2 and code in ISO_639_1))
        lang, word = (code, parts[1]) if is_lang else (default_lang, line)
        out.add((lang.lower(), normalize_term(word)))
    if not out:
        raise InputError(path, "at least one held-out word ('<lang> <word>' or '<word>' per line)",
                         "none (only blank or comment lines)")
    return out


@dataclass(frozen=True)
class ConstraintSet:
    """Training pairs, held-out BLI test pairs per dictionary and their candidate targets, and counts."""

    pairs: pl.DataFrame
    bli_test: dict[str, list[tuple[str, str]]]
    bli_targets: dict[str, list[str]]
    metrics: dict


def prepare_constraints(senses: Sequence[pl.DataFrame], dictionaries: Sequence[DictionarySource] = (),
                        heldout: Iterable[tuple[str, str]] = (), *, max_synset_size: int | None = 10,
                        max_pairs: int | None = None, seed: int = 0) -> ConstraintSet:
    """Pairs to train on, with every evaluation word held out.

    Each of ``dictionaries`` (:class:`DictionarySource`) is split by source
    word (:meth:`BilingualDictionary.split`); the test pairs become a BLI set
    named ``name`` (default ``"<src>-<tgt>"``; a name
    already taken gets ``.2``, ``.3``, ...) whose words (both sides) are held
    out of *every* source, and the training pairs become senses. A
    dictionary with ``test_size`` 0 (e.g. the reverse dictionary spa-eng
    swapped, or a :func:`pivot_dictionary`) only adds training pairs.
    ``heldout``: more ``(lang, word)`` never to train on (e.g. SimLex-999).
    """
    import polars as pl

    senses = list(senses)
    held = set(heldout)
    n_simlex = len(held)
    bli_test, bli_targets = {}, {}
    metrics: dict = {}
    for entry in dictionaries:
        d, src, tgt, test_size, split_seed = (entry.dictionary, entry.source_lang, entry.target_lang,
                                              entry.test_size, entry.seed)
        base = entry.name or f"{src}-{tgt}"
        name, k = base, 1
        while f"dictionary_{name}_pairs" in metrics:
            k += 1
            name = f"{base}.{k}"
        if test_size:
            train, test = d.split(test_size=int(test_size) if test_size >= 1 else test_size, seed=split_seed)
        else:
            train, test = d, None
        senses.append(freedict_senses(train.pairs, src, tgt, name))
        metrics[f"dictionary_{name}_pairs"] = len(d)
        metrics[f"dictionary_{name}_train_pairs"] = len(train)
        if test is not None and len(test):
            bli_test[name] = list(test.pairs)
            bli_targets[name] = list(dict.fromkeys(t for _, t in d.pairs))
            held |= {(src, s) for s, _ in test.pairs} | {(tgt, t) for _, t in test.pairs}
            metrics[f"dictionary_{name}_test_pairs"] = len(test)
    if not senses:
        raise ValueError("no constraint source")
    all_senses = pl.concat(senses, how="vertical")
    pairs = synonym_pairs(all_senses, max_synset_size)
    metrics["constraint_pairs_all"] = pairs.height
    pairs, dropped = drop_heldout(pairs, held)
    metrics["constraint_pairs_heldout_dropped"] = dropped
    pairs = subsample_pairs(pairs, max_pairs, seed)
    metrics["constraint_pairs"] = pairs.height
    metrics["heldout_words"] = len(held)
    metrics["heldout_words_given"] = n_simlex
    for lp, n in pairs.group_by("lang_pair").len().sort("lang_pair").iter_rows():
        metrics[f"constraint_pairs_{lp}"] = n
    metrics["constraint_synsets"] = pairs["synset"].n_unique()
    if metrics["constraint_pairs_all"] == 0:  # not the held-out words' fault: say so
        raise ValueError(f"constraint sources whose senses pair two words in one synset; found none in "
                         f"{all_senses.height} senses")
    if pairs.height == 0:
        raise ValueError("no constraint pair is left once the evaluation words are held out")
    return ConstraintSet(pairs, bli_test, bli_targets, metrics)
