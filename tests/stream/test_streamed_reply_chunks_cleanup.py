"""The chunks of a streamed reply leave the table once the reply is finalized or deleted: the stream function
deletes them when the reply's record shows it (defect 3: no cut waits for them, so finalizing a reply
never waits for the stream function). A reply still streaming keeps its chunks.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service.data import dynamo, items, keys
from session_service.models import ChunkCreate, MessageCreate, MessageRole, MessageStatus, MessageUpdate, SessionCreate
from session_service.repository import SessionRepository
from tests.support import settle

pytestmark = pytest.mark.fresh_table  # the stream is table-wide

TABLE = os.environ["TABLE_NAME"]


def _chunks(ddb: Any, sid: str) -> list[str]:
    """The sort keys of the chunk items left in the session's partition."""
    return [
        str(item["SK"])
        for item in map(dynamo.deserialize, dynamo.query_keys(ddb, TABLE, keys.session_pk(sid), "entity"))
        if item.get("entity") == items.CHUNK_ENTITY
    ]


def _reply(repo: SessionRepository, sid: str, user: str, chunks: int) -> str:
    (reply,) = repo.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    for index in range(chunks):
        repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=index, content=f"c{index} "))
    return reply.message_id


def test_finalized_and_deleted_replies_lose_their_chunks_streaming_ones_keep_them(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any, user: str
) -> None:
    # Given three streamed replies: one finalized, one deleted in progress, one still streaming
    sid = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    finalized, deleted, streaming = (_reply(repo, sid, user, n) for n in (3, 2, 4))
    done = repo.update_message(
        sid, user, finalized, MessageUpdate(status=MessageStatus.COMPLETED, tokens_used=5, cost_usd=Decimal("0.5"))
    )
    repo.delete_message(sid, user, deleted)
    hot = dynamo.deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])
    assert not hot.get("cuts")  # nothing waits for the stream function
    assert len(_chunks(ddb, sid)) == 9

    # When the stream function has applied every record
    settle(reader, handler)

    # Then only the streaming reply's chunks are left, and every reply reads as before
    left = _chunks(ddb, sid)
    assert len(left) == 4 and all(streaming in sk for sk in left)
    assert repo.get_message(sid, user, finalized) == done
    assert repo.get_message(sid, user, streaming).content == "c0 c1 c2 c3 "
    session = repo.get_session(sid, user)
    assert (session.message_count, session.total_tokens) == (2, 5)
