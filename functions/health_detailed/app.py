"""GET /health/detailed: reads the table; 503 ``degraded`` when it does not answer."""

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.models import HealthDetailed
from session_service.wiring import repository, settings

app = http.make_resolver()


@app.get(
    "/health/detailed",
    summary="Readiness: does the table answer a read?",
    tags=["health"],
    responses=http.responses_for(success=http.HEALTH),
)
def health_detailed() -> Response[HealthDetailed]:
    connected = repository().ping()
    status = "operational" if connected else "degraded"
    version = settings().service_version
    report = HealthDetailed(status=status, version=version, database_connected=connected, timestamp=datetime.now(UTC))
    return http.health_response(report)


lambda_handler = http.entry(app)
