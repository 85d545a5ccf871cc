"""What a hub-style server answers besides the files themselves: pages that are no JSON, refused access, server errors.

``pipeline.models.resolve_model`` fetches a model folder file by file; these tests play a server (the
``loopback_server`` fixture) that answers a config or tokenizer file with an HTML page, the weights with
401/403, or a file with 503 for good, and check that nothing wrong is handed over or marked complete.
"""
from __future__ import annotations

import functools
import json
import logging

import pytest

import pipeline.models as models
from pipeline.download import DownloadError
from pipeline.errors import InputError
from pipeline.models import COMPLETE, known_model_folder, resolve_model

REPO = "/org/tiny/resolve/main"
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in to continue</body></html>\n"
CONFIG = json.dumps({"model_type": "bert", "hidden_size": 2}).encode()


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
    with pytest.raises(InputError, match=r"expected model weights .*neither file is served \(model\.safetensors: "
                                         r"HTTP 404 Not Found, pytorch_model\.bin: HTTP 404 Not Found\)$"):
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
