"""template.yaml: structure (routes, least privilege, table, stream, alarms, outputs) and the SAM toolchain.

``sam validate --lint`` and cfn-lint cannot read template.yaml itself: their SAM translator does not run
``AWS::LanguageExtensions``, so the API's ``Auth: !If [...]`` fails (aws/serverless-application-model#1859).
They check each variant CloudFormation would produce instead (``devserver.render``: authorizer on, off).
``sam build`` runs on the real template as a packaging check. The SAM CLI lives in ``.venv-sam``
(``SAM_CLI`` overrides); ``make test`` always provides it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devserver.render import dump, render
from devserver.template import ROOT, load_template, routes

SAM_CLI = Path(os.environ.get("SAM_CLI", ROOT / ".venv-sam" / "bin" / "sam"))
CFN_LINT = SAM_CLI.parent / "cfn-lint"
VARIANTS = {"authorizer-on": {"AuthorizerEnabled": "true"}, "authorizer-off": {"AuthorizerEnabled": "false"}}
BUILD_PYTHON = "3.13"
"""The functions' runtime (python3.13): `sam build` needs that interpreter on PATH."""
TOOL_TIMEOUT = 180
"""Seconds one SAM CLI or cfn-lint run may take."""

WRITE_ACTION = re.compile(r"^dynamodb:(Put|Update|Delete|BatchWrite|TransactWrite|PartiQL(Insert|Update|Delete)|\*)")
READ_ONLY_POLICY_TEMPLATES = {"DynamoDBReadPolicy"}

needs_sam = pytest.mark.skipif(
    not SAM_CLI.exists(), reason=f"SAM CLI not found at {SAM_CLI} (run `make test`, which installs .venv-sam)"
)


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"), "SAM_CLI_TELEMETRY": "0"})
    pyenv_version = _pyenv_version_with(BUILD_PYTHON, env.get("PYENV_VERSION"))
    if pyenv_version:
        env["PYENV_VERSION"] = pyenv_version
    return env


def _pyenv_version_with(minor: str, current: str | None) -> str | None:
    """``PYENV_VERSION`` keeping the current versions, plus the newest installed ``minor`` (``3.13``).

    `sam build` for a python3.13 function needs ``python3.13`` on PATH; pyenv's shim only answers for the
    versions ``PYENV_VERSION`` lists (for example ``3.11.7:3.13.0``). Unchanged without pyenv.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return current
    listed = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)  # noqa: S603
    installed = [v for v in listed.stdout.split() if re.fullmatch(r"\d+\.\d+\.\d+", v)]
    if not current:
        named = subprocess.run([pyenv, "version-name"], capture_output=True, text=True, check=False)  # noqa: S603
        current = named.stdout.strip() or None
    chosen = [v for v in (current or "").split(":") if v]
    if not any(v.startswith(minor + ".") for v in chosen):
        newest = sorted(
            (v for v in installed if v.startswith(minor + ".")), key=lambda v: [int(x) for x in v.split(".")]
        )
        chosen += newest[-1:]
    return ":".join(chosen) or None


def _run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        [str(part) for part in command],
        cwd=cwd,
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res.get("Type") == kind}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


# -- the rendered variants --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered variant in a temporary directory, code paths made absolute so they still resolve."""
    path = tmp_path_factory.mktemp(request.param) / "template.yaml"
    path.write_text(dump(render(VARIANTS[request.param], absolute_paths=True)), encoding="utf-8")
    return path


def _all_strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [key, *_all_strings(value)]]
    if isinstance(node, list):
        return [s for value in node for s in _all_strings(value)]
    return [node] if isinstance(node, str) else []


def test_render_resolves_the_authorizer_switch() -> None:
    on, off = render({"AuthorizerEnabled": "true"}), render({"AuthorizerEnabled": "false"})
    for rendered in (on, off):
        assert rendered["Transform"] == "AWS::Serverless-2016-10-31"
        assert "UseAuthorizer" not in _all_strings(rendered)
    assert on["Resources"]["SessionApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert "Auth" not in off["Resources"]["SessionApi"]["Properties"]
    health_on = on["Resources"]["HealthFunction"]["Properties"]["Events"]["Api"]["Properties"]
    health_off = off["Resources"]["HealthFunction"]["Properties"]["Events"]["Api"]["Properties"]
    assert health_on["Auth"] == {"Authorizer": "NONE"}  # liveness stays public behind the authorizer
    assert "Auth" not in health_off


def test_render_keeps_conditions_on_parameters_not_given() -> None:
    rendered = render({"AuthorizerEnabled": "false"})
    assert set(rendered["Conditions"]) == {"UseBedrock", "HasAlarmEmail"}
    policies = rendered["Resources"]["SessionSummariesFunction"]["Properties"]["Policies"]
    assert {"Fn::If": ["UseBedrock", policies[-1]["Fn::If"][1], {"Ref": "AWS::NoValue"}]} == policies[-1]
    decided = render({"AuthorizerEnabled": "false", "SummaryModelId": "", "AlarmEmail": ""})
    assert "Conditions" not in decided
    assert "AlarmEmailSubscription" not in decided["Resources"]
    assert len(decided["Resources"]["SessionSummariesFunction"]["Properties"]["Policies"]) == 2
    assert len(decided["Resources"]["StreamProcessorFunction"]["Properties"]["Policies"]) == 2


def test_render_rejects_unknown_parameters() -> None:
    with pytest.raises(KeyError):
        render({"NoSuchParameter": "x"})


def test_rendered_file_round_trips_and_points_at_the_code(variant_file: Path) -> None:
    rendered = yaml.safe_load(variant_file.read_text(encoding="utf-8"))
    for resource in rendered["Resources"].values():
        uri = resource.get("Properties", {}).get("CodeUri") or resource.get("Properties", {}).get("ContentUri")
        if isinstance(uri, str):
            assert Path(uri).is_dir(), uri


@needs_sam
def test_sam_validate_lint(variant_file: Path) -> None:
    result = _run(SAM_CLI, "validate", "--lint", "--template-file", variant_file)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_sam
def test_cfn_lint(variant_file: Path) -> None:
    result = _run(CFN_LINT, "--", variant_file)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_sam
@pytest.mark.slow
def test_sam_build(tmp_path: Path) -> None:
    """Packaging check: the real template (with LanguageExtensions) builds, layer and functions, no container."""
    build_dir = tmp_path / "build"
    result = _run(
        SAM_CLI, "build", "--template-file", ROOT / "template.yaml", "--build-dir", build_dir,
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    layer = build_dir / "CommonLayer" / "python"
    assert (layer / "session_service" / "repository.py").is_file()  # importable as /opt/python/session_service
    assert (layer / "aws_lambda_powertools").is_dir()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), "pydantic_core must be built for arm64"
    assert (build_dir / "HealthFunction" / "app.py").is_file()


# -- structure ----------------------------------------------------------------------------------------


def test_every_route_has_a_handler_module() -> None:
    found = routes()
    assert found, "template.yaml declares no Api events"
    for route in found:
        module = route.code_dir / "app.py"
        assert module.is_file(), f"{route.method} {route.path}: {module} is missing"
        names = set()
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        assert "lambda_handler" in names, f"{module} defines no lambda_handler"


def test_routes_are_unique() -> None:
    keys = [(route.method, route.path) for route in routes()]
    assert len(keys) == len(set(keys))


def _actions(policy: dict[str, Any]) -> list[str]:
    actions: list[str] = []
    for statement in policy.get("Statement", []):
        value = statement.get("Action", [])
        actions.extend([value] if isinstance(value, str) else value)
    return actions


READER_WRITES = {"GetErasureFunction": ["dynamodb:UpdateItem"]}
"""The one GET that may write: reading an erasure's progress nudges a stalled erasure (a conditional update of its
progress record whose stream record drives the next pass), so a lost stream record cannot leave it running."""


def test_read_only_functions_get_read_only_policies(template: dict[str, Any]) -> None:
    functions = _resources(template, "AWS::Serverless::Function")
    readers = {route.function for route in routes() if route.method == "GET"}
    writers = {route.function for route in routes() if route.method != "GET"}
    assert readers and not readers & writers
    for name in readers:
        for policy in functions[name]["Properties"].get("Policies", []):
            if isinstance(policy, str):
                pytest.fail(f"{name}: managed policy {policy} on a read-only function")
            templates = set(policy) - {"Statement"}
            assert templates <= READ_ONLY_POLICY_TEMPLATES, f"{name}: {templates}"
            writes = [action for action in _actions(policy) if WRITE_ACTION.match(action)]
            assert writes == READER_WRITES.get(name, []), f"{name} only reads but may {writes}"


def test_table(template: dict[str, Any]) -> None:
    (table,) = _resources(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table.get("DeletionPolicy") == {"Ref": "TableDeletionPolicy"}  # Retain by default


def test_stream_event(template: dict[str, Any]) -> None:
    events = [
        event["Properties"]
        for function in _resources(template, "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "DynamoDB"
    ]
    assert len(events) == 2  # statistics, and summaries apart
    for stream in events:
        assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert stream["BisectBatchOnFunctionError"] is True
        assert 0 <= stream["MaximumRetryAttempts"] <= 10
        assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 86400
        assert stream["DestinationConfig"]["OnFailure"]["Destination"]
        assert stream["Stream"] == {"Fn::GetAtt": ["SessionTable", "StreamArn"]}
        assert 1 <= len(stream["FilterCriteria"]["Filters"]) <= 5  # Lambda's quota of filters per mapping


def test_alarms(template: dict[str, Any]) -> None:
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    metrics = {alarm["Properties"]["MetricName"] for alarm in alarms.values()}
    assert {"IteratorAge", "5XXError", "ApproximateNumberOfMessagesVisible"} <= metrics
    # Each consumer of the table's stream has its own iterator-age alarm: one falling behind says which.
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in alarms.values()
        if alarm["Properties"]["MetricName"] == "IteratorAge"
    }
    consumers = {
        name
        for name, function in _resources(template, "AWS::Serverless::Function").items()
        if any(event["Type"] == "DynamoDB" for event in function["Properties"].get("Events", {}).values())
    }
    assert watched == consumers and len(consumers) == 2
    for name, alarm in alarms.items():
        assert alarm["Properties"].get("AlarmActions"), f"{name} notifies nobody"


def test_outputs(template: dict[str, Any]) -> None:
    assert {"ApiUrl", "TableName"} <= set(template["Outputs"])
