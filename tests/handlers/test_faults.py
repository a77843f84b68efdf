"""Faults DynamoDB can throw at us: throttling, service errors, transaction conflicts, no table at all.

Each answers 503 (with ``Retry-After`` when a retry can help), never a 500, and leaves no partial write.
Throttling is injected with a botocore ``before-send`` hook, transaction conflicts with the Stubber.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.stub import Stubber

from session_service import wiring

pytestmark = pytest.mark.fresh_table  # items() scans the whole table

USER = "fault_user"


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retry mode sleeps between attempts; the attempts still happen."""
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda _seconds: None)


@pytest.fixture
def inject(repo: Any, no_backoff: None, dynamodb_error: Any) -> Any:
    """Make every DynamoDB call of the handlers' client answer with an error code; records the attempts.

    moto answers requests from its own ``before-send`` handler, and botocore runs every ``before-send``
    handler: ours replaces moto's on this client, so a faulted request never reaches the table.
    """
    from moto.core.models import botocore_stubber

    events = wiring.dynamodb_client().meta.events
    attempts: list[str] = []
    faults: dict[str, Any] = {}

    def answer(request: Any, **kwargs: Any) -> Any:
        if faults:
            attempts.append(request.headers.get("X-Amz-Target", b"").decode())
            return dynamodb_error(faults["code"], faults["status"])
        return botocore_stubber(request=request, **kwargs)

    events.unregister("before-send", botocore_stubber)
    events.register("before-send.dynamodb", answer)

    def start(code: str, status: int = 400) -> list[str]:
        faults.update(code=code, status=status)
        return attempts

    yield start
    events.unregister("before-send.dynamodb", answer)
    events.register("before-send", botocore_stubber)


def items(ddb: Any) -> list[dict[str, Any]]:
    return ddb.scan(TableName=wiring.settings().table_name)["Items"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500)],
)
def test_throttling_and_service_errors_are_503_with_retry_after(
    api: Any, ddb: Any, new_session: Any, inject: Any, code: str, status: int
) -> None:
    sid = new_session(USER)["session_id"]
    before = items(ddb)
    attempts = inject(code, status)
    answer = api(
        "POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": USER}, json_body={"role": "user", "content": "x"}
    )
    assert answer[0] == 503
    assert answer[2]["Retry-After"] == "1" and answer[1]["detail"]
    assert attempts == ["DynamoDB_20120810.TransactWriteItems"] * 3, "standard retry mode: bounded attempts"
    # The listing takes the user from its path: ?user_id= there is an unknown parameter (422, SPEC section 4).
    for path, query in [(f"/api/v1/sessions/{sid}", {"user_id": USER}), (f"/api/v1/users/{USER}/sessions", {})]:
        assert api("GET", path, query=query)[0] == 503
    status_code, body, _ = api("POST", "/api/v1/sessions", json_body={"user_id": USER})
    assert status_code == 503 and body["detail"]
    assert items(ddb) == before


def test_transaction_conflicts_are_retried_then_503(api: Any, ddb: Any, new_session: Any, monkeypatch: Any) -> None:
    import session_service.data.dynamo as dynamo_module

    monkeypatch.setattr(dynamo_module.time, "sleep", lambda _s: None)
    sid = new_session(USER)["session_id"]
    before = items(ddb)
    client = wiring.dynamodb_client()
    reasons = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]}
    with Stubber(client) as stubber:
        for _ in range(dynamo_module.MAX_TRANSACTION_ATTEMPTS):
            stubber.add_client_error(
                "transact_write_items",
                "TransactionCanceledException",
                "Transaction cancelled",
                400,
                modeled_fields=reasons,
            )
        status, body, headers = api(
            "POST",
            f"/api/v1/sessions/{sid}/messages",
            query={"user_id": USER},
            json_body={"role": "user", "content": "x"},
        )
        stubber.assert_no_pending_responses()
    assert (status, headers["Retry-After"]) == (503, "1") and body["detail"]
    assert items(ddb) == before


def test_a_conflict_that_clears_is_invisible_to_the_caller(api: Any, new_session: Any, monkeypatch: Any) -> None:
    import session_service.data.dynamo as dynamo_module

    monkeypatch.setattr(dynamo_module.time, "sleep", lambda _s: None)
    sid = new_session(USER)["session_id"]
    client = wiring.dynamodb_client()
    real = client.transact_write_items
    calls = {"n": 0}

    def conflict_once(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            with Stubber(client) as stubber:
                stubber.add_client_error(
                    "transact_write_items",
                    "TransactionCanceledException",
                    "cancelled",
                    400,
                    modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]},
                )
                return real(**kwargs)
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", conflict_once)
    status, _, _ = api(
        "POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": USER}, json_body={"role": "user", "content": "x"}
    )
    assert status == 201 and calls["n"] == 2
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    assert session["message_count"] == 1


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> Any:
    """No DynamoDB at all: nothing listens on the endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    wiring.reset()
    yield
    wiring.reset()


def test_an_unreachable_table_is_the_specs_503(api_without_table: Any, unreachable: None) -> None:
    status, body, _ = api_without_table(
        "GET", "/api/v1/sessions/7e02708b-ad2d-44d6-a851-d02d97137757", query={"user_id": USER}
    )
    assert (status, body) == (503, {"detail": "Session service not initialized"})
    status, body, _ = api_without_table("POST", "/api/v1/sessions", json_body={"user_id": USER})
    assert (status, body) == (503, {"detail": "Session service not initialized"})


def test_health_detailed_reports_degraded(api_without_table: Any, unreachable: None) -> None:
    status, body, _ = api_without_table("GET", "/health/detailed")
    assert status == 503
    assert body["status"] == "degraded" and body["database_connected"] is False
    assert api_without_table("GET", "/health")[0] == 200


@pytest.fixture
def missing_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``TABLE_NAME`` names a table the module's mock does not have."""
    monkeypatch.setenv("TABLE_NAME", f"missing-{uuid.uuid4().hex[:12]}")
    wiring.reset()
    yield
    wiring.reset()


def test_a_missing_table_is_the_specs_503(missing_table: None, api_without_table: Any) -> None:
    status, body, _ = api_without_table("GET", f"/api/v1/users/{USER}/sessions")
    assert (status, body) == (503, {"detail": "Session service not initialized"})
    assert api_without_table("GET", "/health/detailed")[0] == 503


def test_a_write_meeting_a_conflict_error_is_503(api: Any, ddb: Any, new_session: Any, inject: Any) -> None:
    """A write that DynamoDB answers with TransactionConflictException (not retried by botocore): the caller is
    told to retry, not given a 500, and nothing is written."""
    sid = new_session(USER)["session_id"]
    before = items(ddb)
    attempts = inject("TransactionConflictException")
    status, body, headers = api("PUT", f"/api/v1/sessions/{sid}", query={"user_id": USER}, json_body={"title": "t"})
    assert (status, headers["Retry-After"]) == (503, "1") and body["detail"]
    assert attempts == ["DynamoDB_20120810.TransactWriteItems"]
    assert items(ddb) == before
