"""The statistics function reads from a stream record's images only the attributes the record's kind needs
(``session_service.stream.records.Needs``): a message's content, data and metadata, a session's title and data,
a memory record's content are never deserialised, and what the function computes is the same."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from session_service.data import keys as table_keys
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, MessageUpdate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import records
from session_service.stream.records import parse_record

pytestmark = pytest.mark.fresh_table  # the table's stream from its start

UNNEEDED = ("content", "data", "metadata", "title", "conversation_data", "memory_type", "role")
"""Attributes no kind of record is read from, each carried by some item of the workload."""
REJECTED = {"X": "a type the deserialiser rejects"}


def _workload(repo: SessionRepository) -> None:
    """Sessions with a title and data, messages with content and data, a streamed reply finalized, memory, a delete."""
    session, _ = repo.create_session("ned", SessionCreate(user_id="ned", title="Tea", metadata={"a": 1}))
    sid = session.session_id
    repo.append_messages(
        sid,
        "ned",
        [
            MessageCreate(
                role="user", content="Hi.", data={"k": [1, 2]}, tokens_used=2, cost_usd=Decimal("0.01"), model="m"
            )
        ],
    )
    reply = repo.append_messages(sid, "ned", [MessageCreate(role="assistant", content="", status="in_progress")])
    repo.add_chunk(sid, "ned", reply[0].message_id, ChunkCreate(index=0, content="Hello"))
    repo.update_message(sid, "ned", reply[0].message_id, MessageUpdate(status="completed"))
    repo.add_memory(sid, "ned", MemoryCreate(memory_type="entity", content="likes tea"))
    other, _ = repo.create_session("ned", SessionCreate(user_id="ned", title="Gone"))
    repo.delete_session(other.session_id, "ned")


def _rejecting(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every unneeded attribute of its images made a value the deserialiser rejects."""
    tampered = copy.deepcopy(record)
    for image in ("NewImage", "OldImage"):
        for name in UNNEEDED:
            if name in tampered["dynamodb"].get(image, {}):
                tampered["dynamodb"][image][name] = REJECTED
    return tampered


def test_unneeded_attributes_are_never_deserialised(repo: SessionRepository, reader: Any) -> None:
    # Given: the records of every kind of write, and the same records with content, data, metadata and titles
    # holding values that would fail a full deserialisation
    _workload(repo)
    workload = reader.drain()
    tampered = [_rejecting(r) for r in workload]
    assert sum(r != t for r, t in zip(workload, tampered, strict=True)) >= 6
    with pytest.raises(TypeError):  # a full read of the images, as the function did before, fails
        for record in tampered:
            _ = DynamoDBRecord(record).dynamodb.new_image  # type: ignore[union-attr]
    # Then: each reads into the same change (the session's image included), every kind of change among them
    for original, changed in zip(workload, tampered, strict=True):
        before, after = parse_record(DynamoDBRecord(original)), parse_record(DynamoDBRecord(changed))
        assert after == before and after.image == before.image
    kinds = {parse_record(DynamoDBRecord(r)).kind for r in tampered}
    assert {"session", "chunks", "other"} <= kinds


def test_a_message_record_converts_only_its_status_and_chunks(
    repo: SessionRepository, reader: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _workload(repo)
    messages = [r for r in reader.drain() if r["dynamodb"]["Keys"]["SK"]["S"].startswith(table_keys.MESSAGE_PREFIX)]
    assert messages
    converted: list[Any] = []
    real = records._deserializer.deserialize

    def counting(value: dict[str, Any]) -> Any:
        converted.append(value)
        return real(value)

    monkeypatch.setattr(records._deserializer, "deserialize", counting)
    for record in messages:
        converted.clear()
        parse_record(DynamoDBRecord(record))
        images = [record["dynamodb"].get(name, {}) for name in ("NewImage", "OldImage")]
        wanted = [image[name] for image in images for name in ("status", "chunks") if name in image]
        assert sorted(map(repr, converted)) == sorted(map(repr, wanted))  # each once, in any order
