"""What the ADK adapter refuses to believe or to store: a session another user made in the app's namespace and
titled like one of ours is never listed as someone's ADK session (the title proves nothing; the owner and the
service id the adapter derives do), and a state value JSON cannot carry (NaN, infinity) raises before anything is
stored, as ``create_session`` does, instead of coming back as ``None``."""

from __future__ import annotations

import math

import pytest
from google.adk.events import Event, EventActions
from session_service_client import SessionServiceClient
from session_service_client.adk import SessionServiceSessionService, service_user

from tests.frameworks.test_adk_session_service_contract import contract


@contract
async def test_a_title_like_ours_does_not_make_a_session_ours(base_url: str, namespace: str) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    await service.create_session(app_name="app", user_id="alice", session_id="real")
    with SessionServiceClient(base_url, user_id="mallory") as mallory:
        for title in ('adk:["alice", "fake"]', 'adk:"ab"', 'adk:["mallory", "forged"]'):
            mallory.create_session(namespace=service.service_namespace("app"), title=title)

    listed = (await service.list_sessions(app_name="app")).sessions
    assert [(s.user_id, s.id) for s in listed] == [("alice", "real")]
    assert [s.id for s in (await service.list_sessions(app_name="app", user_id="alice")).sessions] == ["real"]
    assert (await service.list_sessions(app_name="app", user_id="mallory")).sessions == []
    assert service_user("mallory") == "mallory"
    await service.aclose()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@contract
async def test_a_state_value_json_cannot_carry_is_refused(base_url: str, namespace: str, value: float) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    event = Event(author="user", actions=EventActions(state_delta={"x": value, "user:y": 1}))
    with pytest.raises(ValueError):
        await service.append_event(session, event)

    stored = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert stored is not None and stored.events == [] and stored.state == {}
    await service.aclose()
