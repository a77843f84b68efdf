"""GET /api/v1/users/{user_id}/erasure: the progress of the user's erasure (SPEC section 9)."""

from session_service import http
from session_service.errors import ErasureNotFound
from session_service.models import Erasure
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/users/<user_id>/erasure",
    summary="The progress of the user's latest erasure: erasing, then erased (kept 30 days)",
    tags=["users"],
    responses=http.responses_for(ErasureNotFound, *http.USER_ERRORS, *http.STORE_ERRORS),
)
def get_erasure(user_id: http.UserIdPath, caller_id: http.UserIdAlsoQuery = None) -> Erasure:
    return repository().erasure(http.user_caller(app, user_id, caller_id))


lambda_handler = http.entry(app)
