"""Run the reference ``wechsel`` 0.0.4 package side by side with :mod:`.embeddings`.

The reference's ``create_target_embeddings`` asks its tokenizer arguments for
``vocab``, ``convert_ids_to_tokens``, ``special_tokens_map`` and ``len``
only; :class:`VocabTokenizer` provides exactly that over a plain token list,
so both implementations can be fed identical matrices of any size without
training tokenizers. ``wechsel`` itself is a test/benchmark dependency
(``pip install --no-deps wechsel==0.0.4``), imported only when called.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["VocabTokenizer", "reference_create_target_embeddings"]


class VocabTokenizer:
    """The slice of the Hugging Face tokenizer interface the reference uses."""

    def __init__(self, tokens: Sequence[str], special_tokens: dict[str, str] | None = None):
        self.tokens = list(tokens)
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        if len(self.vocab) != len(self.tokens):
            raise ValueError("tokens must be unique")
        self.special_tokens_map = dict(special_tokens or {})

    def __len__(self) -> int:
        return len(self.tokens)

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, (int, np.integer)):
            return self.tokens[int(ids)]
        return [self.tokens[int(i)] for i in ids]


def reference_create_target_embeddings(source_subwords, target_subwords, source_tokenizer, target_tokenizer,
                                       source_matrix, neighbors=10, temperature=0.1, dtype=np.float64):
    """The reference's ``create_target_embeddings`` on rows normalised the way its ``WECHSEL.apply`` does.

    ``WECHSEL.apply`` hands it float64 rows; ``dtype=np.float32`` gives the
    reference its fastest (float32) similarity product for timing.
    """
    from wechsel import create_target_embeddings

    src = np.array(source_subwords, dtype=dtype)
    tgt = np.array(target_subwords, dtype=dtype)
    src /= np.linalg.norm(src, axis=1)[:, None] + 1e-8
    tgt /= np.linalg.norm(tgt, axis=1)[:, None] + 1e-8
    return create_target_embeddings(src, tgt, source_tokenizer, target_tokenizer, np.array(source_matrix),
                                    neighbors=neighbors, temperature=temperature, verbose=False)
