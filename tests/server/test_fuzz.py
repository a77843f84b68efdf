"""schemathesis against ``make serve``: generated requests from the committed ``openapi.json`` never get a
5xx, and every response conforms to the document (status code, content type, headers, body schema).
The server runs on DynamoDB Local (the test session's), as `make serve` does, or on moto where DynamoDB
Local cannot run (moto slows down as the fuzzer fills the table).

Bounded for CI: ``FUZZ_EXAMPLES`` examples per operation (default 15, about a minute), deterministic
generation. A longer, randomised run (``FUZZ_TIMEOUT`` seconds, default 6 per example and at least 600)::

    FUZZ_EXAMPLES=1000 FUZZ_SEED=$RANDOM PYTHONPATH=layers/common:. .venv/bin/python -m pytest tests/server/test_fuzz.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from devserver.child_process import serve_in_subprocess
from devserver.dynamodb_local import DynamoDBLocalUnavailable, shared_instance
from devserver.openapi import OPENAPI_FILE

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


def _schemathesis() -> str:
    executable = Path(sys.executable).parent / "schemathesis"
    if not executable.exists():
        pytest.fail("schemathesis is not installed: pip install -r requirements-dev.txt")
    return str(executable)


def _store() -> dict[str, Any]:
    """``serve_in_subprocess`` arguments: the session's DynamoDB Local and a fresh table, else moto."""
    try:
        endpoint = shared_instance().endpoint
    except DynamoDBLocalUnavailable:
        return {"store": "moto"}
    return {"endpoint_url": endpoint, "env": {"TABLE_NAME": f"session-service-fuzz-{uuid.uuid4().hex[:8]}"}}


@pytest.mark.slow
def test_fuzz_local_server(tmp_path: Path) -> None:
    examples = int(os.environ.get("FUZZ_EXAMPLES", "15"))
    seed = os.environ.get("FUZZ_SEED")
    generation = ["--seed", seed] if seed else ["--generation-deterministic"]
    timeout = int(os.environ.get("FUZZ_TIMEOUT", max(600, examples * 6)))
    with serve_in_subprocess(**_store()) as server:
        command = [
            _schemathesis(),
            "run",
            str(OPENAPI_FILE),
            "--url",
            server.url,
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(examples),
            *generation,
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--no-color",
            "--warnings",
            "off",
        ]
        result = subprocess.run(  # noqa: S603 - our own virtualenv's tool
            command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, check=False
        )
        server_log = server.log
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"schemathesis found problems (exit {result.returncode}):\n{output[-20000:]}\n"
        f"--- server log (tail) ---\n{server_log[-5000:]}"
    )
