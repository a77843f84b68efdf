"""Render ``template.yaml`` the way CloudFormation's ``AWS::LanguageExtensions`` transform would.

Why: the API's ``Auth`` is ``Fn::If [UseAuthorizer, {...}, AWS::NoValue]``. CloudFormation resolves that
(LanguageExtensions runs before the SAM transform), but the SAM translator behind ``sam validate`` and
cfn-lint does not, and rejects the template ("Invalid value for 'Auth' property",
aws/serverless-application-model#1859). So the checks run on each rendered variant instead: given
parameter values (``AuthorizerEnabled``), every condition decidable from them is evaluated, ``Fn::If`` on
it is replaced by the chosen branch, ``AWS::NoValue`` disappears, resources and outputs whose condition
is false are dropped, a ``DeletionPolicy`` naming a parameter (``TableDeletionPolicy``) takes its value (the
default unless given), and the LanguageExtensions transform is removed. Conditions on parameters that were
not given (``UseBedrock``, ``HasAlarmEmail``) stay as they are: the SAM transform handles those.

By hand::

    python -m devserver.render --authorizer true > rendered.yaml
    python -m devserver.render --authorizer false --absolute-paths --param SummaryModelId=x > /tmp/t.yaml
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devserver.template import ROOT, TEMPLATE, load_template

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
PATH_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
}
"""Properties holding a path relative to the template (rewritten by ``absolute_paths``)."""


class _NoValue:
    """Marks a value that ``AWS::NoValue`` removed."""


NO_VALUE = _NoValue()


def _parameter_value(name: str, parameters: Mapping[str, str]) -> str | None:
    return parameters.get(name)


def evaluate(expression: Any, conditions: Mapping[str, Any], parameters: Mapping[str, str]) -> bool | None:
    """Value of a condition expression, or ``None`` when it depends on a parameter not in ``parameters``.

    Supports ``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition`` and ``Ref`` to parameters.
    """
    if isinstance(expression, dict) and len(expression) == 1:
        ((key, value),) = expression.items()
        if key == "Condition":
            return evaluate(conditions[value], conditions, parameters)
        if key == "Fn::Not":
            inner = evaluate(value[0], conditions, parameters)
            return None if inner is None else not inner
        if key in ("Fn::And", "Fn::Or"):
            results = [evaluate(item, conditions, parameters) for item in value]
            if key == "Fn::And":
                return False if False in results else (None if None in results else True)
            return True if True in results else (None if None in results else False)
        if key == "Fn::Equals":
            left, right = (_scalar(item, parameters) for item in value)
            return None if left is None or right is None else left == right
    return None


def _scalar(value: Any, parameters: Mapping[str, str]) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return _parameter_value(value["Ref"], parameters)
    if isinstance(value, (str, int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return None


def _resolve(node: Any, decided: Mapping[str, bool]) -> Any:
    """``node`` with decided ``Fn::If`` replaced by their branch and ``AWS::NoValue`` removed."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
            return NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            if name in decided:
                return _resolve(when_true if decided[name] else when_false, decided)
            branches = (_resolve(branch, decided) for branch in (when_true, when_false))
            return {"Fn::If": [name, *({"Ref": "AWS::NoValue"} if b is NO_VALUE else b for b in branches)]}
        resolved = {key: _resolve(value, decided) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}
    if isinstance(node, list):
        return [item for item in (_resolve(value, decided) for value in node) if item is not NO_VALUE]
    return node


def _mentions_condition(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        if node.get("Condition") == name:
            return True
        if "Fn::If" in node and isinstance(node["Fn::If"], list) and node["Fn::If"][:1] == [name]:
            return True
        return any(_mentions_condition(value, name) for value in node.values())
    if isinstance(node, list):
        return any(_mentions_condition(value, name) for value in node)
    return False


POLICY_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")
"""Resource attributes that ``AWS::LanguageExtensions`` lets name a parameter (``!Ref``): CloudFormation alone
takes only a literal there."""


def _resolve_policies(template: dict[str, Any], parameters: Mapping[str, str]) -> None:
    """Replace a policy attribute's ``Ref`` to a parameter by its value: the one given, else the default."""
    declared = template.get("Parameters", {})
    for resource in template.get("Resources", {}).values():
        for attribute in POLICY_ATTRIBUTES:
            value = resource.get(attribute) if isinstance(resource, dict) else None
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in declared:
                name = value["Ref"]
                resource[attribute] = parameters.get(name, declared[name].get("Default"))


def render(
    parameters: Mapping[str, str],
    template: Mapping[str, Any] | None = None,
    *,
    absolute_paths: bool = False,
    root: Path = ROOT,
) -> dict[str, Any]:
    """The template as CloudFormation would see it after ``AWS::LanguageExtensions`` for ``parameters``.

    ``parameters`` maps parameter names to values (strings, as CloudFormation passes them); parameters
    left out stay undecided. ``absolute_paths`` makes ``CodeUri``/``ContentUri`` absolute under ``root``
    so the rendered file can live anywhere (a temporary directory). Raises ``KeyError`` for a parameter
    the template does not declare.
    """
    source = copy.deepcopy(dict(template if template is not None else load_template()))
    declared = source.get("Parameters", {})
    for name in parameters:
        if name not in declared:
            raise KeyError(f"template has no parameter {name!r}")
    conditions = source.get("Conditions", {})
    decided = {
        name: result
        for name in conditions
        if (result := evaluate({"Condition": name}, conditions, parameters)) is not None
    }
    body = {key: value for key, value in source.items() if key != "Conditions"}
    for section in ("Resources", "Outputs"):
        kept = {}
        for logical_id, entry in body.get(section, {}).items():
            condition = entry.get("Condition") if isinstance(entry, dict) else None
            if condition in decided:
                if not decided[condition]:
                    continue
                entry = {key: value for key, value in entry.items() if key != "Condition"}
            kept[logical_id] = entry
        if section in body:
            body[section] = kept
    rendered: dict[str, Any] = _resolve(body, decided)
    _resolve_policies(rendered, parameters)
    transforms = rendered.get("Transform")
    if isinstance(transforms, list):
        remaining = [t for t in transforms if t != LANGUAGE_EXTENSIONS]
        rendered["Transform"] = remaining[0] if len(remaining) == 1 else remaining
    elif transforms == LANGUAGE_EXTENSIONS:
        del rendered["Transform"]
    still_used = {name: conditions[name] for name in conditions if _mentions_condition(rendered, name)}
    if still_used:
        rendered["Conditions"] = still_used
    if absolute_paths:
        for resource in rendered.get("Resources", {}).values():
            key = PATH_PROPERTIES.get(resource.get("Type", ""))
            value = (resource.get("Properties") or {}).get(key) if key else None
            if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
                resource["Properties"][key] = str((root / value).resolve()) + ("/" if value.endswith("/") else "")
    # Keep the usual section order (Conditions before Resources) for readers of the rendered file.
    order = ["AWSTemplateFormatVersion", "Transform", "Description", "Parameters", "Conditions", "Globals"]
    return {key: rendered[key] for key in order if key in rendered} | {
        key: value for key, value in rendered.items() if key not in order
    }


def dump(template: Mapping[str, Any]) -> str:
    """YAML text of a rendered template (long-form intrinsics: ``Ref``, ``Fn::GetAtt``, ...)."""
    text: str = yaml.safe_dump(dict(template), sort_keys=False, width=120, allow_unicode=True)
    return text


def main(argv: list[str] | None = None) -> None:
    """Print a rendered variant of template.yaml on stdout (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Render template.yaml as AWS::LanguageExtensions would.")
    parser.add_argument("--authorizer", choices=["true", "false"], required=True, help="AuthorizerEnabled")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="more parameters")
    parser.add_argument("--absolute-paths", action="store_true", help="make CodeUri/ContentUri absolute")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.param)
    parameters["AuthorizerEnabled"] = args.authorizer
    template = load_template(args.template.resolve())
    root = args.template.resolve().parent
    sys.stdout.write(dump(render(parameters, template, absolute_paths=args.absolute_paths, root=root)))


if __name__ == "__main__":
    main()
