"""One OpenAPI document for the whole API, merged by Powertools' ``OpenAPIMerge`` from every handler's schema.

Each function under ``functions/`` owns one route, and its decorator states the route's whole contract:
``summary``, ``tags`` and ``responses`` (success statuses, ``ETag``, and the domain errors it can raise,
documented from the one error table, :data:`session_service.http.ERROR_ANSWERS`). This module imports
every handler ``template.yaml`` routes to, hands their schemas to ``OpenAPIMerge`` with the document's
info, server and tag descriptions, and then makes the result one a client generator can use:

* it removes what Powertools adds that the service never answers (:func:`_refine`);
* each operation gets the ``operationId`` of its handler (``functions/<op>``, renamed by
  :data:`OPERATION_IDS`), so a generated client says ``create_session``, not
  ``create_session_api_v1_sessions_post``;
* header parameters are named as HTTP writes them (``If-Match``, ``Idempotency-Key``);
* the export's NDJSON lines are typed (:data:`EXPORT_LINES`: one schema per ``type``, under
  ``x-itemSchema``, OpenAPI 3.2's ``itemSchema`` for sequential media types, as an extension of 3.1);
* the deployed authorizer is a ``securitySchemes`` entry (Swagger UI's Authorize button);
* request and response bodies carry examples (:mod:`devserver.openapi_examples`): requests that work when
  executed twice, responses that are real answers.

Money is declared where its type is (``session_service.models.Money``: ``format: decimal``, which
datamodel-code-generator reads as ``Decimal``). The result is committed as ``openapi.json``;
``tests/server/test_openapi.py`` fails when it drifts from the code.

    python -m devserver.openapi            # print the document
    python -m devserver.openapi --write    # rewrite openapi.json at the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from aws_lambda_powertools.event_handler.openapi import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import Server, Tag

from devserver.lambda_runtime import load_handler_module
from devserver.openapi_examples import add_examples
from devserver.template import ROOT, Route, routes

OPENAPI_FILE = ROOT / "openapi.json"
TITLE = "Session Service"
DESCRIPTION = (
    "Chat sessions for LLM applications: sessions, their messages and memory records, per-session token "
    "and cost accounting, statistics and summaries. Every error body is JSON with `detail`."
)
TAGS: dict[str, str] = {
    "sessions": "Create, read, change and end chat sessions; list a user's sessions",
    "messages": "A session's conversation: append messages (one or a batch), list them, read, change and delete "
    "one, delete those after one, and stream a reply in chunks",
    "memory": "Memory records kept with a session (preferences, entities, summaries...)",
    "agents": "State documents (the session's and each agent's, changed by key) and each agent's conversation, "
    "read and changed by position",
    "users": "A user's own data as a whole: usage by provider and model, export (NDJSON), erasure and its progress",
    "statistics": "Service-wide counts of sessions, messages, tokens and cost",
    "health": "Liveness and readiness checks",
}
"""Every operation carries one of these tags (its route decorator's ``tags=``); Swagger UI groups by them."""

_METHOD_ORDER = ("get", "put", "post", "delete", "patch", "head", "options")

OPERATION_IDS: dict[str, str] = {
    "add_message": "append_message",
    "add_messages_batch": "append_messages",
    "add_message_chunk": "append_chunk",
    "list_user_sessions": "list_sessions",
    "create_sessions_batch": "create_sessions",
    "delete_sessions_batch": "delete_sessions",
}
"""Where an operation's id differs from its handler's folder name (``functions/<name>``): the verb a client
method reads best with. Every other operation's id is its folder's name."""

HEADER_NAMES = {"if-match": "If-Match", "idempotency-key": "Idempotency-Key"}
"""Header parameters as HTTP writes them (Powertools documents the lower-case alias the resolver reads)."""

SECURITY_SCHEME = "cognito"
SECURITY_SCHEMES: dict[str, Any] = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito user pool ID token, sent as `Authorization: Bearer <token>`, when the stack is "
        "deployed with the authorizer (`AuthorizerEnabled=true`, on for prod): the caller is then the token's "
        "`sub`, and `/api/v1/sessions/stats` needs the admin group. Without the authorizer (local, dev) no token "
        "is needed and `user_id` names the caller.",
    }
}
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}, {}]
"""Every ``/api/v1`` route: the token where the authorizer is deployed, nothing where it is not. The health
checks never need one (``Authorizer: NONE`` in template.yaml)."""

EXPORT_TYPES = {
    "session": ("ExportedSession", "Session"),
    "message": ("ExportedMessage", "Message"),
    "memory": ("ExportedMemory", "Memory"),
    "user_state": ("ExportedUserState", "SharedStateDocument"),
    "session_state": ("ExportedSessionState", "StateDocument"),
}
"""A line of the export per ``type``: its component's name and the record as the API returns it, plus ``type``
(SPEC section 9): a session, a message, a memory record, a user's state document of a namespace, a session's or
an agent's state document."""
EXPORT_LINES = "ExportLine"


def _export_schemas() -> dict[str, Any]:
    """Components typing the export's NDJSON lines: ``ExportLine``, one of ``Exported<Record>`` by ``type``."""
    schemas: dict[str, Any] = {}
    for kind, (name, record) in EXPORT_TYPES.items():
        schemas[name] = {
            "title": name,
            "description": f"A line of the export: a {record} with `type` `{kind}`",
            "allOf": [
                {"$ref": f"#/components/schemas/{record}"},
                {
                    "type": "object",
                    "properties": {"type": {"type": "string", "const": kind, "title": "Type"}},
                    "required": ["type"],
                },
            ],
        }
    schemas[EXPORT_LINES] = {
        "title": EXPORT_LINES,
        "description": "One line of a user's export (NDJSON): a session, message, memory record, user's state "
        "document or session's (or agent's) state document, by `type`",
        "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name, _ in EXPORT_TYPES.values()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {kind: f"#/components/schemas/{name}" for kind, (name, _) in EXPORT_TYPES.items()},
        },
    }
    return schemas


def _version() -> str:
    from session_service import __version__

    return __version__


def handler_schema(route: Route) -> dict[str, Any]:
    """The OpenAPI document Powertools generates for the handler serving ``route`` (as plain JSON).

    Raises ``LookupError`` when the handler does not declare the route the template gives it.
    """
    app = load_handler_module(route.code_dir).app
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=TITLE, version=_version()))
    if route.method.lower() not in document.get("paths", {}).get(route.path, {}):
        raise LookupError(f"{route.code_dir.name} does not declare {route.method} {route.path}")
    return document


def _refine(operation: dict[str, Any]) -> None:
    """Remove from ``operation`` what Powertools documents but the service never answers."""
    responses: dict[str, Any] = operation["responses"]
    # Powertools documents the response-validation 500 (`response_validation_error_http_code`) on every
    # route: it would be our bug, not part of the contract.
    responses.pop("500", None)
    if not operation.get("parameters") and "requestBody" not in operation:
        responses.pop("422", None)  # Powertools documents validation on every route; here nothing to validate
    for parameter in operation.get("parameters", []):
        # An optional query or header parameter is absent, never null: drop pydantic's `anyOf [T, null]`.
        # (Declaring `str | SkipJsonSchema[None]` instead would lose the parameter's `pattern`.)
        schema = parameter.get("schema", {})
        options = schema.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
            (kept,) = [option for option in options if option != {"type": "null"}]
            del schema["anyOf"]
            parameter["schema"] = {**kept, **schema}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header":
            parameter["name"] = HEADER_NAMES.get(parameter["name"], parameter["name"])
    for response in responses.values():
        for media_type, media in response.get("content", {}).items():
            if media_type.endswith("ndjson"):  # a sequence of JSON texts: each is one of EXPORT_LINES
                media["x-itemSchema"] = {"$ref": f"#/components/schemas/{EXPORT_LINES}"}
    operation["responses"] = dict(sorted(responses.items()))


def build_document() -> dict[str, Any]:
    """The merged OpenAPI 3.1 document of every route in ``template.yaml``.

    Raises ``LookupError`` when a handler does not declare its template route, and Powertools'
    ``OpenAPIMergeError`` when two handlers declare the same path and method.
    """
    merge = OpenAPIMerge(
        title=TITLE,
        version=_version(),
        description=DESCRIPTION,
        servers=[Server(url="/", description="The API's base URL (the stage URL when deployed)")],
        tags=[Tag(name=name, description=description) for name, description in TAGS.items()],
        on_conflict="error",
    )
    # In path and method order, so that the merged paths come out in that order.
    ordered = sorted(routes(), key=lambda r: (r.path, _METHOD_ORDER.index(r.method.lower())))
    for route in ordered:
        merge.add_schema(handler_schema(route))
    document = merge.get_openapi_schema()
    for route in ordered:
        operation = document["paths"][route.path][route.method.lower()]
        operation["operationId"] = OPERATION_IDS.get(route.code_dir.name, route.code_dir.name)
        if not route.path.startswith("/api/"):
            operation["security"] = []
        _refine(operation)
    add_examples(document)
    schemas = document["components"]["schemas"]
    schemas.pop("ResponseValidationError", None)  # only the 500s removed above referred to it
    schemas.update(_export_schemas())
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = SECURITY
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
