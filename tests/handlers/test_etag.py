"""Optimistic concurrency: a session's ``ETag`` names its version (and its incarnation); PUT and DELETE honour
``If-Match`` (412)."""

from __future__ import annotations

from typing import Any

USER = "etag_user"


def test_responses_carry_the_version_as_etag(api: Any, new_session: Any, etag_of: Any) -> None:
    status, session, headers = api("POST", "/api/v1/sessions", json_body={"user_id": USER})
    assert status == 201 and headers["ETag"] == etag_of(1, session)
    sid = session["session_id"]
    _, _, headers = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    assert headers["ETag"] == etag_of(1, session)
    _, _, headers = api("PUT", f"/api/v1/sessions/{sid}", query={"user_id": USER}, json_body={"title": "a"})
    assert headers["ETag"] == etag_of(2, session)


def test_an_append_changes_the_etag(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    _, _, before = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": USER}, json_body={"role": "user", "content": "x"})
    _, _, after = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    assert before["ETag"] != after["ETag"]


def test_two_racing_updates_never_silently_overwrite(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    _, _, headers = api("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})
    seen = {"If-Match": headers["ETag"]}
    path, query = f"/api/v1/sessions/{sid}", {"user_id": USER}
    first = api("PUT", path, query=query, json_body={"title": "first"}, headers=seen)
    second = api("PUT", path, query=query, json_body={"title": "second"}, headers=seen)
    assert first[0] == 200
    assert second[0] == 412 and second[1]["detail"]
    _, session, _ = api("GET", path, query=query)
    assert session["title"] == "first"


def test_delete_honours_if_match(api: Any, new_session: Any, etag_of: Any) -> None:
    session = new_session(USER)
    path, query = f"/api/v1/sessions/{session['session_id']}", {"user_id": USER}
    assert api("DELETE", path, query=query, headers={"If-Match": etag_of(7, session)})[0] == 412
    assert api("GET", path, query=query)[1]["status"] == "active"
    assert api("DELETE", path, query=query, headers={"If-Match": etag_of(1, session)})[0] == 200
    assert api("GET", path, query=query)[1]["status"] == "ended"


def test_if_match_star_and_garbage(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    path, query = f"/api/v1/sessions/{sid}", {"user_id": USER}
    assert api("PUT", path, query=query, json_body={"title": "x"}, headers={"If-Match": "*"})[0] == 200
    assert api("PUT", path, query=query, json_body={"title": "y"}, headers={"If-Match": "not-an-etag"})[0] == 412
    assert api("GET", path, query=query)[1]["title"] == "x"


def test_a_missing_session_with_if_match_is_404_not_412(api: Any, ddb: Any, etag_of: Any) -> None:
    path = "/api/v1/sessions/7e02708b-ad2d-44d6-a851-d02d97137757"
    tag = {"If-Match": etag_of(1, {"created_at": "2026-01-01T00:00:00Z"})}
    assert api("PUT", path, query={"user_id": USER}, json_body={"title": "x"}, headers=tag)[0] == 404
