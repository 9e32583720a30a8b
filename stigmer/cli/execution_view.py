"""The text view of a running execution (``stigmer run``), as the platform prints it.

Pure logic over execution messages (no gRPC, no I/O), so what a terminal shows is easy to test.

Each Subscribe message is a whole state of the execution; :meth:`ExecutionView.update` returns the text
for what changed since the previous one:

- phase lines, once each: ``⏳ Execution pending...`` only when the engine has not taken the execution
  within ``PENDING_AFTER_SECONDS`` of the view's first sight of it, or the server says why it waits (the
  reason, without its attempt count); ``▶️ Execution started``;
- messages by ID. The agent-runner reports one message again and again with growing content: the view
  prints ``🤖 Agent: `` and the text so far, then only what was appended, on the same line. The line
  ends when another item is printed or the execution ends, so a streamed message reads as it is
  written and, in the end, every character of it was printed exactly once. Text appended after the line
  was ended continues on a new line (``🤖 Agent: …<rest>``); a message rewritten rather than extended is
  printed again whole, marked ``(revised)``. Other messages (human, system) are whole when reported:
  their line ends at once;
- tool calls: ``🔧 Tool: NAME(args)`` when they start and `` → result`` when they finish (on the same
  line when nothing came in between, else as ``🔧 Tool: NAME → result``);
- task statuses by path, on each phase change: ``⚙️ Task: PATH [Running]``, ``✓ Task: PATH
  [Completed]``, ``✗ Task: PATH [Failed]`` + ``  Error: …``, ``⊘ Task: PATH [Skipped]``; a task that ends
  in the same update as tasks inside it (``PATH/...``) gets its line after theirs. A task that started
  (``started_at``) but is first seen ended still gets its Running line, before its end and before the
  lines of the tasks inside it: the view is the same however late it subscribed.

:func:`summary_lines` are the closing lines (outcome, error, duration, counts): each task counts in one
bucket, completed, failed, errors caught (a failed task inside a task that completed: a ``try`` caught its
error), skipped or cancelled (and "not finished" for any left running).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.cli.output import truncate
from stigmer.cli.redaction import Redactor

TERMINAL_PHASES = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)
_DONE_TOOL_PHASES = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)
_ENDED_TASK_PHASES = (*_DONE_TOOL_PHASES, pb.EXECUTION_PHASE_SKIPPED)
TOOL_TEXT_WIDTH = 200  # tool arguments and results are shown on one line, cut to this many characters

AGENT_MESSAGE = pb.MESSAGE_TYPE_AGENT
PENDING_LINE = "⏳ Execution pending..."
# The pending line appears only when the engine takes longer than this to start the execution.
PENDING_AFTER_SECONDS = 1.0
_ATTEMPT_COUNT = re.compile(r"; attempt \d+\)$|\s*\(attempt \d+\)$")
STARTED_LINE = "▶️ Execution started"

_MESSAGE_LABELS = {
    pb.MESSAGE_TYPE_HUMAN: "👤 Human",
    pb.MESSAGE_TYPE_AGENT: "🤖 Agent",
    pb.MESSAGE_TYPE_TOOL: "🔧 Tool",
    pb.MESSAGE_TYPE_SYSTEM: "ℹ️  System",  # two spaces: the info emoji is narrow in most terminals
}

_TASK_MARKS = {
    pb.EXECUTION_PHASE_IN_PROGRESS: ("⚙️", "Running"),
    pb.EXECUTION_PHASE_COMPLETED: ("✓", "Completed"),
    pb.EXECUTION_PHASE_FAILED: ("✗", "Failed"),
    pb.EXECUTION_PHASE_SKIPPED: ("⊘", "Skipped"),
    pb.EXECUTION_PHASE_CANCELLED: ("✗", "Cancelled"),
}


def phase_name(phase: int) -> str:
    """``PENDING``, ``IN_PROGRESS`` ... for an ExecutionPhase value."""
    return pb.ExecutionPhase.Name(phase).removeprefix("EXECUTION_PHASE_")


def is_agent_execution(execution: Any) -> bool:
    return bool(execution.DESCRIPTOR.name == "AgentExecution")


def message_label(message: pb.Message) -> str:
    return _MESSAGE_LABELS.get(message.type, "💬 Message")


def message_line(message: pb.Message) -> str:
    return f"{message_label(message)}: {message.content}"


def tool_call_head(call: pb.ToolCall) -> str:
    """``🔧 Tool: NAME(key=value, ...)``."""
    from stigmer.api import json_values

    try:
        arguments = json_values.loads_object(call.arguments_json)
    except json_values.JsonValueError:
        arguments = {"arguments": call.arguments_json}
    args = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in arguments.items())
    return f"🔧 Tool: {call.name}({truncate(args, TOOL_TEXT_WIDTH)})"


def tool_call_done(call: pb.ToolCall) -> bool:
    if call.phase in _DONE_TOOL_PHASES:
        return True
    return call.phase == pb.EXECUTION_PHASE_UNSPECIFIED and bool(call.result or call.error)


def tool_call_outcome(call: pb.ToolCall) -> str:
    """`` → result`` (`` → error: …`` for a failed call)."""
    failed = call.error or call.phase == pb.EXECUTION_PHASE_FAILED
    result = truncate(call.result, TOOL_TEXT_WIDTH) if call.result else ("failed" if failed else "done")
    return f" → error: {result}" if failed and call.result else f" → {result}"


def tool_call_line(call: pb.ToolCall) -> str:
    """The whole line of a tool call: its head, and its outcome when it is done."""
    return tool_call_head(call) + (tool_call_outcome(call) if tool_call_done(call) else "")


def task_key(task: pb.TaskStatus) -> str:
    return task.path or task.name


def task_lines(task: pb.TaskStatus) -> list[str]:
    """``✓ Task: PATH [Completed]`` ...; a failed task adds ``  Error: …``; nothing for PENDING."""
    mark = _TASK_MARKS.get(task.phase)
    if mark is None:
        return []
    lines = [f"{mark[0]} Task: {task_key(task)} [{mark[1]}]"]
    if task.phase == pb.EXECUTION_PHASE_FAILED and task.error:
        lines.append(f"  Error: {task.error}")
    return lines


def pending_line(dispatch: pb.DispatchState) -> str:
    """The pending line, with why the engine has not taken the execution (without the attempt count,
    which the next attempt makes stale) when the server says so."""
    if dispatch.waiting and dispatch.reason:
        return f"{PENDING_LINE} (waiting for the engine: {dispatch_reason(dispatch.reason)})"
    return PENDING_LINE


def dispatch_reason(reason: str) -> str:
    """The server's waiting reason without the attempt count it ends with (``(retrying; attempt 3)`` ->
    ``(retrying)``): the count is stale at the next attempt, and ``attempts`` has it."""
    return _ATTEMPT_COUNT.sub(lambda m: ")" if m.group(0).startswith(";") else "", reason)


def _is_inside(path: str, parent: str) -> bool:
    return path.startswith(parent + "/")


def children_first(tasks: list[pb.TaskStatus]) -> list[pb.TaskStatus]:
    """``tasks`` in their order, except that a task that ended comes after the tasks inside it."""
    ordered = list(tasks)
    for task in list(ordered):
        if task.phase not in _ENDED_TASK_PHASES:
            continue
        key = task_key(task)
        index = ordered.index(task)
        inside = [i for i, other in enumerate(ordered) if _is_inside(task_key(other), key)]
        if inside and max(inside) > index:
            ordered.insert(max(inside), ordered.pop(index))
    return ordered


class ExecutionView:
    """Remembers what was printed; :meth:`update` returns the text (with newlines) for what is new.

    ``clock`` (seconds) tells when a pending execution has waited ``pending_after`` seconds; call
    :meth:`tick` after that long without an update to print the pending line then.
    """

    def __init__(
        self,
        redactor: Redactor | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        pending_after: float = PENDING_AFTER_SECONDS,
    ) -> None:
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.pending_after = pending_after
        self._first_seen = clock()  # made as the execution is created (run) or looked up (follow)
        self.last: Any = None
        self._full: dict[str, str] = {}  # message key -> its text, as last reported
        self._printed: dict[str, str] = {}  # message key -> the part of it printed so far
        self._tools: dict[str, bool] = {}  # tool call key -> whether its outcome was printed
        self._tasks: dict[str, int] = {}  # task path -> the phase printed last
        self._open: str | None = None  # the item whose line is not ended yet
        self._out: list[str] = []
        self._pending_shown = False
        self._reason_shown = False
        self._started_shown = False

    @property
    def phase(self) -> int:
        return self.last.status.phase if self.last is not None else pb.EXECUTION_PHASE_UNSPECIFIED

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def update(self, execution: Any) -> str:
        """The text for the changes in ``execution`` (an AgentExecution or WorkflowExecution)."""
        self.last = execution
        status = execution.status
        # the prompt the execution was created with comes before its start, however late the view saw it
        for index, message in enumerate(status.messages):
            if message.type != pb.MESSAGE_TYPE_HUMAN:
                break
            self._message(message.id or f"#{index}", message)
        self._phase_lines(status)
        for index, message in enumerate(status.messages):
            self._message(message.id or f"#{index}", message)
        for index, call in enumerate(status.tool_calls):
            self._tool_call(call.id or f"#{index}", call)
        tasks = list(status.tasks)
        for task in children_first(tasks):
            self._started_late(task, tasks)
            self._task(task)
        if self.finished:
            self._end_line()
        return self.flush()

    def tick(self) -> str:
        """The pending line, when the execution is still pending after ``pending_after`` seconds."""
        if self.last is not None:
            self._phase_lines(self.last.status)
        return self.flush()

    def close(self) -> str:
        """The text that ends the view (a line left open, a held-back tail): before anything else is printed."""
        self._end_line()
        return self.flush()

    def flush(self) -> str:
        text, self._out = "".join(self._out), []
        return text

    # --- lines ------------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        self._end_line()
        self._out.append(self.redactor.text(text) + "\n")

    def _start_line(self, key: str, text: str) -> None:
        self._end_line()
        self._out.append(text)
        self._open = key

    def _end_line(self) -> None:
        if self._open is None:
            return
        key, self._open = self._open, None
        if key in self._printed:  # a message: print what was held back, then end its line
            self._out.append(self._unprinted(key))
        self._out.append("\n")

    # --- items ------------------------------------------------------------------------------

    def _phase_lines(self, status: pb.ExecutionStatus) -> None:
        waiting_reason = status.dispatch.reason if status.dispatch.waiting else ""
        if status.phase == pb.EXECUTION_PHASE_PENDING:
            overdue = self.clock() - self._first_seen >= self.pending_after
            if (waiting_reason and not self._reason_shown) or (overdue and not self._pending_shown):
                self._line(pending_line(status.dispatch))
                self._pending_shown = True
                self._reason_shown = bool(waiting_reason)
            return
        ran = status.phase == pb.EXECUTION_PHASE_IN_PROGRESS or status.HasField("started_at")
        if ran and not self._started_shown:
            self._line(STARTED_LINE)
            self._started_shown = True

    def _message(self, key: str, message: pb.Message) -> None:
        text = self.redactor.text(message.content)
        label = message_label(message)
        seen = self._full.get(key)
        if seen is None:
            self._printed[key] = ""
            self._start_line(key, f"{label}: ")
        elif text == seen:
            return
        elif not text.startswith(self._printed[key]):  # rewritten, not extended: print it again, whole
            self._start_line(key, f"{label} (revised): ")
            self._printed[key] = ""
        elif self._open != key:  # more text after its line was ended
            self._start_line(key, f"{label}: …")
        self._full[key] = text
        printable = len(text) - self.redactor.unsafe_tail(text)  # hold back what may start a secret
        printed = len(self._printed[key])
        if printable > printed:
            self._out.append(text[printed:printable])
            self._printed[key] = text[:printable]
        if message.type != AGENT_MESSAGE:  # only the agent streams: other messages are whole when reported
            self._end_line()

    def _unprinted(self, key: str) -> str:
        text = self._full[key]
        rest = text[len(self._printed[key]) :]
        self._printed[key] = text
        return rest

    def _tool_call(self, key: str, call: pb.ToolCall) -> None:
        outcome_shown = self._tools.get(key)
        done = tool_call_done(call)
        if outcome_shown is None:
            if done:
                self._line(tool_call_line(call))
            else:
                self._start_line(key, self.redactor.text(tool_call_head(call)))
            self._tools[key] = done
        elif not outcome_shown and done:
            if self._open == key:
                self._out.append(self.redactor.text(tool_call_outcome(call)) + "\n")
                self._open = None
            else:
                self._line(f"🔧 Tool: {call.name}{tool_call_outcome(call)}")
            self._tools[key] = True

    def _started_late(self, task: pb.TaskStatus, tasks: list[pb.TaskStatus]) -> None:
        """The Running line of a task first seen already ended (it ran between two states the view got, or
        before the view subscribed), and first those of the tasks around it in the same case: every task
        that ran shows its start, whatever the timing."""
        key = task_key(task)
        for outer in [*(t for t in tasks if _is_inside(key, task_key(t))), task]:
            outer_key = task_key(outer)
            unseen = outer_key not in self._tasks and outer.phase in _DONE_TOOL_PHASES
            if unseen and outer.HasField("started_at"):
                self._tasks[outer_key] = pb.EXECUTION_PHASE_IN_PROGRESS
                self._line(f"{_TASK_MARKS[pb.EXECUTION_PHASE_IN_PROGRESS][0]} Task: {outer_key} [Running]")

    def _task(self, task: pb.TaskStatus) -> None:
        key = task_key(task)
        if self._tasks.get(key) == task.phase:
            return
        self._tasks[key] = task.phase
        for line in task_lines(task):
            self._line(line)


def duration_text(execution: Any) -> str:
    """How long the execution ran (start to completion), e.g. ``1.2s`` or ``2m03.4s``; ``-`` when unknown."""
    status = execution.status
    start = status.started_at if status.HasField("started_at") else execution.metadata.created_at
    if not status.HasField("completed_at") or not (start.seconds or start.nanos):
        return "-"
    seconds = max(0.0, (status.completed_at.ToNanoseconds() - start.ToNanoseconds()) / 1e9)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes:02d}m{int(rest):02d}s"


def error_text(status: pb.ExecutionStatus) -> str:
    """The execution's error for people: its error, else its ErrorInfo's title and detail."""
    if status.error:
        return status.error
    info = status.error_info
    text = ": ".join(part for part in (info.title, info.detail) if part)
    return text or "no error message was reported"


def summary_lines(execution: Any) -> list[str]:
    """The closing lines: outcome (and error), duration, and the counts of the execution's kind."""
    status = execution.status
    if status.phase == pb.EXECUTION_PHASE_COMPLETED:
        lines = ["✅ Execution completed"]
    elif status.phase == pb.EXECUTION_PHASE_FAILED:
        lines = ["❌ Execution failed", f"Error: {error_text(status)}"]
    elif status.phase == pb.EXECUTION_PHASE_CANCELLED:
        lines = ["⛔ Execution cancelled"]
    else:
        lines = [f"Execution {phase_name(status.phase)}"]
    lines.append(f"Duration: {duration_text(execution)}")
    if is_agent_execution(execution):
        return [*lines, f"Total messages: {len(status.messages)}", f"Tool calls: {len(status.tool_calls)}"]
    counts = task_counts(list(status.tasks))
    lines += [f"Total tasks: {len(status.tasks)}", *(f"{bucket}: {counts[bucket]}" for bucket in _BUCKETS)]
    if counts[NOT_FINISHED]:
        lines.append(f"{NOT_FINISHED}: {counts[NOT_FINISHED]}")
    return lines


CAUGHT = "Errors caught"
NOT_FINISHED = "Not finished"
_BUCKETS = ("Completed", "Failed", CAUGHT, "Skipped", "Cancelled")
_BUCKET_OF = {
    pb.EXECUTION_PHASE_COMPLETED: "Completed",
    pb.EXECUTION_PHASE_FAILED: "Failed",
    pb.EXECUTION_PHASE_SKIPPED: "Skipped",
    pb.EXECUTION_PHASE_CANCELLED: "Cancelled",
}


def task_counts(tasks: list[pb.TaskStatus]) -> dict[str, int]:
    """How many tasks fall in each bucket of the summary; each task in exactly one. A failed task inside
    a task that completed had its error caught (only a ``try`` completes around a failure)."""
    completed = [task_key(t) for t in tasks if t.phase == pb.EXECUTION_PHASE_COMPLETED]
    counts = dict.fromkeys((*_BUCKETS, NOT_FINISHED), 0)
    for task in tasks:
        bucket = _BUCKET_OF.get(task.phase, NOT_FINISHED)
        if bucket == "Failed" and any(_is_inside(task_key(task), parent) for parent in completed):
            bucket = CAUGHT
        counts[bucket] += 1
    return counts
