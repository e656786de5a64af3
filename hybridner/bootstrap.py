"""The whole pipeline as importable functions.

:func:`weak_label` runs the labelling functions and the aggregator over a corpus;
:func:`bootstrap` goes on to train a spaCy model, score it and write a run folder::

    RUN/model/            the trained spaCy pipeline (spacy.load opens it)
    RUN/config.cfg        the commented training config (spacy train reproduces the run)
    RUN/corpus/           train.spacy and dev.spacy, the training data of config.cfg
    RUN/weak.jsonl        per document: each function's spans, the aggregated spans
    RUN/aggregator.json   the fitted aggregator
    RUN/report.json, RUN/report.md   functions, aggregated labels, dev scores, timings
    RUN/report.html       the same, browsable: rule diagnostics, charts, documents

The run folder is written under a temporary name and renamed into place at the
end, so ``RUN`` is either the complete new run, the previous one, or absent;
temporary folders a killed run left behind are removed by the next run. Stage
outputs are kept in a cache (:mod:`hybridner.stagecache`) so that a rerun redoes
only what changed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from spacy.language import Language
from spacy.tokens import Doc

from .aggregation import HMMAggregator, MajorityAggregator
from .corpus import (
    atomic_open,
    check_output_path,
    gold_docs,
    make_nlp,
    read_gold,
    read_texts,
    replace_mentions,
    to_training_doc,
    weak_record,
    write_jsonl,
)
from .doclevel import document_functions
from .errors import CorpusError, HybridNERError, OutputError
from .evaluation import evaluate_on_gold, gold_layers
from .htmlreport import write_report_html
from .inference import ModelFunction
from .labelling import CANDIDATE, LabellingFunction, _chunks, apply_functions, load_rules
from .lexicons import (
    Gazetteer,
    Lexicon,
    lexicon_functions,
    load_lexicons,
    rename_labels,
)
from .report import build_report, render_report_md
from .stagecache import (
    StageCache,
    cached_train_model,
    default_cache_dir,
    is_stale,
    label_documents,
    tmp_name,
)
from .training import train_on_shards
from .vectors import check_vectors, require_floret, train_floret_vectors

__all__ = [
    "WeakLabels",
    "BootstrapResult",
    "weak_label",
    "bootstrap",
    "example_paths",
    "train_shards",
    "TrainResult",
]

logger = logging.getLogger("hybridner")

CANDIDATES = "candidates"
AGGREGATED = "aggregated"
FLORET = "floret"
FIRST_ROUND = "aggregated:first"


def example_paths() -> dict[str, Path]:
    """Where the embedded sample corpus and its hand-annotated dev set are."""
    root = Path(str(resources.files("hybridner").joinpath("example")))
    return {"corpus": root / "corpus.jsonl", "dev": root / "dev.jsonl"}


@dataclass
class WeakLabels:
    """The labelled, aggregated corpus produced by :func:`weak_label`."""

    nlp: Language
    docs: list[Doc]
    functions: list[LabellingFunction]
    aggregator: HMMAggregator | MajorityAggregator
    labels: list[str]
    candidates: list[LabellingFunction] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    first_round: HMMAggregator | MajorityAggregator | None = None
    document_functions: list[LabellingFunction] = field(default_factory=list)
    #: the labelling functions run, and those whose spans came from the stage cache
    cache: dict[str, list[str]] = field(default_factory=dict)

    @property
    def function_names(self) -> list[str]:
        """Every labelling function whose spans the aggregator weighs."""
        return [f.name for f in self.functions + self.document_functions]

    def add_function(self, function: LabellingFunction) -> Callable[[], None]:
        """Add a labelling function, refit the aggregator and re-aggregate the corpus.

        Returns a function that undoes the change.
        """
        previous_functions, previous_aggregator = list(self.functions), self.aggregator
        for doc in self.docs:
            function(doc)
        self.functions.append(function)
        options = {}
        if isinstance(previous_aggregator, HMMAggregator):
            options = {"engine": previous_aggregator.engine,
                       "max_fit_docs": previous_aggregator.max_fit_docs}
        self.aggregator = _make_aggregator(
            previous_aggregator.kind, self.labels, self.function_names, AGGREGATED,
            getattr(previous_aggregator, "seed", 0), **options,
        ).fit(self.docs)
        for _doc in self.aggregator.pipe(self.docs):
            pass

        def undo() -> None:
            self.functions[:] = previous_functions
            self.aggregator = previous_aggregator
            for _doc in previous_aggregator.pipe(self.docs):
                pass

        return undo

    def label(self, docs: Iterable[Doc], *, batch_size: int = 1024) -> Iterator[Doc]:
        """Label and aggregate new documents exactly as the corpus was, lazily, in batches."""
        labelled = apply_functions(self.functions, docs, batch_size=batch_size)
        for chunk in _chunks(labelled, batch_size):
            if self.first_round is not None:
                for doc in self.first_round.pipe(chunk):
                    for function in self.document_functions:
                        function(doc)
            yield from self.aggregator.pipe(chunk)

    def records(self) -> list[dict[str, Any]]:
        """The ``weak.jsonl`` records."""
        return [
            weak_record(
                doc, self.function_names, aggregated=AGGREGATED,
                candidates=[f.name for f in self.candidates],
            )
            for doc in self.docs
        ]


def _load_candidates(path: str | Path) -> Gazetteer:
    lexicons = load_lexicons(path)
    terms: list[str] = []
    for lexicon in lexicons.values():
        terms.extend(lexicon.terms)
    lexicon = Lexicon(CANDIDATE, list(dict.fromkeys(terms)), str(path))
    gazetteer = Gazetteer(lexicon, case_sensitive=False, name=CANDIDATES)
    gazetteer.candidate = True
    return gazetteer


def _functions(
    lexicons: str | Path,
    rules: str | Path | None,
    *,
    default_rules: bool,
    label_map: Mapping[str, str] | None = None,
) -> tuple[list[LabellingFunction], list[str]]:
    loaded = load_lexicons(lexicons)
    if label_map:
        loaded = rename_labels(loaded, label_map)
    functions: list[LabellingFunction] = list(lexicon_functions(loaded.values()))
    rules_path = rules
    if rules_path is None and default_rules:
        beside = Path(lexicons).resolve().parent / "rules"
        if beside.is_dir() and any(beside.glob("*.py")):
            rules_path = beside
            logger.info("using the rules beside the lexicons: %s", beside)
    if rules_path is not None:
        functions.extend(load_rules(rules_path))
    if not functions:
        raise HybridNERError(
            f"{lexicons}: no labelling function to run: the label map leaves out every "
            "lexicon and no rule was given; pass --rules or keep a lexicon"
        )
    names = [f.name for f in functions]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise HybridNERError(f"labelling function names used twice: {clashes}; rename them")
    labels = sorted({label for f in functions if not f.candidate for label in f.labels})
    return functions, labels


def weak_label(
    lexicons: str | Path,
    *,
    corpus: str | Path,
    rules: str | Path | None = None,
    candidates: str | Path | None = None,
    lang: str = "en",
    aggregator: Literal["hmm", "majority"] = "hmm",
    seed: int = 0,
    tokenizer: Literal["fine", "spacy"] = "fine",
    label_map: Mapping[str, str] | None = None,
    doc_level: bool = False,
    default_rules: bool = True,
    hmm_engine: Literal["numpy", "skweak"] = "numpy",
    n_process: int = 1,
    cache_dir: str | Path | None = None,
) -> WeakLabels:
    """Apply lexicons, rules and candidates to a corpus and aggregate their votes.

    ``rules`` defaults to a ``rules/`` folder beside the lexicon folder, when there
    is one (``default_rules=False`` turns that off). ``tokenizer="fine"`` splits
    tokens on more punctuation than spaCy does (see
    :func:`hybridner.corpus.refine_tokenizer`); ``"spacy"`` keeps spaCy's rules.
    ``label_map`` renames lexicon labels to the task's (see
    :func:`hybridner.lexicons.rename_labels`). ``doc_level`` adds a second
    aggregation round in which document-level functions vote (see
    :mod:`hybridner.doclevel`). ``hmm_engine`` picks the HMM's implementation:
    hybridner's vectorised ``"numpy"`` one or skweak's own (same model, same output).
    ``n_process`` worker processes run the labelling functions (the result does
    not depend on it). With ``cache_dir``, each function's spans are kept in that
    stage cache and read back when the function and the corpus are unchanged
    (see :mod:`hybridner.stagecache`).

    >>> weak = weak_label("lexicons/", corpus="texts.jsonl")  # doctest: +SKIP
    >>> weak.docs[0].spans["aggregated"]  # doctest: +SKIP
    """
    if aggregator not in ("hmm", "majority"):
        raise HybridNERError(f"aggregator {aggregator!r}: use 'hmm' or 'majority'")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    functions, labels = _functions(
        lexicons, rules, default_rules=default_rules, label_map=label_map
    )
    candidate_fns = [f for f in functions if f.candidate]
    functions = [f for f in functions if not f.candidate]
    if candidates is not None:
        candidate_fns.append(_load_candidates(candidates))
    timings["load_functions"] = time.perf_counter() - started

    nlp = make_nlp(lang, tokenizer=tokenizer)
    started = time.perf_counter()
    all_functions = functions + candidate_fns
    docs, stats = label_documents(
        all_functions, list(read_texts(corpus)), nlp, n_process=n_process,
        cache=None if cache_dir is None else StageCache(cache_dir),
        settings={"lang": lang, "tokenizer": tokenizer},
    )
    if not docs:
        raise CorpusError(
            f"{corpus}: the corpus holds no documents; add documents (.txt: one per line, "
            ".jsonl: one {\"text\": ...} object per line) or check --corpus"
        )
    timings["labelling"] = time.perf_counter() - started
    logger.info("labelled %d documents with %d functions", len(docs), len(all_functions))

    started = time.perf_counter()
    labels = _labels_of(labels, docs, functions)
    first_round, doc_functions, model = _fit_aggregators(
        docs, [f.name for f in functions], labels, aggregator=aggregator, seed=seed,
        doc_level=doc_level, **_hmm_options(aggregator, hmm_engine),
    )
    timings["aggregation"] = time.perf_counter() - started
    return WeakLabels(
        nlp, docs, functions, model, labels, candidate_fns, timings,
        first_round=first_round, document_functions=doc_functions,
        cache={"run": stats.run, "reused": stats.reused},
    )


def _hmm_options(aggregator: str, engine: str) -> dict[str, Any]:
    return {"engine": engine} if aggregator == "hmm" else {}


def _labels_of(
    labels: list[str], docs: list[Doc], functions: list[LabellingFunction]
) -> list[str]:
    """The task's labels: those the functions declare, else those their spans carry."""
    if not labels:
        sources = [f.name for f in functions]
        labels = sorted({s.label_ for d in docs for n in sources for s in d.spans.get(n, [])})
    if not labels:
        raise HybridNERError(
            "no labels: the lexicons are empty and no rule produced a labelled span"
        )
    return labels


def _fit_aggregators(
    docs: list[Doc],
    sources: list[str],
    labels: list[str],
    *,
    aggregator: str,
    seed: int,
    doc_level: bool,
    **options: Any,
) -> tuple[Any, list[LabellingFunction], HMMAggregator | MajorityAggregator]:
    """Fit the aggregator (and, with ``doc_level``, the first round) on labelled docs.

    The documents are aggregated on the way (the document-level functions read
    the first round's spans). Returns ``(first_round, document_functions, model)``.
    """
    first_round = None
    doc_functions: list[LabellingFunction] = []
    if doc_level:
        first_round = _make_aggregator(
            aggregator, labels, sources, FIRST_ROUND, seed, **options
        ).fit(docs)
        doc_functions = document_functions(source=FIRST_ROUND)
        for doc in first_round.pipe(docs):
            for function in doc_functions:
                function(doc)
        sources = sources + [f.name for f in doc_functions]
    model = _make_aggregator(aggregator, labels, sources, AGGREGATED, seed, **options).fit(docs)
    for _doc in model.pipe(docs):
        pass
    return first_round, doc_functions, model


def _make_aggregator(
    kind: str, labels: list[str], sources: list[str], name: str, seed: int, **options: Any
) -> HMMAggregator | MajorityAggregator:
    if kind == "hmm":
        return HMMAggregator(labels, sources=sources, name=name, seed=seed, **options)
    return MajorityAggregator(labels, sources=sources, name=name)  # nothing to set


@dataclass
class BootstrapResult:
    """What :func:`bootstrap` wrote and measured."""

    out: Path
    model_path: Path
    report: dict[str, Any]
    weak: WeakLabels | None = field(default=None, repr=False)
    nlp: Language | None = field(default=None, repr=False)

    @property
    def dev_scores(self) -> dict[str, Any]:
        return self.report["dev"]


def _check_output(out: Path, overwrite: bool) -> None:
    check_output_path(out, what="the run folder")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; choose another --out")
    if out.exists() and not overwrite:
        raise OutputError(
            f"{out}: the output folder already exists; pass --overwrite to replace it "
            "or choose another --out"
        )
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; give a real folder for --out")


def _training_docs(weak: WeakLabels, min_confidence: float) -> list[tuple[int, Doc]]:
    """Training documents from the aggregated spans, with the corpus index of each."""
    key = [f.name for f in weak.candidates]
    return [
        (i, to_training_doc(doc, aggregated=AGGREGATED, candidates=key, min_confidence=min_confidence))
        for i, doc in enumerate(weak.docs)
        if len(doc)
    ]


def _replacement_terms(weak: WeakLabels, seed: int, per_label: int = 3000) -> dict[str, list[Doc]]:
    """Replacement mentions per label: lexicon terms and confidently labelled mentions.

    A seeded sample of at most ``per_label`` strings per label, tokenised.
    """
    rng = random.Random(seed)
    terms: dict[str, set[str]] = {}
    for function in weak.functions:
        if isinstance(function, Gazetteer) and not function.case_sensitive:
            terms.setdefault(function.label, set()).update(function.lexicon.terms)
    for doc in weak.docs:
        group = doc.spans[AGGREGATED]
        for span, confidence in zip(group, group.attrs.get("confidence", [])):
            if confidence >= 0.9:
                terms.setdefault(span.label_, set()).add(span.text)
    out = {}
    for label, found in terms.items():
        items = sorted(found)
        if len(items) > per_label:
            items = rng.sample(items, per_label)
        out[label] = [weak.nlp.make_doc(t) for t in items]
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_folder(tmp: Path, out: Path) -> None:
    """Move the finished run into place; the old run is removed only after."""
    old = None
    if out.exists():
        old = out.parent / tmp_name(f".{out.name}.old")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _clean_interrupted(out: Path) -> None:
    """Tidy what a killed run left beside ``out``.

    Its temporary run folders are removed. A run killed between the two renames
    of :func:`_replace_folder` left the previous run under its ``.old`` name and
    no ``out``: the previous run is put back.
    """
    if not out.parent.is_dir():
        return
    left = [p for p in out.parent.iterdir()
            if p.name.startswith((f".{out.name}.tmp-", f".{out.name}.old.tmp-")) and is_stale(p)]
    for path in sorted(left, key=lambda p: p.stat().st_mtime, reverse=True):
        if ".old.tmp-" in path.name and not out.exists():
            logger.warning("%s: restoring the previous run, left by an interrupted run", out)
            path.rename(out)
            continue
        logger.info("removing %s, left by an interrupted run", path)
        shutil.rmtree(path, ignore_errors=True)


def bootstrap(
    lexicons: str | Path,
    *,
    rules: str | Path | None = None,
    candidates: str | Path | None = None,
    corpus: str | Path | None = None,
    dev: str | Path | None = None,
    gold: str | Path | None = None,
    out: str | Path = "runs/bootstrap",
    lang: str = "en",
    aggregator: Literal["hmm", "majority"] = "hmm",
    seed: int = 0,
    max_epochs: int = 30,
    min_confidence: float = 0.5,
    holdout: float = 0.1,
    tokenizer: Literal["fine", "spacy"] = "fine",
    label_map: Mapping[str, str] | None = None,
    doc_level: bool = False,
    augment: float = 0.0,
    self_training: int = 0,
    vectors: str | Path | None = None,
    hmm_engine: Literal["numpy", "skweak"] = "numpy",
    default_rules: bool = True,
    html: bool = True,
    overwrite: bool = False,
    n_process: int = 1,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> BootstrapResult:
    """Weakly label a corpus, train a spaCy NER model on it and score it.

    Without ``corpus`` the embedded sample corpus is used (and, without ``dev``,
    its hand-annotated dev set). Without ``dev`` a seeded ``holdout`` share of the
    weakly labelled documents selects the best model instead. ``gold`` documents
    are hand-annotated examples mixed into training.

    Levers: ``doc_level`` adds document consistency and abbreviation votes;
    ``augment`` adds, for that share of the training documents, a copy whose
    entities are swapped for other mentions of their label, from the lexicons and
    the confidently labelled corpus (mention replacement); ``self_training``
    rounds add the trained model as a labelling function, re-aggregate and
    retrain, keeping a round only when dev F1 improves (needs ``dev``);
    ``vectors="floret"`` trains floret word vectors on the corpus texts for the
    model (needs the ``floret`` package; see :mod:`hybridner.vectors`), and a path
    uses existing spaCy vectors.

    ``report.json`` holds the rule diagnostics (:mod:`hybridner.diagnostics`);
    ``html`` also writes them as a self-contained ``report.html``.

    ``n_process`` worker processes run the labelling functions. Stage outputs
    (each function's spans, the trained model) are kept in ``cache_dir``
    (default: :func:`hybridner.stagecache.default_cache_dir`, in the user's cache
    folder) and reused when their inputs
    are unchanged (see :mod:`hybridner.stagecache`); ``cache=False`` neither
    reads nor writes it. The outputs are the same with and without the cache,
    and for any ``n_process``.

    >>> result = bootstrap("lexicons/", out="runs/v1")  # doctest: +SKIP
    >>> result.report["dev"]["model"]["f1"]  # doctest: +SKIP
    """
    total_started = time.perf_counter()
    settings_vectors = vectors
    out = Path(out)
    _clean_interrupted(out)
    _check_output(out, overwrite)
    if n_process < 1:
        raise HybridNERError(f"n_process must be at least 1, got {n_process}")
    stage_cache = None
    if cache:
        folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
        stage_cache = None if folder is None else StageCache(folder)
    if corpus is None:
        sample = example_paths()
        corpus = sample["corpus"]
        if dev is None:
            dev = sample["dev"]
        logger.warning(
            "no corpus given: using the embedded sample corpus %s (pass --corpus for your own)",
            corpus,
        )
    if vectors is not None and str(vectors) == FLORET:
        require_floret()
    elif vectors is not None:
        vectors = check_vectors(vectors)
    dev_gold = read_gold(dev) if dev is not None else None
    extra_gold = read_gold(gold) if gold is not None else []

    weak = weak_label(
        lexicons, corpus=corpus, rules=rules, candidates=candidates, lang=lang,
        aggregator=aggregator, seed=seed, tokenizer=tokenizer, label_map=label_map,
        doc_level=doc_level, default_rules=default_rules, hmm_engine=hmm_engine,
        n_process=n_process, cache_dir=None if stage_cache is None else stage_cache.root,
    )
    timings = dict(weak.timings)
    reused_models: list[bool] = []

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_name(f".{out.name}") + "-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        started = time.perf_counter()
        if dev_gold is not None:
            dev_docs = gold_docs(weak.nlp, dev_gold)
            held: set[int] = set()
            dev_source = str(dev)
        else:
            order = [i for i, doc in enumerate(weak.docs) if len(doc)]
            random.Random(seed).shuffle(order)
            n_dev = max(1, int(len(order) * holdout))
            if len(order) - n_dev < 1:
                raise CorpusError(
                    f"{corpus}: {len(order)} document(s) are too few to hold some out for "
                    "model selection; add documents or pass --dev"
                )
            held = set(order[:n_dev])
            dev_source = f"{n_dev} held-out weakly labelled documents (seed {seed})"
        extra = gold_docs(weak.nlp, extra_gold)
        # hand-annotated texts supersede their weakly labelled copies in the corpus,
        # and dev texts must not be trained on at all
        annotated = {g.text for g in extra_gold} | {g.text for g in dev_gold or []}
        superseded = {i for i, doc in enumerate(weak.docs) if doc.text in annotated}
        if superseded:
            logger.info(
                "%d corpus document(s) are also in --gold/--dev: their weak labels are not "
                "trained on", len(superseded),
            )
        replacements = _replacement_terms(weak, seed) if augment > 0 else {}

        def training_data() -> tuple[list[Doc], list[Doc]]:
            weak_docs = _training_docs(weak, min_confidence)
            if dev_gold is None:
                dev_part = [d for i, d in weak_docs if i in held]
            else:
                dev_part = dev_docs
            train_part = [d for i, d in weak_docs if i not in held and i not in superseded]
            if augment > 0:
                rng = random.Random(seed)
                train_part += [
                    new
                    for d in list(train_part)
                    if rng.random() < augment
                    and (new := replace_mentions(d, replacements, rng)) is not None
                ]
            return train_part + extra, dev_part

        train_docs, dev_docs_now = training_data()
        timings["training_data"] = time.perf_counter() - started
        if vectors is not None and str(vectors) == FLORET:
            started = time.perf_counter()
            vectors = train_floret_vectors(weak.docs, tmp / "vectors", lang=lang)
            timings["vectors"] = time.perf_counter() - started

        result, reused = cached_train_model(
            stage_cache, train_docs, dev_docs_now, output_dir=tmp, lang=lang, seed=seed,
            max_epochs=max_epochs, tokenizer=tokenizer, vectors=vectors,
        )
        reused_models.append(reused)
        timings["training"] = result.seconds

        def dev_f1(nlp: Language) -> float:
            return evaluate_on_gold(weak, dev_gold, nlp=nlp, min_confidence=min_confidence)[
                "model"
            ]["f1"]

        rounds: list[dict[str, Any]] = []
        if self_training and dev_gold is None:
            logger.warning("self-training needs --dev gold documents to keep or drop a round; skipped")
        elif self_training:
            best_f1 = dev_f1(result.nlp)
            for round_no in range(1, self_training + 1):
                started = time.perf_counter()
                undo = weak.add_function(ModelFunction(result.nlp, name=f"model:round{round_no}"))
                round_train, round_dev = training_data()
                round_dir = tmp / f".self-training-{round_no}"
                candidate, reused = cached_train_model(
                    stage_cache, round_train, round_dev, output_dir=round_dir, lang=lang,
                    seed=seed, max_epochs=max_epochs, tokenizer=tokenizer,
                    vectors=None if vectors is None else tmp / "vectors",
                )
                reused_models.append(reused)
                f1 = dev_f1(candidate.nlp)
                kept = f1 > best_f1
                rounds.append({"round": round_no, "dev_f1": f1, "previous_dev_f1": best_f1,
                               "kept": kept, "seconds": time.perf_counter() - started})
                logger.info("self-training round %d: dev F1 %.1f (before %.1f): %s",
                            round_no, 100 * f1, 100 * best_f1, "kept" if kept else "dropped")
                if not kept:
                    undo()
                    shutil.rmtree(round_dir, ignore_errors=True)
                    break
                for name in ("model", "corpus", "config.cfg"):
                    target = tmp / name
                    if target.is_dir():
                        shutil.rmtree(target)
                    shutil.move(str(round_dir / name), str(target))
                shutil.rmtree(round_dir, ignore_errors=True)
                candidate.model_path = tmp / "model"
                candidate.config_path = tmp / "config.cfg"
                result, best_f1, train_docs = candidate, f1, round_train
            timings["self_training"] = sum(r["seconds"] for r in rounds)

        write_jsonl(tmp / "weak.jsonl", weak.records())
        weak.aggregator.save(tmp / "aggregator.json")

        started = time.perf_counter()
        dev_report: dict[str, Any] = {"source": dev_source}
        layers = None
        if dev_gold is not None:
            layers = gold_layers(weak, dev_gold, nlp=result.nlp, min_confidence=min_confidence)
            dev_report.update(evaluate_on_gold(weak, layers))
        else:
            dev_report["model_vs_weak_labels_f1"] = result.best_score
        if rounds:
            dev_report["self_training"] = rounds
        timings["evaluation"] = time.perf_counter() - started
        timings["total"] = time.perf_counter() - total_started

        report = build_report(weak, train_docs, dev_report, result, timings, settings={
            "lexicons": str(lexicons), "rules": None if rules is None else str(rules),
            "candidates": None if candidates is None else str(candidates),
            "corpus": str(corpus), "dev": None if dev is None else str(dev),
            "gold": None if gold is None else str(gold), "lang": lang,
            "aggregator": aggregator, "seed": seed, "max_epochs": max_epochs,
            "min_confidence": min_confidence, "tokenizer": tokenizer,
            "label_map": dict(label_map or {}), "doc_level": doc_level,
            "augment": augment, "self_training": self_training,
            "vectors": None if settings_vectors is None else str(settings_vectors),
            "hmm_engine": hmm_engine,
        }, layers=layers)
        report["stage_cache"] = {
            "folder": None if stage_cache is None else str(stage_cache.root),
            "functions_run": weak.cache.get("run", []),
            "functions_reused": weak.cache.get("reused", []),
            "models_reused": reused_models,
        }
        with atomic_open(tmp / "report.json") as handle:
            json.dump(report, handle, indent=1)
        with atomic_open(tmp / "report.md") as handle:
            handle.write(render_report_md(report))
        if html:
            write_report_html(report, tmp / "report.html")
        _replace_folder(tmp, out)
        logger.info("run written to %s; report: %s", out, out / ("report.html" if html else "report.md"))
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return BootstrapResult(
        out=out, model_path=out / "model", report=report, weak=weak, nlp=result.nlp
    )


@dataclass
class TrainResult:
    """What :func:`train_shards` wrote: the run folder, its model and its report."""

    out: Path
    model_path: Path
    report: dict[str, Any]
    nlp: Language

    @property
    def dev_scores(self) -> dict[str, Any]:
        """The model's scores on the dev set (precision, recall, f1, per_label)."""
        return self.report["dev"]["model"]


def train_shards(
    shards: str | Path,
    *,
    dev: str | Path,
    out: str | Path = "runs/train",
    lang: str = "en",
    seed: int = 0,
    max_epochs: int = 30,
    tokenizer: Literal["fine", "spacy"] = "fine",
    vectors: str | Path | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train a model on the training shards of ``hybridner label`` and score it on ``dev``.

    The second half of bootstrap for corpora larger than memory: ``hybridner label
    --training-data SHARDS`` labels the corpus in a stream, and this trains on the
    shards, streamed file by file (:func:`hybridner.training.train_on_shards`).
    ``dev`` is hand-annotated (it selects the best model and is scored). Writes
    ``out/model``, ``out/config.cfg``, ``out/corpus/dev.spacy`` and
    ``out/report.json`` (the dev scores and training history), under a temporary
    name renamed into place at the end.

    >>> train_shards("shards/", dev="dev.jsonl", out="runs/big")  # doctest: +SKIP
    """
    from .evaluation import score_entities
    from .inference import NERModel

    out = Path(out)
    _check_output(out, overwrite)
    _clean_interrupted(out)
    if vectors is not None:
        vectors = check_vectors(vectors)
    dev_gold = read_gold(dev)
    dev_docs = gold_docs(make_nlp(lang, tokenizer=tokenizer), dev_gold)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_name(f".{out.name}") + "-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        result = train_on_shards(
            shards, dev_docs, output_dir=tmp, lang=lang, seed=seed, max_epochs=max_epochs,
            tokenizer=tokenizer, vectors=vectors,
        )
        predicted = [
            [(e["start"], e["end"], e["label"]) for e in record["entities"]]
            for record in NERModel(result.nlp).annotate({"text": g.text} for g in dev_gold)
        ]
        scores = score_entities([g.entities for g in dev_gold], predicted)
        report = {
            "shards": str(Path(shards).resolve()),
            "dev": {"source": str(dev), "documents": len(dev_gold), "model": scores.to_dict()},
            "training": {"seconds": result.seconds, "best_score": result.best_score,
                         "history": result.history},
            "settings": {"lang": lang, "seed": seed, "max_epochs": max_epochs,
                         "tokenizer": tokenizer,
                         "vectors": None if vectors is None else str(vectors)},
        }
        with atomic_open(tmp / "report.json") as handle:
            json.dump(report, handle, indent=1)
        _replace_folder(tmp, out)
        logger.info("model written to %s", out / "model")
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return TrainResult(out=out, model_path=out / "model", report=report, nlp=result.nlp)
