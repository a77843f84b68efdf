"""Typed settings read from the Lambda environment (``template.yaml`` sets them)."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from session_service import __version__

DEFAULT_SESSION_TTL_SECONDS = 30 * 24 * 3600
"""30 days: the default idle lifetime of a session (SPEC section 6)."""


def _group_names(value: object) -> object:
    """``TRUSTED_GROUPS`` is one string (a template parameter's value): group names separated by commas."""
    return frozenset(value.replace(",", " ").split()) if isinstance(value, str) else value


GroupNames = Annotated[frozenset[Annotated[str, Field(min_length=1, max_length=128)]], BeforeValidator(_group_names)]


class Settings(BaseModel):
    """Service configuration.

    Environment variables (upper-cased field names): ``TABLE_NAME`` (required); the key of the HMAC that
    signs paging cursors, one of ``CURSOR_SECRET_ARN`` (deployed: the ARN or name of a Secrets Manager
    secret, read at run time by :func:`session_service.wiring.cursor_key`, so the key is not in the
    function's configuration) and ``CURSOR_SECRET`` (the key itself: ``make serve`` and tests; it wins
    when both are set); ``SESSION_TTL_SECONDS`` (seconds of idleness
    before a session expires, default 30 days), ``AUTHORIZER_ENABLED`` (``true`` when API Gateway's JWT
    authorizer fronts the API: the caller is then the verified ``sub``), ``ADMIN_GROUP`` (the
    ``cognito:groups`` value that may read service-wide statistics), ``TRUSTED_GROUPS`` (comma-separated
    ``cognito:groups`` values whose members, trusted backends, may act for the ``user_id`` they name when the
    authorizer is on; unset or empty trusts nobody), ``SUMMARY_MODEL_ID`` (an Amazon Bedrock model id; unset
    selects the extractive summarizer).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: Annotated[str, Field(min_length=3, max_length=255)]
    cursor_secret: Annotated[str, Field(min_length=16)] | None = None
    cursor_secret_arn: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    session_ttl_seconds: Annotated[int, Field(ge=60, le=10 * 365 * 24 * 3600)] = DEFAULT_SESSION_TTL_SECONDS
    authorizer_enabled: bool = False
    admin_group: str = "admin"
    trusted_groups: GroupNames = frozenset()
    summary_model_id: str | None = None
    service_version: str = __version__

    @model_validator(mode="after")
    def _needs_a_cursor_key(self) -> Settings:
        if self.cursor_secret is None and self.cursor_secret_arn is None:
            raise ValueError("CURSOR_SECRET_ARN (deployed) or CURSOR_SECRET (local) is required")
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``).

        Raises pydantic ``ValidationError`` when a required variable is missing or malformed.
        """
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)
