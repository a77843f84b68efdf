"""Seed 002's flow under injected DynamoDB faults, every create retried with its ``Idempotency-Key`` until it
succeeds: afterwards every counter equals its items and no request was applied twice (issue 9; SPEC section 4).

A seeded :class:`random.Random` decides, per HTTP attempt of the handlers' client on the writes
(``TransactWriteItems``) and on the Powertools idempotency record (``PutItem``/``UpdateItem``/``DeleteItem``
of an ``IDEMPOTENCY#`` item), whether to inject a fault (:data:`KINDS`):

* ``throttled``, ``server_error``: DynamoDB answers ProvisionedThroughputExceededException / a 500; nothing
  applied; botocore's standard mode retries (3 attempts in all, while its retry quota lasts).
* ``connection_refused``, ``connection_closed``: ``before-send`` raises EndpointConnectionError /
  ConnectionClosedError; nothing applied; botocore retries.
* ``dropped``: DynamoDB applies the attempt, then its connection drops (ReadTimeoutError); botocore retries
  the same request (same ``ClientRequestToken``; moto ignores the token, so the transaction runs again and
  meets its own write guard).
* ``lost``: DynamoDB applies the call and an ``after-call`` hook raises ReadTimeoutError: the call fails
  after botocore's retries, so the handler sees the failure ("applied but the answer was lost").

moto answers requests from its own ``before-send`` handler and botocore runs every ``before-send`` handler,
so the injector replaces moto's handler on the handlers' client and calls it itself when a request is to reach
the table (as ``tests/test_faults.py``'s ``inject`` does): a faulted request never reaches the table.

The client is a well-behaved one: it retries a 503, and a 409 "still in progress" (a Powertools record left
``INPROGRESS`` by a failed record write locks its key for the Lambda's remaining time, 10 s in
``devserver.lambda_runtime.LambdaContext``), after ``max(Retry-After, backoff)`` seconds. Those seconds pass
on a virtual clock that Powertools' idempotency modules read (:class:`PowertoolsClock`), not in real time.
That 409 is a defect against SPEC section 4 ("a retry after such a failure returns the first write's
result"): :func:`test_a_retry_after_a_failed_record_write_answers_the_first_result` shows it (strict xfail).
"""

from __future__ import annotations

import datetime
import random
import types
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from session_service import wiring
from session_service.data import items, keys, stats
from session_service.idempotency import IdempotencyInProgress

pytestmark = pytest.mark.fresh_table  # scans the table; creates it afresh between rounds

SEED = 20_250_909
"""The fault plan's seed: the same seed injects the same faults into the same calls."""
ROUNDS = 10
"""Rounds of flows, each on a fresh table."""
FLOWS_PER_ROUND = 3
"""Seed 002 flows per round (one session each)."""
USERS = 5
"""Users the flows are spread over."""
MESSAGES = 4
"""Messages appended per flow (user and assistant in turn)."""
FAULT_RATE = 0.25
"""Share of HTTP attempts on the writes and on the idempotency record that meet a fault."""
MAX_TRIES = 20
"""Tries of one request before the test fails."""
KINDS = ("throttled", "server_error", "connection_refused", "connection_closed", "dropped", "lost")
"""The faults injected, equally likely (module docstring)."""
ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com/"


class PowertoolsClock:
    """Virtual time for Powertools' idempotency modules: ``wait`` moves their ``now`` forward without sleeping.

    The in-progress lock (the Lambda's remaining time) and the record's expiry are compared with this ``now``;
    the repository, moto and the session TTLs keep real time.
    """

    def __init__(self) -> None:
        self.offset = datetime.timedelta(0)
        self.waited = 0.0

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass for Powertools."""
        self.offset += datetime.timedelta(seconds=seconds)
        self.waited += seconds


@pytest.fixture
def powertools_clock(monkeypatch: pytest.MonkeyPatch) -> PowertoolsClock:
    from aws_lambda_powertools.utilities.idempotency import base
    from aws_lambda_powertools.utilities.idempotency.persistence import base as persistence_base
    from aws_lambda_powertools.utilities.idempotency.persistence import datarecord, dynamodb

    clock = PowertoolsClock()

    class Shifted(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Any:
            return datetime.datetime.now(tz) + clock.offset

    shim = types.ModuleType("datetime")
    shim.__dict__.update(vars(datetime))
    shim.datetime = Shifted  # type: ignore[attr-defined]
    for module in (base, persistence_base, datarecord, dynamodb):
        assert module.dt is datetime  # each reads the time as ``dt.datetime.now()``
        monkeypatch.setattr(module, "dt", shim)
    return clock


@dataclass
class FaultInjector:
    """Injects :data:`KINDS` into a share ``rate`` of the attempts on the writes and the idempotency record.

    ``injected`` counts faults by ``(kind, target)``; targets are ``TransactWriteItems`` and
    ``record.PutItem``/``record.UpdateItem``/``record.DeleteItem``. ``script`` names the kinds of a target's
    next attempts, before any random ones.
    """

    rng: random.Random
    rate: float
    stubber: Any
    dynamodb_error: Any
    enabled: bool = True
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    script: dict[str, list[str]] = field(default_factory=dict)
    _lose_answer: bool = False

    @staticmethod
    def target(request: Any) -> str | None:
        operation = str(request.headers.get("X-Amz-Target", b"").decode()).rpartition(".")[2]
        if operation == "TransactWriteItems":
            return operation
        if operation in {"PutItem", "UpdateItem", "DeleteItem"} and b'"IDEMPOTENCY#' in (request.body or b""):
            return f"record.{operation}"
        return None

    def before_send(self, request: Any, **kwargs: Any) -> Any:
        target = self.target(request) if self.enabled else None
        if target is not None:
            self.attempts[target] += 1
        if target is None:
            return self.stubber(request=request, **kwargs)
        if self.script.get(target):
            kind = self.script[target].pop(0)
        elif self.rng.random() < self.rate:
            kind = self.rng.choice(KINDS)
        else:
            return self.stubber(request=request, **kwargs)
        self.injected[kind, target] += 1
        if kind == "throttled":
            return self.dynamodb_error("ProvisionedThroughputExceededException")
        if kind == "server_error":
            return self.dynamodb_error("InternalServerError", 500)
        if kind == "connection_refused":
            raise EndpointConnectionError(endpoint_url=ENDPOINT)
        if kind == "connection_closed":
            raise ConnectionClosedError(endpoint_url=ENDPOINT)
        answer = self.stubber(request=request, **kwargs)  # DynamoDB applies the request
        if kind == "dropped":
            raise ReadTimeoutError(endpoint_url=ENDPOINT)
        self._lose_answer = True  # "lost": the answer arrives, and after-call loses it
        return answer

    def after_call(self, **_: Any) -> None:
        if self._lose_answer:
            self._lose_answer = False
            raise ReadTimeoutError(endpoint_url=ENDPOINT)


@pytest.fixture
def faults(
    repo: Any, powertools_clock: PowertoolsClock, monkeypatch: pytest.MonkeyPatch, dynamodb_error: Any
) -> Iterator[FaultInjector]:
    """A :class:`FaultInjector` on the handlers' client, in place of moto's own ``before-send`` handler."""
    import botocore.endpoint
    from moto.core.models import botocore_stubber

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda _seconds: None)  # botocore's backoff
    injector = FaultInjector(random.Random(SEED), FAULT_RATE, botocore_stubber, dynamodb_error)
    events = wiring.dynamodb_client().meta.events
    events.unregister("before-send", botocore_stubber)
    events.register("before-send.dynamodb", injector.before_send)
    events.register("after-call.dynamodb", injector.after_call)
    yield injector
    events.unregister("after-call.dynamodb", injector.after_call)
    events.unregister("before-send.dynamodb", injector.before_send)
    events.register("before-send", botocore_stubber)


IN_PROGRESS = {"detail": IdempotencyInProgress.detail}


@dataclass
class Client:
    """Seed 002's client, retrying each 503 and 409 "in progress" with the same key and body."""

    api: Any
    clock: PowertoolsClock
    answers: Counter[int] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    most_tries: int = 0

    def send(self, expect: int, method: str, path: str, **request: Any) -> dict[str, Any]:
        """The body of the first answer with status ``expect``; fails on any other answer than a retryable one."""
        for tries in range(1, MAX_TRIES + 1):
            status, body, headers = self.api(method, path, **request)
            self.answers[status] += 1
            if status == expect:
                self.retried[method] += tries > 1
                self.most_tries = max(self.most_tries, tries)
                return dict(body)
            assert status == 503 or (status == 409 and body == IN_PROGRESS), (method, path, status, body)
            assert headers.get("Retry-After", "").isdigit(), (status, body, headers)  # SPEC section 4
            self.clock.wait(max(int(headers["Retry-After"]), min(8.0, 0.5 * 2**tries)))
        pytest.fail(f"{method} {path} did not succeed in {MAX_TRIES} tries")

    def post(self, path: str, body: dict[str, Any], key: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        return self.send(201, "POST", path, json_body=body, query=query, headers={"Idempotency-Key": key})

    def get(self, path: str, user: str, **params: Any) -> dict[str, Any]:
        return self.send(200, "GET", path, query={"user_id": user, **params})


@dataclass
class Flow:
    """What one seed 002 flow sent and was answered."""

    user: str
    session: dict[str, Any]
    messages: list[dict[str, Any]]
    memory: dict[str, Any]
    tokens: int
    cost: Decimal


def run_flow(client: Client, n: int, user: str) -> Flow:
    """Seed 002: create a session, append messages, add a memory record, read it all back."""
    session = client.post(
        "/api/v1/sessions",
        {"user_id": user, "title": f"Flow {n}", "metadata": {"source": "fault_injection", "flow": n}},
        f"flow-{n}-create",
    )
    sid = session["session_id"]
    assert client.get(f"/api/v1/sessions/{sid}", user) == session  # the create's answer is what was stored

    messages, tokens, cost = [], 0, Decimal(0)
    for m in range(MESSAGES):
        used, spent = 10 * n + m + 1, Decimal(f"0.000{n + 1:02d}{m + 1}")  # USD, 6 decimals
        body = {
            "role": "user" if m % 2 == 0 else "assistant",
            "content": f"flow {n} message {m}",  # unique: a second copy would show in the scan
            "message_type": "chat",
            "tokens_used": used,
            "cost_usd": float(spent),
            "metadata": {"model": "gpt-4"},
        }
        messages.append(client.post(f"/api/v1/sessions/{sid}/messages", body, f"flow-{n}-msg-{m}", {"user_id": user}))
        tokens, cost = tokens + used, cost + spent
    memory = client.post(
        f"/api/v1/sessions/{sid}/memory",
        {"memory_type": "preference", "content": f"flow {n} prefers concise answers", "metadata": {"flow": n}},
        f"flow-{n}-memory",
        {"user_id": user},
    )

    read = client.get(f"/api/v1/sessions/{sid}", user)
    assert (read["message_count"], read["total_tokens"], Decimal(str(read["total_cost"]))) == (MESSAGES, tokens, cost)
    stored = client.get(f"/api/v1/sessions/{sid}/messages", user, page=1, page_size=100)
    assert stored["total"] == MESSAGES
    assert {m["message_id"]: m for m in stored["messages"]} == {m["message_id"]: m for m in messages}
    assert client.get(f"/api/v1/sessions/{sid}/memory", user)["memories"] == [memory]
    summary = client.get(f"/api/v1/sessions/{sid}/summary", user)
    assert (summary["message_count"], summary["total_tokens"], summary["has_memory"]) == (MESSAGES, tokens, True)
    return Flow(user, session, messages, memory, tokens, cost)


def scan_all(ddb: Any) -> list[dict[str, Any]]:
    """Every item of the table, as plain values."""
    from session_service.data.dynamo import deserialize

    pages = ddb.get_paginator("scan").paginate(TableName=wiring.settings().table_name, ConsistentRead=True)
    return [deserialize(raw) for page in pages for raw in page["Items"]]


def check_round(ddb: Any, client: Client, flows: list[Flow], users: list[str]) -> None:
    """With no faults: one session per create, its counters equal to the sums over its items and to what the
    client sent; each message and memory record stored once; one write guard and one completed Powertools
    record per create; each user's listing and counts hold exactly the sessions created for them."""
    stored = scan_all(ddb)
    by_session: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for item in stored:
        sid = keys.session_id_of(str(item["PK"]))
        if sid is not None:
            by_session[sid][str(item.get(items.ENTITY))].append(item)

    assert set(by_session) == {flow.session["session_id"] for flow in flows}
    for flow in flows:
        entities = by_session[flow.session["session_id"]]
        (hot,) = entities[items.SESSION_ENTITY]
        messages, memories = entities[items.MESSAGE_ENTITY], entities[items.MEMORY_ENTITY]
        assert hot["message_count"] == len(messages) == MESSAGES
        assert hot["total_tokens"] == sum(m["tokens_used"] for m in messages) == flow.tokens
        assert hot["total_cost"] == sum((m["cost_usd"] for m in messages), Decimal(0)) == flow.cost
        assert hot[items.memory_count_attribute(None)] == len(memories) == 1
        # What each create answered is what was stored: the same ids.
        assert {keys.message_id_of(str(m["SK"])) for m in messages} == {m["message_id"] for m in flow.messages}
        assert [m["memory_id"] for m in memories] == [flow.memory["memory_id"]]

    contents = Counter(str(item["content"]) for item in stored if item.get(items.ENTITY) == items.MESSAGE_ENTITY)
    assert len(contents) == len(flows) * MESSAGES and set(contents.values()) == {1}
    notes = Counter(str(item["content"]) for item in stored if item.get(items.ENTITY) == items.MEMORY_ENTITY)
    assert len(notes) == len(flows) and set(notes.values()) == {1}
    posts = len(flows) * (MESSAGES + 2)
    guards = [item for item in stored if item.get(items.ENTITY) == items.GUARD_ENTITY]
    records = [
        item
        for item in stored
        if str(item["PK"]).startswith(keys.IDEMPOTENCY_PREFIX) and item.get(items.ENTITY) != items.GUARD_ENTITY
    ]
    assert len(guards) == posts
    assert len(records) == posts and {item["status"] for item in records} == {"COMPLETED"}

    for user in users:
        created = {flow.session["session_id"] for flow in flows if flow.user == user}
        listing = client.send(200, "GET", f"/api/v1/users/{user}/sessions", query={"page_size": 100})
        assert listing["total"] == len(created)
        assert {s["session_id"] for s in listing["sessions"]} == created
        counts = [item for item in stored if item["PK"] == keys.user_pk(user) and item["SK"] == keys.COUNTS_SK]
        assert sum(item[stats.count_attribute(None)] for item in counts) == len(created) and len(counts) <= 1


def test_seed_002_flow_under_faults_writes_each_request_once(
    api: Any, ddb: Any, faults: FaultInjector, powertools_clock: PowertoolsClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ROUNDS rounds of FLOWS_PER_ROUND flows; each round ends with :func:`check_round` on a table that is then
    created afresh (moto copies the whole table for every transaction: a small table keeps the test fast).

    The second half runs as a warm process whose botocore retry quota has run out: each call gets one attempt.
    """
    from botocore.retries.quota import RetryQuota

    from devserver.template import create_table

    client = Client(api, powertools_clock)
    users = [f"fi_user_{u}" for u in range(USERS)]
    for round_ in range(ROUNDS):
        if round_ == ROUNDS // 2:
            monkeypatch.setattr(RetryQuota, "acquire", lambda _self, _amount: False)
        faults.enabled = True
        flows = [
            run_flow(client, n, users[n % USERS])
            for n in range(round_ * FLOWS_PER_ROUND, (round_ + 1) * FLOWS_PER_ROUND)
        ]
        faults.enabled = False
        check_round(ddb, client, flows, users)
        ddb.delete_table(TableName=wiring.settings().table_name)
        create_table(ddb, wiring.settings().table_name)

    # The faults happened: every kind, on the transaction and on the idempotency record, and requests failed.
    kinds_on = defaultdict(set)
    for kind, target in faults.injected:
        kinds_on[target.partition(".")[0]].add(kind)
    assert kinds_on["TransactWriteItems"] == set(KINDS) and kinds_on["record"] == set(KINDS), faults.injected
    assert client.answers[503] > 0 and client.retried["POST"] > 0
    print(
        f"\nfaults injected {sum(faults.injected.values())} of {sum(faults.attempts.values())} attempts:",
        dict(sorted(faults.injected.items())),
        f"\nanswers {dict(client.answers)}; {client.retried['POST']} of {ROUNDS * FLOWS_PER_ROUND * (MESSAGES + 2)}"
        f" creates retried, at most {client.most_tries} tries; {client.clock.waited:.1f} s waited (virtual)",
    )


class StaleInProgressLock(AssertionError):
    """The retry met the in-progress lock of an attempt that had already failed (409 "still in progress")."""


@pytest.mark.parametrize(
    ("target", "kinds"),
    [
        ("record.UpdateItem", ["throttled"] * 3),  # the completion update, throttled on every attempt: not applied
        ("record.PutItem", ["lost"]),  # the in-progress record applied, its answer lost
    ],
)
def test_a_retry_after_a_failed_record_write_answers_the_first_result(
    api: Any, ddb: Any, faults: FaultInjector, target: str, kinds: list[str]
) -> None:
    faults.rate = 0.0
    user = "fi_lock_user"
    sid = api("POST", "/api/v1/sessions", json_body={"user_id": user})[1]["session_id"]
    path, query = f"/api/v1/sessions/{sid}/messages", {"user_id": user}
    request = {"query": query, "json_body": {"role": "user", "content": "once"}, "headers": {"Idempotency-Key": "k"}}
    faults.script[target] = list(kinds)
    status, body, headers = api("POST", path, **request)
    assert (status, headers.get("Retry-After")) == (503, "1"), body
    assert faults.script[target] == []
    status, body, _ = api("POST", path, **request)  # the retry, with nothing failing any more
    if (status, body) == (409, IN_PROGRESS):
        raise StaleInProgressLock(body)
    assert status == 201, body
    assert api("GET", path, query=query)[1]["messages"] == [body]
