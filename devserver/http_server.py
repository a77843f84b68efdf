"""HTTP/1.1 in front of :class:`~devserver.local_api.LocalApi`: read a request, answer it, log one line.

Bodies are read whole (``Content-Length`` or chunked, at most API Gateway's 10 MB), every method is routed
(a known path answers 405, not the stock 501), malformed requests get a JSON ``detail`` like everything
else, and each response leaves in one write with ``TCP_NODELAY`` (no Nagle delay on a kept-alive
connection). :func:`http_server` binds the socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from devserver.local_api import HttpResponse, LocalApi, json_response

log = logging.getLogger("devserver")

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB); larger requests get 413 before reaching a handler."""


class RequestHandler(BaseHTTPRequestHandler):
    """Reads a request, hands it to :class:`LocalApi`, writes the answer, logs one line."""

    protocol_version = "HTTP/1.1"
    server_version = "SessionServiceDev/1.0"
    api: LocalApi

    def setup(self) -> None:
        """Send small writes at once (no Nagle delay waiting for the client's delayed ACK)."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        started = time.perf_counter()
        method = self.command.upper()
        try:
            body = self._read_body()
            if isinstance(body, HttpResponse):
                response = body
            else:
                response = self.api.handle(method, self.path, list(self.headers.items()), body)
        except Exception:
            log.error("request failed:\n%s", traceback.format_exc())
            response = json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal server error"})
        self._write(response, head_only=method == "HEAD")
        elapsed = (time.perf_counter() - started) * 1000
        where = f" ({response.instance})" if response.instance else ""
        log.info("%s %s %d %.1fms%s", method, urlsplit(self.path).path, response.status, elapsed, where)

    def _read_body(self) -> bytes | HttpResponse:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        if not length_text.strip().isdigit():
            self.close_connection = True
            return json_response(HTTPStatus.BAD_REQUEST, {"detail": "Invalid Content-Length"})
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return json_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"detail": "Request too large"})
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | HttpResponse:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self.close_connection = True
                return json_response(HTTPStatus.BAD_REQUEST, {"detail": "Invalid chunked body"})
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                return json_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"detail": "Request too large"})
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, response: HttpResponse, *, head_only: bool = False) -> None:
        """Status line, headers and body in one write: two small writes on a kept-alive connection wait
        for the client's delayed ACK (Nagle), about 40 ms per response."""
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"{self.protocol_version} {response.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in response.headers),
            f"Content-Length: {len(response.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.wfile.write(head if head_only else head + response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, headers) get a JSON ``detail`` like everything else."""
        self.close_connection = True
        # An unparseable request line leaves HTTP/0.9, which would suppress the status line and headers.
        self.request_version = "HTTP/1.1"
        try:
            detail = message or HTTPStatus(code).phrase
        except ValueError:
            detail = "Error"
        self._write(json_response(code, {"detail": detail}))
        log.info("%s %s %d (malformed request)", getattr(self, "command", "-"), getattr(self, "path", "-"), code)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stock access log: :meth:`_handle` logs one line per request."""
        log.debug(format, *args)

    def __getattr__(self, name: str) -> Any:
        # Every method (TRACE, PROPFIND, ...) is routed: a known path answers 405, not the stock 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class HttpServer(ThreadingHTTPServer):
    """Threads per connection (daemons: a stop does not wait for idle kept-alive clients)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s:\n%s", client_address, traceback.format_exc())


def http_server(host: str, port: int, api: LocalApi | None = None) -> HttpServer:
    """A server bound to ``host:port`` (0: a free port, read back from ``server_port``) answering with
    ``api`` (given later with :func:`serve_api` when the socket is bound before the API exists). Raises
    ``OSError`` when the port is taken."""
    handler = type("RequestHandler", (RequestHandler,), {"api": api})
    return HttpServer((host, port), handler)


def serve_api(server: HttpServer, api: LocalApi) -> None:
    """Answer ``server``'s requests with ``api`` (before :meth:`~HttpServer.serve_forever`)."""
    server.RequestHandlerClass.api = api  # type: ignore[attr-defined]
