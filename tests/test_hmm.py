"""The numpy HMM engine against skweak's, on identical inputs."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
from conftest import make_tiny_project
from spacy.tokens import Doc, Span

import hybridner
from benchmarks.hmm import _tags
from hybridner import HMMAggregator, NotFittedError, load_aggregator
from hybridner.errors import AggregationError, HybridNERError
from hybridner.hmm import VoteBatch, correlated_sources, decode, encode, state_names

LABELS = ["Drug", "Disease"]
WORDS = ["the", "patient", "took", "aspirin", "for", "severe", "chronic", "migraine", "and",
         "acute", "renal", "failure", "daily"]
FUNCTIONS = [
    ("drug_lexicon", "Drug", 0.10),
    ("drug_suffix", "Drug", 0.06),
    ("disease_lexicon", "Disease", 0.10),
    ("disease_head", "Disease", 0.08),
    ("noisy", None, 0.05),
]


def _random_docs(nlp, n_docs: int = 60, seed: int = 0, *, correlated: bool = False) -> list[Doc]:
    """Documents with noisy, sometimes overlapping spans from five functions.

    ``correlated`` adds ``drug_lexicon_cased``, a near copy of ``drug_lexicon``
    that skweak's naming rule makes redundant with it.
    """
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        doc = Doc(nlp.vocab, words=[rng.choice(WORDS) for _ in range(rng.randint(1, 40))])
        for name, label, rate in FUNCTIONS:
            spans = []
            for i in range(len(doc)):
                if rng.random() < rate:
                    end = min(len(doc), i + rng.choice([1, 1, 2, 3]))
                    spans.append(Span(doc, i, end, label=label or rng.choice(LABELS + ["Dose"])))
            if name == "noisy" or rng.random() < 0.8:
                doc.spans[name] = spans
        if correlated and "drug_lexicon" in doc.spans:
            copy = [s for s in doc.spans["drug_lexicon"] if rng.random() < 0.7]
            doc.spans["drug_lexicon_cased"] = copy
        docs.append(doc)
    return docs


def _agreement(docs: list[Doc], a: str, b: str) -> float:
    same = sum(x == y for d in docs for x, y in zip(_tags(d, a), _tags(d, b)))
    return same / max(sum(len(d) for d in docs), 1)


def _assert_same_groups(docs: list[Doc], a: str, b: str, *, conf_tol: float = 1e-6) -> None:
    for doc in docs:
        ga, gb = doc.spans[a], doc.spans[b]
        assert [(s.start, s.end, s.label_) for s in ga] == [(s.start, s.end, s.label_) for s in gb]
        assert ga.attrs["voters"] == gb.attrs["voters"]
        assert np.allclose(ga.attrs["confidence"], gb.attrs["confidence"], atol=conf_tol, rtol=0)
        assert ga.attrs["uncertain_tokens"] == gb.attrs["uncertain_tokens"]
        assert np.allclose(ga.attrs["p_outside"], gb.attrs["p_outside"], atol=conf_tol, rtol=0)


def _fit_both(docs, **options):
    ref = HMMAggregator(LABELS, name="skweak", engine="skweak", **options).fit(docs)
    fast = HMMAggregator(LABELS, name="numpy", engine="numpy", **options).fit(docs)
    for doc in docs:
        ref.aggregate(doc)
    list(fast.pipe(docs, batch_size=16))
    return ref, fast


def _assert_same_parameters(ref: HMMAggregator, fast: HMMAggregator, atol: float) -> None:
    a, b = ref.to_dict(), fast.to_dict()
    assert a["sources_"] == b["sources_"]
    for key in ("startprob_", "transmat_"):
        np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=0)
    for key in ("emit_probs_", "weights_"):
        assert sorted(a[key]) == sorted(b[key])
        for source in a[key]:
            np.testing.assert_allclose(a[key][source], b[key][source], atol=atol, rtol=0)


# -- building blocks -----------------------------------------------------------------------


def test_hmm_states_are_skweaks():
    assert state_names(["Drug", "Disease"]) == ["O", "B-Drug", "I-Drug", "B-Disease", "I-Disease"]


def test_hmm_correlated_sources_follow_skweaks_naming_rule():
    names = ["drug", "drug_cased", "drug_uncased", "disease", "big_drug"]
    assert correlated_sources("drug", names) == ["drug_cased", "drug_uncased", "big_drug"]
    assert correlated_sources("disease", names) == []


def test_hmm_encode_overlaps_later_span_wins_and_unknown_labels_vote_o(nlp):
    doc = nlp("a b c d e")
    doc.spans["f"] = [Span(doc, 0, 3, label="Drug"), Span(doc, 1, 2, label="Disease")]
    doc.spans["g"] = [Span(doc, 4, 5, label="Dose")]
    votes = encode(doc, ["f", "g"], {"f": 0, "g": 1}, {"Drug": 1, "Disease": 2})
    assert votes.sources.tolist() == [0, 1]
    got = sorted(zip(votes.vote_tokens.tolist(), votes.vote_sources.tolist(), votes.vote_labels.tolist()))
    assert got == [(0, 0, 1), (1, 0, 3), (2, 0, 2)]  # B-Drug, B-Disease (later), I-Drug


def test_hmm_decode_reads_spans_like_skweak(nlp):
    doc = nlp("a b c d e f")
    doc.spans["f"] = [Span(doc, 0, 6, label="Drug")]
    batch = VoteBatch([encode(doc, ["f"], {"f": 0}, {"Drug": 1})], n_obs=3)
    # O, B, I, I(after I: continues), O, I (after O: starts a span)
    posteriors = np.array([[1, 0, 0], [0, .9, .1], [0, .2, .8], [0, .3, .7], [.95, .05, 0], [0.4, 0, .6]])
    found = decode(batch, posteriors)
    assert list(zip(found.span_starts, found.span_ends)) == [(1, 4), (5, 6)]
    assert found.confidences.tolist() == pytest.approx([(0.9 + 0.8 + 0.7) / 3, 0.0])
    assert found.uncertain.tolist() == [4] and found.p_outside.tolist() == [0.95]


# -- numpy against skweak ----------------------------------------------------------------


def test_hmm_same_initialisation_as_skweak(nlp):
    ref, fast = _fit_both(_random_docs(nlp), n_iter=0)
    _assert_same_parameters(ref, fast, atol=1e-6)  # the float32 majority vote of skweak


@pytest.mark.parametrize("n_iter", [1, 20])
@pytest.mark.parametrize("correlated", [False, True])
def test_hmm_fitted_parameters_match_skweak(nlp, n_iter, correlated):
    ref, fast = _fit_both(_random_docs(nlp, correlated=correlated), n_iter=n_iter)
    _assert_same_parameters(ref, fast, atol=1e-6)
    weights = fast.to_dict()["weights_"]
    assert (min(min(w) for w in weights.values()) < 1.0) == correlated


def test_hmm_aggregated_spans_match_skweak_on_random_docs(nlp):
    docs = _random_docs(nlp, n_docs=80, seed=1)
    ref, fast = _fit_both(docs)
    assert _agreement(docs, "skweak", "numpy") >= 0.99
    _assert_same_groups(docs, "skweak", "numpy")
    for weights in (ref.function_weights(), fast.function_weights()):
        assert sorted(weights) == ref.sources_
    a, b = ref.function_weights(), fast.function_weights()
    for source in a:
        for label in LABELS:
            for key, value in a[source][label].items():
                assert b[source][label][key] == pytest.approx(value, abs=1e-5)


def test_hmm_posteriors_match_skweak_with_identical_parameters(nlp):
    docs = _random_docs(nlp, n_docs=40, seed=2)
    ref = HMMAggregator(LABELS, name="skweak", engine="skweak").fit(docs)
    data = ref.to_dict() | {"engine": "numpy", "name": "numpy"}
    fast = HMMAggregator.from_dict(data)
    for doc in docs:
        ref.aggregate(doc)
    list(fast.pipe(docs, batch_size=7))
    _assert_same_groups(docs, "skweak", "numpy", conf_tol=1e-9)


def test_hmm_tiny_project_matches_skweak(tmp_path):
    project = make_tiny_project(tmp_path)
    weak = hybridner.weak_label(
        project.lexicons, corpus=project.corpus, rules=project.rules, hmm_engine="skweak"
    )
    assert weak.aggregator.engine == "skweak"
    fast = HMMAggregator(weak.labels, sources=weak.function_names, name="numpy", engine="numpy")
    list(fast.fit(weak.docs).pipe(weak.docs))
    assert fast.sources_ == weak.aggregator.sources_
    assert _agreement(weak.docs, "aggregated", "numpy") >= 0.99
    _assert_same_groups(weak.docs, "aggregated", "numpy")


def test_hmm_bc5cdr_first_200_documents_match_skweak(shared_data, tmp_path):
    from benchmarks.run import settings_for

    corpus = tmp_path / "train200.jsonl"
    with (shared_data / "bc5cdr" / "train.jsonl").open(encoding="utf8") as handle:
        corpus.write_text("".join(line for _, line in zip(range(200), handle)), encoding="utf8")
    settings = settings_for("bc5cdr", shared_data)
    weak = hybridner.weak_label(
        settings["lexicons"], corpus=corpus, rules=settings["rules"],
        candidates=settings["candidates"], doc_level=settings["doc_level"], default_rules=False,
        hmm_engine="skweak",
    )
    assert weak.aggregator.engine == weak.first_round.engine == "skweak"
    # both rounds of the benchmark's aggregation, each against the skweak result weak_label wrote
    rounds = [([f.name for f in weak.functions], "aggregated:first"), (weak.function_names, "aggregated")]
    for sources, reference in rounds:
        fast = HMMAggregator(weak.labels, sources=sources, name="numpy", engine="numpy")
        list(fast.fit(weak.docs).pipe(weak.docs, batch_size=64))
        assert _agreement(weak.docs, reference, "numpy") >= 0.99
        same = [d for d in weak.docs if [(s.start, s.end, s.label_) for s in d.spans[reference]]
                == [(s.start, s.end, s.label_) for s in d.spans["numpy"]]]
        assert len(same) >= 0.98 * len(weak.docs)
        for doc in same:
            assert doc.spans[reference].attrs["voters"] == doc.spans["numpy"].attrs["voters"]
            assert np.allclose(doc.spans[reference].attrs["confidence"],
                               doc.spans["numpy"].attrs["confidence"], atol=1e-4, rtol=0)


# -- the estimator contract and save/load ----------------------------------------------------


def test_hmm_numpy_fit_returns_self_and_use_before_fit_raises(nlp):
    agg = HMMAggregator(LABELS, engine="numpy")
    with pytest.raises(NotFittedError, match="fit"):
        agg.aggregate(nlp("aspirin"))
    with pytest.raises(NotFittedError, match="fit"):
        next(agg.pipe([nlp("aspirin")]))
    assert agg.fit(_random_docs(nlp, 10)) is agg


def test_hmm_numpy_save_load_round_trip(nlp, tmp_path):
    docs = _random_docs(nlp, n_docs=30, seed=3)
    agg = HMMAggregator(LABELS, engine="numpy", seed=4).fit(docs)
    agg.save(tmp_path / "agg.json")
    assert json.loads((tmp_path / "agg.json").read_text())["engine"] == "numpy"
    clone = load_aggregator(tmp_path / "agg.json")
    assert clone.engine == "numpy" and clone.sources_ == agg.sources_
    assert clone.function_weights() == agg.function_weights()
    for doc in docs:
        assert agg.aggregate(doc) == clone.aggregate(doc)


def test_hmm_skweak_file_without_engine_key_still_loads(nlp, tmp_path):
    docs = _random_docs(nlp, n_docs=20, seed=5)
    data = HMMAggregator(LABELS, engine="skweak").fit(docs).to_dict()
    assert data.pop("engine") == "skweak"
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_aggregator(tmp_path / "old.json").engine == "skweak"


def test_hmm_unknown_engine_is_a_clear_error(nlp):
    with pytest.raises(HybridNERError, match="'numpy'"):
        HMMAggregator(LABELS, engine="torch").fit(_random_docs(nlp, 5))


def test_hmm_numpy_sample_is_skweaks_for_lists_and_seeded_for_streams(nlp):
    docs = _random_docs(nlp, n_docs=50, seed=6)
    ref = HMMAggregator(LABELS, max_fit_docs=20, seed=9, engine="skweak").fit(docs)
    fast = HMMAggregator(LABELS, max_fit_docs=20, seed=9, engine="numpy").fit(docs)
    _assert_same_parameters(ref, fast, atol=1e-6)
    streamed = [HMMAggregator(LABELS, max_fit_docs=20, seed=9, engine="numpy").fit(iter(docs))
                for _ in range(2)]
    assert streamed[0].to_dict() == streamed[1].to_dict()


# -- edge cases --------------------------------------------------------------------------------


def test_hmm_numpy_edge_documents_match_skweak(nlp):
    docs = _random_docs(nlp, n_docs=40, seed=7)
    ref = HMMAggregator(LABELS, engine="skweak").fit(docs)
    fast = HMMAggregator(LABELS, engine="numpy").fit(docs)
    single = nlp("aspirin")
    single.spans["drug_lexicon"] = [Span(single, 0, 1, label="Drug")]
    silent = nlp("nothing fired here")
    silent.spans["drug_lexicon"] = []
    unseen = nlp("aspirin again")
    unseen.spans["brand_new"] = [Span(unseen, 0, 1, label="Drug")]
    edge = [nlp(""), silent, single, unseen, nlp("no span groups at all")]
    mixed = edge + docs[:9]  # a batch mixing empty, one-token and long documents
    expected = [ref.aggregate(doc) for doc in mixed]
    assert expected[:2] == [[], []] and expected[3] == []
    assert [s.label for s in expected[2]] == ["Drug"]
    for batch_size in (1, 4, 100):
        out = list(fast.pipe(mixed, batch_size=batch_size))
        assert [id(d) for d in out] == [id(d) for d in mixed]  # in order
        got = [([(s.start, s.end, s.label_) for s in d.spans["aggregated"]],
                list(d.spans["aggregated"].attrs["voters"])) for d in out]
        assert got == [([(s.start, s.end, s.label) for s in spans], [s.voters for s in spans])
                       for spans in expected]
    empty = nlp("")
    assert fast.aggregate(empty) == [] and len(empty.spans["aggregated"]) == 0


def test_hmm_numpy_no_spans_anywhere_is_a_clear_error(nlp):
    docs = [nlp(text) for text in ("no drugs here", "", "none")]
    for doc in docs:
        doc.spans["drugs"] = []
    with pytest.raises(AggregationError, match="no labelling function produced a span"):
        HMMAggregator(LABELS, engine="numpy").fit(docs)
    with pytest.raises(AggregationError, match="no labelling function produced a span"):
        HMMAggregator(LABELS, engine="numpy").fit([])


def test_hmm_numpy_impossible_document_is_left_out_and_aggregated_as_o(nlp, caplog):
    docs = _random_docs(nlp, n_docs=30, seed=8)
    broken = nlp("a b c")
    # one function, overlapping spans: B-Drug, B-Disease, I-Drug cannot be a BIO sequence
    broken.spans["drug_lexicon"] = [Span(broken, 0, 3, label="Drug"), Span(broken, 1, 2, label="Disease")]
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        agg = HMMAggregator(LABELS, engine="numpy").fit(docs + [broken])
    assert "no state sequence" in caplog.text
    assert agg.aggregate(broken) == []
    assert broken.spans["aggregated"].attrs["uncertain_tokens"] == []
    # left out entirely: the same model as without it
    reference = HMMAggregator(LABELS, engine="numpy").fit(docs)
    for key in ("startprob_", "transmat_"):
        np.testing.assert_allclose(reference.to_dict()[key], agg.to_dict()[key], atol=1e-9)


def test_hmm_numpy_keeps_stdout_clean(nlp, capsys):
    docs = _random_docs(nlp, n_docs=10)
    list(HMMAggregator(LABELS, engine="numpy").fit(docs).pipe(docs))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_hmm_benchmark_measure_reports_agreement(nlp):
    from benchmarks.hmm import measure, render_markdown

    docs = _random_docs(nlp, n_docs=30, seed=10)
    result = measure(docs, LABELS, [name for name, _, _ in FUNCTIONS], n_iter=5)
    assert result["agreement"]["numpy"]["token_agreement"] >= 0.99
    assert result["agreement"]["numpy"]["entity_f1"] >= 0.99
    assert set(result["speedup"]["numpy"]) == {"fit_s", "aggregate_s", "total_s"}
    assert "| numpy |" in render_markdown(result) and "| skweak |" in render_markdown(result)
