"""Every error class from a real answer of the local server, each carrying the answer's ``detail``; and the
failures with no answer (a refused connection, a timeout)."""

from __future__ import annotations

import socket
import uuid

import pytest
from session_service_client import (
    APIConnectionError,
    APITimeoutError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)

from tests.client.conftest import ClientFactory, Servers


def test_not_found(make_client: ClientFactory, user: str) -> None:
    with pytest.raises(NotFound) as raised:
        make_client(user_id=user).get_session(str(uuid.uuid4()))
    assert raised.value.status_code == 404 and raised.value.detail == "Session not found"


def test_bad_request_for_a_tampered_cursor(make_client: ClientFactory, user: str) -> None:
    with pytest.raises(BadRequest) as raised:
        make_client(user_id=user).list_sessions(next_token="bm90LWEtY3Vyc29y")
    assert "cursor" in raised.value.detail.lower() or "token" in raised.value.detail.lower()


def test_forbidden_for_another_users_export(make_client: ClientFactory, user: str) -> None:
    with pytest.raises(Forbidden) as raised:
        make_client(user_id=user).get_usage(user_id="someone_else")  # the caller asks for another's data
    assert raised.value.detail == "user_id does not match the user whose usage is asked for"


def test_conflict_and_precondition_failed(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    session = client.create_session()
    assert session.etag is not None
    moved = session.etag.replace('"1.', '"999.')  # the session's ETag at a version it has not reached
    with pytest.raises(PreconditionFailed) as stale:
        client.update_session(session.session_id, title="late", if_match=moved)
    assert stale.value.detail
    client.end_session(session.session_id)
    with pytest.raises(Conflict) as refused:
        client.append_message(session.session_id, role="user", content="too late")
    assert refused.value.detail == "Session is not active"


def test_unprocessable_lists_each_problem(make_client: ClientFactory, user: str) -> None:
    with pytest.raises(Unprocessable) as raised:
        make_client(user_id=user).create_session(title="x" * 300)
    (problem,) = raised.value.detail
    assert problem["loc"] == ["body", "title"]


def test_payload_too_large(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    reply = client.append_message(sid, role="assistant", content="", status="in_progress")
    client.append_chunk(sid, reply.message_id, index=0, content="x" * 200_000)
    with pytest.raises(PayloadTooLarge) as raised:
        client.append_chunk(sid, reply.message_id, index=1, content="y" * 100_000)
    assert "exceed" in raised.value.detail


def test_unauthorized_where_the_authorizer_is_on(make_client: ClientFactory, servers: Servers) -> None:
    client = make_client(base_url=servers.authorizer.url, token="not-verified-locally")
    with pytest.raises(Unauthorized) as raised:
        client.get_stats()
    assert raised.value.status_code == 401 and raised.value.detail


def test_service_unavailable_with_retry_after(make_client: ClientFactory, servers: Servers) -> None:
    if servers.degraded is None:
        pytest.skip("needs DynamoDB Local (the in-memory store's table cannot be dropped from here)")
    client = make_client(base_url=servers.degraded.url, user_id="anyone", max_retries=0)
    with pytest.raises(ServiceUnavailable) as raised:
        client.get_session(str(uuid.uuid4()))
    assert raised.value.retry_after == 5 and raised.value.detail
    assert client.health_detailed().status == "degraded"  # the health check's 503 is its answer, not an error


def test_no_answer_is_a_connection_error(make_client: ClientFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    client = make_client(base_url=f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(APIConnectionError) as raised:
        client.health()
    assert "ConnectError" in raised.value.detail


def test_a_silent_server_is_a_timeout(make_client: ClientFactory) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections are accepted by the kernel, never answered
        client = make_client(base_url=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.2, max_retries=0)
        with pytest.raises(APITimeoutError) as raised:
            client.health()
    assert "Timeout" in raised.value.detail
