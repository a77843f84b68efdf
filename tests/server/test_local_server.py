"""`make serve` over real HTTP: the server runs in a child process (``python -m devserver --port 0``),
backed by its in-memory moto store, and is called with httpx the way a user calls it with curl. The
default store (DynamoDB Local) is exercised in ``test_server_stores.py``; waits poll with generous
deadlines, so a loaded machine only makes them slower."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.streams import StreamPoller
from devserver.template import ROOT, stream_function_dir

USER = "test_user_123"
TABLE = os.environ["TABLE_NAME"]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One local server for the module, stopped at the end."""
    with serve_in_subprocess() as running:
        yield running
    assert running.process.returncode is not None


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client on the server's base URL."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "session_service"
    assert body["timestamp"].endswith("Z")


def test_health_detailed(http: httpx.Client) -> None:
    response = http.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "operational"
    assert body["database_connected"] is True


def test_seed_002_session_flow(http: httpx.Client) -> None:
    created = http.post("/api/v1/sessions", json={"user_id": USER, "title": "Test Session", "metadata": {"k": "v"}})
    assert created.status_code == 201, created.text
    session = created.json()
    sid = session["session_id"]
    assert uuid.UUID(sid)
    assert session["status"] == "active" and session["is_active"] is True
    assert created.headers.get("ETag")

    got = http.get(f"/api/v1/sessions/{sid}", params={"user_id": USER})
    assert got.status_code == 200
    assert got.json()["title"] == "Test Session"

    message = http.post(
        f"/api/v1/sessions/{sid}/messages",
        params={"user_id": USER},
        json={"role": "user", "content": "Hello", "tokens_used": 10, "cost_usd": 0.001},
    )
    assert message.status_code == 201, message.text
    assert message.json()["content"] == "Hello"

    messages = http.get(f"/api/v1/sessions/{sid}/messages", params={"user_id": USER})
    assert messages.status_code == 200
    listed = messages.json()
    assert listed["total"] == 1
    assert [m["content"] for m in listed["messages"]] == ["Hello"]

    memory = http.post(
        f"/api/v1/sessions/{sid}/memory",
        params={"user_id": USER},
        json={"memory_type": "preference", "content": "likes tea"},
    )
    assert memory.status_code == 201, memory.text
    assert memory.json()["memory_type"] == "preference"
    memories = http.get(f"/api/v1/sessions/{sid}/memory", params={"user_id": USER})
    assert memories.status_code == 200
    assert memories.json()["total"] == 1

    updated = http.put(f"/api/v1/sessions/{sid}", params={"user_id": USER}, json={"title": "Renamed"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "Renamed"

    summary = http.get(f"/api/v1/sessions/{sid}/summary", params={"user_id": USER})
    assert summary.status_code == 200
    assert summary.json()["message_count"] == 1
    assert summary.json()["total_tokens"] == 10
    assert summary.json()["has_memory"] is True

    sessions = http.get(f"/api/v1/users/{USER}/sessions", params={"active_only": "true", "page_size": 10})
    assert sessions.status_code == 200
    assert sid in [s["session_id"] for s in sessions.json()["sessions"]]

    ended = http.delete(f"/api/v1/sessions/{sid}", params={"user_id": USER})
    assert ended.status_code == 200, ended.text
    assert ended.json() == {"message": "Session ended successfully"}
    assert http.get(f"/api/v1/sessions/{sid}", params={"user_id": USER}).json()["status"] == "ended"


def test_stats_route_beats_session_id(http: httpx.Client) -> None:
    """``/api/v1/sessions/stats`` is the stats function's, not get_session's with ``session_id=stats``."""
    response = http.get("/api/v1/sessions/stats")
    assert response.status_code == 200, response.text
    assert set(response.json()) >= {"total_sessions", "active_sessions", "average_messages_per_session"}


def test_unknown_path_is_404(http: httpx.Client) -> None:
    response = http.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_405(http: httpx.Client) -> None:
    response = http.patch("/api/v1/sessions/stats")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert "GET" in response.headers["Allow"]


def test_validation_is_422_with_detail_list(http: httpx.Client) -> None:
    response = http.post("/api/v1/sessions", json={"user_id": USER, "unknown": 1})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert {"type", "loc", "msg"} <= set(detail[0])


def test_missing_session_is_404(http: httpx.Client) -> None:
    response = http.get(f"/api/v1/sessions/{uuid.uuid4()}", params={"user_id": USER})
    assert response.status_code == 404
    assert response.json() == {"detail": "Session not found"}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"\xff\xfe\x00garbage", "application/json", id="non-utf8-json"),
        pytest.param(b'{"user_id": "u1"}', "text/plain", id="undeclared-content-type"),
        pytest.param(b'{"user_id": "u1"}', "multipart/form-data", id="multipart-without-boundary"),
    ],
)
def test_undecodable_bodies_are_4xx(http: httpx.Client, content: bytes, content_type: str) -> None:
    """SPEC section 4: no input makes a handler answer 500 (found by schemathesis)."""
    response = http.post("/api/v1/sessions", content=content, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


def test_malformed_requests_do_not_break_the_server(http: httpx.Client, server: RunningServer) -> None:
    """Bad JSON, odd encodings, a bad Content-Length, garbage instead of HTTP: 4xx; the server keeps serving."""
    broken = http.post("/api/v1/sessions", content=b'{"user_id": ', headers={"Content-Type": "application/json"})
    assert 400 <= broken.status_code < 500
    encoded = http.get("/api/v1/sessions/a%2Fb%00c", params={"user_id": USER})
    assert 400 <= encoded.status_code < 500
    import socket

    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.1 400")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"\x00\x01 not http at all\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.")
    assert http.request("TRACE", "/health").status_code == 405
    assert http.get("/health").status_code == 200


def test_openapi_and_docs_are_served(http: httpx.Client) -> None:
    document = http.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "Session Service"
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    # Offline: the assets come from the server itself, not a CDN.
    assert "/docs/swagger-ui-bundle.min.js" in docs.text
    assert http.get("/docs/swagger-ui-bundle.min.js").status_code == 200
    assert http.get("/docs/swagger-ui.min.css").status_code == 200


def test_one_log_line_per_request(http: httpx.Client, server: RunningServer) -> None:
    http.get("/health", params={"probe": "log-line"})
    deadline = time.monotonic() + 30
    while "GET /health 200" not in server.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("GET /health 200" in line and "ms" in line for line in server.log_lines)


@pytest.mark.skipif(
    not (stream_function_dir() / "app.py").exists(),
    reason=f"the stream function {stream_function_dir().relative_to(ROOT)}/app.py does not exist yet",
)
def test_stats_follow_created_sessions(http: httpx.Client) -> None:
    """The stream reaches the stream function (within about a second on an idle machine, as deployed)."""

    def stats() -> dict[str, float]:
        response = http.get("/api/v1/sessions/stats")
        assert response.status_code == 200
        data: dict[str, float] = response.json()
        return data

    def created(count: int) -> dict[str, float]:
        """Create ``count`` sessions; the statistics once the stream has counted them."""
        start = stats()
        for _ in range(count):
            assert http.post("/api/v1/sessions", json={"user_id": "stats_user"}).status_code == 201
        deadline = time.monotonic() + 60.0
        current = stats()
        while current["total_sessions"] < start["total_sessions"] + count and time.monotonic() < deadline:
            time.sleep(0.1)
            current = stats()
        assert current["total_sessions"] == start["total_sessions"] + count
        return current

    # The module's earlier tests leave stream records in flight (an ended session); the stream delivers
    # its records in order, so once one more creation is counted, everything written before it is too.
    before = created(1)
    current = created(3)
    assert current["active_sessions"] == before["active_sessions"] + 3


@pytest.mark.dynamodb_local
def test_serves_from_dynamodb_local_when_pointed_at_it() -> None:
    """``--endpoint-url`` (or ``AWS_ENDPOINT_URL_DYNAMODB``): the table is created there, its stream delivered."""
    from devserver.dynamodb_local import DynamoDBLocalUnavailable, shared_instance

    try:
        dynamodb = shared_instance()
    except DynamoDBLocalUnavailable as exc:
        pytest.skip(f"DynamoDB Local unavailable: {exc}")
    table = f"session-service-dev-{uuid.uuid4().hex[:8]}"
    with (
        serve_in_subprocess(endpoint_url=dynamodb.endpoint, env={"TABLE_NAME": table}) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert http.get("/health/detailed").json()["database_connected"] is True
        created = http.post("/api/v1/sessions", json={"user_id": USER})
        assert created.status_code == 201
        sid = created.json()["session_id"]
        assert http.get(f"/api/v1/sessions/{sid}", params={"user_id": USER}).status_code == 200
        assert f"DynamoDB: {dynamodb.endpoint}, table {table} (created)" in server.log
        if (stream_function_dir() / "app.py").exists():
            deadline = time.monotonic() + 60.0
            while http.get("/api/v1/sessions/stats").json()["total_sessions"] < 1:
                assert time.monotonic() < deadline, "stats did not follow within 60 s"
                time.sleep(0.1)


# -- the stream poller, with a fake stream function ---------------------------------------------------


class FakeStreamFunction:
    """Records every event; fails the records whose sequence numbers are in ``fail`` (``times`` times each,
    or always when ``times`` is None), or raises when ``explode`` is set."""

    def __init__(self, fail: set[str] | None = None, times: int | None = 1, explode: int = 0) -> None:
        self.events: list[list[dict[str, Any]]] = []
        self.fail = fail or set()
        self.times = times
        self.explode = explode
        self.failed: dict[str, int] = {}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        json.dumps(event)  # plain JSON, as Lambda sends it
        records = event["Records"]
        self.events.append(records)
        if self.explode:
            self.explode -= 1
            raise RuntimeError("boom")
        failures = []
        for record in records:
            sequence = record["dynamodb"]["SequenceNumber"]
            if sequence in self.fail and (self.times is None or self.failed.get(sequence, 0) < self.times):
                self.failed[sequence] = self.failed.get(sequence, 0) + 1
                failures.append({"itemIdentifier": sequence})
        return {"batchItemFailures": failures}

    def sequences(self, batch: int) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in self.events[batch]]


def _put(ddb: Any, n: int) -> None:
    for i in range(n):
        ddb.put_item(TableName=TABLE, Item={"PK": {"S": f"TEST#{i}"}, "SK": {"S": "X"}, "blob": {"B": b"\x00\xff"}})


def _poller(ddb: Any, handler: Any, **options: Any) -> StreamPoller:
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    options.setdefault("retry_delay", 0)
    return StreamPoller(boto3.client("dynamodbstreams"), arn, lambda: handler, region="us-east-1", **options)


def _all_sequences(handler: FakeStreamFunction) -> list[str]:
    return [s for i in range(len(handler.events)) for s in handler.sequences(i)]


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_delivers_records_in_lambda_shape(ddb: Any) -> None:
    handler = FakeStreamFunction()
    poller = _poller(ddb, handler)
    _put(ddb, 3)
    assert poller.poll_once() == 3
    (batch,) = handler.events
    assert [r["eventName"] for r in batch] == ["INSERT"] * 3
    first = batch[0]
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"] == poller.stream_arn
    assert first["awsRegion"] == "us-east-1"
    assert first["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert poller.poll_once() == 0  # nothing is delivered twice
    assert poller.stats.delivered == 3


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_redelivers_from_the_first_reported_failure(ddb: Any) -> None:
    _put(ddb, 3)
    probe = FakeStreamFunction()
    _poller(ddb, probe).poll_once()
    sequences = probe.sequences(0)
    handler = FakeStreamFunction(fail={sequences[1]}, times=1)
    poller = _poller(ddb, handler)
    poller.poll_once()
    assert handler.sequences(0) == sequences
    assert handler.sequences(1) == sequences[1:]
    assert poller.stats.redeliveries == 1
    assert poller.stats.delivered == 3
    assert poller.stats.dead_lettered == []


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_gives_up_on_a_poison_record_after_bounded_retries(ddb: Any) -> None:
    _put(ddb, 3)
    probe = FakeStreamFunction()
    _poller(ddb, probe).poll_once()
    sequences = probe.sequences(0)
    handler = FakeStreamFunction(fail={sequences[1]}, times=None)
    poller = _poller(ddb, handler, max_retries=2)
    poller.poll_once()
    # First delivery plus 2 retries fail record 2; then it is dead-lettered and record 3 goes on alone.
    assert len(handler.events) == 4
    assert handler.sequences(3) == sequences[2:]
    assert poller.stats.dead_lettered == [sequences[1]]


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_retries_a_batch_when_the_function_raises(ddb: Any) -> None:
    _put(ddb, 2)
    handler = FakeStreamFunction(explode=1)
    poller = _poller(ddb, handler)
    poller.poll_once()
    assert len(handler.events) == 2
    assert handler.sequences(0) == handler.sequences(1)
    assert poller.stats.delivered == 2


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_waits_for_a_missing_stream_function(ddb: Any) -> None:
    _put(ddb, 2)
    handler = FakeStreamFunction()
    available: list[Any] = []
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    poller = StreamPoller(
        boto3.client("dynamodbstreams"), arn, lambda: available[0] if available else None, region="us-east-1"
    )
    assert poller.poll_once() == 0
    available.append(handler)
    assert poller.poll_once() == 2  # the records waited on the stream


@pytest.mark.fresh_table  # reads the table's stream from its start
def test_poller_thread_delivers(ddb: Any) -> None:
    handler = FakeStreamFunction()
    poller = _poller(ddb, handler, poll_interval=0.05)
    poller.start()
    try:
        _put(ddb, 1)
        deadline = time.monotonic() + 30.0
        while not handler.events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handler.events, "no delivery within 30 s"
    finally:
        poller.stop()
