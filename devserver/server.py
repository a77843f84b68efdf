"""The local server behind ``make serve``: the template's API, each route served by its own Lambda handler.

Every HTTP request becomes an API Gateway REST proxy event handed in-process to the ``lambda_handler`` of
the function ``template.yaml`` routes it to; the proxy response is written back. DynamoDB is moto,
in-process, unless an endpoint (DynamoDB Local, or AWS) is given; the table comes from ``template.yaml``
and its stream is delivered to the stream function (:mod:`devserver.streams`). ``/openapi.json`` and
``/docs`` (Swagger UI, offline) describe the API.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devserver.lambda_runtime import LambdaContext, load_handler_module, rest_event
from devserver.template import ROOT, Route, create_table, load_template, routes, stream_function_dir

log = logging.getLogger("devserver")

DEFAULT_PORT = 8205
DEFAULT_TABLE = "session-service-local"
MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB); larger requests get 413 before reaching a handler."""

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}

_DOC_PATHS = {"/openapi.json", "/docs", "/docs/", "/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css"}

INVOKE_LOCK = threading.Lock()
"""One invocation at a time, as one Lambda instance runs them: Powertools resolvers keep the current
event on the module-level ``app``, the layer's logger and metrics are process-wide, and moto is not
thread-safe (the stream poller takes it too)."""


# -- environment ----------------------------------------------------------------------------------


def _template_environment() -> dict[str, str]:
    """The functions' ``Globals`` environment, with ``!Ref Parameter`` resolved to the parameter's default.

    Values that need a deployed stack (table name, secrets) and empty defaults are left out.
    """
    template = load_template()
    parameters = template.get("Parameters") or {}
    variables = ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
    env: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            value = parameters[value["Ref"]].get("Default")
        if isinstance(value, str | int | float | bool) and str(value) != "":
            env[name] = str(value)
    return env


def configure_environment(endpoint_url: str | None, table_name: str | None = None) -> dict[str, str]:
    """Set the process environment the handlers read, before any AWS client exists.

    Existing variables win. Embedded mode (``endpoint_url`` None) gets fake credentials; a local endpoint
    (DynamoDB Local) gets fake credentials only when none are set; AWS uses the usual credential chain.
    ``CURSOR_SECRET`` is random per process unless set. Returns the variables this call set.
    """
    wanted: dict[str, str] = {
        **_template_environment(),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": table_name or DEFAULT_TABLE,
        "CURSOR_SECRET": secrets.token_urlsafe(32),
        "POWERTOOLS_SERVICE_NAME": "session_service",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
        # No CloudWatch or X-Ray locally: metrics would print an EMF blob per request.
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AUTHORIZER_ENABLED": "false",
    }
    wanted["AWS_REGION"] = wanted["AWS_DEFAULT_REGION"]
    local_endpoint = endpoint_url is not None and urlsplit(endpoint_url).hostname in {"localhost", "127.0.0.1", "::1"}
    if endpoint_url is None or (local_endpoint and "AWS_ACCESS_KEY_ID" not in os.environ):
        wanted.update(
            {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
        )
    if table_name:
        os.environ["TABLE_NAME"] = table_name
    if endpoint_url is None:
        # The embedded table must not be confused with a real one the shell happens to point at.
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url
    applied = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(applied)
    return applied


def ensure_table(client: Any, table_name: str) -> bool:
    """Create ``table_name`` from ``template.yaml`` unless it exists. Returns True when it was created."""
    try:
        client.describe_table(TableName=table_name)
        return False
    except client.exceptions.ResourceNotFoundException:
        create_table(client, table_name)
        return True


def _stream_event_properties() -> dict[str, Any]:
    """``Properties`` of the template's ``DynamoDB`` stream event (batch size, retries, position)."""
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                return dict(event.get("Properties") or {})
    return {}


# -- requests ---------------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    """A response to write: status, header pairs (repeats allowed), body bytes."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    """A JSON response."""
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])], data)


def _proxy_to_http(response: Any) -> HttpResponse:
    """A Lambda proxy response as HTTP, as API Gateway merges ``headers`` and ``multiValueHeaders``.

    Raises ``ValueError`` for a malformed proxy response (API Gateway answers those with 502).
    """
    if not isinstance(response, dict) or "statusCode" not in response:
        raise ValueError("malformed Lambda proxy response")
    status = int(response["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"bad statusCode {status}")
    pairs: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    for name, values in multi.items():
        pairs.extend((name, str(v)) for v in values or [])
    seen = {name.lower() for name in multi}
    for name, value in (response.get("headers") or {}).items():
        if name.lower() not in seen:
            pairs.append((name, str(value)))
    pairs = [(k, v) for k, v in pairs if k.lower() not in _HOP_BY_HOP and "\n" not in v and "\r" not in v]
    body = response.get("body")
    if body is None:
        data = b""
    elif response.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = str(body).encode("utf-8")
    return HttpResponse(status, pairs, data)


class LocalApi:
    """Routes requests to the template's functions; also serves ``/openapi.json`` and ``/docs``."""

    def __init__(self, api_routes: tuple[Route, ...] | None = None, stage: str = "local") -> None:
        self.routes = api_routes if api_routes is not None else routes()
        self.stage = stage
        self._openapi: str | None = None

    def preload(self) -> None:
        """Import every handler module now, so the first requests are fast and import errors show early."""
        for code_dir in sorted({route.code_dir for route in self.routes}):
            try:
                load_handler_module(code_dir)
            except Exception:
                log.exception("handler %s does not import; its routes will answer 502", code_dir.name)

    def openapi_json(self) -> str:
        """The merged OpenAPI document of every handler (built once)."""
        if self._openapi is None:
            from devserver.openapi import build_document, dumps

            with INVOKE_LOCK:
                self._openapi = dumps(build_document())
        return self._openapi

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> HttpResponse:
        """Answer one request. Never raises: a handler failure is a 502, as in API Gateway."""
        split = urlsplit(target)
        raw_path = split.path or "/"
        path = unquote(raw_path, errors="replace")
        if method == "GET" and path in _DOC_PATHS:
            return self._docs(path, parse_qs(split.query))
        allowed: list[str] = []
        for route in self.routes:
            # Match the raw path so an encoded "/" (%2F) stays inside its path parameter.
            params = route.pattern.fullmatch(raw_path)
            if params is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            decoded = {k: unquote(v, errors="replace") for k, v in params.groupdict().items()}
            return self._invoke(route, method, path, decoded, split.query, headers, body)
        if allowed:
            return json_response(
                HTTPStatus.METHOD_NOT_ALLOWED, {"detail": "Method Not Allowed"}, [("Allow", ", ".join(sorted(allowed)))]
            )
        return json_response(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

    def _invoke(
        self,
        route: Route,
        method: str,
        path: str,
        path_parameters: dict[str, str],
        query_string: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> HttpResponse:
        query = parse_qs(query_string, keep_blank_values=True, errors="replace")
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        event = rest_event(
            method,
            path,
            resource=route.path,
            path_parameters=path_parameters,
            query=query,
            headers=single,
            body=body if body else None,
            stage=self.stage,
        )
        event["multiValueHeaders"] = multi or None
        try:
            handler = load_handler_module(route.code_dir).lambda_handler
            with INVOKE_LOCK:
                response = handler(event, LambdaContext(function_name=route.function))
            return _proxy_to_http(response)
        except Exception:
            log.error("%s failed on %s %s:\n%s", route.function, method, path, traceback.format_exc())
            return json_response(HTTPStatus.BAD_GATEWAY, {"detail": "Internal server error"})

    def _docs(self, path: str, query: dict[str, list[str]]) -> HttpResponse:
        from aws_lambda_powertools.event_handler.openapi import swagger_ui

        assets = Path(swagger_ui.__file__).parent
        if path.endswith(".js"):
            return HttpResponse(
                200, [("Content-Type", "text/javascript")], (assets / path.rsplit("/", 1)[1]).read_bytes()
            )
        if path.endswith(".css"):
            return HttpResponse(200, [("Content-Type", "text/css")], (assets / path.rsplit("/", 1)[1]).read_bytes())
        spec = self.openapi_json()
        if path == "/openapi.json" or query.get("format") == ["json"]:
            return HttpResponse(200, [("Content-Type", "application/json")], spec.encode("utf-8"))
        html = swagger_ui.generate_swagger_html(
            spec.replace("</", "<\\/"),
            "/docs/swagger-ui-bundle.min.js",
            "/docs/swagger-ui.min.css",
            "/docs",
            None,
        )
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], html.encode("utf-8"))


# -- HTTP -------------------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads a request, hands it to :class:`LocalApi`, writes the answer, logs one line."""

    protocol_version = "HTTP/1.1"
    server_version = "SessionServiceDev/1.0"
    api: LocalApi

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
        log.info("%s %s %d %.1fms", method, urlsplit(self.path).path, response.status, elapsed)

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
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head_only:
                self.wfile.write(response.body)
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s:\n%s", client_address, traceback.format_exc())


@dataclass
class DevServer:
    """The whole local stack: DynamoDB (embedded or not), the table, the stream poller and the HTTP server."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_url: str | None = None
    table_name: str | None = None
    streams: bool = True
    _mock: Any = field(default=None, init=False, repr=False)
    _poller: Any = field(default=None, init=False, repr=False)
    _http: _Server | None = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Bring everything up; returns the base URL (``http://host:port``). Raises ``OSError`` if the port
        is taken."""
        configure_environment(self.endpoint_url, self.table_name)
        if self.endpoint_url is None:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        import boto3

        from session_service import wiring

        wiring.reset()
        table = os.environ["TABLE_NAME"]
        region = os.environ["AWS_DEFAULT_REGION"]
        client = boto3.client("dynamodb", region_name=region, endpoint_url=self.endpoint_url)
        created = ensure_table(client, table)
        api = LocalApi()
        api.preload()
        if self.streams:
            self._start_streams(client, table, region)
        handler = type("RequestHandler", (_RequestHandler,), {"api": api})
        self._http = _Server((self.host, self.port), handler)
        host, port = self.host, self._http.server_port
        where = "embedded moto" if self.endpoint_url is None else self.endpoint_url
        log.info("DynamoDB: %s, table %s (%s)", where, table, "created" if created else "existing")
        url = f"http://{host}:{port}"
        log.info("Serving Session Service on %s (docs at %s/docs)", url, url)
        return url

    def _start_streams(self, client: Any, table: str, region: str) -> None:
        from devserver.streams import stream_poller_for_table

        try:
            code_dir = stream_function_dir()
            self._poller = stream_poller_for_table(
                client,
                table,
                code_dir,
                region=region,
                endpoint_url=self.endpoint_url,
                event_source=_stream_event_properties(),
                invoke_lock=INVOKE_LOCK,
            )
        except LookupError as exc:
            log.warning("no stream delivery: %s", exc)
            return
        self._poller.start()

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` or Ctrl-C."""
        assert self._http is not None, "start() first"
        self._http.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop the poller, close the socket, stop moto. Safe to call more than once."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._http is not None:
            self._http.server_close()
            self._http = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


# -- for tests --------------------------------------------------------------------------------------

_URL_LINE = re.compile(r"Serving Session Service on (http://\S+)")


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
    port: int = 0, env: dict[str, str] | None = None, timeout: float = 30.0, endpoint_url: str | None = None
) -> Iterator[RunningServer]:
    """Run ``python -m devserver`` in a child process on ``port`` (0: a free one) and yield it once it
    serves; terminate it (SIGTERM, then kill after 10 s) on the way out. ``endpoint_url`` is another
    DynamoDB (DynamoDB Local); by default the child uses its embedded moto, whatever this process points at.

    Raises ``RuntimeError`` when it exits or does not come up within ``timeout`` seconds.
    """
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    child_env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    child_env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    command = [sys.executable, "-m", "devserver", "--port", str(port), "--host", "127.0.0.1"]
    if endpoint_url:
        command += ["--endpoint-url", endpoint_url]
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
    url: str | None = None
    deadline = time.monotonic() + timeout
    while url is None:
        line = stderr.readline()
        if not line:
            process.wait(5)
            raise RuntimeError("devserver exited before serving:\n" + "".join(lines))
        lines.append(line)
        found = _URL_LINE.search(line)
        if found:
            url = found.group(1)
        elif time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("devserver did not start in time:\n" + "".join(lines))
    # Keep draining the log so the child never blocks on a full pipe.
    drainer = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
    drainer.start()
    try:
        yield RunningServer(url, process, lines)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        drainer.join(2)
