"""Bad projects and invalid resources: a clear error naming the problem, from the layer that owns the
rule, a non-zero exit, no internals shown, nothing stored.

Before each attempt the store holds the seed project; most bad projects also carry a valid change
of the seeded agent, so an apply that is not all-or-nothing would show up as a changed seed.

Which layer rejected a project is read from what the user sees:
- ``SDK``: the entry point itself prints ``validation error: ...`` and exits 1 (synthesis stops);
- ``CLI``: the CLI's own ``Error: ...`` with no ``validation error`` from the entry point, and the same
  error when no server is reachable (so nothing was sent);
- ``SERVER``: with no server reachable the CLI says it cannot reach one (so it let the project through),
  and with the server it prints exactly the INVALID_ARGUMENT details the API gives for the same
  synthesized resources.
Every rule the server enforces is also sent straight to ``ApplyService.Apply``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from stigmer.api.v1 import agent_pb2, apply_pb2, common_pb2, workflow_pb2
from stigmer.api.validation import MAX_RESOURCE_BYTES
from support.cli import Cli, CliResult
from support.client import StackClient, expect_rpc_error, settled
from support.output import internal_leaks
from support.ports import LOOPBACK, free_port
from support.processes import is_gone
from support.stack import Stack
from support.synthesis import synthesize
from support.waits import wait_until

PROJECTS = Path(__file__).parent / "projects"
SYNTAX_ERROR = "import stigmer\n\n\ndef main(ctx: stigmer.Context) -> None\n    pass\n\n\nstigmer.synthesize(main)\n"
NOTHING = r"(?i)nothing|no (agents?|workflows?|resources)|synthesi|manifest"
SDK_LINE = re.compile(r"^validation error: .+$", re.MULTILINE)
UNREACHABLE = "Error: cannot reach stigmer-server at"
SEED_CHANGE = {"instructions": "Stay as you are.", "model": "llama3.2:1b", "description": "changed"}


class Layer(enum.Enum):
    SDK = "the SDK, at synthesis"
    CLI = "the CLI, before sending"
    SERVER = "the server"


@dataclass(frozen=True)
class BadCase:
    """A bad project (``projects/bad/<name>``), the layer that must reject it, and what its error says."""

    name: str
    layer: Layer
    patterns: tuple[str, ...]
    args: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    user_error: str | None = None  # the last line of a traceback the user's own code raised

    def param(self) -> object:
        return pytest.param(self, id=self.name)


CASES = [
    BadCase("malformed_yaml", Layer.CLI, (r"Stigmer\.yaml",)),
    BadCase("missing_stigmer_yaml", Layer.CLI, (r"Stigmer\.yaml",)),
    BadCase("missing_main_field", Layer.CLI, (r"Stigmer\.yaml", r"\bmain\b")),
    BadCase("wrong_runtime", Layer.CLI, (r"runtime", r"\bgo\b")),
    BadCase("missing_entry_point", Layer.CLI, (r"app\.py",)),
    BadCase(
        "entry_point_raises",
        Layer.CLI,
        (r"the entry point broke on purpose",),
        user_error="RuntimeError: the entry point broke on purpose",
    ),
    BadCase("entry_point_syntax_error", Layer.CLI, (r"SyntaxError",), files={"main.py": SYNTAX_ERROR}),
    BadCase(
        "entry_point_hangs",
        Layer.CLI,
        (r"(?i)timed out|timeout|within 2s", r"\b2(\.0)?\s?s|2 seconds"),
        ("--timeout", "2"),
    ),
    BadCase("nothing_synthesized", Layer.CLI, (NOTHING,)),
    BadCase("no_synthesize_call", Layer.CLI, (NOTHING,)),
    BadCase("unknown_task_kind", Layer.CLI, (r"spec\.tasks\[0\]\.kind: unknown task kind 'teleport'",)),
    BadCase("invalid_agent_name", Layer.SDK, (r"Code_Reviewer", r"not a valid name")),
    BadCase("name_too_long", Layer.SDK, (r"at most 63",)),
    BadCase("missing_model", Layer.SDK, (r"spec\.model: model is required",)),
    BadCase("missing_instructions", Layer.SDK, (r"spec\.instructions: instructions are required",)),
    BadCase("duplicate_task_names", Layer.SDK, (r"duplicate task name 'step'",)),
    BadCase("unknown_then_target", Layer.SDK, (r"then: unknown task 'nowhere'",)),
    BadCase("bad_version", Layer.SDK, (r"'1\.0' is not a semantic version",)),
    BadCase("bad_jq_expression", Layer.SDK, (r"invalid jq expression '\.fetch\.title \|'",)),
    BadCase("bad_wait_duration", Layer.SDK, (r"'5 seconds' is not an ISO 8601 duration",)),
    BadCase("unknown_agent_reference", Layer.SERVER, (r"config\.agent: agent 'no-such-agent' not found",)),
    BadCase("unknown_workflow_reference", Layer.SERVER, (r"workflow 'e2e-bad/no-such-flow' not found",)),
]


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> None:
    """The seed project, applied once for the module."""
    result = stack.cli()("apply", "--config", PROJECTS / "seed")
    assert result.exit_code == 0, result


def test_there_are_at_least_15_kinds_of_bad_input_from_every_layer() -> None:
    assert len({case.name for case in CASES}) >= 15
    assert {case.layer for case in CASES} == set(Layer)
    on_disk = sorted(path.name for path in (PROJECTS / "bad").iterdir() if path.is_dir())
    assert on_disk == sorted(case.name for case in CASES), "projects/bad and CASES disagree"


def _error(result: CliResult) -> str:
    """The CLI's own error: stderr from its last ``Error:`` line on."""
    start = result.stderr.rfind("Error: ")
    assert start >= 0, f"the error should be on stderr as 'Error: ...':\n{result}"
    return result.stderr[start:].rstrip()


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_bad_project_is_rejected_by_its_layer_and_changes_nothing(
    seeded: None, cli: Cli, api: StackClient, project: Callable[..., Path], case: BadCase
) -> None:
    folder = project(PROJECTS / "bad" / case.name)
    for name, text in case.files.items():
        (folder / name).write_text(text)
    before = api.snapshot()

    result = cli("apply", "--config", folder, *case.args)

    assert result.exit_code == 1, result
    error = _error(result)
    for pattern in case.patterns:
        assert re.search(pattern, result.stderr), f"the error does not match {pattern!r}:\n{result}"
    leaks = internal_leaks(result.output, folder, case.user_error)
    assert not leaks, f"the CLI shows internals ({'; '.join(leaks)}):\n{result}"
    assert settled(api.snapshot()) == settled(before), "a rejected apply changed the stored data"

    offline = cli("apply", "--config", folder, *case.args, env={"STIGMER_SERVER_ADDR": f"{LOOPBACK}:{free_port()}"})
    sdk_lines = SDK_LINE.findall(result.stderr)
    if case.layer is Layer.SDK:
        assert sdk_lines, f"the entry point (the SDK) should have printed 'validation error: ...':\n{result}"
        assert error.startswith("Error: entry point main.py failed with exit code 1"), result
        assert any(re.search(p, line) for p in case.patterns for line in sdk_lines), result
    else:
        assert not sdk_lines, f"the SDK rejected what {case.layer.value} should:\n{result}"
    if case.layer is Layer.SERVER:
        assert offline.exit_code == 3 and UNREACHABLE in offline.stderr, (
            f"the CLI rejected, without a server, what only the server can check:\n{offline}"
        )
        details = expect_rpc_error(api.apply.Apply, synthesize(folder))
        assert details.code() == grpc.StatusCode.INVALID_ARGUMENT, details
        assert error == f"Error: {details.details()}", f"the CLI does not print the server's error:\n{result}"
    else:
        assert offline.exit_code == 1, f"{case.layer.value} should reject this without a server:\n{offline}"
        assert _error(offline).splitlines()[0] == error.splitlines()[0], offline
    if case.name == "entry_point_hangs":
        _assert_hung_entry_point_was_killed(folder, result.duration)


def _assert_hung_entry_point_was_killed(folder: Path, duration: float) -> None:
    assert duration < 15, f"apply --timeout 2 took {duration:.1f}s"
    pids = [int(pid) for pid in (folder / "pids.txt").read_text().split()]
    wait_until(
        lambda: all(is_gone(pid) for pid in pids),
        lambda: f"processes of the hung entry point still run: {[p for p in pids if not is_gone(p)]}",
        timeout=5,
    )


# --- every server rule, straight to the API ----------------------------------------------------


def _agent(name: str, **spec: object) -> agent_pb2.Agent:
    return agent_pb2.Agent(metadata=common_pb2.Metadata(name=name), spec=agent_pb2.AgentSpec(**spec))


def _task(name: str, kind: str, config: str, **extra: str) -> workflow_pb2.Task:
    return workflow_pb2.Task(name=name, kind=kind, config_json=config, **extra)


def _workflow(name: str, *tasks: workflow_pb2.Task, version: str = "1.0.0") -> workflow_pb2.Workflow:
    spec = workflow_pb2.WorkflowSpec(namespace="e2e-bad", version=version, tasks=tasks)
    return workflow_pb2.Workflow(metadata=common_pb2.Metadata(name=name), spec=spec)


SET = '{"set": {"a": 1}}'
VALID = {"instructions": "Review code.", "model": "llama3.2:1b"}


@dataclass(frozen=True)
class ApiCase:
    """An invalid resource and the exact problem (``<field>: <message>``, a regex) the server names."""

    rule: str
    agent: agent_pb2.Agent | None = None
    workflow: workflow_pb2.Workflow | None = None
    problem: str = ""

    @property
    def subject(self) -> str:
        resource = self.agent if self.agent is not None else self.workflow
        assert resource is not None
        kind = "agent" if self.agent is not None else "workflow"
        return f"{kind} {resource.metadata.name!r}"

    def param(self) -> object:
        return pytest.param(self, id=self.rule)


API_CASES = [
    ApiCase(
        "slug", _agent("Code_Reviewer", **VALID), problem=r"metadata\.name: 'Code_Reviewer' is not a valid name: .+"
    ),
    ApiCase("slug-length", _agent("a" * 64, **VALID), problem=r"metadata\.name: 'a{64}' is 64 characters long; .+"),
    ApiCase(
        "id-shaped-agent-name",
        _agent("agt-reviewer", **VALID),
        problem=r"metadata\.name: 'agt-reviewer' has the shape of an ID \(agt-\.\.\.\).+",
    ),
    ApiCase(
        "id-shaped-workflow-name",
        workflow=_workflow("wfl-flow", _task("a", "set", SET)),
        problem=r"metadata\.name: 'wfl-flow' has the shape of an ID \(wfl-\.\.\.\).+",
    ),
    ApiCase("model", _agent("api-no-model", instructions="Review code."), problem=r"spec\.model: model is required"),
    ApiCase(
        "instructions",
        _agent("api-no-instructions", model="llama3.2:1b"),
        problem=r"spec\.instructions: instructions are required",
    ),
    ApiCase(
        "sub-agent-reference",
        _agent("api-lead", **VALID, sub_agents=[agent_pb2.SubAgent(name="helper", agent_ref="no-such-agent")]),
        problem=r"spec\.sub_agents\[0\]\.agent_ref: agent 'no-such-agent' not found",
    ),
    ApiCase(
        "size",
        _agent("api-huge", instructions="x" * (MAX_RESOURCE_BYTES + 1), model="llama3.2:1b"),
        problem=rf"spec\.instructions: agent 'api-huge' is [\d,]+ bytes, over the limit of {MAX_RESOURCE_BYTES:,} .+",
    ),
    ApiCase(
        "duplicate-task",
        workflow=_workflow("api-twins", _task("step", "set", SET), _task("step", "set", SET)),
        problem=r"spec\.tasks\[1\]\.name: duplicate task name 'step'",
    ),
    ApiCase(
        "unknown-task-kind",
        workflow=_workflow("api-odd", _task("jump", "teleport", "{}")),
        problem=r"spec\.tasks\[0\]\.kind: unknown task kind 'teleport'; .+",
    ),
    ApiCase(
        "unknown-then-target",
        workflow=_workflow("api-lost", _task("start", "set", SET, then="nowhere")),
        problem=r"spec\.tasks\[0\]\.then: unknown task 'nowhere'",
    ),
    ApiCase(
        "agent-call-reference",
        workflow=_workflow("api-ghost", _task("ask", "agent_call", '{"agent": "no-such-agent", "message": "hi"}')),
        problem=r"spec\.tasks\[0\]\.config\.agent: agent 'no-such-agent' not found",
    ),
    ApiCase(
        "run-reference",
        workflow=_workflow("api-runs-ghost", _task("child", "run", '{"workflow": "e2e-bad/no-such-flow"}')),
        problem=r"spec\.tasks\[0\]\.config\.workflow: workflow 'e2e-bad/no-such-flow' not found",
    ),
    ApiCase(
        "version",
        workflow=_workflow("api-old-style", _task("a", "set", SET), version="1.0"),
        problem=r"spec\.version: '1\.0' is not a semantic version such as 1\.0\.0",
    ),
    ApiCase(
        "jq-whole-expression",
        workflow=_workflow("api-bad-jq", _task("shape", "set", '{"set": {"title": "${ .fetch.title | }"}}')),
        problem=r"spec\.tasks\[0\]\.config\.set\.title: invalid jq expression '\.fetch\.title \|': .+",
    ),
    ApiCase(
        "jq-embedded-expression",
        workflow=_workflow(
            "api-bad-header",
            _task(
                "fetch",
                "http_call",
                '{"method": "GET", "endpoint": "https://example.com", '
                '"headers": {"Authorization": "Bearer ${ $env.X"}}',
            ),
        ),
        problem=r"spec\.tasks\[0\]\.config\.headers\.Authorization: expression 'Bearer \$\{ \$env\.X' "
        r"is missing its closing '\}'",
    ),
    ApiCase(
        "wait-duration",
        workflow=_workflow("api-bad-wait", _task("pause", "wait", '{"duration": "5 seconds"}')),
        problem=r"spec\.tasks\[0\]\.config\.duration: '5 seconds' is not an ISO 8601 duration such as PT5S",
    ),
    ApiCase(
        "retry-jitter",
        workflow=_workflow(
            "api-bad-retry",
            _task(
                "guard",
                "try",
                '{"do": [{"name": "pause", "kind": "wait", "config": {"duration": "PT1S"}}], '
                '"catch": {"retry": {"limit": {"attempt": {"count": 3}}, "jitter": {"to": "PT1S"}}}}',
            ),
        ),
        problem=r"spec\.tasks\[0\]\.config\.catch\.retry\.jitter: jitter is not supported by this runner; remove it",
    ),
    ApiCase(
        "unknown-config-key",
        workflow=_workflow("api-bad-key", _task("loop", "for", '{"in": "${ .xs }", "do": [], "until": "${ .done }"}')),
        problem=r"spec\.tasks\[0\]\.config\.until: a for task has no field 'until'; expected in, each, at, while, do",
    ),
]


def test_every_api_case_breaks_one_rule_of_a_valid_resource() -> None:
    assert len({case.rule for case in API_CASES}) == len(API_CASES)
    for case in API_CASES:
        assert (case.agent is None) != (case.workflow is None), case.rule


@pytest.mark.parametrize("case", [case.param() for case in API_CASES])
def test_invalid_resource_sent_straight_to_the_api_is_invalid_argument_and_changes_nothing(
    seeded: None, api: StackClient, case: ApiCase
) -> None:
    before = api.snapshot()
    request = apply_pb2.ApplyRequest(
        agents=[
            _agent("seed-agent", **SEED_CHANGE),
            _agent("api-valid-agent", **VALID),
            *([case.agent] if case.agent is not None else []),
        ],
        workflows=[case.workflow] if case.workflow is not None else [],
    )
    error = expect_rpc_error(api.apply.Apply, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    expected = rf"validation error: {re.escape(case.subject)}: {case.problem}"
    assert re.fullmatch(expected, error.details() or "", re.DOTALL), (
        f"the server's error does not name exactly this problem:\n  got:      {error.details()}\n  expected: {expected}"
    )
    assert settled(api.snapshot()) == settled(before), "a rejected batch stored some of its resources"
