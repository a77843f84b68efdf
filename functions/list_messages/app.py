"""GET /api/v1/sessions/{session_id}/messages: the session's messages, oldest first or newest first."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service.http import NextTokenQuery, PageQuery, SessionIdPath, UserIdQuery, caller, entry, make_resolver
from session_service.models import MessageList, MessageOrder
from session_service.wiring import repository

app = make_resolver()


@app.get("/api/v1/sessions/<session_id>/messages")
def list_messages(
    session_id: SessionIdPath,
    user_id: UserIdQuery = None,
    order: Annotated[
        MessageOrder, Query(description="asc: oldest first (default); desc: newest first")
    ] = MessageOrder.ASC,
    page: PageQuery = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 100,
    next_token: NextTokenQuery = None,
) -> MessageList:
    return repository().list_messages(
        session_id, caller(app, user_id), order=order, page=page, page_size=page_size, next_token=next_token
    )


lambda_handler = entry(app)
