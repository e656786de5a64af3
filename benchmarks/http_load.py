"""A small HTTP load client for ``hybridner serve``: bounded requests, bounded time.

Run it in its own process (the load test and ``benchmarks/serve.py`` do)::

    python -m benchmarks.http_load --url http://127.0.0.1:8080 --texts texts.json \\
        --batch 32 --requests 200 --concurrency 4 --duration 10

It sends ``POST /annotate`` requests — ``{"text": ...}`` with ``--batch 1``, else
``{"records": [...]}`` of ``--batch`` texts — from ``--concurrency`` threads, each
with its own keep-alive connection, until ``--requests`` have been sent or
``--duration`` seconds have passed. Each answer is checked: status 200, one
record per text sent, in order, with the text and id sent, and entities whose
offsets are in the text and spell its ``text``. It prints one JSON object: the
counts, the failures (a few described), requests/s, texts/s and latency
percentiles. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- a server to load


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment() -> dict[str, str]:
    """This environment, with the repository importable (for ``python -m`` children)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def start_server(model: Path, *extra: str, wait: float = 60.0) -> tuple[subprocess.Popen, str]:
    """``hybridner serve MODEL`` on a free loopback port, once ``/health`` answers.

    Returns the process and its URL; raises RuntimeError (after stopping it) when it
    exits or does not answer within ``wait`` seconds.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "hybridner", "serve", str(model), "--port", str(port), "--quiet", *extra],
        env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read()[-2000:]
            stop_server(server)
            raise RuntimeError(f"the server exited with status {server.returncode}: {error}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server did not answer /health within {wait} s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server of :func:`start_server` (terminate, then kill)."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if server.stderr is not None:
        server.stderr.close()


# ---------------------------------------------------------------- the client


def check_answer(status: int, body: bytes, sent: list[dict[str, Any]]) -> str | None:
    """Why an answer to ``sent`` is wrong, or None."""
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    try:
        records = json.loads(body)["records"]
    except (ValueError, KeyError, TypeError) as err:
        return f"not the documented JSON ({err}): {body[:200]!r}"
    if len(records) != len(sent):
        return f"{len(records)} records for {len(sent)} texts"
    for record, original in zip(records, sent):
        if record.get("text") != original["text"] or record.get("id") != original.get("id"):
            return f"record {original.get('id')!r} came back as {str(record)[:200]}"
        for entity in record.get("entities", None) or []:
            start, end = entity["start"], entity["end"]
            if not (0 <= start < end <= len(original["text"])) or original["text"][start:end] != entity["text"]:
                return f"record {original.get('id')!r}: entity {entity} does not match the text"
        if not isinstance(record.get("entities"), list):
            return f"record {original.get('id')!r} has no entities list"
    return None


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run_load(
    url: str, texts: list[str], *, batch: int = 1, requests: int = 200, concurrency: int = 4,
    duration: float = 10.0, timeout: float = 30.0,
) -> dict[str, Any]:
    """Send the load; return its summary (see the module's docstring)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    counts = {"sent": 0, "ok": 0, "failed": 0, "texts": 0}
    deadline = time.perf_counter() + duration

    def request_body(n: int) -> tuple[bytes, list[dict[str, Any]]]:
        sent = [
            {"id": f"r{n}-{i}", "text": texts[(n * batch + i) % len(texts)]} for i in range(batch)
        ]
        body = {"text": sent[0]["text"], "id": sent[0]["id"]} if batch == 1 else {"records": sent}
        return json.dumps(body).encode("utf8"), sent

    def worker() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            while time.perf_counter() < deadline:
                n = next(counter)
                if n >= requests:
                    return
                body, sent = request_body(n)
                started = time.perf_counter()
                try:
                    connection.request("POST", "/annotate", body=body,
                                       headers={"Content-Type": "application/json"})
                    response = connection.getresponse()
                    payload = response.read()
                    problem = check_answer(response.status, payload, sent)
                except (OSError, http.client.HTTPException) as err:
                    problem = f"{type(err).__name__}: {err}"
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=timeout)
                elapsed = time.perf_counter() - started
                with lock:
                    counts["sent"] += 1
                    if problem is None:
                        counts["ok"] += 1
                        counts["texts"] += len(sent)
                        latencies.append(elapsed)
                    else:
                        counts["failed"] += 1
                        if len(failures) < 5:
                            failures.append(problem)
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        **counts, "failures": failures, "batch": batch, "concurrency": concurrency,
        "seconds": round(wall, 3),
        "requests_per_s": counts["ok"] / wall if wall else 0.0,
        "texts_per_s": counts["texts"] / wall if wall else 0.0,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--texts", type=Path, required=True, help="a JSON list of strings")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    texts = json.loads(args.texts.read_text("utf8"))
    summary = run_load(
        args.url, texts, batch=args.batch, requests=args.requests, concurrency=args.concurrency,
        duration=args.duration, timeout=args.timeout,
    )
    print(json.dumps(summary))
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
