"""Executions: creation, the status merge rules, listing, and following changes."""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
from typing import Any

import pytest

from stigmer.api import validation
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import executions, limits, pagination, resources
from stigmer.server.apply import apply
from stigmer.server.errors import AlreadyExists, Conflict, Invalid, NotFound, Unavailable
from stigmer.server.events import ExecutionFeed
from stigmer.server.executions import AGENT, WORKFLOW
from stigmer.server.store import Store
from tests.unit.messages import make_agent, make_workflow

PENDING = pb.EXECUTION_PHASE_PENDING
IN_PROGRESS = pb.EXECUTION_PHASE_IN_PROGRESS
COMPLETED = pb.EXECUTION_PHASE_COMPLETED
FAILED = pb.EXECUTION_PHASE_FAILED
CANCELLED = pb.EXECUTION_PHASE_CANCELLED
SKIPPED = pb.EXECUTION_PHASE_SKIPPED


@pytest.fixture
def store(store: Store) -> Store:
    """The empty store from tests/unit/conftest.py, with agent `code-reviewer` and workflow `demo/fetch-data`."""
    apply(store, ApplyRequest(agents=[make_agent("code-reviewer")], workflows=[make_workflow(name="fetch-data")]))
    return store


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


def test_a_new_agent_execution_is_pending_with_the_users_message_and_waits_for_dispatch(store: Store) -> None:
    execution = create(store, runtime_env={"TOKEN": pb.RuntimeEnvValue(value="s3cret", secret=True)})

    assert execution.metadata.id.startswith("aex-")
    assert execution.spec.agent_name == "code-reviewer"
    assert execution.spec.agent_id.startswith("agt-")
    assert execution.spec.runtime_env["TOKEN"].secret
    assert execution.status.phase == PENDING
    assert [(m.type, m.content) for m in execution.status.messages] == [(pb.MESSAGE_TYPE_HUMAN, "Review PR 1")]
    assert execution.status.dispatch == pb.DispatchState(
        waiting=True, reason="no execution engine has picked it up yet"
    )
    assert executions.get_execution(store, AGENT, execution.metadata.id) == execution


def test_without_a_message_no_message_is_stored(store: Store) -> None:
    execution = create(store, message="")
    assert list(execution.status.messages) == []
    assert execution.status.dispatch.waiting


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
    assert execution.status.dispatch.waiting


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
    assert [len(s.status.messages) for s in states] == [1, 2, 3, 3]
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
    gone = revision(store, execution_id) + 1
    with store.transaction() as tx:  # a delete that races the follow (Delete itself cancels first)
        tx.delete_execution(execution_id)
        tx.after_commit(lambda: feed.publish(execution_id, gone, None))
    assert isinstance(follower.next(), NotFound)


def test_a_deleted_running_execution_is_cancelled_first_and_its_follower_sees_it(
    store: Store, feed: ExecutionFeed
) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    follower.next()
    executions.delete_execution(store, feed, AGENT, execution_id)
    assert follower.next().status.phase == CANCELLED
    follower.join()
    with pytest.raises(NotFound):
        executions.get_execution(store, AGENT, execution_id)


def test_follow_ends_with_unavailable_when_the_feed_closes(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    follower.next()
    feed.close()
    assert isinstance(follower.next(), Unavailable)


def test_following_an_unknown_execution_is_not_found(store: Store, feed: ExecutionFeed) -> None:
    with pytest.raises(NotFound, match="execution 'aex-ghost' not found"):
        next(executions.follow(store, feed, AGENT, "aex-ghost", lambda: True))


# --- status protocol: replays, terminal conflicts, task paths ------------------------------------


def test_a_replayed_update_keeps_the_revision_and_the_status(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    report = {
        "phase": IN_PROGRESS,
        "messages": [pb.Message(id="m1", type=pb.MESSAGE_TYPE_AGENT, content="Looking")],
        "tool_calls": [pb.ToolCall(id="t1", name="get_pr", phase=IN_PROGRESS)],
        "tasks": [pb.TaskStatus(path="review", phase=IN_PROGRESS)],
    }
    first = update(store, feed, execution_id, **report)
    after_first = revision(store, execution_id)
    replayed = update(store, feed, execution_id, **report)
    assert revision(store, execution_id) == after_first
    assert replayed == first
    assert (len(replayed.status.messages), len(replayed.status.tool_calls), len(replayed.status.tasks)) == (2, 1, 1)


def test_an_identical_terminal_update_is_a_no_op_and_a_different_one_is_rejected(
    store: Store, feed: ExecutionFeed
) -> None:
    execution_id = create(store).metadata.id
    final = {"phase": COMPLETED, "output_json": '{"ok": true}'}
    update(store, feed, execution_id, **final)
    done = revision(store, execution_id)
    update(store, feed, execution_id, **final)  # a retried report of the end
    assert revision(store, execution_id) == done

    with pytest.raises(Conflict, match=r"is COMPLETED and accepts no further status updates"):
        update(store, feed, execution_id, phase=COMPLETED, output_json='{"ok": false}')
    with pytest.raises(Conflict, match=r"is COMPLETED and accepts no further status updates"):
        update(store, feed, execution_id, phase=FAILED)
    stored = executions.get_execution(store, AGENT, execution_id)
    assert (stored.status.phase, json.loads(stored.status.output_json)) == (COMPLETED, {"ok": True})


def test_task_statuses_are_keyed_by_path(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="loop/0/post", phase=COMPLETED, output_json="0")])
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="loop/1/post", phase=IN_PROGRESS)])
    status = update(store, feed, execution_id, tasks=[pb.TaskStatus(path="loop/1/post", phase=FAILED, error="boom")])
    assert [(t.path, t.name, t.phase, t.error, t.output_json) for t in status.status.tasks] == [
        ("loop/0/post", "post", COMPLETED, "", "0"),
        ("loop/1/post", "post", FAILED, "boom", ""),
    ]


def test_a_skipped_task_is_finished_without_starting(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    status = update(store, feed, execution_id, tasks=[pb.TaskStatus(path="check/else", phase=SKIPPED)]).status
    (task,) = status.tasks
    assert task.phase == SKIPPED
    assert task.HasField("completed_at")
    assert not task.HasField("started_at")
    with pytest.raises(Invalid, match=r"phase: unknown phase 6"):
        update(store, feed, execution_id, phase=SKIPPED)  # an execution is never SKIPPED


def test_a_late_duplicate_never_moves_a_task_backwards(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    started = pb.TaskStatus(path="fetch", phase=IN_PROGRESS, run=1)
    update(store, feed, execution_id, tasks=[started])
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="fetch", phase=COMPLETED, output_json="1", run=1)])
    before = revision(store, execution_id)

    status = update(store, feed, execution_id, tasks=[started]).status  # the IN_PROGRESS report, delivered late
    (task,) = status.tasks
    assert (task.phase, task.output_json, task.run) == (COMPLETED, "1", 1)
    assert revision(store, execution_id) == before, "a late duplicate changed the stored status"
    # a reporter that does not number its runs gets the same protection
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="fetch", phase=IN_PROGRESS)])
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="fetch", phase=FAILED, error="late", run=1)])
    (task,) = executions.get_execution(store, AGENT, execution_id).status.tasks
    assert (task.phase, task.error) == (COMPLETED, "")


def test_a_path_that_runs_again_starts_afresh_and_its_old_run_stays_out(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="guard/charge", phase=IN_PROGRESS, run=1)])
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="guard/charge", phase=FAILED, error="503", run=1)])

    status = update(store, feed, execution_id, tasks=[pb.TaskStatus(path="guard/charge", phase=IN_PROGRESS, run=2)])
    (task,) = status.status.tasks
    assert (task.phase, task.error, task.run) == (IN_PROGRESS, "", 2), "the first run's error stayed"
    assert not task.HasField("completed_at")
    # the first run's FAILED, delivered again, does not touch the second run
    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="guard/charge", phase=FAILED, error="503", run=1)])
    done = pb.TaskStatus(path="guard/charge", phase=COMPLETED, output_json='{"paid": true}', run=2)
    (task,) = update(store, feed, execution_id, tasks=[done]).status.tasks
    assert (task.phase, task.error, json.loads(task.output_json)) == (COMPLETED, "", {"paid": True})

    update(store, feed, execution_id, tasks=[pb.TaskStatus(path="guard/charge", phase=IN_PROGRESS, run=3)])
    (task,) = executions.get_execution(store, AGENT, execution_id).status.tasks
    assert (task.phase, task.output_json, task.run) == (IN_PROGRESS, "", 3), "the second run's output stayed"


def test_a_late_duplicate_never_moves_a_finished_tool_call_back(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    running = pb.ToolCall(id="call-1-0", name="lookup", phase=IN_PROGRESS)
    update(store, feed, execution_id, tool_calls=[running])
    update(store, feed, execution_id, tool_calls=[pb.ToolCall(id="call-1-0", phase=COMPLETED, result="v")])
    (call,) = update(store, feed, execution_id, tool_calls=[running]).status.tool_calls
    assert (call.phase, call.result) == (COMPLETED, "v")


def test_a_retried_attempt_drops_what_the_earlier_one_left(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    agent = pb.MESSAGE_TYPE_AGENT
    update(
        store,
        feed,
        execution_id,
        phase=IN_PROGRESS,
        attempt=1,
        messages=[pb.Message(id="agent-1", type=agent, content="Let me look"), pb.Message(id="agent-2", type=agent)],
        tool_calls=[pb.ToolCall(id="call-1-0", name="lookup", phase=COMPLETED), pb.ToolCall(id="call-2-0")],
    )
    status = update(
        store, feed, execution_id, attempt=2, drop_message_ids=["agent-2", "agent-9"], drop_tool_call_ids=["call-2-0"]
    ).status
    assert [m.id for m in status.messages] == ["human", "agent-1"]
    assert [c.id for c in status.tool_calls] == ["call-1-0"]
    assert status.attempt == 2

    with pytest.raises(Conflict, match=r"attempt 1 was superseded by attempt 2"):
        update(store, feed, execution_id, attempt=1, messages=[pb.Message(id="agent-2", type=agent, content="Almost")])
    status = update(store, feed, execution_id, messages=[pb.Message(id="runner-retry", type=pb.MESSAGE_TYPE_SYSTEM)])
    assert [m.id for m in status.status.messages] == ["human", "agent-1", "runner-retry"], "attempt 0 is not fenced"


# --- request IDs ---------------------------------------------------------------------------------


def count_executions(store: Store) -> int:
    with store.transaction() as tx:
        return tx.count_executions("agent") + tx.count_executions("workflow")


def test_a_retried_create_with_the_same_request_id_returns_the_same_execution(store: Store) -> None:
    first = create(store, request_id="req-1")
    again = create(store, request_id="req-1")
    assert again == first
    assert count_executions(store) == 1
    assert create(store, request_id="req-2").metadata.id != first.metadata.id
    assert create(store).metadata.id != create(store).metadata.id  # no request ID: every create is new


def test_request_ids_are_per_kind(store: Store) -> None:
    agent_execution = create(store, message="", request_id="shared")
    workflow_execution = executions.create_workflow_execution(
        store, pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data", request_id="shared")
    )
    assert workflow_execution.metadata.id.startswith("wex-")
    assert agent_execution.metadata.id.startswith("aex-")


def test_a_request_id_reused_for_another_target_is_refused(store: Store) -> None:
    apply(store, ApplyRequest(agents=[make_agent("other")]))
    first = create(store, request_id="req-1")
    with pytest.raises(AlreadyExists) as caught:
        executions.create_agent_execution(
            store, pb.CreateAgentExecutionRequest(agent_ref="other", message="Review PR 1", request_id="req-1")
        )
    assert str(caught.value) == (
        f"request ID 'req-1' was already used by execution {first.metadata.id} with a different agent_id: "
        "use a new request ID for a new execution"
    )
    with pytest.raises(AlreadyExists, match="with a different message"):
        create(store, message="Another PR", request_id="req-1")
    assert count_executions(store) == 1


def test_the_request_id_is_unique_in_the_database(store: Store) -> None:
    create(store, request_id="req-1")
    execution = create(store, request_id="req-2")
    execution.metadata.id = "aex-copy"
    execution.spec.request_id = "req-1"
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as tx:
        tx.insert_execution("agent", execution)


# --- pinning -------------------------------------------------------------------------------------


def test_an_execution_pins_the_agent_it_runs(store: Store) -> None:
    execution = create(store)
    assert execution.spec.agent_generation == 1
    assert execution.spec.agent.instructions == "Review code"

    apply(store, ApplyRequest(agents=[make_agent("code-reviewer", instructions="Review harder")]))
    stored = executions.get_execution(store, AGENT, execution.metadata.id)
    assert (stored.spec.agent_generation, stored.spec.agent.instructions) == (1, "Review code")
    newer = create(store)
    assert (newer.spec.agent_generation, newer.spec.agent.instructions) == (2, "Review harder")


def test_a_workflow_execution_pins_its_workflow_and_checks_its_parent(store: Store) -> None:
    parent = executions.create_workflow_execution(store, pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data"))
    child = executions.create_workflow_execution(
        store, pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data", parent_execution_id=parent.metadata.id)
    )
    assert child.spec.parent_execution_id == parent.metadata.id
    assert (child.spec.workflow_generation, child.spec.workflow_namespace) == (1, "demo")
    assert [t.name for t in child.spec.workflow.tasks] == ["init"]
    with pytest.raises(NotFound, match="execution 'wex-missing' not found"):
        executions.create_workflow_execution(
            store, pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data", parent_execution_id="wex-missing")
        )


# --- dispatch ------------------------------------------------------------------------------------


def test_dispatch_state_moves_from_waiting_to_dispatched(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    other_id = create(store).metadata.id
    assert [r.execution.metadata.id for r in executions.pending_dispatch(store)] == [execution_id, other_id]

    waiting = executions.mark_waiting(store, feed, execution_id, "Temporal at 127.0.0.1:7233 is unreachable", 3)
    assert waiting.status.dispatch == pb.DispatchState(
        waiting=True, reason="Temporal at 127.0.0.1:7233 is unreachable", attempts=3
    )
    with feed.subscribe(execution_id) as subscription:
        dispatched = executions.mark_dispatched(store, feed, execution_id, "stigmer-agents")
        change = subscription.next(timeout=5)
    assert change is not None and change.execution == dispatched
    dispatch = dispatched.status.dispatch
    assert (dispatch.waiting, dispatch.reason, dispatch.attempts) == (False, "", 3)
    assert (dispatch.engine_workflow_id, dispatch.task_queue) == (execution_id, "stigmer-agents")
    assert dispatch.HasField("dispatched_at")
    assert dispatched.status.phase == PENDING
    assert [r.execution.metadata.id for r in executions.pending_dispatch(store)] == [other_id]

    before = revision(store, execution_id)
    assert executions.mark_dispatched(store, feed, execution_id, "stigmer-agents") == dispatched
    executions.mark_waiting(store, feed, execution_id, "late report", 4)  # dispatched: too late to wait
    assert revision(store, execution_id) == before


def test_a_finished_execution_is_not_dispatched(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    executions.cancel_execution(store, feed, AGENT, execution_id)
    assert executions.pending_dispatch(store) == []
    assert executions.mark_dispatched(store, feed, execution_id, "q").status.phase == CANCELLED
    with pytest.raises(NotFound):
        executions.mark_waiting(store, feed, "aex-ghost", "x", 1)


# --- cancellation ----------------------------------------------------------------------------------


class HookCalls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, kind: str, execution_id: str) -> None:
        self.calls.append((kind, execution_id))


@pytest.fixture
def hooks() -> tuple[executions.CancelHooks, HookCalls]:
    registry, calls = executions.CancelHooks(), HookCalls()
    registry.register(calls)
    return registry, calls


def test_cancelling_a_pending_execution_ends_it_at_once(store: Store, feed: ExecutionFeed, hooks: Any) -> None:
    registry, calls = hooks
    execution_id = create(store).metadata.id
    follower = Follower(store, feed, execution_id)
    follower.next()

    cancelled = executions.cancel_execution(store, feed, AGENT, execution_id, registry)
    assert cancelled.status.phase == CANCELLED
    assert cancelled.status.HasField("completed_at")
    assert not cancelled.status.dispatch.waiting
    assert follower.next().status.phase == CANCELLED
    follower.join()
    assert calls.calls == []  # the engine never had it


def test_cancelling_a_running_execution_asks_the_engine(store: Store, feed: ExecutionFeed, hooks: Any) -> None:
    registry, calls = hooks
    execution_id = create(store).metadata.id
    executions.mark_dispatched(store, feed, execution_id, "q")
    update(store, feed, execution_id, phase=IN_PROGRESS)

    requested = executions.cancel_execution(store, feed, AGENT, execution_id, registry)
    assert (requested.status.phase, requested.status.cancel_requested) == (IN_PROGRESS, True)
    assert calls.calls == [("agent", execution_id)]
    assert [r.execution.metadata.id for r in executions.cancel_requested(store)] == [execution_id]
    done = update(store, feed, execution_id, phase=CANCELLED)  # the runner reports the end
    assert done.status.phase == CANCELLED


def test_cancelling_a_dispatched_pending_execution_also_asks_the_engine(
    store: Store, feed: ExecutionFeed, hooks: Any
) -> None:
    registry, calls = hooks
    execution_id = create(store).metadata.id
    executions.mark_dispatched(store, feed, execution_id, "q")
    assert executions.cancel_execution(store, feed, AGENT, execution_id, registry).status.phase == CANCELLED
    assert calls.calls == [("agent", execution_id)]


@pytest.mark.parametrize("terminal", [COMPLETED, FAILED])
def test_a_finished_execution_cannot_be_cancelled(store: Store, feed: ExecutionFeed, terminal: int) -> None:
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=terminal)
    name = pb.ExecutionPhase.Name(terminal).removeprefix("EXECUTION_PHASE_")
    with pytest.raises(Conflict) as caught:
        executions.cancel_execution(store, feed, AGENT, execution_id)
    assert str(caught.value) == f"execution {execution_id} is already {name}"


def test_cancelling_a_cancelled_execution_again_succeeds(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    first = executions.cancel_execution(store, feed, AGENT, execution_id)
    before = revision(store, execution_id)
    assert executions.cancel_execution(store, feed, AGENT, execution_id) == first
    assert revision(store, execution_id) == before


def create_child(store: Store, parent: str, kind: str = "workflow") -> str:
    if kind == "agent":
        return create(store, parent_execution_id=parent).metadata.id
    request = pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data", parent_execution_id=parent)
    return str(executions.create_workflow_execution(store, request).metadata.id)


def phase_of(store: Store, execution_id: str) -> tuple[int, bool]:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
    assert record is not None
    return record.execution.status.phase, record.execution.status.cancel_requested


def test_cancelling_an_execution_cancels_its_running_children_and_theirs(
    store: Store, feed: ExecutionFeed, hooks: Any
) -> None:
    registry, calls = hooks
    parent = create_child(store, "")
    executions.update_status(store, feed, WORKFLOW, pb.UpdateStatusRequest(execution_id=parent, phase=IN_PROGRESS))
    running_child = create_child(store, parent)
    executions.update_status(
        store, feed, WORKFLOW, pb.UpdateStatusRequest(execution_id=running_child, phase=IN_PROGRESS)
    )
    grandchild = create_child(store, running_child, "agent")
    update(store, feed, grandchild, phase=IN_PROGRESS)
    pending_child = create_child(store, parent, "agent")
    finished_child = create_child(store, parent, "agent")
    update(store, feed, finished_child, phase=COMPLETED)
    stranger = create(store).metadata.id
    update(store, feed, stranger, phase=IN_PROGRESS)

    executions.cancel_execution(store, feed, WORKFLOW, parent, registry)

    assert phase_of(store, parent) == (IN_PROGRESS, True)
    assert phase_of(store, running_child) == (IN_PROGRESS, True)
    assert phase_of(store, grandchild) == (IN_PROGRESS, True)
    assert phase_of(store, pending_child) == (CANCELLED, False)  # never reached the engine: cancelled at once
    assert phase_of(store, finished_child) == (COMPLETED, False)
    assert phase_of(store, stranger) == (IN_PROGRESS, False)
    assert sorted(calls.calls) == sorted([("workflow", parent), ("workflow", running_child), ("agent", grandchild)])


def test_a_cancelled_parent_starts_no_new_child(store: Store, feed: ExecutionFeed) -> None:
    parent = create_child(store, "")
    executions.update_status(store, feed, WORKFLOW, pb.UpdateStatusRequest(execution_id=parent, phase=IN_PROGRESS))
    before = create(store, parent_execution_id=parent, request_id=f"{parent}/ask")
    executions.cancel_execution(store, feed, WORKFLOW, parent)

    with pytest.raises(Conflict, match=f"execution {parent} is cancelled: it starts no new child executions"):
        create_child(store, parent)
    # A retried create of a child made before the cancel returns that child (cancelled with its parent).
    again = create(store, parent_execution_id=parent, request_id=f"{parent}/ask")
    assert again.metadata.id == before.metadata.id and again.status.phase == CANCELLED


def test_a_parent_already_cancelled_still_cancels_a_child_left_running(
    store: Store, feed: ExecutionFeed, hooks: Any
) -> None:
    registry, calls = hooks
    parent = create_child(store, "")
    child = create_child(store, parent, "agent")
    update(store, feed, child, phase=IN_PROGRESS)
    executions.update_status(store, feed, WORKFLOW, pb.UpdateStatusRequest(execution_id=parent, phase=CANCELLED))
    assert executions.cancel_execution(store, feed, WORKFLOW, parent, registry).status.phase == CANCELLED
    assert phase_of(store, child) == (IN_PROGRESS, True)
    assert calls.calls == [("agent", child)]


class Stopper:
    """A stop hook that records what it was asked to stop, and the phase each had at that moment."""

    def __init__(self, store: Store, error: Exception | None = None) -> None:
        self.store = store
        self.error = error
        self.stopped: list[tuple[str, tuple[int, bool]]] = []

    def __call__(self, execution_ids: list[str]) -> None:
        self.stopped += [(execution_id, phase_of(self.store, execution_id)) for execution_id in execution_ids]
        if self.error is not None:
            raise self.error


def test_deleting_a_running_execution_cancels_and_stops_it_and_its_children_first(
    store: Store, feed: ExecutionFeed, hooks: Any
) -> None:
    registry, calls = hooks
    stopper = Stopper(store)
    registry.register_stopper(stopper)
    parent = create_child(store, "")
    executions.update_status(store, feed, WORKFLOW, pb.UpdateStatusRequest(execution_id=parent, phase=IN_PROGRESS))
    child = create_child(store, parent, "agent")
    update(store, feed, child, phase=IN_PROGRESS)

    executions.delete_execution(store, feed, WORKFLOW, parent, registry)

    assert stopper.stopped == [(parent, (IN_PROGRESS, True)), (child, (IN_PROGRESS, True))]
    assert sorted(calls.calls) == [("agent", child), ("workflow", parent)]
    with pytest.raises(NotFound):
        executions.get_execution(store, WORKFLOW, parent)
    assert phase_of(store, child) == (IN_PROGRESS, True)  # the child stays, cancelled, for its own report


def test_a_running_execution_the_engine_cannot_stop_is_not_deleted(store: Store, feed: ExecutionFeed) -> None:
    registry = executions.CancelHooks()
    registry.register_stopper(Stopper(store, Unavailable("Temporal at x is unreachable")))
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=IN_PROGRESS)
    with pytest.raises(Unavailable, match="unreachable"):
        executions.delete_execution(store, feed, AGENT, execution_id, registry)
    assert phase_of(store, execution_id) == (IN_PROGRESS, True)


def test_a_pending_execution_the_engine_never_accepted_is_deleted_without_the_engine(
    store: Store, feed: ExecutionFeed
) -> None:
    registry = executions.CancelHooks()
    stopper = Stopper(store, Unavailable("Temporal at x is unreachable"))
    registry.register_stopper(stopper)
    execution_id = create(store).metadata.id
    executions.delete_execution(store, feed, AGENT, execution_id, registry)
    assert stopper.stopped == []
    with pytest.raises(NotFound):
        executions.get_execution(store, AGENT, execution_id)


def test_deleting_a_finished_execution_stops_nothing(store: Store, feed: ExecutionFeed) -> None:
    registry = executions.CancelHooks()
    stopper = Stopper(store)
    registry.register_stopper(stopper)
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=COMPLETED)
    executions.delete_execution(store, feed, AGENT, execution_id, registry)
    assert stopper.stopped == []


def test_the_execution_timeout_is_stored_and_must_not_be_negative(store: Store) -> None:
    assert create(store, execution_timeout_seconds=90).spec.execution_timeout_seconds == 90
    with pytest.raises(Invalid, match="execution_timeout_seconds: must not be negative"):
        create(store, execution_timeout_seconds=-1)
    request = pb.CreateWorkflowExecutionRequest(workflow_ref="fetch-data", execution_timeout_seconds=30)
    assert executions.create_workflow_execution(store, request).spec.execution_timeout_seconds == 30


def test_reconciliation_ends_a_running_execution_once_and_redispatches_a_lost_pending_one(
    store: Store, feed: ExecutionFeed
) -> None:
    running = create(store).metadata.id
    update(store, feed, running, phase=IN_PROGRESS)
    pending = create(store).metadata.id
    executions.mark_dispatched(store, feed, pending, "q")
    waiting = create(store).metadata.id
    assert [r.execution.metadata.id for r in executions.engine_may_run(store)] == [running, pending]

    ended = executions.end_execution(store, feed, running, FAILED, "workflow terminated in the engine: gone")
    assert ended is not None and (ended.status.phase, ended.status.error) == (
        FAILED,
        "workflow terminated in the engine: gone",
    )
    assert ended.status.HasField("completed_at")
    assert executions.end_execution(store, feed, running, COMPLETED) is None  # terminal: unchanged

    forgotten = executions.forget_dispatch(store, feed, pending, "dispatching it again")
    assert forgotten is not None and not forgotten.status.dispatch.HasField("dispatched_at")
    assert [r.execution.metadata.id for r in executions.pending_dispatch(store)] == [pending, waiting]
    assert executions.engine_may_run(store) == []


def test_a_failing_cancel_hook_does_not_lose_the_request(store: Store, feed: ExecutionFeed) -> None:
    registry = executions.CancelHooks()

    def broken(kind: str, execution_id: str) -> None:
        raise RuntimeError("engine unreachable")

    registry.register(broken)
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, phase=IN_PROGRESS)
    assert executions.cancel_execution(store, feed, AGENT, execution_id, registry).status.cancel_requested
    assert executions.get_execution(store, AGENT, execution_id).status.cancel_requested


# --- sizes ---------------------------------------------------------------------------------------------


def test_a_status_that_would_grow_past_the_limit_is_refused(
    store: Store, feed: ExecutionFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executions, "MAX_EXECUTION_BYTES", 10_000)
    execution_id = create(store).metadata.id
    update(store, feed, execution_id, messages=[pb.Message(id="m1", type=pb.MESSAGE_TYPE_AGENT, content="x" * 4000)])
    before = revision(store, execution_id)

    big = [pb.Message(id=f"m{n}", type=pb.MESSAGE_TYPE_AGENT, content="x" * 4000) for n in range(2, 5)]
    with pytest.raises(Invalid) as caught:
        update(store, feed, execution_id, messages=big)
    assert re.fullmatch(
        rf"execution {execution_id} would be \d+ bytes, over the limit of 10000 bytes "
        r"\(its largest field, status\.messages, is \d+ bytes\)",
        str(caught.value),
    ), str(caught.value)
    assert revision(store, execution_id) == before


def test_executions_stored_before_dispatch_state_and_pinning_still_work(store: Store, feed: ExecutionFeed) -> None:
    """An execution as older servers stored it: no dispatch state, no pinned agent, a system message."""
    agent = resources.get_agent(store, "code-reviewer")
    agent.spec.env.add(name="REGION", default_value="eu")
    apply(store, ApplyRequest(agents=[agent]))
    legacy = pb.AgentExecution()
    legacy.metadata.id = "aex-legacy"
    legacy.spec.agent_id = agent.metadata.id
    legacy.spec.agent_name = "code-reviewer"
    legacy.status.phase = PENDING
    legacy.status.messages.add(id="system-waiting", type=pb.MESSAGE_TYPE_SYSTEM, content="Waiting ...")
    with store.transaction() as tx:
        tx.insert_execution("agent", legacy)

    assert [r.execution.metadata.id for r in executions.pending_dispatch(store)] == ["aex-legacy"]
    assert dict(executions.runtime_env(store, "aex-legacy").values) == {"REGION": "eu"}
    assert executions.mark_dispatched(store, feed, "aex-legacy", "q").status.dispatch.task_queue == "q"
    assert executions.pending_dispatch(store) == []


def test_the_size_limits_nest() -> None:
    """A resource fits in a page, a pinned resource plus its run in an execution, an execution in a message."""
    assert validation.MAX_RESOURCE_BYTES <= pagination.PAGE_BYTES
    assert 2 * validation.MAX_RESOURCE_BYTES <= executions.MAX_EXECUTION_BYTES
    assert executions.MAX_EXECUTION_BYTES < limits.MAX_MESSAGE_BYTES


@pytest.mark.parametrize(
    ("reported", "error", "said"),
    [
        (COMPLETED, "", "it completed as the cancel took effect"),
        (
            FAILED,
            "child refused: parent cancelled",
            "it failed as the cancel took effect: child refused: parent cancelled",
        ),
    ],
)
def test_an_execution_whose_cancel_was_acknowledged_ends_cancelled_whatever_its_last_report_says(
    store: Store, feed: ExecutionFeed, hooks: Any, reported: int, error: str, said: str
) -> None:
    """A report racing with the cancel (a last answer in flight; a child refused because the parent is
    being cancelled) does not undo the cancel the user was told about; a retry of it changes nothing."""
    registry, _calls = hooks
    execution_id = create(store).metadata.id
    executions.mark_dispatched(store, feed, execution_id, "q")
    update(store, feed, execution_id, phase=IN_PROGRESS)
    executions.cancel_execution(store, feed, AGENT, execution_id, registry)

    ended = update(store, feed, execution_id, phase=reported, error=error, output_json='{"response": "done"}')
    assert ended.status.phase == CANCELLED
    assert ended.status.error == f"cancelled as requested ({said})"
    assert ended.status.output_json == '{"response": "done"}'
    with pytest.raises(Conflict):
        update(store, feed, execution_id, phase=reported, error=error)
