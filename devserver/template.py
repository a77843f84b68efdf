"""Read ``template.yaml``: the table definition, the API routes and the functions' settings, so nothing is
declared twice.

Tests and the local server create the table from here; the local server routes requests from here and takes
the functions' environment, timeouts and stream event source from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags (``!Ref x`` -> ``{"Ref": "x"}``)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template (short-form tags expanded)."""
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader
    return template


def table_definition(table_name: str, logical_id: str = "SessionTable") -> dict[str, Any]:
    """``CreateTable`` arguments for the template's table, on-demand, with its stream.

    TTL is a separate call (``UpdateTimeToLive``) and is returned under the key ``"TimeToLive"``.
    """
    props = load_template()["Resources"][logical_id]["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(indexes):
            definition[indexes] = props[indexes]
    if props.get("StreamSpecification"):
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    ttl = props.get("TimeToLiveSpecification")
    return {"create": definition, "ttl": ttl}


def create_table(client: Any, table_name: str) -> None:
    """Create the template's table with ``client`` (moto, DynamoDB Local or AWS) and switch TTL on."""
    definition = table_definition(table_name)
    client.create_table(**definition["create"])
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if definition["ttl"]:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=definition["ttl"])


def ensure_table(client: Any, table_name: str) -> bool:
    """Create ``table_name`` from ``template.yaml`` unless it exists. Returns True when it was created."""
    try:
        client.describe_table(TableName=table_name)
        return False
    except client.exceptions.ResourceNotFoundException:
        create_table(client, table_name)
        return True


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


@dataclass(frozen=True)
class Route:
    """One API route of the template and the function that serves it."""

    method: str
    path: str
    function: str
    code_dir: Path
    pattern: re.Pattern[str]
    literal_segments: int

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method path`` is this route, else ``None``."""
        if method.upper() != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def _compile(path: str) -> tuple[re.Pattern[str], int]:
    parts = []
    literal = 0
    for segment in path.strip("/").split("/"):
        pieces = re.split(r"(\{[A-Za-z0-9_]+\})", segment)
        regex = ""
        for piece in pieces:
            if piece.startswith("{") and piece.endswith("}"):
                regex += f"(?P<{piece[1:-1]}>[^/]+)"
            else:
                regex += re.escape(piece)
        if "{" not in segment:
            literal += 1
        parts.append(regex)
    return re.compile("/" + "/".join(parts)), literal


@cache
def routes() -> tuple[Route, ...]:
    """Every ``Api`` event of the template, most specific first (API Gateway's precedence: literal path
    segments beat ``{parameters}``, so ``/api/v1/sessions/stats`` wins over ``/api/v1/sessions/{session_id}``)."""
    found = []
    for logical_id, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            path = event["Properties"]["Path"]
            pattern, literal = _compile(path)
            found.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=path,
                    function=logical_id,
                    code_dir=ROOT / props["CodeUri"],
                    pattern=pattern,
                    literal_segments=literal,
                )
            )
    return tuple(sorted(found, key=lambda r: (-r.literal_segments, -len(r.path))))


def route_for(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The template route that serves ``method path`` and its path parameters (API Gateway's precedence:
    the routes are in that order). Raises ``LookupError`` when no route serves it."""
    for route in routes():
        params = route.match(method, path)
        if params is not None:
            return route, params
    raise LookupError(f"no route for {method} {path}")


def stream_function_dir() -> Path:
    """Code directory of the function the table's stream triggers."""
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                return ROOT / str(resource["Properties"]["CodeUri"])
    raise LookupError("template.yaml has no DynamoDB stream function")


# -- the functions ----------------------------------------------------------------------------------


def function_environment() -> dict[str, str]:
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


def function_timeouts() -> dict[str, float]:
    """Each function's ``Timeout`` in seconds (its own, else ``Globals``, else Lambda's default 3 s)."""
    template = load_template()
    default = float(((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3))
    return {
        name: float(resource["Properties"].get("Timeout", default))
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def stream_function_name() -> str:
    """Logical id of the function the table's stream triggers."""
    for name, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if any(e.get("Type") == "DynamoDB" for e in (resource["Properties"].get("Events") or {}).values()):
            return str(name)
    raise LookupError("template.yaml has no DynamoDB stream function")


def stream_event_properties() -> dict[str, Any]:
    """``Properties`` of the template's ``DynamoDB`` stream event (batch size, retries, position)."""
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                return dict(event.get("Properties") or {})
    return {}
