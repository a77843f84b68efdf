"""Who is calling (SPEC section 5; OWASP API1:2023, Broken Object Level Authorization).

With API Gateway's Cognito authorizer the caller is the verified JWT ``sub`` from
``requestContext.authorizer.claims``; a ``user_id`` in the query, path or body that differs is :class:`Forbidden`,
unless the caller is a trusted backend: a member of one of the configured trusted groups (``cognito:groups``)
acts for the ``user_id`` it names (SPEC section 5, an agent server serving its users with one credential).
Without an authorizer (local, dev) the request's ``user_id`` is the caller, as in seed 002.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from session_service.errors import Forbidden, SessionServiceError, Unauthorized


class MissingUserId(SessionServiceError):
    """No authorizer identity and no ``user_id`` in the request; ``location`` is where it was expected
    (for example ``("query", "user_id")``), so the answer can name it like a validation error."""

    detail = "Field required"

    def __init__(self, location: tuple[str, ...] = ("query", "user_id")) -> None:
        super().__init__()
        self.location = location


@dataclass(frozen=True)
class Caller:
    """The identity a request acts with: ``user_id`` is the user whose data it reads and writes; ``acting`` is
    the verified ``sub`` of a trusted backend acting for ``user_id``, ``None`` when the caller is that user."""

    user_id: str
    acting: str | None = None


def authorizer_claims(event: dict[str, Any]) -> dict[str, Any] | None:
    """The verified claims API Gateway put in the event, or ``None`` when no authorizer ran."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, dict) and claims.get("sub") else None


def claimed_groups(claims: dict[str, Any]) -> frozenset[str]:
    """The caller's Cognito groups (the ``cognito:groups`` claim), empty when it has none.

    API Gateway hands every claim to the function as a string: a REST API's Cognito authorizer joins a list with
    commas (``"admin,service"``), an HTTP API's JWT authorizer writes it as ``"[admin service]"``; a list is read
    as is. Cognito group names hold no whitespace; one holding a comma or a bracket cannot be told apart here.
    """
    groups = claims.get("cognito:groups") or ()
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    if not isinstance(groups, list | tuple):
        return frozenset()
    return frozenset(str(group) for group in groups)


def resolve_caller(
    event: dict[str, Any],
    claimed: str | None,
    *,
    authorizer_enabled: bool,
    trusted_groups: Collection[str] = (),
    location: tuple[str, ...] = ("query", "user_id"),
) -> Caller:
    """Return who the request acts for, and the trusted backend acting, if any.

    ``claimed`` is the ``user_id`` the request names (query, path or body). With the authorizer on, a caller in
    one of ``trusted_groups`` that names another user acts for that user (``Caller.acting`` is its ``sub``).
    Raises :class:`Unauthorized` when the authorizer is on but the event has no identity, :class:`Forbidden`
    when ``claimed`` differs from the verified ``sub`` of a caller outside ``trusted_groups``,
    :class:`MissingUserId` when there is neither identity nor ``claimed``.
    """
    claims = authorizer_claims(event)
    if claims is not None:
        subject = str(claims["sub"])
        if claimed is None or claimed == subject:
            return Caller(subject)
        if authorizer_enabled and not claimed_groups(claims).isdisjoint(trusted_groups):
            return Caller(claimed, acting=subject)
        raise Forbidden("user_id does not match the authenticated caller")
    if authorizer_enabled:
        raise Unauthorized()
    if claimed is None:
        raise MissingUserId(location)
    return Caller(claimed)


def require_admin(event: dict[str, Any], *, authorizer_enabled: bool, admin_group: str) -> None:
    """Allow service-wide reads only to the admin group (``cognito:groups`` claim) when the authorizer is on.

    Raises :class:`Unauthorized` or :class:`Forbidden`. Without an authorizer (local, dev) anyone may read.
    """
    claims = authorizer_claims(event)
    if claims is None:
        if authorizer_enabled:
            raise Unauthorized()
        return
    if admin_group not in claimed_groups(claims):
        raise Forbidden("Admin group required")


def require_trusted(event: dict[str, Any], *, authorizer_enabled: bool, trusted_groups: Collection[str]) -> None:
    """Allow a read across users (a namespace's sessions) only to a trusted backend (a member of one of
    ``trusted_groups``, the ``cognito:groups`` claim) when the authorizer is on.

    Raises :class:`Unauthorized` or :class:`Forbidden`. Without an authorizer (local, dev) anyone may read.
    """
    claims = authorizer_claims(event)
    if claims is None:
        if authorizer_enabled:
            raise Unauthorized()
        return
    if claimed_groups(claims).isdisjoint(trusted_groups):
        raise Forbidden("A trusted group is required")
