"""Agents' conversations: the messages of one agent of a session, numbered from 0 in the order stored, read from
any position page by page, and one message found by its position.

An agent message is an ordinary message of the session (its counters, usage, export, erasure and summaries count
it) that also names its agent and carries its position as its LSI1 sort key (:mod:`session_service.data.keys`),
so a page is one Query of LSI1 from the position's key, whose cost grows neither with the position nor with the
other agents' messages; the session's hot item is read alongside (owner, liveness, cuts).
"""

from __future__ import annotations

from session_service import rules
from session_service.data import reads
from session_service.data.items import message_from_item
from session_service.data.keys import LSI_MESSAGE_ID, MAX_POSITION, position_of
from session_service.errors import MessageNotFound
from session_service.models import Message
from session_service.models.responses import AgentMessageList
from session_service.operations import Store

AT_ONE_POSITION = 10
"""Items one position's Query reads: the session's message and those older incarnations of its id left."""


def list_agent_messages(
    store: Store, session_id: str, caller: str, agent_id: str, *, offset: int = 0, limit: int = 100
) -> AgentMessageList:
    """The messages of the agent ``agent_id`` from position ``offset`` on, at most ``limit``, in order (a position
    whose message was deleted is skipped: positions are never reused), and the position to read next
    (``next_offset``, ``None`` when the agent has no more). Raises :class:`SessionNotFound`."""
    hot, items, more = reads.hot_and_agent_messages(
        store.table, store.clock, session_id, caller, agent_id, offset, MAX_POSITION, limit
    )
    shown = [item for item in items if rules.shows(hot, item)]
    messages = [message_from_item(reads.with_content(store.table, item), caller) for item in shown]
    # The Query stopped at the limit (or at 1 MB): the next page starts past the last position it read.
    last = position_of(str(items[-1][f"{LSI_MESSAGE_ID}SK"])) if more and items else None
    return AgentMessageList(messages=messages, next_offset=last + 1 if last is not None else None)


def get_agent_message(store: Store, session_id: str, caller: str, agent_id: str, position: int) -> Message:
    """The message at ``position`` of the agent ``agent_id``'s conversation. Raises :class:`SessionNotFound`,
    :class:`MessageNotFound` (none there, or deleted)."""
    # More than one: an older incarnation of the session id may hold a message at the same position until the stream
    # function removes it (an LSI's sort keys need not be unique).
    hot, items, _ = reads.hot_and_agent_messages(
        store.table, store.clock, session_id, caller, agent_id, position, position, AT_ONE_POSITION
    )
    shown = [item for item in items if rules.shows(hot, item)]
    if not shown:
        raise MessageNotFound()
    return message_from_item(reads.with_content(store.table, shown[0]), caller)
