"""Scenario 7: a burst of applies while stigmer-server is SIGKILLed: every apply the server
acknowledged is stored afterwards (with what it said), and ``PRAGMA integrity_check`` of the database,
read with sqlite3 once the stack has stopped, says ``ok``."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from stigmer.api.v1 import agent_pb2, apply_pb2, common_pb2
from support import checker_reads as reads
from support.checker import History, World, count
from support.client import StackClient
from support.faults.processes import Kill
from support.waits import wait_until
from support.workload_check import Tally
from tests.resilience.harness import MODES, Scenario

APPLIES = 60
RESTART_BOUND = 60.0
APPLY_BOUND = 60.0


@pytest.mark.parametrize("mode", MODES)
def test_burst_of_applies_with_the_server_killed(scenario: Scenario, mode: str) -> None:
    stack = scenario.stack
    prefix = scenario.workload.prefix
    acked: dict[str, str] = {}  # name -> instructions the server acknowledged
    history = History(scenario.name)
    tally = Tally()
    lock = threading.Lock()

    def apply(index: int) -> None:
        name, instructions = f"{prefix}-burst-{index:03d}", f"Burst agent {index} of {prefix}."
        agent = agent_pb2.Agent(
            metadata=common_pb2.Metadata(name=name),
            spec=agent_pb2.AgentSpec(instructions=instructions, model="llama3.2:1b"),
        )
        with StackClient(stack.address, home=stack.home) as client:
            deadline = time.monotonic() + APPLY_BOUND
            while time.monotonic() < deadline:
                try:
                    client.apply.Apply(apply_pb2.ApplyRequest(agents=[agent]), timeout=5)
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        history.apply("agent", name, ack=False)
                        with lock:
                            tally.add("failed", f"{name}: {exc.code().name} {exc.details()}")
                        return
                    time.sleep(0.2)  # the client's retry backoff
                    continue
                history.apply("agent", name)
                with lock:
                    acked[name] = instructions
                return
        history.apply("agent", name, ack=None)
        with lock:
            tally.add("indeterminate", f"{name}: no answer within {APPLY_BOUND:g}s")

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = [pool.submit(apply, i) for i in range(APPLIES)]
        if mode == "chaos":
            wait_until(lambda: len(acked) >= 10, "the burst did not get going", timeout=60)
            with Kill(stack, "stigmer-server", ledger=scenario.ledger) as kill:
                killed = time.monotonic()
                kill.wait_restarted(RESTART_BOUND)
                scenario.recovery["serving_again_seconds"] = round(time.monotonic() - killed, 2)
        for future in done:
            future.result(APPLY_BOUND + 30)

    with stack.client() as client:
        stored = {a.metadata.name: a.spec.instructions for a in client.list_agents()}
        resources = [r for r in reads.read_resources(client) if r.name.startswith(f"{prefix}-burst-")]
    scenario.report = count(history, World(resources=resources), scenario.name)
    for name, instructions in acked.items():
        if name not in stored:
            tally.add("lost", f"acknowledged apply of {name} is not stored")
        elif stored[name] != instructions:
            tally.add("lost", f"{name} is stored with {stored[name]!r}, not the acknowledged {instructions!r}")
        else:
            tally.add("ok")
    unexpected = [n for n in stored if n.startswith(f"{prefix}-burst-") and n not in acked]
    for name in unexpected:
        # an apply that timed out on the client may have been stored: that is indeterminate, not unexpected
        if not any(name in d for d in tally.details if d.startswith("indeterminate")):
            tally.add("unexpected", f"{name} is stored but no apply of it was acknowledged or left unanswered")

    stack.stop()
    try:
        with sqlite3.connect(stack.home / "stigmer.db") as db:
            integrity = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        stack.start()
    scenario.notes["integrity_check"] = integrity
    scenario.tally = tally
    scenario.save()

    assert integrity == [("ok",)], integrity
    scenario.report.assert_clean()
    assert tally.clean(), scenario.table() + "\n" + "\n".join(tally.details)
    assert tally.counts["ok"] == len(acked) > 0, scenario.table()
