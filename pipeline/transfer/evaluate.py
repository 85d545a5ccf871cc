"""Sentence retrieval across languages with mean-pooled encoder states.

The check WECHSEL's transfer is judged by offline: on parallel sentences held
out of every training step (Bible verses of one book), encode the English
side with the original English model and the target side with a candidate
model, and rank every target sentence for each English one by cosine::

    q = encode_mean(en_model, en_tokenizer, english_verses)
    d = encode_mean(es_model, es_tokenizer, spanish_verses)
    retrieval_metrics(q, d)          # {"top1": ..., "mrr": ...}; query i's match is row i

:func:`verse_retrieval` runs a :class:`~pipeline.evaluators.RetrievalEvaluator`
per candidate model, which names the measures (``retrieval_mrr-wechsel``).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["encode_mean", "retrieval_metrics", "parallel_verses", "verse_retrieval", "random_init_baseline"]


def _padded_batch(tokenizer, texts, max_length, pad):
    if not pad:
        return tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    import torch

    rows = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    width = max((len(r) for r in rows), default=0)
    pad_id = tokenizer.convert_tokens_to_ids(pad["pad_token"])
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):  # right padding, as the mean over the mask assumes nothing about the side
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    from transformers import BatchEncoding

    return BatchEncoding({"input_ids": ids, "attention_mask": mask})


def encode_mean(model, tokenizer, texts: Sequence[str], batch_size: int = 64, max_length: int = 128,
                device: str = "cpu") -> np.ndarray:
    """Unit-length mean of the last hidden states over each text's tokens (padding excluded)."""
    import numpy as np
    import torch

    base = getattr(model, "base_model", model)
    base.eval().to(device)
    out = []
    pad = {}
    if tokenizer.pad_token is None:  # decoders (Llama, Mistral) have none; the mask keeps padding out anyway
        pad = {"pad_token": tokenizer.eos_token or tokenizer.convert_ids_to_tokens(0)}
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = _padded_batch(tokenizer, list(texts[start:start + batch_size]), max_length, pad).to(device)
            hidden = base(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, 0), dtype=np.float32)


def retrieval_metrics(queries: np.ndarray, docs: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and MRR of retrieving ``docs[i]`` for ``queries[i]`` among all docs (cosine)."""
    import numpy as np

    if len(queries) != len(docs) or len(queries) == 0:
        raise ValueError(f"need as many queries as documents (got {len(queries)} and {len(docs)})")
    sims = queries @ docs.T
    correct = np.diag(sims)
    ranks = 1 + (sims > correct[:, None]).sum(axis=1)
    return {"top1": float(np.mean(ranks == 1)), "mrr": float(np.mean(1.0 / ranks)), "n": int(len(ranks))}


def _read_verses(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(path, "a verse table (ref<TAB>text, header 'ref\\ttext')", "no such file")
    out = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if n == 1 and line.startswith("ref\t"):
                continue
            parts = line.rstrip("\n").split("\t", 1)
            if len(parts) != 2:
                raise InputError(f"{path}:{n}", "ref<TAB>text", repr(line[:60]))
            out[parts[0]] = parts[1]
    return out


def parallel_verses(source_table: str | Path, target_table: str | Path,
                    books: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Verses of ``books`` present in both tables: (refs, source texts, target texts), in source order."""
    books = set(books)
    src, tgt = _read_verses(Path(source_table)), _read_verses(Path(target_table))
    refs = [r for r in src if r.rsplit(" ", 1)[0] in books and r in tgt and src[r].strip() and tgt[r].strip()]
    if not refs:
        raise InputError(target_table, f"verses of {', '.join(sorted(books))} in both {source_table} and it",
                         "none in common")
    return refs, [src[r] for r in refs], [tgt[r] for r in refs]


def verse_retrieval(source_table: str | Path, target_table: str | Path, books: Sequence[str], english: tuple,
                    candidates: dict, *, batch_size: int = 64, max_length: int = 128) -> dict:
    """English-to-target verse retrieval on ``books``: the English side encoded by ``english`` (model,
    tokenizer), the target side by each candidate (name -> (model, tokenizer)).

    Returns ``retrieval_pairs``, ``retrieval_books`` and, per candidate,
    ``retrieval_top1-<name>`` and ``retrieval_mrr-<name>`` (e.g. ``retrieval_mrr-wechsel``).
    """
    from ..evaluators import RetrievalEvaluator, metric_name

    refs, src_txt, tgt_txt = parallel_verses(source_table, target_table, books)
    q = encode_mean(*english, src_txt, batch_size=batch_size, max_length=max_length)

    def encode(candidate, texts):
        return encode_mean(*candidate, texts, batch_size=batch_size, max_length=max_length)

    out = {metric_name("retrieval", "books"): ",".join(books)}
    for name, candidate in candidates.items():
        out.update(RetrievalEvaluator(q, tgt_txt, name, encode)(candidate))
    return out


def random_init_baseline(model, source_matrix: np.ndarray, n_rows: int, seed: int, keep=()):
    """A copy of ``model`` whose input embeddings (``n_rows``) are drawn from N(mean, std) of the source's
    embedding matrix, seeded: the baseline WECHSEL's initialisation is compared with. ``keep``: rows left as
    ``model`` has them (the source rows of an extended vocabulary)."""
    import copy

    import numpy as np
    import torch

    rnd = copy.deepcopy(model)
    rand = np.random.default_rng(seed).normal(source_matrix.mean(0), source_matrix.std(0),
                                              (n_rows, source_matrix.shape[1]))
    keep = np.asarray(list(keep), dtype=np.int64)
    if len(keep):
        rand[keep] = model.get_input_embeddings().weight.detach().cpu().numpy()[keep]
    with torch.no_grad():
        rnd.get_input_embeddings().weight.copy_(torch.from_numpy(rand.astype(np.float32)))
    return rnd
