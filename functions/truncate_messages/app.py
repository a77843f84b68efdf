"""DELETE /api/v1/sessions/{session_id}/messages?after={message_id}: delete every message after one (regenerate)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import DeletionsPending, MessageNotFound, SessionNotActive
from session_service.models import ITEM_ID_PATTERN, DeleteResult
from session_service.wiring import repository

app = http.make_resolver()


@app.delete(
    "/api/v1/sessions/<session_id>/messages",
    summary="Delete every message after one (to regenerate a reply); the counters drop by exactly what went",
    tags=["messages"],
    responses=http.responses_for(MessageNotFound, SessionNotActive, DeletionsPending, *http.SESSION_ERRORS),
)
def truncate_messages(
    session_id: http.SessionIdPath,
    after: Annotated[
        str,
        Query(
            pattern=ITEM_ID_PATTERN,
            max_length=36,
            description="The id (a UUID) of the last message to keep; a malformed one is 422, an unknown one 404",
        ),
    ],
    user_id: http.UserIdQuery = None,
) -> DeleteResult:
    deleted = repository().truncate_after(session_id, http.caller(app, user_id), after)
    return DeleteResult(deleted=deleted)


lambda_handler = http.entry(app)
