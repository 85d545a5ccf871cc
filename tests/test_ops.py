"""Scheduled rebuilds: new corpus files rebuild exactly their dependents; dry run, prune, clean, run lock."""
from __future__ import annotations

import os
import socket
import signal
import subprocess
import time
from pathlib import Path

import luigi
import pytest

from pipeline.dag.base import SUCCESS
from pipeline.maintenance import run_lock

from dagutil import build
from opsutil import PYTHON, SPEC, env_for, make_project, write_corpus


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "proj")
    # a second spec that shares lee_a but not lee_b
    lines = (root / "corpora" / "lee_b" / "part1.txt").read_text().splitlines()
    write_corpus(root / "corpora", "lee_c", lines)
    (root / "tasks" / "diachronic" / "other.yaml").write_text(SPEC.replace("lee_b", "lee_c"))
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


def folders(root) -> set[str]:
    return {f"{p.parent.name}/{p.name}" for p in (root / "outputs").glob("*/*") if (p / SUCCESS).exists()}


def tree_listing(root) -> dict:
    """Every path under ``root`` with its size and mtime (what a run that writes nothing leaves unchanged)."""
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in [root, *root.rglob("*")]}


def cli(project, *args, **env):
    return subprocess.run([PYTHON, "-m", "pipeline", *args], env=env_for(project, **env), cwd=project,
                          capture_output=True, text=True, timeout=180)


def test_new_corpus_file_rebuilds_exactly_its_dependents_then_prune(project):
    from pipeline import RebuildAll

    assert build(RebuildAll()).status == luigi.LuigiStatusCode.SUCCESS
    first = folders(project)
    assert sorted(f.split("/")[0] for f in first) == ["cade-compass"] * 2 + ["cade-report"] * 2 + \
        ["cade-slice"] * 4 + ["corpus"] * 2
    for cache in (project / "outputs").glob("*/*/.verified"):  # a tree restored from a backup has none
        cache.unlink()
    before = tree_listing(project / "outputs")
    dry = cli(project, "rebuild", "--dry-run")
    assert dry.returncode == 0 and "0 stage(s) would be built; 2 spec(s) checked" in dry.stdout, dry.stdout
    assert tree_listing(project / "outputs") == before  # a dry run writes nothing, not even a stat cache

    (project / "corpora" / "lee_b" / "part3.txt").write_text("the government said new words today\n" * 5)
    dry = cli(project, "rebuild", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = [line for line in dry.stdout.splitlines() if line.startswith("rebuild")]
    # the static plan: the prepared corpus (content changed) and the report (its input changed)
    assert len(planned) == 2, dry.stdout
    assert any(line.startswith("rebuild  corpus/lee_a-lee_b-") and "input lee_b: content changed" in line
               for line in planned), dry.stdout
    assert any(line.startswith("rebuild  cade-report/toy-") and "upstream lee_a-lee_b-" in line
               for line in planned), dry.stdout
    assert not any("lee_c" in line or "other" in line for line in planned)

    assert build(RebuildAll()).status == luigi.LuigiStatusCode.SUCCESS
    new = folders(project) - first
    assert sorted(f.split("/")[0] for f in new) == ["cade-compass", "cade-report", "cade-slice", "cade-slice",
                                                    "corpus"]
    assert all("lee_b" in f or f.startswith("cade-report/toy-") for f in new), new
    assert first <= folders(project)  # nothing of the other spec was touched

    pruned = cli(project, "prune", "--dry-run")
    assert pruned.returncode == 0, pruned.stderr
    doomed = {os.path.relpath(line.split()[2], project / "outputs")
              for line in pruned.stdout.splitlines() if line.startswith("would remove")}
    other = {f for f in first if "lee_c" in f or f.startswith("cade-report/other-")}
    assert len(other) == 5 and doomed == first - other, pruned.stdout
    assert cli(project, "prune").returncode == 0
    assert folders(project) == other | new
    assert not any((project / "outputs" / d).exists() for d in doomed)
    luigi.task_register.Register.clear_instance_cache()
    assert RebuildAll().complete()


def test_network_specs_only_when_asked(project, caplog):
    from pipeline.dag.ops import spec_tasks

    spec = project / "tasks" / "diachronic" / "online.yaml"
    spec.write_text(SPEC + "needs_network: true\n")
    with caplog.at_level("INFO", logger="luigi-interface"):
        spec_tasks()  # luigi asks a Demo for its requirements several times: the skip is logged once
        tasks, skipped = spec_tasks()
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping")] == \
        ["skipping diachronic/online: needs the network (run with --online to include it)"]
    assert sorted(t.spec for t in tasks) == ["other", "toy"]
    assert skipped == ["diachronic/online: needs the network (run with --online to include it)"]
    tasks, skipped = spec_tasks(online=True)
    assert sorted(t.spec for t in tasks) == ["online", "other", "toy"] and skipped == []
    dry = cli(project, "rebuild", "--dry-run")
    assert "skip     diachronic/online: needs the network" in dry.stdout
    assert "rebuild  corpus/lee_a-lee_b-" in dry.stdout and "never built" in dry.stdout



def test_prune_keeps_what_online_specs_use_and_never_follows_a_link(project, tmp_path):
    """Prune goes by stage names (no stage is built here). The stages of a spec that needs the network are
    current whether or not this run is online; a linked stage folder is never entered (it once lost the
    marker of a folder outside the output root); a spec that is no YAML mapping stops prune with one line."""
    from pathlib import Path

    from pipeline.dag.base import StageTarget
    from pipeline.dag.ops import dependency_closure, spec_tasks

    (project / "tasks" / "diachronic" / "online.yaml").write_text(
        SPEC + "tokenizer: {lowercase: false}\nneeds_network: true\n")
    tasks, _ = spec_tasks("full", online=True)
    made = set()
    for t in dependency_closure(tasks):
        if isinstance(t.output(), StageTarget):
            p = Path(t.output().local)
            p.mkdir(parents=True, exist_ok=True)
            (p / SUCCESS).write_text("{}")
            made.add(p)
    corpus = [p.name for p in made if p.parent.name == "corpus" and p.name.startswith("lee_a-lee_b-")]
    assert len(corpus) == 2  # toy and online build the same corpora under two identities
    outside = tmp_path / "outside" / "victim"
    outside.mkdir(parents=True)
    (outside / SUCCESS).write_text("precious")
    link = project / "outputs" / "cade-report" / "toy-222222222222"
    link.symlink_to(outside)
    stale = project / "outputs" / "cade-report" / "toy-000000000000"
    stale.mkdir()
    (stale / SUCCESS).write_text("{}")

    dry = cli(project, "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split()[2] for line in dry.stdout.splitlines() if line.startswith("would remove")] == [str(stale)]
    res = cli(project, "prune")
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and all((p / SUCCESS).exists() for p in made)
    assert link.is_symlink() and (outside / SUCCESS).read_text() == "precious"
    clean = cli(project, "clean")
    assert clean.returncode == 0 and (outside / SUCCESS).exists() and link.is_symlink(), clean.stdout

    (project / "tasks" / "diachronic" / "broken.yaml").write_text("gold: {path: [unclosed\n")
    broken = cli(project, "prune", "--dry-run")
    assert broken.returncode == 2 and "Traceback" not in broken.stderr, broken.stderr
    last = broken.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "broken.yaml" in last and "expected valid YAML" in last, last


def test_a_dry_run_reports_a_spec_it_cannot_plan_and_plans_the_others(project):
    (project / "tasks" / "diachronic" / "m_missing.yaml").write_text(SPEC.replace("lee_b", "nosuchcorpus"))
    dry = cli(project, "rebuild", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    lines = dry.stdout.splitlines()
    bad = [line for line in lines if line.startswith("invalid  diachronic/m_missing: ")]
    assert len(bad) == 1 and "nosuchcorpus" in bad[0], dry.stdout
    assert any(line.startswith("rebuild  cade-report/other-") for line in lines), dry.stdout
    assert any(line.startswith("rebuild  cade-report/toy-") for line in lines), dry.stdout
    assert lines[-1].endswith("3 spec(s) checked; 1 invalid spec(s)"), dry.stdout
    assert not (project / "outputs").exists() or not any((project / "outputs").rglob("_SUCCESS"))

def test_overlapping_scheduled_run_does_not_start(project):
    with run_lock(project / "outputs" / ".work" / "rebuild.lock"):
        second = cli(project, "rebuild")
    assert second.returncode == 10, second.stdout + second.stderr
    assert "already running" in second.stderr and f"pid {os.getpid()}" in second.stderr
    assert folders(project) == set()
    # the lock goes with its holder, even a killed one
    holder = subprocess.Popen([PYTHON, "-c", "import sys, time; from pipeline.maintenance import run_lock\n"
                               "with run_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)",
                               str(project / "outputs" / ".work" / "rebuild.lock")],
                              env=env_for(project), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with run_lock(project / "outputs" / ".work" / "rebuild.lock"):
        pass


def test_clean_removes_what_killed_runs_left_and_never_work_state(project):
    out = project / "outputs"
    here = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = time.time() - 3 * 3600
    paths = {
        "dead": out / "corpus" / f".tmp-toy-abc123456789@{here}.{dead.pid}-0a1b2c3d",
        "live": out / "corpus" / f".tmp-toy-abc123456789@{here}.{os.getpid()}-0a1b2c3e",
        "other_host_recent": out / "corpus" / f".tmp-toy-abc123456789@elsewhere.{dead.pid}-0a1b2c3f",
        "other_host_old": out / "corpus" / f".tmp-toy-abc123456789@elsewhere.{dead.pid}-0a1b2c40",
        "unfinished": out / "cade-slice" / "toy-a-seed1-abcdefabcdef",
        "unfinished_recent": out / "cade-slice" / "toy-b-seed1-abcdefabcdef",
        "work_tmp": out / ".work" / "cade-slice-toy-abc" / f".tmp-ckpt@{here}.{dead.pid}-0a1b2c3d",
        "work_download": out / ".work" / "downloads" / "abc-x.vec.part",
        "complete": out / "corpus" / "lee_a-lee_b-123456789abc",
    }
    for key, p in paths.items():
        if key == "work_download":
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"partial")
        else:
            p.mkdir(parents=True)
            (p / "x.bin").write_bytes(b"\0" * 1000)
    (paths["complete"] / SUCCESS).write_text("{}")
    half = paths["complete"] / ".metrics.json.0a1b2c3d.tmp"
    half.write_text("{")
    for key in ("dead", "other_host_old", "unfinished", "complete", "work_tmp"):
        os.utime(paths[key], (old, old))
    os.utime(half, (old, old))
    dry = cli(project, "clean", "--dry-run", "--max-age-hours", "2")
    assert dry.returncode == 0 and all(p.exists() for p in paths.values())
    res = cli(project, "clean", "--max-age-hours", "2")
    assert res.returncode == 0, res.stderr
    gone = {k for k, p in paths.items() if not p.exists()}
    assert gone == {"dead", "other_host_old", "unfinished"}, res.stdout
    assert not half.exists() and (paths["complete"] / "x.bin").exists()
    assert dry.stdout.count("would remove") == 4 and "writer (pid" in dry.stdout


def test_a_killed_writer_not_yet_reaped_counts_as_gone(project):
    """A writer SIGKILLed a moment ago whose parent has not waited for it yet is a zombie: it still answers
    ``kill(pid, 0)``, yet it will never finish its folder, so ``clean`` takes what it left."""
    from pipeline.maintenance import _pid_alive, stale_temporaries

    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert _pid_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.time() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.time() < deadline, "the killed process never became a zombie"
            time.sleep(0.01)
        os.kill(proc.pid, 0)  # the premise: a zombie still answers a signal
        tmp = project / "outputs" / "corpus" / f".tmp-toy-abc123456789@{socket.gethostname()}.{proc.pid}-0a1b2c3d"
        tmp.mkdir(parents=True)
        assert [(p, why) for p, why in stale_temporaries(project / "outputs")] == [
            (tmp, f"its writer (pid {proc.pid}) is gone")]
        assert _pid_alive(os.getpid())
    finally:
        proc.kill()
        proc.wait()


def test_a_file_url_output_root_names_the_folder_with_spaces_and_unicode(tmp_path, monkeypatch):
    """``file:///…/my%20outputs%20%C3%BC`` (what ``Path.as_uri()`` gives) is the folder 'my outputs ü', not a
    second folder named with the percent escapes."""
    from pipeline.dag.base import outputs_root, outputs_url

    folder = tmp_path / "my outputs ü"
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", folder.as_uri())
    assert "%20" in folder.as_uri() and outputs_url() is None
    assert outputs_root() == folder
