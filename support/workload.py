"""The resilience tier's workload: many executions in flight at once, each leaving side effects a
checker can count, created the way clients create them (gRPC with a request ID, or ``stigmer run``).

A *job* is one logical operation the test asked for, named by a token (``wl3-7f2a``):
- an agent run of ``resilience-worker`` (message ``job <token>``): the stand-in scripts it to call the
  workspace tool ``write_file`` (path ``<token>.txt``), then the MCP tool ``search_docs`` (query
  ``<token>``), then to answer ``done <token>`` token by token;
- a workflow run of ``resilience/job`` (input ``{"token": ...}``): POSTs to the HTTP fixture (start,
  two items, a fork branch, the child workflow's), a durable wait, an ``agent_call`` (which runs the
  agent script above for ``job <token>``) and a ``run`` of ``resilience/child``.

Every create is recorded as an ``Operation``: acknowledged (the execution ID the server returned),
rejected (the server said no), or indeterminate (no answer within the client's bound: it may or may
not exist). ``Workload.observe`` reads the final state once the faults have healed.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from stigmer.api.v1 import execution_pb2
from support.cli import Cli, CliTimeoutError
from support.client import StackClient, ref, to_dict
from support.executions import TERMINAL, phase
from support.fixtures.http_api import Route
from support.llm_standin import Match, Reply, Rule, StandinClient, ToolCall, ToolCalls
from support.output import execution_id as printed_execution_id

PROJECT = Path(__file__).parent.parent / "tests" / "resilience" / "projects" / "workload"
AGENT = "resilience-worker"
WORKFLOW = "resilience/job"
CHILD_WORKFLOW = "resilience/child"
# Paths the workflow POSTs to: (path, how many times per job).
POSTS = {"/v1/start": 1, "/v1/item": 2, "/v1/left": 1, "/v1/child": 1}
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class Operation:
    """One create the test issued, and what came back."""

    kind: str  # "agent" or "workflow"
    token: str
    request_id: str
    via: str  # "grpc", "cli" (``stigmer run --no-follow``) or "follow" (``stigmer run``, followed to the end)
    invoked_at: float = field(default_factory=time.monotonic)
    execution_id: str | None = None
    acked_at: float | None = None
    rejected: str | None = None
    indeterminate: str | None = None
    exit_code: int | None = None  # of `stigmer run`
    output: str = ""  # what `stigmer run` printed (stdout, then stderr)

    @property
    def acknowledged(self) -> bool:
        return self.execution_id is not None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Observation:
    """The final state after the faults healed: every stored execution, and the model's chats of this
    workload (the side effects are read by the checker's readers)."""

    executions: Mapping[str, dict[str, Any]]
    chats: Sequence[Any]

    def children(self, parent_id: str) -> list[dict[str, Any]]:
        """The executions started by ``parent_id`` (its ``agent_call`` and ``run`` tasks)."""
        return [e for e in self.executions.values() if e.get("spec", {}).get("parent_execution_id") == parent_id]

    def tree(self, root_id: str) -> list[dict[str, Any]]:
        """``root_id``'s execution and all its descendants (those that exist)."""
        found, queue = [], [root_id]
        while queue:
            current = queue.pop()
            if current in self.executions:
                found.append(self.executions[current])
            queue.extend(child["metadata"]["id"] for child in self.children(current))
        return found


def execution_phase(execution: Mapping[str, Any]) -> str:
    return phase(execution.get("status", {}).get("phase", 0))


def agent_rules(token: str, *, chunk_delay: float = 0.0, answer_chunks: int = 4) -> list[Rule]:
    """The stand-in's script for the agent run ``job <token>``: a workspace tool call, an MCP call, an answer."""
    user = f"job {token}"
    note = ToolCall("write_file", {"path": f"{token}.txt", "content": f"note {token}"})
    search = ToolCall("search_docs", {"query": token})
    return [
        Rule(Match(user_contains=user, after_tool=False), ToolCalls((note,)), name=f"{token}:note"),
        Rule(Match(user_contains=user, after_tool="write_file"), ToolCalls((search,)), name=f"{token}:search"),
        Rule(
            Match(user_contains=user, after_tool="search_docs"),
            Reply(f"done {token} after the search", chunks=answer_chunks),
            chunk_delay=chunk_delay,
            name=f"{token}:answer",
        ),
    ]


def http_routes(*, delay: float = 0.0) -> list[Route]:
    """The HTTP fixture's answers to the workflow's POSTs (``delay``: a slow endpoint)."""
    return [Route("POST", path, {"ok": True}, delay=delay) for path in POSTS]


class Workload:
    """Creates jobs against one stack and remembers every operation; thread-safe."""

    def __init__(
        self,
        api: StackClient,
        cli: Cli,
        standin: StandinClient,
        *,
        prefix: str = "wl",
        create_bound: float = 90.0,
        chunk_delay: float = 0.0,
        agent_timeout: int = 0,
    ) -> None:
        self.api = api
        self.cli = cli
        self.standin = standin
        self.prefix = f"{prefix}{secrets.token_hex(2)}"
        self.create_bound = create_bound
        self.chunk_delay = chunk_delay
        # an agent run's configured timeout (seconds; 0: the agent's default), for direct agent runs
        self.agent_timeout = agent_timeout
        self.operations: list[Operation] = []
        # execution ID -> what Cancel answered ("accepted", or the error: e.g. it had already ended)
        self.cancels: dict[str, str] = {}
        # execution ID -> when (UTC, ISO 8601) an accepted Cancel returned
        self.cancelled_at: dict[str, str] = {}
        self._lock = threading.Lock()
        self._count = 0

    def _token(self) -> str:
        with self._lock:
            self._count += 1
            return f"{self.prefix}-{self._count:04d}"  # fixed width: no token is a prefix of another

    def _record(self, op: Operation) -> Operation:
        with self._lock:
            self.operations.append(op)
        return op

    def start(self, count: int = 20, *, agents_every: int = 2, cli_every: int = 5, workers: int = 8) -> list[Operation]:
        """Create ``count`` jobs at once (every ``agents_every``-th an agent run, the rest workflows;
        every ``cli_every``-th through ``stigmer run --no-follow``); returns their operations."""
        plans = [
            ("agent" if i % agents_every == 0 else "workflow", "cli" if i % cli_every == cli_every - 1 else "grpc")
            for i in range(count)
        ]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda plan: self.create(*plan), plans))

    def create(self, kind: str, via: str = "grpc") -> Operation:
        """Script the model for a new job, create its execution and record the operation."""
        token = self._token()
        self.standin.add_rules(*agent_rules(token, chunk_delay=self.chunk_delay))
        op = self._record(Operation(kind, token, uuid.uuid4().hex, via))
        if via in ("cli", "follow"):
            self._create_by_cli(op, follow=via == "follow")
        else:
            self._create_by_grpc(op)
        return op

    def _create_by_grpc(self, op: Operation) -> None:
        if op.kind == "agent":
            request: Any = execution_pb2.CreateAgentExecutionRequest(
                agent_ref=AGENT,
                message=f"job {op.token}",
                request_id=op.request_id,
                config=execution_pb2.ExecutionConfig(timeout_seconds=self.agent_timeout),
            )
            call: Callable[..., Any] = self.api.agent_executions.Create
        else:
            request = execution_pb2.CreateWorkflowExecutionRequest(
                workflow_ref=WORKFLOW, input_json=f'{{"token": "{op.token}"}}', request_id=op.request_id
            )
            call = self.api.workflow_executions.Create
        deadline = time.monotonic() + self.create_bound
        last = ""
        # a client retries a create with the same request ID until its own bound: at most one execution
        while time.monotonic() < deadline:
            try:
                created = call(request, timeout=min(10.0, max(deadline - time.monotonic(), 0.1)))
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE:
                    op.rejected = f"{exc.code().name}: {exc.details()}"
                    return
                last = f"{exc.code().name}: {exc.details()}"
                time.sleep(0.5)  # the client's retry backoff, not a wait for a condition
                continue
            op.execution_id, op.acked_at = created.metadata.id, time.monotonic()
            return
        op.indeterminate = f"no answer within {self.create_bound:g}s (last: {last})"

    def _create_by_cli(self, op: Operation, *, follow: bool) -> None:
        args = ["-m", f"job {op.token}"] if op.kind == "agent" else ["--input", f'{{"token": "{op.token}"}}']
        ref = AGENT if op.kind == "agent" else WORKFLOW
        mode = ["--timeout", f"{self.create_bound:g}"] if follow else ["--no-follow"]
        try:
            result = self.cli("run", ref, *args, *mode, timeout=self.create_bound + 30)
        except CliTimeoutError as exc:
            op.indeterminate = f"`stigmer run` did not return: {exc}"
            return
        op.exit_code, op.output = result.exit_code, result.output
        try:
            op.execution_id, op.acked_at = printed_execution_id(result.stdout), time.monotonic()
        except (AssertionError, ValueError):
            # no ID printed: exit 3 when the server was unreachable; the CLI does not retry, nothing was created
            op.rejected = f"`stigmer run` exited {result.exit_code}: {result.stderr.strip()[-300:]}"

    def cancel(self, execution_id: str) -> str:
        """Cancel an execution, retrying while the server is unreachable (within the create bound);
        records and returns the outcome."""
        call = (self.api.agent_executions if execution_id.startswith("aex-") else self.api.workflow_executions).Cancel
        deadline = time.monotonic() + self.create_bound
        outcome = f"no answer within {self.create_bound:g}s"
        while time.monotonic() < deadline:
            try:
                call(ref(execution_id), timeout=10)
            except grpc.RpcError as exc:
                outcome = f"{exc.code().name}: {exc.details()}"
                if exc.code() in RETRYABLE:
                    time.sleep(0.5)  # the client's retry backoff
                    continue
                break
            outcome = "accepted"
            with self._lock:
                self.cancelled_at[execution_id] = datetime.now(UTC).isoformat()
            break
        with self._lock:
            self.cancels[execution_id] = outcome
        return outcome

    @property
    def acknowledged(self) -> list[Operation]:
        return [op for op in self.operations if op.acknowledged]

    def wait_terminal(self, timeout: float) -> float | None:
        """Wait until every acknowledged execution and its children are terminal; the seconds it took,
        or None when some still were not at ``timeout`` (they count as stuck). Server outages are waited out."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                pending = self.unfinished(self.read_executions())
            except grpc.RpcError:
                pending = ["(server unreachable)"]
            if not pending:
                return time.monotonic() - started
            time.sleep(0.25)  # polling interval
        return None

    def unfinished(self, executions: Mapping[str, dict[str, Any]]) -> list[str]:
        """Acknowledged executions (and children) that are missing or not terminal."""
        observation = Observation(executions, ())
        pending = []
        for op in self.acknowledged:
            assert op.execution_id is not None
            tree = observation.tree(op.execution_id)
            if not tree:
                pending.append(op.execution_id)
            pending += [e["metadata"]["id"] for e in tree if execution_phase(e) not in TERMINAL]
        return pending

    def read_executions(self) -> dict[str, dict[str, Any]]:
        """Every stored execution (agent and workflow) as a JSON document, by ID."""
        found = {item.metadata.id: to_dict(item) for item in self.api.list_agent_executions()}
        found.update({item.metadata.id: to_dict(item) for item in self.api.list_workflow_executions()})
        return found

    def observe(self) -> Observation:
        """The final state: executions, and the model's chats of this workload's jobs."""
        chats = self.standin.chats(user_contains=self.prefix)
        return Observation(self.read_executions(), chats)
