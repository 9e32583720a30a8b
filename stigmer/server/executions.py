"""Agent and workflow executions: creation, status updates, listing and following.

Both kinds share everything but creation; an ``ExecutionKind`` says which one a call is about.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api import ids, json_values, validation
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.server import clock, pagination
from stigmer.server.errors import Conflict, Invalid, NotFound
from stigmer.server.events import ExecutionFeed
from stigmer.server.resources import find_agent, find_workflow
from stigmer.server.store import AGENT_KIND, WORKFLOW_KIND, Execution, ExecutionRecord, Store, Transaction

WAITING_FOR_ENGINE = "Waiting for the execution engine: no Temporal connection is configured for this stack yet."

HUMAN_MESSAGE_ID = "human"

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
COMPLETED = pb.EXECUTION_PHASE_COMPLETED
FAILED = pb.EXECUTION_PHASE_FAILED
CANCELLED = pb.EXECUTION_PHASE_CANCELLED
SKIPPED = pb.EXECUTION_PHASE_SKIPPED
TERMINAL_PHASES = frozenset({COMPLETED, FAILED, CANCELLED})
TASK_TERMINAL_PHASES = TERMINAL_PHASES | {SKIPPED}
# A phase may only move to a phase of a higher rank.
_PHASE_RANK = {PENDING: 1, IN_PROGRESS: 2, COMPLETED: 3, FAILED: 3, CANCELLED: 3}
_TASK_PHASE_RANK = {**_PHASE_RANK, SKIPPED: 3}

FOLLOW_POLL_SECONDS = 0.25

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionKind:
    """What differs between agent and workflow executions, apart from their creation."""

    name: str
    target_prefix: str
    find_target: Callable[[Transaction, str], Any]
    list_response: type[pb.ListAgentExecutionsResponse] | type[pb.ListWorkflowExecutionsResponse]


AGENT = ExecutionKind(AGENT_KIND, ids.AGENT, find_agent, pb.ListAgentExecutionsResponse)
WORKFLOW = ExecutionKind(WORKFLOW_KIND, ids.WORKFLOW, find_workflow, pb.ListWorkflowExecutionsResponse)


def phase_name(phase: int) -> str:
    """``COMPLETED`` for ``EXECUTION_PHASE_COMPLETED``."""
    try:
        return pb.ExecutionPhase.Name(phase).removeprefix("EXECUTION_PHASE_")
    except ValueError:
        return str(phase)


def is_terminal(phase: int) -> bool:
    return phase in TERMINAL_PHASES


# --- creation -----------------------------------------------------------------------------


def create_agent_execution(store: Store, request: pb.CreateAgentExecutionRequest) -> pb.AgentExecution:
    """Store a new PENDING execution of the agent ``request.agent_ref`` (ID or slug)."""
    _check_request(request.runtime_env, request.config if request.HasField("config") else None)
    with store.transaction() as tx:
        agent = find_agent(tx, request.agent_ref)
        parent = request.parent_execution_id
        if parent and tx.execution(parent) is None:
            raise NotFound("execution", parent)
        execution = pb.AgentExecution()
        spec = execution.spec
        spec.agent_id = agent.metadata.id
        spec.agent_name = agent.metadata.name
        spec.message = request.message
        spec.parent_execution_id = parent
        for key, value in request.runtime_env.items():
            spec.runtime_env[key].CopyFrom(value)
        if request.HasField("config"):
            spec.config.CopyFrom(request.config)
        _initialize(execution, ids.AGENT_EXECUTION, request.message)
        tx.insert_execution(AGENT.name, execution)
    log.info("created agent execution %s of %s", execution.metadata.id, spec.agent_name)
    return execution


def create_workflow_execution(store: Store, request: pb.CreateWorkflowExecutionRequest) -> pb.WorkflowExecution:
    """Store a new PENDING execution of the workflow ``request.workflow_ref`` (ID, name or namespace/name)."""
    _check_request(request.runtime_env, None)
    _check_input(request.input_json)
    with store.transaction() as tx:
        workflow = find_workflow(tx, request.workflow_ref)
        execution = pb.WorkflowExecution()
        spec = execution.spec
        spec.workflow_id = workflow.metadata.id
        spec.workflow_name = workflow.metadata.name
        spec.workflow_namespace = workflow.spec.namespace
        spec.message = request.message
        spec.input_json = request.input_json
        for key, value in request.runtime_env.items():
            spec.runtime_env[key].CopyFrom(value)
        _initialize(execution, ids.WORKFLOW_EXECUTION, request.message)
        tx.insert_execution(WORKFLOW.name, execution)
    log.info("created workflow execution %s of %s", execution.metadata.id, spec.workflow_name)
    return execution


def _check_request(runtime_env: Mapping[str, pb.RuntimeEnvValue], config: pb.ExecutionConfig | None) -> None:
    problems = [
        validation.Problem(f"runtime_env.{name}", f"{name!r} is not a valid environment variable name")
        for name in runtime_env
        if not validation.ENV_NAME_RE.match(name)
    ]
    if config is not None:
        if config.HasField("temperature") and not 0 <= config.temperature <= 2:
            problems.append(validation.Problem("config.temperature", f"{config.temperature} is not between 0 and 2"))
        if config.timeout_seconds < 0:
            problems.append(validation.Problem("config.timeout_seconds", "must not be negative"))
    if problems:
        raise Invalid.validation(str(validation.ValidationError(problems)))


def _check_input(input_json: str) -> None:
    try:
        json_values.loads_object(input_json)
    except json_values.JsonValueError as exc:
        raise Invalid.validation(str(validation.Problem("input", str(exc)))) from None


def _initialize(execution: Execution, id_prefix: str, message: str) -> None:
    now = clock.now()
    meta = execution.metadata
    meta.id = ids.new_id(id_prefix)
    meta.generation = 1
    meta.created_at.CopyFrom(now)
    meta.updated_at.CopyFrom(now)
    status = execution.status
    status.phase = PENDING
    if message:
        status.messages.add(id=HUMAN_MESSAGE_ID, type=pb.MESSAGE_TYPE_HUMAN, content=message, timestamp=now)
    status.messages.add(id="system-waiting", type=pb.MESSAGE_TYPE_SYSTEM, content=WAITING_FOR_ENGINE, timestamp=now)


# --- reading --------------------------------------------------------------------------------


def _find(tx: Transaction, kind: ExecutionKind, ref: str) -> ExecutionRecord:
    ref = ref.strip()
    if not ref:
        raise Invalid("an execution ID is required")
    record = tx.execution(ref)
    if record is None or record.kind != kind.name:
        raise NotFound("execution", ref)
    return record


def get_execution(store: Store, kind: ExecutionKind, ref: str) -> Execution:
    """The execution with this ID; ``NotFound`` when there is none of this kind."""
    with store.transaction() as tx:
        return _find(tx, kind, ref).execution


def list_executions(
    store: Store, kind: ExecutionKind, request: pb.ListExecutionsRequest
) -> pb.ListAgentExecutionsResponse | pb.ListWorkflowExecutionsResponse:
    """One page of executions in creation order, optionally of one target and in one phase."""
    page = pagination.page(request.page_size, request.page_token)
    if request.phase and request.phase not in _PHASE_RANK:
        raise Invalid(f"unknown phase {request.phase}")
    with store.transaction() as tx:
        target_id = _target_id(tx, kind, request.target_ref.strip()) if request.target_ref.strip() else ""
        records = tx.list_executions(kind.name, page.after, page.size + 1, target_id=target_id, phase=request.phase)
    token = pagination.next_token([r.execution.metadata.id for r in records], page.size)
    executions = [r.execution for r in records[: page.size]]  # all of this kind: the store filters by kind
    return kind.list_response(executions=executions, next_page_token=token)  # type: ignore[arg-type]


def _target_id(tx: Transaction, kind: ExecutionKind, ref: str) -> str:
    if ids.kind_of(ref) == kind.target_prefix:
        return ref  # executions outlive their target: filter by a deleted target's ID too
    return str(kind.find_target(tx, ref).metadata.id)


def follow(
    store: Store,
    feed: ExecutionFeed,
    kind: ExecutionKind,
    ref: str,
    is_active: Callable[[], bool],
    poll_seconds: float = FOLLOW_POLL_SECONDS,
) -> Iterator[Execution]:
    """The execution's current state, then its state after every change; ends after a terminal phase.

    Ends early when ``is_active()`` turns false (checked at least every ``poll_seconds``). Raises
    ``NotFound`` if the execution is deleted meanwhile, ``Unavailable`` when the feed closes.
    """
    with feed.subscribe(ref.strip()) as subscription:
        with store.transaction() as tx:
            record = _find(tx, kind, ref)
        yield record.execution
        revision, phase = record.revision, record.execution.status.phase
        while not is_terminal(phase) and is_active():
            change = subscription.next(poll_seconds)
            if change is None or change.revision <= revision:
                continue
            if change.execution is None:
                raise NotFound("execution", ref)
            revision, phase = change.revision, change.execution.status.phase
            yield change.execution


# --- changes --------------------------------------------------------------------------------


def update_status(store: Store, feed: ExecutionFeed, kind: ExecutionKind, request: pb.UpdateStatusRequest) -> Execution:
    """Merge a runner's progress report into the stored status (see ``merge_status``)."""
    with store.transaction() as tx:
        record = _find(tx, kind, request.execution_id)
        execution = record.execution
        now = clock.now()
        phase = execution.status.phase
        if not merge_status(execution, request, now):
            return execution
        if execution.status.phase != phase:
            log.info("execution %s is %s", execution.metadata.id, phase_name(execution.status.phase))
        execution.metadata.updated_at.CopyFrom(now)
        revision = tx.update_execution_status(execution.metadata.id, execution.status, now)
        snapshot = type(execution)()
        snapshot.CopyFrom(execution)  # type: ignore[arg-type]  # the same message type: type(execution)()
        tx.after_commit(lambda: feed.publish(snapshot.metadata.id, revision, snapshot))
    return execution


def delete_execution(store: Store, feed: ExecutionFeed, kind: ExecutionKind, ref: str) -> Execution:
    """Delete an execution; its subscribers end with ``NotFound``."""
    with store.transaction() as tx:
        record = _find(tx, kind, ref)
        execution_id = record.execution.metadata.id
        tx.delete_execution(execution_id)
        tx.after_commit(lambda: feed.publish(execution_id, record.revision + 1, None))
    return record.execution


def merge_status(execution: Execution, update: pb.UpdateStatusRequest, now: Timestamp) -> bool:
    """Apply ``update`` to ``execution.status`` in place; return whether anything changed.

    Idempotent: messages and tool calls are upserted by ``id`` and tasks by ``path``, each reported
    field overwriting the stored one, so a retried or replayed update changes nothing. Empty fields
    leave the status unchanged; a message without a timestamp gets ``now``. The phase only moves
    forward (PENDING, IN_PROGRESS, then COMPLETED, FAILED or CANCELLED); ``started_at`` is set when
    the execution starts and ``completed_at`` when it ends. A terminal execution accepts an update
    that changes nothing (a no-op) and rejects any other (``Conflict``).
    """
    status = execution.status
    execution_id = execution.metadata.id
    _check_update(update)
    if is_terminal(status.phase):
        probe = pb.ExecutionStatus()
        probe.CopyFrom(status)
        if _merge(probe, update, now, execution_id):
            raise Conflict(
                f"execution {execution_id!r} is {phase_name(status.phase)} and accepts no further status updates"
            )
        return False
    return _merge(status, update, now, execution_id)


def _merge(status: pb.ExecutionStatus, update: pb.UpdateStatusRequest, now: Timestamp, execution_id: str) -> bool:
    before = status.SerializeToString(deterministic=True)
    if update.phase and update.phase != status.phase:
        if is_terminal(status.phase):
            return True  # a terminal execution cannot change phase: the caller reports the conflict
        if _PHASE_RANK[update.phase] < _PHASE_RANK.get(status.phase, 0):
            raise Conflict(
                f"execution {execution_id!r} cannot go from {phase_name(status.phase)} "
                f"back to {phase_name(update.phase)}"
            )
        _enter_phase(status, update.phase, now)
    for message in update.messages:
        _upsert_message(status, message, now)
    for call in update.tool_calls:
        _upsert_by_id(status.tool_calls, call)
    for task in update.tasks:
        _upsert_task(status, task, now)
    if update.output_json:
        status.output_json = update.output_json
    if update.error:
        status.error = update.error
    if update.HasField("error_info"):
        status.error_info.CopyFrom(update.error_info)
    return status.SerializeToString(deterministic=True) != before


def _upsert_message(status: pb.ExecutionStatus, update: pb.Message, now: Timestamp) -> None:
    stored = next((m for m in status.messages if m.id == update.id), None)
    if stored is None:
        stored = status.messages.add()
        stored.CopyFrom(update)
        if not stored.HasField("timestamp"):
            stored.timestamp.CopyFrom(now)
        return
    timestamp = Timestamp()
    timestamp.CopyFrom(stored.timestamp)
    stored.CopyFrom(update)
    if not update.HasField("timestamp"):
        stored.timestamp.CopyFrom(timestamp)


def _upsert_by_id(items: Any, update: Any) -> None:
    stored = next((item for item in items if item.id == update.id), None)
    if stored is None:
        items.add().CopyFrom(update)
    else:
        stored.MergeFrom(update)


def _check_update(update: pb.UpdateStatusRequest) -> None:
    problems: list[validation.Problem] = []
    if update.phase and update.phase not in _PHASE_RANK:
        problems.append(validation.Problem("phase", f"unknown phase {update.phase}"))
    for index, message in enumerate(update.messages):
        if message.type not in (
            pb.MESSAGE_TYPE_HUMAN,
            pb.MESSAGE_TYPE_AGENT,
            pb.MESSAGE_TYPE_TOOL,
            pb.MESSAGE_TYPE_SYSTEM,
        ):
            problems.append(validation.Problem(f"messages[{index}].type", "a message type is required"))
        if not message.id:
            problems.append(validation.Problem(f"messages[{index}].id", "a message ID is required"))
    for index, call in enumerate(update.tool_calls):
        if not call.id:
            problems.append(validation.Problem(f"tool_calls[{index}].id", "a tool call ID is required"))
        problems += _json_problems(f"tool_calls[{index}].arguments_json", call.arguments_json)
    for index, task in enumerate(update.tasks):
        if not task.path:
            problems.append(validation.Problem(f"tasks[{index}].path", "the task's path is required"))
        if task.phase and task.phase not in _TASK_PHASE_RANK:
            problems.append(validation.Problem(f"tasks[{index}].phase", f"unknown phase {task.phase}"))
        problems += _json_problems(f"tasks[{index}].output_json", task.output_json)
    problems += _json_problems("output_json", update.output_json)
    if problems:
        raise Invalid.validation(str(validation.ValidationError(problems)))


def _json_problems(field: str, text: str) -> list[validation.Problem]:
    try:
        json_values.loads(text)
    except json_values.JsonValueError as exc:
        return [validation.Problem(field, str(exc))]
    return []


def _enter_phase(status: pb.ExecutionStatus | pb.TaskStatus, phase: int, now: Timestamp) -> None:
    status.phase = phase  # type: ignore[assignment]
    started = phase == IN_PROGRESS or phase in (COMPLETED, FAILED)
    if started and not status.HasField("started_at"):
        status.started_at.CopyFrom(now)
    if phase in TASK_TERMINAL_PHASES and not status.HasField("completed_at"):
        status.completed_at.CopyFrom(now)


def _upsert_task(status: pb.ExecutionStatus, update: pb.TaskStatus, now: Timestamp) -> None:
    task = next((t for t in status.tasks if t.path == update.path), None)
    if task is None:
        task = status.tasks.add(path=update.path, name=update.name or update.path.rpartition("/")[2])
    for field in ("started_at", "completed_at"):
        if update.HasField(field):
            getattr(task, field).CopyFrom(getattr(update, field))
    for field in ("name", "kind", "output_json", "error"):
        if getattr(update, field):
            setattr(task, field, getattr(update, field))
    if update.phase and update.phase != task.phase:
        _enter_phase(task, update.phase, now)
