"""What moto does differently from DynamoDB in a way the service depends on, made to match.

DynamoDB answers a Query of a local secondary index with ``Select=ALL_ATTRIBUTES`` by fetching the
attributes the index does not project from the table, in the same request (the way the repository finds a
message by id through ``LSI1``, keys only). moto 5 returns only the projected attributes. :func:`apply`
makes moto's local secondary indexes return whole items, which is what such a Query answers on DynamoDB
(the service never asks an LSI for less).
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    """Make moto's LSI Queries answer whole items (idempotent)."""
    from moto.dynamodb.models.table import LocalSecondaryIndex

    def project(self: Any, item: Any) -> Any:
        return item

    LocalSecondaryIndex.project = project  # type: ignore[method-assign]
