from __future__ import annotations

import pickle
import re
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Span

from hybridner import RuleError, labelling_function, load_rules, regex_rule
from hybridner.labelling import apply_functions, check_label


@labelling_function(label="Drug")
def module_level_drugs(doc):
    for tok in doc:
        if tok.lower_ in {"aspirin", "heparin"}:
            yield tok.i, tok.i + 1


def test_labelling_decorator_writes_span_group(nlp):
    doc = module_level_drugs(nlp("Aspirin and heparin today."))
    assert [(s.text, s.label_) for s in doc.spans["module_level_drugs"]] == [
        ("Aspirin", "Drug"),
        ("heparin", "Drug"),
    ]


@pytest.mark.parametrize(
    "item",
    [lambda doc: Span(doc, 0, 1, label="Drug"), lambda doc: (0, 1), lambda doc: (0, 1, "Drug")],
    ids=["span", "pair", "triple"],
)
def test_labelling_accepts_spans_and_offsets(nlp, item):
    @labelling_function(label="Drug", name="any_form")
    def any_form(doc):
        yield item(doc)

    doc = any_form(nlp("Aspirin helps."))
    assert [(s.start, s.end, s.label_) for s in doc.spans["any_form"]] == [(0, 1, "Drug")]


def test_labelling_function_may_yield_its_own_labels(nlp):
    @labelling_function()
    def own_labels(doc):
        yield 0, 1, "Drug"
        yield 2, 3, "Disease"

    doc = own_labels(nlp("Aspirin for gout"))
    assert [s.label_ for s in doc.spans["own_labels"]] == ["Drug", "Disease"]
    assert own_labels.labels == []


def test_labelling_overlapping_spans_keep_longest(nlp):
    @labelling_function(label="Disease")
    def overlapping(doc):
        yield 0, 1
        yield 0, 3
        yield 2, 4

    doc = overlapping(nlp("type 2 diabetes mellitus here"))
    assert [(s.start, s.end) for s in doc.spans["overlapping"]] == [(0, 3)]


def test_labelling_without_parentheses_is_an_error():
    with pytest.raises(RuleError, match="without parentheses"):

        @labelling_function
        def oops(doc):
            return []


def test_labelling_same_name_twice_in_one_file_is_an_error():
    @labelling_function(label="Drug", name="twice_here")
    def first(doc):
        return []

    with pytest.raises(RuleError, match="already defined"):

        @labelling_function(label="Drug", name="twice_here")
        def second(doc):
            return []


@pytest.mark.parametrize(
    "yielded, message",
    [
        ((3, 1), "reversed"),
        ((0, 99), "outside the document"),
        ((-1, 1), "outside the document"),
        (("a", "b"), "integers"),
        ("text", "yield a spaCy Span"),
        ((0, 1, "B-Drug"), "tagging prefix"),
    ],
)
def test_labelling_bad_yields_name_rule_and_document(nlp, yielded, message):
    @labelling_function(label="Drug", name="bad_yield")
    def bad(doc):
        yield yielded

    doc = nlp("Aspirin helps a lot.")
    doc.user_data["id"] = "note-7"
    with pytest.raises(RuleError, match=message) as info:
        bad(doc)
    assert "bad_yield" in str(info.value) and "note-7" in str(info.value)


def test_labelling_missing_label_is_an_error_at_run_time(nlp):
    @labelling_function(name="no_label")
    def no_label(doc):
        yield 0, 1

    with pytest.raises(RuleError, match="without a label"):
        no_label(nlp("Aspirin"))


def test_labelling_exception_in_rule_names_rule_and_document(nlp):
    @labelling_function(label="Drug", name="raiser")
    def raiser(doc):
        raise KeyError("boom")

    doc = nlp("text")
    doc.user_data["id"] = "doc-42"
    with pytest.raises(RuleError, match=r"'raiser' raised KeyError.*doc-42"):
        raiser(doc)


@pytest.mark.parametrize("label", ["", "O", "B-Drug", "two words", 3])
def test_labelling_check_label_rejects(label):
    with pytest.raises(RuleError):
        check_label(label, "here")


def test_labelling_decorated_function_pickles(nlp):
    clone = pickle.loads(pickle.dumps(module_level_drugs))
    assert clone is module_level_drugs
    doc = clone(nlp("heparin"))
    assert len(doc.spans["module_level_drugs"]) == 1


def test_labelling_rules_loaded_by_path_pickle_by_reference(tmp_path, nlp):
    rules = tmp_path / "picklable.py"
    rules.write_text(
        textwrap.dedent(
            """
            from hybridner import labelling_function
            @labelling_function(label="Drug")
            def by_path(doc):
                yield 0, 1
            """
        )
    )
    (rule,) = load_rules(rules)
    clone = pickle.loads(pickle.dumps(rule))
    assert clone.name == "by_path"
    assert len(clone(nlp("Aspirin")).spans["by_path"]) == 1


def test_labelling_regex_rule_aligns_to_tokens(nlp):
    rule = regex_rule("dose_test", r"\d+ ?mg", "Dose")
    doc = rule(nlp("Take 20 mg or 5mg twice."))
    assert [s.text for s in doc.spans["dose_test"]] == ["20 mg", "5mg"]


def test_labelling_regex_alignment_modes(nlp):
    text = "Erythromycin helps."
    expand = regex_rule("suffix_expand", r"mycin", "Drug")(nlp(text))
    contract = regex_rule("suffix_contract", r"mycin", "Drug", alignment="contract")(nlp(text))
    assert [s.text for s in expand.spans["suffix_expand"]] == ["Erythromycin"]
    assert len(contract.spans["suffix_contract"]) == 0


def test_labelling_regex_empty_matches_terminate(nlp):
    rule = regex_rule("empty_ok", r"x*", "Drug")
    doc = rule(nlp("no x here xx"))
    assert [s.text for s in doc.spans["empty_ok"]] == ["x", "xx"]


def test_labelling_regex_invalid_pattern_names_rule():
    with pytest.raises(RuleError, match="bad_pattern"):
        regex_rule("bad_pattern", r"(unclosed", "Drug")


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet="ab -\n.", max_size=40),
    pattern=st.sampled_from([r"a*", r"\s*", r"b?a", r"(a|)", r"a b", r"-*"]),
)
def test_labelling_regex_never_empty_or_outside(text, pattern):
    import spacy

    rule = regex_rule("prop_regex", pattern, "Drug", flags=re.M)
    doc = rule(spacy.blank("en")(text))
    for span in doc.spans["prop_regex"]:
        assert 0 <= span.start < span.end <= len(doc)
        assert span.text.strip()


def test_labelling_load_rules_folder_collects_all(tmp_path, nlp):
    (tmp_path / "a.py").write_text(
        "from hybridner import regex_rule\nr1 = regex_rule('rule_a', 'x', 'L')\n"
    )
    (tmp_path / "b.py").write_text(
        "from hybridner import labelling_function\n"
        "@labelling_function(label='L')\ndef rule_b(doc):\n    return []\n"
    )
    (tmp_path / "_private.py").write_text("raise SystemExit('must not be imported')\n")
    names = [f.name for f in load_rules(tmp_path)]
    assert names == ["rule_a", "rule_b"]


def test_labelling_load_rules_duplicate_names_across_files(tmp_path):
    for stem in ("one", "two"):
        (tmp_path / f"{stem}.py").write_text(
            "from hybridner import regex_rule\nr = regex_rule('same_name', 'x', 'L')\n"
        )
    with pytest.raises(RuleError, match=r"same_name.*one\.py|same_name.*two\.py"):
        load_rules(tmp_path)


def test_labelling_apply_functions_is_lazy_and_labels_every_doc(nlp):
    docs = apply_functions([module_level_drugs], (nlp(t) for t in ["aspirin", "none", "heparin"]))
    assert not isinstance(docs, list)
    counts = [len(d.spans["module_level_drugs"]) for d in docs]
    assert counts == [1, 0, 1]


def test_labelling_rule_package_imports_helpers_relatively(tmp_path, nlp):
    import pickle

    package = tmp_path / "myrules"
    package.mkdir()
    (package / "__init__.py").write_text("", "utf8")
    (package / "_words.py").write_text("DRUGS = {'heparin'}\n", "utf8")
    (package / "drugs.py").write_text(
        "from hybridner import labelling_function\n"
        "from ._words import DRUGS\n\n"
        "@labelling_function(label='Drug')\n"
        "def relative_drugs(doc):\n"
        "    return [(t.i, t.i + 1) for t in doc if t.lower_ in DRUGS]\n",
        "utf8",
    )
    (rule,) = load_rules(package)
    assert len(rule(nlp("Heparin given")).spans["relative_drugs"]) == 1
    assert pickle.loads(pickle.dumps(rule)) is rule
