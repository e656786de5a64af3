"""Property-based tests (hypothesis): regex rule alignment and JSON-lines round trips.

* ``regex_rule`` never yields a span outside the text, an empty span or one that
  starts or ends on whitespace, whatever the text, the pattern (including patterns
  that match the empty string) and the alignment; each span is where a match is.
* ``write_jsonl`` then ``read_texts`` gives back every record as it was, for any
  Unicode (NUL, CR, U+2028/U+2029, U+0085, a BOM, emoji), and each record is one
  line for any line splitter. Lone surrogates (not valid text, but possible in a
  Python str) are written as JSON escapes and read back, except that a high one
  followed by a low one reads back as the character the pair encodes (JSON's rule).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridner.corpus import json_line, read_texts, refine_tokenizer, write_jsonl
from hybridner.labelling import DocBatch, RegexRule

NLP = {"spacy": spacy.blank("en"), "fine": refine_tokenizer(spacy.blank("en"))}

TEXT = st.text(
    alphabet=st.sampled_from(list("aAbx1 -().,\n\t") + ["\u00a0", "💊", "é", "\u2028", "患"]),
    max_size=40,
)
FRAGMENTS = ["a", "b+", "x*", "", "\\s", "\\s*", "\\w+", ".", "(?:ab)?", "\\b", "|", "[^a]", "$", "^",
             "(?=a)", " ", "💊", "-", "\\d", "A?"]
PATTERN = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, pattern=PATTERN, alignment=st.sampled_from(["expand", "contract", "strict"]),
       tokenizer=st.sampled_from(sorted(NLP)))
def test_properties_regex_rule_spans_are_inside_and_not_empty(
    text: str, pattern: str, alignment: str, tokenizer: str
) -> None:
    doc = NLP[tokenizer].make_doc(text)
    rule = RegexRule("rule", pattern, "Thing", alignment=alignment)  # type: ignore[arg-type]
    matches = [m.span() for m in re.finditer(pattern, text) if m.end() > m.start()]
    rule.label_batch(DocBatch([doc]))
    other = rule(NLP[tokenizer].make_doc(text))
    by_call = [(s.start, s.end) for s in other.spans["rule"]]
    spans = list(doc.spans["rule"])
    assert [(s.start, s.end) for s in spans] == by_call  # batch and single-document paths agree
    previous_end = 0
    for span in spans:
        assert 0 <= span.start < span.end <= len(doc)
        assert 0 <= span.start_char < span.end_char <= len(text)
        assert span.text.strip(), span
        assert not doc[span.start].is_space and not doc[span.end - 1].is_space
        assert span.label_ == "Thing"
        assert span.start >= previous_end  # no overlaps within one function
        previous_end = span.end
        if alignment == "expand":  # the span covers the tokens a match touches
            assert any(s < span.end_char and span.start_char < e for s, e in matches)
        else:  # "contract" and "strict": the span lies inside a match
            assert any(s <= span.start_char and span.end_char <= e for s, e in matches)


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_properties_patterns_matching_the_empty_string(text: str) -> None:
    doc = NLP["fine"].make_doc(text)
    for alignment in ("expand", "contract", "strict"):
        for pattern in ("", "\\b", "(?=a)", "^|$"):  # only ever empty matches: nothing
            assert list(RegexRule("empty", pattern, "Thing", alignment=alignment)(doc).spans["empty"]) == []
        runs = RegexRule("runs", "x*", "Thing", alignment=alignment)(doc).spans["runs"]
        assert all(set(span.text) == {"x"} or alignment == "expand" for span in runs)
        assert all("x" in span.text for span in runs)


ANY_TEXT = st.text(max_size=60)  # every code point, lone surrogates included
SPECIAL = st.text(alphabet=st.sampled_from(["\x00", "\r", "\n", "\u2028", "\u2029", "\x85", "\x0b",
                                            "\x1c", "\ufeff", "\udc80", "\ud800", "💊", "a", " ", '"', "\\"]),
                  max_size=30)
RECORD = st.fixed_dictionaries(
    {"id": st.text(max_size=10), "text": st.one_of(ANY_TEXT, SPECIAL)},
    optional={"meta": st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), ANY_TEXT, st.none()),
                                      max_size=3)},
)


def paired(value: object) -> object:
    """``value`` as JSON gives it back: a high surrogate followed by a low one (both
    lone, which is not valid text) reads back as the one character they encode."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, dict):
        return {paired(k): paired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [paired(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=8))
def test_properties_jsonl_round_trip(records: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "texts.jsonl"
        assert write_jsonl(path, records) == len(records)
        expected = [paired(record) for record in records]
        assert list(read_texts(path)) == expected
        raw = path.read_bytes()
        raw.decode("utf-8")  # strict UTF-8, lone surrogates escaped
        lines = raw.decode("utf-8").splitlines()  # the widest idea of a line end
        assert [json.loads(line) for line in lines] == expected


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(ANY_TEXT, SPECIAL, st.lists(SPECIAL, max_size=3)))
def test_properties_json_line_is_one_line(value: object) -> None:
    line = json_line({"text": value})
    assert line.splitlines() == [line] and "\n" not in line
    assert json.loads(line) == paired({"text": value})
