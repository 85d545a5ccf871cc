"""Extrinsic evaluation of frozen static vectors: a BiLSTM tagger and a BiLSTM sentence classifier.

The data readers:

* :func:`read_conllu` - Universal Dependencies CoNLL-U (10 tab-separated
  columns); one :class:`Example` per sentence, labels from the UPOS column.
  Multiword-token lines (``3-4``) and empty nodes (``5.1``) are skipped: the
  words are tagged, as UD's own UPOS scores do; a range must be followed by the word lines it spans.
  A tag must be one of UD's 17 (:data:`UPOS_TAGS`).
* :func:`read_conll_ner` - CoNLL-2003 style NER (token first, tag last,
  whitespace-separated, a blank line between sentences, ``-DOCSTART-`` skipped);
  tags must be ``O`` or ``B-``/``I-``/``E-``/``S-`` + a type, and every token line has as many columns as
  the first.
* :func:`read_verse_books` - the offline real-label task: Bible verses (a
  ``verses.tsv`` of :mod:`pipeline.corpora.importers`) labelled with their book.

A location is a path or a URL; a URL goes through
:func:`pipeline.download.cached_download` (with its sha256 when given). A line
that is not as expected raises :class:`~pipeline.errors.InputError` naming the
file and the line number.

The models (:class:`BiLSTM`): a frozen embedding lookup from a KeyedVectors-like
set, one bidirectional LSTM layer, a linear head. For tagging the head labels
every token; for sentence classification it labels the mean- or max-pooled
BiLSTM states. A word is looked up as written, then lower-cased; a word found
neither way is unknown and gets a fixed zero vector (not learned: the score
then measures the vectors alone). Training: Adam, cross-entropy, at most
``epochs`` epochs, stopping when the dev accuracy has not improved for
``patience`` epochs and keeping the best dev epoch's weights; seeded and run
with ``torch.use_deterministic_algorithms(True)`` on the CPU, so two runs with
one seed give the same scores.

>>> ex = read_conllu_text("# text = Dogs bark.\\n1\\tDogs\\tdog\\tNOUN\\t_\\t_\\t2\\tnsubj\\t_\\t_\\n"
...                       "2\\tbark\\tbark\\tVERB\\t_\\t_\\t0\\troot\\t_\\t_\\n3\\t.\\t.\\tPUNCT\\t_\\t_\\t2\\tpunct\\t_\\t_\\n")
>>> ex[0].tokens, ex[0].labels
(('Dogs', 'bark', '.'), ('NOUN', 'VERB', 'PUNCT'))
"""
from __future__ import annotations

import contextlib
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple, Sequence

from pipeline.errors import InputError, utf8_lines

if TYPE_CHECKING:
    import numpy as np
    import torch
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = [
    "Example",
    "TaggerSettings",
    "TaggingData",
    "ExtrinsicEvaluator",
    "read_conllu",
    "read_conllu_text",
    "read_conll_ner",
    "read_verse_books",
    "split_examples",
    "fit_tagger",
    "evaluate_tagger",
    "span_f1",
    "DEFAULT_BOOKS",
    "UPOS_TAGS",
]

#: six books of distinct genres (law/narrative, poetry, wisdom, prophecy, gospel, epistle)
DEFAULT_BOOKS = ("Genesis", "Psalms", "Proverbs", "Isaiah", "Matthew", "Romans")

_CONLLU_ID = re.compile(r"[1-9][0-9]*")
_CONLLU_SKIP_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")
_NER_TAG = re.compile(r"O|[BIES]-\S+")
#: the 17 universal part-of-speech tags of Universal Dependencies (v2): what the UPOS column may hold
UPOS_TAGS = frozenset("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
_WORD = re.compile(r"\w+(?:'\w+)?")


class Example(NamedTuple):
    """One sentence: its tokens and either one label per token (tagging) or one label (``labels[0]``)."""

    tokens: tuple[str, ...]
    labels: tuple[str, ...]


# --------------------------------------------------------------------------- readers


def _local(location: str | Path, cache_dir: str | Path | None, sha256: str | None) -> Path:
    from pipeline.download import cached_download, is_url

    if is_url(str(location)):
        if cache_dir is None:
            raise InputError(str(location), "a cache_dir to download a URL into")
        return cached_download(str(location), cache_dir, sha256=sha256, progress=False)
    path = Path(location)
    if not path.is_file():
        raise InputError(path, "a labelled data file", "no such file")
    return path


def _conllu_examples(lines: Iterable[tuple[int, str]], where: str) -> list[Example]:
    examples: list[Example] = []
    tokens: list[str] = []
    labels: list[str] = []
    span = (0, 0, "")  # the last multiword token's last word ID, its line number and ID

    def check_span():  # a range line stands for the word lines after it: without them its words are lost
        if span[0] > len(tokens):
            raise InputError(where, f"the word lines of multiword token {span[2]} after it (IDs up to {span[0]})",
                             f"line {span[1]} has range {span[2]}, but the sentence ends after word {len(tokens)}")

    for line_no, line in lines:
        if not line.strip():
            check_span()
            if tokens:
                examples.append(Example(tuple(tokens), tuple(labels)))
            tokens, labels, span = [], [], (0, 0, "")
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise InputError(where, "a CoNLL-U word line of 10 tab-separated fields",
                             f"line {line_no} has {len(fields)}: {line[:60]!r}")
        word_id = fields[0]
        if _CONLLU_SKIP_ID.fullmatch(word_id):
            if "-" in word_id:
                first, last = (int(i) for i in word_id.split("-"))
                if first != len(tokens) + 1 or last <= first:  # a range names the word lines that follow it
                    raise InputError(where, f"a multiword token range from the next word ID, {len(tokens) + 1}, to "
                                     "a later one", f"line {line_no} has range {word_id}")
                span = (last, line_no, word_id)
            continue
        if not _CONLLU_ID.fullmatch(word_id):
            raise InputError(where, "a CoNLL-U word ID (1, 2, ...; 3-4 or 5.1 are skipped)",
                             f"line {line_no} has ID {word_id!r}")
        if int(word_id) != len(tokens) + 1:
            raise InputError(where, f"word ID {len(tokens) + 1} (IDs count up from 1 in a sentence)",
                             f"line {line_no} has ID {word_id}")
        if not fields[1] or not fields[3] or fields[3] == "_":
            raise InputError(where, "a FORM and a UPOS tag on every word line", f"line {line_no}: {line[:60]!r}")
        if fields[3] not in UPOS_TAGS:
            raise InputError(where, f"a UPOS tag in the 4th column ({', '.join(sorted(UPOS_TAGS))})",
                             f"line {line_no} has {fields[3][:20]!r}")
        tokens.append(fields[1])
        labels.append(fields[3])
    check_span()
    if tokens:
        examples.append(Example(tuple(tokens), tuple(labels)))
    return examples


def read_conllu(location: str | Path, *, cache_dir: str | Path | None = None, sha256: str | None = None
                ) -> list[Example]:
    """Sentences of a CoNLL-U file (path or URL), each word labelled with its UPOS tag."""
    path = _local(location, cache_dir, sha256)
    return _conllu_examples(utf8_lines(path), str(path))


def read_conllu_text(text: str, where: str = "<text>") -> list[Example]:
    """:func:`read_conllu` on a string (``where`` names it in errors)."""
    return _conllu_examples(enumerate(text.splitlines(), start=1), where)


def read_conll_ner(location: str | Path, *, cache_dir: str | Path | None = None, sha256: str | None = None
                   ) -> list[Example]:
    """Sentences of a CoNLL-2003 style NER file: token in the first column, IOB/IOBES tag in the last."""
    path = _local(location, cache_dir, sha256)
    examples: list[Example] = []
    tokens: list[str] = []
    labels: list[str] = []
    width = None  # (fields, line number) of the first token line: every token line has as many columns
    for line_no, line in utf8_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                examples.append(Example(tuple(tokens), tuple(labels)))
            tokens, labels = [], []
            continue
        if len(fields) < 2 or not _NER_TAG.fullmatch(fields[-1]):
            raise InputError(path, "'token ... tag' with the tag O or B-/I-/E-/S-<type> last",
                             f"line {line_no}: {line[:60]!r}")
        width = width or (len(fields), line_no)
        if len(fields) != width[0]:
            # a line short of a column reads another column's tag (a chunk tag B-NP) as its entity tag
            raise InputError(path, f"{width[0]} whitespace-separated columns on every token line (as on line "
                             f"{width[1]})", f"line {line_no} has {len(fields)}: {line[:60]!r}")
        tokens.append(fields[0])
        labels.append(fields[-1])
    if tokens:
        examples.append(Example(tuple(tokens), tuple(labels)))
    return examples


def read_verse_books(location: str | Path, books: Sequence[str] | None = DEFAULT_BOOKS, *,
                     cache_dir: str | Path | None = None, sha256: str | None = None) -> list[Example]:
    """Bible verses labelled with their book (``Example(tokens, (book,))``): a real-label sentence task.

    ``location``: a ``verses.tsv`` (``ref<TAB>text``, refs ``Book C:V``);
    ``books``: the books kept (``None``: all). Tokens are the lower-cased
    words (``\\w+`` with an inner apostrophe).
    """
    from pipeline.corpora.importers import read_verses

    path = _local(location, cache_dir, sha256)
    keep = None if books is None else set(books)
    examples = []
    for ref, text in read_verses(path):
        book, sep, verse = ref.rpartition(" ")
        if not sep or ":" not in verse:
            raise InputError(path, "verse references 'Book C:V' in the ref column", f"found {ref!r}")
        if keep is not None and book not in keep:
            continue
        tokens = tuple(_WORD.findall(text.lower()))
        if tokens:
            examples.append(Example(tokens, (book,)))
    if keep is not None:
        missing = keep - {e.labels[0] for e in examples}
        if missing:
            raise InputError(path, f"verses of every book asked for", f"none of {', '.join(sorted(missing))}")
    return examples


def split_examples(examples: Sequence[Example], dev: float = 0.1, test: float = 0.1, seed: int = 0
                   ) -> tuple[list[Example], list[Example], list[Example]]:
    """A seeded shuffle into ``(train, dev, test)``."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_dev, n_test = int(round(dev * len(order))), int(round(test * len(order)))
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return pick(order[n_dev + n_test:]), pick(order[:n_dev]), pick(order[n_dev:n_dev + n_test])


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class TaggerSettings:
    """The tagger's training settings. ``pool``: ``None`` tags tokens; ``"mean"`` / ``"max"`` classify sentences."""

    hidden: int = 64
    epochs: int = 10
    patience: int = 2
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    pool: str | None = None

    def __post_init__(self):
        if self.pool not in (None, "mean", "max"):
            raise ValueError(f"pool must be None, 'mean' or 'max'; found {self.pool!r}")
        if min(self.hidden, self.epochs, self.batch_size) < 1 or self.patience < 0 or self.lr <= 0:
            raise ValueError(f"tagger settings must be positive; found {self}")


_PAD, _UNK = 0, 1


def _bilstm_class():
    import torch
    from torch import nn

    class BiLSTM(nn.Module):
        """Frozen embeddings -> one BiLSTM layer -> linear head (per token, or on pooled states)."""

        def __init__(self, vectors: "torch.Tensor", n_labels: int, hidden: int, pool: str | None):
            super().__init__()
            self.embed = nn.Embedding.from_pretrained(vectors, freeze=True, padding_idx=_PAD)
            self.lstm = nn.LSTM(vectors.shape[1], hidden, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * hidden, n_labels)
            self.pool = pool

        def forward(self, ids: "torch.Tensor", lengths: "torch.Tensor") -> "torch.Tensor":
            """``ids`` (batch, time), ``lengths`` (batch,) -> logits (batch, time, labels) or (batch, labels)."""
            from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

            packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
            states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
            if self.pool is None:
                return self.head(states)
            mask = (ids != _PAD).unsqueeze(-1)
            if self.pool == "mean":
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            else:
                pooled = states.masked_fill(~mask, float("-inf")).max(1).values
            return self.head(pooled)

    return BiLSTM


@dataclass
class TrainedTagger:
    """A trained model with its word and label indices; ``history``: dev accuracy per epoch."""

    model: object
    word_index: dict[str, int]
    labels: list[str]
    settings: TaggerSettings
    history: list[float]
    best_epoch: int


def _lookup(kv: "KeyedVectors", word: str) -> int | None:
    idx = kv.key_to_index.get(word)
    if idx is None:
        idx = kv.key_to_index.get(word.lower())
    return idx


def _embedding_table(kv: "KeyedVectors", examples: Iterable[Example]) -> tuple["np.ndarray", dict[str, int]]:
    """Rows for the known words of the data only (PAD and UNK rows zero), so a large set stays cheap."""
    import numpy as np

    word_index: dict[str, int] = {}
    rows: list[int] = []
    for ex in examples:
        for tok in ex.tokens:
            if tok in word_index:
                continue
            idx = _lookup(kv, tok)
            if idx is not None:
                word_index[tok] = len(rows) + 2
                rows.append(idx)
    table = np.zeros((len(rows) + 2, kv.vector_size), dtype=np.float32)
    if rows:
        table[2:] = np.asarray(kv.vectors, dtype=np.float32)[rows]
    return table, word_index


@contextlib.contextmanager
def _deterministic(seed: int):
    import torch

    was, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # one thread: the model is small, so more threads only wait on each other (and a busy machine's
    # other work); it also fixes the order of every reduction
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(threads)


def _batches(examples: Sequence[Example], word_index: Mapping[str, int], label_index: Mapping[str, int],
             batch_size: int, tagging: bool, order: Sequence[int] | None = None):
    import torch

    order = range(len(examples)) if order is None else order
    order = list(order)
    for start in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[start:start + batch_size]]
        width = max(len(ex.tokens) for ex in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        target = torch.full((len(chunk), width) if tagging else (len(chunk),), -100, dtype=torch.long)
        for row, ex in enumerate(chunk):
            ids[row, :len(ex.tokens)] = torch.tensor([word_index.get(t, _UNK) for t in ex.tokens])
            if tagging:
                target[row, :len(ex.labels)] = torch.tensor([label_index.get(lab, -100) for lab in ex.labels])
            else:
                target[row] = label_index.get(ex.labels[0], -100)
        yield ids, torch.tensor([len(ex.tokens) for ex in chunk]), target, chunk


def _check(examples: Sequence[Example], tagging: bool, what: str) -> None:
    if not examples:
        raise InputError(None, f"at least one {what} example")
    for ex in examples:
        if not ex.tokens or (tagging and len(ex.labels) != len(ex.tokens)) or (not tagging and len(ex.labels) != 1):
            raise InputError(None, f"{what} examples with one label per token (tagging) or one label (pooled)",
                             f"found {len(ex.tokens)} tokens, {len(ex.labels)} labels")


def _predict(tagger: TrainedTagger, examples: Sequence[Example]) -> list[list[str]]:
    import torch

    tagging = tagger.settings.pool is None
    out: list[list[str]] = []
    tagger.model.eval()
    with torch.no_grad():
        for ids, lengths, _, chunk in _batches(examples, tagger.word_index, {}, 256, tagging):
            best = tagger.model(ids, lengths).argmax(-1)
            for row, ex in enumerate(chunk):
                picked = best[row, :len(ex.tokens)].tolist() if tagging else [int(best[row])]
                out.append([tagger.labels[i] for i in picked])
    return out


def _accuracy(tagger: TrainedTagger, examples: Sequence[Example]) -> float:
    right = total = 0
    for ex, pred in zip(examples, _predict(tagger, examples)):
        gold = ex.labels if tagger.settings.pool is None else ex.labels[:1]
        right += sum(g == p for g, p in zip(gold, pred))
        total += len(gold)
    return right / total if total else 0.0


def fit_tagger(kv: "KeyedVectors", train: Sequence[Example], dev: Sequence[Example],
               settings: TaggerSettings = TaggerSettings(), *, extra: Iterable[Example] = ()) -> TrainedTagger:
    """Train a :class:`BiLSTM` on frozen ``kv`` vectors; keep the epoch with the best dev accuracy.

    ``extra``: examples (the test split) whose words get embedding rows too,
    so that a word seen only at test time is looked up in ``kv`` rather than
    treated as unknown; their labels are not read.
    """
    import torch

    tagging = settings.pool is None
    _check(train, tagging, "training")
    _check(dev, tagging, "dev")
    labels = sorted({lab for ex in train for lab in ex.labels})
    label_index = {lab: i for i, lab in enumerate(labels)}
    table, word_index = _embedding_table(kv, [*train, *dev, *extra])
    with _deterministic(settings.seed):
        model = _bilstm_class()(torch.from_numpy(table), len(labels), settings.hidden, settings.pool)
        optim = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
        shuffle = torch.Generator().manual_seed(settings.seed)
        tagger = TrainedTagger(model, word_index, labels, settings, [], 0)
        best_state, best_acc, stale = None, -1.0, 0
        for epoch in range(1, settings.epochs + 1):
            model.train()
            order = torch.randperm(len(train), generator=shuffle).tolist()
            for ids, lengths, target, _ in _batches(train, word_index, label_index, settings.batch_size, tagging,
                                                    order):
                logits = model(ids, lengths)
                loss = loss_fn(logits.reshape(-1, len(labels)), target.reshape(-1))
                optim.zero_grad()
                loss.backward()
                optim.step()
            acc = _accuracy(tagger, dev)
            tagger.history.append(acc)
            if acc > best_acc:
                best_acc, stale, tagger.best_epoch = acc, 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale > settings.patience:
                    break
        model.load_state_dict(best_state)
    log.info("tagger: dev accuracy per epoch %s, kept epoch %d", [round(a, 4) for a in tagger.history],
             tagger.best_epoch)
    return tagger


def _spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Typed spans of an IOB/IOBES sequence; an ``I-`` not continuing a span of its type starts one (conlleval)."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, typ = tag.partition("-")
        continues = prefix in ("I", "E") and kind == typ and start is not None
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "S") or (prefix in ("I", "E") and start is None):
            start, kind = i, typ
        if prefix in ("E", "S") and start is not None:
            spans.add((start, i + 1, kind))
            start, kind = None, None
    return spans


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float | None:
    """Micro F1 of exact typed spans (CoNLL-2003's measure); ``None`` when neither side has a span.

    >>> span_f1([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    0.6666666666666666
    """
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted):
        gs, ps = _spans(g), _spans(p)
        tp += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    if not n_gold and not n_pred:
        return None
    return 2 * tp / (n_gold + n_pred)


def evaluate_tagger(tagger: TrainedTagger, examples: Sequence[Example], *, spans: bool = False) -> dict:
    """``{"accuracy", "oov_rate", "n"}`` on ``examples`` (+ ``"span_f1"`` when ``spans``).

    ``accuracy``: token accuracy when tagging, sentence accuracy when pooled;
    ``oov_rate``: the share of tokens with no vector (they read the zero
    vector); ``n``: tokens (tagging) or sentences (pooled) scored.
    """
    tagging = tagger.settings.pool is None
    _check(examples, tagging, "test")
    pred = _predict(tagger, examples)
    n_tokens = sum(len(ex.tokens) for ex in examples)
    oov = sum(t not in tagger.word_index for ex in examples for t in ex.tokens)
    gold = [ex.labels if tagging else ex.labels[:1] for ex in examples]
    right = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
    n = sum(len(g) for g in gold)
    out = {"accuracy": right / n, "oov_rate": oov / n_tokens, "n": n}
    if spans:
        out["span_f1"] = span_f1(gold, pred)
    return out


# --------------------------------------------------------------------------- the evaluator


@dataclass(frozen=True)
class TaggingData:
    """A labelled task: ``name`` (a benchmark word, lower case, no ``_`` or ``-``: ``upos``, ``ner``,
    ``versebook``), its splits, and whether to score typed spans (NER)."""

    name: str
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    spans: bool = False

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9]*", self.name):
            raise ValueError(f"task name must be lower-case letters and digits; found {self.name!r}")


class ExtrinsicEvaluator:
    """Train a tagger on frozen vectors and score it on the test split; called with ``KeyedVectors``.

    Keys, ``extrinsic_<task>_`` then: ``accuracy`` (primary), ``oov_rate``,
    ``n`` and, with ``spans``, ``span_f1``.
    """

    def __init__(self, data: TaggingData, settings: TaggerSettings = TaggerSettings()):
        self.data = data
        self.settings = settings
        self.benchmark = f"extrinsic_{data.name}"
        self.primary_metric = f"{self.benchmark}_accuracy"

    def __call__(self, kv: "KeyedVectors") -> dict:
        tagger = fit_tagger(kv, self.data.train, self.data.dev, self.settings, extra=self.data.test)
        res = evaluate_tagger(tagger, self.data.test, spans=self.data.spans)
        return {f"{self.benchmark}_{m}": v for m, v in res.items()}
