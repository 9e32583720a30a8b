"""Sessions of the Stigmer E2E pipeline: `nox -l` lists them, `nox -t e2e` runs every tier."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from support.tiers import TIERS

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "unit", "smoke", "apply"]

PYTHON = "3.11"
ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"


def _install(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(('test', *extras))}]")


def _pytest(session: nox.Session, name: str) -> None:
    """Run one tier's tests (its own pytest arguments come from support/tiers.py)."""
    tier = TIERS[name]
    _install(session, *(("dev",) if name == "unit" else ()))
    session.run("python", "--version")
    session.run("python", "-m", "pytest", "--version")
    REPORTS.mkdir(exist_ok=True)
    args = session.posargs or [tier.path]
    session.run(
        "timeout",
        "--kill-after=30",
        str(tier.timeout_s),
        "python",
        "-m",
        "pytest",
        f"--junitxml={REPORTS / f'junit-{name}.xml'}",
        "-o",
        f"junit_suite_name={name}",
        *tier.pytest_args,
        *args,
        env={"STIGMER_E2E_TIER": name, "PYTHONDONTWRITEBYTECODE": "1"},
        external=True,
    )


@nox.session(python=PYTHON, tags=["checks"])
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff")
    session.run("ruff", "--version")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["checks"])
def unit(session: nox.Session) -> None:
    """Run the fast unit tests of stigmer/ and support/ (no stack; local processes a test starts itself)."""
    _pytest(session, "unit")


@nox.session(python=PYTHON, tags=["e2e", "smoke"])
def smoke(session: nox.Session) -> None:
    """Run tier 1: the server alone, no Temporal."""
    _pytest(session, "smoke")


@nox.session(python=PYTHON, tags=["e2e", "apply"])
def apply(session: nox.Session) -> None:
    """Run tier 2: persistence through apply / get / delete / restart."""
    _pytest(session, "apply")


@nox.session(python=PYTHON, default=False)
def doctor(session: nox.Session) -> None:
    """Print which prerequisites each tier has on this machine, without running tests."""
    _install(session)
    session.run("python", "-m", "support.doctor", *session.posargs)


@nox.session(python=PYTHON, default=False)
def protos(session: nox.Session) -> None:
    """Regenerate the Python stubs from stigmer/api/v1/*.proto."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "stigmer.api.codegen")


@nox.session(python=PYTHON, default=False, tags=["bench"])
def bench(session: nox.Session) -> None:
    """Measure start-up, apply and CLI timings against their targets and print the numbers."""
    _install(session)
    session.run("python", "-m", "support.bench", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
