"""Spec validation: every bad key or type names the file and what was expected."""
import pytest

from pipeline.errors import SpecError
from pipeline.spec import load_diachronic_spec, load_yaml


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
    ("corpora: [a]\nreport: {rank_by: cosine}\n", "cosine_distance, local_neighbourhood_distance for rank_by"),
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


def test_spec_sections_match_the_algorithm_settings():
    """Spec dataclasses mirror the algorithm modules' settings: same keys, same defaults."""
    import dataclasses

    from pipeline.cade import CadeSettings
    from pipeline.corpora import Slicing, TokenizerSettings
    from pipeline.spec import CadeSpec, SlicingSpec, TokenizerSpec

    def defaults(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}

    assert defaults(CadeSpec) == {k: v for k, v in defaults(CadeSettings).items() if k not in ("seed", "threads")}
    assert defaults(SlicingSpec) == defaults(Slicing)
    assert defaults(TokenizerSpec) == defaults(TokenizerSettings)


def test_multilingual_spec_sections_match_the_algorithm_settings():
    import dataclasses

    from pipeline.multilingual import FastTextSettings, MappingSettings
    from pipeline.spec import FastTextSpec, MappingSpec

    def defaults(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}

    assert defaults(FastTextSpec) == {k: v for k, v in defaults(FastTextSettings).items() if k != "threads"}
    assert defaults(MappingSpec) == {k: v for k, v in defaults(MappingSettings).items() if k != "block_rows"}
