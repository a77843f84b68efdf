"""Messages through their handlers: append, exact counters, listing, batches (SPEC section 3, issue 3)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.fresh_table  # appends on moto copy the whole table per item: keep it empty

USER = "test_user_123"
OTHER = "other_user_456"
NOT_FOUND = {"detail": "Session not found"}

NewSession = Callable[..., dict[str, Any]]
NOT_ACTIVE = {"detail": "Session is not active"}


@pytest.fixture
def user() -> str:
    """The tests here act as one user, each on a session (and a table) of its own."""
    return USER


def post_message(api: Any, sid: str, user: str = USER, **fields: Any) -> tuple[int, Any]:
    body = {"role": "user", "content": "hello", **fields}
    status, answer, _ = api("POST", api.session_url(sid, "/messages"), query={"user_id": user}, json_body=body)
    return status, answer


def post_batch(api: Any, sid: str, messages: list[dict[str, Any]], user: str = USER) -> tuple[int, Any]:
    status, answer, _ = api(
        "POST", api.session_url(sid, "/messages:batch"), query={"user_id": user}, json_body={"messages": messages}
    )
    return status, answer


def get_session(api: Any, sid: str) -> dict[str, Any]:
    status, body, _ = api("GET", api.session_url(sid), query={"user_id": USER})
    assert status == 200, body
    return dict(body)


def list_messages(api: Any, sid: str, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": USER, **query})
    return status, body


# -- append -------------------------------------------------------------------------------------------


def test_append_returns_201_with_the_seed_002_message(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body = post_message(
        api,
        sid,
        content="Hello, this is a test message",
        message_type="chat",
        tokens_used=5,
        cost_usd=0.0001,
        metadata={"model": "gpt-4"},
    )
    assert status == 201, body
    assert str(uuid.UUID(body["message_id"])) == body["message_id"]
    assert body["session_id"] == sid and body["user_id"] == USER
    assert (body["role"], body["content"], body["message_type"]) == ("user", "Hello, this is a test message", "chat")
    assert body["metadata"] == {"model": "gpt-4"}
    assert body["tokens_used"] == 5 and body["cost_usd"] == 0.0001
    assert body["created_at"].endswith("Z")


def test_message_type_defaults_to_chat_and_cost_to_zero(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body = post_message(api, sid)
    assert status == 201
    assert (body["message_type"], body["tokens_used"], body["cost_usd"], body["metadata"]) == ("chat", 0, 0.0, {})


@pytest.mark.parametrize("role", ["user", "assistant", "system", "tool_call", "tool_result"])
@pytest.mark.parametrize("message_type", ["chat", "notification"])
def test_every_role_is_accepted(api: Any, new_session: NewSession, role: str, message_type: str) -> None:
    sid = new_session()["session_id"]
    status, body = post_message(api, sid, role=role, message_type=message_type)
    assert (status, body["role"], body["message_type"]) == (201, role, message_type)


def test_counters_move_with_each_append(api: Any, new_session: NewSession) -> None:
    created = new_session(ttl_seconds=3600)
    sid = created["session_id"]
    assert post_message(api, sid, tokens_used=5, cost_usd=0.0001)[0] == 201
    assert post_message(api, sid, role="assistant", tokens_used=7, cost_usd=0.0002)[0] == 201
    session = get_session(api, sid)
    assert (session["message_count"], session["total_tokens"], session["total_cost"]) == (2, 12, 0.0003)
    assert session["last_activity"] > created["last_activity"]
    expires = datetime.fromisoformat(session["expires_at"])
    last = datetime.fromisoformat(session["last_activity"])
    assert 3599 <= (expires - last).total_seconds() <= 3600  # expires_at slides with activity


def test_total_cost_is_exact_over_many_appends(api: Any, new_session: NewSession, repo: Any) -> None:
    sid = new_session()["session_id"]
    rng = random.Random(7)
    costs = [Decimal(rng.randint(0, 10**6)) / Decimal(10**6) for _ in range(40)] + [Decimal("0.1"), Decimal("0.2")]
    tokens = [rng.randint(0, 10**9) for _ in costs]
    for cost, used in zip(costs, tokens, strict=True):
        assert post_message(api, sid, tokens_used=used, cost_usd=float(cost))[0] == 201
    stored = repo.get_session(sid, USER)
    assert stored.total_cost == sum(costs, Decimal(0))  # exact Decimal inside
    assert stored.total_tokens == sum(tokens)
    assert stored.message_count == len(costs)
    assert get_session(api, sid)["total_cost"] == float(sum(costs, Decimal(0)))


def test_ten_tenths_are_exactly_one(api: Any, new_session: NewSession, repo: Any) -> None:
    sid = new_session()["session_id"]
    for _ in range(10):
        assert post_message(api, sid, cost_usd=0.1)[0] == 201
    assert repo.get_session(sid, USER).total_cost == Decimal(1)  # stored exactly, not as a float sum
    assert get_session(api, sid)["total_cost"] == 1.0


def test_append_to_a_missing_or_foreign_session_is_404_and_writes_nothing(
    api: Any, new_session: NewSession, table_items: Any
) -> None:
    sid = new_session()["session_id"]
    before = table_items()
    assert post_message(api, sid, user=OTHER) == (404, NOT_FOUND)
    assert post_message(api, str(uuid.uuid4())) == (404, NOT_FOUND)
    assert post_batch(api, sid, [{"role": "user", "content": "x"}], user=OTHER) == (404, NOT_FOUND)
    assert table_items() == before


@pytest.mark.parametrize("path", [["ended"], ["completed"], ["completed", "archived"]])
def test_non_active_session_refuses_messages_and_stores_nothing(
    api: Any, new_session: NewSession, path: list[str], table_items: Any
) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert api("PUT", api.session_url(sid), query={"user_id": USER}, json_body={"status": step})[0] == 200
    before = table_items()
    assert post_message(api, sid, tokens_used=3) == (409, NOT_ACTIVE)
    assert post_batch(api, sid, [{"role": "user", "content": "a"}] * 3) == (409, NOT_ACTIVE)
    assert table_items() == before
    assert get_session(api, sid)["message_count"] == 0


def test_expired_session_refuses_messages(
    api: Any, new_session: NewSession, advance_clock: Any, table_items: Any
) -> None:
    sid = new_session(ttl_seconds=60)["session_id"]
    advance_clock(61)
    before = table_items()
    assert post_message(api, sid) == (404, NOT_FOUND)
    assert list_messages(api, sid) == (404, NOT_FOUND)
    assert table_items() == before


BAD_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("unknown role", {"role": "bot"}),
    ("unknown type", {"message_type": "email"}),
    ("empty content", {"content": ""}),
    ("content too large", {"content": "x" * (256 * 1024 + 1)}),
    ("content too large in bytes", {"content": "é" * (128 * 1024 + 1)}),
    ("content wrong type", {"content": 5}),
    ("tokens negative", {"tokens_used": -1}),
    ("tokens too large", {"tokens_used": 10**9 + 1}),
    ("tokens float", {"tokens_used": 5.0}),
    ("tokens bool", {"tokens_used": True}),
    ("tokens string", {"tokens_used": "5"}),
    ("cost negative", {"cost_usd": -0.01}),
    ("cost too large", {"cost_usd": 10**6 + 1}),
    ("cost 13 decimals", {"cost_usd": 1e-13}),
    ("cost bool", {"cost_usd": True}),
    ("metadata 51 keys", {"metadata": {f"k{i}": i for i in range(51)}}),
    ("metadata too large", {"metadata": {"a": "x" * (32 * 1024)}}),
    ("unknown field", {"session_id": str(uuid.uuid4())}),
]


def test_bad_message_is_422_and_writes_nothing(api: Any, new_session: NewSession, assert_all_rejected: Any) -> None:
    sid = new_session()["session_id"]
    assert_all_rejected(BAD_MESSAGES, lambda fields: post_message(api, sid, **fields))
    assert_all_rejected(
        [(f"batch with {case}", {"role": "user", "content": "ok", **fields}) for case, fields in BAD_MESSAGES],
        lambda bad: post_batch(api, sid, [{"role": "user", "content": "fine"}, bad]),
    )
    assert get_session(api, sid)["message_count"] == 0


def test_nan_cost_is_422(api: Any, new_session: NewSession, assert_all_rejected: Any) -> None:
    sid = new_session()["session_id"]
    raws = [f'{{"role": "user", "content": "x", "cost_usd": {literal}}}' for literal in ("NaN", "Infinity")]

    def send(raw: str) -> tuple[int, Any]:
        return api("POST", api.session_url(sid, "/messages"), query={"user_id": USER}, body=raw)[:2]

    assert_all_rejected([(raw, raw) for raw in raws], send)


def test_largest_content_is_accepted(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    content = "é" * (128 * 1024)  # exactly 256 KiB of UTF-8
    assert post_message(api, sid, content=content)[0] == 201
    assert list_messages(api, sid)[1]["messages"][0]["content"] == content


def test_message_without_user_id_is_422(api: Any, new_session: NewSession, assert_validation_error: Any) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("POST", api.session_url(sid, "/messages"), json_body={"role": "user", "content": "x"})
    assert_validation_error(status, body)


# -- listing ------------------------------------------------------------------------------------------


def test_list_is_oldest_first_with_total(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    sent = [post_message(api, sid, content=f"m{i}")[1] for i in range(5)]
    status, body = list_messages(api, sid)
    assert status == 200
    assert body["messages"] == sent
    assert (body["total"], body["page"], body["page_size"], body["next_token"]) == (5, 1, 100, None)


def test_empty_session_lists_nothing(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert list_messages(api, sid)[1] == {"messages": [], "total": 0, "page": 1, "page_size": 100, "next_token": None}


def test_next_token_pages_through_every_message_once(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    contents = [f"m{i}" for i in range(7)]
    assert post_batch(api, sid, [{"role": "user", "content": c} for c in contents])[0] == 201
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        status, body = list_messages(api, sid, page_size=3, next_token=token)
        assert status == 200, body
        pages += 1
        assert body["total"] == 7 and body["page"] == pages
        seen.extend(m["content"] for m in body["messages"])
        token = body["next_token"]
        if token is None:
            break
    assert seen == contents and pages == 3


def test_page_parameter_skips_pages(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    contents = [f"m{i}" for i in range(5)]
    assert post_batch(api, sid, [{"role": "user", "content": c} for c in contents])[0] == 201
    second = list_messages(api, sid, page=2, page_size=2)[1]
    assert [m["content"] for m in second["messages"]] == ["m2", "m3"]
    assert second["page"] == 2
    third = list_messages(api, sid, page=3, page_size=2)[1]
    assert [m["content"] for m in third["messages"]] == ["m4"] and third["next_token"] is None


def test_other_users_cannot_list_messages(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    post_message(api, sid)
    assert list_messages(api, sid, user_id=OTHER) == (404, NOT_FOUND)


def test_message_cursor_is_bound_to_caller_and_session(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    other_sid = new_session()["session_id"]
    assert post_batch(api, sid, [{"role": "user", "content": "x"}] * 3)[0] == 201
    assert post_batch(api, other_sid, [{"role": "user", "content": "y"}] * 3)[0] == 201
    token = list_messages(api, sid, page_size=1)[1]["next_token"]
    assert token
    assert list_messages(api, other_sid, page_size=1, next_token=token)[0] == 400
    assert list_messages(api, sid, page_size=2, next_token=token)[0] == 400
    status, body = list_messages(api, sid, page_size=1, next_token=token[:-2] + "AA")
    assert (status, body) == (400, {"detail": "Invalid next_token"})


def test_messages_still_listed_after_the_session_ends(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    post_message(api, sid, content="kept")
    assert api("DELETE", api.session_url(sid), query={"user_id": USER})[0] == 200
    assert [m["content"] for m in list_messages(api, sid)[1]["messages"]] == ["kept"]


def test_bad_message_list_parameters_are_422(api: Any, new_session: NewSession, assert_validation_error: Any) -> None:
    sid = new_session()["session_id"]
    queries: list[dict[str, Any]] = [{"page_size": 0}, {"page_size": 201}, {"page": 0}, {"page": "one"}]
    for query in queries:
        status, body = list_messages(api, sid, **query)
        assert_validation_error(status, body, str(query))


# -- batch --------------------------------------------------------------------------------------------


def test_a_full_batch_keeps_order_and_counts_once(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    batch = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i:02d}", "tokens_used": i, "cost_usd": 0.1}
        for i in range(98)
    ]
    status, body = post_batch(api, sid, batch)
    assert status == 201, body
    assert body["total"] == 98
    assert [m["content"] for m in body["messages"]] == [m["content"] for m in batch]
    session = get_session(api, sid)
    assert session["message_count"] == 98
    assert session["total_tokens"] == sum(range(98))
    assert session["total_cost"] == 9.8  # exact: 98 x 0.1
    listed = list_messages(api, sid, page_size=200)[1]
    assert [m["content"] for m in listed["messages"]] == [m["content"] for m in batch]
    assert listed["total"] == 98


@pytest.mark.parametrize("size", [99, 100])
def test_a_batch_over_98_is_422_and_writes_nothing(
    api: Any, new_session: NewSession, table_items: Any, assert_validation_error: Any, size: int
) -> None:
    sid = new_session()["session_id"]
    before = table_items()
    status, body = post_batch(api, sid, [{"role": "user", "content": "x"}] * size)
    assert_validation_error(status, body)
    assert table_items() == before


def test_batch_with_one_bad_message_stores_none(
    api: Any, new_session: NewSession, table_items: Any, assert_validation_error: Any
) -> None:
    sid = new_session()["session_id"]
    before = table_items()
    status, body = post_batch(api, sid, [{"role": "user", "content": "ok"}, {"role": "user", "content": ""}])
    assert_validation_error(status, body)
    assert table_items() == before


def test_empty_batch_is_422(api: Any, new_session: NewSession, assert_validation_error: Any) -> None:
    sid = new_session()["session_id"]
    assert_validation_error(*post_batch(api, sid, []))


def test_batch_after_single_messages_appends_in_order(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    post_message(api, sid, content="first", tokens_used=1)
    assert post_batch(api, sid, [{"role": "user", "content": c, "tokens_used": 2} for c in ("b1", "b2")])[0] == 201
    post_message(api, sid, content="last", tokens_used=3)
    body = list_messages(api, sid)[1]
    assert [m["content"] for m in body["messages"]] == ["first", "b1", "b2", "last"]
    session = get_session(api, sid)
    assert (session["message_count"], session["total_tokens"]) == (4, 8)


def test_batch_just_under_the_transaction_size_is_stored(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert post_batch(api, sid, [{"role": "user", "content": "x" * (256 * 1024)}] * 15)[0] == 201  # 3.9 MB
    assert get_session(api, sid)["message_count"] == 15


def test_batch_over_the_transaction_size_is_refused_and_writes_nothing(
    api: Any, new_session: NewSession, table_items: Any
) -> None:
    sid = new_session()["session_id"]
    before = table_items()
    status, body = post_batch(api, sid, [{"role": "user", "content": "x" * (256 * 1024)}] * 20)  # 5 MiB > 4 MB
    assert (status, body) == (413, {"detail": "Request too large"})
    assert table_items() == before
