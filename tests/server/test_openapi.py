"""The committed ``openapi.json`` is what the handlers generate, and it states the real contract."""

from __future__ import annotations

import json
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


def test_creates_answer_201_and_create_session_also_200(document: dict[str, Any]) -> None:
    for path, ops in document["paths"].items():
        if "post" in ops:
            assert "201" in ops["post"]["responses"], path
    create = document["paths"]["/api/v1/sessions"]["post"]["responses"]
    assert create["200"]["content"] == create["201"]["content"]


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
