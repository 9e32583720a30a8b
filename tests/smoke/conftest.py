"""Tier 1 (smoke): the stigmer-server alone, no Temporal."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.pytest_plugin import mark_tier
from support.stack import SERVER


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, Path(__file__).parent, "smoke")


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """The smoke tier provisions the API server only."""
    return (SERVER,)
