"""The cursor signing key (issue 9, defect 8): read at run time from Secrets Manager, never in the
function configuration; only the listing functions may read it, once per cold start."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from devserver.template import load_template, routes
from session_service import wiring
from session_service.cursor import CursorCodec
from session_service.settings import Settings

USER = "edge_secret_user"
KEY = "a-cursor-key-from-secrets-manager-0123456789"
LISTINGS = {"ListUserSessionsFunction", "ListNamespaceSessionsFunction", "ListMessagesFunction", "ListMemoriesFunction"}
OFFSET_LISTINGS = {"ListAgentMessagesFunction"}
"""Listings that page by a position (``offset``, ``next_offset``), not by a signed cursor."""
CURSOR_READERS = LISTINGS | {"ExportUserFunction", "GetNamespaceUsageFunction"}
"""The functions that sign or read a ``next_token``: the listings, the export (its ``Next-Token``) and a namespace's
usage by user (paged)."""


@pytest.fixture
def secret_arn(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Secrets Manager secret (moto) named by ``CURSOR_SECRET_ARN``, with ``CURSOR_SECRET`` unset; deleted
    afterwards (the module's tests share one moto mock)."""
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="cursor-key", SecretString=KEY)["ARN"]
    monkeypatch.delenv("CURSOR_SECRET")
    monkeypatch.setenv("CURSOR_SECRET_ARN", arn)
    wiring.reset()
    yield arn
    wiring.reset()
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names passed to Powertools' ``get_secret``, in order."""
    from aws_lambda_powertools.utilities import parameters

    calls: list[str] = []
    real = parameters.get_secret

    def counting(name: str, **options: Any) -> Any:
        calls.append(name)
        return real(name, **options)

    monkeypatch.setattr(parameters, "get_secret", counting)
    return calls


def list_sessions(api: Any, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", f"/api/v1/users/{USER}/sessions", query=query)
    return status, body


def test_the_key_is_read_from_secrets_manager_once_per_process(
    api: Any, new_session: Any, secret_arn: str, secret_reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three sessions and a key that only Secrets Manager holds
    for _ in range(3):
        new_session(USER)
    assert secret_reads == []  # creating sessions never needs the key
    # When the listing pages through them
    status, first = list_sessions(api, page_size=1)
    assert status == 200 and first["next_token"]
    status, second = list_sessions(api, page_size=1, next_token=first["next_token"])
    assert status == 200 and second["next_token"]
    # Then the key was read once, and the cursors are signed with the secret's value: a process holding that
    # value as CURSOR_SECRET accepts them, one with another key does not
    assert secret_reads == [secret_arn]
    for key, status in ((KEY, 200), ("another-key-0123456789", 400)):
        monkeypatch.setenv("CURSOR_SECRET", key)
        wiring.reset()
        assert list_sessions(api, page_size=1, next_token=first["next_token"])[0] == status, key
    assert secret_reads == [secret_arn]


def test_the_codec_reads_a_lazy_key_on_the_first_cursor_and_after_a_failure() -> None:
    calls: list[int] = []

    def key() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("unavailable")
        return KEY

    codec = CursorCodec(key)
    assert calls == []
    with pytest.raises(RuntimeError):
        codec.encode("scope", {"k": 1})
    token = codec.encode("scope", {"k": 1})
    assert codec.decode("scope", token) == {"k": 1}
    assert CursorCodec(KEY).decode("scope", token) == {"k": 1}
    assert len(calls) == 2


def test_handlers_that_do_not_page_never_read_the_key(
    api: Any, new_session: Any, secret_arn: str, secret_reads: list[str]
) -> None:
    sid = new_session(USER)["session_id"]
    q = {"user_id": USER}
    assert api("GET", f"/api/v1/sessions/{sid}", query=q)[0] == 200
    assert api("PUT", f"/api/v1/sessions/{sid}", query=q, json_body={"title": "t"})[0] == 200
    message = {"role": "user", "content": "x"}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query=q, json_body=message)[0] == 201
    assert api("GET", f"/api/v1/sessions/{sid}/summary", query=q)[0] == 200
    assert secret_reads == []


def test_an_unreadable_secret_is_503_and_is_retried(
    api: Any, new_session: Any, monkeypatch: pytest.MonkeyPatch, secret_reads: list[str]
) -> None:
    new_session(USER)
    new_session(USER)  # two sessions: a page of one needs a cursor for the next
    monkeypatch.delenv("CURSOR_SECRET")
    monkeypatch.setenv("CURSOR_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
    wiring.reset()
    try:
        for _ in range(2):
            status, body, headers = api("GET", f"/api/v1/users/{USER}/sessions", query={"page_size": 1})
            assert status == 503, body
            assert headers.get("Retry-After")
        assert len(secret_reads) == 2  # a failure is not cached
    finally:
        wiring.reset()


def test_settings_need_one_source_of_the_key() -> None:
    base = {"TABLE_NAME": "t-table"}
    assert Settings.from_env({**base, "CURSOR_SECRET_ARN": "arn:x"}).cursor_secret_arn == "arn:x"
    assert Settings.from_env({**base, "CURSOR_SECRET": "k" * 16}).cursor_secret == "k" * 16
    with pytest.raises(ValidationError, match="CURSOR_SECRET_ARN"):
        Settings.from_env(base)


def test_a_literal_key_wins_for_local_use(ddb: Any, monkeypatch: pytest.MonkeyPatch, secret_reads: list[str]) -> None:
    monkeypatch.setenv("CURSOR_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:unused-AbCdEf")
    wiring.reset()
    try:
        assert wiring.cursor_key() == os.environ["CURSOR_SECRET"]
        assert secret_reads == []
    finally:
        wiring.reset()


# -- template ---------------------------------------------------------------------------------------------


def test_no_function_configuration_holds_the_key() -> None:
    template = load_template()
    text = json.dumps(template)
    assert "resolve:secretsmanager" not in text
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert "CURSOR_SECRET" not in variables
    assert variables["CURSOR_SECRET_ARN"] == {"Ref": "CursorSecret"}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            own = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
            assert "CURSOR_SECRET" not in own, name


def _secret_statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if any(str(action).startswith("secretsmanager:") for action in statement.get("Action", []))
    ] + [
        policy
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict) and any(key.startswith("AWSSecretsManager") for key in policy)
    ]


def test_only_the_functions_with_cursors_may_read_the_key_and_only_that_secret() -> None:
    resources = load_template()["Resources"]
    listing_routes = {r.function for r in routes() if r.method == "GET" and r.code_dir.name.startswith("list_")}
    assert listing_routes == LISTINGS | OFFSET_LISTINGS
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        statements = _secret_statements(resource)
        if name in CURSOR_READERS:
            assert statements == [
                {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": "CursorSecret"}}
            ], name
        else:
            assert statements == [], name
