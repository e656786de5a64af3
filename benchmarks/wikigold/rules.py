"""Labelling functions for WikiGold (PER, LOC, ORG, MISC; CoNLL conventions).

Most rules type *proper-noun chunks* (``_names.py``): maximal runs of
capitalised tokens, joined by name connectors (``of``, ``von``), the stops of
initials and unspaced hyphens, with sentence-initial function words stripped.
Each rule gives a chunk a label from one kind of evidence, so that the HMM sees
independent votes with the same boundaries:

* the chunk's *head* word (``... University``, ``... River``, ``... Awards``),
  its *first* word (``University of ...``, ``Mount ...``, ``Battle of ...``);
* a *first name* at its start (skweak's ``FIRST_NAME`` gazetteer), initials
  inside it, a personal *title* or *role noun* before it, or a reporting verb
  after it (``... said``);
* the whole chunk being a *gazetteer* entry (skweak's ``GPE`` and ``COMPANY``
  lists, matched on chunk boundaries only, which removes most of their noise);
* *acronyms* in capitals, *nationality* and language adjectives, and titles of
  works in *quotes*.

``chunk_guess`` labels every chunk with the first of these cues that applies
(a decision list), so that a chunk found by a single precise cue still gets a
second, agreeing vote, and conflicting partial matches are outvoted.

The gazetteers are read from ``../shared/data/wikigold/lexicons`` beside the
repository; where that folder is absent the rules that need them produce no
spans. The label map and aggregator settings that go with these rules are in
``_config.py``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import hybridner
from hybridner import labelling_function

# hybridner imports a rule folder that has an __init__.py as a package
from . import _names

_HERE = Path(__file__).resolve().parent
#: The skweak gazetteers shipped with the benchmark data (not part of the repository).
LEXICON_DIR = _HERE.parents[1].parent / "shared" / "data" / "wikigold" / "lexicons"

chunks = _names.chunks
Chunk = _names.Chunk


@lru_cache(maxsize=None)
def _lexicon_terms(label: str) -> frozenset[str]:
    """The terms of one skweak gazetteer, or an empty set if the data is not there."""
    path = LEXICON_DIR / f"{label}.txt"
    if not path.is_file():
        return frozenset()
    return frozenset(hybridner.load_lexicons(path)[label].terms)


@lru_cache(maxsize=None)
def _first_names() -> frozenset[str]:
    """Title-case first names of at least two letters (``AJ``, ``A`` are too ambiguous)."""
    return frozenset(t for t in _lexicon_terms("FIRST_NAME") if len(t) > 1 and t.istitle())


def _in_gazetteer(label: str, text: str) -> bool:
    """Whether ``text`` (a chunk's words joined by spaces) is a term of the gazetteer."""
    return text in _lexicon_terms(label)


# --------------------------------------------------------------------------- chunk cues


def _head(chunk: Chunk) -> str:
    """The head word of a chunk: the word before ``of`` (``Academy`` in ``Bulgarian
    Academy of Sciences``), else the last word, skipping a final numeral (``World War II``)."""
    words = chunk.words
    if "of" in words[1:]:
        return words[words.index("of", 1) - 1]
    if len(words) > 2 and words[-1] in _names.NOT_ACRONYMS:
        return words[-2]
    return words[-1]


def _has_head(chunk: Chunk, heads: frozenset[str], starts: frozenset[str] = frozenset()) -> bool:
    """Whether the chunk's head is one of ``heads`` or it starts with one of ``starts``.

    A head alone is not a name (``University``), so the chunk needs two words.
    """
    return len(chunk.words) > 1 and (_head(chunk) in heads or chunk.first in starts)


def _org_head(chunk: Chunk) -> bool:
    return _has_head(chunk, _names.ORG_HEADS, _names.ORG_STARTS)


def _loc_head(chunk: Chunk) -> bool:
    return _has_head(chunk, _names.LOC_HEADS, _names.LOC_STARTS) and not _org_head(chunk)


def _misc_head(chunk: Chunk) -> bool:
    return _has_head(chunk, _names.MISC_HEADS, _names.MISC_STARTS)


def _typed_by_head(chunk: Chunk) -> bool:
    """Whether the chunk's head word already says it is not a person."""
    return _org_head(chunk) or _loc_head(chunk) or _misc_head(chunk)


def _is_country(chunk: Chunk) -> bool:
    """A country, continent, US state or large region from the word lists."""
    return chunk.text in _names.PLACE_PHRASES or (
        len(chunk.words) == 1 and chunk.text in _names.PLACES
    )


def _is_place(chunk: Chunk) -> bool:
    """Whether the whole chunk is a known place: a GPE gazetteer term or a country, state or region."""
    return _is_country(chunk) or _in_gazetteer("GPE", chunk.text)


def _name_words(chunk: Chunk) -> list[str]:
    """The words of a chunk without the stops of initials."""
    return [w for w in chunk.words if w != "."]


def _is_demonym(chunk: Chunk) -> bool:
    """One or two nationality words, possibly hyphenated: ``German``, ``German-American``."""
    parts = [w for w in chunk.words if w != "-"]
    return len(parts) <= 2 and all(w in _names.DEMONYMS for w in parts)


def _is_acronym(chunk: Chunk) -> bool:
    """A single all-capital word of two to five letters that is not a common abbreviation."""
    word = chunk.first
    return (
        len(chunk.words) == 1
        and 2 <= len(word) <= 5
        and word.isupper()
        and word.isalpha()
        and word not in _names.NOT_ACRONYMS
        and word not in _names.PLACES
    )


def _prev(doc, chunk: Chunk) -> str:
    """The text of the token before the chunk ('' at the start of the document)."""
    return doc[chunk.start - 1].text if chunk.start > 0 else ""


def _is_full_name(doc, chunk: Chunk) -> bool:
    """Two to four name words starting with a known first name, not a place or a title."""
    words = _name_words(chunk)
    return (
        2 <= len(words) <= 4
        and words[0] in _first_names()
        and words[0] not in _names.NOT_FIRST_WORDS
        and not _typed_by_head(chunk)
        and not _is_place(chunk)
    )


def _is_lone_first_name(doc, chunk: Chunk) -> bool:
    """A one-word chunk inside a sentence that is a known first name."""
    word = chunk.first
    return (
        len(chunk.words) == 1
        and not chunk.sentence_start
        and word in _first_names()
        and word not in _names.NOT_FIRST_WORDS
        and not doc[chunk.start].is_stop
        and word not in _names.DEMONYMS
        and not _is_place(chunk)
    )


def _has_inner_initial(chunk: Chunk) -> bool:
    """A name word, then an initial with its stop, then more: ``Ross G. Hoyt``."""
    words = chunk.words
    return len(words[0]) > 1 and any(
        len(words[k]) == 1 and words[k].isupper() and words[k + 1] == "."
        for k in range(1, len(words) - 2)
    )


def _after_title(doc, chunk: Chunk) -> bool:
    return _prev(doc, chunk) in _names.TITLES and len(chunk.words) <= 4


def _after_role(doc, chunk: Chunk) -> bool:
    role = doc[chunk.start - 1].lower_.rsplit("-", 1)[-1] if chunk.start else ""
    return role in _names.PERSON_ROLES and len(chunk.words) <= 3


def _before_reporting_verb(doc, chunk: Chunk) -> bool:
    return (
        chunk.end < len(doc)
        and len(chunk.words) <= 3
        and doc[chunk.end].lower_ in _names.PERSON_VERBS
    )


def _is_stage_name(chunk: Chunk) -> bool:
    return chunk.first in {"DJ", "MC"} and 2 <= len(chunk.words) <= 3


def _is_the_plural(doc, chunk: Chunk) -> bool:
    """A plural name after lower-case ``the``: teams and bands."""
    last = chunk.last
    return (
        _prev(doc, chunk) == "the"
        and len(chunk.words) <= 2
        and last.endswith("s")
        and not last.endswith("ss")
        and last not in _names.DEMONYMS
        and chunk.first not in _names.DEMONYMS
        and not _is_place(chunk)
    )


def _after_preposition(doc, chunk: Chunk) -> bool:
    return chunk.start > 0 and doc[chunk.start - 1].lower_ in _names.PLACE_PREPOSITIONS


def _is_company(chunk: Chunk) -> bool:
    return len(chunk.words) > 1 and _in_gazetteer("COMPANY", chunk.text)


# --------------------------------------------------------------------------- PER


@labelling_function(label="PER")
def per_first_name(doc):
    """Two to four name words starting with a known first name: ``Bob Ezrin``, ``Ross G. Hoyt``."""
    for chunk in chunks(doc):
        if _is_full_name(doc, chunk):
            yield chunk.start, chunk.end


@labelling_function(label="PER")
def per_single_first_name(doc):
    """A one-word chunk inside a sentence that is a known first name: ``Jeff``, ``Hans``."""
    for chunk in chunks(doc):
        if _is_lone_first_name(doc, chunk):
            yield chunk.start, chunk.end


@labelling_function(label="PER")
def per_stage_name(doc):
    """A stage name after ``DJ`` or ``MC``, with the title: ``DJ Tiesto``."""
    for chunk in chunks(doc):
        if _is_stage_name(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="PER")
def per_initials(doc):
    """A chunk with an initial inside, from its first known first name on: ``John C. Scheidt Jr.``."""
    names = _first_names()
    for chunk in chunks(doc):
        if _has_inner_initial(chunk) and not _typed_by_head(chunk):
            offset = next((k for k, w in enumerate(chunk.words) if w in names), 0)
            yield chunk.start + offset, chunk.end


@labelling_function(label="PER")
def per_title(doc):
    """A chunk of one to four words right after a personal title: ``General [Jesse Auton]``."""
    for chunk in chunks(doc):
        if _after_title(doc, chunk) and not _typed_by_head(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="PER")
def per_role(doc):
    """A chunk of one to three words right after a role noun: ``guitarist [Tim Reynolds]``."""
    for chunk in chunks(doc):
        if _after_role(doc, chunk) and not _typed_by_head(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="PER")
def per_reporting_verb(doc):
    """A chunk of one to three words followed by a reporting verb: ``[Behe] said``."""
    for chunk in chunks(doc):
        if _before_reporting_verb(doc, chunk) and not _typed_by_head(chunk):
            yield chunk.start, chunk.end


# --------------------------------------------------------------------------- LOC


@labelling_function(label="LOC")
def loc_gazetteer_chunk(doc):
    """A whole chunk that is a GPE gazetteer term: ``Philadelphia``, ``Santa Clara``.

    A one-word chunk at the start of a sentence is skipped (``Reading``, ``Enterprise``).
    """
    for chunk in chunks(doc):
        if (not chunk.sentence_start or len(chunk.words) > 1) and _in_gazetteer("GPE", chunk.text):
            yield chunk.start, chunk.end


@labelling_function(label="LOC")
def loc_country(doc):
    """A whole chunk that is a country, continent, US state or large region: ``Greece``, ``UK``."""
    for chunk in chunks(doc):
        if _is_country(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="LOC")
def loc_head(doc):
    """A chunk whose head is a place noun, or starting with ``Mount``, ``Lake``...: ``Sandy River``."""
    for chunk in chunks(doc):
        if _loc_head(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="LOC")
def loc_comma_region(doc):
    """``Salem , New Jersey``: a chunk, a comma, then a known place; both are places."""
    found = chunks(doc)
    for left, right in zip(found, found[1:]):
        if right.start == left.end + 1 and doc[left.end].text == "," and _is_place(right):
            if not _typed_by_head(left) and left.first not in _first_names():
                yield left.start, left.end
                yield right.start, right.end


@labelling_function(label="LOC")
def loc_preposition(doc):
    """A one- or two-word known place after ``in``, ``near``, ``from``...: ``in [Madrid]``."""
    for chunk in chunks(doc):
        if len(chunk.words) <= 2 and _after_preposition(doc, chunk) and _is_place(chunk):
            if not _typed_by_head(chunk):
                yield chunk.start, chunk.end


# --------------------------------------------------------------------------- ORG


@labelling_function(label="ORG")
def org_head(doc):
    """A chunk whose head is an organisation noun: ``Hebrew University``, ``Salt Publishing``."""
    for chunk in chunks(doc):
        if _org_head(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="ORG")
def org_acronym(doc):
    """A single all-capital word of two to five letters: ``NFL``, ``BWF``, ``AHAC``."""
    for chunk in chunks(doc):
        if _is_acronym(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="ORG")
def org_the_plural(doc):
    """A plural name after lower-case ``the``: ``the Patriots``, ``the Devil Rays`` (teams, bands)."""
    for chunk in chunks(doc):
        if _is_the_plural(doc, chunk):
            yield chunk.start, chunk.end


@labelling_function(label="ORG")
def org_kind_noun(doc):
    """A chunk right after a lower-case kind of organisation: ``the band [The Used]``."""
    for chunk in chunks(doc):
        if _prev(doc, chunk) in _names.ORG_NOUNS and not _is_place(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="ORG")
def org_company_chunk(doc):
    """A whole chunk of two or more words that is a COMPANY gazetteer term: ``Tower Records``."""
    for chunk in chunks(doc):
        if _is_company(chunk):
            yield chunk.start, chunk.end


# --------------------------------------------------------------------------- MISC


@labelling_function(label="MISC")
def misc_demonym(doc):
    """Nationality, language and religion words: ``German``, ``Christians``, ``German-American``."""
    for chunk in chunks(doc):
        if _is_demonym(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="MISC")
def misc_event(doc):
    """A chunk whose head is an event or award noun: ``Stanley Cup``, ``World War II``, ``Battle of Hulao``."""
    for chunk in chunks(doc):
        if _misc_head(chunk):
            yield chunk.start, chunk.end


@labelling_function(label="MISC")
def misc_quoted(doc):
    """A capitalised title between quotes: ``" A Beautiful Lie "``."""
    quotes = {'"', "``", "''"}
    for chunk in chunks(doc):
        if 0 < chunk.start and chunk.end < len(doc):
            if doc[chunk.start - 1].text in quotes and doc[chunk.end].text in quotes:
                yield chunk.start, chunk.end


@labelling_function(label="MISC")
def misc_work_noun(doc):
    """A chunk right after a lower-case kind of work: ``the single [Hero]``, ``the film [Gloomy Sunday]``."""
    for chunk in chunks(doc):
        if _prev(doc, chunk) in _names.WORK_NOUNS and not _is_place(chunk) and not _is_full_name(doc, chunk):
            yield chunk.start, chunk.end


# --------------------------------------------------------------------------- any chunk


def _guess(doc, chunk: Chunk) -> str | None:
    """The label of the first cue that applies to the chunk, or None to abstain.

    The order puts the most precise cues first: whole-chunk place lists, head
    words, nationality words, person cues, acronyms, then a place after a
    preposition.
    """
    if _is_place(chunk):
        return "LOC"
    if _org_head(chunk):
        return "ORG"
    if _misc_head(chunk):
        return "MISC"
    if _loc_head(chunk):
        return "LOC"
    if _is_demonym(chunk):
        return "MISC"
    if _is_company(chunk) or _is_the_plural(doc, chunk):
        return "ORG"
    if _is_stage_name(chunk) or _is_full_name(doc, chunk) or _is_lone_first_name(doc, chunk):
        return "PER"
    if _has_inner_initial(chunk) or _after_title(doc, chunk) or _after_role(doc, chunk):
        return "PER"
    if _is_acronym(chunk):
        return "ORG"
    if len(chunk.words) == 1 and _after_preposition(doc, chunk):
        return "LOC"
    return None


def _lists(doc) -> list[list[Chunk]]:
    """Runs of chunks separated only by ``,``, ``and``, ``&`` or ``or``: ``A , B , C and D``."""
    runs: list[list[Chunk]] = []
    for chunk in chunks(doc):
        if runs:
            gap = [t.text for t in doc[runs[-1][-1].end : chunk.start]]
            if gap and all(w in {",", "and", "&", "or"} for w in gap) and len(gap) <= 2:
                runs[-1].append(chunk)
                continue
        runs.append([chunk])
    return [run for run in runs if len(run) > 2]


def _list_labels(doc) -> dict[int, str]:
    """For untyped members of a list of three or more names, the label most typed members have.

    Keyed by the chunk's first token. At least two members must be typed and the
    label must be a strict majority among them.
    """
    found: dict[int, str] = {}
    for run in _lists(doc):
        labels = [_guess(doc, chunk) for chunk in run]
        typed = [label for label in labels if label is not None]
        if len(typed) < 2:
            continue
        best = max(set(typed), key=typed.count)
        if typed.count(best) * 2 <= len(typed):
            continue
        for chunk, label in zip(run, labels):
            if label is None:
                found[chunk.start] = best
    return found


@labelling_function()
def list_member(doc):
    """Untyped members of a list of names take the label of the others:
    ``Britney Spears , Jamie Foxx , [Shakira]``."""
    by_start = _list_labels(doc)
    for chunk in chunks(doc):
        if chunk.start in by_start:
            yield chunk.start, chunk.end, by_start[chunk.start]


@labelling_function()
def chunk_guess(doc):
    """Every proper-noun chunk that some cue types, with the label of the first cue
    (see ``_guess``), else the label of the list it belongs to (see ``list_member``)."""
    by_start = _list_labels(doc)
    for chunk in chunks(doc):
        label = _guess(doc, chunk) or by_start.get(chunk.start)
        if label is not None:
            yield chunk.start, chunk.end, label


@labelling_function(candidate=True)
def proper_noun_chunk(doc):
    """Untyped candidates: every proper-noun chunk. It does not vote; where no
    confident entity covers a chunk, its tokens are left unannotated in training
    instead of being taught as "outside" (most WikiGold chunks are entities)."""
    for chunk in chunks(doc):
        yield chunk.start, chunk.end
