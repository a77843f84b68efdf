"""GET /api/v1/sessions/stats: service-wide statistics (admin group with the authorizer on)."""

from session_service.http import entry, make_resolver
from session_service.identity import require_admin
from session_service.models import Stats
from session_service.wiring import repository, settings

app = make_resolver()


@app.get("/api/v1/sessions/stats")
def get_stats() -> Stats:
    config = settings()
    require_admin(
        app.current_event.raw_event, authorizer_enabled=config.authorizer_enabled, admin_group=config.admin_group
    )
    return repository().get_stats()


lambda_handler = entry(app)
