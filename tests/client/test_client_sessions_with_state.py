"""A session's state in every scope through both clients: created with the session (``state``, ``user_state``,
``namespace_state``), read with it (``include_state``), with each listed row, and each shared document by its own
methods."""

from __future__ import annotations

import uuid

import pytest
from session_service_client import MergedState, PayloadTooLarge

from tests.client.conftest import ClientFactory


def test_a_session_created_with_state_reads_it_back_in_every_scope(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    namespace = f"client-{uuid.uuid4().hex[:8]}"
    client.change_namespace_state(namespace, set_keys={"shared": 1})
    created = client.create_session(
        namespace=namespace, state={"step": 0}, user_state={"lang": "en"}, namespace_state={"model": "m"}
    )
    assert isinstance(created.state, MergedState) and (created.etag or "").startswith('"1.')
    assert created.state.session.state == {"step": 0} and created.state.user.state == {"lang": "en"}
    assert created.state.namespace is not None and created.state.namespace.state == {"shared": 1, "model": "m"}
    read = client.get_session(created.session_id, include_state=True)
    assert read.state == created.state and client.get_session(created.session_id).state is None
    assert client.get_merged_state(created.session_id) == created.state
    assert client.get_user_state(namespace=namespace).state == {"lang": "en"}
    changed = client.change_user_state(namespace=namespace, set_keys={"lang": "fr"}, if_match='"1"')
    assert changed.state == {"lang": "fr"} and changed.version == 2
    assert client.get_namespace_state(namespace).version == 2


def test_listed_rows_carry_their_state(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    namespace = f"client-{uuid.uuid4().hex[:8]}"
    sid = client.create_session(namespace=namespace, state={"n": 1}).session_id
    (row,) = client.list_sessions(namespace=namespace, include_state=True).sessions
    assert row.session_id == sid and row.namespace == namespace
    assert row.state is not None and row.state.session.state == {"n": 1}
    listed = client.list_namespace_sessions(namespace, include_state=True)
    assert listed.namespace == namespace and [r.state.session.state for r in listed.sessions if r.state] == [{"n": 1}]


def test_a_create_growing_a_document_past_the_item_limit_is_refused_whole(
    make_client: ClientFactory, user: str
) -> None:
    client = make_client(user_id=user)
    namespace = f"client-{uuid.uuid4().hex[:8]}"
    big = {f"part{i}": "x" * (90 * 1024) for i in range(4)}  # 360 KiB: the user's document near DynamoDB's item
    client.change_user_state(namespace=namespace, set_keys=big)
    with pytest.raises(PayloadTooLarge):
        client.create_session(namespace=namespace, state={"a": 1}, user_state={"more": "y" * (90 * 1024)})
    assert client.list_sessions(namespace=namespace).sessions == []
    assert client.get_user_state(namespace=namespace).version == 1
