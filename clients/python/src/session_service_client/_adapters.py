"""What the framework adapters share: service session ids derived from framework ids, the client each call
uses, and a write that creates its session on first use.

An adapter is given a ``base_url`` (it then makes its own clients) or a ``client=``. Frameworks call an
adapter's async methods from several event loops (the OpenAI Agents SDK's ``Runner.run_sync`` runs each turn
on a new loop, in a thread), and an ``httpx.AsyncClient`` belongs to the loop it first ran on: so the
adapter keeps one :class:`AsyncSessionServiceClient` per running loop, closed on that loop when the loop shuts
down (``asyncio.run`` closes a loop's async generators before the loop: a suspended one per client runs the
close), and one thread-safe :class:`SessionServiceClient` for its synchronous methods. A given synchronous
client also serves the async methods (through a worker thread); a given async client serves only the async
methods, on its own loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import threading
import uuid
import weakref
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from session_service_client._calls import Call
from session_service_client.async_client import AsyncSessionServiceClient
from session_service_client.client import SessionServiceClient

T = TypeVar("T")

ID_NAMESPACE = uuid.UUID("6f1c1b0e-7f0e-5d57-9b0a-2c5a3e3d8f20")
"""The root of every id an adapter derives (uuid5): fixed forever, or stored sessions are lost to their ids."""


ID_KEY_VARIABLE = "SESSION_SERVICE_ID_KEY"
"""The environment variable holding a secret of the deployment's backend: when set, ids are keyed with it."""


def service_id(framework: str, namespace: str | None, user_id: str, *parts: str) -> str:
    """The service session id of a framework's id: a UUID (version 5) of the framework, the namespace, the user
    and the framework's id parts. The same inputs always give the same id; two users' (or two namespaces')
    equal framework ids give different ones. Each part is length-prefixed, so no two tuples share a name.

    Anyone who knows those inputs can compute such an id, and a user who calls the service directly could
    create a session of that id first (the owner then meets 409 and cannot use the id; no data leaks, sessions
    are the owner's only). Where end users reach the service directly, set :data:`ID_KEY_VARIABLE` in the
    backend's processes to a secret: ids are then an HMAC-SHA256 of the same name under that key (a UUID with
    version 8 bits), which no one without the key can compute. The key must never change once sessions exist
    (their ids follow it)."""
    fields = [framework, "" if namespace is None else f"ns:{namespace}", user_id, *parts]
    name = "".join(f"{len(field)}:{field}" for field in fields)
    key = os.environ.get(ID_KEY_VARIABLE)
    if not key:
        return str(uuid.uuid5(ID_NAMESPACE, name))
    digest = bytearray(hmac.new(key.encode(), name.encode(), hashlib.sha256).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8 (RFC 9562: custom)
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    return str(uuid.UUID(bytes=bytes(digest)))


class Clients:
    """The clients an adapter's calls go through (see the module's docstring)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        client: SessionServiceClient | AsyncSessionServiceClient | None,
        user_id: str,
    ) -> None:
        if (base_url is None) == (client is None):
            raise TypeError("give base_url or client=, not both")
        self.user_id = user_id
        self._base_url = base_url
        self._given = client
        self._sync: SessionServiceClient | None = client if isinstance(client, SessionServiceClient) else None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def sync(self) -> SessionServiceClient:
        """The synchronous client (made on first use from ``base_url``)."""
        with self._lock:
            if self._sync is None:
                if self._base_url is None:
                    raise TypeError("the synchronous methods need base_url or a SessionServiceClient as client=")
                self._sync = SessionServiceClient(self._base_url, user_id=self.user_id)
            return self._sync

    async def _async(self) -> AsyncSessionServiceClient | None:
        if isinstance(self._given, AsyncSessionServiceClient):
            return self._given
        if self._base_url is None:
            return None  # a given synchronous client: calls go through a worker thread
        loop = asyncio.get_running_loop()
        with self._lock:
            held = self._per_loop.get(loop)
            if held is None:
                held = self._per_loop[loop] = _LoopClient(
                    AsyncSessionServiceClient(self._base_url, user_id=self.user_id)
                )
        await held.guard()
        return held.client

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the client method ``method`` (both clients have the same surface) on the running loop's client,
        or on the synchronous client in a worker thread, for the adapter's user (a given client's own user, a
        trusted backend's included, is never the one the adapter's sessions belong to)."""
        kwargs.setdefault("user_id", self.user_id)
        remote = await self._async()
        if remote is not None:
            return await getattr(remote, method)(*args, **kwargs)
        return await asyncio.to_thread(getattr(self.sync(), method), *args, **kwargs)

    async def send(self, call: Call[T]) -> T:
        """Send a prepared :class:`~session_service_client._calls.Call` (an adapter's own request and parser: a
        raw JSON answer, a status the typed method hides) with the client's retries and errors, on the running
        loop's client or on the synchronous client in a worker thread."""
        remote = await self._async()
        if remote is not None:
            return await remote._send(call)
        return await asyncio.to_thread(self.sync()._send, call)

    def close(self) -> None:
        """Close the clients this adapter made (a given client is the caller's to close)."""
        with self._lock:
            made_sync = self._sync if self._given is None else None
            self._sync = None if self._given is None else self._sync
            loops = list(self._per_loop.items())
            self._per_loop.clear()
        if made_sync is not None:
            made_sync.close()
        for loop, held in loops:
            if not loop.is_closed() and not loop.is_running():
                loop.run_until_complete(held.client.close())

    async def aclose(self) -> None:
        """Close the clients this adapter made, the running loop's included."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - called from a coroutine
            running = None
        with self._lock:
            mine = self._per_loop.pop(running, None) if running is not None else None
        if mine is not None:
            await mine.client.close()
        self.close()


class _LoopClient:
    """An async client of one event loop, and the suspended async generator that closes it when the loop shuts
    down: ``asyncio.run`` (and ``loop.shutdown_asyncgens()``) closes a loop's live async generators while the
    loop still runs, so the client's connections are closed on their own loop instead of left to the garbage
    collector."""

    def __init__(self, client: AsyncSessionServiceClient) -> None:
        self.client = client
        self._guard: AsyncGenerator[None, None] | None = None

    async def guard(self) -> None:
        if self._guard is None:
            self._guard = self._closing()
            await self._guard.__anext__()  # started: the loop now knows it

    async def _closing(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.client.close()


def session_fields(framework: str, namespace: str | None, **ids: str | None) -> dict[str, Any]:
    """The metadata an adapter's session carries: which framework made it, in which namespace, for which ids
    (read back by a person or an export; the adapters themselves find sessions by their derived ids)."""
    return {
        "framework": framework,
        **({"namespace": namespace} if namespace is not None else {}),
        **{name: value for name, value in ids.items() if value is not None},
    }
