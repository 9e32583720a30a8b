"""The workflow interpreter with in-memory effects: data model, paths, flow, errors, reporting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stigmer.sdk import tasks
from stigmer.workflow_runner.effects import CallRequest
from stigmer.workflow_runner.errors import ERROR_TYPES, TaskError, error
from stigmer.workflow_runner.interpreter import Interpreter, Result, WorkflowRun
from stigmer.workflow_runner.reporting import StatusReport, TaskReport

Handler = Callable[[CallRequest], Any]


class FakeEffects:
    """Calls answered by handlers keyed by task path; every report and sleep recorded."""

    def __init__(self, handlers: dict[str, Handler | Any] | None = None) -> None:
        self.handlers = handlers or {}
        self.calls: list[CallRequest] = []
        self.reports: list[StatusReport] = []
        self.sleeps: list[float] = []
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    async def call(self, request: CallRequest) -> Any:
        self.calls.append(request)
        handler = self.handlers.get(request.path)
        if handler is None:
            raise AssertionError(f"unexpected call at {request.path}")
        result = handler(request) if callable(handler) else handler
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def report(self, report: StatusReport) -> None:
        self.reports.append(report)

    def statuses(self) -> dict[str, TaskReport]:
        """The latest status of every path, as the server would hold it after upserts."""
        latest: dict[str, TaskReport] = {}
        for report in self.reports:
            for task in report.tasks:
                latest[task.path] = task
        return latest

    def phases(self) -> dict[str, str]:
        return {path: task.phase for path, task in self.statuses().items()}

    def final(self) -> StatusReport:
        assert self.reports and self.reports[-1].phase, "no final report"
        return self.reports[-1]


def run(
    steps: list[Any],
    effects: FakeEffects,
    *,
    input: Any = None,
    env: dict[str, str] | None = None,
    secret_names: tuple[str, ...] = (),
) -> Result:
    info = WorkflowRun("wex-1", "wf", "ns", "1.0.0", input or {}, env or {}, secret_names)
    plain = [step.to_dict() if isinstance(step, tasks.Task) else step for step in steps]
    return asyncio.run(Interpreter(info, effects).execute(plain))


def http_error(status: int) -> Handler:
    def fail(request: CallRequest) -> Any:
        raise error("communication", status, f"HTTP {status}")

    return fail


def test_example_07_task_outputs_land_in_the_data_under_their_names() -> None:
    effects = FakeEffects({"fetch": {"full_name": "stigmer/stigmer", "stargazers_count": 42, "open_issues_count": 3}})
    result = run(
        [
            tasks.http_get("fetch", "https://api.example.com/repos/stigmer/stigmer"),
            tasks.set_vars(
                "summarize",
                {"repository": "${ .fetch.full_name }", "stars": "${ .fetch.stargazers_count }", "open": "${ .x }"},
            ),
        ],
        effects,
    )
    assert result.phase == "COMPLETED"
    assert result.output == {"repository": "stigmer/stigmer", "stars": 42, "open": None}
    assert effects.phases() == {"fetch": "COMPLETED", "summarize": "COMPLETED"}
    assert effects.final().output == result.output
    assert effects.statuses()["fetch"].output["stargazers_count"] == 42
    # two batches: the fetch's start before it waits, then everything else with the final phase
    assert len(effects.reports) == 2


def test_set_merges_into_the_root_and_export_shapes_the_output() -> None:
    effects = FakeEffects()
    result = run(
        [
            tasks.set_vars("one", {"amount": "${ $input.amount * 2 }"}),
            tasks.set_vars("two", {"total": "${ .amount + 1 }", "drop": 1}, export="{total}"),
            tasks.set_vars("three", {"seen": "${ [.total, .two, .drop] }"}),
        ],
        effects,
        input={"amount": 5},
    )
    assert result.output == {"seen": [11, {"total": 11}, None]}


def test_example_08_switch_jumps_and_reports_untaken_targets_skipped() -> None:
    steps = [
        tasks.http_get("health", "https://status.example.com/v1/health"),
        tasks.switch(
            "route",
            cases=[
                tasks.case('.health.status == "healthy"', "deploy"),
                tasks.case('.health.status == "degraded"', "hold"),
                tasks.default("abort"),
            ],
        ),
        tasks.http_post("deploy", "https://deploy.example.com/v1/deployments", body={"v": 1}, then="end"),
        tasks.set_vars("hold", {"decision": "hold"}, then="end"),
        tasks.raise_error("abort", type="https://stigmer.ai/errors/unhealthy", status=503, title="Unhealthy"),
    ]
    healthy = FakeEffects({"health": {"status": "healthy"}, "deploy": {"id": "d-1"}})
    result = run(steps, healthy)
    assert result.output == {"id": "d-1"}
    assert healthy.phases() == {
        "health": "COMPLETED",
        "route": "COMPLETED",
        "deploy": "COMPLETED",
        "hold": "SKIPPED",
        "abort": "SKIPPED",
    }
    assert healthy.calls[-1].key == "wex-1/deploy"

    degraded = FakeEffects({"health": {"status": "degraded"}})
    assert run(steps, degraded).output == {"decision": "hold"}
    assert degraded.phases()["deploy"] == "SKIPPED"

    down = FakeEffects({"health": {"status": "down"}})
    result = run(steps, down)
    assert result.phase == "FAILED"
    assert result.error is not None
    assert (result.error.status, result.error.title, result.error.instance) == (503, "Unhealthy", "abort")
    assert down.final().error_info == result.error.as_dict()
    assert down.final().error == "task abort: Unhealthy (status 503)"
    assert down.phases() == {"health": "COMPLETED", "route": "COMPLETED", "abort": "FAILED"}


def test_example_09_loop_paths_variables_and_outputs() -> None:
    effects = FakeEffects(
        {
            "orders": {"items": [{"id": 7}, {"id": 9}]},
            "charge-all/0/charge": lambda r: {"charged": r.config["endpoint"]},
            "charge-all/1/charge": lambda r: {"charged": r.config["endpoint"]},
        }
    )
    result = run(
        [
            tasks.http_get("orders", "https://shop.example.com/v1/orders", query={"status": "pending"}),
            tasks.for_each(
                "charge-all",
                ".orders.items",
                each="order",
                at="position",
                do=[
                    tasks.http_post(
                        "charge", "https://pay.example.com/v1/orders/${ $order.id }/charge?p=${ $position }"
                    ),
                    tasks.wait("pause", "PT1S"),
                ],
            ),
            tasks.set_vars("done", {"charged": "${ .orders.items | length }", "loop": '${ .["charge-all"] }'}),
        ],
        effects,
    )
    assert result.phase == "COMPLETED"
    endpoints = [c.config["endpoint"] for c in effects.calls[1:]]
    assert endpoints == [
        "https://pay.example.com/v1/orders/7/charge?p=0",
        "https://pay.example.com/v1/orders/9/charge?p=1",
    ]
    assert [c.key for c in effects.calls[1:]] == ["wex-1/charge-all/0/charge", "wex-1/charge-all/1/charge"]
    assert result.output["charged"] == 2
    assert result.output["loop"][1] == {"charge": {"charged": endpoints[1]}}  # a wait produces no output
    assert effects.sleeps == [1.0, 1.0]
    phases = effects.phases()
    assert phases["charge-all/0"] == phases["charge-all/1/pause"] == phases["charge-all"] == "COMPLETED"
    assert effects.statuses()["charge-all/1"].kind == "iteration"
    assert effects.statuses()["charge-all/1"].name == "1"


def test_example_10_false_condition_skips_and_try_catches_a_matching_status() -> None:
    effects = FakeEffects(
        {"charge/submit": http_error(503), "charge/catch/retry": lambda r: {"paid": r.config["body"]["amount"]}}
    )
    steps = [
        tasks.raise_error("reject", type="https://x/invalid", status=400, title="Invalid", condition=".amount <= 0"),
        tasks.try_catch(
            "charge",
            do=[tasks.http_post("submit", "https://pay.example.com/v1/charges", body={"amount": "${ .amount }"})],
            errors={"status": 503},
            as_="failure",
            catch_do=[
                tasks.wait("backoff", "PT2S"),
                tasks.http_post("retry", "https://pay.example.com/v1/charges", body={"amount": "${ .amount }"}),
                {
                    "name": "why",
                    "kind": "set",
                    "config": {"set": {"status": "${ $failure.status }", "where": "${ $failure.instance }"}},
                },
            ],
        ),
        tasks.set_vars("receipt", {"status": "charged", "amount": "${ .amount }", "why": "${ .why }"}),
    ]
    result = run(steps, effects, input={"amount": 250})
    assert result.output == {"status": "charged", "amount": 250, "why": {"status": 503, "where": "charge/submit"}}
    assert effects.phases() == {
        "reject": "SKIPPED",
        "charge/submit": "FAILED",
        "charge/catch/backoff": "COMPLETED",
        "charge/catch/retry": "COMPLETED",
        "charge/catch/why": "COMPLETED",
        "charge": "COMPLETED",
        "receipt": "COMPLETED",
    }

    rejected = FakeEffects()
    result = run(steps, rejected, input={"amount": 0})
    assert result.phase == "FAILED"
    assert result.error is not None and result.error.status == 400


def test_try_does_not_catch_other_errors() -> None:
    effects = FakeEffects({"charge/submit": http_error(400)})
    steps = [
        tasks.try_catch(
            "charge",
            do=[tasks.http_post("submit", "https://pay.example.com/v1/charges")],
            errors={"status": 503},
            catch_do=[tasks.set_vars("never", {"x": 1})],
        )
    ]
    result = run(steps, effects)
    assert result.phase == "FAILED"
    assert result.error is not None
    assert (result.error.type, result.error.status, result.error.instance) == (
        ERROR_TYPES["communication"],
        400,
        "charge/submit",
    )
    assert effects.phases() == {"charge/submit": "FAILED", "charge": "FAILED"}


def test_example_11_fork_outputs_and_compete() -> None:
    async def slow(request: CallRequest) -> Any:
        await asyncio.sleep(0.05)
        return {"region": "eu"}

    effects = FakeEffects(
        {
            "gather/repo": {"stargazers_count": 42},
            "gather/issues": [{"n": 1}, {"n": 2}],
            "fastest-region/eu": slow,
            "fastest-region/us": {"region": "us"},
        }
    )
    result = run(
        [
            tasks.fork(
                "gather",
                branches=[
                    tasks.http_get("repo", "https://x.example.com/r"),
                    tasks.http_get("issues", "https://x.example.com/i"),
                ],
            ),
            tasks.fork(
                "fastest-region",
                compete=True,
                branches=[
                    tasks.http_get("eu", "https://eu.example.com"),
                    tasks.http_get("us", "https://us.example.com"),
                ],
            ),
            tasks.set_vars(
                "dashboard",
                {
                    "stars": "${ .repo.stargazers_count }",
                    "open_issues": "${ .issues | length }",
                    "fast": '${ .["fastest-region"] }',
                },
            ),
        ],
        effects,
    )
    assert result.output == {"stars": 42, "open_issues": 2, "fast": {"us": {"region": "us"}}}
    phases = effects.phases()
    assert phases["gather/repo"] == phases["gather/issues"] == phases["fastest-region/us"] == "COMPLETED"
    assert phases["fastest-region/eu"] == "SKIPPED"
    assert effects.statuses()["fastest-region/eu"].error == "branch 'us' won the race"


def test_a_failing_branch_cancels_the_others_and_fails_the_fork() -> None:
    never = asyncio.Event()

    async def hang(request: CallRequest) -> Any:
        await never.wait()

    effects = FakeEffects({"both/a": hang, "both/b": http_error(500)})
    result = run(
        [
            tasks.fork(
                "both",
                branches=[tasks.http_get("a", "https://a.example.com"), tasks.http_get("b", "https://b.example.com")],
            )
        ],
        effects,
    )
    assert result.phase == "FAILED"
    assert effects.phases() == {"both/a": "CANCELLED", "both/b": "FAILED", "both": "FAILED"}


def test_flow_exit_end_and_jumps_with_run_numbers() -> None:
    effects = FakeEffects({"ping": {"ok": True}})
    steps = [
        tasks.set_vars("count", {"n": "${ (.n // 0) + 1 }"}),
        tasks.http_post("ping", "https://p.example.com", condition=".n >= 2"),
        tasks.switch("again", cases=[tasks.case(".n < 3", "count"), tasks.default("end")]),
        tasks.set_vars("never", {"x": 1}),
    ]
    result = run(steps, effects)
    assert result.phase == "COMPLETED"
    assert result.output == {"ok": True}  # the last task that produced one: the switch does not
    # every run of a path counts, skipped ones too: run 1 was skipped (n == 1)
    assert [c.key for c in effects.calls] == ["wex-1/ping#2", "wex-1/ping#3"]
    assert "never" not in effects.phases()
    # each status report says which run of its path it is about (the server keeps runs apart by it); a
    # queued status of a path is replaced by a later one before it is sent
    ping_runs = [(t.run, t.phase) for r in effects.reports for t in r.tasks if t.path == "ping"]
    assert ping_runs == [(2, "IN_PROGRESS"), (3, "IN_PROGRESS"), (3, "COMPLETED")]

    loop = FakeEffects()
    seen = {"name": "seen", "kind": "set", "config": {"set": {"v": "${ $item }"}}, "then": "exit"}
    last = {"name": "last", "kind": "set", "config": {"set": {"v": "${ $item }"}}, "condition": "${ $item == 2 }"}
    result = run(
        [
            tasks.for_each("loop", "[1, 2, 3]", do=[seen, tasks.set_vars("no", {"x": 1})]),
            tasks.for_each("stop", "[1, 2, 3]", do=[{**last, "then": "end"}]),
            tasks.set_vars("never", {"x": 1}),
        ],
        loop,
    )
    assert result.phase == "COMPLETED"
    phases = loop.phases()
    assert {p for p in phases if p.endswith("/no")} == set()
    assert phases["stop/0/last"] == "SKIPPED"
    assert phases["stop/1/last"] == "COMPLETED"
    assert "stop/2" not in phases and "never" not in phases
    assert result.output == [{}, {"last": {"v": 2}}]


def test_secret_env_vars_read_as_placeholders_in_workflow_code_and_calls_defer_them() -> None:
    effects = FakeEffects({"announce": {"ok": True}})
    result = run(
        [
            tasks.set_vars("copy", {"token": "${ $env.SLACK_TOKEN }", "region": "${ $env.REGION }"}),
            tasks.http_post(
                "announce",
                "https://slack.example.com/api/chat.postMessage",
                headers={"Authorization": "Bearer ${ $env.SLACK_TOKEN }"},
                body={"text": '${ "in " + .region }'},
            ),
        ],
        effects,
        env={"REGION": "eu"},
        secret_names=("SLACK_TOKEN",),
    )
    assert result.phase == "COMPLETED"
    assert effects.statuses()["copy"].output == {"token": "<secret:SLACK_TOKEN>", "region": "eu"}
    (call,) = effects.calls
    assert call.config["body"] == {"text": "in eu"}
    assert call.config["headers"] == {"Authorization": None}
    assert [(d.pointer, d.text) for d in call.deferred] == [
        (["headers", "Authorization"], "Bearer ${ $env.SLACK_TOKEN }")
    ]
    assert call.scope is not None and "env" not in call.scope.variables and "secrets" not in call.scope.variables
    assert call.secret_names == ["SLACK_TOKEN"]


def test_expression_errors_fail_the_task_with_the_expression_type() -> None:
    effects = FakeEffects()
    result = run([tasks.set_vars("bad", {"x": '${ 1 + "a" }'})], effects)
    assert result.phase == "FAILED"
    assert result.error is not None
    assert (result.error.type, result.error.instance) == (ERROR_TYPES["expression"], "bad")
    assert effects.statuses()["bad"].error.startswith("Expression failed (status 400): expression")


def test_child_calls_carry_request_keys_and_agent_messages_are_evaluated() -> None:
    effects = FakeEffects({"summarize": "A short summary.", "sub": {"done": True}})
    result = run(
        [
            tasks.agent_call(
                "summarize",
                "issue-summarizer",
                '${ "Summarize: " + $input.title }',
                env={"GITHUB_TOKEN": "${ $env.GITHUB_TOKEN }", "MODE": "fast"},
                temperature=0.0,
                timeout_seconds=30,
            ),
            tasks.run_workflow("sub", "ns/child", input={"summary": "${ .summarize }"}),
            tasks.set_vars("result", {"summary": "${ .summarize }", "sub": "${ .sub.done }"}),
        ],
        effects,
        input={"title": "Crash"},
        secret_names=("GITHUB_TOKEN",),
    )
    assert result.output == {"summary": "A short summary.", "sub": True}
    agent, sub = effects.calls
    assert (agent.kind, agent.key, agent.config["message"]) == ("agent_call", "wex-1/summarize", "Summarize: Crash")
    assert agent.config["env"] == {"GITHUB_TOKEN": None, "MODE": "fast"}
    assert agent.config["config"] == {"temperature": 0.0, "timeout_seconds": 30}
    assert (sub.kind, sub.key, sub.config["input"]) == ("run", "wex-1/sub", {"summary": "A short summary."})


def test_cancellation_reports_running_tasks_and_the_execution_cancelled() -> None:
    effects = FakeEffects()

    async def scenario() -> None:
        interpreter = Interpreter(WorkflowRun("wex-1", "wf", "ns", "1.0.0", {}, {}), effects)
        running = asyncio.ensure_future(interpreter.execute([tasks.wait("nap", "PT1H").to_dict()]))
        while not effects.sleeps:
            await asyncio.sleep(0)
        effects.handlers.clear()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    effects.sleep = lambda seconds: _record_and_block(effects, seconds)  # type: ignore[method-assign]
    asyncio.run(scenario())
    assert effects.final().phase == "CANCELLED"
    assert effects.phases() == {"nap": "CANCELLED"}


async def _record_and_block(effects: FakeEffects, seconds: float) -> None:
    effects.sleeps.append(seconds)
    await asyncio.Event().wait()


def test_task_errors_name_the_deepest_path() -> None:
    info = error("runtime", 500, "Boom").at("a/0/b").at("a").info
    assert info.instance == "a/0/b"
    assert isinstance(error("runtime", 500, "x"), TaskError)


def test_long_loops_of_quick_tasks_report_in_bounded_batches() -> None:
    effects = FakeEffects()
    body = {"name": "step", "kind": "set", "config": {"set": {"i": "${ $item }"}}}
    result = run([tasks.for_each("loop", "[range(120)]", do=[body])], effects)
    assert result.phase == "COMPLETED"
    assert len(effects.statuses()) == 1 + 120 * 2
    assert max(len(report.tasks) for report in effects.reports) <= 60


@pytest.mark.parametrize("kind", ["call", "block", "now", "unknown"])
def test_an_unknown_kind_fails_the_task_cleanly(kind: str) -> None:
    effects = FakeEffects()
    result = run([{"name": "odd", "kind": kind, "config": {}}], effects)
    assert result.phase == "FAILED"
    assert result.error is not None and result.error.title == "Unknown task kind"


# --- try.catch: when / exceptWhen / retry ---------------------------------------------------------


def statuses_then_ok(*failures: int) -> Handler:
    """A call that fails with each of ``failures`` in turn (HTTP statuses), then answers."""
    answered: list[str] = []

    def answer(request: CallRequest) -> Any:
        answered.append(request.key)
        if len(answered) <= len(failures):
            raise error("communication", failures[len(answered) - 1], f"HTTP {failures[len(answered) - 1]}")
        return {"attempt": len(answered)}

    return answer


def guarded(catch: dict[str, Any], submit: str = "submit") -> dict[str, Any]:
    post = tasks.http_post(submit, "https://pay.example.com/v1/charges", body={"n": 1}).to_dict()
    return {"name": "charge", "kind": "try", "config": {"do": [post], "catch": catch}}


class ClockedEffects(FakeEffects):
    """A sleep moves the clock on, as a durable timer does."""

    async def sleep(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)
        await super().sleep(seconds)


def test_a_retry_whose_when_is_false_does_not_catch_the_error() -> None:
    effects = FakeEffects({"charge/submit": http_error(503)})
    retry = {"delay": "PT1S", "limit": {"attempt": {"count": 3}}}
    result = run([guarded({"when": "${ false }", "retry": retry})], effects)
    assert result.phase == "FAILED"  # not caught: not swallowed either
    assert result.error is not None and result.error.status == 503
    assert len(effects.calls) == 1 and effects.sleeps == []


def test_retry_runs_the_block_again_with_the_same_idempotency_keys() -> None:
    effects = FakeEffects({"charge/submit": statuses_then_ok(503, 503)})
    retry = {"delay": "PT1S", "backoff": {"constant": {}}, "limit": {"attempt": {"count": 5}}}
    result = run([guarded({"errors": {"with": {"status": 503}}, "retry": retry})], effects)
    assert result.phase == "COMPLETED"
    assert result.output == {"submit": {"attempt": 3}}
    assert [c.key for c in effects.calls] == ["wex-1/charge/submit"] * 3
    assert effects.sleeps == [1.0, 1.0]
    assert effects.phases() == {"charge/submit": "COMPLETED", "charge": "COMPLETED"}
    # each attempt reports as a new run of the path, so the server lets the retry's status replace the
    # FAILED one (within one run a terminal phase never moves)
    submits = [(t.run, t.phase) for r in effects.reports for t in r.tasks if t.path == "charge/submit"]
    assert submits == [
        (1, "IN_PROGRESS"),
        (1, "FAILED"),
        (2, "IN_PROGRESS"),
        (2, "FAILED"),
        (3, "IN_PROGRESS"),
        (3, "COMPLETED"),
    ]


@pytest.mark.parametrize(
    ("backoff", "delay", "waits"),
    [
        ("constant", "PT2S", [2.0, 2.0, 2.0]),
        ("linear", {"seconds": 1, "milliseconds": 500}, [1.5, 3.0, 4.5]),
        ("exponential", "PT1S", [1.0, 2.0, 4.0]),
    ],
)
def test_retry_backoff_grows_the_delay_and_the_attempt_count_bounds_the_calls(
    backoff: str, delay: Any, waits: list[float]
) -> None:
    effects = FakeEffects({"charge/submit": http_error(503)})
    retry = {"delay": delay, "backoff": {backoff: {}}, "limit": {"attempt": {"count": 4}}}
    result = run([guarded({"retry": retry})], effects)
    assert result.phase == "FAILED"  # the retries gave up and there is no catch.do
    assert len(effects.calls) == 4 and effects.sleeps == waits


def test_retry_limit_duration_stops_retrying_once_the_next_wait_would_pass_it() -> None:
    effects = ClockedEffects({"charge/submit": http_error(503)})
    retry = {"delay": "PT10S", "backoff": {"exponential": {}}, "limit": {"duration": "PT1M"}}
    result = run([guarded({"retry": retry})], effects)
    assert result.phase == "FAILED"
    assert effects.sleeps == [10.0, 20.0]  # 10 + 20 + 40 > 60 s: no third retry
    assert len(effects.calls) == 3


def test_retry_when_picks_the_errors_worth_retrying_and_catch_do_handles_the_rest() -> None:
    effects = FakeEffects({"charge/submit": statuses_then_ok(503, 400), "charge/catch/note": {"noted": True}})
    catch = {
        "as": "failure",
        "retry": {"exceptWhen": "${ $failure.status < 500 }", "limit": {"attempt": {"count": 5}}},
        "do": [
            {"name": "why", "kind": "set", "config": {"set": {"status": "${ $failure.status }"}}},
        ],
    }
    result = run([guarded(catch)], effects)
    assert result.phase == "COMPLETED"
    assert len(effects.calls) == 2  # the 503 was retried, the 400 was not
    assert result.output == {"why": {"status": 400}}
    assert effects.sleeps == []  # no delay: retried at once


def test_catch_when_and_except_when_decide_whether_an_error_is_caught() -> None:
    caught = FakeEffects({"charge/submit": http_error(503)})
    result = run(
        [guarded({"when": '${ $error.status == 503 and .mode == "lenient" }'})], caught, input={"mode": "lenient"}
    )
    assert result.phase == "COMPLETED"

    strict = FakeEffects({"charge/submit": http_error(503)})
    result = run(
        [guarded({"when": '${ $error.status == 503 and .mode == "lenient" }'})], strict, input={"mode": "strict"}
    )
    assert result.phase == "FAILED"

    excepted = FakeEffects({"charge/submit": http_error(503)})
    result = run([guarded({"exceptWhen": "${ $error.status >= 500 }"})], excepted)
    assert result.phase == "FAILED" and result.error is not None and result.error.status == 503


def test_catch_errors_with_a_short_standard_type() -> None:
    effects = FakeEffects({"charge/submit": http_error(503)})
    assert run([guarded({"errors": {"with": {"type": "communication"}}})], effects).phase == "COMPLETED"
    effects = FakeEffects({"charge/submit": http_error(503)})
    assert run([guarded({"errors": {"with": {"type": "timeout"}}})], effects).phase == "FAILED"


# --- for.while --------------------------------------------------------------------------------------


def test_for_while_stops_the_loop_before_the_first_item_where_it_does_not_hold() -> None:
    effects = FakeEffects()
    loop = tasks.for_each(
        "sum",
        "[1, 2, 3, 4, 5]",
        while_="(.total // 0) + $item <= 6",
        do=[tasks.set_vars("add", {"total": "${ (.total // 0) + $item }"})],
    )
    result = run([loop], effects)
    assert result.phase == "COMPLETED"
    assert result.output == [{"add": {"total": 1}}, {"add": {"total": 3}}, {"add": {"total": 6}}]
    assert "sum/3" not in effects.phases()


# --- outputs a user can predict --------------------------------------------------------------------


def test_a_workflow_ending_in_a_switch_or_wait_outputs_its_last_data() -> None:
    effects = FakeEffects()
    steps = [
        tasks.set_vars("total", {"sum": 3}),
        tasks.switch("route", cases=[tasks.case(".sum > 10", "big"), tasks.default("end")]),
        tasks.set_vars("big", {"size": "big"}),
    ]
    result = run(steps, effects)
    assert result.output == {"sum": 3}  # not "end", the case the switch took
    assert effects.final().output == {"sum": 3}
    assert effects.statuses()["route"].output is None

    effects = FakeEffects()
    result = run([tasks.set_vars("total", {"sum": 3}), tasks.wait("pause", "PT1S")], effects)
    assert result.output == {"sum": 3}


def test_control_tasks_store_nothing_in_the_data() -> None:
    effects = FakeEffects()
    steps = [
        tasks.switch("route", cases=[tasks.default("next")]),
        tasks.wait("pause", "PT1S"),
        tasks.set_vars("next", {"seen": '${ [has("route"), has("pause")] }'}),
    ]
    assert run(steps, effects).output == {"seen": [False, False]}


def test_a_try_that_swallows_an_error_keeps_the_previous_result() -> None:
    effects = FakeEffects({"charge/submit": http_error(503)})
    steps = [tasks.set_vars("order", {"id": 7}), guarded({})]
    result = run(steps, effects)
    assert result.phase == "COMPLETED"
    assert result.output == {"id": 7}


def test_a_retried_child_execution_is_a_new_child_but_a_retried_http_call_keeps_its_key() -> None:
    def child_fails_twice(request: CallRequest) -> Any:
        if len([c for c in effects.calls if c.path == request.path]) <= 2:
            raise error("runtime", 500, "Child execution failed")
        return {"done": True}

    effects = FakeEffects({"outer/inner/sub": child_fails_twice, "outer/inner/ping": {"ok": True}})
    inner = {
        "name": "inner",
        "kind": "try",
        "config": {
            "do": [
                tasks.http_post("ping", "https://p.example.com").to_dict(),
                tasks.run_workflow("sub", "kids/child").to_dict(),
            ],
            "catch": {"retry": {"limit": {"attempt": {"count": 2}}}},
        },
    }
    outer = {
        "name": "outer",
        "kind": "try",
        "config": {"do": [inner], "catch": {"retry": {"limit": {"attempt": {"count": 2}}}}},
    }
    result = run([outer], effects)
    assert result.phase == "COMPLETED"
    keys = [(c.path.rsplit("/", 1)[-1], c.key) for c in effects.calls]
    assert keys == [
        ("ping", "wex-1/outer/inner/ping"),
        ("sub", "wex-1/outer/inner/sub"),
        ("ping", "wex-1/outer/inner/ping"),
        ("sub", "wex-1/outer/inner/sub~1.2"),  # inner attempt 2
        ("ping", "wex-1/outer/inner/ping"),
        ("sub", "wex-1/outer/inner/sub~2.1"),  # outer attempt 2, inner attempt 1: another child
    ]


def test_a_for_loop_costs_the_same_per_item_however_long_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """What jq is given per evaluation does not grow with the loop (it grew with the document: quadratic)."""
    from stigmer.workflow_runner import expressions

    compiled = expressions._compiled
    given: list[int] = []

    class Counting:
        def __init__(self, program: Any) -> None:
            self.program = program

        def input_text(self, text: str) -> Any:
            given.append(len(text))
            return self.program.input_text(text)

        def input_value(self, value: Any) -> Any:  # how values were given before
            given.append(len(json.dumps(value)))
            return self.program.input_value(value)

    monkeypatch.setattr(expressions, "_compiled", lambda *args: Counting(compiled(*args)))
    loop = {
        "name": "loop",
        "kind": "for",
        "config": {
            "in": "${ .items }",
            "each": "item",
            "do": [{"name": "add", "kind": "set", "config": {"set": {"total": "${ .total + $item }"}}}],
        },
    }

    def chars_per_item(count: int) -> int:
        given.clear()
        result = run([loop], FakeEffects(), input={"items": list(range(count)), "total": 0, "note": "x" * 5000})
        assert result.phase == "COMPLETED" and result.output[-1] == {"add": {"total": count * (count - 1) // 2}}
        return max(given[1:])  # the loop's `in` reads the whole list once

    assert chars_per_item(50) < 100
    assert chars_per_item(400) < 100  # the same small text, not the 400 items and the note


def test_a_long_loop_of_quick_tasks_sends_few_growing_status_updates() -> None:
    """The server stores the whole status at each update: an update per 25 items made a loop quadratic."""
    from stigmer.workflow_runner.reporting import BATCH_MAX

    loop = {
        "name": "loop",
        "kind": "for",
        "config": {"in": "${ .items }", "do": [{"name": "noop", "kind": "set", "config": {"set": {"x": 1}}}]},
    }
    effects = FakeEffects()
    assert run([loop], effects, input={"items": list(range(2000))}).phase == "COMPLETED"
    sizes = [len(report.tasks) for report in effects.reports]
    assert len(sizes) <= 25, sizes  # was 81 (one per 50 statuses)
    assert max(sizes) <= BATCH_MAX + 2
    statuses = effects.statuses()
    assert len(statuses) == 1 + 2000 * 2 and all(s.phase == "COMPLETED" for s in statuses.values())


def test_a_deferred_call_carries_only_the_data_its_expressions_read() -> None:
    """The request is recorded in Temporal's history from workflow code: a copy of a 1 MB document per
    call made every call cost as much as the data (and a big input stalled the workflow thread)."""
    effects = FakeEffects({"fetch": {"ok": True}, "again": {"ok": True}})
    big = {"id": 7, "records": ["x" * 100] * 10_000}
    result = run(
        [
            tasks.http_get("fetch", "${ $env.BASE }/orders/${ .id }", headers={"Authorization": "${ $env.TOKEN }"}),
            tasks.http_get("again", "${ $env.BASE }/count/${ .records | length }"),
        ],
        effects,
        input=big,
        env={"BASE": "https://api.example.com", "TOKEN": "t"},
        secret_names=("TOKEN",),
    )
    assert result.phase == "COMPLETED"
    fetch, again = effects.calls
    assert fetch.scope is not None and fetch.scope.context == {"id": 7} and fetch.scope.variables == {}
    assert again.scope is not None and again.scope.context["records"] == big["records"]  # reads it: all of it
