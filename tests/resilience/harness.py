"""One scenario of the resilience tier: a workload in flight, a fault (or none: the control), then the
checker's counts, saved as ``reports/resilience/<scenario>.json`` and shown as a table.

A fault is a plain callable that injects and heals within its own bounds (a ``with`` of an injector of
``support.faults``); the scenario calls it once the workload has made progress (the model has answered
some turns and the HTTP fixture seen some POSTs), so it lands mid-run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import checker_reads as reads
from support.checker import History, Report, WorkflowRun, World, count
from support.executions import TERMINAL
from support.faults import Ledger
from support.fixtures.http_api import HttpApi
from support.fixtures.mcp_process import McpRecord
from support.stack import Stack
from support.waits import eventually
from support.workload import POSTS, Observation, Workload, execution_phase

Fault = Callable[[], None]
MODES = ("control", "chaos")
# Bounds: creating the jobs (a client's patience) and draining them after the fault healed; an
# execution that is not terminal by then counts as stuck (lost).
CREATE_BOUND = 150.0
DRAIN_BOUND = 150.0
PROGRESS_BOUND = 90.0
SETTLE_BOUND = 15.0


@dataclass
class Scenario:
    """What one scenario test runs against, and what it measured."""

    name: str
    stack: Stack
    workload: Workload
    http: HttpApi
    mcp: McpRecord
    reports: Path
    ledger: Ledger = field(default_factory=Ledger)
    recovery: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    report: Report | None = None
    observation: Observation | None = None

    def progressed(self, chats: int = 6, posts: int = 2) -> None:
        """Wait until the workload is mid-run: the model answered ``chats`` turns, ``posts`` POSTs arrived."""
        prefix = self.workload.prefix

        def mid_run() -> None:
            seen = self.workload.standin.chats(user_contains=prefix)
            landed = [r for r in self.http.requests() if r.method == "POST" and prefix in str(r.body)]
            assert len(seen) >= chats and len(landed) >= posts, (
                f"the workload has not progressed yet: {len(seen)} model turns (want {chats}), "
                f"{len(landed)} POSTs (want {posts})"
            )

        eventually(mid_run, timeout=PROGRESS_BOUND, interval=0.2)

    def run(
        self,
        fault: Fault | None,
        *,
        count: int = 20,
        when: Callable[[], None] | None = None,
        drain_bound: float = DRAIN_BOUND,
        before_check: Callable[[], None] | None = None,
    ) -> Report:
        """Start ``count`` jobs, wait for ``when`` (default: ``progressed``), inject ``fault``, wait until
        every acknowledged execution is terminal, call ``before_check`` (e.g. join a follower), read the
        final state and count. Saves the report."""
        creator = threading.Thread(target=self.workload.start, args=(count,), name=f"{self.name} creates")
        creator.start()
        try:
            (when or self.progressed)()
            if fault is not None:
                began = time.monotonic()
                fault()
                self.recovery["fault_seconds"] = round(time.monotonic() - began, 2)
        finally:
            creator.join(CREATE_BOUND)
        assert not creator.is_alive(), f"creating the jobs took more than {CREATE_BOUND:g}s"
        drained = self.workload.wait_terminal(drain_bound)
        self.recovery["drain_seconds"] = None if drained is None else round(drained, 2)
        if before_check is not None:
            before_check()
        return self.check()

    def check(self) -> Report:
        """Read the final state once (once Temporal has settled) and count with the checker
        (``support.checker``); save the report; the report."""
        self.observation = self.workload.observe()
        self.report = count(self.history(), self.world(), self.name)
        self.save()
        return self.report

    def settle_temporal(self, ids: set[str]) -> list[WorkflowRun]:
        """Temporal's runs of ``ids`` once the workflows of terminal executions have closed too (a
        workflow returns a moment after it reported its execution's end), within a bound; the runs."""
        assert self.observation is not None
        terminal = {i for i in ids if execution_phase(self.observation.executions[i]) in TERMINAL}
        runs: list[WorkflowRun] = []

        def closed() -> None:
            runs[:] = [
                r for r in reads.read_temporal(self.stack.temporal_address, workflow_ids=ids) if r.workflow_id in ids
            ]
            open_ = sorted({r.workflow_id for r in runs if r.workflow_id in terminal and r.status == "RUNNING"})
            assert not open_, f"terminal executions whose Temporal workflow still runs: {open_}"

        started = time.monotonic()
        try:
            eventually(closed, timeout=SETTLE_BOUND, interval=0.5)
        except AssertionError as exc:
            self.notes["temporal_settle"] = str(exc)  # the checker counts them as disagreements
        self.recovery["temporal_settle_seconds"] = round(time.monotonic() - started, 2)
        return runs

    def history(self) -> History:
        """The workload's operations as the checker's history: every create, every accepted cancel, and
        the POSTs each workflow job makes (``POSTS``: path -> how many, the ``for``'s numbered 1..n)."""
        history = History(self.name)
        for op in self.workload.operations:
            if op.acknowledged:
                assert op.execution_id is not None
                history.create(op.kind, op.request_id, op.execution_id, label=op.token)
                if op.kind == "workflow":
                    for path, times in POSTS.items():
                        for logical in [path] if times == 1 else [f"{path} {n}" for n in range(1, times + 1)]:
                            history.expect_post(op.execution_id, logical)
            elif op.indeterminate is not None:
                history.timed_out(op.kind, op.request_id, label=op.token)
            else:
                history.create(op.kind, op.request_id, None, ack=False, label=op.token)
        for execution_id, outcome in self.workload.cancels.items():
            if outcome == "accepted":
                history.cancel(execution_id)
        return history

    def world(self) -> World:
        """The final state of this workload's executions (the module's stack also holds other tests')."""
        assert self.observation is not None
        prefix = self.workload.prefix
        mine: set[str] = set()
        for execution in self.observation.executions.values():
            if not execution.get("spec", {}).get("parent_execution_id") and prefix in json.dumps(execution["spec"]):
                mine.update(_tree_ids(self.observation, execution["metadata"]["id"]))
        with self.stack.client() as client:
            executions = [e for e in reads.read_executions(client) if e.id in mine]
            tools = [d for d in reads.tool_deliveries(client) if d.execution_id in mine]
        temporal = self.settle_temporal(mine)
        # whose POSTs: the job's execution, acknowledged or made by a create the client got no answer to
        made = {e.request_id: e.id for e in executions if not e.parent_id}
        owners = {op.token: op.execution_id or made.get(op.request_id, "") for op in self.workload.operations}
        owners = {token: owner for token, owner in owners.items() if owner}
        agents_by_message = {
            e["spec"].get("message", ""): e["metadata"]["id"]
            for e in self.observation.executions.values()
            if e["metadata"]["id"] in mine and e["metadata"]["id"].startswith("aex-")
        }

        def mcp_logical(entry: Any) -> tuple[str, str, str] | None:
            query = str(dict(entry.get("arguments") or {}).get("query", ""))
            execution_id = agents_by_message.get(f"job {query}", f"(no agent execution of {query})")
            return execution_id, f"{entry.get('tool')} {query}", str(entry.get("idempotency_key") or "")

        posts = [r for r in self.http.requests() if prefix in str(r.body)]
        entries = [e for e in self.mcp.entries() if prefix in json.dumps(e.get("arguments") or {})]
        deliveries = [
            *reads.http_deliveries(posts, reads.http_logical_by_body(owners)),
            *reads.mcp_deliveries(entries, mcp_logical),
            *tools,
        ]
        turns = reads.model_turns(self.observation.chats)
        return World(executions=executions, temporal=temporal, deliveries=deliveries, model_turns=turns)

    def table(self) -> str:
        """The scenario's faults, recovery times and checker counts as one table."""
        recovery = " ".join(f"{k}={v}" for k, v in self.recovery.items())
        faults = ", ".join(f"{e.kind} {e.target}" for e in self.ledger.entries) or "none"
        lines = [f"{self.name}  (faults: {faults}; {recovery})"]
        if self.report is not None:
            lines.append(self.report.table())
        return "\n".join(lines)

    def save(self) -> Path:
        """Write ``<reports>/<name>.json``: counts, details, ledger, recovery times, operations, table."""
        path = self.reports / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "scenario": self.name,
            "checker": self.report.to_json() if self.report is not None else None,
            "recovery": self.recovery,
            "notes": self.notes,
            "ledger": self.ledger.to_json(),
            "operations": [op.to_json() for op in self.workload.operations],
            "table": self.table(),
        }
        path.write_text(json.dumps(report, indent=1, default=str) + "\n")
        return path

    def assert_clean(self, *, all_completed: bool = False) -> None:
        """Nothing lost, duplicated or unexpected, store and Temporal agree; with ``all_completed``
        every acknowledged job also ended COMPLETED (the control's promise)."""
        assert self.report is not None
        shown = self.table()
        assert self.report.clean, shown
        assert self.workload.acknowledged, f"no create was acknowledged\n{shown}"
        if all_completed:
            assert self.report.counts["ok"] == len(self.workload.acknowledged), shown
            assert self.report.counts["failed"] == 0, shown


def _tree_ids(observation: Observation, root: str | None) -> list[str]:
    return [e["metadata"]["id"] for e in observation.tree(root)] if root else []


def scenario_name(request_name: str) -> str:
    """A file-safe scenario name from a test's name (``test_x[chaos]`` -> ``x-chaos``)."""
    name = request_name.removeprefix("test_").replace("[", "-").rstrip("]")
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
