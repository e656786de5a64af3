"""Dose rules for the clinical pharmacology example.

Doses are the amount with its unit ("500 mg", "10 mg/kg", "2.5 mL", "24 units"), never the
frequency ("twice daily"). Two declarative regexes cover amounts by mass/volume and by
units; a negative look-ahead keeps laboratory values such as "5.8 mmol/L", "250 mg/dL" or
"eGFR 34 mL/min" out. ``dose_spelled_out`` shows a token-level rule for written numbers.
"""

from hybridner import labelling_function, regex_rule

_NUMBER = r"\b\d+(?:[.,]\d+)?(?:/\d+(?:\.\d+)?)?"  # 500, 1,000, 2.5, 49/51 (combination products)
_PER = r"(?:/(?:kg|day|d|h|hr|24\s?h|m2|dose))*"

dose_mass_volume = regex_rule(
    "dose_mass_volume",
    _NUMBER + r"\s?(?:mg|mcg|µg|micrograms?|g|grams?|mL|ml|mmol|mEq)" + _PER + r"(?![\w/])",
    "Dose",
)

dose_units = regex_rule(
    "dose_units",
    _NUMBER + r"\s?(?:units?|IU|international units)" + _PER + r"(?![\w/])",
    "Dose",
)

WORD_NUMBERS = {"one", "two", "three", "four", "five", "ten", "half", "twenty", "forty", "fifty", "hundred"}
UNIT_WORDS = {"mg", "mcg", "milligrams", "micrograms", "grams", "gram", "units", "ml", "millilitres", "milliliters"}


@labelling_function(label="Dose")
def dose_spelled_out(doc):
    """Amounts written in words: 'forty units', 'one gram', 'two hundred milligrams'."""
    for tok in doc:
        if tok.lower_ in UNIT_WORDS and tok.i > 0 and doc[tok.i - 1].lower_ in WORD_NUMBERS:
            start = tok.i - 1
            while start > 0 and doc[start - 1].lower_ in WORD_NUMBERS | {"and", "a"}:
                start -= 1
            while doc[start].lower_ in {"and", "a"}:
                start += 1
            yield start, tok.i + 1
