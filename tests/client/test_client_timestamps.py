"""Client timestamps through both clients: a message (one or a batch's) carries ``timestamp``, read back on every
answer; the session and its listing rows show ``last_message_timestamp``; ``list_messages`` and ``iter_messages``
start at a time with ``from_timestamp``."""

from __future__ import annotations

from session_service_client import NewMessage

from tests.client.conftest import ClientFactory

T0 = 1_733_360_000.123456


def test_timestamps_round_trip_and_list_from_a_time(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    assert client.get_session(sid).last_message_timestamp is None
    first = client.append_message(sid, role="user", content="one", timestamp=T0)
    assert first.timestamp == T0
    batch = [NewMessage(role="assistant", content=f"m{i}", timestamp=T0 + 1 + i) for i in range(4)]
    assert [m.timestamp for m in client.append_messages(sid, batch).messages] == [T0 + 1 + i for i in range(4)]
    assert client.get_message(sid, first.message_id).timestamp == T0
    assert client.get_session(sid).last_message_timestamp == T0 + 4
    rows = [row for row in client.list_sessions().sessions if row.session_id == sid]
    assert [row.last_message_timestamp for row in rows] == [T0 + 4]

    newest = client.list_messages(sid, from_timestamp=T0 + 2, order="desc", page_size=2)
    assert [m.content for m in newest.messages] == ["m3", "m2"] and newest.next_token
    listed = [m.content for m in client.iter_messages(sid, from_timestamp=T0 + 2, page_size=1)]
    assert listed == ["m1", "m2", "m3"]
