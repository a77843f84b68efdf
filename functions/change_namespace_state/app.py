"""PATCH /api/v1/namespaces/{namespace}/state: set and remove keys of a namespace's state document (a trusted
caller only: a user cannot change the state every user of a namespace shares)."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import Forbidden, PayloadTooLarge, PreconditionFailed, Unauthorized
from session_service.models.state import SharedStateDocument, StateChange
from session_service.wiring import repository

app = http.make_resolver()


@app.patch(
    "/api/v1/namespaces/<namespace>/state",
    summary="Set and remove keys of a namespace's state document, atomically (a trusted group; If-Match)",
    tags=["agents"],
    responses=http.responses_for(
        PayloadTooLarge,
        PreconditionFailed,
        Unauthorized,
        Forbidden,
        *http.PARAMETER_ERRORS,
        *http.BODY_ERRORS,
        *http.STORE_ERRORS,
        success=http.STATE,
    ),
)
def change_namespace_state(
    namespace: http.NamespacePath, body: StateChange, if_match: http.IfMatch = None
) -> Response[SharedStateDocument]:
    http.require_trusted_caller(app)
    document = repository().change_shared_state(None, namespace, body, if_match=http.parse_if_match(if_match))
    return http.state_response(document)


lambda_handler = http.entry(app)
