"""The README's tour works as written on a machine with only the README's prerequisites.

Its shell block runs in ``bash`` against a started ``make serve`` (a child ``python -m devserver``; only the
port differs) with a ``PATH`` of system directories only, so ``python`` (absent on stock Debian) or a tool
of this machine's would fail it; every answer must be a success (an error answer carries ``detail``). Its
Python example runs with the interpreter the README names, without ``PYTHONPATH``. ``make serve`` and
``make test`` themselves are what CI runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.template import ROOT

README = ROOT / "README.md"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""A stock machine's PATH: no pyenv shims, no virtualenv, no /usr/local."""
README_PORT = "8205"


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the ```<language> blocks of a Markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def tour_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## A short tour")
    return text[start : text.index("\n## ", start + 1)]


def system_env() -> dict[str, str]:
    """An environment as a new user's shell has it: system PATH, a home, no PYTHONPATH or virtualenv."""
    return {"PATH": SYSTEM_PATH, "HOME": str(Path.home()), "LANG": "C.UTF-8"}


def json_values(text: str) -> list[object]:
    """The JSON values printed one after another (curl adds no newline)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_subprocess() as running:
        yield running


def test_the_tour_uses_only_commands_a_stock_machine_has() -> None:
    # Given the tour's shell block, then every program it runs is curl, python3 or a shell builtin.
    (block,) = fenced_blocks(tour_section(), "bash")
    programs = set(re.findall(r"(?:^|\$\(|\|)\s*([a-z][\w.]*)", block, flags=re.MULTILINE))
    assert programs <= {"curl", "python3", "echo", "SID"}, programs
    assert not re.search(r"\bpython\b(?!3)", block), "stock Debian has no `python`, only `python3`"


@pytest.mark.skipif(
    not all(shutil.which(tool, path=SYSTEM_PATH) for tool in ("bash", "curl", "python3")),
    reason="this machine has no bash, curl or python3 in its system directories",
)
def test_the_tours_shell_block_runs_with_a_system_path(server: RunningServer) -> None:
    (block,) = fenced_blocks(tour_section(), "bash")
    port = server.url.rsplit(":", 1)[1]
    script = block.replace(f"localhost:{README_PORT}", f"127.0.0.1:{port}")
    assert script != block, "the tour calls localhost:8205 (make serve's port)"

    result = subprocess.run(  # noqa: S603 - the README's own commands
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        env=system_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    session = re.search(r"session (.*)\n", result.stdout)
    assert session and re.fullmatch(r"\S+", session.group(1)), "the session id came back empty"
    answers = json_values(result.stdout.replace(session.group(0), ""))
    assert len(answers) == block.count("curl -s") - 1, result.stdout  # one per curl but the piped create
    for answer in answers:
        assert not (isinstance(answer, dict) and "detail" in answer), answer


def test_the_tours_python_example_runs_with_the_interpreter_the_readme_names(server: RunningServer) -> None:
    section = tour_section()
    named = re.search(r"run with the checkout's interpreter, `([^`]+)`", section)
    assert named, "the README names the interpreter that runs its Python example"
    interpreter = ROOT / named.group(1)
    if not interpreter.exists():
        pytest.skip(f"{named.group(1)} is not installed (make serve installs it)")
    (example,) = fenced_blocks(section, "python")
    code = example.replace(f"http://127.0.0.1:{README_PORT}", server.url)
    assert code != example

    result = subprocess.run(  # noqa: S603 - the README's own example
        [str(interpreter), "-c", code],
        env=system_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "user Hello, this is a test message" in result.stdout
