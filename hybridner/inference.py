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
from typing import Any, Literal, NamedTuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from .corpus import BadRecord, check_length
from .errors import CorpusError, HybridNERError
from .labelling import LabellingFunction, _chunks

__all__ = ["NERModel", "Annotations", "ModelFunction", "load", "ON_ERROR"]

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


Offsets = list[tuple[int, int, str]]


def _entities(nlp: Language, texts: list[str]) -> list[Offsets | str]:
    """The entity offsets of each text; a text the model fails on gives the error's
    description instead (a failed batch is retried text by text to find it)."""
    if not texts:
        return []
    try:
        return [
            [(e.start_char, e.end_char, e.label_) for e in doc.ents]
            for doc in nlp.pipe(texts, batch_size=len(texts))
        ]
    except Exception:
        pass
    found: list[Offsets | str] = []
    for text in texts:
        try:
            found.append([(e.start_char, e.end_char, e.label_) for e in nlp(text).ents])
        except Exception as err:
            found.append(f"{type(err).__name__}: {err}")
    return found


def _entities_of_batch(texts: list[str]) -> list[Offsets | str]:
    """In a worker: the entity offsets of each text (compact, unlike a Doc), or the
    description of the model's error on it."""
    assert _WORKER_NLP is not None, "annotation worker started without a model"
    return _entities(_WORKER_NLP, texts)


class _Item(NamedTuple):
    """One input of :meth:`NERModel.annotate`: its text and record, or why it is bad."""

    text: str
    record: dict[str, Any]
    position: int
    error: tuple[str, str] | None


#: What :meth:`NERModel.annotate` does with a record it cannot annotate.
ON_ERROR = ("raise", "skip", "log")
OnError = Literal["raise", "skip", "log"]


class Annotations(Iterator[dict[str, Any]]):
    """The lazy stream of annotated records returned by :meth:`NERModel.annotate`.

    Iterate over it for the records; as it goes, ``annotated`` counts the records
    yielded and ``skipped`` the bad ones left out (``on_error="skip"`` or
    ``"log"``), with their descriptions in ``errors`` (where, message).

    >>> stream = ner.annotate(records, on_error="skip")  # doctest: +SKIP
    >>> out = list(stream); stream.skipped, stream.errors[:1]  # doctest: +SKIP
    """

    def __init__(self, records: Iterator[dict[str, Any]]) -> None:
        self._records = records
        self.annotated = 0
        self.skipped = 0
        self.errors: list[tuple[str, str]] = []

    def __iter__(self) -> Annotations:
        return self

    def __next__(self) -> dict[str, Any]:
        record = next(self._records)
        self.annotated += 1
        return record

    def close(self) -> None:
        """Stop the stream (and its worker processes, if any)."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


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
        texts: Iterable[str | dict[str, Any] | BadRecord],
        *,
        batch_size: int = 256,
        n_process: int = 1,
        on_error: OnError = "raise",
    ) -> Annotations:
        """Annotate texts lazily, in batches, yielding one record per input, in order.

        Inputs are strings or records with a ``"text"`` field; a record's other
        fields (``id``, metadata) are carried through. Each output record has
        ``"entities"``: ``[{"start", "end", "label", "text"}, ...]`` in character
        offsets, ``end`` exclusive. With ``n_process > 1``, batches go to worker
        processes (the model is loaded once per worker) that send back only the
        entity offsets; on a CPU-bound machine this helps only with spare cores.

        A bad record is an input that is neither a string nor a record with a
        string ``"text"``, a :class:`~hybridner.corpus.BadRecord` (what
        ``read_texts(path, keep_bad=True)`` yields for a line that is not JSON), a
        text longer than the model's ``max_length``, or a text the model fails
        on. ``on_error="raise"`` (default) raises an error naming it;
        ``"skip"`` leaves it out and counts it; ``"log"`` does the same and logs
        a warning naming it. The returned :class:`Annotations` stream counts them.

        >>> stream = ner.annotate(["Aspirin.", {"id": 2}], on_error="skip")  # doctest: +SKIP
        >>> [r["text"] for r in stream], stream.skipped  # doctest: +SKIP
        (['Aspirin.'], 1)
        """
        if on_error not in ON_ERROR:
            raise HybridNERError(f"on_error={on_error!r}: use one of {list(ON_ERROR)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise HybridNERError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(n_process, int) or n_process < 1:
            raise HybridNERError(f"n_process must be a positive integer, got {n_process!r}")
        stream = Annotations(iter(()))
        stream._records = self._annotate(texts, batch_size, n_process, on_error, stream)
        return stream

    def _annotate(
        self,
        texts: Iterable[str | dict[str, Any] | BadRecord],
        batch_size: int,
        n_process: int,
        on_error: str,
        stream: Annotations,
    ) -> Iterator[dict[str, Any]]:
        def bad(where: str, message: str) -> None:
            if on_error == "raise":
                raise CorpusError(message)
            stream.skipped += 1
            if len(stream.errors) < 1000:
                stream.errors.append((where, message))
            if on_error == "log":
                logger.warning("skipped %s", message)

        def name(record: dict[str, Any], position: int) -> str:
            if record.get("id") is not None:
                return f"record {record['id']!r}"
            return f"input {position}"

        def items() -> Iterator[_Item]:
            """Each input as an item to annotate, or a bad one, in input order."""
            for position, item in enumerate(texts, start=1):
                if isinstance(item, str):
                    text, record = item, {"text": item}
                elif isinstance(item, dict) and isinstance(item.get("text"), str):
                    text, record = item["text"], dict(item)
                elif isinstance(item, BadRecord):
                    yield _Item("", {}, position, (item.where, item.error))
                    continue
                else:
                    where = (
                        name(item, position) if isinstance(item, dict) else f"input {position}"
                    )
                    got = (
                        f"a record with fields {sorted(item)}" if isinstance(item, dict)
                        else type(item).__name__
                    )
                    yield _Item("", {}, position, (where, (
                        f"{where}: expected a string or a record with a string \"text\", got "
                        f"{got}; give each record a \"text\""
                    )))
                    continue
                error = None
                if len(text) > self.nlp.max_length:
                    where = name(record, position)
                    try:
                        check_length(self.nlp, text, where)
                    except CorpusError as err:
                        error = (where, str(err))
                yield _Item(text, record, position, error)

        def texts_of(batch: list[_Item]) -> list[str]:
            return [item.text for item in batch if item.error is None]

        def finish(batch: list[_Item], found: list[Offsets | str]) -> Iterator[dict[str, Any]]:
            """The batch's records in input order; bad ones reported where they were."""
            results = iter(found)
            for item in batch:
                if item.error is not None:
                    bad(*item.error)
                    continue
                entities = next(results)
                if isinstance(entities, str):
                    where = name(item.record, item.position)
                    bad(where, (
                        f"{where}: the model failed on this text ({entities}); fix or remove "
                        "the record, or pass on_error='skip' (--on-error skip) to go on without it"
                    ))
                    continue
                item.record["entities"] = [
                    {"start": s, "end": e, "label": label, "text": item.text[s:e]}
                    for s, e, label in entities
                ]
                yield item.record

        if n_process == 1:
            for batch in _chunks(items(), batch_size):
                yield from finish(batch, _entities(self.nlp, texts_of(batch)))
            return
        from .streaming import ordered_map

        global _WORKER_NLP
        previous, _WORKER_NLP = _WORKER_NLP, self.nlp
        try:
            pending = deque[list[_Item]]()

            def send(batch: list[_Item]) -> list[str]:
                pending.append(batch)
                return texts_of(batch)

            results = ordered_map(
                _entities_of_batch, map(send, _chunks(items(), batch_size)), n_process=n_process,
                initializer=_init_annotator, initargs=_annotator_initargs(self.nlp),
            )
            for found in results:
                yield from finish(pending.popleft(), found)
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
