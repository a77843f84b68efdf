"""Event times through :class:`SessionServiceSessionService` and, as the control, ADK's ``InMemorySessionService``:
``after_timestamp`` compares the events' exact floats (the service keeps microseconds, and two events less than
one apart are still told apart), and ``last_update_time`` is the latest event's exact float."""

from __future__ import annotations

import time

from google.adk.events import Event
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig

from tests.frameworks.test_adk_session_service_contract import contract, session_service  # noqa: F401 - the fixture


@contract
async def test_after_timestamp_tells_apart_events_less_than_a_microsecond_apart(
    session_service: BaseSessionService,  # noqa: F811 - the imported fixture
) -> None:
    base = float(int(time.time()))
    stamps = [base + 0.1234564, base + 0.1234566, base + 1.0000004, base + 2.9999996]
    session = await session_service.create_session(app_name="app", user_id="u")
    for stamp in stamps:
        await session_service.append_event(session, Event(author="user", timestamp=stamp))

    for index, stamp in enumerate(stamps):
        config = GetSessionConfig(after_timestamp=stamp)
        got = await session_service.get_session(app_name="app", user_id="u", session_id=session.id, config=config)
        assert got is not None and [event.timestamp for event in got.events] == stamps[index:]
    latest = await session_service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert latest is not None and latest.last_update_time == stamps[-1] == session.last_update_time
