"""Static vectors from an encoder, compared with vectors trained from scratch on the same corpus.

``luigi --module pipeline StaticComparison --spec en`` reads ``tasks/static/en.yaml``. Stages:

* ``static-corpus/<spec>-<hash>/``: the corpora tokenised into one ``tokens.txt`` (with ``documents.npy``: the line
  each document begins at, so X2Static's paragraphs stay within one) and the shared evaluation
  vocabulary (``vocabulary.txt``: the words seen ``vocabulary.min_count`` times, most frequent first);
* ``static/<spec>-<method>-<hash>/``: one read-out of the encoder (``<method>.L<i>.vec`` per layer,
  :func:`pipeline.static.stages.build_static_vectors`);
* ``static-trained/<spec>-<kind>-<hash>/``: Word2Vec CBOW / skip-gram or fastText trained on ``tokens.txt``;
* ``static-compare/<spec>-<hash>/``: every set evaluated on the same words (``comparison.parquet`` / ``.md``,
  a plot, one entry per set in ``metrics.json``).
"""
from __future__ import annotations

from pathlib import Path

import luigi

from ..spec import identity_of
from ..static.spec import StaticSpec, load_static_spec
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, project_root,
                   referenced_spec, stage_threads, tasks_root, work_dir)
from .registry import register_kind


def static_spec(name: str, profile: str) -> StaticSpec:
    return cached_spec("static", name, profile, load_static_spec)


def _spec_path(name: str) -> Path:
    return tasks_root() / "static" / f"{name}.yaml"


class _Params:
    spec = luigi.Parameter(description="name of a spec under tasks/static/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    @property
    def spec_obj(self) -> StaticSpec:
        return self.pinned_spec(lambda: static_spec(self.spec, self.profile))


class StaticCorpus(_Params, StageTask):
    """The spec's corpora as one token file, and the shared evaluation vocabulary."""

    stage = "static-corpus"
    version = 2  # 2: documents.npy beside tokens.txt

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        s = self.spec_obj
        return {"corpora": list(s.corpora), "tokenizer": identity_of(s.tokenizer, self.version),
                "vocabulary": identity_of(s.vocabulary, self.version)}

    def identity_inputs(self):
        return corpus_fingerprints(self.spec_obj.corpora)

    def input_records(self):
        from ..inputs import corpus_records

        return corpus_records(self._identity()[2], corpora_root())

    def run(self):
        from ..static.comparison import build_comparison_corpus

        s = self.spec_obj
        with self.writing() as tmp:
            build_comparison_corpus(s, {c: corpora_root() / c for c in s.corpora}, tmp, spec_file=_spec_path(self.spec),
                                    progress=self.progress)


class StaticVectors(_Params, StageTask):
    """One read-out of the spec's encoder (isolation, aggregate or X2Static) for the shared vocabulary.

    ``encoder=specialized``: of the specialized encoder the spec's ``specialized:`` section names (its
    ``specialized`` stage's ``model/``) instead, with the same read-out settings.
    """

    method = luigi.Parameter(description="isolation, aggregate or x2static (one of the spec's readouts)")
    encoder = luigi.ChoiceParameter(default="model", choices=("model", "specialized"),
                                    description="model: the spec's model; specialized: its specialized: model")

    stage = "static"
    version = 3  # 2: a decoder whose tokenizer glues pre-split words reads each word with a space before it
    # 3: the teacher reads sentences of similar length together (aggregate: same means; x2static: other batches)

    def gpu_device(self):  # the teacher runs on a GPU with device cuda (or auto and one visible)
        return self._readout().device

    def _readout(self):
        for r in self.spec_obj.readouts:
            if r.method == self.method:
                return r
        from ..errors import InputError

        raise InputError(_spec_path(self.spec), f"a read-out with method {self.method} under 'readouts'",
                         f"the spec has {', '.join(r.method for r in self.spec_obj.readouts) or 'none'}")

    def _specialized(self):
        from .specialization import SpecializedModel

        source = self.spec_obj.specialized
        if source is None:
            from ..errors import InputError

            raise InputError(_spec_path(self.spec), "a 'specialized:' section naming a specialization spec",
                             "none")
        return SpecializedModel(spec=referenced_spec("specialization", source.spec, _spec_path(self.spec),
                                                     "specialized.spec"), profile=self.profile)

    def requires(self):
        corpus = StaticCorpus(spec=self.spec, profile=self.profile)
        if self.encoder == "specialized":
            return {"corpus": corpus, "model": self._specialized()}
        return corpus

    def _corpus(self) -> Path:
        target = self.input()["corpus"] if self.encoder == "specialized" else self.input()
        return Path(target.path)

    def artifact_name(self) -> str:
        return f"{self.spec}-{self.method}" if self.encoder == "model" else f"{self.spec}-specialized-{self.method}"

    def identity_settings(self):
        from ..static.stages import sample_identity

        s, r = self.spec_obj, self._readout()
        sample = sample_identity(r)
        if self.encoder == "specialized":  # the model is an upstream stage, identified by its own identity
            return {"model": "specialized", "readout": identity_of(r, self.version), **sample}
        return {"model": s.model, "model_revision": s.model_revision, "readout": identity_of(r, self.version),
                **sample}

    def identity_inputs(self):
        from ..models import model_source_identity

        s = self.spec_obj
        if self.encoder == "specialized":
            return {"stages": super().identity_inputs()}
        return {"corpus": super().identity_inputs(), "model": model_source_identity(s.model, s.model_revision)}

    def input_records(self):
        from ..inputs import model_record
        from ..models import known_model_folder

        if self.encoder == "specialized":
            return []  # the specialized stage lists its model and data
        s = self.spec_obj
        return [model_record(s.model, s.model_revision, self._identity()[2]["model"], known_model_folder(s.model))]

    def run(self):
        from ..static.comparison import DOCUMENTS_FILE
        from ..static.stages import build_static_vectors

        corpus = self._corpus()
        settings = self._readout().settings(vocabulary="file", vocabulary_path=str(corpus / "vocabulary.txt"),
                                            threads=stage_threads())
        digest, _, _ = self._identity()
        model = self.spec_obj.model if self.encoder == "model" else str(Path(self.input()["model"].path) / "model")
        inputs = {"model": model, "corpus": corpus / "tokens.txt", "documents": corpus / DOCUMENTS_FILE,
                  "where": f"{_spec_path(self.spec)} (readouts: {self.method}, layers)"}
        if self.method == "x2static":  # its teacher cache and checkpoints: resumable across failed runs
            inputs["work_dir"] = work_dir(self.stage, self.artifact_name(), digest)
        with self.writing() as tmp:
            build_static_vectors(settings, inputs, tmp, progress=self.progress)


class TrainedVectors(_Params, StageTask):
    """Word2Vec (CBOW or skip-gram) or fastText trained from scratch on the comparison's corpus."""

    kind = luigi.Parameter(description="word2vec_cbow, word2vec_sgns or fasttext")

    stage = "static-trained"
    version = 1

    def requires(self):
        return StaticCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return f"{self.spec}-{self.kind}"

    def identity_settings(self):
        out = {"kind": self.kind, "trained": identity_of(self.spec_obj.trained, self.version)}
        if self.spec_obj.trained_seeds:  # only when set, so a spec without it keeps its identity
            out["seeds"] = list(self.spec_obj.trained_seeds)
        return out

    def run(self):
        from ..static.trained import train_seeds

        with self.writing() as tmp:
            train_seeds(self.kind, self.input().path / "tokens.txt", tmp, self.spec_obj.trained.settings(),
                        self.spec_obj.trained_seeds, threads=stage_threads())


def _resolve(location: str) -> str:
    """A URL as it is; a path relative to the project folder made absolute."""
    from ..download import is_url

    if is_url(location):
        return location
    p = Path(location).expanduser()
    return str(p if p.is_absolute() else project_root() / p)


def _file_identity(location: str, sha256: str | None):
    """A labelled file's identity: its URL and pinned sha256, or a local file's sha256."""
    from ..download import is_url
    from ..errors import InputError
    from ..identity import file_sha256

    if is_url(location):
        return {"url": location, "sha256": sha256}
    path = Path(location)
    if not path.is_file():
        raise InputError(path, "a labelled data file (extrinsic.train / dev / test)", "no such file")
    return file_sha256(path)


class StaticComparison(_Params, StageTask):
    """Every set (read-outs, trained from scratch) evaluated on the same words; one table, a plot, metrics."""

    stage = "static-compare"
    version = 1

    def requires(self):
        s = self.spec_obj
        out = {"corpus": StaticCorpus(spec=self.spec, profile=self.profile),
               "readouts": {r.method: StaticVectors(spec=self.spec, profile=self.profile, method=r.method)
                            for r in s.readouts},
               "trained": {k: TrainedVectors(spec=self.spec, profile=self.profile, kind=k) for k in s.trained_kinds}}
        if s.specialized is not None:
            out["specialized"] = {m: StaticVectors(spec=self.spec, profile=self.profile, method=m, encoder="specialized")
                                  for m in s.specialized.methods}
        if s.bli is not None:
            from .multilingual import AlignedVectors

            out["counterpart"] = AlignedVectors(lang=referenced_spec("multilingual", s.bli.aligned,
                                                                     _spec_path(self.spec), "bli.aligned"),
                                                profile=self.profile)
        return out

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        s = self.spec_obj
        out = {"extrinsic": identity_of(s.extrinsic, self.version) if s.extrinsic else None}
        if s.bli is not None:  # only when set, so a spec without it keeps its identity
            out["bli"] = identity_of(s.bli, self.version)
        return out

    def identity_inputs(self):
        inputs = {"stages": super().identity_inputs()}
        s = self.spec_obj
        if s.extrinsic is not None and s.extrinsic.task == "verse_books":
            from ..identity import file_sha256

            inputs["extrinsic"] = file_sha256(corpora_root() / s.extrinsic.corpus / "verses.tsv")
        elif s.extrinsic is not None:
            inputs["extrinsic"] = {split: _file_identity(_resolve(loc), sha)
                                   for split, (loc, sha) in s.extrinsic.files().items()}
        return inputs

    def input_records(self):
        from ..inputs import file_record, url_record

        e = self.spec_obj.extrinsic
        if e is None or e.task == "verse_books":
            return []  # the verses are the corpus's, recorded by the corpus stage
        from ..download import is_url

        fp = self._identity()[2]["extrinsic"]
        return [url_record("data", f"extrinsic {e.task} {split}", loc, fp[split], e.licence) if is_url(loc)
                else file_record("data", f"extrinsic {e.task} {split}", _resolve(loc), fp[split], e.licence)
                for split, (loc, _) in e.files().items()]

    def run(self):
        from ..static.comparison import build_comparison

        got = self.input()
        folders = {**{f"readout:{m}": t.path for m, t in got["readouts"].items()},
                   **{f"specialized:{m}": t.path for m, t in got.get("specialized", {}).items()},
                   **{f"trained:{k}": t.path for k, t in got["trained"].items()}}
        s = self.spec_obj
        verses = corpora_root() / s.extrinsic.corpus / "verses.tsv" if s.extrinsic else None
        if s.extrinsic is not None and s.extrinsic.task != "verse_books":  # relative paths: from the project
            from dataclasses import replace

            s = replace(s, extrinsic=replace(s.extrinsic, **{k: _resolve(v) for k, (v, _) in s.extrinsic.files().items()}))
        counterpart = Path(got["counterpart"].path) if "counterpart" in got else None
        with self.writing() as tmp:
            build_comparison(s, folders, got["corpus"].path, tmp, verses=verses, counterpart=counterpart,
                             downloads=outputs_root() / ".work" / "downloads", progress=self.progress)


register_kind("static", lambda name, profile: StaticComparison(spec=name, profile=profile), load_static_spec)
