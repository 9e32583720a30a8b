"""Workflows that call agents (examples 13, 15-19): agent_call results in the data flow, the child
agent executions, runtime secrets handed to an agent, parallel agents, per-call model and temperature,
and a failed agent failing its task and the workflow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support import executions
from support.cli import Cli
from support.client import StackClient, to_dict
from support.fixtures.http_api import HttpApi, Route
from support.fixtures.mcp_process import McpRecord
from support.fixtures.mcp_server import digest
from support.llm import ALTERNATE_MODEL, LlmUnderTest
from support.llm_standin import BrokenStream, Match, Rule, StandinClient, ToolCall, ToolCalls, error, reply, tool_loop
from support.llm_standin.recording import RecordedRequest
from support.output import assert_lines, run_lines
from support.stack import Stack
from tests.full.helpers import (
    DURATION,
    apply_project,
    apply_projects,
    run,
    secret_args,
    task_counts,
    task_lines,
    view_lines,
)

PROJECTS = (
    "01_basic_agent",  # example 16 calls its code-reviewer by slug
    "13_workflow_and_agent_shared_context",
    "15_workflow_calling_simple_agent",
    "16_workflow_calling_agent_by_slug",
    "17_workflow_agent_with_runtime_secrets",
    "18_workflow_multi_agent_orchestration",
)
ISSUE = {"number": 1, "title": "Crash on start", "body": "The CLI crashes when HOME is unset."}
# Example 19 with its first call on another model than the stack's, to see the per-call model reach the LLM.
CATEGORIZE_MODEL = (
    "message=\"Categorize this ticket: 'I cannot log in since the last update.'\",\n            model=MODEL,"
)


@pytest.fixture(scope="module")
def deployed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The module's projects applied once (example 19 with a per-call model of its own): ``{name: id}``."""
    cli, dest = stack.cli(), tmp_path_factory.mktemp("projects")
    ids = apply_projects(cli, dest, PROJECTS)
    tuned = apply_project(
        cli,
        "19_workflow_agent_execution_config",
        dest / "19",
        {CATEGORIZE_MODEL: CATEGORIZE_MODEL.replace("model=MODEL", f'model="{ALTERNATE_MODEL}"')},
    )
    ids.update({row.name: row.id for row in tuned.rows})
    return ids


def children(api: StackClient, parent_id: str) -> dict[str, dict[str, Any]]:
    """The agent executions a workflow execution started, by agent name."""
    found = [to_dict(e) for e in api.list_agent_executions() if e.spec.parent_execution_id == parent_id]
    return {e["spec"]["agent_name"]: e for e in found}


def system_prompt(chat: RecordedRequest) -> str:
    return str(next(m["content"] for m in chat.messages if m.get("role") == "system"))


def test_shared_context_values_reach_the_http_call_and_the_agent(
    cli: Cli, api: StackClient, http: HttpApi, standin: StandinClient, deployed: dict[str, str]
) -> None:
    http.add(Route("GET", "/orgs/stigmer/repos", [{"name": "stigmer"}, {"name": "examples"}, {"name": "docs"}]))
    standin.add_rules(reply("Busy week: three active repositories.", system_contains="GitHub organization stigmer"))

    result, exec_id = run(cli, "reports/org-report")

    assert result.exit_code == 0, result
    (listing,) = http.requests()
    assert listing.query == {"sort": "pushed", "per_page": "5"}
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == dict.fromkeys(["repos", "settings", "analyze"], "COMPLETED")
    outputs = executions.task_outputs(execution)
    assert outputs["settings"] == {"org": "stigmer", "max_repos": 5}  # a Var keeps its type: 5 stays an integer
    assert outputs["analyze"] == "Busy week: three active repositories."
    (chat,) = standin.chats()
    assert "Focus on its 5 most active repositories." in system_prompt(chat)
    assert chat.last_user_message == "Summarize the recent activity of these repositories: stigmer, examples, docs"
    child = children(api, exec_id)["org-analyst"]
    assert executions.execution_phase(child) == "COMPLETED"
    assert child["status"]["output"] == {"response": "Busy week: three active repositories."}


def test_an_agent_answer_flows_into_the_next_task(
    cli: Cli, api: StackClient, http: HttpApi, standin: StandinClient, deployed: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer/issues/1", ISSUE))
    standin.add_rules(reply("Startup crash without HOME; blocks every user; fix the default.", user_contains="Crash"))

    result, exec_id = run(cli, "support/summarize-issue")

    assert result.exit_code == 0, result
    expected = [
        "",
        "▶️ Execution started",
        *task_lines(("issue", "run"), ("issue", "done"), ("summarize", "run"), ("summarize", "done")),
        *task_lines(("result", "run"), ("result", "done")),
        "",
        "✅ Execution completed",
        DURATION,
        "Total tasks: 3",
        *task_counts(3),
    ]
    assert_lines(view_lines(result.stdout), expected, "the run view")
    (chat,) = standin.chats()
    assert chat.last_user_message == (
        "Summarize this GitHub issue in three sentences: Crash on start - The CLI crashes when HOME is unset."
    )
    assert "Summarize GitHub issues for a busy maintainer" in system_prompt(chat)
    execution = executions.get(api, exec_id)
    summary = "Startup crash without HOME; blocks every user; fix the default."
    assert execution["status"]["output"] == {"issue": 1, "summary": summary}
    assert executions.started_order(execution) == ["issue", "summarize", "result"]


def test_an_agent_called_by_slug_is_the_one_another_project_deployed(
    cli: Cli, api: StackClient, http: HttpApi, standin: StandinClient, deployed: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer/pulls/1", "diff --git a/cli.py b/cli.py"))

    result, exec_id = run(cli, "review/review-pull-request")

    assert result.exit_code == 0, result
    (fetched,) = http.requests()
    assert fetched.header("Accept") == "application/vnd.github.diff"
    (chat,) = standin.chats()
    assert system_prompt(chat) == "Review code and suggest improvements based on best practices."
    answer = "Stand-in reply to: Review this pull request diff: diff --git a/cli.py b/cli.py"
    assert executions.task_outputs(executions.get(api, exec_id))["review"] == answer
    child = children(api, exec_id)["code-reviewer"]
    assert child["spec"]["agent_id"] == deployed["code-reviewer"]


@pytest.mark.usefixtures("stdio_mcp_on_host")
def test_runtime_secrets_reach_the_agent_its_mcp_server_and_the_next_call(
    cli: Cli,
    api: StackClient,
    http: HttpApi,
    standin: StandinClient,
    mcp_record: McpRecord,
    deployed: dict[str, str],
) -> None:
    secrets = {"GITHUB_TOKEN": "ghp_R3l3aseN0tes8x", "SLACK_TOKEN": "xoxb-R3l3ase9Slack"}
    http.add(Route("POST", "/api/chat.postMessage", {"ok": True}))
    merged = {"owner": "stigmer", "repo": "stigmer", "state": "closed"}
    standin.add_rules(tool_loop("list_pull_requests", merged, then="## Features\\n{result}"))
    mark = mcp_record.mark()

    result, exec_id = run(cli, "releases/draft-release-notes", *secret_args(secrets))

    assert result.exit_code == 0, result
    (start,) = mcp_record.starts(mark)
    assert start["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"] == digest(secrets["GITHUB_TOKEN"])
    assert "SLACK_TOKEN" not in start["env"], "the agent got a secret the workflow did not hand it"
    assert mcp_record.calls(mark) == [("list_pull_requests", merged)]

    prompt = system_prompt(standin.chats()[0])
    assert "- GITHUB_TOKEN (secret, value hidden)" in prompt.splitlines()
    assert "SLACK_TOKEN" not in prompt

    execution = executions.get(api, exec_id)
    draft = executions.task_outputs(execution)["draft"]
    assert draft.startswith("## Features\\n") and "Add retries" in draft, draft
    (published,) = http.requests()
    assert published.header("Authorization") == f"Bearer {secrets['SLACK_TOKEN']}"
    assert published.header("Idempotency-Key") == f"{exec_id}/publish"
    assert published.body == {"channel": "#releases", "text": draft}

    child = children(api, exec_id)["release-notes-writer"]
    assert child["spec"]["runtime_env"]["GITHUB_TOKEN"]["secret"] is True
    assert secrets["GITHUB_TOKEN"] not in json.dumps(child) and secrets["GITHUB_TOKEN"] not in json.dumps(execution)
    assert child["spec"]["config"]["timeout_seconds"] == 300


@pytest.mark.usefixtures("stdio_mcp_on_host")
def test_a_retried_agent_resumes_and_its_agent_call_returns_the_final_attempts_answer(
    cli: Cli,
    api: StackClient,
    http: HttpApi,
    standin: StandinClient,
    mcp_record: McpRecord,
    deployed: dict[str, str],
) -> None:
    """The agent's first attempt lists the pull requests, then breaks off mid-stream of a turn heading for
    more tools; the retry resumes after the recorded call and answers at once (a shorter path)."""
    secrets = {"GITHUB_TOKEN": "ghp_R3tr13dRun8x", "SLACK_TOKEN": "xoxb-R3tr13d9Slack"}
    http.add(Route("POST", "/api/chat.postMessage", {"ok": True}))
    merged = {"owner": "stigmer", "repo": "stigmer", "state": "closed"}
    first_plan = "Almost there: next I will list the commits too, then group everything by area."
    standin.add_rules(
        Rule(Match(after_tool=False), ToolCalls((ToolCall("list_pull_requests", merged),))),
        Rule(Match(after_tool=True), BrokenStream(first_plan, after=3), times=1),
        reply("Notes: {result}", after_tool=True),
    )
    mark = mcp_record.mark()

    result, exec_id = run(cli, "releases/draft-release-notes", *secret_args(secrets))

    assert result.exit_code == 0, result
    assert mcp_record.calls(mark) == [("list_pull_requests", merged)], "the finished MCP call ran again"
    assert len(standin.chats()) == 3, "the retry asked the model again for the turn it had recorded"
    child = children(api, exec_id)["release-notes-writer"]
    answer = child["status"]["output"]["response"]
    assert answer.startswith("Notes: ") and "Add retries" in answer, answer
    assert "Almost" not in json.dumps(child), "the first attempt's partial text stayed in the child's status"
    assert [c["id"] for c in child["status"]["tool_calls"]] == ["call-1-0"]
    draft = executions.task_outputs(executions.get(api, exec_id))["draft"]
    assert draft == answer, "agent_call returned something else than the final attempt's answer"
    (published,) = http.requests()
    assert published.body == {"channel": "#releases", "text": answer}


def test_parallel_agents_work_on_the_triaged_incident(
    cli: Cli, api: StackClient, http: HttpApi, standin: StandinClient, deployed: dict[str, str]
) -> None:
    alert = {"id": "inc-7", "service": "checkout", "error_rate": 0.4}
    http.add(Route("GET", "/v1/incidents/latest", alert))
    standin.add_rules(
        reply("sev2: checkout errors", system_contains="Rate the severity"),
        reply("Root cause: a bad deploy", system_contains="most probable root cause", delay=0.5),
        reply("We are investigating checkout errors.", system_contains="status page updates", delay=0.5),
    )

    result, exec_id = run(cli, "incidents/incident-response")

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == dict.fromkeys(
        ["alert", "triage", "respond", "respond/diagnose", "respond/announce", "report"], "COMPLETED"
    )
    assert execution["status"]["output"] == {
        "severity": "sev2: checkout errors",
        "root_cause": "Root cause: a bad deploy",
        "status_update": "We are investigating checkout errors.",
    }
    by_agent = {system_prompt(chat).split(".")[0]: chat for chat in standin.chats()}
    assert len(by_agent) == 3, list(by_agent)
    triage, diagnose, announce = (
        next(chat for key, chat in by_agent.items() if text in key)
        for text in ("Rate the severity", "root cause", "status page")
    )
    compact = json.dumps(alert, separators=(",", ":"), sort_keys=True)
    assert triage.last_user_message == f"Rate the severity of this alert: {compact}"
    assert diagnose.last_user_message == f"Find the root cause of: {compact}"
    assert announce.last_user_message == "Write a status update for this incident: sev2: checkout errors"
    assert abs(diagnose.time - announce.time) < 0.5, "the fork's agents did not run at the same time"
    assert set(children(api, exec_id)) == {"incident-triager", "root-cause-analyst", "incident-communicator"}


def test_per_call_model_temperature_and_timeout_reach_the_llm(
    cli: Cli, api: StackClient, standin: StandinClient, llm: LlmUnderTest, deployed: dict[str, str]
) -> None:
    result, exec_id = run(cli, "execution-config/tuned-agent-calls")

    assert result.exit_code == 0, result
    chats = {chat.last_user_message.split(" ")[0]: chat for chat in standin.chats()}
    assert set(chats) == {"Categorize", "Review", "Announce"}, list(chats)
    seen = {word: (chat.body["model"], chat.body.get("options", {}).get("temperature")) for word, chat in chats.items()}
    assert seen == {
        "Categorize": (ALTERNATE_MODEL, 0.0),  # the call's own model
        "Review": (llm.model, 0.5),
        "Announce": (llm.model, 0.9),  # no model for the call: the stack's
    }
    configs = {name: child["spec"].get("config", {}) for name, child in children(api, exec_id).items()}
    assert configs["ticket-categorizer"] == {"model": ALTERNATE_MODEL, "temperature": 0.0, "timeout_seconds": 30}
    assert configs["architecture-reviewer"]["timeout_seconds"] == 600
    assert configs["marketing-copywriter"]["temperature"] == 0.9
    execution = executions.get(api, exec_id)
    assert executions.started_order(execution) == ["categorize", "review", "announce"]


def test_a_failed_agent_fails_its_agent_call_and_the_workflow(
    cli: Cli, api: StackClient, http: HttpApi, standin: StandinClient, deployed: dict[str, str]
) -> None:
    http.add(Route("GET", "/repos/stigmer/stigmer/issues/1", ISSUE))
    standin.add_rules(error(400, "model refused the request"))

    result, exec_id = run(cli, "support/summarize-issue")

    assert result.exit_code == 5, result
    execution = executions.get(api, exec_id)
    assert executions.execution_phase(execution) == "FAILED"
    # the real platform marked the agent_call COMPLETED and went on with an empty answer
    assert executions.task_phases(execution) == {"issue": "COMPLETED", "summarize": "FAILED"}
    task_error = executions.tasks(execution)["summarize"]["error"]
    assert "answered HTTP 400: model refused the request" in task_error, task_error
    child = children(api, exec_id)["issue-summarizer"]
    assert executions.execution_phase(child) == "FAILED"
    assert child["status"]["error"] in task_error
    lines = run_lines(result.stdout)
    assert "✗ Task: summarize [Failed]" in lines, result
    assert f"  Error: {task_error}" in lines, result
    assert "❌ Execution failed" in lines and "Failed: 1" in lines, result
