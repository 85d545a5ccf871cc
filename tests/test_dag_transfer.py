"""TransferModel and PretrainedModel on a tiny project: the Lee corpus as both "en" and "es", a tiny BERT."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import luigi
import pytest
from gensim.test.utils import datapath

from pipeline import PretrainedModel, TransferModel
from pipeline.dag.base import SUCCESS

from dagutil import assert_failed, assert_metric_names, assert_scheduling_failed, build, outcome
from tinymodels import tiny_model

ML_SPEC = """\
pivot: {lang: en, corpora: [lee_en]}
source: {lang: es, corpora: [lee_es]}
dictionary: {path: DICT, direction: source-pivot, test_size: 0.25, seed: 0}
fasttext: {dim: 24, epochs: 10, lr: 0.1, min_count: 3, bucket: 20000, minn: 3, maxn: 5}
mapping: {n_refinement: 1, max_rank: 2000}
"""

TR_SPEC = """\
source_model: {model: MODEL}
target: {lang: es, corpora: [lee_es], holdout: ["held.txt"]}
static_vectors: es
tokenizer: {vocab_size: 500, min_frequency: 2}
wechsel: {neighbors: 5}
evaluation: {source_verses: lee_en, target_verses: lee_es, books: [Held]}
pretraining: {steps: 4, batch_size: 2, seq_len: 32, checkpoint_every: 2, device: cpu}
"""
VERSES = 20


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    lines = [ln for ln in Path(datapath("lee_background.cor")).read_text().splitlines() if ln.strip()]
    # both "languages" read the same English text: their fastText spaces align well, so WECHSEL's neighbours
    # mean something; the held-out lines, in neither text, are the parallel verses retrieval is scored on
    held, text = lines[:VERSES], lines[VERSES:]
    verses = "ref\ttext\n" + "".join(f"Held 1:{i + 1}\t{ln}\n" for i, ln in enumerate(held))
    for name, lang in (("lee_en", "en"), ("lee_es", "es")):
        d = root / "corpora" / name
        d.mkdir(parents=True)
        (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: {lang}\nlicence: test licence\nsource: gensim\n"
                                       "files: '*.txt'\n")
        (d / "text.txt").write_text("\n".join(text) + "\n")
        if lang == "es":  # a word only the held-out file has, often enough to become a token if it leaked
            held = [ln + " zorblax zorblax" for ln in held]
        (d / "held.txt").write_text("\n".join(held) + "\n")
        (d / "verses.tsv").write_text(verses)
    counts = Counter(w.lower() for line in lines for w in line.split() if w.isalpha())
    words = [w for w, c in counts.most_common(600)][100:]
    (root / "dict.tsv").write_text("".join(f"{w}\t{w}\n" for w in words))
    for kind in ("multilingual", "transfer"):
        (root / "tasks" / kind).mkdir(parents=True)
    (root / "tasks" / "multilingual" / "es.yaml").write_text(ML_SPEC.replace("DICT", str(root / "dict.tsv")))
    model = tiny_model("bert", tmp_path / "tiny-bert")
    (root / "tasks" / "transfer" / "es.yaml").write_text(TR_SPEC.replace("MODEL", str(model)))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def test_transfer_and_pretraining_stages(project):
    from transformers import AutoModel, AutoTokenizer

    res = build(PretrainedModel(lang="es"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    tr = next((project / "outputs" / "transfer").glob("tiny-bert-to-es-*"))
    assert (tr / SUCCESS).exists()
    model_dir = tr / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        assert (model_dir / name).stat().st_size > 0, name
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir)
    assert model.config.vocab_size == len(tok) <= 500
    assert "zorblax" not in tok.get_vocab()  # the held-out file never reached tokenizer training
    metrics = json.loads((tr / "metrics.json").read_text())
    assert metrics["target_subwords_matched"] + metrics["target_subwords_fallback"] == len(tok)
    assert metrics["target_subwords_matched"] > 0.8 * len(tok)
    assert metrics["special_tokens_copied"] == 5
    # the English model reads the same verses as itself; WECHSEL's initialisation retrieves far better than a
    # random one (by 0.26 on average over 13 runs, never by less than 0.15: fastText's threads and the order of
    # the target tokenizer's ids vary it)
    assert metrics["retrieval_pairs"] == VERSES and metrics["retrieval_mrr-english_model"] == pytest.approx(1.0)
    assert metrics["retrieval_mrr-wechsel"] > metrics["retrieval_mrr-random_init"] + 0.1, metrics
    assert_metric_names(project / "outputs", "fasttext", "aligned", "transfer", "pretrain")
    report = json.loads((tr / "report.json").read_text())
    first = report["sample"][0]
    assert len(first["neighbours"]) == 5
    assert abs(sum(n["weight"] for n in first["neighbours"]) - 1) < 1e-3
    card = (model_dir / "README.md").read_text()
    assert "WECHSEL" in card and "test licence" in card and "k = 5" in card
    prov = json.loads((tr / "provenance.json").read_text())
    assert prov["inputs"]["source_model"]["files"] and prov["inputs"]["aligned"]
    # continued pretraining: a loss per step, a curve, checkpoints kept as resumable state
    pt = next((project / "outputs" / "pretrain").glob("tiny-bert-to-es-*"))
    losses = json.loads((pt / "losses.json").read_text())
    assert len(losses) == 4 and all(x > 0 for x in losses)
    assert (pt / "loss.png").stat().st_size > 0
    assert AutoModel.from_pretrained(pt / "model").config.vocab_size == len(tok)
    pm = json.loads((pt / "metrics.json").read_text())
    assert pm["steps_run"] == 4 and pm["tokens_per_second"] > 0
    # four steps went on from WECHSEL's initialisation: still far better than a random one
    assert pm["retrieval_mrr-pretrained"] > metrics["retrieval_mrr-random_init"] + 0.1, (pm, metrics)
    work = next((project / "outputs" / ".work").glob("pretrain-tiny-bert-to-es-*"))
    assert sorted(p.name for p in work.iterdir()) == ["checkpoint-00000002", "checkpoint-00000004"]
    assert PretrainedModel(lang="es").resources == {}
    # a spec change downstream reruns pretraining only
    spec = project / "tasks" / "transfer" / "es.yaml"
    spec.write_text(spec.read_text().replace("steps: 4", "steps: 2"))
    luigi.task_register.Register.clear_instance_cache()  # the instance above keeps the spec it was scheduled with
    res = build(PretrainedModel(lang="es"))
    assert outcome(res) == {"completed": {"PretrainedModel"}, "already_done": {"TransferModel"}}, res.summary_text


def test_gpu_resource_when_it_runs_on_a_gpu(project, monkeypatch):
    import pipeline.torchutil as tu

    spec = project / "tasks" / "transfer" / "es.yaml"
    spec.write_text(spec.read_text().replace("device: cpu", "device: auto"))
    monkeypatch.setattr(tu, "cuda_available", lambda: False)
    assert PretrainedModel(lang="es").resources == {} and TransferModel(lang="es").resources == {}
    monkeypatch.setattr(tu, "cuda_available", lambda: True)  # auto on a machine with a GPU: it trains there
    assert PretrainedModel(lang="es").resources == {"gpu": 1}
    assert TransferModel(lang="es").resources == {}  # the similarity search stays on the CPU (wechsel.device)


@pytest.mark.parametrize("task", [TransferModel, PretrainedModel])
def test_a_spec_that_does_not_load_is_a_scheduling_error_not_a_crash(project, caplog, task):
    """luigi asks a task for its [resources] gpu slot even after its complete() failed; that must not abort
    the worker with the spec's error ("unexpected framework error"), but report it as the task's."""
    spec = project / "tasks" / "transfer" / "es.yaml"
    spec.write_text(spec.read_text() + "tokeniser: {vocab_size: 300}\n")
    res = build(task(lang="es"))  # raised out of luigi.build before
    assert_scheduling_failed(res, caplog, task.__name__, "es.yaml", "unknown key 'tokeniser'")
    assert not (project / "outputs" / "transfer").exists()


def test_bad_inputs_leave_nothing(project, caplog):
    spec = project / "tasks" / "transfer" / "es.yaml"
    text = spec.read_text()
    # every target file held out: no text to train the tokenizer on
    spec.write_text(text.replace('holdout: ["held.txt"]', 'holdout: ["*.txt"]'))
    res = build(TransferModel(lang="es"))
    assert_failed(res, caplog, "TransferModel", "no non-empty documents")
    out = project / "outputs" / "transfer"
    assert not out.exists() or not any(out.iterdir())
    # a source model folder that does not exist
    spec.write_text(text.replace("model: /", "model: /no/such/"))
    caplog.clear()
    res = build(TransferModel(lang="es"))
    assert_failed(res, caplog, "TransferModel", "/no/such/", "no such folder")
    assert not out.exists() or not any(out.iterdir())
    # static vectors of another target language
    spec.write_text(text.replace("lang: es, corpora", "lang: de, corpora"))
    caplog.clear()
    res = build(TransferModel(lang="es"))
    assert_failed(res, caplog, "TransferModel", "source language is 'de'", "maps 'es' into 'en'")
    assert not out.exists() or not any(out.iterdir())


def test_online_swahili_spec_against_loopback_fixtures(tmp_path, monkeypatch):
    """tasks/transfer/sw.yaml as shipped, its URLs pointed at a loopback server serving fixtures:
    a hub-style model folder, a .txt.xz corpus and .bin.gz fastText vectors."""
    import gzip
    import lzma
    import shutil

    import yaml

    from pipeline.multilingual import FastTextSettings, train_fasttext

    from test_transfer import StaticServer

    repo = Path(__file__).resolve().parents[1]
    served = tmp_path / "www"
    hub = served / "FacebookAI" / "roberta-base" / "resolve" / "main"
    tiny_model("roberta", hub)
    lines = [ln for ln in Path(datapath("lee_background.cor")).read_text().splitlines() if ln.strip()]
    (served / "cc100").mkdir(parents=True)
    with lzma.open(served / "cc100" / "sw.txt.xz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines[150:]) + "\n")
    (served / "ft").mkdir()
    for lang, part in (("en", lines[:150]), ("sw", lines[150:])):
        txt = tmp_path / f"{lang}.txt"
        txt.write_text("\n".join(" ".join(ln.lower().split()) for ln in part) + "\n")
        paths = train_fasttext([txt], tmp_path / f"ft-{lang}", FastTextSettings(dim=16, epochs=2, min_count=2,
                                                                                 bucket=5000, minn=3, maxn=4))
        with open(paths.bin, "rb") as src, gzip.open(served / "ft" / f"cc.{lang}.300.bin.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    server = StaticServer(served)
    try:
        root = tmp_path / "proj"
        for kind in ("multilingual", "transfer"):
            (root / "tasks" / kind).mkdir(parents=True)
        ml = yaml.safe_load((repo / "tasks" / "multilingual" / "sw.yaml").read_text())
        tr = yaml.safe_load((repo / "tasks" / "transfer" / "sw.yaml").read_text())
        assert ml["needs_network"] and tr["needs_network"]
        for side in ("pivot", "source"):
            assert ml[side]["vectors"].startswith("https://dl.fbaipublicfiles.com/")
            ml[side]["vectors"] = f"{server.url}/ft/{Path(ml[side]['vectors']).name}"
        words = sorted({w for ln in lines for w in ln.lower().split() if w.isalpha()})[:400]
        (root / "dict.tsv").write_text("".join(f"{w}\t{w}\n" for w in words))
        ml["dictionary"]["path"] = str(root / "dict.tsv")
        assert tr["target"]["url"].startswith("https://data.statmt.org/")
        tr["target"]["url"] = f"{server.url}/cc100/sw.txt.xz"
        tr["tokenizer"]["vocab_size"] = 400
        tr["wechsel"]["device"] = "cpu"
        tr["pretraining"] = {"steps": 2, "batch_size": 2, "seq_len": 32, "checkpoint_every": 1, "device": "cpu"}
        (root / "tasks" / "multilingual" / "sw.yaml").write_text(yaml.safe_dump(ml))
        (root / "tasks" / "transfer" / "sw.yaml").write_text(yaml.safe_dump(tr))
        monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        res = build(PretrainedModel(lang="sw"))
        assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
        out = next((root / "outputs" / "pretrain").glob("roberta-base-to-sw-*"))
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(out / "model")
        assert AutoModel.from_pretrained(out / "model").config.vocab_size == len(tok) <= 400
        assert tok.convert_ids_to_tokens(tok("habari")["input_ids"])[0] == "<s>"  # RoBERTa kind kept
        fetched = set(server.paths)
        assert {"/FacebookAI/roberta-base/resolve/main/config.json", "/cc100/sw.txt.xz",
                "/ft/cc.en.300.bin.gz", "/ft/cc.sw.300.bin.gz"} <= fetched
    finally:
        server.close()


SWAHILI_LINES = [
    "Habari za asubuhi rafiki yangu, leo tunakwenda sokoni kununua matunda na mboga.",
    "Watoto wanacheza mpira uwanjani baada ya shule na walimu wanawaangalia kwa furaha.",
    "Mvua kubwa ilinyesha jana usiku na mto ukajaa maji mengi sana karibu na kijiji.",
    "Serikali imetangaza mpango mpya wa elimu kwa shule za msingi na sekondari nchini.",
    "Mama anapika chakula kitamu jikoni: wali, maharagwe na samaki wa kukaanga.",
    "Tulisafiri kwa basi kutoka Dar es Salaam hadi Arusha kwa saa kumi na mbili.",
]


@pytest.mark.parametrize("spec_name,hub_path,family", [("sw_qwen", "Qwen/Qwen2.5-0.5B", "qwen2"),
                                                       ("sw_smollm", "HuggingFaceTB/SmolLM2-360M", "llama3")])
def test_online_decoder_specs_against_loopback_fixtures(tmp_path, monkeypatch, spec_name, hub_path, family):
    """tasks/transfer/sw_qwen.yaml and sw_smollm.yaml as shipped (FOCUS, extend / replace), the hub and CC-100
    pointed at a loopback server: a tiny decoder of the family (Qwen2 with padding rows past its tokenizer,
    as Qwen2.5's matrix has) and a .txt.xz of Swahili."""
    import lzma

    import yaml
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from test_transfer import StaticServer
    from tinymodels import tiny_decoder

    repo = Path(__file__).resolve().parents[1]
    served = tmp_path / "www"
    hub = served / hub_path / "resolve" / "main"
    tiny_decoder(family, hub, real=False, pad_rows=13 if family == "qwen2" else 0)
    src_tok = AutoTokenizer.from_pretrained(hub)
    (served / "cc100").mkdir(parents=True)
    with lzma.open(served / "cc100" / "sw.txt.xz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(SWAHILI_LINES * 30) + "\n")
    server = StaticServer(served)
    try:
        root = tmp_path / "proj"
        (root / "tasks" / "transfer").mkdir(parents=True)
        tr = yaml.safe_load((repo / "tasks" / "transfer" / f"{spec_name}.yaml").read_text())
        assert tr["needs_network"] and tr["source_model"]["model"] == hub_path and tr["init"] == "focus"
        assert tr["target"]["url"].startswith("https://data.statmt.org/")
        tr["target"]["url"] = f"{server.url}/cc100/sw.txt.xz"
        tr["tokenizer"]["vocab_size"] = 400
        tr["focus"].update({"device": "cpu", "dim": 16, "min_count": 2})
        tr["pretraining"] = {"steps": 2, "batch_size": 2, "seq_len": 32, "checkpoint_every": 1, "device": "cpu"}
        (root / "tasks" / "transfer" / f"{spec_name}.yaml").write_text(yaml.safe_dump(tr))
        monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        res = build(PretrainedModel(lang=spec_name))
        assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
        name = hub_path.split("/")[1].lower()
        tr_out = next((root / "outputs" / "transfer").glob(f"{name}-to-sw-*"))
        metrics = json.loads((tr_out / "metrics.json").read_text())
        assert metrics["init"] == "focus" and metrics["objective"] == "clm" and metrics["focus_combined"] > 0
        out = next((root / "outputs" / "pretrain").glob(f"{name}-to-sw-*"))
        tok = AutoTokenizer.from_pretrained(out / "model")
        model = AutoModelForCausalLM.from_pretrained(out / "model")
        assert tok.chat_template == src_tok.chat_template
        if tr["vocabulary"] == "extend":  # Qwen2.5: every source id kept, new tokens from the first free id
            assert all(tok.get_vocab()[t] == i for t, i in src_tok.get_vocab().items())
            assert model.config.vocab_size == max(len(tok), len(src_tok) + 13) and len(tok) > len(src_tok)
        else:
            assert model.config.vocab_size == len(tok) <= 400
        assert bool(model.config.tie_word_embeddings) == (family == "qwen2")
        assert json.loads((out / "metrics.json").read_text())["objective"] == "clm"
        assert_metric_names(root / "outputs", "transfer", "pretrain")
        assert {f"/{hub_path}/resolve/main/config.json", "/cc100/sw.txt.xz"} <= set(server.paths)
    finally:
        server.close()


def test_static_vectors_naming_no_multilingual_spec_names_the_transfer_spec_and_key(project, caplog):
    spec = project / "tasks" / "transfer" / "es.yaml"
    spec.write_text(spec.read_text().replace("static_vectors: es", "static_vectors: nonexistent"))
    res = build(TransferModel(lang="es"))
    assert_scheduling_failed(res, caplog, "TransferModel", str(spec), "static_vectors: the name of a multilingual",
                             "'nonexistent'", "the multilingual specs are: es")
    assert not (project / "outputs" / "transfer").exists()
