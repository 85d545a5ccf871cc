"""Artifact stores: publish finished artifacts with a manifest, list them, fetch them verified.

A store is named by a URL:

* a local folder (``/srv/vectors``, ``file:///srv/vectors``) or any fsspec URL
  (``s3://bucket/vectors``, ``gs://...``, ``memory://...``): read and write;
* an ``http(s)://`` base URL: read only (a web server in front of a published
  folder or bucket).

Layout of a store::

    manifest.json                       every artifact: name, version, size, sha256, created,
                                        provenance (spec, input hashes, packages), input licences
    <name>/<version>/<file>             the artifact itself (a .vec file, or a .tar.gz of a folder)

The version of an artifact is the identity hash of the stage that made it, so
publishing the same stage twice is a no-op and a rebuilt stage is a new
version. An artifact's file is written before the manifest names it: a reader
never sees a manifest entry whose file is still being uploaded.

Fetching streams to ``<dest>.part`` with a progress bar, resumes a cut
transfer (HTTP ``Range``, or a seek on fsspec files), stops at the size the
manifest gives, checks the sha256 and only then renames into place
(:mod:`pipeline.download`).

A store is someone else's server, so a reader trusts nothing in it: every
manifest entry is checked before use (names, versions and file names are
plain path components, ``path`` is relative with plain components, ``size``
is a non-negative integer, ``sha256`` is 64 lowercase hex digits), the
manifest itself is at most 64 MiB, a store never serves a path outside its
root, a download writes only inside its destination folder, and ``extract``
unpacks only regular files and folders into ``<to>/<name>/``, the one thing
it may replace. A store that does not exist is an error for readers.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy.vec").write_text("1 2\\nword 0.5 1.0\\n")
>>> entry = publish_file(d / "store", d / "toy.vec", name="demo.toy", version="abc123")
>>> [(e["name"], e["version"], e["size"]) for e in list_artifacts(d / "store")]
[('demo.toy', 'abc123', 17)]
>>> fetch_artifact("demo.toy", store=d / "store", to=d / "got", progress=False).read_text()
'1 2\\nword 0.5 1.0\\n'
>>> load_downloaded_vectors("demo.toy", store=d / "store", to=d / "got", progress=False)["word"].tolist()
[0.5, 1.0]
"""
from __future__ import annotations

import abc
import contextlib
import datetime as _dt
import difflib
import json
import logging
import os
import shutil
import sys
import re
import stat
import tarfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator
from urllib.parse import urlparse

from .errors import PipelineError
from .identity import file_sha256

if TYPE_CHECKING:  # gensim is heavy; import it where it is used
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "ArtifactError", "Store", "open_store", "publish_file", "publish_folder", "list_artifacts",
           "resolve_artifact", "fetch_artifact", "load_downloaded_vectors", "pack_folder", "default_store",
           "default_cache", "validate_entry"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
MAX_MANIFEST_BYTES = 64 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLAIN = "letters, digits and . _ - + only (no slashes, not starting with a dot)"


class ArtifactError(PipelineError):
    """A store that cannot be read or written, or a name / version it does not hold."""


def default_store() -> str:
    """The store of ``$CHRONOLINGUA_STORE`` (the command line also reads ``[pipeline] store`` in luigi.cfg)."""
    return os.environ.get("CHRONOLINGUA_STORE", "")


def default_cache() -> Path:
    """Where fetched artifacts go without ``to``: ``$CHRONOLINGUA_CACHE`` or ``~/.cache/chronolingua/artifacts``."""
    env = os.environ.get("CHRONOLINGUA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "chronolingua" / "artifacts"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _plain(value) -> bool:
    """A plain path component: ASCII letters, digits and ``. _ - +``, not starting with a dot, at most 200."""
    return (isinstance(value, str) and 0 < len(value) <= 200 and not value.startswith(".")
            and all((c.isascii() and c.isalnum()) or c in "._-+" for c in value))


def _check_name(value: str, what: str) -> str:
    if not _plain(value):
        raise ArtifactError(f"artifact {what} {value!r:.80}: expected {_PLAIN}")
    return value


def _check_rel(rel, where: str) -> str:
    """``rel`` as a relative POSIX path of plain components (what a store may serve), or an error."""
    if not (isinstance(rel, str) and len(rel) <= 1000 and all(_plain(p) for p in rel.split("/"))):
        raise ArtifactError(f"{where}: path {rel!r:.80}: expected a relative path of components of {_PLAIN}; "
                            "a store serves nothing outside its root")
    return rel


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# field: (check, what is expected, required)
_FIELDS = {
    "name": (_plain, _PLAIN, True),
    "version": (_plain, _PLAIN, True),
    "file": (_plain, _PLAIN, True),
    "path": (lambda v: isinstance(v, str) and len(v) <= 1000 and all(_plain(p) for p in v.split("/")),
             f"a relative path of components of {_PLAIN}", True),
    "size": (lambda v: _is_int(v) and v >= 0, "a non-negative integer number of bytes", True),
    "sha256": (lambda v: isinstance(v, str) and bool(_SHA256.fullmatch(v)), "64 lowercase hex digits", True),
    "created": (lambda v: isinstance(v, str) and len(v) <= 100, "an ISO date and time (a string)", True),
    "kind": (lambda v: isinstance(v, str), "a string", False),
    "provenance": (lambda v: isinstance(v, dict), "an object", False),
    "licences": (lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v), "a list of objects", False),
}


def validate_entry(entry, index: int, where: str) -> dict:
    """A manifest entry whose every field was checked before use, or an :class:`ArtifactError`.

    The error is one line: the manifest, the entry (its index, and its name
    and version when those are readable), the field and what was expected.
    """
    if not isinstance(entry, dict):
        raise ArtifactError(f"{where}: artifact #{index}: expected an object; found {type(entry).__name__}; "
                            "the entry is refused")
    label = f"artifact #{index}"
    if _plain(entry.get("name")):
        label += f" '{entry['name']}'" + (f" version '{entry['version']}'" if _plain(entry.get("version")) else "")
    for field, (ok, expected, required) in _FIELDS.items():
        if field not in entry or (entry[field] is None and not required):
            if required:
                raise ArtifactError(f"{where}: {label}: field '{field}' is missing; expected {expected}; "
                                    "the entry is refused")
            continue
        if not ok(entry[field]):
            raise ArtifactError(f"{where}: {label}: field '{field}' {entry[field]!r:.80}: expected {expected}; "
                                "the entry is refused")
    return entry


# --------------------------------------------------------------------------------------------- stores


class Store(abc.ABC):
    """One artifact store. Use :func:`open_store`; subclasses differ only in how bytes move."""

    url: str
    writable = True

    def read_manifest(self, missing_ok: bool = False) -> dict:
        """The manifest with every entry checked (:func:`validate_entry`).

        A store without a manifest is an error unless ``missing_ok`` (a
        publisher about to write the first one).
        """
        raw = self._read_bytes(MANIFEST, MAX_MANIFEST_BYTES)
        if raw is None:
            if missing_ok:
                return {"format": MANIFEST_FORMAT, "artifacts": []}
            raise ArtifactError(f"{self.where(MANIFEST)}: expected an artifact store's manifest; "
                                f"{self._missing()}")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ArtifactError(f"{self.where(MANIFEST)}: expected a JSON manifest; {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
            raise ArtifactError(f"{self.where(MANIFEST)}: expected an object with a list 'artifacts'")
        for i, entry in enumerate(data["artifacts"]):
            validate_entry(entry, i, self.where(MANIFEST))
        return data

    def _missing(self) -> str:
        return "there is none (no such store, or nothing was ever published to it)"

    def where(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"

    @abc.abstractmethod
    def _read_bytes(self, rel: str, limit: int) -> bytes | None:
        """The file's bytes (at most ``limit``, more is an error), or None when the store has no such file."""

    def _too_big(self, rel: str, limit: int) -> ArtifactError:
        return ArtifactError(f"{self.where(rel)}: expected at most {limit} bytes; the store serves more")

    @abc.abstractmethod
    def put_file(self, local: Path, rel: str) -> None:
        """Upload ``local`` as ``rel`` whole or not at all."""

    @abc.abstractmethod
    def write_manifest(self, data: dict) -> None:
        """Replace the manifest atomically."""

    @contextlib.contextmanager
    def manifest_lock(self) -> Iterator[None]:
        yield

    def check_writable(self) -> None:
        """Raise :class:`ArtifactError` when this store can never be published to (checked before building)."""
        if not self.writable:
            self._refuse()

    @abc.abstractmethod
    def fetch(self, rel: str, dest: Path, *, sha256: str, size: int, progress: bool, lock: bool = True) -> Path:
        """Download ``rel`` to ``dest`` (resuming, at most ``size`` bytes, verified against ``sha256``, atomic)."""


class FsStore(Store):
    """A local folder or an fsspec file system (s3://, gs://, memory://, ...)."""

    def __init__(self, url: str):
        import fsspec

        self.url = str(url)
        parsed = urlparse(self.url)
        self.local = parsed.scheme in ("", "file")
        if self.local:
            from urllib.request import url2pathname  # file:///a%20b/ (Path.as_uri()) is the folder "a b"

            path = url2pathname(parsed.path) if parsed.scheme == "file" else self.url
            self.root = str(Path(path).expanduser().resolve())
            self.fs = fsspec.filesystem("file")
        else:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
            self.root = self.root.rstrip("/")

    def _path(self, rel: str) -> str:
        """The store's path of ``rel``: a relative path of plain components that stays inside the root."""
        path = f"{self.root}/{_check_rel(rel, self.where(str(rel)))}"
        if self.local:  # a link inside the store must not lead out of it
            real = os.path.realpath(path)
            if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
                raise ArtifactError(f"{self.where(rel)}: leads outside the store ({real}); "
                                    "a store serves nothing outside its root")
        return path

    def _missing(self) -> str:
        if self.local and not os.path.isdir(self.root):
            return f"no such store folder {self.root}"
        return super()._missing()

    def check_writable(self) -> None:
        if self.local and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise ArtifactError(f"{self.root}: expected a folder for the artifact store (or nothing yet); "
                                "found a file; nothing was published")

    def _read_bytes(self, rel: str, limit: int) -> bytes | None:
        path = self._path(rel)
        try:
            if self.local and os.path.lexists(path) and not stat.S_ISREG(os.stat(path).st_mode):
                raise ArtifactError(f"{self.where(rel)}: expected a regular file; found something else")
            with self.fs.open(path, "rb") as fh:
                raw = fh.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactError(f"{self.where(rel)}: cannot read ({exc})") from None
        if len(raw) > limit:
            raise self._too_big(rel, limit)
        return raw

    def _write_atomic(self, local: Path, rel: str) -> None:
        dest = self._path(rel)
        parent = dest.rsplit("/", 1)[0]
        try:
            self.fs.makedirs(parent, exist_ok=True)
            if self.local:  # same-disk rename: readers see the old file or the whole new one
                tmp = f"{parent}/.{rel.rsplit('/', 1)[-1]}.{uuid.uuid4().hex[:8]}.part"
                try:
                    shutil.copyfile(local, tmp)
                    os.replace(tmp, dest)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:  # object stores write a key whole or not at all
                self.fs.put_file(str(local), dest)
        except OSError as exc:
            raise ArtifactError(f"{self.where(rel)}: cannot write ({exc.strerror or exc}); "
                                "nothing was published") from None

    def put_file(self, local: Path, rel: str) -> None:
        self._write_atomic(local, rel)
        size = self.fs.size(self._path(rel))
        if size != local.stat().st_size:
            raise ArtifactError(f"{self.where(rel)}: expected {local.stat().st_size} bytes after upload; "
                                f"found {size}")

    def write_manifest(self, data: dict) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="chronolingua-manifest-") as d:
            tmp = Path(d) / MANIFEST
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            self._write_atomic(tmp, MANIFEST)

    @contextlib.contextmanager
    def manifest_lock(self) -> Iterator[None]:
        """Serialise manifest updates of publishers on one machine (local stores: an flock)."""
        if not self.local:
            yield
            return
        import fcntl

        self.check_writable()
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise ArtifactError(f"{self.root}: cannot create the store folder ({exc.strerror or exc}); "
                                "nothing was published") from None
        with open(os.path.join(self.root, ".manifest.lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def fetch(self, rel: str, dest: Path, *, sha256: str, size: int, progress: bool, lock: bool = True) -> Path:
        from .download import download

        path = self._path(rel)
        return download(path, dest, sha256=sha256, size=size, progress=progress, lock=lock,
                        fs=None if self.local else self.fs, label=self.where(rel))


class HttpStore(Store):
    """A read-only store behind an HTTP(S) base URL."""

    writable = False

    def __init__(self, url: str):
        self.url = str(url).rstrip("/")

    def _read_bytes(self, rel: str, limit: int) -> bytes | None:
        import requests

        from .download import http_session, redirect_guard
        from .errors import InputError

        url = self.where(_check_rel(rel, self.where(str(rel))))
        http = http_session()
        try:
            with http.get(url, timeout=60, stream=True, headers={"Accept-Encoding": "identity"},
                          hooks={"response": redirect_guard(url)}) as r:
                if r.status_code == 404:
                    return None
                if r.status_code != 200:
                    raise ArtifactError(f"{url}: expected HTTP 200; got {r.status_code} {r.reason}")
                length = r.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > limit:
                    raise self._too_big(rel, limit)
                raw = bytearray()
                for block in r.iter_content(1 << 20):
                    raw += block
                    if len(raw) > limit:
                        raise self._too_big(rel, limit)
                return bytes(raw)
        except InputError as exc:  # a redirect the guard refused
            raise ArtifactError(str(exc)) from None
        except requests.RequestException as exc:
            raise ArtifactError(f"{url}: cannot reach the store ({exc})") from None
        finally:
            http.close()

    def _missing(self) -> str:
        return "HTTP 404 (no store at this URL, or nothing was ever published to it)"

    def _refuse(self, *args, **kwargs):
        raise ArtifactError(f"{self.url}: an HTTP store is read only; publish to the folder or bucket it serves")

    put_file = write_manifest = _refuse

    def fetch(self, rel: str, dest: Path, *, sha256: str, size: int, progress: bool, lock: bool = True) -> Path:
        from .download import download

        url = self.where(_check_rel(rel, self.where(str(rel))))
        return download(url, dest, sha256=sha256, size=size, progress=progress, lock=lock)


def open_store(url: str | Path) -> Store:
    """The store for a URL or path (http(s) read only, anything else through fsspec)."""
    url = str(url)
    if not url:
        raise ArtifactError("no artifact store given: pass --store URL, set $CHRONOLINGUA_STORE or "
                            "[pipeline] store in luigi.cfg")
    if urlparse(url).scheme in ("http", "https"):
        return HttpStore(url)
    try:
        return FsStore(url)
    except (ImportError, ValueError) as exc:  # an fsspec protocol whose package is not installed
        raise ArtifactError(f"{url}: expected a folder, http(s):// or an fsspec URL; {exc}") from None


# --------------------------------------------------------------------------------------------- publish


def pack_folder(folder: Path, dest: Path) -> Path:
    """A reproducible ``.tar.gz`` of a folder (sorted names, zero mtimes): same content, same sha256.

    Hidden files and folders are left out (the files a stage's marker lists are exactly the rest); a symbolic
    link is refused."""
    import gzip

    folder = Path(folder)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(folder.rglob("*")):
                rel = path.relative_to(folder)
                if any(part.startswith(".") for part in rel.parts):
                    continue  # what a stage's marker does not list (integrity.stage_files): never published
                if path.is_symlink():
                    raise ArtifactError(f"{path}: a published folder holds regular files only; found a symbolic "
                                        f"link to {os.readlink(path)!r:.120}; nothing was published")
                if not path.is_file():
                    continue
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o644
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def publish_file(store: str | Path | Store, path: Path, *, name: str, version: str,
                 provenance: dict | None = None, licences: list | None = None, kind: str | None = None,
                 created: str | None = None) -> dict:
    """Upload one file as ``name``/``version`` and record it in the manifest; return its manifest entry.

    Publishing a (name, version) that the manifest already holds with the same
    sha256 uploads nothing; a different sha256 under the same version is an error
    (versions are identity hashes: one version, one content).
    """
    st = store if isinstance(store, Store) else open_store(store)
    path = Path(path)
    _check_name(name, "name")
    _check_name(version, "version")
    if not path.is_file():
        raise ArtifactError(f"{path}: expected a file to publish as {name}; no such file")
    digest = file_sha256(path)
    # named after the artifact, so that fetching several into one folder never collides
    file_name = name + (".tar.gz" if path.name.endswith(".tar.gz") else path.suffix)
    entry = {
        "name": name,
        "version": version,
        "file": file_name,
        "path": f"{name}/{version}/{file_name}",
        "kind": kind or ("vectors" if file_name.endswith(".vec") else "file"),
        "size": path.stat().st_size,
        "sha256": digest,
        "created": created or _now(),
        "provenance": provenance or {},
        "licences": licences or [],
    }
    validate_entry(entry, 0, f"{path} as {name} {version}")  # what readers will accept, before any upload
    with st.manifest_lock():
        manifest = st.read_manifest(missing_ok=True)
        for old in manifest["artifacts"]:
            if old["name"] == name and old["version"] == version:
                if old["sha256"] == digest:
                    return old
                raise ArtifactError(f"{st.where(old['path'])}: version {version} of {name} is already published "
                                    f"with sha256 {old['sha256']}; this file has {digest}")
        st.put_file(path, entry["path"])  # the file first, the manifest entry last
        manifest["artifacts"].append(entry)
        manifest["artifacts"].sort(key=lambda e: (e["name"], e["created"], e["version"]))
        manifest["format"] = MANIFEST_FORMAT
        manifest["updated"] = _now()
        st.write_manifest(manifest)
    log.info("published %s %s (%d bytes) to %s", name, version, entry["size"], st.url)
    return entry


def publish_folder(store: str | Path | Store, folder: Path, *, name: str, version: str, **kwargs) -> dict:
    """Publish a folder (a model, a report) as one reproducible ``<name>.tar.gz``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="chronolingua-pack-") as d:
        tar = pack_folder(Path(folder), Path(d) / f"{name}.tar.gz")
        return publish_file(store, tar, name=name, version=version, kind=kwargs.pop("kind", "folder"), **kwargs)


# --------------------------------------------------------------------------------------------- fetch


def list_artifacts(store: str | Path | Store | None = None) -> list[dict]:
    """Every manifest entry of a store (each checked), sorted by name then creation time.

    A store that does not exist (no folder, no manifest, HTTP 404) is an :class:`ArtifactError`.
    """
    st = store if isinstance(store, Store) else open_store(store or default_store())
    return list(st.read_manifest()["artifacts"])


def resolve_artifact(entries: Iterable[dict], name: str, version: str | None = None, where: str = "") -> dict:
    """The manifest entry for ``name`` (newest version unless ``version``), or a clear error."""
    entries = list(entries)
    same = [e for e in entries if e["name"] == name]
    if not same:
        names = sorted({e["name"] for e in entries})
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ArtifactError(f"{where}: no artifact named '{name}'{hint} "
                            f"(the store holds {len(names)}: {', '.join(names[:20]) or 'none'}"
                            f"{' ...' if len(names) > 20 else ''})")
    if version is None:
        return max(same, key=lambda e: (e["created"], e["version"]))
    for e in same:
        if e["version"] == version:
            return e
    raise ArtifactError(f"{where}: artifact '{name}' has no version '{version}' "
                        f"(versions: {', '.join(e['version'] for e in same)})")


def fetch_artifact(name: str, *, store: str | Path | Store | None = None, version: str | None = None,
                   to: str | Path | None = None, progress: bool = True, extract: bool = False) -> Path:
    """Download an artifact, verified by sha256 and size, and return its path.

    ``to`` is the destination folder (default :func:`default_cache` /
    ``<name>/<version>``); nothing is written outside it. A cut transfer
    resumes from the ``.part`` file on the next call; two fetches of one file
    wait for each other. ``extract=True`` unpacks a ``.tar.gz`` artifact (only
    regular files and folders) into ``<to>/<name>/``, atomically, and returns
    that folder; it is the only thing an extraction replaces.
    """
    from .download import dest_lock

    st = store if isinstance(store, Store) else open_store(store or default_store())
    entry = resolve_artifact(st.read_manifest()["artifacts"], name, version, where=st.where(MANIFEST))
    folder = Path(to) if to is not None else default_cache() / entry["name"] / entry["version"]
    dest = folder / entry["file"]
    if extract and (not entry["file"].endswith(_TARBALLS) or entry["file"] == entry["name"]):
        raise ArtifactError(f"{st.where(MANIFEST)}: artifact '{entry['name']}' version '{entry['version']}': "
                            f"file {entry['file']!r}: expected a .tar.gz artifact to extract; nothing was fetched")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # the folder, or one above it, is a file
        raise ArtifactError(f"{folder}: expected a folder to download {entry['name']} into (to / --to); "
                            "found a file there or above it; nothing was fetched") from None
    with dest_lock(dest):  # held through the extraction: no other fetch swaps the archive meanwhile
        st.fetch(entry["path"], dest, sha256=entry["sha256"], size=entry["size"], progress=progress, lock=False)
        if extract:
            return _extract(dest, folder / entry["name"])
    return dest


_TARBALLS = (".tar.gz", ".tgz", ".tar")
_TAR_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE)
_TAR_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character device",
              tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a fifo", tarfile.GNUTYPE_SPARSE: "a sparse file"}


def _check_member(member: tarfile.TarInfo, where: str) -> None:
    """Refuse what a published folder never holds: links, devices, fifos, paths that leave the folder."""
    if member.type not in _TAR_REGULAR:
        kind = _TAR_KINDS.get(member.type, f"a member of tar type {member.type!r}")
        target = f" to {member.linkname!r:.80}" if member.type in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
        raise ArtifactError(f"{where}: member {member.name!r:.120} is {kind}{target}; expected only regular files "
                            "and folders; nothing was extracted")
    name = member.name
    if not name or name.startswith("/") or "\x00" in name or ".." in name.split("/"):
        raise ArtifactError(f"{where}: member {name!r:.120}: expected a relative path inside the artifact's "
                            "folder (no .., not absolute); nothing was extracted")


#: what an artifact may unpack to: at most this many times its archive, at most MAX_UNPACKED_BYTES and at most
#: the free disk space
MAX_UNPACK_RATIO = 200


def _check_unpacked_size(members: list, tar_path: Path, where_to: Path, where: str) -> None:
    from .archives import MAX_UNPACKED_BYTES
    from .download import MIN_FREE

    total = sum(m.size for m in members if m.isfile())
    packed = max(1, tar_path.stat().st_size)
    space, _, free = shutil.disk_usage(where_to)
    bounds = {f"{MAX_UNPACKED_BYTES} bytes": MAX_UNPACKED_BYTES,
              f"{MAX_UNPACK_RATIO} times the archive's {packed} bytes": MAX_UNPACK_RATIO * packed}
    if space:  # (a file system of no blocks does not say: not bounded by it)
        bounds[f"the free disk space less {MIN_FREE >> 20} MiB, pipeline.download.MIN_FREE"] = free - MIN_FREE
    why, limit = min(bounds.items(), key=lambda kv: kv[1])
    if total > limit:
        raise ArtifactError(f"{where}: expected an archive that unpacks to at most {limit} bytes ({why}); "
                            f"its members declare {total}; nothing was extracted")


def _extract(tar_path: Path, dest: Path) -> Path:
    """Unpack ``tar_path`` into a new folder beside ``dest`` and rename it to ``dest`` (replacing only ``dest``)."""
    import tempfile
    import zlib

    from .archives import duplicate_member

    where = str(tar_path)
    if not tar_path.name.endswith(_TARBALLS):
        raise ArtifactError(f"{tar_path}: expected a .tar.gz artifact to extract")
    try:
        old_st = os.lstat(dest)
    except FileNotFoundError:
        old_st = None
    if old_st is not None and not stat.S_ISDIR(old_st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(old_st.st_mode) else "something other than a folder"
        raise ArtifactError(f"{dest}: expected the artifact's folder (or nothing) to replace; found {kind}; "
                            "nothing was extracted")
    digest = file_sha256(tar_path)
    stamp = dest / ".sha256"
    if old_st is not None and stamp.is_file() and not stamp.is_symlink() \
            and stamp.read_text(errors="replace").strip() == digest:
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    old = None
    placed = False
    try:
        try:
            with tarfile.open(tar_path) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, where)
                if (twice := duplicate_member([m.name for m in members if not m.isdir()])) is not None:
                    raise ArtifactError(f"{where}: member {twice!r:.120} appears more than once; expected each "
                                        "member to have its own path; nothing was extracted")
                _check_unpacked_size(members, tar_path, dest.parent, where)
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # FilterError is a TarError
            msg = " ".join(str(exc).split())
            raise ArtifactError(f"{where}: expected a .tar.gz of regular files and folders; {msg}; "
                                "nothing was extracted") from None
        (tmp / ".sha256").write_text(digest + "\n")
        os.chmod(tmp, 0o755)
        if old_st is not None:
            old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.old")
            os.rename(dest, old)
        os.rename(tmp, dest)
        placed = True
    finally:
        # the new folder not in place (an error, or Ctrl-C between the two renames): the previous one goes back
        if not placed and old is not None and old.exists() and not os.path.lexists(dest):
            os.rename(old, dest)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return dest


def load_downloaded_vectors(name: str, *, store: str | Path | Store | None = None, version: str | None = None,
                            to: str | Path | None = None, progress: bool = True) -> "KeyedVectors":
    """Fetch a published ``.vec`` artifact (verified) and return it as gensim ``KeyedVectors``."""
    path = fetch_artifact(name, store=store, version=version, to=to, progress=progress)
    if not path.name.endswith((".vec", ".vec.gz", ".txt")):
        raise ArtifactError(f"{path}: expected word vectors (.vec) for artifact '{name}'; "
                            f"this artifact is a {path.suffix or 'file'}")
    from .vectors import load_vectors

    return load_vectors(path)


def format_listing(entries: list[dict], out=None) -> None:
    """Print a store's manifest as a table (what ``chronolingua list`` shows)."""
    out = out or sys.stdout
    if not entries:
        print("(no artifacts)", file=out)
        return
    rows = [(e["name"], e["version"], _human(e["size"]), e["created"], e["sha256"][:12],
             ", ".join(sorted({str(lic.get("licence")) for lic in e.get("licences") or []})) or "-")
            for e in entries]
    head = ("name", "version", "size", "created", "sha256", "licences")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip(), file=out)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)

