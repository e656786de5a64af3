"""Drug rules for the clinical pharmacology example.

Shows the three ways a Python rule can label text:

* ``drug_suffix`` -- a decorated function with a fixed label, yielding token offsets;
* ``drug_before_dose`` -- context: a word directly followed by an amount ("nebivolol 5 mg");
* ``treatment_cues`` -- no fixed label: it yields ``(start, end, label)`` and labels both
  drugs ("started on X", "allergic to X") and diseases ("diagnosed with X").

The lexicon in ``lexicons/Drug.txt`` is deliberately incomplete; these rules find many
drugs it misses, at the price of some false positives, which the aggregation step weighs.
"""

from hybridner import labelling_function

# Common stems of international non-proprietary names (INN).
DRUG_SUFFIXES = (
    "mab", "nib", "pril", "olol", "ilol", "statin", "cillin", "mycin", "micin", "azole", "sartan",
    "gliptin", "gliflozin", "glutide", "floxacin", "cycline", "dipine", "parin", "xaban", "gatran",
    "tidine", "setron", "azepam", "azolam", "triptan", "vir", "semide", "thiazide", "profen",
    "oxetine", "afil", "dronate", "lukast", "terol", "tropium", "olone", "asone", "isone",
    "zosin", "osin", "apine", "idone", "etine", "barb", "cort", "platin", "rubicin", "limus",
)
# Ordinary words (and lab/clinical terms) that happen to end like a drug stem.
NOT_DRUGS = {
    "person", "reason", "season", "poison", "comparison", "various", "previous", "obvious",
    "sometimes", "outcome", "welcome", "episode", "peptide", "fluoride", "chloride", "creatinine",
    "routine", "medicine", "medicines", "vaccine", "discipline", "baseline", "guideline",
}


@labelling_function(label="Drug")
def drug_suffix(doc):
    """Single tokens ending in a typical drug-name stem (e.g. -pril, -olol, -statin)."""
    for tok in doc:
        low = tok.lower_
        if tok.is_alpha and len(low) > 5 and low not in NOT_DRUGS and low.endswith(DRUG_SUFFIXES):
            yield tok.i, tok.i + 1


DOSE_UNITS = {"mg", "mcg", "g", "ml", "units", "unit", "iu", "mmol", "meq", "micrograms", "grams"}
# Words often written right before an amount that are not drug names.
NOT_BEFORE_DOSE = {
    "dose", "doses", "daily", "total", "maximum", "max", "bolus", "loading", "maintenance",
    "increased", "reduced", "decreased", "titrated", "increase", "reduce", "restart", "restarted",
    "additional", "extra", "further", "single", "iv", "po", "sc", "im", "oral", "orally", "then",
    "followed", "weight", "approximately", "about", "over", "another", "given", "received", "plus",
    # laboratory results are written like doses: "sodium 124 mmol/L", "trough 24 mg/L"
    "level", "levels", "trough", "sodium", "potassium", "glucose", "creatinine", "hemoglobin",
    "haemoglobin", "platelets", "proteinuria", "magnesium", "calcium", "albumin", "lactate",
}


PER = {"kg", "day", "d", "h", "hr", "m2", "dose", "24"}


@labelling_function(label="Drug")
def drug_before_dose(doc):
    """A word immediately followed by an amount with a unit, e.g. 'telmisartan 40 mg'."""
    for tok in doc[:-2]:
        nxt, unit = doc[tok.i + 1], doc[tok.i + 2]
        if (tok.is_alpha and len(tok) > 3 and not tok.is_stop and tok.lower_ not in NOT_BEFORE_DOSE
                and nxt.like_num and unit.lower_ in DOSE_UNITS):
            after = doc[tok.i + 3] if tok.i + 3 < len(doc) else None
            if after is not None and after.text == "/" and tok.i + 4 < len(doc) and doc[tok.i + 4].lower_ not in PER:
                continue  # a laboratory unit such as mL/min or mmol/L, not a dose
            start = tok.i
            # two-word names such as "insulin glargine", "folic acid", "ferrous sulfate"
            if start > 0 and (doc[start - 1].lower_ in {"insulin", "ferrous", "potassium", "magnesium", "isosorbide"}
                              or (tok.lower_ == "acid" and doc[start - 1].is_alpha)):
                start -= 1
            # hyphenated names such as "co-amoxiclav", "piperacillin-tazobactam"
            if start > 1 and doc[start - 1].text == "-" and doc[start - 2].is_alpha:
                start -= 2
            yield start, tok.i + 1


DRUG_CUES = [("started", "on"), ("commenced", "on"), ("switched", "to"), ("changed", "to"),
             ("allergic", "to"), ("allergy", "to"), ("intolerant", "of"), ("intolerance", "to"),
             ("restarted", "on"), ("loaded", "with")]
DISEASE_CUES = [("diagnosed", "with"), ("history", "of"), ("admitted", "with"), ("presenting", "with"),
                ("presented", "with"), ("treated", "for"), ("known", "to", "have"), ("suspected",)]
FIRST_WORDS = {"insulin", "ferrous", "folic", "potassium", "magnesium", "isosorbide", "tranexamic", "zoledronic", "alendronic"}
ROUTE_WORDS = {"iv", "oral", "po", "sc", "intravenous", "subcutaneous", "inhaled", "topical", "empirical", "regular", "low", "dose"}
STOP_TAIL = {"and", "or", "with", "for", "on", "in", "at", "since", "after", "which", "who", "but", "was", "is",
             "complicated", "secondary", "following", "requiring", "treated", "due", "caused", "diagnosed"}
NOT_DISEASE_START = {"drug", "drugs", "reaction", "adverse", "cause", "medication", "interaction"}


def _matches(doc, i, cue):
    return i + len(cue) <= len(doc) and all(doc[i + k].lower_ == w for k, w in enumerate(cue))


def _disease_extent(doc, start, max_len=4):
    """Tokens after a disease cue: words (and internal hyphens/'s) up to punctuation or a function word."""
    end = start
    while end < len(doc) and end - start < max_len:
        tok = doc[end]
        if tok.is_alpha and not tok.is_stop and tok.lower_ not in STOP_TAIL:
            end += 1
        elif tok.text in {"-", "'s", "'"} and end > start and end + 1 < len(doc) and doc[end + 1].is_alpha:
            end += 1
        elif tok.like_num and end > start and end + 1 < len(doc) and doc[end + 1].is_alpha:
            end += 1  # "type 2 diabetes"
        else:
            break
    return end


@labelling_function()
def treatment_cues(doc):
    """Cue phrases: the word after 'started on' is a Drug, the phrase after 'diagnosed with' a Disease."""
    for i in range(len(doc)):
        for cue in DRUG_CUES:
            if _matches(doc, i, cue):
                j = i + len(cue)
                while j < len(doc) and doc[j].lower_ in ROUTE_WORDS:
                    j += 1
                if j < len(doc) and doc[j].is_alpha and not doc[j].is_stop:
                    end = j + 1
                    if doc[j].lower_ in FIRST_WORDS and end < len(doc) and doc[end].is_alpha:
                        end += 1
                    yield j, end, "Drug"
        for cue in DISEASE_CUES:
            if _matches(doc, i, cue):
                j = i + len(cue)
                end = _disease_extent(doc, j)
                if end > j and doc[j].lower_ not in NOT_DISEASE_START:
                    yield j, end, "Disease"
