"""Two Strands agents of one session on a stub model, saved through :class:`SessionServiceRepository`, and
restored exactly by a new process: each agent's messages (from its own conversation) and state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.frameworks.test_strands_own_suite import strands_sdist

ROOT = Path(__file__).resolve().parents[2]
RUN = Path(__file__).resolve().parent / "strands_two_agents_run.py"


def _process(mode: str, base_url: str, user: str, session_id: str) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(strands_sdist()), str(ROOT / "clients" / "python" / "src")]),
    }
    run = subprocess.run(  # noqa: S603 - this interpreter on our own script
        [sys.executable, str(RUN), mode, base_url, user, session_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_two_agent_session_is_restored_exactly_by_a_new_process(base_url: str) -> None:
    user, session_id = f"strands-{uuid.uuid4().hex[:10]}", "weekend in Rome"
    saved = _process("save", base_url, user, session_id)
    restored = _process("restore", base_url, user, session_id)
    assert restored == saved
    planner, writer = restored["planner"], restored["writer"]
    assert isinstance(planner, dict) and isinstance(writer, dict)
    assert len(planner["messages"]) == 4 and len(writer["messages"]) == 2
    assert planner["state"] == {"destination": {"city": "Rome", "nights": 3}} and writer["state"] == {"tone": "warm"}
