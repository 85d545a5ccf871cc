"""SpecializedModel on a tiny random BERT: WordNet-format and pair-file constraints, BabelNet on loopback."""
from __future__ import annotations

import gzip
import json
import os

import luigi
import numpy as np
import pytest

from pipeline.babelnet import BabelNetError
from pipeline.dag.base import SUCCESS
from pipeline.dag.specialization import SpecializationConstraints, SpecializedModel

from dagutil import assert_failed, assert_metric_names, assert_nothing_ran, assert_scheduling_failed, build
from test_babelnet import KEY, FakeBabelNet
from test_specialization import WORDNET_ADJ, WORDNET_DATA, tiny_bert

SPEC = """\
description: toy
model: model
threads: 1
constraints:
  wordnet: {path: wordnet, pos: [n, a]}
  freedict:
    - {path: dict.tsv, source_lang: en, target_lang: es, test_size: 2, seed: 0}
  holdout_simlex999: true
train: {batch_pairs: 4, lr: 1.0e-3, epochs: 2, checkpoint_every: 2, device: cpu}
extract:
  layers: [-1, 1]
  modes: [isolation, aggregate]
  corpora: [toy]
  words:
    - {lang: en}
    - {lang: en, path: en_extra.txt}
    - {lang: es, path: es_words.txt, max_words: 5}
"""
DICT = "car\tcoche\nhouse\tcasa\nhome\thogar\ndog\tperro\ncat\tgato\nbig\tgrande\nsmall\tpequeño\nrailcar\tvagon\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "tasks" / "specialization").mkdir(parents=True)
    tiny_bert(root / "model", seed=5)
    (root / "wordnet").mkdir()
    (root / "wordnet" / "data.noun").write_text(WORDNET_DATA)
    (root / "wordnet" / "data.adj").write_text(WORDNET_ADJ)
    (root / "dict.tsv").write_text(DICT)
    (root / "en_extra.txt").write_text("new_york\nmotorcar\n")
    (root / "es_words.txt").write_text("casa\nperro\ngato\ncoche\nhogar\ngrande\nvagon\n")
    corpus = root / "corpora" / "toy"
    corpus.mkdir(parents=True)
    (corpus / "corpus.yaml").write_text("name: toy\nlanguage: en\nlicence: test\nsource: test\nfiles: '*.txt'\n")
    (corpus / "a.txt").write_text("The big dog saw a small cat. A car is not a house.\nHome is where the dog is.\n")
    (root / "tasks" / "specialization" / "toy.yaml").write_text(SPEC)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def test_specialized_model_stage(project):
    res = build(SpecializedModel(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    cons = next((project / "outputs" / "constraints").glob("toy-*"))
    out = next((project / "outputs" / "specialized").glob("toy-*"))
    assert (out / SUCCESS).exists() and (cons / SUCCESS).exists()
    # two test headwords (and their translations) are held out of training
    test = [line.split() for line in (cons / "bli" / "en-es.test.txt").read_text().splitlines()]
    assert len(test) == 2
    import polars as pl

    pairs = pl.read_parquet(cons / "pairs.parquet")
    trained = set(pairs["word_a"]) | set(pairs["word_b"])
    assert not trained & {w for pair in test for w in pair} and "en-es" in set(pairs["lang_pair"])
    assert not trained & {"big", "large"}  # SimLex-999 holds "big" and "large": held out
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_steps"] == 2 * -(-m["constraint_pairs"] // 4) and m["train_loss_last"] is not None
    assert_metric_names(project / "outputs", "constraints", "specialized")
    for key in ("before_simlex999_spearman", "after_simlex999_spearman", "before_bli_en-es_mrr-nn",
                "after_bli_en-es_mrr-nn", "delta_bli_en-es_mrr-nn", "after_bli_en-es_precision_at_1-csls_knn_8"):  # k <= 8 targets
        assert key in m, key
    assert m["after_bli_en-es_queries"] == 2 and m["after_bli_en-es_targets"] == 8
    # the model folder loads from the path alone and differs from the original
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(out / "model")
    AutoTokenizer.from_pretrained(out / "model")
    orig = AutoModel.from_pretrained(project / "model")
    w = "embeddings.word_embeddings.weight"
    assert not np.allclose(model.state_dict()[w].numpy(), orig.state_dict()[w].numpy())
    card = (out / "model" / "README.md").read_text()
    assert "base_model: model" in card and "InfoNCE" in card and "WordNet" in card
    # static vectors per language, layer and mode; the original encoder's beside them
    from gensim.models import KeyedVectors

    names = sorted(p.name for p in (out / "vectors").glob("*.vec"))
    assert names == ["en.L1.aggregate.vec", "en.L1.isolation.vec", "en.L2.aggregate.vec", "en.L2.isolation.vec",
                     "es.L1.isolation.vec", "es.L2.isolation.vec"]
    es = KeyedVectors.load_word2vec_format(str(out / "vectors" / "es.L2.isolation.vec"))
    assert es.index_to_key == ["casa", "perro", "gato", "coche", "hogar"]
    before = KeyedVectors.load_word2vec_format(str(out / "vectors-before" / "es.L2.isolation.vec"))
    assert not np.allclose(before["casa"], es["casa"])
    en = KeyedVectors.load_word2vec_format(str(out / "vectors" / "en.L2.isolation.vec"))
    assert "new_york" in en.key_to_index and "motorcar" in en.key_to_index
    assert m["after_en_aggregate_words_seen"] >= 5  # dog, cat, car, house, home, small... occur in the corpus
    # the loss curve and the checkpoint
    assert len((out / "losses.tsv").read_text().splitlines()) == m["train_steps"] + 1
    assert (out / "loss.png").stat().st_size > 1000
    assert list((project / "outputs" / ".work").glob("specialized-toy-*"))
    assert not list((project / "outputs" / ".work").glob("specialized-toy-*/checkpoint.pt"))  # done: removed
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["settings"]["train"]["batch_pairs"] == 4 and "model" in prov["inputs"]
    # a second run does nothing
    model = SpecializedModel(spec="toy")
    assert_nothing_ran(build(model), model)


def test_bad_model_fails_cleanly(project, caplog):
    spec = project / "tasks" / "specialization" / "toy.yaml"
    spec.write_text(SPEC.replace("model: model", "model: ./no_such_model_folder_xyz"))
    res = build(SpecializedModel(spec="toy"))
    # the model is fingerprinted when the scheduler asks whether the stage is complete: it fails there
    assert_scheduling_failed(res, caplog, "SpecializedModel", "toy.yaml", "model folder", "no_such_model_folder_xyz",
                             "does not exist")
    assert not list((project / "outputs").glob("specialized/*"))


def test_gpu_resource_when_it_trains_on_a_gpu(project, monkeypatch):
    import pipeline.torchutil as tu

    spec = project / "tasks" / "specialization" / "toy.yaml"
    monkeypatch.setattr(tu, "cuda_available", lambda: True)  # a machine that reports a CUDA device
    assert SpecializedModel(spec="toy").resources == {}  # device: cpu
    spec.write_text(SPEC.replace("device: cpu", "device: auto"))
    luigi.task_register.Register.clear_instance_cache()
    assert SpecializedModel(spec="toy").resources == {"gpu": 1}  # auto trains on that GPU: it holds the slot
    monkeypatch.setattr(tu, "cuda_available", lambda: False)
    assert SpecializedModel(spec="toy").resources == {}
    spec.write_text(SPEC.replace("device: cpu", "device: cuda"))
    luigi.task_register.Register.clear_instance_cache()
    assert SpecializedModel(spec="toy").resources == {"gpu": 1}


def test_babelnet_constraints_resume_after_the_budget(project, monkeypatch, caplog):
    server = FakeBabelNet()
    try:
        spec = project / "tasks" / "specialization" / "toy.yaml"

        def write(budget):
            spec.write_text(SPEC.replace("  wordnet: {path: wordnet, pos: [n, a]}\n", (
                "  babelnet: {lemmas: [car, house], target_langs: [EN, ES], base_url: '%s', daily_budget: %d,"
                " retries: 0}\n") % (server.base_url, budget)).replace("description: toy", "needs_network: true"))
            luigi.task_register.Register.clear_instance_cache()

        monkeypatch.delenv("BABELNET_KEY", raising=False)
        monkeypatch.setenv("BABELNET_KEY_FILE", str(project / "no-key-here"))
        write(2)
        res = build(SpecializationConstraints(spec="toy"))
        assert_failed(res, caplog, "SpecializationConstraints", "no BabelNet API key", "BABELNET_KEY")
        assert not server.log  # no key: nothing sent
        monkeypatch.setenv("BABELNET_KEY", KEY)
        caplog.clear()
        res = build(SpecializationConstraints(spec="toy"))
        assert_failed(res, caplog, "SpecializationConstraints", "stopped after 0 of 2 lemmas", "budget", "cached")
        assert len(server.log) == 2
        assert not list((project / "outputs").glob("constraints/*"))
        digest = SpecializationConstraints(spec="toy").output().path.name
        luigi.task_register.Register.clear_instance_cache()
        with pytest.raises(BabelNetError, match=r"stopped after 0 of 2 lemmas.*budget.*cached"):
            SpecializationConstraints(spec="toy").run()  # the day's budget is spent: it stops at once
        write(20)  # the budget is not part of the stage identity: same stage, same cache
        assert SpecializationConstraints(spec="toy").output().path.name == digest
        res = build(SpecializationConstraints(spec="toy"))
        assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
        assert len(server.log) == 5  # car ids, 2 car synsets, house ids, house synset: each once
        out = next((project / "outputs" / "constraints").glob("toy-*"))
        m = json.loads((out / "metrics.json").read_text())
        assert m["babelnet_senses"] == 10 and m["constraint_pairs_en-es"] > 0
        for f in (project / "outputs").rglob("*"):
            if f.is_file():
                raw = f.read_bytes()
                assert KEY.encode() not in (gzip.decompress(raw) if f.name.endswith(".gz") else raw), f
    finally:
        server.close()


def test_interrupted_training_resumes_from_its_checkpoint(project, monkeypatch, caplog):
    import pipeline.specialization as spec_mod

    real = spec_mod.train_specialization

    def interrupted(*args, progress=None, **kwargs):
        def stop(fraction, message):
            if message.startswith("specialization step 3/"):
                raise RuntimeError("power cut")
        return real(*args, progress=stop, **kwargs)

    monkeypatch.setattr(spec_mod, "train_specialization", interrupted)
    assert_failed(build(SpecializedModel(spec="toy")), caplog, "SpecializedModel", "power cut")
    assert not list((project / "outputs").glob("specialized/*"))
    assert list((project / "outputs" / ".work").glob("specialized-toy-*/checkpoint.pt"))
    monkeypatch.setattr(spec_mod, "train_specialization", real)
    res = build(SpecializedModel(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    m = json.loads(next((project / "outputs" / "specialized").glob("toy-*/metrics.json")).read_text())
    assert m["train_resumed_from_step"] == 2 and m["train_steps"] > 3


def test_stage_identity_follows_what_each_stage_uses(project):
    spec = project / "tasks" / "specialization" / "toy.yaml"

    def outputs():
        luigi.task_register.Register.clear_instance_cache()
        t = SpecializedModel(spec="toy")
        return t.requires().output().path.name, t.output().path.name

    c0, m0 = outputs()
    spec.write_text(SPEC.replace("lr: 1.0e-3", "lr: 2.0e-3").replace("checkpoint_every: 2", "checkpoint_every: 5"))
    c1, m1 = outputs()
    assert c1 == c0 and m1 != m0  # training settings: the model only
    spec.write_text(SPEC.replace("checkpoint_every: 2", "checkpoint_every: 5"))
    assert outputs() == (c0, m0)  # where checkpoints go is not part of the artifact
    (project / "dict.tsv").write_text(DICT + "cow\tvaca\n")
    c2, m2 = outputs()
    assert c2 != c0 and m2 != m0  # a changed dictionary changes both stages
    (project / "model" / "config.json").write_text((project / "model" / "config.json").read_text() + " ")
    assert outputs()[1] != m2  # so does a changed model folder


PIVOT = """\
  pivots:
    - via: de
      max_fanout: 2
      dictionaries:
        - {path: de_en.tsv, source_lang: de, target_lang: en}
        - {path: es_de.tsv, source_lang: es, target_lang: de}
"""


def _constraints_name(spec: str = "toy") -> str:
    """The constraints stage's folder name for the spec as it is on disk now."""
    luigi.task_register.Register.clear_instance_cache()
    return SpecializationConstraints(spec=spec).output().path.name


def test_pivot_constraints_add_training_pairs_and_follow_their_files(project):
    spec = project / "tasks" / "specialization" / "toy.yaml"
    (project / "de_en.tsv").write_text("dachs\tbadger\notter\totter\nwalross\twalrus\nbank\tbank\nbank\tseat\n"
                                       "bank\tpew\n")
    (project / "es_de.tsv").write_text("tejon\tdachs\nnutria\totter\nmorsa\twalross\nbanco\tbank\n")
    spec.write_text(SPEC.replace("  holdout_simlex999: true\n", PIVOT + "  holdout_simlex999: true\n"))

    c0 = _constraints_name()
    res = build(SpecializationConstraints(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    cons = project / "outputs" / "constraints" / c0
    import polars as pl

    pairs = pl.read_parquet(cons / "pairs.parquet")
    test = [line.split() for line in (cons / "bli" / "en-es.test.txt").read_text().splitlines()]
    via = pairs.filter(pl.col("synset").str.starts_with("freedict:en-es-via-de:"))
    got = set(zip(via["word_a"], via["word_b"]))
    held = {w for pair in test for w in pair}
    # (none of these is a SimLex-999 or test word); "bank" has 3 English translations > max_fanout 2
    assert got == {("badger", "tejon"), ("otter", "nutria"), ("walrus", "morsa")}
    assert not {w for p in got for w in p} & held
    m = json.loads((cons / "metrics.json").read_text())
    assert m["pivot_en-es-via-de_pairs"] == 3 and list((cons / "bli").glob("*.test.txt")) == [cons / "bli" /
                                                                                            "en-es.test.txt"]
    (project / "es_de.tsv").write_text("tejon\tdachs\n")
    assert _constraints_name() != c0  # a changed pivot dictionary is a changed input
    spec.write_text(SPEC.replace("  holdout_simlex999: true\n", PIVOT.replace("max_fanout: 2", "max_fanout: 3")
                                 + "  holdout_simlex999: true\n"))
    c2 = _constraints_name()
    assert c2 != c0


def test_apertium_constraints_look_up_wordnet_lemmas(project, monkeypatch):
    import stat
    import sys

    import polars as pl

    bin_dir = project / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "lt-proc"  # answers like lt-proc -b with a two-entry bilingual dictionary
    fake.write_text(f"""#!{sys.executable}
import sys
answers = {{"^motorcar<n><sg>$": "^motorcar<n><sg>/automóvil<n><m><sg>$",
           "^machine<n><sg>$": "^machine<n><sg>/máquina<n><f><sg>$"}}
for line in sys.stdin.read().splitlines():
    print(answers.get(line, line.replace("$", "/@x$")))
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (project / "en-es.autobil.bin").write_bytes(b"v1")
    spec = project / "tasks" / "specialization" / "toy.yaml"
    spec.write_text(SPEC.replace("  holdout_simlex999: true\n", "  apertium:\n    - {path: en-es.autobil.bin, "
                                 "lemmas_from: wordnet, pos: [n, a]}\n  holdout_simlex999: true\n"))

    c0 = _constraints_name()
    res = build(SpecializationConstraints(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    cons = project / "outputs" / "constraints" / c0
    pairs = pl.read_parquet(cons / "pairs.parquet")
    ap = pairs.filter(pl.col("synset").str.starts_with("freedict:en-es-apertium:"))
    # both looked up and found; "machine" is a SimLex-999 word, so held out of training
    assert json.loads((cons / "metrics.json").read_text())["apertium_en-es-apertium_pairs"] == 2
    assert set(zip(ap["word_a"], ap["word_b"])) == {("motorcar", "automóvil")}
    (project / "en-es.autobil.bin").write_bytes(b"v2")
    assert _constraints_name() != c0  # the dictionary's content is an input


def test_babelnet_answers_and_daily_count_are_shared_across_stage_identities(project, monkeypatch, caplog):
    import logging

    from pipeline.babelnet import RequestBudget

    caplog.set_level(logging.DEBUG)
    server = FakeBabelNet()
    try:
        spec = project / "tasks" / "specialization" / "toy.yaml"

        def write(lemmas, budget):
            spec.write_text(SPEC.replace("  wordnet: {path: wordnet, pos: [n, a]}\n", (
                "  babelnet: {lemmas: [%s], target_langs: [EN, ES], base_url: '%s', daily_budget: %d,"
                " retries: 0}\n") % (", ".join(lemmas), server.base_url, budget)).replace("description: toy",
                                                                                      "needs_network: true"))
            return _constraints_name()

        monkeypatch.setenv("BABELNET_KEY", KEY)
        first = write(["car"], 3)
        res = build(SpecializationConstraints(spec="toy"))
        assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
        assert len(server.log) == 3  # car's ids and its two synsets: the day's budget of 3 is spent
        # one more lemma is another stage, but car's answers and the day's count carry over: the new stage
        # gets one request (house's ids) out of a budget of 4 and stops before house's synset
        second = write(["car", "house"], 4)
        assert second != first
        res = build(SpecializationConstraints(spec="toy"))
        assert_failed(res, caplog, "SpecializationConstraints", "stopped after 1 of 2 lemmas", "budget")
        assert [e for e, _, _ in server.log[3:]] == ["getSynsetIds"] and server.log[3][1]["lemma"] == ["house"]
        shared = project / "outputs" / ".work" / "babelnet"
        assert RequestBudget(shared / "budget.json", 4).used() == 4
        write(["car", "house"], 10)
        res = build(SpecializationConstraints(spec="toy"))
        assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
        assert [e for e, _, _ in server.log[4:]] == ["getSynset"] and len(server.log) == 5  # house's synset only
        assert RequestBudget(shared / "budget.json", 10).used() == 5
        m = json.loads((project / "outputs" / "constraints" / second / "metrics.json").read_text())
        assert m["babelnet_requests_sent"] == 1 and m["babelnet_cache_hits"] == 4 and m["babelnet_senses"] == 10
        # the key is in no file name, no file, no task id and no log record
        task_id = SpecializationConstraints(spec="toy").task_id
        assert KEY not in task_id and KEY not in caplog.text
        assert all(KEY not in r.getMessage() for r in caplog.records)
        for f in (project / "outputs").rglob("*"):
            assert KEY not in f.name, f
            if f.is_file():
                raw = f.read_bytes()
                assert KEY.encode() not in (gzip.decompress(raw) if f.name.endswith(".gz") else raw), f
    finally:
        server.close()
