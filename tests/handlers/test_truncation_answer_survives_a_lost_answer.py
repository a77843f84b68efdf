"""A truncation whose write DynamoDB applied but whose answer was lost still answers what it deleted (issue 18,
defect 4).

The truncation is one conditional UpdateItem of the session (conditioned on the version it read). When its answer is
lost, the update is sent again (by botocore's retry, or by the client's retry of the 503) and fails its condition;
the tail is gone by then. The truncation's cut records how many messages it deleted, so the retry answers that
count, not ``{"deleted": 0}``.

The fault: a ``before-send`` hook lets moto apply the update, then loses the answer, either by a dropped connection
(ReadTimeoutError in ``before-send``: botocore's standard mode sends the same request again, inside one
``dynamo.call``) or in ``after-call`` (botocore does not retry: the handler answers 503, and the client retries).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from session_service import wiring

USER = "lost_answer_user"
ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com/"


class LoseTruncationAnswer:
    """Applies the first truncation's UpdateItem (``cuts.#cut`` set) and loses its answer the ``way`` asked."""

    def __init__(self, stubber: Any) -> None:
        self.stubber = stubber
        self.way: str | None = None
        self.updates = 0
        self._lose_in_after_call = False

    def before_send(self, request: Any, **kwargs: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"").decode()
        if not (target.endswith(".UpdateItem") and b"cuts.#cut" in (request.body or b"")):
            return self.stubber(request=request, **kwargs)
        self.updates += 1
        answer = self.stubber(request=request, **kwargs)  # DynamoDB applies the update
        way, self.way = self.way, None
        if way == "dropped":
            raise ReadTimeoutError(endpoint_url=ENDPOINT)
        if way == "lost":
            self._lose_in_after_call = True
        return answer

    def after_call(self, **_: Any) -> None:
        if self._lose_in_after_call:
            self._lose_in_after_call = False
            raise ReadTimeoutError(endpoint_url=ENDPOINT)


@pytest.fixture
def lose(repo: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoseTruncationAnswer]:
    import botocore.endpoint
    from moto.core.models import botocore_stubber

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda _seconds: None)  # botocore's backoff
    injector = LoseTruncationAnswer(botocore_stubber)
    events = wiring.dynamodb_client().meta.events
    events.unregister("before-send", botocore_stubber)
    events.register("before-send.dynamodb", injector.before_send)
    events.register("after-call.dynamodb", injector.after_call)
    yield injector
    events.unregister("after-call.dynamodb", injector.after_call)
    events.unregister("before-send.dynamodb", injector.before_send)
    events.register("before-send", botocore_stubber)


def _conversation(api: Any, sid: str, count: int) -> list[str]:
    ids = []
    for turn in range(count):
        status, body, _ = api(
            "POST",
            api.session_url(sid, "/messages"),
            query={"user_id": USER},
            json_body={"role": "user", "content": f"m{turn}", "tokens_used": 2},
        )
        assert status == 201, body
        ids.append(body["message_id"])
    return ids


def _truncate(api: Any, sid: str, after: str) -> tuple[int, Any]:
    status, body, _ = api("DELETE", api.session_url(sid, "/messages"), query={"user_id": USER, "after": after})
    return status, body


def test_a_dropped_answer_retried_by_botocore_answers_the_count(
    api: Any, new_session: Any, lose: LoseTruncationAnswer
) -> None:
    sid = new_session(USER)["session_id"]
    ids = _conversation(api, sid, 5)
    lose.way = "dropped"
    assert _truncate(api, sid, ids[1]) == (200, {"deleted": 3})
    assert lose.updates == 2, "botocore sent the applied update again, and it failed its condition"
    status, session, _ = api("GET", api.session_url(sid), query={"user_id": USER})
    assert (status, session["message_count"], session["total_tokens"]) == (200, 2, 4)


def test_a_lost_answer_retried_by_the_client_answers_the_count(
    api: Any, new_session: Any, lose: LoseTruncationAnswer
) -> None:
    sid = new_session(USER)["session_id"]
    ids = _conversation(api, sid, 5)
    lose.way = "lost"
    status, body = _truncate(api, sid, ids[1])
    assert status == 503, body  # the write was applied, its answer lost
    assert _truncate(api, sid, ids[1]) == (200, {"deleted": 3})  # the client's retry
    status, session, _ = api("GET", api.session_url(sid), query={"user_id": USER})
    assert (status, session["message_count"], session["total_tokens"]) == (200, 2, 4)


def test_a_truncation_with_nothing_after_answers_0(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    ids = _conversation(api, sid, 3)
    assert _truncate(api, sid, ids[2]) == (200, {"deleted": 0})
    assert _truncate(api, sid, ids[0]) == (200, {"deleted": 2})
    _conversation(api, sid, 1)
    assert _truncate(api, sid, ids[0]) == (200, {"deleted": 1})  # a new truncation: its own count
    assert _truncate(api, sid, ids[0]) == (200, {"deleted": 1})  # its retry, while its cut is pending
