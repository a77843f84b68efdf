"""Deletes and an erasure while writers append and add memory records, over HTTP against `make serve` on DynamoDB
Local (defect 1): once the stream is quiet, a scan finds nothing of the deleted sessions or the erased
user but the erasure's own record.

30 sessions, 3 writers each (appends and memory records, until the session answers 404): 10 sessions of one user
are deleted one by one (``DELETE ...?permanent=true``), 10 of another in one ``sessions:batchDelete``, and the 10 of
a third user go with the user's erasure (``DELETE /users/{u}``), each while their writers run.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable

pytestmark = [pytest.mark.dynamodb_local, pytest.mark.slow]  # about 20 s on an idle machine

SESSIONS_EACH = 10
WRITERS = 3
MAX_WRITES = 60
"""Writes a writer makes at most: it writes until its session answers 404."""
QUIET_SECONDS = 180.0
"""How long the stream may take to delete everything once the requests are done: generous, since the test stops
waiting as soon as nothing is left (a loaded machine makes it slower, not red)."""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[RunningServer, Any, str]]:
    """`make serve` (4 instances) on a DynamoDB Local of its own (a table dropped on the shared one, as the
    integration tier's tables are, stops the streams of the others), with a client on it."""
    try:
        dynamodb = DynamoDBLocal().start()
    except DynamoDBLocalUnavailable as exc:
        pytest.skip(f"DynamoDB Local cannot run here: {exc}")
    try:
        table = f"session-service-racing-{uuid.uuid4().hex[:8]}"
        with serve_in_subprocess(endpoint_url=dynamodb.endpoint, env={"TABLE_NAME": table}, workers=4) as running:
            yield running, boto3.client("dynamodb", endpoint_url=dynamodb.endpoint), table
    finally:
        dynamodb.stop()


def _left(client: Any, table: str, needles: list[str]) -> list[tuple[str, str]]:
    items = [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    return sorted(
        (item["PK"]["S"], item["SK"]["S"]) for item in items if any(needle in json.dumps(item) for needle in needles)
    )


def test_deletes_and_an_erasure_racing_writers_leave_nothing_behind(server: tuple[RunningServer, Any, str]) -> None:
    running, client, table = server
    users = {path: f"{path}_{uuid.uuid4().hex[:8]}" for path in ("deleted", "batch", "erased")}
    http = httpx.Client(base_url=running.url, timeout=60, limits=httpx.Limits(max_connections=100))
    sessions: dict[str, list[str]] = {}
    for path, user in users.items():
        sessions[path] = []
        for _ in range(SESSIONS_EACH):
            created = http.post("/api/v1/sessions", json={"user_id": user})
            assert created.status_code == 201, created.text
            sessions[path].append(created.json()["session_id"])
    written = threading.Semaphore(0)
    answers: list[int] = []

    def write(user: str, sid: str, number: int) -> None:
        for k in range(MAX_WRITES):
            if (k + number) % 2:
                url, body = f"/api/v1/sessions/{sid}/memory", {"memory_type": "entity", "content": f"{user} {k}"}
            else:
                url, body = f"/api/v1/sessions/{sid}/messages", {"role": "user", "content": f"{user} {k}"}
            answer = http.post(url, params={"user_id": user}, json=body)
            answers.append(answer.status_code)
            if k == 0:
                written.release()
            if answer.status_code == 404:
                return

    writers = [
        threading.Thread(target=write, args=(users[path], sid, number))
        for path in sessions
        for sid in sessions[path]
        for number in range(WRITERS)
    ]
    for thread in writers:
        thread.start()
    for _ in writers:  # every writer is under way: delete while they write
        written.acquire(timeout=60)

    deletes: list[httpx.Response] = []

    def delete(method: str, url: str, user: str, **kwargs: Any) -> None:
        deletes.append(http.request(method, url, params={"user_id": user, **kwargs.pop("params", {})}, **kwargs))

    plain = {"params": {"permanent": "true"}}
    jobs = [("DELETE", f"/api/v1/sessions/{sid}", users["deleted"], plain) for sid in sessions["deleted"]]
    jobs.append(("POST", "/api/v1/sessions:batchDelete", users["batch"], {"json": {"session_ids": sessions["batch"]}}))
    jobs.append(("DELETE", f"/api/v1/users/{users['erased']}", users["erased"], {}))
    deleters = [threading.Thread(target=delete, args=job[:3], kwargs=job[3]) for job in jobs]
    for thread in deleters:
        thread.start()
    for thread in [*deleters, *writers]:
        thread.join(90)
    assert sorted(answer.status_code for answer in deletes) == [200] * (SESSIONS_EACH + 1) + [202]
    assert {"deleted": SESSIONS_EACH} in [answer.json() for answer in deletes]
    assert set(answers) <= {201, 404}, sorted(set(answers))

    needles = [*(sid for ids in sessions.values() for sid in ids), *users.values()]
    expected = [(f"ERASURE#{users['erased']}", "PROGRESS")]
    kept_users = {f"USER#{users['deleted']}", f"USER#{users['batch']}"}
    left: list[tuple[str, str]] = []
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        # The deleting users' counts stay (their sessions went, not they).
        left = [key for key in _left(client, table, needles) if key[0] not in kept_users]
        if left == expected:
            break
        time.sleep(1)
    erased = http.get(f"/api/v1/users/{users['erased']}/erasure", params={"user_id": users["erased"]})
    http.close()
    assert left == expected
    assert erased.json()["status"] == "erased"
    print(f"{len(answers)} writes ({answers.count(201)} stored) raced {3 * SESSIONS_EACH} deletes")
