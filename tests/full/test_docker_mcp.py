"""Example 03 with a Docker engine: its docker MCP server runs as a container of the MCP fixture's image,
started by the agent-runner through the engine's API; the run completes, the fixture records the calls
and the environment it received (only the variables the server declares), and no container is left.

Needs an engine (``DOCKER_HOST``) holding the fixture image (``STIGMER_E2E_MCP_FIXTURE_IMAGE``): the
module is skipped with the four-part message otherwise (``support.fixtures.mcp_docker``).
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from stigmer.container_labels import COMPONENT, HOME, RUN_ID
from support import executions
from support.cli import Cli
from support.client import StackClient
from support.fixtures import mcp_docker
from support.fixtures.mcp_process import McpRecord
from support.fixtures.mcp_server import digest
from support.llm_standin import StandinClient, reply, tool_call
from support.stack import Stack
from support.strict import OUTSIDE_CELL_PREFIX
from support.waits import eventually
from tests.full.helpers import DOCKER_SERVER, STDIO_GITHUB_SERVER, apply_project, secret_args

pytestmark = pytest.mark.skipif(
    "config.getoption('runner') != 'docker'",
    reason=f"{OUTSIDE_CELL_PREFIX}docker MCP servers run where the pipeline provisions an engine and the MCP "
    "fixture image: nox -s full -- --runner=docker",
)


@pytest.fixture(scope="module", autouse=True)
def engine_and_image() -> None:
    """The engine and the fixture image the docker cell provisions (four-part skip, a failure in CI, without)."""
    missing = mcp_docker.missing()
    if missing is not None:
        pytest.skip(missing)


EXECUTION_ID = "io.stigmer.execution-id"  # the agent-runner's labels on an MCP server's container
MCP_SERVER = "io.stigmer.mcp-server"
RUNNER = "io.stigmer.agent-runner"  # the ID of the runner process that started the container
RECORD_IN_CONTAINER = "/record/calls.jsonl"
MISSING_IMAGE = "stigmer-e2e-no-such-image:never"
WITHOUT_IMAGE = "devops-assistant-without-image"
SECRETS = {"GITHUB_TOKEN": "ghp_Dk7Lq2Vx9Tz4Ws1", "DOCS_API_KEY": "dk-8Hm3Rq5Yt2Pz"}
COMMITS = {"owner": "stigmer", "repo": "stigmer"}
# Tools the docs-search (HTTP) server does not offer: the call reaches the container.
CONTAINER_TOOLS = "list_commits,list_pull_requests"


def fixture_server(image: str, record_dir: Path) -> str:
    """Example 03's docker server, running ``image`` (the fixture), recording into ``record_dir``."""
    return f"""                McpServer.docker(
                    "filesystem",
                    image="{image}",
                    args=["--record", "{RECORD_IN_CONTAINER}", "--tools", "{CONTAINER_TOOLS}"],
                    volumes=["{record_dir}:/record"],
                    env={{"LOG_LEVEL": "info", "FILESYSTEM_TOKEN": env_ref("DOCS_API_KEY")}},
                ),
"""


@pytest.fixture(scope="module")
def container_record(tmp_path_factory: pytest.TempPathFactory) -> McpRecord:
    """The record of the fixture in the container: a folder of the host mounted into it."""
    folder = tmp_path_factory.mktemp("mcp-docker")
    folder.chmod(0o777)  # the image's user may not be ours
    return McpRecord(folder / Path(RECORD_IN_CONTAINER).name)


@pytest.fixture(scope="module")
def agents(stack: Stack, tmp_path_factory: pytest.TempPathFactory, container_record: McpRecord) -> None:
    """Example 03 with the fixture image, and a variant whose docker server names an image nobody has.

    Both without the stdio server: its command is this checkout's python, which the agent-runner's
    container (``--runner=docker``) does not have; the stdio transport is tested by test_agents.py."""
    cli, dest = stack.cli(), tmp_path_factory.mktemp("projects")
    folder = container_record.path.parent
    apply_project(
        cli,
        "03_agent_with_mcp_servers",
        dest / "03",
        {DOCKER_SERVER: fixture_server(mcp_docker.fixture_image(), folder), STDIO_GITHUB_SERVER: ""},
    )
    apply_project(
        cli,
        "03_agent_with_mcp_servers",
        dest / "03-without-image",
        {
            DOCKER_SERVER: fixture_server(MISSING_IMAGE, folder),
            STDIO_GITHUB_SERVER: "",
            'name="devops-assistant"': f'name="{WITHOUT_IMAGE}"',
        },
    )


def start(cli: Cli, agent: str, message: str) -> str:
    """``stigmer run`` without following; the execution's ID."""
    result = cli("run", agent, "-m", message, "--no-follow", *secret_args(SECRETS), timeout=60)
    assert result.exit_code == 0, result
    match = re.search(r"Execution ID: (\S+)", result.stdout)
    assert match, result
    return match[1]


def containers_of(stack: Stack, execution_id: str) -> list[dict[str, Any]]:
    return [c for c in mcp_docker.mcp_containers(stack.home) if c["labels"].get(EXECUTION_ID) == execution_id]


def no_container_left(stack: Stack) -> None:
    def none() -> None:
        left = mcp_docker.mcp_containers(stack.home)
        assert left == [], f"MCP server containers left after the run: {left}"

    eventually(none, timeout=30, interval=0.2)


def test_example_03_completes_with_its_docker_mcp_server_running_the_fixture_image_in_a_container(
    cli: Cli, api: StackClient, stack: Stack, standin: StandinClient, container_record: McpRecord, agents: None
) -> None:
    standin.add_rules(
        reply("Commits: {result}", after_tool="list_commits", delay=3.0),  # the container lives meanwhile
        tool_call("list_commits", COMMITS, after_tool=False),
    )
    mark = container_record.mark()

    exec_id = start(cli, "devops-assistant", "What changed lately?")

    (running,) = eventually(lambda: _one(containers_of(stack, exec_id)), timeout=60, interval=0.1)
    labels = running["labels"]
    assert {key: labels.get(key) for key in (HOME, COMPONENT, RUN_ID, MCP_SERVER)} == {
        HOME: str(stack.home),
        COMPONENT: "mcp-server",
        RUN_ID: str(stack.run_id),
        MCP_SERVER: "filesystem",
    }, labels
    for value in SECRETS.values():
        assert value not in str(labels), "a secret value is in the container's labels"
    names = set(running["env_names"])
    assert {"LOG_LEVEL", "FILESYSTEM_TOKEN"} <= names, names
    assert not {"GITHUB_TOKEN", "DOCS_API_KEY", "STIGMER_HOME", "OLLAMA_HOST", "DOCKER_HOST"} & names, names

    execution = executions.wait_finished(api, exec_id, timeout=120, alive=stack.assert_alive)
    assert executions.execution_phase(execution) == "COMPLETED", execution["status"]
    (call,) = executions.tool_calls(execution)
    assert (call["name"], call["source"], call["phase"]) == ("list_commits", "mcp:filesystem", "COMPLETED")
    assert "Add retries" in call["result"], call
    assert executions.messages(execution)[-1] == ("AGENT", f"Commits: {call['result']}")

    (started,) = container_record.starts(mark)
    env = started["env"]
    assert started["transport"] == "stdio"
    assert env["LOG_LEVEL"] == digest("info")
    assert env["FILESYSTEM_TOKEN"] == digest(SECRETS["DOCS_API_KEY"])  # a secret, resolved for this run
    # only what the server declares (and what the image itself sets): none of the run's other variables
    assert not {"GITHUB_TOKEN", "DOCS_API_KEY", "GITHUB_PERSONAL_ACCESS_TOKEN"} & env.keys(), sorted(env)
    assert container_record.calls(mark) == [("list_commits", COMMITS)]
    (recorded,) = [e for e in container_record.since(mark) if e["event"] == "call"]
    assert recorded["idempotency_key"] == f"{exec_id}/{call['id']}"

    no_container_left(stack)
    for name, path in stack.log_paths().items():
        text = path.read_text(errors="replace")
        for value in SECRETS.values():
            assert value not in text, f"a secret value is in the {name} log"


def test_a_cancelled_run_removes_its_docker_mcp_server_container(
    cli: Cli, api: StackClient, stack: Stack, standin: StandinClient, agents: None
) -> None:
    standin.add_rules(reply("too late", delay=120.0))  # the model never answers in time
    exec_id = start(cli, "devops-assistant", "Take your time")
    eventually(lambda: _one(containers_of(stack, exec_id)), timeout=60, interval=0.1)

    cancelled = cli("cancel", exec_id)

    assert cancelled.exit_code == 0, cancelled
    execution = executions.wait_finished(api, exec_id, timeout=60, alive=stack.assert_alive)
    assert executions.execution_phase(execution) == "CANCELLED", execution["status"]
    no_container_left(stack)


def test_the_container_of_an_agent_runner_that_was_killed_goes_away(
    cli: Cli, api: StackClient, stack: Stack, standin: StandinClient, agents: None
) -> None:
    standin.add_rules(reply("too late", delay=120.0))
    exec_id = start(cli, "devops-assistant", "Take your time")
    (first,) = eventually(lambda: _one(containers_of(stack, exec_id)), timeout=60, interval=0.1)
    runner = stack.running_pid("agent-runner")
    assert runner is not None, stack.status()

    os.kill(runner, signal.SIGKILL)

    def gone() -> None:
        left = [c for c in mcp_docker.mcp_containers(stack.home) if c["labels"].get(RUNNER) == first["labels"][RUNNER]]
        assert left == [], f"the killed runner's MCP server container is still there: {left}"

    eventually(gone, timeout=60, interval=0.2)
    # the run goes on with the restarted runner (and a container of its own) until it is cancelled
    assert cli("cancel", exec_id).exit_code == 0
    executions.wait_finished(api, exec_id, timeout=90, alive=stack.assert_alive)
    no_container_left(stack)


def test_a_docker_mcp_server_whose_image_the_engine_has_not_fails_the_run_clearly(
    cli: Cli, api: StackClient, stack: Stack, standin: StandinClient, agents: None
) -> None:
    exec_id = start(cli, WITHOUT_IMAGE, "List the workspace files")

    execution = executions.wait_finished(api, exec_id, timeout=120, alive=stack.assert_alive)

    assert executions.execution_phase(execution) == "FAILED", execution["status"]
    error = execution["status"]["error"]
    assert re.fullmatch(
        rf"MCP server 'filesystem' \(docker\) failed to start: image '{re.escape(MISSING_IMAGE)}' is not on the "
        r"Docker engine at \S+ and could not be pulled \(.+\); build or load it there first "
        r"\(docker build / docker load\)",
        error,
    ), error
    assert standin.chats() == [], "the model was called although the agent could not start its MCP servers"
    no_container_left(stack)


def _one(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert len(found) == 1, f"expected one MCP server container of the execution, found {found}"
    return found
