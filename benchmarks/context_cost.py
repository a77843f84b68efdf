"""Reading recent context costs what it returns, not what the conversation holds: the last 20 messages of a
10,000-message session, on DynamoDB Local.

Starts Amazon DynamoDB Local, creates the table from template.yaml, fills one session with ``--messages``
(default 10,000) messages of ~1 KB through the repository (batches of 98, one transaction each), then reads
its newest 20 messages three ways and prints the DynamoDB round trips, consumed read capacity (RCU) and time
of each (median of ``--runs``):

* ``order=desc``: ``GET .../messages?order=desc&page_size=20``;
* ``/context``: ``GET .../context?max_messages=20`` (the summary plus the newest messages that fit);
* ``oldest first, page=N``: the seed's paging, the only way before ``order=desc``: it reads and discards every
  older message (the comparison).

It also lists a user's sessions (50 sessions, first page and the next): round trips and RCU.

    python benchmarks/context_cost.py [--messages 10000] [--runs 5] [--endpoint URL]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import harness
from meter import Meter

LAST = 20


def run(meter: Meter, runs: int, read: Callable[[], Any]) -> tuple[Meter, float, Any]:
    """The meter of one ``read`` and the median of ``runs`` timings (ms); the last result."""
    timings, result = [], None
    for _ in range(runs):
        meter.reset()
        start = time.perf_counter()
        result = read()
        timings.append((time.perf_counter() - start) * 1000)
    return meter.snapshot(), statistics.median(timings), result


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        from session_service import wiring
        from session_service.models import MAX_BATCH_MESSAGES, MessageOrder, SessionCreate

        endpoint, repo = bench.endpoint, bench.repo
        user = "bench_user"
        session, _ = repo.create_session(user, SessionCreate(user_id=user, title="long conversation"))
        sid = session.session_id
        started = time.perf_counter()
        for start in range(0, args.messages, MAX_BATCH_MESSAGES):
            batch = [harness.turn(i) for i in range(start, min(start + MAX_BATCH_MESSAGES, args.messages))]
            repo.append_messages(sid, user, batch)
        filled = time.perf_counter() - started
        for i in range(50):
            repo.create_session(user, SessionCreate(user_id=user, title=f"s{i}"))
        meter = Meter().attach(wiring.dynamodb_client())
        newest = f"{args.messages - 1}: "

        def desc() -> Any:
            return repo.list_messages(sid, user, order=MessageOrder.DESC, page_size=LAST)

        def context() -> Any:
            return repo.get_context(sid, user, max_tokens=10**6, max_messages=LAST)

        def skip() -> Any:
            return repo.list_messages(sid, user, page=args.messages // LAST, page_size=LAST)

        print(f"DynamoDB Local at {endpoint}; one session of {args.messages} messages (~1 KB), {filled:.0f} s to fill")
        print(f"the last {LAST} messages, median of {args.runs} runs:")
        print(f"{'read':<28} {'round trips':>11} {'read CU':>8} {'ms':>8}  calls")
        for name, read, check in (
            ("order=desc, page_size=20", desc, lambda r: r.messages[0].content),
            ("/context, max_messages=20", context, lambda r: r.messages[-1].content),
            ("oldest first, page=N", skip, lambda r: r.messages[-1].content),
        ):
            measured, ms, result = run(meter, args.runs, read)
            assert check(result).startswith(newest) and len(result.messages) == LAST, name
            calls = harness.calls(measured)
            print(f"{name:<28} {measured.requests:>11} {measured.read_units:>8.1f} {ms:>8.2f}  {calls}")

        print("\nlisting a user's 51 sessions, page_size 20:")
        first, ms, page = run(meter, args.runs, lambda: repo.list_user_sessions(user, page_size=20))
        token = page.next_token
        later, later_ms, _ = run(
            meter, args.runs, lambda: repo.list_user_sessions(user, page_size=20, next_token=token)
        )
        for name, measured, took in (("first page", first, ms), ("next page", later, later_ms)):
            calls = harness.calls(measured)
            print(f"{name:<28} {measured.requests:>11} {measured.read_units:>8.1f} {took:>8.2f}  {calls}")
        print(f"total: {page.total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
