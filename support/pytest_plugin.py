"""The pipeline's pytest plugin: options, fixtures and hooks (registered from ``tests/conftest.py``).

Fixture layers: ``stack`` per test module (expensive), ``cli`` / ``api`` per test (cheap handles),
``unique_name`` / ``project`` per test (no two tests share a name or a folder).

A tier declares what it provisions by overriding, in its directory's conftest, the module-scoped
fixtures ``stack_components`` (the components ``stack`` runs; their prerequisites are checked first)
and ``stack_env`` (extra environment for every process of the stack). A single test can declare more
with ``@pytest.mark.needs("component")``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from support import diagnostics, touched_executions
from support.cli import Cli, CliResult, resolve_binary
from support.client import StackClient
from support.llm import LLM_CHOICES, LLM_USED
from support.prereqs import CheckContext, Finding, Prerequisite, check, prerequisites_for
from support.processes import RunId, sweep_orphans
from support.projects import EXAMPLES_DIR, copy_project
from support.runner_mode import DEFAULT_RUNNER, RUNNER_CHOICES, stack_env_for
from support.runner_mode import describe as describe_runner
from support.runner_mode import prerequisites as runner_prerequisites
from support.stack import SERVER, Stack, StackError, StackFactory, StackLeftoverError

# strict mode (missing prerequisites fail in CI) and the list of skips at the end of a run
pytest_plugins = ["support.strict", "support.reruns", "support.quarantine"]

STACKS = pytest.StashKey[list[diagnostics.HasLogs]]()
CLI_CALLS = pytest.StashKey[list[CliResult]]()
FINDINGS = pytest.StashKey[dict[str, Finding]]()
SWEPT = pytest.StashKey[list[int]]()
FAULTS_SWEPT = pytest.StashKey[list[str]]()
SLUG_MAX = 63


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stigmer-e2e", "Stigmer end-to-end pipeline")
    group.addoption(
        "--stigmer-bin",
        default=None,
        help="the stigmer binary under test (default: $STIGMER_BIN, else `stigmer` beside python, else PATH)",
    )
    group.addoption(
        "--llm",
        choices=LLM_CHOICES,
        default="auto",
        help="the LLM of the full tier: a real Ollama (OLLAMA_HOST, with the model), the deterministic "
        "stand-in, a real small model served locally (SmolLM2-135M on llama.cpp, the local-llm extra), or auto "
        "(Ollama when one answers with the model, else the stand-in); default auto",
    )
    group.addoption(
        "--runner",
        choices=RUNNER_CHOICES,
        default=DEFAULT_RUNNER,
        help="how stacks run the agent-runner: a process, or a container of $STIGMER_E2E_AGENT_RUNNER_IMAGE "
        "on the engine at DOCKER_HOST (STIGMER_AGENT_RUNNER_MODE=docker); default process",
    )
    group.addoption(
        "--e2e-reports",
        default="reports",
        help="folder for failing tests' stack logs, kept as CI artifacts under <folder>/logs/<test id>/",
    )


def pytest_configure(config: pytest.Config) -> None:
    # the plugin's own marker, known wherever the plugin is loaded (strict markers reject unknown ones)
    config.addinivalue_line("markers", "needs(component): the test needs this stack component (prerequisite check)")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    from support.faults.leftovers import sweep_dead_runs

    # faults first: a process a killed run froze is continued before the orphan sweep stops it
    session.config.stash[FAULTS_SWEPT] = sweep_dead_runs()
    session.config.stash[SWEPT] = sweep_orphans()


def pytest_report_header(config: pytest.Config) -> list[str]:
    binary = resolve_binary(config.getoption("stigmer_bin"))
    lines = [f"stigmer binary: {binary or 'not found'}", describe_runner(config.getoption("runner"))]
    swept = config.stash.get(SWEPT, [])
    if swept:
        lines.append(f"swept {len(swept)} leftover process(es) of dead runs: {swept}")
    undone = config.stash.get(FAULTS_SWEPT, [])
    if undone:
        lines.append(f"undid {len(undone)} fault(s) dead runs left in place: {'; '.join(undone)}")
    return lines


_LLM_USED_KEY = "stigmer_llm_used"


def pytest_sessionfinish(session: pytest.Session) -> None:
    # an xdist worker hands the LLM it used to the controller, which prints the summary
    workeroutput = getattr(session.config, "workeroutput", None)
    used = session.config.stash.get(LLM_USED, None)
    if workeroutput is not None and used is not None:
        workeroutput[_LLM_USED_KEY] = used


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    used = getattr(node, "workeroutput", {}).get(_LLM_USED_KEY)
    if used:
        node.config.stash[LLM_USED] = used


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    used = config.stash.get(LLM_USED, None)
    if used is not None:
        terminalreporter.write_line(f"LLM used by the agents: {used}")
    terminalreporter.write_line(f"runner mode: {describe_runner(config.getoption('runner'))}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    components = [arg for mark in item.iter_markers("needs") for arg in mark.args]
    if components:
        require(item.config, stack_prerequisites(item.config, components))


def stack_prerequisites(config: pytest.Config, components: Iterable[str]) -> list[Prerequisite]:
    """What a stack of ``components`` needs here, the ``--runner`` mode's needs included."""
    names = tuple(components)
    return [*prerequisites_for(names), *runner_prerequisites(config.getoption("runner"), names)]


def runner_env(config: pytest.Config, components: Iterable[str], env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus what the ``--runner`` mode gives a stack of ``components`` (``env`` wins)."""
    return {**stack_env_for(config.getoption("runner"), components), **env}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        stacks = [stack for node in item.listchain() for stack in node.stash.get(STACKS, [])]
        calls = item.stash.get(CLI_CALLS, [])
        report.sections.extend(diagnostics.sections(stacks, calls))
        if stacks or calls:
            root = Path(item.config.getoption("e2e_reports"))
            root = root if root.is_absolute() else item.config.rootpath / root
            dest = root / "logs" / diagnostics.artifact_dir_name(item.nodeid)
            diagnostics.save_artifacts(dest, stacks, calls)
            # the final state and Temporal history of each execution it touched (never raises)
            texts = touched_executions.texts_of(calls, report.longreprtext)
            report.sections.extend(touched_executions.collect(dest, stacks, texts))
    return report


def require(config: pytest.Config, prereqs: Iterable[Prerequisite]) -> None:
    """Skip (optional) or fail (required) with the four-part message when a prerequisite is missing."""
    cache = config.stash.setdefault(FINDINGS, {})
    context = CheckContext(stigmer_bin=config.getoption("stigmer_bin"))
    for prereq in prereqs:
        if prereq.name not in cache:
            cache[prereq.name] = check(prereq, context)
        finding = cache[prereq.name]
        if finding.present:
            continue
        if prereq.optional:
            pytest.skip(finding.message())
        pytest.fail(finding.message(), pytrace=False)


def mark_tier(items: Iterable[pytest.Item], tier_dir: Path, marker: str) -> None:
    """Give every collected test under ``tier_dir`` the tier's marker (call from the tier's conftest)."""
    for item in items:
        if item.path.is_relative_to(tier_dir):
            item.add_marker(marker)


def register_stack(node: pytest.Item | pytest.Collector, stack: diagnostics.HasLogs) -> None:
    """Attach ``stack``'s logs (a stack's, or any fixture process's) to the reports of failing tests under ``node``."""
    node.stash.setdefault(STACKS, []).append(stack)


@pytest.fixture(scope="session")
def stigmer_bin(pytestconfig: pytest.Config) -> Path:
    """The stigmer binary under test (its absence fails every test that needs a stack)."""
    require(pytestconfig, prerequisites_for([SERVER]))
    binary = resolve_binary(pytestconfig.getoption("stigmer_bin"))
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def run_id() -> RunId:
    """This pytest process's run ID (the label of everything it spawns)."""
    return RunId.for_process()


@pytest.fixture(scope="session")
def stack_factory(tmp_path_factory: pytest.TempPathFactory, stigmer_bin: Path, run_id: RunId) -> StackFactory:
    """Makes private stacks under the session's temp dir."""
    return StackFactory(tmp_path_factory.mktemp("stacks"), stigmer_bin, run_id)


@pytest.fixture(scope="module")
def stack_components() -> tuple[str, ...]:
    """What ``stack`` runs; tiers override this in their conftest."""
    return (SERVER,)


@pytest.fixture(scope="module")
def stack_env() -> Mapping[str, str]:
    """Extra environment for every process of ``stack``; tiers override this in their conftest."""
    return {}


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    stack_factory: StackFactory,
    stack_components: tuple[str, ...],
    stack_env: Mapping[str, str],
) -> Iterator[Stack]:
    """A started private stack shared by the tests of one module; stopped and swept afterwards.

    A failed ``stigmer server stop``, or a process of the stack left running after it, is an error
    of the module's last test (``StackLeftoverError`` at teardown), not a warning.
    """
    require(request.config, stack_prerequisites(request.config, stack_components))
    env = runner_env(request.config, stack_components, stack_env)
    created = stack_factory.create(request.module.__name__.rpartition(".")[2], stack_components, env)
    register_stack(request.node, created)
    try:
        created.start()
        yield created
    finally:
        created.teardown()


@pytest.fixture
def make_stack(
    request: pytest.FixtureRequest,
    stack_factory: StackFactory,
    stack_components: tuple[str, ...],
    stack_env: Mapping[str, str],
) -> Iterator[Callable[[], Stack]]:
    """Factory of extra private stacks for one test (not started); all are torn down after it."""
    require(request.config, stack_prerequisites(request.config, stack_components))
    created: list[Stack] = []
    env = runner_env(request.config, stack_components, stack_env)

    def make() -> Stack:
        new = stack_factory.create(request.node.name, stack_components, env)
        register_stack(request.node, new)
        created.append(new)
        return new

    try:
        yield make
    finally:
        failures = []
        for each in created:
            try:
                each.teardown()
            except StackError as exc:
                failures.append(str(exc))
        if failures:
            raise StackLeftoverError("\n\n".join(failures))


@pytest.fixture
def cli_calls(request: pytest.FixtureRequest) -> list[CliResult]:
    """The CLI calls this test made (shown in its report when it fails)."""
    return request.node.stash.setdefault(CLI_CALLS, [])


@pytest.fixture
def cli(stack: Stack, cli_calls: list[CliResult]) -> Cli:
    """A CLI runner pointed at the module's stack."""
    return stack.cli(history=cli_calls)


@pytest.fixture
def api(stack: Stack) -> Iterator[StackClient]:
    """gRPC handles for the module's stack."""
    with stack.client() as client:
        yield client


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Makes slug names no other test uses: ``unique_name("agent")`` -> ``agent-1f2e3d4c``."""

    def make(prefix: str = "e2e") -> str:
        return f"{prefix[: SLUG_MAX - 9].rstrip('-')}-{secrets.token_hex(4)}"

    return make


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """Copies a project (an example name, or a folder path) into this test's temp dir.

    ``project("01_basic_agent")`` or ``project(path, replacements={"old": "new"})``.
    """
    copies = 0

    def make(source: str | Path, replacements: Mapping[str, str] | None = None) -> Path:
        nonlocal copies
        copies += 1
        folder = Path(source) if Path(source).is_absolute() else EXAMPLES_DIR / source
        return copy_project(folder, tmp_path / f"{folder.name}-{copies}", replacements)

    return make
