"""Concurrent clients against `make serve` on DynamoDB Local: requests run at once in separate Lambda-like
instances (worker processes), and no response ever carries another client's data.

Each client is its own user with its own sessions and message texts, and checks every answer it gets:
owner, session ids, titles, message contents. A server that ran two requests through one handler module
at once (Powertools' resolver keeps the current event on the module-level ``app``) would mix them up.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.dynamodb_local import DynamoDBLocalUnavailable, shared_instance

pytestmark = pytest.mark.dynamodb_local

CLIENTS = 8
WORKERS = 4
MIN_ROUNDS = 3
MAX_SECONDS = 120.0
"""Clients go on past ``MIN_ROUNDS`` until two instances have served, at most this long."""
_INSTANCE = re.compile(r" \((api-\d+)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """`make serve` with 4 instances on the test session's DynamoDB Local, a table of its own."""
    try:
        dynamodb = shared_instance()
    except DynamoDBLocalUnavailable as exc:
        pytest.skip(f"DynamoDB Local cannot run here: {exc}")
    table = f"session-service-concurrency-{uuid.uuid4().hex[:8]}"
    with serve_in_subprocess(endpoint_url=dynamodb.endpoint, env={"TABLE_NAME": table}, workers=WORKERS) as running:
        yield running


def instances_used(server: RunningServer) -> set[str]:
    """The API instances named in the server's request log lines so far."""
    return set(_INSTANCE.findall(server.log))


class Client:
    """One user's traffic; every mismatch is recorded in ``problems``."""

    def __init__(self, base_url: str, index: int) -> None:
        self.user = f"iso_{index}_{uuid.uuid4().hex[:6]}"
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.sessions: set[str] = set()
        self.problems: list[str] = []
        self.requests = 0

    def expect(self, condition: bool, what: str, response: httpx.Response) -> None:
        if not condition:
            self.problems.append(f"{self.user}: {what}: {response.status_code} {response.text[:300]}")

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        return self.http.request(method, url, **kwargs)

    def one_round(self, round_number: int) -> None:
        user, mine = self.user, {"user_id": self.user}
        title = f"{user} round {round_number}"
        created = self.call("POST", "/api/v1/sessions", json={"user_id": user, "title": title, "metadata": mine})
        body = created.json()
        self.expect(created.status_code == 201, "create", created)
        self.expect(body.get("user_id") == user and body.get("title") == title, "create answered another's", created)
        sid = str(body.get("session_id"))
        self.sessions.add(sid)
        texts = [f"{user}/{sid}/{k}" for k in range(2)]
        for text in texts:
            appended = self.call(
                "POST", f"/api/v1/sessions/{sid}/messages", params=mine, json={"role": "user", "content": text}
            )
            got = appended.json()
            self.expect(appended.status_code == 201, "append", appended)
            self.expect(
                got.get("session_id") == sid and got.get("content") == text, "append answered another's", appended
            )
        session = self.call("GET", f"/api/v1/sessions/{sid}", params=mine)
        got = session.json()
        self.expect(
            session.status_code == 200
            and (got.get("session_id"), got.get("user_id"), got.get("title")) == (sid, user, title),
            "get answered another's",
            session,
        )
        messages = self.call("GET", f"/api/v1/sessions/{sid}/messages", params=mine)
        contents = [m.get("content") for m in messages.json().get("messages", [])]
        self.expect(messages.status_code == 200 and contents == texts, "messages of another session", messages)
        listed = self.call("GET", f"/api/v1/users/{user}/sessions", params={"page_size": 200})
        owners = {s.get("user_id") for s in listed.json().get("sessions", [])}
        ids = {s.get("session_id") for s in listed.json().get("sessions", [])}
        self.expect(
            listed.status_code == 200 and owners <= {user} and ids <= self.sessions, "another's listing", listed
        )
        health = self.call("GET", "/health")
        self.expect(health.status_code == 200 and health.json().get("status") == "healthy", "health", health)


def test_concurrent_clients_only_ever_see_their_own_data(server: RunningServer) -> None:
    # Given: 8 clients released together against 4 instances
    clients = [Client(server.url, i) for i in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)
    enough = threading.Event()
    failures: list[BaseException] = []

    def run(client: Client) -> None:
        try:
            start.wait()
            rounds = 0
            while rounds < MIN_ROUNDS or not enough.is_set():
                client.one_round(rounds)
                rounds += 1
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)
            enough.set()

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    # When
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + MAX_SECONDS
    while len(instances_used(server)) < 2 and time.monotonic() < deadline and not failures:
        time.sleep(0.2)
    enough.set()
    for thread in threads:
        thread.join(MAX_SECONDS)
    for client in clients:
        client.http.close()

    # Then: nobody saw anybody else's data, and the requests ran in more than one instance
    assert not failures, failures
    problems = [problem for client in clients for problem in client.problems]
    assert problems == []
    used = instances_used(server)
    assert 2 <= len(used) <= WORKERS, used
    total = sum(client.requests for client in clients)
    print(f"{total} requests from {CLIENTS} clients served by {len(used)} instances: {sorted(used)}")
