"""GET /health/detailed: reads the table; 503 ``degraded`` when it does not answer."""

from datetime import UTC, datetime
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types

from session_service.http import entry, make_resolver
from session_service.models import HealthDetailed
from session_service.wiring import repository, settings

app = make_resolver()


@app.get("/health/detailed")
def health_detailed() -> Response[HealthDetailed]:
    connected = repository().ping()
    body = HealthDetailed(
        status="operational" if connected else "degraded",
        version=settings().service_version,
        database_connected=connected,
        timestamp=datetime.now(UTC),
    )
    status = HTTPStatus.OK if connected else HTTPStatus.SERVICE_UNAVAILABLE
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


lambda_handler = entry(app)
