"""Strict mode: a green run hides nothing.

In CI (``CI`` set to a true value) or with pytest's ``--strict``, a test skipped because a
prerequisite is missing (the four-part message, which starts with ``Missing:``) fails instead, and a
tier whose every test skipped fails. A skip because the test belongs to another cell of the matrix
(``--runner=docker``, ``--llm=local``, ...: see :func:`skip_outside_cell`) stays a skip, and so does a
test that needs a stack this run owns on ``--target remote`` (``support.target.skip_not_owned``: its
prerequisite is absent by the choice of target, not by a broken install). Strict or not, the end of the
run lists every skip with its reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from typing import NoReturn

import pytest

MISSING_PREFIX = "Missing: "
OUTSIDE_CELL_PREFIX = "Not in this run's cell: "
# four-part skips of prerequisites the run's target leaves out by design (support.target.OWNED_STACK)
BY_DESIGN_PREFIXES = (f"{MISSING_PREFIX}a stack this run owns: ",)
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def strict_enabled(config: pytest.Config) -> bool:
    """Whether this run is strict: CI=true, or pytest's ``--strict`` (its ``strict`` ini option)."""
    if os.environ.get("CI", "").strip().lower() in TRUE_VALUES:
        return True
    if config.getoption("strict", False):
        return True
    try:
        return bool(config.getini("strict"))
    except ValueError:  # pytest before 9 has no `strict` ini option
        return False


def skip_outside_cell(reason: str) -> NoReturn:
    """Skip a test that belongs to another cell of the tier matrix (never failed by strict mode)."""
    pytest.skip(f"{OUTSIDE_CELL_PREFIX}{reason}")


def skip_reason(report: pytest.TestReport) -> str:
    """The message a skipped report carries (without pytest's ``Skipped: `` prefix)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def _why_strict() -> str:
    return "CI=true" if os.environ.get("CI", "").strip().lower() in TRUE_VALUES else "--strict"


def pytest_report_header(config: pytest.Config) -> str:
    if strict_enabled(config):
        return f"strict mode: on ({_why_strict()}): a missing prerequisite fails instead of skipping"
    return "strict mode: off (CI=true or --strict turns it on)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and strict_enabled(item.config):
        reason = skip_reason(report)
        if reason.startswith(MISSING_PREFIX) and not reason.startswith(BY_DESIGN_PREFIXES):
            report.outcome = "failed"
            report.longrepr = (
                f"strict mode ({_why_strict()}): a missing prerequisite fails the tier instead of skipping it\n{reason}"
            )
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skipped = [report for report in terminalreporter.stats.get("skipped", []) if not hasattr(report, "wasxfail")]
    if not skipped:
        return
    reasons = Counter(skip_reason(report).splitlines()[0] for report in skipped)
    terminalreporter.section(f"{len(skipped)} skipped, by reason")
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count:4d} × {reason}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not strict_enabled(session.config) or hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    ran = sum(len(reporter.stats.get(kind, [])) for kind in ("passed", "failed", "error", "xfailed", "xpassed"))
    skipped = len(reporter.stats.get("skipped", []))
    if skipped and not ran:
        reporter.ensure_newline()
        reporter.write_line(
            f"strict mode ({_why_strict()}): all {skipped} test(s) of this run skipped; a tier that tests nothing fails",  # noqa: E501
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
