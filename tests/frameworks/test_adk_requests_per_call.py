"""Requests per ADK call through :class:`SessionServiceSessionService`, counted at the client: ``create_session``
(state in every scope) 1, ``get_session`` (the newest N events, every scope's state merged) 2, ``append_event``
(deltas in every scope) 1, ``list_sessions`` 1 a page (a user's, and every user's), ``delete_session`` 1,
``get_user_state`` 1; and ``get_session``'s requests do not grow with the events before the newest N."""

from __future__ import annotations

import pytest
from google.adk.events import Event, EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from session_service_client import AsyncSessionServiceClient
from session_service_client import adk as adk_module
from session_service_client.adk import SessionServiceSessionService, service_namespace, service_user

from tests.frameworks.conftest import Counted
from tests.frameworks.test_adk_session_service_contract import contract

APP = "my_app"


@contract
async def test_each_call_costs_its_requests(base_url: str, counted: Counted, namespace: str) -> None:
    async with AsyncSessionServiceClient(base_url) as client:
        client._http.event_hooks["request"] = [counted.ahook]
        service = SessionServiceSessionService(client=client, namespace=namespace)
        user, ns = service_user("alice"), service_namespace(namespace, APP)

        session = await service.create_session(
            app_name=APP, user_id="alice", session_id="s1", state={"k": 1, "user:u": 2, "app:a": 3}
        )
        sid = service.service_session_id(APP, "alice", "s1")
        assert counted.take() == ["POST /api/v1/sessions"]

        delta = {"k": 2, "user:u": 3, "app:a": 4, "temp:t": 5}
        await service.append_event(session, Event(author="user", actions=EventActions(state_delta=delta)))
        assert counted.take() == [f"POST /api/v1/sessions/{sid}/messages"]

        for turn in range(30):
            await service.append_event(session, Event(author="model", invocation_id=str(turn)))
        counted.take()
        got = await service.get_session(
            app_name=APP, user_id="alice", session_id="s1", config=GetSessionConfig(num_recent_events=20)
        )
        assert got is not None and len(got.events) == 20
        assert got.state == {"k": 2, "user:u": 3, "app:a": 4}
        assert counted.take() == [f"GET /api/v1/sessions/{sid}", f"GET /api/v1/sessions/{sid}/messages"]

        await service.get_session(
            app_name=APP, user_id="alice", session_id="s1", config=GetSessionConfig(num_recent_events=0)
        )
        assert counted.take() == [f"GET /api/v1/sessions/{sid}"]

        assert len((await service.list_sessions(app_name=APP, user_id="alice")).sessions) == 1
        assert counted.take() == [f"GET /api/v1/users/{user}/sessions"]
        assert len((await service.list_sessions(app_name=APP)).sessions) == 1
        assert counted.take() == [f"GET /api/v1/namespaces/{ns}/sessions"]

        assert await service.get_user_state(app_name=APP, user_id="alice") == {"u": 3}
        assert counted.take() == [f"GET /api/v1/users/{user}/state"]

        await service.delete_session(app_name=APP, user_id="alice", session_id="s1")
        assert counted.take() == [f"DELETE /api/v1/sessions/{sid}"]


@contract
async def test_a_listing_costs_one_request_a_page(
    base_url: str, counted: Counted, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adk_module, "PAGE", 2)
    async with AsyncSessionServiceClient(base_url) as client:
        client._http.event_hooks["request"] = [counted.ahook]
        service = SessionServiceSessionService(client=client, namespace=namespace)
        for n in range(5):
            await service.create_session(app_name=APP, user_id="bob", session_id=f"s{n}")
        counted.take()

        listed = (await service.list_sessions(app_name=APP, user_id="bob")).sessions
        assert sorted(s.id for s in listed) == [f"s{n}" for n in range(5)]
        assert counted.take() == [f"GET /api/v1/users/{service_user('bob')}/sessions"] * 3
        everyone = (await service.list_sessions(app_name=APP)).sessions
        assert sorted(s.id for s in everyone) == [f"s{n}" for n in range(5)]
        assert counted.take() == [f"GET /api/v1/namespaces/{service_namespace(namespace, APP)}/sessions"] * 3
