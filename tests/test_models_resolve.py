"""What a hub-style server answers besides the files themselves: pages that are no JSON, refused access, server errors.

``pipeline.models.resolve_model`` fetches a model folder file by file; these tests play a server (the
``loopback_server`` fixture) that answers a config or tokenizer file with an HTML page, the weights with
401/403, or a file with 503 for good, and check that nothing wrong is handed over or marked complete.

Sharded safetensors weights (``model.safetensors.index.json`` and its shards, what the hub serves for a 7B
decoder) are fetched and checked, an index from a hostile server never writes outside the cache folder, and
a local sharded folder's identity covers every shard. The hub token (``huggingface_hub.get_token()``) goes
to the hub endpoint alone: two loopback servers play the hub (401 without the token) and its CDN (which
records the headers it got), and the token never reaches the CDN, another host, a message, a log or a file.
"""
from __future__ import annotations

import functools
import json
import re
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import pipeline.models as models
from pipeline.download import DownloadError
from pipeline.errors import InputError
from pipeline.models import COMPLETE, known_model_folder, resolve_model
from planted import Planted as _Planted

REPO = "/org/tiny/resolve/main"
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in to continue</body></html>\n"
CONFIG = json.dumps({"model_type": "bert", "hidden_size": 2}).encode()


@pytest.fixture(autouse=True)
def no_hub_token(tmp_path, monkeypatch):
    """No token from this machine's environment or ``huggingface-cli login`` file: each test gives its own."""
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-hf-home" / "token"))


@pytest.fixture
def hub(loopback_server, tmp_path, monkeypatch):
    """A served model folder (config, safetensors weights, tokenizer config, special tokens, card) at
    ``org/tiny``, ``$HF_ENDPOINT`` pointing at it; the downloader does not wait between its retries."""
    import torch
    from safetensors.torch import save_file

    repo = tmp_path / "hub" / REPO.strip("/")
    repo.mkdir(parents=True)
    (repo / "config.json").write_bytes(CONFIG)
    save_file({"w": torch.zeros(2)}, str(repo / "model.safetensors"))
    (repo / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    (repo / "special_tokens_map.json").write_text('{"mask_token": "[MASK]"}')
    (repo / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    loopback_server.root = tmp_path / "hub"
    monkeypatch.setenv("HF_ENDPOINT", loopback_server.url)
    monkeypatch.setattr(models, "download", functools.partial(models.download, backoff=0))
    loopback_server.repo = repo
    return loopback_server


def _resolve(tmp_path):
    return resolve_model("org/tiny", "main", tmp_path / "cache", progress=False)


def _cached(tmp_path):
    return tmp_path / "cache" / "org_tiny_main"


@pytest.mark.parametrize("name,body,found", [
    ("config.json", HTML, r"is not JSON: starts with '<!DOCTYPE html>.*an HTML page"),
    ("tokenizer_config.json", HTML, r"is not JSON: starts with '<!DOCTYPE html>"),
    ("tokenizer.json", b"  <html><body>Error 500</body></html>", r"is not JSON: starts with '<html>"),
    ("special_tokens_map.json", b"[1, 2]", r"is JSON but a list, not an object"),
    ("vocab.txt", HTML, r"starts with '<!DOCTYPE html>.*an HTML page"),
], ids=["config-html", "tokenizer-config-html", "tokenizer-html", "special-tokens-list", "vocab-html"])
def test_a_page_served_for_a_config_or_tokenizer_file_is_refused_and_fetched_again(hub, tmp_path, name, body,
                                                                                   found):
    hub.serve(f"{REPO}/{name}", body)
    with pytest.raises(InputError, match=rf"^{hub.url}{REPO}/{name}: expected .*; {found}.*the file was "
                                         r"removed: the next run fetches it again$") as err:
        _resolve(tmp_path)
    if name.endswith(".json"):
        assert "JSON" in str(err.value).split("; ")[0]  # what was expected: JSON
    if name == "config.json":  # refused before the weights are asked for
        assert f"{REPO}/model.safetensors" not in hub.paths
    folder = _cached(tmp_path)
    assert not (folder / name).exists() and not (folder / COMPLETE).exists()
    assert known_model_folder("org/tiny", "main", tmp_path / "cache") is None
    # the server mends: the next run asks for the file again, and the folder is complete
    good = CONFIG if name == "config.json" else b'{"ok": true}' if name.endswith(".json") else b"[UNK]\nthe\n"
    hub.serve(f"{REPO}/{name}", good)
    asked = hub.paths.count(f"{REPO}/{name}")
    assert _resolve(tmp_path) == folder and (folder / name).read_bytes() == good
    assert hub.paths.count(f"{REPO}/{name}") == asked + 1 and (folder / COMPLETE).is_file()


@pytest.mark.parametrize("status", [401, 403])
def test_weights_refused_say_access_was_refused_never_that_they_are_missing(hub, tmp_path, status):
    for w in ("model.safetensors", "pytorch_model.bin"):
        hub.serve(f"{REPO}/{w}", b"no", status=status)
    secret = "hf_s3cretTokenValue"
    base = hub.url.replace("://", f"://user:{secret}@") + REPO
    with pytest.raises(InputError, match=rf"expected model weights .*model\.safetensors: HTTP {status} .*"
                                         r"access was refused: a gated or private model") as err:
        resolve_model(base, "main", tmp_path / "c1", progress=False)
    assert "neither file is served" not in str(err.value)
    assert secret not in str(err.value) and "***" in str(err.value)  # the URL is named, its credentials not
    assert not any(p.name == COMPLETE for p in (tmp_path / "c1").rglob("*"))
    # the config refused too (a gated hub's first answer): the same words, not a bare "HTTP 401"
    hub.serve(f"{REPO}/config.json", b"no", status=status)
    with pytest.raises(InputError, match=rf"config\.json: expected .*HTTP {status} .*access was refused"):
        _resolve(tmp_path)


def test_weights_missing_still_say_so(hub, tmp_path):
    (hub.repo / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"expected model weights .*none is served \(model\.safetensors: "
                                         r"HTTP 404 Not Found, model\.safetensors\.index\.json: HTTP 404 Not Found, "
                                         r"pytorch_model\.bin: HTTP 404 Not Found\)$"):
        _resolve(tmp_path)


def test_an_optional_file_refused_counts_as_absent_as_a_store_without_listing_answers(hub, tmp_path):
    """S3 answers 403, not 404, for a key it lacks where listing is not public: the folder still resolves."""
    import torch

    (hub.repo / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, hub.repo / "pytorch_model.bin")
    hub.serve(f"{REPO}/model.safetensors", b"AccessDenied", status=403)
    hub.serve(f"{REPO}/tokenizer.json", b"AccessDenied", status=403)
    folder = _resolve(tmp_path)
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "tokenizer.json").exists()
    assert (folder / COMPLETE).is_file()


@pytest.mark.parametrize("name", ["special_tokens_map.json", "tokenizer_config.json", "model.safetensors"])
def test_a_server_error_on_a_file_that_changes_the_model_fails_the_resolve(hub, tmp_path, name):
    whole = (hub.repo / name).read_bytes()
    hub.serve(f"{REPO}/{name}", b"oops", status=503)
    with pytest.raises(DownloadError, match=rf"{REPO}/{name}: download failed .*HTTP 503 .*; {name} (can change|is "
                                            r"part of) the model: a server \(or network\) error, not a missing "
                                            r"file, so it is not skipped; run again later"):
        _resolve(tmp_path)
    folder = _cached(tmp_path)
    assert not (folder / name).exists() and not (folder / COMPLETE).exists()
    if name == "model.safetensors":  # a failed safetensors file is no reason to take the PyTorch one instead
        assert f"{REPO}/pytorch_model.bin" not in hub.paths
    hub.serve(f"{REPO}/{name}", whole)
    assert (_resolve(tmp_path) / name).read_bytes() == whole and (folder / COMPLETE).is_file()


def test_a_server_error_on_the_model_card_skips_it_and_asks_again_next_run(hub, tmp_path, caplog):
    card = (hub.repo / "README.md").read_bytes()
    hub.serve(f"{REPO}/README.md", b"oops", status=502)
    with caplog.at_level(logging.WARNING, logger="pipeline.models"):
        folder = _resolve(tmp_path)
    assert (folder / "special_tokens_map.json").is_file() and not (folder / "README.md").exists()
    assert any("HTTP 502" in r.getMessage() and "model card is skipped" in r.getMessage() for r in caplog.records)
    assert not (folder / COMPLETE).exists()  # so that the card is asked for again
    hub.serve(f"{REPO}/README.md", card)
    assert (_resolve(tmp_path) / "README.md").read_bytes() == card and (folder / COMPLETE).is_file()


def test_an_optional_file_refused_otherwise_than_absent_fails_the_resolve(hub, tmp_path):
    """A redirect the downloader refuses is no "not there": the tokenizer would silently be another."""
    hub.serve(f"{REPO}/tokenizer.json", b"", status=302, headers={"Location": "ftp://example.org/tokenizer.json"})
    with pytest.raises(InputError, match=r"tokenizer\.json: expected redirects to http\(s\) URLs only"):
        _resolve(tmp_path)
    assert not (_cached(tmp_path) / COMPLETE).exists()


# ------------------------------------------------------------------------------ sharded safetensors weights

SHARDED = "/org/big/resolve/main"
INDEX = "model.safetensors.index.json"


def _tiny_llama():
    """A tiny Llama of seeded weights, untied head (the model of both sharded fixtures)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
                      tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def sharded_model(tmp_path_factory):
    """A tiny Llama saved the way transformers saves a 7B one: ``model.safetensors.index.json`` and 4 shards."""
    folder = tmp_path_factory.mktemp("sharded") / "model"
    _tiny_llama().save_pretrained(folder, max_shard_size="8KB")
    assert not (folder / "model.safetensors").exists() and len(_shards(folder)) > 1
    return folder


@pytest.fixture(scope="module")
def legacy_sharded(tmp_path_factory):
    """The same Llama as older 7B checkpoints came: ``pytorch_model.bin.index.json`` and two ``.bin`` shards (what
    ``from_pretrained`` reads from a folder without safetensors weights and without ``pytorch_model.bin``)."""
    import torch

    folder = tmp_path_factory.mktemp("legacy") / "model"
    model = _tiny_llama()
    model.config.save_pretrained(folder)
    state = model.state_dict()
    names = sorted(state)
    weight_map = {}
    for i, part in enumerate((names[:len(names) // 2], names[len(names) // 2:]), 1):
        shard = f"pytorch_model-0000{i}-of-00002.bin"
        torch.save({k: state[k].clone() for k in part}, folder / shard)
        weight_map.update(dict.fromkeys(part, shard))
    (folder / models.LEGACY_INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


@pytest.fixture
def big(hub, sharded_model):
    """The ``hub`` server serving the sharded model too, at ``org/big`` (``big.big``: its folder there)."""
    import shutil

    hub.big = hub.root / SHARDED.strip("/")
    shutil.copytree(sharded_model, hub.big)
    return hub


def _shards(folder):
    return sorted(p.name for p in folder.glob("model-*.safetensors"))


def _legacy_shards(folder):
    return sorted(p.name for p in folder.glob("pytorch_model-*.bin"))


def _resolve_big(tmp_path, cache="cache"):
    return resolve_model("org/big", "main", tmp_path / cache, progress=False)


def _asked(server, repo=SHARDED):
    return [p.rsplit("/", 1)[-1] for p in server.paths if p.startswith(repo + "/")]


def test_sharded_safetensors_weights_are_fetched_shard_by_shard_and_load(big, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    folder = _resolve_big(tmp_path)
    shards = _shards(big.big)
    assert _shards(folder) == shards and (folder / INDEX).is_file() and (folder / COMPLETE).is_file()
    assert (folder / INDEX).read_bytes() == (big.big / INDEX).read_bytes()
    asked = _asked(big)
    # from_pretrained's order: model.safetensors (404 here), then the index and each of its shards once;
    # pytorch_model.bin is never asked for
    assert asked[:3 + len(shards)] == ["config.json", "model.safetensors", INDEX, *shards]
    assert "pytorch_model.bin" not in asked and all(asked.count(s) == 1 for s in shards)
    got = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    want = AutoModelForCausalLM.from_pretrained(big.big).state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    n = len(big.paths)
    assert _resolve_big(tmp_path) == folder and len(big.paths) == n  # complete: nothing is asked for again
    assert known_model_folder("org/big", "main", tmp_path / "cache") == folder


def test_model_safetensors_comes_before_the_index_and_the_index_before_pytorch_model_bin(big, tmp_path):
    import torch

    (big.big / "model.safetensors").write_bytes((big.repo / "model.safetensors").read_bytes())
    folder = _resolve_big(tmp_path)
    assert (folder / "model.safetensors").is_file() and not _shards(folder) and not (folder / INDEX).exists()
    assert INDEX not in _asked(big) and "pytorch_model.bin" not in _asked(big)
    (big.big / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, big.big / "pytorch_model.bin")
    folder = _resolve_big(tmp_path, "c2")
    assert _shards(folder) == _shards(big.big) and not (folder / "pytorch_model.bin").exists()
    assert "pytorch_model.bin" not in _asked(big)


@pytest.mark.parametrize("index,found", [
    ({"weight_map": {"w": "../escaped.safetensors"}}, r"tensor 'w' maps to '\.\./escaped\.safetensors'; refused"),
    ({"weight_map": {"w": "ABS/escaped.safetensors"}}, r"tensor 'w' maps to '/[^;]*; refused"),
    ({"weight_map": {"w": "sub/escaped.safetensors"}}, r"tensor 'w' maps to 'sub/escaped\.safetensors'; refused"),
    ({"weight_map": {"w": "escaped..safetensors"}}, r"tensor 'w' maps to 'escaped\.\.safetensors'; refused"),
    ({"weight_map": {"w": ".escaped.safetensors"}}, r"tensor 'w' maps to '\.escaped\.safetensors'; refused"),
    ({"weight_map": {"w": "escaped.safetensors?x=1"}}, r"tensor 'w' maps to 'escaped\.safetensors\?x=1'; refused"),
    ({"weight_map": {"w": "escaped.bin"}}, r"tensor 'w' maps to 'escaped\.bin'; refused"),
    ({"weight_map": {"w": 3}}, r"tensor 'w' maps to 3, not a file name"),
    ({"weight_map": ["escaped.safetensors"]}, r"its weight_map is a list, not an object"),
    ({"weight_map": {}}, r"its weight_map is empty"),
    ({"metadata": {}}, r"has no weight_map"),
], ids=["dotdot", "absolute", "subfolder", "double-dot", "hidden", "query", "not-safetensors", "not-a-string",
        "list", "empty", "no-map"])
def test_an_index_from_the_server_never_names_a_file_outside_the_cache_folder(big, tmp_path, index, found):
    text = json.dumps(index).replace("ABS", str(tmp_path))
    (big.big / INDEX).write_text(text)
    with pytest.raises(InputError, match=rf"^{big.url}{SHARDED}/{INDEX}: expected a safetensors index.*; {found}"
                                         r".*the file was removed: the next run fetches it again$"):
        _resolve_big(tmp_path)
    assert not [n for n in _asked(big) if n.endswith(".safetensors") and n != "model.safetensors"]  # no shard
    assert not [p for p in tmp_path.rglob("*escaped*")]  # nothing written for a refused name, anywhere
    folder = tmp_path / "cache" / "org_big_main"
    assert not (folder / INDEX).exists() and not (folder / COMPLETE).exists()


def test_an_index_that_is_no_json_object_is_refused_and_fetched_again(big, tmp_path):
    good = (big.big / INDEX).read_bytes()
    (big.big / INDEX).write_text('["model-00001-of-00004.safetensors"]')
    with pytest.raises(InputError, match=rf"{SHARDED}/{INDEX}: expected a JSON object .*is JSON but a list"):
        _resolve_big(tmp_path)
    (big.big / INDEX).write_bytes(good)
    assert _shards(_resolve_big(tmp_path)) == _shards(big.big)


@pytest.mark.parametrize("status", [404, 403])
def test_a_shard_the_index_names_but_the_server_lacks_fails_the_resolve(big, tmp_path, status):
    last = _shards(big.big)[-1]
    big.serve(f"{SHARDED}/{last}", b"no", status=status)
    said = (r"HTTP 404 Not Found, but model\.safetensors\.index\.json maps \d+ tensors to this shard: the "
            r"repository's weights are incomplete$") if status == 404 else r"HTTP 403 .*access was refused"
    with pytest.raises(InputError, match=rf"^{big.url}{SHARDED}/{last}: expected a URL that serves the file; {said}"):
        _resolve_big(tmp_path)
    assert not (tmp_path / "cache" / "org_big_main" / COMPLETE).exists()
    assert "pytorch_model.bin" not in _asked(big)  # sharded weights named are no reason to take others


def test_a_shard_without_a_tensor_its_index_maps_to_it_is_named_and_fetched_again(big, tmp_path):
    index = json.loads((big.big / INDEX).read_text())
    first = _shards(big.big)[0]
    index["weight_map"]["model.extra.weight"] = first
    (big.big / INDEX).write_text(json.dumps(index))
    folder = tmp_path / "cache" / "org_big_main"
    with pytest.raises(InputError, match=rf"^{folder / first}: expected every tensor model\.safetensors\.index\.json "
                                         r"maps to this shard; 1 of its \d+ are not in it \(such as "
                                         r"'model\.extra\.weight'\).*the file was removed: the next run fetches it"):
        _resolve_big(tmp_path)
    assert not (folder / first).exists() and not (folder / COMPLETE).exists()
    # a shard cut short is named as such too
    del index["weight_map"]["model.extra.weight"]
    (big.big / INDEX).write_text(json.dumps(index))
    (folder / INDEX).unlink()
    whole = (big.big / first).read_bytes()
    (big.big / first).write_bytes(whole[:-64])
    with pytest.raises(InputError, match=rf"{first}: expected a complete safetensors file"):
        _resolve_big(tmp_path)
    (big.big / first).write_bytes(whole)
    assert (_resolve_big(tmp_path) / first).read_bytes() == whole and (folder / COMPLETE).is_file()


@pytest.mark.parametrize("which", ["index", "shard"])
def test_a_server_error_on_the_index_or_a_shard_fails_the_resolve(big, tmp_path, which):
    name = INDEX if which == "index" else _shards(big.big)[1]
    whole = (big.big / name).read_bytes()
    big.serve(f"{SHARDED}/{name}", b"oops", status=503)
    with pytest.raises(DownloadError, match=rf"{SHARDED}/{name}: download failed .*HTTP 503 .*; {name} is part of "
                                            r"the model: a server \(or network\) error, not a missing file"):
        _resolve_big(tmp_path)
    assert "pytorch_model.bin" not in _asked(big)
    big.serve(f"{SHARDED}/{name}", whole)
    assert _shards(_resolve_big(tmp_path)) == _shards(big.big)


def test_only_sharded_pytorch_weights_are_refused_saying_so(hub, tmp_path):
    (hub.repo / "model.safetensors").unlink()
    (hub.repo / "pytorch_model.bin.index.json").write_text(
        json.dumps({"weight_map": {"w": "pytorch_model-00001-of-00001.bin"}}))
    with pytest.raises(InputError, match=r"expected model weights .*; model\.safetensors: HTTP 404 Not Found, .*; "
                                         r"only sharded PyTorch weights \(pytorch_model\.bin\.index\.json\) are "
                                         r"served, which are not fetched: convert them to safetensors"):
        _resolve(tmp_path)
    assert not [p.name for p in _cached(tmp_path).iterdir() if p.name.startswith("pytorch_model")]
    assert not (_cached(tmp_path) / COMPLETE).exists()


def _layout(request, layout):
    """The sharded folder of ``layout`` (safetensors, or PyTorch ``.bin`` shards as older checkpoints came), its
    index's name, its shard names, and a function that rewrites a shard with the same tensors of other values."""
    import torch
    from safetensors.torch import load_file, save_file

    if layout == "safetensors":
        def other_values(path):
            save_file({k: v + 1 for k, v in load_file(path).items()}, str(path), metadata={"format": "pt"})

        return request.getfixturevalue("sharded_model"), INDEX, _shards, other_values

    def other_values(path):
        torch.save({k: v + 1 for k, v in torch.load(path, weights_only=True).items()}, path)

    return request.getfixturevalue("legacy_sharded"), models.LEGACY_INDEX, _legacy_shards, other_values


@pytest.mark.parametrize("layout", ["safetensors", "pytorch"])
def test_a_local_sharded_folder_resolves_and_its_identity_covers_the_index_and_every_shard(request, layout, tmp_path):
    """For PyTorch shards (read by from_pretrained where a folder has no safetensors weights and no
    pytorch_model.bin), the identity once left the shards out: new weights under the same names kept the stage
    ids, and the old outputs were reused as if built from them."""
    import os
    import shutil

    from transformers import AutoModelForCausalLM

    from pipeline.models import model_source_identity

    source, index_name, shards, other_values = _layout(request, layout)
    folder = tmp_path / "local"
    shutil.copytree(source, folder)
    assert resolve_model(str(folder)) == folder
    assert AutoModelForCausalLM.from_pretrained(folder).config.vocab_size == 64
    first = model_source_identity(str(folder))
    seen = {first["files"]}
    for name in [index_name, *shards(folder)]:  # a change to any of them is another source model
        path = folder / name
        keep = path.read_bytes()
        if name == index_name:
            path.write_text(json.dumps(json.loads(keep) | {"metadata": {"total_size": 1}}))
        else:  # the same tensors with other values: a shard that still checks
            other_values(path)
        os.utime(path, ns=(1, 1))
        now = model_source_identity(str(folder))["files"]
        assert now not in seen, name
        seen.add(now)
        path.write_bytes(keep)
    assert model_source_identity(str(folder)) == first


@pytest.mark.parametrize("layout", ["safetensors", "pytorch"])
def test_a_local_sharded_folder_with_a_shard_missing_or_short_of_a_tensor_is_named_and_left_alone(request, layout,
                                                                                               tmp_path):
    import shutil

    source, index_name, shards, _ = _layout(request, layout)
    folder = tmp_path / "local"
    shutil.copytree(source, folder)
    last = shards(folder)[-1]
    kept = (folder / last).rename(tmp_path / last)
    with pytest.raises(InputError, match=rf"^{folder / last}: expected a shard {re.escape(index_name)} maps "
                                         r"\d+ tensors to; no such file; the sharded weights are incomplete$"):
        resolve_model(str(folder))
    kept.rename(folder / last)
    index = json.loads((folder / index_name).read_text())
    index["weight_map"]["model.extra.weight"] = last
    (folder / index_name).write_text(json.dumps(index))
    with pytest.raises(InputError, match=rf"^{folder / last}: expected every tensor {re.escape(index_name)} maps to "
                                         r"this shard; 1 of its \d+ are not in it .*'model\.extra\.weight'"):
        resolve_model(str(folder))
    index["weight_map"].pop("model.extra.weight")
    (folder / index_name).write_text(json.dumps(index))
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in source.iterdir())  # untouched


def test_a_folder_without_shards_keeps_its_identity(hub):
    """The identity a single-file folder had before sharded weights were known: the same files, the same hash."""
    from pipeline.identity import fingerprint_paths
    from pipeline.models import model_source_identity

    folder = hub.repo
    before = {"model": str(folder), "files": fingerprint_paths(
        [folder / n for n in ("config.json", "model.safetensors", "special_tokens_map.json",
                              "tokenizer_config.json")])}
    assert model_source_identity(str(folder)) == before
    # an index beside model.safetensors is not what from_pretrained reads: no part of the identity
    (folder / INDEX).write_text(json.dumps({"weight_map": {"w": "model-00001-of-00002.safetensors"}}))
    assert model_source_identity(str(folder)) == before


# ------------------------------------------------------------------------------ the hub token

TOKEN = "hf_TestTokenThatMustNotLeak0123456789"


class _Recorder:
    """A loopback HTTP server: GET answers ``answer(path, headers) -> (status, headers, body[, reason])``; each
    request's path and headers (lower-case names) are recorded in ``seen``."""

    def __init__(self, answer):
        self.seen: list[tuple[str, dict]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with lock:
                    outer.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body, *reason = answer(self.path, self.headers)
                self.send_response(status, *reason)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Gated:
    """The hub (401 without ``Authorization: Bearer <token>``, the weights redirected to ``cdn_base`` with a
    signed URL) and a CDN (serves any file of the repository, records what it was sent)."""

    GATED = "/org/gated/resolve/main/"

    def __init__(self, repo):
        self.repo = repo
        self.token = TOKEN
        self.refuse = 401  # what the hub answers a request without the right token
        self.echo = False  # the hub repeats the Authorization it got in its reason phrase (a careless server)
        self.cdn = _Recorder(lambda path, headers: self._file(path, headers))
        self.hub = _Recorder(lambda path, headers: self._hub(path, headers))  # (a test may replace _hub)
        self.cdn_base = self.cdn.url

    def _file(self, path, headers):
        f = self.repo / path.split("?", 1)[0].rsplit("/", 1)[-1]
        return (200, {}, f.read_bytes()) if f.is_file() else (404, {}, b"")

    def _hub(self, path, headers):
        if path.startswith("/signed/"):  # the CDN on the hub's port, under another name (localhost)
            return self._file(path, headers)
        if headers.get("Authorization") != f"Bearer {self.token}":
            reason = f"Unauthorized ({headers.get('Authorization')})" if self.echo else "Unauthorized"
            return self.refuse, {}, b"Access to model org/gated is restricted.", reason
        if not path.startswith(self.GATED):
            return 404, {}, b""
        if path.endswith("/model.safetensors"):
            return 302, {"Location": f"{self.cdn_base}/signed/model.safetensors?X-Amz-Signature=0a1b2c"}, b""
        return self._file(path, headers)

    def close(self):
        self.hub.close()
        self.cdn.close()


@pytest.fixture
def gated(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    repo = tmp_path / "served"
    repo.mkdir()
    (repo / "config.json").write_bytes(CONFIG)
    save_file({"w": torch.arange(4.0)}, str(repo / "model.safetensors"))
    (repo / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    (repo / "README.md").write_text("---\nlicense: llama3\n---\n# gated\n")
    servers = _Gated(repo)
    monkeypatch.setenv("HF_ENDPOINT", servers.hub.url)
    monkeypatch.setattr(models, "download", functools.partial(models.download, backoff=0))
    yield servers
    servers.close()


def _assert_no_token(tmp_path, caplog, *texts, token=TOKEN):
    assert token not in caplog.text and not [r for r in caplog.records if token in r.getMessage()]
    assert not [t for t in texts if token in str(t)]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def _on_cdn(gated):
    return [h for p, h in gated.cdn.seen + gated.hub.seen if p.startswith("/signed/")]


@pytest.mark.parametrize("target", ["cross-port", "cross-host", "cross-host-and-port"])
def test_the_hub_token_goes_to_the_hub_and_never_across_its_redirect_to_the_cdn(gated, tmp_path, monkeypatch,
                                                                               caplog, target):
    from pipeline.inputs import model_record
    from pipeline.models import model_source_identity

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    gated.cdn_base = {"cross-port": gated.cdn.url, "cross-host": f"http://localhost:{gated.hub.port}",
                      "cross-host-and-port": f"http://localhost:{gated.cdn.port}"}[target]
    with caplog.at_level(logging.DEBUG):
        folder = resolve_model("org/gated", "main", tmp_path / "cache", progress=False)
    assert (folder / "model.safetensors").read_bytes() == (gated.repo / "model.safetensors").read_bytes()
    assert (folder / COMPLETE).is_file() and (folder / "README.md").is_file()
    to_hub = [h for p, h in gated.hub.seen if not p.startswith("/signed/")]
    assert len(to_hub) > 5 and all(h.get("authorization") == f"Bearer {TOKEN}" for h in to_hub)
    on_cdn = _on_cdn(gated)
    assert len(on_cdn) == 1 and "authorization" not in on_cdn[0]  # the signed URL alone lets the CDN serve it
    ident = model_source_identity("org/gated", "main")  # what the stage id holds for a hub model
    record = model_record("org/gated", "main", ident, known_model_folder("org/gated", "main", tmp_path / "cache"))
    assert record.licence == "llama3"
    _assert_no_token(tmp_path, caplog, json.dumps(ident), repr(record))


def test_the_token_from_huggingface_cli_login_is_sent_too(gated, tmp_path, monkeypatch):
    import huggingface_hub.constants

    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(TOKEN + "\n")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    folder = resolve_model("org/gated", "main", tmp_path / "cache", progress=False)
    assert (folder / COMPLETE).is_file() and "authorization" not in _on_cdn(gated)[0]
    # an explicit URL on the hub's own scheme, host and port is the hub too
    folder = resolve_model(f"{gated.hub.url}/org/gated/resolve/main", "main", tmp_path / "c2", progress=False)
    assert (folder / COMPLETE).is_file()


def test_without_a_token_a_gated_model_says_how_to_give_the_hub_one(gated, tmp_path, caplog):
    with pytest.raises(InputError, match=r"config\.json: expected .*HTTP 401 Unauthorized: access was refused: a "
                                         r"gated or private model.*no hub token was sent: give the hub one as "
                                         r"\$HF_TOKEN or with `huggingface-cli login`"):
        resolve_model("org/gated", "main", tmp_path / "cache", progress=False)
    assert all("authorization" not in h for _, h in gated.hub.seen)


@pytest.mark.parametrize("status", [401, 403])
def test_a_token_the_hub_refuses_says_so_and_never_shows_it(gated, tmp_path, monkeypatch, caplog, status):
    """A token of an account that has not accepted the licence (403), or a wrong one (401); the hub here
    repeats the header it got in its answer, and still the token is in no message, log or file."""
    wrong = "hf_WrongTokenOfAnotherAccount987654"
    monkeypatch.setenv("HF_TOKEN", wrong)
    gated.refuse, gated.echo = status, True
    with caplog.at_level(logging.DEBUG), pytest.raises(InputError) as err:
        resolve_model("org/gated", "main", tmp_path / "cache", progress=False)
    text = str(err.value)
    assert f"config.json: expected a URL that serves the file; HTTP {status} Unauthorized (Bearer ***)" in text
    assert "the hub token that was sent (from $HF_TOKEN or `huggingface-cli login`) was refused: accept the " \
           "licence on the model's page with the account the token belongs to" in text
    assert gated.hub.seen[0][1]["authorization"] == f"Bearer {wrong}"
    _assert_no_token(tmp_path, caplog, text, repr(err.value.args), err.value.found, token=wrong)


def test_a_hub_that_echoes_the_token_in_a_server_error_gets_it_into_no_log(gated, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    answer = gated._hub

    def card_fails(path, headers):  # the card: 503 for good, the header repeated in the reason phrase
        if path.endswith("/README.md"):
            return 503, {}, b"", f"Unavailable for {headers.get('Authorization')}"
        return answer(path, headers)

    gated._hub = card_fails
    with caplog.at_level(logging.DEBUG):
        folder = resolve_model("org/gated", "main", tmp_path / "cache", progress=False)
    assert (folder / "model.safetensors").is_file() and not (folder / COMPLETE).exists()
    said = [r.getMessage() for r in caplog.records if "HTTP 503" in r.getMessage()]
    assert any("model card is skipped" in m and "Bearer ***" in m for m in said)
    assert any("resuming" in m for m in said)  # the downloader's retries, logged: scrubbed as well
    _assert_no_token(tmp_path, caplog)


def test_no_token_goes_to_another_host_than_the_hub(gated, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    folder = resolve_model(f"{gated.cdn.url}/mirror/org/gated/resolve/main", "main", tmp_path / "c", progress=False)
    assert (folder / COMPLETE).is_file() and gated.cdn.seen
    assert all("authorization" not in h for _, h in gated.cdn.seen) and not gated.hub.seen
    hub = gated.hub.url
    assert models._hub_token(f"{hub}/org/x/resolve/main") == TOKEN
    for base in (f"{gated.cdn.url}/org/x/resolve/main",  # the same host, another port
                 f"http://localhost:{gated.hub.port}/org/x/resolve/main",  # another name for the same address
                 hub.replace("http://", "https://") + "/org/x/resolve/main",  # another scheme
                 hub.replace("://", "://user:pass@") + "/org/x/resolve/main"):  # credentials of its own
        assert models._hub_token(base) is None, base
    monkeypatch.delenv("HF_ENDPOINT")
    assert models._hub_token(f"{hub}/org/x/resolve/main") is None
    assert models._hub_token("https://huggingface.co/org/x/resolve/main") == TOKEN
    assert models._hub_token("https://HuggingFace.co:443/org/x/resolve/main") == TOKEN
    for base in ("http://huggingface.co/org/x", "https://huggingface.co:8443/org/x", "https://huggingface.co.example/x",
                 "https://cdn-lfs.huggingface.co/x"):
        assert models._hub_token(base) is None, base
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    assert models._hub_token("https://huggingface.co/org/x/resolve/main") is None


# ------------------------------------------------------------------------------ a bound on every file but the weights

MiB = 1 << 20


def test_every_file_but_the_weights_is_fetched_with_its_bound_from_one_table(big, tmp_path, monkeypatch):
    """MAX_FILE_SIZE names each file the resolve asks for besides the weights, with a generous bound; the weights
    (one file or shards) go unbounded, their headers checked instead."""
    table = models.MAX_FILE_SIZE
    fetched = {"config.json", *models.OPTIONAL, *models.FETCHED_ALSO, models.CARD, models.SAFETENSORS_INDEX,
               models.LEGACY_INDEX}
    assert set(table) == fetched and not set(table) & set(models.WEIGHTS)
    assert table["config.json"] == table["README.md"] == table["chat_template.jinja"] == 16 * MiB
    assert table[models.SAFETENSORS_INDEX] == 64 * MiB
    assert min(table[n] for n in ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.txt")) >= 256 * MiB
    seen: dict[str, object] = {}
    fetch = models.download

    def spy(url, dest, **kw):
        seen[str(url).rsplit("/", 1)[-1]] = kw.get("max_size")
        return fetch(url, dest, **kw)

    monkeypatch.setattr(models, "download", spy)
    _resolve(tmp_path)
    _resolve_big(tmp_path)
    shards = _shards(big.big)
    assert {n for n in seen if n not in shards and n != "model.safetensors"} <= set(table)
    for name, bound in seen.items():
        assert bound == table.get(name), name
    assert seen["model.safetensors"] is None and all(seen[s] is None for s in shards)
    assert seen["config.json"] == 16 * MiB and seen[INDEX] == 64 * MiB


@pytest.mark.parametrize("name, how", [("config.json", "endless"), ("tokenizer.json", "endless"),
                                       ("special_tokens_map.json", "announced"), ("README.md", "no length")],
                         ids=["config-endless", "tokenizer-endless", "special-tokens-announced", "card-no-length"])
def test_a_file_longer_than_its_bound_fails_the_resolve_and_nothing_is_kept(hub, tmp_path, monkeypatch, name, how):
    """A hostile or broken server streaming an endless config or tokenizer file cannot fill the disk."""
    monkeypatch.setitem(models.MAX_FILE_SIZE, name, 4096)  # the mechanism, not 16 MiB of test traffic
    body = b'{"a": "' + b"x" * 10_000 + b'"}'
    options = {"endless": {"endless": True}, "announced": {"length": 10 << 30}, "no length": {"length": False}}[how]
    hub.serve(f"{REPO}/{name}", b"{" if how == "endless" else body, **options)
    found = "the server announces 10737418240" if how == "announced" else "the source holds more"
    with pytest.raises(InputError, match=rf"^{hub.url}{REPO}/{name}: expected at most 4096 bytes \(max_size\); "
                                         rf"{found}; nothing was kept$"):
        _resolve(tmp_path)
    folder = _cached(tmp_path)
    assert not list(folder.glob(f"{name}*")) and not (folder / COMPLETE).exists()
    hub.serve(f"{REPO}/{name}", CONFIG)  # mended: the next run fetches it, within its bound
    assert (_resolve(tmp_path) / name).read_bytes() == CONFIG and (folder / COMPLETE).is_file()


def test_an_endless_safetensors_index_is_cut_at_its_bound(big, tmp_path, monkeypatch):
    monkeypatch.setitem(models.MAX_FILE_SIZE, INDEX, 8192)
    big.serve(f"{SHARDED}/{INDEX}", b'{"weight_map": {', endless=True)
    with pytest.raises(InputError, match=rf"{INDEX}: expected at most 8192 bytes \(max_size\); the source holds "
                                         r"more; nothing was kept$"):
        _resolve_big(tmp_path)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.startswith(INDEX) or p.name == COMPLETE]
    assert not [n for n in _asked(big) if n.startswith("model-")]  # no shard asked for


def test_an_html_page_labelled_so_for_a_model_file_is_refused_by_the_downloader(hub, tmp_path):
    """Served as text/html, a login page for config.json or a tokenizer file never reaches the folder: the
    downloader names it (the check of the file as saved stays for pages served without that label)."""
    for name in ("config.json", "vocab.txt"):
        hub.serve(f"{REPO}/{name}", HTML, headers={"Content-Type": "text/html; charset=utf-8"})
        with pytest.raises(InputError, match=rf"^{hub.url}{REPO}/{name}: expected the file the URL names; got an "
                                             r"HTML page \(Content-Type text/html, titled 'Sign in'\), not the file"):
            _resolve(tmp_path)
        folder = _cached(tmp_path)
        assert not list(folder.glob(f"{name}*")) and not (folder / COMPLETE).exists()
        hub.serve(f"{REPO}/{name}", CONFIG if name == "config.json" else b"[UNK]\n", headers={})
    assert (_resolve(tmp_path) / COMPLETE).is_file()


def test_a_pytorch_shard_is_read_as_tensors_only_and_named_by_a_plain_file_name(legacy_sharded, tmp_path):
    """A shard the index names, whatever its name, is checked as tensors only: its pickle is never run; a shard
    name that leaves the folder is refused."""
    import pickle
    import shutil

    folder = tmp_path / "local"
    shutil.copytree(legacy_sharded, folder)
    last = _legacy_shards(folder)[-1]
    index = json.loads((folder / models.LEGACY_INDEX).read_text())
    # a shard named by the index whatever its name: checked as tensors only, its pickle never run
    index["weight_map"] = {k: ("weights-a.bin" if v == last else v) for k, v in index["weight_map"].items()}
    (folder / models.LEGACY_INDEX).write_text(json.dumps(index))
    sentinel = tmp_path / "ran"
    (folder / "weights-a.bin").write_bytes(pickle.dumps(_Planted(sentinel)))
    with pytest.raises(InputError, match=rf"^{folder / 'weights-a.bin'}: expected model weights as safetensors, or a "
                                         "PyTorch file of tensors only"):
        resolve_model(str(folder))
    assert not sentinel.exists()
    index["weight_map"] = {k: "../outside.bin" for k in index["weight_map"]}
    (folder / models.LEGACY_INDEX).write_text(json.dumps(index))
    with pytest.raises(InputError, match=r"plain file names ending \.bin"):
        resolve_model(str(folder))
