"""An append's state changes count toward the 4 MB a transaction carries: a batch whose messages fit but whose
messages and state changes do not is refused (413) before any write (moto enforces no such bound: the refusal is
the append's own count)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from session_service.data.state import change_size
from session_service.models import MAX_MESSAGE_BYTES

BIG = {"set": {"k": "v" * 300_000}}


@pytest.mark.parametrize("scope", ["state", "user_state", "namespace_state"])
def test_a_batch_with_a_state_change_past_the_bound_is_413_and_writes_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], table_items: Callable[[], Any], scope: str
) -> None:
    sid = new_session("bound_user", namespace="ns-bound")["session_id"]
    before = table_items()
    batch = {"messages": [{"role": "user", "content": "c" * MAX_MESSAGE_BYTES}] * 15, scope: BIG}
    status, body, _ = api(
        "POST", f"/api/v1/sessions/{sid}/messages:batch", query={"user_id": "bound_user"}, json_body=batch
    )
    assert status == 413, body
    assert table_items() == before


def test_the_same_batch_with_a_small_change_is_stored(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session("bound_user2", namespace="ns-bound")["session_id"]
    batch = {"messages": [{"role": "user", "content": "c" * MAX_MESSAGE_BYTES}] * 15, "user_state": {"set": {"n": 1}}}
    status, body, _ = api(
        "POST", f"/api/v1/sessions/{sid}/messages:batch", query={"user_id": "bound_user2"}, json_body=batch
    )
    assert status == 201, body


def test_a_change_counts_its_keys_and_values_as_stored() -> None:
    small = change_size({}, [])
    assert change_size({"k": "v" * 1000}, []) >= small + len('"' + "v" * 1000 + '"') + len("k#k")
    assert change_size({"ключ": "é"}, []) > change_size({"k": "e"}, [])  # UTF-8 bytes, not characters
    assert change_size({}, ["gone"]) > small
