"""How ``python -m devserver`` (``make serve``) starts: from the checkout without ``PYTHONPATH``, refusing a busy
port before anything else starts (and saying how to choose another), and ``/`` leading to the docs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devserver.template import ROOT


def env_without_pythonpath() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    return env


def test_a_busy_port_fails_before_anything_starts_and_names_port(tmp_path: Path) -> None:
    # Given a port another server holds
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        data_dir = tmp_path / "data"
        started = time.monotonic()

        # When make serve's command starts on it with the default store (DynamoDB Local)
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "devserver", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env_without_pythonpath(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # Then it fails at once, DynamoDB Local never started (its data folder never made), and says PORT=
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert not data_dir.exists()
    assert "DynamoDB" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert re.search(r"make serve PORT=\d+", result.stderr), result.stderr


def test_it_runs_from_the_checkout_without_pythonpath_and_root_leads_to_the_docs() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devserver", "--port", "0", "--store", "moto", "--no-streams"],
        cwd=ROOT,
        env=env_without_pythonpath(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in iter(process.stderr.readline, ""):
            if found := re.search(r"Serving Session Service on (http://\S+)", line):
                url = found.group(1)
                break
        assert url, "the server did not start"

        root = httpx.get(f"{url}/", timeout=30)
        docs = httpx.get(f"{url}/", timeout=30, follow_redirects=True)

        assert root.status_code == 302
        assert root.headers["Location"] == "/docs"
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
    finally:
        process.terminate()
        process.wait(30)
