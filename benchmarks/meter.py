"""Shared by the DynamoDB Local benchmarks: a meter of round trips and consumed capacity.

:class:`Meter` counts HTTP requests (retries included), API calls by operation and the capacity units
DynamoDB reports. The code measured does not ask for consumed capacity itself: a botocore
``provide-client-params`` hook adds ``ReturnConsumedCapacity=TOTAL`` to every call that accepts it and an
``after-call`` hook reads ``ConsumedCapacity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ_OPERATIONS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


@dataclass
class Meter:
    """Round trips (HTTP requests), API calls by operation and consumed capacity units, since ``reset``."""

    requests: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    write_units: float = 0.0
    read_units: float = 0.0

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests, self.calls, self.write_units, self.read_units = 0, {}, 0.0, 0.0

    def snapshot(self) -> Meter:
        """A copy of the figures so far."""
        return Meter(self.requests, dict(self.calls), self.write_units, self.read_units)

    def attach(self, client: Any) -> Meter:
        """Register the hooks on a boto3 DynamoDB client; returns ``self``."""
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_for_capacity)
        events.register("before-send.dynamodb", self._count_request)
        events.register("after-call.dynamodb", self._read_capacity)
        return self

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count_request(self, **_: Any) -> None:
        self.requests += 1

    def _read_capacity(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            write = entry.get("WriteCapacityUnits")
            read = entry.get("ReadCapacityUnits")
            if write is None and read is None:  # only the total: attribute it by the kind of call
                units = float(entry.get("CapacityUnits", 0))
                if model.name in READ_OPERATIONS:
                    read = units
                else:
                    write = units
            self.write_units += float(write or 0)
            self.read_units += float(read or 0)
