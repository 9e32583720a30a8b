"""Scenario 11: disk faults under the stack's data directory (a small tmpfs mounted as its home): the
disk full, and the directory read-only while stigmer-server restarts into it. Writes fail with a clear
error (never UNKNOWN), nothing acknowledged is lost, and ``PRAGMA integrity_check`` passes after.

Mounting needs root: without it the chaos cases skip with the four-part message (the control runs)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping

import grpc
import pytest

from stigmer.api.v1 import agent_pb2, apply_pb2, common_pb2
from support.faults import FaultUnavailable
from support.faults.disk import DiskFull, ReadOnlyDir, SmallFs, mount_problem, mounted_home, require_mount
from support.faults.processes import ComponentTarget, Kill
from support.pytest_plugin import register_stack
from support.stack import Stack, StackFactory
from support.waits import wait_until
from tests.resilience.harness import Scenario

HOME_MB = 256
FAULT_SECONDS = 10.0
RESTART_BOUND = 90.0


@pytest.fixture(scope="module")
def home_disk() -> dict[str, SmallFs]:
    """The small filesystem under the module's stack home (set by ``stack``), when one could be mounted."""
    return {}


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    stack_factory: StackFactory,
    stack_components: tuple[str, ...],
    stack_env: Mapping[str, str],
    home_disk: dict[str, SmallFs],
) -> Iterator[Stack]:
    """A stack whose STIGMER_HOME is a small tmpfs (when this machine can mount one)."""
    created = stack_factory.create("disk", stack_components, stack_env)
    register_stack(request.node, created)
    with contextlib.ExitStack() as undo:
        if mount_problem() is None:
            home_disk["home"] = undo.enter_context(mounted_home(created.home, HOME_MB))
        undo.callback(created.teardown)
        created.start()
        yield created


@pytest.mark.parametrize("mode", ["control", "full", "read_only"])
def test_disk_fault(scenario: Scenario, home_disk: dict[str, SmallFs], mode: str) -> None:
    if mode != "control" and "home" not in home_disk:
        try:
            require_mount()
        except FaultUnavailable as exc:
            pytest.skip(str(exc))
    rejected: list[str] = []

    def write_during_fault() -> None:
        """One apply while the fault is in place: it must fail clearly, or succeed (and then be kept)."""
        agent = agent_pb2.Agent(
            metadata=common_pb2.Metadata(name=f"{scenario.workload.prefix}-during"),
            spec=agent_pb2.AgentSpec(instructions="Written while the disk misbehaved.", model="llama3.2:1b"),
        )
        with scenario.stack.client() as client:
            try:
                client.apply.Apply(apply_pb2.ApplyRequest(agents=[agent]), timeout=10)
            except grpc.RpcError as exc:
                rejected.append(f"{exc.code().name}: {exc.details()}")

    def full() -> None:
        # the injectors themselves, not SmallFs.full(): an empty ledger is falsy and would be swapped for the default
        fault = DiskFull(home_disk["home"].path, ledger=scenario.ledger, max_seconds=FAULT_SECONDS).start()
        try:
            write_during_fault()
            scenario.workload.start(2, workers=2)  # creates while the disk is full: refused, or kept
            # the workload runs against the full disk until the fault's own bound frees it
            wait_until(lambda: not fault.active, "the disk stayed full past its bound", timeout=FAULT_SECONDS + 60)
        finally:
            fault.stop()

    def read_only() -> None:
        with ReadOnlyDir(home_disk["home"].path, ledger=scenario.ledger, max_seconds=FAULT_SECONDS + 60):
            with Kill(scenario.stack, "stigmer-server", ledger=scenario.ledger):
                pass  # it restarts into the read-only directory
            write_during_fault()
        # it may be between two restarts (started on the read-only data and refused, or crashed): once it
        # runs again, restart it so it reopens its data writable
        server = ComponentTarget(scenario.stack, "stigmer-server")
        wait_until(
            lambda: server.info().state == "running",
            "stigmer-server did not run again after the read-only fault",
            timeout=RESTART_BOUND,
            interval=0.5,
        )
        Kill(scenario.stack, "stigmer-server", ledger=scenario.ledger).start().wait_restarted(RESTART_BOUND)

    scenario.run({"control": None, "full": full, "read_only": read_only}[mode])

    scenario.assert_clean()
    scenario.notes["rejected_writes"] = rejected
    for error in rejected:
        assert not error.startswith("UNKNOWN") and "Exception calling application" not in error, error
    scenario.stack.stop()
    try:
        with sqlite3.connect(scenario.stack.home / "stigmer.db") as db:
            integrity = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        scenario.stack.start()
    scenario.notes["integrity_check"] = integrity
    scenario.save()
    assert integrity == [("ok",)], integrity
