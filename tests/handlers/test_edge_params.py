"""Parameters, ids and If-Match at the edge (issue 9, defects 5 and 7; SPEC section 4).

* A query parameter a route does not declare is 422 on every route (it used to be ignored: ``?order=desc``
  answered 200 with unordered data). What a route declares is read from its handler, so a parameter
  added later is accepted without touching the check.
* A path id that is not a valid id answers 404 like a missing one, on every route with such a parameter.
* ``If-Match`` compares strongly: ``W/"n"`` never matches (RFC 9110 13.1.1).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module, rest_event
from devserver.template import Route, routes
from session_service.errors import SessionNotFound
from session_service.http import IdPath, make_resolver, parse_if_match
from session_service.models import ITEM_ID_PATTERN

USER = "edge_params_user"
NOT_FOUND = {"detail": "Session not found"}
TableItems = Callable[[], list[dict[str, Any]]]

# A body each write route accepts (so that only the parameter under test can fail).
GOOD_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/sessions"): {"user_id": USER},
    ("PUT", "/api/v1/sessions/{session_id}"): {"title": "t"},
    ("POST", "/api/v1/sessions/{session_id}/messages"): {"role": "user", "content": "x"},
    ("POST", "/api/v1/sessions/{session_id}/messages:batch"): {"messages": [{"role": "user", "content": "x"}]},
    ("POST", "/api/v1/sessions/{session_id}/memory"): {"memory_type": "custom", "content": "x"},
    ("PATCH", "/api/v1/sessions/{session_id}/messages/{message_id}"): {"metadata": {"a": 1}},
    ("POST", "/api/v1/sessions/{session_id}/messages/{message_id}/chunks"): {"index": 0, "content": "x"},
    ("PATCH", "/api/v1/sessions/{session_id}/state"): {"set": {"a": 1}},
    ("PUT", "/api/v1/sessions/{session_id}/agents/{agent_id}"): {"state": {}},
    ("PATCH", "/api/v1/sessions/{session_id}/agents/{agent_id}"): {"set": {"a": 1}},
    ("PATCH", "/api/v1/sessions/{session_id}/agents/{agent_id}/messages/{position}"): {"content": "x"},
}


def declared_query_names(route: Route) -> set[str]:
    """The query parameters a route's handler declares (what Powertools reads from its signature)."""
    app = load_handler_module(route.code_dir).app
    (handler_route,) = [r for r in app._static_routes + app._dynamic_routes if r.method == route.method]
    return {field.alias for field in handler_route.dependant.query_params}


def call(
    route: Route,
    path_values: dict[str, str],
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``route`` with ``path_values`` in its path, the way API Gateway hands it to the function."""
    path = route.path
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", value)
    if body is None:
        body = GOOD_BODIES.get((route.method, route.path))
    event = rest_event(
        route.method,
        path,
        resource=route.path,
        path_parameters=path_values or None,
        query={k: [v] for k, v in (query or {}).items()},
        headers={"Content-Type": "application/json", **(headers or {})},
        body=body if body is None or isinstance(body, str) else json.dumps(body),
    )
    response = load_handler_module(route.code_dir).lambda_handler(event, LambdaContext())
    return int(response["statusCode"]), json.loads(response["body"])


def path_values_for(route: Route, sid: str, mid: str | None = None) -> dict[str, str]:
    values = {
        "session_id": sid,
        "user_id": USER,
        "message_id": mid or str(uuid.uuid4()),
        "agent_id": "planner",
        "position": "0",
    }
    return {name: value for name, value in values.items() if "{" + name + "}" in route.path}


def valid_query(route: Route) -> dict[str, str]:
    """The route's required query parameters, valid: ``user_id``, and ``after`` (a message id) where declared."""
    declared = declared_query_names(route)
    query = {"user_id": USER} if "user_id" in declared else {}
    return {**query, "after": str(uuid.uuid4())} if "after" in declared else query


# -- unknown query parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r.method} {r.path}")
def test_an_unknown_query_parameter_is_422_on_every_route_and_stores_nothing(
    api: Any, table_items: TableItems, new_session: Any, route: Route
) -> None:
    sid = new_session(USER)["session_id"]
    before = table_items()
    declared = declared_query_names(route)
    # The parameters clients were found sending (?order=desc, ?last=5, ?status=), where the route has none
    # of that name, and one no route will ever have.
    for name, value in [("order", "desc"), ("last", "5"), ("status", ""), ("no_such_parameter", "1")]:
        if name in declared:
            continue
        status, body = call(route, path_values_for(route, sid), query={**valid_query(route), name: value})
        assert status == 422, (name, body)
        assert body["detail"] == [{"type": "extra_forbidden", "loc": ["query", name], "msg": "Unknown query parameter"}]
        assert table_items() == before, name


@pytest.mark.fresh_table  # lists the fixed USER's sessions: exactly the one it creates
def test_declared_parameters_are_still_accepted(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    (route,) = [r for r in routes() if r.method == "GET" and r.path == "/api/v1/users/{user_id}/sessions"]
    query = {"active_only": "true", "page": "1", "page_size": "5"}
    assert declared_query_names(route) >= set(query)
    status, body = call(route, {"user_id": USER}, query=query)
    assert status == 200 and [s["session_id"] for s in body["sessions"]] == [sid]


def test_every_unknown_parameter_is_named(api: Any, new_session: Any) -> None:
    sid = new_session(USER)["session_id"]
    (route,) = [r for r in routes() if r.method == "GET" and r.path == "/api/v1/sessions/{session_id}"]
    status, body = call(route, {"session_id": sid}, query={"user_id": USER, "b": "1", "a": "2"})
    assert status == 422
    assert [e["loc"] for e in body["detail"]] == [["query", "a"], ["query", "b"]]


# -- path ids that are not ids ----------------------------------------------------------------------------

BAD_IDS = ["abc", "x" * 300, "7e02708b-ad2d-44d6-a851-d02d9713775", "not a uuid", "..", "ü" * 8, "7e02708b_"]


@pytest.mark.parametrize(
    "route", [r for r in routes() if "{session_id}" in r.path], ids=lambda r: f"{r.method} {r.path}"
)
def test_a_session_id_that_is_not_an_id_is_404_like_a_missing_one(
    api: Any, table_items: TableItems, new_session: Any, route: Route
) -> None:
    new_session(USER)
    before = table_items()
    missing = call(route, path_values_for(route, str(uuid.uuid4())), query=valid_query(route))
    assert missing == (404, NOT_FOUND)
    for bad in BAD_IDS:
        assert call(route, path_values_for(route, bad), query=valid_query(route)) == missing, bad
        assert table_items() == before, bad


@pytest.mark.parametrize(
    "route", [r for r in routes() if "{message_id}" in r.path], ids=lambda r: f"{r.method} {r.path}"
)
def test_a_message_id_that_is_not_an_id_is_404_like_a_missing_one(
    api: Any, table_items: TableItems, new_session: Any, route: Route
) -> None:
    sid = new_session(USER)["session_id"]
    before = table_items()
    missing = call(route, path_values_for(route, sid, str(uuid.uuid4())), query=valid_query(route))
    assert missing == (404, {"detail": "Message not found"})
    for bad in BAD_IDS:
        assert call(route, path_values_for(route, sid, bad), query=valid_query(route)) == missing, bad
        assert table_items() == before, bad


class MessageNotFound(SessionNotFound):
    detail = "Message not found"


MessageIdPath = Annotated[str, IdPath(not_found=MessageNotFound, pattern=ITEM_ID_PATTERN)]


def test_an_id_path_parameter_answers_its_own_not_found() -> None:
    """The mechanism is generic: a future ``message_id`` names its own domain error."""

    app = make_resolver()

    @app.get("/api/v1/messages/<message_id>")
    def get_message(message_id: MessageIdPath) -> dict[str, str]:
        return {"message_id": message_id}

    def get(message_id: str) -> tuple[int, Any]:
        event = rest_event(
            "GET",
            f"/api/v1/messages/{message_id}",
            resource="/api/v1/messages/{message_id}",
            path_parameters={"message_id": message_id},
        )
        response = app.resolve(event, LambdaContext())
        return int(response["statusCode"]), json.loads(response["body"])

    good = str(uuid.uuid4())
    assert get(good) == (200, {"message_id": good})
    assert get("nope") == (404, {"detail": "Message not found"})


# -- If-Match ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (None, None),
        ("*", None),
        (' "*" ', -1),
        ('"3"', 3),
        (' "3" ', 3),
        ('W/"3"', -1),
        ('w/"3"', -1),
        ("3", -1),
        ('"3", "4"', -1),
        ('"-3"', -1),
        ('"³"', -1),
        ('"' + "9" * 19 + '"', -1),
        ('""', -1),
        ('"', -1),
    ],
)
def test_if_match_compares_strongly(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


def test_a_weak_etag_never_matches_a_write(api: Any, table_items: TableItems, new_session: Any, etag_of: Any) -> None:
    session = new_session(USER)
    sid = session["session_id"]
    path, q = f"/api/v1/sessions/{sid}", {"user_id": USER}
    status, _, headers = api("GET", path, query=q)
    etag = headers["ETag"]
    assert status == 200 and etag == etag_of(1, session)
    before = table_items()
    assert api("PUT", path, query=q, json_body={"title": "x"}, headers={"If-Match": f"W/{etag}"})[0] == 412
    assert api("DELETE", path, query=q, headers={"If-Match": f"W/{etag}"})[0] == 412
    assert table_items() == before
    assert api("PUT", path, query=q, json_body={"title": "x"}, headers={"If-Match": etag})[0] == 200
