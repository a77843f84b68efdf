"""The counters the service keeps: their attribute names, and the readers that map them to models.

* ``STATS``: the service's totals, :data:`STATS_TOTALS`, kept in :data:`STATS_SHARDS` shards
  (:func:`~session_service.data.keys.stats_key`; each stream batch adds to one, :func:`stats_shard`) and summed on
  read (:func:`stats_from_items`).
* A user's counts (``USER#<user_id>``/``COUNTS``): sessions by status (:func:`count_attribute`), and
  :data:`ERASING` while the user's data is being erased.
* A user's usage (``USER#<user_id>``/``USAGE``): :data:`USAGE_TOTALS`, and one item per (provider, model) pair
  (``MODEL#<hash>``) holding :data:`MODEL_PAIR` and :data:`MODEL_USAGE`; a session's hot item holds the same
  per-model moves as flat attributes (:func:`usage_attribute`) and the pairs it named (:data:`MODELS`); and one item
  per namespace the user's sessions were created in (``USAGE#NS#<namespace>``) holding :data:`USAGE_TOTALS`.
* A session's stream applied mark (``STREAM#SESSION#<id>``/``APPLIED``): :data:`MARK_APPLIED`.

The stream function writes them (ADD, in its batch's transaction); the requests read them here:
:func:`stats_from_items`, :func:`usage_from_items`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from session_service.data.keys import COUNTS_SK, MODEL_USAGE_PREFIX, USAGE_SK, namespace_of_usage_sk
from session_service.models import ModelUsage, NamespaceUsage, NamespaceUserUsage, SessionStatus, Stats, Usage

STATS_SHARDS = 16
"""Shards of ``STATS`` (the classic DynamoDB sharded counter): a stream batch's transaction adds to one of them, so
no item is written by every batch. Sized from AWS's limits: one item takes at most 1,000 write units a second, and a
batch's transactional ``ADD`` to a shard (under 1 KB) costs 2, so one item bounds the whole table's stream at 500
batches a second (the measured mix: ~2,750 records/s). 16 shards lift that bound to ~8,000 batches
(~44,000 records) a second, beyond what the table's own stream shards deliver to one function at
``ParallelizationFactor`` 1; ``GET /sessions/stats`` reads them all in one BatchGetItem (16 read units)."""
STATS_TOTALS = ("total_sessions", "active_sessions", "total_messages", "total_tokens", "total_cost")
"""The ``STATS`` item's attributes: sessions, active sessions, messages, tokens, cost (USD, exact)."""
USAGE_TOTALS = ("sessions", "active_sessions", "messages", "tokens", "cost")
"""A user's usage item's attributes, and those of a user's per-namespace usage item: sessions, active sessions,
messages, tokens, cost (USD, exact)."""
MODEL_PAIR = "pair"
"""A user's per-model usage item names its pair here (:func:`model_pair`)."""
MODEL_USAGE = ("messages", "tokens", "cost")
"""A user's per-model usage item's counters (the values of :data:`USAGE_FIELDS`)."""
MARK_APPLIED = "applied"
"""A stream applied mark's attribute: the state the newest applied record left the session in
(``<created_at>#<version:012d>#<0|1>``)."""
SUMMARY_VERSION = "summary_version"
"""A session's summary item's attribute: the session's ``version`` its summary was made at; a summary point passed at
that version or before is covered (the summary function makes no summary twice on a replay)."""
MARK_SESSION = "session_id"
"""A stream applied mark's attribute: the session it is about (its key holds it too, with a prefix)."""
MODELS = "models"
"""The hot item's string set of the (provider, model) pairs its messages named (the JSON of each pair), kept
for the cap :data:`~session_service.models.MAX_MODELS_PER_SESSION`."""
USAGE_PREFIX = "by:"
"""Names of the per-model usage attributes begin with it (:func:`usage_attribute`)."""
USAGE_FIELDS = {"m": "messages", "t": "tokens", "c": "cost"}
"""Suffix of a per-model usage attribute -> the field it counts (cost in USD, exact)."""
ERASING = "erasing_since"
"""The user's counts item carries this (the erasure's start, ISO) while the user's data is being erased: every
reader of the user's data reads the counts with it and answers as if nothing existed."""


def count_attribute(status: SessionStatus | None) -> str:
    """The user's counts attribute of sessions in ``status`` (``None``: all sessions)."""
    return f"status_{status.value}" if status else "sessions"


def counts_lost(hots: Iterable[dict[str, Any]]) -> dict[str, int]:
    """What a user's counts lose when the sessions ``hots`` (hot items, plain values) leave them: one session
    each, and one of its status (:func:`count_attribute` -> a negative number)."""
    counts: dict[str, int] = {}
    for hot in hots:
        for name in (count_attribute(None), count_attribute(SessionStatus(hot["status"]))):
            counts[name] = counts.get(name, 0) - 1
    return counts


def model_pair(provider: str | None, model: str | None) -> str:
    """The JSON of ``[provider, model]`` (compact, non-ASCII kept): a pair's one spelling, in the hot item's
    :data:`MODELS` set and in the user's per-model usage item."""
    return json.dumps([provider, model], separators=(",", ":"), ensure_ascii=False)


def usage_attribute(provider: str | None, model: str | None, usage_field: str) -> str:
    """The name of a per-model usage attribute: :data:`USAGE_PREFIX`, the JSON of ``[provider, model]``
    (compact, non-ASCII kept: a name is unambiguous whatever the strings hold, ``null`` for a missing one),
    ``:`` and the field's suffix (a key of :data:`USAGE_FIELDS`: ``m`` messages, ``t`` tokens, ``c`` cost USD).

    ``usage_attribute("bedrock", "claude", "t") == 'by:["bedrock","claude"]:t'``. Such names hold characters an
    expression may not name directly: requests pass them as ``ExpressionAttributeNames``. Raises
    ``ValueError`` for an unknown field, or when both ``provider`` and ``model`` are missing (such messages
    are counted in the totals only)."""
    if usage_field not in USAGE_FIELDS:
        raise ValueError(f"unknown usage field {usage_field!r}")
    if provider is None and model is None:
        raise ValueError("a usage row names a provider or a model")
    return f"{USAGE_PREFIX}{json.dumps([provider, model], separators=(',', ':'), ensure_ascii=False)}:{usage_field}"


def parse_usage_attribute(name: str) -> tuple[str | None, str | None, str] | None:
    """``(provider, model, field suffix)`` of a per-model usage attribute (inverse of :func:`usage_attribute`),
    or ``None`` when ``name`` is not one (every other attribute of a hot or usage item)."""
    if not name.startswith(USAGE_PREFIX):
        return None
    encoded, _, usage_field = name[len(USAGE_PREFIX) :].rpartition(":")
    if usage_field not in USAGE_FIELDS:
        return None
    try:
        pair = json.loads(encoded)
    except ValueError:
        return None
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    provider, model = pair
    if not all(value is None or isinstance(value, str) for value in (provider, model)):
        return None
    if provider is None and model is None:
        return None
    return provider, model, usage_field


def usage_increments(provider: str | None, model: str | None, messages: int, tokens: int, cost: Any) -> dict[str, Any]:
    """The per-model usage attributes a change of ``messages``, ``tokens`` and ``cost`` (USD) under (``provider``,
    ``model``) moves, by how much (zeros left out); ``{}`` when the messages name neither."""
    if provider is None and model is None:
        return {}
    moves = {"m": messages, "t": tokens, "c": cost}
    return {usage_attribute(provider, model, suffix): value for suffix, value in moves.items() if value}


def message_usage(message: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    """The per-model usage attributes a message item (plain values) adds to its session (``sign`` -1: what its
    removal takes away): one message, its ``tokens_used`` and ``cost_usd`` under its ``provider`` and
    ``model``; ``{}`` when it names neither."""
    return usage_increments(
        message.get("provider"),
        message.get("model"),
        sign,
        sign * int(message.get("tokens_used", 0)),
        sign * Decimal(message.get("cost_usd", 0)),
    )


def sum_usage(*parts: dict[str, Any]) -> dict[str, Any]:
    """The per-model usage moves ``parts`` (name -> number) add up to, zeros left out."""
    total: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0) + value
    return {name: value for name, value in total.items() if value}


def usage_of(item: dict[str, Any]) -> dict[str, Any]:
    """The per-model usage attributes of a hot or usage item (plain values): name -> number."""
    return {name: value for name, value in item.items() if parse_usage_attribute(name) is not None}


def erasing(counts: dict[str, Any] | None) -> bool:
    """True when a user's counts item says the user's data is being erased (:data:`ERASING`)."""
    return counts is not None and ERASING in counts


def pairs_named(increments: dict[str, Any]) -> set[str]:
    """The (provider, model) pairs (:func:`model_pair`) that ``increments`` give messages (a positive message
    count): the only ones a change can add to a session (a pair whose messages go or move away is one the
    session named already)."""
    found = set()
    for name, value in increments.items():
        parsed = parse_usage_attribute(name)
        if parsed is not None and parsed[2] == "m" and value > 0:
            found.add(model_pair(parsed[0], parsed[1]))
    return found


def stats_shard(sequence: int, shards: int = STATS_SHARDS) -> int:
    """The ``STATS`` shard a stream batch whose first record has sequence number ``sequence`` adds to: a hash of it,
    so batches spread evenly whatever the steps between sequence numbers (a redelivered batch picks the same)."""
    digest = hashlib.blake2b(str(sequence).encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def sum_shards(found: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The totals (:data:`STATS_TOTALS` -> number) of the ``STATS`` shards ``found`` (plain values)."""
    totals: dict[str, Any] = {}
    for item in found:
        for name in STATS_TOTALS:
            if name in item:
                totals[name] = totals.get(name, 0) + item[name]
    return totals


def stats_from_items(found: Iterable[dict[str, Any]]) -> Stats:
    """Map the ``STATS`` shards (plain values; none before the first session) to :class:`Stats` (their sum)."""
    return stats_from_item(sum_shards(found))


def stats_from_item(item: dict[str, Any] | None) -> Stats:
    """Map ``STATS`` totals (plain values; ``None`` before the first session) to :class:`Stats`."""
    values = item or {}
    sessions = int(values.get("total_sessions", 0))
    messages = int(values.get("total_messages", 0))
    return Stats(
        total_sessions=sessions,
        active_sessions=int(values.get("active_sessions", 0)),
        total_messages=messages,
        total_tokens=int(values.get("total_tokens", 0)),
        total_cost=Decimal(values.get("total_cost", 0)),
        average_messages_per_session=round(messages / sessions, 1) if sessions > 0 else 0.0,
    )


def usage_order(row: ModelUsage) -> tuple[Any, ...]:
    """Usage rows by cost, highest first, then by provider and model (a missing one after the named)."""
    return (-row.cost, row.provider is None, row.provider or "", row.model is None, row.model or "")


def usage_from_items(user_id: str, found: list[dict[str, Any]]) -> Usage:
    """Map the items of a user's partition (plain values: usage, per-model and per-namespace usage, counts) to
    :class:`Usage`.

    No usage item (no session ever counted) is all zeros. The row of the messages naming neither provider nor
    model is the totals minus the named rows, made here; rows are ordered by :func:`usage_order`. While the
    user's data is being erased (:data:`ERASING` on the counts), usage is zeros: gone for every reader (SPEC
    section 9)."""
    counts = next((item for item in found if item["SK"] == COUNTS_SK), None)
    if erasing(counts):
        found = []
    values = next((item for item in found if item["SK"] == USAGE_SK), {})
    totals: dict[str, Any] = {
        "messages": int(values.get("messages", 0)),
        "tokens": int(values.get("tokens", 0)),
        "cost": Decimal(values.get("cost", 0)),
    }
    named = []
    for item in found:
        if str(item["SK"]).startswith(MODEL_USAGE_PREFIX):
            provider, model = json.loads(str(item[MODEL_PAIR]))
            row = {name: item.get(name, 0) for name in MODEL_USAGE}
            if any(row.values()):
                named.append(ModelUsage(provider=provider, model=model, **row))
    rest = {name: total - sum(getattr(row, name) for row in named) for name, total in totals.items()}
    if any(rest.values()):
        named.append(ModelUsage(provider=None, model=None, **rest))
    named.sort(key=usage_order)
    sessions, active = int(values.get("sessions", 0)), int(values.get("active_sessions", 0))
    return Usage(
        user_id=user_id,
        sessions=sessions,
        active_sessions=active,
        by_model=named,
        by_namespace=_namespace_rows(found, {"sessions": sessions, "active_sessions": active, **totals}),
        **totals,
    )


def _namespace_rows(found: list[dict[str, Any]], totals: dict[str, Any]) -> list[NamespaceUsage]:
    """The rows of :class:`Usage`'s ``by_namespace`` from the per-namespace usage items among ``found``, and the
    row of the sessions of no namespace (``totals`` minus the named rows; none when no row is named: no breakdown
    for a user of no namespace), ordered as :func:`usage_order` does."""
    rows = []
    for item in found:
        namespace = namespace_of_usage_sk(str(item["SK"]))
        if namespace is not None:
            row = NamespaceUsage(
                namespace=namespace,
                sessions=int(item.get("sessions", 0)),
                active_sessions=int(item.get("active_sessions", 0)),
                messages=int(item.get("messages", 0)),
                tokens=int(item.get("tokens", 0)),
                cost=Decimal(item.get("cost", 0)),
            )
            if row.sessions or row.active_sessions or row.messages or row.tokens or row.cost:
                rows.append(row)
    rest = {name: total - sum(getattr(row, name) for row in rows) for name, total in totals.items()}
    if rows and any(rest.values()):  # a user of no namespace has no breakdown
        rows.append(NamespaceUsage(namespace=None, **rest))
    rows.sort(key=lambda row: (-row.cost, row.namespace is None, row.namespace or ""))
    return rows


def namespace_user_usage(user_id: str, item: dict[str, Any]) -> NamespaceUserUsage:
    """Map a user's usage item of a namespace (plain values) to a row of a namespace's usage by user."""
    return NamespaceUserUsage(
        user_id=user_id,
        sessions=int(item.get("sessions", 0)),
        active_sessions=int(item.get("active_sessions", 0)),
        messages=int(item.get("messages", 0)),
        tokens=int(item.get("tokens", 0)),
        cost=Decimal(item.get("cost", 0)),
    )
