"""Namespaces are labels, not access boundaries: any user may create a session in any namespace, so a
namespace's state is shared configuration that every user with a session in it reads (merged with that session),
as ADK's ``app:`` state is visible to every user of the app; only a trusted caller writes it, directly or through
an append's, a batch's or a create's ``namespace_state`` (403, nothing written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRUSTED = {"sub": "backend", "cognito:groups": "service"}
NEWCOMER = "newcomer"
STATE = "/api/v1/namespaces/ns-shared/state"


def test_a_user_joining_a_namespace_reads_its_state_but_cannot_write_it(
    api: Any, authorizer_on: None, table_items: Callable[[], Any]
) -> None:
    # Given a namespace whose state a trusted backend set
    assert api("PATCH", STATE, json_body={"set": {"model": "m-1"}}, claims=TRUSTED)[0] == 200
    user = {"sub": NEWCOMER}
    # When any user creates a session in it (no grant needed)
    created = api("POST", "/api/v1/sessions", json_body={"user_id": NEWCOMER, "namespace": "ns-shared"}, claims=user)
    assert created[0] == 201
    sid = created[1]["session_id"]
    # Then the user reads the namespace's state, merged with the session
    merged = api("GET", f"/api/v1/sessions/{sid}/state/merged", claims=user)[1]
    assert merged["namespace"]["state"] == {"model": "m-1"}
    read = api("GET", f"/api/v1/sessions/{sid}", query={"include": "state"}, claims=user)[1]
    assert read["state"]["namespace"]["state"] == {"model": "m-1"}
    # And cannot write it: directly, through an append, a batch or a create
    before = table_items()
    change = {"set": {"model": "mine"}}
    assert api("PATCH", STATE, json_body=change, claims=user)[0] == 403
    single = {"role": "user", "content": "a", "namespace_state": change}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", json_body=single, claims=user)[0] == 403
    batch = {"messages": [{"role": "user", "content": "a"}], "namespace_state": change}
    assert api("POST", f"/api/v1/sessions/{sid}/messages:batch", json_body=batch, claims=user)[0] == 403
    create = {"user_id": NEWCOMER, "namespace": "ns-shared", "namespace_state": {"model": "mine"}}
    assert api("POST", "/api/v1/sessions", json_body=create, claims=user)[0] == 403
    assert table_items() == before
    assert api("GET", STATE, claims=TRUSTED)[1]["state"] == {"model": "m-1"}


def test_the_trusted_listing_of_a_namespace_lists_every_user_who_chose_it(api: Any, authorizer_on: None) -> None:
    for name in ("chooser-a", "chooser-b"):
        body = {"user_id": name, "namespace": "ns-chosen"}
        assert api("POST", "/api/v1/sessions", json_body=body, claims={"sub": name})[0] == 201
    rows = api("GET", "/api/v1/namespaces/ns-chosen/sessions", claims=TRUSTED)[1]["sessions"]
    assert sorted(row["user_id"] for row in rows) == ["chooser-a", "chooser-b"]
