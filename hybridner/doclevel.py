"""Document-level labelling functions: what one mention says about the others.

They read the spans a first aggregation produced (``doc.spans["aggregated"]``) and
vote in a second round, like any labelling function:

* :class:`DocumentConsistency`: a string labelled with confidence once in a
  document votes for the same label on its other occurrences there;
* :class:`AbbreviationPropagation`: an abbreviation defined as ``long form (LF)``
  after a labelled long form votes for that label on every occurrence of ``LF``.

:func:`hybridner.bootstrap.weak_label` runs them with ``doc_level=True``: label,
aggregate, apply these, aggregate again with them as extra voters.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from spacy.tokens import Doc

from .labelling import LabellingFunction

__all__ = ["DocumentConsistency", "AbbreviationPropagation", "document_functions"]

_OPEN, _CLOSE = {"(", "["}, {")", "]"}


def _confident(doc: Doc, source: str, min_confidence: float) -> Iterator[tuple[int, int, str]]:
    group = doc.spans.get(source)
    if group is None:
        return
    confidences = group.attrs.get("confidence", [1.0] * len(group))
    for span, confidence in zip(group, confidences):
        if confidence >= min_confidence:
            yield span.start, span.end, span.label_


class DocumentConsistency(LabellingFunction):
    """Label every occurrence of a string that is confidently labelled once in the document.

    Strings are compared token by token, case-insensitively; when one string got
    several labels in the document, the most frequent wins. Only strings of at
    least ``min_chars`` characters are propagated (short ones are ambiguous).

    >>> consistency = DocumentConsistency(source="aggregated")
    """

    kind = "document"

    def __init__(
        self,
        *,
        source: str = "aggregated",
        min_confidence: float = 0.8,
        min_chars: int = 3,
        name: str = "doc:consistency",
    ) -> None:
        super().__init__(name)
        self.source = source
        self.min_confidence = min_confidence
        self.min_chars = min_chars

    def find(self, doc: Doc) -> Iterator[tuple[int, int, str]]:
        votes: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for start, end, label in _confident(doc, self.source, self.min_confidence):
            span = doc[start:end]
            if len(span.text) >= self.min_chars:
                votes[tuple(t.lower_ for t in span)][label] += 1
        if not votes:
            return
        by_first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for key in votes:
            by_first[key[0]].append(key)
        lowered = [t.lower_ for t in doc]
        for i, word in enumerate(lowered):
            for key in by_first.get(word, ()):
                if tuple(lowered[i : i + len(key)]) == key:
                    yield i, i + len(key), votes[key].most_common(1)[0][0]


def _is_short_form(text: str) -> bool:
    return (
        2 <= len(text) <= 10
        and any(ch.isupper() for ch in text)
        and text[0].isalnum()
        and " " not in text
    )


class AbbreviationPropagation(LabellingFunction):
    """Give an abbreviation the label of the long form that defines it.

    A definition is a labelled span directly followed by ``(`` one short token
    ``)``, where the short form has an upper-case letter and starts with the same
    letter as the long form (``Parkinson's disease (PD)``). Every occurrence of the
    short form in the document then gets the long form's label.
    """

    kind = "document"

    def __init__(
        self,
        *,
        source: str = "aggregated",
        min_confidence: float = 0.5,
        name: str = "doc:abbreviations",
    ) -> None:
        super().__init__(name)
        self.source = source
        self.min_confidence = min_confidence

    def find(self, doc: Doc) -> Iterator[tuple[int, int, str]]:
        labels: dict[str, str] = {}
        n = len(doc)
        for start, end, label in _confident(doc, self.source, self.min_confidence):
            if end + 2 < n and doc[end].text in _OPEN and doc[end + 2].text in _CLOSE:
                short = doc[end + 1].text
                if _is_short_form(short) and short[0].lower() == doc[start].text[0].lower():
                    labels.setdefault(short, label)
        if not labels:
            return
        for token in doc:
            label = labels.get(token.text)
            if label is not None:
                yield token.i, token.i + 1, label


def document_functions(*, source: str = "aggregated") -> list[LabellingFunction]:
    """The document-level functions hybridner runs in its second aggregation round."""
    return [DocumentConsistency(source=source), AbbreviationPropagation(source=source)]
