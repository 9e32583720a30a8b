"""Tier 3 (full): real execution on Temporal, with both runners, an LLM and loopback fixtures.

The stack runs every component (stigmer-server, Temporal, workflow-runner, agent-runner). The LLM is
a real Ollama when ``--llm=ollama`` (or ``auto`` and one answers with the model), else the
deterministic stand-in, started once per session. The examples' API base URLs point at one loopback
HTTP fixture, their MCP commands at the MCP fixture server, which records calls and the environment
it received.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from support.fixtures.grpc_service import GrpcService
from support.fixtures.http_api import HttpApi
from support.llm import LlmUnderTest, start_llm
from support.prereqs import TIER_COMPONENTS
from support.processes import RunId
from support.pytest_plugin import mark_tier

MCP_FIXTURE = Path(__file__).resolve().parents[2] / "support" / "fixtures" / "mcp_server.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, Path(__file__).parent, "full")


@pytest.fixture(scope="session")
def llm(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, run_id: RunId) -> Iterator[LlmUnderTest]:
    """The LLM the agents call (see ``support.llm``); its kind is shown in the test report."""
    with start_llm(pytestconfig, tmp_path_factory.mktemp("llm"), run_id) as chosen:
        yield chosen


@pytest.fixture(scope="session")
def http_api() -> Iterator[HttpApi]:
    """The loopback HTTP API every example's base URL points at."""
    with HttpApi() as api:
        yield api


@pytest.fixture(scope="session")
def grpc_service() -> Iterator[GrpcService]:
    """A loopback gRPC service with reflection, for grpc_call tasks."""
    with GrpcService() as service:
        yield service


@pytest.fixture(scope="module")
def mcp_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the MCP fixture servers started by this module's stack record calls and environments."""
    return tmp_path_factory.mktemp("mcp") / "calls.jsonl"


def mcp_command(record: Path) -> tuple[str, str]:
    """The command and arguments that start the MCP fixture over stdio."""
    return sys.executable, shlex.join([str(MCP_FIXTURE), "--record", str(record)])


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """The full tier provisions every component."""
    return TIER_COMPONENTS["full"]


@pytest.fixture(scope="module")
def stack_env(llm: LlmUnderTest, http_api: HttpApi, mcp_record: Path) -> Mapping[str, str]:
    """The LLM's address, and the examples' endpoints and MCP commands pointed at the fixtures."""
    command, args = mcp_command(mcp_record)
    return {
        "OLLAMA_HOST": llm.url,
        "STIGMER_LLM_MODEL": llm.model,
        **http_api.env(),
        "GITHUB_MCP_COMMAND": command,
        "GITHUB_MCP_ARGS": args,
        "AWS_MCP_COMMAND": command,
        "AWS_MCP_ARGS": args,
    }
