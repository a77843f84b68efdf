"""Powertools Logger and Metrics, one of each per process.

Service name and metrics namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` (set in ``template.yaml``). The X-Ray SDK is never imported here: the
template turns on active tracing at the function level, which costs nothing at import.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="session_service")
metrics = Metrics(service="session_service", namespace="SessionService")
