"""Inner pytest sessions (pytester) that load the pipeline's plugin, isolated from this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_CONFTEST = 'pytest_plugins = ["support.pytest_plugin"]\n'


def inner_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, conftest: str = PLUGIN_CONFTEST) -> None:
    """Make ``pytester``'s folder a project of its own that imports this checkout's ``support``.

    It gets its own ini file: nox points TMPDIR into the checkout, and without one the inner session
    would take the repository's pyproject.toml for its configuration and the repository for its rootdir
    (node IDs, the reports folder). CI is unset so that strict mode stays off unless a test asks for it.
    """
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(conftest)
