"""An ADK agent on a stub model, run by ADK's ``Runner`` on :class:`SessionServiceSessionService`: two turns with
tool calls writing state in all four scopes, saved by one process and restored exactly by another (every event,
bytes parts included, and the session, ``user:`` and ``app:`` state, never ``temp:``), which continues the
conversation with the whole history in its model's request; another user of the app shares only ``app:``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from google.genai import types

ROOT = Path(__file__).resolve().parents[2]
RUN = Path(__file__).resolve().parent / "adk_agent_run.py"


def _process(mode: str, base_url: str, namespace: str, user: str, session_id: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "clients" / "python" / "src"), str(ROOT)])}
    run = subprocess.run(  # noqa: S603 - this interpreter on our own script
        [sys.executable, str(RUN), mode, base_url, namespace, user, session_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_an_agent_run_is_restored_exactly_by_a_new_process(base_url: str, namespace: str) -> None:
    user, session_id = f"adk-{uuid.uuid4().hex[:10]}", "weekend in Rome"
    saved = _process("save", base_url, namespace, user, session_id)
    restored = _process("restore", base_url, namespace, user, session_id)

    # Every event the runner stored, in order: the user's two messages and the agent's six (calls, results, texts).
    agents = [event for event in restored["events"] if event["author"] != "user"]
    assert agents == saved["events"] and len(agents) == 6
    said = [event["content"]["parts"] for event in restored["events"] if event["author"] == "user"]
    assert [parts[0]["text"] for parts in said] == ["Plan a weekend in Rome", "Book the morning flight"]
    assert types.Part.model_validate(said[1][1]).inline_data == types.Blob(
        data=b"\x89PNG\r\n\x1a\n\x00\xff", mime_type="image/png"
    )
    assert all("temp:draft" not in event.get("actions", {}).get("state_delta", {}) for event in restored["events"])

    assert (
        restored["state"]
        == saved["state"]
        == {
            "traveller": "Ana",
            "plan": {"city": "Rome", "nights": 3},
            "bookings": ["AZ 9:40"],
            "reply": "Booked AZ 9:40.",
            "user:name": "Ana",
            "user:home": "Lisbon",
            "user:last_flight": "AZ 9:40",
            "app:currency": "EUR",
            "app:plans": 1,
            "app:bookings": 1,
        }
    )
    assert restored["user_state"] == {"name": "Ana", "home": "Lisbon", "last_flight": "AZ 9:40"}
    assert restored["model_saw"] == [
        "Plan a weekend in Rome",
        "plan_trip",
        "response",
        "Rome it is: three nights.",
        "Book the morning flight",
        None,
        "book_flight",
        "response",
        "Booked AZ 9:40.",
        "When do I fly?",
    ]

    other = _process("other-user", base_url, namespace, f"{user}-2", session_id)
    assert other["state"] == {"app:currency": "EUR", "app:plans": 1, "app:bookings": 1}
    assert other["listed"] == sorted([[user, session_id], [f"{user}-2", session_id]])
