"""50 concurrent appends to one session against DynamoDB Local, which really conflicts transactions."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from session_service import wiring
from session_service.models import MessageCreate, MessageRole, SessionCreate

pytestmark = pytest.mark.dynamodb_local

WRITERS = 50


def _request(i: int) -> MessageCreate:
    # Costs with six decimals (0.001001 ... 0.050001 USD): a float sum would drift, the Decimal sum is exact.
    cost = Decimal(i + 1) / 1000 + Decimal("0.000001")
    return MessageCreate(role=MessageRole.USER, content=f"message {i}", tokens_used=i + 1, cost_usd=cost)


def test_concurrent_appends_lose_nothing(local_repo: Any) -> None:
    conflicts = _count_transaction_conflicts()
    user = f"it_user_{uuid.uuid4().hex[:8]}"
    session, created = local_repo.create_session(user, SessionCreate(user_id=user, title="concurrency"))
    assert created
    requests = [_request(i) for i in range(WRITERS)]
    start = threading.Barrier(WRITERS)

    def append(request: MessageCreate) -> str:
        start.wait()  # all writers hit the same session item at once
        (message,) = local_repo.append_messages(session.session_id, user, [request])
        return str(message.message_id)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        ids = list(pool.map(append, requests))

    assert len(set(ids)) == WRITERS
    stored = local_repo.list_messages(session.session_id, user, page_size=200)
    assert stored.next_token is None
    assert sorted(m.message_id for m in stored.messages) == sorted(ids)
    assert sorted(m.content for m in stored.messages) == sorted(r.content for r in requests)
    after = local_repo.get_session(session.session_id, user)
    assert after.message_count == WRITERS
    assert after.total_tokens == sum(r.tokens_used for r in requests)
    assert after.total_cost == sum((r.cost_usd for r in requests), Decimal(0)) == Decimal("1.27505")
    assert stored.total == WRITERS
    assert after.version == 1 + WRITERS
    # DynamoDB Local cancels concurrent transactions on one item: the retries above were exercised.
    print(f"TransactionConflict cancellations retried: {conflicts['n']}")


def _count_transaction_conflicts() -> dict[str, int]:
    """Count TransactWriteItems calls cancelled by TransactionConflict on the wiring's client."""
    seen = {"n": 0}

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        reasons = parsed.get("CancellationReasons") or []
        if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
            seen["n"] += 1

    wiring.dynamodb_client().meta.events.register("after-call.dynamodb.TransactWriteItems", after_call)
    return seen
