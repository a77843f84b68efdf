"""Issue 18, defect 2: an erasure whose progress record's stream record is lost (Lambda's retries ran out: sent to
the on-failure queue) stays ``erasing`` no longer. A request of the user (``GET .../erasure``, or the erasure asked
again) that finds the record still for ``ERASURE_STALL_SECONDS`` nudges it, and the nudge's stream record drives the
erasure on to the end, with nothing of the user left.

Each test drives the real stream handler with the moto table's stream records, dropping the one record chosen (the
first, a middle or the last of the progress record's records that bring a pass) instead of handing it over.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service.models import MemoryCreate, MemoryType, MessageCreate, SessionCreate
from session_service.operations import users
from session_service.repository import SessionRepository
from session_service.stream import erasure
from tests.support import Handle, mentioning, settle

pytestmark = pytest.mark.fresh_table

TABLE = os.environ["TABLE_NAME"]
USER = "user-erin"
SESSIONS = 3

Record = dict[str, Any]


def _progress(record: Record) -> dict[str, Any] | None:
    """The new image of a running erasure's progress record (``None`` for any other record)."""
    keys = record["dynamodb"]["Keys"]
    image = record["dynamodb"].get("NewImage")
    if keys["SK"]["S"] != "PROGRESS" or not image or image["status"]["S"] != "erasing":
        return None
    return {name: int(image[name]["N"]) for name in ("sessions_erased", "sessions_cleared", "passes")}


DROPS: dict[str, Callable[[Record], bool]] = {
    # The request's INSERT: no pass ever starts.
    "first": lambda r: r["eventName"] == "INSERT" and _progress(r) is not None,
    # The first pass's write (two sessions turned into tombstones), whose record brings the next pass.
    "middle": lambda r: (_progress(r) or {}).get("passes") == 1,
    # The clean-up's count of the last session, whose record brings the pass that finishes.
    "last": lambda r: (p := _progress(r)) is not None and p["sessions_cleared"] == p["sessions_erased"] == SESSIONS,
}


class _Dropping:
    """``reader`` with the first record ``drop`` selects dropped (dead-lettered), in ``dropped``."""

    def __init__(self, reader: StreamReader, drop: Callable[[Record], bool]) -> None:
        self.reader, self.drop = reader, drop
        self.dropped: list[Record] = []

    def drain(self) -> list[Record]:
        kept: list[Record] = []
        for record in self.reader.drain():
            if not self.dropped and self.drop(record):
                self.dropped.append(record)
            else:
                kept.append(record)
        return kept


def _user_data(repo: SessionRepository) -> list[str]:
    ids = []
    for n in range(SESSIONS):
        session, _ = repo.create_session(USER, SessionCreate(user_id=USER, title=f"s{n}"))
        repo.append_messages(
            session.session_id, USER, [MessageCreate(role="user", content=f"secret {n}", tokens_used=2)]
        )
        repo.add_memory(session.session_id, USER, MemoryCreate(memory_type=MemoryType.CUSTOM, content=f"remember {n}"))
        ids.append(session.session_id)
    return ids


@pytest.mark.parametrize("which", list(DROPS))
def test_an_erasure_whose_progress_record_was_dead_lettered_finishes_once_its_user_asks(
    which: str,
    repo: SessionRepository,
    ddb: Any,
    reader: StreamReader,
    handler: Handle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(erasure, "SESSIONS_PER_PASS", 2)  # several passes
    # Given erin's sessions with messages and memory, applied, and her erasure asked for
    ids = _user_data(repo)
    settle(reader, handler)
    repo.erase_user(USER)
    # When one record of the progress is dead-lettered (records handed over one per batch: each pass is the one
    # its own record brings)
    dropping = _Dropping(reader, DROPS[which])
    settle(dropping, handler, batch_size=1, rounds=200)
    assert len(dropping.dropped) == 1
    stranded = repo.erasure(USER).status == "erasing"
    if which != "middle":  # the first and the last strand it: nothing else brings a pass
        assert stranded
    # A look before the stall time nudges nothing (the stream stays quiet)
    assert not users.nudge_if_stalled(repo._store, USER, ddb_item(ddb))
    assert reader.drain() == []
    # Then once the progress stayed still for the stall time, erin's next look restarts it
    monkeypatch.setattr(users, "ERASURE_STALL_SECONDS", 0)
    repo.erasure(USER)
    settle(reader, handler)
    # And it finishes, with nothing of erin left
    assert repo.erasure(USER).status == "erased"
    assert mentioning(ddb, TABLE, USER, *ids) == [(f"ERASURE#{USER}", "PROGRESS")]


def test_asking_again_nudges_a_stalled_erasure(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given erin's erasure, whose first record was dead-lettered
    _user_data(repo)
    settle(reader, handler)
    repo.erase_user(USER)
    settle(_Dropping(reader, DROPS["first"]), handler)
    assert repo.erasure(USER).status == "erasing"
    # When erin asks for her erasure again before the stall time: nothing is written
    repo.erase_user(USER)
    assert "nudges" not in ddb_item(ddb)
    # And after it: the record is nudged (its MODIFY brings a pass, as the tests above show; moto's stream loses the
    # records written after a cancelled transaction, so this one is not followed through the stream here)
    monkeypatch.setattr(users, "ERASURE_STALL_SECONDS", 0)
    repo.erase_user(USER)
    assert int(ddb_item(ddb)["nudges"]) == 1
    assert repo.erasure(USER).status == "erasing"


def test_concurrent_nudges_write_once(repo: SessionRepository, ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.erase_user(USER)
    seen = ddb_item(ddb)
    monkeypatch.setattr(users, "ERASURE_STALL_SECONDS", 0)
    assert users.nudge_if_stalled(repo._store, USER, seen)
    assert not users.nudge_if_stalled(repo._store, USER, seen)  # read before the first nudge: it moved since
    assert int(ddb_item(ddb)["nudges"]) == 1


def ddb_item(ddb: Any) -> dict[str, Any]:
    from session_service.data import dynamo

    found = ddb.get_item(
        TableName=TABLE, Key={"PK": {"S": f"ERASURE#{USER}"}, "SK": {"S": "PROGRESS"}}, ConsistentRead=True
    )
    return dynamo.deserialize(found["Item"])
