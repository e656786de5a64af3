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
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import spacy
from confection import Config
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as spacy_train

from .corpus import refine_tokenizer, write_docbin
from .errors import TrainingError

__all__ = ["TrainingResult", "ShardCorpus", "render_config", "train_model", "train_on_shards"]

#: Entity IOB value of a token that begins an entity (spaCy's ENT_IOB: 3 = B)
_ENT_IOB = spacy.attrs.ENT_IOB

logger = logging.getLogger("hybridner")

_ON_EVALUATION: contextvars.ContextVar[Callable[[dict[str, Any]], None] | None] = (
    contextvars.ContextVar("hybridner_on_evaluation", default=None)
)


class ShardCorpus:
    """Training examples streamed from DocBin shards, holding one shard at a time.

    Each pass (spaCy's training loop calls the reader once per pass when
    ``max_epochs = -1``) visits the shards in a new seeded order and each shard's
    documents shuffled, so memory is bounded by the largest shard, not the
    corpus. Registered as the ``hybridner.ShardCorpus.v1`` reader.
    """

    def __init__(self, path: str | Path, *, seed: int = 0) -> None:
        self.path = Path(path)
        self.seed = seed
        self.passes = 0

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.spacy")) if self.path.is_dir() else [self.path]

    def __call__(self, nlp: Language) -> Iterator[Example]:
        from spacy.tokens import DocBin

        rng = random.Random(f"{self.seed}:{self.passes}")
        self.passes += 1
        files = self.files()
        rng.shuffle(files)
        for file in files:
            docs = [doc for doc in DocBin().from_disk(file).get_docs(nlp.vocab) if len(doc)]
            rng.shuffle(docs)
            for reference in docs:
                yield Example(nlp.make_doc(reference.text), reference)


@spacy.registry.readers("hybridner.ShardCorpus.v1")
def shard_corpus(path: Path, seed: int = 0) -> ShardCorpus:
    """The ``hybridner.ShardCorpus.v1`` reader of a training config (see :class:`ShardCorpus`)."""
    return ShardCorpus(path, seed=seed)


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
    return _train(
        train_path, dev_path, output_dir=output_dir, n_docs=len(train_docs),
        n_words=sum(len(doc) for doc in train_docs), n_dev=len(dev_docs), lang=lang, seed=seed,
        max_epochs=max_epochs, patience=patience, tokenizer=tokenizer, vectors=vectors,
        saved_train="corpus/train.spacy",
    )


def _stream_training(config: Config, *, n_words: int, max_epochs: int) -> None:
    """Switch a training config to streamed shards: bounded memory, a step budget.

    spaCy's loop keeps every example in a list when ``max_epochs >= 0``; with
    ``-1`` it asks the reader again at each pass. The budget is ``max_epochs``
    passes of batches at the batcher's largest size (in words).
    """
    config["corpora"]["train"] = {
        "@readers": "hybridner.ShardCorpus.v1", "path": config["paths"]["train"],
        "seed": config["system"]["seed"],
    }
    words_per_batch = config["training"]["batcher"]["size"]["stop"]
    config["training"]["max_epochs"] = -1
    config["training"]["max_steps"] = max(1, max_epochs * math.ceil(n_words / words_per_batch))


def train_on_shards(
    shards: str | Path,
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
    """:func:`train_model` on training documents streamed from DocBin files.

    ``shards`` is a ``.spacy`` file or a folder of them, such as the
    ``--training-data`` folder of ``hybridner label``. They are streamed
    (:class:`ShardCorpus`), one shard at a time in a seeded order at every pass,
    so memory stays bounded by the largest shard, however many documents there
    are; ``max_epochs`` passes' worth of steps are trained (early stopping as
    usual). The saved ``config.cfg`` names ``shards`` (absolute) as its training
    data and the ``hybridner.ShardCorpus.v1`` reader (spaCy finds it once
    hybridner is installed).

    >>> result = train_on_shards("shards/", dev, output_dir="run")  # doctest: +SKIP
    """
    from spacy.tokens import DocBin

    shards = Path(shards)
    files = sorted(shards.glob("*.spacy")) if shards.is_dir() else [shards]
    if not shards.exists() or not files:
        raise TrainingError(
            f"{shards}: no training data (a .spacy file, or a folder of them, as written by "
            "hybridner label --training-data) found there"
        )
    n_docs = n_words = 0
    has_entities = False
    for file in files:
        try:
            docbin = DocBin().from_disk(file)
        except Exception as err:  # spaCy raises ValueError/KeyError/OSError on a foreign file
            raise TrainingError(
                f"{file}: not a spaCy DocBin ({type(err).__name__}: {err}); give the folder "
                "hybridner label --training-data wrote"
            ) from None
        n_docs += len(docbin)
        n_words += sum(len(tokens) for tokens in docbin.tokens)
        has_entities = has_entities or any(
            (tokens[:, docbin.attrs.index(_ENT_IOB)] == 3).any() for tokens in docbin.tokens
            if len(tokens)
        )
    if not n_docs:
        raise TrainingError(f"{shards}: the training data holds no document")
    if not has_entities:
        raise TrainingError(
            f"{shards}: no entity in any training document; check the labelling run that wrote it"
        )
    if not dev_docs:
        raise TrainingError("no dev documents to select the best model with")
    output_dir = Path(output_dir)
    corpus_dir = output_dir / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    dev_path = corpus_dir / "dev.spacy"
    write_docbin(dev_path, dev_docs)
    train_path = shards.resolve()
    return _train(
        train_path, dev_path, output_dir=output_dir, n_docs=n_docs, n_words=n_words,
        n_dev=len(dev_docs), lang=lang, seed=seed, max_epochs=max_epochs, patience=patience,
        tokenizer=tokenizer, vectors=vectors, saved_train=str(train_path), stream=True,
    )


def _train(
    train_path: Path,
    dev_path: Path,
    *,
    output_dir: Path,
    n_docs: int,
    n_words: int,
    n_dev: int,
    lang: str,
    seed: int,
    max_epochs: int,
    patience: int,
    tokenizer: str,
    vectors: str | Path | None,
    saved_train: str,
    stream: bool = False,
) -> TrainingResult:
    """Fill the config, run spaCy's training loop, keep the best model in ``output_dir``.

    With ``stream``, the training documents are streamed (:class:`ShardCorpus`,
    spaCy's ``max_epochs = -1``) instead of held in a list, and ``max_epochs``
    becomes the step budget of as many passes over the words.
    """
    overrides = {"paths.train": str(train_path), "paths.dev": str(dev_path)}
    if vectors is not None:
        kept = output_dir / "vectors"
        if Path(vectors).resolve() != kept.resolve():
            if kept.exists():
                shutil.rmtree(kept)
            shutil.copytree(vectors, kept)
        overrides["paths.vectors"] = str(kept)

    eval_frequency = max(20, min(1000, n_words // 200))
    text = render_config(
        lang=lang, seed=seed, max_epochs=max_epochs, patience=patience,
        eval_frequency=eval_frequency, vectors=None if vectors is None else "vectors",
    )
    config_path = output_dir / "config.cfg"
    config_path.write_text(text, encoding="utf8")

    config = Config().from_str(text, overrides=overrides)
    if stream:
        _stream_training(config, n_words=n_words, max_epochs=max_epochs)
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
            n_docs, n_words, n_dev, max_epochs,
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
    saved["paths"]["train"] = saved_train
    saved["paths"]["dev"] = "corpus/dev.spacy"
    saved["paths"]["vectors"] = None if vectors is None else "vectors"
    # spaCy saved the resolved (temporary) paths; point them back at [paths]
    saved["corpora"]["train"]["path"] = "${paths.train}"
    if stream:
        saved["corpora"]["train"]["seed"] = "${system.seed}"
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
