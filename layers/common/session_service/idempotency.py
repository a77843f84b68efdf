"""Idempotent retries of POST creates (``Idempotency-Key`` header), with Powertools' idempotency utility.

Records live in the service's own table (``PK = IDEMPOTENCY#<caller>``, ``SK = <function>#<hash>``), with
``expires_at`` as their TTL attribute, so the same TTL that expires sessions removes them. The key is
scoped to the caller, the operation and its target: two users (or two sessions) never share a record.

* A retry with the same key and the same body returns the first response and writes nothing.
* The same key with a different body is :class:`~session_service.errors.IdempotencyKeyReused`.
* A retry while the first request is still running is :class:`IdempotencyInProgress`; if that request
  died, its in-progress record expires with the Lambda's remaining time and a retry runs again.
* A request that failed (any error) leaves no record: a retry runs again. That retry cannot write twice:
  the keyed write itself carries a :class:`~session_service.data.guard.WriteGuard`, an item put in the same
  transaction as what it creates (``attribute_not_exists``), holding the ids and the time it drew. When an
  earlier attempt was applied and its answer lost (a timeout, a throttled Powertools record update), the
  retry's transaction fails on the guard and the operation rebuilds the first attempt's answer from it: same
  ids, same times.

Powertools' persistence layer and its configuration are built once per process (per DynamoDB client),
not per request: each ``DynamoDBPersistenceLayer`` registers a user-agent hook on the client it is given,
so one per request would pile hooks onto the shared client. The Powertools modules (and boto3) are
imported on the first keyed request only. This module sits above the composition root: it takes the client and
the table from :mod:`session_service.wiring`, and reaches Powertools' private API only through
:mod:`session_service.powertools_private`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from session_service.data import keys
from session_service.data.guard import IDEMPOTENCY_TTL_SECONDS
from session_service.errors import IdempotencyKeyReused, ServiceUnavailable, SessionServiceError
from session_service.observability import logger
from session_service.wiring import dynamodb_client, settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig


MAX_KEY_CHARS = 255
"""The longest ``Idempotency-Key`` accepted (characters)."""


class IdempotencyInProgress(SessionServiceError):
    """A request with this ``Idempotency-Key`` is still being processed; retry later."""

    detail = "A request with this Idempotency-Key is still in progress"


_caller: ContextVar[str] = ContextVar("idempotency_caller")
"""The caller :func:`run_once` is serving: the shared persistence layer writes into their partition."""


@cache
def _config() -> IdempotencyConfig:
    """What Powertools hashes (the key's scope) and compares (the body); one per process."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[operation, caller, key]",
        payload_validation_jmespath="payload",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )


@lru_cache(maxsize=1)
def _store(client: Any, table_name: str) -> BasePersistenceLayer:
    """Powertools' DynamoDB persistence layer over ``table_name``, built once per client (tests rebuild the
    client with :func:`session_service.wiring.reset`, and get a new layer with it). Records sit in the
    partition of the caller being served, not in one static partition."""
    from session_service.powertools_private import partitioned_persistence_layer

    return partitioned_persistence_layer(
        lambda: keys.idempotency_pk(_caller.get()),
        table_name=table_name,
        key_attr="PK",
        sort_key_attr="SK",
        expiry_attr="expires_at",
        boto3_client=client,
    )


def _clear(store: BasePersistenceLayer, request: dict[str, Any], exc: Exception) -> None:
    """Best effort: delete ``request``'s Powertools record after a failed record write (never raises)."""
    try:
        store.delete_record(data=request, exception=exc)
    except Exception:  # the store is failing already: the record then lapses with the invocation's time
        logger.warning("Idempotency record left in progress", extra={"error": type(exc).__name__})


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
    and returns what to replay; ``lambda_context`` bounds an in-progress record by the invocation's
    remaining time. Without a ``key`` it simply calls ``produce``.
    Raises :class:`IdempotencyKeyReused`, :class:`IdempotencyInProgress`, :class:`ServiceUnavailable`
    (the record could not be read or written), or whatever ``produce`` raises.
    """
    if key is None:
        return produce()

    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    config = _config()
    # Every invocation registers its own context on the shared config, as Powertools' `idempotent` does:
    # the in-progress record lapses with this invocation's remaining time (None: with the record's TTL).
    config.register_lambda_context(lambda_context)
    store = _store(dynamodb_client(), settings().table_name)

    # Decorated per call (it only wraps), so the records keep this closure's name in their sort key.
    @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config)
    def execute(request: dict[str, Any]) -> dict[str, Any]:
        return produce()

    scope = _caller.set(caller)
    request = {"operation": operation, "caller": caller, "key": key, "payload": payload}
    try:
        result: dict[str, Any] = execute(request=request)
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused() from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyInProgress() from exc
    except IdempotencyPersistenceLayerError as exc:
        # The record could not be written (the in-progress put's answer lost, the completion update
        # throttled): left INPROGRESS it would answer every retry 409 until the invocation's time ran out,
        # though nothing runs. Clear it; the write guard keeps the retry from writing a second time.
        _clear(store, request, exc)
        raise ServiceUnavailable() from exc
    finally:
        _caller.reset(scope)
    return result
