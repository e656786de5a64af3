"""A hashed index of lexicon keys, matched against token spans of whole batches.

The gazetteers' default matcher (see :class:`~hybridner.lexicons.Gazetteer`).
A *key* is a term with its whitespace removed (folded, for case-insensitive
gazetteers). A document matches a key where a run of its tokens, joined without
whitespace, spells the key: every match starts and ends on token boundaries.

Instead of scanning every character of a text with an automaton, the index
enumerates runs of tokens and looks each run's hash up:

* every token string of a batch is hashed once (two independent polynomial
  hashes over its characters); the hash of a run of tokens is built from them
  as the run grows, so no text is ever rebuilt;
* a run only grows while it is a proper prefix of some key (a bitmap of the
  hashes of every key prefix) and no longer than the longest key, so most runs
  stop after one token;
* runs whose hash is in a second bitmap, of whole keys, are looked up in the
  sorted hashes of the keys, which give the key's value.

Two independent 64-bit hashes identify a key (a false match needs both to
collide: about one chance in 2**64 per distinct key pair). Everything is held in
a few numpy arrays, about 60 bytes per key, saved and loaded with ``numpy.savez``
(no pickle), and built in chunks, streaming over the terms.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from spacy.attrs import ORTH, SPACY
from spacy.tokens import Doc

from .labelling import _chunks

logger = logging.getLogger("hybridner")

__all__ = ["TermIndex", "TokenTable"]

_U64 = np.uint64
# bases of the two polynomial hashes (odd, so invertible modulo 2**64) and the
# constants that mix a code point before it enters them
_BASES = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)
_MIX = ((0xBF58476D1CE4E5B9, 0x94D049BB133111EB), (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53))
#: str.isspace() of every code point up to U+3000 (the last whitespace code point)
_IS_SPACE = np.array([chr(i).isspace() for i in range(0x3001)], dtype=bool)
# multiplier spreading a hash over a bitmap (Fibonacci hashing)
_SPREAD = _U64(0x9E3779B97F4A7C15)
#: bits per whole key and per key prefix in the two bitmaps
_KEY_BITS, _PREFIX_BITS = 16, 8
_CHUNK = 65_536  # keys hashed per chunk while building
#: Bump when the saved arrays change meaning.
FORMAT = 1


def _codes(text: str) -> np.ndarray:
    """The code points of ``text`` as uint64."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(_U64)


def _mixed(codes: np.ndarray, which: int) -> np.ndarray:
    """Scramble code points so that the polynomial hash sees no structure."""
    first, second = (_U64(c) for c in _MIX[which])
    x = codes + _U64(0x632BE59BD9B4E019)
    x *= first
    x ^= x >> _U64(29)
    x *= second
    x ^= x >> _U64(32)
    return x


class _Powers:
    """``base ** i`` modulo 2**64 for i up to a limit, grown on demand."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.table = np.ones(1, dtype=_U64)

    def upto(self, n: int) -> np.ndarray:
        if len(self.table) <= n:
            size = max(n + 1, 2 * len(self.table))
            values = [1] * size
            for i in range(1, size):
                values[i] = values[i - 1] * self.base & 0xFFFFFFFFFFFFFFFF
            self.table = np.array(values, dtype=_U64)
        return self.table


_POWERS = (_Powers(_BASES[0]), _Powers(_BASES[1]))


def _hashes(strings: Sequence[str], which: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash of each string, and every prefix hash (one per character, in order).

    ``prefixes[i]`` is the hash of the prefix of its string that ends at character
    ``i`` of the strings joined.
    """
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    return _hash_codes(_codes("".join(strings)), lengths, which)


def _hash_codes(
    codes: np.ndarray, lengths: np.ndarray, which: int, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_hashes` of strings given as their code points joined, and their lengths.

    With ``limit``, strings longer than it get meaningless hashes (it bounds the
    table of powers).
    """
    if not len(codes):
        return np.zeros(len(lengths), dtype=_U64), np.zeros(0, dtype=_U64)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    local = np.arange(len(codes), dtype=np.int64) - np.repeat(starts, lengths)
    longest = int(lengths.max()) if limit is None else min(limit, int(lengths.max()))
    if limit is not None:
        np.minimum(local, longest, out=local)
    terms = _mixed(codes, which)
    terms *= _POWERS[which].upto(longest)[local]
    running = np.zeros(len(codes) + 1, dtype=_U64)
    np.cumsum(terms, out=running[1:])
    prefixes = running[1:] - np.repeat(running[starts], lengths)
    whole = running[starts + lengths] - running[starts]
    return whole, prefixes


class _Bitmap:
    """A set of 64-bit hashes with false positives, as ``2 ** bits`` bits."""

    def __init__(self, bits: int, words: np.ndarray | None = None) -> None:
        self.shift = _U64(64 - bits)
        self.words = np.zeros(max(1, (1 << bits) >> 6), dtype=_U64) if words is None else words

    @classmethod
    def sized(cls, n_items: int, bits_per_item: int) -> _Bitmap:
        return cls(max(6, int(np.ceil(np.log2(max(n_items, 1) * bits_per_item)))))

    @property
    def bits(self) -> int:
        return 64 - int(self.shift)

    def _slots(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slot = (hashes * _SPREAD) >> self.shift
        return slot >> _U64(6), slot & _U64(63)

    def add(self, hashes: np.ndarray) -> None:
        word, bit = self._slots(hashes)
        np.bitwise_or.at(self.words, word.astype(np.int64), _U64(1) << bit)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        word, bit = self._slots(hashes)
        return ((self.words[word.astype(np.int64)] >> bit) & _U64(1)).astype(bool)


class TokenTable:
    """The tokens of a batch of documents, as arrays a :class:`TermIndex` matches.

    Whitespace tokens are left out ("kept" tokens are the others, in order);
    whitespace inside a token (left by a custom tokenizer) is removed. For each
    kept token: ``doc`` (its document's rank in the batch), ``token`` (its index
    in the document), ``string`` (its rank among the batch's distinct token
    strings), ``gaps_before`` / ``gaps_after`` (running counts of whitespace gaps
    before its start / its end, comparable within a document). Each distinct
    string is hashed once per case setting and length limit.

    >>> import spacy
    >>> table = TokenTable([spacy.blank("en")("Type 2  diabetes.")])
    >>> [table.strings[i] for i in table.string], table.token.tolist()
    (['Type', '2', 'diabetes', '.'], [0, 1, 3, 4])
    >>> table.gaps_before.tolist()
    [0, 1, 2, 2]
    """

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.n_docs = len(docs)
        arrays = [doc.to_array([ORTH, SPACY]).reshape(-1, 2) for doc in docs]
        n_tokens = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        table = np.concatenate(arrays) if arrays else np.zeros((0, 2), dtype=_U64)
        orths, inverse = np.unique(table[:, 0], return_inverse=True)
        inverse = inverse.reshape(-1)
        self._raw = _strings(docs, orths.tolist())
        raw_lengths = np.fromiter(map(len, self._raw), dtype=np.int64, count=len(self._raw))
        codes = _codes("".join(self._raw))
        space = np.zeros(len(codes), dtype=bool)
        small = codes < len(_IS_SPACE)
        space[small] = _IS_SPACE[codes[small]]
        counted = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(space, out=counted[1:])
        starts = np.zeros(len(raw_lengths), dtype=np.int64)
        np.cumsum(raw_lengths[:-1], out=starts[1:])
        n_space = counted[starts + raw_lengths] - counted[starts]
        # whitespace inside a token (a custom tokenizer's) is removed; its runs
        # between other characters are gaps
        inner = np.zeros(len(self._raw), dtype=np.int64)
        for i in np.nonzero((n_space > 0) & (n_space < raw_lengths))[0].tolist():
            inner[i] = len(self._raw[i].split()) - 1
        self._space = space
        self._codes = codes
        self.lengths = raw_lengths - n_space
        kept_all = self.lengths[inverse] > 0
        # a gap before kept token i: the token before it ends with whitespace or is
        # whitespace (a run of whitespace is one gap)
        gap = np.zeros(len(table), dtype=np.int64)
        if len(table):
            gap[1:] = ((table[:-1, 1] > 0) | ~kept_all[:-1]) & kept_all[1:]
        index = np.nonzero(kept_all)[0]
        inner_kept = inner[inverse[index]]
        inner_before = np.cumsum(inner_kept) - inner_kept
        self.gaps_before = np.cumsum(gap)[index] + inner_before
        self.gaps_after = self.gaps_before + inner_kept
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), n_tokens)
        token_offsets = np.zeros(len(docs), dtype=np.int64)
        np.cumsum(n_tokens[:-1], out=token_offsets[1:])
        self.doc = doc_of[index]
        self.token = index - token_offsets[self.doc]
        self.string = inverse[index]
        self._hashes: dict[bool, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.doc)

    @property
    def strings(self) -> list[str]:
        """The distinct token strings of the batch, whitespace removed."""
        return ["".join(s.split()) for s in self._raw]

    def token_hashes(
        self, *, folded: bool, fold: Any, limit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per kept token: both hashes of its string (``fold`` ed if ``folded``) and its length.

        Strings longer than ``limit`` get the length ``limit + 1`` (and no
        meaningful hash): they cannot be part of a key of at most ``limit``
        characters. The hashes are computed once per case setting, for the
        largest limit asked so far.
        """
        known = self._hashes.get(folded)
        if known is None or known[0] < limit:
            codes = _codes(fold("".join(self._raw))) if folded else self._codes
            codes = codes[~self._space]
            cap = max(limit, 64)
            first = _hash_codes(codes, self.lengths, 0, cap)[0][self.string]
            second = _hash_codes(codes, self.lengths, 1, cap)[0][self.string]
            known = self._hashes[folded] = (cap, first, second, self.lengths[self.string])
        cap, first, second, lengths = known
        return first, second, np.minimum(lengths, limit + 1)


def _strings(docs: Sequence[Doc], orths: list[int]) -> list[str]:
    """The strings of token hashes, from the documents' string stores."""
    if not orths:
        return []
    stores = list({id(doc.vocab): doc.vocab.strings for doc in docs}.values())
    if len(stores) == 1:
        store = stores[0]
        return [store[o] for o in orths]
    # documents of several pipelines: a hash names the same string in every store
    return [next(store[o] for store in stores if o in store) for o in orths]


class TermIndex:
    """The keys of one gazetteer, hashed, with an ``int`` value each.

    Build it with :meth:`build` from ``(key, value)`` pairs; keys that appear
    twice keep their largest value. :meth:`find` returns, for a
    :class:`TokenTable`, every run of tokens that spells a key.

    >>> import spacy
    >>> index = TermIndex.build([("type2diabetes", 7)], n_hint=1, chars_hint=13)
    >>> table = TokenTable([spacy.blank("en")("Type 2 diabetes and type 2  diabetes")])
    >>> first, last, value = index.find(table)
    >>> table.token[first].tolist(), table.token[last].tolist(), value.tolist()
    ([4], [7], [7])
    """

    def __init__(
        self,
        first: np.ndarray,
        second: np.ndarray,
        values: np.ndarray,
        keys: _Bitmap,
        prefixes: _Bitmap,
        longest: int,
        *,
        folded: bool = False,
    ) -> None:
        self.first, self.second, self.values = first, second, values
        self.keys, self.prefixes = keys, prefixes
        self.longest = longest
        self.folded = folded
        # distinct keys whose first hashes collide (almost never): lookups scan runs
        self._run = int(np.max(_run_lengths(first), initial=1))

    def __len__(self) -> int:
        return len(self.first)

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays."""
        return sum(a.nbytes for a in (self.first, self.second, self.values,
                                      self.keys.words, self.prefixes.words))

    @classmethod
    def build(
        cls,
        pairs: Iterable[tuple[str, int]],
        *,
        n_hint: int,
        chars_hint: int,
        folded: bool = False,
    ) -> TermIndex:
        """Index ``(key, value)`` pairs, streaming over them in chunks.

        ``n_hint`` and ``chars_hint`` (upper bounds of the number of keys and of
        their total length) size the bitmaps.
        """
        keys = _Bitmap.sized(n_hint, _KEY_BITS)
        prefixes = _Bitmap.sized(chars_hint, _PREFIX_BITS)
        firsts, seconds, values = [], [], []
        longest = 0
        for chunk in _chunks(pairs, _CHUNK):
            strings = [k for k, _ in chunk]
            lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
            longest = max(longest, int(lengths.max()))
            whole, prefix = _hashes(strings, 0)
            keys.add(whole)
            # proper prefixes only: a run equal to a whole key need not grow
            ends = np.cumsum(lengths) - 1
            proper = np.ones(len(prefix), dtype=bool)
            proper[ends] = False
            prefixes.add(prefix[proper])
            firsts.append(whole)
            seconds.append(_hashes(strings, 1)[0])
            values.append(np.fromiter((v for _, v in chunk), dtype=np.int64, count=len(chunk)))
        if not firsts:
            empty = np.zeros(0, dtype=_U64)
            return cls(empty, empty, np.zeros(0, dtype=np.int64), keys, prefixes, 0, folded=folded)
        first = np.concatenate(firsts)
        second = np.concatenate(seconds)
        value = np.concatenate(values)
        order = np.lexsort((second, first))
        first, second, value = first[order], second[order], value[order]
        new = np.ones(len(first), dtype=bool)
        new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        starts = np.nonzero(new)[0]
        value = np.maximum.reduceat(value, starts)
        return cls(first[starts], second[starts], value, keys, prefixes, longest, folded=folded)

    def find(
        self, table: TokenTable, fold: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Runs of kept tokens ``first..last`` (ranks in ``table``) that spell a key.

        Returns ``(first, last, value)`` arrays; a run may hold any whitespace (the
        caller checks the key's gap limit against the table's gap counts).
        """
        none = np.zeros(0, dtype=np.int64)
        if not len(self.first) or not len(table):
            return none, none, none
        th1, th2, tlen = table.token_hashes(folded=self.folded, fold=fold, limit=self.longest)
        pow1 = _POWERS[0].upto(self.longest)
        pow2 = _POWERS[1].upto(self.longest)
        n = len(table)
        tdoc = table.doc
        first = np.nonzero(tlen <= self.longest)[0]
        last = first.copy()
        h1, h2, length = th1[first], th2[first], tlen[first]
        found_first, found_last, found_h1, found_h2 = [], [], [], []
        while len(first):
            hit = self.keys.contains(h1)
            if hit.any():
                found_first.append(first[hit])
                found_last.append(last[hit])
                found_h1.append(h1[hit])
                found_h2.append(h2[hit])
            grow = self.prefixes.contains(h1) & (last + 1 < n)
            first, last, h1, h2, length = first[grow], last[grow] + 1, h1[grow], h2[grow], length[grow]
            ok = tdoc[last] == tdoc[first]
            ok &= length + tlen[last] <= self.longest
            first, last, h1, h2, length = first[ok], last[ok], h1[ok], h2[ok], length[ok]
            h1 = h1 + th1[last] * pow1[length]
            h2 = h2 + th2[last] * pow2[length]
            length = length + tlen[last]
        if not found_first:
            return none, none, none
        first = np.concatenate(found_first)
        last = np.concatenate(found_last)
        h1 = np.concatenate(found_h1)
        h2 = np.concatenate(found_h2)
        value = self._lookup(h1, h2)
        ok = value >= 0
        return first[ok], last[ok], value[ok]

    def _lookup(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """The value of each key hash pair, or -1 when it is no key."""
        value = np.full(len(h1), -1, dtype=np.int64)
        at = np.searchsorted(self.first, h1)
        for step in range(self._run):
            where = np.minimum(at + step, len(self.first) - 1)
            same = (self.first[where] == h1) & (self.second[where] == h2) & (value < 0)
            value[same] = self.values[where[same]]
        return value

    # ------------------------------------------------------------------ saving

    def save(self, path: Path) -> None:
        """Write the arrays to ``path`` (``numpy.savez``, no pickle)."""
        with path.open("wb") as handle:
            np.savez(
                handle,
                format=np.array([FORMAT]),
                first=self.first,
                second=self.second,
                values=self.values,
                keys=self.keys.words,
                prefixes=self.prefixes.words,
                meta=np.array([self.keys.bits, self.prefixes.bits, self.longest, int(self.folded)]),
            )

    @classmethod
    def load(cls, path: Path) -> TermIndex:
        """Read an index :meth:`save` wrote; ``ValueError`` when the file is not one."""
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"][0]) != FORMAT:
                raise ValueError(f"index format {int(data['format'][0])}, expected {FORMAT}")
            key_bits, prefix_bits, longest, folded = (int(v) for v in data["meta"])
            keys = _Bitmap(key_bits, data["keys"])
            prefixes = _Bitmap(prefix_bits, data["prefixes"])
            if len(keys.words) != max(1, (1 << key_bits) >> 6) or len(prefixes.words) != max(
                1, (1 << prefix_bits) >> 6
            ):
                raise ValueError("bitmap sizes do not match their bit counts")
            first, second, values = data["first"], data["second"], data["values"]
            if not (len(first) == len(second) == len(values)):
                raise ValueError("key arrays of different lengths")
            return cls(first, second, values, keys, prefixes, longest, folded=bool(folded))


def _run_lengths(sorted_values: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal values in a sorted array."""
    if not len(sorted_values):
        return np.zeros(0, dtype=np.int64)
    new = np.ones(len(sorted_values), dtype=bool)
    new[1:] = sorted_values[1:] != sorted_values[:-1]
    starts = np.nonzero(new)[0]
    return np.diff(np.append(starts, len(sorted_values)))
