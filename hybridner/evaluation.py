"""Entity-level scores, per-rule diagnostics, and scoring every stage on gold.

Scores are exact-span, entity-level and micro-averaged over character offsets:
a predicted entity counts as correct only when its start, end and label all equal
those of a gold entity. Values are fractions in 0..1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.tokens import Doc

from .aggregation import MajorityAggregator
from .corpus import GoldRecord, make_docs
from .lexicons import Gazetteer, match_longest

if TYPE_CHECKING:  # pragma: no cover
    from .bootstrap import WeakLabels

__all__ = [
    "Scores",
    "LabelScores",
    "score_entities",
    "function_statistics",
    "doc_entities",
    "GoldLayers",
    "gold_layers",
    "evaluate_on_gold",
    "scores_to_dict",
]

Entity = tuple[int, int, str]


@dataclass
class LabelScores:
    """Precision, recall and F1 of one label, with its gold support."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int = 0
    correct: int = 0


@dataclass
class Scores:
    """Micro-averaged scores over all labels, and per label."""

    precision: float
    recall: float
    f1: float
    per_label: dict[str, LabelScores] = field(default_factory=dict)
    support: int = 0
    predicted: int = 0
    correct: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``hybridner evaluate --json``."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "per_label": {
                label: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "support": s.support,
                }
                for label, s in sorted(self.per_label.items())
            },
        }

    def summary(self) -> str:
        """One line such as ``P 88.1 R 80.2 F1 84.0``."""
        return f"P {100 * self.precision:.1f} R {100 * self.recall:.1f} F1 {100 * self.f1:.1f}"


def _prf(correct: int, predicted: int, support: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_entities(
    gold: Iterable[Iterable[Entity]],
    predicted: Iterable[Iterable[Entity]],
    *,
    labels: Sequence[str] | None = None,
) -> Scores:
    """Score predicted entities against gold entities, document by document.

    ``gold`` and ``predicted`` are parallel sequences (one item per document) of
    ``(start_char, end_char, label)`` triples. ``labels`` restricts the scores to
    those labels (both sides); by default every label seen is scored.

    >>> s = score_entities([[(0, 7, "Drug")]], [[(0, 7, "Drug"), (9, 12, "Drug")]])
    >>> round(s.precision, 2), s.recall
    (0.5, 1.0)
    """
    wanted = set(labels) if labels is not None else None
    support: Counter[str] = Counter()
    found: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    n_gold_docs = n_pred_docs = 0
    for gold_doc, pred_doc in zip(gold, predicted, strict=True):
        n_gold_docs += 1
        n_pred_docs += 1
        gold_set = {tuple(e) for e in gold_doc if wanted is None or e[2] in wanted}
        pred_set = {tuple(e) for e in pred_doc if wanted is None or e[2] in wanted}
        support.update(e[2] for e in gold_set)
        found.update(e[2] for e in pred_set)
        correct.update(e[2] for e in gold_set & pred_set)
    all_labels = sorted(set(support) | set(found) | (wanted or set()))
    per_label = {}
    for label in all_labels:
        p, r, f = _prf(correct[label], found[label], support[label])
        per_label[label] = LabelScores(p, r, f, support[label], found[label], correct[label])
    total_c, total_p, total_s = sum(correct.values()), sum(found.values()), sum(support.values())
    p, r, f = _prf(total_c, total_p, total_s)
    return Scores(p, r, f, per_label, total_s, total_p, total_c)


def doc_entities(doc: Doc, key: str | None = None) -> list[Entity]:
    """Character-offset entities of ``doc.ents`` or of the span group ``key``."""
    spans = doc.ents if key is None else doc.spans.get(key, [])
    return [(s.start_char, s.end_char, s.label_) for s in spans]


def function_statistics(docs: Sequence[Doc], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per labelling function: spans per label, coverage, overlaps and conflicts.

    * ``doc_coverage``: share of documents where the function produced a span;
    * ``token_coverage``: share of tokens inside one of its spans;
    * ``overlaps``: tokens it labels that another function labels too;
    * ``conflicts``: tokens it labels that another function labels with another label.
    """
    n_docs = len(docs)
    n_tokens = sum(len(d) for d in docs) or 1
    stats = {
        name: {"spans": 0, "labels": Counter(), "docs": 0, "tokens": 0, "overlaps": 0, "conflicts": 0}
        for name in names
    }
    for doc in docs:
        token_labels: dict[str, dict[int, str]] = {}
        for name in names:
            group = doc.spans.get(name)
            if group is None or len(group) == 0:
                continue
            entry = stats[name]
            entry["spans"] += len(group)
            entry["docs"] += 1
            entry["labels"].update(s.label_ for s in group)
            labelled = {i: s.label_ for s in group for i in range(s.start, s.end)}
            entry["tokens"] += len(labelled)
            token_labels[name] = labelled
        for a, b in combinations(token_labels, 2):
            shared = token_labels[a].keys() & token_labels[b].keys()
            if not shared:
                continue
            clash = sum(1 for i in shared if token_labels[a][i] != token_labels[b][i])
            for name in (a, b):
                stats[name]["overlaps"] += len(shared)
                stats[name]["conflicts"] += clash
    result = {}
    for name, entry in stats.items():
        result[name] = {
            "spans": entry["spans"],
            "labels": dict(sorted(entry["labels"].items())),
            "doc_coverage": entry["docs"] / n_docs if n_docs else 0.0,
            "token_coverage": entry["tokens"] / n_tokens,
            "overlaps": entry["overlaps"],
            "conflicts": entry["conflicts"],
        }
    return result


def scores_to_dict(scores: Scores) -> dict[str, Any]:
    data = scores.to_dict()
    data.update(support=scores.support, predicted=scores.predicted, correct=scores.correct)
    return data


def _normal(text: str) -> str:
    return "".join(text.lower().split())


def _recall_on(subsets: list[set[Entity]], predictions: list[list[Entity]]) -> dict[str, Any]:
    """How many of the entities in ``subsets`` (one set per document) were predicted."""
    total = sum(len(subset) for subset in subsets)
    found = sum(len(subset & set(p)) for subset, p in zip(subsets, predictions))
    return {"entities": total, "model_found": found, "model_recall": found / total if total else 0.0}


@dataclass
class GoldLayers:
    """Hand-annotated documents with every layer of predictions on them.

    ``layers`` maps ``"lexicon_only"``, ``"majority"``, ``"aggregated"``,
    ``"model"`` (when a model was given) and each labelling function's name to
    one list of ``(start_char, end_char, label)`` per document; ``confidence``
    holds the confidence of each aggregated span, in the same order.
    """

    gold: list[GoldRecord]
    docs: list[Doc]
    layers: dict[str, list[list[Entity]]]
    confidence: list[list[float]]
    function_names: list[str]
    lexicon_terms: set[str]

    def beyond_lexicons(self) -> dict[str, Any]:
        """Gold entities whose text is in no lexicon, and the model's recall on them."""
        unseen = [
            {e for e in g.entities if _normal(g.text[e[0] : e[1]]) not in self.lexicon_terms}
            for g in self.gold
        ]
        return _recall_on(unseen, self.layers["model"])

    def beyond_rules(self) -> dict[str, Any]:
        """Gold entities whose exact span no labelling function produced, and the model's recall on them."""
        missed = []
        for i, g in enumerate(self.gold):
            produced = {(s[0], s[1]) for n in self.function_names for s in self.layers[n][i]}
            missed.append({e for e in g.entities if (e[0], e[1]) not in produced})
        return _recall_on(missed, self.layers["model"])


def gold_layers(
    weak: "WeakLabels",
    gold: Sequence[GoldRecord],
    *,
    nlp: Language | None = None,
    min_confidence: float = 0.5,
) -> GoldLayers:
    """Label hand-annotated documents with every stage of the run.

    The documents go through the run's labelling functions and aggregator
    (:meth:`WeakLabels.label`), a majority vote, the lexicon-only baseline
    (case-insensitive longest match) and, when ``nlp`` is given, the model.
    Aggregated spans below ``min_confidence`` are left out.
    """
    docs = list(weak.label(make_docs(weak.nlp, ({"id": g.id, "text": g.text} for g in gold))))
    majority = MajorityAggregator(weak.labels, sources=weak.function_names, name="majority")
    majority.fit(docs)
    aggregated, voted, confidence = [], [], []
    for doc in docs:
        majority.aggregate(doc)
        group = doc.spans[weak.aggregator.name]
        kept = [(s, c) for s, c in zip(group, group.attrs.get("confidence", [])) if c >= min_confidence]
        aggregated.append([(s.start_char, s.end_char, s.label_) for s, _ in kept])
        confidence.append([float(c) for _, c in kept])
        group = doc.spans["majority"]
        voted.append([
            (s.start_char, s.end_char, s.label_)
            for s, c in zip(group, group.attrs.get("confidence", []))
            if c >= min_confidence
        ])
    gazetteers = [f for f in weak.functions if isinstance(f, Gazetteer) and not f.case_sensitive]
    layers: dict[str, list[list[Entity]]] = {
        "lexicon_only": [
            [(s.start_char, s.end_char, s.label_) for s in match_longest(gazetteers, doc)]
            for doc in docs
        ],
        "majority": voted,
        "aggregated": aggregated,
    }
    names = weak.function_names
    for name in names:
        layers[name] = [doc_entities(d, name) for d in docs]
    if nlp is not None:
        layers["model"] = [
            [(e.start_char, e.end_char, e.label_) for e in doc.ents]
            for doc in nlp.pipe(g.text for g in gold)
        ]
    terms = {_normal(t) for f in gazetteers for t in f.lexicon.terms}
    return GoldLayers(list(gold), docs, layers, confidence, list(names), terms)


def evaluate_on_gold(
    weak: "WeakLabels",
    gold: Sequence[GoldRecord] | GoldLayers,
    *,
    nlp: Language | None = None,
    min_confidence: float = 0.5,
) -> dict[str, Any]:
    """Score each stage on hand-annotated documents.

    Returns plain data: ``functions`` (each labelling function alone, on its own
    labels), ``lexicon_only`` (case-insensitive longest match of the lexicons),
    ``majority`` (majority vote), ``aggregated`` (the run's aggregator, spans with
    confidence >= ``min_confidence``), ``model`` (when ``nlp`` is given) and
    ``beyond_lexicons``: how many gold entities have a text found in no lexicon,
    and the model's recall on them; ``beyond_functions``: the same for the gold
    entities whose exact span no labelling function produced. ``gold`` may be
    the :class:`GoldLayers` of :func:`gold_layers`, labelled already.

    >>> scores = evaluate_on_gold(weak, read_gold("dev.jsonl"), nlp=model)  # doctest: +SKIP
    """
    if isinstance(gold, GoldLayers):
        layers = gold
    else:
        layers = gold_layers(weak, gold, nlp=nlp, min_confidence=min_confidence)
    gold_ents = [g.entities for g in layers.gold]
    labels_of = {f.name: f.labels for f in weak.functions + weak.document_functions}
    report: dict[str, Any] = {
        "documents": len(layers.gold),
        "lexicon_only": scores_to_dict(score_entities(gold_ents, layers.layers["lexicon_only"])),
        "majority": scores_to_dict(score_entities(gold_ents, layers.layers["majority"])),
        "aggregated": scores_to_dict(score_entities(gold_ents, layers.layers["aggregated"])),
        "functions": {
            name: scores_to_dict(
                score_entities(gold_ents, layers.layers[name], labels=labels_of.get(name) or None)
            )
            for name in layers.function_names
        },
    }
    if "model" in layers.layers:
        report["model"] = scores_to_dict(score_entities(gold_ents, layers.layers["model"]))
        report["beyond_lexicons"] = layers.beyond_lexicons()
        report["beyond_functions"] = layers.beyond_rules()
    return report
