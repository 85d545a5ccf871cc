"""Diachronic stages: prepared corpus -> slices in one space -> change report.

``luigi --module pipeline DiachronicReport --spec sotu`` reads
``tasks/diachronic/sotu.yaml``. The spec's ``method`` chooses the slices:
``cade`` (default): a compass, then each slice against its frozen context
matrix; ``procrustes``: a word2vec per slice, then each mapped onto the
reference slice. Every ``run`` is one call of a stage function of
:mod:`pipeline.diachronic.stages`.
"""
from __future__ import annotations

from pathlib import Path

import luigi

from ..diachronic.spec import CadeSpec, DiachronicSpec, ProcrustesSpec, load_diachronic_spec
from ..spec import identity_of
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, project_root,
                   stage_threads, tasks_root)
from .registry import register_kind


def diachronic_spec(name: str, profile: str) -> DiachronicSpec:
    return cached_spec("diachronic", name, profile, load_diachronic_spec)


class _SpecParams:
    """Helpers for tasks whose parameters include ``spec`` and ``profile``."""

    @property
    def spec_obj(self) -> DiachronicSpec:
        return self.pinned_spec(lambda: diachronic_spec(self.spec, self.profile))

    @property
    def corpus_label(self) -> str:
        """What names the corpora in folder names: the corpora's names, or the spec's when they are its gold's."""
        s = self.spec_obj
        return self.spec if s.gold is not None else "-".join(s.corpora)


class PreparedCorpus(_SpecParams, StageTask):
    """Tokenised slices (one sentence per line) plus per-slice statistics."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "corpus"
    version = 1

    def artifact_name(self) -> str:
        return self.corpus_label

    def identity_settings(self):
        s = self.spec_obj
        return {"corpora": list(s.corpora), "slicing": identity_of(s.slicing, self.version),
                "tokenizer": identity_of(s.tokenizer, self.version), "min_count": s.min_count}

    def requires(self):
        return GoldData(spec=self.spec, profile=self.profile) if self.spec_obj.gold is not None else []

    def identity_inputs(self):
        if self.spec_obj.gold is not None:
            return super().identity_inputs()  # the gold stage's id (its corpora are the spec's)
        return corpus_fingerprints(self.spec_obj.corpora)

    def input_records(self):
        from ..inputs import corpus_records

        if self.spec_obj.gold is not None:
            return []  # the gold stage declares them
        return corpus_records(self._identity()[2], corpora_root())

    def run(self):
        from ..diachronic.stages import build_prepared_corpus

        s = self.spec_obj
        root = self.input().path if s.gold is not None else corpora_root()
        with self.writing() as tmp:
            build_prepared_corpus(s, {name: root / name for name in s.corpora}, tmp, progress=self.progress)


class GoldData(_SpecParams, StageTask):
    """Gold change data (SemEval-2020 Task 1 layout, a DWUG table, or a generated benchmark), checked, with its
    two corpora as corpus folders."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/ with a gold section")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "gold"
    version = 1

    def artifact_name(self) -> str:
        return self.spec

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else project_root() / p

    def identity_settings(self):
        g = identity_of(self.spec_obj.gold, self.version)
        for key in ("path", "corpora_from"):
            if g.get(key):
                g[key] = Path(g[key]).name  # their contents are inputs
        return g

    def identity_inputs(self):
        from ..errors import InputError
        from ..identity import fingerprint_paths

        g = self.spec_obj.gold
        inputs: dict = {}
        if g.url:
            inputs["url"] = {"url": g.url, "sha256": g.sha256}
        elif g.generate is not None:
            inputs["corpora"] = corpus_fingerprints(g.generate.corpora)
        else:
            path = self._path(g.path)
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            if not files:
                raise InputError(path, "gold change data (gold.path): a SemEval-layout folder or an archive",
                                 "no such folder or archive, or it is empty")
            inputs["gold"] = fingerprint_paths(files)
        if g.corpora_from:
            root = self._path(g.corpora_from)
            inputs["corpora_from"] = fingerprint_paths(sorted(p for p in root.rglob("*") if p.is_file()))
        return inputs

    def input_records(self):
        from ..inputs import InputRecord, corpus_records, url_record

        g, fp = self.spec_obj.gold, self._identity()[2]
        if g.url:
            return [url_record("url", f"gold {self.spec}", g.url, fp["url"], g.licence)]
        if g.generate is not None:
            return corpus_records(fp["corpora"], corpora_root())
        licence = g.licence or "not declared"
        return [InputRecord("data", f"gold {self.spec}", fp["gold"], licence,
                            f"{self._path(g.path)}" + (" (licence as the spec declares it)" if g.licence else ""))]

    def run(self):
        from ..diachronic.stages import GoldInputs, build_gold

        inputs = GoldInputs(project=project_root(), corpora=corpora_root(),
                            downloads=outputs_root() / ".work" / "downloads", spec_file=_spec_file(self.spec))
        with self.writing() as tmp:
            build_gold(self.spec_obj.gold, inputs, tmp, progress=self.progress)


class CompassModel(_SpecParams, StageTask):
    """CBOW on the concatenation of all slices (CADE's compass)."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    seed = luigi.IntParameter(default=1)

    stage = "cade-compass"
    version = 5  # 2: the reference's initial vector range; 3: compass.npy / .vocab / .syn1neg.npy / .json (no pickle); 4: metric names (simlex999_*, wordsim353_*); 5: trained by the project's kernel, not gensim (other vectors, same files)
    # 4: metric names (simlex999_spearman, not similarity_simlex999_spearman)

    def requires(self):
        return PreparedCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return f"{self.corpus_label}-seed{self.seed}"

    def identity_settings(self):
        cade = identity_of(self.spec_obj.cade, self.version)
        return {"cade": {k: cade[k] for k in CadeSpec.COMPASS_KEYS}, "seed": self.seed}

    def run(self):
        from ..diachronic.stages import build_compass

        settings = self.spec_obj.cade.settings(seed=self.seed, threads=stage_threads())
        with self.writing() as tmp:
            build_compass(settings, self.input().path, tmp, progress=self.progress)


class SliceModel(_SpecParams, StageTask):
    """One slice trained against the frozen compass context matrix."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    slice_name = luigi.Parameter(description="slice name as listed in the prepared corpus")
    seed = luigi.IntParameter(default=1)

    stage = "cade-slice"
    # 2: the reference's initial vector range; 3: vectors.npy + vectors.vocab, compass read without pickle;
    # 4: metric names (simlex999_spearman, not similarity_simlex999_spearman)
    version = 4

    def requires(self):
        return {"corpus": PreparedCorpus(spec=self.spec, profile=self.profile),
                "compass": CompassModel(spec=self.spec, profile=self.profile, seed=self.seed)}

    def artifact_name(self) -> str:
        return f"{self.corpus_label}-{self.slice_name}-seed{self.seed}"

    def identity_settings(self):
        return {"cade": identity_of(self.spec_obj.cade, self.version), "slice": self.slice_name, "seed": self.seed}

    def run(self):
        from ..diachronic.stages import build_cade_slice

        settings = self.spec_obj.cade.settings(seed=self.seed, threads=stage_threads())
        inputs = {"corpus": self.input()["corpus"].path, "compass": self.input()["compass"].path}
        with self.writing() as tmp:
            build_cade_slice(settings, inputs, tmp, slice_name=self.slice_name, progress=self.progress)


class Word2VecSlice(_SpecParams, StageTask):
    """One slice's own word2vec, in its own space (the Procrustes baseline before alignment)."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    slice_name = luigi.Parameter(description="slice name as listed in the prepared corpus")
    seed = luigi.IntParameter(default=1)

    stage = "w2v-slice"
    version = 2  # 2: metric names (simlex999_spearman, not similarity_simlex999_spearman)

    def requires(self):
        return PreparedCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return f"{self.corpus_label}-{self.slice_name}-seed{self.seed}"

    def identity_settings(self):
        p = identity_of(self.spec_obj.procrustes, self.version)
        return {"procrustes": {k: p[k] for k in ProcrustesSpec.TRAIN_KEYS}, "slice": self.slice_name,
                "seed": self.seed}

    def run(self):
        from ..diachronic.stages import build_word2vec_slice

        settings = self.spec_obj.procrustes.settings(seed=self.seed, threads=stage_threads())
        with self.writing() as tmp:
            build_word2vec_slice(settings, self.input().path, tmp, slice_name=self.slice_name,
                                 progress=self.progress)


class ProcrustesSlice(_SpecParams, StageTask):
    """One slice's word2vec mapped onto the reference slice's with orthogonal Procrustes."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    slice_name = luigi.Parameter(description="slice name as listed in the prepared corpus")
    reference = luigi.Parameter(description="the reference slice's name")
    seed = luigi.IntParameter(default=1)

    stage = "procrustes-slice"
    version = 1

    def requires(self):
        return {"slice": Word2VecSlice(spec=self.spec, profile=self.profile, slice_name=self.slice_name,
                                       seed=self.seed),
                "reference": Word2VecSlice(spec=self.spec, profile=self.profile, slice_name=self.reference,
                                           seed=self.seed)}

    def artifact_name(self) -> str:
        return f"{self.corpus_label}-{self.slice_name}-to-{self.reference}-seed{self.seed}"

    def identity_settings(self):
        return {"slice": self.slice_name, "reference": self.reference, "seed": self.seed}

    def run(self):
        from ..diachronic.stages import build_procrustes_slice

        inputs = {"slice": self.input()["slice"].path, "reference": self.input()["reference"].path}
        with self.writing() as tmp:
            build_procrustes_slice(inputs, tmp, slice_name=self.slice_name, reference=self.reference)


class DiachronicReport(_SpecParams, StageTask):
    """Semantic change table, top changed words with seed stability, neighbours, plots."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")
    method = luigi.Parameter(default="", description="cade or procrustes (default: the spec's method)")

    version = 3  # 2: report.stopwords filters the top list, stability and plots; change.parquet's `stopword`
    # and `euclidean_distance` columns; 3: trajectory plots with labels laid out by adjustText

    @property
    def method_name(self) -> str:
        from ..diachronic.spec import METHODS
        from ..errors import PipelineError

        m = self.method or self.spec_obj.method
        if m not in METHODS:
            raise PipelineError(f"--method {m}: expected one of {', '.join(METHODS)}")
        return m

    @property
    def stage(self) -> str:
        return f"{self.method_name}-report"  # cade-report, procrustes-report

    def requires(self):
        return PreparedCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        s = self.spec_obj
        report = identity_of(s.report, self.version)
        # the slices are dynamic dependencies (their names come from the data), so their ids are not among
        # this stage's inputs: the method's settings, the corpus id and the code versions below stand for them
        if self.method_name == "cade":
            return {"cade": identity_of(s.cade, self.version), "report": report,
                    "upstream_versions": {CompassModel.stage: CompassModel.version,
                                          SliceModel.stage: SliceModel.version}}
        return {"method": self.method_name, "procrustes": identity_of(s.procrustes, self.version), "report": report,
                "upstream_versions": {Word2VecSlice.stage: Word2VecSlice.version,
                                      ProcrustesSlice.stage: ProcrustesSlice.version}}

    def slice_tasks(self) -> dict[int, list[StageTask]]:
        from ..diachronic.procrustes import reference_slice
        from ..errors import InputError

        names = self.input().read_json("slices.json")["slices"]
        s = self.spec_obj
        if self.method_name == "cade":
            return {seed: [SliceModel(spec=self.spec, profile=self.profile, slice_name=n, seed=seed) for n in names]
                    for seed in s.report.seeds}
        try:
            ref = reference_slice(names, s.procrustes.reference)
        except InputError as exc:
            raise InputError(self.input().path / "slices.json", f"{exc.expected} (procrustes.reference)",
                             exc.found) from None
        return {seed: [ProcrustesSlice(spec=self.spec, profile=self.profile, slice_name=n, reference=ref, seed=seed)
                       for n in names] for seed in s.report.seeds}

    yields_stages = True  # its slices: their names come from the prepared corpus

    def dynamic_requires(self):
        return [t for ts in self.slice_tasks().values() for t in ts]

    def run(self):
        tasks = self.slice_tasks()
        yield [t for ts in tasks.values() for t in ts]  # dynamic: slice names come from the data

        from ..diachronic.stages import build_report

        slices = {seed: {t.slice_name: t.output().path for t in ts} for seed, ts in tasks.items()}
        with self.writing() as tmp:
            build_report(self.spec_obj.report.settings(), slices, tmp, language=self.language(),
                         root=project_root(), progress=self.progress)

    def language(self) -> str | None:
        """The corpora's language (their declarations'), for ``report.stopwords: auto``; None when they differ."""
        from ..corpora import load_declaration

        s = self.spec_obj
        if s.gold is not None:
            return s.gold.language
        langs = {load_declaration(corpora_root() / c).language for c in s.corpora}
        return langs.pop() if len(langs) == 1 else None

    def _stopword_file(self) -> Path | None:
        from ..diachronic.settings import stopwords_kind

        value = self.spec_obj.report.stopwords
        if stopwords_kind(value) != "file":
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else project_root() / path

    def identity_inputs(self):
        inputs = super().identity_inputs()
        path = self._stopword_file()
        if path is None:
            return inputs
        from ..errors import InputError
        from ..identity import file_sha256

        if not path.is_file():
            raise InputError(path, "a stopword list for report.stopwords (UTF-8, one word a line)", "no such file")
        return {"corpus": inputs, "stopwords": file_sha256(path)}  # its content, not its name, is an input

    def input_records(self):
        from ..inputs import file_record

        path = self._stopword_file()
        return [] if path is None else [file_record("words", path.name, path, self._identity()[2]["stopwords"])]


class ChangeEvaluation(_SpecParams, StageTask):
    """Every method's change report scored against the spec's gold: graded Spearman with its bootstrap CI,
    binary accuracy, coverage, over seeds (the spec's ``evaluation`` section)."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/ with gold and evaluation sections")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "change-eval"
    version = 2  # 2: plots/score_vs_gold.png and (more than two time periods) plots/target_trajectories.png

    def requires(self):
        s = self.spec_obj
        if s.evaluation is None:
            from ..errors import InputError

            raise InputError(_spec_file(self.spec), "an evaluation section (with a gold section)", "none")
        return {"gold": GoldData(spec=self.spec, profile=self.profile),
                "reports": {m: DiachronicReport(spec=self.spec, profile=self.profile, method=m)
                            for m in s.evaluation.methods}}

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        return {"evaluation": identity_of(self.spec_obj.evaluation, self.version), "kind": self.spec_obj.gold.kind}

    def run(self):
        from ..diachronic.stages import build_change_evaluation

        reports = {m: t.path for m, t in self.input()["reports"].items()}
        with self.writing() as tmp:
            build_change_evaluation(self.spec_obj.evaluation.settings(), self.input()["gold"].path, reports, tmp,
                                    kind=self.spec_obj.gold.kind, progress=self.progress)


def _spec_file(name: str) -> Path:
    return tasks_root() / "diachronic" / f"{name}.yaml"


def final_task(name: str, profile: str) -> luigi.Task:
    """A spec's final task: its change evaluation when it has one, else its change report."""
    if diachronic_spec(name, profile).evaluation is not None:
        return ChangeEvaluation(spec=name, profile=profile)
    return DiachronicReport(spec=name, profile=profile)


register_kind("diachronic", final_task, load_diachronic_spec)
