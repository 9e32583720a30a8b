"""The invariant checker's counting, with planted faults: each must be reported, and a clean run is clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.checker import (
    Delivery,
    ExecutionState,
    History,
    ModelTurn,
    Report,
    Resource,
    WorkflowRun,
    World,
    child_task,
    count,
)
from support.checker_reads import (
    default_http_logical,
    default_mcp_logical,
    http_deliveries,
    http_logical_by_body,
    mcp_deliveries,
    model_turns,
    result_phase_of,
)
from support.fixtures.http_api import RecordedRequest
from support.llm_standin.recording import RecordedRequest as LlmRequest


def done(execution_id: str, phase: str = "COMPLETED", **fields: str) -> ExecutionState:
    return ExecutionState(execution_id, "workflow", phase, dispatched=True, request_id=f"req-{execution_id}", **fields)


def run(workflow_id: str, status: str = "COMPLETED", run_id: str = "r1") -> WorkflowRun:
    return WorkflowRun(workflow_id, run_id, status)


def baseline() -> tuple[History, World]:
    """Three executions, all fine: one completed with its POST and MCP call, one failed, one cancelled."""
    history = History("planted")
    history.apply("workflow", "deploy")
    for execution_id in ("wex-1", "wex-2", "wex-3"):
        history.create("workflow", f"req-{execution_id}", execution_id)
    history.cancel("wex-3")
    history.expect_post("wex-1", "deploy")
    history.expect_tool_call("wex-1", 'lookup {"city": "Paris"}', mcp=True)
    world = World(
        executions=[done("wex-1"), done("wex-2", "FAILED", error="HTTP 500 from /deploy"), done("wex-3", "CANCELLED")],
        temporal=[run("wex-1"), run("wex-2", "FAILED"), run("wex-3", "CANCELED")],
        deliveries=[
            Delivery("http", "wex-1", "deploy", "wex-1/deploy"),
            Delivery("mcp", "wex-1", 'lookup {"city": "Paris"}'),
        ],
        resources=[Resource("workflow", "deploy", 1)],
    )
    return history, world


def test_a_clean_run_is_clean() -> None:
    report = count(*baseline())
    assert report.clean, report.table()
    assert report.counts["ok"] == 2  # the resource and wex-1
    assert report.counts["failed"] == 1 and report.of("failed")[0].reason == "HTTP 500 from /deploy"
    assert report.counts["cancelled"] == 1
    assert all(report.counts[c] == 0 for c in ("lost", "duplicated", "unexpected", "disagreements", "indeterminate"))


def test_an_acknowledged_execution_missing_from_the_store_is_lost() -> None:
    history, world = baseline()
    world.executions = [e for e in world.executions if e.id != "wex-2"]
    world.temporal = [r for r in world.temporal or [] if r.workflow_id != "wex-2"]
    report = count(history, world)
    assert [(f.category, f.subject) for f in report.of("lost")] == [("lost", "wex-2")]
    assert not report.clean


def test_an_acknowledged_apply_missing_from_the_store_is_lost() -> None:
    history, world = baseline()
    history.apply("agent", "helper", generation=2)
    world.resources = [*(world.resources or []), Resource("agent", "helper", 1)]
    report = count(history, world)
    assert [f.subject for f in report.of("lost")] == ["agent/helper"]
    world.resources = [Resource("workflow", "deploy", 1)]
    assert [f.reason for f in count(history, world).of("lost")] == ["applied and acknowledged, but not stored"]


def test_an_execution_not_terminal_within_the_bound_is_stuck_and_lost() -> None:
    history, world = baseline()
    world.executions[1] = done("wex-2", "IN_PROGRESS")
    world.temporal = [run("wex-1"), run("wex-2", "RUNNING"), run("wex-3", "CANCELED")]
    report = count(history, world)
    assert [f.subject for f in report.of("stuck")] == ["wex-2"]
    assert [f.subject for f in report.of("lost")] == ["wex-2"]
    assert report.counts["disagreements"] == 0, "a running workflow agrees with IN_PROGRESS"


def test_two_temporal_runs_for_one_execution_are_duplicated() -> None:
    history, world = baseline()
    world.temporal = [*(world.temporal or []), run("wex-1", run_id="r2")]
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ["wex-1"]
    assert "2 Temporal runs" in report.of("duplicated")[0].reason


def test_one_post_under_two_idempotency_keys_is_duplicated() -> None:
    history, world = baseline()
    world.deliveries.append(Delivery("http", "wex-1", "deploy", "wex-1/deploy#retry"))
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ["http wex-1/deploy"]


def test_an_mcp_call_executed_twice_is_duplicated_even_under_one_key() -> None:
    history, world = baseline()
    world.deliveries.append(Delivery("mcp", "wex-1", 'lookup {"city": "Paris"}'))
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ['mcp wex-1/lookup {"city": "Paris"}']
    assert report.counts["redelivered"] == 0


def test_a_tool_call_run_twice_by_a_retried_attempt_is_duplicated() -> None:
    history, world = baseline()
    world.deliveries += [
        Delivery("tool", "wex-1", "get_weather {}", "call-1"),
        Delivery("tool", "wex-1", "get_weather {}", "call-7"),
    ]
    assert [f.subject for f in count(history, world).of("duplicated")] == ["tool wex-1/get_weather {}"]


def test_two_executions_for_one_request_id_are_duplicated() -> None:
    history, world = baseline()
    world.executions.append(ExecutionState("wex-9", "workflow", "COMPLETED", request_id="req-wex-1", dispatched=True))
    world.temporal = [*(world.temporal or []), run("wex-9")]
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ["wex-1"]
    assert "wex-9" in report.of("duplicated")[0].reason


def test_the_same_key_delivered_twice_is_redelivered_not_a_failure() -> None:
    history, world = baseline()
    world.deliveries.append(Delivery("http", "wex-1", "deploy", "wex-1/deploy"))
    report = count(history, world)
    assert [f.reason for f in report.of("redelivered")] == ["key wex-1/deploy delivered 2 times"]
    assert report.clean


def test_an_execution_no_one_created_is_unexpected_but_a_child_is_not() -> None:
    history, world = baseline()
    world.executions += [
        ExecutionState("aex-child", "agent", "COMPLETED", parent_id="wex-1", dispatched=True),
        ExecutionState("aex-grandchild", "agent", "COMPLETED", parent_id="aex-child"),
        ExecutionState("wex-stranger", "workflow", "COMPLETED"),
    ]
    world.temporal = [*(world.temporal or []), run("aex-child")]
    report = count(history, world)
    assert [f.subject for f in report.of("unexpected")] == ["wex-stranger"]


def test_a_stuck_child_is_stuck() -> None:
    history, world = baseline()
    world.executions.append(ExecutionState("aex-child", "agent", "PENDING", parent_id="wex-3"))
    assert [f.subject for f in count(history, world).of("stuck")] == ["aex-child"]


def test_side_effects_no_one_asked_for_are_unexpected() -> None:
    history, world = baseline()
    world.deliveries += [
        Delivery("http", "wex-1", "notify", "wex-1/notify"),
        Delivery("http", "wex-404", "deploy", "wex-404/deploy"),
    ]
    report = count(history, world)
    assert sorted(f.subject for f in report.of("unexpected")) == ["http wex-1/notify", "http wex-404/deploy"]


def test_a_temporal_workflow_with_no_execution_is_unexpected() -> None:
    history, world = baseline()
    world.temporal = [*(world.temporal or []), run("wex-ghost", "RUNNING")]
    assert [f.subject for f in count(history, world).of("unexpected")] == ["wex-ghost"]


def test_a_completed_execution_without_its_side_effect_lost_it() -> None:
    history, world = baseline()
    world.deliveries = [d for d in world.deliveries if d.kind != "http"]
    assert [f.subject for f in count(history, world).of("lost")] == ["http wex-1/deploy"]


def test_a_client_timeout_is_indeterminate_whether_or_not_the_execution_was_made() -> None:
    history, world = baseline()
    history.timed_out("workflow", "req-never")
    history.timed_out("workflow", "req-wex-4")
    world.executions.append(done("wex-4"))
    world.temporal = [*(world.temporal or []), run("wex-4")]
    report = count(history, world)
    reasons = sorted(f.reason for f in report.of("indeterminate"))
    assert reasons == [
        "the client timed out; it was made anyway as wex-4 (COMPLETED)",
        "the client timed out; no execution was made",
    ]
    assert report.clean and report.counts["ok"] == 3, "a made one is checked like the others, not unexpected"


@pytest.mark.parametrize(
    ("phase", "status"),
    [("COMPLETED", "FAILED"), ("FAILED", "COMPLETED"), ("CANCELLED", "COMPLETED"), ("COMPLETED", "RUNNING")],
)
def test_store_and_temporal_disagreeing_on_the_outcome_is_a_disagreement(phase: str, status: str) -> None:
    history, world = baseline()
    history.cancel("wex-1")
    world.executions[0] = done("wex-1", phase)
    world.temporal = [run("wex-1", status), run("wex-2", "FAILED"), run("wex-3", "CANCELED")]
    report = count(history, world)
    assert [f.subject for f in report.of("disagreements")] == ["wex-1"]
    assert not report.clean


def test_a_dispatched_execution_without_a_workflow_is_a_disagreement() -> None:
    history, world = baseline()
    world.temporal = [run("wex-1"), run("wex-2", "FAILED")]
    assert [f.subject for f in count(history, world).of("disagreements")] == ["wex-3"]
    world.executions[2] = ExecutionState("wex-3", "workflow", "CANCELLED", request_id="req-wex-3", dispatched=False)
    assert count(history, world).counts["disagreements"] == 0, "cancelled before dispatch: no workflow is right"


def test_a_pending_execution_whose_workflow_closed_is_a_disagreement() -> None:
    history, world = baseline()
    world.executions[0] = done("wex-1", "IN_PROGRESS")
    report = count(history, world)
    assert [f.subject for f in report.of("disagreements")] == ["wex-1"]
    assert [f.subject for f in report.of("stuck")] == ["wex-1"]


def test_a_cancelled_execution_no_one_cancelled_fails() -> None:
    history, world = baseline()
    history.cancels.clear()
    report = count(history, world)
    assert [f.subject for f in report.of("failed")] == ["wex-2", "wex-3"]


def test_the_report_prints_saves_and_asserts(tmp_path: Path) -> None:
    history, world = baseline()
    world.temporal = [*(world.temporal or []), run("wex-1", run_id="r2")]
    report = count(history, world)
    table = report.table()
    assert "NOT CLEAN" in table and "duplicated=1" in table and "wex-1" in table
    report.save(tmp_path / "reports" / "scenario.json")
    saved = json.loads((tmp_path / "reports" / "scenario.json").read_text())
    assert saved["counts"]["duplicated"] == 1 and saved["clean"] is False
    assert {"category": "duplicated", "subject": "wex-1"}.items() <= saved["findings"][-1].items()
    with pytest.raises(AssertionError, match="2 Temporal runs"):
        report.assert_clean()
    count(*baseline()).assert_clean()
    assert json.loads(json.dumps(history.to_json()))["created"][0]["execution_id"] == "wex-1"


def test_http_requests_become_deliveries_by_idempotency_key() -> None:
    def posted(key: str | None, body: object = None) -> RecordedRequest:
        headers = {"Idempotency-Key": key} if key else {}
        return RecordedRequest("POST", "/deploy", {}, headers, body)

    requests = [posted("wex-1/loop/2/post"), posted(None), posted("wex-2/deploy#2", {"logical_id": "deploy"})]
    assert http_deliveries(requests, default_http_logical) == [
        Delivery("http", "wex-1", "loop/2/post", "wex-1/loop/2/post"),
        Delivery("http", "wex-2", "deploy", "wex-2/deploy#2"),
    ]


def test_mcp_calls_become_deliveries() -> None:
    entries: list[dict[str, Any]] = [
        {"event": "start", "transport": "stdio"},
        {"event": "call", "tool": "lookup", "arguments": {"execution_id": "aex-1", "city": "Paris"}},
        {"event": "call", "tool": "lookup", "arguments": {"city": "Rome"}, "idempotency_key": "aex-2/call-1"},
    ]
    assert mcp_deliveries(entries, default_mcp_logical) == [
        Delivery("mcp", "aex-1", 'lookup {"city": "Paris"}', ""),
        Delivery("mcp", "aex-2", 'lookup {"city": "Rome"}', "aex-2/call-1"),
    ]


def test_counts_list_every_category() -> None:
    assert set(Report("empty").counts) >= {
        "ok",
        "failed",
        "lost",
        "duplicated",
        "redelivered",
        "unexpected",
        "restarted",
        "indeterminate",
        "disagreements",
    }


class FakeRpcError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self._code = code

    def code(self) -> Any:
        return type("Code", (), {"name": self._code})()


def test_record_create_tells_acknowledged_indeterminate_and_refused_apart() -> None:
    history = History()
    assert history.record_create("agent", "req-1", lambda: "aex-1") == "aex-1"

    def timing_out() -> str:
        raise FakeRpcError("DEADLINE_EXCEEDED")

    def refused() -> str:
        raise FakeRpcError("INVALID_ARGUMENT")

    assert history.record_create("agent", "req-2", timing_out) is None
    with pytest.raises(FakeRpcError):
        history.record_create("agent", "req-3", refused)
    assert [(op.request_id, op.execution_id, op.ack) for op in history.created] == [
        ("req-1", "aex-1", True),
        ("req-2", None, None),
        ("req-3", None, False),
    ]
    report = count(history, World(executions=[ExecutionState("aex-1", "agent", "COMPLETED", request_id="req-1")]))
    assert report.counts["ok"] == 1 and report.counts["indeterminate"] == 1 and report.counts["refused"] == 1
    assert report.clean
    made_anyway = World(
        executions=[
            ExecutionState("aex-1", "agent", "COMPLETED", request_id="req-1"),
            ExecutionState("aex-3", "agent", "COMPLETED", request_id="req-3"),
        ]
    )
    assert [f.reason for f in count(history, made_anyway).of("unexpected")] == [
        "the server refused the create, yet made aex-3"
    ]


def test_a_create_retried_with_its_request_id_is_one_operation() -> None:
    history, world = baseline()
    history.timed_out("workflow", "req-wex-4")
    history.create("workflow", "req-wex-4", "wex-4")
    world.executions.append(done("wex-4"))
    world.temporal = [*(world.temporal or []), run("wex-4")]
    report = count(history, world)
    assert report.clean and report.counts["ok"] == 3, report.table()
    assert [f.reason for f in report.of("indeterminate")] == ["the client timed out; a retry was acknowledged as wex-4"]


def test_retries_of_one_create_answered_with_two_executions_are_duplicated() -> None:
    history, world = baseline()
    history.create("workflow", "req-wex-1", "wex-1b")
    world.executions.append(ExecutionState("wex-1b", "workflow", "COMPLETED", request_id="req-wex-1", dispatched=True))
    world.temporal = [*(world.temporal or []), run("wex-1b")]
    reasons = [f.reason for f in count(history, world).of("duplicated")]
    assert reasons == [
        "attempts of one create were answered with wex-1, wex-1b",
        "one create (request req-wex-1) made several executions: wex-1, wex-1b",
    ]


@pytest.mark.parametrize(
    ("phase", "run_", "agrees"),
    [
        ("FAILED", WorkflowRun("wex-1", "r1", "COMPLETED", "FAILED"), True),
        ("CANCELLED", WorkflowRun("wex-1", "r1", "COMPLETED", "CANCELLED"), True),
        ("COMPLETED", WorkflowRun("wex-1", "r1", "COMPLETED", "COMPLETED"), True),
        ("COMPLETED", WorkflowRun("wex-1", "r1", "COMPLETED", "FAILED"), False),
        ("FAILED", WorkflowRun("wex-1", "r1", "COMPLETED", ""), False),
    ],
)
def test_a_workflow_that_completed_reporting_a_phase_counts_as_that_phase(
    phase: str, run_: WorkflowRun, agrees: bool
) -> None:
    history, world = baseline()
    history.cancel("wex-1")
    world.executions[0] = done("wex-1", phase)
    world.temporal = [run_, run("wex-2", "FAILED"), run("wex-3", "CANCELED")]
    disagreements = count(history, world).of("disagreements")
    assert (disagreements == []) is agrees, disagreements


def test_the_phase_a_result_names() -> None:
    assert result_phase_of("FAILED") == "FAILED"
    assert result_phase_of({"phase": "CANCELLED", "output": None}) == "CANCELLED"
    assert result_phase_of({"phase": "", "output": None}) == ""
    assert result_phase_of({"answer": 42}) == "" and result_phase_of("done") == "" and result_phase_of(None) == ""


def test_two_children_for_one_task_are_duplicated_but_a_retried_try_attempt_is_not() -> None:
    history, world = baseline()
    world.executions += [
        ExecutionState("aex-a", "agent", "COMPLETED", request_id="wex-1/ask", parent_id="wex-1"),
        ExecutionState("aex-b", "agent", "COMPLETED", request_id="wex-1/ask~2", parent_id="wex-1"),
        ExecutionState("wex-c", "workflow", "COMPLETED", request_id="wex-2/sub", parent_id="wex-2"),
        ExecutionState("wex-d", "workflow", "COMPLETED", request_id="wex-2/sub#2", parent_id="wex-2"),
    ]
    report = count(history, world)
    assert [(f.subject, f.reason) for f in report.of("duplicated")] == [
        ("wex-1/ask", "one task made 2 child executions: aex-a, aex-b")
    ]
    assert not report.clean
    assert child_task(world.executions[-1]) == "sub#2" and child_task(world.executions[0]) is None


def test_an_agent_whose_first_turn_came_again_after_progress_restarted() -> None:
    history, world = baseline()
    world.model_turns = [
        ModelTurn("job a", first=True),
        ModelTurn("job a", first=True),  # the first answer failed: retried, not restarted
        ModelTurn("job b", first=True),
        ModelTurn("job a", first=False),
        ModelTurn("job b", first=False),
        ModelTurn("job a", first=True),  # after its tool result came back: started over
    ]
    report = count(history, world)
    assert [(f.subject, f.reason) for f in report.of("restarted")] == [
        ("job a", "the first model turn came again 1 time(s) after progress")
    ]


def test_chats_become_model_turns() -> None:
    def chat(*roles: str) -> LlmRequest:
        messages = [{"role": role, "content": f"{role} {i}"} for i, role in enumerate(roles)]
        return LlmRequest(0, 0.0, "POST", "/api/chat", {}, {"messages": messages}, 200)

    assert model_turns([chat("system", "user"), chat("system", "user", "assistant", "tool")]) == [
        ModelTurn("user 1", first=True),
        ModelTurn("user 1", first=False),
    ]


def test_posts_told_apart_by_their_body_show_one_logical_post_under_two_keys() -> None:
    def posted(key: str, body: dict[str, Any]) -> RecordedRequest:
        return RecordedRequest("POST", "/v1/item", {}, {"Idempotency-Key": key}, body)

    logical = http_logical_by_body({"t1": "wex-1"})
    requests = [
        posted("wex-1/loop/0/item", {"token": "t1", "n": 0}),
        posted("wex-1/loop/0/item#2", {"token": "t1", "n": 0}),
        posted("wex-9/x", {"token": "t9"}),
    ]
    history, world = baseline()
    history.expect_post("wex-1", "/v1/item 0")
    world.deliveries = [d for d in world.deliveries if d.kind != "http"] + http_deliveries(requests, logical)
    report = count(history, world)
    assert [f.subject for f in report.of("duplicated")] == ["http wex-1//v1/item 0"]
    assert [f.subject for f in report.of("unexpected")] == ["http (no execution for token 't9')//v1/item"]


def test_a_resource_stored_with_another_spec_lost_the_acknowledged_one_and_an_unapplied_one_is_unexpected() -> None:
    history, world = baseline()
    history.apply("agent", "helper", spec="aaaa")
    history.apply("agent", "maybe", ack=None, spec="bbbb")  # timed out: stored or not, both fine
    world.resources = [
        Resource("workflow", "deploy", 1),
        Resource("agent", "helper", 1, "cccc"),
        Resource("agent", "maybe", 1, "bbbb"),
        Resource("agent", "stranger", 1, "dddd"),
    ]
    report = count(history, world)
    assert [(f.subject, f.reason) for f in report.of("lost")] == [
        ("agent/helper", "stored with another spec than the acknowledged one")
    ]
    assert [f.subject for f in report.of("unexpected")] == ["agent/stranger"]
    world.resources[1] = Resource("agent", "helper", 1, "aaaa")
    world.resources.pop()
    assert count(history, world).clean


def test_a_cancelled_execution_whose_workflow_ended_otherwise_agrees_only_when_its_cancel_was_requested() -> None:
    history, world = baseline()
    world.executions[2] = done("wex-3", "CANCELLED")
    world.temporal = [run("wex-1"), run("wex-2", "FAILED"), WorkflowRun("wex-3", "r1", "COMPLETED", "FAILED")]
    assert [f.subject for f in count(history, world).of("disagreements")] == ["wex-3"]
    world.executions[2] = ExecutionState(
        "wex-3", "workflow", "CANCELLED", request_id="req-wex-3", dispatched=True, cancel_requested=True
    )
    assert count(history, world).clean


def test_an_mcp_call_delivered_again_under_its_idempotency_key_is_redelivered_under_two_keys_duplicated() -> None:
    history, world = baseline()
    world.deliveries = [d for d in world.deliveries if d.kind != "mcp"]
    world.deliveries += [Delivery("mcp", "wex-1", 'lookup {"city": "Paris"}', "wex-1/call-1")] * 2
    report = count(history, world)
    assert [f.reason for f in report.of("redelivered")] == ["key wex-1/call-1 delivered 2 times"]
    assert report.clean
    world.deliveries[-1] = Delivery("mcp", "wex-1", 'lookup {"city": "Paris"}', "wex-1/call-2")
    assert [f.subject for f in count(history, world).of("duplicated")] == ['mcp wex-1/lookup {"city": "Paris"}']
