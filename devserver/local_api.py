"""The template's API as a function of a request: each route answered by its own Lambda handler.

:class:`LocalApi` matches a request against the routes of ``template.yaml`` (API Gateway's precedence),
turns it into an API Gateway REST proxy event for that route's ``lambda_handler``, runs it through an
:class:`~devserver.instances.Invoker`, and turns the proxy response back into an :class:`HttpResponse` as
API Gateway merges it. It also serves ``/openapi.json`` and ``/docs`` (Swagger UI, offline), and sends ``/``
to ``/docs`` (locally only: the deployed API has no route at ``/``). It knows
nothing of sockets (:mod:`devserver.http_server`) or of the store and processes (:mod:`devserver.server`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devserver.instances import InProcess, InvocationError, Invoker
from devserver.lambda_runtime import load_handler_module, rest_event
from devserver.template import Route, routes

log = logging.getLogger("devserver")

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}

_DOC_PATHS = {"/openapi.json", "/docs", "/docs/", "/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css"}

_WRITES = {"POST", "PUT", "PATCH"}
"""The methods a bounded store refuses when full: those that add items (a DELETE frees them)."""

INVOKE_LOCK = threading.Lock()
"""One invocation at a time in this process (the moto store's single instance, and building the OpenAPI
document): Powertools resolvers keep the current event on the module-level ``app``, the layer's logger
and metrics are process-wide, and moto is not thread-safe (the stream poller takes it too)."""


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
    time); also serves ``/openapi.json`` and ``/docs``. ``write_refusal``, when given, is asked before each
    POST, PUT and PATCH: a reason it returns is answered 503 with that reason as ``detail``, and the
    handler is not run (a store that is full)."""

    def __init__(
        self,
        api_routes: tuple[Route, ...] | None = None,
        stage: str = "local",
        invoker: Invoker | None = None,
        write_refusal: Callable[[], str | None] | None = None,
    ) -> None:
        self.routes = api_routes if api_routes is not None else routes()
        self.stage = stage
        self.invoker: Invoker = invoker or InProcess(INVOKE_LOCK)
        self.write_refusal = write_refusal
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
        if method in ("GET", "HEAD") and path == "/":
            return HttpResponse(HTTPStatus.FOUND, [("Location", "/docs")])
        allowed: list[str] = []
        for route in self.routes:
            # Match the raw path so an encoded "/" (%2F) stays inside its path parameter.
            params = route.pattern.fullmatch(raw_path)
            if params is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            if method in _WRITES and self.write_refusal is not None and (reason := self.write_refusal()):
                log.warning("%s %s refused: %s", method, path, reason)
                return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"detail": reason})
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
