"""One OpenAPI document for the whole API, merged from every handler's Powertools schema.

Each function under ``functions/`` owns one route and its models; Powertools generates a schema per
resolver. This module imports every handler ``template.yaml`` routes to, merges their paths and
components, and states what Powertools cannot see from a signature: the status codes the service
really answers (201 for creates, the domain errors with their ``{"detail": ...}`` body, ``ETag`` and
``Retry-After`` headers). The result is committed as ``openapi.json``; ``tests/test_openapi.py`` fails
when it drifts from the code.

    python -m devserver.openapi            # print the document
    python -m devserver.openapi --write    # rewrite openapi.json at the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from devserver.lambda_runtime import load_handler_module
from devserver.template import ROOT, Route, routes

OPENAPI_FILE = ROOT / "openapi.json"
TITLE = "Session Service"
DESCRIPTION = (
    "Chat sessions for LLM applications: sessions, their messages and memory records, per-session token "
    "and cost accounting, statistics and summaries. Every error body is JSON with `detail`."
)

_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid `next_token`: tampered with, or issued for another caller or listing",
    401: "Not authenticated (only with the authorizer on)",
    403: "`user_id` differs from the verified caller, or the caller lacks the admin group (authorizer on)",
    404: "Session not found: missing, another user's, or expired",
    409: "Conflict: illegal status transition, session not active or read-only, id taken, or a retry in flight",
    412: "`If-Match` does not name the session's current ETag",
    413: "Request too large for one transaction",
    415: "The body is not `application/json`",
    503: "DynamoDB is unreachable or throttling; retry after `Retry-After` seconds",
}

# The domain errors each operation can answer (session_service.errors), by function folder. 404 is added
# for every route with a path parameter (an unmatchable one is a 404 too). A new operation must be listed.
_AUTH = (401, 403)
OPERATION_ERRORS: dict[str, tuple[int, ...]] = {
    "health": (),
    "health_detailed": (),
    "create_session": (*_AUTH, 409, 503),
    "get_session": (*_AUTH, 404, 503),
    "update_session": (*_AUTH, 404, 409, 412, 503),
    "end_session": (*_AUTH, 404, 409, 412, 503),
    "get_session_summary": (*_AUTH, 404, 503),
    "list_user_sessions": (400, *_AUTH, 503),
    "add_message": (*_AUTH, 404, 409, 503),
    "add_messages_batch": (*_AUTH, 404, 409, 413, 503),
    "list_messages": (400, *_AUTH, 404, 503),
    "get_context": (*_AUTH, 404, 503),
    "add_memory": (*_AUTH, 404, 409, 503),
    "list_memories": (400, *_AUTH, 404, 503),
    "get_stats": (*_AUTH, 503),
}

ERROR_SCHEMA = {
    "type": "object",
    "title": "ErrorDetail",
    "description": "Every non-validation error: a human-readable `detail`.",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}

_METHOD_ORDER = ("get", "put", "post", "delete", "patch", "head", "options")


class OpenAPIMergeError(RuntimeError):
    """Two handlers define the same path and method, or the same component differently."""


def _version() -> str:
    from session_service import __version__

    return __version__


def handler_schema(route: Route) -> dict[str, Any]:
    """The OpenAPI document Powertools generates for the handler serving ``route`` (as plain JSON)."""
    app = load_handler_module(route.code_dir).app
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=TITLE, version=_version()))
    return document


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(status: int, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": _ref("ErrorDetail")}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    return response


def _refine(route: Route, operation: dict[str, Any]) -> None:
    """Make ``operation``'s responses the ones the service really gives (see the module docstring)."""
    name = route.code_dir.name
    if name not in OPERATION_ERRORS:
        raise OpenAPIMergeError(f"{name}: list its error statuses in devserver.openapi.OPERATION_ERRORS")
    responses: dict[str, Any] = operation["responses"]
    # Our validation and domain errors are never 500; a response-validation 500 is a bug, not the contract.
    responses.pop("500", None)
    success = responses.pop("200")
    if name == "create_session":
        existing = json.loads(json.dumps(success))
        existing["description"] = "The caller's session of that `session_id` already existed: returned unchanged"
        responses["200"] = existing
        success["description"] = "Created"
        responses["201"] = success
    elif route.method == "POST":
        success["description"] = "Created"
        responses["201"] = success
    else:
        responses["200"] = success
    for response in (responses.get("200"), responses.get("201")):
        schema = ((response or {}).get("content") or {}).get("application/json", {}).get("schema")
        if response is not None and schema == _ref("Session"):
            response["headers"] = {
                "ETag": {"description": "The session's version, for `If-Match`", "schema": {"type": "string"}}
            }
    errors = set(OPERATION_ERRORS[name])
    if "{" in route.path:
        errors.add(404)
    for status in sorted(errors):
        responses[str(status)] = _error_response(status, retry_after=status == 503)
    if name == "health_detailed":
        degraded = json.loads(json.dumps(responses["200"]))
        degraded["description"] = "Degraded: the table does not answer (`status: degraded`)"
        responses["503"] = degraded
    for parameter in operation.get("parameters", []):
        # An optional query or header parameter is absent, never null: drop Powertools' `anyOf [T, null]`.
        schema = parameter.get("schema", {})
        options = schema.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
            (kept,) = [option for option in options if option != {"type": "null"}]
            del schema["anyOf"]
            parameter["schema"] = {**kept, **schema}
    if "requestBody" in operation:
        # Mapped like validation (session_service.http): `detail` is a list of {type, loc, msg}.
        responses["415"] = {
            "description": _ERROR_DESCRIPTIONS[415],
            "content": {"application/json": {"schema": _ref("HTTPValidationError")}},
        }
    if not operation.get("parameters") and "requestBody" not in operation:
        responses.pop("422", None)  # nothing to validate
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
    if "422" in responses and "idempotency-key" in headers:
        # A reused Idempotency-Key with a different body is a 422 whose detail is a sentence.
        responses["422"]["content"]["application/json"]["schema"] = {
            "anyOf": [_ref("HTTPValidationError"), _ref("ErrorDetail")]
        }
    operation["responses"] = {k: responses[k] for k in sorted(responses)}


def _merge_component(kind: str, name: str, value: Any, target: dict[str, Any]) -> None:
    existing = target.setdefault(kind, {}).get(name)
    if existing is not None and existing != value:
        raise OpenAPIMergeError(f"components.{kind}.{name} differs between handlers")
    target[kind][name] = value


def _referenced(document: Any) -> set[str]:
    """Names of the component schemas ``document`` refers to, transitively."""
    schemas = document.get("components", {}).get("schemas", {})
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    walk(schemas.get(name))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document.get("paths", {}))
    return found


def build_document() -> dict[str, Any]:
    """The merged OpenAPI 3.1 document of every route in ``template.yaml``.

    Raises :class:`OpenAPIMergeError` on conflicting definitions or an operation missing from
    :data:`OPERATION_ERRORS`, and ``LookupError`` when a handler does not declare its template route.
    """
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"schemas": {"ErrorDetail": ERROR_SCHEMA}}
    openapi_version = "3.1.0"
    for route in routes():
        schema = handler_schema(route)
        openapi_version = schema.get("openapi", openapi_version)
        method = route.method.lower()
        operation = (schema.get("paths", {}).get(route.path) or {}).get(method)
        if operation is None:
            raise LookupError(f"{route.code_dir.name} does not declare {route.method} {route.path}")
        if method in paths.get(route.path, {}):
            raise OpenAPIMergeError(f"{route.method} {route.path} is declared twice")
        _refine(route, operation)
        paths.setdefault(route.path, {})[method] = operation
        for kind, values in (schema.get("components") or {}).items():
            for name, value in values.items():
                _merge_component(kind, name, value, components)
    document: dict[str, Any] = {
        "openapi": openapi_version,
        "info": {"title": TITLE, "version": _version(), "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "The API's base URL (the stage URL when deployed)"}],
        "paths": {path: {m: paths[path][m] for m in _METHOD_ORDER if m in paths[path]} for path in sorted(paths)},
    }
    document["components"] = components
    used = _referenced(document)
    components["schemas"] = {k: v for k, v in sorted(components["schemas"].items()) if k in used}
    for kind in sorted(components):
        if kind != "schemas":
            components[kind] = dict(sorted(components[kind].items()))
    return document


def dumps(document: dict[str, Any]) -> str:
    """The document as committed: 2-space indented JSON, UTF-8 text, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the document, or with ``--write`` rewrite ``openapi.json``. Returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devserver.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {OPENAPI_FILE.name} instead of printing")
    args = parser.parse_args(argv)
    # Importing the handlers reads no environment, but give the settings what they need if one ever does.
    os.environ.setdefault("TABLE_NAME", "openapi")
    os.environ.setdefault("CURSOR_SECRET", "openapi-generation-only")
    text = dumps(build_document())
    if args.write:
        OPENAPI_FILE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
