"""The extrinsic tagger (pipeline.static.tagger) and the same-words comparison (pipeline.static.compare)."""
from __future__ import annotations

import json
import math
import random
import re

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.errors import InputError
from pipeline.evaluation import analogy_accuracy
from pipeline.static.compare import compare_vector_sets, shared_vocabulary, write_comparison
from pipeline.static.tagger import (Example, ExtrinsicEvaluator, TaggerSettings, TaggingData, evaluate_tagger,
                                    fit_tagger, read_conll_ner, read_conllu)
from pipeline.vectors import make_keyed_vectors

# UD English EWT style: comments, a multiword token (4-5), an empty node (3.1), two sentences
CONLLU = """\
# sent_id = 1
# text = The dog didn't bark.
1\tThe\tthe\tDET\tDT\tDefinite=Def|PronType=Art\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\tNumber=Sing\t5\tnsubj\t_\t_
3\tdid\tdo\tAUX\tVBD\tMood=Ind|Tense=Past|VerbForm=Fin\t5\taux\t_\tSpaceAfter=No
3.1\tbarked\tbark\tVERB\tVBD\t_\t_\t_\t5:conj\t_
4-5\tn't\t_\t_\t_\t_\t_\t_\t_\t_
4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t_\t_
5\tbark\tbark\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t5\tpunct\t_\t_

# sent_id = 2
# text = Go home!
1\tGo\tgo\tVERB\tVB\tMood=Imp|VerbForm=Fin\t0\troot\t_\t_
2\thome\thome\tADV\tRB\t_\t1\tadvmod\t_\tSpaceAfter=No
3\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_
"""


def test_conllu_reader_reads_words_and_upos(tmp_path):
    path = tmp_path / "sample.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    sentences = read_conllu(path)
    assert sentences == [
        Example(("The", "dog", "did", "n't", "bark", "."), ("DET", "NOUN", "AUX", "PART", "VERB", "PUNCT")),
        Example(("Go", "home", "!"), ("VERB", "ADV", "PUNCT")),
    ]


def test_conllu_malformed_line_is_named_with_its_number(tmp_path):
    lines = CONLLU.splitlines()
    lines[4] = lines[4].replace("\t", " ", 1)  # line 5: "3 did" glued, 9 fields
    path = tmp_path / "bad.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.conllu: expected a CoNLL-U word line of 10 tab-separated fields; "
                                         r"line 5 has 9"):
        read_conllu(path)
    lines = CONLLU.splitlines()
    lines[14] = "3\thome\thome\tADV\tRB\t_\t1\tadvmod\t_\t_"  # line 15: ID 3 where 2 belongs
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.conllu: expected word ID 2 .*line 15 has ID 3"):
        read_conllu(path)


@pytest.mark.parametrize("at, last_word", [(10, 6), (16, 3)])  # the end of sentence 1, the end of the file
def test_a_multiword_token_without_its_words_is_named_with_its_line(tmp_path, at, last_word):
    """A range line stands for the word lines after it: a range ending a sentence once lost its words silently."""
    span = f"{last_word + 1}-{last_word + 2}"
    lines = CONLLU.splitlines()
    lines.insert(at, f"{span}\tgonna\t_\t_\t_\t_\t_\t_\t_\t_")
    path = tmp_path / "cut.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"cut\.conllu: expected the word lines of multiword token {span} after it "
                                         rf"\(IDs up to {last_word + 2}\); line {at + 1} has range {span}, but the "
                                         rf"sentence ends after word {last_word}$"):
        read_conllu(path)


@pytest.mark.parametrize("span", ["5-6", "4-4", "5-4"])  # on line 7, before word 4: not from word 4, or reversed
def test_a_multiword_range_that_is_not_the_next_words_is_named_with_its_line(tmp_path, span):
    lines = CONLLU.splitlines()
    lines[6] = lines[6].replace("4-5\t", f"{span}\t")
    path = tmp_path / "range.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"range\.conllu: expected a multiword token range from the next word ID, "
                                         rf"4, to a later one; line 7 has range {span}$"):
        read_conllu(path)


@pytest.mark.parametrize("tag", ["NN", "noun", "VERB|AUX"])
def test_a_tag_that_is_not_upos_is_named_with_its_line(tmp_path, tag):
    lines = CONLLU.splitlines()
    lines[3] = lines[3].replace("\tNOUN\t", f"\t{tag}\t")  # line 4: "dog", an XPOS-style tag in the UPOS column
    path = tmp_path / "xpos.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"xpos\.conllu: expected a UPOS tag in the 4th column \(ADJ, .*, X\); "
                                         rf"line 4 has {re.escape(repr(tag))}"):
        read_conllu(path)


def test_a_treebank_that_is_not_utf8_is_named_with_its_line_and_a_bom_is_dropped(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(CONLLU.replace("dog", "d\u00e9g").encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.conllu: expected UTF-8 text; invalid UTF-8 at byte \d+ \(line 2, column 15\): bytes e9"):
        read_conllu(path)
    path.write_bytes(CONLLU.replace("dog", "d\u00e9g").encode("latin-1").replace(b"\xe9", b"e"))
    (tmp_path / "bom.conllu").write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_conllu(tmp_path / "bom.conllu") == read_conllu(path) and len(read_conllu(path)) == 2
    ner = tmp_path / "eng.testa"
    ner.write_bytes(b"Jos\xe9 NNP B-NP B-PER\n")
    with pytest.raises(InputError, match=r"eng\.testa: expected UTF-8 text; invalid UTF-8 at byte 3 \(line 1, column 4\): bytes e9"):
        read_conll_ner(ner)


def test_ner_reader_and_its_malformed_line(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n",
                    encoding="utf-8")
    assert read_conll_ner(path) == [Example(("EU", "rejects"), ("B-ORG", "O")), Example(("Peter",), ("B-PER",))]
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP PERSON\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"eng\.train: .*tag O or B-/I-/E-/S-<type> last; line 2"):
        read_conll_ner(path)
    # line 4 lost its NER column: its chunk tag B-NP would pass for an entity tag
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nPeter NNP B-NP\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"eng\.train: expected 4 whitespace-separated columns on every token line "
                                         r"\(as on line 3\); line 4 has 3: 'Peter NNP B-NP'"):
        read_conll_ner(path)


# --------------------------------------------------------------------------- the tagger learns from the vectors

N_CLASSES, DIM = 4, 8


def _synthetic(seed=0):
    """Words of 4 classes; a token's tag is its word's class. Train, dev and test use DISJOINT words,
    so a tagger can only score above chance (0.25) on dev/test through what the vectors say of a word."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, DIM)) * 3
    groups = {split: [[f"{split}{c}w{i}" for i in range(n)] for c in range(N_CLASSES)]
              for split, n in (("train", 25), ("dev", 8), ("test", 8))}
    keys, informative = [], []
    for split in groups:
        for c, words in enumerate(groups[split]):
            keys += words
            informative += [centres[c] + rng.normal(size=DIM) for _ in words]
    informative = make_keyed_vectors(keys, np.array(informative))
    random_kv = make_keyed_vectors(keys, rng.normal(size=(len(keys), DIM)) * 3)
    pick = random.Random(seed)

    def sentences(split, n):
        out = []
        for _ in range(n):
            classes = [pick.randrange(N_CLASSES) for _ in range(6)]
            out.append(Example(tuple(pick.choice(groups[split][c]) for c in classes),
                               tuple(f"T{c}" for c in classes)))
        return out

    return informative, random_kv, sentences("train", 300), sentences("dev", 40), sentences("test", 80)


def test_tagger_uses_the_vectors():
    informative, random_kv, train, dev, test = _synthetic()
    settings = TaggerSettings(hidden=16, epochs=8, patience=2, batch_size=16, lr=1e-2, seed=3)
    good = fit_tagger(informative, train, dev, settings, extra=test)
    good_scores = evaluate_tagger(good, test)
    bad_scores = evaluate_tagger(fit_tagger(random_kv, train, dev, settings, extra=test), test)
    assert good_scores["accuracy"] > 0.9, good_scores
    assert bad_scores["accuracy"] < 0.5, bad_scores  # chance is 0.25
    assert good_scores["oov_rate"] == 0.0 and good_scores["n"] == 80 * 6
    again = fit_tagger(informative, train, dev, settings, extra=test)  # seeded and deterministic on the CPU
    assert again.best_epoch == good.best_epoch
    for name, weights in good.model.state_dict().items():
        assert torch.equal(weights, again.model.state_dict()[name]), name


def test_pooled_classifier_and_unknown_words():
    informative, random_kv, *_ = _synthetic()
    pick = random.Random(1)

    def sentences(split, n):  # a sentence's words are of one class; its label is that class
        out = []
        for _ in range(n):
            c = pick.randrange(N_CLASSES)
            out.append(Example(tuple(f"{split}{c}w{pick.randrange(8)}" for _ in range(5)), (f"S{c}",)))
        return out

    train, dev, test = sentences("train", 200), sentences("dev", 40), sentences("test", 60)
    data = TaggingData("synthetic", tuple(train), tuple(dev), tuple(test))
    settings = TaggerSettings(hidden=16, epochs=8, batch_size=16, lr=1e-2, pool="max")
    good = ExtrinsicEvaluator(data, settings)(informative)
    bad = ExtrinsicEvaluator(data, settings)(random_kv)
    assert good["extrinsic_synthetic_accuracy"] > 0.9, good
    assert bad["extrinsic_synthetic_accuracy"] < 0.5, bad
    # the test words removed from the vectors: every test token reads the zero vector
    known = [k for k in informative.index_to_key if not k.startswith("test")]
    no_test_words = make_keyed_vectors(known, informative[known])
    blind = ExtrinsicEvaluator(data, settings)(no_test_words)
    assert blind["extrinsic_synthetic_oov_rate"] == 1.0
    assert blind["extrinsic_synthetic_accuracy"] < 0.5


# --------------------------------------------------------------------------- same words for every set

S = 1 / math.sqrt(2)
WORDS = {"man": (1, 0, 0), "woman": (0, 1, 0), "king": (S, 0, S), "queen": (0, S, S), "apple": (0, 0, -1)}
QUESTIONS = [
    ("man", "king", "woman", "queen"),   # q = (-.29, 1, .71): queen .71+.5 > apple -.71 -> rank 1
    ("woman", "queen", "man", "king"),   # q = (1, -.29, .71): king 1.21 > apple -.71 -> rank 1
    ("king", "queen", "apple", "man"),   # q = (-.71, .71, -1): woman .71 > man -.71 -> rank 2
    ("man", "king", "woman", "princess"),  # "princess" is only in set a: not a shared word, not asked
]


def _sets():
    b = make_keyed_vectors(list(WORDS), np.array(list(WORDS.values()), dtype=np.float32))
    # set a: other key order and case, plus "princess" exactly where question 1 points
    keys_a = ["princess", "Queen", "apple", "King", "woman", "man"]
    rows_a = [(-1 + S, 1, S)] + [WORDS[k.lower()] for k in keys_a[1:]]
    a = make_keyed_vectors(keys_a, np.array(rows_a, dtype=np.float32))
    return a, b


def test_restricted_analogies_equal_the_hand_computation():
    a, b = _sets()
    # unrestricted, set a answers question 1 with "princess" and gets question 4 right
    assert analogy_accuracy(a, QUESTIONS)["accuracy"] == 2 / 4
    table = compare_vector_sets({"a": a, "b": b}, analogies=QUESTIONS, similarity={})
    for row in table.iter_rows(named=True):
        assert row["analogy_google_n"] == 3 and row["analogy_google_coverage"] == 0.75
        assert row["analogy_google_accuracy"] == pytest.approx(2 / 3)
        assert row["analogy_google_mrr"] == pytest.approx((1 + 1 + 1 / 2) / 3)


class _RecordingEvaluator:
    """Stands for the tagger: records the words each set is evaluated on."""

    primary_metric = "extrinsic_probe_accuracy"

    def __init__(self):
        self.seen = []

    def __call__(self, kv):
        self.seen.append(list(kv.index_to_key))
        return {"extrinsic_probe_accuracy": len(kv.index_to_key) / 8}  # a fraction, as an accuracy is


def test_comparison_has_one_row_per_set_on_the_same_words(tmp_path):
    a, b = _sets()
    rng = np.random.default_rng(0)
    c = make_keyed_vectors(["apple", "man", "woman", "king", "queen", "pear"], rng.normal(size=(6, 3)))
    pairs = [("king", "queen", 8.0), ("man", "woman", 6.0), ("apple", "king", 1.0), ("princess", "queen", 7.0),
             ("pear", "apple", 9.0)]
    probe = _RecordingEvaluator()
    sets = {"a": a, "b": b, "x2static.L6": c}
    table = compare_vector_sets(sets, similarity={"simlex999": pairs}, analogies=QUESTIONS, tagging=probe,
                                vocabulary=["king", "queen", "man", "woman", "apple", "pear", "princess"])
    assert table["set"].to_list() == ["a", "b", "x2static.L6"]
    assert probe.seen == [["queen", "apple", "king", "woman", "man"]] * 3  # set a's order, lower case
    assert table["vocabulary"].to_list() == [5] * 3
    assert table["simlex999_n"].to_list() == [3] * 3 and table["simlex999_coverage"].to_list() == [0.6] * 3
    assert table["analogy_google_n"].to_list() == [3] * 3
    assert shared_vocabulary(sets, ["king", "man"]) == ["king", "man"]

    metrics = write_comparison(table, tmp_path)
    assert pl.read_parquet(tmp_path / "comparison.parquet").equals(table)
    md = (tmp_path / "comparison.md").read_text().splitlines()
    assert md[0] == "# 3 vector sets on 5 shared words"
    full = md[md.index("## Every column") + 2:]
    assert len(full) == 2 + 3 and full[4].startswith("| x2static.L6 | 5 |")
    head = md[md.index("| set | analogies accuracy | analogies MRR | SimLex-999 Spearman | probe accuracy |") + 2:]
    for name, line in zip(["a", "b", "x2static.L6"], head):  # the best value of each headline column in bold
        cells = line.strip("|").split(" | ")
        assert cells[0].strip() == name
        for col, shown in zip(["analogy_google_accuracy", "analogy_google_mrr", "simlex999_spearman",
                               "extrinsic_probe_accuracy"], cells[1:]):
            value = table.filter(pl.col("set") == name)[col][0]
            best = value == table[col].max()
            assert shown.strip() == (f"**{value:.3f}**" if best else f"{value:.3f}"), (name, col, shown)
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert metrics["simlex999_spearman-x2static_l6"] == table["simlex999_spearman"][2]
    assert metrics["analogy_google_mrr-a"] == pytest.approx(5 / 6) and metrics["vocabulary_n"] == 5
    assert len(metrics) == 1 + 3 * (len(table.columns) - 2)
    json.dumps(metrics)  # plain JSON scalars


def test_no_shared_word_is_refused():
    a = make_keyed_vectors(["x"], np.ones((1, 2)))
    b = make_keyed_vectors(["y"], np.ones((1, 2)))
    with pytest.raises(InputError, match="expected words shared by every vector set \\(a, b\\); none"):
        compare_vector_sets({"a": a, "b": b})


def test_the_plot_draws_one_panel_per_headline_score_with_every_set_in_table_order(tmp_path, monkeypatch):
    """Each headline score gets its own panel; its bars are the table's values, the sets in the same order in
    every panel (first on top), and an error bar only where a set has a spread over seeds."""
    import pipeline.figures as figures
    from pipeline.static import compare

    table = pl.DataFrame({
        "set": ["isolation.L6", "fasttext", "x2static.L6"], "vocabulary": [50, 50, 50], "seeds": [1, 3, 1],
        "analogy_google_accuracy": [0.6, 0.5, 0.2], "simlex999_spearman": [0.3, 0.25, None],
        "simlex999_spearman_sd": [None, 0.02, None], "bli_en-es_precision_at_1-csls_knn_10": [0.1, 0.2, 0.05],
        "bli_en-es_precision_at_1-nn": [0.9, 0.9, 0.9], "extrinsic_versebook_accuracy": [0.7, 0.6, 0.65]})
    seen = {}
    real_save = figures.save_figure

    def capture(fig, path):
        seen["fig"] = fig
        seen["axes"] = [ax for ax in fig.axes if ax.get_visible()]
        seen["names"] = [t.get_text() for t in seen["axes"][0].get_yticklabels()]
        seen["panels"] = [(ax.get_title(), [round(float(p.get_width()), 6) for p in ax.patches],
                           [round(float(p.get_y() + p.get_height() / 2), 6) for p in ax.patches],
                           len(ax.collections), bool(ax.yaxis_inverted()), [t.get_text() for t in ax.texts])
                          for ax in seen["axes"]]
        return real_save(fig, path)

    monkeypatch.setattr(figures, "save_figure", capture)
    compare._plot(table, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert seen["names"] == ["isolation.L6", "fasttext", "x2static.L6"]  # y = 0, 1, 2 in every panel (shared)
    y = [0.0, 1.0, 2.0]
    assert seen["panels"] == [
        ("analogies accuracy", [0.6, 0.5, 0.2], y, 0, True, ["0.600", "0.500", "0.200"]),
        ("SimLex-999 Spearman", [0.3, 0.25, 0.0], y, 1, True, ["0.300", "0.250", "–"]),  # one error bar: fasttext's
        ("BLI en-es P@1 (CSLS)", [0.1, 0.2, 0.05], y, 0, True, ["0.100", "0.200", "0.050"]),  # not P@1 with nn
        ("versebook accuracy", [0.7, 0.6, 0.65], y, 0, True, ["0.700", "0.600", "0.650"])]
