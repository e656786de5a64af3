"""Use a trained model: annotate a stream of texts, for ETL jobs.

>>> import hybridner
>>> ner = hybridner.load("runs/v1/model")  # doctest: +SKIP
>>> for record in ner.annotate(["Metformin was stopped."]):  # doctest: +SKIP
...     record["entities"]
[{'start': 0, 'end': 9, 'label': 'Drug', 'text': 'Metformin'}]
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from .errors import CorpusError, HybridNERError
from .labelling import LabellingFunction

__all__ = ["NERModel", "ModelFunction", "load"]

logger = logging.getLogger("hybridner")

#: The model of an annotation worker process (inherited when forked, else set
#: by :func:`_init_annotator`).
_WORKER_NLP: Language | None = None


def _annotator_initargs(nlp: Language) -> tuple[Any, ...]:
    """Nothing to send to forked workers (they inherit the model); the model's bytes otherwise."""
    if "fork" in multiprocessing.get_all_start_methods():
        return (None, None)
    return (nlp.config.to_str(), nlp.to_bytes())


def _init_annotator(config: str | None, data: bytes | None) -> None:
    global _WORKER_NLP
    if config is not None and data is not None:
        from confection import Config
        from spacy.util import load_model_from_config

        nlp = load_model_from_config(Config().from_str(config), auto_fill=False)
        _WORKER_NLP = nlp.from_bytes(data)


def _entities_of_batch(texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """In a worker: the entity offsets of each text (compact, unlike a Doc)."""
    assert _WORKER_NLP is not None, "annotation worker started without a model"
    return [
        [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for doc in _WORKER_NLP.pipe(texts, batch_size=len(texts))
    ]


class NERModel:
    """A trained hybridner model (a normal spaCy pipeline) with a streaming API."""

    def __init__(self, nlp: Language) -> None:
        if "ner" not in nlp.pipe_names:
            raise HybridNERError(
                f"the pipeline has no 'ner' component (components: {nlp.pipe_names}); "
                "load a model written by hybridner bootstrap"
            )
        self.nlp = nlp

    @property
    def labels(self) -> list[str]:
        """The entity labels the model predicts."""
        return sorted(self.nlp.get_pipe("ner").labels)

    def annotate(
        self,
        texts: Iterable[str | dict[str, Any]],
        *,
        batch_size: int = 256,
        n_process: int = 1,
    ) -> Iterator[dict[str, Any]]:
        """Annotate texts lazily, in batches, yielding one record per input, in order.

        Inputs are strings or records with a ``"text"`` field; a record's other
        fields (``id``, metadata) are carried through. Each output record has
        ``"entities"``: ``[{"start", "end", "label", "text"}, ...]`` in character
        offsets, ``end`` exclusive. With ``n_process > 1``, batches go to worker
        processes (the model is loaded once per worker) that send back only the
        entity offsets; on a CPU-bound machine this helps only with spare cores.
        """

        def pairs() -> Iterator[tuple[str, dict[str, Any]]]:
            for position, item in enumerate(texts):
                if isinstance(item, str):
                    yield item, {"text": item}
                elif isinstance(item, dict) and isinstance(item.get("text"), str):
                    yield item["text"], dict(item)
                else:
                    where = item.get("id", position) if isinstance(item, dict) else position
                    raise CorpusError(
                        f"input {where!r}: expected a string or a record with a string "
                        f"\"text\", got {type(item).__name__}"
                    )

        if n_process == 1:
            for doc, record in self.nlp.pipe(pairs(), as_tuples=True, batch_size=batch_size):
                record["entities"] = [
                    {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
                    for e in doc.ents
                ]
                yield record
            return
        from .labelling import _chunks
        from .streaming import ordered_map

        global _WORKER_NLP
        previous, _WORKER_NLP = _WORKER_NLP, self.nlp
        try:
            pending = deque[list[tuple[str, dict[str, Any]]]]()

            def texts_of(batch: list[tuple[str, dict[str, Any]]]) -> list[str]:
                pending.append(batch)
                return [text for text, _ in batch]

            results = ordered_map(
                _entities_of_batch, map(texts_of, _chunks(pairs(), batch_size)), n_process=n_process,
                initializer=_init_annotator, initargs=_annotator_initargs(self.nlp),
            )
            for found in results:
                batch = pending.popleft()
                for (text, record), entities in zip(batch, found, strict=True):
                    record["entities"] = [
                        {"start": s, "end": e, "label": label, "text": text[s:e]}
                        for s, e, label in entities
                    ]
                    yield record
        finally:
            _WORKER_NLP = previous

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        """The ``(start, end, label)`` character-offset entities of one text."""
        return [(e.start_char, e.end_char, e.label_) for e in self.nlp(text).ents]


def load(path: str | Path) -> NERModel:
    """Load a model written by ``hybridner bootstrap`` (``RUN/model``) or any spaCy NER pipeline.

    A run folder is accepted too: its ``model/`` subfolder is loaded.
    """
    path = Path(path)
    if (path / "model" / "config.cfg").is_file():
        path = path / "model"
    if not (path / "config.cfg").is_file():
        raise HybridNERError(
            f"{path}: not a spaCy model folder (no config.cfg); pass RUN_DIR/model "
            "as written by hybridner bootstrap"
        )
    try:
        nlp = spacy.load(path)
    except Exception as err:
        raise HybridNERError(f"{path}: the model cannot be loaded: {err}") from err
    return NERModel(nlp)


class ModelFunction(LabellingFunction):
    """A trained model used as one more labelling function (for self-training).

    Its entities, predicted on the document's text, are aligned to the
    document's tokens (widened to whole tokens when the tokenisations differ).
    """

    kind = "model"

    def __init__(self, nlp: Language, *, name: str = "model") -> None:
        super().__init__(name)
        self.nlp = nlp

    def find(self, doc: Doc) -> Iterator[Span]:
        for ent in self.nlp(doc.text).ents:
            span = doc.char_span(ent.start_char, ent.end_char, label=ent.label_, alignment_mode="expand")
            if span is not None:
                yield span
