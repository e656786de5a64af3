"""Rule diagnostics: what each labelling function does, and how good it is.

:func:`diagnose` returns plain data (:class:`Diagnostics`, dataclasses that turn
into a JSON dict or a pandas DataFrame) with one row per labelling function and
label:

* on the weakly labelled corpus (no gold needed): the spans it produced, the share
  of documents and tokens it covers, its overlaps and conflicts with the other
  functions, how often its spans agree with the aggregated spans or only overlap
  them with other boundaries, and what the HMM learned of it;
* on hand-annotated documents (``gold``): its span-level precision, recall and F1,
  with false positives and false negatives in their context. The same is given
  for the lexicon-only baseline, the majority vote, the aggregated labels and the
  model, and "beyond the rules": of the gold entities no function found, how many
  the model finds.

Bootstrap stores the result in ``report.json`` under ``"diagnostics"``, with a
gallery of documents and all their layers for the HTML report;
:func:`load_diagnostics` reads it back from a run folder.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacy.tokens import Doc

from .aggregation import HMMAggregator
from .errors import HybridNERError, OutputError
from .evaluation import GoldLayers, score_entities

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from .bootstrap import WeakLabels

__all__ = [
    "SpanExample",
    "FunctionDiagnostics",
    "StageDiagnostics",
    "Diagnostics",
    "diagnose",
    "gallery",
    "load_diagnostics",
]

Entity = tuple[int, int, str]

#: characters of context shown on each side of an example span
CONTEXT = 60
STAGES = ("lexicon_only", "majority", "aggregated", "model")


@dataclass
class SpanExample:
    """One false positive or false negative, in its context.

    ``error`` is ``"spurious"`` (no gold entity there), ``"missed"`` (nothing
    predicted there), ``"label"`` (same span, other label) or ``"boundary"``
    (overlaps an entity of the same label with other boundaries).
    """

    doc_id: str
    start: int
    end: int
    label: str
    text: str
    left: str
    right: str
    error: str


@dataclass
class FunctionDiagnostics:
    """One labelling function on one label; ``dev_*`` fields need gold."""

    function: str
    kind: str
    label: str
    spans: int = 0
    doc_coverage: float = 0.0
    token_coverage: float = 0.0
    overlaps: int = 0
    conflicts: int = 0
    agreements: int = 0
    boundary_disagreements: int = 0
    hmm_recall: float | None = None
    hmm_false_positive_rate: float | None = None
    dev_precision: float | None = None
    dev_recall: float | None = None
    dev_f1: float | None = None
    dev_support: int | None = None
    dev_predicted: int | None = None
    false_positives: list[SpanExample] = field(default_factory=list)
    false_negatives: list[SpanExample] = field(default_factory=list)


@dataclass
class StageDiagnostics:
    """A whole stage (lexicon match, majority vote, aggregated labels, model) on gold."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    false_positives: list[SpanExample] = field(default_factory=list)
    false_negatives: list[SpanExample] = field(default_factory=list)


@dataclass
class Diagnostics:
    """Everything :func:`diagnose` found; see the module docstring."""

    functions: list[FunctionDiagnostics]
    stages: dict[str, StageDiagnostics] = field(default_factory=dict)
    beyond_rules: dict[str, Any] = field(default_factory=dict)
    documents: int = 0
    gold_documents: int = 0

    def function(self, name: str, label: str | None = None) -> FunctionDiagnostics:
        """The row of ``name`` (and ``label``, when the function has several)."""
        rows = [r for r in self.functions if r.function == name and label in (None, r.label)]
        if not rows:
            raise KeyError(f"no diagnostics for function {name!r}" + (f" and label {label!r}" if label else ""))
        return rows[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the ``"diagnostics"`` entry of ``report.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostics:
        def examples(items: list[dict[str, Any]]) -> list[SpanExample]:
            return [SpanExample(**item) for item in items]

        functions = []
        for row in data.get("functions", []):
            row = dict(row)
            row["false_positives"] = examples(row.get("false_positives", []))
            row["false_negatives"] = examples(row.get("false_negatives", []))
            functions.append(FunctionDiagnostics(**row))
        stages = {}
        for name, stage in data.get("stages", {}).items():
            stage = dict(stage)
            stage["false_positives"] = examples(stage.get("false_positives", []))
            stage["false_negatives"] = examples(stage.get("false_negatives", []))
            stages[name] = StageDiagnostics(**stage)
        return cls(
            functions, stages, dict(data.get("beyond_rules", {})),
            int(data.get("documents", 0)), int(data.get("gold_documents", 0)),
        )

    def to_frame(self) -> "pandas.DataFrame":
        """One row per function and label (the example lists are left out).

        Needs pandas (installed with skweak).
        """
        try:
            import pandas
        except ImportError as err:  # pragma: no cover - pandas comes with skweak
            raise HybridNERError("Diagnostics.to_frame needs pandas: pip install pandas") from err
        rows = []
        for row in self.functions:
            data = asdict(row)
            data["false_positives"] = len(row.false_positives)
            data["false_negatives"] = len(row.false_negatives)
            rows.append(data)
        return pandas.DataFrame(rows).set_index(["function", "label"])


def _example(doc_id: str, text: str, entity: Entity, error: str) -> SpanExample:
    start, end, label = entity
    return SpanExample(
        doc_id=doc_id, start=start, end=end, label=label, text=text[start:end],
        left=text[max(0, start - CONTEXT):start], right=text[end:end + CONTEXT], error=error,
    )


def _errors(
    ids: Sequence[str],
    texts: Sequence[str],
    gold: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    labels: set[str] | None,
    limit: int,
) -> tuple[list[SpanExample], list[SpanExample]]:
    """The first ``limit`` false positives and false negatives, each classified."""
    fps: list[SpanExample] = []
    fns: list[SpanExample] = []
    for doc_id, text, gold_doc, pred_doc in zip(ids, texts, gold, predicted):
        gold_set = {tuple(e) for e in gold_doc if labels is None or e[2] in labels}
        pred_set = {tuple(e) for e in pred_doc if labels is None or e[2] in labels}
        for entity in sorted(pred_set - gold_set):
            if len(fps) < limit:
                fps.append(_example(doc_id, text, entity, _classify(entity, gold_set, "spurious")))
        for entity in sorted(gold_set - pred_set):
            if len(fns) < limit:
                fns.append(_example(doc_id, text, entity, _classify(entity, pred_set, "missed")))
        if len(fps) >= limit and len(fns) >= limit:
            break
    return fps, fns


def _classify(entity: Entity, others: set[Entity], otherwise: str) -> str:
    start, end, label = entity
    if any(o[0] == start and o[1] == end for o in others):
        return "label"
    if any(o[2] == label and o[0] < end and start < o[1] for o in others):
        return "boundary"
    return otherwise


def _corpus_rows(weak: "WeakLabels", aggregated: str) -> dict[tuple[str, str], FunctionDiagnostics]:
    """Per function and label, what it does on the weakly labelled corpus."""
    kinds = {f.name: f.kind for f in weak.functions + weak.document_functions}
    names = list(kinds)
    weights = (
        weak.aggregator.function_weights() if isinstance(weak.aggregator, HMMAggregator) else {}
    )
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    n_tokens = 0
    for doc in weak.docs:
        n_tokens += len(doc)
        token_labels: dict[str, dict[int, str]] = {}
        for name in names:
            group = doc.spans.get(name)
            if group is None or len(group) == 0:
                continue
            token_labels[name] = {i: s.label_ for s in group for i in range(s.start, s.end)}
        confident = _confident(doc, aggregated)
        for name, labelled in token_labels.items():
            seen_labels = set()
            for span in doc.spans[name]:
                key = (name, span.label_)
                seen_labels.add(span.label_)
                counts[key]["spans"] += 1
                exact = (span.start, span.end, span.label_)
                if exact in confident:
                    counts[key]["agreements"] += 1
                elif any(
                    label == span.label_ and start < span.end and span.start < end
                    for start, end, label in confident
                ):
                    counts[key]["boundary"] += 1
            for label in seen_labels:
                counts[(name, label)]["docs"] += 1
            for i, label in labelled.items():
                key = (name, label)
                counts[key]["tokens"] += 1
                others = [t[i] for other, t in token_labels.items() if other != name and i in t]
                if others:
                    counts[key]["overlaps"] += 1
                    if any(o != label for o in others):
                        counts[key]["conflicts"] += 1
    n_docs = len(weak.docs) or 1
    rows: dict[tuple[str, str], FunctionDiagnostics] = {}
    for function in weak.functions + weak.document_functions:
        labels = sorted({label for (name, label) in counts if name == function.name})
        labels = labels or list(function.labels) or ["-"]
        for label in labels:
            c = counts.get((function.name, label), Counter())
            hmm = weights.get(function.name, {}).get(label, {})
            rows[(function.name, label)] = FunctionDiagnostics(
                function=function.name, kind=kinds[function.name], label=label,
                spans=c["spans"], doc_coverage=c["docs"] / n_docs,
                token_coverage=c["tokens"] / (n_tokens or 1), overlaps=c["overlaps"],
                conflicts=c["conflicts"], agreements=c["agreements"],
                boundary_disagreements=c["boundary"],
                hmm_recall=hmm.get("recall"), hmm_false_positive_rate=hmm.get("false_positive_rate"),
            )
    return rows


def _confident(doc: Doc, key: str, min_confidence: float = 0.5) -> set[tuple[int, int, str]]:
    group = doc.spans.get(key)
    if group is None:
        return set()
    confidence = group.attrs.get("confidence", [1.0] * len(group))
    return {(s.start, s.end, s.label_) for s, c in zip(group, confidence) if c >= min_confidence}


def diagnose(
    weak: "WeakLabels",
    layers: GoldLayers | None = None,
    *,
    max_examples: int = 20,
    aggregated: str = "aggregated",
) -> Diagnostics:
    """Diagnostics of every labelling function, on the corpus and (with gold) on gold.

    ``layers`` are the labelled gold documents of
    :func:`hybridner.evaluation.gold_layers`; without them only the corpus
    figures are filled. At most ``max_examples`` false positives and false
    negatives are kept per function and per stage, in document order.

    >>> layers = gold_layers(weak, read_gold("dev.jsonl"), nlp=model)  # doctest: +SKIP
    >>> diagnose(weak, layers).to_frame()[["dev_precision", "dev_recall"]]  # doctest: +SKIP
    """
    rows = _corpus_rows(weak, aggregated)
    result = Diagnostics(list(rows.values()), documents=len(weak.docs))
    if layers is None:
        return result
    ids = [g.id for g in layers.gold]
    texts = [g.text for g in layers.gold]
    gold = [g.entities for g in layers.gold]
    result.gold_documents = len(layers.gold)
    for (name, label), row in rows.items():
        predicted = layers.layers.get(name)
        if predicted is None:
            continue
        scores = score_entities(gold, predicted, labels=[label])
        row.dev_precision, row.dev_recall, row.dev_f1 = scores.precision, scores.recall, scores.f1
        row.dev_support, row.dev_predicted = scores.support, scores.predicted
        row.false_positives, row.false_negatives = _errors(
            ids, texts, gold, predicted, {label}, max_examples
        )
    for stage in STAGES:
        predicted = layers.layers.get(stage)
        if predicted is None:
            continue
        scores = score_entities(gold, predicted)
        fps, fns = _errors(ids, texts, gold, predicted, None, max_examples)
        result.stages[stage] = StageDiagnostics(
            stage, scores.precision, scores.recall, scores.f1, scores.support,
            scores.predicted, fps, fns,
        )
    if "model" in layers.layers:
        result.beyond_rules = layers.beyond_rules()
    return result


def _doc_layers(doc: Doc, names: Sequence[str]) -> dict[str, list[list[Any]]]:
    return {
        name: [[s.start_char, s.end_char, s.label_] for s in doc.spans[name]]
        for name in names
        if doc.spans.get(name)
    }


def gallery(
    weak: "WeakLabels",
    layers: GoldLayers | None = None,
    *,
    size: int = 20,
    max_chars: int = 4000,
) -> list[dict[str, Any]]:
    """Sample documents with all their layers, those with most disagreements first.

    With gold ``layers``, the documents are the gold documents and a disagreement
    is an error of the model or of the aggregated labels against the gold; without,
    they are corpus documents and a disagreement is a function span that the
    aggregated labels do not keep, or an aggregated span of confidence below 0.9.
    Each item holds ``id``, ``text``, ``tokens`` (character offsets), ``gold``,
    ``model``, ``aggregated`` (with confidence), ``functions`` and
    ``disagreements``. Documents longer than ``max_chars`` are left out.
    """
    items = []
    names = weak.function_names
    if layers is not None:
        for i, (record, doc) in enumerate(zip(layers.gold, layers.docs)):
            if len(record.text) > max_chars:
                continue
            gold = {tuple(e) for e in record.entities}
            aggregated = [
                [*e, round(c, 3)]
                for e, c in zip(layers.layers["aggregated"][i], layers.confidence[i])
            ]
            model = [list(e) for e in layers.layers.get("model", [[]] * len(layers.docs))[i]]
            wrong = len(gold ^ {tuple(e[:3]) for e in aggregated}) + len(
                gold ^ {tuple(e) for e in model} if "model" in layers.layers else set()
            )
            items.append({
                "id": record.id, "text": record.text,
                "tokens": [[t.idx, t.idx + len(t.text)] for t in doc],
                "gold": [list(e) for e in record.entities], "model": model,
                "aggregated": aggregated, "functions": _doc_layers(doc, names),
                "disagreements": wrong, "order": i,
            })
    else:
        for i, doc in enumerate(weak.docs):
            if len(doc.text) > max_chars or not len(doc):
                continue
            group = doc.spans.get(weak.aggregator.name, [])
            confidence = group.attrs.get("confidence", [1.0] * len(group)) if len(group) else []
            kept = {(s.start_char, s.end_char, s.label_) for s in group}
            functions = _doc_layers(doc, names)
            dropped = {tuple(e) for spans in functions.values() for e in spans} - kept
            unsure = sum(1 for c in confidence if c < 0.9)
            items.append({
                "id": doc.user_data.get("id", str(i)), "text": doc.text,
                "tokens": [[t.idx, t.idx + len(t.text)] for t in doc], "gold": None, "model": None,
                "aggregated": [
                    [s.start_char, s.end_char, s.label_, round(float(c), 3)]
                    for s, c in zip(group, confidence)
                ],
                "functions": functions, "disagreements": len(dropped) + unsure, "order": i,
            })
    items.sort(key=lambda item: (-item["disagreements"], item["order"]))
    return items[:size]


def load_diagnostics(run_dir: str | Path) -> Diagnostics:
    """The diagnostics stored in a run folder's ``report.json``.

    >>> load_diagnostics("runs/v1").to_frame()  # doctest: +SKIP
    """
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        raise OutputError(
            f"{run_dir}: not a hybridner run folder (no report.json); give the --out "
            "folder of `hybridner bootstrap`"
        )
    try:
        report = json.loads(path.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OutputError(f"{path}: cannot be read as JSON ({err}); rerun bootstrap") from err
    if "diagnostics" not in report:
        raise OutputError(
            f"{path}: has no diagnostics (written by an older hybridner); rerun bootstrap"
        )
    return Diagnostics.from_dict(report["diagnostics"])
