"""SPEC section 9: a user's export (GDPR right of access), NDJSON pages with the cursor in ``Next-Token``.

The union of the pages is exactly what GETs of each session, its messages and its memory records answer, each
record once, whatever the page size, wherever a page stops (inside a session's messages, between its parts,
at Lambda's response size), and while the user keeps writing.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from session_service.operations import export as export_operations

pytestmark = pytest.mark.fresh_table  # moto's transactions copy the whole table: keep each test's small

SESSIONS = "/api/v1/sessions"
NDJSON = "application/x-ndjson"


def _url(sid: str, suffix: str = "") -> str:
    return f"{SESSIONS}/{sid}{suffix}"


def export_pages(api: Any, user: str, **query: Any) -> list[list[dict[str, Any]]]:
    """Every page of ``user``'s export (following ``Next-Token``), each a list of its parsed lines."""
    pages, token = [], None
    for _ in range(1000):
        status, body, headers = api("GET", f"/api/v1/users/{user}/export", query={**query, "next_token": token})
        assert status == 200, body
        assert headers["Content-Type"] == NDJSON
        assert body == "" or body.endswith("\n")
        pages.append([json.loads(line) for line in body.splitlines()])
        token = headers.get("Next-Token")
        if token is None:
            return pages
    raise AssertionError("the export never ended")


def expected_export(api: Any, user: str, session_ids: list[str]) -> list[dict[str, Any]]:
    """What the export must hold, from the API's own reads: each session in id order, its line, its messages
    oldest first, its memory records."""
    lines: list[dict[str, Any]] = []
    for sid in sorted(session_ids):
        status, session, _ = api("GET", _url(sid), query={"user_id": user})
        if status == 404:
            continue
        lines.append({"type": "session", **session})
        status, listing, _ = api("GET", _url(sid, "/messages"), query={"user_id": user, "page_size": 200})
        lines += [{"type": "message", **message} for message in listing["messages"]]
        status, memories, _ = api("GET", _url(sid, "/memory"), query={"user_id": user})
        lines += [{"type": "memory", **memory} for memory in memories["memories"]]
    return lines


def _append(api: Any, user: str, sid: str, *contents: str) -> list[str]:
    messages = [{"role": "user", "content": c, "tokens_used": 3, "cost_usd": 0.000012345678} for c in contents]
    body = {"messages": messages}
    status, answer, _ = api("POST", _url(sid, "/messages:batch"), query={"user_id": user}, json_body=body)
    assert status == 201, answer
    return [m["message_id"] for m in answer["messages"]]


def _memory(api: Any, user: str, sid: str, content: str, kind: str = "entity") -> None:
    body = {"memory_type": kind, "content": content}
    assert api("POST", _url(sid, "/memory"), query={"user_id": user}, json_body=body)[0] == 201


@pytest.fixture
def data(api: Any, new_session: Callable[..., dict[str, Any]], user: str, other_user: str) -> list[str]:
    """``user``'s sessions: messages and memory records of several types; a streamed reply in progress; a
    truncation and a single delete; an ended session; one without anything; one deleted for good. And a session
    of ``other_user``. Returns the ids of ``user``'s sessions (the deleted one among them)."""

    def sid(order: str) -> str:  # ids in a known order: the export goes through sessions by id
        return f"{order}_{uuid.uuid4()}"

    chatty = str(new_session(title="chatty", metadata={"k": [1, 2]}, session_id=sid("a"))["session_id"])
    _append(api, user, chatty, *(f"m{i}" for i in range(7)))
    reply = {"role": "assistant", "content": "", "status": "in_progress"}
    rid = api("POST", _url(chatty, "/messages"), query={"user_id": user}, json_body=reply)[1]["message_id"]
    for index in range(2):
        chunk = {"index": index, "content": f"part{index} "}
        assert api("POST", _url(chatty, f"/messages/{rid}/chunks"), query={"user_id": user}, json_body=chunk)[0] == 200
    for i, kind in enumerate(("preference", "entity", "summary")):
        _memory(api, user, chatty, f"mem{i}", kind)

    cut = str(new_session(title="cut", session_id=sid("b"))["session_id"])
    ids = _append(api, user, cut, *(f"c{i}" for i in range(8)))
    assert api("DELETE", _url(cut, "/messages"), query={"user_id": user, "after": ids[4]})[0] == 200
    assert api("DELETE", _url(cut, f"/messages/{ids[1]}"), query={"user_id": user})[0] == 200
    _append(api, user, cut, "after the cut")
    _memory(api, user, cut, "kept")

    ended = str(new_session(title="ended", session_id=sid("c"))["session_id"])
    _append(api, user, ended, "bye")
    assert api("DELETE", _url(ended), query={"user_id": user})[0] == 200
    empty = str(new_session(title="empty", session_id=sid("d"))["session_id"])
    gone = str(new_session(title="gone", session_id=sid("e"))["session_id"])
    _append(api, user, gone, "forget me")
    assert api("DELETE", _url(gone), query={"user_id": user, "permanent": True})[0] == 200

    theirs = str(new_session(other_user, title="theirs")["session_id"])
    _append(api, other_user, theirs, "not yours")
    _memory(api, other_user, theirs, "not yours either")
    return [chatty, cut, ended, empty, gone]


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 1000])
def test_the_pages_hold_every_record_once_as_the_api_reads_it(
    api: Any, user: str, other_user: str, data: list[str], page_size: int
) -> None:
    pages = export_pages(api, user, page_size=page_size)
    lines = [line for page in pages for line in page]
    assert lines == expected_export(api, user, data)  # in order, nothing twice, nothing missing
    assert all(len(page) == page_size for page in pages[:-1])
    assert len(pages[-1]) <= page_size
    assert {line["user_id"] for line in lines} == {user}
    kinds = [line["type"] for line in lines]
    assert kinds.count("session") == 4 and kinds.count("memory") == 4
    assert "gone" not in {line.get("title") for line in lines}
    texts = [line["content"] for line in lines if line["type"] == "message"]
    assert "part0 part1 " in texts  # a reply in progress shows its content so far
    assert [t for t in texts if t.startswith("c")] == ["c0", "c2", "c3", "c4"]  # truncated and deleted: gone
    assert "not yours" not in texts
    money = [line["cost_usd"] for line in lines if line["type"] == "message" and line["content"] == "m0"]
    assert money == [0.000012345678]  # a JSON number, every digit


def test_pages_split_inside_a_sessions_messages_and_between_its_parts(api: Any, user: str, data: list[str]) -> None:
    chatty = data[0]  # first by id: its line, 8 messages, 3 memory records
    pages = export_pages(api, user, page_size=3)
    where = [[(line["type"], line["session_id"]) for line in page] for page in pages]
    # A page that ends among one session's messages, and one that ends between its messages and memory.
    boundaries = [(page[-1], nxt[0]) for page, nxt in itertools.pairwise(where)]
    assert any(last[0] == "message" and first == ("message", last[1]) for last, first in boundaries)
    assert any(last[0] == "message" and first == ("memory", last[1]) for last, first in boundaries)
    assert ("session", chatty) in [pair for page in where for pair in page]


def test_a_user_without_sessions_gets_one_empty_page(api: Any, other_user: str) -> None:
    assert export_pages(api, "nobody_" + other_user) == [[]]


def test_writes_between_pages_appear_once_and_nothing_that_existed_is_missing(
    api: Any, user: str, data: list[str]
) -> None:
    # Given: the export's first pages, stopped inside the first session (by id)
    before = expected_export(api, user, data)
    first = sorted(sid for sid in data if sid != data[4])
    seen: list[dict[str, Any]] = []
    status, body, headers = api("GET", f"/api/v1/users/{user}/export", query={"page_size": 2})
    seen += [json.loads(line) for line in body.splitlines()]
    token = headers["Next-Token"]
    # When: the user writes to every session (behind, at and ahead of the cursor) between every page
    for round_ in range(100):
        for sid in first if round_ < 4 else ():
            if sid != data[2]:  # the ended session takes no more messages
                _append(api, user, sid, f"late {round_}")
        status, body, headers = api("GET", f"/api/v1/users/{user}/export", query={"page_size": 2, "next_token": token})
        assert status == 200
        seen += [json.loads(line) for line in body.splitlines()]
        token = headers.get("Next-Token")
        if token is None:
            break
    # Then: no record twice; every message and memory record that existed at the start is there as it was
    keys = [(line["type"], line.get("message_id") or line.get("memory_id") or line["session_id"]) for line in seen]
    assert len(keys) == len(set(keys))
    records = [line for line in before if line["type"] != "session"]
    assert all(record in seen for record in records)
    assert {line["session_id"] for line in seen if line["type"] == "session"} == set(first)


def test_a_page_stops_before_lambdas_response_limit(
    api: Any, user: str, new_session: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: large messages (with characters JSON escapes) and a budget of a few of them
    sid = str(new_session(title="big")["session_id"])
    _append(api, user, sid, *(f'"quoted" \\ é ☃ {i} ' + "x" * 20_000 for i in range(9)))
    budget = 70_000
    monkeypatch.setattr(export_operations, "MAX_EXPORT_PAGE_BYTES", budget)
    # When
    pages = export_pages(api, user, page_size=1000)
    # Then: each page is within the budget as the Lambda runtime escapes it, and no record is lost
    assert len(pages) > 2
    for page in pages:
        text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n" for line in page)
        assert len(json.dumps(text)) <= budget + 2 or len(page) == 1
    assert [line for page in pages for line in page] == expected_export(api, user, [sid])


@pytest.mark.parametrize("page_size", [0, -1, 10_001, "many"])
def test_a_bad_page_size_is_422(
    api: Any, user: str, page_size: Any, assert_validation_error: Callable[..., None]
) -> None:
    status, body, _ = api("GET", f"/api/v1/users/{user}/export", query={"page_size": page_size})
    assert_validation_error(status, body)


def test_the_largest_page_size_is_accepted(api: Any, user: str) -> None:
    status, body, _ = api("GET", f"/api/v1/users/{user}/export", query={"page_size": 10_000})
    assert (status, body) == (200, "")


def test_a_tampered_or_foreign_cursor_is_400(api: Any, user: str, other_user: str, data: list[str]) -> None:
    status, _, headers = api("GET", f"/api/v1/users/{user}/export", query={"page_size": 2})
    token = headers["Next-Token"]
    body, tag = token.split(".")
    forged = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + tag
    for bad in (forged, token + "x", "not-a-token", token.replace(".", "")):
        status, answer, _ = api("GET", f"/api/v1/users/{user}/export", query={"next_token": bad})
        assert (status, answer) == (400, {"detail": "Invalid next_token"}), bad
    status, answer, _ = api("GET", f"/api/v1/users/{other_user}/export", query={"next_token": token})
    assert (status, answer) == (400, {"detail": "Invalid next_token"})
    listing = api("GET", f"/api/v1/users/{user}/sessions", query={"page_size": 1})[1]["next_token"]
    status, _, _ = api("GET", f"/api/v1/users/{user}/export", query={"next_token": listing})
    assert status == 400


def test_a_user_id_naming_someone_else_is_403(api: Any, user: str, other_user: str, data: list[str]) -> None:
    status, answer, _ = api("GET", f"/api/v1/users/{user}/export", query={"user_id": other_user})
    assert status == 403 and answer["detail"]
    status, body, _ = api("GET", f"/api/v1/users/{user}/export", query={"user_id": user, "page_size": 1})
    assert status == 200 and json.loads(body)["user_id"] == user
