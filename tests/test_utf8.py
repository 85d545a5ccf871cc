"""Every reader of a text file says the same about bytes that are not UTF-8: the file, what was expected, and
where the bad bytes are (byte offset in the file, line, column) with the bytes themselves."""
from __future__ import annotations

import re

import pytest

from pipeline.errors import InputError, SpecError


def _spec(path):
    from pipeline.spec import load_yaml

    return load_yaml(path)


def _declaration(path):
    from pipeline.corpora.declaration import load_declaration

    return load_declaration(path.parent)


def _vectors(path):
    from pipeline.vectors import load_vectors

    return load_vectors(path)


def _dictionary(path):
    from pipeline.multilingual.dictionaries import read_pair_file

    return read_pair_file(path)


def _vocabulary(path):
    from pipeline.static.stages import read_vocabulary

    return read_vocabulary(path)


def _pairs(path):
    from pipeline.evaluation import read_word_pairs

    return read_word_pairs(path)


def _conllu(path):
    from pipeline.static.tagger import read_conllu

    return read_conllu(path)


# each: a file name, its text with one Latin-1 'é' (byte e9), the reader, and the line and column of the é
CASES = {
    "spec": ("bad.yaml", "corpora: [kjv]\nname: caf\u00e9\n", _spec, SpecError, 2, 10),
    "declaration": ("corpus.yaml", "name: x\nlanguage: en\nlicence: caf\u00e9\n", _declaration, InputError, 3, 13),
    "vectors": ("v.vec", "2 2\na 0.1 0.2\n\u00e9t\u00e9 0.3 0.4\n", _vectors, InputError, 3, 1),
    "dictionary": ("d.txt", "casa house\ncaf\u00e9 coffee\n", _dictionary, InputError, 2, 4),
    "vocabulary": ("words.txt", "one\ntwo\nthr\u00e9e\n", _vocabulary, InputError, 3, 4),
    "word pairs": ("pairs.txt", "old\tnew\t1.5\nnew\tna\u00efve\t2.0\n", _pairs, InputError, 2, 7),
    "treebank": ("t.conllu", "# text = a\n1\ta\ta\tDET\t_\t_\t0\troot\t_\t_\n2\tcaf\u00e9\tx\tNOUN\t_\t_\t1\tobj\t_\t_\n",
                 _conllu, InputError, 3, 6),
}


@pytest.mark.parametrize("case", CASES)
def test_bytes_that_are_not_utf8_are_named_by_file_byte_line_and_column(tmp_path, case):
    name, text, read, error, line, column = CASES[case]
    path = tmp_path / name
    raw = text.encode("latin-1")
    path.write_bytes(raw)
    offset = raw.index(b"\xe9") if b"\xe9" in raw else raw.index(b"\xef")
    with pytest.raises(error) as exc:
        read(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: expected "), msg
    assert re.search(rf"; invalid UTF-8 at byte {offset} \(line {line}, column {column}\): bytes "
                     rf"{raw[offset]:02x}( [0-9a-f]{{2}})*$", msg), msg
    # the same text as UTF-8, with a byte-order mark, is no error
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    try:
        read(path)
    except InputError as exc:  # any other complaint (a tiny file may be refused for its content) is not UTF-8's
        assert "UTF-8" not in str(exc), exc
