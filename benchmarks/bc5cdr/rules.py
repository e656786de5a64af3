"""Labelling functions for BC5CDR (PubMed titles and abstracts; labels Chemical, Disease).

They complement the benchmark's lexicons (``lexicons/Chemical.txt``, ``Disease.txt``) with
what a biomedical reader knows without a dictionary:

Chemical
* ``chemical_drug_stem`` -- words with an international nonproprietary-name stem
  (-pril, -olol, -sartan, -mycin, -cillin, -azepam, -caine, -profen, -platin, ...);
* ``chemical_ending`` -- the chemist's endings (-ine, -ide, -ate, -one, -ol, -ium, -ose, -ane)
  minus the ordinary English and anatomical words that share them;
* ``chemical_name_word`` -- elements, ions, gases and everyday compounds (lithium, ammonia,
  glucose, ethanol, nitric oxide, vitamin C);
* ``chemical_acid`` -- "valproic acid", "epsilon-aminocaproic acid";
* ``chemical_induced`` -- the word before "-induced", "-treated", "-evoked", ... written as one
  hyphenated word ("cocaine-induced", "(METH)-induced"), which in this literature is the agent;
* ``chemical_dose`` -- what a dose is given of ("haloperidol (1 mg/kg)", "5 mg/kg of cocaine");
* ``chemical_code_name`` -- laboratory code names such as "KF17837", "SM-5887", "NIK-247".

Disease
* ``disease_suffix`` -- words with a pathology suffix (-itis, -emia, -pathy, -oma, -osis,
  -algia, -plegia, -trophy, -toxicity, -uria, -cardia, -tension, ...) or from a short list of
  diseases and symptoms, with the clinical qualifiers before them ("optic neuropathy");
* ``disease_head_noun`` -- a disease head noun (syndrome, disease, failure, injury, infarction,
  carcinoma, toxicity, damage, lesions, ...) with up to three preceding modifiers
  ("acute renal failure", "Parkinson's disease");
* ``disease_after_induced`` -- the condition a drug induces ("haloperidol-induced catalepsy").

Both labels
* ``abbreviation_definition`` -- "long form (ABBR)": the long form is typed by its head word
  (disease head or suffix, chemical stem) and the abbreviation then gets the same label
  wherever it occurs in the abstract;
* ``abbreviation_of_labelled`` -- the same for long forms that an earlier labelling function
  (a lexicon or one of the rules above) already labelled: "nitric oxide (NO)" makes every "NO"
  of that abstract a Chemical. It reads the span groups written before it, so it must stay
  the last function of this file (lexicon functions always run before rule files).

Every rule is precise rather than complete; the aggregator weighs them against each other.
"""

from __future__ import annotations

import re
from collections import Counter

from hybridner import labelling_function

# --------------------------------------------------------------------------------------------
# Shared word lists
# --------------------------------------------------------------------------------------------

#: Cue words that, hyphenated to a preceding word, make that word the (chemical) agent.
AGENT_CUES = {
    "induced", "treated", "evoked", "elicited", "provoked", "exposed", "intoxicated",
    "containing", "loaded", "pretreated", "infused", "injected", "stimulated", "mediated",
}
#: Words that appear before "-induced" but are not chemicals.
NOT_AGENTS = {
    "drug", "drugs", "stress", "exercise", "therapy", "treatment", "agent", "agents", "diet",
    "light", "noise", "heat", "cold", "surgery", "injury", "trauma", "radiation", "ischemia",
    "hypoxia", "seizure", "seizures", "infection", "stimulus", "stimuli", "activity", "pressure",
    "immune", "self", "pre", "post", "non", "anesthetic", "anaesthetic", "anesthesia",
    "anaesthesia", "neuroleptic", "neuroleptics", "antidepressant", "antidepressants",
    "chemotherapy", "contrast", "medication", "medications", "toxin", "toxicant", "chemical",
    "chemicals", "compound", "compounds", "hormone", "lesion", "electroshock", "kindling",
    "shock", "sepsis", "virus", "viral", "bacterial", "cytokine", "antibody", "antigen",
    "receptor", "tumor", "tumour", "cell", "cells", "diabetes", "obesity", "vehicle", "saline",
    "sham", "control", "placebo", "dose", "high", "low", "fat", "age", "ovariectomy",
    "nerve", "stretch", "flow", "volume", "cocktail", "opioid", "opiate", "steroid", "steroids",
    "antibiotic", "antibiotics", "analgesic", "nsaid", "nsaids", "ssri", "ssris", "hfd",
}

#: Non-chemical words seen hyphenated to "induced": molecules of biology, processes, classes.
_NOT_INDUCERS = {
    "mrna", "dna", "rna", "enzyme", "antagonist", "agonist", "stimulant", "diuretic",
    "oxidant", "antioxidant", "degeneration", "swallowing", "heavy", "local", "anesthetics",
    "anaesthetics", "hiv", "haart", "ros", "acei", "ace", "adrenoceptor", "antithrombin",
    "midtrimester", "trimester", "protein", "peptide", "antibodies", "immunoglobulin",
}
#: Endings of adjectives, adverbs, processes and people rather than substances.
_NOT_CHEMICAL_WORD_ENDINGS = (
    "ing", "ly", "ion", "ions", "ed", "ment", "ments", "al", "ive", "ity", "ies", "ness",
    "ic", "ous", "ary", "ory", "ist", "ists", "ers", "ents", "ance", "ence", "ants",
)
#: Stems of international nonproprietary names (a token must be longer than its stem).
DRUG_STEMS = (
    # antibiotics and antimicrobials
    "mycin", "micin", "cillin", "cycline", "floxacin", "oxacin", "penem", "bactam", "conazole",
    "ovir", "avir", "vudine", "cef",
    # cardiovascular
    "pril", "prilat", "sartan", "olol", "alol", "ilol", "dipine", "tiazem", "pamil", "statin",
    "parin", "farin", "gatran", "xaban", "fibrate", "semide", "thiazide", "azide", "nitrate",
    "oxidil", "arone",
    # central nervous system
    "azepam", "zepam", "azolam", "zolam", "barbital", "bital", "pental", "fentanil", "fentanyl",
    "azine", "promazine", "triptyline", "ipramine", "pramine", "oxetine", "xetine", "traline",
    "apine", "azepine", "idone", "peridol", "pride", "triptan", "setron", "racetam", "orphine",
    "orphan", "codone", "adol", "oxone", "exone", "amphetamine", "tropine", "stigmine",
    "oline", "goline", "serin", "oxamine", "tonin", "etidine", "idine", "astine",
    # anaesthetics, analgesics, anti-inflammatories
    "caine", "flurane", "thane", "profen", "ofen", "fenac", "coxib", "oxicam", "sulide",
    "salicylate", "midate",
    # oncology
    "platin", "rubicin", "taxel", "tecan", "mustine", "uracil", "citabine", "trexate",
    "trexol", "poside", "fosfamide", "phosphamide", "tinib", "razoxane", "oxane",
    # hormones, steroids, metabolic
    "sterone", "terone", "olone", "asone", "isone", "sonide", "estradiol", "estrol", "gestrel",
    "dronate", "formin", "glitazone", "gliptin", "glinide", "tidine", "prazole", "lukast",
    "terol", "ephrine", "edrine",
    # other chemistry
    "azole", "amide", "exol", "ethanol", "methanol", "phenol", "icol", "butol",
)
#: Everyday or anatomical words that happen to end like a drug stem.
NOT_DRUG_STEMS = {
    "pride", "oline", "discipline", "proline", "decline", "baseline", "midline", "guideline",
    "outline", "incline", "airline", "hairline", "borderline", "coastline", "deadline",
    "medicine", "routine", "examine", "determine", "undermine", "combine", "define", "machine",
    "hydrazide", "cefalexin", "adolescent", "triadol", "serine", "isoserine",
}

#: Chemist's endings; matched with a long exception list below.
CHEMICAL_ENDINGS = ("ine", "ide", "ate", "one", "ol", "ium", "ose", "ane", "yl", "ene")
#: English, anatomical and biological words with a chemical-looking ending.
NOT_CHEMICAL_ENDINGS = {
    # -ine
    "medicine", "medicines", "routine", "examine", "determine", "decline", "baseline", "combine",
    "define", "machine", "urine", "uterine", "intestine", "canine", "bovine", "feline", "murine",
    "equine", "porcine", "ovine", "marine", "vaccine", "doctrine", "engine", "famine",
    "masculine", "feminine", "genuine", "endocrine", "exocrine", "paracrine", "autocrine",
    "midline", "guideline", "discipline", "imagine", "spine", "online", "outline", "undermine",
    "line", "fine", "nine", "mine", "wine", "pine", "shine", "shrine", "incline", "borderline",
    "deadline", "alpine", "cytokine", "chemokine", "lymphokine", "adenine", "intrauterine",
    "extrauterine", "sanguine", "supine", "saline", "alkaline", "crystalline",
    "medline", "pristine", "quarantine", "clandestine", "byzantine", "sardine", "leonine",
    "serpentine", "turbine", "cuisine", "carbine", "cosine", "affine",
    "amine", "amines", "opine", "repine", "sixtine", "tontine", "wolverine", "thine", "whine",
    "headline", "airline", "hairline", "mainline", "storyline", "timeline", "trendline",
    "neckline", "skyline", "streamline", "frontline", "coastline", "sideline", "pipeline",
    "hotline", "underline", "interline", "predetermine", "diamine", "triamine",
    "aborigine", "nectarine", "tangerine", "margarine", "submarine", "ultramarine",
    "migraine", "migraines", "interscalene", "cochrane", "opiate", "opiates", "dentate",
    "caudate", "multivariate", "univariate", "bivariate", "covariate", "eluate", "antifolate",
    "radionuclide", "microl", "micromol", "millimol", "nanomol", "bristol", "hydroxyl",
    # -ide
    "side", "wide", "provide", "decide", "guide", "inside", "outside", "beside", "aside",
    "divide", "reside", "preside", "coincide", "collide", "slide", "ride", "bride", "pride",
    "tide", "hide", "stride", "override", "suicide", "homicide", "genocide", "pesticide",
    "insecticide", "herbicide", "fungicide", "bactericide", "nucleotide", "oligonucleotide",
    "polynucleotide", "nucleoside", "glycoside", "peptide", "polypeptide", "dipeptide",
    "tripeptide", "neuropeptide", "worldwide", "nationwide", "statewide", "genomewide",
    "countrywide", "citywide", "confide", "subside", "abide", "deride", "elide", "glide",
    "chide", "snide", "riverside", "seaside", "upside", "downside", "bedside",
    "wayside", "fireside", "lakeside", "hillside", "countryside", # -ate
    "rate", "rates", "state", "date", "late", "gate", "plate", "estimate", "moderate",
    "separate", "indicate", "evaluate", "appropriate", "adequate", "immediate", "accurate",
    "approximate", "intermediate", "ultimate", "deliberate", "considerate", "alternate",
    "candidate", "climate", "create", "relate", "regulate", "stimulate", "investigate",
    "demonstrate", "concentrate", "penetrate", "infiltrate", "substrate", "duplicate",
    "replicate", "associate", "mediate", "initiate", "terminate", "eliminate", "dominate",
    "originate", "coordinate", "designate", "illustrate", "activate", "inactivate",
    "deactivate", "facilitate", "accumulate", "calculate", "formulate", "modulate",
    "populate", "simulate", "articulate", "congratulate", "speculate", "stipulate",
    "manipulate", "anticipate", "participate", "precipitate", "dissipate", "emancipate",
    "operate", "cooperate", "generate", "degenerate", "regenerate", "tolerate", "accelerate",
    "decelerate", "exaggerate", "integrate", "migrate", "celebrate", "vertebrate",
    "invertebrate", "calibrate", "vibrate", "hydrate", "dehydrate", "rehydrate", "carbohydrate",
    "elaborate", "collaborate", "corroborate", "incorporate", "corporate", "decorate",
    "evaporate", "desperate", "temperate", "literate", "illiterate", "iterate", "obliterate",
    "narrate", "frustrate", "prostate", "orchestrate", "magistrate", "sedate", "validate",
    "consolidate", "accommodate", "update", "mandate", "liquidate", "elucidate", "intimidate",
    "dilate", "inflate", "deflate", "isolate", "insulate", "postulate", "ventilate", "oscillate",
    "annihilate", "assimilate", "emulate", "escalate", "translate", "correlate",
    "template", "contemplate", "palate", "chocolate", "debate", "abate", "rebate", "probate",
    "innate", "senate", "ornate", "fortunate", "unfortunate", "compassionate",
    "passionate", "proportionate", "disproportionate", "subordinate", "inordinate",
    "obstinate", "determinate", "indeterminate", "affectionate", "nominate", "discriminate",
    "culminate", "disseminate", "contaminate", "inseminate", "germinate", "illuminate",
    "ruminate", "fascinate", "vaccinate", "hallucinate", "procrastinate", "predominate",
    "alienate", "resonate", "detonate", "impersonate", "donate", "neonate", "neonates",
    "recreate", "procreate", "permeate", "delineate", "nucleate", "enucleate",
    "deviate", "alleviate", "abbreviate", "affiliate", "retaliate", "humiliate", "conciliate",
    "reconciliate", "negotiate", "appreciate", "depreciate", "enunciate", "denunciate",
    "repudiate", "radiate", "irradiate", "expiate", "vitiate", "satiate", "ingratiate",
    "expatriate", "inebriate", "excoriate", "propitiate", "differentiate", "substantiate",
    "instantiate", "potentiate", "attenuate", "extenuate", "insinuate", "perpetuate",
    "graduate", "evacuate", "situate", "actuate", "punctuate", "fluctuate", "infatuate",
    "accentuate", "individuate", "estate", "restate", "reinstate", "overstate", "understate",
    "necessitate", "rehabilitate", "debilitate", "imitate", "irritate", "agitate", "meditate",
    "premeditate", "cogitate", "hesitate", "gravitate", "levitate", "amputate", "mutate",
    "rotate", "notate", "annotate", "dictate", "gestate", "intestate", "interstate",
    "upstate", "tristate", "primate", "primates", "aggregate", "segregate", "delegate",
    "relegate", "navigate", "irrigate", "mitigate", "litigate", "instigate", "castigate",
    "obligate", "elongate", "propagate", "interrogate", "abrogate", "surrogate", "derogate",
    "subjugate", "conjugate", "fumigate", "approbate", "reprobate", "incubate",
    "intubate", "extubate", "masturbate", "perturbate", "private", "cultivate", "captivate",
    "motivate", "renovate", "innovate", "elevate", "aggravate", "excavate", "salivate",
    "enervate", "denervate", "innervate", "reinnervate", "locate",
    "allocate", "dislocate", "collocate", "advocate", "equivocate", "reciprocate", "suffocate",
    "complicate", "implicate", "explicate", "fabricate", "lubricate", "vindicate", "syndicate",
    "dedicate", "medicate", "predicate", "eradicate", "abdicate",
    "adjudicate", "delicate", "intricate", "authenticate", "domesticate", "sophisticate",
    "masticate", "communicate", "excommunicate", "truncate", "educate", "confiscate",
    "obfuscate", "bifurcate", "trifurcate", "relocate", "placate", "vacate", "deprecate",
    "desiccate", "silicate", "prognosticate", "demarcate", "mate", "fate", "hate",
    "crate", "grate", "skate", "slate", "spate", "sate", "pate", "ingrate", "irate", "prorate",
    "inmate", "checkmate", "stalemate", "cognate", "agnate", "magnate", "stagnate",
    "impregnate", "pomegranate", "senescence", "postgraduate", "undergraduate",
    "ameliorate", "deteriorate", "pejorate", "infuriate", "luxuriate", "saturate", "maturate",
    "suppurate", "commensurate", "inaccurate", "obdurate", "curate", "denaturate", "lacerate",
    "macerate", "ulcerate", "exonerate", "enumerate", "venerate", "incinerate", "remunerate",
    "proliferate", "vociferate", "refrigerate", "liberate", "reverberate",
    "federate", "confederate", "inconsiderate", "preponderate", "immoderate", "adulterate",
    "transliterate", "emigrate", "immigrate", "denigrate",
    "disintegrate", "reintegrate", "perforate", "invigorate", "commemorate", "pirate",
    "aspirate", "respirate", "conspirate", "levirate", "decemvirate", "triumvirate",
    "gyrate", "tartrate", "filtrate", "ultrafiltrate", "nitrate",
    "titrate", "arbitrate", "perpetrate", "impetrate", "sequestrate", "fenestrate",
    "defenestrate", "quadrate", "inadequate",
    "antiquate", "liquate", "equate", "disparate", "prostrate", "excorporate",
    "proximate", "legitimate", "illegitimate", "intimate", "sublimate",
    "acclimate", "animate", "inanimate", "reanimate", "decimate", "lachrymate", "consummate",
    "penultimate", "optimate", "overestimate", "underestimate",
    "inchoate",
    # -one
    "one", "ones", "alone", "done", "none", "bone", "bones", "tone", "zone", "zones", "phone",
    "someone", "everyone", "anyone", "ozone", "cyclone", "milestone", "postpone", "undergone",
    "backbone", "cornerstone", "standalone", "gone", "lone", "prone", "stone", "stones",
    "throne", "clone", "clones", "drone", "cone", "cones", "hone", "shone", "atone",
    "intone", "condone", "dethrone", "overtone", "undertone", "monotone", "keystone",
    "gallstone", "gallstones", "limestone", "sandstone", "headstone", "tombstone",
    "grindstone", "touchstone", "brimstone", "microphone", "telephone", "smartphone",
    "headphone", "earphone", "xylophone", "saxophone", "hormone", "hormones", "neurone",
    "neurones", "motoneurone", "motoneurones", "interneurone", "interneurones", "syndrome",
    "hypotone", "isotone", "timezone", "subzone",
    # -ol
    "control", "controls", "protocol", "protocols", "pool", "school", "tool", "symbol",
    "idol", "patrol", "cool", "wool", "stool", "stools", "spool", "fool", "drool", "carol",
    "petrol", "extol", "enrol", "atoll", "capitol", "vitriol", "parasol", "gambol",
    "alcohol", "alcohols",
    # -ium
    "medium", "media", "equilibrium", "myocardium", "endometrium", "epithelium",
    "pericardium", "delirium", "atrium", "cranium", "premium", "stadium", "podium",
    "criterium", "millennium", "condominium", "auditorium", "crematorium", "sanatorium",
    "symposium", "gymnasium", "aquarium", "consortium", "moratorium", "planetarium",
    "solarium", "terrarium", "opium", "ileum", "endothelium", "mesothelium", "epicardium",
    "endocardium", "perineum", "peritoneum", "neurilemma", "perichondrium", "periosteum",
    "endosteum", "mycelium", "flagellum", "cilium", "operculum", "sporangium", "archegonium",
    "antheridium", "gametangium", "plasmodium", "trypanosomium", "bacterium", "mycobacterium",
    "clostridium", "cryptosporidium", "fusobacterium", "corynebacterium", "delphinium",
    "geranium", "trillium", "allium", "bellium", "tedium", "odium", "compendium", "encomium",
    "pandemonium", "harmonium", "tympanium", "calcanium", "labium", "ostium", "septum",
    "cerebellum", "paramecium", "palladium", "biennium", "triennium", "quadrennium",
    "opprobrium", "effluvium", "exordium", "colloquium", "pericranium", "neurocranium",
    "chondrocranium", "syncytium",
    # -ose
    "dose", "doses", "close", "those", "purpose", "purposes", "propose", "expose", "suppose",
    "lose", "nose", "rose", "pose", "whose", "diagnose", "overdose", "overdoses", "morose",
    "verbose", "adipose", "chose", "oppose", "compose", "decompose", "dispose", "impose",
    "transpose", "repose", "juxtapose", "interpose", "superimpose", "predispose", "enclose",
    "disclose", "foreclose", "hose", "prose", "glucosamine", "bellicose", "comatose",
    "grandiose", "otiose", "jocose", "varicose", "lachrymose", "underdose", "underdoses",
    "high-dose", "low-dose", "cellulose", "hemicellulose", "lignocellulose",
    # -ane
    "membrane", "membranes", "plane", "planes", "lane", "humane", "mundane", "insane",
    "cellophane", "crane", "arcane", "germane", "profane", "urbane", "hurricane", "inane",
    "airplane", "seaplane", "biplane", "sugarcane", "counterpane", "chicane", "cane", "mane",
    "pane", "vane", "wane", "thane", "transmembrane", "submembrane", "extramembrane",
    "intramembrane", "aeroplane",
    # -yl, -ene
    "gene", "genes", "scene", "scenes", "serene", "obscene", "intervene", "convene",
    "contravene", "hygiene", "kerosene", "gangrene", "polyene", "transgene", "oncogene",
    "oncogenes", "pathogene", "terrene", "nene", "style", "vinyl", "hyene", "sheryl",
    "beryl", "daryl", "meryl", "cheryl", "idyll", "protoxyl",
}

#: Elements, ions, gases, solvents and everyday compounds (lower case, may be multi-word).
CHEMICAL_NAMES = {
    "lithium", "sodium", "potassium", "calcium", "magnesium", "zinc", "iron", "copper",
    "mercury", "cadmium", "arsenic", "aluminum", "aluminium", "manganese", "cobalt", "nickel",
    "chromium", "selenium", "platinum", "barium", "strontium", "thallium", "bismuth",
    "gadolinium", "technetium", "iodine", "fluorine", "chlorine", "bromine", "fluoride",
    "chloride", "bromide", "iodide", "oxygen", "nitrogen", "hydrogen", "ozone", "ammonia",
    "ammonium", "nitric oxide", "nitrous oxide", "carbon monoxide", "carbon dioxide",
    "hydrogen peroxide", "hydrogen sulfide", "sulfur dioxide", "superoxide", "peroxide",
    "bicarbonate", "phosphate", "sulfate", "sulphate", "nitrate", "nitrite", "cyanide",
    "glucose", "fructose", "sucrose", "lactose", "galactose", "mannitol", "sorbitol",
    "glycerol", "ethanol", "methanol", "alcohol", "acetone", "chloroform", "formaldehyde",
    "benzene", "toluene", "xylene", "urea", "creatinine", "uric acid", "cholesterol",
    "triglycerides", "triglyceride", "caffeine", "nicotine", "cocaine", "heroin", "morphine",
    "cannabis", "marijuana", "amphetamine", "methamphetamine", "ecstasy", "opium", "insulin",
    "heparin", "warfarin", "aspirin", "paracetamol", "acetaminophen", "estrogen", "estrogens",
    "oestrogen", "oestrogens", "progesterone", "testosterone", "cortisol", "corticosterone",
    "dopamine", "serotonin", "noradrenaline", "norepinephrine", "adrenaline", "epinephrine",
    "acetylcholine", "histamine", "glutamate", "gaba", "glycine", "adenosine", "atp", "camp",
    "vitamin a", "vitamin b12", "vitamin b6", "vitamin c", "vitamin d", "vitamin e",
    "vitamin k", "folate", "folic acid", "retinoic acid", "steroid", "steroids",
}

#: Salt and ester words that extend the drug name before them ("morphine sulfate").
SALT_WORDS = {
    "sulfate", "sulphate", "hydrochloride", "chloride", "citrate", "maleate", "mesylate",
    "tartrate", "phosphate", "acetate", "succinate", "fumarate", "besylate", "bromide",
    "sodium", "potassium", "calcium", "hydrobromide", "lactate", "gluconate", "nitrate",
    "dipropionate", "propionate", "valerate", "benzoate", "decanoate", "palmitate", "dextran",
}

#: Units of a dose or a concentration.
DOSE_UNITS = {
    "mg", "g", "kg", "µg", "μg", "ug", "mcg", "microg", "microgram", "micrograms", "ng",
    "mmol", "µmol", "μmol", "umol", "nmol", "mol", "mm", "µm", "μm", "um", "nm", "ml", "l",
    "iu", "u", "units", "mg/kg", "mg/day", "g/day", "mg/m2", "mg/m(2",
}
#: Words that follow "dose of" or precede a dose but are not the drug.
NOT_DOSED = {
    "dose", "doses", "day", "days", "daily", "kg", "body", "weight", "the", "a", "an", "each",
    "drug", "drugs", "agent", "agents", "medication", "treatment", "therapy", "placebo",
    "vehicle", "saline", "bolus", "infusion", "injection", "injections", "single", "total",
    "mean", "median", "maximum", "minimum", "cumulative", "oral", "intravenous",
    "intraperitoneal", "subcutaneous", "and", "or", "with", "of", "to", "at", "in", "was",
    "were", "received", "given", "dosage", "dosages", "concentration", "concentrations",
    "rats", "mice", "patients", "group", "groups", "respectively", "once", "twice", "times",
    "either", "both", "after", "before", "during", "every", "per", "plus", "alone",
    "combination", "high", "low", "higher", "lower", "increasing", "dosing", "i",
    "p", "v", "s", "c", "mg", "h", "hr", "min", "weeks", "week", "months", "years",
}

# Disease vocabulary ------------------------------------------------------------------------

#: Suffixes of pathology words.
DISEASE_SUFFIXES = (
    "itis", "itides", "emia", "emias", "aemia", "aemias", "pathy", "pathies", "oma", "omas",
    "omata", "osis", "oses", "algia", "algias", "dynia", "plegia", "paresis", "trophy",
    "toxicity", "toxicities", "uria", "cardia", "cardias", "tension", "rrhea", "rrhoea",
    "rrhage", "rrhages", "penia", "cytosis", "plasia", "plasias", "kinesia", "kinesias",
    "taxia", "phasia", "praxia", "lepsy", "lepsies", "spasm", "spasms", "iasis", "edema",
    "oedema", "edemas", "phobia", "mania", "somnia", "pnea", "pnoea", "megaly", "ectasia",
    "ectasias", "rhythmia", "rhythmias", "tonia", "oxia", "thermia", "mnesia", "mentia",
    "rexia", "philia", "opia", "phagia", "esthesia", "aesthesia", "ataxia", "lysis",
    "sclerosis", "stenosis", "thrombosis", "embolism", "embolisms", "infarct", "infarcts",
)
#: Words with a pathology-like suffix that do not name a disease.
NOT_DISEASE_SUFFIX = {
    "diagnosis", "diagnoses", "prognosis", "prognoses", "dosis", "analysis", "analyses",
    "dialysis", "hemodialysis", "haemodialysis", "urinalysis", "hydrolysis", "glycolysis",
    "lipolysis", "proteolysis", "electrolysis", "catalysis", "autolysis", "photolysis",
    "thrombolysis", "fibrinolysis", "bacteriolysis", "stoma", "aroma", "diploma", "soma",
    "trauma", "stroma", "chroma", "plasma", "karma", "dogma", "stigma", "enigma",
    "apoptosis", "mitosis", "meiosis", "osmosis", "symbiosis", "exocytosis", "endocytosis",
    "phagocytosis", "pinocytosis", "transcytosis", "hypnosis", "anastomosis", "anastomoses",
    "homeostasis", "hemostasis", "haemostasis", "synthesis",
    "biosynthesis", "emphasis", "basis", "thesis", "hypothesis", "hypotheses", "parenthesis",
    "anesthesia", "anaesthesia", "analgesia", "esthesia", "kinesia", "extension", "attention",
    "intention", "retention", "detention", "contention", "prevention", "convention",
    "intervention", "interventions", "pretension", "distension", "abstention", "dimension",
    "dimensions", "tension", "tensions", "suspension", "suspensions", "comprehension",
    "apprehension", "pension", "normotension", "dystrophia",
    "genoma", "chiasma", "organism", "mechanism", "metabolism", "trophy", "utopia",
    "cornucopia", "biopsy", "autopsy", "necropsy", "mutagenicity", "pharmacotherapy", "empathy",
    "sympathy", "apathy", "telepathy", "osteopathy", "naturopathy", "homeopathy",
    "homoeopathy", "antipathy", "normokalemia", "normocalcemia", "normoglycemia",
    "euglycemia", "normothermia", "normoxia", "isotonia", "syntaxia", "ataraxia", "eupnea",
    "eupnoea", "diuresis", "natriuresis", "hyperpnea",
}

#: Single-word diseases and symptoms whose ending says nothing (or that the exceptions hide).
DISEASE_WORDS = {
    "melanoma", "carcinoma", "sarcoma", "lymphoma", "glaucoma", "hypertrophy", "atrophy",
    "stenosis", "sclerosis", "thrombosis", "embolism", "edema", "oedema", "asthma", "mania",
    "narcosis", "uremia", "cytotoxicity", "genotoxicity", "phototoxicity", "toxicity",
    "pain", "headache", "headaches", "migraine", "migraines", "nausea", "vomiting", "fever",
    "seizure", "seizures", "convulsion", "convulsions", "tremor", "tremors", "stroke",
    "strokes", "depression", "anxiety", "psychosis", "psychoses", "hallucination",
    "hallucinations", "delusions", "diarrhea", "diarrhoea", "constipation", "fatigue",
    "dizziness", "vertigo", "rash", "rashes", "jaundice", "cancer", "cancers", "tumor",
    "tumors", "tumour", "tumours", "obesity", "cataract", "cataracts", "ulcer", "ulcers",
    "hemorrhage", "haemorrhage", "hemorrhages", "bleeding", "catalepsy", "akathisia",
    "delirium", "coma", "dementia", "schizophrenia", "insomnia", "overdose", "overdoses",
    "infarction", "ischemia", "ischaemia", "hypoxia", "anoxia", "necrosis", "fibrosis",
    "cirrhosis", "apnea", "apnoea", "dyspnea", "dyspnoea", "syncope", "shock", "sepsis",
    "arrhythmia", "arrhythmias", "fibrillation", "dysrhythmia", "angina", "chorea",
    "myoclonus", "dystonia", "parkinsonism", "autism", "alcoholism", "hirsutism",
    "hypothyroidism", "hyperthyroidism", "hyperparathyroidism", "hypogonadism",
    "hyperaldosteronism", "priapism", "strabismus", "nystagmus", "tinnitus", "pruritus",
    "urticaria", "psoriasis", "eczema", "acne", "alopecia", "leukemia", "leukaemia",
    "diabetes", "epilepsy", "hyperactivity", "hypersensitivity", "infertility", "impotence",
    "incontinence", "malformation", "malformations", "anomaly", "anomalies", "aneurysm",
    "aneurysms", "infection", "infections", "inflammation", "allergy", "allergies",
    "hyperalgesia", "allodynia", "anorexia", "bulimia", "cachexia", "emaciation", "confusion",
    "agitation", "aggression", "aggressiveness", "hyperkinesia", "bradykinesia", "akinesia",
    "dyskinesia", "dyskinesias", "catatonia", "paranoia", "neurotoxicity", "hepatotoxicity",
    "nephrotoxicity", "cardiotoxicity", "ototoxicity", "myelotoxicity", "hematotoxicity",
    "thrombocytopenia", "neutropenia", "leukopenia", "pancytopenia", "agranulocytosis",
    "anaphylaxis", "preeclampsia", "eclampsia", "proteinuria", "hematuria", "albuminuria",
    "glycosuria", "polyuria", "oliguria", "anuria", "cyanosis", "hypotension", "hypertension",
    "tachycardia", "bradycardia", "paralysis", "palsy", "neuralgia", "myalgia", "arthralgia",
    "somnolence", "lethargy", "blindness", "deafness", "weakness", "amnesia",
}
#: Generic head nouns that end a disease name; the modifiers before them are part of it.
HEAD_NOUNS = {
    "syndrome", "syndromes", "disease", "diseases", "disorder", "disorders", "failure",
    "deficiency", "deficiencies", "injury", "injuries", "infarction", "infarctions",
    "insufficiency", "dysfunction", "dysfunctions", "tumor", "tumors", "tumour", "tumours",
    "cancer", "cancers", "carcinoma", "carcinomas", "neoplasm", "neoplasms", "damage",
    "lesion", "lesions", "block", "arrest", "impairment", "impairments", "degeneration",
    "malformation", "malformations", "abnormality", "abnormalities", "dependence", "abuse",
    "loss", "symptoms", "effusion", "retardation", "obstruction", "death", "infection",
    "infections", "rigidity",
}
#: Heads that need a modifier to name a disease ("renal failure" but not "failure").
HEADS_NEEDING_MODIFIER = {
    "syndrome", "syndromes", "disease", "diseases", "disorder", "disorders", "failure",
    "deficiency", "deficiencies", "injury", "injuries", "insufficiency", "dysfunction",
    "dysfunctions", "damage", "lesion", "lesions", "block", "arrest", "impairment",
    "impairments", "degeneration", "abnormality", "abnormalities", "dependence", "abuse",
    "loss", "symptoms", "effusion", "retardation", "rigidity", "obstruction", "death",
    "infection", "infections",
}
#: Heads that only name a disease after an anatomical or clinical qualifier ("renal damage").
HEADS_NEEDING_QUALIFIER = {"block", "damage", "lesion", "lesions", "loss", "symptoms", "death"}
#: Words that describe a mention rather than name the disease; they stop a head's modifiers.
NOT_MODIFIERS = {
    "known", "new", "recent", "possible", "suspected", "underlying", "severe", "mild",
    "moderate", "worsening", "likely", "probable", "documented", "active", "previous",
    "prior", "stable", "ongoing", "significant", "history", "background", "developed",
    "diagnosed", "treated", "confirmed", "excluded", "cause", "causes", "caused", "showed",
    "shows", "revealed", "grade", "avoid", "prevent", "risk", "reduce", "reduced", "patients",
    "patient", "induced", "associated", "related", "dose", "doses", "drug", "drugs",
    "treatment", "therapy", "clinical", "transient", "persistent", "fatal", "serious",
    "potential", "potentially", "common", "rare", "frequent", "other", "various", "several",
    "major", "minor", "marked", "profound", "life", "threatening", "onset",
    "case", "cases", "report", "reports", "rats", "rat", "mice", "mouse", "animals", "model",
    "models", "study", "studies", "group", "groups", "incidence", "development", "degree",
    "signs", "evidence", "type", "form", "forms", "state", "stage", "total",
    "overall", "increased", "increasing", "decreased", "high", "low", "higher", "lower",
    "early", "late", "delayed", "first", "second", "experimental", "secondary", "primary",
    "subsequent", "concomitant", "concurrent", "additional", "specific", "different",
    "similar", "such", "same", "this", "these", "those", "that", "which", "whose", "its",
    "their", "his", "her", "no", "any", "all", "both", "either", "neither", "more", "most",
    "less", "least", "much", "many", "few", "some", "each", "every", "further", "also",
    "only", "even", "still", "yet", "then", "thus", "therefore", "however", "although",
    "because", "due", "following", "after", "before", "during", "without", "with",
    "weight", "body", "blood", "cell", "cells", "tissue", "neuronal", "drug-induced",
    "advanced", "overt", "spontaneous", "deliberate", "permanent", "refractory", "sporadic",
    "complete", "fixed", "induce", "limiting", "canine", "human", "adult", "unified",
    "controlled", "induction", "produce", "produced", "exacerbate", "exacerbated",
    "inoperable", "preexisting", "pre-existing", "precipitous", "irreversible", "reversible",
    "reverse", "prevents", "evaluate", "fewer", "mean", "functional",
    "performance", "scattered", "female", "male", "anti",
}
#: Anatomical and clinical adjectives that belong to the disease name they qualify.
DISEASE_QUALIFIERS = {
    "acute", "chronic", "renal", "hepatic", "cardiac", "myocardial", "coronary",
    "ventricular", "atrial", "cerebral", "cerebellar", "pulmonary", "respiratory",
    "vascular", "cardiovascular", "cerebrovascular", "venous", "arterial", "optic",
    "ocular", "retinal", "visual", "auditory", "hemorrhagic", "haemorrhagic", "ischemic",
    "ischaemic", "hemolytic", "haemolytic", "aplastic", "megaloblastic", "cholestatic",
    "fulminant", "toxic", "interstitial", "tubular", "glomerular", "nephrotic", "nephrogenic",
    "diabetic", "hypertensive", "hypertrophic", "dilated", "congestive", "postoperative",
    "postpartum", "neonatal", "congenital", "autoimmune", "idiopathic", "malignant", "benign",
    "metastatic", "invasive", "bipolar", "psychotic", "depressive", "manic", "epileptic",
    "myoclonic", "tonic", "clonic", "focal", "generalized", "generalised", "partial",
    "spastic", "tardive", "extrapyramidal", "neuroleptic", "parkinsonian", "peripheral",
    "sensory", "motor", "autonomic", "spinal", "intracranial", "intracerebral",
    "subarachnoid", "gastrointestinal", "gastric", "duodenal", "peptic", "intestinal",
    "colonic", "rectal", "hepatocellular", "biliary", "pancreatic", "breast", "lung",
    "prostate", "prostatic", "ovarian", "endometrial", "cervical", "uterine", "vaginal",
    "bladder", "urinary", "testicular", "thyroid", "adrenal", "pituitary", "skin",
    "cutaneous", "dermal", "muscle", "muscular", "skeletal", "bone", "joint", "liver",
    "kidney", "heart", "brain", "nerve", "neural", "neurological", "neurologic", "cognitive",
    "mental", "sexual", "erectile", "allergic", "atopic", "infectious", "viral",
    "bacterial", "fungal", "septic", "thrombotic", "embolic", "necrotizing", "ulcerative",
    "erosive", "obstructive", "restrictive", "sudden", "systemic", "multiple", "diffuse",
    "lymphoblastic", "myeloid", "lymphocytic", "myelogenous", "hodgkin", "non-hodgkin",
    "cardiogenic", "hypovolemic", "anaphylactic", "anaphylactoid", "torsade", "torsades",
    "status", "sinus", "supraventricular", "paroxysmal", "essential", "portal", "intraocular",
    "macular", "corneal", "vestibular", "hearing",
    "memory", "movement", "mood", "panic", "eating", "sleep", "seizure", "convulsive",
    "febrile", "absence", "hepatotoxic", "nephrotoxic", "cardiotoxic", "neurotoxic",
    "proximal", "distal", "left", "right", "bundle", "branch", "valvular",
    "aortic", "mitral", "tricuspid", "lower", "upper", "chest", "abdominal", "back", "neck",
    "orofacial", "facial", "limb", "artery", "cell",
}
#: Words that follow "X-induced" but are effects, not diseases.
NOT_INDUCED_CONDITIONS = {
    "changes", "change", "increase", "increases", "decrease", "decreases", "reduction",
    "inhibition", "activation", "release", "expression", "effects", "effect", "responses",
    "response", "alterations", "alteration", "elevation", "elevations", "rise", "fall",
    "model", "models", "behavior", "behaviour", "behaviors", "behaviours", "activity",
    "stimulation", "suppression", "enhancement", "potentiation", "production", "formation",
    "accumulation", "uptake", "secretion", "synthesis", "levels", "level", "rats", "mice",
    "animals", "patients", "cells", "cell", "and", "or", "in", "by", "the", "a", "an",
    "was", "were", "is", "are", "at", "on", "of", "with", "to", "as", "locomotion",
    "locomotor", "hyperlocomotion", "sensitization", "tolerance", "cases", "case",
    "dopamine", "apoptosis", "contractions", "contraction", "relaxation", "vasodilation",
    "vasodilatation", "vasoconstriction", "diuresis", "natriuresis", "analgesia",
    "antinociception", "anesthesia", "sedation", "hypothermia", "c", "fos", "protein",
    "proteins", "mrna", "gene", "genes", "phosphorylation", "damage", "injury", "lesions",
    "toxicity", "disease", "syndrome", "disorder", "dysfunction", "impairment", "loss",
    "deficits", "abnormalities", "cytotoxicity", "death", "stereotypy", "stereotypies",
}

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

#: Pieces of systematic chemical names that may precede a drug or ending word in one word
#: ("6-hydroxydopamine", "N-methyl-D-aspartate", "alpha-tocopherol", "L-arginine").
_NAME_FRAGMENT = re.compile(
    r"^(?:[a-z]{1,2}|[0-9,.']+|alpha|beta|gamma|delta|epsilon|omega|cis|trans|all|iso|nor|"
    r".*(?:methyl|ethyl|propyl|butyl|phenyl|benzyl|acetyl|hydroxy|amino|chloro|fluoro|bromo|"
    r"iodo|nitro|oxo|thio|deoxy|hydro|carboxy|methoxy|ethoxy|oxy|yl))$"
)
#: Words after a chemical name that make it part of an enzyme or protein name.
_ENZYME_WORDS = {
    "synthase", "synthetase", "kinase", "transferase", "aminotransferase", "transaminase",
    "oxidase", "reductase", "dehydrogenase", "hydroxylase", "esterase", "phosphatase",
    "decarboxylase", "transporter", "transporters", "deaminase", "phosphokinase",
}


def _word_start(doc, i):
    """First token of the whitespace-delimited word that token ``i`` belongs to."""
    while i > 0 and not doc[i - 1].whitespace_:
        i -= 1
    return i


def _word_end(doc, i):
    """One past the last token of the whitespace-delimited word of token ``i``."""
    while i < len(doc) - 1 and not doc[i].whitespace_:
        i += 1
    return i + 1


def _strip_brackets(doc, start, end):
    """Shrink ``[start, end)`` past brackets and punctuation at either edge."""
    while start < end and (doc[start].is_punct or doc[start].is_bracket):
        start += 1
    while end > start and (doc[end - 1].is_punct or doc[end - 1].is_bracket):
        end -= 1
    return start, end


def has_drug_stem(word):
    """True when a lower-case word carries a drug-name stem and is not a known exception."""
    if word in NOT_DRUG_STEMS or not word.isalpha():
        return False
    if word.startswith("cef") and len(word) > 6:
        return True
    return any(len(word) > len(stem) + 2 and word.endswith(stem) for stem in DRUG_STEMS)


def has_chemical_ending(word):
    """True when a lower-case word has a chemist's ending and is not an everyday word."""
    if len(word) < 6 or not word.isalpha() or word in NOT_CHEMICAL_ENDINGS:
        return False
    if word.endswith("s") and word[:-1] in NOT_CHEMICAL_ENDINGS:
        return False
    return word.endswith(CHEMICAL_ENDINGS)


def is_chemical_word(word):
    """True for words that look like a chemical by stem, ending or the name list."""
    return word in CHEMICAL_NAMES or has_drug_stem(word) or has_chemical_ending(word)


def has_disease_suffix(word):
    """True when a lower-case word ends like a pathology term (colitis, hyponatremia...)."""
    if len(word) < 6 or not word.isalpha() or word in NOT_DISEASE_SUFFIX:
        return False
    return word.endswith(DISEASE_SUFFIXES)


def is_disease_word(word):
    """True for single words that name a disease by suffix or by the word list."""
    return word in DISEASE_WORDS or has_disease_suffix(word)


def _is_compound_part(tok):
    """True for a word that can stand in a multi-word chemical name ("calcium chloride")."""
    low = tok.lower_
    return tok.is_alpha and not tok.is_upper and (
        is_chemical_word(low) or low in SALT_WORDS or (low.endswith("yl") and len(low) > 4)
    )


def _chemical_phrase(doc, i):
    """The chemical name around word token ``i``, or None when it names an enzyme.

    Extends over systematic-name prefixes joined to it ("6-hydroxydopamine") and over
    neighbouring chemical words ("calcium chloride", "cytosine arabinoside").
    """
    start, end = i, i + 1
    while end < len(doc) and _is_compound_part(doc[end]) and not doc[end - 1].is_punct:
        end += 1
    while start > 0 and _is_compound_part(doc[start - 1]) and doc[start - 1].whitespace_:
        start -= 1
    if end < len(doc) and doc[end].lower_ in _ENZYME_WORDS:
        return None
    # systematic-name prefixes written in the same word: "N-methyl-D-", "6-", "alpha-"
    first = _word_start(doc, start)
    j = start
    while j > first:
        piece = doc[j - 1]
        if piece.text in {"-", ",", "(", ")", "[", "]"} or _NAME_FRAGMENT.match(piece.lower_):
            j -= 1
            continue
        return None if piece.is_alpha and piece.lower_ in NOT_AGENTS else (start, end)
    j, _ = _strip_brackets(doc, j, start)
    if j < start and any(t.is_bracket for t in doc[j:start]):
        return start, end  # an unbalanced bracket fragment
    return j, end


def _is_word_token(doc, tok):
    """True when the token is a whole word or the last piece of a hyphenated one."""
    last = tok.whitespace_ or tok.i + 1 == len(doc) or not doc[tok.i + 1].is_alpha
    return tok.is_alpha and bool(last)


# --------------------------------------------------------------------------------------------
# Chemical rules
# --------------------------------------------------------------------------------------------


def _chemical_words(doc, test):
    """Yield the chemical phrase around every word for which ``test(lower_word)`` holds."""
    last_end = -1
    for tok in doc:
        if tok.i < last_end or tok.is_upper or not _is_word_token(doc, tok):
            continue
        if test(tok.lower_):
            phrase = _chemical_phrase(doc, tok.i)
            if phrase:
                last_end = phrase[1]
                yield phrase


@labelling_function(label="Chemical")
def chemical_drug_stem(doc):
    """Words carrying a drug-name stem: amlodipine, valsartan, clonazepam, ketoprofen."""
    yield from _chemical_words(doc, has_drug_stem)


@labelling_function(label="Chemical")
def chemical_ending(doc):
    """Words with a chemist's ending (-ine, -ide, -ate, -one, -ol, -ium, -ose, -ane)."""
    yield from _chemical_words(doc, lambda w: has_chemical_ending(w) and not has_drug_stem(w))


_LONGEST_NAME = max(len(name.split()) for name in CHEMICAL_NAMES)


@labelling_function(label="Chemical")
def chemical_name_word(doc):
    """Elements, ions, gases and everyday compounds: lithium, ammonia, nitric oxide."""
    i = 0
    while i < len(doc):
        for size in range(_LONGEST_NAME, 0, -1):
            span = doc[i:i + size]
            if len(span) == size and span.text.lower() in CHEMICAL_NAMES:
                if span[0].is_upper and len(span[0]) > 1 and span.text != "GABA":
                    break  # "CAMP", "ATP" in capitals are left to the abbreviation rules
                phrase = _chemical_phrase(doc, i) if size == 1 else (i, i + size)
                if phrase:
                    yield phrase
                    i = phrase[1] - 1
                break
        i += 1


@labelling_function(label="Chemical")
def chemical_acid(doc):
    """An "-ic"/"-ous" word (with its hyphenated prefixes) followed by "acid": valproic acid."""
    for tok in doc[1:]:
        if tok.lower_ not in {"acid", "acids"}:
            continue
        prev = doc[tok.i - 1]
        if prev.is_alpha and prev.lower_.endswith(("ic", "ous")) and len(prev) > 4:
            if prev.lower_ in {"amino", "fatty", "nucleic", "bile"}:
                continue
            yield _word_start(doc, prev.i), tok.i + 1


@labelling_function(label="Chemical")
def chemical_induced(doc):
    """The hyphenated word before "-induced", "-treated", ...: cocaine-induced, (METH)-induced."""
    for tok in doc[2:]:
        if tok.lower_ not in AGENT_CUES:
            continue
        hyphen = doc[tok.i - 1]
        if hyphen.text != "-" or hyphen.whitespace_ or doc[tok.i - 2].whitespace_:
            continue
        start, end = _strip_brackets(doc, _word_start(doc, tok.i - 2), tok.i - 1)
        if start >= end:
            continue
        words = [t.lower_ for t in doc[start:end] if t.is_alpha]
        if not words or words[-1] in NOT_AGENTS or words[0] in NOT_AGENTS:
            continue
        if any(is_disease_word(w) or w in _NOT_INDUCERS for w in words):
            continue
        if any(t.is_bracket for t in doc[start:end]) or doc[start:end].text.lower() in DOSE_UNITS:
            continue  # an unbalanced fragment such as "Ca(2"
        yield start, end


def _dosed_word(doc, i):
    """The chemical phrase at token ``i`` when it can be the thing dosed, else None."""
    tok = doc[i]
    low = tok.lower_
    if not tok.is_alpha or tok.is_stop or low in NOT_DOSED or len(tok) < 3:
        return None
    if is_disease_word(low) or low in _ENZYME_WORDS:
        return None
    if low.endswith(_NOT_CHEMICAL_WORD_ENDINGS) and not is_chemical_word(low):
        return None
    return _chemical_phrase(doc, i)


#: Words followed by "of" and what is dosed: "5 mg/kg of X", "doses of X".
_DOSE_HEADS = {"kg", "mg", "g", "dose", "doses", "µg", "μg", "mmol", "ml"}


@labelling_function(label="Chemical")
def chemical_dose(doc):
    """What a dose is given of: "haloperidol (1 mg/kg)", "5 mg/kg of cocaine", "doses of X"."""
    for tok in doc[1:]:
        # "X (10 mg/kg" or "X 10 mg"
        if tok.like_num and tok.i + 1 < len(doc) and doc[tok.i + 1].lower_ in DOSE_UNITS:
            before = tok.i - 1
            if doc[before].text == "(":
                before -= 1
            if before >= 0:
                found = _dosed_word(doc, before)
                if found:
                    yield found
        # "mg/kg of X", "mg of X", "doses of X"
        if tok.lower_ == "of" and tok.i + 1 < len(doc) and doc[tok.i - 1].lower_ in _DOSE_HEADS:
            found = _dosed_word(doc, tok.i + 1)
            if found:
                yield found


_CODE_NAME = re.compile(r"^(?:[A-Z]{2,5}[- ]?\d{3,6}[A-Za-z]?|[A-Z]{2,5}\d{2,6})$")
#: Measures and strains that look like code names ("ED50", "F344").
_NOT_CODE_NAME = re.compile(r"^(?:[A-Z]?[A-Z]D\d+|IC\d+|EC\d+|SF\d+|[A-Z]\d+)$")


#: Words after a code that make it a cell line, a strain or a receptor.
_NOT_AFTER_CODE_NAME = {"cells", "cell", "rats", "mice", "receptor", "receptors"}


@labelling_function(label="Chemical")
def chemical_code_name(doc):
    """Laboratory code names: capitals then a number, "KF17837", "SM-5887", "NIK-247"."""
    for tok in doc:
        if not tok.is_upper or not tok.is_alpha and not tok.text.isalnum():
            continue
        if tok.i > 0 and not doc[tok.i - 1].whitespace_ and doc[tok.i - 1].text not in "([":
            continue  # not the start of a word
        start, end = _strip_brackets(doc, tok.i, _word_end(doc, tok.i))
        text = doc[start:end].text if start < end else ""
        if _CODE_NAME.match(text) and not _NOT_CODE_NAME.match(text):
            if end < len(doc) and doc[end].lower_ in _NOT_AFTER_CODE_NAME:
                continue
            yield start, end


# --------------------------------------------------------------------------------------------
# Disease rules
# --------------------------------------------------------------------------------------------

#: Words that may follow a disease name and belong to it ("diabetes insipidus", "hepatitis B").
_AFTER_DISEASE = {
    "insipidus", "mellitus", "epilepticus", "erythematosus", "multiforme", "pectoris",
    "nodosum", "vulgaris", "nervosa", "gravis", "tarda", "simplex", "zoster",
}


def _qualified(doc, i):
    """The span of disease word ``i`` with its clinical qualifiers and Latin complements."""
    start = i
    while start > 0 and start > i - 3 and doc[start - 1].lower_ in DISEASE_QUALIFIERS:
        start -= 1
    end = i + 1
    hepatitis_type = doc[i].lower_ == "hepatitis" and end < len(doc) and doc[end].text in "ABCDE"
    hepatitis_type = hepatitis_type and len(doc[end]) == 1
    if end < len(doc) and (doc[end].lower_ in _AFTER_DISEASE or hepatitis_type):
        end += 1
    return start, end


@labelling_function(label="Disease")
def disease_suffix(doc):
    """Pathology words (uveitis, hypokalemia) with their qualifiers: "optic neuropathy"."""
    for tok in doc:
        low = tok.lower_
        if tok.is_alpha and low not in HEAD_NOUNS and is_disease_word(low):
            yield _qualified(doc, tok.i)


def _modifiers_before(doc, head, max_words=3):
    """Start of the modifiers before token ``head`` ("acute renal", "Parkinson 's")."""
    start, words, j = head, 0, head - 1
    while j >= 0 and words < max_words:
        prev = doc[j]
        possessive = prev.text in {"'s", "'", "’s"} and j > 0
        if possessive and doc[j - 1].is_alpha and doc[j - 1].is_title:
            start, j, words = j - 1, j - 2, words + 1  # Parkinson's disease
            continue
        if prev.text == "-" and not prev.whitespace_ and j > 0 and not doc[j - 1].whitespace_:
            if doc[j - 1].is_alpha and doc[j - 1].lower_ not in NOT_MODIFIERS:
                start, j = j - 1, j - 2  # milk-alkali syndrome: one word
                continue
            break
        low = prev.lower_
        if prev.is_alpha and not prev.is_stop and low not in NOT_MODIFIERS and len(low) > 2:
            if is_chemical_word(low) and low not in DISEASE_QUALIFIERS:
                break  # "cocaine toxicity": the chemical is not part of the disease
            start, words, j = j, words + 1, j - 1
            continue
        break
    return start


@labelling_function(label="Disease")
def disease_head_noun(doc):
    """A disease head noun with its modifiers: acute renal failure, Parkinson's disease."""
    for tok in doc:
        low = tok.lower_
        if low not in HEAD_NOUNS:
            continue
        start = _modifiers_before(doc, tok.i)
        if low in HEADS_NEEDING_QUALIFIER and doc[tok.i - 1].lower_ not in DISEASE_QUALIFIERS:
            continue
        if start < tok.i or low not in HEADS_NEEDING_MODIFIER:
            end = _qualified(doc, tok.i)[1]
            yield start, end


def _disease_at(doc, start):
    """The disease phrase that begins exactly at ``start``, if one does within three words."""
    for k in range(start, min(start + 3, len(doc))):
        tok = doc[k]
        if not tok.is_alpha or tok.is_stop:
            return None
        low = tok.lower_
        if low in HEAD_NOUNS:
            first = _modifiers_before(doc, k)
            if first == start and (first < k or low not in HEADS_NEEDING_MODIFIER):
                return start, _qualified(doc, k)[1]
            return None
        if is_disease_word(low):
            first, end = _qualified(doc, k)
            if end < len(doc) and doc[end].lower_ in HEAD_NOUNS:
                return None  # "-induced hepatitis syndrome": left to the head-noun rule
            return (start, end) if first == start else None
        if low not in DISEASE_QUALIFIERS:
            return None
    return None


@labelling_function(label="Disease")
def disease_after_induced(doc):
    """The condition after "X-induced": haloperidol-induced catalepsy, -induced liver injury."""
    for tok in doc[1:-1]:
        if tok.lower_ == "induced" and doc[tok.i - 1].text == "-":
            found = _disease_at(doc, tok.i + 1)
            if found:
                yield found


# --------------------------------------------------------------------------------------------
# Context rules: evidence from the words around a mention, not from its spelling
# --------------------------------------------------------------------------------------------

#: Word pairs after which a chemical is named: "administration of X", "treated with X".
CHEMICAL_CUES_BEFORE = {
    ("administration", "of"), ("administrations", "of"), ("treated", "with"),
    ("treatment", "with"), ("pretreatment", "with"), ("pretreated", "with"),
    ("therapy", "with"), ("dose", "of"), ("doses", "of"), ("injection", "of"),
    ("injections", "of"), ("infusion", "of"), ("infusions", "of"), ("induced", "by"),
    ("produced", "by"), ("patients", "receiving"), ("combination", "with"),
    ("toxicity", "of"), ("exposure", "to"), ("intake", "of"), ("ingestion", "of"),
    ("overdose", "of"), ("overdoses", "of"), ("withdrawal", "of"), ("concentrations", "of"),
    ("levels", "of"), ("infused", "with"), ("injected", "with"), ("intoxication", "with"),
    ("poisoning", "with"), ("bolus", "of"), ("course", "of"), ("mg", "of"), ("kg", "of"),
    ("amounts", "of"), ("addition", "of"), ("supplementation", "with"), ("receiving", "either"),
}
#: Words after which a chemical is named: "intravenous X", "received X".
CHEMICAL_CUE_WORDS_BEFORE = {
    "intravenous", "intraperitoneal", "subcutaneous", "intramuscular", "intrathecal",
    "oral", "topical", "systemic", "intracerebroventricular", "received", "receiving",
    "plus", "versus",
}
#: Words after a chemical: "X administration", "X overdose", "X-treated".
CHEMICAL_CUES_AFTER = {
    "administration", "infusion", "infusions", "overdose", "overdosage", "supplementation",
    "pretreatment", "intake", "consumption", "intoxication", "poisoning", "injection",
    "injections", "ingestion", "withdrawal", "alone", "dosage", "monotherapy",
}
#: Words that stand where a chemical is expected but are not one.
NOT_CONTEXT_CHEMICALS = NOT_DOSED | NOT_AGENTS | {
    "use", "their", "its", "this", "these", "that", "other", "such", "various", "two",
    "three", "one", "different", "repeated", "chronic", "acute", "prolonged", "long", "short",
    "term", "continuous", "intermittent", "prophylactic", "adjuvant", "standard", "usual",
    "conventional", "maintenance", "replacement", "gene", "cell", "antiretroviral",
    "antiepileptic", "antipsychotic", "antihypertensive", "anticancer", "antitumor",
    "cytotoxic", "immunosuppressive", "tocolytic", "thrombolytic", "anticoagulant", "medical",
    "surgical", "nursing", "inpatient", "outpatient", "hospital", "clinical", "care",
    "study", "trial", "trials", "subjects", "volunteers", "women", "men", "children",
    "infants", "adults", "elderly", "dogs", "cats", "rabbits", "monkeys", "animals",
    "either", "whom", "half", "all", "none", "test", "tests", "water", "food",
    "oxygen", "radiation", "levels", "concentrations", "plasma", "serum", "tissue", "brain",
    "liver", "kidney", "heart", "blood", "urine", "cerebrospinal", "fluid", "muscle",
    "intravenous", "intraperitoneal", "subcutaneous", "intramuscular", "oral", "topical",
    "systemic", "weekly", "monthly", "hourly", "nightly", "bolus", "sustained",
    "extended", "release", "immediate", "equal", "equivalent", "increasing", "escalating",
    "graded", "cumulative", "subsequent", "prior", "previous", "concomitant", "chemotherapy",
    "radiotherapy", "anesthesia", "anaesthesia", "surgery", "general", "regional", "spinal",
    "epidural", "caudal", "local", "light", "dark",
}


#: Tokens after which a capitalised word may just open a sentence or a bracket.
_SENTENCE_OPENERS = {".", "(", ":", ";", "?", "!"}


def _context_chemical(doc, i):
    """The chemical phrase at token ``i`` when the word could be a chemical name, else None."""
    if i < 0 or i >= len(doc):
        return None
    tok = doc[i]
    low = tok.lower_
    if not tok.is_alpha or tok.is_stop or len(low) < 3 or low in NOT_CONTEXT_CHEMICALS:
        return None
    if is_disease_word(low) or low in HEAD_NOUNS or low in _ENZYME_WORDS:
        return None
    if tok.is_title and i > 0 and doc[i - 1].text not in _SENTENCE_OPENERS:
        return None  # a capitalised word inside a sentence: a name or a title, rarely a chemical
    if low.endswith(_NOT_CHEMICAL_WORD_ENDINGS) and not is_chemical_word(low):
        return None
    return _chemical_phrase(doc, i)


@labelling_function(label="Chemical")
def chemical_context(doc):
    """A word where the sentence expects a chemical: "administration of X", "X infusion"."""
    for tok in doc[1:]:
        pair = (doc[tok.i - 1].lower_, tok.lower_)
        if pair in CHEMICAL_CUES_BEFORE or tok.lower_ in CHEMICAL_CUE_WORDS_BEFORE:
            found = _context_chemical(doc, tok.i + 1)
            if found:
                yield found
        if tok.lower_ in CHEMICAL_CUES_AFTER:
            prev = tok.i - 1
            if doc[prev].text == "-" and prev > 0:
                prev -= 1
            found = _context_chemical(doc, prev)
            if found and found[1] == prev + 1:
                yield found


#: Words after which a disease is named: "patients with X", "incidence of X".
DISEASE_CUES_BEFORE = {
    ("patients", "with"), ("patient", "with"), ("women", "with"), ("men", "with"),
    ("children", "with"), ("subjects", "with"), ("cases", "of"), ("case", "of"),
    ("incidence", "of"), ("risk", "of"), ("history", "of"), ("evidence", "of"),
    ("symptoms", "of"), ("signs", "of"), ("occurrence", "of"), ("episodes", "of"),
    ("episode", "of"), ("development", "of"), ("onset", "of"), ("treatment", "of"),
    ("therapy", "for"), ("models", "of"), ("model", "of"), ("prevention", "of"),
    ("suffering", "from"), ("diagnosed", "with"), ("complicated", "by"),
    ("presenting", "with"), ("presented", "with"), ("manifested", "by"), ("prevalence", "of"),
    ("frequency", "of"), ("severity", "of"), ("pathogenesis", "of"), ("rates", "of"),
    ("rate", "of"), ("who", "developed"), ("resulted", "in"), ("resulting", "in"),
    ("leading", "to"), ("led", "to"), ("associated", "with"), ("caused", "by"),
}
#: Single words after which a disease is named: "developed X", "induce X".
DISEASE_CUE_WORDS_BEFORE = {
    "developed", "develop", "induce", "induces", "caused", "causes", "cause",
}
#: Words after a disease: "X occurred", "X resolved".
DISEASE_CUES_AFTER = {"occurred", "resolved", "persisted", "recurred"}
#: Words that may open a phrase after a disease cue but are not part of the disease.
NOT_CONTEXT_DISEASE = NOT_MODIFIERS | NOT_CONTEXT_CHEMICALS | {
    "adverse", "side", "events", "event", "effects", "effect", "reactions", "reaction",
    "complications", "outcome", "outcomes", "mortality", "morbidity", "changes", "change",
    "problems", "response", "improvement", "recovery", "lack", "absence", "presence",
    "increase", "decrease", "elevation", "reduction", "levels", "values", "function",
    "activity", "tests", "test", "count", "counts", "time", "times", "period", "symptoms",
    "decreases", "increases", "significantly", "rejection", "normalization", "micturition",
    "states", "state", "relations", "episodes", "combinations", "discontinuations",
    "alterations", "exacerbation", "recall", "tolerance", "strategies", "valves",
}


def _context_disease(doc, start):
    """The disease phrase starting at ``start`` after a cue: up to three words, no stop word."""
    end = start
    while end < len(doc) and end < start + 3 and doc[end].is_alpha and not doc[end].is_stop:
        end += 1
    if end == start or doc[start].lower_ in NOT_CONTEXT_DISEASE:
        return None
    words = [t.lower_ for t in doc[start:end]]
    if any(is_chemical_word(w) for w in words) or words[-1] in NOT_CONTEXT_DISEASE:
        return None
    if end < len(doc) and (doc[end].is_alpha or doc[end].text == "-") and not doc[end].is_stop:
        return None  # the phrase goes on: its end is unclear
    if any(t.is_title for t in doc[start:end]) and doc[start - 1].text not in _SENTENCE_OPENERS:
        return None
    if words[-1].endswith(("al", "ic", "ive", "ous", "ed", "ing", "ly", "ary")):
        return None  # an adjective without its noun
    return start, end


@labelling_function(label="Disease")
def disease_context(doc):
    """A noun phrase where the sentence expects a disease: "patients with X", "X occurred"."""
    for tok in doc[1:-1]:
        pair = (doc[tok.i - 1].lower_, tok.lower_)
        if pair in DISEASE_CUES_BEFORE or tok.lower_ in DISEASE_CUE_WORDS_BEFORE:
            found = _context_disease(doc, tok.i + 1)
            if found:
                yield found
        prev = doc[tok.i - 1]
        if tok.lower_ in DISEASE_CUES_AFTER and prev.is_alpha and not prev.is_stop:
            start = tok.i - 1
            while start > tok.i - 3 and doc[start - 1].is_alpha and not doc[start - 1].is_stop:
                start -= 1
            while start < tok.i and doc[start].lower_ in NOT_CONTEXT_DISEASE:
                start += 1
            if start < tok.i and not any(is_chemical_word(t.lower_) for t in doc[start:tok.i]):
                yield start, tok.i


# --------------------------------------------------------------------------------------------
# Abbreviations (both labels)
# --------------------------------------------------------------------------------------------

_ABBREVIATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,9}$")


def _abbreviations(doc):
    """Yield ``(open, start, end)`` for each "( ABBR )": token offsets of the bracket content."""
    for tok in doc[1:]:
        if tok.text != "(":
            continue
        close = tok.i + 1
        while close < len(doc) and close < tok.i + 5 and doc[close].text != ")":
            close += 1
        if close >= len(doc) or doc[close].text != ")" or close == tok.i + 1:
            continue
        text = doc[tok.i + 1:close].text
        if _ABBREVIATION.match(text) and any(ch.isupper() for ch in text) and len(text) > 1:
            yield tok.i, tok.i + 1, close


def _occurrences(doc, start, end):
    """Every token span of ``doc`` with the same words as ``doc[start:end]``, as whole words."""
    words = [t.text for t in doc[start:end]]
    size = len(words)
    for i in range(len(doc) - size + 1):
        if doc[i].text == words[0] and [t.text for t in doc[i:i + size]] == words:
            left_ok = i == 0 or doc[i - 1].whitespace_ or not doc[i - 1].is_alpha
            right_ok = (
                i + size == len(doc) or doc[i + size - 1].whitespace_ or not doc[i + size].is_alpha
            )
            if left_ok and right_ok:
                yield i, i + size


def _long_form(doc, open_bracket, abbreviation):
    """Schwartz-Hearst: the shortest words before the bracket whose letters spell the abbreviation.

    The long form may not cross punctuation, a stop word or an "-induced" cue.
    """
    letters = [ch.lower() for ch in abbreviation if ch.isalnum()]
    if not letters or not letters[0].isalpha():
        return None
    max_words = min(len(letters) + 5, 2 * len(letters))
    first, words = open_bracket, 0
    while first > 0 and words < max_words:
        first -= 1
        tok = doc[first]
        if tok.is_stop or tok.lower_ in AGENT_CUES or tok.text in {",", ";", ":", ".", ")", "("}:
            return None
        if tok.is_alpha or tok.like_num:
            words += 1
        at_word_start = first == 0 or doc[first - 1].whitespace_ or doc[first - 1].text == "-"
        if tok.lower_.startswith(letters[0]) and at_word_start:
            text = doc[first:open_bracket].text.lower()
            pos = 0
            for ch in letters:  # every letter of the abbreviation, in order
                pos = text.find(ch, pos)
                if pos < 0:
                    break
                pos += 1
            else:
                return first
    return None


def _type_of_phrase(doc, start, end):
    """Chemical or Disease for a phrase judged by its last word, else None."""
    last = doc[end - 1].lower_
    if last in HEAD_NOUNS or is_disease_word(last):
        return "Disease"
    if is_chemical_word(last) or last in {"acid", "oxide"} or last in SALT_WORDS:
        return "Chemical"
    return None


@labelling_function()
def abbreviation_definition(doc):
    """"long form (ABBR)" typed by the long form's head; the ABBR keeps that type everywhere."""
    for open_bracket, start, end in _abbreviations(doc):
        first = _long_form(doc, open_bracket, doc[start:end].text)
        if first is None:
            continue
        label = _type_of_phrase(doc, first, open_bracket)
        if label is None:
            continue
        yield first, open_bracket, label
        for s, e in _occurrences(doc, start, end):
            yield s, e, label


@labelling_function()
def abbreviation_of_labelled(doc):
    """"long form (ABBR)" whose long form an earlier function labelled: "nitric oxide (NO)"."""
    ends = {}
    for name, group in doc.spans.items():
        if name == "abbreviation_of_labelled":
            continue
        for span in group:
            ends.setdefault(span.end, []).append(span)
    for open_bracket, start, end in _abbreviations(doc):
        spans = ends.get(open_bracket)
        if not spans:
            continue
        abbreviation = doc[start:end].text
        initials = {t.lower_[:1] for s in spans for t in s if t.is_alpha}
        if abbreviation[0].lower() not in initials and not abbreviation[0].isdigit():
            continue
        label = Counter(s.label_ for s in spans).most_common(1)[0][0]
        for s, e in _occurrences(doc, start, end):
            yield s, e, label
