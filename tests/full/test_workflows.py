"""Workflows without agents (examples 07-11, 14) run to the end on Temporal: task statuses by path,
outputs and order, the requests the HTTP fixture received, the CLI's view and exit codes, Subscribe,
and cancellation of a running execution."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stigmer.api.v1 import execution_pb2
from support import executions
from support.cli import Cli
from support.client import StackClient
from support.fixtures.http_api import HttpApi, Route
from support.output import assert_lines, run_lines
from support.stack import Stack
from support.waits import eventually
from tests.full.helpers import (
    DURATION,
    apply_projects,
    run,
    secret_args,
    task_counts,
    task_lines,
    view_lines,
    workflow_summary,
)

PROJECTS = (
    "07_basic_workflow",
    "08_workflow_with_conditionals",
    "09_workflow_with_loops",
    "10_workflow_with_error_handling",
    "11_workflow_with_parallel_execution",
    "14_workflow_with_runtime_secrets",
    "slow_workflow",
)
REPO = {"full_name": "stigmer/stigmer", "stargazers_count": 42, "open_issues_count": 7}
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "User-Agent": "stigmer-examples"}


@pytest.fixture(scope="module")
def workflows(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every workflow of the module's projects, applied once: ``{name: id}``."""
    return apply_projects(stack.cli(), tmp_path_factory.mktemp("projects"), PROJECTS)


def test_basic_workflow_run_is_shown_line_by_line_and_its_outputs_are_kept(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer", REPO))

    result, exec_id = run(cli, "github/repo-stats")

    assert result.exit_code == 0, result
    assert result.stdout.startswith(f"Workflow execution started: github/repo-stats\nExecution ID: {exec_id}\n"), result
    expected = [
        "",
        "▶️ Execution started",
        *task_lines(("fetch", "run"), ("fetch", "done"), ("summarize", "run"), ("summarize", "done")),
        *workflow_summary(2),
    ]
    assert_lines(view_lines(result.stdout), expected, "the run view")

    (fetched,) = http.requests()
    assert (fetched.method, fetched.path, fetched.query, fetched.body) == ("GET", "/repos/stigmer/stigmer", {}, None)
    assert {name: fetched.header(name) for name in GITHUB_HEADERS} == GITHUB_HEADERS
    assert fetched.header("Idempotency-Key") is None, "a GET is idempotent: it carries no Idempotency-Key"

    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == {"fetch": "COMPLETED", "summarize": "COMPLETED"}
    summary = {"repository": "stigmer/stigmer", "stars": 42, "open_issues": 7}
    assert executions.task_outputs(execution) == {"fetch": REPO, "summarize": summary}
    assert executions.started_order(execution) == ["fetch", "summarize"]
    assert execution["status"]["output"] == summary
    assert execution["spec"]["workflow_id"] == workflows["github/repo-stats"]


def test_run_output_json_is_the_final_execution(cli: Cli, http: HttpApi, workflows: dict[str, str]) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer", REPO))

    result = cli("run", "github/repo-stats", "-o", "json", timeout=90)

    assert result.exit_code == 0, result
    execution = result.json()
    assert execution["metadata"]["id"].startswith("wex-")
    assert executions.execution_phase(execution) == "COMPLETED"
    assert executions.task_phases(execution) == {"fetch": "COMPLETED", "summarize": "COMPLETED"}
    assert execution["status"]["output"] == {"repository": "stigmer/stigmer", "stars": 42, "open_issues": 7}
    assert execution["status"]["started_at"] <= execution["status"]["completed_at"]


@pytest.mark.needs("owned-stack")  # it holds the workflow-runner down
def test_subscribe_sees_pending_then_in_progress_then_completed(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer", REPO))
    # the workflow-runner is held down until the stream has shown PENDING: no race with a quick run
    held = cli("server", "stop", "-c", "workflow-runner")
    assert held.exit_code == 0, held
    started: list[int] = []

    def start_runner_once_pending(state: dict[str, object]) -> None:
        if not started:
            again = cli("server", "start", "-c", "workflow-runner")
            started.append(again.exit_code)

    try:
        created = api.workflow_executions.Create(
            execution_pb2.CreateWorkflowExecutionRequest(workflow_ref="github/repo-stats")
        )
        followed = executions.subscribe(api, created.metadata.id, on_state=start_runner_once_pending)
    finally:
        if not started:
            cli("server", "start", "-c", "workflow-runner")
    assert started == [0], "the workflow-runner did not start again"

    assert followed.phases == ["PENDING", "IN_PROGRESS", "COMPLETED"]
    # each task went through its phases in order, as the states streamed by
    seen: dict[str, list[str]] = {}
    for state in followed.states:
        for path, phase in executions.task_phases(state).items():
            if seen.setdefault(path, [])[-1:] != [phase]:
                seen[path].append(phase)
    assert seen == {"fetch": ["IN_PROGRESS", "COMPLETED"], "summarize": ["COMPLETED"]}
    assert executions.task_outputs(followed.last)["summarize"]["stars"] == 42


def test_subscribe_to_a_finished_execution_ends_at_once(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer", REPO))
    result, exec_id = run(cli, "github/repo-stats")
    assert result.exit_code == 0, result

    followed = executions.subscribe(api, exec_id, timeout=10)

    assert followed.phases == ["COMPLETED"] and len(followed.states) == 1, followed.phases
    assert followed.seconds < 2, f"Subscribe of a finished execution took {followed.seconds:.1f}s to end"


def test_a_workflow_runs_by_its_id(cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer", REPO))

    result, exec_id = run(cli, workflows["github/repo-stats"])

    assert result.exit_code == 0, result
    assert executions.get(api, exec_id)["spec"]["workflow_name"] == "repo-stats"
    assert "Workflow execution started: github/repo-stats" in result.stdout, result
    assert "✅ Execution completed" in result.stdout, result


@pytest.mark.parametrize(
    ("health", "ran", "skipped"),
    [
        ("healthy", ["health", "route", "deploy"], ["hold", "abort"]),
        ("degraded", ["health", "route", "hold"], ["deploy", "abort"]),
    ],
    ids=["healthy", "degraded"],
)
def test_conditional_workflow_takes_the_branch_the_health_check_decides(
    cli: Cli,
    api: StackClient,
    http: HttpApi,
    workflows: dict[str, str],
    health: str,
    ran: list[str],
    skipped: list[str],
) -> None:
    http.add(
        Route("GET", "/v1/health", {"status": health, "message": "replica lag"}),
        Route("POST", "/v1/deployments", {"id": "dep-7"}, status=201),
    )

    result, exec_id = run(cli, "deployments/deploy-gate")

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == {
        **dict.fromkeys(ran, "COMPLETED"),
        **dict.fromkeys(skipped, "SKIPPED"),
    }
    assert executions.task_outputs(execution).get("route") is None  # a switch is control flow: no output
    posts = http.requests("/v1/deployments")
    if health == "healthy":
        (post,) = posts
        assert post.method == "POST" and post.body == {"service": "checkout", "version": "2.4.0"}
        assert post.header("Idempotency-Key") == f"{exec_id}/deploy"
        assert post.header("Content-Type") == "application/json"
        assert execution["status"]["output"] == {"id": "dep-7"}
    else:
        assert posts == [], "a degraded service was deployed"
        assert execution["status"]["output"] == {"decision": "hold", "reason": "service degraded: replica lag"}
    summary = workflow_summary(len(ran), skipped=len(skipped))[1:]
    assert_lines(run_lines(result.stdout)[-len(summary) :], summary, "the run summary")


def test_conditional_workflow_aborts_with_its_error_and_exit_code_5(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(Route("GET", "/v1/health", {"status": "down"}))

    result, exec_id = run(cli, "deployments/deploy-gate")

    assert result.exit_code == 5, result  # the real platform exited 0 on a failed execution
    error = (
        "Service is unhealthy (status 503): The health check reported neither healthy nor degraded; "
        "the deployment was aborted."
    )
    expected = [
        "",
        "▶️ Execution started",
        *task_lines(("health", "run"), ("health", "done"), ("route", "run"), ("route", "done")),
        *task_lines(("abort", "run"), ("abort", "fail"), (error, "error")),
        "",
        "❌ Execution failed",
        f"Error: task abort: {error}",
        DURATION,
        "Total tasks: 3",
        *task_counts(2, failed=1),
    ]
    assert_lines(view_lines(result.stdout), expected, "the run view")
    execution = executions.get(api, exec_id)
    assert executions.execution_phase(execution) == "FAILED"
    # the workflow ends at the failure: the case targets after it are not reported (the list never ended)
    assert executions.task_phases(execution) == {"health": "COMPLETED", "route": "COMPLETED", "abort": "FAILED"}
    assert execution["status"]["error_info"] == {
        "type": "https://stigmer.ai/errors/unhealthy-service",
        "status": 503,
        "title": "Service is unhealthy",
        "detail": "The health check reported neither healthy nor degraded; the deployment was aborted.",
        "instance": "abort",
    }
    assert http.requests("/v1/deployments") == []


def test_loop_charges_every_order_and_the_task_list_keeps_every_task(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    orders = [{"id": "o-1", "total": 1200}, {"id": "o-2", "total": 80}, {"id": "o-3", "total": 5}]
    http.add(Route("GET", "/v1/orders", {"items": orders}))
    for order in orders:
        http.add(Route("POST", f"/v1/orders/{order['id']}/charge", {"charged": order["id"]}))

    result, exec_id = run(cli, "billing/charge-pending-orders")

    assert result.exit_code == 0, result
    iterations = [f"charge-all/{i}" for i in range(3)]
    paths = ["orders", "charge-all"]
    for iteration in iterations:
        paths += [iteration, f"{iteration}/charge", f"{iteration}/pause"]
    paths.append("done")
    execution = executions.get(api, exec_id)
    # every task of every iteration is still listed at the end (the real platform kept only the latest)
    assert executions.task_phases(execution) == dict.fromkeys(paths, "COMPLETED")
    assert executions.started_order(execution, [f"{i}/charge" for i in iterations]) == [
        f"{i}/charge" for i in iterations
    ]
    outputs = executions.task_outputs(execution)
    assert outputs["charge-all"] == [{"charge": {"charged": o["id"]}} for o in orders]  # a wait has no output
    assert outputs["done"] == {"charged": 3}
    lines = run_lines(result.stdout)
    summary = workflow_summary(12)
    assert_lines(lines[-len(summary) :], summary, "the run summary")
    for path in paths:  # each task's lines come in the order of its phases
        mine = [line for line in lines if re.search(rf"Task: {re.escape(path)} \[", line)]
        assert mine[-1] == f"✓ Task: {path} [Completed]" and len(mine) <= 2, mine

    (listing, *charges) = http.requests()
    assert (listing.method, listing.path, listing.query) == ("GET", "/v1/orders", {"status": "pending"})
    assert [(c.method, c.path, c.header("Idempotency-Key")) for c in charges] == [
        ("POST", f"/v1/orders/{o['id']}/charge", f"{exec_id}/charge-all/{i}/charge") for i, o in enumerate(orders)
    ]


def test_error_handling_retries_a_503_as_the_same_call(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(
        Route("POST", "/v1/charges", {"error": "busy"}, status=503, times=1),
        Route("POST", "/v1/charges", {"charge": "ch-9"}),
    )

    result, exec_id = run(cli, "payments/charge-with-retry", "--input", json.dumps({"amount": 500}))

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == {
        "reject": "SKIPPED",
        "charge": "COMPLETED",
        "charge/submit": "COMPLETED",
        "receipt": "COMPLETED",
    }
    assert executions.tasks(execution)["charge/submit"]["output"] == {"charge": "ch-9"}
    assert execution["status"]["output"] == {"status": "charged", "amount": 500}
    first, retry = http.requests("/v1/charges")
    assert first.body == retry.body == {"amount": 500, "currency": "usd"}
    # one logical call: the receiver can deduplicate the retry by its key
    assert first.header("Idempotency-Key") == retry.header("Idempotency-Key") == f"{exec_id}/charge/submit"
    summary = workflow_summary(3, skipped=1)  # the retry succeeded: nothing failed, nothing was caught
    assert_lines(run_lines(result.stdout)[-len(summary) :], summary, "the run summary")


def test_error_handling_fails_when_every_retry_gets_a_503(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    http.add(Route("POST", "/v1/charges", {"error": "busy"}, status=503))

    result, exec_id = run(cli, "payments/charge-with-retry", "--input", json.dumps({"amount": 700}))

    assert result.exit_code == 5, result  # the retries gave up: the error is not swallowed
    execution = executions.get(api, exec_id)
    assert execution["status"]["error_info"]["status"] == 503
    assert execution["status"]["error_info"]["instance"] == "charge/submit"
    keys = [request.header("Idempotency-Key") for request in http.requests("/v1/charges")]
    assert keys == [f"{exec_id}/charge/submit"] * 3  # 3 attempts in all, one key


def test_error_handling_rejects_a_bad_amount_without_calling_anything(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    result, exec_id = run(cli, "payments/charge-with-retry", "--input", json.dumps({"amount": 0}))

    assert result.exit_code == 5, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == {"reject": "FAILED"}
    assert execution["status"]["error_info"]["title"] == "Invalid amount"
    assert execution["status"]["error_info"]["status"] == 400
    assert "Error: task reject: Invalid amount (status 400)" in result.stdout, result
    assert http.requests() == []


def test_parallel_branches_all_run_and_the_fastest_region_wins(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    issues = [{"number": 7}, {"number": 8}, {"number": 9}]
    http.add(
        Route("GET", "/repos/stigmer/stigmer", REPO),
        Route("GET", "/repos/stigmer/stigmer/issues", issues),
        Route("GET", "/eu/v1/health", {"region": "eu"}),
        Route("GET", "/us/v1/health", {"region": "us"}, delay=2.0),
    )

    result, exec_id = run(cli, "dashboards/project-dashboard")

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    phases = executions.task_phases(execution)
    assert phases == {
        "gather": "COMPLETED",
        "gather/repo": "COMPLETED",
        "gather/issues": "COMPLETED",
        "fastest-region": "COMPLETED",
        "fastest-region/eu": "COMPLETED",
        "fastest-region/us": "SKIPPED",
        "dashboard": "COMPLETED",
    }
    outputs = executions.task_outputs(execution)
    assert outputs["gather"] == {"repo": REPO, "issues": issues}
    assert outputs["fastest-region"] == {"eu": {"region": "eu"}}
    assert execution["status"]["output"] == {"stars": 42, "open_issues": 3}
    gathered = {(r.path, tuple(r.query.items())) for r in http.requests() if r.path.startswith("/repos/")}
    assert gathered == {("/repos/stigmer/stigmer", ()), ("/repos/stigmer/stigmer/issues", (("state", "open"),))}
    # the losing region's call was sent; its late answer is logged before the next test uses the fixture
    eventually(lambda: _one(http.requests("/us/v1/health")), timeout=10)


def _one(found: list[object]) -> None:
    assert len(found) == 1, found


def test_runtime_secrets_reach_the_http_calls_and_are_never_shown(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str]
) -> None:
    secrets = {"DEPLOY_API_TOKEN": "dpl-8fK2mQx7Lr", "SLACK_TOKEN": "xoxb-5Jt9wPq2Zc"}
    http.add(
        Route("GET", "/v1/deployments/latest", {"service": "checkout", "version": "2.4.0"}),
        Route("POST", "/api/chat.postMessage", {"ok": True}),
    )

    result, exec_id = run(cli, "notifications/deploy-notice", *secret_args(secrets))

    assert result.exit_code == 0, result
    latest, announce = http.requests()
    assert latest.header("Authorization") == f"Bearer {secrets['DEPLOY_API_TOKEN']}"
    assert announce.header("Authorization") == f"Bearer {secrets['SLACK_TOKEN']}"
    assert announce.body == {"channel": "#deployments", "text": "Deployed checkout 2.4.0"}
    assert announce.header("Idempotency-Key") == f"{exec_id}/announce"

    shown = cli("get", "execution", exec_id, "-o", "json")
    assert shown.exit_code == 0, shown
    for value in secrets.values():
        assert value not in result.output and value not in shown.output
    runtime_env = shown.json()["spec"]["runtime_env"]
    assert set(runtime_env) == set(secrets)
    assert all(entry["secret"] is True for entry in runtime_env.values()), runtime_env


def test_cancel_stops_a_waiting_workflow_and_its_run_exits_6(
    cli: Cli, api: StackClient, http: HttpApi, workflows: dict[str, str], tmp_path: Path
) -> None:
    http.add(Route("GET", "/v1/jobs/start", {"job": "j-1"}))

    with ThreadPoolExecutor(max_workers=1) as pool:
        following = pool.submit(run, cli, "e2e/slow-job", timeout=45)

        def waiting() -> str:
            listed = [e.metadata.id for e in api.list_workflow_executions() if e.spec.workflow_name == "slow-job"]
            assert len(listed) == 1, f"executions of slow-job: {listed}"
            phases = executions.task_phases(executions.get(api, listed[0]))
            assert phases.get("hold") == "IN_PROGRESS", phases
            return listed[0]

        exec_id = eventually(waiting, timeout=30, interval=0.2)
        cancelled = cli("cancel", exec_id)
        result, followed_id = following.result(timeout=60)

    assert cancelled.exit_code == 0, cancelled
    assert followed_id == exec_id
    assert result.exit_code == 6, result
    summary = ["", "⛔ Execution cancelled", DURATION, "Total tasks: 2", *task_counts(1, cancelled=1)]
    assert_lines(run_lines(result.stdout)[-len(summary) :], summary, "the run summary")
    execution = executions.wait_finished(api, exec_id)
    assert executions.execution_phase(execution) == "CANCELLED"
    assert executions.task_phases(execution) == {"start": "COMPLETED", "hold": "CANCELLED"}
    assert executions.tasks(execution)["start"]["output"] == {"job": "j-1"}


@pytest.mark.needs("owned-stack")
@pytest.mark.timeout(2 * 150 + 30)  # its two runs' own limits, not the tier's 120 s (over it once at load 29)
def test_a_big_input_and_a_long_loop_run_without_stalling_the_runner(
    cli: Cli, api: StackClient, stack: Stack, tmp_path: Path
) -> None:
    """A 3.5 MiB input (given as @FILE) and a for of 1,000 items complete, and the runner's log has no
    deadlock-detector traceback: no workflow task holds the workflow thread for work on the whole data."""
    from stigmer.api.v1 import apply_pb2
    from support.bench_loops import big_input, copy_workflow, loop_workflow

    api.apply.Apply(apply_pb2.ApplyRequest(workflows=[copy_workflow(), loop_workflow()]), timeout=30)
    path = tmp_path / "input.json"
    path.write_text(big_input(int(3.5 * 1024 * 1024)))

    big = cli("run", "bench/copy-field", "--input", f"@{path}", "-o", "json", "--timeout", "120", timeout=150)
    loop_input = json.dumps({"items": list(range(1000)), "total": 0})
    loop = cli("run", "bench/sum-items", "--input", loop_input, "-o", "json", "--timeout", "120", timeout=150)

    assert big.exit_code == 0, big
    assert big.json()["status"]["output"] == {"id": 7}
    assert loop.exit_code == 0, loop
    assert loop.json()["status"]["output"][-1] == {"add": {"total": sum(range(1000))}}
    log = stack.log_paths()["workflow-runner"].read_text(errors="replace")
    assert "TMPRL1101" not in log and "Potential deadlock" not in log, log[-3000:]
    assert "TMPRL1103" not in log, log[-3000:]
