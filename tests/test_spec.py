"""Spec validation: every bad key or type names the file and what was expected."""
import pytest

from pipeline.errors import SpecError
from pipeline.diachronic.spec import load_diachronic_spec
from pipeline.multilingual.spec import load_multilingual_spec
from pipeline.spec import load_yaml


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_are_reference_cade(tmp_path):
    s = load_diachronic_spec(write(tmp_path, "corpora: [a, b]\nslicing: {by: corpus}\n"))
    c = s.cade
    assert (c.vector_size, c.window, c.negative, c.compass_epochs, c.slice_epochs, c.min_count) == (100, 5, 10, 5, 5, 5)
    assert c.compass_alpha == c.slice_alpha == 0.025 and c.init_mode == "hidden"
    assert s.name == "s"


def test_typo_is_named_with_suggestion(tmp_path):
    p = write(tmp_path, "corpora: [a]\ncade: {vector_sise: 50}\n")
    with pytest.raises(SpecError) as e:
        load_diachronic_spec(p)
    msg = str(e.value)
    assert str(p) in msg and "cade.vector_sise" in msg and "did you mean 'vector_size'" in msg


@pytest.mark.parametrize("text,fragment", [
    ("corpora: [a]\ncade: {vector_size: '100'}\n", "an integer at 'cade.vector_size'"),
    ("corpora: [a]\ncade: {init_mode: copy}\n", "init_mode"),
    ("corpora: a\n", "a list of a string at 'corpora'"),
    ("corpora: [a]\nslicing: {by: corpus}\n", "at least two corpora"),
    ("slicing: {by: period}\n", "'corpora'"),
    ("corpora: [a]\nreport: {seeds: [1, 1]}\n", "distinct seeds"),
    ("corpora: [a]\nreport: {rank_by: cosine}\n", "cosine_distance, local_neighbourhood_distance, euclidean_distance for rank_by"),
    ("corpora: [a]\ncade: {sample: true}\n", "a number at 'cade.sample'"),
    ("[1, 2]\n", "a mapping at the top level"),
    ("corpora: [a\n", "valid YAML"),
])
def test_bad_specs(tmp_path, text, fragment):
    p = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_diachronic_spec(p)
    assert fragment in str(e.value) and str(p) in str(e.value)


def test_profile_overlay_and_unknown_profile(tmp_path):
    p = write(tmp_path, "corpora: [a]\ncade: {vector_size: 100, window: 3}\nprofiles:\n  smoke: {cade: {vector_size: 8}}\n")
    s = load_diachronic_spec(p, "smoke")
    assert s.cade.vector_size == 8 and s.cade.window == 3
    assert load_diachronic_spec(p).cade.vector_size == 100
    with pytest.raises(SpecError, match="profile named 'fast'"):
        load_yaml(p, "fast")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_diachronic_spec(tmp_path / "nope.yaml")


def test_project_specs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "tasks" / "diachronic"
    specs = sorted(root.glob("*.yaml"))
    assert specs
    for p in specs:
        for profile in (None, "smoke"):
            load_diachronic_spec(p, profile)


def test_spec_sections_are_the_algorithm_settings():
    """Spec sections take their keys, types, defaults and identity marks from the algorithms' settings (the
    fields the task or the run environment gives left out), validate with the settings' own checks, and give
    back the settings object."""
    import dataclasses

    from pipeline.corpora import Slicing, TokenizerSettings
    from pipeline.diachronic import CadeSettings, ProcrustesSettings
    from pipeline.diachronic.spec import CadeSpec, ProcrustesSpec, SlicingSpec
    from pipeline.multilingual import FastTextSettings, MappingSettings
    from pipeline.multilingual.spec import FastTextSpec, MappingSpec
    from pipeline.spec import TokenizerSpec

    def defaults(cls, drop=()):
        return {f.name: f.default for f in dataclasses.fields(cls) if f.name not in drop}

    from pipeline.diachronic.settings import ReportSettings
    from pipeline.diachronic.spec import ReportSpec
    from pipeline.specialization.settings import ExtractSettings, TrainSettings, WordEvaluationSettings
    from pipeline.specialization.spec import ExtractSpec, TrainSpec, WordEvaluationSpec
    from pipeline.transfer.settings import PretrainSettings, RetrievalSettings, TokenizerTrainSettings, \
        WechselSettings
    from pipeline.transfer.spec import PretrainingSpec, RetrievalSpec, TokenizerTrainSpec, WechselSpec

    # seed: the task's (one per run); threads, block_rows: the run environment's (runtime_field(in_spec=False))
    for section, settings, left_out in ((CadeSpec, CadeSettings, ("seed", "threads")), (SlicingSpec, Slicing, ()),
                                        (ProcrustesSpec, ProcrustesSettings, ("seed", "threads")),
                                        (ReportSpec, ReportSettings, ()),
                                        (TokenizerSpec, TokenizerSettings, ()),
                                        (FastTextSpec, FastTextSettings, ("threads",)),
                                        (MappingSpec, MappingSettings, ("block_rows",)),
                                        (TrainSpec, TrainSettings, ()), (ExtractSpec, ExtractSettings, ()),
                                        (WordEvaluationSpec, WordEvaluationSettings, ()),
                                        (TokenizerTrainSpec, TokenizerTrainSettings, ()),
                                        (WechselSpec, WechselSettings, ()), (RetrievalSpec, RetrievalSettings, ()),
                                        (PretrainingSpec, PretrainSettings, ())):
        assert defaults(section) == defaults(settings, left_out), section.__name__
        assert {f.name: f.metadata for f in dataclasses.fields(section)} == {
            f.name: f.metadata for f in dataclasses.fields(settings) if f.name not in left_out}, section.__name__
    cade = CadeSpec(slice_alpha=0.01).settings(seed=3, threads=2)
    assert isinstance(cade, CadeSettings) and (cade.slice_alpha, cade.seed, cade.threads) == (0.01, 3, 2)
    assert FastTextSpec(dim=50).settings(threads=4) == FastTextSettings(dim=50, threads=4)
    with pytest.raises(ValueError, match="min_token_length"):
        TokenizerSpec(min_token_length=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        CadeSpec().window = 3


def test_a_bad_section_value_is_a_spec_error_naming_the_key_path(tmp_path):
    p = write(tmp_path, "kind: multilingual\nsource: {lang: es, corpora: [rv1909]}\nfasttext: {dim: 0}\n")
    with pytest.raises(SpecError) as e:
        load_multilingual_spec(p)
    assert "dim" in str(e.value) and "'fasttext'" in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("loader_path,kind", [
    ("pipeline.diachronic.spec:load_diachronic_spec", "diachronic"),
    ("pipeline.multilingual.spec:load_multilingual_spec", "multilingual"),
    ("pipeline.transfer.spec:load_transfer_spec", "transfer"),
    ("pipeline.specialization.spec:load_specialization_spec", "specialization"),
])
def test_a_spec_of_another_kind_is_refused_by_every_loader(tmp_path, loader_path, kind):
    import importlib

    module, name = loader_path.split(":")
    loader = getattr(importlib.import_module(module), name)
    other = "transfer" if kind != "transfer" else "diachronic"
    p = write(tmp_path, f"kind: {other}\ncorpora: [a]\n", name="wrong.yaml")
    with pytest.raises(SpecError) as e:
        loader(p)
    assert str(p) in str(e.value) and f"kind: {kind}" in str(e.value) and repr(other) in str(e.value)
