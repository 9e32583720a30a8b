"""The agent-runner on a real Temporal dev server, against an in-process stigmer-server, the LLM
stand-in and an MCP fixture server: what an execution reports, and what never leaves the runner."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from stigmer.agent_runner import TASK_QUEUE
from stigmer.agent_runner.settings import RunnerSettings
from stigmer.api.error_types import ERROR_TYPES
from stigmer.api.v1 import agent_pb2
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import EnvVar, Ref
from stigmer.config import Settings
from stigmer.server.serve import StigmerServer, build_server
from support.client import authorized_channel
from support.faults.llm import rate_limited
from support.llm_standin import LLMStandin, Match, Rule, ToolCall, ToolCalls, reply, tool_call
from support.llm_standin.rules import BrokenStream, Reply, ToolLoop
from support.ports import LOOPBACK, free_port
from support.waits import ProcessDiedError, eventually
from tests.unit.agent_runner_stack import (
    MCP_FIXTURE,
    Api,
    RunnerProcess,
    Temporal,
    stigmer_server,
    temporal_dev_server,
)

SECRET = "tok-Zq8sWv3NxK"
LEAD = "You are the research lead."
SUMMARIZER = "You summarize findings."


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Temporal]:
    with temporal_dev_server(tmp_path_factory.mktemp("temporal")) as running:
        yield running


@pytest.fixture
def llm() -> Iterator[LLMStandin]:
    with LLMStandin() as standin:
        yield standin


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StigmerServer]:
    with stigmer_server(tmp_path / "home") as running:
        yield running


@pytest.fixture
def api(server: StigmerServer) -> Iterator[Api]:
    with authorized_channel(server.address, server.home, as_runner=True) as channel:
        yield Api(channel)


@pytest.fixture
def settings(tmp_path: Path, server: StigmerServer, temporal: Temporal, llm: LLMStandin) -> RunnerSettings:
    return RunnerSettings(
        home=tmp_path / "home", server_addr=server.address, temporal_addr=temporal.address, ollama_host=llm.url
    )


def lead_agent(record: Path) -> agent_pb2.AgentSpec:
    return agent_pb2.AgentSpec(
        instructions=LEAD,
        model="llama3.2:1b",
        skills=[agent_pb2.Skill(name="methods", description="How to research", markdown="# Methods\nCite sources.")],
        mcp_servers=[
            agent_pb2.McpServer(
                name="fixture",
                stdio=agent_pb2.StdioServer(
                    command=sys.executable,
                    args=[str(MCP_FIXTURE), str(record)],
                    env={"FIXTURE_AUTH": "Bearer ${ $env.API_TOKEN }", "API_TOKEN": "${ $env.API_TOKEN }"},
                ),
                enabled_tools=["lookup"],
            )
        ],
        sub_agents=[agent_pb2.SubAgent(name="summarizer", description="Condenses findings", instructions=SUMMARIZER)],
        env=[
            EnvVar(name="API_TOKEN", secret=True, required=True),
            EnvVar(name="REGION", default_value="eu-west-1"),
        ],
    )


def run(temporal: Temporal, api: Api, queue: str, agent: str, message: str, **fields: object) -> pb.AgentExecution:
    """Create an execution, dispatch it as the server would, and return it once its workflow ended."""
    created = api.create(agent, message, **fields)
    handle = temporal.start_execution(created.metadata.id, queue)
    with contextlib.suppress(WorkflowFailureError):
        temporal.result(handle)
    return api.get(created.metadata.id)


def test_an_agent_with_tools_mcp_and_a_sub_agent_completes_and_keeps_its_secret(
    temporal: Temporal,
    api: Api,
    llm: LLMStandin,
    settings: RunnerSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    record = tmp_path / "mcp-record.json"
    api.deploy("research-lead", lead_agent(record))
    llm.add_rules(
        reply("Summary: cite two sources.", system_contains=SUMMARIZER),
        Rule(
            Match(system_contains=LEAD, after_tool=False),
            ToolCalls(
                (
                    ToolCall("write_file", {"path": "notes/plan.md", "content": "step 1"}),
                    ToolCall("lookup", {"key": "k1"}),
                    ToolCall("summarizer", {"message": "Summarize k1"}),
                ),
                text="Working on it.",
            ),
            times=1,
        ),
        reply(f"All done (the token was {SECRET}). " + "Details. " * 60, system_contains=LEAD, after_tool=True),
    )
    config = pb.ExecutionConfig(model="qwen2.5:0.5b", temperature=0.3, timeout_seconds=90)
    runtime_env = {"API_TOKEN": pb.RuntimeEnvValue(value=SECRET, secret=True)}

    with temporal.worker(settings) as queue:
        started = time.monotonic()
        created = api.create("research-lead", "Research k1", config=config, runtime_env=runtime_env)
        handle = temporal.start_execution(created.metadata.id, queue)
        assert temporal.result(handle) == "COMPLETED"
        elapsed = time.monotonic() - started
    execution = api.get(created.metadata.id)
    status = execution.status

    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    assert status.HasField("started_at") and status.HasField("completed_at")
    final = status.messages[-1]
    assert (final.id, final.type) == ("agent-2", pb.MESSAGE_TYPE_AGENT)
    assert final.content.startswith("All done (the token was ***). Details.")
    assert json.loads(status.output_json) == {"response": final.content}
    assert [(m.id, m.content) for m in status.messages if m.id == "agent-1"] == [("agent-1", "Working on it.")]
    calls = [(c.id, c.name, c.source, c.phase, c.error) for c in status.tool_calls]
    done = pb.EXECUTION_PHASE_COMPLETED
    assert calls == [
        ("call-1-0", "write_file", "builtin", done, False),
        ("call-1-1", "lookup", "mcp:fixture", done, False),
        ("call-1-2", "summarizer", "sub-agent:summarizer", done, False),
    ]
    assert [c.result for c in status.tool_calls][1:] == ["value-of-k1", "Summary: cite two sources."]
    assert (settings.workspace_root / created.metadata.id / "notes" / "plan.md").read_text() == "step 1"

    chats = llm.chats()
    top = [c for c in chats if LEAD in c.messages[0]["content"]]
    sub = [c for c in chats if SUMMARIZER in c.messages[0]["content"]]
    assert len(top) == 2 and len(sub) == 1
    assert {c.body["model"] for c in chats} == {"qwen2.5:0.5b"}, "per-call model (inherited by the sub-agent)"
    assert all(c.body["options"]["temperature"] == 0.3 for c in chats)
    system = top[0].messages[0]["content"]
    assert "# Methods\nCite sources." in system and "- summarizer: Condenses findings" in system
    assert "- API_TOKEN (secret, value hidden)\n- REGION" in system
    assert {t["function"]["name"] for t in top[0].body["tools"]} == {
        "list_files",
        "read_file",
        "write_file",
        "lookup",
        "summarizer",
    }

    fixture = json.loads(record.read_text())
    assert fixture["env"]["FIXTURE_AUTH"] == f"Bearer {SECRET}"
    # the MCP server gets only the variables its definition names, not the rest of the runtime env
    assert fixture["env"]["API_TOKEN"] == SECRET and "REGION" not in fixture["env"], sorted(fixture["env"])
    assert fixture["calls"] == [
        {
            "tool": "lookup",
            "key": "k1",
            "cwd": str(settings.workspace_root / created.metadata.id),
            "idempotency_key": f"{created.metadata.id}/call-1-1",
        }
    ]

    assert SECRET not in temporal.history_json(handle), "a secret reached the Temporal history"
    assert SECRET not in str(status) and SECRET not in status.output_json
    assert SECRET not in caplog.text, "a secret reached the runner's log"
    stderr = capfd.readouterr().err
    assert "[mcp:fixture] fixture started with token ***" in stderr
    assert SECRET not in stderr, "an MCP server's stderr leaked a secret into the runner's log"
    print(f"agent run create -> COMPLETED: {elapsed:.2f} s")


def test_an_unknown_model_fails_with_how_to_pull_it(temporal: Temporal, api: Api, settings: RunnerSettings) -> None:
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="no-such-model:7b"))
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "helper", "Hi")
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert "model 'no-such-model:7b' is not available" in execution.status.error
    assert "ollama pull no-such-model:7b" in execution.status.error


def test_an_unreachable_llm_fails_after_retries_saying_how_to_start_it(
    temporal: Temporal, api: Api, settings: RunnerSettings
) -> None:
    nobody = f"http://{LOOPBACK}:{free_port()}"
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    with temporal.worker(replace(settings, ollama_host=nobody)) as queue:
        execution = run(temporal, api, queue, "helper", "Hi")
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert f"cannot reach the LLM at {nobody}: start Ollama with `ollama serve`" in execution.status.error
    assert "OLLAMA_HOST=" in execution.status.error


def test_a_retried_run_duplicates_nothing(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    api.deploy("writer", agent_pb2.AgentSpec(instructions="Write.", model="llama3.2:1b"))
    llm.add_rules(
        Rule(Match(after_tool=True), BrokenStream("Almost", after=1), times=1),
        Rule(Match(), ToolLoop("write_file", {"path": "a.txt", "content": "x"}, "Wrote it.")),
    )
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "writer", "Write a.txt")
    status = execution.status
    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    # attempt 1: turn 1 (the tool call), turn 2 broke off; attempt 2 resumed at turn 2 from the record
    assert len(llm.chats()) == 3, "the retried attempt asked the model for a turn that was recorded"
    assert [c.id for c in status.tool_calls] == ["call-1-0"]
    # attempt 1 streamed "Almost" into agent-2 before the stream broke; attempt 2 dropped it and answered
    assert [m.id for m in status.messages] == ["human", "runner-retry", "agent-2"]
    assert status.messages[1].content.startswith("attempt 1 failed, retrying: the LLM at ")
    assert status.messages[2].content == "Wrote it."
    assert status.attempt == 2


def mcp_agent(record: Path) -> agent_pb2.AgentSpec:
    return agent_pb2.AgentSpec(
        instructions=LEAD,
        model="llama3.2:1b",
        mcp_servers=[
            agent_pb2.McpServer(
                name="fixture",
                stdio=agent_pb2.StdioServer(command=sys.executable, args=[str(MCP_FIXTURE), str(record)]),
                enabled_tools=["lookup"],
            )
        ],
    )


def test_a_retry_that_takes_a_shorter_path_resumes_and_replaces_what_the_first_attempt_left(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings, tmp_path: Path
) -> None:
    """Attempt 1 looks k1 up, then dies mid-stream of a turn heading for more lookups; attempt 2 answers."""
    record = tmp_path / "mcp-record.json"
    api.deploy("researcher", mcp_agent(record))
    first_plan = "Almost there: next I will look up k2 and k3, then compare all three values in a table."
    llm.add_rules(
        Rule(Match(after_tool=False), ToolCalls((ToolCall("lookup", {"key": "k1"}),))),
        Rule(Match(after_tool=True), BrokenStream(first_plan, after=3), times=1),
        reply("Short answer: {result}.", after_tool=True),
    )
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "researcher", "Research k1")
    status = execution.status

    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    calls = json.loads(record.read_text())["calls"]
    assert [(c["tool"], c["key"]) for c in calls] == [("lookup", "k1")], "the finished MCP call ran again"
    assert calls[0]["idempotency_key"] == f"{execution.metadata.id}/call-1-0"
    assert [(c.id, c.phase, c.result) for c in status.tool_calls] == [
        ("call-1-0", pb.EXECUTION_PHASE_COMPLETED, "value-of-k1")
    ]
    assert len(llm.chats()) == 3, "turn 1 was asked of the model again instead of resumed"
    resumed = llm.chats()[-1]
    assert [m["role"] for m in resumed.messages] == ["system", "user", "assistant", "tool"]
    assert resumed.messages[-1]["content"] == "value-of-k1"
    assert not [m for m in status.messages if "Almost" in m.content], "attempt 1's partial text stayed"
    answer = "Short answer: value-of-k1."
    assert [(m.id, m.content) for m in status.messages if m.type == pb.MESSAGE_TYPE_AGENT] == [("agent-2", answer)]
    assert json.loads(status.output_json) == {"response": answer}


def test_a_finished_execution_dispatched_again_changes_nothing(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    with temporal.worker(settings) as queue:
        first = run(temporal, api, queue, "helper", "Hi")
        handle = temporal.loop.run(
            temporal.client.start_workflow(
                "AgentExecution", first.metadata.id, id=first.metadata.id + "-again", task_queue=queue
            )
        )
        assert temporal.result(handle) == "COMPLETED"
    assert api.get(first.metadata.id) == first
    assert len(llm.chats()) == 1


def test_a_cancelled_execution_is_reported_cancelled(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    llm.add_rules(reply("slow " * 50, chunks=50, chunk_delay=1.0))
    with temporal.worker(settings) as queue:
        created = api.create("helper", "Take your time")
        handle = temporal.start_execution(created.metadata.id, queue)

        def streaming() -> None:
            messages = api.get(created.metadata.id).status.messages
            assert any(m.id == "agent-1" for m in messages), "no streamed text yet"

        eventually(streaming, timeout=30, interval=0.1)
        temporal.loop.run(handle.cancel())
        with pytest.raises(WorkflowFailureError):
            temporal.result(handle)
    status = api.get(created.metadata.id).status
    assert status.phase == pb.EXECUTION_PHASE_CANCELLED
    streamed = next(m.content for m in status.messages if m.id == "agent-1")
    assert streamed.startswith("slow ") and len(streamed) < len("slow " * 50)


def _streaming(api: Api, execution_id: str) -> None:
    messages = api.get(execution_id).status.messages
    assert any(m.id == "agent-1" for m in messages), "no streamed text yet"


def test_a_run_that_completes_after_a_cancel_was_acknowledged_returns_the_cancelled_phase_the_store_recorded(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    # the cancel is acknowledged by the server, but does not reach the workflow in time: the answer
    # arrives, the execution ends CANCELLED, and the workflow must say so too (not COMPLETED)
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    llm.add_rules(reply("slow " * 8, chunks=8, chunk_delay=0.4))
    with temporal.worker(settings) as queue:
        created = api.create("helper", "Take your time")
        handle = temporal.start_execution(created.metadata.id, queue)
        eventually(lambda: _streaming(api, created.metadata.id), timeout=30, interval=0.1)
        api.executions.Cancel(Ref(value=created.metadata.id), timeout=10)
        returned = temporal.result(handle)
    stored = api.get(created.metadata.id).status
    assert (stored.phase, stored.cancel_requested) == (pb.EXECUTION_PHASE_CANCELLED, True)
    assert returned == "CANCELLED"


def test_a_run_whose_execution_ended_meanwhile_returns_the_phase_the_store_recorded(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    # seen in the cancel-during-faults tier: a child cancelled while its run started ended CANCELLED in
    # the store, and its workflow COMPLETED returning "FINISHED" (a store/Temporal disagreement)
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    llm.add_rules(reply("slow " * 8, chunks=8, chunk_delay=0.4))
    with temporal.worker(settings) as queue:
        created = api.create("helper", "Take your time")
        handle = temporal.start_execution(created.metadata.id, queue)
        eventually(lambda: _streaming(api, created.metadata.id), timeout=30, interval=0.1)
        ended = pb.UpdateStatusRequest(execution_id=created.metadata.id, phase=pb.EXECUTION_PHASE_CANCELLED)
        api.executions.UpdateStatus(ended, timeout=10)
        returned = temporal.result(handle)
    assert api.get(created.metadata.id).status.phase == pb.EXECUTION_PHASE_CANCELLED
    assert returned == "CANCELLED"


def test_endless_tool_calls_fail_after_ten_turns(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    api.deploy("looper", agent_pb2.AgentSpec(instructions="Loop.", model="llama3.2:1b"))
    llm.add_rules(tool_call("list_files", {}))
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "looper", "Go")
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert "gave no final answer within 10 turns" in execution.status.error
    assert len(execution.status.tool_calls) == 10


def test_a_docker_mcp_server_without_an_engine_fails_clearly(
    temporal: Temporal, api: Api, settings: RunnerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the engine is reached through its API (DOCKER_HOST), not the docker command: point it at nothing
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    server = agent_pb2.McpServer(name="files", docker=agent_pb2.DockerServer(image="mcp/filesystem:latest"))
    api.deploy("boxed", agent_pb2.AgentSpec(instructions="Files.", model="llama3.2:1b", mcp_servers=[server]))
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "boxed", "List")
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert "MCP server 'files' needs a Docker engine" in execution.status.error


def test_a_missing_runtime_value_fails_naming_it(
    temporal: Temporal, api: Api, settings: RunnerSettings, tmp_path: Path
) -> None:
    spec = lead_agent(tmp_path / "record.json")
    del spec.env[:]
    api.deploy("research-lead", spec)
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "research-lead", "Hi")
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert "reads ${ $env.API_TOKEN } but the execution has no API_TOKEN" in execution.status.error


def runner_process(
    home: Path, server: StigmerServer, temporal: Temporal, llm_url: str, log: Path, **extra: str
) -> RunnerProcess:
    environ = {"STIGMER_SERVER_ADDR": server.address, "STIGMER_TEMPORAL_ADDR": temporal.address, "OLLAMA_HOST": llm_url}
    return RunnerProcess(home, {**environ, **extra}, log)


# The exit crash (temporalio/sdk-python#300) hits 20-30% of short-lived processes: 5 cycles catch it with
# a 99% chance or more; STIGMER_RUNNER_EXIT_CYCLES=20 (or more) for a longer proof.
EXIT_CYCLES = int(os.environ.get("STIGMER_RUNNER_EXIT_CYCLES", "5"))


@pytest.mark.timeout(900)
def test_the_worker_process_is_ready_then_exits_cleanly_every_time(
    temporal: Temporal, server: StigmerServer, llm: LLMStandin, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    codes = []
    for cycle in range(EXIT_CYCLES):
        runner = runner_process(home, server, temporal, llm.url, tmp_path / f"runner-{cycle}.log")
        try:
            runner.wait_ready()
            codes.append(runner.stop())
        finally:
            runner.close()
        assert not runner.ready_file.exists(), "the ready file outlived the worker"
    assert codes == [0] * EXIT_CYCLES, [f"cycle {n}: exit {code}" for n, code in enumerate(codes) if code]


def test_the_worker_process_runs_an_agent_with_the_stack_model_and_keeps_the_secret_out_of_its_log(
    temporal: Temporal, server: StigmerServer, api: Api, llm: LLMStandin, tmp_path: Path
) -> None:
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="gpt-4"))
    llm.add_rules(reply(f"Your key is {SECRET}."))
    ready = tmp_path / "daemon-run" / "agent-runner.ready"
    runner = runner_process(
        tmp_path / "home",
        server,
        temporal,
        llm.url,
        tmp_path / "runner.log",
        STIGMER_LLM_MODEL="qwen2.5:0.5b",
        STIGMER_READY_FILE=str(ready),
    )
    try:
        runner.wait_ready()
        created = api.create("helper", "Key?", runtime_env={"KEY": pb.RuntimeEnvValue(value=SECRET, secret=True)})
        handle = temporal.start_execution(created.metadata.id, TASK_QUEUE)
        assert temporal.result(handle) == "COMPLETED"
        assert runner.stop() == 0
    finally:
        runner.close()
    status = api.get(created.metadata.id).status
    assert status.messages[-1].content == "Your key is ***."
    assert [c.body["model"] for c in llm.chats()] == ["qwen2.5:0.5b"], "STIGMER_LLM_MODEL replaces the agent's"
    assert runner.ready_file == ready and not ready.exists()
    log = runner.log_text()
    assert f"execution {created.metadata.id} COMPLETED" in log
    assert SECRET not in log, "a secret reached the runner's log"
    assert SECRET not in temporal.history_json(handle)


@pytest.fixture
def http_mcp_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The MCP fixture over streamable HTTP; yields its URL and its record file."""
    record = tmp_path / "http-record.json"
    host, port = LOOPBACK, str(free_port())
    log = (tmp_path / "http-mcp.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(MCP_FIXTURE), str(record), port], stdout=log, stderr=subprocess.STDOUT
    )

    def alive() -> None:
        if process.poll() is not None:
            raise ProcessDiedError(f"MCP fixture exited: {(tmp_path / 'http-mcp.log').read_text()[-2000:]}")

    def listening() -> None:
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) == 0, f"MCP fixture not listening on {host}:{port}"

    try:
        eventually(listening, timeout=30, interval=0.05, alive=alive)
        yield f"http://{host}:{port}/mcp", record
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def test_http_mcp_tools_and_a_stored_sub_agent(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings, http_mcp_server: tuple[str, Path]
) -> None:
    url, record = http_mcp_server
    api.deploy("formatter", agent_pb2.AgentSpec(instructions="You format citations.", model="llama3.2:1b"))
    server = agent_pb2.McpServer(
        name="remote",
        http=agent_pb2.HttpServer(url=url, headers={"Authorization": "Bearer ${ $env.KEY }"}, timeout_seconds=10),
    )
    spec = agent_pb2.AgentSpec(
        instructions="You lead.",
        model="llama3.2:1b",
        mcp_servers=[server],
        sub_agents=[agent_pb2.SubAgent(name="formatter", agent_ref="formatter")],
    )
    api.deploy("lead", spec)
    llm.add_rules(
        reply("[1] Formatted.", system_contains="You format citations."),
        Rule(
            Match(system_contains="You lead.", after_tool=False),
            ToolCalls((ToolCall("lookup", {"key": "k2"}), ToolCall("formatter", {"message": "Format k2"}))),
            times=1,
        ),
        reply("Done.", system_contains="You lead.", after_tool=True),
    )
    with temporal.worker(settings) as queue:
        execution = run(
            temporal, api, queue, "lead", "Go", runtime_env={"KEY": pb.RuntimeEnvValue(value=SECRET, secret=True)}
        )
    status = execution.status
    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    assert [(c.name, c.source, c.result) for c in status.tool_calls] == [
        ("lookup", "mcp:remote", "value-of-k2"),
        ("formatter", "sub-agent:formatter", "[1] Formatted."),
    ]
    assert json.loads(record.read_text())["calls"][0]["key"] == "k2"


def test_the_call_timeout_fails_a_run_that_takes_longer(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    llm.add_rules(reply("Too late.", delay=5))
    config = pb.ExecutionConfig(timeout_seconds=1)
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "helper", "Hi", config=config)
    assert execution.status.phase == pb.EXECUTION_PHASE_FAILED
    assert "1 s" in execution.status.error and "timeout" in execution.status.error, execution.status.error
    info = execution.status.error_info  # the DSL's timeout error, so a workflow's agent_call sees a timeout
    assert (info.type, info.status, info.title) == (ERROR_TYPES["timeout"], 408, "Agent timed out")


def test_a_runner_without_the_stack_token_fails_saying_so(
    temporal: Temporal, api: Api, settings: RunnerSettings, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "other-home"
    elsewhere.mkdir()
    (elsewhere / "runner.token").write_text("not-the-token")
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    with temporal.worker(replace(settings, home=elsewhere)) as queue:
        created = api.create("helper", "Hi")
        handle = temporal.start_execution(created.metadata.id, queue)
        with pytest.raises(WorkflowFailureError) as failed:
            temporal.result(handle)
    causes, error = [], failed.value.cause
    while error is not None:
        causes.append(str(error))
        error = getattr(error, "cause", None)
    assert any("stigmer-server refused the agent-runner's token" in cause for cause in causes), causes
    # without the token, the runner cannot report either: the execution is as it was
    assert api.get(created.metadata.id).status.phase == pb.EXECUTION_PHASE_PENDING


def test_a_retry_resumes_an_interrupted_sub_agent_without_repeating_its_tool_call(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings, tmp_path: Path
) -> None:
    record = tmp_path / "mcp-record.json"
    spec = mcp_agent(record)
    spec.sub_agents.append(agent_pb2.SubAgent(name="summarizer", instructions=SUMMARIZER, mcp_server_refs=["fixture"]))
    api.deploy("lead", spec)
    llm.add_rules(
        Rule(
            Match(system_contains=LEAD, after_tool=False),
            ToolCalls((ToolCall("summarizer", {"message": "Summarize k1"}),)),
        ),
        Rule(Match(system_contains=SUMMARIZER, after_tool=False), ToolCalls((ToolCall("lookup", {"key": "k1"}),))),
        Rule(Match(system_contains=SUMMARIZER, after_tool=True), BrokenStream("Partial summ", after=1), times=1),
        reply("Summary of {result}", system_contains=SUMMARIZER, after_tool=True),
        reply("Lead says: {result}", system_contains=LEAD, after_tool=True),
    )
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "lead", "Research k1")
    status = execution.status

    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    calls = json.loads(record.read_text())["calls"]
    assert [(c["tool"], c["key"], c["idempotency_key"]) for c in calls] == [
        ("lookup", "k1", f"{execution.metadata.id}/call-1-0/call-1-0")
    ], "the sub-agent's finished MCP call ran again"
    assert [(c.id, c.phase) for c in status.tool_calls] == [
        ("call-1-0", pb.EXECUTION_PHASE_COMPLETED),
        ("call-1-0/call-1-0", pb.EXECUTION_PHASE_COMPLETED),
    ]
    # attempt 1: lead turn 1, sub-agent turns 1 and 2 (broken); attempt 2: sub-agent turn 2, lead turn 2
    assert len(llm.chats()) == 5, "a recorded turn was asked of the model again"
    assert json.loads(status.output_json) == {"response": "Lead says: Summary of value-of-k1"}


# Heartbeat timeout 5 s + retry 1 s + a sticky queue's 3 s + the new attempt's own run: well under this
# (about 8 s unloaded, 26.7 s once at load 12-14); a heartbeat timeout of 30 s (as before) alone reaches it.
KILLED_RUN_RETRIED_WITHIN = 29.5


def test_a_killed_runners_run_is_retried_within_seconds_and_resumes(
    temporal: Temporal, server: StigmerServer, api: Api, llm: LLMStandin, tmp_path: Path
) -> None:
    record = tmp_path / "mcp-record.json"
    api.deploy("researcher", mcp_agent(record))
    llm.add_rules(
        Rule(Match(after_tool=False), ToolCalls((ToolCall("lookup", {"key": "k1"}),))),
        Rule(Match(after_tool=True), Reply("Too late."), delay=120, times=1),  # attempt 1 waits here: killed
        reply("Answer after the kill: {result}.", after_tool=True),
    )
    home = tmp_path / "home"
    first = runner_process(home, server, temporal, llm.url, tmp_path / "runner-1.log")
    second: RunnerProcess | None = None
    try:
        first.wait_ready()
        created = api.create("researcher", "Research k1")
        handle = temporal.start_execution(created.metadata.id, TASK_QUEUE)

        def waiting_for_turn_two() -> None:
            assert len(llm.chats()) == 2, "the run has not asked for turn 2 yet"

        eventually(waiting_for_turn_two, timeout=60, interval=0.1, alive=first.alive)
        # a standby runner, ready before the kill: what is measured is the retry, not a process start
        second = runner_process(home, server, temporal, llm.url, tmp_path / "runner-2.log")
        second.wait_ready()
        first.process.kill()  # SIGKILL: no shutdown, no failure reported; only the heartbeat stops
        first.process.wait(10)
        killed = time.monotonic()
        assert temporal.result(handle, timeout=120) == "COMPLETED"
        recovered = time.monotonic() - killed
    finally:
        first.close()
        if second is not None:
            second.stop()
    status = api.get(created.metadata.id).status
    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    assert recovered < KILLED_RUN_RETRIED_WITHIN, f"the killed run was retried only after {recovered:.1f} s"
    calls = json.loads(record.read_text())["calls"]
    assert [(c["tool"], c["key"]) for c in calls] == [("lookup", "k1")], "the finished MCP call ran again"
    assert json.loads(status.output_json) == {"response": "Answer after the kill: value-of-k1."}
    assert status.attempt == 2
    print(f"killed agent-runner -> execution COMPLETED: {recovered:.2f} s")


# Longer than the 30 s after which the runner used to give its reports up (and fail the attempt).
OUTAGE_SECONDS = 40.0


@pytest.mark.timeout(300)
def test_reports_outlast_a_server_outage_without_rerunning_the_agent(
    temporal: Temporal, llm: LLMStandin, tmp_path: Path
) -> None:
    home = tmp_path / "outage-home"
    home.mkdir()
    address = f"{LOOPBACK}:{free_port()}"
    llm.add_rules(
        Rule(Match(after_tool=False), ToolCalls((ToolCall("list_files", {}),))),
        Rule(Match(after_tool=True), Reply("Reported after the outage."), delay=2),
    )
    settings = RunnerSettings(home=home, server_addr=address, temporal_addr=temporal.address, ollama_host=llm.url)
    server = build_server(Settings(home=home), address=address)
    server.start()
    try:
        with authorized_channel(address, home) as channel, temporal.worker(settings) as queue:
            api = Api(channel)
            api.deploy("lister", agent_pb2.AgentSpec(instructions="List.", model="llama3.2:1b"))
            created = api.create("lister", "List the files")
            handle = temporal.start_execution(created.metadata.id, queue)

            def asking_turn_two() -> None:
                assert len(llm.chats()) == 2, "the run has not asked for turn 2 yet"

            eventually(asking_turn_two, timeout=60, interval=0.05)
            server.stop()  # the turn's answer arrives while the server is down: its reports must wait
            time.sleep(OUTAGE_SECONDS)  # the fault itself (the outage's length), not a wait for a condition
            server = build_server(Settings(home=home), address=address)
            server.start()
            assert temporal.result(handle, timeout=120) == "COMPLETED"
            status = api.get(created.metadata.id).status
    finally:
        server.stop()
    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    assert json.loads(status.output_json) == {"response": "Reported after the outage."}
    assert status.attempt == 1, "the run gave up during the outage and was run again"
    assert len(llm.chats()) == 2, "the agent was run again after the outage"
    assert not [m for m in status.messages if m.id == "runner-retry"]


def test_a_rate_limited_llm_is_retried_after_the_wait_it_asked_for_and_completes(
    temporal: Temporal, api: Api, llm: LLMStandin, settings: RunnerSettings
) -> None:
    """HTTP 429 is the LLM saying "later", not "never": the run is retried (after its Retry-After, not the
    retry policy's 1 s) and the second attempt's answer completes it."""
    api.deploy("helper", agent_pb2.AgentSpec(instructions="Help.", model="llama3.2:1b"))
    llm.add_rules(rate_limited(times=1, retry_after=3), Rule(Match(), Reply("Done after the wait.")))
    with temporal.worker(settings) as queue:
        execution = run(temporal, api, queue, "helper", "Hi")
    status = execution.status
    assert status.phase == pb.EXECUTION_PHASE_COMPLETED, status.error
    assert status.attempt == 2
    assert status.messages[-1].content == "Done after the wait."
    chats = llm.chats()
    assert len(chats) == 2
    waited = chats[1].time - chats[0].time
    assert waited >= 2.5, f"the retry came {waited:.1f} s after the 429 that asked for 3 s"
