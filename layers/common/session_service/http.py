"""HTTP wiring shared by every handler: the resolver factory, typed parameters, and the one error mapping.

A handler module does ``app = make_resolver()``, declares its one route with the typed parameters below,
calls one layer function, and exports ``lambda_handler = entry(app)``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    OpenAPIResponseValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from session_service.errors import SessionNotFound, SessionServiceError
from session_service.identity import resolve_caller
from session_service.models import EXACT_NUMBERS, SESSION_ID_PATTERN, USER_ID_PATTERN, Session, load_json
from session_service.observability import logger, metrics
from session_service.wiring import settings


class IdPath(Path):  # type: ignore[misc]  # Powertools' Param classes are untyped
    """A path parameter naming a resource: a value that is not a valid id answers as a missing resource.

    SPEC section 4: a path ``session_id`` or ``message_id`` that is not a valid id answers 404 like a
    missing one (so the id's format tells a caller nothing more than a lookup would). ``not_found``
    builds the domain error to raise; the request validation below raises it before anything else runs.
    """

    def __init__(self, *, not_found: Callable[[], Exception], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.not_found = not_found


SessionIdPath = Annotated[
    str, IdPath(not_found=SessionNotFound, pattern=SESSION_ID_PATTERN, max_length=200, description="Session id")
]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, max_length=128, description="User id")]
UserIdQuery = Annotated[
    str | None,
    Query(pattern=USER_ID_PATTERN, max_length=128, description="The caller; optional with the authorizer"),
]
PageQuery = Annotated[int, Query(ge=1, le=10_000, description="Page number, from 1")]
NextTokenQuery = Annotated[
    str | None, Query(max_length=2048, description="Opaque cursor from the previous page's next_token")
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=255,
        description="Makes a retried create safe: the same key and body return the first response",
    ),
]
IfMatchHeader = Annotated[
    str | None, Header(alias="if-match", max_length=64, description="The session's ETag, for a conditional write")
]


JSON_MEDIA_TYPE = "application/json"


class _StrictRequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, stricter where the API needs it (SPEC section 4).

    * A query parameter the route does not declare is 422 (:func:`_refuse_unknown_query_parameters`).
    * An :class:`IdPath` parameter that is not a valid id answers as a missing resource (404).
    * The body is JSON (``application/json``, any case, any parameters; else 415), read by
      :func:`~session_service.models.load_json`: a duplicate key, ``NaN``, an integer beyond 4,300 digits or
      nesting deeper than the interpreter's stack is 422, never a 500 (Powertools catches only
      ``JSONDecodeError``), and decimals stay exact.
    * The body is a JSON object: Powertools would validate the first element of a JSON array against the
      body model (it unwraps lists for non-list fields), so ``[{...}, {...}]`` would create one thing and
      ignore the rest.
    """

    def handler(self, app: Any, next_middleware: Any) -> Any:
        route = app.context["_route"]
        _refuse_unknown_query_parameters(route, app.current_event.resolved_query_string_parameters or {})
        _raise_not_found_for_invalid_ids(route, app.context.get("_route_args") or {})
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type") or ""
        media_type = content_type.split(";", 1)[0].strip().lower()  # RFC 9110 8.3.1: case-insensitive
        if media_type not in ("", JSON_MEDIA_TYPE):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("header", "content-type"),
                        "msg": f"Unsupported content type: {content_type[:100]}; send {JSON_MEDIA_TYPE}",
                    }
                ],
            )
        return self._parse_json_data(app)

    def _parse_json_data(self, app: Any) -> dict[str, Any]:
        try:
            text = app.current_event.decoded_body
            body = load_json(text) if text else None
        except UnicodeDecodeError as exc:
            raise _body_error("json_invalid", "Body is not UTF-8 JSON") from exc
        except RecursionError as exc:
            raise _body_error("json_invalid", "JSON nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, a duplicate key, NaN, an integer over 4,300 digits
            raise _body_error("json_invalid", f"Invalid JSON: {str(exc)[:200]}") from exc
        if not isinstance(body, dict):
            raise _body_error("model_attributes_type", "Input should be a JSON object")
        return body


def _body_error(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message, "input": {}}])


def _refuse_unknown_query_parameters(route: Any, received: dict[str, Any]) -> None:
    """Raise a 422 ``RequestValidationError`` naming each query parameter ``route`` does not declare.

    The declared names come from the route's own signature (a pydantic model parameter declares its
    fields), so a parameter added to a handler is accepted without touching this function.
    """
    declared: set[str] = set()
    for field in route.dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            declared.update(info.alias or name for name, info in annotation.model_fields.items())
        else:
            declared.add(field.alias)
    unknown = sorted(set(received) - declared)
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter", "input": {}}
                for name in unknown
            ]
        )


def _raise_not_found_for_invalid_ids(route: Any, path_values: dict[str, Any]) -> None:
    """Raise the ``not_found`` error of the first :class:`IdPath` parameter whose value is not a valid id."""
    for field in route.dependant.path_params:
        info = field.field_info
        if isinstance(info, IdPath):
            _, errors = field.validate(path_values.get(field.alias), loc=("path", field.alias))
            if errors:
                raise info.not_found()


class _ExactNumbersResponse(OpenAPIResponseValidationMiddleware):
    """Powertools' response validation, writing money with all of its digits as a JSON number.

    A double holds 15-17 significant digits; a cost has up to 12 decimals below 10^6 and a total more
    (SPEC section 3). :data:`~session_service.models.Money` serialises a value that a double cannot hold
    as ``{<nonce>: "<digits>"}`` when the serialization context carries this response's random nonce; the
    JSON text is then written here with each such marker replaced by the bare digits. The nonce is fresh
    per response, so no client text can forge a marker.
    """

    def _serialize_response_with_validation(self, *, field: Any, response_content: Any, **options: Any) -> Any:
        nonce = secrets.token_hex(16)
        marking: Any = _ContextField(field, {EXACT_NUMBERS: nonce})
        body = super()._serialize_response_with_validation(field=marking, response_content=response_content, **options)
        text = json.dumps(body, separators=(",", ":"))
        return re.sub(r'\{"' + nonce + r'":"(-?[0-9.]+)"\}', r"\1", text) if nonce in text else text


class _ContextField:
    """A Powertools ``ModelField`` (3.37) whose ``serialize`` passes a pydantic serialization context."""

    def __init__(self, field: Any, context: dict[str, Any]) -> None:
        self._field, self._context = field, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._field, name)

    def serialize(self, value: Any, *, mode: str = "json", **options: Any) -> Any:
        return self._field._type_adapter.dump_python(value, mode=mode, context=self._context, **options)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _count_error(name: str) -> None:
    metrics.add_metric(name=f"Error.{name}", unit=MetricUnit.Count, value=1)


def make_resolver() -> APIGatewayRestResolver:
    """A REST API resolver with request validation and the service's error mapping.

    Mapping, by exception type: :class:`SessionServiceError` subclasses answer their own status with
    ``{"detail": ...}``; request validation answers 422 with ``detail`` a list of ``{type, loc, msg}``;
    an unknown route 404; anything unexpected is logged and answers 500 (a bug of ours, never input).
    A response that breaks its own model is also a 500 (``response_validation_error_http_code``).
    """
    app = APIGatewayRestResolver(
        enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )
    app._request_validation_middleware = _StrictRequestValidation()  # type: ignore[no-untyped-call]
    app._response_validation_middleware = _ExactNumbersResponse(
        has_response_validation_error=app._has_response_validation_error
    )

    @app.exception_handler(SessionServiceError)
    def domain_error(exc: SessionServiceError) -> Response[Any]:
        _count_error(type(exc).__name__)
        if exc.status_code >= 500:
            logger.warning("Request failed", extra={"error": type(exc).__name__, "status": exc.status_code})
        return _json(exc.status_code, {"detail": exc.detail}, exc.headers)

    @app.exception_handler(RequestValidationError)
    def validation_error(exc: RequestValidationError) -> Response[Any]:
        _count_error("Validation")
        detail = [
            {"type": e.get("type", "value_error"), "loc": list(e.get("loc", ())), "msg": e.get("msg", "Invalid value")}
            for e in exc.errors()
        ]
        return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": detail})

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[Any]:
        _count_error("UnsupportedMediaType")
        detail = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return _json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"detail": detail})

    @app.exception_handler(NotFoundError)
    def unknown_route(exc: NotFoundError) -> Response[Any]:
        return _json(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[Any]:
        _count_error("Unhandled")
        logger.exception("Unhandled error")
        return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal server error"})

    return app


def caller(app: APIGatewayRestResolver, claimed: str | None, location: tuple[str, ...] = ("query", "user_id")) -> str:
    """The caller of the current request (see :func:`session_service.identity.resolve_caller`)."""
    return resolve_caller(
        app.current_event.raw_event, claimed, authorizer_enabled=settings().authorizer_enabled, location=location
    )


def etag(session: Session) -> str:
    """The session's strong ETag: its version, quoted (RFC 9110)."""
    return f'"{session.version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names; ``None`` when absent or ``*``.

    ``If-Match`` uses the strong comparison (RFC 9110 13.1.1): a weak tag (``W/"3"``) never matches, nor
    does anything that is not one of our quoted ETags (an unquoted number, a list); those yield ``-1``, a
    version no session has, so the write answers 412.
    """
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    inner = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else ""
    return int(inner) if inner.isascii() and inner.isdigit() and len(inner) < 19 else -1


def session_response(session: Session, status: int = HTTPStatus.OK) -> Response[Session]:
    """A response carrying a session and its ``ETag``."""
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=session, headers={"ETag": etag(session)}
    )


def once(
    app: APIGatewayRestResolver,
    *,
    operation: str,
    caller: str,
    key: str | None,
    request: BaseModel,
    produce: Callable[[], tuple[int, BaseModel, dict[str, str]]],
) -> Response[Any]:
    """Answer a create at most once per ``Idempotency-Key`` (see :mod:`session_service.idempotency`).

    ``produce`` performs the write and returns ``(status, body, headers)``; a retry with the same key and
    body replays them without writing. Raises what :func:`~session_service.idempotency.run_once` raises.
    """
    from session_service.idempotency import run_once

    def execute() -> dict[str, Any]:
        status, body, headers = produce()
        return {"status": int(status), "body": body.model_dump(mode="json"), "headers": headers}

    result = run_once(
        operation=operation,
        caller=caller,
        key=key,
        payload=request.model_dump(mode="json"),
        produce=execute,
        lambda_context=app.lambda_context,
    )
    return Response(
        status_code=result["status"],
        content_type=content_types.APPLICATION_JSON,
        body=result["body"],
        headers=result["headers"] or None,
    )


def entry(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for ``app``: structured logs with the API Gateway request id as correlation
    id, and metrics flushed after every invocation."""

    @metrics.log_metrics
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler
