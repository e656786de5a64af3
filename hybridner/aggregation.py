"""Aggregators: turn the votes of many labelling functions into one set of spans.

This is the only module that imports skweak. The aggregators are shaped like
scikit-learn estimators: settings in ``__init__``, ``fit(docs)`` returns ``self``,
learned state in attributes ending in ``_``, ``save``/``load`` as JSON.

Each aggregated span carries its confidence (the mean posterior probability of
its tags, ``B-`` on the first token and ``I-`` on the others) and the names of the
functions that voted for it (those with an overlapping span of the same label).
Tokens outside every aggregated span keep their probability of being outside an
entity, so that uncertain regions can be left unannotated in training.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from spacy.tokens import Doc, Span

from .errors import AggregationError, NotFittedError
from .labelling import doc_name

with warnings.catch_warnings():
    # skweak sets global warning filters and imports pandas/hmmlearn at import
    # time; keep all of that out of the rest of the program.
    warnings.simplefilter("ignore")
    import pandas
    from skweak import generative, utils, voting

__all__ = ["AggregatedSpan", "HMMAggregator", "MajorityAggregator", "load_aggregator"]

logger = logging.getLogger("hybridner")

#: Span group written by the aggregators (overridable with ``name=``).
DEFAULT_NAME = "aggregated"


@dataclass
class AggregatedSpan:
    """One aggregated entity in token offsets."""

    start: int
    end: int
    label: str
    confidence: float
    voters: list[str] = field(default_factory=list)


class _LogStream(io.TextIOBase):
    """A file-like object that forwards skweak's and hmmlearn's prints to the log."""

    def __init__(self) -> None:
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            line = line.strip()
            if line.startswith("Starting iteration"):
                logger.info("HMM: EM iteration %s", line.rsplit(" ", 1)[-1])
            elif line:
                logger.debug("skweak: %s", line)
        return len(text)


@contextlib.contextmanager
def _quiet_skweak() -> Iterator[None]:
    stream = _LogStream()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield


class _Aggregator:
    """Shared logic of the HMM and majority-vote aggregators."""

    kind = "base"

    def __init__(
        self,
        labels: Sequence[str],
        *,
        sources: Sequence[str] | None = None,
        name: str = DEFAULT_NAME,
    ) -> None:
        self.labels = list(labels)
        self.sources = None if sources is None else list(sources)
        self.name = name

    # -- helpers -----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(docs) first"
            )

    def _candidate_sources(self, doc: Doc) -> list[str]:
        if self.sources is not None:
            return [s for s in self.sources if s in doc.spans]
        return [
            s
            for s in doc.spans
            if s != self.name and not doc.spans[s].attrs.get("avoid_in_aggregation", False)
        ]

    def _observations(self, doc: Doc, known: Iterable[str] | None = None) -> pandas.DataFrame:
        sources = [s for s in self._candidate_sources(doc) if len(doc.spans[s]) > 0]
        if known is not None:
            known = set(known)
            sources = [s for s in sources if s in known]
        if not sources:
            return pandas.DataFrame(np.zeros((len(doc), 0), dtype=np.int16))
        data = utils.spans_to_array(doc, self.model_.observed_labels, sources)
        return pandas.DataFrame(data, columns=sources)

    def _make_model(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API --------------------------------------------------------------
    def aggregate(self, doc: Doc) -> list[AggregatedSpan]:
        """Aggregate one labelled document and write ``doc.spans[self.name]``.

        The span group's ``attrs`` hold parallel lists ``confidence`` and
        ``voters``, and the tokens outside every span whose probability of being
        outside an entity is below 0.99 (``uncertain_tokens``/``p_outside``).
        """
        self._check_fitted()
        obs = self._observations(doc, known=self.sources_)
        spans: list[AggregatedSpan] = []
        p_outside = np.ones(len(doc))
        if obs.shape[1] > 0 and len(doc) > 0:
            try:
                with _quiet_skweak():
                    posteriors = self.model_.aggregate(obs).to_numpy(dtype=float)
            except Exception as err:
                raise AggregationError(
                    f"{self.kind} aggregation failed on {doc_name(doc)}: {err}"
                ) from err
            out_labels = self.model_.out_labels
            p_outside = posteriors[:, 0]
            for (start, end), label in sorted(
                utils.token_array_to_spans(posteriors, out_labels).items()
            ):
                first = posteriors[start, out_labels.index(f"B-{label}")]
                rest = posteriors[start + 1 : end, out_labels.index(f"I-{label}")]
                confidence = float((first + rest.sum()) / (end - start))
                voters = [
                    source
                    for source in obs.columns
                    if any(
                        s.label_ == label and s.start < end and s.end > start
                        for s in doc.spans[source]
                    )
                ]
                spans.append(AggregatedSpan(start, end, label, confidence, voters))
        inside = {i for s in spans for i in range(s.start, s.end)}
        uncertain = [i for i in range(len(doc)) if i not in inside and p_outside[i] < 0.99]
        group = [Span(doc, s.start, s.end, label=s.label) for s in spans]
        doc.spans[self.name] = group
        attrs = doc.spans[self.name].attrs
        attrs["aggregated"] = True
        attrs["confidence"] = [round(s.confidence, 6) for s in spans]
        attrs["voters"] = [s.voters for s in spans]
        attrs["uncertain_tokens"] = uncertain
        attrs["p_outside"] = [round(float(p_outside[i]), 6) for i in uncertain]
        return spans

    def pipe(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        """Aggregate a stream of documents lazily, yielding each one."""
        for doc in docs:
            self.aggregate(doc)
            yield doc

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"kind": self.kind, "labels": self.labels, "name": self.name,
                "sources": self.sources, "sources_": self.sources_}


class MajorityAggregator(_Aggregator):
    """Token-level majority vote (skweak's ``SequentialMajorityVoter``).

    ``fit`` only records which functions fired; there is nothing to learn.

    >>> agg = MajorityAggregator(["Drug", "Disease"]).fit(docs)  # doctest: +SKIP
    >>> spans = agg.aggregate(docs[0])  # doctest: +SKIP
    """

    kind = "majority"

    def _make_model(self) -> Any:
        return voting.SequentialMajorityVoter(self.name, self.labels, prefixes="BIO")

    def fit(self, docs: Iterable[Doc]) -> MajorityAggregator:
        seen: set[str] = set()
        for doc in docs:
            seen.update(s for s in self._candidate_sources(doc) if len(doc.spans[s]) > 0)
        self.model_ = self._make_model()
        self.sources_ = sorted(seen)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MajorityAggregator:
        agg = cls(data["labels"], sources=data["sources"], name=data["name"])
        agg.model_ = agg._make_model()
        agg.sources_ = list(data["sources_"])
        return agg

    def save(self, path: str | Path) -> None:
        """Write the aggregator as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf8")


class HMMAggregator(_Aggregator):
    """skweak's hidden Markov model, fitted by EM on the labelled corpus.

    ``n_iter`` and ``tol`` bound the EM iterations (skweak's default of 4 stops
    while the likelihood still rises); ``max_fit_docs`` fits on a seeded random
    sample of that many documents instead of all of them.

    >>> agg = HMMAggregator(["Drug", "Disease"], seed=0).fit(docs)  # doctest: +SKIP
    >>> agg.aggregate(doc)  # doctest: +SKIP
    [AggregatedSpan(start=0, end=1, label='Drug', confidence=0.99, voters=[...])]
    """

    kind = "hmm"

    def __init__(
        self,
        labels: Sequence[str],
        *,
        sources: Sequence[str] | None = None,
        name: str = DEFAULT_NAME,
        n_iter: int = 20,
        tol: float = 1e-2,
        redundancy_factor: float = 0.1,
        initial_weights: dict[str, float] | None = None,
        max_fit_docs: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(labels, sources=sources, name=name)
        self.n_iter = n_iter
        self.tol = tol
        self.redundancy_factor = redundancy_factor
        self.initial_weights = initial_weights
        self.max_fit_docs = max_fit_docs
        self.seed = seed

    def _make_model(self) -> Any:
        return generative.HMM(
            self.name,
            self.labels,
            prefixes="BIO",
            initial_weights=dict(self.initial_weights or {}),
            redundancy_factor=self.redundancy_factor,
        )

    def fit(self, docs: Iterable[Doc]) -> HMMAggregator:
        """Learn the accuracy of each function from the documents' span groups."""
        self.model_ = self._make_model()
        docs = list(docs)
        if self.max_fit_docs is not None and len(docs) > self.max_fit_docs:
            docs = random.Random(self.seed).sample(docs, self.max_fit_docs)
        observations = [obs for obs in map(self._observations, docs) if obs.shape[1] > 0]
        if not observations:
            del self.model_
            raise AggregationError(
                f"no labelling function produced a span in any of the {len(docs)} documents; "
                "check that the lexicons and rules match the corpus (language, casing, "
                "tokenisation) before aggregating"
            )
        logger.info(
            "fitting the HMM on %d documents with spans (of %d), up to %d EM iterations",
            len(observations), len(docs), self.n_iter,
        )
        try:
            with _quiet_skweak():
                self.model_._fit(observations, n_iter=self.n_iter, tol=self.tol)
        except Exception as err:
            del self.model_
            raise AggregationError(f"fitting the HMM failed: {err}") from err
        self.sources_ = sorted(self.model_.emit_probs)
        return self

    def function_weights(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per function and label, what the HMM learned of its votes.

        ``recall``: probability that the function votes ``B-L`` on the first token
        of a true ``L`` entity; ``false_positive_rate``: probability that it votes
        ``L`` on a token that is truly outside any entity.
        """
        self._check_fitted()
        model = self.model_
        obs_index = {label: j for j, label in enumerate(model.observed_labels)}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for source, probs in sorted(model.emit_probs.items()):
            entry = {}
            for label in self.labels:
                b_state = model.out_labels.index(f"B-{label}")
                b_obs, i_obs = obs_index[f"B-{label}"], obs_index[f"I-{label}"]
                entry[label] = {
                    "recall": round(float(probs[b_state, b_obs]), 6),
                    "false_positive_rate": round(float(probs[0, b_obs] + probs[0, i_obs]), 6),
                }
            out[source] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        model = self.model_
        data.update(
            n_iter=self.n_iter,
            tol=self.tol,
            redundancy_factor=self.redundancy_factor,
            initial_weights=self.initial_weights,
            max_fit_docs=self.max_fit_docs,
            seed=self.seed,
            startprob_=model.hmm.startprob_.tolist(),
            transmat_=model.hmm.transmat_.tolist(),
            emit_probs_={k: v.tolist() for k, v in model.emit_probs.items()},
            weights_={k: np.asarray(v).tolist() for k, v in model.weights.items()},
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HMMAggregator:
        agg = cls(
            data["labels"],
            sources=data["sources"],
            name=data["name"],
            n_iter=data["n_iter"],
            tol=data["tol"],
            redundancy_factor=data["redundancy_factor"],
            initial_weights=data["initial_weights"],
            max_fit_docs=data["max_fit_docs"],
            seed=data["seed"],
        )
        model = agg._make_model()
        model.hmm.startprob_ = np.asarray(data["startprob_"])
        model.hmm.transmat_ = np.asarray(data["transmat_"])
        model.emit_probs = {k: np.asarray(v) for k, v in data["emit_probs_"].items()}
        model.emit_counts = {k: np.asarray(v) for k, v in data["emit_probs_"].items()}
        model.weights = {k: np.asarray(v, dtype=np.float32) for k, v in data["weights_"].items()}
        agg.model_ = model
        agg.sources_ = list(data["sources_"])
        return agg

    def save(self, path: str | Path) -> None:
        """Write the fitted model as JSON (never pickle)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf8")


def load_aggregator(path: str | Path) -> HMMAggregator | MajorityAggregator:
    """Read an aggregator written by ``save``.

    >>> agg = load_aggregator("runs/v1/aggregator.json")  # doctest: +SKIP
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf8"))
        kind = data["kind"]
    except (OSError, ValueError, KeyError) as err:
        raise AggregationError(f"{path}: not an aggregator file written by hybridner ({err})") from err
    classes = {"hmm": HMMAggregator, "majority": MajorityAggregator}
    if kind not in classes:
        raise AggregationError(f"{path}: unknown aggregator kind {kind!r}; expected one of {sorted(classes)}")
    return classes[kind].from_dict(data)
