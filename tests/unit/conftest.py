"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stigmer.server.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store in a fresh database, closed after the test."""
    opened = Store.open(tmp_path / "stigmer.db")
    yield opened
    opened.close()
