"""`stigmer apply` of examples/01_basic_agent: the dry run persists nothing, the apply persists it all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc

from support.cli import Cli
from support.client import StackClient, expect_rpc_error, ref
from support.output import parse_apply
from support.projects import load_expected

EXAMPLE = "01_basic_agent"
# What the example declares, written down by hand next to the apply tier's field checks.
DECLARED = load_expected(Path(__file__).parents[1] / "apply" / "expected" / f"{EXAMPLE}.yaml")


def test_dry_run_then_apply(cli: Cli, api: StackClient, project: Callable[..., Path]) -> None:
    folder = project(EXAMPLE)
    before = api.snapshot()

    dry = cli("apply", "--config", folder, "--dry-run")
    assert dry.exit_code == 0, dry
    planned = parse_apply(dry.stdout)
    assert planned.headline == "Dry run successful", dry
    agents = sorted(DECLARED["agents"])
    assert agents, f"{EXAMPLE}'s expected file declares no agent"
    assert sorted(planned.actions()) == [("agent", name) for name in agents], dry
    assert set(planned.actions().values()) == {"Created"}, dry
    assert planned.summary == f"Would deploy: {len(agents)} agent(s), {len(DECLARED['workflows'])} workflow(s)", dry
    assert api.snapshot() == before, "the dry run changed the stored data"
    for name in agents:
        error = expect_rpc_error(api.agents.Get, ref(name))
        assert error.code() == grpc.StatusCode.NOT_FOUND, f"dry run stored agent {name!r}"

    applied = cli("apply", "--config", folder)
    assert applied.exit_code == 0, applied
    report = parse_apply(applied.stdout)
    assert report.headline == "Deployment successful", applied
    assert report.actions() == planned.actions(), "the apply did something else than its dry run announced"
    assert report.summary == f"Deployed: {len(agents)} agent(s), {len(DECLARED['workflows'])} workflow(s)", applied
    for name in agents:
        stored = api.agents.Get(ref(name))
        row = report.row("agent", name)
        assert row.id.startswith("agt-"), applied
        assert stored.metadata.id == row.id, f"stored ID {stored.metadata.id} differs from the printed {row.id}"
        assert stored.metadata.generation == 1
