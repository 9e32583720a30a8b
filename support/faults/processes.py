"""Process faults on stack components: kill (SIGKILL/SIGTERM), freeze (SIGSTOP..SIGCONT), hold down.

A component is found by name through ``stigmer server status -o json`` (its ``components`` list: name,
state, pid, healthy, restarts...), never by a process-name pattern. Unit tests and other callers can
give a ``ProcessTarget`` of their own instead of a stack (``PidTarget`` wraps a pid provider).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psutil

from support.faults import leftovers
from support.faults.base import DEFAULT_MAX_SECONDS, FaultError, Injector
from support.faults.ledger import Ledger
from support.processes import is_gone
from support.waits import eventually

if TYPE_CHECKING:
    from support.stack import Stack

CLI_TIMEOUT = 60.0
POLL_INTERVAL = 0.5  # between `server status` calls (each starts the CLI)
QUICK_POLL_INTERVAL = 0.1  # between reads of the supervisor's state file
STOP_TIMEOUT = 5.0  # until every SIGSTOPped process shows as stopped


@dataclass(frozen=True)
class ComponentInfo:
    """One component as ``stigmer server status -o json`` shows it (``held``: stopped by ``server stop -c``;
    ``health_restarts``: restarts because its health check kept failing; ``raw``: every field)."""

    name: str
    state: str
    pid: int | None
    healthy: bool
    restarts: int = 0
    address: str | None = None
    held: bool = False
    health_restarts: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def serving(self) -> bool:
        """Running and healthy."""
        return self.state == "running" and self.healthy and self.pid is not None


class ProcessTarget(Protocol):
    """What process injectors act on: a name and a way to read its current state."""

    name: str

    def info(self) -> ComponentInfo:
        """The target's current state (raises ``FaultError`` when it cannot be read)."""
        ...


@dataclass
class ComponentTarget:
    """A component of a ``Stack``, looked up by name through ``stigmer server status -o json``."""

    stack: Stack
    name: str

    def info(self) -> ComponentInfo:
        result = self.stack.cli()("server", "status", "-o", "json", timeout=CLI_TIMEOUT)
        try:
            data = json.loads(result.stdout)
        except ValueError:
            raise FaultError(f"`stigmer server status -o json` did not print JSON:\n{result}") from None
        for item in data.get("components", []):
            if item.get("name") == self.name:
                return ComponentInfo(
                    name=self.name,
                    state=str(item.get("state", "")),
                    pid=item.get("pid"),
                    healthy=bool(item.get("healthy")),
                    restarts=int(item.get("restarts") or 0),
                    address=item.get("address"),
                    held=bool(item.get("held")),
                    health_restarts=int(item.get("health_restarts") or 0),
                    raw=item,
                )
        names = ", ".join(str(c.get("name")) for c in data.get("components", []))
        raise FaultError(f"stack {self.stack.name!r} has no component {self.name!r} (it has: {names or 'none'})")

    def recorded(self) -> tuple[str, int | None] | None:
        """The component's state and pid as the supervisor's state file (``run/stack.json``, what
        ``server status`` reads) records them: a cheap first look before asking the CLI; None when
        there is no readable state file."""
        try:
            data = json.loads((self.stack.home / "run" / "stack.json").read_text())
        except (OSError, ValueError):
            return None
        for item in data.get("components", []):
            if item.get("name") == self.name:
                return str(item.get("state", "")), item.get("pid")
        return None


@dataclass
class PidTarget:
    """A process given by a provider of its current pid (None when not running): for tests and helpers."""

    name: str
    pid_of: Callable[[], int | None]

    def info(self) -> ComponentInfo:
        pid = self.pid_of()
        running = pid is not None and not is_gone(pid)
        return ComponentInfo(self.name, "running" if running else "stopped", pid if running else None, running)


def as_target(stack: Any, component: str | None) -> ProcessTarget:
    """``stack`` + ``component`` as a target; ``stack`` may already be a target (then no component)."""
    if component is None:
        if hasattr(stack, "info") and hasattr(stack, "name"):
            return stack
        raise TypeError("give a stack and a component name, or a ProcessTarget")
    return ComponentTarget(stack, component)


def wait_restarted(target: ProcessTarget, old_pid: int | None, timeout: float) -> ComponentInfo:
    """Wait until ``target`` runs again under a pid other than ``old_pid`` and is healthy; its state.

    A stack component is first watched through the supervisor's state file (cheap), then confirmed by
    ``stigmer server status -o json`` (each call starts the CLI: polled less often)."""
    deadline = time.monotonic() + timeout
    if isinstance(target, ComponentTarget):

        def recorded_new() -> None:
            seen = target.recorded()
            assert seen is None or (seen[0] == "running" and seen[1] not in (None, old_pid)), (
                f"{target.name} has not restarted yet (was pid {old_pid}); the supervisor records {seen}"
            )

        eventually(recorded_new, timeout=timeout, interval=QUICK_POLL_INTERVAL)

    def restarted() -> ComponentInfo:
        info = target.info()
        assert info.pid is not None and info.pid != old_pid and info.serving, (
            f"{target.name} has not restarted healthy (was pid {old_pid}); now: state={info.state} "
            f"pid={info.pid} healthy={info.healthy} restarts={info.restarts}"
        )
        return info

    return eventually(restarted, timeout=max(deadline - time.monotonic(), 1.0), interval=POLL_INTERVAL)


def _running_pid(target: ProcessTarget, what: str) -> tuple[int, ComponentInfo]:
    info = target.info()
    if info.pid is None or info.state not in ("running", "starting", "restarting") or is_gone(info.pid):
        raise FaultError(f"cannot {what} {target.name}: it is not running (state={info.state}, pid={info.pid})")
    return info.pid, info


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants (the root first)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class Kill(Injector):
    """Send ``sig`` (default SIGKILL) to the component on enter; ``tree=True`` signals its descendants too.

    For SIGKILL and SIGTERM it waits (``gone_timeout``) until the process is gone. Nothing to undo: the
    supervisor restarts the component; ``wait_restarted()`` waits for that and records the new pid.
    """

    kind = "process.kill"

    def __init__(
        self,
        stack: Any,
        component: str | None = None,
        sig: int = signal.SIGKILL,
        *,
        ledger: Ledger | None = None,
        tree: bool = False,
        gone_timeout: float = 15.0,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.process_target = as_target(stack, component)
        super().__init__(self.process_target.name, max_seconds=max_seconds, ledger=ledger)
        self.sig = signal.Signals(sig)
        self.tree = tree
        self.gone_timeout = gone_timeout
        self.killed_pid: int | None = None
        self._killed: list[int] = []
        self.restarted_pid: int | None = None

    def pids(self) -> list[int]:
        return list(self._killed)

    def _inject(self) -> dict[str, Any]:
        pid, info = _running_pid(self.process_target, f"send {self.sig.name} to")
        self.killed_pid = pid
        self._killed = []
        procs = process_tree(pid)[: None if self.tree else 1]
        if not procs:
            raise FaultError(f"cannot send {self.sig.name} to {self.target}: pid {pid} ended meanwhile")
        created = {proc.pid: _create_time(proc) for proc in procs}
        for proc in procs:
            try:
                proc.send_signal(self.sig)
                self._killed.append(proc.pid)
            except psutil.NoSuchProcess:
                continue
        if self.sig in (signal.SIGKILL, signal.SIGTERM):
            for killed in self._killed:
                eventually(
                    lambda p=killed: _assert_gone(p, created.get(p), self.sig),  # type: ignore[misc]
                    timeout=self.gone_timeout,
                    interval=0.05,
                )
        return {"signal": self.sig.name, "restarts_before": info.restarts, "state_before": info.state}

    def wait_restarted(self, timeout: float = 60.0) -> ComponentInfo:
        """Wait until the component runs again, healthy, under a new pid; records it in the ledger."""
        if self.killed_pid is None:
            raise FaultError(f"{self.target} was not killed yet")
        started = time.monotonic()
        info = wait_restarted(self.process_target, self.killed_pid, timeout)
        self.restarted_pid = info.pid
        if self.entry is not None:
            self.entry.detail.update(
                restarted_pid=info.pid, restarted_after=round(time.monotonic() - started, 3), restarts=info.restarts
            )
        return info


class Terminate(Kill):
    """``Kill`` with SIGTERM (a graceful stop the supervisor did not ask for)."""

    kind = "process.terminate"

    def __init__(self, stack: Any, component: str | None = None, **options: Any) -> None:
        super().__init__(stack, component, signal.SIGTERM, **options)


class Freeze(Injector):
    """SIGSTOP the component's whole process tree on enter; SIGCONT it on exit or after ``seconds``."""

    kind = "process.freeze"

    def __init__(
        self, stack: Any, component: str | None = None, seconds: float = 15.0, *, ledger: Ledger | None = None
    ) -> None:
        self.process_target = as_target(stack, component)
        super().__init__(self.process_target.name, max_seconds=seconds, ledger=ledger)
        self.seconds = seconds
        self._stopped: list[tuple[int, float]] = []

    def pids(self) -> list[int]:
        return [pid for pid, _ in self._stopped]

    def _inject(self) -> dict[str, Any]:
        pid, _info = _running_pid(self.process_target, "freeze")
        # the root first, so it starts nothing new while its children are being stopped
        for proc in process_tree(pid):
            try:
                created = proc.create_time()
                leftovers.note_stopped([(proc.pid, created)])
                proc.send_signal(signal.SIGSTOP)
                self._stopped.append((proc.pid, created))
            except psutil.NoSuchProcess:
                continue
        try:  # a child forked while the root was being stopped
            for child in psutil.Process(pid).children(recursive=True):
                if child.pid not in self.pids():
                    created = child.create_time()
                    leftovers.note_stopped([(child.pid, created)])
                    child.send_signal(signal.SIGSTOP)
                    self._stopped.append((child.pid, created))
        except psutil.NoSuchProcess:
            pass
        try:
            eventually(self._assert_stopped, timeout=STOP_TIMEOUT, interval=0.01)  # SIGSTOP lands asynchronously
        except AssertionError as exc:
            self._undo()
            raise FaultError(f"could not freeze {self.target}: {exc}") from None
        return {"seconds": self.seconds, "root_pid": pid}

    def _assert_stopped(self) -> None:
        running = []
        for pid, _created in self._stopped:
            try:
                status = psutil.Process(pid).status()
            except psutil.NoSuchProcess:
                continue
            if status not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE):
                running.append(f"{pid} ({status})")
        assert not running, f"not stopped yet after SIGSTOP: {', '.join(running)}"

    def _undo(self) -> dict[str, Any]:
        continued = [pid for pid, created in reversed(self._stopped) if leftovers.continue_process(pid, created)]
        leftovers.forget_stopped(self._stopped)
        stopped, self._stopped = self._stopped, []
        return {"continued": continued, "gone": [pid for pid, _ in stopped if pid not in continued]}


class HoldDown(Injector):
    """Keep a component down: ``stigmer server stop -c COMPONENT`` on enter, ``start -c`` on exit.

    The supervisor keeps a component stopped this way stopped until it is started again. Undo waits
    (through the CLI's own ``--timeout``) until the component is ready again.
    """

    kind = "process.hold_down"

    def __init__(
        self,
        stack: Stack,
        component: str,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        *,
        ledger: Ledger | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(component, max_seconds=max_seconds, ledger=ledger)
        self.stack = stack
        self.component = component
        self.start_timeout = start_timeout
        self.stopped_pid: int | None = None

    def pids(self) -> list[int]:
        return [self.stopped_pid] if self.stopped_pid else []

    def _inject(self) -> dict[str, Any]:
        try:
            self.stopped_pid = ComponentTarget(self.stack, self.component).info().pid
        except FaultError:
            self.stopped_pid = None
        result = self.stack.cli()("server", "stop", "-c", self.component, timeout=CLI_TIMEOUT)
        if result.exit_code != 0:
            raise FaultError(f"could not hold {self.component} down:\n{result}")
        return {"stop_output": result.stdout.strip()[-500:]}

    def _undo(self) -> dict[str, Any]:
        result = self.stack.cli()(
            "server",
            "start",
            "-c",
            self.component,
            "--timeout",
            f"{self.start_timeout:g}",
            timeout=self.start_timeout + 30,
        )
        if result.exit_code != 0:
            raise FaultError(f"could not start {self.component} again after holding it down:\n{result}")
        return {"start_output": result.stdout.strip()[-500:]}


def _create_time(proc: psutil.Process) -> float | None:
    try:
        return proc.create_time()
    except psutil.Error:
        return None


def _assert_gone(pid: int, create_time: float | None, sig: signal.Signals) -> None:
    assert is_gone(pid, create_time), f"pid {pid} still runs after {sig.name}"
