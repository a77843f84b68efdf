"""When to retry and how long to wait: exponential backoff with jitter, honouring ``Retry-After``.

Shared by both clients; whether a call may be retried at all is the call's own (``Call.retry``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx

from session_service_client._calls import Call
from session_service_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    Conflict,
    RateLimited,
    ServerError,
    SessionServiceError,
    error_for,
    retry_after_seconds,
)
from session_service_client.models import Session

T = TypeVar("T")

RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth another try: throttling, a gateway's or the service's passing failure."""
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport failures before the request left: no write can have happened, so any call may be retried."""


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    """The client's error for an httpx transport failure."""
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` further attempts after the first; waits ``initial * 2**n`` seconds (at most ``cap``),
    scaled by a random factor in [0.5, 1] (jitter), unless the answer's ``Retry-After`` says how long (used up
    to ``max_retry_after`` seconds; longer is not waited for: the error is raised)."""

    max_retries: int = 2
    initial: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: SessionServiceError, *, safe: bool, sent: bool) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` from 0), or ``None``: raise ``error``.

        ``safe``: the call cannot write twice; ``sent``: the request may have reached the service.
        """
        if attempt >= self.max_retries or not (safe or not sent) or not self.retryable(error):
            return None
        if isinstance(error, APIStatusError):
            asked = retry_after_seconds(error.headers)
            if asked is not None:
                return asked if asked <= self.max_retry_after else None
        return min(self.cap, self.initial * 2.0**attempt) * (0.5 + random.random() / 2)

    @staticmethod
    def retryable(error: SessionServiceError) -> bool:
        """Whether another attempt may succeed: no answer, throttling, a passing server failure, or a 409 that
        asks to retry (an ``Idempotency-Key`` whose first request is still running)."""
        if isinstance(error, APIConnectionError):
            return True
        if isinstance(error, Conflict):
            return retry_after_seconds(error.headers) is not None
        return isinstance(error, RateLimited | ServerError) and error.status_code in RETRIED_STATUSES


class Attempts(Generic[T]):
    """The attempts of one call: each failure says how long to wait before the next attempt, or raises.

    Both clients drive it the same way (only their sending and sleeping differ)::

        attempts = Attempts(call, policy)
        while True:
            try:
                response = send(request)
            except httpx.TransportError as exc:
                sleep(attempts.failed(exc))      # raises when no retry is left or safe
                continue
            delay = attempts.answered(response)  # raises likewise
            if delay is None:
                if attempts.confirming is not None:  # a retry refused: did an earlier attempt apply it?
                    return attempts.confirmed(read(attempts.confirming))  # None when that read fails
                return attempts.result(response)
            sleep(delay)
    """

    def __init__(self, call: Call[T], policy: RetryPolicy) -> None:
        self.call, self.policy = call, policy
        self.count = 0
        self.lost = False  # an earlier attempt may have been applied, its answer lost
        self._recovered: T | None = None
        self._refused: SessionServiceError | None = None  # a retry's refusal that call.confirm may explain

    def failed(self, exc: httpx.TransportError) -> float:
        """The wait before the next attempt after ``exc`` (no answer). Raises the client's error instead."""
        error = connection_error(exc)
        sent = not isinstance(exc, NOT_SENT)
        delay = self.policy.delay(self.count, error, safe=self.call.retry, sent=sent)
        if delay is None:
            raise error from exc
        self.count += 1
        self.lost = self.lost or sent
        return delay

    def answered(self, response: httpx.Response) -> float | None:
        """``None`` when ``response`` is the call's answer (read it with :meth:`result`), else the wait before
        the next attempt. Raises the typed error of an error answer that is not retried. A streamed
        ``response`` must have been read when its status is an error."""
        if response.status_code < 400 or response.status_code in self.call.accept:
            return None
        error = error_for(response)
        if self.lost and self.call.after_lost is not None:
            self._recovered = self.call.after_lost(error)
            if self._recovered is not None:
                return None
        confirm = self.call.confirm
        if self.count and confirm is not None and error.status_code in confirm.statuses:
            self._refused = error  # a retry: an earlier attempt may have applied (its answer lost, or a 5xx)
            return None
        delay = self.policy.delay(self.count, error, safe=self.call.retry, sent=True)
        if delay is None:
            raise error
        self.count += 1
        return delay

    @property
    def confirming(self) -> Call[Session] | None:
        """The read that tells whether the refused retry's earlier attempt was applied, once
        :meth:`answered` met such a refusal (then call :meth:`confirmed`); else ``None``."""
        return self.call.confirm.read if self._refused is not None and self.call.confirm is not None else None

    def confirmed(self, stored: Session | None) -> T:
        """The write's result when the session read (``stored``; ``None``: the read failed) holds exactly what
        the write asked for: an earlier attempt applied it. Raises the retry's refusal otherwise."""
        assert self._refused is not None and self.call.confirm is not None
        result = None if stored is None else self.call.confirm.stored(stored)
        if result is None:
            raise self._refused
        return result

    def result(self, response: httpx.Response) -> T:
        """The call's result from its answer (or what a retry after a lost answer recovered)."""
        return self._recovered if self._recovered is not None else self.call.parse(response)
