from __future__ import annotations

import pytest
from spacy.tokens import Span

from hybridner import score_entities
from hybridner.evaluation import function_statistics


def test_evaluation_exact_span_micro_scores():
    gold = [[(0, 7, "Drug"), (12, 16, "Disease")], [(0, 4, "Drug")]]
    predicted = [[(0, 7, "Drug"), (12, 15, "Disease")], [(0, 4, "Disease")]]
    scores = score_entities(gold, predicted)
    assert (scores.correct, scores.predicted, scores.support) == (1, 3, 3)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.per_label["Drug"].support == 2
    assert scores.per_label["Drug"].precision == 1.0
    assert scores.per_label["Disease"].f1 == 0.0


def test_evaluation_empty_inputs_score_zero_not_crash():
    scores = score_entities([[]], [[]])
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


def test_evaluation_label_filter_and_json_shape():
    scores = score_entities([[(0, 1, "A"), (2, 3, "B")]], [[(0, 1, "A"), (2, 3, "A")]], labels=["A"])
    data = scores.to_dict()
    assert set(data) == {"precision", "recall", "f1", "per_label"}
    assert set(data["per_label"]) == {"A"}
    assert set(data["per_label"]["A"]) == {"precision", "recall", "f1", "support"}
    assert data["precision"] == 0.5 and data["recall"] == 1.0


def test_evaluation_mismatched_document_counts_raise():
    with pytest.raises(ValueError):
        score_entities([[], []], [[]])


def test_evaluation_function_statistics_counts_overlaps_and_conflicts(nlp):
    doc = nlp("aspirin and nausea today")
    doc.spans["a"] = [Span(doc, 0, 1, "Drug"), Span(doc, 2, 3, "Disease")]
    doc.spans["b"] = [Span(doc, 2, 3, "Drug")]
    other = nlp("nothing")
    other.spans["a"] = []
    stats = function_statistics([doc, other], ["a", "b", "c"])
    assert stats["a"]["spans"] == 2 and stats["a"]["labels"] == {"Disease": 1, "Drug": 1}
    assert stats["a"]["doc_coverage"] == 0.5
    assert stats["a"]["token_coverage"] == pytest.approx(2 / 5)
    assert stats["a"]["overlaps"] == 1 and stats["a"]["conflicts"] == 1
    assert stats["b"]["conflicts"] == 1
    assert stats["c"]["spans"] == 0
