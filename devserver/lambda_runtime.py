"""Just enough of Lambda to run the functions in-process: handler loading, a context, proxy events."""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any


@cache
def load_handler_module(code_dir: Path) -> ModuleType:
    """Import ``<code_dir>/app.py`` under a name of its own (every handler module is called ``app``)."""
    name = f"lambda_fn_{code_dir.name}"
    spec = importlib.util.spec_from_file_location(name, code_dir / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler in {code_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name: str = "local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def rest_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    claims: dict[str, Any] | None = None,
    stage: str = "local",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as API Gateway would send it for this request.

    ``query`` maps a name to all its values; ``claims`` stands for a Cognito authorizer's verified claims.
    Bodies that are not UTF-8 text are passed base64-encoded, as API Gateway does for binary media.
    """
    query = query or {}
    headers = headers or {}
    is_base64 = False
    if isinstance(body, bytes):
        raw = body
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(raw).decode("ascii"), True
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "resourcePath": resource or path,
        "httpMethod": method.upper(),
        "path": f"/{stage}{path}",
        "stage": stage,
        "requestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "accountId": "123456789012",
        "apiId": "local",
        "protocol": "HTTP/1.1",
        "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def response_json(response: dict[str, Any]) -> Any:
    """The decoded JSON body of a proxy response."""
    body = response.get("body") or "null"
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body)


def invoke_route(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``method path`` through the ``lambda_handler`` that ``template.yaml`` routes it to, with the event API
    Gateway would send (:func:`rest_event`; JSON ``Content-Type`` unless ``headers`` say otherwise), and return
    the Lambda proxy response. Raises ``LookupError`` when no route serves it."""
    from devserver.template import route_for

    route, params = route_for(method, path)
    event = rest_event(
        method,
        path,
        resource=route.path,
        path_parameters=params,
        query=query,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=body,
        claims=claims,
    )
    response: dict[str, Any] = load_handler_module(route.code_dir).lambda_handler(event, LambdaContext())
    return response
