"""Agents (examples 01-06, 12) run on the agent-runner against the LLM: messages, tool calls, skills
and instructions in the system prompt, MCP servers over stdio and HTTP, sub-agents, runtime env,
concurrent runs, the run view, Subscribe, and failures that fail the run."""

from __future__ import annotations

import itertools
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from stigmer.api.v1 import execution_pb2
from support import executions
from support.cli import Cli
from support.client import StackClient
from support.fixtures.mcp_docker import engine_version
from support.fixtures.mcp_process import McpHttpServer, McpRecord
from support.fixtures.mcp_server import digest
from support.llm import LlmUnderTest
from support.llm_standin import StandinClient, error, reply, tool_call, tool_loop
from support.llm_standin.recording import RecordedRequest
from support.output import assert_lines, run_lines
from support.projects import EXAMPLES_DIR
from support.stack import Stack
from support.strict import skip_outside_cell
from tests.full.helpers import (
    DOCKER_SERVER,
    DURATION,
    agent_summary,
    apply_project,
    apply_projects,
    run,
    secret_args,
    view_lines,
)

PROJECTS = (
    "01_basic_agent",
    "02_agent_with_skills",
    "03_agent_with_mcp_servers",
    "04_agent_with_subagents",
    "05_agent_with_environment_variables",
    "06_agent_with_instructions_from_files",
    "12_agent_with_typed_context",
)
# Example 03 without its Docker MCP server: the github (stdio) and docs-search (HTTP) servers at work.
LOCAL_DEVOPS = "devops-assistant-local"
# How the stand-in tells example 04's lead agent from its fact-checker: their instructions.
LEAD, CHECKER = "Answer research questions", "Check every claim"


@pytest.fixture(scope="module")
def agents(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every agent of the module's examples, applied once (and example 03 without Docker): ``{name: id}``."""
    cli, dest = stack.cli(), tmp_path_factory.mktemp("projects")
    ids = apply_projects(cli, dest, PROJECTS)
    local = apply_project(
        cli,
        "03_agent_with_mcp_servers",
        dest / "03-local",
        {DOCKER_SERVER: "", 'name="devops-assistant"': f'name="{LOCAL_DEVOPS}"'},
    )
    ids.update({row.name: row.id for row in local.rows})
    return ids


def system_prompt(chat: RecordedRequest) -> str:
    (system,) = [m["content"] for m in chat.messages if m.get("role") == "system"]
    return str(system)


def chats_with(standin: StandinClient, text: str) -> list[RecordedRequest]:
    """The chat requests whose system prompt contains ``text``."""
    return [chat for chat in standin.chats() if text in system_prompt(chat)]


def test_basic_agent_answers_and_the_run_is_shown_line_by_line(
    cli: Cli, api: StackClient, standin: StandinClient, llm: LlmUnderTest, agents: dict[str, str]
) -> None:
    answer = "Rename f to parse_header and add a docstring."
    standin.add_rules(reply(answer, user_contains="def f():"))
    message = "Review: def f(): return 1"

    result, exec_id = run(cli, "code-reviewer", "-m", message)

    assert result.exit_code == 0, result
    assert result.stdout.startswith(f"Agent execution started: code-reviewer\nExecution ID: {exec_id}\n"), result
    expected = [
        "",
        f"👤 Human: {message}",
        "▶️ Execution started",
        f"🤖 Agent: {answer}",
        *agent_summary(messages=2),
    ]
    assert_lines(view_lines(result.stdout), expected, "the run view")

    execution = executions.get(api, exec_id)
    assert executions.messages(execution) == [("HUMAN", message), ("AGENT", answer)]
    assert execution["status"]["output"] == {"response": answer}
    (chat,) = standin.chats()
    assert chat.body["model"] == llm.model
    assert system_prompt(chat) == "Review code and suggest improvements based on best practices."
    assert chat.last_user_message == message


def test_an_agent_runs_by_its_id(cli: Cli, api: StackClient, standin: StandinClient, agents: dict[str, str]) -> None:
    result, exec_id = run(cli, agents["code-reviewer-pro"], "-m", "Check the login form")

    assert result.exit_code == 0, result
    assert "Agent execution started: code-reviewer-pro" in result.stdout, result
    execution = executions.get(api, exec_id)
    assert executions.messages(execution)[-1] == ("AGENT", "Stand-in reply to: Check the login form")
    (chat,) = standin.chats()
    assert "paying special attention to security" in system_prompt(chat)


def test_subscribe_sees_an_agent_pending_then_in_progress_then_completed(
    api: StackClient, standin: StandinClient, agents: dict[str, str]
) -> None:
    standin.add_rules(reply("one two three four", chunks=4, chunk_delay=0.05))
    created = api.agent_executions.Create(
        execution_pb2.CreateAgentExecutionRequest(agent_ref="code-reviewer", message="Stream it")
    )

    followed = executions.subscribe(api, created.metadata.id)

    assert followed.phases == ["PENDING", "IN_PROGRESS", "COMPLETED"]
    # the answer grew under one message while it streamed, and never shrank
    texts = [m[1] for state in followed.states for m in executions.messages(state) if m[0] == "AGENT"]
    assert texts[-1] == "one two three four"
    assert all(texts[-1].startswith(text) for text in texts), texts
    assert len(set(texts)) > 1, f"the answer did not stream: {texts}"


def test_skills_reach_the_model_and_a_tool_call_is_run_and_reported(
    cli: Cli, api: StackClient, standin: StandinClient, agents: dict[str, str]
) -> None:
    standin.add_rules(
        tool_loop(
            "write_file",
            {"path": "docs/api.md", "content": "# Orders API"},
            then="Wrote it: {result}",
            system_contains="markdown-style",
        )
    )

    result, exec_id = run(cli, "technical-writer", "-m", "Document the orders API")

    assert result.exit_code == 0, result
    first, second = standin.chats()
    prompt = system_prompt(first)
    assert prompt.startswith("Write clear, accurate documentation for developers.")
    assert "## Skill: markdown-style — House style for Markdown" in prompt
    assert "- Fence code blocks and name their language." in prompt
    skill_file = (EXAMPLES_DIR / "02_agent_with_skills" / "skills" / "api-documentation.md").read_text().strip()
    assert "## Skill: api-documentation — How to document a REST API" in prompt
    assert skill_file in prompt
    assert {tool["function"]["name"] for tool in first.body["tools"]} >= {"write_file", "read_file", "list_files"}
    assert second.messages[-1]["role"] == "tool"

    execution = executions.get(api, exec_id)
    (call,) = executions.tool_calls(execution)
    assert (call["name"], call["arguments"], call["source"], call["phase"]) == (
        "write_file",
        {"path": "docs/api.md", "content": "# Orders API"},
        "builtin",
        "COMPLETED",
    )
    answer = executions.messages(execution)[-1]
    assert answer == ("AGENT", f"Wrote it: {call['result']}")
    lines = run_lines(result.stdout)
    tool_line = f'🔧 Tool: write_file(path="docs/api.md", content="# Orders API") → {call["result"]}'
    assert tool_line in lines, result
    assert lines.index(tool_line) < lines.index(f"🤖 Agent: {answer[1]}"), result
    assert_lines(lines[-4:], agent_summary(messages=2, tool_calls=1)[1:], "the run summary")


def test_instructions_and_skills_from_files_reach_the_model(
    cli: Cli, standin: StandinClient, agents: dict[str, str]
) -> None:
    result, _ = run(cli, "security-reviewer", "-m", "Review PR #12")

    assert result.exit_code == 0, result
    (chat,) = standin.chats()
    folder = EXAMPLES_DIR / "06_agent_with_instructions_from_files"
    prompt = system_prompt(chat)
    assert prompt.startswith((folder / "instructions" / "security-reviewer.md").read_text().strip())
    for skill in ("security-guidelines", "testing-best-practices"):
        assert (folder / "skills" / f"{skill}.md").read_text().strip() in prompt
        assert f"## Skill: {skill}" in prompt


def test_typed_context_values_configure_the_agent(cli: Cli, standin: StandinClient, agents: dict[str, str]) -> None:
    result, _ = run(cli, "platform-reviewer", "-m", "Review PR #3")

    assert result.exit_code == 0, result
    (chat,) = standin.chats()
    prompt = system_prompt(chat)
    assert prompt.startswith(
        "You review pull requests for the platform team. Leave at most 10 comments per review. "
        "Strict mode: true. Languages: python, go."  # a Var shows its JSON value
    )
    assert "- REVIEW_TEAM" in prompt.splitlines()


@pytest.mark.usefixtures("stdio_mcp_on_host")
def test_runtime_env_reaches_the_agent_and_its_mcp_server(
    cli: Cli, api: StackClient, standin: StandinClient, mcp_record: McpRecord, agents: dict[str, str]
) -> None:
    secrets = {"AWS_ACCESS_KEY_ID": "AKIA5E2ETESTKEY7Q", "AWS_SECRET_ACCESS_KEY": "wJalr/K7MDENG+bPxRfiCYzEXAMPLE"}
    standin.add_rules(tool_loop("call_aws", {"cli_command": "aws ecs list-services"}, then="Done: {result}"))
    mark = mcp_record.mark()

    result, exec_id = run(
        cli, "cloud-deployer", "-m", "Deploy checkout", *secret_args(secrets), "--runtime-env", "AWS_REGION=eu-west-1"
    )

    assert result.exit_code == 0, result
    (start,) = mcp_record.starts(mark)
    env = start["env"]
    assert env["AWS_ACCESS_KEY_ID"] == digest(secrets["AWS_ACCESS_KEY_ID"])
    assert env["AWS_SECRET_ACCESS_KEY"] == digest(secrets["AWS_SECRET_ACCESS_KEY"])
    assert env["AWS_REGION"] == digest("eu-west-1")  # given for this run
    # only what the server's definition names: not the agent's other variables (DEPLOY_ENVIRONMENT, LOG_LEVEL)
    assert not {"DEPLOY_ENVIRONMENT", "LOG_LEVEL"} & env.keys(), sorted(env)
    assert mcp_record.calls(mark) == [("call_aws", {"cli_command": "aws ecs list-services"})]

    # the model learns the names of the variables (the real platform dropped the runtime env), no values
    first = standin.chats()[0]
    prompt = system_prompt(first)
    environment = prompt[prompt.index("## Environment") :].splitlines()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert f"- {name} (secret, value hidden)" in environment, environment
    for name in ("AWS_REGION", "DEPLOY_ENVIRONMENT", "LOG_LEVEL"):
        assert f"- {name}" in environment, environment
    for chat in standin.chats():
        for value in secrets.values():
            assert value not in str(chat.body), "a secret value reached the model"

    execution = executions.get(api, exec_id)
    (call,) = executions.tool_calls(execution)
    assert (call["name"], call["source"]) == ("call_aws", "mcp:aws")
    assert "ran: aws ecs list-services" in call["result"]


@pytest.mark.usefixtures("stdio_mcp_on_host")
def test_mcp_servers_over_stdio_and_http_serve_the_agent_with_the_secrets_it_was_given(
    cli: Cli,
    api: StackClient,
    standin: StandinClient,
    mcp_record: McpRecord,
    mcp_http: McpHttpServer,
    agents: dict[str, str],
) -> None:
    secrets = {"GITHUB_TOKEN": "ghp_Vx7Qm2Kd9Lw4Ns8Tz1", "DOCS_API_KEY": "dk-3Hq8Zr5Yp"}
    pull = {"owner": "stigmer", "repo": "stigmer", "pull_number": 42}
    standin.add_rules(
        reply("Docs: {result}", after_tool="search_docs"),
        tool_call("search_docs", {"query": "release process"}, after_tool="get_pull_request"),
        tool_call("get_pull_request", pull, after_tool=False),
    )
    stdio_mark, http_mark = mcp_record.mark(), mcp_http.record.mark()

    result, exec_id = run(cli, LOCAL_DEVOPS, "-m", "Summarize PR 42 and find the release docs", *secret_args(secrets))

    assert result.exit_code == 0, result
    (start,) = mcp_record.starts(stdio_mark)
    assert start["transport"] == "stdio"
    assert start["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"] == digest(secrets["GITHUB_TOKEN"])
    assert mcp_record.calls(stdio_mark) == [("get_pull_request", pull)]
    assert mcp_http.record.calls(http_mark) == [("search_docs", {"query": "release process"})]

    # only the enabled tools of the github server are offered, with the docs server's and the built-in ones
    offered = {tool["function"]["name"] for tool in standin.chats()[0].body["tools"]}
    github, docs = {"get_pull_request", "list_issues", "add_issue_comment"}, {"search_docs", "web_search"}
    assert offered == github | docs | {"list_files", "read_file", "write_file"}

    execution = executions.get(api, exec_id)
    calls = [(c["name"], c["source"], c["phase"]) for c in executions.tool_calls(execution)]
    assert calls == [("get_pull_request", "mcp:github", "COMPLETED"), ("search_docs", "mcp:docs-search", "COMPLETED")]
    final = executions.messages(execution)[-1][1]
    assert final.startswith("Docs: ") and "Docs about release process" in final, final
    assert_lines(run_lines(result.stdout)[-4:], agent_summary(messages=2, tool_calls=2)[1:], "the run summary")


def test_a_docker_mcp_server_without_a_docker_engine_fails_the_run_clearly(
    cli: Cli, api: StackClient, standin: StandinClient, agents: dict[str, str]
) -> None:
    engine = engine_version()
    if engine is not None:
        skip_outside_cell(
            f"this test checks the error of a docker MCP server when no engine runs, and Docker {engine} answers "
            "here; the docker MCP tests run instead"
        )
    secrets = {"GITHUB_TOKEN": "ghp_Docker0Test1", "DOCS_API_KEY": "dk-Docker2Test3"}

    result, exec_id = run(cli, "devops-assistant", "-m", "List the workspace files", *secret_args(secrets))

    assert result.exit_code == 5, result
    execution = executions.get(api, exec_id)
    assert executions.execution_phase(execution) == "FAILED"
    error = execution["status"]["error"]
    assert re.fullmatch(
        r"MCP server 'filesystem' needs a Docker engine \(.+\): start Docker \(or use a stdio/http MCP server "
        r"instead\)",
        error,
    ), error
    lines = run_lines(result.stdout)
    assert lines[-5:-3] == ["❌ Execution failed", f"Error: {error}"], result
    assert DURATION.fullmatch(lines[-3]), result
    assert standin.chats() == [], "the model was called although the agent could not start its MCP servers"


def test_a_lead_agent_delegates_to_a_sub_agent_that_uses_the_leads_mcp_server(
    cli: Cli,
    api: StackClient,
    standin: StandinClient,
    mcp_http: McpHttpServer,
    agents: dict[str, str],
) -> None:
    claim = "Check: the Eiffel Tower is 330 m tall"
    standin.add_rules(
        tool_loop(
            "fact-checker", {"message": claim}, then="Lead: {result}", system_contains="Answer research questions"
        ),
        tool_loop(
            "web_search", {"query": "Eiffel Tower height"}, then="Checked: {result}", system_contains="Check every"
        ),
    )
    mark = mcp_http.record.mark()

    result, exec_id = run(cli, "research-lead", "-m", "How tall is the Eiffel Tower?")

    assert result.exit_code == 0, result
    (lead_first, *_) = chats_with(standin, LEAD)
    lead_prompt = system_prompt(lead_first)
    assert "## Skill: research-methods" in lead_prompt
    assert "- fact-checker: Verifies claims against primary sources" in lead_prompt
    assert "- citation-formatter: Formats sources as a reference list" in lead_prompt
    offered = {tool["function"]["name"] for tool in lead_first.body["tools"]}
    assert {"fact-checker", "summarizer", "citation-formatter", "web_search"} <= offered

    checker = chats_with(standin, CHECKER)
    assert checker[0].last_user_message == claim
    assert "## Skill: research-methods" in system_prompt(checker[0])  # the skill the sub-agent names
    assert {tool["function"]["name"] for tool in checker[0].body["tools"]} >= {"web_search"}
    assert mcp_http.record.calls(mark) == [("web_search", {"query": "Eiffel Tower height"})]

    execution = executions.get(api, exec_id)
    calls = executions.tool_calls(execution)
    summary = [(c["name"], c["source"], c["phase"]) for c in calls]
    assert summary == [
        ("fact-checker", "sub-agent:fact-checker", "COMPLETED"),
        ("web_search", "mcp:web-search", "COMPLETED"),
    ], summary
    delegated, searched = calls
    assert searched["id"].startswith(f"{delegated['id']}/"), calls  # the sub-agent's call, under the lead's
    assert delegated["result"].startswith("Checked: ") and "Result for Eiffel Tower height" in delegated["result"]
    assert executions.messages(execution)[-1] == ("AGENT", f"Lead: {delegated['result']}")


def test_concurrent_runs_of_one_agent_each_get_their_own_reply(
    cli: Cli, api: StackClient, standin: StandinClient, agents: dict[str, str]
) -> None:
    standin.add_rules(reply("Reply to [{user}]", delay=0.5, user_contains="ticket"))
    messages = [f"ticket {n}: {word}" for n, word in enumerate(["login", "billing", "crash", "export", "typo"])]

    with ThreadPoolExecutor(max_workers=len(messages)) as pool:
        runs = list(pool.map(lambda text: run(cli, "code-reviewer", "-m", text), messages))

    for text, (result, exec_id) in zip(messages, runs, strict=True):
        assert result.exit_code == 0, result
        assert f"🤖 Agent: Reply to [{text}]" in run_lines(result.stdout), result
        execution = executions.get(api, exec_id)
        assert executions.messages(execution) == [("HUMAN", text), ("AGENT", f"Reply to [{text}]")]
        assert execution["status"]["output"] == {"response": f"Reply to [{text}]"}
    assert len({exec_id for _, exec_id in runs}) == len(messages)
    chats = standin.chats()
    assert sorted(chat.last_user_message for chat in chats) == sorted(messages)
    overlapping = _overlaps(chats)
    assert overlapping, "the five runs never called the model at the same time"


def _overlaps(chats: list[RecordedRequest]) -> bool:
    """Whether two chats arrived within the half second each took to answer (they ran concurrently)."""
    times = sorted(chat.time for chat in chats)
    return any(later - earlier < 0.5 for earlier, later in itertools.pairwise(times))


def test_a_failing_model_fails_the_run_with_exit_code_5(
    cli: Cli, api: StackClient, standin: StandinClient, llm: LlmUnderTest, agents: dict[str, str]
) -> None:
    standin.add_rules(error(400, "prompt too long for the context window"))

    result, exec_id = run(cli, "code-reviewer", "-m", "A very long diff")

    assert result.exit_code == 5, result  # the real platform exited 0 whatever the outcome
    execution = executions.get(api, exec_id)
    assert executions.execution_phase(execution) == "FAILED"
    error_text = execution["status"]["error"]
    assert "answered HTTP 400: prompt too long for the context window" in error_text, error_text
    lines = run_lines(result.stdout)
    assert "❌ Execution failed" in lines and f"Error: {error_text}" in lines, result
    assert any(DURATION.fullmatch(line) for line in lines), result
