"""The OpenAI Agents SDK's own session tests, unchanged, on :class:`SessionServiceSession`.

``tests/memory/test_session.py`` and ``test_session_limit.py`` of the ``openai-agents`` sdist (the version the
``[openai-agents]`` extra pins; downloaded once with pip into ``.cache/frameworks/``, which git ignores) run in a
child pytest from the sdist's root, with :mod:`session_service_agents_swap` swapping ``SQLiteSession`` for the
adapter on this tier's server. The tests of SQLite's own machinery are deselected (listed with their reasons in
the plugin); every other one must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import agents

from tests.frameworks.session_service_agents_swap import EXCLUDED

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "frameworks"
HERE = Path(__file__).resolve().parent
SUITES = ["tests/memory/test_session.py", "tests/memory/test_session_limit.py"]
CHILD_OPTIONS = ["-q", "-p", "no:cacheprovider", "-p", "session_service_agents_swap", "-o", "addopts="]
EXCLUDED_CASES = len(EXCLUDED) + 2  # post_commit_cancellation_... runs for add, pop and clear


def agents_sdist() -> Path:
    """The unpacked sdist of the installed ``openai-agents`` (downloaded on first use)."""
    version = agents.__version__ if hasattr(agents, "__version__") else _installed("openai-agents")
    unpacked = CACHE / f"openai_agents-{version}"
    if not (unpacked / "tests" / "memory").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        download = ["download", "--quiet", "--no-deps", "--no-binary", ":all:", f"openai-agents=={version}"]
        subprocess.run(  # noqa: S603 - pip of this interpreter, a pinned version
            [sys.executable, "-m", "pip", *download, "-d", str(CACHE)],
            check=True,
        )
        with tarfile.open(CACHE / f"openai_agents-{version}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    return unpacked


def _installed(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def test_the_sdks_session_tests_pass_on_the_adapter(base_url: str) -> None:
    sdist = agents_sdist()
    env = {
        **os.environ,
        "SESSION_SERVICE_URL": base_url,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "clients" / "python" / "src")]),
    }
    run = subprocess.run(  # noqa: S603 - this interpreter's pytest on the SDK's own tests
        [sys.executable, "-m", "pytest", *SUITES, *CHILD_OPTIONS],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0
    counts = dict(
        (kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|deselected|skipped|error)", run.stdout)
    )
    assert counts.get("deselected") == EXCLUDED_CASES and counts.get("passed", 0) > 0, counts
    assert not counts.get("failed") and not counts.get("skipped"), counts
