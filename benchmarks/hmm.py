"""Benchmark the HMM aggregation engines: skweak's implementation against the numpy one.

Run from the repository root::

    python -m benchmarks.hmm [--docs 10000] [--functions NAME ...] [--data ../shared/data]

Builds ``--docs`` documents from the BC5CDR train texts (500 abstracts, repeated as
often as needed: the corpus holds copies, so the HMM sees each abstract several
times), labels them once with the benchmark's first-round labelling functions
(lexicons and ``benchmarks/bc5cdr`` rules; ``--functions`` keeps only the named
ones), then fits and applies ``HMMAggregator`` with each engine on the same
labelled documents and prints a markdown table: wall time of fit and of
aggregation, peak memory, and how much the two outputs agree (tokens with the
same tag, entity-level F1 of one engine's spans against the other's, largest
confidence difference on identical spans).

Memory is the growth of the process's peak resident set during the stage: the
peak (``VmHWM`` in ``/proc/self/status``) is reset to the current resident set
before each engine runs (``/proc/self/clear_refs``), and the figure is the peak
minus the resident set at that moment. It covers everything the stage allocates
(numpy, pandas, Python objects, the span groups written into the documents)
without slowing it down as ``tracemalloc`` would.

Another script can call :func:`measure` on its own labelled documents.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import spacy
from spacy.tokens import Doc

from hybridner.aggregation import ENGINES, HMMAggregator
from hybridner.corpus import make_docs, make_nlp, read_texts
from hybridner.evaluation import score_entities
from hybridner.labelling import apply_functions, load_rules
from hybridner.lexicons import lexicon_functions, load_lexicons

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RULES = ROOT / "benchmarks" / "bc5cdr"

logger = logging.getLogger("hybridner")


# -- memory ------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRSS:
    """Growth of the peak resident set while the ``with`` block runs, in MiB (Linux).

    ``mib`` stays ``None`` where the peak cannot be reset (not Linux, no permission).
    """

    def __enter__(self) -> Self:
        gc.collect()
        self.mib: float | None = None
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._before = _status_kib("VmRSS")
        except OSError:
            self._before = None
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kib("VmHWM")
        if self._before is not None and peak is not None:
            self.mib = (peak - self._before) / 1024


# -- data --------------------------------------------------------------------------------


def build_docs(
    data: Path, n_docs: int, *, functions: Sequence[str] | None = None
) -> tuple[list[Doc], list[str], list[str]]:
    """``n_docs`` labelled BC5CDR train documents: ``(docs, labels, function names)``.

    The 500 train abstracts are labelled once and copied (with their span groups)
    until there are ``n_docs`` documents.
    """
    folder = data / "bc5cdr"
    fns = list(lexicon_functions(load_lexicons(folder / "lexicons").values()))
    fns += load_rules(RULES)
    if functions:
        unknown = sorted(set(functions) - {f.name for f in fns})
        if unknown:
            raise SystemExit(f"unknown function(s) {unknown}; choose among {[f.name for f in fns]}")
        fns = [f for f in fns if f.name in set(functions)]
    nlp = make_nlp("en", tokenizer="fine")
    base = list(apply_functions(fns, make_docs(nlp, read_texts(folder / "train.jsonl"))))
    docs = [base[i % len(base)].copy() if i >= len(base) else base[i] for i in range(n_docs)]
    labels = sorted({label for f in fns for label in f.labels})
    return docs, labels, [f.name for f in fns]


# -- measurements ------------------------------------------------------------------------


def _tags(doc: Doc, key: str) -> list[str]:
    tags = ["O"] * len(doc)
    for span in doc.spans[key]:
        tags[span.start] = "B-" + span.label_
        for i in range(span.start + 1, span.end):
            tags[i] = "I-" + span.label_
    return tags


def compare(docs: Sequence[Doc], reference: str, other: str) -> dict[str, float]:
    """How far the span group ``other`` is from ``reference``: tokens, entities, confidences."""
    tokens = same = 0
    identical_docs = 0
    conf_diff = 0.0
    for doc in docs:
        a, b = _tags(doc, reference), _tags(doc, other)
        tokens += len(a)
        same += sum(x == y for x, y in zip(a, b))
        ga, gb = doc.spans[reference], doc.spans[other]
        if [(s.start, s.end, s.label_) for s in ga] == [(s.start, s.end, s.label_) for s in gb]:
            identical_docs += 1
            diffs = [abs(x - y) for x, y in zip(ga.attrs["confidence"], gb.attrs["confidence"])]
            conf_diff = max([conf_diff, *diffs])
    scores = score_entities(
        [[(s.start, s.end, s.label_) for s in doc.spans[reference]] for doc in docs],
        [[(s.start, s.end, s.label_) for s in doc.spans[other]] for doc in docs],
    )
    return {
        "token_agreement": same / max(tokens, 1),
        "doc_agreement": identical_docs / max(len(docs), 1),
        "entity_f1": scores.f1,
        "max_confidence_diff": conf_diff,
    }


def measure(
    docs: Sequence[Doc],
    labels: Sequence[str],
    sources: Sequence[str],
    *,
    engines: Sequence[str] = ("numpy", "skweak"),
    n_iter: int = 20,
    tol: float = 1e-2,
    max_fit_docs: int | None = None,
    batch_size: int = 1024,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit and apply the HMM with each engine on the same labelled documents.

    Each engine writes the span group ``hmm:<engine>``. Returns per engine the
    seconds of ``fit``, of aggregation and in all, the peak-RSS growth in MiB
    (``None`` where unavailable) and the EM iterations run; and, when two engines
    ran, the agreement of the second and later ones with the first
    (:func:`compare`) and the speed-up of each over ``skweak``.

    >>> result = measure(docs, ["Chemical", "Disease"], names)  # doctest: +SKIP
    >>> result["speedup"]["numpy"]  # doctest: +SKIP
    """
    out: dict[str, Any] = {
        "docs": len(docs),
        "tokens": sum(len(d) for d in docs),
        "functions": len(sources),
        "n_iter": n_iter,
        "max_fit_docs": max_fit_docs,
        "batch_size": batch_size,
        "engines": {},
    }
    for engine in engines:
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r}: choose among {list(ENGINES)}")
        agg = HMMAggregator(
            labels, sources=sources, name=f"hmm:{engine}", n_iter=n_iter, tol=tol,
            max_fit_docs=max_fit_docs, seed=seed, engine=engine,
        )
        with PeakRSS() as memory:
            started = time.perf_counter()
            agg.fit(docs)
            fitted = time.perf_counter()
            for _ in agg.pipe(docs, batch_size=batch_size) if engine == "numpy" else agg.pipe(docs):
                pass
            done = time.perf_counter()
        iterations = getattr(agg.model_, "n_iter_", None)  # skweak does not keep its count
        out["engines"][engine] = {
            "fit_s": fitted - started,
            "aggregate_s": done - fitted,
            "total_s": done - started,
            "peak_rss_mib": memory.mib,
            "em_iterations": iterations,
        }
        logger.info("%s: %.1f s", engine, done - started)
        del agg
    if len(engines) > 1:
        reference = engines[-1] if "skweak" not in engines else "skweak"
        out["reference"] = reference
        out["agreement"] = {
            engine: compare(docs, f"hmm:{reference}", f"hmm:{engine}")
            for engine in engines if engine != reference
        }
        if "skweak" in engines:
            base = out["engines"]["skweak"]
            out["speedup"] = {
                engine: {
                    stage: base[stage] / max(info[stage], 1e-9)
                    for stage in ("fit_s", "aggregate_s", "total_s")
                }
                for engine, info in out["engines"].items() if engine != "skweak"
            }
    return out


def render_markdown(result: dict[str, Any]) -> str:
    """The result of :func:`measure` as a markdown report."""
    def mib(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}"

    fit_on = (
        "all documents" if result["max_fit_docs"] is None
        else f"a sample of {result['max_fit_docs']} documents"
    )
    setup = (
        f"{result['docs']:,} documents ({result['tokens']:,} tokens), {result['functions']} "
        f"labelling functions, up to {result['n_iter']} EM iterations, fit on {fit_on}, "
        f"numpy batches of {result['batch_size']} documents. Python {platform.python_version()}, "
        f"numpy {np.__version__}, spaCy {spacy.__version__}, {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}."
    )
    lines = [
        "# HMM aggregation: skweak vs numpy engine",
        "",
        setup,
        "",
        "| engine | fit s | aggregate s | total s | ms / doc | peak RSS growth MiB | EM iterations |",
        "|---|---|---|---|---|---|---|",
    ]
    for engine, info in result["engines"].items():
        iterations = info["em_iterations"] if info["em_iterations"] is not None else "n/a"
        lines.append(
            f"| {engine} | {info['fit_s']:.2f} | {info['aggregate_s']:.2f} | "
            f"{info['total_s']:.2f} | {1000 * info['total_s'] / max(result['docs'], 1):.3f} | "
            f"{mib(info['peak_rss_mib'])} | {iterations} |"
        )
    for engine, ratios in result.get("speedup", {}).items():
        memory = ""
        mine = result["engines"][engine]["peak_rss_mib"]
        theirs = result["engines"]["skweak"]["peak_rss_mib"]
        if mine is not None and theirs is not None:
            memory = f", peak RSS growth {mine:.0f} vs {theirs:.0f} MiB"
        speed = (
            f"Speed-up of {engine} over skweak: fit {ratios['fit_s']:.1f}x, aggregation "
            f"{ratios['aggregate_s']:.1f}x, total **{ratios['total_s']:.1f}x**{memory}."
        )
        lines += ["", speed]
    for engine, agreement in result.get("agreement", {}).items():
        reference = result["reference"]
        summary = (
            f"Agreement of {engine} with {reference}: "
            f"{100 * agreement['token_agreement']:.3f}% of tokens with the same tag, "
            f"{100 * agreement['doc_agreement']:.2f}% of documents with identical spans, "
            f"entity F1 {agreement['entity_f1']:.4f} (taking {reference} as gold), largest "
            f"confidence difference on identical spans {agreement['max_confidence_diff']:.2g}."
        )
        lines += ["", summary]
    memory_note = (
        "Memory: growth of the peak resident set during fit + aggregation "
        "(VmHWM reset through /proc/self/clear_refs before each engine)."
    )
    lines += ["", memory_note, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hmm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10000, help="number of documents (default 10000)")
    parser.add_argument("--functions", nargs="+", help="keep only these labelling functions")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default: {DEFAULT_DATA}")
    parser.add_argument("--engines", nargs="+", default=["numpy", "skweak"], choices=list(ENGINES))
    parser.add_argument("--n-iter", type=int, default=20)
    parser.add_argument("--max-fit-docs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    if not (args.data / "bc5cdr" / "train.jsonl").is_file():
        print(f"benchmark data not found at {args.data / 'bc5cdr'}; pass --data DIR")
        return 2
    started = time.perf_counter()
    docs, labels, sources = build_docs(args.data, args.docs, functions=args.functions)
    print(f"built and labelled {len(docs)} documents in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    result = measure(
        docs, labels, sources, engines=args.engines, n_iter=args.n_iter,
        max_fit_docs=args.max_fit_docs, batch_size=args.batch_size,
    )
    table = render_markdown(result)
    print(table)
    if args.output:
        args.output.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
