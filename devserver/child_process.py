"""``python -m devserver`` in a child process, for the tests and benchmarks that talk to it over HTTP.

:func:`serve_in_subprocess` starts it, waits for the line that names its URL, keeps its log, and stops it
(SIGTERM, as ``make serve``'s Ctrl-C would) on the way out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devserver.template import ROOT

_URL_LINE = re.compile(r"Serving Session Service on (http://\S+)")


def layer_pythonpath(existing: str | None = None) -> str:
    """``PYTHONPATH`` that makes the layer (``layers/common``: ``session_service``) and the checkout
    (``devserver``, ``functions``) importable, before ``existing`` entries."""
    return os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT), *([existing] if existing else [])])


@dataclass
class RunningServer:
    """A ``python -m devserver`` child process: its base URL and its log so far (stderr lines)."""

    url: str
    process: subprocess.Popen[str]
    log_lines: list[str]

    @property
    def log(self) -> str:
        """Everything the server logged so far."""
        return "".join(self.log_lines)


@contextmanager
def serve_in_subprocess(
    port: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    endpoint_url: str | None = None,
    *,
    store: str = "moto",
    data_dir: Path | None = None,
    workers: int | None = None,
) -> Iterator[RunningServer]:
    """Run ``python -m devserver`` in a child process on ``port`` (0: a free one) and yield it once it
    serves; terminate it (SIGTERM, then kill after 20 s) on the way out.

    ``store`` is ``moto`` (the default here: fast to start; ``MOTO_MAX_ITEMS`` in ``env`` bounds it),
    ``memory`` (its own DynamoDB Local in memory) or ``dynamodb-local`` (its own DynamoDB Local, persistent
    in ``data_dir``); ``endpoint_url`` is another DynamoDB (a shared DynamoDB Local)
    instead. The child never inherits this process's ``AWS_ENDPOINT_URL_DYNAMODB``. ``workers`` bounds its
    API instances. Raises ``RuntimeError`` when it exits or does not serve within ``timeout`` seconds.
    """
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = layer_pythonpath()
    child_env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    child_env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    command = [sys.executable, "-m", "devserver", "--port", str(port), "--host", "127.0.0.1", "--store", store]
    if endpoint_url:
        command += ["--endpoint-url", endpoint_url]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    if workers is not None:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = process.stderr
    assert stderr is not None
    lines: list[str] = []
    urls: list[str] = []
    settled = threading.Event()

    def drain() -> None:
        # Reads the whole log (so the child never blocks on a full pipe) and spots the URL line.
        for line in iter(stderr.readline, ""):
            lines.append(line)
            found = _URL_LINE.search(line)
            if found and not urls:
                urls.append(found.group(1))
                settled.set()
        settled.set()

    drainer = threading.Thread(target=drain, name="devserver-log", daemon=True)
    drainer.start()
    try:
        if not settled.wait(timeout):
            raise RuntimeError(f"devserver did not start in {timeout} s:\n" + "".join(lines))
        if not urls:
            process.wait(10)
            raise RuntimeError("devserver exited before serving:\n" + "".join(lines))
        yield RunningServer(urls[0], process, lines)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        drainer.join(5)
