"""AlignedVectors on tiny real text: the two halves of gensim's Lee corpus as two "languages"."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import luigi
import numpy as np
import pytest
from gensim.test.utils import datapath

from pipeline import AlignedVectors
from pipeline.dag.base import SUCCESS

from dagutil import assert_failed, assert_metric_names, assert_nothing_ran, build
from opsutil import make_multilingual_project

SPEC = """\
pivot: {lang: en, corpora: [lee_en]}
source: {lang: de, corpora: [lee_de]}
dictionary: {path: DICT, direction: source-pivot, test_size: 0.25, seed: 0}
fasttext: {dim: 24, epochs: 5, min_count: 3, bucket: 20000, minn: 3, maxn: 5}
mapping: {n_refinement: 1, max_rank: 2000}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()
    halves = {"lee_en": ("en", lines[: len(lines) // 2]), "lee_de": ("de", lines[len(lines) // 2:])}
    for name, (lang, part) in halves.items():
        d = root / "corpora" / name
        d.mkdir(parents=True)
        (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: {lang}\nlicence: test\nsource: gensim\n"
                                       "files: '*.txt'\n")
        (d / "text.txt").write_text("\n".join(part) + "\n")
    # a "dictionary" of identical frequent words (the halves are one language)
    counts = Counter(w.lower() for line in lines for w in line.split() if w.isalpha())
    words = [w for w, c in counts.most_common(600)][100:]
    (root / "dict.tsv").write_text("".join(f"{w}\t{w}\n" for w in words))
    (root / "tasks" / "multilingual").mkdir(parents=True)
    (root / "tasks" / "multilingual" / "de.yaml").write_text(SPEC.replace("DICT", str(root / "dict.tsv")))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def test_aligned_vectors_stage(project):
    res = build(AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    out = next((project / "outputs" / "aligned").glob("de-to-en-*"))
    assert (out / SUCCESS).exists()
    for name in ("de.vec", "de.bin", "en.vec", "en.bin", "mapping.de-en.npy", "mapping.de-en.json",
                 "dictionary.de-en.train.txt", "dictionary.de-en.test.txt", "provenance.json"):
        assert (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    assert m["dictionary_pairs_kept"] > 50 and m["dictionary_test_pairs"] > 0
    written = assert_metric_names(project / "outputs", "aligned", "fasttext")
    assert "simlex999_spearman" in next(m for where, m in written.items() if where.startswith("fasttext/en-"))
    # the BLI metrics are those of the published mapped vectors on the published test dictionary
    # (how good they are is tested on a known rotation below: two fastText models of this little text
    # align poorly)
    from pipeline.evaluators import BliEvaluator
    from pipeline.multilingual import read_pair_file
    from pipeline.vectors import load_vectors

    test_pairs = read_pair_file(out / "dictionary.de-en.test.txt").pairs
    assert len(test_pairs) == m["dictionary_test_pairs"]
    again = BliEvaluator(test_pairs, "de-en")((load_vectors(out / "de.npy"), load_vectors(out / "en.npy")))
    assert {k: m[k] for k in again} == again and "bli_de-en_mrr-csls_knn_10" in again
    # train and test dictionaries are disjoint by source word
    train = {line.split()[0] for line in (out / "dictionary.de-en.train.txt").read_text().splitlines()}
    test = {line.split()[0] for line in (out / "dictionary.de-en.test.txt").read_text().splitlines()}
    assert train and test and not train & test
    # the mapping is orthogonal and the mapped .vec is the source .vec times W
    W = np.load(out / "mapping.de-en.npy")
    assert np.allclose(W @ W.T, np.eye(W.shape[0]), atol=1e-4)
    from pipeline.multilingual import load_aligned_space

    mapped = load_vectors(out / "de.vec")
    native = load_vectors(next((project / "outputs" / "fasttext").glob("de-*")) / "vectors.vec")
    w = mapped.index_to_key[10]
    assert np.allclose(mapped[w], native[w] @ W, atol=1e-4)
    # any word, out-of-vocabulary included, gets a vector in the shared space
    space = load_aligned_space(out / "de.bin", out / "mapping.de-en.npy")
    assert "zzyzxq" not in space and space.vector("zzyzxq").shape == (24,)
    # a second run does nothing
    before = sorted(p.name for p in (project / "outputs").glob("*/*"))
    assert_nothing_ran(build(AlignedVectors(lang="de")), AlignedVectors(lang="de"))
    assert sorted(p.name for p in (project / "outputs").glob("*/*")) == before


def test_alignment_recovers_a_known_rotation(tmp_path, monkeypatch):
    from pipeline.multilingual import Alignment, evaluate_alignment, read_pair_file
    from pipeline.vectors import load_vectors

    project, q = make_multilingual_project(tmp_path / "proj")  # "de" = "en" rotated by q, plus noise
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    res = build(AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    out = next((project / "outputs" / "aligned").glob("de-to-en-*"))
    m = json.loads((out / "metrics.json").read_text())
    assert m["bli_de-en_queries"] == 75 and m["bli_de-en_precision_at_1-csls_knn_10"] > 0.95, m
    assert m["bli_de-en_precision_at_1-nn"] > 0.95, m
    assert np.allclose(np.load(out / "mapping.de-en.npy"), q.T, atol=0.02)
    # aligned beats unaligned: the same held-out words without the mapping find their translation by chance only
    test_pairs = read_pair_file(out / "dictionary.de-en.test.txt").pairs
    native = [load_vectors(project / "pretrained" / f"{lang}.vec") for lang in ("de", "en")]
    unaligned = evaluate_alignment(*native, Alignment.identity(16), test_pairs)
    assert unaligned["precision_at_1-csls_knn_10"] < 0.1, unaligned


def test_dictionary_without_usable_pairs_fails_cleanly(project, caplog):
    (project / "dict.tsv").write_text("qqqq\tzzzz\nwwww\tvvvv\n")
    res = build(AlignedVectors(lang="de"))
    assert_failed(res, caplog, "AlignedVectors", str(project / "dict.tsv"), "none of 2 pairs")
    assert not list((project / "outputs").glob("aligned/*"))


def test_pretrained_vectors_by_url(project, loopback_server, tmp_path, caplog):
    import hashlib

    from gensim.models import Word2Vec

    served, base = tmp_path / "served", loopback_server.url
    served.mkdir()
    loopback_server.root = served
    lines = (project / "corpora" / "lee_de" / "text.txt").read_text().splitlines()
    model = Word2Vec([line.lower().split() for line in lines], vector_size=24, min_count=3, epochs=3, seed=1,
                     workers=1)
    model.wv.save_word2vec_format(str(served / "de.vec"))
    sha = hashlib.sha256((served / "de.vec").read_bytes()).hexdigest()
    spec = project / "tasks" / "multilingual" / "de.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("source: {lang: de, corpora: [lee_de]}",
                                 f"source: {{lang: de, vectors: '{base}/de.vec', vectors_sha256: '{'0' * 64}'}}"))
    res = build(AlignedVectors(lang="de"))  # corrupted: the checksum differs
    assert_failed(res, caplog, "FastTextVectors", f"{base}/de.vec", "sha256", sha)
    assert not list((project / "outputs").glob("aligned/*")) and not list((project / "outputs").glob("fasttext/de-*"))
    spec.write_text(text.replace("source: {lang: de, corpora: [lee_de]}",
                                 f"source: {{lang: de, vectors: '{base}/de.vec', vectors_sha256: '{sha}'}}"))
    res = build(AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    cached = list((project / "outputs" / ".work" / "downloads").glob("*-de.vec"))
    assert len(cached) == 1 and hashlib.sha256(cached[0].read_bytes()).hexdigest() == sha
    out = next((project / "outputs" / "aligned").glob("de-to-en-*"))
    assert json.loads((out / "metrics.json").read_text())["source_vocab"] == len(model.wv)
