"""GET /api/v1/sessions/{session_id}/context: the summary and the newest messages that fit a budget."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.models import (
    DEFAULT_CONTEXT_MESSAGES,
    DEFAULT_CONTEXT_TOKENS,
    MAX_CONTEXT_MESSAGES,
    MAX_CONTEXT_TOKENS,
    Context,
)
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/context",
    summary="Get what an LLM call needs: the summary and the newest messages that fit a token budget",
    tags=["messages"],
    responses=http.responses_for(*http.SESSION_ERRORS),
)
def get_context(
    session_id: http.SessionIdPath,
    user_id: http.UserIdQuery = None,
    max_tokens: Annotated[
        int, Query(ge=0, le=MAX_CONTEXT_TOKENS, description="Token budget: the sum of the messages' tokens_used")
    ] = DEFAULT_CONTEXT_TOKENS,
    max_messages: Annotated[
        int, Query(ge=1, le=MAX_CONTEXT_MESSAGES, description="At most this many messages")
    ] = DEFAULT_CONTEXT_MESSAGES,
) -> Context:
    owner = http.caller(app, user_id)
    return repository().get_context(session_id, owner, max_tokens=max_tokens, max_messages=max_messages)


lambda_handler = http.entry(app)
