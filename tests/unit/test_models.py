"""The request and response models: SPEC section 4's limits, seed 004's session id rule, money on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from session_service.models import (
    ALLOWED_TRANSITIONS,
    MAX_BATCH_MESSAGES,
    MemoryCreate,
    MessageBatchCreate,
    MessageCreate,
    Session,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
    Stats,
    statuses_allowed_before,
)

UUID = "7e02708b-ad2d-44d6-a851-d02d97137757"
KIB = 1024


def parse(model: type[BaseModel], body: str) -> BaseModel:
    """Validate a body read by Python's json (which also reads NaN): the model's own checks, without load_json's."""
    return model.model_validate(json.loads(body))


def error_types(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [e["type"] for e in caught.value.errors()]


def message(**fields: Any) -> dict[str, Any]:
    return {"role": "user", "content": "hello", **fields}


# -- user_id --------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["u", "a" * 128, "test_user_123", "a.b@c:d-e_F9"])
def test_user_id_accepts_the_charset_up_to_128_chars(user_id: str) -> None:
    assert SessionCreate(user_id=user_id).user_id == user_id


@pytest.mark.parametrize("user_id", ["", "a" * 129, "a b", "a/b", "ü", "u\n", "a#b", "a?b"])
def test_user_id_rejects_other_chars_and_lengths(user_id: str) -> None:
    assert error_types(SessionCreate, {"user_id": user_id})


def test_user_id_is_required() -> None:
    assert error_types(SessionCreate, {}) == ["missing"]


# -- session_id (seed 004's SessionIdGenerator.is_valid_session_id) -----------------------------------


@pytest.mark.parametrize(
    "session_id",
    [
        UUID,
        UUID.upper(),
        UUID.replace("-", ""),
        f"user_abc123_{UUID}",  # generate_user_session_id: user_id[:12] + "_" + uuid
        f"chat_{UUID}",
    ],
)
def test_session_id_is_a_uuid_or_prefix_underscore_uuid(session_id: str) -> None:
    assert SessionCreate(user_id="u", session_id=session_id).session_id == session_id


@pytest.mark.parametrize(
    "session_id",
    [
        "abc",
        "",
        UUID[:-1],
        f"{UUID}x",
        f"_{UUID}",
        f"chat-{UUID}",
        f"a/b_{UUID}",
        f"{UUID}\n",
        f"{UUID}_chat",
        "x" * 300,
    ],
)
def test_session_id_rejects_anything_else(session_id: str) -> None:
    assert error_types(SessionCreate, {"user_id": "u", "session_id": session_id})


def test_session_id_is_optional() -> None:
    assert SessionCreate(user_id="u").session_id is None


# -- title, metadata, conversation_data ----------------------------------------------------------------


def test_title_is_at_most_256_chars() -> None:
    assert SessionCreate(user_id="u", title="é" * 256).title == "é" * 256
    assert error_types(SessionCreate, {"user_id": "u", "title": "t" * 257}) == ["string_too_long"]
    assert error_types(SessionUpdate, {"title": "t" * 257}) == ["string_too_long"]


@pytest.mark.parametrize("field", ["metadata", "conversation_data"])
def test_json_objects_have_at_most_50_keys(field: str) -> None:
    fifty = {f"k{i}": i for i in range(50)}
    assert getattr(SessionCreate.model_validate({"user_id": "u", field: fifty}), field) == fifty
    assert error_types(SessionCreate, {"user_id": "u", field: {**fifty, "k50": 50}})
    assert error_types(SessionUpdate, {field: {**fifty, "k50": 50}})


@pytest.mark.parametrize("field", ["metadata", "conversation_data"])
def test_json_objects_are_at_most_32_kib_as_json(field: str) -> None:
    # {"a":"..."} is 8 bytes of JSON around the value: 32 KiB exactly is accepted, one byte more is not.
    exact = {"a": "x" * (32 * KIB - 8)}
    assert getattr(SessionCreate.model_validate({"user_id": "u", field: exact}), field) == exact
    assert error_types(SessionCreate, {"user_id": "u", field: {"a": "x" * (32 * KIB - 7)}})


def test_json_object_size_counts_utf8_bytes() -> None:
    # 11,000 three-byte characters: 11,000 chars but 33,000 bytes, over the limit.
    assert error_types(SessionCreate, {"user_id": "u", "metadata": {"a": "€" * 11_000}})


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_objects_reject_nan_and_infinity(literal: str) -> None:
    with pytest.raises(ValidationError):
        parse(SessionCreate, f'{{"user_id": "u", "metadata": {{"x": {{"y": [{literal}]}}}}}}')
    with pytest.raises(ValidationError):
        parse(MessageCreate, f'{{"role": "user", "content": "x", "metadata": {{"x": {literal}}}}}')


def test_json_objects_must_be_objects() -> None:
    assert error_types(SessionCreate, {"user_id": "u", "metadata": ["a"]}) == ["dict_type"]
    assert error_types(SessionCreate, {"user_id": "u", "conversation_data": "text"}) == ["dict_type"]


# -- unknown fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (SessionCreate, {"user_id": "u", "owner": "x"}),
        (SessionUpdate, {"is_active": False}),
        (SessionUpdate, {"message_count": 5}),
        (MessageCreate, message(session_id=UUID)),
        (MemoryCreate, {"memory_type": "custom", "content": "x", "memory_id": UUID}),
        (MessageBatchCreate, {"messages": [message()], "atomic": True}),
    ],
)
def test_unknown_fields_are_rejected(model: type[BaseModel], data: dict[str, Any]) -> None:
    assert "extra_forbidden" in error_types(model, data)


def test_ttl_seconds_is_a_strict_integer_of_at_least_a_minute() -> None:
    assert SessionCreate(user_id="u", ttl_seconds=60).ttl_seconds == 60
    assert error_types(SessionCreate, {"user_id": "u", "ttl_seconds": 59})
    assert error_types(SessionCreate, {"user_id": "u", "ttl_seconds": 60.0})
    assert error_types(SessionCreate, {"user_id": "u", "ttl_seconds": True})


# -- message content, roles, types -----------------------------------------------------------------


def test_message_content_is_at_most_256_kib_of_utf8() -> None:
    assert MessageCreate.model_validate(message(content="x" * (256 * KIB))).content
    assert error_types(MessageCreate, message(content="x" * (256 * KIB + 1)))


def test_message_content_limit_counts_bytes_not_chars() -> None:
    # "é" is two bytes: 128 Ki of them is exactly 256 KiB; 90,000 "€" (3 bytes) are far fewer chars but over.
    assert MessageCreate.model_validate(message(content="é" * (128 * KIB))).content
    assert error_types(MessageCreate, message(content="é" * (128 * KIB) + "a"))
    assert error_types(MessageCreate, message(content="€" * 90_000))
    assert error_types(MessageCreate, message(content="😀" * (64 * KIB + 1)))  # 4 bytes each


def test_message_content_is_not_empty() -> None:
    assert error_types(MessageCreate, message(content="")) == ["string_too_short"]
    # content may be left out only when data is given: without data it is as empty as ""
    assert error_types(MessageCreate, {"role": "user"}) == ["string_too_short"]


@pytest.mark.parametrize("role", ["user", "assistant", "system", "tool_call", "tool_result", "developer", "tool"])
def test_message_roles(role: str) -> None:
    assert MessageCreate.model_validate(message(role=role)).role == role


@pytest.mark.parametrize("role", ["bot", "User", "", "Tool", "function"])
def test_unknown_roles_are_rejected(role: str) -> None:
    assert error_types(MessageCreate, message(role=role)) == ["enum"]


@pytest.mark.parametrize("message_type", ["chat", "system", "tool_call", "tool_result", "notification"])
def test_message_types(message_type: str) -> None:
    assert MessageCreate.model_validate(message(message_type=message_type)).message_type == message_type


def test_message_type_defaults_to_chat_and_rejects_others() -> None:
    assert MessageCreate.model_validate(message()).message_type == "chat"
    assert error_types(MessageCreate, message(message_type="email")) == ["enum"]


# -- tokens and cost ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [0, 1, 10**9])
def test_tokens_accept_integers_0_to_a_billion(tokens: int) -> None:
    assert MessageCreate.model_validate(message(tokens_used=tokens)).tokens_used == tokens


@pytest.mark.parametrize("tokens", [-1, 10**9 + 1, True, False, 5.0, 5.5, "5", None])
def test_tokens_reject_other_values_bools_and_floats(tokens: Any) -> None:
    assert error_types(MessageCreate, message(tokens_used=tokens))


@pytest.mark.parametrize("body", ['"tokens_used": 1e3', '"tokens_used": 5.0', '"tokens_used": true'])
def test_tokens_reject_json_floats_and_bools(body: str) -> None:
    with pytest.raises(ValidationError):
        parse(MessageCreate, f'{{"role": "user", "content": "x", {body}}}')


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        (0, Decimal(0)),
        (0.0001, Decimal("0.0001")),
        (0.000001, Decimal("0.000001")),
        (10**6, Decimal(10**6)),
        (999999.999999, Decimal("999999.999999")),
        (0.000000000001, Decimal("0.000000000001")),
        (0.123456789012, Decimal("0.123456789012")),
    ],
)
def test_cost_accepts_0_to_a_million_with_12_decimals(cost: float, expected: Decimal) -> None:
    assert MessageCreate.model_validate(message(cost_usd=cost)).cost_usd == expected


@pytest.mark.parametrize("cost", [-0.000001, 1000000.000001, 1e-13, 0.1234567890123, 1e300, True])
def test_cost_rejects_out_of_range_too_precise_and_bools(cost: Any) -> None:
    assert error_types(MessageCreate, message(cost_usd=cost))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_cost_rejects_nan_and_infinity(literal: str) -> None:
    with pytest.raises(ValidationError):
        parse(MessageCreate, f'{{"role": "user", "content": "x", "cost_usd": {literal}}}')


def test_cost_from_a_json_float_is_the_exact_decimal_written() -> None:
    parsed = parse(MessageCreate, '{"role": "user", "content": "x", "cost_usd": 0.0001}')
    assert isinstance(parsed, MessageCreate)
    assert parsed.cost_usd == Decimal("0.0001")


# -- memory ------------------------------------------------------------------------------------------


def test_memory_content_is_1_char_to_64_kib_of_utf8() -> None:
    assert MemoryCreate.model_validate({"memory_type": "custom", "content": "x" * (64 * KIB)}).content
    assert error_types(MemoryCreate, {"memory_type": "custom", "content": "x" * (64 * KIB + 1)})
    assert error_types(MemoryCreate, {"memory_type": "custom", "content": "é" * (32 * KIB + 1)})
    assert error_types(MemoryCreate, {"memory_type": "custom", "content": ""}) == ["string_too_short"]


@pytest.mark.parametrize("memory_type", ["preference", "conversation", "entity", "summary", "custom"])
def test_memory_types(memory_type: str) -> None:
    assert MemoryCreate.model_validate({"memory_type": memory_type, "content": "x"}).memory_type == memory_type


def test_memory_type_is_required_and_an_enum() -> None:
    assert error_types(MemoryCreate, {"content": "x"}) == ["missing"]
    assert error_types(MemoryCreate, {"memory_type": "note", "content": "x"}) == ["enum"]


# -- batches -----------------------------------------------------------------------------------------


def test_batch_takes_1_to_98_messages() -> None:
    assert len(MessageBatchCreate.model_validate({"messages": [message()] * MAX_BATCH_MESSAGES}).messages) == 98
    assert error_types(MessageBatchCreate, {"messages": [message()] * 100}) == ["too_long"]
    assert error_types(MessageBatchCreate, {"messages": []}) == ["too_short"]


def test_batch_validates_every_message() -> None:
    errors = error_types(MessageBatchCreate, {"messages": [message(), message(role="bot")]})
    assert errors == ["enum"]


# -- status transitions --------------------------------------------------------------------------------


def test_allowed_transitions_are_those_of_the_spec() -> None:
    allowed = {(a.value, b.value) for a, nexts in ALLOWED_TRANSITIONS.items() for b in nexts}
    assert allowed == {("active", "completed"), ("completed", "archived"), ("active", "ended")}


@pytest.mark.parametrize(
    ("target", "before"),
    [
        ("completed", {"active", "completed"}),
        ("archived", {"completed", "archived"}),
        ("ended", {"active", "ended"}),
        ("active", {"active"}),
    ],
)
def test_statuses_allowed_before_a_target_include_the_no_op(target: str, before: set[str]) -> None:
    assert {s.value for s in statuses_allowed_before(SessionStatus(target))} == before


def test_update_rejects_unknown_status() -> None:
    assert error_types(SessionUpdate, {"status": "deleted"}) == ["enum"]


# -- money on the wire ----------------------------------------------------------------------------------


def session_with(total_cost: Decimal) -> Session:
    moment = datetime(2025, 10, 3, 9, 53, 9, 821305, tzinfo=UTC)
    return Session(
        session_id=UUID,
        user_id="test_user_123",
        status=SessionStatus.ACTIVE,
        is_active=True,
        total_cost=total_cost,
        created_at=moment,
        updated_at=moment,
        last_activity=moment,
        expires_at=moment,
    )


def test_zero_cost_is_the_json_number_0_0() -> None:
    wire = session_with(Decimal(0)).model_dump_json()
    assert '"total_cost":0.0' in wire
    assert json.loads(wire)["total_cost"] == 0.0
    assert '"total_cost":0.0' in Stats().model_dump_json()


def test_money_serializes_as_the_written_number() -> None:
    # The exact sums themselves are the repository's (tests/unit/test_repository.py, the messages API tests).
    assert '"total_cost":0.3' in session_with(Decimal("0.3")).model_dump_json()


def test_money_at_the_limits_keeps_its_value_on_the_wire() -> None:
    assert json.loads(session_with(Decimal("999999.999999")).model_dump_json())["total_cost"] == 999999.999999
    assert json.loads(session_with(Decimal("1.000000")).model_dump_json())["total_cost"] == 1.0  # micro-dollar sum


def test_money_is_a_json_number_not_a_string() -> None:
    body = json.loads(session_with(Decimal("0.0001")).model_dump_json())
    assert isinstance(body["total_cost"], float)
    assert body["total_cost"] == 0.0001


def test_session_json_hides_internal_fields_and_uses_z_times() -> None:
    body = json.loads(session_with(Decimal(0)).model_dump_json())
    assert "version" not in body and "memory_count" not in body
    assert body["created_at"] == "2025-10-03T09:53:09.821305Z"


def test_summary_has_memory_follows_the_memory_count() -> None:
    session = session_with(Decimal("1.5"))
    assert session.summary().has_memory is False
    session.memory_count = 2
    summary = session.summary()
    assert summary.has_memory is True
    assert summary.total_cost == Decimal("1.5")
