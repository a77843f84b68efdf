"""POST /api/v1/sessions:batchDelete: delete up to 25 of the caller's sessions for good, all or nothing."""

from aws_lambda_powertools.metrics import MetricUnit

from session_service import http
from session_service.models import SessionBatchDelete, SessionBatchDeleteResult
from session_service.observability import metrics
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions:batchDelete",
    summary="Delete up to 25 of the caller's sessions for good in one transaction: all or none (404 names none)",
    tags=["sessions"],
    responses=http.responses_for(*http.BODY_ERRORS, *http.SESSION_ERRORS),
)
def delete_sessions_batch(body: SessionBatchDelete, user_id: http.UserIdQuery = None) -> SessionBatchDeleteResult:
    deleted = repository().delete_sessions(http.caller(app, user_id), body.session_ids)
    metrics.add_metric(name="SessionsDeleted", unit=MetricUnit.Count, value=deleted)
    return SessionBatchDeleteResult(deleted=deleted)


lambda_handler = http.entry(app)
