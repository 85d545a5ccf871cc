"""Bad arguments and bad places on the command line: one ``error:`` line naming the option or the path and what
was expected, a non-zero exit, and nothing removed, built or half-written because of them."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import luigi
import pytest

from pipeline.artifacts import fetch_artifact, list_artifacts, publish_file
from pipeline.cli import main

from opsutil import PYTHON, env_for, make_project

BODY = b"2 3\nalpha 0.1 0.2 0.3\nbeta 0.4 0.5 0.6\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "proj")
    for key in [k for k in os.environ if k.startswith("CHRONOLINGUA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(root))
    luigi.task_register.Register.clear_instance_cache()
    yield root
    luigi.task_register.Register.clear_instance_cache()


@pytest.fixture
def store(tmp_path):
    (tmp_path / "toy.vec").write_bytes(BODY)
    publish_file(tmp_path / "store", tmp_path / "toy.vec", name="toy", version="v1")
    return tmp_path / "store"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("how", ["a file", "none given", "http"])
def test_publish_refuses_a_store_it_cannot_write_before_building_anything(project, tmp_path, capsys, how,
                                                                          loopback_server):
    (tmp_path / "notes.txt").write_text("not a store\n")
    store, expected = {
        "a file": (["--store", str(tmp_path / "notes.txt")],
                   f"error: {tmp_path / 'notes.txt'}: expected a folder for the artifact store"),
        "none given": ([], "error: no artifact store given: pass --store URL"),
        "http": (["--store", loopback_server.url], f"error: {loopback_server.url}: an HTTP store is read only"),
    }[how]
    assert main(["publish", *store]) == 2
    assert _one_error_line(capsys.readouterr().err).startswith(expected)
    assert not (project / "outputs").exists()  # refused before the specs were built, not after
    assert (tmp_path / "notes.txt").read_text() == "not a store\n"


def test_a_file_url_names_the_folder_with_spaces_and_unicode(tmp_path):
    folder = tmp_path / "my store ü"
    url = folder.as_uri()  # file:///.../my%20store%20%C3%BC
    assert "%20" in url
    (tmp_path / "toy.vec").write_bytes(BODY)
    publish_file(url, tmp_path / "toy.vec", name="toy", version="v1")
    assert (folder / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my store ü", "toy.vec"]  # no "my%20store..." folder
    assert list_artifacts(url) == list_artifacts(folder)
    got = fetch_artifact("toy", store=url, to=tmp_path / "got ü", progress=False)
    assert got.read_bytes() == BODY


@pytest.mark.parametrize("option, value, expected", [
    ("--max-age-hours", "-1", "expected a finite number >= 0, not -1"),
    ("--grace-seconds", "-1", "expected a finite number >= 0, not -1"),
    ("--max-age-hours", "nan", "expected a finite number >= 0, not nan"),
    ("--grace-seconds", "soon", "expected a number, not 'soon'"),
])
def test_clean_refuses_a_nonsense_age_and_removes_nothing(project, capsys, option, value, expected):
    live = project / "outputs" / "corpus" / ".tmp-toy-abc123456789@elsewhere.lan.4242-0a1b2c3d"
    unmarked = project / "outputs" / "cade-slice" / "toy-a-seed1-abcdefabcdef"  # a run between rename and marker
    for d in (live, unmarked):
        d.mkdir(parents=True)
        (d / "x.bin").write_bytes(b"\0" * 100)
    with pytest.raises(SystemExit) as exc:
        main(["clean", option, value])
    assert exc.value.code == 2
    assert f"error: argument {option}: {expected}" in capsys.readouterr().err
    assert (live / "x.bin").exists() and (unmarked / "x.bin").exists()


@pytest.mark.parametrize("args, expected", [
    (["rebuild", "--workers", "-1"], "argument --workers: expected at least 0, not -1"),
    (["publish", "--store", "s", "--workers", "-2"], "argument --workers: expected at least 0, not -2"),
])
def test_a_nonsense_worker_count_or_port_is_refused_before_luigi_runs(project, capsys, args, expected):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (project / "outputs").exists()


@pytest.mark.parametrize("command", [["verify"], ["verify", "--quick"], ["clean"], ["clean", "--dry-run"],
                                     ["prune"], ["prune", "--dry-run"]])
def test_an_output_root_that_is_a_file_is_an_error_not_a_clean_tree(project, tmp_path, capsys, monkeypatch,
                                                                      command):
    wrong = tmp_path / "outputs.tar"
    wrong.write_bytes(b"an archive, not the output folder")
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", str(wrong))
    assert main(command) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {wrong}: expected the output folder") and "found a file" in line
    assert wrong.read_bytes() == b"an archive, not the output folder"


@pytest.mark.parametrize("sub", ["", "sub"])
def test_download_to_a_file_names_it_and_writes_nothing(store, tmp_path, capsys, sub):
    target = tmp_path / "vectors"
    target.write_text("mine\n")
    to = target / sub if sub else target
    assert main(["download", "toy", "--store", str(store), "--to", str(to), "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"error: {to}: expected a folder to download toy into (to / --to); found a file there or " \
                   "above it; nothing was fetched"
    assert target.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "toy.vec", "vectors"]


def test_ctrl_c_during_a_download_is_one_line_and_the_next_run_resumes(loopback_server, tmp_path):
    body = bytes(range(256)) * (10 << 10)  # 2.5 MiB, 64 KiB every 0.05 s: the downloader writes 1 MiB blocks
    entry = {"name": "toy", "version": "v1", "file": "toy.vec", "path": "toy/v1/toy.vec", "size": len(body),
             "sha256": hashlib.sha256(body).hexdigest(), "created": "2026-01-01T00:00:00+00:00"}
    loopback_server.serve("/manifest.json", json.dumps({"format": 1, "artifacts": [entry]}).encode())
    route = loopback_server.serve("/toy/v1/toy.vec", body, delay=0.05, chunk=1 << 16)
    to = tmp_path / "dl"
    part = to / "toy.vec.part"
    proc = subprocess.Popen([PYTHON, "-m", "pipeline", "download", "toy", "--store", loopback_server.url, "--to",
                             str(to), "--quiet"], env=env_for(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (part.exists() and part.stat().st_size > 0):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert _one_error_line(err) == ("error: download interrupted; run it again to resume from the .part file "
                                    "beside the destination")
    assert not (to / "toy.vec").exists() and 0 < part.stat().st_size < len(body)
    assert sorted(p.name for p in to.iterdir()) == ["toy.vec.part"]  # no lock file, nothing else half-written
    kept = part.stat().st_size
    route.delay = 0
    assert fetch_artifact("toy", store=loopback_server.url, to=to, progress=False).read_bytes() == body
    assert loopback_server.requests[-1] == ("/toy/v1/toy.vec", f"bytes={kept}-")


def test_a_benchmark_the_corpus_cannot_carry_is_one_line_naming_the_option(project, tmp_path, capsys):
    to = tmp_path / "bench"
    assert main(["make-change-benchmark", "lee_a", "--to", str(to)]) == 2  # 75 lines hold fewer than 16 targets
    line = _one_error_line(capsys.readouterr().err)
    assert "--targets" in line and "or fewer fits it" in line and "n_targets" not in line, line
    assert not to.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    to.mkdir()
    (to / "mine.txt").write_text("kept\n")
    assert main(["make-change-benchmark", "lee_a", "--to", str(to), "--targets", "2", "--stable", "1"]) == 2
    assert _one_error_line(capsys.readouterr().err) == f"error: {to}: the benchmark folder exists; remove it " \
                                                       "or pass --force"
    assert sorted(p.name for p in to.iterdir()) == ["mine.txt"]
    with pytest.raises(SystemExit) as exc:
        main(["make-change-benchmark", "lee_a", "--to", str(to), "--stable", "-2"])
    assert exc.value.code == 2 and "argument --stable: expected at least 0, not -2" in capsys.readouterr().err
    for option, value in (("--max-rate", "1.5"), ("--threshold", "0"), ("--max-rate", "nan")):
        # --max-rate 1.5 was refused by the library as a rate of one target ("found 1.125"), not as the option
        with pytest.raises(SystemExit) as exc:
            main(["make-change-benchmark", "lee_a", "--to", str(to), option, value])
        assert exc.value.code == 2, option
        assert f"argument {option}: expected a share above 0 and at most 1, not {value}" in capsys.readouterr().err


def test_verify_of_an_output_root_not_made_yet_says_so(project, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CHRONOLINGUA_OUTPUTS", str(tmp_path / "not-yet"))
    assert main(["verify"]) == 0
    assert capsys.readouterr().out.startswith(f"no output folder at {tmp_path / 'not-yet'} yet: nothing to check")


@pytest.mark.parametrize("command, option", [("report", "--to"), ("import-corpora", "--dest")])
@pytest.mark.parametrize("below", [False, True])
def test_a_destination_that_is_a_file_is_named_as_such(project, tmp_path, capsys, command, option, below):
    """Was '[Errno 17] File exists: ...' (or Errno 20) without saying that a folder was expected there."""
    afile = tmp_path / "afile"
    afile.write_text("kept\n")
    dest = afile / "sub" if below else afile
    assert main([command, option, str(dest)] + (["sotu"] if command == "import-corpora" else [])) == 1
    err = capsys.readouterr().err.strip()
    found = "a file above it ([Errno 20]" if below else "a file ([Errno 17]"
    assert err.startswith(f"error: {dest}: expected a folder (or nothing yet) there; found {found}"), err
    assert afile.read_text() == "kept\n"
