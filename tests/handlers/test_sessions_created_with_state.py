"""A session created with its state in every scope: ``state`` (the session's document), ``user_state`` (the
caller's document of the session's namespace) and ``namespace_state`` (the namespace's) are written in the create's
own transaction, all or none, and the answer carries the merged state read after the write; a session read with
``?include=state`` carries it too."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from session_service import wiring

SESSIONS = "/api/v1/sessions"
USER = "cs_creator"
Q = {"user_id": USER}
TRUSTED = {"sub": "backend", "cognito:groups": "service"}


def _user_state(api: Any, user: str, namespace: str, claims: Any = None) -> dict[str, Any]:
    status, body, _ = api("GET", f"/api/v1/users/{user}/state", query={"namespace": namespace}, claims=claims)
    assert status == 200, body
    return dict(body)


def _namespace_state(api: Any, namespace: str, claims: Any = None) -> dict[str, Any]:
    status, body, _ = api("GET", f"/api/v1/namespaces/{namespace}/state", claims=claims)
    assert status == 200, body
    return dict(body)


def test_a_create_writes_every_scope_and_answers_them_merged(api: Any, etag_of: Any) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    # Given a user document and a namespace document written before
    api("PATCH", f"/api/v1/users/{USER}/state", query={"namespace": namespace}, json_body={"set": {"old": 1}})
    api("PATCH", f"/api/v1/namespaces/{namespace}/state", json_body={"set": {"shared": "yes"}})
    body = {
        "user_id": USER,
        "namespace": namespace,
        "state": {"step": 1, "plan": None},
        "user_state": {"lang": "fr"},
        "namespace_state": {"model": "m1"},
    }
    status, created, headers = api("POST", SESSIONS, json_body=body)
    assert status == 201, created
    merged = created["state"]
    assert merged["session"]["state"] == {"step": 1, "plan": None} and merged["session"]["version"] == 1
    assert merged["user"]["state"] == {"old": 1, "lang": "fr"} and merged["user"]["version"] == 2
    assert merged["namespace"]["state"] == {"shared": "yes", "model": "m1"} and merged["namespace"]["version"] == 2
    assert headers["ETag"] == etag_of(1, created)
    sid = created["session_id"]
    assert api("GET", f"{SESSIONS}/{sid}/state/merged", query=Q)[1] == merged


def test_a_create_without_state_answers_none_unless_asked(api: Any) -> None:
    plain = api("POST", SESSIONS, json_body={"user_id": USER})[1]
    assert plain.get("state") is None
    status, asked, _ = api("POST", SESSIONS, json_body={"user_id": USER}, query={"include": "state"})
    assert status == 201 and asked["state"]["session"]["version"] == 0 and asked["state"]["namespace"] is None
    assert asked["state"]["user"]["scope"] == "user" and asked["state"]["user"]["user_id"] == USER


def test_get_with_include_state_answers_every_scope_and_the_etag(api: Any, etag_of: Any) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    body = {"user_id": USER, "namespace": namespace, "state": {"a": 1}, "user_state": {"u": 2}}
    sid = api("POST", SESSIONS, json_body=body)[1]["session_id"]
    api("PATCH", f"/api/v1/namespaces/{namespace}/state", json_body={"set": {"n": 3}})
    status, read, headers = api("GET", f"{SESSIONS}/{sid}", query={**Q, "include": "state"})
    assert status == 200 and headers["ETag"] == etag_of(1, read)
    assert read["state"]["session"]["state"] == {"a": 1}
    assert read["state"]["user"]["state"] == {"u": 2}
    assert read["state"]["namespace"]["state"] == {"n": 3}
    assert api("GET", f"{SESSIONS}/{sid}", query=Q)[1].get("state") is None
    assert api("GET", f"{SESSIONS}/{sid}", query={**Q, "include": "everything"})[0] == 422


def test_namespace_state_needs_a_namespace(api: Any, table_items: Any) -> None:
    before = table_items()
    assert api("POST", SESSIONS, json_body={"user_id": USER, "namespace_state": {"a": 1}})[0] == 422
    assert table_items() == before


@pytest.mark.parametrize(
    "field",
    [
        {"state": {"a": "x" * (381 * 1024)}},
        {"user_state": {f"k{i}": i for i in range(101)}},
        {"state": {"": 1}},
    ],
)
def test_state_that_breaks_a_changes_rules_is_422(api: Any, field: dict[str, Any], table_items: Any) -> None:
    before = table_items()
    assert api("POST", SESSIONS, json_body={"user_id": USER, "namespace": "rules", **field})[0] == 422
    assert table_items() == before


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@pytest.fixture
def item_limit(repo: Any) -> Iterator[list[int]]:
    """DynamoDB's answer to a transaction that grows an item past 400 KB (moto answers it otherwise): cancelled with
    ``ValidationError`` on the last action; moto answers every other request. Records the actions refused."""
    from botocore.awsrequest import AWSResponse
    from moto.core.models import botocore_stubber

    events = wiring.dynamodb_client().meta.events
    refused: list[int] = []

    def answer(request: Any, **kwargs: Any) -> Any:
        if request.headers.get("X-Amz-Target", b"") not in (b"DynamoDB_20120810.TransactWriteItems",):
            return botocore_stubber(request=request, **kwargs)
        actions = json.loads(request.body)["TransactItems"]
        refused.append(len(actions))
        reasons = [{"Code": "None"}] * (len(actions) - 1) + [{"Code": "ValidationError", "Message": "Item size"}]
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled",
            "CancellationReasons": reasons,
        }
        headers = {"x-amzn-RequestId": "limit", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Raw(json.dumps(body).encode()))

    events.unregister("before-send", botocore_stubber)
    events.register("before-send.dynamodb", answer)
    yield refused
    events.unregister("before-send.dynamodb", answer)
    events.register("before-send", botocore_stubber)


def test_a_document_grown_past_the_item_limit_is_413_and_nothing_is_written(
    api: Any, table_items: Any, item_limit: list[int]
) -> None:
    before = table_items()
    body = {"user_id": USER, "namespace": "big", "state": {"a": 1}, "user_state": {"more": "y" * (90 * 1024)}}
    status, answer, _ = api("POST", SESSIONS, json_body=body)
    assert status == 413 and answer["detail"]
    assert item_limit == [5]  # hot, data, counts, the session's document, the user's: one transaction
    assert table_items() == before


def test_a_batch_create_takes_no_state(api: Any) -> None:
    batch = {"sessions": [{"user_id": USER, "state": {"a": 1}}]}
    assert api("POST", f"{SESSIONS}:batch", json_body=batch, query=Q)[0] == 422


def test_a_create_finding_the_callers_session_changes_no_state(api: Any) -> None:
    sid = str(uuid.uuid4())
    api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "state": {"a": 1}})
    status, again, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "state": {"a": 2}})
    assert status == 200 and again["state"]["session"]["state"] == {"a": 1}


def test_a_reused_session_id_starts_from_the_create_state_only(api: Any) -> None:
    sid = str(uuid.uuid4())
    old = {"user_id": "cs_old_owner"}
    # Given a session whose document holds its owner's secrets, deleted for good before the stream ran
    api("POST", SESSIONS, json_body={**old, "session_id": sid})
    assert api("PATCH", f"{SESSIONS}/{sid}/state", query=old, json_body={"set": {"secret": "old"}})[0] == 200
    assert api("POST", f"{SESSIONS}:batchDelete", query=old, json_body={"session_ids": [sid]})[0] == 200
    # When another user creates the id again with state
    status, created, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "state": {"mine": 1}})
    assert status == 201
    assert created["state"]["session"]["state"] == {"mine": 1} and created["state"]["session"]["version"] == 1
    assert api("GET", f"{SESSIONS}/{sid}/state", query=Q)[1]["state"] == {"mine": 1}
    status, changed, _ = api("PATCH", f"{SESSIONS}/{sid}/state", query=Q, json_body={"set": {"b": 2}})
    assert status == 200 and changed["state"] == {"mine": 1, "b": 2} and changed["version"] == 2


def test_namespace_state_by_an_untrusted_caller_is_403_and_writes_nothing(
    api: Any, authorizer_on: None, table_items: Any
) -> None:
    body = {"user_id": USER, "namespace": "guarded", "state": {"a": 1}, "namespace_state": {"b": 2}}
    before = table_items()
    assert api("POST", SESSIONS, json_body=body, claims={"sub": USER})[0] == 403
    assert table_items() == before
    status, created, _ = api("POST", SESSIONS, json_body=body, claims=TRUSTED)
    assert status == 201 and created["state"]["namespace"]["state"] == {"b": 2}
    assert _namespace_state(api, "guarded", TRUSTED)["state"] == {"b": 2}
    assert _user_state(api, USER, "guarded", {"sub": USER})["version"] == 0
