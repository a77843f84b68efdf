"""The Lambda-like instances behind ``make serve`` (``devserver.instances``), with a small fake function.

Each instance is a worker process taking one invocation at a time, so module state is never shared by two
requests in flight; the pool is bounded; a crash, a timeout or a raising handler is an invocation error
and the pool carries on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devserver.instances import HandlerRaised, InstanceCrashed, InstancePool, InvocationTimedOut

FAKE_FUNCTION = """
import os
import time

CURRENT = None  # module state, as Powertools' resolver keeps the current event


def lambda_handler(event, context):
    global CURRENT
    CURRENT = event["id"]
    if event.get("crash"):
        os._exit(3)
    if event.get("raise"):
        raise ValueError("boom")
    gathered = None
    if "gather" in event:
        # Wait (at most 60 s) until `gather_n` invocations have started: they must be running at once.
        open(os.path.join(event["gather"], event["id"]), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(event["gather"])) < event["gather_n"] and time.monotonic() < deadline:
            time.sleep(0.01)
        gathered = len(os.listdir(event["gather"])) >= event["gather_n"]
    time.sleep(event.get("hold", 0))
    return {"id": CURRENT, "pid": os.getpid(), "function": context.function_name, "gathered": gathered}
"""


@pytest.fixture
def function_dir(tmp_path: Path) -> Path:
    """A code directory holding the fake function's ``app.py``."""
    code = tmp_path / "fake_fn"
    code.mkdir()
    (code / "app.py").write_text(FAKE_FUNCTION)
    return code


@pytest.fixture
def pool(function_dir: Path) -> Iterator[InstancePool]:
    """Up to 3 instances of the fake function, one started."""
    instances = InstancePool("test", 3, preload=[function_dir], timeout=60)
    instances.start()
    yield instances
    instances.close()


def test_each_invocation_sees_only_its_own_event(pool: InstancePool, function_dir: Path, tmp_path: Path) -> None:
    """12 overlapping invocations: each answer carries its own id although the function keeps it in a
    module global, because an instance runs one invocation at a time; the first three run at once, in
    three instances, and no more than three ever start."""
    # Given: 12 callers released together; each invocation waits until 3 invocations have started
    gather = tmp_path / "gather"
    gather.mkdir()
    start = threading.Barrier(12)

    def call(i: int) -> tuple[Any, str]:
        start.wait()
        event = {"id": f"request-{i}", "gather": str(gather), "gather_n": 3}
        return pool.invoke(function_dir, "FakeFunction", event)

    # When
    with ThreadPoolExecutor(max_workers=12) as threads:
        answers = list(threads.map(call, range(12)))

    # Then
    assert [result["id"] for result, _ in answers] == [f"request-{i}" for i in range(12)]
    assert all(result["function"] == "FakeFunction" for result, _ in answers)
    assert all(result["gathered"] for result, _ in answers), "3 invocations never ran at once"
    pids = {result["pid"] for result, _ in answers}
    assert os.getpid() not in pids
    assert len(pids) == 3
    assert pool.started == 3
    assert pool.peak_busy == 3
    assert {instance for _, instance in answers} == {"test-1", "test-2", "test-3"}


def test_a_handler_that_raises_is_an_error_and_its_instance_stays(pool: InstancePool, function_dir: Path) -> None:
    with pytest.raises(HandlerRaised, match="ValueError: boom") as raised:
        pool.invoke(function_dir, "FakeFunction", {"id": "x", "raise": True})
    assert raised.value.status == 502
    result, instance = pool.invoke(function_dir, "FakeFunction", {"id": "y"})
    assert result["id"] == "y" and instance == "test-1"
    assert pool.started == 1


def test_a_crashed_instance_is_replaced(pool: InstancePool, function_dir: Path) -> None:
    first, _ = pool.invoke(function_dir, "FakeFunction", {"id": "a"})
    with pytest.raises(InstanceCrashed, match="exit code 3"):
        pool.invoke(function_dir, "FakeFunction", {"id": "b", "crash": True})
    after, instance = pool.invoke(function_dir, "FakeFunction", {"id": "c"})
    assert after["id"] == "c"
    assert after["pid"] != first["pid"]
    assert instance == "test-2"


def test_an_invocation_past_its_timeout_is_504_and_the_pool_recovers(function_dir: Path) -> None:
    pool = InstancePool("slow", 1, preload=[function_dir], timeout=1)
    pool.start()
    try:
        with pytest.raises(InvocationTimedOut) as timed_out:
            pool.invoke(function_dir, "FakeFunction", {"id": "stuck", "hold": 600})
        assert timed_out.value.status == 504
        result, instance = pool.invoke(function_dir, "FakeFunction", {"id": "next"})
        assert result["id"] == "next" and instance == "slow-2"
    finally:
        pool.close()


def test_a_function_that_does_not_import_fails_its_invocations(tmp_path: Path) -> None:
    broken = tmp_path / "broken_fn"
    broken.mkdir()
    (broken / "app.py").write_text("raise ImportError('missing dependency')\n")
    pool = InstancePool("broken", 1, preload=[broken], timeout=60)
    pool.start()  # the instance starts (the import error is logged), as Lambda's init error is per invocation
    try:
        with pytest.raises(HandlerRaised, match="missing dependency"):
            pool.invoke(broken, "BrokenFunction", {"id": "x"})
    finally:
        pool.close()


def test_a_closed_pool_refuses_invocations(pool: InstancePool, function_dir: Path) -> None:
    pool.close()
    with pytest.raises(InstanceCrashed):
        pool.invoke(function_dir, "FakeFunction", {"id": "late"})
