"""Read and write texts and gold, and turn aggregated spans into training documents.

Corpus formats (see :func:`read_texts`):

* ``.txt``: one document per line (blank lines skipped);
* ``.jsonl``: one JSON object per line with a ``"text"``; an ``"id"`` is used in
  messages and every other field is carried through to ``annotate`` output;
* a folder of ``.txt`` files: one document per file.

Gold formats (see :func:`read_gold`): ``.jsonl`` lines with either
``"entities": [[start, end, label], ...]`` (spaCy's training tuples as JSON) or
Prodigy-style ``"spans": [{"start", "end", "label"}, ...]``, character offsets,
``end`` exclusive. Annotation tools' exports are read too: Prodigy's (records
with an ``"answer"``: only ``"accept"`` is kept) and Label Studio's (tasks with
``"data"`` and ``"annotations"``: the first annotation not cancelled is used;
tasks nobody annotated are skipped, predictions are never gold), as ``.jsonl``
or as one JSON list in a ``.json`` file.

Outputs are written atomically: to a temporary file beside the target, renamed
into place only once complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.util import (
    compile_infix_regex,
    compile_prefix_regex,
    compile_suffix_regex,
    filter_spans,
)

from .errors import CorpusError, HybridNERError, OutputError
from .labelling import TEXT_KEY, check_label

__all__ = [
    "GoldRecord",
    "make_nlp",
    "refine_tokenizer",
    "read_texts",
    "BadRecord",
    "read_gold",
    "make_docs",
    "gold_docs",
    "weak_record",
    "to_training_doc",
    "write_docbin",
    "replace_mentions",
    "write_jsonl",
    "json_line",
    "atomic_open",
    "check_output_path",
]

logger = logging.getLogger("hybridner")

Entity = tuple[int, int, str]


@dataclass
class GoldRecord:
    """A hand-annotated document: its text, entities and any other fields."""

    id: str
    text: str
    entities: list[Entity]
    meta: dict[str, Any] = field(default_factory=dict)


#: Tokenisation choices: spaCy's own rules, or those rules plus finer punctuation splits.
TOKENIZERS = ("fine", "spacy")


def refine_tokenizer(nlp: Language) -> Language:
    """Also split tokens on brackets, ``/``, ``+``, ``=`` and every hyphen, in place.

    spaCy's rules keep strings such as ``Ca(2+)``, ``K(+)-channels`` or
    ``-propranolol`` whole, so an entity inside them can never be a span of whole
    tokens. Finer tokens cost the model nothing (it labels token sequences) and let
    both the lexicons and the model find such entities. The changed rules are
    saved with the model, so ``spacy.load`` gives the same tokens.
    """
    defaults = nlp.Defaults
    infixes = list(defaults.infixes or []) + [
        r"[()\[\]/+=]",
        r"(?<=[^\W\d_])\.(?=[^\W\d_\s])",
        r"-",
    ]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.tokenizer.suffix_search = compile_suffix_regex(
        list(defaults.suffixes or []) + [r"\.$", r"-$"]
    ).search
    nlp.tokenizer.prefix_search = compile_prefix_regex(
        list(defaults.prefixes or []) + [r"^-"]
    ).search
    return nlp


def make_nlp(lang: str = "en", *, tokenizer: str = "fine") -> Language:
    """A blank spaCy pipeline for ``lang`` with the chosen tokenisation.

    >>> make_nlp("en").make_doc("Ca(2+)-induced").text.split()  # doctest: +SKIP
    """
    if tokenizer not in TOKENIZERS:
        raise HybridNERError(f"tokenizer {tokenizer!r}: use one of {list(TOKENIZERS)}")
    try:
        nlp = spacy.blank(lang)
    except Exception as err:
        raise HybridNERError(
            f"--lang {lang!r}: spaCy has no language with that code ({err}); use an ISO "
            "code spaCy supports, such as 'en', 'de', 'fr' or 'xx' (multi-language)"
        ) from err
    if tokenizer == "fine":
        refine_tokenizer(nlp)
    return nlp


def check_output_path(path: str | Path, *, what: str = "the output") -> Path:
    """Check that ``path`` can be written before any work is done; return it as a Path.

    The nearest existing folder above it must be a folder we may write in. A
    symbolic link at ``path`` itself is fine: it is replaced, never written through.
    """
    path = Path(path)
    ancestor = path.parent if str(path.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(
            f"{path}: {ancestor} is a file, not a folder, so {what} cannot be written there; "
            "choose another path"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(
            f"{path}: the folder {ancestor} is not writable (permission denied); choose a "
            "folder you can write in or fix its permissions"
        )
    return path


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` on success.

    On error the temporary file is removed and ``path`` is left untouched. A
    symbolic link at ``path`` is replaced by the new file: the link's target is
    never opened or changed.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"{path}: is a folder; give a file name for the output")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        check_output_path(path)
        raise OutputError(f"{path}: the folder {parent} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise OutputError(
            f"{path}: cannot write in the folder {parent} ({err.strerror or err}); choose a "
            "folder you can write in or fix its permissions"
        ) from err
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: Characters escaped in JSON lines: those ``str.splitlines`` (and some JSON-lines
#: readers) take for line ends, so that one record is always one line for any
#: reader, and lone surrogates, which UTF-8 cannot encode (``json.loads`` gives
#: them back).
_ESCAPED = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029\ud800-\udfff]")


def json_line(record: Any) -> str:
    """``record`` as one line of JSON (UTF-8 text kept readable), without the newline.

    Every character another reader might take for a line end (``U+2028``,
    ``U+0085``...) and every lone surrogate is escaped, so the line holds exactly
    one record and can be written as UTF-8.

    >>> json_line({"text": "a\u2028b"})
    '{"text": "a\\\\u2028b"}'
    """
    line = json.dumps(record, ensure_ascii=False)
    if line.isascii():
        return line
    # raw, such characters can only be inside JSON strings, where an escape means the same
    return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON lines, atomically; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for record in records:
            handle.write(json_line(record) + "\n")
            count += 1
    return count


def _bad_bytes_message(line: str, lineno: int, path: Path) -> str | None:
    """The message for a line that was not valid UTF-8 (decoded with surrogateescape), or None."""
    bad = [i for i, ch in enumerate(line) if "\udc80" <= ch <= "\udcff"]
    if not bad:
        return None
    shown = " ".join(f"{ord(line[i]) - 0xDC00:02x}" for i in bad[:4])
    hint = ""
    if lineno == 1 and line[:2] in ("\udcff\udcfe", "\udcfe\udcff"):
        hint = " (the file starts with a UTF-16 byte-order mark: it is UTF-16)"
    return (
        f"{path} line {lineno}: not valid UTF-8 (bytes {shown} at column {bad[0] + 1}){hint}; "
        f"re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path.name}` "
        "(or -f utf-16 for UTF-16 files)"
    )


def _decoded_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, line, None) for each line, or (number, line, message) for a line that
    is not valid UTF-8. An initial UTF-8 BOM is dropped; ``\r\n`` and ``\r`` end lines."""
    try:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline=None)
    except OSError as err:
        raise CorpusError(f"{path}: cannot be read ({err.strerror or err}); check the path and its permissions") from err
    with handle:
        for lineno, line in enumerate(handle, start=1):
            yield lineno, line, _bad_bytes_message(line, lineno, path)


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    for lineno, line, error in _decoded_lines(path):
        if error is not None:
            raise CorpusError(error)
        yield lineno, line


def _parse_json_line(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise CorpusError(
            f"{path} line {lineno}: not valid JSON ({err.msg}; column {err.colno}); "
            "each line must be one JSON object such as {\"text\": \"...\"}"
        ) from err
    if not isinstance(record, dict):
        raise CorpusError(
            f"{path} line {lineno}: expected a JSON object, got {type(record).__name__}; "
            "each line must be one JSON object such as {\"text\": \"...\"}"
        )
    return record


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _read_lines(path):
        if not line.strip():
            continue
        yield lineno, _parse_json_line(path, lineno, line)


@dataclass(frozen=True)
class BadRecord:
    """A corpus line or file that cannot be used, in place of its record.

    :func:`read_texts` yields these with ``keep_bad=True`` instead of raising, so
    that a stream (``annotate(..., on_error="skip")``) can go on past it.
    ``where`` names the file and line; ``error`` is the message ``read_texts``
    would have raised.
    """

    where: str
    error: str


def _corpus_record(path: Path, lineno: int, line: str) -> dict[str, Any]:
    record = _parse_json_line(path, lineno, line)
    if "text" not in record:
        raise CorpusError(
            f"{path} line {lineno}: no \"text\" field (fields: {sorted(record)}); "
            "each line needs {\"text\": \"...\"}"
        )
    if not isinstance(record["text"], str):
        raise CorpusError(
            f"{path} line {lineno}: \"text\" must be a string, got "
            f"{type(record['text']).__name__} {_short(record['text'])}; write the document as a "
            "JSON string"
        )
    record["id"] = str(record["id"]) if record.get("id") is not None else f"{path.name}:{lineno}"
    return record


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_texts(path: str | Path, *, keep_bad: bool = False) -> Iterator[dict[str, Any] | BadRecord]:
    """Stream the documents of a corpus as records ``{"id", "text", ...}``.

    Documents without an ``"id"`` get ``"<file>:<line>"``. Errors name the file
    and line. Documents with an empty text are kept (labelled with nothing, never
    trained on), so that outputs stay record for record with the input; blank
    lines are skipped. With ``keep_bad=True``, a line that cannot be used (not
    UTF-8, not JSON, no string ``"text"``) is yielded as a :class:`BadRecord`
    instead of raising; errors about the whole file still raise.

    >>> for record in read_texts("texts.jsonl"):  # doctest: +SKIP
    ...     record["id"], record["text"]
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise CorpusError(f"{path}: the corpus folder holds no .txt files")
        for file in files:
            try:
                text = file.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as err:
                error = (
                    f"{file}: not valid UTF-8 (byte {err.start}: {err.reason}); re-encode it as "
                    f"UTF-8, e.g. `iconv -f latin1 -t utf-8 {file.name}`"
                )
                if not keep_bad:
                    raise CorpusError(error) from err
                yield BadRecord(str(file), error)
                continue
            yield {"id": file.name, "text": text}
        return
    if not path.is_file():
        raise CorpusError(f"{path}: no such corpus file or folder")
    if path.suffix == ".jsonl":
        for lineno, line, error in _decoded_lines(path):
            if error is None and not line.strip():
                continue
            try:
                if error is not None:
                    raise CorpusError(error)
                yield _corpus_record(path, lineno, line)
            except CorpusError as err:
                if not keep_bad:
                    raise
                yield BadRecord(f"{path} line {lineno}", str(err))
    elif path.suffix == ".txt":
        for lineno, line, error in _decoded_lines(path):
            if error is not None:
                if not keep_bad:
                    raise CorpusError(error)
                yield BadRecord(f"{path} line {lineno}", error)
                continue
            text = line.rstrip("\n")
            if text.strip():
                yield {"id": f"{path.name}:{lineno}", "text": text}
    else:
        raise CorpusError(
            f"{path}: unknown corpus format {path.suffix!r}; use .txt (one document per "
            "line), .jsonl (objects with \"text\") or a folder of .txt files"
        )


def _parse_entities(record: dict[str, Any], where: str) -> list[Entity]:
    if "entities" in record:
        raw = record["entities"]
        if not isinstance(raw, list):
            raise CorpusError(f"{where}: \"entities\" must be a list of [start, end, label]")
        entities = []
        for item in raw:
            if not (isinstance(item, (list, tuple)) and len(item) == 3):
                raise CorpusError(f"{where}: entity {item!r} is not [start, end, label]")
            entities.append(tuple(item))
    elif "spans" in record:
        raw = record["spans"]
        if not isinstance(raw, list):
            raise CorpusError(f"{where}: \"spans\" must be a list of {{start, end, label}}")
        entities = []
        for item in raw:
            if not (isinstance(item, dict) and {"start", "end", "label"} <= item.keys()):
                raise CorpusError(f"{where}: span {item!r} needs \"start\", \"end\" and \"label\"")
            entities.append((item["start"], item["end"], item["label"]))
    else:
        raise CorpusError(
            f"{where}: no \"entities\" or \"spans\" field; gold lines need "
            "\"entities\": [[start, end, label], ...] (use [] for a document without entities)"
        )
    return entities  # type: ignore[return-value]


def _check_entities(entities: list[Entity], text: str, where: str) -> list[Entity]:
    checked = []
    for start, end, label in entities:
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            raise CorpusError(
                f"{where}: offsets ({start!r}, {end!r}) must be integers; write character "
                "offsets as JSON numbers, e.g. [0, 7, \"Drug\"]"
            )
        if start >= end:
            raise CorpusError(
                f"{where}: entity ({start}, {end}, {label!r}) is reversed or empty; "
                "end must be greater than start (character offsets, end exclusive)"
            )
        if start < 0 or end > len(text):
            raise CorpusError(
                f"{where}: entity ({start}, {end}, {label!r}) is outside the text of "
                f"{len(text)} characters; offsets are characters, end exclusive"
            )
        try:
            check_label(label, where)
        except HybridNERError as err:
            raise CorpusError(str(err)) from err
        checked.append((start, end, label))
    checked.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(checked, checked[1:]):
        if s2 < e1:
            raise CorpusError(
                f"{where}: entities {text[s1:e1]!r} ({s1}, {e1}, {l1}) and {text[s2:e2]!r} "
                f"({s2}, {e2}, {l2}) overlap; NER gold must not overlap: keep one of them "
                "or merge them into one entity"
            )
    return checked


def _utf16_to_index(text: str, offset: int) -> int | None:
    """The character index of a UTF-16 code-unit offset (JavaScript's), or None."""
    units = 0
    for index, char in enumerate(text):
        if units == offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) if units == offset else None


def _label_studio_entity(item: dict[str, Any], text: str, where: str) -> Entity:
    value = item.get("value")
    if not (isinstance(value, dict) and {"start", "end", "labels"} <= value.keys()):
        raise CorpusError(
            f"{where}: Label Studio result {item!r} needs a \"value\" with \"start\", "
            "\"end\" and \"labels\""
        )
    labels = value["labels"]
    if not (isinstance(labels, list) and len(labels) == 1):
        raise CorpusError(
            f"{where}: Label Studio span ({value['start']!r}, {value['end']!r}) has labels "
            f"{labels!r}; NER needs exactly one label per span (use single-choice <Labels>)"
        )
    start, end, shown = value["start"], value["end"], value.get("text")
    offsets = isinstance(start, int) and isinstance(end, int)
    if offsets and isinstance(shown, str) and text[start:end] != shown:
        # Some Label Studio versions count UTF-16 code units, as JavaScript does:
        # every character beyond U+FFFF (most emoji) shifts later offsets by one.
        first, last = _utf16_to_index(text, start), _utf16_to_index(text, end)
        if first is None or last is None or text[first:last] != shown:
            raise CorpusError(
                f"{where}: Label Studio span ({start}, {end}) reads {shown!r} but the "
                f"text there is {text[start:end]!r}; re-export the task or fix its offsets"
            )
        start, end = first, last
    return (start, end, labels[0])


def _from_annotation_tool(record: dict[str, Any], where: str) -> tuple[dict[str, Any] | None, str]:
    """A Prodigy or Label Studio record as a plain gold record, or (None, why it is skipped).

    Other records are returned unchanged.
    """
    if "answer" in record:  # Prodigy
        answer = record["answer"]
        if answer in ("reject", "ignore"):
            return None, f"Prodigy answer {answer!r}"
        if answer != "accept":
            raise CorpusError(
                f"{where}: Prodigy \"answer\" {answer!r}; expected 'accept', 'reject' or 'ignore'"
            )
        if record.get("_is_binary"):
            return None, "binary Prodigy answer (only one span was judged, not the whole text)"
        if "spans" not in record and "entities" not in record:
            record = {**record, "spans": []}  # accepted with no entity
        return record, ""
    data = record.get("data")
    if "text" in record or not isinstance(data, dict):
        return record, ""
    # Label Studio: the task's fields are in "data", people's work in "annotations"
    # ("completions" in exports of Label Studio before 1.0); predictions never count.
    text = data.get("text")
    if not isinstance(text, str):
        raise CorpusError(
            f"{where}: Label Studio task without a string data.text (data fields: "
            f"{sorted(data)}); name the <Text> tag's value $text"
        )
    annotations = record.get("annotations", record.get("completions")) or []
    if not isinstance(annotations, list):
        raise CorpusError(f"{where}: Label Studio \"annotations\" must be a list")
    done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not done:
        return None, (
            "Label Studio task with only cancelled annotations" if annotations
            else "Label Studio task without a human annotation"
        )
    results = done[0].get("result") or []
    if not isinstance(results, list):
        raise CorpusError(f"{where}: Label Studio annotation \"result\" must be a list")
    entities = [
        _label_studio_entity(item, text, where)
        for item in results
        if isinstance(item, dict) and item.get("type") == "labels"
    ]
    doc_id = data.get("id", record.get("id"))
    extra = {k: v for k, v in data.items() if k not in {"id", "text"}}
    return {"id": doc_id, "text": text, "entities": entities, **extra}, ""


def _gold_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for each record of a .jsonl file or of a .json list."""
    if path.suffix == ".jsonl":
        for lineno, record in _json_records(path):
            yield f"{path} line {lineno}", record
        return
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: not valid UTF-8 ({err.reason}); re-encode the file as UTF-8") from err
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path} line {err.lineno}: not valid JSON ({err.msg}; column {err.colno})") from err
    if not isinstance(records, list):
        raise CorpusError(
            f"{path}: a .json gold file must hold one list of records (as Label Studio "
            f"exports), got {type(records).__name__}"
        )
    for number, record in enumerate(records, start=1):
        where = f"{path} record {number}"
        if not isinstance(record, dict):
            raise CorpusError(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield where, record


def read_gold(path: str | Path) -> list[GoldRecord]:
    """Read hand-annotated documents, checking every offset.

    Prodigy and Label Studio exports are accepted as they are (see the module
    docstring); records that are rejected, ignored or not annotated are skipped
    and counted in the log.

    >>> gold = read_gold("dev.jsonl")  # doctest: +SKIP
    >>> gold[0].entities
    [(0, 9, 'Drug')]
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such gold file")
    if path.suffix not in (".jsonl", ".json"):
        raise CorpusError(
            f"{path}: gold files must be .jsonl (one annotated document per line) or a "
            ".json list (Label Studio's export)"
        )
    records = []
    skipped: Counter[str] = Counter()
    for where, record in _gold_records(path):
        converted, why = _from_annotation_tool(record, where)
        if converted is None:
            skipped[why] += 1
            continue
        record = converted
        text = record.get("text")
        if not isinstance(text, str):
            raise CorpusError(f"{where}: \"text\" missing or not a string")
        entities = _check_entities(_parse_entities(record, where), text, where)
        position = where.rsplit(" ", 1)[-1]
        doc_id = str(record["id"]) if record.get("id") is not None else f"{path.name}:{position}"
        meta = {k: v for k, v in record.items() if k not in {"id", "text", "entities", "spans"}}
        records.append(GoldRecord(doc_id, text, entities, meta))
    summary = ", ".join(f"{count} {why}" for why, count in sorted(skipped.items()))
    if skipped:
        logger.info("%s: skipped %d record(s): %s", path, sum(skipped.values()), summary)
    if not records:
        if skipped:
            raise CorpusError(
                f"{path}: no annotated document to use ({summary}); annotate and accept "
                "some, then export them again"
            )
        raise CorpusError(f"{path}: the gold file holds no documents")
    return records


def check_length(nlp: Language, text: str, where: str) -> None:
    """Raise a :class:`~hybridner.errors.CorpusError` if ``text`` is too long for ``nlp``."""
    if len(text) > nlp.max_length:
        raise CorpusError(
            f"{where}: {len(text):,} characters, more than the {nlp.max_length:,} a spaCy "
            "pipeline accepts (nlp.max_length); split it into smaller documents, e.g. one "
            "per paragraph or section"
        )


def make_docs(
    nlp: Language, records: Iterable[dict[str, Any]], *, batch_size: int = 256
) -> Iterator[Doc]:
    """Tokenise records into Docs, keeping each record's id in ``doc.user_data["id"]``.

    A text longer than ``nlp.max_length`` characters (spaCy's limit, 1,000,000 by
    default) raises :class:`~hybridner.errors.CorpusError` naming the document.
    """

    def pairs() -> Iterator[tuple[str, dict[str, Any]]]:
        for record in records:
            check_length(nlp, record["text"], f"document {record.get('id')!r}")
            yield record["text"], record

    for doc, record in nlp.pipe(pairs(), as_tuples=True, batch_size=batch_size):
        doc.user_data["id"] = record["id"]
        doc.user_data[TEXT_KEY] = record["text"]
        yield doc


def gold_docs(nlp: Language, records: Sequence[GoldRecord]) -> list[Doc]:
    """Tokenise gold records and set their entities; everything else is "outside".

    Entities that do not fall on token boundaries are widened to the tokens they
    touch (logged), since the model can only predict whole tokens.
    """
    docs = []
    widened = 0
    for record in records:
        doc = nlp.make_doc(record.text)
        doc.user_data["id"] = record.id
        spans = []
        for start, end, label in record.entities:
            span = doc.char_span(start, end, label=label, alignment_mode="strict")
            if span is None:
                span = doc.char_span(start, end, label=label, alignment_mode="expand")
                widened += 1
            if span is not None:
                spans.append(span)
        doc.set_ents(filter_spans(spans), default="outside")
        docs.append(doc)
    if widened:
        logger.info("%d gold entities do not fall on token boundaries; widened to whole tokens", widened)
    return docs


def weak_record(
    doc: Doc,
    function_names: Sequence[str],
    *,
    aggregated: str = "aggregated",
    candidates: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``weak.jsonl`` record of one labelled, aggregated document (char offsets)."""
    spans = {}
    for name in function_names:
        group = doc.spans.get(name)
        spans[name] = [[s.start_char, s.end_char, s.label_] for s in group] if group else []
    record: dict[str, Any] = {"id": doc.user_data.get("id"), "text": doc.text, "spans": spans}
    group = doc.spans.get(aggregated)
    if group is not None:
        conf = group.attrs.get("confidence", [])
        voters = group.attrs.get("voters", [])
        record["aggregated"] = [
            {
                "start": s.start_char,
                "end": s.end_char,
                "label": s.label_,
                "confidence": round(float(c), 4),
                "voters": list(v),
            }
            for s, c, v in zip(group, conf, voters)
        ]
    if candidates:
        found = {
            (s.start_char, s.end_char) for key in candidates for s in doc.spans.get(key, [])
        }
        record["candidates"] = [list(c) for c in sorted(found)]
    return record


def to_training_doc(
    doc: Doc,
    *,
    aggregated: str = "aggregated",
    candidates: Sequence[str] = (),
    min_confidence: float = 0.5,
    min_outside: float = 0.9,
) -> Doc:
    """A copy of ``doc`` whose entities are its confident aggregated spans.

    * aggregated spans with confidence >= ``min_confidence`` become entities;
    * less confident spans, tokens outside them whose probability of being
      outside is below ``min_outside``, and tokens covered by untyped candidate
      phrases that no entity covers are *missing* (no annotation: the model is
      neither taught "entity" nor "outside" there);
    * every other token is "outside".
    """
    new = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
    new.user_data["id"] = doc.user_data.get("id")
    group = doc.spans.get(aggregated)
    ents: list[Span] = []
    missing_tokens: set[int] = set()
    if group is not None:
        attrs = group.attrs
        for span, conf in zip(group, attrs.get("confidence", [1.0] * len(group))):
            if conf >= min_confidence:
                ents.append(Span(new, span.start, span.end, label=span.label_))
            else:
                missing_tokens.update(range(span.start, span.end))
        for i, p_out in zip(attrs.get("uncertain_tokens", []), attrs.get("p_outside", [])):
            if p_out < min_outside:
                missing_tokens.add(i)
    if isinstance(candidates, str):
        candidates = [candidates]
    for key in candidates:
        for span in doc.spans.get(key, []):
            missing_tokens.update(range(span.start, span.end))
    covered = {i for e in ents for i in range(e.start, e.end)}
    missing = [Span(new, i, i + 1) for i in sorted(missing_tokens - covered)]
    new.set_ents(ents, missing=missing, default="outside")
    return new


def write_docbin(path: str | Path, docs: Iterable[Doc]) -> int:
    """Write docs (with their entities and missing regions) to a spaCy DocBin."""
    docbin = DocBin(attrs=["ORTH", "SPACY", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    count = 0
    for doc in docs:
        docbin.add(doc)
        count += 1
    with atomic_open(path, "wb") as handle:
        handle.write(docbin.to_bytes())
    return count


def replace_mentions(
    doc: Doc,
    terms: dict[str, Sequence[Doc]],
    rng: random.Random,
    *,
    share: float = 0.5,
) -> Doc | None:
    """A copy of a training doc with some entities swapped for other terms of their label.

    Mention replacement makes the model learn from context rather than memorise
    the lexicon. ``terms`` maps a label to tokenised replacement terms; each entity
    whose label has terms is replaced with probability ``share``. Missing
    (unannotated) tokens stay missing. Returns None when nothing was replaced.
    """
    words: list[str] = []
    spaces: list[bool] = []
    ents: list[tuple[int, int, str]] = []
    missing: list[int] = []
    replaced = 0
    i = 0
    while i < len(doc):
        token = doc[i]
        if token.ent_iob_ == "B" and terms.get(token.ent_type_) and rng.random() < share:
            end = i + 1
            while end < len(doc) and doc[end].ent_iob_ == "I":
                end += 1
            choice = rng.choice(terms[token.ent_type_])
            start = len(words)
            words.extend(t.text for t in choice)
            spaces.extend(bool(t.whitespace_) for t in choice[:-1])
            spaces.append(bool(doc[end - 1].whitespace_))
            ents.append((start, len(words), token.ent_type_))
            replaced += 1
            i = end
            continue
        if token.ent_iob_ == "B":
            end = i + 1
            while end < len(doc) and doc[end].ent_iob_ == "I":
                end += 1
            ents.append((len(words), len(words) + end - i, token.ent_type_))
            for t in doc[i:end]:
                words.append(t.text)
                spaces.append(bool(t.whitespace_))
            i = end
            continue
        if token.ent_iob == 0:
            missing.append(len(words))
        words.append(token.text)
        spaces.append(bool(token.whitespace_))
        i += 1
    if not replaced:
        return None
    new = Doc(doc.vocab, words=words, spaces=spaces)
    new.user_data["id"] = f"{doc.user_data.get('id')}#replaced"
    new.set_ents(
        [Span(new, s, e, label=label) for s, e, label in ents],
        missing=[Span(new, m, m + 1) for m in missing],
        default="outside",
    )
    return new
