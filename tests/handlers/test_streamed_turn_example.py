"""The streamed chat turn of docs/api.md runs as written, its ``httpx`` requests answered by the handlers in-process."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devserver.lambda_runtime import invoke_route
from devserver.template import ROOT

pytestmark = pytest.mark.fresh_table


API_DOC = ROOT / "docs" / "api.md"


def streamed_turn_example() -> str:
    """The Python block under docs/api.md's "A streamed chat turn"."""
    text = API_DOC.read_text(encoding="utf-8")
    assert "## A streamed chat turn" in text, "docs/api.md has no section 'A streamed chat turn'"
    section = text.split("## A streamed chat turn", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/api.md has no Python block under 'A streamed chat turn'"
    return match.group(1)


def _through_the_handlers(request: httpx.Request) -> httpx.Response:
    query: dict[str, list[str]] = {}
    for name, value in request.url.params.multi_items():
        query.setdefault(name, []).append(value)
    response = invoke_route(
        request.method, request.url.path, query=query, headers=dict(request.headers), body=request.content or None
    )
    body = response.get("body") or ""
    content = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return httpx.Response(int(response["statusCode"]), headers=response.get("headers") or {}, content=content)


def test_the_streamed_chat_turn_of_the_api_doc(
    table: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clients: list[httpx.Client] = []
    real_client = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        clients.append(real_client(transport=httpx.MockTransport(_through_the_handlers), **kwargs))
        return clients[-1]

    monkeypatch.setattr(httpx, "Client", client)
    scope: dict[str, Any] = {}
    exec(compile(streamed_turn_example(), "docs/api.md", "exec"), scope)  # noqa: S102 - our own documentation
    assert capsys.readouterr().out == "Once upon a time.\n"

    (api,) = clients
    params = scope["user"]
    listed = api.get(f"/sessions/{scope['sid']}/messages", params=params).json()["messages"]
    assert [(m["role"], m["status"], m["content"], m["model"]) for m in listed] == [
        ("user", "completed", "Tell me a story", scope["llm"]["model"]),
        ("assistant", "completed", "Once upon a time.", scope["llm"]["model"]),
    ]
    session = api.get(f"/sessions/{scope['sid']}", params=params).json()
    assert (session["message_count"], session["total_tokens"]) == (2, 16)
    assert Decimal(str(session["total_cost"])) == Decimal("0.00036")
    # The reply's create retried late (its answer was lost): 200 with the reply as stored now, nothing written.
    retried = api.post(f"/sessions/{scope['sid']}/messages", params=params, json=scope["reply"])
    assert (retried.status_code, retried.json()) == (200, listed[1])
    assert api.get(f"/sessions/{scope['sid']}", params=params).json()["message_count"] == 2
