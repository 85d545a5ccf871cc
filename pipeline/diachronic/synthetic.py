"""Synthetic semantic change: known changes injected into one slice of real text.

The words given a change are known, so a method's change ranking can be scored
against them (:func:`.change.average_precision`). Two designs, both on a list
of (donor -> target) word pairs:

* ``insert`` (:func:`insert_pseudowords`, the pseudo-word method): each donor
  token becomes its target with probability ``rate``, so the target starts to
  appear in the donor's contexts. The target's frequency grows with its change
  of meaning, and the donor's falls with none.
* ``swap`` (:func:`swap_preserving_frequency`): for each pair, k = round(rate x
  the target's count) target tokens become the donor and k donor tokens become
  the target, at random positions. Both keep their frequencies; a fraction
  ``rate`` of the target's contexts are now the donor's. The donors change
  too (by k / their count), so leave them out of a ranking.

Either design takes one ``rate`` for every pair or a mapping donor -> rate (graded change:
:mod:`.benchmark` gives each target its own).

:func:`choose_pairs` draws targets and donors from frequency bands of two
unchanged slices (e.g. two halves of one shuffled corpus).

>>> import random
>>> sents = [["the", "cat", "sat"], ["the", "dog", "ran"], ["a", "dog", "sat"]]
>>> insert_pseudowords(sents, {"dog": "cat"}, 1.0, random.Random(0))
[['the', 'cat', 'sat'], ['the', 'cat', 'ran'], ['a', 'cat', 'sat']]
>>> swapped = swap_preserving_frequency(sents, {"dog": "cat"}, 1.0, random.Random(0))
>>> sorted(w for s in swapped for w in s) == sorted(w for s in sents for w in s)
True
"""
from __future__ import annotations

import random
from typing import Callable, Mapping, Sequence

__all__ = ["DESIGNS", "TooFewWords", "band_words", "choose_pairs", "inject_change", "insert_pseudowords",
           "swap_preserving_frequency"]

Sentences = Sequence[Sequence[str]]
#: one rate for every pair, or one per donor (a key of the pairs)
Rate = float | Mapping[str, float]


class TooFewWords(ValueError):
    """A frequency band holds fewer words than asked for: ``role`` (``target`` or ``donor``), and ``found``."""

    def __init__(self, message: str, role: str, found: int):
        super().__init__(message)
        self.role = role
        self.found = found


def _rate_of(rate: Rate, donor: str) -> float:
    return rate[donor] if isinstance(rate, Mapping) else rate


def insert_pseudowords(sentences: Sentences, pairs: Mapping[str, str], rate: Rate,
                       rng: random.Random) -> list[list[str]]:
    """Each donor token (a key of ``pairs``) replaced by its target with probability ``rate`` (one for all
    pairs, or a mapping donor -> rate); new lists."""
    rates = {d: _rate_of(rate, d) for d in pairs}
    out = []
    for s in sentences:
        out.append([pairs[w] if w in pairs and rng.random() < rates[w] else w for w in s])
    return out


def swap_preserving_frequency(sentences: Sentences, pairs: Mapping[str, str], rate: Rate,
                              rng: random.Random) -> list[list[str]]:
    """For each donor -> target pair, k = round(rate * count(target)) occurrences of each word exchanged for
    the other (random positions): both keep their frequency, the target gains donor contexts. ``rate`` is one
    for all pairs, or a mapping donor -> rate. Raises :class:`ValueError` when a donor has fewer than k
    occurrences."""
    positions = {w: [] for p in pairs.items() for w in p}
    for i, s in enumerate(sentences):
        for j, w in enumerate(s):
            if w in positions:
                positions[w].append((i, j))
    out = [list(s) for s in sentences]
    for donor, target in pairs.items():
        k = round(_rate_of(rate, donor) * len(positions[target]))
        if k > len(positions[donor]):
            raise ValueError(f"donor {donor!r} has fewer than {k} occurrences")
        for i, j in rng.sample(positions[target], k):
            out[i][j] = donor
        for i, j in rng.sample(positions[donor], k):
            out[i][j] = target
    return out


DESIGNS: dict[str, Callable[..., list[list[str]]]] = {"insert": insert_pseudowords,
                                                      "swap": swap_preserving_frequency}


def inject_change(sentences: Sentences, pairs: Mapping[str, str], rate: Rate, design: str = "insert",
                  rng: random.Random | int = 1) -> list[list[str]]:
    """``sentences`` with a known change of every target of ``pairs`` (donor -> target) by ``design``
    (``insert`` or ``swap``); ``rate`` is one for all pairs or a mapping donor -> rate; ``rng`` is a
    ``random.Random`` or a seed."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, not {design!r}")
    if isinstance(rate, Mapping) and set(pairs) - set(rate):
        raise ValueError(f"no rate for donor(s) {', '.join(sorted(set(pairs) - set(rate)))}")
    for r in (rate.values() if isinstance(rate, Mapping) else [rate]):
        if not 0 <= r <= 1:
            raise ValueError(f"rate must be in [0, 1], not {r!r}")
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    return DESIGNS[design](sentences, pairs, rate, rng)


def choose_pairs(counts_a: Mapping[str, int], counts_b: Mapping[str, int], n: int, rng: random.Random,
                 target_band: tuple[int, int] = (40, 200), donor_band: tuple[int, int] = (300, 3000)) -> dict[str, str]:
    """``n`` (donor -> target) pairs: targets seen ``target_band`` times in each slice, donors (other words)
    ``donor_band`` times; alphabetic words of three letters or more. Raises :class:`TooFewWords` (a
    :class:`ValueError`) when a band holds fewer than ``n`` words."""

    def band(lo: int, hi: int) -> list[str]:
        return band_words(counts_a, counts_b, (lo, hi))

    def draw(words: list[str], role: str, lo: int, hi: int) -> list[str]:
        if len(words) < n:
            raise TooFewWords(f"{n} {role} words seen {lo} to {hi} times in each slice; found {len(words)}", role,
                              len(words))
        return rng.sample(words, n)

    targets = draw(band(*target_band), "target", *target_band)
    donors = draw([w for w in band(*donor_band) if w not in targets], "donor", *donor_band)
    return dict(zip(donors, targets))


def band_words(counts_a: Mapping[str, int], counts_b: Mapping[str, int], band: tuple[int, int]) -> list[str]:
    """The words :func:`choose_pairs` may draw from ``band``, sorted: seen ``lo`` to ``hi`` times in each slice,
    alphabetic, three letters or more."""
    lo, hi = band
    return sorted(w for w in counts_a if lo <= counts_a[w] <= hi and lo <= counts_b.get(w, 0) <= hi
                  and w.isalpha() and len(w) > 2)
