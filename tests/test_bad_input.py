"""Bad input through the command line: a clear message, a non-zero exit, nothing half-written.

Every case fails before training starts (except the --overwrite ones, which need
a complete run to overwrite). Each message must name the file and line, the rule
or the document, and suggest a fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TinyProject
from hybridner import labelling_function
from hybridner.cli import app
from hybridner.errors import RuleError

runner = CliRunner()


def bootstrap(project: TinyProject, *extra: str, out: Path | None = None, **paths: Path):
    """Run ``hybridner bootstrap`` on the project; ``paths`` replace lexicons/corpus/dev/rules."""
    lexicons = paths.get("lexicons", project.lexicons)
    args = [
        "bootstrap", str(lexicons),
        "--corpus", str(paths.get("corpus", project.corpus)),
        "--dev", str(paths.get("dev", project.dev)),
        "--rules", str(paths.get("rules", project.rules)),
        "--out", str(out if out is not None else project.root / "runs" / "r1"),
        "--max-epochs", "1",
        *extra,
    ]
    return runner.invoke(app, args)


def assert_clean_failure(result, project: TinyProject, *fragments: str) -> str:
    """Exit 1 through a HybridNERError (no traceback), the fragments in the message,
    no output folder and no leftover temporary file anywhere in the project."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "error: " in result.stderr
    message = result.stderr[result.stderr.index("error: "):]  # not the log lines before it
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (project.root / "runs" / "r1").exists()
    assert [p for p in project.root.rglob(".*")] == []
    return message


def write_rule(project: TinyProject, body: str, name: str = "bad.py") -> Path:
    path = project.rules / name
    path.write_text(body, "utf8")
    return path


def rewrite_lines(path: Path, line: int, content: str) -> None:
    """Replace line ``line`` (1-based) of a JSONL file."""
    lines = path.read_text("utf8").splitlines()
    lines[line - 1] = content
    path.write_text("\n".join(lines) + "\n", "utf8")


# ------------------------------------------------------------------- lexicons


def test_bad_input_missing_lexicon_folder(tiny_project: TinyProject) -> None:
    missing = tiny_project.root / "no-such-lexicons"
    result = bootstrap(tiny_project, lexicons=missing)
    assert_clean_failure(result, tiny_project, str(missing), "no such lexicon folder", "pass a folder")


def test_bad_input_empty_lexicon_folder(tiny_project: TinyProject) -> None:
    empty = tiny_project.root / "empty"
    empty.mkdir()
    result = bootstrap(tiny_project, lexicons=empty)
    assert_clean_failure(result, tiny_project, str(empty), "no lexicon in this folder", "<LABEL>.txt")


def test_bad_input_lexicon_not_utf8(tiny_project: TinyProject) -> None:
    bad = tiny_project.lexicons / "Food.txt"
    bad.write_bytes(b"bread\ncaf\xe9\n")
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, f"{bad} line 2", "UTF-8", "re-encode")


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("B-Drug.txt", "tagging prefix"),
        ("Drug Name.txt", "whitespace"),
        ("O.txt", "reserved"),
    ],
)
def test_bad_input_lexicon_label_spacy_cannot_use(
    tiny_project: TinyProject, filename: str, problem: str
) -> None:
    bad = tiny_project.lexicons / filename
    bad.write_text("aspirin\n", "utf8")
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, str(bad), repr(bad.stem), problem, "rename the file")


# ---------------------------------------------------------------------- rules


def test_bad_input_rule_syntax_error(tiny_project: TinyProject) -> None:
    bad = write_rule(tiny_project, "from hybridner import labelling_function\n\ndef broken(doc:\n    pass\n")
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, f"{bad} line 3", "syntax error")


def test_bad_input_rule_import_fails(tiny_project: TinyProject) -> None:
    bad = write_rule(tiny_project, "import os\nimport not_a_module_xyz\n")
    result = bootstrap(tiny_project)
    assert_clean_failure(
        result, tiny_project, f"{bad} line 2", "not_a_module_xyz", "install what it imports"
    )


RAISES = '''
from hybridner import labelling_function

@labelling_function(label="Drug")
def fragile(doc):
    if "warfarin" in doc.text:
        raise KeyError("no dose")
    return []
'''

OUT_OF_RANGE = '''
from hybridner import labelling_function

@labelling_function(label="Drug")
def too_far(doc):
    yield len(doc) - 1, len(doc) + 3
'''

REVERSED = '''
from hybridner import labelling_function

@labelling_function(label="Drug")
def backwards(doc):
    yield 3, 1
'''


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (RAISES, ["'fragile'", "KeyError", "'no dose'", "document 'doc-", "fix the function"]),
        (OUT_OF_RANGE, ["'too_far'", "document 'doc-0'", "outside the document", "token indices"]),
        (REVERSED, ["'backwards'", "document 'doc-0'", "(3, 1)", "end must be greater than start"]),
    ],
    ids=["raises", "out-of-range", "reversed"],
)
def test_bad_input_rule_misbehaves_on_a_document(
    tiny_project: TinyProject, body: str, fragments: list[str]
) -> None:
    write_rule(tiny_project, body)
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, *fragments)


def test_bad_input_decorator_without_parentheses_fails_at_definition() -> None:
    with pytest.raises(RuleError, match=r"without parentheses on 'drugs'.*@labelling_function\(label="):

        @labelling_function
        def drugs(doc):  # pragma: no cover - never called
            return []


def test_bad_input_decorator_without_parentheses_in_rule_file(tiny_project: TinyProject) -> None:
    write_rule(
        tiny_project,
        "from hybridner import labelling_function\n\n@labelling_function\ndef drugs(doc):\n    return []\n",
    )
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, "without parentheses", "'drugs'", "@labelling_function(label=")


RULE_FILE_DEFINITION_ERRORS = {
    "decorator-without-parentheses": (
        "from hybridner import labelling_function\n\n@labelling_function\ndef drugs(doc):\n    return []\n",
        3,
    ),
    "regex-rule-bad-label": (
        "from hybridner import regex_rule\n\ndose = regex_rule('dose', r'\\d+ mg', 'B-Dose')\n",
        3,
    ),
}


@pytest.mark.parametrize("case", sorted(RULE_FILE_DEFINITION_ERRORS))
def test_bad_input_rule_definition_error_names_file_and_line(tiny_project: TinyProject, case: str) -> None:
    body, line = RULE_FILE_DEFINITION_ERRORS[case]
    bad = write_rule(tiny_project, body)
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, f"{bad} line {line}")


def test_bad_input_same_function_name_in_two_rule_files(tiny_project: TinyProject) -> None:
    body = (
        "from hybridner import labelling_function\n\n"
        "@labelling_function(label='Drug')\ndef drug_suffix(doc):\n    return []\n"
    )
    first = write_rule(tiny_project, body, "a_rules.py")
    second = write_rule(tiny_project, body, "b_rules.py")
    result = bootstrap(tiny_project)
    assert_clean_failure(result, tiny_project, "'drug_suffix'", str(first), str(second), "rename")


# ---------------------------------------------------------------------- corpus and gold


def corpus_not_json(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    rewrite_lines(project.corpus, 3, '{"id": "doc-2", text: "aspirin"}')
    return {}, [f"{project.corpus} line 3", "not valid JSON", "column 17", "one JSON object"]


def corpus_without_text(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    rewrite_lines(project.corpus, 5, json.dumps({"id": "doc-4", "body": "aspirin"}))
    return {}, [f"{project.corpus} line 5", 'no "text" field', "'body'", '{"text": "..."}']


def corpus_empty(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    empty = project.root / "empty.jsonl"
    empty.write_text("\n\n", "utf8")
    return {"corpus": empty}, [str(empty), "no documents"]


def corpus_empty_suggests_fix(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    paths, fragments = corpus_empty(project)
    return paths, [*fragments, "add"]


def gold_out_of_range(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    text = "Aspirin for gout ."
    rewrite_lines(project.dev, 4, json.dumps({"id": "dev-3", "text": text, "entities": [[12, 40, "Disease"]]}))
    return {}, [f"{project.dev} line 4", "(12, 40, 'Disease')", "outside the text of 18 characters",
                "end exclusive"]


def gold_overlapping(project: TinyProject) -> tuple[dict[str, Path], list[str]]:
    text = "Type 2 diabetes treated with metformin ."
    entities = [[0, 15, "Disease"], [5, 15, "Disease"], [29, 38, "Drug"]]
    rewrite_lines(project.dev, 2, json.dumps({"id": "dev-1", "text": text, "entities": entities}))
    return {}, [f"{project.dev} line 2", "'Type 2 diabetes'", "'2 diabetes'", "overlap", "must not overlap"]


@pytest.mark.parametrize(
    "case",
    [
        corpus_not_json,
        corpus_without_text,
        corpus_empty,
        corpus_empty_suggests_fix,
        gold_out_of_range,
        gold_overlapping,
    ],
    ids=lambda case: case.__name__.replace("_", "-"),
)
def test_bad_input_corpus_and_gold(
    tiny_project: TinyProject, case: Callable[[TinyProject], tuple[dict[str, Path], list[str]]]
) -> None:
    paths, fragments = case(tiny_project)
    result = bootstrap(tiny_project, **paths)
    assert_clean_failure(result, tiny_project, *fragments)


# ---------------------------------------------------------------------- other commands


def test_bad_input_label_writes_nothing_when_a_rule_fails(tiny_project: TinyProject) -> None:
    write_rule(tiny_project, RAISES)
    target = tiny_project.root / "weak.jsonl"
    result = runner.invoke(
        app, ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus), "--out", str(target)]
    )
    assert_clean_failure(result, tiny_project, "'fragile'", "document 'doc-")
    assert not target.exists()


@pytest.mark.parametrize("command", ["evaluate", "annotate"])
def test_bad_input_model_folder_missing(tiny_project: TinyProject, command: str) -> None:
    missing = tiny_project.root / "runs" / "nothing" / "model"
    data = tiny_project.dev if command == "evaluate" else tiny_project.corpus
    result = runner.invoke(app, [command, str(missing), str(data)])
    assert_clean_failure(result, tiny_project, str(missing), "not a spaCy model folder", "RUN_DIR/model")


def test_bad_input_annotate_writes_nothing_on_a_bad_line(tiny_project: TinyProject) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("ner").add_label("Drug")
    nlp.initialize()
    model = tiny_project.root / "model"
    nlp.to_disk(model)
    rewrite_lines(tiny_project.corpus, 40, json.dumps({"id": "doc-39", "txt": "aspirin"}))
    target = tiny_project.root / "annotated.jsonl"
    result = runner.invoke(app, ["annotate", str(model), str(tiny_project.corpus), "--out", str(target)])
    assert_clean_failure(result, tiny_project, f"{tiny_project.corpus} line 40", 'no "text" field')
    assert not target.exists()


# ---------------------------------------------------------------------- output folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bad_input_output_folder_exists(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "runs" / "previous"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("precious", "utf8")
    before = snapshot(out)
    result = bootstrap(tiny_project, out=out)
    assert_clean_failure(result, tiny_project, str(out), "already exists", "--overwrite", "another --out")
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["previous"]


@pytest.mark.slow
def test_bad_input_overwrite_replaces_or_keeps_previous_run(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "runs" / "run"
    first = bootstrap(tiny_project, out=out)
    assert first.exit_code == 0, first.output
    (out / "marker.txt").write_text("from the first run", "utf8")
    before = snapshot(out)

    # a failing run with --overwrite leaves the previous run as it was
    write_rule(tiny_project, RAISES)
    failed = bootstrap(tiny_project, "--overwrite", out=out)
    assert failed.exit_code == 1 and isinstance(failed.exception, SystemExit)
    assert "'fragile'" in failed.stderr
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]

    # a successful run with --overwrite replaces it completely
    (tiny_project.rules / "bad.py").unlink()
    second = bootstrap(tiny_project, "--overwrite", "--aggregator", "majority", out=out)
    assert second.exit_code == 0, second.output
    assert not (out / "marker.txt").exists()
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["settings"]["aggregator"] == "majority"
    assert (out / "model" / "config.cfg").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]
    assert [p for p in tiny_project.root.rglob(".*")] == []
