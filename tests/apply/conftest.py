"""Tier 2 (apply): persistence through apply / get / delete / restart, on the stigmer-server alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.projects import ProjectCopy
from support.pytest_plugin import mark_tier
from support.stack import SERVER

PROJECTS = Path(__file__).parent / "projects"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, Path(__file__).parent, "apply")


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """The apply tier provisions the API server only (restarting it within tests)."""
    return (SERVER,)


@pytest.fixture
def team(project: Callable[..., Path], unique_name: Callable[[str], str]) -> ProjectCopy:
    """projects/team (agent ``e2e-agent``, workflow ``e2e/e2e-flow`` calling it) under unique names."""
    names = {"e2e-agent": unique_name("agent"), "e2e-flow": unique_name("flow")}
    return ProjectCopy(project(PROJECTS / "team", names), names)
