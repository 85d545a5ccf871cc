"""The multilingual stage functions without luigi: fastText on tiny real text, alignment of a known rotation."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.multilingual.spec import DictionarySpec, FastTextSpec, LanguageSpec, MappingSpec, MultilingualSpec
from pipeline.multilingual.stages import AlignmentInputs, FastTextInputs, build_aligned, build_fasttext
from pipeline.vectors import load_vectors, make_keyed_vectors, save_vectors

from tinymodels import english_lines

FASTTEXT = FastTextSpec(dim=24, epochs=5, min_count=3, bucket=20000, minn=3, maxn=5)
# a word only the "de" half has: the stage must train each role on its own corpora
DE_ONLY = "zzdeonly"


def _fasttext_spec(source: LanguageSpec, pivot: LanguageSpec = LanguageSpec("en", ("lee_en",))) -> MultilingualSpec:
    return MultilingualSpec(source=source, pivot=pivot, fasttext=FASTTEXT)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The two halves of gensim's Lee corpus as an "en" and a "de" corpus under one corpus root."""
    root = tmp_path_factory.mktemp("corpora")
    lines = english_lines()
    half = len(lines) // 2
    for name, lang, part in (("lee_en", "en", lines[:half]), ("lee_de", "de", lines[half:] + [DE_ONLY] * 5)):
        d = _folder(root / name)
        (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: {lang}\nlicence: test\nsource: gensim\n"
                                       "files: '*.txt'\n")
        (d / "text.txt").write_text("\n".join(part) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(corpora, tmp_path_factory):
    """``{role: (stage folder, metrics)}``: fastText trained by the stage function for each role of one spec."""
    base = tmp_path_factory.mktemp("fasttext")
    spec = _fasttext_spec(LanguageSpec("de", ("lee_de",)))
    inputs = FastTextInputs(corpora=corpora, downloads=base / "downloads")
    seen = []
    out = {}
    for role in ("pivot", "source"):
        folder = _folder(base / role)
        out[role] = (folder, build_fasttext(spec, inputs, folder, role=role, threads=1,
                                            progress=lambda f, m: seen.append((f, m))))
    assert any(m == "fastText de: training" for _, m in seen), seen
    return out


def test_build_fasttext_trains_each_role_on_its_own_corpora(trained, corpora):
    from pipeline.corpora import Tokenizer
    from pipeline.spec import TokenizerSpec

    tokenizer = Tokenizer("en", TokenizerSpec().settings())
    for role, lang in (("pivot", "en"), ("source", "de")):
        folder, metrics = trained[role]
        assert json.loads((folder / "metrics.json").read_text()) == metrics
        kv = load_vectors(folder / "vectors.npy")
        assert metrics["lang"] == lang and metrics["vocab_size"] == len(kv) and metrics["dim"] == 24
        assert (DE_ONLY in kv.key_to_index) == (lang == "de"), role
        # fastText's own model (subwords) is kept; the tokenised text was temporary
        assert (folder / "vectors.bin").stat().st_size > 0 and not (folder / "_tokens").exists()
        # train_tokens counts the tokens of that role's corpus, as the spec's tokenizer cuts them
        text = (corpora / f"lee_{lang}" / "text.txt").read_text().splitlines()
        assert metrics["train_tokens"] == sum(len(tokenizer.tokens(line)) for line in text), role
    # the intrinsic (English) benchmarks are run for English only
    assert "simlex999_spearman" in trained["pivot"][1] and "simlex999_spearman" not in trained["source"][1]


def test_build_fasttext_refuses_corpora_of_another_language(corpora, tmp_path):
    spec = _fasttext_spec(LanguageSpec("es", ("lee_de",)))
    inputs = FastTextInputs(corpora=corpora, downloads=tmp_path / "dl", spec_file=tmp_path / "es.yaml")
    out = _folder(tmp_path / "out")
    with pytest.raises(InputError, match=r"es\.yaml: expected corpora in language 'es'; lee_de declare another"):
        build_fasttext(spec, inputs, out, role="source")
    assert not list(out.iterdir())


def test_build_fasttext_reads_pretrained_vectors(trained, tmp_path):
    de, _ = trained["source"]
    native = load_vectors(de / "vectors.npy")
    inputs = FastTextInputs(corpora=tmp_path, downloads=tmp_path / "dl")
    # a fastText .bin: its words read out, and the .bin itself copied for subword lookups downstream
    out = _folder(tmp_path / "bin")
    m = build_fasttext(_fasttext_spec(LanguageSpec("de", vectors=str(de / "vectors.bin"))), inputs, out,
                       role="source")
    assert (out / "vectors.bin").read_bytes() == (de / "vectors.bin").read_bytes()
    kv = load_vectors(out / "vectors.npy")
    assert kv.index_to_key == native.index_to_key and np.allclose(kv.vectors, native.vectors, atol=1e-5)
    assert m == {"lang": "de", "vocab_size": len(native), "dim": 24}
    # a .vec: no .bin to copy; the pivot role reads the pivot's vectors
    out = _folder(tmp_path / "vec")
    spec = _fasttext_spec(LanguageSpec("de", ("lee_de",)), pivot=LanguageSpec("en", vectors=str(de / "vectors.vec")))
    m = build_fasttext(spec, inputs, out, role="pivot")
    assert not (out / "vectors.bin").exists() and load_vectors(out / "vectors.npy").index_to_key == native.index_to_key
    assert m["lang"] == "en" and "simlex999_spearman" in m


def test_build_fasttext_downloads_into_the_cache_and_never_unpickles(trained, loopback_server, tmp_path):
    de, _ = trained["source"]
    body = (de / "vectors.vec").read_bytes()
    loopback_server.serve("/de.vec", body)
    loopback_server.serve("/de.kv", (de / "vectors.kv").read_bytes())
    inputs = FastTextInputs(corpora=tmp_path, downloads=tmp_path / "dl", spec_file=tmp_path / "de.yaml")
    url = f"{loopback_server.url}/de.vec"
    out = _folder(tmp_path / "out")
    m = build_fasttext(_fasttext_spec(LanguageSpec("de", vectors=url, vectors_sha256=hashlib.sha256(body)
                                                   .hexdigest())), inputs, out, role="source")
    assert m["vocab_size"] == len(load_vectors(de / "vectors.npy"))
    cached = list((tmp_path / "dl").glob("*-de.vec"))
    assert len(cached) == 1 and cached[0].read_bytes() == body
    # a gensim .kv by URL is refused before anything is fetched or written
    out = _folder(tmp_path / "kv")
    with pytest.raises(InputError, match=r"de\.yaml: expected pretrained vectors for 'de' by URL.*pickle"):
        build_fasttext(_fasttext_spec(LanguageSpec("de", vectors=f"{loopback_server.url}/de.kv")), inputs, out,
                       role="source")
    assert not list(out.iterdir()) and "/de.kv" not in loopback_server.paths


# --------------------------------------------------------------------------------------------- alignment


def _rotated_stages(root: Path, n_words: int = 400, dim: int = 16):
    """Two fastText-stage folders: random "en" vectors of words ``e<i>`` and "de" = en @ Q + noise of words
    ``d<i>``, with a dictionary (pivot first) pairing the first 300. Returns ``(pivot, source, dict, Q)``."""
    rng = np.random.default_rng(0)
    en = rng.standard_normal((n_words, dim)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    de = (en @ q + 0.01 * rng.standard_normal(en.shape)).astype(np.float32)
    counts = list(range(n_words, 0, -1))
    pivot, source = root / "fasttext-en", root / "fasttext-de"
    save_vectors(make_keyed_vectors([f"e{i}" for i in range(n_words)], en, counts), pivot / "vectors")
    save_vectors(make_keyed_vectors([f"d{i}" for i in range(n_words)], de, counts), source / "vectors")
    (root / "dict.tsv").write_text("".join(f"e{i}\td{i}\n" for i in range(300)))
    return pivot, source, root / "dict.tsv", q


def _aligned_spec(dictionary: DictionarySpec) -> MultilingualSpec:
    return MultilingualSpec(source=LanguageSpec("de", vectors="de.vec"), pivot=LanguageSpec("en", vectors="en.vec"),
                            dictionary=dictionary, mapping=MappingSpec(n_refinement=1, max_rank=2000))


def test_build_aligned_recovers_a_known_rotation(tmp_path):
    pivot, source, dictionary, q = _rotated_stages(tmp_path)
    (source / "vectors.bin").write_bytes(b"fastText model of de")  # copied as it is; the pivot has none
    out = _folder(tmp_path / "aligned")
    spec = _aligned_spec(DictionarySpec(path=str(dictionary), test_size=0.25))  # pivot-source: columns swapped
    m = build_aligned(spec, AlignmentInputs(pivot=pivot, source=source), out)
    assert json.loads((out / "metrics.json").read_text()) == m
    assert m["dictionary_pairs_kept"] == 300 and m["dictionary_test_pairs"] == 75 == m["bli_de-en_queries"]
    assert m["dictionary_train_pairs"] == 225 and m["source_vocab"] == m["pivot_vocab"] == 400
    assert m["bli_de-en_precision_at_1-csls_knn_10"] > 0.95 and m["bli_de-en_precision_at_1-nn"] > 0.95, m
    W = np.load(out / "mapping.de-en.npy")
    assert np.allclose(W, q.T, atol=0.02)
    # the published vectors: the source mapped by W, the pivot as it was (no preprocessing), counts kept
    native_s, native_p = load_vectors(source / "vectors.npy"), load_vectors(pivot / "vectors.npy")
    mapped_s, mapped_p = load_vectors(out / "de.npy"), load_vectors(out / "en.npy")
    assert np.allclose(mapped_s.vectors, native_s.vectors @ W, atol=1e-5)
    assert np.array_equal(mapped_p.vectors, native_p.vectors) and np.allclose(np.load(out / "mapping.en-en.npy"),
                                                                              np.eye(16))
    assert int(mapped_s.get_vecattr("d0", "count")) == 400
    assert (out / "de.bin").read_bytes() == b"fastText model of de" and not (out / "en.bin").exists()
    # the dictionaries written are source-first, and train and test share no source word
    train = [line.split() for line in (out / "dictionary.de-en.train.txt").read_text().splitlines()]
    test = [line.split() for line in (out / "dictionary.de-en.test.txt").read_text().splitlines()]
    assert len(train) == 225 and len(test) == 75 and all(s == "d" + t[1:] for s, t in train + test)
    assert not {s for s, _ in train} & {s for s, _ in test}


def test_build_aligned_from_identical_strings_without_a_dictionary(tmp_path):
    pivot, source, _, q = _rotated_stages(tmp_path)
    # identical strings need shared words: give the source the pivot's words
    kv = load_vectors(source / "vectors.npy")
    save_vectors(make_keyed_vectors(load_vectors(pivot / "vectors.npy").index_to_key, kv.vectors), source / "vectors")
    out = _folder(tmp_path / "aligned")
    m = build_aligned(_aligned_spec(DictionarySpec()), AlignmentInputs(pivot=pivot, source=source), out)
    assert np.allclose(np.load(out / "mapping.de-en.npy"), q.T, atol=0.02)
    assert not list(out.glob("dictionary.*")) and not [k for k in m if k.startswith(("bli_", "dictionary_"))], m


def test_build_aligned_refuses_unusable_inputs(tmp_path):
    pivot, source, dictionary, _ = _rotated_stages(tmp_path)
    out = _folder(tmp_path / "aligned")
    inputs = AlignmentInputs(pivot=pivot, source=source, spec_file=tmp_path / "de.yaml")
    # the dictionary's columns are pivot-source: read the other way round no pair is in both vocabularies
    spec = _aligned_spec(DictionarySpec(path=str(dictionary), direction="source-pivot"))
    with pytest.raises(InputError, match=rf"{dictionary}: expected dictionary pairs with both words in the vectors; "
                                         r"none of 300 pairs \(300 with an unknown source word"):
        build_aligned(spec, inputs, out)
    save_vectors(make_keyed_vectors(["d0", "d1"], np.eye(2, 8, dtype=np.float32)), source / "vectors")
    with pytest.raises(InputError, match=r"de\.yaml: expected vectors of one dimension for 'de' and 'en'; found 8 "
                                         "and 16"):
        build_aligned(_aligned_spec(DictionarySpec()), inputs, out)
    assert not list(out.iterdir())


def test_build_aligned_refuses_a_dictionary_too_small_to_train_and_test(tmp_path):
    pivot, source, dictionary, _ = _rotated_stages(tmp_path)
    out = _folder(tmp_path / "aligned")
    inputs = AlignmentInputs(pivot=pivot, source=source, spec_file=tmp_path / "de.yaml")
    dictionary.write_text("".join(f"e{i}\td{i}\n" for i in range(3)))
    # 3 source words, one held out: a map of 16 dimensions from 2 pairs was fitted and published before
    with pytest.raises(InputError, match=r"de\.yaml: expected at least 10 distinct seed pairs .* 16 dimensions.*; 2$"):
        build_aligned(_aligned_spec(DictionarySpec(path=str(dictionary), test_size=1)), inputs, out)
    # 0.1 of 3 source words holds none out: BLI was silently left out of the metrics
    with pytest.raises(InputError, match=rf"{dictionary}: expected enough distinct source words to hold out test_size "
                                         "0.1 .*; 3 source words, 0 of them to hold out"):
        build_aligned(_aligned_spec(DictionarySpec(path=str(dictionary), test_size=0.1)), inputs, out)
    assert not list(out.iterdir())


def test_build_aligned_with_test_size_zero_trains_on_every_pair(tmp_path):
    """``test_size: 0`` (allowed by the spec, which reads it as 0.0) means no BLI test set, not a bare ValueError."""
    from pipeline.multilingual.spec import load_multilingual_spec

    pivot, source, dictionary, q = _rotated_stages(tmp_path)
    spec_file = tmp_path / "de.yaml"
    spec_file.write_text("kind: multilingual\nsource: {lang: de, vectors: de.vec}\npivot: {lang: en, vectors: en.vec}\n"
                         f"dictionary: {{path: '{dictionary}', test_size: 0}}\n"
                         "mapping: {n_refinement: 1, max_rank: 2000}\n")
    spec = load_multilingual_spec(spec_file)
    out = _folder(tmp_path / "aligned")
    m = build_aligned(spec, AlignmentInputs(pivot=pivot, source=source, spec_file=spec_file), out)
    assert m["dictionary_train_pairs"] == m["dictionary_pairs_kept"] == 300 and m["dictionary_test_pairs"] == 0
    assert not [k for k in m if k.startswith("bli_")], m
    assert np.allclose(np.load(out / "mapping.de-en.npy"), q.T, atol=0.02)
    assert len((out / "dictionary.de-en.train.txt").read_text().splitlines()) == 300
