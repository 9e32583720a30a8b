"""The `stigmer run` view over constructed execution states: phase lines, streamed messages, tool calls,
task lines by path, the summary, and secrets kept out of it all."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.agent_pb2 import AgentSpec
from stigmer.api.v1.common_pb2 import EnvVar
from stigmer.cli.execution_view import ExecutionView, summary_lines
from stigmer.cli.redaction import Redactor
from stigmer.cli.resource_views import describe_execution, resource_dict
from stigmer.cli.runtime_env import MASK

PENDING, RUNNING = pb.EXECUTION_PHASE_PENDING, pb.EXECUTION_PHASE_IN_PROGRESS
COMPLETED, FAILED = pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED
CANCELLED, SKIPPED = pb.EXECUTION_PHASE_CANCELLED, pb.EXECUTION_PHASE_SKIPPED
AGENT_MESSAGE = pb.MESSAGE_TYPE_AGENT


def ts(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def agent_execution(phase: int = RUNNING) -> pb.AgentExecution:
    execution = pb.AgentExecution()
    execution.metadata.id = "aex-1"
    execution.status.phase = phase
    return execution


def grow(execution: pb.AgentExecution, message_id: str, content: str) -> pb.AgentExecution:
    """The runner's upsert: the message with this ID now has ``content``."""
    for message in execution.status.messages:
        if message.id == message_id:
            message.content = content
            return execution
    execution.status.messages.add(id=message_id, type=AGENT_MESSAGE, content=content)
    return execution


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_quick_dispatch_shows_no_pending_line() -> None:
    clock = Clock()
    view = ExecutionView(clock=clock)
    assert view.update(agent_execution(PENDING)) == ""
    clock.now += 0.5
    assert view.tick() == ""
    assert view.update(agent_execution(RUNNING)) == "▶️ Execution started\n"


def test_phase_lines_once_each_with_the_dispatch_reason_once_without_its_attempt_count() -> None:
    clock = Clock()
    view = ExecutionView(clock=clock)
    execution = agent_execution(PENDING)
    assert view.update(execution) == ""
    clock.now += 1.0
    assert view.tick() == "⏳ Execution pending...\n"  # dispatch takes longer than a moment
    assert view.update(execution) == ""
    assert view.tick() == ""
    execution.status.dispatch.waiting = True
    execution.status.dispatch.reason = "Temporal at 127.0.0.1:7233 is unreachable (retrying; attempt 2)"
    execution.status.dispatch.attempts = 2
    waiting = "⏳ Execution pending... (waiting for the engine: Temporal at 127.0.0.1:7233 is unreachable (retrying))\n"
    assert view.update(execution) == waiting
    execution.status.dispatch.attempts = 3
    execution.status.dispatch.reason = "Temporal at 127.0.0.1:7233 is unreachable (retrying; attempt 3)"
    assert view.update(execution) == ""
    execution.status.phase = RUNNING
    execution.status.dispatch.waiting = False
    assert view.update(execution) == "▶️ Execution started\n"
    assert view.update(execution) == ""


def test_the_reason_is_on_the_first_pending_line_when_known_at_once() -> None:
    execution = agent_execution(PENDING)
    execution.status.dispatch.waiting = True
    execution.status.dispatch.reason = "no engine"
    view = ExecutionView()
    assert view.update(execution) == "⏳ Execution pending... (waiting for the engine: no engine)\n"
    assert view.update(execution) == ""


def test_a_parent_task_line_comes_after_the_lines_of_the_tasks_inside_it() -> None:
    execution = pb.WorkflowExecution()
    execution.status.phase = RUNNING
    for path, phase in [
        ("charge", COMPLETED),
        ("charge/submit", FAILED),
        ("charge/catch", COMPLETED),
        ("charge/catch/retry", COMPLETED),
        ("receipt", RUNNING),
    ]:
        execution.status.tasks.add(path=path, phase=phase)
    lines = ExecutionView().update(execution).splitlines()
    assert lines[1:] == [
        "✗ Task: charge/submit [Failed]",
        "✓ Task: charge/catch/retry [Completed]",
        "✓ Task: charge/catch [Completed]",
        "✓ Task: charge [Completed]",
        "⚙️ Task: receipt [Running]",
    ]


def test_a_growing_message_is_streamed_on_one_line_each_character_once() -> None:
    view = ExecutionView()
    execution = agent_execution()
    chunks = [view.update(execution)]
    for content in ("The", "The answer", "The answer is", "The answer is 42."):
        chunks.append(view.update(grow(execution, "m1", content)))
    assert chunks == ["▶️ Execution started\n", "🤖 Agent: The", " answer", " is", " 42."]
    assert view.update(execution) == ""  # the same state again: nothing

    execution.status.tool_calls.add(id="c1", name="lookup", arguments_json='{"q": "x", "n": 2}', phase=RUNNING)
    assert view.update(execution) == '\n🔧 Tool: lookup(q="x", n=2)'  # the message line ends first
    execution.status.tool_calls[0].phase = COMPLETED
    execution.status.tool_calls[0].result = "found it"
    assert view.update(execution) == " → found it\n"

    execution.status.phase = COMPLETED
    assert view.update(execution) == ""
    transcript = "".join(chunks) + '\n🔧 Tool: lookup(q="x", n=2) → found it\n'
    assert transcript.count("The answer is 42.") == 1


def test_text_appended_after_the_line_ended_continues_on_a_new_line() -> None:
    view = ExecutionView()
    execution = grow(agent_execution(), "m1", "Let me check")
    view.update(execution)
    execution.status.tool_calls.add(id="c1", name="search", arguments_json="{}", result="3 hits")
    assert view.update(execution) == "\n🔧 Tool: search() → 3 hits\n"
    assert view.update(grow(execution, "m1", "Let me check. Found 3.")) == "🤖 Agent: …. Found 3."
    execution.status.phase = COMPLETED
    assert view.update(execution) == "\n"


def test_a_rewritten_message_is_printed_again_marked_revised() -> None:
    view = ExecutionView()
    execution = grow(agent_execution(), "m1", "Draft answer")
    view.update(execution)
    assert view.update(grow(execution, "m1", "Final answer")) == "\n🤖 Agent (revised): Final answer"


def test_messages_with_different_ids_are_separate_lines() -> None:
    view = ExecutionView()
    execution = agent_execution()
    execution.status.messages.add(id="h", type=pb.MESSAGE_TYPE_HUMAN, content="Hi")
    grow(execution, "a", "Hello")
    assert view.update(execution) == "👤 Human: Hi\n▶️ Execution started\n🤖 Agent: Hello"


def test_human_and_system_messages_are_whole_lines_at_once() -> None:
    execution = agent_execution(PENDING)
    execution.status.messages.add(id="h", type=pb.MESSAGE_TYPE_HUMAN, content="Hi")
    execution.status.messages.add(id="s", type=pb.MESSAGE_TYPE_SYSTEM, content="Waiting for the engine")
    assert ExecutionView().update(execution) == "👤 Human: Hi\nℹ️  System: Waiting for the engine\n"


def test_a_tool_call_finishing_after_other_output_gets_its_own_result_line() -> None:
    view = ExecutionView()
    execution = agent_execution()
    execution.status.tool_calls.add(id="c1", name="fetch", arguments_json='{"url": "http://x"}', phase=RUNNING)
    view.update(execution)
    grow(execution, "m1", "waiting")
    assert view.update(execution) == "\n🤖 Agent: waiting"
    call = execution.status.tool_calls[0]
    call.phase, call.result, call.error = FAILED, "HTTP 500", True
    assert view.update(execution) == "\n🔧 Tool: fetch → error: HTTP 500\n"


def test_task_lines_by_path_on_each_phase_change() -> None:
    view = ExecutionView()
    execution = pb.WorkflowExecution()
    status = execution.status
    status.phase = RUNNING
    view.update(execution)
    status.tasks.add(path="loop/0/post", name="post", phase=RUNNING)
    status.tasks.add(path="check", name="check", phase=pb.EXECUTION_PHASE_PENDING)
    assert view.update(execution) == "⚙️ Task: loop/0/post [Running]\n"
    status.tasks[0].phase = COMPLETED
    status.tasks[1].phase = SKIPPED
    status.tasks.add(path="loop/1/post", name="post", phase=FAILED, error="HTTP 503 from http://x")
    assert view.update(execution) == (
        "✓ Task: loop/0/post [Completed]\n"
        "⊘ Task: check [Skipped]\n"
        "✗ Task: loop/1/post [Failed]\n"
        "  Error: HTTP 503 from http://x\n"
    )
    assert view.update(execution) == ""


def test_a_task_that_ran_before_the_view_subscribed_still_shows_its_start() -> None:
    execution = pb.WorkflowExecution()
    execution.status.phase = RUNNING
    execution.status.tasks.add(path="issue", phase=COMPLETED, started_at=ts(10), completed_at=ts(10.2))
    execution.status.tasks.add(path="summarize", phase=RUNNING, started_at=ts(10.2))
    execution.status.tasks.add(path="result", phase=PENDING)
    # the same lines as a view that saw every state
    assert ExecutionView().update(execution).splitlines()[1:] == [
        "⚙️ Task: issue [Running]",
        "✓ Task: issue [Completed]",
        "⚙️ Task: summarize [Running]",
    ]


def test_a_parent_first_seen_ended_starts_before_and_ends_after_the_tasks_inside_it() -> None:
    view = ExecutionView()
    execution = pb.WorkflowExecution()
    status = execution.status
    status.phase = RUNNING
    status.tasks.add(path="skipped", phase=SKIPPED)
    status.tasks.add(path="charge", phase=COMPLETED, started_at=ts(1), completed_at=ts(3))
    status.tasks.add(path="charge/submit", phase=FAILED, error="declined", started_at=ts(1), completed_at=ts(2))
    status.tasks.add(path="charge/catch", phase=COMPLETED, started_at=ts(2), completed_at=ts(3))
    assert view.update(execution).splitlines()[1:] == [
        "⊘ Task: skipped [Skipped]",  # never started: no Running line
        "⚙️ Task: charge [Running]",
        "⚙️ Task: charge/submit [Running]",
        "✗ Task: charge/submit [Failed]",
        "  Error: declined",
        "⚙️ Task: charge/catch [Running]",
        "✓ Task: charge/catch [Completed]",
        "✓ Task: charge [Completed]",
    ]
    assert view.update(execution) == "", "a Running line is printed once"


def test_the_prompt_comes_before_the_start_even_when_first_seen_running() -> None:
    execution = agent_execution(RUNNING)
    execution.status.messages.add(id="h1", type=pb.MESSAGE_TYPE_HUMAN, content="Review: def f(): return 1")
    grow(execution, "m1", "Rename f")
    execution.status.messages.add(id="h2", type=pb.MESSAGE_TYPE_HUMAN, content="And g?")
    assert ExecutionView().update(execution).splitlines() == [
        "👤 Human: Review: def f(): return 1",
        "▶️ Execution started",
        "🤖 Agent: Rename f",
        "👤 Human: And g?",  # a later turn stays in its place
    ]


def test_a_first_state_that_is_already_finished_is_shown_whole() -> None:
    execution = grow(agent_execution(COMPLETED), "m1", "Done")
    execution.status.started_at.CopyFrom(ts(10))
    execution.status.completed_at.CopyFrom(ts(12.5))
    view = ExecutionView()
    assert view.update(execution) == "▶️ Execution started\n🤖 Agent: Done\n"
    assert view.finished


def test_a_pending_execution_cancelled_never_says_it_started() -> None:
    view = ExecutionView()
    assert view.update(agent_execution(CANCELLED)) == ""
    assert view.finished


def test_agent_summary() -> None:
    execution = grow(agent_execution(FAILED), "m1", "Sorry")
    execution.status.messages.add(id="h", type=pb.MESSAGE_TYPE_HUMAN, content="Hi")
    execution.status.tool_calls.add(id="c1", name="x")
    execution.status.started_at.CopyFrom(ts(100))
    execution.status.completed_at.CopyFrom(ts(101.25))
    execution.status.error = "model not found"
    assert summary_lines(execution) == [
        "❌ Execution failed",
        "Error: model not found",
        "Duration: 1.2s",
        "Total messages: 2",
        "Tool calls: 1",
    ]


def test_workflow_summary_counts_tasks_by_phase() -> None:
    execution = pb.WorkflowExecution()
    status = execution.status
    status.phase = COMPLETED
    status.started_at.CopyFrom(ts(1000))
    status.completed_at.CopyFrom(ts(1125))
    for path, phase in [
        ("a", COMPLETED),
        ("b", SKIPPED),
        ("c", FAILED),
        ("c/0/d", COMPLETED),
        ("c/1/d", FAILED),
        ("guard", COMPLETED),  # a try that caught the failure of the task inside it
        ("guard/call", FAILED),
        ("guard/catch/note", COMPLETED),
        ("late", CANCELLED),
    ]:
        status.tasks.add(path=path, phase=phase)
    assert summary_lines(execution) == [
        "✅ Execution completed",
        "Duration: 2m05.0s",
        "Total tasks: 9",
        "Completed: 4",
        "Failed: 2",
        "Errors caught: 1",
        "Skipped: 1",
        "Cancelled: 1",
    ]
    status.tasks.add(path="stuck", phase=RUNNING)
    assert summary_lines(execution)[2:] == [
        "Total tasks: 10",
        "Completed: 4",
        "Failed: 2",
        "Errors caught: 1",
        "Skipped: 1",
        "Cancelled: 1",
        "Not finished: 1",
    ]
    status.phase = CANCELLED
    assert summary_lines(execution)[0] == "⛔ Execution cancelled"


def test_a_failure_without_error_text_shows_its_error_info() -> None:
    execution = pb.WorkflowExecution()
    execution.status.phase = FAILED
    execution.status.error_info.title = "Communication error"
    execution.status.error_info.detail = "HTTP 500"
    assert summary_lines(execution)[:3] == [
        "❌ Execution failed",
        "Error: Communication error: HTTP 500",
        "Duration: -",
    ]


def test_secret_values_never_appear_even_when_streamed_in_pieces() -> None:
    view = ExecutionView(Redactor(["hunter2"]))
    execution = agent_execution()
    printed = view.update(execution)
    for content in ("Your token is h", "Your token is hunt", "Your token is hunter2", "Your token is hunter2, ok"):
        printed += view.update(grow(execution, "m1", content))
    execution.status.tool_calls.add(id="c1", name="login", arguments_json='{"token": "hunter2"}', result="hunter2 ok")
    printed += view.update(execution)
    execution.status.phase = COMPLETED
    printed += view.update(execution)
    assert "hun" not in printed
    assert f"🤖 Agent: Your token is {MASK}, ok\n" in printed
    assert f'🔧 Tool: login(token="{MASK}") → {MASK} ok\n' in printed


def test_values_of_declared_secrets_are_masked_in_json_and_text() -> None:
    execution = pb.AgentExecution()
    execution.metadata.id = "aex-1"
    execution.spec.agent.CopyFrom(AgentSpec(env=[EnvVar(name="TOKEN", secret=True, default_value="dflt-secret")]))
    execution.spec.runtime_env["TOKEN"].value = "hunter2"  # given without secret: (an old or careless client)
    execution.spec.runtime_env["REGION"].value = "eu"
    data = resource_dict(execution)
    assert data["spec"]["runtime_env"] == {"REGION": {"value": "eu"}, "TOKEN": {"value": MASK}}
    assert data["spec"]["agent"]["env"][0]["default_value"] == MASK
    text = describe_execution(execution)
    assert "hunter2" not in text and f"TOKEN={MASK}" in text and "REGION=eu" in text


def test_get_execution_shows_dispatch_tasks_and_error_info() -> None:
    execution = pb.WorkflowExecution()
    execution.metadata.id = "wex-1"
    execution.spec.workflow_id, execution.spec.workflow_name, execution.spec.workflow_namespace = "wfl-1", "f", "demo"
    status = execution.status
    status.phase = FAILED
    status.dispatch.task_queue = "stigmer-workflows"
    status.error = "task fetch failed"
    status.error_info.type = "communication"
    status.error_info.status = 503
    status.error_info.instance = "loop/1/fetch"
    status.tasks.add(path="loop/0/fetch", phase=COMPLETED)
    status.tasks.add(path="loop/1/fetch", phase=FAILED, error="HTTP 503")
    status.tasks.add(path="notify", phase=SKIPPED)
    lines = describe_execution(execution).splitlines()
    assert "Workflow:   demo/f (wfl-1)" in lines
    assert "Dispatch:   dispatched on task queue stigmer-workflows" in lines
    assert "Error:      task fetch failed" in lines
    assert "Error info: type communication, status 503, at task loop/1/fetch" in lines
    tasks = lines[lines.index("Tasks:") + 1 :]
    assert tasks == [
        "  ✓ Task: loop/0/fetch [Completed]",
        "  ✗ Task: loop/1/fetch [Failed]",
        "    Error: HTTP 503",
        "  ⊘ Task: notify [Skipped]",
    ]

    status.phase, status.dispatch.waiting, status.dispatch.reason = PENDING, True, "engine unreachable"
    status.dispatch.attempts = 2
    assert "Dispatch:   waiting for the engine: engine unreachable (2 attempt(s))" in describe_execution(execution)
    status.dispatch.reason = "Temporal at 127.0.0.1:7233 is unreachable (retrying; attempt 2)"
    shown = describe_execution(execution)
    assert "waiting for the engine: Temporal at 127.0.0.1:7233 is unreachable (retrying) (2 attempt(s))" in shown
    assert shown.count("attempt") == 1, shown
