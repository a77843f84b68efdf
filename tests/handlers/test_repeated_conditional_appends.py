"""A conditional append repeated (its answer lost, or sent twice) answers as stored, with the ETag its own write
made: not the version a later writer made (the caller never saw that write, so its next conditional append must
be 412), and not 412 when the repeat raced its own first attempt still in flight."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from session_service.operations import appends

USER = "repeat_user"
Q = {"user_id": USER}


@pytest.fixture
def sid(new_session: Callable[..., dict[str, Any]]) -> str:
    return str(new_session(USER)["session_id"])


def _etag(api: Any, sid: str) -> str:
    status, _, headers = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    assert status == 200
    return str(headers["ETag"])


def _append(api: Any, sid: str, body: dict[str, Any], if_match: str | None = None, batch: bool = False) -> Any:
    path = f"/api/v1/sessions/{sid}/messages{':batch' if batch else ''}"
    return api("POST", path, query=Q, json_body=body, headers={} if if_match is None else {"If-Match": if_match})


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
def test_a_repeat_after_another_writer_answers_its_own_version(api: Any, sid: str, batch: bool) -> None:
    read = _etag(api, sid)
    message = {"role": "user", "content": "mine", "message_id": str(uuid.uuid4())}
    body = {"messages": [message]} if batch else message
    status, _, first = _append(api, sid, body, read, batch)
    assert status == 201
    assert _append(api, sid, {"role": "user", "content": "another writer's"})[0] == 201
    status, _, repeat = _append(api, sid, body, read, batch)  # the first answer was lost: the same request again
    assert status == 200 and repeat["ETag"] == first["ETag"] != _etag(api, sid)
    stale = _append(api, sid, {"role": "user", "content": "next"}, repeat["ETag"])
    assert stale[0] == 412  # the caller never saw the other writer's message


def test_the_same_message_sent_again_on_the_new_version_keeps_it(api: Any, sid: str) -> None:
    message = {"role": "user", "content": "twice", "message_id": str(uuid.uuid4())}
    status, _, first = _append(api, sid, message, _etag(api, sid))
    assert status == 201
    status, _, again = _append(api, sid, message, first["ETag"])
    assert status == 200 and again["ETag"] == first["ETag"] == _etag(api, sid)
    assert _append(api, sid, {"role": "user", "content": "next"}, again["ETag"])[0] == 201


def test_a_repeat_racing_its_own_first_attempt_answers_as_stored(
    api: Any, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repeat read the session before its first attempt committed; its transaction then fails on both the
    session's version and the id's reservation: it is the same write, answered as stored, never 412."""
    read = _etag(api, sid)
    message = {"role": "user", "content": "in flight", "message_id": str(uuid.uuid4())}
    real_found, real_transaction = appends._found_in_session, appends._transaction
    reads = {"n": 0}

    def found_before_the_first_commit(*args: Any, **kwargs: Any) -> Any:
        reads["n"] += 1
        if reads["n"] == 1:  # the repeat's own read: nothing stored yet
            return {message["message_id"]: None}, None
        return real_found(*args, **kwargs)

    def first_attempt_commits_meanwhile(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(appends, "_transaction", real_transaction)
        monkeypatch.setattr(appends, "_found_in_session", real_found)
        assert _append(api, sid, message, read)[0] == 201  # the first attempt lands now
        monkeypatch.setattr(appends, "_found_in_session", found_before_the_first_commit)
        return real_transaction(*args, **kwargs)

    monkeypatch.setattr(appends, "_transaction", first_attempt_commits_meanwhile)
    reads["n"] = 1  # the first attempt's read is real; the repeat's is stubbed below
    monkeypatch.setattr(appends, "_found_in_session", found_before_the_first_commit)
    reads["n"] = 0
    status, answer, headers = _append(api, sid, message, read)
    assert status == 200 and answer["message_id"] == message["message_id"]
    assert headers["ETag"] == _etag(api, sid)
    listed = api("GET", f"/api/v1/sessions/{sid}/messages", query=Q)[1]["messages"]
    assert [m["content"] for m in listed] == ["in flight"]
