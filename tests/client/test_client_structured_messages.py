"""Structured messages through both clients: ``data`` (any JSON value) beside or instead of ``content``,
returned exactly as sent by every read; the roles ``developer`` and ``tool``."""

from __future__ import annotations

from typing import Any

import pytest
from session_service_client import NewMessage

from tests.client.conftest import ClientFactory

VALUES: list[Any] = [
    {"type": "function_call", "call_id": "c1", "arguments": '{"q": 1}', "nested": {"list": [1, 2.5, None, True]}},
    [{"type": "input_text", "text": "hi"}, {"type": "input_image", "detail": "auto"}],
    "a plain string",
    12345678901234567890,
    0.1,
    False,
    {},
]


@pytest.mark.parametrize("data", VALUES, ids=lambda value: type(value).__name__)
def test_data_comes_back_exactly_as_sent(make_client: ClientFactory, user: str, data: Any) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    appended = client.append_message(sid, role="tool", data=data)
    assert appended.data == data and appended.content == ""
    assert client.get_message(sid, appended.message_id).data == data
    assert [m.data for m in client.list_messages(sid).messages] == [data]
    assert [m.data for m in client.get_context(sid).messages] == [data]


def test_data_beside_content_in_a_batch_and_new_roles(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    batch = client.append_messages(
        sid,
        [
            NewMessage(role="developer", content="Be brief."),
            NewMessage(role="user", content="Hello", data={"parts": ["Hello"]}),
            {"role": "tool", "data": {"output": 42}},
        ],
    ).messages
    assert [(m.role, m.content, m.data) for m in batch] == [
        ("developer", "Be brief.", None),
        ("user", "Hello", {"parts": ["Hello"]}),
        ("tool", "", {"output": 42}),
    ]
    listed = client.list_messages(sid, order="desc").messages
    assert [m.data for m in listed] == [{"output": 42}, {"parts": ["Hello"]}, None]


def test_data_is_changed_by_an_update(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    message = client.append_message(sid, role="assistant", content="draft", data={"v": 1})
    assert client.update_message(sid, message.message_id, data={"v": 2}).data == {"v": 2}
    assert client.get_message(sid, message.message_id).data == {"v": 2}
