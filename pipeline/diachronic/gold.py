"""Gold data for lexical semantic change, and scoring against it as the field does.

No luigi here. Two gold layouts are read into one :class:`GoldSet`:

* **SemEval-2020 Task 1** (Schlechtweg et al. 2020; :func:`read_semeval`), the folder each language's
  archive unpacks to (``semeval2020_ulscd_eng`` / ``_ger`` / ``_lat`` / ``_swe``) or any folder in the same
  layout, such as the benchmarks :mod:`.benchmark` generates::

      corpus1/lemma/*.txt[.gz]   corpus1/token/*.txt[.gz]   one tokenised sentence per line
      corpus2/lemma/*.txt[.gz]   corpus2/token/*.txt[.gz]   (either kind, or both)
      targets.txt                one target per line (English: with a POS suffix, ``plane_nn``)
      truth/graded.txt           word<TAB>value  (subtask 2, graded change)
      truth/binary.txt           word<TAB>0|1    (subtask 1, binary change)

  More than two time periods (this project's extension, written by :mod:`.benchmark` with ``slices`` > 2, in
  the way DWUG tables name pairs of groupings): ``corpus3/``, ... beside the two, and per further pair of
  corpora ``truth/<i>_<j>/graded.txt`` and ``truth/<i>_<j>/binary.txt`` (``truth/2_3/``, ``truth/1_3/``);
  ``truth/graded.txt`` stays the ``corpus1`` -> ``corpus2`` pair (:attr:`GoldSet.pair_truth`).

  The official corpora are ``ccoha1/ccoha2`` (English), ``dta/bznd`` (German), ``LatinISE1/LatinISE2``
  (Latin) and ``kubhist2a/kubhist2b`` (Swedish), ``.txt.gz``; the lemma kind is the official one. The
  English and Swedish archives also hold a token kind (as code that reads them shows), and so does the
  LatinISE collection "with additional token versions"; Latin lemmas of homonyms carry ``#2``, ``#3``. A
  folder holding just one sub-folder in this layout (an archive unpacked one level too high) is read
  through it.
* **DWUG** (Schlechtweg et al. 2021, "DWUG: A large Resource of Diachronic Word Usage Graphs in Four
  Languages"; :func:`read_dwug`): the change table ``stats_groupings.csv`` of a release (tab-separated
  despite its name, unquoted, one row per lemma and pair of groupings; ``stats_groupings.tsv`` in some
  later WUG releases, e.g. NorDiaChange, read too). Columns read: ``lemma``,
  ``grouping`` (``1_2`` for two time periods), ``change_graded`` (Jensen-Shannon distance of the two sense
  distributions) and ``change_binary`` (0/1). The file is looked up as ``stats/semeval/``, then
  ``stats/opt/``, then ``stats/`` (the order of ChangeIsKey's LSCDBenchmark), or named with
  ``stats=``. A DWUG release has no corpora: its targets are the SemEval targets of the same language
  (English lemmas with ``_nn`` / ``_vb``), so pair it with that SemEval folder's corpora (:meth:`GoldSet.
  with_corpora`).

What was confirmed and what was not (from the releases' public descriptions and from code that reads
them; no release could be downloaded here): the SemEval layout and file names above are confirmed; so are
DWUG's ``stats_groupings.csv`` with the four columns above (written by the WUGs scripts'
``graph2stats.py``, which puts ``lemma``, ``grouping`` first), its ``stats/opt/`` and ``stats/`` places, and
DWUG EN 2.0.x using ``_nn`` / ``_vb`` lemmas and groupings ``1`` / ``2``. Not confirmed: which DWUG versions
have ``stats/semeval/`` (read first when present), and whether any release writes ``None`` or ``nan`` for a
lemma with no uses in one grouping (the WUGs scripts can); such a row is refused, naming the lemma and the
line. Also not confirmed: that the German SemEval release has a token kind. Versions meant: DWUG EN / DE
/ SV / LA 2.x (LSCDBenchmark downloads EN 2.0.0 from Zenodo record 5796878 and DE 2.1.0 from 7295410) and
1.x, written by the same scripts; others in the family (DiscoWUG, RefWUG, DURel, SURel, NorDiaChange) use
the same writer and should read too, with ``grouping=`` set when a table holds several pairs.

Scoring (:func:`score_change`): graded change is Spearman's rho between predicted and gold scores over the
targets present in both (subtask 2; ties get average ranks, as ``scipy.stats.spearmanr``), with a
percentile bootstrap CI over targets; binary change is accuracy after a threshold rule turns scores into
0/1 (subtask 1; :data:`BINARY_RULES`, the rule is stated in the result); coverage lists the targets the
predictions miss. :func:`aggregate_seeds` averages runs over seeds, with their spread.

>>> gold = GoldSet(targets=("a", "b", "c", "d"), graded={"a": 0.1, "b": 0.4, "c": 0.2, "d": 0.8},
...                binary={"a": 0, "b": 1, "c": 0, "d": 1})
>>> s = score_change({"a": 0.0, "b": 0.5, "c": 0.4, "d": 0.9, "zzz": 1.0}, gold, n_boot=200)
>>> s["graded_spearman"], s["binary_accuracy"], s["binary_rule"]
(1.0, 1.0, 'top_k: the 2 highest-scored targets changed (k = gold-changed targets)')
>>> s["n_targets"], s["covered"], s["missing"]
(4, 4, [])
>>> score_change({"a": 0.3, "b": 0.1, "c": 0.2}, gold, n_boot=200)["missing"]
['d']
>>> corpus_form("plane_nn", "token"), corpus_form("plane_nn", "lemma")
('plane', 'plane_nn')
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import InputError, read_utf8
from ..evaluators import metric_name

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BINARY_RULES",
    "CORPORA",
    "DEFAULT_BINARY_RULE",
    "GoldSet",
    "KINDS",
    "aggregate_seeds",
    "binary_accuracy",
    "bootstrap_spearman_ci",
    "change_metrics",
    "corpus_form",
    "graded_spearman",
    "read_dwug",
    "read_gold",
    "read_semeval",
    "scores_for_targets",
    "score_change",
    "target_counts",
]

#: the two corpora of a SemEval-layout folder, earlier first
CORPORA = ("corpus1", "corpus2")
#: the kinds of corpus files a SemEval-layout corpus may hold
KINDS = ("lemma", "token")
#: SemEval-2020's English targets carry one of these part-of-speech suffixes in targets.txt, the truth files
#: and the lemma corpora (and only there: the token corpora have the bare word)
POS_SUFFIX = re.compile(r"_(?:nn|vb)$")
#: the threshold rules of :func:`binary_accuracy`
BINARY_RULES = ("top_k", "mean_std", "mean")
#: ``top_k`` makes the binary score a function of the ranking alone, so methods whose scores live on
#: different scales (cosine vs Euclidean distance vs neighbourhood overlap) are compared at the same
#: decision boundary; it takes one number from the gold (how many targets changed), which the rule says
DEFAULT_BINARY_RULE = "top_k"
#: DWUG change tables, in the order they are looked for under a release's ``stats/``
DWUG_STATS = ("semeval", "opt", "")
#: the change table's names (tab-separated either way)
DWUG_TABLES = ("stats_groupings.csv", "stats_groupings.tsv")
DWUG_COLUMNS = ("lemma", "grouping", "change_graded", "change_binary")


# --------------------------------------------------------------------------------------------- the gold set


@dataclass(frozen=True)
class GoldSet:
    """Targets with their graded and binary gold change, and the corpora they were judged on.

    ``targets``: in the order of ``targets.txt``; ``graded`` / ``binary``: target -> value, one for every
    target; ``corpora``: ``{"corpus1": {"lemma": (paths...), "token": (...)}, "corpus2": {...}}``, the kinds
    a corpus has (empty for a DWUG table alone); ``root``: the folder read; ``files``: the gold files read
    (``targets``, ``graded``, ``binary``), for messages; ``layout``: ``semeval`` or ``dwug``.
    """

    targets: tuple[str, ...]
    graded: Mapping[str, float]
    binary: Mapping[str, int]
    corpora: Mapping[str, Mapping[str, tuple[Path, ...]]] = field(default_factory=dict)
    root: Path | None = None
    files: Mapping[str, Path] = field(default_factory=dict)
    layout: str = "semeval"
    #: ``{(corpus_a, corpus_b): (graded, binary)}`` for every pair of corpora the gold judges, the main pair
    #: (``graded`` / ``binary``) included; empty when only the main pair is known
    pair_truth: Mapping[tuple[str, str], tuple[Mapping[str, float], Mapping[str, int]]] = \
        field(default_factory=dict)

    @property
    def slices(self) -> tuple[str, ...]:
        """The corpora, ``corpus1`` first (``corpus1``, ``corpus2``, ``corpus3``, ...)."""
        names = self.corpora.keys() if self.corpora else CORPORA
        return tuple(sorted(names, key=lambda c: int(c[len("corpus"):])))

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The pairs of corpora the gold judges (the main pair first)."""
        if not self.pair_truth:
            return (CORPORA,)
        return tuple(sorted(self.pair_truth, key=lambda p: (p != CORPORA, _pair_key(p))))

    def for_pair(self, a: str, b: str) -> "GoldSet":
        """This gold with ``graded`` / ``binary`` of the pair ``a`` -> ``b``."""
        if (a, b) == CORPORA and not self.pair_truth:
            return self
        if (a, b) not in self.pair_truth:
            raise InputError(self.root, f"gold for the pair {a} -> {b}",
                             f"pairs {', '.join(f'{x}-{y}' for x, y in self.pairs)}")
        graded, binary = self.pair_truth[(a, b)]
        return replace(self, graded=graded, binary=binary)

    @property
    def name(self) -> str:
        """The folder's name (``semeval2020_ulscd_eng``), or ``gold`` when built in memory."""
        return self.root.name if self.root is not None else "gold"

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of corpus files (``lemma``, ``token``) both corpora have, in :data:`KINDS` order."""
        if not self.corpora:
            return ()
        return tuple(k for k in KINDS if all(k in self.corpora.get(c, {}) for c in self.slices))

    def corpus_files(self, corpus: str, kind: str | None = None) -> tuple[Path, ...]:
        """The files of ``corpus`` (``corpus1`` / ``corpus2``) of ``kind`` (default: the first of :attr:`kinds`)."""
        kind = kind or (self.kinds[0] if self.kinds else None)
        files = self.corpora.get(corpus, {}).get(kind) if kind else None
        if not files:
            where = self.root / corpus / (kind or "") if self.root is not None else corpus
            raise InputError(where, f"{kind or 'lemma or token'} files of {corpus} (.txt or .txt.gz)",
                             f"this gold set has {', '.join(self.kinds) or 'no corpora'}")
        return files

    def with_corpora(self, other: "GoldSet") -> "GoldSet":
        """This gold (e.g. a DWUG table) on ``other``'s corpora (the SemEval folder of the same language).

        Refused with :class:`InputError` naming the table: gold of a pair of corpora ``other`` lacks (a table
        with groupings ``2_3`` / ``1_3`` on a folder with only ``corpus1/`` and ``corpus2/``); scoring such a
        pair needs its corpora, and keeping only the pairs that fit would score less than the table judges.
        """
        have = set(other.corpora) if other.corpora else set(CORPORA)
        lacking: dict[str, list[str]] = {}
        for pair in self.pairs:
            for corpus in pair:
                if corpus not in have:
                    lacking.setdefault(corpus, []).append(_grouping(pair))
        if lacking:
            where = other.root if other.root is not None else "the corpora"
            periods = sorted(lacking, key=_corpus_index)
            last = max(_corpus_index(c) for c in (*periods, *have))
            raise InputError(self.files.get("graded", self.root),
                             f"groupings of the time periods whose corpora {where} has "
                             f"({', '.join(sorted(have, key=_corpus_index))}; grouping <i>_<j> judges corpus<i> -> "
                             "corpus<j>)",
                             "; ".join(f"grouping{'s' if len(g) > 1 else ''} {', '.join(g)} "
                                       f"judge{'' if len(g) > 1 else 's'} {c}, which {where} does not have"
                                       for c, g in lacking.items())
                             + f": take the corpora from a SemEval folder with {'/, '.join(periods)}/ "
                             f"(gold.corpora_from, with gold.slices: {last}), or keep only the rows of grouping 1_2 "
                             "in the table")
        return replace(self, corpora=other.corpora)


def corpus_form(target: str, kind: str) -> str:
    """The token a target appears as in a corpus of ``kind``.

    In a lemma corpus, a target appears as written in ``targets.txt`` (SemEval English: ``plane_nn``, the
    suffix marking the target's occurrences). A token corpus has the words as they were written, without the
    suffix, so ``_nn`` / ``_vb`` is dropped (``plane``); inflected forms (``planes``) are not matched, so
    counts and vectors in a token corpus cover the base form only. Targets of the other languages have no
    suffix and are returned as they are.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; found {kind!r}")
    return POS_SUFFIX.sub("", target) if kind == "token" else target


def scores_for_targets(word_scores: Mapping[str, float], targets: Iterable[str], kind: str) -> dict[str, float]:
    """Per-word change scores (keys as in the corpus of ``kind``) keyed by target instead; targets whose
    corpus form has no score are left out (:func:`score_change` lists them as missing)."""
    out = {}
    for t in targets:
        w = corpus_form(t, kind)
        if w in word_scores:
            out[t] = word_scores[w]
    return out


def target_counts(gold: GoldSet, kind: str | None = None, *, require: bool = True) -> dict[str, tuple[int, ...]]:
    """``{target: (count in corpus1, count in corpus2, ...)}`` of every target's corpus form (one count per
    corpus of ``gold.slices``), streamed from the corpus files of ``kind`` (default: the first of ``gold.kinds``).

    With ``require``, a target absent from both corpora raises :class:`InputError` naming ``targets.txt``
    and the targets (a wrong kind, or a POS suffix the corpus lacks, is the usual cause).
    """
    from ..corpora.reader import LineCorpus

    kind = kind or (gold.kinds[0] if gold.kinds else "lemma")
    forms: dict[str, list[str]] = {}
    for t in gold.targets:  # in a token corpus, plane_nn and plane_vb would both be "plane"
        forms.setdefault(corpus_form(t, kind), []).append(t)
    slices = gold.slices
    counts = {t: [0] * len(slices) for t in gold.targets}
    for i, corpus in enumerate(slices):
        for path in gold.corpus_files(corpus, kind):
            for sentence in LineCorpus(path):
                for w in sentence:
                    for t in forms.get(w, ()):
                        counts[t][i] += 1
    result = {t: tuple(c) for t, c in counts.items()}
    absent = [t for t, c in result.items() if not any(c)]
    if require and absent:
        where = gold.files.get("targets", gold.root)
        raise InputError(where, f"targets that occur in {' or '.join(slices)} ({kind} files, as "
                         f"{', '.join(repr(corpus_form(t, kind)) for t in absent[:3])}...)",
                         f"{len(absent)} of {len(result)} targets occur in neither: {', '.join(absent[:20])}"
                         + (" ..." if len(absent) > 20 else ""))
    return result


# --------------------------------------------------------------------------------------------- reading


def _lines(path: Path, strip: bool = True) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 text file, stripped unless ``strip`` is False
    (a table's trailing empty fields are fields)."""
    text = read_utf8(path)
    return [(i, line.strip() if strip else line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def _number(path: Path, lineno: int, word: str, raw: str, expected: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(path, expected, f"found {raw!r} for {word!r} on line {lineno}")
    return value


def _binary(path: Path, lineno: int, word: str, raw: str, expected: str) -> int:
    value = _number(path, lineno, word, raw, expected)
    if value not in (0.0, 1.0):
        raise InputError(path, expected, f"found {raw!r} for {word!r} on line {lineno}")
    return int(value)


def _read_targets(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise InputError(path, "targets.txt: one target word per line", "the file does not exist")
    seen: dict[str, int] = {}
    for lineno, line in _lines(path):
        fields = line.split()
        if len(fields) != 1:
            raise InputError(path, "one target word per line", f"line {lineno} has {len(fields)} fields: {line!r}")
        if fields[0] in seen:
            raise InputError(path, "each target once", f"{fields[0]!r} on lines {seen[fields[0]]} and {lineno}")
        seen[fields[0]] = lineno
    if not seen:
        raise InputError(path, "one target word per line", "the file has no targets")
    return tuple(seen)


def _read_truth(path: Path, targets: Sequence[str], binary: bool) -> dict:
    what = "binary" if binary else "graded"
    if not path.is_file():
        raise InputError(path, f"truth/{what}.txt: word<TAB>value for every target", "the file does not exist")
    known = set(targets)
    values: dict = {}
    lines: dict[str, int] = {}
    for lineno, line in _lines(path):
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) != 2:
            raise InputError(path, "word<TAB>value on every line", f"line {lineno} has {len(fields)} fields: {line!r}")
        word, raw = fields
        if word not in known:
            raise InputError(path, f"only words of {path.parent.parent / 'targets.txt'}",
                             f"{word!r} on line {lineno} is not a target")
        if word in values:
            raise InputError(path, "each target once", f"{word!r} on lines {lines[word]} and {lineno}")
        lines[word] = lineno
        values[word] = _binary(path, lineno, word, raw, "a binary value 0 or 1 after each word") if binary else \
            _number(path, lineno, word, raw, "a number (graded change) after each word")
    missing = [t for t in targets if t not in values]
    if missing:
        raise InputError(path, "a value for every target of targets.txt",
                         f"{len(missing)} target(s) have none: {', '.join(missing[:20])}")
    return {t: values[t] for t in targets}


def _check_has_text(path: Path) -> None:
    """Refuse a corpus file without a token, as the corpus reader will (``iter_documents``: a file that is
    empty or holds only whitespace), naming the user's file rather than the gold stage's copy of it. Read up
    to the first line with a token, so a real corpus costs one line."""
    from ..corpora.reader import LineCorpus

    if next(iter(LineCorpus(path)), None) is None:
        if path.name.endswith(".gz"):
            found = "the file holds no text once decompressed (it is empty or holds only whitespace)"
        else:
            found = "the file is empty" if path.stat().st_size == 0 else "the file holds only whitespace"
        raise InputError(path, "a text file with some text (one tokenised sentence per line)", found)


def _corpus_files(folder: Path, corpus: str) -> dict[str, tuple[Path, ...]]:
    where = folder / corpus
    if not where.is_dir():
        raise InputError(where, f"a folder {corpus}/ with lemma/ and/or token/ (SemEval-2020 Task 1 layout)",
                         "it does not exist")
    kinds = {}
    for kind in KINDS:
        d = where / kind
        if not d.is_dir():
            continue
        files = tuple(sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")
                             and (p.name.endswith(".txt") or p.name.endswith(".txt.gz"))))
        if not files:
            raise InputError(d, "one or more .txt or .txt.gz files (one tokenised sentence per line)",
                             "the folder has none")
        for f in files:
            _check_has_text(f)
        kinds[kind] = files
    if not kinds:
        raise InputError(where, "a lemma/ or token/ folder of .txt or .txt.gz files", "it has neither")
    return kinds


def _semeval_root(folder: Path) -> Path:
    if not folder.is_dir():
        raise InputError(folder, "a folder in the SemEval-2020 Task 1 layout", "it does not exist")
    if not (folder / "targets.txt").exists():
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subs) == 1 and (subs[0] / "targets.txt").is_file():
            return subs[0]  # an archive unpacked with its top folder (semeval2020_ulscd_eng/)
    return folder


def read_semeval(folder: str | Path) -> GoldSet:
    """Read a folder in the SemEval-2020 Task 1 layout (see the module docstring) into a :class:`GoldSet`.

    Checked, each refusal an :class:`InputError` naming the file and what was expected: ``truth/`` and both
    corpus folders exist, each corpus has ``lemma/`` and/or ``token/`` with ``.txt`` / ``.txt.gz`` files and
    the two share a kind; ``targets.txt`` has targets, each once; both truth files give every target exactly
    one value, name only targets, with numbers (graded) and 0 / 1 (binary); each corpus file has some text
    (it is read up to its first line with a token; :func:`target_counts` reads the whole files).
    """
    folder = _semeval_root(Path(folder))
    truth = folder / "truth"
    if not truth.is_dir():
        raise InputError(truth, "a truth/ folder with graded.txt and binary.txt (SemEval-2020 Task 1 layout)",
                         "it does not exist")
    names = list(CORPORA)
    while (folder / f"corpus{len(names) + 1}").is_dir():  # more time periods: corpus3/, corpus4/, ...
        names.append(f"corpus{len(names) + 1}")
    corpora = {c: _corpus_files(folder, c) for c in names}
    if not any(all(k in corpora[c] for c in names) for k in KINDS):
        raise InputError(folder, f"{'/, '.join(names[:-1])}/ and {names[-1]}/ with the same kind of files (lemma/ "
                         "or token/)", ", ".join(f"{c} has {', '.join(corpora[c])}" for c in names))
    targets = _read_targets(folder / "targets.txt")
    files = {"targets": folder / "targets.txt", "graded": truth / "graded.txt", "binary": truth / "binary.txt"}
    graded = _read_truth(files["graded"], targets, binary=False)
    binary = _read_truth(files["binary"], targets, binary=True)
    pair_truth = {}
    for sub in sorted(p for p in truth.iterdir() if p.is_dir() and not p.name.startswith(".")):
        m = _PAIR_FOLDER.match(sub.name)
        if m is None or int(m.group(1)) >= int(m.group(2)):
            raise InputError(sub, "a pair folder truth/<i>_<j>/ with i < j (truth/2_3/)", f"folder {sub.name}")
        pair = (f"corpus{m.group(1)}", f"corpus{m.group(2)}")
        if any(c not in corpora for c in pair):
            raise InputError(sub, f"gold for a pair of the corpora ({', '.join(names)})", f"{pair[0]} -> {pair[1]}")
        pair_truth[pair] = (_read_truth(sub / "graded.txt", targets, binary=False),
                            _read_truth(sub / "binary.txt", targets, binary=True))
    if pair_truth or len(names) > 2:
        pair_truth[CORPORA] = (graded, binary)
    return GoldSet(targets=targets, graded=graded, binary=binary, corpora=corpora, root=folder, files=files,
                   pair_truth=pair_truth)


_PAIR_FOLDER = re.compile(r"^([0-9]+)_([0-9]+)$")


def _corpus_index(corpus: str) -> int:
    return int(corpus[len("corpus"):])


def _pair_key(pair: tuple[str, str]) -> tuple[int, int]:
    return _corpus_index(pair[0]), _corpus_index(pair[1])


def _grouping(pair: tuple[str, str]) -> str:
    """A pair of corpora as DWUG names the pair of groupings, and :func:`read_semeval` its truth folder (``2_3``)."""
    return "_".join(str(i) for i in _pair_key(pair))


def _dwug_table(folder: Path, stats: str | Path | None) -> Path:
    if stats is not None and Path(stats).is_file():
        return Path(stats)
    base = folder / "stats"
    places = [stats] if stats is not None else list(DWUG_STATS)
    tried = [base / p / name if p else base / name for p in places for name in DWUG_TABLES]
    for path in tried:
        if path.is_file():
            return path
    raise InputError(tried[0], "a DWUG change table stats_groupings.csv (looked for "
                     f"{', '.join(str(p.relative_to(folder)) for p in tried)})", "none exists")


def read_dwug(folder: str | Path, *, stats: str | Path | None = None, grouping: str | None = None) -> GoldSet:
    """Read a DWUG release's change table (see the module docstring) into a :class:`GoldSet` with no corpora.

    ``folder``: the release (holding ``stats/``); ``stats``: the sub-folder of ``stats/`` to read
    (``semeval``, ``opt``, ``""`` for ``stats/`` itself) or the table's path (default: the first that exists
    of ``stats/semeval/``, ``stats/opt/``, ``stats/``); ``grouping``: the row set to read when a table holds
    several pairs of groupings (default: ``1_2``, or the only one). A table whose groupings are all pairs of
    time periods (``1_2``, ``2_3``, ``1_3``) gives every pair in :attr:`GoldSet.pair_truth` (``corpus<i>`` ->
    ``corpus<j>``) when the main pair is ``1_2``; each of them must have a row for every target (a lemma of the
    main grouping), and lemmas of theirs that are no target are left out. Targets are the lemmas in the table's
    order. Refused with :class:`InputError`: a missing table or column, a lemma twice, a non-numeric
    ``change_graded``, a ``change_binary`` other than 0 / 1, an empty table, a further grouping without a row
    for some target (named, with the lemmas it lacks).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "a DWUG release folder (with stats/)", "it does not exist")
    path = _dwug_table(folder, stats)
    rows = _lines(path, strip=False)
    if not rows:
        raise InputError(path, "a tab-separated table with a header line", "the file is empty")
    header = rows[0][1].split("\t")
    absent = [c for c in DWUG_COLUMNS if c not in header]
    if absent:
        raise InputError(path, f"tab-separated columns {', '.join(DWUG_COLUMNS)}",
                         f"no column {', '.join(absent)} in the header ({', '.join(header[:8])}...)")
    col = {c: header.index(c) for c in DWUG_COLUMNS}
    records = []
    for lineno, line in rows[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise InputError(path, f"{len(header)} tab-separated fields per line (as the header)",
                             f"line {lineno} has {len(fields)}")
        records.append((lineno, {c: fields[i].strip() for c, i in col.items()}))
    if not records:
        raise InputError(path, "one row per lemma", "the table has no rows")
    groupings = sorted({r["grouping"] for _, r in records})
    if grouping is None:
        if "1_2" in groupings:
            grouping = "1_2"
        elif len(groupings) == 1:
            grouping = groupings[0]
        else:
            raise InputError(path, "one pair of groupings, or grouping= naming one",
                             f"the table has {', '.join(groupings)}")
    elif grouping not in groupings:
        raise InputError(path, f"rows of grouping {grouping!r}", f"the table has {', '.join(groupings) or 'none'}")
    graded, binary = _dwug_values(path, records, grouping)
    pair_truth = {}
    if len(groupings) > 1 and all(_PAIR_FOLDER.match(g) for g in groupings):  # several time periods
        for g in groupings:
            m = _PAIR_FOLDER.match(g)
            if int(m.group(1)) < int(m.group(2)):
                pair_truth[(f"corpus{m.group(1)}", f"corpus{m.group(2)}")] = _dwug_values(path, records, g)
        if grouping != "1_2":
            pair_truth = {}  # the main pair is another grouping: these are not corpus1 -> corpus2 ...
        lacking = {_grouping(pair): [t for t in graded if t not in values]
                   for pair, (values, _) in sorted(pair_truth.items(), key=lambda item: _pair_key(item[0]))}
        lacking = {g: lemmas for g, lemmas in lacking.items() if lemmas}
        if lacking:  # every pair is scored on the same targets
            raise InputError(path, f"a row in every grouping for each lemma of grouping {grouping} (the targets; a "
                             "further pair of time periods lacking one cannot be scored on the same targets)",
                             "; ".join(f"grouping {g} has no row for {len(lemmas)} of the {len(graded)} lemma(s): "
                                       f"{', '.join(lemmas[:20])}" + (" ..." if len(lemmas) > 20 else "")
                                       for g, lemmas in lacking.items()))
        # a lemma only a further grouping has is no target (grouping 1_2 names them): left out, as from 1_2
        pair_truth = {pair: ({t: values[t] for t in graded}, {t: flags[t] for t in graded})
                      for pair, (values, flags) in pair_truth.items()}
    return GoldSet(targets=tuple(graded), graded=graded, binary=binary, corpora={}, root=folder,
                   files={"targets": path, "graded": path, "binary": path}, layout="dwug", pair_truth=pair_truth)


def _dwug_values(path: Path, records, grouping: str) -> tuple[dict, dict]:
    graded: dict[str, float] = {}
    binary: dict[str, int] = {}
    lines: dict[str, int] = {}
    for lineno, r in records:
        if r["grouping"] != grouping:
            continue
        lemma = r["lemma"]
        if not lemma:  # an empty field would become a target '' that no corpus word can match
            raise InputError(path, "a lemma in column lemma", f"line {lineno} has none")
        if lemma in lines:
            raise InputError(path, f"each lemma once in grouping {grouping}", f"{lemma!r} on lines {lines[lemma]} "
                             f"and {lineno}")
        lines[lemma] = lineno
        graded[lemma] = _number(path, lineno, lemma, r["change_graded"], "a number in column change_graded")
        binary[lemma] = _binary(path, lineno, lemma, r["change_binary"], "a binary value 0 or 1 in column "
                                "change_binary")
    return graded, binary


def read_gold(folder: str | Path) -> GoldSet:
    """:func:`read_semeval` for a folder with ``targets.txt`` (or one sub-folder with it), :func:`read_dwug`
    for one with ``stats/``."""
    folder = Path(folder)
    if folder.is_dir() and (folder / "stats").is_dir() and not (_semeval_root(folder) / "targets.txt").exists():
        return read_dwug(folder)
    return read_semeval(folder)


# --------------------------------------------------------------------------------------------- scoring


def _finite(predicted: Mapping[str, float], targets: Sequence[str]) -> tuple[list[str], list[str]]:
    covered, missing = [], []
    for t in targets:
        v = predicted.get(t)
        ok = v is not None and not isinstance(v, bool)
        if ok:
            try:
                ok = math.isfinite(float(v))
            except (TypeError, ValueError):
                ok = False
        (covered if ok else missing).append(t)
    return covered, missing


def _gold_values(gold: "GoldSet | Mapping[str, float]", binary: bool = False) -> Mapping[str, float]:
    if isinstance(gold, GoldSet):
        return gold.binary if binary else gold.graded
    return gold


def _pairs(predicted: Mapping[str, float], gold: Mapping[str, float]) -> tuple[list[str], "np.ndarray", "np.ndarray"]:
    import numpy as np

    covered, _ = _finite(predicted, list(gold))
    x = np.array([float(predicted[t]) for t in covered], dtype=np.float64)
    y = np.array([float(gold[t]) for t in covered], dtype=np.float64)
    return covered, x, y


def _rowwise_spearman(x: "np.ndarray", y: "np.ndarray") -> "np.ndarray":
    """Spearman's rho of each row pair of ``x`` and ``y`` (2-D): Pearson of average ranks; nan for a constant row."""
    import numpy as np
    from scipy.stats import rankdata

    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant row: 0 / 0 = nan
        rho = (rx * ry).sum(axis=-1) / den
    return np.clip(rho, -1.0, 1.0)


def graded_spearman(predicted: Mapping[str, float], gold: "GoldSet | Mapping[str, float]") -> float | None:
    """Spearman's rho between predicted and gold graded change over the targets present in both (subtask 2).

    Ties get their average rank (as ``scipy.stats.spearmanr``). ``None`` when fewer than two targets are
    covered or either side is constant. Predictions for non-targets are ignored; ``nan`` counts as missing.
    """
    import numpy as np

    _, x, y = _pairs(predicted, _gold_values(gold))
    if len(x) < 2:
        return None
    rho = _rowwise_spearman(x[None, :], y[None, :])[0]
    return None if np.isnan(rho) else float(rho)


def bootstrap_spearman_ci(predicted: Mapping[str, float], gold: "GoldSet | Mapping[str, float]", *,
                          n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap CI ``[lo, hi]`` of :func:`graded_spearman`, resampling the covered targets with
    replacement ``n_boot`` times (numpy ``default_rng(seed)``; all resamples ranked at once). Resamples with a
    constant side are left out; ``None`` with fewer than three covered targets or no usable resample."""
    import numpy as np

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); found {level!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive; found {n_boot!r}")
    _, x, y = _pairs(predicted, _gold_values(gold))
    n = len(x)
    if n < 3:
        return None
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    rho = _rowwise_spearman(x[idx], y[idx])
    rho = rho[~np.isnan(rho)]
    if rho.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(rho, [tail, 100 - tail])
    return [float(lo), float(hi)]


def _check_rule(rule: str | float) -> None:
    if isinstance(rule, bool) or not (isinstance(rule, (int, float)) or rule in BINARY_RULES):
        raise ValueError(f"binary rule must be one of {', '.join(BINARY_RULES)} or a number; found {rule!r}")


def _threshold(scores: "np.ndarray", gold01: "np.ndarray", rule: str | float) -> tuple["np.ndarray", float | None, str]:
    import numpy as np

    if isinstance(rule, (int, float)):
        t = float(rule)
        return scores >= t, t, f"fixed: score >= {t:g} changed"
    if rule == "top_k":
        k = int(gold01.sum())
        order = np.argsort(-scores, kind="stable")  # ties: the target listed first wins
        pred = np.zeros(len(scores), dtype=bool)
        pred[order[:k]] = True
        t = float(scores[order[k - 1]]) if k > 0 else None
        return pred, t, f"top_k: the {k} highest-scored targets changed (k = gold-changed targets)"
    if rule in ("mean_std", "mean"):
        t = float(scores.mean() + (scores.std() if rule == "mean_std" else 0.0)) if len(scores) else None
        text = "mean + std of the scores" if rule == "mean_std" else "mean of the scores"
        return (scores >= t if t is not None else scores > 0), t, f"{rule}: score >= {text} changed"
    raise AssertionError(rule)


def binary_accuracy(predicted: Mapping[str, float], gold_binary: "GoldSet | Mapping[str, int]",
                    rule: str | float = DEFAULT_BINARY_RULE) -> dict:
    """Accuracy of binary change (subtask 1) after ``rule`` turns predicted scores into changed / stable.

    Rules (:data:`BINARY_RULES`): ``top_k`` (default) predicts as changed the k highest-scored targets, k the
    number of gold-changed targets among the covered ones (ties at the cut go to the target listed first in
    the gold); ``mean_std`` predicts changed a score >= mean + std of the scores; ``mean`` a score >= the
    mean; a number is a fixed threshold (score >= it). Over the targets present in both. Returns
    ``{"accuracy": float | None, "rule": str (the rule and its k / cut), "threshold": float | None,
    "n": int}``; accuracy is ``None`` when no target is covered.
    """
    import numpy as np

    _check_rule(rule)
    covered, x, y = _pairs(predicted, _gold_values(gold_binary, binary=True))
    pred, t, text = _threshold(x, y, rule)
    if not covered:
        return {"accuracy": None, "rule": text, "threshold": None, "n": 0}
    return {"accuracy": float(np.mean(pred == (y == 1))), "rule": text, "threshold": t, "n": len(covered)}


def score_change(predicted: Mapping[str, float], gold: GoldSet, *, n_boot: int = 1000, seed: int = 0,
                 rule: str | float = DEFAULT_BINARY_RULE, level: float = 0.95) -> dict:
    """Every score of one method's predictions (target -> change score, higher = more changed) on ``gold``.

    Returns ``graded_spearman`` (:func:`graded_spearman`), ``graded_spearman_ci`` (``[lo, hi]``,
    :func:`bootstrap_spearman_ci`), ``binary_accuracy`` and ``binary_rule`` (:func:`binary_accuracy`),
    ``binary_threshold`` (the score cut the rule chose), ``n_targets`` (gold targets), ``covered`` (targets
    with a finite prediction) and ``missing`` (the others, by name, in the gold's order). Every score is over
    the covered targets; scores that cannot be computed are ``None``. The dict is JSON-ready (the
    ``methods`` entries of the evaluation report); :func:`change_metrics` flattens it for ``metrics.json``.
    """
    covered, missing = _finite(predicted, gold.targets)
    binary = binary_accuracy(predicted, gold, rule)
    return {
        "graded_spearman": graded_spearman(predicted, gold),
        "graded_spearman_ci": bootstrap_spearman_ci(predicted, gold, n_boot=n_boot, seed=seed, level=level),
        "binary_accuracy": binary["accuracy"],
        "binary_rule": binary["rule"],
        "binary_threshold": binary["threshold"],
        "n_targets": len(gold.targets),
        "covered": len(covered),
        "missing": missing,
    }


#: the scores :func:`aggregate_seeds` averages
_AVERAGED = ("graded_spearman", "binary_accuracy", "binary_threshold")


def aggregate_seeds(scores: Sequence[Mapping]) -> dict:
    """One method's :func:`score_change` results over several seeds: the mean of each score over the seeds
    that have one, with ``<score>_sd`` (sample standard deviation, ``None`` with fewer than two) and
    ``n_seeds``.

    ``graded_spearman_ci`` becomes the mean of the seeds' bounds; ``covered`` the fewest covered by any seed;
    ``missing`` every target some seed missed; ``binary_rule`` the seeds' rules, distinct ones joined by
    `` | `` (a ``top_k`` k differs when coverage does); ``n_targets`` must agree (one gold set).
    """
    import numpy as np

    if not scores:
        raise ValueError("aggregate_seeds needs the scores of at least one seed")
    out: dict = {"n_seeds": len(scores)}
    for key in _AVERAGED:
        values = [s[key] for s in scores if s.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
        out[f"{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    cis = [s["graded_spearman_ci"] for s in scores if s.get("graded_spearman_ci") is not None]
    out["graded_spearman_ci"] = [float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))] \
        if cis else None
    targets = {s.get("n_targets") for s in scores}
    if len(targets) > 1:
        raise ValueError(f"the seeds disagree on n_targets: {sorted(map(str, targets))} (one gold set each?)")
    out["n_targets"] = targets.pop()
    out["binary_rule"] = " | ".join(dict.fromkeys(str(s.get("binary_rule")) for s in scores))
    out["covered"] = min(s["covered"] for s in scores)
    missing: dict[str, None] = {}
    for s in scores:
        missing.update(dict.fromkeys(s["missing"]))
    out["missing"] = list(missing)
    return out


def change_metrics(scores: Mapping, method: str | None = None) -> dict:
    """A :func:`score_change` (or :func:`aggregate_seeds`) result as flat ``metrics.json`` scalars, named
    ``<benchmark>_<measure>[-<method>]`` with benchmarks ``graded`` and ``binary``: ``graded_spearman``,
    ``graded_spearman_ci_lo``, ``graded_spearman_ci_hi``, ``binary_accuracy`` (each ``-<method>`` when a
    method is given, e.g. ``cade_cosine``), plus ``graded_targets`` and ``graded_covered``, and
    ``_sd`` / ``n_seeds`` when averaged over seeds.

    >>> m = change_metrics({"graded_spearman": 0.5, "graded_spearman_ci": [0.1, 0.8], "binary_accuracy": 0.7,
    ...                     "n_targets": 10, "covered": 9, "missing": ["x"]}, "sgns_euclidean")
    >>> m["graded_spearman-sgns_euclidean"], m["graded_spearman_ci_lo-sgns_euclidean"]
    (0.5, 0.1)
    """
    ci = scores.get("graded_spearman_ci") or [None, None]
    out = {
        metric_name("graded", "spearman", method): scores.get("graded_spearman"),
        metric_name("graded", "spearman_ci_lo", method): ci[0],
        metric_name("graded", "spearman_ci_hi", method): ci[1],
        metric_name("binary", "accuracy", method): scores.get("binary_accuracy"),
        metric_name("graded", "targets", method): scores.get("n_targets"),
        metric_name("graded", "covered", method): scores.get("covered"),
    }
    for key in ("graded_spearman", "binary_accuracy"):
        if f"{key}_sd" in scores:
            benchmark, measure = key.split("_", 1)
            out[metric_name(benchmark, f"{measure}_sd", method)] = scores[f"{key}_sd"]
    if "n_seeds" in scores:
        out[metric_name("graded", "seeds", method)] = scores["n_seeds"]
    return out
