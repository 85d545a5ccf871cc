"""Scaling out: two worker processes behind one central scheduler (luigid on loopback).

The worker processes import this module (``--module test_scaling``): it adds
probe tasks that record when they ran, half of them needing the ``gpu``
resource, next to real pipeline stages, and an event handler that logs every
task start, so the test can prove that each task ran exactly once and that
``[resources] gpu = 1`` held across processes.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import luigi
import pytest

from pipeline import CompassModel, PreparedCorpus

from opsutil import REPO, env_for, make_project

LOG_ENV = "CHRONOLINGUA_TEST_RUNLOG"


def _log(record: dict) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as fh:  # one short line per write: O_APPEND keeps lines whole across processes
            fh.write(json.dumps(record) + "\n")


@luigi.Task.event_handler(luigi.Event.START)
def _started(task):
    _log({"event": "start", "task": task.task_id, "worker": os.environ.get("TEST_WORKER_NAME"), "t": time.time()})


class Probe(luigi.Task):
    """Sleeps, recording its start and end; needs the gpu resource when ``gpu`` is set."""

    i = luigi.IntParameter()
    gpu = luigi.BoolParameter(default=False)
    out_dir = luigi.Parameter()

    @property
    def resources(self):
        return {"gpu": 1} if self.gpu else {}

    def output(self):
        return luigi.LocalTarget(os.path.join(self.out_dir, f"probe-{self.i}.done"))

    def run(self):
        start = time.time()
        time.sleep(0.7)
        _log({"event": "interval", "task": self.task_id, "gpu": self.gpu, "pid": os.getpid(), "start": start,
              "end": time.time()})
        with self.output().open("w") as fh:
            fh.write("ok\n")


class Fleet(luigi.WrapperTask):
    out_dir = luigi.Parameter()

    def requires(self):
        return [Probe(i=i, gpu=i % 2 == 0, out_dir=self.out_dir) for i in range(8)] + \
            [CompassModel(spec="toy"), PreparedCorpus(spec="toy")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def luigid(tmp_path):
    port = _free_port()
    cfg = tmp_path / "luigid.cfg"
    cfg.write_text("[resources]\ngpu = 1\n[scheduler]\nretry_count = 0\n")
    logdir = tmp_path / "luigid-logs"
    logdir.mkdir()
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "luigid"), "--address", "127.0.0.1", "--port", str(port),
                             "--state-path", str(tmp_path / "luigid-state.pickle"), "--logdir", str(logdir)],
                            cwd=tmp_path, env={**os.environ, "LUIGI_CONFIG_PATH": str(cfg)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"luigid did not start on 127.0.0.1:{port} (logs in {logdir})")
            time.sleep(0.1)
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_two_workers_one_scheduler_each_task_once_gpu_cap_holds(tmp_path, luigid):
    project = make_project(tmp_path / "proj")
    runlog = tmp_path / "runs.jsonl"
    probes = tmp_path / "probes"
    probes.mkdir()
    # the site config of every worker machine: the central scheduler instead of the local one
    client_cfg = tmp_path / "client.cfg"
    client_cfg.write_text(f"[core]\nlocal_scheduler = false\ndefault_scheduler_host = 127.0.0.1\n"
                          f"default_scheduler_port = {luigid}\n[worker]\nkeep_alive = true\nwait_interval = 0.2\n")
    env = env_for(project, **{LOG_ENV: str(runlog)})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    args = ["Fleet", "--out-dir", str(probes), "--workers", "2"]
    luigi_exe = str(Path(sys.executable).with_name("luigi"))
    (tmp_path / "keepalive.cfg").write_text("[worker]\nkeep_alive = true\nwait_interval = 0.2\n")
    # worker 1: plain luigi with the site config; worker 2: the project's command line with --scheduler-host
    w1 = subprocess.Popen([luigi_exe, "--module", "test_scaling", *args],
                          env={**env, "TEST_WORKER_NAME": "w1", "LUIGI_CONFIG_PATH": str(client_cfg)},
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    w2 = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--module", "test_scaling", *args,
                           "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid)],
                          env={**env, "TEST_WORKER_NAME": "w2", "LUIGI_CONFIG_PATH": str(tmp_path / "keepalive.cfg")},
                          cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out1, _ = w1.communicate(timeout=180)
    out2, _ = w2.communicate(timeout=180)
    # luigi's exit code is per worker: one whose pending tasks another worker ran or was refused the
    # gpu for exits with [retcode] already_running (10) or not_run (25); a failure would be 30 or more
    assert w1.returncode in (0, 10, 25), out1[-3000:]
    assert w2.returncode in (0, 10, 25), out2[-3000:]
    assert "failed" not in (out1 + out2).split("===== Luigi Execution Summary =====")[-1]
    luigi.task_register.Register.clear_instance_cache()
    os.environ["CHRONOLINGUA_HOME"] = str(project)
    try:
        assert Fleet(out_dir=str(probes)).complete()
        assert all(t.complete() for t in Fleet(out_dir=str(probes)).requires())
    finally:
        del os.environ["CHRONOLINGUA_HOME"]
        luigi.task_register.Register.clear_instance_cache()

    records = [json.loads(line) for line in runlog.read_text().splitlines()]
    starts = [r for r in records if r["event"] == "start"]
    ran = [r["task"] for r in starts]
    assert len(ran) == len(set(ran)), f"a task ran twice: {sorted(ran)}"
    assert len(ran) == 11  # 8 probes, the compass and the prepared corpus, the wrapper
    assert {r["worker"] for r in starts} == {"w1", "w2"}, "both worker processes took tasks"
    # the two real stages: one folder each, no temporary leftovers
    for stage in ("corpus", "cade-compass"):
        made = list((project / "outputs" / stage).iterdir())
        assert len(made) == 1 and (made[0] / "_SUCCESS").is_file(), made

    intervals = sorted((r for r in records if r["event"] == "interval"), key=lambda r: r["start"])
    gpu = [r for r in intervals if r["gpu"]]
    assert len(gpu) == 4 and len(intervals) == 8
    for a, b in zip(gpu, gpu[1:]):
        assert b["start"] >= a["end"] - 0.01, f"two gpu tasks at once: {a} {b}"

    def max_overlap(rs):
        return max(sum(1 for o in rs if o["start"] < r["end"] and r["start"] < o["end"]) for r in rs)

    assert max_overlap(intervals) >= 2, "the workers ran tasks in parallel (so the cap was tested)"


def test_url_output_root_is_shared_by_machines_with_their_own_mirrors(tmp_path, monkeypatch):
    """An fsspec output root (memory:// here, s3:// in production): completion is the remote marker."""
    import uuid

    import fsspec

    from pipeline import DiachronicReport

    from dagutil import assert_nothing_ran, build

    project = make_project(tmp_path / "proj")
    url = f"memory://shared-{uuid.uuid4().hex[:8]}/outputs"
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", url)
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "machine-a"))
    fs, root = fsspec.core.url_to_fs(url)

    def remote_complete():
        return sorted(p[len(root) + 1:-len("/_SUCCESS")] for p in fs.find(root) if p.endswith("/_SUCCESS"))

    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    done = remote_complete()
    assert [d.split("/")[0] for d in done] == ["cade-compass", "cade-report", "cade-slice", "cade-slice", "corpus"]
    vec = next(d for d in done if d.startswith("cade-slice/"))
    attempt = json.loads(fs.cat_file(f"{root}/{vec}/_SUCCESS"))["attempt"]
    assert fs.cat_file(f"{root}/{vec}/{attempt}/vectors.vec") == \
        (tmp_path / "machine-a" / vec / "vectors.vec").read_bytes()
    assert not (project / "outputs").exists()

    # machine B: an empty local mirror sees everything complete, builds nothing
    monkeypatch.setenv("CHRONOLINGUA_LOCAL_OUTPUTS", str(tmp_path / "machine-b"))
    report = DiachronicReport(spec="toy")  # made before build() empties luigi's instance cache: not kept there
    assert_nothing_ran(build(report), report)
    # a report setting: machine B reruns only the report, fetching the inputs it reads from the shared root
    spec = project / "tasks" / "diachronic" / "toy.yaml"
    spec.write_text(spec.read_text().replace("top_n: 5", "top_n: 4"))
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    new = sorted(set(remote_complete()) - set(done))
    assert [d.split("/")[0] for d in new] == ["cade-report"]
    mirrored = sorted(p.parent.parent.name for p in (tmp_path / "machine-b").glob("*/*/_SUCCESS"))
    assert mirrored == ["cade-report", "cade-slice", "cade-slice", "corpus"]  # not the compass: not read

    # a remote folder without its marker (an upload cut short) is not complete and is uploaded again; a file of
    # the flat layout (before attempt folders) goes, a young attempt folder stays (it may be a live upload)
    cut = json.loads(fs.cat_file(f"{root}/{new[0]}/_SUCCESS"))["attempt"]
    fs.rm(f"{root}/{new[0]}/_SUCCESS")
    fs.pipe_file(f"{root}/{new[0]}/stray.bin", b"half")
    assert not DiachronicReport(spec="toy").complete()
    assert build(DiachronicReport(spec="toy")).status == luigi.LuigiStatusCode.SUCCESS
    assert remote_complete() == sorted(set(done) | set(new))
    again = json.loads(fs.cat_file(f"{root}/{new[0]}/_SUCCESS"))["attempt"]
    assert again != cut and sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{new[0]}", detail=False)) == \
        sorted([cut, again, "_SUCCESS"])
