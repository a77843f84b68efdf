"""GET /api/v1/sessions/{session_id}/messages: the session's messages, oldest first or newest first."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import InvalidCursor
from session_service.models import MessageList, MessageOrder
from session_service.models.types import MAX_MESSAGE_TIMESTAMP
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/messages",
    summary="List a session's messages, oldest or newest first, by page or by next_token, or from a client timestamp",
    tags=["messages"],
    responses=http.responses_for(InvalidCursor, *http.SESSION_ERRORS),
)
def list_messages(
    session_id: http.SessionIdPath,
    user_id: http.UserIdQuery = None,
    order: Annotated[MessageOrder, Query(description="asc: oldest first (default); desc: newest first")] = (
        MessageOrder.ASC
    ),
    page: http.PageQuery = 1,
    page_size: http.PageSizeQuery = 100,
    next_token: http.NextTokenQuery = None,
    from_timestamp: Annotated[
        float | None,
        Query(
            ge=0,
            lt=MAX_MESSAGE_TIMESTAMP,
            description="Only the messages whose client timestamp (epoch seconds) is at or after this, by timestamp"
            " (messages without one, and agents' messages, are not listed); its cost does not grow with the"
            " messages before it",
        ),
    ] = None,
) -> MessageList:
    owner = http.caller(app, user_id)
    return repository().list_messages(
        session_id,
        owner,
        order=order,
        page=page,
        page_size=page_size,
        next_token=next_token,
        from_timestamp=from_timestamp,
    )


lambda_handler = http.entry(app)
