"""Run the ``stigmer`` CLI as a subprocess, the way a user does, with a timeout on every call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from support.processes import kill_processes

DEFAULT_TIMEOUT = 30.0
# Variables of the user's own setup that would leak into a test stack.
_ISOLATED_PREFIXES = ("STIGMER_", "OLLAMA_")
_ISOLATED_NAMES = ("COLUMNS", "LINES", "FORCE_COLOR", "CLICOLOR_FORCE")


def _kill_and_drain(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Kill the call's whole tree; what it printed, if its pipes close in time."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    proc.kill()  # through its Popen, which reaps it: its exit code stays the kill's
    kill_processes(descendants, timeout=2)
    try:
        return proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait(timeout=2)
        return "", ""


class CliTimeoutError(Exception):
    """A CLI call outlived its timeout; the message shows the command and what it printed."""


@dataclass(frozen=True)
class CliResult:
    """What one CLI call did: exit code, output, and how long it took."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return f"{self.stdout}\n{self.stderr}"

    def json(self) -> Any:
        """stdout parsed as JSON; fails with the whole transcript when it is not JSON."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"stdout is not JSON ({exc}):\n{self}") from None

    def __str__(self) -> str:
        return transcript(self.args, self.exit_code, self.stdout, self.stderr, self.duration)

    __repr__ = __str__


def transcript(args: Sequence[str], exit_code: int | None, stdout: str, stderr: str, duration: float) -> str:
    """A readable record of one call, for assertion messages and reports."""
    ended = f"exit {exit_code}" if exit_code is not None else "no exit"
    return (
        f"$ stigmer {' '.join(args)}\n"
        f"[{ended} after {duration:.2f}s]\n"
        f"--- stdout ---\n{stdout.rstrip()}\n"
        f"--- stderr ---\n{stderr.rstrip()}\n"
    )


def resolve_binary(explicit: str | None = None) -> Path | None:
    """The ``stigmer`` binary: ``explicit``, else ``$STIGMER_BIN``, else next to Python, else on PATH."""
    for candidate in (explicit, os.environ.get("STIGMER_BIN")):
        if candidate:
            found = shutil.which(candidate) or candidate
            return Path(found).absolute()
    beside = Path(sys.executable).parent / "stigmer"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("stigmer")
    return Path(on_path) if on_path else None


def isolated_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without the user's Stigmer settings."""
    source = os.environ if base is None else base
    return {
        key: value
        for key, value in source.items()
        if not key.startswith(_ISOLATED_PREFIXES) and key not in _ISOLATED_NAMES
    }


@dataclass
class Cli:
    """A ``stigmer`` runner bound to one environment; every call is recorded in ``history``."""

    binary: Path
    env: dict[str, str] = field(repr=False)
    cwd: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    history: list[CliResult] = field(default_factory=list, repr=False)

    def __call__(
        self,
        *args: str | Path,
        timeout: float | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CliResult:
        """Run ``stigmer *args``; raises ``CliTimeoutError`` (after killing its tree) on timeout."""
        argv = tuple(str(a) for a in args)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(self.binary), *argv],
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        try:
            stdout, stderr = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise self._timed_out(proc, argv, limit, started) from None
        except BaseException as exc:  # the test's own timeout, ^C: the call must not outlive the test
            self._interrupted(proc, argv, started, exc)
            raise
        result = CliResult(argv, proc.returncode, stdout, stderr, time.monotonic() - started)
        self.history.append(result)
        return result

    def _interrupted(
        self, proc: subprocess.Popen[str], argv: tuple[str, ...], started: float, exc: BaseException
    ) -> None:
        """Kill the call's tree and keep it in the history, marked, for the failure report."""
        stdout, stderr = _kill_and_drain(proc)
        note = f"\n(interrupted by {type(exc).__name__}: its process tree was killed)"
        self.history.append(CliResult(argv, proc.returncode, stdout, stderr + note, time.monotonic() - started))

    def _timed_out(self, proc: subprocess.Popen[str], argv: tuple[str, ...], limit: float, started: float) -> Exception:
        exited = proc.poll()
        stdout, stderr = _kill_and_drain(proc)
        why = (
            f"exited with {exited} but a process it started still holds its stdout/stderr open"
            if exited is not None
            else "was still running; its process tree was killed"
        )
        record = transcript(argv, exited, stdout, stderr, time.monotonic() - started)
        return CliTimeoutError(f"stigmer {' '.join(argv)} did not finish within {limit:g}s: it {why}\n{record}")

    def with_env(self, **overrides: str) -> Cli:
        """A runner for the same binary with some environment variables changed (shares history)."""
        return Cli(self.binary, {**self.env, **overrides}, self.cwd, self.timeout, self.history)
