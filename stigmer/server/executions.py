"""Agent and workflow executions: creation, status updates, listing and following.

Both kinds share everything but creation; an ``ExecutionKind`` says which one a call is about.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api import ids, json_values, validation
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.server import clock, pagination, secret_values
from stigmer.server.errors import AlreadyExists, Conflict, Invalid, NotFound
from stigmer.server.events import ExecutionFeed
from stigmer.server.resources import find_agent, find_workflow
from stigmer.server.store import AGENT_KIND, WORKFLOW_KIND, Execution, ExecutionRecord, Store, Transaction

# Why a new execution waits (status.dispatch.reason) until the dispatcher reports on it.
NOT_DISPATCHED = "no execution engine has picked it up yet"
MAX_EXECUTION_BYTES = validation.MAX_EXECUTION_BYTES
MAX_REQUEST_ID_LENGTH = 200

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

# A Subscribe stream is woken when its call ends; this poll is only a fallback.
FOLLOW_POLL_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionKind:
    """What differs between agent and workflow executions, apart from their creation."""

    name: str
    id_prefix: str
    target_prefix: str
    find_target: Callable[[Transaction, str], Any]
    list_response: type[pb.ListAgentExecutionsResponse] | type[pb.ListWorkflowExecutionsResponse]


AGENT = ExecutionKind(AGENT_KIND, ids.AGENT_EXECUTION, ids.AGENT, find_agent, pb.ListAgentExecutionsResponse)
WORKFLOW = ExecutionKind(
    WORKFLOW_KIND, ids.WORKFLOW_EXECUTION, ids.WORKFLOW, find_workflow, pb.ListWorkflowExecutionsResponse
)
KINDS = {kind.name: kind for kind in (AGENT, WORKFLOW)}


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
    """Store a new PENDING execution of the agent ``request.agent_ref`` (ID or slug).

    The execution pins the agent as it is now (spec and generation). A create retried with the same
    ``request_id`` returns the execution the first one stored.
    """
    _check_request(request.runtime_env, request.config if request.HasField("config") else None, request.request_id)
    _check_execution_timeout(request.execution_timeout_seconds)
    with store.transaction() as tx:
        agent = find_agent(tx, request.agent_ref)
        execution = pb.AgentExecution()
        spec = execution.spec
        spec.agent_id = agent.metadata.id
        spec.agent_name = agent.metadata.name
        spec.message = request.message
        spec.parent_execution_id = request.parent_execution_id
        spec.request_id = request.request_id
        spec.execution_timeout_seconds = request.execution_timeout_seconds
        if request.HasField("config"):
            spec.config.CopyFrom(request.config)
        existing = _created_before(tx, AGENT, execution)
        if existing is not None:
            return existing
        _check_parent(tx, spec.parent_execution_id)
        spec.agent_generation = agent.metadata.generation
        spec.agent.CopyFrom(agent.spec)
        missing = secret_values.copy_runtime_env(spec.runtime_env, request.runtime_env, agent.spec.env)
        _check_required(missing, f"agent {agent.metadata.name!r}")
        _insert(tx, AGENT, execution, request.message)
    log.info("created agent execution %s of %s", execution.metadata.id, spec.agent_name)
    return secret_values.redacted(execution)


def create_workflow_execution(store: Store, request: pb.CreateWorkflowExecutionRequest) -> pb.WorkflowExecution:
    """Store a new PENDING execution of the workflow ``request.workflow_ref`` (ID, name or namespace/name).

    Pinning and request IDs as for ``create_agent_execution``.
    """
    _check_request(request.runtime_env, None, request.request_id)
    _check_execution_timeout(request.execution_timeout_seconds)
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
        spec.parent_execution_id = request.parent_execution_id
        spec.request_id = request.request_id
        spec.execution_timeout_seconds = request.execution_timeout_seconds
        existing = _created_before(tx, WORKFLOW, execution)
        if existing is not None:
            return existing
        _check_parent(tx, spec.parent_execution_id)
        spec.workflow_generation = workflow.metadata.generation
        spec.workflow.CopyFrom(workflow.spec)
        missing = secret_values.copy_runtime_env(spec.runtime_env, request.runtime_env, workflow.spec.env)
        _check_required(missing, f"workflow {workflow.spec.namespace}/{workflow.metadata.name}")
        _insert(tx, WORKFLOW, execution, request.message)
    log.info("created workflow execution %s of %s", execution.metadata.id, spec.workflow_name)
    return secret_values.redacted(execution)


# What a retried create must repeat to be recognised as the same request.
_REQUEST_FIELDS = ("agent_id", "workflow_id", "message", "parent_execution_id", "input_json")


def _created_before(tx: Transaction, kind: ExecutionKind, execution: Execution) -> Any:
    """The execution stored by an earlier create with the same request ID, or None.

    ``AlreadyExists`` when that create asked for something else (another target, message, ...).
    """
    request_id = execution.spec.request_id
    if not request_id:
        return None
    record = tx.execution_by_request(kind.name, request_id)
    if record is None:
        return None
    stored = record.execution.spec
    differing = [
        name
        for name in _REQUEST_FIELDS
        if name in type(stored).DESCRIPTOR.fields_by_name and getattr(stored, name) != getattr(execution.spec, name)
    ]
    if differing:
        raise AlreadyExists(
            f"request ID {request_id!r} was already used by execution {record.execution.metadata.id} "
            f"with a different {', '.join(differing)}: use a new request ID for a new execution"
        )
    log.info("create with request ID %s: returning execution %s", request_id, record.execution.metadata.id)
    return secret_values.redacted(record.execution)


def _check_parent(tx: Transaction, parent: str) -> None:
    """``NotFound`` for an unknown parent; ``Conflict`` for a cancelled one (or one being cancelled):
    a child created after the cancel cascaded to the parent's children would run on unseen."""
    if not parent:
        return
    record = tx.execution(parent)
    if record is None:
        raise NotFound("execution", parent)
    status = record.execution.status
    if status.phase == CANCELLED or (status.cancel_requested and not is_terminal(status.phase)):
        raise Conflict(f"execution {parent} is cancelled: it starts no new child executions")


def _check_required(missing: list[str], owner: str) -> None:
    if missing:
        names = ", ".join(missing)
        raise Invalid.validation(
            str(validation.Problem("runtime_env", f"{owner} requires {names} (no default value); pass a value"))
        )


def _check_request(
    runtime_env: Mapping[str, pb.RuntimeEnvValue], config: pb.ExecutionConfig | None, request_id: str
) -> None:
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
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        problems.append(validation.Problem("request_id", f"at most {MAX_REQUEST_ID_LENGTH} characters"))
    if problems:
        raise Invalid.validation(str(validation.ValidationError(problems)))


def _check_execution_timeout(seconds: int) -> None:
    if seconds < 0:
        problem = validation.Problem("execution_timeout_seconds", "must not be negative (0: the server's default)")
        raise Invalid.validation(str(problem))


def _check_input(input_json: str) -> None:
    try:
        json_values.loads_object(input_json)
    except json_values.JsonValueError as exc:
        raise Invalid.validation(str(validation.Problem("input", str(exc)))) from None


def _insert(tx: Transaction, kind: ExecutionKind, execution: Execution, message: str) -> None:
    now = clock.now()
    meta = execution.metadata
    meta.id = ids.new_id(kind.id_prefix)
    meta.generation = 1
    meta.created_at.CopyFrom(now)
    meta.updated_at.CopyFrom(now)
    status = execution.status
    status.phase = PENDING
    if message:
        status.messages.add(id=HUMAN_MESSAGE_ID, type=pb.MESSAGE_TYPE_HUMAN, content=message, timestamp=now)
    status.dispatch.waiting = True
    status.dispatch.reason = NOT_DISPATCHED
    check_size(execution)
    tx.insert_execution(kind.name, execution)


def check_size(execution: Execution) -> None:
    """``Invalid`` naming the execution, its largest field and the limit when it is over ``MAX_EXECUTION_BYTES``."""
    size = execution.ByteSize()
    if size <= MAX_EXECUTION_BYTES:
        return
    field, field_size = max(_field_sizes(execution), key=lambda item: item[1])
    raise Invalid(
        f"execution {execution.metadata.id} would be {size} bytes, over the limit of {MAX_EXECUTION_BYTES} bytes "
        f"(its largest field, {field}, is {field_size} bytes)"
    )


def _field_sizes(execution: Execution) -> Iterator[tuple[str, int]]:
    for part in ("spec", "status"):
        message = getattr(execution, part)
        for field, _ in message.ListFields():
            probe = type(message)()
            probe.CopyFrom(message)
            for other, _ in message.ListFields():
                if other.name != field.name:
                    probe.ClearField(other.name)
            yield f"{part}.{field.name}", probe.ByteSize()


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
    """The execution with this ID (secret values redacted); ``NotFound`` when there is none of this kind."""
    with store.transaction() as tx:
        return secret_values.redacted(_find(tx, kind, ref).execution)


def list_executions(
    store: Store, kind: ExecutionKind, request: pb.ListExecutionsRequest
) -> pb.ListAgentExecutionsResponse | pb.ListWorkflowExecutionsResponse:
    """One page of executions in creation order, optionally of one target and in one phase.

    The page ends before it would exceed ``pagination.PAGE_BYTES``; ``remaining`` counts what follows.
    """
    page = pagination.page(request.page_size, request.page_token)
    if request.phase and request.phase not in _PHASE_RANK:
        raise Invalid(f"unknown phase {request.phase}")
    with store.transaction() as tx:
        target_id = _target_id(tx, kind, request.target_ref.strip()) if request.target_ref.strip() else ""
        records = tx.list_executions(kind.name, page.after, page.size + 1, target_id=target_id, phase=request.phase)
        items = [secret_values.redacted(r.execution) for r in records]
        count = pagination.fit(items, page.size)
        last = items[count - 1].metadata.id if count else page.after
        remaining = tx.count_executions(kind.name, last, target_id=target_id, phase=request.phase)
    token = pagination.next_token([e.metadata.id for e in items], count)
    return kind.list_response(executions=items[:count], next_page_token=token, remaining=remaining)  # type: ignore[arg-type]


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
    on_end: Callable[[Callable[[], None]], object] | None = None,
) -> Iterator[Execution]:
    """The execution's current state, then its state after every change; ends after a terminal phase.

    Secret values are redacted. Ends early when ``is_active()`` turns false: checked whenever the
    callback given to ``on_end`` (e.g. ``context.add_callback`` of the RPC) is called, and at least
    every ``poll_seconds``. Raises ``NotFound`` if the execution is deleted meanwhile,
    ``Unavailable`` when the feed closes.
    """
    with feed.subscribe(ref.strip()) as subscription:
        if on_end is not None:
            on_end(subscription.interrupt)
        with store.transaction() as tx:
            record = _find(tx, kind, ref)
        yield secret_values.redacted(record.execution)
        revision, phase = record.revision, record.execution.status.phase
        while not is_terminal(phase) and is_active():
            change = subscription.next(poll_seconds)
            if change is None or change.revision <= revision:
                continue
            if change.execution is None:
                raise NotFound("execution", ref)
            revision, phase = change.revision, change.execution.status.phase
            yield change.execution  # published redacted


# --- changes --------------------------------------------------------------------------------


def update_status(store: Store, feed: ExecutionFeed, kind: ExecutionKind, request: pb.UpdateStatusRequest) -> Execution:
    """Merge a runner's progress report into the stored status (see ``merge_status``).

    ``Invalid`` when the execution would grow past ``MAX_EXECUTION_BYTES``.
    """
    with store.transaction() as tx:
        record = _find(tx, kind, request.execution_id)
        execution = record.execution
        now = clock.now()
        phase = execution.status.phase
        if not merge_status(execution, request, now):
            return secret_values.redacted(execution)
        if execution.status.phase != phase:
            log.info("execution %s is %s", execution.metadata.id, phase_name(execution.status.phase))
        return _save_status(tx, feed, execution, now)


def _save_status(tx: Transaction, feed: ExecutionFeed, execution: Execution, now: Timestamp) -> Execution:
    """Store the changed status as a new revision, publish it once committed; return it redacted."""
    check_size(execution)
    execution.metadata.updated_at.CopyFrom(now)
    revision = tx.update_execution_status(execution.metadata.id, execution.status, now)
    snapshot = secret_values.redacted(execution)
    if snapshot is execution:
        snapshot = type(execution)()
        snapshot.CopyFrom(execution)  # type: ignore[arg-type]  # the same message type: type(execution)()
    tx.after_commit(lambda: feed.publish(snapshot.metadata.id, revision, snapshot))
    return snapshot


def delete_execution(
    store: Store, feed: ExecutionFeed, kind: ExecutionKind, ref: str, hooks: CancelHooks | None = None
) -> Execution:
    """Delete an execution; its subscribers end with ``NotFound``.

    A running execution is cancelled first (its children too) and its workflow, and its running
    children's, stopped in the engine (``CancelHooks.stop``: cancelled, terminated when it does not act
    on the cancel in time) before the execution is deleted, so nothing it started runs on unseen.
    ``Unavailable`` (and nothing deleted) when the engine cannot confirm that.
    """
    with store.transaction() as tx:
        record = _find(tx, kind, ref)
    if not is_terminal(record.execution.status.phase):
        execution_id = record.execution.metadata.id
        with store.transaction() as tx:
            family = [record, *_descendants(tx, execution_id)]
        # Only what the engine may run needs stopping: a PENDING execution it never accepted is
        # cancelled at once and never will be (so it can be deleted while Temporal is away).
        running = [r.execution.metadata.id for r in family if _engine_may_run(r.execution.status)]
        cancel_execution(store, feed, kind, execution_id, hooks)
        if hooks is not None and running:
            hooks.stop(running)
            log.info("execution %s stopped in the engine before its deletion", execution_id)
    with store.transaction() as tx:
        record = _find(tx, kind, ref)
        execution_id = record.execution.metadata.id
        tx.delete_execution(execution_id)
        tx.after_commit(lambda: feed.publish(execution_id, record.revision + 1, None))
    return secret_values.redacted(record.execution)


# --- cancellation ---------------------------------------------------------------------------


CancelHook = Callable[[str, str], None]
# Stops the workflows of these execution IDs in the engine and returns once they are closed.
StopHook = Callable[[list[str]], None]


class CancelHooks:
    """Who carries a cancellation to the execution engine: hooks called with (kind, execution ID).

    ``cancel_execution`` calls every registered hook, after its change has committed, for an execution
    the engine may be running (IN_PROGRESS, or PENDING but already dispatched). A hook that raises is
    logged; the cancellation stays recorded (``status.cancel_requested``, see ``cancel_requested``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[CancelHook] = []
        self._stoppers: list[StopHook] = []

    def register(self, hook: CancelHook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def register_stopper(self, stopper: StopHook) -> None:
        """``stopper(ids)`` stops those executions' workflows and returns once they are closed (or raises)."""
        with self._lock:
            self._stoppers.append(stopper)

    def stop(self, execution_ids: list[str]) -> None:
        """Stop these executions' workflows with every registered stopper; their errors propagate."""
        with self._lock:
            stoppers = list(self._stoppers)
        for stopper in stoppers:
            stopper(execution_ids)

    def notify(self, kind: str, execution_id: str) -> None:
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook(kind, execution_id)
            except Exception:
                log.exception("cancel hook %r failed for execution %s", hook, execution_id)


def cancel_execution(
    store: Store, feed: ExecutionFeed, kind: ExecutionKind, ref: str, hooks: CancelHooks | None = None
) -> Execution:
    """Cancel an execution: a PENDING one is CANCELLED at once, a running one gets ``cancel_requested``.

    Its non-terminal children (executions whose ``parent_execution_id`` is this one, and theirs) are
    cancelled too. ``Conflict`` ("already COMPLETED") for a COMPLETED or FAILED execution; cancelling a
    CANCELLED one, or asking again, is harmless.
    """
    return _cancel(store, feed, kind, ref, hooks, set())


def _cancel(
    store: Store, feed: ExecutionFeed, kind: ExecutionKind, ref: str, hooks: CancelHooks | None, seen: set[str]
) -> Execution:
    with store.transaction() as tx:
        record = _find(tx, kind, ref)
        execution = record.execution
        status = execution.status
        execution_id = execution.metadata.id
        seen.add(execution_id)
        children = [r for r in _children(tx, execution_id) if r.execution.metadata.id not in seen]
        if is_terminal(status.phase) and status.phase != CANCELLED:
            raise Conflict(f"execution {execution_id} is already {phase_name(status.phase)}")
        now = clock.now()
        engine_may_run_it = status.phase != CANCELLED and (status.phase != PENDING or _dispatched(status))
        if status.phase == CANCELLED:
            result = secret_values.redacted(execution)
        elif status.phase == PENDING:
            _enter_phase(status, CANCELLED, now)
            status.dispatch.waiting = False
            status.dispatch.reason = ""
            log.info("execution %s cancelled before it started", execution_id)
            result = _save_status(tx, feed, execution, now)
        elif not status.cancel_requested:
            status.cancel_requested = True
            log.info("execution %s: cancellation requested", execution_id)
            result = _save_status(tx, feed, execution, now)
        else:
            result = secret_values.redacted(execution)
    if engine_may_run_it and hooks is not None:
        hooks.notify(kind.name, execution_id)
    for child in children:
        child_id = child.execution.metadata.id
        log.info("execution %s: cancelling its child %s", execution_id, child_id)
        with contextlib.suppress(NotFound, Conflict):  # ended or deleted meanwhile
            _cancel(store, feed, KINDS[child.kind], child_id, hooks, seen)
    return result


def cancel_children(store: Store, feed: ExecutionFeed, parent_id: str, hooks: CancelHooks | None = None) -> list[str]:
    """Cancel the non-terminal children of an execution that ended without cancelling them (its workflow
    was terminated or timed out in the engine): nothing would receive their results. Returns their IDs."""
    with store.transaction() as tx:
        children = _children(tx, parent_id)
    for child in children:
        child_id = child.execution.metadata.id
        log.info("execution %s ended: cancelling its child %s", parent_id, child_id)
        with contextlib.suppress(NotFound, Conflict):
            _cancel(store, feed, KINDS[child.kind], child_id, hooks, {parent_id})
    return [child.execution.metadata.id for child in children]


def _children(tx: Transaction, parent_id: str) -> list[ExecutionRecord]:
    """The non-terminal executions ``parent_id`` started (``spec.parent_execution_id``)."""
    running = tx.executions_in_phases(PENDING, IN_PROGRESS)
    return [r for r in running if r.execution.spec.parent_execution_id == parent_id]


def _descendants(tx: Transaction, parent_id: str) -> list[ExecutionRecord]:
    """The non-terminal children of ``parent_id``, theirs, and so on."""
    found: list[ExecutionRecord] = []
    queue, seen = [parent_id], {parent_id}
    while queue:
        for child in _children(tx, queue.pop()):
            child_id = child.execution.metadata.id
            if child_id not in seen:
                seen.add(child_id)
                found.append(child)
                queue.append(child_id)
    return found


def cancel_requested(store: Store) -> list[ExecutionRecord]:
    """IN_PROGRESS executions whose cancellation was requested (for the dispatcher, e.g. after a restart)."""
    with store.transaction() as tx:
        records = tx.executions_in_phase(IN_PROGRESS)
    return [_redacted_record(r) for r in records if r.execution.status.cancel_requested]


# --- dispatch -------------------------------------------------------------------------------


def _dispatched(status: pb.ExecutionStatus) -> bool:
    return status.HasField("dispatch") and status.dispatch.HasField("dispatched_at")


def _engine_may_run(status: pb.ExecutionStatus) -> bool:
    return status.phase == IN_PROGRESS or (status.phase == PENDING and _dispatched(status))


def _redacted_record(record: ExecutionRecord) -> ExecutionRecord:
    return ExecutionRecord(record.kind, secret_values.redacted(record.execution), record.revision)


def pending_dispatch(store: Store) -> list[ExecutionRecord]:
    """PENDING executions the engine has not accepted yet (``status.dispatch.waiting``), oldest first.

    Executions stored before dispatch state existed (no ``dispatch``) count as waiting.
    """
    with store.transaction() as tx:
        records = tx.executions_in_phase(PENDING)
    return [
        _redacted_record(r)
        for r in records
        if not r.execution.status.HasField("dispatch") or r.execution.status.dispatch.waiting
    ]


def engine_may_run(store: Store) -> list[ExecutionRecord]:
    """Executions the engine may be running: IN_PROGRESS, and PENDING ones it accepted; oldest first."""
    with store.transaction() as tx:
        records = tx.executions_in_phases(PENDING, IN_PROGRESS)
    return [_redacted_record(r) for r in records if _engine_may_run(r.execution.status)]


def end_execution(
    store: Store, feed: ExecutionFeed, execution_id: str, phase: int, error: str = "", output_json: str = ""
) -> Execution | None:
    """End a non-terminal execution in ``phase`` (with ``error`` / ``output_json`` when given), as the
    engine's view of it requires (reconciliation); publishes the change.

    Returns the changed execution; None (and nothing changed) when it is gone or already terminal.
    """
    with store.transaction() as tx:
        record = tx.execution(execution_id)
        if record is None or is_terminal(record.execution.status.phase):
            return None
        execution = record.execution
        status = execution.status
        now = clock.now()
        _enter_phase(status, phase, now)
        status.dispatch.waiting = False
        status.dispatch.reason = ""
        if error:
            status.error = error
        if output_json:
            status.output_json = output_json
        log.info("execution %s is %s: %s", execution_id, phase_name(phase), error or "as its workflow returned")
        return _save_status(tx, feed, execution, now)


def forget_dispatch(store: Store, feed: ExecutionFeed, execution_id: str, reason: str) -> Execution | None:
    """Mark a PENDING execution as not dispatched (its workflow does not exist), so it is dispatched again.

    Returns the changed execution; None when it is gone or no longer PENDING.
    """
    with store.transaction() as tx:
        record = tx.execution(execution_id)
        if record is None or record.execution.status.phase != PENDING:
            return None
        execution = record.execution
        dispatch = execution.status.dispatch
        dispatch.ClearField("dispatched_at")
        dispatch.waiting = True
        dispatch.reason = reason
        dispatch.engine_workflow_id = ""
        return _save_status(tx, feed, execution, clock.now())


def mark_dispatched(
    store: Store, feed: ExecutionFeed, execution_id: str, task_queue: str, now: Timestamp | None = None
) -> Execution:
    """Record that the engine accepted the execution (workflow ID = execution ID) on ``task_queue``.

    Publishes the change to subscribers. Idempotent; a no-op for a terminal execution (check the
    returned phase: a CANCELLED one was cancelled meanwhile, so cancel it in the engine too).
    """
    now = now or clock.now()

    def change(status: pb.ExecutionStatus) -> None:
        dispatch = status.dispatch
        dispatch.waiting = False
        dispatch.reason = ""
        dispatch.engine_workflow_id = execution_id
        dispatch.task_queue = task_queue
        if not dispatch.HasField("dispatched_at"):
            dispatch.dispatched_at.CopyFrom(now)

    return _change_dispatch(store, feed, execution_id, now, change, lambda status: not is_terminal(status.phase))


def mark_waiting(
    store: Store, feed: ExecutionFeed, execution_id: str, reason: str, attempts: int, now: Timestamp | None = None
) -> Execution:
    """Record why a PENDING execution still waits for the engine, after ``attempts`` dispatch attempts.

    Publishes the change to subscribers. A no-op once the execution was dispatched or has left PENDING.
    """

    def change(status: pb.ExecutionStatus) -> None:
        status.dispatch.waiting = True
        status.dispatch.reason = reason
        status.dispatch.attempts = attempts

    return _change_dispatch(
        store,
        feed,
        execution_id,
        now or clock.now(),
        change,
        lambda status: status.phase == PENDING and not _dispatched(status),
    )


def _change_dispatch(
    store: Store,
    feed: ExecutionFeed,
    execution_id: str,
    now: Timestamp,
    change: Callable[[pb.ExecutionStatus], None],
    applies: Callable[[pb.ExecutionStatus], bool],
) -> Execution:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
        if record is None:
            raise NotFound("execution", execution_id)
        execution = record.execution
        status = execution.status
        before = status.SerializeToString(deterministic=True)
        if applies(status):
            change(status)
        if status.SerializeToString(deterministic=True) == before:
            return secret_values.redacted(execution)
        return _save_status(tx, feed, execution, now)


# --- the runtime environment ------------------------------------------------------------------


def runtime_env(store: Store, ref: str) -> pb.RuntimeEnv:
    """The environment of an execution of either kind in clear (for runners only): declared defaults
    of what it runs, overridden by its runtime values; ``secret_names`` lists the secret ones."""
    ref = ref.strip()
    if not ref:
        raise Invalid("an execution ID is required")
    with store.transaction() as tx:
        record = tx.execution(ref)
        if record is None:
            raise NotFound("execution", ref)
        execution = record.execution
        declared = secret_values.declared_env(execution)
        if not declared and not _pinned(execution):  # stored before executions pinned their target
            with contextlib.suppress(NotFound):
                declared = list(KINDS[record.kind].find_target(tx, _target_of(execution)).spec.env)
    return secret_values.runtime_env(execution, declared)


def _pinned(execution: Execution) -> bool:
    return execution.spec.HasField("agent" if isinstance(execution, pb.AgentExecution) else "workflow")


def _target_of(execution: Execution) -> str:
    spec = execution.spec
    return spec.agent_id if isinstance(spec, pb.AgentExecutionSpec) else spec.workflow_id


def merge_status(execution: Execution, update: pb.UpdateStatusRequest, now: Timestamp) -> bool:
    """Apply ``update`` to ``execution.status`` in place; return whether anything changed.

    Idempotent: messages and tool calls are upserted by ``id`` and tasks by ``path``, each reported
    field overwriting the stored one, so a retried or replayed update changes nothing. Empty fields
    leave the status unchanged; a message without a timestamp gets ``now``. The phase only moves
    forward (PENDING, IN_PROGRESS, then COMPLETED, FAILED or CANCELLED); ``started_at`` is set when
    the execution starts and ``completed_at`` when it ends. A terminal execution accepts an update
    that changes nothing (a no-op) and rejects any other (``Conflict``).

    Retried runners: an update of runner ``attempt`` N raises ``status.attempt`` to N; one of a lower
    attempt than stored is rejected (``Conflict``: that attempt was superseded). ``drop_message_ids``
    and ``drop_tool_call_ids`` remove what an earlier attempt left before the rest is applied. Task
    statuses never move backwards, see ``_upsert_task``.
    """
    status = execution.status
    execution_id = execution.metadata.id
    _check_update(update)
    if update.attempt and update.attempt < status.attempt:
        raise Conflict(
            f"execution {execution_id!r}: attempt {update.attempt} was superseded by attempt {status.attempt} "
            "and accepts no further status updates"
        )
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
    ended_how: int = 0  # the terminal phase reported, when the execution ends with this update
    if update.phase and update.phase != status.phase:
        if is_terminal(status.phase):
            return True  # a terminal execution cannot change phase: the caller reports the conflict
        if _PHASE_RANK[update.phase] < _PHASE_RANK.get(status.phase, 0):
            raise Conflict(
                f"execution {execution_id!r} cannot go from {phase_name(status.phase)} "
                f"back to {phase_name(update.phase)}"
            )
        ended_how = update.phase if is_terminal(update.phase) else 0
        if status.cancel_requested and update.phase in (COMPLETED, FAILED):
            # the cancel was acknowledged first: that is how it ends (the report raced with the cancel:
            # a last answer in flight, a child refused because the parent is being cancelled)
            _enter_phase(status, CANCELLED, now)
        else:
            _enter_phase(status, update.phase, now)
    if update.attempt > status.attempt:
        status.attempt = update.attempt
    _drop(status.messages, set(update.drop_message_ids))
    _drop(status.tool_calls, set(update.drop_tool_call_ids))
    for message in update.messages:
        _upsert_message(status, message, now)
    for call in update.tool_calls:
        _upsert_tool_call(status, call)
    if update.tasks:
        by_path = {task.path: task for task in status.tasks}  # one pass, not one search per task
        for task in update.tasks:
            _upsert_task(status, task, now, by_path)
    if update.output_json:
        status.output_json = update.output_json
    if update.error:
        status.error = update.error
    if update.HasField("error_info"):
        status.error_info.CopyFrom(update.error_info)
    if ended_how and ended_how != status.phase:
        how = "completed" if ended_how == COMPLETED else "failed"
        reason = f": {update.error}" if ended_how == FAILED and update.error else ""
        status.error = f"cancelled as requested (it {how} as the cancel took effect{reason})"
    return status.SerializeToString(deterministic=True) != before


def _drop(items: Any, ids: set[str]) -> None:
    """Remove the entries of a repeated field of messages or tool calls whose ``id`` is in ``ids``."""
    if not ids:
        return
    kept = [item for item in items if item.id not in ids]
    if len(kept) != len(items):
        del items[:]
        items.extend(kept)


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


def _upsert_tool_call(status: pb.ExecutionStatus, update: pb.ToolCall) -> None:
    """Upsert a tool call by ID; a finished one (COMPLETED, FAILED) never moves back to running (a late
    duplicate of its IN_PROGRESS report changes nothing: runners never run a finished call again)."""
    stored = next((call for call in status.tool_calls if call.id == update.id), None)
    if stored is not None and stored.phase in (COMPLETED, FAILED) and update.phase not in (COMPLETED, FAILED):
        return
    _upsert_by_id(status.tool_calls, update)


def _check_update(update: pb.UpdateStatusRequest) -> None:
    problems: list[validation.Problem] = []
    if update.phase and update.phase not in _PHASE_RANK:
        problems.append(validation.Problem("phase", f"unknown phase {update.phase}"))
    if update.attempt < 0:
        problems.append(validation.Problem("attempt", "an attempt number is 1 or more (0 for none)"))
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
        if task.run < 0:
            problems.append(validation.Problem(f"tasks[{index}].run", "a run number is 1 or more (0 for none)"))
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


def _upsert_task(
    status: pb.ExecutionStatus, update: pb.TaskStatus, now: Timestamp, by_path: dict[str, pb.TaskStatus]
) -> None:
    """Upsert a task status by path; task statuses never move backwards.

    ``run`` tells a late duplicate from a new run of the path: a report of a later run than the stored
    one starts the status afresh (the earlier run's error, output and times are cleared); a report of
    an earlier run is ignored; within the same run (or when either side does not say, ``run`` 0) the
    phase only moves forward: an IN_PROGRESS that arrives after COMPLETED leaves it COMPLETED, and a
    terminal phase stays as it is.
    """
    task = by_path.get(update.path)
    if task is None:
        task = status.tasks.add(path=update.path, name=update.name or update.path.rpartition("/")[2])
        by_path[update.path] = task
    elif update.run and task.run and update.run < task.run:
        return  # a late report of an earlier run
    elif update.run > task.run and task.run:
        for field in ("phase", "error", "output_json", "started_at", "completed_at"):
            task.ClearField(field)
    elif update.phase and update.phase != task.phase and not _moves_forward(task.phase, update.phase):
        return  # a late duplicate of an earlier report of this run
    if update.run > task.run:
        task.run = update.run
    for field in ("started_at", "completed_at"):
        if update.HasField(field):
            getattr(task, field).CopyFrom(getattr(update, field))
    for field in ("name", "kind", "output_json", "error"):
        if getattr(update, field):
            setattr(task, field, getattr(update, field))
    if update.phase and update.phase != task.phase:
        _enter_phase(task, update.phase, now)


def _moves_forward(stored: pb.ExecutionPhase, reported: pb.ExecutionPhase) -> bool:
    """Whether a task of phase ``stored`` may take phase ``reported`` within one run."""
    return _TASK_PHASE_RANK.get(reported, 0) > _TASK_PHASE_RANK.get(stored, 0)
