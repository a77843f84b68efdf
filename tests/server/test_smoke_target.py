"""``make smoke URL=...`` (docs/deploy.md's check of a deployed stack) passes against ``make serve``'s stack, and
fails, saying which step, against a URL that is not the service."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.smoke import run
from devserver.template import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="no make on this machine")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_subprocess() as running:
        yield running


def make_smoke(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``make smoke ...`` with this interpreter as the Makefile's ``PY`` (the venv is the one running the tests:
    ``-o`` keeps make from reinstalling it)."""
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "MFLAGS")}
    return subprocess.run(  # noqa: S603 - make, with our own target
        [str(MAKE), "--no-print-directory", "-o", ".venv/.installed", f"PY={sys.executable}", "smoke", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_make_smoke_passes_against_make_serves_stack(server: RunningServer) -> None:
    result = make_smoke(f"URL={server.url}")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"smoke test of {server.url}"
    assert [line.split()[0] for line in lines[1:-1]] == ["ok"] * 8
    assert lines[-1] == "smoke test passed"


def test_make_smoke_without_a_url_says_how_to_call_it() -> None:
    result = make_smoke()

    assert result.returncode != 0
    assert "usage: make smoke URL=" in result.stderr


def test_a_failed_step_is_named_and_fails_the_run(server: RunningServer) -> None:
    out = io.StringIO()

    passed = run(f"{server.url}/not-the-api", out=out)

    assert not passed
    assert out.getvalue().splitlines()[-1].startswith("FAIL GET /health: NotFound")
