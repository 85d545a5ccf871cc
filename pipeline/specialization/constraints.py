"""Synonym constraints for lexical specialization, as polars tables.

Every source becomes one *senses* table with the columns ``synset`` (an id),
``lang`` (ISO code), ``word`` (normalised as the dictionaries normalise
words: NFKC, lower case, ``_`` for spaces) and ``source``:

* English WordNet 3.0 as Debian installs it (``/usr/share/wordnet/data.*``,
  read directly): each synset's lemmas, synset id ``wn:<offset><pos>``;
* a FreeDict dictionary (``freedict-eng-spa``): a headword and its
  translations form one "synset" ``freedict:<src>-<tgt>:<headword>``;
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
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from ..errors import InputError
from ..multilingual.dictionaries import normalize_term

log = logging.getLogger(__name__)

__all__ = [
    "SENSE_SCHEMA",
    "senses_frame",
    "read_wordnet_senses",
    "freedict_senses",
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

SENSE_SCHEMA = {"synset": pl.Utf8, "lang": pl.Utf8, "word": pl.Utf8, "source": pl.Utf8}
WORDNET_POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def senses_frame(records: Iterable[tuple[str, str, str]], source: str, lowercase: bool = True) -> pl.DataFrame:
    """A senses table from ``(synset, lang, word)`` records (words normalised, empty ones dropped)."""
    rows = {"synset": [], "lang": [], "word": []}
    for synset, lang, word in records:
        w = normalize_term(word, lowercase)
        if w:
            rows["synset"].append(str(synset))
            rows["lang"].append(str(lang).lower())
            rows["word"].append(w)
    df = pl.DataFrame(rows, schema={k: SENSE_SCHEMA[k] for k in rows})
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


def freedict_senses(pairs: Iterable[tuple[str, str]], source_lang: str, target_lang: str) -> pl.DataFrame:
    """Senses from dictionary pairs: a headword and its translations share one synset."""
    records = []
    for s, t in pairs:
        synset = f"freedict:{source_lang}-{target_lang}:{s}"
        records.append((synset, source_lang, s))
        records.append((synset, target_lang, t))
    return senses_frame(records, source=f"freedict-{source_lang}-{target_lang}")


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
    held = pl.DataFrame(list(set(heldout)), schema={"lang": pl.Utf8, "word": pl.Utf8}, orient="row")
    kept = (pairs.join(held, left_on=["lang_a", "word_a"], right_on=["lang", "word"], how="anti")
            .join(held, left_on=["lang_b", "word_b"], right_on=["lang", "word"], how="anti"))
    return kept, pairs.height - kept.height


def subsample_pairs(pairs: pl.DataFrame, max_pairs: int | None, seed: int = 0) -> pl.DataFrame:
    """At most ``max_pairs`` pairs, each language pair keeping its share (seeded, order kept)."""
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


def read_heldout_file(path: str | Path, default_lang: str = "en") -> set[tuple[str, str]]:
    """Held-out words, one per line: ``<lang> <word>`` or ``<word>`` (then ``default_lang``); ``#`` comments."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a file of held-out words ('<lang> <word>' or '<word>' per line)", "no such file")
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        lang, word = (parts[0], parts[1]) if len(parts) == 2 and 2 <= len(parts[0]) <= 3 else (default_lang, line)
        out.add((lang.lower(), normalize_term(word)))
    return out


class ConstraintSet:
    """Training pairs, held-out BLI test pairs per dictionary and their candidate targets, and counts."""

    def __init__(self, pairs: pl.DataFrame, bli_test: dict[str, list[tuple[str, str]]],
                 bli_targets: dict[str, list[str]], metrics: dict):
        self.pairs = pairs
        self.bli_test = bli_test
        self.bli_targets = bli_targets
        self.metrics = metrics


def prepare_constraints(senses: Sequence[pl.DataFrame], dictionaries: Sequence[tuple] = (),
                        heldout: Iterable[tuple[str, str]] = (), *, max_synset_size: int | None = 10,
                        max_pairs: int | None = None, seed: int = 0) -> ConstraintSet:
    """Pairs to train on, with every evaluation word held out.

    ``dictionaries``: ``(BilingualDictionary, source_lang, target_lang, test_size, seed)``;
    each is split by source word (:meth:`BilingualDictionary.split`); the test
    pairs become a BLI set ``"<src>-<tgt>"`` whose words (both sides) are held
    out, and the training pairs become senses. ``heldout``: more
    ``(lang, word)`` never to train on (e.g. SimLex-999).
    """
    senses = list(senses)
    held = set(heldout)
    n_simlex = len(held)
    bli_test, bli_targets = {}, {}
    metrics: dict = {}
    for d, src, tgt, test_size, split_seed in dictionaries:
        name = f"{src}-{tgt}"
        if test_size:
            train, test = d.split(test_size=int(test_size) if test_size >= 1 else test_size, seed=split_seed)
        else:
            train, test = d, None
        senses.append(freedict_senses(train.pairs, src, tgt))
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
    if pairs.height == 0:
        raise ValueError("no constraint pair is left once the evaluation words are held out")
    return ConstraintSet(pairs, bli_test, bli_targets, metrics)
