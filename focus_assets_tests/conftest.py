"""Fixtures shared across test files."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from focus_assets import demo

from .installed_wheel import install_wheel_venv


@dataclass(frozen=True)
class DemoRun:
    home: Path  # FOCUS_HOME: the demo's OSS folder, raw bucket, lake, warehouse and report
    output: str  # what it printed


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """`make demo`'s program, run once for the session in pull mode on a temporary FOCUS_HOME
    (it takes ~15 s). Tests only read its home; a test that needs to change one runs its own."""
    home = tmp_path_factory.mktemp("demo-home")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("FOCUS_HOME", str(home))
        patch.delenv("FOCUS_INGESTION_MODE", raising=False)
        status = demo.main()
    assert status == 0, printed.getvalue()[-3000:]
    return DemoRun(home, printed.getvalue())


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory) -> Path:
    """This checkout built as a wheel and installed (not editable) with its dependencies into a
    fresh venv, once for the session (installed_wheel.py: it takes tens of seconds). Returns the
    venv folder; its bin/ has python, dagster, dagster-webserver and dagster-daemon.

    Under xdist (`make test`) the workers share it: the first to need it builds it under a lock
    in the session's common temporary folder, and the others wait for it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # each worker's folder is a child of the session's
    venv, ready = shared / "wheel-venv", shared / "wheel-venv.ready"
    with open(shared / "wheel-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)  # what a failed attempt left
            install_wheel_venv(venv)
            ready.touch()
    return venv
