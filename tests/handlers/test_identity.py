"""SPEC section 5 / OWASP API1:2023: user B acting on user A's session, with and without the authorizer.

For every route that names a session, B gets 404 (or 403 when B names A as ``user_id`` while the
authorizer vouches for B) and the table is left exactly as it was. A trusted backend (a caller in one of the
``TRUSTED_GROUPS``, with the authorizer on) acts for the user it names on every route, and is logged with both
identities; a caller of any other group still gets 403.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from session_service import wiring
from session_service.observability import logger

pytestmark = pytest.mark.fresh_table  # snapshot() scans the whole table; the stats test reads STATS

OWNER, INTRUDER = "user_a", "user_b"

MESSAGE = {"role": "user", "content": "let me in"}
MID = "4d3c2b1a-0f9e-4d8c-8b7a-6a5b4c3d2e1f"
"""A's streamed reply in progress (its id chosen by A), followed by A's message: every message route names it."""
SESSION_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/sessions/{sid}", None),
    ("PUT", "/api/v1/sessions/{sid}", {"title": "taken over", "status": "completed"}),
    ("DELETE", "/api/v1/sessions/{sid}", None),
    ("DELETE", "/api/v1/sessions/{sid}?permanent=true", None),
    ("HEAD", "/api/v1/sessions/{sid}", None),
    ("GET", "/api/v1/sessions/{sid}/summary", None),
    ("POST", "/api/v1/sessions/{sid}/messages", MESSAGE),
    ("POST", "/api/v1/sessions/{sid}/messages:batch", {"messages": [MESSAGE, MESSAGE]}),
    ("GET", "/api/v1/sessions/{sid}/messages", None),
    ("POST", "/api/v1/sessions/{sid}/memory", {"memory_type": "preference", "content": "B's now"}),
    ("GET", "/api/v1/sessions/{sid}/memory", None),
    ("GET", "/api/v1/sessions/{sid}/context", None),
    ("GET", "/api/v1/sessions/{sid}/messages/{mid}", None),
    ("PATCH", "/api/v1/sessions/{sid}/messages/{mid}", {"metadata": {"owner": "B"}}),
    ("DELETE", "/api/v1/sessions/{sid}/messages/{mid}", None),
    ("DELETE", "/api/v1/sessions/{sid}/messages?after={mid}", None),
    ("POST", "/api/v1/sessions/{sid}/messages:pop", {"count": 2}),
    ("POST", "/api/v1/sessions/{sid}/messages:clear", None),
    ("POST", "/api/v1/sessions/{sid}/messages/{mid}/chunks", {"index": 0, "content": "B's words"}),
    ("GET", "/api/v1/sessions/{sid}/state", None),
    ("GET", "/api/v1/sessions/{sid}/state/merged", None),
    ("PATCH", "/api/v1/sessions/{sid}/state", {"set": {"owner": "B"}}),
    ("PUT", "/api/v1/sessions/{sid}/agents/writer", {"state": {"owner": "B"}}),
    ("GET", "/api/v1/sessions/{sid}/agents/planner", None),
    ("PATCH", "/api/v1/sessions/{sid}/agents/planner", {"set": {"owner": "B"}}),
    ("GET", "/api/v1/sessions/{sid}/agents/planner/messages", None),
    ("GET", "/api/v1/sessions/{sid}/agents/planner/messages/0", None),
    ("PATCH", "/api/v1/sessions/{sid}/agents/planner/messages/0", {"content": "B's now"}),
]
NOT_FOUND = {"detail": "Session not found"}


def send(
    api: Any, method: str, path: str, sid: str, body: Any, user_id: str | None = None, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    """Call a route of :data:`SESSION_ROUTES` on session ``sid``; its own query parameters ride in ``path``."""
    route, _, own_query = path.format(sid=sid, mid=MID).partition("?")
    query = dict(pair.split("=", 1) for pair in own_query.split("&") if pair)
    if user_id is not None:
        query["user_id"] = user_id
    return api(method, route, query=query, json_body=body, **kwargs)


def test_the_matrix_covers_every_route_of_a_session() -> None:
    from devserver.template import routes

    with_session = {
        (r.method, r.path.replace("{session_id}", "{sid}").replace("{message_id}", "{mid}"))
        for r in routes()
        if "{session_id}" in r.path
    }

    def route_of(path: str) -> str:  # the matrix names agent "planner" (and creates "writer"), position 0
        path = path.partition("?")[0].replace("/agents/planner", "/agents/{agent_id}")
        return path.replace("/agents/writer", "/agents/{agent_id}").replace("/messages/0", "/messages/{position}")

    assert with_session == {(method, route_of(path)) for method, path, _ in SESSION_ROUTES}
    assert len(SESSION_ROUTES) == len({(method, path) for method, path, _ in SESSION_ROUTES})


def snapshot(ddb: Any) -> list[dict[str, Any]]:
    """Every item of the table, in a stable order."""
    items = ddb.scan(TableName=wiring.settings().table_name)["Items"]
    return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


@pytest.fixture
def owned(api: Any) -> str:
    """A session of user A with a streamed reply in progress (:data:`MID`), a message and a memory record;
    returns its id."""
    status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": OWNER, "title": "A's"})
    assert status == 201
    sid = session["session_id"]
    reply = {"role": "assistant", "content": "", "status": "in_progress", "message_id": MID}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": OWNER}, json_body=reply)[0] == 201
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": OWNER}, json_body=MESSAGE)[0] == 201
    plan = {"role": "user", "content": "A's plan", "agent_id": "planner"}  # agent planner's message 0
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": OWNER}, json_body=plan)[0] == 201
    body = {"memory_type": "entity", "content": "A's secret"}
    assert api("POST", f"/api/v1/sessions/{sid}/memory", query={"user_id": OWNER}, json_body=body)[0] == 201
    return str(sid)


@pytest.fixture
def authorizer_on(monkeypatch: pytest.MonkeyPatch, ddb: Any) -> None:
    """Deployed as prod: the API Gateway authorizer verifies the caller."""
    monkeypatch.setenv("AUTHORIZER_ENABLED", "true")
    wiring.settings.cache_clear()
    yield
    wiring.settings.cache_clear()


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_without_authorizer_another_user_sees_nothing_and_changes_nothing(
    api: Any, ddb: Any, owned: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot(ddb)
    status, answer, _ = send(api, method, path, owned, body, INTRUDER)
    assert (status, answer) == (404, NOT_FOUND)
    assert snapshot(ddb) == before


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_with_authorizer_the_verified_caller_cannot_pose_as_the_owner(
    api: Any, ddb: Any, owned: str, authorizer_on: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot(ddb)
    claims = {"sub": INTRUDER}
    status, answer, _ = send(api, method, path, owned, body, OWNER, claims=claims)
    assert status == 403 and "detail" in answer
    status, answer, _ = send(api, method, path, owned, body, claims=claims)
    assert (status, answer) == (404, NOT_FOUND)
    assert snapshot(ddb) == before


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_with_authorizer_the_owner_needs_no_user_id(
    api: Any, owned: str, authorizer_on: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    status, answer, _ = send(api, method, path, owned, body, claims={"sub": OWNER})
    assert status in (200, 201), answer


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_with_authorizer_a_request_without_identity_is_401(
    api: Any, ddb: Any, owned: str, authorizer_on: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot(ddb)
    status, answer, _ = send(api, method, path, owned, body, OWNER)
    assert (status, answer) == (401, {"detail": "Not authenticated"})
    assert snapshot(ddb) == before


def test_with_authorizer_creating_for_another_user_is_403(api: Any, ddb: Any, authorizer_on: None) -> None:
    before = snapshot(ddb)
    status, _, _ = api("POST", "/api/v1/sessions", json_body={"user_id": OWNER}, claims={"sub": INTRUDER})
    assert status == 403
    assert snapshot(ddb) == before
    status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": INTRUDER}, claims={"sub": INTRUDER})
    assert status == 201 and session["user_id"] == INTRUDER


def test_another_users_sessions_in_a_batch_delete_are_404_and_untouched(
    api: Any, ddb: Any, owned: str, authorizer_on: None
) -> None:
    before = snapshot(ddb)
    body = {"session_ids": [owned]}
    status, answer, _ = api("POST", "/api/v1/sessions:batchDelete", json_body=body, claims={"sub": INTRUDER})
    assert (status, answer) == (404, NOT_FOUND)
    query = {"user_id": OWNER}
    status, _, _ = api("POST", "/api/v1/sessions:batchDelete", query=query, json_body=body, claims={"sub": INTRUDER})
    assert status == 403
    assert api("POST", "/api/v1/sessions:batchDelete", query=query, json_body=body)[0] == 401
    assert snapshot(ddb) == before


def test_a_batch_create_for_another_user_is_403(api: Any, ddb: Any, authorizer_on: None) -> None:
    before = snapshot(ddb)
    claims = {"sub": INTRUDER}
    cases = [  # the query names A; a body of the batch names A
        ({"user_id": OWNER}, {"sessions": [{"user_id": INTRUDER}]}),
        ({}, {"sessions": [{"user_id": INTRUDER}, {"user_id": OWNER}]}),
    ]
    for query, body in cases:
        assert api("POST", "/api/v1/sessions:batch", query=query, json_body=body, claims=claims)[0] == 403, body
    assert snapshot(ddb) == before
    body = {"sessions": [{"user_id": INTRUDER}]}
    status, created, _ = api("POST", "/api/v1/sessions:batch", json_body=body, claims=claims)
    assert status == 201 and created["sessions"][0]["user_id"] == INTRUDER


def test_a_taken_session_id_is_409_for_another_user_without_revealing_it(api: Any, owned: str) -> None:
    status, answer, _ = api("POST", "/api/v1/sessions", json_body={"user_id": INTRUDER, "session_id": owned})
    assert status == 409
    assert OWNER not in str(answer) and "A's" not in str(answer)


def test_listing_another_users_sessions(api: Any, owned: str, authorizer_on: None) -> None:
    status, _, _ = api("GET", f"/api/v1/users/{OWNER}/sessions", claims={"sub": INTRUDER})
    assert status == 403
    status, page, _ = api("GET", f"/api/v1/users/{INTRUDER}/sessions", claims={"sub": INTRUDER})
    assert status == 200 and page["sessions"] == []


def test_usage_of_another_user(api: Any, ddb: Any, owned: str, authorizer_on: None) -> None:
    before = snapshot(ddb)
    status, answer, _ = api("GET", f"/api/v1/users/{OWNER}/usage", claims={"sub": INTRUDER})
    assert status == 403 and "detail" in answer
    query = {"user_id": OWNER}
    assert api("GET", f"/api/v1/users/{OWNER}/usage", query=query, claims={"sub": INTRUDER})[0] == 403
    assert api("GET", f"/api/v1/users/{OWNER}/usage", query=query)[0] == 401
    status, usage, _ = api("GET", f"/api/v1/users/{INTRUDER}/usage", claims={"sub": INTRUDER})
    assert status == 200 and usage["user_id"] == INTRUDER and usage["sessions"] == 0
    assert snapshot(ddb) == before


def test_usage_of_another_user_without_authorizer_is_403_when_the_caller_is_named(api: Any, owned: str) -> None:
    status, answer, _ = api("GET", f"/api/v1/users/{OWNER}/usage", query={"user_id": INTRUDER})
    assert status == 403 and "detail" in answer
    assert api("GET", f"/api/v1/users/{OWNER}/usage", query={"user_id": OWNER})[0] == 200


def test_exporting_another_users_data(api: Any, owned: str, authorizer_on: None) -> None:
    export = f"/api/v1/users/{OWNER}/export"
    status, answer, _ = api("GET", export, claims={"sub": INTRUDER})
    assert status == 403 and "detail" in answer
    query = {"user_id": OWNER}
    status, answer, _ = api("GET", f"/api/v1/users/{INTRUDER}/export", query=query, claims={"sub": INTRUDER})
    assert status == 403 and "detail" in answer
    assert api("GET", export)[:2] == (401, {"detail": "Not authenticated"})
    status, body, _ = api("GET", f"/api/v1/users/{INTRUDER}/export", claims={"sub": INTRUDER})
    assert (status, body) == (200, "")
    status, body, _ = api("GET", export, claims={"sub": OWNER})
    assert status == 200 and owned in body and "A's secret" in body


def test_without_authorizer_an_export_naming_another_caller_is_403(api: Any, owned: str) -> None:
    status, answer, _ = api("GET", f"/api/v1/users/{OWNER}/export", query={"user_id": INTRUDER})
    assert status == 403 and "detail" in answer


def test_a_cursor_of_another_user_is_400(api: Any, new_session: Any) -> None:
    for _ in range(3):
        new_session(OWNER)
        new_session(INTRUDER)
    status, page, _ = api("GET", f"/api/v1/users/{OWNER}/sessions", query={"page_size": 1})
    assert status == 200 and page["next_token"]
    query = {"page_size": 1, "next_token": page["next_token"]}
    status, answer, _ = api("GET", f"/api/v1/users/{INTRUDER}/sessions", query=query)
    assert status == 400 and answer["detail"]


def test_a_cursor_of_another_listing_is_400(api: Any, owned: str, new_session: Any) -> None:
    for _ in range(2):
        new_session(OWNER)
    _, page, _ = api("GET", f"/api/v1/users/{OWNER}/sessions", query={"page_size": 1})
    query = {"user_id": OWNER, "page_size": 1, "next_token": page["next_token"]}
    status, _, _ = api("GET", f"/api/v1/sessions/{owned}/messages", query=query)
    assert status == 400
    query = {"page_size": 1, "active_only": True, "next_token": page["next_token"]}
    status, _, _ = api("GET", f"/api/v1/users/{OWNER}/sessions", query=query)
    assert status == 400


def test_stats_need_the_admin_group_with_the_authorizer(api: Any, authorizer_on: None) -> None:
    assert api("GET", "/api/v1/sessions/stats")[0] == 401
    assert api("GET", "/api/v1/sessions/stats", claims={"sub": OWNER})[0] == 403
    status, stats, _ = api("GET", "/api/v1/sessions/stats", claims={"sub": "ops", "cognito:groups": "admin"})
    assert status == 200 and stats["total_sessions"] == 0


def test_stats_are_open_without_the_authorizer(api: Any) -> None:
    assert api("GET", "/api/v1/sessions/stats")[0] == 200


USER_ROUTES: list[tuple[str, str]] = [
    ("DELETE", "/api/v1/users/{user}"),
    ("GET", "/api/v1/users/{user}/erasure"),
    ("GET", "/api/v1/users/{user}/usage"),
    ("GET", "/api/v1/users/{user}/export"),
    ("GET", "/api/v1/users/{user}/state"),
]
"""Every route that acts on one user's own data (SPEC section 9)."""


def test_the_matrix_covers_every_route_of_a_users_own_data() -> None:
    from devserver.template import routes

    own = {(r.method, r.path.replace("{user_id}", "{user}")) for r in routes() if r.path.startswith("/api/v1/users/")}
    # A PATCH of a user's state needs a body: tests/handlers/test_user_and_namespace_state.py covers it.
    unlisted = {("GET", "/api/v1/users/{user}/sessions"), ("PATCH", "/api/v1/users/{user}/state")}
    assert own - unlisted == set(USER_ROUTES)


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
def test_another_users_data_is_403_and_untouched(api: Any, ddb: Any, owned: str, method: str, path: str) -> None:
    assert api("DELETE", f"/api/v1/users/{OWNER}", query={"user_id": OWNER})[0] == 202  # an erasure of A's exists
    before = snapshot(ddb)
    # Without the authorizer: B names A in the path and B as user_id.
    status, answer, _ = api(method, path.format(user=OWNER), query={"user_id": INTRUDER})
    assert status == 403 and answer["detail"], answer
    assert snapshot(ddb) == before


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
def test_with_authorizer_another_users_data_is_403(
    api: Any, ddb: Any, owned: str, method: str, path: str, authorizer_on: None
) -> None:
    before = snapshot(ddb)
    status, _, _ = api(method, path.format(user=OWNER), claims={"sub": INTRUDER})
    assert status == 403
    status, _, _ = api(method, path.format(user=OWNER), query={"user_id": OWNER}, claims={"sub": INTRUDER})
    assert status == 403
    assert snapshot(ddb) == before


# -- trusted backends acting for users (SPEC section 5) ------------------------------------------------------

AGENT = "agent_backend"
TRUSTED = {"sub": AGENT, "cognito:groups": "service"}
"""The claims of a trusted backend: a member of the ``service`` group."""
UNTRUSTED = [{"sub": INTRUDER}, {"sub": INTRUDER, "cognito:groups": "admin,services"}]
"""Callers outside the trusted groups: no group, and groups that are not ``service`` (one only resembles it)."""
ACTING = "A trusted caller acts for a user"


@pytest.fixture
def trusted_on(monkeypatch: pytest.MonkeyPatch, authorizer_on: None) -> None:
    """The authorizer on, and the members of the ``ops`` and ``service`` groups trusted to act for users."""
    monkeypatch.setenv("TRUSTED_GROUPS", "ops,service")
    wiring.settings.cache_clear()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """``log_lines()``: the JSON lines the service's logger wrote since the test began, at ``INFO`` as deployed
    (``POWERTOOLS_LOG_LEVEL`` in ``template.yaml``; the tests' default is ``WARNING``)."""
    handler = cast(logging.StreamHandler[Any], logger.registered_handler)
    stream, level = io.StringIO(), logger.log_level
    previous = handler.setStream(stream)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    logger.setLevel(level)
    if previous is not None:
        handler.setStream(previous)


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_a_trusted_caller_acts_for_the_user_it_names_on_every_session_route(
    api: Any, owned: str, trusted_on: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    status, answer, _ = send(api, method, path, owned, body, OWNER, claims=TRUSTED)
    assert status in (200, 201), answer
    if method == "GET" and path == "/api/v1/sessions/{sid}":
        assert answer["user_id"] == OWNER


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_a_trusted_caller_naming_no_user_acts_as_itself(
    api: Any, ddb: Any, owned: str, trusted_on: None, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot(ddb)
    status, answer, _ = send(api, method, path, owned, body, claims=TRUSTED)
    assert (status, answer) == (404, NOT_FOUND)
    assert snapshot(ddb) == before


@pytest.mark.parametrize("claims", UNTRUSTED)
@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_outside_the_trusted_groups_naming_another_user_is_403(
    api: Any,
    ddb: Any,
    owned: str,
    trusted_on: None,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    claims: dict[str, Any],
) -> None:
    before = snapshot(ddb)
    status, answer, _ = send(api, method, path, owned, body, OWNER, claims=claims)
    assert status == 403 and "detail" in answer
    assert snapshot(ddb) == before


@pytest.mark.parametrize(
    ("groups", "trusted"),
    [
        ("service", True),
        ("admin,service", True),  # a REST API's Cognito authorizer joins the list with commas
        ("[admin service]", True),  # an HTTP API's JWT authorizer writes it in brackets
        ("[service]", True),
        ("[admin, service]", True),
        (["admin", "service"], True),
        ("", False),
        ("services", False),
        ("Service", False),
        ("[admin]", False),
        ("admin,service-x", False),
        ([], False),
    ],
)
def test_the_group_claim_in_each_form_api_gateway_gives(
    api: Any, owned: str, trusted_on: None, groups: Any, trusted: bool
) -> None:
    claims = {"sub": AGENT, "cognito:groups": groups}
    status, _, _ = api("GET", f"/api/v1/sessions/{owned}", query={"user_id": OWNER}, claims=claims)
    assert status == (200 if trusted else 403)


def test_a_trusted_caller_creates_for_the_user_it_names(api: Any, trusted_on: None) -> None:
    status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": OWNER}, claims=TRUSTED)
    assert status == 201 and session["user_id"] == OWNER
    sid = session["session_id"]
    assert api("GET", f"/api/v1/sessions/{sid}", claims={"sub": OWNER})[0] == 200
    assert api("GET", f"/api/v1/sessions/{sid}", claims=TRUSTED)[0] == 404  # not the backend's own

    body = {"sessions": [{"user_id": OWNER}, {"user_id": OWNER}]}
    status, created, _ = api("POST", "/api/v1/sessions:batch", query={"user_id": OWNER}, json_body=body, claims=TRUSTED)
    assert status == 201 and [s["user_id"] for s in created["sessions"]] == [OWNER, OWNER]
    ids = [s["session_id"] for s in created["sessions"]]
    body = {"session_ids": ids}
    status, _, _ = api("POST", "/api/v1/sessions:batchDelete", query={"user_id": OWNER}, json_body=body, claims=TRUSTED)
    assert status == 200

    status, own, _ = api("POST", "/api/v1/sessions", json_body={"user_id": AGENT}, claims=TRUSTED)
    assert status == 201 and own["user_id"] == AGENT  # naming itself, the backend is a user like any other
    assert api("GET", f"/api/v1/sessions/{own['session_id']}", claims=TRUSTED)[0] == 200


@pytest.mark.parametrize("claims", UNTRUSTED)
def test_outside_the_trusted_groups_creating_for_another_user_is_403(
    api: Any, ddb: Any, trusted_on: None, claims: dict[str, Any]
) -> None:
    before = snapshot(ddb)
    assert api("POST", "/api/v1/sessions", json_body={"user_id": OWNER}, claims=claims)[0] == 403
    body = {"sessions": [{"user_id": OWNER}]}
    assert api("POST", "/api/v1/sessions:batch", query={"user_id": OWNER}, json_body=body, claims=claims)[0] == 403
    assert snapshot(ddb) == before


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        *((method, path, query) for method, path in USER_ROUTES for query in ({}, {"user_id": OWNER})),
        ("GET", "/api/v1/users/{user}/sessions", {}),  # the listing takes no user_id but the path's
    ],
)
def test_a_trusted_caller_acts_for_the_user_of_the_path(
    api: Any, owned: str, trusted_on: None, method: str, path: str, query: dict[str, str]
) -> None:
    if path.endswith("/erasure"):  # an erasure of A's to read
        assert api("DELETE", f"/api/v1/users/{OWNER}", claims={"sub": OWNER})[0] == 202
    status, answer, _ = api(method, path.format(user=OWNER), query=query, claims=TRUSTED)
    assert status == (202 if method == "DELETE" else 200), answer
    if path.endswith(("/usage", "/erasure")):
        assert answer["user_id"] == OWNER
    if path.endswith("/export"):
        assert owned in answer and "A's secret" in answer
    if path.endswith("/sessions"):
        assert [row["session_id"] for row in answer["sessions"]] == [owned]


@pytest.mark.parametrize("claims", UNTRUSTED)
@pytest.mark.parametrize(("method", "path"), [*USER_ROUTES, ("GET", "/api/v1/users/{user}/sessions")])
def test_outside_the_trusted_groups_another_users_data_is_403(
    api: Any, ddb: Any, owned: str, trusted_on: None, method: str, path: str, claims: dict[str, Any]
) -> None:
    before = snapshot(ddb)
    assert api(method, path.format(user=OWNER), claims=claims)[0] == 403
    assert snapshot(ddb) == before


def test_without_authorizer_the_trusted_groups_change_nothing(
    api: Any, owned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTED_GROUPS", "service")
    wiring.settings.cache_clear()
    session = f"/api/v1/sessions/{owned}"
    assert api("GET", session, query={"user_id": OWNER})[0] == 200  # the request's user_id is the caller
    assert api("GET", session, query={"user_id": INTRUDER})[:2] == (404, NOT_FOUND)
    assert api("GET", session, query={"user_id": OWNER}, claims=TRUSTED)[0] == 403  # claims bind as before
    wiring.settings.cache_clear()


def test_acting_for_a_user_is_logged_with_both_identities_once_a_request(
    api: Any, owned: str, trusted_on: None, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    assert api("GET", f"/api/v1/sessions/{owned}", query={"user_id": OWNER}, claims=TRUSTED)[0] == 200
    (line,) = [line for line in log_lines() if line["message"] == ACTING]
    assert (line["acting_caller"], line["acting_for"], line["level"]) == (AGENT, OWNER, "INFO")
    assert line["correlation_id"]  # the API Gateway request id

    # A batch names the user three times (query and two bodies): one line.
    body = {"sessions": [{"user_id": OWNER}, {"user_id": OWNER}]}
    status, _, _ = api("POST", "/api/v1/sessions:batch", query={"user_id": OWNER}, json_body=body, claims=TRUSTED)
    assert status == 201
    assert len([line for line in log_lines() if line["message"] == ACTING]) == 2

    # Neither the backend acting as itself, nor a user, nor the next invocation is logged as acting for anyone.
    logged = len(log_lines())
    assert api("GET", f"/api/v1/sessions/{owned}", claims=TRUSTED)[0] == 404
    assert api("GET", f"/api/v1/sessions/{owned}", claims={"sub": OWNER})[0] == 200
    assert api("GET", f"/api/v1/sessions/{owned}", query={"user_id": OWNER}, claims=UNTRUSTED[1])[0] == 403
    assert not any("acting_caller" in line or "acting_for" in line for line in log_lines()[logged:])
