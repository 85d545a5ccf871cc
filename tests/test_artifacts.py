"""Publishing artifacts to a store and downloading them: local folder, fsspec memory://, HTTP on loopback."""
from __future__ import annotations

import hashlib
import json
import subprocess
import uuid

import luigi
import numpy as np
import pytest

from pipeline.artifacts import (ArtifactError, fetch_artifact, list_artifacts, load_downloaded_vectors,
                                publish_file, publish_folder)
from pipeline.errors import InputError
from pipeline.vectors import make_keyed_vectors, save_vectors

from dagutil import assert_nothing_ran, build
from opsutil import PYTHON, REPO, env_for, make_project


def _vectors(folder, name="xx", n=3000, dim=40, seed=0):
    rng = np.random.default_rng(seed)
    kv = make_keyed_vectors([f"w{i}" for i in range(n)], rng.normal(size=(n, dim)).astype(np.float32))
    return save_vectors(kv, folder / name)["vec"], kv


@pytest.fixture
def store(tmp_path):
    """A local store with two versions of one vector artifact and a folder artifact."""
    root = tmp_path / "store"
    v1, _ = _vectors(tmp_path, "v1", seed=1)
    v2, kv2 = _vectors(tmp_path, "v2", seed=2)
    publish_file(root, v1, name="aligned.es-to-en.es", version="aaaaaaaaaaaa", created="2026-01-01T00:00:00+00:00",
                 provenance={"stage": "aligned"}, licences=[{"input": "corpus rv1909", "licence": "Public domain"}])
    publish_file(root, v2, name="aligned.es-to-en.es", version="bbbbbbbbbbbb", created="2026-02-01T00:00:00+00:00")
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "metrics.json").write_text('{"n": 1}\n')
    (report / "plots" / "a.png").write_bytes(b"\x89PNG fake but bytes")
    publish_folder(root, report, name="cade-report.toy", version="cccccccccccc")
    return {"root": root, "v1": v1, "v2": v2, "kv2": kv2}


def test_manifest_lists_every_artifact_with_checksums(store):
    entries = list_artifacts(store["root"])
    assert [(e["name"], e["version"]) for e in entries] == [
        ("aligned.es-to-en.es", "aaaaaaaaaaaa"), ("aligned.es-to-en.es", "bbbbbbbbbbbb"),
        ("cade-report.toy", "cccccccccccc")]
    first = entries[0]
    assert first["size"] == store["v1"].stat().st_size
    assert first["sha256"] == hashlib.sha256(store["v1"].read_bytes()).hexdigest()
    assert first["licences"] == [{"input": "corpus rv1909", "licence": "Public domain"}]
    assert first["provenance"] == {"stage": "aligned"} and first["created"].startswith("2026-01-01")
    stored = store["root"] / first["path"]
    assert stored.read_bytes() == store["v1"].read_bytes()
    assert entries[2]["kind"] == "folder" and entries[2]["file"] == "cade-report.toy.tar.gz"


def test_republishing_is_idempotent_and_a_version_has_one_content(store, tmp_path):
    before = (store["root"] / "manifest.json").read_bytes()
    publish_file(store["root"], store["v1"], name="aligned.es-to-en.es", version="aaaaaaaaaaaa")
    assert (store["root"] / "manifest.json").read_bytes() == before
    with pytest.raises(ArtifactError, match="aaaaaaaaaaaa.*already published"):
        publish_file(store["root"], store["v2"], name="aligned.es-to-en.es", version="aaaaaaaaaaaa")
    with pytest.raises(ArtifactError, match="no such file"):
        publish_file(store["root"], tmp_path / "absent.vec", name="x", version="y")
    with pytest.raises(ArtifactError, match="letters, digits"):
        publish_file(store["root"], store["v1"], name="../escape", version="y")


def test_folder_artifacts_are_reproducible_and_extract(store, tmp_path):
    # the same folder packed again gives the same bytes, so republishing is a no-op
    publish_folder(store["root"], tmp_path / "report", name="cade-report.toy", version="cccccccccccc")
    out = fetch_artifact("cade-report.toy", store=store["root"], to=tmp_path / "got", progress=False, extract=True)
    assert (out / "plots" / "a.png").read_bytes() == b"\x89PNG fake but bytes"
    assert json.loads((out / "metrics.json").read_text()) == {"n": 1}


def test_a_folder_is_published_as_its_marker_lists_it_and_a_link_is_refused(store, tmp_path):
    """Hidden files (what a stage's marker never lists) stay out of the archive; a symbolic link, which would
    publish what lies outside the folder, is refused."""
    import tarfile

    from pipeline.integrity import stage_files

    folder = tmp_path / "report"
    (folder / ".cache").mkdir()
    (folder / ".cache" / "payload.py").write_text("print('never published')\n")
    (folder / "plots" / ".notes").write_text("hidden\n")
    publish_folder(store["root"], folder, name="cade-report.toy", version="cccccccccccc")  # the same bytes as before
    entry = [e for e in list_artifacts(store["root"]) if e["name"] == "cade-report.toy"][0]
    with tarfile.open(store["root"] / entry["path"]) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == stage_files(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("key\n")
    (folder / "plots" / "key.txt").symlink_to(secret)
    with pytest.raises(ArtifactError, match=r"key\.txt: a published folder holds regular files only; found a "
                                            r"symbolic link"):
        publish_folder(store["root"], folder, name="cade-report.toy", version="dddddddddddd")
    assert [e["version"] for e in list_artifacts(store["root"]) if e["name"] == "cade-report.toy"] == ["cccccccccccc"]


def test_an_archive_that_unpacks_far_beyond_its_size_is_refused(tmp_path):
    """A store's tarball of 300 MB of zeros (a few hundred kB packed) is not unpacked, and nothing is left."""
    folder = tmp_path / "bomb"
    folder.mkdir()
    with open(folder / "zeros.bin", "wb") as f:
        f.truncate(300 << 20)
    root = tmp_path / "store"
    publish_folder(root, folder, name="bomb", version="eeeeeeeeeeee")
    got = tmp_path / "got"
    with pytest.raises(ArtifactError, match=r"expected an archive that unpacks to at most \d+ bytes \(200 times the "
                                            r"archive's \d+ bytes\); its members declare 314572800"):
        fetch_artifact("bomb", store=root, to=got, progress=False, extract=True)
    assert not (got / "bomb").exists() and not [p for p in got.iterdir() if p.name.endswith(".tmp")]


def test_an_archive_that_would_leave_less_than_min_free_on_the_disk_is_refused(tmp_path, monkeypatch):
    """Within every other bound, a tarball may still not fill the disk to its last bytes: MIN_FREE stays free."""
    import collections

    import pipeline.artifacts as artifacts
    from pipeline.download import MIN_FREE

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"z" * 5000)
    root = tmp_path / "store"
    publish_folder(root, folder, name="data", version="ffffffffffff")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(artifacts.shutil, "disk_usage", lambda path: usage(1 << 40, 0, MIN_FREE + 4999))
    got = tmp_path / "got"
    with pytest.raises(ArtifactError, match=r"expected an archive that unpacks to at most 4999 bytes \(the free "
                                            r"disk space less 128 MiB, pipeline\.download\.MIN_FREE\); its members "
                                            r"declare 5000"):
        fetch_artifact("data", store=root, to=got, progress=False, extract=True)
    assert not (got / "data").exists()
    monkeypatch.setattr(artifacts.shutil, "disk_usage", lambda path: usage(1 << 40, 0, MIN_FREE + 5000))
    assert (fetch_artifact("data", store=root, to=got, progress=False, extract=True) / "a.txt").stat().st_size == 5000


def test_http_download_newest_or_pinned_version_as_keyed_vectors(store, tmp_path, loopback_server):
    loopback_server.root = store["root"]
    url = loopback_server.url
    kv = load_downloaded_vectors("aligned.es-to-en.es", store=url, to=tmp_path / "dl", progress=False)
    assert kv.index_to_key[:3] == ["w0", "w1", "w2"]
    assert np.allclose(kv["w7"], store["kv2"]["w7"], atol=1e-6)  # the newest version (created later)
    old = fetch_artifact("aligned.es-to-en.es", store=url, version="aaaaaaaaaaaa", to=tmp_path / "old",
                         progress=False)
    assert old.read_bytes() == store["v1"].read_bytes()
    assert not list((tmp_path / "dl").glob("*.part"))
    with pytest.raises(ArtifactError, match="no version 'dddd'.*aaaaaaaaaaaa"):
        fetch_artifact("aligned.es-to-en.es", store=url, version="dddd", to=tmp_path, progress=False)


def test_http_connection_cut_mid_file_resumes_with_range(store, tmp_path, loopback_server):
    loopback_server.root = store["root"]
    rel = "/" + list_artifacts(store["root"])[1]["path"]
    size = store["v2"].stat().st_size
    loopback_server.serve(rel, store["v2"].read_bytes(), cut_after=size // 3, cuts=2)
    out = fetch_artifact("aligned.es-to-en.es", store=loopback_server.url, to=tmp_path / "dl", progress=False)
    assert out.read_bytes() == store["v2"].read_bytes()
    ranges = [r for p, r in loopback_server.requests if p == rel]
    assert ranges == [None, f"bytes={size // 3}-", f"bytes={2 * (size // 3)}-"]


def test_http_corrupted_file_is_rejected_and_nothing_kept(store, tmp_path, loopback_server):
    loopback_server.root = store["root"]
    rel = "/" + list_artifacts(store["root"])[1]["path"]
    data = store["v2"].read_bytes()
    mid = len(data) // 2
    loopback_server.serve(rel, data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:])  # one byte flipped
    with pytest.raises(InputError, match=f"{rel}.*sha256") as e:
        fetch_artifact("aligned.es-to-en.es", store=loopback_server.url, to=tmp_path / "dl", progress=False)
    assert list_artifacts(store["root"])[1]["sha256"] in str(e.value)
    assert not any((tmp_path / "dl").iterdir())
    # a stale partial of another version is dropped once and the fetch starts over
    (tmp_path / "dl" / "aligned.es-to-en.es.vec.part").write_bytes(store["v1"].read_bytes()[:5000])
    del loopback_server.routes[rel]  # the true file again
    out = fetch_artifact("aligned.es-to-en.es", store=loopback_server.url, to=tmp_path / "dl", progress=False)
    assert out.read_bytes() == store["v2"].read_bytes()


def test_missing_name_or_store_is_a_clear_error(store, tmp_path, loopback_server):
    with pytest.raises(ArtifactError, match=r"no artifact named 'aligned\.es-to-en\.fr'.*did you mean "
                                            r"aligned\.es-to-en\.es"):
        fetch_artifact("aligned.es-to-en.fr", store=store["root"], to=tmp_path, progress=False)
    with pytest.raises(ArtifactError, match=r"manifest\.json: expected an artifact store's manifest; HTTP 404"):
        list_artifacts(loopback_server.url)  # no manifest: not a store (readers never see an empty listing)
    with pytest.raises(ArtifactError, match="read only"):
        publish_file(loopback_server.url, store["v1"], name="a", version="b")
    # a new local folder is still a fine place to publish to
    publish_file(tmp_path / "new-store", store["v1"], name="a", version="b")
    assert [e["name"] for e in list_artifacts(tmp_path / "new-store")] == ["a"]
    with pytest.raises(ArtifactError, match="no artifact store given"):
        list_artifacts("")


def test_fsspec_store_publish_list_fetch_with_resume(tmp_path):
    url = f"memory://store-{uuid.uuid4().hex[:8]}/vectors"
    vec, kv = _vectors(tmp_path, "mem", seed=3)
    publish_file(url, vec, name="aligned.de-to-en.de", version="eeeeeeeeeeee")
    entry = list_artifacts(url)[0]
    assert entry["sha256"] == hashlib.sha256(vec.read_bytes()).hexdigest()
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "aligned.de-to-en.de.vec.part").write_bytes(vec.read_bytes()[:10000])  # a fetch killed earlier
    out = fetch_artifact("aligned.de-to-en.de", store=url, to=dest, progress=False)
    assert out.read_bytes() == vec.read_bytes() and not (dest / "aligned.de-to-en.de.vec.part").exists()
    (dest / "aligned.de-to-en.de.vec").unlink()
    (dest / "aligned.de-to-en.de.vec.part").write_bytes(b"X" * 100)  # junk that cannot verify
    assert fetch_artifact("aligned.de-to-en.de", store=url, to=dest, progress=False).read_bytes() == vec.read_bytes()


def test_cli_download_and_list_over_http(store, tmp_path, loopback_server):
    loopback_server.root = store["root"]
    env = env_for(tmp_path)
    console = REPO / ".venv" / "bin" / "chronolingua"  # the console script, where it is installed
    cmd = [str(console)] if console.exists() else [PYTHON, "-m", "pipeline"]
    listed = subprocess.run([*cmd, "list", "--store", loopback_server.url], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "aligned.es-to-en.es" in listed.stdout and "bbbbbbbbbbbb" in listed.stdout
    assert "Public domain" in listed.stdout
    got = subprocess.run([PYTHON, "-m", "pipeline", "download", "aligned.es-to-en.es", "--version",
                          "aaaaaaaaaaaa", "--to", str(tmp_path / "cli"), "--quiet"],
                         env={**env, "CHRONOLINGUA_STORE": loopback_server.url}, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert open(got.stdout.strip(), "rb").read() == store["v1"].read_bytes()
    bad = subprocess.run([PYTHON, "-m", "pipeline", "download", "nope", "--store", loopback_server.url, "--to",
                          str(tmp_path / "cli")], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "no artifact named 'nope'" in bad.stderr


def test_publish_artifacts_task_publishes_vectors_and_report_with_provenance(tmp_path, monkeypatch):
    project = make_project(tmp_path / "proj")
    monkeypatch.setenv("CHRONOLINGUA_HOME", str(project))
    from pipeline import PublishArtifacts

    store = tmp_path / "store"
    res = build(PublishArtifacts(store=str(store)))
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    entries = {e["name"]: e for e in list_artifacts(store)}
    assert set(entries) == {"cade-slice.lee_a-lee_b-lee_a-seed1", "cade-slice.lee_a-lee_b-lee_b-seed1",
                            "cade-report.toy"}
    sl = entries["cade-slice.lee_a-lee_b-lee_a-seed1"]
    folder = next((project / "outputs" / "cade-slice").glob(f"lee_a-lee_b-lee_a-seed1-{sl['version']}"))
    assert (store / sl["path"]).read_bytes() == (folder / "vectors.vec").read_bytes()
    assert {(x["kind"], x["name"], x["licence"]) for x in sl["licences"]} == {("corpus", "lee_a", "CC-BY-4.0"),
                                                                            ("corpus", "lee_b", "Public domain")}
    prov = sl["provenance"]
    # the records are carried whole: the fingerprint is the corpus hash the stage identity holds
    assert {x["name"]: x["fingerprint"] for x in sl["licences"]} == next(
        v for k, v in prov["input_hashes"].items() if k.startswith("corpus/"))
    assert prov["spec"]["kind"] == "diachronic" and prov["spec"]["name"] == "toy" and len(prov["spec"]["sha256"]) == 64
    assert "gensim" in prov["packages"] and prov["settings"]["slice"] == "lee_a"
    corpus_hashes = next(v for k, v in prov["input_hashes"].items() if k.startswith("corpus/"))
    assert set(corpus_hashes) == {"lee_a", "lee_b"} and all(len(h) == 64 for h in corpus_hashes.values())
    kv = load_downloaded_vectors(sl["name"], store=store, to=tmp_path / "dl", progress=False)
    assert len(kv) > 10 and kv.vector_size == 8
    # complete now: a second run publishes nothing new
    manifest = (store / "manifest.json").read_bytes()
    assert_nothing_ran(build(PublishArtifacts(store=str(store))), PublishArtifacts(store=str(store)))
    assert (store / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize("when", ["moved aside", "renaming the new one"])
def test_ctrl_c_while_an_extraction_replaces_the_folder_keeps_the_previous_one(tmp_path, monkeypatch, when):
    """The previous extraction is moved aside, then the new one renamed into place: a Ctrl-C between the two (or
    during the second) used to remove both, leaving no folder at all."""
    import io
    import os
    import tarfile

    import pipeline.artifacts as artifacts

    def pack(path, text):
        with tarfile.open(path, "w:gz") as tar:
            data = text.encode()
            info = tarfile.TarInfo("metrics.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return path

    dest = tmp_path / "got" / "cade-report.toy"
    dest.parent.mkdir()
    artifacts._extract(pack(tmp_path / "v1.tar.gz", '{"v": 1}'), dest)
    rename = os.rename

    def interrupted(src, dst):
        if when == "renaming the new one" and str(src).endswith(".tmp"):
            raise KeyboardInterrupt
        rename(src, dst)
        if when == "moved aside" and str(dst).endswith(".old"):
            raise KeyboardInterrupt

    monkeypatch.setattr(artifacts.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        artifacts._extract(pack(tmp_path / "v2.tar.gz", '{"v": 2}'), dest)
    monkeypatch.setattr(artifacts.os, "rename", rename)
    assert json.loads((dest / "metrics.json").read_text()) == {"v": 1}  # the previous extraction, whole
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no .tmp or .old folder left
    assert json.loads((artifacts._extract(tmp_path / "v2.tar.gz", dest) / "metrics.json").read_text()) == {"v": 2}
