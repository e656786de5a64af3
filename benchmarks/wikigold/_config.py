"""Settings that go with the WikiGold rules in this folder (read by ``benchmarks/run.py``).

Label map (skweak gazetteer -> WikiGold label), chosen on ``dev`` (HMM-aggregated
labels, exact-span micro F1, with the rules of this folder):

* ``PRODUCT -> ""``: left out. Mapped to MISC it has no correct match on dev
  (``will``, ``no``, ``Death`` are products) and adds only false positives.
* ``GPE -> ""``: left out of the gazetteer functions. Its raw matches inside
  longer names (``West`` in ``West Jersey Railroad``, ``Perth`` in ``Perth
  Glory``) outvote the rules' whole-name spans: mapped to LOC the HMM scores
  68.2 and majority vote 58.9. The rules still use it, on whole chunks only
  (``loc_gazetteer_chunk``, ``_is_place``).
* ``COMPANY -> ""``: left out. Its 517k terms include thousands of common words
  (``General``, ``League``, ``West``); mapped to ORG the aggregated F1 falls to
  about 28. The rules use it for whole chunks of two or more words
  (``org_company_chunk``).
* ``FIRST_NAME -> ""``: not an entity type; the PER rules use it.

Aggregator: the HMM with hybridner's defaults (69.9 F1 on dev: P 87.0 / R 58.5);
majority vote scores 69.1 (P 83.3 / R 59.1).
"""

#: skweak gazetteer name -> WikiGold label ("" leaves it out of the gazetteer functions).
LABEL_MAP = {"GPE": "", "COMPANY": "", "PRODUCT": "", "FIRST_NAME": ""}

#: The aggregator these rules were tuned with.
AGGREGATOR = "hmm"
