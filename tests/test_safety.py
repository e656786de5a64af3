"""Safety: what is imported, what is never evaluated, and writing never follows a symlink.

* rule files are imported only from the paths the user names (a file, or a
  folder's own ``*.py`` files, not its ``_helpers.py``, hidden files or sub-folders);
* nothing in a data file (lexicon, corpus, gold) is ever evaluated;
* a file hybridner writes replaces a symbolic link at its place instead of
  writing through it; an output folder that is a link is refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from conftest import TinyProject
from hybridner.cli import app
from hybridner.corpus import atomic_open, read_gold, read_texts, write_jsonl
from hybridner.htmlreport import write_report_html
from hybridner.labelling import load_rules
from hybridner.lexicons import load_lexicons

runner = CliRunner()

RULE = "from hybridner import labelling_function\n\n@labelling_function(label='Drug', name={name!r})\ndef f(doc):\n    return []\n"


def marker_code(marker: Path) -> str:
    """Python that leaves a trace if it is ever run."""
    return f"open({str(marker)!r}, 'w').write('ran')\n"


def test_safety_rule_folder_imports_only_its_rule_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    marker = tmp_path / "ran"
    (rules / "drugs.py").write_text(RULE.format(name="drugs"), "utf8")
    (rules / "_helpers.py").write_text(marker_code(marker), "utf8")
    (rules / ".hidden.py").write_text(marker_code(marker), "utf8")
    (rules / ".#drugs.py").symlink_to(tmp_path / "editor-lock-target")  # an editor's lock link
    (rules / "notes.txt").write_text(marker_code(marker), "utf8")
    (rules / "data.jsonl").write_text(json.dumps({"code": marker_code(marker)}) + "\n", "utf8")
    (rules / "sub").mkdir()
    (rules / "sub" / "more.py").write_text(marker_code(marker), "utf8")
    (rules / "folder.py").mkdir()  # a folder with a .py name is not a rule file
    assert [f.name for f in load_rules(rules)] == ["drugs"]
    assert not marker.exists()


def test_safety_rule_package_helpers_only_through_the_package(tmp_path: Path) -> None:
    rules = tmp_path / "pkg_rules"
    rules.mkdir()
    marker = tmp_path / "ran"
    (rules / "__init__.py").write_text("", "utf8")
    (rules / "_words.py").write_text("STEMS = ('pril',)\n", "utf8")
    (rules / "_unused.py").write_text(marker_code(marker), "utf8")
    (rules / "stems.py").write_text(
        "from hybridner import labelling_function\nfrom ._words import STEMS\n\n"
        "@labelling_function(label='Drug')\ndef safety_stems(doc):\n"
        "    return [(t.i, t.i + 1) for t in doc if t.lower_.endswith(STEMS)]\n",
        "utf8",
    )
    assert [f.name for f in load_rules(rules)] == ["safety_stems"]
    assert not marker.exists()


def test_safety_data_files_are_never_evaluated(tiny_project: TinyProject, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"__import__('os').system('touch {marker}')"
    (tiny_project.lexicons / "Code.txt").write_text(code + "\n", "utf8")
    with tiny_project.corpus.open("a", encoding="utf8") as handle:
        handle.write(json.dumps({"id": "code", "text": code, "__reduce__": code}) + "\n")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"text": code, "entities": [], "meta": {"py/object": "os.system"}}) + "\n", "utf8")
    assert load_lexicons(tiny_project.lexicons)["Code"].terms == [code]
    assert any(r["text"] == code for r in read_texts(tiny_project.corpus))
    assert read_gold(gold)[0].text == code
    out = tmp_path / "weak.jsonl"
    result = runner.invoke(app, ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not marker.exists()


def test_safety_library_evaluates_nothing_it_reads() -> None:
    """No eval/exec of text, and pickle only where its input is hybridner's own
    (Spark's driver-to-worker payload); the gazetteer cache is read without pickle."""
    source = Path(__file__).resolve().parents[1] / "hybridner"
    found = {}
    for path in sorted(source.glob("*.py")):
        text = path.read_text("utf8")
        for pattern in (r"\beval\(", r"(?<![._])exec\(", r"pickle\.loads?\(", r"yaml\.(unsafe_)?load\(",
                        r"marshal\.loads?\("):
            for match in re.finditer(pattern, text):
                found.setdefault(path.name, []).append(match.group())
    assert found == {"spark.py": ["pickle.loads("]}


def test_safety_atomic_write_replaces_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me", "utf8")
    link = tmp_path / "out" / "weak.jsonl"
    link.parent.mkdir()
    link.symlink_to(target)
    write_jsonl(link, [{"text": "a"}])
    assert not link.is_symlink() and link.read_text("utf8") == '{"text": "a"}\n'
    assert target.read_text("utf8") == "keep me"
    # a dangling link, and a link to a folder, are replaced the same way
    for pointed in (tmp_path / "nothing", tmp_path):
        link.unlink()
        link.symlink_to(pointed)
        with atomic_open(link) as handle:
            handle.write("new")
        assert not link.is_symlink() and link.read_text("utf8") == "new"
    assert not (tmp_path / "nothing").exists()


def test_safety_report_html_replaces_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.html"
    target.write_text("not a report", "utf8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.html").symlink_to(target)
    write_report_html({}, run / "report.html")  # an empty report renders an empty page
    assert not (run / "report.html").is_symlink()
    assert "<html" in (run / "report.html").read_text("utf8")
    assert target.read_text("utf8") == "not a report"


def test_safety_output_folders_that_are_links_are_refused(tiny_project: TinyProject, tmp_path: Path) -> None:
    real = tmp_path / "real-run"
    real.mkdir()
    (real / "keep.txt").write_text("precious", "utf8")
    link = tmp_path / "run-link"
    link.symlink_to(real)
    result = runner.invoke(app, ["bootstrap", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
                                 "--out", str(link), "--overwrite"])
    assert result.exit_code == 1 and "is a symbolic link" in result.stderr
    assert [p.name for p in real.iterdir()] == ["keep.txt"] and link.is_symlink()

    shards = tmp_path / "shards-link"
    shards.symlink_to(real)
    result = runner.invoke(app, ["label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
                                 "--out", str(tmp_path / "weak.jsonl"), "--training-data", str(shards)])
    assert result.exit_code == 1 and "is a symbolic link" in result.stderr and "--training-data" in result.stderr
    assert [p.name for p in real.iterdir()] == ["keep.txt"]
    assert not (tmp_path / "weak.jsonl").exists()


def test_safety_aggregator_save_replaces_a_symlink(tmp_path: Path) -> None:
    from hybridner import MajorityAggregator

    target = tmp_path / "elsewhere.json"
    target.write_text("keep me", "utf8")
    link = tmp_path / "aggregator.json"
    link.symlink_to(target)
    import spacy
    from spacy.tokens import Span

    doc = spacy.blank("en")("aspirin")
    doc.spans["f"] = [Span(doc, 0, 1, label="Drug")]
    MajorityAggregator(["Drug"]).fit([doc]).save(link)
    assert not link.is_symlink() and json.loads(link.read_text("utf8"))
    assert target.read_text("utf8") == "keep me"
