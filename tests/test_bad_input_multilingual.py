"""Bad input to the constraint sources: held-out word files and BabelNet answers that lack every usable field."""
from __future__ import annotations

import re

import pytest

from pipeline.errors import InputError
from pipeline.specialization.constraints import read_heldout_file


def test_heldout_file_reads_multiword_lines_as_words_not_language_codes(tmp_path):
    path = tmp_path / "heldout.txt"
    path.write_text("\ufeff# evaluation words\nes casa\nnew york\nred wine\nthe end\nswh nyumba\ncar\n",
                    encoding="utf-8")
    assert read_heldout_file(path, languages=("swh",)) == {
        ("es", "casa"), ("en", "new_york"), ("en", "red_wine"), ("en", "the_end"), ("swh", "nyumba"), ("en", "car")}
    # a three-letter code counts only when named: almost every three-letter word is some ISO 639-3 code
    assert ("en", "swh_nyumba") in read_heldout_file(path)


def test_heldout_file_not_utf8_or_without_a_word_names_the_file(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("en car\nes café\n".encode("latin-1"))
    with pytest.raises(InputError, match=rf"^{re.escape(str(latin1))}: expected a UTF-8 file of held-out words; "
                                         r"invalid UTF-8 at byte 13 \(line 2, column 7\): bytes e9$"):
        read_heldout_file(latin1)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{re.escape(str(empty))}: expected at least one held-out word"):
        read_heldout_file(empty)


def test_constraints_without_any_pair_do_not_blame_the_held_out_words():
    from pipeline.specialization.constraints import babelnet_senses, prepare_constraints, senses_frame

    # e.g. a harvest that kept no sense, or senses of one word per synset
    with pytest.raises(ValueError, match=r"^constraint sources whose senses pair two words in one synset; found none "
                                         r"in 0 senses$"):
        prepare_constraints([babelnet_senses([])])
    with pytest.raises(ValueError, match=r"found none in 2 senses$"):
        prepare_constraints([senses_frame([("s1", "en", "car"), ("s2", "es", "coche")], source="toy")])
    # pairs that exist but all touch an evaluation word: that message stays
    with pytest.raises(ValueError, match=r"^no constraint pair is left once the evaluation words are held out$"):
        prepare_constraints([senses_frame([("s1", "en", "car"), ("s1", "es", "coche")], source="toy")],
                            heldout={("en", "car")})
