"""The tokenizer's two modes: the normalising default, and ``pretokenized``, which takes a corpus's own tokens
(lemmatised, POS-suffixed, as SemEval-2020 Task 1 ships them) as they come, without changing the identity of any
spec that does not ask for it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import luigi
import pytest

from pipeline.corpora import Tokenizer, TokenizerSettings
from pipeline.spec import TokenizerSpec, identity_of

# lemma lines in the SemEval layout, with what any normalisation would touch: case, punctuation tokens,
# underscores, a ligature and full-width letters (NFKC), a decomposed accent (NFC), typographic apostrophes
LEMMA_LINES = [
    "the plane_nn fly_vb over the U.S. coast , and land_vb at 10:30 .",
    "Plane_nn ﬁre_nn ＡＢＣ cafe\u0301 don\u2019t well-known",
    "\t  spaced\u00a0out   tokens  ",
]
PRETOKENIZED = TokenizerSettings(pretokenized=True)


def test_pretokenized_lines_come_through_unchanged():
    text = "\n".join(LEMMA_LINES[:1] + [""] + LEMMA_LINES[1:]) + "\n"
    sentences = list(Tokenizer("en", PRETOKENIZED).sentences(text))
    assert sentences == [line.split() for line in LEMMA_LINES]  # the empty line is no sentence
    assert sentences[1][:2] == ["Plane_nn", "ﬁre_nn"] and sentences[1][3] == "cafe\u0301"
    assert Tokenizer("en", PRETOKENIZED).normalize(LEMMA_LINES[1]) == LEMMA_LINES[1]
    # every other setting is ignored in this mode
    other = TokenizerSettings(pretokenized=True, unicode_form="NFC", casefold=True, min_token_length=3,
                              strip_numbers=True, keep_punctuation=True)
    assert list(Tokenizer("de", other).sentences(text)) == sentences


def test_the_default_mode_is_unchanged():
    tok = Tokenizer("en")
    assert tok.settings.pretokenized is False
    # the same lines through the normalising tokenizer: lower-cased, NFKC, underscores and punctuation split off
    assert list(tok.sentences("\n".join(LEMMA_LINES))) == [
        ["the", "plane", "nn", "fly", "vb", "over", "the", "u.s", "coast", "and", "land", "vb", "at", "10", "30"],
        ["plane", "nn", "fire", "nn", "abc", "caf\u00e9", "don't", "well-known"],  # NFKC composes é
        ["spaced", "out", "tokens"],
    ]


def test_build_prepared_corpus_honours_the_mode(tmp_path):
    from pipeline.diachronic import stages
    from pipeline.diachronic.spec import load_diachronic_spec

    corpora = {}
    for name, lines in (("lemma_a", LEMMA_LINES[:2] * 20), ("lemma_b", LEMMA_LINES[1:] * 20)):
        d = tmp_path / name
        d.mkdir()
        (d / "corpus.yaml").write_text(f"name: {name}\nlanguage: en\nlicence: test\nsource: test\nfiles: '*.txt'\n")
        (d / "lemma.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        corpora[name] = d
    spec_path = tmp_path / "lemma.yaml"
    spec_path.write_text("corpora: [lemma_a, lemma_b]\nslicing: {by: corpus}\ntokenizer: {pretokenized: true}\n")
    out = tmp_path / "corpus"
    out.mkdir()
    stages.build_prepared_corpus(load_diachronic_spec(spec_path), corpora, out)
    files = stages.slice_files(out)
    assert files["lemma_a"].read_text(encoding="utf-8").splitlines() == [
        " ".join(line.split()) for line in LEMMA_LINES[:2] * 20]
    assert "fly_vb" in files["lemma_a"].read_text(encoding="utf-8").split()


def test_the_multilingual_spec_takes_the_mode_too(tmp_path):
    from pipeline.multilingual.spec import load_multilingual_spec

    path = tmp_path / "m.yaml"
    path.write_text("source: {lang: es, corpora: [x]}\ntokenizer: {pretokenized: true}\n")
    assert load_multilingual_spec(path).tokenizer.settings().pretokenized is True


def _settings_before_the_field():
    """``TokenizerSettings`` as it was before ``pretokenized`` existed: the same fields and defaults, without it."""
    kept = [(f.name, f.type, dataclasses.field(default=f.default))
            for f in dataclasses.fields(TokenizerSettings) if f.name != "pretokenized"]
    assert len(kept) == len(dataclasses.fields(TokenizerSettings)) - 1
    return dataclasses.make_dataclass("TokenizerSettings", kept, frozen=True)


@pytest.mark.parametrize("values", [{}, {"unicode_form": "NFKC", "lowercase": True},
                                    {"unicode_form": "none", "lowercase": False, "min_token_length": 2}])
def test_a_spec_without_the_field_keeps_its_identity(values):
    before = _settings_before_the_field()
    assert identity_of(TokenizerSpec(**values)) == identity_of(before(**values))
    assert identity_of(TokenizerSpec(**values, pretokenized=False)) == identity_of(before(**values))
    assert identity_of(TokenizerSpec(**values, pretokenized=True)) == {**identity_of(before(**values)),
                                                                      "pretokenized": True}


def test_the_prepared_corpus_stage_of_a_spec_without_the_field_keeps_its_identity(monkeypatch):
    """The State of the Union spec, as the stage that prepares its corpus hashes it."""
    from pipeline.dag import diachronic as dd
    from pipeline.diachronic.spec import load_diachronic_spec

    spec = load_diachronic_spec(Path(__file__).parents[1] / "tasks" / "diachronic" / "sotu.yaml")
    monkeypatch.setattr(dd, "diachronic_spec", lambda name, profile: spec)
    luigi.task_register.Register.clear_instance_cache()
    old = _settings_before_the_field()(**{k: v for k, v in dataclasses.asdict(spec.tokenizer).items()
                                          if k != "pretokenized"})
    assert dd.PreparedCorpus(spec="sotu").identity_settings()["tokenizer"] == identity_of(old)
    pretokenized = dataclasses.replace(spec, tokenizer=dataclasses.replace(spec.tokenizer, pretokenized=True))
    monkeypatch.setattr(dd, "diachronic_spec", lambda name, profile: pretokenized)
    luigi.task_register.Register.clear_instance_cache()  # a task instance keeps the spec it first read
    assert dd.PreparedCorpus(spec="sotu").identity_settings()["tokenizer"] != identity_of(old)
