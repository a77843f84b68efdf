"""Plain helpers shared by test modules of several tiers and by the benchmarks (fixtures live in the tiers'
``conftest.py``): money sent through the handlers as JSON text, a table of one's own, the stream applied in
Lambda's batches, and test-only reads of the whole table.

Nothing here imports pytest: the benchmarks import this module too (``PYTHONPATH=layers/common:.``, as the
Makefile sets it).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

Records = list[dict[str, Any]]
Handle = Callable[[Records], dict[str, Any]]
"""The stream function called with a batch of records: ``records -> {"batchItemFailures": [...]}``."""

STREAM_BATCH_SIZE = 100
"""Records per stream batch: the template's ``BatchSize``."""


# -- money through the handlers, as JSON text (SPEC sections 3-4) ---------------------------------------------

MONEY_USER = "edge_money_user"


def send(method: str, path: str, text: str | None = None, query: dict[str, str] | None = None) -> tuple[int, str]:
    """The raw status and body text of a request (the body is sent as written, read back unparsed)."""
    from devserver.lambda_runtime import invoke_route

    response = invoke_route(method, path, query={k: [v] for k, v in (query or {}).items()}, body=text)
    return int(response["statusCode"]), str(response["body"])


def exact(text: str) -> Any:
    """JSON with every number read as the Decimal it spells (what a careful client does)."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def new_session_id() -> str:
    """A new session of :data:`MONEY_USER`'s, created through the handler; its id."""
    status, text = send("POST", "/api/v1/sessions", json.dumps({"user_id": MONEY_USER}))
    assert status == 201, text
    return str(exact(text)["session_id"])


def append(sid: str, cost: str) -> tuple[int, str]:
    """Append one message whose ``cost_usd`` is written as ``cost`` (JSON text, sent as is)."""
    text = f'{{"role":"user","content":"x","cost_usd":{cost}}}'
    return send("POST", f"/api/v1/sessions/{sid}/messages", text, {"user_id": MONEY_USER})


def read_totals(sid: str) -> list[Decimal]:
    """``total_cost`` as GET, the summary and the user's listing write it (numbers, read exactly)."""
    q = {"user_id": MONEY_USER}
    got = send("GET", f"/api/v1/sessions/{sid}", query=q)
    summary = send("GET", f"/api/v1/sessions/{sid}/summary", query=q)
    listing = send("GET", f"/api/v1/users/{MONEY_USER}/sessions")
    for status, text in (got, summary, listing):
        assert status == 200, text
        assert '"total_cost":"' not in text  # a JSON number, never a string
    return [
        exact(got[1])["total_cost"],
        exact(summary[1])["total_cost"],
        *[s["total_cost"] for s in exact(listing[1])["sessions"] if s["session_id"] == sid],
    ]


def twelve_decimal_costs(count: int, seed: int) -> list[Decimal]:
    """``count`` costs below 1 USD with 12 decimals each, drawn from ``seed``."""
    rng = random.Random(seed)
    return [Decimal(rng.randint(10**11, 10**12 - 1)).scaleb(-12) for _ in range(count)]


def append_batches(sid: str, costs: list[Decimal]) -> None:
    """Append a message per cost, in batches of ``MAX_BATCH_MESSAGES`` (``POST .../messages:batch``)."""
    from session_service.models import MAX_BATCH_MESSAGES

    for start in range(0, len(costs), MAX_BATCH_MESSAGES):
        batch = [f'{{"role":"user","content":"m","cost_usd":{c}}}' for c in costs[start : start + MAX_BATCH_MESSAGES]]
        status, text = send(
            "POST",
            f"/api/v1/sessions/{sid}/messages:batch",
            f'{{"messages":[{",".join(batch)}]}}',
            {"user_id": MONEY_USER},
        )
        assert status == 201, text


# -- a table of one's own -------------------------------------------------------------------------------------


def new_table(client: Any, prefix: str) -> str:
    """Create a table from template.yaml named ``<prefix>-<8 hex digits>`` with ``client``; its name."""
    from devserver.template import create_table

    table = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    return table


# -- the stream -----------------------------------------------------------------------------------------------


class Drains(Protocol):
    """What :func:`settle` reads: ``devserver.streams.StreamReader`` or a wrapper of it."""

    def drain(self) -> Records: ...


def handle_with(processor: Any) -> Handle:
    """``processor.handle`` (a ``StreamProcessor``) as a :data:`Handle`: the batch goes in as Lambda's event."""
    return lambda records: dict(processor.handle({"Records": records}))


def apply_batches(handle: Handle, records: Records, batch_size: int | None = STREAM_BATCH_SIZE) -> list[Records]:
    """Hand ``records`` to the stream function in batches of ``batch_size`` (all in one batch for ``None``);
    returns the batches applied. Raises ``AssertionError`` when the function fails a record."""
    size = batch_size or max(len(records), 1)
    applied = []
    for first in range(0, len(records), size):
        batch = records[first : first + size]
        failures = handle(batch)["batchItemFailures"]
        if failures:
            raise AssertionError(f"the stream function failed records: {failures}")
        applied.append(batch)
    return applied


def settle(reader: Drains, handle: Handle, *, rounds: int = 40, batch_size: int | None = None) -> list[Records]:
    """Apply the table's stream round after round (the function's own writes come back through it) until it is
    quiet: each round's records in one batch, or in batches of ``batch_size`` (the template's is
    :data:`STREAM_BATCH_SIZE`). Returns the batches applied; raises ``AssertionError`` when the stream is not
    quiet after ``rounds``."""
    applied: list[Records] = []
    for _ in range(rounds):
        records = reader.drain()
        if not records:
            return applied
        applied += apply_batches(handle, records, batch_size)
    raise AssertionError(f"the stream was not quiet after {rounds} rounds")


# -- test-only reads of the whole table -----------------------------------------------------------------------


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (DynamoDB JSON, a paginated Scan)."""
    return [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def mentioning(client: Any, table: str, *needles: str) -> list[tuple[str, str]]:
    """The keys ``(PK, SK)``, sorted, of every item whose keys or values mention one of ``needles``."""
    return sorted(
        (item["PK"]["S"], item["SK"]["S"])
        for item in scan(client, table)
        if any(needle in json.dumps(item) for needle in needles)
    )


def stats_item(client: Any, table: str) -> dict[str, Any]:
    """The global ``STATS`` totals: its shards, read consistently and summed (plain values; empty when there is
    none)."""
    from session_service.data import dynamo, keys, stats

    shards = [keys.stats_key(shard) for shard in range(stats.STATS_SHARDS)]
    return stats.sum_shards(dynamo.batch_get(client, table, shards))
