"""The model card (``model/README.md``) of a transferred model: source, data, method, neighbours, metrics."""
from __future__ import annotations

from pathlib import Path

from .spec import TransferSpec

__all__ = ["model_card"]


def model_card(spec: TransferSpec, info: dict, metrics: dict, pretraining: dict | None = None,
               corpora: Path | None = None) -> str:
    """Markdown with front matter; ``info`` is the transfer summary, ``pretraining`` the pretrain stage's metrics.

    ``corpora``: the corpus root, for the licences of ``spec.target.corpora``.

    >>> from pipeline.transfer.spec import SourceModelSpec, TargetSpec
    >>> spec = TransferSpec(SourceModelSpec("org/enc"), TargetSpec("es", url="https://example.org/es.txt"), "es")
    >>> card = model_card(spec, {"kind": "bert"}, {"retrieval_mrr-wechsel": 0.25})
    >>> "# enc transferred to `es` with WECHSEL" in card, "| retrieval_mrr-wechsel | 0.2500 |" in card
    (True, True)
    """
    from ..models import model_name

    t = spec.target
    data = ", ".join(t.corpora) if t.corpora else t.url
    licences = []
    if t.corpora and corpora is not None:
        from ..corpora import load_declaration

        licences = [f"{n}: {load_declaration(Path(corpora) / n).licence}" for n in t.corpora]
    lines = [
        "---", f"language: {t.lang}", "tags: [wechsel, chronolingua]", "---", "",
        f"# {model_name(spec.source_model.model)} transferred to `{t.lang}` with WECHSEL", "",
        f"- Source model: `{spec.source_model.model}` (revision `{spec.source_model.revision}`, kind "
        f"{info.get('kind')}, objective {info.get('objective')}); its licence applies to these weights.",
        f"- Target data: {data}" + (f" (held out: {', '.join(t.holdout)})" if t.holdout else "") + ".",
        *(f"  - licence {x}" for x in licences),
        f"- Static vectors: aligned spec `{spec.static_vectors}` (fastText, Procrustes + CSLS refinement).",
        f"- Method: WECHSEL (Minixhofer et al., NAACL 2022), {spec.wechsel.mode} mode, k = {spec.wechsel.neighbors}, "
        f"temperature {spec.wechsel.temperature}; new tokenizer of the source's kind, vocabulary "
        f"{info.get('target_vocab')}.",
        f"- Target subwords with source neighbours: {info.get('target_subwords_matched')} of "
        f"{info.get('target_subwords')}; random fallback: {info.get('target_subwords_fallback')}; special tokens "
        f"copied: {info.get('special_tokens_copied')}.",
    ]
    if pretraining:
        lines.append(f"- Continued pretraining: {pretraining.get('steps')} steps ({pretraining.get('objective')}), "
                     f"final loss {pretraining.get('final_loss')}.")
    if metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())
                  if k.startswith("retrieval")]
    lines += ["", "Load with `AutoModel.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)`.", ""]
    return "\n".join(lines)
