"""GPU check for the transfer stage (issue 4): one prepared script, a few minutes on one GPU.

1. WECHSEL target embeddings on the declared synthetic set (50k x 50k subwords, 300-d, source matrix
   50k x 768) with ``device="cuda"``: seconds, against the bare product on the same device.
2. Continued pretraining (masked LM, bf16 autocast) of a RoBERTa-base-sized model built from its config
   (random weights, vocabulary 50,265, 12 layers x 768) on random token blocks, through the same
   :func:`pipeline.transfer.pretrain.continued_pretraining` the ``PretrainedModel`` stage runs:
   tokens/s (after warm-up steps) and peak GPU memory.
3. Continued pretraining (causal LM, bf16 autocast) of a 0.5B decoder built from Qwen2.5-0.5B's config
   (random weights, vocabulary 151,936, 24 layers x 896, 14 heads / 2 key-value heads, tied embeddings),
   the same function again: tokens/s and peak GPU memory (``--decoder-batch`` x ``--decoder-seq``).

    python bench/gpu_transfer.py [--steps 60] [--batch 32] [--seq 512] > $OUT/gpu_transfer.txt
    python bench/gpu_transfer.py --device cpu --n 2000 --steps 2 --warmup 1 --batch 2 --seq 64 \
        --decoder-tiny --decoder-batch 2 --decoder-seq 64                                       # dry run
    python bench/gpu_transfer.py --parts decoder                                                # only 3.
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
    ap.add_argument("--parts", default="wechsel,roberta,decoder", help="which of the three measurements to run")
    ap.add_argument("--decoder-batch", type=int, default=8)
    ap.add_argument("--decoder-seq", type=int, default=1024)
    ap.add_argument("--decoder-tiny", action="store_true",
                    help="a 2-layer, 64-wide Qwen2 with 1,000 tokens instead of the 0.5B one (CPU dry run)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    import torch

    dev = args.device
    cuda = dev == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device: this script is for a GPU machine (--device cpu dry-runs it)")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__}
    for part, measure in (("wechsel", _wechsel), ("roberta", _roberta), ("decoder", _decoder)):
        if part in parts:
            measure(args, dev, sync, result)
            save_result("gpu_transfer", result)  # after each part: a run cut short keeps what it measured
    print(json.dumps(result, indent=2))
    print(save_result("gpu_transfer", result))


def _wechsel(args, dev, sync, result) -> None:
    import torch

    from pipeline.transfer.embeddings import create_target_embeddings

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


def _roberta(args, dev, sync, result) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining

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


def _decoder(args, dev, sync, result) -> None:
    """A Qwen2.5-0.5B-sized causal LM from its config: CLM continued pretraining, tokens/s and peak memory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining

    if args.decoder_tiny:
        cfg = Qwen2Config(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                          tie_word_embeddings=True)
    else:  # Qwen/Qwen2.5-0.5B's config.json
        cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                          num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                          rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                          bos_token_id=151643, eos_token_id=151643)
    # the loop needs a tokenizer only for its special ids: a small byte-level one whose <|endoftext|> is the eos
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["a tiny corpus for the special tokens only"] * 10,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    params = sum(p.numel() for p in model.parameters())
    batch, seq = args.decoder_batch, args.decoder_seq
    blocks = torch.randint(0, cfg.vocab_size, (batch * (args.steps + 1), seq))
    if dev == "cuda":  # the peak the loop reports is the process's: the RoBERTa part's must not count
        torch.cuda.reset_peak_memory_stats()
    work = tempfile.mkdtemp()
    warm = PretrainSettings(steps=args.warmup, batch_size=batch, seq_len=seq, device=dev, bf16=True,
                            checkpoint_every=10**9, log_every=0)
    continued_pretraining(model, tok, blocks, warm, work + "/warm", "clm")
    sync()
    settings = PretrainSettings(steps=args.steps, batch_size=batch, seq_len=seq, device=dev, bf16=True,
                                checkpoint_every=10**9, log_every=0)
    r = continued_pretraining(model, tok, blocks, settings, work + "/run", "clm")
    result.update({"decoder_model": ("tiny Qwen2 config" if args.decoder_tiny else "Qwen2.5-0.5B config")
                   + f" ({params / 1e6:.2f}M parameters, tied)", "decoder_batch": batch, "decoder_seq": seq,
                   "decoder_steps": args.steps, "decoder_tokens_per_second": r["tokens_per_second"],
                   "decoder_peak_memory_gib": round(r["peak_memory_bytes"] / 2**30, 2),
                   "decoder_bf16": r["bf16"], "decoder_final_loss": r["losses"][-1]})


if __name__ == "__main__":
    sys.exit(main())
