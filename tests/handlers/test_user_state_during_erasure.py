"""A user's state documents during the user's erasure: gone for every reader from the moment the erasure was
accepted (a read answers as for a document never written, as the usage answers zeros), and no write lands (a
PATCH is 409 as a create is; an append or a create carrying ``user_state`` is refused), nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SESSIONS = "/api/v1/sessions"


def _erasing(api: Any, user: str) -> None:
    assert api("DELETE", f"/api/v1/users/{user}", query={"user_id": user})[0] == 202


def test_a_users_state_reads_as_never_written_once_the_erasure_is_accepted(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    new_session(namespace="ns-er")
    path = f"/api/v1/users/{user}/state"
    for namespace in ({"namespace": "ns-er"}, {}):
        assert api("PATCH", path, query=namespace, json_body={"set": {"secret": "x"}})[0] == 200
    _erasing(api, user)
    for namespace in ({"namespace": "ns-er"}, {}):
        status, body, headers = api("GET", path, query=namespace)
        assert (status, body["state"], body["version"], headers.get("ETag")) == (200, {}, 0, '"0"'), body


def test_a_patch_of_a_users_state_during_the_erasure_is_409_and_writes_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, table_items: Callable[[], Any]
) -> None:
    new_session(namespace="ns-er")
    path = f"/api/v1/users/{user}/state"
    assert api("PATCH", path, query={"namespace": "ns-er"}, json_body={"set": {"a": 1}})[0] == 200
    _erasing(api, user)
    before = table_items()
    for namespace in ({"namespace": "ns-er"}, {"namespace": "ns-new"}, {}):
        status, body, _ = api("PATCH", path, query=namespace, json_body={"set": {"b": 2}})
        assert status == 409 and "erased" in body["detail"], body
    assert (
        api("PATCH", path, query={"namespace": "ns-er"}, json_body={"set": {"b": 2}}, headers={"If-Match": '"1"'})[0]
        == 409
    )
    assert table_items() == before


def test_an_append_or_a_create_carrying_user_state_during_the_erasure_writes_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, table_items: Callable[[], Any]
) -> None:
    sid = new_session(namespace="ns-er")["session_id"]
    _erasing(api, user)
    before = table_items()
    query = {"user_id": user}
    single = {"role": "user", "content": "a", "user_state": {"set": {"n": 1}}}
    assert api("POST", f"{SESSIONS}/{sid}/messages", query=query, json_body=single)[0] == 404
    batch = {"messages": [{"role": "user", "content": "a"}], "user_state": {"set": {"n": 1}}}
    assert api("POST", f"{SESSIONS}/{sid}/messages:batch", query=query, json_body=batch)[0] == 404
    create = {"user_id": user, "namespace": "ns-er", "user_state": {"n": 1}}
    assert api("POST", SESSIONS, json_body=create)[0] == 409
    assert table_items() == before


def test_a_namespaces_state_is_not_the_users_and_stays(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    new_session(namespace="ns-kept")
    path = "/api/v1/namespaces/ns-kept/state"
    assert api("PATCH", path, json_body={"set": {"model": "m"}})[0] == 200
    _erasing(api, user)
    assert api("GET", path)[1]["state"] == {"model": "m"}
