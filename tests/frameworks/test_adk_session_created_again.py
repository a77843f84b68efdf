"""A session object of a session deleted and created again with the same id (ADK's deterministic ids) is stale:
its ETag names the older session (its incarnation), so its append raises ``StaleSessionError`` and stores nothing
in the new session, though the new one's version is the same number; the new session's object appends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from google.adk.errors import StaleSessionError
from google.adk.events import Event, EventActions
from session_service_client.adk import SessionServiceSessionService

from tests.frameworks.test_adk_session_service_contract import contract

APP = "my_app"


@pytest.fixture
def adapter(base_url: str) -> Iterator[SessionServiceSessionService]:
    service = SessionServiceSessionService(base_url=base_url, namespace=f"t-{uuid.uuid4().hex[:12]}")
    yield service
    service.close()


def writing(name: str, timestamp: float) -> Event:
    return Event(invocation_id=name, author="user", timestamp=timestamp, actions=EventActions(state_delta={name: 1}))


@contract
async def test_an_object_of_the_deleted_session_is_stale_for_the_new_one(adapter: SessionServiceSessionService) -> None:
    sid = f"again-{uuid.uuid4().hex[:8]}"
    # Given a session object read before its session was deleted and created again with the same id
    older = await adapter.create_session(app_name=APP, user_id="user", session_id=sid)
    await adapter.delete_session(app_name=APP, user_id="user", session_id=sid)
    newer = await adapter.create_session(app_name=APP, user_id="user", session_id=sid)

    # When the older object appends, then the new one
    with pytest.raises(StaleSessionError):
        await adapter.append_event(older, writing("lost", older.last_update_time + 1))
    await adapter.append_event(newer, writing("kept", newer.last_update_time + 1))

    # Then only the new object's event and state are stored
    found = await adapter.get_session(app_name=APP, user_id="user", session_id=sid)
    assert found is not None
    assert [e.invocation_id for e in found.events] == ["kept"] and found.state == {"kept": 1}
