"""The commit of a batch: its counts, usage and applied marks in one transaction per run.

A run's transaction ``ADD``s the run's summed deltas to one ``STATS`` shard (the batch's,
:func:`~session_service.data.stats.stats_shard`: no item is written by every batch), to each touched user's ``COUNTS``,
``USAGE``, per-model and per-namespace usage items (a zero delta writes nothing), and moves each session's applied mark
to the state its last record left it in; summaries are not part of it (:mod:`~session_service.stream.summaries`). A
transaction holds at most 100 items (an AWS limit): a batch touching more is cut into consecutive runs of records. Each
mark is conditioned on being the mark read (``attribute_not_exists(PK) OR applied = :previous``), so two deliveries of a
record race safely: the loser's transaction is cancelled (:class:`MarksMoved`) and it reads the marks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from session_service.data import actions as table_actions
from session_service.data import dynamo, service_actions
from session_service.data import keys as table_keys
from session_service.data.dynamo import TransactionCanceled
from session_service.data.stats import MARK_APPLIED, MARK_SESSION
from session_service.stream.records import Change, Delta


class StreamApplyError(RuntimeError):
    """The derived writes could not be made after bounded retries; Lambda retries the batch."""


class MarksMoved(Exception):
    """A mark's condition failed: another delivery applied records first; re-read and recompute."""


class Stored(NamedTuple):
    """What is stored of a batch's sessions and users: the applied marks (session id -> mark), the starts
    (``started_at``) of the users' latest erasures (user id -> start)."""

    marks: dict[str, str]
    erasures: dict[str, str]


def read_stored(
    client: Any,
    table: str,
    session_ids: Iterable[str],
    user_ids: Iterable[str] = (),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Stored:
    """The applied marks of ``session_ids`` and the erasures of ``user_ids`` (a consistent batch read)."""
    keys = [table_keys.mark_key(i) for i in sorted(session_ids)]
    keys += [table_keys.erasure_key(user_id) for user_id in sorted(user_ids)]
    if not keys:
        return Stored({}, {})
    projection = f"SK, {MARK_SESSION}, {MARK_APPLIED}, user_id, started_at"
    found = dynamo.batch_get(client, table, keys, projection=projection, sleep=sleep)
    return Stored(
        {
            str(item[MARK_SESSION]): str(item.get(MARK_APPLIED, ""))
            for item in found
            if item["SK"] == table_keys.MARK_SK
        },
        {str(item["user_id"]): str(item["started_at"]) for item in found if item["SK"] == table_keys.ERASURE_SK},
    )


def read_incarnations(
    client: Any, table: str, session_ids: set[str], *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, str]:
    """The ``created_at`` of the hot items of ``session_ids`` that exist (a consistent batch read): read for the
    sessions without a mark, whose records are applied only while their incarnation is there
    (:func:`~session_service.stream.records.still_there`)."""
    if not session_ids:
        return {}
    keys = [table_keys.session_key(session_id) for session_id in sorted(session_ids)]
    found = dynamo.batch_get(client, table, keys, projection="session_id, created_at", sleep=sleep)
    return {str(item["session_id"]): str(item["created_at"]) for item in found}


def _usage_items(change: Change) -> set[tuple[str, str]]:
    """The usage items ``change`` moves: (owner, ``""``) for an owner's usage item, (owner, pair) for a per-model
    one, (owner, ``NS#<namespace>``) for a per-namespace one (each a transaction item of the commit; a pair is JSON,
    so never spelled like the last)."""
    found: set[tuple[str, str]] = set()
    for owner, part in change.usage.items():
        found.add((owner, ""))
        found.update((owner, pair) for pair in part.model_adds())
    found.update((owner, f"NS#{namespace}") for owner, namespace in change.namespace_usage)
    return found


def _runs(pending: Sequence[Change], max_items: int) -> list[list[Change]]:
    """``pending`` cut into consecutive runs whose items fit one transaction of ``max_items``. A run's items: STATS,
    the COUNTS of users with count moves, the USAGE of users with usage moves and their per-model and per-namespace
    usage items, a mark per session."""
    runs: list[list[Change]] = []
    counted: set[str] = set()
    used: set[tuple[str, str]] = set()
    sessions: set[str] = set()
    for change in pending:
        grown_counted = counted | ({change.user_id} if change.user_delta else set())
        grown_used, grown_sessions = used | _usage_items(change), sessions | {change.session_id}
        if not runs or 1 + len(grown_counted) + len(grown_used) + len(grown_sessions) > max_items:
            runs.append([])
            grown_counted = {change.user_id} if change.user_delta else set()
            grown_used, grown_sessions = _usage_items(change), {change.session_id}
        runs[-1].append(change)
        counted, used, sessions = grown_counted, grown_used, grown_sessions
    return runs


class Committer:
    """Writes a batch's pending changes (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table`` the session table, ``max_items`` the most items of one
    transaction (DynamoDB's 100; tests make it smaller), ``sleep`` injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_items: int = dynamo.MAX_TRANSACTION_ITEMS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._max_items = max_items
        self._sleep = sleep

    def write(self, pending: Sequence[Change], marks: dict[str, str], shard: int = 0) -> int:
        """Write ``pending`` in runs that each fit one transaction, in order, their statistics to the ``STATS`` shard
        ``shard``. ``marks`` (the marks read) follows what is committed. Returns the number of transactions made;
        raises :class:`MarksMoved` when another delivery moved a mark first (the runs before it are committed: their
        marks in ``marks`` say so)."""
        runs = _runs(pending, self._max_items)
        for run in runs:
            try:
                dynamo.transact_write(self._client, self._actions(run, marks, shard), sleep=self._sleep)
            except TransactionCanceled as canceled:
                raise MarksMoved() from canceled
            for change in run:
                marks[change.session_id] = change.mark
        return len(runs)

    def _actions(self, run: Sequence[Change], marks: dict[str, str], shard: int) -> list[dict[str, Any]]:
        """The transaction items of ``run``: ``ADD`` to the STATS shard ``shard``, to users' COUNTS, USAGE,
        per-model and per-namespace usage, and each session's mark moved on the condition that it is still the mark
        read (``marks``)."""
        total = Delta()
        per_user: dict[str, dict[str, int]] = {}
        usage: dict[str, Delta] = {}
        namespaced: dict[tuple[str, str], Delta] = {}
        final: dict[str, Change] = {}
        for change in run:
            total += change.delta
            if change.user_delta:
                owner = per_user.setdefault(change.user_id, {})
                for name, value in change.user_delta.items():
                    owner[name] = owner.get(name, 0) + value
            for user_id, part in change.usage.items():
                usage[user_id] = usage.get(user_id, Delta()) + part
            for pair, part in change.namespace_usage.items():
                namespaced[pair] = namespaced.get(pair, Delta()) + part
            final[change.session_id] = change
        actions: list[dict[str, Any]] = []
        if not total.totals_zero():
            stats_add = service_actions.StatsAdd(
                total.sessions, total.active, total.messages, total.tokens, total.cost, shard
            )
            actions.append(stats_add.render(self._table))
        for user_id, deltas in per_user.items():
            deltas = {name: value for name, value in deltas.items() if value}
            if deltas:
                actions.append(table_actions.add_action(self._table, table_keys.user_counts_key(user_id), deltas))
        for user_id, part in usage.items():
            actions += self._usage_adds(user_id, part)
        for (user_id, namespace), part in namespaced.items():
            adds = part.usage_adds()
            if adds:
                actions.append(service_actions.NamespaceUsageAdd(user_id, namespace, adds).render(self._table))
        actions += [
            service_actions.MarkMove(session_id, change.mark, marks.get(session_id)).render(self._table)
            for session_id, change in final.items()
        ]
        return actions

    def _usage_adds(self, user_id: str, part: Delta) -> list[dict[str, Any]]:
        """The ``ADD``s of ``part`` to the user's usage item and per-model usage items (each naming its pair)."""
        actions: list[dict[str, Any]] = []
        adds = part.usage_adds()
        if adds:
            actions.append(table_actions.add_action(self._table, table_keys.user_usage_key(user_id), adds))
        actions += [
            service_actions.ModelUsageAdd(user_id, pair, moves).render(self._table)
            for pair, moves in part.model_adds().items()
        ]
        return actions
