"""Graded semantic change benchmarks in the SemEval-2020 Task 1 layout, injected into real text.

No luigi here. :func:`make_change_benchmark` takes real sentences, splits them into two corpora (or takes
two), gives each of ``n_targets`` words a known amount of change in corpus2 with a design of
:mod:`.synthetic`, and writes a folder :func:`.gold.read_semeval` reads::

    corpus1/token/corpus1.txt.gz     one sentence per line, tokens separated by spaces
    corpus2/token/corpus2.txt.gz     the same, with the change injected
    targets.txt                      changed and stable targets, sorted
    truth/graded.txt                 target<TAB>share of corpus2 uses carrying injected contexts
    truth/binary.txt                 target<TAB>1 if its rate >= binary_threshold, else 0
    design.json                      every setting, and per target its band, donor, rate, share, counts
    README.md                        the same in words

The graded truth is the *share* ``s`` of the target's corpus2 occurrences that stand where its donor stood
(the change level a method should recover, comparable across designs): each target is given a rate, the
share it should reach, and the graded file holds the share it reached, measured on the written text. The
binary file says whether the rate (the designed change, free of rounding and sampling) is at least
``binary_threshold``:

* ``swap``: k = round(rate x count) target tokens trade places with k donor tokens, so s = k / count
  (the rate up to rounding); frequencies do not change, so counting cannot find the change.
* ``insert``: each donor token becomes the target with probability p = rate x count_t / ((1 - rate) x
  count_d) (counts in corpus2), so about rate / (1 - rate) x count_t new occurrences arrive and s = new /
  (old + new); the target's frequency grows with its change, as a new sense's does.

Targets come from frequency ``bands`` (counts in each corpus before injection), with the rates spread over
every band so that frequency does not predict change, and each target gets a donor from ``donor_band``
(more frequent words, which change too and are left out of ``targets.txt``). ``n_stable`` control targets
from the same bands keep rate 0: their tokens are left as they are. With two corpora given (rather than one
split in two), a stable target has no *injected* change; whatever the corpora differ by is still there.

>>> import tempfile, pathlib, random
>>> rng = random.Random(0)
>>> words = [a + b + c for a in "bdfgk" for b in "aeiou" for c in "lmnrst"]  # 150 words, Zipf-like use
>>> text = [[rng.choice(words[: 1 + rng.randrange(150)]) for _ in range(12)] for _ in range(3000)]
>>> out = make_change_benchmark(text, pathlib.Path(tempfile.mkdtemp()) / "toy", n_targets=4, n_stable=2,
...                             bands=[(40, 120)], donor_band=(400, 5000), seed=1)
>>> from pipeline.diachronic.gold import read_semeval
>>> gold = read_semeval(out)
>>> len(gold.targets), gold.kinds, sorted(gold.binary.values())
(6, ('token',), [0, 0, 0, 1, 1, 1])
"""
from __future__ import annotations

import gzip
import json
import math
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .synthetic import DESIGNS, TooFewWords, band_words, choose_pairs, inject_change

__all__ = ["BENCHMARK_FORMAT", "TRAJECTORIES", "BenchmarkTooSmall", "TargetPlan", "default_rates",
           "make_change_benchmark", "plan_targets", "read_sentences"]

#: written into design.json; bump when the folder's meaning changes
BENCHMARK_FORMAT = "chronolingua-change-benchmark/1"

Sentences = list[list[str]]

#: the change trajectories of a benchmark with more than two corpora: a changed target's level in corpus k
#: (1-based, of n) as a share of its rate. ``sudden``: all of it from corpus2 on; ``gradual``: a steady rise;
#: ``transient``: all of it in the middle corpora, none in the last (a use that came and went)
TRAJECTORIES = {
    "sudden": lambda k, n: 0.0 if k == 1 else 1.0,
    "gradual": lambda k, n: (k - 1) / (n - 1),
    "transient": lambda k, n: 1.0 if 1 < k < n else 0.0,
}


class BenchmarkTooSmall(ValueError):
    """The text is too small for a setting of :func:`make_change_benchmark`: ``key`` names it (``n_targets``,
    ``n_stable``, ``donor_band``, ``corpora``); the message says what there is and what would fit."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class TargetPlan:
    """One target of a benchmark: ``role`` ``changed`` (with its ``donor``) or ``stable`` (rate 0)."""

    target: str
    role: str
    band: tuple[int, int]
    rate: float
    donor: str | None = None


def default_rates(n: int, max_rate: float = 0.8) -> list[float]:
    """``n`` change levels evenly spread over (0, ``max_rate``]: ``max_rate x (i + 1) / n``.

    >>> default_rates(4)
    [0.2, 0.4, 0.6, 0.8]
    """
    return [round(max_rate * (i + 1) / n, 6) for i in range(n)]


# --------------------------------------------------------------------------------------------- input


def _is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _read_one(path: Path) -> Sentences:
    from ..corpora.reader import LineCorpus

    if path.is_dir():
        from ..corpora.declaration import DECLARATION_FILE, load_declaration
        from ..corpora.reader import iter_documents
        from ..corpora.tokenize import Tokenizer

        if not (path / DECLARATION_FILE).is_file():
            from ..errors import InputError

            raise InputError(path, f"a token file, or a corpus folder with {DECLARATION_FILE}", "a folder without one")
        decl = load_declaration(path)
        tok = Tokenizer(decl.language)
        return [s for doc in iter_documents(decl) for s in tok.sentences(doc.text)]
    return [list(s) for s in LineCorpus(path)]


def read_sentences(source) -> Sentences:
    """Token lists from ``source``: token files (one sentence per line, ``.gz`` too, read with
    :class:`~pipeline.corpora.reader.LineCorpus`), corpus folders (``corpus.yaml``; tokenised with the
    project's :class:`~pipeline.corpora.tokenize.Tokenizer` for its language), a list of those, or an
    iterable of token lists (taken as they are, empty ones dropped: a file would drop them too)."""
    if _is_path(source):
        return _read_one(Path(source))
    items = list(source)
    if items and all(_is_path(x) for x in items):
        return [s for x in items for s in _read_one(Path(x))]
    out = [list(s) for s in items if len(s)]
    for s in out:  # a token with whitespace (or not a string) would not survive the round trip through a file
        if not all(isinstance(w, str) for w in s) or " ".join(s).split() != s:
            raise ValueError(f"sentences must be lists of non-empty tokens without whitespace; found {s[:8]!r}")
    return out


# --------------------------------------------------------------------------------------------- the plan


def _spread(items: Sequence, n_bands: int) -> list[list]:
    """``items`` dealt to ``n_bands`` bands back and forth (0, 1, 1, 0, 0, 1, ...): with sorted rates, every
    band gets low and high ones, and no band's rates are higher on average by the dealing order.

    >>> _spread([1, 2, 3, 4, 5, 6, 7, 8], 2)
    [[1, 4, 5, 8], [2, 3, 6, 7]]
    """
    out: list[list] = [[] for _ in range(n_bands)]
    for i, x in enumerate(items):
        turn, pos = divmod(i, n_bands)
        out[pos if turn % 2 == 0 else n_bands - 1 - pos].append(x)
    return out


def _need(design: str, rate: float, count_t: int) -> int:
    """Donor occurrences in corpus2 that a target seen ``count_t`` times needs to reach share ``rate``."""
    if design == "swap":
        return round(rate * count_t)
    return math.ceil(rate / (1 - rate) * count_t) if rate > 0 else 0


def plan_targets(counts1: Counter, counts2: Counter, *, design: str, rates: Sequence[float],
                 bands: Sequence[tuple[int, int]], donor_band: tuple[int, int], n_stable: int,
                 rng: random.Random) -> list[TargetPlan]:
    """Which words change, how much, and from which donor.

    The rates (sorted) are dealt to the bands back and forth (:func:`_spread`), and so are the stable
    controls. In each band,
    :func:`.synthetic.choose_pairs` draws the targets and as many donors; the band's rates go to its targets
    in random order, then the donors are matched by need (the target needing the most donor occurrences
    gets the most frequent donor). No word is drawn twice in any role. Raises :class:`BenchmarkTooSmall` (a
    :class:`ValueError`, naming the setting) when a band or the donor band holds too few words, or a donor is
    too rare for its target's rate.
    """
    used: set[str] = set()

    def available(counts: Counter) -> dict[str, int]:
        return {w: c for w, c in counts.items() if w not in used}

    plans: list[TargetPlan] = []
    band_rates = _spread(sorted(rates), len(bands))
    band_stable = [len(x) for x in _spread(list(range(n_stable)), len(bands))]
    for band, brates, nstable in zip(bands, band_rates, band_stable):
        band = (int(band[0]), int(band[1]))
        if brates:
            a1, a2 = available(counts1), available(counts2)
            try:
                pairs = choose_pairs(a1, a2, len(brates), rng, target_band=band, donor_band=tuple(donor_band))
            except TooFewWords as exc:
                said = f"band {band[0]}-{band[1]}: {exc} (after {len(used)} words taken by earlier bands)"
                if exc.role == "donor":
                    raise BenchmarkTooSmall("donor_band", f"{said}; the band's {len(brates)} targets need a donor "
                                            f"each: widen donor_band {tuple(donor_band)}, or lower n_targets "
                                            f"({exc.found * len(bands)} or fewer gives this band at most "
                                            f"{exc.found})") from None
                fits = (f"n_targets {exc.found * len(bands)} or fewer fits it ({len(bands)} band"
                        f"{'s share' if len(bands) > 1 else ' takes'} them)" if exc.found else "it has no word to give")
                raise BenchmarkTooSmall("n_targets", f"{said}; {fits}, or widen the band (bands)") from None
            targets = list(pairs.values())
            shuffled = list(brates)
            rng.shuffle(shuffled)
            rate_of = dict(zip(targets, shuffled))
            by_need = sorted(targets, key=lambda t: (-_need(design, rate_of[t], counts2[t]), t))
            donors = sorted(pairs, key=lambda d: (-counts2[d], d))
            for t, d in zip(by_need, donors):
                need = _need(design, rate_of[t], counts2[t])
                if counts2[d] < need:
                    raise BenchmarkTooSmall(
                        "donor_band", f"design {design!r}: target {t!r} (seen {counts2[t]} times in corpus2) needs a donor seen "
                        f"at least {need} times for rate {rate_of[t]:g}; its donor {d!r} (the band's donors go by "
                        f"frequency to its targets by need) is seen {counts2[d]} times. Raise donor_band "
                        f"{tuple(donor_band)} or lower the rates")
                plans.append(TargetPlan(t, "changed", band, float(rate_of[t]), d))
                used.update((t, d))
        if nstable:
            a1, a2 = available(counts1), available(counts2)
            pool = band_words(a1, a2, band)
            if len(pool) < nstable:
                fits = (f"n_stable {len(pool) * len(bands)} or fewer fits it ({len(bands)} band"
                        f"{'s share' if len(bands) > 1 else ' takes'} them)" if pool else "it has no word to give")
                raise BenchmarkTooSmall("n_stable", f"{nstable} stable words seen {band[0]} to {band[1]} times in "
                                        f"each corpus; found {len(pool)} not already drawn; {fits}, or widen the "
                                        "band (bands)")
            for t in rng.sample(pool, nstable):
                plans.append(TargetPlan(t, "stable", band, 0.0))
                used.add(t)
    return plans


# --------------------------------------------------------------------------------------------- writing


def _write_corpus(path: Path, sentences: Iterable[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 and no file name in the header: the same benchmark is the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for s in sentences:
            gz.write((" ".join(s) + "\n").encode("utf-8"))


def _readme(design: dict) -> str:
    t = design["targets"]
    changed = sum(1 for x in t.values() if x["role"] == "changed")
    positive = sum(1 for x in t.values() if x["binary"])
    rates = ", ".join(f"{r:g}" for r in design["rates"])
    bands = ", ".join(f"{lo}-{hi}" for lo, hi in design["bands"])
    lo, hi = design["donor_band"]
    return (
        f"# Generated graded change benchmark ({design['design']} design)\n\n"
        f"SemEval-2020 Task 1 layout, generated by `pipeline.diachronic.benchmark.make_change_benchmark` "
        f"(seed {design['seed']}). Read it with `pipeline.diachronic.gold.read_semeval`.\n\n"
        f"- corpus1: {design['corpora']['corpus1']['sentences']} sentences, "
        f"{design['corpora']['corpus1']['tokens']} tokens; corpus2: {design['corpora']['corpus2']['sentences']} "
        f"sentences, {design['corpora']['corpus2']['tokens']} tokens ({design['source']})\n"
        f"- {len(t)} targets: {changed} changed in corpus2 at rates {rates}, {len(t) - changed} stable (rate 0), "
        f"from frequency bands {bands} (counts in each corpus); donors from {lo}-{hi}\n"
        f"- truth/graded.txt: the share of the target's corpus2 occurrences that stand where its donor stood "
        f"(measured on the written text)\n"
        f"- truth/binary.txt: 1 when the target's rate is >= {design['binary_threshold']:g} ({positive} of "
        f"{len(t)})\n\n"
        f"Every setting and, per target, its band, donor, rate, share and counts are in design.json.\n")


def _write_folder(tmp: Path, c1: Sentences, c2: Sentences, design: dict) -> None:
    _write_corpus(tmp / "corpus1" / "token" / "corpus1.txt.gz", c1)
    _write_corpus(tmp / "corpus2" / "token" / "corpus2.txt.gz", c2)
    targets = sorted(design["targets"])
    (tmp / "targets.txt").write_text("".join(f"{t}\n" for t in targets), encoding="utf-8")
    (tmp / "truth").mkdir()
    (tmp / "truth" / "graded.txt").write_text(
        "".join(f"{t}\t{design['targets'][t]['graded']:.6f}\n" for t in targets), encoding="utf-8")
    (tmp / "truth" / "binary.txt").write_text(
        "".join(f"{t}\t{design['targets'][t]['binary']}\n" for t in targets), encoding="utf-8")
    (tmp / "design.json").write_text(json.dumps(design, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(_readme(design), encoding="utf-8")


def _write_atomically(out_dir: Path, write) -> Path:
    """``write(tmp)`` fills a hidden folder beside ``out_dir``, which then replaces it (:func:`_publish`); on any
    error nothing is left."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        _publish(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _publish(tmp: Path, out_dir: Path) -> None:
    """``tmp`` renamed to ``out_dir``; a folder already there is moved aside first and removed after (or put
    back if the rename fails)."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except BaseException:
        if old is not None:
            old.rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------- the generator


def _check(design: str, rates: Sequence[float], bands, donor_band, n_stable: int, binary_threshold: float,
           split: float) -> None:
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}; found {design!r}")
    top = 1.0 if design == "swap" else 0.99
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= top:
            raise ValueError(f"rates must be numbers in [0, {top:g}] for design {design!r} "
                             f"({'a share of 1 leaves no original use' if design == 'insert' else 'shares'}); "
                             f"found {r!r}")
    if not rates and not n_stable:
        raise ValueError("a benchmark needs targets: give n_targets (or rates) or n_stable")
    if n_stable < 0:
        raise ValueError(f"n_stable must be 0 or more; found {n_stable!r}")
    for b in list(bands) + [donor_band]:
        if len(b) != 2 or not 1 <= b[0] <= b[1]:
            raise ValueError(f"a frequency band is (lo, hi) with 1 <= lo <= hi; found {b!r}")
    if not bands:
        raise ValueError("bands must name at least one frequency band")
    if not 0 < binary_threshold <= 1:
        raise ValueError(f"binary_threshold must be in (0, 1]; found {binary_threshold!r}")
    if not 0 < split < 1:
        raise ValueError(f"split must be in (0, 1); found {split!r}")


def _shares(before: Sentences, after: Sentences, targets: Iterable[str]) -> tuple[dict, dict]:
    """Per target: occurrences in ``after``, and how many of them stand where another word stood in ``before``."""
    targets = set(targets)
    count: Counter = Counter()
    moved: Counter = Counter()
    for s0, s1 in zip(before, after):
        for w0, w1 in zip(s0, s1):
            if w1 in targets:
                count[w1] += 1
                if w0 != w1:
                    moved[w1] += 1
    return count, moved


def make_change_benchmark(sentences, out_dir: str | Path, *, corpus2=None, design: str = "swap",
                          n_targets: int | None = None, rates: Sequence[float] | None = None,
                          max_rate: float = 0.8, bands: Sequence[tuple[int, int]] = ((40, 120), (120, 400)),
                          donor_band: tuple[int, int] = (500, 5000), n_stable: int = 8,
                          binary_threshold: float = 0.3, split: float = 0.5, seed: int = 0,
                          overwrite: bool = False, source: str | None = None, slices: int = 2) -> Path:
    """Write a SemEval-layout benchmark with graded change injected at known rates; return its folder.

    ``sentences``: real text (token files, corpus folders, or token lists: :func:`read_sentences`), shuffled
    with ``seed`` and split into corpus1 (the first ``split``) and corpus2; or, with ``corpus2`` given, the
    earlier corpus as it is. ``design``: ``swap`` or ``insert`` (module docstring). ``rates``: the change
    level (share) of each changed target (default: ``n_targets`` levels, 16 unless given, spread over (0,
    ``max_rate``], :func:`default_rates`). ``bands``: frequency bands (counts in each corpus) the targets are
    drawn from, every band getting rates from low to high; ``donor_band``: where donors come from.
    ``n_stable``: control targets with rate 0. ``binary_threshold``: the rate from which a target counts as
    changed in ``truth/binary.txt`` (the rate decides, not the share reached). Targets and donors are
    alphabetic words of three letters or more (:func:`.synthetic.choose_pairs`'s rule). ``source``: a
    description for the README.

    The folder is built under a hidden temporary name next to ``out_dir`` and renamed into place only when
    complete: on any error nothing is left. An existing ``out_dir`` raises :class:`FileExistsError` unless
    ``overwrite``. Raises :class:`ValueError` for a bad setting, :class:`BenchmarkTooSmall` (one, naming the
    setting) for text too small for the bands.

    ``slices`` > 2: the text (one, ``corpus2`` not given) is split into that many equal corpora, and each
    changed target follows a trajectory (:data:`TRAJECTORIES`, dealt in turn): its rate times the shape's
    level in each later corpus, injected there independently. The gold of a pair of corpora ``a`` < ``b``
    is ``|s_b - s_a|`` (``s``: the share reached in that corpus, 0 in corpus1): a target's uses in corpus k
    are a mixture of its own contexts and its donor's with weight ``s_k``, and two mixtures differ in
    proportion to the difference of their weights. Its binary truth: the designed rates differ by at least
    ``binary_threshold``. ``truth/graded.txt`` / ``binary.txt`` hold corpus1 -> corpus2, ``truth/<i>_<j>/``
    every other pair (:mod:`.gold`).
    """
    out_dir = Path(out_dir)
    if rates is None:
        rates = default_rates(16 if n_targets is None else n_targets, max_rate)
    elif n_targets is not None and n_targets != len(rates):
        raise ValueError(f"n_targets ({n_targets}) and the number of rates ({len(rates)}) differ")
    rates = [float(r) for r in rates]
    _check(design, rates, bands, donor_band, n_stable, binary_threshold, split)
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 2:
        raise ValueError(f"slices must be an integer >= 2; found {slices!r}")
    if slices > 2 and corpus2 is not None:
        raise ValueError("slices > 2 splits one text: leave corpus2 out")
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: the benchmark folder exists; remove it or pass overwrite=True")
    if slices > 2:
        return _make_trajectories(sentences, out_dir, design=design, rates=rates, bands=bands, donor_band=donor_band,
                                  n_stable=n_stable, binary_threshold=binary_threshold, seed=seed, source=source,
                                  slices=slices)

    rng = random.Random(seed)
    if corpus2 is None:
        text = read_sentences(sentences)
        rng.shuffle(text)
        cut = round(split * len(text))
        c1, c2 = text[:cut], text[cut:]
        how = "one text shuffled and split"
    else:
        c1, c2 = read_sentences(sentences), read_sentences(corpus2)
        how = "two corpora as given"
    if not c1 or not c2:
        raise BenchmarkTooSmall("corpora", f"both corpora need sentences; corpus1 has {len(c1)}, corpus2 has "
                                f"{len(c2)}")
    counts1 = Counter(w for s in c1 for w in s)
    counts2 = Counter(w for s in c2 for w in s)

    plans = plan_targets(counts1, counts2, design=design, rates=rates, bands=bands, donor_band=donor_band,
                         n_stable=n_stable, rng=rng)
    changed = [p for p in plans if p.role == "changed"]
    pairs = {p.donor: p.target for p in changed}
    if design == "swap":
        per_donor = {p.donor: p.rate for p in changed}
    else:
        per_donor = {p.donor: min(1.0, p.rate * counts2[p.target] / ((1 - p.rate) * counts2[p.donor]))
                     for p in changed}
    new2 = inject_change(c2, pairs, per_donor, design, random.Random(rng.getrandbits(64))) if pairs else \
        [list(s) for s in c2]
    count_after, moved = _shares(c2, new2, [p.target for p in plans])

    targets = {}
    for p in plans:
        share = moved[p.target] / count_after[p.target] if count_after[p.target] else 0.0
        graded = round(share, 6)
        targets[p.target] = {
            "role": p.role, "band": list(p.band), "rate": p.rate, "donor": p.donor,
            "donor_rate": round(per_donor[p.donor], 6) if p.donor else None,
            "count1": counts1[p.target], "count2_before": counts2[p.target], "count2_after": count_after[p.target],
            "moved": moved[p.target], "graded": graded, "binary": int(p.rate >= binary_threshold),
        }
    record = {
        "format": BENCHMARK_FORMAT, "design": design, "seed": seed, "rates": rates, "bands": [list(b) for b in bands],
        "donor_band": list(donor_band), "n_stable": n_stable, "binary_threshold": binary_threshold,
        "split": split if corpus2 is None else None, "source": source or how,
        "corpora": {"corpus1": {"sentences": len(c1), "tokens": sum(counts1.values())},
                    "corpus2": {"sentences": len(new2), "tokens": sum(len(s) for s in new2)}},
        "graded": "share of the target's corpus2 occurrences standing where its donor stood",
        "targets": targets,
    }

    return _write_atomically(out_dir, lambda tmp: _write_folder(tmp, c1, new2, record))


def _make_trajectories(sentences, out_dir: Path, *, design: str, rates: Sequence[float], bands, donor_band,
                       n_stable: int, binary_threshold: float, seed: int, source: str | None, slices: int) -> Path:
    """:func:`make_change_benchmark` with ``slices`` > 2 corpora (see there)."""
    rng = random.Random(seed)
    text = read_sentences(sentences)
    rng.shuffle(text)
    parts = [text[round(i * len(text) / slices): round((i + 1) * len(text) / slices)] for i in range(slices)]
    if not all(parts):
        raise BenchmarkTooSmall("corpora", f"{slices} corpora need at least {slices} sentences; found {len(text)}")
    counts = [Counter(w for s in part for w in s) for part in parts]
    # planned on corpus1 and the sparsest later corpus, so that every later corpus has the donor uses a rate needs
    later = Counter({w: min(c[w] for c in counts[1:]) for w in counts[1] if all(w in c for c in counts[2:])})
    plans = plan_targets(counts[0], later, design=design, rates=rates, bands=bands, donor_band=donor_band,
                         n_stable=n_stable, rng=rng)
    changed = [p for p in plans if p.role == "changed"]
    names = list(TRAJECTORIES)
    order = sorted(changed, key=lambda p: p.target)
    rng.shuffle(order)
    shape_of = {p.target: names[i % len(names)] for i, p in enumerate(order)}
    levels = {p.target: [p.rate * TRAJECTORIES[shape_of[p.target]](k + 1, slices) if p.role == "changed" else 0.0
                         for k in range(slices)] for p in plans}
    written = [[list(s) for s in parts[0]]]
    shares = {p.target: [0.0] for p in plans}
    after_counts = {p.target: [counts[0][p.target]] for p in plans}
    for k in range(1, slices):
        now = {p.donor: p.target for p in changed if levels[p.target][k] > 0}
        if design == "swap":
            per_donor = {d: levels[t][k] for d, t in now.items()}
        else:
            per_donor = {d: min(1.0, levels[t][k] * counts[k][t] / ((1 - levels[t][k]) * counts[k][d]))
                         for d, t in now.items()}
        new = inject_change(parts[k], now, per_donor, design, random.Random(rng.getrandbits(64))) if now else \
            [list(s) for s in parts[k]]
        count_after, moved = _shares(parts[k], new, [p.target for p in plans])
        for p in plans:
            n = count_after[p.target]
            shares[p.target].append(round(moved[p.target] / n, 6) if n else 0.0)
            after_counts[p.target].append(n)
        written.append(new)

    def pair_name(a: int, b: int) -> str:
        return f"{a + 1}_{b + 1}"

    pairs = [(a, b) for a in range(slices) for b in range(a + 1, slices)]
    targets = {}
    for p in plans:
        t = p.target
        truth = {pair_name(a, b): {"graded": round(abs(shares[t][b] - shares[t][a]), 6),
                                   "binary": int(abs(levels[t][b] - levels[t][a]) >= binary_threshold - 1e-12)}
                 for a, b in pairs}
        targets[t] = {"role": p.role, "band": list(p.band), "rate": p.rate, "donor": p.donor,
                      "trajectory": shape_of.get(t, "stable"), "levels": [round(x, 6) for x in levels[t]],
                      "shares": shares[t], "counts": after_counts[t], "pairs": truth,
                      "graded": truth["1_2"]["graded"], "binary": truth["1_2"]["binary"]}
    record = {
        "format": BENCHMARK_FORMAT, "design": design, "seed": seed, "rates": list(rates), "slices": slices,
        "bands": [list(b) for b in bands], "donor_band": list(donor_band), "n_stable": n_stable,
        "binary_threshold": binary_threshold, "source": source or "one text shuffled and split",
        "corpora": {f"corpus{k + 1}": {"sentences": len(w), "tokens": sum(len(s) for s in w)}
                    for k, w in enumerate(written)},
        "graded": "per pair of corpora a < b: |s_b - s_a|, s = share of the target's uses standing where its "
                  "donor stood (0 in corpus1)",
        "targets": targets,
    }

    def write(tmp: Path) -> None:
        for k, w in enumerate(written):
            _write_corpus(tmp / f"corpus{k + 1}" / "token" / f"corpus{k + 1}.txt.gz", w)
        names_sorted = sorted(targets)
        (tmp / "targets.txt").write_text("".join(f"{t}\n" for t in names_sorted), encoding="utf-8")
        for a, b in pairs:
            where = tmp / "truth" if (a, b) == (0, 1) else tmp / "truth" / pair_name(a, b)
            where.mkdir(parents=True, exist_ok=True)
            key = pair_name(a, b)
            (where / "graded.txt").write_text("".join(f"{t}\t{targets[t]['pairs'][key]['graded']:.6f}\n"
                                                      for t in names_sorted), encoding="utf-8")
            (where / "binary.txt").write_text("".join(f"{t}\t{targets[t]['pairs'][key]['binary']}\n"
                                                      for t in names_sorted), encoding="utf-8")
        (tmp / "design.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        shapes = ", ".join(f"{n} ({sum(1 for v in shape_of.values() if v == n)})" for n in names)
        (tmp / "README.md").write_text(
            f"# Generated graded change benchmark, {slices} time periods ({design} design)\n\n"
            f"corpus1 ... corpus{slices}: one text shuffled and split ({record['source']}); {len(changed)} changed "
            f"targets with trajectories {shapes}, {len(plans) - len(changed)} stable. truth/graded.txt and "
            f"binary.txt: corpus1 -> corpus2; truth/<i>_<j>/: every other pair. Graded: {record['graded']}. "
            f"Binary: the designed levels differ by >= {binary_threshold:g}. Per target everything is in "
            f"design.json.\n", encoding="utf-8")

    return _write_atomically(out_dir, write)
