"""Stale session objects and concurrent appends through :class:`SessionServiceSessionService`: an append is
conditional on the version its session object was read at, so of two appends from the same version one is stored
and the other raises ``StaleSessionError`` having stored nothing: neither its event nor any of its state deltas
(session, ``user:``, ``app:``). ADK's ``DatabaseSessionService`` (on SQLite) is the control where ADK states the
same behaviour (a stale object, two copies of one object); two appends from the very same object are ours only
(ADK's database service serializes them and stores both)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from google.adk.errors import StaleSessionError
from google.adk.events import Event, EventActions
from google.adk.sessions import DatabaseSessionService
from google.adk.sessions.base_session_service import BaseSessionService
from session_service_client import AsyncSessionServiceClient
from session_service_client.adk import SessionServiceSessionService

from tests.frameworks.test_adk_session_service_contract import contract

APP = "my_app"


@pytest.fixture(params=["database", "adapter"])
def session_service(request: pytest.FixtureRequest) -> Iterator[BaseSessionService]:
    """ADK's ``DatabaseSessionService`` on an in-memory SQLite (the control), then the adapter."""
    if request.param == "database":
        yield DatabaseSessionService("sqlite+aiosqlite:///:memory:")
        return
    adapter = SessionServiceSessionService(
        base_url=request.getfixturevalue("base_url"), namespace=f"t-{uuid.uuid4().hex[:12]}"
    )
    yield adapter
    adapter.close()


@pytest.fixture
def adapter(base_url: str) -> Iterator[SessionServiceSessionService]:
    service = SessionServiceSessionService(base_url=base_url, namespace=f"t-{uuid.uuid4().hex[:12]}")
    yield service
    service.close()


def writing(name: str, timestamp: float) -> Event:
    """An event named ``name`` whose delta writes ``name`` in every scope (and a ``temp:`` key)."""
    delta = {name: name, f"user:{name}": name, f"app:{name}": name, f"temp:{name}": name}
    return Event(invocation_id=name, author="user", timestamp=timestamp, actions=EventActions(state_delta=delta))


async def stored(service: BaseSessionService, session_id: str) -> tuple[list[str], dict[str, object]]:
    """What storage holds: the events' invocation ids and the merged state (session, user and app scopes)."""
    found = await service.get_session(app_name=APP, user_id="user", session_id=session_id)
    assert found is not None
    return [e.invocation_id for e in found.events], found.state


@contract
async def test_an_append_from_an_object_older_than_storage_is_stale_and_stores_nothing(
    session_service: BaseSessionService,
) -> None:
    created = await session_service.create_session(app_name=APP, user_id="user", state={"seed": 1})
    older = await session_service.get_session(app_name=APP, user_id="user", session_id=created.id)
    newer = await session_service.get_session(app_name=APP, user_id="user", session_id=created.id)
    assert older is not None and newer is not None
    await session_service.append_event(newer, writing("won", created.last_update_time + 1))

    with pytest.raises(StaleSessionError, match="modified in storage"):
        await session_service.append_event(older, writing("lost", created.last_update_time + 2))

    events, state = await stored(session_service, created.id)
    assert events == ["won"]
    assert state == {"seed": 1, "won": "won", "user:won": "won", "app:won": "won"}
    assert await session_service.get_user_state(app_name=APP, user_id="user") == {"won": "won"}
    assert [e.invocation_id for e in older.events] == [] and "lost" not in older.state


@contract
async def test_of_two_concurrent_appends_from_copies_of_one_object_one_is_stored(
    session_service: BaseSessionService,
) -> None:
    created = await session_service.create_session(app_name=APP, user_id="user")
    for round_ in range(4):
        latest = await session_service.get_session(app_name=APP, user_id="user", session_id=created.id)
        assert latest is not None
        first, second = latest.model_copy(deep=True), latest.model_copy(deep=True)
        base = latest.last_update_time + 10
        results = await asyncio.gather(
            session_service.append_event(first, writing(f"r{round_}a", base + 1)),
            session_service.append_event(second, writing(f"r{round_}b", base + 2)),
            return_exceptions=True,
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], StaleSessionError), results

    events, state = await stored(session_service, created.id)
    assert len(events) == 4
    for round_, winner in enumerate(events):
        loser = f"r{round_}b" if winner.endswith("a") else f"r{round_}a"
        assert winner.startswith(f"r{round_}")
        assert state[winner] == state[f"user:{winner}"] == state[f"app:{winner}"] == winner
        assert not {loser, f"user:{loser}", f"app:{loser}"} & set(state)


@contract
async def test_of_two_concurrent_appends_from_the_same_object_one_is_stored_and_the_other_stores_nothing(
    adapter: SessionServiceSessionService, base_url: str
) -> None:
    session = await adapter.create_session(app_name=APP, user_id="user", state={"seed": 1})
    base = session.last_update_time
    results = await asyncio.gather(
        adapter.append_event(session, writing("a", base + 1)),
        adapter.append_event(session, writing("b", base + 2)),
        return_exceptions=True,
    )
    errors = [result for result in results if isinstance(result, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], StaleSessionError), results
    winner = "b" if results[0] is errors[0] else "a"
    loser = "a" if winner == "b" else "b"

    events, state = await stored(adapter, session.id)
    assert events == [winner]
    assert state == {"seed": 1, winner: winner, f"user:{winner}": winner, f"app:{winner}": winner}
    assert await adapter.get_user_state(app_name=APP, user_id="user") == {winner: winner}
    # The service's own records, read directly: one message, and each scope's document changed once.
    async with AsyncSessionServiceClient(base_url, user_id="user") as client:
        stored_session = await client.get_session(
            adapter.service_session_id(APP, "user", session.id), include_state=True
        )
        assert stored_session.message_count == 1 and stored_session.state is not None
        documents = stored_session.state
        assert documents.session.version == 2  # the create's change, then the winner's
        assert documents.user.version == 1 and documents.namespace is not None and documents.namespace.version == 1
    # The object holds what storage holds (and the invocation's temp: keys), and appends on from there.
    assert [e.invocation_id for e in session.events] == [winner]
    assert not {loser, f"user:{loser}", f"app:{loser}"} & set(session.state)
    await adapter.append_event(session, writing("next", base + 3))
    assert (await stored(adapter, session.id))[0] == [winner, "next"]
