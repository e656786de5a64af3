"""Serve a trained model over HTTP: a FastAPI app run by uvicorn (the ``serve`` extra).

``POST /annotate`` takes one record, a batch of texts or records (JSON), or JSON
lines (``application/x-ndjson``) and answers with the records ``hybridner
annotate`` writes; ``GET /health``; ``GET /model`` (labels, versions, the run's
scores, the limits); the OpenAPI schema at ``/openapi.json``.

Every error is one JSON shape, ``{"error": {"code", "message", "field", "limit"}}``:
a malformed body is a 422 naming the field (``texts[3]``), a text or a batch
over the limits a 413, a request that waits or runs longer than ``timeout``
seconds a 503 or 504 (the worker lives on).

>>> from fastapi.testclient import TestClient  # doctest: +SKIP
>>> client = TestClient(create_app("runs/v1"))  # doctest: +SKIP
>>> client.post("/annotate", json={"text": "Metformin was stopped."}).json()  # doctest: +SKIP
{'records': [{'text': 'Metformin was stopped.', 'entities': [{'start': 0, 'end': 9, ...}]}]}
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from . import __version__
from .corpus import json_line
from .errors import CorpusError, HybridNERError
from .inference import NERModel, load

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

__all__ = [
    "create_app",
    "serve",
    "model_info",
    "MAX_TEXT_LENGTH",
    "MAX_BATCH_SIZE",
    "TIMEOUT",
    "NDJSON",
]

logger = logging.getLogger("hybridner")

#: Default limits: characters per text, texts per request, seconds per request.
MAX_TEXT_LENGTH = 100_000
MAX_BATCH_SIZE = 256
TIMEOUT = 30.0
#: The media type of JSON-lines request and response bodies.
NDJSON = "application/x-ndjson"
_NDJSON_TYPES = (NDJSON, "application/jsonl", "application/jsonlines", "application/x-jsonlines")
#: Environment variable through which ``serve(workers=N)`` hands its settings to the workers.
_SETTINGS_ENV = "HYBRIDNER_SERVE_SETTINGS"


def _require(module: str) -> Any:
    """Import an optional dependency of the service or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise HybridNERError(
            f"serving a model needs FastAPI and uvicorn ({err}); install them with "
            'pip install "hybridner[serve]"'
        ) from err


# ---------------------------------------------------------------------- the documented data


class Entity(BaseModel):
    """One entity, in character offsets of the text (``end`` exclusive)."""

    start: int
    end: int
    label: str
    text: str


class AnnotatedRecord(BaseModel):
    """An input record with its ``entities``: every other field is carried through."""

    model_config = ConfigDict(extra="allow")
    text: str
    entities: list[Entity]


class AnnotateResponse(BaseModel):
    """The annotated records, in request order."""

    records: list[AnnotatedRecord]


class ErrorDetail(BaseModel):
    code: str = Field(description="What went wrong, e.g. invalid_json, text_too_long, timeout.")
    message: str = Field(description="What is wrong and how to fix it.")
    field: Optional[str] = Field(
        default=None, description="The request field at fault, e.g. texts[3] or records[0].text."
    )
    limit: Optional[float] = Field(default=None, description="The limit exceeded, if one was.")


class ErrorResponse(BaseModel):
    """Every error response of the service."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class Scores(BaseModel):
    precision: float
    recall: float
    f1: float


class LabelScores(Scores):
    support: int


class RunScores(BaseModel):
    """The scores of the run that trained the model (its ``report.json``)."""

    dev_source: Optional[str] = Field(description="The dev set's file name; null without one.")
    dev_documents: Optional[int]
    lexicon_only: Optional[Scores]
    aggregated: Optional[Scores]
    model: Optional[Scores]
    model_per_label: dict[str, LabelScores]
    model_vs_weak_labels_f1: Optional[float] = Field(
        description="Without a dev set: the model's F1 against held-out weak labels."
    )


class Limits(BaseModel):
    max_text_length: int
    max_batch_size: int
    timeout: float


class ModelInfo(BaseModel):
    labels: list[str]
    name: str
    version: str = Field(description="The model's version (its meta.json).")
    spacy_version: str
    pipeline: list[str]
    hybridner_version: str = Field(description="The hybridner that trained the model (else this one).")
    scores: Optional[RunScores] = Field(description="Null when the model has no run report beside it.")
    limits: Limits


def _request_models(max_text_length: int, max_batch_size: int) -> dict[str, type[BaseModel]]:
    """The request body's three shapes, with the limits in their schema."""
    text = Annotated[str, Field(max_length=max_text_length, description="The text to annotate.")]
    record = create_model(
        "TextRecord",
        __config__=ConfigDict(extra="allow", strict=True),
        __doc__="One record: its text, and any other fields (id, metadata), carried through.",
        text=(text, ...),
        id=(Any, Field(default=None, description="Any JSON value; carried through.")),
    )
    texts = create_model(
        "TextsBatch",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="A batch of plain texts.",
        texts=(list[text], Field(max_length=max_batch_size)),  # type: ignore[valid-type]
    )
    records = create_model(
        "RecordsBatch",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="A batch of records, each with a text and any fields carried through.",
        records=(list[record], Field(max_length=max_batch_size)),  # type: ignore[valid-type]
    )
    return {"record": record, "texts": texts, "records": records}


def model_info(
    ner: NERModel, run_dir: Path | None, *, limits: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What ``GET /model`` answers: labels, versions, the run's scores, the limits.

    >>> model_info(hybridner.load("runs/v1"), Path("runs/v1"))["labels"]  # doctest: +SKIP
    ['Disease', 'Dose', 'Drug']
    """
    meta = ner.nlp.meta
    report: dict[str, Any] = {}
    if run_dir is not None and (run_dir / "report.json").is_file():
        try:
            report = json.loads((run_dir / "report.json").read_text("utf8"))
        except (OSError, ValueError) as err:
            logger.warning("%s: cannot be read (%s); /model shows no scores", run_dir / "report.json", err)
    return {
        "labels": ner.labels,
        "name": f"{meta.get('lang', ner.nlp.lang)}_{meta.get('name', 'pipeline')}",
        "version": str(meta.get("version", "0.0.0")),
        "spacy_version": str(meta.get("spacy_version", "")),
        "pipeline": list(ner.nlp.pipe_names),
        "hybridner_version": str(report.get("hybridner_version", __version__)),
        "scores": _run_scores(report.get("dev")) if isinstance(report.get("dev"), dict) else None,
        "limits": limits or {},
    }


def _run_scores(dev: dict[str, Any]) -> dict[str, Any]:
    def prf(key: str) -> dict[str, float] | None:
        s = dev.get(key)
        return {k: float(s[k]) for k in ("precision", "recall", "f1")} if isinstance(s, dict) else None

    per_label = (dev.get("model") or {}).get("per_label", {})
    source = dev.get("source")
    weak_f1 = dev.get("model_vs_weak_labels_f1")
    return {
        "dev_source": Path(source).name if isinstance(source, str) else None,
        "dev_documents": dev.get("documents"),
        "lexicon_only": prf("lexicon_only"),
        "aggregated": prf("aggregated"),
        "model": prf("model"),
        "model_per_label": {
            label: {k: s[k] for k in ("precision", "recall", "f1", "support")}
            for label, s in per_label.items()
        },
        "model_vs_weak_labels_f1": float(weak_f1) if weak_f1 is not None else None,
    }


# ---------------------------------------------------------------------- errors


class _Refusal(Exception):
    """A request the service answers with an error response."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None,
        limit: float | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.limit, self.headers = field, limit, headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field, "limit": self.limit}}


class _Cancelled(Exception):
    """The annotation job was abandoned (timed out) and stopped at a batch boundary."""


def _field(loc: tuple[Any, ...], prefix: str = "") -> str:
    """``("records", 3, "text")`` as ``records[3].text``."""
    name = prefix
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str) if not isinstance(value, str) else repr(value)
    text = f"{type(value).__name__} {text}"
    return text if len(text) <= 60 else text[:57] + "..."


def _refusal_from(err: ValidationError, *, prefix: str, max_text_length: int, max_batch_size: int) -> _Refusal:
    """The first validation error as a 413 (a limit) or a 422 naming the field."""
    first = err.errors(include_url=False)[0]
    field = _field(first["loc"], prefix)
    kind = first["type"]
    if kind == "string_too_long":
        return _Refusal(
            413, "text_too_long",
            f"{field}: {len(first['input']):,} characters, more than the {max_text_length:,} this "
            "service accepts; split the document (e.g. into paragraphs) and send the parts",
            field=field, limit=max_text_length,
        )
    if kind == "too_long":
        return _Refusal(
            413, "batch_too_large",
            f"{field}: more than the {max_batch_size} texts a request may hold; send smaller batches",
            field=field, limit=max_batch_size,
        )
    if kind == "missing":
        message = f"{field}: missing; each record needs a string \"text\""
    elif kind == "extra_forbidden":
        message = (
            f"{field}: unknown field; a batch is {{\"texts\": [...]}} or {{\"records\": [...]}} "
            "with nothing beside it (put metadata inside each record)"
        )
    elif kind in ("string_type", "list_type", "model_type", "dict_type", "model_attributes_type"):
        expected = {"string_type": "a string", "list_type": "a list"}.get(kind, "an object")
        message = f"{field}: expected {expected}, got {_describe(first['input'])}"
    else:
        message = f"{field}: {first['msg']}"
    return _Refusal(422, "invalid_field", message, field=field)


# ---------------------------------------------------------------------- the app


def _resolve(model: str | Path | NERModel) -> tuple[NERModel, Path | None]:
    """The model and the run folder whose ``report.json`` holds its scores (if any)."""
    if isinstance(model, NERModel):
        return model, None
    path = Path(model)
    ner = load(path)
    run_dir = path if (path / "model" / "config.cfg").is_file() else path.parent
    return ner, run_dir if (run_dir / "report.json").is_file() else None


def create_app(
    model: str | Path | NERModel,
    *,
    max_text_length: int = MAX_TEXT_LENGTH,
    max_batch_size: int = MAX_BATCH_SIZE,
    timeout: float = TIMEOUT,
    batch_size: int = 64,
) -> "FastAPI":
    """The FastAPI application serving ``model`` (a run folder, a model folder or a loaded model).

    ``max_text_length`` (characters) and ``max_batch_size`` (texts per request)
    bound a request (413 beyond them); a request waiting for the model longer
    than ``timeout`` seconds is answered 503, one the model runs on longer
    504 — the model then stops at its next batch of ``batch_size`` texts, and
    the process serves on. Requests are annotated one at a time, in a worker
    thread, so the event loop keeps answering ``/health``.

    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> TestClient(create_app("runs/v1")).get("/health").json()  # doctest: +SKIP
    {'status': 'ok'}
    """
    for name, value in (("max_text_length", max_text_length), ("max_batch_size", max_batch_size),
                        ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise HybridNERError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise HybridNERError(f"timeout must be a positive number of seconds, got {timeout!r}")
    fastapi = _require("fastapi")
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    ner, run_dir = _resolve(model)
    if max_text_length > ner.nlp.max_length:
        raise HybridNERError(
            f"max_text_length={max_text_length:,} is more than the model's nlp.max_length "
            f"({ner.nlp.max_length:,}); lower it"
        )
    limits = {"max_text_length": max_text_length, "max_batch_size": max_batch_size, "timeout": float(timeout)}
    info = model_info(ner, run_dir, limits=limits)
    shapes = _request_models(max_text_length, max_batch_size)
    max_body = max_batch_size * (4 * max_text_length + 1024) + 65536  # UTF-8 and JSON escapes
    # one model thread per process, made on first use and again after a shutdown (an
    # app's lifespan may run more than once, e.g. under several test clients)
    executors: list[ThreadPoolExecutor] = []

    def executor() -> ThreadPoolExecutor:
        if not executors:
            executors.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybridner-annotate"))
        return executors[0]

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        logger.info("serving %s (labels %s)", info["name"], ", ".join(info["labels"]))
        yield
        if executors:
            executors.pop().shutdown(wait=False, cancel_futures=True)

    app = fastapi.FastAPI(
        title="hybridner NER service",
        version=__version__,
        description=(
            "Named entities found by a model trained with hybridner. POST texts to /annotate; "
            "every error answers {\"error\": {\"code\", \"message\", \"field\", \"limit\"}}."
        ),
        lifespan=lifespan,
    )
    app.state.ner = ner

    def error_response(refusal: _Refusal) -> Any:
        return JSONResponse(refusal.body(), status_code=refusal.status, headers=refusal.headers)

    @app.exception_handler(_Refusal)
    async def refused(request: Any, exc: _Refusal) -> Any:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _field(tuple(first["loc"]))
        return error_response(_Refusal(422, "invalid_field", f"{field}: {first['msg']}", field=field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Any, exc: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail), "field": None, "limit": None}},
            status_code=exc.status_code, headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def crashed(request: Any, exc: Exception) -> Any:
        logger.error("internal error on %s: %s: %s", request.url.path, type(exc).__name__, exc, exc_info=exc)
        return JSONResponse(
            {"error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}",
                       "field": None, "limit": None}},
            status_code=500,
        )

    async def read_body(request: Any) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise _Refusal(413, "body_too_large", f"the body has {int(declared):,} bytes, more than "
                           f"the {max_body:,} a request of at most {max_batch_size} texts of "
                           f"{max_text_length:,} characters needs", field="body", limit=max_body)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise _Refusal(413, "body_too_large", f"the body is larger than {max_body:,} bytes",
                               field="body", limit=max_body)
            chunks.append(chunk)
        return b"".join(chunks)

    def parse_json(body: bytes) -> list[dict[str, Any]]:
        try:
            data = json.loads(body.decode("utf-8-sig"))
        except UnicodeDecodeError as err:
            raise _Refusal(422, "invalid_json", f"body: not valid UTF-8 (byte {err.start}); send UTF-8 "
                           "JSON", field="body") from None
        except json.JSONDecodeError as err:
            raise _Refusal(422, "invalid_json", f"body: not valid JSON ({err.msg}; line {err.lineno} "
                           f"column {err.colno})", field="body") from None
        if not isinstance(data, dict):
            raise _Refusal(422, "invalid_field", f"body: expected a JSON object such as "
                           f"{{\"text\": \"...\"}} or {{\"texts\": [...]}}, got {_describe(data)}",
                           field="body")
        if "text" in data:
            validate(shapes["record"], data, "")
            return [data]
        for key in ("texts", "records"):
            if key in data:
                items = data[key]
                if isinstance(items, list) and len(items) > max_batch_size:
                    raise _Refusal(
                        413, "batch_too_large", f"{key}: {len(items):,} items, more than the "
                        f"{max_batch_size} a request may hold; send smaller batches",
                        field=key, limit=max_batch_size,
                    )
                validate(shapes[key], data, "")
                return [{"text": t} for t in items] if key == "texts" else items
        raise _Refusal(422, "invalid_field", "body: give \"text\" (one record), \"texts\" (a list of "
                       f"strings) or \"records\" (a list of records); got fields {sorted(data)}",
                       field="body")

    def parse_ndjson(body: bytes) -> list[dict[str, Any]]:
        try:
            lines = body.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError as err:
            raise _Refusal(422, "invalid_json", f"body: not valid UTF-8 (byte {err.start}); send UTF-8 "
                           "JSON lines", field="body") from None
        numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
        if len(numbered) > max_batch_size:
            raise _Refusal(413, "batch_too_large", f"body: {len(numbered):,} records, more than the "
                           f"{max_batch_size} a request may hold; send smaller batches",
                           field="body", limit=max_batch_size)
        records = []
        for lineno, line in numbered:
            where = f"line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise _Refusal(422, "invalid_json", f"{where}: not valid JSON ({err.msg}; column "
                               f"{err.colno}); each line must be one JSON object such as "
                               "{\"text\": \"...\"}", field=where) from None
            if not isinstance(record, dict):
                raise _Refusal(422, "invalid_field", f"{where}: expected a JSON object such as "
                               f"{{\"text\": \"...\"}}, got {_describe(record)}", field=where)
            validate(shapes["record"], record, where)
            records.append(record)
        return records

    def validate(shape: type[BaseModel], data: dict[str, Any], prefix: str) -> None:
        try:
            shape.model_validate(data)
        except ValidationError as err:
            raise _refusal_from(err, prefix=prefix, max_text_length=max_text_length,
                                max_batch_size=max_batch_size) from None

    def annotate(records: list[dict[str, Any]], cancelled: threading.Event) -> list[dict[str, Any]]:
        """In the worker thread: the records annotated, or _Cancelled once abandoned."""
        if cancelled.is_set():
            raise _Cancelled
        out = []
        stream = ner.annotate(records, batch_size=batch_size)
        for record in stream:
            out.append(record)
            if cancelled.is_set():
                stream.close()
                raise _Cancelled
        return out

    async def run_model(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cancelled = threading.Event()
        job = executor().submit(annotate, records, cancelled)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job), timeout)
        except TimeoutError:
            cancelled.set()
            job.cancel()
            if job.cancelled():
                logger.warning("a request of %d texts waited %.1fs for the model; refused (503)",
                               len(records), timeout)
                raise _Refusal(
                    503, "busy", f"the model was busy for the {timeout:g} s this service waits; retry "
                    "later, or run more workers (hybridner serve --workers N)", limit=timeout,
                    headers={"Retry-After": str(max(1, math.ceil(timeout)))},
                ) from None
            logger.warning("a request of %d texts ran past the %.1fs timeout; abandoned (504)",
                           len(records), timeout)
            raise _Refusal(
                504, "timeout", f"annotating the request took longer than the {timeout:g} s limit; "
                "send fewer or shorter texts", limit=timeout,
            ) from None
        except CorpusError as err:
            raise _Refusal(422, "model_failed", str(err)) from None

    errors = {
        code: {"model": ErrorResponse, "description": description}
        for code, description in (
            (413, "A text, the batch or the body is over its limit (field and limit named)."),
            (415, "A body that is neither JSON nor JSON lines."),
            (422, "A malformed body: invalid JSON, a missing or wrong field (named), or a text the model fails on."),
            (503, "The model stayed busy for the whole timeout; retry (Retry-After)."),
            (504, "Annotating the request took longer than the timeout."),
        )
    }
    ndjson_records = {"type": "array", "items": {"$ref": "#/components/schemas/TextRecord"},
                      "maxItems": max_batch_size}
    request_body = {
        "required": True,
        "description": (
            "JSON: one record {\"text\", \"id\"?, ...}, or {\"texts\": [...]}, or {\"records\": [...]}; "
            f"or JSON lines ({NDJSON}): one record per line. At most {max_batch_size} texts of "
            f"{max_text_length:,} characters each."
        ),
        "content": {
            "application/json": {"schema": {"anyOf": [
                {"$ref": f"#/components/schemas/{name}"} for name in ("TextRecord", "TextsBatch", "RecordsBatch")
            ]}},
            NDJSON: {"schema": ndjson_records},
        },
    }

    async def annotate_endpoint(request: Any) -> Any:
        """The records ``hybridner annotate`` writes: each input record (id and other fields
        carried through) with ``entities`` [{start, end, label, text}]."""
        media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        ndjson = media_type in _NDJSON_TYPES
        if not ndjson and media_type != "application/json" and not media_type.endswith("+json"):
            raise _Refusal(415, "unsupported_media_type", f"Content-Type {media_type!r}: send "
                           f"application/json or {NDJSON}", field="content-type")
        body = await read_body(request)
        records = parse_ndjson(body) if ndjson else parse_json(body)
        annotated = await run_model(records) if records else []
        if ndjson:
            return Response("".join(json_line(r) + "\n" for r in annotated), media_type=NDJSON)
        return Response('{"records": [' + ", ".join(json_line(r) for r in annotated) + "]}",
                        media_type="application/json")

    # the module postpones annotations; FastAPI must see the real Request class
    annotate_endpoint.__annotations__["request"] = fastapi.Request
    app.post(
        "/annotate",
        summary="Annotate one text or a batch",
        response_model=AnnotateResponse,
        responses={
            200: {"content": {NDJSON: {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/AnnotatedRecord"},
            }}}, "description": "The records, each with its entities, in request order; JSON lines "
                                "in answer to JSON lines."},
            **errors,
        },
        openapi_extra={"requestBody": request_body},
    )(annotate_endpoint)

    @app.get("/health", response_model=Health, summary="Whether the service is up")
    async def health() -> Any:
        return JSONResponse({"status": "ok"})

    @app.get("/model", response_model=ModelInfo, summary="The model: labels, versions, scores, limits")
    async def model_endpoint() -> Any:
        return JSONResponse(info)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for shape in (shapes["record"], shapes["texts"], shapes["records"], AnnotatedRecord):
                found = shape.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(found.pop("$defs", {}))
                components[shape.__name__] = found
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _app_from_environment() -> "FastAPI":
    """The app of one uvicorn worker process (``serve(workers=N)``), from the parent's settings."""
    settings = json.loads(os.environ[_SETTINGS_ENV])
    return create_app(settings.pop("model"), **settings)


def serve(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    max_text_length: int = MAX_TEXT_LENGTH,
    max_batch_size: int = MAX_BATCH_SIZE,
    timeout: float = TIMEOUT,
    log_level: str = "info",
) -> None:
    """Serve ``model`` with uvicorn until interrupted; ``workers`` processes each load it once.

    >>> serve("runs/v1", port=8080)  # doctest: +SKIP
    """
    uvicorn = _require("uvicorn")
    if not isinstance(workers, int) or workers < 1:
        raise HybridNERError(f"workers must be a positive integer, got {workers!r}")
    settings = {"max_text_length": max_text_length, "max_batch_size": max_batch_size, "timeout": timeout}
    if workers == 1:
        app = create_app(model, **settings)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # each worker process builds its own app (and loads the model) from the settings;
    # the model is loaded here first so that a bad path fails before any worker starts
    create_app(model, **settings)
    previous = os.environ.get(_SETTINGS_ENV)
    os.environ[_SETTINGS_ENV] = json.dumps({"model": str(Path(model).resolve()), **settings})
    try:
        uvicorn.run("hybridner.serve:_app_from_environment", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level)
    finally:
        if previous is None:
            os.environ.pop(_SETTINGS_ENV, None)
        else:
            os.environ[_SETTINGS_ENV] = previous
