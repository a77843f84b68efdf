"""The handler tier: each route's ``lambda_handler`` called in-process as API Gateway would, on moto.

Helpers the handler tests share are fixtures here (``api``, ``new_session``, ``table_items``, ...).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from devserver.lambda_runtime import invoke_route, response_json
from session_service import wiring
from session_service.http.params import session_etag
from session_service.models import SessionTag

SESSIONS = "/api/v1/sessions"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _dynamodb_error(code: str, status: int = 400) -> AWSResponse:
    """An HTTP answer DynamoDB gives for ``code`` (JSON 1.0 protocol)."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode()
    headers = {"x-amzn-RequestId": "fault", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status, headers, _Raw(body))


@pytest.fixture
def dynamodb_error() -> Callable[..., AWSResponse]:
    """``(code, status=400) -> the HTTP answer DynamoDB gives for that error code``, for ``before-send`` hooks."""
    return _dynamodb_error


class Api:
    """Calls handlers in-process the way API Gateway would, from an HTTP-like description."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: str | bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        if json_body is not None:
            body = json.dumps(json_body)
        multi = {
            k: [str(v).lower() if isinstance(v, bool) else str(v)] for k, v in (query or {}).items() if v is not None
        }
        response = invoke_route(method, path, query=multi, headers=headers, body=body, claims=claims)
        response_headers = dict(response.get("headers") or {})
        response_headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})
        if response_headers.get("Content-Type", "").startswith("application/x-ndjson"):
            return int(response["statusCode"]), response["body"], response_headers  # the export's text as sent
        return int(response["statusCode"]), response_json(response), response_headers

    @staticmethod
    def session_url(session_id: str, suffix: str = "") -> str:
        """``/api/v1/sessions/<session_id><suffix>``."""
        return f"{SESSIONS}/{session_id}{suffix}"


@pytest.fixture
def api(table: str) -> Api:
    """Call the API through the template's routes and each route's own handler."""
    return Api()


@pytest.fixture
def api_without_table() -> Api:
    """The same caller, with no table set up (for the tests of a missing or unreachable table)."""
    return Api()


@pytest.fixture
def new_session(api: Api, user: str) -> Callable[..., dict[str, Any]]:
    """``new_session(user_id=None, **fields)``: create a session (by default of the test's ``user``) and return
    its JSON."""

    def make(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
        status, body, _ = api("POST", SESSIONS, json_body={"user_id": user_id or user, **fields})
        assert status == 201, body
        return body

    return make


@pytest.fixture
def etag_of() -> Callable[[int, dict[str, Any]], str]:
    """``etag_of(version, session)``: the ETag the service gives the session ``session`` (its JSON, whose
    ``created_at`` is its incarnation) at ``version``, or one of its state documents at that version."""

    def make(version: int, session: dict[str, Any]) -> str:
        return session_etag(SessionTag(version, datetime.fromisoformat(session["created_at"])))

    return make


class LoseOnce:
    """Makes the next TransactWriteItems lose its answer after DynamoDB applied it."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, model: Any, **_: Any) -> None:
        if self.armed and model.name == "TransactWriteItems":
            self.armed = False
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@pytest.fixture
def lose(repo: Any) -> Iterator[LoseOnce]:
    """A :class:`LoseOnce` on the handlers' DynamoDB client: ``lose.armed = True`` loses the next transaction's
    answer."""
    hook = LoseOnce()
    events = wiring.dynamodb_client().meta.events
    events.register("after-call.dynamodb", hook)
    yield hook
    events.unregister("after-call.dynamodb", hook)


@pytest.fixture
def authorizer_on(monkeypatch: pytest.MonkeyPatch, ddb: Any) -> Iterator[None]:
    """Deployed as prod: the API Gateway authorizer verifies the caller, and the group ``service`` is trusted (a
    backend acting for users: namespaces' listings, usage and state)."""
    monkeypatch.setenv("AUTHORIZER_ENABLED", "true")
    monkeypatch.setenv("TRUSTED_GROUPS", "service")
    wiring.settings.cache_clear()
    yield
    wiring.settings.cache_clear()


@pytest.fixture
def table_items(ddb: Any) -> Callable[[], list[dict[str, Any]]]:
    """Every item of the test's table, sorted (a test-only Scan to prove that nothing was written).

    A test using it gets a table of its own (see ``table`` in ``tests/conftest.py``): the scan sees that
    test's items only.
    """

    def scan() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": wiring.settings().table_name, "ConsistentRead": True}
        while True:
            page = ddb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    return scan


def _assert_validation_error(status: int, body: Any, case: str = "") -> None:
    assert status == 422, (case, body)
    assert isinstance(body["detail"], list) and body["detail"], case
    for error in body["detail"]:
        assert set(error) >= {"type", "loc", "msg"}, case


@pytest.fixture
def assert_validation_error() -> Callable[..., None]:
    """``assert_validation_error(status, body, case="")``: a 422 with a non-empty ``detail`` list of errors."""
    return _assert_validation_error


@pytest.fixture
def assert_all_rejected(table_items: Callable[[], list[dict[str, Any]]]) -> Callable[..., None]:
    """``assert_all_rejected(cases, send, status=422)``: each bad input of ``cases`` (``(name, payload)``
    pairs), sent with ``send(payload) -> (status, body)``, answers ``status`` with a ``detail`` and leaves
    the table exactly as it was.

    The cases share one test (one table) to keep the suite fast; the failing case is named in the message.
    """

    def check(cases: list[tuple[str, Any]], send: Callable[[Any], tuple[int, Any]], status: int = 422) -> None:
        before = table_items()
        for case, payload in cases:
            code, body = send(payload)
            if status == 422:
                _assert_validation_error(code, body, case)
            else:
                assert code == status and body["detail"], (case, code, body)
            assert table_items() == before, case

    return check


@pytest.fixture
def advance_clock(monkeypatch: pytest.MonkeyPatch, repo: Any) -> Callable[[float], None]:
    """``advance_clock(seconds)``: move the handlers' repository clock forward (TTL deletion runs days late;
    reads must not wait for it).

    ``SessionRepository`` takes its clock as a constructor argument, but the handlers get theirs from
    ``wiring.repository()``, which has no way to pass one: so the cached repository's store gets another clock.
    """

    def advance(seconds: float) -> None:
        later = datetime.now(UTC) + timedelta(seconds=seconds)
        monkeypatch.setattr(repo, "_store", dataclasses.replace(repo._store, clock=lambda: later))

    return advance
