"""Namespaces, shared state and conditional appends through both clients: a session's namespace is fixed at
creation and filters the user's listing; a user's and a namespace's state documents change by key and read back
merged with a session's; an append with ``if_match`` answers the new ``etag`` and, stale, raises
:class:`PreconditionFailed` with nothing stored."""

from __future__ import annotations

import uuid

import pytest
from session_service_client import PreconditionFailed

from tests.client.conftest import ClientFactory


def _namespace() -> str:
    return f"ns_{uuid.uuid4().hex[:10]}"


def test_a_namespace_filters_the_listing(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    namespace = _namespace()
    inside = client.create_session(namespace=namespace, title="in")
    client.create_session(title="out")
    assert inside.namespace == namespace

    page = client.list_sessions(namespace=namespace)
    assert [(row.session_id, row.namespace) for row in page.sessions] == [(inside.session_id, namespace)]
    across = client.list_namespace_sessions(namespace)  # the authorizer is off: every caller is trusted
    assert (across.namespace, [row.session_id for row in across.sessions]) == (namespace, [inside.session_id])


def test_shared_state_changes_by_key_and_reads_merged(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    namespace = _namespace()
    sid = client.create_session(namespace=namespace).session_id

    assert client.get_user_state(namespace=namespace).version == 0
    mine = client.change_user_state(namespace=namespace, set_keys={"tier": "gold", "n": 1})
    mine = client.change_user_state(namespace=namespace, remove_keys=["n"], if_match=f'"{mine.version}"')
    assert (mine.scope, mine.user_id, mine.state) == ("user", user, {"tier": "gold"})
    with pytest.raises(PreconditionFailed):
        client.change_user_state(namespace=namespace, set_keys={"tier": "x"}, if_match='"0"')

    shared = client.change_namespace_state(namespace, set_keys={"model": "m1"})
    assert (shared.scope, shared.namespace, client.get_namespace_state(namespace).state) == (
        "namespace",
        namespace,
        {"model": "m1"},
    )
    client.change_state(sid, set_keys={"step": 2})

    merged = client.get_merged_state(sid)
    assert merged.session.state == {"step": 2}
    assert merged.user.state == {"tier": "gold"}
    assert merged.namespace is not None and merged.namespace.state == {"model": "m1"}


def test_a_conditional_append_carries_every_scope_or_nothing(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    namespace = _namespace()
    session = client.create_session(namespace=namespace)
    assert session.etag is not None

    stored = client.append_message(
        session.session_id,
        role="user",
        content="hi",
        state={"set": {"a": 1}},
        user_state={"set": {"b": 2}},
        namespace_state={"set": {"c": 3}},
        if_match=session.etag,
    )
    assert stored.etag is not None and stored.etag != session.etag
    with pytest.raises(PreconditionFailed):  # the version it names has moved
        client.append_message(
            session.session_id, role="user", content="late", state={"set": {"a": 9}}, if_match=session.etag
        )
    batch = client.append_messages(
        session.session_id, [{"role": "assistant", "content": "ok"}], user_state={"set": {"b": 3}}, if_match=stored.etag
    )
    assert batch.etag is not None and batch.etag != stored.etag

    merged = client.get_merged_state(session.session_id)
    assert (merged.session.state, merged.user.state) == ({"a": 1}, {"b": 3})
    assert merged.namespace is not None and merged.namespace.state == {"c": 3}
    assert [m.content for m in client.list_messages(session.session_id).messages] == ["hi", "ok"]
