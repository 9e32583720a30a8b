"""The pipeline's pytest plugin: options, fixtures and hooks (registered from ``tests/conftest.py``).

Fixture layers: ``stack`` per test module (expensive), ``cli`` / ``api`` per test (cheap handles),
``unique_name`` / ``project`` per test (no two tests share a name or a folder).

A tier declares what it provisions by overriding, in its directory's conftest, the module-scoped
fixtures ``stack_components`` (the components ``stack`` runs; their prerequisites are checked first)
and ``stack_env`` (extra environment for every process of the stack). A single test can declare more
with ``@pytest.mark.needs("component")``.

``--target remote`` points every ``stack`` at an existing installation (``support.target``,
``support.remote``): nothing is provisioned, and a test marked ``@pytest.mark.needs("owned-stack")``
(it kills, restarts or stops processes, or reads the stack's home or logs) skips there.
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
from support.prereqs import TEMPORAL, CheckContext, Finding, Prerequisite, check, prerequisites_for
from support.processes import RunId, sweep_orphans
from support.projects import EXAMPLES_DIR, copy_project
from support.remote import RemoteStack
from support.runner_mode import DEFAULT_RUNNER, RUNNER_CHOICES, stack_env_for
from support.runner_mode import describe as describe_runner
from support.runner_mode import prerequisites as runner_prerequisites
from support.stack import SERVER, Stack, StackError, StackFactory, StackLeftoverError
from support.target import (
    OWNED_STACK_MARK,
    TARGET_CHOICES,
    Target,
    TargetError,
    parse_target,
    probe,
    probe_failure,
    skip_not_owned,
)

# strict mode (missing prerequisites fail in CI) and the list of skips at the end of a run
pytest_plugins = ["support.strict", "support.reruns", "support.quarantine"]

STACKS = pytest.StashKey[list[diagnostics.HasLogs]]()
CLI_CALLS = pytest.StashKey[list[CliResult]]()
FINDINGS = pytest.StashKey[dict[str, Finding]]()
SWEPT = pytest.StashKey[list[int]]()
FAULTS_SWEPT = pytest.StashKey[list[str]]()
TARGET = pytest.StashKey[Target]()
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
        "--target",
        choices=TARGET_CHOICES,
        default="local",
        help="local: each test module starts a private stack (the default); remote: run against an existing "
        "installation at --server-addr and --temporal-addr, provisioning nothing (tests that need a stack of "
        "their own skip)",
    )
    group.addoption("--server-addr", default=None, help="HOST:PORT of the remote stigmer-server (--target remote)")
    group.addoption("--temporal-addr", default=None, help="HOST:PORT of the remote Temporal (--target remote)")
    group.addoption(
        "--client-token-file",
        default=None,
        help="the remote stack's client token (its STIGMER_HOME/client.token), for calls that change state "
        "(--target remote; without it the server refuses them)",
    )
    group.addoption(
        "--e2e-reports",
        default="reports",
        help="folder for failing tests' stack logs, kept as CI artifacts under <folder>/logs/<test id>/",
    )


def pytest_configure(config: pytest.Config) -> None:
    # the plugin's own marker, known wherever the plugin is loaded (strict markers reject unknown ones)
    config.addinivalue_line(
        "markers",
        f"needs(component): the test needs this stack component (prerequisite check); needs({OWNED_STACK_MARK!r}): "
        "it kills, restarts or stops the stack's processes or reads its home or logs (skips on --target remote)",
    )
    try:
        target = parse_target(
            config.getoption("target", "local"),
            config.getoption("server_addr", None),
            config.getoption("temporal_addr", None),
            config.getoption("client_token_file", None),
        )
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[TARGET] = target
    # one readiness probe per run (on the controller, not per xdist worker), not a timeout per test
    if target.remote and not config.getoption("help", False) and not hasattr(config, "workerinput"):
        problem = probe(target)
        if problem is not None:
            raise pytest.UsageError(probe_failure(target, problem))


def target_of(config: pytest.Config) -> Target:
    """The run's target (``--target``); local when the plugin's options were not parsed."""
    return config.stash.get(TARGET, Target())


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    from support.faults.leftovers import sweep_dead_runs

    # faults first: a process a killed run froze is continued before the orphan sweep stops it
    session.config.stash[FAULTS_SWEPT] = sweep_dead_runs()
    session.config.stash[SWEPT] = sweep_orphans()


def pytest_report_header(config: pytest.Config) -> list[str]:
    binary = resolve_binary(config.getoption("stigmer_bin"))
    lines = [f"stigmer binary: {binary or 'not found'}", describe_runner(config.getoption("runner"))]
    lines.append(target_of(config).describe())
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


@pytest.hookimpl(tryfirst=True)  # before fixtures: a module-scoped stack of a skipped test never starts
def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = [arg for mark in item.iter_markers("needs") for arg in mark.args]
    target = target_of(item.config)
    if OWNED_STACK_MARK in needs and target.remote:
        skip_not_owned(target, item.nodeid)
    components = [need for need in needs if need != OWNED_STACK_MARK]
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
        logged = [stack for stack in stacks if not isinstance(stack, RemoteStack)]  # its logs are not ours
        report.sections.extend(diagnostics.sections(logged, calls))
        if stacks or calls:
            root = Path(item.config.getoption("e2e_reports"))
            root = root if root.is_absolute() else item.config.rootpath / root
            dest = root / "logs" / diagnostics.artifact_dir_name(item.nodeid)
            diagnostics.save_artifacts(dest, logged, calls)
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
def target(pytestconfig: pytest.Config) -> Target:
    """What this run points at: ``--target local`` (its own stacks) or ``remote`` (an existing installation)."""
    return target_of(pytestconfig)


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
    of the module's last test (``StackLeftoverError`` at teardown), not a warning. On ``--target
    remote`` it is the remote installation (``RemoteStack``): nothing starts, and teardown deletes what
    the module's CLI calls created there.
    """
    target = target_of(request.config)
    if target.remote:
        require(request.config, prerequisites_for([SERVER]))  # the CLI only
        remote = remote_stack(stack_factory, request.module.__name__.rpartition(".")[2], target, stack_env)
        register_stack(request.node, remote)
        try:
            yield remote
        finally:
            remote.teardown()
        return
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
    """Factory of extra private stacks for one test (not started); all are torn down after it.

    Such a test starts stacks of its own, so it skips on ``--target remote``.
    """
    target = target_of(request.config)
    if target.remote:
        skip_not_owned(target, f"{request.node.nodeid} (it starts stacks of its own: make_stack)")
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


def remote_stack(factory: StackFactory, name: str, target: Target, env: Mapping[str, str]) -> RemoteStack:
    """The remote installation as a stack for the tests of ``name``, with ``env`` for its CLI calls."""
    tag = factory.next_tag(name)
    return RemoteStack(
        name=tag,
        root=factory.base_dir / tag,
        binary=factory.binary,
        run_id=factory.run_id.with_tag(tag),
        components=(SERVER, TEMPORAL),
        extra_env=dict(env),
        target=target,
    )


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
