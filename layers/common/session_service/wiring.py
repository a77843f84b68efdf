"""Lazy, cached wiring: settings, the DynamoDB client and the repository are built on first use.

Nothing here runs at import time, so a handler that does not touch DynamoDB (``GET /health``) never
imports boto3. Tests call :func:`reset` to rebuild everything for a new environment.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from session_service.settings import Settings

if TYPE_CHECKING:
    from session_service.repository import SessionRepository


@cache
def settings() -> Settings:
    """The process's :class:`Settings`, read from the environment once."""
    return Settings.from_env()


@cache
def dynamodb_client() -> Any:
    """A low-level DynamoDB client: standard retry mode, 3 attempts in all, timeouts of 2 s (connect), 5 s (read).

    Honours ``AWS_ENDPOINT_URL_DYNAMODB`` (DynamoDB Local, the embedded server) as boto3 does.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    return boto3.client("dynamodb", config=config)


@cache
def repository() -> SessionRepository:
    """The :class:`~session_service.repository.SessionRepository` over the configured table."""
    from session_service.cursor import CursorCodec
    from session_service.repository import SessionRepository

    config = settings()
    return SessionRepository(
        dynamodb_client(),
        config.table_name,
        ttl_seconds=config.session_ttl_seconds,
        cursors=CursorCodec(config.cursor_secret),
    )


def reset() -> None:
    """Forget every cached object (tests, or the local server after changing the environment)."""
    for cached in (settings, dynamodb_client, repository):
        cached.cache_clear()
