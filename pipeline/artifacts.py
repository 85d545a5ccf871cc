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
transfer (HTTP ``Range``, or a seek on fsspec files), checks the sha256 and
only then renames into place (:mod:`pipeline.download`).

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
import tarfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator
from urllib.parse import urlparse

from .errors import InputError, PipelineError
from .identity import file_sha256

if TYPE_CHECKING:  # gensim is heavy; import it where it is used
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "ArtifactError", "Store", "open_store", "publish_file", "publish_folder", "list_artifacts",
           "resolve_artifact", "fetch_artifact", "load_downloaded_vectors", "pack_folder", "default_store",
           "default_cache"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


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


def _check_name(value: str, what: str) -> str:
    ok = value and all(c.isalnum() or c in "._-+" for c in value) and not value.startswith(".")
    if not ok:
        raise ArtifactError(f"artifact {what} {value!r}: expected letters, digits and . _ - + only "
                            "(no slashes, not starting with a dot)")
    return value


# --------------------------------------------------------------------------------------------- stores


class Store(abc.ABC):
    """One artifact store. Use :func:`open_store`; subclasses differ only in how bytes move."""

    url: str
    writable = True

    def read_manifest(self) -> dict:
        raw = self._read_bytes(MANIFEST)
        if raw is None:
            return {"format": MANIFEST_FORMAT, "artifacts": []}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{self.where(MANIFEST)}: expected a JSON manifest; {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
            raise ArtifactError(f"{self.where(MANIFEST)}: expected an object with a list 'artifacts'")
        return data

    def where(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"

    @abc.abstractmethod
    def _read_bytes(self, rel: str) -> bytes | None:
        """The file's bytes, or None when the store has no such file."""

    @abc.abstractmethod
    def put_file(self, local: Path, rel: str) -> None:
        """Upload ``local`` as ``rel`` whole or not at all."""

    @abc.abstractmethod
    def write_manifest(self, data: dict) -> None:
        """Replace the manifest atomically."""

    @contextlib.contextmanager
    def manifest_lock(self) -> Iterator[None]:
        yield

    @abc.abstractmethod
    def fetch(self, rel: str, dest: Path, sha256: str, progress: bool) -> Path:
        """Download ``rel`` to ``dest`` (resuming, verified against ``sha256``, placed atomically)."""


class FsStore(Store):
    """A local folder or an fsspec file system (s3://, gs://, memory://, ...)."""

    def __init__(self, url: str):
        import fsspec

        self.url = str(url)
        parsed = urlparse(self.url)
        self.local = parsed.scheme in ("", "file")
        if self.local:
            self.root = str(Path(parsed.path if parsed.scheme == "file" else self.url).expanduser().resolve())
            self.fs = fsspec.filesystem("file")
        else:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
            self.root = self.root.rstrip("/")

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _read_bytes(self, rel: str) -> bytes | None:
        path = self._path(rel)
        try:
            with self.fs.open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactError(f"{self.where(rel)}: cannot read ({exc})") from None

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

        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, ".manifest.lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def fetch(self, rel: str, dest: Path, sha256: str, progress: bool) -> Path:
        from .download import download

        if self.local:
            return download(self._path(rel), dest, sha256=sha256, progress=progress)
        return _fetch_fsspec(self.fs, self._path(rel), self.where(rel), dest, sha256, progress)


class HttpStore(Store):
    """A read-only store behind an HTTP(S) base URL."""

    writable = False

    def __init__(self, url: str):
        self.url = str(url).rstrip("/")

    def _read_bytes(self, rel: str) -> bytes | None:
        import requests

        try:
            r = requests.get(self.where(rel), timeout=60)
        except requests.RequestException as exc:
            raise ArtifactError(f"{self.where(rel)}: cannot reach the store ({exc})") from None
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ArtifactError(f"{self.where(rel)}: expected HTTP 200; got {r.status_code} {r.reason}")
        return r.content

    def _refuse(self, *args, **kwargs):
        raise ArtifactError(f"{self.url}: an HTTP store is read only; publish to the folder or bucket it serves")

    put_file = write_manifest = _refuse

    def fetch(self, rel: str, dest: Path, sha256: str, progress: bool) -> Path:
        from .download import download

        return download(self.where(rel), dest, sha256=sha256, progress=progress)


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


def _fetch_fsspec(fs, path: str, where: str, dest: Path, sha256: str, progress: bool,
                  chunk: int = 1 << 20) -> Path:
    """Stream an fsspec file to ``dest`` with resume (seek past the partial file), checksum, atomic rename."""
    from .download import _bar

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and file_sha256(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    try:
        total = fs.size(path)
        if offset > total:
            offset = 0
        with fs.open(path, "rb") as src, open(part, "ab" if offset else "wb") as out, \
                _bar(total, offset, dest.name, progress) as bar:
            src.seek(offset)
            while block := src.read(chunk):
                out.write(block)
                bar.update(len(block))
    except FileNotFoundError:
        raise ArtifactError(f"{where}: the manifest names this file but the store does not hold it") from None
    found = file_sha256(part)
    if found != sha256:
        part.unlink()
        raise InputError(where, f"content with sha256 {sha256}", f"found {found}; nothing was kept")
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------------- publish


def pack_folder(folder: Path, dest: Path) -> Path:
    """A reproducible ``.tar.gz`` of a folder (sorted names, zero mtimes): same content, same sha256."""
    import gzip

    folder = Path(folder)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(folder.rglob("*")):
                if not path.is_file() or path.name.startswith("."):
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
    with st.manifest_lock():
        manifest = st.read_manifest()
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
    """Every manifest entry of a store, sorted by name then creation time."""
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
    """Download an artifact, verified by sha256, and return its path.

    ``to`` is the destination folder (default :func:`default_cache` /
    ``<name>/<version>``). A cut transfer resumes from the ``.part`` file on
    the next call. ``extract=True`` unpacks a ``.tar.gz`` artifact into
    ``<to>/<name>/`` (atomically) and returns that folder.
    """
    st = store if isinstance(store, Store) else open_store(store or default_store())
    entry = resolve_artifact(st.read_manifest()["artifacts"], name, version, where=st.where(MANIFEST))
    folder = Path(to) if to is not None else default_cache() / entry["name"] / entry["version"]
    dest = folder / entry["file"]
    part = dest.with_name(dest.name + ".part")
    had_part = part.exists()
    try:
        st.fetch(entry["path"], dest, entry["sha256"], progress)
    except InputError:
        if not had_part:
            raise
        # a partial file left by an interrupted fetch of another version: start once from scratch
        log.warning("%s: resumed content did not verify; fetching %s again from the start", dest, name)
        part.unlink(missing_ok=True)
        st.fetch(entry["path"], dest, entry["sha256"], progress)
    if extract:
        return _extract(dest, folder / entry["name"])
    return dest


def _extract(tar_path: Path, dest: Path) -> Path:
    if not tar_path.name.endswith((".tar.gz", ".tgz", ".tar")):
        raise ArtifactError(f"{tar_path}: expected a .tar.gz artifact to extract")
    stamp = dest / ".sha256"
    digest = file_sha256(tar_path)
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return dest
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        (tmp / ".sha256").write_text(digest + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
             ", ".join(sorted({str(lic.get("licence")) for lic in e.get("licences", [])})) or "-")
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

