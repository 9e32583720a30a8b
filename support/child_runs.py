"""Child runs (a tier's pytest started by ``support.flake`` or ``support.remote_stack``) that never outlive
their parent: past their ceiling the whole tree is killed, and when the parent is interrupted (Ctrl-C,
SIGTERM) the child gets SIGINT first, so pytest tears its stacks down, then SIGKILL for what is left.
Either way the processes the killed run had labelled (its stacks) are swept."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Sequence
from types import FrameType
from typing import Any

import psutil

from support.processes import kill_processes, kill_tree, sweep_orphans

TEARDOWN_GRACE_S = 60.0  # for pytest to stop its stacks after SIGINT
# a tier's own --session-timeout ends it between tests; this is the backstop should that not work
KILL_AFTER_S = 120


class RunTimeoutError(Exception):
    """The child ran past its ceiling and was killed with its whole tree."""


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C does (finally blocks and context managers run)."""

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)


def run_child(command: Sequence[str], *, timeout: float, **popen: Any) -> int:
    """Run ``command`` to its end and return its exit code; raise ``RunTimeoutError`` past ``timeout``."""
    # a background job (nohup, CI without a terminal) starts with SIGINT ignored, which the child would
    # inherit: then the interrupt below would not reach pytest and it would not tear its stacks down
    proc = subprocess.Popen(list(command), preexec_fn=_default_sigint, **popen)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait(timeout=30)
        sweep_orphans()
        raise RunTimeoutError(f"killed after {timeout:.0f} s: {' '.join(command)}") from None
    except BaseException:
        started = _descendants(proc.pid)  # before they are orphaned by the run's exit
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=TEARDOWN_GRACE_S)
        kill_tree(proc.pid)
        proc.wait(timeout=30)
        kill_processes(started)
        sweep_orphans()  # what the killed run had started on its own (stacks run in their own sessions)
        raise


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
