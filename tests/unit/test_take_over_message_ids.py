"""A take-over's new session is new for message ids too (defect 7): before the stream has cleaned up the
old incarnation, an append naming a ``message_id`` the old one used stores a new message (201), a repeat of it is
the same message (200), another body under that id is a conflict (409), and reads by id find the new message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_service.errors import MessageConflict
from session_service.models import MessageCreate, MessageRole, SessionCreate
from session_service.repository import SessionRepository
from tests.conftest import TABLE

OWNER, TAKER = "old_owner", "new_owner"


class Clock:
    """A settable clock for the repository."""

    def __init__(self) -> None:
        self.now = datetime(2025, 10, 3, 9, 53, 9, 821305, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def said(content: str, message_id: str) -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=content, message_id=message_id)


def _old_session(store: SessionRepository, clock: Clock, ends: str) -> tuple[str, str]:
    """An old incarnation of a session id that used a client-chosen message id, then ended by ``ends`` (expiry or
    a permanent delete), and a new session of another user over the id; returns ``(session id, message id)``."""
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    store.create_session(OWNER, SessionCreate(user_id=OWNER, session_id=sid, ttl_seconds=60))
    assert store.append_messages(sid, OWNER, [said("the old owner's", mid)]).created
    if ends == "expiry":
        clock.advance(61)
    else:
        store.delete_session(sid, OWNER)
        clock.advance(1)
    assert store.create_session(TAKER, SessionCreate(user_id=TAKER, session_id=sid))[1]
    clock.advance(1)
    return sid, mid


@pytest.mark.parametrize("ends", ["expiry", "delete"])
@pytest.mark.parametrize("old_message", ["still there", "deleted before its reservation"])
def test_an_append_after_a_take_over_may_name_a_message_id_the_old_session_used(
    store: SessionRepository, ddb: Any, clock: Clock, ends: str, old_message: str
) -> None:
    sid, mid = _old_session(store, clock, ends)
    if old_message != "still there":  # the stream's clean-up deleted the old message, not yet its reservation
        old = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :msg)",
            ExpressionAttributeValues={":pk": {"S": f"SESSION#{sid}"}, ":msg": {"S": "MSG#"}},
        )["Items"]
        ddb.delete_item(TableName=TABLE, Key={"PK": old[0]["PK"], "SK": old[0]["SK"]})

    appended = store.append_messages(sid, TAKER, [said("the new owner's", mid)])

    assert appended.created and [m.content for m in appended] == ["the new owner's"]
    assert store.get_message(sid, TAKER, mid).content == "the new owner's"
    again = store.append_messages(sid, TAKER, [said("the new owner's", mid)])
    assert not again.created and [m.message_id for m in again] == [mid]
    with pytest.raises(MessageConflict):
        store.append_messages(sid, TAKER, [said("another body", mid)])
    assert [m.content for m in store.list_messages(sid, TAKER).messages] == ["the new owner's"]
    assert store.get_session(sid, TAKER).message_count == 1


def test_a_message_id_of_the_same_session_stays_taken(store: SessionRepository, clock: Clock) -> None:
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    store.create_session(OWNER, SessionCreate(user_id=OWNER, session_id=sid))
    store.append_messages(sid, OWNER, [said("first", mid)])
    clock.advance(1)
    with pytest.raises(MessageConflict):
        store.append_messages(sid, OWNER, [said("second", mid)])
