"""The committed ``openapi.json`` is what the handlers generate, and it states the real contract."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devserver.openapi import OPENAPI_FILE, OPERATION_ERRORS, build_document, dumps
from devserver.template import routes
from session_service import __version__

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
    assert set(OPERATION_ERRORS) == {route.code_dir.name for route in routes()}, "stale or missing OPERATION_ERRORS"


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
