"""Least privilege that still works: every DynamoDB call a route's handler makes is allowed by the policies
template.yaml gives that route's function (IAM checks each action of a transaction, and a Query of an index
against the index's ARN: a function that finds a message by id through LSI1 needs ``dynamodb:Query`` on
``<table>/index/LSI1``, which moto, having no IAM, would never refuse).

One scenario drives every route of the template, including the paths that read more than the usual one (a
client-chosen ``message_id`` appended again, a streamed reply's chunks and finalization, a truncation).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devserver.template import load_template, route_for, routes
from session_service import wiring

pytestmark = pytest.mark.fresh_table

TABLE = "table"

SAM_POLICY_TEMPLATES: dict[str, set[str]] = {
    "DynamoDBReadPolicy": {"GetItem", "Scan", "Query", "BatchGetItem", "DescribeTable"},
    "DynamoDBCrudPolicy": {
        "GetItem", "DeleteItem", "PutItem", "Scan", "Query", "UpdateItem", "BatchWriteItem", "BatchGetItem",
        "DescribeTable", "ConditionCheckItem",
    },
}  # fmt: skip
"""The DynamoDB actions of the SAM policy templates used here (samtranslator's policy_templates.json); each
grants them on the table and on ``<table>/index/*``."""

TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _resource(node: Any) -> str:
    """``table``, ``table/index/<name>`` (or ``table/index/*``) for the template's references to SessionTable."""
    if node == {"Fn::GetAtt": ["SessionTable", "Arn"]}:
        return TABLE
    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str):
        text = node["Fn::Sub"]
        if text.startswith("${SessionTable.Arn}/"):
            return TABLE + text.removeprefix("${SessionTable.Arn}")
    return "other"


def granted(function: str) -> set[tuple[str, str]]:
    """The ``(action, resource)`` pairs on the session table the template's policies give ``function``."""
    pairs: set[tuple[str, str]] = set()
    for policy in load_template()["Resources"][function]["Properties"].get("Policies") or []:
        for name, actions in SAM_POLICY_TEMPLATES.items():
            if name in policy:
                pairs |= {(action, resource) for action in actions for resource in (TABLE, f"{TABLE}/index/*")}
        for statement in policy.get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                if action.startswith("dynamodb:"):
                    pairs |= {(action.removeprefix("dynamodb:"), _resource(r)) for r in resources}
    return pairs


def allows(pairs: set[tuple[str, str]], action: str, resource: str) -> bool:
    if (action, resource) in pairs:
        return True
    return resource.startswith(f"{TABLE}/index/") and (action, f"{TABLE}/index/*") in pairs


def needed(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The IAM ``(action, resource)`` pairs a DynamoDB call needs."""
    if operation == "TransactWriteItems":
        return [(TRANSACTION_ACTIONS[kind], TABLE) for item in params["TransactItems"] for kind in item]
    if operation == "TransactGetItems":
        return [("GetItem", TABLE) for _ in params["TransactItems"]]
    if operation in ("Query", "Scan") and params.get("IndexName"):
        return [(operation, f"{TABLE}/index/{params['IndexName']}")]
    return [(operation, TABLE)]


class Recorder:
    """The DynamoDB calls made while each route's handler ran, by the route's function."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: dict[str, list[tuple[str, str]]] = {}

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        assert self.function is not None, f"{model.name} outside a route"
        self.calls.setdefault(self.function, []).extend(needed(model.name, params))


@pytest.fixture
def recorder(repo: Any) -> Iterator[Recorder]:
    recording = Recorder()
    events = wiring.dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb", recording)
    yield recording
    events.unregister("before-parameter-build.dynamodb", recording)


def test_every_call_of_every_route_is_allowed_by_its_functions_policies(
    api: Any, recorder: Recorder, advance_clock: Any
) -> None:
    user = "policy_user"
    exercised: set[str] = set()
    headers: dict[str, str] = {}

    def call(method: str, path: str, status: int, body: Any = None, **query: Any) -> Any:
        route, _ = route_for(method, path)  # as API Gateway picks it (and the Api fixture)
        recorder.function = route.function
        code, answer, answered = api(method, path, query=query, json_body=body)
        headers.clear()
        headers.update(answered)
        recorder.function = None
        assert code == status, (method, path, answer)
        exercised.add(route.function)
        return answer

    call("GET", "/health", 200)
    call("GET", "/health/detailed", 200)
    sid = call("POST", "/api/v1/sessions", 201, {"user_id": user, "session_id": str(uuid.uuid4())})["session_id"]
    call("POST", "/api/v1/sessions", 200, {"user_id": user, "session_id": sid})
    session = f"/api/v1/sessions/{sid}"
    call("GET", session, 200, user_id=user)
    call("PUT", session, 200, {"title": "t", "metadata": {"a": 1}}, user_id=user)
    call("GET", f"{session}/summary", 200, user_id=user)
    call("GET", f"/api/v1/users/{user}/sessions", 200)

    mid = str(uuid.uuid4())
    first = {"role": "user", "content": "hi", "message_id": mid, "provider": "p", "model": "m", "tokens_used": 2}
    call("POST", f"{session}/messages", 201, first, user_id=user)
    call("POST", f"{session}/messages", 200, first, user_id=user)  # found by id through LSI1
    call("POST", f"{session}/messages", 409, {**first, "content": "other"}, user_id=user)
    batch = {"messages": [{"role": "user", "content": f"b{i}", "message_id": str(uuid.uuid4())} for i in range(3)]}
    call("POST", f"{session}/messages:batch", 201, batch, user_id=user)
    call("POST", f"{session}/messages:batch", 200, batch, user_id=user)
    reply = {"role": "assistant", "content": "", "status": "in_progress"}
    rid = call("POST", f"{session}/messages", 201, reply, user_id=user)["message_id"]
    for index in range(2):
        call("POST", f"{session}/messages/{rid}/chunks", 200, {"index": index, "content": f"c{index}"}, user_id=user)
    call("POST", f"{session}/messages/{rid}/chunks", 200, {"index": 0, "content": "c0"}, user_id=user)
    call("GET", f"{session}/messages/{rid}", 200, user_id=user)
    call("GET", f"{session}/messages", 200, user_id=user)
    call("GET", f"{session}/context", 200, user_id=user)
    call("PATCH", f"{session}/messages/{rid}", 200, {"status": "completed", "tokens_used": 3}, user_id=user)
    call("POST", f"{session}/messages/{rid}/chunks", 409, {"index": 2, "content": "late"}, user_id=user)
    call("PATCH", f"{session}/messages/{mid}", 200, {"content": "edited", "tokens_used": 5}, user_id=user)
    call("DELETE", f"{session}/messages/{batch['messages'][0]['message_id']}", 200, user_id=user)
    call("DELETE", f"{session}/messages", 200, user_id=user, after=mid)
    tool = {"role": "tool", "data": {"output": 1}, "message_id": str(uuid.uuid4())}
    call("POST", f"{session}/messages", 201, tool, user_id=user)
    call("POST", f"{session}/messages:pop", 200, {"count": 2}, user_id=user)  # with their MID# reservations
    call("POST", f"{session}/messages", 201, {"role": "user", "content": "again"}, user_id=user)
    call("POST", f"{session}/messages:clear", 200, user_id=user)
    call("GET", f"{session}/state", 200, user_id=user)
    call("PATCH", f"{session}/state", 200, {"set": {"a": 1}, "remove": ["b"]}, user_id=user)
    call("PUT", f"{session}/agents/planner", 201, {"state": {"goal": "x"}}, user_id=user)
    call("GET", f"{session}/agents/planner", 200, user_id=user)
    call("PATCH", f"{session}/agents/planner", 200, {"set": {"step": 1}}, user_id=user)
    turn = {"role": "assistant", "content": "t", "agent_id": "planner", "state": {"set": {"step": 2}}}
    call("POST", f"{session}/messages", 201, turn, user_id=user)  # the agent's count and state in the append
    # Namespaces, user and namespace state, in an append's transaction too.
    ns_sid = call("POST", "/api/v1/sessions", 201, {"user_id": user, "namespace": "policy-ns"})["session_id"]
    call("GET", f"/api/v1/users/{user}/sessions", 200, namespace="policy-ns")
    call("GET", "/api/v1/namespaces/policy-ns/sessions", 200)
    call("PATCH", f"/api/v1/users/{user}/state", 200, {"set": {"u": 1}}, namespace="policy-ns")
    call("GET", f"/api/v1/users/{user}/state", 200, namespace="policy-ns")
    call("PATCH", "/api/v1/namespaces/policy-ns/state", 200, {"set": {"n": 1}})
    call("GET", "/api/v1/namespaces/policy-ns/state", 200)
    shared = {"role": "user", "content": "s", "user_state": {"set": {"u": 2}}, "namespace_state": {"set": {"n": 2}}}
    call("POST", f"/api/v1/sessions/{ns_sid}/messages", 201, shared, user_id=user)
    shared_batch = {"messages": [{"role": "user", "content": "b"}], "user_state": {"set": {"u": 3}}}
    call("POST", f"/api/v1/sessions/{ns_sid}/messages:batch", 201, shared_batch, user_id=user)
    call("GET", f"/api/v1/sessions/{ns_sid}/state/merged", 200, user_id=user)
    call("GET", f"{session}/agents/planner/messages", 200, user_id=user, offset=0)
    call("GET", f"{session}/agents/planner/messages/0", 200, user_id=user)
    call("PATCH", f"{session}/agents/planner/messages/0", 200, {"content": "redacted"}, user_id=user)
    call("POST", f"{session}/memory", 201, {"memory_type": "entity", "content": "x"}, user_id=user)
    call("GET", f"{session}/memory", 200, user_id=user)
    call("GET", "/api/v1/sessions/stats", 200)
    call("GET", f"/api/v1/users/{user}/usage", 200, user_id=user)
    call("GET", "/api/v1/namespaces/policy-ns/usage", 200)
    export = f"/api/v1/users/{user}/export"
    call("GET", export, 200, page_size=1)  # GSI1, the session's partition (its messages were cleared)
    call("GET", export, 200, page_size=100, next_token=headers["Next-Token"])  # resumed: the hot item, memory
    call("HEAD", session, 200, user_id=user)
    call("DELETE", session, 200, user_id=user)
    call("DELETE", session, 200, user_id=user, permanent=True)
    call("HEAD", session, 404, user_id=user)
    batch_ids = [str(uuid.uuid4()) for _ in range(2)]
    sessions = {"sessions": [{"user_id": user, "session_id": i} for i in [sid, *batch_ids]]}  # takes over sid
    call("POST", "/api/v1/sessions:batch", 201, sessions, user_id=user)
    call("POST", "/api/v1/sessions:batch", 409, sessions, user_id=user)
    call("POST", "/api/v1/sessions:batchDelete", 200, {"session_ids": [sid, *batch_ids]}, user_id=user)
    call("GET", f"/api/v1/users/{user}/erasure", 404, user_id=user)
    call("DELETE", f"/api/v1/users/{user}", 202, user_id=user)
    call("DELETE", f"/api/v1/users/{user}", 202, user_id=user)
    call("GET", f"/api/v1/users/{user}/erasure", 200, user_id=user)
    advance_clock(3600)  # the erasure's progress stalls (no stream here): the user's next requests nudge it
    call("GET", f"/api/v1/users/{user}/erasure", 200, user_id=user)
    advance_clock(7200)
    call("DELETE", f"/api/v1/users/{user}", 202, user_id=user)

    assert exercised == {route.function for route in routes()}, "the scenario must drive every route"
    refused = {
        function: sorted({pair for pair in pairs if not allows(granted(function), *pair)})
        for function, pairs in recorder.calls.items()
    }
    assert {function: pairs for function, pairs in refused.items() if pairs} == {}


def test_the_checker_refuses_what_a_policy_lacks() -> None:
    """The check above can fail: a function without the index's ARN may not Query LSI1."""
    reader = granted("GetSessionFunction")  # DynamoDBReadPolicy: table and index/*
    assert allows(reader, "Query", "table/index/LSI1") and not allows(reader, "UpdateItem", TABLE)
    end = granted("EndSessionFunction")  # an inline statement on the table alone
    assert allows(end, "Query", TABLE) and not allows(end, "Query", "table/index/LSI1")
    writes = needed("TransactWriteItems", {"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}]})
    assert writes == [("PutItem", TABLE), ("UpdateItem", TABLE), ("ConditionCheckItem", TABLE)]
