"""Container faults on stack components that run in a container (the agent-runner in docker mode).

``KillContainer`` is ``docker kill``: the component's container (found through ``stigmer server status
-o json``: its ``container_id``) gets SIGKILL from the engine, not from the process table, as when the
engine or an operator kills it. Nothing to undo: the supervisor restarts the component in a new
container; ``wait_restarted()`` waits for that and records the new container in the ledger.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

from support import labelled_containers
from support.faults.base import DEFAULT_MAX_SECONDS, FaultError, Injector
from support.faults.ledger import Ledger
from support.faults.processes import ComponentInfo, ComponentTarget, wait_restarted
from support.waits import eventually

if TYPE_CHECKING:
    from support.stack import Stack


class KillContainer(Injector):
    """Send ``sig`` (default SIGKILL) to the component's container through the engine; wait until it exited."""

    kind = "container.kill"

    def __init__(
        self,
        stack: Stack,
        component: str,
        sig: int = signal.SIGKILL,
        *,
        ledger: Ledger | None = None,
        gone_timeout: float = 15.0,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
    ) -> None:
        super().__init__(component, max_seconds=max_seconds, ledger=ledger)
        self.component_target = ComponentTarget(stack, component)
        self.sig = signal.Signals(sig)
        self.gone_timeout = gone_timeout
        self.killed_container: str | None = None
        self.keeper_pid: int | None = None

    def _inject(self) -> dict[str, Any]:
        info = self.component_target.info()
        container_id = info.raw.get("container_id")
        if info.state != "running" or not container_id:
            raise FaultError(
                f"cannot kill the container of {self.target}: state={info.state}, container={container_id} "
                "(does it run in a container? --runner=docker)"
            )
        import docker

        with labelled_containers.engine() as client:
            try:
                client.containers.get(container_id).kill(signal=self.sig.name)
            except docker.errors.NotFound:
                raise FaultError(f"the container {container_id[:12]} of {self.target} is gone already") from None
        self.killed_container, self.keeper_pid = container_id, info.pid
        eventually(self._assert_not_running, timeout=self.gone_timeout, interval=0.05)
        return {"signal": self.sig.name, "container": container_id[:12], "restarts_before": info.restarts}

    def _assert_not_running(self) -> None:
        import docker

        with labelled_containers.engine() as client:
            try:
                status = client.containers.get(self.killed_container).status
            except docker.errors.NotFound:
                return  # exited, and its keeper removed it
        assert status != "running", f"container {self.killed_container} still runs after {self.sig.name}"

    def wait_restarted(self, timeout: float = 60.0) -> ComponentInfo:
        """Wait until the component runs again, healthy, in a new container; records it in the ledger."""
        if self.killed_container is None:
            raise FaultError(f"the container of {self.target} was not killed yet")
        started = time.monotonic()
        info = wait_restarted(self.component_target, self.keeper_pid, timeout)
        new = info.raw.get("container_id")
        if not new or new == self.killed_container:
            raise FaultError(f"{self.target} restarted, but not in a new container (container {new})")
        if self.entry is not None:
            self.entry.detail.update(
                restarted_container=new[:12],
                restarted_after=round(time.monotonic() - started, 3),
                restarts=info.restarts,
            )
        return info
