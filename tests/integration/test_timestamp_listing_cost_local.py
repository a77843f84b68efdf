"""On DynamoDB Local, with the capacity DynamoDB reports: a listing from a client timestamp reads the same units and
items whatever the number of messages before that time, and an append of a message without a timestamp writes
what it wrote before timestamps (its message and the session's hot item, no index entry)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from session_service.data import dynamo, keys
from session_service.models import MessageCreate, MessageOrder, MessageRole, SessionCreate
from session_service.repository import SessionRepository

pytestmark = pytest.mark.dynamodb_local

T0 = 1_733_360_000.0


@dataclass
class Capacity:
    """Capacity units and items read, by operation, as DynamoDB reported them since ``reset``."""

    units: dict[str, float] = field(default_factory=dict)
    scanned: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.units, self.scanned = {}, {}

    def ask(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def read(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.units[model.name] = self.units.get(model.name, 0.0) + float(entry.get("CapacityUnits", 0))
        if "ScannedCount" in parsed:
            self.scanned[model.name] = self.scanned.get(model.name, 0) + int(parsed["ScannedCount"])


@pytest.fixture
def metered(own_table: tuple[SessionRepository, Any, str]) -> Iterator[tuple[SessionRepository, Any, Capacity]]:
    repo, client, _ = own_table
    capacity = Capacity()
    client.meta.events.register("provide-client-params.dynamodb", capacity.ask)
    client.meta.events.register("after-call.dynamodb", capacity.read)
    yield repo, client, capacity
    client.meta.events.unregister("provide-client-params.dynamodb", capacity.ask)
    client.meta.events.unregister("after-call.dynamodb", capacity.read)


def _say(text: str, **fields: Any) -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=text, tokens_used=1, cost_usd=Decimal("0.001"), **fields)


def _session(repo: SessionRepository, user: str, before: int) -> str:
    sid = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    padding = "x" * 2000  # messages of 2 KB: reading one more would show in the units
    for first in range(0, before, 90):
        batch = [_say(f"{padding}{i}", timestamp=T0 + i) for i in range(first, min(before, first + 90))]
        repo.append_messages(sid, user, batch)
    repo.append_messages(sid, user, [_say(f"late {i}", timestamp=T0 + 10_000 + i) for i in range(5)])
    return sid


def test_a_listing_from_a_time_costs_the_same_after_5_or_300_earlier_messages(
    metered: tuple[SessionRepository, Any, Capacity],
) -> None:
    repo, _, capacity = metered
    user = f"ts_cost_{uuid.uuid4().hex[:8]}"
    measured = []
    for before in (5, 300):
        sid = _session(repo, user, before)
        for order in (MessageOrder.ASC, MessageOrder.DESC):
            capacity.reset()
            page = repo.list_messages(sid, user, from_timestamp=T0 + 10_000, page_size=3, order=order)
            assert len(page.messages) == 3 and page.next_token
            measured.append((order, capacity.units.get("Query"), capacity.scanned.get("Query")))
    assert measured[:2] == measured[2:], measured
    assert all(scanned == 4 for _, _, scanned in measured), measured  # the page and one more


def test_an_append_without_a_timestamp_writes_no_index_entry_and_the_same_units(
    metered: tuple[SessionRepository, Any, Capacity],
) -> None:
    repo, client, capacity = metered
    user = f"ts_write_{uuid.uuid4().hex[:8]}"
    sid = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    units = []
    for i in range(3):
        capacity.reset()
        stored = repo.append_messages(sid, user, [_say(f"plain {i}")])[0]
        units.append(capacity.units["TransactWriteItems"])
        item = client.get_item(
            TableName=repo._store.table.name,
            Key=keys.key(keys.session_pk(sid), keys.message_sk_of_id(stored.message_id) or ""),
            ConsistentRead=True,
        )["Item"]
        assert "LSI1SK" not in dynamo.deserialize(item)
    # The message and the hot item, each under 1 KB: a unit each as DynamoDB Local reports a transaction's writes
    # (DynamoDB bills twice that), the first append (the hot item without last_message_timestamp) as the others.
    assert units == [2.0, 2.0, 2.0]
    hot = dynamo.deserialize(
        client.get_item(TableName=repo._store.table.name, Key=keys.session_key(sid), ConsistentRead=True)["Item"]
    )
    added = {name: hot[name] for name in ("last_message_timestamp",)}
    assert dynamo.item_size(added) <= 43  # what the session's update grows by: its write units move only at a KB
    capacity.reset()
    repo.append_messages(sid, user, [_say("timed", timestamp=T0)])
    assert capacity.units["TransactWriteItems"] >= 2.0  # plus its index entry's write, where DynamoDB counts it
