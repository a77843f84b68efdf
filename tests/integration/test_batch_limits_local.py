"""Batches of messages at every documented size with every optional field filled, on DynamoDB Local.

A message naming its own ``message_id`` is two items (the message and its ``MID#`` reservation), so a batch of
more than 49 such messages does not fit one TransactWriteItems (100 items, an AWS limit that moto does not
enforce as DynamoDB does): it is written in consecutive transactions of 49 messages. Each size answers 201, the
same batch again 200 with nothing written, and the session counts exactly the batch. A batch whose later
transaction failed is visible in part (its first 49 messages, counted), and the same batch again writes the
rest once. A ValidationException (a transaction over 100 items or 4 MB) reaching the handler is a 500 that these
tests fail on, with the body in the assertion.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devserver.lambda_runtime import invoke_route
from session_service.errors import ServiceUnavailable
from session_service.models import MAX_BATCH_MESSAGES, MAX_MODEL_FIELD_CHARS, MessageCreate, SessionCreate
from session_service.operations import appends

pytestmark = pytest.mark.dynamodb_local


def _user() -> str:
    return f"it_batch_{uuid.uuid4().hex[:8]}"


def _send(method: str, path: str, user: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    """Status and parsed body of a request through the route's own ``lambda_handler``."""
    headers = {"Idempotency-Key": key} if key else None
    text = None if body is None else json.dumps(body)
    query = {"user_id": [user]} if "/sessions/" in path else None
    response = invoke_route(method, path, query=query, headers=headers, body=text)
    return int(response["statusCode"]), json.loads(response["body"] or "null")


def _message(number: int, *, client_id: bool = True) -> dict[str, Any]:
    """A message with every optional field: its own id, provider and model at their longest, metadata, usage."""
    message: dict[str, Any] = {
        "role": "user" if number % 2 else "assistant",
        "content": f"message {number} " + "x" * 200,
        "provider": f"provider-{number % 4}-".ljust(MAX_MODEL_FIELD_CHARS, "p"),
        "model": f"model-{number % 4}-".ljust(MAX_MODEL_FIELD_CHARS, "m"),
        "metadata": {"turn": number, "tool": {"name": "search", "args": ["a" * 100]}},
        "tokens_used": 10 + number,
        "cost_usd": 0.000123,
    }
    if client_id:
        message["message_id"] = str(uuid.uuid4())
    return message


def _partition(local_ddb: Any, table: str, session_id: str) -> list[dict[str, Any]]:
    """Every item of the session's partition (DynamoDB JSON), consistent."""
    found, kwargs = (
        [],
        {
            "TableName": table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{session_id}"}},
            "ConsistentRead": True,
        },
    )
    while True:
        response = local_ddb.query(**kwargs)
        found.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


@pytest.mark.parametrize("size", [1, 49, 50, 75, MAX_BATCH_MESSAGES])
@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "idempotency-key"])
def test_a_batch_of_every_size_with_every_field_is_stored_once(
    local_repo: Any, local_ddb: Any, local_table: str, size: int, keyed: bool
) -> None:
    # Given a session and a batch whose every message names its id, provider, model and metadata
    user = _user()
    status, session = _send("POST", "/api/v1/sessions", user, {"user_id": user, "metadata": {"k": "v"}})
    assert status == 201, session
    sid = session["session_id"]
    batch = {"messages": [_message(number) for number in range(size)]}
    path = f"/api/v1/sessions/{sid}/messages:batch"

    # When it is appended (with an Idempotency-Key: the write guard too), then appended again without a key
    status, first = _send("POST", path, user, batch, key=str(uuid.uuid4()) if keyed else None)
    assert status == 201, first  # a 500 here is an untranslated DynamoDB refusal
    before = _partition(local_ddb, local_table, sid)
    status, again = _send("POST", path, user, batch)

    # Then the first answers 201 with the messages in order, the second 200 with the same, nothing written
    assert status == 200, again
    assert [m["message_id"] for m in first["messages"]] == [m["message_id"] for m in batch["messages"]]
    assert again == first and first["total"] == size
    assert _partition(local_ddb, local_table, sid) == before
    stored = local_repo.get_session(sid, user)
    assert stored.message_count == size
    assert stored.total_tokens == sum(10 + number for number in range(size))
    assert stored.total_cost == Decimal("0.000123") * size
    listed = local_repo.list_messages(sid, user, page_size=100)
    assert [m.message_id for m in listed.messages] == [m["message_id"] for m in batch["messages"]]


def _failing_after(monkeypatch: pytest.MonkeyPatch, transactions: int) -> Callable[[], None]:
    """Make the batch's transactions after the first ``transactions`` fail (503, nothing applied); the returned
    function heals them."""
    real = appends.transact_guarded
    calls = {"left": transactions, "failing": True}

    def flaky(*args: Any, **kwargs: Any) -> None:
        if calls["failing"] and calls["left"] <= 0:
            raise ServiceUnavailable()
        calls["left"] -= 1
        real(*args, **kwargs)

    monkeypatch.setattr(appends, "transact_guarded", flaky)
    return lambda: calls.update(failing=False)


@pytest.mark.parametrize("client_ids", ["all", "some"])
def test_a_batch_whose_later_transaction_failed_is_completed_once_by_the_same_batch(
    local_repo: Any, local_ddb: Any, local_table: str, monkeypatch: pytest.MonkeyPatch, client_ids: str
) -> None:
    # Given a batch of 98 messages (all, or every other one, naming its id) whose second transaction fails
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    sid = session.session_id
    batch = [
        MessageCreate.model_validate(_message(number, client_id=client_ids == "all" or number % 2 == 0))
        for number in range(MAX_BATCH_MESSAGES)
    ]
    heal = _failing_after(monkeypatch, 1)
    with pytest.raises(ServiceUnavailable):
        local_repo.append_messages(sid, user, batch)

    # Then its first 49 messages are stored and counted, in order
    group = appends.BATCH_GROUP_MESSAGES
    assert local_repo.get_session(sid, user).message_count == group
    shown = local_repo.list_messages(sid, user, page_size=100).messages
    assert [m.content for m in shown] == [m.content for m in batch[:group]]

    # When the same batch is sent again, it writes the rest once (201); a third time writes nothing (200)
    heal()
    completed = local_repo.append_messages(sid, user, batch)
    assert completed.created and [m.content for m in completed] == [m.content for m in batch]
    assert [m.message_id for m in completed[:group]] == [m.message_id for m in shown]
    before = _partition(local_ddb, local_table, sid)
    repeated = local_repo.append_messages(sid, user, batch)
    assert not repeated.created and [m.message_id for m in repeated] == [m.message_id for m in completed]
    assert _partition(local_ddb, local_table, sid) == before
    assert local_repo.get_session(sid, user).message_count == MAX_BATCH_MESSAGES
    listed = local_repo.list_messages(sid, user, page_size=100).messages
    assert [m.message_id for m in listed] == [m.message_id for m in completed]
    if client_ids == "all":
        assert [m.message_id for m in completed] == [m.message_id for m in batch]
