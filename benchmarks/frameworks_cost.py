"""Requests per framework call through each adapter, and DynamoDB write units per add beside the stores in use.

On DynamoDB Local, with the API served in this process (the handlers' DynamoDB client metered; the stream
function does not run: its statistics are written in the background, apart from the call measured):

1. **Requests per framework call**: the HTTP requests each adapter sends to the service for each call of its
   framework's interface, counted with an httpx event hook, at steady state (the conversation exists) and for
   the first write of a conversation.
2. **Write units per add**: a conversation of 300 adds of one ~1 KB item each, the write units of the 10th and
   of the 300th add, through our three adapters and through the DynamoDB stores people use today: LangChain's
   ``DynamoDBChatMessageHistory`` (langchain-community) and ``openai-agents-session``'s ``DynamoDBSession``,
   both run as published, on a table of their own in the same DynamoDB Local. Both keep the whole history in
   one item and rewrite it on every add (``DynamoDBSession`` gets an async facade over a metered boto3 client:
   it is written for aiobotocore, which only wraps the same calls).

    make bench    # runs it in .venv-frameworks (make test-frameworks makes it)
    PYTHONPATH=layers/common:. .venv-frameworks/bin/python benchmarks/frameworks_cost.py [--endpoint URL] [--adds 300]
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

from harness import CONTENT, bench, parser
from meter import Meter

ITEM = {"role": "user", "content": CONTENT}
"""A ~1 KB Responses API item."""


class Requests:
    """HTTP requests a client sent, counted by an httpx event hook."""

    def __init__(self) -> None:
        self.count = 0

    def hook(self, _: Any) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def serve() -> tuple[str, Callable[[], None]]:
    """The API in this process on a free port: its URL and how to stop it."""
    from devserver.http_server import http_server
    from devserver.local_api import LocalApi

    api = LocalApi()
    api.preload()
    server = http_server("127.0.0.1", 0, api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def requests_per_call(url: str) -> list[tuple[str, str, int, str]]:
    """(framework, call, requests, goal) for every call of every adapter."""
    from langchain_core.messages import AIMessage, HumanMessage
    from session_service_client import SessionServiceClient
    from session_service_client.claude import SessionServiceSessionStore
    from session_service_client.langchain import SessionServiceChatMessageHistory
    from session_service_client.openai_agents import SessionServiceSession

    counted = Requests()
    user = f"bench_{uuid.uuid4().hex[:8]}"
    client = SessionServiceClient(url, user_id=user)
    client._http.event_hooks["request"] = [counted.hook]
    rows: list[tuple[str, str, int, str]] = []

    def row(framework: str, call: str, goal: str) -> None:
        rows.append((framework, call, counted.take(), goal))

    async def openai() -> None:
        session = SessionServiceSession("bench", client=client, user_id=user)
        await session.add_items([ITEM])
        row("OpenAI Agents", "add_items (first write of a session)", "3")
        await session.add_items([ITEM, ITEM])
        row("OpenAI Agents", "add_items (a batch of 2)", "1")
        await session.get_items(limit=10)
        row("OpenAI Agents", "get_items(limit=10)", "1")
        await session.get_items()
        row("OpenAI Agents", "get_items() (3 items)", "1")
        await session.pop_item()
        row("OpenAI Agents", "pop_item", "1")
        await session.clear_session()
        row("OpenAI Agents", "clear_session", "1")

    asyncio.run(openai())
    history = SessionServiceChatMessageHistory("bench", client=client, user_id=user)
    history.add_messages([HumanMessage("hi")])
    row("LangChain", "add_messages (first write)", "3")
    history.add_messages([HumanMessage("a"), AIMessage("b")])
    row("LangChain", "add_messages (a batch of 2)", "1")
    _ = history.messages
    row("LangChain", "messages (3 messages, one page)", "1")
    history.clear()
    row("LangChain", "clear", "1")

    async def claude() -> None:
        store = SessionServiceSessionStore(client=client, user_id=user)
        key: Any = {"project_key": "bench", "session_id": "s"}
        await store.append(key, [{"type": "user", "uuid": "u0"}])
        row("Claude Agent SDK", "append (first write)", "3")
        await store.append(key, [{"type": "assistant", "uuid": f"u{n}"} for n in range(1, 21)])
        row("Claude Agent SDK", "append (a batch of 20)", "1")
        await store.load(key)
        row("Claude Agent SDK", "load (21 entries, one page)", "1")
        await store.list_sessions("bench")
        row("Claude Agent SDK", "list_sessions (the user has 3 sessions)", "1 per 200 sessions of the user")
        await store.list_session_summaries("bench")
        row("Claude Agent SDK", "list_session_summaries (1 session)", "listing + 1 load per session")
        await store.list_subkeys(key)
        row("Claude Agent SDK", "list_subkeys", "1 per 200 sessions of the user")
        await store.delete(key)
        row("Claude Agent SDK", "delete (main key, no subpaths)", "listing + 1 per 25")

    asyncio.run(claude())
    client.close()
    return rows


class AsyncFacade:
    """aiobotocore's shape over a boto3 client: ``await client.get_item(...)`` runs the same call."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        async def run(**kwargs: Any) -> Any:
            return call(**kwargs)

        return run


def write_units(url: str, dynamodb: Any, service_meter: Meter, adds: int) -> list[tuple[str, float, float, str]]:
    """(store, WCU of add 10, WCU of add ``adds``, note) for each store."""
    from langchain_community.chat_message_histories import DynamoDBChatMessageHistory  # sunset: warns
    from langchain_core.messages import HumanMessage
    from openai_agents_session import DynamoDBSession
    from session_service_client import SessionServiceClient
    from session_service_client.claude import SessionServiceSessionStore
    from session_service_client.langchain import SessionServiceChatMessageHistory
    from session_service_client.openai_agents import SessionServiceSession

    marks = sorted({10, adds})
    user = f"bench_{uuid.uuid4().hex[:8]}"
    client = SessionServiceClient(url, user_id=user)

    def measure(meter: Meter, add: Callable[[int], None]) -> list[float]:
        seen = []
        for n in range(1, adds + 1):
            meter.reset()
            add(n)
            if n in marks:
                seen.append(meter.write_units)
        return seen

    rows: list[tuple[str, float, float, str]] = []
    session = SessionServiceSession("wcu", client=client, user_id=user)
    units = measure(service_meter, lambda n: asyncio.run(session.add_items([{**ITEM, "n": n}])))
    rows.append(("SessionServiceSession (ours)", *units, "add_items of 1 item"))
    history = SessionServiceChatMessageHistory("wcu", client=client, user_id=user)
    units = measure(service_meter, lambda n: history.add_messages([HumanMessage(f"{n}: {CONTENT}")]))
    rows.append(("SessionServiceChatMessageHistory (ours)", *units, "add_messages of 1 message"))
    store = SessionServiceSessionStore(client=client, user_id=user)
    key: Any = {"project_key": "wcu", "session_id": "s"}
    units = measure(
        service_meter,
        lambda n: asyncio.run(store.append(key, [{"type": "user", "uuid": f"u{n}", "text": CONTENT}])),
    )
    rows.append(("SessionServiceSessionStore (ours)", *units, "append of 1 entry"))
    client.close()

    endpoint = dynamodb.meta.endpoint_url
    table = f"langchain-history-{uuid.uuid4().hex[:6]}"
    _hash_table(dynamodb, table, "SessionId")
    lc = DynamoDBChatMessageHistory(table_name=table, session_id="wcu", endpoint_url=endpoint)
    lc_meter = Meter().attach(lc.table.meta.client)
    # A resource's calls build their parameters after the meter's hook: ask for the capacity there too.
    lc.table.meta.client.meta.events.register("before-parameter-build.dynamodb", _ask_for_capacity)
    try:
        units = measure(lc_meter, lambda n: lc.add_message(HumanMessage(f"{n}: {CONTENT}")))
        note = "add_message: GetItem, then UpdateItem of the whole history"
    except Exception as exc:  # the store's own failure (its 400 KB item) is the finding
        units, note = [float("nan")] * len(marks), f"failed: {type(exc).__name__}"
    rows.append(("LangChain DynamoDBChatMessageHistory", *units, note))

    table = f"agents-session-{uuid.uuid4().hex[:6]}"
    _hash_table(dynamodb, table, "session_id")
    oa_meter = Meter().attach(dynamodb)
    oa = DynamoDBSession("wcu", AsyncFacade(dynamodb), table)
    units = measure(oa_meter, lambda n: asyncio.run(oa.add_items([{**ITEM, "n": n}])))
    note = "add_items: GetItem, then PutItem of the whole history"
    rows.append(("openai-agents-session DynamoDBSession", *units, note))
    return rows


def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
    if "ReturnConsumedCapacity" in model.input_shape.members:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


def _hash_table(dynamodb: Any, table: str, key: str) -> None:
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table)


def main() -> None:
    args = parser(__doc__)
    args.add_argument("--adds", type=int, default=300, help="adds per conversation (default 300)")
    options = args.parse_args()
    with bench(options.endpoint) as setup:
        from session_service import wiring

        service_meter = Meter().attach(wiring.dynamodb_client())
        url, stop = serve()
        try:
            calls = requests_per_call(url)
            units = write_units(url, setup.client, service_meter, options.adds)
        finally:
            stop()
    print("Requests per framework call (HTTP requests to the service)")
    print(f"  {'framework':<18} {'call':<44} {'requests':>8}  goal")
    for framework, call, count, goal in calls:
        print(f"  {framework:<18} {call:<44} {count:>8}  {goal}")
    print()
    print(f"DynamoDB write units per add of one ~1 KB item (add 10 and add {options.adds} of one conversation)")
    print(f"  {'store':<40} {'add 10':>8} {f'add {options.adds}':>8}  what an add is")
    for name, first, last, note in units:
        print(f"  {name:<40} {first:>8.1f} {last:>8.1f}  {note}")


if __name__ == "__main__":
    main()
