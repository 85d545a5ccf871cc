"""CADE: compass-aligned distributional embeddings (a gensim compass, slices with a frozen context matrix)."""
from .train import CadeSettings, SliceModel, TokenCorpus, load_token_corpus, train_compass, train_slice

__all__ = ["CadeSettings", "SliceModel", "TokenCorpus", "load_token_corpus", "train_compass", "train_slice"]
