"""`make serve`'s stores over real HTTP: the default, Amazon DynamoDB Local with its data in a folder (kept
across a restart), ``--store memory`` (DynamoDB Local in memory) and ``--store moto`` (in the server's
process, bounded: past its item bound it refuses new writes with a 503 that says why). On each, statistics
keep following writes after a refused (409) append, which froze them on moto before.

Waits poll with generous deadlines: the stream reaches the stream function within about a second when
the machine is idle, far later on a loaded one, and no assertion here depends on how long it took.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from devserver.child_process import serve_in_subprocess
from devserver.dynamodb_local import DynamoDBLocalUnavailable, find_java, install

DEADLINE = 90.0
"""Seconds to wait for the stream function's effect before failing (generous: a loaded 2-core machine)."""


def wait_for(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < end, f"{what}: not within {deadline} s"
        time.sleep(0.2)


def stats(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/api/v1/sessions/stats")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def new_session(http: httpx.Client, user: str, **fields: Any) -> str:
    created = http.post("/api/v1/sessions", json={"user_id": user, **fields})
    assert created.status_code == 201, created.text
    return str(created.json()["session_id"])


def append(http: httpx.Client, user: str, session_id: str, content: str, tokens: int = 1) -> httpx.Response:
    return http.post(
        f"/api/v1/sessions/{session_id}/messages",
        params={"user_id": user},
        json={"role": "user", "content": content, "tokens_used": tokens},
    )


def refuse_an_append(http: httpx.Client, user: str) -> None:
    """End a session, then append to it: 409 (a cancelled transaction underneath)."""
    ended = new_session(http, user)
    assert http.delete(f"/api/v1/sessions/{ended}", params={"user_id": user}).status_code == 200
    refused = append(http, user, ended, "refused", tokens=1000)
    assert refused.status_code == 409, refused.text
    assert refused.json() == {"detail": "Session is not active"}


def check_stats_follow_a_refused_append(http: httpx.Client) -> None:
    """Given the current statistics, a refused append changes nothing and later writes are counted."""
    user = f"store_user_{uuid.uuid4().hex[:8]}"
    before = stats(http)
    refuse_an_append(http, user)
    sid = new_session(http, user)
    assert append(http, user, sid, "counted one", tokens=7).status_code == 201
    assert append(http, user, sid, "counted two", tokens=8).status_code == 201

    after = wait_for(
        lambda: (s := stats(http))["total_messages"] == before["total_messages"] + 2 and s,
        "statistics after a refused append",
    )
    assert after["total_tokens"] == before["total_tokens"] + 15  # the refused 1000 tokens never counted
    assert after["total_sessions"] == before["total_sessions"] + 2
    assert after["active_sessions"] == before["active_sessions"] + 1
    # The summary, kept by the same stream function, follows too.
    wait_for(
        lambda: (
            "counted two"
            in (
                http.get(f"/api/v1/sessions/{sid}/summary", params={"user_id": user}).json().get("session_summary")
                or ""
            )
        ),
        "the session summary after a refused append",
    )


def test_moto_store_stats_follow_writes_after_a_refused_append() -> None:
    with (
        serve_in_subprocess(store="moto") as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert "DynamoDB: embedded moto" in server.log
        assert "REFUSES NEW WRITES (503) once its table holds 2000 items (--moto-max-items)" in server.log
        check_stats_follow_a_refused_append(http)


def test_the_moto_store_refuses_new_writes_past_its_bound_and_says_why() -> None:
    """Given a bound of 20 items, creates go through until the table holds 20 items; then every POST, PUT
    and PATCH is a 503 whose detail names the store, its size, the bound and the way out, while reads and
    deletes still answer."""
    user = f"bound_{uuid.uuid4().hex[:8]}"
    with (
        serve_in_subprocess(store="moto", env={"MOTO_MAX_ITEMS": "20"}) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert "REFUSES NEW WRITES (503) once its table holds 20 items" in server.log  # said at start
        created: list[str] = []
        for _ in range(20):
            answer = http.post("/api/v1/sessions", json={"user_id": user})
            if answer.status_code != 201:
                break
            created.append(answer.json()["session_id"])
        else:
            pytest.fail("20 creates never reached a bound of 20 items")

        assert answer.status_code == 503, answer.text
        detail = answer.json()["detail"]
        assert detail.startswith("The in-memory moto store is full: its table holds ")
        assert "items, the bound is 20 (moto copies the whole table for every transaction item" in detail
        assert "restart the server to start empty (--moto-max-items raises the bound)" in detail
        assert created  # the bound let some writes in first
        sid = created[0]
        assert append(http, user, sid, "refused too").status_code == 503
        put = http.put(f"/api/v1/sessions/{sid}", params={"user_id": user}, json={"title": "refused"})
        assert put.status_code == 503 and put.json()["detail"].startswith("The in-memory moto store is full")
        assert http.get(f"/api/v1/sessions/{sid}", params={"user_id": user}).status_code == 200
        assert http.get(f"/api/v1/users/{user}/sessions").json()["total"] == len(created)
        assert http.delete(f"/api/v1/sessions/{sid}", params={"user_id": user}).status_code == 200
        assert "refused: The in-memory moto store is full" in server.log


def test_where_dynamodb_local_cannot_start_the_server_falls_back_to_moto_loudly(tmp_path: Path) -> None:
    """No jar installed and no npm to install it (PATH holds neither npm nor java)."""
    (tmp_path / "bin").mkdir()
    env = {"DYNAMODB_LOCAL_DIR": str(tmp_path / "not-installed"), "PATH": str(tmp_path / "bin")}
    with (
        serve_in_subprocess(store="dynamodb-local", data_dir=tmp_path / "data", env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert "DynamoDB Local cannot start here: npm is not on PATH" in server.log
        assert "FALLING BACK to the in-memory moto store: the data is LOST when the server stops" in server.log
        assert "REFUSES NEW WRITES (503) once its table holds 2000 items" in server.log
        assert "DynamoDB: embedded moto (in memory: lost when the server stops)" in server.log
        user = f"fallback_{uuid.uuid4().hex[:8]}"
        sid = new_session(http, user)
        assert http.get(f"/api/v1/sessions/{sid}", params={"user_id": user}).status_code == 200
    assert not (tmp_path / "not-installed").exists()  # nothing was installed


def _dynamodb_local_or_skip() -> None:
    try:
        find_java()
        install()
    except (DynamoDBLocalUnavailable, OSError) as exc:
        pytest.skip(f"DynamoDB Local cannot run here: {exc}")


def _command_lines(pid: int) -> list[str]:
    """The command lines of ``pid``'s descendants (Linux ``/proc``)."""
    found, pending = [], [pid]
    while pending:
        for children in Path(f"/proc/{pending.pop()}/task").glob("*/children"):
            for child in children.read_text().split():
                pending.append(int(child))
                with contextlib.suppress(OSError):
                    found.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


@pytest.mark.dynamodb_local
def test_memory_store_is_dynamodb_local_in_memory(tmp_path: Path) -> None:
    """`make serve STORE=memory`: DynamoDB Local with ``-inMemory`` (no moto, nothing on disk), answering,
    with statistics that follow writes after a refused append."""
    _dynamodb_local_or_skip()
    data = tmp_path / "dynamodb-data"
    with (
        serve_in_subprocess(store="memory", data_dir=data) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert "DynamoDB: DynamoDB Local at http://127.0.0.1:" in server.log
        assert "in memory (-inMemory: lost when the server stops), table " in server.log and "(created)" in server.log
        assert "moto" not in server.log.lower() and "FALLING BACK" not in server.log
        java = [line for line in _command_lines(server.process.pid) if "DynamoDBLocal.jar" in line]
        assert len(java) == 1 and " -inMemory " in java[0] and "-dbPath" not in java[0]
        check_stats_follow_a_refused_append(http)
    assert not data.exists()  # nothing kept


@pytest.mark.dynamodb_local
def test_dynamodb_local_store_keeps_data_across_a_restart(tmp_path: Path) -> None:
    """The default store, as `make serve` runs it: a session with messages and memory, a refused append;
    stop; start again on the same folder: everything is there and counted once, and the statistics still
    follow new writes."""
    _dynamodb_local_or_skip()
    data = tmp_path / "dynamodb-data"
    user = f"restart_user_{uuid.uuid4().hex[:8]}"
    contents = [f"message {i}" for i in range(5)]

    # Given: a first run with a session, its messages and a memory record
    with (
        serve_in_subprocess(store="dynamodb-local", data_dir=data) as first,
        httpx.Client(base_url=first.url, timeout=60) as http,
    ):
        assert "DynamoDB: DynamoDB Local at" in first.log and "(created)" in first.log
        assert "FALLING BACK" not in first.log
        sid = new_session(http, user, title="kept", metadata={"source": "restart test"})
        for content in contents:
            assert append(http, user, sid, content, tokens=3).status_code == 201
        memory = http.post(
            f"/api/v1/sessions/{sid}/memory",
            params={"user_id": user},
            json={"memory_type": "preference", "content": "tea"},
        )
        assert memory.status_code == 201, memory.text
        wait_for(lambda: stats(http)["total_messages"] == len(contents), "statistics of the first run")
        check_stats_follow_a_refused_append(http)
        counted = stats(http)
    database = data / "shared-local-instance.db"
    assert database.exists()
    with contextlib.closing(sqlite3.connect(database)) as sqlite:
        assert sqlite.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # one fsync per write, not four

    # When: the server starts again on the same folder
    with (
        serve_in_subprocess(store="dynamodb-local", data_dir=data) as second,
        httpx.Client(base_url=second.url, timeout=60) as http,
    ):
        # Then: the data is there
        assert "(existing)" in second.log
        session = http.get(f"/api/v1/sessions/{sid}", params={"user_id": user})
        assert session.status_code == 200, session.text
        assert session.json()["title"] == "kept"
        assert session.json()["metadata"] == {"source": "restart test"}
        assert session.json()["message_count"] == len(contents)
        messages = http.get(f"/api/v1/sessions/{sid}/messages", params={"user_id": user})
        assert [m["content"] for m in messages.json()["messages"]] == contents
        memories = http.get(f"/api/v1/sessions/{sid}/memory", params={"user_id": user})
        assert [m["content"] for m in memories.json()["memories"]] == ["tea"]
        assert stats(http) == counted

        # And the statistics follow new writes, counting nothing of the first run twice.
        assert append(http, user, sid, "after the restart", tokens=4).status_code == 201
        after = wait_for(
            lambda: (s := stats(http))["total_messages"] == counted["total_messages"] + 1 and s,
            "statistics after the restart",
        )
        assert after["total_tokens"] == counted["total_tokens"] + 4
        assert after["total_sessions"] == counted["total_sessions"]
        check_stats_follow_a_refused_append(http)


def test_moto_keeps_no_copy_of_the_table_after_a_transaction(module_table: str) -> None:
    """moto deep-copies the table for every item of a TransactWriteItems and tracked every copy for good
    (the moto store grew to 23.4 GB after ~945 requests); with ``moto_compat`` none outlives its call, and
    the stream's shard iterators are bounded."""
    import gc

    import boto3
    from moto.dynamodb.models.table import Table
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    from devserver.moto_compat import MAX_SHARD_ITERATORS

    client = boto3.client("dynamodb")
    key = f"SESSION#moto-copies-{uuid.uuid4().hex[:8]}"
    for i in range(20):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": module_table, "Item": {"PK": {"S": key}, "SK": {"S": f"M#{i}#{n}"}}}}
                for n in range(3)
            ]
        )
    gc.collect()
    assert Table.instances_tracked == []  # type: ignore[attr-defined]
    assert sum(isinstance(o, Table) for o in gc.get_objects()) == 1  # the table itself, no copy

    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=module_table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    for _ in range(MAX_SHARD_ITERATORS + 50):
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    assert streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"] == []  # the newest still works
    (backend,) = [b for account in dynamodbstreams_backends.values() for b in account.values() if b.shard_iterators]
    assert len(backend.shard_iterators) <= MAX_SHARD_ITERATORS + 1
