"""Disease rules for the clinical pharmacology example.

* ``disease_suffix`` -- single words with a medical suffix (-itis, -emia, -oma, -pathy, ...);
* ``disease_head_noun`` -- "... syndrome", "... disease", "... failure", "... infection" and
  similar heads together with up to two preceding modifiers ("acute kidney injury");
* ``disease_abbreviation`` -- a declarative regex for common clinical abbreviations.

Like every rule these are imperfect ("anemia" in "anemia screen" is still labelled, and a
head noun may get one modifier too few or too many); the aggregation step sorts it out.
"""

from hybridner import labelling_function, regex_rule

DISEASE_SUFFIXES = (
    "itis", "emia", "aemia", "oma", "pathy", "algia", "penia", "cytosis", "osis", "plasia", "trophy",
    "uria", "rrhea", "rrhoea", "ectasis", "plegia", "paresis", "ism", "iasis", "ysis", "ysm",
)
NOT_DISEASES = {
    "diagnosis", "prognosis", "dosis", "analysis", "dialysis", "stoma", "aroma", "diploma", "coma",
    "mechanism", "metabolism", "organism", "organisms", "tourism", "criticism", "emphasis", "basis",
    "thesis", "synthesis", "hypothesis", "paralysis", "urinalysis", "hemodialysis", "haemodialysis",
}


@labelling_function(label="Disease")
def disease_suffix(doc):
    """Single tokens with a disease-like suffix: colitis, hyponatremia, lymphoma, neuropathy..."""
    for tok in doc:
        low = tok.lower_
        if tok.is_alpha and len(low) > 6 and low not in NOT_DISEASES and low.endswith(DISEASE_SUFFIXES):
            yield tok.i, tok.i + 1


HEAD_NOUNS = {
    "syndrome", "disease", "failure", "infection", "disorder", "deficiency", "cancer", "injury",
    "insufficiency", "carcinoma", "fibrillation", "hypertension", "hypotension", "thrombosis",
    "embolism", "arthritis", "diabetes", "apnea", "apnoea", "bleeding", "hemorrhage", "toxicity",
}
# Modifiers that describe the mention rather than name the disease.
NOT_MODIFIERS = {
    "known", "new", "recent", "possible", "suspected", "underlying", "severe", "mild", "moderate",
    "worsening", "likely", "probable", "documented", "active", "previous", "prior", "stable",
    "ongoing", "significant", "her", "his", "their", "any", "no", "further", "history", "background",
    "developed", "diagnosed", "has", "had", "have", "treated", "confirmed", "excluded", "exclude", "cause",
    "showed", "shows", "showing", "revealed", "grade",
    "avoid", "prevent", "risk", "reduce",
}


@labelling_function(label="Disease")
def disease_head_noun(doc):
    """A disease head noun with one or two preceding modifiers: 'chronic kidney disease'."""
    for tok in doc:
        if tok.lower_ not in HEAD_NOUNS:
            continue
        start, words = tok.i, 0
        j = tok.i - 1
        while j >= 0 and words < 2:
            prev = doc[j]
            if prev.text in {"-", "'s", "'"} and j > 0 and (doc[j - 1].is_alpha or doc[j - 1].like_num):
                start, j = j - 1, j - 2  # Crohn's disease, alcohol-related liver disease: one word
                continue
            numbered = prev.like_num and j > 0 and doc[j - 1].lower_ == "type"  # type 2 diabetes
            if (prev.is_alpha or numbered) and not prev.is_stop and prev.lower_ not in NOT_MODIFIERS:
                start, words = j, words + 1
                j -= 1
                continue
            break
        if start > 1 and doc[start - 1].text == "-" and doc[start - 2].is_alpha:
            start -= 2  # keep hyphenated modifiers whole: alcohol-related liver disease
        if words or tok.lower_ in {"hypertension", "hypotension", "diabetes", "arthritis"}:
            yield start, tok.i + 1


disease_abbreviation = regex_rule(
    "disease_abbreviation",
    r"\b(?:COPD|CKD|ESRD|AKI|GERD|GORD|DVT|VTE|CHF|CAD|IHD|AF|MI|NSTEMI|STEMI|TIA|T1DM|T2DM|HTN|OSA"
    r"|IBS|IBD|RA|DKA|SLE|BPH|MDD|GAD|PTSD|ADHD|UTI|CAP|HFrEF|HFpEF|ACS)\b",
    "Disease",
)
