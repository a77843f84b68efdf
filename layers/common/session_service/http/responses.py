"""Success responses: a session with its ETag, the export's NDJSON page, the health report, a create answered
at most once per ``Idempotency-Key``, and the Lambda entry point that wraps a resolver."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from session_service import errors
from session_service.data.guard import WriteGuard, guard_for
from session_service.http.answers import ERROR_ANSWERS, NDJSON_MEDIA_TYPE, NEXT_TOKEN_HEADER
from session_service.http.params import session_etag
from session_service.idempotency import run_once
from session_service.models import HealthDetailed, Session, SessionTag
from session_service.models.state import SharedStateDocument, StateDocument
from session_service.observability import log_request, logger, metric_dimensions, publish_metrics

_JSON = content_types.APPLICATION_JSON


def etag(session: Session | StateDocument | SharedStateDocument) -> str:
    """The strong ETag of a session or a state document (RFC 9110): a session's names its version and its
    incarnation (:func:`~session_service.http.params.session_etag`), a session's or an agent's document its
    version and the session's incarnation; a user's or a namespace's document (no incarnation) is its version
    alone, quoted."""
    if isinstance(session, Session):
        return session_etag(SessionTag(session.version, session.created_at))
    if isinstance(session, StateDocument) and session.incarnation is not None:
        return session_etag(SessionTag(session.version, session.incarnation))
    return f'"{session.version}"'


def _headers_of(body: BaseModel) -> dict[str, str]:
    # a session and a state document always travel with their ETag
    return {"ETag": etag(body)} if isinstance(body, Session | StateDocument | SharedStateDocument) else {}


def session_response(session: Session) -> Response[Session]:
    """200 with a session and its ``ETag``."""
    return Response(status_code=HTTPStatus.OK, content_type=_JSON, body=session, headers=_headers_of(session))


def state_response(document: StateDocument | SharedStateDocument, status: HTTPStatus = HTTPStatus.OK) -> Response[Any]:
    """``status`` (200) with a state document and its ``ETag``."""
    return Response(status_code=status, content_type=_JSON, body=document, headers=_headers_of(document))


def ndjson_response(lines: list[str], next_token: str | None) -> Response[str]:
    """200 with ``lines`` as NDJSON (each ends with a newline) and ``next_token`` in the ``Next-Token`` header
    (none on the last page)."""
    headers = {NEXT_TOKEN_HEADER: next_token} if next_token else None
    body = "".join(f"{line}\n" for line in lines)
    return Response(status_code=HTTPStatus.OK, content_type=NDJSON_MEDIA_TYPE, body=body, headers=headers)


def health_response(report: HealthDetailed) -> Response[HealthDetailed]:
    """200 when the table answered, else the same body with the 503 and ``Retry-After`` of
    :class:`~session_service.errors.StoreUnavailable`."""
    if report.database_connected:
        return Response(status_code=HTTPStatus.OK, content_type=_JSON, body=report)
    answer = ERROR_ANSWERS[errors.StoreUnavailable]
    return Response(status_code=answer.status, content_type=_JSON, body=report, headers=answer.headers)


def create_once(
    app: APIGatewayRestResolver,
    operation: str,
    caller: str,
    key: str | None,
    request: BaseModel | None,
    write: Callable[
        [WriteGuard | None], BaseModel | tuple[BaseModel, bool] | tuple[BaseModel, bool, SessionTag | None]
    ],
) -> Response[Any]:
    """Answer a POST create, at most once per ``Idempotency-Key`` ``key`` (:mod:`session_service.idempotency`).

    ``operation`` names the route and its target (``"add_message:<session_id>"``), ``caller`` the user the
    record belongs to, ``request`` the body a retry must repeat (``None``: a route without a body). ``write``
    performs the write, given the :class:`~session_service.data.guard.WriteGuard` that keeps a retry of an
    applied write from writing again (``None`` without a key), and returns what it created (201), or
    ``(model, created)`` when it may find the caller's existing one instead (200 when ``created`` is false), or
    ``(model, created, version)`` where the session's ETag after the write is known (an append's: its
    ``ETag``); a session travels with its ``ETag``. A retry with the same ``key`` and ``request`` replays the
    first answer without writing.
    Raises what :func:`~session_service.idempotency.run_once` raises.
    """

    payload = request.model_dump(mode="json") if request is not None else {}
    guard = guard_for(caller, operation, key, payload)

    def execute() -> dict[str, Any]:
        result = write(guard)
        body, created, version = _written(result)
        status = HTTPStatus.CREATED if created else HTTPStatus.OK
        headers = _headers_of(body) or ({"ETag": session_etag(version)} if version is not None else {})
        return {"status": status.value, "body": body.model_dump(mode="json"), "headers": headers}

    answer = run_once(
        operation=operation,
        caller=caller,
        key=key,
        payload=payload,
        produce=execute,
        lambda_context=app.lambda_context,
    )
    return Response(
        status_code=answer["status"], content_type=_JSON, body=answer["body"], headers=answer["headers"] or None
    )


def _written(
    result: BaseModel | tuple[BaseModel, bool] | tuple[BaseModel, bool, SessionTag | None],
) -> tuple[BaseModel, bool, SessionTag | None]:
    """A ``write``'s result of :func:`create_once` as ``(model, created, version)``."""
    if not isinstance(result, tuple):
        return result, True, None
    if len(result) == 2:
        return result[0], result[1], None
    return result[0], result[1], result[2]


def entry(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for ``app``: structured logs with the API Gateway request id as correlation
    id, one line per request (:func:`~session_service.observability.log_request`), and the metrics the
    invocation recorded published after it with its stage as a dimension (see
    :func:`session_service.observability.publish_metrics`)."""

    @publish_metrics
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        metric_dimensions(event)
        status = HTTPStatus.INTERNAL_SERVER_ERROR.value  # what API Gateway answers if resolve raised
        try:
            response = app.resolve(event, context)
            status = int(response.get("statusCode", status))
            return response
        finally:
            log_request(event, status, started)

    return lambda_handler
