"""Lexicons: read ``lexicons/``, normalise the terms, match them as gazetteers.

A lexicon folder holds one ``<LABEL>.txt`` file per label, one term per line, and
optionally ``.jsonl`` files whose lines are ``{"term": ..., "label": ...}``.
:func:`load_lexicons` reads them into :class:`Lexicon` objects;
:func:`lexicon_functions` turns each into two labelling functions
(:class:`Gazetteer`), one case-sensitive and one case-insensitive, so that the
aggregator can weigh them separately. :func:`match_longest` is the
"dictionary match alone" baseline.

>>> lexicons = load_lexicons("lexicons/")  # doctest: +SKIP
>>> functions = lexicon_functions(lexicons)  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import numpy as np
from spacy.attrs import IDX, IS_SPACE, LENGTH
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from .errors import LexiconError, RuleError
from .labelling import DocBatch, LabellingFunction, check_label
from .termindex import FORMAT as _INDEX_FORMAT
from .termindex import TermIndex, TokenTable

__all__ = [
    "ENGINES",
    "cache_dir",
    "rename_labels",
    "Lexicon",
    "load_lexicons",
    "Gazetteer",
    "lexicon_functions",
    "match_longest",
]

logger = logging.getLogger("hybridner")

_SUFFIXES = (".txt", ".jsonl")
# A term's automaton value packs the length of its key (whitespace removed) and the
# number of whitespace gaps in the term: value = key_length << _GAP_BITS | gaps.
_GAP_BITS = 16
_GAP_MASK = (1 << _GAP_BITS) - 1
# Keys this short match (by Aho-Corasick) at almost every position of a text, mostly
# inside tokens; they are looked up in a dict over runs of short tokens instead.
_SHORT = 4
_WHITESPACE = re.compile(r"\s")
_WHITESPACE_RUNS = re.compile(r"\s+")
#: str.isspace() of every code point up to U+3000 (the last whitespace code point)
_IS_SPACE = np.array([chr(i).isspace() for i in range(0x3001)], dtype=bool)
#: Lexicons with at least this many terms keep their built matcher in the cache.
CACHE_MIN_TERMS = 50_000
#: The matchers a gazetteer can use (see :class:`Gazetteer`).
ENGINES = ("hash", "ahocorasick")
_JSONL_EXAMPLE = '{"term": "aspirin", "label": "Drug"}'


@dataclass
class Lexicon:
    """The terms of one label, cleaned, in first-seen order, without duplicates.

    ``source`` names the file(s) the terms were read from (comma-separated).

    >>> lexicon = Lexicon("Drug", ["aspirin", "acetylsalicylic acid"], "Drug.txt")
    >>> len(lexicon)
    2
    """

    label: str
    terms: list[str] = field(repr=False)
    source: str

    def __len__(self) -> int:
        return len(self.terms)

    def __repr__(self) -> str:
        return (
            f"Lexicon(label={self.label!r}, terms=<{len(self.terms)} terms>, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------- loading


def _normalise(raw: str) -> str:
    """Strip surrounding whitespace and invisible format characters, collapse inner runs."""
    text = " ".join(raw.split())
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]) == "Cf"):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]) == "Cf"):
        end -= 1
    return text[start:end]


def _read_lines(path: Path) -> list[str]:
    """Decode a UTF-8 file (an initial BOM is accepted) and split it into lines."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LexiconError(f"{path}: cannot be read ({err.strerror or err})") from err
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skip + err.start
        line = data[:offset].count(b"\n") + 1
        bad = data[offset : skip + err.end].hex(" ")
        raise LexiconError(
            f"{path} line {line} (byte offset {offset}): not valid UTF-8 (bytes {bad}: "
            f"{err.reason}); lexicon files must be UTF-8: re-encode the file, e.g. "
            f"`iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}`"
        ) from err
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class _Collector:
    """Accumulate terms per label across files, first-seen order, without duplicates."""

    def __init__(self) -> None:
        self.terms: dict[str, dict[str, None]] = {}
        self.sources: dict[str, list[str]] = {}

    def add(self, label: str, term: str, source: str) -> None:
        self.terms.setdefault(label, {})[term] = None
        sources = self.sources.setdefault(label, [])
        if source not in sources:
            sources.append(source)

    def lexicons(self) -> dict[str, Lexicon]:
        return {
            label: Lexicon(label, list(self.terms[label]), ", ".join(self.sources[label]))
            for label in sorted(self.terms)
        }


def _checked_label(label: object, where: str, fix: str) -> str:
    try:
        return check_label(label, where)
    except RuleError as err:
        raise LexiconError(f"{err}; {fix}") from None


def _clean_term(raw: str, where: str, skipped: list[str]) -> str | None:
    """The normalised term, or None (recorded in ``skipped``) for punctuation-only terms."""
    term = _normalise(raw)
    if not term:
        raise LexiconError(
            f"{where}: empty term after normalisation (the value {raw!r} holds only "
            "whitespace or invisible characters); remove the line or write the term"
        )
    if not any(ch.isalnum() for ch in term):
        skipped.append(f"{where}: {term!r}")
        return None
    return term


def _warn_skipped(path: Path, skipped: list[str]) -> None:
    if skipped:
        logger.warning(
            "%s: skipped %d term(s) made only of punctuation or symbols (%s%s)",
            path,
            len(skipped),
            "; ".join(skipped[:5]),
            "; ..." if len(skipped) > 5 else "",
        )


def _read_txt(path: Path, collector: _Collector) -> None:
    label = _checked_label(
        path.stem, str(path), "rename the file: its name (without .txt) is the label"
    )
    skipped: list[str] = []
    count = 0
    for number, raw in enumerate(_read_lines(path), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        term = _clean_term(raw, f"{path} line {number}", skipped)
        if term is not None:
            collector.add(label, term, str(path))
            count += 1
    _warn_skipped(path, skipped)
    if count == 0:
        raise LexiconError(
            f"{path}: lexicon {label!r} has no terms after removing comments, blank lines "
            "and punctuation-only lines; add terms (one per line) or delete the file"
        )


def _read_jsonl(path: Path, collector: _Collector) -> None:
    skipped: list[str] = []
    count = 0
    for number, raw in enumerate(_read_lines(path), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise LexiconError(
                f"{where}: invalid JSON ({err.msg} at column {err.colno}); each line must "
                f"be one object such as {_JSONL_EXAMPLE}"
            ) from None
        if not isinstance(record, dict):
            raise LexiconError(
                f"{where}: expected a JSON object, got {type(record).__name__} {record!r}; "
                f"write lines such as {_JSONL_EXAMPLE}"
            )
        missing = [key for key in ("term", "label") if key not in record]
        if missing:
            raise LexiconError(
                f"{where}: missing {' and '.join(repr(k) for k in missing)} (keys found: "
                f"{sorted(record)}); write lines such as {_JSONL_EXAMPLE}"
            )
        if not isinstance(record["term"], str):
            raise LexiconError(
                f"{where}: 'term' must be a string, got {record['term']!r}; "
                f"write lines such as {_JSONL_EXAMPLE}"
            )
        label = _checked_label(record["label"], where, "fix the 'label' value")
        term = _clean_term(record["term"], where, skipped)
        if term is not None:
            collector.add(label, term, str(path))
            count += 1
    _warn_skipped(path, skipped)
    if count == 0:
        raise LexiconError(
            f"{path}: no terms in this file after removing comments, blank lines and "
            f"punctuation-only terms; add lines such as {_JSONL_EXAMPLE} or delete the file"
        )


def load_lexicons(path: str | Path) -> dict[str, Lexicon]:
    """Read a lexicon folder (or one lexicon file) into lexicons keyed by label.

    * ``<LABEL>.txt``: one term per line; the file name without ``.txt`` is the label.
    * ``*.jsonl``: one ``{"term": ..., "label": ...}`` object per line, any labels;
      their terms join those of the ``.txt`` file of the same label, if any.

    Files are UTF-8 (an initial BOM is accepted), with ``\\n`` or ``\\r\\n`` line ends.
    Blank lines and lines starting with ``#`` are skipped. Each term is normalised:
    surrounding whitespace and invisible format characters (such as zero-width
    spaces) are removed and inner whitespace runs become one space; duplicates are
    dropped, first occurrence kept. Terms with no letter or digit (only punctuation
    or symbols) are skipped with a logged warning. Anything else wrong raises
    :class:`~hybridner.errors.LexiconError` naming the file and line.

    The result is sorted by label.

    >>> lexicons = load_lexicons("lexicons/")  # doctest: +SKIP
    >>> lexicons["Drug"].terms[:2]  # doctest: +SKIP
    ['aspirin', 'ibuprofen']
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir()
            if p.suffix in _SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            present = sorted(p.name for p in path.iterdir())
            shown = ", ".join(present[:10]) + (", ..." if len(present) > 10 else "")
            raise LexiconError(
                f"{path}: no lexicon in this folder (found: {shown or 'nothing'}); add one "
                "<LABEL>.txt file per label (one term per line) or .jsonl files of "
                f"{_JSONL_EXAMPLE} lines"
            )
    elif path.is_file():
        if path.suffix not in _SUFFIXES:
            raise LexiconError(
                f"{path}: not a lexicon file; use <LABEL>.txt (one term per line) or a "
                f".jsonl file of {_JSONL_EXAMPLE} lines"
            )
        files = [path]
    else:
        raise LexiconError(
            f"{path}: no such lexicon folder or file; pass a folder of <LABEL>.txt / "
            ".jsonl files, or one such file"
        )
    collector = _Collector()
    for file in files:
        if file.suffix == ".txt":
            _read_txt(file, collector)
        else:
            _read_jsonl(file, collector)
    lexicons = collector.lexicons()
    logger.info(
        "loaded %d lexicon(s) from %s: %s",
        len(lexicons),
        path,
        ", ".join(f"{label} ({len(lex)} terms)" for label, lex in lexicons.items()),
    )
    return lexicons


def rename_labels(lexicons: Mapping[str, Lexicon], mapping: Mapping[str, str]) -> dict[str, Lexicon]:
    """Give lexicons the labels of the task: ``{"GPE": "LOC", "COMPANY": "ORG"}``.

    Lexicons mapped to the same label are merged; a lexicon mapped to ``""`` is
    left out (a rule may still use it); labels not in ``mapping`` are kept. Leaving
    every lexicon out is allowed (the rules alone then vote).

    >>> lexicons = {"GPE": Lexicon("GPE", ["Paris"], "GPE.txt")}
    >>> rename_labels(lexicons, {"GPE": "LOC"})["LOC"].terms
    ['Paris']
    """
    unknown = sorted(set(mapping) - set(lexicons))
    if unknown:
        raise LexiconError(
            f"label map names lexicon(s) {unknown} that were not loaded; the lexicons "
            f"are {sorted(lexicons)}"
        )
    merged: dict[str, Lexicon] = {}
    for label, lexicon in lexicons.items():
        new = mapping.get(label, label)
        if not new:
            continue
        try:
            check_label(new, f"label map {label}={new}")
        except RuleError as err:
            raise LexiconError(str(err)) from None
        if new in merged:
            previous = merged[new]
            terms = list(dict.fromkeys(previous.terms + lexicon.terms))
            merged[new] = Lexicon(new, terms, f"{previous.source},{lexicon.source}")
        else:
            merged[new] = Lexicon(new, lexicon.terms, lexicon.source)
    if not merged:
        logger.warning("the label map leaves out every lexicon; only the rules will vote")
    return dict(sorted(merged.items()))


# --------------------------------------------------------------------------- matching


def cache_root() -> Path | None:
    """hybridner's cache folder, or None when caching is off.

    ``$HYBRIDNER_CACHE_DIR`` if set (empty or ``off`` turns every cache off), else
    ``$XDG_CACHE_HOME/hybridner`` or ``~/.cache/hybridner``.
    """
    value = os.environ.get("HYBRIDNER_CACHE_DIR")
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hybridner"


def cache_dir() -> Path | None:
    """Where large lexicons keep their built matchers, or None when caching is off.

    ``gazetteers/`` in :func:`cache_root`. Files are named by a hash of the terms
    and settings, so a changed lexicon is never served stale. They hold numpy
    arrays only (read without pickle); a file owned by another user or writable
    by others is ignored all the same.
    """
    root = cache_root()
    return None if root is None else root / "gazetteers"


def _fold(text: str) -> str:
    """Lowercase ``text`` character by character, keeping its length.

    Characters whose lowercase form has another length (such as ``İ``) are kept as
    they are. Python lowercases a capital sigma by context; folding per character
    keeps terms and documents consistent.
    """
    lowered = text.lower()
    if len(lowered) == len(text) and "\u03a3" not in text:
        return lowered
    out = []
    for ch in text:
        low = ch.lower()
        out.append(low if len(low) == 1 else ch)
    return "".join(out)


class _DocView:
    """A document without whitespace, mapped back to its tokens.

    ``text`` is the concatenation of the non-space tokens; ``starts`` / ``ends`` map
    an offset in ``text`` where a token starts / ends to the token's rank among the
    non-space tokens; ``offsets[rank]`` is where that token starts in ``text`` (plus
    one last item, the length of ``text``); ``tokens`` maps the rank to the token
    index in the ``Doc``;
    ``gaps_before[rank]`` / ``gaps_after[rank]`` count the whitespace gaps before the
    start / the end of that token (they differ only for tokens holding whitespace).
    """

    __slots__ = (
        "text", "starts", "ends", "offsets", "tokens", "gaps_before", "gaps_after", "_folded"
    )

    def __init__(self, doc: Doc) -> None:
        self._folded: str | None = None
        if not self._build(doc, careful=False):
            self._build(doc, careful=True)

    def _build(self, doc: Doc, *, careful: bool) -> bool:
        """Fill the maps; False when a token holds whitespace and ``careful`` is needed."""
        pieces: list[str] = []
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        offsets: list[int] = []
        tokens: list[int] = []
        gaps_before: list[int] = []
        gaps_after = gaps_before if not careful else []
        pos = 0
        n_gaps = 0
        space_before = False
        for tok in doc:
            text = tok.text
            if careful:
                # a custom tokenizer may leave whitespace inside a token
                parts = text.split()
                text = "".join(parts)
            if tok.is_space or not text:
                space_before = True
                continue
            if tokens and space_before:
                n_gaps += 1
            rank = len(tokens)
            gaps_before.append(n_gaps)
            if careful:
                n_gaps += len(parts) - 1
                gaps_after.append(n_gaps)
            starts[pos] = rank
            offsets.append(pos)
            pos += len(text)
            ends[pos] = rank
            tokens.append(tok.i)
            pieces.append(text)
            space_before = bool(tok.whitespace_)
        offsets.append(pos)
        joined = "".join(pieces)
        if not careful and _WHITESPACE.search(joined):
            return False
        self.text = joined
        self.starts = starts
        self.ends = ends
        self.offsets = offsets
        self.tokens = tokens
        self.gaps_before = gaps_before
        self.gaps_after = gaps_after
        return True

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = _fold(self.text)
        return self._folded


class _BatchView:
    """A batch of documents without whitespace, as arrays (see :class:`_DocView`).

    The texts of the batch are joined, whitespace is removed, and numpy arrays
    map each position of that text to the token starting or ending there:
    building it costs a few array operations per batch instead of Python work
    per token, and matching costs Python work per match only. ``ok`` is False
    when a token holds whitespace (a custom tokenizer); the per-document path
    handles such batches.
    """

    def __init__(self, docs: Sequence[Doc], texts: Sequence[str]) -> None:
        self.n_docs = len(docs)
        self._folded: str | None = None
        arrays = [doc.to_array([IDX, LENGTH, IS_SPACE]).reshape(-1, 3) for doc in docs]
        n_tokens = np.array([len(a) for a in arrays], dtype=np.int64)
        table = np.concatenate(arrays).astype(np.int64) if arrays else np.zeros((0, 3), np.int64)
        lengths = np.array([len(t) + 1 for t in texts], dtype=np.int64)
        char_offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(texts) else lengths
        token_offsets = np.concatenate([[0], np.cumsum(n_tokens)[:-1]]) if len(docs) else n_tokens
        doc_of = np.repeat(np.arange(len(docs)), n_tokens)
        joined = "\n".join(texts)
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        space = np.zeros(len(codes), dtype=bool)
        small = codes < len(_IS_SPACE)
        space[small] = _IS_SPACE[codes[small]]
        before = np.concatenate([[0], np.cumsum(space)])  # whitespace characters before i
        keep = (table[:, 2] == 0) & (table[:, 1] > 0)
        index = np.nonzero(keep)[0]
        starts = table[index, 0] + char_offsets[doc_of[index]]
        ends = starts + table[index, 1]
        self.ok = not np.any(before[ends] - before[starts])
        if not self.ok:
            return
        cstart = starts - before[starts]
        cend = ends - before[ends]
        self.text = _WHITESPACE_RUNS.sub("", joined)
        size = len(self.text) + 1
        ranks = np.arange(len(index))
        self.start_rank = np.full(size, -1, dtype=np.int64)
        self.start_rank[cstart] = ranks
        self.end_rank = np.full(size, -1, dtype=np.int64)
        self.end_rank[cend] = ranks
        gap = np.ones(len(index), dtype=bool)
        gap[1:] = starts[1:] > ends[:-1]
        self.gaps = np.cumsum(gap)
        self.doc = doc_of[index]
        self.token = index - token_offsets[self.doc]
        self.cstart, self.cend = cstart, cend

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = _fold(self.text)
        return self._folded


def _select_longest(candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep the longest candidates first, then the leftmost, without overlaps."""
    candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
    taken: set[int] = set()
    kept = []
    for start, end in candidates:
        if any(i in taken for i in range(start, end)):
            continue
        taken.update(range(start, end))
        kept.append((start, end))
    kept.sort()
    return kept


class Gazetteer(LabellingFunction):
    """A labelling function that marks the terms of one :class:`Lexicon`.

    Matching policy:

    * **Token-aligned**: a match must start at the start of a spaCy token and end at
      the end of one; a term found inside a token (``cin`` in ``penicillin``) is not
      a match. Spans never start or end on whitespace tokens.
    * **Whitespace-insensitive**: whitespace is removed from both the terms and the
      document before matching, so the pre-tokenised term
      ``( R)-alpha - methylhistamine`` matches ``(R)-alpha-methylhistamine`` and
      ``type 2  diabetes`` matches ``type 2 diabetes``. To avoid gluing words
      together, the matched text may hold at most as many whitespace gaps as the
      term: ``cancerdrug`` does not match ``cancer drug``, while ``cancer drug``
      matches ``cancer  drug`` and ``cancerdrug``. Punctuation is never ignored.
    * **Case**: with ``case_sensitive=False`` both sides are lowercased character by
      character (characters whose lowercase form has another length stay as they
      are).
    * **Longest match wins**: of overlapping matches the one with most tokens is
      kept, then the leftmost.

    Two matchers give the same matches (``engine``):

    * ``"hash"`` (the default): a :class:`~hybridner.termindex.TermIndex` of the
      keys (terms without whitespace). Runs of tokens are hashed and looked up,
      growing only while they spell the start of some key, so the cost follows
      the number of tokens, not of characters, and hardly the number of terms;
      about 60 bytes per term, built streaming over the terms.
    * ``"ahocorasick"``: a ``pyahocorasick`` automaton scanned over the
      whitespace-free text (keys of at most four characters, which would hit
      almost everywhere inside words, sit in a dict looked up on runs of short
      tokens). Faster to build for small lexicons; its scan slows down and its
      trie takes about 400 bytes per term for large ones.

    Large lexicons (``CACHE_MIN_TERMS`` terms or more) keep their built hash index
    in :func:`cache_dir`, as numpy arrays. The function is picklable: it pickles
    its terms and rebuilds (or reloads) its matcher on load.

    >>> import spacy
    >>> nlp = spacy.blank("en")
    >>> gazetteer = Gazetteer(Lexicon("Drug", ["aspirin"], "Drug.txt"), case_sensitive=False)
    >>> doc = gazetteer(nlp("Aspirin, not penicillin."))
    >>> [(s.text, s.label_) for s in doc.spans[gazetteer.name]]
    [('Aspirin', 'Drug')]
    """

    kind = "lexicon"

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        case_sensitive: bool = True,
        name: str | None = None,
        engine: str = "hash",
    ) -> None:
        if name is None:
            name = f"lexicon:{lexicon.label}:{'cased' if case_sensitive else 'uncased'}"
        try:
            LabellingFunction.__init__(self, name, lexicon.label)
        except RuleError as err:
            raise LexiconError(f"{lexicon.source}: {err}") from None
        if engine not in ENGINES:
            raise LexiconError(
                f"gazetteer {name!r}: unknown engine {engine!r}; use one of {list(ENGINES)}"
            )
        self.lexicon = lexicon
        self.case_sensitive = bool(case_sensitive)
        self.engine = engine
        #: whether the matcher came from the cache (see :func:`cache_dir`)
        self.cache_hit = False
        self._build()

    @property
    def n_keys(self) -> int:
        """How many distinct keys (terms without whitespace, folded if uncased) it holds."""
        if self.engine == "hash":
            return len(self._index)
        return len(self._automaton) + len(self._short)

    def _keys(self) -> Iterator[tuple[str, int]]:
        """Each term's key (whitespace removed, folded if uncased) and packed value.

        The value packs the key's length and how many whitespace gaps the term
        holds: ``length << _GAP_BITS | gaps``.
        """
        fold = None if self.case_sensitive else _fold
        for term in self.lexicon.terms:
            parts = term.split()
            if not parts:
                raise LexiconError(
                    f"{self.lexicon.source}: lexicon {self.lexicon.label!r} holds the empty "
                    f"term {term!r}; remove it (load_lexicons drops such terms)"
                )
            key = "".join(parts)
            if fold is not None:
                key = fold(key)
            yield key, (len(key) << _GAP_BITS) | min(len(parts) - 1, _GAP_MASK)

    def _no_terms(self) -> LexiconError:
        return LexiconError(
            f"{self.lexicon.source}: lexicon {self.lexicon.label!r} has no terms; "
            "add terms or leave the lexicon out"
        )

    def _build(self) -> None:
        """Build the matcher, or load the hash index from the cache when built before."""
        if self.engine == "ahocorasick":
            self._build_matcher()
            return
        folder = cache_dir() if len(self.lexicon.terms) >= CACHE_MIN_TERMS else None
        path = None
        if folder is not None:
            path = folder / f"{self._cache_key()}.npz"
            if self._load_cached(path):
                return
        terms = self.lexicon.terms
        self._index = TermIndex.build(
            self._keys(), n_hint=len(terms), chars_hint=sum(map(len, terms)),
            folded=not self.case_sensitive,
        )
        if not len(self._index):
            raise self._no_terms()
        if path is not None:
            self._save_cached(path)

    def _cache_key(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"{_INDEX_FORMAT}|{self.case_sensitive}|{_GAP_BITS}\n".encode())
        for term in self.lexicon.terms:
            digest.update(term.encode("utf8", "surrogatepass"))
            digest.update(b"\n")
        return digest.hexdigest()

    def _load_cached(self, path: Path) -> bool:
        """Load a cached index; False (and a rebuild) when absent, unsafe or unreadable."""
        try:
            info = path.stat()
        except OSError:
            return False
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            logger.warning(
                "%s: not loaded (owned by another user or writable by others); the matcher "
                "is rebuilt. Remove the file or fix its permissions", path,
            )
            return False
        try:
            index = TermIndex.load(path)
        except Exception as err:  # a partial or foreign file: rebuild it
            logger.warning("%s: cached matcher unreadable (%s); rebuilding it", path, err)
            return False
        if index.folded == self.case_sensitive:
            logger.warning("%s: cached matcher of the wrong case setting; rebuilding it", path)
            return False
        self._index = index
        self.cache_hit = True
        logger.debug("loaded the matcher of %s from %s", self.name, path)
        return True

    def _save_cached(self, path: Path) -> None:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
            os.close(fd)
            try:
                self._index.save(Path(tmp))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            logger.warning("could not cache the matcher of %s in %s: %s", self.name, path.parent, err)

    def _build_matcher(self) -> None:
        """Fill the automaton (long keys) and the dict of short keys, streaming over terms."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        add, get = automaton.add_word, automaton.get
        short: dict[str, int] = {}
        for key, value in self._keys():
            # terms sharing a key keep the most gaps (the most permissive)
            if len(key) <= _SHORT:
                if value > short.get(key, -1):
                    short[key] = value
            elif value > get(key, -1):
                add(key, value)
        if len(automaton) == 0 and not short:
            raise self._no_terms()
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton
        self._short = short

    def label_batch(self, batch: DocBatch) -> None:
        """Match a whole batch at once; what the gazetteers share is computed once."""
        name, label = self.name, self.label
        if self.engine != "hash":
            for doc, matches in zip(batch.docs, self._matches(batch), strict=True):
                doc.spans[name] = [Span(doc, start, end, label=label) for start, end in matches]
            return
        doc_of, starts, ends = self._find_table(self._table(batch))
        bounds = np.searchsorted(doc_of, np.arange(len(batch.docs) + 1)).tolist()
        starts, ends = starts.tolist(), ends.tolist()
        for i, doc in enumerate(batch.docs):
            a, b = bounds[i], bounds[i + 1]
            # an empty tuple, not a new list per document: fewer objects for the GC
            doc.spans[name] = (
                [Span(doc, starts[k], ends[k], label=label) for k in range(a, b)] if b > a else ()
            )

    @staticmethod
    def _table(batch: DocBatch) -> TokenTable:
        return batch.memo("gazetteer:tokens", lambda b: TokenTable(b.docs))

    def _matches(self, batch: DocBatch) -> list[list[tuple[int, int]]]:
        """Token offsets of the matches in each document of a batch (as :meth:`find`)."""
        if self.engine == "hash":
            found: list[list[tuple[int, int]]] = [[] for _ in batch.docs]
            for d, s, e in zip(*(a.tolist() for a in self._find_table(self._table(batch))),
                               strict=True):
                found[d].append((s, e))
            return found
        view = batch.memo("gazetteer:batch-view", lambda b: _BatchView(b.docs, b.texts))
        if view.ok:
            return self._find_batch(view)
        return [self._find(v) for v in batch.shared("gazetteer:view", _DocView)]

    def _find_table(self, table: TokenTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The matches of a batch as arrays ``(doc, start, end)``, sorted, longest-leftmost."""
        first, last, value = self._index.find(table, _fold)
        ok = table.gaps_after[last] - table.gaps_before[first] <= (value & _GAP_MASK)
        first, last = first[ok], last[ok]
        doc = table.doc[first]
        start = table.token[first]
        end = table.token[last] + 1
        order = np.lexsort((end, start, doc))
        doc, start, end = doc[order], start[order], end[order]
        # sorted by start, matches overlap only where neighbours do: only the
        # documents with overlaps go through the longest-leftmost selection
        overlap = (doc[1:] == doc[:-1]) & (start[1:] < end[:-1])
        if not overlap.any():
            return doc, start, end
        keep = np.ones(len(doc), dtype=bool)
        bounds = np.searchsorted(doc, np.arange(table.n_docs + 1))
        for d in np.unique(doc[1:][overlap]).tolist():
            a, b = int(bounds[d]), int(bounds[d + 1])
            kept = set(_select_longest(list(zip(start[a:b].tolist(), end[a:b].tolist(), strict=True))))
            keep[a:b] = [pair in kept for pair in zip(start[a:b].tolist(), end[a:b].tolist(), strict=True)]
        return doc[keep], start[keep], end[keep]

    def _find_batch(self, view: _BatchView) -> list[list[tuple[int, int]]]:
        """Token offsets of the matches in each document of a batch (as :meth:`find`)."""
        text = view.text if self.case_sensitive else view.folded
        firsts: list[np.ndarray] = []
        lasts: list[np.ndarray] = []
        if self._short and len(view.cstart):
            firsts_s, lasts_s = self._short_matches(view, text)
            firsts.append(firsts_s)
            lasts.append(lasts_s)
        if len(self._automaton) and text:
            hits = np.array(list(self._automaton.iter(text)), dtype=np.int64).reshape(-1, 2)
            if len(hits):
                last, value = hits[:, 0], hits[:, 1]
                first = view.start_rank[last + 1 - (value >> _GAP_BITS)]
                final = view.end_rank[last + 1]
                ok = (first >= 0) & (final >= 0)
                first, final, value = first[ok], final[ok], value[ok]
                ok = (view.doc[first] == view.doc[final]) & (
                    view.gaps[final] - view.gaps[first] <= (value & _GAP_MASK)
                )
                firsts.append(first[ok])
                lasts.append(final[ok])
        found: list[list[tuple[int, int]]] = [[] for _ in range(view.n_docs)]
        if not firsts:
            return found
        first = np.concatenate(firsts)
        final = np.concatenate(lasts)
        if not len(first):
            return found
        docs = view.doc[first].tolist()
        starts = view.token[first].tolist()
        ends = (view.token[final] + 1).tolist()
        for doc, start, end in zip(docs, starts, ends, strict=True):
            found[doc].append((start, end))
        for i, candidates in enumerate(found):
            if len(candidates) > 1:
                found[i] = _select_longest(candidates)
        return found

    def _short_matches(self, view: _BatchView, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Runs of whole tokens at most ``_SHORT`` characters long found in the short keys."""
        short = self._short
        cstart, cend, gaps, doc = view.cstart, view.cend, view.gaps, view.doc
        n = len(cstart)
        firsts, lasts = [], []
        for width in range(_SHORT):
            first = np.arange(n - width)
            final = first + width
            ok = (cend[final] - cstart[first] <= _SHORT) & (doc[first] == doc[final])
            if not ok.any():
                break
            first, final = first[ok], final[ok]
            for f, g, a, b in zip(
                first.tolist(), final.tolist(), cstart[first].tolist(), cend[final].tolist(),
                strict=True,
            ):
                value = short.get(text[a:b])
                if value is not None and gaps[g] - gaps[f] <= (value & _GAP_MASK):
                    firsts.append(f)
                    lasts.append(g)
        return np.array(firsts, dtype=np.int64), np.array(lasts, dtype=np.int64)

    def find(self, doc: Doc) -> list[tuple[int, int]]:
        """Token offsets ``(start, end)`` of the matches, longest-leftmost, sorted."""
        return self._matches(DocBatch([doc]))[0]

    def find_many(self, docs: Sequence[Doc] | DocBatch) -> list[list[tuple[int, int]]]:
        """:meth:`find` for many documents at once (faster), ``doc.spans`` untouched.

        Gazetteers given the same :class:`~hybridner.labelling.DocBatch` share
        the work of reading its tokens.

        >>> import spacy
        >>> gazetteer = Gazetteer(Lexicon("Drug", ["aspirin"], "Drug.txt"))
        >>> gazetteer.find_many([spacy.blank("en")(t) for t in ("aspirin", "no", "x aspirin")])
        [[(0, 1)], [], [(1, 2)]]
        """
        return self._matches(docs if isinstance(docs, DocBatch) else DocBatch(docs))

    def _find(self, view: _DocView) -> list[tuple[int, int]]:
        text = view.text if self.case_sensitive else view.folded
        if not text:
            return []
        starts, ends, tokens = view.starts, view.ends, view.tokens
        before, after = view.gaps_before, view.gaps_after
        candidates = []
        if self._short:
            # runs of tokens at most _SHORT characters long, looked up whole
            short, offsets = self._short, view.offsets
            n_tokens = len(offsets) - 1
            for first in range(n_tokens):
                begin = offsets[first]
                final = first
                while final < n_tokens and offsets[final + 1] - begin <= _SHORT:
                    value = short.get(text[begin : offsets[final + 1]])
                    if value is not None and after[final] - before[first] <= (value & _GAP_MASK):
                        candidates.append((tokens[first], tokens[final] + 1))
                    final += 1
        if not len(self._automaton):
            return _select_longest(candidates) if len(candidates) > 1 else candidates
        for last, value in self._automaton.iter(text):
            first = starts.get(last + 1 - (value >> _GAP_BITS))
            if first is None:
                continue
            final = ends.get(last + 1)
            if final is None or after[final] - before[first] > (value & _GAP_MASK):
                continue
            candidates.append((tokens[first], tokens[final] + 1))
        if len(candidates) > 1:
            return _select_longest(candidates)
        return candidates

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "lexicon": self.lexicon,
            "case_sensitive": self.case_sensitive,
            "engine": self.engine,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("engine", "hash")
        self.__dict__.update(state)
        self.cache_hit = False
        self._build()

    def __repr__(self) -> str:
        return (
            f"Gazetteer(name={self.name!r}, label={self.label!r}, "
            f"terms={len(self.lexicon.terms)}, case_sensitive={self.case_sensitive}, "
            f"engine={self.engine!r})"
        )


def lexicon_functions(
    lexicons: Mapping[str, Lexicon] | Iterable[Lexicon],
    *,
    cased: bool = True,
    uncased: bool = True,
    engine: str = "hash",
) -> list[Gazetteer]:
    """Make the gazetteers of each lexicon: ``lexicon:<LABEL>:cased`` and ``...:uncased``.

    The case-sensitive and the case-insensitive functions are separate so that the
    aggregator can weigh them separately. Pass ``cased=False`` or ``uncased=False``
    to make only one kind. ``engine`` picks the matcher (see :class:`Gazetteer`).

    >>> functions = lexicon_functions([Lexicon("Drug", ["aspirin"], "Drug.txt")])
    >>> [f.name for f in functions]
    ['lexicon:Drug:cased', 'lexicon:Drug:uncased']
    """
    if not (cased or uncased):
        raise LexiconError(
            "lexicon_functions: cased=False and uncased=False make nothing; keep one"
        )
    items = list(lexicons.values()) if isinstance(lexicons, Mapping) else list(lexicons)
    functions = []
    for lexicon in items:
        if cased:
            functions.append(Gazetteer(lexicon, case_sensitive=True, engine=engine))
        if uncased:
            functions.append(Gazetteer(lexicon, case_sensitive=False, engine=engine))
    return functions


def match_longest(functions: Sequence[Gazetteer], doc: Doc) -> list[Span]:
    """The "dictionary match alone" baseline: all gazetteers, longest match wins.

    Matches of every function are merged across labels: the longest first, then
    the leftmost, without overlaps (:func:`spacy.util.filter_spans`); on the very
    same tokens the function listed first wins. ``doc.spans`` is not modified.

    >>> import spacy
    >>> functions = lexicon_functions(
    ...     [Lexicon("Drug", ["aspirin"], "-"), Lexicon("Disease", ["aspirin allergy"], "-")],
    ...     cased=False,
    ... )
    >>> doc = spacy.blank("en")("An aspirin allergy.")
    >>> [(s.text, s.label_) for s in match_longest(functions, doc)]
    [('aspirin allergy', 'Disease')]
    """
    batch = DocBatch([doc])
    spans = [
        Span(doc, start, end, label=function.label)
        for function in functions
        for start, end in function._matches(batch)[0]
    ]
    return filter_spans(spans)

