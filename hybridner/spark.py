"""Run hybridner on Apache Spark: annotate or weakly label the text column of a DataFrame.

Beyond one machine hybridner runs on Spark, through Spark's own
``DataFrame.mapInPandas``; it adds no distributed layer of its own. Both
functions are lazy DataFrame transformations (nothing runs until an action such
as ``write`` or ``collect``), and both give, row for row, what the single-machine
path gives for the same texts:

* :func:`annotate`: the entities of a trained model, as ``hybridner annotate``
  and :meth:`hybridner.NERModel.annotate` produce them;
* :func:`weak_label`: each labelling function's spans, the aggregated spans with
  their confidence and voters, and the candidate phrases, as a line of a run's
  ``weak.jsonl`` (:func:`hybridner.corpus.weak_record`).

What runs where:

* the **driver** checks the arguments and the columns, reads the run folder and
  builds the labelling functions once (so that a bad lexicon or rule file fails
  at once, naming the file); fitting the aggregator stays on one machine,
  beforehand (``hybridner bootstrap``, or :func:`hybridner.weak_label` on a
  sample): only its application is distributed;
* each **Python worker** of an executor loads the model, or builds the
  labelling functions and the aggregator, the first time it needs them, keeps
  them in a module-level cache (keyed by the model's path, or by a digest of what
  the driver sent) and reuses them for every partition it processes, in this job
  and the next ones, as long as Spark reuses the worker
  (``spark.python.worker.reuse``, on by default). An executor running ``k`` tasks
  at once has ``k`` Python workers, hence ``k`` copies of the model.

Every executor needs hybridner with this extra installed (``pip install
"hybridner[spark]"``, the same version as the driver) and must read the model
folder and the rule files at the paths the driver gives (a shared file system,
or the same files on every machine); lexicon terms travel with the job.

>>> from hybridner.spark import annotate  # doctest: +SKIP
>>> annotate(spark.read.json("notes.jsonl"), "runs/v1/model").write.parquet("entities")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import spacy

from .aggregation import HMMAggregator, MajorityAggregator
from .bootstrap import AGGREGATED, WeakLabels, _functions, _load_candidates
from .corpus import make_docs, make_nlp, weak_record
from .errors import AggregationError, CorpusError, HybridNERError
from .inference import NERModel, load
from .labelling import LabellingFunction, apply_functions

if TYPE_CHECKING:
    import pandas
    from pyspark.sql import DataFrame

__all__ = ["annotate", "weak_label"]

logger = logging.getLogger("hybridner")

OnError = Literal["raise", "skip", "null"]
ON_ERROR = ("raise", "skip", "null")

#: The columns :func:`weak_label` adds (``candidates`` only when the run has candidates).
SPANS, AGGREGATED_COL, CANDIDATES = "spans", "aggregated", "candidates"

# Per Python worker process: the trained models by path and the weak labellers by
# the digest of what the driver sent, loaded or built once, then reused for every
# partition; with how often each was loaded and how many partitions it served.
_MODELS: dict[str, NERModel] = {}
_LABELLERS: dict[str, _Labeller] = {}
_LOADS: Counter[str] = Counter()
_PARTITIONS: Counter[str] = Counter()

# PySpark warns at every mapInPandas call while pandas >= 3 is installed; the two
# functions below are tested with it, so that one warning is silenced around the
# call only (never as a global filter).
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def _cache_info() -> dict[str, Any]:
    """What this process has cached: ``{"pid", "loads", "partitions"}`` per model path or key.

    >>> _cache_info()["loads"]  # doctest: +SKIP
    {'/data/runs/v1/model': 1}
    """
    return {"pid": os.getpid(), "loads": dict(_LOADS), "partitions": dict(_PARTITIONS)}


# ---------------------------------------------------------------------- the driver side


def _spark_types() -> Any:
    """``pyspark.sql.types``, or an error saying how to install PySpark."""
    try:
        import pyarrow  # noqa: F401  (mapInPandas moves batches as Arrow)
        from pyspark.sql import types
    except ImportError as err:
        raise HybridNERError(
            f"hybridner.spark needs PySpark with Arrow ({err}); install it with "
            'pip install "hybridner[spark]", on the driver and on every executor '
            "(Spark also needs Java 17 or later)"
        ) from err
    return types


def _check_options(on_error: str, batch_size: int) -> None:
    if on_error not in ON_ERROR:
        raise HybridNERError(f"on_error={on_error!r}: use one of {list(ON_ERROR)}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise HybridNERError(f"batch_size={batch_size!r}: use a positive integer, e.g. 256")


def _check_columns(df: DataFrame, text_col: str, new: Sequence[str]) -> None:
    """The text column exists and holds strings; the columns to add do not exist yet."""
    types = _spark_types()
    fields = {f.name: f for f in df.schema.fields}
    if text_col not in fields:
        raise CorpusError(
            f"column {text_col!r} is not in the DataFrame (columns: {list(fields)}); "
            "pass text_col= the column that holds the texts"
        )
    data_type = fields[text_col].dataType
    if not isinstance(data_type, types.StringType):
        raise CorpusError(
            f"column {text_col!r} has type {data_type.simpleString()}; hybridner reads "
            f"strings: cast it, e.g. df.withColumn({text_col!r}, df[{text_col!r}].cast('string'))"
        )
    taken = [name for name in new if name in fields]
    if taken:
        raise CorpusError(
            f"the DataFrame already has the column(s) {taken} that hybridner would add; "
            "drop or rename them first (df.drop(...), df.withColumnRenamed(...))"
            + (" or pass output_col= another name" if len(new) == 1 else "")
        )


def _map_in_pandas(df: DataFrame, function: Any, schema: Any) -> DataFrame:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        return df.mapInPandas(function, schema)


def _model_path(model: str | Path) -> str:
    """The absolute path of a model folder (``RUN/model``, or a run folder holding one)."""
    path = Path(model)
    if (path / "model" / "config.cfg").is_file():
        path = path / "model"
    if not (path / "config.cfg").is_file():
        raise HybridNERError(
            f"{path}: not a spaCy model folder (no config.cfg); pass RUN_DIR/model as "
            "written by hybridner bootstrap, at a path every executor can read"
        )
    return str(path.resolve())


def annotate(
    df: DataFrame,
    model: str | Path,
    *,
    text_col: str = "text",
    output_col: str = "entities",
    id_col: str | None = "id",
    batch_size: int = 256,
    on_error: OnError = "raise",
) -> DataFrame:
    """Annotate the texts of a DataFrame with a trained model, on the executors.

    Returns every column of ``df`` plus ``output_col``, an
    ``array<struct<start:int,end:int,label:string,text:string>>`` holding exactly
    the ``"entities"`` that :meth:`hybridner.NERModel.annotate` gives for the same
    text (character offsets, ``end`` exclusive). Each Python worker loads the
    model once and runs ``nlp.pipe`` over ``batch_size`` texts at a time.

    ``model`` is ``RUN/model`` (or the run folder), read by every executor at that
    path. A null text (``on_error``): ``"raise"`` fails the job with an error that
    names ``text_col`` and the row (by ``id_col`` when the DataFrame has that
    column); ``"skip"`` drops the row; ``"null"`` keeps it with a null
    ``output_col``. Empty strings are texts without entities.

    >>> entities = annotate(spark.read.json("notes.jsonl"), "runs/v1/model")  # doctest: +SKIP
    >>> entities.select("id", "entities").first()  # doctest: +SKIP
    Row(id='n1', entities=[Row(start=0, end=9, label='Drug', text='Metformin')])
    """
    types = _spark_types()
    _check_options(on_error, batch_size)
    _check_columns(df, text_col, [output_col])
    path = _model_path(model)
    entity = types.StructType([
        types.StructField("start", types.IntegerType()),
        types.StructField("end", types.IntegerType()),
        types.StructField("label", types.StringType()),
        types.StructField("text", types.StringType()),
    ])
    schema = types.StructType(
        list(df.schema.fields) + [types.StructField(output_col, types.ArrayType(entity))]
    )
    task = functools.partial(
        _annotate_partition, model=path, text_col=text_col, output_col=output_col,
        id_col=id_col, batch_size=batch_size, on_error=on_error,
    )
    logger.info("annotating column %r with %s on the executors", text_col, path)
    return _map_in_pandas(df, task, schema)


@dataclass
class _LabellerSpec:
    """What the workers need to weakly label documents exactly as a run did.

    Built and checked on the driver, pickled once; a worker unpickles it (which
    builds the gazetteers) only when its digest is not in the worker's cache.
    Aggregators travel as their JSON ``to_dict`` form, never as pickled models.
    """

    lang: str
    tokenizer: bytes
    functions: list[LabellingFunction]
    candidates: list[LabellingFunction]
    document_functions: list[LabellingFunction]
    labels: list[str]
    aggregator: dict[str, Any]
    first_round: dict[str, Any] | None


def _read_run(
    run_dir: Path,
    *,
    lexicons: str | Path | None,
    rules: str | Path | None,
    candidates: str | Path | None,
) -> _LabellerSpec:
    """The labelling functions and fitted aggregator of a run folder, from its files."""
    if not run_dir.is_dir():
        raise HybridNERError(
            f"{run_dir}: no such run folder; pass the --out folder written by hybridner "
            "bootstrap, or a WeakLabels object from hybridner.weak_label"
        )
    report_path, aggregator_path = run_dir / "report.json", run_dir / "aggregator.json"
    for path in (report_path, aggregator_path):
        if not path.is_file():
            raise HybridNERError(
                f"{path}: missing, so {run_dir} is not a complete run folder of hybridner "
                "bootstrap; run it again, or pass a WeakLabels object from hybridner.weak_label"
            )
    try:
        settings = json.loads(report_path.read_text("utf8"))["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise HybridNERError(f"{report_path}: no run settings in it ({err}); run hybridner bootstrap again") from err
    try:
        aggregator = json.loads(aggregator_path.read_text("utf8"))
        kind = aggregator["kind"]
    except (ValueError, KeyError, TypeError) as err:
        raise AggregationError(f"{aggregator_path}: not an aggregator file written by hybridner ({err})") from err
    if settings.get("doc_level"):
        raise HybridNERError(
            f"{run_dir} was made with --doc-level, whose first aggregation round is not saved "
            "in the run folder; label a sample with hybridner.weak_label(..., doc_level=True) "
            "on the driver and pass the WeakLabels it returns instead of the folder"
        )
    lexicons = lexicons if lexicons is not None else settings.get("lexicons")
    rules = rules if rules is not None else settings.get("rules")
    candidates = candidates if candidates is not None else settings.get("candidates")
    if lexicons is None or not Path(lexicons).is_dir():
        raise HybridNERError(
            f"{run_dir}: the run's lexicon folder {lexicons!r} is not there (report.json "
            "settings); pass lexicons= (and rules=, candidates=) where the run's files are now"
        )
    # absolute paths: rule files are imported again, by path, in the executors
    functions, labels = _functions(
        Path(lexicons).resolve(), None if rules is None else Path(rules).resolve(),
        default_rules=True, label_map=settings.get("label_map") or None,
    )
    candidate_fns = [f for f in functions if f.candidate]
    functions = [f for f in functions if not f.candidate]
    if candidates is not None:
        candidate_fns.append(_load_candidates(candidates))
    sources = aggregator.get("sources")
    names = [f.name for f in functions]
    if sources is not None and sorted(sources) != sorted(names):
        missing = sorted(set(sources) - set(names))
        extra = sorted(set(names) - set(sources))
        raise HybridNERError(
            f"{aggregator_path} was fitted on other labelling functions than those rebuilt "
            f"from the run's settings (not rebuilt: {missing}; not in the aggregator: {extra}); "
            "self-training rounds' model functions cannot be rebuilt, and changed rule files "
            "or lexicons give other functions: pass lexicons=/rules= the run's own files, or a "
            "WeakLabels object from hybridner.weak_label"
        )
    if kind not in ("hmm", "majority"):
        raise AggregationError(f"{aggregator_path}: unknown aggregator kind {kind!r}; expected 'hmm' or 'majority'")
    nlp = make_nlp(settings.get("lang", "en"), tokenizer=settings.get("tokenizer", "fine"))
    return _LabellerSpec(
        lang=nlp.lang, tokenizer=nlp.tokenizer.to_bytes(), functions=functions,
        candidates=candidate_fns, document_functions=[],
        labels=list(aggregator.get("labels") or labels), aggregator=aggregator, first_round=None,
    )


def _from_weak_labels(weak: WeakLabels) -> _LabellerSpec:
    return _LabellerSpec(
        lang=weak.nlp.lang,
        tokenizer=weak.nlp.tokenizer.to_bytes(),
        functions=list(weak.functions),
        candidates=list(weak.candidates),
        document_functions=list(weak.document_functions),
        labels=list(weak.labels),
        aggregator=weak.aggregator.to_dict(),
        first_round=None if weak.first_round is None else weak.first_round.to_dict(),
    )


def weak_label(
    df: DataFrame,
    run: str | Path | WeakLabels,
    *,
    text_col: str = "text",
    id_col: str | None = "id",
    lexicons: str | Path | None = None,
    rules: str | Path | None = None,
    candidates: str | Path | None = None,
    batch_size: int = 256,
    on_error: OnError = "raise",
) -> DataFrame:
    """Weakly label the texts of a DataFrame with a run's functions and fitted aggregator.

    The columns added are those of a ``weak.jsonl`` record (beside ``df``'s own):

    * ``spans``: ``map<string, array<struct<start:int,end:int,label:string>>>``,
      each labelling function's spans (character offsets, ``end`` exclusive);
    * ``aggregated``: ``array<struct<start:int,end:int,label:string,
      confidence:double,voters:array<string>>>``;
    * ``candidates``: ``array<array<int>>``, the ``[start, end]`` of untyped
      candidate phrases, only when the run has candidates.

    ``run`` is either a run folder of ``hybridner bootstrap`` (its lexicons,
    rules and candidates are read from the paths in ``report.json``'s settings,
    or from ``lexicons=``, ``rules=``, ``candidates=``; its fitted aggregator from
    ``aggregator.json``), or the :class:`~hybridner.WeakLabels` that
    :func:`hybridner.weak_label` returned on the driver, for instance on a
    sample. Only the application runs on the executors; nothing is fitted there.

    Not supported with a run folder: runs made with ``--doc-level`` (the first
    aggregation round is not saved; pass a ``WeakLabels`` made with
    ``doc_level=True``, which is supported) and runs whose self-training rounds
    were kept (the model of a round votes in the aggregator but is not saved).
    ``on_error`` treats null texts as :func:`annotate` does.

    >>> weak = weak_label(spark.read.json("notes.jsonl"), "runs/v1")  # doctest: +SKIP
    >>> weak.select("id", "aggregated").first()  # doctest: +SKIP
    """
    types = _spark_types()
    _check_options(on_error, batch_size)
    if isinstance(run, WeakLabels):
        if any(x is not None for x in (lexicons, rules, candidates)):
            raise HybridNERError(
                "lexicons=, rules= and candidates= replace a run folder's paths; a WeakLabels "
                "object already holds its functions: leave them out"
            )
        spec = _from_weak_labels(run)
    elif isinstance(run, (str, Path)):
        spec = _read_run(Path(run), lexicons=lexicons, rules=rules, candidates=candidates)
    else:
        raise HybridNERError(
            f"run={type(run).__name__}: pass a run folder of hybridner bootstrap or a "
            "WeakLabels object from hybridner.weak_label"
        )
    new = [SPANS, AGGREGATED_COL] + ([CANDIDATES] if spec.candidates else [])
    _check_columns(df, text_col, new)
    payload = zlib.compress(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    key = hashlib.sha256(payload).hexdigest()
    span = types.StructType([
        types.StructField("start", types.IntegerType()),
        types.StructField("end", types.IntegerType()),
        types.StructField("label", types.StringType()),
    ])
    aggregated = types.StructType([
        types.StructField("start", types.IntegerType()),
        types.StructField("end", types.IntegerType()),
        types.StructField("label", types.StringType()),
        types.StructField("confidence", types.DoubleType()),
        types.StructField("voters", types.ArrayType(types.StringType())),
    ])
    fields = list(df.schema.fields) + [
        types.StructField(SPANS, types.MapType(types.StringType(), types.ArrayType(span))),
        types.StructField(AGGREGATED_COL, types.ArrayType(aggregated)),
    ]
    if spec.candidates:
        fields.append(
            types.StructField(CANDIDATES, types.ArrayType(types.ArrayType(types.IntegerType())))
        )
    task = functools.partial(
        _weak_label_partition, key=key, payload=payload, text_col=text_col, id_col=id_col,
        batch_size=batch_size, on_error=on_error,
    )
    logger.info(
        "weak labelling column %r with %d functions (%d kB to each task) on the executors",
        text_col, len(spec.functions) + len(spec.candidates), len(payload) // 1024,
    )
    return _map_in_pandas(df, task, types.StructType(fields))


# ---------------------------------------------------------------------- the worker side


def _model(path: str) -> NERModel:
    """The model at ``path``, loaded once per process."""
    if path not in _MODELS:
        _MODELS[path] = load(path)
        _LOADS[path] += 1
        logger.info("loaded %s in worker process %d", path, os.getpid())
    return _MODELS[path]


def _aggregator(data: dict[str, Any]) -> HMMAggregator | MajorityAggregator:
    return (HMMAggregator if data["kind"] == "hmm" else MajorityAggregator).from_dict(data)


class _Labeller:
    """A worker's labelling functions and aggregators, built once from a spec."""

    def __init__(self, spec: _LabellerSpec) -> None:
        nlp = spacy.blank(spec.lang)
        nlp.tokenizer.from_bytes(spec.tokenizer)
        self.weak = WeakLabels(
            nlp, [], spec.functions, _aggregator(spec.aggregator), spec.labels,
            spec.candidates,
            first_round=None if spec.first_round is None else _aggregator(spec.first_round),
            document_functions=spec.document_functions,
        )
        self.candidate_names = [f.name for f in spec.candidates]

    def records(self, records: list[dict[str, Any]], batch_size: int) -> Iterator[dict[str, Any]]:
        """The ``weak.jsonl`` record of each ``{"id", "text"}`` record, in order."""
        weak = self.weak
        docs = weak.label(make_docs(weak.nlp, records, batch_size=batch_size))
        # as in hybridner.weak_label: candidates run after the voting functions and
        # are no source of the aggregators, so labelling them last changes nothing
        for doc in apply_functions(weak.candidates, docs, log_every=0):
            yield weak_record(
                doc, weak.function_names, aggregated=AGGREGATED, candidates=self.candidate_names
            )


def _labeller(key: str, payload: bytes) -> _Labeller:
    """The labeller the driver sent as ``payload``, built once per process."""
    if key not in _LABELLERS:
        _LABELLERS[key] = _Labeller(pickle.loads(zlib.decompress(payload)))
        _LOADS[key] += 1
        logger.info("built the labelling functions %s in worker process %d", key[:12], os.getpid())
    return _LABELLERS[key]


def _partition_id() -> int | None:
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - the worker side runs under Spark
        return None
    context = TaskContext.get()
    return None if context is None else context.partitionId()


class _Texts:
    """Checks the text column of a partition's batches against ``on_error``."""

    def __init__(self, text_col: str, id_col: str | None, on_error: str) -> None:
        self.text_col, self.id_col, self.on_error = text_col, id_col, on_error
        self.seen = 0  # rows of this partition before the current batch

    def _row(self, batch: pandas.DataFrame, position: int) -> str:
        if self.id_col is not None and self.id_col in batch.columns:
            return f"the row with {self.id_col}={batch[self.id_col].iloc[position]!r}"
        partition = _partition_id()
        where = "" if partition is None else f" of partition {partition}"
        return f"row {self.seen + position}{where} (no {self.id_col!r} column to name it)"

    def check(self, batch: pandas.DataFrame) -> tuple[pandas.DataFrame, list[bool]]:
        """The batch (null texts dropped with ``"skip"``) and which of its rows have a text."""
        valid = [isinstance(text, str) for text in batch[self.text_col]]
        if not all(valid):
            position = valid.index(False)
            if self.on_error == "raise":
                raise CorpusError(
                    f"column {self.text_col!r}, {self._row(batch, position)}: the text is "
                    "null; fill or filter the column, or pass on_error='skip' to drop such "
                    "rows or on_error='null' to keep them with a null output"
                )
            if self.on_error == "skip":
                batch = batch[valid]
                valid = [True] * len(batch)
        self.seen += len(valid)
        return batch, valid

    def records(self, batch: pandas.DataFrame, valid: list[bool]) -> list[dict[str, Any]]:
        ids = batch[self.id_col] if self.id_col is not None and self.id_col in batch.columns else None
        texts = batch[self.text_col]
        return [
            {"id": None if ids is None else _scalar(ids.iloc[i]), "text": texts.iloc[i]}
            for i, ok in enumerate(valid) if ok
        ]


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value (ids in messages and records)."""
    return value.item() if hasattr(value, "item") else value


def _annotate_partition(
    batches: Iterator[pandas.DataFrame],
    *,
    model: str,
    text_col: str,
    output_col: str,
    id_col: str | None,
    batch_size: int,
    on_error: str,
) -> Iterator[pandas.DataFrame]:
    """mapInPandas: one partition's batches, each with its ``output_col`` of entities."""
    ner = _model(model)
    _PARTITIONS[model] += 1
    texts = _Texts(text_col, id_col, on_error)
    for batch in batches:
        batch, valid = texts.check(batch)
        entities: list[list[dict[str, Any]] | None] = [None] * len(batch)
        positions = [i for i, ok in enumerate(valid) if ok]
        column = batch[text_col]
        annotated = ner.annotate([column.iloc[i] for i in positions], batch_size=batch_size)
        for i, record in zip(positions, annotated):
            entities[i] = record["entities"]
        yield batch.assign(**{output_col: entities})


def _weak_label_partition(
    batches: Iterator[pandas.DataFrame],
    *,
    key: str,
    payload: bytes,
    text_col: str,
    id_col: str | None,
    batch_size: int,
    on_error: str,
) -> Iterator[pandas.DataFrame]:
    """mapInPandas: one partition's batches, each with the columns of its weak.jsonl records."""
    labeller = _labeller(key, payload)
    _PARTITIONS[key] += 1
    with_candidates = bool(labeller.candidate_names)
    texts = _Texts(text_col, id_col, on_error)
    for batch in batches:
        batch, valid = texts.check(batch)
        columns: dict[str, list[Any]] = {SPANS: [None] * len(batch), AGGREGATED_COL: [None] * len(batch)}
        if with_candidates:
            columns[CANDIDATES] = [None] * len(batch)
        positions = [i for i, ok in enumerate(valid) if ok]
        records = labeller.records(texts.records(batch, valid), batch_size)
        for i, record in zip(positions, records):
            columns[SPANS][i] = {
                name: [{"start": s, "end": e, "label": label} for s, e, label in spans]
                for name, spans in record["spans"].items()
            }
            columns[AGGREGATED_COL][i] = record["aggregated"]
            if with_candidates:
                columns[CANDIDATES][i] = record["candidates"]
        yield batch.assign(**columns)
