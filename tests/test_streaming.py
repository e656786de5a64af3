"""Streaming weak labelling: bounded memory, worker processes, same output as in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from conftest import TinyProject
from spacy.tokens import DocBin
from typer.testing import CliRunner

from hybridner import weak_label
from hybridner.cli import app
from hybridner.errors import HybridNERError, RuleError
from hybridner.streaming import label_corpus, ordered_map, sample_records

runner = CliRunner()


def _lines(path: Path) -> list[str]:
    return path.read_text("utf8").splitlines()


def _square(x: int) -> int:
    return x * x


def test_streaming_ordered_map_keeps_order_and_reads_ahead_boundedly() -> None:
    read: list[int] = []

    def items():
        for i in range(50):
            read.append(i)
            yield i

    results = ordered_map(_square, items(), n_process=2, max_pending=4)
    first = next(results)
    assert first == 0
    assert len(read) <= 5, "the input stream must not be read far ahead"
    assert [first, *results] == [i * i for i in range(50)]
    assert list(ordered_map(_square, range(5))) == [0, 1, 4, 9, 16]
    with pytest.raises(HybridNERError, match="n_process"):
        list(ordered_map(_square, range(3), n_process=0))


def test_streaming_sample_records_is_seeded_bounded_and_ordered() -> None:
    records = [{"id": i, "text": str(i)} for i in range(1000)]
    sample, count = sample_records(iter(records), 50, seed=3)
    again, _ = sample_records(iter(records), 50, seed=3)
    other, _ = sample_records(iter(records), 50, seed=4)
    assert count == 1000 and len(sample) == 50
    assert sample == again and sample != other
    ids = [r["id"] for r in sample]
    assert ids == sorted(ids)
    assert max(ids) > 500, "a reservoir sample must reach the end of the stream"
    small, count = sample_records(iter(records[:10]), 50)
    assert small == records[:10] and count == 10


def test_streaming_matches_in_memory_weak_label(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "weak.jsonl"
    summary = label_corpus(
        tiny_project.lexicons, corpus=tiny_project.corpus, out=out, batch_size=7
    )
    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus)
    expected = [json.dumps(r, ensure_ascii=False) for r in weak.records()]
    assert _lines(out) == expected
    assert summary.documents == 80 and summary.fit_documents == 80
    assert summary.tokens == sum(len(d) for d in weak.docs)


@pytest.mark.slow
def test_streaming_same_output_for_any_process_count_and_batch(tiny_project: TinyProject) -> None:
    outputs = []
    for n_process, batch_size in ((1, 1000), (2, 9), (2, 1)):
        out = tiny_project.root / f"weak-{n_process}-{batch_size}.jsonl"
        label_corpus(
            tiny_project.lexicons, corpus=tiny_project.corpus, out=out, doc_level=True,
            n_process=n_process, batch_size=batch_size, max_fit_docs=30, seed=1,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_streaming_fits_on_a_bounded_sample(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "weak.jsonl"
    fitted = []
    summary = label_corpus(
        tiny_project.lexicons, corpus=tiny_project.corpus, out=out, max_fit_docs=20,
        on_fitted=lambda weak: fitted.append(len(weak.docs)),
    )
    assert fitted == [20] and summary.fit_documents == 20
    assert len(_lines(out)) == 80  # every document is labelled all the same


def test_streaming_training_shards(tiny_project: TinyProject) -> None:
    shards = tiny_project.root / "train"
    summary = label_corpus(
        tiny_project.lexicons, corpus=tiny_project.corpus, out=tiny_project.root / "weak.jsonl",
        batch_size=25, training_data=shards,
    )
    assert sorted(p.name for p in shards.iterdir()) == [p.name for p in summary.shards]
    assert len(summary.shards) == 4
    vocab = spacy.blank("en").vocab
    docs = [d for p in sorted(shards.iterdir()) for d in DocBin().from_disk(p).get_docs(vocab)]
    assert len(docs) == 80
    assert sum(len(d.ents) for d in docs) > 0
    # spaCy's corpus reader takes the folder as it is
    from spacy.training import Corpus

    nlp = spacy.blank("en")
    assert len(list(Corpus(shards)(nlp))) == 80


def test_streaming_failure_leaves_nothing_half_written(tiny_project: TinyProject) -> None:
    (tiny_project.rules / "bad.py").write_text(
        "from hybridner import labelling_function\n\n"
        "@labelling_function(label='Drug')\n"
        "def explodes(doc):\n"
        "    if doc.user_data.get('id') == 'doc-60':\n"
        "        raise ValueError('boom')\n"
        "    return []\n",
        "utf8",
    )
    out = tiny_project.root / "weak.jsonl"
    out.write_text("previous\n", "utf8")
    shards = tiny_project.root / "train"
    with pytest.raises(RuleError, match="explodes"):
        label_corpus(
            tiny_project.lexicons, corpus=tiny_project.corpus, out=out, batch_size=10,
            training_data=shards, max_fit_docs=10,
        )
    assert _lines(out) == ["previous"]
    assert not shards.exists()
    assert [p.name for p in tiny_project.root.iterdir() if p.name.startswith(".")] == []


def test_streaming_cli_label(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "weak.jsonl"
    result = runner.invoke(app, [
        "label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
        "--out", str(out), "--n-process", "2", "--batch-size", "16",
        "--training-data", str(tiny_project.root / "train"), "--max-fit-docs", "40",
    ])
    assert result.exit_code == 0, result.output
    assert "wrote weak labels of 80 documents" in result.stdout
    assert "training shard(s)" in result.stdout
    assert len(_lines(out)) == 80


def test_streaming_hmm_engines_give_the_same_weak_labels(tiny_project: TinyProject) -> None:
    outputs = []
    for engine in ("numpy", "skweak"):
        out = tiny_project.root / f"weak-{engine}.jsonl"
        result = runner.invoke(app, [
            "label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
            "--out", str(out), "--hmm-engine", engine, "--doc-level",
        ])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text("utf8"))
    assert outputs[0] == outputs[1]
    assert weak_label(tiny_project.lexicons, corpus=tiny_project.corpus).aggregator.engine == "numpy"


@pytest.mark.slow
def test_streaming_label_then_train_on_the_shards(tiny_project: TinyProject) -> None:
    """label --training-data, then train on the shards: bootstrap for corpora beyond memory."""
    shards = tiny_project.root / "train"
    result = runner.invoke(app, [
        "label", str(tiny_project.lexicons), "--corpus", str(tiny_project.corpus),
        "--out", str(tiny_project.root / "weak.jsonl"), "--batch-size", "20",
        "--training-data", str(shards),
    ])
    assert result.exit_code == 0, result.output
    out = tiny_project.root / "run"
    result = runner.invoke(app, [
        "train", str(shards), "--dev", str(tiny_project.dev), "--out", str(out),
        "--max-epochs", "3", "--seed", "3",
    ])
    assert result.exit_code == 0, result.output
    assert f"model written to {out / 'model'}" in result.stdout
    report = json.loads((out / "report.json").read_text("utf8"))
    assert report["dev"]["documents"] > 0 and 0.0 <= report["dev"]["model"]["f1"] <= 1.0
    assert report["training"]["history"], "the training loop reported its evaluations"
    nlp = spacy.load(out / "model")
    assert "ner" in nlp.pipe_names and set(nlp.get_pipe("ner").labels) <= {"Drug", "Disease", "Dose"}
    # the saved config trains again on the same shards with spaCy alone
    config = spacy.util.load_config(out / "model" / "config.cfg", interpolate=False)
    assert Path(config["paths"]["train"]) == shards.resolve()
    # the run folder is not replaced without --overwrite, and a bad shards folder says so
    again = runner.invoke(app, ["train", str(shards), "--dev", str(tiny_project.dev), "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output


@pytest.mark.parametrize("make", ["missing", "empty", "foreign"])
def test_streaming_train_rejects_bad_shards(tiny_project: TinyProject, make: str) -> None:
    shards = tiny_project.root / "train"
    if make != "missing":
        shards.mkdir()
    if make == "foreign":
        (shards / "shard-000000.spacy").write_bytes(b"not a DocBin")
    out = tiny_project.root / "run"
    result = runner.invoke(app, ["train", str(shards), "--dev", str(tiny_project.dev), "--out", str(out)])
    assert result.exit_code == 1
    assert str(shards) in result.output and "hybridner label --training-data" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert [p.name for p in tiny_project.root.iterdir() if p.name.startswith(".")] == []


def test_streaming_shard_corpus_streams_one_shard_at_a_time(tiny_project: TinyProject, monkeypatch) -> None:
    """Training reads the shards lazily, in a new seeded order at each pass, every document once."""
    from hybridner.training import ShardCorpus

    shards = tiny_project.root / "train"
    label_corpus(
        tiny_project.lexicons, corpus=tiny_project.corpus, out=tiny_project.root / "weak.jsonl",
        batch_size=10, training_data=shards,
    )
    reads: list[str] = []
    original = DocBin.from_disk

    def counted(self, path):  # noqa: ANN001 - DocBin's own signature
        reads.append(Path(path).name)
        return original(self, path)

    monkeypatch.setattr(DocBin, "from_disk", counted)
    nlp = spacy.blank("en")
    corpus = ShardCorpus(shards, seed=1)
    stream = corpus(nlp)
    next(stream)
    assert len(reads) == 1  # one shard read, not the corpus
    assert len([eg for eg in stream]) == 79  # the rest of the first pass
    first_pass = list(reads)
    assert sorted(first_pass) == sorted(p.name for p in shards.iterdir()) and len(first_pass) == 8
    texts = [eg.reference.text for eg in corpus(nlp)]
    assert len(texts) == 80 and len(set(texts)) == len(set(
        json.loads(line)["text"] for line in tiny_project.corpus.read_text("utf8").splitlines()
    ))
    assert reads[8:] != reads[:8]  # the second pass visits the shards in another order
    assert [eg.reference.text for eg in ShardCorpus(shards, seed=1)(nlp)][:5] == [
        eg.reference.text for eg in ShardCorpus(shards, seed=1)(nlp)
    ][:5]  # same seed, same order
