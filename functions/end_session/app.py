"""DELETE /api/v1/sessions/{session_id}: end the session (status ``ended``, read-only), or with
``permanent=true`` delete it for good (SPEC section 9). API Gateway routes by method and path, so both are
this one function."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.metrics import MetricUnit

from session_service import http
from session_service.errors import InvalidStatusTransition, PreconditionFailed
from session_service.models import EndSessionResult, SessionDeletedResult
from session_service.observability import metrics
from session_service.wiring import repository

app = http.make_resolver()

Permanent = Annotated[
    bool,
    Query(
        description="true: delete the session, its messages and memory records for good (gone for every reader"
        " at once; its items leave the table in the background). false (default): end it"
    ),
]


@app.delete(
    "/api/v1/sessions/<session_id>",
    summary="End a session (read-only from then on), or with permanent=true delete it for good",
    tags=["sessions"],
    responses=http.responses_for(InvalidStatusTransition, PreconditionFailed, *http.SESSION_ERRORS),
)
def end_session(
    session_id: http.SessionIdPath,
    user_id: http.UserIdQuery = None,
    if_match: http.IfMatch = None,
    permanent: Permanent = False,
) -> EndSessionResult | SessionDeletedResult:
    caller, version = http.caller(app, user_id), http.parse_session_if_match(if_match)
    if permanent:
        repository().delete_session(session_id, caller, if_match=version)
        metrics.add_metric(name="SessionsDeleted", unit=MetricUnit.Count, value=1)
        return SessionDeletedResult()
    repository().end_session(session_id, caller, if_match=version)
    metrics.add_metric(name="SessionsEnded", unit=MetricUnit.Count, value=1)
    return EndSessionResult()


lambda_handler = http.entry(app)
