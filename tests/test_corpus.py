from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin, Span

from hybridner import CorpusError, read_gold, read_texts
from hybridner.corpus import (
    atomic_open,
    gold_docs,
    make_docs,
    make_nlp,
    to_training_doc,
    weak_record,
    write_docbin,
    write_jsonl,
)


def test_corpus_reads_jsonl_with_ids_and_extra_fields(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": 7, "text": "a b", "site": "x"}\n\n{"text": "c"}\n', "utf8")
    records = list(read_texts(path))
    assert records == [{"id": "7", "text": "a b", "site": "x"}, {"id": "c.jsonl:3", "text": "c"}]


def test_corpus_reads_txt_lines_and_folders(tmp_path):
    (tmp_path / "lines.txt").write_text("first doc\n\nsecond doc\r\n", "utf8")
    assert [r["text"] for r in read_texts(tmp_path / "lines.txt")] == ["first doc", "second doc"]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "b.txt").write_text("two", "utf8")
    (folder / "a.txt").write_text("one\nstill one", "utf8")
    assert [(r["id"], r["text"]) for r in read_texts(folder)] == [("a.txt", "one\nstill one"), ("b.txt", "two")]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "ok"}\nnot json\n', r"line 2: not valid JSON"),
        ('{"id": 1}\n', r"line 1: no \"text\" field"),
        ('{"text": 5}\n', r"line 1: \"text\" must be a string"),
        ('["text"]\n', r"line 1: expected a JSON object"),
    ],
)
def test_corpus_bad_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf8")
    with pytest.raises(CorpusError, match=message) as info:
        list(read_texts(path))
    assert "bad.jsonl" in str(info.value)


def test_corpus_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "x.csv").write_text("a", "utf8")
    with pytest.raises(CorpusError, match="unknown corpus format"):
        list(read_texts(tmp_path / "x.csv"))
    with pytest.raises(CorpusError, match="no such corpus"):
        list(read_texts(tmp_path / "absent.jsonl"))


def test_corpus_gold_formats(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "Aspirin for gout", "entities": [[12, 16, "Disease"], [0, 7, "Drug"]]})
        + "\n"
        + json.dumps({"text": "Heparin", "spans": [{"start": 0, "end": 7, "label": "Drug", "token_start": 0}]})
        + "\n",
        "utf8",
    )
    gold = read_gold(path)
    assert gold[0].entities == [(0, 7, "Drug"), (12, 16, "Disease")]
    assert gold[1].id == "gold.jsonl:2" and gold[1].entities == [(0, 7, "Drug")]


@pytest.mark.parametrize(
    "entities, message",
    [
        ([[0, 99, "Drug"]], "outside the text"),
        ([[5, 2, "Drug"]], "reversed or empty"),
        ([[0, 7, "Drug"], [4, 9, "Drug"]], "overlap"),
        ([[0, 7, "B-Drug"]], "tagging prefix"),
        ([[0, 7]], r"not \[start, end, label\]"),
    ],
)
def test_corpus_gold_errors(tmp_path, entities, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"text": "Aspirin for gout", "entities": entities}) + "\n", "utf8")
    with pytest.raises(CorpusError, match=message) as info:
        read_gold(path)
    assert "gold.jsonl line 1" in str(info.value)


def test_corpus_make_docs_keeps_ids(nlp):
    docs = list(make_docs(nlp, [{"id": "x1", "text": "one"}, {"id": "x2", "text": "two"}]))
    assert [d.user_data["id"] for d in docs] == ["x1", "x2"]


def test_corpus_fine_tokenizer_splits_chemical_punctuation():
    nlp = make_nlp("en")
    assert [t.text for t in nlp.make_doc("Ca(2+)-induced")][:2] == ["Ca", "("]
    assert "-" in [t.text for t in nlp.make_doc("-propranolol")]
    coarse = make_nlp("en", tokenizer="spacy")
    assert len(coarse.make_doc("Ca(2+)-induced")) < len(nlp.make_doc("Ca(2+)-induced"))


def test_corpus_gold_docs_are_complete_annotation(nlp, tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"text": "Aspirin for gout", "entities": [[0, 7, "Drug"]]}) + "\n", "utf8")
    (doc,) = gold_docs(nlp, read_gold(path))
    assert [(t.ent_iob_, t.ent_type_) for t in doc] == [("B", "Drug"), ("O", ""), ("O", "")]


def test_corpus_training_doc_marks_uncertain_and_candidates_missing(nlp):
    doc = nlp("Aspirin causes bad nausea in Foo Bar syndrome today")
    doc.spans["aggregated"] = [Span(doc, 0, 1, "Drug"), Span(doc, 2, 4, "Disease")]
    doc.spans["aggregated"].attrs.update(
        confidence=[0.95, 0.3], uncertain_tokens=[4, 8], p_outside=[0.5, 0.95]
    )
    doc.spans["candidates"] = [Span(doc, 5, 8, "CANDIDATE"), Span(doc, 0, 1, "CANDIDATE")]
    train = to_training_doc(doc, candidates="candidates", min_confidence=0.5, min_outside=0.9)
    iob = [t.ent_iob_ for t in train]
    assert iob == ["B", "O", "", "", "", "", "", "", "O"]
    assert [e.text for e in train.ents] == ["Aspirin"]


def test_corpus_docbin_round_trip_keeps_missing(nlp, tmp_path):
    doc = nlp("Aspirin causes nausea")
    doc.spans["aggregated"] = [Span(doc, 0, 1, "Drug")]
    doc.spans["aggregated"].attrs.update(confidence=[0.9], uncertain_tokens=[2], p_outside=[0.2])
    train = to_training_doc(doc)
    write_docbin(tmp_path / "t.spacy", [train])
    (back,) = DocBin().from_disk(tmp_path / "t.spacy").get_docs(nlp.vocab)
    assert [t.ent_iob_ for t in back] == ["B", "O", ""]


def test_corpus_weak_record_uses_character_offsets(nlp):
    doc = nlp("Take aspirin now")
    doc.user_data["id"] = "d1"
    doc.spans["lex"] = [Span(doc, 1, 2, "Drug")]
    doc.spans["aggregated"] = [Span(doc, 1, 2, "Drug")]
    doc.spans["aggregated"].attrs.update(confidence=[0.91234567], voters=[["lex"]])
    record = weak_record(doc, ["lex", "silent"])
    assert record == {
        "id": "d1",
        "text": "Take aspirin now",
        "spans": {"lex": [[5, 12, "Drug"]], "silent": []},
        "aggregated": [{"start": 5, "end": 12, "label": "Drug", "confidence": 0.9123, "voters": ["lex"]}],
    }


def test_corpus_atomic_open_leaves_target_untouched_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n", "utf8")
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target) as handle:
            handle.write("partial")
            1 / 0
    assert target.read_text("utf8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(), max_size=5))
def test_corpus_jsonl_round_trips_unicode(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("rt") / "t.jsonl"
    write_jsonl(path, ({"id": str(i), "text": t} for i, t in enumerate(texts)))
    assert [r["text"] for r in read_texts(path)] == texts


def test_corpus_replace_mentions_swaps_entities_keeps_missing(nlp):
    import random

    from hybridner.corpus import replace_mentions

    doc = nlp("Aspirin causes bad nausea here .")
    doc.set_ents([Span(doc, 0, 1, "Drug"), Span(doc, 3, 4, "Disease")], missing=[Span(doc, 4, 5)], default="outside")
    terms = {"Drug": [nlp.make_doc("acetylsalicylic acid")]}
    new = replace_mentions(doc, terms, random.Random(0), share=1.0)
    assert new.text == "acetylsalicylic acid causes bad nausea here ."
    assert [(e.text, e.label_) for e in new.ents] == [("acetylsalicylic acid", "Drug"), ("nausea", "Disease")]
    assert [t.ent_iob_ for t in new] == ["B", "I", "O", "O", "B", "", "O"]
    assert replace_mentions(doc, {}, random.Random(0)) is None
