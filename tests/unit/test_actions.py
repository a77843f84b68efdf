"""Typed transaction actions render the requests the service made before they were typed (no change of cost)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from session_service.data import actions, service_actions
from session_service.data.dynamo import serialize
from session_service.data.keys import STATS_KEY, mark_key, model_usage_key, session_key, user_counts_key

TABLE = "t"
NOW = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_add_counts_is_conditioned_on_no_erasure_only_when_the_user_gains_sessions() -> None:
    gain = actions.AddCounts("u", {"sessions": 1, "status_active": 1}).render(TABLE)["Update"]
    loss = actions.AddCounts("u", {"sessions": -1}).render(TABLE)["Update"]

    assert gain["Key"] == user_counts_key("u")
    assert gain["UpdateExpression"] == "ADD #a0 :a0, #a1 :a1"
    assert gain["ConditionExpression"] == "attribute_not_exists(erasing_since)"
    assert "ConditionExpression" not in loss


def test_session_activity_requires_a_live_active_owned_session_and_returns_the_old_item() -> None:
    update = actions.SessionActivity("s", "u", NOW, {"message_count": 1}).render(TABLE)["Update"]

    assert update["Key"] == session_key("s")
    assert update["ConditionExpression"] == (
        "attribute_exists(PK) AND user_id = :caller AND #status = :active AND expires_at > :epoch"
    )
    assert update["UpdateExpression"] == (
        "SET last_activity = :now, updated_at = :now, expires_at = ttl_seconds + :epoch ADD version :one, #i0 :i0"
    )
    assert update["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert (
        "ReturnValuesOnConditionCheckFailure"
        not in actions.SessionActivity("s", "u", NOW, old_on_failure=False).render(TABLE)["Update"]
    )


def test_message_change_is_conditioned_on_the_version_read() -> None:
    message = {"PK": "SESSION#s", "SK": "MSG#x", "version": 3}

    delete = actions.MessageChange(message).render(TABLE)
    update = actions.MessageChange(message, "ADD chunks :one", values={":one": 1}).render(TABLE)

    assert delete == {
        "Delete": {
            "TableName": TABLE,
            "Key": {"PK": {"S": "SESSION#s"}, "SK": {"S": "MSG#x"}},
            "ConditionExpression": "version = :version",
            "ExpressionAttributeValues": {":version": {"N": "3"}},
        }
    }
    assert update["Update"]["UpdateExpression"] == "ADD chunks :one"
    assert update["Update"]["ExpressionAttributeValues"] == {":version": {"N": "3"}, ":one": {"N": "1"}}


def test_stats_add_is_the_stream_functions_add_to_stats() -> None:
    rendered = service_actions.StatsAdd(1, 1, 2, 30, Decimal("0.5")).render(TABLE)

    assert rendered == {
        "Update": {
            "TableName": TABLE,
            "Key": STATS_KEY,
            "UpdateExpression": (
                "ADD total_sessions :s, active_sessions :a, total_messages :m, total_tokens :t, total_cost :c"
            ),
            "ExpressionAttributeValues": serialize({":s": 1, ":a": 1, ":m": 2, ":t": 30, ":c": Decimal("0.5")}),
        }
    }


def test_model_usage_add_names_its_pair() -> None:
    rendered = service_actions.ModelUsageAdd("u", '["p","m"]', {"messages": 1}).render(TABLE)["Update"]

    assert rendered["Key"] == model_usage_key("u", '["p","m"]')
    assert rendered["UpdateExpression"] == "SET #pair = :pair ADD #a0 :a0"
    assert rendered["ExpressionAttributeNames"] == {"#a0": "messages", "#pair": "pair"}
    assert rendered["ExpressionAttributeValues"][":pair"] == {"S": '["p","m"]'}


def test_mark_move_creates_a_mark_or_moves_it_from_the_one_read() -> None:
    new = service_actions.MarkMove("s", "2025#3").render(TABLE)["Update"]
    moved = service_actions.MarkMove("s", "2025#4", previous="2025#3").render(TABLE)["Update"]

    assert new["Key"] == mark_key("s")
    assert new["UpdateExpression"] == "SET applied = :mark, entity = :entity, session_id = :sid"
    assert new["ConditionExpression"] == "attribute_not_exists(PK)"
    assert moved["ConditionExpression"] == "attribute_not_exists(PK) OR applied = :previous"
    assert moved["ExpressionAttributeValues"][":previous"] == {"S": "2025#3"}
