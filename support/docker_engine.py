"""A private Docker engine for one run: ``dockerd`` started, checked and stopped by the pipeline.

``start_engine(root)`` runs ``dockerd --iptables=false --ip-forward=false --bridge=none``: it never
touches the host's firewall, bridges or ``ip_forward``, and its containers use host networking. Every
piece of its state is its own:

    <root>/data                       --data-root (images, layers, containerd's content); removed by stop()
    <root>/dockerd.log                dockerd's and its containerd's output (kept, for diagnostics)
    /run/stigmer-e2e/<12 hex>/        the runtime folder, removed by stop(): docker.sock (``Engine.host``),
                                      docker.pid, daemon.json (empty: the machine's /etc/docker is not
                                      read), owner, exec/ (--exec-root: containerd's socket and state)

The runtime folder is short and outside ``root`` because a unix socket path holds at most 108 bytes
(containerd's socket lives under the exec root); its name is a hash of ``root``. Readiness is a ping
through the ``docker`` SDK, polled with a deadline; a dockerd that exits first fails at once with the
tail of its log. ``Engine.stop()`` removes the engine's containers, stops dockerd (SIGTERM, then SIGKILL
of every process of the engine: containerd, the shims, the containers), unmounts what is left mounted
under its folders and removes them. ``sweep_dead_engines()`` does the same for engines whose owning
process is gone (a run that was killed).

``python -m support.docker_engine --help``: ``install``, ``doctor``, and ``start --root DIR`` for a
manual engine that runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import docker
import psutil
import requests

from support.diagnostics import last_lines
from support.docker_host import InstallError, engine_problem, find_tool, host_checks, install_prerequisites
from support.docker_host import render_checks as render_host_checks
from support.mounts import mounts_under, remove_tree
from support.prereqs import DOCKER_ENGINE, missing_message
from support.processes import RunId, kill_processes, label_env
from support.waits import eventually

__all__ = ["Engine", "EngineError", "EngineUnavailable", "install_prerequisites", "start_engine"]

RUNTIME_BASE = Path("/run/stigmer-e2e")
START_TIMEOUT = 60.0
STOP_GRACE = 15.0
STORAGE_DRIVER_ENV = "STIGMER_E2E_DOCKER_STORAGE_DRIVER"
LOG_TAIL_LINES = 40
_ENGINE_PROGRAMS = ("dockerd", "containerd", "docker-proxy")
_SHIM = "containerd-shim"
# What a dockerd log line that ends a failed start usually means, and what to do about it.
_HINTS = (
    ("cgroup", "the kernel's cgroups are not mounted or not usable here (see /sys/fs/cgroup)"),
    ("overlay", f"overlayfs is not usable here: try `modprobe overlay`, or {STORAGE_DRIVER_ENV}=vfs (slow)"),
    ("operation not permitted", "dockerd lacks privileges: it needs real root (a container needs --privileged)"),
    ("address already in use", "another dockerd holds this engine's socket"),
    ("pid file found", "another dockerd runs with this engine's pid file"),
)


class EngineError(Exception):
    """The engine did not start or stop cleanly; the message carries the end of dockerd's log."""


class EngineUnavailable(EngineError):
    """This machine cannot run the engine (not root, no dockerd, no cgroups): the four-part message."""


def runtime_dir_for(root: Path) -> Path:
    """The short runtime folder of the engine whose state lives in ``root``."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return RUNTIME_BASE / digest


def engine_processes(runtime_dir: Path) -> list[psutil.Process]:
    """dockerd, containerd and the shims of the engine using ``runtime_dir`` (they name it in their
    command line), and every descendant of theirs (the containers' processes)."""
    marker = str(runtime_dir)
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] not in _ENGINE_PROGRAMS and not (proc.info["name"] or "").startswith(_SHIM):
                continue
            if any(marker in arg for arg in proc.info["cmdline"] or ()):
                found[proc.pid] = proc
                found.update((child.pid, child) for child in proc.children(recursive=True))
        except psutil.Error:
            continue
    return list(found.values())


def failure_hint(log_text: str) -> str:
    """What the end of a dockerd log says is wrong, in a sentence ('' when nothing known)."""
    lowered = log_text.lower()
    for needle, hint in _HINTS:
        if needle in lowered:
            return hint
    return ""


@dataclass
class Engine:
    """A running dockerd of this run. ``host`` is its ``unix://`` address, for ``DOCKER_HOST``."""

    root: Path
    runtime_dir: Path
    process: subprocess.Popen[bytes]
    stopped: bool = field(default=False, init=False)

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.runtime_dir / "exec"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    def client(self, timeout: float = 60.0) -> docker.DockerClient:
        """A client of this engine (close it when done); ``timeout`` bounds each API call."""
        return docker.DockerClient(base_url=self.host, timeout=int(timeout))

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return last_lines(self.log_path, lines) if self.log_path.exists() else f"(no log at {self.log_path})"

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Remove the containers, stop dockerd and every process of the engine, unmount and remove its
        state. Idempotent; raises ``EngineError`` when something could not be removed."""
        if self.stopped:
            return
        self.stopped = True
        problems: list[str] = []
        if self.process.poll() is None:
            problems += _remove_containers(self)
        processes = engine_processes(self.runtime_dir)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        # whatever outlived dockerd's own shutdown (its containerd, shims, containers) and any newcomer
        kill_processes([*processes, *engine_processes(self.runtime_dir)], timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.process.poll() is None:
            problems.append(f"dockerd (pid {self.process.pid}) still runs after SIGKILL")
        problems += release_state(self.runtime_dir, self.data_root)
        if problems:
            raise EngineError(f"the engine at {self.host} was not stopped cleanly: {'; '.join(problems)}")

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _remove_containers(engine: Engine) -> list[str]:
    try:
        client = engine.client(timeout=30)
    except docker.errors.DockerException as exc:
        return [f"could not list its containers: {exc}"]
    problems = []
    try:
        for container in client.containers.list(all=True):
            try:
                container.remove(force=True)
            except docker.errors.APIError as exc:
                if exc.status_code != 404:
                    problems.append(f"could not remove container {container.short_id}: {exc}")
    except (docker.errors.DockerException, requests.RequestException) as exc:
        problems.append(f"could not list its containers: {exc}")
    finally:
        client.close()
    return problems


def release_state(runtime_dir: Path, data_root: Path | None) -> list[str]:
    """Unmount and remove an engine's runtime folder and data root; what could not be done."""
    problems = []
    for folder in (runtime_dir, data_root):
        if folder is None:
            continue
        try:
            remove_tree(folder)
        except OSError as exc:
            problems.append(f"could not remove {folder}: {exc}")
    return problems


def start_engine(root: Path, timeout: float = START_TIMEOUT, storage_driver: str | None = None) -> Engine:
    """Start a dockerd keeping its state under ``root``; return once it answers a ping.

    Raises ``EngineUnavailable`` (the four-part message) when this machine cannot run it, and
    ``EngineError`` with dockerd's log when it exits or does not answer within ``timeout`` seconds.
    """
    problem = engine_problem()
    if problem is not None:
        raise EngineUnavailable(missing_message(DOCKER_ENGINE, problem))
    dockerd = find_tool("dockerd")
    assert dockerd is not None  # engine_problem() checked it
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    runtime = runtime_dir_for(root)
    sweep_dead_engines()
    if engine_processes(runtime):
        raise EngineError(f"an engine already runs for {root} (runtime folder {runtime}): stop it first")
    release_state(runtime, None)
    runtime.mkdir(parents=True, mode=0o700)
    owner = {"run_id": str(RunId.for_process()), "root": str(root)}
    (runtime / "owner").write_text(json.dumps(owner))
    (runtime / "daemon.json").write_text("{}\n")
    command = [
        dockerd,
        f"--config-file={runtime / 'daemon.json'}",
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        "--userland-proxy=false",
        f"--data-root={root / 'data'}",
        f"--exec-root={runtime / 'exec'}",
        f"--pidfile={runtime / 'docker.pid'}",
        f"--host=unix://{runtime / 'docker.sock'}",
    ]
    driver = storage_driver or os.environ.get(STORAGE_DRIVER_ENV)
    if driver:
        command.append(f"--storage-driver={driver}")
    with (root / "dockerd.log").open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=label_env(dict(os.environ), RunId.for_process()),
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop the engine in order
        )
    engine = Engine(root, runtime, process)
    try:
        _wait_ready(engine, timeout)
    except BaseException:
        with contextlib.suppress(EngineError):
            engine.stop(grace=5.0)
        raise
    return engine


def _wait_ready(engine: Engine, timeout: float) -> None:
    def alive() -> None:
        code = engine.process.poll()
        if code is not None:
            tail = engine.log_tail()
            hint = failure_hint(tail)
            raise EngineError(
                f"dockerd exited with code {code} before answering at {engine.host}"
                + (f": {hint}" if hint else "")
                + f"\nlast lines of {engine.log_path}:\n{tail}"
            )

    def ping() -> None:
        try:
            client = docker.DockerClient(base_url=engine.host, timeout=5)
        except docker.errors.DockerException as exc:
            raise AssertionError(f"no answer at {engine.host} yet: {exc}") from None
        try:
            assert client.ping(), f"{engine.host} answered the ping with an error"
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise AssertionError(f"no answer at {engine.host} yet: {exc}") from None
        finally:
            client.close()

    try:
        eventually(ping, timeout=timeout, interval=0.1, alive=alive)
    except AssertionError as exc:
        raise EngineError(f"dockerd did not answer within {timeout:g}s: {exc}\n{engine.log_tail()}") from None


def sweep_dead_engines(base: Path = RUNTIME_BASE) -> list[str]:
    """Stop the engines of runs whose owning process is gone, and remove their state; what was done."""
    done: list[str] = []
    if not base.is_dir():
        return done
    for runtime in sorted(base.iterdir()):
        try:
            owner = json.loads((runtime / "owner").read_text())
            run = RunId.parse(owner["run_id"])
            root = Path(owner["root"])
        except (OSError, ValueError, KeyError):
            continue
        if run.owner_alive():
            continue
        killed = kill_processes(engine_processes(runtime))
        mounted = len(mounts_under(runtime)) + len(mounts_under(root / "data"))
        problems = release_state(runtime, root / "data")
        done.append(
            f"engine of dead run {run} ({root}): killed {len(killed)} process(es), {mounted} mount(s)"
            + (f"; {'; '.join(problems)}" if problems else "")
        )
    return done


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(root: Path) -> int:
    # Ctrl-C and SIGTERM both stop the engine in order (SIGINT is ignored in a background job otherwise)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    engine = start_engine(root)
    print(f"export DOCKER_HOST={engine.host}", flush=True)
    note = f"dockerd pid {engine.process.pid}, log {engine.log_path}; Ctrl-C stops it and removes its state"
    print(f"({note})", flush=True)
    try:
        while engine.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                engine.process.wait(3600)
        print(f"dockerd exited with code {engine.process.returncode}:\n{engine.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the engine ...", file=sys.stderr, flush=True)
        return 0
    finally:
        engine.stop()


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m support.docker_engine", description=__doc__, formatter_class=raw)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="install docker.io and debootstrap with apt-get when missing (root)")
    commands.add_parser("doctor", help="print what the engine needs on this machine and what is missing")
    start = commands.add_parser("start", help="start an engine, print its DOCKER_HOST, run until Ctrl-C")
    start.add_argument("--root", type=Path, required=True, help="folder for its data and log")
    args = parser.parse_args(argv)
    if args.command == "install":
        try:
            install_prerequisites()
        except InstallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "doctor":
        checks = host_checks()
        print(render_host_checks(checks))
        problem = engine_problem(checks)
        print(f"docker SDK {docker.__version__}; engines' runtime folders under {RUNTIME_BASE}")
        if problem:
            print("\n" + missing_message(DOCKER_ENGINE, problem))
            return 1
        return 0
    try:
        return _serve(args.root)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
