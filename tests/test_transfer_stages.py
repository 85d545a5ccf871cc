"""The transfer stage functions without luigi: a tiny BERT, word-mode WECHSEL, continued pretraining."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tinymodels import english_lines, tiny_model


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Corpora whose target side is English text too, parallel held-out verses, and aligned word vectors in
    which a word has one vector in both languages: WECHSEL can find every subword's true neighbour."""
    from pipeline.multilingual import Alignment, save_mapping
    from pipeline.vectors import make_keyed_vectors, save_vectors

    root = tmp_path_factory.mktemp("transfer")
    lines = english_lines()
    held = lines[:20]
    verses = "ref\ttext\n" + "".join(f"Held 1:{i + 1}\t{ln}\n" for i, ln in enumerate(held))
    for name, lang, text in (("lee_en", "en", lines[20:150]), ("lee_es", "es", lines[150:])):
        d = root / "corpora" / name
        d.mkdir(parents=True)
        (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: {lang}\nlicence: test licence\nsource: gensim\n"
                                       "files: '*.txt'\n")
        (d / "text.txt").write_text("\n".join(text) + "\n")
        (d / "held.txt").write_text("\n".join(held) + "\n")
        (d / "verses.tsv").write_text(verses)
    counts = Counter(w.lower() for line in lines for w in line.split() if w.isalpha())
    words = [w for w, _ in counts.most_common(3000)]
    vectors = np.random.default_rng(0).standard_normal((len(words), 16)).astype(np.float32)
    aligned = root / "aligned"
    for lang in ("en", "es"):
        save_vectors(make_keyed_vectors(words, vectors, [counts[w] for w in words]), aligned / lang)
        save_mapping(Alignment.identity(16), aligned / f"mapping.{lang}-en.npy")
    return root, tiny_model("bert", root / "tiny-bert", seed=3), aligned


def _settings(model: Path):
    from pipeline.transfer.spec import (EvaluationSpec, PretrainingSpec, SourceModelSpec, TargetSpec,
                                        TokenizerTrainSpec, TransferSpec, WechselSpec)

    return TransferSpec(SourceModelSpec(model=str(model)),
                        TargetSpec("es", corpora=("lee_es",), holdout=("held.txt",)), "es",
                        tokenizer=TokenizerTrainSpec(vocab_size=500), wechsel=WechselSpec(mode="word", neighbors=5),
                        evaluation=EvaluationSpec("lee_en", "lee_es", ("Held",)),
                        pretraining=PretrainingSpec(steps=2, batch_size=2, seq_len=32, checkpoint_every=1,
                                                    device="cpu", log_every=0))


def test_transfer_and_pretraining_stage_functions(project, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from pipeline.errors import InputError
    from pipeline.transfer.stages import (AlignedInput, PretrainInputs, TransferInputs, build_pretrained,
                                          build_transfer)

    root, model, aligned = project
    (model / "README.md").write_text("---\nlicense: MIT\n---\n# a tiny BERT\n")  # the source's own card
    settings = _settings(model)
    inputs = TransferInputs(AlignedInput(aligned, source="es", pivot="en", lowercase=True), corpora=root / "corpora",
                            downloads=tmp_path / "downloads")
    out = tmp_path / "transfer"
    out.mkdir()
    torch.manual_seed(0)
    m = build_transfer(settings, inputs, out, threads=1)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(m))
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert AutoModel.from_pretrained(out / "model").config.vocab_size == len(tok) <= 500
    assert m["target_subwords_matched"] > 0.8 * len(tok) and m["retrieval_pairs"] == 20
    # the English model reads the same verses as itself; WECHSEL's initialisation is far better than random
    assert m["retrieval_mrr-english_model"] == pytest.approx(1.0)
    assert m["retrieval_mrr-wechsel"] > m["retrieval_mrr-random_init"] + 0.2, m
    card = (out / "model" / "README.md").read_text()
    assert "test licence" in card  # the target corpus's licence
    assert "\nlicense: mit\n" in card.split("\n---\n")[0] and "its licence (MIT) applies" in card  # the source's
    assert set(np.load(out / "neighbours.npz")) == {"neighbours", "weights", "similarities", "fallback", "copied"}
    with pytest.raises(InputError, match=r"source language is 'es'.*maps 'de' into 'en'"):
        build_transfer(settings, TransferInputs(AlignedInput(aligned, source="de", pivot="en", lowercase=True),
                                                corpora=root / "corpora", downloads=tmp_path / "d"), tmp_path)

    pre = PretrainInputs(out, corpora=root / "corpora", downloads=tmp_path / "downloads", work_dir=tmp_path / "work")
    p_out = tmp_path / "pretrain"
    p_out.mkdir()
    # this source had its MLM head: a head warm-up would train nothing for its steps
    headed = dataclasses.replace(settings, pretraining=dataclasses.replace(settings.pretraining, head_warmup_steps=1))
    with pytest.raises(InputError, match="head_warmup_steps 0 for a source model whose folder had its head"):
        build_pretrained(headed, pre, p_out, threads=1)
    assert not any(p_out.iterdir()) and not (tmp_path / "work").exists()
    pm = build_pretrained(settings, pre, p_out, threads=1)
    assert json.loads((p_out / "metrics.json").read_text()) == json.loads(json.dumps(pm))
    assert pm["objective"] == "mlm" and pm["steps_run"] == 2
    assert "\nlicense: mit\n" in (p_out / "model" / "README.md").read_text().split("\n---\n")[0]
    # two steps went on from WECHSEL's initialisation: still far better than a random one
    assert pm["retrieval_mrr-pretrained"] > m["retrieval_mrr-random_init"] + 0.2, (pm, m)
    assert len(json.loads((p_out / "losses.json").read_text())) == 2 and (p_out / "loss.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["checkpoint-00000001", "checkpoint-00000002"]
    again = tmp_path / "again"
    again.mkdir()
    pm2 = build_pretrained(settings, pre, again, threads=1)  # resumed from the last checkpoint: nothing to train
    assert pm2["resumed_from_step"] == 2 and pm2["steps_run"] == 0
    assert pm2["final_loss"] == pm["final_loss"] and pm2["retrieval_mrr-pretrained"] == pm["retrieval_mrr-pretrained"]


@pytest.mark.parametrize("section, key, value, message", [
    ("pretraining", "mlm_probability", 1.5, "pretraining.mlm_probability between 0 and 1"),
    ("pretraining", "mlm_probability", 0, "pretraining.mlm_probability between 0 and 1"),
    ("pretraining", "lr", -1, "pretraining.lr > 0"),
    ("pretraining", "weight_decay", -0.1, "weight_decay >= 0"),
    ("target", "max_lines", -5, "target.max_lines >= 1"),
    ("tokenizer", "min_frequency", 0, "tokenizer.min_frequency >= 1"),
    ("tokenizer", "vocab_size", 0, "tokenizer.vocab_size >= 1"),
    # accepted before: nan made every WECHSEL row nan, -1 dropped the last word, inf / nan turned the weights to nan
    # at the first optimiser step, and 0 failed in torch only when evaluating, after the tokenizer and WECHSEL
    ("wechsel", "temperature", float("nan"), r"wechsel\.temperature a finite number > 0"),
    ("wechsel", "temperature", float("inf"), r"wechsel\.temperature a finite number > 0"),
    ("wechsel", "max_word_vectors", -1, r"wechsel\.max_word_vectors >= 1"),
    ("pretraining", "lr", float("inf"), r"pretraining\.lr > 0, weight_decay >= 0 \(both finite\)"),
    ("pretraining", "weight_decay", float("nan"), r"weight_decay >= 0 \(both finite\)"),
    ("pretraining", "log_every", -1, r"pretraining\.log_every >= 0"),
    ("evaluation", "max_length", 0, r"evaluation\.max_length >= \d+"),
    ("evaluation", "batch_size", 0, r"evaluation\.batch_size >= 1"),
    # more warm-up steps than steps: the learning rate never reached lr (the Swahili smoke profiles did this)
    ("pretraining", "warmup_steps", 61, r"pretraining\.warmup_steps at most pretraining\.steps .* of 60"),
])
def test_a_transfer_spec_value_that_cannot_work_is_refused_when_the_spec_loads(tmp_path, section, key, value,
                                                                                message):
    import yaml

    from pipeline.errors import SpecError
    from pipeline.transfer.spec import load_transfer_spec

    spec = yaml.safe_load((Path(__file__).parents[1] / "tasks" / "transfer" / "es.yaml").read_text())
    spec[section][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=rf"bad\.yaml.*{message}") as exc:
        load_transfer_spec(path)
    assert str(value) in str(exc.value)


def test_evaluation_books_without_both_verse_corpora_are_refused_not_silently_skipped(tmp_path):
    """Books to evaluate without a target (or source) verse table used to turn the evaluation off without a word;
    an empty book list is still the way to turn it off (a profile overlay can say so)."""
    import yaml

    from pipeline.errors import SpecError
    from pipeline.transfer.spec import load_transfer_spec

    spec = yaml.safe_load((Path(__file__).parents[1] / "tasks" / "transfer" / "es.yaml").read_text())
    path = tmp_path / "bad.yaml"
    for key in ("target_verses", "source_verses"):
        path.write_text(yaml.safe_dump({**spec, "evaluation": {k: v for k, v in spec["evaluation"].items()
                                                               if k != key}}))
        with pytest.raises(SpecError, match=rf"bad\.yaml: expected evaluation\.source_verses and "
                                            rf"evaluation\.target_verses .* with evaluation\.books; "
                                            rf"evaluation\.{key} not given"):
            load_transfer_spec(path)
    path.write_text(yaml.safe_dump({**spec, "evaluation": {**spec["evaluation"], "books": []}}))
    assert not load_transfer_spec(path).evaluation.enabled


@pytest.mark.parametrize("edit, message", [
    ({"books": ("Nope",)}, r"evaluation\.books naming books with verses in both .*lee_en/verses\.tsv and "
                           r".*lee_es/verses\.tsv; none of Nope"),
    ({"target_verses": "no_such_corpus"}, r"evaluation\.target_verses naming a corpus with a verses\.tsv; "
                                          r".*no_such_corpus/verses\.tsv does not exist"),
])
def test_evaluation_verses_are_checked_before_any_training(project, tmp_path, edit, message):
    """Both stages evaluate only at their end; a book or verse table that is not there used to fail there, after
    the tokenizer and WECHSEL (transfer) or every pretraining step. Now it fails first, naming the spec: the
    transfer stage before it reads the target text (a target corpus that does not exist is not reached), the
    pretraining stage before it reads the transferred folder (one that does not exist)."""
    from dataclasses import replace

    from pipeline.errors import InputError
    from pipeline.transfer.stages import AlignedInput, PretrainInputs, TransferInputs, build_pretrained, build_transfer

    root, model, aligned = project
    settings = _settings(model)
    bad = replace(settings, evaluation=replace(settings.evaluation, **edit),
                  target=replace(settings.target, corpora=("no_target_corpus",)))
    spec = tmp_path / "es.yaml"
    out = tmp_path / "transfer"
    out.mkdir()
    inputs = TransferInputs(AlignedInput(aligned, source="es", pivot="en", lowercase=True), corpora=root / "corpora",
                            downloads=tmp_path / "downloads", spec_file=spec)
    with pytest.raises(InputError, match=rf"es\.yaml: expected {message}"):
        build_transfer(bad, inputs, out, threads=1)
    pre = PretrainInputs(tmp_path / "never_built", corpora=root / "corpora", downloads=tmp_path / "downloads",
                         work_dir=tmp_path / "work", spec_file=spec)
    with pytest.raises(InputError, match=rf"es\.yaml: expected {message}"):
        build_pretrained(bad, pre, out, threads=1)
    assert not list(out.iterdir()) and not (tmp_path / "work").exists()


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_a_vocab_size_the_fixed_tokens_fill_is_refused_before_the_tokenizer_is_trained(project, tmp_path, kind):
    """A vocabulary no larger than the tokens every retrained tokenizer keeps (the source's special tokens; a
    byte-level BPE's 256 bytes too) used to be trained on all the target text and then refused with the advice to
    *lower* tokenizer.vocab_size. Now it is refused before any text is read: the target corpus does not exist."""
    from dataclasses import replace

    from transformers import AutoTokenizer

    from pipeline.errors import InputError
    from pipeline.transfer.stages import AlignedInput, TransferInputs, build_transfer

    root, bert, aligned = project
    model = bert if kind == "bert" else tiny_model("gpt2", tmp_path / "tiny-gpt2", seed=3)
    tok = AutoTokenizer.from_pretrained(str(model))
    size = len(set(tok.all_special_tokens)) if kind == "bert" else 256  # the specials alone; the byte alphabet alone
    settings = _settings(model)
    bad = replace(settings, source_model=replace(settings.source_model, kind=kind),
                  tokenizer=replace(settings.tokenizer, vocab_size=size),
                  target=replace(settings.target, corpora=("no_target_corpus",)),
                  evaluation=replace(settings.evaluation, books=()))
    out = tmp_path / "transfer"
    out.mkdir()
    inputs = TransferInputs(AlignedInput(aligned, source="es", pivot="en", lowercase=True), corpora=root / "corpora",
                            downloads=tmp_path / "downloads", spec_file=tmp_path / "es.yaml")
    with pytest.raises(InputError, match=rf"es\.yaml: expected tokenizer\.vocab_size above the \d+ tokens every "
                                         rf"{kind} tokenizer holds .*; vocab_size is {size}$"):
        build_transfer(bad, inputs, out, threads=1)
    assert not list(out.iterdir())


def test_unnamed_transfer_errors_name_the_spec_and_nothing_is_written(project, tmp_path):
    """A holdout that leaves no text and a pretraining seq_len beyond the model's positions are named in the spec,
    before anything is written."""
    from dataclasses import replace

    from pipeline.errors import InputError
    from pipeline.transfer.stages import (AlignedInput, PretrainInputs, TransferInputs, build_pretrained,
                                          build_transfer)

    root, model, aligned = project
    spec = tmp_path / "es.yaml"
    settings = _settings(model)
    inputs = TransferInputs(AlignedInput(aligned, source="es", pivot="en", lowercase=True), corpora=root / "corpora",
                            downloads=tmp_path / "downloads", spec_file=spec)
    out = tmp_path / "transfer"
    out.mkdir()
    bare = replace(settings, target=replace(settings.target, holdout=("*.txt",)), evaluation=replace(
        settings.evaluation, books=()))
    with pytest.raises(InputError, match=r"es\.yaml: expected a target corpus with text .*less target\.holdout"):
        build_transfer(bare, inputs, out, threads=1)
    assert not list(out.iterdir())
    build_transfer(replace(settings, evaluation=replace(settings.evaluation, books=())), inputs, out, threads=1)
    long = replace(settings, pretraining=replace(settings.pretraining, seq_len=1024))
    p_out = tmp_path / "pretrain"
    p_out.mkdir()
    pre = PretrainInputs(out, corpora=root / "corpora", downloads=tmp_path / "downloads", work_dir=tmp_path / "work",
                         spec_file=spec)
    with pytest.raises(InputError, match=r"es\.yaml: expected pretraining\.seq_len at most the model's \d+ positions; "
                                         r"seq_len is 1024"):
        build_pretrained(long, pre, p_out, threads=1)
    tiny = root / "corpora" / "tiny_es"  # one short line: less than one block of 150 tokens
    if not tiny.exists():
        tiny.mkdir()
        (tiny / "corpus.yaml").write_text("name: tiny_es\nlanguage: es\nlicence: test\nsource: test\nfiles: '*.txt'\n")
        (tiny / "text.txt").write_text("en el principio\n")
    short_text = replace(settings, target=replace(settings.target, corpora=("tiny_es",)),
                         pretraining=replace(settings.pretraining, seq_len=150))
    with pytest.raises(InputError, match=r"es\.yaml: expected target text of at least one block of 150 tokens for "
                                         r"pretraining \(pretraining\.seq_len\)"):
        build_pretrained(short_text, pre, p_out, threads=1)
    assert not list(p_out.iterdir()) and not (tmp_path / "work").exists()


def test_target_text_too_small_for_the_vocabulary_size_is_refused_and_nothing_is_written(project, tmp_path):
    """Three short lines cannot make a 500-token tokenizer: the WordPiece trainer would return about 30 tokens,
    most of them single characters, without a word."""
    from dataclasses import replace

    from pipeline.errors import InputError
    from pipeline.transfer.stages import AlignedInput, TransferInputs, build_transfer

    root, model, aligned = project
    few = root / "corpora" / "few_es"
    if not few.exists():
        few.mkdir()
        (few / "corpus.yaml").write_text("name: few_es\nlanguage: es\nlicence: test\nsource: test\nfiles: '*.txt'\n")
        (few / "text.txt").write_text("en el principio\ny la tierra\nsea la luz\n")
    settings = _settings(model)
    small = replace(settings, target=replace(settings.target, corpora=("few_es",), holdout=()),
                    evaluation=replace(settings.evaluation, books=()))
    inputs = TransferInputs(AlignedInput(aligned, source="es", pivot="en", lowercase=True), corpora=root / "corpora",
                            downloads=tmp_path / "downloads", spec_file=tmp_path / "es.yaml")
    out = tmp_path / "transfer"
    out.mkdir()
    with pytest.raises(InputError, match=r"es\.yaml: expected target text enough for a tokenizer of 500 tokens "
                                         r"\(tokenizer\.vocab_size; .*the text gave \d\d tokens, \d+ learnt beyond "
                                         r"single characters; add target text or lower tokenizer\.vocab_size"):
        build_transfer(small, inputs, out, threads=1)
    assert not list(out.iterdir())


@pytest.mark.parametrize("edit, message", [
    ({"init": "fancy"}, r"expected init wechsel, focus, random, not 'fancy'"),
    ({"wechsel": {"neighbors": "ten"}}, r"expected an integer at 'wechsel\.neighbors'; found 'ten'"),
    ({"tokenizer": {"vocab_size": "10000"}}, r"expected an integer at 'tokenizer\.vocab_size'; found '10000'"),
    ({"focus": {"dim": 50}}, r"expected focus settings only with init: focus \(init: wechsel trains no auxiliary "
                             r"fastText space; remove the focus section, or set init: focus\)"),
    ({"init": "focus"}, r"expected static_vectors only with init: wechsel \(init: focus reads no static vectors; "
                        r"remove static_vectors: es, or set it to null in a profile\)"),
])
def test_an_unknown_init_or_a_string_for_a_number_is_refused_when_the_spec_loads(tmp_path, edit, message):
    import yaml

    from pipeline.errors import SpecError
    from pipeline.transfer.spec import load_transfer_spec

    spec = yaml.safe_load((Path(__file__).parents[1] / "tasks" / "transfer" / "es.yaml").read_text())
    for key, value in edit.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=rf"bad\.yaml: {message}"):
        load_transfer_spec(path)
