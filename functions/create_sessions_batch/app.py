"""POST /api/v1/sessions:batch: create up to 25 sessions of the caller, all or nothing."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from session_service import http
from session_service.data.guard import WriteGuard
from session_service.errors import SessionIdTaken
from session_service.models import SessionBatchCreate, SessionBatchResult
from session_service.observability import metrics
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions:batch",
    summary="Create up to 25 sessions of the caller in one transaction: all or none (an id in use: 409)",
    tags=["sessions"],
    responses=http.create_responses(SessionIdTaken, *http.PARAMETER_ERRORS, *http.CALLER_ERRORS),
)
def create_sessions_batch(
    body: SessionBatchCreate, user_id: http.UserIdQuery = None, key: http.IdempotencyKey = None
) -> Response[SessionBatchResult]:
    owner = http.caller(app, user_id)
    for index, request in enumerate(body.sessions):  # each body names its user: the caller
        location = ("body", "sessions", str(index), "user_id")
        if http.caller(app, request.user_id, location) != owner:
            raise http.invalid_body(location, "Every session of a batch is the caller's (query user_id)")

    def write(guard: WriteGuard | None) -> SessionBatchResult:
        sessions = repository().create_sessions(owner, body.sessions, guard)
        metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=len(sessions))
        return SessionBatchResult(sessions=sessions)

    return http.create_once(app, "create_sessions_batch", owner, key, body, write)


lambda_handler = http.entry(app)
