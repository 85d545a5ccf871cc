"""Names in specs that become paths: a corpus name is a plain folder under corpora/, a model is not empty.

A name such as ``""`` or ``"../x"`` used to load, then failed at scheduling naming ``corpora/corpus.yaml`` or
read a folder outside ``corpora/``; each is refused when the spec loads, naming the spec file and the key.
"""
import re
from pathlib import Path

import pytest

from pipeline.errors import SpecError
from pipeline.diachronic.spec import load_diachronic_spec
from pipeline.multilingual.spec import load_multilingual_spec
from pipeline.spec import spec_profiles
from pipeline.specialization.spec import load_specialization_spec
from pipeline.static.spec import load_static_spec
from pipeline.transfer.spec import load_transfer_spec

TASKS = Path(__file__).resolve().parents[1] / "tasks"

# (loader, a valid spec with NAME where one corpus name goes, the key of that name)
CORPUS_NAME_SPECS = [
    (load_diachronic_spec, "corpora: [kjv, NAME]\n", "corpora[1]"),
    (load_multilingual_spec, "source: {lang: es, corpora: [NAME]}\n", "source.corpora[0]"),
    (load_multilingual_spec, "source: {lang: es, corpora: [rv1909]}\npivot: {lang: en, corpora: [kjv, NAME]}\n",
     "pivot.corpora[1]"),
    (load_transfer_spec, "source_model: {model: m}\ntarget: {lang: es, corpora: [NAME]}\ninit: random\n",
     "target.corpora[0]"),
    (load_transfer_spec, "source_model: {model: m}\ntarget: {lang: es, corpora: [rv1909]}\ninit: random\n"
     "evaluation: {source_verses: NAME, target_verses: rv1909, books: [Mark]}\n", "evaluation.source_verses"),
    (load_transfer_spec, "source_model: {model: m}\ntarget: {lang: es, corpora: [rv1909]}\ninit: random\n"
     "evaluation: {source_verses: web, target_verses: NAME, books: [Mark]}\n", "evaluation.target_verses"),
    (load_static_spec, "corpora: [NAME]\nmodel: m\n", "corpora[0]"),
    (load_static_spec, "corpora: [kjv]\nmodel: m\nextrinsic: {corpus: NAME}\n", "extrinsic.corpus"),
    (load_specialization_spec, "model: m\nconstraints: {wordnet: {}}\nextract: {modes: [aggregate], corpora: [NAME]}\n",
     "extract.corpora[0]"),
]
BAD_NAMES = ["", "../x", "a/b", "a\\b", ".", "..", ".hidden"]


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def yaml_str(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"  # single-quoted YAML: backslashes are literal


def test_every_project_spec_loads_with_every_profile():
    import pipeline  # noqa: F401 - registers every kind
    from pipeline.dag.registry import spec_kinds

    kinds = spec_kinds()
    assert {"diachronic", "multilingual", "transfer", "specialization", "static"} <= set(kinds)
    loaded = 0
    for name, kind in kinds.items():
        for path in sorted((TASKS / name).glob("*.yaml")):
            for profile in [None, *spec_profiles(path)]:
                kind.load(path, profile)
                loaded += 1
    assert loaded >= len(list(TASKS.glob("*/*.yaml")))


@pytest.mark.parametrize("loader,text,key", CORPUS_NAME_SPECS, ids=[k for _, _, k in CORPUS_NAME_SPECS])
def test_a_corpus_name_that_is_not_a_plain_folder_name_is_refused_at_load(tmp_path, loader, text, key):
    loader(write(tmp_path, text.replace("NAME", "web"), "good.yaml"))  # the same spec with a plain name loads
    for bad in BAD_NAMES:
        p = write(tmp_path, text.replace("NAME", yaml_str(bad)))
        expected = f"{p}: expected {key}: a corpus folder name under corpora/"
        with pytest.raises(SpecError, match=re.escape(expected)) as e:
            loader(p)
        assert str(e.value).endswith(f"not {bad!r}"), str(e.value)  # the section is not named twice ("(at ...)")


@pytest.mark.parametrize("loader,text,key", [
    (load_transfer_spec, "source_model: {model: MODEL}\ntarget: {lang: es, corpora: [rv1909]}\ninit: random\n",
     "source_model.model"),
    (load_static_spec, "corpora: [kjv]\nmodel: MODEL\n", "model"),
    (load_specialization_spec, "model: MODEL\nconstraints: {wordnet: {}}\n", "model"),
], ids=["transfer", "static", "specialization"])
def test_an_empty_model_is_refused_at_load(tmp_path, loader, text, key):
    loader(write(tmp_path, text.replace("MODEL", "m"), "good.yaml"))
    for bad in ("", "  "):
        p = write(tmp_path, text.replace("MODEL", yaml_str(bad)))
        with pytest.raises(SpecError, match=re.escape(f"{p}: expected {key}: a ")) as e:
            loader(p)
        assert f"not {bad!r}" in str(e.value)
