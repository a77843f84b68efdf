"""The pure rules, without moto or any table: transitions, the models cap, take-over counts, cut visibility."""

from __future__ import annotations

from typing import Any

import pytest

from session_service import rules
from session_service.data.keys import chunks_cut, message_range, message_sk
from session_service.data.stats import MODELS, count_attribute, model_pair, usage_increments
from session_service.models import MAX_MODELS_PER_SESSION, SessionStatus

CREATED = {count_attribute(None): 1, count_attribute(SessionStatus.ACTIVE): 1}


def hot(**attributes: Any) -> dict[str, Any]:
    return {"created_at": "2025-01-01T00:00:00.000000Z", "cuts": {}, **attributes}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (SessionStatus.ACTIVE, None),
        (SessionStatus.COMPLETED, SessionStatus.ACTIVE),
        (SessionStatus.ENDED, SessionStatus.ACTIVE),
        (SessionStatus.ARCHIVED, SessionStatus.COMPLETED),
    ],
)
def test_predecessor_is_the_one_status_a_target_is_reached_from(
    target: SessionStatus, expected: SessionStatus | None
) -> None:
    assert rules.predecessor(target) is expected


def test_model_cap_counts_the_pairs_named_and_the_new_ones() -> None:
    stored = {model_pair("p", f"m{i}") for i in range(MAX_MODELS_PER_SESSION)}
    known = usage_increments("p", "m0", 1, 10, 1)
    new = usage_increments("p", "another", 1, 10, 1)

    assert not rules.over_model_cap(hot(**{MODELS: stored}), known)
    assert rules.over_model_cap(hot(**{MODELS: stored}), new)
    assert not rules.over_model_cap(None, new)


def test_model_cap_ignores_pairs_whose_messages_leave() -> None:
    stored = {model_pair("p", f"m{i}") for i in range(MAX_MODELS_PER_SESSION)}
    leaving = usage_increments("p", "gone", -1, -10, -1)

    assert not rules.over_model_cap(hot(**{MODELS: stored}), leaving)


def test_a_new_session_over_many_pairs_is_over_the_cap() -> None:
    increments: dict[str, Any] = {}
    for i in range(MAX_MODELS_PER_SESSION + 1):
        increments.update(usage_increments(None, f"m{i}", 1, 0, 0))

    assert rules.over_model_cap(None, increments)


def test_take_over_of_another_users_expired_session_moves_both_users_counts() -> None:
    old = {"user_id": "bob", "status": "completed", "created_at": "x"}

    moves = rules.take_over_moves(old, "alice", CREATED)

    assert moves == [("alice", CREATED), ("bob", {"sessions": -1, "status_completed": -1})]


def test_take_over_of_the_callers_own_expired_session_merges_into_one_move() -> None:
    old = {"user_id": "alice", "status": "active", "created_at": "x"}

    assert rules.take_over_moves(old, "alice", CREATED) == [("alice", {"sessions": 0, "status_active": 0})]


def test_take_over_of_a_tombstone_moves_only_the_new_owners_counts() -> None:
    old = {"user_id": "bob", "status": "deleted", "created_at": "x"}

    assert rules.take_over_moves(old, "alice", CREATED) == [("alice", CREATED)]


def test_a_cut_hides_its_messages_and_their_chunks_and_nothing_else() -> None:
    first, second, third = (message_sk(f"2025-01-01T00:00:0{i}.000000Z", f"id{i}") for i in range(3))
    low, high = message_range(second)
    session = hot(cuts={"c1": {"from": low, "to": high}})

    assert rules.visible(first, session)
    assert not rules.visible(second, session)
    assert rules.visible(third, session)
    assert not rules.visible(f"{second}#000001", session)  # a chunk key inside the message's range


def test_past_cuts_skips_to_the_first_key_no_cut_holds() -> None:
    second = message_sk("2025-01-01T00:00:02.000000Z", "id2")
    low, high = message_range(second)
    chunk_low, chunk_high = chunks_cut(second)
    session = hot(cuts={"a": {"from": low, "to": high}, "b": {"from": chunk_low, "to": chunk_high}})

    skipped = rules.past_cuts(low, session)

    assert skipped > high and rules.visible(skipped, session)
    assert rules.past_cuts("MSG#2024", session) == "MSG#2024"


def test_a_message_shows_only_in_its_own_incarnation_and_outside_cuts() -> None:
    session = hot(created_at="2025-01-02T00:00:00.000000Z")
    older = {"created_at": "2025-01-01T00:00:00.000000Z", "SK": message_sk("2025-01-01T00:00:00.000000Z", "a")}
    newer = {"created_at": "2025-01-03T00:00:00.000000Z", "SK": message_sk("2025-01-03T00:00:00.000000Z", "b")}

    assert not rules.shows(session, older)
    assert rules.shows(session, newer)
    cut = hot(created_at=session["created_at"], cuts={"c": {"from": newer["SK"], "to": message_range(newer["SK"])[1]}})
    assert not rules.shows(cut, newer)


def test_a_session_holds_a_bounded_number_of_pending_cuts() -> None:
    full = hot(cuts={str(i): {"from": "a", "to": "b"} for i in range(rules.MAX_PENDING_CUTS)})

    assert rules.has_room_for_cut(hot())
    assert not rules.has_room_for_cut(full)
