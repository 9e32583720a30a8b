"""The supervisor process's entry point: signals, its single-instance lock, and the notify pipe."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stigmer import secret_logs
from stigmer.config import Settings
from stigmer.daemon import pidfile
from stigmer.daemon.errors import DaemonBusyError
from stigmer.daemon.homedir import prepare_home
from stigmer.daemon.lock import DaemonLock
from stigmer.daemon.registry import components
from stigmer.daemon.selection import resolve
from stigmer.daemon.supervisor import Supervisor

SUPERVISOR = "supervisor"


class Notifier:
    """Writes the verdict (one JSON line) to the pipe of the waiting ``stigmer server start``, once."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def __call__(self, message: dict[str, Any]) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # the CLI may be gone (Ctrl-C): the stack runs on
            os.write(self._fd, (json.dumps(message) + "\n").encode())
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def supervise(
    settings: Settings, environ: Mapping[str, str], names: Sequence[str], timeout: float, notify_fd: int | None
) -> int:
    """Run the supervisor for ``names`` until SIGTERM; the process exit code."""
    notify = Notifier(notify_fd)
    # What a library logs goes to the supervisor's log, through the one filter of every component.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stdout, format="%(asctime)s supervisor: %(name)s: %(message)s"
    )
    secret_logs.install()
    prepare_home(settings)
    try:
        lock = DaemonLock(settings.run_dir / "supervisor.lock", timeout=0.0)
        lock.acquire()
    except DaemonBusyError:
        notify({"event": "failed", "kind": "error", "error": f"another supervisor already runs for {settings.home}"})
        return 1
    supervisor = Supervisor(settings, components(resolve(names)), environ)

    def request_stop(signum: int, frame: object) -> None:
        supervisor.stop_event.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    me = os.getpid()
    pid_path = settings.pid_file(SUPERVISOR)
    pidfile.write(pid_path, pidfile.PidRecord.for_process(me, ""))
    try:
        return supervisor.run(timeout, notify)
    finally:
        notify.close()
        with contextlib.suppress(OSError):  # a read-only data folder must not hide how the run ended
            pidfile.remove(pid_path)
        lock.release()
