"""Pop and clear: ``POST .../messages:pop`` removes the newest messages and returns them in one
transaction with the counters; ``POST .../messages:clear`` removes every message in one request, the session kept,
the counters zero at once (the truncation's cut: the stream function deletes the items). The statistics and usage
after the stream are checked on DynamoDB Local (``tests/integration/test_pop_and_clear_local.py``)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from session_service import rules, wiring
from session_service.data import dynamo, keys, stats
from session_service.data.dynamo import TransactionCanceled
from session_service.models import MAX_POP_MESSAGES, MessageCreate, MessageRole
from session_service.operations import messages

CLAUDE = {"provider": "bedrock", "model": "claude"}


def _hot(ddb: Any, sid: str) -> dict[str, Any]:
    table = wiring.settings().table_name
    return dynamo.deserialize(ddb.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])


def _append(api: Any, user: str, sid: str, **fields: Any) -> dict[str, Any]:
    body = {"role": "user", "content": "hello"} | fields
    status, answer, _ = api("POST", api.session_url(sid, "/messages"), query={"user_id": user}, json_body=body)
    assert status == 201, answer
    return dict(answer)


def _pop(api: Any, user: str, sid: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    status, answer, _ = api(
        "POST", api.session_url(sid, "/messages:pop"), query={"user_id": user}, json_body=body, headers=headers or None
    )
    return status, answer


def _clear(api: Any, user: str, sid: str, **headers: str) -> tuple[int, Any]:
    status, answer, _ = api(
        "POST", api.session_url(sid, "/messages:clear"), query={"user_id": user}, headers=headers or None
    )
    return status, answer


def _listing(api: Any, user: str, sid: str) -> list[dict[str, Any]]:
    status, body, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": user, "page_size": 200})
    assert status == 200, body
    return list(body["messages"])


def _conversation(api: Any, user: str, sid: str) -> list[dict[str, Any]]:
    """Five messages: tokens, costs, a model, client ids, data, and a streamed reply in progress (newest)."""
    made = [
        _append(api, user, sid, content="one", tokens_used=3, cost_usd=0.25, message_id=str(uuid.uuid4())),
        _append(api, user, sid, role="assistant", content="two", tokens_used=5, cost_usd=0.5, **CLAUDE),
        _append(api, user, sid, role="tool", data={"output": [1, 0.1]}, tokens_used=7, message_id=str(uuid.uuid4())),
        _append(api, user, sid, content="four", tokens_used=11, cost_usd=0.000000000001, **CLAUDE),
    ]
    reply = _append(api, user, sid, role="assistant", content="", status="in_progress", **CLAUDE)
    url = api.session_url(sid, f"/messages/{reply['message_id']}/chunks")
    status, _, _ = api("POST", url, query={"user_id": user}, json_body={"index": 0, "content": "so far"})
    assert status == 200
    return [*made, reply | {"content": "so far"}]


def _assert_counters_are_the_listing(api: Any, ddb: Any, user: str, sid: str) -> None:
    listed = _listing(api, user, sid)
    hot = _hot(ddb, sid)
    assert hot["message_count"] == len(listed)
    assert hot["total_tokens"] == sum(m["tokens_used"] for m in listed)
    assert hot["total_cost"] == sum((Decimal(str(m["cost_usd"])) for m in listed), Decimal(0))
    named = [m for m in listed if m.get("provider") or m.get("model")]
    usage = {name: value for name, value in stats.usage_of(hot).items() if value}
    expected = stats.sum_usage(
        *(
            stats.usage_increments(m["provider"], m["model"], 1, m["tokens_used"], Decimal(str(m["cost_usd"])))
            for m in named
        )
    )
    assert usage == {name: value for name, value in expected.items() if value}


# -- pop ----------------------------------------------------------------------------------------------------------


def test_pop_removes_the_newest_message_and_returns_it(api: Any, ddb: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    made = _conversation(api, user, sid)
    status, answer = _pop(api, user, sid)
    assert status == 200, answer
    assert answer["deleted"] == 1
    assert [m["message_id"] for m in answer["messages"]] == [made[-1]["message_id"]]
    assert answer["messages"][0]["content"] == "so far"  # a reply in progress, with its chunks so far
    assert [m["message_id"] for m in _listing(api, user, sid)] == [m["message_id"] for m in made[:-1]]
    _assert_counters_are_the_listing(api, ddb, user, sid)


def test_pop_of_several_answers_them_newest_first_as_stored(api: Any, ddb: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    made = _conversation(api, user, sid)
    _pop(api, user, sid)
    status, answer = _pop(api, user, sid, {"count": 3})
    assert status == 200, answer
    assert answer == {"messages": [made[3], made[2], made[1]], "deleted": 3}  # data and all, exactly
    assert [m["message_id"] for m in _listing(api, user, sid)] == [made[0]["message_id"]]
    _assert_counters_are_the_listing(api, ddb, user, sid)
    # Fewer than asked: what there is; then nothing, and nothing is written
    status, answer = _pop(api, user, sid, {"count": MAX_POP_MESSAGES})
    assert (status, answer["deleted"], answer["messages"]) == (200, 1, [made[0]])
    version = _hot(ddb, sid)["version"]
    assert _pop(api, user, sid) == (200, {"messages": [], "deleted": 0})
    assert _hot(ddb, sid)["version"] == version
    _assert_counters_are_the_listing(api, ddb, user, sid)


def test_a_popped_client_id_can_be_appended_again_at_once(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    mid = str(uuid.uuid4())
    first = _append(api, user, sid, content="again", message_id=mid)
    assert _pop(api, user, sid)[1]["messages"] == [first]
    again = _append(api, user, sid, content="again", message_id=mid)
    assert again["message_id"] == mid


def test_pop_skips_what_a_truncation_cut(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    kept = [_append(api, user, sid, content=f"kept {n}") for n in range(2)]
    _append(api, user, sid, content="cut")
    status, _, _ = api(
        "DELETE", api.session_url(sid, "/messages"), query={"user_id": user, "after": kept[-1]["message_id"]}
    )
    assert status == 200
    status, answer = _pop(api, user, sid, {"count": 5})
    assert (status, [m["message_id"] for m in answer["messages"]]) == (200, [m["message_id"] for m in kept[::-1]])


@pytest.mark.parametrize("body", [{"count": 0}, {"count": 50}, {"count": "1"}, {"count": 1.5}, {"n": 1}, [1]])
def test_pop_refuses_a_bad_body(api: Any, user: str, new_session: Any, assert_validation_error: Any, body: Any) -> None:
    sid = new_session()["session_id"]
    _append(api, user, sid)
    status, answer = _pop(api, user, sid, body)
    assert_validation_error(status, answer)
    assert len(_listing(api, user, sid)) == 1


def test_pop_and_clear_404_and_409(api: Any, user: str, other_user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    _append(api, user, sid)
    for call in (_pop, _clear):
        assert call(api, other_user, sid)[0] == 404
        assert call(api, user, str(uuid.uuid4()))[0] == 404
    status, _, _ = api("PUT", api.session_url(sid), query={"user_id": user}, json_body={"status": "completed"})
    assert status == 200
    for call in (_pop, _clear):
        status, answer = call(api, user, sid)
        assert status == 409, answer
    assert len(_listing(api, user, sid)) == 1


def test_a_retried_pop_with_its_idempotency_key_answers_the_first_answer(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    made = [_append(api, user, sid, content=f"m{n}") for n in range(3)]
    first = _pop(api, user, sid, {"count": 1}, **{"Idempotency-Key": "pop-1"})
    assert first == (200, {"messages": [made[2]], "deleted": 1})
    assert _pop(api, user, sid, {"count": 1}, **{"Idempotency-Key": "pop-1"}) == first
    assert len(_listing(api, user, sid)) == 2
    assert _pop(api, user, sid, {"count": 2}, **{"Idempotency-Key": "pop-1"})[0] == 422  # the key, another body


@pytest.fixture
def serialized_moto(repo: Any) -> Iterator[None]:
    """One DynamoDB request at a time through the repository's client (moto is not safe for concurrent writers:
    see ``tests/handlers/test_concurrency.py``); the pops' reads and transactions still interleave."""
    lock = threading.Lock()

    def acquire(**_: Any) -> None:
        lock.acquire()

    def release(**_: Any) -> None:
        lock.release()

    events = wiring.dynamodb_client().meta.events
    handlers = [
        ("before-call.dynamodb", acquire),
        ("after-call.dynamodb", release),
        ("after-call-error.dynamodb", release),
    ]
    for name, handler in handlers:
        events.register(name, handler)
    yield
    for name, handler in handlers:
        events.unregister(name, handler)


@pytest.mark.usefixtures("serialized_moto")
def test_ten_concurrent_pops_return_ten_different_messages(repo: Any, ddb: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    repo.append_messages(
        sid, user, [MessageCreate(role=MessageRole.USER, content=f"m{n}", tokens_used=n) for n in range(10)]
    )
    with ThreadPoolExecutor(max_workers=10) as pool:
        popped = list(pool.map(lambda _: repo.pop_messages(sid, user, 1), range(10)))
    ids = [message.message_id for messages in popped for message in messages]
    assert len(ids) == len(set(ids)) == 10
    hot = _hot(ddb, sid)
    assert (hot["message_count"], hot["total_tokens"]) == (0, 0)
    assert repo.pop_messages(sid, user, 1) == []


# -- clear --------------------------------------------------------------------------------------------------------


def test_clear_removes_every_message_and_keeps_the_session(api: Any, ddb: Any, user: str, new_session: Any) -> None:
    created = new_session(title="kept", metadata={"m": 1}, conversation_data={"c": [1]})
    sid = created["session_id"]
    _conversation(api, user, sid)
    status, _, _ = api(
        "POST",
        api.session_url(sid, "/memory"),
        query={"user_id": user},
        json_body={"memory_type": "entity", "content": "x"},
    )
    assert status == 201
    status, answer = _clear(api, user, sid)
    assert (status, answer) == (200, {"deleted": 5})
    # Hidden at once, the counters zero at once (per-model usage too), the session as it was
    assert _listing(api, user, sid) == []
    _, context, _ = api("GET", api.session_url(sid, "/context"), query={"user_id": user})
    assert context["messages"] == []
    status, session, _ = api("GET", api.session_url(sid), query={"user_id": user})
    assert (session["message_count"], session["total_tokens"], session["total_cost"]) == (0, 0, 0.0)
    assert (session["status"], session["title"], session["metadata"]) == ("active", "kept", {"m": 1})
    assert session["conversation_data"] == {"c": [1]}
    _assert_counters_are_the_listing(api, ddb, user, sid)
    status, memory, _ = api("GET", api.session_url(sid, "/memory"), query={"user_id": user})
    assert len(memory["memories"]) == 1
    # One cut over the whole range, for the stream function to delete
    hot = _hot(ddb, sid)
    assert len(hot["cuts"]) == 1 and hot["cut_count"] == 1
    # The conversation goes on after it
    after = _append(api, user, sid, content="after the clear", tokens_used=2)
    assert [m["message_id"] for m in _listing(api, user, sid)] == [after["message_id"]]
    _assert_counters_are_the_listing(api, ddb, user, sid)
    assert _pop(api, user, sid)[1]["messages"] == [after]


def test_clear_of_an_empty_session_writes_nothing(api: Any, ddb: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    before = _hot(ddb, sid)
    assert _clear(api, user, sid) == (200, {"deleted": 0})
    _append(api, user, sid)
    assert _clear(api, user, sid) == (200, {"deleted": 1})
    cleared = _hot(ddb, sid)
    assert _clear(api, user, sid) == (200, {"deleted": 0})  # cleared already: nothing more
    assert _hot(ddb, sid) == cleared
    assert before["version"] < cleared["version"]


def test_clear_answers_429_while_the_session_holds_the_pending_cuts_limit(
    api: Any, ddb: Any, user: str, new_session: Any
) -> None:
    sid = new_session()["session_id"]
    for _ in range(rules.MAX_PENDING_CUTS):
        _append(api, user, sid)
        assert _clear(api, user, sid) == (200, {"deleted": 1})
    _append(api, user, sid)
    status, answer, headers = api("POST", api.session_url(sid, "/messages:clear"), query={"user_id": user})
    assert status == 429 and "Retry-After" in headers, answer
    assert len(_listing(api, user, sid)) == 1


def test_a_retried_clear_with_its_idempotency_key_answers_the_first_answer(
    api: Any, user: str, new_session: Any
) -> None:
    sid = new_session()["session_id"]
    for n in range(3):
        _append(api, user, sid, content=f"m{n}")
    assert _clear(api, user, sid, **{"Idempotency-Key": "clear-1"}) == (200, {"deleted": 3})
    _append(api, user, sid, content="new")
    assert _clear(api, user, sid, **{"Idempotency-Key": "clear-1"}) == (200, {"deleted": 3})
    assert len(_listing(api, user, sid)) == 1  # the retry wrote nothing


def test_a_pop_that_keeps_losing_its_race_answers_503_and_writes_nothing(
    api: Any, ddb: Any, user: str, new_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pop whose every transaction finds its newest message taken by another (a race it always loses)
    sid = new_session()["session_id"]
    _append(api, user, sid)
    before = _hot(ddb, sid)
    attempts: list[int] = []

    def lose(*_: Any, **__: Any) -> None:
        attempts.append(1)
        raise TransactionCanceled([{"Code": "ConditionalCheckFailed"}, {"Code": "None"}])

    monkeypatch.setattr(messages, "transact_guarded", lose)
    monkeypatch.setattr(messages.time, "sleep", lambda _: None)
    # When it pops
    status, answer = _pop(api, user, sid)
    # Then it gave up after its bounded retries with a 503 that says why, and nothing moved
    assert status == 503, answer
    assert "retry the pop" in answer["detail"]
    assert len(attempts) == messages.POP_ATTEMPTS
    assert _hot(ddb, sid) == before
