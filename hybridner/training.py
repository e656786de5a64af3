"""Train a spaCy NER pipeline on weakly labelled documents.

The configuration comes from a commented template shipped in the package
(``hybridner/templates/ner.cfg``); the filled copy is written next to the model
so that ``spacy train`` can reproduce the run. Training calls spaCy's own
``init_nlp`` and training loop (never ``spacy.cli.train``, which exits the
process) and reports each evaluation through the ``hybridner`` logger.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import spacy
from confection import Config
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as spacy_train

from .corpus import refine_tokenizer, write_docbin
from .errors import TrainingError

__all__ = ["TrainingResult", "render_config", "train_model"]

logger = logging.getLogger("hybridner")

_ON_EVALUATION: contextvars.ContextVar[Callable[[dict[str, Any]], None] | None] = (
    contextvars.ContextVar("hybridner_on_evaluation", default=None)
)


@spacy.registry.loggers("hybridner.LogLogger.v1")
def _log_logger() -> Callable[..., Any]:
    """spaCy training logger that reports to the ``hybridner`` logger."""

    def setup(nlp: Language, stdout: Any = None, stderr: Any = None) -> tuple[Callable, Callable]:
        def log_step(info: dict[str, Any] | None) -> None:
            if info is None:
                return
            losses = info.get("losses", {})
            other = info.get("other_scores", {})
            entry = {
                "epoch": info.get("epoch"),
                "step": info.get("step"),
                "score": float(info.get("score") or 0.0),
                "ents_p": float(other.get("ents_p") or 0.0),
                "ents_r": float(other.get("ents_r") or 0.0),
                "ents_f": float(other.get("ents_f") or 0.0),
                "loss_ner": float(losses.get("ner", 0.0)),
                "seconds": float(info.get("seconds", 0.0)),
            }
            logger.info(
                "epoch %d step %d: dev entity F1 %.1f (P %.1f R %.1f), NER loss %.1f",
                entry["epoch"], entry["step"], 100 * entry["ents_f"], 100 * entry["ents_p"],
                100 * entry["ents_r"], entry["loss_ner"],
            )
            callback = _ON_EVALUATION.get()
            if callback is not None:
                callback(entry)

        def finalize() -> None:
            return None

        return log_step, finalize

    return setup


@dataclass
class TrainingResult:
    """What :func:`train_model` produced."""

    nlp: Language
    model_path: Path
    config_path: Path
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def render_config(
    *,
    lang: str = "en",
    seed: int = 0,
    max_epochs: int = 30,
    patience: int = 1600,
    eval_frequency: int = 200,
    vectors: str | None = None,
) -> str:
    """The commented training config with hybridner's settings filled in.

    >>> "lang = \\"en\\"" in render_config(lang="en")
    True
    """
    template = resources.files("hybridner").joinpath("templates/ner.cfg").read_text("utf8")
    values = {
        "@@LANG@@": lang,
        "@@SEED@@": str(int(seed)),
        "@@MAX_EPOCHS@@": str(int(max_epochs)),
        "@@PATIENCE@@": str(int(patience)),
        "@@EVAL_FREQUENCY@@": str(int(eval_frequency)),
        "@@VECTORS@@": "null" if vectors is None else json.dumps(str(vectors)),
        "@@STATIC_VECTORS@@": "false" if vectors is None else "true",
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def train_model(
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    *,
    output_dir: str | Path,
    lang: str = "en",
    seed: int = 0,
    max_epochs: int = 30,
    patience: int = 1600,
    tokenizer: str = "fine",
    vectors: str | Path | None = None,
) -> TrainingResult:
    """Train an NER pipeline and save the best model (by dev entity F1).

    ``train_docs`` carry their entities in ``doc.ents`` (tokens without annotation
    are "missing"); ``dev_docs`` select the best model. ``output_dir`` receives
    ``config.cfg``, ``corpus/train.spacy``, ``corpus/dev.spacy`` and ``model/``.
    ``tokenizer="fine"`` gives the model the finer tokenisation of
    :func:`hybridner.corpus.refine_tokenizer` (saved with the model).
    ``vectors`` is a spaCy vectors folder (see :mod:`hybridner.vectors`): the
    model then uses them as static vectors; a copy is kept as ``output_dir/vectors``
    (unless it is that folder already) so that ``spacy train`` can reproduce the run.

    >>> result = train_model(train, dev, output_dir="run", max_epochs=5)  # doctest: +SKIP
    >>> result.nlp("Aspirin helps.").ents  # doctest: +SKIP
    """
    if not train_docs:
        raise TrainingError("no training documents; the corpus produced nothing to learn from")
    if not any(len(doc.ents) for doc in train_docs):
        raise TrainingError(
            "no entity in any training document: the labelling functions and aggregator "
            "found nothing confident enough; check the lexicons match the corpus or lower "
            "the confidence threshold"
        )
    if not dev_docs:
        raise TrainingError("no dev documents to select the best model with")
    output_dir = Path(output_dir)
    corpus_dir = output_dir / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    train_path, dev_path = corpus_dir / "train.spacy", corpus_dir / "dev.spacy"
    write_docbin(train_path, train_docs)
    write_docbin(dev_path, dev_docs)

    overrides = {"paths.train": str(train_path), "paths.dev": str(dev_path)}
    if vectors is not None:
        kept = output_dir / "vectors"
        if Path(vectors).resolve() != kept.resolve():
            if kept.exists():
                shutil.rmtree(kept)
            shutil.copytree(vectors, kept)
        overrides["paths.vectors"] = str(kept)

    n_words = sum(len(doc) for doc in train_docs)
    eval_frequency = max(20, min(1000, n_words // 200))
    text = render_config(
        lang=lang, seed=seed, max_epochs=max_epochs, patience=patience,
        eval_frequency=eval_frequency, vectors=None if vectors is None else "vectors",
    )
    config_path = output_dir / "config.cfg"
    config_path.write_text(text, encoding="utf8")

    config = Config().from_str(text, overrides=overrides)
    config["training"]["logger"] = {"@loggers": "hybridner.LogLogger.v1"}
    history: list[dict[str, Any]] = []
    token = _ON_EVALUATION.set(history.append)
    started = time.perf_counter()
    work_dir = output_dir / "training"
    work_dir.mkdir(exist_ok=True)
    try:
        nlp = init_nlp(config)
        if tokenizer == "fine":
            refine_tokenizer(nlp)
        logger.info(
            "training NER on %d documents (%d tokens), dev %d documents, up to %d epochs",
            len(train_docs), n_words, len(dev_docs), max_epochs,
        )
        spacy_train(nlp, work_dir, stdout=io.StringIO(), stderr=io.StringIO())
    except Exception as err:
        raise TrainingError(f"spaCy training failed: {type(err).__name__}: {err}") from err
    finally:
        _ON_EVALUATION.reset(token)
    best = work_dir / "model-best"
    if not best.is_dir():
        raise TrainingError(f"spaCy training did not write a best model in {work_dir}")
    model_path = output_dir / "model"
    if model_path.exists():
        shutil.rmtree(model_path)
    shutil.move(str(best), str(model_path))
    shutil.rmtree(work_dir, ignore_errors=True)
    # the saved config should name spaCy's own logger, so `spacy train` works alone
    saved = Config().from_disk(model_path / "config.cfg", interpolate=False)
    saved["training"]["logger"] = {"@loggers": "spacy.ConsoleLogger.v1", "progress_bar": False}
    saved["paths"]["train"] = "corpus/train.spacy"
    saved["paths"]["dev"] = "corpus/dev.spacy"
    saved["paths"]["vectors"] = None if vectors is None else "vectors"
    # spaCy saved the resolved (temporary) paths; point them back at [paths]
    saved["corpora"]["train"]["path"] = "${paths.train}"
    saved["corpora"]["dev"]["path"] = "${paths.dev}"
    saved["initialize"]["vectors"] = "${paths.vectors}"
    saved.to_disk(model_path / "config.cfg")
    best_score = max((h["score"] for h in history), default=0.0)
    return TrainingResult(
        nlp=spacy.load(model_path),
        model_path=model_path,
        config_path=config_path,
        best_score=best_score,
        history=history,
        seconds=time.perf_counter() - started,
    )
