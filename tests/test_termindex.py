"""Tests of hybridner.termindex: the hashed key index and the batch token table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc

from hybridner.termindex import TermIndex, TokenTable, _hashes

NLP = spacy.blank("en")


def index_of(pairs: list[tuple[str, int]]) -> TermIndex:
    return TermIndex.build(pairs, n_hint=len(pairs), chars_hint=sum(len(k) for k, _ in pairs))


def runs(index: TermIndex, doc: Doc) -> list[tuple[int, int, int]]:
    table = TokenTable([doc])
    first, last, value = index.find(table)
    return sorted(zip(table.token[first].tolist(), (table.token[last] + 1).tolist(),
                      value.tolist(), strict=True))


def test_termindex_finds_every_run_that_spells_a_key() -> None:
    index = index_of([("ab", 1), ("abc", 2), ("c", 3)])
    doc = Doc(NLP.vocab, words=["a", "b", "c", "ab", "abc"], spaces=[False, True, True, True, False])
    assert runs(index, doc) == [(0, 2, 1), (0, 3, 2), (2, 3, 3), (3, 4, 1), (4, 5, 2)]


def test_termindex_duplicate_keys_keep_the_largest_value() -> None:
    index = index_of([("ab", 1), ("ab", 5), ("ab", 3)])
    assert len(index) == 1
    assert runs(index, NLP("ab")) == [(0, 1, 5)]


def test_termindex_empty_index_and_empty_batch() -> None:
    empty = index_of([])
    assert len(empty) == 0 and runs(empty, NLP("anything")) == []
    assert runs(index_of([("x", 1)]), NLP("")) == []
    assert len(TokenTable([])) == 0


def test_termindex_save_load_round_trip(tmp_path: Path) -> None:
    index = index_of([("aspirin", 7), ("type2diabetes", 9)])
    path = tmp_path / "index.npz"
    index.save(path)
    loaded = TermIndex.load(path)
    doc = NLP("aspirin and type 2 diabetes")
    assert runs(loaded, doc) == runs(index, doc) == [(0, 1, 7), (2, 5, 9)]
    # the file holds arrays only: numpy refuses pickled objects on load
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


def test_termindex_load_rejects_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, format=np.array([999]))
    with pytest.raises(ValueError, match="format"):
        TermIndex.load(path)


def test_termindex_keys_with_colliding_first_hashes_are_told_apart() -> None:
    """Distinct keys sharing the first hash (forced here) are told apart by the second."""
    index = index_of([("ab", 1), ("cd", 2)])
    ab, cd = index_of([("ab", 1)]), index_of([("cd", 2)])
    first = np.array([ab.first[0], ab.first[0]], dtype=np.uint64)
    second = np.sort(np.array([ab.second[0], cd.second[0]], dtype=np.uint64))
    values = np.array([1 if second[0] == ab.second[0] else 2, 2 if second[0] == ab.second[0] else 1])
    forced = TermIndex(first, second, values, index.keys, index.prefixes, index.longest)
    assert forced._lookup(ab.first[:1], ab.second[:1]).tolist() == [1]
    assert forced._lookup(ab.first[:1], cd.second[:1]).tolist() == [2]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8))
def test_termindex_hash_of_a_concatenation_is_built_from_its_parts(parts: list[str]) -> None:
    """The run hashes the index grows token by token equal the hash of the joined text."""
    # whitespace inside a word is removed by the table: the key is the text without it
    key = "".join("".join(parts).split())
    if any(not "".join(p.split()) for p in parts):
        return  # a whitespace-only word is no kept token
    index = index_of([(key, 1)])
    assert index.first[0] == _hashes([key], 0)[0][0]
    table = TokenTable([Doc(NLP.vocab, words=parts, spaces=[False] * len(parts))])
    first, last, _ = index.find(table)
    assert (0, len(table) - 1) in set(zip(first.tolist(), last.tolist(), strict=True))


def test_termindex_token_table_gaps_and_inner_whitespace() -> None:
    doc = Doc(NLP.vocab, words=["type 2", "diabetes", " ", "x"], spaces=[True, False, False, False])
    table = TokenTable([doc])
    assert table.token.tolist() == [0, 1, 3]
    # "type 2" holds one gap inside; one gap between it and "diabetes"; the space token
    # makes one more before "x"
    assert table.gaps_before.tolist() == [0, 2, 3]
    assert table.gaps_after.tolist() == [1, 2, 3]
