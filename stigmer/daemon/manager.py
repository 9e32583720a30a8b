"""Starting and stopping the components of the local stack as detached processes."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stigmer.config import Settings
from stigmer.daemon import pidfile
from stigmer.daemon.components import Component, default_components
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.health import HealthState, check_health
from stigmer.daemon.lock import DaemonLock
from stigmer.daemon.logs import file_size, tail_lines
from stigmer.daemon.pidfile import PidRecord
from stigmer.daemon.process_tree import terminate_tree

LOG_LINES_ON_FAILURE = 20
EXIT_POLL_INTERVAL = 0.1
READY_CHECK_TIMEOUT = 0.5


@dataclass(frozen=True)
class Started:
    """A component that is running after ``start``; ``already_running`` when it was not started now."""

    name: str
    record: PidRecord
    already_running: bool
    seconds_to_ready: float = 0.0


@dataclass(frozen=True)
class Stopped:
    """The outcome of stopping one component; ``pid`` is None when it was not running."""

    name: str
    pid: int | None
    killed: bool = False


@dataclass(frozen=True)
class Status:
    """What ``stigmer server status`` reports for one component."""

    name: str
    running: bool
    pid: int | None
    address: str
    healthy: bool


class Daemon:
    """The process manager for one STIGMER_HOME.

    ``environ`` is the environment the components inherit (the CLI passes its own through).
    """

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        components: tuple[Component, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        self.components = components if components is not None else default_components()

    @property
    def lock_path(self) -> Path:
        return self.settings.home / "daemon.lock"

    def _lock(self, timeout: float) -> DaemonLock:
        return DaemonLock(self.lock_path, timeout=timeout)

    # --- start ---------------------------------------------------------------------------

    def start(self, timeout: float) -> list[Started]:
        """Start every component not running yet, each ready before the next; one overall deadline.

        On any failure (or Ctrl-C) the components started by this call are stopped again.
        """
        deadline = time.monotonic() + timeout
        started_now: list[Started] = []
        with self._lock(timeout):
            try:
                results = []
                for component in self.components:
                    result = self._start_one(component, deadline)
                    if not result.already_running:
                        started_now.append(result)
                    results.append(result)
                return results
            except BaseException:
                for result in reversed(started_now):
                    self._stop_one(self._component(result.name), timeout=5.0)
                raise

    def _component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def _start_one(self, component: Component, deadline: float) -> Started:
        pid_path = self.settings.pid_file(component.name)
        record = pidfile.read_live(pid_path)
        if record is not None:
            return Started(component.name, record, already_running=True)
        address = component.address(self.settings)
        if component.serves_health and check_health(address, timeout=0.5) is not HealthState.UNREACHABLE:
            raise DaemonError(
                f"cannot start {component.name}: something else already answers at {address}; "
                "stop it, or configure another address for it"
            )
        log_path = self.settings.log_file(component.name)
        log_start = self._open_log(component, log_path, address)
        began = time.monotonic()
        process = self._spawn(component, log_path)
        try:
            record = PidRecord.for_process(process.pid, address)
            pidfile.write(pid_path, record)
            self._wait_ready(component, process, address, deadline, log_path, log_start)
        except BaseException:
            terminate_tree(process.pid, timeout=5.0)
            process.poll()
            pidfile.remove(pid_path)
            raise
        return Started(component.name, record, already_running=False, seconds_to_ready=time.monotonic() - began)

    def _open_log(self, component: Component, log_path: Path, address: str) -> int:
        """Mark the start of this run in the log; return the offset where its output begins."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with log_path.open("a") as log:
            log.write(f"--- {stamp} starting {component.name} at {address} ---\n")
        return file_size(log_path)

    def _spawn(self, component: Component, log_path: Path) -> subprocess.Popen[bytes]:
        env = {**self.environ, **component.extra_env(self.settings)}
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            # Detached: its own session and process group, no terminal, output appended to its log.
            return subprocess.Popen(
                component.command(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.settings.home,
                env=env,
                start_new_session=True,
                close_fds=True,
            )

    def _wait_ready(
        self,
        component: Component,
        process: subprocess.Popen[bytes],
        address: str,
        deadline: float,
        log_path: Path,
        log_start: int,
    ) -> None:
        probe = component.readiness(address)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StartTimeoutError(
                        f"{component.name} did not become ready at {address} in time"
                        + _log_excerpt(log_path, log_start)
                    )
                if probe.ready(timeout=min(READY_CHECK_TIMEOUT, remaining)):
                    return
                try:
                    code = process.wait(timeout=min(EXIT_POLL_INTERVAL, max(remaining, 0.001)))
                except subprocess.TimeoutExpired:
                    continue
                raise DaemonError(
                    f"{component.name} exited with code {code} while starting" + _log_excerpt(log_path, log_start)
                )
        finally:
            probe.close()

    # --- stop ----------------------------------------------------------------------------

    def stop(self, timeout: float) -> list[Stopped]:
        """Stop every running component, in reverse start order."""
        with self._lock(timeout + 5.0):
            return [self._stop_one(component, timeout) for component in reversed(self.components)]

    def _stop_one(self, component: Component, timeout: float) -> Stopped:
        pid_path = self.settings.pid_file(component.name)
        record = pidfile.read_live(pid_path)
        if record is None:
            return Stopped(component.name, pid=None)
        result = terminate_tree(record.pid, timeout=timeout)
        pidfile.remove(pid_path)
        return Stopped(component.name, pid=record.pid, killed=result.killed)

    # --- status --------------------------------------------------------------------------

    def status(self, probe_timeout: float = 1.0) -> list[Status]:
        """Whether each component runs (live pid file) and answers its health check."""
        statuses = []
        for component in self.components:
            record = pidfile.read_live(self.settings.pid_file(component.name))
            address = record.address if record else component.address(self.settings)
            healthy = (
                record is not None
                and component.serves_health
                and check_health(address, timeout=probe_timeout) is HealthState.SERVING
            )
            statuses.append(
                Status(
                    name=component.name,
                    running=record is not None,
                    pid=record.pid if record else None,
                    address=address,
                    healthy=healthy,
                )
            )
        return statuses


def _log_excerpt(log_path: Path, start: int) -> str:
    lines = tail_lines(log_path, LOG_LINES_ON_FAILURE, start=start)
    if not lines:
        return f" (its log {log_path} is empty)"
    body = "\n".join(f"  {line}" for line in lines)
    return f". Last lines of {log_path}:\n{body}"
