"""Secret runtime values: forced secret when declared, required ones enforced, redacted in every read,
in clear only for runners holding the runner token; the database and the token file are private."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1 import execution_pb2_grpc
from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.api.v1.common_pb2 import EnvVar, Ref
from stigmer.config import Settings
from stigmer.server import executions, secret_values
from stigmer.server.apply import apply
from stigmer.server.errors import Invalid, PermissionDenied
from stigmer.server.events import ExecutionFeed
from stigmer.server.executions import AGENT, WORKFLOW
from stigmer.server.serve import StigmerServer, build_server
from stigmer.server.store import Store
from support.client import authorized_channel
from tests.unit.messages import make_agent, make_task, make_workflow

REDACTED = secret_values.REDACTED
TIMEOUT = 10

AGENT_ENV = [
    EnvVar(name="GITHUB_TOKEN", secret=True, required=True),
    EnvVar(name="REGION", default_value="eu"),
    EnvVar(name="API_KEY", secret=True, default_value="default-key"),
    EnvVar(name="OWNER", required=True),
]


@pytest.fixture
def store(store: Store) -> Store:
    """Agent `helper` declaring secret and required env vars; workflow `demo/flow` declaring one secret."""
    workflow = make_workflow(
        make_task("ask", "agent_call", {"agent": "helper", "message": "hi"}),
        name="flow",
    )
    workflow.spec.env.add(name="DB_PASSWORD", secret=True, required=True)
    apply(store, ApplyRequest(agents=[make_agent("helper", env=AGENT_ENV)], workflows=[workflow]))
    return store


def values(**given: str | tuple[str, bool]) -> dict[str, pb.RuntimeEnvValue]:
    """Runtime values: ``NAME="v"`` (not flagged secret) or ``NAME=("v", True)``."""
    return {
        name: pb.RuntimeEnvValue(value=v[0], secret=v[1]) if isinstance(v, tuple) else pb.RuntimeEnvValue(value=v)
        for name, v in given.items()
    }


def create(store: Store, **fields: Any) -> pb.AgentExecution:
    fields.setdefault("runtime_env", values(GITHUB_TOKEN="ghp-123", OWNER="me"))
    return executions.create_agent_execution(store, pb.CreateAgentExecutionRequest(agent_ref="helper", **fields))


def stored(store: Store, execution_id: str) -> Any:
    with store.transaction() as tx:
        record = tx.execution(execution_id)
    assert record is not None
    return record.execution


# --- creation ----------------------------------------------------------------------------------


def test_a_value_of_a_declared_secret_is_stored_secret_however_it_was_passed(store: Store) -> None:
    execution = create(store, runtime_env=values(GITHUB_TOKEN="ghp-123", OWNER="me", EXTRA=("x", True)))
    env = stored(store, execution.metadata.id).spec.runtime_env
    assert (env["GITHUB_TOKEN"].value, env["GITHUB_TOKEN"].secret) == ("ghp-123", True)  # declared secret
    assert (env["EXTRA"].value, env["EXTRA"].secret) == ("x", True)  # passed secret
    assert (env["OWNER"].value, env["OWNER"].secret) == ("me", False)


def test_every_missing_required_variable_is_named(store: Store) -> None:
    with pytest.raises(Invalid) as caught:
        create(store, runtime_env=values(REGION="us", OWNER=""))
    assert str(caught.value) == (
        "validation error: runtime_env: agent 'helper' requires GITHUB_TOKEN, OWNER (no default value); pass a value"
    )
    with pytest.raises(Invalid, match=r"workflow demo/flow requires DB_PASSWORD \(no default value\)"):
        executions.create_workflow_execution(store, pb.CreateWorkflowExecutionRequest(workflow_ref="demo/flow"))


# --- redaction -----------------------------------------------------------------------------------


def assert_redacted(execution: Any) -> None:
    env = execution.spec.runtime_env
    assert (env["GITHUB_TOKEN"].value, env["GITHUB_TOKEN"].secret) == (REDACTED, True)
    assert env["OWNER"].value == "me"
    api_key = next(var for var in execution.spec.agent.env if var.name == "API_KEY")
    assert api_key.default_value == REDACTED
    assert "ghp-123" not in str(execution) and "default-key" not in str(execution)


def test_every_read_redacts_secret_values(store: Store, feed: ExecutionFeed) -> None:
    created = create(store)
    execution_id = created.metadata.id
    assert_redacted(created)
    assert_redacted(executions.get_execution(store, AGENT, execution_id))
    (listed,) = executions.list_executions(store, AGENT, pb.ListExecutionsRequest()).executions
    assert_redacted(listed)

    following = executions.follow(store, feed, AGENT, execution_id, lambda: True, poll_seconds=0.05)
    assert_redacted(next(following))
    updated = executions.update_status(
        store, feed, AGENT, pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
    )
    assert_redacted(updated)
    assert_redacted(next(following))  # what subscribers receive
    assert_redacted(executions.cancel_execution(store, feed, AGENT, execution_id))
    assert_redacted(executions.delete_execution(store, feed, AGENT, execution_id))
    following.close()


def test_the_dispatcher_sees_executions_redacted(store: Store, feed: ExecutionFeed) -> None:
    execution_id = create(store).metadata.id
    (record,) = executions.pending_dispatch(store)
    assert_redacted(record.execution)
    assert_redacted(executions.mark_dispatched(store, feed, execution_id, "q"))


def test_an_execution_without_secrets_is_returned_as_is() -> None:
    execution = pb.AgentExecution()
    execution.spec.runtime_env["A"].value = "plain"
    assert secret_values.redacted(execution) is execution


# --- the runtime environment for runners ------------------------------------------------------------


def test_runtime_env_is_declared_defaults_overridden_by_runtime_values(store: Store) -> None:
    execution = create(store, runtime_env=values(GITHUB_TOKEN="ghp-123", OWNER="me", REGION="us", EXTRA=("x", True)))
    env = executions.runtime_env(store, execution.metadata.id)
    assert dict(env.values) == {
        "GITHUB_TOKEN": "ghp-123",
        "REGION": "us",
        "API_KEY": "default-key",
        "OWNER": "me",
        "EXTRA": "x",
    }
    assert list(env.secret_names) == ["API_KEY", "EXTRA", "GITHUB_TOKEN"]


def test_a_child_of_a_workflow_agent_call_follows_the_agents_declarations(store: Store) -> None:
    parent = executions.create_workflow_execution(
        store, pb.CreateWorkflowExecutionRequest(workflow_ref="demo/flow", runtime_env=values(DB_PASSWORD="pw"))
    )
    assert executions.get_execution(store, WORKFLOW, parent.metadata.id).spec.runtime_env["DB_PASSWORD"].value == (
        REDACTED
    )
    assert list(executions.runtime_env(store, parent.metadata.id).secret_names) == ["DB_PASSWORD"]
    with pytest.raises(Invalid, match="agent 'helper' requires GITHUB_TOKEN, OWNER"):
        create(store, parent_execution_id=parent.metadata.id, runtime_env={})
    child = create(store, parent_execution_id=parent.metadata.id)
    assert_redacted(child)
    assert executions.runtime_env(store, child.metadata.id).values["GITHUB_TOKEN"] == "ghp-123"


def test_the_runner_token_is_checked() -> None:
    secret_values.check_runner_token("abc", "abc")
    for presented in (None, "", "abd", "abc "):
        with pytest.raises(PermissionDenied, match="x-stigmer-runner-token"):
            secret_values.check_runner_token(presented, "abc")


def test_the_runner_token_is_created_private_once_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    token = secret_values.ensure_runner_token(home)
    path = home / "runner.token"
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_values.ensure_runner_token(home) == token
    assert [p.name for p in home.iterdir()] == ["runner.token"]  # no staging file left behind


def test_the_database_and_its_wal_files_are_private(tmp_path: Path, feed: ExecutionFeed) -> None:
    path = tmp_path / "stigmer.db"
    opened = Store.open(path)
    try:
        apply(opened, ApplyRequest(agents=[make_agent()]))  # a write creates the -wal and -shm files
        files = [path, path.with_name("stigmer.db-wal"), path.with_name("stigmer.db-shm")]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    finally:
        opened.close()


# --- over gRPC -----------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StigmerServer]:
    with build_server(Settings(home=tmp_path), address="127.0.0.1:0") as running:
        yield running


def test_get_runtime_env_requires_the_runner_token(server: StigmerServer, tmp_path: Path) -> None:
    apply(server.store, ApplyRequest(agents=[make_agent("helper", env=AGENT_ENV)]))
    with authorized_channel(server.address, tmp_path) as channel:
        executions_stub = execution_pb2_grpc.AgentExecutionServiceStub(channel)
        created = executions_stub.Create(
            pb.CreateAgentExecutionRequest(agent_ref="helper", runtime_env=values(GITHUB_TOKEN="ghp-123", OWNER="me")),
            timeout=TIMEOUT,
        )
        assert created.spec.runtime_env["GITHUB_TOKEN"].value == REDACTED
        runner = execution_pb2_grpc.RunnerServiceStub(channel)
        request = Ref(value=created.metadata.id)

        token = (tmp_path / "runner.token").read_text().strip()
        env = runner.GetRuntimeEnv(request, metadata=[("x-stigmer-runner-token", token)], timeout=TIMEOUT)
        assert env.values["GITHUB_TOKEN"] == "ghp-123"

        for metadata in ([], [("x-stigmer-runner-token", "wrong")]):
            with pytest.raises(grpc.RpcError) as caught:
                runner.GetRuntimeEnv(request, metadata=metadata, timeout=TIMEOUT)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "runner token" in (caught.value.details() or "")
