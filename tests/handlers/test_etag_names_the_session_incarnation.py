"""A session's ETag names its incarnation as well as its version: a session id created again (after a permanent
delete or expiry: the create takes the id over, its version restarts at 1) answers 412 to an ETag of the older
session, on every conditional write of the session and of its state documents; the new session's ETag works."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from session_service.http.params import NO_SESSION_TAG, parse_session_if_match, session_etag
from session_service.models import SessionTag

USER = {"user_id": "incarnation_user"}
TURN = {"role": "user", "content": "hello"}


def _etags(api: Any, sid: str) -> dict[str, str]:
    base = f"/api/v1/sessions/{sid}"
    session = api("GET", base, query=USER)[2]["ETag"]
    state = api("GET", f"{base}/state", query=USER)[2]["ETag"]
    agent = api("GET", f"{base}/agents/a1", query=USER)[2]["ETag"]
    return {"session": session, "state": state, "agent": agent}


def _make(api: Any, new_session: Callable[..., dict[str, Any]], sid: str) -> dict[str, str]:
    new_session(USER["user_id"], session_id=sid)
    assert api("PUT", f"/api/v1/sessions/{sid}/agents/a1", query=USER, json_body={"state": {}})[0] == 201
    return _etags(api, sid)


def _expire(ddb: Any, sid: str) -> None:
    ddb.update_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"PK": {"S": f"SESSION#{sid}"}, "SK": {"S": "SESSION"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )


@pytest.fixture(params=["deleted", "expired"])
def ids(request: Any, api: Any, ddb: Any, new_session: Callable[..., dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """A session id created again, and the ETags of the older session (at the versions the new one has)."""
    sid = str(uuid.uuid4())
    # Given a session read by a caller (its ETags kept)
    old = _make(api, new_session, sid)
    # When it is deleted for good (or expires) and a session with the same id is created again
    if request.param == "deleted":
        assert api("DELETE", f"/api/v1/sessions/{sid}", query={**USER, "permanent": "true"})[0] in (200, 204)
    else:
        _expire(ddb, sid)
    new = _make(api, new_session, sid)
    assert all(old[name] != new[name] for name in old)  # same versions, another incarnation
    return sid, old


def test_an_etag_of_the_older_session_answers_412_everywhere(api: Any, ids: tuple[str, dict[str, str]]) -> None:
    sid, old = ids
    base = f"/api/v1/sessions/{sid}"
    stale = {"If-Match": old["session"]}
    assert api("PUT", base, query=USER, json_body={"title": "x"}, headers=stale)[0] == 412
    assert api("POST", f"{base}/messages", query=USER, json_body=TURN, headers=stale)[0] == 412
    batch = {"messages": [TURN]}
    assert api("POST", f"{base}/messages:batch", query=USER, json_body=batch, headers=stale)[0] == 412
    assert api("DELETE", base, query=USER, headers=stale)[0] == 412
    assert api("DELETE", base, query={**USER, "permanent": "true"}, headers=stale)[0] == 412
    change = {"set": {"k": 1}}
    assert api("PATCH", f"{base}/state", query=USER, json_body=change, headers={"If-Match": old["state"]})[0] == 412
    agent = {"If-Match": old["agent"]}
    assert api("PATCH", f"{base}/agents/a1", query=USER, json_body=change, headers=agent)[0] == 412
    # nothing was written
    status, session, _ = api("GET", base, query=USER)
    assert status == 200 and session["title"] != "x" and session["status"] == "active"
    assert session["message_count"] == 0
    assert api("GET", f"{base}/state", query=USER)[1]["state"] == {}
    assert api("GET", f"{base}/agents/a1", query=USER)[1]["state"] == {}


def test_the_new_sessions_etags_work(api: Any, ids: tuple[str, dict[str, str]]) -> None:
    sid, _ = ids
    base = f"/api/v1/sessions/{sid}"
    tags = _etags(api, sid)
    status, _, headers = api("PUT", base, query=USER, json_body={"title": "x"}, headers={"If-Match": tags["session"]})
    assert status == 200
    status, _, headers = api(
        "POST", f"{base}/messages", query=USER, json_body=TURN, headers={"If-Match": headers["ETag"]}
    )
    assert status == 201
    batch = {"messages": [TURN]}
    status, _, headers = api(
        "POST", f"{base}/messages:batch", query=USER, json_body=batch, headers={"If-Match": headers["ETag"]}
    )
    assert status == 201 and headers["ETag"] == api("GET", base, query=USER)[2]["ETag"]
    change = {"set": {"k": 1}}
    status, body, _ = api("PATCH", f"{base}/state", query=USER, json_body=change, headers={"If-Match": tags["state"]})
    assert status == 200 and body["state"] == {"k": 1}
    status, body, _ = api(
        "PATCH", f"{base}/agents/a1", query=USER, json_body=change, headers={"If-Match": tags["agent"]}
    )
    assert status == 200 and body["state"] == {"k": 1}
    assert api("DELETE", base, query=USER, headers={"If-Match": headers["ETag"]})[0] in (200, 204)


@pytest.mark.parametrize("tag", ['"1"', '"0"', 'W/"1.x"', '"1.x", "2.y"', '"01.abc"', '"1.ABC"', '"1."', '"1.a.b"'])
def test_a_tag_that_is_not_ours_answers_412(api: Any, new_session: Callable[..., dict[str, Any]], tag: str) -> None:
    sid = new_session(USER["user_id"])["session_id"]
    base = f"/api/v1/sessions/{sid}"
    assert api("PUT", base, query=USER, json_body={"title": "x"}, headers={"If-Match": tag})[0] == 412
    assert api("PATCH", f"{base}/state", query=USER, json_body={"set": {"k": 1}}, headers={"If-Match": tag})[0] == 412
    assert api("POST", f"{base}/messages", query=USER, json_body=TURN, headers={"If-Match": tag})[0] == 412


def test_the_tag_reads_back_exactly() -> None:
    for moment in (datetime(2026, 12, 5, 1, 7, 36, 123456, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)):
        tag = SessionTag(7, moment)
        text = session_etag(tag)
        assert parse_session_if_match(text) == tag and parse_session_if_match(f" {text} ") == tag
        assert " " not in text and text.count('"') == 2 and len(text) <= 14


@pytest.mark.parametrize(
    "header", ['"3"', 'W/"3.k"', '"3.k", "3.k"', '"03.k"', '"3.0k"', '"3.K"', '"3.k-"', '"-3.k"', "3.k", '"3.k.k"']
)
def test_only_our_tags_are_read(header: str) -> None:
    assert parse_session_if_match(header) == NO_SESSION_TAG
    assert parse_session_if_match(None) is None and parse_session_if_match("*") is None
