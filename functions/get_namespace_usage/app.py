"""GET /api/v1/namespaces/{namespace}/usage: a namespace's usage by user (a trusted caller)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from session_service import http
from session_service.errors import Forbidden, InvalidCursor, Unauthorized
from session_service.models import USER_ID_PATTERN, NamespaceUsageList
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/namespaces/<namespace>/usage",
    summary="A namespace's usage by user (a trusted group with the authorizer on)",
    tags=["users"],
    responses=http.responses_for(InvalidCursor, Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS),
)
def get_namespace_usage(
    namespace: Annotated[str, Path(pattern=USER_ID_PATTERN, max_length=128, description="The namespace")],
    page_size: http.PageSizeQuery = 50,
    next_token: http.NextTokenQuery = None,
) -> NamespaceUsageList:
    http.require_trusted_caller(app)
    return repository().get_namespace_usage(namespace, page_size=page_size, next_token=next_token)


lambda_handler = http.entry(app)
