"""The workload's tally counts what it should: planted lost, stuck, duplicated, unexpected, restarted
and store/Temporal disagreements are each reported; a clean run is clean."""

from __future__ import annotations

from typing import Any, cast

import pytest

from support.fixtures.http_api import RecordedRequest
from support.llm_standin.recording import RecordedRequest as Chat
from support.workload import Observation, Operation, Workload
from support.workload_check import tally


def _workload(*ops: Operation) -> Workload:
    workload = Workload(cast(Any, None), cast(Any, None), cast(Any, None), prefix="t")
    workload.prefix = "tp"
    workload.operations.extend(ops)
    return workload


def _execution(exec_id: str, phase: str, *, parent: str = "", token: str = "", tools: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"parent_execution_id": parent} if parent else {}
    if token:
        spec["message" if exec_id.startswith("aex-") else "input"] = (
            f"job {token}" if exec_id.startswith("aex-") else {"token": token}
        )
    calls = [{"name": "write_file", "id": f"c{i}"} for i in range(tools)]
    return {"metadata": {"id": exec_id}, "spec": spec, "status": {"phase": phase, "tool_calls": calls}}


def _post(path: str, token: str, key: str) -> RecordedRequest:
    return RecordedRequest("POST", path, {}, {"Idempotency-Key": key}, {"token": token})


def _chat(user: str, last_role: str) -> Chat:
    messages = [{"role": "user", "content": user}]
    if last_role == "tool":
        messages.append({"role": "tool", "content": "ok"})
    return Chat(seq=0, time=0.0, method="POST", path="/api/chat", headers={}, body={"messages": messages}, status=200)


ACKED = Operation("workflow", "tp-0001", "r1", "grpc", execution_id="wex-1")
AGENT = Operation("agent", "tp-0002", "r2", "grpc", execution_id="aex-2")


def _clean_world() -> dict[str, dict[str, Any]]:
    return {
        "wex-1": _execution("wex-1", "COMPLETED", token="tp-0001"),
        "aex-11": _execution("aex-11", "COMPLETED", parent="wex-1", tools=1),
        "wex-12": _execution("wex-12", "COMPLETED", parent="wex-1"),
        "aex-2": _execution("aex-2", "COMPLETED", token="tp-0002", tools=1),
    }


def _observe(executions: dict[str, dict[str, Any]], **parts: Any) -> Observation:
    return Observation(executions, parts.get("posts", ()), parts.get("mcp", ()), parts.get("chats", ()))


def test_a_clean_run_is_clean() -> None:
    posts = [_post("/v1/start", "tp-0001", "wex-1/start")]
    mcp = [("search_docs", {"query": "tp-0001"}), ("search_docs", {"query": "tp-0002"})]
    temporal = {"wex-1": ["COMPLETED"], "aex-11": ["COMPLETED"], "wex-12": ["COMPLETED"], "aex-2": ["COMPLETED"]}

    result = tally(_workload(ACKED, AGENT), _observe(_clean_world(), posts=posts, mcp=mcp), temporal)

    assert result.clean(), result.details
    assert result.counts["ok"] == 2


def test_an_acknowledged_execution_missing_from_the_store_is_lost() -> None:
    world = _clean_world()
    del world["aex-2"]

    result = tally(_workload(ACKED, AGENT), _observe(world))

    assert result.counts["lost"] == 1 and not result.clean(), result.details


def test_a_child_not_terminal_is_stuck_and_counts_as_lost() -> None:
    world = _clean_world()
    world["wex-12"]["status"]["phase"] = "IN_PROGRESS"

    result = tally(_workload(ACKED, AGENT), _observe(world))

    assert result.counts["lost"] == 1, result.details
    assert "not terminal" in result.details[0]


@pytest.mark.parametrize(
    "plant",
    [
        "two executions for one create",
        "a second agent_call child",
        "one POST under two keys",
        "an MCP call executed twice",
        "a workspace tool run twice",
        "two Temporal runs",
    ],
)
def test_each_kind_of_duplicate_is_counted(plant: str) -> None:
    world = _clean_world()
    posts = [_post("/v1/start", "tp-0001", "wex-1/start")]
    mcp = [("search_docs", {"query": "tp-0002"})]
    temporal: dict[str, list[str]] = {}
    if plant == "two executions for one create":
        world["aex-3"] = _execution("aex-3", "COMPLETED", token="tp-0002")
    elif plant == "a second agent_call child":
        world["aex-13"] = _execution("aex-13", "COMPLETED", parent="wex-1")
    elif plant == "one POST under two keys":
        posts.append(_post("/v1/start", "tp-0001", "other-key"))
    elif plant == "an MCP call executed twice":
        mcp.append(("search_docs", {"query": "tp-0002"}))
    elif plant == "a workspace tool run twice":
        world["aex-2"] = _execution("aex-2", "COMPLETED", token="tp-0002", tools=2)
    else:
        temporal = {"aex-2": ["FAILED", "COMPLETED"]}

    result = tally(_workload(ACKED, AGENT), _observe(world, posts=posts, mcp=mcp), temporal)

    assert result.counts["duplicated"] == 1, result.details


def test_the_same_key_twice_is_redelivered_not_duplicated() -> None:
    posts = [_post("/v1/start", "tp-0001", "wex-1/start"), _post("/v1/start", "tp-0001", "wex-1/start")]

    result = tally(_workload(ACKED, AGENT), _observe(_clean_world(), posts=posts))

    assert (result.counts["redelivered"], result.counts["duplicated"]) == (1, 0), result.details
    assert result.clean()


def test_what_no_operation_asked_for_is_unexpected() -> None:
    world = _clean_world()
    world["wex-9"] = _execution("wex-9", "COMPLETED", token="tp-0099")
    posts = [_post("/v1/start", "tp-0077", "wex-7/start")]

    result = tally(_workload(ACKED, AGENT), _observe(world, posts=posts))

    assert result.counts["unexpected"] == 2, result.details


def test_store_and_temporal_disagreeing_is_reported() -> None:
    temporal = {"wex-1": ["RUNNING"], "aex-2": ["FAILED"]}

    result = tally(_workload(ACKED, AGENT), _observe(_clean_world()), temporal)

    assert result.disagreements == 2 and not result.clean(), result.details


def test_an_agent_that_starts_over_after_progress_is_restarted_but_a_retried_first_turn_is_not() -> None:
    retried = [_chat("job tp-0001", "user"), _chat("job tp-0001", "user"), _chat("job tp-0001", "tool")]
    started_over = [_chat("job tp-0002", "user"), _chat("job tp-0002", "tool"), _chat("job tp-0002", "user")]

    result = tally(_workload(ACKED, AGENT), _observe(_clean_world(), chats=[*retried, *started_over]))

    assert result.restarted == 1, result.details
    assert "tp-0002" in result.details[-1]
