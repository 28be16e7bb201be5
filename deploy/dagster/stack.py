"""The production topology of docs/deploy.md on one machine: PostgreSQL, the code location as a
gRPC code server, the webserver and the daemon, each a process of its own, with the instance of
deploy/dagster/dagster.yaml and the workspace of deploy/dagster/workspace.yaml as they are.

    make stack
    .venv/bin/python deploy/dagster/stack.py [--home DIR] [--port 3000] [--venv DIR]

`make stack` uses FOCUS_HOME (default .focus/): the export bucket, the lake and the warehouse as
on any `local` run, and beside them `stack/`: the PostgreSQL cluster (created with initdb on
first use, its password in `stack/postgres.password`, readable by you only), Dagster's home and
the processes' logs. Ctrl-C stops everything. focus_assets_tests/test_stack.py starts the same
processes through `Stack`.

PostgreSQL comes from the machine (Debian: `apt-get install postgresql`). It refuses to run as
root: as root, initdb and postgres run as the `postgres` user, which must be able to reach the
cluster's folder. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAGSTER_YAML = HERE / "dagster.yaml"
WORKSPACE_YAML = HERE / "workspace.yaml"
LOCATION = "focus_assets"  # the workspace's location_name
DEFINITIONS_MODULE = "focus_assets.definitions"
DATABASE = USER = "dagster"


def code_server_arguments(host: str, port: int) -> list[str]:
    """The code server's command line after `dagster`: the Dockerfile's CMD runs the same."""
    return ["code-server", "start", "-m", DEFINITIONS_MODULE, "-h", host, "-p", str(port)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    """The folder of initdb and postgres: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: initdb was not found (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: there it runs as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class StackError(RuntimeError):
    pass


@dataclass
class Postgres:
    """A private PostgreSQL cluster in `folder` (created on first use), on 127.0.0.1 only, with
    password authentication for the one user `dagster` and no Unix socket."""

    folder: Path
    password: str
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def initialize(self) -> None:
        """initdb and the database, in a folder of their own renamed into place when both are done:
        an interrupted first start leaves nothing that looks like a cluster."""
        if (self.data / "PG_VERSION").exists():
            return
        building = self.folder / "data.initdb"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        building.chmod(0o700)
        if os.geteuid() == 0:
            shutil.chown(building, "postgres", "postgres")
            _run(
                [*_as_postgres_user(), "test", "-w", str(building)],
                f"a check that the postgres user can write {building} (every folder above it must let it through)",
            )
        binaries = postgres_bin()
        # initdb reads the password from a file: one readable by the cluster's owner only, removed at once.
        password_file = self.folder / ".initdb-password"
        password_file.touch(0o600)
        try:
            password_file.write_text(self.password + "\n")
            if os.geteuid() == 0:
                shutil.chown(password_file, "postgres", "postgres")
            _run(
                [
                    *_as_postgres_user(),
                    str(binaries / "initdb"),
                    "-D",
                    str(building),
                    "-U",
                    USER,
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    f"--pwfile={password_file}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                "initdb",
            )
        finally:
            password_file.unlink()
        # The database, in single-user mode before the server ever listens.
        _run(
            [*_as_postgres_user(), str(binaries / "postgres"), "--single", "-D", str(building), "postgres"],
            "CREATE DATABASE",
            stdin=f"CREATE DATABASE {DATABASE};\n",
        )
        building.rename(self.data)

    def start(self, log: Path) -> None:
        self.initialize()
        self.port = self.port or free_port()
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                [
                    *_as_postgres_user(),
                    str(postgres_bin() / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: (
                subprocess.run(
                    [str(postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
                ).returncode
                == 0
            ),
            "PostgreSQL",
            60,
            self.process,
            log,
        )

    def environment(self) -> dict[str, str]:
        """What dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": DATABASE,
        }


def _run(command: list[str], what: str, stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, text=True, capture_output=True)
    if result.returncode != 0:
        raise StackError(f"{what} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def wait_until(
    check,
    what: str,
    seconds: float,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    pause: float = 0.5,
):
    """Poll `check` until it returns something true; fail when the deadline passes or `process` exits."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what}: exited with {process.returncode}" + _tail(log))
        try:
            found = check()
        except (OSError, ValueError, KeyError):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise StackError(f"{what}: not ready within {seconds:.0f} s" + _tail(log))
        time.sleep(pause)


def _tail(log: Path | None, characters: int = 4000) -> str:
    if log is None or not log.exists():
        return ""
    return f"\n--- the end of {log}\n{log.read_text(errors='replace')[-characters:]}"


def graphql(base: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    """One GraphQL request to the webserver; GraphQL errors raise."""
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise StackError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


@dataclass
class Stack:
    """PostgreSQL, the code server, the webserver and the daemon, started in that order and
    stopped in reverse. `venv` is the environment with focus-assets installed (its `bin/` has
    `dagster`, `dagster-webserver` and `dagster-daemon`)."""

    home: Path  # FOCUS_HOME
    venv: Path
    state: Path  # Dagster's home, the logs (and by default the PostgreSQL cluster)
    postgres_folder: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 0
    environment: dict[str, str] = field(default_factory=dict)  # more settings for every process
    base_environment: dict[str, str] | None = None  # what the processes inherit (default: this process's)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self):
        self.home, self.venv, self.state = (
            Path(self.home).resolve(),
            Path(self.venv).absolute(),
            Path(self.state).resolve(),
        )
        self.logs = self.state / "logs"
        self.dagster_home = self.state / "dagster"
        self.postgres = Postgres(Path(self.postgres_folder or self.state / "postgres").resolve(), self._password())
        self.code_server_port = free_port()
        self.web_port = self.web_port or free_port()

    @property
    def url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    def _password(self) -> str:
        """The cluster's password: made once, kept beside it, readable by its owner only."""
        path = self.state / "postgres.password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(0o600)
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def process_environment(self) -> dict[str, str]:
        """Your settings (FOCUS_*, AWS_*, ...) and the stack's: its FOCUS_HOME, Dagster's home, the
        code server's address and PostgreSQL's credentials."""
        inherited = {
            name: value
            for name, value in (self.base_environment or os.environ).items()
            if not name.startswith("DAGSTER_")
        }
        return {
            **inherited,
            "FOCUS_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster_home),
            "FOCUS_CODE_SERVER_HOST": "127.0.0.1",
            "FOCUS_CODE_SERVER_PORT": str(self.code_server_port),
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            **self.postgres.environment(),
            **self.environment,
        }

    def commands(self) -> dict[str, list[str]]:
        bin_ = self.venv / "bin"
        return {
            "code-server": [str(bin_ / "dagster"), *code_server_arguments("127.0.0.1", self.code_server_port)],
            "webserver": [
                str(bin_ / "dagster-webserver"),
                "-w",
                str(WORKSPACE_YAML),
                "-h",
                self.web_host,
                "-p",
                str(self.web_port),
            ],
            "daemon": [str(bin_ / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
        }

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self) -> Stack:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DAGSTER_YAML, self.dagster_home / "dagster.yaml")
        self.postgres.start(self.log("postgres"))
        self.processes["postgres"] = self.postgres.process
        self.start_process("code-server")
        self.start_process("webserver")
        self.start_process("daemon")
        self.wait_for_webserver()
        return self

    def start_process(self, name: str) -> None:
        """Start one Dagster process in a session of its own (so that killing it kills its children
        too, as when its container dies); for the code server, wait until it serves."""
        with open(self.log(name), "ab") as output:
            # The run workers are children of the code server: they get its folder, outside the checkout.
            self.processes[name] = subprocess.Popen(
                self.commands()[name],
                cwd=self.state,
                env=self.process_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if name == "code-server":
            wait_until(
                lambda: (
                    "Started Dagster code server" in self.log(name).read_text(errors="replace")
                    and _accepts(self.code_server_port)
                ),
                "the code server",
                180,
                self.processes[name],
                self.log(name),
            )

    def wait_for_webserver(self) -> None:
        process, log = self.processes["webserver"], self.log("webserver")
        wait_until(
            lambda: b"dagster_webserver_version" in urllib.request.urlopen(f"{self.url}/server_info", timeout=5).read(),
            "dagster-webserver",
            180,
            process,
            log,
        )
        query = (
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError {"
            " __typename ... on PythonError { message } } } } } }"
        )

        def location_loaded():
            entries = graphql(self.url, query)["workspaceOrError"]["locationEntries"]
            return [
                e
                for e in entries
                if e["name"] == LOCATION
                and e["loadStatus"] == "LOADED"
                and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            ]

        wait_until(location_loaded, "the code location in the webserver", 180, process, log)

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started (for the code server: the runs it launched)."""
        process = self.processes[name]
        _signal_group(process, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for name in ("daemon", "webserver", "code-server", "postgres"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            # SIGINT: Ctrl-C for the Dagster processes, a fast shutdown for PostgreSQL.
            _signal_group(process, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        # A run worker outlives a code server that was stopped while it ran: end what is left in its group.
        for name, process in self.processes.items():
            if name != "postgres":
                _signal_group(process, signal.SIGKILL)

    def logs_text(self, characters: int = 6000) -> str:
        """The end of every process's log, for a failure message."""
        return "".join(_tail(self.log(name), characters) for name in ("postgres", "code-server", "webserver", "daemon"))

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _signal_group(process: subprocess.Popen, signal_number: int) -> None:
    try:
        os.killpg(process.pid, signal_number)
    except ProcessLookupError:
        pass


def _interrupt(signal_number, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("FOCUS_HOME", ".focus")),
        help="FOCUS_HOME (default: $FOCUS_HOME or .focus)",
    )
    parser.add_argument("--port", type=int, default=3000, help="the webserver's port (default 3000)")
    parser.add_argument(
        "--venv", type=Path, default=Path(sys.prefix), help="the environment with focus-assets installed"
    )
    arguments = parser.parse_args(argv)
    stack = Stack(home=arguments.home, venv=arguments.venv, state=arguments.home / "stack", web_port=arguments.port)
    # The processes run in sessions of their own, so a signal to this one must stop them: Ctrl-C,
    # `kill` and a closed terminal alike (also when started where SIGINT is ignored).
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    print(f"starting PostgreSQL, the code server, the webserver and the daemon; logs in {stack.logs}", flush=True)
    interrupted = False
    try:
        with stack:
            print(f"Dagster UI: {stack.url}  (Ctrl-C stops everything)", flush=True)
            while all(process.poll() is None for process in stack.processes.values()):
                time.sleep(1)
            stopped = [name for name, process in stack.processes.items() if process.poll() is not None]
            print(
                f"{', '.join(stopped)} stopped: stopping the rest{_tail(stack.log(stopped[0]), 2000)}", file=sys.stderr
            )
    except KeyboardInterrupt:
        interrupted = True
    except StackError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0 if interrupted else 1


if __name__ == "__main__":
    sys.exit(main())
