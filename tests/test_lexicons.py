"""Tests of hybridner.lexicons: loading, errors, gazetteer matching, pickling, quality."""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridner.corpus import make_docs, make_nlp
from hybridner.errors import LexiconError
from hybridner.evaluation import score_entities
from hybridner.labelling import DocBatch, LabellingFunction
from hybridner.lexicons import (
    ENGINES,
    Gazetteer,
    Lexicon,
    lexicon_functions,
    load_lexicons,
    match_longest,
)

DATA = Path(__file__).parents[1].parent / "shared" / "data"
NLP = spacy.blank("en")


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def matches(gazetteer: Gazetteer, text: str) -> list[str]:
    doc = gazetteer(NLP(text))
    return [span.text for span in doc.spans[gazetteer.name]]


def gazetteer(
    terms: list[str], *, case_sensitive: bool = True, label: str = "Chem", engine: str = "hash"
) -> Gazetteer:
    return Gazetteer(Lexicon(label, terms, "test"), case_sensitive=case_sensitive, engine=engine)


# ------------------------------------------------------------------------- loading


def test_lexicons_load_txt_folder(tmp_path: Path) -> None:
    write(tmp_path / "Drug.txt", "# drugs\naspirin\n\n  ibuprofen  \naspirin\nacetylsalicylic   acid\n")
    write(tmp_path / "Disease.txt", "asthma\n")
    write(tmp_path / "notes.md", "not a lexicon\n")
    lexicons = load_lexicons(tmp_path)
    assert list(lexicons) == ["Disease", "Drug"]
    drug = lexicons["Drug"]
    assert drug.label == "Drug"
    assert drug.terms == ["aspirin", "ibuprofen", "acetylsalicylic acid"]
    assert drug.source == str(tmp_path / "Drug.txt")


def test_lexicons_load_bom_and_crlf(tmp_path: Path) -> None:
    write(tmp_path / "Drug.txt", b"\xef\xbb\xbfaspirin\r\n# note\r\nibuprofen\r\n\r\n")
    assert load_lexicons(tmp_path)["Drug"].terms == ["aspirin", "ibuprofen"]


def test_lexicons_load_jsonl_multi_label_merges(tmp_path: Path) -> None:
    write(tmp_path / "Drug.txt", "aspirin\n")
    lines = [
        {"term": "ibuprofen", "label": "Drug"},
        {"term": "aspirin", "label": "Drug"},
        {"term": "asthma", "label": "Disease"},
    ]
    write(tmp_path / "extra.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    lexicons = load_lexicons(tmp_path)
    assert lexicons["Drug"].terms == ["aspirin", "ibuprofen"]
    assert lexicons["Disease"].terms == ["asthma"]
    assert "Drug.txt" in lexicons["Drug"].source and "extra.jsonl" in lexicons["Drug"].source


@pytest.mark.parametrize("name", ["Drug.txt", "terms.jsonl"])
def test_lexicons_load_single_file(tmp_path: Path, name: str) -> None:
    content = "aspirin\n" if name.endswith(".txt") else '{"term": "aspirin", "label": "Drug"}\n'
    path = write(tmp_path / name, content)
    lexicons = load_lexicons(path)
    assert list(lexicons) == ["Drug"] and lexicons["Drug"].terms == ["aspirin"]


def test_lexicons_punctuation_terms_skipped_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "Drug.txt", "aspirin\n--\n(+)\n")
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        lexicons = load_lexicons(tmp_path)
    assert lexicons["Drug"].terms == ["aspirin"]
    assert "skipped 2 term(s)" in caplog.text and "Drug.txt line 2" in caplog.text


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("Drug.txt", b"aspirin\ncaf\xe9ine\n", r"Drug\.txt line 2 \(byte offset 11\): not valid UTF-8.*re-encode"),
        ("Drug.txt", "aspirin\n\u200b\n", r"Drug\.txt line 2: empty term after normalisation"),
        ("Drug.txt", "# only a comment\n\n", r"Drug\.txt: lexicon 'Drug' has no terms"),
        ("Drug.txt", "--\n", r"Drug\.txt: lexicon 'Drug' has no terms"),
        ("B-X.txt", "aspirin\n", r"B-X\.txt: label 'B-X' cannot be used.*rename the file"),
        ("t.jsonl", '{"term": "a", "label": "Drug"}\n{"term": "b",\n', r"t\.jsonl line 2: invalid JSON"),
        ("t.jsonl", '{"term": "aspirin"}\n', r"t\.jsonl line 1: missing 'label'"),
        ("t.jsonl", '{"label": "Drug"}\n', r"t\.jsonl line 1: missing 'term'"),
        ("t.jsonl", '["aspirin", "Drug"]\n', r"t\.jsonl line 1: expected a JSON object"),
        ("t.jsonl", '{"term": "   ", "label": "Drug"}\n', r"t\.jsonl line 1: empty term after normalisation"),
        ("t.jsonl", '{"term": 3, "label": "Drug"}\n', r"t\.jsonl line 1: 'term' must be a string"),
        ("t.jsonl", '{"term": "a", "label": "O"}\n', r"t\.jsonl line 1: label 'O' cannot be used"),
    ],
)
def test_lexicons_file_errors_name_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    write(tmp_path / name, content)
    with pytest.raises(LexiconError, match=expected) as info:
        load_lexicons(tmp_path)
    assert str(tmp_path / name) in str(info.value)


def test_lexicons_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="no such lexicon folder or file"):
        load_lexicons(tmp_path / "absent")


def test_lexicons_folder_without_lexicon(tmp_path: Path) -> None:
    write(tmp_path / "readme.md", "hello")
    with pytest.raises(LexiconError, match=r"no lexicon in this folder \(found: readme\.md\)"):
        load_lexicons(tmp_path)


def test_lexicons_single_file_of_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match=r"terms\.csv: not a lexicon file"):
        load_lexicons(write(tmp_path / "terms.csv", "aspirin\n"))


def test_lexicons_gazetteer_rejects_empty_term() -> None:
    with pytest.raises(LexiconError, match="empty term"):
        gazetteer(["aspirin", "  "])


# ------------------------------------------------------------------------- matching


def test_lexicons_whitespace_insensitive_pretokenised_terms() -> None:
    g = gazetteer(["( R)-alpha - methylhistamine", "type 2  diabetes"])
    text = "Both (R)-alpha-methylhistamine and type 2 diabetes, or type\n2 diabetes."
    assert matches(g, text) == ["(R)-alpha-methylhistamine", "type 2 diabetes", "type\n2 diabetes"]


def test_lexicons_matches_snap_to_tokens() -> None:
    g = gazetteer(["cin", "peni"])
    assert matches(g, "penicillin and cin") == ["cin"]


def test_lexicons_spans_never_include_space_tokens() -> None:
    g = gazetteer(["type 2 diabetes"])
    doc = g(NLP("type  2   diabetes"))
    (span,) = doc.spans[g.name]
    assert span.text == "type  2   diabetes" and not span[0].is_space and not span[-1].is_space


def test_lexicons_longest_match_wins() -> None:
    g = gazetteer(["acid", "amino acid", "amino", "acid test"])
    assert matches(g, "an amino acid test") == ["amino acid"]
    assert matches(g, "amino and acid test") == ["amino", "acid test"]


def test_lexicons_case_sensitive_and_insensitive() -> None:
    terms = ["Aspirin", "CO"]
    text = "aspirin ASPIRIN Aspirin co CO"
    assert matches(gazetteer(terms), text) == ["Aspirin", "CO"]
    assert matches(gazetteer(terms, case_sensitive=False), text) == text.split()


def test_lexicons_uncased_keeps_length_changing_characters() -> None:
    # "İ".lower() has two characters: it is kept as is on both sides
    g = gazetteer(["İstanbul", "ΟΔΟΣ"], case_sensitive=False)
    assert matches(g, "İSTANBUL ıstanbul istanbul οδοσ ΟΔΟΣ") == ["İSTANBUL", "οδοσ", "ΟΔΟΣ"]


def test_lexicons_gap_rule() -> None:
    g = gazetteer(["cancerdrug", "heart attack"])
    assert matches(g, "a cancer drug, a cancerdrug") == ["cancerdrug"]
    assert matches(g, "heartattack and heart  attack") == ["heartattack", "heart  attack"]


def test_lexicons_short_and_long_keys_together() -> None:
    g = gazetteer(["K", "Na", "K (+)", "Na(+)/K(+)-ATPase"])
    assert matches(g, "Na(+)/K(+)-ATPase, K (+) and Na") == ["Na(+)/K(+)-ATPase", "K (+)", "Na"]


def test_lexicons_functions_names_and_kind() -> None:
    lexicons = {"Drug": Lexicon("Drug", ["aspirin"], "Drug.txt")}
    functions = lexicon_functions(lexicons)
    assert [f.name for f in functions] == ["lexicon:Drug:cased", "lexicon:Drug:uncased"]
    assert [f.case_sensitive for f in functions] == [True, False]
    assert all(isinstance(f, LabellingFunction) and f.kind == "lexicon" for f in functions)
    assert all(f.labels == ["Drug"] for f in functions)
    assert [f.name for f in lexicon_functions(lexicons, cased=False)] == ["lexicon:Drug:uncased"]
    # building them twice does not clash with the rule-name registry
    assert len(lexicon_functions(lexicons)) == 2
    with pytest.raises(LexiconError, match="make nothing"):
        lexicon_functions(lexicons, cased=False, uncased=False)


def test_lexicons_match_longest_across_labels() -> None:
    functions = lexicon_functions(
        [Lexicon("Drug", ["aspirin", "heart"], "-"), Lexicon("Disease", ["aspirin allergy", "heart attack"], "-")],
        cased=False,
    )
    doc = NLP("An Aspirin allergy, then aspirin and a heart attack.")
    spans = match_longest(functions, doc)
    assert [(s.text, s.label_) for s in spans] == [
        ("Aspirin allergy", "Disease"),
        ("aspirin", "Drug"),
        ("heart attack", "Disease"),
    ]
    assert not doc.spans


def test_lexicons_pickle_round_trip() -> None:
    g = gazetteer(["( R)-alpha - methylhistamine", "K", "aspirin"], case_sensitive=False)
    clone = pickle.loads(pickle.dumps(g))
    assert (clone.name, clone.label, clone.case_sensitive, clone.n_keys) == (
        g.name, g.label, g.case_sensitive, g.n_keys
    )
    text = "K and ASPIRIN with (R)-alpha-methylhistamine."
    assert matches(clone, text) == matches(g, text) == ["K", "ASPIRIN", "(R)-alpha-methylhistamine"]


# ------------------------------------------------------------------------- property test


def reference_matches(doc: spacy.tokens.Doc, terms: list[str], case_sensitive: bool) -> list[tuple[int, int]]:
    """Naive matcher: every token range whose whitespace-free text is a term's."""
    def key(text: str) -> str:
        text = "".join(text.split())
        return text if case_sensitive else "".join(
            c.lower() if len(c.lower()) == 1 else c for c in text
        )

    gaps_of: dict[str, int] = {}
    for term in terms:
        k = key(term)
        gaps_of[k] = max(gaps_of.get(k, -1), len(term.split()) - 1)
    found = []
    for i in range(len(doc)):
        for j in range(i + 1, len(doc) + 1):
            if doc[i].is_space or doc[j - 1].is_space:
                continue
            span_text = doc[i:j].text
            k = key(span_text)
            if k in gaps_of and len(re.findall(r"\s+", span_text)) <= gaps_of[k]:
                found.append((i, j))
    found.sort(key=lambda c: (c[0] - c[1], c[0]))
    kept: list[tuple[int, int]] = []
    for start, end in found:
        if all(end <= s or e <= start for s, e in kept):
            kept.append((start, end))
    return sorted(kept)


TERM = st.text(alphabet="abA- ", min_size=1, max_size=9).filter(lambda t: t.strip() != "")
TEXT = st.text(alphabet="abA- \n", max_size=40)
# letters whose case folding is special (length-changing İ, context-dependent Σ)
WIDE_TERM = st.text(alphabet="aAİiΣσς.- ", min_size=1, max_size=8).filter(lambda t: t.strip() != "")
WIDE_TEXT = st.text(alphabet="aAİiΣσς.- \t\n\u00a0", max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    terms=st.lists(TERM, min_size=1, max_size=6),
    text=TEXT,
    case_sensitive=st.booleans(),
    engine=st.sampled_from(ENGINES),
)
def test_lexicons_gazetteer_agrees_with_naive_reference(
    terms: list[str], text: str, case_sensitive: bool, engine: str
) -> None:
    doc = NLP(text)
    g = gazetteer(terms, case_sensitive=case_sensitive, engine=engine)
    assert g.find(doc) == reference_matches(doc, terms, case_sensitive)


@settings(max_examples=100, deadline=None)
@given(terms=st.lists(WIDE_TERM, min_size=1, max_size=6), text=WIDE_TEXT, case_sensitive=st.booleans())
def test_lexicons_engines_agree_on_unusual_characters(
    terms: list[str], text: str, case_sensitive: bool
) -> None:
    doc = NLP(text)
    expected = reference_matches(doc, terms, case_sensitive)
    for engine in ENGINES:
        assert gazetteer(terms, case_sensitive=case_sensitive, engine=engine).find(doc) == expected


@settings(max_examples=60, deadline=None)
@given(
    terms=st.lists(TERM, min_size=1, max_size=6),
    texts=st.lists(TEXT, min_size=1, max_size=5),
    case_sensitive=st.booleans(),
    engine=st.sampled_from(ENGINES),
)
def test_lexicons_batch_matching_agrees_with_reference(
    terms: list[str], texts: list[str], case_sensitive: bool, engine: str
) -> None:
    """Matching a whole batch at once finds, per document, what the naive matcher finds."""
    docs = list(make_docs(NLP, ({"id": i, "text": t} for i, t in enumerate(texts))))
    g = gazetteer(terms, case_sensitive=case_sensitive, engine=engine)
    g.label_batch(DocBatch(docs))
    for doc in docs:
        found = [(s.start, s.end) for s in doc.spans[g.name]]
        assert found == reference_matches(doc, terms, case_sensitive)


@pytest.mark.parametrize("engine", ENGINES)
def test_lexicons_batch_matching_with_whitespace_inside_tokens(engine: str) -> None:
    """A tokenizer may leave whitespace inside tokens: it is removed, its gaps counted."""
    nlp = spacy.blank("en")
    g = gazetteer(["type 2 diabetes", "ab"], case_sensitive=False, engine=engine)
    docs = [
        Doc(nlp.vocab, words=["type 2", "diabetes", "and", "ab"], spaces=[True, True, True, False]),
        nlp("No match here, but type 2 diabetes again."),
    ]
    g.label_batch(DocBatch(docs))
    assert [(s.text) for s in docs[0].spans[g.name]] == ["type 2 diabetes", "ab"]
    assert [(s.text) for s in docs[1].spans[g.name]] == ["type 2 diabetes"]
    # the gap inside a token counts against the term's gaps
    glued = Doc(nlp.vocab, words=["type 2", "diabetes"], spaces=[False, False])
    assert gazetteer(["type2 diabetes"], engine=engine).find(glued) == [(0, 2)]
    assert gazetteer(["type2diabetes"], engine=engine).find(glued) == []


def test_lexicons_batch_of_documents_from_several_pipelines() -> None:
    """Documents of one batch may come from different pipelines (string stores)."""
    g = gazetteer(["aspirin", "type 2 diabetes"], case_sensitive=False)
    docs = [spacy.blank("en")("Aspirin for type 2 diabetes"), spacy.blank("en")("no, aspirin")]
    assert g.find_many(docs) == [[(0, 1), (2, 5)], [(2, 3)]]


# ------------------------------------------------------------------------- cache


def _big_lexicon(n: int = 60, label: str = "Chem") -> Lexicon:
    return Lexicon(label, [f"compound {i}x" for i in range(n)] + ["aspirin", "ab"], "big.txt")


def test_lexicons_cache_hit_gives_the_same_matcher(tmp_path, monkeypatch) -> None:
    import hybridner.lexicons as lexicons_module

    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(lexicons_module, "CACHE_MIN_TERMS", 10)
    first = Gazetteer(_big_lexicon(), case_sensitive=False)
    second = Gazetteer(_big_lexicon(), case_sensitive=False)
    assert not first.cache_hit and second.cache_hit
    doc = NLP("Aspirin and Compound 7x, not compound 7, and AB.")
    assert second.find(doc) == first.find(doc) == [(0, 1), (2, 4), (10, 11)]
    # another term list or another casing is another cache entry
    assert not Gazetteer(_big_lexicon(61), case_sensitive=False).cache_hit
    assert not Gazetteer(_big_lexicon(), case_sensitive=True).cache_hit
    assert len(list((tmp_path / "cache" / "gazetteers").glob("*.npz"))) == 3
    assert (tmp_path / "cache" / "gazetteers").stat().st_mode & 0o077 == 0


def test_lexicons_cache_ignores_unsafe_or_broken_files(tmp_path, monkeypatch, caplog) -> None:
    import hybridner.lexicons as lexicons_module

    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(lexicons_module, "CACHE_MIN_TERMS", 10)
    Gazetteer(_big_lexicon(), case_sensitive=True)
    [path] = (tmp_path / "cache" / "gazetteers").glob("*.npz")
    path.write_bytes(b"not an index")
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        rebuilt = Gazetteer(_big_lexicon(), case_sensitive=True)
    assert not rebuilt.cache_hit and "unreadable" in caplog.text
    assert Gazetteer(_big_lexicon(), case_sensitive=True).cache_hit  # rewritten
    path.chmod(0o666)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hybridner"):
        assert not Gazetteer(_big_lexicon(), case_sensitive=True).cache_hit
    assert "writable by others" in caplog.text


def test_lexicons_cache_off(tmp_path, monkeypatch) -> None:
    import hybridner.lexicons as lexicons_module

    monkeypatch.setattr(lexicons_module, "CACHE_MIN_TERMS", 10)
    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", "off")
    assert lexicons_module.cache_dir() is None and lexicons_module.cache_root() is None
    Gazetteer(_big_lexicon(), case_sensitive=True)
    assert not Gazetteer(_big_lexicon(), case_sensitive=True).cache_hit
    monkeypatch.delenv("HYBRIDNER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert lexicons_module.cache_dir() == tmp_path / "hybridner" / "gazetteers"
    monkeypatch.setenv("HYBRIDNER_CACHE_DIR", str(tmp_path / "mine"))
    assert lexicons_module.cache_dir() == tmp_path / "mine" / "gazetteers"


# ------------------------------------------------------------------------- quality


@pytest.mark.skipif(
    not (DATA / "bc5cdr" / "test.jsonl").is_file(),
    reason=f"benchmark data not found at {DATA / 'bc5cdr'} (only present on the team's machines)",
)
def test_lexicons_bc5cdr_dictionary_baseline() -> None:
    folder = DATA / "bc5cdr"
    lexicons = load_lexicons(folder / "lexicons")
    assert set(lexicons) == {"Chemical", "Disease"}
    functions = lexicon_functions(lexicons, cased=False)
    with (folder / "test.jsonl").open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    gold = [[tuple(e) for e in r["entities"]] for r in records]

    def f1(nlp: spacy.language.Language) -> float:
        predicted = [
            [(s.start_char, s.end_char, s.label_) for s in match_longest(functions, nlp.make_doc(r["text"]))]
            for r in records
        ]
        return score_entities(gold, predicted).f1

    # spaCy's English tokens keep "Ca(2+)", "K(+)-channels", "-propranolol" whole, so
    # token-aligned matching loses ~120 mentions a character matcher finds
    assert f1(spacy.blank("en")) >= 0.70
    # hybridner's default tokens split that punctuation: the README's naive longest-match baseline
    assert f1(make_nlp("en", tokenizer="fine")) >= 0.716


def test_lexicons_rename_labels_maps_merges_and_drops() -> None:
    from hybridner.lexicons import rename_labels

    lexicons = {
        "GPE": Lexicon("GPE", ["Paris", "Oslo"], "GPE.txt"),
        "CITY": Lexicon("CITY", ["Oslo", "Lima"], "CITY.txt"),
        "FIRST_NAME": Lexicon("FIRST_NAME", ["Anna"], "FIRST_NAME.txt"),
        "Drug": Lexicon("Drug", ["aspirin"], "Drug.txt"),
    }
    renamed = rename_labels(lexicons, {"GPE": "LOC", "CITY": "LOC", "FIRST_NAME": ""})
    assert list(renamed) == ["Drug", "LOC"]
    assert renamed["LOC"].terms == ["Paris", "Oslo", "Lima"]
    with pytest.raises(LexiconError, match="not loaded"):
        rename_labels(lexicons, {"ORG": "X"})
    with pytest.raises(LexiconError, match="cannot be used"):
        rename_labels(lexicons, {"GPE": "B-LOC"})
