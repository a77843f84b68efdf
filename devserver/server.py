"""The local server behind ``make serve``: its lifecycle, from the store to the open socket and back.

:class:`DevServer` opens the store (:mod:`devserver.stores`), creates the table from ``template.yaml``,
starts the functions' instances (:mod:`devserver.instances`), the stream pump that delivers the table's
stream to the stream function (:mod:`devserver.streams`) and the HTTP server (:mod:`devserver.http_server`)
in front of the template's API (:mod:`devserver.local_api`); :meth:`DevServer.stop` takes them down in
reverse. ``python -m devserver`` (:mod:`devserver.__main__`) runs it until Ctrl-C or SIGTERM.

Instances: on a real DynamoDB, concurrent requests run in separate worker processes, at most ``--workers``
of them, each taking one invocation at a time, as Lambda's instances do; the stream function has an
instance of its own. With moto (in this process) there is one instance and invocations take turns.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Re-exported for benchmarks/serve_concurrency.py; devserver.child_process owns them.
from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.dynamodb_local import DATA_DIR
from devserver.http_server import HttpServer, http_server, serve_api
from devserver.instances import InProcess, InstancePool, InvocationError, Invoker
from devserver.local_api import INVOKE_LOCK, LocalApi
from devserver.stores import MOTO_MAX_ITEMS, STORES, Store, open_store
from devserver.template import (
    ensure_table,
    function_timeouts,
    routes,
    table_differences,
)

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_WORKERS",
    "MOTO_MAX_ITEMS",
    "STORES",
    "DevServer",
    "RunningServer",
    "serve_in_subprocess",
]

log = logging.getLogger("devserver")

DEFAULT_PORT = 8205
DEFAULT_WORKERS = 4
"""Concurrent instances (worker processes) of the API functions, as a bound on Lambda's concurrency."""
MIN_LOCAL_TIMEOUT = 30.0
"""Seconds an invocation may run before its instance is killed: the template's ``Timeout``, but at least
this, since a loaded laptop is slower than Lambda (the kill guards against a hung handler)."""


@dataclass
class DevServer:
    """The whole local stack: DynamoDB, the table, the instances, the stream poller and the HTTP server.

    ``store`` is ``dynamodb-local`` (persistent, in ``data_dir``), ``memory`` (DynamoDB Local in memory) or
    ``moto`` (in this process, refusing new writes past ``moto_max_items`` items; also the fallback where
    DynamoDB Local cannot start); ``endpoint_url`` overrides them. ``workers`` bounds the concurrent API
    instances on a real DynamoDB.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_url: str | None = None
    table_name: str | None = None
    streams: bool = True
    store: str = "dynamodb-local"
    data_dir: Path = DATA_DIR
    workers: int = DEFAULT_WORKERS
    moto_max_items: int = MOTO_MAX_ITEMS
    active_store: str = field(default="", init=False)
    """What it runs on once started: ``dynamodb-local``, ``memory``, ``moto`` or ``endpoint``."""
    _store: Store | None = field(default=None, init=False, repr=False)
    _pools: list[InstancePool] = field(default_factory=list, init=False, repr=False)
    _poller: Any = field(default=None, init=False, repr=False)
    _http: HttpServer | None = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Bring everything up; returns the base URL (``http://host:port``).

        Raises ``OSError`` if the port is taken (before anything starts: the socket is bound first),
        :class:`~devserver.dynamodb_local.DataDirInUse` when another server uses ``data_dir``, ``ValueError``
        for an unknown store.
        """
        self._http = http_server(self.host, self.port)
        store = self._store = open_store(
            self.store,
            endpoint_url=self.endpoint_url,
            data_dir=self.data_dir,
            table_name=self.table_name,
            moto_max_items=self.moto_max_items,
            moto_lock=INVOKE_LOCK,
        )
        self.active_store = store.kind
        import boto3

        from session_service import wiring

        wiring.reset()
        table = os.environ["TABLE_NAME"]
        region = os.environ["AWS_DEFAULT_REGION"]
        client = boto3.client("dynamodb", region_name=region, endpoint_url=store.endpoint)
        created = ensure_table(client, table)
        if not created and (differences := table_differences(client, table)):
            log.warning(
                "table %s differs from template.yaml in its %s: `make wipe` recreates it", table, "; ".join(differences)
            )
        api, stream_invoker = self._instances(store)
        if self.streams:
            self._start_streams(client, table, region, store, stream_invoker)
        serve_api(self._http, api)
        host, port = self.host, self._http.server_port
        log.info("DynamoDB: %s, table %s (%s)", store.description, table, "created" if created else "existing")
        url = f"http://{host}:{port}"
        # devserver.child_process finds the URL in this line.
        log.info("Serving Session Service on %s (docs at %s/docs)", url, url)
        return url

    def _instances(self, store: Store) -> tuple[LocalApi, Invoker | None]:
        """The API and the stream function's invoker (``None``: in this process, under ``INVOKE_LOCK``)."""
        if store.in_process:
            api = LocalApi(invoker=InProcess(INVOKE_LOCK), write_refusal=store.write_refusal)
            api.preload()
            log.info("instances: 1, in this process (moto lives here; invocations take turns)")
            return api, None
        timeouts = function_timeouts()
        api_routes = routes()
        code_dirs = sorted({route.code_dir for route in api_routes})
        api_timeout = max([timeouts.get(route.function, 3.0) for route in api_routes] + [MIN_LOCAL_TIMEOUT])
        api_pool = InstancePool("api", self.workers, preload=code_dirs, timeout=api_timeout)
        self._pools.append(api_pool)
        stream_pool: InstancePool | None = None
        if self.streams:
            from devserver.streams import stream_consumers

            # One instance per stream consumer (statistics, summaries): a slow summary never holds statistics up.
            consumers = stream_consumers()
            stream_timeout = max([timeouts.get(c.function, 3.0) for c in consumers] + [MIN_LOCAL_TIMEOUT])
            preload = [c.code_dir for c in consumers]
            stream_pool = InstancePool("stream", len(consumers), preload=preload, timeout=stream_timeout)
            self._pools.append(stream_pool)
        # Both warm up at once: the API's first instance and the stream function's only one.
        errors: list[Exception] = []

        def warm(pool: InstancePool) -> None:
            try:
                pool.start()
            except InvocationError as exc:
                errors.append(exc)

        starters = [threading.Thread(target=warm, args=(pool,), daemon=True) for pool in self._pools]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        if errors:
            raise errors[0]
        log.info(
            "instances: up to %d for the API (--workers), started on demand, one invocation each at a time; "
            "1 for the stream function",
            self.workers,
        )
        return LocalApi(api_routes, invoker=api_pool, write_refusal=store.write_refusal), stream_pool

    def _start_streams(self, client: Any, table: str, region: str, store: Store, invoker: Invoker | None) -> None:
        """Start the thread that pumps the table's stream into the stream function (``invoker``, or this
        process under ``INVOKE_LOCK``)."""
        from devserver.streams import stream_pollers_for_table

        try:
            # One poller per stream consumer of the template (statistics, summaries), each with its filter.
            self._poller = stream_pollers_for_table(
                client,
                table,
                region=region,
                endpoint_url=store.endpoint,
                invoke_lock=INVOKE_LOCK if invoker is None else None,
                invoker=invoker,
                positions_file=store.positions_file,
            )
        except LookupError as exc:
            log.warning("no stream delivery: %s", exc)
            return
        self._poller.start()

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` or Ctrl-C."""
        assert self._http is not None, "start() first"
        self._http.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop the poller, close the socket, stop the instances, DynamoDB Local and moto. Safe to call
        more than once."""
        if self._http is not None:
            self._http.server_close()
            self._http = None
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        for pool in self._pools:
            pool.close()
        self._pools.clear()
        if self._store is not None:
            self._store.stop()
            self._store = None
