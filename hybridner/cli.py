"""The ``hybridner`` command line: thin Typer wrappers over the library.

This is the only module that prints or exits. Library errors
(:class:`~hybridner.errors.HybridNERError`) become one ``error:`` line on stderr
and exit status 1.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import HybridNERError

app = typer.Typer(
    name="hybridner",
    help="Train custom NER models from lexicons and rules, without hand-annotated data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

logger = logging.getLogger("hybridner")


class Aggregator(str, Enum):
    hmm = "hmm"
    majority = "majority"


class HMMEngine(str, Enum):
    numpy = "numpy"
    skweak = "skweak"


class OnError(str, Enum):
    raise_ = "raise"
    skip = "skip"
    log = "log"


class Tokenizer(str, Enum):
    fine = "fine"
    spacy = "spacy"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log to whatever ``sys.stderr`` is when a record is emitted (it may be swapped)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextmanager
def _command(verbose: bool, quiet: bool) -> Iterator[None]:
    """Log to stderr while a command runs; turn library errors into exit status 1.

    The ``hybridner`` logger's handlers, level and propagation are restored
    afterwards, so that running a command in-process (tests, notebooks) leaves
    logging as it found it.
    """
    saved_handlers, saved_level, saved_propagate = logger.handlers[:], logger.level, logger.propagate
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("[hybridner] %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    try:
        yield
    except HybridNERError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; nothing half-written was left behind", err=True)
        raise typer.Exit(code=130) from None
    finally:
        logger.handlers[:] = saved_handlers
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging detail.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")]
RulesOpt = Annotated[
    Optional[Path],
    typer.Option(help="A .py rule file or a folder of them (default: rules/ beside LEXICONS)."),
]
CandidatesOpt = Annotated[
    Optional[Path],
    typer.Option(help="Untyped candidate phrases, one per line: unknown, not 'outside', in training."),
]
LangOpt = Annotated[str, typer.Option(help="spaCy language code of the blank pipeline.")]
AggOpt = Annotated[Aggregator, typer.Option(help="How the labelling functions' votes are combined.")]
EngineOpt = Annotated[
    HMMEngine,
    typer.Option(help="The HMM's implementation: hybridner's vectorised one or skweak's (same output)."),
]
MapOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--map",
        help="Rename a lexicon's label, OLD=NEW (repeatable); OLD= leaves that lexicon out.",
    ),
]
DocLevelOpt = Annotated[
    bool,
    typer.Option(help="Second aggregation round where document consistency and abbreviations vote."),
]
TokOpt = Annotated[
    Tokenizer,
    typer.Option(help="'fine' also splits on brackets, / + = and hyphens; 'spacy' keeps spaCy's rules."),
]


def _parse_map(items: Optional[list[str]]) -> dict[str, str]:
    mapping = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep or not old.strip():
            raise typer.BadParameter(f"{item!r}: write OLD=NEW, e.g. --map GPE=LOC", param_hint="--map")
        mapping[old.strip()] = new.strip()
    return mapping


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}"


@app.command()
def bootstrap(
    lexicons: Annotated[Path, typer.Argument(help="Folder of <LABEL>.txt / .jsonl lexicons.")],
    rules: RulesOpt = None,
    candidates: CandidatesOpt = None,
    corpus: Annotated[
        Optional[Path],
        typer.Option(help="Unlabelled texts: .txt, .jsonl or a folder of .txt (default: the embedded sample)."),
    ] = None,
    dev: Annotated[Optional[Path], typer.Option(help="Hand-annotated .jsonl to select and score the model.")] = None,
    gold: Annotated[Optional[Path], typer.Option(help="Hand-annotated .jsonl mixed into training.")] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/bootstrap"),
    lang: LangOpt = "en",
    aggregator: AggOpt = Aggregator.hmm,
    hmm_engine: EngineOpt = HMMEngine.numpy,
    tokenizer: TokOpt = Tokenizer.fine,
    label_map: MapOpt = None,
    doc_level: DocLevelOpt = False,
    augment: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of documents copied with mentions swapped for other lexicon terms."),
    ] = 0.0,
    self_training: Annotated[
        int,
        typer.Option(min=0, help="Rounds where the model votes too and is retrained (kept only if dev F1 improves)."),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same result.")] = 0,
    max_epochs: Annotated[int, typer.Option(min=1, help="Most training epochs.")] = 30,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Aggregated spans below this are left unannotated.")
    ] = 0.5,
    vectors: Annotated[
        Optional[str],
        typer.Option(help="'floret': train word vectors on the corpus for the model (needs floret); or a spaCy vectors folder."),
    ] = None,
    html: Annotated[
        bool, typer.Option(help="Also write the browsable report.html (rule diagnostics, documents).")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    n_process: Annotated[
        int, typer.Option(min=1, help="Worker processes for the labelling functions (same result for any).")
    ] = 1,
    cache: Annotated[
        bool,
        typer.Option(help="Reuse stage outputs (each function's spans, the trained model) whose inputs are unchanged."),
    ] = True,
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="Stage cache folder (default: ~/.cache/hybridner/stages or $HYBRIDNER_CACHE_DIR/stages).")
    ] = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Weakly label a corpus, train a spaCy NER model and score it."""
    from .bootstrap import bootstrap as run

    with _command(verbose, quiet):
        result = run(
            lexicons, rules=rules, candidates=candidates, corpus=corpus, dev=dev, gold=gold,
            out=out, lang=lang, aggregator=aggregator.value, seed=seed, max_epochs=max_epochs,
            tokenizer=tokenizer.value, label_map=_parse_map(label_map), doc_level=doc_level,
            augment=augment, self_training=self_training,
            min_confidence=min_confidence, vectors=vectors, html=html, overwrite=overwrite,
            hmm_engine=hmm_engine.value, n_process=n_process, cache=cache, cache_dir=cache_dir,
        )
    report = result.report
    typer.echo(f"model written to {result.model_path}")
    dev_report = report["dev"]
    typer.echo(f"dev set: {dev_report['source']}")
    if "model" in dev_report:
        typer.echo("                      P      R     F1")
        for key, name in (("lexicon_only", "lexicon match only"),
                          ("aggregated", "aggregated labels"),
                          ("model", "trained model")):
            s = dev_report[key]
            typer.echo(f"{name:<19} {_pct(s['precision'])}  {_pct(s['recall'])}  {_pct(s['f1'])}")
    else:
        typer.echo(f"model F1 against held-out weak labels: {_pct(dev_report['model_vs_weak_labels_f1'])}")
    typer.echo(f"report: {result.out / ('report.html' if html else 'report.md')}")


@app.command()
def label(
    lexicons: Annotated[Path, typer.Argument(help="Folder of <LABEL>.txt / .jsonl lexicons.")],
    corpus: Annotated[Path, typer.Option(help="Unlabelled texts: .txt, .jsonl or a folder of .txt.")],
    out: Annotated[Path, typer.Option(help="JSONL file of weak labels to write.")],
    rules: RulesOpt = None,
    candidates: CandidatesOpt = None,
    lang: LangOpt = "en",
    aggregator: AggOpt = Aggregator.hmm,
    hmm_engine: EngineOpt = HMMEngine.numpy,
    tokenizer: TokOpt = Tokenizer.fine,
    label_map: MapOpt = None,
    doc_level: DocLevelOpt = False,
    n_process: Annotated[int, typer.Option(min=1, help="Worker processes for labelling and aggregation.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per batch sent to a worker.")] = 1000,
    max_fit_docs: Annotated[
        int, typer.Option(min=1, help="The aggregator is fitted on a seeded sample of this many documents.")
    ] = 10_000,
    training_data: Annotated[
        Optional[Path],
        typer.Option(help="Also write the training documents as DocBin shards in this folder (for spacy train)."),
    ] = None,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="With --training-data: aggregated spans below this are left unannotated.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Run only the weak-labelling stages and write weak.jsonl, streaming, in bounded memory."""
    from .streaming import label_corpus

    with _command(verbose, quiet):
        summary = label_corpus(
            lexicons, corpus=corpus, out=out, rules=rules, candidates=candidates, lang=lang,
            aggregator=aggregator.value, seed=seed, tokenizer=tokenizer.value,
            label_map=_parse_map(label_map), doc_level=doc_level, n_process=n_process,
            batch_size=batch_size, max_fit_docs=max_fit_docs, training_data=training_data,
            min_confidence=min_confidence, hmm_engine=hmm_engine.value,
        )
    typer.echo(f"wrote weak labels of {summary.documents} documents to {out}")
    if training_data is not None:
        typer.echo(f"wrote {len(summary.shards)} training shard(s) to {training_data}")


@app.command()
def train(
    shards: Annotated[Path, typer.Argument(help="The training shards of label --training-data (a folder of .spacy files).")],
    dev: Annotated[Path, typer.Option(help="Hand-annotated .jsonl to select and score the model.")],
    out: Annotated[Path, typer.Option(help="Run folder to write (model/, config.cfg, report.json).")] = Path("runs/train"),
    lang: LangOpt = "en",
    tokenizer: TokOpt = Tokenizer.fine,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same result.")] = 0,
    max_epochs: Annotated[int, typer.Option(min=1, help="Most training epochs.")] = 30,
    vectors: Annotated[Optional[Path], typer.Option(help="A spaCy vectors folder for the model.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Train a model on label --training-data shards, streamed: bootstrap for corpora beyond memory."""
    from .bootstrap import train_shards

    with _command(verbose, quiet):
        result = train_shards(
            shards, dev=dev, out=out, lang=lang, seed=seed, max_epochs=max_epochs,
            tokenizer=tokenizer.value, vectors=vectors, overwrite=overwrite,
        )
    scores = result.dev_scores
    typer.echo(f"model written to {result.model_path}")
    typer.echo(f"dev set {dev}: P {_pct(scores['precision'])}  R {_pct(scores['recall'])}  "
               f"F1 {_pct(scores['f1'])}")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A trained model folder (RUN/model).")],
    gold: Annotated[Path, typer.Argument(help="Hand-annotated .jsonl.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Exact-span entity precision, recall and F1 per label and overall."""
    from .corpus import read_gold
    from .evaluation import score_entities
    from .inference import load

    with _command(verbose, quiet):
        ner = load(model)
        records = read_gold(gold)
        predicted = [
            [(e["start"], e["end"], e["label"]) for e in r["entities"]]
            for r in ner.annotate({"id": g.id, "text": g.text} for g in records)
        ]
        scores = score_entities([g.entities for g in records], predicted)
    if json_output:
        typer.echo(json.dumps(scores.to_dict(), indent=1))
        return
    typer.echo(f"{'label':<20}     P      R     F1  support")
    for name, s in sorted(scores.per_label.items()):
        typer.echo(f"{name:<20} {_pct(s.precision)}  {_pct(s.recall)}  {_pct(s.f1)}  {s.support:7d}")
    typer.echo(f"{'overall (micro)':<20} {_pct(scores.precision)}  {_pct(scores.recall)}  "
               f"{_pct(scores.f1)}  {scores.support:7d}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `hybridner bootstrap`.")],
    html: Annotated[bool, typer.Option(help="Write the browsable report (default RUN_DIR/report.html).")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the HTML report.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rule diagnostics as JSON.")] = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Show what each labelling function does and how good it is; write report.html."""
    from .diagnostics import load_diagnostics
    from .htmlreport import write_report_html

    with _command(verbose, quiet):
        diagnostics = load_diagnostics(run_dir)
        data = json.loads((run_dir / "report.json").read_text(encoding="utf8"))
        target = None
        if html:
            target = write_report_html(data, out if out is not None else run_dir / "report.html")
    if as_json:
        typer.echo(json.dumps(diagnostics.to_dict(), indent=1))
    else:
        gold = diagnostics.gold_documents > 0
        typer.echo(f"{diagnostics.documents} corpus documents" + (
            f", {diagnostics.gold_documents} dev gold documents" if gold else ", no dev gold"))
        header = f"{'function':<34} {'label':<12} {'spans':>7} {'docs %':>7} {'conflicts':>9}"
        typer.echo(header + ("   dev P   dev R  dev F1" if gold else ""))
        for row in diagnostics.functions:
            line = (
                f"{row.function[:34]:<34} {row.label[:12]:<12} {row.spans:>7} "
                f"{100 * row.doc_coverage:>7.1f} {row.conflicts:>9}"
            )
            if gold and row.dev_f1 is not None:
                line += f"  {_pct(row.dev_precision or 0)}   {_pct(row.dev_recall or 0)}   {_pct(row.dev_f1)}"
            typer.echo(line)
        for name, stage in diagnostics.stages.items():
            typer.echo(f"{name:<47} P {_pct(stage.precision)} R {_pct(stage.recall)} F1 {_pct(stage.f1)}")
        if diagnostics.beyond_rules:
            b = diagnostics.beyond_rules
            typer.echo(
                f"beyond the rules: the model finds {b['model_found']} of the {b['entities']} gold "
                "entities no function found"
            )
    if target is not None:
        typer.echo(f"report: {target}", err=as_json)


@app.command()
def annotate(
    model: Annotated[Path, typer.Argument(help="A trained model folder (RUN/model).")],
    input: Annotated[Path, typer.Argument(help="Texts: .txt, .jsonl or a folder of .txt.")],
    out: Annotated[Optional[Path], typer.Option(help="JSONL file to write (default: standard output).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per nlp.pipe batch.")] = 256,
    n_process: Annotated[
        int, typer.Option(min=1, help="Worker processes (each loads the model once); 1 unless cores are idle.")
    ] = 1,
    on_error: Annotated[
        OnError,
        typer.Option(help="A bad record (not JSON, no string text, the model fails on it): stop, skip it, or skip it with a warning naming it."),
    ] = OnError.raise_,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Annotate texts with a trained model, streaming JSONL records with "entities"."""
    from .corpus import json_line, read_texts, write_jsonl
    from .inference import load

    with _command(verbose, quiet):
        ner = load(model)
        records = ner.annotate(
            read_texts(input, keep_bad=on_error is not OnError.raise_), batch_size=batch_size,
            n_process=n_process, on_error=on_error.value,
        )
        if out is None:
            for record in records:
                typer.echo(json_line(record))
        else:
            write_jsonl(out, records)
    if records.skipped:
        typer.echo(f"skipped {records.skipped} records (--on-error {on_error.value})", err=True)
    if out is not None:
        typer.echo(f"annotated {records.annotated} documents into {out}", err=True)


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="A run folder (RUN/, its scores shown at /model) or a model folder (RUN/model).")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, each loading the model once.")] = 1,
    max_text_length: Annotated[int, typer.Option(min=1, help="Most characters in one text (413 beyond).")] = 100_000,
    max_batch_size: Annotated[int, typer.Option(min=1, help="Most texts in one request (413 beyond).")] = 256,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds a request may wait for and run the model (503/504 beyond).")
    ] = 30.0,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Serve a trained model over HTTP: POST /annotate, GET /health, GET /model, /openapi.json (needs: pip install "hybridner\\[serve]")."""
    from .serve import serve as run

    with _command(verbose, quiet):
        typer.echo(
            f"starting the service for {model} at http://{host}:{port} (API docs at /docs); "
            "Ctrl+C to stop", err=True,
        )
        run(
            model, host=host, port=port, workers=workers, max_text_length=max_text_length,
            max_batch_size=max_batch_size, timeout=timeout,
            log_level="debug" if verbose else "warning" if quiet else "info",
        )


class TaskFormat(str, Enum):
    prodigy = "prodigy"
    label_studio = "label-studio"


class PreAnnotate(str, Enum):
    aggregated = "aggregated"
    model = "model"


@app.command()
def select(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by hybridner bootstrap.")],
    out: Annotated[Path, typer.Option(help="File of annotation tasks to write (.jsonl; .json: one list).")],
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="How many documents to select.")] = 50,
    task_format: Annotated[
        TaskFormat, typer.Option("--format", help="The annotation tool the file is for.")
    ] = TaskFormat.prodigy,
    pre_annotate: Annotated[
        PreAnnotate,
        typer.Option(help="Spans shown to the annotator: the confident aggregated labels or the model's entities."),
    ] = PreAnnotate.aggregated,
    min_confidence: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Aggregated spans below this are uncertain (default: the run's)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per nlp.pipe batch.")] = 256,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Pick the documents the rules and the model doubt most, pre-annotated for Prodigy or Label Studio."""
    from .annotation import select_documents, write_tasks
    from .errors import OutputError

    with _command(verbose, quiet):
        # checked before the model runs over the whole corpus
        if out.is_dir():
            raise OutputError(f"{out}: is a folder; give a file name for --out")
        if out.exists() and not overwrite:
            raise OutputError(f"{out}: already exists; pass --overwrite to replace it or choose another --out")
        tasks = select_documents(
            run_dir, n, pre_annotate=pre_annotate.value, min_confidence=min_confidence,
            batch_size=batch_size,
        )
        count = write_tasks(out, tasks, format=task_format.value, overwrite=overwrite)
    typer.echo(
        f"wrote {count} documents to annotate to {out} ({task_format.value}); after correcting "
        "them, re-import the export with: hybridner bootstrap LEXICONS ... --gold CORRECTED (or --dev)"
    )


def main(argv: Optional[list[str]] = None) -> Any:
    """Entry point of the ``hybridner`` script and ``python -m hybridner``."""
    return app(args=argv, prog_name="hybridner")

