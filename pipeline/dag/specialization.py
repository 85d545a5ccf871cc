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

from ..errors import InputError
from ..spec import identity_of
from ..specialization.spec import SpecializationSpec, load_specialization_spec
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, project_root, stage_threads,
                   tasks_root, work_dir)
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
        return self.pinned_spec(lambda: specialization_spec(self.spec, self.profile))

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        c = identity_of(self.spec_obj.constraints, self.version)
        if c["wordnet"]:
            c["wordnet"]["path"] = None  # its content is an input
        for d in c["freedict"]:
            d["path"] = Path(d["path"]).name
        for pv in c["pivots"]:
            for d in pv["dictionaries"]:
                d["path"] = Path(d["path"]).name
        for a in c["apertium"]:
            a["path"], a["lemmas_from"] = None, None  # their contents are inputs
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

    def input_records(self):
        from ..evaluation import SIMILARITY_SETS, _gensim_data
        from ..inputs import InputRecord, NOT_DECLARED, file_record
        from ..multilingual.dictionaries import freedict_paths

        c, fp = self.spec_obj.constraints, self._identity()[2]
        out = []
        if c.wordnet:
            out.append(file_record("wordnet", "WordNet", _resolve(c.wordnet.path) / "data.noun", fp["wordnet"]))
        for d in [*c.freedict, *(d for pv in c.pivots for d in pv.dictionaries)]:
            index, _ = freedict_paths(_resolve(d.path))
            out.append(file_record("dictionary", Path(d.path).name, index if index.exists() else _resolve(d.path),
                                   fp[f"dictionary:{Path(d.path).name}"]))
        for i, a in enumerate(c.apertium):
            out.append(file_record("apertium", Path(a.path).name, _resolve(a.path), fp[f"apertium:{i}"]))
            out.append(file_record("wordnet", "WordNet (Apertium lemmas)", _resolve(a.lemmas_from) / "data.noun",
                                   fp[f"apertium:{i}:lemmas"]))
        for p in c.holdout_files:
            out.append(file_record("words", Path(p).name, _resolve(p), fp[f"holdout:{Path(p).name}"]))
        if c.babelnet:
            if c.babelnet.lemmas_file:
                out.append(file_record("words", Path(c.babelnet.lemmas_file).name, _resolve(c.babelnet.lemmas_file),
                                       fp["babelnet_lemmas"]))
            out.append(InputRecord("data", "BabelNet", None, NOT_DECLARED,
                                   "the BabelNet HTTP API (answers under outputs/.work/babelnet/; see its terms of use)"))
        if c.holdout_simlex999:
            out.append(file_record("words", "SimLex-999", _gensim_data(SIMILARITY_SETS["simlex999"]), fp["simlex999"]))
        return out

    def run(self):
        from ..specialization.stages import ConstraintInputs, build_constraints

        with self.writing() as tmp:
            build_constraints(self.spec_obj.constraints.resolved(project_root()),
                              ConstraintInputs(spec_file=_spec_path(self.spec), babelnet_cache=babelnet_dir()), tmp,
                              progress=self.progress)


class SpecializedModel(StageTask):
    """A lexically specialized encoder, static vectors read out of it (and of the original), and metrics."""

    spec = luigi.Parameter(description="name of a spec under tasks/specialization/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "specialized"
    version = 3  # 2: vectors also as .npy + .keys / .vocab (the form read without pickle); 3: metric names, train.device out of the identity
    # 3: metric names (bli_en-es_queries, not bli_en-es_bli_queries; simlex999_coverage)

    @property
    def spec_obj(self) -> SpecializationSpec:
        return self.pinned_spec(lambda: specialization_spec(self.spec, self.profile))

    def gpu_device(self):  # training runs on a GPU with train.device cuda (or auto and one visible)
        return self.spec_obj.train.device

    def requires(self):
        return SpecializationConstraints(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return self.spec

    def _model_location(self) -> str:
        """The model's local folder (a folder relative to the project, or pkg:), else its hub id or URL."""
        from ..models import local_model_folder, model_kind

        model = self.spec_obj.model
        if model_kind(model, base=project_root()) == "missing":
            raise InputError(_spec_path(self.spec), f"a model folder at 'model: {model}'",
                             f"{_resolve(model)} does not exist")
        local = local_model_folder(model, base=project_root())
        return model if local is None else str(local)

    def identity_settings(self):
        s = self.spec_obj
        train = identity_of(s.train, self.version)
        extract = identity_of(s.extract, self.version)
        for w in extract["words"]:
            w["path"] = Path(w["path"]).name if w["path"] else None  # its content is an input
        local = Path(self._model_location()).exists() and not s.model.startswith("pkg:")
        return {"model": Path(s.model).name if local else s.model,  # a folder's content is an input
                "model_revision": s.model_revision, "train": train, "extract": extract,
                "evaluation": identity_of(s.evaluation, self.version)}

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

    def input_records(self):
        from ..inputs import corpus_records, file_record, model_record
        from ..models import known_model_folder

        s, fp = self.spec_obj, self._identity()[2]
        folder = known_model_folder(s.model, s.model_revision or "main", outputs_root() / ".work" / "downloads" / "models",
                                    base=project_root())
        out = [model_record(s.model, s.model_revision, fp.get("model") or {"revision": s.model_revision}, folder)]
        for w in s.extract.words:
            if w.path:
                key = f"words:{w.lang}:{Path(w.path).name}"
                out.append(file_record("words", key.split(":", 1)[1], _resolve(w.path), fp[key]))
        if "corpora" in fp:
            out += corpus_records(fp["corpora"], corpora_root())
        return out

    def run(self):
        from ..specialization.stages import SpecializedInputs, build_specialized
        from ..specialization.train import CHECKPOINT

        digest, _, _ = self._identity()
        inputs = SpecializedInputs(constraints=self.input().path, model=self._model_location(),
                                   model_cache=outputs_root() / ".work" / "downloads" / "models",
                                   corpora=corpora_root(), work_dir=work_dir(self.stage, self.artifact_name(), digest),
                                   spec_file=_spec_path(self.spec))
        with self.writing() as tmp:
            build_specialized(self.spec_obj.resolved(project_root()), inputs, tmp, threads=stage_threads(),
                              progress=self.progress)
        # the stage is complete: its checkpoint (weights and optimizer state) is of no further use
        (inputs.work_dir / CHECKPOINT).unlink(missing_ok=True)


register_kind("specialization", lambda name, profile: SpecializedModel(spec=name, profile=profile),
              load_specialization_spec)
