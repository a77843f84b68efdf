"""``python -m devserver [--port N] [--host H] [--endpoint-url URL] [--table NAME]``: the local API (``make serve``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from types import FrameType

from devserver.server import DEFAULT_PORT, DevServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``PORT``, ``HOST``, ``AWS_ENDPOINT_URL_DYNAMODB`` and ``TABLE_NAME`` are the
    defaults."""
    parser = argparse.ArgumentParser(prog="python -m devserver", description="Serve the Session Service API locally.")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="0 picks a free one"
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None,
        help="DynamoDB to use instead of the embedded one (DynamoDB Local: http://localhost:8000; AWS: the "
        "regional endpoint). The table is created from template.yaml when missing.",
    )
    parser.add_argument("--table", default=None, help="table name (default: TABLE_NAME or session-service-local)")
    parser.add_argument("--no-streams", action="store_true", help="do not deliver the table's stream")
    return parser.parse_args(argv)


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
    )
    try:
        server.start()
        server.serve_forever()
    except KeyboardInterrupt:
        logging.getLogger("devserver").info("stopping")
    except OSError as exc:
        logging.getLogger("devserver").error("cannot serve on %s:%s: %s", args.host, args.port, exc)
        return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
