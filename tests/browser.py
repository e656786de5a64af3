"""Open a report in a real browser: headless Chromium, installed by .ci/run from Debian's packages.

:func:`check_in_browser` loads the page, checks the tables and rendered documents are
in the DOM after the page's script ran, and saves a screenshot (kept in
$HYBRIDNER_SCREENSHOTS when set). It skips the test, saying why, where no browser is found.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def function_rows(page: str) -> list[str]:
    table = re.search(r'<table class="sortable" id="functions">(.*?)</table>', page, re.S)
    assert table, "the functions table is missing"
    return re.findall(r"<tr><td class=\"name\" data-sort=\"([^\"]+)\"", table.group(1))


def find_browser() -> str | None:
    """A Chromium-family browser: $HYBRIDNER_BROWSER, or one on the PATH."""
    wanted = os.environ.get("HYBRIDNER_BROWSER")
    if wanted:
        return shutil.which(wanted) or (wanted if Path(wanted).is_file() else None)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def dev_scores_shown(page: str) -> dict[str, tuple[str, str]]:
    """The dev precision and recall cells of each row of the functions table."""
    table = re.search(r'<table class="sortable" id="functions">(.*?)</table>', page, re.S)
    assert table, "the functions table is missing"
    header = re.findall(r"<th[^>]*>(.*?)</th>", table.group(1))
    p_col, r_col = header.index("dev P"), header.index("dev R")
    shown = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1))[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        shown[cells[0]] = (cells[p_col], cells[r_col])
    return shown


def check_in_browser(
    report_html: Path, screenshot: Path, function_names: list[str], *, with_dev: bool = True
) -> None:
    """Open the report in headless Chromium: DOM checks, then a screenshot.

    ``with_dev``: every function's row must show its dev precision and recall.
    """
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no browser found (looked for {', '.join(BROWSERS)}); .ci/run installs chromium")
    url = report_html.resolve().as_uri()
    dom = headless(browser, "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert 'data-ready="true"' in page, "the page's script did not run"
    rows = function_rows(page)
    assert sorted(rows) == sorted(function_names)
    assert 'class="entities"' in page and "<svg" in page
    if with_dev:
        for name, (precision, recall) in dev_scores_shown(page).items():
            assert re.fullmatch(r"\d+\.\d", precision) and re.fullmatch(r"\d+\.\d", recall), (
                f"{name}: dev P/R not shown ({precision!r}, {recall!r})"
            )
    shot = headless(browser, "--window-size=1300,2600", f"--screenshot={screenshot}", url)
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    width, height = png_size(screenshot)
    assert (width, height) == (1300, 2600)
    assert screenshot.stat().st_size > 50_000, "the screenshot looks blank"
    keep = os.environ.get("HYBRIDNER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
