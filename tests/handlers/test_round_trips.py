"""DynamoDB round trips per operation (issue 2: one per session operation; issue 3: constant-cost paging)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from session_service import wiring

USER = "test_user_123"
NewSession = Callable[..., dict[str, Any]]


@pytest.fixture
def user() -> str:
    """The tests here act as one user, each on sessions of its own; they count requests, not sessions."""
    return USER


class CallLog:
    """The DynamoDB operations the handlers' client sent, by name, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def during(self, action: Callable[[], Any]) -> list[str]:
        self.calls.clear()
        action()
        return list(self.calls)


@pytest.fixture
def calls(repo: Any) -> Iterator[CallLog]:
    log = CallLog()
    events = wiring.dynamodb_client().meta.events
    events.register("before-call.dynamodb", log)
    yield log
    events.unregister("before-call.dynamodb", log)


def expect(api: Any, status: int, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def call() -> Any:
        code, body, _ = api(*args, **kwargs)
        assert code == status, body
        return body

    return call


def test_create_is_one_transaction(api: Any, calls: CallLog) -> None:
    # The hot item, the data item and the owner's counts (so a listing's total is exact at once).
    assert calls.during(expect(api, 201, "POST", "/api/v1/sessions", json_body={"user_id": USER})) == [
        "TransactWriteItems"
    ]


def test_ensuring_an_existing_session_is_the_transaction_then_a_read(
    api: Any, calls: CallLog, new_session: NewSession
) -> None:
    sid = new_session(session_id=str(uuid.uuid4()))["session_id"]
    body = {"user_id": USER, "session_id": sid}
    assert calls.during(expect(api, 200, "POST", "/api/v1/sessions", json_body=body)) == [
        "TransactWriteItems",
        "BatchGetItem",
    ]
    body = {"user_id": "someone_else", "session_id": sid}
    assert calls.during(expect(api, 409, "POST", "/api/v1/sessions", json_body=body)) == ["TransactWriteItems"]


@pytest.mark.parametrize(
    ("method", "suffix", "payload", "operation"),
    [
        ("GET", "", None, ["BatchGetItem"]),
        ("GET", "/summary", None, ["BatchGetItem"]),
        ("PUT", "", {"title": "t", "metadata": {"a": 1}}, ["TransactWriteItems", "BatchGetItem"]),
        ("PUT", "", {"status": "completed"}, ["TransactWriteItems", "BatchGetItem"]),
        ("DELETE", "", None, ["TransactWriteItems"]),
    ],
)
def test_each_session_operation_is_one_or_two_round_trips(
    api: Any, calls: CallLog, new_session: NewSession, method: str, suffix: str, payload: Any, operation: list[str]
) -> None:
    # A session is its hot, data and summary items: one BatchGetItem reads them with the owner's counts (an
    # erasure running makes the user's data gone for every reader, SPEC section 9); a PUT writes
    # what changed (and the owner's counts on a status change) in one transaction, then reads the result.
    sid = new_session()["session_id"]
    action = expect(api, 200, method, api.session_url(sid, suffix), query={"user_id": USER}, json_body=payload)
    assert calls.during(action) == operation


@pytest.mark.parametrize(
    ("method", "payload", "status"),
    [("GET", None, 404), ("PUT", {"title": "t"}, 404), ("PUT", {"status": "archived"}, 409), ("DELETE", None, 404)],
)
def test_failures_cost_one_round_trip_too(
    api: Any, calls: CallLog, new_session: NewSession, method: str, payload: Any, status: int
) -> None:
    sid = new_session()["session_id"]
    user = USER if status == 409 else "someone_else"
    action = expect(api, status, method, api.session_url(sid), query={"user_id": user}, json_body=payload)
    assert len(calls.during(action)) == 1


def test_validation_errors_cost_nothing(api: Any, calls: CallLog) -> None:
    assert calls.during(expect(api, 422, "POST", "/api/v1/sessions", json_body={"user_id": "a b"})) == []


@pytest.mark.parametrize("active_only", [False, True])
def test_listing_sessions_is_one_query_and_one_batch_read_of_rows_and_counts(
    api: Any, calls: CallLog, new_session: NewSession, active_only: bool
) -> None:
    for _ in range(5):
        new_session()
    path = f"/api/v1/users/{USER}/sessions"
    first = expect(api, 200, "GET", path, query={"active_only": active_only, "page_size": 2})
    assert calls.during(first) == ["Query", "BatchGetItem"]
    token = first()["next_token"]
    later = expect(api, 200, "GET", path, query={"active_only": active_only, "page_size": 2, "next_token": token})
    assert calls.during(later) == ["Query", "BatchGetItem"]


def test_context_is_one_batch_read_and_one_query(api: Any, calls: CallLog, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    batch = {"messages": [{"role": "user", "content": f"m{i}", "tokens_used": 10} for i in range(30)]}
    assert api("POST", api.session_url(sid, "/messages:batch"), query={"user_id": USER}, json_body=batch)[0] == 201
    context = expect(api, 200, "GET", api.session_url(sid, "/context"), query={"user_id": USER, "max_messages": 20})
    assert calls.during(context) == ["BatchGetItem", "Query"]
    newest = expect(
        api, 200, "GET", api.session_url(sid, "/messages"), query={"user_id": USER, "order": "desc", "page_size": 20}
    )
    assert calls.during(newest) == ["BatchGetItem", "Query"]


def test_append_is_one_transaction(api: Any, calls: CallLog, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    q = {"user_id": USER}
    one = {"role": "user", "content": "hi", "tokens_used": 3, "cost_usd": 0.01}
    assert calls.during(expect(api, 201, "POST", api.session_url(sid, "/messages"), query=q, json_body=one)) == [
        "TransactWriteItems"
    ]
    batch = {"messages": [one] * 50}
    assert calls.during(
        expect(api, 201, "POST", api.session_url(sid, "/messages:batch"), query=q, json_body=batch)
    ) == ["TransactWriteItems"]


def test_append_to_a_non_active_session_is_one_round_trip(api: Any, calls: CallLog, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert api("DELETE", api.session_url(sid), query={"user_id": USER})[0] == 200
    body = {"role": "user", "content": "hi"}
    action = expect(api, 409, "POST", api.session_url(sid, "/messages"), query={"user_id": USER}, json_body=body)
    assert calls.during(action) == ["TransactWriteItems"]


def test_memory_is_one_transaction_to_add(api: Any, calls: CallLog, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    body = {"memory_type": "entity", "content": "Ada"}
    action = expect(api, 201, "POST", api.session_url(sid, "/memory"), query={"user_id": USER}, json_body=body)
    assert calls.during(action) == ["TransactWriteItems"]
    listing = expect(api, 200, "GET", api.session_url(sid, "/memory"), query={"user_id": USER})
    assert len(calls.during(listing)) <= 2


def test_every_message_page_costs_two(api: Any, calls: CallLog, new_session: NewSession) -> None:
    """Each page reads the session (owner, expiry, and the cuts of deleted messages it must not show) and
    Queries the messages: the cost of page N does not grow with N."""
    sid = new_session()["session_id"]
    batch = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(10)]}
    assert api("POST", api.session_url(sid, "/messages:batch"), query={"user_id": USER}, json_body=batch)[0] == 201
    first = expect(api, 200, "GET", api.session_url(sid, "/messages"), query={"user_id": USER, "page_size": 3})
    assert calls.during(first) == ["BatchGetItem", "Query"]
    token = first()["next_token"]
    pages = 1
    while token:
        page = expect(
            api,
            200,
            "GET",
            api.session_url(sid, "/messages"),
            query={"user_id": USER, "page_size": 3, "next_token": token},
        )
        assert calls.during(page) == ["BatchGetItem", "Query"]
        token = page()["next_token"]
        pages += 1
    assert pages == 4


def test_health_touches_nothing_and_detailed_health_one_read(api: Any, calls: CallLog) -> None:
    assert calls.during(expect(api, 200, "GET", "/health")) == []
    assert calls.during(expect(api, 200, "GET", "/health/detailed")) == ["GetItem"]
