"""What was applied survives a clean restart of the server, and a SIGKILL right after apply returned (after
which the supervisor restarts the server)."""

from __future__ import annotations

import signal

import pytest

from support.cli import Cli
from support.client import ref, settled, to_dict
from support.matching import assert_subset
from support.output import execution_id, parse_apply
from support.processes import is_gone
from support.projects import ProjectCopy
from support.stack import Stack
from support.waits import eventually

# it stops, starts and kills the server: skips on --target remote
pytestmark = pytest.mark.needs("owned-stack")


def test_data_survives_server_stop_and_start(stack: Stack, cli: Cli, team: ProjectCopy) -> None:
    applied = cli("apply", "--config", team.folder)
    assert applied.exit_code == 0, applied
    ran = cli("run", team.name("e2e-agent"), "--no-follow", "-m", "remember me")
    assert ran.exit_code == 0, ran
    with stack.client() as api:
        before = api.snapshot()
    assert execution_id(ran.stdout) in before["agent_executions"]

    pid = stack.server_pid()
    stack.stop()
    assert pid is not None and is_gone(pid)
    stack.start()

    with stack.client() as api:
        after = api.snapshot()
    assert settled(after) == settled(before), "stored data changed across `stigmer server stop` / `start`"
    again = cli("apply", "--config", team.folder)
    assert again.exit_code == 0, again
    assert set(parse_apply(again.stdout).actions().values()) == {"Unchanged"}, again


def test_data_survives_sigkill_right_after_apply(stack: Stack, cli: Cli, team: ProjectCopy) -> None:
    applied = cli("apply", "--config", team.folder)
    assert applied.exit_code == 0, applied
    killed = stack.kill_server(signal.SIGKILL)

    def restarted_by_the_supervisor() -> None:
        pid = stack.running_pid()
        assert pid not in (None, killed), f"stigmer-server (killed pid {killed}) not restarted yet"

    eventually(restarted_by_the_supervisor, timeout=30)
    stack.wait_serving(timeout=10)
    status = cli("server", "status", "-o", "json")
    server = next(c for c in status.json()["components"] if c["name"] == "stigmer-server")
    assert server["restarts"] >= 1, f"the restart is not counted:\n{status}"

    ids = {(row.kind, row.name): row.id for row in parse_apply(applied.stdout).rows}
    expected = team.expected()
    with stack.client() as api:
        for name, declared in expected["agents"].items():
            stored = api.agents.Get(ref(ids[("agent", name)]), timeout=5)
            assert_subset(to_dict(stored), declared, f"agent {name!r} after SIGKILL")
        for name, declared in expected["workflows"].items():
            stored = api.workflows.Get(ref(ids[("workflow", name)]), timeout=5)
            assert_subset(to_dict(stored), declared, f"workflow {name!r} after SIGKILL")
