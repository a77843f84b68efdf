"""Every command of docs/deploy.md is checked where AWS is not reachable.

* ``make T``: ``T`` is a target of the Makefile (``make validate`` and ``make build`` run in ``make test``;
  ``make smoke`` runs against ``make serve`` in ``tests/server/test_smoke_target.py``).
* ``.venv-sam/bin/sam C ...``: ``C`` is a command of the installed SAM CLI and each ``--flag`` one of its
  options (``sam C --help``), ``--config-env`` a section of ``samconfig.toml``, and each
  ``--parameter-overrides`` name a template parameter, its value one the parameter allows.
* ``aws S O ...``: ``O`` is an operation of service ``S`` in botocore's models (what the AWS CLI is built from),
  each ``--option`` one of its input members or a global option, every required member given; an
  ``OutputKey=='X'`` in ``--query`` names an output of the template.
* ``curl ... "$URL/path"``: the path is a route of the template.

A command of another kind fails the test: a new kind needs a check here.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import tomllib
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from devserver.template import ROOT, load_template, routes

GUIDE = ROOT / "docs" / "deploy.md"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
AWS_GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--no-paginate", "--max-items", "--page-size"}
AWS_CLI_COMMANDS = {("configure", "get"), ("configure", "sso")}
"""The AWS CLI's own commands (not AWS API operations) the guide uses."""


def commands() -> list[list[str]]:
    """Each command of the guide's ``bash`` blocks as shell words (a ``VAR=$(...)`` gives its inner command)."""
    text = GUIDE.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line:
                continue
            assigned = re.fullmatch(r"[A-Z_]+=\$\((.*)\)", line)
            words = shlex.split(assigned.group(1) if assigned else line, comments=True)
            found.append(words)
    return found


COMMANDS = commands()


def test_the_guide_has_every_step() -> None:
    programs = {tuple(words[:2]) for words in COMMANDS}
    for step in [
        ("aws", "sts"),
        (".venv-sam/bin/sam", "deploy"),
        ("aws", "cloudformation"),
        ("aws", "cognito-idp"),
        ("make", "smoke"),
        ("aws", "bedrock"),
        (".venv-sam/bin/sam", "delete"),
        ("aws", "dynamodb"),
    ]:
        assert step in programs, step
    assert [w for words in COMMANDS for w in words if w == "--guided"] == ["--guided"]


def options(words: list[str]) -> dict[str, list[str]]:
    """``--name value...`` pairs of a command line (a flag has no values)."""
    parsed: dict[str, list[str]] = {}
    current = None
    for word in words:
        if word.startswith("--"):
            current = word
            parsed[current] = []
        elif current is not None:
            parsed[current].append(word)
    return parsed


@functools.cache
def sam_help(command: str) -> str:
    return subprocess.run(  # noqa: S603 - our SAM CLI's help
        [str(SAM), command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"},
    ).stdout


def check_make(words: list[str]) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = words[1]
    assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"no make target {target}"
    for word in words[2:]:
        assert re.fullmatch(r"[A-Z]+=.+", word), f"make {target}: {word}"
        assert f"$({word.split('=')[0]})" in makefile


def check_sam(words: list[str], template: dict[str, Any]) -> None:
    if not SAM.exists():
        pytest.skip("no SAM CLI in .venv-sam (make test installs it)")
    command = words[1]
    assert command in {"build", "validate", "deploy", "delete"}, command
    text = sam_help(command)
    given = options(words[2:])
    for flag in given:
        assert re.search(rf"(^|\s|/ ){re.escape(flag)}(\s|$)", text, flags=re.MULTILINE), f"sam {command} {flag}"
    if "--config-env" in given:
        config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
        assert given["--config-env"][0] in config
    parameters = template["Parameters"]
    for pair in given.get("--parameter-overrides", []):
        name, value = pair.split("=", 1)
        assert name in parameters, f"no template parameter {name}"
        allowed = parameters[name].get("AllowedValues")
        if allowed and not value.startswith("$"):
            assert value in [str(v) for v in allowed], pair


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def check_aws(words: list[str], template: dict[str, Any]) -> None:
    service, operation = words[1], words[2] if len(words) > 2 else ""
    if (service, operation) in AWS_CLI_COMMANDS:
        return
    model = service_model(service)
    (name,) = [op for op in model.operation_names if xform_name(op, "-") == operation] or [None]
    assert name, f"aws {service}: no operation {operation}"
    shape = model.operation_model(name).input_shape
    members = {f"--{xform_name(member, '-')}": member for member in (shape.members if shape else {})}
    given = options(words[3:])
    for option in given:
        bare = option.removeprefix("--no-")
        assert option in members or f"--{bare}" in members or option in AWS_GLOBAL_OPTIONS, f"{operation} {option}"
    for required in shape.required_members if shape else []:
        assert f"--{xform_name(required, '-')}" in given, f"aws {service} {operation} needs {required}"
    for output in re.findall(r"OutputKey=='(\w+)'", " ".join(given.get("--query", []))):
        assert output in template["Outputs"], output


def check_curl(words: list[str]) -> None:
    (target,) = [word for word in words if word.startswith("$")]
    path = re.sub(r"^\$\w+", "", target)
    assert any(route.pattern.fullmatch(path) for route in routes()), f"no route {path}"


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(words[:3]) for words in COMMANDS])
def test_each_command_is_valid(words: list[str]) -> None:
    template = load_template()
    program = words[0]
    if program == "make":
        check_make(words)
    elif program == ".venv-sam/bin/sam":
        check_sam(words, template)
    elif program == "aws":
        check_aws(words, template)
    elif program == "curl":
        check_curl(words)
    else:
        pytest.fail(f"no check for {program}: {' '.join(words)}")
