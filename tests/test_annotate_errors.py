"""``annotate`` on a stream never dies on one bad record unless asked to (``on_error``).

A bad record: a line that is not JSON, a record without a string ``"text"``, a
text the model fails on. ``"raise"`` (default) stops with an error naming it,
``"skip"`` leaves it out and counts it, ``"log"`` also logs a warning naming it.
Output order and ``n_process`` behaviour are kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from typer.testing import CliRunner

from hybridner.cli import app
from hybridner.corpus import BadRecord
from hybridner.errors import CorpusError, HybridNERError
from hybridner.inference import NERModel, load

runner = CliRunner()


@Language.component("hybridner_test_fails_on_boom")
def fails_on_boom(doc):
    if "BOOM" in doc.text:
        raise ValueError("the test component refuses BOOM")
    return doc


def make_model() -> Language:
    """A deterministic pipeline: an entity ruler named "ner" and a component that fails on BOOM."""
    nlp = spacy.blank("en")
    nlp.add_pipe("hybridner_test_fails_on_boom")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([{"label": "Drug", "pattern": "aspirin"}, {"label": "Drug", "pattern": "warfarin"}])
    return nlp


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    make_model().to_disk(path)
    return path


GOOD = ["Take aspirin daily .", "No warfarin .", "Nothing here ."]


def inputs() -> list:
    return [
        GOOD[0],
        {"id": "no-text", "body": "aspirin"},
        {"id": "boom", "text": "BOOM aspirin"},
        BadRecord("corpus.jsonl line 4", "corpus.jsonl line 4: not valid JSON (...)"),
        {"id": "keep", "text": GOOD[1], "source": "x"},
        42,
        GOOD[2],
    ]


def test_annotate_errors_raise_is_the_default_and_names_the_record() -> None:
    ner = NERModel(make_model())
    with pytest.raises(CorpusError, match=r"record 'no-text': expected a string or a record with a string \"text\""):
        list(ner.annotate(inputs()))
    with pytest.raises(CorpusError, match=r"record 'boom': the model failed on this text \(ValueError: the test "
                                          r"component refuses BOOM\).*on_error='skip'"):
        list(ner.annotate([GOOD[0], {"id": "boom", "text": "BOOM"}]))


@pytest.mark.parametrize("n_process", [1, 2])
@pytest.mark.parametrize("on_error", ["skip", "log"])
def test_annotate_errors_skip_and_log_keep_order_and_count(
    on_error: str, n_process: int, caplog: pytest.LogCaptureFixture
) -> None:
    ner = NERModel(make_model())
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        stream = ner.annotate(inputs(), on_error=on_error, n_process=n_process, batch_size=2)
        records = list(stream)
    assert [r["text"] for r in records] == GOOD
    assert records[1]["id"] == "keep" and records[1]["source"] == "x"
    assert [[(e["start"], e["end"], e["text"]) for e in r["entities"]] for r in records] == [
        [(5, 12, "aspirin")], [(3, 11, "warfarin")], []
    ]
    assert (stream.annotated, stream.skipped) == (3, 4)
    assert [where for where, _ in stream.errors] == ["record 'no-text'", "record 'boom'", "corpus.jsonl line 4", "input 6"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if on_error == "skip":
        assert warnings == []
    else:
        assert len(warnings) == 4
        assert "record 'boom'" in warnings[1] and "ValueError" in warnings[1]
        assert "corpus.jsonl line 4" in warnings[2]


def test_annotate_errors_same_output_whatever_n_process_and_batch_size() -> None:
    ner = NERModel(make_model())
    texts = [f"doc {i} {'BOOM' if i % 7 == 3 else ''} aspirin" for i in range(40)]
    outputs = [
        list(ner.annotate(texts, on_error="skip", n_process=n, batch_size=b)) for n, b in [(1, 40), (1, 3), (2, 5)]
    ]
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0]) == 40 - sum(1 for i in range(40) if i % 7 == 3)


def test_annotate_errors_text_longer_than_max_length() -> None:
    nlp = make_model()
    nlp.max_length = 50
    ner = NERModel(nlp)
    long = {"id": "long", "text": "aspirin " * 10}
    with pytest.raises(CorpusError, match=r"record 'long': 80 characters, more than the 50 .*split it"):
        list(ner.annotate([long]))
    stream = ner.annotate([long, "aspirin"], on_error="skip")
    assert [r["text"] for r in stream] == ["aspirin"] and stream.skipped == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_error": "ignore"}, r"on_error='ignore': use one of \['raise', 'skip', 'log'\]"),
        ({"n_process": 0}, r"n_process must be a positive integer, got 0"),
        ({"batch_size": -1}, r"batch_size must be a positive integer, got -1"),
    ],
)
def test_annotate_errors_bad_options(options: dict, message: str) -> None:
    with pytest.raises(HybridNERError, match=message):
        NERModel(make_model()).annotate(["aspirin"], **options)


def write_corpus(path: Path) -> list[str]:
    """A corpus with a line that is not JSON (3), one without text (5), one the model fails on (7)."""
    lines = [
        json.dumps({"id": "a", "text": "aspirin 1"}),
        json.dumps({"id": "b", "text": "aspirin 2"}),
        '{"id": "c", text: "aspirin"}',
        json.dumps({"id": "d", "text": "warfarin 4"}),
        json.dumps({"id": "e", "txt": "aspirin"}),
        json.dumps({"id": "f", "text": "aspirin 6"}),
        json.dumps({"id": "g", "text": "BOOM aspirin"}),
        json.dumps({"id": "h", "text": "aspirin 8"}),
    ]
    path.write_text("\n".join(lines) + "\n", "utf8")
    return ["a", "b", "d", "f", "h"]


@pytest.mark.parametrize("n_process", ["1", "2"])
@pytest.mark.parametrize("on_error", ["skip", "log"])
def test_annotate_errors_cli_skips_and_reports(tmp_path: Path, model_dir: Path, on_error: str, n_process: str) -> None:
    corpus = tmp_path / "corpus.jsonl"
    kept = write_corpus(corpus)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, [
        "annotate", str(model_dir), str(corpus), "--out", str(out), "--on-error", on_error,
        "--n-process", n_process, "--batch-size", "2",
    ])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text("utf8").splitlines()]
    assert [r["id"] for r in records] == kept
    assert all(r["entities"][0]["text"] in ("aspirin", "warfarin") for r in records)
    assert "skipped 3 records" in result.stderr
    assert "annotated 5 documents" in result.stderr
    named = [f"{corpus} line 3", f"{corpus} line 5", "record 'g'"]
    assert all((place in result.stderr) == (on_error == "log") for place in named), result.stderr


def test_annotate_errors_cli_raise_stops_and_writes_nothing(tmp_path: Path, model_dir: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["annotate", str(model_dir), str(corpus), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"error: {corpus} line 3: not valid JSON" in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # the model failing on a record is named too
    corpus.write_text(json.dumps({"id": "g", "text": "BOOM"}) + "\n", "utf8")
    result = runner.invoke(app, ["annotate", str(model_dir), str(corpus), "--out", str(out)])
    assert result.exit_code == 1
    assert "error: record 'g': the model failed on this text" in result.stderr
    assert "--on-error skip" in result.stderr
    assert not out.exists()


def test_annotate_errors_cli_to_stdout(tmp_path: Path, model_dir: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    kept = write_corpus(corpus)
    result = runner.invoke(app, ["annotate", str(model_dir), str(corpus), "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == kept
    assert "skipped 3 records" in result.stderr
    assert load(model_dir).labels == ["Drug"]
