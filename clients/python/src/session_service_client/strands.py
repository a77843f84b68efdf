"""AWS Strands Agents' ``SessionRepository`` on Session Service (extra ``[strands]``).

``SessionServiceRepository(base_url=..., user_id=...)`` is a drop-in store for Strands'
``RepositorySessionManager``: every Strands session is a service session (its id derived from the Strands id, the
namespace and the user, so any string is an id and two users' equal ids never meet), every agent an agent of it
with its state document (the ``SessionAgent`` as a document of top-level keys), every message a message of the
agent's conversation whose position is Strands' message index (the ``SessionMessage`` as its structured
``data``), and a multi-agent's state a document of its own. Each call is one request (``list_messages``: one a
page of 200): ``create_message`` 1, ``read_agent`` 1, ``update_agent`` 1 (its keys changed in place, not the
whole agent rewritten), ``list_messages(agent, offset, limit)`` 1 whatever the offset and the other agents.

Semantics are ``SessionRepository``'s: a create of an existing session, agent or message raises
``SessionException``, a read of a missing one answers ``None``, an update of a missing one raises.
"""

from __future__ import annotations

import inspect
import re
import uuid
from typing import Any, cast

import httpx
from strands.session.session_repository import SessionRepository
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from session_service_client._adapters import ID_NAMESPACE, service_id
from session_service_client._calls import API, Call
from session_service_client.client import SessionServiceClient
from session_service_client.errors import Conflict, NotFound

__all__ = ["SessionServiceRepository"]

FRAMEWORK = "strands"
PAGE = 200
"""Messages a page of ``list_messages`` reads (the service's most)."""
_AGENT_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,120}$")


def _status(response: httpx.Response) -> int:
    return response.status_code


class _ActingFor:
    """A synchronous client whose route methods name ``user_id`` unless a call names one."""

    def __init__(self, client: SessionServiceClient, user_id: str) -> None:
        self._client = client
        self._user_id = user_id

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name.startswith("_") or not callable(method) or "user_id" not in inspect.signature(method).parameters:
            return method

        def acting(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("user_id", self._user_id)
            return method(*args, **kwargs)

        return acting


class SessionServiceRepository(SessionRepository):  # type: ignore[misc,unused-ignore]
    """Strands' ``SessionRepository`` on the service at ``base_url`` for ``user_id`` (the caller, without the
    authorizer; ``token`` with it), its sessions in ``namespace`` (ids of different namespaces never meet), or
    through a given synchronous ``client``."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        user_id: str,
        namespace: str | None = None,
        client: SessionServiceClient | None = None,
        token: str | None = None,
    ) -> None:
        if (base_url is None) == (client is None):
            raise TypeError("give base_url or client=, not both")
        self.user_id = user_id
        self.namespace = namespace
        self._made = client is None
        made = SessionServiceClient(str(base_url), user_id=user_id, token=token) if client is None else client
        # A given client's own user (a trusted backend's included) is never the one this repository acts for.
        self._client = cast(SessionServiceClient, _ActingFor(made, user_id))

    def close(self) -> None:
        """Close the connections of a client this repository made (a given client is the caller's to close)."""
        if self._made:
            self._client.close()

    # -- ids ---------------------------------------------------------------------------------------------

    def service_session_id(self, session_id: str) -> str:
        """The service session id of the Strands session ``session_id``."""
        return service_id(FRAMEWORK, self.namespace, self.user_id, session_id)

    @staticmethod
    def service_agent_id(agent_id: str, kind: str = "a") -> str:
        """The service agent id of a Strands agent (``kind`` ``a``) or multi-agent (``m``): the id itself when
        the service accepts it, else one derived from it."""
        if _AGENT_ID.match(agent_id):
            return f"{kind}.{agent_id}"
        return f"{kind}-{uuid.uuid5(ID_NAMESPACE, agent_id).hex}"

    def _message_id(self, session_id: str, agent_id: str, index: int) -> str:
        return service_id(FRAMEWORK, self.namespace, self.user_id, session_id, agent_id, str(index))

    # -- requests ------------------------------------------------------------------------------------------

    def _created(self, path: str, body: dict[str, Any], *, caller: bool = True) -> bool:
        """POST ``body`` to ``path`` once (the caller in the query when ``caller``): whether it was created (201)
        rather than found stored (200). The typed client answers the model alone, and a create of Strands must
        tell the two apart."""
        call = Call("POST", path, _status, params={"user_id": self.user_id} if caller else {}, body=body)
        return bool(self._client._send(call) == httpx.codes.CREATED)

    # -- sessions ----------------------------------------------------------------------------------------

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """Create ``session`` (its fields kept in the service session's metadata). Raises ``SessionException``
        when it exists."""
        body = {
            "user_id": self.user_id,
            "session_id": self.service_session_id(session.session_id),
            "metadata": {FRAMEWORK: session.to_dict()},
        }
        if not self._created(f"{API}/sessions", body, caller=False):  # 200: the caller's session existed
            raise SessionException(f"Session {session.session_id} already exists")
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """The session, or ``None``."""
        try:
            found = self._client.get_session(self.service_session_id(session_id))
        except NotFound:
            return None
        if FRAMEWORK not in found.metadata:
            return None
        stored = dict(found.metadata[FRAMEWORK])
        stored.setdefault("session_type", SessionType.AGENT)
        return Session.from_dict(stored)

    # -- agents ------------------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create the agent with its state. Raises ``SessionException`` when it exists or the session does not."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(session_agent.agent_id)
        try:
            self._client.create_agent(sid, aid, state=_doc(session_agent))
        except (Conflict, NotFound) as exc:
            raise SessionException(f"Agent {session_agent.agent_id} exists, or session {session_id} does not") from exc

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """The agent, or ``None``."""
        try:
            found = self._client.get_agent(self.service_session_id(session_id), self.service_agent_id(agent_id))
        except NotFound:
            return None
        return SessionAgent.from_dict(found.state) if "agent_id" in found.state else None

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Replace the agent's fields (its ``created_at`` kept) in one change. Raises ``SessionException`` when
        the agent does not exist."""
        fields = {name: value for name, value in _doc(session_agent).items() if name != "created_at"}
        sid, aid = self.service_session_id(session_id), self.service_agent_id(session_agent.agent_id)
        try:
            self._client.change_agent(sid, aid, set_keys=fields)
        except NotFound as exc:
            raise SessionException(f"Agent {session_agent.agent_id} does not exist in {session_id}") from exc

    # -- messages ----------------------------------------------------------------------------------------

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Append the message to the agent's conversation (its index its position), in one request. Raises
        ``SessionException`` when the message exists or the session does not (the service starts an agent's
        conversation with its first message, so an agent not created yet is not an error here)."""
        body = {
            "role": session_message.message.get("role", "user"),
            "data": session_message.to_dict(),
            "agent_id": self.service_agent_id(agent_id),
            "message_id": self._message_id(session_id, agent_id, session_message.message_id),
        }
        path = f"{API}/sessions/{self.service_session_id(session_id)}/messages"
        try:
            created = self._created(path, body)
        except (Conflict, NotFound) as exc:
            raise SessionException(f"Message {session_message.message_id} could not be created") from exc
        if not created:
            raise SessionException(f"Message {session_message.message_id} already exists")

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        """The message at index ``message_id``, or ``None``."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(agent_id)
        try:
            return SessionMessage.from_dict(self._client.get_agent_message(sid, aid, message_id).data)
        except NotFound:
            return None

    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Replace the message at its index (a redaction). Raises ``SessionException`` when it does not exist."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(agent_id)
        try:
            self._client.update_agent_message(sid, aid, session_message.message_id, data=session_message.to_dict())
        except NotFound as exc:
            raise SessionException(f"Message {session_message.message_id} does not exist") from exc

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """The agent's messages from index ``offset``, at most ``limit``: one request a page of 200."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(agent_id)
        messages: list[SessionMessage] = []
        position: int | None = offset
        while position is not None and (limit is None or len(messages) < limit):
            size = PAGE if limit is None else min(PAGE, limit - len(messages))
            try:
                page = self._client.list_agent_messages(sid, aid, offset=position, limit=size)
            except NotFound:
                return []
            messages += [SessionMessage.from_dict(message.data) for message in page.messages]
            position = page.next_offset
        return messages

    # -- multi-agents ------------------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: Any, **kwargs: Any) -> None:
        """Store the multi-agent's state (replacing a stored one). Raises ``SessionException`` when the session
        does not exist."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(multi_agent.id, "m")
        try:
            self._client.create_agent(sid, aid, state=multi_agent.serialize_state())
        except Conflict:
            self.update_multi_agent(session_id, multi_agent)
        except NotFound as exc:
            raise SessionException(f"Session {session_id} does not exist") from exc

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """The multi-agent's state, or ``None``."""
        try:
            found = self._client.get_agent(
                self.service_session_id(session_id), self.service_agent_id(multi_agent_id, "m")
            )
        except NotFound:
            return None
        return dict(found.state)

    def update_multi_agent(self, session_id: str, multi_agent: Any, **kwargs: Any) -> None:
        """Set the multi-agent's state keys in one change. Raises ``SessionException`` when it does not exist."""
        sid, aid = self.service_session_id(session_id), self.service_agent_id(multi_agent.id, "m")
        try:
            self._client.change_agent(sid, aid, set_keys=multi_agent.serialize_state())
        except NotFound as exc:
            raise SessionException(f"MultiAgent {multi_agent.id} does not exist in {session_id}") from exc


def _doc(session_agent: SessionAgent) -> dict[str, Any]:
    """The agent's fields as a state document (bytes encoded as Strands encodes them)."""
    return dict(session_agent.to_dict())
