"""The models cap and per-model usage on DynamoDB Local (SPEC section 9, README Usage).

A session's messages name at most 16 distinct (provider, model) pairs over its life; the 17th is 422. The cap's
condition counts every pair a write names as new unless all of them are in the set already, so a write naming a
known pair and a new one into a session of 15 must still be stored (the session then names 16).

What DynamoDB's limits make of many, or long, provider and model strings (an UpdateExpression is at most 4 KB; an
item at most 400 KB); moto enforces neither. The session's hot item counts each model, and a user's usage is an
item per model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service.data import keys, stats
from session_service.data.dynamo import deserialize
from session_service.errors import TooManyModels
from session_service.models import MAX_MODELS_PER_SESSION, MessageCreate, MessageUpdate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer
from tests.support import handle_with, settle, stats_item

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def world(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> tuple[SessionRepository, Any, str, Callable[[], Any]]:
    """The test's own table, and ``settle()``: apply its stream until it is quiet, each round in one batch."""
    repo, client, table = own_table
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    processor = StreamProcessor(client, table, ExtractiveSummarizer(), sleep=lambda _: None)
    return repo, client, table, lambda: settle(reader, handle_with(processor), rounds=20)


def _batch(prefix: str, count: int = MAX_MODELS_PER_SESSION) -> list[MessageCreate]:
    """An append of ``count`` messages, each naming a model of its own (128 characters)."""
    return [
        MessageCreate(
            role="user",
            content="x",
            tokens_used=1,
            cost_usd=Decimal("0.01"),
            provider="\U0001f600" * 128,
            model=(f"{prefix}-{i:03d}-" + "m" * 128)[:128],
        )
        for i in range(count)
    ]


def test_a_session_names_at_most_16_models_and_one_that_does_is_deleted_and_leaves_the_stats(world: Any) -> None:
    repo, client, table, settle = world
    session, _ = repo.create_session("many", SessionCreate(user_id="many"))
    with pytest.raises(TooManyModels):  # 17 in one append: refused before any write
        repo.append_messages(session.session_id, "many", _batch("a", MAX_MODELS_PER_SESSION + 1))
    repo.append_messages(session.session_id, "many", _batch("a"))
    repo.append_messages(session.session_id, "many", _batch("a")[:3])  # the same models again
    with pytest.raises(TooManyModels):  # one more: refused by the session's condition, nothing written
        repo.append_messages(session.session_id, "many", _batch("b", 1))
    assert repo.get_session(session.session_id, "many").message_count == MAX_MODELS_PER_SESSION + 3
    settle()
    usage = repo.get_usage("many")
    assert usage.messages == MAX_MODELS_PER_SESSION + 3 and len(usage.by_model) == MAX_MODELS_PER_SESSION
    repo.delete_session(session.session_id, "many")
    settle()  # the tombstone's record takes the whole session out of the owner's usage, one item a model
    assert int(stats_item(client, table)["total_sessions"]) == 0
    assert int(stats_item(client, table)["total_messages"]) == 0
    assert repo.get_usage("many").messages == 0


def test_many_sessions_of_many_models_in_one_stream_batch_are_applied(world: Any) -> None:
    """A user's per-model usage is an item a model: a batch touching 96 of them is split into transactions."""
    repo, client, table, settle = world
    for number in range(6):
        session, _ = repo.create_session("two", SessionCreate(user_id="two"))
        repo.append_messages(session.session_id, "two", _batch(f"s{number}"))
    settle()
    assert int(stats_item(client, table)["total_messages"]) == 6 * MAX_MODELS_PER_SESSION
    usage = repo.get_usage("two")
    assert usage.messages == 6 * MAX_MODELS_PER_SESSION and len(usage.by_model) == 6 * MAX_MODELS_PER_SESSION
    assert all(row.messages == 1 for row in usage.by_model)


def test_a_session_of_long_model_names_keeps_a_small_hot_item(world: Any) -> None:
    repo, client, table, _ = world
    session, _ = repo.create_session("long", SessionCreate(user_id="long"))
    for message in _batch("long"):
        repo.append_messages(session.session_id, "long", [message])
    hot = client.get_item(TableName=table, Key=keys.session_key(session.session_id))["Item"]
    # 16 models of 128-character names: bounded, far from DynamoDB's 400 KB
    assert len(json.dumps(hot, ensure_ascii=False).encode()) < 60_000
    with pytest.raises(TooManyModels):
        repo.append_messages(session.session_id, "long", _batch("more", 1))


# -- a known and a new pair into a session of 15 ------------------------------------------------------------


def _msg(model: str) -> MessageCreate:
    return MessageCreate(role="user", content="x", tokens_used=1, cost_usd=Decimal("0.01"), provider="p", model=model)


def _models(client: Any, table: str, session_id: str) -> set[str]:
    hot = deserialize(client.get_item(TableName=table, Key=keys.session_key(session_id))["Item"])
    return set(hot.get(stats.MODELS, set()))


def _session_of_15(repo: SessionRepository, user: str) -> tuple[str, str]:
    """A session whose messages name 15 pairs; its id and its first message's."""
    session, _ = repo.create_session(user, SessionCreate(user_id=user))
    stored = repo.append_messages(
        session.session_id, user, [_msg(f"m{i:02d}") for i in range(MAX_MODELS_PER_SESSION - 1)]
    )
    return session.session_id, stored[0].message_id


def test_an_append_of_a_known_and_a_new_model_to_a_session_of_15_is_stored(own_table: Any) -> None:
    repo, client, table = own_table
    sid, _ = _session_of_15(repo, "cap-a")
    # A known model and a new one: the session then names 16, within the cap (README, Usage)
    appended = repo.append_messages(sid, "cap-a", [_msg("m00"), _msg("new")])
    assert appended.created
    assert len(_models(client, table, sid)) == MAX_MODELS_PER_SESSION
    assert repo.get_session(sid, "cap-a").message_count == MAX_MODELS_PER_SESSION + 1


def test_an_edit_moving_a_message_to_a_new_model_in_a_session_of_15_is_stored(own_table: Any) -> None:
    repo, client, table = own_table
    sid, first = _session_of_15(repo, "cap-b")
    # The message leaves its known model for a new one: 16 pairs named over the session's life
    changed = repo.update_message(sid, "cap-b", first, MessageUpdate(model="new"))
    assert changed.model == "new"
    assert len(_models(client, table, sid)) == MAX_MODELS_PER_SESSION
