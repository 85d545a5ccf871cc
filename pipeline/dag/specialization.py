"""Lexical specialization of a multilingual encoder, and static vectors read out of it.

``luigi --module pipeline SpecializedModel --spec <name>`` reads
``tasks/specialization/<name>.yaml``. Two stages:

* ``constraints/<name>-<hash>/``: synonym pairs (``pairs.parquet``) from
  WordNet, FreeDict and/or BabelNet, with the evaluation words held out, the
  held-out BLI pairs and their candidate targets (``bli/``);
* ``specialized/<name>-<hash>/``: the fine-tuned encoder (``model/``, a
  Hugging Face folder with a model card), static vectors per language, layer
  and mode (``vectors/<lang>.L<layer>.<mode>.vec``; the unspecialized
  encoder's in ``vectors-before/``), the loss curve and before/after metrics.

The BabelNet key comes from the environment or a key file, never from a
parameter, and is in no task id, output, cache file or message. Answers
(one file per request, named by a hash of the request without the key) and
the daily request count live in ``outputs/.work/babelnet/``, shared by every
spec and stage: a spec with one more lemma asks BabelNet only for that
lemma, and a new stage identity does not reset the day's count. Training
checkpoints live under ``outputs/.work/specialized-<name>-<hash>/``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import luigi

from ..errors import InputError, PipelineError
from ..spec import to_mapping
from ..specialization.spec import SpecializationSpec, load_specialization_spec
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, project_root, stage_threads,
                   tasks_root, work_dir, write_json)
from .registry import register_kind

logger = logging.getLogger("luigi-interface")

_FINGERPRINTS: dict[tuple, str] = {}


def specialization_spec(name: str, profile: str) -> SpecializationSpec:
    return cached_spec("specialization", name, profile, load_specialization_spec)


def _spec_path(name: str) -> Path:
    return tasks_root() / "specialization" / f"{name}.yaml"


def _resolve(path: str | Path) -> Path:
    """A spec path: absolute, or relative to the project folder (the one holding tasks/)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def _fingerprint_files(paths: list[Path], where: str, what: str) -> str:
    """Content fingerprint of files, cached by (path, size, mtime) so scheduling stays fast."""
    from ..identity import fingerprint_paths

    missing = [p for p in paths if not p.is_file()]
    if missing or not paths:
        raise InputError(missing[0] if missing else where, what, "no such file")
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = fingerprint_paths(paths)
    return _FINGERPRINTS[key]


def babelnet_dir() -> Path:
    """BabelNet's answers and daily request count, shared by every stage (keyed by request, not by stage)."""
    return outputs_root() / ".work" / "babelnet"


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


class SpecializationConstraints(StageTask):
    """Synonym pairs for a specialization spec (WordNet / FreeDict / BabelNet), evaluation words held out."""

    spec = luigi.Parameter(description="name of a spec under tasks/specialization/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "constraints"
    version = 2  # 2: pivots, Apertium; two dictionaries of one language pair keep apart synsets

    @property
    def spec_obj(self) -> SpecializationSpec:
        return specialization_spec(self.spec, self.profile)

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        c = to_mapping(self.spec_obj.constraints)
        if c["wordnet"]:
            c["wordnet"]["path"] = None  # its content is an input
        for d in c["freedict"]:
            d["path"] = Path(d["path"]).name
        for pv in c["pivots"]:
            for d in pv["dictionaries"]:
                d["path"] = Path(d["path"]).name
        for a in c["apertium"]:
            a["path"], a["lemmas_from"] = None, None  # their contents are inputs
        if c["babelnet"]:
            for k in ("key_env", "timeout", "retries", "daily_budget"):
                c["babelnet"].pop(k)  # how the harvest runs, not what it finds
        c["holdout_files"] = [Path(p).name for p in c["holdout_files"]]
        return c

    def identity_inputs(self):
        from ..multilingual.dictionaries import freedict_paths
        from ..specialization.constraints import WORDNET_POS

        c = self.spec_obj.constraints
        where = str(_spec_path(self.spec))
        inputs = {}
        if c.wordnet:
            root = _resolve(c.wordnet.path)
            inputs["wordnet"] = _fingerprint_files([root / f"data.{WORDNET_POS[p]}" for p in c.wordnet.pos], where,
                                                   "WordNet data files (Debian package wordnet-base)")
        for d in [*c.freedict, *(d for pv in c.pivots for d in pv.dictionaries)]:
            index, data = freedict_paths(_resolve(d.path))
            files = [index, data] if index.exists() else [_resolve(d.path)]
            inputs[f"dictionary:{Path(d.path).name}"] = _fingerprint_files(
                files, where, "a bilingual dictionary (FreeDict .index/.dict.dz or a pair file)")
        for i, a in enumerate(c.apertium):
            inputs[f"apertium:{i}"] = _fingerprint_files([_resolve(a.path)], where,
                                                        "a compiled Apertium bilingual dictionary (.autobil.bin)")
            root = _resolve(a.lemmas_from)
            inputs[f"apertium:{i}:lemmas"] = _fingerprint_files([root / f"data.{WORDNET_POS[p]}" for p in a.pos],
                                                                where, "WordNet data files (Debian wordnet-base)")
        for p in c.holdout_files:
            inputs[f"holdout:{Path(p).name}"] = _fingerprint_files([_resolve(p)], where, "a file of held-out words")
        if c.babelnet and c.babelnet.lemmas_file:
            inputs["babelnet_lemmas"] = _fingerprint_files([_resolve(c.babelnet.lemmas_file)], where, "a lemma list")
        if c.holdout_simlex999:
            from ..evaluation import SIMILARITY_SETS, _gensim_data

            inputs["simlex999"] = _fingerprint_files([_gensim_data(SIMILARITY_SETS["simlex999"])], where,
                                                     "gensim's SimLex-999 file")
        return inputs

    def _babelnet_records(self) -> tuple[list, dict]:
        from ..babelnet import BabelNetClient, BabelNetError, harvest_synsets, resolve_key

        b = self.spec_obj.constraints.babelnet
        lemmas = list(b.lemmas)
        if b.lemmas_file:
            path = _resolve(b.lemmas_file)
            if not path.is_file():
                raise InputError(path, "a lemma list (one lemma per line) for babelnet.lemmas_file", "no such file")
            lemmas += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip() and not line.startswith("#")]
        cache = babelnet_dir()
        client = BabelNetClient(resolve_key(b.key_env), cache, base_url=b.base_url, daily_budget=b.daily_budget,
                                timeout=b.timeout, retries=b.retries)
        result = harvest_synsets(client, lemmas, b.search_lang, b.target_langs, pos=b.pos,
                                 max_synsets_per_lemma=b.max_synsets_per_lemma,
                                 progress=lambda f, m: self.progress(0.8 * f, m))
        if not result.complete:
            raise BabelNetError(f"{_spec_path(self.spec)}: BabelNet harvest stopped after {result.lemmas_done} of "
                                f"{result.lemmas_total} lemmas ({result.stopped_because}); the {len(client.cache)} "
                                f"answers so far are cached in {cache} and the next run continues from there")
        return result.records, {"babelnet_requests_sent": result.requests_sent,
                                "babelnet_cache_hits": result.cache_hits, "babelnet_lemmas": result.lemmas_total,
                                "babelnet_senses": len(result.records)}

    def run(self):
        from ..multilingual.dictionaries import BilingualDictionary, load_dictionary
        from ..specialization import (apertium_pairs, babelnet_senses, pivot_dictionary, prepare_constraints,
                                      read_heldout_file, read_wordnet_senses, simlex_words)

        c = self.spec_obj.constraints
        metrics: dict = {}
        senses = []
        if c.babelnet:
            records, m = self._babelnet_records()
            senses.append(babelnet_senses(records))
            metrics.update(m)
        if c.wordnet:
            wn = read_wordnet_senses(_resolve(c.wordnet.path), c.wordnet.pos, c.wordnet.lang)
            metrics["wordnet_senses"] = wn.height
            senses.append(wn)
        dictionaries = [(load_dictionary(_resolve(d.path)), d.source_lang, d.target_lang, d.test_size, d.seed)
                        for d in c.freedict]
        for pv in c.pivots:
            pairs = pivot_dictionary([(load_dictionary(_resolve(d.path)).pairs, d.source_lang, d.target_lang)
                                      for d in pv.dictionaries], pv.source_lang, pv.target_lang, pv.via,
                                     pv.max_fanout, pv.multiword)
            name = f"{pv.source_lang}-{pv.target_lang}-via-{pv.via}"
            metrics[f"pivot_{name}_pairs"] = len(pairs)
            dictionaries.append((BilingualDictionary(tuple(pairs)), pv.source_lang, pv.target_lang, 0, 0, name))
        for a in c.apertium:
            lemmas = read_wordnet_senses(_resolve(a.lemmas_from), a.pos, a.source_lang)
            pairs = apertium_pairs(_resolve(a.path), zip(lemmas["word"], lemmas["synset"].str.slice(-1)),
                                   multiword=a.multiword)
            name = f"{a.source_lang}-{a.target_lang}-apertium"
            metrics[f"apertium_{name}_pairs"] = len(pairs)
            dictionaries.append((BilingualDictionary(tuple(pairs)), a.source_lang, a.target_lang, 0, 0, name))
        heldout = {("en", w) for w in simlex_words()} if c.holdout_simlex999 else set()
        for p in c.holdout_files:
            heldout |= read_heldout_file(_resolve(p))
        try:
            cs = prepare_constraints(senses, dictionaries, heldout, max_synset_size=c.max_synset_size,
                                     max_pairs=c.max_pairs, seed=c.seed)
        except ValueError as exc:
            raise InputError(_spec_path(self.spec), "constraints that leave training pairs", str(exc)) from None
        metrics.update(cs.metrics)
        with self.writing() as tmp:
            cs.pairs.write_parquet(tmp / "pairs.parquet")
            (tmp / "bli").mkdir()
            for name, pairs in cs.bli_test.items():
                (tmp / "bli" / f"{name}.test.txt").write_text("".join(f"{s} {t}\n" for s, t in pairs),
                                                              encoding="utf-8")
                (tmp / "bli" / f"{name}.targets.txt").write_text("".join(f"{t}\n" for t in cs.bli_targets[name]),
                                                                 encoding="utf-8")
            (tmp / "heldout.txt").write_text("".join(f"{lang} {w}\n" for lang, w in sorted(heldout)),
                                             encoding="utf-8")
            write_json(tmp / "metrics.json", metrics)


def _read_bli(folder: Path) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    out = {}
    for test in sorted(folder.glob("*.test.txt")):
        name = test.name[: -len(".test.txt")]
        pairs = [tuple(line.split(" ", 1)) for line in test.read_text(encoding="utf-8").splitlines() if line]
        targets = (folder / f"{name}.targets.txt").read_text(encoding="utf-8").split()
        out[name] = (pairs, targets)
    return out


class SpecializedModel(StageTask):
    """A lexically specialized encoder, static vectors read out of it (and of the original), and metrics."""

    spec = luigi.Parameter(description="name of a spec under tasks/specialization/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "specialized"
    version = 2  # 2: vectors also as .npy + .keys / .vocab (the form read without pickle)

    @property
    def spec_obj(self) -> SpecializationSpec:
        return specialization_spec(self.spec, self.profile)

    @property
    def resources(self):  # luigi reads this when scheduling; [resources] gpu in luigi.cfg caps it
        return {"gpu": 1} if self.spec_obj.train.device == "cuda" else {}

    def requires(self):
        return SpecializationConstraints(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return self.spec

    def _model_location(self) -> str:
        from ..specialization.encoding import resolve_model_location

        loc = resolve_model_location(self.spec_obj.model)
        local = _resolve(loc)
        if local.exists():
            return str(local)
        if loc.startswith(("/", "./", "../", "~")) or self.spec_obj.model.startswith("pkg:"):
            raise InputError(_spec_path(self.spec), f"a model folder at 'model: {self.spec_obj.model}'",
                             f"{local} does not exist")
        return loc  # a hub id

    def identity_settings(self):
        s = self.spec_obj
        train = to_mapping(s.train)
        train.pop("checkpoint_every")
        extract = to_mapping(s.extract)
        for w in extract["words"]:
            w["path"] = Path(w["path"]).name if w["path"] else None  # its content is an input
        local = Path(self._model_location()).exists() and not s.model.startswith("pkg:")
        return {"model": Path(s.model).name if local else s.model,  # a folder's content is an input
                "model_revision": s.model_revision, "train": train, "extract": extract,
                "evaluation": to_mapping(s.evaluation)}

    def identity_inputs(self):
        inputs = {"constraints": super().identity_inputs()}
        loc = Path(self._model_location())
        if loc.is_dir():
            inputs["model"] = _fingerprint_files(_model_files(loc), str(_spec_path(self.spec)), "a model folder")
        for w in self.spec_obj.extract.words:
            if w.path:
                inputs[f"words:{w.lang}:{Path(w.path).name}"] = _fingerprint_files(
                    [_resolve(w.path)], str(_spec_path(self.spec)), "a word list or .vec file")
        if "aggregate" in self.spec_obj.extract.modes:
            inputs["corpora"] = corpus_fingerprints(self.spec_obj.extract.corpora)
        return inputs

    # -- helpers of run()

    def _word_lists(self, pairs, bli) -> dict[str, list[str]]:
        """Words to extract per language: the spec's lists, else constraint and evaluation words."""
        s = self.spec_obj
        out: dict[str, list[str]] = {}
        wanted = s.extract.words or ()
        for w in wanted:
            words = _read_words(_resolve(w.path)) if w.path else _constraint_words(pairs, bli, w.lang)
            out.setdefault(w.lang, [])
            out[w.lang] = list(dict.fromkeys(out[w.lang] + words))
            if w.max_words:
                out[w.lang] = out[w.lang][: w.max_words]
        if not wanted:
            langs = sorted(set(pairs["lang_a"].to_list()) | set(pairs["lang_b"].to_list()))
            out = {lang: _constraint_words(pairs, bli, lang) for lang in langs}
        return out

    def _sentences(self, lang: str):
        from ..corpora import Tokenizer, iter_documents, load_declaration

        for name in self.spec_obj.extract.corpora:
            decl = load_declaration(corpora_root() / name)
            if decl.language != lang:
                continue
            tokenizer = Tokenizer(lang)
            for doc in iter_documents(decl):
                yield from tokenizer.sentences(doc.text)

    def _extract(self, model, tok, words: dict[str, list[str]], folder: Path, device: str) -> dict:
        from ..specialization import static_vectors, write_vectors
        from ..specialization.encoding import layer_name

        e = self.spec_obj.extract
        n_layers = model.config.num_hidden_layers
        folder.mkdir()
        metrics = {}
        for lang, wl in words.items():
            for mode in e.modes:
                if mode == "aggregate" and not any(
                        _corpus_language(name) == lang for name in e.corpora):
                    continue
                vecs, counts = static_vectors(
                    model, tok, wl, mode, layers=e.layers, sentences=self._sentences(lang) if mode == "aggregate"
                    else None, fallback=None if e.fallback == "none" else e.fallback, batch_size=e.batch_size,
                    max_length=e.max_length, context_max_length=e.context_max_length,
                    max_sentences=e.max_sentences, device=device)
                for layer, matrix in vecs.items():
                    write_vectors(wl, matrix, folder / f"{lang}.L{layer_name(layer, n_layers)}.{mode}", counts)
                metrics[f"{lang}_words"] = len(wl)
                if counts is not None:
                    metrics[f"{lang}_aggregate_words_seen"] = int((counts > 0).sum())
        return metrics

    def _evaluate(self, model, tok, bli, device: str) -> dict:
        from ..specialization import bli_metrics, simlex_spearman

        s = self.spec_obj
        layer = s.train.layer
        out = {}
        if s.evaluation.simlex999:
            out.update(simlex_spearman(model, tok, layer, batch_size=s.extract.batch_size,
                                       max_length=s.train.max_length, device=device))
        if s.evaluation.bli:
            for name, (pairs, targets) in bli.items():
                m = bli_metrics(model, tok, pairs, targets, layer, csls_k=s.evaluation.csls_k,
                                batch_size=s.extract.batch_size, max_length=s.train.max_length, device=device)
                out.update({f"bli_{name}_{k}": v for k, v in m.items()})
        return out

    def run(self):
        import polars as pl
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ..specialization import train_specialization
        from ..specialization.encoding import pick_device
        from ..specialization.train import CHECKPOINT

        s = self.spec_obj
        torch.set_num_threads(s.threads or stage_threads())
        loc = self._model_location()
        try:
            model = AutoModel.from_pretrained(loc, revision=s.model_revision)
            tok = AutoTokenizer.from_pretrained(loc, revision=s.model_revision)
        except OSError as exc:
            raise InputError(_spec_path(self.spec), f"a loadable model at 'model: {s.model}' (hub id or folder)",
                             str(exc).splitlines()[0]) from None
        device = pick_device(s.train.device)
        if device == "cuda" and not torch.cuda.is_available():
            raise PipelineError(f"{_spec_path(self.spec)}: train.device is cuda but no GPU is visible")
        model.to(device).eval()
        constraints = self.input().path
        pairs = pl.read_parquet(constraints / "pairs.parquet")
        bli = _read_bli(constraints / "bli")
        words = self._word_lists(pairs, bli)
        metrics: dict = {"model": s.model, "constraint_pairs": pairs.height, "device": device}
        self.progress(0.02, "evaluating the original encoder")
        metrics.update({f"before_{k}": v for k, v in self._evaluate(model, tok, bli, device).items()})
        digest, _, _ = self._identity()
        wd = work_dir(self.stage, self.artifact_name(), digest)
        settings = s.train.settings()
        with self.writing() as tmp:
            if s.extract.before:
                self.progress(0.05, "static vectors of the original encoder")
                metrics.update({f"before_{k}": v for k, v in
                                self._extract(model, tok, words, tmp / "vectors-before", device).items()})
            result = train_specialization(model, tok, pairs, settings, wd,
                                          progress=lambda f, m: self.progress(0.1 + 0.75 * f, m))
            metrics.update({"train_steps": result.steps, "train_pairs_seen": result.pairs_seen,
                            "train_seconds": round(result.seconds, 2),
                            "train_pairs_per_second": result.pairs_per_second,
                            "train_resumed_from_step": result.resumed_from_step,
                            "train_loss_first": result.losses[0] if result.losses else None,
                            "train_loss_last": result.losses[-1] if result.losses else None})
            self.progress(0.86, "evaluating the specialized encoder")
            metrics.update({f"after_{k}": v for k, v in self._evaluate(model, tok, bli, device).items()})
            metrics.update({f"after_{k}": v for k, v in
                            self._extract(model, tok, words, tmp / "vectors", device).items()})
            for key in [k for k in metrics if k.startswith("before_") and not k.endswith(("_n", "_words"))]:
                after = metrics.get("after_" + key[len("before_"):])
                if isinstance(after, float) and isinstance(metrics[key], float):
                    metrics["delta_" + key[len("before_"):]] = after - metrics[key]
            model.to("cpu").save_pretrained(tmp / "model")
            tok.save_pretrained(tmp / "model")
            (tmp / "model" / "README.md").write_text(_model_card(s, metrics), encoding="utf-8")
            (tmp / "losses.tsv").write_text("step\tloss\n" + "".join(
                f"{i + 1}\t{v:.6f}\n" for i, v in enumerate(result.losses)), encoding="utf-8")
            write_json(tmp / "metrics.json", metrics)
        # the stage is complete: its checkpoint (weights and optimizer state) is of no further use
        (wd / CHECKPOINT).unlink(missing_ok=True)


def _corpus_language(name: str) -> str:
    from ..corpora import load_declaration

    return load_declaration(corpora_root() / name).language


def _read_words(path: Path) -> list[str]:
    """Keys of a ``.vec`` file (header skipped) or the first column of a word list."""
    if not path.is_file():
        raise InputError(path, "a word list or .vec file for extract.words", "no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.name.endswith(".vec") and lines and len(lines[0].split()) == 2 and lines[0].split()[0].isdigit():
        lines = lines[1:]
    return list(dict.fromkeys(line.split()[0] for line in lines if line.strip()))


def _constraint_words(pairs, bli, lang: str) -> list[str]:
    """Words of ``lang`` in the training pairs and the evaluation sets, most frequent in the pairs first."""
    import polars as pl

    both = pl.concat([pairs.select(pl.col("lang_a").alias("lang"), pl.col("word_a").alias("word")),
                      pairs.select(pl.col("lang_b").alias("lang"), pl.col("word_b").alias("word"))])
    ranked = (both.filter(pl.col("lang") == lang).group_by("word").len()
              .sort(["len", "word"], descending=[True, False])["word"].to_list())
    extra = []
    if lang == "en":
        from ..specialization import simlex_words

        extra += simlex_words()
    for name, (test, targets) in bli.items():
        src, _, tgt = name.partition("-")
        if lang == src:
            extra += [s for s, _ in test]
        if lang == tgt:
            extra += targets
    return list(dict.fromkeys(ranked + extra))


def _model_card(s: SpecializationSpec, metrics: dict) -> str:
    c = s.constraints
    sources = ([f"WordNet 3.0 ({', '.join(c.wordnet.pos)})"] if c.wordnet else []) + \
        [f"FreeDict {Path(d.path).name} ({d.source_lang}-{d.target_lang})" for d in c.freedict] + \
        [f"{pv.source_lang}-{pv.target_lang} through {pv.via} ("
         f"{', '.join(Path(d.path).name for d in pv.dictionaries)}; pivot words with at most {pv.max_fanout} "
         f"translations a side)" for pv in c.pivots] + \
        [f"Apertium {Path(a.path).name} ({a.source_lang}-{a.target_lang}, looked up with WordNet lemmas)"
         for a in c.apertium] + \
        ([f"BabelNet ({', '.join(c.babelnet.target_langs)})"] if c.babelnet else [])
    shown = {k: v for k, v in metrics.items() if k.startswith(("before_", "after_", "delta_", "train_"))
             and isinstance(v, (int, float))}
    rows = "".join(f"| {k} | {v:.4f} |\n" if isinstance(v, float) else f"| {k} | {v} |\n" for k, v in shown.items())
    return f"""---
library_name: transformers
base_model: {s.model}
tags: [lexical-specialization, babelbert, contrastive]
---
# {s.name}: lexically specialized {s.model}

{s.description}

Fine-tuned with chronolingua (`luigi --module pipeline SpecializedModel --spec {s.name}`) so that synonyms and
translations get close vectors: both words of each constraint pair are encoded in isolation and mean-pooled over
their subwords (layer {s.train.layer}), and a multi-positive InfoNCE loss (temperature {s.train.temperature},
in-batch negatives, labels = synset ids) is minimised with AdamW (lr {s.train.lr}, batch {s.train.batch_pairs}
pairs, {s.train.epochs} epochs{f", at most {s.train.max_steps} steps" if s.train.max_steps else ""}); method of
Green, Ponzetto and Glavaš (2022), "BabelBERT: massively multilingual transformers meet a massively multilingual
lexical resource".

- Source model: `{s.model}`{f" (revision {s.model_revision})" if s.model_revision else ""}
- Constraints: {"; ".join(sources)}; {metrics.get("constraint_pairs")} pairs; SimLex-999 words
  {"held out" if c.holdout_simlex999 else "not held out"}; dictionary test words held out for BLI
- Licences: {s.licence or "those of the source model and of the lexical resources above"}

Load with `AutoModel.from_pretrained(<this folder>)` and `AutoTokenizer.from_pretrained(<this folder>)`.

| metric | value |
|---|---|
{rows}"""


register_kind("specialization", lambda name, profile: SpecializedModel(spec=name, profile=profile),
              load_specialization_spec)
