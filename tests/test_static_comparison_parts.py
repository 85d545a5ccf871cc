"""Parts of the static-vector comparison: BLI of every set against an aligned counterpart (pipeline.static.bli),
the specialized encoder's read-outs, and sets trained once per seed folded into mean and spread."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dagutil import metric_name_problems
from pipeline.errors import InputError
from pipeline.multilingual.dictionaries import write_pair_file
from pipeline.static.bli import CounterpartBli, read_counterpart
from pipeline.vectors import make_keyed_vectors, save_vectors

N, DIM = 400, 24


def _worlds(seed: int = 0):
    """Spanish-like counterpart vectors and English words whose vectors are a linear image of them."""
    rng = np.random.default_rng(seed)
    es_words = [f"es{i}" for i in range(N)]
    en_words = [f"en{i}" for i in range(N)]
    es = rng.standard_normal((N, DIM)).astype(np.float32)
    image = es @ rng.standard_normal((DIM, 40)).astype(np.float32) + 0.05 * rng.standard_normal((N, 40))
    pairs = [(f"en{i}", f"es{i}") for i in range(N)]
    return make_keyed_vectors(es_words, es), make_keyed_vectors(en_words, image.astype(np.float32)), pairs


def test_a_linear_image_of_the_counterpart_is_found_and_a_random_set_is_not():
    es, en, pairs = _worlds()
    bli = CounterpartBli(es, pairs[:300], pairs[300:], "en-es")
    good = bli(en)
    rng = np.random.default_rng(1)
    noise = make_keyed_vectors(list(en.index_to_key), rng.standard_normal((N, 40)).astype(np.float32))
    bad = bli(noise)
    assert good["bli_en-es_precision_at_1-csls_knn_10"] > 0.9
    assert bad["bli_en-es_precision_at_1-csls_knn_10"] < 0.1  # chance is 1 / 400
    assert good["bli_en-es_queries"] == 100 and good["bli_en-es_train_pairs"] == 300


def test_training_pairs_of_a_test_word_are_dropped():
    es, en, pairs = _worlds()
    leaked = pairs[:300] + [(q, "es0") for q, _ in pairs[300:320]]  # test words with another training pair
    out = CounterpartBli(es, leaked, pairs[300:], "en-es")(en)
    assert out["bli_en-es_train_pairs"] == 300


def test_too_few_training_pairs_in_the_vectors_are_refused():
    es, en, pairs = _worlds()
    with pytest.raises(InputError, match="at least 10 training pairs for BLI en-es with both words in the "
                                         "vectors; 3 of 5"):
        CounterpartBli(es, pairs[:3] + [("nope", "es1"), ("en1", "nada")], pairs[300:], "en-es")(en)


def _aligned_folder(root: Path, es, pairs) -> Path:
    """An ``aligned`` stage folder (Spanish into English) as build_aligned writes one: es.npy and its dictionaries
    as (es word, en word)."""
    root.mkdir(parents=True)
    save_vectors(es, root / "es")
    write_pair_file([(t, s) for s, t in pairs[:300]], root / "dictionary.es-en.train.txt")
    write_pair_file([(t, s) for s, t in pairs[300:]], root / "dictionary.es-en.test.txt")
    return root


def test_read_counterpart_turns_the_dictionaries_round(tmp_path):
    es, _, pairs = _worlds()
    kv, train, test, other = read_counterpart(_aligned_folder(tmp_path / "al", es, pairs), "en", max_words=50)
    assert other == "es" and len(kv) == 50 and kv.index_to_key[:2] == ["es0", "es1"]
    assert list(train)[:2] == pairs[:2] and list(test) == pairs[300:]
    with pytest.raises(InputError, match="an aligned stage into 'de'"):
        read_counterpart(tmp_path / "al", "de")
    # an aligned stage whose spec held out no test pair (dictionary.test_size 0) writes an empty test file
    (tmp_path / "al" / "dictionary.es-en.test.txt").write_text("")
    with pytest.raises(InputError, match=r"dictionary\.es-en\.test\.txt: expected held-out test pairs to score BLI "
                                         r"en-es on \(the multilingual spec's dictionary\.test_size above 0\)"):
        read_counterpart(tmp_path / "al", "en")


def test_too_few_training_pairs_name_the_aligned_stage_dictionary(tmp_path):
    """The refusal named no file (InputError(None, ...)); read from an aligned stage, it names its training
    dictionary, whose pairs are what the set's vocabulary does not cover."""
    import re

    es, en, pairs = _worlds()
    folder = _aligned_folder(tmp_path / "al", es, pairs)
    kv, train, test, other = read_counterpart(folder, "en")
    few = make_keyed_vectors(list(en.index_to_key[:5]), en.vectors[:5])  # a set sharing 5 of the words
    with pytest.raises(InputError, match=re.escape(f"{folder / 'dictionary.es-en.train.txt'}: expected at least 10 "
                                                   "training pairs for BLI en-es with both words in the vectors; "
                                                   "5 of 300")):
        CounterpartBli(kv, train, test, f"en-{other}")(few)
    assert CounterpartBli(kv, train, test, f"en-{other}")(en)["bli_en-es_train_pairs"] == 300


def test_the_comparison_scores_every_set_against_the_counterpart_and_lists_the_specialized_set(tmp_path):
    from pipeline.static.comparison import build_comparison
    from pipeline.static.spec import load_static_spec

    es, en, pairs = _worlds()
    rng = np.random.default_rng(2)
    noise = make_keyed_vectors(list(en.index_to_key), rng.standard_normal((N, 40)).astype(np.float32))
    folders = {}
    for role, name, kv in (("readout", "isolation", en), ("specialized", "isolation", noise)):
        folder = tmp_path / f"{role}-{name}"
        folder.mkdir()
        save_vectors(kv, folder / f"{name}.L2")
        folders[f"{role}:{name}"] = folder
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "vocabulary.txt").write_text("".join(f"{w} 10\n" for w in en.index_to_key))
    (corpus / "metrics.json").write_text(json.dumps({"language": "en"}))
    spec_file = tmp_path / "toy.yaml"
    spec_file.write_text("corpora: [c]\nmodel: m\nreadouts: [{method: isolation}]\ntrained_kinds: []\n"
                         "specialized: {spec: s}\nbli: {aligned: es, max_words: 1000}\n")
    spec = load_static_spec(spec_file)
    metrics = build_comparison(spec, folders, corpus, tmp_path / "out",
                               counterpart=_aligned_folder(tmp_path / "al", es, pairs))
    table = pl.read_parquet(tmp_path / "out" / "comparison.parquet")
    assert table["set"].to_list() == ["isolation.L2", "specialized.isolation.L2"]
    p1 = dict(zip(table["set"], table["bli_en-es_precision_at_1-csls_knn_10"]))
    assert p1["isolation.L2"] > 0.9 and p1["specialized.isolation.L2"] < 0.1
    assert metrics["sets"]["isolation.L2"]["bli_en-es_queries"] == 100
    for name, m in metrics["sets"].items():  # the README's metric-name scheme, BLI's train_pairs included
        assert not metric_name_problems(m), (name, metric_name_problems(m))


def test_a_specialized_method_must_be_one_of_the_read_outs(tmp_path):
    from pipeline.errors import SpecError
    from pipeline.static.spec import load_static_spec

    spec_file = tmp_path / "toy.yaml"
    spec_file.write_text("corpora: [c]\nmodel: m\nreadouts: [{method: isolation}]\n"
                         "specialized: {spec: s, methods: [x2static]}\n")
    with pytest.raises(SpecError, match="specialized.methods from the read-outs under 'readouts' \\(isolation\\)"):
        load_static_spec(spec_file)


def test_seed_rows_fold_into_mean_and_sample_spread():
    from pipeline.static.comparison import seed_means

    table = pl.DataFrame({"set": ["isolation.L6", "fasttext.s1", "fasttext.s2", "fasttext.s3"],
                          "vocabulary": [9] * 4,
                          "simlex999_spearman": [0.5, 0.2, 0.3, 0.7],
                          "simlex999_n": [10, 10, 10, 10], "extrinsic_versebook_n": [7, 7, 8, 9]})
    out = seed_means(table)
    assert out["simlex999_n"].dtype == pl.Int64  # a count the seeds share stays a count
    assert out["extrinsic_versebook_n"].to_list() == [7, 8.0]  # counts that differ: their mean
    assert out["set"].to_list() == ["isolation.L6", "fasttext"] and out["seeds"].to_list() == [1, 3]
    ft = out.row(1, named=True)
    assert ft["simlex999_spearman"] == pytest.approx(0.4)
    assert ft["simlex999_spearman_sd"] == pytest.approx(np.std([0.2, 0.3, 0.7], ddof=1))
    assert out.row(0, named=True)["simlex999_spearman_sd"] is None and ft["simlex999_n"] == 10
    assert not metric_name_problems({k: v for k, v in ft.items() if k not in ("set", "vocabulary", "seeds")})


def test_each_seed_trains_its_own_vectors_and_the_comparison_reads_them_all(tmp_path):
    from gensim.test.utils import datapath

    from pipeline.static.comparison import load_sets
    from pipeline.static.trained import TrainedSettings, train_seeds

    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(Path(datapath("lee_background.cor")).read_text().splitlines()[:150]))
    out = tmp_path / "t"
    out.mkdir()
    metrics = train_seeds("word2vec_cbow", tokens, out, TrainedSettings(vector_size=8, epochs=1, min_count=3),
                          seeds=[4, 7], threads=1)
    assert metrics["seeds"] == [4, 7]
    sets = load_sets({"trained:word2vec_cbow": out})
    assert list(sets) == ["word2vec_cbow.s4", "word2vec_cbow.s7"]
    a, b = sets["word2vec_cbow.s4"], sets["word2vec_cbow.s7"]
    assert a.index_to_key == b.index_to_key and not np.allclose(a.vectors, b.vectors)
    from pipeline.vectors import load_vectors

    assert np.array_equal(load_vectors(out / "word2vec_cbow.npy").vectors, a.vectors)


@pytest.mark.parametrize("kind", ["word2vec_cbow", "word2vec_sgns", "fasttext"])
def test_a_corpus_with_no_word_at_trained_min_count_is_named(tmp_path, kind):
    from pipeline.static.trained import TrainedSettings, train_from_scratch

    tokens = tmp_path / "tokens.txt"
    tokens.write_text("in the beginning god created the heaven and the earth\n")
    out = tmp_path / "t"
    out.mkdir()
    with pytest.raises(InputError, match=r"tokens\.txt: expected .*words seen at least (trained\.)?min_count=5 times"):
        train_from_scratch(kind, tokens, out, TrainedSettings(vector_size=8, epochs=1, min_count=5))
    assert not list(out.iterdir())


def test_a_word_list_whose_first_word_is_a_number_keeps_it(tmp_path):
    from pipeline.static.stages import read_vocabulary

    path = tmp_path / "vocabulary.txt"
    path.write_text("1 250\nthe 200\nlord 90\n")  # the corpus's most frequent token is "1"
    assert read_vocabulary(path) == ["1", "the", "lord"]
    path.write_text("3 2\nthe 0.1 0.2\nlord 0.3 0.4\n1 0.5 0.6\n")  # a .vec: its header skipped
    assert read_vocabulary(path) == ["the", "lord", "1"] and read_vocabulary(path, 2) == ["the", "lord"]
