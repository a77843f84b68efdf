"""What the summarizer reads of a structured message: its ``content``, else the text in its ``data``."""

from __future__ import annotations

import json

from session_service.models import dump_json
from session_service.summarizer import MAX_DATA_TEXT_CHARS, ExtractiveSummarizer, Turn, message_text


def test_content_wins_over_data() -> None:
    assert message_text("the text", dump_json({"text": "other"})) == "the text"


def test_no_data_and_no_content_is_empty() -> None:
    assert message_text("", None) == ""


def test_a_string_is_its_own_text() -> None:
    assert message_text("", dump_json("plain words")) == "plain words"


def test_text_and_content_keys_at_any_depth_in_order() -> None:
    item = {
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": "First part."},
            {"type": "output_text", "text": "Second part.", "annotations": []},
        ],
        "tail": {"content": "Third part.", "number": 3, "text": 4},
    }
    assert message_text("", dump_json(item)) == "First part.\nSecond part.\nThird part."


def test_data_without_text_gives_nothing() -> None:
    assert message_text("", dump_json({"type": "function_call", "arguments": "{}"})) == ""
    assert message_text("", dump_json([1, 2.5, True, None])) == ""
    assert message_text("", "not json") == ""


def test_the_text_is_bounded() -> None:
    many = [{"text": "word " * 100} for _ in range(1_000)]
    assert len(message_text("", dump_json(many))) == MAX_DATA_TEXT_CHARS
    assert len(message_text("", json.dumps("x" * 10 * MAX_DATA_TEXT_CHARS))) == MAX_DATA_TEXT_CHARS


def test_tool_messages_are_left_out_of_the_summary_like_tool_results() -> None:
    turns = [Turn("user", "Paris weather tomorrow please."), Turn("tool", "Temperature forecast sunny.")]
    assert "Temperature" not in ExtractiveSummarizer().summarize(turns)
