"""The static-vector comparison through the DAG: every set on the same words, one entry per set, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import luigi
import numpy as np
import polars as pl
import pytest
from gensim.test.utils import datapath

from dagutil import assert_failed, assert_nothing_ran, assert_scheduling_failed, build, metric_name_problems
from opsutil import write_corpus
from tinymodels import tiny_model

BOOKS = ("Genesis", "Psalms", "Proverbs", "Isaiah", "Matthew", "Romans")

SPEC = """corpora: [lee]
model: {model}
vocabulary: {{min_count: 3, max_words: 400}}
readouts:
  - {{method: isolation, layers: [{layer}]}}
  - {{method: aggregate, layers: [{layer}]}}
  - {{method: x2static, layers: [{layer}], epochs: 2}}
trained: {{vector_size: 16, epochs: 2, min_count: 3}}
trained_kinds: [word2vec_cbow, word2vec_sgns]
extrinsic: {{task: verse_books, corpus: lee, train_size: 60, epochs: 2}}
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def _project(root: Path, model: Path, layer: int = -1) -> Path:
    (root / "tasks" / "static").mkdir(parents=True)
    (root / "tasks" / "static" / "toy.yaml").write_text(SPEC.format(model=model, layer=layer))
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[:200]
    write_corpus(root / "corpora", "lee", lines)
    # a verses.tsv in the Bible layout, so the offline extrinsic task (verse -> book) has its six books
    (root / "corpora" / "lee" / "verses.tsv").write_text(
        "ref\ttext\n" + "".join(f"{BOOKS[i % 6]} 1:{i + 1}\t{line}\n" for i, line in enumerate(lines)))
    return root


def test_every_set_is_evaluated_on_the_same_words_with_one_entry_each(tmp_path, model, monkeypatch):
    project = _project(tmp_path / "proj", model)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticComparison, StaticCorpus

    task = StaticComparison(spec="toy")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    out = task.output().path
    table = pl.read_parquet(out / "comparison.parquet")
    layer = 2  # the tiny BERT's last hidden state (-1)
    assert table["set"].to_list() == [f"isolation.L{layer}", f"aggregate.L{layer}", f"x2static.L{layer}",
                                      "word2vec_cbow", "word2vec_sgns"]
    corpus = StaticCorpus(spec="toy").output().path
    vocab = (corpus / "vocabulary.txt").read_text().split("\n")
    # documents.npy: where each corpus file (part1.txt, part2.txt) begins in tokens.txt
    starts, tokens = np.load(corpus / "documents.npy"), (corpus / "tokens.txt").read_text().splitlines()
    second = (project / "corpora" / "lee" / "part2.txt").read_text().split()[:3]
    assert starts.tolist()[0] == 0 and len(starts) == 2 and tokens[starts[1]].split()[:3] == [w.lower() for w in second]
    assert tokens[starts[1] - 1].split()[:3] != [w.lower() for w in second]
    assert table["vocabulary"].n_unique() == 1 and 0 < table["vocabulary"][0] <= len([v for v in vocab if v])
    # the same questions and pairs for every set: coverage and n agree across the rows
    for col in ("analogy_google_n", "simlex999_n", "wordsim353_n", "extrinsic_versebook_n"):
        assert table[col].n_unique() == 1, col
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sets"]) == set(table["set"])
    rows = {r["set"]: r for r in table.iter_rows(named=True)}
    for name, m in metrics["sets"].items():
        assert not metric_name_problems(m), (name, metric_name_problems(m))
        assert m == {k: v for k, v in rows[name].items() if k not in ("set", "vocabulary")}  # the table's row, whole
        assert m["extrinsic_versebook_n"] == 20  # the test split: 10% of the 200 verses
        # a correct answer is rank 1, so the MRR can only exceed the accuracy
        assert m["analogy_google_mrr"] >= m["analogy_google_accuracy"] - 1e-12
    assert "| x2static.L2 |" in (out / "comparison.md").read_text() and (out / "comparison.png").is_file()
    assert_nothing_ran(build(StaticComparison(spec="toy")), StaticComparison(spec="toy"))


def test_a_layer_the_model_lacks_fails_its_read_out_and_writes_nothing(tmp_path, model, monkeypatch, caplog):
    project = _project(tmp_path / "proj", model, layer=9)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticVectors

    assert_failed(build(StaticVectors(spec="toy", method="isolation")), caplog, "StaticVectors", "9",
                  "toy.yaml (readouts: isolation, layers): expected layers between")
    static = project / "outputs" / "static"
    assert not static.exists() or not any(p for p in static.iterdir() if not p.name.startswith("."))
    work = project / "outputs" / ".work"
    assert not [p for p in work.glob("static-*")]  # no work folder for a read-out without resumable state


def test_extrinsic_scores_are_averaged_over_the_seeds():
    from pipeline.static.comparison import _mean_over_seeds

    runs = [lambda kv: {"extrinsic_x_accuracy": 0.5, "extrinsic_x_n": 10},
            lambda kv: {"extrinsic_x_accuracy": 0.7, "extrinsic_x_n": 10}]
    assert _mean_over_seeds(runs)(None) == pytest.approx({"extrinsic_x_accuracy": 0.6, "extrinsic_x_n": 10})
    assert _mean_over_seeds(runs[:1] + [lambda kv: {"extrinsic_x_accuracy": None, "extrinsic_x_n": 0}])(None) == \
        {"extrinsic_x_accuracy": None, "extrinsic_x_n": 5.0}


def _conllu(lines: list[str]) -> bytes:
    """CoNLL-U sentences with a learnable UPOS rule (long words NOUN, short ones DET), in the UD layout."""
    out = []
    for i, line in enumerate(lines):
        out.append(f"# sent_id = {i + 1}\n# text = {line}")
        out += [f"{j + 1}\t{w}\t{w.lower()}\t{'NOUN' if len(w) > 4 else 'DET'}\t_\t_\t0\tdep\t_\t_"
                for j, w in enumerate(line.split())]
        out.append("")
    return ("\n".join(out) + "\n").encode("utf-8")


UD_SPEC = """corpora: [lee]
model: {model}
vocabulary: {{min_count: 3, max_words: 400}}
readouts: [{{method: isolation, layers: [-1]}}]
trained: {{vector_size: 16, epochs: 2, min_count: 3}}
trained_kinds: [word2vec_cbow]
extrinsic:
  task: upos
  licence: CC-BY-SA-4.0 (a loopback treebank)
  epochs: 2
  train_size: 60
{files}
"""


def test_a_treebank_by_url_is_checked_by_sha256_and_tagged_with_every_set(tmp_path, model, monkeypatch,
                                                                          loopback_server, caplog):
    import hashlib

    project = _project(tmp_path / "proj", model)
    lines = Path(datapath("lee_background.cor")).read_text().splitlines()[200:290]
    splits = {"train": lines[:60], "dev": lines[60:75], "test": lines[75:]}
    files = []
    for split, part in splits.items():
        body = _conllu(part)
        loopback_server.serve(f"/ud/{split}.conllu", body)
        files.append(f"  {split}: {loopback_server.url}/ud/{split}.conllu\n"
                     f"  {split}_sha256: '{hashlib.sha256(body).hexdigest()}'")
    (project / "tasks" / "static" / "ud.yaml").write_text(UD_SPEC.format(model=model, files="\n".join(files)))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticComparison

    task = StaticComparison(spec="ud")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    table = pl.read_parquet(task.output().path / "comparison.parquet")
    assert table["extrinsic_upos_n"].to_list() == [sum(len(x.split()) for x in splits["test"])] * 2  # every token
    sources = json.loads((task.output().path / "extrinsic_sources.json").read_text())
    assert sources["test"] == {"url": f"{loopback_server.url}/ud/test.conllu", "pinned": True,
                               "sha256": hashlib.sha256(_conllu(splits["test"])).hexdigest()}
    records = json.loads((task.output().path / "provenance.json").read_text())["input_records"]
    assert {r["name"] for r in records} == {"extrinsic upos train", "extrinsic upos dev", "extrinsic upos test"}
    assert all(r["licence"] == "CC-BY-SA-4.0 (a loopback treebank)" for r in records)

    # a test split whose bytes are not the pinned ones (another URL: a verified download stays cached) is refused,
    # and nothing is kept
    loopback_server.serve("/ud2/test.conllu", _conllu(splits["test"][:5]))
    (project / "tasks" / "static" / "ud.yaml").write_text(
        UD_SPEC.format(model=model, files="\n".join(files)).replace("/ud/test.conllu", "/ud2/test.conllu"))
    task = StaticComparison(spec="ud")
    assert_failed(build(task), caplog, "StaticComparison", "sha256")
    assert not task.output().path.exists()


def test_a_treebank_url_without_sha256_needs_a_network_spec(tmp_path, model):
    from pipeline.errors import SpecError
    from pipeline.static.spec import load_static_spec

    files = "\n".join(f"  {s}: https://example.org/{s}.conllu" for s in ("train", "dev", "test"))
    path = tmp_path / "ud.yaml"
    path.write_text(UD_SPEC.format(model=model, files=files))
    with pytest.raises(SpecError, match="extrinsic.train_sha256 with a URL for extrinsic.train"):
        load_static_spec(path)
    path.write_text("needs_network: true\n" + UD_SPEC.format(model=model, files=files))
    assert load_static_spec(path).extrinsic.files()["dev"] == ("https://example.org/dev.conllu", None)


@pytest.mark.parametrize("section, key, kind, value", [
    ("bli: {aligned: nonexistent}", "bli.aligned", "multilingual", "nonexistent"),
    ("specialized: {spec: ../transfer/es, methods: [isolation]}", "specialized.spec", "specialization",
     "../transfer/es"),
])
def test_a_spec_named_by_the_comparison_that_is_not_there_names_the_comparison_and_key(tmp_path, model, monkeypatch,
                                                                                       caplog, section, key, kind,
                                                                                       value):
    """Was the other kind's file alone ('tasks/multilingual/nonexistent.yaml: expected a multilingual run spec'),
    and a path such as ../transfer/es read a spec of another kind."""
    project = _project(tmp_path / "proj", model)
    spec = project / "tasks" / "static" / "toy.yaml"
    spec.write_text(spec.read_text() + section + "\n")
    (project / "tasks" / "transfer").mkdir()
    (project / "tasks" / "transfer" / "es.yaml").write_text("never read\n")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticComparison

    assert_scheduling_failed(build(StaticComparison(spec="toy")), caplog, "StaticComparison", str(spec),
                             f"{key}: the name of a {kind} spec", f"found {value!r}", f"the {kind} specs are: none")


def test_a_task_whose_spec_name_is_a_path_is_refused(tmp_path, model, monkeypatch, caplog):
    """``--spec ../transfer/es`` read tasks/transfer/es.yaml as a static spec."""
    project = _project(tmp_path / "proj", model)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.static import StaticCorpus

    assert_scheduling_failed(build(StaticCorpus(spec="../static/toy")), caplog, "StaticCorpus",
                             "the name of a static run spec (tasks/static/<name>.yaml)", "'../static/toy'",
                             "specs here: toy")
