"""Deliver the table's stream to its stream functions locally, the way Lambda's event source mapping does.

A background thread per consumer polls the DynamoDB Streams API (moto in-process, DynamoDB Local, or AWS, through a
``dynamodbstreams`` client) and hands each batch of records to a stream function's ``lambda_handler`` in the
Lambda event shape (``{"Records": [...]}`` with ``eventSource``, ``eventSourceARN``, ``awsRegion``). Every function
with a ``DynamoDB`` event in ``template.yaml`` is a consumer (:func:`stream_consumers`: the statistics function and
the summary function), each with its own position. A consumer's ``FilterCriteria`` (the template's, the one source
of truth) is honoured as Lambda's event source mapping does: a record no filter matches is dropped before the
invocation and never reaches the handler (:func:`record_matches`). It honours ``ReportBatchItemFailures``: records
before the first reported failure are done; the batch is redelivered from that record, up to ``max_retries``
times, after which that one record is logged as sent to the on-failure destination and delivery carries on after it
(what bisecting a batch on error converges to). A handler that raises fails the whole batch, as a function error does.

The stream is described again every ``discovery_interval`` and as soon as a shard is drained, so new
shards are picked up (children of a closed shard after it, as Lambda does). With a ``positions`` file
the poller remembers, per shard, the last record delivered, and a restarted server carries on from there
instead of replaying the stream (Lambda's event source mapping keeps its position the same way).

moto needs one more thing (``fresh_iterators``): when a ``TransactWriteItems`` is cancelled, moto 5
restores a deep copy of the whole table, stream shard included, under the same shard id. An iterator
taken before still points at the old shard object, which never receives another record (statistics and
summaries froze after the first refused append) and may hold records of the cancelled transaction. So on
moto every read starts from a new iterator after the last delivered sequence number, which always points
at the table's current shard.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devserver.instances import Invoker
from devserver.lambda_runtime import LambdaContext, load_handler_module
from devserver.template import ROOT, load_template

log = logging.getLogger("devserver.streams")

StreamHandler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler for stream events: ``(event, context) -> {"batchItemFailures": [...]} | None``."""


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last_sequence: str | None = None
    start: str = "TRIM_HORIZON"
    """Where reading began when nothing was delivered yet (``TRIM_HORIZON`` or ``LATEST``)."""


class PollerStopped(Exception):
    """The poller was asked to stop while a batch kept failing: it leaves the batch on the stream (not
    dead-lettered, its position not saved), so a restarted server delivers it again."""


FINISHED = "FINISHED"
"""A shard's position once it is closed and drained."""


class StreamPositions:
    """The last delivered sequence number per shard of a stream, kept in a JSON file across restarts.

    File shape: ``{"<stream arn>": {"<shard id>": "<sequence number>" | "FINISHED"}}``. Each save
    replaces the file atomically. A missing or unreadable file means "no positions".
    """

    def __init__(self, path: Path, stream_arn: str) -> None:
        self.path = path
        self.stream_arn = stream_arn
        try:
            every = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            every = {}
        self._all: dict[str, dict[str, str]] = every if isinstance(every, dict) else {}
        self.shards: dict[str, str] = dict(self._all.get(stream_arn) or {})

    def save(self, shard_id: str, position: str) -> None:
        """Record ``position`` (a sequence number or :data:`FINISHED`) for ``shard_id`` and write the file."""
        self.shards[shard_id] = position
        self._all[self.stream_arn] = self.shards
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._all, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)


@dataclass
class DeliveryStats:
    """Counters of what the poller did (for tests and the shutdown log line)."""

    delivered: int = 0
    """Records handed to the handler and acknowledged (not reported failed)."""
    redeliveries: int = 0
    """Batches delivered again after a failure."""
    dead_lettered: list[str] = field(default_factory=list)
    """Sequence numbers given up on after ``max_retries`` (what would go to the on-failure queue)."""
    filtered: int = 0
    """Records dropped by the consumer's ``FilterCriteria`` before invocation."""


# -- event filtering (Lambda's FilterCriteria) -------------------------------------------------------------


def filters_of(event_source: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The patterns of an event source's ``FilterCriteria`` (``{"Filters": [{"Pattern": "<json>"}, ...]}``), parsed;
    ``[]`` when it has none (every record passes). Raises ``ValueError`` for a pattern that is not a JSON object."""
    criteria = (event_source or {}).get("FilterCriteria") or {}
    patterns = []
    for entry in criteria.get("Filters") or []:
        pattern = json.loads(entry["Pattern"]) if isinstance(entry.get("Pattern"), str) else entry.get("Pattern")
        if not isinstance(pattern, dict):
            raise ValueError(f"a filter pattern is not a JSON object: {entry!r}")
        patterns.append(pattern)
    return patterns


def _value_matches(rule: Any, value: Any, present: bool) -> bool:
    """One entry of a pattern's list against a record's value (EventBridge pattern syntax: a literal, or
    ``{"prefix": s}``, ``{"exists": bool}``, ``{"anything-but": v | [v, ...]}``, ``{"numeric": [op, n, ...]}``)."""
    if not isinstance(rule, dict):
        return present and value == rule
    (operator, operand), *_ = rule.items()
    if operator == "exists":
        return present is bool(operand)
    if not present:
        return False
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(str(operand))
    if operator == "anything-but":
        return value not in (operand if isinstance(operand, list) else [operand])
    if operator == "numeric":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        compare = {
            "=": float.__eq__,
            "<": float.__lt__,
            "<=": float.__le__,
            ">": float.__gt__,
            ">=": float.__ge__,
        }
        pairs = zip(operand[::2], operand[1::2], strict=True)
        return all(compare[op](number, float(bound)) for op, bound in pairs)
    raise ValueError(f"filter operator {operator!r} is not supported locally")


def record_matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether the Lambda stream record ``record`` matches the filter ``pattern`` (Lambda event filtering: every
    field the pattern names matches one of its values; a nested object recurses; a list-valued field matches when
    one of its elements does)."""
    for name, rule in pattern.items():
        present = isinstance(record, dict) and name in record
        value = record.get(name) if present else None
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not record_matches(rule, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(entry, v, present) for entry in rule for v in values):
            return False
    return True


def passes(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Whether ``record`` reaches the handler: no patterns, or one of ``patterns`` matches (filters are ORed)."""
    return not patterns or any(record_matches(pattern, record) for pattern in patterns)


def _jsonable_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB attribute value as Lambda sends it: binaries base64-encoded, nested values recursed.

    DynamoDB Local's Streams send an empty map as ``{}`` (AWS sends ``{"M": {}}``, as its tables do): it is
    given its type back, or no reader of the record could tell what it is."""
    if not value:
        return {"M": {}}
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(item).decode("ascii") for item in inner]}
    if kind == "M":
        return {"M": {k: _jsonable_attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_jsonable_attribute(v) for v in inner]}
    return {kind: inner}


def lambda_record(record: dict[str, Any], *, stream_arn: str, region: str) -> dict[str, Any]:
    """A ``GetRecords`` record (as boto3 returns it) in the shape a Lambda stream event carries.

    Adds ``eventSource``/``eventSourceARN``/``awsRegion``, turns ``ApproximateCreationDateTime`` into
    epoch seconds and binary attributes into base64 text, so the event is plain JSON as in Lambda.
    """
    ddb = dict(record.get("dynamodb") or {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in ddb:
            ddb[image] = {name: _jsonable_attribute(v) for name, v in ddb[image].items()}
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    out.update(
        {
            "eventSource": "aws:dynamodb",
            "eventSourceARN": stream_arn,
            "awsRegion": record.get("awsRegion") or region,
            "eventVersion": record.get("eventVersion", "1.1"),
            "dynamodb": ddb,
        }
    )
    if "userIdentity" in out and not out["userIdentity"]:
        del out["userIdentity"]
    return out


class StreamReader:
    """A table's stream read from its start, for tests and benchmarks: each :meth:`drain` returns the records
    written since the last one, in Lambda's event shape (:func:`lambda_record`), oldest first per shard.

    ``client`` is a DynamoDB client, ``streams`` a DynamoDB Streams client. Every drain looks up the table's
    stream and follows every shard it lists, new ones from their start, each from a new iterator after the last
    record read: moto restores a copy of the table, stream shard included and under the same shard id, after a
    cancelled transaction, and an iterator taken before keeps reading the abandoned copy (module docstring).
    """

    def __init__(self, client: Any, streams: Any, table: str, *, region: str = "us-east-1") -> None:
        self.client, self.streams, self.table, self.region = client, streams, table, region
        self.positions: dict[tuple[str, str], str | None] = {}

    def drain(self) -> list[dict[str, Any]]:
        """Every record written since the last call (at most 1,000 GetRecords calls per shard)."""
        records: list[dict[str, Any]] = []
        arn = self.client.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            position = (arn, shard["ShardId"])
            last = self.positions.get(position)
            where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last else {}
            iterator: str | None = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], **(where or {"ShardIteratorType": "TRIM_HORIZON"})
            )["ShardIterator"]
            for _ in range(1000):
                if not iterator:
                    break
                response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = response.get("NextShardIterator")
                found = response["Records"]
                records += [lambda_record(r, stream_arn=arn, region=self.region) for r in found]
                if not found:
                    break
                self.positions[position] = found[-1]["dynamodb"]["SequenceNumber"]
        return records


def _first_failure(result: Any, records: list[dict[str, Any]]) -> int | None:
    """Index of the first record the handler reported failed; ``None`` when the batch succeeded.

    As in Lambda, a malformed response or an identifier not in the batch fails the whole batch (index 0).
    """
    if result is None:
        return None
    if not isinstance(result, dict):
        return 0
    failures = result.get("batchItemFailures") or []
    if not failures:
        return None
    sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in sequences:
            return 0
        indexes.append(sequences.index(identifier))
    return min(indexes)


class StreamPoller:
    """Reads one DynamoDB stream and delivers its records to a handler, in order, per shard.

    ``handler_factory`` returns the handler or ``None`` while it is unavailable (the module does not
    exist yet); records are then left on the stream. ``invoke_lock`` serialises stream reads and
    invocations with the API handlers when they share this process (moto is not thread-safe).
    ``positions`` keeps the position across restarts; ``fresh_iterators`` takes a new iterator for every
    read (moto, see the module docstring); the stream is described again every ``discovery_interval``.
    ``filters`` are the consumer's ``FilterCriteria`` patterns (:func:`filters_of`): records none matches are
    dropped before invocation, as Lambda does. ``function`` names the consumer (its thread, its context).
    Times are seconds.
    """

    def __init__(
        self,
        streams_client: Any,
        stream_arn: str,
        handler_factory: Callable[[], StreamHandler | None],
        *,
        region: str,
        starting_position: str = "TRIM_HORIZON",
        batch_size: int = 100,
        max_retries: int = 5,
        poll_interval: float = 0.2,
        retry_delay: float = 0.05,
        invoke_lock: threading.Lock | None = None,
        positions: StreamPositions | None = None,
        fresh_iterators: bool = False,
        discovery_interval: float = 1.0,
        filters: list[dict[str, Any]] | None = None,
        function: str = "stream_processor",
    ) -> None:
        self._client = streams_client
        self.stream_arn = stream_arn
        self._handler_factory = handler_factory
        self._region = region
        self._starting_position = starting_position
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._lock = invoke_lock or threading.Lock()
        self._positions = positions
        self._fresh_iterators = fresh_iterators
        self._discovery_interval = discovery_interval
        self._filters = list(filters or [])
        self._function = function
        self._shards: dict[str, _Shard] = {}
        self._finished: set[str] = set()
        self._first_discovery = True
        self._last_discovery = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = DeliveryStats()

    # -- the loop ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"stream-poller-{self._function}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once()
            except PollerStopped:
                return
            except Exception:
                log.exception("stream poll failed; retrying")
                delivered = 0
            if not delivered:
                self._stop.wait(self._poll_interval)

    def poll_once(self) -> int:
        """Read every open shard once and deliver what it holds. Returns the number of records read.

        Raises :class:`PollerStopped` when a batch fails after :meth:`stop` was called.

        Does nothing (returns 0) while the handler is unavailable, leaving the records on the stream.
        """
        handler = self._handler_factory()
        if handler is None:
            return 0
        now = time.monotonic()
        if self._first_discovery or now - self._last_discovery > self._discovery_interval or not self._shards:
            self._discover()
            self._last_discovery = now
        read = 0
        for shard in list(self._shards.values()):
            read += self._poll_shard(shard, handler)
        return read

    # -- shards ------------------------------------------------------------------------------------

    def _discover(self) -> None:
        """Learn the stream's shards; the first time, start at ``starting_position``, later at the start."""
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        shards: list[dict[str, Any]] = []
        while True:
            with self._lock:
                description = self._client.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards") or [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        position = self._starting_position if self._first_discovery else "TRIM_HORIZON"
        self._first_discovery = False
        saved = self._positions.shards if self._positions is not None else {}
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self._shards or shard_id in self._finished:
                continue
            if saved.get(shard_id) == FINISHED:
                self._finished.add(shard_id)
                continue
            # A closed parent is read before its children: ordering per key follows the shard lineage.
            parent = shard.get("ParentShardId")
            if parent and parent in self._shards:
                continue
            entry = _Shard(shard_id, None, last_sequence=saved.get(shard_id), start=position)
            try:
                entry.iterator = self._iterator_after(entry, entry.last_sequence)
            except self._client.exceptions.TrimmedDataAccessException:
                # The saved position is older than the stream's 24 h retention: read what is left.
                entry.last_sequence = None
                entry.start = "TRIM_HORIZON"
                entry.iterator = self._iterator_after(entry, None)
            self._shards[shard_id] = entry

    def _iterator_after(self, shard: _Shard, sequence: str | None) -> str | None:
        """An iterator just after ``sequence`` (at the shard's start position when ``None``)."""
        with self._lock:
            return self._new_iterator(shard, sequence)

    def _new_iterator(self, shard: _Shard, sequence: str | None) -> str | None:
        # The caller holds the lock.
        if sequence is None:
            kind, extra = shard.start, {}
        else:
            kind, extra = "AFTER_SEQUENCE_NUMBER", {"SequenceNumber": sequence}
        response = self._client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard.shard_id, ShardIteratorType=kind, **extra
        )
        iterator: str | None = response.get("ShardIterator")
        return iterator

    def _poll_shard(self, shard: _Shard, handler: StreamHandler) -> int:
        if shard.iterator is None:
            # Closed and drained: its children (if any) are picked up at the next discovery, now.
            self._shards.pop(shard.shard_id, None)
            self._finished.add(shard.shard_id)
            self._last_discovery = 0.0
            if self._positions is not None:
                self._positions.save(shard.shard_id, FINISHED)
            return 0
        try:
            with self._lock:
                if self._fresh_iterators:
                    shard.iterator = self._new_iterator(shard, shard.last_sequence)
                response = self._client.get_records(ShardIterator=shard.iterator, Limit=self._batch_size)
        except self._client.exceptions.ExpiredIteratorException:
            shard.iterator = self._iterator_after(shard, shard.last_sequence)
            return 0
        records = response.get("Records") or []
        if records:
            self._deliver(records, handler)
            shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
            if self._positions is not None:
                self._positions.save(shard.shard_id, shard.last_sequence)
        shard.iterator = response.get("NextShardIterator")
        return len(records)

    # -- delivery ----------------------------------------------------------------------------------

    def _deliver(self, raw: list[dict[str, Any]], handler: StreamHandler) -> None:
        """Deliver ``raw`` records in order until each is acknowledged or given up on."""
        every = [lambda_record(r, stream_arn=self.stream_arn, region=self._region) for r in raw]
        records = [record for record in every if passes(self._filters, record)]
        self.stats.filtered += len(every) - len(records)
        attempts = 0
        while records:
            try:
                with self._lock:
                    result = handler({"Records": records}, LambdaContext(function_name=self._function))
                failed = _first_failure(result, records)
            except Exception:
                log.exception("stream function raised; the batch of %d records failed", len(records))
                failed = 0
            if failed is None:
                self.stats.delivered += len(records)
                return
            self.stats.delivered += failed
            if self._stop.is_set():
                # Stopping (the stream function's instance may be gone already): not the records' fault.
                raise PollerStopped(f"{len(records) - failed} records left on the stream")
            attempts += 1
            poison = records[failed]
            sequence = poison["dynamodb"]["SequenceNumber"]
            if attempts > self._max_retries:
                log.error(
                    "on-failure destination: gave up on record %s (%s) after %d retries",
                    sequence,
                    poison.get("eventName"),
                    self._max_retries,
                )
                self.stats.dead_lettered.append(sequence)
                records, attempts = records[failed + 1 :], 0
                continue
            self.stats.redeliveries += 1
            records = records[failed:]
            self._stop.wait(self._retry_delay * attempts)


class _InstanceHandler:
    """The stream function run by an :class:`~devserver.instances.Invoker` (its own instance); an
    invocation error fails the batch, as a function error does in Lambda."""

    def __init__(self, invoker: Invoker, code_dir: Path, function: str) -> None:
        self._invoker = invoker
        self._code_dir = code_dir
        self._function = function

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        result, _instance = self._invoker.invoke(self._code_dir, self._function, event)
        return result


class _HandlerLoader:
    """Loads the stream function's handler once it exists (in this process, or as a handle on its own
    instance when ``invoker`` is given); logs once while it does not."""

    def __init__(self, code_dir: Path, invoker: Invoker | None = None, function: str = "stream_processor") -> None:
        self._code_dir = code_dir
        self._invoker = invoker
        self._function = function
        self._handler: StreamHandler | None = None
        self._warned = False

    def __call__(self) -> StreamHandler | None:
        if self._handler is not None:
            return self._handler
        if not (self._code_dir / "app.py").exists():
            if not self._warned:
                log.warning("no stream function at %s yet: stream records wait until it exists", self._code_dir)
                self._warned = True
            return None
        if self._invoker is not None:
            self._handler = _InstanceHandler(self._invoker, self._code_dir, self._function)
            return self._handler
        try:
            handler: StreamHandler = load_handler_module(self._code_dir).lambda_handler
        except Exception:
            if not self._warned:
                log.exception("stream function at %s does not load; will retry", self._code_dir)
                self._warned = True
            return None
        self._handler = handler
        log.info("stream function loaded from %s", self._code_dir)
        return handler


def _bounded_retries(value: Any) -> int:
    """The template's ``MaximumRetryAttempts``, bounded: -1 (Lambda's "until the record expires") must
    not make a local server spin forever on a poison record."""
    retries = int(value)
    return 10 if retries < 0 else min(retries, 10)


@dataclass(frozen=True)
class StreamConsumer:
    """A function the table's stream triggers: its logical id, code directory and ``DynamoDB`` event ``Properties``
    (starting position, batch size, retries, ``FilterCriteria``)."""

    function: str
    code_dir: Path
    event_source: dict[str, Any]


def stream_consumers(template: dict[str, Any] | None = None) -> list[StreamConsumer]:
    """Every function with a ``DynamoDB`` event in ``template.yaml``, in the template's order (the statistics
    function first)."""
    found = []
    for name, resource in (template or load_template())["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                code_dir = ROOT / str(resource["Properties"]["CodeUri"])
                found.append(StreamConsumer(str(name), code_dir, dict(event.get("Properties") or {})))
    return found


class StreamPollers:
    """The pollers of a table's stream, one per consumer, started and stopped together."""

    def __init__(self, pollers: list[StreamPoller]) -> None:
        self.pollers = pollers

    def start(self) -> None:
        """Start every poller's thread."""
        for poller in self.pollers:
            poller.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every poller (each waits up to ``timeout`` seconds)."""
        for poller in self.pollers:
            poller.stop(timeout)


def stream_pollers_for_table(
    dynamodb_client: Any,
    table_name: str,
    *,
    region: str,
    endpoint_url: str | None = None,
    invoke_lock: threading.Lock | None = None,
    invoker: Invoker | None = None,
    positions_file: Path | None = None,
    consumers: list[StreamConsumer] | None = None,
) -> StreamPollers:
    """A poller per stream consumer of ``template.yaml`` (:func:`stream_consumers`), each as
    :func:`stream_poller_for_table` makes it, with its own filter and its own position (the first consumer's is
    kept under the stream's ARN, the others' under ``<arn>|<function>``). Raises ``LookupError`` when the table has
    no stream or the template no consumer."""
    chosen = stream_consumers() if consumers is None else consumers
    if not chosen:
        raise LookupError("template.yaml has no DynamoDB stream function")
    return StreamPollers(
        [
            stream_poller_for_table(
                dynamodb_client,
                table_name,
                consumer.code_dir,
                region=region,
                endpoint_url=endpoint_url,
                event_source=consumer.event_source,
                invoke_lock=invoke_lock,
                invoker=invoker,
                function=consumer.function,
                positions_file=positions_file,
                positions_key=None if index == 0 else consumer.function,
            )
            for index, consumer in enumerate(chosen)
        ]
    )


def stream_poller_for_table(
    dynamodb_client: Any,
    table_name: str,
    code_dir: Path,
    *,
    region: str,
    endpoint_url: str | None = None,
    event_source: dict[str, Any] | None = None,
    invoke_lock: threading.Lock | None = None,
    invoker: Invoker | None = None,
    function: str = "stream_processor",
    positions_file: Path | None = None,
    positions_key: str | None = None,
) -> StreamPoller:
    """A poller for ``table_name``'s stream feeding the handler in ``code_dir/app.py``.

    ``event_source`` is the template's ``DynamoDB`` event ``Properties`` (starting position, batch size,
    retries, ``FilterCriteria``: honoured). The handler runs in this process (under ``invoke_lock``) or, with
    ``invoker``, in its own instance as ``function``. ``positions_file`` keeps the stream position across restarts
    (under the stream's ARN, or ``<arn>|<positions_key>`` for a second consumer of the same stream). The embedded
    moto store (``endpoint_url`` None) reads with fresh iterators (module docstring). Raises
    ``LookupError`` when the table has no stream.
    """
    import boto3

    arn = dynamodb_client.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
    if not arn:
        raise LookupError(f"table {table_name} has no stream")
    props = event_source or {}
    # DynamoDB Local (and moto) serve Streams on the DynamoDB endpoint; AWS has a separate streams endpoint.
    host = (urlsplit(endpoint_url).hostname or "") if endpoint_url else ""
    streams_endpoint = None if host.endswith(".amazonaws.com") else endpoint_url
    client = boto3.client("dynamodbstreams", region_name=region, endpoint_url=streams_endpoint)
    return StreamPoller(
        client,
        arn,
        _HandlerLoader(code_dir, invoker, function),
        region=region,
        starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
        batch_size=min(int(props.get("BatchSize", 100)), 1000),
        max_retries=_bounded_retries(props.get("MaximumRetryAttempts", 5)),
        invoke_lock=invoke_lock,
        positions=(
            StreamPositions(positions_file, f"{arn}|{positions_key}" if positions_key else arn)
            if positions_file is not None
            else None
        ),
        fresh_iterators=endpoint_url is None,
        poll_interval=0.25,  # Lambda's event source mapping polls a shard four times a second
        # Describing the stream costs moto nothing; elsewhere a closed shard triggers it at once anyway.
        discovery_interval=1.0 if endpoint_url is None else 10.0,
        filters=filters_of(props),
        function=function,
    )
