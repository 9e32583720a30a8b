"""Tier 4 (resilience): the full stack under faults, with a workload in flight and a checker after.

Each scenario module gets its own stack (every component, configured for faults: a short health grace
so a frozen component is restarted, a short reconciliation period), its own LLM stand-in (the tier
scripts every model reply: the stand-in is always used), its own HTTP fixture and MCP server, and the
workload project (``tests/resilience/projects/workload``) applied once. A scenario runs as control (no
fault) and as chaos (the fault), by parametrisation, and passes only when the checker counts nothing
lost, duplicated, unexpected, and no store/Temporal disagreement.

Each scenario's report is saved as ``reports/resilience/<scenario>.json`` and printed as a table at
the end of the run; each module's Temporal histories go to ``reports/histories/resilience-<module>/``.
When the session ends, no process labelled with the run's ID, no port of its stacks held by one, nothing
in the TMPDIR its processes used, and no fault of the run may be left.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil
import pytest

from support.cli import Cli
from support.client import StackClient
from support.fixtures.http_api import HttpApi
from support.fixtures.mcp_process import McpHttpServer, start_mcp_http
from support.llm_standin import DEFAULT_MODELS
from support.llm_standin.process import StandinProcess, start_standin_process
from support.prereqs import TIER_COMPONENTS
from support.processes import RunId, labelled_processes, processes_of
from support.pytest_plugin import mark_tier, register_stack
from support.stack import Stack
from support.temporal_history import export_histories
from support.workload import PROJECT, Workload, http_routes
from tests.resilience.harness import Scenario, scenario_name

TIER_DIR = Path(__file__).parent
# The stack is configured for faults: a component failing its health check for this long is restarted,
# and the server reconciles its executions with Temporal this often.
FAULT_ENV = {"STIGMER_HEALTH_GRACE_SECONDS": "8", "STIGMER_RECONCILE_SECONDS": "3"}
SCENARIO_TIMEOUT = 420
STACKS_STARTED = pytest.StashKey[list[Stack]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, TIER_DIR, "resilience")
    for item in items:
        if item.path.is_relative_to(TIER_DIR) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SCENARIO_TIMEOUT))


def reports_dir(config: pytest.Config) -> Path:
    """``<e2e-reports>/resilience/``: one JSON report per scenario."""
    root = Path(config.getoption("e2e_reports"))
    root = root if root.is_absolute() else config.rootpath / root
    return root / "resilience"


@pytest.fixture(scope="module")
def standin_process(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: RunId
) -> Iterator[StandinProcess]:
    """This module's LLM stand-in (its rules and recorded chats are the module's alone)."""
    started = start_standin_process(
        tmp_path_factory.mktemp("llm") / "llm-standin.log", models=DEFAULT_MODELS, run_id=run_id
    )
    register_stack(request.node, started)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def http_api() -> Iterator[HttpApi]:
    """This module's loopback HTTP API: the workload's POSTs land here."""
    with HttpApi() as api:
        api.add(*http_routes())
        yield api


@pytest.fixture(scope="module")
def mcp_http(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: RunId
) -> Iterator[McpHttpServer]:
    """This module's MCP server over HTTP, serving ``search_docs`` and recording every call."""
    folder = tmp_path_factory.mktemp("mcp-http")
    with start_mcp_http(
        folder / "calls.jsonl", folder / "mcp-http.log", tools=("search_docs",), run_id=run_id
    ) as server:
        register_stack(request.node, server)
        yield server


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """The resilience tier provisions every component."""
    return TIER_COMPONENTS["resilience"]


@pytest.fixture(scope="module")
def module_env() -> Mapping[str, str]:
    """Extra environment of the module's stack (a module overrides it: its own health grace, proxied links)."""
    return {}


@pytest.fixture(scope="session")
def run_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TMPDIR of every process of the tier's stacks and CLI calls: what is left in it at the end was
    left by this run (the machine's /tmp is shared with other runs)."""
    return tmp_path_factory.mktemp("tmpdir")


@pytest.fixture(scope="module")
def stack_env(
    standin_process: StandinProcess,
    http_api: HttpApi,
    mcp_http: McpHttpServer,
    module_env: Mapping[str, str],
    run_tmpdir: Path,
) -> Mapping[str, str]:
    """The stand-in, the fixtures, the fault-friendly settings and the run's own TMPDIR."""
    return {
        "TMPDIR": str(run_tmpdir),
        "OLLAMA_HOST": standin_process.url,
        "STIGMER_LLM_MODEL": DEFAULT_MODELS[0],
        **http_api.env(),
        "DOCS_MCP_URL": mcp_http.url,
        **FAULT_ENV,
        **module_env,
    }


@pytest.fixture(scope="module")
def deployed(stack: Stack, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Stack:
    """The module's stack with the workload project applied."""
    from support.projects import copy_project

    request.config.stash.setdefault(STACKS_STARTED, []).append(stack)
    folder = copy_project(PROJECT, tmp_path_factory.mktemp("workload") / "workload")
    result = stack.cli()("apply", "--config", folder, timeout=90)
    assert result.exit_code == 0, result
    return stack


@pytest.fixture(scope="module", autouse=True)
def temporal_histories(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Path]:
    """After the module's scenarios, the history of every execution on its Temporal, as artifacts
    (``reports/histories/resilience-<module>/``): replayed against later workflow code like the full tier's."""
    root = Path(request.config.getoption("e2e_reports"))
    root = root if root.is_absolute() else request.config.rootpath / root
    dest = root / "histories" / f"resilience-{request.module.__name__.rpartition('.')[2]}"
    yield dest
    export_histories(stack.temporal_address, dest)


@pytest.fixture
def workload(deployed: Stack, cli: Cli, api: StackClient, standin_process: StandinProcess) -> Workload:
    """A fresh workload (its own token prefix) against the module's stack."""
    return Workload(api, cli, standin_process.control)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest, run_id: RunId, run_tmpdir: Path) -> Iterator[None]:
    """After the tier: no process labelled with this run, no port of its stacks listening, nothing left
    in the TMPDIR its stacks and CLI calls used, and no note of a fault of this run still in place (a
    mount, a stopped process)."""
    from support.faults import sweep
    from support.faults.leftovers import state_dir

    yield
    sweep()
    problems = []
    leftovers = [p for p in processes_of(run_id.run) if p.pid != os.getpid()]
    leftovers += [p for stack in request.config.stash.get(STACKS_STARTED, []) for p in processes_of(stack.run_id)]
    if leftovers:
        problems.append(f"processes left: {sorted({p.pid for p in leftovers})}")
    ours = {p.pid for p in labelled_processes(lambda label: label.run == run_id.run)}
    ports = [
        port
        for stack in request.config.stash.get(STACKS_STARTED, [])
        for port in (stack.port, stack.temporal_port)
        if _listener(port) in ours  # a port another run took since is not ours to report
    ]
    if ports:
        problems.append(f"ports still listening: {ports}")
    left = sorted(path.name for path in run_tmpdir.iterdir())
    if left:
        problems.append(f"left in the run's TMPDIR {run_tmpdir}: {left}")
    notes = state_dir()
    if (notes / f"{run_id.run}.json").exists():
        problems.append(f"faults of this run still in place: {(notes / f'{run_id.run}.json').read_text()}")
    assert not problems, "the resilience tier left things behind: " + "; ".join(problems)


def _listener(port: int) -> int | None:
    """The PID listening on TCP ``port``, or None."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Every scenario report this run wrote, one table each."""
    folder = reports_dir(config)
    started = getattr(config, "_resilience_started", None)
    if not folder.is_dir() or started is None:
        return
    reports = sorted(p for p in folder.glob("*.json") if p.stat().st_mtime >= started)
    if not reports:
        return
    terminalreporter.section("resilience: checker reports")
    for path in reports:
        data = json.loads(path.read_text())
        terminalreporter.write_line(data.get("table") or f"{path.stem}: (no table)")


def pytest_configure(config: pytest.Config) -> None:
    config._resilience_started = time.time()  # type: ignore[attr-defined]


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest,
    deployed: Stack,
    workload: Workload,
    http_api: HttpApi,
    mcp_http: McpHttpServer,
) -> Iterator[Scenario]:
    """The test's scenario (named ``<module>-<test>``); every fault still in place is undone after it
    (a module's proxies stay: the session's end closes them)."""
    from support.faults import undo_active

    module = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    made = Scenario(
        f"{module}-{scenario_name(request.node.name)}", deployed, workload, http_api, mcp_http.record,
        reports_dir(request.config),
    )  # fmt: skip
    try:
        yield made
    finally:
        undo_active()
