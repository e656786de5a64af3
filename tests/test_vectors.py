"""Floret vectors trained on the corpus, and their use by the trained model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy
import pytest
import spacy
from confection import Config
from conftest import TinyProject

from hybridner import bootstrap
from hybridner.corpus import make_docs, make_nlp, read_texts
from hybridner.errors import HybridNERError
from hybridner.vectors import FloretSettings, check_vectors, require_floret, train_floret_vectors

SMALL = FloretSettings(dim=16, epochs=3)


def _docs(project: TinyProject) -> list:
    return list(make_docs(make_nlp("en"), read_texts(project.corpus)))


def test_vectors_floret_trained_saved_and_deterministic(tiny_project: TinyProject, tmp_path: Path) -> None:
    docs = _docs(tiny_project)
    first = train_floret_vectors(docs, tmp_path / "a", settings=SMALL)
    second = train_floret_vectors(docs, tmp_path / "b", settings=SMALL)
    a, b = spacy.load(first), spacy.load(second)
    assert a.vocab.vectors.mode == "floret"
    assert a.vocab.vectors.shape == (SMALL.bucket, SMALL.dim)
    assert numpy.array_equal(a.vocab.vectors.data, b.vocab.vectors.data)
    # subword vectors: a word never seen in the corpus still gets a vector
    assert numpy.abs(a.vocab["aspirinoid"].vector).sum() > 0
    assert check_vectors(first) == first


def test_vectors_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(HybridNERError, match="no spaCy vectors there"):
        check_vectors(tmp_path)
    with pytest.raises(HybridNERError, match="no text"):
        train_floret_vectors([], tmp_path / "v", settings=SMALL)
    monkeypatch.setitem(sys.modules, "floret", None)
    with pytest.raises(HybridNERError, match=r"pip install \"hybridner\[vectors\]\""):
        require_floret()


@pytest.mark.slow
def test_vectors_bootstrap_with_floret(tiny_project: TinyProject) -> None:
    out = tiny_project.root / "run"
    result = bootstrap(
        tiny_project.lexicons, rules=tiny_project.rules, corpus=tiny_project.corpus,
        dev=tiny_project.dev, out=out, max_epochs=1, vectors="floret",
    )
    assert (out / "vectors" / "vocab" / "vectors").exists()
    assert result.nlp.vocab.vectors.mode == "floret"
    assert spacy.load(out / "model").vocab.vectors.shape == result.nlp.vocab.vectors.shape
    config = Config().from_disk(out / "config.cfg")
    assert config["paths"]["vectors"] == "vectors"
    assert config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] is True
    saved = (out / "model" / "config.cfg").read_text("utf8")
    assert ".tmp-" not in saved, "the saved config must not name the temporary run folder"
    assert result.report["settings"]["vectors"] == "floret"
    assert "vectors" in result.report["timings"]


def test_vectors_bootstrap_bad_path_fails_before_work(tiny_project: TinyProject) -> None:
    with pytest.raises(HybridNERError, match="no spaCy vectors there"):
        bootstrap(
            tiny_project.lexicons, corpus=tiny_project.corpus, out=tiny_project.root / "run",
            vectors=tiny_project.root / "missing",
        )
    assert not (tiny_project.root / "run").exists()
