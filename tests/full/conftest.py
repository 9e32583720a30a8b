"""Tier 3 (full): real execution on Temporal, with both runners, an LLM and loopback fixtures.

The stack runs every component (stigmer-server, Temporal, workflow-runner, agent-runner), one stack
per test module. The LLM is a real Ollama when ``--llm=ollama`` (or ``auto`` and one answers with the
model), the local real model with ``--llm=local`` (``support.llm_local``), else the deterministic
stand-in, started once per session (per xdist worker). The examples'
API base URLs point at one loopback HTTP fixture, their stdio MCP commands at the MCP fixture, and
their MCP URLs at an HTTP instance of it; both record calls and the environment they received.

When a module's tests are done, the Temporal history of every execution it ran is written to
``reports/histories/<module>/<execution id>.json`` (artifacts, for replay against later code).

On ``--target remote`` no LLM is started (the installation has its own), tests that script the model
or read what it received skip, and only the histories of the executions this run's CLI calls named are
exported (a shared Temporal holds everyone's).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from support.fixtures.grpc_service import GrpcService
from support.fixtures.http_api import HttpApi
from support.fixtures.mcp_process import MCP_FIXTURE, McpHttpServer, McpRecord, start_mcp_http
from support.llm import DEFAULT_MODEL, LLM_USED, LlmUnderTest, start_llm
from support.llm_standin import StandinClient
from support.prereqs import TIER_COMPONENTS
from support.processes import RunId
from support.pytest_plugin import mark_tier, register_stack
from support.remote import RemoteStack
from support.stack import Stack
from support.strict import skip_outside_cell
from support.target import Target, skip_not_owned
from support.temporal_history import export_histories, export_workflow_histories
from support.touched_executions import execution_ids, texts_of


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, Path(__file__).parent, "full")


@pytest.fixture(scope="session")
def llm(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, run_id: RunId, target: Target
) -> Iterator[LlmUnderTest]:
    """The LLM the agents call (see ``support.llm``); its kind is shown in the test report."""
    if target.remote:
        model = os.environ.get("STIGMER_LLM_MODEL") or DEFAULT_MODEL
        remote = LlmUnderTest("remote", "", model, f"the remote installation's own LLM (agents name {model})")
        pytestconfig.stash[LLM_USED] = remote.describe()
        yield remote
        return
    with start_llm(pytestconfig, tmp_path_factory.mktemp("llm"), run_id) as chosen:
        yield chosen


@pytest.fixture(scope="module", autouse=True)
def fresh_llm(llm: LlmUnderTest) -> None:
    """Each module starts with a stand-in without rules or recordings (an earlier module's are gone)."""
    if llm.standin is not None:
        llm.standin.control.reset()


@pytest.fixture
def standin(request: pytest.FixtureRequest, llm: LlmUnderTest, target: Target) -> StandinClient:
    """The stand-in's control, with no rules and no recorded requests: for tests that script the LLM.

    Against a real Ollama such tests skip: a model's answers cannot be scripted; on ``--target remote``
    too: the installation's LLM is not this run's stand-in.
    """
    if target.remote:
        skip_not_owned(target, f"{request.node.nodeid} (it scripts the LLM stand-in and reads what it received)")
    if llm.standin is None:
        skip_outside_cell(
            f"{request.node.name} scripts the model's replies and reads what it received, which needs the LLM "
            f"stand-in ({llm.describe()} is in use): nox -s full -- --llm=standin"
        )
    llm.standin.control.reset()
    return llm.standin.control


@pytest.fixture(scope="session")
def http_api() -> Iterator[HttpApi]:
    """The loopback HTTP API every example's base URL points at (one per session)."""
    with HttpApi() as api:
        yield api


@pytest.fixture
def http(http_api: HttpApi) -> HttpApi:
    """The HTTP fixture with no routes and no recorded requests, for one test."""
    http_api.clear()
    return http_api


@pytest.fixture(scope="session")
def grpc_service() -> Iterator[GrpcService]:
    """A loopback gRPC service with reflection, for grpc_call tasks."""
    with GrpcService() as service:
        yield service


@pytest.fixture(scope="module")
def mcp_record(tmp_path_factory: pytest.TempPathFactory) -> McpRecord:
    """Where the MCP fixture servers of this module's stack record calls and the environment they got."""
    return McpRecord(tmp_path_factory.mktemp("mcp") / "calls.jsonl")


@pytest.fixture(scope="module")
def mcp_http(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: RunId
) -> Iterator[McpHttpServer]:
    """An HTTP instance of the MCP fixture with the tools of the examples' docs-search and web-search servers."""
    folder = tmp_path_factory.mktemp("mcp-http")
    tools = ("search_docs", "web_search")
    with start_mcp_http(folder / "calls.jsonl", folder / "mcp-http.log", tools=tools, run_id=run_id) as server:
        register_stack(request.node, server)
        yield server


@pytest.fixture(scope="session")
def stdio_mcp_on_host(pytestconfig: pytest.Config) -> None:
    """Skips (four parts) a test whose agents run the stdio MCP fixture when the agent-runner is a container."""
    if pytestconfig.getoption("runner") == "docker":
        skip_outside_cell(
            "its agents start the stdio MCP fixture from this checkout, which exists on the host only, and the "
            "agent-runner runs in a container (--runner=docker): nox -s full -- --runner=process"
        )


def mcp_command(record: McpRecord) -> tuple[str, str]:
    """The command and arguments that start the MCP fixture over stdio."""
    return sys.executable, shlex.join([str(MCP_FIXTURE), "--record", str(record.path)])


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """The full tier provisions every component."""
    return TIER_COMPONENTS["full"]


@pytest.fixture(scope="module")
def stack_env(
    request: pytest.FixtureRequest, llm: LlmUnderTest, http_api: HttpApi, mcp_record: McpRecord, mcp_http: McpHttpServer
) -> Mapping[str, str]:
    """The LLM's address, and the examples' endpoints and MCP servers pointed at the fixtures."""
    register_stack(request.node, llm)
    command, args = mcp_command(mcp_record)
    return {
        "OLLAMA_HOST": llm.url,
        "STIGMER_LLM_MODEL": llm.model,
        **http_api.env(),
        "GITHUB_MCP_COMMAND": command,
        "GITHUB_MCP_ARGS": args,
        "AWS_MCP_COMMAND": command,
        "AWS_MCP_ARGS": args,
        "DOCS_MCP_URL": mcp_http.url,
        "SEARCH_MCP_URL": mcp_http.url,
    }


def histories_dir(config: pytest.Config, module: str) -> Path:
    """Where a module's Temporal histories are written: ``<e2e-reports>/histories/<module>/``."""
    root = Path(config.getoption("e2e_reports"))
    root = root if root.is_absolute() else config.rootpath / root
    return root / "histories" / module


@pytest.fixture(scope="module", autouse=True)
def temporal_histories(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Path]:
    """After the module's tests, the history of every execution on its stack's Temporal, as artifacts."""
    dest = histories_dir(request.config, request.module.__name__.rpartition(".")[2])
    yield dest
    if isinstance(stack, RemoteStack):
        calls = [call for history in stack.histories for call in history]
        export_workflow_histories(stack.temporal_address, execution_ids(texts_of(calls)), dest)
        return
    export_histories(stack.temporal_address, dest)
