"""Paging through 1,000 messages in both orders, and exact 12-decimal money end to end."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from session_service_client import SessionServiceClient

from tests.client.conftest import ClientFactory

MESSAGES = 1_000
COSTS = [Decimal(n) * Decimal("0.000000000001") + Decimal("0.000123456789") for n in range(MESSAGES)]
"""12 decimal places each (a double holds 15-17 significant digits: their sum would drift)."""


@pytest.fixture(scope="module")
def long_session(base_url: str) -> Iterator[tuple[str, str]]:
    """A session of 1,000 messages (their content is their index), written in batches."""
    user = "client_pager"
    with SessionServiceClient(base_url, user_id=user) as client:
        sid = client.create_session().session_id
        for start in range(0, MESSAGES, 98):
            batch = [
                {"role": "user", "content": str(n), "tokens_used": 1, "cost_usd": COSTS[n]}
                for n in range(start, min(start + 98, MESSAGES))
            ]
            client.append_messages(sid, batch)
        yield user, sid


def test_paging_through_1000_messages_in_both_orders(make_client: ClientFactory, long_session: tuple[str, str]) -> None:
    user, sid = long_session
    client = make_client(user_id=user)
    oldest_first = [int(m.content) for m in client.iter_messages(sid, page_size=200)]
    assert oldest_first == list(range(MESSAGES))
    newest_first = [int(m.content) for m in client.iter_messages(sid, order="desc", page_size=200)]
    assert newest_first == list(reversed(range(MESSAGES)))


def test_money_round_trips_exactly(make_client: ClientFactory, long_session: tuple[str, str]) -> None:
    user, sid = long_session
    client = make_client(user_id=user)
    session = client.get_session(sid)
    assert session.total_cost == sum(COSTS) and isinstance(session.total_cost, Decimal)
    assert client.get_session_summary(sid).total_cost == sum(COSTS)
    page = client.list_messages(sid, page_size=3)
    assert [m.cost_usd for m in page.messages] == COSTS[:3]

    other = client.create_session().session_id
    for cost in (Decimal("0.000000000001"), Decimal("999999.999999999999"), Decimal("123.456789012345")):
        assert client.append_message(other, role="user", content="$", cost_usd=cost).cost_usd == cost
    expected = Decimal("0.000000000001") + Decimal("999999.999999999999") + Decimal("123.456789012345")
    assert client.get_session(other).total_cost == expected == Decimal("1000123.456789012345")
    assert next(row for row in client.iter_sessions() if row.session_id == other).total_cost == expected
