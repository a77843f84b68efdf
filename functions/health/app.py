"""GET /health: liveness. Touches nothing, so it imports no AWS SDK."""

from datetime import UTC, datetime

from session_service import http
from session_service.models import Health
from session_service.wiring import settings

app = http.make_resolver()


@app.get("/health", summary="Liveness: the function runs (touches nothing)", tags=["health"])
def health() -> Health:
    return Health(version=settings().service_version, timestamp=datetime.now(UTC))


lambda_handler = http.entry(app)
