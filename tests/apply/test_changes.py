"""Changing what is deployed: an edit updates exactly that field, delete removes, a dry run writes nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from support.cli import Cli
from support.client import StackClient, expect_rpc_error, ref, settled, to_dict
from support.matching import assert_subset, differences
from support.output import parse_apply
from support.projects import ProjectCopy

EDITS = [
    pytest.param(
        "agent",
        'description="first description"',
        'description="second description"',
        "spec.description",
        id="agent-description",
    ),
    pytest.param(
        "agent",
        'markdown="# Style\\nBe brief."',
        'markdown="# Style\\nBe very brief."',
        "spec.skills[0].markdown",
        id="agent-skill",
    ),
    pytest.param("workflow", 'duration="PT5S"', 'duration="PT7S"', "spec.tasks[1].config.duration", id="workflow-task"),
]


def _stored(api: StackClient, team: ProjectCopy) -> dict[str, dict[str, Any]]:
    return {
        "agent": to_dict(api.agents.Get(ref(team.name("e2e-agent")))),
        "workflow": to_dict(api.workflows.Get(ref(f"e2e/{team.name('e2e-flow')}"))),
    }


def _apply(cli: Cli, team: ProjectCopy, *flags: str) -> dict[str, str]:
    result = cli("apply", "--config", team.folder, *flags)
    assert result.exit_code == 0, result
    actions = parse_apply(result.stdout).actions()
    return {kind: action for (kind, _name), action in actions.items()}


@pytest.mark.parametrize(("kind", "old", "new", "path"), EDITS)
def test_edit_reports_updated_and_changes_exactly_that_field(
    cli: Cli, api: StackClient, team: ProjectCopy, kind: str, old: str, new: str, path: str
) -> None:
    assert _apply(cli, team) == {"agent": "Created", "workflow": "Created"}
    before = _stored(api, team)

    team.edit(old, new)
    other = "workflow" if kind == "agent" else "agent"
    assert _apply(cli, team) == {kind: "Updated", other: "Unchanged"}
    after = _stored(api, team)

    changed = differences(before[kind]["spec"], after[kind]["spec"], "spec")
    assert [line.partition(":")[0] for line in changed] == [path], f"the edit changed {changed}"
    old_meta, new_meta = before[kind]["metadata"], after[kind]["metadata"]
    assert int(new_meta["generation"]) == int(old_meta["generation"]) + 1
    assert (new_meta["id"], new_meta["created_at"]) == (old_meta["id"], old_meta["created_at"])
    assert new_meta["updated_at"] != old_meta["updated_at"]
    assert after[other] == before[other], f"editing the {kind} changed the {other}"


def test_delete_removes_the_workflow_and_the_agent(cli: Cli, api: StackClient, team: ProjectCopy) -> None:
    _apply(cli, team)
    stored = _stored(api, team)
    agent, workflow = team.name("e2e-agent"), team.name("e2e-flow")
    agent_id, workflow_id = stored["agent"]["metadata"]["id"], stored["workflow"]["metadata"]["id"]

    deleted = cli("delete", "workflow", f"e2e/{workflow}")
    assert deleted.exit_code == 0, deleted
    assert f"Deleted workflow e2e/{workflow} ({workflow_id})" in deleted.stdout, deleted
    assert expect_rpc_error(api.workflows.Get, ref(workflow_id)).code() == grpc.StatusCode.NOT_FOUND
    assert workflow_id not in {w.metadata.id for w in api.list_workflows()}
    got = cli("get", "workflow", f"e2e/{workflow}")
    assert got.exit_code == 1, got
    assert "not found" in got.stderr, got

    deleted = cli("delete", "agent", agent_id)
    assert deleted.exit_code == 0, deleted
    assert f"Deleted agent {agent} ({agent_id})" in deleted.stdout, deleted
    assert expect_rpc_error(api.agents.Get, ref(agent)).code() == grpc.StatusCode.NOT_FOUND
    assert agent_id not in {a.metadata.id for a in api.list_agents()}
    got = cli("get", "agent", agent)
    assert got.exit_code == 1, got
    assert f"Error: agent '{agent}' not found" in got.stderr, got


def test_dry_run_of_a_new_project_persists_nothing(cli: Cli, api: StackClient, team: ProjectCopy) -> None:
    before = api.snapshot()
    result = cli("apply", "--config", team.folder, "--dry-run")
    assert result.exit_code == 0, result
    report = parse_apply(result.stdout)
    assert report.headline == "Dry run successful", result
    assert set(report.actions().values()) == {"Created"}, result
    assert report.summary == "Would deploy: 1 agent(s), 1 workflow(s)", result
    assert settled(api.snapshot()) == settled(before), "the dry run changed the stored data"
    assert expect_rpc_error(api.agents.Get, ref(team.name("e2e-agent"))).code() == grpc.StatusCode.NOT_FOUND


def test_dry_run_of_an_edit_persists_nothing(cli: Cli, api: StackClient, team: ProjectCopy) -> None:
    _apply(cli, team)
    before = api.snapshot()
    team.edit('description="first description"', 'description="second description"')
    assert _apply(cli, team, "--dry-run") == {"agent": "Updated", "workflow": "Unchanged"}
    assert settled(api.snapshot()) == settled(before), "the dry run of an edit changed the stored data"
    assert _apply(cli, team) == {"agent": "Updated", "workflow": "Unchanged"}
    assert_subset(_stored(api, team)["agent"], {"spec": {"description": "second description"}}, "edited agent")


def test_every_declared_field_reads_back_by_id_and_by_name(cli: Cli, api: StackClient, team: ProjectCopy) -> None:
    _apply(cli, team)
    expected = team.expected()
    for name, declared in expected["agents"].items():
        by_name = api.agents.Get(ref(name))
        assert_subset(to_dict(by_name), declared, f"agent {name!r}")
        assert api.agents.Get(ref(by_name.metadata.id)) == by_name
    for name, declared in expected["workflows"].items():
        by_name = api.workflows.Get(ref(name))
        assert_subset(to_dict(by_name), declared, f"workflow {name!r}")
        assert api.workflows.Get(ref(by_name.metadata.id)) == by_name
