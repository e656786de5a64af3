"""Tests of the ``hybridner`` command line (through Typer's CliRunner) and the public facade.

The training runs are shared: one module-scoped run of ``bootstrap`` on a tiny
project serves the tests of its outputs, ``evaluate``, ``annotate`` and the Python
inference API.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

import hybridner
from hybridner.cli import app

# conftest.py is importable from the tests folder (pytest puts it on sys.path);
# its tiny_project fixture is function-scoped, so the shared runs below build the
# same project with the same helpers.
from conftest import DISEASES_NOT_IN_LEXICON, DRUGS_NOT_IN_LEXICON, TinyProject, make_tiny_project

runner = CliRunner()

SCORE_LINES = ("lexicon match only", "aggregated labels", "trained model")


def build_project(root: Path) -> TinyProject:
    return make_tiny_project(root)


def bootstrap_args(project: TinyProject, out: Path, *extra: str) -> list[str]:
    return [
        "bootstrap", str(project.lexicons),
        "--corpus", str(project.corpus), "--dev", str(project.dev),
        "--rules", str(project.rules), "--out", str(out), "--max-epochs", "2", *extra,
    ]


def hidden_entries(folder: Path) -> list[Path]:
    """Names starting with '.' under ``folder``: leftover temporary files or folders."""
    return [p for p in folder.rglob(".*")]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    return build_project(tmp_path_factory.mktemp("cli-project"))


@pytest.fixture(scope="module")
def trained(project: TinyProject) -> tuple[Path, object]:
    """One complete bootstrap run (HMM, 2 epochs) shared by the tests below."""
    out = project.root / "runs" / "hmm"
    result = runner.invoke(app, bootstrap_args(project, out))
    return out, result


# ---------------------------------------------------------------------- bootstrap


@pytest.mark.slow
def test_cli_bootstrap_exit_and_output(trained: tuple[Path, object]) -> None:
    out, result = trained
    assert result.exit_code == 0, result.output
    assert f"model written to {out / 'model'}" in result.stdout
    for line in SCORE_LINES:
        assert line in result.stdout
    assert f"report: {out / 'report.html'}" in result.stdout
    assert "error" not in result.stderr


@pytest.mark.slow
def test_cli_bootstrap_writes_model_and_config(trained: tuple[Path, object]) -> None:
    out, result = trained
    assert result.exit_code == 0, result.output
    assert (out / "model" / "config.cfg").is_file()
    nlp = spacy.load(out / "model")
    assert "ner" in nlp.pipe_names
    assert set(nlp.get_pipe("ner").labels) >= {"Drug", "Disease"}
    assert (out / "config.cfg").is_file()
    assert (out / "aggregator.json").is_file()
    assert (out / "corpus" / "train.spacy").is_file()


@pytest.mark.slow
def test_cli_bootstrap_writes_weak_labels(trained: tuple[Path, object], project: TinyProject) -> None:
    out, _ = trained
    records = read_jsonl(out / "weak.jsonl")
    corpus = read_jsonl(project.corpus)
    assert [r["id"] for r in records] == [c["id"] for c in corpus]
    names = set(records[0]["spans"])
    assert {"disease_suffix", "dose_mg"} <= names
    assert any(name.startswith("lexicon:") for name in names)
    n_aggregated = 0
    for record, source in zip(records, corpus):
        assert record["text"] == source["text"]
        assert set(record["spans"]) == names
        for start, end, label in (s for spans in record["spans"].values() for s in spans):
            assert 0 <= start < end <= len(record["text"]) and label
        for entry in record["aggregated"]:
            n_aggregated += 1
            assert {"start", "end", "label", "confidence", "voters"} <= set(entry)
            assert 0.0 <= entry["confidence"] <= 1.0
            assert entry["voters"] and set(entry["voters"]) <= names
    assert n_aggregated > 0


@pytest.mark.slow
def test_cli_bootstrap_writes_reports(trained: tuple[Path, object]) -> None:
    out, _ = trained
    report = json.loads((out / "report.json").read_text("utf8"))
    for key in ("model", "aggregated", "lexicon_only"):
        scores = report["dev"][key]
        for metric in ("precision", "recall", "f1"):
            assert 0.0 <= scores[metric] <= 1.0
    assert report["corpus"]["documents"] == 80
    assert report["labels"] == ["Disease", "Dose", "Drug"]
    assert "disease_suffix" in report["functions"]
    markdown = (out / "report.md").read_text("utf8")
    assert markdown.startswith("# hybridner run report")
    assert "trained model" in markdown and "`disease_suffix`" in markdown


@pytest.mark.slow
def test_cli_bootstrap_leaves_no_temporary_files(trained: tuple[Path, object]) -> None:
    out, _ = trained
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert hidden_entries(out.parent) == []


@pytest.mark.slow
def test_cli_bootstrap_majority_aggregator(project: TinyProject) -> None:
    out = project.root / "runs" / "majority"
    result = runner.invoke(app, bootstrap_args(project, out, "--aggregator", "majority"))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["aggregated"]["aggregator"] == "majority"
    assert report["settings"]["aggregator"] == "majority"
    assert (out / "model" / "config.cfg").is_file()
    assert hidden_entries(out.parent) == []


@pytest.mark.slow
def test_cli_bootstrap_candidates_are_missing_in_training(project: TinyProject) -> None:
    candidates = project.root / "candidates.txt"
    candidates.write_text("\n".join(DRUGS_NOT_IN_LEXICON + DISEASES_NOT_IN_LEXICON) + "\n", "utf8")
    out = project.root / "runs" / "candidates"
    result = runner.invoke(
        app, bootstrap_args(project, out, "--candidates", str(candidates), "--aggregator", "majority")
    )
    assert result.exit_code == 0, result.output
    weak = read_jsonl(out / "weak.jsonl")
    assert any(record["candidates"] for record in weak)
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(nlp.vocab))
    candidate_tokens = [t for d in docs for t in d if t.lower_ == "naproxen"]
    assert candidate_tokens, "the corpus should mention naproxen"
    # naproxen is in no lexicon and no rule: only the candidates cover it -> missing
    assert all(t.ent_iob == 0 for t in candidate_tokens)
    assert any(t.ent_iob == 2 for d in docs for t in d)  # the rest is still "outside"
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["aggregated"]["missing_tokens"] >= len(candidate_tokens)


@pytest.mark.slow
def test_cli_bootstrap_cache_dir_and_no_cache(project: TinyProject, tmp_path: Path) -> None:
    cache = tmp_path / "stage-cache"
    out = project.root / "runs" / "cached"
    args = bootstrap_args(project, out, "--max-epochs", "1", "--cache-dir", str(cache), "--n-process", "2")
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert len(list((cache / "training").iterdir())) == 1
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["stage_cache"]["folder"] == str(cache)
    assert report["stage_cache"]["models_reused"] == [True] and not report["stage_cache"]["functions_run"]
    assert "reusing the trained model from the stage cache" in again.stderr

    entries = sorted(p.name for p in cache.rglob("*"))
    plain = project.root / "runs" / "uncached"
    result = runner.invoke(app, bootstrap_args(project, plain, "--max-epochs", "1", "--no-cache"))
    assert result.exit_code == 0, result.output
    report = json.loads((plain / "report.json").read_text("utf8"))
    assert report["stage_cache"]["folder"] is None and report["stage_cache"]["models_reused"] == [False]
    assert sorted(p.name for p in cache.rglob("*")) == entries
    assert (plain / "weak.jsonl").read_bytes() == (out / "weak.jsonl").read_bytes()
    assert hidden_entries(out.parent) == []


# ---------------------------------------------------------------------- evaluate


@pytest.mark.slow
def test_cli_evaluate_json(trained: tuple[Path, object], project: TinyProject) -> None:
    out, _ = trained
    result = runner.invoke(app, ["evaluate", str(out / "model"), str(project.dev), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert {"precision", "recall", "f1", "per_label"} <= set(scores)
    for metric in ("precision", "recall", "f1"):
        assert 0.0 <= scores[metric] <= 1.0
    assert set(scores["per_label"]) <= {"Drug", "Disease", "Dose"}
    assert {"Drug", "Disease"} <= set(scores["per_label"])
    for label_scores in scores["per_label"].values():
        assert {"precision", "recall", "f1", "support"} <= set(label_scores)
        for metric in ("precision", "recall", "f1"):
            assert 0.0 <= label_scores[metric] <= 1.0
        assert label_scores["support"] >= 0
    # the same scores as the dev evaluation of the run
    report = json.loads((out / "report.json").read_text("utf8"))
    assert scores["f1"] == pytest.approx(report["dev"]["model"]["f1"])


@pytest.mark.slow
def test_cli_evaluate_table(trained: tuple[Path, object], project: TinyProject) -> None:
    out, _ = trained
    result = runner.invoke(app, ["evaluate", str(out / "model"), str(project.dev)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["label", "P", "R", "F1", "support"]
    assert any(line.startswith("Drug ") for line in lines)
    assert any(line.startswith("Disease ") for line in lines)
    assert lines[-1].startswith("overall (micro)")


# ---------------------------------------------------------------------- annotate


def check_entities(record: dict) -> None:
    assert isinstance(record["entities"], list)
    for entity in record["entities"]:
        assert set(entity) == {"start", "end", "label", "text"}
        assert 0 <= entity["start"] < entity["end"] <= len(record["text"])
        assert entity["text"] == record["text"][entity["start"]:entity["end"]]
        assert entity["label"] in {"Drug", "Disease", "Dose"}


@pytest.mark.slow
def test_cli_annotate_jsonl_to_file(trained: tuple[Path, object], project: TinyProject) -> None:
    out, _ = trained
    target = project.root / "annotated.jsonl"
    result = runner.invoke(app, ["annotate", str(out / "model"), str(project.corpus), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert f"annotated 80 documents into {target}" in result.stderr
    records = read_jsonl(target)
    sources = read_jsonl(project.corpus)
    assert len(records) == len(sources)
    for record, source in zip(records, sources):
        assert record["id"] == source["id"]
        assert record["text"] == source["text"]
        assert record["source"] == "test"  # extra fields are carried through
        check_entities(record)
    assert any(record["entities"] for record in records)
    assert hidden_entries(project.root) == []


@pytest.mark.slow
def test_cli_annotate_worker_processes_same_output(trained: tuple[Path, object], project: TinyProject) -> None:
    out, _ = trained
    targets = []
    for n_process, batch_size in (("1", "256"), ("2", "7")):
        target = project.root / f"annotated-{n_process}.jsonl"
        result = runner.invoke(app, [
            "annotate", str(out / "model"), str(project.corpus), "--out", str(target),
            "--n-process", n_process, "--batch-size", batch_size,
        ])
        assert result.exit_code == 0, result.output
        targets.append(target.read_bytes())
    assert targets[0] == targets[1]


@pytest.mark.slow
def test_cli_annotate_txt_to_stdout(trained: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = trained
    texts = ["The patient was started on aspirin for asthma .", "", "No change to warfarin ."]
    source = tmp_path / "notes.txt"
    source.write_text("\n".join(texts) + "\n", "utf8")
    result = runner.invoke(app, ["annotate", str(out / "model"), str(source)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == [t for t in texts if t]
    assert [r["id"] for r in records] == ["notes.txt:1", "notes.txt:3"]
    for record in records:
        check_entities(record)
    assert list(tmp_path.iterdir()) == [source]  # nothing written without --out


# ---------------------------------------------------------------------- label


def test_cli_label_writes_weak_labels_without_training(tiny_project: TinyProject) -> None:
    target = tiny_project.root / "weak.jsonl"
    result = runner.invoke(
        app,
        ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
         "--rules", str(tiny_project.rules), "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote weak labels of 80 documents to {target}" in result.stdout
    records = read_jsonl(target)
    assert len(records) == 80
    assert all({"id", "text", "spans", "aggregated"} <= set(r) for r in records)
    assert any(r["aggregated"] for r in records)
    assert not list(tiny_project.root.glob("runs")) and not (tiny_project.root / "model").exists()
    assert hidden_entries(tiny_project.root) == []


def test_cli_label_map_renames_and_drops_lexicons(tiny_project: TinyProject) -> None:
    target = tiny_project.root / "weak.jsonl"
    result = runner.invoke(
        app,
        ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
         "--map", "Drug=Medication", "--map", "Disease=", "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    records = read_jsonl(target)
    names = set(records[0]["spans"])
    assert "lexicon:Medication:uncased" in names and not any("Disease" in n for n in names)
    labels = {span[2] for r in records for span in r["spans"]["lexicon:Medication:uncased"]}
    assert labels == {"Medication"}


def test_cli_label_map_bad_syntax_is_a_usage_error(tiny_project: TinyProject) -> None:
    result = runner.invoke(
        app,
        ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
         "--map", "Drug", "--out", str(tiny_project.root / "w.jsonl")],
    )
    assert result.exit_code == 2
    assert "OLD=NEW" in result.output
    assert not (tiny_project.root / "w.jsonl").exists()


# ---------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("bootstrap", ["--rules", "--candidates", "--corpus", "--dev", "--gold", "--out", "--lang",
                       "--aggregator", "--seed", "--max-epochs", "--min-confidence", "--overwrite",
                       "--tokenizer", "--map", "--doc-level", "--augment", "--self-training",
                       "--n-process", "--cache-dir", "--no-cache"]),
        ("label", ["--corpus", "--out", "--rules", "--candidates", "--aggregator", "--seed"]),
        ("evaluate", ["--json"]),
        ("annotate", ["--out", "--batch-size"]),
    ],
)
def test_cli_help_mentions_options(command: str, options: list[str]) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in options + ["--verbose", "--quiet"]:
        assert option in result.stdout, f"{command} --help does not mention {option}"


def test_cli_no_arguments_shows_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("bootstrap", "label", "evaluate", "annotate"):
        assert command in result.stdout


# ---------------------------------------------------------------------- Python API


@pytest.mark.slow
def test_cli_python_api_annotate_is_lazy(trained: tuple[Path, object]) -> None:
    out, _ = trained
    consumed: list[str] = []

    def texts() -> Iterator[str]:
        for text in ["Metformin was stopped .", "His gout improved after two weeks of aspirin ."]:
            consumed.append(text)
            yield text

    ner = hybridner.load(out / "model")
    records = ner.annotate(texts())
    assert consumed == []  # nothing happens before the first record is asked for
    assert iter(records) is records
    first = next(records)
    assert first["text"] == "Metformin was stopped ."
    check_entities(first)
    rest = list(records)
    assert len(rest) == 1 and len(consumed) == 2
    check_entities(rest[0])


def test_cli_facade_all_is_importable() -> None:
    assert len(hybridner.__all__) == len(set(hybridner.__all__))
    for name in hybridner.__all__:
        assert hasattr(hybridner, name), f"hybridner.__all__ names {name!r} but it is missing"
    for name in ("labelling_function", "regex_rule", "load", "bootstrap", "weak_label"):
        assert name in hybridner.__all__
    assert isinstance(hybridner.__version__, str)
    # `from hybridner import *` gives exactly the facade
    namespace: dict = {}
    exec("from hybridner import *", namespace)
    assert set(hybridner.__all__) <= set(namespace)
    assert importlib.import_module("hybridner.__main__")
