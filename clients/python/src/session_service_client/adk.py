"""Google ADK's ``BaseSessionService`` on Session Service (``pip install "session-service-client[adk]"``).

``SessionServiceSessionService(base_url=...)`` is a drop-in session service for ADK's ``Runner``; one object
serves every app and user:

- ADK's app is a service namespace under the adapter's ``namespace`` (``<namespace>:<app>``, or ``<app>``
  without one; an app name outside the namespace alphabet ``A-Z a-z 0-9 _ . @ -``, starting with ``@``, or too
  long becomes ``@`` and 40 hex digits of its SHA-256, so no two apps share one).
- ADK's user is the service's caller: the user id itself where the service accepts it (``A-Z a-z 0-9 _ . @ :
  -``, 1-128, not starting with ``@``), else ``@`` and 40 hex digits of its SHA-256 (``''`` included). Without
  the authorizer the service takes the caller from ``user_id``; with it, give ``client=`` a client of a trusted
  backend (a member of ``TRUSTED_GROUPS``), which acts for every user.
- ADK's session id is the service session ``uuid5("adk", namespace, user, app, id)``: any string is an id, the
  same id finds the same session from any process, and two users' equal ids never meet. The title keeps the ADK
  user and id (``adk:["<user>", "<id>"]``, at most 256 characters), so listings return them.
- An event is one message: its ``data`` the ``Event`` as ADK's JSON (every field, bytes as base64, ``temp:``
  keys dropped), its ``timestamp`` the event's, its id derived from the event's id (a retried append stores it
  once). The event's state delta is split by prefix into the append's ``state`` (session keys), ``user_state``
  (``user:``) and ``namespace_state`` (``app:``), applied with the message in one transaction, conditional on
  the version the session object was read at (``If-Match``): a session object older than storage raises
  ``StaleSessionError`` and stores nothing.

The adapter builds its own requests (``Call``s, sent with the typed client's retries): ADK's state and events are
read with floats as floats (the typed models read a number with a fraction as an exact ``Decimal``, money's rule),
and a create tells 201 (created) from 200 (the user's session of that id was there).

Requests per call: ``create_session`` 1, ``get_session`` 2 (the session with its three state documents, then
the events: the newest N, those at or after a timestamp, or every event a page of 200), ``append_event`` 1,
``list_sessions`` 1 a page of 200 sessions (their state included), ``delete_session`` 1, ``get_user_state`` 1.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session
from google.adk.sessions.state import State
from pydantic_core import to_jsonable_python

from session_service_client._adapters import Clients, service_id, session_fields
from session_service_client._calls import API, Call
from session_service_client.async_client import AsyncSessionServiceClient
from session_service_client.client import SessionServiceClient
from session_service_client.errors import Conflict, NotFound, PreconditionFailed

__all__ = ["SessionServiceSessionService"]

T = TypeVar("T")

FRAMEWORK = "adk"
PAGE = 200
"""Messages, and sessions, a page of a listing reads (the service's most)."""
MAX_TITLE = 256
TITLE_PREFIX = "adk:"
STALE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events."
)
"""ADK's own message for a stale session (``DatabaseSessionService``'s), so callers matching it keep working."""

_USER = re.compile(r"^[A-Za-z0-9_.:-][A-Za-z0-9_.@:-]{0,127}$")
_APP = re.compile(r"^[A-Za-z0-9_.-][A-Za-z0-9_.@-]*$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_.@:-]{1,85}$")
_MAX_NAMESPACE = 128


def _digest(value: str) -> str:
    return "@" + hashlib.sha256(value.encode()).hexdigest()[:40]


def service_user(user_id: str) -> str:
    """The service's user for an ADK user id: the id itself when the service accepts it (and it does not start
    with ``@``), else ``@`` and 40 hex digits of its SHA-256."""
    return user_id if _USER.match(user_id) else _digest(user_id)


def service_namespace(namespace: str | None, app_name: str) -> str:
    """The service namespace of an ADK app under the adapter's ``namespace``: ``<namespace>:<app>`` (``<app>``
    without one), the app as ``@`` and 40 hex digits of its SHA-256 when it is outside the namespace alphabet
    (``:`` included, so the last ``:`` always separates the two), starts with ``@`` or does not fit 128."""
    prefix = "" if namespace is None else f"{namespace}:"
    if _APP.match(app_name) and len(prefix) + len(app_name) <= _MAX_NAMESPACE:
        return prefix + app_name
    return prefix + _digest(app_name)


@dataclass(frozen=True)
class _Answer:
    """An answer as this adapter reads it: its status, its JSON (floats as floats: state values and events are
    ADK's, not money) and its ``ETag``."""

    status: int
    body: Any
    etag: str | None


def _answer(response: httpx.Response) -> _Answer:
    body = json.loads(response.content) if response.content else None
    return _Answer(response.status_code, body, response.headers.get("etag"))


def _merged(documents: Any) -> dict[str, Any]:
    """ADK's session state from the service's MergedState: the session's keys, the user's under ``user:``, the
    namespace's under ``app:``."""
    if not isinstance(documents, dict):
        return {}
    state = dict((documents.get("session") or {}).get("state") or {})
    state.update({State.USER_PREFIX + key: value for key, value in _doc(documents.get("user")).items()})
    state.update({State.APP_PREFIX + key: value for key, value in _doc(documents.get("namespace")).items()})
    return state


def _doc(document: Any) -> dict[str, Any]:
    return dict((document or {}).get("state") or {})


def _updated(row: dict[str, Any]) -> float:
    """A session's ``last_update_time``: its latest event's timestamp, else its creation time (epoch seconds)."""
    latest = row.get("last_message_timestamp")
    if latest is not None:
        return float(latest)
    return datetime.fromisoformat(str(row["created_at"])).timestamp()


def _split(delta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A state delta as its session, user (``user:``) and app (``app:``) keys, prefixes removed (``temp:`` keys
    are dropped: ADK never persists them)."""
    session: dict[str, Any] = {}
    user: dict[str, Any] = {}
    app: dict[str, Any] = {}
    for key, value in delta.items():
        if key.startswith(State.APP_PREFIX):
            app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            user[key.removeprefix(State.USER_PREFIX)] = value
        elif not key.startswith(State.TEMP_PREFIX):
            session[key] = value
    return session, user, app


def _role(event: Event) -> str:
    """The message role of an event: a function call ``tool_call``, a function response ``tool_result``, the
    user's words ``user``, anything else (an agent's) ``assistant``."""
    if event.get_function_calls():
        return "tool_call"
    if event.get_function_responses():
        return "tool_result"
    return "user" if event.author == "user" else "assistant"


class SessionServiceSessionService(BaseSessionService):  # type: ignore[misc,unused-ignore]
    """ADK's session service kept in Session Service (see the module's docstring for the mapping).

    Give ``base_url`` (the service's root: the adapter makes an async client per event loop) or ``client=`` (a
    :class:`SessionServiceClient`, or an :class:`AsyncSessionServiceClient` used only on its own loop; with the
    authorizer on, a trusted backend's). ``namespace`` scopes every app: two adapters of different namespaces
    never see each other's sessions or state.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        namespace: str | None = None,
        client: SessionServiceClient | AsyncSessionServiceClient | None = None,
    ) -> None:
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise ValueError("namespace: letters, digits and _ . @ : - only, at most 85 characters")
        self.namespace = namespace
        # The caller of each request is named per call (ADK's user); a given client's own identity is the
        # trusted backend acting for them.
        self._clients = Clients(base_url=base_url, client=client, user_id="")

    def close(self) -> None:
        """Close the clients this adapter made (a given client is the caller's to close)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the clients this adapter made, the running loop's included."""
        await self._clients.aclose()

    # -- ids ---------------------------------------------------------------------------------------------

    def service_namespace(self, app_name: str) -> str:
        """The service namespace of the ADK app ``app_name``."""
        return service_namespace(self.namespace, app_name)

    def service_session_id(self, app_name: str, user_id: str, session_id: str) -> str:
        """The service session id of an ADK session (its id stripped, as ADK strips it)."""
        return service_id(FRAMEWORK, self.namespace, user_id, app_name, session_id.strip())

    @staticmethod
    def _title(user_id: str, session_id: str) -> str:
        title = TITLE_PREFIX + json.dumps([user_id, session_id], ensure_ascii=False)
        if len(title) > MAX_TITLE:
            raise ValueError(f"user_id and session_id too long for a session title ({MAX_TITLE} characters)")
        return title

    @staticmethod
    def _ids(row: dict[str, Any]) -> tuple[str, str] | None:
        title = str(row.get("title") or "")
        if not title.startswith(TITLE_PREFIX):
            return None
        try:
            user_id, session_id = json.loads(title.removeprefix(TITLE_PREFIX))
        except (ValueError, TypeError):
            return None  # a title of another writer's that merely starts like ours
        return str(user_id), str(session_id)

    def _made_here(self, app_name: str, row: dict[str, Any], user_id: str, session_id: str) -> bool:
        """Whether a listed ``row`` is the session this adapter makes for (``user_id``, ``session_id``) of the app,
        its title's ids: its owner and its service id are the ones they derive (a title alone proves nothing:
        any user may create a session in the namespace and title it like ours)."""
        derived = self.service_session_id(app_name, user_id, session_id)
        return row.get("user_id") == service_user(user_id) and row.get("session_id") == derived

    # -- requests ----------------------------------------------------------------------------------------

    async def _send(self, call: Call[T]) -> T:
        return await self._clients.send(call)

    async def _get(self, path: str, **params: Any) -> _Answer:
        query = {name: str(value) for name, value in params.items() if value is not None}
        return await self._send(Call("GET", path, _answer, params=query, retry=True))

    # -- sessions ----------------------------------------------------------------------------------------

    async def create_session(
        self, *, app_name: str, user_id: str, state: dict[str, Any] | None = None, session_id: str | None = None
    ) -> Session:
        """Create the session with its initial state (split by prefix into the session's, the user's and the
        app's documents, in the create's transaction): one request. Raises ``AlreadyExistsError`` when the
        user has a session of that id in the app."""
        chosen = (session_id or "").strip() or str(uuid.uuid4())
        session_keys, user_keys, app_keys = _split(_json_safe(state or {}))
        caller = service_user(user_id)
        body = {
            "user_id": caller,
            "session_id": self.service_session_id(app_name, user_id, chosen),
            "namespace": self.service_namespace(app_name),
            "title": self._title(user_id, chosen),
            "metadata": session_fields(FRAMEWORK, self.namespace, app_name=app_name[:1024]),
            **({"state": session_keys} if session_keys else {}),
            **({"user_state": user_keys} if user_keys else {}),
            **({"namespace_state": app_keys} if app_keys else {}),
        }
        call = Call(
            "POST",
            f"{API}/sessions",
            _answer,
            params={"include": "state"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            body=body,
            retry=True,
        )
        try:
            answer = await self._send(call)
        except Conflict as exc:  # pragma: no cover - the id is derived from the user: nobody else owns it
            raise AlreadyExistsError(f"Session with id {chosen} already exists.") from exc
        if answer.status != httpx.codes.CREATED:  # 200: the user's session of that id was there (unchanged)
            raise AlreadyExistsError(f"Session with id {chosen} already exists.")
        return self._session(app_name, user_id, chosen, answer)

    def _session(self, app_name: str, user_id: str, session_id: str, answer: _Answer) -> Session:
        session = Session(
            id=session_id,
            app_name=app_name,
            user_id=user_id,
            state=_merged(answer.body.get("state")),
            last_update_time=_updated(answer.body),
        )
        session._storage_update_marker = answer.etag
        return session

    async def get_session(
        self, *, app_name: str, user_id: str, session_id: str, config: GetSessionConfig | None = None
    ) -> Session | None:
        """The session with its merged state and its events in append order (``config``: the newest
        ``num_recent_events``, those at or after ``after_timestamp``, or both), ``None`` when missing: the
        session and its state documents in one request, the events in one more (a page of 200 each)."""
        sid = self.service_session_id(app_name, user_id, session_id)
        caller = service_user(user_id)
        try:
            answer = await self._get(f"{API}/sessions/{sid}", user_id=caller, include="state")
        except NotFound:
            return None
        session = self._session(app_name, user_id, session_id.strip(), answer)
        try:
            session.events = await self._events(sid, caller, config or GetSessionConfig())
        except NotFound:  # deleted between the two reads
            return None
        if session.events and abs(session.events[-1].timestamp - session.last_update_time) < 1e-6:
            session.last_update_time = session.events[-1].timestamp  # the event's exact float (µs stored)
        return session

    async def _events(self, sid: str, caller: str, config: GetSessionConfig) -> list[Event]:
        limit, after = config.num_recent_events, config.after_timestamp
        if limit == 0:
            return []
        path = f"{API}/sessions/{sid}/messages"
        newest_first = limit is not None
        messages: list[Any] = []
        token: str | None = None
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(messages))
            page = await self._get(
                path,
                user_id=caller,
                order="desc" if newest_first else "asc",
                page_size=size,
                from_timestamp=None if after is None else repr(float(after)),
                next_token=token,
            )
            messages += page.body["messages"]
            token = page.body.get("next_token")
            if not token or (limit is not None and len(messages) >= limit):
                break
        if newest_first:
            messages.reverse()
        events = [
            Event.model_validate(message["data"]) for message in messages if isinstance(message.get("data"), dict)
        ]
        # The service compares microseconds: an event less than one before ``after`` is listed too.
        return events if after is None else [event for event in events if event.timestamp >= after]

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        """The user's sessions of the app (``user_id=None``: every user's, which needs a trusted caller with
        the authorizer on), without events, with merged state, least recently updated first: one request a page
        of 200 sessions."""
        namespace = self.service_namespace(app_name)
        if user_id is None:
            path, params = f"{API}/namespaces/{namespace}/sessions", {}
        else:
            caller = service_user(user_id)
            path, params = f"{API}/users/{caller}/sessions", {"namespace": namespace}
        sessions: list[Session] = []
        token: str | None = None
        while True:
            page = await self._get(path, **params, include="state", page_size=PAGE, next_token=token)
            for row in page.body["sessions"]:
                ids = self._ids(row)
                if (
                    ids is None
                    or not self._made_here(app_name, row, *ids)
                    or (user_id is not None and ids[0] != user_id)
                ):
                    continue  # not an ADK session of this user (a session another client made in the namespace)
                sessions.append(
                    Session(
                        id=ids[1],
                        app_name=app_name,
                        user_id=ids[0],
                        state=_merged(row.get("state")),
                        last_update_time=_updated(row),
                    )
                )
            token = page.body.get("next_token")
            if not token:
                break
        sessions.sort(key=lambda session: (session.last_update_time, session.user_id, session.id))
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session and its events for good (the user's and the app's state stay): one request; a
        missing session is no error."""
        sid = self.service_session_id(app_name, user_id, session_id)
        caller = service_user(user_id)
        call = Call(
            "DELETE",
            f"{API}/sessions/{sid}",
            _answer,
            params={"user_id": caller, "permanent": "true"},
            retry=True,
        )
        try:
            await self._send(call)
        except NotFound:
            return

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state in the app (keys without ``user:``), ``{}`` when none: one request."""
        caller = service_user(user_id)
        answer = await self._get(
            f"{API}/users/{caller}/state", user_id=caller, namespace=self.service_namespace(app_name)
        )
        return _doc(answer.body)

    # -- events ------------------------------------------------------------------------------------------

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store the event with its state delta (every scope, one transaction, one request), conditional on the
        version ``session`` was read at, then apply it to ``session``. A partial event is not stored; ``temp:``
        keys reach ``session.state`` only. Raises ``StaleSessionError`` (nothing stored) when storage moved
        since ``session`` was read, ``SessionNotFoundError`` when the session is gone, ``ValueError`` (nothing
        stored) for a state value JSON cannot carry (NaN, infinity)."""
        if event.partial:
            return event
        if event.actions and event.actions.state_delta:  # JSON has no NaN or infinity: refused, never nulled
            json.dumps(to_jsonable_python(event.actions.state_delta), allow_nan=False)
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        data = event.model_dump(exclude_none=True, mode="json")
        session_keys, user_keys, app_keys = _split((data.get("actions") or {}).get("state_delta") or {})
        sid = self.service_session_id(session.app_name, session.user_id, session.id)
        body = {
            "role": _role(event),
            "content": "",
            "data": data,
            "message_id": str(uuid.uuid5(uuid.UUID(sid), event.id)),
            "timestamp": event.timestamp,
            **({"state": {"set": session_keys}} if session_keys else {}),
            **({"user_state": {"set": user_keys}} if user_keys else {}),
            **({"namespace_state": {"set": app_keys}} if app_keys else {}),
        }
        marker = session._storage_update_marker
        call = Call(
            "POST",
            f"{API}/sessions/{sid}/messages",
            _answer,
            params={"user_id": service_user(session.user_id)},
            headers={"If-Match": marker} if marker else {},
            body=body,
            retry=True,
        )
        try:
            answer = await self._send(call)
        except PreconditionFailed as exc:
            raise StaleSessionError(STALE) from exc
        except NotFound as exc:
            raise SessionNotFoundError(f"Session {session.id} not found.") from exc
        session._storage_update_marker = answer.etag
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)


def _json_safe(state: dict[str, Any]) -> dict[str, Any]:
    """The state as JSON values (as ADK's database service stores it: a datetime as its ISO text...)."""
    return dict(to_jsonable_python(state))
