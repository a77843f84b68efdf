"""Cold start: the import time of every handler module in fresh processes, beside a bare ``import boto3``.

Each measurement is a new interpreter (the same one running this script) that imports one module the
way the Lambda runtime does: ``functions/<op>`` and ``layers/common`` on ``PYTHONPATH`` (``/var/task`` and
``/opt/python``), the template's environment variables set. The time is ``time.perf_counter()`` around
``importlib.import_module`` in milliseconds, so interpreter start-up is excluded on both sides. One warm-up
round fills the ``__pycache__``; rounds interleave the modules; the median of ``--runs`` (default 9) is
reported.
The goal (issue 2) is a handler import at most 1.3x a bare ``import boto3``.

    python benchmarks/cold_start.py [--runs 9] [--profile get_session]
    python benchmarks/cold_start.py --tracer [--runs 9]   # needs aws-xray-sdk importable

``--tracer`` measures instead what Powertools Tracer on the DynamoDB client would add to a cold start: a
fresh process creating the DynamoDB client, with and without ``Tracer(patch_modules=["botocore"])`` first.

``--profile OP`` also prints the heaviest imports of that handler from ``python -X importtime`` (ms,
cumulative). Run from the repository root (``make bench`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from harness import CREDENTIALS, ROOT, SETTINGS

LAYER = ROOT / "layers" / "common"
GOAL_RATIO = 1.3
FIRST_REQUEST_OP = "health"

ENV = {
    "TABLE_NAME": "session-service-bench",
    **SETTINGS,
    "SESSION_TTL_SECONDS": "2592000",
    "AUTHORIZER_ENABLED": "false",
    "ADMIN_GROUP": "admin",
    "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "AWS_REGION": "us-east-1",
    **CREDENTIALS,
}
"""What template.yaml's Globals set (log level lowered so the child's stdout stays one JSON line)."""

CHILD = """
import importlib, json, sys, time
module, first_request = sys.argv[1], sys.argv[2] == "1"
start, cpu = time.perf_counter(), time.process_time()
imported = importlib.import_module(module)
result = {"import_ms": (time.perf_counter() - start) * 1000, "cpu_ms": (time.process_time() - cpu) * 1000}
if first_request:
    from devserver.lambda_runtime import LambdaContext, rest_event
    event = rest_event("GET", "/health", resource="/health", path_parameters={}, query={}, headers={}, body=None)
    begin = time.perf_counter()
    response = imported.lambda_handler(event, LambdaContext())
    result["first_request_ms"] = (time.perf_counter() - begin) * 1000
    result["status"] = response["statusCode"]
print(json.dumps(result))
"""


TRACED_CLIENT = """
import json, sys, time
start = time.perf_counter()
if sys.argv[1] == "1":
    from aws_lambda_powertools import Tracer
    Tracer(service="session_service", patch_modules=["botocore"])
import boto3
boto3.client("dynamodb")
print(json.dumps({"import_ms": (time.perf_counter() - start) * 1000}))
"""
"""A cold start's DynamoDB client (what ``session_service.wiring`` creates on the first request), traced or not."""


def tracer_cost(runs: int) -> int:
    """Print the median ms of creating the DynamoDB client in a fresh process, with and without Powertools
    Tracer patching botocore (X-Ray subsegments for every DynamoDB call); rounds interleave."""
    env = _env(None) | {"POWERTOOLS_TRACE_DISABLED": "false", "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], os.environ.get("PYTHONPATH")]))
    samples: dict[str, list[float]] = {"0": [], "1": []}
    for round_number in range(runs + 1):
        for traced in samples:
            result = subprocess.run(
                [sys.executable, "-c", TRACED_CLIENT, traced], env=env, capture_output=True, text=True, check=False
            )
            if result.returncode:
                print(f"cannot measure (is aws-xray-sdk installed?):\n{result.stderr[-800:]}")
                return 1
            if round_number:
                samples[traced].append(json.loads(result.stdout.strip().splitlines()[-1])["import_ms"])
    plain, traced_ms = (statistics.median(samples[key]) for key in ("0", "1"))
    print(f"Python {'.'.join(map(str, sys.version_info[:3]))}; {runs} fresh processes each, interleaved; ms")
    print(f"{'DynamoDB client':<52} {plain:>8.1f}  (min {min(samples['0']):.1f})")
    label = "DynamoDB client, Powertools Tracer patching botocore"
    print(f"{label:<52} {traced_ms:>8.1f}  (min {min(samples['1']):.1f})")
    print(f"the Tracer adds {traced_ms - plain:.1f} ms ({traced_ms / plain:.2f}x) to a cold start's first request")
    return 0


def _env(code_dir: Path | None) -> dict[str, str]:
    paths = [str(code_dir)] if code_dir else []
    paths += [str(LAYER), str(ROOT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    return env | ENV | {"PYTHONPATH": os.pathsep.join(paths)}


def measure(module: str, code_dir: Path | None, *, first_request: bool = False) -> dict[str, float]:
    """One fresh-process import of ``module`` (with ``code_dir`` first on the path); times in ms."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, module, "1" if first_request else "0"],
        env=_env(code_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def sample_round_robin(runs: int, targets: dict[str, tuple[str, Path | None]]) -> dict[str, list[dict[str, float]]]:
    """Import times of each target over ``runs`` rounds, one fresh process per target per round.

    Each sample is :func:`measure`'s ``{"import_ms": wall ms, "cpu_ms": process CPU ms}``.

    ``targets`` maps a label to ``(module, code_dir)``. Rounds interleave the targets, so a burst of load
    on the machine slows all of them alike instead of one; a first round fills ``__pycache__`` and is
    not counted.
    """
    samples: dict[str, list[dict[str, float]]] = {label: [] for label in targets}
    for round_number in range(runs + 1):
        for label, (module, code_dir) in targets.items():
            took = measure(module, code_dir)
            if round_number:
                samples[label].append(took)
    return samples


def import_profile(code_dir: Path, top: int = 15) -> list[tuple[str, float, float]]:
    """``(module, self ms, cumulative ms)`` of the heaviest imports of ``code_dir``'s ``app`` (``-X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        env=_env(code_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if found:
            rows.append((found.group(4).strip(), int(found.group(1)) / 1000, int(found.group(2)) / 1000))
    return sorted(rows, key=lambda row: -row[2])[:top]


def main() -> int:
    """Print the table; exit status 1 when a handler is over the goal (``--check``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per module (median), >= 7 advised")
    parser.add_argument("--profile", metavar="OP", action="append", default=[], help="-X importtime of a handler")
    parser.add_argument("--check", action="store_true", help="exit 1 if a handler exceeds the goal")
    parser.add_argument("--tracer", action="store_true", help="measure Powertools Tracer on the DynamoDB client")
    args = parser.parse_args()
    if args.tracer:
        return tracer_cost(args.runs)

    handlers = sorted(path.parent for path in (ROOT / "functions").glob("*/app.py"))
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}; {args.runs} fresh processes per module, interleaved; import time in ms")
    targets: dict[str, tuple[str, Path | None]] = {"import boto3 (baseline)": ("boto3", None)}
    targets |= {f"functions/{d.name}/app.py": ("app", d) for d in handlers}
    samples = sample_round_robin(args.runs, targets)
    base = samples["import boto3 (baseline)"]
    baseline = statistics.median(s["import_ms"] for s in base)
    baseline_cpu = statistics.median(s["cpu_ms"] for s in base)
    baseline_min = min(s["import_ms"] for s in base)
    print(f"{'module':<36} {'median':>8} {'x boto3':>8} {'min':>8} {'min x':>6} {'cpu':>8} {'cpu x':>6}")
    over = []
    for label, runs in samples.items():
        took = statistics.median(s["import_ms"] for s in runs)
        fastest = min(s["import_ms"] for s in runs)
        cpu = statistics.median(s["cpu_ms"] for s in runs)
        ratio = took / baseline
        flag = "" if ratio <= GOAL_RATIO else "  over goal"
        if flag:
            over.append(label)
        print(
            f"{label:<36} {took:>8.1f} {ratio:>8.2f} {fastest:>8.1f} {fastest / baseline_min:>6.2f}"
            f" {cpu:>8.1f} {cpu / baseline_cpu:>6.2f}{flag}"
        )
    print(f"goal: handler median <= {GOAL_RATIO}x boto3 (x boto3 column); over: {', '.join(over) or 'none'}")
    print("(min x: fastest run over the fastest baseline; cpu: median process CPU time of the import, ms;")
    print(" both are less sensitive than wall-clock medians to other load on the machine)")

    code_dir = ROOT / "functions" / FIRST_REQUEST_OP
    firsts = [measure("app", code_dir, first_request=True) for _ in range(args.runs)]
    first = {key: statistics.median(run[key] for run in firsts) for key in firsts[0]}
    print(
        f"functions/{FIRST_REQUEST_OP}: import {first['import_ms']:.1f} ms + first request"
        f" {first['first_request_ms']:.1f} ms = {first['import_ms'] + first['first_request_ms']:.1f} ms"
        f" (status {int(first['status'])})"
    )
    for op in args.profile:
        print(f"\n-X importtime, functions/{op}/app.py: heaviest imports (ms)")
        print(f"{'module':<60} {'self':>8} {'cumulative':>11}")
        for module, own, cumulative in import_profile(ROOT / "functions" / op):
            print(f"{module:<60} {own:>8.1f} {cumulative:>11.1f}")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
