"""Second review of the models cap on DynamoDB Local (SPEC section 9, README Usage: a session's messages name at
most 16 distinct (provider, model) pairs over its life; the 17th is 422). The cap's condition counts every pair a
write names as new unless all of them are in the set already: a write naming a known pair and a new one into a
session of 15 is refused by DynamoDB although the session would then name 16."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.template import create_table
from session_service.cursor import CursorCodec
from session_service.data import keys, stats
from session_service.data.dynamo import deserialize
from session_service.models import MAX_MODELS_PER_SESSION, MessageCreate, MessageUpdate, SessionCreate
from session_service.repository import SessionRepository

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def world(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[SessionRepository, Any, str]]:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    table = f"session-service-review2-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    try:
        yield SessionRepository(client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32)), client, table
    finally:
        client.delete_table(TableName=table)


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


def test_an_append_of_a_known_and_a_new_model_to_a_session_of_15_is_stored(world: Any) -> None:
    repo, client, table = world
    sid, _ = _session_of_15(repo, "cap-a")
    # A known model and a new one: the session then names 16, within the cap (README, Usage)
    appended = repo.append_messages(sid, "cap-a", [_msg("m00"), _msg("new")])
    assert appended.created
    assert len(_models(client, table, sid)) == MAX_MODELS_PER_SESSION
    assert repo.get_session(sid, "cap-a").message_count == MAX_MODELS_PER_SESSION + 1


def test_an_edit_moving_a_message_to_a_new_model_in_a_session_of_15_is_stored(world: Any) -> None:
    repo, client, table = world
    sid, first = _session_of_15(repo, "cap-b")
    # The message leaves its known model for a new one: 16 pairs named over the session's life
    changed = repo.update_message(sid, "cap-b", first, MessageUpdate(model="new"))
    assert changed.model == "new"
    assert len(_models(client, table, sid)) == MAX_MODELS_PER_SESSION
