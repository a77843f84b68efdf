"""Idempotent retries of POST creates (``Idempotency-Key`` header), with Powertools' idempotency utility.

Records live in the service's own table (``PK = IDEMPOTENCY#<caller>``, ``SK = <function>#<hash>``), with
``expires_at`` as their TTL attribute, so the same TTL that expires sessions removes them. The key is
scoped to the caller, the operation and its target: two users (or two sessions) never share a record.

* A retry with the same key and the same body returns the first response and writes nothing.
* The same key with a different body is 422 (:class:`IdempotencyKeyReused`).
* A retry while the first request is still running is 409 (:class:`IdempotencyInProgress`); if that
  request died, its in-progress record expires with the Lambda's remaining time and a retry runs again.
* A request that failed (any error) leaves no record: a retry runs again.

The Powertools modules (and boto3) are imported on the first keyed request only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from session_service.errors import ServiceUnavailable, SessionServiceError

IDEMPOTENCY_TTL_SECONDS = 3600
"""How long a completed response is kept for retries (seconds)."""
MAX_KEY_CHARS = 255


class IdempotencyKeyReused(SessionServiceError):
    """422: an ``Idempotency-Key`` already used with a different request body."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__("Idempotency-Key reused with a different request")
        self.detail = [  # type: ignore[assignment]
            {
                "type": "idempotency_key_reused",
                "loc": ["header", "idempotency-key"],
                "msg": "Idempotency-Key was already used with a different request body",
            }
        ]


class IdempotencyInProgress(SessionServiceError):
    """409: a request with this ``Idempotency-Key`` is still being processed; retry later."""

    status_code = 409
    detail = "A request with this Idempotency-Key is still in progress"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


def run_once(
    *,
    operation: str,
    caller: str,
    key: str | None,
    payload: dict[str, Any],
    produce: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """Run ``produce`` at most once per ``(caller, operation, key)`` and return its JSON-able result.

    ``operation`` names the route and its target (for example ``"add_message:<session_id>"``);
    ``payload`` is the request as JSON-able data (compared on retries); ``produce`` performs the write
    and returns what to replay. Without a ``key`` it simply calls ``produce``.
    Raises :class:`IdempotencyKeyReused`, :class:`IdempotencyInProgress`, or whatever ``produce`` raises.
    """
    if key is None:
        return produce()

    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    from session_service.wiring import dynamodb_client, settings

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        static_pk_value=f"IDEMPOTENCY#{caller}",
        expiry_attr="expires_at",
        boto3_client=dynamodb_client(),
    )
    config = IdempotencyConfig(
        event_key_jmespath="[operation, caller, key]",
        payload_validation_jmespath="payload",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def execute(request: dict[str, Any]) -> dict[str, Any]:
        return produce()

    try:
        result: dict[str, Any] = execute(
            request={"operation": operation, "caller": caller, "key": key, "payload": payload}
        )
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused() from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyInProgress() from exc
    except IdempotencyPersistenceLayerError as exc:  # the record could not be read or written
        raise ServiceUnavailable() from exc
    return result
