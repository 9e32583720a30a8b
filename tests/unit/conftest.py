"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stigmer.server.events import ExecutionFeed
from stigmer.server.store import Store
from tests.unit.temporal_dev import TemporalDev, temporal_binary


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store in a fresh database, closed after the test."""
    opened = Store.open(tmp_path / "stigmer.db")
    yield opened
    opened.close()


@pytest.fixture
def feed() -> ExecutionFeed:
    """The change feed a server's executions are published on."""
    return ExecutionFeed()


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[TemporalDev]:
    """A Temporal dev server that is NOT started yet (tests start, kill and restart it); killed at teardown."""
    workdir = tmp_path / "temporal"
    workdir.mkdir()
    dev = TemporalDev(temporal_binary(), workdir)
    yield dev
    dev.kill()
