"""The supervisor: one long-running process per STIGMER_HOME that owns the stack's components.

``stigmer server start`` spawns it detached (``python -m stigmer server supervise``). It

1. starts the components wave by wave (see :mod:`.selection`): every component of a wave at once,
   the next wave once all are ready, failing fast with a component's last log lines if it dies;
2. reports the outcome to the waiting CLI (one JSON line on the notify pipe) and keeps the state file
   ``run/stack.json`` current (plus ``pids/<component>.pid`` for tools that read pid files);
3. restarts a component that exits, within its :class:`RestartBudget` (logged in the component's log
   and the supervisor's, counted in the state);
4. probes every running component's health in the background (:mod:`.watchdog`: gRPC health for
   stigmer-server and Temporal, the liveness file for the runners) and kills (SIGKILL, its whole tree,
   frozen or not) and restarts one that has failed for longer than ``health_grace_seconds``, within the
   same budget (counted as ``health_restarts`` too; ``unhealthy_since`` while it fails);
5. answers requests of ``stigmer server stop|start -c`` (:mod:`.control`, read every monitor round):
   a stop holds the component down (stopped, never restarted) until a start launches it again;
6. on SIGTERM, stops the components in reverse order (held ones are already stopped) and removes its
   state, pid, ready, liveness and request files.

A component that already answers at its address is refused (stigmer-server: it would be a stranger's
server) or adopted unmanaged (Temporal: ``external``), per :class:`WhenAnswering`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stigmer import secret_logs
from stigmer.config import Settings
from stigmer.daemon import control, pidfile, state
from stigmer.daemon.components import Component, Launch, ReadinessProbe, WhenAnswering
from stigmer.daemon.control import Reply, Request
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.health import HealthState
from stigmer.daemon.homedir import PRIVATE_FILE_MODE
from stigmer.daemon.logs import file_size, tail_lines
from stigmer.daemon.process_tree import kill_tree, terminate_tree
from stigmer.daemon.restarts import RestartBudget
from stigmer.daemon.selection import waves
from stigmer.daemon.state import ComponentState, StackState
from stigmer.daemon.watchdog import Watchdog

LOG_LINES_ON_FAILURE = 20
PROBE_SLICE = 0.1  # longest single readiness probe, so a stop request or a death is noticed quickly
WAIT_SLICE = 0.02
MONITOR_INTERVAL = 0.1
ANSWERING_CHECK_TIMEOUT = 0.5
RESTART_READY_TIMEOUT = 30.0
DEFAULT_STOP_GRACE = 10.0

Notify = Callable[[dict[str, Any]], None]


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Slot:
    """One component under supervision: its description, its live process, its restart history."""

    component: Component
    record: ComponentState
    budget: RestartBudget = field(default_factory=RestartBudget)
    process: subprocess.Popen[bytes] | None = None
    probe: ReadinessProbe | None = None
    log_start: int = 0
    restart_at: float | None = None
    ready_deadline: float | None = None
    watchdog: Watchdog | None = None
    # A `server start -c` waiting for this component to be ready.
    waiter: Request | None = None

    @property
    def name(self) -> str:
        return self.component.name


class Supervisor:
    """Starts, watches, restarts and stops ``components`` for the stack at ``settings.home``.

    ``environ`` is the environment the components inherit (plus their own). ``stop_event`` ends
    :meth:`run` (the ``supervise`` command sets it on SIGTERM).
    """

    def __init__(
        self,
        settings: Settings,
        components: Sequence[Component],
        environ: Mapping[str, str],
        *,
        stop_grace: float = DEFAULT_STOP_GRACE,
        budget: Callable[[], RestartBudget] = RestartBudget,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.environ = dict(environ)
        self.health_grace = settings.health_grace_seconds
        self._budget = budget
        self.stop_grace = stop_grace
        self.stop_event = threading.Event()
        self._log_line = log or _print
        self._unsaved = False  # the last state could not be recorded (read-only or full data folder)
        me = os.getpid()
        self.state = StackState(supervisor_pid=me, supervisor_create_time=state.create_time_of(me))
        self.slots: dict[str, Slot] = {}
        for component in components:
            record = ComponentState(
                name=component.name,
                address=component.address(settings),
                since=_stamp(),
                workers=component.workers(settings),
            )
            self.state.components.append(record)
            self.slots[component.name] = Slot(component, record, budget=budget())
        self.waves = [[self.slots[name] for name in wave] for wave in waves(self.slots)]
        self._probes = ThreadPoolExecutor(max_workers=max(len(self.slots), 1), thread_name_prefix="health")

    # --- the whole life ------------------------------------------------------------------

    def run(self, timeout: float, notify: Notify) -> int:
        """Start everything, report, supervise until stopped, stop everything. Returns the exit code.

        Whatever happens (a failed start, a bug, a signal), what was started is stopped again.
        """
        try:
            self._save()
            try:
                self.start_all(time.monotonic() + timeout)
            except (DaemonError, OSError) as exc:
                self._log(f"start failed: {exc}")
                self.state.phase, self.state.error = state.PHASE_FAILED, str(exc)
                self._save()
                kind = "timeout" if isinstance(exc, TimeoutError) else "error"
                notify({"event": "failed", "kind": kind, "error": str(exc)})
                return 1
            self.state.phase = state.PHASE_RUNNING
            self._save()
            ready = ", ".join(f"{s.name}={s.record.state}" for s in self.slots.values())
            self._log(f"all components ready: {ready}")
            notify({"event": "running"})
            self.monitor()
            return 0
        finally:
            self.stop_all()
            self._probes.shutdown(wait=False, cancel_futures=True)

    # --- start ---------------------------------------------------------------------------

    def start_all(self, deadline: float) -> None:
        """Start wave after wave; each wave's components at once, all ready before the next wave.

        First every component's preflight, so a missing binary fails before anything was started.
        """
        for slot in self.slots.values():
            if not self._answering(slot):
                slot.component.preflight(self.settings, self.environ)
        for wave in self.waves:
            launched = [slot for slot in wave if self._start(slot)]
            self._wait_ready(launched, deadline)

    def _start(self, slot: Slot) -> bool:
        """Launch ``slot``'s component, or adopt what already answers; False when nothing was launched."""
        component, address = slot.component, slot.record.address
        if address and component.health_service is not None:
            answering = component.health(address, ANSWERING_CHECK_TIMEOUT)
            if answering is not HealthState.UNREACHABLE:
                if component.when_answering is WhenAnswering.ADOPT and answering is HealthState.SERVING:
                    self._set(slot, state.EXTERNAL, managed=False)
                    self._log(f"{slot.name}: already answering at {address}; using it unmanaged (external)")
                    return False
                raise DaemonError(
                    f"cannot start {slot.name}: something else already answers at {address} "
                    f"(health: {answering.value}); stop it, or configure another address for it"
                )
        self._spawn(slot, state.STARTING)
        return True

    def _answering(self, slot: Slot) -> bool:
        """Whether an adoptable instance of the component already serves at its address."""
        component, address = slot.component, slot.record.address
        if component.when_answering is not WhenAnswering.ADOPT or not address or component.health_service is None:
            return False
        return component.health(address, ANSWERING_CHECK_TIMEOUT) is HealthState.SERVING

    def _spawn(self, slot: Slot, new_state: str) -> None:
        self._clean_up(slot, before_launch=True)
        launch = slot.component.launch(self.settings, self.environ)
        log_path = self.settings.log_file(slot.name)
        state.remove(self.settings.ready_file(slot.name))
        state.remove(self.settings.liveness_file(slot.name))
        where = f" at {launch.address}" if launch.address else ""
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
        except OSError as exc:
            # A read-only or full data folder must not keep a component down: its output goes to the
            # supervisor's own log (already open) until its log can be opened again.
            self._log(f"{slot.name}: cannot open its log {log_path} ({exc}); its output goes to this log")
            fd = os.dup(1)  # the supervisor's stdout: its log
        with os.fdopen(fd, "ab") as log:
            with contextlib.suppress(OSError):
                log.write(f"--- {_stamp()} starting {slot.name}{where} ---\n".encode())
                log.flush()
            slot.log_start = file_size(log_path)
            # Its own session and process group (stopped as a tree), no terminal, output to its log.
            slot.process = subprocess.Popen(
                launch.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.settings.home,
                env=launch.environment(self.environ),
                start_new_session=True,
                close_fds=True,
            )
        pid = slot.process.pid
        slot.probe = slot.component.readiness(self.settings, launch, pid)
        self._set(
            slot,
            new_state,
            pid=pid,
            create_time=state.create_time_of(pid),
            address=launch.address or slot.record.address,
            ports=dict(launch.ports),
        )
        self._write_pidfile(slot, launch)
        self._log(f"{slot.name}: launched pid {pid}: {' '.join(launch.command)}")

    def _wait_ready(self, slots: list[Slot], deadline: float) -> None:
        """Wait until every slot is ready; fail fast when one dies, the deadline passes or a stop comes."""
        pending = list(slots)
        began = time.monotonic()
        while pending:
            for slot in list(pending):
                assert slot.process is not None and slot.probe is not None
                remaining = deadline - time.monotonic()
                if self.stop_event.is_set():
                    raise DaemonError("stopped while starting (the supervisor was asked to stop)")
                if remaining <= 0:
                    raise StartTimeoutError(
                        f"{slot.name} did not become ready{self._at(slot)} in time" + self._excerpt(slot)
                    )
                if slot.probe.ready(timeout=min(PROBE_SLICE, remaining)):
                    self._ready(slot)
                    self._log(f"{slot.name}: ready in {time.monotonic() - began:.2f}s")
                    pending.remove(slot)
                    continue
                code = slot.process.poll()
                if code is not None:
                    raise DaemonError(f"{slot.name} {describe_exit(code)} while starting" + self._excerpt(slot))
            if pending:
                self.stop_event.wait(WAIT_SLICE)

    def _ready(self, slot: Slot) -> None:
        if slot.probe is not None:
            slot.probe.close()
            slot.probe = None
        slot.ready_deadline = None
        container = _container_of(self.settings.container_file(slot.name))
        self._set(slot, state.RUNNING, error=None, held=False, unhealthy_since=None, **container)
        if slot.process is not None:
            check = slot.component.health_check(self.settings, slot.record.address)
            slot.watchdog = Watchdog(check, self._probes, time.monotonic())

    # --- supervise -----------------------------------------------------------------------

    def monitor(self) -> None:
        """Until stopped: answer requests, notice exits and failed health, restart, finish restarts."""
        while not self.stop_event.is_set():
            self.check_once(time.monotonic())
            if self._unsaved:
                self._save()
            self.stop_event.wait(MONITOR_INTERVAL)

    def check_once(self, now: float) -> None:
        """One round of supervision over every managed component."""
        for request in control.take(self.settings):
            self.handle(request, now)
        for slot in self.slots.values():
            if slot.process is not None:
                code = slot.process.poll()
                if code is not None and slot.waiter is not None:
                    self._start_failed(slot, f"{describe_exit(code)} while starting", exited=True)
                elif code is not None:
                    self._crashed(slot, describe_exit(code), code, now)
                elif slot.record.state in (state.RESTARTING, state.STARTING):
                    self._check_restart_ready(slot, now)
                elif slot.watchdog is not None:
                    self._check_health(slot, now)
            elif slot.restart_at is not None and now >= slot.restart_at:
                slot.restart_at = None
                self._restart(slot)

    def _check_restart_ready(self, slot: Slot, now: float) -> None:
        assert slot.probe is not None
        if slot.probe.ready(timeout=PROBE_SLICE):
            self._ready(slot)
            if slot.waiter is not None:
                self._log(f"{slot.name}: ready (started by request)")
                self._component_log(slot, "ready")
                self._reply(slot, Reply(ok=True, message=f"{slot.name} ready{self._at(slot)} (pid {slot.record.pid})"))
                return
            self._log(f"{slot.name}: ready again (restart {slot.record.restarts})")
            self._component_log(slot, f"ready again after restart {slot.record.restarts}")
        elif slot.ready_deadline is not None and now > slot.ready_deadline:
            if slot.waiter is not None:
                self._start_failed(slot, f"did not become ready within {slot.waiter.timeout:g}s", kind="timeout")
                return
            self._stop_process(slot, grace=2.0)
            self._crashed(slot, f"did not become ready within {RESTART_READY_TIMEOUT:g}s", None, now)

    def _check_health(self, slot: Slot, now: float) -> None:
        """Poll the watchdog; mark the component unhealthy, healthy again, or kill it after the grace."""
        watchdog, record = slot.watchdog, slot.record
        assert watchdog is not None and slot.process is not None
        watchdog.poll(now)
        if watchdog.failing_since is None:
            if record.unhealthy_since is not None:
                record.unhealthy_since = None
                self._save()
                self._log(f"{slot.name}: healthy again")
                self._component_log(slot, "healthy again")
            return
        failing = watchdog.failing_for(now)
        if record.unhealthy_since is None:
            began = datetime.now(UTC) - timedelta(seconds=failing)
            record.unhealthy_since = began.isoformat(timespec="milliseconds")
            self._save()
            grace = self.health_grace
            message = f"fails its health check ({watchdog.problem}); killed if it still fails after {grace:g}s"
            self._log(f"{slot.name}: {message}")
            self._component_log(slot, message)
        if failing < self.health_grace:
            return
        pid = slot.process.pid
        kill_tree(pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            slot.process.wait(timeout=1.0)
        record.health_restarts += 1
        how = f"failed its health check for {failing:.1f}s ({watchdog.problem}); killed pid {pid} with SIGKILL"
        self._crashed(slot, how, -signal.SIGKILL, now)

    def _crashed(self, slot: Slot, how: str, code: int | None, now: float) -> None:
        self._drop_probes(slot)
        if slot.process is not None:
            _kill_group(slot.process.pid)  # what it started may still run in its process group
        slot.process = None  # already reaped: its pid is never signalled again (it may be reused)
        self._clean_up(slot)
        delay = slot.budget.next_delay(now)
        common: dict[str, Any] = {
            "last_exit": code,
            "pid": None,
            "create_time": None,
            "unhealthy_since": None,
            "last_restart_reason": how,
            "container_id": None,
            "image": None,
        }
        if delay is None:
            message = f"{how}; not restarted: it crashed too often ({slot.budget.describe()})"
            self._set(slot, state.FAILED, error=message, **common)
        else:
            message = f"{how}; restarting in {delay:.1f}s (restart {slot.record.restarts + 1})"
            slot.restart_at = now + delay
            self._set(slot, state.RESTARTING, error=None, **common)
        self._remove_pidfile(slot)
        self._log(f"{slot.name}: {message}")
        self._component_log(slot, message)

    # --- hold down and start again (requests of `server stop|start -c`) --------------------

    def handle(self, request: Request, now: float) -> None:
        """Answer one request (a start is answered later, once the component is ready or has failed)."""
        slot = self.slots.get(request.component)
        if slot is None:
            names = ", ".join(self.slots)
            control.answer(
                self.settings,
                request,
                Reply(False, f"{request.component} is not part of the running stack (it runs {names})", "error"),
            )
        elif not slot.record.managed:
            message = f"{slot.name} is external (not started by this STIGMER_HOME): stop or start it yourself"
            control.answer(self.settings, request, Reply(False, message, "error"))
        elif request.action == control.STOP:
            control.answer(self.settings, request, self.hold(slot, request.timeout))
        elif request.action == control.START:
            reply = self.release(slot, request, now)
            if reply is not None:
                control.answer(self.settings, request, reply)
        else:
            control.answer(self.settings, request, Reply(False, f"unknown action {request.action!r}", "error"))

    def hold(self, slot: Slot, grace: float) -> Reply:
        """Stop ``slot``'s tree (SIGKILL after ``grace``) and keep it stopped until :meth:`release`."""
        if slot.record.held:
            return Reply(True, f"{slot.name} is already stopped (held down)")
        if slot.waiter is not None:
            self._reply(slot, Reply(False, f"{slot.name} was stopped (stigmer server stop -c) before it was ready"))
        slot.restart_at = None
        pid = slot.record.pid
        forced = self._stop_process(slot, grace=grace) if slot.process is not None else False
        self._clean_up(slot)
        self._set(
            slot,
            state.STOPPED,
            held=True,
            pid=None,
            create_time=None,
            unhealthy_since=None,
            error=None,
            container_id=None,
            image=None,
        )
        self._remove_pidfile(slot)
        state.remove(self.settings.ready_file(slot.name))
        state.remove(self.settings.liveness_file(slot.name))
        what = f"stopped (pid {pid})" if pid else "stopped"
        note = " after SIGKILL" if forced else ""
        message = f"{what}{note}; held down until: stigmer server start -c {slot.name}"
        self._log(f"{slot.name}: {message}")
        self._component_log(slot, message)
        return Reply(True, f"{slot.name} {message}")

    def release(self, slot: Slot, request: Request, now: float) -> Reply | None:
        """Launch a held (or failed) component again; None: the reply comes once it is ready or has failed."""
        if slot.waiter is not None:
            return Reply(False, f"{slot.name} is being started already (another stigmer server start -c)", "error")
        if not slot.record.held and slot.record.state != state.FAILED:
            if slot.record.state == state.RUNNING:
                return Reply(True, f"{slot.name} is already running{self._at(slot)} (pid {slot.record.pid})")
            return Reply(
                False,
                f"{slot.name} is {slot.record.state} (the supervisor restarts it); see: stigmer server status",
                "error",
            )
        slot.budget = self._budget()  # the operator asked for it: a fresh restart budget
        try:
            self._spawn(slot, state.STARTING)
        except (DaemonError, OSError) as exc:
            self._log(f"{slot.name}: start failed: {exc}")
            return Reply(False, f"cannot start {slot.name}: {exc}", "error")
        self._set(slot, state.STARTING, held=False, error=None)
        slot.waiter = request
        slot.ready_deadline = now + request.timeout
        self._component_log(slot, "started by request (stigmer server start -c)")
        return None

    def _start_failed(self, slot: Slot, how: str, *, exited: bool = False, kind: str = "error") -> None:
        """A requested start failed: back to held down, and the requester gets the log lines."""
        excerpt = self._excerpt(slot)
        if exited:
            self._drop_probes(slot)
            if slot.process is not None:
                _kill_group(slot.process.pid)
            slot.process = None
        else:
            self._stop_process(slot, grace=2.0)
        self._clean_up(slot)
        message = f"{slot.name} {how}"
        self._set(slot, state.STOPPED, held=True, pid=None, create_time=None, error=f"start failed: {how}")
        self._remove_pidfile(slot)
        self._log(f"{slot.name}: start failed: {how}; held down")
        self._component_log(slot, f"start failed: {how}; held down")
        self._reply(slot, Reply(False, message + excerpt, kind))

    def _reply(self, slot: Slot, reply: Reply) -> None:
        if slot.waiter is not None:
            control.answer(self.settings, slot.waiter, reply)
            slot.waiter = None

    def _restart(self, slot: Slot) -> None:
        slot.record.restarts += 1
        try:
            self._spawn(slot, state.RESTARTING)
        except (DaemonError, OSError) as exc:
            # as a crash: tried again after a backoff, left failed once the restart budget is spent
            self._crashed(slot, f"restart failed: {exc}", None, time.monotonic())
            return
        slot.ready_deadline = time.monotonic() + RESTART_READY_TIMEOUT

    # --- stop ----------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Stop every managed component, last wave first (a wave's components at once); remove our files."""
        self.state.phase = state.PHASE_STOPPING
        self._save()
        requested = _requested_timeout(self.settings.stop_request_file)
        if requested is not None:  # `stop --timeout`: shared by the waves, which stop one after the other
            self.stop_grace = requested / max(len(self.waves), 1)
        self._log(f"stopping (grace period {self.stop_grace:g}s per component)")
        for wave in reversed(self.waves):
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                for slot, forced in zip(wave, pool.map(self._stop_slot, wave), strict=True):
                    if forced is not None:
                        note = " (killed after the grace period)" if forced else ""
                        self._log(f"{slot.name}: stopped{note}")
            for slot in wave:
                if slot.record.managed:
                    self._clean_up(slot)
                    self._set(slot, state.STOPPED, pid=None, create_time=None, container_id=None, image=None)
                self._remove_pidfile(slot)
                state.remove(self.settings.ready_file(slot.name))
                state.remove(self.settings.liveness_file(slot.name))
        control.clear(self.settings)
        state.remove(self.settings.state_file)
        state.remove(self.settings.stop_request_file)

    def _stop_slot(self, slot: Slot) -> bool | None:
        """Stop one slot's process; None when none ran, else whether SIGKILL was needed."""
        slot.restart_at = None
        self._reply(slot, Reply(False, f"the stack is stopping; {slot.name} was not started", "error"))
        if slot.process is None:
            return None
        return self._stop_process(slot, grace=self.stop_grace)

    def _stop_process(self, slot: Slot, grace: float) -> bool:
        """Stop the slot's process tree; True when SIGKILL was needed."""
        self._drop_probes(slot)
        if slot.process is None:
            return False
        result = terminate_tree(slot.process.pid, timeout=grace)
        with contextlib.suppress(OSError):
            slot.process.wait(timeout=1.0)
        slot.process = None
        return result.killed

    def _clean_up(self, slot: Slot, before_launch: bool = False) -> None:
        """Remove what the component's last launch left outside its process tree (a container).

        Before a launch a failure is the launch's (a DaemonError); after a stop it is only logged.
        """
        try:
            removed = slot.component.cleanup(self.settings, self.environ)
        except DaemonError as exc:
            if before_launch:
                raise
            self._log(f"{slot.name}: {exc}")
            return
        finally:
            state.remove(self.settings.container_file(slot.name))
        if removed:
            message = f"removed container(s) its earlier launch left: {', '.join(removed)}"
            self._log(f"{slot.name}: {message}")
            self._component_log(slot, message)

    def _drop_probes(self, slot: Slot) -> None:
        if slot.probe is not None:
            slot.probe.close()
            slot.probe = None
        if slot.watchdog is not None:
            slot.watchdog.close()
            slot.watchdog = None

    # --- records -------------------------------------------------------------------------

    def _set(self, slot: Slot, new_state: str, **changes: Any) -> None:
        slot.record.state = new_state
        slot.record.since = _stamp()
        for key, value in changes.items():
            setattr(slot.record, key, value)
        self._save()

    def _save(self) -> None:
        """Record the state for ``server status``; when the data folder refuses (read-only, full), say so
        once and keep supervising: ``monitor`` records it again as soon as it can."""
        try:
            state.write(self.settings.state_file, self.state)
        except OSError as exc:
            if not self._unsaved:
                self._log(f"cannot record the stack's state in {self.settings.state_file} ({exc}); retrying")
            self._unsaved = True
            return
        if self._unsaved:
            self._unsaved = False
            self._log(f"the stack's state is recorded in {self.settings.state_file} again")

    def _write_pidfile(self, slot: Slot, launch: Launch) -> None:
        if slot.record.pid is not None and slot.record.create_time is not None:
            record = pidfile.PidRecord(slot.record.pid, slot.record.create_time, launch.address or "", _stamp())
            try:
                pidfile.write(self.settings.pid_file(slot.name), record)
            except OSError as exc:
                self._log(f"{slot.name}: cannot write its pid file ({exc}); the stack's state has its pid")

    def _remove_pidfile(self, slot: Slot) -> None:
        with contextlib.suppress(OSError):
            pidfile.remove(self.settings.pid_file(slot.name))

    def _at(self, slot: Slot) -> str:
        return f" at {slot.record.address}" if slot.record.address else ""

    def _excerpt(self, slot: Slot) -> str:
        log_path = self.settings.log_file(slot.name)
        lines = tail_lines(log_path, LOG_LINES_ON_FAILURE, start=slot.log_start)
        if not lines:
            return f" (its log {log_path} is empty)"
        body = "\n".join(f"  {line}" for line in lines)
        return f". Last lines of {log_path}:\n{body}"

    def _log(self, message: str) -> None:
        self._log_line(secret_logs.scrub(f"{_stamp()} supervisor: {message}"))

    def _component_log(self, slot: Slot, message: str) -> None:
        with contextlib.suppress(OSError), Path(self.settings.log_file(slot.name)).open("a") as log:
            log.write(f"--- {_stamp()} supervisor: {slot.name} {message} ---\n")


def _requested_timeout(path: Path) -> float | None:
    """The seconds ``stigmer server stop --timeout`` allows for stopping everything, if it said so."""
    try:
        return max(float(json.loads(path.read_text())["timeout"]), 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _container_of(path: Path) -> dict[str, str | None]:
    """The container ID and image a keeper recorded in ``path`` (both None for a process component)."""
    try:
        data = json.loads(path.read_text())
        return {"container_id": str(data["id"]), "image": str(data["image"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {"container_id": None, "image": None}


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a process group whose leader exited.

    Safe against pid reuse: Linux does not hand out a pid that is still the id of a live group, so the
    group is either the dead leader's or gone.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
