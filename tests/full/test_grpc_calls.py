"""A grpc_call task on Temporal: the workflow-runner discovers the service through reflection, calls it,
and the answer is the task's output, kept in the execution and usable by the next task."""

from __future__ import annotations

import pytest

from support import executions
from support.cli import Cli
from support.client import StackClient
from support.fixtures.grpc_service import HEALTH_SERVICE, GrpcService
from support.stack import Stack
from tests.full.helpers import apply_project, run


@pytest.fixture(scope="module")
def probe(stack: Stack, grpc_service: GrpcService, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The health-probe workflow, pointed at the gRPC fixture: its reference."""
    replacements = {'GRPC_ADDRESS = "127.0.0.1:1"': f'GRPC_ADDRESS = "{grpc_service.address}"'}
    apply_project(stack.cli(), "grpc_health", tmp_path_factory.mktemp("projects") / "grpc_health", replacements)
    return "e2e/health-probe"


def test_a_grpc_call_reaches_the_service_and_its_answer_flows_into_the_next_task(
    cli: Cli, api: StackClient, grpc_service: GrpcService, probe: str
) -> None:
    before = len(grpc_service.calls())

    result, exec_id = run(cli, probe)

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == {"check": "COMPLETED", "report": "COMPLETED"}
    assert executions.task_outputs(execution)["check"] == {"status": "SERVING"}
    assert execution["status"]["output"] == {"status": "SERVING"}
    called = [call.method for call in grpc_service.calls()[before:]]
    assert called == [f"/{HEALTH_SERVICE}/Check"], called
