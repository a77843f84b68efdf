"""A user's export (SPEC section 9, GDPR article 15): pages of NDJSON lines, resumable by cursor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from session_service import rules
from session_service.data import reads
from session_service.data.dynamo import deserialize, serialize
from session_service.data.items import memory_from_item, message_from_item, session_from_items
from session_service.data.keys import (
    COUNTS_SK,
    DATA_SK,
    MEMORY_PREFIX,
    MESSAGE_END,
    SESSION_SK,
    STATE_PREFIX,
    SUMMARY_SK,
    USER_STATE_PREFIX,
    after_message,
    key,
    message_start,
    session_id_of,
    session_pk,
    user_pk,
    user_state_namespace,
)
from session_service.data.reads import messages_query, user_sessions_query
from session_service.data.state import agent_of, is_current, shared_state_from_item, state_from_item
from session_service.data.stats import erasing
from session_service.errors import InvalidCursor, SessionNotFound
from session_service.models import ExportType as Line
from session_service.models import export_line
from session_service.operations import Store

MAX_EXPORT_PAGE_BYTES = 6_291_456 - 64 * 1024
"""What one page of a user's export may weigh: Lambda's synchronous response is at most 6 MB (6,291,456 bytes,
the payload limit of "Lambda quotas"), and that is the JSON document the runtime writes, in which the NDJSON body
is one escaped string. Lines are counted as escaped (:func:`_escaped_size`); 64 KiB are left for the status,
the headers (the ``Next-Token`` cursor is at most 2 KiB) and the document's own syntax."""
EXPORT_PARTS = ("user_state", "session", "state", "messages", "memory")
"""Where a page of an export may stop: among the user's state documents (before any session), or within a
session: before its line, among its state documents, among its messages, or among its memory records."""


def _escaped_size(line: str) -> int:
    """Bytes ``line`` and its newline take in the runtime's JSON response: ``json.dumps`` escapes a quote, a
    backslash or a control character in two to six bytes and, with ASCII escapes, a non-ASCII character in six
    (twelve beyond the BMP), the most any JSON writer spends."""
    return len(json.dumps(line))  # the two quotes it adds weigh what the escaped newline does ("\\n")


@dataclass
class _ExportPage:
    """The lines of one export page so far: at most ``lines`` of them, within ``budget`` escaped bytes."""

    lines: int
    budget: int
    taken: list[str] = field(default_factory=list)
    size: int = 0

    @property
    def room(self) -> int:
        """Lines the page may still take."""
        return self.lines - len(self.taken)

    def add(self, line: str) -> bool:
        """Take ``line`` unless the page is full (its count, or its bytes: a page takes its first line anyway,
        and no record weighs near the budget); return whether it was taken."""
        size = _escaped_size(line)
        if self.room <= 0 or (self.taken and self.size + size > self.budget):
            return False
        self.taken.append(line)
        self.size += size
        return True


def export_user(
    store: Store, caller: str, page_size: int, next_token: str | None = None
) -> tuple[list[str], str | None]:
    """A page of the caller's data (SPEC section 9, GDPR article 15): ``(lines, next_token)``, each line the
    JSON of a session, message, memory record or state document as the API returns it plus ``type``
    (:func:`~session_service.models.export_line`); ``next_token`` is ``None`` on the last page. The user's state
    documents (``user_state``, one per namespace, by sort key) come first; each session's own and its agents'
    (``session_state``) follow its line.

    Every record of the caller's sessions appears exactly once across the pages, while the caller keeps
    writing: the pages go through the sessions in ``session_id`` order (GSI1's sort key, activity, moves
    while they chat; an id does not), each session as its line, its visible messages oldest first (a
    reply still streaming with its content so far), then its memory records; the cursor names the session,
    the part and the last sort key emitted. A record written behind the cursor is not in the export (it
    did not exist when the export passed there); one ahead of it is. A session expired or deleted is left
    out, as is one whose id was taken over by a new session while a page stopped inside it.

    Each page reads the caller's counts (an erasure running ends the export) and session keys (GSI1, keys only),
    then each session it reaches in one Query of its partition (:func:`_session_records`: its session items,
    state documents, messages and memory records together; part by part, each Query's ``Limit`` what the page
    still takes, past a Query's page of 1 MB, and one Query more of its state documents). The first page reads
    the counts and the user's state documents in one Query of the user's partition (:func:`_user_documents`).
    The least any export of this table can do is one request per session (a BatchGetItem of
    sessions' items would charge each item rounded up to 4 KB; a Query charges their total size). A page holds
    ``page_size`` lines, fewer when the next line would take it past :data:`MAX_EXPORT_PAGE_BYTES` (Lambda's 6 MB
    response), and may be empty when the previous one ended exactly at the end. Raises
    :class:`~session_service.errors.InvalidCursor` for a cursor altered or issued for another caller.
    """
    scope = f"export|{caller}"
    position = _export_position(store, scope, next_token) if next_token else None
    page = _ExportPage(page_size, MAX_EXPORT_PAGE_BYTES)
    if position is None or position["p"] == "user_state":
        after = position["k"] if position is not None else None
        documents = _user_documents(store, caller, after)
        if documents is None:  # gone for every reader from the moment the erasure was accepted
            return [], None
        for item in documents:
            namespace = user_state_namespace(str(item["SK"]))
            if not page.add(export_line(Line.USER_STATE, shared_state_from_item("user", namespace, caller, item))):
                return page.taken, store.cursors.encode(scope, {"s": "", "c": "", "p": "user_state", "k": after})
            after = str(item["SK"])
        position = None
    elif reads.user_erasing(store.table, caller):  # gone for every reader from the moment the erasure was accepted
        return [], None
    for session_id in _session_ids(store, caller):
        if position is not None and session_id < position["s"]:
            continue
        if page.room <= 0:
            return page.taken, store.cursors.encode(scope, {"s": session_id, "c": "", "p": "session", "k": None})
        resume = position if position is not None and session_id == position["s"] else None
        stop = _export_session(store, session_id, caller, resume, page)
        if stop is not None:
            return page.taken, store.cursors.encode(scope, stop)
    return page.taken, None


def _export_position(store: Store, scope: str, token: str) -> dict[str, Any]:
    """The position an export cursor holds: ``s`` session id, ``c`` its incarnation, ``p`` the part
    (:data:`EXPORT_PARTS`), ``k`` the last sort key emitted in it. Raises :class:`InvalidCursor`."""
    position = store.cursors.decode(scope, token)
    shaped = (
        isinstance(position.get("s"), str)
        and isinstance(position.get("c"), str)
        and position.get("p") in EXPORT_PARTS
        and (position.get("k") is None or isinstance(position.get("k"), str))
    )
    if not shaped:  # pragma: no cover - only a key holder could sign another shape
        raise InvalidCursor()
    return position


def _user_documents(store: Store, caller: str, after: str | None) -> list[dict[str, Any]] | None:
    """The caller's state documents (by sort key, past ``after``, the last one exported), or ``None`` while the
    caller's data is being erased. From the start: one consistent Query of the user's partition from ``COUNTS`` to
    the last document (the counts, the few small usage items between, dropped, and the documents: a key cannot be
    filtered on); resumed: the counts' GetItem and a Query of the documents past ``after``."""
    if after is None:
        query = {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :counts AND :last",
            "ExpressionAttributeValues": serialize(
                {":pk": user_pk(caller), ":counts": COUNTS_SK, ":last": f"{USER_STATE_PREFIX}~"}
            ),
            "ConsistentRead": True,
        }
        found = store.table.query_all(query)
        if erasing(next((item for item in found if item["SK"] == COUNTS_SK), None)):
            return None
        return [item for item in found if str(item["SK"]).startswith(USER_STATE_PREFIX)]
    if reads.user_erasing(store.table, caller):
        return None
    query = {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": serialize({":pk": user_pk(caller), ":prefix": USER_STATE_PREFIX}),
        "ConsistentRead": True,
        "ExclusiveStartKey": key(user_pk(caller), after),
    }
    return store.table.query_all(query)


def _state_documents(store: Store, hot: dict[str, Any]) -> list[dict[str, Any]]:
    """The state documents of the session ``hot`` (its agents', then its own; of its incarnation): one consistent
    Query of ``begins_with(SK, STATE#)``, for a partition too large for :func:`_session_records`' one Query."""
    query = {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": serialize({":pk": session_pk(str(hot["session_id"])), ":prefix": STATE_PREFIX}),
        "ConsistentRead": True,
    }
    return [item for item in store.table.query_all(query) if is_current(item, hot)]


def _session_ids(store: Store, caller: str) -> list[str]:
    """The ids of the caller's sessions in GSI1 (keys only, every page of it), in ``session_id`` order."""
    query = {**user_sessions_query(store.table.name, caller), "ProjectionExpression": "PK"}
    ids = {session_id_of(str(row["PK"])) for row in store.table.query_all(query)}
    return sorted(session_id for session_id in ids if session_id)


def _export_session(
    store: Store, session_id: str, caller: str, resume: dict[str, Any] | None, page: _ExportPage
) -> dict[str, Any] | None:
    """Add what is left of one session to ``page`` (all of it, or from the ``resume`` position); return the
    position to continue from when the page filled, ``None`` when the session is done or not live."""
    whole = _session_records(store, session_id)
    records: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    documents: list[dict[str, Any]] | None = None
    if whole is None:  # more than a Query's page: its session items, then its records part by part
        try:
            found = reads.session_items(store.table, store.clock, session_id, caller, SESSION_SK, DATA_SK, SUMMARY_SK)
        except SessionNotFound:
            return None
    else:
        found, records, documents = whole[0], (whole[1], whole[2]), whole[3]
    hot = found.get(SESSION_SK)
    if hot is None or not store.is_live(hot, caller):
        return None  # expired or deleted (since the last page)
    if resume is not None and resume["p"] != "session" and hot["created_at"] != resume["c"]:
        return None  # expired, and its id taken by a session created after the export began
    at = {"s": session_id, "c": str(hot["created_at"])}
    part, after = "state", None
    if resume is None or resume["p"] == "session":
        session = session_from_items(hot, found.get(DATA_SK), found.get(SUMMARY_SK))
        if not page.add(export_line(Line.SESSION, session)):
            return {**at, "p": "session", "k": None}
    else:
        part, after = str(resume["p"]), resume["k"]
    if part == "state":
        for item in documents if documents is not None else _state_documents(store, hot):
            if after is not None and str(item["SK"]) <= after:
                continue
            document = state_from_item(session_id, agent_of(str(item["SK"])), item)
            if not page.add(export_line(Line.SESSION_STATE, document)):
                return {**at, "p": "state", "k": after}
            after = str(item["SK"])
        part, after = "messages", None
    if records is not None:
        return _export_records(store, hot, page, at, (part, after), *records)
    if part == "messages":
        done, after = _export_messages(store, hot, page, after)
        if not done:
            return {**at, "p": "messages", "k": after}
        after = None
    done, after = _export_memories(store, hot, page, after)
    return None if done else {**at, "p": "memory", "k": after}


def _session_records(
    store: Store, session_id: str
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] | None:
    """A session's partition in one consistent Query of the sort keys from ``MEM#`` to ``STATE#~`` (memory
    records, client-chosen ids' reservations, messages, the hot, data and summary items, then the state
    documents), whoever owns it: its session items by sort key, its messages (the hot item's incarnation's,
    visible) oldest first, its memory records (of that incarnation) by type then oldest first and its state
    documents (of that incarnation: its agents', then its own); ``None`` when the partition takes more than the
    Query's one page (1 MB), read then part by part."""
    response = store.table.query(
        {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": serialize(
                {":pk": session_pk(session_id), ":first": MEMORY_PREFIX, ":last": f"{STATE_PREFIX}~"}
            ),
            "ConsistentRead": True,
        }
    )
    if "LastEvaluatedKey" in response:
        return None
    found = [deserialize(raw) for raw in response.get("Items", [])]
    sessions = {str(item["SK"]): item for item in found if str(item["SK"]).startswith(SESSION_SK)}
    hot = sessions.get(SESSION_SK)
    if hot is None:
        return sessions, [], [], []
    incarnation = str(hot["created_at"])
    messages = [
        item
        for item in found
        if MESSAGE_END > str(item["SK"]) >= message_start(incarnation) and rules.visible(str(item["SK"]), hot)
    ]
    memories = [
        item
        for item in found
        if str(item["SK"]).startswith(MEMORY_PREFIX) and str(item.get("created_at", "")) >= incarnation
    ]
    documents = [item for item in found if str(item["SK"]).startswith(STATE_PREFIX) and is_current(item, hot)]
    return sessions, messages, memories, documents


def _export_records(
    store: Store,
    hot: dict[str, Any],
    page: _ExportPage,
    at: dict[str, Any],
    position: tuple[str, str | None],
    messages: list[dict[str, Any]],
    memories: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Add a session's ``messages`` then its ``memories`` (:func:`_session_records`) past ``position`` (the part,
    and the last sort key emitted in it) to ``page``; return the position to continue from when the page filled,
    ``None`` when they all fit."""
    part, after = position
    if part == "messages":
        for item in messages:
            if after is not None and str(item["SK"]) <= after:
                continue
            message = message_from_item(reads.with_content(store.table, item), str(hot["user_id"]))
            if not page.add(export_line(Line.MESSAGE, message)):
                return {**at, "p": "messages", "k": after}
            after = str(item["SK"])
        after = None
    for item in memories:
        if after is not None and str(item["SK"]) <= after:
            continue
        if not page.add(export_line(Line.MEMORY, memory_from_item(item))):
            return {**at, "p": "memory", "k": after}
        after = str(item["SK"])
    return None


def _export_messages(
    store: Store, hot: dict[str, Any], page: _ExportPage, after: str | None
) -> tuple[bool, str | None]:
    """Add the session's visible messages above sort key ``after`` to ``page``, oldest first; return whether they
    all fit, and the sort key of the last one added (``after`` when none was). Cuts are skipped by key
    (:func:`~session_service.rules.past_cuts`), not read."""
    first = after_message(after) if after else message_start(str(hot["created_at"]))
    while page.room > 0:
        query = messages_query(store.table.name, hot, newest_first=False, first=rules.past_cuts(first, hot))
        response = store.table.query(query, Limit=min(page.room, 1000))
        rows = [deserialize(raw) for raw in response.get("Items", [])]
        for item in rows:
            if not rules.visible(str(item["SK"]), hot):
                continue
            message = message_from_item(reads.with_content(store.table, item), str(hot["user_id"]))
            if not page.add(export_line(Line.MESSAGE, message)):
                return False, after
            after = str(item["SK"])
        if "LastEvaluatedKey" not in response:
            return True, after
        first = after_message(str(rows[-1]["SK"]))
    return False, after


def _export_memories(
    store: Store, hot: dict[str, Any], page: _ExportPage, after: str | None
) -> tuple[bool, str | None]:
    """Add the session's memory records above sort key ``after`` to ``page`` (by type, then oldest first); return
    whether they all fit, and the sort key of the last one added (``after`` when none was)."""
    session_id = str(hot["session_id"])
    query = reads.memories_query(session_id, None, str(hot["created_at"]))
    start_key = key(session_pk(session_id), after) if after else None
    while page.room > 0:
        extra: dict[str, Any] = {"Limit": min(page.room, 1000)}
        if start_key:
            extra["ExclusiveStartKey"] = start_key
        response = store.table.query(query, **extra)
        for item in map(deserialize, response.get("Items", [])):
            if not page.add(export_line(Line.MEMORY, memory_from_item(item))):
                return False, after
            after = str(item["SK"])
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return True, after
    return False, after
