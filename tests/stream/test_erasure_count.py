"""Issue 18, defect 6: an erasure's ``items_deleted`` is exact under stream faults: it equals the number of the
user's items before the erasure, when a batch fails after its deletes (Lambda delivers it again whole) and when
the answer of a write that counts is lost (the write applied, the batch failed: delivered again)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from session_service.data import dynamo
from session_service.errors import ServiceUnavailable
from session_service.models import MemoryCreate, MemoryType, MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from tests.support import Handle, mentioning, scan

pytestmark = pytest.mark.fresh_table

TABLE = os.environ["TABLE_NAME"]
USER = "user-finn"


def _user_items(ddb: Any, ids: list[str]) -> int:
    return len([key for key in mentioning(ddb, TABLE, USER, *ids) if not key[0].startswith("ERASURE#")])


def _after_once(real: Callable[..., Any], hit: Callable[..., bool], seen: set[str]) -> Callable[..., Any]:
    """``real``, but the first call ``hit`` selects for each key of its arguments runs and then fails, as if its
    answer (or the batch after it) was lost."""

    def call(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        name = repr((args[1:], sorted(kwargs.items())))[:400]
        if hit(*args, **kwargs) and name not in seen:
            seen.add(name)
            raise ServiceUnavailable()
        return result

    return call


def _settle_with_retries(reader: Any, handler: Handle) -> int:
    """Apply the stream until quiet, a record a batch, each failed batch delivered again (as Lambda does);
    returns the failures."""
    failures = 0
    for _ in range(400):
        records = reader.drain()
        if not records:
            return failures
        for record in records:
            for _attempt in range(10):
                try:
                    handler([record])
                    break
                except ServiceUnavailable:
                    failures += 1
            else:
                raise AssertionError("a batch kept failing")
    raise AssertionError("the stream was not quiet")


def test_items_deleted_counts_every_item_of_the_user_once_under_faults(
    repo: SessionRepository, ddb: Any, reader: Any, handler: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given finn's sessions with messages and memory records, applied
    ids = []
    for n in range(3):
        session, _ = repo.create_session(USER, SessionCreate(user_id=USER))
        repo.append_messages(
            session.session_id,
            USER,
            [MessageCreate(role="user", content=f"m{n}.{i}", tokens_used=1, model="m1") for i in range(3)],
        )
        repo.add_memory(session.session_id, USER, MemoryCreate(memory_type=MemoryType.CUSTOM, content=f"r{n}"))
        ids.append(session.session_id)
    _settle_with_retries(reader, handler)
    before = _user_items(ddb, ids)
    assert before > 3 * 6
    # When every delete of the erasure fails once after it deleted (the batch is delivered again), and every
    # write that counts fails once after it applied (its answer lost)
    seen: set[str] = set()
    monkeypatch.setattr(dynamo, "delete_keys", _after_once(dynamo.delete_keys, lambda *a, **k: bool(a[2]), seen))
    counting = "ERASURE#"

    def counts(*args: Any, **kwargs: Any) -> bool:
        return counting in repr(args) + repr(kwargs)

    monkeypatch.setattr(dynamo, "transact_write", _after_once(dynamo.transact_write, counts, seen))
    monkeypatch.setattr(dynamo, "conditional", _after_once(dynamo.conditional, counts, seen))
    repo.erase_user(USER)
    failures = _settle_with_retries(reader, handler)
    assert failures >= 5, failures
    # Then the erasure finishes with nothing of finn left, and counts each of finn's items exactly once
    assert repo.erasure(USER).status == "erased"
    assert mentioning(ddb, TABLE, USER, *ids) == [(f"ERASURE#{USER}", "PROGRESS")]
    assert repo.erasure(USER).items_deleted == before, (failures, before)
    assert len(scan(ddb, TABLE)) > 0
