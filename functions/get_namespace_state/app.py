"""GET /api/v1/namespaces/{namespace}/state: a namespace's state document, with its ETag (a trusted caller)."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import Forbidden, Unauthorized
from session_service.models.state import SharedStateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/namespaces/<namespace>/state",
    summary="Get a namespace's state document (shared by its users), with its ETag (a trusted group)",
    tags=["agents"],
    responses=http.responses_for(
        Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS, success=http.STATE
    ),
)
def get_namespace_state(namespace: http.NamespacePath) -> Response[SharedStateDocument]:
    http.require_trusted_caller(app)
    return http.state_response(repository().get_shared_state(None, namespace))


lambda_handler = http.entry(app)
