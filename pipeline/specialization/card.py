"""The model card (``model/README.md``) of a specialized encoder: method, sources, licences and metrics."""
from __future__ import annotations

from pathlib import Path

from .spec import SpecializationSpec

__all__ = ["model_card"]


def _sources(s: SpecializationSpec) -> list[str]:
    c = s.constraints
    return ([f"WordNet 3.0 ({', '.join(c.wordnet.pos)})"] if c.wordnet else []) + \
        [f"FreeDict {Path(d.path).name} ({d.source_lang}-{d.target_lang})" for d in c.freedict] + \
        [f"{pv.source_lang}-{pv.target_lang} through {pv.via} ("
         f"{', '.join(Path(d.path).name for d in pv.dictionaries)}; pivot words with at most {pv.max_fanout} "
         f"translations a side)" for pv in c.pivots] + \
        [f"Apertium {Path(a.path).name} ({a.source_lang}-{a.target_lang}, looked up with WordNet lemmas)"
         for a in c.apertium] + \
        ([f"BabelNet ({', '.join(c.babelnet.target_langs)})"] if c.babelnet else [])


def model_card(s: SpecializationSpec, metrics: dict, source_licence: str | None = None) -> str:
    """A Hugging Face model card: front matter, the method, the sources and the before/after/train metrics.

    ``source_licence``: the source model's (from its card or package), named beside it; the front matter's
    ``license`` is the spec's ``licence`` when it declares one (the constraints' resources have their own).

    >>> from pipeline.specialization.spec import ConstraintsSpec, WordNetSpec
    >>> card = model_card(SpecializationSpec(model="org/enc", constraints=ConstraintsSpec(wordnet=WordNetSpec()),
    ...                                      name="toy"), {"constraint_pairs": 3, "after_simlex999_spearman": 0.5},
    ...                   source_licence="apache-2.0")
    >>> "base_model: org/enc" in card, "| after_simlex999_spearman | 0.5000 |" in card, "(licence apache-2.0)" in card
    (True, True, True)
    """
    from ..inputs import card_front_matter

    front = "\n".join(card_front_matter(s.model, s.licence))
    c = s.constraints
    shown = {k: v for k, v in metrics.items() if k.startswith(("before_", "after_", "delta_", "train_"))
             and isinstance(v, (int, float))}
    rows = "".join(f"| {k} | {v:.4f} |\n" if isinstance(v, float) else f"| {k} | {v} |\n" for k, v in shown.items())
    return f"""---
library_name: transformers
{front + chr(10) if front else ""}tags: [lexical-specialization, babelbert, contrastive]
---
# {s.name}: lexically specialized {s.model}

{s.description}

Fine-tuned with chronolingua (`luigi --module pipeline SpecializedModel --spec {s.name}`) so that synonyms and
translations get close vectors: both words of each constraint pair are encoded in isolation and mean-pooled over
their subwords (layer {s.train.layer}), and a multi-positive InfoNCE loss (temperature {s.train.temperature},
in-batch negatives, labels = synset ids) is minimised with AdamW (lr {s.train.lr}, batch {s.train.batch_pairs}
pairs, {s.train.epochs} epochs{f", at most {s.train.max_steps} steps" if s.train.max_steps else ""}); method of
Green, Ponzetto and Glavaš (2022), "BabelBERT: massively multilingual transformers meet a massively multilingual
lexical resource".

- Source model: `{s.model}`{f" (revision {s.model_revision})" if s.model_revision else ""}{
    f" (licence {source_licence})" if source_licence else ""}
- Constraints: {"; ".join(_sources(s))}; {metrics.get("constraint_pairs")} pairs; SimLex-999 words
  {"held out" if c.holdout_simlex999 else "not held out"}; dictionary test words held out for BLI
- Licences: {s.licence or "those of the source model and of the lexical resources above"}

Load with `AutoModel.from_pretrained(<this folder>)` and `AutoTokenizer.from_pretrained(<this folder>)`.

| metric | value |
|---|---|
{rows}"""
