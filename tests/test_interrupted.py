"""Bootstrap killed with SIGKILL: the run folder is absent or the previous one, reruns work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hybridner
from hybridner.bootstrap import _clean_interrupted

REPO = Path(hybridner.__file__).resolve().parents[1]

# sleeps on every document, so that labelling lasts seconds; says when it started
SLOW_RULE = '''
import time
from pathlib import Path

from hybridner import labelling_function

STARTED = Path(__file__).with_name("labelling.started")


@labelling_function(label="Drug")
def slow_rule(doc):
    STARTED.touch()
    time.sleep(0.05)
    return []
'''


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def start_bootstrap(project, out: Path, cache: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    command = [
        sys.executable, "-m", "hybridner", "bootstrap", str(project.lexicons),
        "--corpus", str(project.corpus), "--dev", str(project.dev), "--out", str(out),
        "--cache-dir", str(cache), "--no-html", "--verbose", *extra,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def run_bootstrap(project, out: Path, cache: Path, *extra: str) -> dict:
    process = start_bootstrap(project, out, cache, *extra)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads((out / "report.json").read_text("utf8"))


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> list[str]:
    """SIGKILL ``process`` as soon as ``ready(stderr lines so far)`` holds; return the lines.

    stderr is read on a thread all along, so the process never blocks on a full pipe.
    """
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready(lines) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join(timeout=10)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "".join(lines[-20:])
    return lines


def leftovers(folder: Path) -> list[str]:
    """Hidden (temporary) entries in ``folder``."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
def test_bootstrap_killed_during_labelling_leaves_no_run(tiny_project):
    (tiny_project.rules / "slow.py").write_text(SLOW_RULE, "utf8")
    started = tiny_project.rules / "labelling.started"
    out, cache = tiny_project.root / "runs" / "run", tiny_project.root / "cache"
    process = start_bootstrap(tiny_project, out, cache, "--max-epochs", "1")
    kill_when(process, lambda lines: started.exists())

    assert not out.exists()
    assert leftovers(out.parent) == []  # the run folder is made after labelling
    # spans are stored once every function has labelled the corpus: nothing yet
    assert list((cache / "labelling").iterdir()) == []
    assert list((cache / "training").iterdir()) == []

    report = run_bootstrap(tiny_project, out, cache, "--max-epochs", "1")
    assert "slow_rule" in report["stage_cache"]["functions_run"]
    assert (out / "model" / "config.cfg").is_file()
    assert leftovers(out.parent) == []


@pytest.mark.slow
def test_bootstrap_killed_during_training_keeps_previous_run(tiny_project):
    out, cache = tiny_project.root / "runs" / "run", tiny_project.root / "cache"
    first = run_bootstrap(tiny_project, out, cache, "--max-epochs", "1")
    assert first["stage_cache"]["models_reused"] == [False]
    before = snapshot(out)

    # a longer training over it, killed once spaCy's training loop has evaluated once
    process = start_bootstrap(tiny_project, out, cache, "--max-epochs", "200", "--overwrite")
    lines = kill_when(process, lambda lines: any(" step " in line for line in list(lines)))
    assert any("training NER on" in line for line in lines)

    assert snapshot(out) == before
    left = leftovers(out.parent)
    assert len(left) == 1 and left[0].startswith(".run.tmp-"), left  # the killed run's folder
    assert (out.parent / left[0] / "corpus" / "train.spacy").is_file()
    assert not [p for p in (cache / "training").iterdir() if ".tmp-" in p.name]
    assert len(list((cache / "training").iterdir())) == 1  # only the first run's model

    # rerunning the first run's settings: the killed run's folder is removed, the model reused
    again = run_bootstrap(tiny_project, out, cache, "--max-epochs", "1", "--overwrite")
    assert again["stage_cache"]["functions_run"] == []
    assert again["stage_cache"]["models_reused"] == [True]
    assert leftovers(out.parent) == []
    after = snapshot(out)
    assert set(after) == set(before)
    for name in before:
        if not name.startswith("report."):  # the reports hold the timings
            assert after[name] == before[name], name
    assert again["dev"] == first["dev"]


def test_bootstrap_clean_interrupted_removes_dead_runs_and_restores_previous(tmp_path):
    out = tmp_path / "run"
    dead = dead_pid()
    killed_tmp = tmp_path / f".run.tmp-{dead}-abcd-xyz"
    (killed_tmp / "corpus").mkdir(parents=True)
    live_tmp = tmp_path / f".run.tmp-{os.getpid()}-abcd-xyz"  # a run of a live process
    live_tmp.mkdir()
    previous = tmp_path / f".run.old.tmp-{dead}-abcd"  # killed between the two renames
    previous.mkdir()
    (previous / "weak.jsonl").write_text("{}\n", "utf8")
    other = tmp_path / f".other.tmp-{dead}-abcd"
    other.mkdir()

    _clean_interrupted(out)
    assert (out / "weak.jsonl").read_text("utf8") == "{}\n"
    assert not killed_tmp.exists() and not previous.exists()
    assert live_tmp.exists() and other.exists()
