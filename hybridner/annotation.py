"""Active annotation: pick the documents worth a person's time and write them for an annotation tool.

Weak labels are wrong where the labelling functions disagree, where the
aggregator hesitates and where the trained model learned something else than
the rules. :func:`select_documents` ranks the documents of a run's
``weak.jsonl`` by those three doubts; :func:`write_tasks` writes the chosen ones,
pre-annotated, for Prodigy (``ner.manual``) or Label Studio. The corrected export
comes back as gold through :func:`hybridner.corpus.read_gold`
(``hybridner bootstrap --gold`` or ``--dev``)::

    hybridner select runs/v1 --n 50 --out to_annotate.jsonl
    prodigy ner.manual my_gold runs/v1/model to_annotate.jsonl --label Drug,Disease
    prodigy db-out my_gold > corrected.jsonl
    hybridner bootstrap lexicons/ --corpus texts.jsonl --gold corrected.jsonl --out runs/v2

>>> tasks = select_documents("runs/v1", n=50)  # doctest: +SKIP
>>> write_tasks("to_annotate.jsonl", tasks, format="prodigy")  # doctest: +SKIP
50
"""

from __future__ import annotations

import heapq
import json
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from spacy.language import Language
from spacy.tokens import Doc

from .corpus import _json_records, atomic_open, json_line
from .errors import CorpusError, HybridNERError, OutputError
from .inference import load

__all__ = [
    "FORMATS",
    "PRE_ANNOTATIONS",
    "AnnotationTask",
    "Doubt",
    "score_document",
    "select_documents",
    "write_tasks",
]

logger = logging.getLogger("hybridner")

Entity = tuple[int, int, str]
#: A token as annotation tools want it: text, start and end character, followed by whitespace.
Token = tuple[str, int, int, bool]

#: The file formats :func:`write_tasks` writes.
FORMATS = ("prodigy", "label-studio")
#: Which spans are shown to the annotator as pre-annotations.
PRE_ANNOTATIONS = ("aggregated", "model")


@dataclass
class AnnotationTask:
    """One document chosen for annotation, and why it was chosen.

    ``spans`` are the pre-annotations written to the file (the confident
    aggregated spans or the model's entities); ``aggregated`` and ``model`` keep
    both layers. ``score`` is the document's doubt (see :func:`select_documents`),
    ``breakdown`` its parts, and ``reasons`` says what is in doubt, mention by
    mention. ``position`` is the document's index in ``weak.jsonl``.
    """

    id: str
    text: str
    score: float
    spans: list[Entity]
    aggregated: list[Entity] = field(default_factory=list)
    model: list[Entity] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    position: int = 0


class Doubt(NamedTuple):
    """What :func:`score_document` found in one document."""

    score: float
    breakdown: dict[str, float]
    reasons: list[str]


# ---------------------------------------------------------------------- the run folder


def _run_paths(run_dir: Path) -> tuple[Path, Path]:
    if not run_dir.is_dir():
        raise HybridNERError(
            f"{run_dir}: no such run folder; pass the --out folder written by hybridner bootstrap"
        )
    weak, model = run_dir / "weak.jsonl", run_dir / "model"
    if not weak.exists() and not model.exists():
        raise HybridNERError(
            f"{run_dir}: not a run folder (no weak.jsonl, no model/); pass the --out folder "
            "written by hybridner bootstrap"
        )
    if not weak.is_file():
        raise CorpusError(
            f"{weak}: missing, so the run folder {run_dir} is incomplete; run hybridner "
            "bootstrap again"
        )
    if not (model / "config.cfg").is_file():
        raise HybridNERError(
            f"{model}: no trained model (no config.cfg), so the run folder {run_dir} is "
            "incomplete; run hybridner bootstrap again"
        )
    return weak, model


def _run_min_confidence(run_dir: Path) -> float:
    """The run's ``min_confidence`` setting (from report.json), else 0.5."""
    try:
        report = json.loads((run_dir / "report.json").read_text("utf8"))
        value = report["settings"]["min_confidence"]
        if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
            return float(value)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    logger.debug("%s: no min_confidence in report.json; using 0.5", run_dir)
    return 0.5


def _check_span(start: Any, end: Any, label: Any, text: str, where: str) -> Entity:
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
        raise CorpusError(f"{where}: offsets ({start!r}, {end!r}) must be integers")
    if not 0 <= start < end <= len(text):
        raise CorpusError(
            f"{where}: span ({start}, {end}) is not inside the text of {len(text)} characters"
        )
    if not isinstance(label, str) or not label:
        raise CorpusError(f"{where}: span ({start}, {end}) has no label ({label!r})")
    return (start, end, label)


def _weak_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, checked record) for each line of ``weak.jsonl``; errors name the line."""
    fix = "weak.jsonl is written by hybridner bootstrap: run it again rather than editing the file"
    for position, (lineno, record) in enumerate(_json_records(path)):
        where = f"{path} line {lineno}"
        text = record.get("text")
        if not isinstance(text, str):
            raise CorpusError(f"{where}: \"text\" missing or not a string; {fix}")
        spans = record.get("spans", {})
        aggregated = record.get("aggregated", [])
        if not isinstance(spans, dict) or not all(isinstance(v, list) for v in spans.values()):
            raise CorpusError(
                f"{where}: \"spans\" must map each function to a list of [start, end, label]; {fix}"
            )
        if not isinstance(aggregated, list):
            raise CorpusError(f"{where}: \"aggregated\" must be a list; {fix}")
        functions: dict[str, list[Entity]] = {}
        for name, items in spans.items():
            checked = []
            for item in items:
                if not (isinstance(item, list) and len(item) == 3):
                    raise CorpusError(f"{where}: span {item!r} of {name!r} is not [start, end, label]; {fix}")
                checked.append(_check_span(*item, text, f"{where} ({name})"))
            functions[name] = checked
        votes = []
        for item in aggregated:
            keys = {"start", "end", "label", "confidence"}
            if not (isinstance(item, dict) and keys <= item.keys()):
                raise CorpusError(
                    f"{where}: aggregated span {item!r} needs \"start\", \"end\", \"label\" and "
                    f"\"confidence\"; {fix}"
                )
            confidence = item["confidence"]
            if not isinstance(confidence, (int, float)) or not 0.0 <= confidence <= 1.0:
                raise CorpusError(f"{where}: aggregated confidence {confidence!r} is not in 0..1; {fix}")
            start, end, label = _check_span(item["start"], item["end"], item["label"], text, where)
            votes.append((start, end, label, float(confidence)))
        doc_id = str(record["id"]) if record.get("id") is not None else f"{path.name}:{lineno}"
        yield position, {"id": doc_id, "text": text, "spans": functions, "aggregated": votes}


# ---------------------------------------------------------------------- scoring


def _mentions(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Maximal runs of overlapping character ranges, in text order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(set(ranges)):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _describe(entities: Iterable[Entity], text: str) -> str:
    return ", ".join(f"{label} {text[s:e]!r}" for s, e, label in sorted(entities)) or "no entity"


def score_document(
    record: dict[str, Any],
    model_entities: Sequence[Entity],
    *,
    min_confidence: float = 0.5,
) -> Doubt:
    """How much the rules, the aggregator and the model doubt one document.

    ``record`` is a ``weak.jsonl`` record (``"text"``, ``"spans"`` per function,
    ``"aggregated"`` spans with their confidence, as dicts or as ``(start, end,
    label, confidence)`` tuples); ``model_entities`` are the trained model's
    ``(start, end, label)`` entities. See :func:`select_documents` for the formula.

    >>> record = {"text": "Take aspirin", "spans": {"lex": [[5, 12, "Drug"]]},
    ...           "aggregated": [{"start": 5, "end": 12, "label": "Drug", "confidence": 0.5}]}
    >>> score_document(record, []).breakdown["uncertainty"]
    0.5
    """
    text = record["text"]
    functions = {
        name: [tuple(span) for span in spans] for name, spans in record.get("spans", {}).items()
    }
    votes = [
        (a["start"], a["end"], a["label"], a["confidence"]) if isinstance(a, dict) else tuple(a)
        for a in record.get("aggregated", [])
    ]
    ranges = [(s, e) for spans in functions.values() for s, e, _ in spans]
    ranges += [(s, e) for s, e, _, _ in votes] + [(s, e) for s, e, _ in model_entities]
    mentions = _mentions(ranges)
    starts = [s for s, _ in mentions]

    def mention_of(start: int) -> int:
        return bisect_right(starts, start) - 1

    uncertainty = [0.0] * len(mentions)
    confident: list[set[Entity]] = [set() for _ in mentions]
    predicted: list[set[Entity]] = [set() for _ in mentions]
    labels: list[dict[str, set[str]]] = [{} for _ in mentions]
    notes: list[list[str]] = [[] for _ in mentions]
    for start, end, label, confidence in votes:
        m = mention_of(start)
        doubt = 1.0 - abs(2.0 * confidence - 1.0)
        uncertainty[m] = max(uncertainty[m], doubt)
        if confidence >= min_confidence:
            confident[m].add((start, end, label))
        if doubt >= 0.2:  # confidence between 0.1 and 0.9
            notes[m].append(f"aggregated {label} {text[start:end]!r} at confidence {confidence:.2f}")
    for start, end, label in model_entities:
        predicted[mention_of(start)].add((start, end, label))
    for name, spans in sorted(functions.items()):
        for start, end, label in spans:
            labels[mention_of(start)].setdefault(label, set()).add(name)

    disagreements = conflicts = 0
    reasons = []
    for m, (start, end) in enumerate(mentions):
        if predicted[m] != confident[m]:
            disagreements += 1
            notes[m].append(
                f"model: {_describe(predicted[m], text)}; aggregated: {_describe(confident[m], text)}"
            )
        if len(labels[m]) > 1:
            conflicts += 1
            votes_text = ", ".join(
                f"{label} ({', '.join(sorted(names))})" for label, names in sorted(labels[m].items())
            )
            notes[m].append(f"functions disagree: {votes_text}")
        if notes[m]:
            snippet = text[start:end] if end - start <= 40 else text[start : start + 37] + "..."
            reasons.append(f"{snippet!r} ({start}-{end}): " + "; ".join(notes[m]))
    denominator = len(mentions) + 1
    breakdown = {
        "uncertainty": round(sum(uncertainty) / denominator, 6),
        "disagreement": round(disagreements / denominator, 6),
        "conflict": round(conflicts / denominator, 6),
        "mentions": len(mentions),
    }
    score = round((sum(uncertainty) + disagreements + conflicts) / (3 * denominator), 6)
    return Doubt(score, breakdown, reasons)


def _non_overlapping(entities: Iterable[Entity]) -> list[Entity]:
    """Drop overlapping entities, keeping the longest (then the first); text order."""
    kept: list[Entity] = []
    taken: set[int] = set()
    for start, end, label in sorted(set(entities), key=lambda x: (x[0] - x[1], x[0], x[2])):
        if not taken.intersection(range(start, end)):
            kept.append((start, end, label))
            taken.update(range(start, end))
    return sorted(kept)


def select_documents(
    run_dir: str | Path,
    n: int = 50,
    *,
    pre_annotate: Literal["aggregated", "model"] = "aggregated",
    min_confidence: float | None = None,
    batch_size: int = 256,
) -> list[AnnotationTask]:
    """The ``n`` documents of a run that most deserve a person's correction, most doubtful first.

    The run's model annotates every non-empty document of ``RUN/weak.jsonl``
    (streamed through ``nlp.pipe``; only the best ``n`` are kept in memory).
    In each document, every span — each labelling function's, the aggregated
    ones and the model's entities — is grouped into *mentions*: maximal runs of
    overlapping character ranges. Each of the document's ``M`` mentions gets
    three doubts in 0..1:

    * uncertainty ``u = max(1 - |2c - 1|)`` over its aggregated spans of
      confidence ``c``: 1 at 0.5, 0 at 0 or 1;
    * disagreement ``d = 1`` when the model's ``(start, end, label)`` entities
      there differ from the aggregated spans of confidence >= ``min_confidence``;
    * conflict ``k = 1`` when the labelling functions' spans there carry more
      than one label.

    ``score = (sum(u) + sum(d) + sum(k)) / (3 * (M + 1))``, in 0..1: the share of
    the document's mentions in doubt, so that a long document does not win by
    its length; the ``+ 1`` damps documents with a single mention (one fully
    doubtful mention scores 0.5, ten out of ten 0.91). Ties keep the order of
    ``weak.jsonl``; the same run gives the same selection.

    ``pre_annotate`` chooses the spans shown to the annotator: the confident
    aggregated spans (what the model was trained on) or the model's entities.
    ``min_confidence`` defaults to the run's ``--min-confidence``.

    >>> tasks = select_documents("runs/v1", n=20)  # doctest: +SKIP
    >>> tasks[0].score, tasks[0].reasons[:1]  # doctest: +SKIP
    (0.41, ["'naproxen' (27-35): model: Drug 'naproxen'; aggregated: no entity"])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise HybridNERError(f"n={n!r}: the number of documents to select must be an integer >= 1")
    if pre_annotate not in PRE_ANNOTATIONS:
        raise HybridNERError(f"pre_annotate={pre_annotate!r}: use one of {list(PRE_ANNOTATIONS)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise HybridNERError(f"batch_size={batch_size!r}: use an integer >= 1")
    run_dir = Path(run_dir)
    weak_path, model_path = _run_paths(run_dir)
    if min_confidence is None:
        min_confidence = _run_min_confidence(run_dir)
    elif not 0.0 <= min_confidence <= 1.0:
        raise HybridNERError(f"min_confidence={min_confidence!r}: use a number in 0..1")
    nlp = load(model_path).nlp

    counts = {"documents": 0, "empty": 0}

    def pairs() -> Iterator[tuple[str, tuple[int, dict[str, Any]]]]:
        for position, record in _weak_records(weak_path):
            counts["documents"] += 1
            if record["text"].strip():
                yield record["text"], (position, record)
            else:
                counts["empty"] += 1

    best: list[tuple[tuple[float, int], AnnotationTask]] = []
    for doc, (position, record) in nlp.pipe(pairs(), as_tuples=True, batch_size=batch_size):
        predicted = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        doubt = score_document(record, predicted, min_confidence=min_confidence)
        key = (doubt.score, -position)  # positions are unique: keys never tie
        if len(best) == n and key <= best[0][0]:
            continue
        task = _task(doc, record, position, predicted, doubt, pre_annotate, min_confidence)
        if len(best) < n:
            heapq.heappush(best, (key, task))
        else:
            heapq.heapreplace(best, (key, task))
    if not best:
        raise CorpusError(
            f"{weak_path}: no non-empty document to select from ({counts['documents']} "
            "document(s)); run hybridner bootstrap on a corpus with text"
        )
    tasks = [task for _, task in sorted(best, key=lambda item: (-item[0][0], -item[0][1]))]
    logger.info(
        "scored %d documents (%d empty skipped); selected %d with doubt %.3f to %.3f",
        counts["documents"] - counts["empty"], counts["empty"], len(tasks),
        tasks[0].score, tasks[-1].score,
    )
    certain = sum(1 for task in tasks if task.score == 0)
    if certain:
        logger.info("%d of the selected documents show no doubt at all", certain)
    return tasks


def _task(
    doc: Doc,
    record: dict[str, Any],
    position: int,
    predicted: list[Entity],
    doubt: Doubt,
    pre_annotate: str,
    min_confidence: float,
) -> AnnotationTask:
    aggregated = _non_overlapping(
        (s, e, label) for s, e, label, c in record["aggregated"] if c >= min_confidence
    )
    model = sorted(predicted)
    return AnnotationTask(
        id=record["id"],
        text=record["text"],
        score=doubt.score,
        spans=list(aggregated if pre_annotate == "aggregated" else model),
        aggregated=aggregated,
        model=model,
        breakdown=doubt.breakdown,
        reasons=doubt.reasons,
        tokens=[(t.text, t.idx, t.idx + len(t.text), bool(t.whitespace_)) for t in doc],
        position=position,
    )


# ---------------------------------------------------------------------- writing


def _aligned(task: AnnotationTask, tokens: Sequence[Token]) -> list[tuple[int, int, str, int, int]]:
    """The task's spans with their first and last token, widened to whole tokens."""
    starts = [t[1] for t in tokens]
    ends = [t[2] for t in tokens]
    aligned = []
    widened = 0
    for start, end, label in task.spans:
        first = max(0, bisect_right(starts, start) - 1)
        last = min(len(tokens) - 1, bisect_left(ends, end))
        if first > last:
            continue
        if (starts[first], ends[last]) != (start, end):
            widened += 1
        aligned.append((starts[first], ends[last], label))
    if widened:
        logger.info("%s: %d span(s) widened to whole tokens", task.id, widened)
    return [
        (s, e, label, bisect_left(starts, s), bisect_left(ends, e))
        for s, e, label in _non_overlapping(aligned)
    ]


def _prodigy(task: AnnotationTask, tokens: Sequence[Token]) -> dict[str, Any]:
    return {
        "text": task.text,
        "tokens": [
            {"text": text, "start": start, "end": end, "id": i, "ws": ws}
            for i, (text, start, end, ws) in enumerate(tokens)
        ],
        "spans": [
            {"start": s, "end": e, "token_start": first, "token_end": last, "label": label}
            for s, e, label, first, last in _aligned(task, tokens)
        ],
        "meta": {
            "id": task.id,
            "score": round(task.score, 4),
            **{k: round(v, 4) for k, v in task.breakdown.items() if k != "mentions"},
            "why": "; ".join(task.reasons[:3]),
        },
        "id": task.id,
    }


def _label_studio(task: AnnotationTask) -> dict[str, Any]:
    return {
        "data": {
            "text": task.text,
            "id": task.id,
            "doubt": round(task.score, 4),
            "why": "; ".join(task.reasons[:3]),
        },
        "predictions": [
            {
                "model_version": "hybridner",
                # Label Studio reads a prediction's score as confidence (lowest first)
                "score": round(1.0 - task.score, 4),
                "result": [
                    {
                        "id": f"hybridner-{i}",
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                        "value": {"start": s, "end": e, "text": task.text[s:e], "labels": [label]},
                    }
                    for i, (s, e, label) in enumerate(_non_overlapping(task.spans))
                ],
            }
        ],
    }


def write_tasks(
    path: str | Path,
    tasks: Iterable[AnnotationTask],
    *,
    format: Literal["prodigy", "label-studio"] = "prodigy",
    nlp: Language | None = None,
    overwrite: bool = False,
) -> int:
    """Write annotation tasks with their pre-annotations, atomically; return how many.

    ``format="prodigy"``: one ``ner.manual`` task per line — ``"text"``,
    ``"tokens"`` (``text``, ``start``, ``end``, ``id``, ``ws``), ``"spans"``
    (``start``, ``end``, ``token_start``, ``token_end`` (inclusive), ``label``),
    ``"meta"`` (id, score and why, shown to the annotator) and ``"id"``.
    ``format="label-studio"``: one task per line with ``"data"`` (``text``, ``id``)
    and ``"predictions"`` whose results name the ``<Labels name="label">`` and
    ``<Text name="text">`` tags; the prediction's score is ``1 - doubt``.

    A path ending in ``.json`` gets one JSON list instead of JSON lines (what
    older Label Studio versions import). Tasks without tokens are tokenised with
    ``nlp`` (the run's model, for Prodigy). An existing file is replaced only
    with ``overwrite=True``.

    >>> write_tasks("to_annotate.jsonl", tasks, format="label-studio")  # doctest: +SKIP
    50
    """
    if format not in FORMATS:
        raise HybridNERError(f"format {format!r}: use one of {list(FORMATS)}")
    path = Path(path)
    if path.exists() and not path.is_dir() and not overwrite:  # a folder: atomic_open says so
        raise OutputError(
            f"{path}: already exists; pass --overwrite (overwrite=True) to replace it or "
            "choose another file"
        )
    records = []
    for task in tasks:
        if format == "label-studio":
            records.append(_label_studio(task))
            continue
        tokens: Sequence[Token] = task.tokens
        if not tokens:
            if nlp is None:
                raise HybridNERError(
                    f"task {task.id!r} has no tokens; pass nlp= (the run's model) to tokenise it"
                )
            tokens = [(t.text, t.idx, t.idx + len(t.text), bool(t.whitespace_)) for t in nlp.make_doc(task.text)]
        records.append(_prodigy(task, tokens))
    with atomic_open(path) as handle:
        if path.suffix == ".json":
            json.dump(records, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        else:
            for record in records:
                handle.write(json_line(record) + "\n")
    return len(records)
