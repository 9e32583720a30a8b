"""support.touched_executions: a failing test's folder holds the final state and the Temporal history of
every execution it touched; collecting never hides the test's own failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import touched_executions
from support.cli import CliResult
from support.diagnostics import artifact_dir_name
from support.processes import RunId
from support.stack import Stack
from tests.unit.inner_sessions import inner_session
from tests.unit.temporal_dev import temporal_binary

pytest_plugins = ["pytester"]

INNER_TIMEOUT = 240


def test_execution_ids_come_from_arguments_output_and_the_failure_once_each_in_order() -> None:
    calls = [
        CliResult(("run", "e2e/x"), 0, "Execution ID: wex-01abcdef99\n", "", 0.1),
        CliResult(("get", "aex-01zzzzzz11"), 0, '{"id": "aex-01zzzzzz11"}', "", 0.1),
    ]
    texts = touched_executions.texts_of(calls, "AssertionError: wex-01abcdef99 is FAILED, parent wex-01parent00")
    assert touched_executions.execution_ids(texts) == ["wex-01abcdef99", "aex-01zzzzzz11", "wex-01parent00"]
    assert touched_executions.execution_ids(["no IDs here: wex- alone, index-01abcdef"]) == []


def test_no_execution_named_adds_nothing(tmp_path: Path) -> None:
    assert touched_executions.collect(tmp_path / "out", [], ["a failure without IDs"]) == []
    assert not (tmp_path / "out").exists()


def test_a_stack_that_is_gone_is_written_down_not_raised(tmp_path: Path) -> None:
    gone = Stack("gone-1", tmp_path / "stack", Path("/nonexistent/stigmer"), RunId.for_process(), ("stigmer-server",))
    dest = tmp_path / "out"

    [(title, text)] = touched_executions.collect(dest, [gone], ["wex-01abcdef99 failed"])

    assert title == "executions the test touched"
    errors = (dest / touched_executions.ERRORS_FILE).read_text()
    assert "stack gone-1: reading wex-01abcdef99: UNAVAILABLE" in errors, errors
    assert "wex-01abcdef99: not found on any stack of the test" in text, text
    assert f"errors while collecting: see {dest / touched_executions.ERRORS_FILE}" in text, text


# --- in a real pytest session with a real stack (pytester; the inner session runs as a subprocess) ---

INNER_TEST = '''
import pytest

from support.output import execution_id

PROJECT = """
import stigmer
from stigmer import Workflow, tasks


def main(ctx):
    workflow = Workflow(name="greet", namespace="e2e", version="1.0.0", description="Set a greeting")
    workflow.add(tasks.set_vars("hello", {"greeting": "hi"}))
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
"""


@pytest.fixture(scope="module")
def stack_components():
    return ("stigmer-server", "temporal", "workflow-runner")


def test_fails_after_a_run(cli, tmp_path):
    (tmp_path / "Stigmer.yaml").write_text("name: greet\\nruntime: python\\nmain: main.py\\nversion: 1.0.0\\n")
    (tmp_path / "main.py").write_text(PROJECT)
    assert cli("apply", "--config", str(tmp_path), timeout=90).exit_code == 0
    result = cli("run", "e2e/greet", "--timeout", "90", timeout=120)
    assert result.exit_code == 0, result
    raise AssertionError(f"failing on purpose after {execution_id(result.stdout)}")
'''


def test_a_failing_test_keeps_the_state_and_history_of_the_execution_it_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporal_binary()
    inner_session(pytester, monkeypatch)
    pytester.makepyfile(test_inner=INNER_TEST)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=INNER_TIMEOUT)

    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    found = re.search(r"AssertionError: failing on purpose after (wex-[0-9a-z]+)", text)
    assert found, text
    execution = found.group(1)
    section = text[text.index("executions the test touched") :]
    assert f"{execution}: COMPLETED; tasks hello=COMPLETED; history: " in section, section

    saved = pytester.path / "reports" / "logs" / artifact_dir_name("test_inner.py::test_fails_after_a_run")
    assert "$ stigmer run e2e/greet" in (saved / "cli-calls.txt").read_text()
    assert (saved / "test_inner-1" / "workflow-runner.log").is_file()
    state = json.loads((saved / "executions" / f"{execution}.json").read_text())
    assert state["metadata"]["id"] == execution
    assert state["status"]["phase"] == "EXECUTION_PHASE_COMPLETED", state["status"]
    history = json.loads((saved / "histories" / f"{execution}.json").read_text())
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == "WorkflowExecution"
    assert history["events"][-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert not (saved / touched_executions.ERRORS_FILE).exists(), (saved / touched_executions.ERRORS_FILE).read_text()
