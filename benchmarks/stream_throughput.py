"""The statistics function beside the floor design, on the same records, DynamoDB Local and table (issue 23).

Run from the repository root::

    PYTHONPATH=layers/common:. .venv/bin/python benchmarks/stream_throughput.py [--appends 3000] [--runs 3]

Each run writes a chat workload through the repository the handlers use (real transactions on a table created
from ``template.yaml``): ``--sessions`` sessions for 300 users, then ``--appends`` appends of one ~1 KB message to
sessions drawn at random. Its stream records go, through the statistics function's ``FilterCriteria`` (read from
the template, as Lambda applies it), in batches of 100 (the template's ``BatchSize``) to:

* **the statistics function** (:class:`session_service.stream.StreamProcessor` as deployed: no summarizer), then the
  records its own writes cause, through the same filter, until the stream is quiet;
* **the floor design** (:class:`Floor`): the least work that keeps the same promises: one transaction per batch
  (``ADD`` to one statistics item, to each owner's usage and per-model usage, one mark per session conditioned on
  being below the batch's first record of it), no reads, re-read only what a failed condition names; it parses
  only the attributes it needs. Its items live under ``FLOOR#`` keys of the same table.

Both are timed over their ``handle`` calls only. Their DynamoDB requests are counted, and their write units costed
as AWS bills them (DynamoDB Local under-reports transactions): 2 units per KB of each item a transaction writes
(an update of a small counter item costs 2), 1 per KB of a plain write (:class:`Bill`). The per-item distribution
is the share of batches that wrote each item (the most written item of each design). The summary function's work
(the same records, its own filter) is reported apart: it is not on the statistics' path. Each run ends with both
designs' statistics compared (they must be identical). The report gives each run and the median of the runs.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import harness
from meter import Meter

FLOOR = "FLOOR#"
"""Key prefix of the floor design's items (statistics, usage, marks) in the benchmark's table."""
WORDS = [
    "kyoto",
    "temple",
    "budget",
    "review",
    "parser",
    "unicode",
    "deploy",
    "lambda",
    "stream",
    "summary",
    "invoice",
    "travel",
]


# -- what AWS bills -------------------------------------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of a DynamoDB JSON value as AWS sizes it (strings: UTF-8 length; numbers: about 1 byte per 2
    digits + 1; sets, lists and maps: their elements + 3)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return len(inner.strip("-").replace(".", "")) // 2 + 1
    if kind in ("B",):
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    return 0


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item (DynamoDB JSON): its attribute names and values."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


class Bill:
    """Write units as AWS bills them, from the requests a client sends (a botocore ``provide-client-params`` hook),
    and which items each batch's requests wrote (``touched``).

    A ``TransactWriteItems`` costs 2 units per KB (rounded up) of each item: a ``Put``'s own size, an ``Update``,
    ``Delete`` or ``ConditionCheck`` of the service's small counter and mark items 2 (under 1 KB). A plain
    ``PutItem`` costs 1 per KB of the item; ``UpdateItem`` and ``DeleteItem`` and each ``BatchWriteItem`` request
    the units DynamoDB Local reports for them (exact for single-item writes)."""

    def __init__(self) -> None:
        self.units = 0.0
        self.touched: set[tuple[str, str]] = set()

    def attach(self, client: Any) -> Bill:
        client.meta.events.register("provide-client-params.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), *_ = action.items()
                size = item_size(body["Item"]) if kind == "Put" else 1
                self.units += 2 * max(1, math.ceil(size / 1024))
                key = body["Item"] if kind == "Put" else body["Key"]
                if kind != "ConditionCheck":
                    self.touched.add((key["PK"]["S"], key["SK"]["S"]))
        elif model.name == "PutItem":
            self.units += max(1, math.ceil(item_size(params["Item"]) / 1024))
            self.touched.add((params["Item"]["PK"]["S"], params["Item"]["SK"]["S"]))
        elif model.name in ("UpdateItem", "DeleteItem"):
            self.touched.add((params["Key"]["PK"]["S"], params["Key"]["SK"]["S"]))

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("UpdateItem", "DeleteItem", "BatchWriteItem"):
            consumed = parsed.get("ConsumedCapacity") or []
            for entry in consumed if isinstance(consumed, list) else [consumed]:
                self.units += float(entry.get("CapacityUnits", 0))


# -- the floor design -----------------------------------------------------------------------------------------


def _n(image: dict[str, Any], name: str) -> Decimal:
    value = image.get(name)
    return Decimal(value["N"]) if value else Decimal(0)


def _s(image: dict[str, Any], name: str) -> str:
    value = image.get(name)
    return str(value["S"]) if value else ""


def _share(image: dict[str, Any] | None) -> dict[str, Decimal]:
    """A session image's share (raw DynamoDB JSON; only the attributes counted are read): totals and per-model
    usage attributes (``by:`` names)."""
    if not image or _s(image, "status") == "deleted":
        return {}
    share = {
        "sessions": Decimal(1),
        "active": Decimal(int(_s(image, "status") == "active")),
        "messages": _n(image, "message_count"),
        "tokens": _n(image, "total_tokens"),
        "cost": _n(image, "total_cost"),
    }
    share.update({name: Decimal(v["N"]) for name, v in image.items() if name.startswith("by:")})
    return share


def _mark(image: dict[str, Any], removed: bool) -> str:
    return f"{_s(image, 'created_at')}#{int(_n(image, 'version')):012d}#{int(removed)}"


class Floor:
    """The floor design (module docstring): ``handle(records)`` applies a batch in one transaction (per 100 items)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def handle(self, records: list[dict[str, Any]]) -> None:
        changes = []  # (session id, owner, mark, delta)
        for record in records:
            stream = record["dynamodb"]
            if stream["Keys"]["SK"]["S"] != "SESSION":
                continue
            new, old = stream.get("NewImage"), stream.get("OldImage")
            image = old if record["eventName"] == "REMOVE" else new
            if not image or _s(image, "entity") != "session":
                continue
            before, after = _share(old if record["eventName"] != "INSERT" else None), _share(new)
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
            delta = {k: v for k, v in delta.items() if v}
            if delta:
                changes.append((_s(image, "session_id"), _s(image, "user_id"), _mark(image, not new), delta))
        for run in self._runs(changes):
            self._commit(run)

    @staticmethod
    def _runs(changes: list[tuple[str, str, str, dict[str, Decimal]]]) -> list[list[Any]]:
        """``changes`` cut into consecutive runs whose items fit one transaction (DynamoDB's 100)."""
        runs: list[list[Any]] = []
        items: set[tuple[str, ...]] = set()
        for change in changes:
            session_id, owner, _mark, delta = change
            wanted = {("mark", session_id), ("usage", owner)} | {
                ("model", owner, n[:-2]) for n in delta if n[:3] == "by:"
            }
            if not runs or len(items | wanted) + 1 > 100:
                runs.append([])
                items = set()
            runs[-1].append(change)
            items |= wanted
        return runs

    def _commit(self, changes: list[tuple[str, str, str, dict[str, Decimal]]]) -> None:
        """One transaction; when a mark's condition fails, the failed marks (named by the cancellation reasons)
        tell which changes were applied, and the rest is written again."""
        applied: dict[str, str] = {}
        for _ in range(6):
            pending = [c for c in changes if c[2] > applied.get(c[0], "")]
            if not pending:
                return
            actions, sessions = self._actions(pending)
            try:
                self.client.transact_write_items(TransactItems=actions)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                for session_id, reason in zip(sessions, reasons[len(actions) - len(sessions) :], strict=False):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        applied[session_id] = reason.get("Item", {}).get("applied", {}).get("S", "")
        raise RuntimeError("the floor's marks kept moving")

    def _actions(self, pending: list[tuple[str, str, str, dict[str, Decimal]]]) -> tuple[list[Any], list[str]]:
        total: Counter[str] = Counter()
        usage: dict[str, Counter[str]] = {}
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for session_id, owner, mark, delta in pending:
            first.setdefault(session_id, mark)
            last[session_id] = mark
            usage.setdefault(owner, Counter()).update(delta)
            total.update({k: v for k, v in delta.items() if not k.startswith("by:")})
        actions = [self._add(f"{FLOOR}STATS", "GLOBAL", total)]
        for owner, moves in usage.items():
            totals = {k: v for k, v in moves.items() if not k.startswith("by:") and v}
            if totals:
                actions.append(self._add(f"{FLOOR}USER#{owner}", "USAGE", totals))
            pairs: dict[str, dict[str, Decimal]] = {}
            for name, value in moves.items():
                if name.startswith("by:") and value:
                    pair, _, field = name[3:].rpartition(":")
                    pairs.setdefault(pair, {})[{"m": "messages", "t": "tokens", "c": "cost"}[field]] = value
            actions += [self._add(f"{FLOOR}USER#{owner}", f"MODEL#{pair}", moves) for pair, moves in pairs.items()]
        sessions = list(last)
        for session_id in sessions:
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"PK": {"S": f"{FLOOR}MARK#{session_id}"}, "SK": {"S": "APPLIED"}},
                        "UpdateExpression": "SET applied = :last",
                        "ConditionExpression": "attribute_not_exists(applied) OR applied < :first",
                        "ExpressionAttributeValues": {
                            ":last": {"S": last[session_id]},
                            ":first": {"S": first[session_id]},
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        return actions, sessions

    def _add(self, partition: str, sort: str, moves: Any) -> dict[str, Any]:
        names = {f"#a{i}": name for i, name in enumerate(moves)}
        values = {f":a{i}": {"N": str(value)} for i, value in enumerate(moves.values())}
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"PK": {"S": partition}, "SK": {"S": sort}},
                "UpdateExpression": "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(names))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def stats(self, client: Any) -> dict[str, Decimal]:
        """The floor's statistics, read with ``client`` (outside its meter)."""
        item = client.get_item(
            TableName=self.table, Key={"PK": {"S": f"{FLOOR}STATS"}, "SK": {"S": "GLOBAL"}}, ConsistentRead=True
        ).get("Item", {})
        return {name: Decimal(value["N"]) for name, value in item.items() if "N" in value}


# -- a run ----------------------------------------------------------------------------------------------------


def make_workload(repo: Any, sessions: int, appends: int, rng: random.Random, tag: str) -> None:
    """``sessions`` sessions, then ``appends`` one-message appends of ~1 KB to sessions drawn at random."""
    from session_service.models import MessageCreate, MessageRole, SessionCreate

    made: list[tuple[str, str]] = []
    for _ in range(sessions):
        user = f"{tag}user{rng.randrange(300)}"
        session, _ = repo.create_session(user, SessionCreate(user_id=user, title="bench"))
        made.append((session.session_id, user))
    for i in range(appends):
        session_id, user = rng.choice(made)
        content = " ".join(rng.choice(WORDS) for _ in range(150)).capitalize()[:1000] + "."
        request = MessageCreate(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=content,
            tokens_used=rng.randrange(1, 2000),
            cost_usd=Decimal(rng.randrange(0, 10**6)) / Decimal(10**6),
            model=rng.choice(["small", "large"]),
        )
        repo.append_messages(session_id, user, [request])


class Measured:
    """A design's figures for one run: time (s), requests, billed write units, batches, the share of batches that
    wrote its most written item."""

    def __init__(self, client: Any) -> None:
        self.meter = Meter().attach(client)
        self.bill = Bill().attach(client)
        self.elapsed = 0.0
        self.batches = 0
        self.writes: Counter[tuple[str, str]] = Counter()

    def time(self, call: Callable[[], Any]) -> Any:
        self.bill.touched = set()
        began = time.perf_counter()
        result = call()
        self.elapsed += time.perf_counter() - began
        self.batches += 1
        self.writes.update(self.bill.touched)
        return result

    def hottest(self, shared: bool = False) -> tuple[str, float]:
        """The item written by the most batches, and their share; ``shared``: among the statistics items (the
        ones no session or user owns, which any batch may write)."""
        found = [(k, n) for k, n in self.writes.most_common() if not shared or is_statistics(k)]
        if not found:
            return "-", 0.0
        (key, count), *_ = found
        return "/".join(key), count / self.batches


def is_statistics(key: tuple[str, str]) -> bool:
    """True for a statistics item: a ``STATS`` shard, or the floor's one ``STATS`` item."""
    return key[0].startswith(("STATS", f"{FLOOR}STATS"))


def shard_writes(measured: Measured) -> str:
    """Batches that wrote each statistics item, most first (``PK n, ...``)."""
    counts = sorted(((n, k[0]) for k, n in measured.writes.items() if is_statistics(k)), reverse=True)
    return ", ".join(f"{partition} {n}" for n, partition in counts)


def batches(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def one_run(bench: Any, args: Any, number: int) -> dict[str, Any]:
    """Write a workload, hand its records to the statistics function, the floor and the summary function."""
    import boto3

    from devserver.streams import filters_of, passes, stream_consumers
    from session_service.stream import StreamProcessor
    from session_service.stream.summaries import SummaryWriter
    from session_service.summarizer import ExtractiveSummarizer

    filters = {c.function: filters_of(c.event_source) for c in stream_consumers()}
    counted, summarized = filters["StreamProcessorFunction"], filters["SessionSummariesFunction"]
    reader = bench.stream_reader()
    reader.drain()  # what earlier runs left
    make_workload(bench.repo, args.sessions, args.appends, random.Random(args.seed + number), f"r{number}")
    api = reader.drain()

    handler_client = boto3.client("dynamodb")
    handler = Measured(handler_client)
    processor = StreamProcessor(handler_client, bench.table)
    passed = [r for r in api if passes(counted, r)]
    failed = 0
    pending, rounds, own = passed, 0, 0
    while pending:
        for batch in batches(pending, args.batch_size):
            failed += len(handler.time(lambda b=batch: processor.handle({"Records": b}))["batchItemFailures"])
        echo = reader.drain()
        pending = [r for r in echo if passes(counted, r)]
        own += len(pending)
        rounds += 1

    floor_client = boto3.client("dynamodb")
    floor = Measured(floor_client)
    floor_design = Floor(floor_client, bench.table)
    for batch in batches(passed, args.batch_size):
        floor.time(lambda b=batch: floor_design.handle(b))
    reader.drain()  # the floor's own writes: filtered out for both designs

    summary_client = boto3.client("dynamodb")
    summaries = Measured(summary_client)
    writer = SummaryWriter(summary_client, bench.table, ExtractiveSummarizer())
    written = 0
    for batch in batches([r for r in api if passes(summarized, r)], args.batch_size):
        written += summaries.time(lambda b=batch: writer.apply(b)).written

    got = bench.repo.get_stats()
    want = floor_design.stats(boto3.client("dynamodb"))
    identical = (got.total_sessions, got.active_sessions, got.total_messages, got.total_tokens, got.total_cost) == (
        want.get("sessions", 0),
        want.get("active", 0),
        want.get("messages", 0),
        want.get("tokens", 0),
        want.get("cost", 0),
    )
    return {
        "api": len(api),
        "passed": len(passed),
        "own": own,
        "rounds": rounds,
        "failed": failed,
        "handler": handler,
        "floor": floor,
        "summaries": summaries,
        "summaries_written": written,
        "identical": identical,
        "stats": got,
    }


def report(number: int, run: dict[str, Any]) -> dict[str, float]:
    """Print a run's figures; returns the ratios and rates the median is taken of."""
    from session_service.data.stats import STATS_SHARDS

    handler, floor, summaries = run["handler"], run["floor"], run["summaries"]
    api = run["api"]
    figures = {
        "time": handler.elapsed / floor.elapsed,
        "requests": handler.meter.requests / api,
        "floor_requests": floor.meter.requests / api,
        "wcu": handler.bill.units / floor.bill.units,
        "handler_rps": api / handler.elapsed,
        "floor_rps": api / floor.elapsed,
    }
    hot_key, hot_share = handler.hottest(shared=True)
    floor_key, floor_share = floor.hottest(shared=True)
    user_key, user_share = handler.hottest()
    print(f"run {number}: {api} workload records, {run['passed']} through the statistics filter; its own writes "
          f"brought {run['own']} more ({run['rounds']} rounds); failed records: {run['failed']}")  # fmt: skip
    print(f"  statistics function: {handler.elapsed:.2f} s ({figures['handler_rps']:,.0f} workload records/s),"
          f" {handler.meter.requests} requests ({figures['requests']:.4f}/record) {json.dumps(handler.meter.calls)},"
          f" {handler.bill.units:.0f} WCU billed, {handler.batches} batches")  # fmt: skip
    print(f"  floor design:        {floor.elapsed:.2f} s ({figures['floor_rps']:,.0f} workload records/s),"
          f" {floor.meter.requests} requests ({figures['floor_requests']:.4f}/record) {json.dumps(floor.meter.calls)},"
          f" {floor.bill.units:.0f} WCU billed, {floor.batches} batches")  # fmt: skip
    print(f"  ratios: time {figures['time']:.2f}x, write units {figures['wcu']:.2f}x; statistics identical to the"
          f" floor's: {run['identical']}")  # fmt: skip
    print(f"  most written statistics item: function {hot_key} by {hot_share:.0%} of its batches (1/N ="
          f" {1 / STATS_SHARDS:.0%}); floor {floor_key} by {floor_share:.0%}; most written item of all: {user_key}"
          f" by {user_share:.0%} (a user's usage: the user's sessions are in that share of the batches, for the"
          f" floor too)")  # fmt: skip
    print(f"  batches per statistics shard: {shard_writes(handler)}")
    print(f"  summary function (apart): {summaries.elapsed:.2f} s, {run['summaries_written']} summaries written,"
          f" {summaries.meter.requests} requests {json.dumps(summaries.meter.calls)},"
          f" {summaries.bill.units:.0f} WCU billed")  # fmt: skip
    return figures


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        print(f"DynamoDB Local at {bench.endpoint}; per run {args.sessions} sessions, {args.appends} appends of ~1 KB")
        results = [report(n, one_run(bench, args, n)) for n in range(1, args.runs + 1)]
        median = {name: statistics.median(r[name] for r in results) for name in results[0]}
        print(f"median of {args.runs} runs: time {median['time']:.2f}x the floor's (target <= 1.5),"
              f" requests {median['requests']:.4f} per workload record (target <= 0.05; floor"
              f" {median['floor_requests']:.4f}), write units {median['wcu']:.2f}x the floor's (target <= 1.2);"
              f" {median['handler_rps']:,.0f} against {median['floor_rps']:,.0f} workload records/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
