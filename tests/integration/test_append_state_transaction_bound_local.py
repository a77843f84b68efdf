"""An append carrying state changes near DynamoDB's 4 MB transaction bound, on DynamoDB Local: the changes' bytes
count with the messages', so the append is refused (413) before any write instead of DynamoDB's refusal (a 500)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from session_service.errors import PayloadTooLarge
from session_service.models import MAX_MESSAGE_BYTES, MessageCreate, SessionCreate
from session_service.models.state import AppendState
from session_service.operations.appends import SharedChanges

pytestmark = pytest.mark.dynamodb_local


def _session(repo: Any) -> tuple[str, str]:
    user, namespace = f"it_bound_{uuid.uuid4().hex[:8]}", f"ns-{uuid.uuid4().hex[:6]}"
    session, _ = repo.create_session(user, SessionCreate(user_id=user, namespace=namespace))
    return user, session.session_id


def _messages(count: int) -> list[MessageCreate]:
    return [MessageCreate(role="user", content="c" * MAX_MESSAGE_BYTES) for _ in range(count)]


def _stored(local_ddb: Any, table: str, session_id: str) -> int:
    query = {"TableName": table, "KeyConditionExpression": "PK = :pk", "Select": "COUNT"}
    return int(local_ddb.query(**query, ExpressionAttributeValues={":pk": {"S": f"SESSION#{session_id}"}})["Count"])


@pytest.mark.parametrize("scope", ["state", "user", "namespace"])
def test_a_batch_whose_state_change_passes_the_bound_is_413_with_nothing_written(
    local_repo: Any, local_ddb: Any, local_table: str, scope: str
) -> None:
    user, session_id = _session(local_repo)
    before = _stored(local_ddb, local_table, session_id)
    change = AppendState(set={"k": "v" * 300_000})
    shared = SharedChanges(change if scope == "user" else None, change if scope == "namespace" else None)
    with pytest.raises(PayloadTooLarge):
        local_repo.append_messages(
            session_id, user, _messages(15), state=change if scope == "state" else None, shared=shared
        )
    assert _stored(local_ddb, local_table, session_id) == before
    assert local_repo.get_shared_state(user, local_repo.get_session(session_id, user).namespace).version == 0


def test_dynamodb_refusing_a_transaction_past_4_mb_is_413(local_repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the append's own count switched off (the backstop alone)
    monkeypatch.setattr("session_service.operations.appends._state_payload", lambda *_: 0)
    user, session_id = _session(local_repo)
    change = AppendState(set={"k": "v" * 300_000})
    with pytest.raises(PayloadTooLarge):
        local_repo.append_messages(session_id, user, _messages(15), shared=SharedChanges(change))


def test_a_batch_just_under_the_bound_with_a_small_state_change_is_stored(local_repo: Any) -> None:
    user, session_id = _session(local_repo)
    appended = local_repo.append_messages(
        session_id,
        user,
        _messages(14),
        state=AppendState(set={"turn": 1}),
        shared=SharedChanges(AppendState(set={"n": 1})),
    )
    assert appended.created and len(appended) == 14
