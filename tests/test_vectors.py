"""pipeline.vectors: the vector formats every stage writes, and reading them without running anyone's code."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.vectors import load_vectors, make_keyed_vectors, save_vectors
from planted import Planted as _Planted


def _vectors(n=5, dim=4, counts=True, seed=0):
    rng = np.random.default_rng(seed)
    keys = ["new york", "city", "the", "a b c", "zebra"][:n]
    return make_keyed_vectors(keys, rng.standard_normal((n, dim)).astype(np.float32),
                              counts=[50, 40, 30, 20, 10][:n] if counts else None)


@pytest.mark.parametrize("counts", [True, False])
def test_npy_form_is_exact_and_keeps_keys_and_counts(tmp_path, counts):
    kv = _vectors(counts=counts)
    paths = save_vectors(kv, tmp_path / "v")
    assert ("vocab" in paths) == counts and ("keys" in paths) != counts
    back = load_vectors(paths["npy"])
    assert back.index_to_key == ["new_york", "city", "the", "a_b_c", "zebra"]
    assert back.vectors.dtype == np.float32 and back.vectors.tobytes() == kv.vectors.tobytes()
    if counts:
        assert back.expandos["count"].tolist() == [50, 40, 30, 20, 10]
    else:
        assert "count" not in back.expandos
    # the text form agrees to its 7 digits
    np.testing.assert_allclose(load_vectors(paths["vec"]).vectors, kv.vectors, rtol=1e-6)


def test_a_rewritten_set_without_counts_drops_the_stale_vocab(tmp_path):
    save_vectors(_vectors(counts=True), tmp_path / "v")
    save_vectors(_vectors(n=3, counts=False), tmp_path / "v")
    assert not (tmp_path / "v.vocab").exists()
    back = load_vectors(tmp_path / "v.npy")
    assert len(back) == 3 and "count" not in back.expandos


def test_kv_pickle_is_refused_without_being_unpickled(tmp_path):
    sentinel = tmp_path / "ran"
    (tmp_path / "v.kv").write_bytes(pickle.dumps(_Planted(sentinel)))
    with pytest.raises(InputError, match=r"v\.kv.*pickle"):
        load_vectors(tmp_path / "v.kv")
    assert not sentinel.exists()
    from pipeline.multilingual import load_pretrained_vectors

    with pytest.raises(InputError, match=r"v\.kv.*pickle"):
        load_pretrained_vectors(tmp_path / "v.kv")
    assert not sentinel.exists()
    # a .kv the user made is still readable on request
    paths = save_vectors(_vectors(), tmp_path / "mine")
    assert load_vectors(paths["kv"], allow_pickle=True).index_to_key[0] == "new_york"


def test_npy_with_pickled_objects_is_refused(tmp_path):
    sentinel = tmp_path / "ran"
    save_vectors(_vectors(), tmp_path / "v")
    np.save(tmp_path / "v.npy", np.array([_Planted(sentinel)] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"v\.npy.*without pickled objects"):
        load_vectors(tmp_path / "v.npy")
    assert not sentinel.exists()


@pytest.mark.parametrize("breakage, needle", [
    ("rows", r"v\.npy: expected one row per key of v\.vocab \(5\); found 4 rows"),
    ("dtype", r"v\.npy: expected a \(words, dimension\) float32 matrix; an array of dtype float64"),
    ("truncated", r"v\.npy: expected .*\.npy without pickled objects"),
    ("no keys", r"v\.npy: expected its keys beside it in v\.vocab or v\.keys"),
    ("duplicate", r"v\.vocab: expected each word once; line 3"),
    ("nan", r"v\.npy: expected finite numbers in row 2"),
])
def test_bad_npy_sets_name_the_file(tmp_path, breakage, needle):
    kv = _vectors()
    save_vectors(kv, tmp_path / "v")
    npy, vocab = tmp_path / "v.npy", tmp_path / "v.vocab"
    if breakage == "rows":
        np.save(npy, kv.vectors[:4])
    elif breakage == "dtype":
        np.save(npy, kv.vectors.astype(np.float64))
    elif breakage == "truncated":
        npy.write_bytes(npy.read_bytes()[:-7])
    elif breakage == "no keys":
        vocab.unlink()
    elif breakage == "duplicate":
        vocab.write_text(vocab.read_text().replace("the 30", "new_york 30"))
    elif breakage == "nan":
        m = kv.vectors.copy()
        m[2, 1] = np.nan
        np.save(npy, m)
    with pytest.raises(InputError, match=needle):
        load_vectors(npy)


@pytest.mark.parametrize("header, needle", [
    ("999999999999 300", r"999999999999 vectors of dimension 300, as the header on line 1 says, to fit"),
    ("1000 4", r"1000 vectors of dimension 4, as the header on line 1 says, to fit"),
    ("1 200000", r"a dimension of at most 100000"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_impossible_vec_header_is_refused_before_allocating(tmp_path, header, needle, gz):
    body = f"{header}\nthe 0.1 0.2 0.3 0.4\ncity 0.5 0.6 0.7 0.8\n"
    if gz and header.startswith("1000 "):
        # 1000 rows of 4 values could hide behind gzip's ratio: announce more than it allows
        body = body.replace("1000 4", "99999999 4", 1)
        needle = needle.replace("1000", "99999999")
    path = tmp_path / ("v.vec.gz" if gz else "v.vec")
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(body)
    else:
        path.write_text(body)
    with pytest.raises(InputError, match=needle) as info:
        load_vectors(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("form", ["vec", "npy", "npy-dim0"])
def test_an_empty_vector_set_is_refused_by_name(tmp_path, form):
    # a header of "0 100" (or a .npy of no rows) is a failed export: downstream it gave empty
    # vocabularies and 0/0 scores instead of an error naming the file
    if form == "vec":
        path = tmp_path / "v.vec"
        path.write_text("0 100\n")
    else:
        path = tmp_path / "v.npy"
        np.save(path, np.zeros((0, 4) if form == "npy" else (2, 0), dtype=np.float32))
        (tmp_path / "v.keys").write_text("" if form == "npy" else "the\ncity\n")
    with pytest.raises(InputError, match=r"expected at least one vector of dimension at least 1; "
                                         r"(0 vectors of dimension (100|4)|2 vectors of dimension 0)") as info:
        load_vectors(path)
    assert str(path) in str(info.value)
