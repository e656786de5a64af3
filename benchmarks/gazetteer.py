"""Benchmark the lexicon gazetteers: scale (COMPANY, 517k terms) and quality (BC5CDR).

Run from the repository root::

    python -m benchmarks.gazetteer [--data ../shared/data]

Prints a markdown table and writes it to ``benchmarks/results/gazetteer.md``.
Memory is read from the operating system: the growth of the process's resident set
(``/proc/self/statm``) while one matcher is built, and the peak resident set
(``resource.getrusage(...).ru_maxrss``) at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import resource
import sys
import time
from functools import partial
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

from hybridner.evaluation import score_entities
from hybridner.lexicons import Gazetteer, lexicon_functions, load_lexicons, match_longest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "gazetteer.md"
MIN_SECONDS = 2.0  # repeat the wikigold texts until a measurement lasts this long


def current_rss() -> int:
    """Resident set size now, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def peak_rss() -> int:
    """Peak resident set size so far, in bytes (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fine_tokenizer(nlp: Language) -> Language:
    """Also split on brackets, '/', '+', '=' and on every hyphen (as a regex matcher would)."""
    infixes = list(nlp.Defaults.infixes) + [r"[()\[\]/+=]", r"(?<=[^\W\d_])\.(?=[^\W\d_\s])", r"-"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.tokenizer.suffix_search = compile_suffix_regex(list(nlp.Defaults.suffixes) + [r"\.$", r"-$"]).search
    nlp.tokenizer.prefix_search = compile_prefix_regex(list(nlp.Defaults.prefixes) + [r"^-"]).search
    return nlp


def timed_repeat(func, n_items: int) -> tuple[float, int]:
    """Run ``func`` until MIN_SECONDS have passed; return (seconds, items processed)."""
    rounds = 0
    started = time.perf_counter()
    while True:
        func()
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_SECONDS:
            return elapsed, rounds * n_items


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def scale(data: Path, rows: list[tuple[str, str]]) -> None:
    lexicon_path = data / "wikigold" / "lexicons" / "COMPANY.txt"
    started = time.perf_counter()
    lexicon = load_lexicons(lexicon_path)["COMPANY"]
    load_s = time.perf_counter() - started
    n_terms = len(lexicon)
    rows.append(("COMPANY terms loaded (unique, cleaned)", f"{n_terms:,}"))
    rows.append(("load_lexicons time", f"{load_s:.2f} s"))

    texts = [r["text"] for r in read_jsonl(data / "wikigold" / "train.jsonl")]
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in texts]
    n_tokens = sum(len(d) for d in docs)
    seconds, n = timed_repeat(lambda: [nlp.make_doc(t) for t in texts], n_tokens)
    rows.append(
        (f"spacy.blank('en') tokenisation, wikigold train ({len(texts)} texts, {n_tokens:,} tokens)",
         f"{n / seconds:,.0f} tokens/s")
    )

    for case_sensitive in (True, False):
        kind = "cased" if case_sensitive else "uncased"
        gc.collect()
        before = current_rss()
        started = time.perf_counter()
        gazetteer = Gazetteer(lexicon, case_sensitive=case_sensitive)
        build_s = time.perf_counter() - started
        gc.collect()
        delta = current_rss() - before
        rows.append((f"{kind}: matcher build time ({gazetteer.n_keys:,} keys)", f"{build_s:.2f} s"))
        rows.append(
            (f"{kind}: RSS growth during build (/proc/self/statm)",
             f"{delta / 2**20:.0f} MiB = {delta / n_terms:.0f} bytes/term")
        )
        n_spans = sum(len(found) for found in gazetteer.find_many(docs))
        seconds, n = timed_repeat(partial(gazetteer.find_many, docs), n_tokens)
        rows.append(
            (f"{kind}: matching speed, `find_many` on pre-tokenised docs ({n_spans} matches per pass)",
             f"{n / seconds:,.0f} tokens/s")
        )
        started = time.perf_counter()
        payload = pickle.dumps(gazetteer)
        dump_s = time.perf_counter() - started
        started = time.perf_counter()
        pickle.loads(payload)
        load_back_s = time.perf_counter() - started
        rows.append(
            (f"{kind}: pickle round trip (terms, matcher rebuilt on load)",
             f"{len(payload) / 2**20:.1f} MiB, dump {dump_s:.2f} s, load {load_back_s:.2f} s")
        )
        del gazetteer, payload
    rows.append(("peak RSS of the process (getrusage ru_maxrss)", f"{peak_rss() / 2**20:.0f} MiB"))


def quality(data: Path, rows: list[tuple[str, str]]) -> None:
    folder = data / "bc5cdr"
    lexicons = load_lexicons(folder / "lexicons")
    records = read_jsonl(folder / "test.jsonl")
    gold = [[tuple(e) for e in r["entities"]] for r in records]
    for tokenizer, nlp in (("spacy.blank('en')", spacy.blank("en")),
                           ("blank + split on ()[]/+=-", fine_tokenizer(spacy.blank("en")))):
        docs = [nlp.make_doc(r["text"]) for r in records]
        for case_sensitive in (False, True):
            functions = lexicon_functions(lexicons, cased=case_sensitive, uncased=not case_sensitive)
            predicted = [
                [(s.start_char, s.end_char, s.label_) for s in match_longest(functions, doc)]
                for doc in docs
            ]
            scores = score_entities(gold, predicted)
            kind = "cased" if case_sensitive else "uncased"
            rows.append(
                (f"BC5CDR test, {kind} longest match, tokens: {tokenizer}",
                 f"P {100 * scores.precision:.1f} / R {100 * scores.recall:.1f} / F1 {100 * scores.f1:.2f}")
            )


def main(argv: list[str] | None = None) -> int:
    # this benchmark measures building the matchers: never load them from the cache
    os.environ["HYBRIDNER_CACHE_DIR"] = "off"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default: {DEFAULT_DATA}")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    needed = [args.data / "wikigold" / "lexicons" / "COMPANY.txt", args.data / "bc5cdr" / "test.jsonl"]
    absent = [str(p) for p in needed if not p.is_file()]
    if absent:
        sys.exit(f"benchmark data not found: {', '.join(absent)}; pass --data DIR (the shared data folder)")

    rows: list[tuple[str, str]] = []
    scale(args.data, rows)
    quality(args.data, rows)
    lines = [
        "# Gazetteer benchmark",
        "",
        f"Python {platform.python_version()}, spaCy {spacy.__version__}, {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}. Matching speed excludes tokenisation; texts are repeated "
        f"until each speed measurement lasts {MIN_SECONDS:.0f} s.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ]
    table = "\n".join(lines)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table, encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
