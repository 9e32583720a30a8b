"""An isolated Stigmer stack: its own STIGMER_HOME under a temp dir, its own free ports, its own label.

It is started with ``stigmer server start`` and stopped with ``stigmer server stop`` (the user's way);
teardown then kills whatever still carries the stack's label, and removes its containers.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from support.cli import Cli, CliResult, CliTimeoutError, isolated_env
from support.client import StackClient, wait_serving
from support.ports import LOOPBACK, free_ports
from support.processes import RunId, is_gone, kill_processes, label_env, processes_of
from support.waits import ProcessDiedError, wait_process_gone

SERVER = "stigmer-server"
TAIL_LINES = 40


class StackError(Exception):
    """The stack could not be started or stopped; the message carries the CLI output and logs."""


class StackLeftoverError(StackError):
    """Teardown found ``stigmer server stop`` failing, or processes of the stack outliving it."""


@dataclass(frozen=True)
class PidRecord:
    """A component's pid file: ``{"pid", "create_time", "address", "started_at"}``."""

    pid: int
    create_time: float | None
    address: str | None


@dataclass
class Stack:
    """One private stack. ``components`` lists what it runs (its first entry is the API server)."""

    name: str
    root: Path
    binary: Path
    run_id: RunId
    components: tuple[str, ...] = (SERVER,)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    # Worker processes per runner (`stigmer server start --workers N`); 1 is the stack's default.
    workers: int = 1
    history: list[CliResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port, self.temporal_port = free_ports(2)

    @property
    def home(self) -> Path:
        """The stack's STIGMER_HOME."""
        return self.root / "home"

    @property
    def client_home(self) -> Path:
        """Where the CLI and API clients read the stack's client token (its home, for a stack this run owns)."""
        return self.home

    @property
    def address(self) -> str:
        """host:port of the stack's stigmer-server."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def temporal_address(self) -> str:
        """host:port of the stack's Temporal (where a stack that runs Temporal starts it)."""
        return f"{LOOPBACK}:{self.temporal_port}"

    def env(self) -> dict[str, str]:
        """The environment every process of this stack gets (isolated from the user's settings)."""
        env = isolated_env()
        env.update(
            STIGMER_HOME=str(self.home),
            STIGMER_SERVER_ADDR=self.address,
            # nothing listens here unless a tier provisions Temporal: no stack reaches a stranger's
            STIGMER_TEMPORAL_ADDR=self.temporal_address,
            # every `stigmer server start` of this stack runs the tier's components, not all of them
            STIGMER_COMPONENTS=",".join(self.components),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return label_env(env, self.run_id)

    def cli(self, history: list[CliResult] | None = None) -> Cli:
        """A CLI runner pointed at this stack."""
        return Cli(self.binary, self.env(), history=self.history if history is None else history)

    def client(self) -> StackClient:
        """gRPC handles for this stack's server (close them, or use as a context manager)."""
        return StackClient(self.address, home=self.client_home)

    def start(self) -> CliResult:
        """``stigmer server start`` of the stack's components; returns once the server says SERVING."""
        timeout = self.start_timeout
        components = ",".join(self.components)
        workers = ("--workers", str(self.workers)) if self.workers != 1 else ()
        result = self.cli()(
            "server", "start", "--components", components, "--timeout", f"{timeout:g}", *workers, timeout=timeout + 15
        )
        if result.exit_code != 0:
            raise StackError(f"stack {self.name!r} did not start:\n{result}\n{self.tail()}")
        self.wait_serving(timeout=10)
        return result

    def stop(self, check: bool = True) -> CliResult:
        """``stigmer server stop``; with ``check``, fails unless it exits 0."""
        timeout = self.stop_timeout
        result = self.cli()("server", "stop", "--timeout", f"{timeout:g}", timeout=timeout + 15)
        if check and result.exit_code != 0:
            raise StackError(f"stack {self.name!r} did not stop:\n{result}\n{self.tail()}")
        return result

    def status(self) -> CliResult:
        """``stigmer server status -o json``."""
        return self.cli()("server", "status", "-o", "json")

    def wait_serving(self, timeout: float) -> None:
        """Wait until the server's grpc.health.v1 check says SERVING (fails fast if it died)."""
        wait_serving(self.address, timeout=timeout, alive=self.assert_alive)

    def pid_record(self, component: str = SERVER) -> PidRecord | None:
        """The component's pid file, or None when there is none."""
        path = self.pid_file(component)
        try:
            raw = path.read_text().strip()
        except FileNotFoundError:
            return None
        data: Any = json.loads(raw) if raw.startswith("{") else {"pid": int(raw)}
        return PidRecord(int(data["pid"]), data.get("create_time"), data.get("address"))

    def pid_file(self, component: str = SERVER) -> Path:
        """Where the component's pid file lives."""
        return self.home / "pids" / f"{component}.pid"

    def server_pid(self) -> int | None:
        """The stigmer-server PID from its pid file, or None."""
        record = self.pid_record(SERVER)
        return record.pid if record else None

    def running_pid(self, component: str = SERVER) -> int | None:
        """The component's PID when its pid file names a running process, else None."""
        record = self.pid_record(component)
        if record is None or is_gone(record.pid, record.create_time):
            return None
        return record.pid

    def assert_alive(self) -> None:
        """Liveness check for waits: raises ``ProcessDiedError`` with the last log lines.

        While the stack's supervisor runs (``run/stack.json``), the server counts as alive unless the
        supervisor gave up on it: a crashed server is being restarted. Without one, its pid file decides.
        """
        supervised = self.supervised_state(SERVER)
        if supervised is not None:
            if supervised == "failed":
                raise ProcessDiedError(f"stack {self.name!r}: stigmer-server failed for good\n{self.tail()}")
            return
        record = self.pid_record(SERVER)
        if record is None:
            raise ProcessDiedError(f"stack {self.name!r}: no stigmer-server pid file\n{self.tail()}")
        if is_gone(record.pid, record.create_time):
            raise ProcessDiedError(f"stack {self.name!r}: stigmer-server (pid {record.pid}) died\n{self.tail()}")

    def supervised_state(self, component: str) -> str | None:
        """The component's state per the stack's live supervisor, or None when no supervisor runs."""
        try:
            data = json.loads((self.home / "run" / "stack.json").read_text())
        except (OSError, ValueError):
            return None
        pid = data.get("supervisor_pid")
        if not isinstance(pid, int) or pid <= 0 or is_gone(pid, data.get("supervisor_create_time")):
            return None
        states = {c.get("name"): c.get("state") for c in data.get("components", [])}
        return states.get(component)

    def kill_server(self, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to stigmer-server; for SIGKILL/SIGTERM wait until it is gone. Returns its PID."""
        record = self.pid_record(SERVER)
        if record is None or is_gone(record.pid, record.create_time):
            raise StackError(f"stack {self.name!r}: stigmer-server is not running, nothing to kill")
        os.kill(record.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            wait_process_gone(record.pid, create_time=record.create_time, timeout=self.stop_timeout)
        return record.pid

    @property
    def runs_containers(self) -> bool:
        """Whether the stack runs a component in a container (the agent-runner in docker mode)."""
        return self.extra_env.get("STIGMER_AGENT_RUNNER_MODE") == "docker"

    def _run_files(self) -> str:
        """The supervisor's state file and the pid files, as text (each cut short)."""
        files = [self.home / "run" / "stack.json", *sorted((self.home / "pids").glob("*.pid"))]
        parts = []
        for path in files:
            try:
                parts.append(f"{path.relative_to(self.home)}: {path.read_text(errors='replace')[:1500]}")
            except OSError as exc:
                parts.append(f"{path.relative_to(self.home)}: unreadable ({exc.strerror})")
        return "\n".join(parts)

    def labelled(self) -> list[psutil.Process]:
        """Processes carrying this stack's label."""
        return processes_of(self.run_id)

    def log_paths(self) -> dict[str, Path]:
        """Component name -> log file, for every log the stack has written."""
        logs = self.home / "logs"
        return {path.stem: path for path in sorted(logs.glob("*.log"))} if logs.is_dir() else {}

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of every component log, for failure messages."""
        parts = []
        for component, path in self.log_paths().items():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last {len(text)} lines of {component} log ({path}) ---\n" + "\n".join(text))
        return "\n".join(parts) if parts else f"(no logs in {self.home / 'logs'})"

    def teardown(self) -> list[int]:
        """Stop the stack through the CLI, then kill anything left with its label; the PIDs killed.

        Raises ``StackLeftoverError`` when ``stigmer server stop`` failed or processes of the stack
        outlived it: what ``stop`` promises (no process behind) did not hold. They are killed first,
        so nothing is left either way.
        """
        problems = []
        stopped: CliResult | None = None
        recorded = (self.home / "run" / "stack.json").exists() or any((self.home / "pids").glob("*.pid"))
        run_files = self._run_files() if recorded else "(nothing recorded)"
        if recorded or self.running_pid(SERVER) is not None:
            try:
                stopped = self.stop(check=False)
            except CliTimeoutError as exc:
                problems.append(str(exc))
            else:
                if stopped.exit_code != 0:
                    problems.append(f"`stigmer server stop` failed:\n{stopped}")
        leftovers = self.labelled()
        described = [_describe(proc) for proc in leftovers]
        killed = kill_processes(leftovers)
        if killed:
            problems.append(f"{len(killed)} process(es) still ran after stop (now killed): {'; '.join(described)}")
            # what stop saw and said: the evidence of why it left them
            problems.append(f"the stack's run files before stop:\n{run_files}")
            if stopped is not None and stopped.exit_code == 0:
                problems.append(f"`stigmer server stop` had said:\n{stopped}")
        if self.runs_containers:
            from support import labelled_containers

            removed = labelled_containers.remove(labelled_containers.of_home(self.home))
            if removed:
                problems.append(f"{len(removed)} container(s) were left after stop (now removed): {'; '.join(removed)}")
        if problems:
            raise StackLeftoverError(f"stack {self.name!r}: " + "\n".join(problems) + f"\n{self.tail()}")
        return killed


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid} {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {proc.pid}"


@dataclass
class StackFactory:
    """Makes stacks under one base directory, all labelled with the run's ID plus their own tag."""

    base_dir: Path
    binary: Path
    run_id: RunId
    created: int = 0

    def next_tag(self, name: str) -> str:
        """A name for the next stack of ``name``, unique in this run (its folder and process label)."""
        self.created += 1
        return f"{_tag_safe(name)[:40]}-{self.created}"

    def create(
        self,
        name: str,
        components: tuple[str, ...] = (SERVER,),
        extra_env: Mapping[str, str] | None = None,
        workers: int = 1,
    ) -> Stack:
        """A new, not yet started stack named after ``name`` (made unique)."""
        tag = self.next_tag(name)
        return Stack(
            name=tag,
            root=self.base_dir / tag,
            binary=self.binary,
            run_id=self.run_id.with_tag(tag),
            components=components,
            extra_env=dict(extra_env or {}),
            workers=workers,
        )


def _tag_safe(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in name).strip("-_.")
    return cleaned or "stack"
