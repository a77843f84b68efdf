"""POST /api/v1/sessions: 201 with a new session (with its state in every scope, written in its transaction);
200 with the caller's existing one of that id."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from session_service import http
from session_service.data.guard import WriteGuard
from session_service.errors import Forbidden, PayloadTooLarge, SessionIdTaken
from session_service.models import Session, SessionCreate
from session_service.observability import metrics
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions",
    summary="Create a session, or return the caller's own session of that id",
    tags=["sessions"],
    responses=http.create_responses(
        SessionIdTaken, PayloadTooLarge, Forbidden, *http.CALLER_ERRORS, success=http.SESSION_CREATED
    ),
)
def create_session(
    body: SessionCreate, key: http.IdempotencyKey = None, include: http.IncludeQuery = None
) -> Response[Session]:
    user_id = http.caller(app, body.user_id, ("body", "user_id"))
    if body.namespace_state is not None:  # a namespace's shared state: a trusted caller's only
        http.require_trusted_caller(app)

    def write(guard: WriteGuard | None) -> tuple[Session, bool]:
        session, created = repository().create_session(user_id, body, guard, include_state=include == "state")
        if created:
            metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=1)
        return session, created

    return http.create_once(app, "create_session", user_id, key, body, write)


lambda_handler = http.entry(app)
