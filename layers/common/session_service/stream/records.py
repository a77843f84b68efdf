"""A stream record read into what it means here: a :class:`Change` of a session (its share of the statistics and of
its owner's counts and usage, its applied mark, its clean-up, index move and summary), of an erasure, or nothing.

A session contributes ``(1 session, 1 if active, message_count, total_tokens, total_cost)`` and its per-model usage
(:func:`contribution`); INSERT adds the new image's contribution, MODIFY adds ``new - old``, REMOVE subtracts the
old one (SPEC section 6; usage: SPEC section 9). A session created in a namespace (its images' ``namespace``, fixed
at creation) moves its owner's usage of that namespace by the same totals (:func:`namespaced`). Message and memory
records move no count (the session's counters already include them); a streamed reply finalized or deleted asks for
its chunks to be deleted (``chunks``).

A record is read from its raw images (DynamoDB JSON): of each, only the attributes its kind needs are deserialised
(:class:`Needs`: :data:`SESSION_NEEDS`, :data:`MESSAGE_NEEDS`, :data:`ERASURE_NEEDS`); a message's content, data
or metadata, a session's title, and every attribute of the items the function ignores are never converted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from session_service.data import items, stats
from session_service.data import keys as table_keys
from session_service.models import SessionStatus

SUMMARY_EVERY = 20
"""At most this many messages of a long conversation wait for their summary."""
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
"""``userIdentity.principalId`` of a delete made by DynamoDB's Time to Live (AWS DynamoDB Streams docs)."""


class MalformedRecord(ValueError):
    """A stream record this module cannot read (missing sequence number, image or attribute)."""


_deserializer = TypeDeserializer()
"""Powertools' deserializer, the one ``DynamoDBRecord``'s images use: the same values (numbers as ``Decimal``)."""


@dataclass(frozen=True)
class Needs:
    """The attributes a kind of record is read from: by name (``names``), and by prefix (``prefixes``: the per-model
    usage attributes, whose names hold the model)."""

    names: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def read(self, raw: dict[str, Any] | None) -> dict[str, Any] | None:
        """The needed attributes of a raw image (DynamoDB JSON, as the record has it) in plain values (numbers as
        ``Decimal``), or ``None`` when the record has no image (or an empty one). Nothing else is deserialised."""
        if not raw:
            return None
        return {
            name: _deserializer.deserialize(value)
            for name, value in raw.items()
            if name in self.names or (self.prefixes and name.startswith(self.prefixes))
        }


SESSION_NEEDS = Needs(
    frozenset(
        {
            items.ENTITY,
            items.ERASED_BY,
            "session_id",
            "user_id",
            "status",
            "created_at",
            "updated_at",  # a tombstone's bound
            "version",
            "expires_at",
            "message_count",
            "total_tokens",
            "total_cost",
            "last_activity",  # the index keys
            f"{table_keys.GSI_ACTIVITY}SK",
            f"{table_keys.GSI_STATUS}SK",
            "namespace",  # GSI3's sort key, for a session in a namespace
            "cuts",
        }
    ),
    (stats.USAGE_PREFIX,),
)
"""What a session hot item's record is read from: its counts and usage, mark, owner, expiry, index keys and cuts."""
MESSAGE_NEEDS = Needs(frozenset({"status", "chunks"}))
"""What a message's record is read from: whether it leaves a streamed reply with chunks (never its content)."""
ERASURE_NEEDS = Needs(frozenset({"status"}))
"""What an erasure's progress record is read from: whether it is still running."""


@dataclass(frozen=True)
class Delta:
    """Change of the counts: sessions and active sessions (counts), messages, tokens, cost (USD, exact), and
    ``by_model``: the per-model usage attributes (:func:`~session_service.data.stats.usage_attribute` name ->
    number, zeros left out), which only the owners' usage items hold (``STATS`` has the totals)."""

    sessions: int = 0
    active: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    by_model: dict[str, Decimal] = field(default_factory=dict, hash=False)

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.sessions + other.sessions,
            self.active + other.active,
            self.messages + other.messages,
            self.tokens + other.tokens,
            self.cost + other.cost,
            stats.sum_usage(self.by_model, other.by_model),
        )

    def __neg__(self) -> Delta:
        return Delta(
            -self.sessions,
            -self.active,
            -self.messages,
            -self.tokens,
            -self.cost,
            {name: -value for name, value in self.by_model.items()},
        )

    def __sub__(self, other: Delta) -> Delta:
        return self + (-other)

    def totals_zero(self) -> bool:
        """True when the statistics' part (all but ``by_model``) would change nothing."""
        return not (self.sessions or self.active or self.messages or self.tokens or self.cost)

    def is_zero(self) -> bool:
        """True when applying this delta would change nothing."""
        return self.totals_zero() and not any(self.by_model.values())

    def usage_adds(self) -> dict[str, Any]:
        """The ``ADD``s of a user's usage item: its totals (attribute name -> number; zeros left out)."""
        totals = (self.sessions, self.active, self.messages, self.tokens, self.cost)
        return {name: value for name, value in zip(stats.USAGE_TOTALS, totals, strict=True) if value}

    def model_adds(self) -> dict[str, dict[str, Any]]:
        """The ``ADD``s of the user's per-model usage items: pair (:func:`~session_service.data.stats.model_pair`) ->
        ``messages``, ``tokens``, ``cost`` (zeros left out; pairs that move nothing left out)."""
        moves: dict[str, dict[str, Any]] = {}
        for name, value in self.by_model.items():
            parsed = stats.parse_usage_attribute(name)
            if parsed is None or not value:
                continue
            provider, model, suffix = parsed
            pair = moves.setdefault(stats.model_pair(provider, model), {})
            pair[stats.USAGE_FIELDS[suffix]] = value
        return moves


@dataclass(frozen=True)
class IndexMove:
    """A hot item whose GSI sort keys lag its ``last_activity`` (an image's values): move them."""

    session_id: str
    incarnation: str
    status: str
    last_activity: str
    keys: dict[str, str]


@dataclass(frozen=True)
class Change:
    """What one stream record means here.

    ``kind`` is ``session`` (a session's hot item: counts, index keys, summaries), ``erasure`` (a user's erasure
    progress record: ``user_id`` names the user), ``chunks`` (a streamed reply was finalized or deleted: the chunks
    of the message ``message_sk`` of ``session_id`` go) or ``other`` (ignored).
    For a session: ``mark`` is the applied mark the record leads to, ``delta`` its share of the statistics,
    ``user_delta`` what its owner's counts lose (TTL removals only: requests move the counts of everything else),
    ``expired_before`` the ISO time before which the partition's items belong to a session that is gone (a TTL
    removal, an expired id created again, or a permanent delete), ``deleted`` the incarnation (``created_at``) a
    tombstone ends (a permanent delete or an erasure: the items at or after ``expired_before`` that requests
    committed before the tombstone wrote with a later time go too), ``index`` the GSI keys to move,
    ``summary_due`` whether its messages reached a :func:`summary_point` (``image`` is the session as the record
    left it, in the attributes :data:`SESSION_NEEDS` names; ``None`` for a removal), ``usage`` what each owner's
    usage moves by (user id -> delta; two owners when an expired id was created again by another user: the old
    owner loses the old session, the new one gains the new),
    ``forget`` that the session's mark goes (its hot item left the table: nothing of the session is left to
    apply), ``by_erasure`` that an erasure made the tombstone (:mod:`~session_service.stream.erasure`),
    ``origins`` the incarnation (``created_at``) each ``usage`` part is about, ``namespace_usage`` what each owner's
    usage of a namespace moves by ((user id, namespace) -> delta of the totals, no per-model part; :func:`namespaced`).
    """

    sequence: int
    kind: str
    session_id: str = ""
    user_id: str = ""
    mark: str = ""
    delta: Delta = field(default_factory=Delta)
    user_delta: dict[str, int] = field(default_factory=dict)
    expired_before: str | None = None
    deleted: str | None = None
    index: IndexMove | None = None
    summary_due: bool = False
    forget: bool = False
    by_erasure: bool = False
    image: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    usage: dict[str, Delta] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    message_sk: str = ""
    namespace_usage: dict[tuple[str, str], Delta] = field(default_factory=dict)

    def counts(self) -> bool:
        """True when applying this change moves the session's mark (statistics, counts, usage or a clean-up)."""
        return self.kind == "session" and bool(
            not self.delta.is_zero() or self.user_delta or self.expired_before is not None
        )


@dataclass
class Outcome:
    """What :meth:`~session_service.stream.processor.StreamProcessor.apply` did (for logs, metrics and tests)."""

    applied: int = 0
    skipped: int = 0
    transactions: int = 0
    deleted_items: int = 0
    summaries: int = 0
    index_moves: int = 0
    erasure_writes: int = 0
    delta: Delta = field(default_factory=Delta)


def _number(image: dict[str, Any], name: str, *, integral: bool = True) -> Decimal:
    value = image.get(name, Decimal(0))
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise MalformedRecord(f"{name} is not a number")
    value = Decimal(value)
    if not value.is_finite() or (integral and value != value.to_integral_value()):
        raise MalformedRecord(f"{name} is not an integer")
    return value


def _text(image: dict[str, Any], name: str) -> str:
    value = image.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{name} is missing")
    return value


def contribution(image: dict[str, Any]) -> Delta:
    """A session item's share of the statistics and of its owner's usage (``image`` in plain values, numbers as
    ``Decimal``): its totals, and its per-model usage attributes (``by_model``).

    A tombstone (a permanently deleted session, :func:`~session_service.data.items.is_tombstone`) contributes
    nothing: the record that made it removes the session from the statistics, and its removal changes nothing.
    Raises :class:`MalformedRecord` when a counter is not a number or ``status`` is missing.
    """
    status = _text(image, "status")
    if items.is_tombstone(image):
        return Delta()
    by_model = {}
    for name in stats.usage_of(image):
        parsed = stats.parse_usage_attribute(name)
        value = _number(image, name, integral=parsed is not None and parsed[2] != "c")
        if value:
            by_model[name] = value
    return Delta(
        sessions=1,
        active=int(status == "active"),
        messages=int(_number(image, "message_count")),
        tokens=int(_number(image, "total_tokens")),
        cost=_number(image, "total_cost", integral=False),
        by_model=by_model,
    )


def namespaced(*parts: tuple[dict[str, Any], int]) -> dict[tuple[str, str], Delta]:
    """What owners' usage of namespaces moves by when each ``(image, sign)`` of ``parts`` is added (sign 1) or taken
    away (sign -1): (``user_id``, ``namespace``) of the image -> the totals of its :func:`contribution` (no per-model
    part), summed, zero moves left out; an image of no namespace moves none. A MODIFY passes ``(old, -1), (new, 1)``:
    one key's ``new - old`` while owner and namespace stay (they are fixed at creation), or a move between two keys
    when an expired id was created again by another owner or in another namespace."""
    moves: dict[tuple[str, str], Delta] = {}
    for image, sign in parts:
        namespace = image.get("namespace")
        if namespace is None:
            continue
        if not isinstance(namespace, str) or not namespace:
            raise MalformedRecord("namespace is not a string")
        totals = replace(contribution(image), by_model={})
        owner = (_text(image, "user_id"), namespace)
        moves[owner] = moves.get(owner, Delta()) + (totals if sign > 0 else -totals)
    return {owner: part for owner, part in moves.items() if not part.is_zero()}


def applied_mark(image: dict[str, Any], *, removed: bool) -> str:
    """The applied mark of a session state: ``<created_at>#<version:012d>#<0|1>`` (sorts as history)."""
    version = int(_number(image, "version"))
    return f"{_text(image, 'created_at')}#{version:012d}#{int(removed)}"


def sequence_of(record: DynamoDBRecord) -> int:
    """The record's sequence number (digits); raises :class:`MalformedRecord` when it has none."""
    stream = record.dynamodb
    text = stream.sequence_number if stream is not None else None
    if not isinstance(text, str) or not text.isdigit():
        raise MalformedRecord("SequenceNumber is missing")
    return int(text)


def is_ttl_removal(record: DynamoDBRecord) -> bool:
    """True for a REMOVE made by DynamoDB's Time to Live (``userIdentity`` of type ``Service``)."""
    identity = record.user_identity
    return identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL


def _index_move(image: dict[str, Any]) -> IndexMove | None:
    """The index move a session image asks for, or ``None`` while its GSI keys are current enough
    (:func:`~session_service.data.keys.index_lags`)."""
    if not table_keys.index_lags(image):
        return None
    wanted = table_keys.index_keys(image)
    return IndexMove(
        _text(image, "session_id"),
        _text(image, "created_at"),
        _text(image, "status"),
        _text(image, "last_activity"),
        wanted,
    )


def parse_record(record: DynamoDBRecord) -> Change:
    """Read one stream record (``NEW_AND_OLD_IMAGES``) into a :class:`Change`.

    Items other than session hot items and messages (session data and summaries, memory, STATS, COUNTS,
    marks, Powertools idempotency records) are ``other``, read from the keys alone. Raises
    :class:`MalformedRecord` for a record without sequence number, event name, keys or the images its event
    needs, or a session image with unreadable counters.
    """
    sequence = sequence_of(record)
    stream = record.dynamodb
    if stream is None or record.event_name is None:
        raise MalformedRecord("not a DynamoDB stream record")
    event = record.event_name
    keys = stream.raw_event.get("Keys") or {}
    partition_key, sort_key = keys.get("PK", {}).get("S"), keys.get("SK", {}).get("S")
    if not isinstance(partition_key, str) or not isinstance(sort_key, str):
        raise MalformedRecord("Keys without PK and SK")
    raw_new, raw_old = stream.raw_event.get("NewImage"), stream.raw_event.get("OldImage")
    erased_user = table_keys.erasure_user_of(partition_key, sort_key)
    if erased_user is not None:  # an erasure's progress moved: its next pass
        progress = ERASURE_NEEDS.read(raw_new) or {}
        running = event is not DynamoDBRecordEventName.REMOVE and progress.get("status") == "erasing"
        return Change(sequence, "erasure" if running else "other", user_id=erased_user)
    session_id = table_keys.session_id_of(partition_key)
    if session_id is not None and sort_key.startswith(table_keys.MESSAGE_PREFIX):
        return _reply_done(sequence, session_id, sort_key, MESSAGE_NEEDS.read(raw_old), MESSAGE_NEEDS.read(raw_new))
    if sort_key != table_keys.SESSION_SK or session_id is None:
        return Change(sequence, "other")
    new, old = SESSION_NEEDS.read(raw_new), SESSION_NEEDS.read(raw_old)
    image = new if event is not DynamoDBRecordEventName.REMOVE else old
    if image is None:
        raise MalformedRecord(f"{event.value} record without its image")
    if image.get(items.ENTITY) != items.SESSION_ENTITY:
        return Change(sequence, "other")
    return _session_change(sequence, record, new, old)


def _reply_done(
    sequence: int, session_id: str, sort_key: str, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> Change:
    """A message's record: ``chunks`` when it leaves a streamed reply with chunks that is no longer streaming
    (finalized: its chunks are its content now; or deleted), else ``other``."""
    if old and items.is_streaming(old) and int(old.get("chunks", 0)) and not (new and items.is_streaming(new)):
        return Change(sequence, "chunks", session_id=session_id, message_sk=sort_key)
    return Change(sequence, "other")


class _Moves(NamedTuple):
    """What a session record moves: the statistics (``delta``), each owner's usage, the incarnation each usage part
    is about (``origins``), the time before which the partition's items go (``expired_before``), the owner's counts
    (``user_delta``), the incarnation a tombstone ends (``deleted``)."""

    delta: Delta
    usage: dict[str, Delta]
    origins: dict[str, str]
    expired_before: str | None = None
    user_delta: dict[str, int] | None = None
    deleted: str | None = None
    by_namespace: dict[tuple[str, str], Delta] = {}  # a default never mutated


def _inserted(new: dict[str, Any]) -> _Moves:
    delta = contribution(new)
    owner = _text(new, "user_id")
    return _Moves(delta, {owner: delta}, {owner: _text(new, "created_at")}, by_namespace=namespaced((new, 1)))


def _modified(old: dict[str, Any] | None, new: dict[str, Any]) -> _Moves:
    if old is None:
        raise MalformedRecord("MODIFY record without OldImage")
    user_id, previous_owner = _text(new, "user_id"), _text(old, "user_id")
    delta = contribution(new) - contribution(old)
    origins = {user_id: _text(new, "created_at")}
    if previous_owner == user_id:
        usage = {user_id: delta}
    else:  # another user created the expired id again
        usage = {previous_owner: -contribution(old), user_id: contribution(new)}
        origins[previous_owner] = _text(old, "created_at")
    expired_before, deleted = None, None
    if _text(old, "created_at") != _text(new, "created_at"):  # an expired id created again
        expired_before = _text(new, "created_at")
    elif items.is_tombstone(new):  # deleted for good: its items go now, not when TTL comes
        expired_before, deleted = _tombstone_bound(new), _text(new, "created_at")
    return _Moves(delta, usage, origins, expired_before, deleted=deleted, by_namespace=namespaced((old, -1), (new, 1)))


def _removed(old: dict[str, Any], *, by_ttl: bool) -> _Moves:
    user_id = _text(old, "user_id")
    delta = -contribution(old)
    moves = _Moves(delta, {user_id: delta}, {user_id: _text(old, "created_at")}, by_namespace=namespaced((old, -1)))
    if items.is_tombstone(old):  # its delete moved the counts already; the stream's own delete, or TTL's
        if not by_ttl:
            return moves
        return moves._replace(expired_before=_tombstone_bound(old), deleted=_text(old, "created_at"))
    if by_ttl:
        status = SessionStatus(_text(old, "status"))
        return moves._replace(
            expired_before=table_keys.iso(datetime.fromtimestamp(int(_number(old, "expires_at")), UTC)),
            user_delta={stats.count_attribute(None): -1, stats.count_attribute(status): -1},
        )
    return moves


def _session_change(
    sequence: int, record: DynamoDBRecord, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> Change:
    """The :class:`Change` of a record of a session's hot item (``new``, ``old``: the attributes of its images that
    :data:`SESSION_NEEDS` names, ``None`` for an image its event lacks; the one its event needs is there)."""
    removed = record.event_name is DynamoDBRecordEventName.REMOVE
    image = old if removed else new
    if image is None:
        raise MalformedRecord("a session record without its image")
    session_id, user_id = _text(image, "session_id"), _text(image, "user_id")
    _number(image, "expires_at")  # read: a session record without it is malformed
    if record.event_name is DynamoDBRecordEventName.INSERT:
        moves = _inserted(image)
    elif record.event_name is DynamoDBRecordEventName.MODIFY:
        moves = _modified(old, image)
    else:
        moves = _removed(image, by_ttl=is_ttl_removal(record))
    return Change(
        sequence,
        "session",
        session_id=session_id,
        user_id=user_id,
        mark=applied_mark(image, removed=removed),
        delta=moves.delta,
        user_delta=moves.user_delta or {},
        expired_before=moves.expired_before,
        deleted=moves.deleted,
        index=None if removed or items.is_tombstone(image) else _index_move(image),
        summary_due=not removed and summary_due(old, image),
        forget=removed,
        by_erasure=bool(image.get(items.ERASED_BY)),
        image=None if removed else image,
        usage={owner: part for owner, part in moves.usage.items() if not part.is_zero()},
        origins=moves.origins,
        namespace_usage=moves.by_namespace,
    )


def _tombstone_bound(image: dict[str, Any]) -> str:
    try:
        return items.tombstone_bound(image)
    except (KeyError, ValueError) as exc:
        raise MalformedRecord("a tombstone without its updated_at") from exc


def still_there(change: Change, incarnation: str | None) -> bool:
    """Whether a record of a session without an applied mark is to be applied: its incarnation (``created_at``)
    is still in the table, or none later took its id over (``incarnation``: the hot item's, ``None`` when there
    is none). A session's mark is forgotten only once its tombstone was removed, after everything it recorded
    was applied; a record of it delivered again then finds no hot item, or a later incarnation's, and is
    skipped. A session's first records find their own hot item (or its tombstone, until they are applied)."""
    return incarnation is not None and incarnation <= change.mark.split("#", 1)[0]


def without_erased_usage(change: Change, erasures: dict[str, str]) -> Change:
    """``change`` without the usage parts of sessions an erasure of their owner covers (created before it started,
    ``erasures``: user id -> start): the erasure deletes the owner's usage item, and a record applied late (its
    shard behind the erasure's) must not bring it back; the same for its usage of namespaces. The statistics still
    move."""

    def covered(owner: str) -> bool:
        return owner in erasures and change.origins.get(owner, "") < erasures[owner]

    kept = {owner: part for owner, part in change.usage.items() if not covered(owner)}
    namespaced_kept = {key: part for key, part in change.namespace_usage.items() if not covered(key[0])}
    if kept == change.usage and namespaced_kept == change.namespace_usage:
        return change
    return replace(change, usage=kept, namespace_usage=namespaced_kept)


def summary_point(count: int) -> bool:
    """True when a session's summary is regenerated as its ``message_count`` reaches ``count``: at the first
    messages (1, 2, 3, 5), then every tenth message, and once the summary covers a long conversation, every
    tenth of it, at most every :data:`SUMMARY_EVERY` messages."""
    if count in (1, 2, 3, 5):
        return True
    return count >= 10 and count % min(SUMMARY_EVERY, max(10, count // 10)) == 0


def summary_due(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when a session's ``message_count`` passed a :func:`summary_point` from image ``old`` to ``new``."""
    before = int(_number(old, "message_count")) if old and old.get("created_at") == new.get("created_at") else 0
    after = int(_number(new, "message_count"))
    return any(summary_point(count) for count in range(before + 1, after + 1))


def applicable_prefix(changes: Iterable[Change], failed_sequences: Iterable[int]) -> list[Change]:
    """The changes before the first failed record, in sequence order (Lambda retries from that record)."""
    first_failure = min(failed_sequences, default=None)
    ordered = sorted(changes, key=lambda change: change.sequence)
    return [c for c in ordered if first_failure is None or c.sequence < first_failure]
