"""End-to-end: weak labelling, training and scoring through the library API."""

from __future__ import annotations

import json
import random

import pytest
import spacy
from browser import check_in_browser, find_browser
from spacy.tokens import DocBin

import hybridner
from hybridner import bootstrap, weak_label
from hybridner.corpus import read_gold
from hybridner.evaluation import score_entities


def test_bootstrap_weak_label_uses_rules_beside_lexicons(tiny_project):
    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus)
    names = weak.function_names
    assert "disease_suffix" in names and "dose_mg" in names
    assert "lexicon:Drug:uncased" in names
    assert weak.labels == ["Disease", "Dose", "Drug"]
    record = weak.records()[0]
    assert record["id"] == "doc-0"
    assert set(record["spans"]) == set(names)
    for span in record["aggregated"]:
        assert 0.0 <= span["confidence"] <= 1.0
        assert span["voters"], "every aggregated span names the functions that voted for it"
        assert record["text"][span["start"] : span["end"]]


def test_bootstrap_weak_label_without_default_rules(tiny_project):
    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, default_rules=False)
    assert all(name.startswith("lexicon:") for name in weak.function_names)


@pytest.mark.slow
def test_bootstrap_end_to_end_tiny_project(tiny_project):
    out = tiny_project.root / "run"
    result = bootstrap(
        tiny_project.lexicons,
        corpus=tiny_project.corpus,
        dev=tiny_project.dev,
        out=out,
        max_epochs=3,
        seed=1,
    )
    assert result.model_path == out / "model"
    for name in ("config.cfg", "weak.jsonl", "aggregator.json", "report.json", "report.md"):
        assert (out / name).is_file(), name
    assert not [p for p in tiny_project.root.iterdir() if p.name.startswith(".")]
    report = json.loads((out / "report.json").read_text())
    assert set(report["dev"]) >= {"model", "aggregated", "lexicon_only", "functions"}
    assert report["functions"]["lexicon:Drug:uncased"]["kind"] == "lexicon"
    assert "recall" in report["functions"]["lexicon:Drug:uncased"]["hmm"]["Drug"]
    assert report["training"]["history"], "each evaluation is recorded"
    assert set(report["timings"]) >= {"labelling", "aggregation", "training", "total"}

    # the model is a plain spaCy pipeline, and the hybridner facade streams records
    nlp = spacy.load(out / "model")
    assert "ner" in nlp.pipe_names
    ner = hybridner.load(out / "model")
    stream = ner.annotate(iter(["Aspirin for gout .", {"id": "k", "text": "Naproxen helps .", "x": 1}]))
    first, second = list(stream)
    assert first["text"] == "Aspirin for gout ."
    assert second["id"] == "k" and second["x"] == 1
    for record in (first, second):
        for ent in record["entities"]:
            assert record["text"][ent["start"] : ent["end"]] == ent["text"]

    # config.cfg is the commented template, and spaCy can parse it
    config_text = (out / "config.cfg").read_text()
    assert config_text.startswith("# hybridner training config")
    spacy.util.load_config(out / "config.cfg")

    # the model's own scores match an independent evaluation of the dev set
    gold = read_gold(tiny_project.dev)
    predicted = [ner.entities(g.text) for g in gold]
    assert score_entities([g.entities for g in gold], predicted).f1 == pytest.approx(
        report["dev"]["model"]["f1"]
    )


@pytest.mark.slow
def test_bootstrap_without_dev_holds_out_weak_documents(tiny_project):
    out = tiny_project.root / "run"
    result = bootstrap(tiny_project.lexicons, corpus=tiny_project.corpus, out=out, max_epochs=2)
    assert "held-out" in result.report["dev"]["source"]
    train = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(spacy.blank("en").vocab))
    dev = list(DocBin().from_disk(out / "corpus" / "dev.spacy").get_docs(spacy.blank("en").vocab))
    assert len(train) + len(dev) == 80 and len(dev) == 8


@pytest.mark.slow
def test_bootstrap_gold_examples_are_mixed_into_training(tiny_project):
    out = tiny_project.root / "run"
    bootstrap(
        tiny_project.lexicons, corpus=tiny_project.corpus, dev=tiny_project.dev,
        gold=tiny_project.dev, out=out, max_epochs=1,
    )
    train = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert len(train) == 80 + 12


@pytest.mark.slow
def test_bootstrap_dev_texts_in_the_corpus_are_not_trained_on(tiny_project):
    dev = [json.loads(line) for line in tiny_project.dev.read_text("utf8").splitlines()]
    with tiny_project.corpus.open("a", encoding="utf8") as handle:
        for record in dev[:3]:
            handle.write(json.dumps({"id": record["id"] + "-copy", "text": record["text"]}) + "\n")
    out = tiny_project.root / "run"
    result = bootstrap(
        tiny_project.lexicons, corpus=tiny_project.corpus, dev=tiny_project.dev, out=out,
        max_epochs=1,
    )
    assert result.report["corpus"]["documents"] == 83  # they still vote in the aggregator
    train = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert len(train) == 80
    assert not {d.text for d in train} & {r["text"] for r in dev}


@pytest.mark.slow
def test_bootstrap_bc5cdr_slice_model_beats_lexicon_match(shared_data, tmp_path):
    """On real data: the trained model must beat the lexicon match it learned from."""
    folder = shared_data / "bc5cdr"
    rng = random.Random(0)
    dev_lines = (folder / "dev.jsonl").read_text("utf8").splitlines()
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(rng.sample(dev_lines, 150)) + "\n", "utf8")
    result = bootstrap(
        folder / "lexicons",
        candidates=folder / "candidates.txt",
        corpus=folder / "train.jsonl",
        dev=dev,
        out=tmp_path / "run",
        max_epochs=4,
    )
    scores = result.report["dev"]
    assert scores["model"]["f1"] > scores["lexicon_only"]["f1"], scores
    # the browsable report shows every function with its dev precision and recall
    functions = result.report["diagnostics"]["functions"]
    assert functions and all(row["dev_precision"] is not None for row in functions)
    if find_browser() is not None:  # else test_report_html says why it skips
        check_in_browser(
            result.out / "report.html", tmp_path / "report-bc5cdr-slice.png",
            [row["function"] for row in functions],
        )


@pytest.mark.slow
def test_bootstrap_same_seed_same_result(tiny_project):
    """Two runs, and runs on 1 and 2 processes, give byte-identical weak labels and scores."""
    runs = {}
    for name, n_process in (("a", 1), ("b", 1), ("c", 2)):
        out = tiny_project.root / name
        result = bootstrap(
            tiny_project.lexicons, corpus=tiny_project.corpus, dev=tiny_project.dev,
            out=out, max_epochs=2, seed=5, n_process=n_process, cache=False,
        )
        assert result.report["stage_cache"]["models_reused"] == [False]
        losses = [h["loss_ner"] for h in result.report["training"]["history"]]
        runs[name] = ((out / "weak.jsonl").read_bytes(), result.report["dev"]["model"], losses)
    assert runs["a"][0] == runs["b"][0] == runs["c"][0]
    assert runs["a"][1] == runs["b"][1] == runs["c"][1]
    assert runs["a"][2] == runs["b"][2] == runs["c"][2]
    assert any(runs["a"][2]), "the model was trained"


def test_bootstrap_evaluate_on_gold_scores_every_stage(tiny_project):
    from hybridner.evaluation import evaluate_on_gold

    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus, doc_level=True)
    assert "doc:consistency" in weak.function_names
    scores = evaluate_on_gold(weak, read_gold(tiny_project.dev))
    assert set(scores) >= {"lexicon_only", "majority", "aggregated", "functions"}
    assert "doc:abbreviations" in scores["functions"]
    # aggregating lexicons with rules must not be worse than the lexicons alone here
    assert scores["aggregated"]["f1"] >= scores["lexicon_only"]["f1"]


def test_bootstrap_add_function_refits_and_undo_restores(tiny_project):
    from hybridner.labelling import regex_rule

    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus)
    before = [list(d.spans["aggregated"]) for d in weak.docs]
    undo = weak.add_function(regex_rule("late_rule", r"\bnaproxen\b", "Drug"))
    assert "late_rule" in weak.function_names
    assert "late_rule" in weak.aggregator.sources_
    undo()
    assert "late_rule" not in weak.function_names
    after = [list(d.spans["aggregated"]) for d in weak.docs]
    assert [[(s.start, s.end, s.label_) for s in d] for d in before] == [
        [(s.start, s.end, s.label_) for s in d] for d in after
    ]


@pytest.mark.slow
def test_bootstrap_levers_augment_and_self_training(tiny_project):
    out = tiny_project.root / "run"
    result = bootstrap(
        tiny_project.lexicons, corpus=tiny_project.corpus, dev=tiny_project.dev, out=out,
        max_epochs=2, augment=0.5, self_training=1, doc_level=True,
    )
    report = result.report
    assert report["settings"]["augment"] == 0.5
    rounds = report["dev"]["self_training"]
    assert rounds and rounds[0]["round"] == 1 and isinstance(rounds[0]["kept"], bool)
    train = list(DocBin().from_disk(out / "corpus" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert len(train) > 80, "mention replacement adds documents"
    assert not [p for p in out.iterdir() if p.name.startswith(".self-training")]


def test_bootstrap_candidate_rules_do_not_vote_and_leave_tokens_missing(tiny_project):
    from hybridner.corpus import to_training_doc

    (tiny_project.rules / "candidates.py").write_text(
        "from hybridner import labelling_function\n\n"
        "@labelling_function(candidate=True)\n"
        "def capitalised(doc):\n"
        "    return [(t.i, t.i + 1) for t in doc if t.i > 0 and t.is_title]\n",
        "utf8",
    )
    weak = weak_label(tiny_project.lexicons, corpus=tiny_project.corpus)
    assert "capitalised" not in weak.function_names
    assert [f.name for f in weak.candidates] == ["capitalised"]
    assert "CANDIDATE" not in weak.labels
    record = weak.records()[0]
    assert "candidates" in record
    doc = next(d for d in weak.docs if any(t.i > 0 and t.is_title for t in d))
    train = to_training_doc(doc, candidates=["capitalised"])
    inside = {i for e in train.ents for i in range(e.start, e.end)}
    for token in doc:
        if token.i > 0 and token.is_title and token.i not in inside:
            assert train[token.i].ent_iob == 0
