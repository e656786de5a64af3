"""Shared fixtures: a blank English pipeline, a tiny project on disk, the benchmark data."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import spacy

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

DRUGS_IN_LEXICON = ["aspirin", "metformin", "warfarin", "ibuprofen", "lisinopril"]
DRUGS_NOT_IN_LEXICON = ["naproxen", "digoxin", "heparin"]
DISEASES_IN_LEXICON = ["hypertension", "asthma", "type 2 diabetes", "gout"]
DISEASES_NOT_IN_LEXICON = ["migraine", "psoriasis"]

TEMPLATES = [
    "The patient was started on {drug} for {disease} .",
    "{Drug} was stopped because of worsening {disease} .",
    "She has a long history of {disease} treated with {drug} .",
    "No change to {drug} ; {disease} remains stable .",
    "We added {drug} 20 mg daily given poorly controlled {disease} .",
    "His {disease} improved after two weeks of {drug} .",
]

RULES_PY = '''
from hybridner import labelling_function, regex_rule

@labelling_function(label="Disease")
def disease_suffix(doc):
    for tok in doc:
        if tok.lower_.endswith(("itis", "osis", "aine")) and len(tok) > 6:
            yield tok.i, tok.i + 1

dose = regex_rule("dose_mg", r"\\b\\d+ ?mg\\b", "Dose")
'''


def make_text(rng: random.Random, drugs: list[str], diseases: list[str]) -> tuple[str, list]:
    """One sentence from the templates, with its gold entities (character offsets)."""
    template = rng.choice(TEMPLATES)
    drug, disease = rng.choice(drugs), rng.choice(diseases)
    text, entities = "", []
    for i, part in enumerate(template.replace("}", "{").split("{")):
        if i % 2 == 0:
            text += part
            continue
        value = {"drug": drug, "Drug": drug.capitalize(), "disease": disease}[part]
        label = "Disease" if part == "disease" else "Drug"
        entities.append([len(text), len(text) + len(value), label])
        text += value
    if " 20 mg " in text:
        start = text.index("20 mg")
        entities.append([start, start + 5, "Dose"])
    return text, sorted(entities)


@dataclass
class TinyProject:
    root: Path
    lexicons: Path
    rules: Path
    corpus: Path
    dev: Path


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep large lexicons' cached matchers out of the user's cache folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HYBRIDNER_CACHE_DIR", str(tmp_path_factory.mktemp("hybridner-cache")))
    yield
    mp.undo()


@pytest.fixture
def nlp():
    return spacy.blank("en")


def make_tiny_project(root: Path) -> TinyProject:
    """A complete little project: lexicons, one rule file, 80 texts and a 12-document dev set."""
    tmp_path = root
    rng = random.Random(7)
    lexicons = tmp_path / "lexicons"
    lexicons.mkdir(parents=True)
    (lexicons / "Drug.txt").write_text("# drugs\n" + "\n".join(DRUGS_IN_LEXICON) + "\n", "utf8")
    (lexicons / "Disease.txt").write_text("\n".join(DISEASES_IN_LEXICON) + "\n", "utf8")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "clinical.py").write_text(RULES_PY, "utf8")
    drugs = DRUGS_IN_LEXICON + DRUGS_NOT_IN_LEXICON
    diseases = DISEASES_IN_LEXICON + DISEASES_NOT_IN_LEXICON
    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w", encoding="utf8") as handle:
        for i in range(80):
            text = " ".join(make_text(rng, drugs, diseases)[0] for _ in range(2))
            handle.write(json.dumps({"id": f"doc-{i}", "text": text, "source": "test"}) + "\n")
    dev = tmp_path / "dev.jsonl"
    with dev.open("w", encoding="utf8") as handle:
        for i in range(12):
            text, entities = make_text(rng, drugs, diseases)
            handle.write(json.dumps({"id": f"dev-{i}", "text": text, "entities": entities}) + "\n")
    return TinyProject(tmp_path, lexicons, rules, corpus, dev)


@pytest.fixture
def tiny_project(tmp_path: Path) -> TinyProject:
    return make_tiny_project(tmp_path)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (only present in the project's workspace and CI)")
    return SHARED_DATA


def make_ruler_model(path: Path) -> Path:
    """A deterministic, untrained model folder: an entity ruler named "ner" with the lexicon drugs."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([{"label": "Drug", "pattern": drug} for drug in DRUGS_IN_LEXICON])
    nlp.to_disk(path)
    return path
