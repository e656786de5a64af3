"""Bootstrap's stage cache, and its labelling stage on several processes.

A rerun of :func:`hybridner.bootstrap` after a small change redoes only what the
change touches. Each stage's output is stored under a key, the sha256 of
everything that stage's output depends on:

* **labelling**, one entry per labelling function: the function's own
  fingerprint (a gazetteer's terms, label and case; a regex rule's pattern,
  flags, label and alignment; a Python rule's module file and the rule folder's
  helper modules, ``_*.py`` and ``__init__.py``), the corpus texts, the language
  and tokeniser. A rule whose source reads ``doc.spans`` (the spans of the
  functions before it) also depends on the keys of every function before it.
  Stored as JSON: per document, ``start, end, label`` token offsets;
* **training**: the training and dev documents themselves (tokens, entities and
  missing regions), the seed, epochs, language, tokeniser and vectors. Stored
  as a copy of ``model/``, ``corpus/`` and ``config.cfg``, with a manifest of
  their sha256 sums, so a rule change that leaves the aggregated labels as they
  were reuses the trained model.

Every key also holds a fingerprint of hybridner's own source and spaCy's
version. The aggregator is refitted at every run (seconds), and evaluation and
the report are redone. Entries are written under a temporary name and renamed
into place; an entry that does not read back whole (truncated, edited, wrong
shape) is logged, deleted and rebuilt. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from .corpus import make_docs
from .errors import HybridNERError
from .labelling import (
    SOURCE_SHA256,
    FunctionRule,
    LabellingFunction,
    RegexRule,
    _chunks,
    apply_functions,
)
from .lexicons import Gazetteer, cache_root
from .training import TrainingResult, train_model

__all__ = ["StageCache", "default_cache_dir", "label_documents", "cached_train_model"]

logger = logging.getLogger("hybridner")

#: Bump when an entry's layout changes.
FORMAT = 1
#: The trained models kept; the least recently used beyond are removed.
KEEP_MODELS = 5
#: The labelling entries kept (one per function and corpus).
KEEP_SPANS = 500
_TMP = re.compile(r"\.tmp-(\d+)-")
_READS_SPANS = re.compile(r"\.spans\b|\bspans\s*\[")


def default_cache_dir() -> Path | None:
    """The stage cache's folder, or None when caching is turned off.

    ``$HYBRIDNER_CACHE_DIR/stages`` if that variable is set (empty or ``off``
    turns the cache off, as for the gazetteers' cache), else
    ``$XDG_CACHE_HOME/hybridner/stages`` or ``~/.cache/hybridner/stages``.
    """
    root = cache_root()
    return None if root is None else root / "stages"


def _sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf8")).hexdigest()


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """sha256 of hybridner's source files and templates, with spaCy's version."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(spacy.__version__.encode())
    for path in sorted([*root.glob("*.py"), *root.glob("templates/*")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of a sequence of texts (their order and boundaries included)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def docs_digest(docs: Sequence[Doc]) -> str:
    """sha256 of what training reads of documents: tokens, spaces, entities, missing."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(len(doc).to_bytes(8, "little"))
        digest.update(doc.to_array(["ORTH", "SPACY", "ENT_IOB", "ENT_TYPE"]).tobytes())
    return digest.hexdigest()


def folder_digest(path: str | Path) -> str:
    """sha256 of a file, or of every file in a folder with its relative path."""
    path = Path(path)
    if path.is_file():
        return _file_sha(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_file_sha(item).encode())
    return digest.hexdigest()


def function_fingerprint(function: LabellingFunction) -> tuple[dict[str, Any] | None, bool]:
    """What a labelling function's spans depend on, and whether it reads other spans.

    ``None`` when it cannot be known (no source file): the function is then run
    at every run.
    """
    base = {"class": type(function).__qualname__, "name": function.name,
            "label": function.label, "candidate": bool(function.candidate)}
    if isinstance(function, Gazetteer):
        terms = hashlib.sha256("\n".join(function.lexicon.terms).encode("utf8")).hexdigest()
        return base | {"terms": terms, "case_sensitive": function.case_sensitive}, False
    if isinstance(function, RegexRule):
        return base | {"pattern": function.pattern.pattern, "flags": function.pattern.flags,
                       "alignment": function.alignment}, False
    target: Any = function.func if isinstance(function, FunctionRule) else type(function)
    try:
        source = inspect.getsourcefile(target)
    except TypeError:
        source = None
    if source is None or not Path(source).is_file():
        return None, True
    path = Path(source).resolve()
    files = [path] + sorted(
        p for p in path.parent.glob("*.py") if p != path and p.name.startswith("_")
    )
    texts = [p.read_bytes() for p in files]
    reads = any(_READS_SPANS.search(t.decode("utf8", "replace")) for t in texts)
    digests = {p.name: hashlib.sha256(t).hexdigest() for p, t in zip(files, texts)}
    # a rule file edited since it was imported in this process still runs its old source
    module = sys.modules.get(getattr(target, "__module__", ""))
    imported = getattr(module, SOURCE_SHA256, None)
    if imported is not None:
        digests[path.name] = imported
    return base | {"files": digests}, reads


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tmp_name(stem: str) -> str:
    """A temporary name that says which process owns it (see :func:`is_stale`)."""
    return f"{stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_stale(path: Path) -> bool:
    """Whether ``path`` is a temporary name of a process that is gone (killed)."""
    match = _TMP.search(path.name)
    return match is not None and not _pid_alive(int(match.group(1)))


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


class StageCache:
    """A folder of stage outputs keyed by the sha256 of their inputs.

    >>> cache = StageCache(default_cache_dir())  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise HybridNERError(
                f"{self.root}: the stage cache must be a folder; pass another --cache-dir "
                "or --no-cache"
            )
        self.spans_dir = self.root / "labelling"
        self.models_dir = self.root / "training"
        self.spans_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.clean()

    @staticmethod
    def key(stage: str, inputs: dict[str, Any]) -> str:
        return _sha({"stage": stage, "format": FORMAT, "code": code_fingerprint(), **inputs})

    def clean(self) -> None:
        """Remove temporary entries left by killed runs, and the least recently used."""
        for folder in (self.spans_dir, self.models_dir):
            for path in folder.iterdir():
                if is_stale(path):
                    logger.info("removing %s, left by an interrupted run", path)
                    _remove(path)
        for folder, keep in ((self.spans_dir, KEEP_SPANS), (self.models_dir, KEEP_MODELS)):
            entries = [p for p in folder.iterdir() if ".tmp-" not in p.name]
            entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
            for path in entries[keep:]:
                _remove(path)

    def _drop(self, path: Path, why: str) -> None:
        logger.warning("stage cache entry %s is unusable (%s); rebuilding it", path, why)
        _remove(path)

    # -- labelling -----------------------------------------------------------
    def get_spans(self, key: str, lengths: Sequence[int]) -> list[list[tuple[int, int, str]]] | None:
        """One function's spans per document, or None when absent or unusable."""
        path = self.spans_dir / f"{key}.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text("utf8"))
            labels, rows = data["labels"], data["docs"]
            if data.get("format") != FORMAT or data.get("key") != key:
                raise ValueError("another format or key")
            if len(rows) != len(lengths):
                raise ValueError(f"{len(rows)} documents, the corpus has {len(lengths)}")
            out = []
            for flat, length in zip(rows, lengths):
                spans = [(flat[j], flat[j + 1], labels[flat[j + 2]]) for j in range(0, len(flat), 3)]
                if len(flat) % 3 or any(
                    not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= length)
                    for s, e, _ in spans
                ):
                    raise ValueError("span offsets outside their document")
                out.append(spans)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            self._drop(path, f"{type(err).__name__}: {err}")
            return None
        path.touch()
        return out

    def put_spans(self, key: str, spans: Sequence[Sequence[tuple[int, int, str]]]) -> None:
        labels: dict[str, int] = {}
        rows = []
        for doc_spans in spans:
            flat: list[int] = []
            for start, end, label in doc_spans:
                flat += [start, end, labels.setdefault(label, len(labels))]
            rows.append(flat)
        data = {"format": FORMAT, "key": key, "labels": list(labels), "docs": rows}
        self._write_file(self.spans_dir / f"{key}.json", json.dumps(data, separators=(",", ":")))

    def _write_file(self, path: Path, text: str) -> None:
        tmp = path.parent / tmp_name(path.name)
        try:
            with tmp.open("w", encoding="utf8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as err:
            _remove(tmp)
            logger.warning("could not write the stage cache entry %s: %s", path, err)

    # -- training ------------------------------------------------------------
    def get_model(self, key: str, output_dir: Path) -> dict[str, Any] | None:
        """Copy a trained model's files into ``output_dir``; its metadata, or None."""
        entry = self.models_dir / key
        if not entry.is_dir():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text("utf8"))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                raise ValueError("another format or key")
            files = meta["files"]
            if "config.cfg" not in files or not any(n.startswith("model/") for n in files):
                raise ValueError("the manifest lacks the model or its config")
            for name, sha in files.items():
                if _file_sha(entry / name) != sha:
                    raise ValueError(f"{name} does not match its checksum")
            output_dir.mkdir(parents=True, exist_ok=True)
            for name in ("model", "corpus"):
                if (output_dir / name).exists():
                    shutil.rmtree(output_dir / name)
                shutil.copytree(entry / name, output_dir / name)
            shutil.copy2(entry / "config.cfg", output_dir / "config.cfg")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self._drop(entry, f"{type(err).__name__}: {err}")
            return None
        os.utime(entry)
        return meta

    def put_model(self, key: str, output_dir: Path, meta: dict[str, Any]) -> None:
        entry = self.models_dir / key
        tmp = self.models_dir / tmp_name(key)
        try:
            tmp.mkdir()
            for name in ("model", "corpus"):
                shutil.copytree(output_dir / name, tmp / name)
            shutil.copy2(output_dir / "config.cfg", tmp / "config.cfg")
            files = {
                p.relative_to(tmp).as_posix(): _file_sha(p)
                for p in sorted(tmp.rglob("*")) if p.is_file()
            }
            meta = meta | {"format": FORMAT, "key": key, "files": files}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf8")
            if entry.exists():
                _remove(entry)
            os.rename(tmp, entry)
        except OSError as err:
            _remove(tmp)
            logger.warning("could not keep the trained model in the stage cache %s: %s", entry, err)


# ------------------------------------------------------------------ labelling


@dataclass
class _Segment:
    """Consecutive functions that are all run, or all read from the cache."""

    functions: list[LabellingFunction]
    cached: list[list[list[tuple[int, int, str]]]] | None = None


@dataclass
class _LabelJob:
    """Tokenise and label a batch of records; return the spans of the functions run."""

    nlp: Language
    segments: list[_Segment]
    batch_size: int = 256

    def label(self, docs: list[Doc], offset: int) -> None:
        for segment in self.segments:
            if segment.cached is None:
                for _doc in apply_functions(
                    segment.functions, docs, log_every=0, batch_size=self.batch_size
                ):
                    pass
                continue
            for function, table in zip(segment.functions, segment.cached, strict=True):
                for i, doc in enumerate(docs):
                    doc.spans[function.name] = [
                        Span(doc, s, e, label=label) for s, e, label in table[offset + i]
                    ]

    @property
    def run_names(self) -> list[str]:
        return [f.name for s in self.segments if s.cached is None for f in s.functions]

    def __call__(self, item: tuple[int, list[dict[str, Any]]]) -> dict[str, list[list[tuple]]]:
        offset, records = item
        docs = list(make_docs(self.nlp, records))
        self.label(docs, offset)
        return {name: _spans_of(docs, name) for name in self.run_names}


def _spans_of(docs: Sequence[Doc], name: str) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.label_) for s in doc.spans[name]] for doc in docs]


_JOB: _LabelJob | None = None


def _init_worker(job: _LabelJob | None) -> None:
    global _JOB
    if job is not None:
        _JOB = job
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_job(item: tuple[int, list[dict[str, Any]]]) -> dict[str, list[list[tuple]]]:
    assert _JOB is not None, "worker started without a labelling job"
    return _JOB(item)


@dataclass
class LabellingStats:
    """Which functions the labelling stage ran and which it read from the cache."""

    run: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def label_documents(
    functions: Sequence[LabellingFunction],
    records: Sequence[dict[str, Any]],
    nlp: Language,
    *,
    cache: StageCache | None = None,
    settings: dict[str, Any] | None = None,
    n_process: int = 1,
    batch_size: int = 256,
) -> tuple[list[Doc], LabellingStats]:
    """Tokenise ``records`` and label them with ``functions``, in order.

    Functions whose spans for these texts are in ``cache`` are not run; the
    others run, on ``n_process`` worker processes when asked (the workers send
    back token offsets, never ``Doc`` objects), and their spans are stored.
    ``settings`` are the tokeniser settings the spans depend on. The documents
    are the same whatever the cache holds and whatever ``n_process``.
    """
    if n_process < 1:
        raise HybridNERError(f"n_process must be at least 1, got {n_process}")
    docs = list(make_docs(nlp, records))
    lengths = [len(doc) for doc in docs]
    keys: list[str | None] = [None] * len(functions)
    cached: list[list[list[tuple[int, int, str]]] | None] = [None] * len(functions)
    if cache is not None:
        corpus = texts_digest([r["text"] for r in records])
        upstream: list[str | None] = []
        for i, function in enumerate(functions):
            fingerprint, reads = function_fingerprint(function)
            if fingerprint is not None and not (reads and None in upstream):
                keys[i] = cache.key("labelling", {
                    "function": fingerprint, "corpus": corpus, "settings": settings or {},
                    "upstream": upstream if reads else [],
                })
                cached[i] = cache.get_spans(keys[i], lengths)
            upstream.append(keys[i])
    segments: list[_Segment] = []
    for function, table in zip(functions, cached):
        kind = table is not None
        if segments and (segments[-1].cached is not None) == kind:
            segments[-1].functions.append(function)
            if kind:
                segments[-1].cached.append(table)  # type: ignore[union-attr]
        else:
            segments.append(_Segment([function], [table] if kind else None))
    job = _LabelJob(nlp, segments, batch_size)
    stats = LabellingStats(
        run=job.run_names,
        reused=[f.name for s in segments if s.cached is not None for f in s.functions],
    )
    logger.info(
        "labelling %d documents: %d function(s) to run, %d from the stage cache",
        len(docs), len(stats.run), len(stats.reused),
    )
    if stats.run and n_process > 1:
        _label_in_workers(job, docs, records, n_process, batch_size)
    else:
        started, logged = time.perf_counter(), 0
        for offset, chunk in _offsets(docs, batch_size):
            job.label(chunk, offset)
            done = offset + len(chunk)
            if done - logged >= 1000:
                logged = done
                logger.info("labelled %d of %d documents (%.0f docs/s)", done, len(docs),
                            done / max(time.perf_counter() - started, 1e-9))
    if cache is not None:
        for i, function in enumerate(functions):
            if keys[i] is not None and cached[i] is None:
                cache.put_spans(keys[i], _spans_of(docs, function.name))  # type: ignore[arg-type]
    return docs, stats


def _offsets(items: Sequence[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    offset = 0
    for chunk in _chunks(items, size):
        yield offset, chunk
        offset += len(chunk)


def _label_in_workers(
    job: _LabelJob, docs: list[Doc], records: Sequence[dict[str, Any]], n_process: int,
    batch_size: int,
) -> None:
    import multiprocessing

    # imported here: streaming builds on bootstrap, which builds on this module
    from .streaming import ordered_map

    global _JOB
    # batches small enough to keep every worker busy; the result does not depend on them
    size = max(1, min(batch_size, -(-len(records) // (4 * n_process))))
    job = _LabelJob(job.nlp, job.segments, size)
    items = ((offset, [{"id": r["id"], "text": r["text"]} for r in chunk])
             for offset, chunk in _offsets(records, size))
    initargs = (None,) if "fork" in multiprocessing.get_all_start_methods() else (job,)
    previous, _JOB = _JOB, job
    try:
        for (offset, chunk), result in zip(
            _offsets(docs, size),
            ordered_map(_run_job, items, n_process=n_process, initializer=_init_worker,
                        initargs=initargs),
            strict=True,
        ):
            # the spans read from the cache and those the workers found, in function order
            for segment in job.segments:
                for position, name in enumerate(f.name for f in segment.functions):
                    for i, doc in enumerate(chunk):
                        spans = (result[name][i] if segment.cached is None
                                 else segment.cached[position][offset + i])
                        doc.spans[name] = [Span(doc, s, e, label=lab) for s, e, lab in spans]
            logger.debug("labelled %d of %d documents", offset + len(chunk), len(docs))
    finally:
        _JOB = previous


# ------------------------------------------------------------------ training


def cached_train_model(
    cache: StageCache | None,
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    *,
    output_dir: Path,
    lang: str,
    seed: int,
    max_epochs: int,
    tokenizer: str,
    vectors: str | Path | None = None,
) -> tuple[TrainingResult, bool]:
    """:func:`hybridner.training.train_model`, or its earlier result for the same inputs.

    Returns the result and whether it came from the cache.
    """
    options = {"lang": lang, "seed": seed, "max_epochs": max_epochs, "tokenizer": tokenizer}
    if cache is None:
        return train_model(train_docs, dev_docs, output_dir=output_dir, vectors=vectors, **options), False
    started = time.perf_counter()
    key = cache.key("training", options | {
        "train": docs_digest(train_docs), "dev": docs_digest(dev_docs),
        "vectors": None if vectors is None else folder_digest(vectors),
    })
    meta = cache.get_model(key, output_dir)
    if meta is not None:
        try:
            nlp = spacy.load(output_dir / "model")
        except Exception as err:  # noqa: BLE001 - any failure to load means: retrain
            cache._drop(cache.models_dir / key, f"spaCy cannot load it: {err}")
        else:
            if vectors is not None and not (output_dir / "vectors").exists():
                shutil.copytree(vectors, output_dir / "vectors")
            logger.info("reusing the trained model from the stage cache (%s)", key[:12])
            return TrainingResult(
                nlp=nlp, model_path=output_dir / "model", config_path=output_dir / "config.cfg",
                best_score=meta["best_score"], history=meta["history"],
                seconds=time.perf_counter() - started,
            ), True
    result = train_model(train_docs, dev_docs, output_dir=output_dir, vectors=vectors, **options)
    cache.put_model(key, output_dir, {"best_score": result.best_score, "history": result.history,
                                      "seconds": result.seconds})
    return result, False
