"""Finished stages are checked before use: the marker's file hashes, rebuilds of changed stages,
publishing only intact stages, `chronolingua verify`, one build per stage under concurrent runs, and
invalid specs that do not stop the others."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import luigi
import pytest

from pipeline import CompassModel, DiachronicReport, PublishArtifacts
from pipeline.artifacts import list_artifacts
from pipeline.dag.base import SUCCESS, StageTask, copy_from_stage
from pipeline.identity import file_sha256
from pipeline.integrity import check_stage, hash_files

from dagutil import assert_failed, build, outcome, remote_files
from opsutil import PYTHON, REPO, env_for, make_project

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def _folder(project: Path, stage: str, prefix: str = "") -> Path:
    found = [p for p in (project / "outputs" / stage).iterdir() if p.name.startswith(prefix)
             and not p.name.startswith(".") and (p / SUCCESS).exists()]
    assert len(found) == 1, found
    return found[0]


def test_marker_records_size_and_sha256_of_every_file(project):
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    folder = _folder(project, "cade-compass")
    marker = json.loads((folder / SUCCESS).read_text())
    on_disk = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*")
               if p.is_file() and p.name not in (SUCCESS, ".verified")}
    assert set(marker["files"]) == set(on_disk) and "provenance.json" in marker["files"]
    for rel, p in on_disk.items():
        assert marker["files"][rel] == {"size": p.stat().st_size, "sha256": file_sha256(p)}
    assert marker["stage_id"] == f"cade-compass/{folder.name}"


def test_truncated_file_in_finished_stage_is_rebuilt_with_a_warning(project, caplog):
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    folder = _folder(project, "cade-compass")
    vec = folder / "compass.vec"
    good = vec.read_bytes()
    vec.write_bytes(good[: len(good) // 2])  # truncated in place
    with caplog.at_level(logging.WARNING, logger="luigi-interface"):
        assert not CompassModel(spec="toy").complete()
        res = build(CompassModel(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert outcome(res)["completed"] == {"CompassModel"}, res.summary_text  # rebuilt; its corpus stage reused
    assert any("compass.vec" in r.getMessage() and "rebuilt" in r.getMessage() for r in caplog.records)
    assert check_stage(folder, full=True) is None and vec.stat().st_size > 0.9 * len(good)  # whole again


def test_same_size_change_is_found_by_the_hash(project):
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    folder = _folder(project, "cade-compass")
    vec = folder / "compass.vec"
    data = bytearray(vec.read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    vec.write_bytes(bytes(data))  # same size, new mtime: the stat cache no longer vouches for it
    assert "sha256" in (check_stage(folder) or "")
    assert not CompassModel(spec="toy").complete()


def test_quick_check_reads_nothing_once_verified(project, monkeypatch):
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    folder = _folder(project, "cade-compass")
    import pipeline.integrity as integrity

    def no_hashing(path, *a, **k):
        raise AssertionError(f"hashed {path} on the hot path")

    monkeypatch.setattr(integrity, "file_sha256", no_hashing)
    assert check_stage(folder) is None  # sizes and the stat cache only
    with pytest.raises(AssertionError, match="hashed"):
        check_stage(folder, full=True)


def test_extra_or_missing_file_and_old_marker_are_not_complete(project):
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    folder = _folder(project, "cade-compass")
    (folder / "planted.py").write_text("print('hi')\n")
    assert check_stage(folder) == "planted.py: a file the success marker does not list"
    (folder / "planted.py").unlink()
    (folder / "compass.vec").unlink()
    assert check_stage(folder) == "compass.vec: missing (the success marker lists it)"
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    (folder / SUCCESS).write_text(json.dumps({"stage_id": "x", "created": "y"}))  # a marker without file hashes
    assert not CompassModel(spec="toy").complete()


def test_corrupt_slice_is_rebuilt_before_a_new_report_consumes_it(project):
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    sl = _folder(project, "cade-slice", "lee_a-lee_b-lee_a")
    vec = sl / "vectors.vec"
    good = vec.read_bytes()
    vec.write_bytes(good[:100])
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    spec.write_text(spec.read_text().replace("top_n: 5", "top_n: 4"))  # a new report over the same slices
    res = build(DiachronicReport(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert vec.read_bytes() != good[:100] and check_stage(sl, full=True) is None
    assert len([p for p in (project / "outputs" / "cade-report").iterdir() if not p.name.startswith(".")]) == 2


def test_stage_without_marker_or_with_changed_file_is_never_published(project, tmp_path, caplog):
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    sl = _folder(project, "cade-slice", "lee_a-lee_b-lee_b")
    (sl / SUCCESS).unlink()
    store = tmp_path / "store"
    res = build(PublishArtifacts(store=str(store)))
    assert_failed(res, caplog, "PublishArtifacts", f"{sl}: not a complete stage", "nothing of it is published")
    assert not (store / "manifest.json").exists()  # nothing published, the intact slice neither
    # a changed file in the report: the report is rebuilt (and, through it, the slice), then published intact
    report = _folder(project, "cade-report")
    (report / "top_changed.csv").write_text("word\nforged\n")
    res = build(PublishArtifacts(store=str(store)))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert check_stage(sl, full=True) is None and "forged" not in (report / "top_changed.csv").read_text()
    import tarfile

    entry = next(e for e in list_artifacts(store) if e["name"].startswith("cade-report"))
    with tarfile.open(store / entry["path"]) as tar:
        assert b"forged" not in tar.extractfile("top_changed.csv").read()
    assert {e["name"] for e in list_artifacts(store)} >= {"cade-slice.lee_a-lee_b-lee_b-seed1"}


def test_verify_command_names_the_corrupt_stage(project, capsys):
    from pipeline.cli import main

    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    assert main(["verify"]) == 0
    assert "0 corrupt" in capsys.readouterr().out
    sl = _folder(project, "cade-slice", "lee_a-lee_b-lee_a")
    (sl / "syn1neg.npy").write_bytes(b"\x93NUMPY truncated")
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert f"CORRUPT  cade-slice/{sl.name}: syn1neg.npy:" in out and "1 corrupt" in out


def test_files_taken_from_an_upstream_stage_are_copies_not_links(tmp_path):
    src, dst = tmp_path / "a.bin", tmp_path / "b.bin"
    src.write_bytes(b"x" * 1000)
    copy_from_stage(src, dst)
    assert os.stat(src).st_ino != os.stat(dst).st_ino and os.stat(src).st_nlink == 1
    with open(src, "r+b") as fh:  # truncating the upstream file leaves the downstream copy whole
        fh.truncate(10)
    assert dst.stat().st_size == 1000
    assert "os.link(" not in "".join(p.read_text() for p in (REPO / "pipeline").rglob("*.py"))


# --------------------------------------------------------------------------------------------- concurrency


class SlowStage(StageTask):
    """A stage that takes a moment and logs each build (for the concurrent-run test)."""

    stage = "slow"
    tag = luigi.Parameter()

    def identity_settings(self):
        return {"tag": self.tag}

    def artifact_name(self):
        return self.tag

    def run(self):
        with open(os.environ["SLOW_LOG"], "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(1.5)
        with self.writing() as tmp:
            (tmp / "out.txt").write_text(f"built by {os.getpid()}\n")


def test_two_concurrent_runs_build_a_stage_once(tmp_path):
    project = make_project(tmp_path / "proj")
    log = tmp_path / "builds.log"
    env = env_for(project, SLOW_LOG=str(log), PYTHONPATH=f"{REPO}{os.pathsep}{TESTS}")
    code = ("import luigi, test_integrity as t; "
            "import sys; ok = luigi.build([t.SlowStage(tag='x')], local_scheduler=True, workers=1); "
            "sys.exit(0 if ok else 1)")
    procs = [subprocess.Popen([PYTHON, "-c", code], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(log.read_text().split()) == 1, outs  # one build; the other run waited and reused it
    folders = [p for p in (project / "outputs" / "slow").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1 and check_stage(folders[0], full=True) is None
    assert any("reusing it" in o for o in outs)


# --------------------------------------------------------------------------------------------- specs


def test_invalid_spec_does_not_stop_rebuild_of_the_others(project, caplog):
    from pipeline.dag.ops import RebuildAll

    (project / "tasks" / "diachronic" / "broken.yaml").write_text("corpora: [lee_a]\ncade: {window: -3}\n")
    res = build(RebuildAll())
    assert_failed(res, caplog, "InvalidSpec", "tasks/diachronic/broken.yaml is not a valid spec", "window")
    assert DiachronicReport(spec="toy").complete()  # the valid spec was built
    env = env_for(project)
    got = subprocess.run([PYTHON, "-m", "pipeline", "rebuild"], env=env, cwd=project, capture_output=True,
                         text=True, timeout=300)
    assert got.returncode == 30, got.stdout + got.stderr  # luigi.cfg [retcode] task_failed
    assert "broken.yaml is not a valid spec" in got.stderr, got.stderr[-3000:]
    dry = subprocess.run([PYTHON, "-m", "pipeline", "rebuild", "--dry-run"], env=env, cwd=project,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 1 and "invalid  diachronic/broken" in dry.stdout, dry.stdout + dry.stderr


def test_publish_with_specs_matching_nothing_is_an_error(project, tmp_path, capsys):
    from pipeline.cli import main

    assert main(["publish", "--store", str(tmp_path / "store"), "--specs", "diachronic/nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --specs diachronic/nope: no such spec") and "diachronic/toy" in err
    assert not (tmp_path / "store").exists()


# --------------------------------------------------------------------------------------------- shared roots


def test_shared_root_changed_file_is_not_mirrored_or_consumed(project, tmp_path, monkeypatch):
    import pipeline.dag.base as base

    shared = tmp_path / "shared"
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", f"local://{shared}")
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "machine1"))
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    remote = next(p for p in (shared / "cade-compass").iterdir() if (p / SUCCESS).exists())
    assert not list(remote.rglob(".verified"))  # the stat cache stays on the machine that made it
    vec = remote_files(remote) / "compass.vec"
    data = bytearray(vec.read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    vec.write_bytes(bytes(data))  # same size: the remote listing still matches; the mirror's hash does not
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "machine2"))
    monkeypatch.setattr(base, "_MIRRORED", set())
    luigi.task_register.Register.clear_instance_cache()
    target = CompassModel(spec="toy").output()
    with pytest.raises(base.CorruptStage, match=r"compass.vec: expected content with sha256 .* does not match the stage.s success marker"):
        target.path
    assert not target.local.exists()  # nothing half-mirrored
    vec.write_bytes(bytes(data) + b"more")  # a different size: not complete, rebuilt by the next run
    assert not target.exists()
    res = build(CompassModel(spec="toy"))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert outcome(res)["completed"] == {"CompassModel"}, res.summary_text
    assert CompassModel(spec="toy").output().exists()


def test_verify_checks_a_shared_root(project, tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    shared = tmp_path / "shared"
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", f"local://{shared}")
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "machine1"))
    assert build(CompassModel(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    assert main(["verify"]) == 0 and "2 stage folder(s) checked" in capsys.readouterr().out
    remote = next(p for p in (shared / "cade-compass").iterdir() if (p / SUCCESS).exists())
    data = bytearray((remote_files(remote) / "compass.vec").read_bytes())
    data[5] ^= 1
    (remote_files(remote) / "compass.vec").write_bytes(bytes(data))
    assert main(["verify", "--quick"]) == 0  # same size: only the hashes tell
    capsys.readouterr()
    assert main(["verify"]) == 1
    assert f"CORRUPT  cade-compass/{remote.name}: compass.vec: sha256" in capsys.readouterr().out


def test_a_marker_listing_a_path_as_file_and_folder_is_no_stage(tmp_path):
    """An object store holds the keys ``a`` and ``a/b`` side by side; no folder on disk can. Such a marker is
    not a valid stage (the mirror once failed on it with a bare FileExistsError), locally or remotely."""
    import hashlib

    import fsspec
    from fsspec.implementations.memory import MemoryFile

    from pipeline.dag.base import StageTarget
    from pipeline.integrity import valid_marker

    fs = fsspec.filesystem("memory")
    root = "/conflict/constraints/x-abc"
    files = {}
    for rel, data in (("a", b"file"), ("a/b", b"child")):
        fs.store[f"{root}/{rel}"] = MemoryFile(fs, f"{root}/{rel}", data)
        files[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    marker = {"format": 2, "stage_id": "constraints/x-abc", "files": files}
    assert not valid_marker(marker)
    assert valid_marker({**marker, "files": {"a/c": files["a"], "a/b": files["a/b"]}})
    fs.pipe(f"{root}/{SUCCESS}", json.dumps(marker).encode())
    local = tmp_path / "constraints" / "x-abc"
    target = StageTarget(local, url=f"memory://{root}")
    assert not target.exists()
    assert Path(target.path) == local and not (tmp_path / "constraints").exists()  # nothing mirrored or begun


def test_a_damaged_marker_says_how_it_is_damaged(tmp_path):
    """A marker cut off by a full disk, of another format, or a folder named _SUCCESS: ``verify`` says which,
    and ``clean`` takes a stage folder whose _SUCCESS is a folder for one without a marker."""
    from pipeline.integrity import write_marker
    from pipeline.maintenance import stale_temporaries

    folder = tmp_path / "outputs" / "corpus" / "toy-abcdefabcdef"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("a\n")
    write_marker(folder, {"stage_id": "toy"}, hash_files(folder))
    assert check_stage(folder) is None
    whole = (folder / SUCCESS).read_text()
    (folder / SUCCESS).write_text(whole[: len(whole) // 2])
    problem = check_stage(folder)
    assert problem.startswith(f"{SUCCESS}: not a success marker of format 2 listing the stage's files; not JSON at "
                              "character ") and problem.endswith("(cut off: a write that did not finish?)"), problem
    (folder / SUCCESS).write_text(whole.replace('"format"', "format"))  # whole, but not JSON: not said to be cut
    assert "not JSON at character" in check_stage(folder) and "cut off" not in check_stage(folder)
    (folder / SUCCESS).write_text(json.dumps({**json.loads(whole), "format": 1}))
    assert check_stage(folder).endswith("; format 1, not 2")
    (folder / SUCCESS).unlink()
    (folder / SUCCESS).mkdir()
    assert check_stage(folder) == f"{SUCCESS}: a folder, not a success marker"
    old = time.time() - 3600
    os.utime(folder, (old, old))
    assert stale_temporaries(tmp_path / "outputs", grace=600) == [(folder, "a stage folder without its success marker")]
