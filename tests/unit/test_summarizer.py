"""Summarizers: the deterministic extractive default and Bedrock Converse (botocore Stubber, no network)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from session_service.models import Message
from session_service.summarizer import (
    MAX_SUMMARY_CHARS,
    SYSTEM_PROMPT,
    BedrockSummarizer,
    ExtractiveSummarizer,
    FallbackSummarizer,
    Turn,
    summarizer_for,
)

CONVERSATION = [
    Turn("user", "I want to plan a five day trip to Kyoto in April. I prefer quiet temples over crowded sights."),
    Turn("assistant", "Kyoto in April means cherry blossoms. Ohara and Daitoku-ji are quiet temple areas."),
    Turn("tool_call", '{"name": "search", "query": "Kyoto temples"}'),
    Turn("tool_result", '{"results": ["Ohara", "Daitoku-ji", "Kurama"]}'),
    Turn("user", "Great, plan two temple days and one day trip to Nara."),
    Turn("assistant", "Sure! Day one: Ohara temples. Day two: Daitoku-ji. Day three: Nara by train."),
]


def test_extractive_is_deterministic_bounded_and_in_order() -> None:
    summarizer = ExtractiveSummarizer()
    first = summarizer.summarize(CONVERSATION)
    assert first == ExtractiveSummarizer().summarize(list(CONVERSATION))
    assert 0 < len(first) <= MAX_SUMMARY_CHARS
    assert "Kyoto" in first and "temple" in first
    assert "tool_call" not in first and "{" not in first  # machine text is not summarized
    picked = [part for part in ("five day trip", "Ohara and Daitoku-ji", "Nara by train") if part in first]
    assert picked == sorted(picked, key=first.index)  # conversation order kept


def test_extractive_keeps_the_most_informative_sentences_when_space_is_short() -> None:
    summary = ExtractiveSummarizer(max_chars=120).summarize(CONVERSATION)
    assert len(summary) <= 120
    assert "temple" in summary.lower()
    assert "Sure!" not in summary


def test_extractive_edge_cases() -> None:
    summarizer = ExtractiveSummarizer()
    assert summarizer.summarize([]) == ""
    assert summarizer.summarize([Turn("user", "   \n ")]) == ""
    huge = summarizer.summarize([Turn("user", "word " * 100_000)])
    assert len(huge) <= MAX_SUMMARY_CHARS
    many = summarizer.summarize([Turn("user", f"Sentence number {i} about databases.") for i in range(500)])
    assert len(many) <= MAX_SUMMARY_CHARS
    assert summarizer.summarize([Turn("user", "日本語の文です。二つ目の文です。")]).startswith("user: ")


def test_extractive_accepts_the_message_model() -> None:
    message = Message(
        message_id="m1",
        session_id="s1",
        user_id="u1",
        role="user",
        content="Summaries read pydantic messages too.",
        message_type="chat",
        tokens_used=1,
        cost_usd="0",
        created_at="2025-03-01T10:00:00Z",
    )
    assert ExtractiveSummarizer().summarize([message]) == "user: Summaries read pydantic messages too."


@pytest.fixture
def bedrock(aws: None) -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1")


def converse_response(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150},
        "metrics": {"latencyMs": 420},
    }


def test_bedrock_converse_request_and_answer(bedrock: Any) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    summarizer = BedrockSummarizer(model, client=bedrock)
    with Stubber(bedrock) as stub:
        stub.add_response(
            "converse",
            converse_response("  The user plans a quiet five-day Kyoto trip in April, with a day in Nara.  "),
            {
                "modelId": model,
                "system": [{"text": SYSTEM_PROMPT}],
                "messages": [{"role": "user", "content": [{"text": ANY}]}],
                "inferenceConfig": {"maxTokens": 400, "temperature": 0.0},
            },
        )
        summary = summarizer.summarize(CONVERSATION)
        stub.assert_no_pending_responses()
    assert summary == "The user plans a quiet five-day Kyoto trip in April, with a day in Nara."


def test_bedrock_transcript_is_bounded_and_keeps_the_newest(bedrock: Any) -> None:
    summarizer = BedrockSummarizer("m", client=bedrock, max_message_chars=50, max_transcript_chars=200)
    turns = [Turn("user", f"message {i} " + "x" * 200) for i in range(20)]
    transcript = summarizer.transcript(turns)
    assert len(transcript) <= 200
    assert "message 19" in transcript and "message 0 " not in transcript
    assert BedrockSummarizer("m", client=bedrock).summarize([]) == ""


def test_bedrock_answer_is_clipped(bedrock: Any) -> None:
    with Stubber(bedrock) as stub:
        stub.add_response("converse", converse_response("long " * 1000))
        summary = BedrockSummarizer("m", client=bedrock).summarize(CONVERSATION)
    assert len(summary) <= MAX_SUMMARY_CHARS


def test_bedrock_failure_falls_back_to_the_extractive_summary(bedrock: Any) -> None:
    summarizer = FallbackSummarizer(BedrockSummarizer("m", client=bedrock), ExtractiveSummarizer())
    with Stubber(bedrock) as stub:
        stub.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
        stub.add_response("converse", converse_response(""))  # an answer without text
        assert summarizer.summarize(CONVERSATION) == ExtractiveSummarizer().summarize(CONVERSATION)
        assert summarizer.summarize(CONVERSATION) == ExtractiveSummarizer().summarize(CONVERSATION)
        stub.assert_no_pending_responses()


def test_summarizer_for_selects_by_model_id() -> None:
    assert isinstance(summarizer_for(None), ExtractiveSummarizer)
    assert isinstance(summarizer_for(""), ExtractiveSummarizer)
    chosen = summarizer_for("anthropic.claude-3-haiku-20240307-v1:0")
    assert isinstance(chosen, FallbackSummarizer)
    assert isinstance(chosen.primary, BedrockSummarizer)
    assert chosen.primary.model_id == "anthropic.claude-3-haiku-20240307-v1:0"
