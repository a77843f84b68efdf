"""Typed actions on the items outside a session's partition: a user's counts (the erasure mark, the check that no
erasure runs), an erasure's progress record, ``STATS``, a user's per-model and per-namespace usage and the stream's
applied marks.

Like :mod:`session_service.data.actions` (the mechanism, and the actions on a session's own items), each renders
its ``TransactItems`` entry for a table; the stream function's commit is :class:`StatsAdd`, per-user
:class:`~session_service.data.actions.Add`, :class:`ModelUsageAdd`, :class:`NamespaceUsageAdd` and :class:`MarkMove`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_service.data.actions import Add, Put
from session_service.data.dynamo import serialize
from session_service.data.items import ENTITY, MARK_ENTITY, erasure_item
from session_service.data.keys import (
    erasure_key,
    iso,
    mark_key,
    model_usage_key,
    namespace_usage_index_keys,
    namespace_usage_key,
    stats_key,
    user_counts_key,
)
from session_service.data.stats import ERASING, MARK_APPLIED, MARK_SESSION, MODEL_PAIR, STATS_TOTALS
from session_service.models import ErasureStatus


@dataclass(frozen=True)
class NotErasing:
    """Require that no erasure of the user's data runs (no :data:`~session_service.data.stats.ERASING` on the
    user's counts; a missing counts item passes): a write that moves no count fails while an erasure runs."""

    user_id: str

    def render(self, table: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": user_counts_key(self.user_id),
                "ConditionExpression": f"attribute_not_exists({ERASING})",
            }
        }


@dataclass(frozen=True)
class MarkErasing:
    """Set :data:`~session_service.data.stats.ERASING` (the erasure's start ``now``) on a user's counts, once."""

    user_id: str
    now: datetime

    def render(self, table: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": user_counts_key(self.user_id),
                "UpdateExpression": f"SET {ERASING} = if_not_exists({ERASING}, :now)",
                "ExpressionAttributeValues": serialize({":now": iso(self.now)}),
            }
        }


@dataclass(frozen=True)
class StatsAdd:
    """The stream function's ``ADD`` to a ``STATS`` shard (:data:`~session_service.data.stats.STATS_TOTALS`):
    sessions, active sessions, messages, tokens and cost (USD, exact); ``shard`` is one of
    :data:`~session_service.data.stats.STATS_SHARDS` (:func:`~session_service.data.stats.stats_shard`)."""

    sessions: int
    active: int
    messages: int
    tokens: int
    cost: Any
    shard: int = 0

    def render(self, table: str) -> dict[str, Any]:
        placeholders = (":s", ":a", ":m", ":t", ":c")
        values = dict(
            zip(placeholders, (self.sessions, self.active, self.messages, self.tokens, self.cost), strict=True)
        )
        terms = ", ".join(f"{name} {mark}" for name, mark in zip(STATS_TOTALS, placeholders, strict=True))
        return {
            "Update": {
                "TableName": table,
                "Key": stats_key(self.shard),
                "UpdateExpression": f"ADD {terms}",
                "ExpressionAttributeValues": serialize(values),
            }
        }


@dataclass(frozen=True)
class ModelUsageAdd:
    """The stream function's ``ADD`` of ``moves`` (``messages``, ``tokens``, ``cost``) to a user's usage of one
    (provider, model) ``pair`` (:func:`~session_service.data.stats.model_pair`), which the item names."""

    user_id: str
    pair: str
    moves: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        action = Add(model_usage_key(self.user_id, self.pair), self.moves).render(table)
        action["Update"]["UpdateExpression"] = "SET #pair = :pair " + action["Update"]["UpdateExpression"]
        action["Update"]["ExpressionAttributeNames"]["#pair"] = MODEL_PAIR
        action["Update"]["ExpressionAttributeValues"][":pair"] = {"S": self.pair}
        return action


@dataclass(frozen=True)
class NamespaceUsageAdd:
    """The stream function's ``ADD`` of ``moves`` (:data:`~session_service.data.stats.USAGE_TOTALS`) to a user's usage
    of ``namespace``, which the item's GSI3 keys name (:func:`~session_service.data.keys.namespace_usage_index_keys`):
    a namespace's usage is read by user."""

    user_id: str
    namespace: str
    moves: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        action = Add(namespace_usage_key(self.user_id, self.namespace), self.moves).render(table)
        index = namespace_usage_index_keys(self.user_id, self.namespace)
        sets = []
        for number, (name, value) in enumerate(index.items()):
            action["Update"]["ExpressionAttributeNames"][f"#g{number}"] = name
            action["Update"]["ExpressionAttributeValues"][f":g{number}"] = {"S": value}
            sets.append(f"#g{number} = :g{number}")
        action["Update"]["UpdateExpression"] = f"SET {', '.join(sets)} " + action["Update"]["UpdateExpression"]
        return action


@dataclass(frozen=True)
class MarkMove:
    """The stream function's move of a session's applied mark to ``mark``: from ``previous`` (as read), or
    created when there was none."""

    session_id: str
    mark: str
    previous: str | None = None

    def render(self, table: str) -> dict[str, Any]:
        values: dict[str, Any] = {":mark": self.mark, ":entity": MARK_ENTITY, ":sid": self.session_id}
        condition = "attribute_not_exists(PK)"
        if self.previous is not None:
            condition += f" OR {MARK_APPLIED} = :previous"
            values[":previous"] = self.previous
        return {
            "Update": {
                "TableName": table,
                "Key": mark_key(self.session_id),
                "UpdateExpression": f"SET {MARK_APPLIED} = :mark, {ENTITY} = :entity, {MARK_SESSION} = :sid",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": serialize(values),
            }
        }


@dataclass(frozen=True)
class ErasureStart:
    """Put a user's new erasure progress record (:func:`~session_service.data.items.erasure_item`), unless an
    erasure of the user runs (one that finished may start again); the old record comes back when it fails."""

    user_id: str
    now: datetime

    def render(self, table: str) -> dict[str, Any]:
        condition = "attribute_not_exists(PK) OR #status = :erased"
        values = {":erased": ErasureStatus.ERASED.value}
        return Put(erasure_item(self.user_id, self.now), condition, values, {"#status": "status"}).render(table)


@dataclass(frozen=True)
class ErasureNudge:
    """Touch a running erasure's progress record as ``seen`` (plain values) at ``now``: ``SET nudged_at``,
    ``ADD nudges 1``, conditioned on the record not having moved since it was read (still erasing, the same
    ``passes``, ``sessions_cleared`` and ``nudges``), so of concurrent nudges one writes. The write's stream record
    brings a pass (:mod:`~session_service.stream.erasure`), as any move of the progress does."""

    user_id: str
    now: datetime
    seen: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":now": iso(self.now),
            ":one": 1,
            ":erasing": ErasureStatus.ERASING.value,
            ":passes": self.seen["passes"],
            ":cleared": self.seen["sessions_cleared"],
        }
        condition = "#status = :erasing AND passes = :passes AND sessions_cleared = :cleared"
        if "nudges" in self.seen:
            values[":nudges"] = self.seen["nudges"]
            condition += " AND nudges = :nudges"
        else:
            condition += " AND attribute_not_exists(nudges)"
        return {
            "Update": {
                "TableName": table,
                "Key": erasure_key(self.user_id),
                "UpdateExpression": "SET nudged_at = :now ADD nudges :one",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(values),
            }
        }
