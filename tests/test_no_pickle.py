"""Trust boundary: nothing another machine wrote is unpickled.

Workers share one output root (an fsspec URL, here ``local://``). Whoever can
write there could replace a finished stage's ``compass.model`` or ``vectors.kv``
(gensim pickles) with a pickle that runs code when loaded. The pipeline reads
only formats that cannot run code (``.npy`` without pickle, word2vec text,
JSON, safetensors), so a planted pickle stays inert on the next worker that
mirrors the stage and builds on it.
"""
from __future__ import annotations

import ast
import hashlib
import json
import pickle
from pathlib import Path

import luigi
import numpy as np
import pytest

from pipeline.errors import InputError

from dagutil import build, outcome, remote_files
from opsutil import make_multilingual_project, make_project
from planted import Planted as _Planted

REPO = Path(__file__).resolve().parents[1]


def _plant(folder: Path, patterns: list[str], sentinel: Path) -> list[Path]:
    """Replace the files matching ``patterns`` under a shared root with the planted pickle, keeping each
    stage's success marker consistent with its files (whoever can write the files can write the marker)."""
    payload = pickle.dumps(_Planted(sentinel))
    stages = sorted(p.parent for p in folder.glob("*/*/_SUCCESS"))
    files = {stage: remote_files(stage) for stage in stages}  # an upload's files are in its attempt folder
    planted = sorted(p for pattern in patterns for p in folder.glob(pattern.replace("/*/", "/*/.attempt-*/", 1)))
    for p in planted:
        p.write_bytes(payload)
    for stage in {p.parent.parent for p in planted}:
        marker_path = stage / "_SUCCESS"
        marker = json.loads(marker_path.read_text())
        if isinstance(marker.get("files"), dict):
            for rel in marker["files"]:
                data = (files[stage] / rel).read_bytes()
                marker["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            marker_path.write_text(json.dumps(marker))
    return planted


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def shared_root(tmp_path, monkeypatch):
    """A ``local://`` output root shared by "machines" that each have their own local mirror."""
    shared = tmp_path / "shared"
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", f"local://{shared}")

    def machine(name: str) -> Path:
        mirror = tmp_path / f"machine-{name}"
        monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(mirror))
        luigi.task_register.Register.clear_instance_cache()
        return mirror

    yield shared, machine
    luigi.task_register.Register.clear_instance_cache()


def test_planted_compass_and_slice_pickles_never_run_on_another_worker(tmp_path, monkeypatch, shared_root):
    from pipeline import DiachronicReport

    shared, machine = shared_root
    project = make_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    machine("a")
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    sentinel = tmp_path / "planted-pickle-ran"
    planted = _plant(shared, ["cade-compass/*/compass.model", "cade-compass/*/compass.kv",
                              "cade-slice/*/vectors.kv"], sentinel)
    assert len(planted) == 4
    spec = project / "tasks" / "diachronic" / "toy.yaml"

    # machine B: a report setting changes, so B rebuilds the report from the two shared slices
    mirror_b = machine("b")
    _edit(spec, "top_n: 5", "top_n: 4")
    res = build(DiachronicReport(spec="toy"))
    assert not sentinel.exists(), "a slice's vectors.kv from the shared root was unpickled"
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    mirrored = sorted(mirror_b.glob("cade-slice/*/vectors.kv"))
    assert len(mirrored) == 2 and all(p.read_bytes() == planted[-1].read_bytes() for p in mirrored)

    # machine C: a slice setting changes, so C retrains both slices against the shared compass
    mirror_c = machine("c")
    _edit(spec, "slice_epochs: 1", "slice_epochs: 2")
    res = build(DiachronicReport(spec="toy"))
    assert not sentinel.exists(), "the shared compass.model was unpickled"
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    # the slices and the report were rebuilt; the compass (and the corpus) came from the shared root
    assert outcome(res)["completed"] == {"SliceModel", "DiachronicReport"}, res.summary_text
    assert next(mirror_c.glob("cade-compass/*/compass.model")).read_bytes() == planted[0].read_bytes()


def test_planted_fasttext_vectors_pickle_never_runs_on_another_worker(tmp_path, monkeypatch, shared_root):
    from pipeline import AlignedVectors

    shared, machine = shared_root
    project, _ = make_multilingual_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    machine("a")
    res = build(AlignedVectors(lang="de"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    sentinel = tmp_path / "planted-pickle-ran"
    assert len(_plant(shared, ["fasttext/*/vectors.kv"], sentinel)) == 2

    # machine B: a mapping setting changes, so B realigns from both shared fastText stages
    machine("b")
    _edit(project / "tasks" / "multilingual" / "de.yaml", "n_refinement: 1", "n_refinement: 2")
    res = build(AlignedVectors(lang="de"))
    assert not sentinel.exists(), "a fastText stage's vectors.kv from the shared root was unpickled"
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert outcome(res)["completed"] == {"AlignedVectors"}, res.summary_text  # realigned from the shared stages


def test_pretrained_kv_by_url_is_refused_before_download(tmp_path, monkeypatch):
    from pipeline.dag.multilingual import FastTextVectors

    project, _ = make_multilingual_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    monkeypatch.delenv("CHRONOLINGUA_OUTPUTS", raising=False)
    _edit(project / "tasks" / "multilingual" / "de.yaml", f"vectors: {project / 'pretrained' / 'de.vec'}",
          f"vectors: 'http://127.0.0.1:9/de.kv', vectors_sha256: '{'0' * 64}'")
    luigi.task_register.Register.clear_instance_cache()
    with pytest.raises(InputError, match=r"de\.yaml.*de\.kv is a gensim \.kv, a pickle"):
        FastTextVectors(spec="de", role="source").run()
    assert not (project / "outputs" / ".work" / "downloads").exists()


def test_transfer_reads_an_aligned_folder_without_its_kv(tmp_path):
    from pipeline.dag.transfer import aligned_space
    from pipeline.multilingual import Alignment, load_aligned_space, save_mapping
    from pipeline.vectors import make_keyed_vectors, save_vectors

    rng = np.random.default_rng(1)
    kv = make_keyed_vectors(["perro", "gato", "casa"], rng.standard_normal((3, 8)).astype(np.float32))
    save_vectors(kv, tmp_path / "es")
    save_mapping(Alignment.identity(8), tmp_path / "mapping.es-en.npy")
    sentinel = tmp_path / "planted-pickle-ran"
    (tmp_path / "es.kv").write_bytes(pickle.dumps(_Planted(sentinel)))
    try:
        space = aligned_space(tmp_path, "es", "en")
    finally:
        assert not sentinel.exists(), "the aligned folder's es.kv was unpickled"
    assert np.array_equal(space["gato"], kv["gato"])
    with pytest.raises(InputError, match=r"es\.kv.*pickle"):
        load_aligned_space(tmp_path / "es.kv", tmp_path / "mapping.es-en.npy")
    assert not sentinel.exists()


def test_planted_pretraining_checkpoint_is_refused_not_run(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks
    from tinymodels import english_lines, tiny_model

    path = tiny_model("bert", tmp_path / "tiny-bert")
    model, tok = AutoModelForMaskedLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    blocks = token_blocks(tok, english_lines(40), 32, "mlm")
    work = tmp_path / "work"
    sentinel = tmp_path / "planted-pickle-ran"
    (work / "checkpoint-00000002").mkdir(parents=True)
    (work / "checkpoint-00000002" / "state.pt").write_bytes(pickle.dumps(_Planted(sentinel)))
    settings = PretrainSettings(steps=4, batch_size=2, seq_len=32, checkpoint_every=2, device="cpu", log_every=0)
    with pytest.raises(InputError, match=r"checkpoint-00000002/state\.pt.*checkpoint written by continued"):
        continued_pretraining(model, tok, blocks, settings, work, "mlm")
    assert not sentinel.exists()


# ---------------------------------------------------------------------------------------------
# second line of defence: no code path that could unpickle, anywhere in pipeline/ or bench/

_PICKLE_LOADERS = {"KeyedVectors", "Word2Vec", "FastText", "Doc2Vec", "SaveLoad", "pickle", "cPickle", "joblib",
                   "dill", "cloudpickle"}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            yield node, name, node.func.attr


def _keyword(node: ast.Call, name: str):
    kw = next((k for k in node.keywords if k.arg == name), None)
    return kw.value.value if kw is not None and isinstance(kw.value, ast.Constant) else kw


def test_no_module_can_unpickle():
    files = sorted((REPO / "pipeline").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py"))
    assert len(files) > 20
    problems = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        for node, owner, attr in _calls(path):
            where = f"{rel}:{node.lineno}"
            if owner == "torch" and attr == "load" and _keyword(node, "weights_only") is not True:
                problems.append(f"{where}: torch.load without weights_only=True")
            if owner in ("np", "numpy") and attr == "load" and _keyword(node, "allow_pickle") not in (None, False):
                problems.append(f"{where}: np.load with allow_pickle")
            if rel.startswith("pipeline/") and owner in _PICKLE_LOADERS and attr in ("load", "loads", "Unpickler"):
                # the one exception: load_vectors(..., allow_pickle=True), a user's own local file on request
                if not (rel == "pipeline/vectors.py" and owner == "KeyedVectors"):
                    problems.append(f"{where}: {owner}.{attr} unpickles")
            if rel.startswith("pipeline/") and any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant)
                                                   and k.value.value is True for k in node.keywords):
                problems.append(f"{where}: {owner}.{attr}(allow_pickle=True)")
    assert problems == []
    # and pipeline code never names a stage's pickles as something to read
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ('/ "compass.model")', '/ "vectors.kv")', '.kv")'):
            for line_no, line in enumerate(text.splitlines(), 1):
                if needle in line and "load" in line:
                    problems.append(f"{path.relative_to(REPO)}:{line_no}: {line.strip()}")
    assert problems == []
