"""The CLI's side of the daemon: start the supervisor and wait for it, stop it, report the stack's status.

One ``stigmer server start`` or ``stop`` runs at a time per STIGMER_HOME (:class:`DaemonLock`). Start
spawns the supervisor (:mod:`.supervisor`) detached and waits on a pipe for its one-line verdict
("running" or "failed" with the reason), so it returns the moment the last component is ready and
fails with the component's log lines when one dies. Stop asks the supervisor to stop (SIGTERM), waits,
and kills whatever is left, including processes of a supervisor that was itself killed.

``stop -c X`` / ``start -c X`` on a running stack ask its supervisor to hold X down or start it again
(:mod:`.control`); ``start -c X`` on a stack that does not run starts the stack with X (and what X needs).

``stigmer server status -o json`` prints ``{"home": str, "components": [ComponentStatus, ...]}``, one
entry per component in start order, with the fields of :class:`ComponentStatus` (a stable shape:
fields are added, never renamed or removed). Fault injectors find a component's pid here, never by a
process-name pattern.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stigmer import liveness
from stigmer.config import COMPONENTS, Settings
from stigmer.daemon import control, pidfile, state
from stigmer.daemon.errors import DaemonError, StackNotRunningError, StartTimeoutError
from stigmer.daemon.health import HealthState
from stigmer.daemon.homedir import PRIVATE_FILE_MODE, prepare_home
from stigmer.daemon.lock import DaemonLock
from stigmer.daemon.logs import file_size, tail_lines
from stigmer.daemon.process_tree import terminate_tree
from stigmer.daemon.registry import ALL
from stigmer.daemon.selection import resolve
from stigmer.daemon.state import ComponentState, StackState

SUPERVISOR = "supervisor"
VERDICT_MARGIN = 5.0  # the supervisor enforces the start timeout; this covers its own start-up
LOG_LINES_ON_FAILURE = 20
STOP_POLL_INTERVAL = 0.02
STOP_MARGIN = 0.5  # of --timeout, left for the supervisor itself after its components stopped
NOT_MANAGED = "running, not managed by this STIGMER_HOME"
# a health probe of `server status`: long enough for a healthy component on a busy machine
STATUS_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class StartResult:
    """The stack after ``start``; ``already_running`` when this call started nothing."""

    state: StackState
    already_running: bool
    stopped_leftovers: tuple[str, ...] = ()
    # Held-down components that this call started again (``start -c`` on a running stack).
    started: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stopped:
    """One component that ``stop`` found running: its pid, and whether it had to be killed."""

    name: str
    pid: int
    killed: bool = False
    # A container of the component removed (its short ID and name) instead of a process stopped.
    container: str | None = None


@dataclass(frozen=True)
class ComponentStatus:
    """What ``stigmer server status`` reports for one component (``-o json``: these fields, in this order).

    - ``name``: stigmer-server, temporal, workflow-runner or agent-runner.
    - ``state``: running, starting, restarting, failed, stopped (also when held down), external.
    - ``running``: true for running and external.
    - ``managed``: started (and restarted, stopped) by this STIGMER_HOME's supervisor.
    - ``pid``: the component's process (the root of its tree) when it runs, else null.
    - ``address``: host:port it listens on (null for the runners).
    - ``healthy``: its health right now (gRPC health SERVING; a runner: ready and touching its liveness file).
    - ``restarts``: restarts by the supervisor (after crashes and failed health checks).
    - ``ports``: every port it was given ({"grpc": ...}; Temporal also "http", "metrics").
    - ``last_exit``: exit code of its last process (negative: killed by that signal), or null.
    - ``note``: a hint for humans (why it is stopped, failed or external), or null.
    - ``held``: held down by ``stigmer server stop -c`` (state stopped) until ``server start -c``.
    - ``health_restarts``: how many times it was killed for failing its health check past the grace.
    - ``unhealthy_since``: ISO time since which its health check fails (the supervisor's view), or null.
    - ``last_restart_reason``: why it was last restarted, or null.
    - ``container_id``, ``image``: the container it runs in (the agent-runner in docker mode), else null.
    - ``workers``: worker processes of a runner (``--workers``; each polls its task queues), else null.
    """

    name: str
    state: str
    running: bool
    managed: bool
    pid: int | None
    address: str | None
    healthy: bool
    restarts: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    last_exit: int | None = None
    note: str | None = None
    held: bool = False
    health_restarts: int = 0
    unhealthy_since: str | None = None
    last_restart_reason: str | None = None
    container_id: str | None = None
    image: str | None = None
    workers: int | None = None


class Daemon:
    """The stack of one STIGMER_HOME, as the CLI manages it.

    ``environ`` is the environment the supervisor and its components inherit (the CLI passes its own).
    """

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)

    @property
    def lock_path(self) -> Path:
        return self.settings.home / "daemon.lock"

    @contextlib.contextmanager
    def _lock(self, timeout: float) -> Iterator[None]:
        lock = DaemonLock(self.lock_path, timeout=timeout)
        try:
            lock.acquire()
        except PermissionError as exc:
            raise DaemonError(
                f"cannot use STIGMER_HOME {self.settings.home}: {exc.strerror} ({exc.filename}); "
                "make it writable, or point STIGMER_HOME at a writable directory"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    # --- start ---------------------------------------------------------------------------

    def start(self, names: Iterable[str] | None, timeout: float, workers: int | None = None) -> StartResult:
        """Start ``names`` (default: the configured components) plus what they need; wait until ready.

        ``workers`` (``--workers``) replaces the ``runner_workers`` setting; on a running stack it must
        match what its runners run.
        """
        if workers is not None:
            self.settings = dataclasses.replace(self.settings, runner_workers=workers)
        wanted = resolve(self.settings.components if names is None else names)
        prepare_home(self.settings)
        with self._lock(timeout):
            live = state.read_live(self.settings.state_file)
            if live is not None:
                running = [c.name for c in live.components]
                missing = [name for name in wanted if name not in running]
                if missing:
                    raise DaemonError(
                        f"the stack of {self.settings.home} already runs with {', '.join(running)}, without "
                        f"{', '.join(missing)}; to change its components: stigmer server stop, then "
                        f"stigmer server start --components {','.join(wanted)}"
                    )
                if workers is not None:
                    self._check_workers(live)
                if names is None:
                    return StartResult(live, already_running=True)
                return self._start_held(live, wanted, timeout)
            leftovers = tuple(stopped.name for stopped in self._stop_leftovers(timeout=5.0))
            self._spawn_and_wait(wanted, timeout)
            started = state.read_live(self.settings.state_file)
            if started is None:
                raise DaemonError("the supervisor reported the stack ready, then went away" + self._excerpt())
            return StartResult(started, already_running=False, stopped_leftovers=leftovers)

    def _spawn_and_wait(self, names: tuple[str, ...], timeout: float) -> None:
        log_path = self.settings.log_file(SUPERVISOR)
        log_start = _open_log(log_path, f"starting the supervisor for {', '.join(names)}")
        read_end, write_end = os.pipe()
        env = {
            **self.environ,
            "STIGMER_HOME": str(self.settings.home),
            "STIGMER_SERVER_ADDR": self.settings.server_addr,
            "STIGMER_TEMPORAL_ADDR": self.settings.temporal_addr,
            "STIGMER_RUNNER_WORKERS": str(self.settings.runner_workers),
        }
        command = [
            sys.executable, "-m", "stigmer", "server", "supervise",
            "--components", ",".join(names),
            "--timeout", f"{timeout:g}",
            "--notify-fd", str(write_end),
        ]  # fmt: skip
        try:
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.settings.home,
                    env=env,
                    start_new_session=True,
                    pass_fds=(write_end,),
                )
        finally:
            os.close(write_end)
        try:
            verdict = _read_verdict(read_end, time.monotonic() + timeout + VERDICT_MARGIN)
        except BaseException:
            terminate_tree(process.pid, timeout=10.0)
            process.poll()
            raise
        finally:
            os.close(read_end)
        if verdict is None:  # it closed the pipe without a verdict (it died), or the deadline passed
            try:
                code = process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                terminate_tree(process.pid, timeout=10.0)
                raise StartTimeoutError("the supervisor did not report in time" + self._excerpt(log_start)) from None
            raise DaemonError(f"the supervisor exited with code {code} while starting" + self._excerpt(log_start))
        if verdict.get("event") == "failed":
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15.0)  # it stops what it started, then exits
            error = str(verdict.get("error", "the stack failed to start"))
            raise StartTimeoutError(error) if verdict.get("kind") == "timeout" else DaemonError(error)

    def _check_workers(self, live: StackState) -> None:
        """A running stack whose runners run another number of workers than asked for is an error."""
        expected = {name: component.workers(self.settings) for name, component in ALL.items()}
        differ = [c for c in live.components if c.workers is not None and c.workers != expected[c.name]]
        if differ:
            shown = ", ".join(f"{c.name} {c.workers}" for c in differ)
            raise DaemonError(
                f"the stack of {self.settings.home} already runs with other worker counts ({shown}); to run "
                f"{self.settings.runner_workers} per runner: stigmer server stop, then "
                f"stigmer server start --workers {self.settings.runner_workers}"
            )

    def _start_held(self, live: StackState, wanted: tuple[str, ...], timeout: float) -> StartResult:
        """Ask the supervisor to start the held-down (or failed) components of ``wanted``, in start order."""
        started = []
        for name in wanted:
            record = live.component(name)
            if record is None or not record.managed or not (record.held or record.state == state.FAILED):
                continue
            reply = control.send(self.settings, control.START, name, timeout, live.supervisor_alive)
            if not reply.ok:
                raise StartTimeoutError(reply.message) if reply.kind == "timeout" else DaemonError(reply.message)
            started.append(name)
        now = state.read_live(self.settings.state_file)
        if now is None:
            raise DaemonError("the stack stopped while its components were being started" + self._excerpt())
        return StartResult(now, already_running=True, started=tuple(started))

    # --- hold down ------------------------------------------------------------------------

    def hold(self, names: Iterable[str], timeout: float) -> list[str]:
        """Stop ``names`` of the running stack and keep them stopped (until ``start -c``); the replies.

        They are stopped in reverse start order; SIGKILL after ``timeout`` each.
        """
        wanted = tuple(name for name in COMPONENTS if name in set(names))
        with self._lock(timeout * max(len(wanted), 1) + control.REPLY_MARGIN):
            live = state.read_live(self.settings.state_file)
            if live is None:
                raise StackNotRunningError(
                    f"the local stack of {self.settings.home} is not running, so there is nothing to stop "
                    f"({', '.join(wanted)}); start it with: stigmer server start"
                )
            running = [c.name for c in live.components]
            missing = [name for name in wanted if name not in running]
            if missing:
                raise DaemonError(
                    f"{', '.join(missing)} is not part of the running stack of {self.settings.home} "
                    f"(it runs {', '.join(running)})"
                )
            messages = []
            for name in reversed(wanted):
                reply = control.send(self.settings, control.STOP, name, timeout, live.supervisor_alive)
                if not reply.ok:
                    raise DaemonError(reply.message)
                messages.append(reply.message)
            return messages

    # --- stop ----------------------------------------------------------------------------

    def stop(self, timeout: float) -> list[Stopped]:
        """Stop the supervisor and every component it runs; kill what is left after ``timeout``."""
        if not self._anything_recorded() and not os.access(self.settings.home, os.W_OK):
            return []  # nothing can run from a home that does not exist or cannot be written
        with self._lock(timeout + 5.0):
            stopped: list[Stopped] = []
            current = state.read(self.settings.state_file)
            if current is not None and current.supervisor_alive():
                running = [c for c in current.components if c.managed and c.alive()]
                killed = self._stop_supervisor(current, timeout)
                for component in running:
                    stragglers = component.alive()
                    if stragglers and component.pid is not None:
                        terminate_tree(component.pid, timeout=1.0)
                    stopped.append(Stopped(component.name, component.pid or 0, killed=killed or stragglers))
            stopped.extend(self._stop_leftovers(timeout))
            return stopped

    def _stop_supervisor(self, current: StackState, timeout: float) -> bool:
        """SIGTERM the supervisor, wait ``timeout`` for it to stop everything; True when it was killed.

        Its exit is watched with :meth:`StackState.supervisor_alive`, which counts a zombie as gone: the
        supervisor is not our child, and whoever inherited it may be slow to reap it.
        """
        request = self.settings.stop_request_file
        with contextlib.suppress(OSError):
            request.write_text(json.dumps({"timeout": max(timeout - STOP_MARGIN, 0.0)}) + "\n")
        with contextlib.suppress(ProcessLookupError):
            os.kill(current.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while current.supervisor_alive():
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(current.supervisor_pid, signal.SIGKILL)
                return True
            time.sleep(STOP_POLL_INTERVAL)  # bounded by the deadline; the supervisor is not our child
        return False

    def _stop_leftovers(self, timeout: float) -> list[Stopped]:
        """Stop processes recorded by a supervisor that is gone (stale state or pid files); clean up files."""
        leftovers: dict[str, ComponentState] = {}
        stale = state.read(self.settings.state_file)
        if stale is not None and not stale.supervisor_alive():
            leftovers = {c.name: c for c in stale.components if c.managed and c.alive()}
        for name in (*COMPONENTS, SUPERVISOR):
            record = pidfile.read(self.settings.pid_file(name))
            if record is not None and name not in leftovers and pidfile.process_of(record) is not None:
                leftovers[name] = ComponentState(name, pid=record.pid, create_time=record.create_time)
        stopped = []
        for name, component in leftovers.items():
            assert component.pid is not None
            result = terminate_tree(component.pid, timeout=timeout)
            stopped.append(Stopped(name, component.pid, killed=result.killed))
        if state.read_live(self.settings.state_file) is None:  # a live supervisor's containers are its own
            for name in COMPONENTS:
                removed = ALL[name].cleanup(self.settings, self.environ)
                stopped.extend(Stopped(name, 0, killed=True, container=container) for container in removed)
        self._remove_run_files()
        return stopped

    def _anything_recorded(self) -> bool:
        if self.settings.state_file.exists():
            return True
        return any(self.settings.pid_file(name).exists() for name in (*COMPONENTS, SUPERVISOR))

    def _remove_run_files(self) -> None:
        live = state.read_live(self.settings.state_file)
        if live is not None:
            return  # a supervisor runs: its files are its own
        state.remove(self.settings.state_file)
        state.remove(self.settings.stop_request_file)
        control.clear(self.settings)
        for name in (*COMPONENTS, SUPERVISOR):
            with contextlib.suppress(OSError):
                pidfile.remove(self.settings.pid_file(name))
            state.remove(self.settings.ready_file(name))
            state.remove(self.settings.liveness_file(name))
            state.remove(self.settings.container_file(name))

    # --- status --------------------------------------------------------------------------

    def status(self, probe_timeout: float = STATUS_PROBE_TIMEOUT) -> list[ComponentStatus]:
        """Every component: its state as the supervisor records it, checked against the process table.

        The components' health probes run side by side: a hung one costs ``probe_timeout`` once, and a
        slow but healthy one (a busy machine) gets the whole of it.
        """
        current = state.read(self.settings.state_file)
        with ThreadPoolExecutor(max_workers=len(COMPONENTS), thread_name_prefix="status-probe") as pool:
            if current is not None and current.supervisor_alive():
                return list(pool.map(lambda c: self._managed_status(c, probe_timeout), current.components))
            stale = {c.name: c for c in current.components} if current is not None else {}
            names = resolve(self.settings.components)
            return list(pool.map(lambda n: self._unsupervised_status(n, stale.get(n), probe_timeout), names))

    def _managed_status(self, record: ComponentState, probe_timeout: float) -> ComponentStatus:
        alive = record.managed and record.alive()
        healthy = False
        if record.state == state.EXTERNAL or alive:
            healthy = self._healthy(record.name, record.address, record.pid, probe_timeout)
        shown = record.state
        if record.managed and record.state == state.RUNNING and not alive:
            shown = state.RESTARTING  # it just died; the supervisor is about to notice
        note = record.error or (None if record.managed else "not started by this STIGMER_HOME; left running")
        if record.held:
            note = f"held down; start it with: stigmer server start -c {record.name}"
        elif record.unhealthy_since is not None:
            note = f"failing its health check since {record.unhealthy_since}; restarted if it goes on failing"
        return ComponentStatus(
            name=record.name,
            state=shown,
            running=shown in (state.RUNNING, state.EXTERNAL),
            managed=record.managed,
            pid=record.pid if alive else None,
            address=record.address,
            healthy=healthy,
            restarts=record.restarts,
            ports=dict(record.ports),
            last_exit=record.last_exit,
            note=note,
            held=record.held,
            health_restarts=record.health_restarts,
            unhealthy_since=record.unhealthy_since,
            last_restart_reason=record.last_restart_reason,
            container_id=record.container_id if alive else None,
            image=record.image if alive else None,
            workers=record.workers,
        )

    def _unsupervised_status(self, name: str, stale: ComponentState | None, probe_timeout: float) -> ComponentStatus:
        component = ALL[name]
        if stale is not None and stale.managed and stale.alive():
            return ComponentStatus(
                name=name,
                state=state.RUNNING,
                running=True,
                managed=True,
                pid=stale.pid,
                address=stale.address,
                healthy=self._healthy(name, stale.address, stale.pid, probe_timeout),
                restarts=stale.restarts,
                workers=stale.workers,
                note="its supervisor is gone, so it is not restarted; `stigmer server stop` stops it",
            )
        address = component.address(self.settings)
        answering = address is not None and self._healthy(name, address, None, probe_timeout)
        return ComponentStatus(
            name=name,
            state=state.EXTERNAL if answering else state.STOPPED,
            running=answering,
            managed=False,
            pid=None,
            address=address,
            healthy=answering,
            note=NOT_MANAGED if answering else None,
        )

    def _healthy(self, name: str, address: str | None, pid: int | None, timeout: float) -> bool:
        component = ALL[name]
        if component.health_service is not None:
            return address is not None and component.health(address, timeout) is HealthState.SERVING
        if pid is None or component.ready_file_probe is None:
            return False
        ready = component.ready_file_probe(self.settings.ready_file(name), pid).ready(timeout)
        return ready and liveness.is_fresh(self.settings.liveness_file(name))

    # --- helpers -------------------------------------------------------------------------

    def _excerpt(self, start: int = 0) -> str:
        path = self.settings.log_file(SUPERVISOR)
        lines = tail_lines(path, LOG_LINES_ON_FAILURE, start=start)
        body = "\n".join(f"  {line}" for line in lines) or "  (empty)"
        return f". Last lines of {path}:\n{body}"


def _open_log(path: Path, message: str) -> int:
    from stigmer.daemon.state import now_iso

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "a") as log:
        log.write(f"--- {now_iso()} {message} ---\n")
    return file_size(path)


def _read_verdict(fd: int, deadline: float) -> dict[str, object] | None:
    """The supervisor's verdict line from the pipe; None on EOF without one, or at the deadline."""
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("event") in ("running", "failed"):
                    return message
