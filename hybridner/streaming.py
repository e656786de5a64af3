"""Weak labelling of corpora of any size, in bounded memory, on several processes.

:func:`label_corpus` is the streaming form of :func:`hybridner.weak_label`:

1. the aggregator is fitted on a seeded random sample of at most
   ``max_fit_docs`` documents (reservoir sampling over one pass of the corpus);
2. the corpus is read again in batches; each batch is tokenised, labelled and
   aggregated, in ``n_process`` worker processes when asked, and comes back as
   compact records (never spaCy ``Doc`` objects, whose transfer between processes
   costs more than labelling them);
3. the records are written in corpus order to ``weak.jsonl`` and, optionally,
   the training documents to DocBin shards that ``spacy train`` reads as a folder.

Only the fit sample and a few batches are in memory at any time. Outputs are
written under temporary names and renamed into place at the end. The result is
the same for any ``n_process`` and ``batch_size``: documents are labelled one by
one with the same fitted model, and come back in order.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from spacy.tokens import DocBin

from .bootstrap import (
    AGGREGATED,
    WeakLabels,
    _fit_aggregators,
    _functions,
    _hmm_options,
    _labels_of,
    _load_candidates,
)
from .corpus import (
    atomic_open,
    check_output_path,
    json_line,
    make_docs,
    make_nlp,
    read_texts,
    to_training_doc,
    weak_record,
)
from .errors import CorpusError, HybridNERError, OutputError
from .labelling import _chunks, apply_functions

__all__ = ["LabelSummary", "label_corpus", "ordered_map", "sample_records"]

logger = logging.getLogger("hybridner")

DOCBIN_ATTRS = ["ORTH", "SPACY", "ENT_IOB", "ENT_TYPE"]


@dataclass
class LabelSummary:
    """What :func:`label_corpus` wrote and measured."""

    documents: int
    tokens: int
    out: Path
    shards: list[Path] = field(default_factory=list)
    fit_documents: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def sample_records(
    records: Iterable[dict[str, Any]], size: int, *, seed: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A seeded uniform sample of at most ``size`` records, in corpus order, and the count.

    Reservoir sampling: one pass, memory bounded by ``size``.

    >>> sample, n = sample_records(({"text": str(i)} for i in range(100)), 3, seed=0)
    >>> len(sample), n
    (3, 100)
    """
    if size < 1:
        raise HybridNERError(f"max_fit_docs must be at least 1, got {size}")
    rng = random.Random(seed)
    reservoir: list[tuple[int, dict[str, Any]]] = []
    count = 0
    for count, record in enumerate(records, start=1):
        if len(reservoir) < size:
            reservoir.append((count, record))
        else:
            j = rng.randrange(count)
            if j < size:
                reservoir[j] = (count, record)
    reservoir.sort(key=lambda item: item[0])
    return [record for _, record in reservoir], count


def _batches(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of the records' ids and texts (other fields are not sent to workers)."""
    return _chunks(({"id": r["id"], "text": r["text"]} for r in records), size)


# ------------------------------------------------------------------ worker side

#: The labelling job of this process (set in the parent before forking, or by
#: the pool initializer under "spawn").
_JOB: _LabelJob | None = None


@dataclass
class _LabelJob:
    """Everything a worker needs to label and aggregate a batch."""

    weak: WeakLabels
    candidates: list[str]
    min_confidence: float
    training: bool

    def __call__(self, batch: list[dict[str, Any]]) -> tuple[list[str], bytes | None, int]:
        """Label one batch: its weak.jsonl lines, its training DocBin bytes, its tokens."""
        weak = self.weak
        docs = make_docs(weak.nlp, batch)
        docs = apply_functions(weak.candidates, docs, log_every=0) if weak.candidates else docs
        lines, n_tokens = [], 0
        docbin = DocBin(attrs=DOCBIN_ATTRS, store_user_data=False) if self.training else None
        for doc in weak.label(docs):
            n_tokens += len(doc)
            lines.append(json_line(weak_record(
                doc, weak.function_names, aggregated=AGGREGATED, candidates=self.candidates,
            )))
            if docbin is not None and len(doc):
                docbin.add(to_training_doc(
                    doc, aggregated=AGGREGATED, candidates=self.candidates,
                    min_confidence=self.min_confidence,
                ))
        return lines, None if docbin is None else docbin.to_bytes(), n_tokens


def _init_worker(job: _LabelJob | None) -> None:
    global _JOB
    if job is not None:
        _JOB = job
    # workers must not each use several BLAS threads on a shared machine
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_job(batch: list[dict[str, Any]]) -> tuple[list[str], bytes | None, int]:
    assert _JOB is not None, "worker started without a labelling job"
    return _JOB(batch)


def ordered_map(
    function: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    n_process: int = 1,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    max_pending: int | None = None,
) -> Iterator[Any]:
    """``map(function, items)`` on ``n_process`` worker processes, in order, lazily.

    Unlike ``Pool.imap``, at most ``max_pending`` items (default ``2 * n_process``)
    are read ahead, so a huge input stream is never loaded whole. With
    ``n_process=1`` everything runs in this process.
    """
    if n_process < 1:
        raise HybridNERError(f"n_process must be at least 1, got {n_process}")
    if n_process == 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, items)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    limit = max_pending or 2 * n_process
    with context.Pool(n_process, initializer=initializer, initargs=initargs) as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.apply_async(function, (item,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# ------------------------------------------------------------------ the job


def label_corpus(
    lexicons: str | Path,
    *,
    corpus: str | Path,
    out: str | Path,
    rules: str | Path | None = None,
    candidates: str | Path | None = None,
    lang: str = "en",
    aggregator: Literal["hmm", "majority"] = "hmm",
    seed: int = 0,
    tokenizer: Literal["fine", "spacy"] = "fine",
    label_map: Mapping[str, str] | None = None,
    doc_level: bool = False,
    default_rules: bool = True,
    n_process: int = 1,
    batch_size: int = 1000,
    max_fit_docs: int = 10_000,
    training_data: str | Path | None = None,
    min_confidence: float = 0.5,
    hmm_engine: Literal["numpy", "skweak"] = "numpy",
    aggregator_options: Mapping[str, Any] | None = None,
    on_fitted: Callable[[WeakLabels], None] | None = None,
) -> LabelSummary:
    """Weakly label a corpus of any size; write ``weak.jsonl`` (and training shards).

    The settings are those of :func:`hybridner.weak_label`. The aggregator is
    fitted on a seeded sample of ``max_fit_docs`` documents; labelling and
    aggregation then stream over the corpus in batches of ``batch_size``, on
    ``n_process`` processes. ``training_data`` names a folder to receive the
    training documents (confident aggregated spans as entities, uncertain and
    candidate regions missing) as DocBin shards, one per batch: give it to
    ``spacy train`` as ``--paths.train``. ``on_fitted`` is called with the fitted
    labels (the sample documents) before the corpus is streamed.

    >>> summary = label_corpus("lexicons/", corpus="big.jsonl", out="weak.jsonl", n_process=2)  # doctest: +SKIP
    """
    if aggregator not in ("hmm", "majority"):
        raise HybridNERError(f"aggregator {aggregator!r}: use 'hmm' or 'majority'")
    if batch_size < 1:
        raise HybridNERError(f"batch_size must be at least 1, got {batch_size}")
    if n_process < 1:
        raise HybridNERError(f"n_process must be at least 1, got {n_process}")
    out = check_output_path(out, what="weak.jsonl")
    if out.is_dir() and not out.is_symlink():
        raise OutputError(f"{out}: is a folder; give a file name for weak.jsonl")
    if not out.parent.is_dir():
        raise OutputError(f"{out}: the folder {out.parent} does not exist; create it first")
    shards_dir = None if training_data is None else check_output_path(training_data, what="--training-data")
    if shards_dir is not None and shards_dir.is_symlink():
        raise OutputError(
            f"{shards_dir}: is a symbolic link; hybridner does not write through links: give a "
            "real folder for --training-data"
        )
    if shards_dir is not None and shards_dir.exists() and not shards_dir.is_dir():
        raise OutputError(f"{shards_dir}: exists and is not a folder; choose another folder")
    timings: dict[str, float] = {}

    started = time.perf_counter()
    functions, labels = _functions(lexicons, rules, default_rules=default_rules, label_map=label_map)
    candidate_fns = [f for f in functions if f.candidate]
    functions = [f for f in functions if not f.candidate]
    if candidates is not None:
        candidate_fns.append(_load_candidates(candidates))
    nlp = make_nlp(lang, tokenizer=tokenizer)
    timings["load_functions"] = time.perf_counter() - started

    started = time.perf_counter()
    sample, n_records = sample_records(read_texts(corpus), max_fit_docs, seed=seed)
    if not sample:
        raise CorpusError(
            f"{corpus}: the corpus holds no documents; add documents (.txt: one per line, "
            ".jsonl: one {\"text\": ...} object per line) or check --corpus"
        )
    docs = list(apply_functions(functions + candidate_fns, make_docs(nlp, sample)))
    labels = _labels_of(labels, docs, functions)
    first_round, doc_functions, model = _fit_aggregators(
        docs, [f.name for f in functions], labels, aggregator=aggregator, seed=seed,
        doc_level=doc_level, **(_hmm_options(aggregator, hmm_engine) | dict(aggregator_options or {})),
    )
    weak = WeakLabels(
        nlp, docs, functions, model, labels, candidate_fns, {},
        first_round=first_round, document_functions=doc_functions,
    )
    timings["fit"] = time.perf_counter() - started
    logger.info(
        "fitted the %s aggregator on %d of %d documents", aggregator, len(docs), n_records,
    )
    if on_fitted is not None:
        on_fitted(weak)
    n_fit = len(docs)
    weak.docs = []  # the sample is not needed any more, nor copied into the workers
    del docs, sample

    job = _LabelJob(
        weak, [f.name for f in candidate_fns], min_confidence, training=shards_dir is not None
    )
    global _JOB
    started = time.perf_counter()
    n_docs = n_tokens = 0
    shards: list[Path] = []
    tmp_shards = None
    if shards_dir is not None:
        shards_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_shards = Path(tempfile.mkdtemp(prefix=f".{shards_dir.name}.tmp-", dir=shards_dir.parent))
    previous, _JOB = _JOB, job
    try:
        with atomic_open(out) as handle:
            batches = _batches(read_texts(corpus), batch_size)
            # with "fork" the workers inherit the job; "spawn" pickles it once per worker
            initargs = (None,) if "fork" in multiprocessing.get_all_start_methods() else (job,)
            for number, (lines, docbin, tokens) in enumerate(ordered_map(
                _run_job, batches, n_process=n_process, initializer=_init_worker,
                initargs=initargs,
            )):
                for line in lines:
                    handle.write(line + "\n")
                if docbin is not None and tmp_shards is not None:
                    shard = tmp_shards / f"shard-{number:06d}.spacy"
                    shard.write_bytes(docbin)
                    shards.append(shards_dir / shard.name)  # type: ignore[operator]
                n_docs += len(lines)
                n_tokens += tokens
                elapsed = max(time.perf_counter() - started, 1e-9)
                logger.info(
                    "labelled %d of %d documents (%.0f docs/s, %.0f tokens/s)",
                    n_docs, n_records, n_docs / elapsed, n_tokens / elapsed,
                )
        if tmp_shards is not None and shards_dir is not None:
            if shards_dir.exists():
                shutil.rmtree(shards_dir)
            tmp_shards.rename(shards_dir)
    except BaseException:
        if tmp_shards is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp_shards)
        raise
    finally:
        _JOB = previous
    timings["label_and_aggregate"] = time.perf_counter() - started
    return LabelSummary(n_docs, n_tokens, out, shards, n_fit, timings)
