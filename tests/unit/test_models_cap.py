"""A session's messages name at most MAX_MODELS_PER_SESSION distinct (provider, model) pairs (README, Usage): the
cap is in the append's and the edit's own condition, and counts only the pairs a change could add."""

from __future__ import annotations

from typing import Any

import pytest

from session_service.errors import TooManyModels
from session_service.models import MAX_MODELS_PER_SESSION, MessageCreate, MessageUpdate, SessionCreate

USER = "capped"


def named(model: str, provider: str | None = "p") -> MessageCreate:
    return MessageCreate(role="user", content=model, tokens_used=1, provider=provider, model=model)


def test_the_sixteenth_pair_is_taken_by_an_edit_and_the_seventeenth_is_refused(repo: Any) -> None:
    sid = repo.create_session(USER, SessionCreate(user_id=USER))[0].session_id
    first = repo.append_messages(sid, USER, [named(f"m{i}") for i in range(MAX_MODELS_PER_SESSION - 1)])
    # An edit moving a message from a pair the session names to a new one: 16 pairs, allowed.
    edited = repo.update_message(sid, USER, first[0].message_id, MessageUpdate(model="sixteenth"))
    assert edited.model == "sixteenth"
    # Pairs the session names already take nothing, nor does a message naming neither.
    repo.append_messages(sid, USER, [named("m3"), named("sixteenth"), MessageCreate(role="user", content="plain")])
    before = repo.get_session(sid, USER).message_count
    with pytest.raises(TooManyModels):
        repo.append_messages(sid, USER, [named("seventeenth")])
    with pytest.raises(TooManyModels):
        repo.update_message(sid, USER, first[1].message_id, MessageUpdate(provider="other"))
    assert repo.get_session(sid, USER).message_count == before  # nothing written


def test_one_append_naming_more_pairs_than_the_cap_writes_nothing(repo: Any) -> None:
    sid = repo.create_session(USER, SessionCreate(user_id=USER))[0].session_id
    with pytest.raises(TooManyModels):
        repo.append_messages(sid, USER, [named(f"m{i}") for i in range(MAX_MODELS_PER_SESSION + 1)])
    assert repo.get_session(sid, USER).message_count == 0
    repo.append_messages(sid, USER, [named(f"m{i}", provider=None) for i in range(MAX_MODELS_PER_SESSION)])
    assert repo.get_session(sid, USER).message_count == MAX_MODELS_PER_SESSION
