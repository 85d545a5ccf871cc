"""GPU check for the transfer stage (issue 4): one prepared script, a few minutes on one GPU.

1. WECHSEL target embeddings on the declared synthetic set (50k x 50k subwords, 300-d, source matrix
   50k x 768) with ``device="cuda"``: seconds, against the bare product on the same device.
2. Continued pretraining (masked LM, bf16 autocast) of a RoBERTa-base-sized model built from its config
   (random weights, vocabulary 50,265, 12 layers x 768) on random token blocks, through the same
   :func:`pipeline.transfer.pretrain.continued_pretraining` the ``PretrainedModel`` stage runs:
   tokens/s (after warm-up steps) and peak GPU memory.

    python bench/gpu_transfer.py [--steps 60] [--batch 32] [--seq 512] > $OUT/gpu_transfer.txt
    python bench/gpu_transfer.py --device cpu --n 2000 --steps 2 --warmup 1 --batch 2 --seq 64   # dry run
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

from common import save_result  # sets sys.path to the repository


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--n", type=int, default=50_000, help="subwords per side")
    ap.add_argument("--device", default="cuda", help="cpu only to dry-run the script with small sizes")
    args = ap.parse_args()

    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast
    from tokenizers import ByteLevelBPETokenizer

    from pipeline.transfer.embeddings import create_target_embeddings
    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining

    dev = args.device
    cuda = dev == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device: this script is for a GPU machine (--device cpu dry-runs it)")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__}
    rng = np.random.default_rng(0)
    n, d = args.n, 300
    src = rng.standard_normal((n, d), dtype=np.float32)
    tgt = rng.standard_normal((n, d), dtype=np.float32)
    E = rng.standard_normal((n, 768), dtype=np.float32)
    m = min(n, 5000)
    create_target_embeddings(src[:m], tgt[:m], E[:m], device=dev)  # warm-up (CUDA context, kernels)
    sync()
    t0 = time.perf_counter()
    create_target_embeddings(src, tgt, E, device=dev)
    sync()
    result["wechsel_seconds"] = round(time.perf_counter() - t0, 3)
    S = torch.from_numpy(src).to(dev)
    T = torch.from_numpy(tgt).to(dev)
    sync()
    t0 = time.perf_counter()
    for s in range(0, n, 4096):
        _ = T[s:s + 4096] @ S.T
    sync()
    result["product_seconds"] = round(time.perf_counter() - t0, 3)
    result["wechsel_over_product"] = round(result["wechsel_seconds"] / max(result["product_seconds"], 1e-9), 2)

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["a tiny corpus for special tokens only"] * 10, vocab_size=300,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    tok = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                               cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    vocab = 50265
    model = RobertaForMaskedLM(RobertaConfig(vocab_size=vocab, max_position_embeddings=args.seq + 2,
                                             pad_token_id=tok.pad_token_id))
    n_blocks = args.batch * (args.steps + 1)
    blocks = torch.randint(5, min(len(tok), vocab), (n_blocks, args.seq))
    blocks[:, 0], blocks[:, -1] = tok.cls_token_id, tok.sep_token_id
    work = tempfile.mkdtemp()
    warm = PretrainSettings(steps=args.warmup, batch_size=args.batch, seq_len=args.seq, device=dev, bf16=True,
                            checkpoint_every=10**9, log_every=0)
    continued_pretraining(model, tok, blocks, warm, work + "/warm", "mlm")
    sync()
    settings = PretrainSettings(steps=args.steps, batch_size=args.batch, seq_len=args.seq, device=dev, bf16=True,
                                checkpoint_every=10**9, log_every=0)
    r = continued_pretraining(model, tok, blocks, settings, work + "/run", "mlm")
    result.update({"pretrain_model": "roberta-base config (125M)", "pretrain_batch": args.batch,
                   "pretrain_seq": args.seq, "pretrain_steps": args.steps,
                   "pretrain_tokens_per_second": r["tokens_per_second"],
                   "pretrain_peak_memory_gib": round(r["peak_memory_bytes"] / 2**30, 2), "bf16": r["bf16"],
                   "final_loss": r["losses"][-1]})
    print(json.dumps(result, indent=2))
    save_result("gpu_transfer", result)


if __name__ == "__main__":
    sys.exit(main())
