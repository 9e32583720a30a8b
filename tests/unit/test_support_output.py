"""support.output: the apply table and the execution ID are read from the CLI's text output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.output import (
    ApplyRow,
    assert_lines,
    execution_id,
    internal_leaks,
    line_mismatches,
    parse_apply,
    run_lines,
)

APPLY = """Deployment successful

TYPE      NAME           ACTION     ID
agent     code-reviewer  Created    agt-01jc3m0000000000000000
workflow  fetch-data     Unchanged  wfl-01jc3m0000000000000001

Deployed: 1 agent(s), 1 workflow(s)
"""

DRY_RUN = """Dry run successful

TYPE   NAME  ACTION   ID
agent  new   Created

Would deploy: 1 agent(s), 0 workflow(s)
"""


def test_parse_apply_reads_headline_rows_and_summary() -> None:
    report = parse_apply(APPLY)
    assert report.headline == "Deployment successful"
    assert report.rows[0] == ApplyRow("agent", "code-reviewer", "Created", "agt-01jc3m0000000000000000")
    assert report.actions() == {("agent", "code-reviewer"): "Created", ("workflow", "fetch-data"): "Unchanged"}
    assert (report.agents, report.workflows) == (1, 1)


def test_parse_dry_run_allows_an_empty_id() -> None:
    report = parse_apply(DRY_RUN)
    assert report.headline == "Dry run successful"
    assert report.row("agent", "new").id == ""
    assert report.summary == "Would deploy: 1 agent(s), 0 workflow(s)"


def test_missing_parts_are_named() -> None:
    with pytest.raises(AssertionError, match="TYPE NAME ACTION ID"):
        parse_apply("Deployment successful\n\nDeployed: 0 agent(s), 0 workflow(s)\n")
    with pytest.raises(AssertionError, match="no agent 'nope'"):
        parse_apply(APPLY).row("agent", "nope")


def test_execution_id() -> None:
    assert execution_id("Agent execution started: x\nExecution ID: aex-123\n") == "aex-123"
    with pytest.raises(AssertionError, match="Execution ID"):
        execution_id("nothing here")


USER_TRACEBACK = """Traceback (most recent call last):
  File "{project}/main.py", line 11, in <module>
    stigmer.synthesize(main)
  File "/site/stigmer/sdk/synth.py", line 159, in synthesize
    synthesis = build(main)
  File "{project}/main.py", line 7, in main
    raise RuntimeError("broke on purpose")
RuntimeError: broke on purpose
Error: entry point main.py failed with exit code 1
"""


def test_internal_leaks_finds_tracebacks_frames_and_grpc_reprs(tmp_path: Path) -> None:
    assert internal_leaks("Error: agent 'x' not found\n", tmp_path) == []
    cli_crash = 'Traceback (most recent call last):\n  File "/site/stigmer/cli/app.py", line 3, in main\nKeyError: 1'
    assert internal_leaks(cli_crash, tmp_path) == [
        "'Traceback (most recent call last)' in the output",
        "a stack frame outside the project: /site/stigmer/cli/app.py",
    ]
    rpc = "Error: <_InactiveRpcError of RPC that terminated with: status = StatusCode.INTERNAL>"
    assert len(internal_leaks(rpc, tmp_path)) == 2
    assert internal_leaks("Error: KeyError: 'x' (run again with --traceback for details)", tmp_path)


def test_the_users_own_traceback_is_not_a_leak_but_one_around_it_is(tmp_path: Path) -> None:
    users = USER_TRACEBACK.format(project=tmp_path)
    assert internal_leaks(users, tmp_path, "RuntimeError: broke on purpose") == []
    assert internal_leaks(users, tmp_path) != [], "without user_error every traceback is a leak"
    assert internal_leaks(users, tmp_path / "elsewhere", "RuntimeError: broke on purpose") != []
    cli_crash = 'Traceback (most recent call last):\n  File "/site/stigmer/cli/app.py", line 3, in main\n'
    leaks = internal_leaks(cli_crash + users, tmp_path, "RuntimeError: broke on purpose")
    assert leaks == [
        "'Traceback (most recent call last)' in the output",
        "a stack frame outside the project: /site/stigmer/cli/app.py",
    ]


RUN = """Workflow execution started: demo/welcome
Execution ID: wex-01jc3m0000000000000002

⏳ Execution pending...
✓ Task: who [Completed]
"""


def test_run_lines_are_what_follows_the_execution_id() -> None:
    assert run_lines(RUN) == ["", "⏳ Execution pending...", "✓ Task: who [Completed]"]
    with pytest.raises(AssertionError, match="no 'execution started'"):
        run_lines("Error: agent or workflow 'x' not found\n")


def test_lines_match_exactly_or_by_whole_pattern_and_every_difference_is_named() -> None:
    assert line_mismatches(["a", "Duration: 1.2s"], ["a", re.compile(r"Duration: [\d.]+s")]) == []
    problems = line_mismatches(["a", "Duration: 1.2s extra", "c"], ["b", re.compile(r"Duration: [\d.]+s")])
    assert problems == [
        "line 1: 'a' != 'b'",
        "line 2: 'Duration: 1.2s extra' does not match /Duration: [\\d.]+s/",
        "line 3: unexpected 'c'",
    ]
    assert line_mismatches([], ["a"]) == ["line 1: missing 'a'"]
    with pytest.raises(AssertionError, match=r"the view differs at 1 line\(s\)"):
        assert_lines(["x"], ["y"], "the view")
