"""Runtime secrets reach what needs them and leak nowhere else.

Examples 05 (an agent whose MCP server needs AWS keys), 14 (a workflow that puts tokens in HTTP
headers) and 17 (a workflow that hands a token to an agent's MCP server), and the project
``secret_forms`` (tokens in a query string, a URL path, HTTP Basic auth and a URL-encoded query value)
run with fresh secret values. Each value is shown to have arrived where it was meant to go, then
searched for everywhere else, in every form it could take (as is, URL-encoded, base64-encoded after
its Basic-auth user, JSON-escaped, cut short by a truncation): the Temporal history of every execution
(payloads decoded; the exported artifacts), every component log in ``$STIGMER_HOME/logs/``, every
execution read through the API, the CLI's output (run, get, list) and every request the LLM received.
"""

from __future__ import annotations

import base64
import json
import secrets as random
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import executions
from support.cli import CliResult
from support.client import StackClient, to_dict
from support.fixtures.http_api import HttpApi, Route
from support.fixtures.mcp_process import McpRecord
from support.fixtures.mcp_server import digest
from support.llm import LlmUnderTest
from support.stack import Stack
from support.temporal_history import export_histories, readable_text
from tests.full.helpers import apply_projects, run, secret_args

PROJECTS = (
    "05_agent_with_environment_variables",
    "14_workflow_with_runtime_secrets",
    "17_workflow_agent_with_runtime_secrets",
    "secret_forms",
)
# The first test carries the module's setup: four projects applied and four executions run one after the
# other, which can pass the tier's 120 s per test on a starved machine (seen once at load 17).
pytestmark = pytest.mark.timeout(300)
# The user of the Basic-auth header of ``secret_forms``.
BASIC_USER = "robot"
# A cut value is searched for from this many characters on.
CUT = 12


def fresh(prefix: str) -> str:
    """A secret value no other test uses (and that nothing could print by chance)."""
    return f"{prefix}{random.token_hex(12)}"


@dataclass
class Runs:
    """The secrets given, the executions run with them, and everything the CLI printed."""

    values: dict[str, str]
    execution_ids: list[str] = field(default_factory=list)
    cli_output: list[CliResult] = field(default_factory=list)
    mcp_envs: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def runs(
    stack: Stack,
    tmp_path_factory: pytest.TempPathFactory,
    http_api: HttpApi,
    mcp_record: McpRecord,
    stdio_mcp_on_host: None,
) -> Iterator[Runs]:
    """The three examples applied and run to COMPLETED with fresh secrets."""
    cli = stack.cli()
    apply_projects(cli, tmp_path_factory.mktemp("projects"), PROJECTS)
    http_api.clear()
    done = Runs(
        {
            "AWS_ACCESS_KEY_ID": fresh("AKIA"),
            "AWS_SECRET_ACCESS_KEY": fresh("aws-secret-"),
            "DEPLOY_API_TOKEN": fresh("dpl-"),
            "SLACK_TOKEN": fresh("xoxb-"),
            "GITHUB_TOKEN": fresh("ghp_"),
            "QUERY_TOKEN": fresh("qry-"),
            "PATH_TOKEN": fresh("pth-"),
            "BASIC_PASSWORD": fresh("pwd-"),
            "ODD_TOKEN": fresh("odd/+ &=") + "/",
        }
    )
    values = done.values
    http_api.add(
        Route("GET", "/v1/deployments/latest", {"service": "checkout", "version": "2.4.0"}),
        Route("POST", "/api/chat.postMessage", {"ok": True}),
        Route("GET", "/v1/echo", {"ok": True}),
        Route("GET", f"/v1/items/{values['PATH_TOKEN']}", {"ok": True}),
        Route("GET", "/v1/private", {"ok": True}),
    )
    mark = mcp_record.mark()
    for ref, names, extra in (
        ("cloud-deployer", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("-m", "Deploy checkout")),
        ("notifications/deploy-notice", ("DEPLOY_API_TOKEN", "SLACK_TOKEN"), ()),
        ("releases/draft-release-notes", ("GITHUB_TOKEN", "SLACK_TOKEN"), ()),
        ("e2e/secret-forms", ("QUERY_TOKEN", "PATH_TOKEN", "BASIC_PASSWORD", "ODD_TOKEN"), ()),
    ):
        result, exec_id = run(cli, ref, *extra, *secret_args({name: values[name] for name in names}))
        assert result.exit_code == 0, result
        done.execution_ids.append(exec_id)
        done.cli_output.append(result)
    done.mcp_envs = [start["env"] for start in mcp_record.starts(mark)]
    done.cli_output += [cli("get", "execution", exec_id, "-o", "json") for exec_id in done.execution_ids]
    done.cli_output += [cli("get", "execution", exec_id) for exec_id in done.execution_ids]
    done.cli_output.append(cli("list", "executions", "-o", "json"))
    done.cli_output.append(cli("list", "executions"))
    assert all(result.exit_code == 0 for result in done.cli_output), done.cli_output
    yield done
    http_api.clear()


def base64_runs(value: str) -> list[str]:
    """The base64 runs that encode ``value`` whatever precedes it (one per byte alignment)."""
    raw = value.encode()
    runs = []
    for skip in range(3):
        body = raw[skip:]
        runs.append(base64.b64encode(body[: len(body) // 3 * 3]).decode())
    return runs


def forms(value: str) -> list[str]:
    """A secret as it could appear: as is, URL-encoded, base64-encoded (alone or after a Basic-auth user),
    JSON-escaped, or cut short (its first ``CUT`` characters, as is or URL-encoded)."""
    encoded = {urllib.parse.quote(value, safe=""), urllib.parse.quote(value), urllib.parse.quote_plus(value)}
    return [
        value,
        *encoded,
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(f"{BASIC_USER}:{value}".encode()).decode(),
        *base64_runs(value),
        json.dumps(value)[1:-1],
        value[:CUT],
        *(form[:CUT] for form in encoded),
    ]


def leaks(text: str, values: dict[str, str]) -> list[str]:
    """The names of the secrets found in ``text`` in any of their forms."""
    return [name for name, value in values.items() if any(form in text for form in forms(value))]


def test_the_secrets_reached_what_needed_them(runs: Runs, http_api: HttpApi) -> None:
    values = runs.values
    basic = base64.b64encode(f"{BASIC_USER}:{values['BASIC_PASSWORD']}".encode()).decode()
    authorizations = {(r.path, r.header("Authorization")) for r in http_api.requests()}
    assert authorizations == {
        ("/v1/deployments/latest", f"Bearer {values['DEPLOY_API_TOKEN']}"),
        ("/api/chat.postMessage", f"Bearer {values['SLACK_TOKEN']}"),
        ("/v1/echo", None),
        (f"/v1/items/{values['PATH_TOKEN']}", None),
        ("/v1/private", f"Basic {basic}"),
    }
    (echo,) = http_api.requests("/v1/echo")
    assert echo.query == {"page": "1", "token": values["QUERY_TOKEN"], "odd": values["ODD_TOKEN"]}
    aws, github = runs.mcp_envs
    assert aws["AWS_ACCESS_KEY_ID"] == digest(values["AWS_ACCESS_KEY_ID"])
    assert aws["AWS_SECRET_ACCESS_KEY"] == digest(values["AWS_SECRET_ACCESS_KEY"])
    assert github["GITHUB_PERSONAL_ACCESS_TOKEN"] == digest(values["GITHUB_TOKEN"])
    # each MCP server gets the variables its definition names, not the rest of the runtime environment
    assert not {"DEPLOY_ENVIRONMENT", "LOG_LEVEL"} & aws.keys(), sorted(aws)
    assert not {"SLACK_TOKEN", "GITHUB_TOKEN"} & github.keys(), sorted(github)


def test_no_secret_in_the_temporal_histories(runs: Runs, stack: Stack, temporal_histories: Path) -> None:
    exported = export_histories(stack.temporal_address, temporal_histories)

    by_id = {path.stem: path for path in exported}
    # every execution has its history: the workflows and the agent executions they started
    assert set(runs.execution_ids) <= set(by_id), sorted(by_id)
    assert len(by_id) >= len(runs.execution_ids) + 1, sorted(by_id)
    for path in exported:
        raw = path.read_text()
        found = leaks(raw, runs.values) + leaks(readable_text(raw), runs.values)
        assert not found, f"{path.name} holds the secret(s) {sorted(set(found))}"
    # the search sees into payloads: each execution's ID is the input of its workflow
    for exec_id in runs.execution_ids:
        assert exec_id in readable_text(by_id[exec_id].read_text())


@pytest.mark.needs("owned-stack")
def test_no_secret_in_any_component_log(runs: Runs, stack: Stack) -> None:
    logs = stack.log_paths()
    assert set(logs) >= {"stigmer-server", "temporal", "workflow-runner", "agent-runner"}, sorted(logs)
    for component, path in logs.items():
        text = path.read_text(errors="replace")
        assert not leaks(text, runs.values), f"the {component} log holds {leaks(text, runs.values)}"
    assert any(runs.execution_ids[0] in path.read_text(errors="replace") for path in logs.values())


def test_no_secret_in_any_execution_the_api_returns(runs: Runs, api: StackClient) -> None:
    everything = [to_dict(e) for e in api.list_agent_executions()] + [
        to_dict(e) for e in api.list_workflow_executions()
    ]
    assert {e["metadata"]["id"] for e in everything} >= set(runs.execution_ids)
    for execution in everything:
        assert not leaks(json.dumps(execution), runs.values), execution["metadata"]["id"]
    for exec_id in runs.execution_ids:
        env = executions.get(api, exec_id)["spec"]["runtime_env"]
        assert env and all(entry["secret"] is True for entry in env.values()), env


def test_no_secret_in_the_cli_output(runs: Runs) -> None:
    for result in runs.cli_output:
        shown = f"{result.stdout}\n{result.stderr}"
        assert not leaks(shown, runs.values), result


def test_no_secret_reached_the_model(runs: Runs, llm: LlmUnderTest) -> None:
    if llm.standin is None:
        pytest.skip("the requests a real Ollama received are not recorded: run with --llm=standin to check them")
    chats = llm.standin.control.chats()
    assert chats, "no agent called the model"
    for chat in chats:
        assert not leaks(json.dumps(chat.body), runs.values), chat.body
