"""This checkout as a team installs it: built as a wheel, installed (not editable) with its
dependencies into a fresh virtual environment.

The session fixture `wheel_venv` (conftest.py) calls `install_wheel_venv` once; the tests that run
the package as production runs it (test_wheel.py, and the Postgres-backed deployment) use the
programs in its bin/.

How the fresh venv gets its dependencies: a real `pip install <wheel>` from the package registry,
as an image build does, so what gets installed is what the wheel's metadata declares. It costs
tens of seconds and a download of the dependencies (pip keeps no HTTP cache of them here), once
per session. The versions are held to those of the test venv (a constraints file from `pip list`):
constraints never add a package, so a dependency missing from pyproject.toml is still missing,
but the installed run and the editable one use the same libraries, and pip does not backtrack.
(A test venv older than a changed pin in pyproject.toml makes pip refuse: `make install` first.)
A faster way was measured and not kept: `pip install --no-deps` plus a .pth file pointing at the
test venv's site-packages, console scripts written by hand. It hides what this test exists to
find: a dependency missing from pyproject.toml (dagster-postgres, say) would still import from the
test venv, and so would pytest, moto and everything else the suite installs. The install compiles
bytecode, as pip does by default: with PYTHONDONTWRITEBYTECODE set, as it is on some machines,
every `dagster` process would otherwise compile the modules it imports again.

The wheel is built from a copy of the working tree's files (tracked, and untracked but not
ignored: what `git status` shows), so uncommitted changes are tested and nothing left in the
checkout (`build/`, a compiled reader, `.egg-info`) can slip into the wheel; the build never writes
into the checkout, which other work shares.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# The programs other tests start from the venv (the deployment: code server, webserver, daemon).
PROGRAMS = ("python", "dagster", "dagster-webserver", "dagster-daemon")
WHEEL_FOLDER = "wheel"  # inside the venv folder: the wheel it was installed from


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without what would make another interpreter import from the test
    venv or the checkout."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__")
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environment.update(extra)
    return environment


def _run(command: list[str | Path], cwd: Path, what: str) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=clean_environment(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}): {' '.join(map(str, command))}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    return done.stdout


def working_tree_files(checkout: Path = CHECKOUT) -> list[str]:
    """The checkout's files as `git status` sees them: tracked, and untracked but not ignored."""
    listing = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], checkout, "git ls-files")
    return sorted(name for name in set(listing.split("\0")) if name and (checkout / name).is_file())


def build_wheel(wheel_dir: Path, checkout: Path = CHECKOUT) -> Path:
    """Build the package's wheel from a copy of the working tree into `wheel_dir`; returns it."""
    with tempfile.TemporaryDirectory(prefix="focus-assets-source-") as temporary:
        source = Path(temporary) / "focus-assets"
        for name in working_tree_files(checkout):
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(checkout / name, target)
        # Build isolation installs the build backend (setuptools) from the registry, as `pip wheel .` does.
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", wheel_dir, source],
            Path(temporary),
            "pip wheel",
        )
    wheels = sorted(Path(wheel_dir).glob("focus_assets-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one focus_assets wheel in {wheel_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def installed_wheel(venv: Path) -> Path:
    """The wheel that `install_wheel_venv` built and installed into `venv`."""
    [wheel] = sorted((Path(venv) / WHEEL_FOLDER).glob("focus_assets-*.whl"))
    return wheel


def install_wheel_venv(destination: Path) -> Path:
    """Build the wheel, create a venv at `destination` (an empty or missing folder) and install the
    wheel into it with its dependencies; returns the venv folder, whose bin/ has python, dagster,
    dagster-webserver and dagster-daemon. Checks that focus_assets imports from the venv itself."""
    venv = Path(destination).resolve()
    venv.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(venv / WHEEL_FOLDER)
    # sys.executable is the test venv's python; `-m venv` bases the new venv on the interpreter
    # behind it, so the test venv's packages are not visible in the new one.
    _run([sys.executable, "-m", "venv", venv], venv, "python -m venv")
    python = venv / "bin" / "python"
    constraints = venv / WHEEL_FOLDER / "test-venv-versions.txt"
    constraints.write_text(
        _run([sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"], venv, "pip list")
    )
    _run(
        [python, "-m", "pip", "install", "--quiet", "--constraint", constraints, wheel],
        venv,
        f"pip install {wheel.name}",
    )
    missing = [name for name in PROGRAMS if not (venv / "bin" / name).is_file()]
    if missing:
        raise RuntimeError(f"{venv / 'bin'} lacks {', '.join(missing)} after installing {wheel.name}")
    # Imported from a folder outside the checkout; a leak of the checkout's editable install
    # (or of the test venv) would show as a path outside the venv.
    with tempfile.TemporaryDirectory(prefix="focus-assets-import-") as elsewhere:
        found = _run(
            [python, "-c", "import focus_assets; print(focus_assets.__file__)"], Path(elsewhere), "import focus_assets"
        ).strip()
    if not Path(found).resolve().is_relative_to(venv / "lib"):
        raise RuntimeError(f"the fresh venv imports focus_assets from {found}, not from its own site-packages")
    return venv
