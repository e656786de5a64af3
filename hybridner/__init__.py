"""hybridner: custom named-entity recognisers without hand-annotated data.

Lexicons and rules (labelling functions) vote through an HMM aggregator into
noisy training spans; a spaCy NER model trained on them generalises beyond the
rules.

>>> import hybridner
>>> ner = hybridner.load("runs/v1/model")  # doctest: +SKIP
>>> for record in ner.annotate(["Metformin was stopped."]):  # doctest: +SKIP
...     record["entities"]
"""

__version__ = "0.1.0"

from .aggregation import HMMAggregator, MajorityAggregator, load_aggregator
from .annotation import AnnotationTask, select_documents, write_tasks
from .bootstrap import (
    BootstrapResult,
    TrainResult,
    WeakLabels,
    bootstrap,
    train_shards,
    weak_label,
)
from .corpus import read_gold, read_texts
from .errors import (
    AggregationError,
    CorpusError,
    HybridNERError,
    LexiconError,
    NotFittedError,
    OutputError,
    RuleError,
    TrainingError,
)
from .diagnostics import Diagnostics, diagnose, load_diagnostics
from .evaluation import Scores, gold_layers, score_entities
from .inference import NERModel, load
from .labelling import LabellingFunction, labelling_function, load_rules, regex_rule
from .lexicons import Gazetteer, Lexicon, lexicon_functions, load_lexicons

__all__ = [
    "__version__",
    # the pipeline
    "bootstrap",
    "weak_label",
    "train_shards",
    "TrainResult",
    "BootstrapResult",
    "WeakLabels",
    # labelling functions
    "labelling_function",
    "regex_rule",
    "load_rules",
    "LabellingFunction",
    "load_lexicons",
    "lexicon_functions",
    "Lexicon",
    "Gazetteer",
    # aggregation
    "HMMAggregator",
    "MajorityAggregator",
    "load_aggregator",
    # data and scores
    "read_texts",
    "read_gold",
    "score_entities",
    "Scores",
    # rule diagnostics
    "diagnose",
    "gold_layers",
    "load_diagnostics",
    "Diagnostics",
    # inference
    "load",
    "NERModel",
    # active annotation
    "select_documents",
    "write_tasks",
    "AnnotationTask",
    # errors
    "HybridNERError",
    "LexiconError",
    "RuleError",
    "CorpusError",
    "AggregationError",
    "NotFittedError",
    "TrainingError",
    "OutputError",
]
