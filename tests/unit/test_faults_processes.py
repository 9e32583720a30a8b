"""Process faults against plain subprocesses (a pid provider stands in for the stack's status), and the
stack-facing parts (status parsing, hold-down commands) against a recording stand-in for the CLI."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from support.cli import CliResult
from support.faults import leftovers
from support.faults.base import FaultError, undo_active
from support.faults.ledger import Ledger
from support.faults.processes import ComponentTarget, Freeze, HoldDown, Kill, PidTarget, Terminate, wait_restarted
from support.processes import RunId
from support.waits import eventually

PARENT_WITH_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


@dataclass
class Target:
    """A stand-in for a supervised component: a process tree that ``restart()`` replaces."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    child_pid: int | None = None
    children: list[psutil.Process] = field(default_factory=list)

    def start(self) -> None:
        proc = subprocess.Popen([sys.executable, "-c", PARENT_WITH_CHILD], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        self.child_pid = int(proc.stdout.readline())
        proc.stdout.close()
        self.children.append(psutil.Process(self.child_pid))
        self.procs.append(proc)

    def pid(self) -> int | None:
        return self.procs[-1].pid if self.procs else None

    def target(self) -> PidTarget:
        return PidTarget("worker", self.pid)

    def stop(self) -> None:
        for child in self.children:  # a child outlives a parent killed alone
            with contextlib.suppress(psutil.Error):
                child.kill()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv(leftovers.STATE_DIR_ENV, str(tmp_path / "notes"))
    target = Target()
    target.start()
    yield target
    undo_active()
    assert leftovers.sweep_run() == [], "a frozen process was left stopped"
    target.stop()


def status_of(pid: int | None) -> str:
    assert pid is not None
    return str(psutil.Process(pid).status())


def test_kill_sends_sigkill_waits_until_gone_and_records_the_pid(worker: Target) -> None:
    ledger = Ledger()
    pid = worker.pid()
    with Kill(worker.target(), ledger=ledger) as kill:
        assert worker.procs[-1].wait(5) == -signal.SIGKILL
    assert kill.killed_pid == pid
    (entry,) = ledger.entries
    assert entry.kind == "process.kill" and entry.target == "worker" and entry.pids == [pid]
    assert entry.detail["signal"] == "SIGKILL" and not entry.active
    assert psutil.pid_exists(worker.child_pid or 0), "without tree=True only the component's own process dies"


def test_kill_waits_for_the_restart_under_a_new_pid(worker: Target) -> None:
    ledger = Ledger()
    kill = Kill(worker.target(), ledger=ledger).start()
    worker.start()  # what the supervisor does
    info = kill.wait_restarted(timeout=10)
    assert info.pid == worker.pid() != kill.killed_pid
    kill.stop()
    assert ledger.entries[0].detail["restarted_pid"] == worker.pid()


def test_terminate_sends_sigterm_and_tree_reaches_the_children(worker: Target) -> None:
    child = worker.child_pid
    with Terminate(worker.target(), tree=True, ledger=Ledger()) as terminate:
        assert worker.procs[-1].wait(5) == -signal.SIGTERM
    assert child in terminate.pids()
    eventually(lambda: _assert(not psutil.pid_exists(child or 0) or status_of(child) == "zombie"), timeout=10)


def test_killing_a_target_that_does_not_run_says_so() -> None:
    with pytest.raises(FaultError, match="cannot send SIGKILL to gone: it is not running"):
        Kill(PidTarget("gone", lambda: None), ledger=Ledger()).start()


def test_freeze_stops_the_whole_tree_and_continues_it_on_exit(worker: Target) -> None:
    ledger = Ledger()
    tree = sorted([worker.pid() or 0, worker.child_pid or 0])
    with Freeze(worker.target(), seconds=30, ledger=ledger) as freeze:
        assert status_of(tree[0]) == "stopped" and status_of(tree[1]) == "stopped"
        assert sorted(freeze.pids()) == tree
        assert list(leftovers.state_dir().glob("*.json")), "the stopped pids are noted for a later sweep"
    assert status_of(tree[0]) != "stopped" and status_of(tree[1]) != "stopped"
    assert list(leftovers.state_dir().glob("*.json")) == [], "continued: the note is dropped"
    (entry,) = ledger.entries
    assert sorted(entry.pids) == tree and sorted(entry.detail["continued"]) == tree


def test_freeze_continues_after_a_failing_body(worker: Target) -> None:
    with pytest.raises(RuntimeError), Freeze(worker.target(), seconds=30, ledger=Ledger()):
        raise RuntimeError("the test failed")
    assert status_of(worker.pid()) != "stopped"


def test_freeze_ends_by_itself_after_its_seconds(worker: Target) -> None:
    ledger = Ledger()
    freeze = Freeze(worker.target(), seconds=0.3, ledger=ledger).start()
    assert status_of(worker.pid()) == "stopped"
    eventually(lambda: _assert(not freeze.active), timeout=10)
    assert status_of(worker.pid()) != "stopped" and ledger.entries[0].detail["expired"] is True
    freeze.stop()  # idempotent


def test_a_process_stopped_by_a_killed_run_is_continued_by_the_sweep(worker: Target, tmp_path: Path) -> None:
    pid = worker.pid()
    assert pid is not None
    proc = psutil.Process(pid)
    proc.suspend()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = RunId(int(dead.stdout), 1)
    folder = leftovers.state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run}.json").write_text(json.dumps({"mounts": [], "stopped": [[pid, proc.create_time()]]}))
    assert leftovers.sweep_dead_runs() == [f"{run}: continued pid {pid}"]
    assert status_of(pid) != "stopped"


@dataclass
class FakeStack:
    """Answers ``stigmer server ...`` calls as a stack whose supervisor supports ``-c``."""

    name: str = "fake"
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_start: bool = False
    home: Path = Path("/nonexistent")
    pid: int = 4242

    def cli(self) -> Any:
        def run(*args: str, timeout: float | None = None) -> CliResult:
            self.calls.append(args)
            if args[:2] == ("server", "status"):
                components = [{"name": "temporal", "state": "running", "pid": self.pid, "healthy": True, "restarts": 2}]
                return CliResult(args, 0, json.dumps({"home": "/x", "components": components}), "", 0.1)
            code = 1 if self.fail_start and args[1] == "start" else 0
            return CliResult(args, code, "", "boom" if code else "", 0.1)

        return run


def test_a_component_is_found_by_name_in_the_status_json() -> None:
    stack: Any = FakeStack()
    info = ComponentTarget(stack, "temporal").info()
    assert (info.pid, info.state, info.healthy, info.restarts) == (4242, "running", True, 2)
    with pytest.raises(FaultError, match="has no component 'agent-runner' \\(it has: temporal\\)"):
        ComponentTarget(stack, "agent-runner").info()


def test_a_restart_is_seen_in_the_supervisor_state_then_confirmed_by_status(tmp_path: Path) -> None:
    stack = FakeStack(home=tmp_path)
    (tmp_path / "run").mkdir()
    state = tmp_path / "run" / "stack.json"
    state.write_text(json.dumps({"components": [{"name": "temporal", "state": "restarting", "pid": None}]}))
    target = ComponentTarget(stack, "temporal")  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"the supervisor records \('restarting', None\)"):
        wait_restarted(target, 4242, timeout=0.3)
    assert stack.calls == [], "no CLI call while the state file says it has not restarted"
    state.write_text(json.dumps({"components": [{"name": "temporal", "state": "running", "pid": 5000}]}))
    stack.pid = 5000
    assert wait_restarted(target, 4242, timeout=5).pid == 5000
    assert stack.calls == [("server", "status", "-o", "json")]


def test_hold_down_stops_the_component_and_starts_it_again_even_after_a_failure() -> None:
    stack = FakeStack()
    ledger = Ledger()
    with pytest.raises(RuntimeError), HoldDown(stack, "temporal", max_seconds=60, ledger=ledger):  # type: ignore[arg-type]
        assert stack.calls[-1] == ("server", "stop", "-c", "temporal")
        raise RuntimeError("the test failed")
    assert stack.calls[-1][:4] == ("server", "start", "-c", "temporal")
    (entry,) = ledger.entries
    assert entry.kind == "process.hold_down" and entry.pids == [4242] and not entry.active


def test_hold_down_says_when_the_component_would_not_start_again() -> None:
    stack = FakeStack(fail_start=True)
    hold = HoldDown(stack, "temporal", ledger=Ledger()).start()  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="could not start temporal again"):
        hold.stop()


def _assert(condition: bool) -> None:
    assert condition
