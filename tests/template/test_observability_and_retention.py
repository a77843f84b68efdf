"""template.yaml's observability resources (the functions' log group and the API's access logs with a retention,
API Gateway's logging role, the dashboard) and the parameter that chooses what a stack deletion does to the
table. ``make validate`` (``sam validate --lint`` and cfn-lint on each rendered variant) checks them as
CloudFormation will; these tests state what they are for."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devserver.render import render
from devserver.template import ROOT, load_template

OBSERVABILITY = ROOT / "layers" / "common" / "session_service" / "observability.py"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_every_function_logs_to_one_group_kept_log_retention_days(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert template["Globals"]["Function"]["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogGroup"}}
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions and all("LoggingConfig" not in r["Properties"] for r in functions)
    for name in ("FunctionLogGroup", "ApiAccessLogGroup"):
        assert resources[name]["Type"] == "AWS::Logs::LogGroup"
        assert resources[name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]


def test_the_api_writes_access_logs_once_the_accounts_logging_role_is_set(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    api = resources["SessionApi"]
    setting = api["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(setting["Format"])  # one JSON object per request
    assert {"requestId", "caller", "resourcePath", "status", "responseLatency"} <= set(fields)
    assert api["DependsOn"] == "ApiGatewayAccount"
    account = resources["ApiGatewayAccount"]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    # Account-wide: a teardown must not take the role other APIs log through.
    assert account["DeletionPolicy"] == resources["ApiGatewayCloudWatchRole"]["DeletionPolicy"] == "Retain"


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "X", text))
    return body


def test_the_dashboard_shows_the_api_the_business_metrics_the_stream_and_the_request_lines(
    template: dict[str, Any],
) -> None:
    widgets = dashboard_body(template)["widgets"]
    text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    recorded = set(re.findall(r'add_metric\(name="(\w+)"', OBSERVABILITY.read_text(encoding="utf-8")))
    assert recorded == {"MessagesAppended", "MessageTokens", "MessageCostUSD"}
    for metric in [*recorded, "SessionsCreated", "5XXError", "IteratorAge", "ThrottledRequests"]:
        assert f'"{metric}"' in text, metric
    # The business metrics with the dimensions the functions publish (service, stage)
    assert '"SessionService", "SessionsCreated", "service", "session_service", "stage", "${Stage}"' in text
    (logs,) = [widget for widget in widgets if widget["type"] == "log"]
    assert "SOURCE '${FunctionLogGroup}'" in text and "filter message = 'Request'" in logs["properties"]["query"]
    outputs = template["Outputs"]
    assert {"DashboardUrl", "FunctionLogGroupName", "ApiAccessLogGroupName"} <= set(outputs)


def test_the_table_is_retained_unless_the_stack_says_delete(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["TableDeletionPolicy"]
    assert parameter["Default"] == "Retain" and parameter["AllowedValues"] == ["Retain", "Delete"]
    table = template["Resources"]["SessionTable"]
    assert table["DeletionPolicy"] == {"Ref": "TableDeletionPolicy"}  # AWS::LanguageExtensions resolves it
    assert table["UpdateReplacePolicy"] == "Retain"  # a replacement never drops the data
    assert "AWS::LanguageExtensions" in template["Transform"]

    def rendered(parameters: dict[str, str]) -> Any:
        return render({"AuthorizerEnabled": "false", **parameters})["Resources"]["SessionTable"]["DeletionPolicy"]

    assert rendered({}) == "Retain"
    assert rendered({"TableDeletionPolicy": "Delete"}) == "Delete"
