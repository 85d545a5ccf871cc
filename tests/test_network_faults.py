"""Network failures and hostile answers from conftest's loopback server, and hostile archives: each ends in one
clear error that names the URL (or archive), what was expected and what happened, and leaves nothing partial
at the destination (a resumable ``.part`` only where the server names a version to resume against)."""
from __future__ import annotations

import hashlib
import io
import random
import socket
import struct
import tarfile
import zipfile

import pytest

from pipeline.archives import unpack_archive
from pipeline.download import DownloadError, download
from pipeline.errors import InputError

PAYLOAD = bytes(range(256)) * 512  # 128 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def ranges(server) -> list:
    return [rng for _, rng in server.requests]


# ------------------------------------------------------------------------------ downloads


@pytest.mark.parametrize("pinned", [False, True])
def test_a_416_to_a_partial_file_longer_than_the_file_starts_again(loopback_server, tmp_path, pinned):
    """The server answers a resume past its end with 416 and ``Content-Range: bytes */N``: the partial file is
    whole only when it holds N bytes. A longer one (another fetch's leftovers under a version the server still
    names) was once renamed into place as it was, extra bytes and all."""
    loopback_server.serve("/f.bin", PAYLOAD, headers={"ETag": '"v1"'})
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(PAYLOAD + b"<html>trailing junk</html>")
    dest.with_name("f.bin.part.version").write_text('"v1"')
    out = download(loopback_server.url + "/f.bin", dest, sha256=SHA if pinned else None, progress=False, backoff=0)
    assert out.read_bytes() == PAYLOAD
    assert ranges(loopback_server) == [f"bytes={len(PAYLOAD) + 26}-", None]  # the 416, then the whole file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_416_to_a_whole_partial_file_fetches_nothing_more(loopback_server, tmp_path):
    loopback_server.serve("/f.bin", PAYLOAD, headers={"ETag": '"v1"'})
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(PAYLOAD)
    dest.with_name("f.bin.part.version").write_text('"v1"')
    assert download(loopback_server.url + "/f.bin", dest, progress=False).read_bytes() == PAYLOAD
    assert ranges(loopback_server) == [f"bytes={len(PAYLOAD)}-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_stalled_server_is_timed_out_and_the_timeout_is_named(loopback_server, tmp_path):
    """requests says only "Read timed out."; the message says how long the client waited."""
    loopback_server.serve("/slow.bin", PAYLOAD, chunk=1000, delay=2.0)
    url = loopback_server.url + "/slow.bin"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "slow.bin", timeout=0.25, retries=1, progress=False, backoff=0)
    msg = str(err.value)
    assert msg.startswith(f"{url}: download failed after 1 retries without progress"), msg
    assert "the server sent nothing for 0.25 s, the timeout" in msg, msg
    assert "nothing was kept" in msg and "the next run starts from byte 0" in msg, msg
    assert list(tmp_path.iterdir()) == []


def test_a_refused_connection_says_so_without_urllib3s_noise(tmp_path):
    with socket.socket() as sock:  # bound, never listening: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/model.bin"
        with pytest.raises(DownloadError) as err:
            download(url, tmp_path / "model.bin", retries=1, progress=False, backoff=0)
    msg = str(err.value)
    assert msg == (f"{url}: download failed after 1 retries without progress (cannot connect: Connection refused); "
                   "nothing was kept; the next run starts from byte 0"), msg
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ archives


def zip_of(**members: bytes) -> bytearray:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return bytearray(buf.getvalue())


def set_in_both_headers(raw: bytearray, local_at: int, central_at: int, value: int, *, flag: bool) -> bytes:
    """Set a member's general-purpose flag bits (``flag``) or compression method, in its local and central header."""
    i, j = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    for at in (i + local_at, j + central_at):
        old = struct.unpack_from("<H", raw, at)[0]
        struct.pack_into("<H", raw, at, old | value if flag else value)
    return bytes(raw)


@pytest.mark.parametrize("how, found", [
    ("encrypted", "member 'a.txt' is encrypted"),
    ("deflate64", "member 'a.txt' uses compression method 9"),
])
def test_a_zip_member_that_cannot_be_read_is_refused_by_name(tmp_path, how, found):
    """zipfile raises RuntimeError / NotImplementedError here, which once came out as a traceback."""
    raw = zip_of(**{"a.txt": b"hello"})
    data = (set_in_both_headers(raw, 6, 8, 0x1, flag=True) if how == "encrypted"
            else set_in_both_headers(raw, 8, 10, 9, flag=False))
    archive = tmp_path / "gold.zip"
    archive.write_bytes(data)
    with pytest.raises(InputError) as err:
        unpack_archive(archive, tmp_path / "out")
    assert str(err.value) == (f"{archive}: expected an archive of unencrypted members, stored or compressed with "
                              f"deflate, bzip2 or lzma; {found}; nothing was unpacked")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.zip"]


def tar_gz(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_tar_member_that_is_both_a_file_and_a_folder_is_refused_by_name(tmp_path):
    archive = tmp_path / "gold.tar.gz"
    archive.write_bytes(tar_gz(("truth", b"x"), ("truth/binary.txt", b"y")))
    with pytest.raises(InputError, match=rf"^{archive}: expected an archive whose members each have their own "
                                         r"path; member 'truth/binary.txt' is both a file and a folder; "
                                         r"nothing was unpacked$"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.tar.gz"]


def test_a_tar_gz_damaged_in_transit_is_refused_not_unpacked(tmp_path):
    """A flipped byte inside a stored deflate block leaves the stream readable; only gzip's CRC at its end
    tells, and tarfile stops reading at the last member, before the CRC."""
    body = random.Random(0).randbytes(100_000)  # incompressible: deflate stores it as it is
    raw = bytearray(tar_gz(("truth/binary.txt", body)))
    raw[len(raw) // 2] ^= 0xFF
    archive = tmp_path / "gold.tar.gz"
    archive.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=rf"^{archive}: expected an archive .*; CRC check failed"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.tar.gz"]
    good = tmp_path / "good.tar.gz"
    good.write_bytes(tar_gz(("truth/binary.txt", body)))
    assert (unpack_archive(good, tmp_path / "out") / "truth" / "binary.txt").read_bytes() == body


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_two_members_with_one_path_are_refused_not_resolved_by_order(tmp_path, kind):
    """zipfile and tarfile keep the later of two same-named members; another unpacker may keep the first."""
    first, second = ("truth/binary.txt", b"a\t0\n"), ("truth/./binary.txt", b"a\t1\n")
    archive = tmp_path / f"gold.{'zip' if kind == 'zip' else 'tar.gz'}"
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(*first)
            zf.writestr(*second)
        archive.write_bytes(buf.getvalue())
    else:
        archive.write_bytes(tar_gz(first, second))
    with pytest.raises(InputError, match=rf"^{archive}: expected an archive whose members each have their own "
                                         r"path; member 'truth/\./binary\.txt' appears more than once; "
                                         r"nothing was unpacked$"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_an_archive_larger_than_the_free_disk_space_is_refused_before_anything_is_unpacked(tmp_path, kind,
                                                                                          monkeypatch):
    """Within MAX_UNPACKED_BYTES (64 GiB) an archive could still fill a smaller disk to the last byte, the other
    stages and workers on it failing too; it must leave MIN_FREE free."""
    import collections

    import pipeline.archives as archives
    from pipeline.download import MIN_FREE

    body = b"y" * 5000
    archive = tmp_path / ("gold.zip" if kind == "zip" else "gold.tar.gz")
    archive.write_bytes(zip_of(**{"truth/binary.txt": body}) if kind == "zip" else tar_gz(("truth/binary.txt", body)))
    usage = collections.namedtuple("usage", "total used free")
    for free, fits in ((MIN_FREE + 4999, False), (MIN_FREE + 5000, True)):
        monkeypatch.setattr(archives.shutil, "disk_usage", lambda path, free=free: usage(1 << 40, 0, free))
        out = tmp_path / f"out{free}"
        if fits:
            assert (unpack_archive(archive, out) / "truth" / "binary.txt").read_bytes() == body
            continue
        with pytest.raises(InputError, match=rf"^{archive}: expected an archive that fits the free space of "
                                             rf"{tmp_path} \({free} bytes free, of which 128 MiB stay free: "
                                             r"pipeline\.download\.MIN_FREE\); it declares 5000 bytes; nothing was "
                                             r"unpacked$"):
            unpack_archive(archive, out)
        assert not out.exists() and not list(tmp_path.glob(".out*"))
