"""Build the Function Compute package of the push mode: a zip with index.py at its root, the
modules of focus_assets that it imports, and (unless --no-dependencies) oss2 and boto3 installed
for the python3.12 runtime on x86_64 (Debian 11, glibc 2.31: manylinux2014 wheels only).

    python deploy/function_compute/package.py --out dist/focus-assets-function.zip [--no-dependencies]

oss2 and crcmod exist on PyPI as source only: they are built into wheels first, with a Python
3.12 interpreter (--build-python, default `python3.12`), so that crcmod's C extension matches
the runtime. Everything else comes as wheels for the runtime's platform, whatever this machine is.

The zip is deterministic: entries sorted, timestamps and permissions fixed, no bytecode and no
install records (which hold temporary paths).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# What index.py imports, and what those import (besides the standard library, oss2 and boto3).
# The tests run the handler from the unzipped package with dagster, polars, pyarrow and duckdb
# blocked: a module missing here, or one that pulls in something heavy, fails them.
MODULES = (
    "focus_assets/__init__.py",
    "focus_assets/focus/__init__.py",
    "focus_assets/focus/names.py",
    "focus_assets/storage/__init__.py",
    "focus_assets/storage/base.py",
    "focus_assets/storage/oss.py",
    "focus_assets/storage/oss_events.py",
    "focus_assets/storage/replication.py",
    "focus_assets/storage/s3.py",
)
REQUIREMENTS = HERE / "requirements.txt"
SOURCE_ONLY = ("oss2", "crcmod")  # no wheel on PyPI
PLATFORMS = ("manylinux2014_x86_64", "linux_x86_64")  # the second: crcmod's wheel built here
RUNTIME_PYTHON = "3.12"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold


class PackageError(RuntimeError):
    """The package cannot be built: one line saying why."""


def _pins(requirements: Path) -> dict[str, str]:
    """{name: 'name==version'} of the requirements file."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pins[line.split("==")[0].strip().lower()] = line
    return pins


def _run(command: list[str], env: dict | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackageError(f"{' '.join(command[:4])} ... failed: {last}")


def install_dependencies(target: Path, build_python: str, work: Path) -> None:
    """pip-install the requirements into `target` for the Function Compute runtime."""
    try:
        version = subprocess.run(
            [build_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        version = ""
    if version != RUNTIME_PYTHON:
        raise PackageError(
            f"--build-python {build_python!r} is not a Python {RUNTIME_PYTHON} interpreter "
            f"(needed to build {', '.join(SOURCE_ONLY)} for the runtime)"
        )
    pins = _pins(REQUIREMENTS)
    missing = [name for name in SOURCE_ONLY if name not in pins]
    if missing:
        raise PackageError(f"{REQUIREMENTS.name} must pin {', '.join(missing)}")
    wheels = work / "wheels"
    # No debug information: the compiled extension is then the same from one build to the next.
    env = {**os.environ, "CFLAGS": "-g0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run(
        [
            build_python,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            *(pins[name] for name in SOURCE_ONLY),
        ],
        env,
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(target),
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            "--python-version",
            RUNTIME_PYTHON,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "--find-links",
            str(wheels),
            "-r",
            str(REQUIREMENTS),
        ],
        env,
    )


def _shipped(relative: Path) -> bool:
    """Not shipped: bytecode, console scripts, and install records with this machine's paths."""
    parts = relative.parts
    if "__pycache__" in parts or relative.suffix == ".pyc" or parts[0] == "bin":
        return False
    return not (parts[0].endswith(".dist-info") and relative.name in ("RECORD", "INSTALLER", "direct_url.json"))


def entries(dependencies: Path | None) -> dict[str, Path]:
    """{name in the zip: file}: the handler at the root, the project's modules, the dependencies."""
    found = {"index.py": HERE / "index.py", **{module: ROOT / module for module in MODULES}}
    if dependencies is not None:
        for path in dependencies.rglob("*"):
            relative = path.relative_to(dependencies)
            if path.is_file() and _shipped(relative):
                if relative.as_posix() in found:
                    raise PackageError(f"a dependency ships {relative.as_posix()}, which the project's module has")
                found[relative.as_posix()] = path
    return found


def write_zip(out: Path, files: dict[str, Path]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if name.endswith(".so") or ".so." in name else 0o644
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.create_system = 3  # Unix, so that the permissions are read
            archive.writestr(info, files[name].read_bytes(), compresslevel=9)
    partial.replace(out)


def build(out: Path, with_dependencies: bool = True, build_python: str = "python3.12") -> int:
    """Write the zip; returns its size in bytes."""
    with tempfile.TemporaryDirectory(prefix="focus-assets-function-") as work:
        dependencies = None
        if with_dependencies:
            dependencies = Path(work) / "site"
            install_dependencies(dependencies, build_python, Path(work))
        write_zip(out, entries(dependencies))
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "focus-assets-function.zip")
    parser.add_argument(
        "--no-dependencies",
        action="store_true",
        help="only the handler and the project's modules (oss2 and boto3 come from elsewhere)",
    )
    parser.add_argument(
        "--build-python",
        default=os.environ.get("PYTHON312", "python3.12"),
        help="a Python 3.12 interpreter, to build oss2 and crcmod (default: $PYTHON312 or python3.12)",
    )
    args = parser.parse_args(argv)
    try:
        size = build(args.out, not args.no_dependencies, args.build_python)
    except PackageError as exc:
        print(f"package.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
