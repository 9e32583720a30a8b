"""Bad projects and invalid resources: a clear error naming the problem, a non-zero exit, nothing stored.

Before each attempt the store holds the seed project; most bad projects also carry a valid change
of the seeded agent, so an apply that is not all-or-nothing would show up as a changed seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from stigmer.api.v1 import agent_pb2, apply_pb2, common_pb2, workflow_pb2
from support.cli import Cli
from support.client import StackClient, expect_rpc_error
from support.processes import is_gone
from support.stack import Stack
from support.waits import wait_until

PROJECTS = Path(__file__).parent / "projects"
SYNTAX_ERROR = "import stigmer\n\n\ndef main(ctx: stigmer.Context) -> None\n    pass\n\n\nstigmer.synthesize(main)\n"
NOTHING = r"(?i)nothing|no (agents?|workflows?|resources)|synthesi|manifest"


@dataclass(frozen=True)
class BadCase:
    """A bad project (``projects/bad/<name>``) and the patterns its error output must match."""

    name: str
    patterns: tuple[str, ...]
    args: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)

    def param(self) -> object:
        return pytest.param(self, id=self.name)


CASES = [
    BadCase("malformed_yaml", (r"Stigmer\.yaml",)),
    BadCase("missing_stigmer_yaml", (r"Stigmer\.yaml",)),
    BadCase("missing_main_field", (r"Stigmer\.yaml", r"\bmain\b")),
    BadCase("wrong_runtime", (r"runtime", r"\bgo\b")),
    BadCase("missing_entry_point", (r"app\.py",)),
    BadCase("entry_point_raises", (r"the entry point broke on purpose",)),
    BadCase("entry_point_syntax_error", (r"SyntaxError",), files={"main.py": SYNTAX_ERROR}),
    BadCase("entry_point_hangs", (r"(?i)timed out|timeout", r"\b2(\.0)?\s?s|2 seconds"), args=("--timeout", "2")),
    BadCase("nothing_synthesized", (NOTHING,)),
    BadCase("no_synthesize_call", (NOTHING,)),
    BadCase("invalid_agent_name", (r"Code_Reviewer", r"not a valid name")),
    BadCase("name_too_long", (r"at most 63",)),
    BadCase("missing_model", (r"spec\.model", r"model is required")),
    BadCase("missing_instructions", (r"spec\.instructions", r"instructions are required")),
    BadCase("duplicate_task_names", (r"duplicate task name 'step'",)),
    BadCase("unknown_task_kind", (r"unknown task kind 'teleport'",)),
    BadCase("unknown_then_target", (r"unknown task 'nowhere'",)),
    BadCase("unknown_agent_reference", (r"no-such-agent", r"not found")),
    BadCase("unknown_workflow_reference", (r"no-such-flow", r"not found")),
    BadCase("bad_version", (r"'1\.0' is not a semantic version",)),
    BadCase("bad_jq_expression", (r"invalid jq expression",)),
    BadCase("bad_wait_duration", (r"'5 seconds' is not an ISO 8601 duration",)),
]


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> None:
    """The seed project, applied once for the module."""
    result = stack.cli()("apply", "--config", PROJECTS / "seed")
    assert result.exit_code == 0, result


def test_there_are_at_least_15_kinds_of_bad_input() -> None:
    assert len({case.name for case in CASES}) >= 15
    on_disk = sorted(path.name for path in (PROJECTS / "bad").iterdir() if path.is_dir())
    assert on_disk == sorted(case.name for case in CASES), "projects/bad and CASES disagree"


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_bad_project_is_rejected_and_changes_nothing(
    seeded: None, cli: Cli, api: StackClient, project: Callable[..., Path], case: BadCase
) -> None:
    folder = project(PROJECTS / "bad" / case.name)
    for name, text in case.files.items():
        (folder / name).write_text(text)
    before = api.snapshot()

    result = cli("apply", "--config", folder, *case.args)

    assert result.exit_code == 1, result
    assert "Error:" in result.stderr, f"the error should be on stderr as 'Error: ...':\n{result}"
    for pattern in case.patterns:
        assert re.search(pattern, result.stderr), f"the error does not match {pattern!r}:\n{result}"
    assert "Traceback" not in result.stderr.split("Error:")[-1], f"the CLI's own error is a traceback:\n{result}"
    assert api.snapshot() == before, "a rejected apply changed the stored data"
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


def _agent(name: str, **spec: object) -> agent_pb2.Agent:
    return agent_pb2.Agent(metadata=common_pb2.Metadata(name=name), spec=agent_pb2.AgentSpec(**spec))


def test_invalid_agent_sent_straight_to_the_api_is_invalid_argument(seeded: None, api: StackClient) -> None:
    before = api.snapshot()
    request = apply_pb2.ApplyRequest(agents=[_agent("api-no-model", instructions="Review code.")])
    error = expect_rpc_error(api.apply.Apply, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.details() == "validation error: agent 'api-no-model': spec.model: model is required"
    assert api.snapshot() == before


def test_api_apply_is_all_or_nothing(seeded: None, api: StackClient) -> None:
    before = api.snapshot()
    bad_workflow = workflow_pb2.Workflow(
        metadata=common_pb2.Metadata(name="api-odd-kind"),
        spec=workflow_pb2.WorkflowSpec(
            namespace="e2e-bad", version="1.0.0", tasks=[workflow_pb2.Task(name="jump", kind="teleport")]
        ),
    )
    request = apply_pb2.ApplyRequest(
        agents=[
            _agent("seed-agent", instructions="Stay as you are.", model="llama3.2:1b", description="changed"),
            _agent("api-valid-agent", instructions="Fine.", model="llama3.2:1b"),
        ],
        workflows=[bad_workflow],
    )
    error = expect_rpc_error(api.apply.Apply, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "unknown task kind 'teleport'" in error.details()
    assert api.snapshot() == before, "a rejected batch stored some of its resources"
