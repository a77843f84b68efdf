"""DynamoDB stream of the session table, second consumer: the sessions' summaries (SPEC 6), apart from statistics.

Its event source mapping's filter hands it only session records; the layer's
:mod:`session_service.stream.summaries` makes the summaries they ask for, at least once, written at most once.
"""

from typing import Any

from session_service.observability import logger, metrics
from session_service.wiring import summary_writer


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return summary_writer().handle(event, context)
