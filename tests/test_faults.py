"""Faults: a worker killed with SIGKILL mid-task, a full disk, an unwritable output root."""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time

import pytest

from pipeline.dag.base import SUCCESS

from opsutil import PYTHON, SPEC, env_for, make_project

# the kernel is fast: a slice must still be training 0.2 s after its temporary folder appears
SLOW_SPEC = SPEC.replace("slice_epochs: 1", "slice_epochs: 200").replace("compass_epochs: 1", "compass_epochs: 5")


def run_cli(project, *args, env=None, **kwargs):
    return subprocess.run([PYTHON, "-m", "pipeline", *args], env=env or env_for(project), cwd=project,
                          capture_output=True, text=True, timeout=240, **kwargs)


def check_complete_folders(outputs):
    """Every folder with a success marker is whole: provenance, metrics and vectors load."""
    from pipeline.vectors import load_vectors

    n = 0
    for folder in outputs.glob("*/*"):
        if not (folder / SUCCESS).is_file():
            continue
        n += 1
        assert json.loads((folder / "provenance.json").read_text())["stage_id"].endswith(folder.name)
        json.loads((folder / "metrics.json").read_text())
        for vec in folder.glob("*.vec"):
            kv = load_vectors(vec)
            header = vec.open().readline().split()
            assert len(kv) == int(header[0]) and kv.vector_size == int(header[1])
    return n


def test_worker_killed_mid_task_rerun_completes_nothing_corrupt(tmp_path):
    project = make_project(tmp_path / "proj", n_lines=300)
    (project / "tasks" / "diachronic" / "toy.yaml").write_text(SLOW_SPEC)
    outputs = project / "outputs"
    proc = subprocess.Popen([PYTHON, "-m", "pipeline", "run", "DiachronicReport", "--spec", "toy"],
                            env=env_for(project), cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    seen = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        tmps = list(outputs.glob("cade-slice/.tmp-*"))
        if tmps:
            seen = tmps[0]
            time.sleep(0.2)  # well inside the slice's training
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert seen is not None, "the run ended before a slice was being written"
    assert proc.returncode == -signal.SIGKILL
    assert seen.exists(), "the killed writer's temporary folder is still there"
    assert not (outputs / "cade-report").exists() or not any((outputs / "cade-report").iterdir())
    check_complete_folders(outputs)
    n_slices_done = len([p for p in outputs.glob("cade-slice/*") if (p / SUCCESS).is_file()])
    assert n_slices_done < 2

    # the clean-up removes what the killed run left, and the rerun builds the rest
    cleaned = run_cli(project, "clean")
    assert cleaned.returncode == 0 and str(seen) in cleaned.stdout, cleaned.stdout
    assert not seen.exists()
    rerun = run_cli(project, "run", "DiachronicReport", "--spec", "toy")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert check_complete_folders(outputs) == 5
    assert not list(outputs.glob("*/.tmp-*"))


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # Python ignores SIGXFSZ: writes fail with EFBIG


def test_file_size_limit_gives_clear_error_and_no_partial_artifact(tmp_path):
    project = make_project(tmp_path / "proj", n_lines=300)
    res = run_cli(project, "run", "PreparedCorpus", "--spec", "toy", preexec_fn=_limit_file_size)
    assert res.returncode == 30, res.stdout[-2000:] + res.stderr[-2000:]  # [retcode] task_failed
    log = res.stdout + res.stderr
    assert "cannot write this stage under the output root" in log and "File too large" in log
    assert f"{project / 'outputs' / 'corpus'}/lee_a-lee_b-" in log
    assert list((project / "outputs" / "corpus").iterdir()) == []


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare to mount "
                    "a small tmpfs in a private mount namespace")
def test_full_disk_gives_clear_error_and_no_partial_artifact(tmp_path):
    project = make_project(tmp_path / "proj", n_lines=300)
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o size=64k tmpfs {mnt} || exit 77\n"
              f"{PYTHON} -m pipeline run PreparedCorpus --spec toy\necho rc=$?\nfind {mnt} -mindepth 1\n")
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=project, capture_output=True, text=True,
                         timeout=240, env=env_for(project, CHRONOLINGUA_OUTPUTS=str(mnt)))
    if res.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    assert "rc=30" in res.stdout, res.stdout + res.stderr[-3000:]
    assert "No space left on device" in res.stderr and "cannot write this stage" in res.stderr
    listing = [p for p in res.stdout.split("rc=30", 1)[1].split() if not p.startswith(f"{mnt}/.work")]
    assert listing == [f"{mnt}/corpus"], listing  # the stage's parent only: no folder, no temporary
    # (outputs/.work/locks/ holds the stage's empty lock file, which is not an artifact)


def test_unwritable_output_root_gives_clear_error(tmp_path):
    project = make_project(tmp_path / "proj")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output root's parent should be\n")
    res = run_cli(project, "run", "PreparedCorpus", "--spec", "toy",
                  env=env_for(project, CHRONOLINGUA_OUTPUTS=str(blocker / "outputs")))
    assert res.returncode == 30, res.stderr[-2000:]
    assert f"{blocker}/outputs/corpus/lee_a-lee_b-" in res.stderr and "Not a directory" in res.stderr
    assert "no partial artifact was kept" in res.stderr
    assert blocker.read_text().startswith("a file")
