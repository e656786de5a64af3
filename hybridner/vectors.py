"""Domain word vectors learned from the unlabelled corpus, offline (floret).

floret (fastText with Bloom-embedded subwords) gives every word a vector, also
words it never saw, from a compact table; spaCy's NER uses them as static
vectors next to its hashed embeddings. :func:`train_floret_vectors` trains them
on the corpus texts, tokenised exactly as the model will see them, and saves a
spaCy vectors pipeline (what ``spacy init vectors --mode floret`` writes) that
:func:`hybridner.training.train_model` takes as ``vectors``.

floret is an optional dependency: ``pip install "hybridner[vectors]"``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.tokens import Doc
from spacy.training.initialize import convert_vectors

from .errors import HybridNERError

__all__ = ["FloretSettings", "check_vectors", "require_floret", "train_floret_vectors"]

logger = logging.getLogger("hybridner")


@dataclass
class FloretSettings:
    """floret's training settings (see the floret documentation).

    The defaults suit corpora of 10^5-10^7 tokens: a 50,000-row hash table
    with each word and subword stored in 2 rows, subwords of 3-6 characters,
    skip-gram, one thread (so the same corpus gives the same vectors).
    """

    dim: int = 100
    epochs: int = 20
    min_count: int = 1
    minn: int = 3
    maxn: int = 6
    bucket: int = 50_000
    hash_count: int = 2
    model: str = "skipgram"
    threads: int = 1


def require_floret():
    """The floret module, or a clear error saying how to install it."""
    try:
        import floret
    except ImportError as err:
        raise HybridNERError(
            "training floret vectors needs the floret package: pip install \"hybridner[vectors]\" "
            "(or pip install floret), or pass the path of existing spaCy vectors instead"
        ) from err
    return floret


def train_floret_vectors(
    docs: Iterable[Doc],
    output_dir: str | Path,
    *,
    lang: str = "en",
    settings: FloretSettings | None = None,
) -> Path:
    """Train floret vectors on tokenised documents; save a spaCy vectors pipeline.

    Returns ``output_dir``, which ``spacy.load`` opens and whose
    ``vocab.vectors`` are in floret mode.

    >>> train_floret_vectors(weak.docs, "runs/vectors")  # doctest: +SKIP
    """
    floret = require_floret()
    settings = settings or FloretSettings()
    output_dir = Path(output_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hybridner-floret-") as tmp:
        text_path = Path(tmp) / "corpus.txt"
        n_tokens = 0
        with text_path.open("w", encoding="utf8") as handle:
            for doc in docs:
                words = [t.text for t in doc if not t.is_space]
                if words:
                    handle.write(" ".join(words) + "\n")
                    n_tokens += len(words)
        if n_tokens == 0:
            raise HybridNERError("no text to train vectors on: the corpus has no tokens")
        logger.info("training floret vectors (dim %d) on %d tokens", settings.dim, n_tokens)
        model = floret.train_unsupervised(
            str(text_path), model=settings.model, mode="floret", dim=settings.dim,
            epoch=settings.epochs, minCount=settings.min_count, minn=settings.minn,
            maxn=settings.maxn, bucket=settings.bucket, hashCount=settings.hash_count,
            thread=settings.threads, verbose=0,
        )
        vectors_path = Path(tmp) / "vectors.floret"
        model.save_floret_vectors(str(vectors_path))
        nlp = spacy.blank(lang)
        convert_vectors(nlp, vectors_path, truncate=0, prune=-1, mode="floret", name="hybridner_floret")
    if output_dir.exists():
        shutil.rmtree(output_dir)
    nlp.to_disk(output_dir)
    logger.info("floret vectors saved to %s in %.1f s", output_dir, time.perf_counter() - started)
    return output_dir


def check_vectors(path: str | Path) -> Path:
    """Check ``path`` holds spaCy vectors (a pipeline folder with a vocab); return it."""
    path = Path(path)
    if not (path / "vocab" / "vectors").exists():
        raise HybridNERError(
            f"{path}: no spaCy vectors there (expected a folder written by `spacy init vectors` "
            "or by hybridner, with vocab/vectors inside); pass --vectors floret to train some on "
            "the corpus"
        )
    return path
