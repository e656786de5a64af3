"""Use a trained model: annotate a stream of texts, for ETL jobs.

>>> import hybridner
>>> ner = hybridner.load("runs/v1/model")  # doctest: +SKIP
>>> for record in ner.annotate(["Metformin was stopped."]):  # doctest: +SKIP
...     record["entities"]
[{'start': 0, 'end': 9, 'label': 'Drug', 'text': 'Metformin'}]
"""

from __future__ import annotations

import logging
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
    ) -> Iterator[dict[str, Any]]:
        """Annotate texts lazily, in batches, yielding one record per input.

        Inputs are strings or records with a ``"text"`` field; a record's other
        fields (``id``, metadata) are carried through. Each output record has
        ``"entities"``: ``[{"start", "end", "label", "text"}, ...]`` in character
        offsets, ``end`` exclusive.
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

        for doc, record in self.nlp.pipe(pairs(), as_tuples=True, batch_size=batch_size):
            record["entities"] = [
                {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
                for e in doc.ents
            ]
            yield record

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
