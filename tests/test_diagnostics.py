"""Tests of hybridner.diagnostics: per-rule figures, error examples, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TinyProject, make_tiny_project

from hybridner import weak_label
from hybridner.corpus import read_gold
from hybridner.diagnostics import (
    Diagnostics,
    _classify,
    _errors,
    diagnose,
    gallery,
    load_diagnostics,
)
from hybridner.errors import OutputError
from hybridner.evaluation import evaluate_on_gold, gold_layers

# labels "diabetes" alone, so that its spans overlap the aggregated "type 2 diabetes"
SHORT_RULE = '''
from hybridner import labelling_function

@labelling_function(label="Disease")
def short_diabetes(doc):
    for tok in doc:
        if tok.lower_ == "diabetes":
            yield tok.i, tok.i + 1
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    project = make_tiny_project(tmp_path_factory.mktemp("diagnostics"))
    (project.rules / "short.py").write_text(SHORT_RULE, "utf8")
    return project


@pytest.fixture(scope="module")
def weak(project: TinyProject):
    return weak_label(project.lexicons, corpus=project.corpus, rules=project.rules)


@pytest.fixture(scope="module")
def layers(weak, project: TinyProject):
    return gold_layers(weak, read_gold(project.dev))


def test_diagnostics_classify_errors() -> None:
    gold = {(0, 5, "A"), (10, 15, "B")}
    assert _classify((0, 5, "B"), gold, "spurious") == "label"
    assert _classify((10, 13, "B"), gold, "spurious") == "boundary"
    assert _classify((10, 13, "A"), gold, "spurious") == "spurious"
    assert _classify((20, 25, "A"), gold, "spurious") == "spurious"


def test_diagnostics_errors_have_context_and_limit() -> None:
    text = "aaaa bbbb cccc dddd"
    gold = [[(0, 4, "X"), (5, 9, "X")]]
    predicted = [[(0, 4, "X"), (10, 14, "X"), (15, 19, "Y")]]
    fps, fns = _errors(["d1"], [text], gold, predicted, None, limit=10)
    assert [(e.text, e.error) for e in fps] == [("cccc", "spurious"), ("dddd", "spurious")]
    assert [(e.text, e.error) for e in fns] == [("bbbb", "missed")]
    assert fps[0].left == "aaaa bbbb " and fps[0].right == " dddd"
    fps, fns = _errors(["d1"], [text], gold, predicted, {"Y"}, limit=10)
    assert [e.text for e in fps] == ["dddd"] and fns == []
    fps, _ = _errors(["d1"], [text], gold, predicted, None, limit=1)
    assert len(fps) == 1


def test_diagnostics_corpus_rows_without_gold(weak) -> None:
    diagnostics = diagnose(weak)
    assert diagnostics.gold_documents == 0 and diagnostics.stages == {}
    names = {(r.function, r.label) for r in diagnostics.functions}
    assert names == {(f.name, f.labels[0]) for f in weak.functions}
    for row in diagnostics.functions:
        spans = [s for d in weak.docs for s in d.spans[row.function] if s.label_ == row.label]
        assert row.spans == len(spans)
        docs = sum(1 for d in weak.docs if any(s.label_ == row.label for s in d.spans[row.function]))
        assert row.doc_coverage == pytest.approx(docs / len(weak.docs))
        assert row.agreements + row.boundary_disagreements <= row.spans
        assert row.dev_precision is None and row.false_positives == []
        assert row.hmm_recall is not None and 0.0 <= row.hmm_recall <= 1.0


def test_diagnostics_boundary_disagreements_counted(weak) -> None:
    row = diagnose(weak).function("short_diabetes")
    expected = 0
    for doc in weak.docs:
        aggregated = [(s.start, s.end) for s in doc.spans["aggregated"] if s.label_ == "Disease"]
        for span in doc.spans["short_diabetes"]:
            if (span.start, span.end) not in aggregated and any(
                a < span.end and span.start < b for a, b in aggregated
            ):
                expected += 1
    assert expected > 0, "the fixture should make short spans inside 'type 2 diabetes'"
    assert row.boundary_disagreements == expected


def test_diagnostics_with_gold_match_evaluate_on_gold(weak, layers) -> None:
    diagnostics = diagnose(weak, layers)
    scores = evaluate_on_gold(weak, layers)
    assert diagnostics.gold_documents == len(layers.gold)
    for row in diagnostics.functions:
        assert row.dev_precision == pytest.approx(scores["functions"][row.function]["precision"])
        assert row.dev_recall == pytest.approx(scores["functions"][row.function]["recall"])
    for stage in ("lexicon_only", "majority", "aggregated"):
        assert diagnostics.stages[stage].f1 == pytest.approx(scores[stage]["f1"])
    gold = {(g.id, e) for g in layers.gold for e in g.entities}
    texts = {g.id: g.text for g in layers.gold}
    row = diagnostics.function("short_diabetes")
    assert row.false_positives, "the short rule must produce boundary errors on dev"
    for example in row.false_positives:
        assert (example.doc_id, (example.start, example.end, example.label)) not in gold
        assert texts[example.doc_id][example.start : example.end] == example.text
        assert example.error in {"boundary", "spurious", "label"}
    for example in diagnostics.stages["lexicon_only"].false_negatives:
        assert (example.doc_id, (example.start, example.end, example.label)) in gold


def test_diagnostics_round_trip_and_frame(weak, layers) -> None:
    diagnostics = diagnose(weak, layers)
    data = json.loads(json.dumps(diagnostics.to_dict()))
    assert Diagnostics.from_dict(data) == diagnostics
    frame = diagnostics.to_frame()
    assert frame.index.names == ["function", "label"]
    assert len(frame) == len(diagnostics.functions)
    assert frame.loc[("short_diabetes", "Disease"), "false_positives"] == len(
        diagnostics.function("short_diabetes").false_positives
    )
    with pytest.raises(KeyError):
        diagnostics.function("no-such-function")


def test_diagnostics_gallery_sorted_by_disagreements(weak, layers) -> None:
    items = gallery(weak, layers, size=5)
    assert len(items) == 5
    counts = [item["disagreements"] for item in items]
    assert counts == sorted(counts, reverse=True)
    for item in items:
        for start, end in item["tokens"]:
            assert 0 <= start < end <= len(item["text"])
        assert item["gold"] is not None
    corpus_items = gallery(weak, None, size=3)
    assert len(corpus_items) == 3 and corpus_items[0]["gold"] is None


def test_diagnostics_load_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="not a hybridner run folder"):
        load_diagnostics(tmp_path)
    (tmp_path / "report.json").write_text("{broken", "utf8")
    with pytest.raises(OutputError, match="cannot be read as JSON"):
        load_diagnostics(tmp_path)
    (tmp_path / "report.json").write_text("{}", "utf8")
    with pytest.raises(OutputError, match="no diagnostics"):
        load_diagnostics(tmp_path)
