"""Opaque paging cursors (``next_token``): URL-safe, signed, bound to one caller and one listing.

A cursor is ``base64url(json(position)) + "." + base64url(hmac)``; the HMAC-SHA256 covers the listing's
scope (caller, listing, filters) as well as the position, so a cursor that was edited, or that was issued
for another user or another listing, fails verification and the API answers 400 (SPEC section 3).
Never the raw ``LastEvaluatedKey``: that would let a client aim a Query anywhere in the table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from session_service.errors import InvalidCursor

MAX_CURSOR_CHARS = 2048
_TAG_BYTES = 16


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and verifies cursors with a secret key.

    ``secret`` is the key, or a function returning it (:func:`session_service.wiring.cursor_key`, which
    reads Secrets Manager): it is called on the first cursor, and again after a call that raised.
    """

    def __init__(self, secret: str | Callable[[], str]) -> None:
        self._secret = secret

    @cached_property
    def _key(self) -> bytes:
        secret = self._secret if isinstance(self._secret, str) else self._secret()
        return secret.encode("utf-8")

    def _tag(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode("utf-8") + b"\x00" + payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, scope: str, position: dict[str, Any]) -> str:
        """Return the cursor for ``position`` (a JSON-able dict) within the listing named by ``scope``."""
        payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._tag(scope, payload))}"

    def decode(self, scope: str, token: str) -> dict[str, Any]:
        """Return the position a cursor holds.

        Raises :class:`InvalidCursor` when the token is malformed, was altered, or belongs to another scope.
        """
        if not token or len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
            raise InvalidCursor()
        body, tag = token.split(".")
        try:
            payload, given = _b64decode(body), _b64decode(tag)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        if not hmac.compare_digest(given, self._tag(scope, payload)):
            raise InvalidCursor()
        try:
            position = json.loads(payload)
        except ValueError as exc:  # pragma: no cover - only a key holder could sign this
            raise InvalidCursor() from exc
        if not isinstance(position, dict):  # pragma: no cover - idem
            raise InvalidCursor()
        return position
