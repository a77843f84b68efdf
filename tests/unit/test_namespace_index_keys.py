"""A session created in a namespace is in GSI3 (``NS#<namespace>``, ``<user_id>#<last_activity>``) from its
creation, and the stream function moves GSI3's sort key with the other two; a session without one is not in GSI3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from session_service.data.items import new_session_items
from session_service.data.keys import index_keys, index_lags, iso
from session_service.models import SessionCreate

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_a_namespaced_session_is_in_gsi3_from_its_creation() -> None:
    hot, _ = new_session_items("s", "alice", SessionCreate(user_id="alice", namespace="travel"), NOW, 60)
    assert hot["namespace"] == "travel" and hot["GSI3PK"] == "NS#travel"
    assert hot["GSI3SK"] == f"alice#{iso(NOW)}"


def test_a_session_without_a_namespace_is_not_in_gsi3() -> None:
    hot, _ = new_session_items("s", "alice", SessionCreate(user_id="alice"), NOW, 60)
    assert "namespace" not in hot and "GSI3PK" not in hot and "GSI3SK" not in hot


def test_the_stream_moves_gsi3s_key_with_the_others() -> None:
    hot, _ = new_session_items("s", "alice", SessionCreate(user_id="alice", namespace="travel"), NOW, 60)
    later = iso(NOW + timedelta(minutes=2))
    moved = {**hot, "last_activity": later}
    assert index_lags(moved)
    assert index_keys(moved) == {"GSI1SK": later, "GSI2SK": f"active#{later}", "GSI3SK": f"alice#{later}"}
