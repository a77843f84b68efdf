"""How :class:`SessionServiceSessionService` maps ADK's names onto the service: any app name, user id and session
id works (those the service's alphabet cannot carry are hashed, and listings still return the names ADK gave),
no two apps, users or adapter namespaces ever share a session or a state document, and an id too long to be kept
in the session's title is refused before anything is written."""

from __future__ import annotations

import uuid

import pytest
from google.adk.events import Event, EventActions
from session_service_client.adk import SessionServiceSessionService, service_namespace, service_user

from tests.frameworks.test_adk_session_service_contract import contract

ODD_USERS = ["", "a b+c", "@alice", "ünï", "x" * 129]
ODD_APPS = ["my app/1", "", "a:b", "@app", "y" * 200]


def test_names_the_service_accepts_are_kept_and_the_others_hashed() -> None:
    assert service_user("alice@example.com") == "alice@example.com"
    assert service_namespace(None, "my_app") == "my_app"
    assert service_namespace("team-1", "my_app") == "team-1:my_app"
    for user in ODD_USERS:
        assert service_user(user).startswith("@") and len(service_user(user)) == 41
    for app in ODD_APPS:
        assert service_namespace("ns", app).startswith("ns:@")
    # The last ":" separates the adapter's namespace from the app: no two pairs meet.
    assert service_namespace(None, "a:b") != service_namespace("a", "b")
    assert len({service_namespace(ns, app) for ns in (None, "a", "a:b") for app in ("b", "b:c", "c")}) == 9


def test_a_namespace_outside_the_alphabet_is_refused() -> None:
    with pytest.raises(ValueError, match="namespace"):
        SessionServiceSessionService(base_url="http://127.0.0.1:1", namespace="a b")


@pytest.mark.parametrize("user", ODD_USERS)
@contract
async def test_any_user_id_round_trips(base_url: str, namespace: str, user: str) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    session = await service.create_session(app_name="app", user_id=user, session_id="s 1", state={"user:u": user})
    await service.append_event(session, Event(author="user", actions=EventActions(state_delta={"k": "v"})))

    got = await service.get_session(app_name="app", user_id=user, session_id="s 1")
    assert got == session and got is not None and got.user_id == user
    listed = (await service.list_sessions(app_name="app", user_id=user)).sessions
    assert [(s.user_id, s.id, s.state) for s in listed] == [(user, "s 1", {"k": "v", "user:u": user})]
    everyone = (await service.list_sessions(app_name="app")).sessions
    assert [(s.user_id, s.id) for s in everyone] == [(user, "s 1")]
    assert await service.get_user_state(app_name="app", user_id=user) == {"u": user}
    await service.aclose()


@pytest.mark.parametrize("app", ODD_APPS)
@contract
async def test_any_app_name_round_trips_and_apps_never_meet(base_url: str, namespace: str, app: str) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    await service.create_session(app_name=app, user_id="u", session_id="s", state={"app:a": app, "user:u": app})
    other = await service.create_session(app_name=app + "2", user_id="u", session_id="s")

    assert other.state == {}
    got = await service.get_session(app_name=app, user_id="u", session_id="s")
    assert got is not None and (got.app_name, got.state) == (app, {"app:a": app, "user:u": app})
    assert [s.id for s in (await service.list_sessions(app_name=app)).sessions] == ["s"]
    await service.aclose()


@contract
async def test_two_adapter_namespaces_never_meet(base_url: str) -> None:
    first = SessionServiceSessionService(base_url=base_url, namespace=f"t-{uuid.uuid4().hex[:12]}")
    second = SessionServiceSessionService(base_url=base_url, namespace=f"t-{uuid.uuid4().hex[:12]}")
    await first.create_session(app_name="app", user_id="u", session_id="s", state={"app:a": 1, "user:u": 1})

    assert await second.get_session(app_name="app", user_id="u", session_id="s") is None
    assert (await second.list_sessions(app_name="app")).sessions == []
    assert await second.get_user_state(app_name="app", user_id="u") == {}
    assert (await second.create_session(app_name="app", user_id="u", session_id="s")).state == {}
    await first.aclose()
    await second.aclose()


@contract
async def test_an_id_too_long_for_the_title_is_refused_and_nothing_is_written(base_url: str, namespace: str) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    with pytest.raises(ValueError, match="too long"):
        await service.create_session(app_name="app", user_id="u", session_id="s" * 300, state={"user:u": 1})
    assert await service.get_user_state(app_name="app", user_id="u") == {}
    await service.aclose()
