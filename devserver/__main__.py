"""``python -m devserver [--store dynamodb-local|memory|moto] [--port N] [--workers N] ...``: ``make serve``.

``--help`` lists every flag; each has an environment variable as its default (``STORE``, ``PORT``, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import warnings
from pathlib import Path
from types import FrameType

from devserver.child_process import layer_pythonpath
from devserver.dynamodb_local import DATA_DIR, DataDirInUse
from devserver.instances import InvocationError
from devserver.server import DEFAULT_PORT, DEFAULT_WORKERS, MOTO_MAX_ITEMS, STORES, DevServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``STORE``, ``PORT``, ``HOST``, ``WORKERS``, ``MOTO_MAX_ITEMS``,
    ``AWS_ENDPOINT_URL_DYNAMODB`` and ``TABLE_NAME`` are the defaults."""
    parser = argparse.ArgumentParser(prog="python -m devserver", description="Serve the Session Service API locally.")
    parser.add_argument(
        "--store",
        choices=STORES,
        default=os.environ.get("STORE") or "dynamodb-local",
        help="dynamodb-local: Amazon DynamoDB Local, data kept in --data-dir across restarts (default); "
        "memory: Amazon DynamoDB Local in memory (-inMemory), lost on exit; moto: moto in this process, lost on "
        "exit and refusing new writes (503) past --moto-max-items items, for the tests (and the loud fallback "
        "of both others where DynamoDB Local cannot start)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help=f"DynamoDB Local's data folder (default: {DATA_DIR.name}/ in the checkout; delete it to start empty)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WORKERS") or DEFAULT_WORKERS),
        help="at most this many API invocations run at once, each in its own instance (worker process), as "
        "Lambda's concurrency; the moto store has one in-process instance",
    )
    parser.add_argument(
        "--moto-max-items",
        type=int,
        default=int(os.environ.get("MOTO_MAX_ITEMS") or MOTO_MAX_ITEMS),
        help=f"the moto store refuses POST, PUT and PATCH (503) once its table holds this many items (default "
        f"{MOTO_MAX_ITEMS}): moto copies the whole table for every transaction item, so writes slow down as it grows",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="0 picks a free one"
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None,
        help="a DynamoDB to use instead of --store (your own DynamoDB Local: http://localhost:8000; AWS: the "
        "regional endpoint). The table is created from template.yaml when missing.",
    )
    parser.add_argument("--table", default=None, help="table name (default: TABLE_NAME or session-service-local)")
    parser.add_argument("--no-streams", action="store_true", help="do not deliver the table's stream")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.moto_max_items < 1:
        parser.error("--moto-max-items must be at least 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the server until Ctrl-C or SIGTERM. Returns the exit status (1 if it cannot start)."""
    args = parse_args(argv)
    # Metrics are off locally, so Powertools' "no metrics to publish" warning is noise on every request.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    server = DevServer(
        host=args.host,
        port=args.port,
        endpoint_url=args.endpoint_url,
        table_name=args.table,
        streams=not args.no_streams,
        store=args.store,
        data_dir=args.data_dir,
        workers=args.workers,
        moto_max_items=args.moto_max_items,
    )
    log = logging.getLogger("devserver")
    try:
        server.start()
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    except (DataDirInUse, InvocationError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    except OSError as exc:
        log.error(
            "cannot serve on %s:%s: %s. Another server (a second `make serve`?) holds the port: stop it, or "
            "choose another port: `make serve PORT=%d` (or `--port`)",
            args.host,
            args.port,
            exc.strerror or exc,
            args.port + 1 if args.port else DEFAULT_PORT + 1,
        )
        return 1
    finally:
        # A second SIGTERM must not cut the clean-up short (DynamoDB Local, worker processes).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.stop()
    return 0


def _with_layer_on_path() -> None:
    """Run this command again with the layer (``session_service``) and the checkout importable, when they
    are not: ``python -m devserver`` from the checkout then works without setting ``PYTHONPATH`` (the
    worker processes get the same variable; no ``sys.path`` edits)."""
    if importlib.util.find_spec("session_service") is not None:
        return
    env = {**os.environ, "PYTHONPATH": layer_pythonpath(os.environ.get("PYTHONPATH"))}
    os.execve(sys.executable, [sys.executable, "-m", "devserver", *sys.argv[1:]], env)  # noqa: S606


if __name__ == "__main__":
    _with_layer_on_path()
    sys.exit(main())
