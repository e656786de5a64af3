from __future__ import annotations

from spacy.tokens import Span

from hybridner.doclevel import AbbreviationPropagation, DocumentConsistency, document_functions


def _aggregated(doc, spans, confidences):
    doc.spans["aggregated"] = [Span(doc, s, e, label=label) for s, e, label in spans]
    doc.spans["aggregated"].attrs["confidence"] = confidences
    return doc


def test_doclevel_consistency_labels_other_occurrences(nlp):
    doc = nlp("Lithium was given . Later LITHIUM levels rose ; lithium again .")
    _aggregated(doc, [(0, 1, "Chemical")], [0.95])
    DocumentConsistency()(doc)
    assert [(s.text, s.label_) for s in doc.spans["doc:consistency"]] == [
        ("Lithium", "Chemical"),
        ("LITHIUM", "Chemical"),
        ("lithium", "Chemical"),
    ]


def test_doclevel_consistency_ignores_unconfident_and_short(nlp):
    doc = nlp("NO gas and no effect ; cocaine , cocaine")
    _aggregated(doc, [(0, 1, "Chemical"), (6, 7, "Chemical")], [0.99, 0.4])
    DocumentConsistency(min_chars=3)(doc)
    assert len(doc.spans["doc:consistency"]) == 0


def test_doclevel_consistency_multi_token_and_majority_label(nlp):
    doc = nlp("nitric oxide here , nitric oxide there , nitric oxide again")
    _aggregated(doc, [(0, 2, "Chemical"), (4, 6, "Chemical"), (8, 10, "Disease")], [0.9, 0.9, 0.9])
    DocumentConsistency()(doc)
    spans = doc.spans["doc:consistency"]
    assert [(s.start, s.end) for s in spans] == [(0, 2), (4, 6), (8, 10)]
    assert {s.label_ for s in spans} == {"Chemical"}


def test_doclevel_abbreviation_definition_propagates(nlp):
    doc = nlp("Patients with Parkinson 's disease ( PD ) were seen . PD worsened ; no PDX .")
    _aggregated(doc, [(2, 5, "Disease")], [0.9])
    AbbreviationPropagation()(doc)
    assert [(s.start, s.text, s.label_) for s in doc.spans["doc:abbreviations"]] == [
        (6, "PD", "Disease"),
        (11, "PD", "Disease"),
    ]


def test_doclevel_abbreviation_needs_matching_initial(nlp):
    doc = nlp("We gave haloperidol ( XYZ ) and later XYZ .")
    _aggregated(doc, [(2, 3, "Chemical")], [0.9])
    AbbreviationPropagation()(doc)
    assert len(doc.spans["doc:abbreviations"]) == 0


def test_doclevel_functions_tolerate_documents_without_source(nlp):
    doc = nlp("nothing aggregated here")
    for function in document_functions():
        function(doc)
        assert len(doc.spans[function.name]) == 0
