"""Tests of :mod:`hybridner.spark` in Spark local mode (``local[2]``).

One module-scoped SparkSession and one module-scoped bootstrap run (tiny project,
with candidates, 4 epochs) serve every test: the Spark output must be the
single-machine output on the same texts, row for row.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason='PySpark is not installed (pip install -e ".[spark]")')
pytest.importorskip("pyarrow", reason='PyArrow is not installed (pip install -e ".[spark]")')
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip(
        "Spark needs Java (17 or later) and none was found: no java on PATH, no JAVA_HOME "
        "(.ci/run installs Debian's default-jre-headless)",
        allow_module_level=True,
    )

from conftest import (
    DISEASES_NOT_IN_LEXICON,
    DRUGS_NOT_IN_LEXICON,
    TinyProject,
    make_tiny_project,
)
from pyspark.errors import PythonException
from pyspark.sql import DataFrame, SparkSession

import hybridner
from hybridner import spark as hspark
from hybridner.errors import CorpusError, HybridNERError

# PySpark warns that it does not fully support pandas >= 3 whenever it converts data
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

SCHEMA = "id string, text string, source string, n int"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's Python
    session = (
        SparkSession.builder.master("local[2]")
        .appName("hybridner-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    project = make_tiny_project(tmp_path_factory.mktemp("spark-project"))
    candidates = project.root / "candidates.txt"
    candidates.write_text("\n".join(DRUGS_NOT_IN_LEXICON + DISEASES_NOT_IN_LEXICON) + "\n", "utf8")
    return project


@pytest.fixture(scope="module")
def run(project: TinyProject) -> Path:
    """A complete run (HMM, candidates, 4 epochs: the model finds entities)."""
    result = hybridner.bootstrap(
        project.lexicons, rules=project.rules, candidates=project.root / "candidates.txt",
        corpus=project.corpus, dev=project.dev, out=project.root / "run", max_epochs=4,
        html=False,
    )
    return result.out


@pytest.fixture(scope="module")
def records(project: TinyProject) -> list[dict[str, Any]]:
    """The corpus (80 documents) plus an empty text, with an int column to carry through."""
    lines = project.corpus.read_text("utf8").splitlines()
    rows = [dict(json.loads(line), n=i) for i, line in enumerate(lines)]
    return rows + [{"id": "empty", "text": "", "source": "test", "n": len(rows)}]


def frame(spark: SparkSession, rows: list[dict[str, Any]], partitions: int = 4) -> DataFrame:
    data = [(r["id"], r["text"], r["source"], r["n"]) for r in rows]
    return spark.createDataFrame(data, SCHEMA).repartition(partitions)


def by_id(rows: list[Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row.asDict(recursive=True) for row in rows}


# ---------------------------------------------------------------------- annotate


def test_spark_annotate_matches_single_machine(spark, run, records) -> None:
    df = frame(spark, records)
    assert df.rdd.getNumPartitions() == 4
    out = hspark.annotate(df, run / "model", batch_size=16)
    assert out.columns == ["id", "text", "source", "n", "entities"]
    assert out.schema["entities"].dataType.simpleString() == (
        "array<struct<start:int,end:int,label:string,text:string>>"
    )
    got = by_id(out.collect())
    expected = list(hybridner.load(run / "model").annotate(records))
    assert len(got) == len(expected) == 81
    assert sum(len(r["entities"]) for r in expected) > 50, "the model should find entities"
    for record in expected:
        row = got[record["id"]]
        assert row["entities"] == record["entities"], record["id"]
        assert (row["text"], row["source"], row["n"]) == (
            record["text"], record["source"], record["n"]
        )
    assert got["empty"]["entities"] == []


def test_spark_annotate_loads_the_model_once_per_worker(spark, run, records) -> None:
    model = str((run / "model").resolve())
    hspark.annotate(frame(spark, records, partitions=6), run / "model").collect()

    def probe(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas

        from hybridner import spark as worker_side

        for _ in batches:
            time.sleep(0.2)  # keep both task slots busy, so both Python workers answer
        info = worker_side._cache_info()
        yield pandas.DataFrame({
            "pid": [info["pid"]],
            "loads": [info["loads"].get(model, 0)],
            "partitions": [info["partitions"].get(model, 0)],
        })

    answers = spark.range(0, 8, numPartitions=8).mapInPandas(
        probe, "pid long, loads long, partitions long"
    ).collect()
    workers = {row["pid"]: row for row in answers}
    served = [row for row in workers.values() if row["partitions"] > 0]
    assert served, f"no Python worker that annotated was found again: {answers}"
    # each worker loaded the model once, however many partitions (and jobs) it served
    assert all(row["loads"] == 1 for row in served), answers
    assert max(row["partitions"] for row in served) >= 2, answers


def test_spark_annotate_worker_cache_in_process(run, records) -> None:
    """The worker function itself, without Spark: two partitions, one load."""
    import pandas

    model = str((run / "model").resolve())
    before = hspark._cache_info()
    batch = pandas.DataFrame(records[:5])
    for _ in range(2):
        list(hspark._annotate_partition(
            iter([batch]), model=model, text_col="text", output_col="entities", id_col="id",
            batch_size=4, on_error="raise",
        ))
    after = hspark._cache_info()
    assert after["loads"][model] == 1  # only this test loads through the driver's cache
    assert after["partitions"][model] == before["partitions"].get(model, 0) + 2


@pytest.mark.parametrize("on_error", ["raise", "skip", "null"])
def test_spark_annotate_null_text(spark, run, records, on_error) -> None:
    rows = records[:6] + [{"id": "no-text", "text": None, "source": "test", "n": 99}]
    out = hspark.annotate(frame(spark, rows, partitions=2), run / "model", on_error=on_error)
    if on_error == "raise":
        with pytest.raises(PythonException, match=r"column 'text', the row with id='no-text': the text is null"):
            out.collect()
        return
    got = by_id(out.collect())
    expected = {r["id"]: r["entities"] for r in hybridner.load(run / "model").annotate(records[:6])}
    assert {k: v["entities"] for k, v in got.items() if k != "no-text"} == expected
    if on_error == "skip":
        assert "no-text" not in got
    else:
        assert got["no-text"]["entities"] is None and got["no-text"]["n"] == 99


def test_spark_annotate_null_text_without_id_column(spark, run) -> None:
    df = spark.createDataFrame([("Aspirin for gout .",), (None,)], "body string").coalesce(1)
    with pytest.raises(PythonException, match=r"column 'body', row 1 of partition 0 \(no 'id' column"):
        hspark.annotate(df, run / "model", text_col="body").collect()


def test_spark_annotate_bad_arguments(spark, run, records, tmp_path) -> None:
    df = frame(spark, records[:3], partitions=1)
    with pytest.raises(CorpusError, match=r"column 'body' is not in the DataFrame \(columns: \['id', 'text', 'source', 'n'\]\)"):
        hspark.annotate(df, run / "model", text_col="body")
    with pytest.raises(CorpusError, match=r"column 'n' has type int; .*cast"):
        hspark.annotate(df, run / "model", text_col="n")
    with pytest.raises(CorpusError, match=r"already has the column\(s\) \['source'\].*output_col="):
        hspark.annotate(df, run / "model", output_col="source")
    with pytest.raises(HybridNERError, match=r"on_error='ignore': use one of \['raise', 'skip', 'null'\]"):
        hspark.annotate(df, run / "model", on_error="ignore")
    with pytest.raises(HybridNERError, match=r"batch_size=0"):
        hspark.annotate(df, run / "model", batch_size=0)
    with pytest.raises(HybridNERError, match=r"not a spaCy model folder"):
        hspark.annotate(df, tmp_path / "no-model")
    # a run folder is accepted for its model, as hybridner.load accepts it
    assert "entities" in hspark.annotate(df, run).columns


# ---------------------------------------------------------------------- weak labels


def weak_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A Spark row's weak-label columns in weak.jsonl's shapes."""
    out = {
        "spans": {
            name: [[s["start"], s["end"], s["label"]] for s in spans]
            for name, spans in row["spans"].items()
        },
        "aggregated": row["aggregated"],
    }
    if "candidates" in row:
        out["candidates"] = row["candidates"]
    return out


def test_spark_weak_label_matches_the_run(spark, run, records) -> None:
    out = hspark.weak_label(frame(spark, records[:80]), run, batch_size=16)
    assert out.columns == ["id", "text", "source", "n", "spans", "aggregated", "candidates"]
    assert out.schema["aggregated"].dataType.simpleString() == (
        "array<struct<start:int,end:int,label:string,confidence:double,voters:array<string>>>"
    )
    got = by_id(out.collect())
    weak = [json.loads(line) for line in (run / "weak.jsonl").read_text("utf8").splitlines()]
    assert len(got) == len(weak) == 80
    assert any(w["candidates"] for w in weak) and any(w["aggregated"] for w in weak)
    for record in weak:
        row = got[record["id"]]
        assert row["text"] == record["text"]
        columns = weak_columns(row)
        for field in ("spans", "aggregated", "candidates"):
            assert columns[field] == record[field], (record["id"], field)


def test_spark_weak_label_matches_weak_labels_with_doc_level(spark, project, records) -> None:
    """A WeakLabels fitted on the driver (here with the document-level round) is applied as is."""
    weak = hybridner.weak_label(
        project.lexicons, corpus=project.corpus, rules=project.rules, doc_level=True,
        aggregator="majority",
    )
    assert "doc:consistency" in weak.function_names
    out = hspark.weak_label(frame(spark, records[:80], partitions=3), weak)
    assert "candidates" not in out.columns
    got = by_id(out.collect())
    for record in weak.records():
        assert weak_columns(got[record["id"]]) == {
            "spans": record["spans"], "aggregated": record["aggregated"]
        }, record["id"]


@pytest.mark.parametrize("on_error", ["skip", "null"])
def test_spark_weak_label_null_text(spark, run, records, on_error) -> None:
    rows = records[:4] + [{"id": "no-text", "text": None, "source": "test", "n": 99}]
    got = by_id(hspark.weak_label(frame(spark, rows, partitions=2), run, on_error=on_error).collect())
    assert sorted(got) == sorted([r["id"] for r in records[:4]] + (["no-text"] if on_error == "null" else []))
    if on_error == "null":
        assert [got["no-text"][c] for c in ("spans", "aggregated", "candidates")] == [None] * 3
    assert all(got[r["id"]]["spans"] for r in records[:4])


def broken_run(run: Path, tmp_path: Path, change: str) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("model", "corpus"))
    report = json.loads((copy / "report.json").read_text("utf8"))
    if change == "no aggregator":
        (copy / "aggregator.json").unlink()
    elif change == "doc level":
        report["settings"]["doc_level"] = True
    elif change == "moved lexicons":
        report["settings"]["lexicons"] = str(tmp_path / "elsewhere")
    (copy / "report.json").write_text(json.dumps(report), "utf8")
    return copy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no aggregator", r"aggregator.json: missing, so .* is not a complete run folder"),
        ("doc level", r"was made with --doc-level, whose first aggregation round is not saved"),
        ("moved lexicons", r"the run's lexicon folder .*elsewhere.* is not there.*pass lexicons="),
    ],
)
def test_spark_weak_label_bad_run_folder(spark, run, records, tmp_path, change, message) -> None:
    df = frame(spark, records[:3], partitions=1)
    with pytest.raises(HybridNERError, match=message):
        hspark.weak_label(df, broken_run(run, tmp_path, change))


def test_spark_weak_label_bad_arguments(spark, run, project, records, tmp_path) -> None:
    df = frame(spark, records[:3], partitions=1)
    with pytest.raises(HybridNERError, match=r"no such run folder"):
        hspark.weak_label(df, tmp_path / "missing")
    # other rules than the run's: the aggregator was fitted on other functions
    other = tmp_path / "other_rules.py"
    other.write_text("from hybridner import regex_rule\nx = regex_rule('other', r'x', 'Drug')\n", "utf8")
    with pytest.raises(HybridNERError, match=r"fitted on other labelling functions .*\['disease_suffix', 'dose_mg'\].*\['other'\]"):
        hspark.weak_label(df, run, rules=other)
    with pytest.raises(CorpusError, match=r"already has the column\(s\) \['spans'\]"):
        hspark.weak_label(df.withColumnRenamed("source", "spans"), run)
    with pytest.raises(HybridNERError, match=r"run=int"):
        hspark.weak_label(df, 3)  # type: ignore[arg-type]


def test_spark_without_pyspark_says_how_to_install(monkeypatch, records) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if PySpark were not installed
    with pytest.raises(HybridNERError, match=r'pip install "hybridner\[spark\]"'):
        hspark.annotate(object(), "runs/v1/model")  # type: ignore[arg-type]
