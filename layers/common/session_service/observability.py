"""Powertools Logger and Metrics, one of each per process.

Service name and metrics namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` (set in ``template.yaml``). The X-Ray SDK is never imported here: the
template turns on active tracing at the function level, which costs nothing at import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="session_service")
metrics = Metrics(service="session_service", namespace="SessionService")

Result = TypeVar("Result")


def publish_metrics(handler: Callable[[Any, Any], Result]) -> Callable[[Any, Any], Result]:
    """Wrap a Lambda handler so that the metrics an invocation recorded are published (one EMF line on
    stdout) when it returns or raises; an invocation that recorded none publishes nothing.

    Powertools' ``log_metrics`` flushes unconditionally, and an empty flush warns "No application metrics
    to publish" on stderr, which is the function's log (``GET /health`` records no metric, nor does any
    successful read); its ``raise_on_empty_metrics`` would turn that warning into an error instead.
    """

    @functools.wraps(handler)
    def publish(event: Any, context: Any) -> Result:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return publish
