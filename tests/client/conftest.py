"""The client tier: session_service_client against `make serve`'s stack (``python -m devserver``) on Amazon
DynamoDB Local (the test session's shared instance, a table of its own), over real HTTP.

Where DynamoDB Local cannot run, the server falls back to its in-memory store (moto), said in the skip-free
log line, so the client is still exercised. Both clients run the same scenarios: the async one through
:class:`Blocking`, which drives it on an event loop of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from session_service_client import AsyncSessionServiceClient, SessionServiceClient

from devserver.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable, shared_instance
from devserver.server import RunningServer, serve_in_subprocess


def _dynamodb_local() -> DynamoDBLocal | None:
    try:
        return shared_instance()
    except DynamoDBLocalUnavailable:
        return None


@contextlib.contextmanager
def local_server(
    env: dict[str, str] | None = None, *, memory: bool = False
) -> Iterator[tuple[RunningServer, str | None, str]]:
    """A devserver on the shared DynamoDB Local (its own table), else (or with ``memory``) on its in-memory store;
    yields the server, the DynamoDB endpoint (``None`` in memory) and the table's name."""
    dynamodb = None if memory else _dynamodb_local()
    table = f"session-service-client-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"endpoint_url": dynamodb.endpoint} if dynamodb else {}
    with serve_in_subprocess(env={"TABLE_NAME": table, **(env or {})}, workers=2, **options) as server:
        yield server, dynamodb.endpoint if dynamodb else None, table


@contextlib.contextmanager
def degraded_server() -> Iterator[RunningServer]:
    """A devserver whose table is gone (dropped after it started): every call that reads it answers 503 with
    ``Retry-After``. On a DynamoDB Local of its own: dropping a table of the shared one stops the streams of
    the others. Raises ``DynamoDBLocalUnavailable`` where DynamoDB Local cannot run."""
    private = DynamoDBLocal().start()
    try:
        table = f"session-service-client-{uuid.uuid4().hex[:8]}"
        with serve_in_subprocess(endpoint_url=private.endpoint, env={"TABLE_NAME": table}, workers=1) as server:
            drop_table(private.endpoint, table)
            yield server
    finally:
        private.stop()


@dataclass
class Servers:
    """The package's servers, started together: ``main`` (no authorizer: ``user_id`` names the caller),
    ``authorizer`` (the authorizer on, in memory: no token is verified locally, so every call is 401) and
    ``degraded`` (its table dropped after start: 503; ``None`` without DynamoDB Local)."""

    main: RunningServer
    authorizer: RunningServer
    degraded: RunningServer | None


@pytest.fixture(scope="package")
def servers() -> Iterator[Servers]:
    dynamodb = _dynamodb_local()  # started once, before the servers that share it
    managers: list[Any] = [local_server(), local_server({"AUTHORIZER_ENABLED": "true"}, memory=True)]
    if dynamodb is not None:
        managers.append(degraded_server())
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
    try:
        for future in futures:
            if (error := future.exception()) is not None:
                raise error
        (main, _, _), (authorizer, _, _), *degraded = [future.result() for future in futures]
        yield Servers(main, authorizer, degraded[0] if degraded else None)
    finally:
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                manager.__exit__(None, None, None)


@pytest.fixture(scope="package")
def server(servers: Servers) -> RunningServer:
    """The package's main server."""
    return servers.main


@pytest.fixture(scope="package")
def base_url(server: RunningServer) -> str:
    return server.url


class Blocking:
    """An async client (or what it returns) driven to completion on ``loop``: coroutines are awaited, async
    iterators become iterators, async context managers context managers. So one scenario tests both clients."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(value(*args, **kwargs))

        return call

    def _wrap(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            return self._wrap(self._loop.run_until_complete(result))
        if inspect.isasyncgen(result):
            return self._iterate(result)
        if hasattr(result, "__aenter__"):
            return self._context(result)
        return result

    def _iterate(self, generator: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._loop.run_until_complete(generator.__anext__())
            except StopAsyncIteration:
                return

    @contextlib.contextmanager
    def _context(self, manager: Any) -> Iterator[Any]:
        entered = self._loop.run_until_complete(manager.__aenter__())
        try:
            yield Blocking(entered, self._loop)
        except BaseException as exc:
            if not self._loop.run_until_complete(manager.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            self._loop.run_until_complete(manager.__aexit__(None, None, None))


ClientFactory = Callable[..., Any]
Lose = Callable[[httpx.Request], bool]


class LosingTransport(httpx.BaseTransport):
    """A fault injector: forwards every request to the server, and loses the answer of the first ``times``
    requests that ``lose`` picks (the server applied them; the client gets ``ReadError``)."""

    def __init__(self, lose: Lose, times: int = 1) -> None:
        self._inner, self.lose, self.left = httpx.HTTPTransport(), lose, times
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self._inner.handle_request(request)
        response.read()
        if self.left and self.lose(request):
            self.left -= 1
            raise httpx.ReadError("the answer was lost", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncLosingTransport(httpx.AsyncBaseTransport):
    """:class:`LosingTransport` for the async client."""

    def __init__(self, lose: Lose, times: int = 1) -> None:
        self._inner, self.lose, self.left = httpx.AsyncHTTPTransport(), lose, times
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if self.left and self.lose(request):
            self.left -= 1
            raise httpx.ReadError("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest, base_url: str) -> Iterator[ClientFactory]:
    """Makes clients of the kind the test is parametrized with (``base_url`` defaults to the package's server;
    an async client comes wrapped in :class:`Blocking`); closes them at the end. ``lose=`` (and ``lose_times=``)
    puts a :class:`LosingTransport` under the client, returned as ``client.losing``."""
    loop = asyncio.new_event_loop()
    made: list[Any] = []

    def make(*, lose: Lose | None = None, lose_times: int = 1, **options: Any) -> Any:
        options.setdefault("base_url", base_url)
        synchronous = request.param == "sync"
        losing: Any = None
        if lose is not None:
            losing = (LosingTransport if synchronous else AsyncLosingTransport)(lose, lose_times)
            options["transport"] = losing
        client: Any = (SessionServiceClient if synchronous else AsyncSessionServiceClient)(**options)
        made.append(client)
        wrapped = client if synchronous else Blocking(client, loop)
        return (wrapped, losing) if lose is not None else wrapped

    yield make
    for client in made:
        if isinstance(client, SessionServiceClient):
            client.close()
        else:
            loop.run_until_complete(client.close())
    loop.close()


@pytest.fixture
def user() -> str:
    """A user of the test's own."""
    return f"client_user_{uuid.uuid4().hex[:10]}"


def drop_table(endpoint: str, table: str) -> None:
    """Delete ``table`` from the DynamoDB at ``endpoint`` (its server answers 503 from then on)."""
    boto3.client("dynamodb", endpoint_url=endpoint).delete_table(TableName=table)
