"""The clean-up of a deleted incarnation (defect 1): the items created before the delete go, and so do
those a request that committed before the tombstone wrote with a later time, but never a later incarnation's
items; the hot item is read only when items above the delete's time are found."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from session_service.data import dynamo, keys
from session_service.stream.cleanup import Cleanup

pytestmark = pytest.mark.fresh_table

DELETED, BOUND, LATE, LATER = (
    "2025-10-03T09:00:00.000000Z",
    "2025-10-03T10:00:00.000001Z",
    "2025-10-03T10:00:00.500000Z",
    "2025-10-03T10:00:01.000000Z",
)


def _put(ddb: Any, sid: str, sort_key: str, created_at: str, **more: Any) -> None:
    item = {"PK": {"S": keys.session_pk(sid)}, "SK": {"S": sort_key}, "created_at": {"S": created_at}, **more}
    ddb.put_item(TableName=os.environ["TABLE_NAME"], Item=item)


def _left(ddb: Any, sid: str) -> list[str]:
    return sorted(raw["SK"]["S"] for raw in dynamo.query_keys(ddb, os.environ["TABLE_NAME"], keys.session_pk(sid)))


@pytest.mark.parametrize("hot", ["tombstone", "later incarnation", "none"])
def test_a_deleted_incarnation_goes_whole_and_a_later_one_stays(ddb: Any, hot: str) -> None:
    sid = str(uuid.uuid4())
    _put(ddb, sid, "MSG#early", DELETED)
    _put(ddb, sid, "MEM#entity#raced", LATE)  # a memory record that committed before the tombstone
    if hot == "tombstone":
        _put(ddb, sid, keys.SESSION_SK, DELETED, status={"S": "deleted"})
    elif hot == "later incarnation":
        _put(ddb, sid, keys.SESSION_SK, LATER)
        _put(ddb, sid, "MSG#new", LATER)
    calls: list[str] = []
    ddb.meta.events.register("before-call.dynamodb.GetItem", lambda **_: calls.append("GetItem"))

    deleted = Cleanup(ddb, os.environ["TABLE_NAME"]).delete_contents(sid, BOUND, DELETED)

    kept = {"tombstone": ["SESSION"], "later incarnation": ["MSG#new", "SESSION"], "none": []}[hot]
    assert (deleted, _left(ddb, sid), calls) == (2, kept, ["GetItem"])


def test_without_items_above_the_delete_no_hot_item_is_read(ddb: Any) -> None:
    sid = str(uuid.uuid4())
    _put(ddb, sid, "MSG#early", DELETED)
    _put(ddb, sid, keys.SESSION_SK, DELETED, status={"S": "deleted"})
    calls: list[str] = []
    ddb.meta.events.register("before-call.dynamodb.GetItem", lambda **_: calls.append("GetItem"))

    assert Cleanup(ddb, os.environ["TABLE_NAME"]).delete_contents(sid, BOUND, DELETED) == 1
    assert (_left(ddb, sid), calls) == (["SESSION"], [])


def test_a_ttl_removal_keeps_what_it_kept(ddb: Any) -> None:
    """Without a deleted incarnation (TTL's removal, an expired id taken over), only items before the time go."""
    sid = str(uuid.uuid4())
    _put(ddb, sid, "MSG#early", DELETED)
    _put(ddb, sid, "MSG#new", LATER)
    assert Cleanup(ddb, os.environ["TABLE_NAME"]).delete_contents(sid, BOUND) == 1
    assert _left(ddb, sid) == ["MSG#new"]
