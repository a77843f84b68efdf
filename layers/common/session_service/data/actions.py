"""Typed transaction actions: each names one write of a TransactWriteItems and renders its request.

An operation composes its transaction from these (:func:`transact`) instead of building request dictionaries:
``transact(table, [PutNew(message), SessionActivity(...)])``. Each action's :meth:`render` gives the
``TransactItems`` entry for a table; a failed condition of an action that may fail returns the old item
(``ReturnValuesOnConditionCheckFailure``), so :class:`~session_service.data.dynamo.TransactionCanceled` tells
"missing" from "stale" by the action's position, without a second read. (PynamoDB's ``TransactWrite`` is the
model: typed condition checks, puts, updates and deletes instead of raw dictionaries.)

The session's own write, :class:`SessionActivity` (live, owned, active), has one owner here and every family
that moves a session composes it. The actions on the items outside a session's partition (a user's counts and
erasure, ``STATS``, per-model usage, the stream's marks) are :mod:`session_service.data.service_actions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from session_service.data.dynamo import Table, serialize, transact_write
from session_service.data.items import DELETED_STATUS, ERASED_BY
from session_service.data.keys import (
    GSI_ACTIVITY,
    GSI_NAMESPACE,
    GSI_STATUS,
    data_key,
    iso,
    key,
    parse_iso,
    session_key,
    status_index_prefix,
    user_counts_key,
)
from session_service.data.stats import (
    ERASING,
    MODELS,
    count_attribute,
    pairs_named,
)
from session_service.models import MAX_MODELS_PER_SESSION, SessionStatus, SessionTag

OLD_ON_FAILURE = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


class Action(Protocol):
    """One write of a transaction."""

    def render(self, table: str) -> dict[str, Any]:
        """The ``TransactItems`` entry of this write on ``table`` (DynamoDB JSON)."""
        ...


def transact(table: Table, actions: Sequence[Action], *, token: str | None = None) -> None:
    """Run ``actions`` as one TransactWriteItems (:func:`~session_service.data.dynamo.transact_write`: retried on
    conflicts). Raises :class:`~session_service.data.dynamo.TransactionCanceled` (reasons in the order of
    ``actions``), :class:`~session_service.errors.ServiceUnavailable`,
    :class:`~session_service.errors.StoreUnavailable`."""
    transact_write(table.client, [action.render(table.name) for action in actions], token=token)


@dataclass(frozen=True)
class Put:
    """Put ``item`` (plain values); with a ``condition`` (its ``values`` plain, attribute ``names``), the old
    item comes back when it fails."""

    item: dict[str, Any]
    condition: str | None = None
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None

    def render(self, table: str) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": table, "Item": serialize(self.item)}
        if self.condition:
            put.update({"ConditionExpression": self.condition, **OLD_ON_FAILURE})
            if self.values:
                put["ExpressionAttributeValues"] = serialize(self.values)
            if self.names:
                put["ExpressionAttributeNames"] = self.names
        return {"Put": put}


@dataclass(frozen=True)
class PutNew:
    """Put ``item``, which must not exist yet (``attribute_not_exists``); the old item comes back when it does."""

    item: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        return Put(self.item, "attribute_not_exists(PK)").render(table)


@dataclass(frozen=True)
class Delete:
    """Delete the item at ``key`` (DynamoDB JSON), unconditionally."""

    key: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        return {"Delete": {"TableName": table, "Key": self.key}}


@dataclass(frozen=True)
class Add:
    """``ADD`` each of ``deltas`` (attribute name -> number) to the item at ``key`` (creating it, or an attribute,
    from zero); with a ``condition`` on the item (no values)."""

    key: dict[str, Any]
    deltas: dict[str, Any]
    condition: str | None = None

    def render(self, table: str) -> dict[str, Any]:
        names = {f"#a{i}": name for i, name in enumerate(self.deltas)}
        update: dict[str, Any] = {
            "TableName": table,
            "Key": self.key,
            "UpdateExpression": "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(self.deltas))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({f":a{i}": value for i, value in enumerate(self.deltas.values())}),
        }
        if self.condition:
            update["ConditionExpression"] = self.condition
        return {"Update": update}


def add_action(table: str, key: dict[str, Any], deltas: dict[str, Any]) -> dict[str, Any]:
    """:class:`Add` rendered for ``table`` (the stream function's request dictionaries)."""
    return Add(key, deltas).render(table)


@dataclass(frozen=True)
class AddCounts:
    """``ADD`` ``deltas`` to a user's counts (:func:`~session_service.data.stats.count_attribute` names). When the
    user gains sessions, or ``unless_erasing`` is set, conditioned on the user's data not being erased
    (:data:`~session_service.data.stats.ERASING`): a create (or a status change) fails there while an erasure
    runs."""

    user_id: str
    deltas: dict[str, int]
    unless_erasing: bool = False

    def render(self, table: str) -> dict[str, Any]:
        gains = self.deltas.get(count_attribute(None), 0) > 0
        condition = f"attribute_not_exists({ERASING})" if gains or self.unless_erasing else None
        return Add(user_counts_key(self.user_id), self.deltas, condition).render(table)


@dataclass(frozen=True)
class SessionActivity:
    """The session's own write when something happens in it: on an active, live session ``caller`` owns, set
    ``last_activity``, ``updated_at`` (``now``) and ``expires_at`` (its idle TTL from ``now``), bump ``version``,
    ``ADD`` the ``increments`` (attribute -> number; any name: per-model usage attributes too), ``SET`` the
    ``sets`` (a path such as ``cuts.#cut`` -> value), and require ``condition`` too (its ``values`` named
    ``:<name>``, attribute names in ``names``). Pairs (provider, model) the increments give messages join the hot
    item's ``models`` set, on the condition that it stays within ``MAX_MODELS_PER_SESSION``: exactly, given
    ``known_pairs`` (the pairs the session was read to name); else a first guess that counts every pair as new
    unless the session names them all (a refused guess is made again from the stored set). The old item comes
    back when a condition fails."""

    session_id: str
    caller: str
    now: datetime
    increments: dict[str, Any] = field(default_factory=dict)
    sets: dict[str, Any] | None = None
    condition: str | None = None
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None
    known_pairs: set[str] | None = None
    old_on_failure: bool = True

    def render(self, table: str) -> dict[str, Any]:
        increments, condition, values = self.increments, self.condition, self.values
        names_also = self.names
        names = {"#status": "status"}
        assignments = ["last_activity = :now", "updated_at = :now", "expires_at = ttl_seconds + :epoch"]
        pairs = pairs_named(increments)
        if pairs:  # the session's set of (provider, model) pairs, capped (MAX_MODELS_PER_SESSION)
            increments = {**increments, MODELS: pairs}
            if self.known_pairs is None:  # a first guess: every pair is new, unless the session names them all
                listed = " AND ".join(f"contains(#models, :pair{number})" for number in range(len(pairs)))
                cap = f"(attribute_not_exists(#models) OR size(#models) <= :room OR ({listed}))"
                room, checked = MAX_MODELS_PER_SESSION - len(pairs), sorted(pairs)
            else:  # the pairs the session was read to name are still there (the set never shrinks): exact
                checked = sorted(self.known_pairs & pairs)
                listed = "".join(f" AND contains(#models, :pair{number})" for number in range(len(checked)))
                cap = f"(attribute_not_exists(#models) OR size(#models) <= :room){listed}"
                room = MAX_MODELS_PER_SESSION - len(pairs - self.known_pairs)
            condition = f"{condition} AND {cap}" if condition else cap
            names_also = {**(names_also or {}), "#models": MODELS}
            values = {**(values or {}), ":room": room}
            values.update({f":pair{number}": pair for number, pair in enumerate(checked)})
        # Placeholders for the names: a per-model usage attribute's name is no expression token.
        names.update({f"#i{number}": name for number, name in enumerate(increments)})
        expression_values: dict[str, Any] = {f":i{number}": value for number, value in enumerate(increments.values())}
        for number, (path, value) in enumerate((self.sets or {}).items()):
            assignments.append(f"{path} = :set{number}")
            expression_values[f":set{number}"] = value
        names.update(names_also or {})
        expression_values.update(values or {})
        expression_values.update(
            {
                ":now": iso(self.now),
                ":epoch": int(self.now.timestamp()),
                ":caller": self.caller,
                ":active": "active",
                ":one": 1,
            }
        )
        adds = "".join(f", #i{number} :i{number}" for number in range(len(increments)))
        live = "attribute_exists(PK) AND user_id = :caller AND #status = :active AND expires_at > :epoch"
        update: dict[str, Any] = {
            "TableName": table,
            "Key": session_key(self.session_id),
            "UpdateExpression": f"SET {', '.join(assignments)} ADD version :one{adds}",
            "ConditionExpression": f"{live} AND {condition}" if condition else live,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(expression_values),
        }
        if self.old_on_failure:
            update.update(OLD_ON_FAILURE)
        return {"Update": update}


@dataclass(frozen=True)
class SessionEdit:
    """A PUT's write of the session's hot item at ``now``: ``title`` (from ``changes``), and a transition
    ``before -> target`` when ``before`` is given, else ``target`` (if any) must be the current status (no
    ``target``: any status but a read-only one when something changes). Conditioned on the session being live
    and ``caller``'s, and on ``if_match`` (its version and incarnation: its ETag) when given; the old item comes
    back when it fails."""

    session_id: str
    caller: str
    now: datetime
    changes: dict[str, Any]
    target: SessionStatus | None
    before: SessionStatus | None
    if_match: SessionTag | None

    def render(self, table: str) -> dict[str, Any]:
        now, changes, target, before = self.now, self.changes, self.target, self.before
        values: dict[str, Any] = {":now": iso(now), ":one": 1, ":caller": self.caller, ":epoch": int(now.timestamp())}
        sets = ["updated_at = :now", "version = version + :one"]
        if "title" in changes:
            values[":title"] = changes["title"]
            sets.append("title = :title")
        if target is not None and before is not None:
            values.update({":target": target.value, ":index": f"{status_index_prefix(target)}{iso(now)}"})
            sets += ["#status = :target", f"{GSI_STATUS}SK = :index"]
            allowed = [before]
        elif target is not None:
            allowed = [target]
        else:
            allowed = [s for s in SessionStatus if not (s.is_read_only and changes)]
        values.update({f":s{i}": status.value for i, status in enumerate(allowed)})
        condition = (
            "attribute_exists(PK) AND user_id = :caller AND expires_at > :epoch"
            f" AND #status IN ({', '.join(f':s{i}' for i in range(len(allowed)))})"
        )
        if self.if_match is not None:
            values.update({":expected": self.if_match.version, ":incarnation": iso(self.if_match.created_at)})
            condition += " AND version = :expected AND created_at = :incarnation"
        return {
            "Update": {
                "TableName": table,
                "Key": session_key(self.session_id),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(values),
                **OLD_ON_FAILURE,
            }
        }


@dataclass(frozen=True)
class DataEdit:
    """Replace attributes of a session's data item (``metadata``, ``conversation_data``: JSON text)."""

    session_id: str
    data: dict[str, str]

    def render(self, table: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": data_key(self.session_id),
                "UpdateExpression": "SET " + ", ".join(f"{name} = :{name}" for name in self.data),
                "ExpressionAttributeValues": serialize({f":{name}": value for name, value in self.data.items()}),
            }
        }


@dataclass(frozen=True)
class MessageChange:
    """An ``Update`` (its ``expression``, ``names`` and ``values``, plain) or a ``Delete`` (no expression) of a
    message item as read, conditioned on its ``version``."""

    message: dict[str, Any]
    expression: str | None = None
    names: dict[str, str] | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def render(self, table: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": table,
            "Key": key(str(self.message["PK"]), str(self.message["SK"])),
            "ConditionExpression": "version = :version",
            "ExpressionAttributeValues": serialize({":version": int(self.message["version"]), **self.values}),
        }
        if self.expression is None:
            return {"Delete": request}
        request["UpdateExpression"] = self.expression
        if self.names is not None:
            request["ExpressionAttributeNames"] = self.names
        return {"Update": request}


@dataclass(frozen=True)
class Tombstone:
    """Turn the session ``hot`` (as read) into a tombstone at ``now`` (:func:`tombstone_update`), on
    ``condition`` (``#status`` names ``status``; its ``values`` plain); an ``erasure``'s tombstone says so
    (:data:`~session_service.data.items.ERASED_BY`). The old item comes back when the condition fails."""

    hot: dict[str, Any]
    now: datetime
    condition: str
    values: dict[str, Any]
    erasure: bool = False

    def render(self, table: str) -> dict[str, Any]:
        expression, own = tombstone_update(self.now)
        if self.erasure:
            expression = expression.replace(" REMOVE ", f", {ERASED_BY} = :erasure REMOVE ", 1)
            own[":erasure"] = True
        return {
            "Update": {
                "TableName": table,
                "Key": session_key(str(self.hot["session_id"])),
                "UpdateExpression": expression,
                "ConditionExpression": self.condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize({**own, **self.values}),
                **OLD_ON_FAILURE,
            }
        }


def tombstone_action(
    table: str, hot: dict[str, Any], now: datetime, condition: str, values: dict[str, Any], *, erasure: bool = False
) -> dict[str, Any]:
    """:class:`Tombstone` rendered for ``table`` (the erasure's request dictionaries)."""
    return Tombstone(hot, now, condition, values, erasure).render(table)


def tombstone_update(now: datetime) -> tuple[str, dict[str, Any]]:
    """The UpdateExpression (and its values, plain) turning a hot item into a tombstone at ``now``: status
    :data:`~session_service.data.items.DELETED_STATUS` (``#status`` names ``status``), ``expires_at`` the current
    epoch second (every reader treats it as gone at once, and a create takes the id over), no GSI keys (no listing
    reads it), no cuts (the stream function deletes the whole incarnation), ``updated_at`` the delete's time
    (:func:`~session_service.data.items.tombstone_bound`) and the version bumped (its stream record orders after
    every earlier one)."""
    expression = (
        "SET #status = :deleted, expires_at = :epoch, updated_at = :now, cuts = :no_cuts, version = version + :one"
        f" REMOVE {GSI_ACTIVITY}PK, {GSI_STATUS}PK, {GSI_NAMESPACE}PK"
    )
    values = {":deleted": DELETED_STATUS, ":epoch": int(now.timestamp()), ":now": iso(now), ":no_cuts": {}, ":one": 1}
    return expression, values


@dataclass(frozen=True)
class TakeOver:
    """Put a new session's ``hot`` item over the expired session ``old`` that TTL has not removed yet: conditioned
    on ``old`` still being that incarnation, expired by ``hot``'s ``created_at`` (an append to the old session is
    refused from its ``expires_at`` on, so every old item is older than the new incarnation), and not a tombstone
    an erasure is cleaning up (the erasure counts its sessions as they leave the table: the id is free again once
    it has left). The old item comes back when it fails."""

    old: dict[str, Any]
    hot: dict[str, Any]

    def render(self, table: str) -> dict[str, Any]:
        created_at = parse_iso(str(self.hot["created_at"]))
        values = {":incarnation": self.old["created_at"], ":created": int(created_at.timestamp())}
        condition = f"created_at = :incarnation AND expires_at <= :created AND attribute_not_exists({ERASED_BY})"
        return Put(self.hot, condition, values).render(table)


def owned_tombstone(hot: dict[str, Any], caller: str, now: datetime, if_match: SessionTag | None) -> Tombstone:
    """A permanent delete's :class:`Tombstone` of the session ``hot`` (as read): conditioned on being ``caller``'s,
    live at ``now``, and the incarnation and status read (and the version of the ETag ``if_match``, when given:
    its incarnation is checked against ``hot`` by the caller)."""
    condition = "user_id = :caller AND created_at = :incarnation AND #status = :was AND expires_at > :epoch"
    values: dict[str, Any] = {":caller": caller, ":epoch": int(now.timestamp())}
    if if_match is not None:
        condition += " AND version = :expected"
        values[":expected"] = if_match.version
    return Tombstone(hot, now, condition, {**values, ":incarnation": hot["created_at"], ":was": hot["status"]})
