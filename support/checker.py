"""The invariant checker: what the test asked for, against what the system ended with.

Modelled on Jepsen's set and total-queue checkers and temporalio/omes's verifier. A test records every
operation it issued and its acknowledgement in a ``History`` (applied resources, created executions,
cancels, the side effects each execution should cause). After the faults heal, the world is read once
(``support.checker_reads``: the store through the API, Temporal's workflows, the HTTP fixture's and MCP
fixture's records) into a ``World``, and ``count(history, world)`` — a pure function — says, per item:

- ok, failed (with the reason), cancelled (as asked);
- lost: acknowledged but missing, or not terminal within the bound (stuck);
- duplicated: two Temporal workflow runs for one execution, two executions for one request ID, two
  child executions for one task of a parent (``run`` / ``agent_call``: request IDs that differ only
  past the task path), one logical side effect delivered under two different keys, a tool or MCP
  call executed twice;
- redelivered: the same delivery key seen twice (an HTTP Idempotency-Key, an MCP call's idempotency
  key: at-least-once, reported, not a failure; the receiver can tell it is the same call);
- unexpected: an execution, workflow, stored resource or side effect no one asked for;
- restarted: an agent conversation whose first model turn came again after the model had seen its
  tool results (the agent was re-run from scratch instead of resuming its durable progress);
- indeterminate: the client timed out, so the operation may or may not have happened;
- refused: the server answered the create with an error (and, as it should, made nothing);
- disagreements: the store and Temporal disagree (no workflow for a dispatched execution, a status that
  does not match the execution's phase, a workflow still running for a terminal execution...). A
  workflow that completed with a result naming a phase (how the runners end a FAILED or CANCELLED
  execution) counts as that phase: ``COMPLETED/FAILED`` agrees with FAILED, not with COMPLETED.

``Report.clean`` holds when lost, duplicated, unexpected and disagreements are all zero.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from support.checker_reads import HttpLogical, McpLogical
    from support.client import StackClient
    from support.fixtures.http_api import RecordedRequest

# -- what the test did


@dataclass(frozen=True)
class Applied:
    """A resource the test applied; ``ack`` False/None when the apply failed or timed out; ``spec``: a
    digest of the spec it sent (``checker_reads.spec_digest``), to compare with the stored one."""

    kind: str
    name: str
    ack: bool | None = True
    generation: int | None = None
    spec: str = ""


@dataclass(frozen=True)
class Created:
    """An execution the test created. ``ack`` True: the server answered with ``execution_id``; None: the
    client timed out (indeterminate); False: the server refused (nothing may exist)."""

    kind: str
    request_id: str
    execution_id: str | None = None
    ack: bool | None = True
    label: str = ""


@dataclass(frozen=True)
class Expected:
    """A side effect an execution should cause: ``kind`` ``http``, ``mcp`` or ``tool``; ``logical`` names it
    (e.g. the task path ``deploy``, or a tool call ``get_weather Paris``); at most ``times`` deliveries."""

    kind: str
    execution_id: str
    logical: str
    times: int = 1


class History:
    """What the test issued and what it was told; thread-safe (tests issue operations concurrently)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._lock = threading.Lock()
        self.applied: list[Applied] = []
        self.created: list[Created] = []
        self.cancels: list[str] = []
        self.expected: list[Expected] = []

    def apply(
        self, kind: str, name: str, *, ack: bool | None = True, generation: int | None = None, spec: str = ""
    ) -> Applied:
        """Record an apply of resource ``kind``/``name`` (``spec``: its digest) and whether it was acknowledged."""
        op = Applied(kind, name, ack, generation, spec)
        with self._lock:
            self.applied.append(op)
        return op

    def create(
        self, kind: str, request_id: str, execution_id: str | None = None, *, ack: bool | None = True, label: str = ""
    ) -> Created:
        """Record an execution create (``kind`` ``agent`` or ``workflow``) and its acknowledgement."""
        if ack is True and not execution_id:
            raise ValueError("an acknowledged create has an execution ID")
        op = Created(kind, request_id, execution_id, ack, label)
        with self._lock:
            self.created.append(op)
        return op

    def record_create(self, kind: str, request_id: str, call: Callable[[], str], *, label: str = "") -> str | None:
        """Run ``call`` (it creates the execution with ``request_id`` and returns its ID) and record what it
        was told: the ID; indeterminate (None returned) when the call timed out or lost its connection
        (``TimeoutError``, gRPC DEADLINE_EXCEEDED / UNAVAILABLE / CANCELLED); refused for any other
        error, which is re-raised."""
        try:
            execution_id = call()
        except Exception as exc:
            if isinstance(exc, TimeoutError) or _rpc_code(exc) in INDETERMINATE_CODES:
                self.timed_out(kind, request_id, label)
                return None
            self.create(kind, request_id, None, ack=False, label=label)
            raise
        self.create(kind, request_id, execution_id, label=label)
        return execution_id

    def timed_out(self, kind: str, request_id: str, label: str = "") -> Created:
        """Record a create whose call timed out (indeterminate)."""
        return self.create(kind, request_id, None, ack=None, label=label)

    def cancel(self, execution_id: str) -> None:
        """Record a cancel request."""
        with self._lock:
            self.cancels.append(execution_id)

    def expect(self, kind: str, execution_id: str, logical: str, times: int = 1) -> Expected:
        """Record a side effect ``execution_id`` should cause (``kind``: http, mcp, tool)."""
        op = Expected(kind, execution_id, logical, times)
        with self._lock:
            self.expected.append(op)
        return op

    def expect_post(self, execution_id: str, logical: str, times: int = 1) -> Expected:
        """An HTTP POST (by default ``logical`` is the task path in its Idempotency-Key)."""
        return self.expect("http", execution_id, logical, times)

    def expect_tool_call(self, execution_id: str, logical: str, times: int = 1, mcp: bool = False) -> Expected:
        """A tool call (``mcp``: through an MCP server)."""
        return self.expect("mcp" if mcp else "tool", execution_id, logical, times)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "applied": [asdict(op) for op in self.applied],
                "created": [asdict(op) for op in self.created],
                "cancels": list(self.cancels),
                "expected": [asdict(op) for op in self.expected],
            }


Recorder = History
"""Another name for ``History`` (what records the operations)."""

INDETERMINATE_CODES = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED"})
"""gRPC status codes after which a create may or may not have happened."""


def _rpc_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        value = code()
    except Exception:
        return None
    return str(getattr(value, "name", value))


# -- what the system ended with

TERMINAL_PHASES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
TEMPORAL_OPEN = frozenset({"RUNNING"})
# execution phase -> the Temporal statuses that agree with it
AGREEING = {
    "COMPLETED": frozenset({"COMPLETED"}),
    "FAILED": frozenset({"FAILED", "TERMINATED", "TIMED_OUT", "COMPLETED/FAILED"}),
    "CANCELLED": frozenset({"CANCELED", "TERMINATED", "COMPLETED/CANCELLED"}),
}


# a cancelled execution whose cancel was requested may have a workflow that ended otherwise: the
# server ends an execution whose cancel it acknowledged CANCELLED, whatever the workflow reported last
RACED_CANCEL = frozenset({"COMPLETED", "FAILED", "COMPLETED/COMPLETED", "COMPLETED/FAILED"})


@dataclass(frozen=True)
class ExecutionState:
    """One stored execution: its phase (``COMPLETED``...), error, parent, request ID, dispatch state."""

    id: str
    kind: str
    phase: str
    error: str = ""
    request_id: str = ""
    parent_id: str = ""
    dispatched: bool = False
    cancel_requested: bool = False


@dataclass(frozen=True)
class WorkflowRun:
    """One Temporal workflow run: its workflow ID (an execution ID), run ID and status (``COMPLETED``...).

    ``result_phase``: for a COMPLETED run, the phase its result names (the runners' workflows end
    normally with the phase they reported: ``"FAILED"``, or ``{"phase": "FAILED", ...}``), else ``""``."""

    workflow_id: str
    run_id: str
    status: str
    result_phase: str = ""

    @property
    def outcome(self) -> str:
        """The status, refined by the result: ``COMPLETED/FAILED`` for a run that completed reporting FAILED."""
        if self.status == "COMPLETED" and self.result_phase and self.result_phase != "COMPLETED":
            return f"COMPLETED/{self.result_phase}"
        return self.status


@dataclass(frozen=True)
class Delivery:
    """A side effect as observed: ``kind`` (http, mcp, tool), the execution it belongs to, its logical
    identity, and the key it was delivered under (Idempotency-Key, tool call ID...)."""

    kind: str
    execution_id: str
    logical: str
    key: str = ""


@dataclass(frozen=True)
class Resource:
    """One stored resource; ``spec`` the digest of its stored spec (``checker_reads.spec_digest``)."""

    kind: str
    name: str
    generation: int = 0
    spec: str = ""


@dataclass(frozen=True)
class ModelTurn:
    """One request the model received, in order: the conversation it belongs to (its first user
    message) and whether it is the conversation's first turn (no tool result or answer in it yet)."""

    conversation: str
    first: bool


@dataclass
class World:
    """The final state, read once after healing. ``temporal`` None: Temporal was not read;
    ``model_turns`` None: the model's requests were not read."""

    executions: list[ExecutionState] = field(default_factory=list)
    temporal: list[WorkflowRun] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    resources: list[Resource] | None = None
    model_turns: list[ModelTurn] | None = None


# -- the report

CATEGORIES = (
    "ok",
    "failed",
    "cancelled",
    "lost",
    "stuck",
    "duplicated",
    "redelivered",
    "unexpected",
    "restarted",
    "indeterminate",
    "refused",
    "disagreements",
)
FAILING = ("lost", "duplicated", "unexpected", "disagreements")


@dataclass(frozen=True)
class Finding:
    """One counted item: its category, what it is about, and why."""

    category: str
    subject: str
    reason: str


@dataclass
class Report:
    """Counts per category and the findings behind them."""

    name: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.category for f in self.findings)
        return {category: counted.get(category, 0) for category in CATEGORIES}

    @property
    def clean(self) -> bool:
        """No item lost, duplicated, unexpected, or in disagreement between the store and Temporal."""
        counts = self.counts
        return all(counts[category] == 0 for category in FAILING)

    def of(self, category: str) -> list[Finding]:
        """The findings of one category."""
        return [f for f in self.findings if f.category == category]

    def table(self) -> str:
        """One plain-text table: every category's count, then every finding that is not ``ok``."""
        counts = self.counts
        width = max(len(c) for c in CATEGORIES)
        lines = [f"checker report {self.name}: {'clean' if self.clean else 'NOT CLEAN'}"]
        lines.append("  ".join(f"{c}={counts[c]}" for c in CATEGORIES))
        notable = [f for f in self.findings if f.category != "ok"]
        if notable:
            lines.append(f"{'CATEGORY':<{width}}  {'SUBJECT':<40}  REASON")
            lines += [f"{f.category:<{width}}  {f.subject:<40}  {f.reason}" for f in notable]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "clean": self.clean,
            "counts": self.counts,
            "findings": [asdict(f) for f in self.findings],
        }

    def save(self, path: Path) -> None:
        """Write the report as JSON (folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    def assert_clean(self) -> None:
        """Raise ``AssertionError`` with the table when the report is not clean."""
        assert self.clean, f"the invariants do not hold:\n{self.table()}"


# -- the counting (pure)


def count(history: History, world: World, name: str | None = None) -> Report:
    """Compare ``history`` with ``world``; every operation and every observed item ends in a finding."""
    report = Report(name if name is not None else history.name)
    add = report.findings.append
    by_id = {e.id: e for e in world.executions}
    by_request: dict[str, list[ExecutionState]] = defaultdict(list)
    for execution in world.executions:
        if execution.request_id:
            by_request[execution.request_id].append(execution)
    cancelled = set(history.cancels)

    _count_resources(history, world, add)

    asked: set[str] = set()
    for ops in _creates(history.created):
        found = _count_create(ops, by_id, by_request, cancelled, add)
        if found is not None:
            asked.add(found.id)

    children = _descendants(asked, world.executions)
    for execution in world.executions:
        if execution.id in asked:
            continue
        if execution.id in children:
            if execution.phase not in TERMINAL_PHASES:
                add(Finding("stuck", execution.id, f"child execution still {execution.phase}"))
                add(Finding("lost", execution.id, f"child execution not terminal ({execution.phase})"))
            continue
        add(Finding("unexpected", execution.id, f"{execution.kind} execution no one created ({execution.phase})"))

    _count_children(world.executions, add)
    if world.temporal is not None:
        _count_temporal(world.executions, world.temporal, add)
    _count_deliveries(history, world, by_id, add)
    if world.model_turns is not None:
        _count_restarts(world.model_turns, add)
    return report


def _creates(created: list[Created]) -> list[list[Created]]:
    """The creates grouped by request ID (a retried create is one logical operation), in order."""
    groups: dict[str, list[Created]] = {}
    for index, op in enumerate(created):
        groups.setdefault(op.request_id or f"#{index}", []).append(op)
    return list(groups.values())


def _count_create(
    ops: list[Created],
    by_id: dict[str, ExecutionState],
    by_request: dict[str, list[ExecutionState]],
    cancelled: set[str],
    add: Any,
) -> ExecutionState | None:
    """Count one logical create (its attempts); the execution it made, if any."""
    request_id = ops[0].request_id
    acked = list(dict.fromkeys(op.execution_id for op in ops if op.ack is True and op.execution_id))
    made = by_request.get(request_id, []) if request_id else []
    found = next((by_id[i] for i in acked if i in by_id), None) or next(iter(made), None)
    subject = acked[0] if acked else f"request {request_id}"
    label = next((op.label for op in ops if op.label), "")
    if label:
        subject += f" ({label})"
    timeouts = sum(1 for op in ops if op.ack is None)
    if len(acked) > 1:
        add(Finding("duplicated", subject, f"attempts of one create were answered with {', '.join(acked)}"))
    if len(made) > 1:
        ids = ", ".join(e.id for e in made)
        add(Finding("duplicated", subject, f"one create (request {request_id}) made several executions: {ids}"))
    if not acked and not timeouts:
        if found is None:
            add(Finding("refused", subject, "the server refused the create; no execution was made"))
        else:
            add(Finding("unexpected", subject, f"the server refused the create, yet made {found.id}"))
        return found
    if timeouts:
        if acked:
            outcome = f"a retry was acknowledged as {acked[0]}"
        elif found is None:
            outcome = "no execution was made"
        else:
            outcome = f"it was made anyway as {found.id} ({found.phase})"
        times = "" if timeouts == 1 else f" {timeouts} times"
        add(Finding("indeterminate", subject, f"the client timed out{times}; {outcome}"))
    if found is None:
        if acked:
            add(Finding("lost", subject, "acknowledged, but the store has no such execution"))
        return None
    _count_outcome(found, subject, found.id in cancelled, add)
    return found


def _count_outcome(execution: ExecutionState, subject: str, cancel_asked: bool, add: Any) -> None:
    phase = execution.phase
    if phase == "COMPLETED":
        add(Finding("ok", subject, "COMPLETED"))
    elif phase == "FAILED":
        add(Finding("failed", subject, execution.error or "FAILED without an error message"))
    elif phase == "CANCELLED":
        if cancel_asked:
            add(Finding("cancelled", subject, "CANCELLED as asked"))
        else:
            add(Finding("failed", subject, f"CANCELLED though no one asked: {execution.error}".rstrip(": ")))
    else:
        add(Finding("stuck", subject, f"still {phase} after the bound"))
        add(Finding("lost", subject, f"not terminal within the bound ({phase})"))


def _count_resources(history: History, world: World, add: Any) -> None:
    if world.resources is None:
        return
    stored = {(r.kind, r.name): r for r in world.resources}
    latest: dict[tuple[str, str], Applied] = {}
    refused: set[tuple[str, str]] = set()
    for op in history.applied:
        subject = f"{op.kind}/{op.name}"
        if op.ack is None:
            add(Finding("indeterminate", subject, "apply not answered: it may or may not be stored"))
            continue
        if op.ack is False:
            add(Finding("refused", subject, "the server refused the apply"))
            refused.add((op.kind, op.name))
            continue
        latest[(op.kind, op.name)] = op
    for (kind, name), op in latest.items():
        subject = f"{kind}/{name}"
        found = stored.get((kind, name))
        if found is None:
            add(Finding("lost", subject, "applied and acknowledged, but not stored"))
        elif op.generation is not None and found.generation < op.generation:
            add(Finding("lost", subject, f"acknowledged generation {op.generation}, stored {found.generation}"))
        elif op.spec and found.spec and op.spec != found.spec:
            add(Finding("lost", subject, "stored with another spec than the acknowledged one"))
        else:
            add(Finding("ok", subject, "stored"))
    answered = {(op.kind, op.name) for op in history.applied if op.ack is not False}
    for kind, name in stored:
        if (kind, name) in refused and (kind, name) not in answered:
            add(Finding("unexpected", f"{kind}/{name}", "stored, though the server refused its apply"))
        elif (kind, name) not in answered:
            add(Finding("unexpected", f"{kind}/{name}", "stored, but no one applied it"))


def _descendants(roots: set[str], executions: Iterable[ExecutionState]) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for execution in executions:
        if execution.parent_id:
            children[execution.parent_id].append(execution.id)
    found: set[str] = set()
    pending = list(roots)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found and child not in roots:
                found.add(child)
                pending.append(child)
    return found


def child_task(execution: ExecutionState) -> str | None:
    """The parent's task a child execution was made for: its request ID ``<parent>/<task path>`` without
    the ``~<attempts>`` of a retried ``try`` (see ``stigmer.workflow_runner.paths``); None for a root or
    a child without such a request ID."""
    prefix = f"{execution.parent_id}/"
    if not execution.parent_id or not execution.request_id.startswith(prefix):
        return None
    return execution.request_id.removeprefix(prefix).partition("~")[0]


def _count_children(executions: list[ExecutionState], add: Any) -> None:
    made: dict[tuple[str, str], list[str]] = defaultdict(list)
    for execution in executions:
        task = child_task(execution)
        if task is not None:
            made[(execution.parent_id, task)].append(execution.id)
    for (parent, task), ids in made.items():
        if len(ids) > 1:
            add(
                Finding(
                    "duplicated", f"{parent}/{task}", f"one task made {len(ids)} child executions: {', '.join(ids)}"
                )
            )


def _count_restarts(turns: list[ModelTurn], add: Any) -> None:
    # a first turn comes again legitimately while it got no answer (an LLM error is retried); once the
    # conversation went past it, seeing it again means the agent started over
    progressed: set[str] = set()
    again: Counter[str] = Counter()
    for turn in turns:
        if not turn.first:
            progressed.add(turn.conversation)
        elif turn.conversation in progressed:
            again[turn.conversation] += 1
    for conversation, times in again.items():
        add(Finding("restarted", conversation, f"the first model turn came again {times} time(s) after progress"))


def _count_temporal(executions: list[ExecutionState], runs: list[WorkflowRun], add: Any) -> None:
    runs_of: dict[str, list[WorkflowRun]] = defaultdict(list)
    for run in runs:
        runs_of[run.workflow_id].append(run)
    known = {e.id for e in executions}
    for execution in executions:
        found = runs_of.get(execution.id, [])
        if len(found) > 1:
            listed = ", ".join(f"{r.run_id}={r.outcome}" for r in found)
            add(Finding("duplicated", execution.id, f"{len(found)} Temporal runs for one execution: {listed}"))
        if not found:
            if execution.dispatched:
                reason = f"dispatched ({execution.phase}), but Temporal has no workflow"
                add(Finding("disagreements", execution.id, reason))
            continue
        statuses = {r.outcome for r in found}
        phase = execution.phase
        agreeing = AGREEING.get(phase, frozenset())
        if phase == "CANCELLED" and execution.cancel_requested:
            agreeing |= RACED_CANCEL
        if phase in TERMINAL_PHASES:
            if not statuses & agreeing:
                shown = "/".join(sorted(statuses))
                add(Finding("disagreements", execution.id, f"store says {phase}, Temporal says {shown}"))
        elif not statuses <= TEMPORAL_OPEN:
            shown = "/".join(sorted(statuses))
            add(Finding("disagreements", execution.id, f"store says {phase}, but Temporal's workflow is {shown}"))
    for workflow_id, found in runs_of.items():
        if workflow_id not in known:
            add(Finding("unexpected", workflow_id, f"Temporal workflow with no execution ({found[0].status})"))


def _count_deliveries(history: History, world: World, by_id: dict[str, ExecutionState], add: Any) -> None:
    expected: dict[tuple[str, str, str], int] = {}
    declared: set[tuple[str, str]] = set()
    for op in history.expected:
        expected[(op.kind, op.execution_id, op.logical)] = op.times
        declared.add((op.kind, op.execution_id))
    groups: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
    for delivery in world.deliveries:
        groups[(delivery.kind, delivery.execution_id, delivery.logical)].append(delivery)
    known = set(by_id)
    for group_key, deliveries in groups.items():
        kind, execution_id, logical = group_key
        subject = f"{kind} {execution_id}/{logical}"
        if execution_id not in known and not any(op.execution_id == execution_id for op in history.created):
            add(Finding("unexpected", subject, f"{kind} side effect of an execution no one created"))
            continue
        times = expected.get(group_key)
        if times is None and (kind, execution_id) in declared:
            add(Finding("unexpected", subject, f"{kind} side effect no one asked for"))
            continue
        allowed = times or 1
        keys = Counter(d.key for d in deliveries)
        if kind == "http":
            if len(keys) > allowed:
                add(Finding("duplicated", subject, f"delivered under {len(keys)} keys: {', '.join(sorted(keys))}"))
            for key, seen in keys.items():
                if seen > 1:
                    add(Finding("redelivered", subject, f"key {key} delivered {seen} times"))
        elif len(deliveries) > allowed:
            if len(keys) == 1 and "" not in keys:  # one call, delivered again under its idempotency key
                add(Finding("redelivered", subject, f"key {next(iter(keys))} delivered {len(deliveries)} times"))
            else:
                add(Finding("duplicated", subject, f"executed {len(deliveries)} times for one logical call"))
    for (kind, execution_id, logical), _times in expected.items():
        execution = by_id.get(execution_id)
        if execution is not None and execution.phase == "COMPLETED" and not groups.get((kind, execution_id, logical)):
            add(Finding("lost", f"{kind} {execution_id}/{logical}", "the execution COMPLETED without this side effect"))


# -- reading the world once, then counting


def check(
    history: History,
    client: StackClient,
    *,
    temporal_address: str | None = None,
    namespace: str = "default",
    http_requests: Iterable[RecordedRequest] | None = None,
    http_logical: HttpLogical | None = None,
    mcp_entries: Iterable[Mapping[str, Any]] | None = None,
    mcp_logical: McpLogical | None = None,
    tool_calls: bool = True,
    settle_timeout: float = 60.0,
    name: str | None = None,
) -> Report:
    """Wait up to ``settle_timeout`` for the acknowledged executions to end, read the final state once
    (the store; Temporal when ``temporal_address`` is given; the HTTP fixture's requests
    (``HttpApi.requests()``) and the MCP fixture's record entries when given; the tool calls in the
    statuses), and count. What is still not terminal then is reported stuck (lost)."""
    from support import checker_reads as reads

    known = [op.execution_id for op in history.created if op.execution_id]
    reads.wait_terminal(client, known, settle_timeout)
    world = World(executions=reads.read_executions(client))
    if history.applied:
        applied = {(op.kind, op.name) for op in history.applied}
        world.resources = [r for r in reads.read_resources(client) if (r.kind, r.name) in applied]
    if temporal_address is not None:
        world.temporal = reads.read_temporal(temporal_address, namespace, [e.id for e in world.executions])
    if http_requests is not None:
        world.deliveries += reads.http_deliveries(http_requests, http_logical or reads.default_http_logical)
    if mcp_entries is not None:
        world.deliveries += reads.mcp_deliveries(mcp_entries, mcp_logical or reads.default_mcp_logical)
    if tool_calls:
        world.deliveries += reads.tool_deliveries(client)
    return count(history, world, name)
