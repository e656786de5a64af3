"""The benchmark runner's plumbing (the benchmarks themselves run outside the test suite)."""

from __future__ import annotations

from benchmarks import run


def _scores(f1: float) -> dict:
    return {"precision": f1, "recall": f1, "f1": f1, "per_label": {"A": {"precision": f1, "recall": f1, "f1": f1, "support": 3}}}


def test_benchmarks_run_without_data_explains_and_fails(tmp_path, capsys):
    assert run.main(["bc5cdr", "--data", str(tmp_path)]) == 2
    assert "benchmark data not found" in capsys.readouterr().out


def test_benchmarks_markdown_has_every_stage_and_published_numbers():
    split = {key: _scores(0.5) for key in ("lexicon_only", "majority", "aggregated", "model")}
    split["functions"] = {"rule": {"precision": 0.1, "recall": 0.2, "f1": 0.3}}
    split["beyond_lexicons"] = {"entities": 10, "model_found": 4, "model_recall": 0.4}
    results = {"environment": "test", "dev": split, "test": split, "timings": {"training": 1.0},
               "peak_rss_mb": 100.0}
    text = run.render_markdown("bc5cdr", results)
    for needle in ("lexicon match only", "majority vote", "HMM-aggregated", "trained spaCy model",
                   "AutoNER", "84.80", "recall 40.0%", "`rule`", "Peak memory"):
        assert needle in text
    rows = [{"setting": "best configuration", "dev": split, "seconds": 60.0}]
    assert "| best configuration | 50.00 | 50.00 | 50.00 | 50.00 | 1.0 |" in run.render_ablation("bc5cdr", rows)
