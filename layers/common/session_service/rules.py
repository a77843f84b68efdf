"""The service's pure rules: no I/O, no clock, no boto3. Each takes items as read (plain values) or requests and
answers a question the operation families and the stream function ask:

* status transitions (:func:`predecessor`; the table itself is
  :data:`~session_service.models.ALLOWED_TRANSITIONS`, seed 002's state machine);
* the models cap (:func:`over_model_cap`, ``MAX_MODELS_PER_SESSION``);
* the counts a create moves when it takes over an expired session's id (:func:`take_over_moves`);
* cut visibility (:func:`visible`, :func:`past_cuts`, :func:`shows`, :func:`has_room_for_cut`): messages a
  truncation cut are hidden from every reader until the stream function deleted them; what a repeated truncation
  answers (:func:`truncated_before`).
"""

from __future__ import annotations

from typing import Any

from session_service.data.items import is_tombstone
from session_service.data.stats import MODELS, count_attribute, pairs_named
from session_service.models import ALLOWED_TRANSITIONS, MAX_MODELS_PER_SESSION, SessionStatus

MAX_PENDING_CUTS = 20
"""Truncations (cut ranges) a session may hold at once while the stream function deletes them: each is a term of
every message Query's filter, so the bound keeps reads short. Only truncations cut (finalizing a streamed reply and
deleting one message do not); a further one answers 429 until the stream function catches up (seconds)."""


def visible(sort_key: str, hot: dict[str, Any]) -> bool:
    """False when ``sort_key`` lies in one of the cuts of the session's hot item ``hot`` (deleted, waiting
    for the stream)."""
    return not any(str(c["from"]) <= sort_key <= str(c["to"]) for c in (hot.get("cuts") or {}).values())


def past_cuts(sort_key: str, hot: dict[str, Any]) -> str:
    """The lowest sort key at or above ``sort_key`` that no cut of the session ``hot`` holds: a reader paging
    through messages skips a cut's range instead of reading what it hides. (Above a cut's upper bound
    ``<message key>#~``, ``~`` appended, lies no message key of the range.)"""
    cuts = list((hot.get("cuts") or {}).values())
    for _ in range(len(cuts)):
        holding = [str(c["to"]) for c in cuts if str(c["from"]) <= sort_key <= str(c["to"])]
        if not holding:
            break
        sort_key = f"{max(holding)}~"
    return sort_key


def has_room_for_cut(hot: dict[str, Any]) -> bool:
    """False while the session ``hot`` holds :data:`MAX_PENDING_CUTS` cuts (the stream function is deleting them):
    a further deletion waits."""
    return len(hot.get("cuts") or {}) < MAX_PENDING_CUTS


def truncated_before(hot: dict[str, Any], first: str) -> int:
    """What the latest truncation whose cut begins at ``first`` deleted (its cut's ``deleted``), while its cut is
    pending in the session ``hot``; else 0. A truncation repeated (a retry after its answer was lost: its tail is
    gone) answers this, so its answer stays the one of the write that was applied."""
    cuts = [c for c in (hot.get("cuts") or {}).values() if str(c["from"]) == first and "deleted" in c]
    return int(max(cuts, key=lambda c: str(c["to"]))["deleted"]) if cuts else 0


def shows(hot: dict[str, Any], message: dict[str, Any]) -> bool:
    """True when ``message`` belongs to the session ``hot`` describes (its incarnation) and no cut hides it."""
    return str(message["created_at"]) >= str(hot["created_at"]) and visible(str(message["SK"]), hot)


def predecessor(target: SessionStatus) -> SessionStatus | None:
    """The one status from which ``target`` is reached (seed 002's state machine), or ``None`` (``active``)."""
    before = [status for status, nexts in ALLOWED_TRANSITIONS.items() if target in nexts]
    return before[0] if before else None


def over_model_cap(hot: dict[str, Any] | None, increments: dict[str, Any]) -> bool:
    """True when the session ``hot`` (as stored; ``None``: a new one) would name more than
    :data:`~session_service.models.MAX_MODELS_PER_SESSION` (provider, model) pairs with those ``increments`` give
    messages (:func:`~session_service.data.stats.pairs_named`)."""
    named = set(hot.get(MODELS, set())) if hot else set()
    return len(named | pairs_named(increments)) > MAX_MODELS_PER_SESSION


def take_over_moves(old: dict[str, Any], caller: str, created: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
    """How the counts move (``(user_id, deltas)``, one a user) when ``caller`` creates a session (its counts:
    ``created``) over the expired ``old``: its owner loses it, unless it is a tombstone (its delete moved the
    counts already)."""
    if is_tombstone(old):
        return [(caller, created)]
    gone = {count_attribute(None): -1, count_attribute(SessionStatus(old["status"])): -1}
    if old["user_id"] == caller:
        merged = dict(created)
        for name, delta in gone.items():
            merged[name] = merged.get(name, 0) + delta
        return [(caller, merged)]
    return [(caller, created), (str(old["user_id"]), gone)]
