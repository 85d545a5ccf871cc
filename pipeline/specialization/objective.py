"""The training objective of lexical specialization: a multi-positive InfoNCE (NT-Xent)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiPositiveInfoNCE"]


class MultiPositiveInfoNCE(nn.Module):
    """Contrastive loss over a batch of word embeddings with synset labels and in-batch negatives.

    Inputs: ``embeddings`` ``(n, d)`` (one row per word, e.g. both words of
    each constraint pair), ``labels`` ``(n,)`` integer synset ids, and
    optionally ``ignore`` ``(n, n)`` bool: pairs that are neither positives nor
    negatives (the same word string met under two different synsets). For an
    anchor ``i`` with positives ``P(i) = {j != i : labels[j] == labels[i]}``::

        loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{k != i, not ignored} exp(s_ik / t) )

    with ``s`` the cosine similarity and ``t`` the temperature (0.07); the
    loss is the mean over anchors that have a positive. This is NT-Xent
    (Chen et al. 2020, SimCLR) with several positives per anchor (Khosla et
    al. 2020, "Supervised contrastive learning", L_out), as used by Green,
    Ponzetto and Glavaš (2022, "BabelBERT") with BabelNet synsets as labels.

    >>> import torch
    >>> loss = MultiPositiveInfoNCE(temperature=0.07)
    >>> close = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    >>> far = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.1, 0.99]])
    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> bool(loss(close, labels) < 0.01 < loss(far, labels))
    True
    """

    def __init__(self, temperature: float = 0.07):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; found {temperature}")
        self.temperature = temperature

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor,
                ignore: torch.Tensor | None = None) -> torch.Tensor:
        z = F.normalize(embeddings.float(), dim=-1)
        logits = z @ z.T / self.temperature
        n = logits.shape[0]
        self_mask = torch.eye(n, dtype=torch.bool, device=logits.device)
        positive = (labels[:, None] == labels[None, :]) & ~self_mask
        excluded = self_mask if ignore is None else self_mask | (ignore & ~positive)
        logits = logits.masked_fill(excluded, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        n_pos = positive.sum(dim=1)
        per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(dim=1) / n_pos.clamp(min=1)
        has_pos = n_pos > 0
        if not bool(has_pos.any()):
            return logits.new_zeros(()) * embeddings.sum()  # keeps the graph, contributes nothing
        return per_anchor[has_pos].mean()
