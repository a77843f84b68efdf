"""The idempotent-create path: Powertools' persistence layer is built once per process, not per request, and
its records stay in the caller's partition (``PK = IDEMPOTENCY#<caller>``)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from session_service import wiring

USER = "once_user"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each DynamoDBPersistenceLayer built from now on (its table name)."""
    tables: list[str] = []
    original = DynamoDBPersistenceLayer.__init__

    def spy(self: Any, table_name: str, **kwargs: Any) -> None:
        tables.append(table_name)
        original(self, table_name, **kwargs)

    monkeypatch.setattr(DynamoDBPersistenceLayer, "__init__", spy)
    return tables


def test_one_persistence_layer_serves_every_keyed_create(api: Any, ddb: Any, built: list[str]) -> None:
    _, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": USER}, headers={"Idempotency-Key": "s"})
    path, query = f"/api/v1/sessions/{session['session_id']}", {"user_id": USER}
    for n in range(3):
        body = {"role": "user", "content": f"m{n}"}
        headers = {"Idempotency-Key": f"m{n}"}
        assert api("POST", f"{path}/messages", query=query, json_body=body, headers=headers)[0] == 201
    memory = {"memory_type": "preference", "content": "tea"}
    assert api("POST", f"{path}/memory", query=query, json_body=memory, headers={"Idempotency-Key": "k"})[0] == 201
    assert built == [wiring.settings().table_name]


def test_a_new_client_gets_a_new_layer(api: Any, ddb: Any, built: list[str]) -> None:
    """Tests rebuild the wiring for each moto account; the layer follows the client it writes with."""
    for key in ("first", "second"):
        assert api("POST", "/api/v1/sessions", json_body={"user_id": USER}, headers={"Idempotency-Key": key})[0] == 201
        wiring.dynamodb_client.cache_clear()
    assert len(built) == 2


@pytest.mark.fresh_table  # scans the table
def test_records_sit_in_each_callers_partition(api: Any, ddb: Any) -> None:
    for user in ("alice", "bob", "alice"):
        body = {"user_id": user, "title": user}
        assert api("POST", "/api/v1/sessions", json_body=body, headers={"Idempotency-Key": f"{user}-key"})[0] == 201
    items = ddb.scan(TableName=wiring.settings().table_name)["Items"]
    keyed = [(item["PK"]["S"], item["SK"]["S"]) for item in items if item["PK"]["S"].startswith("IDEMPOTENCY#")]
    # Powertools' record and the write's guard (``WRITE#...``), each in the caller's partition.
    assert sorted(pk for pk, sk in keyed if not sk.startswith("WRITE#")) == ["IDEMPOTENCY#alice", "IDEMPOTENCY#bob"]
    assert sorted(pk for pk, sk in keyed if sk.startswith("WRITE#")) == ["IDEMPOTENCY#alice", "IDEMPOTENCY#bob"]
