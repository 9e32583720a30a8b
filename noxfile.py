"""Sessions of the Stigmer E2E pipeline: `nox -l` lists them, `nox -t e2e` runs every tier."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from support.tiers import DOCKER_TIERS, TIERS, Tier, runner_choice

nox.needs_version = ">=2024.10.9"
# uv creates the session environments and installs them from uv.lock (`make lock` rewrites it).
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "unit", "smoke", "apply", "full", "resilience"]

PYTHON = "3.11"
ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"
TESTS = ROOT / "tests"


def _install(session: nox.Session, *extras: str, lowest: bool = False) -> None:
    """Install the project (editable) with these extras: locked versions, or the lowest allowed ones.

    Dependencies are compiled to bytecode at install, as pip does: uv does not by default, and the
    sessions run with PYTHONDONTWRITEBYTECODE, so every process of a stack would otherwise compile
    temporalio, grpc and the rest from source at each start (seconds of CPU per `stigmer server start`).
    """
    extra_args = [f"--extra={extra}" for extra in extras]
    compiled = {"UV_COMPILE_BYTECODE": "1"}
    if not lowest:
        # --locked: a uv.lock that no longer matches pyproject.toml fails here, never installs stale pins
        env = {**compiled, "UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
        session.run_install("uv", "sync", "--locked", *extra_args, env=env)
        return
    requirements = Path(session.create_tmp()) / "requirements-lowest.txt"
    session.run_install(
        "uv", "pip", "compile", "pyproject.toml", "--quiet", "--resolution=lowest-direct", *extra_args,
        f"--output-file={requirements}",
    )  # fmt: skip
    session.run_install("uv", "pip", "sync", str(requirements), env=compiled)
    session.run_install("uv", "pip", "install", "--no-deps", "--editable", ".", env=compiled)


def _reject_other_tiers(session: nox.Session, tier_dir: Path) -> None:
    """Refuse a posarg naming tests outside this tier: they need their own session, extras and stack."""
    for arg in session.posargs:
        path = (ROOT / arg.split("::")[0]).resolve()
        foreign = path.is_relative_to(TESTS) and not path.is_relative_to(tier_dir)
        if foreign and not arg.startswith("-") and path.exists():
            session.error(f"{arg} is outside {tier_dir.relative_to(ROOT)}: run it with its own tier's session")


def _install_tier(session: nox.Session, name: str, *, lowest: bool = False) -> None:
    """Install what the tier's tests need: the `test` extra, the tier's own extras (support/tiers.py)."""
    _install(session, "test", *TIERS[name].extras, *(("dev",) if name == "unit" else ()), lowest=lowest)


def _pytest(session: nox.Session, name: str, *, lowest: bool = False) -> None:
    """Run one tier's tests (its own pytest arguments come from support/tiers.py).

    Posargs are added to the tier's arguments. With no test path among them the tier's directory is
    collected (it is pytest's `testpaths`); a path or node ID inside the tier narrows the run to it.
    """
    tier = TIERS[name]
    _reject_other_tiers(session, ROOT / tier.path)
    _install_tier(session, name, lowest=lowest)
    session.run("python", "--version")
    session.run("python", "-m", "pytest", "--version")
    REPORTS.mkdir(exist_ok=True)
    with _docker(session, name) as docker_env:
        _run_pytest(session, tier, docker_env)


@contextlib.contextmanager
def _docker(session: nox.Session, tier: str) -> Iterator[dict[str, str]]:
    """A private Docker engine and the images, for the run: with `--runner=docker` (full, resilience), and
    for the unit tier as root (its engine and container tests need what the project installs; set
    STIGMER_E2E_UNIT_DOCKER=0 to skip them instead)."""
    if tier in DOCKER_TIERS:
        wanted = runner_choice(session.posargs) == "docker"
    else:
        wanted = tier == "unit" and os.geteuid() == 0 and os.environ.get("STIGMER_E2E_UNIT_DOCKER", "1") != "0"
    if not wanted:
        yield {}
        return
    from support.docker_provision import docker_provisioned

    with docker_provisioned(Path(session.create_tmp())) as env:
        yield env


def _run_pytest(session: nox.Session, tier: Tier, extra_env: dict[str, str]) -> None:
    # under `make test` / CI, named after the matrix cell: the full tier's cells would overwrite each other
    junitxml = REPORTS / f"junit-{os.environ.get('STIGMER_E2E_CELL') or session.name}.xml"
    # nox accepts exit code 0 only: 5 (no tests collected) fails the session like a failing test
    args = tier.pytest_args_for(junitxml, session.name, session.posargs)
    session.run("python", "-m", "pytest", *args, env={**tier.env, **extra_env})


@nox.session(python=PYTHON, tags=["checks"])
def lint(session: nox.Session) -> None:
    """Check the lock file, style and formatting (ruff) and types (mypy)."""
    session.run("uv", "lock", "--check")
    _install(session, "dev", "test", "report")
    session.run("ruff", "--version")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--version")
    session.run("mypy")


@nox.session(python=PYTHON, tags=["checks"])
def unit(session: nox.Session) -> None:
    """Run the fast unit tests of stigmer/ and support/ (no stack; local processes a test starts itself)."""
    _pytest(session, "unit")


@nox.session(python=PYTHON, tags=["e2e", "full"])
def full(session: nox.Session) -> None:
    """Run tier 3: real execution on Temporal (-- --runner=process|docker --llm=standin|local|ollama)."""
    _pytest(session, "full")


@nox.session(python=PYTHON, tags=["e2e", "resilience"])
def resilience(session: nox.Session) -> None:
    """Run tier 4: kill, freeze and cut every component mid-run, and count what was lost."""
    _pytest(session, "resilience")


# Not `requires=["full"]`: the full tier takes its own posargs. `make test` and `nox -t e2e` run it after full.
@nox.session(python=PYTHON, default=False, tags=["e2e"])
def replay(session: nox.Session) -> None:
    """Replay the histories the tiers exported (reports/histories) and the gold set against the current runners."""
    _install(session, "test")
    folders = [str(REPORTS / "histories"), str(TESTS / "gold_histories")]
    session.run("python", "-m", "support.replay", *(session.posargs or folders))


@nox.session(python=PYTHON, default=False)
def minimums(session: nox.Session) -> None:
    """Run the unit tests against the lowest versions pyproject.toml allows for each dependency."""
    _pytest(session, "unit", lowest=True)


@nox.session(python=PYTHON, tags=["e2e", "smoke"])
def smoke(session: nox.Session) -> None:
    """Run tier 1: the server alone, no Temporal."""
    _pytest(session, "smoke")


@nox.session(python=PYTHON, tags=["e2e", "apply"])
def apply(session: nox.Session) -> None:
    """Run tier 2: persistence through apply / get / delete / restart."""
    _pytest(session, "apply")


@nox.session(python=PYTHON, default=False, tags=["e2e", "remote"])
def remote(session: nox.Session) -> None:
    """Start a stack of its own, run smoke, apply and full against it as --target remote, then stop it."""
    _install(session, "test")
    session.run("python", "--version")
    REPORTS.mkdir(exist_ok=True)
    session.run("python", "-m", "support.remote_stack", "--reports", str(REPORTS), *session.posargs)


@nox.session(python=PYTHON, default=False, tags=["flake"])
def flake(session: nox.Session) -> None:
    """Run a tier N times (-- TIER [--count N] [--threshold RATE]) and gate on each test's flake rate."""
    name = session.posargs[0] if session.posargs else ""
    if name not in TIERS:
        session.error(f"name the tier first: nox -s flake -- TIER [--count N]; the tiers: {', '.join(TIERS)}")
    _reject_other_tiers(session, ROOT / TIERS[name].path)
    _install_tier(session, name)
    session.run("python", "-m", "pytest", "--version")
    with _docker(session, name) as docker_env:  # `--runner=docker`: one engine for all the runs
        session.run("python", "-m", "support.flake", *session.posargs, env=docker_env)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Write the run's HTML report, reports/index.html, from what the tiers left in reports/ (-- --help)."""
    _install(session, "test", "report")
    session.run("python", "-m", "support.report_html", *session.posargs)


@nox.session(python=PYTHON, default=False)
def doctor(session: nox.Session) -> None:
    """Print which prerequisites each tier has on this machine, without running tests."""
    _install(session, "test")
    session.run("python", "-m", "support.doctor", *session.posargs)


@nox.session(python=PYTHON, default=False)
def protos(session: nox.Session) -> None:
    """Regenerate the Python stubs from stigmer/api/v1/*.proto."""
    _install(session, "dev")
    session.run("python", "-m", "stigmer.api.codegen")


@nox.session(python=PYTHON, default=False, tags=["bench"])
def bench(session: nox.Session) -> None:
    """Measure start-up, apply, CLI, execution and memory against their targets; print the numbers."""
    _install(session, "test", "local-llm")
    session.run("python", "-m", "support.bench", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
