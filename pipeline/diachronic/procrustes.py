"""The classic semantic-change baseline: an independent word2vec per slice, aligned with orthogonal Procrustes.

Hamilton, Leskovec, Jurafsky 2016 ("Diachronic word embeddings reveal
statistical laws of semantic change"); skip-gram + orthogonal Procrustes was
the best type-based system of SemEval-2020 Task 1 (Schlechtweg et al. 2020).
Each slice gets its own gensim ``Word2Vec`` (CBOW or skip-gram with negative
sampling, initial word vectors in the reference range as CADE's, see
:func:`.cade.reference_initial_vectors`); every other slice is then mapped onto
one reference slice by the orthogonal ``W`` fitted on their shared vocabulary
(:func:`pipeline.alignment.align_keyed_vectors`, unit-length rows). The
reference slice keeps its vectors as trained.

>>> import random
>>> rng = random.Random(0)
>>> words = [f"w{i}" for i in range(30)]
>>> text = [[rng.choice(words) for _ in range(12)] for _ in range(300)]
>>> s = ProcrustesSettings(vector_size=8, min_count=2, epochs=1)
>>> aligned = train_procrustes({"1900": text[:150], "2000": text[150:]}, s)
>>> list(aligned), aligned["2000"].vector_size
(['1900', '2000'], 8)

Defaults are CADE's reference defaults (DESIGN.md), so the two compare at equal
settings; :meth:`ProcrustesSettings.matching` gives the baseline at a CADE run's
settings.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional

from ..errors import InputError
from .settings import ARCHITECTURES, ProcrustesSettings  # a light module: specs read it without gensim

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

__all__ = ["ProcrustesSettings", "align_to_reference", "reference_slice", "train_independent_slice",
           "train_procrustes"]

Progress = Optional[Callable[[float, str], None]]


def _label(corpus, default: str) -> str:
    p = getattr(corpus, "path", None)
    return str(p) if p is not None else default


def train_independent_slice(corpus: Iterable[list[str]], settings: ProcrustesSettings, progress: Progress = None,
                            name: str = "slice") -> "KeyedVectors":
    """One slice's own word2vec (negative sampling; CBOW or skip-gram), in no shared space.

    ``corpus`` must be restartable (read once for the vocabulary and once per
    epoch). The learning rate decays linearly over epochs x words, as in CADE.
    Raises :class:`InputError` naming the slice when no word reaches ``min_count``.
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    from .cade import reference_initial_vectors

    model = Word2Vec(vector_size=settings.vector_size, window=settings.window, negative=settings.negative,
                     min_count=settings.min_count, sample=settings.sample, sg=ARCHITECTURES[settings.architecture],
                     hs=0, epochs=settings.epochs, alpha=settings.alpha, min_alpha=settings.min_alpha,
                     seed=settings.seed, workers=settings.threads)
    if progress is not None:
        progress(0.0, f"slice {name}: building vocabulary")
    model.build_vocab(corpus)
    if len(model.wv) == 0:
        raise InputError(_label(corpus, name), f"slice '{name}' with at least one word occurring "
                         f"{settings.min_count}+ times", f"slice too small for min_count={settings.min_count}: "
                         f"{model.corpus_total_words} words, {model.corpus_count} sentences")
    reference_initial_vectors(model)
    epochs = settings.epochs

    class _EpochEnd(CallbackAny2Vec):
        def __init__(self):
            self.epoch = 0

        def on_epoch_end(self, m):
            self.epoch += 1
            if progress is not None:
                progress(self.epoch / epochs, f"slice {name}: epoch {self.epoch}/{epochs}")

    model.train(corpus, total_words=model.corpus_total_words, epochs=epochs, callbacks=[_EpochEnd()])
    return model.wv


def reference_slice(names: Iterable[str], reference: str = "first") -> str:
    """The name of the reference slice among ``names`` (in order): ``"first"``, ``"last"`` or a slice name.

    >>> reference_slice(["1850", "1900", "1950"], "last")
    '1950'
    """
    names = list(names)
    if not names:
        raise ValueError("no slices to choose a reference from")
    if reference == "first":
        return names[0]
    if reference == "last":
        return names[-1]
    if reference not in names:
        raise InputError(None, f"a reference slice named '{reference}' (or 'first' / 'last')",
                         f"slices: {', '.join(names)}")
    return reference


def align_to_reference(slices: Mapping[str, "KeyedVectors"], reference: str = "first") -> dict[str, "KeyedVectors"]:
    """Every slice mapped onto the reference slice with orthogonal Procrustes on their shared words.

    Rows are scaled to unit length before the map (Hamilton et al. 2016); the
    reference slice is returned as it is. Keys, order and counts are kept.
    """
    from ..alignment import align_keyed_vectors

    ref_name = reference_slice(slices, reference)
    ref = slices[ref_name]
    return {name: kv if name == ref_name else align_keyed_vectors(kv, ref) for name, kv in slices.items()}


def train_procrustes(corpora: Mapping[str, Iterable[list[str]]], settings: ProcrustesSettings,
                     progress: Progress = None) -> dict[str, "KeyedVectors"]:
    """The whole baseline: an independent word2vec per slice (in the given order), all aligned to
    ``settings.reference``."""
    trained = {}
    for i, (name, corpus) in enumerate(corpora.items()):
        sub = None if progress is None else (
            lambda f, m, i=i: progress((i + f) / len(corpora), m))
        trained[name] = train_independent_slice(corpus, settings, progress=sub, name=name)
    return align_to_reference(trained, settings.reference)
