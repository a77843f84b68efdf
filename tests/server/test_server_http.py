"""The local server's HTTP side: on a kept-alive connection every response leaves in one write, with
TCP_NODELAY set, so no answer waits for the client's delayed ACK (Nagle; about 40 ms each before).

The figure itself (p50 of 50 GETs of ``/health`` on one connection) is printed by
``benchmarks/serve_concurrency.py``; here the mechanism is checked, independent of the machine's load.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devserver.http_server import HttpServer, RequestHandler
from devserver.local_api import LocalApi


class _CannedInvoker:
    """Answers every invocation with a fixed proxy response (no handler, no DynamoDB)."""

    def invoke(self, code_dir: Path, function: str, event: dict[str, Any]) -> tuple[Any, str]:
        body = json.dumps({"status": "healthy", "path": event["path"]}, separators=(",", ":"))
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}, "canned"

    def close(self) -> None:
        """Nothing to stop."""


class _Recorder:
    """Wraps a handler's ``wfile`` and keeps every ``write``."""

    def __init__(self, inner: Any, writes: list[bytes]) -> None:
        self._inner = inner
        self._writes = writes

    def write(self, data: bytes) -> int:
        self._writes.append(bytes(data))
        written: int = self._inner.write(data)
        return written

    def flush(self) -> None:
        self._inner.flush()

    def close(self) -> None:
        self._inner.close()

    @property
    def closed(self) -> bool:
        return bool(self._inner.closed)


@pytest.fixture
def recording_server() -> Iterator[tuple[int, list[bytes], list[int]]]:
    """An HTTP server on a free port whose handlers record their writes and their TCP_NODELAY setting."""
    writes: list[bytes] = []
    nodelay: list[int] = []

    class Recording(RequestHandler):
        api = LocalApi(invoker=_CannedInvoker())

        def setup(self) -> None:
            super().setup()
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            self.wfile = _Recorder(self.wfile, writes)  # type: ignore[assignment]

    server = HttpServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port, writes, nodelay
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_each_response_is_one_write_on_a_kept_alive_connection(
    recording_server: tuple[int, list[bytes], list[int]],
) -> None:
    port, writes, nodelay = recording_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for i in range(5):
            connection.request("GET", f"/health?i={i}")
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
            assert response.getheader("Connection") is None  # kept alive
            assert body == b'{"status":"healthy","path":"/health"}'
    finally:
        connection.close()

    assert nodelay == [1]  # one connection, Nagle off
    assert len(writes) == 5
    for write in writes:
        head, _, body = write.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nContent-Type: application/json\r\n" in head
        assert f"\r\nContent-Length: {len(body)}".encode() in head
        assert body == b'{"status":"healthy","path":"/health"}'


def test_head_and_errors_are_one_write_too(recording_server: tuple[int, list[bytes], list[int]]) -> None:
    port, writes, _ = recording_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("HEAD", "/health")
        head = connection.getresponse()
        assert head.read() == b""
        connection.request("GET", "/no/such/route")
        missing = connection.getresponse()
        assert missing.status == 404 and missing.read() == b'{"detail":"Not Found"}'
    finally:
        connection.close()
    assert len(writes) == 2
    assert writes[0].endswith(b"\r\n\r\n")  # HEAD: headers only, Content-Length of the body it would send
    assert writes[1].startswith(b"HTTP/1.1 404 Not Found\r\n") and writes[1].endswith(b'{"detail":"Not Found"}')
