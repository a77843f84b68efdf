"""Idempotent retries of creates with ``Idempotency-Key`` (issue 5), persisted in the single table."""

from __future__ import annotations

from typing import Any

import pytest

from session_service import wiring

pytestmark = pytest.mark.fresh_table  # count() scans the whole table

USER = "retry_user"


def count(ddb: Any, prefix: str) -> int:
    """Items whose sort key starts with ``prefix`` (``MSG#``, ``MEM#``), or is ``SESSION`` (a session's hot item)."""
    items = ddb.scan(TableName=wiring.settings().table_name)["Items"]
    if prefix == "SESSION":
        return sum(1 for item in items if item["SK"]["S"] == prefix)
    return sum(1 for item in items if item["SK"]["S"].startswith(prefix))


@pytest.fixture
def sid(new_session: Any) -> str:
    return str(new_session(USER)["session_id"])


def test_a_retried_session_create_returns_the_first_response_and_writes_once(api: Any, ddb: Any) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = api("POST", "/api/v1/sessions", json_body={"user_id": USER, "title": "t"}, headers=headers)
    again = api("POST", "/api/v1/sessions", json_body={"user_id": USER, "title": "t"}, headers=headers)
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert first[2]["ETag"] == again[2]["ETag"]
    assert count(ddb, "SESSION") == 1


def test_without_a_key_each_create_is_new(api: Any, ddb: Any) -> None:
    for _ in range(2):
        assert api("POST", "/api/v1/sessions", json_body={"user_id": USER})[0] == 201
    assert count(ddb, "SESSION") == 2


def test_a_retried_append_is_counted_once(api: Any, ddb: Any, sid: str) -> None:
    body = {"role": "user", "content": "pay once", "tokens_used": 7, "cost_usd": 0.25}
    headers = {"Idempotency-Key": "append-1"}
    answers = [
        api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": USER}, json_body=body, headers=headers)
        for _ in range(3)
    ]
    assert [a[0] for a in answers] == [201, 201, 201]
    assert answers[0][1] == answers[1][1] == answers[2][1]
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    assert (session["message_count"], session["total_tokens"], session["total_cost"]) == (1, 7, 0.25)
    assert count(ddb, "MSG#") == 1


def test_batch_and_memory_retries_write_once(api: Any, ddb: Any, sid: str) -> None:
    batch = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    memory = {"memory_type": "preference", "content": "tea"}
    for _ in range(2):
        q = {"user_id": USER}
        h = {"Idempotency-Key": "batch-1"}
        assert api("POST", f"/api/v1/sessions/{sid}/messages:batch", query=q, json_body=batch, headers=h)[0] == 201
        h = {"Idempotency-Key": "memory-1"}
        assert api("POST", f"/api/v1/sessions/{sid}/memory", query=q, json_body=memory, headers=h)[0] == 201
    assert count(ddb, "MSG#") == 2
    assert count(ddb, "MEM#") == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(api: Any, ddb: Any, sid: str) -> None:
    headers = {"Idempotency-Key": "append-2"}
    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": USER}
    assert api("POST", path, query=query, json_body={"role": "user", "content": "one"}, headers=headers)[0] == 201
    status, answer, _ = api("POST", path, query=query, json_body={"role": "user", "content": "two"}, headers=headers)
    assert status == 422
    assert answer["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert count(ddb, "MSG#") == 1


def test_keys_are_scoped_to_the_caller(api: Any, ddb: Any, new_session: Any) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    mine = api("POST", "/api/v1/sessions", json_body={"user_id": "alice"}, headers=headers)
    theirs = api("POST", "/api/v1/sessions", json_body={"user_id": "bob"}, headers=headers)
    assert mine[0] == theirs[0] == 201
    assert mine[1]["session_id"] != theirs[1]["session_id"]
    assert theirs[1]["user_id"] == "bob"


def test_a_failed_request_leaves_no_record_so_the_retry_runs(api: Any, ddb: Any, sid: str) -> None:
    headers = {"Idempotency-Key": "after-end"}
    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": USER}
    body = {"role": "user", "content": "hello"}
    assert api("PUT", f"/api/v1/sessions/{sid}", query=query, json_body={"status": "completed"})[0] == 200
    assert api("POST", path, query=query, json_body=body, headers=headers)[0] == 409
    _, fresh, _ = api("POST", "/api/v1/sessions", json_body={"user_id": USER})
    path = f"/api/v1/sessions/{fresh['session_id']}/messages"
    assert api("POST", path, query=query, json_body=body, headers=headers)[0] == 201


def test_a_retry_after_a_timeout(api: Any, ddb: Any, sid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt dies mid-write (a Lambda timeout): its retry waits (409), then runs exactly once."""
    from session_service import repository as repository_module

    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": USER}
    body = {"role": "user", "content": "slow", "tokens_used": 3}
    headers = {"Idempotency-Key": "timeout-1"}

    class LambdaTimeout(BaseException):
        """What the runtime does to a timed-out invocation: nothing of ours runs after it."""

    original = repository_module.SessionRepository.append_messages

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise LambdaTimeout()

    monkeypatch.setattr(repository_module.SessionRepository, "append_messages", dies)
    with pytest.raises(LambdaTimeout):
        api("POST", path, query=query, json_body=body, headers=headers)
    monkeypatch.setattr(repository_module.SessionRepository, "append_messages", original)

    status, answer, response_headers = api("POST", path, query=query, json_body=body, headers=headers)
    assert status == 409 and "in progress" in answer["detail"]
    assert response_headers["Retry-After"] == "1"

    # The dead invocation's in-progress record lapses with the Lambda's remaining time.
    table = wiring.settings().table_name
    items = ddb.scan(TableName=table)["Items"]
    (record,) = [item for item in items if item["PK"]["S"].startswith("IDEMPOTENCY#")]
    ddb.update_item(
        TableName=table,
        Key={"PK": record["PK"], "SK": record["SK"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    first = api("POST", path, query=query, json_body=body, headers=headers)
    second = api("POST", path, query=query, json_body=body, headers=headers)
    assert first[0] == second[0] == 201 and first[1] == second[1]
    assert count(ddb, "MSG#") == 1
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}", query=query)
    assert session["total_tokens"] == 3


def test_an_oversized_key_is_422(api: Any, ddb: Any) -> None:
    status, answer, _ = api(
        "POST", "/api/v1/sessions", json_body={"user_id": USER}, headers={"Idempotency-Key": "k" * 256}
    )
    assert status == 422 and answer["detail"]
    assert count(ddb, "SESSION") == 0
