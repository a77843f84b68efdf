"""Where the local server runs a function: Lambda-like instances.

Lambda runs concurrent invocations of a function in separate execution environments ("instances"): each
one a process that imported the handler once and takes one event at a time, so module-level state (the
Powertools resolver's current event, the logger's keys, cached clients) is never shared between two
requests in flight. :class:`InstancePool` does the same with worker processes: at most ``size`` of them,
started on demand (the first at start-up, so import errors show early), each handed one invocation at a
time over a pipe. :class:`InProcess` is the single instance used with the embedded moto store, which
lives in the server's own process: invocations there take turns.

An invocation that raises, crashes its process or overruns its timeout is an :class:`InvocationError`
(API Gateway answers those with 502, or 504 for a timeout); a crashed or timed-out process is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from devserver.lambda_runtime import LambdaContext, load_handler_module

log = logging.getLogger("devserver.instances")


class InvocationError(RuntimeError):
    """An invocation failed outside the handler's own answer. ``status`` is what API Gateway would say."""

    status = 502


class HandlerRaised(InvocationError):
    """The handler raised; the message is its traceback. The instance stays (as in Lambda)."""


class InstanceCrashed(InvocationError):
    """The instance's process died (or never started) during the invocation; it is replaced."""


class InvocationTimedOut(InvocationError):
    """The handler ran past the timeout; its process is killed and replaced, as Lambda does."""

    status = 504


class NoInstanceFree(InvocationError):
    """Every instance stayed busy past the wait bound (Lambda would throttle)."""

    status = 503


class Invoker(Protocol):
    """Runs one invocation of the handler in ``code_dir/app.py`` and returns ``(result, instance name)``.

    Raises :class:`InvocationError`.
    """

    def invoke(self, code_dir: Path, function: str, event: dict[str, Any]) -> tuple[Any, str]: ...

    def close(self) -> None: ...


def _call(code_dir: Path, function: str, event: dict[str, Any]) -> Any:
    handler = load_handler_module(code_dir).lambda_handler
    return handler(event, LambdaContext(function_name=function))


class InProcess:
    """One instance in this process: invocations run one at a time under ``lock`` (shared with the stream
    poller, since moto is not thread-safe and the layer's logger state is process-wide)."""

    name = "main"

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def invoke(self, code_dir: Path, function: str, event: dict[str, Any]) -> tuple[Any, str]:
        """Run the handler here; raises :class:`HandlerRaised` with the traceback when it raises."""
        with self.lock:
            try:
                return _call(code_dir, function, event), self.name
            except Exception as exc:
                raise HandlerRaised(traceback.format_exc()) from exc

    def close(self) -> None:
        """Nothing to stop."""


# -- worker processes --------------------------------------------------------------------------------


def _worker_main(conn: Connection, preload: list[str]) -> None:
    """A worker process: import the handlers, say ready, then run one invocation per message until the
    pipe closes or ``None`` arrives. Messages: ``(code_dir, function, event)`` in, ``("ok", result)`` or
    ``("raised", traceback text)`` out."""
    # Ctrl-C reaches the whole process group; the server stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Metrics are off locally, so Powertools' "no metrics to publish" warning is noise on every request.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for code_dir in preload:
        try:
            load_handler_module(Path(code_dir))
        except Exception:
            log.exception("handler %s does not import; its invocations will fail", Path(code_dir).name)
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        code_dir, function, event = message
        try:
            reply: tuple[str, Any] = ("ok", _call(Path(code_dir), function, event))
        except Exception:
            reply = ("raised", traceback.format_exc())
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


@dataclass
class _Worker:
    name: str
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)


class InstancePool:
    """Up to ``size`` worker processes for one set of handlers, each taking one invocation at a time.

    ``preload`` are the code directories every worker imports when it starts. ``timeout`` (seconds) bounds
    one invocation; ``wait`` (seconds) bounds the wait for a free instance; ``start_timeout`` (seconds)
    bounds a worker's start-up (imports). Workers are started when every running one is busy, up to
    ``size``; they live until :meth:`close` (or until they crash or time out, then they are replaced on
    demand).
    """

    def __init__(
        self,
        name: str,
        size: int,
        *,
        preload: Sequence[Path] = (),
        timeout: float = 30.0,
        wait: float = 120.0,
        start_timeout: float = 120.0,
    ) -> None:
        if size < 1:
            raise ValueError("an instance pool needs at least one instance")
        self.name = name
        self.size = size
        self.timeout = timeout
        self.wait = wait
        self.start_timeout = start_timeout
        self._preload = [str(path) for path in preload]
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: dict[str, _Worker] = {}
        self._starting = 0
        self._spawned = 0
        self._busy = 0
        self._closed = False
        self._start_error: str | None = None
        self.peak_busy = 0
        """The most invocations that ran at once (for tests)."""

    @property
    def started(self) -> int:
        """How many worker processes were started so far (replacements included)."""
        return self._spawned

    def start(self, warm: int = 1) -> None:
        """Start ``warm`` workers (at most ``size``) and wait until they imported the handlers.

        Raises :class:`InstanceCrashed` when none of them starts.
        """
        threads = []
        for _ in range(min(warm, self.size)):
            with self._lock:
                self._starting += 1
            thread = threading.Thread(target=self._spawn, name=f"{self.name}-spawn", daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        if warm and not self._workers:
            raise InstanceCrashed(f"no {self.name} instance started: {self._start_error}")

    def _spawn(self) -> None:
        """Start one worker and queue it as idle once it is ready (runs in its own thread)."""
        with self._lock:
            self._spawned += 1
            name = f"{self.name}-{self._spawned}"
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self._preload), name=f"devserver {name}", daemon=True
        )
        worker = _Worker(name, process, parent)
        error: str | None = None
        try:
            process.start()
            child.close()
            if not parent.poll(self.start_timeout):
                error = f"not ready in {self.start_timeout} s"
            else:
                parent.recv()
        except (EOFError, OSError) as exc:
            error = f"exited while starting ({exc.__class__.__name__}, exit code {process.exitcode})"
        with self._lock:
            self._starting -= 1
            if error is None and not self._closed:
                self._workers[name] = worker
                self._start_error = None
            else:
                self._start_error = error or "pool closed"
        if error is not None or self._closed:
            if error is not None:
                log.error("%s instance %s did not start: %s", self.name, name, error)
            worker.kill()
            return
        log.debug("%s instance %s ready (pid %s)", self.name, name, process.pid)
        self._idle.put(worker)

    def _acquire(self) -> _Worker:
        if self._closed:
            raise InstanceCrashed(f"the {self.name} instances are stopped")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        deadline = time.monotonic() + self.wait
        while True:
            with self._lock:
                if self._closed:
                    raise InstanceCrashed(f"the {self.name} instances are stopped")
                if len(self._workers) + self._starting < self.size:
                    # Every running instance is busy: a new one cold-starts, as Lambda scales out.
                    self._starting += 1
                    threading.Thread(target=self._spawn, name=f"{self.name}-spawn", daemon=True).start()
                elif not self._workers and not self._starting and self._start_error:
                    raise InstanceCrashed(f"no {self.name} instance starts: {self._start_error}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoInstanceFree(f"all {self.size} {self.name} instances busy for {self.wait} s")
            try:
                return self._idle.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.pop(worker.name, None)
        worker.kill()

    def invoke(self, code_dir: Path, function: str, event: dict[str, Any]) -> tuple[Any, str]:
        """Run one invocation in a free instance; returns ``(result, instance name)``.

        Raises :class:`HandlerRaised`, :class:`InstanceCrashed`, :class:`InvocationTimedOut` or
        :class:`NoInstanceFree`.
        """
        worker = self._acquire()
        with self._lock:
            self._busy += 1
            self.peak_busy = max(self.peak_busy, self._busy)
        try:
            try:
                worker.conn.send((str(code_dir), function, event))
                if not worker.conn.poll(self.timeout):
                    self._discard(worker)
                    raise InvocationTimedOut(f"{function} ran past {self.timeout} s in {worker.name}; restarted")
                status, payload = worker.conn.recv()
            except (EOFError, OSError) as exc:
                worker.process.join(5)  # the pipe closed as it died: reap it for its exit code
                code = worker.process.exitcode
                self._discard(worker)
                raise InstanceCrashed(f"{worker.name} died during {function} (exit code {code})") from exc
        finally:
            with self._lock:
                self._busy -= 1
        self._idle.put(worker)
        if status == "raised":
            raise HandlerRaised(str(payload))
        return payload, worker.name

    def close(self) -> None:
        """Stop every worker (they finish the invocation in hand first, up to 5 s). Safe to call twice."""
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(5)
            worker.kill()
