"""A session's and an agent's state document carry their ``etag`` (the answer's ``ETag``: the document's version and
the session's incarnation), sent back as ``if_match``; the session's ETag of a session deleted and created again
with the same id is refused on the new one."""

from __future__ import annotations

import uuid

import pytest
from session_service_client import PreconditionFailed

from tests.client.conftest import ClientFactory


def test_a_documents_etag_is_its_if_match(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    created = client.create_agent(sid, "planner", state={"goal": "x"})
    assert created.etag is not None and client.get_agent(sid, "planner").etag == created.etag
    changed = client.change_agent(sid, "planner", set_keys={"step": 1}, if_match=created.etag)
    assert changed.version == 2 and changed.etag != created.etag
    with pytest.raises(PreconditionFailed):
        client.change_agent(sid, "planner", set_keys={"step": 2}, if_match=created.etag)
    document = client.get_state(sid)
    assert document.etag is not None
    assert client.change_state(sid, set_keys={"a": 1}, if_match=document.etag).state == {"a": 1}


def test_an_etag_of_a_session_created_again_is_refused(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = str(uuid.uuid4())
    older = client.create_session(session_id=sid)
    client.delete_session(sid)
    newer = client.create_session(session_id=sid)
    assert older.etag != newer.etag
    with pytest.raises(PreconditionFailed):
        client.update_session(sid, title="late", if_match=older.etag)
    assert client.update_session(sid, title="mine", if_match=newer.etag).title == "mine"
