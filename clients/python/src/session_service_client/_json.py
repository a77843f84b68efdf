"""JSON with exact money: numbers with a fraction are read as ``Decimal``, and a ``Decimal`` is written as a
bare JSON number with every digit it has (the service refuses a cost sent as a string)."""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any


def loads(content: bytes | str) -> Any:
    """Parse an answer; every number with a fraction or exponent becomes an exact ``Decimal``."""
    return json.loads(content, parse_float=Decimal)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``; each ``Decimal`` is written as its own digits (``1E-12`` as
    ``0.000000000001``). Raises ``TypeError`` for values JSON cannot carry, ``ValueError`` for NaN."""
    nonce = secrets.token_hex(8)
    found = False

    def default(item: Any) -> str:
        nonlocal found
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"{item} is not a JSON number")
            found = True
            return f"{nonce}{item:f}"
        raise TypeError(f"{type(item).__name__} is not JSON serializable")

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default)
    if found:
        text = re.sub(f'"{nonce}(-?[0-9.]+)"', r"\1", text)
    return text.encode("utf-8")
