"""Lazy, cached wiring: settings, the DynamoDB client, the cursor key and the repository are built on first use.

Nothing here runs at import time, so a handler that does not touch DynamoDB (``GET /health``) never
imports boto3, and one that never pages never reads the cursor key. Tests call :func:`reset` to rebuild
everything for a new environment.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from session_service.settings import Settings

if TYPE_CHECKING:
    from session_service.repository import SessionRepository
    from session_service.stream import StreamProcessor
    from session_service.stream.summaries import SummaryWriter


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
def cursor_key() -> str:
    """The key that signs paging cursors: ``CURSOR_SECRET`` when set (``make serve``, tests), else the
    ``SecretString`` of the secret ``CURSOR_SECRET_ARN`` names, read with Powertools Parameters once per
    process (a cold start; cached here, so ``force_fetch`` skips Powertools' own 5 s cache).

    Called on the first cursor a request encodes or decodes, so only listing functions need
    ``secretsmanager:GetSecretValue`` and pay the call. Raises :class:`~session_service.errors.ServiceUnavailable`
    (503) when Secrets Manager cannot be read (nothing is cached then: the next request tries again),
    ``ValueError`` when the secret is shorter than 16 characters (a deployment error).
    """
    config = settings()
    if config.cursor_secret is not None:
        return config.cursor_secret
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from session_service.errors import ServiceUnavailable

    try:
        key = get_secret(str(config.cursor_secret_arn), force_fetch=True)
    except GetParameterError as exc:
        raise ServiceUnavailable() from exc
    if not isinstance(key, str) or len(key) < 16:
        raise ValueError("the cursor secret must be a SecretString of at least 16 characters")
    return key


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
        cursors=CursorCodec(cursor_key),
    )


def stream_processor() -> StreamProcessor:
    """The statistics function's :class:`~session_service.stream.StreamProcessor` over the configured table (no
    summarizer: the summary function makes the summaries)."""
    from session_service.stream import StreamProcessor

    return StreamProcessor(dynamodb_client(), settings().table_name)


def summary_writer() -> SummaryWriter:
    """The summary function's :class:`~session_service.stream.summaries.SummaryWriter` over the configured table and
    summarizer (``SUMMARY_MODEL_ID``)."""
    from session_service.stream.summaries import SummaryWriter
    from session_service.summarizer import summarizer_for

    config = settings()
    return SummaryWriter(dynamodb_client(), config.table_name, summarizer_for(config.summary_model_id))


def reset() -> None:
    """Forget every cached object (tests, or the local server after changing the environment)."""
    for cached in (settings, dynamodb_client, cursor_key, repository):
        cached.cache_clear()
