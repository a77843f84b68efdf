"""POST /api/v1/sessions: 201 with a new session; 200 with the caller's existing one of that id."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from session_service.http import IdempotencyKeyHeader, caller, entry, etag, make_resolver, once
from session_service.models import Session, SessionCreate
from session_service.observability import metrics
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions", responses={201: {"description": "Created"}, 200: {"description": "Already existed"}})
def create_session(body: SessionCreate, idempotency_key: IdempotencyKeyHeader = None) -> Response[Session]:
    user_id = caller(app, body.user_id, ("body", "user_id"))

    def produce() -> tuple[int, Session, dict[str, Any]]:
        session, created = repository().create_session(user_id, body)
        if created:
            metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=1)
        return (HTTPStatus.CREATED if created else HTTPStatus.OK), session, {"ETag": etag(session)}

    return once(app, operation="create_session", caller=user_id, key=idempotency_key, request=body, produce=produce)


lambda_handler = entry(app)
