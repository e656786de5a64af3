"""Memory of the training data: spaCy's in-memory list next to hybridner's streamed shards.

Run from the repository root::

    python -m benchmarks.train_memory [--sizes 10000,100000]

For each size N, the BC5CDR train sentences repeated to N documents (as in
``benchmarks/scale.py``) are weakly labelled into training shards by
``hybridner label --training-data``; then, each in a fresh process, one pass over
the training examples is made the two ways spaCy's training loop can read them:

* baseline: ``list(Corpus(shards)(nlp))``, what spaCy's loop does whenever
  ``max_epochs >= 0`` (every example kept in a list, shuffled at each epoch);
* hybridner: ``ShardCorpus`` (``hybridner train``), one shard held at a time.

Peak resident memory (VmHWM) of each process is reported. Writes
``benchmarks/results/train_memory.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale import DEFAULT_DATA, RESULTS, vm_kib, write_corpus


def _child(kind: str, shards: Path) -> None:
    import spacy
    from spacy.training import Corpus

    from hybridner.training import ShardCorpus

    nlp = spacy.blank("en")
    started = time.perf_counter()
    if kind == "list":
        examples = list(Corpus(shards)(nlp))
        count = len(examples)
    else:
        count = sum(1 for _ in ShardCorpus(shards)(nlp))
    seconds = time.perf_counter() - started
    print("RESULT " + json.dumps({"examples": count, "seconds": seconds,
                                  "peak_rss_mb": vm_kib("VmHWM") / 1024}))


def _run(kind: str, shards: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.train_memory", "--child", kind, "--shards", str(shards)],
        capture_output=True, text=True, check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--child", choices=["list", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.shards)
        return 0
    if not (args.data / "bc5cdr" / "train.jsonl").is_file():
        print(f"benchmark data not found in {args.data / 'bc5cdr'}; pass --data DIR")
        return 2
    from hybridner.streaming import label_corpus

    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="hybridner-train-memory-") as tmp:
            work = Path(tmp)
            corpus = work / "corpus.jsonl"
            write_corpus(args.data, n, corpus)
            shards = work / "shards"
            label_corpus(args.data / "bc5cdr" / "lexicons", corpus=corpus, out=work / "weak.jsonl",
                         training_data=shards, default_rules=False, batch_size=5000)
            n_shards = len(list(shards.glob("*.spacy")))
            for kind, title in (("list", "spaCy's loop with max_epochs >= 0: every example in a list"),
                                ("stream", "hybridner train: ShardCorpus, one shard at a time")):
                result = _run(kind, shards)
                rows.append((n, n_shards, title, result))
                print(f"{n} {kind}: {result}", flush=True)
    lines = [
        "# Training data in memory: a list of every example, or streamed shards",
        "",
        "Reproduce: `python -m benchmarks.train_memory`. Documents: BC5CDR train sentences "
        "repeated to N (about 25 tokens each), weakly labelled by `hybridner label "
        "--training-data` into shards of 5,000 documents. One pass over the training "
        "examples, each way in a fresh process; peak resident memory (VmHWM) of that process.",
        "",
        "| N | shards | how the examples are read | examples | seconds | peak RSS MB |",
        "|---|---|---|---|---|---|",
        *[f"| {n:,} | {k} | {title} | {r['examples']:,} | {r['seconds']:.1f} | {r['peak_rss_mb']:,.0f} |"
          for n, k, title, r in rows],
        "",
    ]
    (RESULTS / "train_memory.md").write_text("\n".join(lines), encoding="utf8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
