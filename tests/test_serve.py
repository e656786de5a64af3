"""``hybridner serve``: the HTTP API through FastAPI's test client, its OpenAPI contract
(schemathesis) and a load test of the real server on loopback.

The tests skip, saying why, where the ``serve`` extra (FastAPI, uvicorn) or the test
tools (httpx2, schemathesis) are not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import spacy
from hypothesis import HealthCheck, settings
from spacy.language import Language
from typer.testing import CliRunner

import hybridner
from hybridner.cli import app as cli_app
from hybridner.errors import HybridNERError
from hybridner.inference import NERModel, load

from benchmarks.http_load import environment, start_server, stop_server
from conftest import DRUGS_IN_LEXICON, REPO, TinyProject, make_ruler_model, make_tiny_project

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("httpx2", reason="FastAPI's test client needs httpx2: pip install -e '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402

from hybridner.serve import NDJSON, create_app  # noqa: E402

runner = CliRunner()


@Language.component("hybridner_test_serve_slow")
def slow_component(doc):
    """Sleeps on texts with SLOW in them; fails on BOOM."""
    if "SLOW" in doc.text:
        time.sleep(1.0)
    if "BOOM" in doc.text:
        raise ValueError("the test component refuses BOOM")
    return doc


def ruler_model(*, slow: bool = False) -> NERModel:
    """A deterministic model: an entity ruler named "ner" that finds the lexicon drugs."""
    nlp = spacy.blank("en")
    if slow:
        nlp.add_pipe("hybridner_test_serve_slow")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([{"label": "Drug", "pattern": drug} for drug in DRUGS_IN_LEXICON])
    return NERModel(nlp)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    return make_tiny_project(tmp_path_factory.mktemp("serve-project"))


@pytest.fixture(scope="module")
def run_dir(project: TinyProject) -> Path:
    """One bootstrap run (2 epochs): a run folder with model/ and report.json."""
    out = project.root / "runs" / "v1"
    hybridner.bootstrap(
        project.lexicons, rules=project.rules, corpus=project.corpus, dev=project.dev,
        out=out, max_epochs=2, seed=0, html=False,
    )
    return out


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app(ruler_model(slow=True), max_text_length=200, max_batch_size=4, timeout=10)
    with TestClient(app) as test_client:
        yield test_client


def post_ndjson(client: TestClient, lines: list[str]) -> object:
    return client.post("/annotate", content="\n".join(lines).encode("utf8"),
                       headers={"Content-Type": NDJSON})


RECORDS = [
    {"id": "a", "text": "Started on aspirin and warfarin .", "meta": {"ward": 3}},
    {"id": 7, "text": "Nothing here ."},
    {"text": "metformin 500 mg", "source": "x"},
]


# ---------------------------------------------------------------------- the endpoints


def test_serve_annotate_one_text_batches_and_ndjson_give_the_annotate_records(client: TestClient) -> None:
    expected = list(ruler_model().annotate(RECORDS))
    assert expected[0]["entities"] == [
        {"start": 11, "end": 18, "label": "Drug", "text": "aspirin"},
        {"start": 23, "end": 31, "label": "Drug", "text": "warfarin"},
    ]
    one = client.post("/annotate", json=RECORDS[0])
    assert one.status_code == 200 and one.headers["content-type"] == "application/json"
    assert one.json() == {"records": expected[:1]}
    records = client.post("/annotate", json={"records": RECORDS})
    assert records.json() == {"records": expected}
    texts = client.post("/annotate", json={"texts": [r["text"] for r in RECORDS]})
    assert texts.json() == {"records": [{"text": r["text"], "entities": r["entities"]} for r in expected]}
    lines = post_ndjson(client, [json.dumps(r) for r in RECORDS] + ["", "  "])
    assert lines.status_code == 200 and lines.headers["content-type"].startswith(NDJSON)
    assert [json.loads(line) for line in lines.text.splitlines()] == expected
    assert client.post("/annotate", json={"texts": []}).json() == {"records": []}


@pytest.mark.slow
def test_serve_answers_exactly_what_the_annotate_command_writes(run_dir: Path, tmp_path: Path) -> None:
    records = [{"id": f"n{i}", "text": text, "meta": {"i": i}} for i, text in enumerate([
        "The patient was started on naproxen for migraine .",
        "Aspirin was stopped because of worsening asthma .",
        "We added heparin 20 mg daily given poorly controlled psoriasis .",
        "Café and naïve text — “quotes” \u2028 line separator .",
    ])]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), "utf8")
    written = tmp_path / "out.jsonl"
    result = runner.invoke(cli_app, ["annotate", str(run_dir / "model"), str(source), "--out", str(written)])
    assert result.exit_code == 0, result.output
    with TestClient(create_app(run_dir)) as client:
        answer = post_ndjson(client, source.read_text("utf8").splitlines())
        assert answer.status_code == 200
        assert answer.text == written.read_text("utf8")  # byte for byte
        as_json = client.post("/annotate", json={"records": records})
    expected = [json.loads(line) for line in written.read_text("utf8").splitlines()]
    assert as_json.json() == {"records": expected}
    assert any(r["entities"] for r in expected), "the trained model should find some entities"


def test_serve_health(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["run", "model"])
def test_serve_model_shows_labels_versions_and_the_run_scores(run_dir: Path, where: str) -> None:
    report = json.loads((run_dir / "report.json").read_text("utf8"))
    path = run_dir if where == "run" else run_dir / "model"
    with TestClient(create_app(path, max_batch_size=8)) as client:
        info = client.get("/model").json()
    assert info["labels"] == ["Disease", "Dose", "Drug"] == report["labels"]
    assert info["pipeline"][-1] == "ner" and info["hybridner_version"] == hybridner.__version__
    assert info["version"] == load(run_dir).nlp.meta["version"]
    scores = info["scores"]
    assert scores["dev_source"] == "dev.jsonl" and scores["dev_documents"] == 12
    for key in ("lexicon_only", "aggregated", "model"):
        assert scores[key] == {k: report["dev"][key][k] for k in ("precision", "recall", "f1")}
    assert scores["model_per_label"]["Drug"]["support"] == report["dev"]["model"]["per_label"]["Drug"]["support"]
    assert info["limits"] == {"max_text_length": 100_000, "max_batch_size": 8, "timeout": 30.0}


def test_serve_model_without_a_run_report_has_no_scores(tmp_path: Path) -> None:
    model = make_ruler_model(tmp_path / "model")
    with TestClient(create_app(model)) as client:
        info = client.get("/model").json()
    assert info["labels"] == ["Drug"] and info["scores"] is None


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"texts": ["aspirin", "x" * 201]}, 413, "text_too_long", "texts[1]"),
        ({"text": "x" * 201}, 413, "text_too_long", "text"),
        ({"records": [{"text": "a"}, {"text": "x" * 201}]}, 413, "text_too_long", "records[1].text"),
        ({"texts": ["a"] * 5}, 413, "batch_too_large", "texts"),
        ({"records": [{"text": "a"}] * 5}, 413, "batch_too_large", "records"),
        ({"texts": ["a", "b", 3]}, 422, "invalid_field", "texts[2]"),
        ({"texts": "aspirin"}, 422, "invalid_field", "texts"),
        ({"records": [{"text": "a"}, {"id": 2}]}, 422, "invalid_field", "records[1].text"),
        ({"records": [{"text": "a"}, "b"]}, 422, "invalid_field", "records[1]"),
        ({"text": None}, 422, "invalid_field", "text"),
        ({"text": ["a"]}, 422, "invalid_field", "text"),
        ({"texts": ["a"], "id": 3}, 422, "invalid_field", "id"),
        ({"texts": ["a"], "records": []}, 422, "invalid_field", "records"),
        ({"body": "a"}, 422, "invalid_field", "body"),
        ({}, 422, "invalid_field", "body"),
        (["aspirin"], 422, "invalid_field", "body"),
        ("aspirin", 422, "invalid_field", "body"),
        (5, 422, "invalid_field", "body"),
    ],
)
def test_serve_bad_json_bodies_name_the_field(client: TestClient, body, status, code, field) -> None:
    answer = client.post("/annotate", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"].startswith(field)
    if status == 413:
        assert error["limit"] == (200 if code == "text_too_long" else 4)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code", "field"),
    [
        (b'{"text": "aspirin"', "application/json", 422, "invalid_json", "body"),
        (b"", "application/json", 422, "invalid_json", "body"),
        (b'{"text": "\xff\xfe"}', "application/json", 422, "invalid_json", "body"),
        (b"text=aspirin", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "content-type"),
        (b'{"text": "a"}\n{"text": ', NDJSON, 422, "invalid_json", "line 2"),
        (b'{"text": "a"}\n\n["a"]', NDJSON, 422, "invalid_field", "line 3"),
        (b'{"text": "a"}\n{"id": 1}', NDJSON, 422, "invalid_field", "line 2.text"),
        (b'{"text": "' + b"x" * 201 + b'"}', NDJSON, 413, "text_too_long", "line 1.text"),
        (b'{"text": "a"}\n' * 5, NDJSON, 413, "batch_too_large", "body"),
    ],
)
def test_serve_malformed_bodies_are_4xx_never_500(client: TestClient, content, content_type, status, code, field) -> None:
    answer = client.post("/annotate", content=content, headers={"Content-Type": content_type})
    assert answer.status_code == status, answer.text
    assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (code, field)


def test_serve_body_too_large_is_refused_before_reading(client: TestClient) -> None:
    big = b'{"texts": ["' + b"a" * 200 + b'"]}'
    answer = client.post("/annotate", content=big * 1, headers={
        "Content-Type": "application/json", "Content-Length": str(10**9)})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"


def test_serve_unknown_paths_and_methods_use_the_error_shape(client: TestClient) -> None:
    assert client.get("/nothing").json()["error"]["code"] == "not_found"
    answer = client.get("/annotate")
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"


def test_serve_a_text_the_model_fails_on_is_a_422_naming_it(client: TestClient) -> None:
    answer = client.post("/annotate", json={"records": [{"id": "ok", "text": "a"}, {"id": "bad", "text": "BOOM"}]})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "model_failed"
    assert "record 'bad': the model failed on this text" in answer.json()["error"]["message"]


def test_serve_timeouts_answer_504_and_503_and_the_worker_serves_on() -> None:
    app = create_app(ruler_model(slow=True), timeout=0.3)
    with TestClient(app) as client:
        started = time.perf_counter()
        slow = client.post("/annotate", json={"texts": ["SLOW aspirin"]})
        assert slow.status_code == 504 and time.perf_counter() - started < 0.9
        assert slow.json()["error"] == {
            "code": "timeout", "field": None, "limit": 0.3,
            "message": "annotating the request took longer than the 0.3 s limit; send fewer or shorter texts",
        }
        # the model is still on the slow text: the next request waits in vain
        busy = client.post("/annotate", json={"text": "aspirin"})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
        assert busy.headers["retry-after"] == "1"
        assert client.get("/health").status_code == 200
        time.sleep(1.0)
        after = client.post("/annotate", json={"text": "aspirin"})
        assert after.status_code == 200 and after.json()["records"][0]["entities"][0]["text"] == "aspirin"


def test_serve_health_answers_while_the_model_works() -> None:
    app = create_app(ruler_model(slow=True), timeout=5)
    with TestClient(app) as client:
        answers = {}
        worker = threading.Thread(target=lambda: answers.update(
            slow=client.post("/annotate", json={"text": "SLOW"})))
        worker.start()
        time.sleep(0.2)
        started = time.perf_counter()
        assert client.get("/health").status_code == 200
        assert time.perf_counter() - started < 0.5
        worker.join()
        assert answers["slow"].status_code == 200


def test_serve_app_outlives_its_lifespan_and_runs_again() -> None:
    """An app started and stopped (its model thread shut down) serves again when restarted."""
    app = create_app(ruler_model())
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/annotate", json={"text": "aspirin"}).status_code == 200
    assert TestClient(app).post("/annotate", json={"text": "aspirin"}).status_code == 200


def test_serve_bad_settings_and_models_are_typed_errors(tmp_path: Path) -> None:
    ner = ruler_model()
    with pytest.raises(HybridNERError, match="max_batch_size must be a positive integer, got 0"):
        create_app(ner, max_batch_size=0)
    with pytest.raises(HybridNERError, match="timeout must be a positive number"):
        create_app(ner, timeout=float("nan"))
    with pytest.raises(HybridNERError, match=r"more than the model's nlp.max_length"):
        create_app(ner, max_text_length=10**7)
    with pytest.raises(HybridNERError, match="not a spaCy model folder"):
        create_app(tmp_path)


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(HybridNERError, match=r'pip install "hybridner\[serve\]"'):
        create_app(ruler_model())


def test_cli_serve_bad_model_exits_with_one_error_line(tmp_path: Path) -> None:
    result = runner.invoke(cli_app, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "not a spaCy model folder" in result.stderr


# ---------------------------------------------------------------------- the OpenAPI contract

schemathesis = pytest.importorskip("schemathesis", reason="the contract test needs schemathesis: pip install -e '.[test]'")


@schemathesis.serializer(NDJSON)
def _to_json_lines(ctx, value):
    """The documented JSON-lines body (an array of records) as the bytes sent."""
    if isinstance(value, list):
        return "".join(json.dumps(item) + "\n" for item in value).encode("utf8")
    return json.dumps(value).encode("utf8")


@schemathesis.deserializer(NDJSON)
def _from_json_lines(ctx, response):
    return [json.loads(line) for line in response.content.decode("utf8").splitlines() if line.strip()]


# built at import: schemathesis's lazy from_fixture does not work with pytest 9. Schema-
# violating requests must be refused with a 4xx; 413 (a documented limit: maxLength,
# maxItems) is one such answer, next to schemathesis's defaults.
API_SCHEMA = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(ruler_model(), max_text_length=300, max_batch_size=6, timeout=10),
    config=schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
        "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
    ]}}}),
)


@API_SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_serve_contract_every_operation_conforms_and_never_5xx(case) -> None:
    """Generated valid and invalid requests: documented status codes, content types and
    response schemas; valid data accepted, invalid data rejected; no server error."""
    case.call_and_validate()


def test_serve_openapi_documents_bodies_errors_and_limits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/annotate"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", NDJSON}
    assert {"200", "413", "415", "422", "503", "504"} <= set(operation["responses"])
    assert operation["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"}
    components = schema["components"]["schemas"]
    assert components["TextsBatch"]["properties"]["texts"]["maxItems"] == 4
    assert components["TextRecord"]["properties"]["text"]["maxLength"] == 200
    assert {"/health", "/model"} <= set(schema["paths"])


# ---------------------------------------------------------------------- the real server, under load


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "batch", "requests"), [(1, 1, 200), (1, 8, 60), (2, 4, 60)])
def test_serve_under_load_nothing_fails(
    run_dir: Path, project: TinyProject, tmp_path: Path, workers: int, batch: int, requests: int
) -> None:
    """The server on loopback; a second process sends a bounded number of requests for a
    bounded time from 4 connections; every answer is a valid 200."""
    texts = [json.loads(line)["text"] for line in project.corpus.read_text("utf8").splitlines()]
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts), "utf8")
    server, url = start_server(run_dir, "--workers", str(workers))
    try:
        client = subprocess.run(
            [sys.executable, "-m", "benchmarks.http_load", "--url", url, "--texts", str(texts_file),
             "--batch", str(batch), "--requests", str(requests), "--concurrency", "4", "--duration", "20"],
            env=environment(), cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        summary = json.loads(client.stdout)
        assert summary["failed"] == 0 and client.returncode == 0, summary["failures"]
        assert summary["ok"] == summary["sent"] > 0
        assert summary["sent"] == requests or summary["seconds"] >= 20
        # after the load, the server still answers
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            assert answer.status == 200
        assert server.poll() is None, "the server died under load"
    finally:
        stop_server(server)
