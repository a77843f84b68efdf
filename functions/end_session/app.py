"""DELETE /api/v1/sessions/{session_id}: end the session (status ``ended``, read-only)."""

from aws_lambda_powertools.metrics import MetricUnit

from session_service import http
from session_service.errors import InvalidStatusTransition, PreconditionFailed
from session_service.models import EndSessionResult
from session_service.observability import metrics
from session_service.wiring import repository

app = http.make_resolver()


@app.delete(
    "/api/v1/sessions/<session_id>",
    summary="End a session: it becomes read-only (ending an ended session changes nothing)",
    tags=["sessions"],
    responses=http.responses_for(InvalidStatusTransition, PreconditionFailed, *http.SESSION_ERRORS),
)
def end_session(
    session_id: http.SessionIdPath, user_id: http.UserIdQuery = None, if_match: http.IfMatch = None
) -> EndSessionResult:
    repository().end_session(session_id, http.caller(app, user_id), if_match=http.parse_if_match(if_match))
    metrics.add_metric(name="SessionsEnded", unit=MetricUnit.Count, value=1)
    return EndSessionResult()


lambda_handler = http.entry(app)
