"""The browsable report: report.html content, `hybridner report`, and a real browser.

The browser test (see tests/browser.py) opens report.html in headless Chromium,
checks the DOM and saves a screenshot; it skips, saying why, where no browser is found.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import check_in_browser, function_rows
from conftest import TinyProject, make_tiny_project
from typer.testing import CliRunner

from hybridner import bootstrap
from hybridner.cli import app
from hybridner.htmlreport import render_report_html

runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    project = make_tiny_project(tmp_path_factory.mktemp("html"))
    # a document whose text looks like markup: the report must show it, not run it
    with project.dev.open("a", encoding="utf8") as handle:
        text = "<script>alert(1)</script> aspirin & <b>gout</b>"
        start = text.index("aspirin")
        handle.write(json.dumps({"id": "dev-markup", "text": text, "entities": [
            [start, start + 7, "Drug"], [text.index("gout"), text.index("gout") + 4, "Disease"]
        ]}) + "\n")
    return project


@pytest.fixture(scope="module")
def run(project: TinyProject) -> Path:
    out = project.root / "run"
    bootstrap(
        project.lexicons, rules=project.rules, corpus=project.corpus, dev=project.dev,
        out=out, max_epochs=2,
    )
    return out


def test_report_html_written_by_bootstrap(run: Path) -> None:
    page = (run / "report.html").read_text("utf8")
    report = json.loads((run / "report.json").read_text("utf8"))
    names = [row["function"] for row in report["diagnostics"]["functions"]]
    assert sorted(function_rows(page)) == sorted(names)
    assert len(names) == len(report["functions"])
    for section in ("summary", "functions", "charts", "training", "errors", "gallery"):
        assert f"id='{section}'" in page
    assert 'id="chart-functions"' in page and 'id="chart-training"' in page
    # every gallery document is rendered by displaCy, layer by layer
    assert page.count("<section class='doc") == len(report["gallery"])
    assert page.count('class="entities"') >= 3 * len(report["gallery"])


def test_report_html_is_self_contained_and_escaped(run: Path) -> None:
    page = (run / "report.html").read_text("utf8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load anything"
    assert "<link" not in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1


def test_report_html_without_gold_renders(run: Path) -> None:
    report = json.loads((run / "report.json").read_text("utf8"))
    report["dev"] = {"source": "held-out", "model_vs_weak_labels_f1": 0.5}
    report["diagnostics"]["stages"] = {}
    for row in report["diagnostics"]["functions"]:
        row.update(dev_precision=None, dev_recall=None, dev_f1=None, dev_support=None)
    for item in report["gallery"]:
        item["gold"] = item["model"] = None
    page = render_report_html(report)
    assert "No hand-annotated dev set" in page
    assert "No dev gold: no precision/recall chart" in page


def test_report_cli_table_json_and_html(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.html"
    result = runner.invoke(app, ["report", str(run), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert target.is_file() and "<table" in target.read_text("utf8")
    assert "dev F1" in result.output and "disease_suffix" in result.output
    result = runner.invoke(app, ["report", str(run), "--json", "--no-html"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {row["function"] for row in data["functions"]} >= {"disease_suffix", "dose_mg"}
    assert all(row["dev_precision"] is not None for row in data["functions"])


def test_report_cli_not_a_run_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a hybridner run folder" in result.output


def test_report_bootstrap_no_html(project: TinyProject) -> None:
    out = project.root / "run-no-html"
    bootstrap(
        project.lexicons, rules=project.rules, corpus=project.corpus, dev=project.dev,
        out=out, max_epochs=1, html=False,
    )
    assert (out / "report.json").is_file() and not (out / "report.html").exists()


@pytest.mark.slow
def test_report_html_opens_in_headless_browser(run: Path, tmp_path: Path) -> None:
    report = json.loads((run / "report.json").read_text("utf8"))
    names = [row["function"] for row in report["diagnostics"]["functions"]]
    check_in_browser(run / "report.html", tmp_path / "report-tiny.png", names)
