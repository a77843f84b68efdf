"""By hand: serve N requests (appends, listings, context reads) against ``python -m devserver --store S`` and
print the peak resident size of the server process, of its worker processes and of DynamoDB Local's JVM.

Not collected by pytest (no ``test_`` prefix); run from the checkout::

    PYTHONPATH=layers/common:. .venv/bin/python -m tests.server.soak_memory --store memory --requests 5000

One client, one user, a new session every 50 requests; of the rest, half appends and a quarter each
listings of the session's messages and context reads. Peaks are Linux's ``VmHWM`` of each process, read at
the end (the high-water mark of its resident set); ``--every`` prints the current sizes on the way. A
refused write (the moto store's bound: 503) is counted, not fatal.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from devserver.child_process import serve_in_subprocess


def _status_kb(pid: int, field: str) -> int:
    """``field`` of ``/proc/<pid>/status`` in kB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            pending.extend(kids)
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode().rsplit("/", 1)[-1]
    except OSError:
        return "?"


def sizes(server_pid: int, field: str) -> dict[str, int]:
    """``field`` (``VmHWM`` peak, ``VmRSS`` now) in MB of the server, its Python workers (summed) and java."""
    result = {"server": _status_kb(server_pid, field) // 1024, "workers": 0, "java": 0}
    for pid in _children(server_pid):
        key = "java" if _name(pid) == "java" else "workers"
        result[key] += _status_kb(pid, field) // 1024
    return result


def soak(store: str, requests: int, every: int) -> None:
    user = f"soak_{uuid.uuid4().hex[:8]}"
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    with serve_in_subprocess(store=store) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        pid = server.process.pid
        print(f"store={store}: serving at {server.url} (server pid {pid}); start-up sizes {sizes(pid, 'VmRSS')} MB")
        session = ""
        for i in range(requests):
            params = {"user_id": user}
            if i % 50 == 0 or not session:
                answer = http.post("/api/v1/sessions", json={"user_id": user, "title": f"soak {i}"})
                if answer.status_code == 201:
                    session = answer.json()["session_id"]
            elif i % 4 in (0, 1):
                body = {"role": "user" if i % 2 else "assistant", "content": f"message {i} " * 20, "tokens_used": 30}
                answer = http.post(f"/api/v1/sessions/{session}/messages", params=params, json=body)
            elif i % 4 == 2:
                answer = http.get(f"/api/v1/sessions/{session}/messages", params={**params, "page_size": 50})
            else:
                answer = http.get(f"/api/v1/sessions/{session}/context", params={**params, "max_tokens": 2000})
            statuses[answer.status_code] += 1
            if every and (i + 1) % every == 0:
                elapsed = time.monotonic() - started
                print(f"  {i + 1} requests, {elapsed:.0f} s: resident now {sizes(pid, 'VmRSS')} MB", flush=True)
        elapsed = time.monotonic() - started
        peaks = sizes(pid, "VmHWM")
    print(f"store={store}: {requests} requests in {elapsed:.0f} s, statuses {dict(sorted(statuses.items()))}")
    print(
        f"peak resident (VmHWM): server {peaks['server']} MB, its Python workers {peaks['workers']} MB in all, "
        f"DynamoDB Local's java {peaks['java']} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", default="memory", choices=("memory", "moto", "dynamodb-local"))
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--every", type=int, default=1000, help="print current sizes every N requests (0: never)")
    args = parser.parse_args()
    soak(args.store, args.requests, args.every)


if __name__ == "__main__":
    main()
