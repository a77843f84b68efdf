"""The typed client's cost per call against raw httpx calls of the same requests, in one run.

Starts ``python -m devserver`` (its in-memory store by default, ``--dynamodb-local`` for Amazon DynamoDB Local)
and times, interleaved round by round so the server's and machine's drift hits both alike:

* ``get_session`` (GET of one session, its ETag read) and ``list_messages`` (a page of 50), and
* ``append_message`` (POST, each with an ``Idempotency-Key`` of its own, as the client sends),

each through ``SessionServiceClient`` and through a plain ``httpx.Client`` (``.json()`` on the answer). Printed:
the median per call of each, and their ratio (goal: at most 1.1x end to end). Then the client's own work, with
the server's answers replayed by an ``httpx.MockTransport`` (no network): microseconds per call for each.

    PYTHONPATH=layers/common:.:clients/python/src .venv/bin/python benchmarks/client_overhead.py [--rounds 200]

Exits 1 with ``--check`` when an end-to-end ratio is over 1.1. Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from session_service_client import SessionServiceClient

from devserver.server import serve_in_subprocess


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def end_to_end(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Median seconds per call, (client, raw), of each operation against the server at ``url``."""
    user = f"bench_{uuid.uuid4().hex[:8]}"
    with SessionServiceClient(url, user_id=user) as client, httpx.Client(base_url=url, timeout=60) as raw:
        sid = client.create_session().session_id
        for n in range(50):
            client.append_message(sid, role="user", content=f"warm {n}", tokens_used=1)
        body = {"role": "user", "content": "hello", "tokens_used": 3}
        operations: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "get_session": (
                lambda: client.get_session(sid),
                lambda: raw.get(f"/api/v1/sessions/{sid}", params={"user_id": user}).json(),
            ),
            "list_messages (50)": (
                lambda: client.list_messages(sid, page_size=50),
                lambda: raw.get(f"/api/v1/sessions/{sid}/messages", params={"user_id": user, "page_size": 50}).json(),
            ),
            "append_message": (
                lambda: client.append_message(sid, role="user", content="hello", tokens_used=3, cost_usd=Decimal(0)),
                lambda: raw.post(
                    f"/api/v1/sessions/{sid}/messages",
                    params={"user_id": user},
                    json=body,
                    headers={"Idempotency-Key": str(uuid.uuid4())},  # the same request as the client's
                ).json(),
            ),
        }
        samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in operations}
        for round_ in range(rounds + 10):
            for name, (typed, plain) in operations.items():
                if round_ % 2:  # alternate which goes first
                    pair = (_time(typed), _time(plain))
                else:
                    plain_time = _time(plain)
                    pair = (_time(typed), plain_time)
                if round_ >= 10:  # the first rounds warm both up
                    samples[name][0].append(pair[0])
                    samples[name][1].append(pair[1])
    return {name: (_median_ms(typed), _median_ms(plain)) for name, (typed, plain) in samples.items()}


def client_only(url: str, calls: int) -> dict[str, float]:
    """Microseconds of the client's own work per call: the server's real answers replayed without a network."""
    user = f"bench_{uuid.uuid4().hex[:8]}"
    recorded: dict[tuple[str, str], httpx.Response] = {}
    with SessionServiceClient(url, user_id=user) as client, httpx.Client(base_url=url, timeout=60) as raw:
        sid = client.create_session().session_id
        for n in range(50):
            client.append_message(sid, role="user", content=f"m {n}", tokens_used=1)
        for method, path, params in (
            ("GET", f"/api/v1/sessions/{sid}", {"user_id": user}),
            ("GET", f"/api/v1/sessions/{sid}/messages", {"user_id": user, "page_size": 50}),
        ):
            answer = raw.request(method, path, params=params)
            recorded[(method, path)] = answer
        appended = raw.post(
            f"/api/v1/sessions/{sid}/messages", params={"user_id": user}, json={"role": "user", "content": "x"}
        )
        recorded[("POST", f"/api/v1/sessions/{sid}/messages")] = appended

    def replay(request: httpx.Request) -> httpx.Response:
        answer = recorded[(request.method, request.url.path)]
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    results: dict[str, float] = {}
    with SessionServiceClient("http://replay", user_id=user, transport=httpx.MockTransport(replay)) as client:
        for name, call in (
            ("get_session", lambda: client.get_session(sid)),
            ("list_messages (50)", lambda: client.list_messages(sid, page_size=50)),
            ("append_message", lambda: client.append_message(sid, role="user", content="x")),
        ):
            for _ in range(50):
                call()
            start = time.perf_counter()
            for _ in range(calls):
                call()
            results[name] = (time.perf_counter() - start) / calls * 1e6
    with httpx.Client(base_url="http://replay", transport=httpx.MockTransport(replay)) as raw:
        start = time.perf_counter()
        for _ in range(calls):
            raw.get(f"/api/v1/sessions/{sid}", params={"user_id": user}).json()
        results["raw httpx get_session"] = (time.perf_counter() - start) / calls * 1e6
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--dynamodb-local", action="store_true", help="serve from Amazon DynamoDB Local")
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio is over 1.1")
    args = parser.parse_args(argv)
    store = "dynamodb-local" if args.dynamodb_local else "memory"
    with serve_in_subprocess(store=store) as server:
        timings = end_to_end(server.url, args.rounds)
        own = client_only(server.url, 2000)
    print(f"{'operation':<22}{'client ms':>11}{'httpx ms':>10}{'ratio':>8}   ({args.rounds} rounds, store {store})")
    worst = 0.0
    for name, (typed, plain) in timings.items():
        ratio = typed / plain
        worst = max(worst, ratio)
        print(f"{name:<22}{typed:>11.2f}{plain:>10.2f}{ratio:>7.2f}x")
    print("\nthe client's own work per call, answers replayed without a network (microseconds):")
    for name, micros in own.items():
        print(f"  {name:<24}{micros:>8.0f} us")
    return 1 if args.check and worst > 1.1 else 0


if __name__ == "__main__":
    sys.exit(main())
