"""Google ADK's session service on Session Service: requests and time per call, beside ADK's own
DatabaseSessionService on SQLite.

Starts Amazon DynamoDB Local (no Docker) with the table from template.yaml and ``python -m devserver`` on it, and
drives :class:`session_service_client.adk.SessionServiceSessionService` (the ``[adk]`` extra: run it in
``.venv-frameworks``), counting its HTTP requests with an httpx hook; the same calls go to ADK's
``DatabaseSessionService`` on a SQLite file (aiosqlite). Both hold the same data: a session of ``--events`` events
(default 3,000: ADK's google/adk-python#4917 measured about 8 s for its ``get_session``), one of 30, and
``--sessions`` sessions of one user (default 5,000: google/adk-python#4871 measured about 40 s for
``list_sessions``). Printed per call: our requests, and the median milliseconds of ``--runs`` runs of each. Then
DynamoDB's read capacity of the newest-20 events read at 30 and at ``--events`` events (the handlers' repository,
in-process on the same table): ``get_session`` with ``num_recent_events=20`` costs the same at both.

    PYTHONPATH=layers/common:. .venv-frameworks/bin/python benchmarks/adk_cost.py                   # about 3 min
    PYTHONPATH=layers/common:. .venv-frameworks/bin/python benchmarks/adk_cost.py --events 300 --sessions 400
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import harness
from meter import Meter

APP = "bench_app"
USER = "alice"
BATCH_MESSAGES = 98
BATCH_SESSIONS = 25


def _event(index: int, start: float) -> Any:
    from google.adk.events import Event
    from google.genai import types

    words = f"turn {index:06d}: which museums open on Monday, and how long is the walk between them? " * 2
    author = "user" if index % 2 == 0 else "planner"
    role = "user" if index % 2 == 0 else "model"
    return Event(
        author=author, timestamp=start + index, content=types.Content(role=role, parts=[types.Part(text=words)])
    )


async def _median_ms(call: Callable[[], Awaitable[Any]], runs: int) -> float:
    await call()  # a warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def _fill_ours(client: Any, adapter: Any, session_id: str, events: int) -> None:
    """``events`` events in the session, written as the adapter writes them, a batch of 98 a request."""
    import uuid as uuid_module

    sid = adapter.service_session_id(APP, USER, session_id)
    start = time.time() - events - 10
    bodies = []
    for index in range(events):
        event = _event(index, start)
        bodies.append(
            {
                "role": "user" if event.author == "user" else "assistant",
                "content": "",
                "data": event.model_dump(exclude_none=True, mode="json"),
                "message_id": str(uuid_module.uuid5(uuid_module.UUID(sid), event.id)),
                "timestamp": event.timestamp,
            }
        )
    for begin in range(0, len(bodies), BATCH_MESSAGES):
        await client.append_messages(sid, bodies[begin : begin + BATCH_MESSAGES], user_id=USER)


async def _fill_ours_sessions(client: Any, adapter: Any, count: int) -> None:
    """``count`` ADK sessions of the user, created as the adapter creates them, 25 a request."""
    from session_service_client.adk import service_namespace

    for begin in range(0, count, BATCH_SESSIONS):
        items = [
            {
                "session_id": adapter.service_session_id(APP, USER, f"listed-{n}"),
                "namespace": service_namespace(adapter.namespace, APP),
                "title": adapter._title(USER, f"listed-{n}"),
            }
            for n in range(begin, min(begin + BATCH_SESSIONS, count))
        ]
        await client.create_sessions(items, user_id=USER)


async def _fill_database(database: Any, events: int, sessions: int) -> tuple[Any, Any]:
    """The same data in ADK's DatabaseSessionService: the long and the short session, and ``sessions`` more."""
    long = await database.create_session(app_name=APP, user_id=USER, session_id="long")
    start = time.time() - events - 10
    for index in range(events):
        await database.append_event(long, _event(index, start))
    short = await database.create_session(app_name=APP, user_id=USER, session_id="short")
    for index in range(30):
        await database.append_event(short, _event(index, start))
    await database.create_session(app_name=APP, user_id=USER, session_id="turns")
    for n in range(sessions):
        await database.create_session(app_name=APP, user_id=USER, session_id=f"listed-{n}")
    return long, short


async def _report(url: str, args: Any, bench: Any, db_path: Path) -> None:
    from google.adk.events import Event, EventActions
    from google.adk.sessions import DatabaseSessionService
    from google.adk.sessions.base_session_service import GetSessionConfig
    from session_service_client import AsyncSessionServiceClient
    from session_service_client.adk import SessionServiceSessionService

    sent: list[str] = []

    async def count(request: Any) -> None:
        sent.append(f"{request.method} {request.url.path}")

    database = DatabaseSessionService(f"sqlite+aiosqlite:///{db_path}")
    async with AsyncSessionServiceClient(url) as client:
        adapter = SessionServiceSessionService(client=client, namespace=f"bench-{uuid.uuid4().hex[:6]}")
        started = time.perf_counter()
        for session_id in ("long", "short", "turns"):
            await adapter.create_session(app_name=APP, user_id=USER, session_id=session_id)
        await _fill_ours(client, adapter, "long", args.events)
        await _fill_ours(client, adapter, "short", 30)
        await _fill_ours_sessions(client, adapter, args.sessions)
        filled_ours = time.perf_counter() - started
        started = time.perf_counter()
        await _fill_database(database, args.events, args.sessions)
        filled_db = time.perf_counter() - started
        print(
            f"DynamoDB Local at {bench.endpoint}; a session of {args.events} events, one of 30, one the appends go"
            f" to, {args.sessions} more sessions of the user (filled in {filled_ours:.0f} s; DatabaseSessionService"
            " on SQLite in"
            f" {filled_db:.0f} s); median of {args.runs} runs"
        )
        client._http.event_hooks["request"] = [count]
        stamp = [time.time()]

        def delta() -> dict[str, Any]:
            stamp[0] += 1
            return {"step": stamp[0], "user:last": stamp[0], "app:turns": stamp[0], "temp:scratch": 1}

        async def append(service: Any) -> float:
            """One append_event with deltas in every scope on a session just read: its milliseconds."""
            session = await service.get_session(
                app_name=APP, user_id=USER, session_id="turns", config=GetSessionConfig(num_recent_events=0)
            )
            sent.clear()
            event = Event(author="user", timestamp=stamp[0], actions=EventActions(state_delta=delta()))
            started = time.perf_counter()
            await service.append_event(session, event)
            return (time.perf_counter() - started) * 1000

        def recent(events: int, session_id: str) -> Callable[[Any], Awaitable[Any]]:
            config = GetSessionConfig(num_recent_events=events)
            return lambda service: service.get_session(app_name=APP, user_id=USER, session_id=session_id, config=config)

        async def create_and_delete(service: Any) -> None:
            name = f"c-{uuid.uuid4().hex[:8]}"
            await service.create_session(
                app_name=APP, user_id=USER, session_id=name, state={"a": 1, "user:b": 2, "app:c": 3}
            )
            await service.delete_session(app_name=APP, user_id=USER, session_id=name)

        first_page = f"/api/v1/users/{USER}/sessions"
        rows: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
            ("create_session + delete_session", create_and_delete),
            ("get_session recent 20 @ 30", recent(20, "short")),
            (f"get_session recent 20 @ {args.events}", recent(20, "long")),
            (
                f"get_session all @ {args.events}",
                lambda s: s.get_session(app_name=APP, user_id=USER, session_id="long"),
            ),
            (f"list_sessions ({args.sessions + 3})", lambda s: s.list_sessions(app_name=APP, user_id=USER)),
            ("list_sessions every user", lambda s: s.list_sessions(app_name=APP)),
            ("get_user_state", lambda s: s.get_user_state(app_name=APP, user_id=USER)),
        ]
        print(f"{'call':<32} {'requests':>8} {'ours ms':>9} {'SQLite ms':>10}")
        appends = {
            service: [await append(service) for _ in range(args.runs + 1)][1:] for service in (adapter, database)
        }
        await append(adapter)
        ours_append, sqlite_append = (statistics.median(appends[service]) for service in (adapter, database))
        print(f"{'append_event (3 scopes)':<32} {len(sent):>8} {ours_append:>9.1f} {sqlite_append:>10.1f}")
        for name, call in rows:
            sent.clear()
            await call(adapter)
            requests = len(sent)
            ours = await _median_ms(lambda call=call: call(adapter), args.runs)  # type: ignore[misc]
            theirs = await _median_ms(lambda call=call: call(database), args.runs)  # type: ignore[misc]
            print(f"{name:<32} {requests:>8} {ours:>9.1f} {theirs:>10.1f}")
        page = await _median_ms(
            lambda: client._send(_get(first_page, {"namespace": _ns(adapter), "include": "state", "page_size": "200"})),
            args.runs,
        )
        print(f"{'list_sessions first page (200)':<32} {1:>8} {page:>9.1f} {'-':>10}")
    await database.close()
    _capacity(bench, adapter, args.events)


def _ns(adapter: Any) -> str:
    from session_service_client.adk import service_namespace

    return str(service_namespace(adapter.namespace, APP))


def _get(path: str, params: dict[str, str]) -> Any:
    from session_service_client._calls import Call

    return Call("GET", path, lambda response: response.status_code, params=params, retry=True)


def _capacity(bench: Any, adapter: Any, events: int) -> None:
    """DynamoDB's read capacity of the newest 20 messages at 30 and at ``events`` messages (in-process)."""
    from session_service import wiring
    from session_service.models import MessageOrder

    meter = Meter().attach(wiring.dynamodb_client())
    units = {}
    for session_id in ("short", "long"):
        sid = adapter.service_session_id(APP, USER, session_id)
        bench.repo.list_messages(sid, USER, order=MessageOrder.DESC, page_size=20)
        meter.reset()
        bench.repo.list_messages(sid, USER, order=MessageOrder.DESC, page_size=20)
        units[session_id] = meter.snapshot()
    short, long = units["short"], units["long"]
    print(
        f"newest 20 events: {short.read_units:.1f} read units ({short.requests} round trips) at 30 events,"
        f" {long.read_units:.1f} ({long.requests}) at {events}: {long.read_units / short.read_units:.2f}x"
    )


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--sessions", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench, tempfile.TemporaryDirectory() as scratch:
        from devserver.child_process import serve_in_subprocess

        with serve_in_subprocess(endpoint_url=bench.endpoint, env={"TABLE_NAME": bench.table}, workers=1) as server:
            asyncio.run(_report(server.url, args, bench, Path(scratch) / "adk.db"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
