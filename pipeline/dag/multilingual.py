"""Multilingual static vectors: fastText per language, aligned into the pivot's space.

``luigi --module pipeline AlignedVectors --lang es`` reads
``tasks/multilingual/es.yaml``.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import luigi

from ..errors import InputError
from ..multilingual.spec import LanguageSpec, MultilingualSpec, load_multilingual_spec
from ..spec import identity_of
from ..download import cached_download, gunzip_cached, is_url
from .base import (StageTask, cached_spec, corpora_root, corpus_fingerprints, copy_from_stage, outputs_root,
                   stage_threads, tasks_root, write_json)
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
    def lang_spec(self) -> LanguageSpec:
        s = multilingual_spec(self.spec, self.profile)
        return s.pivot if self.role == "pivot" else s.source

    def artifact_name(self) -> str:
        ls = self.lang_spec
        return f"{ls.lang}-{'-'.join(ls.corpora)}" if ls.corpora else f"{ls.lang}-pretrained"

    def identity_settings(self):
        s = multilingual_spec(self.spec, self.profile)
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

    def run(self):
        from ..multilingual import load_pretrained_vectors, train_fasttext
        from ..vectors import save_vectors

        ls = self.lang_spec
        s = multilingual_spec(self.spec, self.profile)
        if ls.vectors and is_url(ls.vectors) and ls.vectors.split("?")[0].endswith((".kv", ".kv.gz")):
            raise InputError(_spec_path(self.spec), f"pretrained vectors for '{ls.lang}' by URL as .bin, .vec or "
                             ".vec.gz", f"{ls.vectors} is a gensim .kv, a pickle, which runs code when loaded")
        with self.writing() as tmp:
            metrics = {"lang": ls.lang}
            if ls.vectors:
                src = Path(ls.vectors)
                if is_url(ls.vectors):  # cached under outputs/.work so a cut download resumes on the next run
                    self.progress(0.0, f"downloading {ls.vectors}")
                    src = cached_download(ls.vectors, outputs_root() / ".work" / "downloads",
                                          sha256=ls.vectors_sha256)
                    src = gunzip_cached(src)
                # a .kv (a pickle) only from the user's own local path; a download is never unpickled
                kv = load_pretrained_vectors(src, allow_pickle=not is_url(ls.vectors))
                if src.name.endswith(".bin"):
                    copy_from_stage(src, tmp / "vectors.bin")
                save_vectors(kv, tmp / "vectors")
            else:
                from ..corpora import Slicing, Tokenizer, load_declaration, prepare_slices

                decls = [load_declaration(corpora_root() / name) for name in ls.corpora]
                wrong = [d.name for d in decls if d.language != ls.lang]
                if wrong:
                    raise InputError(_spec_path(self.spec), f"corpora in language '{ls.lang}'",
                                     f"{', '.join(wrong)} declare another language")
                tokens = tmp / "_tokens"
                tokens.mkdir()
                tokenizer = Tokenizer(ls.lang, s.tokenizer.settings())
                files = prepare_slices(decls, Slicing(by="corpus"), tokenizer, tokens,
                                       progress=lambda f, m: self.progress(0.2 * f, m))
                settings = s.fasttext.settings(threads=stage_threads())
                self.progress(0.2, f"fastText {ls.lang}: training")
                t0 = time.time()
                train_fasttext(list(files.values()), tmp / "vectors", settings, sources=[d.root for d in decls])
                metrics["train_seconds"] = round(time.time() - t0, 2)
                metrics["train_tokens"] = sum(len(line.split()) for f in files.values()
                                              for line in open(f, encoding="utf-8"))
                shutil.rmtree(tokens)
                from ..vectors import load_vectors

                kv = load_vectors(tmp / "vectors.npy")
            metrics["vocab_size"] = len(kv)
            metrics["dim"] = kv.vector_size
            if ls.lang == "en":
                from ..evaluation import evaluate_vectors

                metrics.update(evaluate_vectors(kv))
            write_json(tmp / "metrics.json", metrics)


class AlignedVectors(StageTask):
    """A language's fastText vectors mapped into the pivot's space (Procrustes + CSLS refinement), with BLI."""

    lang = luigi.Parameter(description="ISO code; reads tasks/multilingual/<lang>.yaml")
    profile = luigi.Parameter(default="full", description="spec profile, e.g. smoke")

    stage = "aligned"
    version = 3  # 2: <lang>.npy (+ .vocab / .keys) beside each .vec; inputs read without pickle; 3: metric names (bli_<src>-<pivot>_...)
    # 3: metric names (bli_<lang>-<pivot>_mrr-nn, not mrr-nn)

    @property
    def spec_obj(self) -> MultilingualSpec:
        return multilingual_spec(self.lang, self.profile)

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

    def run(self):
        from ..evaluators import BliEvaluator
        from ..multilingual import Alignment, align_vectors, load_dictionary, save_mapping
        from ..vectors import load_vectors, make_keyed_vectors, save_vectors

        s = self.spec_obj
        src, piv = s.source.lang, s.pivot.lang
        where = str(_spec_path(self.lang))
        # never vectors.kv: a pickle from the (possibly shared) output root would run code here
        kv_p = load_vectors(self.input()["pivot"].path / "vectors.npy")
        kv_s = load_vectors(self.input()["source"].path / "vectors.npy")
        if kv_p.vector_size != kv_s.vector_size:
            raise InputError(where, f"vectors of one dimension for '{src}' and '{piv}'",
                             f"found {kv_s.vector_size} and {kv_p.vector_size}")
        metrics: dict = {"source_lang": src, "pivot_lang": piv, "source_vocab": len(kv_s), "pivot_vocab": len(kv_p)}
        train = test = None
        if s.dictionary.path:
            d = load_dictionary(s.dictionary.path, lowercase=s.dictionary.lowercase)
            if s.dictionary.direction == "pivot-source":
                d = d.swapped()
            kept, coverage = d.restrict(kv_s.key_to_index, kv_p.key_to_index)
            metrics.update(coverage.as_metrics())
            if len(kept) == 0:
                raise InputError(s.dictionary.path, f"dictionary pairs with both words in the {src} and {piv} "
                                 "vocabularies", f"none of {len(d)} pairs are usable")
            size = s.dictionary.test_size
            train, test = kept.split(test_size=int(size) if size >= 1 else size, seed=s.dictionary.seed)
            metrics.update({"dictionary_train_pairs": len(train), "dictionary_test_pairs": len(test)})
        settings = s.mapping.settings()
        self.progress(0.1, f"aligning {src} -> {piv}")
        t0 = time.time()
        alignment = align_vectors(kv_s, kv_p, train.pairs if train is not None else None, settings, where=where)
        metrics["mapping_seconds"] = round(time.time() - t0, 2)
        metrics["mapping_steps"] = len(alignment.history)
        mapped_s = make_keyed_vectors(kv_s.index_to_key, alignment.map(kv_s.vectors), kv_s.expandos.get("count"))
        mapped_p = make_keyed_vectors(kv_p.index_to_key, alignment.map_target(kv_p.vectors),
                                      kv_p.expandos.get("count"))
        if test is not None and len(test):  # BLI of the vectors published, on the test dictionary published
            metrics.update(BliEvaluator(test.pairs, f"{src}-{piv}", csls_k=s.mapping.csls_k)((mapped_s, mapped_p)))
        with self.writing() as tmp:
            save_mapping(alignment, tmp / f"mapping.{src}-{piv}.npy")
            save_vectors(mapped_s, tmp / src)
            save_vectors(mapped_p, tmp / piv)
            save_mapping(Alignment.identity(kv_p.vector_size, alignment.target), tmp / f"mapping.{piv}-{piv}.npy")
            for lang, role in ((src, "source"), (piv, "pivot")):
                native = self.input()[role].path / "vectors.bin"
                if native.exists():
                    copy_from_stage(native, tmp / f"{lang}.bin")
            if train is not None:
                train.write(tmp / f"dictionary.{src}-{piv}.train.txt")
                test.write(tmp / f"dictionary.{src}-{piv}.test.txt")
            write_json(tmp / "metrics.json", metrics)


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
