"""The atomic stage writer and stage identity."""
import json

import pytest

from pipeline.dag.base import SUCCESS, StageTarget, write_stage
from pipeline.identity import fingerprint_paths, stage_hash


def test_stage_written_atomically(tmp_path):
    target = StageTarget(tmp_path / "stage" / "x-abc")
    with write_stage(target, {"stage_id": "stage/x-abc", "created": "now"}) as tmp:
        (tmp / "a.txt").write_text("hello")
        assert not target.exists() and not target.path.exists()
    assert target.exists()
    assert (target.path / "a.txt").read_text() == "hello"
    assert json.loads((target.path / "provenance.json").read_text())["stage_id"] == "stage/x-abc"
    assert json.loads((target.path / SUCCESS).read_text())["stage_id"] == "stage/x-abc"
    assert [p.name for p in target.path.parent.iterdir()] == ["x-abc"]


def test_failed_stage_leaves_nothing(tmp_path):
    target = StageTarget(tmp_path / "stage" / "x-abc")
    with pytest.raises(RuntimeError, match="^killed$"):  # the writer's own error, not one of clean-up
        with write_stage(target, {}) as tmp:
            (tmp / "half.bin").write_bytes(b"\0" * 10)
            raise RuntimeError("killed")
    assert not target.exists()
    assert list((tmp_path / "stage").iterdir()) == []


def test_folder_without_marker_is_not_complete_and_is_replaced(tmp_path):
    target = StageTarget(tmp_path / "stage" / "x-abc")
    target.path.mkdir(parents=True)
    (target.path / "stale.txt").write_text("partial")
    assert not target.exists()
    with write_stage(target, {}) as tmp:
        (tmp / "new.txt").write_text("ok")
    assert target.exists() and not (target.path / "stale.txt").exists()


def test_identity_changes_with_settings_inputs_and_version(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("one")
    fp1 = fingerprint_paths([a], tmp_path)
    base = stage_hash("s", 1, {"k": 1}, {"in": fp1})
    assert base == stage_hash("s", 1, {"k": 1}, {"in": fp1})
    assert base != stage_hash("s", 1, {"k": 2}, {"in": fp1})
    assert base != stage_hash("s", 2, {"k": 1}, {"in": fp1})
    (tmp_path / "b.txt").write_text("two")
    fp2 = fingerprint_paths(sorted(tmp_path.glob("*.txt")), tmp_path)
    assert fp2 != fp1


def test_a_url_root_gets_exactly_the_files_the_marker_lists(tmp_path):
    """A hidden file the writer left (a scratch file, an editor's swap file) is no part of the stage: it is not
    hashed, so uploading it would put an unlisted file beside the marker on the shared root."""
    import uuid

    import fsspec

    url = f"memory://upload-{uuid.uuid4().hex[:8]}/stage/x-abc"
    target = StageTarget(tmp_path / "mirror" / "stage" / "x-abc", url)
    with write_stage(target, {"stage_id": "stage/x-abc", "created": "now"}) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("hello")
        (tmp / ".scratch").write_text("half-written notes")
        (tmp / "sub" / ".a.txt.swp").write_text("swap")
    fs, root = fsspec.core.url_to_fs(url)
    remote = sorted(p[len(root) + 1:] for p in fs.find(root))
    marker = json.loads(fs.cat_file(f"{root}/{SUCCESS}"))
    attempt = marker["attempt"]  # the files of one upload go to a folder of their own, which the marker names
    assert remote == sorted([*(f"{attempt}/{rel}" for rel in marker["files"]), SUCCESS])
    assert sorted(marker["files"]) == ["provenance.json", "sub/a.txt"]
    assert target.exists()


def _finished_folder(path, content: str):
    """A finished local stage folder (files and marker) as a worker's mirror holds it before its upload."""
    from pipeline.integrity import hash_files, write_marker

    (path / "sub").mkdir(parents=True)
    (path / "vectors.vec").write_text(f"1 1\nword {content}\n")
    (path / "sub" / "metrics.json").write_text(f'{{"by": "{content}"}}\n')
    files = hash_files(path)
    write_marker(path, {"stage_id": "stage/x-abc", "created": content}, files)
    return files


def test_two_workers_uploading_one_stage_never_mix_their_files(tmp_path, monkeypatch):
    """A task handed out again (its first worker seemed lost) can finish twice. The second upload used to remove
    the remote folder under the first one and both wrote into it: the marker that landed last listed hashes that
    some of the files no longer had. Each upload now writes a folder of its own, and one marker names one whole
    folder."""
    import uuid

    import pipeline.dag.base as base

    url = f"memory://race-{uuid.uuid4().hex[:8]}/stage/x-abc"
    fs, root = base._remote(url)
    a, b = tmp_path / "a", tmp_path / "b"
    files_a, files_b = _finished_folder(a, "0.25"), _finished_folder(b, "0.75")
    real_put = type(fs).put_file
    calls = []

    def put_file(self, lpath, rpath, **kw):  # worker B finishes, uploading all of it, after A's first file
        real_put(self, lpath, rpath, **kw)
        calls.append(rpath)
        if len(calls) == 1:
            base._upload(b, url, files_b)

    monkeypatch.setattr(type(fs), "put_file", put_file)
    base._upload(a, url, files_a)
    monkeypatch.undo()
    marker = json.loads(fs.cat_file(f"{root}/{SUCCESS}"))
    assert marker["created"] == "0.75" and marker["files"] == files_b  # B finished first: its marker stands
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)] == sorted([marker["attempt"], SUCCESS])
    assert list(base.verify_remote(url.rsplit("/", 2)[0])) == [("stage/x-abc", None)]  # every sha256 holds
    target = StageTarget(tmp_path / "mirror" / "stage" / "x-abc", url)
    assert (target.path / "vectors.vec").read_text() == "1 1\nword 0.75\n"
    assert (target.path / "sub" / "metrics.json").read_text() == '{"by": "0.75"}\n'
    assert "attempt" not in json.loads((target.path / SUCCESS).read_text())  # a remote detail, not the mirror's


def test_an_upload_removes_flat_and_abandoned_leftovers_but_not_a_live_attempt(tmp_path):
    import datetime
    import uuid

    import pipeline.dag.base as base

    url = f"memory://left-{uuid.uuid4().hex[:8]}/stage/x-abc"
    fs, root = base._remote(url)
    fs.pipe_file(f"{root}/vectors.vec", b"flat layout, cut short")
    day_ago = datetime.datetime.now(tz=datetime.timezone.utc) - datetime.timedelta(days=1)
    for rel in ("vectors.vec", "sub/metrics.json"):  # an upload killed a day ago
        fs.pipe_file(f"{root}/.attempt-gone.1-aaaaaaaa/{rel}", b"half")
        fs.store[f"{root}/.attempt-gone.1-aaaaaaaa/{rel}"].created = day_ago
    files = _finished_folder(tmp_path / "a", "0.5")
    fs.pipe_file(f"{root}/.attempt-live.2-bbbbbbbb/vectors.vec", b"another worker, still uploading")
    base._upload(tmp_path / "a", url, files)
    marker = json.loads(fs.cat_file(f"{root}/{SUCCESS}"))
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)) == \
        sorted([SUCCESS, marker["attempt"], ".attempt-live.2-bbbbbbbb"])
    assert base._remote_problem(fs, root) is None


@pytest.mark.parametrize("attempt", ["../other-stage", "/abs", ".attempt-a/../..", "files", 7])
def test_a_marker_naming_an_attempt_outside_its_folder_is_no_marker(tmp_path, attempt):
    """The marker comes from the shared root, which is not trusted: its ``attempt`` is one hidden folder name."""
    import uuid

    import pipeline.dag.base as base

    url = f"memory://hostile-{uuid.uuid4().hex[:8]}/stage/x-abc"
    fs, root = base._remote(url)
    files = _finished_folder(tmp_path / "a", "0.5")
    base._upload(tmp_path / "a", url, files)
    assert base._remote_problem(fs, root) is None
    marker = json.loads(fs.cat_file(f"{root}/{SUCCESS}"))
    fs.pipe_file(f"{root}/{SUCCESS}", json.dumps({**marker, "attempt": attempt}).encode())
    assert base._remote_problem(fs, root).startswith(f"{SUCCESS}: not a success marker")
    target = StageTarget(tmp_path / "mirror" / "stage" / "x-abc", url)
    assert not target.exists() and not target.path.exists()


def test_clean_removes_upload_attempts_no_marker_names_once_old(tmp_path, monkeypatch, capsys):
    """A worker killed during an upload leaves its attempt folder on the shared root, and no later upload of that
    stage may come: ``chronolingua clean`` removes it once older than --max-age-hours, never a live or a named one."""
    import os
    import time

    import pipeline.dag.base as base
    from pipeline.cli import main

    shared = tmp_path / "shared"
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", f"local://{shared}")
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "mirror"))
    files = _finished_folder(tmp_path / "a", "0.5")
    base._upload(tmp_path / "a", f"local://{shared}/stage/x-abc", files)
    named = json.loads((shared / "stage" / "x-abc" / SUCCESS).read_text())["attempt"]
    killed = shared / "stage" / "x-abc" / ".attempt-h.1-dead0000"
    live = shared / "stage" / "y-def" / ".attempt-h.2-live0000"
    for folder, age in ((killed, 30 * 3600), (live, 60)):
        (folder / "sub").mkdir(parents=True)
        for f in (folder / "vectors.vec", folder / "sub" / "metrics.json"):
            f.write_text("half")
            os.utime(f, (time.time() - age, time.time() - age))
    old = time.time() - 48 * 3600
    for f in (shared / "stage" / "x-abc" / named).rglob("*"):
        os.utime(f, (old, old))  # the attempt the marker names: kept however old
    assert main(["clean", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove  local://{killed}  (an upload attempt no success marker names, untouched for 30.0 h)" \
        in out.splitlines()
    assert out.strip().endswith("1 stale path(s); " + str(tmp_path / "mirror" / ".work") + " is never touched")
    assert killed.is_dir()
    assert main(["clean"]) == 0
    assert not killed.exists() and live.is_dir() and (shared / "stage" / "x-abc" / named).is_dir()
    assert base._remote_problem(*base._remote(f"local://{shared}/stage/x-abc")) is None
