"""The write guard of keyed creates (``Idempotency-Key``): an item put in the same transaction as what it creates.

Powertools' idempotency record (:mod:`session_service.idempotency`) replays a completed response; the guard keeps
a retry from writing twice when the first attempt was applied but its answer, or its record, was lost (a
timeout, a throttled record update): the retry's transaction fails on the guard, which holds the ids and the
time the first attempt drew, and the operation rebuilds the first answer from them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_service.data.actions import Action, PutNew, transact
from session_service.data.dynamo import Table, TransactionCanceled
from session_service.data.items import ENTITY, GUARD_ENTITY
from session_service.data.keys import GUARD_PREFIX, idempotency_pk, iso, parse_iso
from session_service.errors import IdempotencyKeyReused

IDEMPOTENCY_TTL_SECONDS = 3600
"""How long a completed response is kept for retries (seconds), and a write guard with it."""


@dataclass(frozen=True)
class WriteGuard:
    """What makes one keyed create unique: ``token`` hashes (caller, operation, key), ``request`` the body.

    The create puts it in its transaction (:func:`guard_item`, :func:`transact_guarded`); a second write with the
    same ``token`` fails its condition and finds the first one's ids and time in it.
    """

    caller: str
    token: str
    request: str


def guard_for(caller: str, operation: str, key: str | None, payload: dict[str, Any]) -> WriteGuard | None:
    """The :class:`WriteGuard` of a create with ``Idempotency-Key`` ``key`` (``None`` without a key)."""
    if key is None:
        return None
    scope = json.dumps([caller, operation, key], separators=(",", ":"))
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return WriteGuard(
        caller,
        hashlib.sha256(scope.encode("utf-8")).hexdigest(),
        hashlib.sha256(body.encode("utf-8")).hexdigest(),
    )


def guard_item(caller: str, token: str, request: str, ids: list[str], at: datetime, ttl: int) -> dict[str, Any]:
    """A keyed create's write guard (:class:`WriteGuard`): in the caller's idempotency partition, the ids and time
    the create drew; expires with the idempotency records (``ttl`` seconds)."""
    return {
        "PK": idempotency_pk(caller),
        "SK": f"{GUARD_PREFIX}{token}",
        ENTITY: GUARD_ENTITY,
        "request": request,
        "ids": ids,
        "created_at": iso(at),
        "expires_at": int(at.timestamp()) + ttl,
    }


class GuardHit(Exception):
    """A keyed create's guard exists: an earlier attempt with the same key was applied; ``ids`` and ``at`` are
    what it drew."""

    def __init__(self, ids: list[str], at: datetime) -> None:
        super().__init__("write guard exists")
        self.ids, self.at = ids, at


def transact_guarded(
    table: Table, actions: Sequence[Action], guard: WriteGuard | None, ids: list[str], at: datetime
) -> None:
    """Run a create's transaction; with a ``guard``, its item goes first, conditioned on not existing, holding
    the ``ids`` and the time ``at`` the create drew.

    Raises :class:`GuardHit` when an earlier attempt with the same key was applied,
    :class:`~session_service.errors.IdempotencyKeyReused` when that attempt had another body, and
    :class:`TransactionCanceled` with the reasons of ``actions`` alone when another condition failed.
    """
    if guard is None:
        transact(table, actions)
        return
    item = guard_item(guard.caller, guard.token, guard.request, ids, at, IDEMPOTENCY_TTL_SECONDS)
    try:
        transact(table, [PutNew(item), *actions])
    except TransactionCanceled as canceled:
        first = canceled.item(0)
        if canceled.failed(0) and first is not None:
            if first.get("request") != guard.request:
                raise IdempotencyKeyReused() from canceled
            raise GuardHit([str(i) for i in first["ids"]], parse_iso(str(first["created_at"]))) from canceled
        raise TransactionCanceled(canceled.reasons[1:]) from canceled
