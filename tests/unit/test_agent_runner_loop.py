"""The agent loop, tool routing and progress reports, with a scripted model and a recording server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from stigmer.agent_runner import loop as loop_module
from stigmer.agent_runner.llm import ChatOptions, ToolRequest, Turn
from stigmer.agent_runner.loop import Loop, MaxTurnsError
from stigmer.agent_runner.progress import Progress
from stigmer.agent_runner.reporting import Reporter, Throttle, response_output
from stigmer.agent_runner.tools import Tool, ToolBox, ToolError
from stigmer.api.v1 import execution_pb2 as pb

OPTIONS = ChatOptions(host="http://llm", model="m", timeout_seconds=5)


class RecordingApi:
    def __init__(self) -> None:
        self.updates: list[pb.UpdateStatusRequest] = []

    async def update(self, request: pb.UpdateStatusRequest) -> None:
        self.updates.append(request)

    def tool_calls(self) -> list[tuple[str, str, str, int, str, bool]]:
        return [(c.id, c.name, c.source, c.phase, c.result, c.error) for u in self.updates for c in u.tool_calls]

    def messages(self) -> list[tuple[str, str]]:
        return [(m.id, m.content) for u in self.updates for m in u.messages]


class ScriptedModel:
    """Answers each chat turn with the next scripted turn, streaming its text in `pieces`."""

    def __init__(self, turns: Sequence[Turn], pieces: int = 1) -> None:
        self.turns = list(turns)
        self.pieces = pieces
        self.requests: list[list[dict[str, Any]]] = []

    async def __call__(self, options: ChatOptions, messages: Any, tools: Any, on_text: Any) -> Turn:
        self.requests.append([dict(m) for m in messages])
        turn = self.turns.pop(0)
        size = max(1, len(turn.text) // self.pieces)
        for end in range(size, len(turn.text) + size, size):
            await on_text(turn.text[:end])
        return turn


def echo_tool(name: str = "echo", source: str = "mcp:fixture") -> Tool:
    async def handler(arguments: dict[str, Any], call_id: str) -> str:
        if arguments.get("fail"):
            raise ToolError("asked to fail")
        return f"echo {arguments.get('text', '')}"

    return Tool(name, "Echo", {"type": "object"}, source, handler)


def run_loop(
    model: ScriptedModel,
    monkeypatch: pytest.MonkeyPatch,
    *,
    max_turns: int = 10,
    tools: Sequence[Tool] = (),
    progress: Progress | None = None,
) -> tuple[Any, RecordingApi]:
    monkeypatch.setattr(loop_module, "chat_turn", model)
    api = RecordingApi()
    reporter = Reporter(api, "aex-1", lambda text: text.replace("SECRET", "***"))
    toolbox = ToolBox(tools or [echo_tool()])
    loop = Loop(OPTIONS, toolbox, reporter, lambda text: text.replace("SECRET", "***"), max_turns, progress=progress)
    answer = asyncio.run(loop.run([{"role": "user", "content": "hi"}]))
    return answer, api


def counting_tool(runs: list[str]) -> Tool:
    async def handler(arguments: dict[str, Any], call_id: str) -> str:
        runs.append(call_id)
        return f"ran {arguments.get('text', '')}"

    return Tool("echo", "Echo", {"type": "object"}, "mcp:fixture", handler)


def recorded(*calls: pb.ToolCall, messages: Sequence[pb.Message] = ()) -> Progress:
    status = pb.ExecutionStatus(tool_calls=calls, messages=[pb.Message(id="human", type=1), *messages])
    return Progress.of(status)


def test_a_resumed_run_reuses_finished_calls_and_runs_only_the_unfinished_one(monkeypatch: pytest.MonkeyPatch) -> None:
    done, running = pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_IN_PROGRESS
    progress = recorded(
        pb.ToolCall(id="call-1-0", name="echo", arguments_json='{"text": "a"}', phase=done, result="ran a"),
        pb.ToolCall(id="call-2-0", name="echo", arguments_json='{"text": "b"}', phase=done, result="ran b"),
        pb.ToolCall(id="call-2-1", name="echo", arguments_json='{"text": "c"}', phase=running),
        messages=[pb.Message(id="agent-1", type=pb.MESSAGE_TYPE_AGENT, content="First a.")],
    )
    runs: list[str] = []
    model = ScriptedModel([Turn("All done.")])

    answer, api = run_loop(model, monkeypatch, tools=[counting_tool(runs)], progress=progress)

    assert runs == ["call-2-1"], "a finished tool call ran again, or the unfinished one did not"
    assert (answer.text, answer.message_id) == ("All done.", "agent-3")
    (request,) = model.requests  # turns 1 and 2 came from the record, not from the model
    assert request[1] == {
        "role": "assistant",
        "content": "First a.",
        "tool_calls": [{"function": {"name": "echo", "arguments": {"text": "a"}}}],
    }
    assert [m["content"] for m in request if m["role"] == "tool"] == ["ran a", "ran b", "ran c"]
    assert [(c.id, c.phase) for u in api.updates for c in u.tool_calls] == [
        ("call-2-1", pb.EXECUTION_PHASE_IN_PROGRESS),
        ("call-2-1", pb.EXECUTION_PHASE_COMPLETED),
    ]


def test_what_a_resumed_run_will_not_reproduce_is_stale() -> None:
    done, running = pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_IN_PROGRESS
    agent = pb.MESSAGE_TYPE_AGENT
    progress = recorded(
        pb.ToolCall(id="call-1-0", name="summarizer", phase=running),  # a sub-agent, interrupted
        pb.ToolCall(id="call-1-0/call-1-0", name="lookup", phase=done),
        pb.ToolCall(id="call-1-0/call-3-0", name="lookup", phase=running),  # no turn 2: never resumed
        pb.ToolCall(id="call-1-1", name="lookup", phase=done),
        pb.ToolCall(id="call-1-1/call-1-0", name="lookup", phase=done),
        pb.ToolCall(id="call-3-0", name="lookup", phase=done),  # after a gap: turn 2 is asked again
        messages=[
            pb.Message(id="agent-1", type=agent, content="Delegating."),
            pb.Message(id="agent-2", type=agent, content="Almost "),
            pb.Message(id="runner-retry", type=pb.MESSAGE_TYPE_SYSTEM, content="attempt 1 failed"),
        ],
    )
    assert progress.stale() == (["agent-2"], ["call-1-0/call-3-0", "call-3-0"])
    assert recorded().stale() == ([], [])


def test_a_tool_call_is_routed_reported_with_stable_ids_and_fed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ScriptedModel(
        [
            Turn("Let me check.", [ToolRequest("echo", {"text": "SECRET"}), ToolRequest("nope", {})]),
            Turn("Done."),
        ]
    )
    answer, api = run_loop(model, monkeypatch)

    assert (answer.text, answer.message_id, answer.turns) == ("Done.", "agent-2", 2)
    pending, in_progress, completed, failed = (
        pb.EXECUTION_PHASE_PENDING,
        pb.EXECUTION_PHASE_IN_PROGRESS,
        pb.EXECUTION_PHASE_COMPLETED,
        pb.EXECUTION_PHASE_FAILED,
    )
    # the turn is recorded (every requested call PENDING, with its text) before any call runs
    assert [(m.id, m.content) for m in api.updates[-6].messages] == [("agent-1", "Let me check.")]
    assert api.tool_calls() == [
        ("call-1-0", "echo", "mcp:fixture", pending, "", False),
        ("call-1-1", "nope", "unknown", pending, "", False),
        ("call-1-0", "echo", "mcp:fixture", in_progress, "", False),
        ("call-1-0", "echo", "mcp:fixture", completed, "echo ***", False),
        ("call-1-1", "nope", "unknown", in_progress, "", False),
        ("call-1-1", "nope", "unknown", failed, "error: there is no tool named 'nope'; the tools are: echo", True),
    ]
    arguments = [json.loads(c.arguments_json) for u in api.updates for c in u.tool_calls]
    assert arguments[0] == {"text": "***"}
    second_request = model.requests[1]
    assert second_request[1]["tool_calls"][0]["function"] == {"name": "echo", "arguments": {"text": "SECRET"}}
    assert second_request[2:] == [
        {"role": "tool", "content": "echo ***", "tool_name": "echo"},
        {"role": "tool", "content": "error: there is no tool named 'nope'; the tools are: echo", "tool_name": "nope"},
    ]
    assert ("agent-1", "Let me check.") in api.messages()


def test_the_loop_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ScriptedModel([Turn("", [ToolRequest("echo", {})]) for _ in range(3)])
    with pytest.raises(MaxTurnsError, match="no final answer within 3 turns"):
        run_loop(model, monkeypatch, max_turns=3)


def test_streamed_text_grows_under_one_message_id(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "word " * 100
    model = ScriptedModel([Turn(text, [ToolRequest("echo", {})]), Turn("ok")], pieces=50)
    _, api = run_loop(model, monkeypatch)
    streamed = [content for message_id, content in api.messages() if message_id == "agent-1"]
    assert streamed[-1] == text
    assert all(text.startswith(part) for part in streamed)
    assert len(streamed) < 50, "every token became an update: the stream is not throttled"


def test_throttle_reports_on_time_or_size() -> None:
    now = [0.0]
    throttle = Throttle(interval=0.1, chars=200, clock=lambda: now[0])
    assert throttle.due(1)
    throttle.mark(1)
    assert not throttle.due(50)
    now[0] = 0.1
    assert throttle.due(50)
    throttle.mark(50)
    assert throttle.due(250)
    assert not throttle.due(50)


def test_tools_with_the_same_name_get_their_source_in_front() -> None:
    box = ToolBox([echo_tool(), echo_tool(source="mcp:other-server")])
    assert box.names() == ["echo", "other_server__echo"]
    assert [s["function"]["name"] for s in box.schemas()] == ["echo", "other_server__echo"]


def test_output_is_a_response_object() -> None:
    assert json.loads(response_output('say "hi"')) == {"response": 'say "hi"'}
