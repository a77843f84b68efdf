"""The unit tier: models, rules and the repository on moto.

A module that uses ``store`` defines its own ``clock`` fixture (a settable clock, or one that moves each time it
is read).
"""

from __future__ import annotations

from typing import Any

import pytest

from session_service.cursor import CursorCodec
from session_service.repository import SessionRepository


@pytest.fixture
def store(ddb: Any, table: str, clock: Any) -> SessionRepository:
    """A repository over the test's moto table (``table``), with the module's ``clock``."""
    return SessionRepository(ddb, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32), clock=clock)
