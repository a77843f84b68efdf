"""Who is calling (SPEC section 5; OWASP API1:2023, Broken Object Level Authorization).

With API Gateway's Cognito authorizer the caller is the verified JWT ``sub`` from
``requestContext.authorizer.claims``; a ``user_id`` in the query, path or body that differs is :class:`Forbidden`.
Without an authorizer (local, dev) the request's ``user_id`` is the caller, as in seed 002.
"""

from __future__ import annotations

from typing import Any

from session_service.errors import Forbidden, SessionServiceError, Unauthorized


class MissingUserId(SessionServiceError):
    """No authorizer identity and no ``user_id`` in the request; ``location`` is where it was expected
    (for example ``("query", "user_id")``), so the answer can name it like a validation error."""

    detail = "Field required"

    def __init__(self, location: tuple[str, ...] = ("query", "user_id")) -> None:
        super().__init__()
        self.location = location


def authorizer_claims(event: dict[str, Any]) -> dict[str, Any] | None:
    """The verified claims API Gateway put in the event, or ``None`` when no authorizer ran."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, dict) and claims.get("sub") else None


def resolve_caller(
    event: dict[str, Any],
    claimed: str | None,
    *,
    authorizer_enabled: bool,
    location: tuple[str, ...] = ("query", "user_id"),
) -> str:
    """Return the caller's user id.

    ``claimed`` is the ``user_id`` the request names (query, path or body). Raises :class:`Unauthorized`
    when the authorizer is on but the event has no identity, :class:`Forbidden` when ``claimed`` differs
    from the verified ``sub``, :class:`MissingUserId` when there is neither.
    """
    claims = authorizer_claims(event)
    if claims is not None:
        subject = str(claims["sub"])
        if claimed is not None and claimed != subject:
            raise Forbidden("user_id does not match the authenticated caller")
        return subject
    if authorizer_enabled:
        raise Unauthorized()
    if claimed is None:
        raise MissingUserId(location)
    return claimed


def require_admin(event: dict[str, Any], *, authorizer_enabled: bool, admin_group: str) -> None:
    """Allow service-wide reads only to the admin group (``cognito:groups`` claim) when the authorizer is on.

    Raises :class:`Unauthorized` or :class:`Forbidden`. Without an authorizer (local, dev) anyone may read.
    """
    claims = authorizer_claims(event)
    if claims is None:
        if authorizer_enabled:
            raise Unauthorized()
        return
    groups = claims.get("cognito:groups", "")
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    if admin_group not in groups:
        raise Forbidden("Admin group required")
