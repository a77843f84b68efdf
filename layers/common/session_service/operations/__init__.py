"""The service's operations, one module per family over :mod:`session_service.data`.

:mod:`~session_service.operations.sessions`, :mod:`~session_service.operations.messages`,
:mod:`~session_service.operations.chunks`, :mod:`~session_service.operations.memory`,
:mod:`~session_service.operations.export` and :mod:`~session_service.operations.users` each hold public operations
made of their reads and one transaction of typed actions (:mod:`session_service.data.actions`); a failed
condition becomes a domain error (:mod:`session_service.errors`) from the item DynamoDB returns with the
failure, without a second read. Families never import each other: what they share is in
:mod:`session_service.data` or :mod:`session_service.rules`. Every operation takes the :class:`Store` first and
raises :class:`~session_service.errors.ServiceUnavailable` when DynamoDB throttles and
:class:`~session_service.errors.StoreUnavailable` when the table cannot be reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from session_service.cursor import CursorCodec
from session_service.data.dynamo import Table, serialize
from session_service.data.items import is_live


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def new_uuid() -> str:
    """A fresh random id (UUID 4, text)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Store:
    """What every operation works with: the ``table``, the default idle lifetime of a session (``ttl_seconds``),
    the codec that signs ``next_token`` (``cursors``), and the ``clock`` and ``new_id`` (injectable for tests)."""

    table: Table
    ttl_seconds: int
    cursors: CursorCodec
    clock: Callable[[], datetime] = field(default=utcnow)
    new_id: Callable[[], str] = field(default=new_uuid)

    def epoch(self) -> int:
        """The current epoch second."""
        return int(self.clock().timestamp())

    def is_live(self, item: dict[str, Any] | None, caller: str) -> bool:
        """True when ``item`` is a session hot item ``caller`` owns that is neither expired nor deleted now
        (:func:`~session_service.data.items.is_live`)."""
        return is_live(item, caller, self.epoch())

    def index_page(
        self, index: str, partition: str, scope: str, page_size: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the keys-only index ``index``'s partition ``partition`` (its items as DynamoDB JSON, one
        Query) and the cursor of the next (``None`` on the last page), signed for ``scope``: a listing's name and
        what it lists, so a cursor never serves another listing. Raises
        :class:`~session_service.errors.InvalidCursor` for a foreign or altered ``next_token``."""
        start_key = self.cursors.decode(scope, next_token)["k"] if next_token else None
        query = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :pk",
            "ExpressionAttributeValues": serialize({":pk": partition}),
        }
        result = self.table.query_page(query, skip=0, take=page_size, start_key=start_key)
        cursor = self.cursors.encode(scope, {"k": result.last_evaluated}) if result.last_evaluated else None
        return list(result.items), cursor
