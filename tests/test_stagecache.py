"""Bootstrap's stage cache: keys, reuse, rebuild of bad entries, identical output."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import pytest

from hybridner import bootstrap, weak_label
from hybridner.labelling import load_rules
from hybridner.stagecache import StageCache, default_cache_dir, function_fingerprint, is_stale

RULES_V2 = '''
from hybridner import labelling_function, regex_rule

@labelling_function(label="Disease")
def disease_suffix(doc):
    for tok in doc:
        if tok.lower_.endswith(("itis", "osis", "aine")) and len(tok) > 6:
            yield tok.i, tok.i + 1

dose = regex_rule("dose_mg", r"\\b\\d+ ?mg daily\\b", "Dose")
'''


def records(weak) -> list[dict]:
    return weak.records()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stagecache_default_folder_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "stages"
    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", "off")
    assert default_cache_dir() is None
    monkeypatch.delenv("HYBRIDNER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "hybridner" / "stages"


def test_stagecache_reuses_unchanged_functions_only(tiny_project, tmp_path):
    cache = tmp_path / "cache"
    first = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    assert first.cache["reused"] == [] and "dose_mg" in first.cache["run"]
    again = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    assert again.cache["run"] == [] and again.cache["reused"] == first.cache["run"]
    assert records(again) == records(first)

    # one rule changed (a copy of the rule folder: a rule file is imported once per process)
    rules_v2 = tiny_project.root / "rules_v2"
    rules_v2.mkdir()
    (rules_v2 / "clinical.py").write_text(RULES_V2, "utf8")
    changed = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, rules=rules_v2,
                         cache_dir=cache)
    assert changed.cache["run"] == ["disease_suffix", "dose_mg"]  # the file of both changed
    assert all(name.startswith("lexicon:") for name in changed.cache["reused"])
    uncached = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, rules=rules_v2)
    assert records(changed) == records(uncached)
    assert records(changed) != records(first)

    # another corpus: nothing reused
    corpus = tiny_project.root / "other.jsonl"
    lines = tiny_project.corpus.read_text("utf8").splitlines()
    corpus.write_text("\n".join(lines[:40]) + "\n", "utf8")
    other = weak_label(tiny_project.lexicons, corpus=corpus, cache_dir=cache)
    assert other.cache["reused"] == []


def test_stagecache_regex_rule_key_is_its_pattern_and_rule_key_its_source(tiny_project):
    before = {f.name: function_fingerprint(f) for f in load_rules(tiny_project.rules)}
    assert before["dose_mg"][0]["pattern"] == r"\b\d+ ?mg\b"
    assert before["disease_suffix"][0]["files"]["clinical.py"]
    assert before["disease_suffix"][1] is False  # does not read other functions' spans
    # edited after the import: this process still runs the imported source, so the key stays
    path = tiny_project.rules / "clinical.py"
    path.write_text(path.read_text("utf8") + "\n# edited\n", "utf8")
    after = {f.name: function_fingerprint(f) for f in load_rules(tiny_project.rules)}
    assert after == before


def test_stagecache_rule_reading_spans_depends_on_earlier_functions(tiny_project, tmp_path):
    (tiny_project.rules / "reader.py").write_text(
        "from hybridner import labelling_function\n\n"
        "@labelling_function(label='Drug')\n"
        "def after_lexicon(doc):\n"
        "    for span in doc.spans['lexicon:Drug:uncased']:\n"
        "        if span.end < len(doc):\n"
        "            yield span.end, span.end + 1\n",
        "utf8",
    )
    cache = tmp_path / "cache"
    weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    # a lexicon term more: the gazetteers and the rule that reads their spans run again
    with (tiny_project.lexicons / "Drug.txt").open("a", encoding="utf8") as handle:
        handle.write("naproxen\n")
    second = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    assert "after_lexicon" in second.cache["run"] and "lexicon:Drug:uncased" in second.cache["run"]
    assert "disease_suffix" in second.cache["reused"]
    assert records(second) == records(weak_label(tiny_project.lexicons, corpus=tiny_project.corpus))


def test_stagecache_n_process_gives_the_same_labels(tiny_project, tmp_path):
    one = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus)
    two = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, n_process=2)
    assert records(one) == records(two)
    # workers with part of the functions from the cache
    cache = tmp_path / "cache"
    weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache, default_rules=False)
    mixed = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache, n_process=2)
    assert mixed.cache["run"] == ["disease_suffix", "dose_mg"]
    assert records(mixed) == records(one)


def test_stagecache_corrupt_labelling_entry_is_rebuilt(tiny_project, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    entries = sorted((cache / "labelling").glob("*.json"))
    assert len(entries) == len(first.cache["run"])
    entries[0].write_text(entries[0].read_text("utf8")[:50], "utf8")  # truncated
    data = json.loads(entries[1].read_text("utf8"))
    data["docs"][0] = [0, 10_000, 0]  # a span outside its document
    entries[1].write_text(json.dumps(data), "utf8")
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        again = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    assert len(again.cache["run"]) == 2
    assert caplog.text.count("unusable") == 2
    assert records(again) == records(first)
    third = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, cache_dir=cache)
    assert third.cache["run"] == []


def test_stagecache_removes_entries_of_killed_runs_only(tmp_path):
    cache = StageCache(tmp_path / "cache")
    stale = cache.spans_dir / f"abc.json.tmp-{dead_pid()}-1234"
    stale.write_text("{", "utf8")
    stale_model = cache.models_dir / f"abc.tmp-{dead_pid()}-1234"
    (stale_model / "model").mkdir(parents=True)
    live = cache.spans_dir / f"def.json.tmp-{os.getpid()}-1234"
    live.write_text("{", "utf8")
    assert is_stale(stale) and not is_stale(live)
    StageCache(tmp_path / "cache")
    assert not stale.exists() and not stale_model.exists() and live.exists()


@pytest.mark.slow
def test_stagecache_bootstrap_output_same_with_and_without_cache(tiny_project, tmp_path, caplog):
    cache = tmp_path / "cache"
    options = {"corpus": tiny_project.corpus, "dev": tiny_project.dev, "max_epochs": 2, "seed": 3}
    runs = {}
    for name, extra in (("plain", {"cache": False}), ("cold", {"cache_dir": cache}),
                        ("warm", {"cache_dir": cache})):
        out = tiny_project.root / name
        result = bootstrap(tiny_project.lexicons, out=out, **options, **extra)
        runs[name] = (result.report["stage_cache"], (out / "weak.jsonl").read_bytes(),
                      result.report["dev"], (out / "model" / "ner" / "model").read_bytes())
    assert runs["plain"][0]["folder"] is None
    assert runs["cold"][0]["models_reused"] == [False] and runs["cold"][0]["functions_reused"] == []
    assert runs["warm"][0]["models_reused"] == [True] and runs["warm"][0]["functions_run"] == []
    assert runs["plain"][1] == runs["cold"][1] == runs["warm"][1]
    for key in ("model", "aggregated", "lexicon_only"):
        assert runs["plain"][2][key] == runs["cold"][2][key] == runs["warm"][2][key]
    assert runs["cold"][3] == runs["warm"][3]  # the very model, reused

    # a damaged model entry is dropped with a warning and the model trained again
    (entry,) = (cache / "training").iterdir()
    weights = entry / "model" / "ner" / "model"
    weights.write_bytes(weights.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        result = bootstrap(tiny_project.lexicons, out=tiny_project.root / "again", **options,
                           cache_dir=cache)
    assert "does not match its checksum" in caplog.text
    assert result.report["stage_cache"]["models_reused"] == [False]
    assert result.report["dev"]["model"] == runs["plain"][2]["model"]
    shutil.rmtree(tiny_project.root / "again")
