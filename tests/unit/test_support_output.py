"""support.output: the apply table and the execution ID are read from the CLI's text output."""

from __future__ import annotations

import pytest

from support.output import ApplyRow, execution_id, parse_apply

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
