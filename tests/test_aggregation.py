from __future__ import annotations

import json

import pytest
from spacy.tokens import Span

from hybridner import HMMAggregator, MajorityAggregator, NotFittedError, load_aggregator
from hybridner.errors import AggregationError

TEXTS = [
    "Aspirin causes nausea in some patients .",
    "Take aspirin for headache .",
    "Nothing to see here .",
    "Ibuprofen and aspirin both help .",
    "Nausea after ibuprofen , headache after aspirin .",
]


def _labelled(nlp, repeat: int = 4):
    docs = []
    for text in TEXTS * repeat:
        doc = nlp(text)
        words = [t.lower_ for t in doc]
        doc.spans["drugs"] = [
            Span(doc, i, i + 1, label="Drug") for i, w in enumerate(words) if w in {"aspirin", "ibuprofen"}
        ]
        doc.spans["diseases"] = [
            Span(doc, i, i + 1, label="Disease") for i, w in enumerate(words) if w in {"nausea", "headache"}
        ]
        # a noisy function that calls nausea a drug
        doc.spans["noisy"] = [Span(doc, i, i + 1, label="Drug") for i, w in enumerate(words) if w == "nausea"]
        docs.append(doc)
    return docs


@pytest.mark.parametrize("cls", [HMMAggregator, MajorityAggregator])
def test_aggregation_fit_returns_self(nlp, cls):
    agg = cls(["Drug", "Disease"])
    assert agg.fit(_labelled(nlp)) is agg
    assert agg.sources_ == ["diseases", "drugs", "noisy"]


@pytest.mark.parametrize("cls", [HMMAggregator, MajorityAggregator])
def test_aggregation_use_before_fit_raises(nlp, cls):
    with pytest.raises(NotFittedError, match="fit"):
        cls(["Drug"]).aggregate(nlp("Aspirin"))


def test_aggregation_hmm_spans_carry_confidence_and_voters(nlp):
    docs = _labelled(nlp)
    agg = HMMAggregator(["Drug", "Disease"]).fit(docs)
    spans = agg.aggregate(docs[0])
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 1, "Drug"), (2, 3, "Disease")]
    assert all(0.5 < s.confidence <= 1.0 for s in spans)
    assert spans[0].voters == ["drugs"]
    assert spans[1].voters == ["diseases"]
    group = docs[0].spans["aggregated"]
    assert list(group.attrs["voters"]) == [["drugs"], ["diseases"]]
    assert len(group.attrs["confidence"]) == 2


def test_aggregation_document_without_votes(nlp):
    docs = _labelled(nlp)
    agg = HMMAggregator(["Drug", "Disease"]).fit(docs)
    empty = nlp("Nothing to see here .")
    assert agg.aggregate(empty) == []
    assert len(empty.spans["aggregated"]) == 0
    assert agg.aggregate(nlp("")) == []


def test_aggregation_no_function_fired_anywhere_is_a_clear_error(nlp):
    docs = [nlp(t) for t in TEXTS]
    for doc in docs:
        doc.spans["drugs"] = []
    with pytest.raises(AggregationError, match="no labelling function produced a span"):
        HMMAggregator(["Drug"]).fit(docs)


def test_aggregation_unseen_source_at_aggregate_time_is_ignored(nlp):
    docs = _labelled(nlp)
    agg = HMMAggregator(["Drug", "Disease"]).fit(docs)
    doc = nlp("Aspirin today")
    doc.spans["drugs"] = [Span(doc, 0, 1, label="Drug")]
    doc.spans["brand_new"] = [Span(doc, 1, 2, label="Drug")]
    assert [(s.start, s.label) for s in agg.aggregate(doc)] == [(0, "Drug")]


def test_aggregation_same_seed_same_result(nlp):
    def run():
        docs = _labelled(nlp)
        agg = HMMAggregator(["Drug", "Disease"], seed=3, max_fit_docs=10).fit(docs)
        return [(s.start, s.end, s.label, round(s.confidence, 8)) for d in docs for s in agg.aggregate(d)]

    assert run() == run()


def test_aggregation_hmm_save_load_round_trip(nlp, tmp_path):
    docs = _labelled(nlp)
    agg = HMMAggregator(["Drug", "Disease"]).fit(docs)
    path = tmp_path / "agg.json"
    agg.save(path)
    assert json.loads(path.read_text())["kind"] == "hmm"
    clone = load_aggregator(path)
    for doc in docs[:5]:
        assert agg.aggregate(doc) == clone.aggregate(doc)


def test_aggregation_majority_save_load_round_trip(nlp, tmp_path):
    docs = _labelled(nlp)
    agg = MajorityAggregator(["Drug", "Disease"]).fit(docs)
    agg.save(tmp_path / "mv.json")
    clone = load_aggregator(tmp_path / "mv.json")
    assert agg.aggregate(docs[1]) == clone.aggregate(docs[1])


def test_aggregation_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(AggregationError, match="not an aggregator file"):
        load_aggregator(path)


def test_aggregation_hmm_learns_noisy_function_is_worse(nlp):
    agg = HMMAggregator(["Drug", "Disease"]).fit(_labelled(nlp))
    weights = agg.function_weights()
    assert weights["noisy"]["Drug"]["false_positive_rate"] >= weights["drugs"]["Drug"]["false_positive_rate"]


def test_aggregation_keeps_skweak_output_off_stdout(nlp, capsys):
    HMMAggregator(["Drug", "Disease"]).fit(_labelled(nlp))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
