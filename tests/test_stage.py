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
    assert remote == sorted([*marker["files"], SUCCESS]) == sorted(["provenance.json", "sub/a.txt", SUCCESS])
    assert target.exists()
