"""The online SemEval-2020 Task 1 specs, ``tasks/diachronic/semeval2020_{en,de,la,sv}.yaml``.

Offline they validate (also with profile smoke), declare the network and are left out of offline rebuilds.
Their download path runs end to end against conftest's loopback server, which serves a small archive in the
official English layout (``semeval2020_ulscd_eng/`` with lemma corpora, POS-suffixed targets and ``truth/``)
to a copy of ``semeval2020_en.yaml`` pointed at it: ``ChangeEvaluation`` scores every method and measure over
every target. A wrong sha256 and an archive without ``truth/`` fail the gold stage for that reason, and
nothing is kept.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path

import luigi
import pytest
import yaml
from gensim.test.utils import datapath

from dagutil import assert_failed, assert_nothing_ran, build
from opsutil import REPO
from pipeline.diachronic.spec import load_diachronic_spec

SPECS = REPO / "tasks" / "diachronic"
#: language -> the official archive's name, which is also its top folder
ARCHIVES = {"de": "semeval2020_ulscd_ger", "en": "semeval2020_ulscd_eng", "la": "semeval2020_ulscd_lat",
            "sv": "semeval2020_ulscd_swe"}
NAMES = [f"semeval2020_{lang}" for lang in ARCHIVES]

LEE = Path(datapath("lee_background.cor"))
#: words of the Lee corpus seen 6-79 times in each half, suffixed as the English targets are
TARGETS = ("plane_nn", "government_nn", "police_nn", "people_nn", "minister_nn", "security_nn", "fire_nn",
           "attack_vb")
ROUTE = "/data/sem-eval-ulscd/semeval2020_ulscd_eng.zip"
MEASURES = ("cosine", "lnd", "euclidean")


# --------------------------------------------------------------------------------------------- offline


@pytest.mark.parametrize("lang", sorted(ARCHIVES))
def test_spec_validates_offline_and_declares_the_network(lang):
    path = SPECS / f"semeval2020_{lang}.yaml"
    full, smoke = load_diachronic_spec(path), load_diachronic_spec(path, "smoke")
    for spec in (full, smoke):
        g = spec.gold
        assert spec.needs_network and g.url.split("?")[0].endswith(f"/{ARCHIVES[lang]}.zip")
        assert (g.layout, g.kind, g.language) == ("semeval", "lemma", lang) and g.licence.strip()
        assert spec.corpora == ("corpus1", "corpus2") and spec.tokenizer.pretokenized
        assert spec.procrustes.architecture == "sgns" and spec.evaluation.methods == ("cade", "procrustes")
    assert smoke.gold == full.gold  # the smoke run scores the same gold, smaller and faster
    assert smoke.report.seeds == (1,) and len(full.report.seeds) == 3
    assert smoke.procrustes.vector_size < full.procrustes.vector_size
    assert smoke.procrustes.epochs < full.procrustes.epochs
    assert smoke.cade.vector_size < full.cade.vector_size and smoke.cade.slice_epochs < full.cade.slice_epochs


def test_offline_rebuilds_leave_them_out_and_online_ones_build_their_evaluation(monkeypatch):
    from pipeline import RebuildAll
    from pipeline.dag.ops import spec_tasks

    monkeypatch.setenv("CHRONOLINGUA_HOME", str(REPO))
    luigi.task_register.Register.clear_instance_cache()

    def semeval(tasks) -> set:
        return {(t.task_family, getattr(t, "spec", None) or getattr(t, "name", None)) for t in tasks
                if (getattr(t, "spec", None) or getattr(t, "name", None)) in NAMES}

    assert semeval(RebuildAll().requires()) == set()  # not built, and not an invalid spec either
    _, skipped = spec_tasks()
    assert {f"diachronic/{n}: needs the network (run with --online to include it)" for n in NAMES} <= set(skipped)
    assert semeval(RebuildAll(online=True).requires()) == {("ChangeEvaluation", n) for n in NAMES}


# --------------------------------------------------------------------------------------------- the download path


def semeval_archive(*, truth: bool = True) -> bytes:
    """A zip in the official English layout, made of real text (the Lee corpus, lower-cased, letters only):
    ``semeval2020_ulscd_eng/corpus1/lemma/ccoha1.txt.gz`` and ``corpus2/lemma/ccoha2.txt.gz`` (its two halves,
    the targets' words suffixed as in TARGETS), ``targets.txt`` and, with ``truth``, ``truth/graded.txt`` and
    ``truth/binary.txt``."""
    suffixed = {t.rsplit("_", 1)[0]: t for t in TARGETS}
    lines = [" ".join(suffixed.get(w, w) for w in re.findall(r"[a-z]+", line.lower()))
             for line in LEE.read_text(encoding="utf-8").splitlines() if line.strip()]
    half = len(lines) // 2
    top = ARCHIVES["en"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, part in ((1, lines[:half]), (2, lines[half:])):
            zf.writestr(f"{top}/corpus{n}/lemma/ccoha{n}.txt.gz",
                        gzip.compress("".join(f"{s}\n" for s in part).encode("utf-8"), mtime=0))
        zf.writestr(f"{top}/targets.txt", "".join(f"{t}\n" for t in TARGETS))
        if truth:
            zf.writestr(f"{top}/truth/graded.txt", "".join(f"{t}\t{i / 10}\n" for i, t in enumerate(TARGETS)))
            zf.writestr(f"{top}/truth/binary.txt", "".join(f"{t}\t{int(i >= 4)}\n" for i, t in enumerate(TARGETS)))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def online(loopback_server, tmp_path, monkeypatch):
    """``online(body, sha256=None)``: serve ``body`` as the English archive and make the current project one whose
    only spec is a copy of ``semeval2020_en.yaml`` pointed at it (expecting ``sha256``, by default the body's),
    at smoke size: tiny vectors, one epoch, one seed, min_freq 3. Returns ``(project, url)``."""

    def make(body: bytes, sha256: str | None = None, pinned: bool = True) -> tuple[Path, str]:
        loopback_server.serve(ROUTE, body)
        url = loopback_server.url + ROUTE
        spec = yaml.safe_load((SPECS / "semeval2020_en.yaml").read_text(encoding="utf-8"))
        spec.pop("profiles", None)
        spec["gold"].update(url=url, sha256=(sha256 or sha(body)) if pinned else None)
        spec["cade"].update(vector_size=16, min_count=3, compass_epochs=1, slice_epochs=1)
        spec["procrustes"].update(vector_size=16, min_count=3, epochs=1)
        spec["report"].update(min_freq=3, seeds=[1], k_neighbours=5)
        spec["evaluation"]["bootstrap"] = 100
        project = tmp_path / "proj"
        (project / "tasks" / "diachronic").mkdir(parents=True)
        (project / "corpora").mkdir()
        (project / "tasks" / "diachronic" / "semeval2020_en.yaml").write_text(
            yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
        for var in ("CHRONOLINGUA_OUTPUTS", "CHRONOLINGUA_CORPORA"):
            monkeypatch.delenv(var, raising=False)
        return project, url

    return make


def written(outputs: Path) -> list[str]:
    """Everything under ``outputs`` but the work state (``.work/``: downloads, locks)."""
    return sorted(p.relative_to(outputs).as_posix() for p in outputs.rglob("*")
                  if p.relative_to(outputs).parts[0] != ".work")


def test_the_english_spec_downloads_checks_and_scores_every_target(online, loopback_server):
    from pipeline.dag.diachronic import ChangeEvaluation

    body = semeval_archive()
    project, url = online(body)
    task = ChangeEvaluation(spec="semeval2020_en")
    res = build(task)
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    ev = json.loads((task.output().path / "evaluation.json").read_text(encoding="utf-8"))
    assert {"recommended", "methods"} <= set(ev) and ev["recommended"] in ev["methods"]
    assert set(ev["methods"]) == {f"{m}/{x}" for m in ("cade", "procrustes") for x in MEASURES}
    for name, scores in ev["methods"].items():
        assert isinstance(scores["graded_spearman"], float) and math.isfinite(scores["graded_spearman"]), name
        assert isinstance(scores["binary_accuracy"], float) and len(scores["graded_spearman_ci"]) == 2, name
        # every target is in both slices under its corpus form (plane_nn in the lemma files)
        assert scores["covered"] == scores["n_targets"] == len(TARGETS) and scores["missing"] == [], name
    # the gold stage holds the archive's targets and its corpora, with the URL and licence as provenance
    gold = task.requires()["gold"].output().path
    assert (gold / "targets.txt").read_text(encoding="utf-8").split() == list(TARGETS)
    record = json.loads((gold / "provenance.json").read_text(encoding="utf-8"))["input_records"][0]
    licence = yaml.safe_load((SPECS / "semeval2020_en.yaml").read_text(encoding="utf-8"))["gold"]["licence"]
    assert url in record["source"] and record["licence"] == licence
    # fetched once, kept verified in the download cache; a rerun builds nothing and fetches nothing
    cached = [p for p in (project / "outputs" / ".work" / "downloads").iterdir() if p.name.endswith(".zip")]
    assert loopback_server.paths == [ROUTE] and [sha(p.read_bytes()) for p in cached] == [sha(body)]
    assert_nothing_ran(build(ChangeEvaluation(spec="semeval2020_en")), ChangeEvaluation(spec="semeval2020_en"))
    assert loopback_server.paths == [ROUTE]


def test_a_wrong_sha256_fails_naming_the_url_and_keeps_nothing(online, caplog):
    from pipeline.dag.diachronic import ChangeEvaluation

    body = semeval_archive()
    expected = sha(b"the archive the spec was written for")
    project, url = online(body, sha256=expected)
    assert_failed(build(ChangeEvaluation(spec="semeval2020_en")), caplog, "GoldData", url,
                  f"content with sha256 {expected}", f"found {sha(body)}")
    assert written(project / "outputs") == ["gold"]  # the stages' (empty) folder: no stage, no temporary one
    downloads = project / "outputs" / ".work" / "downloads"
    assert [p.name for p in downloads.iterdir()] == []  # neither the archive nor its .part


def test_an_archive_without_truth_fails_naming_the_folder_and_writes_no_stage(online, caplog):
    from pipeline.dag.diachronic import ChangeEvaluation

    project, url = online(semeval_archive(truth=False))
    # the message names the URL and the member, not the scratch folder the archive was unpacked into
    assert_failed(build(ChangeEvaluation(spec="semeval2020_en")), caplog, "GoldData",
                  f"{url} (member {ARCHIVES['en']}/truth): expected a truth/ folder with graded.txt and binary.txt")
    assert written(project / "outputs") == ["gold"]


def test_an_unpinned_download_records_its_sha256_and_says_how_to_pin_it(online, caplog):
    from pipeline.dag.diachronic import ChangeEvaluation, GoldData

    body = semeval_archive()
    project, url = online(body, pinned=False)
    assert build(ChangeEvaluation(spec="semeval2020_en")).status == luigi.LuigiStatusCode.SUCCESS
    source = json.loads((GoldData(spec="semeval2020_en").output().path / "source.json").read_text())
    assert source == {"url": url, "sha256": sha(body), "pinned": False}
    assert any(f"gold.sha256: '{sha(body)}'" in r.getMessage() for r in caplog.records)


def test_an_offline_spec_must_pin_its_gold_url(tmp_path):
    from pipeline.diachronic.spec import load_diachronic_spec
    from pipeline.errors import SpecError

    spec = tmp_path / "x.yaml"
    spec.write_text("gold: {url: 'https://example.org/g.zip'}\n")
    with pytest.raises(SpecError, match="needs_network: true"):
        load_diachronic_spec(spec)
    spec.write_text("needs_network: true\ngold: {url: 'https://example.org/g.zip'}\n")
    assert load_diachronic_spec(spec).gold.sha256 is None
