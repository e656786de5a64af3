"""The bad-input matrix: one table of cases, each run through the command line.

A case that must fail exits non-zero through a clear message (no traceback)
that names the place (file and line, rule and document, or option) and the fix,
and leaves nothing half-written: its outputs are absent, or hold their previous
content, and no temporary file is left. A case that must work (a BOM, CRLF line
ends, emoji...) succeeds and is checked on its output. The cases use the fast
commands (``label``, ``evaluate``, ``annotate``) that share the readers with
``bootstrap``; ``bootstrap`` itself only where it fails before any work.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import TinyProject, make_ruler_model
from hybridner.cli import app

runner = CliRunner()


@dataclass
class Case:
    argv: list[str]
    fragments: tuple[str, ...] = ()  # in the error message (a failing case)
    ok: bool = False  # the case must work
    exit_code: int = 1  # 1: a hybridner error; 2: a bad command-line value (Typer)
    outputs: tuple[Path, ...] = ()  # must not exist after a failure
    previous: dict[Path, bytes] = field(default_factory=dict)  # must keep this content
    check: Callable[[Any], None] | None = None  # more checks on a success


CASES: list[Callable[[TinyProject], Case]] = []


def case(make: Callable[[TinyProject], Case]) -> Callable[[TinyProject], Case]:
    CASES.append(make)
    return make


def weak_out(p: TinyProject) -> Path:
    return p.root / "weak.jsonl"


def label(p: TinyProject, *extra: str, lexicons: Path | None = None, corpus: Path | None = None,
          rules: Path | None = None, out: Path | None = None) -> list[str]:
    return [
        "label", str(lexicons or p.lexicons), "--corpus", str(corpus or p.corpus),
        "--rules", str(rules or p.rules), "--out", str(out or weak_out(p)), *extra,
    ]


def read_weak(p: TinyProject) -> list[dict[str, Any]]:
    return [json.loads(line) for line in weak_out(p).read_text("utf8").splitlines()]


def lines_file(p: TinyProject, name: str, lines: list[str]) -> Path:
    path = p.root / name
    path.write_text("\n".join(lines) + "\n", "utf8")
    return path


def records_file(p: TinyProject, name: str, records: list[Any]) -> Path:
    return lines_file(p, name, [json.dumps(r, ensure_ascii=False) for r in records])


def rule_file(p: TinyProject, body: str) -> Path:
    path = p.rules / "extra.py"
    path.write_text("from hybridner import labelling_function\n\n" + body, "utf8")
    return path


def model(p: TinyProject) -> Path:
    return make_ruler_model(p.root / "model")


def spans_of(p: TinyProject, name: str) -> list[list[Any]]:
    return [r["spans"][name] for r in read_weak(p)]


def texts_of_spans(p: TinyProject, name: str) -> set[str]:
    return {r["text"][s:e] for r in read_weak(p) for s, e, _ in r["spans"].get(name, [])}


# ------------------------------------------------------------------- lexicons


@case
def lexicon_latin1(p: TinyProject) -> Case:
    bad = p.lexicons / "Food.txt"
    bad.write_bytes("bread\ncafé\n".encode("latin-1"))
    return Case(label(p), (f"{bad} line 2", "not valid UTF-8", "re-encode"), outputs=(weak_out(p),))


@case
def lexicon_utf16_bom(p: TinyProject) -> Case:
    bad = p.lexicons / "Food.txt"
    bad.write_bytes("bread\ncake\n".encode("utf-16"))
    return Case(label(p), (f"{bad} line 1", "not valid UTF-8", "re-encode"), outputs=(weak_out(p),))


@case
def lexicon_utf8_bom_works(p: TinyProject) -> Case:
    (p.lexicons / "Drug.txt").write_bytes(codecs.BOM_UTF8 + b"aspirin\nwarfarin\n")

    def check(result: Any) -> None:
        assert texts_of_spans(p, "lexicon:Drug:cased") == {"aspirin", "warfarin"}

    return Case(label(p), ok=True, check=check)


@case
def lexicon_crlf_works(p: TinyProject) -> Case:
    (p.lexicons / "Drug.txt").write_bytes(b"# drugs\r\naspirin\r\nwarfarin\r\n\r\n")

    def check(result: Any) -> None:
        assert texts_of_spans(p, "lexicon:Drug:cased") == {"aspirin", "warfarin"}

    return Case(label(p), ok=True, check=check)


@case
def lexicon_jsonl_empty_term(p: TinyProject) -> Case:
    bad = lines_file(p, "lexicons/more.jsonl", ['{"term": "naproxen", "label": "Drug"}', '{"term": " ", "label": "Drug"}'])
    return Case(label(p), (f"{bad} line 2", "empty term", "remove the line"), outputs=(weak_out(p),))


@case
def lexicon_txt_invisible_term(p: TinyProject) -> Case:
    bad = p.lexicons / "Drug.txt"
    bad.write_text("aspirin\n\u200b\u200b\n", "utf8")
    return Case(label(p), (f"{bad} line 2", "empty term after normalisation", "remove the line"),
                outputs=(weak_out(p),))


@case
def lexicon_punctuation_only_term_skipped(p: TinyProject) -> Case:
    (p.lexicons / "Drug.txt").write_text("aspirin\n---\nwarfarin\n", "utf8")

    def check(result: Any) -> None:
        assert "skipped 1 term(s) made only of punctuation" in result.stderr
        assert "line 2: '---'" in result.stderr
        assert texts_of_spans(p, "lexicon:Drug:cased") == {"aspirin", "warfarin"}

    return Case(label(p), ok=True, check=check)


@case
def lexicon_huge_works(p: TinyProject) -> Case:
    terms = [f"drug{i:06d}x" for i in range(200_000)] + ["aspirin"]
    (p.lexicons / "Drug.txt").write_text("\n".join(terms) + "\n", "utf8")

    def check(result: Any) -> None:
        assert "Drug (200001 terms)" in result.stderr
        assert texts_of_spans(p, "lexicon:Drug:cased") == {"aspirin"}

    return Case(label(p), ok=True, check=check)


@case
def lexicon_same_label_in_txt_and_jsonl_merged(p: TinyProject) -> Case:
    lines_file(p, "lexicons/more.jsonl", ['{"term": "naproxen", "label": "Drug"}', '{"term": "aspirin", "label": "Drug"}'])

    def check(result: Any) -> None:
        assert "Drug (6 terms)" in result.stderr  # five from Drug.txt, naproxen added, aspirin once
        names = set(read_weak(p)[0]["spans"])
        assert {n for n in names if n.startswith("lexicon:")} == {
            "lexicon:Drug:cased", "lexicon:Drug:uncased", "lexicon:Disease:cased", "lexicon:Disease:uncased"
        }
        assert "naproxen" in texts_of_spans(p, "lexicon:Drug:cased")

    return Case(label(p), ok=True, check=check)


@case
def lexicon_jsonl_label_spacy_rejects(p: TinyProject) -> Case:
    bad = lines_file(p, "lexicons/more.jsonl", ['{"term": "naproxen", "label": "B-Drug"}'])
    return Case(label(p), (f"{bad} line 1", "'B-Drug'", "tagging prefix", "fix the 'label' value"),
                outputs=(weak_out(p),))


@case
def lexicon_txt_label_with_space(p: TinyProject) -> Case:
    bad = p.lexicons / "Drug Name.txt"
    bad.write_text("naproxen\n", "utf8")
    return Case(label(p), (str(bad), "whitespace", "rename the file"), outputs=(weak_out(p),))


@case
def lexicon_jsonl_not_json(p: TinyProject) -> Case:
    bad = lines_file(p, "lexicons/more.jsonl", ['{"term": "naproxen", "label": "Drug"}', "{term: naproxen}"])
    return Case(label(p), (f"{bad} line 2", "invalid JSON", '{"term"'), outputs=(weak_out(p),))


# ---------------------------------------------------------------------- rules


@case
def rule_import_error(p: TinyProject) -> Case:
    bad = rule_file(p, "import not_a_module_xyz\n")
    return Case(label(p), (f"{bad} line 3", "not_a_module_xyz", "install what it imports"), outputs=(weak_out(p),))


@case
def rule_raises(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef fragile(doc):\n    return {}['x']\n")
    return Case(label(p), ("'fragile'", "KeyError", "document 'doc-", "fix the function"), outputs=(weak_out(p),))


@case
def rule_yields_wrong_type(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef words(doc):\n    yield doc[0].text\n")
    return Case(label(p), ("'words'", "document 'doc-0'", "yielded 'She' (str)", "yield a spaCy Span"),
                outputs=(weak_out(p),))


@case
def rule_yields_float_offsets(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef halves(doc):\n    yield 0.5, 2\n")
    return Case(label(p), ("'halves'", "document 'doc-0'", "(0.5, 2)", "must be integers"), outputs=(weak_out(p),))


@case
def rule_misaligned_char_offsets(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef chars(doc):\n    yield doc.char_span(1, 4)\n")
    return Case(label(p), ("'chars'", "document 'doc-0'", "yielded None", "token boundaries",
                           "alignment_mode='expand'"), outputs=(weak_out(p),))


@case
def rule_overlapping_spans_longest_kept(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef overlapping(doc):\n"
                 "    yield 1, 2\n    yield 0, 2\n    yield 1, 3\n")

    def check(result: Any) -> None:
        for record, spans in zip(read_weak(p), spans_of(p, "overlapping")):
            first_two = record["text"].split()[:2]
            assert spans == [[0, len(" ".join(first_two)), "Drug"]]

    return Case(label(p), ok=True, check=check)


@case
def rule_endless_generator(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function(label='Drug')\ndef endless(doc):\n    while True:\n        yield 0, 1\n")
    return Case(label(p), ("'endless'", "document 'doc-0'", "yielded more than", "endless loop"),
                outputs=(weak_out(p),))


@case
def rule_without_label(p: TinyProject) -> Case:
    rule_file(p, "@labelling_function()\ndef unlabelled(doc):\n    yield 0, 1\n")
    return Case(label(p), ("'unlabelled'", "document 'doc-0'", "without a label", "pass label="),
                outputs=(weak_out(p),))


@case
def rule_file_not_python(p: TinyProject) -> Case:
    bad = lines_file(p, "rules.txt", ["aspirin"])
    return Case(label(p, rules=bad), (str(bad), "must be Python files ending in .py"), outputs=(weak_out(p),))


# ---------------------------------------------------------------------- corpora


def good_records(n: int = 6) -> list[dict[str, str]]:
    return [{"id": f"c{i}", "text": f"Patient {i} took aspirin for gout ."} for i in range(n)]


@case
def corpus_not_json(p: TinyProject) -> Case:
    bad = lines_file(p, "c.jsonl", [json.dumps(r) for r in good_records()] + ['{"id": "x", "text": "a",}'])
    return Case(label(p, corpus=bad), (f"{bad} line 7", "not valid JSON", "column", "one JSON object"),
                outputs=(weak_out(p),))


@case
def corpus_not_an_object(p: TinyProject) -> Case:
    bad = records_file(p, "c.jsonl", [*good_records(), ["aspirin"]])
    return Case(label(p, corpus=bad), (f"{bad} line 7", "expected a JSON object, got list", '{"text"'),
                outputs=(weak_out(p),))


@case
def corpus_missing_text(p: TinyProject) -> Case:
    bad = records_file(p, "c.jsonl", [*good_records(2), {"id": "x", "body": "aspirin"}])
    return Case(label(p, corpus=bad), (f"{bad} line 3", 'no "text" field', "'body'", '{"text": "..."}'),
                outputs=(weak_out(p),))


@case
def corpus_text_not_a_string(p: TinyProject) -> Case:
    bad = records_file(p, "c.jsonl", [*good_records(2), {"id": "x", "text": 42}])
    return Case(label(p, corpus=bad), (f"{bad} line 3", '"text" must be a string', "got int 42", "JSON string"),
                outputs=(weak_out(p),))


@case
def corpus_latin1_line(p: TinyProject) -> Case:
    bad = p.root / "c.jsonl"
    bad.write_bytes(json.dumps(good_records(1)[0]).encode() + b'\n{"text": "caf\xe9"}\n')
    return Case(label(p, corpus=bad), (f"{bad} line 2", "not valid UTF-8", "bytes e9", "re-encode"),
                outputs=(weak_out(p),))


@case
def corpus_utf16(p: TinyProject) -> Case:
    bad = p.root / "c.jsonl"
    bad.write_bytes("\n".join(json.dumps(r) for r in good_records()).encode("utf-16"))
    return Case(label(p, corpus=bad), (f"{bad} line 1", "UTF-16", "re-encode the file as UTF-8"),
                outputs=(weak_out(p),))


@case
def corpus_unknown_format(p: TinyProject) -> Case:
    bad = lines_file(p, "c.csv", ["id,text", "1,aspirin"])
    return Case(label(p, corpus=bad), (str(bad), "unknown corpus format '.csv'", "use .txt"), outputs=(weak_out(p),))


@case
def corpus_no_documents(p: TinyProject) -> Case:
    bad = lines_file(p, "c.jsonl", ["", "  "])
    return Case(label(p, corpus=bad), (str(bad), "no documents", "add documents"), outputs=(weak_out(p),))


@case
def corpus_empty_documents_kept(p: TinyProject) -> Case:
    records = [*good_records(3), {"id": "empty", "text": ""}, {"id": "blank", "text": "   "}, *good_records(2)]
    corpus = records_file(p, "c.jsonl", records)

    def check(result: Any) -> None:
        weak = read_weak(p)
        assert [r["id"] for r in weak] == [r["id"] for r in records]
        assert weak[3]["aggregated"] == [] and weak[4]["aggregated"] == []
        assert all(spans == [] for spans in weak[3]["spans"].values())

    return Case(label(p, corpus=corpus), ok=True, check=check)


@case
def corpus_10mb_document(p: TinyProject) -> Case:
    text = "The patient took aspirin for gout . " * 290_000
    bad = records_file(p, "c.jsonl", [*good_records(2), {"id": "huge", "text": text}])
    return Case(label(p, corpus=bad), ("document 'huge'", f"{len(text):,} characters", "more than the 1,000,000",
                                       "split it into smaller documents"), outputs=(weak_out(p),))


@case
def corpus_nul_and_control_characters(p: TinyProject) -> Case:
    glued = "The patient\u0000 took aspirin\u0007 for gout\u001b .\u000b\u0085 Then warfarin\u007f ."
    text = "The patient \u0000 took aspirin \u0007 for gout \u001b . \u000b\u0085 Then warfarin \u007f \u2028 ."
    corpus = records_file(p, "c.jsonl", [*good_records(3), {"id": "ctl", "text": text}, {"id": "glued", "text": glued}])

    def check(result: Any) -> None:
        record, other = read_weak(p)[3:]
        assert (record["text"], other["text"]) == (text, glued)
        found = {text[a["start"]:a["end"]] for a in record["aggregated"]}
        assert {"aspirin", "gout", "warfarin"} <= found

    return Case(label(p, corpus=corpus), ok=True, check=check)


MIXED = "Пациент 患者 took aspirin 💊 for gout 👍🏽 ; المريض warfarin 🇫🇷 ."


@case
def corpus_mixed_scripts_and_emoji(p: TinyProject) -> Case:
    corpus = records_file(p, "c.jsonl", [*good_records(3), {"id": "mixed", "text": MIXED}])

    def check(result: Any) -> None:
        record = read_weak(p)[3]
        assert record["text"] == MIXED
        assert {MIXED[a["start"]:a["end"]] for a in record["aggregated"]} == {"aspirin", "gout", "warfarin"}

    return Case(label(p, corpus=corpus), ok=True, check=check)


@case
def corpus_bom_and_crlf_works(p: TinyProject) -> Case:
    corpus = p.root / "c.jsonl"
    corpus.write_bytes(codecs.BOM_UTF8 + "\r\n".join(json.dumps(r) for r in good_records()).encode() + b"\r\n")

    def check(result: Any) -> None:
        weak = read_weak(p)
        assert [r["id"] for r in weak] == [r["id"] for r in good_records()]
        assert all("\r" not in r["text"] for r in weak)

    return Case(label(p, corpus=corpus), ok=True, check=check)


@case
def corpus_txt_folder_not_utf8(p: TinyProject) -> Case:
    folder = p.root / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("aspirin for gout .", "utf8")
    (folder / "b.txt").write_bytes("caf\xe9 .".encode("latin-1"))
    return Case(label(p, corpus=folder), (str(folder / "b.txt"), "not valid UTF-8", "re-encode"),
                outputs=(weak_out(p),))


@case
def annotate_mixed_scripts_and_emoji(p: TinyProject) -> Case:
    corpus = records_file(p, "c.jsonl", [{"id": "mixed", "text": MIXED}])
    out = p.root / "annotated.jsonl"

    def check(result: Any) -> None:
        (record,) = [json.loads(line) for line in out.read_text("utf8").splitlines()]
        assert [(MIXED[e["start"]:e["end"]], e["text"]) for e in record["entities"]] == [
            ("aspirin", "aspirin"), ("warfarin", "warfarin")
        ]

    return Case(["annotate", str(model(p)), str(corpus), "--out", str(out)], ok=True, check=check)


@case
def annotate_10mb_document(p: TinyProject) -> Case:
    bad = records_file(p, "c.jsonl", [*good_records(2), {"id": "huge", "text": "aspirin . " * 1_050_000}])
    out = p.root / "annotated.jsonl"
    return Case(["annotate", str(model(p)), str(bad), "--out", str(out)],
                ("record 'huge'", "more than the 1,000,000", "split it"), outputs=(out,))


# ---------------------------------------------------------------------- gold files


def evaluate(p: TinyProject, records: list[Any]) -> tuple[list[str], Path]:
    gold = records_file(p, "gold.jsonl", records)
    return ["evaluate", str(model(p)), str(gold)], gold


GOLD_TEXT = "Aspirin for gout ."


@case
def gold_offsets_outside_text(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [[0, 7, "Drug"]]},
                              {"text": GOLD_TEXT, "entities": [[12, 40, "Disease"]]}])
    return Case(argv, (f"{gold} line 2", "(12, 40, 'Disease')", "outside the text of 18 characters", "end exclusive"))


@case
def gold_offsets_reversed(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [[7, 0, "Drug"]]}])
    return Case(argv, (f"{gold} line 1", "(7, 0, 'Drug')", "reversed or empty", "end must be greater"))


@case
def gold_offsets_not_integers(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [["0", 7, "Drug"]]}])
    return Case(argv, (f"{gold} line 1", "('0', 7)", "must be integers", "JSON numbers"))


@case
def gold_label_spacy_rejects(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "spans": [{"start": 0, "end": 7, "label": "Drug Name"}]}])
    return Case(argv, (f"{gold} line 1", "'Drug Name'", "whitespace", "use a name such as"))


@case
def gold_overlapping_entities(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [[0, 7, "Drug"], [4, 16, "Disease"]]}])
    return Case(argv, (f"{gold} line 1", "overlap", "keep one of them"))


@case
def gold_without_entities(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [[0, 7, "Drug"]]}, {"text": GOLD_TEXT}])
    return Case(argv, (f"{gold} line 2", 'no "entities" or "spans" field', "use [] for a document"))


@case
def gold_entity_not_a_triple(p: TinyProject) -> Case:
    argv, gold = evaluate(p, [{"text": GOLD_TEXT, "entities": [[0, 7]]}])
    return Case(argv, (f"{gold} line 1", "[0, 7]", "is not [start, end, label]"))


@case
def gold_json_file_not_a_list(p: TinyProject) -> Case:
    gold = p.root / "gold.json"
    gold.write_text(json.dumps({"text": GOLD_TEXT}), "utf8")
    return Case(["evaluate", str(model(p)), str(gold)], (str(gold), "must hold one list of records"))


# ---------------------------------------------------------------------- command-line options


@case
def option_negative_n_process(p: TinyProject) -> Case:
    return Case(label(p, "--n-process", "-1"), ("--n-process", "greater than or equal to 1"), exit_code=2,
                outputs=(weak_out(p),))


@case
def option_min_confidence_above_one(p: TinyProject) -> Case:
    return Case(label(p, "--min-confidence", "2"), ("--min-confidence", "less than or equal to 1"), exit_code=2,
                outputs=(weak_out(p),))


@case
def option_unknown_aggregator(p: TinyProject) -> Case:
    return Case(label(p, "--aggregator", "vote"), ("--aggregator", "'vote' is not one of 'hmm', 'majority'"),
                exit_code=2, outputs=(weak_out(p),))


@case
def option_zero_batch_size(p: TinyProject) -> Case:
    out = p.root / "annotated.jsonl"
    return Case(["annotate", str(model(p)), str(p.corpus), "--batch-size", "0", "--out", str(out)],
                ("--batch-size", "greater than or equal to 1"), exit_code=2, outputs=(out,))


@case
def option_unknown_on_error(p: TinyProject) -> Case:
    out = p.root / "annotated.jsonl"
    return Case(["annotate", str(model(p)), str(p.corpus), "--on-error", "ignore", "--out", str(out)],
                ("--on-error", "'ignore' is not one of 'raise', 'skip', 'log'"), exit_code=2, outputs=(out,))


@case
def option_map_without_equals(p: TinyProject) -> Case:
    return Case(label(p, "--map", "Drug"), ("--map", "'Drug': write OLD=NEW"), exit_code=2, outputs=(weak_out(p),))


@case
def option_map_unknown_lexicon(p: TinyProject) -> Case:
    return Case(label(p, "--map", "Chemical=Drug"), ("['Chemical']", "were not loaded", "the lexicons are"),
                outputs=(weak_out(p),))


@case
def option_unknown_language(p: TinyProject) -> Case:
    return Case(label(p, "--lang", "zz"), ("--lang 'zz'", "use an ISO code"), outputs=(weak_out(p),))


@case
def option_unknown_tokenizer(p: TinyProject) -> Case:
    return Case(label(p, "--tokenizer", "words"), ("--tokenizer", "'words' is not one of 'fine', 'spacy'"),
                exit_code=2, outputs=(weak_out(p),))


# ---------------------------------------------------------------------- output locations


@case
def output_is_a_folder(p: TinyProject) -> Case:
    out = p.root / "weak-folder"
    out.mkdir()
    return Case(label(p, out=out), (str(out), "is a folder", "give a file name"))


@case
def output_parent_missing(p: TinyProject) -> Case:
    out = p.root / "missing" / "weak.jsonl"
    return Case(label(p, out=out), (str(out), "does not exist", "create it first"), outputs=(out.parent,))


@case
def output_parent_is_a_file(p: TinyProject) -> Case:
    parent = lines_file(p, "notes.txt", ["not a folder"])
    out = parent / "weak.jsonl"
    return Case(label(p, out=out), (str(out), "is a file, not a folder", "choose another path"),
                previous={parent: parent.read_bytes()})


@case
def output_parent_not_writable(p: TinyProject) -> Case:
    parent = p.root / "locked"
    parent.mkdir()
    out = parent / "weak.jsonl"
    return Case(label(p, out=out), (str(parent), "not writable", "fix its permissions"), outputs=(out,))


@case
def output_previous_content_kept_on_failure(p: TinyProject) -> Case:
    weak_out(p).write_text("the previous weak labels\n", "utf8")
    rule_file(p, "@labelling_function(label='Drug')\ndef fragile(doc):\n    raise ValueError('no')\n")
    return Case(label(p), ("'fragile'", "ValueError"), previous={weak_out(p): weak_out(p).read_bytes()})


@case
def output_training_data_is_a_file(p: TinyProject) -> Case:
    shards = lines_file(p, "shards", ["a file"])
    return Case(label(p, "--training-data", str(shards)), (str(shards), "exists and is not a folder",
                                                           "choose another folder"),
                outputs=(weak_out(p),), previous={shards: shards.read_bytes()})


@case
def output_symlink_replaced_not_followed(p: TinyProject) -> Case:
    elsewhere = p.root / "elsewhere.txt"
    elsewhere.write_text("not yours\n", "utf8")
    weak_out(p).symlink_to(elsewhere)

    def check(result: Any) -> None:
        assert not weak_out(p).is_symlink()
        assert len(read_weak(p)) == 80
        assert elsewhere.read_text("utf8") == "not yours\n"

    return Case(label(p), ok=True, check=check)


@case
def bootstrap_out_is_a_file(p: TinyProject) -> Case:
    out = lines_file(p, "run", ["a file"])
    return Case(["bootstrap", str(p.lexicons), "--corpus", str(p.corpus), "--out", str(out)],
                (str(out), "exists and is not a folder", "choose another --out"), previous={out: out.read_bytes()})


@case
def bootstrap_out_exists_without_overwrite(p: TinyProject) -> Case:
    out = p.root / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious", "utf8")
    return Case(["bootstrap", str(p.lexicons), "--corpus", str(p.corpus), "--out", str(out)],
                (str(out), "already exists", "--overwrite"), previous={out / "keep.txt": b"precious"})


@case
def bootstrap_out_under_a_file(p: TinyProject) -> Case:
    parent = lines_file(p, "runs", ["a file"])
    out = parent / "v1"
    return Case(["bootstrap", str(p.lexicons), "--corpus", str(p.corpus), "--out", str(out)],
                (str(out), "is a file, not a folder"), previous={parent: parent.read_bytes()})


# ---------------------------------------------------------------------- the test


def test_input_matrix_has_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({make.__name__ for make in CASES}) == len(CASES)


def message_of(result: Any) -> str:
    """The error message, with Typer's box drawing and line wrapping removed."""
    text = result.stderr
    if "error: " in text:
        text = text[text.index("error: "):]
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__.replace("_", "-"))
def test_input_matrix(tiny_project: TinyProject, make: Callable[[TinyProject], Case],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    c = make(tiny_project)
    before = {p for p in tiny_project.root.rglob("*")}
    locked = tiny_project.root / "locked"
    if locked.is_dir():
        locked.chmod(0o555)
        if os.geteuid() == 0:  # root may write anywhere: make the folder read-only for the check
            real = os.access
            monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real(path, mode))
    try:
        result = runner.invoke(app, c.argv)
    finally:
        if locked.is_dir():
            locked.chmod(0o755)
    assert "Traceback" not in result.output
    if c.ok:
        assert result.exit_code == 0, result.output
        assert c.check is not None
        c.check(result)
        return
    assert result.exit_code == c.exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    message = message_of(result)
    for fragment in c.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for path in c.outputs:
        assert not path.exists(), f"{path} was written"
    for path, content in c.previous.items():
        assert path.read_bytes() == content
    created = {p for p in tiny_project.root.rglob("*")} - before
    assert not [p for p in created if p.name.startswith(".")], "a temporary file was left behind"
