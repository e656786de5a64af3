"""A vectorised hidden Markov model over labelling-function votes (numpy).

The model is the one skweak's ``HMM`` fits, so that the two engines of
:class:`hybridner.aggregation.HMMAggregator` give the same labels:

* states: ``O`` then ``B-<label>`` and ``I-<label>`` for each label, in order;
  every function observes one of the same labels on each token (``O`` where it
  has no span, when it has a span somewhere in the document);
* one emission matrix per function (state x observed label), raised
  element-wise to a per-observed-label *weight*: the initial weight of the
  function times ``exp(-redundancy_factor * sum of recalls)`` with the
  functions that skweak's naming rule marks as correlated with it
  (:func:`correlated_sources`);
* a state is possible on a token only when at least one function observes it
  there; ``I-`` cannot start a document nor follow ``O`` or another label;
* EM starts from counts of a weighted majority vote and adds the same Dirichlet
  pseudo-counts as skweak at every M-step.

What differs is the bookkeeping. A document becomes a few small integer arrays
(:func:`encode`: which functions are present, and the (token, function, label)
of every vote that is not ``O``), and many documents are packed into one
:class:`VoteBatch`. Because a state is possible only where some function
observes it, every token on which all functions are silent is forced to ``O``
(most tokens): the chain splits there, exactly, into short segments of the
other tokens. Forward-backward runs in scaled probability space over all the
segments of a batch at once, packed time-major so that each step is one
contiguous block of rows; the forced tokens add the same counts at every EM
iteration and are counted once.

>>> import spacy
>>> from spacy.tokens import Span
>>> doc = spacy.blank("en")("Aspirin helps")
>>> doc.spans["lex"] = [Span(doc, 0, 1, label="Drug")]
>>> votes = encode(doc, ["lex"], {"lex": 0}, {"Drug": 1})
>>> votes.vote_tokens.tolist(), votes.vote_labels.tolist()
([0], [1])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse
from spacy.strings import get_string_id
from spacy.tokens import Doc

from .errors import AggregationError

__all__ = [
    "Decoded",
    "EncodedDoc",
    "NumpyHMM",
    "VoteBatch",
    "correlated_sources",
    "decode",
    "encode",
    "pack_batches",
    "state_names",
]

logger = logging.getLogger("hybridner")

#: Pseudo-counts added at every M-step (skweak's defaults).
CONCENTRATION = 1.0
FP_PRIOR = 0.1  # a function voting for a label on a token that is truly O
FN_PRIOR = 0.3  # a function voting O on a token of an entity
#: Weight of the ``O`` votes in the majority vote that starts EM: ``3 ** -(other votes)``.
O_VOTE_BASE = 3.0
#: Log-probabilities are floored here so that ``-inf`` never meets ``-inf`` in a difference.
LOG_FLOOR = -1e6
#: Tokens per batch when fitting: bounds the memory of one E-step.
FIT_BATCH_TOKENS = 1 << 16


def state_names(labels: Sequence[str]) -> list[str]:
    """The hidden states (and observed labels): ``O``, then ``B-`` and ``I-`` of each label.

    >>> state_names(["Drug", "Disease"])
    ['O', 'B-Drug', 'I-Drug', 'B-Disease', 'I-Disease']
    """
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def correlated_sources(source: str, sources: Iterable[str]) -> list[str]:
    """The functions whose votes skweak treats as redundant with ``source``.

    skweak decides by name: two functions are correlated when their names, less
    ``_cased``/``_uncased``, are equal or one starts or ends with the other. The
    rule is kept as it is because it changes the weights, hence the output.

    >>> correlated_sources("drug", ["drug", "drug_cased", "disease"])
    ['drug_cased']
    """
    def bare(name: str) -> str:
        return name.replace("_cased", "").replace("_uncased", "")

    mine = bare(source)
    found = []
    for other in sources:
        if other == source:
            continue
        theirs = bare(other)
        if (
            mine == theirs
            or mine.startswith(theirs)
            or mine.endswith(theirs)
            or theirs.startswith(mine)
            or theirs.endswith(mine)
        ):
            found.append(other)
    return found


# -- documents as arrays ---------------------------------------------------------------


@dataclass(frozen=True)
class EncodedDoc:
    """The votes of one document as integer arrays.

    ``sources`` are source ids (into the caller's source list) of the functions
    present in the document, in the document's order; the three ``vote_*``
    arrays hold one row per token on which a present function observes a label
    other than ``O`` (observed-label index ``2k - 1`` for ``B-`` of label
    number ``k`` >= 1, ``2k`` for ``I-``). The ``span_*`` arrays keep the
    functions' spans of known labels (column in ``sources``, start, end, label
    number) to name the voters of each aggregated span.
    """

    n_tokens: int
    sources: np.ndarray
    vote_tokens: np.ndarray
    vote_sources: np.ndarray
    vote_labels: np.ndarray
    span_columns: np.ndarray | None = None
    span_starts: np.ndarray | None = None
    span_ends: np.ndarray | None = None
    span_labels: np.ndarray | None = None


def encode(
    doc: Doc,
    sources: Sequence[str],
    source_ids: Mapping[str, int],
    label_ids: Mapping[str, int],
    *,
    keep_spans: bool = True,
) -> EncodedDoc:
    """Turn the span groups ``sources`` of ``doc`` into an :class:`EncodedDoc`.

    Each span writes ``B-`` on its first token and ``I-`` on the others; when a
    function's spans overlap, the later span wins on the shared tokens (as in
    skweak). Spans whose label is not in ``label_ids`` (label -> number from 1)
    are left out, but their function still counts as present and votes ``O``.

    >>> import spacy
    >>> from spacy.tokens import Span
    >>> doc = spacy.blank("en")("acute renal failure today")
    >>> doc.spans["head"] = [Span(doc, 0, 3, label="Disease")]
    >>> votes = encode(doc, ["head"], {"head": 4}, {"Disease": 1})
    >>> votes.sources.tolist(), votes.vote_tokens.tolist(), votes.vote_labels.tolist()
    ([4], [0, 1, 2], [1, 2, 2])
    """
    n_tokens = len(doc)
    by_hash = {get_string_id(label): number for label, number in label_ids.items()}
    columns: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    labels: list[int] = []
    overlap = False
    for column, name in enumerate(sources):
        reach = -1
        for span in doc.spans[name]:
            number = by_hash.get(span.label)
            if number is not None:
                start, end = span.start, span.end
                columns.append(column)
                starts.append(start)
                ends.append(end)
                labels.append(number)
                overlap = overlap or start < reach
                reach = max(reach, end)
    ids = np.array([source_ids[name] for name in sources], dtype=np.int32)
    col = np.array(columns, dtype=np.int32)
    start = np.array(starts, dtype=np.int32)
    end = np.array(ends, dtype=np.int32)
    lab = np.array(labels, dtype=np.int16)
    if overlap:
        # a function's spans overlap: write them in order, later ones win
        grid = np.zeros((len(sources), n_tokens), dtype=np.int16)
        for c, s, e, k in zip(columns, starts, ends, labels):
            grid[c, s] = 2 * k - 1
            grid[c, s + 1 : e] = 2 * k
        cols, tokens = np.nonzero(grid)
        values = grid[cols, tokens]
    else:
        # B- on the first token, I- on the others (an empty span still writes its B-)
        widths = np.maximum(end - start, 1)
        first = np.repeat(np.cumsum(widths) - widths, widths)
        offset = np.arange(len(first), dtype=np.int32) - first
        tokens = np.repeat(start, widths) + offset
        cols = np.repeat(col, widths)
        values = 2 * np.repeat(lab, widths) - (offset == 0)
    votes = (tokens.astype(np.int32), ids[cols], values.astype(np.int16))
    if not keep_spans:
        return EncodedDoc(n_tokens, ids, *votes)
    return EncodedDoc(n_tokens, ids, *votes, col, start, end, lab)


def _bio_masks(n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """BIO constraints on states ``O, B-1, I-1, B-2, I-2, ...``.

    Returns the valid first states, and the valid (from, to) transitions: ``I-k``
    may only follow ``B-k`` or ``I-k``.
    """
    inner = np.arange(n_states) % 2 == 0
    inner[0] = False
    start_ok = ~inner
    trans_ok = np.ones((n_states, n_states), dtype=bool)
    for j in np.flatnonzero(inner):
        trans_ok[:, j] = False
        trans_ok[j - 1, j] = trans_ok[j, j] = True
    return start_ok, trans_ok


def _indicator(
    groups: np.ndarray, n_groups: int, n_rows: int, rows: np.ndarray | None = None
) -> sparse.csr_matrix:
    """Sparse (groups x rows) 0/1 matrix putting ``rows[i]`` (default ``i``) in ``groups[i]``."""
    rows = np.arange(len(groups)) if rows is None else rows
    return sparse.csr_matrix((np.ones(len(rows)), (groups, rows)), shape=(n_groups, n_rows))


class VoteBatch:
    """Many encoded documents packed for one vectorised pass.

    A state is possible on a token only where some present function observes it,
    so on most tokens (every function silent: only ``O``) the state is *forced*.
    The chain then splits, exactly, into short *segments* of free tokens between
    forced ones: the forced tokens add the same counts at every EM iteration
    (computed once here) and forward-backward runs only over the segments, each
    entered from the forced state before it (or the start distribution) and left
    towards the forced state after it (or the end of the document).

    Segments are packed time-major, longest first: step ``t`` of the recursion
    is the contiguous block of rows ``offsets[t] : offsets[t] + active[t]``, row
    ``j`` of step 0 starts the ``j``-th longest segment, and ``row_token[r]`` is
    the token of row ``r``. Nothing is padded.

    ``n_sources`` defaults to one more than the largest source id in ``docs``.

    >>> batch = VoteBatch([votes], n_obs=3)  # doctest: +SKIP
    """

    def __init__(
        self, docs: Sequence[EncodedDoc], *, n_obs: int, n_sources: int | None = None
    ) -> None:
        n_docs = len(docs)
        lengths = np.fromiter((d.n_tokens for d in docs), dtype=np.int64, count=n_docs)
        if n_docs == 0 or lengths.min() < 1:
            raise AggregationError(
                f"a VoteBatch needs at least one document and tokens in each (got {n_docs} "
                "documents); leave out empty documents and documents without votes"
            )
        starts = np.zeros(n_docs, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        n_tokens = int(lengths.sum())
        n_states = n_obs

        counts = np.fromiter((len(d.sources) for d in docs), dtype=np.int64, count=n_docs)
        pres_src = np.concatenate([d.sources for d in docs]).astype(np.int64)
        n_votes = np.fromiter((len(d.vote_tokens) for d in docs), dtype=np.int64, count=n_docs)
        vote_tok = np.concatenate([d.vote_tokens for d in docs]).astype(np.int64)
        vote_tok += np.repeat(starts, n_votes)
        vote_src = np.concatenate([d.vote_sources for d in docs]).astype(np.int64)
        vote_lab = np.concatenate([d.vote_labels for d in docs]).astype(np.int64)
        if n_sources is None:
            n_sources = int(pres_src.max()) + 1 if len(pres_src) else 0

        self.n_docs, self.n_tokens = n_docs, n_tokens
        self.n_sources, self.n_obs = n_sources, n_obs
        self.lengths, self.starts = lengths, starts
        pres_doc = np.repeat(np.arange(n_docs), counts)
        vote_col = vote_src * n_obs + vote_lab
        self._token_arrays = (pres_doc, pres_src, vote_tok, vote_col)

        # possible states: observed by some present function
        allowed = np.zeros((n_tokens, n_states), dtype=bool)
        allowed[vote_tok, vote_lab] = True
        n_voting = np.bincount(vote_tok, minlength=n_tokens)
        allowed[:, 0] = n_voting < np.repeat(counts, lengths)
        forced = allowed.sum(axis=1) == 1
        self.forced_state = np.where(forced, allowed.argmax(axis=1), -1).astype(np.int16)
        doc_first = np.zeros(n_tokens, dtype=bool)
        doc_first[starts] = True

        # documents no state sequence can explain (forced pairs the BIO scheme forbids)
        fstate = self.forced_state.astype(np.int64)
        start_ok, trans_ok = _bio_masks(n_states)
        pair = forced & np.roll(forced, 1) & ~doc_first
        pair_prev = np.flatnonzero(pair) - 1
        broken = np.zeros(n_tokens, dtype=bool)
        broken[doc_first & forced] = ~start_ok[fstate[doc_first & forced]]
        broken[pair] = ~trans_ok[fstate[pair_prev], fstate[pair]]
        self.impossible = np.logical_or.reduceat(broken, starts)
        self._forced: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

        # segments of free tokens, packed time-major, longest first
        free = np.flatnonzero(~forced)
        token_doc = np.repeat(np.arange(n_docs), lengths)
        opens = np.ones(len(free), dtype=bool)
        opens[1:] = (free[1:] != free[:-1] + 1) | doc_first[free[1:]]
        seg_first = np.flatnonzero(opens)
        n_segs = len(seg_first)
        seg_len = np.diff(np.append(seg_first, len(free)))
        order = np.argsort(-seg_len, kind="stable")
        rank = np.empty(n_segs, dtype=np.int64)
        rank[order] = np.arange(n_segs)
        longest = int(seg_len.max()) if n_segs else 0
        ending = np.bincount(seg_len, minlength=longest + 1)
        self.active = (n_segs - np.cumsum(ending)[:longest]).astype(np.int64)
        self.offsets = np.zeros(longest, dtype=np.int64)
        np.cumsum(self.active[:-1], out=self.offsets[1:])
        position = np.arange(len(free)) - np.repeat(seg_first, seg_len)
        row_of = self.offsets[position] + np.repeat(rank, seg_len)
        self.n_rows = len(free)
        self.row_token = np.empty(len(free), dtype=np.int64)  # packed row -> token
        self.row_token[row_of] = free
        self.row_allowed = allowed[self.row_token]
        # the documents with free tokens, and each row's index among them
        row_doc = token_doc[self.row_token]
        self.free_docs, row_local = np.unique(row_doc, return_inverse=True)
        self.row_local = row_local.astype(np.int32)
        local = np.full(n_docs, -1)
        local[self.free_docs] = np.arange(len(self.free_docs))
        self.presence_free = np.zeros((len(self.free_docs), n_sources))
        has_free = local[pres_doc] >= 0
        self.presence_free[local[pres_doc[has_free]], pres_src[has_free]] = 1.0
        # the non-O votes of each row (every free row has at least one)
        row_of = np.full(n_tokens, -1)
        row_of[self.row_token] = np.arange(self.n_rows)
        vote_row = row_of[vote_tok]
        on_row = vote_row >= 0
        by_row = np.argsort(vote_row[on_row], kind="stable")
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(vote_row[on_row], minlength=self.n_rows), out=indptr[1:])
        self.row_votes = sparse.csr_matrix(
            (np.ones(len(by_row)), vote_col[on_row][by_row], indptr),
            shape=(self.n_rows, n_sources * n_obs),
        )
        # within-segment transitions: each row at step t >= 1 and its segment's row at t - 1
        step = np.repeat(np.arange(1, longest), self.active[1:])
        later = np.arange(self.n_rows - len(step), self.n_rows)
        self.pair_prev = (later - self.offsets[step] + self.offsets[step - 1]).astype(np.int32)
        # entries (the rows of step 0, in rank order) and exits (each segment's last row)
        seg_first_tok = free[seg_first[order]]
        seg_last_tok = seg_first_tok + seg_len[order] - 1
        self.entry = np.where(
            doc_first[seg_first_tok], -1, fstate[np.maximum(seg_first_tok - 1, 0)]
        ).astype(np.int16)
        self.last_rows = (self.offsets[seg_len[order] - 1] + np.arange(n_segs)).astype(np.int32)
        after = seg_last_tok + 1
        at_end = np.ones(n_segs, dtype=bool)
        within = after < n_tokens
        at_end[within] = doc_first[after[within]]
        self.exit = np.where(at_end, -1, fstate[np.minimum(after, n_tokens - 1)]).astype(np.int16)
        self.start_rows = np.flatnonzero(self.entry < 0).astype(np.int32)
        self.seg_doc = row_doc[:n_segs]

    # what only fitting needs, built on first use
    @cached_property
    def presence(self) -> sparse.csr_matrix:
        """(documents x sources) indicator of the functions present in each document."""
        pres_doc, pres_src, _, _ = self._token_arrays
        return sparse.csr_matrix(
            (np.ones(len(pres_src)), (pres_doc, pres_src)), shape=(self.n_docs, self.n_sources)
        )

    @cached_property
    def votes(self) -> sparse.csr_matrix:
        """(tokens x sources * observed labels) indicator of the non-O votes."""
        _, _, vote_tok, vote_col = self._token_arrays
        return sparse.csr_matrix(
            (np.ones(len(vote_tok)), (vote_tok, vote_col)),
            shape=(self.n_tokens, self.n_sources * self.n_obs),
        )

    @cached_property
    def doc_rows(self) -> sparse.csr_matrix:
        """(documents with free tokens x rows) indicator."""
        return _indicator(self.row_local, len(self.free_docs), self.n_rows)

    @cached_property
    def entry_rows(self) -> sparse.csr_matrix:
        """(states x rows): the rows of step 0 entered from each forced state."""
        entered = self.entry >= 0
        return _indicator(self.entry[entered], self.n_obs, self.n_rows, np.flatnonzero(entered))

    @cached_property
    def exit_rows(self) -> sparse.csr_matrix:
        """(states x rows): the last rows of the segments left towards each forced state."""
        leaving = self.exit >= 0
        return _indicator(self.exit[leaving], self.n_obs, self.n_rows, self.last_rows[leaving])

    @property
    def forced_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(start, transition, emission)`` counts of the forced tokens (constant across EM)."""
        if self._forced is None:
            self._forced = self._count_forced()
        return self._forced

    def _count_forced(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts from the forced tokens of the possible documents."""
        n, n_obs = self.n_obs, self.n_obs
        kept = ~np.repeat(self.impossible, self.lengths)
        fstate = self.forced_state.astype(np.int64)
        forced = (fstate >= 0) & kept
        doc_first = np.zeros(self.n_tokens, dtype=bool)
        doc_first[self.starts] = True
        start_forced = np.bincount(fstate[doc_first & forced], minlength=n).astype(float)
        pair = forced & np.roll(forced, 1) & ~doc_first
        pair_prev = np.flatnonzero(pair) - 1
        trans_forced = np.bincount(
            fstate[pair_prev] * n + fstate[pair], minlength=n * n
        ).reshape(n, n).astype(float)
        _, _, vote_tok, vote_col = self._token_arrays
        vote_src, vote_lab = np.divmod(vote_col, n_obs)
        on = forced[vote_tok]
        voted = np.bincount(
            (vote_src[on] * n + fstate[vote_tok[on]]) * n_obs + vote_lab[on],
            minlength=self.n_sources * n * n_obs,
        ).reshape(self.n_sources, n, n_obs).astype(float)
        token_doc = np.repeat(np.arange(self.n_docs), self.lengths)
        per_doc = np.bincount(
            token_doc[forced] * n + fstate[forced], minlength=self.n_docs * n
        ).reshape(self.n_docs, n).astype(float)
        voted[:, :, 0] = np.asarray(self.presence.T @ per_doc) - voted[:, :, 1:].sum(axis=2)
        return start_forced, trans_forced, voted

    def doc_of(self, tokens: np.ndarray) -> np.ndarray:
        """The document (index in the batch) of each token index."""
        return np.searchsorted(self.starts, tokens, side="right") - 1

    def continuing(self) -> np.ndarray:
        """Boolean mask of the tokens that have a previous token in their document."""
        mask = np.ones(self.n_tokens, dtype=bool)
        mask[self.starts] = False
        return mask

    def exclude(self, docs: np.ndarray) -> None:
        """Leave the documents of boolean mask ``docs`` out of every count from now on.

        Only before :meth:`drop_token_arrays`.
        """
        if (docs & ~self.impossible).any():
            self.impossible = self.impossible | docs
            self._forced = None

    def widen(self, n_sources: int) -> None:
        """Make room for source ids up to ``n_sources - 1`` (no votes from the new ones)."""
        if n_sources <= self.n_sources:
            return
        width = n_sources * self.n_obs
        built = self.__dict__
        if "presence" in built:
            self.presence.resize((self.n_docs, n_sources))
        if "votes" in built:
            self.votes.resize((self.n_tokens, width))
        self.presence_free = np.pad(self.presence_free, ((0, 0), (0, n_sources - self.n_sources)))
        self.row_votes.resize((self.n_rows, width))
        if self._forced is not None:
            extra = np.zeros((n_sources - self.n_sources, self.n_obs, self.n_obs))
            start, trans, emit = self._forced
            self._forced = (start, trans, np.concatenate([emit, extra]))
        self.n_sources = n_sources

    def drop_token_arrays(self) -> None:
        """Free what only the first passes over all tokens need (votes of forced tokens)."""
        self.forced_counts  # noqa: B018 - computed while the token arrays are there
        self.__dict__.pop("votes", None)
        self.__dict__.pop("presence", None)
        self._token_arrays = None
        self.forced_state = None


def pack_batches(
    docs: Iterable[EncodedDoc], *, n_obs: int, batch_tokens: int = FIT_BATCH_TOKENS
) -> list[VoteBatch]:
    """Pack a stream of encoded documents into batches of about ``batch_tokens`` tokens.

    Documents without tokens or without any present function are skipped. Only
    one batch's worth of encoded documents is held at a time; every batch is
    widened to the largest source id of the stream.

    >>> batches = pack_batches(encoded, n_obs=5)  # doctest: +SKIP
    """
    batches: list[VoteBatch] = []
    chunk: list[EncodedDoc] = []
    size = 0
    for doc in docs:
        if doc.n_tokens == 0 or len(doc.sources) == 0:
            continue
        chunk.append(doc)
        size += doc.n_tokens
        if size >= batch_tokens:
            batches.append(VoteBatch(chunk, n_obs=n_obs))
            chunk, size = [], 0
    if chunk:
        batches.append(VoteBatch(chunk, n_obs=n_obs))
    width = max((b.n_sources for b in batches), default=0)
    for batch in batches:
        batch.widen(width)
    return batches


def _forward_backward(
    batch: VoteBatch,
    emissions: np.ndarray,
    entry: np.ndarray,
    leave: np.ndarray,
    transmat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward-backward over the packed segments of a batch.

    ``emissions`` is (rows x states), each row scaled so that its largest entry
    is 1; ``entry`` (segments in rank order x states) weighs the first state of
    each segment, ``leave`` (same order) its last one. Returns ``(alpha, beta,
    scale, leave_scale)``: normalised forward and backward variables, the per-row
    normalisers and the normaliser of each segment's exit.
    """
    active, offsets = batch.active, batch.offsets
    alpha = np.empty_like(emissions)
    beta = np.empty_like(emissions)
    scale = np.empty(len(emissions))
    last = batch.last_rows
    ones = np.ones(emissions.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first = active[0]
        np.multiply(emissions[:first], entry, out=alpha[:first])
        np.matmul(alpha[:first], ones, out=scale[:first])
        alpha[:first] /= scale[:first, None]
        for t in range(1, len(active)):
            n, here, before = active[t], offsets[t], offsets[t - 1]
            cur = alpha[here : here + n]
            np.matmul(alpha[before : before + n], transmat, out=cur)
            cur *= emissions[here : here + n]
            norm = scale[here : here + n]
            np.matmul(cur, ones, out=norm)
            cur /= norm[:, None]
        leave_scale = (alpha[last] * leave) @ ones
        beta[last] = leave / leave_scale[:, None]
        trans_t = np.ascontiguousarray(transmat.T)
        for t in range(len(active) - 2, -1, -1):
            n, here, after = active[t + 1], offsets[t], offsets[t + 1]
            nxt = emissions[after : after + n] * beta[after : after + n]
            nxt /= scale[after : after + n, None]
            np.matmul(nxt, trans_t, out=beta[here : here + n])
    return alpha, beta, scale, leave_scale


@dataclass
class _Expectations:
    """Expected counts of one E-step over one batch."""

    gamma: np.ndarray  # (packed rows x states) posteriors
    start: np.ndarray | None
    trans: np.ndarray | None
    emit: np.ndarray | None
    loglik: float
    bad_docs: np.ndarray


class NumpyHMM:
    """skweak's HMM for sequence labelling, fitted and applied in batches with numpy.

    ``fit`` takes batches of encoded documents whose source ids index
    ``source_names``; the learned parameters are ``startprob_`` (states),
    ``transmat_`` (states x states), ``emit_probs_`` (sources x states x
    observed labels) and ``weights_`` (sources x observed labels, float32), for
    the sources ``sources_`` (sorted).

    >>> hmm = NumpyHMM(["Drug"])
    >>> hmm.fit(pack_batches(encoded, n_obs=3), source_names=["lex"])  # doctest: +SKIP
    >>> hmm.posteriors(VoteBatch(encoded, n_obs=hmm.n_states)).shape  # doctest: +SKIP
    (n_tokens, 3)
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        initial_weights: Mapping[str, float] | None = None,
        redundancy_factor: float = 0.1,
    ) -> None:
        self.labels = list(labels)
        self.states = state_names(self.labels)
        self.initial_weights = dict(initial_weights or {})
        self.redundancy_factor = redundancy_factor

    @property
    def n_states(self) -> int:
        return len(self.states)

    # -- parameters ----------------------------------------------------------------
    def _emission_prior(self, n_sources: int) -> np.ndarray:
        n = self.n_states
        prior = np.zeros((n, n))
        np.fill_diagonal(prior, CONCENTRATION)
        prior[0, :] += FP_PRIOR * CONCENTRATION
        prior[:, 0] += FN_PRIOR * CONCENTRATION
        prior += 1e-6
        return np.broadcast_to(prior, (n_sources, n, n)).copy()

    def _m_step(
        self, start_counts: np.ndarray, trans_counts: np.ndarray, emit_counts: np.ndarray
    ) -> None:
        start_ok, trans_ok = _bio_masks(self.n_states)
        start_counts = np.where(start_ok, start_counts, 0.0)
        trans_counts = np.where(trans_ok, trans_counts, 0.0)
        self.startprob_ = start_counts / (start_counts.sum() + 1e-100)
        self.transmat_ = trans_counts / (trans_counts.sum(axis=1) + 1e-100)[:, None]
        self.emit_probs_ = emit_counts / (emit_counts + 1e-100).sum(axis=-1, keepdims=True)

    def _log_emissions(self) -> np.ndarray:
        """(sources x states x observed labels) log-probabilities, weights included."""
        with np.errstate(divide="ignore"):
            table = np.log(self.emit_probs_ ** self.weights_[:, None, :].astype(np.float64))
        return np.maximum(table, LOG_FLOOR)

    # -- statistics ----------------------------------------------------------------
    def _e_step(
        self, batch: VoteBatch, log_emit: np.ndarray, *, statistics: bool = True
    ) -> _Expectations:
        """Posteriors of the segments' rows and, with ``statistics``, the expected counts
        (forced tokens included) and the log-likelihood."""
        n, n_src, n_obs = self.n_states, batch.n_sources, batch.n_obs
        start_p, trans_p = self.startprob_, self.transmat_
        loglik = 0.0
        start = trans = emit = None
        if statistics:
            start_forced, trans_forced, emit_forced = batch.forced_counts
            with np.errstate(divide="ignore"):
                log_start, log_trans = np.log(start_p), np.log(trans_p)
            seen_start, seen_trans = start_forced > 0, trans_forced > 0
            loglik = float(
                (emit_forced * log_emit).sum()
                + (start_forced[seen_start] * log_start[seen_start]).sum()
                + (trans_forced[seen_trans] * log_trans[seen_trans]).sum()
            )
            start, trans, emit = start_forced.copy(), trans_forced.copy(), emit_forced.copy()
        bad_docs = batch.impossible.copy()
        if batch.n_rows == 0:
            return _Expectations(np.zeros((0, n)), start, trans, emit, loglik, bad_docs)

        # log-likelihood of each row's votes: every present function's O, plus the
        # difference its non-O vote makes (every free row has at least one)
        base = log_emit[:, :, 0]
        delta = (log_emit - base[:, :, None]).transpose(0, 2, 1).reshape(n_src * n_obs, n)
        frame = np.asarray(batch.row_votes @ delta)
        frame += (batch.presence_free @ base)[batch.row_local]
        frame[~batch.row_allowed] = -np.inf
        top = frame[:, 0].copy()
        for k in range(1, n):
            np.maximum(top, frame[:, k], out=top)
        frame -= top[:, None]
        emissions_p = np.exp(frame, out=frame)

        entry = np.vstack([trans_p, start_p[None, :]])[batch.entry]
        leave = np.vstack([trans_p.T, np.ones((1, n))])[batch.exit]
        alpha, beta, scale, leave_scale = _forward_backward(
            batch, emissions_p, entry, leave, trans_p
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = alpha * beta
            gamma /= (gamma @ np.ones(n))[:, None]
            weighted = emissions_p
            weighted *= beta
            weighted /= scale[:, None]
        ok_rows = (scale > 0) & np.isfinite(scale)
        ok_segs = (leave_scale > 0) & np.isfinite(leave_scale)
        if not (ok_rows.all() and ok_segs.all()):
            bad_docs[batch.free_docs[batch.row_local[~ok_rows]]] = True
            bad_docs[batch.seg_doc[~ok_segs]] = True
        spoiled = bad_docs[batch.free_docs][batch.row_local] if bad_docs.any() else None
        if spoiled is not None:
            gamma[spoiled] = 0.0
            weighted[spoiled] = 0.0
            alpha[spoiled] = 0.0
            ok_segs &= ~bad_docs[batch.seg_doc]
            ok_rows &= ~spoiled
        if not statistics:
            return _Expectations(gamma, start, trans, emit, loglik, bad_docs)
        with np.errstate(divide="ignore"):
            if spoiled is None:
                loglik += float(top.sum() + np.log(scale).sum() + np.log(leave_scale).sum())
            else:
                loglik += float(top[ok_rows].sum() + np.log(scale[ok_rows]).sum())
                loglik += float(np.log(leave_scale[ok_segs]).sum())

        first = int(batch.active[0])
        trans += alpha[batch.pair_prev].T @ weighted[first:] * trans_p
        trans += batch.entry_rows @ gamma
        trans += (batch.exit_rows @ gamma).T
        start += gamma[batch.start_rows].sum(axis=0)
        voted = np.asarray(batch.row_votes.T @ gamma).reshape(n_src, n_obs, n)
        per_doc = batch.doc_rows @ gamma
        voted[:, 0, :] = batch.presence_free.T @ per_doc - voted[:, 1:, :].sum(axis=1)
        emit += voted.transpose(0, 2, 1)
        return _Expectations(gamma, start, trans, emit, loglik, bad_docs)

    def _majority_stats(
        self, batch: VoteBatch, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """skweak's starting point: counts from a weighted token-level majority vote."""
        n_obs, n = batch.n_obs, self.n_states
        per_vote = np.zeros((batch.n_sources * n_obs, n_obs))
        for k in range(1, n_obs):
            per_vote[k::n_obs, k] = weights
        votes = np.asarray(batch.votes @ per_vote)
        present = np.repeat(np.asarray(batch.presence @ weights), batch.lengths)
        votes[:, 0] = present - votes.sum(axis=1)
        votes = votes.astype(np.float32)
        diff = votes[:, 0] - votes.sum(axis=1)
        votes[:, 0] = np.float32(O_VOTE_BASE) ** diff
        probs = (votes / (votes.sum(axis=1, keepdims=True) + np.float32(1e-30))).astype(np.float64)
        probs[np.repeat(batch.impossible, batch.lengths)] = 0.0
        cont = batch.continuing()
        prev = np.flatnonzero(cont) - 1
        trans = probs[prev].T @ probs[cont]
        start = probs[batch.starts].sum(axis=0)
        voted = np.asarray(batch.votes.T @ probs).reshape(batch.n_sources, n_obs, n)
        total = np.asarray(batch.presence.T @ np.add.reduceat(probs, batch.starts, axis=0))
        voted[:, 0, :] = total - voted[:, 1:, :].sum(axis=1)
        return start, trans, voted.transpose(0, 2, 1)

    def _correlation_counts(
        self, batches: Sequence[VoteBatch], pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], np.ndarray]:
        """skweak's ``corr_counts``: for each pair (a, b), counts of (b's label, a's label).

        skweak takes the product of two *boolean* one-hot matrices, which is
        boolean: a document adds 1 for each pair of labels that co-occur on at
        least one of its tokens, whatever the number of tokens. Counted the same
        way here, since the weights, hence the output, depend on it.
        """
        n = self.n_states
        prior = np.eye(n) * CONCENTRATION
        prior[:, 0] += FN_PRIOR * CONCENTRATION
        prior[0, :] += FP_PRIOR * CONCENTRATION
        prior += 1e-6
        counts = {pair: prior.copy() for pair in pairs}
        involved = sorted({s for pair in pairs for s in pair})
        for batch in batches:
            votes = batch.votes.tocoo()
            src, lab = np.divmod(votes.col, batch.n_obs)
            present = batch.presence.tocsc()
            token_labels = {}
            for s in involved:
                docs = (present[:, s].toarray().ravel() > 0) & ~batch.impossible
                column = np.where(np.repeat(docs, batch.lengths), 0, -1).astype(np.int64)
                mine = src == s
                column[votes.row[mine]] = lab[mine]
                token_labels[s] = column
            token_doc = np.repeat(np.arange(batch.n_docs), batch.lengths)
            for a, b in pairs:
                la, lb = token_labels[a], token_labels[b]
                both = (la >= 0) & (lb >= 0)
                seen = np.unique((token_doc[both] * n + lb[both]) * n + la[both]) % (n * n)
                counts[(a, b)] += np.bincount(seen, minlength=n * n).reshape(n, n)
        return counts

    def _redundancy_weights(
        self, sources: Sequence[str], corr: Mapping[tuple[int, int], np.ndarray]
    ) -> np.ndarray:
        weights = np.empty((len(sources), self.n_states), dtype=np.float32)
        for s, name in enumerate(sources):
            weights[s] = np.float32(self.initial_weights.get(name, 1))
            for i in range(self.n_states):
                recalls = [
                    counts[i, i] / counts[i, :].sum() for (a, _), counts in corr.items() if a == s
                ]
                weights[s, i] *= np.exp(-self.redundancy_factor * np.sum(recalls))
        return weights

    # -- public API ----------------------------------------------------------------
    def fit(
        self,
        batches: Sequence[VoteBatch],
        *,
        source_names: Sequence[str],
        n_iter: int = 20,
        tol: float = 1e-2,
    ) -> NumpyHMM:
        """Fit by EM (Baum-Welch), as skweak's ``HMM._fit`` does.

        ``batches`` (see :func:`pack_batches`) hold the fit documents, whose
        source ids index ``source_names``. Documents that no state sequence can
        explain (a function's overlapping spans of different labels can do that)
        are left out. Stops after ``n_iter`` iterations or when the
        log-likelihood rises by less than ``tol``. The batches are slimmed down
        on the way (:meth:`VoteBatch.drop_token_arrays`).

        >>> batches = pack_batches(encoded, n_obs=3)  # doctest: +SKIP
        >>> hmm = NumpyHMM(["Drug"]).fit(batches, source_names=["lex"])  # doctest: +SKIP
        """
        if not batches:
            raise AggregationError(
                "no document to fit on: none has tokens and a span from a labelling function"
            )
        names = list(source_names)
        n_src, n = len(names), self.n_states
        for batch in batches:
            batch.widen(n_src)

        # leave out the documents no state sequence can explain: with every valid
        # transition possible and flat emissions, those are the ones with no path
        start_ok, trans_ok = _bio_masks(n)
        self.startprob_ = start_ok / start_ok.sum()
        self.transmat_ = trans_ok / trans_ok.sum(axis=1, keepdims=True)
        flat = np.zeros((n_src, n, n))
        n_bad = 0
        for batch in batches:
            bad = self._e_step(batch, flat, statistics=False).bad_docs
            n_bad += int(bad.sum())
            batch.exclude(bad)
        if n_bad:
            logger.warning(
                "HMM (numpy): %d document(s) have no state sequence allowed by their votes "
                "(overlapping spans of different labels in one function?); they are left "
                "out of the fit and aggregated as all-O",
                n_bad,
            )

        pairs = [
            (s, names.index(other))
            for s, name in enumerate(names)
            for other in correlated_sources(name, names)
        ]
        self.weights_ = self._redundancy_weights(names, self._correlation_counts(batches, pairs))

        # start from a weighted majority vote
        n_corr = np.bincount([a for a, _ in pairs], minlength=n_src)
        mv_weights = np.array(
            [self.initial_weights.get(name, 1) for name in names], dtype=np.float64
        ) * np.exp(-self.redundancy_factor * n_corr)
        start = np.full(n, CONCENTRATION + 1e-10)
        trans = np.full((n, n), CONCENTRATION + 1e-10)
        emit = self._emission_prior(n_src)
        for batch in batches:
            start_b, trans_b, emit_b = self._majority_stats(batch, mv_weights)
            start += start_b
            trans += trans_b
            emit += emit_b
        self._m_step(start, trans, emit)
        for batch in batches:
            batch.drop_token_arrays()

        history: list[float] = []
        self.n_iter_ = 0
        for iteration in range(n_iter):
            start = np.full(n, CONCENTRATION + 1e-10)
            trans = np.full((n, n), CONCENTRATION + 1e-10)
            emit = self._emission_prior(n_src)
            log_emit = self._log_emissions()
            loglik = 0.0
            for batch in batches:
                found = self._e_step(batch, log_emit)
                start += found.start
                trans += found.trans
                emit += found.emit
                loglik += found.loglik
            self._m_step(start, trans, emit)
            self.n_iter_ = iteration + 1
            logger.info("HMM (numpy): EM iteration %d, log-likelihood %.4f", iteration + 1, loglik)
            history.append(loglik)
            if len(history) >= 2 and history[-1] - history[-2] < tol:
                break
        self.loglik_ = history[-1] if history else None

        # sources in sorted order, as skweak's engine reports them
        order = sorted(range(n_src), key=names.__getitem__)
        self.sources_ = [names[i] for i in order]
        self.emit_probs_ = self.emit_probs_[order]
        self.weights_ = self.weights_[order]
        return self

    def posteriors(self, batch: VoteBatch) -> np.ndarray:
        """(tokens x states) posterior state probabilities for every token of ``batch``.

        A document that no state sequence can explain gets ``O`` everywhere.
        """
        found = self._e_step(batch, self._log_emissions(), statistics=False)
        gamma = np.zeros((batch.n_tokens, self.n_states))
        forced = np.flatnonzero(batch.forced_state >= 0)
        gamma[forced, batch.forced_state[forced]] = 1.0
        gamma[batch.row_token] = found.gamma
        if found.bad_docs.any():
            spoiled = np.repeat(found.bad_docs, batch.lengths)
            gamma[spoiled] = 0.0
            gamma[spoiled, 0] = 1.0
        return gamma

    def emission_table(self) -> dict[str, np.ndarray]:
        """Per source, its (states x observed labels) emission probabilities."""
        return {name: self.emit_probs_[s] for s, name in enumerate(self.sources_)}

    def to_dict(self) -> dict[str, Any]:
        """The learned parameters, JSON-ready (same keys as the skweak engine writes)."""
        return {
            "startprob_": self.startprob_.tolist(),
            "transmat_": self.transmat_.tolist(),
            "emit_probs_": {k: v.tolist() for k, v in self.emission_table().items()},
            "weights_": {name: self.weights_[s].tolist() for s, name in enumerate(self.sources_)},
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        labels: Sequence[str],
        *,
        initial_weights: Mapping[str, float] | None = None,
        redundancy_factor: float = 0.1,
    ) -> NumpyHMM:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        hmm = cls(labels, initial_weights=initial_weights, redundancy_factor=redundancy_factor)
        hmm.sources_ = sorted(data["emit_probs_"])
        hmm.startprob_ = np.asarray(data["startprob_"], dtype=np.float64)
        hmm.transmat_ = np.asarray(data["transmat_"], dtype=np.float64)
        hmm.emit_probs_ = np.stack(
            [np.asarray(data["emit_probs_"][s], dtype=np.float64) for s in hmm.sources_]
        ).reshape(len(hmm.sources_), hmm.n_states, hmm.n_states)
        hmm.weights_ = np.stack(
            [np.asarray(data["weights_"][s], dtype=np.float32) for s in hmm.sources_]
        ).reshape(len(hmm.sources_), hmm.n_states)
        return hmm



# -- posteriors to spans ---------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    """Aggregated spans and uncertain tokens of a batch, in batch token offsets."""

    span_docs: np.ndarray
    span_starts: np.ndarray
    span_ends: np.ndarray
    span_labels: np.ndarray  # label number, from 1
    confidences: np.ndarray
    uncertain: np.ndarray
    p_outside: np.ndarray


def decode(batch: VoteBatch, posteriors: np.ndarray, *, uncertain_below: float = 0.99) -> Decoded:
    """Read spans off the most probable state of each token, as skweak does.

    A span starts on any non-``O`` token that does not continue the previous
    one (an ``I-`` right after a non-``O`` token continues it, whatever its
    label) and takes its label from its first token. Its confidence is the mean
    of the ``B-`` probability of the first token and the ``I-`` probabilities
    of the others. Tokens outside every span whose probability of ``O`` is
    below ``uncertain_below`` are reported as uncertain.

    >>> decoded = decode(batch, hmm.posteriors(batch))  # doctest: +SKIP
    """
    state = posteriors.argmax(axis=1)
    inside = state != 0
    is_inner = inside & (state % 2 == 0)
    after_inside = np.zeros_like(inside)
    after_inside[1:] = inside[:-1]
    after_inside[batch.starts] = False
    starts = inside & ~(is_inner & after_inside)
    first = np.flatnonzero(starts)
    stops = ~inside | starts
    stops[batch.starts] = True
    bounds = np.append(np.flatnonzero(stops), batch.n_tokens)
    last = bounds[np.searchsorted(bounds, first, side="right")]
    label = (state[first] + 1) // 2
    b_prob = posteriors[first, 2 * label - 1]
    span_of = np.cumsum(starts) - 1
    inner = inside & ~starts
    inner_tokens = np.flatnonzero(inner)
    i_prob = posteriors[inner_tokens, 2 * label[span_of[inner_tokens]]]
    i_sum = np.bincount(span_of[inner_tokens], weights=i_prob, minlength=len(first))
    confidence = (b_prob + i_sum) / (last - first)
    p_outside = posteriors[:, 0]
    uncertain = np.flatnonzero(~inside & (p_outside < uncertain_below))
    return Decoded(
        batch.doc_of(first), first, last, label, confidence, uncertain, p_outside[uncertain]
    )
