"""Typed errors raised by hybridner.

Every error names the thing that is wrong (file and line, rule, document), shows
the value received, says what is allowed and suggests a fix. Each class also
subclasses the closest built-in exception so that callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "HybridNERError",
    "LexiconError",
    "RuleError",
    "CorpusError",
    "AggregationError",
    "NotFittedError",
    "TrainingError",
    "OutputError",
]


class HybridNERError(Exception):
    """Base class of every error hybridner raises on purpose."""


class LexiconError(HybridNERError, ValueError):
    """A lexicon folder or file cannot be used (missing, empty, bad encoding, bad label)."""


class RuleError(HybridNERError, ValueError):
    """A labelling function is badly defined, cannot be imported, or misbehaves on a document."""


class CorpusError(HybridNERError, ValueError):
    """A corpus or gold file cannot be read (bad JSON, missing text, bad offsets)."""


class AggregationError(HybridNERError, RuntimeError):
    """The aggregator cannot be fitted or applied to the labelled documents."""


class NotFittedError(HybridNERError, AttributeError):
    """An aggregator was used before ``fit`` was called."""


class TrainingError(HybridNERError, RuntimeError):
    """Training the spaCy model failed or has nothing to learn from."""


class OutputError(HybridNERError, OSError):
    """An output location cannot be written (exists, not a folder, unsafe)."""
