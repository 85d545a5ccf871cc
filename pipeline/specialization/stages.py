"""The two specialization stages as plain functions: settings + inputs + an output folder -> metrics.

No luigi here (:mod:`pipeline.dag.specialization` only wires these to tasks).
Paths in the settings are used as given: resolve a spec's relative paths
first (:meth:`~.spec.SpecializationSpec.resolved`).

* :func:`build_constraints` writes ``pairs.parquet`` (the training pairs),
  ``bli/<name>.test.txt`` and ``bli/<name>.targets.txt`` (held-out BLI pairs
  and their candidate targets), ``heldout.txt`` and ``metrics.json``;
* :func:`build_specialized` writes ``model/`` (the fine-tuned encoder, a
  Hugging Face folder with a model card), ``vectors/`` and ``vectors-before/``
  (static vectors per language, layer and mode), ``losses.tsv`` with ``loss.png`` and
  ``metrics.json`` (before, after and their ``delta_``).

::

    settings = load_specialization_spec("tasks/specialization/minilm_wordnet.yaml").resolved(".")
    build_constraints(settings.constraints, ConstraintInputs(spec_file=Path("spec.yaml")), Path("out/constraints"))
    build_specialized(settings, SpecializedInputs(constraints=Path("out/constraints"), model=settings.model,
                      model_cache=Path("cache"), corpora=Path("corpora"), work_dir=Path("work")), Path("out/model"))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..errors import InputError, PipelineError
from ..identity import write_json
from .spec import ConstraintsSpec, SpecializationSpec

__all__ = ["ConstraintInputs", "SpecializedInputs", "BliSet", "build_constraints", "build_specialized", "read_bli",
           "word_lists", "read_words", "constraint_words", "metric_deltas"]

Progress = Optional[Callable[[float, str], None]]


def _report(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)




# ---------------------------------------------------------------------------------------------------------------
# constraints


@dataclass(frozen=True)
class ConstraintInputs:
    """What the constraints stage reads besides the files its settings name."""

    spec_file: Optional[Path] = None       # the spec, named in error messages
    babelnet_cache: Optional[Path] = None  # BabelNet answers and the daily count (needed with babelnet settings)


def _babelnet_records(b, inputs: ConstraintInputs, progress: Progress) -> tuple[list, dict]:
    from ..babelnet import BabelNetClient, BabelNetError, harvest_synsets, resolve_key

    lemmas = list(b.lemmas)
    if b.lemmas_file:
        path = Path(b.lemmas_file)
        if not path.is_file():
            raise InputError(path, "a lemma list (one lemma per line) for babelnet.lemmas_file", "no such file")
        lemmas += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                   if line.strip() and not line.startswith("#")]
    if inputs.babelnet_cache is None:
        raise ValueError("a BabelNet cache folder (ConstraintInputs.babelnet_cache) for babelnet constraints")
    cache = inputs.babelnet_cache
    client = BabelNetClient(resolve_key(b.key_env), cache, base_url=b.base_url, daily_budget=b.daily_budget,
                            timeout=b.timeout, retries=b.retries)
    result = harvest_synsets(client, lemmas, b.search_lang, b.target_langs, pos=b.pos,
                             max_synsets_per_lemma=b.max_synsets_per_lemma,
                             progress=lambda f, m: _report(progress, 0.8 * f, m))
    if not result.complete:
        raise BabelNetError(f"{inputs.spec_file or 'babelnet'}: BabelNet harvest stopped after "
                            f"{result.lemmas_done} of {result.lemmas_total} lemmas ({result.stopped_because}); the "
                            f"{len(client.cache)} answers so far are cached in {cache} and the next run continues "
                            "from there")
    return result.records, {"babelnet_requests_sent": result.requests_sent,
                            "babelnet_cache_hits": result.cache_hits, "babelnet_lemmas": result.lemmas_total,
                            "babelnet_senses": len(result.records)}


def build_constraints(settings: ConstraintsSpec, inputs: ConstraintInputs, out_dir: Path, *,
                      progress: Progress = None) -> dict:
    """Synonym and translation pairs from the sources ``settings`` names, every evaluation word held out.

    Held out: SimLex-999's words (``holdout_simlex999``), the words of
    ``holdout_files`` and, from every source, both sides of each dictionary's
    BLI test pairs. Writes the stage folder ``out_dir``; returns its metrics.
    """
    from ..multilingual.dictionaries import BilingualDictionary, load_dictionary
    from . import (DictionarySource, apertium_pairs, babelnet_senses, pivot_dictionary, prepare_constraints,
                   read_heldout_file, read_wordnet_senses, simlex_words)

    c = settings
    out_dir = Path(out_dir)
    metrics: dict = {}
    senses = []
    if c.babelnet:
        records, m = _babelnet_records(c.babelnet, inputs, progress)
        senses.append(babelnet_senses(records))
        metrics.update(m)
    if c.wordnet:
        wn = read_wordnet_senses(c.wordnet.path, c.wordnet.pos, c.wordnet.lang)
        metrics["wordnet_senses"] = wn.height
        senses.append(wn)
    dictionaries = [DictionarySource(load_dictionary(d.path), d.source_lang, d.target_lang, d.test_size, d.seed)
                    for d in c.freedict]
    for pv in c.pivots:
        pairs = pivot_dictionary([DictionarySource(load_dictionary(d.path), d.source_lang, d.target_lang)
                                  for d in pv.dictionaries], pv.source_lang, pv.target_lang, pv.via,
                                 pv.max_fanout, pv.multiword)
        name = f"{pv.source_lang}-{pv.target_lang}-via-{pv.via}"
        metrics[f"pivot_{name}_pairs"] = len(pairs)
        dictionaries.append(DictionarySource(BilingualDictionary(tuple(pairs)), pv.source_lang, pv.target_lang,
                                             name=name))
    for a in c.apertium:
        lemmas = read_wordnet_senses(a.lemmas_from, a.pos, a.source_lang)
        pairs = apertium_pairs(a.path, zip(lemmas["word"], lemmas["synset"].str.slice(-1)), multiword=a.multiword)
        name = f"{a.source_lang}-{a.target_lang}-apertium"
        metrics[f"apertium_{name}_pairs"] = len(pairs)
        dictionaries.append(DictionarySource(BilingualDictionary(tuple(pairs)), a.source_lang, a.target_lang,
                                             name=name))
    heldout = {("en", w) for w in simlex_words()} if c.holdout_simlex999 else set()
    # a held-out line's first word is its language when it is one of the run's (a three-letter code too)
    languages = {lang for d in dictionaries for lang in (d.source_lang, d.target_lang)}
    languages |= {lang for frame in senses for lang in frame["lang"].unique().to_list()}
    for p in c.holdout_files:
        heldout |= read_heldout_file(p, languages=languages)
    try:
        cs = prepare_constraints(senses, dictionaries, heldout, max_synset_size=c.max_synset_size,
                                 max_pairs=c.max_pairs, seed=c.seed)
    except ValueError as exc:
        raise InputError(inputs.spec_file, "constraints that leave training pairs", str(exc)) from None
    metrics.update(cs.metrics)
    cs.pairs.write_parquet(out_dir / "pairs.parquet")
    (out_dir / "bli").mkdir()
    for name, pairs in cs.bli_test.items():
        (out_dir / "bli" / f"{name}.test.txt").write_text("".join(f"{s} {t}\n" for s, t in pairs), encoding="utf-8")
        (out_dir / "bli" / f"{name}.targets.txt").write_text("".join(f"{t}\n" for t in cs.bli_targets[name]),
                                                             encoding="utf-8")
    (out_dir / "heldout.txt").write_text("".join(f"{lang} {w}\n" for lang, w in sorted(heldout)), encoding="utf-8")
    write_json(out_dir / "metrics.json", metrics)
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# the specialized encoder


@dataclass(frozen=True)
class BliSet:
    """One held-out BLI set of a constraints folder: test pairs and the candidate targets they are ranked among."""

    pairs: tuple[tuple[str, str], ...]
    targets: tuple[str, ...]


def read_bli(folder: Path) -> dict[str, BliSet]:
    """The BLI sets of a constraints stage's ``bli/`` folder, by name (``en-es``, ...)."""
    out = {}
    for test in sorted(Path(folder).glob("*.test.txt")):
        name = test.name[: -len(".test.txt")]
        pairs = []
        for line_no, line in enumerate(test.read_text(encoding="utf-8").splitlines(), start=1):
            if not line:
                continue
            pair = tuple(line.split(" ", 1))
            if len(pair) != 2 or not all(pair):
                raise InputError(test, f"'<source word> <target word>' on line {line_no} (a constraints stage's "
                                 "BLI test pairs)", f"found {line[:60]!r}")
            pairs.append(pair)
        targets_file = Path(folder) / f"{name}.targets.txt"
        if not targets_file.is_file():
            raise InputError(targets_file, f"the candidate targets of the BLI set {name} beside {test.name}",
                             "no such file")
        out[name] = BliSet(tuple(pairs), tuple(targets_file.read_text(encoding="utf-8").split()))
    return out


@dataclass(frozen=True)
class SpecializedInputs:
    """What the specialization stage reads: the constraints folder, the model, corpora and resumable state."""

    constraints: Path             # a constraints stage folder (see build_constraints)
    model: str                    # a model folder, pkg:<package>/<folder>, a hub id or a URL (pipeline.models)
    model_cache: Path             # where a remote model is fetched to
    corpora: Path                 # the corpus root: extract.corpora are folders under it (aggregate mode)
    work_dir: Path                # resumable training state (its checkpoint)
    spec_file: Optional[Path] = None  # the spec, named in error messages


def read_words(path: Path) -> list[str]:
    """Keys of a ``.vec`` file (header skipped) or the first column of a word list."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "a word list or .vec file for extract.words", "no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.name.endswith(".vec") and lines and len(lines[0].split()) == 2 and lines[0].split()[0].isdigit():
        lines = lines[1:]
    return list(dict.fromkeys(line.split()[0] for line in lines if line.strip()))


def constraint_words(pairs, bli: dict[str, BliSet], lang: str) -> list[str]:
    """Words of ``lang`` in the training pairs and the evaluation sets, most frequent in the pairs first."""
    import polars as pl

    both = pl.concat([pairs.select(pl.col("lang_a").alias("lang"), pl.col("word_a").alias("word")),
                      pairs.select(pl.col("lang_b").alias("lang"), pl.col("word_b").alias("word"))])
    ranked = (both.filter(pl.col("lang") == lang).group_by("word").len()
              .sort(["len", "word"], descending=[True, False])["word"].to_list())
    extra = []
    if lang == "en":
        from . import simlex_words

        extra += simlex_words()
    for name, b in bli.items():
        src, _, tgt = name.partition("-")
        if lang == src:
            extra += [s for s, _ in b.pairs]
        if lang == tgt:
            extra += b.targets
    return list(dict.fromkeys(ranked + extra))


def word_lists(extract, pairs, bli: dict[str, BliSet]) -> dict[str, list[str]]:
    """Words to extract per language: the ``extract.words`` lists, else the constraint and evaluation words."""
    out: dict[str, list[str]] = {}
    for w in extract.words:
        words = read_words(Path(w.path)) if w.path else constraint_words(pairs, bli, w.lang)
        out[w.lang] = list(dict.fromkeys(out.get(w.lang, []) + words))
        if w.max_words:
            out[w.lang] = out[w.lang][: w.max_words]
    if not extract.words:
        langs = sorted(set(pairs["lang_a"].to_list()) | set(pairs["lang_b"].to_list()))
        out = {lang: constraint_words(pairs, bli, lang) for lang in langs}
    return out


def _sentences(corpora: Path, names, lang: str) -> Iterator:
    from ..corpora import Tokenizer, iter_documents, load_declaration

    for name in names:
        decl = load_declaration(corpora / name)
        if decl.language != lang:
            continue
        tokenizer = Tokenizer(lang)
        for doc in iter_documents(decl):
            yield from tokenizer.sentences(doc.text)


def _extract(model, tok, extract, words: dict[str, list[str]], corpora: Path, folder: Path, device: str) -> dict:
    """Static vectors of ``words`` per language, layer and mode, written to ``folder``; returns word counts."""
    from ..corpora import load_declaration
    from . import static_vectors, write_vectors
    from .encoding import layer_name

    e = extract
    n_layers = model.config.num_hidden_layers
    folder.mkdir()
    languages = {load_declaration(corpora / name).language for name in e.corpora} if "aggregate" in e.modes else set()
    metrics = {}
    for lang, wl in words.items():
        for mode in e.modes:
            if mode == "aggregate" and lang not in languages:
                continue
            vecs, counts = static_vectors(
                model, tok, wl, mode, layers=e.layers,
                sentences=_sentences(corpora, e.corpora, lang) if mode == "aggregate" else None,
                fallback=None if e.fallback == "none" else e.fallback, batch_size=e.batch_size,
                max_length=e.max_length, context_max_length=e.context_max_length, max_sentences=e.max_sentences,
                device=device)
            for layer, matrix in vecs.items():
                write_vectors(wl, matrix, folder / f"{lang}.L{layer_name(layer, n_layers)}.{mode}", counts)
            metrics[f"{lang}_words"] = len(wl)
            if counts is not None:
                metrics[f"{lang}_aggregate_words_seen"] = int((counts > 0).sum())
    return metrics


def _evaluate(model, tok, s: SpecializationSpec, bli: dict[str, BliSet], device: str) -> dict:
    """SimLex-999 Spearman and BLI on the held-out sets, at the training layer (as the spec asks)."""
    from . import bli_metrics, simlex_spearman

    layer = s.train.layer
    out = {}
    if s.evaluation.simlex999:
        out.update(simlex_spearman(model, tok, layer, batch_size=s.extract.batch_size,
                                   max_length=s.train.max_length, device=device))
    if s.evaluation.bli:
        for name, b in bli.items():
            out.update(bli_metrics(model, tok, b.pairs, b.targets, layer, name=name, csls_k=s.evaluation.csls_k,
                                   batch_size=s.extract.batch_size, max_length=s.train.max_length, device=device))
    return out


def metric_deltas(before: dict, after: dict) -> dict:
    """``after - before`` for every measure that is a float on both sides (scores; counts are ints).

    >>> metric_deltas({"simlex999_spearman": 0.5, "simlex999_n": 999},
    ...               {"simlex999_spearman": 0.75, "simlex999_n": 999})
    {'simlex999_spearman': 0.25}
    """
    return {k: after[k] - v for k, v in before.items()
            if isinstance(v, float) and isinstance(after.get(k), float)}


def _prefixed(prefix: str, metrics: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def _check_layers(model, s: SpecializationSpec, spec_file) -> None:
    """Every layer the spec names exists in the model: checked before training, which a layer found out of
    range only when the vectors are read out (after it) would waste."""
    from ..errors import SpecError
    from .encoding import layer_name

    n = model.config.num_hidden_layers
    for key, layers in (("train.layer", (s.train.layer,)), ("extract.layers", s.extract.layers)):
        for layer in layers:
            try:
                layer_name(layer, n)
            except ValueError:
                raise SpecError(spec_file, f"{key} between -{n + 1} and {n} (the model {s.model} has {n} layers "
                                "and its embedding layer, 0)", f"found {layer}") from None


def build_specialized(settings: SpecializationSpec, inputs: SpecializedInputs, out_dir: Path, *, threads: int = 0,
                      progress: Progress = None) -> dict:
    """Specialize ``settings.model`` on the constraint pairs; static vectors and metrics before and after.

    Training resumes from ``inputs.work_dir`` (see
    :func:`~.train.train_specialization`). ``threads``: torch threads unless
    the settings name them. Writes the stage folder ``out_dir``; returns its metrics.
    """
    import polars as pl
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..inputs import declared_licence
    from ..models import resolve_model
    from ..torchutil import pick_device
    from . import train_specialization
    from .card import model_card

    s = settings
    out_dir = Path(out_dir)
    if s.threads or threads:
        torch.set_num_threads(s.threads or threads)
    folder = resolve_model(inputs.model, s.model_revision or "main", inputs.model_cache)
    try:
        model = AutoModel.from_pretrained(str(folder))
        tok = AutoTokenizer.from_pretrained(str(folder))
    except OSError as exc:
        raise InputError(inputs.spec_file, f"a loadable model at 'model: {s.model}' (hub id or folder)",
                         str(exc).splitlines()[0]) from None
    _check_layers(model, s, inputs.spec_file)
    try:
        device = pick_device(s.train.device, "train.device")
    except InputError:
        raise PipelineError(f"{inputs.spec_file or 'specialization'}: train.device is cuda but no GPU is "
                            "visible") from None
    model.to(device).eval()
    pairs = pl.read_parquet(Path(inputs.constraints) / "pairs.parquet")
    bli = read_bli(Path(inputs.constraints) / "bli")
    words = word_lists(s.extract, pairs, bli)
    corpora = Path(inputs.corpora)
    _report(progress, 0.02, "evaluating the original encoder")
    before = _evaluate(model, tok, s, bli, device)
    if s.extract.before:
        _report(progress, 0.05, "static vectors of the original encoder")
        before.update(_extract(model, tok, s.extract, words, corpora, out_dir / "vectors-before", device))
    result = train_specialization(model, tok, pairs, s.train.settings(), inputs.work_dir,
                                  progress=lambda f, m: _report(progress, 0.1 + 0.75 * f, m))
    _report(progress, 0.86, "evaluating the specialized encoder")
    after = _evaluate(model, tok, s, bli, device)
    after.update(_extract(model, tok, s.extract, words, corpora, out_dir / "vectors", device))
    metrics = {"model": s.model, "constraint_pairs": pairs.height, "device": device, **_prefixed("before_", before),
               "train_steps": result.steps, "train_pairs_seen": result.pairs_seen,
               "train_seconds": round(result.seconds, 2), "train_pairs_per_second": result.pairs_per_second,
               "train_resumed_from_step": result.resumed_from_step,
               "train_loss_first": result.losses[0] if result.losses else None,
               "train_loss_last": result.losses[-1] if result.losses else None,
               **_prefixed("after_", after), **_prefixed("delta_", metric_deltas(before, after))}
    model.to("cpu").save_pretrained(out_dir / "model")
    tok.save_pretrained(out_dir / "model")
    licence = declared_licence(s.model, s.model_revision or "main", folder)
    (out_dir / "model" / "README.md").write_text(model_card(s, metrics, licence), encoding="utf-8")
    (out_dir / "losses.tsv").write_text("step\tloss\n" + "".join(
        f"{i + 1}\t{v:.6f}\n" for i, v in enumerate(result.losses)), encoding="utf-8")
    if result.losses:
        from ..figures import plot_loss_curve

        plot_loss_curve(result.losses, out_dir / "loss.png", title=f"specialization of {s.model}: loss per step")
    write_json(out_dir / "metrics.json", metrics)
    return metrics
