"""The keeper of one component container: ``python -m stigmer.daemon.container_keeper``.

The supervisor launches the keeper like any component process; the keeper

1. creates and starts the container described by ``$STIGMER_CONTAINER_SPEC`` (a :class:`ContainerSpec`
   as JSON) and records its ID and image in ``spec.container_file`` (``server status`` shows them);
2. copies the container's output to its own stdout, which is the component's log;
3. once the component in the container wrote its ready file (``spec.inner_ready_file``), writes its own
   pid to ``spec.ready_file``: the supervisor's ready-file check wants a process it launched, and the
   container's processes are not (another pid namespace, children of the engine's shim);
4. exits with the container's exit code when the container exits, and on SIGTERM stops the container
   (SIGKILL after ``spec.stop_timeout``), so restart on death, hold-down and stop work as for a process.

The container is removed whenever the keeper exits on its own. A SIGKILLed keeper leaves it: the
supervisor removes a component's labelled containers before each launch and after each stop
(:func:`stigmer.daemon.containers.remove_labelled`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stigmer.daemon.errors import DaemonError

if TYPE_CHECKING:
    from docker.models.containers import Container

SPEC_ENV = "STIGMER_CONTAINER_SPEC"
READY_POLL = 0.05
LOG_DRAIN_TIMEOUT = 5.0
EXIT_ENGINE_ERROR = 125  # as `docker run` when the engine fails


@dataclass(frozen=True)
class ContainerSpec:
    """One container of a component: what runs, with which environment, mounts and labels."""

    image: str
    name: str
    labels: Mapping[str, str]
    env: Mapping[str, str]
    # host path -> path in the container (read-write)
    mounts: Mapping[str, str]
    ready_file: str
    inner_ready_file: str
    container_file: str
    user: str = ""
    group_add: list[str] = field(default_factory=list)
    stop_timeout: int = 8
    # Replaces the image's ENTRYPOINT when set (empty: the image's own).
    entrypoint: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        return cls(**json.loads(text))


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _say(message: str) -> None:
    print(f"container-keeper: {message}", flush=True)


class Keeper:
    """Runs one container to its end (see the module docstring)."""

    def __init__(self, spec: ContainerSpec, environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.environ = environ
        self.stop_requested = threading.Event()
        self.exited = threading.Event()
        self.exit_code = EXIT_ENGINE_ERROR

    def run(self) -> int:
        import docker

        from stigmer.daemon.containers import engine

        spec = self.spec
        Path(spec.inner_ready_file).unlink(missing_ok=True)
        client = engine(self.environ)
        container: Container | None = None
        try:
            container = client.containers.create(
                spec.image,
                entrypoint=spec.entrypoint or None,
                name=spec.name,
                environment=dict(spec.env),
                labels=dict(spec.labels),
                network_mode="host",
                volumes={host: {"bind": inside, "mode": "rw"} for host, inside in spec.mounts.items()},
                user=spec.user or None,
                group_add=spec.group_add or None,
                init=True,  # a real pid 1 that forwards SIGTERM and reaps
            )
            write_atomically(Path(spec.container_file), json.dumps({"id": container.id, "image": spec.image}) + "\n")
            container.start()
            _say(f"started container {container.short_id} ({spec.name}) from {spec.image}")
            logs = threading.Thread(target=self._copy_logs, args=(container,), daemon=True)
            logs.start()
            threading.Thread(target=self._wait, args=(container,), daemon=True).start()
            threading.Thread(target=self._relay_ready, daemon=True).start()
            while not self.exited.wait(0.2):
                if self.stop_requested.is_set():
                    _say(f"stopping container {container.short_id} (SIGKILL after {spec.stop_timeout}s)")
                    container.stop(timeout=spec.stop_timeout)
                    self.exited.wait(LOG_DRAIN_TIMEOUT)
                    break
            logs.join(LOG_DRAIN_TIMEOUT)
            _say(f"container {container.short_id} exited with code {self.exit_code}")
            return self.exit_code
        except docker.errors.DockerException as exc:
            _say(f"the Docker engine failed: {exc}")
            return EXIT_ENGINE_ERROR
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except docker.errors.DockerException as exc:
                    _say(f"could not remove container {container.short_id}: {exc}")
            Path(spec.container_file).unlink(missing_ok=True)
            client.close()

    def _copy_logs(self, container: Container) -> None:
        out = sys.stdout.buffer
        try:
            for chunk in container.logs(stream=True, follow=True):
                out.write(chunk)
                out.flush()
        except Exception as exc:  # the stream ends with the container; anything else is only reported
            _say(f"stopped copying the container's output: {exc}")

    def _wait(self, container: Container) -> None:
        try:
            self.exit_code = int(container.wait()["StatusCode"])
        except Exception as exc:
            _say(f"lost track of the container: {exc}")
        self.exited.set()

    def _relay_ready(self) -> None:
        inner = Path(self.spec.inner_ready_file)
        while not self.exited.is_set():
            try:
                named = inner.read_text().strip()
            except OSError:
                named = ""
            if named.isdigit():
                write_atomically(Path(self.spec.ready_file), f"{os.getpid()}\n")
                return
            self.exited.wait(READY_POLL)


def main(argv: list[str] | None = None) -> int:
    text = os.environ.get(SPEC_ENV)
    if not text:
        print(f"container-keeper: ${SPEC_ENV} is not set (it is started by the stigmer supervisor)", file=sys.stderr)
        return 2
    keeper = Keeper(ContainerSpec.from_json(text), os.environ)

    def stop(signum: int, frame: Any) -> None:
        keeper.stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        return keeper.run()
    except DaemonError as exc:
        _say(str(exc))
        return EXIT_ENGINE_ERROR


if __name__ == "__main__":
    sys.exit(main())
