"""Labelling functions: the objects that put weak labels on documents.

A labelling function takes a spaCy :class:`~spacy.tokens.Doc` and writes the spans
it finds to ``doc.spans[<its name>]``, spaCy's own data model (as skweak does).
Three kinds ship with hybridner:

* Python functions decorated with :func:`labelling_function`;
* declarative regular expressions made by :func:`regex_rule`;
* lexicon gazetteers (see :mod:`hybridner.lexicons`).

Rule files are plain Python modules; :func:`load_rules` imports them by path and
collects every labelling function they define.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from .errors import RuleError

__all__ = [
    "DocBatch",
    "LabellingFunction",
    "FunctionRule",
    "RegexRule",
    "labelling_function",
    "regex_rule",
    "load_rules",
    "apply_functions",
    "check_label",
    "doc_name",
]

logger = logging.getLogger("hybridner")

#: What a labelling function may yield for one entity.
SpanLike = Union[Span, tuple[int, int], tuple[int, int, str]]

_BILU_PREFIX = re.compile(r"^[BILU]-")
#: The label of untyped candidate spans.
CANDIDATE = "CANDIDATE"
# (file, function name) -> line of the definition that first used the name there
_REGISTRY: dict[tuple[str, str], int] = {}


def doc_name(doc: Doc) -> str:
    """Describe a document for error messages: its id when the corpus gave one."""
    doc_id = doc.user_data.get("id") if doc.user_data else None
    if doc_id is not None:
        return f"document {doc_id!r}"
    return f"document starting {doc.text[:40]!r}"


def check_label(label: object, where: str) -> str:
    """Return ``label`` if spaCy's NER and the aggregator can use it, else raise.

    Allowed: a non-empty string without whitespace, other than ``O`` or ``-``, not
    starting with a tagging prefix such as ``B-``.

    >>> check_label("Drug", "rules.py")
    'Drug'
    """
    problem = None
    if not isinstance(label, str):
        problem = f"a {type(label).__name__}, not a string"
    elif not label:
        problem = "empty"
    elif any(ch.isspace() for ch in label):
        problem = "contains whitespace"
    elif label in {"O", "-"}:
        problem = "reserved by the tagging scheme"
    elif _BILU_PREFIX.match(label):
        problem = "starts with a tagging prefix (B-, I-, L-, U-)"
    if problem:
        raise RuleError(
            f"{where}: label {label!r} cannot be used ({problem}); use a name such as "
            "'Drug' or 'ORG_NAME' (letters, digits, '_' or '-', no spaces)"
        )
    return label  # type: ignore[return-value]


def _register(name: str, filename: str, lineno: int) -> None:
    """Refuse a second definition in the same file that reuses a function name.

    Definitions in different files are checked when they are used together (by
    :func:`load_rules` and :func:`apply_functions`); redefining a function at the
    same place (re-importing a module) is allowed.
    """
    previous = _REGISTRY.get((filename, name))
    if previous is not None and previous != lineno:
        raise RuleError(
            f"{filename} line {lineno}: a labelling function named {name!r} is already "
            f"defined at line {previous} of this file; give one of them another name with name=..."
        )
    _REGISTRY[(filename, name)] = lineno


#: Module attribute: the sha256 of a rule file's source when it was imported.
SOURCE_SHA256 = "__hybridner_source_sha256__"

#: ``doc.user_data`` key of the text a Doc was made from (set by hybridner.corpus.make_docs).
TEXT_KEY = "hybridner:text"


class DocBatch:
    """Documents labelled together, and what their labelling functions share.

    The text of a ``Doc`` is rebuilt from its tokens at every ``doc.text``; a
    batch computes it once for all functions (``texts``), and keeps other
    per-document values the functions share (``shared``), such as the
    whitespace-free view every gazetteer matches against.
    """

    __slots__ = ("docs", "_texts", "_shared", "_memo")

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = list(docs)
        self._texts: list[str] | None = None
        self._shared: dict[str, list[Any]] = {}
        self._memo: dict[str, Any] = {}

    @property
    def texts(self) -> list[str]:
        if self._texts is None:
            # the text a Doc was made from, when hybridner made it (Doc.text is
            # rebuilt token by token at every call)
            self._texts = [doc.user_data.get(TEXT_KEY) or doc.text for doc in self.docs]
        return self._texts

    def memo(self, key: str, make: Callable[[DocBatch], Any]) -> Any:
        """``make(batch)``, computed once per batch and key."""
        if key not in self._memo:
            self._memo[key] = make(self)
        return self._memo[key]

    def shared(self, key: str, make: Callable[[Doc], Any]) -> list[Any]:
        """``make(doc)`` for every document, computed once per batch and key."""
        values = self._shared.get(key)
        if values is None:
            values = self._shared[key] = [make(doc) for doc in self.docs]
        return values


#: A labelling function may yield at most this many spans per token of a document
#: (plus :data:`MAX_SPANS_EXTRA`): more is taken for an endless generator.
MAX_SPANS_PER_TOKEN = 10
MAX_SPANS_EXTRA = 100


def max_spans(doc: Doc) -> int:
    """The most spans one labelling function may yield on ``doc`` (see :data:`MAX_SPANS_PER_TOKEN`)."""
    return MAX_SPANS_PER_TOKEN * len(doc) + MAX_SPANS_EXTRA


class LabellingFunction:
    """Base class of all labelling functions.

    Subclasses implement :meth:`find`. Calling the object on a ``Doc`` validates
    what ``find`` yields, keeps the longest of overlapping spans and stores the
    result in ``doc.spans[self.name]``.
    """

    kind = "function"
    #: Untyped candidate functions do not vote: tokens they cover that no confident
    #: entity covers are left unannotated ("missing") in training.
    candidate = False

    def __init__(self, name: str, label: str | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RuleError(f"labelling function name must be a non-empty string, got {name!r}")
        self.name = name
        self.label = None if label is None else check_label(label, f"labelling function {name!r}")

    def find(self, doc: Doc) -> Iterable[SpanLike]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def labels(self) -> list[str]:
        """The labels this function is known to produce (empty when it yields its own)."""
        return [self.label] if self.label else []

    def label_batch(self, batch: DocBatch) -> None:
        """Label every document of a batch (subclasses scan batches faster)."""
        for doc in batch.docs:
            self(doc)

    def __call__(self, doc: Doc) -> Doc:
        limit = max_spans(doc)
        try:
            found = []
            for item in self.find(doc):
                found.append(item)
                if len(found) > limit:
                    raise RuleError(
                        f"labelling function {self.name!r} yielded more than {limit:,} spans on "
                        f"{doc_name(doc)} ({len(doc)} tokens; the limit is {MAX_SPANS_PER_TOKEN} "
                        f"per token plus {MAX_SPANS_EXTRA}); look for an endless loop or "
                        "generator in the function, or yield fewer, longer spans"
                    )
        except RuleError:
            raise
        except Exception as err:
            raise RuleError(
                f"labelling function {self.name!r} raised {type(err).__name__}: {err} "
                f"on {doc_name(doc)}; fix the function or catch the error inside it"
            ) from err
        spans = [self._to_span(doc, item) for item in found]
        doc.spans[self.name] = filter_spans(spans)
        return doc

    def _to_span(self, doc: Doc, item: Any) -> Span:
        where = f"labelling function {self.name!r} on {doc_name(doc)}"
        if isinstance(item, Span):
            if item.doc is not doc:
                raise RuleError(f"{where}: yielded a Span of another document")
            start, end, label = item.start, item.end, item.label_ or None
        elif isinstance(item, tuple) and len(item) in (2, 3):
            start, end = item[0], item[1]
            label = item[2] if len(item) == 3 else None
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
                raise RuleError(
                    f"{where}: yielded {item!r}; token offsets must be integers "
                    "(start, end) or (start, end, label)"
                )
        else:
            hint = ""
            if item is None:
                hint = (
                    " (doc.char_span returns None when the character offsets do not fall on "
                    "token boundaries: pass alignment_mode='expand' or check for None)"
                )
            raise RuleError(
                f"{where}: yielded {item!r} ({type(item).__name__}){hint}; yield a spaCy Span "
                "or token offsets (start, end) / (start, end, label)"
            )
        if start >= end:
            raise RuleError(
                f"{where}: yielded reversed or empty offsets ({start}, {end}); "
                "end must be greater than start (end is exclusive)"
            )
        if start < 0 or end > len(doc):
            raise RuleError(
                f"{where}: yielded offsets ({start}, {end}) outside the document's "
                f"{len(doc)} tokens; offsets are token indices, not characters"
            )
        label = label or self.label
        if label is None:
            raise RuleError(
                f"{where}: yielded a span without a label and the function has none; "
                "pass label=... to the decorator or yield (start, end, label)"
            )
        check_label(label, where)
        return Span(doc, start, end, label=label)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, label={self.label!r})"


def _load_member(path: str | None, module: str, qualname: str) -> Any:
    """Find a rule again in a worker process (pickle support for rules loaded by path)."""
    if module not in sys.modules and path is not None:
        _import_file(Path(path))
    obj: Any = sys.modules[module] if module in sys.modules else importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class FunctionRule(LabellingFunction):
    """A labelling function written as Python code (see :func:`labelling_function`)."""

    def __init__(
        self,
        func: Callable[[Doc], Iterable[SpanLike]],
        name: str,
        label: str | None,
        *,
        candidate: bool = False,
    ):
        if candidate and label is None:
            label = CANDIDATE
        super().__init__(name, label)
        self.candidate = candidate
        self.func = func
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__
        self.__qualname__ = func.__qualname__
        self.__wrapped__ = func

    def find(self, doc: Doc) -> Iterable[SpanLike]:
        result = self.func(doc)
        if result is None:
            return []
        return result

    def __reduce__(self) -> Any:
        # Pickled by reference, like any module-level function; rule files imported
        # by path are imported again from their path in the receiving process.
        module = sys.modules.get(self.__module__)
        path = getattr(module, "__file__", None)
        return (_load_member, (path, self.__module__, self.__qualname__))


def labelling_function(
    *args: Any, label: str | None = None, name: str | None = None, candidate: bool = False
):
    """Turn a function ``doc -> spans`` into a named labelling function.

    The function receives a spaCy ``Doc`` and yields spaCy ``Span`` objects or token
    offsets ``(start, end)`` / ``(start, end, label)``. ``label`` may be omitted when
    the function yields its own labels; ``name`` defaults to the function's name.
    With ``candidate=True`` the function marks *untyped candidates* instead of
    voting: phrases that are probably some entity, left unannotated in training
    where no confident entity covers them.

    >>> @labelling_function(label="Dose")
    ... def doses(doc):
    ...     for tok in doc[:-1]:
    ...         if tok.like_num and doc[tok.i + 1].lower_ == "mg":
    ...             yield tok.i, tok.i + 2
    """
    if args:
        target = getattr(args[0], "__name__", repr(args[0]))
        raise RuleError(
            f"@labelling_function used without parentheses on {target!r}; write "
            "@labelling_function(label='Drug') (or @labelling_function() when the "
            "function yields its own labels)"
        )

    def decorate(func: Callable[[Doc], Iterable[SpanLike]]) -> FunctionRule:
        if not callable(func):
            raise RuleError(f"@labelling_function must decorate a function, got {func!r}")
        rule_name = name if name is not None else func.__name__
        rule = FunctionRule(func, rule_name, label, candidate=candidate)
        code = getattr(func, "__code__", None)
        if code is not None:
            _register(rule_name, code.co_filename, code.co_firstlineno)
        return rule

    return decorate


class RegexRule(LabellingFunction):
    """A declarative regular-expression rule (see :func:`regex_rule`)."""

    kind = "regex"

    def __init__(
        self,
        name: str,
        pattern: str | re.Pattern[str],
        label: str,
        *,
        flags: int = 0,
        alignment: Literal["expand", "contract", "strict"] = "expand",
    ) -> None:
        if label is None:
            raise RuleError(f"regex rule {name!r}: a label is required")
        super().__init__(name, label)
        if alignment not in ("expand", "contract", "strict"):
            raise RuleError(
                f"regex rule {name!r}: alignment={alignment!r}; use 'expand', 'contract' or 'strict'"
            )
        try:
            self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        except re.error as err:
            raise RuleError(f"regex rule {name!r}: invalid pattern {pattern!r}: {err}") from err
        self.alignment = alignment

    def label_batch(self, batch: DocBatch) -> None:
        """Scan the batch's texts (computed once for all rules) and store the spans."""
        name = self.name
        for doc, text in zip(batch.docs, batch.texts, strict=True):
            spans = list(self._spans(doc, text))
            doc.spans[name] = filter_spans(spans) if len(spans) > 1 else spans

    def find(self, doc: Doc) -> Iterator[Span]:
        return self._spans(doc, doc.text)

    def _spans(self, doc: Doc, text: str) -> Iterator[Span]:
        for match in self.pattern.finditer(text):
            start, end = match.span()
            if start == end:  # a pattern that can match the empty string
                continue
            span = doc.char_span(start, end, alignment_mode=self.alignment)
            if span is None:
                continue
            # never start or end a span on whitespace tokens
            first, last = span.start, span.end
            while first < last and doc[first].is_space:
                first += 1
            while last > first and doc[last - 1].is_space:
                last -= 1
            if first < last:
                yield Span(doc, first, last, label=self.label)

    def __repr__(self) -> str:
        return f"RegexRule(name={self.name!r}, pattern={self.pattern.pattern!r}, label={self.label!r})"


def regex_rule(
    name: str,
    pattern: str | re.Pattern[str],
    label: str,
    *,
    flags: int = 0,
    alignment: Literal["expand", "contract", "strict"] = "expand",
) -> RegexRule:
    """Make a labelling function from a regular expression.

    Matches are searched in the document's text and aligned to spaCy tokens:
    ``"expand"`` (default) takes every token the match touches, ``"contract"``
    only the tokens wholly inside it, ``"strict"`` drops matches that do not start
    and end on token boundaries. Empty matches and whitespace-only spans are
    skipped, so a pattern that can match the empty string is safe.

    >>> dose = regex_rule("dose", r"\\d+(\\.\\d+)? ?mg\\b", "Dose")
    """
    frame = sys._getframe(1)
    rule = RegexRule(name, pattern, label, flags=flags, alignment=alignment)
    _register(name, frame.f_code.co_filename, frame.f_lineno)
    return rule


def _unique_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode("utf8")).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem if path.suffix else path.name)
    return f"hybridner_rules_{stem}_{digest}"


def _exec_module(module_name: str, path: Path, *, package_dir: Path | None = None) -> Any:
    """Execute the Python file ``path`` as module ``module_name``; errors name file and line."""
    search = [str(package_dir)] if package_dir is not None else None
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=search
    )
    if spec is None or spec.loader is None:
        raise RuleError(f"{path}: cannot be imported as a Python rule file")
    resolved = path.resolve()
    module = importlib.util.module_from_spec(spec)
    # the source actually run: the stage cache keys a rule's spans by it, even when
    # the file is edited after this import (rule modules are imported once per process)
    with contextlib.suppress(OSError):
        module.__dict__[SOURCE_SHA256] = hashlib.sha256(path.read_bytes()).hexdigest()
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        del sys.modules[module_name]
        raise RuleError(
            f"{err.filename or path} line {err.lineno}: syntax error in rule file: {err.msg}; "
            "fix the Python syntax there"
        ) from err
    except Exception as err:
        del sys.modules[module_name]
        tb = err.__traceback__
        lineno = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(resolved):
                lineno = tb.tb_lineno
            tb = tb.tb_next
        where = f"{path} line {lineno}" if lineno else str(path)
        if isinstance(err, RuleError):
            if str(path) in str(err) or str(resolved) in str(err):
                raise
            raise RuleError(f"{where}: {err}") from err
        raise RuleError(
            f"{where}: importing the rule file failed with {type(err).__name__}: {err}; "
            "fix the file or install what it imports"
        ) from err
    return module


def _import_package(folder: Path) -> str:
    """Import a rule folder that has an ``__init__.py`` as a package; return its name."""
    package = _unique_name(folder)
    if package not in sys.modules:
        _exec_module(package, folder / "__init__.py", package_dir=folder)
    return package


def _import_file(path: Path) -> Any:
    """Import one rule file by path, under a module name unique to that path.

    A file in a folder with an ``__init__.py`` is imported as a module of that
    package, so it may import its helper modules relatively (``from ._words import X``).
    """
    resolved = path.resolve()
    if (resolved.parent / "__init__.py").is_file():
        module_name = f"{_import_package(resolved.parent)}.{resolved.stem}"
    else:
        module_name = _unique_name(resolved)
    if module_name in sys.modules:
        return sys.modules[module_name]
    return _exec_module(module_name, path)


def load_rules(path: str | Path) -> list[LabellingFunction]:
    """Import a rule file, or every ``*.py`` file of a folder, and collect its functions.

    Only the files named are imported: in a folder, its ``*.py`` files whose names
    do not start with ``_`` or ``.`` (helpers such as ``_words.py`` are imported
    only by the rule files that import them; a folder with an ``__init__.py`` is
    a package, its ``__init__.py`` runs first). Sub-folders and other files are
    never imported.

    Every module-level :class:`LabellingFunction` the files define is returned,
    in file then definition order. Two different functions with one name raise
    :class:`~hybridner.errors.RuleError`.

    >>> rules = load_rules("rules/")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        # only the folder's own rule files: not its helpers (``_words.py``, imported
        # through the package if at all), hidden or editor files (``.#x.py``),
        # sub-folders, nor anything that is not a .py file
        files = sorted(
            p for p in path.glob("*.py")
            if not p.name.startswith(("_", ".")) and p.is_file()
        )
    elif path.is_file():
        if path.suffix != ".py":
            raise RuleError(f"{path}: rule files must be Python files ending in .py")
        files = [path]
    else:
        raise RuleError(f"{path}: no such rule file or folder; pass a .py file or a folder of them")
    found: list[LabellingFunction] = []
    origin: dict[str, tuple[Path, LabellingFunction]] = {}
    for file in files:
        module = _import_file(file)
        for value in vars(module).values():
            if not isinstance(value, LabellingFunction):
                continue
            seen = origin.get(value.name)
            if seen is not None:
                if seen[1] is value:
                    continue
                raise RuleError(
                    f"{file}: labelling function name {value.name!r} is also used in "
                    f"{seen[0]}; rename one of them"
                )
            origin[value.name] = (file, value)
            found.append(value)
    logger.info("loaded %d labelling functions from %s", len(found), path)
    return found


def apply_functions(
    functions: Sequence[LabellingFunction],
    docs: Iterable[Doc],
    *,
    log_every: int = 1000,
    batch_size: int = 1024,
) -> Iterator[Doc]:
    """Run every labelling function on every document, lazily, batch by batch.

    Each function labels a batch of ``batch_size`` documents at a time
    (:meth:`LabellingFunction.label_batch`), so that what functions share, such
    as the documents' texts, is computed once.

    >>> docs = apply_functions([dose], nlp.pipe(texts))  # doctest: +SKIP
    """
    names = [f.name for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuleError(f"two labelling functions share the name(s) {duplicates}; rename them")
    started = time.perf_counter()
    count = 0
    logged = 0
    for chunk in _chunks(docs, batch_size):
        batch = DocBatch(chunk)
        for function in functions:
            function.label_batch(batch)
        count += len(chunk)
        if log_every and count - logged >= log_every:
            logged = count
            logger.info(
                "labelled %d documents (%.0f docs/s)",
                count,
                count / max(time.perf_counter() - started, 1e-9),
            )
        yield from chunk
    logger.debug("labelled %d documents with %d functions", count, len(functions))


T = TypeVar("T")


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last one shorter), lazily."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
