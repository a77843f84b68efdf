"""Powertools Logger and Metrics, one of each per process, and what every request records with them.

Service name and metrics namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` (set in ``template.yaml``). The X-Ray SDK is never imported here: the
template turns on active tracing at the function level, which costs nothing at import.

What an operator gets (docs/operations.md shows each as ``make serve`` prints it):

* one log line per request, ``"Request"``, from :func:`log_request`: route, status, latency, the caller
  (once known) and the correlation id (API Gateway's request id); never a body, a query or message text;
* business metrics, from the handlers that write: ``SessionsCreated``, ``MessagesAppended``,
  ``MessageTokens`` and ``MessageCostUSD`` (:func:`count_messages`), with ``Error.*`` counts from the error
  table, all with the dimensions ``service`` and ``stage`` (:func:`metric_dimensions`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="session_service")
metrics = Metrics(service="session_service", namespace="SessionService")

Result = TypeVar("Result")


class CountedMessage(Protocol):
    """What :func:`count_messages` reads of a stored message."""

    @property
    def tokens_used(self) -> int: ...

    @property
    def cost_usd(self) -> Decimal: ...


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


def metric_dimensions(event: Mapping[str, Any]) -> None:
    """Give this invocation's metrics the API stage (``dev``, ``prod``; ``local`` under ``make serve``) as the
    ``stage`` dimension, besides ``service``: two stacks in one account publish to one namespace.

    Not the model or the user: client-chosen values would make a billed custom metric each (usage by model
    is ``GET /users/{user_id}/usage``)."""
    stage = (event.get("requestContext") or {}).get("stage")
    # Kept until a flush clears it: adding it again would warn on every invocation that records no metric.
    if isinstance(stage, str) and stage and metrics.dimension_set.get("stage") != stage:
        metrics.add_dimension(name="stage", value=stage)


def note_caller(user_id: str) -> None:
    """Name the caller (the user the request acts for, once verified) on every later log line of this
    invocation, the request's line included (cleared at the next invocation)."""
    logger.append_keys(caller=user_id)


def log_request(event: Mapping[str, Any], status: int, started: float) -> None:
    """Log the request's one line: ``route`` (method and resource template, not the path with its ids),
    ``status``, ``latency_ms`` since ``started`` (``time.perf_counter()``) and the ``caller`` when known;
    the correlation id is on every line already. Nothing of the body or query is logged."""
    logger.info(
        "Request",
        extra={
            "route": f"{event.get('httpMethod', '-')} {event.get('resource', '-')}",
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


def count_messages(messages: Iterable[CountedMessage]) -> None:
    """Record the messages an append stored: ``MessagesAppended`` (count), ``MessageTokens`` (their
    ``tokens_used``) and ``MessageCostUSD`` (their ``cost_usd``, in US dollars). Call it only when the append
    wrote (not for a repeat that found them stored)."""
    stored = list(messages)
    if not stored:
        return
    metrics.add_metric(name="MessagesAppended", unit=MetricUnit.Count, value=len(stored))
    metrics.add_metric(name="MessageTokens", unit=MetricUnit.Count, value=sum(m.tokens_used for m in stored))
    metrics.add_metric(name="MessageCostUSD", unit=MetricUnit.NoUnit, value=float(sum(m.cost_usd for m in stored)))
