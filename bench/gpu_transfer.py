"""GPU check for the transfer stage (issue 4): one prepared script, a few minutes on one GPU.

1. WECHSEL target embeddings on the declared synthetic set (50k x 50k subwords, 300-d, source matrix
   50k x 768) with ``device="cuda"``: seconds, against the bare product on the same device.
2. Continued pretraining (masked LM, bf16 autocast) of a RoBERTa-base-sized model built from its config
   (random weights, vocabulary 50,265, 12 layers x 768) on random token blocks, through the same
   :func:`pipeline.transfer.pretrain.continued_pretraining` the ``PretrainedModel`` stage runs:
   tokens/s (after warm-up steps) and peak GPU memory.

    python bench/gpu_transfer.py [--steps 60] [--batch 32] [--seq 512] > $OUT/gpu_transfer.txt
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
    args = ap.parse_args()

    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast
    from tokenizers import ByteLevelBPETokenizer

    from pipeline.transfer.embeddings import create_target_embeddings
    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining

    assert torch.cuda.is_available(), "this script is for a GPU machine"
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    rng = np.random.default_rng(0)
    n, d = 50_000, 300
    src = rng.standard_normal((n, d), dtype=np.float32)
    tgt = rng.standard_normal((n, d), dtype=np.float32)
    E = rng.standard_normal((n, 768), dtype=np.float32)
    create_target_embeddings(src[:5000], tgt[:5000], E[:5000], device="cuda")  # warm-up (CUDA context, kernels)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    create_target_embeddings(src, tgt, E, device="cuda")
    torch.cuda.synchronize()
    result["wechsel_50k_seconds_cuda"] = round(time.perf_counter() - t0, 3)
    S = torch.from_numpy(src).cuda()
    T = torch.from_numpy(tgt).cuda()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, n, 4096):
        _ = T[s:s + 4096] @ S.T
    torch.cuda.synchronize()
    result["product_50k_seconds_cuda"] = round(time.perf_counter() - t0, 3)

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
    warm = PretrainSettings(steps=args.warmup, batch_size=args.batch, seq_len=args.seq, device="cuda", bf16=True,
                            checkpoint_every=10**9, log_every=0)
    continued_pretraining(model, tok, blocks, warm, work + "/warm", "mlm")
    torch.cuda.synchronize()
    settings = PretrainSettings(steps=args.steps, batch_size=args.batch, seq_len=args.seq, device="cuda", bf16=True,
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
