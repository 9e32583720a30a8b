"""Every example applies, and every field it declares reads back through the API.

The examples are applied once each, the way a user works through them (example 16 calls the agent
that example 01 deploys, so it runs after it); each test then checks one example's part of that run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from support.cli import CliResult
from support.client import StackClient, ref, to_dict
from support.matching import assert_subset
from support.ordering import run_in_order
from support.output import parse_apply
from support.projects import (
    EXAMPLES_DIR,
    copy_project,
    declared_names,
    list_examples,
    load_expected,
    referenced_names,
)
from support.stack import Stack

EXPECTED = Path(__file__).parent / "expected"
EXAMPLES = list_examples()


@dataclass
class Applied:
    """One example's apply, and what the API returned for its resources right after it."""

    folder: Path
    expected: dict[str, Any]
    result: CliResult
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    missing: dict[tuple[str, str], str] = field(default_factory=dict)


def _read_back(api: StackClient, applied: Applied) -> None:
    lookups = [("agent", name, api.agents.Get) for name in applied.expected["agents"]]
    lookups += [("workflow", name, api.workflows.Get) for name in applied.expected["workflows"]]
    for kind, name, get in lookups:
        try:
            applied.stored[(kind, name)] = to_dict(get(ref(name)))
        except grpc.RpcError as exc:
            applied.missing[(kind, name)] = f"{exc.code().name}: {exc.details()}"


def _needs(expected: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    owner = {name: example for example, data in expected.items() for name in declared_names(data)}
    return {
        example: {owner[name] for name in referenced_names(data) - declared_names(data) if name in owner}
        for example, data in expected.items()
    }


@pytest.fixture(scope="module")
def applied(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Applied]:
    """Apply every example (recording, not asserting) and read its resources back right after.

    Examples run two at a time; one that calls another example's agent or workflow runs after it.
    """
    base = tmp_path_factory.mktemp("examples")
    cli = stack.cli()
    expected = {example: _expected(example) for example in EXAMPLES}

    def apply(example: str) -> Applied:
        folder = copy_project(EXAMPLES_DIR / example, base / example)
        run = Applied(folder, expected[example], cli("apply", "--config", folder, timeout=90))
        with stack.client() as api:
            _read_back(api, run)
        return run

    return run_in_order(EXAMPLES, _needs(expected), apply)


@pytest.fixture(scope="module")
def reapplied(stack: Stack, applied: dict[str, Applied]) -> dict[str, CliResult]:
    """Apply every example a second time (two at a time), once all of them were applied."""
    cli = stack.cli()
    return run_in_order(EXAMPLES, {}, lambda example: cli("apply", "--config", applied[example].folder, timeout=90))


def _expected(example: str) -> dict[str, Any]:
    path = EXPECTED / f"{example}.yaml"
    return load_expected(path) if path.exists() else {"agents": {}, "workflows": {}, "skipped_message": None}


def test_every_example_has_an_expected_file() -> None:
    assert EXAMPLES, f"no example projects found in {EXAMPLES_DIR}"
    declared = sorted(path.stem for path in EXPECTED.glob("*.yaml"))
    assert declared == EXAMPLES, "examples and tests/apply/expected/*.yaml do not match one to one"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_applies(applied: dict[str, Applied], example: str) -> None:
    run = applied[example]
    result = run.result
    assert result.exit_code == 0, result
    report = parse_apply(result.stdout)
    assert report.headline == "Deployment successful", result
    agents, workflows = run.expected["agents"], run.expected["workflows"]
    declared = {("agent", name) for name in agents} | {("workflow", name) for name in workflows}
    assert set(report.actions()) == declared, f"the apply table does not list what the example declares:\n{result}"
    assert set(report.actions().values()) == {"Created"}, result
    assert report.summary == f"Deployed: {len(agents)} agent(s), {len(workflows)} workflow(s)", result
    if run.expected["skipped_message"]:
        assert run.expected["skipped_message"] in result.output, result


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_declared_field_reads_back(applied: dict[str, Applied], example: str) -> None:
    run = applied[example]
    assert run.result.exit_code == 0, run.result
    assert not run.missing, f"declared resources the API does not return: {run.missing}"
    report = parse_apply(run.result.stdout)
    for (kind, name), stored in run.stored.items():
        declared = run.expected[f"{kind}s"][name]
        assert_subset(stored, declared, what=f"stored {kind} {name!r}")
        row = report.row(kind, name)
        assert stored["metadata"]["id"] == row.id, f"{kind} {name!r}: stored ID differs from the printed one"


@pytest.mark.parametrize("example", EXAMPLES)
def test_reapply_reports_unchanged(
    applied: dict[str, Applied], reapplied: dict[str, CliResult], api: StackClient, example: str
) -> None:
    run, again = applied[example], reapplied[example]
    assert run.result.exit_code == 0, run.result
    assert again.exit_code == 0, again
    report = parse_apply(again.stdout)
    assert set(report.actions().values()) == {"Unchanged"}, again
    for (kind, name), before in run.stored.items():
        getter = api.agents.Get if kind == "agent" else api.workflows.Get
        assert to_dict(getter(ref(name))) == before, f"re-applying {example} changed the stored {kind} {name!r}"
