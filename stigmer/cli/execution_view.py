"""The text view of a running execution: each new message, tool call and task change once, then a summary.

Pure logic over execution messages (no gRPC), so the lines are easy to test.
"""

from __future__ import annotations

import json
from typing import Any

from stigmer.api.v1 import execution_pb2 as pb

TERMINAL_PHASES = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)

_MESSAGE_LABELS = {
    pb.MESSAGE_TYPE_HUMAN: "👤 Human",
    pb.MESSAGE_TYPE_AGENT: "🤖 Agent",
    pb.MESSAGE_TYPE_TOOL: "🔧 Tool",
    pb.MESSAGE_TYPE_SYSTEM: "ℹ️  System",  # two spaces: the info emoji is narrow in most terminals
}


def phase_name(phase: int) -> str:
    """``PENDING``, ``IN_PROGRESS`` ... for an ExecutionPhase value."""
    return pb.ExecutionPhase.Name(phase).removeprefix("EXECUTION_PHASE_")


def message_line(message: pb.Message) -> str:
    label = _MESSAGE_LABELS.get(message.type, "💬 Message")
    return f"{label}: {message.content}"


def tool_call_line(call: pb.ToolCall) -> str:
    from stigmer.api import json_values

    try:
        arguments = json_values.loads_object(call.arguments_json)
    except json_values.JsonValueError:
        arguments = {"arguments": call.arguments_json}
    args = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in arguments.items())
    line = f"🔧 Tool: {call.name}({args})"
    if call.result:
        line += f" → {'error: ' if call.error else ''}{call.result}"
    return line


def task_line(task: pb.TaskStatus) -> str | None:
    if task.phase == pb.EXECUTION_PHASE_IN_PROGRESS:
        return f"▶ Task {task.name} started"
    if task.phase == pb.EXECUTION_PHASE_COMPLETED:
        return f"✓ Task {task.name} completed"
    if task.phase == pb.EXECUTION_PHASE_FAILED:
        return f"✗ Task {task.name} failed: {task.error}" if task.error else f"✗ Task {task.name} failed"
    if task.phase == pb.EXECUTION_PHASE_CANCELLED:
        return f"✗ Task {task.name} cancelled"
    return None


class ExecutionView:
    """Remembers what was shown; :meth:`update` returns only the lines for what is new."""

    def __init__(self) -> None:
        self.messages_seen = 0
        self.tool_calls_seen = 0
        self.task_phases: dict[str, int] = {}
        self.last: Any = None

    @property
    def phase(self) -> int:
        return self.last.status.phase if self.last is not None else pb.EXECUTION_PHASE_UNSPECIFIED

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def update(self, execution: Any) -> list[str]:
        """Lines for the messages, tool calls and task changes not shown yet (an AgentExecution or
        WorkflowExecution)."""
        self.last = execution
        status = execution.status
        lines = [message_line(m) for m in status.messages[self.messages_seen :]]
        self.messages_seen = max(self.messages_seen, len(status.messages))
        lines += [tool_call_line(c) for c in status.tool_calls[self.tool_calls_seen :]]
        self.tool_calls_seen = max(self.tool_calls_seen, len(status.tool_calls))
        for task in status.tasks:
            if self.task_phases.get(task.name) != task.phase:
                self.task_phases[task.name] = task.phase
                line = task_line(task)
                if line:
                    lines.append(line)
        return lines


def duration_text(execution: Any) -> str:
    """How long the execution ran (start to completion), e.g. ``1.2s`` or ``2m03.4s``."""
    status = execution.status
    start = status.started_at if status.HasField("started_at") else execution.metadata.created_at
    if not status.HasField("completed_at") or not (start.seconds or start.nanos):
        return "-"
    seconds = max(0.0, (status.completed_at.ToNanoseconds() - start.ToNanoseconds()) / 1e9)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def summary_lines(execution: Any) -> list[str]:
    """The closing lines: outcome, error, duration and counts."""
    status = execution.status
    if status.phase == pb.EXECUTION_PHASE_COMPLETED:
        lines = ["✅ Execution completed"]
    elif status.phase == pb.EXECUTION_PHASE_FAILED:
        lines = ["❌ Execution failed", f"Error: {status.error or 'no error message was reported'}"]
    elif status.phase == pb.EXECUTION_PHASE_CANCELLED:
        lines = ["⛔ Execution cancelled"]
    else:
        lines = [f"Execution {phase_name(status.phase)}"]
    return [
        *lines,
        f"Duration: {duration_text(execution)}",
        f"Total messages: {len(status.messages)}",
        f"Tool calls: {len(status.tool_calls)}",
    ]
