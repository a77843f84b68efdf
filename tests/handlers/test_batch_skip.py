"""A batch append skips the messages already stored with the same body: a retried ``add_items`` is
safe. 201 lists every message of the batch in order (the skipped ones as stored), 200 when all were stored,
409 with nothing written when a ``message_id`` is stored with another body."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from session_service import wiring
from session_service.data import dynamo, keys


def _batch(api: Any, user: str, sid: str, messages: list[dict[str, Any]]) -> tuple[int, Any]:
    status, body, _ = api(
        "POST", api.session_url(sid, "/messages:batch"), query={"user_id": user}, json_body={"messages": messages}
    )
    return status, body


def _listing(api: Any, user: str, sid: str) -> list[dict[str, Any]]:
    status, body, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": user, "page_size": 200})
    assert status == 200, body
    return list(body["messages"])


def _hot(ddb: Any, sid: str) -> dict[str, Any]:
    table = wiring.settings().table_name
    return dynamo.deserialize(ddb.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])


def _messages(count: int, tokens: int = 1, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"m{n}", "message_id": str(uuid.uuid4()), "tokens_used": tokens, **fields}
        for n in range(count)
    ]


def test_a_retried_batch_stores_only_what_is_missing(api: Any, user: str, new_session: Any, ddb: Any) -> None:
    # Given the first two messages of a batch stored by an earlier attempt
    sid = new_session()["session_id"]
    batch = _messages(5, data={"k": [0.1]})
    status, first = _batch(api, user, sid, batch[:2])
    assert status == 201, first
    # When the whole batch is sent again
    status, answer = _batch(api, user, sid, batch)
    # Then it answers 201 listing every message in order, the stored ones as they were stored
    assert status == 201, answer
    assert [m["message_id"] for m in answer["messages"]] == [m["message_id"] for m in batch]
    assert answer["total"] == 5
    assert answer["messages"][:2] == first["messages"]
    # And the session holds each message once, in order, counted once
    listed = _listing(api, user, sid)
    assert [m["message_id"] for m in listed] == [m["message_id"] for m in batch]
    hot = _hot(ddb, sid)
    assert (hot["message_count"], hot["total_tokens"]) == (5, 5)
    # And the same batch once more writes nothing: 200
    status, again = _batch(api, user, sid, batch)
    assert (status, again) == (200, {"messages": answer["messages"], "total": 5})
    assert _hot(ddb, sid)["version"] == hot["version"]


def test_skipped_messages_anywhere_in_the_batch(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    batch = _messages(4)
    assert _batch(api, user, sid, [batch[1], batch[3]])[0] == 201
    status, answer = _batch(api, user, sid, batch)
    assert status == 201, answer
    assert [m["message_id"] for m in answer["messages"]] == [m["message_id"] for m in batch]
    assert sorted(m["message_id"] for m in _listing(api, user, sid)) == sorted(m["message_id"] for m in batch)


def test_messages_without_ids_are_always_new(api: Any, user: str, new_session: Any, ddb: Any) -> None:
    sid = new_session()["session_id"]
    batch = [*_messages(1), {"role": "assistant", "content": "no id"}]
    assert _batch(api, user, sid, batch[:1])[0] == 201
    status, answer = _batch(api, user, sid, batch)
    assert status == 201, answer
    assert answer["messages"][0]["message_id"] == batch[0]["message_id"]
    assert _hot(ddb, sid)["message_count"] == 2


def test_an_id_stored_with_another_body_is_409_and_nothing_is_written(
    api: Any, user: str, new_session: Any, ddb: Any
) -> None:
    sid = new_session()["session_id"]
    batch = _messages(3)
    assert _batch(api, user, sid, batch[:1])[0] == 201
    before = _hot(ddb, sid)
    changed = [batch[0] | {"content": "another body"}, *batch[1:]]
    status, answer = _batch(api, user, sid, changed)
    assert status == 409, answer
    changed_data = [batch[0] | {"data": {"extra": True}}, *batch[1:]]
    assert _batch(api, user, sid, changed_data)[0] == 409
    assert _hot(ddb, sid) == before
    assert [m["message_id"] for m in _listing(api, user, sid)] == [batch[0]["message_id"]]


def test_a_deleted_message_is_stored_again(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    batch = _messages(2)
    assert _batch(api, user, sid, batch)[0] == 201
    status, _, _ = api("DELETE", api.session_url(sid, f"/messages/{batch[0]['message_id']}"), query={"user_id": user})
    assert status == 200
    status, answer = _batch(api, user, sid, batch)
    assert status == 201, answer
    assert len(_listing(api, user, sid)) == 2


@pytest.mark.parametrize("stored", [0, 30, 98])
def test_a_batch_written_in_several_transactions_skips_too(api: Any, user: str, new_session: Any, stored: int) -> None:
    sid = new_session()["session_id"]
    batch = _messages(98)
    if stored:
        assert _batch(api, user, sid, batch[:stored])[0] == 201
    status, answer = _batch(api, user, sid, batch)
    assert status == (200 if stored == 98 else 201), answer
    assert [m["message_id"] for m in answer["messages"]] == [m["message_id"] for m in batch]
    assert [m["message_id"] for m in _listing(api, user, sid)] == [m["message_id"] for m in batch]


def test_the_single_append_keeps_its_answers(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    (message,) = _messages(1)
    url = api.session_url(sid, "/messages")
    assert api("POST", url, query={"user_id": user}, json_body=message)[0] == 201
    assert api("POST", url, query={"user_id": user}, json_body=message)[0] == 200
    assert api("POST", url, query={"user_id": user}, json_body=message | {"content": "other"})[0] == 409
