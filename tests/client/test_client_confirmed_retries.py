"""Conditional writes retried after a lost answer: the retry is refused (412: the version moved; 409: ended
already), the client reads the session, and returns the stored result when it is exactly what the write asked
for, written once; when another writer changed the session in between, the refusal is raised."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from session_service_client import (
    Conflict,
    EndSessionResult,
    PreconditionFailed,
    RateLimited,
    SessionServiceClient,
)
from session_service_client._retry import RetryPolicy
from session_service_client.errors import error_for

from tests.client.conftest import ClientFactory


def to_session(method: str, sid: str) -> Any:
    return lambda request: request.method == method and request.url.path.endswith(f"/sessions/{sid}")


def sent(losing: Any, method: str, sid: str) -> list[httpx.Request]:
    return [r for r in losing.sent if r.method == method and r.url.path.endswith(f"/sessions/{sid}")]


def version(etag: str | None) -> int:
    assert etag is not None
    return int(etag.strip('"').split(".")[0])


def test_a_conditional_update_whose_answer_was_lost_returns_the_stored_session(
    make_client: ClientFactory, user: str
) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: False)
    before = client.create_session(title="draft", metadata={"n": 1})
    losing.lose, losing.left = to_session("PUT", before.session_id), 1
    updated = client.update_session(
        before.session_id, title="final", metadata={"n": 2, "w": 0.5}, status="completed", if_match=before.etag
    )
    assert len(sent(losing, "PUT", before.session_id)) == 2  # the first applied (answer lost), the retry got 412
    stored = client.get_session(before.session_id)
    assert version(stored.etag) == version(before.etag) + 1  # written once
    assert updated == stored and updated.etag == stored.etag
    assert (updated.title, updated.metadata, updated.status) == ("final", {"n": 2, "w": 0.5}, "completed")


def test_a_conditional_update_changed_by_another_writer_in_between_is_refused(
    make_client: ClientFactory, user: str, base_url: str
) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: False)
    before = client.create_session(title="draft")
    sid = before.session_id
    with SessionServiceClient(base_url, user_id=user) as other:

        def lose_then_write(request: httpx.Request) -> bool:
            if not to_session("PUT", sid)(request):
                return False
            other.update_session(sid, title="theirs")  # after our update applied, before our retry
            return True

        losing.lose, losing.left = lose_then_write, 1
        with pytest.raises(PreconditionFailed):
            client.update_session(sid, title="ours", if_match=before.etag)
    assert len(sent(losing, "PUT", sid)) == 2
    stored = client.get_session(sid)
    assert (stored.title, version(stored.etag)) == ("theirs", version(before.etag) + 2)


def test_a_stale_conditional_update_whose_refusal_was_lost_is_refused(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: False)
    stale = client.create_session(title="draft")
    client.update_session(stale.session_id, title="moved")  # the version our write expects next, another title
    losing.lose, losing.left = to_session("PUT", stale.session_id), 1
    with pytest.raises(PreconditionFailed):  # the first attempt was refused too: nothing was written
        client.update_session(stale.session_id, title="draft", if_match=stale.etag)
    stored = client.get_session(stale.session_id)
    assert (stored.title, version(stored.etag)) == ("moved", version(stale.etag) + 1)


def test_an_end_whose_answer_was_lost_returns_the_ends_answer(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: False)
    plain, conditional = client.create_session(), client.create_session()
    losing.lose, losing.left = to_session("DELETE", conditional.session_id), 1
    assert client.end_session(conditional.session_id, if_match=conditional.etag) == EndSessionResult()  # met 412
    assert len(sent(losing, "DELETE", conditional.session_id)) == 2
    stored = client.get_session(conditional.session_id)
    assert (stored.status, version(stored.etag)) == ("ended", version(conditional.etag) + 1)  # written once

    losing.lose, losing.left = to_session("DELETE", plain.session_id), 1
    assert client.end_session(plain.session_id) == EndSessionResult()  # the service ends an ended session again
    assert len(sent(losing, "DELETE", plain.session_id)) == 2
    assert client.get_session(plain.session_id).status == "ended"


def test_an_unconditional_end_refused_after_a_lost_answer_returns_the_ends_answer(make_client: ClientFactory) -> None:
    # Were the service to refuse ending an ended session (409), the retry would read the session: ended.
    answers = iter([httpx.ReadError("lost"), httpx.Response(409, json={"detail": "Session is read-only"})])
    ended = {"session_id": "s1", "user_id": "alice", "status": "ended", "is_active": False}
    ended |= dict.fromkeys(("created_at", "updated_at", "last_activity", "expires_at"), "2026-01-01T00:00:00Z")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=ended, headers={"ETag": '"2.mz4k1x2p0a"'})
        outcome = next(answers)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    client = make_client(user_id="alice", transport=httpx.MockTransport(answer))
    assert client.end_session("s1") == EndSessionResult()
    ended["status"] = "completed"
    answers = iter([httpx.ReadError("lost"), httpx.Response(409, json={"detail": "completed -> ended"})])
    with pytest.raises(Conflict):
        client.end_session("s1")


def test_an_end_refused_for_another_reason_is_refused(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: False)
    completed = client.create_session()
    client.update_session(completed.session_id, status="completed")  # completed cannot be ended: 409
    losing.lose, losing.left = to_session("DELETE", completed.session_id), 1
    with pytest.raises(Conflict):
        client.end_session(completed.session_id)
    stale = client.create_session()
    client.update_session(stale.session_id, title="moved")
    losing.lose, losing.left = to_session("DELETE", stale.session_id), 1
    with pytest.raises(PreconditionFailed):
        client.end_session(stale.session_id, if_match=stale.etag)
    assert client.get_session(completed.session_id).status == "completed"
    assert client.get_session(stale.session_id).status == "active"


def test_a_truncation_past_20_pending_is_retried_after_retry_after(make_client: ClientFactory) -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "20 truncations are still pending"}),
        httpx.Response(200, json={"deleted": 3}),
    ]
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers.pop(0)

    client = make_client(user_id="alice", transport=httpx.MockTransport(answer))
    assert client.truncate_messages("s1", after="m1").deleted == 3
    assert [(r.method, r.url.params["after"]) for r in requests] == [("DELETE", "m1"), ("DELETE", "m1")]

    throttled = error_for(httpx.Response(429, headers={"Retry-After": "7"}, request=requests[0]))
    assert isinstance(throttled, RateLimited) and throttled.retry_after == 7
    assert RetryPolicy().delay(0, throttled, safe=True, sent=True) == 7
