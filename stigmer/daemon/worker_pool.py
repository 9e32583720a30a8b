"""``python -m stigmer.daemon.worker_pool --workers N -- COMMAND...``: one runner component as N workers.

With ``runner_workers`` above 1 the supervisor launches this pool as the runner component instead of
the runner itself (:mod:`.runners`). The pool keeps the runner contract for the whole component, so the
supervisor treats it as one process:

* It starts N worker processes running ``COMMAND`` (``python -m stigmer.workflow_runner`` ...) in its own
  process group, so stopping or killing the component stops all of them (and each worker gets SIGKILL
  should the pool itself die: ``PR_SET_PDEATHSIG``). All of them poll the same Temporal task queues.
* Worker ``i`` gets its own ready and liveness files (``run/<component>.worker-<i>.ready`` / ``.alive``)
  and ``STIGMER_RUNNER_WORKER=i``; its output goes to the component's log, as the pool's does.
* **Ready** once every worker's ready file names that worker's pid: then the pool writes its own pid to
  the component's ``$STIGMER_READY_FILE``.
* **Alive** while every worker touches its liveness file: the pool touches the component's
  ``$STIGMER_LIVENESS_FILE`` only then, so one frozen worker makes the component fail its health check
  and the supervisor restarts the component (all its workers), as it would a single frozen runner.
* A worker that exits while the pool is not stopping fails the component: the pool stops the other
  workers and exits 1, and the supervisor restarts the component within its restart budget. Temporal
  retries what the dead worker held (heartbeat and sticky-queue timeouts), so nothing is lost.
* SIGTERM / SIGINT: passed to every worker; the pool waits for them and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stigmer import liveness

WORKER_ENV = "STIGMER_RUNNER_WORKER"
READY_ENV = "STIGMER_READY_FILE"
MONITOR_INTERVAL = 0.1
STOP_TIMEOUT = 8.0  # below the supervisor's stop grace (10 s), after which the group gets SIGKILL
PR_SET_PDEATHSIG = 1


def worker_files(run_dir: Path, component: str, index: int) -> tuple[Path, Path]:
    """(ready file, liveness file) of worker ``index`` (from 1) of ``component``."""
    stem = run_dir / f"{component}.worker-{index}"
    return stem.with_suffix(".ready"), stem.with_suffix(".alive")


@dataclass
class Worker:
    """One worker process of the pool."""

    index: int
    process: subprocess.Popen[bytes]
    ready_file: Path
    liveness_file: Path

    def ready(self) -> bool:
        """Whether its ready file names its pid (it polls its task queue)."""
        try:
            return int(self.ready_file.read_text().strip()) == self.process.pid
        except (OSError, ValueError):
            return False

    def describe(self) -> str:
        return f"worker {self.index} (pid {self.process.pid})"


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the pool dies (Linux; elsewhere the process group covers it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _say(message: str) -> None:
    print(f"worker-pool: {message}", file=sys.stderr, flush=True)


class Pool:
    """N workers of ``command`` for the component named in ``environ`` (see the module docstring)."""

    def __init__(self, command: Sequence[str], workers: int, environ: Mapping[str, str]) -> None:
        self.command = list(command)
        self.count = workers
        self.environ = dict(environ)
        self.component = self.environ.get("STIGMER_COMPONENT", "runner")
        self.ready_file = Path(self.environ[READY_ENV])
        raw_alive = self.environ.get(liveness.LIVENESS_ENV)
        self.liveness_file = Path(raw_alive) if raw_alive else None
        self.workers: list[Worker] = []
        self.stop = threading.Event()
        self.announced = False
        self._stale: set[int] = set()

    def start(self) -> None:
        for index in range(1, self.count + 1):
            ready, alive = worker_files(self.ready_file.parent, self.component, index)
            for leftover in (ready, alive):
                leftover.unlink(missing_ok=True)
            env = {**self.environ, READY_ENV: str(ready), liveness.LIVENESS_ENV: str(alive), WORKER_ENV: str(index)}
            process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            self.workers.append(Worker(index, process, ready, alive))
            _say(f"started {self.workers[-1].describe()}: {' '.join(self.command)}")

    def run(self) -> int:
        """Watch the workers until told to stop (0) or one of them exits (1)."""
        next_beat = 0.0
        while not self.stop.is_set():
            for worker in self.workers:
                code = worker.process.poll()
                if code is not None:
                    _say(f"{worker.describe()} exited with code {code}; stopping the others (the component fails)")
                    return 1
            if not self.announced and all(worker.ready() for worker in self.workers):
                _write_ready(self.ready_file)
                self.announced = True
                _say(f"all {self.count} workers of {self.component} polling; ready (pid {os.getpid()})")
            now = time.monotonic()
            if now >= next_beat:
                self._beat()
                next_beat = now + liveness.BEAT_INTERVAL
            self.stop.wait(MONITOR_INTERVAL)
        return 0

    def _beat(self) -> None:
        """Touch the component's liveness file while every worker touches its own (always before ready)."""
        if self.liveness_file is None:
            return
        stale = [w for w in self.workers if not liveness.is_fresh(w.liveness_file)] if self.announced else []
        newly = {w.index for w in stale} - self._stale
        for worker in stale:
            if worker.index in newly:
                _say(f"{worker.describe()} shows no sign of life; the component stops reporting alive")
        self._stale = {w.index for w in stale}
        if not stale:
            with contextlib.suppress(OSError):
                liveness.touch(self.liveness_file)

    def shutdown(self) -> None:
        """SIGTERM every worker still running; SIGKILL those left after :data:`STOP_TIMEOUT`; remove files."""
        self.ready_file.unlink(missing_ok=True)
        running = [w for w in self.workers if w.process.poll() is None]
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in running:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                _say(f"{worker.describe()} did not stop within {STOP_TIMEOUT:g}s; killing it")
                worker.process.kill()
                worker.process.wait()
        for worker in self.workers:
            worker.ready_file.unlink(missing_ok=True)
            worker.liveness_file.unlink(missing_ok=True)


def _write_ready(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stigmer.daemon.worker_pool",
        description="Run a runner as N worker processes (started by the supervisor; see the module docstring).",
    )
    parser.add_argument("--workers", type=int, required=True, help="worker processes to run (at least 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the worker's command")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if args.workers < 1 or not args.command:
        parser.error("need --workers N (N >= 1) and a command after --")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if READY_ENV not in os.environ:
        _say(f"{READY_ENV} is not set: the pool is started by the supervisor, which sets it")
        return 2
    pool = Pool(args.command, args.workers, os.environ)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: pool.stop.set())
    code = 1
    try:
        pool.start()
        code = pool.run()
    finally:
        pool.shutdown()
    if code == 0:
        _say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
