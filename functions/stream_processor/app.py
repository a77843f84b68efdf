"""DynamoDB stream of the session table: statistics, per-user counts, TTL clean-up, summaries (SPEC 6).

Powertools batch processing reports unreadable records in ``batchItemFailures``; the layer's
:mod:`session_service.stream` applies the rest exactly once.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from session_service.observability import logger, metrics
from session_service.wiring import stream_processor


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return stream_processor().handle(event, context)
