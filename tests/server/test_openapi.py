"""The committed ``openapi.json`` is what the handlers generate, and it states the real contract."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devserver.openapi import OPENAPI_FILE, TAGS, build_document, dumps, handler_schema
from devserver.template import routes
from session_service import __version__
from session_service.http import ERROR_ANSWERS

REGENERATE = "PYTHONPATH=layers/common:. .venv/bin/python -m devserver.openapi --write"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document generated from the code now."""
    return build_document()


def test_committed_document_matches_the_code(document: dict[str, Any]) -> None:
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == dumps(document), f"openapi.json drifted from the handlers: regenerate it with `{REGENERATE}`"


def test_every_template_route_is_described(document: dict[str, Any]) -> None:
    described = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert described == {(route.method, route.path) for route in routes()}


def test_info(document: dict[str, Any]) -> None:
    assert document["info"]["title"] == "Session Service"
    assert document["info"]["version"] == __version__


CHUNKS = "/api/v1/sessions/{session_id}/messages/{message_id}/chunks"
"""A POST that creates nothing addressable: a chunk grows its reply, answered 200 (SPEC section 8)."""
BATCH_DELETE = "/api/v1/sessions:batchDelete"
"""A POST that deletes (SPEC section 9: Google's custom-method style), answered 200."""
POP = "/api/v1/sessions/{session_id}/messages:pop"
CLEAR = "/api/v1/sessions/{session_id}/messages:clear"
"""POSTs that delete messages, answered 200, at most once per ``Idempotency-Key``."""


def test_creates_answer_201_and_create_session_also_200(document: dict[str, Any]) -> None:
    for path, ops in document["paths"].items():
        if "post" in ops and path not in (CHUNKS, BATCH_DELETE, POP, CLEAR):
            assert "201" in ops["post"]["responses"], path
    for path in (CHUNKS, BATCH_DELETE, POP, CLEAR):
        assert set(document["paths"][path]["post"]["responses"]) & {"200", "201"} == {"200"}, path
    create = document["paths"]["/api/v1/sessions"]["post"]["responses"]
    assert create["200"]["content"] == create["201"]["content"]
    for append in ("/api/v1/sessions/{session_id}/messages", "/api/v1/sessions/{session_id}/messages:batch"):
        responses = document["paths"][append]["post"]["responses"]  # 200: the client's message_ids found
        assert responses["200"]["content"] == responses["201"]["content"], append
        assert "409" in responses, append


def test_messages_as_records_are_documented(document: dict[str, Any]) -> None:
    """SPEC section 8: the routes of one message, truncation, chunks; the model fields and status."""
    one = document["paths"]["/api/v1/sessions/{session_id}/messages/{message_id}"]
    assert set(one) == {"get", "patch", "delete"}
    for method, operation in one.items():
        assert "404" in operation["responses"], method
        assert "409" in operation["responses"] or method == "get", method
        (message_id,) = [p for p in operation["parameters"] if p["name"] == "message_id"]
        assert message_id["in"] == "path" and message_id["required"], method
    assert one["patch"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageUpdate"
    }
    truncate = document["paths"]["/api/v1/sessions/{session_id}/messages"]["delete"]
    (after,) = [p for p in truncate["parameters"] if p["name"] == "after"]
    assert after["in"] == "query" and after["required"] and after["schema"]["pattern"]
    assert {"200", "404", "409", "422"} <= set(truncate["responses"])
    for deletion in (truncate, one["delete"]):
        schema = deletion["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/DeleteResult"}
    chunk = document["paths"][CHUNKS]["post"]
    assert {"200", "404", "409", "413", "422"} <= set(chunk["responses"])
    schemas = document["components"]["schemas"]
    assert set(schemas["ChunkCreate"]["properties"]) == {"index", "content"}
    assert schemas["DeleteResult"]["required"] == ["deleted"]
    for model in ("MessageCreate", "MessageUpdate"):  # what a request may send: validated, at most 128 chars
        properties = schemas[model]["properties"]
        for field in ("provider", "model"):
            (text,) = [option for option in properties[field]["anyOf"] if option != {"type": "null"}]
            assert text["maxLength"] == 128, (model, field)
    assert {"status", "provider", "model"} <= set(schemas["MessageCreate"]["properties"])
    assert {"status", "provider", "model"} <= set(schemas["Message"]["properties"])
    assert "message_id" in schemas["MessageCreate"]["properties"]
    statuses = json.dumps(schemas)
    assert all(status in statuses for status in ('"in_progress"', '"completed"', '"incomplete"'))


def test_errors_have_a_detail_body_and_no_500(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["detail"]
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            responses = operation["responses"]
            assert "500" not in responses, (method, path)
            for status, response in responses.items():
                if status.startswith("4") and status not in ("415", "422"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorDetail"}, (method, path, status)
            if "{session_id}" in path:
                assert "404" in responses, (method, path)


def test_document_is_json_serialisable_and_refs_resolve(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    schemas = document["components"]["schemas"]
    for name in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert name in schemas, name


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, ops in document["paths"].items() for method, operation in ops.items()]


def test_every_operation_has_one_known_tag_and_a_summary_of_its_own(document: dict[str, Any]) -> None:
    summaries = []
    for method, path, operation in operations(document):
        assert len(operation.get("tags", [])) == 1 and operation["tags"][0] in TAGS, (method, path)
        # Powertools' default summary is "GET /path": each route says what it does instead.
        assert operation["summary"] != f"{method.upper()} {path}", (method, path)
        summaries.append(operation["summary"])
    assert len(set(summaries)) == len(summaries)
    assert [tag["name"] for tag in document["tags"]] == list(TAGS)
    assert all(tag["description"] for tag in document["tags"])


def test_documented_error_statuses_are_the_error_tables(document: dict[str, Any]) -> None:
    """Every documented error response describes cases of session_service.http.ERROR_ANSWERS, each under the
    status the table answers it with (a status and its body shape cannot drift from the handler's)."""
    by_description = {answer.description: answer for answer in ERROR_ANSWERS.values()}
    assert len(by_description) == len(ERROR_ANSWERS), "two table entries share a description"
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/health/detailed", "503"):
                continue
            cases = [line.removeprefix("- ") for line in response["description"].splitlines()]
            assert all(case in by_description for case in cases), (method, path, status, cases)
            answers = [by_description[case] for case in cases]
            assert {answer.status for answer in answers} == {int(status)}, (method, path, status)
            schema = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            expected = "HTTPValidationError" if all(answer.listed for answer in answers) else "ErrorDetail"
            assert schema == expected, (method, path, status)
            retry = any(answer.retry_after for answer in answers)
            assert ("Retry-After" in response.get("headers", {})) == retry, (method, path, status)


def test_every_503_documents_retry_after(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if "503" in operation["responses"]:
            assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)


def test_handlers_agree_on_shared_components(document: dict[str, Any]) -> None:
    """OpenAPIMerge keeps the last definition of a component: no two handlers may define one differently."""
    merged = document["components"]["schemas"]
    for route in routes():
        for name, schema in handler_schema(route).get("components", {}).get("schemas", {}).items():
            if name != "ResponseValidationError":
                assert merged[name] == schema, (route.code_dir.name, name)


# -- what a client generator needs -----------------------------------------------------------

EXPECTED_OPERATION_IDS = {
    ("post", "/api/v1/sessions"): "create_session",
    ("post", "/api/v1/sessions/{session_id}/messages"): "append_message",
    ("post", "/api/v1/sessions/{session_id}/messages:batch"): "append_messages",
    ("post", CHUNKS): "append_chunk",
    ("get", "/api/v1/sessions/{session_id}/messages"): "list_messages",
    ("get", "/api/v1/users/{user_id}/sessions"): "list_sessions",
    ("get", "/api/v1/sessions/{session_id}"): "get_session",
    ("get", "/health"): "health",
}


def test_every_operation_has_a_readable_unique_operation_id(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in ids), ids
    by_route = {(method, path): operation["operationId"] for method, path, operation in operations(document)}
    assert {route: by_route[route] for route in EXPECTED_OPERATION_IDS} == EXPECTED_OPERATION_IDS


def _money_fields(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for model, schema in document["components"]["schemas"].items():
        for name, field in schema.get("properties", {}).items():
            if name in ("cost", "cost_usd", "total_cost"):
                found.append((model, name, field))
    return found


def test_money_is_a_decimal_number_everywhere(document: dict[str, Any]) -> None:
    """``format: decimal`` on a JSON number: datamodel-code-generator reads it as ``Decimal``, not ``float``."""
    fields = _money_fields(document)
    assert {model for model, _, _ in fields} >= {"Session", "Message", "MessageCreate", "Stats", "Usage", "ModelUsage"}
    for model, name, field in fields:
        options = [option for option in field.get("anyOf", [field]) if option != {"type": "null"}]
        assert options and all(o["type"] == "number" and o["format"] == "decimal" for o in options), (model, name)


def test_headers_are_declared_as_http_writes_them(document: dict[str, Any]) -> None:
    headers: dict[str, set[tuple[str, str]]] = {}
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header":
                headers.setdefault(parameter["name"], set()).add((method, path))
        for status, response in operation["responses"].items():
            for name in response.get("headers", {}):
                headers.setdefault(name, set()).add((method, path))
                if name == "Retry-After":
                    assert status in ("409", "429", "503"), (method, path, status)
    assert set(headers) == {"If-Match", "Idempotency-Key", "ETag", "Retry-After", "Next-Token"}
    creates = {(m, p) for m, p, op in operations(document) if m == "post" and "201" in op["responses"]}
    assert headers["Idempotency-Key"] == creates | {("post", POP), ("post", CLEAR)}
    session = "/api/v1/sessions/{session_id}"
    state, agent = f"{session}/state", f"{session}/agents/{{agent_id}}"  # state documents
    appends = {("post", f"{session}/messages"), ("post", f"{session}/messages:batch")}  # conditional
    appends |= {("patch", "/api/v1/users/{user_id}/state"), ("patch", "/api/v1/namespaces/{namespace}/state")}
    assert headers["If-Match"] == {("put", session), ("delete", session), ("patch", state), ("patch", agent)} | appends
    assert ("get", "/api/v1/sessions/{session_id}") in headers["ETag"]
    assert headers["Next-Token"] == {("get", "/api/v1/users/{user_id}/export")}


def test_the_export_is_typed_ndjson(document: dict[str, Any]) -> None:
    ok = document["paths"]["/api/v1/users/{user_id}/export"]["get"]["responses"]["200"]
    (media_type,) = ok["content"]
    assert media_type == "application/x-ndjson"
    assert ok["content"][media_type]["x-itemSchema"] == {"$ref": "#/components/schemas/ExportLine"}
    schemas = document["components"]["schemas"]
    line = schemas["ExportLine"]
    assert line["discriminator"]["propertyName"] == "type"
    assert set(line["discriminator"]["mapping"]) == {"session", "message", "memory", "user_state", "session_state"}
    for kind, target in line["discriminator"]["mapping"].items():
        (record, own) = schemas[target.rsplit("/", 1)[1]]["allOf"]
        assert record["$ref"].rsplit("/", 1)[1] in schemas
        assert own["properties"]["type"]["const"] == kind and own["required"] == ["type"]


def test_the_authorizer_is_a_security_scheme(document: dict[str, Any]) -> None:
    (name,) = document["components"]["securitySchemes"]
    scheme = document["components"]["securitySchemes"][name]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{name: []}, {}]  # the token where the authorizer is deployed, else none
    for method, path, operation in operations(document):
        assert ("security" in operation) == (not path.startswith("/api/")), (method, path)
        if "security" in operation:
            assert operation["security"] == [], (method, path)
