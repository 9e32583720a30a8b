"""A pipeline-side server process (the LLM stand-in, the local model): its log, liveness and teardown.

A subclass names what it is (``describes``, for error messages) and adds how to talk to it.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from support.processes import kill_tree
from support.waits import ProcessDiedError

TAIL_LINES = 40
_LISTENING = re.compile(r"^listening on (http://\S+)$", re.MULTILINE)


def announced_url(log_path: Path) -> str:
    """The URL the process announced in its log (``listening on http://...``); AssertionError until then."""
    found = _LISTENING.search(log_path.read_text(errors="replace"))
    assert found, f"no 'listening on http://...' line in {log_path} yet"
    return found.group(1)


def time_left(deadline: float) -> float:
    """Seconds until the ``time.monotonic()`` deadline (never zero: a wait still polls once)."""
    return max(deadline - time.monotonic(), 0.01)


@dataclass
class ServedProcess:
    """A subprocess that serves on loopback, writing its output to ``log_path``."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    name: ClassVar[str] = "process"  # the component name of its log
    describes: ClassVar[str] = "the process"

    def log_paths(self) -> dict[str, Path]:
        """Its log, by component name (what ``support.diagnostics`` attaches on failure)."""
        return {self.name: self.log_path}

    def tail(self, lines: int = TAIL_LINES) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def assert_alive(self) -> None:
        """Raise ``ProcessDiedError`` (with its last output) when the process has exited."""
        code = self.proc.poll()
        if code is not None:
            raise ProcessDiedError(f"{self.describes} exited with code {code}; its last output:\n{self.tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """Kill the process tree and reap it. Idempotent."""
        kill_tree(self.proc.pid, timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
