"""Pure pieces of the workflow-runner: HTTP requests, child requests, status updates, secrets, errors, paths."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest
from temporalio.activity import ActivityCancellationDetails
from temporalio.testing import ActivityEnvironment

from stigmer.api import json_values
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.workflow_runner import children, paths
from stigmer.workflow_runner.activities import secret_env_keys, update_request
from stigmer.workflow_runner.call_errors import CallFailed
from stigmer.workflow_runner.children import agent_answer, agent_request, child_failure, workflow_request
from stigmer.workflow_runner.effects import CallRequest, Deferred
from stigmer.workflow_runner.errors import ERROR_TYPES, ErrorInfo, matches
from stigmer.workflow_runner.grpc_calls import _rpc_failure
from stigmer.workflow_runner.http_calls import build_request, http_call
from stigmer.workflow_runner.reporting import Reporter, StatusReport, TaskReport
from stigmer.workflow_runner.secrets import Scrubber, env_view
from stigmer.workflow_runner.workflow import _call_options


@pytest.mark.parametrize(
    ("method", "keyed"),
    [("GET", False), ("POST", True), ("PUT", False), ("PATCH", True), ("DELETE", False), ("HEAD", False)],
)
def test_only_non_idempotent_methods_carry_an_idempotency_key(method: str, keyed: bool) -> None:
    request = build_request({"method": method, "endpoint": "https://x.example.com/a"}, "wex-1/loop/2/post")
    assert request["method"] == method
    assert ("Idempotency-Key" in request["headers"]) is keyed
    if keyed:
        assert request["headers"]["Idempotency-Key"] == "wex-1/loop/2/post"


def test_http_request_values_become_text_and_bodies_json() -> None:
    request = build_request(
        {
            "method": "POST",
            "endpoint": "https://x.example.com/a",
            "headers": {"X-N": 5, "X-Obj": {"a": 1}, "X-None": None, "idempotency-key": "mine"},
            "query": {"per_page": 5, "flag": True},
            "body": {"n": 12345678901234567890},
        },
        "key",
    )
    assert request["headers"] == {"X-N": "5", "X-Obj": '{"a":1}', "idempotency-key": "mine"}
    assert request["params"] == {"per_page": "5", "flag": "true"}
    assert request["json"] == {"n": 12345678901234567890}
    assert build_request({"endpoint": "https://x.example.com", "body": "raw"}, "k")["content"] == b"raw"
    with pytest.raises(CallFailed) as caught:
        build_request({"endpoint": "ftp://x.example.com"}, "k")
    assert caught.value.info.status == 400 and not caught.value.retryable


def test_an_unreachable_endpoint_fails_naming_the_request() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            await http_call(client, {"endpoint": "http://127.0.0.1:9/v1/health"}, "wex-1/health")

    with pytest.raises(CallFailed) as raised:
        asyncio.run(call())
    info = raised.value.info
    # no answer is a communication error with the DSL's default status, not an HTTP 503 (an answer)
    assert (info.type, info.status) == (ERROR_TYPES["communication"], 500)
    assert not matches(info, {"status": 503}) and matches(info, {"type": "communication"})
    assert info.detail == "GET http://127.0.0.1:9/v1/health: ConnectError: All connection attempts failed"
    assert raised.value.retryable


def test_a_timeout_is_a_timeout_error_and_its_detail_has_no_dangling_colon() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("", request=request)

    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as client:
            await http_call(client, {"endpoint": "http://127.0.0.1:9/slow", "timeout_seconds": 2}, "wex-1/slow")

    with pytest.raises(CallFailed) as raised:
        asyncio.run(call())
    info = raised.value.info
    assert (info.type, info.status) == (ERROR_TYPES["timeout"], 408)
    assert info.detail == "GET http://127.0.0.1:9/slow: no answer within 2 s"


@pytest.mark.parametrize(("retries", "attempts"), [(None, 3), (0, 1), (5, 6)])
def test_http_call_transport_retries_are_a_per_call_setting(retries: int | None, attempts: int) -> None:
    config: dict[str, Any] = {"endpoint": "https://x.example.com", "method": "POST"}
    if retries is not None:
        config["retries"] = retries
    options = _call_options(CallRequest("http_call", "wex-1", "post", "wex-1/post", config))
    assert options["retry_policy"].maximum_attempts == attempts


def test_a_response_too_large_for_the_engine_fails_saying_so() -> None:
    def body(size: int) -> bytes:  # encoded here: httpx's own JSON spacing differs between its versions
        return json.dumps({"data": "x" * size}, separators=(",", ":")).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        content = body(int(request.url.params["size"]))
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    async def call(size: int) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await http_call(client, {"endpoint": "http://api.test/big", "query": {"size": size}}, "k")

    assert len(asyncio.run(call(1_500_000))["data"]) == 1_500_000
    with pytest.raises(CallFailed) as raised:
        asyncio.run(call(3 * 1024 * 1024))
    info = raised.value.info
    assert info.type.endswith("/runtime") and (info.status, info.title) == (413, "HTTP response too large")
    size = len(body(3 * 1024 * 1024))
    assert f"GET http://api.test/big: the response is {size:,} bytes, over the limit of" in info.detail
    assert not raised.value.retryable


def test_child_requests_carry_parent_request_id_env_secrecy_and_overrides() -> None:
    run = workflow_request({"workflow": "kids/child", "input": {"n": 1}}, "wex-1", "wex-1/sub")
    assert (run.workflow_ref, run.parent_execution_id, run.request_id) == ("kids/child", "wex-1", "wex-1/sub")
    assert json_values.loads(run.input_json) == {"n": 1}

    config = {
        "agent": "summarizer",
        "message": "hi",
        "env": {"TOKEN": "t0k3n", "MODE": "fast", "N": 3},
        "config": {"model": "m", "temperature": 0.0, "timeout_seconds": 30},
    }
    agent = agent_request(config, "wex-1", "wex-1/ask", {"TOKEN"})
    assert (agent.agent_ref, agent.message, agent.request_id, agent.parent_execution_id) == (
        "summarizer",
        "hi",
        "wex-1/ask",
        "wex-1",
    )
    assert {k: (v.value, v.secret) for k, v in agent.runtime_env.items()} == {
        "TOKEN": ("t0k3n", True),
        "MODE": ("fast", False),
        "N": ("3", False),
    }
    assert agent.config.HasField("temperature") and agent.config.temperature == 0.0
    assert (agent.config.model, agent.config.timeout_seconds) == ("m", 30)


def test_agent_env_entries_reading_a_secret_or_holding_one_are_secret() -> None:
    request = CallRequest(
        "agent_call",
        "wex-1",
        "ask",
        "wex-1/ask",
        {},
        deferred=[
            Deferred(["env", "GH"], "${ $env.GITHUB_TOKEN }"),
            Deferred(["env", "REGION"], "${ $env.REGION }"),
            Deferred(["message"], "${ $env.GITHUB_TOKEN }"),
        ],
    )

    class Env:
        secret_names = ("GITHUB_TOKEN",)

    config = {"env": {"GH": "ghp_x", "REGION": "eu", "COPY": "prefix-ghp_x"}}
    keys = secret_env_keys(request, config, Scrubber({"GITHUB_TOKEN": "ghp_x"}), Env())  # type: ignore[arg-type]
    assert keys == {"GH", "COPY"}


def test_a_failed_child_fails_the_task_with_its_error_info() -> None:
    child = pb.WorkflowExecution()
    child.metadata.id = "wex-2"
    child.status.phase = pb.EXECUTION_PHASE_FAILED
    child.status.error = "task abort: Unhealthy (status 503)"
    child.status.error_info.CopyFrom(
        pb.ErrorInfo(type="https://x/unhealthy", status=503, title="Unhealthy", instance="abort")
    )
    failure = child_failure(child, "workflow execution")
    assert (failure.info.type, failure.info.status, failure.info.title) == ("https://x/unhealthy", 503, "Unhealthy")
    assert "wex-2" in failure.info.detail and "abort" in failure.info.detail
    assert not failure.retryable
    child.status.phase = pb.EXECUTION_PHASE_CANCELLED
    assert child_failure(child, "workflow execution").info.title == "Child execution cancelled"


def test_status_reports_become_update_requests() -> None:
    report = StatusReport(
        "wex-1",
        [
            TaskReport(
                "fetch",
                "fetch",
                "http_call",
                "COMPLETED",
                {"n": 2**64},
                "",
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T00:00:01+00:00",
            ),
            TaskReport("route/x", "x", "set", "SKIPPED"),
            TaskReport("loop/0", "0", "iteration", "IN_PROGRESS", None, "", "2026-01-01T00:00:00+00:00", run=2),
        ],
        phase="FAILED",
        error="task abort: Unhealthy",
        error_info={"type": "t", "status": 503, "title": "Unhealthy", "detail": "", "instance": "abort"},
    )
    request = update_request(report)
    assert request.phase == pb.EXECUTION_PHASE_FAILED
    fetch, skipped, running = request.tasks
    assert (fetch.path, fetch.name, fetch.kind, fetch.phase) == (
        "fetch",
        "fetch",
        "http_call",
        pb.EXECUTION_PHASE_COMPLETED,
    )
    assert json_values.loads(fetch.output_json) == {"n": 2**64}
    assert fetch.completed_at.seconds - fetch.started_at.seconds == 1
    assert skipped.phase == pb.EXECUTION_PHASE_SKIPPED and not skipped.output_json
    assert running.HasField("started_at") and not running.HasField("completed_at")
    assert (fetch.run, running.run) == (1, 2)
    assert (request.error_info.status, request.error_info.instance) == (503, "abort")
    assert not request.output_json

    done = update_request(StatusReport("wex-1", phase="COMPLETED", output=None))
    assert done.output_json == "null"


def test_an_agent_calls_answer_is_its_final_response_not_an_earlier_message() -> None:
    agent = pb.MESSAGE_TYPE_AGENT
    execution = pb.AgentExecution(
        status=pb.ExecutionStatus(
            messages=[pb.Message(id="agent-2", type=agent, content="Final."), pb.Message(id="agent-3", type=agent)],
            output_json='{"response": "Final."}',
        )
    )
    execution.status.messages.add(id="agent-9", type=agent, content="Almost ")  # a stray later message
    assert agent_answer(execution) == "Final."
    del execution.status.messages[2]
    execution.status.output_json = '{"other": 1}'  # an output without a response: the last agent message
    assert agent_answer(execution) == "Final."


def test_the_reporter_batches_replaces_older_statuses_and_sends_in_order() -> None:
    sent: list[StatusReport] = []
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def send(report: StatusReport) -> None:
        entered.set()
        if not sent:
            await gate.wait()
        sent.append(report)

    async def scenario() -> None:
        reporter = Reporter("wex-1", send)
        reporter.task(TaskReport("a", "a", "set", "IN_PROGRESS"))
        first = asyncio.ensure_future(reporter.flush())
        await entered.wait()
        first.cancel()  # the caller goes away; the send goes on
        reporter.task(TaskReport("a", "a", "set", "CANCELLED"))
        finishing = asyncio.ensure_future(reporter.finish("CANCELLED"))
        await asyncio.sleep(0)
        gate.set()
        await finishing

    asyncio.run(scenario())
    assert [[t.phase for t in r.tasks] for r in sent] == [["IN_PROGRESS"], ["CANCELLED"]]
    assert [r.phase for r in sent] == ["", "CANCELLED"]


def test_scrubbing_and_the_workflow_view_of_env() -> None:
    env, secrets = env_view({"REGION": "eu", "TOKEN": "whatever"}, ["TOKEN"])
    assert env == {"REGION": "eu", "TOKEN": "<secret:TOKEN>"} and secrets == {"TOKEN": "<secret:TOKEN>"}
    scrub = Scrubber({"A": "abc", "AB": "abcdef", "EMPTY": ""})
    assert scrub.value({"abcdef-key": ["x abcdef y", "abc", 1, None]}) == {
        "<secret:AB>-key": ["x <secret:AB> y", "<secret:A>", 1, None]
    }
    assert Scrubber({}).value({"a": "abc"}) == {"a": "abc"}


def test_error_matching() -> None:
    info = ErrorInfo(ERROR_TYPES["communication"], 503, "HTTP 503", "", "charge/submit")
    assert matches(info, None) and matches(info, {})
    assert matches(info, {"status": 503}) and matches(info, {"status": "503"})
    assert matches(info, {"type": ERROR_TYPES["communication"], "status": 503})
    assert not matches(info, {"status": 500})
    assert not matches(info, {"type": ERROR_TYPES["timeout"]})
    assert ErrorInfo.from_dict({"status": "x"}).status == 0


def test_paths() -> None:
    assert paths.child("", "fetch") == "fetch"
    assert paths.child(paths.iteration("loop", 2), "post") == "loop/2/post"
    assert paths.child(paths.catch_block("guard"), "notify") == "guard/catch/notify"
    assert paths.run_key("wex-1", "loop/2/post", 1) == "wex-1/loop/2/post"
    assert paths.run_key("wex-1", "ping", 3) == "wex-1/ping#3"


class CancelStub:
    """An execution service whose Cancel answers with the given errors first, then succeeds."""

    def __init__(self, *errors: grpc.StatusCode) -> None:
        self.errors = list(errors)
        self.calls: list[str] = []

    async def Cancel(self, ref: Any, metadata: Any, timeout: float) -> None:
        self.calls.append(ref.value)
        if self.errors:
            code = self.errors.pop(0)
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name)


def test_a_cancelled_child_await_cancels_the_child_retrying_while_the_server_is_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(children, "RESUBSCRIBE_SECONDS", 0.01)
    stub = CancelStub(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    asyncio.run(children.cancel_child(stub, "wex-child", ()))
    assert stub.calls == ["wex-child"] * 3

    finished = CancelStub(grpc.StatusCode.FAILED_PRECONDITION)  # already COMPLETED: nothing to do
    asyncio.run(children.cancel_child(finished, "wex-child", ()))
    assert finished.calls == ["wex-child"]


def test_a_grpc_deadline_is_a_timeout_and_unavailable_a_retryable_communication_error() -> None:
    def rpc_error(code: grpc.StatusCode) -> grpc.RpcError:
        return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="no answer")

    late = _rpc_failure(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), "pkg.Svc/Get")
    assert isinstance(late, CallFailed)
    assert (late.info.type, late.info.status, late.info.detail) == (
        ERROR_TYPES["timeout"],
        408,
        "pkg.Svc/Get: no answer",
    )
    down = _rpc_failure(rpc_error(grpc.StatusCode.UNAVAILABLE), "pkg.Svc/Get")
    assert isinstance(down, CallFailed) and down.retryable
    assert (down.info.type, down.info.status) == (ERROR_TYPES["communication"], 503)


def test_a_loaded_execution_carries_its_input_as_text_and_reads_old_records() -> None:
    from temporalio.converter import DataConverter

    from stigmer.workflow_runner.activities import LoadedExecution

    converter = DataConverter.default.payload_converter
    loaded = LoadedExecution("wex-1", input_json='{"id": 123456789012345678901, "rows": [1, 2]}')
    (payload,) = converter.to_payloads([loaded])
    (back,) = converter.from_payloads([payload], [LoadedExecution])
    assert back.input_value() == {"id": 123456789012345678901, "rows": [1, 2]}
    assert isinstance(json_values.loads(payload.data.decode())["input_json"], str)  # one string, not a tree
    assert LoadedExecution("wex-1", input={"old": True}).input_value() == {"old": True}  # recorded before


class HangingStub(CancelStub):
    """An execution service whose child never ends (Subscribe stays open) and whose Cancel succeeds."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed = asyncio.Event()

    async def Subscribe(self, ref: Any, metadata: Any) -> AsyncIterator[Any]:
        self.subscribed.set()
        await asyncio.Event().wait()
        yield ref  # pragma: no cover - never reached


class ParentStub:
    """The parent's execution service: ``Get`` answers with the given phase and cancel request."""

    def __init__(self, phase: int, cancel_requested: bool = False) -> None:
        self.execution = pb.WorkflowExecution()
        self.execution.status.phase = phase  # type: ignore[assignment]
        self.execution.status.cancel_requested = cancel_requested

    async def Get(self, ref: Any, metadata: Any, timeout: float) -> pb.WorkflowExecution:
        return self.execution


RUNNING = ParentStub(pb.EXECUTION_PHASE_IN_PROGRESS)
BEING_CANCELLED = ParentStub(pb.EXECUTION_PHASE_IN_PROGRESS, cancel_requested=True)


@pytest.mark.parametrize(
    ("details", "parent", "cancels"),
    [
        (ActivityCancellationDetails(cancel_requested=True), RUNNING, True),
        (ActivityCancellationDetails(timed_out=True), RUNNING, False),
        (ActivityCancellationDetails(worker_shutdown=True), RUNNING, False),
        (ActivityCancellationDetails(paused=True), RUNNING, False),
        (ActivityCancellationDetails(not_found=True), RUNNING, False),
        (ActivityCancellationDetails(not_found=True), BEING_CANCELLED, True),
        (ActivityCancellationDetails(not_found=True), ParentStub(pb.EXECUTION_PHASE_CANCELLED), True),
    ],
    ids=[
        "workflow-cancel",
        "heartbeat-timeout",
        "worker-shutdown",
        "paused",
        "superseded-attempt",
        "workflow-gone-parent-cancelling",
        "workflow-gone-parent-cancelled",
    ],
)
def test_only_a_cancel_for_the_parents_sake_cancels_the_child(
    details: ActivityCancellationDetails, parent: ParentStub, cancels: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temporal abandoning an attempt (heartbeat timeout after an outage, shutdown, a superseded attempt)
    must leave the child running for the retried attempt to follow; the workflow's cancel, or its
    workflow gone while the parent execution ends, cancels it."""
    monkeypatch.setattr(children, "PARENT_ENDING_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(children, "RESUBSCRIBE_SECONDS", 0.01)
    stub = HangingStub()
    environment = ActivityEnvironment()
    server = SimpleNamespace(metadata=(), workflow_executions=parent)

    async def scenario() -> None:
        awaiting = asyncio.ensure_future(
            environment.run(children.await_child, server, stub, "aex-child", lambda *_: None, "wex-parent")
        )
        await asyncio.wait_for(stub.subscribed.wait(), 10)
        environment.cancel(details)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(awaiting, 10)

    asyncio.run(scenario())
    assert stub.calls == (["aex-child"] if cancels else [])


def test_a_big_input_kept_ahead_is_taken_once_and_only_for_its_own_text() -> None:
    from stigmer.workflow_runner.parsed_inputs import ParsedInputs

    store = ParsedInputs(min_chars=10, max_chars=100)
    text = json.dumps({"id": 7, "rows": list(range(5))})
    store.keep("wex-1", text)
    value = store.take("wex-1", text)
    assert value == {"id": 7, "rows": [0, 1, 2, 3, 4]}
    assert store.take("wex-1", text) == value and store.take("wex-1", text) is not value  # once; then parsed
    assert (store.counts.kept, store.counts.taken, store.counts.parsed_by_workflow) == (1, 1, 2)

    store.keep("wex-2", text)
    other = json.dumps({"id": 8, "rows": []})
    assert store.take("wex-2", other) == {"id": 8, "rows": []}  # not the value kept for another text
    assert len(store) == 0 and store.counts.taken == 1

    store.keep("wex-3", "[1]")  # too small to be worth keeping
    store.take("wex-3", "[1]")
    assert store.counts.kept == 2 and store.counts.parsed_by_workflow == 3  # a small parse is not counted


def test_parsed_inputs_hold_at_most_their_bound_of_text_the_oldest_going_first() -> None:
    from stigmer.workflow_runner.parsed_inputs import ParsedInputs

    store = ParsedInputs(min_chars=1, max_chars=100)
    texts = {f"wex-{n}": json.dumps(["x" * 30, n]) for n in range(5)}  # 38 characters each
    for execution_id, text in texts.items():
        store.keep(execution_id, text)
    assert len(store) == 2
    assert store.take("wex-0", texts["wex-0"]) == ["x" * 30, 0]  # evicted: parsed again, still right
    assert store.counts.taken == 0
    assert store.take("wex-4", texts["wex-4"]) == ["x" * 30, 4] and store.counts.taken == 1
    store.keep("wex-big", json.dumps(["y" * 200]))  # longer than the bound: never kept
    assert store.counts.kept == 5 and len(store) == 1
