"""Strands Agents' session repository on Session Service: requests per call, and an agent's messages read from an
offset at a flat cost, beside Strands' own S3SessionManager on moto's S3.

Starts Amazon DynamoDB Local (no Docker) with the table from template.yaml and ``python -m devserver`` on it, and
drives :class:`session_service_client.strands.SessionServiceRepository` (the ``[strands]`` extra: run it in
``.venv-frameworks``). Printed, for each repository call: the HTTP requests it sent (an httpx hook on the
adapter's client), and for the service operation it maps to, run in-process on the same table through the
handlers' repository, DynamoDB round trips and the read and write capacity DynamoDB Local reports. The session
holds two agents: ``other`` with ``--other`` messages (default 10,000) and ``main`` with ``--main`` (5,100), so
``list_messages(main, offset, 100)`` at offset 0 and 5,000 shows whether a page's cost grows with the offset or
with another agent's messages (goal: the two reads' RCU within 1.1x). Then the same 100-message read through
Strands' ``S3SessionManager`` on moto's in-process S3 (one object per message: a listing and a GET each), timed.

    PYTHONPATH=layers/common:. .venv-frameworks/bin/python benchmarks/strands_cost.py
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import harness
from meter import Meter

PAGE = 100
RUNS = 5


def _message(index: int, role: str = "user") -> Any:
    from strands.types.session import SessionMessage

    text = f"message {index}: " + "Which museums open on Monday, and how long is the walk between them? " * 3
    return SessionMessage({"role": role, "content": [{"text": text}]}, index)


def _fill(repo: Any, sid: str, user: str, agent: str, count: int) -> None:
    """``count`` messages of ``agent`` (its service id), stored as the adapter stores them, in batches."""
    from session_service.models import MAX_BATCH_MESSAGES, MessageCreate, MessageRole

    for start in range(0, count, MAX_BATCH_MESSAGES):
        batch = [
            MessageCreate(role=MessageRole.USER, data=_message(i).to_dict(), agent_id=agent)
            for i in range(start, min(start + MAX_BATCH_MESSAGES, count))
        ]
        repo.append_messages(sid, user, batch)


def _measure(meter: Meter, work: Callable[[], Any]) -> tuple[Meter, float]:
    """The meter's figures for one run of ``work`` after a warm-up one, and the median ms of ``RUNS`` runs."""
    work()
    timings = []
    for _ in range(RUNS):
        meter.reset()
        start = time.perf_counter()
        work()
        timings.append((time.perf_counter() - start) * 1000)
    return meter.snapshot(), statistics.median(timings)


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--other", type=int, default=10_000)
    parser.add_argument("--main", type=int, default=5_100)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        from session_service_client.strands import SessionServiceRepository
        from strands.types.session import Session, SessionAgent, SessionType

        from devserver.child_process import serve_in_subprocess
        from session_service import wiring
        from session_service.models import MessageCreate, MessageRole
        from session_service.models.state import AppendState, StateChange

        user, strands_id = f"bench_{uuid.uuid4().hex[:6]}", "strands-bench"
        with serve_in_subprocess(endpoint_url=bench.endpoint, env={"TABLE_NAME": bench.table}, workers=1) as server:
            adapter = SessionServiceRepository(base_url=server.url, user_id=user)
            sent: list[str] = []
            adapter._client._http.event_hooks["request"] = [lambda r: sent.append(f"{r.method} {r.url.path}")]
            adapter.create_session(Session(session_id=strands_id, session_type=SessionType.AGENT))
            sid = adapter.service_session_id(strands_id)
            main_agent, other_agent = adapter.service_agent_id("main"), adapter.service_agent_id("other")
            agent = SessionAgent(agent_id="main", state={"plan": "museums"}, conversation_manager_state={})
            adapter.create_agent(strands_id, agent)
            adapter.create_agent(strands_id, SessionAgent(agent_id="other", state={}, conversation_manager_state={}))
            started = time.perf_counter()
            _fill(bench.repo, sid, user, other_agent, args.other)
            _fill(bench.repo, sid, user, main_agent, args.main)
            print(
                f"DynamoDB Local at {bench.endpoint}; agent 'other' holds {args.other} messages, 'main' {args.main}"
                f" ({time.perf_counter() - started:.0f} s to fill); median of {RUNS} runs"
            )
            meter = Meter().attach(wiring.dynamodb_client())
            repo, next_index = bench.repo, [args.main]

            def create_message() -> None:
                adapter.create_message(strands_id, "main", _message(next_index[0], "assistant"))
                next_index[0] += 1

            def append_in_process() -> None:
                message = MessageCreate(role=MessageRole.USER, data=_message(0).to_dict(), agent_id=main_agent)
                repo.append_messages(sid, user, [message])

            def turn_in_process() -> None:
                change = AppendState(set={"step": next_index[0]})
                message = MessageCreate(role=MessageRole.USER, data={"n": 1}, agent_id=main_agent, state=change)
                repo.append_messages(sid, user, [message])

            rows: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
                ("create_message", create_message, append_in_process),
                (
                    "update_agent",
                    lambda: adapter.update_agent(strands_id, agent),
                    lambda: repo.change_state(sid, user, StateChange(set={"plan": "museums"}), agent_id=main_agent),
                ),
                (
                    "read_agent",
                    lambda: adapter.read_agent(strands_id, "main"),
                    lambda: repo.get_state(sid, user, main_agent),
                ),
                (
                    "list_messages offset 0",
                    lambda: adapter.list_messages(strands_id, "main", limit=PAGE, offset=0),
                    lambda: repo.list_agent_messages(sid, user, main_agent, offset=0, limit=PAGE),
                ),
                (
                    "list_messages offset 5000",
                    lambda: adapter.list_messages(strands_id, "main", limit=PAGE, offset=5000),
                    lambda: repo.list_agent_messages(sid, user, main_agent, offset=5000, limit=PAGE),
                ),
                ("agent turn + state change", turn_in_process, turn_in_process),
            ]
            print(f"{'call':<27} {'HTTP':>5} {'ms':>7}   {'round trips':>11} {'read CU':>8} {'write CU':>8}  calls")
            reads: dict[str, float] = {}
            for name, call, operation in rows:
                sent.clear()
                call()
                requests = len(sent) if call is not operation else 1
                measured, _ = _measure(meter, operation)
                _, ms = _measure(Meter(), call)
                reads[name] = measured.read_units
                print(
                    f"{name:<27} {requests:>5} {ms:>7.2f}   {measured.requests:>11} {measured.read_units:>8.1f}"
                    f" {measured.write_units:>8.1f}  {harness.calls(measured)}"
                )
            flat = reads["list_messages offset 5000"] / reads["list_messages offset 0"]
            print(f"RCU at offset 5,000 / offset 0: {flat:.2f}x (goal: at most 1.1x)")
            ours = _measure(Meter(), lambda: adapter.list_messages(strands_id, "main", limit=PAGE, offset=0))[1]
            adapter.close()
    s3 = _s3_list_ms()
    print(f"list_messages of {PAGE} messages: Session Service {ours:.1f} ms, S3SessionManager on moto's S3 {s3:.1f} ms")
    return 0


def _s3_list_ms() -> float:
    """Median ms of S3SessionManager.list_messages of ``PAGE`` messages on moto's in-process S3."""
    import os

    import boto3
    from moto import mock_aws
    from strands.session.s3_session_manager import S3SessionManager
    from strands.types.session import Session, SessionAgent, SessionType

    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="strands-bench")
        manager = S3SessionManager(session_id="bench", bucket="strands-bench", region_name="us-east-1")
        manager.create_session(Session(session_id="other", session_type=SessionType.AGENT))
        manager.create_agent("other", SessionAgent(agent_id="main", state={}, conversation_manager_state={}))
        for index in range(PAGE):
            manager.create_message("other", "main", _message(index))
        return _measure(Meter(), lambda: manager.list_messages("other", "main", limit=PAGE))[1]


if __name__ == "__main__":
    sys.exit(main())
