"""The checker's adapters: each reads one part of the world into the checker's plain records.

Small on purpose, so the counting (``support.checker.count``) stays a pure function: the store through
the API (``read_executions``, ``read_resources``), Temporal's workflows (``read_temporal``), the HTTP
fixture's requests (``http_deliveries``; keyed by Idempotency-Key, or by what the body names with
``http_logical_by_body``), the MCP fixture's record (``mcp_deliveries``), the tool calls in the
executions' statuses (``tool_deliveries``) and the requests the model received (``model_turns``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from support.checker import Delivery, ExecutionState, ModelTurn, Resource, WorkflowRun

if TYPE_CHECKING:
    from support.client import StackClient
    from support.fixtures.http_api import RecordedRequest

PHASE_PREFIX = "EXECUTION_PHASE_"
_DESCRIBE_CONCURRENCY = 16
_PHASES = frozenset({"PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "SKIPPED"})
IDEMPOTENCY_HEADER = "Idempotency-Key"

HttpLogical = Callable[["RecordedRequest"], "tuple[str, str] | None"]
McpLogical = Callable[[Mapping[str, Any]], "tuple[str, str, str] | None"]


def phase_name(value: int) -> str:
    """``COMPLETED`` for ``EXECUTION_PHASE_COMPLETED``'s number."""
    from stigmer.api.v1 import execution_pb2

    return str(execution_pb2.ExecutionPhase.Name(value)).removeprefix(PHASE_PREFIX)


def execution_state(message: Any, kind: str) -> ExecutionState:
    """An ``AgentExecution`` / ``WorkflowExecution`` message as the checker sees it."""
    dispatch = message.status.dispatch
    return ExecutionState(
        id=message.metadata.id,
        kind=kind,
        phase=phase_name(message.status.phase),
        error=message.status.error,
        request_id=message.spec.request_id,
        parent_id=message.spec.parent_execution_id,
        dispatched=bool(dispatch.engine_workflow_id) or dispatch.HasField("dispatched_at"),
        cancel_requested=message.status.cancel_requested,
    )


def read_executions(client: StackClient) -> list[ExecutionState]:
    """Every stored execution, agent and workflow."""
    agents = [execution_state(m, "agent") for m in client.list_agent_executions()]
    return agents + [execution_state(m, "workflow") for m in client.list_workflow_executions()]


def tool_deliveries(client: StackClient) -> list[Delivery]:
    """Every tool call in the executions' statuses, one ``tool`` delivery each: its logical identity is
    ``<tool name> <arguments JSON>``, its key the call's ID."""
    found = []
    for message in [*client.list_agent_executions(), *client.list_workflow_executions()]:
        for call in message.status.tool_calls:
            logical = f"{call.name} {_canonical_json(call.arguments_json)}"
            found.append(Delivery("tool", message.metadata.id, logical, call.id))
    return found


def spec_digest(spec: Any) -> str:
    """A digest of a resource's spec message (its deterministic serialization), to tell specs apart."""
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()[:16]


def read_resources(client: StackClient) -> list[Resource]:
    """Every stored agent and workflow, by kind and name, with its generation and spec digest."""
    found = [("agent", m) for m in client.list_agents()] + [("workflow", m) for m in client.list_workflows()]
    return [Resource(kind, m.metadata.name, m.metadata.generation, spec_digest(m.spec)) for kind, m in found]


def wait_terminal(client: StackClient, execution_ids: Iterable[str], timeout: float, interval: float = 0.5) -> bool:
    """Poll the store until every given execution is terminal (or missing), at most ``timeout`` seconds;
    whether they all are. The checker then reports what is still not terminal as stuck."""
    from support.checker import TERMINAL_PHASES

    wanted = set(execution_ids)
    deadline = time.monotonic() + timeout
    while True:
        states = {e.id: e.phase for e in read_executions(client)}
        open_ = [i for i in wanted if i in states and states[i] not in TERMINAL_PHASES]
        children_open = [s for s in states.values() if s not in TERMINAL_PHASES]
        if not open_ and not children_open:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # polling the store's state, bounded by the deadline


def read_temporal(
    address: str, namespace: str = "default", workflow_ids: Iterable[str] = (), timeout: float = 30.0
) -> list[WorkflowRun]:
    """Every workflow run in Temporal's ``namespace``. The latest run of each listed workflow, and of each
    of ``workflow_ids`` (the store's executions), is described: authoritative where the visibility
    listing may lag behind; when it completed, its result says which phase it ended with."""
    return _run_async(_read_temporal(address, namespace, tuple(workflow_ids)), timeout)


async def _read_temporal(address: str, namespace: str, workflow_ids: tuple[str, ...]) -> list[WorkflowRun]:
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    client = await Client.connect(address, namespace=namespace)
    runs: dict[tuple[str, str], str] = {}
    async for listed in client.list_workflows():
        runs[(listed.id, listed.run_id)] = listed.status.name if listed.status is not None else "UNKNOWN"
    slots = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

    async def describe(workflow_id: str) -> tuple[str, str, str, str] | None:
        async with slots:
            try:
                described = await client.get_workflow_handle(workflow_id).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise
            status = described.status.name if described.status is not None else "UNKNOWN"
            result_phase = ""
            if status == "COMPLETED":
                handle = client.get_workflow_handle(workflow_id, run_id=described.run_id)
                try:
                    result_phase = result_phase_of(await handle.result(follow_runs=False))
                except Exception:  # a result this converter cannot read names no phase
                    result_phase = ""
        return workflow_id, described.run_id, status, result_phase

    wanted = sorted({workflow_id for workflow_id, _ in runs} | set(workflow_ids))
    phases: dict[tuple[str, str], str] = {}
    for found in await asyncio.gather(*(describe(workflow_id) for workflow_id in wanted)):
        if found is not None:
            runs[(found[0], found[1])] = found[2]
            phases[(found[0], found[1])] = found[3]
    return [
        WorkflowRun(workflow_id, run_id, status, phases.get((workflow_id, run_id), ""))
        for (workflow_id, run_id), status in sorted(runs.items())
    ]


def result_phase_of(result: Any) -> str:
    """The phase a completed workflow's result names: ``"FAILED"`` (agent runs) or ``{"phase": ...}``
    (workflow runs); ``""`` when it names none."""
    if isinstance(result, Mapping):
        result = result.get("phase")
    return result if isinstance(result, str) and result in _PHASES else ""


def _run_async(coro: Any, timeout: float) -> Any:
    """Run ``coro`` to completion on a fresh loop in a thread of its own (callers may be inside a loop)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(asyncio.wait_for(coro, timeout)))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name="checker temporal read", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if error:
        raise error[0]
    if not result:
        raise TimeoutError(f"reading Temporal took more than {timeout:g} s")
    return result[0]


def default_http_logical(request: RecordedRequest) -> tuple[str, str] | None:
    """``(execution ID, logical)`` of a request: from its ``Idempotency-Key`` ``<execution>/<task path>``
    (the logical identity is the task path, or the body's ``logical_id`` when it has one); None for a
    request without the header (a GET)."""
    key = request.header(IDEMPOTENCY_HEADER)
    if not key:
        return None
    execution_id, _, path = key.partition("/")
    body = request.body
    if isinstance(body, Mapping) and isinstance(body.get("logical_id"), str):
        return execution_id, str(body["logical_id"])
    return execution_id, path


def http_logical_by_body(owners: Mapping[str, str], *, field: str = "token", part: str = "n") -> HttpLogical:
    """An ``HttpLogical`` that tells whose POST it is from its body, not its key (so two keys for one
    logical POST are seen as such): the execution ``owners[body[field]]`` (an owner no one created for
    an unknown value), the logical identity ``<path>`` plus `` <body[part]>`` when the body has it."""

    def logical(request: RecordedRequest) -> tuple[str, str] | None:
        if request.method != "POST":
            return None
        body = request.body if isinstance(request.body, Mapping) else {}
        value = str(body.get(field, ""))
        owner = owners.get(value, f"(no execution for {field} {value!r})")
        extra = f" {body[part]}" if part in body else ""
        return owner, f"{request.path}{extra}"

    return logical


def http_deliveries(requests: Iterable[RecordedRequest], logical: HttpLogical = default_http_logical) -> list[Delivery]:
    """The HTTP fixture's requests as ``http`` deliveries, keyed by their Idempotency-Key."""
    found = []
    for request in requests:
        identity = logical(request)
        if identity is not None:
            key = request.header(IDEMPOTENCY_HEADER) or ""
            found.append(Delivery("http", identity[0], identity[1], key))
    return found


def default_mcp_logical(entry: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(execution ID, logical, key)`` of an MCP call: the execution from the arguments' ``execution_id``
    (or the call's ``idempotency_key`` ``<execution>/<call>``), the logical identity ``<tool> <arguments>``."""
    arguments = dict(entry.get("arguments") or {})
    key = str(entry.get("idempotency_key") or "")
    execution_id = str(arguments.pop("execution_id", "") or key.partition("/")[0])
    return execution_id, f"{entry.get('tool')} {json.dumps(arguments, sort_keys=True)}", key


def mcp_deliveries(entries: Iterable[Mapping[str, Any]], logical: McpLogical = default_mcp_logical) -> list[Delivery]:
    """The MCP fixture's recorded calls (``McpRecord.since(mark)``) as ``mcp`` deliveries."""
    found = []
    for entry in entries:
        if entry.get("event") != "call":
            continue
        identity = logical(entry)
        if identity is not None:
            found.append(Delivery("mcp", *identity))
    return found


def model_turns(chats: Iterable[Any]) -> list[ModelTurn]:
    """The LLM stand-in's recorded chats (``chats()``, in order) as model turns: the conversation is the
    last user message, a first turn one whose last message is the user's (no tool result yet)."""
    turns = []
    for chat in chats:
        messages = chat.messages
        first = bool(messages) and messages[-1].get("role") == "user"
        turns.append(ModelTurn(chat.last_user_message, first))
    return turns


def _canonical_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text or "{}"), sort_keys=True)
    except ValueError:
        return text
