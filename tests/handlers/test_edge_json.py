"""Deep, huge or ambiguous JSON at the edge (issue 9, defects 1 and 2; SPEC section 4).

Every JSON field (``metadata``, ``conversation_data`` of a create and a PUT, message and memory
``metadata``) takes at most 32 levels of nesting, the field's own object being level 1; anything the
body parser cannot read within the limits is a 422, never a 500, and a rejected request stores nothing.
What a write accepts, every read returns (200). ``Content-Type`` is ``application/json`` in any case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devserver.lambda_runtime import LambdaContext, invoke_route, load_handler_module, rest_event
from devserver.template import route_for
from session_service.models import MAX_JSON_DEPTH, MAX_JSON_OBJECT_BYTES, MAX_JSON_OBJECT_KEYS, load_json

USER = "edge_json_user"
NewSession = Callable[..., dict[str, Any]]
TableItems = Callable[[], list[dict[str, Any]]]


# -- helpers ------------------------------------------------------------------------------------------


def send(
    method: str, path: str, text: str | None, *, query: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """Send ``text`` as the raw body (no client-side JSON encoding) through the route's own handler."""
    response = invoke_route(method, path, query={k: [v] for k, v in (query or {}).items()}, body=text)
    return int(response["statusCode"]), json.loads(response["body"]), dict(response.get("headers") or {})


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` deep: ``nested(1) == {"v": 1}``, ``nested(2) == {"a": {"v": 1}}``."""
    value: dict[str, Any] = {"v": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_text(levels: int) -> str:
    """``nested(levels)`` as JSON text, built without recursion (for depths ``json.dumps`` cannot write)."""
    return '{"a":' * (levels - 1) + '{"v":1}' + "}" * (levels - 1)


def worst_object(seed: str) -> dict[str, Any]:
    """The largest value a JSON field accepts: 50 top-level keys, 32 levels deep, exactly 32 KiB as JSON."""
    value: dict[str, Any] = {f"k{i:02d}": i for i in range(MAX_JSON_OBJECT_KEYS - 2)}
    value["deep"] = nested(MAX_JSON_DEPTH - 1)
    value["pad"] = ""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    value["pad"] = (seed + "é" * MAX_JSON_OBJECT_BYTES)[: (MAX_JSON_OBJECT_BYTES - size) // 2]
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    value["pad"] += "x" * (MAX_JSON_OBJECT_BYTES - size)
    assert len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) == MAX_JSON_OBJECT_BYTES
    assert len(value) == MAX_JSON_OBJECT_KEYS
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def sessions_url(sid: str, suffix: str = "") -> str:
    return f"/api/v1/sessions/{sid}{suffix}"


# The JSON fields of every write: (name, method, path suffix, body around the field, error location).
FIELDS: list[tuple[str, str, str, Callable[[str], str], list[Any]]] = [
    (
        "create metadata",
        "POST",
        "",
        lambda v: f'{{"user_id":"{USER}","metadata":{v}}}',
        ["body", "metadata"],
    ),
    (
        "create conversation_data",
        "POST",
        "",
        lambda v: f'{{"user_id":"{USER}","conversation_data":{v}}}',
        ["body", "conversation_data"],
    ),
    ("put metadata", "PUT", "", lambda v: f'{{"metadata":{v}}}', ["body", "metadata"]),
    ("put conversation_data", "PUT", "", lambda v: f'{{"conversation_data":{v}}}', ["body", "conversation_data"]),
    (
        "message metadata",
        "POST",
        "/messages",
        lambda v: f'{{"role":"user","content":"x","metadata":{v}}}',
        ["body", "metadata"],
    ),
    (
        "batch message metadata",
        "POST",
        "/messages:batch",
        lambda v: f'{{"messages":[{{"role":"user","content":"x","metadata":{v}}}]}}',
        ["body", "messages", 0, "metadata"],
    ),
    (
        "memory metadata",
        "POST",
        "/memory",
        lambda v: f'{{"memory_type":"custom","content":"x","metadata":{v}}}',
        ["body", "metadata"],
    ),
]


def field_request(sid: str, method: str, suffix: str) -> tuple[str, dict[str, str]]:
    """Path and query of a field's write against session ``sid`` (a create targets the collection)."""
    if method == "POST" and suffix == "":
        return "/api/v1/sessions", {}
    return sessions_url(sid, suffix), {"user_id": USER}


# -- defect 1: a write that poisons reads ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["metadata", "conversation_data"])
@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 255, 256, 300])
def test_put_of_a_too_deep_field_is_422_stores_nothing_and_reads_still_work(
    api: Any, table_items: TableItems, new_session: NewSession, field: str, levels: int
) -> None:
    # Given a session whose reads work
    sid = new_session(USER)["session_id"]
    before = table_items()
    # When its owner PUTs a field nested past the limit (300 levels answered 500 after storing it)
    status, body, _ = send("PUT", sessions_url(sid), f'{{"{field}":{nested_text(levels)}}}', query={"user_id": USER})
    # Then the PUT is a 422 naming the field, nothing changed, and GET and the listing still answer 200
    assert status == 422, body
    assert [e["loc"] for e in body["detail"]] == [["body", field]]
    assert "32 levels" in body["detail"][0]["msg"]
    assert table_items() == before
    assert api("GET", sessions_url(sid), query={"user_id": USER})[0] == 200
    assert api("GET", f"/api/v1/users/{USER}/sessions")[0] == 200


@pytest.mark.parametrize(("name", "method", "suffix", "wrap", "loc"), FIELDS, ids=[f[0] for f in FIELDS])
def test_every_json_field_takes_32_levels_and_refuses_33_naming_the_field(
    api: Any,
    table_items: TableItems,
    new_session: NewSession,
    name: str,
    method: str,
    suffix: str,
    wrap: Callable[[str], str],
    loc: list[Any],
) -> None:
    sid = new_session(USER)["session_id"]
    path, query = field_request(sid, method, suffix)
    before = table_items()
    status, body, _ = send(method, path, wrap(nested_text(MAX_JSON_DEPTH + 1)), query=query)
    assert status == 422, body
    assert [e["loc"] for e in body["detail"]] == [loc]
    assert table_items() == before
    status, body, _ = send(method, path, wrap(nested_text(MAX_JSON_DEPTH)), query=query)
    assert status in (200, 201), body


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 256, 999])
def test_deep_metadata_of_a_create_message_or_memory_is_422_never_500(
    api: Any, table_items: TableItems, new_session: NewSession, levels: int
) -> None:
    """256-999 levels answered 500 (the create path dumps the request: pydantic stops at 255)."""
    sid = new_session(USER)["session_id"]
    before = table_items()
    for name, method, suffix, wrap, _ in FIELDS:
        path, query = field_request(sid, method, suffix)
        status, body, _ = send(method, path, wrap(nested_text(levels)), query=query)
        assert status == 422, (name, body)
        assert table_items() == before, name


def test_arrays_count_as_levels_too() -> None:
    from session_service.models import SessionCreate

    inside: Any = [1]
    for _ in range(MAX_JSON_DEPTH - 2):
        inside = [inside]
    assert depth_of({"a": inside}) == MAX_JSON_DEPTH
    assert SessionCreate.model_validate({"user_id": USER, "metadata": {"a": inside}})
    with pytest.raises(ValueError, match="32 levels"):
        SessionCreate.model_validate({"user_id": USER, "metadata": {"a": [inside]}})


# -- defect 2: bodies the parser cannot read within the limits ---------------------------------------------


def deep_array(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE_BODIES: list[tuple[str, Callable[[str], str]]] = [
    ("array nested 10,000 deep", lambda prefix: deep_array(10_000)),
    ("object nested 10,000 deep", lambda prefix: nested_text(10_000)),
    ("a field nested 10,000 deep", lambda prefix: prefix + nested_text(10_000) + "}"),
    ("an integer of 5,000 digits", lambda prefix: prefix + "1" * 5000 + "}"),
    ("a duplicate key", lambda prefix: prefix + '{"a":1,"a":2}}'),
    ("NaN", lambda prefix: prefix + "NaN}"),
    ("-Infinity", lambda prefix: prefix + "-Infinity}"),
    ("a number beyond a double", lambda prefix: prefix + '{"n":1e400}}'),
    ("not JSON", lambda prefix: prefix + "}"),
]

# Each write, with the body text that opens its JSON field (the hostile part is appended to it).
WRITES: list[tuple[str, str, str]] = [
    ("POST", "", f'{{"user_id":"{USER}","metadata":'),
    ("PUT", "", '{"conversation_data":'),
    ("POST", "/messages", '{"role":"user","content":"x","metadata":'),
    ("POST", "/messages:batch", '{"messages":[{"role":"user","content":"x"}],"metadata":'),
    ("POST", "/memory", '{"memory_type":"custom","content":"x","metadata":'),
]


@pytest.mark.parametrize(("case", "make"), HOSTILE_BODIES, ids=[c for c, _ in HOSTILE_BODIES])
def test_hostile_bodies_are_422_and_store_nothing(
    api: Any, table_items: TableItems, new_session: NewSession, case: str, make: Callable[[str], str]
) -> None:
    sid = new_session(USER)["session_id"]
    before = table_items()
    for method, suffix, prefix in WRITES:
        path, query = field_request(sid, method, suffix)
        status, body, _ = send(method, path, make(prefix), query=query)
        assert status == 422, (case, method, suffix, body)
        assert isinstance(body["detail"], list) and {"type", "loc", "msg"} <= set(body["detail"][0])
        assert table_items() == before, (case, method, suffix)


def test_tokens_and_costs_of_5000_digits_are_422(api: Any, table_items: TableItems, new_session: NewSession) -> None:
    sid = new_session(USER)["session_id"]
    before = table_items()
    for field, digits in [("tokens_used", "9" * 5000), ("cost_usd", "9" * 5000), ("cost_usd", "0." + "1" * 5000)]:
        text = f'{{"role":"user","content":"x","{field}":{digits}}}'
        status, body, _ = send("POST", sessions_url(sid, "/messages"), text, query={"user_id": USER})
        assert status == 422, (field, body)
        assert table_items() == before


def test_a_duplicate_key_is_refused_at_any_depth() -> None:
    with pytest.raises(ValueError, match="duplicate object key 'a'"):
        load_json('{"a": 1, "b": {"a": 1}, "a": 2}')
    with pytest.raises(ValueError, match="duplicate object key 'x'"):
        load_json('{"m": {"k": [{"x": 1, "x": 1}]}}')
    assert load_json('{"a": {"a": {"a": 1}}}') == {"a": {"a": {"a": 1}}}


def test_numbers_are_read_exactly() -> None:
    parsed = load_json('{"c": 1.0000000000000001, "i": 12345678901234567890, "e": 1e-12}')
    assert parsed == {"c": Decimal("1.0000000000000001"), "i": 12345678901234567890, "e": Decimal("1e-12")}


def test_metadata_numbers_are_plain_json_numbers_again(api: Any, new_session: NewSession) -> None:
    text = f'{{"user_id":"{USER}","metadata":{{"f":1.5,"e":1e3,"i":12345678901234567890,"l":[0.1]}}}}'
    status, body, _ = send("POST", "/api/v1/sessions", text)
    assert status == 201, body
    assert body["metadata"] == {"f": 1.5, "e": 1000.0, "i": 12345678901234567890, "l": [0.1]}
    status, again, _ = send("GET", sessions_url(body["session_id"]), None, query={"user_id": USER})
    assert (status, again["metadata"]) == (200, body["metadata"])


# -- what a write accepts, every read returns -------------------------------------------------------------


@pytest.mark.fresh_table  # lists the fixed USER's sessions: exactly the one it creates
def test_the_worst_accepted_values_are_written_and_read_back(api: Any, ddb: Any) -> None:
    # Given the largest accepted JSON values (50 keys, 32 levels, 32 KiB), created with an Idempotency-Key
    # (which stores the answer for replay)
    metadata, conversation = worst_object("m"), worst_object("c")
    assert depth_of(metadata) == MAX_JSON_DEPTH
    create = {"user_id": USER, "metadata": metadata, "conversation_data": conversation}
    status, session, _ = api("POST", "/api/v1/sessions", json_body=create, headers={"Idempotency-Key": "worst"})
    assert status == 201, session
    sid = session["session_id"]
    replay = api("POST", "/api/v1/sessions", json_body=create, headers={"Idempotency-Key": "worst"})
    assert replay[:2] == (201, session)
    # When a PUT replaces both, and a message and a memory record carry the worst metadata
    other, other_conversation = worst_object("p"), worst_object("q")
    q = {"user_id": USER}
    put = api("PUT", sessions_url(sid), query=q, json_body={"metadata": other, "conversation_data": other_conversation})
    assert put[0] == 200, put[1]
    message = {"role": "user", "content": "x", "metadata": metadata}
    assert api("POST", sessions_url(sid, "/messages"), query=q, json_body=message)[0] == 201
    assert api("POST", sessions_url(sid, "/messages:batch"), query=q, json_body={"messages": [message] * 2})[0] == 201
    memory = {"memory_type": "entity", "content": "x", "metadata": metadata}
    assert api("POST", sessions_url(sid, "/memory"), query=q, json_body=memory)[0] == 201
    # Then every read answers 200 with the values as written
    status, got, _ = api("GET", sessions_url(sid), query=q)
    assert status == 200 and got["metadata"] == other and got["conversation_data"] == other_conversation
    status, listing, _ = api("GET", f"/api/v1/users/{USER}/sessions")
    assert status == 200 and [s["session_id"] for s in listing["sessions"]] == [sid]
    status, messages, _ = api("GET", sessions_url(sid, "/messages"), query=q)
    assert status == 200 and [m["metadata"] for m in messages["messages"]] == [metadata] * 3
    status, memories, _ = api("GET", sessions_url(sid, "/memory"), query=q)
    assert status == 200 and memories["memories"][0]["metadata"] == metadata
    assert api("GET", sessions_url(sid, "/summary"), query=q)[0] == 200


def test_one_byte_or_one_key_more_than_the_worst_is_422(api: Any, table_items: TableItems) -> None:
    bigger = worst_object("m")
    bigger["pad"] += "x"
    more_keys = worst_object("m")
    more_keys.pop("pad")
    more_keys.update({"x1": 1, "x2": 2})
    before = table_items()
    for value in (bigger, more_keys):
        status, body, _ = api("POST", "/api/v1/sessions", json_body={"user_id": USER, "metadata": value})
        assert status == 422 and body["detail"][0]["loc"] == ["body", "metadata"], body
    assert table_items() == before


# -- Content-Type: media types are case-insensitive (RFC 9110 8.3.1); anything but JSON is 415 --------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "APPLICATION/JSON",
        "Application/Json",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        " application/json ",
    ],
)
def test_json_media_types_are_case_insensitive(api: Any, content_type: str) -> None:
    status, body, _ = api(
        "POST", "/api/v1/sessions", json_body={"user_id": USER}, headers={"Content-Type": content_type}
    )
    assert status == 201, body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"user_id": "u"}'),
        ("application/x-www-form-urlencoded", "user_id=u"),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nu\r\n--x--'),
        ("multipart/form-data", "user_id=u"),
        ("application/jsonx", '{"user_id": "u"}'),
        ("application/json-patch+json", '{"user_id": "u"}'),
    ],
)
def test_other_media_types_are_415_and_store_nothing(
    api: Any, table_items: TableItems, content_type: str, body: str
) -> None:
    before = table_items()
    status, answer, _ = api("POST", "/api/v1/sessions", body=body, headers={"Content-Type": content_type})
    assert status == 415, answer
    assert answer["detail"][0]["loc"] == ["header", "content-type"]
    assert table_items() == before


def test_a_body_without_content_type_is_read_as_json(api: Any) -> None:
    route, _ = route_for("POST", "/api/v1/sessions")
    event = rest_event("POST", "/api/v1/sessions", resource=route.path, body=json.dumps({"user_id": USER}))
    response = load_handler_module(route.code_dir).lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 201, response["body"]
