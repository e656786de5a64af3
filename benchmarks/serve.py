"""Service benchmark: ``hybridner serve`` under load next to in-process ``annotate``.

Run from the repository root::

    python -m benchmarks.serve [--model RUN_OR_MODEL] [--texts 640] [--concurrency 4]

The texts are real: the BC5CDR test abstracts (``../shared/data/bc5cdr``), repeated
to ``--texts``. Without ``--model`` a small model is trained first (1 epoch on the
BC5CDR train texts, as ``benchmarks/scale.py`` does).

In the same run, on the same texts and the same machine:

* in process: ``NERModel.annotate(texts, batch_size=32)`` and one text at a time
  (``batch_size=1``), texts/s;
* served: the server (``python -m hybridner serve MODEL``, 1 worker) on loopback,
  and the load client (``benchmarks/http_load.py``) in another process sending
  single texts, then batches of 32, from ``--concurrency`` keep-alive connections:
  requests/s, texts/s, p50/p99 latency (client side, queueing included). Every
  answer is checked (status, one record per text, offsets).

The target: a batch of 32 served at >= 80% of the in-process texts/s. Writes
``benchmarks/results/serve.md`` (and ``serve.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.http_load import ROOT, environment, start_server, stop_server

DEFAULT_DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
TARGET = 0.80


def load_texts(data: Path, n: int) -> list[str]:
    abstracts = [json.loads(line)["text"] for line in (data / "bc5cdr" / "test.jsonl").open(encoding="utf8")]
    return [abstracts[i % len(abstracts)] for i in range(n)]


def in_process(model: Path, texts: list[str], batch_size: int) -> dict[str, float]:
    import hybridner

    ner = hybridner.load(model)
    list(ner.annotate(texts[:64], batch_size=batch_size))  # warm up
    started = time.perf_counter()
    count = sum(1 for _ in ner.annotate(texts, batch_size=batch_size))
    seconds = time.perf_counter() - started
    return {"texts": count, "seconds": round(seconds, 3), "texts_per_s": count / seconds}


def served(model: Path, texts: list[str], *, concurrency: int, work: Path) -> dict[str, dict[str, Any]]:
    """The load client's summaries for single texts and batches of 32, against one server."""
    texts_file = work / "texts.json"
    texts_file.write_text(json.dumps(texts), "utf8")
    server, url = start_server(
        model, "--max-batch-size", "64", "--timeout", "120", wait=120
    )
    try:
        results = {}
        for name, batch in (("single", 1), ("batch32", 32)):
            # warm up the server's model, then measure
            for requests in (max(2, concurrency), len(texts) // batch):
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.http_load", "--url", url, "--texts", str(texts_file),
                     "--batch", str(batch), "--requests", str(requests), "--concurrency", str(concurrency),
                     "--duration", "300", "--timeout", "120"],
                    env=environment(), cwd=ROOT, capture_output=True, text=True, check=False,
                )
                summary = json.loads(out.stdout)
                if summary["failed"]:
                    raise SystemExit(f"{name}: {summary['failed']} requests failed: {summary['failures']}")
            results[name] = summary
        return results
    finally:
        stop_server(server)


def render(results: dict[str, Any]) -> str:
    base = results["in_process"]["batch32"]["texts_per_s"]
    rows = [
        "| how | requests | texts | requests/s | texts/s | p50 ms | p99 ms | texts/s vs in-process batch 32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, name in (("batch32", "in process, `annotate(batch_size=32)`"),
                      ("single", "in process, one text at a time")):
        r = results["in_process"][key]
        rows.append(f"| {name} | - | {r['texts']} | - | {r['texts_per_s']:.1f} | - | - | "
                    f"{100 * r['texts_per_s'] / base:.0f}% |")
    for key, name in (("single", "served, single texts"), ("batch32", "served, batches of 32")):
        r = results["served"][key]
        rows.append(
            f"| {name} | {r['ok']} | {r['texts']} | {r['requests_per_s']:.1f} | {r['texts_per_s']:.1f} | "
            f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {100 * r['texts_per_s'] / base:.0f}% |"
        )
    ratio = results["ratio_batch32"]
    verdict = "meets" if ratio >= TARGET else "misses"
    return "\n".join([
        "# Service benchmark: `hybridner serve` next to in-process `annotate`",
        "",
        f"Environment: {results['environment']}. Texts: {results['texts']} BC5CDR test abstracts "
        f"(about {results['mean_chars']:.0f} characters each); model: {results['model']}. "
        f"Server: 1 uvicorn worker on loopback; client: a separate process, "
        f"{results['concurrency']} keep-alive connections; latency measured by the client, queueing "
        "included. Every answer was checked (status 200, one record per text, offsets); none failed.",
        "",
        *rows,
        "",
        f"A batch of 32 served: **{100 * ratio:.0f}%** of the in-process throughput, which "
        f"{verdict} the 80% target.",
        "",
        "Reproduce: `python -m benchmarks.serve` (see its docstring).",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, help="a run or model folder (default: train a small one)")
    parser.add_argument("--texts", type=int, default=640)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.data / "bc5cdr" / "test.jsonl").is_file():
        print(f"benchmark data not found at {args.data / 'bc5cdr'}; pass --data (the BC5CDR JSONL files)")
        return 2
    texts = load_texts(args.data, args.texts)
    with tempfile.TemporaryDirectory(prefix="hybridner-serve-bench-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from benchmarks.scale import train_model_for

            print("training a small model (1 epoch on BC5CDR train)...", flush=True)
            model = train_model_for(args.data, work)
        print("in process...", flush=True)
        local = {"batch32": in_process(model, texts, 32), "single": in_process(model, texts, 1)}
        print("served...", flush=True)
        remote = served(model, texts, concurrency=args.concurrency, work=work)
    results = {
        "environment": f"{platform.python_implementation()} {platform.python_version()}, "
                       f"{platform.machine()}, {os.cpu_count()} CPUs",
        "texts": len(texts),
        "mean_chars": sum(map(len, texts)) / len(texts),
        "model": str(args.model) if args.model else "trained for this run (1 epoch, BC5CDR train)",
        "concurrency": args.concurrency,
        "in_process": local,
        "served": remote,
        "ratio_batch32": remote["batch32"]["texts_per_s"] / local["batch32"]["texts_per_s"],
        "target": TARGET,
    }
    text = render(results)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "serve.md").write_text(text, "utf8")
    (args.results / "serve.json").write_text(json.dumps(results, indent=1) + "\n", "utf8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
