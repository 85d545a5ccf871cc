"""Diachronic (CADE) stages: prepared corpus -> compass -> slices -> change report.

``luigi --module pipeline DiachronicReport --spec sotu`` reads
``tasks/diachronic/sotu.yaml``.
"""
from __future__ import annotations

import logging
import shutil
import time

import luigi

from ..errors import InputError
from ..spec import CadeSpec, DiachronicSpec, load_diachronic_spec, to_mapping
from .base import StageTask, cached_spec, corpora_root, corpus_fingerprints, stage_threads, tasks_root, write_json
from .registry import register_kind

logger = logging.getLogger("luigi-interface")

def diachronic_spec(name: str, profile: str) -> DiachronicSpec:
    return cached_spec("diachronic", name, profile, load_diachronic_spec)


class _SpecParams:
    """Helpers for tasks whose parameters include ``spec`` and ``profile``."""

    @property
    def spec_obj(self) -> DiachronicSpec:
        return diachronic_spec(self.spec, self.profile)


def _cade_settings(spec: CadeSpec, seed: int, threads: int):
    return spec.settings(seed=seed, threads=threads)


class PreparedCorpus(_SpecParams, StageTask):
    """Tokenised slices (one sentence per line) plus per-slice statistics."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "corpus"
    version = 1

    def artifact_name(self) -> str:
        return "-".join(self.spec_obj.corpora)

    def identity_settings(self):
        s = self.spec_obj
        return {"corpora": list(s.corpora), "slicing": to_mapping(s.slicing), "tokenizer": to_mapping(s.tokenizer),
                "min_count": s.cade.min_count}

    def identity_inputs(self):
        return corpus_fingerprints(self.spec_obj.corpora)

    def run(self):
        from ..corpora import Tokenizer, load_declaration, prepare_slices
        from ..corpora.stats import overlap_warnings, slice_statistics, vocabulary_overlap

        s = self.spec_obj
        decls = [load_declaration(corpora_root() / name) for name in s.corpora]
        languages = {d.language for d in decls}
        if len(languages) != 1:
            raise InputError(tasks_root() / "diachronic" / f"{self.spec}.yaml",
                             "corpora of one language for a diachronic run", f"found {sorted(languages)}")
        tokenizer = Tokenizer(languages.pop(), s.tokenizer.settings())
        with self.writing() as tmp:
            slices_dir = tmp / "slices"
            slices_dir.mkdir()
            files = prepare_slices(decls, s.slicing.settings(), tokenizer, slices_dir,
                                   progress=self.progress)
            if len(files) < 2:
                raise InputError(corpora_root() / s.corpora[0], "documents in at least two slices",
                                 f"found slices {sorted(files)}")
            stats = slice_statistics(files, min_count=s.cade.min_count)
            overlap = vocabulary_overlap(files, min_count=s.cade.min_count)
            warnings = overlap_warnings(overlap)
            for w in warnings:
                logger.warning("%s: %s", self.spec, w)
            stats.write_parquet(tmp / "slice_stats.parquet")
            overlap.write_parquet(tmp / "vocabulary_overlap.parquet")
            write_json(tmp / "slices.json", {"slices": list(files), "files": {k: v.name for k, v in files.items()}})
            metrics = {"n_slices": len(files), "tokens_total": int(stats["tokens"].sum()),
                       "overlap_warnings": len(warnings)}
            for row in stats.iter_rows(named=True):
                metrics[f"tokens_{row['slice']}"] = int(row["tokens"])
                metrics[f"types_min_count_{row['slice']}"] = int(row["types_min_count"])
            write_json(tmp / "metrics.json", metrics)
            from ..plots import plot_slice_stats

            plot_slice_stats(stats, tmp / "slice_stats.png")


class CompassModel(_SpecParams, StageTask):
    """CBOW on the concatenation of all slices (CADE's compass)."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    seed = luigi.IntParameter(default=1)

    stage = "cade-compass"
    version = 3  # 2: the reference's initial vector range; 3: compass.npy / .vocab / .syn1neg.npy / .json (no pickle)

    def requires(self):
        return PreparedCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return f"{'-'.join(self.spec_obj.corpora)}-seed{self.seed}"

    def identity_settings(self):
        cade = to_mapping(self.spec_obj.cade)
        return {"cade": {k: cade[k] for k in CadeSpec.COMPASS_KEYS}, "seed": self.seed}

    def run(self):
        from ..cade import train_compass
        from ..cade.train import save_compass
        from ..corpora import ConcatCorpus, LineCorpus
        from ..evaluation import evaluate_vectors

        corpus_dir = self.input().path / "slices"
        slices = self.input().read_json("slices.json")["files"]
        corpus = ConcatCorpus([LineCorpus(corpus_dir / f) for f in slices.values()])
        settings = _cade_settings(self.spec_obj.cade, self.seed, stage_threads())
        t0 = time.time()
        model = train_compass(corpus, settings, progress=self.progress)
        seconds = time.time() - t0
        with self.writing() as tmp:
            model.save(str(tmp / "compass.model"))  # for users only (a pickle): slices read save_compass's files
            save_compass(model, tmp)
            metrics = {"vocab_size": len(model.wv), "train_seconds": round(seconds, 2), "threads": settings.threads}
            metrics.update(evaluate_vectors(model.wv))
            write_json(tmp / "metrics.json", metrics)


class SliceModel(_SpecParams, StageTask):
    """One slice trained against the frozen compass context matrix."""

    spec = luigi.Parameter()
    profile = luigi.Parameter(default="full")
    slice_name = luigi.Parameter(description="slice name as listed in the prepared corpus")
    seed = luigi.IntParameter(default=1)

    stage = "cade-slice"
    version = 3  # 2: the reference's initial vector range; 3: vectors.npy + vectors.vocab, compass read without pickle

    def requires(self):
        return {"corpus": PreparedCorpus(spec=self.spec, profile=self.profile),
                "compass": CompassModel(spec=self.spec, profile=self.profile, seed=self.seed)}

    def artifact_name(self) -> str:
        return f"{'-'.join(self.spec_obj.corpora)}-{self.slice_name}-seed{self.seed}"

    def identity_settings(self):
        return {"cade": to_mapping(self.spec_obj.cade), "slice": self.slice_name, "seed": self.seed}

    def run(self):
        from ..cade import train_slice
        from ..cade.train import load_compass
        from ..corpora import LineCorpus
        from ..evaluation import evaluate_vectors
        from ..vectors import save_vectors
        import numpy as np

        files = self.input()["corpus"].read_json("slices.json")["files"]
        if self.slice_name not in files:
            raise InputError(self.input()["corpus"].path / "slices.json", f"a slice named '{self.slice_name}'",
                             f"slices: {', '.join(files)}")
        corpus = LineCorpus(self.input()["corpus"].path / "slices" / files[self.slice_name])
        compass = load_compass(self.input()["compass"].path)  # never compass.model: a pickle runs code
        settings = _cade_settings(self.spec_obj.cade, self.seed, stage_threads())
        with self.writing() as tmp:
            scratch = tmp / "_scratch"  # the kernel's encoded corpus; same disk as the outputs
            scratch.mkdir()
            result = train_slice(compass, corpus, settings, tmp_dir=scratch, progress=self.progress,
                                 name=self.slice_name)
            shutil.rmtree(scratch)
            save_vectors(result.wv, tmp / "vectors")
            np.save(tmp / "syn1neg.npy", result.syn1neg)
            metrics = {"slice": self.slice_name, "vocab_size": len(result.wv), "threads": settings.threads}
            metrics.update({f"train_{k}": v for k, v in result.stats.items()})
            metrics.update(evaluate_vectors(result.wv))
            write_json(tmp / "metrics.json", metrics)


class DiachronicReport(_SpecParams, StageTask):
    """Semantic change table, top changed words with seed stability, neighbours, plots."""

    spec = luigi.Parameter(description="name of a spec under tasks/diachronic/")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "cade-report"
    version = 1

    def requires(self):
        return PreparedCorpus(spec=self.spec, profile=self.profile)

    def artifact_name(self) -> str:
        return self.spec

    def identity_settings(self):
        s = self.spec_obj
        # the slices are dynamic dependencies (their names come from the data), so their ids are not among
        # this stage's inputs: the cade settings, the corpus id and the code versions below stand for them
        return {"cade": to_mapping(s.cade), "report": to_mapping(s.report),
                "upstream_versions": {CompassModel.stage: CompassModel.version, SliceModel.stage: SliceModel.version}}

    def slice_tasks(self) -> dict[int, list[SliceModel]]:
        names = self.input().read_json("slices.json")["slices"]
        return {seed: [SliceModel(spec=self.spec, profile=self.profile, slice_name=n, seed=seed) for n in names]
                for seed in self.spec_obj.report.seeds}

    def run(self):
        tasks = self.slice_tasks()
        yield [t for ts in tasks.values() for t in ts]  # dynamic: slice names come from the data

        from ..change import change_table, nearest_neighbours, stability_across_seeds, top_changed
        from ..plots import plot_top_changed, plot_trajectory
        from ..vectors import load_vectors
        import polars as pl

        rep = self.spec_obj.report
        first_seed = rep.seeds[0]
        tables = []
        slices_first = None
        for i, (seed, ts) in enumerate(tasks.items()):
            slices = {t.slice_name: load_vectors(t.output().path / "vectors.npy") for t in ts}
            table = change_table(slices, pairs=[tuple(p) for p in rep.pairs] if rep.pairs else None,
                                 min_freq=rep.min_freq, k=rep.k_neighbours)
            tables.append(table.with_columns(pl.lit(seed).alias("seed")))
            if seed == first_seed:
                slices_first = slices
            self.progress((i + 1) / (len(tasks) + 1), f"change table seed {seed}")
        with self.writing() as tmp:
            full = pl.concat(tables)
            full.write_parquet(tmp / "change.parquet")
            main = tables[0].drop("seed")
            top = top_changed(main, n=rep.top_n, measure=rep.rank_by)
            top.write_parquet(tmp / "top_changed.parquet")
            top.write_csv(tmp / "top_changed.csv")
            stability, mean_jaccard = stability_across_seeds([t.drop("seed") for t in tables], n=rep.top_n,
                                                           measure=rep.rank_by)
            stability.write_parquet(tmp / "stability.parquet")
            stability.write_csv(tmp / "stability.csv")
            plots = tmp / "plots"
            plots.mkdir()
            plot_top_changed(main, plots / "top_changed.png", n=rep.top_n, measure=rep.rank_by)
            words = list(rep.words)
            if rep.plot_words:
                first_pair = top.select(["slice_a", "slice_b"]).row(0) if top.height else None
                if first_pair:
                    auto = top.filter((pl.col("slice_a") == first_pair[0]) & (pl.col("slice_b") == first_pair[1]))
                    words += [w for w in auto["word"].to_list() if w not in words][: rep.plot_words]
            neighbour_frames = []
            for w in words:
                if not any(w in kv.key_to_index for kv in slices_first.values()):
                    logger.warning("%s: word '%s' is in no slice; skipped", self.spec, w)
                    continue
                neighbour_frames.append(nearest_neighbours(slices_first, w, k=10).with_columns(pl.lit(w).alias("word")))
                plot_trajectory(slices_first, w, plots / f"trajectory_{_safe(w)}.png")
            if neighbour_frames:
                pl.concat(neighbour_frames).write_parquet(tmp / "neighbours.parquet")
            metrics = {"n_words": int(main["word"].n_unique()), "n_pairs": int(main.select(["slice_a", "slice_b"]).unique().height),
                       "n_seeds": len(rep.seeds), "top_n_mean_jaccard_across_seeds": mean_jaccard}
            write_json(tmp / "metrics.json", metrics)


def _safe(word: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in word)[:60]


register_kind("diachronic", lambda name, profile: DiachronicReport(spec=name, profile=profile), load_diachronic_spec)
