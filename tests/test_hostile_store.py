"""A store is someone else's web server: whatever its manifest, bodies or archives hold, a download writes
only inside ``--to``, reads only inside the store, stops at the manifest's size, always verifies, and fails
with one ``error:`` line and exit 2.

Every hostile store here is served by the loopback server of ``conftest.py``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from pipeline import artifacts
from pipeline.artifacts import fetch_artifact, list_artifacts, publish_file, publish_folder
from pipeline.cli import main
from pipeline.download import DownloadError, download
from pipeline.errors import InputError

BODY = b"2 3\nalpha 0.1 0.2 0.3\nbeta 0.4 0.5 0.6\n"
DROP = object()  # an entry field left out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(body: bytes = BODY, **fields) -> dict:
    """A well-formed manifest entry for ``body``, with ``fields`` replaced (or dropped with DROP)."""
    e = {"name": "toy", "version": "v1", "file": "toy.vec", "path": "toy/v1/toy.vec", "size": len(body),
         "sha256": sha(body), "created": "2026-01-01T00:00:00+00:00", "kind": "vectors", "provenance": {},
         "licences": []}
    for key, value in fields.items():
        if value is DROP:
            e.pop(key)
        else:
            e[key] = value
    return e


def host(server, entries: list, files: dict | None = None, prefix: str = "") -> str:
    """Serve a manifest of ``entries`` and ``files`` (store path -> bytes) under ``prefix``; the store URL."""
    server.serve(f"{prefix}/manifest.json", json.dumps({"format": 1, "artifacts": entries}).encode())
    for path, body in (files or {}).items():
        server.serve(f"{prefix}/{path}", body)
    return server.url + prefix


def tarball(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind=tarfile.REGTYPE, data: bytes | None = None, linkname: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers: a device node, made without root
    return info, data if kind == tarfile.REGTYPE else None


METRICS = member("metrics.json", data=b'{"n": 1}\n')


def snapshot(root: Path, skip: Path | None = None) -> dict:
    """Every path under ``root`` (but ``skip``) with its kind and content or link target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            if skip is not None and (p == skip or skip in p.parents):
                continue
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes())
    return out


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    got = capsys.readouterr()
    return rc, got.out, got.err


def assert_refused(rc: int, err: str, *fragments: str) -> str:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (rc, err)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user's folder: a sentinel file, a folder ``victim/`` outside any destination, a cache two levels down."""
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.txt").write_text("keep me")
    (tmp_path / "sentinel.txt").write_text("do not touch")
    monkeypatch.setenv("CHRONOLINGUA_CACHE", str(tmp_path / "a" / "cache"))
    return tmp_path


# ------------------------------------------------------------------------------ manifest fields as paths


@pytest.mark.parametrize("field, value, with_to", [
    ("name", "../../escaped", False),  # the default destination <cache>/<name>/<version>/
    ("name", "/abs-escaped", False),
    ("version", "../../escaped", False),
    ("version", "/abs-escaped", False),
    ("file", "../sentinel.txt", True),  # would overwrite a file beside --to
    ("file", "ABSOLUTE", True),
    ("file", "sub/../../sentinel.txt", True),
    ("path", "../secret.vec", True),  # a file the server holds outside the store's folder
    ("path", "/secret.vec", True),
    ("path", "toy/./../../secret.vec", True),
], ids=lambda v: str(v))
def test_traversal_in_a_manifest_field_writes_nothing(loopback_server, home, capsys, field, value, with_to):
    if value == "ABSOLUTE":
        value = str(home / "abs-written.vec")
    loopback_server.serve("/secret.vec", BODY)  # outside the store's /store/ folder
    url = host(loopback_server, [entry(**{field: value})], {"toy/v1/toy.vec": BODY}, prefix="/store")
    name = value if field == "name" else "toy"
    before = snapshot(home)
    rc, out, err = cli(capsys, "download", name, "--store", url, "--quiet",
                       *(["--to", str(home / "to")] if with_to else []))
    assert_refused(rc, err, "manifest.json", f"field '{field}'", "refused")
    assert out == "" and snapshot(home) == before  # nothing written anywhere, --to not even created
    assert loopback_server.paths == ["/store/manifest.json"]  # and nothing fetched


def test_extract_never_removes_a_folder_outside_to(loopback_server, home, capsys):
    archive = tarball(METRICS)
    url = host(loopback_server, [entry(archive, name="../victim", file="victim.tar.gz",
                                       path="victim/v1/victim.tar.gz", kind="folder")],
               {"victim/v1/victim.tar.gz": archive})
    before = snapshot(home)
    rc, _, err = cli(capsys, "download", "../victim", "--store", url, "--to", str(home / "to"), "--extract",
                     "--quiet")
    assert_refused(rc, err, "field 'name'")
    assert snapshot(home) == before and (home / "victim" / "keep.txt").read_text() == "keep me"


def test_extract_into_a_destination_folder_that_is_a_symlink_is_refused(loopback_server, home, capsys):
    archive = tarball(METRICS)
    url = host(loopback_server, [entry(archive, file="toy.tar.gz", path="toy/v1/toy.tar.gz", kind="folder")],
               {"toy/v1/toy.tar.gz": archive})
    (home / "to").mkdir()
    (home / "to" / "toy").symlink_to(home / "victim")
    before = snapshot(home, skip=home / "to")
    rc, _, err = cli(capsys, "download", "toy", "--store", url, "--to", str(home / "to"), "--extract", "--quiet")
    assert_refused(rc, err, str(home / "to" / "toy"), "symbolic link", "nothing was extracted")
    assert snapshot(home, skip=home / "to") == before
    assert os.readlink(home / "to" / "toy") == str(home / "victim")


def test_partial_file_that_is_a_symlink_out_of_to_is_not_written_through(loopback_server, home, capsys):
    url = host(loopback_server, [entry()], {"toy/v1/toy.vec": BODY})
    (home / "to").mkdir()
    (home / "to" / "toy.vec.part").symlink_to(home / "sentinel.txt")
    before = snapshot(home, skip=home / "to")
    rc, _, err = cli(capsys, "download", "toy", "--store", url, "--to", str(home / "to"), "--quiet")
    assert_refused(rc, err, "toy.vec.part", "symbolic link; refusing to write through it")
    assert snapshot(home, skip=home / "to") == before and not (home / "to" / "toy.vec").exists()


# ------------------------------------------------------------------------------ archives


@pytest.mark.parametrize("bad, expected", [
    (member("../escaped.txt", data=b"x"), "'../escaped.txt': expected a relative path"),
    (member("plots/../../escaped.txt", data=b"x"), "'plots/../../escaped.txt': expected a relative path"),
    (member("/tmp/chronolingua-absolute.txt", data=b"x"), "'/tmp/chronolingua-absolute.txt': expected a relative"),
    (member("evil-link", tarfile.SYMTYPE, linkname="/etc/passwd"), "'evil-link' is a symbolic link to '/etc/passwd'"),
    (member("inner-link", tarfile.SYMTYPE, linkname="metrics.json"), "'inner-link' is a symbolic link"),
    (member("escape-link", tarfile.SYMTYPE, linkname="../../victim"), "'escape-link' is a symbolic link"),
    (member("hard", tarfile.LNKTYPE, linkname="metrics.json"), "'hard' is a hard link to 'metrics.json'"),
    (member("null", tarfile.CHRTYPE), "'null' is a character device"),
    (member("disk", tarfile.BLKTYPE), "'disk' is a block device"),
    (member("pipe", tarfile.FIFOTYPE), "'pipe' is a fifo"),
    (member("./metrics.json", data=b'{"n": 2}\n'), "'./metrics.json' appears more than once"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-absolute", "symlink-inside", "symlink-up", "hardlink",
        "char-device", "block-device", "fifo", "same-path-twice"])
def test_archive_members_other_than_files_and_folders_are_refused(loopback_server, home, capsys, bad, expected):
    archive = tarball(METRICS, bad)
    url = host(loopback_server, [entry(archive, file="toy.tar.gz", path="toy/v1/toy.tar.gz", kind="folder")],
               {"toy/v1/toy.tar.gz": archive})
    to = home / "to"
    before = snapshot(home, skip=to)
    rc, out, err = cli(capsys, "download", "toy", "--store", url, "--to", str(to), "--extract", "--quiet")
    assert_refused(rc, err, "toy.tar.gz: member ", expected, "nothing was extracted")
    assert out == "" and snapshot(home, skip=to) == before
    assert not Path("/tmp/chronolingua-absolute.txt").exists()
    # the verified archive may stay; no folder and no temporary extraction is left behind
    assert sorted(p.name for p in to.iterdir()) == ["toy.tar.gz"]


# ------------------------------------------------------------------------------ bounded transfers


@pytest.mark.parametrize("how", ["endless", "longer-without-length", "longer-with-length"])
def test_a_body_longer_than_the_manifest_size_is_refused(loopback_server, home, capsys, how):
    url = host(loopback_server, [entry()])
    if how == "endless":
        route = loopback_server.serve("/toy/v1/toy.vec", BODY, endless=True)
    else:
        route = loopback_server.serve("/toy/v1/toy.vec", BODY + b"gamma 0.7 0.8 0.9\n" * 1000,
                                      length=how == "longer-with-length")
    to = home / "to"
    rc, _, err = cli(capsys, "download", "toy", "--store", url, "--to", str(to), "--quiet")
    assert_refused(rc, err, f"/toy/v1/toy.vec: expected at most {len(BODY)} bytes", "nothing was kept")
    assert not any(p.is_file() for p in to.iterdir())  # neither the final name nor a .part
    assert route.sent < route.cap  # the client stopped reading: the server never reached its 64 MiB cap


def test_local_and_fsspec_stores_stop_at_the_manifest_size(home, tmp_path, capsys):
    import fsspec

    src = tmp_path / "toy.vec"
    src.write_bytes(BODY)
    store = tmp_path / "store"
    publish_file(store, src, name="toy", version="v1")
    stored = store / list_artifacts(store)[0]["path"]
    stored.write_bytes(BODY + b"\0" * 10_000)  # grown after publishing
    rc, _, err = cli(capsys, "download", "toy", "--store", str(store), "--to", str(home / "to"), "--quiet")
    assert_refused(rc, err, f"{stored}: expected at most {len(BODY)} bytes")
    assert not any(p.is_file() for p in (home / "to").iterdir())

    url = f"memory://hostile-{os.getpid()}-{time.monotonic_ns()}/store"
    publish_file(url, src, name="toy", version="v1")
    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe(f"{root}/toy/v1/toy.vec", BODY + b"\0" * 10_000)
    with pytest.raises(InputError, match=f"toy.vec: expected at most {len(BODY)} bytes"):
        fetch_artifact("toy", store=url, to=home / "mem", progress=False)
    assert not any(p.is_file() for p in (home / "mem").iterdir())


def test_one_byte_of_progress_per_attempt_still_ends(loopback_server, tmp_path):
    route = loopback_server.serve("/slow.bin", BODY * 100, cut_after=1, cuts=10 ** 6, headers={"ETag": '"s1"'})
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"after 40 attempts.*kept"):
        download(loopback_server.url + "/slow.bin", tmp_path / "slow.bin", retries=1, backoff=0, progress=False)
    assert time.monotonic() - t0 < 60 and route.sent == 40
    assert (tmp_path / "slow.bin.part").stat().st_size == 40 and not (tmp_path / "slow.bin").exists()


def test_a_manifest_has_a_size_bound(loopback_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_MANIFEST_BYTES", 4096)
    loopback_server.serve("/endless/manifest.json", b'{"artifacts": [', endless=True)
    rc, _, err = cli(capsys, "list", "--store", loopback_server.url + "/endless")
    assert_refused(rc, err, "manifest.json: expected at most 4096 bytes")
    loopback_server.serve("/long/manifest.json", b" " * 5000, length=False)
    rc, _, err = cli(capsys, "list", "--store", loopback_server.url + "/long")
    assert_refused(rc, err, "manifest.json: expected at most 4096 bytes")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "manifest.json").write_text(json.dumps({"artifacts": [entry()] * 20}))
    rc, _, err = cli(capsys, "list", "--store", str(tmp_path / "store"))
    assert_refused(rc, err, "manifest.json: expected at most 4096 bytes")


# ------------------------------------------------------------------------------ checksums and entry fields


@pytest.mark.parametrize("field, value, expected", [
    ("sha256", DROP, "field 'sha256' is missing; expected 64 lowercase hex digits"),
    ("sha256", None, "field 'sha256' None: expected 64 lowercase hex digits"),
    ("sha256", "", "field 'sha256' '': expected 64 lowercase hex"),
    ("sha256", "abc123", "field 'sha256' 'abc123': expected 64 lowercase hex"),
    ("sha256", sha(BODY).upper(), "field 'sha256'"),
    ("sha256", 12, "field 'sha256' 12"),
    ("size", DROP, "field 'size' is missing; expected a non-negative integer"),
    ("size", None, "field 'size' None"),
    ("size", "39", "field 'size' '39'"),
    ("size", -1, "field 'size' -1"),
    ("size", True, "field 'size' True"),
    ("size", 39.0, "field 'size' 39.0"),
    ("name", 5, "field 'name' 5"),
    ("file", ["toy.vec"], "field 'file' ['toy.vec']"),
    ("path", DROP, "field 'path' is missing"),
    ("created", DROP, "field 'created' is missing"),
    ("licences", "MIT", "field 'licences' 'MIT': expected a list of objects"),
], ids=lambda v: "DROP" if v is DROP else str(v)[:20])
def test_malformed_or_unverifiable_entries_are_refused_not_skipped(loopback_server, home, capsys, field, value,
                                                                   expected):
    url = host(loopback_server, [entry(**{field: value})], {"toy/v1/toy.vec": BODY})
    to = home / "to"
    for argv in (["download", "toy", "--store", url, "--to", str(to), "--quiet"], ["list", "--store", url]):
        rc, out, err = cli(capsys, *argv)
        assert_refused(rc, err, "manifest.json: artifact #0", expected)
        assert out == ""
    assert not to.exists()


def test_an_entry_that_is_not_an_object_is_refused(loopback_server, capsys):
    url = host(loopback_server, [entry(), "toy"])
    rc, _, err = cli(capsys, "list", "--store", url)
    assert_refused(rc, err, "artifact #1: expected an object; found str")
    loopback_server.serve("/manifest.json", b'{"artifacts": {"toy": 1}}')
    rc, _, err = cli(capsys, "list", "--store", url)
    assert_refused(rc, err, "expected an object with a list 'artifacts'")


def test_wrong_checksum_is_a_one_line_error_and_nothing_is_kept(loopback_server, home, capsys):
    url = host(loopback_server, [entry(sha256=sha(b"other"))], {"toy/v1/toy.vec": BODY})
    rc, _, err = cli(capsys, "download", "toy", "--store", url, "--to", str(home / "to"), "--quiet")
    assert_refused(rc, err, f"expected content with sha256 {sha(b'other')}; found {sha(BODY)}; nothing was kept")
    assert not any(p.is_file() for p in (home / "to").iterdir())


# ------------------------------------------------------------------------------ stores


def test_a_missing_store_is_an_error_not_an_empty_listing(loopback_server, tmp_path, capsys):
    rc, out, err = cli(capsys, "list", "--store", str(tmp_path / "no" / "such" / "folder"))
    assert_refused(rc, err, f"no such store folder {tmp_path / 'no' / 'such' / 'folder'}")
    assert out == ""
    (tmp_path / "empty").mkdir()
    rc, _, err = cli(capsys, "list", "--store", str(tmp_path / "empty"))
    assert_refused(rc, err, "manifest.json: expected an artifact store's manifest")
    rc, out, err = cli(capsys, "list", "--store", loopback_server.url + "/nothing-here")
    assert_refused(rc, err, "/nothing-here/manifest.json", "HTTP 404")
    rc, _, err = cli(capsys, "download", "toy", "--store", loopback_server.url, "--to", str(tmp_path / "to"))
    assert_refused(rc, err, "HTTP 404")
    assert not (tmp_path / "to").exists()


def test_a_store_that_redirects_off_http_is_refused(loopback_server, tmp_path, capsys):
    """The manifest read and the file download both vet redirects: a store may not send the client to a file
    on its own disk (or anywhere but http(s)), and nothing is written."""
    loopback_server.serve("/evil/manifest.json", status=302, headers={"Location": "file:///etc/passwd"})
    rc, out, err = cli(capsys, "list", "--store", loopback_server.url + "/evil")
    assert_refused(rc, err, "/evil/manifest.json", "redirects to http(s) URLs only")
    assert out == ""
    url = host(loopback_server, [entry()], prefix="/half")
    loopback_server.serve("/half/toy/v1/toy.vec", status=307, headers={"Location": "file:///etc/hostname"})
    rc, _, err = cli(capsys, "download", "toy", "--store", url, "--to", str(tmp_path / "to"))
    assert_refused(rc, err, "toy.vec", "redirects to http(s) URLs only")
    assert not (tmp_path / "to").exists() or not any((tmp_path / "to").rglob("*.vec"))


def test_a_local_store_serves_nothing_outside_its_root(home, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.vec").write_bytes(BODY)
    store = tmp_path / "store"
    store.mkdir()
    (store / "manifest.json").write_text(json.dumps({"artifacts": [entry(path="../outside/secret.vec")]}))
    rc, _, err = cli(capsys, "download", "toy", "--store", str(store), "--to", str(home / "to"), "--quiet")
    assert_refused(rc, err, "field 'path' '../outside/secret.vec'")
    # a well-formed path that a link inside the store leads out of
    (store / "toy" / "v1").mkdir(parents=True)
    (store / "toy" / "v1" / "toy.vec").symlink_to(outside / "secret.vec")
    (store / "manifest.json").write_text(json.dumps({"artifacts": [entry()]}))
    rc, _, err = cli(capsys, "download", "toy", "--store", str(store), "--to", str(home / "to"), "--quiet")
    assert_refused(rc, err, "toy/v1/toy.vec: leads outside the store")
    assert not (home / "to").exists() or not any((home / "to").iterdir())
    # and the manifest itself may not be a link out of the store
    (store / "manifest.json").unlink()
    (outside / "manifest.json").write_text(json.dumps({"artifacts": []}))
    (store / "manifest.json").symlink_to(outside / "manifest.json")
    rc, _, err = cli(capsys, "list", "--store", str(store))
    assert_refused(rc, err, "manifest.json: leads outside the store")


def test_two_downloads_into_one_folder_wait_for_each_other(loopback_server, tmp_path):
    body = bytes(range(256)) * 512  # 128 KiB, served in 32 slow chunks
    host(loopback_server, [entry(body)])
    loopback_server.serve("/toy/v1/toy.vec", body, chunk=4096, delay=0.02)
    results: dict[str, object] = {}

    def fetch(who: str) -> None:
        try:
            results[who] = fetch_artifact("toy", store=loopback_server.url, to=tmp_path / "to", progress=False)
        except Exception as exc:  # reported below
            results[who] = exc

    first = threading.Thread(target=fetch, args=("first",))
    first.start()
    deadline = time.monotonic() + 10
    while "/toy/v1/toy.vec" not in loopback_server.paths and time.monotonic() < deadline:
        time.sleep(0.005)
    second = threading.Thread(target=fetch, args=("second",))
    second.start()
    first.join(30)
    second.join(30)
    assert results["first"] == results["second"] == tmp_path / "to" / "toy.vec", results
    assert (tmp_path / "to" / "toy.vec").read_bytes() == body
    # the second waited and found the file whole: one transfer, no second writer on the .part
    assert loopback_server.paths.count("/toy/v1/toy.vec") == 1
    assert sorted(p.name for p in (tmp_path / "to").iterdir()) == ["toy.vec"]


# ------------------------------------------------------------------------------ what still works


def test_publish_download_extract_round_trip_over_http(loopback_server, tmp_path, capsys):
    model = tmp_path / "model"
    (model / "plots").mkdir(parents=True)
    (model / "metrics.json").write_text('{"n": 1}\n')
    (model / "plots" / "a.png").write_bytes(b"\x89PNG bytes")
    store = tmp_path / "store"
    publish_folder(store, model, name="cade-report.toy", version="v1", created="2026-01-01T00:00:00+00:00")
    loopback_server.root = store
    to = tmp_path / "to"
    (to / "neighbour").mkdir(parents=True)
    (to / "neighbour" / "keep.txt").write_text("keep")
    rc, out, err = cli(capsys, "download", "cade-report.toy", "--store", loopback_server.url, "--to", str(to),
                       "--extract", "--quiet")
    assert rc == 0, err
    got = Path(out.strip())
    assert got == to / "cade-report.toy"
    assert (got / "plots" / "a.png").read_bytes() == b"\x89PNG bytes"
    assert (got / "metrics.json").read_text() == '{"n": 1}\n'
    # a newer version replaces exactly <to>/<name>/, and nothing else in --to
    (model / "metrics.json").write_text('{"n": 2}\n')
    publish_folder(store, model, name="cade-report.toy", version="v2", created="2026-02-01T00:00:00+00:00")
    rc, out, err = cli(capsys, "download", "cade-report.toy", "--store", loopback_server.url, "--to", str(to),
                       "--extract", "--quiet")
    assert rc == 0, err
    assert (got / "metrics.json").read_text() == '{"n": 2}\n' and (to / "neighbour" / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in to.iterdir()) == ["cade-report.toy", "cade-report.toy.tar.gz", "neighbour"]
    rc, out, _ = cli(capsys, "list", "--store", loopback_server.url)
    assert rc == 0 and out.count("cade-report.toy") == 2
