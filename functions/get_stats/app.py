"""GET /api/v1/sessions/stats: service-wide statistics (admin group with the authorizer on)."""

from session_service import http
from session_service.errors import Forbidden, Unauthorized
from session_service.identity import require_admin
from session_service.models import Stats
from session_service.wiring import repository, settings

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/stats",
    summary="Service-wide statistics: sessions, messages, tokens, cost (admin group with the authorizer)",
    tags=["statistics"],
    responses=http.responses_for(Unauthorized, Forbidden, *http.STORE_ERRORS),
)
def get_stats() -> Stats:
    config = settings()
    require_admin(
        app.current_event.raw_event, authorizer_enabled=config.authorizer_enabled, admin_group=config.admin_group
    )
    return repository().get_stats()


lambda_handler = http.entry(app)
