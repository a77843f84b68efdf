"""DELETE /api/v1/sessions/{session_id}: end the session (status ``ended``, read-only)."""

from aws_lambda_powertools.metrics import MetricUnit

from session_service.http import IfMatchHeader, SessionIdPath, UserIdQuery, caller, entry, make_resolver, parse_if_match
from session_service.models import EndSessionResult
from session_service.observability import metrics
from session_service.wiring import repository

app = make_resolver()


@app.delete("/api/v1/sessions/<session_id>")
def end_session(
    session_id: SessionIdPath, user_id: UserIdQuery = None, if_match: IfMatchHeader = None
) -> EndSessionResult:
    repository().end_session(session_id, caller(app, user_id), if_match=parse_if_match(if_match))
    metrics.add_metric(name="SessionsEnded", unit=MetricUnit.Count, value=1)
    return EndSessionResult()


lambda_handler = entry(app)
