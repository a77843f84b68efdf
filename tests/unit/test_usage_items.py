"""stats.usage_attribute and its inverse: the names of the per-model usage counters (SPEC section 9)."""

from __future__ import annotations

import pytest

from session_service.data import stats


@pytest.mark.parametrize(
    ("provider", "model"),
    [("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"), (None, "llama3"), ("mistral", None), ('a"]:c', "ü:[")],
)
def test_a_usage_attribute_names_its_row_and_field_unambiguously(provider: str | None, model: str | None) -> None:
    for suffix in stats.USAGE_FIELDS:
        name = stats.usage_attribute(provider, model, suffix)
        assert stats.parse_usage_attribute(name) == (provider, model, suffix)
    assert stats.usage_attribute("bedrock", "claude", "t") == 'by:["bedrock","claude"]:t'


def test_other_names_are_not_usage_attributes_and_a_row_names_something() -> None:
    for name in ("message_count", "by:", 'by:["a","b"]:x', "by:[1,2]:m", 'by:["a"]:m', "by:[null,null]:m", "by:{}:m"):
        assert stats.parse_usage_attribute(name) is None, name
    with pytest.raises(ValueError):
        stats.usage_attribute(None, None, "m")
    with pytest.raises(ValueError):
        stats.usage_attribute("p", "m", "x")
    assert stats.usage_increments(None, None, 1, 5, 1) == {}
    assert stats.sum_usage({"a": 1, "b": 2}, {"a": -1}) == {"b": 2}
