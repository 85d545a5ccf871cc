"""Multilingual static vectors: fastText per language, aligned into the pivot's space.

``luigi --module pipeline AlignedVectors --lang es`` reads
``tasks/multilingual/es.yaml``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import luigi

from ..errors import InputError
from ..multilingual.spec import LanguageSpec, MultilingualSpec, load_multilingual_spec
from ..spec import identity_of
from ..download import is_url
from .base import StageTask, cached_spec, corpora_root, corpus_fingerprints, outputs_root, stage_threads, tasks_root
from .registry import register_kind

logger = logging.getLogger("luigi-interface")


def multilingual_spec(name: str, profile: str) -> MultilingualSpec:
    return cached_spec("multilingual", name, profile, load_multilingual_spec)


def _spec_path(name: str) -> Path:
    return tasks_root() / "multilingual" / f"{name}.yaml"


class FastTextVectors(StageTask):
    """fastText vectors of one language of a multilingual spec (trained, or pretrained by path)."""

    spec = luigi.Parameter(description="name of a spec under tasks/multilingual/")
    profile = luigi.Parameter(default="full")
    role = luigi.ChoiceParameter(choices=["pivot", "source"], description="which language of the spec")

    stage = "fasttext"
    version = 3  # 2: vectors.npy (+ .vocab / .keys), the form AlignedVectors reads (no pickle); 3: metric names
    # 3: metric names (simlex999_spearman, not similarity_simlex999_spearman)

    @property
    def spec_obj(self) -> MultilingualSpec:
        return self.pinned_spec(lambda: multilingual_spec(self.spec, self.profile))

    @property
    def lang_spec(self) -> LanguageSpec:
        s = self.spec_obj
        return s.pivot if self.role == "pivot" else s.source

    def artifact_name(self) -> str:
        ls = self.lang_spec
        return f"{ls.lang}-{'-'.join(ls.corpora)}" if ls.corpora else f"{ls.lang}-pretrained"

    def identity_settings(self):
        s = self.spec_obj
        ls = self.lang_spec
        if ls.vectors:
            return {"lang": ls.lang, "vectors": ls.vectors if is_url(ls.vectors) else Path(ls.vectors).name}
        return {"lang": ls.lang, "corpora": list(ls.corpora), "tokenizer": identity_of(s.tokenizer, self.version),
                "fasttext": identity_of(s.fasttext, self.version)}

    def identity_inputs(self):
        ls = self.lang_spec
        if ls.vectors and is_url(ls.vectors):
            return {"url": ls.vectors, "sha256": ls.vectors_sha256}
        if ls.vectors:
            from ..identity import file_sha256

            path = Path(ls.vectors)
            if not path.is_file():
                raise InputError(path, f"pretrained vectors for '{ls.lang}' (.bin, .vec or .kv)", "no such file")
            return {"vectors": file_sha256(path)}
        return corpus_fingerprints(ls.corpora)

    def input_records(self):
        from ..inputs import corpus_records, file_record, url_record

        ls, inputs = self.lang_spec, self._identity()[2]
        if ls.vectors and is_url(ls.vectors):
            return [url_record("vectors", f"{ls.lang} vectors", ls.vectors, inputs, ls.vectors_licence)]
        if ls.vectors:
            return [file_record("vectors", f"{ls.lang} vectors", ls.vectors, inputs["vectors"], ls.vectors_licence)]
        return corpus_records(inputs, corpora_root())

    def run(self):
        from ..multilingual.stages import FastTextInputs, build_fasttext

        inputs = FastTextInputs(corpora=corpora_root(), downloads=outputs_root() / ".work" / "downloads",
                                spec_file=_spec_path(self.spec))
        with self.writing() as tmp:
            build_fasttext(self.spec_obj, inputs, tmp, role=self.role,
                           threads=stage_threads(), progress=self.progress)


class AlignedVectors(StageTask):
    """A language's fastText vectors mapped into the pivot's space (Procrustes + CSLS refinement), with BLI."""

    lang = luigi.Parameter(description="ISO code; reads tasks/multilingual/<lang>.yaml")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "aligned"
    version = 3  # 2: <lang>.npy (+ .vocab / .keys) beside each .vec; inputs read without pickle; 3: metric names (bli_<src>-<pivot>_...)
    # 3: metric names (bli_<lang>-<pivot>_mrr-nn, not mrr-nn)

    @property
    def spec_obj(self) -> MultilingualSpec:
        return self.pinned_spec(lambda: multilingual_spec(self.lang, self.profile))

    def requires(self):
        return {role: FastTextVectors(spec=self.lang, profile=self.profile, role=role) for role in ("pivot", "source")}

    def artifact_name(self) -> str:
        s = self.spec_obj
        return f"{s.source.lang}-to-{s.pivot.lang}"

    def identity_settings(self):
        s = self.spec_obj
        d = identity_of(s.dictionary, self.version)
        d["path"] = Path(s.dictionary.path).name if s.dictionary.path else None
        return {"dictionary": d, "mapping": identity_of(s.mapping, self.version)}

    def identity_inputs(self):
        inputs = {"vectors": super().identity_inputs()}
        if self.spec_obj.dictionary.path:
            inputs["dictionary"] = _dictionary_fingerprint(Path(self.spec_obj.dictionary.path))
        return inputs

    def input_records(self):
        from ..inputs import file_record
        from ..multilingual.dictionaries import freedict_paths

        path = self.spec_obj.dictionary.path
        if not path:
            return []
        index, _ = freedict_paths(Path(path))
        return [file_record("dictionary", Path(path).name, index if index.exists() else path,
                            self._identity()[2]["dictionary"])]

    def run(self):
        from ..multilingual.stages import AlignmentInputs, build_aligned

        inputs = AlignmentInputs(pivot=self.input()["pivot"].path, source=self.input()["source"].path,
                                 spec_file=_spec_path(self.lang))
        with self.writing() as tmp:
            build_aligned(self.spec_obj, inputs, tmp, progress=self.progress)


def _dictionary_fingerprint(path: Path) -> str:
    from ..identity import fingerprint_paths
    from ..multilingual.dictionaries import freedict_paths

    index, data = freedict_paths(path)
    files = [p for p in (index, data) if p.exists()] if index.exists() else [path]
    if not all(p.exists() for p in files) or not files:
        raise InputError(path, "a bilingual dictionary (FreeDict .index/.dict.dz or a two-column pair file)",
                         "no such file")
    return fingerprint_paths(files)


register_kind("multilingual", lambda name, profile: AlignedVectors(lang=name, profile=profile),
              load_multilingual_spec)
