"""The run report: plain data (``report.json``) and its human-readable summary (``report.md``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spacy.tokens import Doc

from . import __version__
from .aggregation import HMMAggregator
from .diagnostics import diagnose, gallery
from .evaluation import GoldLayers, function_statistics

if TYPE_CHECKING:  # pragma: no cover
    from .bootstrap import WeakLabels

__all__ = ["build_report", "render_report_md"]


def build_report(
    weak: "WeakLabels",
    train_docs: Sequence[Doc],
    dev: dict[str, Any],
    result: Any,
    timings: dict[str, float],
    *,
    settings: dict[str, Any],
    layers: GoldLayers | None = None,
) -> dict[str, Any]:
    """The ``report.json`` data of a run.

    ``layers`` (the dev gold documents labelled by every stage) add the dev
    figures and error examples to the rule diagnostics and fill the document
    gallery with gold documents; without them the gallery shows corpus documents.
    """
    stats = function_statistics(weak.docs, weak.function_names)
    weights = (
        weak.aggregator.function_weights() if isinstance(weak.aggregator, HMMAggregator) else {}
    )
    for f in weak.functions + weak.document_functions:
        stats[f.name]["kind"] = f.kind
        if f.name in weights:
            stats[f.name]["hmm"] = weights[f.name]
        if "functions" in dev:
            scores = dev["functions"][f.name]
            stats[f.name]["dev"] = {k: scores[k] for k in ("precision", "recall", "f1")}
    label_counts: Counter[str] = Counter()
    confidences: list[float] = []
    for doc in weak.docs:
        group = doc.spans[weak.aggregator.name]
        label_counts.update(s.label_ for s in group)
        confidences.extend(group.attrs.get("confidence", []))
    missing = sum(1 for d in train_docs for t in d if t.ent_iob == 0)
    return {
        "hybridner_version": __version__,
        "settings": settings,
        "labels": weak.labels,
        "corpus": {"documents": len(weak.docs), "tokens": sum(len(d) for d in weak.docs)},
        "functions": stats,
        "aggregated": {
            "aggregator": weak.aggregator.kind,
            "spans": sum(label_counts.values()),
            "labels": dict(sorted(label_counts.items())),
            "mean_confidence": sum(confidences) / len(confidences) if confidences else 0.0,
            "training_entities": sum(len(d.ents) for d in train_docs),
            "missing_tokens": missing,
        },
        "dev": dev,
        "training": {"best_score": result.best_score, "history": result.history},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "diagnostics": diagnose(weak, layers).to_dict(),
        "gallery": gallery(weak, layers),
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def render_report_md(report: dict[str, Any]) -> str:
    """A short human-readable summary of ``report.json``."""
    lines = ["# hybridner run report", ""]
    dev = report["dev"]
    lines.append(f"Dev set: {dev['source']}")
    lines.append("")
    if "model" in dev:
        lines += ["| | P | R | F1 |", "|---|---|---|---|"]
        for key, name in (("lexicon_only", "lexicon match only"),
                          ("aggregated", f"aggregated labels ({report['aggregated']['aggregator']})"),
                          ("model", "trained model")):
            s = dev[key]
            lines.append(f"| {name} | {_pct(s['precision'])} | {_pct(s['recall'])} | {_pct(s['f1'])} |")
        lines += ["", "Model per label:", "", "| label | P | R | F1 | support |", "|---|---|---|---|---|"]
        for label, s in dev["model"]["per_label"].items():
            lines.append(f"| {label} | {_pct(s['precision'])} | {_pct(s['recall'])} | {_pct(s['f1'])} | {s['support']} |")
    else:
        lines.append(f"Model F1 against held-out weak labels: {_pct(dev['model_vs_weak_labels_f1'])}")
    lines += ["", "## Labelling functions", "",
              "| function | kind | spans | doc coverage | token coverage | overlaps | conflicts | dev P | dev R | dev F1 |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["functions"].items():
        d = s.get("dev")
        dev_cols = f"{_pct(d['precision'])} | {_pct(d['recall'])} | {_pct(d['f1'])}" if d else "- | - | -"
        lines.append(
            f"| `{name}` | {s['kind']} | {s['spans']} | {_pct(s['doc_coverage'])}% | "
            f"{_pct(s['token_coverage'])}% | {s['overlaps']} | {s['conflicts']} | {dev_cols} |"
        )
    agg = report["aggregated"]
    lines += ["", "## Aggregated labels", "",
              f"{agg['spans']} spans ({', '.join(f'{k}: {v}' for k, v in agg['labels'].items())}), "
              f"mean confidence {agg['mean_confidence']:.3f}; {agg['training_entities']} training "
              f"entities, {agg['missing_tokens']} tokens left unannotated (missing).", "",
              "## Time per stage (seconds)", "", "| stage | seconds |", "|---|---|"]
    for stage, seconds in report["timings"].items():
        lines.append(f"| {stage} | {seconds:.1f} |")
    lines.append("")
    return "\n".join(lines)
