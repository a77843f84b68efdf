"""Pluggable session summarizers: a deterministic extractive default and an Amazon Bedrock one.

The stream function regenerates a session's ``session_summary`` after new messages (SPEC section 6). It
hands a summarizer the session's most recent messages, oldest first, and stores what comes back.

* :class:`ExtractiveSummarizer` (the default): no network, no model, same input -> same output. It keeps
  the most informative sentences of the conversation by term-frequency scoring, in their original order.
* :class:`BedrockSummarizer`: the Amazon Bedrock Converse API, used when ``SUMMARY_MODEL_ID`` is set.
  boto3 is imported only when it is first used.
* :class:`FallbackSummarizer`: a model that fails (throttling, access denied, empty answer) must not leave
  the summary stale, so the extractive summary is stored instead and the failure is logged.

Every summary is at most :data:`MAX_SUMMARY_CHARS` characters.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from session_service.observability import logger

MAX_SUMMARY_CHARS = 1_000
"""Upper bound of a stored summary (characters); the API returns it with every session."""

_SENTENCE_END = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+|\n+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORD_TEXT = """
    a an and are as at be been but by can could did do does for from had has have he her here hers him his
    how i if in into is it its just let me my no not of on or our ours she so than that the their them then
    there these they this those to too up us was we were what when where which who why will with would you
    your yours ok okay yes please thanks thank hi hello sure also about all any some more very
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class MessageLike(Protocol):
    """What a summarizer reads of a message: who wrote it and what it says."""

    @property
    def role(self) -> str:
        """``user``, ``assistant``, ``system``, ``developer``, ``tool``, ``tool_call`` or ``tool_result``."""
        ...

    @property
    def content(self) -> str:
        """The message text (at most 256 KiB)."""
        ...


DATA_TEXT_KEYS = frozenset({"text", "content"})
"""Keys whose string values are a message's text inside its structured ``data`` (the OpenAI Responses and
Anthropic Messages content parts: ``{"type": "output_text", "text": ...}``, ``{"content": ...}``)."""
MAX_DATA_TEXT_CHARS = 4_000
"""At most this much text is taken from one message's ``data`` (the summary keeps far less)."""
MAX_DATA_NODES = 2_000
"""At most this many JSON values of one message's ``data`` are visited looking for its text."""


def message_text(content: str, data: str | None) -> str:
    """What a summarizer reads of a message: its ``content``, else the text found in its ``data`` (its compact JSON
    text as stored, or ``None``): the data itself when it is a string, else the string values under
    :data:`DATA_TEXT_KEYS` keys at any depth, in document order, joined by newlines, at most
    :data:`MAX_DATA_TEXT_CHARS` characters from at most :data:`MAX_DATA_NODES` values. Never raises."""
    if content or not data:
        return content
    try:
        value = json.loads(data)
    except ValueError:
        return ""
    if isinstance(value, str):
        return value[:MAX_DATA_TEXT_CHARS]
    found: list[str] = []
    size, stack = 0, [value]
    for _ in range(MAX_DATA_NODES):
        if not stack or size >= MAX_DATA_TEXT_CHARS:
            break
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if key in DATA_TEXT_KEYS and isinstance(item, str):
                    found.append(item)
                    size += len(item) + 1
            stack.extend(reversed([item for key, item in node.items() if isinstance(item, dict | list)]))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return "\n".join(found)[:MAX_DATA_TEXT_CHARS]


@dataclass(frozen=True)
class Turn:
    """A message as the stream function reads it from the table (satisfies :class:`MessageLike`)."""

    role: str
    content: str


class Summarizer(Protocol):
    """Turns a session's recent messages (oldest first) into a summary of at most 1,000 characters.

    Implementations may raise (a network failure, a model error); the caller decides what to do then.
    """

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        """The summary of ``messages``; ``""`` when there is nothing to summarize."""
        ...


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _terms(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) > 2 and w not in _STOPWORDS]


class ExtractiveSummarizer:
    """The default summarizer: the most informative sentences, deterministic, no network.

    Sentences of the messages (tool calls, tool results and tool messages are skipped: machine text) are scored by
    the summed frequency of their content words over the square root of their count, with a small bonus
    for recent messages and for the user's own words. The best sentences are kept, in conversation order,
    while they fit in ``max_chars`` (default :data:`MAX_SUMMARY_CHARS`), each prefixed with its role.
    Ties go to the earlier sentence.
    """

    def __init__(self, *, max_chars: int = MAX_SUMMARY_CHARS, max_sentence_chars: int = 300) -> None:
        self._max_chars = max_chars
        self._max_sentence_chars = max_sentence_chars

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        """Summarize ``messages`` (oldest first); ``""`` for no text. Never raises for any text input."""
        sentences: list[tuple[int, str, str, list[str]]] = []  # (message index, role, sentence, terms)
        for index, message in enumerate(messages):
            role = str(message.role)
            if role in ("tool_call", "tool_result", "tool"):
                continue
            for raw in _SENTENCE_END.split(message.content):
                sentence = _clip(raw, self._max_sentence_chars)
                if sentence:
                    sentences.append((index, role, sentence, _terms(sentence)))
        if not sentences:
            return ""
        frequency = Counter(term for *_, terms in sentences for term in set(terms))
        count = max(1, len(messages))

        def score(entry: tuple[int, str, str, list[str]]) -> float:
            index, role, _, terms = entry
            if not terms:
                return 0.0
            weight = sum(frequency[t] for t in terms) / math.sqrt(len(terms))
            recency = 1.0 + 0.5 * (index + 1) / count
            return weight * recency * (1.2 if role == "user" else 1.0)

        scores = [score(entry) for entry in sentences]
        ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
        chosen: list[int] = []
        used = 0
        for i in ranked:
            if scores[i] <= 0 and chosen:  # "Sure!", "Thanks." carry nothing
                break
            _, role, sentence, _ = sentences[i]
            cost = len(role) + 2 + len(sentence) + (1 if chosen else 0)
            if used + cost <= self._max_chars:
                chosen.append(i)
                used += cost
        if not chosen:  # one sentence longer than the whole budget
            _, role, sentence, _ = sentences[ranked[0]]
            return _clip(f"{role}: {sentence}", self._max_chars)
        parts: list[str] = []
        previous = -1
        for i in sorted(chosen):  # consecutive sentences of one message share its role prefix
            index, role, sentence, _ = sentences[i]
            parts.append(sentence if index == previous else f"{role}: {sentence}")
            previous = index
        return " ".join(parts)


SYSTEM_PROMPT = (
    "You summarize chat sessions for an assistant's memory. Write a neutral summary of at most 120 words: "
    "the user's goals, facts and preferences they stated, decisions made and open questions. "
    "No preamble, no lists, no speculation."
)


class BedrockSummarizer:
    """Summaries from an Amazon Bedrock model through the Converse API (``bedrock-runtime``).

    ``model_id`` is ``SUMMARY_MODEL_ID`` (a model or inference-profile id); ``client`` a bedrock-runtime
    client (tests pass one wrapped in botocore's Stubber; by default one is created on first use).
    The transcript sent is bounded: each message at most ``max_message_chars`` characters and the whole at
    most ``max_transcript_chars`` (newest messages kept). The answer is clipped to ``max_chars``.
    Raises botocore ``ClientError``/``BotoCoreError`` when Bedrock fails, :class:`ValueError` on an
    answer without text.
    """

    def __init__(
        self,
        model_id: str,
        *,
        client: Any | None = None,
        max_chars: int = MAX_SUMMARY_CHARS,
        max_tokens: int = 400,
        max_message_chars: int = 2_000,
        max_transcript_chars: int = 24_000,
    ) -> None:
        self.model_id = model_id
        self._client = client
        self._max_chars = max_chars
        self._max_tokens = max_tokens
        self._max_message_chars = max_message_chars
        self._max_transcript_chars = max_transcript_chars

    def _bedrock(self) -> Any:
        if self._client is None:
            import boto3  # heavy import only where Bedrock is used
            from botocore.config import Config

            self._client = boto3.client(
                "bedrock-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=20)
            )
        return self._client

    def transcript(self, messages: Sequence[MessageLike]) -> str:
        """The text sent to the model: ``role: content`` lines, oldest first, within the bounds."""
        lines: list[str] = []
        used = 0
        for message in reversed(messages):
            line = f"{message.role}: {_clip(message.content, self._max_message_chars)}"
            if used + len(line) + 1 > self._max_transcript_chars:
                break
            lines.append(line)
            used += len(line) + 1
        return "\n".join(reversed(lines))

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        """One ``Converse`` call (temperature 0) over the transcript; ``""`` for no messages."""
        if not messages:
            return ""
        response = self._bedrock().converse(
            modelId=self.model_id,
            system=[{"text": SYSTEM_PROMPT}],
            messages=[
                {
                    "role": "user",
                    "content": [{"text": "Summarize this conversation:\n\n" + self.transcript(messages)}],
                }
            ],
            inferenceConfig={"maxTokens": self._max_tokens, "temperature": 0.0},
        )
        parts = response.get("output", {}).get("message", {}).get("content", [])
        text = " ".join(part["text"] for part in parts if isinstance(part, dict) and "text" in part).strip()
        if not text:
            raise ValueError(f"Bedrock answered without text (stopReason {response.get('stopReason')!r})")
        return _clip(text, self._max_chars)


class FallbackSummarizer:
    """Use ``primary``; when it raises, log a warning and use ``fallback`` (the summary still moves on)."""

    def __init__(self, primary: Summarizer, fallback: Summarizer) -> None:
        self.primary = primary
        self.fallback = fallback

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        """``primary.summarize(messages)``, or ``fallback.summarize(messages)`` if that raises."""
        try:
            return self.primary.summarize(messages)
        except Exception as exc:  # any model failure: the extractive summary is better than a stale one
            logger.warning("Summarizer failed; using the extractive summary", extra={"error": repr(exc)[:500]})
            return self.fallback.summarize(messages)


@cache
def summarizer_for(model_id: str | None) -> Summarizer:
    """The summarizer for a ``SUMMARY_MODEL_ID`` value: Bedrock (extractive fallback) when set, else extractive.

    Cached per model id, so the Bedrock client is created once per process.
    """
    extractive = ExtractiveSummarizer()
    if not model_id:
        return extractive
    return FallbackSummarizer(BedrockSummarizer(model_id), extractive)
