"""GET /health: liveness. Touches nothing, so it imports no AWS SDK."""

from datetime import UTC, datetime

from session_service.http import entry, make_resolver
from session_service.models import Health
from session_service.wiring import settings

app = make_resolver()


@app.get("/health")
def health() -> Health:
    return Health(version=settings().service_version, timestamp=datetime.now(UTC))


lambda_handler = entry(app)
