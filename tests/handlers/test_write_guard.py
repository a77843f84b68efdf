"""An Idempotency-Key's write guard: a retry of a create that DynamoDB applied, whose answer was lost, writes
nothing and answers as the first attempt would have (issue 9, defect 3; SPEC section 4).

"Applied but the answer was lost" is made with a botocore ``after-call`` hook that raises a read timeout
after the transaction succeeded; a throttled Powertools record update with a ``before-send`` hook.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from session_service import wiring

USER = "guard_user"

pytestmark = pytest.mark.fresh_table  # counts the table's items


class LostAnswers:
    """Makes the next ``count`` calls of ``operation`` lose their answer after DynamoDB applied them."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.lost: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        if self.pending.get(model.name, 0) > 0:
            self.pending[model.name] -= 1
            self.lost.append(model.name)
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@pytest.fixture
def lose(repo: Any) -> Iterator[LostAnswers]:
    hook = LostAnswers()
    events = wiring.dynamodb_client().meta.events
    events.register("after-call.dynamodb", hook)
    yield hook
    events.unregister("after-call.dynamodb", hook)


def scan(ddb: Any) -> list[dict[str, Any]]:
    return list(ddb.scan(TableName=wiring.settings().table_name)["Items"])


def count(ddb: Any, prefix: str) -> int:
    return sum(1 for item in scan(ddb) if item["SK"]["S"].startswith(prefix))


def session_of(api: Any, sid: str) -> dict[str, Any]:
    status, body, _ = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    assert status == 200, body
    return dict(body)


@pytest.mark.parametrize("lost", [1, 3])  # answers lost on one attempt, or on three in a row
def test_an_append_whose_answer_was_lost_is_not_written_twice(api: Any, ddb: Any, lose: LostAnswers, lost: int) -> None:
    sid = api("POST", "/api/v1/sessions", json_body={"user_id": USER})[1]["session_id"]
    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": USER}
    body, headers = {"role": "user", "content": "once", "tokens_used": 7}, {"Idempotency-Key": "lost-1"}
    lose.pending["TransactWriteItems"] = lost
    for _ in range(lost):  # the client retries each 503 with its key
        status, answer, _ = api("POST", path, query=query, json_body=body, headers=headers)
        assert status == 503, answer
        assert count(ddb, "MSG#") == 1  # DynamoDB applied the first attempt, and only it
    status, first, _ = api("POST", path, query=query, json_body=body, headers=headers)
    assert status == 201, first
    (stored,) = api("GET", path, query=query)[1]["messages"]
    assert first == stored  # the first attempt's id and time
    again = api("POST", path, query=query, json_body=body, headers=headers)
    assert again[:2] == (201, first)
    assert count(ddb, "MSG#") == 1
    session = session_of(api, sid)
    assert (session["message_count"], session["total_tokens"]) == (1, 7)
    # The same key with another body is still refused, and writes nothing.
    other = api("POST", path, query=query, json_body={**body, "content": "other"}, headers=headers)
    assert other[0] == 422 and count(ddb, "MSG#") == 1


def test_a_create_and_a_memory_whose_answers_were_lost(api: Any, ddb: Any, lose: LostAnswers) -> None:
    headers = {"Idempotency-Key": "create-lost"}
    lose.pending["TransactWriteItems"] = 1
    assert api("POST", "/api/v1/sessions", json_body={"user_id": USER, "title": "t"}, headers=headers)[0] == 503
    status, created, _ = api("POST", "/api/v1/sessions", json_body={"user_id": USER, "title": "t"}, headers=headers)
    assert status == 201, created  # the caller's own create answers as it would have: 201, same session
    assert sum(1 for item in scan(ddb) if item["SK"]["S"] == "SESSION") == 1
    listing = api("GET", f"/api/v1/users/{USER}/sessions")[1]
    assert [s["session_id"] for s in listing["sessions"]] == [created["session_id"]] and listing["total"] == 1

    sid = created["session_id"]
    memory, headers = {"memory_type": "entity", "content": "Ada"}, {"Idempotency-Key": "memory-lost"}
    lose.pending["TransactWriteItems"] = 1
    path, query = f"/api/v1/sessions/{sid}/memory", {"user_id": USER}
    assert api("POST", path, query=query, json_body=memory, headers=headers)[0] == 503
    status, first, _ = api("POST", path, query=query, json_body=memory, headers=headers)
    assert status == 201 and api("GET", path, query=query)[1]["memories"] == [first]
    assert count(ddb, "MEM#") == 1


def test_a_throttled_idempotency_record_update_does_not_write_twice(
    api: Any, ddb: Any, repo: Any, dynamodb_error: Any
) -> None:
    """The message is stored, then Powertools cannot mark its record complete: 503. The retry finds the
    guard and answers with the stored message."""
    sid = api("POST", "/api/v1/sessions", json_body={"user_id": USER})[1]["session_id"]
    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": USER}
    body, headers = {"role": "user", "content": "throttled"}, {"Idempotency-Key": "throttle-1"}
    events = wiring.dynamodb_client().meta.events

    def throttle(request: Any, **_: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"").decode()
        if target.endswith(".UpdateItem") and b"IDEMPOTENCY#" in (request.body or b""):
            return dynamodb_error("ProvisionedThroughputExceededException")
        return None

    from moto.core.models import botocore_stubber

    events.unregister("before-send", botocore_stubber)
    events.register("before-send.dynamodb", throttle)
    events.register("before-send", botocore_stubber)
    try:
        status, answer, _ = api("POST", path, query=query, json_body=body, headers=headers)
    finally:
        events.unregister("before-send.dynamodb", throttle)
    assert status == 503, answer
    assert count(ddb, "MSG#") == 1
    # Powertools removed its in-progress record on the error, so the retry runs the write again: the guard
    # stops it and the stored message is the answer.
    status, first, _ = api("POST", path, query=query, json_body=body, headers=headers)
    assert status == 201, first
    assert api("GET", path, query=query)[1]["messages"] == [first]
    assert session_of(api, sid)["message_count"] == 1
