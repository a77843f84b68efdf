"""What both clients configure alike: timeouts, headers, the base URL."""

from __future__ import annotations

import httpx

__version__ = "0.1.0"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""5 s to connect; 30 s to read, write or wait for a pooled connection (a Lambda's timeout is 10 s)."""
DEFAULT_MAX_RETRIES = 2


def headers(token: str | None) -> dict[str, str]:
    """The headers of every request: the client's name, JSON, and the bearer ``token`` when given."""
    sent = {"User-Agent": f"session-service-client/{__version__}", "Accept": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def base_url(url: str) -> str:
    """The service's root (``http://127.0.0.1:8205``, or the API stage URL) without a trailing slash."""
    return url.rstrip("/")
