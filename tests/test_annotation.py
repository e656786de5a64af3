"""Active annotation: ``select_documents``, ``write_tasks``, ``hybridner select`` and the way back.

One module-scoped bootstrap run of the tiny project serves every test that needs a
trained model; rankings that need particular documents use a copy of that run
whose ``weak.jsonl`` is written by the test.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import spacy
from conftest import TinyProject, make_tiny_project
from spacy.tokens import DocBin
from typer.testing import CliRunner

import hybridner
from hybridner import (
    CorpusError,
    HybridNERError,
    OutputError,
    read_gold,
    select_documents,
    write_tasks,
)
from hybridner.annotation import score_document
from hybridner.cli import app

runner = CliRunner()

LABELS = {"Drug", "Disease", "Dose"}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf8").splitlines() if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf8")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    return make_tiny_project(tmp_path_factory.mktemp("annotation-project"))


@pytest.fixture(scope="module")
def run(project: TinyProject) -> Path:
    """One bootstrap run (2 epochs) shared by the tests below."""
    out = project.root / "runs" / "v1"
    hybridner.bootstrap(
        project.lexicons, rules=project.rules, corpus=project.corpus, dev=project.dev,
        out=out, max_epochs=2, seed=0,
    )
    return out


def fake_run(root: Path, run: Path, records: list[dict] | None = None, *, model: bool = True) -> Path:
    """A run folder with the trained model of ``run`` and the given weak.jsonl records."""
    folder = root / "fake-run"
    folder.mkdir()
    if model:
        shutil.copytree(run / "model", folder / "model")
    shutil.copy(run / "report.json", folder / "report.json")
    if records is not None:
        write_jsonl(folder / "weak.jsonl", records)
    return folder


def weak(doc_id: str, text: str, spans: dict, aggregated: list[tuple]) -> dict:
    return {
        "id": doc_id,
        "text": text,
        "spans": spans,
        "aggregated": [
            {"start": s, "end": e, "label": label, "confidence": c, "voters": []}
            for s, e, label, c in aggregated
        ],
    }


# ---------------------------------------------------------------------- scoring and ranking


def test_annotation_score_document_formula() -> None:
    record = weak("a", "Naproxen helps .", {"lex": [[0, 8, "Drug"]], "rule": [[0, 8, "Disease"]]},
                  [(0, 8, "Drug", 0.5)])
    doubt = score_document(record, [])
    # one mention: uncertainty 1 (confidence 0.5), the model finds nothing where the
    # aggregated Drug is (disagreement 1), two labels from the functions (conflict 1)
    assert doubt.breakdown == {"uncertainty": 0.5, "disagreement": 0.5, "conflict": 0.5, "mentions": 1}
    assert doubt.score == pytest.approx(0.5)
    assert len(doubt.reasons) == 1
    assert "'Naproxen' (0-8)" in doubt.reasons[0]
    assert "confidence 0.50" in doubt.reasons[0]
    assert "functions disagree: Disease (rule), Drug (lex)" in doubt.reasons[0]
    # agreeing, confident layers: no doubt at all
    certain = weak("b", "Naproxen helps .", {"lex": [[0, 8, "Drug"]]}, [(0, 8, "Drug", 1.0)])
    assert score_document(certain, [(0, 8, "Drug")]).score == 0.0
    assert score_document(weak("c", "Nothing here .", {}, []), []).score == 0.0


def test_annotation_long_documents_do_not_win_by_length() -> None:
    doubtful = {"lex": [[0, 8, "Drug"]], "rule": [[0, 8, "Disease"]]}
    short = weak("short", "Naproxen helps .", doubtful, [(0, 8, "Drug", 0.5)])
    text = "Naproxen helps ." + " Aspirin helps ." * 9
    certain = [(17 + 16 * i, 24 + 16 * i, "Drug") for i in range(9)]
    assert all(text[s:e] == "Aspirin" for s, e, _ in certain)
    spans = {"lex": [[0, 8, "Drug"]] + [list(c) for c in certain], "rule": [[0, 8, "Disease"]]}
    long = weak("long", text, spans, [(0, 8, "Drug", 0.5)] + [(*c, 1.0) for c in certain])
    short_score = score_document(short, []).score
    long_score = score_document(long, certain).score
    # the long document has the same doubtful mention and nine certain ones
    assert 0 < long_score < short_score


@pytest.mark.slow
def test_annotation_doubtful_document_ranks_above_certain_ones(run: Path, tmp_path: Path) -> None:
    ner = hybridner.load(run / "model")
    certain_text = "The patient was started on aspirin for gout ."
    predicted = ner.entities(certain_text)
    certain = weak("certain", certain_text, {"lex": [list(p) for p in predicted]},
                   [(*p, 1.0) for p in predicted])
    doubtful = weak(
        "doubtful", "Naproxen was stopped because of worsening migraine .",
        {"lexicon:Drug:uncased": [[0, 8, "Drug"]], "disease_suffix": [[0, 8, "Disease"]]},
        [(0, 8, "Drug", 0.55)],
    )
    records = [certain, doubtful, weak("empty", "   ", {}, []), {**certain, "id": "certain-again"}]
    folder = fake_run(tmp_path, run, records)

    tasks = select_documents(folder, n=10)
    assert [t.id for t in tasks] == ["doubtful", "certain", "certain-again"]  # empty skipped, ties in order
    first = tasks[0]
    assert first.score > 0 and tasks[1].score == tasks[2].score == 0.0
    assert first.breakdown["uncertainty"] > 0 and first.breakdown["conflict"] > 0
    assert any("functions disagree" in reason for reason in first.reasons)
    assert first.spans == [(0, 8, "Drug")]  # the confident aggregated span (0.55 >= the run's 0.5)
    assert first.position == 1 and first.text.startswith("Naproxen")
    assert [t.id for t in select_documents(folder, n=1)] == ["doubtful"]
    # a higher bar makes the aggregated span unconfident: no pre-annotation then
    assert select_documents(folder, n=1, min_confidence=0.6)[0].spans == []


# ---------------------------------------------------------------------- output formats


@pytest.mark.slow
def test_annotation_prodigy_output_is_valid(run: Path, tmp_path: Path) -> None:
    tasks = select_documents(run, n=12)
    assert len(tasks) == 12
    scores = [t.score for t in tasks]
    assert scores == sorted(scores, reverse=True)
    target = tmp_path / "to_annotate.jsonl"
    assert write_tasks(target, tasks, format="prodigy") == 12
    records = read_jsonl(target)
    assert [r["id"] for r in records] == [t.id for t in tasks]
    n_spans = 0
    for record, task in zip(records, tasks):
        text, tokens = record["text"], record["tokens"]
        assert text == task.text
        assert [t["id"] for t in tokens] == list(range(len(tokens)))
        for token in tokens:
            assert set(token) == {"text", "start", "end", "id", "ws"}
            assert text[token["start"]:token["end"]] == token["text"]
        assert "".join(t["text"] + (" " if t["ws"] else "") for t in tokens) == text
        previous_end = 0
        for span in record["spans"]:
            n_spans += 1
            assert set(span) == {"start", "end", "token_start", "token_end", "label"}
            assert span["label"] in LABELS
            assert previous_end <= span["start"] < span["end"] <= len(text)
            assert span["token_start"] <= span["token_end"]
            assert tokens[span["token_start"]]["start"] == span["start"]
            assert tokens[span["token_end"]]["end"] == span["end"]  # token_end is inclusive
            previous_end = span["end"]
        assert [(s["start"], s["end"], s["label"]) for s in record["spans"]] == task.aggregated
        assert record["meta"]["id"] == task.id
        assert record["meta"]["score"] == pytest.approx(task.score, abs=1e-4)
    assert n_spans > 0

    model_tasks = select_documents(run, n=12, pre_annotate="model")
    assert [t.id for t in model_tasks] == [t.id for t in tasks]  # the ranking does not change
    assert all(t.spans == t.model for t in model_tasks)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
@pytest.mark.slow
def test_annotation_label_studio_output_is_valid(run: Path, tmp_path: Path, suffix: str) -> None:
    tasks = select_documents(run, n=12)
    target = tmp_path / f"tasks{suffix}"
    write_tasks(target, tasks, format="label-studio")
    if suffix == ".json":
        records = json.loads(target.read_text("utf8"))
    else:
        records = read_jsonl(target)
    assert len(records) == 12
    n_results = 0
    for record, task in zip(records, tasks):
        assert record["data"]["text"] == task.text and record["data"]["id"] == task.id
        (prediction,) = record["predictions"]
        assert prediction["model_version"] == "hybridner"
        assert prediction["score"] == pytest.approx(1 - task.score, abs=1e-4)
        ids = [r["id"] for r in prediction["result"]]
        assert len(set(ids)) == len(ids)
        for result in prediction["result"]:
            n_results += 1
            assert (result["from_name"], result["to_name"], result["type"]) == ("label", "text", "labels")
            value = result["value"]
            assert task.text[value["start"]:value["end"]] == value["text"]
            assert len(value["labels"]) == 1 and value["labels"][0] in LABELS
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                for r in prediction["result"]] == task.spans
    assert n_results > 0


@pytest.mark.slow
def test_annotation_select_is_deterministic(run: Path, tmp_path: Path) -> None:
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        result = runner.invoke(app, ["select", str(run), "--n", "15", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 15


# ---------------------------------------------------------------------- the way back


@pytest.mark.slow
def test_annotation_round_trip_through_gold_and_dev(run: Path, project: TinyProject, tmp_path: Path) -> None:
    """select -> a person corrects -> bootstrap --gold (Prodigy) and --dev (Label Studio)."""
    selected = tmp_path / "to_annotate.jsonl"
    result = runner.invoke(app, ["select", str(run), "--n", "10", "--out", str(selected)])
    assert result.exit_code == 0, result.output
    assert f"wrote 10 documents to annotate to {selected}" in result.stdout
    assert "--gold" in result.stdout
    tasks = read_jsonl(selected)

    # Prodigy: the first six are answered; one corrected (its first token becomes a Drug),
    # one rejected
    answered = []
    for i, task in enumerate(tasks[:6]):
        task = dict(task, answer="accept", _is_binary=False)
        if i == 0:
            first = task["tokens"][0]
            task["spans"] = [{"start": first["start"], "end": first["end"], "token_start": 0,
                              "token_end": 0, "label": "Drug"}]
        if i == 1:
            task["answer"] = "reject"
        answered.append(task)
    corrected = write_jsonl(tmp_path / "corrected.jsonl", answered)

    # Label Studio: the other four, exported as one JSON list; one span relabelled,
    # one task only cancelled
    ls_tasks = tmp_path / "ls_tasks.jsonl"
    result = runner.invoke(app, ["select", str(run), "--n", "10", "--format", "label-studio",
                                 "--out", str(ls_tasks)])
    assert result.exit_code == 0, result.output
    export = []
    for number, task in enumerate(read_jsonl(ls_tasks)[6:], start=1):
        results = json.loads(json.dumps(task["predictions"][0]["result"]))
        if number == 1 and results:
            results[0]["value"]["labels"] = ["Disease"]
        annotation = {"id": 100 + number, "result": results, "was_cancelled": number == 4}
        export.append({"id": number, "data": task["data"], "annotations": [annotation],
                       "predictions": task["predictions"]})
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(export), "utf8")

    out = tmp_path / "v2"
    result = runner.invoke(app, [
        "bootstrap", str(project.lexicons), "--rules", str(project.rules),
        "--corpus", str(project.corpus), "--gold", str(corrected), "--dev", str(exported),
        "--out", str(out), "--max-epochs", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "skipped 1 record(s): 1 Prodigy answer 'reject'" in result.stderr
    assert "skipped 1 record(s): 1 Label Studio task with only cancelled annotations" in result.stderr

    vocab = spacy.blank("en").vocab
    train = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(vocab))
    dev_texts = [task["data"]["text"] for task in export[:3]]
    # the five accepted documents replace their weakly labelled copies; the three dev
    # documents are not trained on at all
    assert len(train) == 80 - 3
    texts = [d.text for d in train]
    in_train = {(d.text, tuple((e.start_char, e.end_char, e.label_) for e in d.ents)) for d in train}
    assert not set(dev_texts) & set(texts)
    assert "are also in --gold/--dev" in result.stderr
    for task in answered:
        # once each: as gold when accepted, weakly labelled when rejected
        assert texts.count(task["text"]) == 1
        entities = tuple((s["start"], s["end"], s["label"]) for s in task["spans"])
        assert (task["text"], entities) in in_train
    first = answered[0]
    assert (first["text"], ((0, first["tokens"][0]["end"], "Drug"),)) in in_train

    dev = list(DocBin().from_disk(out / "corpus" / "dev.spacy").get_docs(vocab))
    assert [d.text for d in dev] == dev_texts
    assert dev[0].ents and dev[0].ents[0].label_ == "Disease"  # the relabelled span
    for doc, task in zip(dev, export):
        expected = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                    for r in task["annotations"][0]["result"]]
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == expected
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["dev"]["source"] == str(exported)


@pytest.mark.slow
def test_annotation_selected_file_is_gold_as_it_is(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "to_annotate.jsonl"
    tasks = select_documents(run, n=5)
    write_tasks(target, tasks)
    gold = read_gold(target)
    assert [g.id for g in gold] == [t.id for t in tasks]
    assert [g.entities for g in gold] == [t.spans for t in tasks]


def test_annotation_read_gold_prodigy_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "Aspirin for gout"
    spans = [{"start": 0, "end": 7, "label": "Drug", "token_start": 0, "token_end": 0}]
    path = write_jsonl(tmp_path / "db-out.jsonl", [
        {"id": "a", "text": text, "spans": spans, "answer": "accept"},
        {"id": "b", "text": text, "spans": spans, "answer": "reject"},
        {"id": "c", "text": text, "spans": spans, "answer": "ignore"},
        {"id": "d", "text": text, "answer": "accept"},  # accepted without any entity
        {"id": "e", "text": text, "spans": spans, "answer": "accept", "_is_binary": True},
        {"id": "f", "text": text, "spans": spans, "answer": "reject"},
    ])
    with caplog.at_level(logging.INFO, logger="hybridner"):
        gold = read_gold(path)
    assert [(g.id, g.entities) for g in gold] == [("a", [(0, 7, "Drug")]), ("d", [])]
    assert "skipped 4 record(s)" in caplog.text
    assert "2 Prodigy answer 'reject'" in caplog.text and "1 Prodigy answer 'ignore'" in caplog.text
    assert "1 binary Prodigy answer" in caplog.text

    write_jsonl(path, [{"text": text, "spans": spans, "answer": "maybe"}])
    with pytest.raises(CorpusError, match=r"db-out.jsonl line 1: Prodigy \"answer\" 'maybe'"):
        read_gold(path)
    write_jsonl(path, [{"text": text, "spans": spans, "answer": "reject"}])
    with pytest.raises(CorpusError, match="no annotated document to use .1 Prodigy answer 'reject'"):
        read_gold(path)


def label_studio_task(number: int, text: str, annotations: list[dict] | None, **data: object) -> dict:
    task: dict = {"id": number, "data": {"text": text, **data},
                  "predictions": [{"result": [labels(0, 4, "Drug", text)]}]}
    if annotations is not None:
        task["annotations"] = annotations
    return task


def labels(start: int, end: int, label: str, text: str, **value: object) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label], **value}}


def test_annotation_read_gold_label_studio_export(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "Aspirin for gout"
    emoji = "🙂 Aspirin for gout"  # Python: Aspirin at 2-9; JavaScript (UTF-16): 3-10
    choice = {"from_name": "kind", "to_name": "text", "type": "choices", "value": {"choices": ["x"]}}
    utf16 = {"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": 3, "end": 10, "text": "Aspirin", "labels": ["Drug"]}}
    export = [
        label_studio_task(1, text, [
            {"result": [labels(0, 7, "Disease", text)], "was_cancelled": True},
            {"result": [labels(12, 16, "Disease", text), labels(0, 7, "Drug", text), choice],
             "was_cancelled": False},
        ], id="doc-1", site="x"),
        label_studio_task(2, text, None),  # imported, never annotated: predictions are no gold
        label_studio_task(3, text, [{"result": [], "was_cancelled": True}]),
        label_studio_task(4, emoji, [{"result": [utf16]}]),
        label_studio_task(5, text, [{"result": []}]),  # annotated: no entity
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), "utf8")
    with caplog.at_level(logging.INFO, logger="hybridner"):
        gold = read_gold(path)
    assert [(g.id, g.text, g.entities) for g in gold] == [
        ("doc-1", text, [(0, 7, "Drug"), (12, 16, "Disease")]),
        ("4", emoji, [(2, 9, "Drug")]),
        ("5", text, []),
    ]
    assert gold[0].meta == {"site": "x"}
    assert "skipped 2 record(s)" in caplog.text
    assert "1 Label Studio task without a human annotation" in caplog.text
    assert "1 Label Studio task with only cancelled annotations" in caplog.text

    # the same tasks as JSON lines
    lines = write_jsonl(tmp_path / "export.jsonl", export)
    assert [g.entities for g in read_gold(lines)] == [g.entities for g in gold]

    # a span whose offsets do not match its text, two labels on one span, nothing annotated
    bad = labels(0, 7, "Drug", text)
    bad["value"]["text"] = "Aspirim"
    cases = [
        ([label_studio_task(1, text, [{"result": [bad]}])], "record 1: Label Studio span .0, 7. reads 'Aspirim'"),
        ([label_studio_task(1, text, [{"result": [labels(0, 7, "Drug", text, labels=["Drug", "Dose"])]}])],
         "exactly one label"),
        ([label_studio_task(1, text, None)], "no annotated document to use .1 Label Studio task without"),
        ({"data": {"text": text}}, "one list of records"),
    ]
    for content, message in cases:
        path.write_text(json.dumps(content), "utf8")
        with pytest.raises(CorpusError, match=message) as info:
            read_gold(path)
        assert str(path) in str(info.value)


# ---------------------------------------------------------------------- bad input


def test_annotation_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(HybridNERError, match="no such run folder") as info:
        select_documents(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)
    with pytest.raises(HybridNERError, match="not a run folder .no weak.jsonl, no model/."):
        select_documents(tmp_path)
    result = runner.invoke(app, ["select", str(tmp_path), "--out", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {tmp_path}: not a run folder")
    assert not (tmp_path / "t.jsonl").exists()


@pytest.mark.slow
def test_annotation_incomplete_run_folder(run: Path, tmp_path: Path) -> None:
    folder = fake_run(tmp_path, run, [weak("a", "Aspirin .", {}, [])], model=False)
    with pytest.raises(HybridNERError, match="model: no trained model"):
        select_documents(folder)
    (folder / "weak.jsonl").unlink()
    shutil.copytree(run / "model", folder / "model")
    with pytest.raises(CorpusError, match="weak.jsonl: missing"):
        select_documents(folder)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "b", "text": "x", spans: {}}', r"weak.jsonl line 2: not valid JSON"),
        (json.dumps({"id": "b", "spans": {}}), r"weak.jsonl line 2: \"text\" missing"),
        (json.dumps({"id": "b", "text": "Aspirin .", "aggregated": [{"start": 0, "end": 7, "label": "Drug"}]}),
         r"weak.jsonl line 2: aggregated span .* needs .*\"confidence\""),
        (json.dumps({"id": "b", "text": "Aspirin .", "spans": {"lex": [[0, 70, "Drug"]]}}),
         r"weak.jsonl line 2 \(lex\): span \(0, 70\) is not inside the text"),
    ],
    ids=["not-json", "no-text", "no-confidence", "span-outside-text"],
)
@pytest.mark.slow
def test_annotation_corrupt_weak_labels_name_the_line(run: Path, tmp_path: Path, line: str, message: str) -> None:
    folder = fake_run(tmp_path, run, [weak("a", "Aspirin .", {}, [])])
    with (folder / "weak.jsonl").open("a", encoding="utf8") as handle:
        handle.write(line + "\n")
    with pytest.raises(CorpusError, match=message):
        select_documents(folder)


@pytest.mark.slow
def test_annotation_bad_arguments(run: Path, tmp_path: Path) -> None:
    with pytest.raises(HybridNERError, match="n=0"):
        select_documents(run, n=0)
    with pytest.raises(HybridNERError, match="pre_annotate='gold'"):
        select_documents(run, pre_annotate="gold")  # type: ignore[arg-type]
    with pytest.raises(HybridNERError, match="format 'doccano'"):
        write_tasks(tmp_path / "t.jsonl", [], format="doccano")  # type: ignore[arg-type]
    result = runner.invoke(app, ["select", str(run), "--n", "0", "--out", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 2


@pytest.mark.slow
def test_annotation_existing_output_needs_overwrite(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "to_annotate.jsonl"
    target.write_text("keep me\n", "utf8")
    result = runner.invoke(app, ["select", str(run), "--n", "3", "--out", str(target)])
    assert result.exit_code == 1
    assert f"error: {target}: already exists; pass --overwrite" in result.stderr
    assert target.read_text("utf8") == "keep me\n"
    with pytest.raises(OutputError, match="already exists"):
        write_tasks(target, select_documents(run, n=1))
    result = runner.invoke(app, ["select", str(run), "--n", "3", "--out", str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(target)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["to_annotate.jsonl"]  # no temporary files


def test_annotation_select_help_mentions_options() -> None:
    result = runner.invoke(app, ["select", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--out", "--n", "--format", "--pre-annotate", "--min-confidence", "--overwrite",
                   "--batch-size", "--verbose", "--quiet"):
        assert option in result.stdout
    assert "label-studio" in result.stdout
