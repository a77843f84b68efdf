"""Google ADK's session-service contract, stated from ADK's documented behaviour and the shared contract tests of
its repository (``tests/unittests/sessions/test_session_service.py``, whose ``_conformance.py`` registers the
backends held to it; neither ships in ADK's packages), on :class:`SessionServiceSessionService` and, as the
control, ADK's own ``InMemorySessionService``: every test passes on both, so each states ADK's behaviour, not ours.

Each test has the name of ADK's test it restates (without ``test_``). The adapter runs in a namespace of the
test's own, so the fixed app, user and session names of the tests never meet another test's.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from google.adk.errors import StaleSessionError  # noqa: F401 - the contract's errors, imported as a caller would
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event, EventActions
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.tools.tool_confirmation import ToolConfirmation
from google.genai import types
from session_service_client.adk import SessionServiceSessionService

APP = "my_app"


def contract(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body on an event loop of its own (the tier runs without pytest-asyncio)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture(params=["in_memory", "adapter"])
def session_service(request: pytest.FixtureRequest) -> Iterator[BaseSessionService]:
    """ADK's ``InMemorySessionService`` (the control), then the adapter on the tier's server."""
    if request.param == "in_memory":
        yield InMemorySessionService()
        return
    base_url = request.getfixturevalue("base_url")
    adapter = SessionServiceSessionService(base_url=base_url, namespace=f"t-{uuid.uuid4().hex[:12]}")
    yield adapter
    adapter.close()


def event(**fields: Any) -> Event:
    """An event of the user, with ``state_delta`` when given."""
    delta = fields.pop("state_delta", None)
    fields.setdefault("author", "user")
    fields.setdefault("invocation_id", "inv1")
    return Event(**fields, **({"actions": EventActions(state_delta=delta)} if delta is not None else {}))


# -- sessions: create, get, list, delete -------------------------------------------------------------------


@contract
async def test_get_empty_session(session_service: BaseSessionService) -> None:
    assert await session_service.get_session(app_name=APP, user_id="test_user", session_id="123") is None


@contract
async def test_create_get_session(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="test_user", state={"key": "value"})
    assert (session.app_name, session.user_id, session.state) == (APP, "test_user", {"key": "value"})
    assert session.id
    assert session.last_update_time <= time.time()

    got = await session_service.get_session(app_name=APP, user_id="test_user", session_id=session.id)
    assert got == session
    assert got is not None and got.last_update_time <= time.time()

    await session_service.delete_session(app_name=APP, user_id="test_user", session_id=session.id)
    assert await session_service.get_session(app_name=APP, user_id="test_user", session_id=session.id) is None


@contract
async def test_create_and_list_sessions(session_service: BaseSessionService) -> None:
    ids = [f"session{i}" for i in range(5)]
    for session_id in ids:
        await session_service.create_session(
            app_name=APP, user_id="test_user", session_id=session_id, state={"key": "value" + session_id}
        )
    sessions = (await session_service.list_sessions(app_name=APP, user_id="test_user")).sessions
    assert sorted(s.id for s in sessions) == ids
    for session in sessions:
        assert session.state == {"key": "value" + session.id}
        assert session.events == []


@contract
async def test_list_sessions_ordered_by_last_update_time(session_service: BaseSessionService) -> None:
    for session_id in ("a", "b", "c"):
        await session_service.create_session(app_name=APP, user_id="test_user", session_id=session_id)
    session_a = await session_service.get_session(app_name=APP, user_id="test_user", session_id="a")
    assert session_a is not None
    await asyncio.sleep(0.01)
    await session_service.append_event(session_a, event(invocation_id="invocation"))

    listed = (await session_service.list_sessions(app_name=APP, user_id="test_user")).sessions
    assert [s.id for s in listed] == ["b", "c", "a"]


@contract
async def test_list_sessions_all_users(session_service: BaseSessionService) -> None:
    for user_id, session_id in (("user1", "session1a"), ("user1", "session1b"), ("user2", "session2a")):
        await session_service.create_session(
            app_name=APP, user_id=user_id, session_id=session_id, state={"key": "value" + session_id[-2:]}
        )

    first = (await session_service.list_sessions(app_name=APP, user_id="user1")).sessions
    assert {s.id: s.state for s in first} == {"session1a": {"key": "value1a"}, "session1b": {"key": "value1b"}}
    second = (await session_service.list_sessions(app_name=APP, user_id="user2")).sessions
    assert [(s.id, s.state) for s in second] == [("session2a", {"key": "value2a"})]

    everyone = (await session_service.list_sessions(app_name=APP, user_id=None)).sessions
    assert {(s.user_id, s.id): s.state for s in everyone} == {
        ("user1", "session1a"): {"key": "value1a"},
        ("user1", "session1b"): {"key": "value1b"},
        ("user2", "session2a"): {"key": "value2a"},
    }


@contract
async def test_list_sessions_with_empty_user_id_lists_only_that_user(session_service: BaseSessionService) -> None:
    await session_service.create_session(app_name=APP, user_id="", session_id="empty", state={"user:k": "e"})
    await session_service.create_session(app_name=APP, user_id="u1", session_id="other", state={"user:k": "1"})

    listed = (await session_service.list_sessions(app_name=APP, user_id="")).sessions
    assert [(s.user_id, s.id, s.state) for s in listed] == [("", "empty", {"user:k": "e"})]
    everyone = (await session_service.list_sessions(app_name=APP)).sessions
    assert sorted((s.user_id, s.id) for s in everyone) == [("", "empty"), ("u1", "other")]


@contract
async def test_get_session_respects_user_id(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1")
    await session_service.append_event(session1, event())
    await session_service.create_session(app_name=APP, user_id="u2", session_id="s1")

    got = await session_service.get_session(app_name=APP, user_id="u2", session_id="s1")
    assert got is not None and got.user_id == "u2" and got.events == []


@contract
async def test_create_session_with_existing_id_raises_error(session_service: BaseSessionService) -> None:
    await session_service.create_session(app_name=APP, user_id="test_user", session_id="existing_session")
    with pytest.raises(AlreadyExistsError):
        await session_service.create_session(app_name=APP, user_id="test_user", session_id="existing_session")


@contract
async def test_create_session_with_padded_duplicate_id_raises_error(session_service: BaseSessionService) -> None:
    await session_service.create_session(
        app_name=APP, user_id="test_user", session_id="existing_session", state={"keep": "original"}
    )
    with pytest.raises(AlreadyExistsError):
        await session_service.create_session(
            app_name=APP, user_id="test_user", session_id="  existing_session  ", state={"keep": "clobbered"}
        )
    session = await session_service.get_session(app_name=APP, user_id="test_user", session_id="existing_session")
    assert session is not None and session.state["keep"] == "original"


@contract
async def test_get_session_finds_session_by_id_passed_to_create(session_service: BaseSessionService) -> None:
    created = await session_service.create_session(
        app_name=APP, user_id="test_user", session_id="order-42\n", state={"cart": "book"}
    )
    assert created.id == "order-42"
    session = await session_service.get_session(app_name=APP, user_id="test_user", session_id="order-42\n")
    assert session is not None and session.id == "order-42" and session.state["cart"] == "book"


@contract
async def test_delete_session_removes_session_by_id_passed_to_create(session_service: BaseSessionService) -> None:
    await session_service.create_session(app_name=APP, user_id="test_user", session_id="order-42\n")
    await session_service.delete_session(app_name=APP, user_id="test_user", session_id="order-42\n")
    assert await session_service.get_session(app_name=APP, user_id="test_user", session_id="order-42") is None


@contract
async def test_create_session_with_blank_id_generates_one(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="test_user", session_id="   ")
    assert session.id.strip()
    assert await session_service.get_session(app_name=APP, user_id="test_user", session_id=session.id) == session


@contract
async def test_delete_session_unknown_session_is_a_noop(session_service: BaseSessionService) -> None:
    await session_service.create_session(app_name=APP, user_id="u1", session_id="s1")
    await session_service.delete_session(app_name=APP, user_id="u1", session_id="unknown_session")
    await session_service.delete_session(app_name=APP, user_id="unknown_user", session_id="s1")
    await session_service.delete_session(app_name="unknown_app", user_id="u1", session_id="s1")
    assert await session_service.get_session(app_name=APP, user_id="u1", session_id="s1") is not None


# -- state: the four scopes --------------------------------------------------------------------------------


@contract
async def test_app_state_is_shared_by_all_users_of_app(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1", state={"app:k1": "v1"})
    await session_service.append_event(session1, event(state_delta={"app:k2": "v2"}))

    session2 = await session_service.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state == {"app:k1": "v1", "app:k2": "v2"}
    got = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert got is not None and got.state == {"app:k1": "v1", "app:k2": "v2"}
    other_app = await session_service.create_session(app_name="other_app", user_id="u1", session_id="s1")
    assert other_app.state == {}


@contract
async def test_user_state_is_shared_only_by_user_sessions(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"user:k1": "v1"}
    )
    await session_service.append_event(session1, event(state_delta={"user:k2": "v2"}))

    session1b = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert session1b.state == {"user:k1": "v1", "user:k2": "v2"}
    session2 = await session_service.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state == {}


@contract
async def test_session_state_is_not_shared(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1", state={"sk1": "v1"})
    await session_service.append_event(session1, event(state_delta={"sk2": "v2"}))

    got = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert got is not None and got.state == {"sk1": "v1", "sk2": "v2"}
    session1b = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert session1b.state == {}


@contract
async def test_dict_valued_state_delta_replaces_stored_value(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"profile": {"name": "ada", "role": "admin"}}
    )
    await session_service.append_event(session, event(state_delta={"profile": {"name": "bob"}}))

    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None and reloaded.state["profile"] == {"name": "bob"}
    assert session.state["profile"] == {"name": "bob"}


@contract
async def test_none_valued_state_delta_is_stored_not_dropped(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1", state={"flag": True})
    await session_service.append_event(session, event(state_delta={"flag": None}))

    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None and "flag" in reloaded.state and reloaded.state["flag"] is None
    assert "flag" in session.state and session.state["flag"] is None


@contract
async def test_boolean_state_survives_unrelated_state_delta(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1", state={"flag": False})
    await session_service.append_event(session, event(state_delta={"new_flag": True}))

    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert reloaded.state["new_flag"] is True and reloaded.state["flag"] is False
    assert session.state["new_flag"] is True and session.state["flag"] is False


@contract
async def test_app_state_dict_valued_delta_replaces_stored_value(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"app:cfg": {"name": "ada", "role": "admin"}}
    )
    await session_service.append_event(session1, event(state_delta={"app:cfg": {"name": "bob"}}))

    session2 = await session_service.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state["app:cfg"] == {"name": "bob"}
    assert session1.state["app:cfg"] == {"name": "bob"}


@contract
async def test_user_state_none_valued_delta_is_stored_not_dropped(session_service: BaseSessionService) -> None:
    session1 = await session_service.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"user:pref": "dark_mode"}
    )
    await session_service.append_event(session1, event(state_delta={"user:pref": None}))

    session1b = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert "user:pref" in session1b.state and session1b.state["user:pref"] is None
    assert "user:pref" in session1.state and session1.state["user:pref"] is None


SCOPES = pytest.mark.parametrize("prefix", ["", "user:", "app:"], ids=["session", "user", "app"])
NUMBERS = pytest.mark.parametrize("number", [0.1 + 0.2, 1727500000.1234567, 2**53 + 1, -0.0, 1e-7])


@SCOPES
@NUMBERS
@contract
async def test_numbers_survive_unrelated_state_delta(
    session_service: BaseSessionService, prefix: str, number: float
) -> None:
    session = await session_service.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={f"{prefix}n": number}
    )
    await session_service.append_event(session, event(state_delta={f"{prefix}other": 1}))

    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert reloaded.state[f"{prefix}n"] == number and type(reloaded.state[f"{prefix}n"]) is type(number)


@SCOPES
@NUMBERS
@contract
async def test_number_valued_state_delta_is_stored_exactly(
    session_service: BaseSessionService, prefix: str, number: float
) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1")
    await session_service.append_event(session, event(state_delta={f"{prefix}n": number}))

    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert reloaded.state[f"{prefix}n"] == number and type(reloaded.state[f"{prefix}n"]) is type(number)


@contract
async def test_temp_state_is_not_persisted_in_state_or_events(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", session_id="s1")
    appended = event(state_delta={"temp:k1": "v1", "sk": "v2"})
    await session_service.append_event(session, appended)

    assert session.state["temp:k1"] == "v1" and session.state["sk"] == "v2"  # the invocation still sees it
    assert appended.actions.state_delta == {"sk": "v2"}
    reloaded = await session_service.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None and reloaded.state == {"sk": "v2"}
    assert reloaded.events[0].actions.state_delta == {"sk": "v2"}


@contract
async def test_temp_state_visible_across_sequential_events(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", session_id="s_seq")
    first = event(author="agent1", state_delta={"temp:output": "result_from_a1"})
    await session_service.append_event(session, first)

    assert session.state["temp:output"] == "result_from_a1"
    assert "temp:output" not in first.actions.state_delta
    await session_service.append_event(session, event(author="agent2", state_delta={"seen": "yes"}))
    assert session.state["temp:output"] == "result_from_a1"


# -- events ------------------------------------------------------------------------------------------------


@contract
async def test_append_event_bytes(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    content = types.Content(
        role="user", parts=[types.Part.from_bytes(data=b"\x00\xfftest_image", mime_type="image/png")]
    )
    grounding = types.GroundingMetadata(search_entry_point=types.SearchEntryPoint(sdk_blob=b"test_sdk_blob"))
    await session_service.append_event(session, event(content=content, grounding_metadata=grounding))
    assert session.events[0].content == content

    reloaded = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None and len(reloaded.events) == 1
    assert reloaded.events[0].content == content and reloaded.events[0].grounding_metadata == grounding


@contract
async def test_append_event_complete(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    complete = Event(
        invocation_id="invocation",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text="test_text")]),
        turn_complete=True,
        partial=False,
        actions=EventActions(artifact_delta={"file": 0}, transfer_to_agent="agent", escalate=True),
        long_running_tool_ids={"tool1"},
        error_code="error_code",
        error_message="error_message",
        interrupted=True,
        grounding_metadata=types.GroundingMetadata(web_search_queries=["query1"]),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1, candidates_token_count=1, total_token_count=2
        ),
        citation_metadata=types.CitationMetadata(),
        custom_metadata={"custom_key": "custom_value"},
        timestamp=1700000000.123,
        input_transcription=types.Transcription(text="input transcription", finished=True),
        output_transcription=types.Transcription(text="output transcription", finished=True),
    )
    await session_service.append_event(session, complete)

    assert await session_service.get_session(app_name=APP, user_id="user", session_id=session.id) == session


@contract
async def test_append_event_with_requested_tool_confirmations(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    confirmation = ToolConfirmation(
        hint="dynamic hint", confirmed=False, payload={"collection_name": "photos", "resource_id": "album_1"}
    )
    await session_service.append_event(
        session,
        Event(
            invocation_id="invocation",
            author="user",
            actions=EventActions(requested_tool_confirmations={"tool_call_1": confirmation}),
        ),
    )

    reloaded = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None and len(reloaded.events) == 1
    assert reloaded.events[0].actions.requested_tool_confirmations == {"tool_call_1": confirmation}


@contract
async def test_session_last_update_time_updates_on_event(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    original = session.last_update_time
    await session_service.append_event(session, event(invocation_id="invocation", timestamp=original + 10.1234567))

    assert session.last_update_time == original + 10.1234567
    refreshed = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert refreshed is not None and refreshed.last_update_time == pytest.approx(original + 10.1234567, abs=1e-6)
    assert refreshed.last_update_time > original


@contract
async def test_append_event_to_unknown_session_raises_session_not_found(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    await session_service.delete_session(app_name=APP, user_id="user", session_id=session.id)
    with pytest.raises(SessionNotFoundError):
        await session_service.append_event(session, event())


@contract
async def test_get_session_with_config(session_service: BaseSessionService) -> None:
    base = int(time.time())
    session = await session_service.create_session(app_name=APP, user_id="user")
    for i in range(1, 6):
        await session_service.append_event(session, Event(author="user", timestamp=base + i))

    async def timestamps(config: GetSessionConfig | None) -> list[float]:
        got = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id, config=config)
        assert got is not None
        return [e.timestamp for e in got.events]

    assert await timestamps(None) == [base + i for i in range(1, 6)]
    assert await timestamps(GetSessionConfig(num_recent_events=0)) == []
    assert await timestamps(GetSessionConfig(num_recent_events=3)) == [base + 3, base + 4, base + 5]
    assert await timestamps(GetSessionConfig(num_recent_events=50)) == [base + i for i in range(1, 6)]
    assert await timestamps(GetSessionConfig(after_timestamp=base + 4)) == [base + 4, base + 5]
    assert await timestamps(GetSessionConfig(after_timestamp=base + 50)) == []
    both = GetSessionConfig(after_timestamp=base + 4, num_recent_events=3)
    assert await timestamps(both) == [base + 4, base + 5]
    both = GetSessionConfig(after_timestamp=base + 2, num_recent_events=2)
    assert await timestamps(both) == [base + 4, base + 5]


@contract
async def test_partial_events_are_not_persisted(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="user")
    await session_service.append_event(
        session, Event(author="user", partial=True, actions=EventActions(state_delta={"k": 1}))
    )

    assert session.events == [] and "k" not in session.state
    got = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert got is not None and got.events == [] and got.state == {}


@pytest.fixture
def local_timezone_with_dst() -> Iterator[None]:
    """The test process in a time zone that repeats an hour each autumn (US Eastern)."""
    if not hasattr(time, "tzset"):  # pragma: no cover - POSIX has it
        yield
        return
    original = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if original is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = original
        time.tzset()


@contract
async def test_get_session_keeps_exact_epoch_across_a_repeated_local_hour(
    session_service: BaseSessionService, local_timezone_with_dst: None
) -> None:
    epochs = [1730613600.0, 1730615400.0]  # 01:00 and 01:30 US Eastern, the second time that morning
    session = await session_service.create_session(app_name=APP, user_id="user")
    for epoch in epochs:
        await session_service.append_event(session, Event(author="user", timestamp=epoch))

    got = await session_service.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert got is not None and [e.timestamp for e in got.events] == epochs


# -- get_user_state ----------------------------------------------------------------------------------------


@contract
async def test_get_user_state_returns_empty_dict_when_no_state_exists(session_service: BaseSessionService) -> None:
    assert await session_service.get_user_state(app_name=APP, user_id="u1") == {}


@contract
async def test_get_user_state_returns_state_written_via_append_event(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1")
    delta = {"user:profile": {"name": "Alice"}, "session_key": 1, "app:shared": 2}
    await session_service.append_event(session, event(author="system", state_delta=delta))
    assert await session_service.get_user_state(app_name=APP, user_id="u1") == {"profile": {"name": "Alice"}}


@contract
async def test_get_user_state_is_not_visible_across_users(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1")
    await session_service.append_event(session, event(author="system", state_delta={"user:secret": "only-for-u1"}))
    assert await session_service.get_user_state(app_name=APP, user_id="u2") == {}


@contract
async def test_get_user_state_is_not_visible_across_apps(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1")
    await session_service.append_event(session, event(author="system", state_delta={"user:data": "only-app-a"}))
    assert await session_service.get_user_state(app_name="other_app", user_id="u1") == {}


@contract
async def test_get_user_state_available_before_session_is_created(session_service: BaseSessionService) -> None:
    first = await session_service.create_session(app_name=APP, user_id="u1")
    await session_service.append_event(first, event(author="system", state_delta={"user:ctx": {"v": 1}}))
    await session_service.delete_session(app_name=APP, user_id="u1", session_id=first.id)
    assert await session_service.get_user_state(app_name=APP, user_id="u1") == {"ctx": {"v": 1}}


@contract
async def test_get_user_state_reflects_latest_write(session_service: BaseSessionService) -> None:
    session = await session_service.create_session(app_name=APP, user_id="u1", state={"user:counter": 0})
    await session_service.append_event(session, event(author="system", state_delta={"user:counter": 1}))
    await session_service.append_event(session, event(author="system", state_delta={"user:counter": 2}))
    assert await session_service.get_user_state(app_name=APP, user_id="u1") == {"counter": 2}
