"""Aggregators: turn the votes of many labelling functions into one set of spans.

This is the only module that imports skweak. The aggregators are shaped like
scikit-learn estimators: settings in ``__init__``, ``fit(docs)`` returns ``self``,
learned state in attributes ending in ``_``, ``save``/``load`` as JSON.

Each aggregated span carries its confidence (the mean posterior probability of
its tags, ``B-`` on the first token and ``I-`` on the others) and the names of the
functions that voted for it (those with an overlapping span of the same label).
Tokens outside every aggregated span keep their probability of being outside an
entity, so that uncertain regions can be left unannotated in training.

The HMM has two engines: ``engine="skweak"`` runs skweak's implementation one
document at a time; ``engine="numpy"`` runs the same model, vectorised over
batches of documents (:mod:`hybridner.hmm`), and gives the same labels.
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
from typing import Any, Literal

import numpy as np
from spacy.tokens import Doc, Span

from .errors import AggregationError, HybridNERError, NotFittedError
from .hmm import NumpyHMM, VoteBatch, decode, encode, pack_batches
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

#: The implementations of the HMM (``HMMAggregator(engine=...)``).
ENGINES = ("skweak", "numpy")


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


def _write_group(
    doc: Doc,
    name: str,
    spans: Sequence[AggregatedSpan],
    uncertain: list[int],
    p_outside: Iterable[float],
) -> None:
    """Write the aggregated spans, their confidence and voters, and the uncertain tokens."""
    doc.spans[name] = [Span(doc, s.start, s.end, label=s.label) for s in spans]
    attrs = doc.spans[name].attrs
    attrs["aggregated"] = True
    attrs["confidence"] = [round(s.confidence, 6) for s in spans]
    attrs["voters"] = [s.voters for s in spans]
    attrs["uncertain_tokens"] = uncertain
    attrs["p_outside"] = [round(float(p), 6) for p in p_outside]


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

    def _present_sources(self, doc: Doc, known: Iterable[str] | None = None) -> list[str]:
        """The functions with at least one span in ``doc`` (among ``known``), in doc order."""
        sources = [s for s in self._candidate_sources(doc) if len(doc.spans[s]) > 0]
        if known is not None:
            known = set(known)
            sources = [s for s in sources if s in known]
        return sources

    def _observations(self, doc: Doc, known: Iterable[str] | None = None) -> pandas.DataFrame:
        sources = self._present_sources(doc, known)
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
        _write_group(doc, self.name, spans, uncertain, [p_outside[i] for i in uncertain])
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
        """Write the aggregator as JSON, atomically (a symlink there is replaced)."""
        from .corpus import atomic_open  # the one atomic writer

        with atomic_open(path) as handle:
            json.dump(self.to_dict(), handle, indent=1)


class HMMAggregator(_Aggregator):
    """skweak's hidden Markov model, fitted by EM on the labelled corpus.

    ``n_iter`` and ``tol`` bound the EM iterations (skweak's default of 4 stops
    while the likelihood still rises); ``max_fit_docs`` fits on a seeded random
    sample of that many documents instead of all of them.

    ``engine="numpy"`` fits and applies the same model with :mod:`hybridner.hmm`:
    the documents are turned into small integer arrays and forward-backward runs
    on whole batches at once, many times faster than ``"skweak"`` for the same
    labels. With it, :meth:`pipe` aggregates ``batch_size`` documents at a time,
    and ``fit`` keeps only the (encoded) fit sample in memory: from a list it
    draws the same sample as the skweak engine, from any other iterable a seeded
    reservoir sample.

    >>> agg = HMMAggregator(["Drug", "Disease"], seed=0).fit(docs)  # doctest: +SKIP
    >>> agg.aggregate(doc)  # doctest: +SKIP
    [AggregatedSpan(start=0, end=1, label='Drug', confidence=0.99, voters=[...])]
    >>> fast = HMMAggregator(["Drug", "Disease"], engine="numpy").fit(docs)  # doctest: +SKIP
    >>> for doc in fast.pipe(docs, batch_size=512): ...  # doctest: +SKIP
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
        engine: Literal["skweak", "numpy"] = "numpy",
    ) -> None:
        super().__init__(labels, sources=sources, name=name)
        self.n_iter = n_iter
        self.tol = tol
        self.redundancy_factor = redundancy_factor
        self.initial_weights = initial_weights
        self.max_fit_docs = max_fit_docs
        self.seed = seed
        self.engine = engine

    def _check_engine(self) -> None:
        if self.engine not in ENGINES:
            raise HybridNERError(
                f"HMMAggregator engine {self.engine!r}: use one of {list(ENGINES)} "
                "('numpy' is the fast one, 'skweak' the reference)"
            )

    def _make_model(self) -> Any:
        return generative.HMM(
            self.name,
            self.labels,
            prefixes="BIO",
            initial_weights=dict(self.initial_weights or {}),
            redundancy_factor=self.redundancy_factor,
        )

    def _no_spans_error(self, n_docs: int) -> AggregationError:
        return AggregationError(
            f"no labelling function produced a span in any of the {n_docs} documents; "
            "check that the lexicons and rules match the corpus (language, casing, "
            "tokenisation) before aggregating"
        )

    def fit(self, docs: Iterable[Doc]) -> HMMAggregator:
        """Learn the accuracy of each function from the documents' span groups."""
        self._check_engine()
        if self.engine == "numpy":
            return self._fit_numpy(docs)
        self.model_ = self._make_model()
        docs = list(docs)
        if self.max_fit_docs is not None and len(docs) > self.max_fit_docs:
            docs = random.Random(self.seed).sample(docs, self.max_fit_docs)
        observations = [obs for obs in map(self._observations, docs) if obs.shape[1] > 0]
        if not observations:
            del self.model_
            raise self._no_spans_error(len(docs))
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

    # -- the numpy engine --------------------------------------------------------
    def _label_ids(self) -> dict[str, int]:
        return {label: i + 1 for i, label in enumerate(self.labels)}

    def _fit_sample(self, docs: Iterable[Doc]) -> Iterable[Doc]:
        """The documents to fit on: all, or a seeded sample of ``max_fit_docs``."""
        limit = self.max_fit_docs
        if limit is None:
            return docs
        if isinstance(docs, Sequence):
            # the same sample as the skweak engine draws
            return random.Random(self.seed).sample(docs, limit) if len(docs) > limit else docs
        rng = random.Random(self.seed)
        reservoir: list[Doc] = []
        for seen, doc in enumerate(docs):
            if seen < limit:
                reservoir.append(doc)
            else:
                slot = rng.randrange(seen + 1)
                if slot < limit:
                    reservoir[slot] = doc
        return reservoir

    def _fit_numpy(self, docs: Iterable[Doc]) -> HMMAggregator:
        source_ids: dict[str, int] = {}
        label_ids = self._label_ids()
        seen = {"docs": 0, "with_spans": 0}

        def encoded() -> Iterator[Any]:
            for doc in self._fit_sample(docs):
                seen["docs"] += 1
                present = self._present_sources(doc)
                if not present or len(doc) == 0:
                    continue
                seen["with_spans"] += 1
                for source in present:
                    source_ids.setdefault(source, len(source_ids))
                yield encode(doc, present, source_ids, label_ids, keep_spans=False)

        model = NumpyHMM(
            self.labels,
            initial_weights=self.initial_weights,
            redundancy_factor=self.redundancy_factor,
        )
        batches = pack_batches(encoded(), n_obs=model.n_states)
        if not batches:
            raise self._no_spans_error(seen["docs"])
        logger.info(
            "fitting the HMM (numpy) on %d documents with spans (of %d), up to %d EM iterations",
            seen["with_spans"], seen["docs"], self.n_iter,
        )
        model.fit(batches, source_names=list(source_ids), n_iter=self.n_iter, tol=self.tol)
        self.model_ = model
        self.sources_ = list(model.sources_)
        return self

    def _aggregate_numpy(self, docs: Sequence[Doc]) -> list[list[AggregatedSpan]]:
        """Aggregate a batch of documents at once and write their span groups."""
        model: NumpyHMM = self.model_
        source_ids = {source: i for i, source in enumerate(model.sources_)}
        label_ids = self._label_ids()
        presents, encoded, live = [], [], []
        for i, doc in enumerate(docs):
            present = self._present_sources(doc, known=source_ids)
            presents.append(present)
            if present and len(doc) > 0:
                encoded.append(encode(doc, present, source_ids, label_ids))
                live.append(i)
        results: list[list[AggregatedSpan]] = [[] for _ in docs]
        uncertain: list[tuple[list[int], list[float]]] = [([], []) for _ in docs]
        if encoded:
            batch = VoteBatch(encoded, n_sources=len(source_ids), n_obs=model.n_states)
            decoded = decode(batch, model.posteriors(batch))
            voters = _voters(batch, encoded, decoded, [presents[i] for i in live])
            doc_starts = batch.starts.tolist()
            for j, start, end, k, confidence, names in zip(
                decoded.span_docs.tolist(), decoded.span_starts.tolist(),
                decoded.span_ends.tolist(), decoded.span_labels.tolist(),
                decoded.confidences.tolist(), voters,
            ):
                offset = doc_starts[j]
                results[live[j]].append(
                    AggregatedSpan(start - offset, end - offset, self.labels[k - 1], confidence, names)
                )
            token_docs = batch.doc_of(decoded.uncertain)
            local = (decoded.uncertain - batch.starts[token_docs]).tolist()
            for j, token, p in zip(token_docs.tolist(), local, decoded.p_outside.tolist()):
                uncertain[live[j]][0].append(token)
                uncertain[live[j]][1].append(p)
        for doc, spans, (tokens, p_outside) in zip(docs, results, uncertain):
            _write_group(doc, self.name, spans, tokens, p_outside)
        return results

    # -- public API --------------------------------------------------------------
    def aggregate(self, doc: Doc) -> list[AggregatedSpan]:
        """Aggregate one labelled document and write ``doc.spans[self.name]``.

        The span group's ``attrs`` hold parallel lists ``confidence`` and
        ``voters``, and the tokens outside every span whose probability of being
        outside an entity is below 0.99 (``uncertain_tokens``/``p_outside``).
        """
        self._check_fitted()
        if self.engine == "numpy":
            return self._aggregate_numpy([doc])[0]
        return super().aggregate(doc)

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        """Aggregate a stream of documents lazily, yielding each one in order.

        With ``engine="numpy"``, ``batch_size`` documents are aggregated at once
        (memory grows with the batch, not with the stream).

        >>> for doc in agg.pipe(docs, batch_size=512): ...  # doctest: +SKIP
        """
        self._check_fitted()
        if self.engine != "numpy":
            yield from super().pipe(docs)
            return
        if batch_size < 1:
            raise HybridNERError(f"batch_size {batch_size}: use a positive number of documents")
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                self._aggregate_numpy(batch)
                yield from batch
                batch = []
        if batch:
            self._aggregate_numpy(batch)
            yield from batch

    def _emissions(self) -> tuple[list[str], dict[str, np.ndarray]]:
        """The state names and each source's emission matrix, for either engine."""
        if self.engine == "numpy":
            return self.model_.states, self.model_.emission_table()
        return self.model_.out_labels, self.model_.emit_probs

    def function_weights(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per function and label, what the HMM learned of its votes.

        ``recall``: probability that the function votes ``B-L`` on the first token
        of a true ``L`` entity; ``false_positive_rate``: probability that it votes
        ``L`` on a token that is truly outside any entity.
        """
        self._check_fitted()
        states, emissions = self._emissions()
        # the observed labels are the states, in the same order, in both engines
        obs_index = {label: j for j, label in enumerate(states)}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for source, probs in sorted(emissions.items()):
            entry = {}
            for label in self.labels:
                b_state = states.index(f"B-{label}")
                b_obs, i_obs = obs_index[f"B-{label}"], obs_index[f"I-{label}"]
                entry[label] = {
                    "recall": round(float(probs[b_state, b_obs]), 6),
                    "false_positive_rate": round(float(probs[0, b_obs] + probs[0, i_obs]), 6),
                }
            out[source] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            n_iter=self.n_iter,
            tol=self.tol,
            redundancy_factor=self.redundancy_factor,
            initial_weights=self.initial_weights,
            max_fit_docs=self.max_fit_docs,
            seed=self.seed,
            engine=self.engine,
        )
        if self.engine == "numpy":
            data.update(self.model_.to_dict())
            return data
        model = self.model_
        data.update(
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
            engine=data.get("engine", "skweak"),  # files from before the numpy engine
        )
        agg._check_engine()
        if agg.engine == "numpy":
            agg.model_ = NumpyHMM.from_dict(
                data,
                agg.labels,
                initial_weights=agg.initial_weights,
                redundancy_factor=agg.redundancy_factor,
            )
            agg.sources_ = list(data["sources_"])
            return agg
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
        """Write the fitted model as JSON (never pickle), atomically (a symlink there is replaced)."""
        from .corpus import atomic_open  # the one atomic writer

        with atomic_open(path) as handle:
            json.dump(self.to_dict(), handle, indent=1)


def _voters(
    batch: VoteBatch, encoded: Sequence[Any], decoded: Any, presents: Sequence[list[str]]
) -> list[list[str]]:
    """Per aggregated span of a batch, the functions (in doc order) with an overlapping
    span of its label."""
    counts = [len(e.span_starts) for e in encoded]
    doc = np.repeat(np.arange(len(encoded)), counts)
    offset = batch.starts[doc]
    column = np.concatenate([e.span_columns for e in encoded])
    start = np.concatenate([e.span_starts for e in encoded]) + offset
    end = np.concatenate([e.span_ends for e in encoded]) + offset
    label = np.concatenate([e.span_labels for e in encoded])
    # aggregated spans do not overlap, so those a span overlaps are a contiguous run
    first = np.searchsorted(decoded.span_ends, start, side="right")
    stop = np.searchsorted(decoded.span_starts, end, side="left")
    n_hits = np.maximum(stop - first, 0)
    hit_span = np.repeat(np.arange(len(start)), n_hits)
    runs = np.cumsum(n_hits) - n_hits
    hit_agg = first[hit_span] + np.arange(len(hit_span)) - runs[hit_span]
    same = label[hit_span] == decoded.span_labels[hit_agg]
    width = max((len(p) for p in presents), default=1)
    pairs = np.unique(hit_agg[same] * width + column[hit_span[same]])
    voters: list[list[str]] = [[] for _ in range(len(decoded.span_starts))]
    span_docs = decoded.span_docs.tolist()
    for agg, col in zip(*(a.tolist() for a in np.divmod(pairs, width))):
        voters[agg].append(presents[span_docs[agg]][col])
    return voters


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
