"""Messages as records on DynamoDB Local (SPEC section 8): after any sequence of appends, edits,
deletes, truncations and streamed replies, and after concurrent edits and deletes on one session, the
session's ``message_count``, ``total_tokens`` and ``total_cost`` equal the sums over the messages a reader
sees, and no listing shows a deleted message; once the stream function has applied the table's records, the
partition holds none of the deleted items and the statistics equal the sums.

DynamoDB Local really conflicts concurrent transactions on one item (moto serialises them), so this tier is
where the conditions on the message's ``version`` and the session's ``cut_count`` are exercised.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service import rules
from session_service.data import dynamo, items, keys
from session_service.errors import MessageConflict, MessageNotFound
from session_service.models import (
    ChunkCreate,
    Message,
    MessageCreate,
    MessageRole,
    MessageStatus,
    MessageUpdate,
    SessionCreate,
)
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor, cleanup
from session_service.summarizer import ExtractiveSummarizer
from tests.support import handle_with, settle

pytestmark = pytest.mark.dynamodb_local

OPERATIONS = 150
SEED = 20261123


def _cost(rng: random.Random) -> Decimal:
    """A cost with six decimals (a float sum would drift; the stored Decimal sum is exact)."""
    return Decimal(rng.randint(0, 999_999)) / 1_000_000


def _user() -> str:
    return f"it_user_{uuid.uuid4().hex[:8]}"


def _listed(repo: SessionRepository, sid: str, user: str) -> list[Message]:
    """Every message a reader sees, oldest first (all pages)."""
    found: list[Message] = []
    token: str | None = None
    for _ in range(20):
        page = repo.list_messages(sid, user, page_size=100, next_token=token)
        found += page.messages
        token = page.next_token
        if token is None:
            return found
    raise AssertionError("more than 20 pages of messages")


def _hot(client: Any, table: str, sid: str) -> dict[str, Any]:
    return dynamo.deserialize(client.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])


def _partition(client: Any, table: str, sid: str) -> list[dict[str, Any]]:
    """Every item of the session's partition (keys, ``entity``, ``message_id``; plain values)."""
    return [dynamo.deserialize(raw) for raw in dynamo.query_keys(client, table, keys.session_pk(sid), "entity")]


def _assert_sums(repo: SessionRepository, sid: str, user: str) -> list[Message]:
    """The session's counters equal the sums over the messages a reader sees; returns them."""
    listed = _listed(repo, sid, user)
    session = repo.get_session(sid, user)
    assert session.message_count == len(listed)
    assert session.total_tokens == sum(m.tokens_used for m in listed)
    assert session.total_cost == sum((m.cost_usd for m in listed), Decimal(0))
    return listed


# -- a. a seeded random sequence ---------------------------------------------------------------------


@dataclass
class Expected:
    """One message as the test expects a reader to see it."""

    message_id: str
    content: str
    tokens: int = 0
    cost: Decimal = Decimal(0)
    status: str = MessageStatus.COMPLETED.value
    chunks: int = 0
    request: MessageCreate | None = None
    """The append's body when the client chose the id (a repeat of it answers the stored message)."""


@dataclass
class Model:
    """The messages a reader should see, in order, and the ids deleted so far."""

    messages: list[Expected] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def finished(self) -> list[Expected]:
        return [m for m in self.messages if m.status != MessageStatus.IN_PROGRESS.value]

    def streaming(self) -> list[Expected]:
        return [m for m in self.messages if m.status == MessageStatus.IN_PROGRESS.value]

    def drop(self, gone: list[Expected]) -> None:
        ids = {m.message_id for m in gone}
        self.messages = [m for m in self.messages if m.message_id not in ids]
        self.deleted |= ids


class Sequence:
    """Random operations on one session, each checked against :class:`Model`."""

    def __init__(self, repo: SessionRepository, client: Any, table: str, rng: random.Random) -> None:
        self.repo, self.client, self.table, self.rng = repo, client, table, rng
        self.user = _user()
        session, _ = repo.create_session(self.user, SessionCreate(user_id=self.user, title="random sequence"))
        self.sid = session.session_id
        self.model = Model()
        self.stream = StreamProcessor(client, table, ExtractiveSummarizer())

    def _request(self, *, client_id: bool) -> MessageCreate:
        rng = self.rng
        return MessageCreate(
            role=rng.choice([MessageRole.USER, MessageRole.ASSISTANT]),
            content=f"message {rng.randrange(10**9)}",
            tokens_used=rng.randint(0, 5000),
            cost_usd=_cost(rng),
            message_id=str(uuid.uuid4()) if client_id else None,
            provider=rng.choice([None, "openai", "anthropic"]),
            model=rng.choice([None, "m-1"]),
        )

    def _expect(self, stored: Message, request: MessageCreate) -> Expected:
        assert (stored.content, stored.tokens_used, stored.cost_usd) == (
            request.content,
            request.tokens_used,
            request.cost_usd,
        )
        return Expected(
            stored.message_id,
            request.content,
            request.tokens_used,
            request.cost_usd,
            request.status.value,
            request=request if request.message_id else None,
        )

    def append(self) -> None:
        request = self._request(client_id=self.rng.random() < 0.4)
        (stored,) = self.repo.append_messages(self.sid, self.user, [request])
        if request.message_id:
            assert stored.message_id == request.message_id
        self.model.messages.append(self._expect(stored, request))
        self.model.count("append")

    def append_batch(self) -> None:
        requests = [self._request(client_id=self.rng.random() < 0.3) for _ in range(self.rng.randint(2, 6))]
        stored = self.repo.append_messages(self.sid, self.user, requests)
        assert stored.created and len(stored) == len(requests)
        self.model.messages += [self._expect(m, r) for m, r in zip(stored, requests, strict=True)]
        self.model.count("append batch")

    def repeat_append(self) -> None:
        chosen = [m for m in self.model.messages if m.request is not None]
        if not chosen:
            return self.append()
        target = self.rng.choice(chosen)
        assert target.request is not None
        version = self.repo.get_session(self.sid, self.user).version
        again = self.repo.append_messages(self.sid, self.user, [target.request])
        assert again.created is False and [m.message_id for m in again] == [target.message_id]
        if target.content == target.request.content:  # not edited since: the stored body is the request's
            assert again[0].content == target.content
        assert self.repo.get_session(self.sid, self.user).version == version  # nothing written
        with pytest.raises(MessageConflict):  # the id with another body
            self.repo.append_messages(self.sid, self.user, [target.request.model_copy(update={"content": "other"})])
        self.model.count("repeated append")
        return None

    def edit(self) -> None:
        finished = self.model.finished()
        if not finished:
            return self.append()
        target = self.rng.choice(finished)
        changes: dict[str, Any] = {}
        while not changes:
            if self.rng.random() < 0.5:
                changes["content"] = f"edited {self.rng.randrange(10**9)}"
            if self.rng.random() < 0.5:
                changes["tokens_used"] = self.rng.randint(0, 5000)
            if self.rng.random() < 0.5:
                changes["cost_usd"] = _cost(self.rng)
            if self.rng.random() < 0.3:
                changes["metadata"] = {"edit": self.rng.randrange(100)}
        edited = self.repo.update_message(self.sid, self.user, target.message_id, MessageUpdate(**changes))
        target.content = changes.get("content", target.content)
        target.tokens = changes.get("tokens_used", target.tokens)
        target.cost = changes.get("cost_usd", target.cost)
        assert (edited.content, edited.tokens_used, edited.cost_usd) == (target.content, target.tokens, target.cost)
        if "metadata" in changes:
            assert edited.metadata == changes["metadata"]
        self.model.count("edit")
        return None

    def delete(self) -> None:
        if not self.model.messages:
            return self.append()
        target = self.rng.choice(self.model.messages)
        assert self.repo.delete_message(self.sid, self.user, target.message_id) == 1
        self.model.drop([target])
        with pytest.raises(MessageNotFound):
            self.repo.get_message(self.sid, self.user, target.message_id)
        with pytest.raises(MessageNotFound):
            self.repo.delete_message(self.sid, self.user, target.message_id)
        if target.request is not None:  # its reservation went with it: the id is free again at once
            (again,) = self.repo.append_messages(self.sid, self.user, [target.request])
            self.model.messages.append(self._expect(again, target.request))
            self.model.deleted.discard(target.message_id)
        self.model.count("delete")
        return None

    def truncate(self) -> None:
        if len(self.model.messages) < 2:
            return self.append_batch()
        at = self.rng.randrange(len(self.model.messages) - 1)
        kept, gone = self.model.messages[: at + 1], self.model.messages[at + 1 :]
        assert self.repo.truncate_after(self.sid, self.user, kept[-1].message_id) == len(gone)
        self.model.drop(gone)
        self.model.count("truncate")
        return None

    def start_reply(self) -> None:
        request = MessageCreate(
            role=MessageRole.ASSISTANT,
            content=self.rng.choice(["", "So"]),
            status=MessageStatus.IN_PROGRESS,
            message_id=str(uuid.uuid4()) if self.rng.random() < 0.5 else None,
            model="m-stream",
        )
        (stored,) = self.repo.append_messages(self.sid, self.user, [request])
        assert stored.status == MessageStatus.IN_PROGRESS
        self.model.messages.append(self._expect(stored, request))
        self.model.count("start reply")

    def chunk(self) -> None:
        open_replies = self.model.streaming()
        if not open_replies:
            return self.start_reply()
        target = self.rng.choice(open_replies)
        text = f" chunk{target.chunks}"
        grown = self.repo.add_chunk(
            self.sid, self.user, target.message_id, ChunkCreate(index=target.chunks, content=text)
        )
        target.content += text
        target.chunks += 1
        assert grown.content == target.content
        if self.rng.random() < 0.2:  # a retried chunk: a no-op
            again = ChunkCreate(index=target.chunks - 1, content=text)
            assert self.repo.add_chunk(self.sid, self.user, target.message_id, again).content == target.content
        self.model.count("chunk")
        return None

    def finalize(self) -> None:
        open_replies = self.model.streaming()
        if not open_replies:
            return self.start_reply()
        target = self.rng.choice(open_replies)
        status = self.rng.choice([MessageStatus.COMPLETED, MessageStatus.INCOMPLETE])
        final = MessageUpdate(status=status, tokens_used=self.rng.randint(1, 5000), cost_usd=_cost(self.rng))
        done = self.repo.update_message(self.sid, self.user, target.message_id, final)
        target.status, target.tokens, target.cost = status.value, int(final.tokens_used or 0), final.cost_usd
        assert (done.content, done.status, done.tokens_used, done.cost_usd) == (
            target.content,
            target.status,
            target.tokens,
            target.cost,
        )
        assert self.repo.update_message(self.sid, self.user, target.message_id, final) == done  # a no-op
        with pytest.raises(MessageConflict):
            self.repo.add_chunk(self.sid, self.user, target.message_id, ChunkCreate(index=target.chunks, content="x"))
        self.model.count("finalize")
        return None

    def apply_stream(self) -> None:
        """What the stream function does with the session's next record: delete the cuts' items."""
        self.stream.cleanup.clear_cuts(self.sid, _hot(self.client, self.table, self.sid))
        assert _hot(self.client, self.table, self.sid)["cuts"] == {}
        self.model.count("stream")

    def check(self) -> None:
        listed = _assert_sums(self.repo, self.sid, self.user)
        assert [m.message_id for m in listed] == [m.message_id for m in self.model.messages]
        assert not {m.message_id for m in listed} & self.model.deleted
        for seen, expected in zip(listed, self.model.messages, strict=True):
            assert (seen.content, seen.tokens_used, seen.cost_usd, seen.status) == (
                expected.content,
                expected.tokens,
                expected.cost,
                expected.status,
            )


def test_a_random_sequence_keeps_the_counters_exact(local_repo: SessionRepository, local_table: str) -> None:
    client = boto3.client("dynamodb")
    run = Sequence(local_repo, client, local_table, random.Random(SEED))
    operations: list[tuple[Callable[[], None], int]] = [
        (run.append, 18),
        (run.append_batch, 8),
        (run.repeat_append, 5),
        (run.edit, 16),
        (run.delete, 10),
        (run.truncate, 5),
        (run.start_reply, 7),
        (run.chunk, 16),
        (run.finalize, 8),
        (run.apply_stream, 4),
    ]
    for _ in range(OPERATIONS):
        (operation,) = run.rng.choices([op for op, _ in operations], weights=[w for _, w in operations])
        if len(_hot(client, local_table, run.sid).get("cuts") or {}) >= rules.MAX_PENDING_CUTS - 2:
            run.apply_stream()  # the stream function keeps up with the cuts (at most 20 wait at once)
        operation()
        run.check()
    run.apply_stream()
    run.check()
    kept = {keys.message_sk(keys.iso(m.created_at), m.message_id) for m in _listed(local_repo, run.sid, run.user)}
    stored = {str(i["SK"]) for i in _partition(client, local_table, run.sid) if str(i["SK"]).startswith("MSG#")}
    open_chunks = {s for s in stored - kept if s.rsplit("#", 1)[0] in kept}  # chunks of replies still streaming
    assert stored - open_chunks == kept
    # Every kind of operation ran, and the sequence did not collapse to an empty session.
    assert set(run.model.counts) >= {"append", "append batch", "edit", "delete", "truncate", "chunk", "finalize"}
    print(f"operations: {dict(sorted(run.model.counts.items()))}; messages left: {len(run.model.messages)}")


# -- b. concurrent edits and deletes ------------------------------------------------------------------


def test_concurrent_edits_and_deletes_keep_the_counters_exact(local_repo: SessionRepository) -> None:
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user, title="concurrent edits"))
    sid = session.session_id
    base = [
        MessageCreate(role=MessageRole.USER, content=f"m{i}", tokens_used=10 * (i + 1), cost_usd=Decimal(f"0.00{i}1"))
        for i in range(10)
    ]
    m = [message.message_id for message in local_repo.append_messages(sid, user, base)]

    def patch(target: int, tokens: int) -> Callable[[], Any]:
        update = MessageUpdate(tokens_used=tokens, cost_usd=Decimal(tokens) / 1_000_000)
        return lambda: local_repo.update_message(sid, user, m[target], update)

    def delete(target: int) -> Callable[[], Any]:
        return lambda: local_repo.delete_message(sid, user, m[target])

    # (label, message it changes, call): 20 calls on one session at once.
    calls: list[tuple[str, int, Callable[[], Any]]] = [
        *[("patch", 2, patch(2, 1000 + k)) for k in range(6)],  # the same message, six times
        *[("patch", t, patch(t, 2000 + t)) for t in (1, 3, 4, 6)],  # different messages
        *[("delete", 5, delete(5)) for _ in range(3)],  # the same message deleted three times
        *[("delete", t, delete(t)) for t in (3, 7, 0)],  # one being patched, one in the truncated tail
        ("truncate", 6, lambda: local_repo.truncate_after(sid, user, m[6])),  # drops m7, m8, m9
        *[("patch", t, patch(t, 3000 + t)) for t in (8, 9, 7)],  # messages the truncation removes
    ]
    assert len(calls) == 20
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
        start.wait()
        try:
            return call(), None
        except Exception as exc:  # judged below: only the service's own errors are allowed
            return None, exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outcomes = list(pool.map(run, [call for _, _, call in calls]))

    unexpected = [(label, exc) for (label, _, _), (_, exc) in zip(calls, outcomes, strict=True) if exc is not None]
    unexpected = [(label, exc) for label, exc in unexpected if not isinstance(exc, MessageNotFound)]
    assert unexpected == [], f"calls failed with other than MessageNotFound: {unexpected!r}"
    succeeded = [(label, t, result) for (label, t, _), (result, exc) in zip(calls, outcomes, strict=True) if not exc]
    deleted = {m[t] for label, t, _ in succeeded if label == "delete"}
    assert sum(1 for label, t, _ in succeeded if label == "delete" and t == 5) == 1  # exactly one delete of m5
    truncated = [result for label, _, result in succeeded if label == "truncate"]
    assert len(truncated) == 1  # a truncation never fails for the others' changes (it reads the tail again)
    # m7 deleted by its own call or by the truncation: either way the truncation counted only what it removed.
    assert truncated[0] == 3 - (m[7] in deleted)
    listed = _assert_sums(local_repo, sid, user)
    ids = [message.message_id for message in listed]
    assert not set(ids) & (deleted | set(m[7:]))
    assert ids == [mid for mid in m[:7] if mid not in deleted]
    # A listed message's tokens are its own or those of one of the edits that succeeded on it.
    patched: dict[str, set[int]] = {}
    for label, t, result in succeeded:
        if label == "patch":
            patched.setdefault(m[t], set()).add(result.tokens_used)
    for message in listed:
        original = base[m.index(message.message_id)].tokens_used
        assert message.tokens_used in patched.get(message.message_id, set()) | {original}
        if message.message_id in patched:  # an edit that succeeded is not lost (the last one wins)
            assert message.tokens_used in patched[message.message_id]
    failed = sorted(label for (label, _, _), (_, exc) in zip(calls, outcomes, strict=True) if exc is not None)
    print(f"succeeded: {len(succeeded)}; MessageNotFound: {failed}")


def test_a_reply_takes_chunks_after_a_cut_of_later_messages(local_repo: SessionRepository) -> None:
    """A cut above a streaming reply (a later reply finalized, a truncation after a later message) does not
    stop the reply: its chunks are refused only once a cut covers it."""
    user = _user()
    sid = local_repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    streaming = MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)
    asked = [MessageCreate(role=MessageRole.USER, content=f"q{i}") for i in range(3)]
    head, first, second, *later = local_repo.append_messages(sid, user, [asked[0], streaming, streaming, *asked[1:]])
    local_repo.add_chunk(sid, user, second.message_id, ChunkCreate(index=0, content="b"))
    final = MessageUpdate(status=MessageStatus.COMPLETED, tokens_used=3, cost_usd=Decimal("0.003"))
    local_repo.update_message(sid, user, second.message_id, final)  # its chunk becomes a cut above `first`
    assert local_repo.add_chunk(sid, user, first.message_id, ChunkCreate(index=0, content="a")).content == "a"
    assert local_repo.truncate_after(sid, user, later[0].message_id) == 1  # a cut further up
    assert local_repo.add_chunk(sid, user, first.message_id, ChunkCreate(index=1, content="b")).content == "ab"
    _assert_sums(local_repo, sid, user)
    assert local_repo.truncate_after(sid, user, head.message_id) == 3  # first, second, later[0]
    with pytest.raises(MessageNotFound):  # now a cut covers the reply
        local_repo.add_chunk(sid, user, first.message_id, ChunkCreate(index=2, content="c"))
    assert [m.message_id for m in _assert_sums(local_repo, sid, user)] == [head.message_id]


# -- c. truncation and the stream ---------------------------------------------------------------------


@pytest.mark.parametrize("per_pass", [None, 8], ids=["one pass", "passes of 8 items"])
def test_the_stream_deletes_what_a_truncation_cut(
    dynamodb_local: DynamoDBLocal,
    own_table: tuple[SessionRepository, Any, str],
    per_pass: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With small passes, each pass's change of the hot item comes back through the stream and brings the
    next one, until the cuts are gone."""
    if per_pass is not None:
        monkeypatch.setattr(cleanup, "MAX_CUT_ITEMS", per_pass)
    repo, client, table = own_table
    user = _user()
    sids = [repo.create_session(user, SessionCreate(user_id=user, title=f"s{n}"))[0].session_id for n in range(2)]
    sid, other = sids
    requests = [
        MessageCreate(
            role=MessageRole.USER,
            content=f"m{i}",
            tokens_used=i + 1,
            cost_usd=Decimal(i + 1) / 1000 + Decimal("0.000001"),
            message_id=str(uuid.uuid4()) if i % 3 == 0 else None,
        )
        for i in range(30)
    ]
    stored = list(repo.append_messages(sid, user, requests[:12]))
    # A finalized streamed reply (the stream deletes its chunks on its record) ...
    (done,) = repo.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    for index in range(3):
        repo.add_chunk(sid, user, done.message_id, ChunkCreate(index=index, content=f"d{index} "))
    repo.update_message(
        sid,
        user,
        done.message_id,
        MessageUpdate(status=MessageStatus.COMPLETED, tokens_used=7, cost_usd=Decimal("0.7")),
    )
    stored += repo.append_messages(sid, user, requests[12:20])
    # ... and one still streaming in the tail the truncation removes, with a client-chosen id.
    streaming_id = str(uuid.uuid4())
    repo.append_messages(
        sid,
        user,
        [
            MessageCreate(
                role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS, message_id=streaming_id
            )
        ],
    )
    for index in range(4):
        repo.add_chunk(sid, user, streaming_id, ChunkCreate(index=index, content=f"s{index} "))
    stored += repo.append_messages(sid, user, requests[20:])
    repo.delete_message(sid, user, stored[0].message_id)  # a client-chosen id, deleted on its own
    repo.append_messages(other, user, requests[:5])
    assert repo.truncate_after(sid, user, stored[8].message_id) == 3 + 1 + 8 + 1 + 10  # m9-m11, done, m12-19, s, m20-29
    kept = [message.message_id for message in stored[1:9]]
    assert [message.message_id for message in _assert_sums(repo, sid, user)] == kept
    assert _hot(client, table, sid)["cuts"]  # the truncation's tail waits (the finalized reply's chunks: its record)

    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    streams = boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint)
    settle(StreamReader(client, streams, table), handle_with(processor), rounds=10, batch_size=100)

    hot = _hot(client, table, sid)
    assert hot["cuts"] == {}
    left = _partition(client, table, sid)
    messages = [i for i in left if str(i["SK"]).startswith(keys.MESSAGE_PREFIX)]
    assert all(i.get("entity") == items.MESSAGE_ENTITY for i in messages)  # no chunk is left
    assert sorted(str(i["SK"]).rsplit("#", 1)[1] for i in messages) == sorted(kept)
    reserved = {str(i["SK"]).removeprefix(keys.MESSAGE_ID_PREFIX) for i in left if str(i["SK"]).startswith("MID#")}
    assert reserved == {m.message_id for m in stored[1:9] if requests[stored.index(m)].message_id}
    listed = _assert_sums(repo, sid, user)
    assert [message.message_id for message in listed] == kept
    assert repo.get_message(sid, user, stored[1].message_id).content == "m1"
    with pytest.raises(MessageNotFound):
        repo.get_message(sid, user, streaming_id)
    # The statistics (the stream function's sums over the sessions) equal the sums over the messages.
    sessions = [repo.get_session(s, user) for s in sids]
    stats = repo.get_stats()
    assert stats.total_sessions == 2
    assert stats.total_messages == sum(s.message_count for s in sessions) == len(kept) + 5
    assert stats.total_tokens == sum(s.total_tokens for s in sessions)
    assert stats.total_cost == sum((s.total_cost for s in sessions), Decimal(0))
    everything = [*listed, *_listed(repo, other, user)]
    assert stats.total_tokens == sum(m.tokens_used for m in everything)
    assert stats.total_cost == sum((m.cost_usd for m in everything), Decimal(0))
    # The ids the truncation freed can be used again once the stream deleted their reservations.
    (again,) = repo.append_messages(sid, user, [requests[9]])
    assert again.message_id == requests[9].message_id
