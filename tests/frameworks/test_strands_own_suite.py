"""Strands Agents' own session-manager tests, unchanged, on :class:`SessionServiceRepository`.

``tests/strands/session/test_repository_session_manager.py`` and its fixture module of the ``strands-agents``
sdist (the version the ``[strands]`` extra pins; downloaded once with pip into ``.cache/frameworks/``, which git
ignores) run in a child pytest from the sdist's root, with :mod:`session_service_strands_swap` swapping
``MockedSessionRepository`` for the adapter on this tier's server. Every test must pass but those the plugin
lists as needing non-serializable agent state (none at 1.62.0: its tests keep serializable state).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from tests.frameworks.session_service_strands_swap import EXCLUDED

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "frameworks"
HERE = Path(__file__).resolve().parent
SUITE = "tests/strands/session/test_repository_session_manager.py"
CHILD_OPTIONS = ["-q", "-p", "no:cacheprovider", "-p", "session_service_strands_swap", "-o", "addopts="]


def strands_sdist() -> Path:
    """The unpacked sdist of the installed ``strands-agents`` (downloaded on first use)."""
    installed = version("strands-agents")
    unpacked = CACHE / f"strands_agents-{installed}"
    if not (unpacked / "tests" / "strands" / "session").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        download = ["download", "--quiet", "--no-deps", "--no-binary", ":all:", f"strands-agents=={installed}"]
        subprocess.run([sys.executable, "-m", "pip", *download, "-d", str(CACHE)], check=True)  # noqa: S603
        with tarfile.open(CACHE / f"strands_agents-{installed}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    return unpacked


def test_strands_session_manager_tests_pass_on_the_repository(base_url: str) -> None:
    env = {
        **os.environ,
        "SESSION_SERVICE_URL": base_url,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "clients" / "python" / "src")]),
    }
    run = subprocess.run(  # noqa: S603 - this interpreter's pytest on Strands' own tests
        [sys.executable, "-m", "pytest", SUITE, *CHILD_OPTIONS, "-W", "ignore::ResourceWarning"],
        cwd=strands_sdist(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|deselected|skipped|error)", run.stdout)}
    assert counts.get("deselected", 0) == len(EXCLUDED) and counts.get("passed", 0) >= 41, counts
    assert not counts.get("failed") and not counts.get("skipped"), counts
