"""Chat goes on while the stream function lags (defect 3).

Finalizing a streamed reply, or deleting one still in progress, records no cut on the session: the stream function
deletes the reply's chunks when it sees the reply's change (:mod:`session_service.stream.cleanup`). Only a
truncation waits for the stream: past ``MAX_PENDING_CUTS`` pending truncations of one session, a further one answers
429 with ``Retry-After`` and a ``detail`` that says why, never 503.
"""

from __future__ import annotations

from typing import Any

from session_service import rules, wiring
from session_service.data import dynamo, keys

USER = "lagging_stream_user"


def _hot(ddb: Any, sid: str) -> dict[str, Any]:
    table = wiring.settings().table_name
    return dynamo.deserialize(ddb.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])


def _say(api: Any, sid: str, content: str, **fields: Any) -> dict[str, Any]:
    status, body, _ = api(
        "POST",
        api.session_url(sid, "/messages"),
        query={"user_id": USER},
        json_body={"role": "user", "content": content} | fields,
    )
    assert status == 201, body
    return dict(body)


def _streamed_reply(api: Any, sid: str, chunks: int) -> str:
    reply = _say(api, sid, "", role="assistant", status="in_progress")
    for index in range(chunks):
        url = api.session_url(sid, f"/messages/{reply['message_id']}/chunks")
        status, body, _ = api("POST", url, query={"user_id": USER}, json_body={"index": index, "content": f"c{index} "})
        assert status == 200, body
    return str(reply["message_id"])


def test_a_conversation_finalizes_many_streamed_replies_while_the_stream_is_stopped(
    api: Any, ddb: Any, new_session: Any
) -> None:
    # Given a session whose stream function does not run
    sid = new_session(USER)["session_id"]
    # When more replies than MAX_PENDING_CUTS are streamed and finalized, and one in progress is deleted
    for turn in range(rules.MAX_PENDING_CUTS + 5):
        _say(api, sid, f"question {turn}")
        mid = _streamed_reply(api, sid, 2)
        status, body, _ = api(
            "PATCH",
            api.session_url(sid, f"/messages/{mid}"),
            query={"user_id": USER},
            json_body={"status": "completed", "tokens_used": 3},
        )
        # Then each finalization answers 200 with the reply's content, and records no cut
        assert status == 200, (turn, body)
        assert body["content"] == "c0 c1 "
    dropped = _streamed_reply(api, sid, 3)
    status, body, _ = api("DELETE", api.session_url(sid, f"/messages/{dropped}"), query={"user_id": USER})
    assert (status, body) == (200, {"deleted": 1})
    assert _hot(ddb, sid).get("cuts") in (None, {})


def test_truncations_past_the_bound_answer_429_with_retry_after(api: Any, ddb: Any, new_session: Any) -> None:
    # Given a session holding MAX_PENDING_CUTS truncations the stream function has not applied yet
    sid = new_session(USER)["session_id"]
    for turn in range(rules.MAX_PENDING_CUTS):
        kept = _say(api, sid, f"kept {turn}")["message_id"]
        _say(api, sid, f"regenerated {turn}")
        status, body, _ = api("DELETE", api.session_url(sid, "/messages"), query={"user_id": USER, "after": kept})
        assert (status, body) == (200, {"deleted": 1})
    assert len(_hot(ddb, sid)["cuts"]) == rules.MAX_PENDING_CUTS
    # When one more truncation comes
    kept = _say(api, sid, "kept")["message_id"]
    _say(api, sid, "regenerated")
    status, body, headers = api("DELETE", api.session_url(sid, "/messages"), query={"user_id": USER, "after": kept})
    # Then it is refused with 429, a Retry-After and a detail saying the deletions are still being applied
    assert status == 429, body
    assert int(headers["Retry-After"]) > 0
    assert "being applied" in body["detail"]
    # ... and nothing moved: the message is still there, and finalizing a reply still works
    status, listed, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": USER})
    assert status == 200 and listed["messages"][-1]["content"] == "regenerated"
    mid = _streamed_reply(api, sid, 1)
    status, body, _ = api(
        "PATCH", api.session_url(sid, f"/messages/{mid}"), query={"user_id": USER}, json_body={"status": "completed"}
    )
    assert status == 200, body
