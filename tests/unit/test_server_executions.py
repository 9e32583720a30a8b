"""Executions: creation, the status merge rules, listing, and following changes."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import executions, resources
from stigmer.server.apply import apply
from stigmer.server.errors import Conflict, Invalid, NotFound, Unavailable
from stigmer.server.events import ExecutionFeed
from stigmer.server.executions import AGENT, WORKFLOW
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_workflow

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
COMPLETED = pb.EXECUTION_PHASE_COMPLETED
FAILED = pb.EXECUTION_PHASE_FAILED
CANCELLED = pb.EXECUTION_PHASE_CANCELLED


@pytest.fixture
def store(store: Store) -> Store:
    """The empty store from tests/unit/conftest.py, with agent `code-reviewer` and workflow `demo/fetch-data`."""
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")], workflows=[make_workflow(name="fetch-data")]))
    return store


@pytest.fixture
def feed() -> ExecutionFeed:
    return ExecutionFeed()


def create(store: Store, message: str = "Review PR 1", **fields: Any) -> pb.AgentExecution:
    return executions.create_agent_execution(
        store, pb.CreateAgentExecutionRequest(agent_ref="code-reviewer", message=message, **fields)
    )


def update(store: Store, feed: ExecutionFeed, execution_id: str, **fields: Any) -> Any:
    return executions.update_status(store, feed, AGENT, pb.UpdateStatusRequest(execution_id=execution_id, **fields))


def revision(store: Store, execution_id: str) -> int:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
    assert record is not None
    return record.revision


# --- creation ------------------------------------------------------------------------------


def test_a_new_agent_execution_is_pending_with_the_users_message_then_a_system_message(store: Store) -> None:
    execution = create(store, runtime_env={"TOKEN": pb.RuntimeEnvValue(value="s3cret", secret=True)})

    assert execution.metadata.id.startswith("aex-")
    assert execution.spec.agent_name == "code-reviewer"
    assert execution.spec.agent_id.startswith("agt-")
    assert execution.spec.runtime_env["TOKEN"].secret
    assert execution.status.phase == PENDING
    assert [(m.type, m.content) for m in execution.status.messages] == [
        (pb.MESSAGE_TYPE_HUMAN, "Review PR 1"),
        (pb.MESSAGE_TYPE_SYSTEM, executions.WAITING_FOR_ENGINE),
    ]
    assert executions.WAITING_FOR_ENGINE == (
        "Waiting for the execution engine: no Temporal connection is configured for this stack yet."
    )
    assert executions.get_execution(store, AGENT, execution.metadata.id) == execution


def test_without_a_message_only_the_system_message_is_stored(store: Store) -> None:
    execution = create(store, message="")
    assert [m.type for m in execution.status.messages] == [pb.MESSAGE_TYPE_SYSTEM]


def test_the_agent_can_be_named_by_id(store: Store) -> None:
    first = create(store)
    second = executions.create_agent_execution(store, pb.CreateAgentExecutionRequest(agent_ref=first.spec.agent_id))
    assert second.spec.agent_name == "code-reviewer"


def test_an_unknown_agent_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="agent 'ghost' not found"):
        executions.create_agent_execution(store, pb.CreateAgentExecutionRequest(agent_ref="ghost"))


def test_an_unknown_parent_execution_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="execution 'wex-missing' not found"):
        create(store, parent_execution_id="wex-missing")


def test_bad_runtime_env_and_config_are_invalid(store: Store) -> None:
    with pytest.raises(Invalid) as caught:
        create(
            store,
            runtime_env={"BAD-NAME": pb.RuntimeEnvValue(value="x")},
            config=pb.ExecutionConfig(temperature=5),
        )
    assert str(caught.value) == (
        "validation error: runtime_env.BAD-NAME: 'BAD-NAME' is not a valid environment variable name; "
        "config.temperature: 5.0 is not between 0 and 2"
    )


@pytest.mark.parametrize("ref", ["fetch-data", "demo/fetch-data"])
def test_a_workflow_execution_names_its_workflow(store: Store, ref: str) -> None:
    request = pb.CreateWorkflowExecutionRequest(
        workflow_ref=ref, message="go", input_json='{"city": "Paris", "n": 9007199254740993}'
    )
    execution = executions.create_workflow_execution(store, request)
    assert execution.metadata.id.startswith("wex-")
    assert execution.spec.workflow_name == "fetch-data"
    assert json.loads(execution.spec.input_json) == {"city": "Paris", "n": 9007199254740993}
    assert execution.status.phase == PENDING
    assert execution.status.messages[-1].content == executions.WAITING_FOR_ENGINE


def test_an_unknown_workflow_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="workflow 'demo/ghost' not found"):
        executions.create_workflow_execution(store, pb.CreateWorkflowExecutionRequest(workflow_ref="demo/ghost"))


def test_kinds_do_not_mix(store: Store) -> None:
    agent_execution = create(store)
    with pytest.raises(NotFound, match=f"execution '{agent_execution.metadata.id}' not found"):
        executions.get_execution(store, WORKFLOW, agent_execution.metadata.id)


# --- status updates ------------------------------------------------------------------------


def test_progress_reports_merge_into_the_status(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    assert revision(store, execution_id) == 1

    started = update(store, feed, execution_id, phase=IN_PROGRESS)
    assert started.status.phase == IN_PROGRESS
    assert started.status.HasField("started_at")
    assert not started.status.HasField("completed_at")
    assert revision(store, execution_id) == 2

    update(
        store,
        feed,
        execution_id,
        messages=[pb.Message(id="m1", type=pb.MESSAGE_TYPE_AGENT, content="Looking")],
        tool_calls=[pb.ToolCall(id="t1", name="get_pr", arguments_json='{"pr": 1}', result="diff")],
        tasks=[pb.TaskStatus(path="review", phase=IN_PROGRESS)],
    )
    output = '{"verdict": "ok", "score": 1}'
    done = update(
        store,
        feed,
        execution_id,
        phase=COMPLETED,
        messages=[pb.Message(id="m2", type=pb.MESSAGE_TYPE_AGENT, content="Looks good")],
        tasks=[pb.TaskStatus(path="review", phase=COMPLETED, output_json=output)],
        output_json=output,
    )

    status = done.status
    assert status.phase == COMPLETED
    assert status.completed_at.ToNanoseconds() >= status.started_at.ToNanoseconds()
    assert [m.content for m in status.messages][-2:] == ["Looking", "Looks good"]
    assert all(m.HasField("timestamp") for m in status.messages)
    assert [(c.name, c.result) for c in status.tool_calls] == [("get_pr", "diff")]
    (task,) = status.tasks
    assert (task.name, task.path, task.phase, json.loads(task.output_json)) == (
        "review",
        "review",
        COMPLETED,
        {"verdict": "ok", "score": 1},
    )
    assert task.HasField("started_at")
    assert task.HasField("completed_at")
    assert json.loads(status.output_json) == {"verdict": "ok", "score": 1}
    assert revision(store, execution_id) == 4
    assert executions.get_execution(store, AGENT, execution_id) == done


def test_an_update_that_changes_nothing_keeps_the_revision(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=IN_PROGRESS)
    update(store, feed, execution_id, phase=IN_PROGRESS)
    update(store, feed, execution_id)
    assert revision(store, execution_id) == 2


@pytest.mark.parametrize("terminal", [COMPLETED, FAILED, CANCELLED])
def test_a_terminal_execution_accepts_no_further_update(store: Store, feed: ExecutionFeed, terminal: int) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=IN_PROGRESS)
    update(store, feed, execution_id, phase=terminal, error="boom" if terminal == FAILED else "")

    with pytest.raises(Conflict, match="accepts no further status updates"):
        update(store, feed, execution_id, messages=[pb.Message(id="late", type=pb.MESSAGE_TYPE_AGENT, content="late")])
    assert executions.get_execution(store, AGENT, execution_id).status.phase == terminal
    assert revision(store, execution_id) == 3


def test_the_phase_never_moves_back(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=IN_PROGRESS)
    with pytest.raises(Conflict, match="cannot go from IN_PROGRESS back to PENDING"):
        update(store, feed, execution_id, phase=PENDING)


def test_a_pending_execution_can_be_cancelled_without_ever_starting(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    cancelled = update(store, feed, execution_id, phase=CANCELLED)
    assert cancelled.status.HasField("completed_at")
    assert not cancelled.status.HasField("started_at")


def test_malformed_updates_are_invalid(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    with pytest.raises(
        Invalid,
        match=r"messages\[0\]\.type: a message type is required; messages\[0\]\.id: a message ID is required; "
        r"tasks\[0\]\.path: the task's path is required",
    ):
        update(store, feed, execution_id, messages=[pb.Message(content="x")], tasks=[pb.TaskStatus()])
    with pytest.raises(NotFound, match="execution 'aex-nope' not found"):
        update(store, feed, "aex-nope", phase=IN_PROGRESS)


# --- listing and deletion ------------------------------------------------------------------


def test_list_filters_by_target_and_phase_and_pages(store: Store, feed: ExecutionFeed) -> None:
    apply(store, ApplyRequest(agents=[make_agent("other")]))
    ours = [create(store).metadata.id for _ in range(3)]
    theirs = executions.create_agent_execution(store, pb.CreateAgentExecutionRequest(agent_ref="other"))
    update(store, feed, ours[1], phase=IN_PROGRESS)

    def listed(**fields: Any) -> list[str]:
        return [
            e.metadata.id
            for e in executions.list_executions(store, AGENT, pb.ListExecutionsRequest(**fields)).executions
        ]

    assert listed(target_ref="code-reviewer") == ours
    assert listed(phase=IN_PROGRESS) == [ours[1]]
    assert len(listed()) == 4
    resources.delete_agent(store, "other")
    assert listed(target_ref=theirs.spec.agent_id) == [theirs.metadata.id]


def test_listing_an_unknown_target_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="agent 'ghost' not found"):
        executions.list_executions(store, AGENT, pb.ListExecutionsRequest(target_ref="ghost"))


def test_list_pages(store: Store) -> None:
    made = [create(store).metadata.id for _ in range(5)]
    first = executions.list_executions(store, AGENT, pb.ListExecutionsRequest(page_size=3))
    second = executions.list_executions(
        store, AGENT, pb.ListExecutionsRequest(page_size=3, page_token=first.next_page_token)
    )
    assert [e.metadata.id for e in [*first.executions, *second.executions]] == made
    assert second.next_page_token == ""


def test_delete_removes_the_execution(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    assert executions.delete_execution(store, feed, AGENT, execution_id).metadata.id == execution_id
    with pytest.raises(NotFound):
        executions.get_execution(store, AGENT, execution_id)


# --- following -----------------------------------------------------------------------------


class Follower:
    """Consumes ``executions.follow`` on a thread, so a test can act between the states it yields."""

    def __init__(self, store: Store, feed: ExecutionFeed, execution_id: str) -> None:
        self.states: queue.Queue[Any] = queue.Queue()
        self.active = True
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, feed, execution_id), daemon=True)
        self._thread.start()

    def _run(self, store: Store, feed: ExecutionFeed, execution_id: str) -> None:
        try:
            for execution in executions.follow(store, feed, AGENT, execution_id, lambda: self.active, 0.05):
                self.states.put(execution)
        except Exception as exc:
            self.states.put(exc)
        finally:
            self.finished.set()

    def next(self) -> Any:
        return self.states.get(timeout=10)

    def join(self) -> None:
        assert self.finished.wait(timeout=10), "follow() did not end"


def test_follow_sends_the_current_state_then_every_change_then_ends(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)

    assert follower.next().status.phase == PENDING
    update(store, feed, execution_id, phase=IN_PROGRESS)
    update(store, feed, execution_id, messages=[pb.Message(id="one", type=pb.MESSAGE_TYPE_AGENT, content="one")])
    update(store, feed, execution_id, messages=[pb.Message(id="two", type=pb.MESSAGE_TYPE_AGENT, content="two")])
    update(store, feed, execution_id, phase=COMPLETED)

    states = [follower.next() for _ in range(4)]
    assert [s.status.phase for s in states] == [IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, COMPLETED]
    assert [len(s.status.messages) for s in states] == [2, 3, 4, 4]
    follower.join()
    assert follower.states.empty()
    assert feed.subscriber_count(execution_id) == 0


def test_following_a_finished_execution_yields_it_once(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=FAILED, error="boom")
    assert [e.status.error for e in executions.follow(store, feed, AGENT, execution_id, lambda: True)] == ["boom"]


def test_follow_ends_when_the_client_goes_away(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    assert follower.next().status.phase == PENDING
    follower.active = False
    follower.join()
    assert feed.subscriber_count(execution_id) == 0


def test_follow_reports_a_deleted_execution(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    follower.next()
    executions.delete_execution(store, feed, AGENT, execution_id)
    assert isinstance(follower.next(), NotFound)


def test_follow_ends_with_unavailable_when_the_feed_closes(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    follower.next()
    feed.close()
    assert isinstance(follower.next(), Unavailable)


def test_following_an_unknown_execution_is_not_found(store: Store, feed: ExecutionFeed) -> None:
    with pytest.raises(NotFound, match="execution 'aex-ghost' not found"):
        next(executions.follow(store, feed, AGENT, "aex-ghost", lambda: True))
