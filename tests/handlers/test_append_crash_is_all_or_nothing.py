"""An append carrying ``If-Match`` and state changes in all three scopes (session, user, namespace), crashed after
each of its DynamoDB calls in turn, leaves all of it or none of it; its retry with the same ``Idempotency-Key``
then completes it exactly once. The same for a batch.

The crash is an exception raised from a botocore ``after-call`` hook on the handlers' client: the call it follows
reached the table (moto applied it), and nothing of the request after it runs as planned. The calls are those of
one clean run of the same request on a twin session: Powertools' in-progress record (PutItem), the reads
(BatchGetItem), the append's one transaction (TransactWriteItems) and the record's completion (UpdateItem). A crash
before the transaction leaves nothing; after it, everything, and the retry meets the write guard the transaction
put and answers what is stored (the ``If-Match`` it carries is stale by then: the guard is what decides).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from session_service import wiring
from session_service.data import keys
from session_service.data.dynamo import deserialize
from session_service.data.state import KEY_PREFIX


class Crash(Exception):
    """The process dies here (raised from a botocore hook after a DynamoDB call)."""


class Crasher:
    """Counts the handlers' client's DynamoDB calls while armed; raises :class:`Crash` after call number ``at``
    (0-based; ``None``: records the calls and never crashes), once."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.at: int | None = None
        self.armed = False

    def arm(self, at: int | None) -> None:
        self.calls, self.at, self.armed = [], at, True

    def __call__(self, model: Any, **_: Any) -> None:
        if not self.armed:
            return
        self.calls.append(model.name)
        if self.at is not None and len(self.calls) == self.at + 1:
            self.armed = False
            raise Crash(f"crashed after {model.name}")


@pytest.fixture
def crasher(table: str) -> Iterator[Crasher]:
    hook = Crasher()
    events = wiring.dynamodb_client().meta.events
    events.register("after-call.dynamodb", hook)
    yield hook
    events.unregister("after-call.dynamodb", hook)


def _doc(item: dict[str, Any] | None) -> dict[str, Any]:
    if item is None:
        return {}
    return {name[len(KEY_PREFIX) :]: json.loads(value) for name, value in item.items() if name.startswith(KEY_PREFIX)}


def observe(ddb: Any, sid: str, user: str, namespace: str) -> dict[str, Any]:
    """What a Scan shows of the append: the session's messages, counters and state, the user's and the namespace's
    documents."""
    found = [
        deserialize(i)
        for page in ddb.get_paginator("scan").paginate(TableName=wiring.settings().table_name)
        for i in page["Items"]
    ]
    by_key = {(i["PK"], i["SK"]): i for i in found}
    session_pk = keys.session_key(sid)["PK"]["S"]
    hot = by_key[(session_pk, keys.SESSION_SK)]
    user_doc = keys.user_state_key(user, namespace)
    ns_doc = keys.namespace_state_key(namespace)
    return {
        "messages": sorted(
            (str(i["content"]), str(sk))
            for (pk, sk), i in by_key.items()
            if pk == session_pk and sk.startswith(keys.MESSAGE_PREFIX)
        ),
        "counters": (int(hot["message_count"]), int(hot["total_tokens"]), int(hot["version"])),
        "session": _doc(by_key.get((session_pk, "STATE#SESSION"))),
        "user": _doc(by_key.get((user_doc["PK"]["S"], user_doc["SK"]["S"]))),
        "namespace": _doc(by_key.get((ns_doc["PK"]["S"], ns_doc["SK"]["S"]))),
    }


def _send(api: Any, path: str, user: str, body: dict[str, Any], etag: str, key: str) -> tuple[int | None, Any]:
    headers = {"If-Match": etag, "Idempotency-Key": key}
    try:
        status, answer, _ = api("POST", path, query={"user_id": user}, json_body=body, headers=headers)
    except Crash:
        return None, None  # the crash left the handler
    return status, answer


SINGLE = {
    "role": "user",
    "content": "hi",
    "tokens_used": 5,
    "state": {"set": {"s": 1}},
    "user_state": {"set": {"u": 1}},
    "namespace_state": {"set": {"n": 1}},
}
BATCH = {
    "messages": [
        {"role": "user", "content": "q", "tokens_used": 2},
        {"role": "assistant", "content": "a", "tokens_used": 3},
    ],
    "state": {"set": {"s": 1}},
    "user_state": {"set": {"u": 1}},
    "namespace_state": {"set": {"n": 1}},
}


@pytest.mark.parametrize(("suffix", "body", "contents"), [("", SINGLE, ["hi"]), (":batch", BATCH, ["a", "q"])])
def test_a_crash_after_any_call_of_an_append_leaves_all_or_nothing_and_its_retry_completes_it_once(
    api: Any, ddb: Any, crasher: Crasher, suffix: str, body: dict[str, Any], contents: list[str]
) -> None:
    run = uuid.uuid4().hex[:8]

    def fresh(name: str) -> tuple[str, str, str, str]:
        """A session of its own user in its own namespace, and its ETag."""
        user, namespace = f"crash-{run}-{name}", f"ns-{run}-{name}"
        status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": user, "namespace": namespace})
        assert status == 201
        etag = api("GET", f"/api/v1/sessions/{session['session_id']}", query={"user_id": user})[2]["ETag"]
        return str(session["session_id"]), user, namespace, str(etag)

    def path(sid: str) -> str:
        return f"/api/v1/sessions/{sid}/messages{suffix}"

    # Given the calls a clean run of the append makes, on a twin session
    sid, user, namespace, etag = fresh("probe")
    before = observe(ddb, sid, user, namespace)
    crasher.arm(None)
    status, _ = _send(api, path(sid), user, body, etag, "probe-key")
    crasher.armed = False
    assert status == 201
    calls = list(crasher.calls)
    assert "TransactWriteItems" in calls, calls
    after = observe(ddb, sid, user, namespace)
    assert [c for c, _ in after["messages"]] == contents
    assert after["session"] == {"s": 1} and after["user"] == {"u": 1} and after["namespace"] == {"n": 1}

    def shape(seen: dict[str, Any]) -> dict[str, Any]:
        """What a run leaves, without the ids it drew."""
        return {**seen, "messages": [c for c, _ in seen["messages"]]}

    outcomes = set()
    for at, call in enumerate(calls):
        # When the same append crashes after that call
        sid, user, namespace, etag = fresh(f"at{at}")
        start = observe(ddb, sid, user, namespace)
        assert shape(start) == shape(before), call
        key = f"key-{at}"
        crasher.arm(at)
        status, _ = _send(api, path(sid), user, body, etag, key)
        crasher.armed = False
        assert status != 201, (at, call)  # it crashed: no answer, or an error answer
        # Then the table holds all of it or none of it
        crashed = observe(ddb, sid, user, namespace)
        assert shape(crashed) in (shape(start), shape(after)), (at, call, crashed)
        outcomes.add("all" if shape(crashed) == shape(after) else "none")
        # And its retry with the same key completes it exactly once, answering what is stored
        for _ in range(2):
            status, answer = _send(api, path(sid), user, body, etag, key)
            assert status == 201, (at, call, status, answer)
            done = observe(ddb, sid, user, namespace)
            assert shape(done) == shape(after), (at, call, done)
            answered = answer.get("messages", [answer])
            listed = api("GET", f"/api/v1/sessions/{sid}/messages", query={"user_id": user})[1]["messages"]
            assert sorted(m["message_id"] for m in answered) == sorted(m["message_id"] for m in listed), (at, call)
    assert outcomes == {"none", "all"}  # crashes before the transaction and after it were both met
