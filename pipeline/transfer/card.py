"""The model card (``model/README.md``) of a transferred model: source, data, method, neighbours, metrics."""
from __future__ import annotations

from pathlib import Path

from .spec import TransferSpec

__all__ = ["model_card"]


def model_card(spec: TransferSpec, info: dict, metrics: dict, pretraining: dict | None = None,
               corpora: Path | None = None) -> str:
    """Markdown with front matter; ``info`` is the transfer summary, ``pretraining`` the pretrain stage's metrics.

    ``corpora``: the corpus root, for the licences of ``spec.target.corpora``. ``info["source_licence"]``
    (where the transfer stage found one: the source's card, else its package's metadata) goes into the
    front matter as the Hub reads it (``license``, or ``license: other`` with ``license_name``), beside
    ``base_model`` for a source named by its hub id.

    >>> from pipeline.transfer.spec import SourceModelSpec, TargetSpec
    >>> spec = TransferSpec(SourceModelSpec("org/enc"), TargetSpec("es", url="https://example.org/es.txt"), "es")
    >>> card = model_card(spec, {"kind": "bert", "source_licence": "apache-2.0"}, {"retrieval_mrr-wechsel": 0.25})
    >>> "# enc transferred to `es` with WECHSEL" in card, "| retrieval_mrr-wechsel | 0.2500 |" in card
    (True, True)
    >>> card.splitlines()[1:5]
    ['language: es', 'license: apache-2.0', 'base_model: org/enc', 'tags: [wechsel, chronolingua]']
    >>> "its licence, which its card here does not declare, applies" in model_card(spec, {"source_licence": None}, {})
    True
    """
    from ..inputs import card_front_matter
    from ..models import model_name

    t = spec.target
    data = ", ".join(t.corpora) if t.corpora else t.url
    licences = []
    if t.corpora and corpora is not None:
        from ..corpora import load_declaration

        licences = [f"{n}: {load_declaration(Path(corpora) / n).licence}" for n in t.corpora]
    init = getattr(spec, "init", "wechsel")
    vocab = ("the source vocabulary extended with the target tokens it lacks (source ids kept), "
             if getattr(spec, "vocabulary", "replace") == "extend" else "new tokenizer of the source's kind, ")
    if init == "wechsel":
        method = [f"- Static vectors: aligned spec `{spec.static_vectors}` (fastText, Procrustes + CSLS refinement).",
                  f"- Method: WECHSEL (Minixhofer et al., NAACL 2022), {spec.wechsel.mode} mode, "
                  f"k = {spec.wechsel.neighbors}, temperature {spec.wechsel.temperature}; {vocab}vocabulary "
                  f"{info.get('target_vocab')}."]
    elif init == "focus":
        method = [f"- Method: FOCUS (Dobler & de Melo, EMNLP 2023): shared tokens copied, the others "
                  f"sparsemax-weighted combinations of them in a {spec.focus.dim}-d fastText space trained on the "
                  f"target text; {vocab}vocabulary {info.get('target_vocab')}."]
    else:
        method = [f"- Method: random initialisation (N(mean, std) of the source embeddings); {vocab}vocabulary "
                  f"{info.get('target_vocab')}."]
    licence = info.get("source_licence")
    if licence:
        licence_said = f" ({licence})"
    else:  # a summary from before the transfer stage looked for the licence says nothing of it
        licence_said = ", which its card here does not declare," if "source_licence" in info else ""
    lines = [
        "---", f"language: {t.lang}", *card_front_matter(spec.source_model.model, licence),
        f"tags: [{init}, chronolingua]", "---", "",
        f"# {model_name(spec.source_model.model)} transferred to `{t.lang}` with "
        f"{ {'wechsel': 'WECHSEL', 'focus': 'FOCUS', 'random': 'random initialisation'}[init]}", "",
        f"- Source model: `{spec.source_model.model}` (revision `{spec.source_model.revision}`, kind "
        f"{info.get('kind')}, objective {info.get('objective')}); its licence{licence_said} applies to these weights.",
        f"- Target data: {data}" + (f" (held out: {', '.join(t.holdout)})" if t.holdout else "") + ".",
        *(f"  - licence {x}" for x in licences),
        *method,
        f"- Target subwords initialised: {info.get('target_subwords_matched')} of "
        f"{info.get('target_vocab')}; random fallback: {info.get('target_subwords_fallback')}; special tokens "
        f"copied: {info.get('special_tokens_copied')}.",
    ]
    if pretraining:
        head = spec.pretraining.head_warmup_steps
        lines.append(f"- Continued pretraining: {pretraining.get('steps')} steps ({pretraining.get('objective')})"
                     + (f", the first {head} training only the head the transfer initialised anew" if head else "")
                     + f", final loss {pretraining.get('final_loss')}.")
    if metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())
                  if k.startswith("retrieval")]
    lines += ["", "Load with `AutoModel.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)`.", ""]
    return "\n".join(lines)
