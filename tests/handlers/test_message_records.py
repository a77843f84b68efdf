"""Messages as records through their handlers (SPEC section 8): read, change, delete one message,
truncate after one, client-chosen ids, model fields and streamed replies, with exact counters.

Every status is asserted with its ``detail``; every change is checked against the session's counters, which
must equal the sums over the listed messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.fresh_table  # appends on moto copy the whole table per item: keep it empty

NewSession = Callable[..., dict[str, Any]]
Answer = tuple[int, Any]

SESSION_NOT_FOUND = {"detail": "Session not found"}
MESSAGE_NOT_FOUND = {"detail": "Message not found"}
NOT_ACTIVE = {"detail": "Session is not active"}


class Messages:
    """The message routes of one user, as HTTP calls: each returns ``(status, body)``."""

    def __init__(self, api: Any, user: str) -> None:
        self.api, self.user = api, user

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **query: Any
    ) -> Answer:
        status, answer, _ = self.api(
            method, path, query={"user_id": self.user, **query}, json_body=body, headers=headers
        )
        return status, answer

    def url(self, sid: str, mid: str | None = None, suffix: str = "") -> str:
        return self.api.session_url(sid, "/messages" + (f"/{mid}" if mid else "") + suffix)

    def append(self, sid: str, headers: dict[str, str] | None = None, **fields: Any) -> Answer:
        return self._call("POST", self.url(sid), {"role": "user", "content": "hello", **fields}, headers)

    def append_ok(self, sid: str, **fields: Any) -> dict[str, Any]:
        status, body = self.append(sid, **fields)
        assert status == 201, body
        return dict(body)

    def batch(self, sid: str, messages: list[dict[str, Any]]) -> Answer:
        return self._call("POST", self.api.session_url(sid, "/messages:batch"), {"messages": messages})

    def get(self, sid: str, mid: str) -> Answer:
        return self._call("GET", self.url(sid, mid))

    def patch(self, sid: str, mid: str, body: dict[str, Any]) -> Answer:
        return self._call("PATCH", self.url(sid, mid), body)

    def delete(self, sid: str, mid: str) -> Answer:
        return self._call("DELETE", self.url(sid, mid))

    def truncate(self, sid: str, after: str | None) -> Answer:
        return self._call("DELETE", self.url(sid), **({"after": after} if after is not None else {}))

    def chunk(self, sid: str, mid: str, index: int, content: str) -> Answer:
        return self._call("POST", self.url(sid, mid, "/chunks"), {"index": index, "content": content})

    def listing(self, sid: str) -> list[dict[str, Any]]:
        status, body = self._call("GET", self.url(sid), page_size=200)
        assert status == 200 and body["next_token"] is None, body
        assert body["total"] == len(body["messages"]), body
        return list(body["messages"])

    def context(self, sid: str) -> dict[str, Any]:
        status, body = self._call("GET", self.api.session_url(sid, "/context"))
        assert status == 200, body
        return dict(body)

    def session(self, sid: str) -> dict[str, Any]:
        status, body = self._call("GET", self.api.session_url(sid))
        assert status == 200, body
        return dict(body)

    def set_status(self, sid: str, status: str) -> None:
        code, body = self._call("PUT", self.api.session_url(sid), {"status": status})
        assert code == 200, body

    def assert_counters_match(self, sid: str) -> list[dict[str, Any]]:
        """The session's counters equal the sums over its listed messages; returns the listing."""
        listed = self.listing(sid)
        session = self.session(sid)
        assert session["message_count"] == len(listed)
        assert session["total_tokens"] == sum(m["tokens_used"] for m in listed)
        assert Decimal(str(session["total_cost"])) == sum((Decimal(str(m["cost_usd"])) for m in listed), Decimal(0))
        return listed


@pytest.fixture
def messages(api: Any, user: str) -> Messages:
    return Messages(api, user)


def _ids(listed: list[dict[str, Any]]) -> list[str]:
    return [m["message_id"] for m in listed]


# -- read one -----------------------------------------------------------------------------------------


def test_get_message_answers_the_stored_message(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    stored = messages.append_ok(sid, tokens_used=5, cost_usd=0.0001, provider="bedrock", model="claude-3-5-sonnet")
    assert stored["status"] == "completed" and (stored["provider"], stored["model"]) == ("bedrock", "claude-3-5-sonnet")
    assert messages.get(sid, stored["message_id"]) == (200, stored)
    assert messages.get(sid, stored["message_id"].upper()) == (200, stored)  # a UUID in another case names it too


def test_get_message_404s(messages: Messages, new_session: NewSession, api: Any, other_user: str) -> None:
    sid, elsewhere = new_session()["session_id"], new_session()["session_id"]
    mid = messages.append_ok(sid)["message_id"]
    assert messages.get(sid, str(uuid.uuid4())) == (404, MESSAGE_NOT_FOUND)
    assert messages.get(sid, "not-a-uuid") == (404, MESSAGE_NOT_FOUND)  # SPEC section 4: an invalid id is missing
    assert messages.get(elsewhere, mid) == (404, MESSAGE_NOT_FOUND)  # the caller's, but of another session
    assert messages.get(str(uuid.uuid4()), mid) == (404, SESSION_NOT_FOUND)
    assert Messages(api, other_user).get(sid, mid) == (404, SESSION_NOT_FOUND)


# -- change one -----------------------------------------------------------------------------------------


def test_patch_changes_fields_and_moves_the_counters(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    first = messages.append_ok(sid, tokens_used=10, cost_usd=0.25)
    messages.append_ok(sid, tokens_used=7, cost_usd=0.125)
    status, changed = messages.patch(sid, first["message_id"], {"metadata": {"edited": True}, "model": "gpt-4o"})
    assert status == 200 and changed["metadata"] == {"edited": True} and changed["model"] == "gpt-4o"
    assert changed["content"] == first["content"] and changed["created_at"] == first["created_at"]
    status, changed = messages.patch(
        sid, first["message_id"], {"content": "edited", "tokens_used": 3, "cost_usd": 0.000000000001}
    )
    assert status == 200, changed
    assert (changed["content"], changed["tokens_used"], changed["cost_usd"]) == ("edited", 3, 0.000000000001)
    assert messages.get(sid, first["message_id"]) == (200, changed)
    messages.assert_counters_match(sid)
    session = messages.session(sid)
    assert (session["total_tokens"], Decimal(str(session["total_cost"]))) == (10, Decimal("0.125000000001"))


def test_patch_that_changes_nothing_answers_the_message(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    stored = messages.append_ok(sid, metadata={"a": 1})
    before = messages.session(sid)
    status, same = messages.patch(sid, stored["message_id"], {"metadata": {"a": 1}})
    assert (status, same) == (200, stored)
    assert messages.session(sid)["updated_at"] == before["updated_at"]  # nothing was written


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("empty", {}),
        ("all null", {"content": None, "metadata": None}),
        ("unknown field", {"role": "system"}),
        ("empty content", {"content": ""}),
        ("negative tokens", {"tokens_used": -1}),
        ("13 decimals", {"cost_usd": 0.0000000000001}),
        ("provider too long", {"provider": "p" * 129}),
        ("model with a control character", {"model": "gpt\n4"}),
        ("in_progress is not a finalization", {"status": "in_progress"}),
    ],
)
def test_patch_refuses_a_bad_body(
    messages: Messages, new_session: NewSession, assert_validation_error: Callable[..., None], case: str, body: Any
) -> None:
    sid = new_session()["session_id"]
    mid = messages.append_ok(sid)["message_id"]
    assert_validation_error(*messages.patch(sid, mid, body), case)


def test_patch_404s(messages: Messages, new_session: NewSession, api: Any, other_user: str) -> None:
    sid = new_session()["session_id"]
    mid = messages.append_ok(sid)["message_id"]
    assert messages.patch(sid, str(uuid.uuid4()), {"metadata": {}}) == (404, MESSAGE_NOT_FOUND)
    assert messages.patch(sid, "x" * 37, {"metadata": {}}) == (404, MESSAGE_NOT_FOUND)
    assert Messages(api, other_user).patch(sid, mid, {"metadata": {}}) == (404, SESSION_NOT_FOUND)


# -- delete one, truncate ---------------------------------------------------------------------------------


def test_delete_message(messages: Messages, new_session: NewSession, api: Any, other_user: str) -> None:
    sid = new_session()["session_id"]
    kept = messages.append_ok(sid, tokens_used=4, cost_usd=0.5)
    gone = messages.append_ok(sid, tokens_used=6, cost_usd=0.25)
    assert Messages(api, other_user).delete(sid, gone["message_id"]) == (404, SESSION_NOT_FOUND)
    assert messages.delete(sid, gone["message_id"]) == (200, {"deleted": 1})
    assert messages.get(sid, gone["message_id"]) == (404, MESSAGE_NOT_FOUND)
    assert messages.delete(sid, gone["message_id"]) == (404, MESSAGE_NOT_FOUND)
    assert messages.delete(sid, "0") == (404, MESSAGE_NOT_FOUND)
    assert _ids(messages.assert_counters_match(sid)) == [kept["message_id"]]
    assert [m["message_id"] for m in messages.context(sid)["messages"]] == [kept["message_id"]]


def test_truncate_deletes_every_message_after_one(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, batch = messages.batch(
        sid, [{"role": "user", "content": f"m{i}", "tokens_used": i, "cost_usd": i / 100} for i in range(6)]
    )
    assert status == 201, batch
    stored = batch["messages"]
    assert messages.truncate(sid, stored[1]["message_id"]) == (200, {"deleted": 4})
    assert _ids(messages.assert_counters_match(sid)) == _ids(stored[:2])
    for gone in stored[2:]:
        assert messages.get(sid, gone["message_id"]) == (404, MESSAGE_NOT_FOUND)
    # Repeated while its cut is pending (as a retry after a lost answer would be): the same answer, nothing written
    assert messages.truncate(sid, stored[1]["message_id"]) == (200, {"deleted": 4})
    assert messages.truncate(sid, stored[3]["message_id"]) == (404, MESSAGE_NOT_FOUND)  # deleted by the cut
    after = messages.append_ok(sid, content="regenerated", tokens_used=9)  # a new reply lands after the cut
    assert _ids(messages.assert_counters_match(sid)) == [*_ids(stored[:2]), after["message_id"]]
    assert messages.truncate(sid, stored[0]["message_id"]) == (200, {"deleted": 2})
    assert _ids(messages.assert_counters_match(sid)) == _ids(stored[:1])


def test_truncate_needs_a_well_formed_after(
    messages: Messages, new_session: NewSession, assert_validation_error: Callable[..., None], api: Any, other_user: str
) -> None:
    sid = new_session()["session_id"]
    mid = messages.append_ok(sid)["message_id"]
    status, body = messages.truncate(sid, None)
    assert_validation_error(status, body)
    assert body["detail"][0]["loc"] == ["query", "after"]
    for bad in ("", "not-a-uuid", mid + "0"):
        assert_validation_error(*messages.truncate(sid, bad), bad)
    assert messages.truncate(sid, str(uuid.uuid4())) == (404, MESSAGE_NOT_FOUND)
    assert Messages(api, other_user).truncate(sid, mid) == (404, SESSION_NOT_FOUND)
    assert messages.truncate(str(uuid.uuid4()), mid) == (404, SESSION_NOT_FOUND)
    assert len(messages.assert_counters_match(sid)) == 1


# -- a session that is not active ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "ended"])
def test_messages_of_a_session_that_is_not_active_are_read_only(
    messages: Messages, new_session: NewSession, api: Any, status: str
) -> None:
    sid = new_session()["session_id"]
    done = messages.append_ok(sid, tokens_used=2)
    reply = messages.append_ok(sid, role="assistant", content="", status="in_progress")
    if status == "ended":
        assert api("DELETE", api.session_url(sid), query={"user_id": messages.user})[0] == 200
    else:
        messages.set_status(sid, status)
    before = messages.assert_counters_match(sid)
    assert messages.get(sid, done["message_id"]) == (200, done)
    assert messages.patch(sid, done["message_id"], {"metadata": {"late": True}}) == (409, NOT_ACTIVE)
    assert messages.patch(sid, reply["message_id"], {"status": "completed"}) == (409, NOT_ACTIVE)
    assert messages.delete(sid, done["message_id"]) == (409, NOT_ACTIVE)
    assert messages.truncate(sid, done["message_id"]) == (409, NOT_ACTIVE)
    assert messages.chunk(sid, reply["message_id"], 0, "late") == (409, NOT_ACTIVE)
    assert messages.append(sid, message_id=str(uuid.uuid4())) == (409, NOT_ACTIVE)
    assert messages.assert_counters_match(sid) == before


# -- client-chosen ids ----------------------------------------------------------------------------------------


def test_a_client_chosen_message_id_makes_the_append_idempotent(
    messages: Messages, new_session: NewSession, api: Any
) -> None:
    sid = new_session()["session_id"]
    mid = str(uuid.uuid4())
    body = {"message_id": mid, "content": "once", "tokens_used": 3, "cost_usd": 0.01, "provider": "openai"}
    status, first = messages.append(sid, **body)
    assert status == 201 and first["message_id"] == mid, first
    assert messages.append(sid, **body) == (200, first)
    status, answer = messages.append(sid, **{**body, "content": "twice"})
    assert status == 409 and answer["detail"], answer
    status, answer = messages.append(sid, **{**body, "provider": "bedrock"})
    assert status == 409 and answer["detail"], answer
    assert messages.append(sid, **{**body, "message_id": mid.upper()}) == (200, first)  # the same UUID
    assert _ids(messages.assert_counters_match(sid)) == [mid]
    status, answer = messages.append(sid, **{**body, "message_id": "not-a-uuid"})
    assert status == 422 and answer["detail"][0]["loc"][-1] == "message_id", answer


def test_a_batch_of_client_chosen_ids_is_idempotent_too(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    batch = [{"role": "user", "content": f"m{i}", "message_id": str(uuid.uuid4())} for i in range(3)]
    status, first = messages.batch(sid, batch)
    assert status == 201, first
    assert messages.batch(sid, batch) == (200, first)
    status, answer = messages.batch(sid, [*batch[:2], {**batch[2], "content": "other"}])
    assert status == 409 and answer["detail"], answer
    assert len(messages.assert_counters_match(sid)) == 3


def test_a_deleted_client_id_can_be_appended_again(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    mid = str(uuid.uuid4())
    messages.append_ok(sid, message_id=mid)
    assert messages.delete(sid, mid) == (200, {"deleted": 1})
    status, again = messages.append(sid, message_id=mid, content="again")
    assert status == 201 and again["content"] == "again", again
    assert _ids(messages.assert_counters_match(sid)) == [mid]


def test_an_idempotency_key_reused_with_another_body_stays_422(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    mid, key = str(uuid.uuid4()), {"Idempotency-Key": str(uuid.uuid4())}
    status, first = messages.append(sid, headers=key, message_id=mid, content="a")
    assert status == 201, first
    assert messages.append(sid, headers=key, message_id=mid, content="a") == (201, first)  # the key's replay
    status, answer = messages.append(sid, headers=key, message_id=mid, content="b")
    assert status == 422 and answer["detail"][0]["type"] == "idempotency_key_reused", answer
    assert messages.append(sid, message_id=mid, content="a") == (200, first)  # without the key: the id's answer
    assert len(messages.assert_counters_match(sid)) == 1


# -- streamed replies ---------------------------------------------------------------------------------------


def test_a_streamed_reply_over_http(messages: Messages, new_session: NewSession, api: Any, other_user: str) -> None:
    sid = new_session()["session_id"]
    question = messages.append_ok(sid, content="Tell me a story", tokens_used=4, cost_usd=0.00004)
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    status, reply = messages.append(
        sid, role="assistant", content="", status="in_progress", provider="bedrock", model=model
    )
    assert status == 201 and reply["status"] == "in_progress" and reply["content"] == "", reply
    mid = reply["message_id"]
    assert messages.session(sid)["message_count"] == 2  # counted from its creation

    pieces = ["Once ", "upon ", "a time"]
    for index, piece in enumerate(pieces):
        status, grown = messages.chunk(sid, mid, index, piece)
        assert status == 200 and grown["content"] == "".join(pieces[: index + 1]), grown
        assert grown["status"] == "in_progress"
    assert messages.chunk(sid, mid, 1, "upon ") == (200, grown)  # a repeated chunk is a no-op
    status, answer = messages.chunk(sid, mid, 1, "down ")
    assert status == 409 and answer["detail"], answer
    status, answer = messages.chunk(sid, mid, 5, "gap")
    assert status == 409 and "next index is 3" in answer["detail"], answer
    assert Messages(api, other_user).chunk(sid, mid, 3, "x") == (404, SESSION_NOT_FOUND)
    assert messages.chunk(str(uuid.uuid4()), mid, 3, "x") == (404, SESSION_NOT_FOUND)
    assert messages.chunk(sid, str(uuid.uuid4()), 0, "x") == (404, MESSAGE_NOT_FOUND)
    assert messages.chunk(sid, question["message_id"], 0, "x")[0] == 409  # a completed message takes no chunks

    assert messages.get(sid, mid) == (200, grown)  # readers see the content so far
    context = messages.context(sid)
    assert [m["content"] for m in context["messages"]] == ["Tell me a story", "Once upon a time"]
    assert [m["message_id"] for m in messages.listing(sid)] == [question["message_id"], mid]
    status, answer = messages.patch(sid, mid, {"content": "rewritten"})
    assert status == 409 and answer["detail"], answer  # in progress: finalize it first
    messages.assert_counters_match(sid)

    final = {"status": "completed", "tokens_used": 12, "cost_usd": 0.00036}
    status, done = messages.patch(sid, mid, final)
    assert status == 200, done
    assert (done["status"], done["content"], done["tokens_used"], done["cost_usd"]) == (
        "completed",
        "Once upon a time",
        12,
        0.00036,
    )
    assert (done["provider"], done["model"]) == ("bedrock", model)
    assert messages.patch(sid, mid, final) == (200, done)  # the same finalization again: a no-op
    status, answer = messages.patch(sid, mid, {**final, "tokens_used": 13})
    assert status == 409 and answer["detail"], answer
    status, answer = messages.patch(sid, mid, {"status": "incomplete"})
    assert status == 409 and answer["detail"], answer
    status, answer = messages.chunk(sid, mid, 3, " more")
    assert status == 409 and answer["detail"], answer
    assert messages.get(sid, mid) == (200, done)
    assert messages.session(sid)["total_tokens"] == 16  # the reply counts once, at finalization
    messages.assert_counters_match(sid)


def test_an_interrupted_reply_is_finalized_incomplete_with_its_text(
    messages: Messages, new_session: NewSession
) -> None:
    sid = new_session()["session_id"]
    mid = messages.append_ok(sid, role="assistant", content="", status="in_progress")["message_id"]
    assert messages.chunk(sid, mid, 0, "Half a ")[0] == 200
    status, done = messages.patch(sid, mid, {"status": "incomplete", "tokens_used": 2})
    assert status == 200 and (done["status"], done["content"]) == ("incomplete", "Half a "), done
    assert messages.listing(sid)[0] == done


def test_an_in_progress_append_carries_no_tokens(
    messages: Messages, new_session: NewSession, assert_validation_error: Callable[..., None]
) -> None:
    sid = new_session()["session_id"]
    for case, fields in (("tokens", {"tokens_used": 1}), ("cost", {"cost_usd": 0.1})):
        assert_validation_error(
            *messages.append(sid, role="assistant", content="", status="in_progress", **fields), case
        )
    assert_validation_error(*messages.append(sid, content=""), "empty content of a completed message")


def test_deleting_a_reply_in_progress(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    mid = messages.append_ok(sid, role="assistant", content="", status="in_progress")["message_id"]
    assert messages.chunk(sid, mid, 0, "abc")[0] == 200
    assert messages.delete(sid, mid) == (200, {"deleted": 1})
    assert messages.chunk(sid, mid, 1, "d") == (404, MESSAGE_NOT_FOUND)
    assert messages.assert_counters_match(sid) == []


# -- counters over a sequence ------------------------------------------------------------------------------------


def test_counters_equal_the_sums_after_a_sequence(messages: Messages, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    a = messages.append_ok(sid, tokens_used=100, cost_usd=0.001)
    b = messages.append_ok(sid, message_id=str(uuid.uuid4()), tokens_used=50, cost_usd=0.0005)
    status, batch = messages.batch(
        sid, [{"role": "assistant", "content": f"b{i}", "tokens_used": 10 + i, "cost_usd": 0.000001} for i in range(4)]
    )
    assert status == 201
    messages.assert_counters_match(sid)
    assert messages.patch(sid, a["message_id"], {"tokens_used": 1, "cost_usd": 0.123456789012})[0] == 200
    messages.assert_counters_match(sid)
    assert messages.delete(sid, b["message_id"])[0] == 200
    messages.assert_counters_match(sid)
    reply = messages.append_ok(sid, role="assistant", content="", status="in_progress")
    for index in range(3):
        assert messages.chunk(sid, reply["message_id"], index, f"c{index} ")[0] == 200
    messages.assert_counters_match(sid)
    assert (
        messages.patch(sid, reply["message_id"], {"status": "completed", "tokens_used": 30, "cost_usd": 0.3})[0] == 200
    )
    messages.assert_counters_match(sid)
    assert messages.truncate(sid, batch["messages"][1]["message_id"]) == (200, {"deleted": 3})
    listed = messages.assert_counters_match(sid)
    assert _ids(listed) == [a["message_id"], *_ids(batch["messages"][:2])]
    assert messages.delete(sid, batch["messages"][0]["message_id"])[0] == 200
    messages.assert_counters_match(sid)
    session = messages.session(sid)
    assert (session["message_count"], session["total_tokens"]) == (2, 1 + 11)


# -- seed 001: a chat turn that records its model and streams its reply ------------------------------------------


def test_seed_001_streamed_chat_turn(messages: Messages, new_session: NewSession) -> None:
    """seed 001's ``chat_turn_stream``: the user's message saved with the turn's LLM snapshot (``provider``,
    ``model_name``), the history built, the reply streamed and saved with the same snapshot."""
    sid = new_session(title="chat")["session_id"]
    snapshot = {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    user = messages.append_ok(sid, content="What is DynamoDB?", tokens_used=6, **snapshot)
    history = messages.context(sid)["messages"]
    assert [(m["role"], m["provider"], m["model"]) for m in history] == [("user", *snapshot.values())]
    reply = messages.append_ok(sid, role="assistant", content="", status="in_progress", **snapshot)
    text = ["DynamoDB is ", "a key-value ", "database."]
    for index, piece in enumerate(text):
        assert messages.chunk(sid, reply["message_id"], index, piece)[0] == 200
    status, done = messages.patch(
        sid, reply["message_id"], {"status": "completed", "tokens_used": 9, "cost_usd": 0.0002}
    )
    assert status == 200, done
    listed = messages.assert_counters_match(sid)
    assert [(m["role"], m["content"], m["provider"], m["model"], m["status"]) for m in listed] == [
        ("user", "What is DynamoDB?", *snapshot.values(), "completed"),
        ("assistant", "".join(text), *snapshot.values(), "completed"),
    ]
    assert listed[0] == user
