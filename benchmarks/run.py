"""Run hybridner on a public benchmark, exactly as a user would, and write the results.

    python -m benchmarks.run bc5cdr [--data DIR] [--ablation]
    python -m benchmarks.run wikigold

Reads ``DIR/<name>/`` (default ``../shared/data``): the ``train`` texts are the
unlabelled corpus (their gold labels are never read), ``dev`` selects the model and
tunes settings, ``test`` is only scored. Writes ``benchmarks/results/<name>.json``
and ``.md``: entity P/R/F1 (exact span, micro) per label and overall on dev and
test, for each labelling function alone, lexicon match alone, majority vote, the
HMM and the trained model; the model's recall on test entities whose text is in no
lexicon; wall time per stage and peak memory. ``--ablation`` also trains one model
per lever setting and writes ``<name>_ablation.md``: what each lever adds on dev.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import spacy

import hybridner
from hybridner.evaluation import evaluate_on_gold
from hybridner.corpus import read_gold

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

PUBLISHED = {
    "bc5cdr": {
        "dictionary match (AutoNER paper)": 71.98,
        "Snorkel": 82.24,
        "WISER (linked HMM)": 82.94,
        "AutoNER": 84.80,
        "fully supervised LSTM-CRF": 86.96,
    },
    "wikigold": {"BOND stage I": 52.15, "BOND (RoBERTa + self-training)": 60.07, "fully supervised": 86.43},
}


def settings_for(name: str, data: Path) -> dict[str, Any]:
    """The benchmark's best configuration (chosen on dev): what a user would pass."""
    folder = data / name
    if name == "bc5cdr":
        return {
            "lexicons": folder / "lexicons",
            "rules": ROOT / "benchmarks" / "bc5cdr",
            "candidates": folder / "candidates.txt",
            "doc_level": True,
            "self_training": 1,
            "max_epochs": 15,
        }
    if name == "wikigold":
        config = importlib.import_module("benchmarks.wikigold._config")
        return {
            "lexicons": folder / "lexicons",
            "rules": ROOT / "benchmarks" / "wikigold",
            "label_map": config.LABEL_MAP,
            "aggregator": config.AGGREGATOR,
            # chosen on dev: spaCy's own tokens suit Wikipedia text better (ablation)
            "tokenizer": "spacy",
            "max_epochs": 30,
        }
    raise SystemExit(f"unknown benchmark {name!r}; choose bc5cdr or wikigold")


def ablations(name: str, best: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Lever settings to compare on dev, each one change to the best configuration.

    The variants leave out the self-training round (it doubles training time);
    the first row measures exactly that.
    """
    base = best | {"self_training": 0}
    changes: list[tuple[str, dict[str, Any]]] = [("best configuration without self-training", {})]
    changes.append(("without the domain rules", {"rules": None}))
    if base.get("candidates"):
        changes.append(("without untyped candidates", {"candidates": None}))
    if base.get("doc_level"):
        changes.append(("without document-level voting", {"doc_level": False}))
    else:
        changes.append(("with document-level voting", {"doc_level": True}))
    changes.append(("majority vote instead of the HMM", {"aggregator": "majority"}))
    if base.get("tokenizer", "fine") == "fine":
        changes.append(("spaCy's tokenizer instead of the fine one", {"tokenizer": "spacy"}))
    else:
        changes.append(("the fine tokenizer instead of spaCy's", {"tokenizer": "fine"}))
    changes.append(("min confidence 0.8 (instead of 0.5)", {"min_confidence": 0.8}))
    if base.get("vectors"):
        changes.append(("without floret vectors", {"vectors": None}))
    else:
        changes.append(("with floret vectors trained on the corpus", {"vectors": "floret"}))
    if base.get("augment"):
        changes.append(("without mention replacement", {"augment": 0.0}))
    else:
        changes.append(("with mention replacement (augment 0.5)", {"augment": 0.5}))
    return [(label, base | change) for label, change in changes]


def peak_rss_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if sys.platform != "darwin" else usage / 1024 / 1024


def run_once(name: str, data: Path, settings: dict[str, Any], out: Path) -> dict[str, Any]:
    folder = data / name
    started = time.perf_counter()
    kwargs = {k: v for k, v in settings.items() if k != "lexicons"}
    result = hybridner.bootstrap(
        settings["lexicons"],
        corpus=folder / "train.jsonl",
        dev=folder / "dev.jsonl",
        out=out,
        overwrite=True,
        default_rules=False,
        **kwargs,
    )
    timings = dict(result.report["timings"])
    return {"result": result, "timings": timings, "seconds": time.perf_counter() - started}


def _row(name: str, s: dict[str, Any]) -> str:
    return f"| {name} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | {100 * s['f1']:.2f} |"


def render_markdown(name: str, results: dict[str, Any]) -> str:
    dev, test = results["dev"], results["test"]
    lines = [
        f"# hybridner on {name}",
        "",
        f"Reproduce: `python -m benchmarks.run {name}` ({results['environment']}). "
        "Exact-span entity P / R / F1, micro-averaged, in %. Train texts used unlabelled; "
        "settings chosen on dev; test only scored.",
        "",
        "## Test",
        "",
        "| system | P | R | F1 |",
        "|---|---|---|---|",
    ]
    voted = " (rules + the model's votes)" if results.get("settings", {}).get("self_training") else ""
    for key, label in (
        ("lexicon_only", "hybridner: lexicon match only"),
        ("majority", f"hybridner: majority vote of all functions{voted}"),
        ("aggregated", f"hybridner: HMM-aggregated labels{voted}"),
        ("model", "**hybridner: trained spaCy model**"),
    ):
        lines.append(_row(label, test[key]))
    for system, f1 in PUBLISHED[name].items():
        lines.append(f"| published: {system} | | | {f1:.2f} |")
    beyond = test["beyond_lexicons"]
    unfound = test.get("beyond_functions", {"entities": 0, "model_found": 0, "model_recall": 0.0})
    lines += [
        "",
        f"Beyond the rules: {beyond['entities']} test entities have a text found in no "
        f"lexicon; the model finds {beyond['model_found']} of them "
        f"(recall {100 * beyond['model_recall']:.1f}%). {unfound['entities']} test entities "
        "are found (exact span) by no labelling function at all; the model finds "
        f"{unfound['model_found']} of them (recall {100 * unfound['model_recall']:.1f}%).",
        "",
        "Per label (model, test):",
        "",
        "| label | P | R | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, s in test["model"]["per_label"].items():
        lines.append(
            f"| {label} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | "
            f"{100 * s['f1']:.2f} | {s['support']} |"
        )
    lines += ["", "## Dev", "", "| system | P | R | F1 |", "|---|---|---|---|"]
    for key in ("lexicon_only", "majority", "aggregated", "model"):
        lines.append(_row(key, dev[key]))
    lines += [
        "",
        "## Each labelling function alone (on its own labels)",
        "",
        "| function | dev P | dev R | dev F1 | test P | test R | test F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for fn, d in dev["functions"].items():
        t = test["functions"][fn]
        lines.append(
            f"| `{fn}` | {100 * d['precision']:.1f} | {100 * d['recall']:.1f} | {100 * d['f1']:.1f} | "
            f"{100 * t['precision']:.1f} | {100 * t['recall']:.1f} | {100 * t['f1']:.1f} |"
        )
    lines += ["", "## Cost", "", "| stage | seconds |", "|---|---|"]
    for stage, seconds in results["timings"].items():
        lines.append(f"| {stage} | {seconds:.1f} |")
    lines += ["", f"Peak memory (RSS): {results['peak_rss_mb']:.0f} MB.", ""]
    return "\n".join(lines)


def render_ablation(name: str, rows: list[dict[str, Any]], *, jobs: int = 1) -> str:
    lines = [
        f"# Ablation on {name} (dev)",
        "",
        f"Reproduce: `python -m benchmarks.run {name} --ablation`. The first row is the best "
        "configuration; the second leaves out its self-training round, and each further row "
        "changes one lever of that second one. Dev entity F1 in %, exact span, micro. "
        f"Variants ran {jobs} at a time, so their minutes include sharing the CPU.",
        "",
        "| setting | lexicon only | majority | HMM labels | model | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['setting']} | not possible: {row['error']} | | | | |")
            continue
        d = row["dev"]
        lines.append(
            f"| {row['setting']} | {100 * d['lexicon_only']['f1']:.2f} | {100 * d['majority']['f1']:.2f} | "
            f"{100 * d['aggregated']['f1']:.2f} | {100 * d['model']['f1']:.2f} | {row['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _ablation_row(name: str, data: Path, settings: dict[str, Any], label: str) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="hybridner-ablation-") as tmp:
            other = run_once(name, data, settings, Path(tmp) / "run")
    except hybridner.HybridNERError as err:
        return {"setting": label, "error": str(err), "seconds": time.perf_counter() - started}
    return {"setting": label, "dev": _strip(other["result"].report["dev"]), "seconds": other["seconds"]}


def _strip(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if k != "functions"} | {
        "functions": {fn: {m: s[m] for m in ("precision", "recall", "f1")} for fn, s in scores["functions"].items()}
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=["bc5cdr", "wikigold"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding <name>/")
    parser.add_argument("--ablation", action="store_true", help="also train one model per lever setting")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--jobs", type=int, default=2, help="ablation variants trained at once")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="where to keep the run folder with its report.html (default runs/benchmarks/NAME, "
                        "outside version control: it holds benchmark texts)")
    parser.add_argument("--ablation-only", action="store_true",
                        help="only the ablation, next to the committed results of the best configuration")
    args = parser.parse_args(argv)
    folder = args.data / args.name
    if not (folder / "train.jsonl").is_file():
        print(f"benchmark data not found in {folder}; pass --data DIR (see ../shared/data/README.md)")
        return 2
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    settings = settings_for(args.name, args.data)
    args.results.mkdir(parents=True, exist_ok=True)
    if args.ablation_only:
        results = json.loads((args.results / f"{args.name}.json").read_text("utf8"))
        args.ablation = True
    if args.ablation_only:
        run = None
    else:
        run_dir = args.run_dir or ROOT / "runs" / "benchmarks" / args.name
        run = run_once(args.name, args.data, settings, run_dir)
    if run is not None:
        result = run["result"]
        started = time.perf_counter()
        test = evaluate_on_gold(result.weak, read_gold(folder / "test.jsonl"), nlp=result.nlp)
        timings = run["timings"] | {"test_evaluation": time.perf_counter() - started}
        timings["benchmark_total"] = run["seconds"] + timings["test_evaluation"]
        results = {
            "benchmark": args.name,
            "environment": f"Python {platform.python_version()}, spaCy {spacy.__version__}, "
            f"hybridner {hybridner.__version__}, {platform.machine()}",
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()},
            "dev": _strip(result.report["dev"]),
            "test": _strip(test),
            "training_history": result.report["training"]["history"],
            "timings": {k: round(v, 2) for k, v in timings.items()},
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "published_f1": PUBLISHED[args.name],
        }
        (args.results / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n", "utf8")
        (args.results / f"{args.name}.md").write_text(render_markdown(args.name, results), "utf8")
        print(render_markdown(args.name, results))
        print(f"run folder: {run_dir}; browsable report: {run_dir / 'report.html'}")
    if args.ablation:
        rows = [{"setting": "best configuration (as in the results above)", "dev": results["dev"],
                 "seconds": results["timings"]["benchmark_total"]}]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [
                pool.submit(_ablation_row, args.name, args.data, variant, label)
                for label, variant in ablations(args.name, settings)
            ]
            for future in futures:
                rows.append(future.result())
                text = render_ablation(args.name, rows, jobs=args.jobs)
                (args.results / f"{args.name}_ablation.md").write_text(text, "utf8")
        print(render_ablation(args.name, rows, jobs=args.jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
